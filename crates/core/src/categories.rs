//! Categories of pressing needs, each with an SLA policy per priority: minutes to respond
//! and to resolve, and the clock they run on (24×7 or working time). Deadlines are computed
//! from these when a ticket enters a state, so a policy change applies to later clocks only.

use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use crate::db::{truncate_to_micros, write_tx, DbConnection};
use crate::error::{CoreError, CoreResult};
use crate::ids::CategoryId;
use crate::pagination::{Page, PageRequest};
use crate::schema::{categories, sla_policies};
use crate::scope::Actor;
use crate::types::{ClockKind, Priority, Role};
use crate::validate;
use validator::Validate;

/// A year of minutes: no deadline is set further out than that.
const MAX_SLA_MINUTES: i32 = 366 * 24 * 60;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Validate)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[validate(schema(function = "resolve_not_before_respond", skip_on_field_errors = true))]
pub struct SlaRule {
    #[validate(range(min = 1, max = MAX_SLA_MINUTES))]
    pub respond_minutes: i32,
    #[validate(range(min = 1, max = MAX_SLA_MINUTES))]
    pub resolve_minutes: i32,
    pub clock: ClockKind,
}

fn resolve_not_before_respond(rule: &SlaRule) -> Result<(), validator::ValidationError> {
    if rule.resolve_minutes < rule.respond_minutes {
        return Err(validator::ValidationError::new("range")
            .with_message("resolve_minutes must not be shorter than respond_minutes".into()));
    }
    Ok(())
}

/// One rule per priority; all four are required.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Validate)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SlaPolicies {
    #[validate(nested)]
    pub urgent: SlaRule,
    #[validate(nested)]
    pub high: SlaRule,
    #[validate(nested)]
    pub normal: SlaRule,
    #[validate(nested)]
    pub low: SlaRule,
}

impl SlaPolicies {
    pub fn get(&self, priority: Priority) -> SlaRule {
        match priority {
            Priority::Urgent => self.urgent,
            Priority::High => self.high,
            Priority::Normal => self.normal,
            Priority::Low => self.low,
        }
    }

    fn rules(&self) -> [(Priority, SlaRule); 4] {
        [
            (Priority::Urgent, self.urgent),
            (Priority::High, self.high),
            (Priority::Normal, self.normal),
            (Priority::Low, self.low),
        ]
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Category {
    pub id: CategoryId,
    pub code: String,
    pub name_zh: String,
    pub name_en: String,
    /// The readable group it belongs to (水电气热, 住房物业, …); empty if none.
    pub group: String,
    pub default_priority: Priority,
    pub active: bool,
    pub sla: SlaPolicies,
    #[serde(serialize_with = "crate::time::utc")]
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Clone, Deserialize, Validate)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewCategory {
    #[validate(custom(function = "check_code"))]
    pub code: String,
    #[validate(custom(function = "validate::not_blank"), length(max = 100))]
    pub name_zh: String,
    #[validate(custom(function = "validate::not_blank"), length(max = 100))]
    pub name_en: String,
    /// The readable group it belongs to (Open311's service `group`); optional.
    #[serde(default)]
    #[validate(length(max = 100))]
    pub group: String,
    pub default_priority: Priority,
    #[validate(nested)]
    pub sla: SlaPolicies,
}

/// Partial SLA change: only the priorities given are replaced.
#[derive(Debug, Clone, Default, Deserialize, Validate)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SlaChange {
    #[validate(nested)]
    pub urgent: Option<SlaRule>,
    #[validate(nested)]
    pub high: Option<SlaRule>,
    #[validate(nested)]
    pub normal: Option<SlaRule>,
    #[validate(nested)]
    pub low: Option<SlaRule>,
}

#[derive(Debug, Clone, Default, Deserialize, Validate)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CategoryChange {
    #[validate(custom(function = "validate::not_blank"), length(max = 100))]
    pub name_zh: Option<String>,
    #[validate(custom(function = "validate::not_blank"), length(max = 100))]
    pub name_en: Option<String>,
    #[validate(length(max = 100))]
    pub group: Option<String>,
    pub default_priority: Option<Priority>,
    pub active: Option<bool>,
    #[validate(nested)]
    pub sla: Option<SlaChange>,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = categories)]
