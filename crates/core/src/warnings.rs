//! Warnings before deadlines (临期预警): at points of each running window (75% of it by
//! default, `warnings.points`), on the ticket's own clock, the holder is told by mail that
//! the deadline is near — the unit holding the ticket; for a pool ticket the units that may
//! claim it and the supervisors of the node it sits at; for a ticket nobody has sent out,
//! those supervisors. One warning per ticket, deadline and point.
//!
//! The running deadline is the one the due queue holds (`escalation_due.due_at`, kept in
//! step by every change). The scheduler's sweep first plans the warning points of every
//! deadline it has not seen yet — a new ticket, a claim, a wait ended, a rise: the rows
//! whose `warn_for_due` differs from `due_at` — so no write path does anything for
//! warnings; then it warns at `warn_at` and moves it to the next point. A warning point
//! already passed when a deadline is first planned (a deadline moved late) warns at the
//! next sweep, once, naming the furthest point passed. A deadline that passed before its
//! warning went out gets none: escalation takes over.
//!
//! Like escalation, a sweep is one transaction holding the sweep's advisory lock on
//! PostgreSQL (the write transaction on SQLite): two schedulers never warn twice, and
//! `scheduler sweep --as-of` replays it.

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDateTime;
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use serde::Serialize;

use crate::calendar::WorkingCalendar;
use crate::categories::{self, Category};
use crate::db::{truncate_to_micros, write_tx, DbConnection};
use crate::error::{CoreError, CoreResult};
use crate::escalation::{node_at_level, supervisors_of, SweepContext, SWEEP_LOCK_KEY};
use crate::ids::{CategoryId, OrgUnitId, PartnerId, TicketId};
use crate::schema::{
    escalation_due, org_units, partner_categories, partner_communities, partners, ticket_events,
    tickets,
};
use crate::tickets::{Ticket, TicketRow};
use crate::types::{EventKind, TicketStatus};
use crate::{mail, outbox};

/// Deadlines planned, and warnings sent, in one sweep at most; the rest wait for the next.
const BATCH: i64 = 20_000;

/// One warning sent.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Warned {
    pub ticket_id: TicketId,
    pub number: String,
    /// `response` or `resolution`.
    pub deadline: &'static str,
    #[serde(serialize_with = "crate::time::utc")]
    pub due_at: NaiveDateTime,
    /// The point reached, in percent of the window.
    pub point: u8,
    pub recipients: Vec<String>,
}

/// What one warning sweep did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WarningReport {
    /// Deadlines whose warning points were planned.
    pub planned: usize,
    pub warned: Vec<Warned>,
    /// Mails written to the outbox.
    pub mails: usize,
}

/// The window a running deadline closes, its length and its clock: the response window
/// until a unit responds (and a level's window above the community, which is the
/// response window's length), then the resolution window.
fn window(t: &TicketRow, due: NaiveDateTime, category: &Category) -> (mail::Missed, i32) {
    let rule = category.sla.get(t.priority);
    match t.responded_at {
        None => (mail::Missed::Response, rule.respond_minutes),
        Some(_) if t.resolve_by == Some(due) => (mail::Missed::Resolution, rule.resolve_minutes),
        Some(_) => (mail::Missed::Resolution, rule.respond_minutes),
    }
}

/// Each point with its instant before `due`, earliest first.
fn instants(
    t: &TicketRow,
    due: NaiveDateTime,
    category: &Category,
    calendar: &WorkingCalendar,
    points: &[u8],
) -> Vec<(u8, NaiveDateTime)> {
    let (_, minutes) = window(t, due, category);
    let clock = category.sla.get(t.priority).clock;
    points
        .iter()
        .map(|p| {
            let left = i64::from(minutes) * i64::from(100 - p) / 100;
            (*p, calendar.before(clock, due, left as i32))
        })
        .collect()
}

fn category(categories: &BTreeMap<CategoryId, Category>, id: CategoryId) -> CoreResult<&Category> {
    categories
        .get(&id)
        .ok_or_else(|| CoreError::internal(format!("no category {id}")))
}

