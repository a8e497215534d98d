//! The overdue view: late tickets and late projects together, the most late first.

use super::*;

/// One late item of the overdue view: a ticket past a deadline or a project past its due date.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
    reference: &crate::reference::Reference,
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
    let mut items: Vec<LateItem> = queries::list(conn, reference, actor, &filter, page, now)?
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