struct CategoryRow {
    id: CategoryId,
    code: String,
    name_zh: String,
    name_en: String,
    default_priority: Priority,
    active: bool,
    created_at: NaiveDateTime,
    group_name: String,
}

fn check_code(code: &str) -> Result<(), validator::ValidationError> {
    let ok_chars = code
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if (2..=40).contains(&code.len()) && ok_chars {
        Ok(())
    } else {
        Err(validator::ValidationError::new("invalid")
            .with_message("2 to 40 characters of a-z, 0-9 and _".into()))
    }
}

fn write_rule(
    conn: &mut DbConnection,
    id: CategoryId,
    priority: Priority,
    rule: &SlaRule,
    now: NaiveDateTime,
) -> CoreResult<()> {
    diesel::delete(sla_policies::table.find((id, priority))).execute(conn)?;
    diesel::insert_into(sla_policies::table)
        .values((
            sla_policies::category_id.eq(id),
            sla_policies::priority.eq(priority),
            sla_policies::respond_minutes.eq(rule.respond_minutes),
            sla_policies::resolve_minutes.eq(rule.resolve_minutes),
            sla_policies::clock.eq(rule.clock),
            sla_policies::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

pub fn create(
    conn: &mut DbConnection,
    actor: &Actor,
    input: &NewCategory,
    now: NaiveDateTime,
) -> CoreResult<Category> {
    actor.require_role(&[Role::Admin], "only an administrator edits categories")?;
    let errors = validate::fields(input);
    if !errors.is_empty() {
        return Err(CoreError::Invalid(errors));
    }
    let now = truncate_to_micros(now);
    let id = write_tx(conn, |conn| -> CoreResult<CategoryId> {
        let taken = categories::table
            .filter(categories::code.eq(input.code.trim()))
            .select(categories::id)
            .first::<CategoryId>(conn)
            .optional()?;
        if taken.is_some() {
            return Err(CoreError::conflict(format!(
                "category code {:?} is taken",
                input.code.trim()
            )));
        }
        let id = diesel::insert_into(categories::table)
            .values((
                categories::code.eq(input.code.trim()),
                categories::name_zh.eq(input.name_zh.trim()),
                categories::name_en.eq(input.name_en.trim()),
                categories::group_name.eq(input.group.trim()),
                categories::default_priority.eq(input.default_priority),
                categories::active.eq(true),
                categories::created_at.eq(now),
            ))
            .returning(categories::id)
            .get_result(conn)?;
        for (priority, rule) in input.sla.rules() {
            write_rule(conn, id, priority, &rule, now)?;
        }
        Ok(id)
    })?;
    get(conn, id)
}

pub fn update(
    conn: &mut DbConnection,
    actor: &Actor,
    id: CategoryId,
    change: &CategoryChange,
    now: NaiveDateTime,
) -> CoreResult<Category> {
    actor.require_role(&[Role::Admin], "only an administrator edits categories")?;
    let current = get(conn, id)?;
    let errors = validate::fields(change);
    let sla_change = change.sla.clone().unwrap_or_default();
    let new_rules: Vec<(Priority, SlaRule)> = [
        (Priority::Urgent, sla_change.urgent),
        (Priority::High, sla_change.high),
        (Priority::Normal, sla_change.normal),
        (Priority::Low, sla_change.low),
    ]
    .into_iter()
    .filter_map(|(p, r)| r.map(|r| (p, r)))
    .collect();
    if !errors.is_empty() {
        return Err(CoreError::Invalid(errors));
    }
    let now = truncate_to_micros(now);
    write_tx(conn, |conn| -> CoreResult<()> {
        diesel::update(categories::table.find(id))
            .set((
                categories::name_zh.eq(change
                    .name_zh
                    .as_deref()
                    .map(str::trim)
                    .unwrap_or(&current.name_zh)),
                categories::name_en.eq(change
                    .name_en
                    .as_deref()
                    .map(str::trim)
                    .unwrap_or(&current.name_en)),
                categories::group_name.eq(change
                    .group
                    .as_deref()
                    .map(str::trim)
                    .unwrap_or(&current.group)),
                categories::default_priority
                    .eq(change.default_priority.unwrap_or(current.default_priority)),
                categories::active.eq(change.active.unwrap_or(current.active)),
            ))
            .execute(conn)?;
        for (priority, rule) in &new_rules {
            write_rule(conn, id, *priority, rule, now)?;
        }
        Ok(())
    })?;
    get(conn, id)
}

/// Each of these categories with its rules, read once each (the sweeps' tickets name a
/// few categories many times over).
pub fn get_each(
    conn: &mut DbConnection,
    ids: impl IntoIterator<Item = CategoryId>,
) -> CoreResult<std::collections::BTreeMap<CategoryId, Category>> {
    let ids: std::collections::BTreeSet<CategoryId> = ids.into_iter().collect();
    ids.into_iter().map(|id| Ok((id, get(conn, id)?))).collect()
}

/// Categories are read by every signed-in role: they are what a ticket is about.
pub fn get(conn: &mut DbConnection, id: CategoryId) -> CoreResult<Category> {
    let row = categories::table
        .find(id)
        .select(CategoryRow::as_select())
        .first(conn)
        .optional()?
        .ok_or(CoreError::NotFound("category"))?;
    Ok(with_policies(conn, vec![row])?.remove(0))
}

pub fn list(
    conn: &mut DbConnection,
    active: Option<bool>,
    page: PageRequest,
) -> CoreResult<Page<Category>> {
    let mut query = categories::table
        .select(CategoryRow::as_select())
        .into_boxed();
    if let Some(active) = active {
        query = query.filter(categories::active.eq(active));
    }
    if let Some(after) = page.after {
        query = query.filter(categories::id.gt(CategoryId(after)));
    }
    let rows = query.order(categories::id).limit(page.fetch()).load(conn)?;
    Page::from_rows(rows, page, |r| r.id.0).try_map_items(|rows| with_policies(conn, rows))
}

/// Category ids by code; codes not found are absent from the map.
pub fn ids_by_code(
    conn: &mut DbConnection,
    codes: &[String],
) -> CoreResult<HashMap<String, CategoryId>> {
    Ok(categories::table
        .filter(categories::code.eq_any(codes))
        .select((categories::code, categories::id))
        .load::<(String, CategoryId)>(conn)?
        .into_iter()
        .collect())
}

fn with_policies(conn: &mut DbConnection, rows: Vec<CategoryRow>) -> CoreResult<Vec<Category>> {
    let ids: Vec<CategoryId> = rows.iter().map(|r| r.id).collect();
    let mut rules: HashMap<(CategoryId, Priority), SlaRule> = HashMap::new();
    for (id, priority, respond_minutes, resolve_minutes, clock) in sla_policies::table
        .filter(sla_policies::category_id.eq_any(&ids))
        .select((
            sla_policies::category_id,
            sla_policies::priority,
            sla_policies::respond_minutes,
            sla_policies::resolve_minutes,
            sla_policies::clock,
        ))
        .load::<(CategoryId, Priority, i32, i32, ClockKind)>(conn)?
    {
        rules.insert(
            (id, priority),
            SlaRule {
                respond_minutes,
                resolve_minutes,
                clock,
            },
        );
    }
    rows.into_iter()
        .map(|r| {
            let mut rule = |p: Priority| {
                rules.remove(&(r.id, p)).ok_or_else(|| {
                    CoreError::internal(format!("category {} has no {p} SLA rule", r.code))
                })
            };
            Ok(Category {
                sla: SlaPolicies {
                    urgent: rule(Priority::Urgent)?,
                    high: rule(Priority::High)?,
                    normal: rule(Priority::Normal)?,
                    low: rule(Priority::Low)?,
                },
                id: r.id,
                code: r.code,
                name_zh: r.name_zh,
                name_en: r.name_en,
                group: r.group_name,
                default_priority: r.default_priority,
                active: r.active,
                created_at: r.created_at,
            })
        })
        .collect()
}
