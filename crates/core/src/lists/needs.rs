//! A community's needs (需求清单): entered by a supervisor or gathered from tickets.

use super::*;
use crate::schema::needs;

#[derive(Debug, Clone, PartialEq, Serialize, Queryable, Selectable)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Need {
    #[serde(flatten)]
    pub need: NeedRow,
    /// The tickets gathered into it.
    pub ticket_ids: Vec<TicketId>,
}

#[derive(Debug, Clone, Deserialize, Validate)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({"community_id": 5, "category": "property_management", "title": "5号楼老旧线路改造", "description": "多户反映电线老化", "ticket_ids": [12, 15], "published": true})))]
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

#[derive(Debug, Clone, Default, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NeedChange {
    pub published: Option<bool>,
    /// Only `dropped` (or back to `open` from dropped) by hand; the rest follows projects.
    pub status: Option<NeedStatus>,
}

pub(super) type NeedFilterExpr = Box<
    dyn BoxableExpression<needs::table, crate::db::DbBackend, SqlType = diesel::sql_types::Bool>,
>;

/// Supervisors and grid members see their subtree's needs; units the published needs of
/// the communities they serve.
pub(super) fn visible_needs(scope: &Scope) -> Option<NeedFilterExpr> {
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

pub(super) fn load_need(conn: &mut DbConnection, actor: &Actor, id: NeedId) -> CoreResult<NeedRow> {
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

pub(super) fn with_tickets(conn: &mut DbConnection, rows: Vec<NeedRow>) -> CoreResult<Vec<Need>> {
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