/// One warning sweep as of `as_of` with the configured `points` (sorted, 1–99).
pub fn sweep(
    conn: &mut DbConnection,
    as_of: NaiveDateTime,
    ctx: &SweepContext<'_>,
    points: &[u8],
) -> CoreResult<WarningReport> {
    let as_of = truncate_to_micros(as_of);
    write_tx(conn, |conn| {
        if let DbConnection::Postgres(pg) = conn {
            pg.batch_execute(&format!("SELECT pg_advisory_xact_lock({SWEEP_LOCK_KEY})"))?;
        }
        let planned = plan(conn, ctx.calendar, points)?;
        let mut report = warn(conn, as_of, ctx, points)?;
        report.planned = planned;
        Ok(report)
    })
}

/// Plans the points of every running deadline not seen yet.
fn plan(conn: &mut DbConnection, calendar: &WorkingCalendar, points: &[u8]) -> CoreResult<usize> {
    let unplanned: Vec<(NaiveDateTime, TicketRow)> = escalation_due::table
        .inner_join(tickets::table)
        .filter(
            escalation_due::warn_for_due
                .is_null()
                .or(escalation_due::warn_for_due.ne(escalation_due::due_at.nullable())),
        )
        .order(escalation_due::ticket_id)
        .limit(BATCH)
        .select((escalation_due::due_at, TicketRow::as_select()))
        .load(conn)?;
    let categories = categories::get_each(conn, unplanned.iter().map(|(_, t)| t.category_id))?;
    for (due, t) in &unplanned {
        let first = instants(
            t,
            *due,
            category(&categories, t.category_id)?,
            calendar,
            points,
        )
        .into_iter()
        .next();
        // Only if the deadline is still the one read: a change that moved it meanwhile
        // leaves it unplanned for the next sweep.
        diesel::update(
            escalation_due::table.filter(
                escalation_due::ticket_id
                    .eq(t.id)
                    .and(escalation_due::due_at.eq(due)),
            ),
        )
        .set((
            escalation_due::warn_for_due.eq(Some(*due)),
            escalation_due::warn_from.eq(first.map(|(_, at)| at)),
            escalation_due::warn_at.eq(first.map(|(_, at)| at)),
            escalation_due::warn_point.eq(first.map(|(p, _)| i32::from(p))),
        ))
        .execute(conn)?;
    }
    Ok(unplanned.len())
}

/// Who a warning goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Audience {
    Unit(PartnerId),
    Node(OrgUnitId),
}

/// The active units that may claim a pool ticket: they serve its community and handle its
/// category.
fn claimants(conn: &mut DbConnection, t: &TicketRow) -> CoreResult<Vec<PartnerId>> {
    Ok(partners::table
        .inner_join(partner_communities::table)
        .inner_join(partner_categories::table)
        .filter(
            partners::active
                .eq(true)
                .and(partner_communities::org_unit_id.eq(t.community_id))
                .and(partner_categories::category_id.eq(t.category_id)),
        )
        .select(partners::id)
        .distinct()
        .load(conn)?)
}

/// An audience's name and mail addresses, read once per sweep.
fn addressed(
    conn: &mut DbConnection,
    known: &mut BTreeMap<Audience, (String, Vec<String>)>,
    audience: Audience,
) -> CoreResult<(String, Vec<String>)> {
    if let Some(found) = known.get(&audience) {
        return Ok(found.clone());
    }
    let found = match audience {
        Audience::Unit(partner) => crate::partners::recipients(conn, partner)?,
        Audience::Node(node) => {
            let name: String = org_units::table
                .find(node)
                .select(org_units::name)
                .first(conn)?;
            (name, supervisors_of(conn, node)?)
        }
    };
    known.insert(audience, found.clone());
    Ok(found)
}

