//! Partner units' resources (资源清单): what they can offer, and to which communities.

use super::*;
use crate::schema::resources;

#[derive(Debug, Clone, PartialEq, Serialize, Queryable, Selectable)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[diesel(table_name = resources)]
pub struct ResourceRow {
    pub id: ResourceId,
    pub partner_id: PartnerId,
    pub category_id: Option<CategoryId>,
    pub title: String,
    pub description: String,
    pub capacity: String,
    pub schedule: String,
    pub active: bool,
    #[serde(serialize_with = "crate::time::utc")]
    pub created_at: NaiveDateTime,
    #[serde(serialize_with = "crate::time::utc")]
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Resource {
    #[serde(flatten)]
    pub resource: ResourceRow,
    pub communities: Vec<OrgUnitId>,
}

#[derive(Debug, Clone, Deserialize, Validate)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewResource {
    /// Unit staff offer for their own unit and may leave it out.
    pub partner_id: Option<PartnerId>,
    pub category: Option<String>,
    #[validate(custom(function = "validate::not_blank"), length(max = 200))]
    pub title: String,
    #[validate(length(max = 5000))]
    #[serde(default)]
    pub description: String,
    /// What and how much, e.g. "篮球场2块，每次60人".
    #[validate(custom(function = "validate::not_blank"), length(max = 500))]
    pub capacity: String,
    /// When, e.g. "周末 08:00-18:00".
    #[validate(custom(function = "validate::not_blank"), length(max = 500))]
    pub schedule: String,
    /// Communities served; must be among the unit's.
    #[serde(default)]
    pub communities: Vec<OrgUnitId>,
}

pub(super) type ResourceFilterExpr = Box<
    dyn BoxableExpression<
        resources::table,
        crate::db::DbBackend,
        SqlType = diesel::sql_types::Bool,
    >,
>;

/// Units see their own resources; supervisors and grid members those of the units serving
/// their subtree.
pub(super) fn visible_resources(scope: &Scope) -> Option<ResourceFilterExpr> {
    match scope {
        Scope::Everything => None,
        Scope::Partner { partner } => Some(Box::new(resources::partner_id.eq(*partner))),
        Scope::Subtree { path, .. } => Some(Box::new(
            resources::partner_id.eq_any(
                partner_communities::table
                    .inner_join(org_units::table)
                    .filter(in_subtree(org_units::path, path))
                    .select(partner_communities::partner_id),
            ),
        )),
    }
}

