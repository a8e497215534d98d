//! Escalation up the chain (DESIGN.md §5): a ticket past its deadline at level L rises to
//! L+1 (community 0 → street 1 → district 2 → city 3), gets a fresh deadline for that
//! level's window (the category's response window on its clock), an `escalated` event, and
//! the supervisors of the new level's node one digest per sweep listing their new tickets.
//!
//! Open tickets have one row in `escalation_due`; closed ones none. A sweep takes the rows
//! due at its instant, so it touches only due tickets, and moves each row's due time past
//! that instant, so a second sweep at the same instant changes nothing. On PostgreSQL the
//! sweep holds a transaction-scoped advisory lock: schedulers running side by side take
//! turns, and the second finds nothing left to do. On SQLite the write transaction does.

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDateTime;
use diesel::connection::SimpleConnection;
use diesel::prelude::*;

use crate::pagination::{Towards, Window};
use serde::Serialize;

use crate::calendar::WorkingCalendar;
use crate::categories;
use crate::db::{truncate_to_micros, write_tx, DbConnection};
use crate::error::{CoreError, CoreResult};
use crate::ids::{OrgUnitId, TicketId};
use crate::schema::{
    escalation_due, org_unit_emails, org_units, partners, ticket_events, tickets, users,
};
use crate::tickets::TicketRow;
use crate::types::{EventKind, Role, TicketStatus};
use crate::{mail, outbox};

pub use crate::tickets::due::CITY_LEVEL;
/// Tickets escalated in one sweep at most; the rest wait for the next sweep.
const BATCH: i64 = 20_000;
/// Ids per `IN (…)` list, well under SQLite's limit on bound parameters.
const CHUNK: usize = 5_000;
/// Held by escalation and warning sweeps alike, for their transaction.
pub(crate) const SWEEP_LOCK_KEY: i64 = 0x006a_6965_7375_0001;

#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Escalated {
    pub ticket_id: TicketId,
    pub number: String,
    pub from_level: i32,
    pub to_level: i32,
    /// The org node of the new level (the ticket community's ancestor).
    pub node_id: OrgUnitId,
    pub node_name: String,
    #[serde(serialize_with = "crate::time::utc")]
    pub was_due: NaiveDateTime,
    /// When it rises again if still undone; absent at the city.
    #[serde(serialize_with = "crate::time::utc_opt")]
    pub next_due: Option<NaiveDateTime>,
    pub digest_recipients: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SweepReport {
    pub escalated: Vec<Escalated>,
    /// Digest mails written to the outbox.
    pub digests: usize,
    /// The warnings before deadlines of the same sweep (`warnings::sweep`, which the
    /// scheduler runs right after escalation).
    pub warnings: crate::warnings::WarningReport,
    /// Tickets whose resident's data the same sweep reduced, their retention period over
    /// (`privacy::reduce_expired`, run right after the warnings).
    pub reduced: usize,
}

/// What the digest needs beyond the ticket.
pub struct SweepContext<'a> {
    pub calendar: &'a WorkingCalendar,
    /// Base URL for links in mails, e.g. `https://jiesu.example.gov.cn`.
    pub public_url: &'a str,
    pub mail_language: mail::MailLanguage,
}

impl SweepContext<'_> {
    /// How the sweep's digests are written (as `tickets::Context::letterhead`).
    pub fn letterhead(&self) -> mail::Letterhead<'_> {
        mail::Letterhead {
            tz: self.calendar.tz(),
            public_url: self.public_url,
            language: self.mail_language,
        }
    }
}

/// The ancestor of a community at an escalation level: path `/city/district/street/community/`.
pub(crate) fn node_at_level(org_path: &str, level: i32) -> Option<OrgUnitId> {
    let ids: Vec<&str> = org_path.trim_matches('/').split('/').collect();
    let index = match level {
        0 => 3,
        1 => 2,
        2 => 1,
        3 => 0,
        _ => return None,
    };
    ids.get(index)?.parse().ok().map(OrgUnitId)
}