/// Sends the warnings due at `as_of`, one digest per audience, and moves each ticket on to
/// its next point.
fn warn(
    conn: &mut DbConnection,
    as_of: NaiveDateTime,
    ctx: &SweepContext<'_>,
    points: &[u8],
) -> CoreResult<WarningReport> {
    // A deadline already passed is escalation's: its warning is dropped unsent.
    diesel::update(
        escalation_due::table.filter(
            escalation_due::warn_at
                .le(as_of)
                .and(escalation_due::due_at.le(as_of)),
        ),
    )
    .set((
        escalation_due::warn_at.eq(None::<NaiveDateTime>),
        escalation_due::warn_point.eq(None::<i32>),
    ))
    .execute(conn)?;
    let due: Vec<(NaiveDateTime, TicketRow)> = escalation_due::table
        .inner_join(tickets::table)
        .filter(
            escalation_due::warn_at
                .le(as_of)
                .and(escalation_due::warn_for_due.eq(escalation_due::due_at.nullable())),
        )
        .order((escalation_due::warn_at, escalation_due::ticket_id))
        .limit(BATCH)
        .select((escalation_due::due_at, TicketRow::as_select()))
        .load(conn)?;
    let categories = categories::get_each(conn, due.iter().map(|(_, t)| t.category_id))?;
    let places: Vec<OrgUnitId> = due
        .iter()
        .map(|(_, t)| t.community_id)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let community_names = crate::escalation::names_of(conn, &places)?;
    let mut digests: BTreeMap<Audience, Vec<mail::WarningLine>> = BTreeMap::new();
    let mut addresses: BTreeMap<Audience, (String, Vec<String>)> = BTreeMap::new();
    let mut warned: Vec<(Warned, Vec<Audience>)> = Vec::new();
    let mut events = Vec::new();
    for (due_at, t) in &due {
        let category = category(&categories, t.category_id)?;
        let planned = instants(t, *due_at, category, ctx.calendar, points);
        let reached = planned.iter().rev().find(|(_, at)| *at <= as_of).copied();
        let next = planned.iter().find(|(_, at)| *at > as_of).copied();
        diesel::update(escalation_due::table.find(t.id))
            .set((
                escalation_due::warn_at.eq(next.map(|(_, at)| at)),
                escalation_due::warn_point.eq(next.map(|(p, _)| i32::from(p))),
            ))
            .execute(conn)?;
        // None reached: the points were changed since it was planned; it waits for the next.
        let Some((point, _)) = reached else {
            continue;
        };
        let node = node_at_level(&t.org_path, t.level).ok_or_else(|| {
            CoreError::internal(format!("ticket {} has no level-{} node", t.number, t.level))
        })?;
        let (holder, audiences) = match t.partner_id {
            Some(unit) => {
                let (name, _) = addressed(conn, &mut addresses, Audience::Unit(unit))?;
                (mail::Holder::Unit(name), vec![Audience::Unit(unit)])
            }
            None if t.in_pool => {
                let mut audiences: Vec<Audience> = claimants(conn, t)?
                    .into_iter()
                    .map(Audience::Unit)
                    .collect();
                audiences.push(Audience::Node(node));
                (mail::Holder::Pool, audiences)
            }
            None => (mail::Holder::Undispatched, vec![Audience::Node(node)]),
        };
        let (deadline, _) = window(t, *due_at, category);
        let line = mail::WarningLine {
            ticket: mail::MailTicket {
                id: t.id,
                number: t.number.clone(),
                title: t.title.clone(),
                community: community_names
                    .get(&t.community_id)
                    .cloned()
                    .unwrap_or_default(),
                category: (category.name_zh.clone(), category.name_en.clone()),
                priority: t.priority,
                holder,
            },
            deadline,
            due: *due_at,
            left_minutes: (*due_at - as_of).num_minutes(),
            point,
        };
        for audience in &audiences {
            digests.entry(*audience).or_default().push(line.clone());
        }
        let deadline = match deadline {
            mail::Missed::Response => "response",
            mail::Missed::Resolution => "resolution",
        };
        events.push((
            ticket_events::ticket_id.eq(t.id),
            ticket_events::kind.eq(EventKind::Warned),
            ticket_events::from_status.eq(t.status),
            ticket_events::to_status.eq(t.status),
            ticket_events::partner_id.eq(t.partner_id),
            ticket_events::detail.eq(serde_json::json!({
                "deadline": deadline, "due_at": due_at.and_utc(), "point": point,
            })
            .to_string()),
            ticket_events::created_at.eq(as_of),
        ));
        warned.push((
            Warned {
                ticket_id: t.id,
                number: t.number.clone(),
                deadline,
                due_at: *due_at,
                point,
                recipients: Vec::new(),
            },
            audiences,
        ));
    }
    // Multi-row inserts go to each backend directly (the multi-backend connection has none).
    for chunk in events.chunks(1_000) {
        let insert = diesel::insert_into(ticket_events::table).values(chunk);
        match conn {
            DbConnection::Postgres(pg) => insert.execute(pg)?,
            DbConnection::Sqlite(lite) => insert.execute(lite)?,
        };
    }
    let mut report = WarningReport::default();
    for (audience, lines) in &digests {
        let (name, recipients) = addressed(conn, &mut addresses, *audience)?;
        let mail = mail::deadline_warning(&name, lines, &ctx.letterhead())?;
        for recipient in &recipients {
            outbox::enqueue(conn, recipient, &mail, as_of)?;
            report.mails += 1;
        }
    }
    for (mut w, audiences) in warned {
        let mut to: BTreeSet<String> = BTreeSet::new();
        for a in audiences {
            to.extend(
                addresses
                    .get(&a)
                    .into_iter()
                    .flat_map(|(_, r)| r.iter().cloned()),
            );
        }
        w.recipients = to.into_iter().collect();
        report.warned.push(w);
    }
    Ok(report)
}