pub fn create_resource(
    conn: &mut DbConnection,
    actor: &Actor,
    input: &NewResource,
    now: NaiveDateTime,
) -> CoreResult<Resource> {
    let mut errors = validate::fields(input);
    let partner = match (&actor.scope, input.partner_id) {
        (Scope::Partner { partner }, None) => *partner,
        (Scope::Partner { partner }, Some(p)) if p == *partner => p,
        (Scope::Partner { .. }, Some(_)) => {
            return Err(CoreError::Forbidden(
                "unit staff offer resources of their own unit",
            ))
        }
        (_, Some(p)) => {
            actor.require_role(
                &[Role::Supervisor, Role::Admin],
                "only unit staff or a supervisor list resources",
            )?;
            crate::partners::get(conn, actor, p).map_err(|_| {
                CoreError::invalid(
                    "partner_id",
                    "not_found",
                    "no such partner unit in your scope",
                )
            })?;
            p
        }
        (_, None) => {
            return Err(CoreError::invalid(
                "partner_id",
                "required",
                "name the partner unit",
            ))
        }
    };
    let served: Vec<OrgUnitId> = partner_communities::table
        .filter(partner_communities::partner_id.eq(partner))
        .select(partner_communities::org_unit_id)
        .load(conn)?;
    for (i, c) in input.communities.iter().enumerate() {
        if !served.contains(c) {
            errors.push(FieldError::new(
                format!("communities[{i}]"),
                "not_served",
                "the unit does not serve this community",
            ));
        }
    }
    let category = match &input.category {
        None => None,
        Some(code) => {
            let found = categories::table
                .filter(categories::code.eq(code))
                .select(categories::id)
                .first::<CategoryId>(conn)
                .optional()?;
            if found.is_none() {
                errors.push(FieldError::new(
                    "category",
                    "not_found",
                    format!("no category {code:?}"),
                ));
            }
            found
        }
    };
    if !errors.is_empty() {
        return Err(CoreError::Invalid(errors));
    }
    let now = truncate_to_micros(now);
    let communities = if input.communities.is_empty() {
        served
    } else {
        input.communities.clone()
    };
    let id = write_tx(conn, |conn| -> CoreResult<ResourceId> {
        let id = diesel::insert_into(resources::table)
            .values((
                resources::partner_id.eq(partner),
                resources::category_id.eq(category),
                resources::title.eq(input.title.trim()),
                resources::description.eq(input.description.trim()),
                resources::capacity.eq(input.capacity.trim()),
                resources::schedule.eq(input.schedule.trim()),
                resources::active.eq(true),
                resources::created_at.eq(now),
                resources::updated_at.eq(now),
            ))
            .returning(resources::id)
            .get_result(conn)?;
        for c in &communities {
            diesel::insert_into(resource_communities::table)
                .values((
                    resource_communities::resource_id.eq(id),
                    resource_communities::org_unit_id.eq(*c),
                ))
                .execute(conn)?;
        }
        Ok(id)
    })?;
    get_resource(conn, actor, id)
}

pub(super) fn with_communities(
    conn: &mut DbConnection,
    rows: Vec<ResourceRow>,
) -> CoreResult<Vec<Resource>> {
    let ids: Vec<ResourceId> = rows.iter().map(|r| r.id).collect();
    let mut served: HashMap<ResourceId, Vec<OrgUnitId>> = HashMap::new();
    for (r, c) in resource_communities::table
        .filter(resource_communities::resource_id.eq_any(&ids))
        .order((
            resource_communities::resource_id,
            resource_communities::org_unit_id,
        ))
        .select((
            resource_communities::resource_id,
            resource_communities::org_unit_id,
        ))
        .load::<(ResourceId, OrgUnitId)>(conn)?
    {
        served.entry(r).or_default().push(c);
    }
    Ok(rows
        .into_iter()
        .map(|r| Resource {
            communities: served.remove(&r.id).unwrap_or_default(),
            resource: r,
        })
        .collect())
}

pub fn get_resource(
    conn: &mut DbConnection,
    actor: &Actor,
    id: ResourceId,
) -> CoreResult<Resource> {
    let mut query = resources::table
        .filter(resources::id.eq(id))
        .select(ResourceRow::as_select())
        .into_boxed();
    if let Some(filter) = visible_resources(&actor.scope) {
        query = query.filter(filter);
    }
    let row = query
        .first(conn)
        .optional()?
        .ok_or(CoreError::NotFound("resource"))?;
    Ok(with_communities(conn, vec![row])?.remove(0))
}

pub fn list_resources(
    conn: &mut DbConnection,
    actor: &Actor,
    community: Option<OrgUnitId>,
    page: PageRequest,
) -> CoreResult<Page<Resource>> {
    let mut query = resources::table
        .select(ResourceRow::as_select())
        .into_boxed();
    if let Some(filter) = visible_resources(&actor.scope) {
        query = query.filter(filter);
    }
    if let Some(c) = community {
        query = query.filter(
            resources::id.eq_any(
                resource_communities::table
                    .filter(resource_communities::org_unit_id.eq(c))
                    .select(resource_communities::resource_id),
            ),
        );
    }
    if let Some(after) = page.after {
        query = query.filter(resources::id.gt(ResourceId(after)));
    }
    let rows = query.order(resources::id).limit(page.fetch()).load(conn)?;
    Page::from_rows(rows, page, |r| r.id.0).try_map_items(|rows| with_communities(conn, rows))
}