/// The names of some org units.
pub(crate) fn names_of(
    conn: &mut DbConnection,
    ids: &[OrgUnitId],
) -> CoreResult<BTreeMap<OrgUnitId, String>> {
    let mut names = BTreeMap::new();
    for chunk in ids.chunks(CHUNK) {
        names.extend(
            org_units::table
                .filter(org_units::id.eq_any(chunk))
                .select((org_units::id, org_units::name))
                .load::<(OrgUnitId, String)>(conn)?,
        );
    }
    Ok(names)
}

/// Who is told at a node: its listed supervisor emails and its active supervisors' accounts.
pub(crate) fn supervisors_of(conn: &mut DbConnection, node: OrgUnitId) -> CoreResult<Vec<String>> {
    let mut emails: BTreeSet<String> = org_unit_emails::table
        .filter(org_unit_emails::org_unit_id.eq(node))
        .select(org_unit_emails::email)
        .load::<String>(conn)?
        .into_iter()
        .collect();
    emails.extend(
        users::table
            .filter(
                users::org_unit_id
                    .eq(node)
                    .and(users::role.eq(Role::Supervisor))
                    .and(users::active.eq(true)),
            )
            .select(users::email)
            .load::<Option<String>>(conn)?
            .into_iter()
            .flatten()
            .map(|e| e.to_lowercase()),
    );
    Ok(emails.into_iter().collect())
}

/// One sweep as of `as_of`: escalates every ticket due by then, one level, and writes one
/// digest per supervisor of each node that received tickets. All in one transaction, which
/// on PostgreSQL holds an advisory lock, so two schedulers never sweep at once.
pub fn sweep(
    conn: &mut DbConnection,
    as_of: NaiveDateTime,
    ctx: &SweepContext<'_>,
) -> CoreResult<SweepReport> {
    let as_of = truncate_to_micros(as_of);
    write_tx(conn, |conn| {
        if let DbConnection::Postgres(pg) = conn {
            pg.batch_execute(&format!("SELECT pg_advisory_xact_lock({SWEEP_LOCK_KEY})"))?;
        }
        let due: Vec<(TicketId, NaiveDateTime)> = escalation_due::table
            .filter(escalation_due::due_at.le(as_of))
            .order((escalation_due::due_at, escalation_due::ticket_id))
            .limit(BATCH)
            .select((escalation_due::ticket_id, escalation_due::due_at))
            .load(conn)?;
        let facts = read_facts(conn, &due)?;
        let mut plan = plan(conn, due, facts, as_of, ctx)?;
        write_plan(conn, &plan, as_of)?;
        mail_digests(conn, &mut plan, as_of, ctx)?;
        Ok(plan.report)
    })
}

/// What the escalations of one sweep need, read set-wise: the tickets, the names of their
/// places and units, and their categories with the rules.
struct Facts {
    rows: BTreeMap<TicketId, TicketRow>,
    place_names: BTreeMap<OrgUnitId, String>,
    category_info: BTreeMap<crate::ids::CategoryId, categories::Category>,
    partner_names: BTreeMap<crate::ids::PartnerId, String>,
}

fn read_facts(conn: &mut DbConnection, due: &[(TicketId, NaiveDateTime)]) -> CoreResult<Facts> {
    let ids: Vec<TicketId> = due.iter().map(|(id, _)| *id).collect();
    let mut rows: BTreeMap<TicketId, TicketRow> = BTreeMap::new();
    for chunk in ids.chunks(CHUNK) {
        for t in tickets::table
            .filter(tickets::id.eq_any(chunk))
            .select(TicketRow::as_select())
            .load(conn)?
        {
            rows.insert(t.id, t);
        }
    }
    let mut places: BTreeSet<OrgUnitId> = BTreeSet::new();
    for t in rows.values() {
        places.insert(t.community_id);
        places.extend(node_at_level(&t.org_path, t.level + 1));
    }
    let places: Vec<OrgUnitId> = places.into_iter().collect();
    let place_names = names_of(conn, &places)?;
    let category_info = categories::get_each(conn, rows.values().map(|t| t.category_id))?;
    let partner_ids: Vec<_> = rows
        .values()
        .filter_map(|t| t.partner_id)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let partner_names: BTreeMap<_, String> = partners::table
        .filter(partners::id.eq_any(&partner_ids))
        .select((partners::id, partners::name))
        .load::<(crate::ids::PartnerId, String)>(conn)?
        .into_iter()
        .collect();
    Ok(Facts {
        rows,
        place_names,
        category_info,
        partner_names,
    })
}

