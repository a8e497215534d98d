//! The three lists (DESIGN.md §6). A community's **needs** (需求清单): pressing needs
//! entered by a supervisor or gathered from tickets (several households, one problem).
//! Partner units' **resources** (资源清单): what they can offer. **Projects** (项目清单): a
//! need matched with a resource or a unit, with an owner, milestones and a due date,
//! followed like tickets through states with an append-only event trail. A unit may also
//! claim a published need as a project (双向认领).

use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use validator::Validate;

use crate::db::{truncate_to_micros, write_tx, DbConnection};
use crate::error::{CoreError, CoreResult, FieldError};
use crate::ids::{
    CategoryId, MilestoneId, NeedId, OrgUnitId, PartnerId, ProjectId, ResourceId, TicketId,
};
use crate::pagination::{Page, PageRequest};
use crate::schema::{
    categories, need_tickets, needs, org_units, partner_communities, project_events,
    project_milestones, projects, resource_communities, resources, tickets,
};
use crate::scope::{can_see_org_unit, in_subtree, Actor, Scope};
use crate::types::{NeedSource, NeedStatus, OrgKind, Priority, ProjectStatus, Role};
use crate::validate;

// ---------------------------------------------------------------- needs

#[derive(utoipa::ToSchema, Debug, Clone, PartialEq, Serialize, Queryable, Selectable)]
#[diesel(table_name = needs)]
pub struct NeedRow {
    pub id: NeedId,
    pub community_id: OrgUnitId,
    #[serde(skip)]
    pub org_path: String,
    pub category_id: CategoryId,
    pub title: String,
    pub description: String,
    pub households: i32,
    pub urgency: Priority,
    pub status: NeedStatus,
    pub source: NeedSource,
    pub published: bool,
    #[serde(skip)]
    pub created_by: crate::ids::UserId,
    #[serde(serialize_with = "crate::time::utc")]
    pub created_at: NaiveDateTime,
    #[serde(serialize_with = "crate::time::utc")]
    pub updated_at: NaiveDateTime,
}

#[derive(utoipa::ToSchema, Debug, Clone, Serialize)]
pub struct Need {
    #[serde(flatten)]
    pub need: NeedRow,
    /// The tickets gathered into it.
    pub ticket_ids: Vec<TicketId>,
}

#[derive(utoipa::ToSchema, Debug, Clone, Deserialize, Validate)]
#[schema(example = json!({"community_id": 5, "category": "property_management", "title": "5号楼老旧线路改造", "description": "多户反映电线老化", "ticket_ids": [12, 15], "published": true}))]
pub struct NewNeed {
    pub community_id: OrgUnitId,
    /// Category code.
    pub category: String,
    #[validate(custom(function = "validate::not_blank"), length(max = 200))]
    pub title: String,
    #[validate(custom(function = "validate::not_blank"), length(max = 5000))]
    pub description: String,
    /// Defaults to the households of the gathered tickets (at least 1).
    #[validate(range(min = 1, max = 100000))]
    pub households: Option<i32>,
    pub urgency: Option<Priority>,
    /// Tickets of the community to gather into the need.
    #[serde(default)]
    pub ticket_ids: Vec<TicketId>,
    #[serde(default)]
    pub published: bool,
}

#[derive(utoipa::ToSchema, Debug, Clone, Default, Deserialize)]
pub struct NeedChange {
    pub published: Option<bool>,
    /// Only `dropped` (or back to `open` from dropped) by hand; the rest follows projects.
    pub status: Option<NeedStatus>,
}

type NeedFilterExpr = Box<
    dyn BoxableExpression<needs::table, crate::db::DbBackend, SqlType = diesel::sql_types::Bool>,
>;

/// Supervisors and grid members see their subtree's needs; units the published needs of
/// the communities they serve.
fn visible_needs(scope: &Scope) -> Option<NeedFilterExpr> {
    match scope {
        Scope::Everything => None,
        Scope::Subtree { path, .. } => Some(Box::new(in_subtree(needs::org_path, path))),
        Scope::Partner { partner } => Some(Box::new(
            needs::published.eq(true).and(
                needs::community_id.eq_any(
                    partner_communities::table
                        .filter(partner_communities::partner_id.eq(*partner))
                        .select(partner_communities::org_unit_id),
                ),
            ),
        )),
    }
}