/// A ticket's row in the due queue as a reader needs it: the running deadline, the
/// deadline its warnings were planned for, and the first point's instant.
pub type Planned = (NaiveDateTime, Option<NaiveDateTime>, Option<NaiveDateTime>);

/// 即将超时 at `now`, from the ticket's row in the due queue (`mark`'s test, for one).
pub fn is_near(planned: Option<Planned>, overdue: bool, now: NaiveDateTime) -> bool {
    planned.is_some_and(|(due, planned_for, from)| {
        !overdue && planned_for == Some(due) && from.is_some_and(|f| f <= now) && due > now
    })
}

/// The ids of the tickets near their running deadline at `now` (past its first warning
/// point as planned, the deadline not passed): a subquery for lists, `tickets.id IN (…)`.
/// A macro, as the multi-backend connection takes only plain (unboxed) subqueries.
macro_rules! near_ids {
    ($now:expr) => {
        $crate::schema::escalation_due::table
            .filter(
                $crate::schema::escalation_due::warn_for_due
                    .eq($crate::schema::escalation_due::due_at.nullable())
                    .and($crate::schema::escalation_due::warn_from.le($now))
                    .and($crate::schema::escalation_due::due_at.gt($now)),
            )
            .select($crate::schema::escalation_due::ticket_id)
    };
}
pub(crate) use near_ids;

/// Sets `warning` (即将超时) on tickets read at `now`: past the first point of their
/// running deadline as last planned, and not yet late. One query for the lot.
pub fn mark(conn: &mut DbConnection, tickets: &mut [Ticket], now: NaiveDateTime) -> CoreResult<()> {
    let ids: Vec<TicketId> = tickets
        .iter()
        .filter(|t| !t.overdue && !t.status.is_final() && t.status != TicketStatus::Resolved)
        .map(|t| t.id)
        .collect();
    if ids.is_empty() {
        return Ok(());
    }
    let near: BTreeSet<TicketId> = near_ids!(now)
        .filter(escalation_due::ticket_id.eq_any(&ids))
        .load::<TicketId>(conn)?
        .into_iter()
        .collect();
    for t in tickets {
        t.warning = near.contains(&t.id) && !t.overdue;
    }
    Ok(())
}