/// The escalated event of one risen ticket.
struct RiseEvent {
    ticket_id: TicketId,
    status: crate::types::TicketStatus,
    partner_id: Option<crate::ids::PartnerId>,
    detail: String,
}

/// What one sweep changes, decided before anything is written.
#[derive(Default)]
struct Plan {
    /// node → (name, recipients, lines of the digest)
    digests: BTreeMap<OrgUnitId, (String, Vec<String>, Vec<mail::DigestLine>)>,
    /// Tickets that leave the escalation queue (final, at the city, or gone).
    finished: Vec<TicketId>,
    /// Tickets that go up one level.
    risen: Vec<TicketId>,
    /// The next due instant depends only on the category and priority: one UPDATE each.
    next_dues: BTreeMap<NaiveDateTime, Vec<TicketId>>,
    events: Vec<RiseEvent>,
    report: SweepReport,
}

/// Decides, ticket by ticket, where each due one rises to, when it is due next, and what
/// the node's supervisors are told.
fn plan(
    conn: &mut DbConnection,
    due: Vec<(TicketId, NaiveDateTime)>,
    mut facts: Facts,
    as_of: NaiveDateTime,
    ctx: &SweepContext<'_>,
) -> CoreResult<Plan> {
    let mut plan = Plan::default();
    for (id, was_due) in due {
        let Some(t) = facts.rows.remove(&id) else {
            plan.finished.push(id);
            continue;
        };
        if t.level >= CITY_LEVEL || t.status.is_final() {
            plan.finished.push(id);
            continue;
        }
        let to_level = t.level + 1;
        let node = node_at_level(&t.org_path, to_level).ok_or_else(|| {
            CoreError::internal(format!(
                "ticket {} has no level-{to_level} ancestor",
                t.number
            ))
        })?;
        let node_name = facts.place_names.get(&node).cloned().unwrap_or_default();
        let category = facts
            .category_info
            .get(&t.category_id)
            .ok_or_else(|| CoreError::internal(format!("no category {}", t.category_id)))?;
        let rule = category.sla.get(t.priority);
        let next_due = (to_level < CITY_LEVEL).then(|| {
            ctx.calendar
                .deadline(rule.clock, as_of, rule.respond_minutes)
        });
        match next_due {
            Some(due) => plan.next_dues.entry(due).or_default().push(id),
            None => plan.finished.push(id),
        }
        plan.risen.push(id);
        plan.events.push(RiseEvent {
            ticket_id: id,
            status: t.status,
            partner_id: t.partner_id,
            detail: serde_json::json!({ "from_level": t.level, "to_level": to_level, "node_id": node, "was_due": was_due.and_utc() }).to_string(),
        });

        let community = facts
            .place_names
            .get(&t.community_id)
            .cloned()
            .unwrap_or_default();
        let holder = match t.partner_id.and_then(|p| facts.partner_names.get(&p)) {
            Some(unit) => mail::Holder::Unit(unit.clone()),
            None if t.in_pool => mail::Holder::Pool,
            None => mail::Holder::Undispatched,
        };
        let line = mail::DigestLine {
            ticket: mail::MailTicket {
                id,
                number: t.number.clone(),
                title: t.title.clone(),
                community,
                category: (category.name_zh.clone(), category.name_en.clone()),
                priority: t.priority,
                holder,
            },
            missed: if t.responded_at.is_some() {
                mail::Missed::Resolution
            } else {
                mail::Missed::Response
            },
            was_due,
            late_minutes: (as_of - was_due).num_minutes(),
        };
        let entry = match plan.digests.entry(node) {
            std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::btree_map::Entry::Vacant(e) => {
                e.insert((node_name.clone(), supervisors_of(conn, node)?, Vec::new()))
            }
        };
        entry.2.push(line);
        plan.report.escalated.push(Escalated {
            ticket_id: id,
            number: t.number,
            from_level: t.level,
            to_level,
            node_id: node,
            node_name,
            was_due,
            next_due,
            digest_recipients: entry.1.clone(),
        });
    }
    Ok(plan)
}