fn load_need(conn: &mut DbConnection, actor: &Actor, id: NeedId) -> CoreResult<NeedRow> {
    let mut query = needs::table
        .filter(needs::id.eq(id))
        .select(NeedRow::as_select())
        .into_boxed();
    if let Some(filter) = visible_needs(&actor.scope) {
        query = query.filter(filter);
    }
    query
        .first(conn)
        .optional()?
        .ok_or(CoreError::NotFound("need"))
}

fn with_tickets(conn: &mut DbConnection, rows: Vec<NeedRow>) -> CoreResult<Vec<Need>> {
    let ids: Vec<NeedId> = rows.iter().map(|n| n.id).collect();
    let mut linked: HashMap<NeedId, Vec<TicketId>> = HashMap::new();
    for (need, ticket) in need_tickets::table
        .filter(need_tickets::need_id.eq_any(&ids))
        .order(need_tickets::ticket_id)
        .select((need_tickets::need_id, need_tickets::ticket_id))
        .load::<(NeedId, TicketId)>(conn)?
    {
        linked.entry(need).or_default().push(ticket);
    }
    Ok(rows
        .into_iter()
        .map(|n| Need {
            ticket_ids: linked.remove(&n.id).unwrap_or_default(),
            need: n,
        })
        .collect())
}

pub fn get_need(conn: &mut DbConnection, actor: &Actor, id: NeedId) -> CoreResult<Need> {
    let row = load_need(conn, actor, id)?;
    Ok(with_tickets(conn, vec![row])?.remove(0))
}

/// A supervisor enters a need, or gathers tickets of one community into one.
pub fn create_need(
    conn: &mut DbConnection,
    actor: &Actor,
    input: &NewNeed,
    now: NaiveDateTime,
) -> CoreResult<Need> {
    actor.require_role(
        &[Role::Supervisor, Role::Admin],
        "only a supervisor keeps the needs list",
    )?;
    let mut errors = validate::fields(input);
    let community: Option<(OrgKind, String)> =
        if can_see_org_unit(conn, &actor.scope, input.community_id)? {
            org_units::table
                .find(input.community_id)
                .select((org_units::kind, org_units::path))
                .first(conn)
                .optional()?
        } else {
            None
        };
    let path = match community {
        Some((OrgKind::Community, path)) => Some(path),
        Some(_) => {
            errors.push(FieldError::new(
                "community_id",
                "wrong_kind",
                "not a community",
            ));
            None
        }
        None => {
            errors.push(FieldError::new(
                "community_id",
                "not_found",
                "no such community in your scope",
            ));
            None
        }
    };
    let category: Option<(CategoryId, Priority)> = categories::table
        .filter(categories::code.eq(input.category.trim()))
        .select((categories::id, categories::default_priority))
        .first(conn)
        .optional()?;
    if category.is_none() {
        errors.push(FieldError::new(
            "category",
            "not_found",
            format!("no category {:?}", input.category),
        ));
    }
    let mut households = 0;
    for (i, id) in input.ticket_ids.iter().enumerate() {
        let found: Option<(OrgUnitId, i32)> = tickets::table
            .find(*id)
            .select((tickets::community_id, tickets::households))
            .first(conn)
            .optional()?;
        match found {
            Some((c, n)) if c == input.community_id => households += n,
            _ => errors.push(FieldError::new(
                format!("ticket_ids[{i}]"),
                "not_found",
                "no such ticket in that community",
            )),
        }
    }
    let (Some(path), Some((category_id, default_urgency)), true) =
        (path, category, errors.is_empty())
    else {
        return Err(CoreError::Invalid(errors));
    };
    let now = truncate_to_micros(now);
    let id = write_tx(conn, |conn| -> CoreResult<NeedId> {
        let id = diesel::insert_into(needs::table)
            .values((
                needs::community_id.eq(input.community_id),
                needs::org_path.eq(&path),
                needs::category_id.eq(category_id),
                needs::title.eq(input.title.trim()),
                needs::description.eq(input.description.trim()),
                needs::households.eq(input.households.unwrap_or(households.max(1))),
                needs::urgency.eq(input.urgency.unwrap_or(default_urgency)),
                needs::status.eq(NeedStatus::Open),
                needs::source.eq(if input.ticket_ids.is_empty() {
                    NeedSource::Direct
                } else {
                    NeedSource::Tickets
                }),
                needs::published.eq(input.published),
                needs::created_by.eq(actor.user_id),
                needs::created_at.eq(now),
                needs::updated_at.eq(now),
            ))
            .returning(needs::id)
            .get_result(conn)?;
        for ticket in &input.ticket_ids {
            let taken = need_tickets::table
                .find(*ticket)
                .select(need_tickets::need_id)
                .first::<NeedId>(conn)
                .optional()?;
            if let Some(other) = taken {
                return Err(CoreError::conflict(format!(
                    "ticket {ticket} already belongs to need {other}"
                )));
            }
            diesel::insert_into(need_tickets::table)
                .values((
                    need_tickets::ticket_id.eq(*ticket),
                    need_tickets::need_id.eq(id),
                ))
                .execute(conn)?;
        }
        Ok(id)
    })?;
    get_need(conn, actor, id)
}

