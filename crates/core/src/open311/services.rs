//! Services are categories; their extra questions are the service attributes.

use super::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Datatype {
    String,
    Number,
    Datetime,
    Text,
    Singlevaluelist,
    Multivaluelist,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Validate)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AttributeValue {
    #[validate(custom(function = "validate::not_blank"), length(max = 40))]
    pub key: String,
    #[validate(custom(function = "validate::not_blank"), length(max = 100))]
    pub name: String,
}

/// One extra question of a category (an Open311 service attribute).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Validate)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ServiceAttribute {
    /// False for an informational text shown to the reporter, not a question.
    #[serde(default = "yes")]
    pub variable: bool,
    #[validate(custom(function = "attribute_code"))]
    pub code: String,
    pub datatype: Datatype,
    #[serde(default)]
    pub required: bool,
    #[validate(length(max = 200))]
    pub datatype_description: Option<String>,
    pub order: i32,
    #[validate(custom(function = "validate::not_blank"), length(max = 500))]
    pub description: String,
    /// The choices of a single or multi value list.
    #[serde(default)]
    #[validate(nested)]
    pub values: Vec<AttributeValue>,
}

pub(super) fn yes() -> bool {
    true
}

pub(super) fn attribute_code(code: &str) -> Result<(), validator::ValidationError> {
    let ok = (1..=40).contains(&code.len())
        && code
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if ok {
        Ok(())
    } else {
        Err(validator::ValidationError::new("invalid")
            .with_message("1 to 40 characters of A-Z, a-z, 0-9, _ and -".into()))
    }
}

#[derive(Debug, Clone, Deserialize, Validate)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AttributeList {
    #[validate(nested)]
    pub attributes: Vec<ServiceAttribute>,
}

/// The attributes of some categories (absent: none).
pub fn attributes_of(
    conn: &mut DbConnection,
    ids: &[CategoryId],
) -> CoreResult<HashMap<CategoryId, Vec<ServiceAttribute>>> {
    let rows: Vec<(CategoryId, String)> = category_attributes::table
        .filter(category_attributes::category_id.eq_any(ids))
        .select((
            category_attributes::category_id,
            category_attributes::definition,
        ))
        .load(conn)?;
    rows.into_iter()
        .map(|(id, text)| {
            let list: Vec<ServiceAttribute> = serde_json::from_str(&text).map_err(|e| {
                CoreError::internal_because(format!("category {id} attributes unreadable"), e)
            })?;
            Ok((id, list))
        })
        .collect()
}

/// Replaces a category's attributes (administrators).
pub fn set_attributes(
    conn: &mut DbConnection,
    actor: &Actor,
    id: CategoryId,
    input: &AttributeList,
) -> CoreResult<Vec<ServiceAttribute>> {
    actor.require_role(&[Role::Admin], "only an administrator edits categories")?;
    let mut errors = validate::fields(input);
    let mut seen = std::collections::HashSet::new();
    for (i, a) in input.attributes.iter().enumerate() {
        if !seen.insert(a.code.as_str()) {
            errors.push(FieldError::new(
                format!("attributes[{i}].code"),
                "duplicate",
                "each code once",
            ));
        }
        let is_list = matches!(
            a.datatype,
            Datatype::Singlevaluelist | Datatype::Multivaluelist
        );
        if is_list && a.values.is_empty() {
            errors.push(FieldError::new(
                format!("attributes[{i}].values"),
                "required",
                "a list attribute needs its values",
            ));
        }
    }
    if !errors.is_empty() {
        return Err(CoreError::Invalid(errors));
    }
    let mut list = input.attributes.clone();
    list.sort_by_key(|a| a.order);
    let text = serde_json::to_string(&list)
        .map_err(|e| CoreError::internal_because("category attributes as JSON", e))?;
    write_tx(conn, |conn| -> CoreResult<()> {
        crate::categories::get(conn, id)?;
        diesel::delete(category_attributes::table.find(id)).execute(conn)?;
        if !list.is_empty() {
            diesel::insert_into(category_attributes::table)
                .values((
                    category_attributes::category_id.eq(id),
                    category_attributes::definition.eq(&text),
                ))
                .execute(conn)?;
        }
        Ok(())
    })?;
    Ok(list)
}