/// The writes, set-wise: each risen ticket goes up exactly one level.
fn write_plan(conn: &mut DbConnection, plan: &Plan, as_of: NaiveDateTime) -> CoreResult<()> {
    for chunk in plan.risen.chunks(CHUNK) {
        diesel::update(tickets::table.filter(tickets::id.eq_any(chunk)))
            .set((
                tickets::level.eq(tickets::level + 1),
                tickets::version.eq(tickets::version + 1),
                tickets::updated_at.eq(as_of),
            ))
            .execute(conn)?;
    }
    for (due_at, ids) in &plan.next_dues {
        for chunk in ids.chunks(CHUNK) {
            diesel::update(escalation_due::table.filter(escalation_due::ticket_id.eq_any(chunk)))
                .set((
                    escalation_due::due_at.eq(due_at),
                    escalation_due::window_due_at.eq(due_at),
                ))
                .execute(conn)?;
        }
    }
    for chunk in plan.finished.chunks(CHUNK) {
        diesel::delete(escalation_due::table.filter(escalation_due::ticket_id.eq_any(chunk)))
            .execute(conn)?;
    }
    // Multi-row inserts go to each backend directly (the multi-backend connection has none).
    let events: Vec<_> = plan
        .events
        .iter()
        .map(|e| {
            (
                ticket_events::ticket_id.eq(e.ticket_id),
                ticket_events::kind.eq(EventKind::Escalated),
                ticket_events::from_status.eq(e.status),
                ticket_events::to_status.eq(e.status),
                ticket_events::partner_id.eq(e.partner_id),
                ticket_events::detail.eq(&e.detail),
                ticket_events::created_at.eq(as_of),
            )
        })
        .collect();
    for chunk in events.chunks(CHUNK / 5) {
        let insert = diesel::insert_into(ticket_events::table).values(chunk);
        match conn {
            DbConnection::Postgres(pg) => insert.execute(pg)?,
            DbConnection::Sqlite(lite) => insert.execute(lite)?,
        };
    }
    Ok(())
}

/// One digest per node, to each of its supervisors, through the outbox.
fn mail_digests(
    conn: &mut DbConnection,
    plan: &mut Plan,
    as_of: NaiveDateTime,
    ctx: &SweepContext<'_>,
) -> CoreResult<()> {
    for (node_name, recipients, lines) in plan.digests.values() {
        let digest = mail::escalation_digest(node_name, lines, &ctx.letterhead())?;
        for recipient in recipients {
            outbox::enqueue(conn, recipient, &digest, as_of)?;
            plan.report.digests += 1;
        }
    }
    Ok(())
}

/// One rise of a ticket.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Rise {
    pub from_level: i64,
    pub to_level: i64,
    pub node_id: Option<i64>,
    #[serde(serialize_with = "crate::time::utc")]
    pub at: NaiveDateTime,
}

/// An escalated ticket as the supervisors' list shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EscalatedTicket {
    pub ticket_id: TicketId,
    pub number: String,
    pub title: String,
    pub status: TicketStatus,
    pub level: i32,
    /// The node supervising it now (the ancestor at its level).
    pub node_id: Option<OrgUnitId>,
    pub overdue: bool,
    pub rises: Vec<Rise>,
}