pub fn update_need(
    conn: &mut DbConnection,
    actor: &Actor,
    id: NeedId,
    change: &NeedChange,
    now: NaiveDateTime,
) -> CoreResult<Need> {
    actor.require_role(
        &[Role::Supervisor, Role::Admin],
        "only a supervisor keeps the needs list",
    )?;
    let need = load_need(conn, actor, id)?;
    if let Some(status) = change.status {
        let allowed = matches!(
            (need.status, status),
            (NeedStatus::Open, NeedStatus::Dropped) | (NeedStatus::Dropped, NeedStatus::Open)
        );
        if !allowed && status != need.status {
            return Err(CoreError::Conflict {
                message: format!(
                    "a need that is {} cannot be set to {status} by hand; its project moves it",
                    need.status
                ),
                current: serde_json::to_value(&need).ok(),
            });
        }
    }
    diesel::update(needs::table.find(id))
        .set((
            needs::published.eq(change.published.unwrap_or(need.published)),
            needs::status.eq(change.status.unwrap_or(need.status)),
            needs::updated_at.eq(truncate_to_micros(now)),
        ))
        .execute(conn)?;
    get_need(conn, actor, id)
}

#[derive(Debug, Clone, Default)]
pub struct NeedFilter {
    pub community_id: Option<OrgUnitId>,
    pub status: Option<NeedStatus>,
    pub published: Option<bool>,
}

pub fn list_needs(
    conn: &mut DbConnection,
    actor: &Actor,
    filter: &NeedFilter,
    page: PageRequest,
) -> CoreResult<Page<Need>> {
    let mut query = needs::table.select(NeedRow::as_select()).into_boxed();
    if let Some(scope) = visible_needs(&actor.scope) {
        query = query.filter(scope);
    }
    if let Some(c) = filter.community_id {
        query = query.filter(needs::community_id.eq(c));
    }
    if let Some(s) = filter.status {
        query = query.filter(needs::status.eq(s));
    }
    if let Some(p) = filter.published {
        query = query.filter(needs::published.eq(p));
    }
    if let Some(after) = page.after {
        query = query.filter(needs::id.gt(NeedId(after)));
    }
    let rows = query.order(needs::id).limit(page.fetch()).load(conn)?;
    Page::from_rows(rows, page, |n| n.id.0).try_map_items(|rows| with_tickets(conn, rows))
}

// ---------------------------------------------------------------- resources

#[derive(utoipa::ToSchema, Debug, Clone, PartialEq, Serialize, Queryable, Selectable)]
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

#[derive(utoipa::ToSchema, Debug, Clone, Serialize)]
pub struct Resource {
    #[serde(flatten)]
    pub resource: ResourceRow,
    pub communities: Vec<OrgUnitId>,
}

#[derive(utoipa::ToSchema, Debug, Clone, Deserialize, Validate)]
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

type ResourceFilterExpr = Box<
    dyn BoxableExpression<
        resources::table,
        crate::db::DbBackend,
        SqlType = diesel::sql_types::Bool,
    >,
>;

/// Units see their own resources; supervisors and grid members those of the units serving
/// their subtree.
fn visible_resources(scope: &Scope) -> Option<ResourceFilterExpr> {
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

fn with_communities(conn: &mut DbConnection, rows: Vec<ResourceRow>) -> CoreResult<Vec<Resource>> {
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

// ---------------------------------------------------------------- projects

#[derive(utoipa::ToSchema, Debug, Clone, PartialEq, Serialize, Queryable, Selectable)]
#[diesel(table_name = projects)]
pub struct ProjectRow {
    pub id: ProjectId,
    pub need_id: Option<NeedId>,
    pub resource_id: Option<ResourceId>,
    pub owner_partner_id: PartnerId,
    pub community_id: OrgUnitId,
    #[serde(skip)]
    pub org_path: String,
    pub title: String,
    pub status: ProjectStatus,
    #[serde(serialize_with = "crate::time::utc")]
    pub due_at: NaiveDateTime,
    #[serde(skip)]
    pub created_by: crate::ids::UserId,
    #[serde(skip)]
    pub version: i32,
    #[serde(serialize_with = "crate::time::utc")]
    pub created_at: NaiveDateTime,
    #[serde(serialize_with = "crate::time::utc")]
    pub updated_at: NaiveDateTime,
}

#[derive(utoipa::ToSchema, Debug, Clone, PartialEq, Serialize, Queryable, Selectable)]
#[diesel(table_name = project_milestones)]
pub struct Milestone {
    pub id: MilestoneId,
    #[serde(skip)]
    pub project_id: ProjectId,
    pub title: String,
    #[serde(serialize_with = "crate::time::utc")]
    pub due_at: NaiveDateTime,
    #[serde(serialize_with = "crate::time::utc_opt")]
    pub done_at: Option<NaiveDateTime>,
}

#[derive(utoipa::ToSchema, Debug, Clone, PartialEq, Serialize, Queryable, Selectable)]
#[diesel(table_name = project_events)]
pub struct ProjectEvent {
    pub id: i64,
    #[serde(skip)]
    pub project_id: ProjectId,
    pub actor_id: Option<crate::ids::UserId>,
    pub kind: String,
    pub from_status: Option<String>,
    pub to_status: Option<String>,
    pub note: Option<String>,
    #[serde(serialize_with = "crate::time::utc")]
    pub created_at: NaiveDateTime,
}

#[derive(utoipa::ToSchema, Debug, Clone, Serialize)]
pub struct Project {
    #[serde(flatten)]
    pub project: ProjectRow,
    /// Past its due date and not done.
    pub overdue: bool,
    pub milestones: Vec<Milestone>,
    pub events: Vec<ProjectEvent>,
}

#[derive(utoipa::ToSchema, Debug, Clone, Deserialize, Validate)]
pub struct NewMilestone {
    #[validate(custom(function = "validate::not_blank"), length(max = 200))]
    pub title: String,
    pub due_at: chrono::DateTime<chrono::Utc>,
}

#[derive(utoipa::ToSchema, Debug, Clone, Deserialize, Validate)]
pub struct NewProject {
    pub need_id: NeedId,
    /// The resource that meets the need (its unit owns the project) …
    pub resource_id: Option<ResourceId>,
    /// … or the owner unit directly.
    pub owner_partner_id: Option<PartnerId>,
    #[validate(custom(function = "validate::not_blank"), length(max = 200))]
    pub title: Option<String>,
    pub due_at: chrono::DateTime<chrono::Utc>,
    #[serde(default)]
    #[validate(nested)]
    pub milestones: Vec<NewMilestone>,
}

type ProjectFilterExpr = Box<
    dyn BoxableExpression<projects::table, crate::db::DbBackend, SqlType = diesel::sql_types::Bool>,
>;

fn visible_projects(scope: &Scope) -> Option<ProjectFilterExpr> {
    match scope {
        Scope::Everything => None,
        Scope::Subtree { path, .. } => Some(Box::new(in_subtree(projects::org_path, path))),
        Scope::Partner { partner } => Some(Box::new(projects::owner_partner_id.eq(*partner))),
    }
}

fn project_event(
    conn: &mut DbConnection,
    id: ProjectId,
    actor: &Actor,
    kind: &str,
    (from, to): (Option<ProjectStatus>, Option<ProjectStatus>),
    note: Option<&str>,
    now: NaiveDateTime,
) -> CoreResult<()> {
    diesel::insert_into(project_events::table)
        .values((
            project_events::project_id.eq(id),
            project_events::actor_id.eq(actor.user_id),
            project_events::kind.eq(kind),
            project_events::from_status.eq(from.map(|s| s.as_str())),
            project_events::to_status.eq(to.map(|s| s.as_str())),
            project_events::note.eq(note),
            project_events::created_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

fn set_need_status(
    conn: &mut DbConnection,
    need: Option<NeedId>,
    status: NeedStatus,
    now: NaiveDateTime,
) -> CoreResult<()> {
    if let Some(need) = need {
        diesel::update(needs::table.find(need))
            .set((needs::status.eq(status), needs::updated_at.eq(now)))
            .execute(conn)?;
    }
    Ok(())
}

/// A project about to be made from a need.
struct Draft<'a> {
    owner: PartnerId,
    resource: Option<ResourceId>,
    title: &'a str,
    due_at: NaiveDateTime,
    milestones: &'a [NewMilestone],
}

fn insert_project(
    conn: &mut DbConnection,
    actor: &Actor,
    need: &NeedRow,
    draft: Draft<'_>,
    now: NaiveDateTime,
) -> CoreResult<ProjectId> {
    let Draft {
        owner,
        resource,
        title,
        due_at,
        milestones,
    } = draft;
    write_tx(conn, |conn| {
        let current: NeedStatus = needs::table
            .find(need.id)
            .select(needs::status)
            .first(conn)?;
        if current != NeedStatus::Open {
            return Err(CoreError::conflict(format!(
                "need {} is {current}, no longer open",
                need.id
            )));
        }
        let id: ProjectId = diesel::insert_into(projects::table)
            .values((
                projects::need_id.eq(need.id),
                projects::resource_id.eq(resource),
                projects::owner_partner_id.eq(owner),
                projects::community_id.eq(need.community_id),
                projects::org_path.eq(&need.org_path),
                projects::title.eq(title),
                projects::status.eq(ProjectStatus::Planned),
                projects::due_at.eq(due_at),
                projects::created_by.eq(actor.user_id),
                projects::version.eq(0),
                projects::created_at.eq(now),
                projects::updated_at.eq(now),
            ))
            .returning(projects::id)
            .get_result(conn)?;
        for m in milestones {
            diesel::insert_into(project_milestones::table)
                .values((
                    project_milestones::project_id.eq(id),
                    project_milestones::title.eq(m.title.trim()),
                    project_milestones::due_at.eq(truncate_to_micros(m.due_at.naive_utc())),
                ))
                .execute(conn)?;
        }
        set_need_status(conn, Some(need.id), NeedStatus::Matched, now)?;
        project_event(
            conn,
            id,
            actor,
            "created",
            (None, Some(ProjectStatus::Planned)),
            None,
            now,
        )?;
        Ok(id)
    })
}

/// A supervisor matches a need with a resource (or a unit directly) into a project.
pub fn create_project(
    conn: &mut DbConnection,
    actor: &Actor,
    input: &NewProject,
    now: NaiveDateTime,
) -> CoreResult<Project> {
    actor.require_role(
        &[Role::Supervisor, Role::Admin],
        "only a supervisor matches needs into projects",
    )?;
    let mut errors = validate::fields(input);
    let need = load_need(conn, actor, input.need_id)
        .map_err(|_| CoreError::invalid("need_id", "not_found", "no such need in your scope"))?;
    let owner = match (input.resource_id, input.owner_partner_id) {
        (Some(r), None) => match get_resource(conn, actor, r) {
            Ok(res) if res.communities.contains(&need.community_id) => {
                Some(res.resource.partner_id)
            }
            Ok(_) => {
                errors.push(FieldError::new(
                    "resource_id",
                    "not_served",
                    "the resource does not serve the need's community",
                ));
                None
            }
            Err(_) => {
                errors.push(FieldError::new(
                    "resource_id",
                    "not_found",
                    "no such resource in your scope",
                ));
                None
            }
        },
        (None, Some(p)) => {
            if !crate::tickets::lifecycle::unit_qualifies(
                conn,
                p,
                need.community_id,
                need.category_id,
            )? {
                errors.push(FieldError::new(
                    "owner_partner_id",
                    "not_qualified",
                    "the unit does not serve this community and category",
                ));
            }
            Some(p)
        }
        _ => {
            errors.push(FieldError::new(
                "resource_id",
                "required",
                "give either resource_id or owner_partner_id",
            ));
            None
        }
    };
    let now = truncate_to_micros(now);
    if input.due_at.naive_utc() <= now {
        errors.push(FieldError::new("due_at", "range", "must be in the future"));
    }
    let (Some(owner), true) = (owner, errors.is_empty()) else {
        return Err(CoreError::Invalid(errors));
    };
    let title = input.title.clone().unwrap_or_else(|| need.title.clone());
    let id = insert_project(
        conn,
        actor,
        &need,
        Draft {
            owner,
            resource: input.resource_id,
            title: title.trim(),
            due_at: truncate_to_micros(input.due_at.naive_utc()),
            milestones: &input.milestones,
        },
        now,
    )?;
    get_project(conn, actor, id, now)
}

/// 双向认领: a unit claims a published, open need of a community it serves as a project.
pub fn claim_need(
    conn: &mut DbConnection,
    actor: &Actor,
    need_id: NeedId,
    due_at: chrono::DateTime<chrono::Utc>,
    now: NaiveDateTime,
) -> CoreResult<Project> {
    let Scope::Partner { partner } = actor.scope else {
        return Err(CoreError::Forbidden("only partner-unit staff claim needs"));
    };
    let need = load_need(conn, actor, need_id)?;
    if !crate::tickets::lifecycle::unit_qualifies(
        conn,
        partner,
        need.community_id,
        need.category_id,
    )? {
        return Err(CoreError::Forbidden(
            "your unit does not handle this category",
        ));
    }
    let now = truncate_to_micros(now);
    if due_at.naive_utc() <= now {
        return Err(CoreError::invalid(
            "due_at",
            "range",
            "must be in the future",
        ));
    }
    let id = insert_project(
        conn,
        actor,
        &need,
        Draft {
            owner: partner,
            resource: None,
            title: &need.title,
            due_at: truncate_to_micros(due_at.naive_utc()),
            milestones: &[],
        },
        now,
    )
    .map_err(|e| match e {
        // The unique index on live projects per need: another claim won.
        CoreError::Conflict { message, .. } => CoreError::Conflict {
            message,
            current: serde_json::to_value(&need).ok(),
        },
        other => other,
    })?;
    get_project(conn, actor, id, now)
}

fn load_project(conn: &mut DbConnection, actor: &Actor, id: ProjectId) -> CoreResult<ProjectRow> {
    let mut query = projects::table
        .filter(projects::id.eq(id))
        .select(ProjectRow::as_select())
        .into_boxed();
    if let Some(filter) = visible_projects(&actor.scope) {
        query = query.filter(filter);
    }
    query
        .first(conn)
        .optional()?
        .ok_or(CoreError::NotFound("project"))
}

fn is_overdue(p: &ProjectRow, now: NaiveDateTime) -> bool {
    matches!(p.status, ProjectStatus::Planned | ProjectStatus::InProgress) && p.due_at < now
}

pub fn get_project(
    conn: &mut DbConnection,
    actor: &Actor,
    id: ProjectId,
    now: NaiveDateTime,
) -> CoreResult<Project> {
    let project = load_project(conn, actor, id)?;
    let milestones = project_milestones::table
        .filter(project_milestones::project_id.eq(id))
        .order(project_milestones::id)
        .select(Milestone::as_select())
        .load(conn)?;
    let events = project_events::table
        .filter(project_events::project_id.eq(id))
        .order(project_events::id)
        .select(ProjectEvent::as_select())
        .load(conn)?;
    Ok(Project {
        overdue: is_overdue(&project, now),
        project,
        milestones,
        events,
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProjectAction {
    Start,
    Complete,
    Cancel,
}

/// Moves a project (the owner unit starts and completes it; a supervisor may also cancel),
/// carrying its need along: in progress, done, or open again when cancelled.
pub fn transition_project(
    conn: &mut DbConnection,
    actor: &Actor,
    id: ProjectId,
    action: ProjectAction,
    note: Option<&str>,
    now: NaiveDateTime,
) -> CoreResult<Project> {
    let now = truncate_to_micros(now);
    let p = load_project(conn, actor, id)?;
    let owner = matches!(actor.scope, Scope::Partner { partner } if partner == p.owner_partner_id);
    let supervisor = matches!(actor.role, Role::Supervisor | Role::Admin);
    let (from, to, need_status, allowed) = match action {
        ProjectAction::Start => (
            ProjectStatus::Planned,
            ProjectStatus::InProgress,
            NeedStatus::InProgress,
            owner || supervisor,
        ),
        ProjectAction::Complete => (
            ProjectStatus::InProgress,
            ProjectStatus::Done,
            NeedStatus::Done,
            owner || supervisor,
        ),
        ProjectAction::Cancel => (
            p.status,
            ProjectStatus::Cancelled,
            NeedStatus::Open,
            supervisor,
        ),
    };
    if !allowed {
        return Err(CoreError::Forbidden(
            "only the owner unit or a supervisor moves this project",
        ));
    }
    if p.status != from || matches!(p.status, ProjectStatus::Done | ProjectStatus::Cancelled) {
        return Err(CoreError::Conflict {
            message: format!("project {} is {}", p.id, p.status),
            current: serde_json::to_value(&p).ok(),
        });
    }
    write_tx(conn, |conn| -> CoreResult<()> {
        let moved = diesel::update(
            projects::table.filter(projects::id.eq(id).and(projects::version.eq(p.version))),
        )
        .set((
            projects::status.eq(to),
            projects::version.eq(p.version + 1),
            projects::updated_at.eq(now),
        ))
        .execute(conn)?;
        if moved != 1 {
            return Err(CoreError::conflict(format!(
                "project {id} changed meanwhile; retry"
            )));
        }
        set_need_status(conn, p.need_id, need_status, now)?;
        let kind = match action {
            ProjectAction::Start => "started",
            ProjectAction::Complete => "completed",
            ProjectAction::Cancel => "cancelled",
        };
        project_event(conn, id, actor, kind, (Some(from), Some(to)), note, now)
    })?;
    get_project(conn, actor, id, now)
}

/// Milestones are planned and marked by the project's owner unit or a supervisor.
fn require_milestone_keeper(actor: &Actor, p: &ProjectRow) -> CoreResult<()> {
    if matches!(actor.scope, Scope::Partner { partner } if partner == p.owner_partner_id)
        || matches!(actor.role, Role::Supervisor | Role::Admin)
    {
        Ok(())
    } else {
        Err(CoreError::Forbidden(
            "only the owner unit or a supervisor plans and marks milestones",
        ))
    }
}

/// Adds a milestone to a project that is not finished: the owner unit (a project made when
/// it claimed a need starts with none) or a supervisor plans the work.
pub fn add_milestone(
    conn: &mut DbConnection,
    actor: &Actor,
    id: ProjectId,
    input: &NewMilestone,
    now: NaiveDateTime,
) -> CoreResult<Project> {
    let now = truncate_to_micros(now);
    let p = load_project(conn, actor, id)?;
    require_milestone_keeper(actor, &p)?;
    let errors = validate::fields(input);
    if !errors.is_empty() {
        return Err(CoreError::Invalid(errors));
    }
    if matches!(p.status, ProjectStatus::Done | ProjectStatus::Cancelled) {
        return Err(CoreError::conflict(format!(
            "the project is {} and takes no new milestones",
            p.status
        )));
    }
    let title = input.title.trim().to_owned();
    write_tx(conn, |conn| -> CoreResult<()> {
        diesel::insert_into(project_milestones::table)
            .values((
                project_milestones::project_id.eq(id),
                project_milestones::title.eq(&title),
                project_milestones::due_at.eq(truncate_to_micros(input.due_at.naive_utc())),
            ))
            .execute(conn)?;
        project_event(
            conn,
            id,
            actor,
            "milestone_added",
            (Some(p.status), Some(p.status)),
            Some(&title),
            now,
        )
    })?;
    get_project(conn, actor, id, now)
}

pub fn complete_milestone(
    conn: &mut DbConnection,
    actor: &Actor,
    id: ProjectId,
    milestone: MilestoneId,
    now: NaiveDateTime,
) -> CoreResult<Project> {
    let now = truncate_to_micros(now);
    let p = load_project(conn, actor, id)?;
    require_milestone_keeper(actor, &p)?;
    let title: String = project_milestones::table
        .filter(
            project_milestones::id
                .eq(milestone)
                .and(project_milestones::project_id.eq(id)),
        )
        .select(project_milestones::title)
        .first(conn)
        .optional()?
        .ok_or(CoreError::NotFound("milestone"))?;
    write_tx(conn, |conn| -> CoreResult<()> {
        diesel::update(project_milestones::table.find(milestone))
            .set(project_milestones::done_at.eq(Some(now)))
            .execute(conn)?;
        project_event(
            conn,
            id,
            actor,
            "milestone_done",
            (Some(p.status), Some(p.status)),
            Some(&title),
            now,
        )
    })?;
    get_project(conn, actor, id, now)
}

pub fn list_projects(
    conn: &mut DbConnection,
    actor: &Actor,
    overdue: Option<bool>,
    page: PageRequest,
    now: NaiveDateTime,
) -> CoreResult<Page<ProjectRow>> {
    let mut query = projects::table.select(ProjectRow::as_select()).into_boxed();
    if let Some(filter) = visible_projects(&actor.scope) {
        query = query.filter(filter);
    }
    let live = vec![ProjectStatus::Planned, ProjectStatus::InProgress];
    match overdue {
        Some(true) => {
            query = query.filter(projects::status.eq_any(live).and(projects::due_at.lt(now)))
        }
        Some(false) => {
            query = query.filter(diesel::dsl::not(
                projects::status.eq_any(live).and(projects::due_at.lt(now)),
            ))
        }
        None => {}
    }
    if let Some(after) = page.after {
        query = query.filter(projects::id.gt(ProjectId(after)));
    }
    let rows = query.order(projects::id).limit(page.fetch()).load(conn)?;
    Ok(Page::from_rows(rows, page, |p| p.id.0))
}

/// One late item of the overdue view: a ticket past a deadline or a project past its due date.
#[derive(utoipa::ToSchema, Debug, Clone, Serialize)]
pub struct LateItem {
    /// `ticket` or `project`.
    pub kind: &'static str,
    pub id: i64,
    /// The ticket number, or the project's title.
    pub label: String,
    pub title: String,
    pub status: String,
    pub community_id: OrgUnitId,
    /// The deadline it missed.
    #[serde(serialize_with = "crate::time::utc")]
    pub due: NaiveDateTime,
    pub late_minutes: i64,
    /// Escalation level (tickets only).
    pub level: Option<i32>,
}

/// The overdue tickets and projects of the actor's scope, the most late first: the `limit`
/// most late of each kind, however many are late.
pub fn overdue(
    conn: &mut DbConnection,
    actor: &Actor,
    limit: i64,
    now: NaiveDateTime,
) -> CoreResult<Vec<LateItem>> {
    use crate::tickets::queries::{self, TicketFilter};
    let page = PageRequest { after: None, limit };
    let filter = TicketFilter {
        overdue: Some(true),
        ..TicketFilter::default()
    };
    let mut items: Vec<LateItem> = queries::list(conn, actor, &filter, page, now)?
        .items
        .into_iter()
        .map(|t| {
            let due =
                queries::late_since_of(t.responded_at, t.respond_by, t.resolve_by).unwrap_or(now);
            LateItem {
                kind: "ticket",
                id: t.id.0,
                label: t.number,
                title: t.title,
                status: t.status.to_string(),
                community_id: t.community_id,
                due,
                late_minutes: (now - due).num_minutes(),
                level: Some(t.level),
            }
        })
        .collect();
    items.extend(
        list_projects(conn, actor, Some(true), page, now)?
            .items
            .into_iter()
            .map(|p| LateItem {
                kind: "project",
                id: p.id.0,
                label: p.title.clone(),
                title: p.title,
                status: p.status.to_string(),
                community_id: p.community_id,
                due: p.due_at,
                late_minutes: (now - p.due_at).num_minutes(),
                level: None,
            }),
    );
    items.sort_by(|a, b| {
        b.late_minutes
            .cmp(&a.late_minutes)
            .then(a.kind.cmp(b.kind))
            .then(a.id.cmp(&b.id))
    });
    Ok(items)
}