/// The escalated tickets the actor may see (level above community), most recently
/// changed first, each with its rises.
pub fn list(
    conn: &mut DbConnection,
    actor: &crate::scope::Actor,
    page: crate::pagination::PageRequest,
    now: NaiveDateTime,
) -> CoreResult<crate::pagination::Page<EscalatedTicket>> {
    Ok(browse(conn, actor, Towards::Next(page.after), page.limit, now)?.into_page())
}

/// The actor's escalated tickets (escalated at least once, still above the community),
/// as `list`.
fn escalated(actor: &crate::scope::Actor) -> tickets::BoxedQuery<'static, crate::db::DbBackend> {
    let mut query = tickets::table.filter(tickets::level.gt(0)).into_boxed();
    if let Some(scope) = crate::tickets::visible_tickets(&actor.scope) {
        query = query.filter(scope);
    }
    query
}

/// A page of the actor's escalated tickets either way from a cursor, newest first.
pub fn browse(
    conn: &mut DbConnection,
    actor: &crate::scope::Actor,
    towards: Towards,
    limit: i64,
    now: NaiveDateTime,
) -> CoreResult<Window<EscalatedTicket>> {
    let query = match towards {
        Towards::Next(None) => escalated(actor).order(tickets::id.desc()),
        Towards::Next(Some(after)) => escalated(actor)
            .filter(tickets::id.lt(TicketId(after)))
            .order(tickets::id.desc()),
        Towards::Previous(before) => escalated(actor)
            .filter(tickets::id.gt(TicketId(before)))
            .order(tickets::id.asc()),
    };
    let rows: Vec<TicketRow> = query
        .select(TicketRow::as_select())
        .limit(limit + 1)
        .load(conn)?;
    let page = Window::from_rows(rows, towards, limit, |r| r.id.0);
    let ids: Vec<TicketId> = page.items.iter().map(|t| t.id).collect();
    let mut rises: BTreeMap<TicketId, Vec<Rise>> = BTreeMap::new();
    for (ticket, detail, at) in ticket_events::table
        .filter(
            ticket_events::kind
                .eq(EventKind::Escalated)
                .and(ticket_events::ticket_id.eq_any(&ids)),
        )
        .order(ticket_events::id)
        .select((
            ticket_events::ticket_id,
            ticket_events::detail,
            ticket_events::created_at,
        ))
        .load::<(TicketId, Option<String>, NaiveDateTime)>(conn)?
    {
        let detail: serde_json::Value = detail
            .as_deref()
            .and_then(|d| serde_json::from_str(d).ok())
            .unwrap_or_default();
        rises.entry(ticket).or_default().push(Rise {
            from_level: detail["from_level"].as_i64().unwrap_or_default(),
            to_level: detail["to_level"].as_i64().unwrap_or_default(),
            node_id: detail["node_id"].as_i64(),
            at,
        });
    }
    let items = page.items.into_iter().map(|t| EscalatedTicket {
        rises: rises.remove(&t.id).unwrap_or_default(),
        node_id: node_at_level(&t.org_path, t.level),
        overdue: t.is_overdue(now),
        ticket_id: t.id,
        number: t.number,
        title: t.title,
        status: t.status,
        level: t.level,
    });
    Ok(Window {
        items: items.collect(),
        next: page.next,
        previous: page.previous,
    })
}

/// How many of the actor's tickets are escalated, counted up to `cap`: `(n, false)`, or
/// `(cap, true)` for "more than `cap`".
pub fn count_capped(
    conn: &mut DbConnection,
    actor: &crate::scope::Actor,
    cap: i64,
) -> CoreResult<(i64, bool)> {
    crate::tickets::queries::count_up_to(conn, escalated(actor), cap)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_level_maps_to_the_right_ancestor() {
        let path = "/1/2/5/9/";
        assert_eq!(node_at_level(path, 1), Some(OrgUnitId(5)));
        assert_eq!(node_at_level(path, 2), Some(OrgUnitId(2)));
        assert_eq!(node_at_level(path, 3), Some(OrgUnitId(1)));
        assert_eq!(node_at_level(path, 4), None);
    }
}
