//! Reading tickets: one with its timeline and photos, filtered lists with cursor paging
//! (newest first, stable while new tickets arrive; the late ones most late first), and a
//! unit's pool.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;

use super::attachments::{self, Attachment};
use super::lifecycle::load_visible;
use super::{visible_from_row, visible_tickets, Event, Ticket, TicketRow};
use crate::db::DbConnection;
use crate::error::{CoreError, CoreResult};
use crate::ids::{OrgUnitId, PartnerId, TicketId};
use crate::pagination::{Page, PageRequest};
pub use crate::pagination::{Towards, Window};
use crate::reference::Reference;
use crate::schema::{categories, partner_categories, partner_communities, ticket_events, tickets};
use crate::scope::{in_subtree, path_in_subtree, Actor, Scope};
use crate::types::TicketStatus;

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TicketDetail {
    #[serde(flatten)]
    pub ticket: Ticket,
    pub events: Vec<Event>,
    pub attachments: Vec<Attachment>,
    /// Present while the ticket waits on the resident (its SLA clock stands still).
    pub waiting_on_resident: Option<Waiting>,
    /// The need (需求清单) it was gathered into.
    pub need_id: Option<crate::ids::NeedId>,
    /// How it came in (12345 hotline transfer with the hotline's number, grid patrol,
    /// walk-in, app, the residents' web form, other).
    pub intake: super::logging::Intake,
    /// The Open311 channel it came in by, if any.
    pub channel: Option<String>,
    /// What the Open311 request brought: answers, photo link, the reporter (for those who
    /// may reach the resident).
    pub open311: Option<super::intake::RequestData>,
    /// What the caller may do to it now (the lifecycle's table): `claim`, `resolve`, …
    pub actions: Vec<super::lifecycle::ActionKind>,
}

impl TicketDetail {
    /// Whether the page shows a resident's name or phone, or an Open311 reporter's
    /// contact: what an erasure would remove, and what a read of it records.
    pub fn shows_contact(&self) -> bool {
        let resident = self
            .ticket
            .resident
            .as_ref()
            .is_some_and(|r| r.name.is_some() || r.phone.is_some());
        let reporter = self
            .open311
            .as_ref()
            .and_then(|r| r.reporter.as_ref())
            .is_some_and(|who| {
                [
                    &who.first_name,
                    &who.last_name,
                    &who.email,
                    &who.device_id,
                    &who.account_id,
                ]
                .iter()
                .any(|field| field.is_some())
            });
        resident || reporter
    }
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Waiting {
    #[serde(serialize_with = "crate::time::utc")]
    pub since: NaiveDateTime,
    pub reason: String,
}

/// How each of `ids` came in (one query, for a page of a list or an export).
pub fn intakes(
    conn: &mut DbConnection,
    ids: &[TicketId],
) -> CoreResult<std::collections::HashMap<TicketId, super::logging::Intake>> {
    use crate::schema::ticket_intake;
    let rows: Vec<(TicketId, super::logging::Intake)> = ticket_intake::table
        .filter(ticket_intake::ticket_id.eq_any(ids.to_vec()))
        .select((
            ticket_intake::ticket_id,
            (
                ticket_intake::channel,
                ticket_intake::hotline,
                ticket_intake::hotline_ref,
            ),
        ))
        .load(conn)?;
    Ok(rows.into_iter().collect())
}

/// The ticket's own page, read by `actor` through `route` (recorded with the read when
/// it shows the resident's contact whole: `privacy::record_contact_read`).
pub fn get(
    conn: &mut DbConnection,
    actor: &Actor,
    id: TicketId,
    route: &'static str,
    now: NaiveDateTime,
) -> CoreResult<TicketDetail> {
    use crate::schema::{
        escalation_due, need_tickets, open311_keys, open311_requests, ticket_intake, ticket_pauses,
    };
    // The ticket with what hangs on it one-to-one (a pause, its need, the Open311 request it
    // came by, its running deadline's warning) in one query; its events and photos in one
    // each.
    let query = tickets::table
        .left_join(ticket_pauses::table)
        .left_join(need_tickets::table)
        .left_join(open311_requests::table.inner_join(open311_keys::table))
        .left_join(escalation_due::table)
        .left_join(ticket_intake::table)
        .filter(tickets::id.eq(id))
        .select((
            TicketRow::as_select(),
            (ticket_pauses::paused_at, ticket_pauses::reason).nullable(),
            need_tickets::need_id.nullable(),
            super::intake::RequestColumns::default().nullable(),
            (
                escalation_due::due_at,
                escalation_due::warn_for_due,
                escalation_due::warn_from,
            )
                .nullable(),
            (
                ticket_intake::channel,
                ticket_intake::hotline,
                ticket_intake::hotline_ref,
            )
                .nullable(),
        ));
    type Row = (
        TicketRow,
        Option<(NaiveDateTime, String)>,
        Option<crate::ids::NeedId>,
        Option<super::intake::RequestRow>,
        Option<crate::warnings::Planned>,
        Option<super::logging::Intake>,
    );
    let (row, paused, need_id, request, planned, intake): Row = query
        .first(conn)
        .optional()?
        .ok_or(CoreError::NotFound("ticket"))?;
    // Outside the caller's scope a ticket is not found, as everywhere.
    let visible = match visible_from_row(&actor.scope, &row) {
        Some(visible) => visible,
        None => match load_visible(conn, actor, id) {
            Ok(_) => true,
            Err(CoreError::NotFound(_)) => false,
            Err(e) => return Err(e),
        },
    };
    if !visible {
        return Err(CoreError::NotFound("ticket"));
    }
    let events = ticket_events::table
        .filter(ticket_events::ticket_id.eq(id))
        .order(ticket_events::id)
        .select(Event::as_select())
        .load(conn)?;
    let attachments = attachments::list(conn, id)?;
    let waiting_on_resident = paused.map(|(since, reason)| Waiting { since, reason });
    let actions = super::lifecycle::permitted(actor, &row, waiting_on_resident.is_some());
    let whole = row.shows_resident_to(actor);
    let open311 = request.map(|request| super::intake::RequestData::from_row(request, whole));
    let detail = TicketDetail {
        actions,
        ticket: {
            let mut ticket = row.view_whole(actor, now);
            ticket.warning = crate::warnings::is_near(planned, ticket.overdue, now);
            ticket
        },
        events,
        attachments,
        waiting_on_resident,
        need_id,
        // Every ticket has its row (migration 21 wrote the earlier tickets').
        intake: intake.unwrap_or(super::logging::Intake {
            channel: crate::types::IntakeChannel::Other,
            hotline: None,
            hotline_ref: None,
        }),
        channel: open311.as_ref().map(|r| r.channel.clone()),
        open311,
    };
    if whole && detail.shows_contact() {
        crate::privacy::record_contact_read(conn, actor, id, route, now)?;
    }
    Ok(detail)
}

#[derive(Debug, Clone, Default)]
pub struct TicketFilter {
    pub statuses: Vec<TicketStatus>,
    pub category: Option<String>,
    /// An org unit whose subtree the tickets are in.
    pub org_unit_id: Option<OrgUnitId>,
    pub partner_id: Option<PartnerId>,
    /// Past a stored deadline (`true`) or not (`false`) at the instant of the read.
    pub overdue: Option<bool>,
    /// 即将超时 (`true`: past the first warning point of the running deadline, not yet
    /// late) or not (`false`), as `Ticket::warning` reads.
    pub warning: Option<bool>,
    pub level: Option<i32>,
    /// Escalated at least once and still above the community (`true`), or not (`false`).
    pub escalated: Option<bool>,
    /// Open, with its running deadline (the one `overdue` reads) before this instant: with
    /// `overdue: Some(false)` and the next midnight, what falls due today.
    pub due_before: Option<NaiveDateTime>,
    pub created_from: Option<NaiveDateTime>,
    pub created_to: Option<NaiveDateTime>,
    /// Text in the title.
    pub q: Option<String>,
    /// The ticket's number, exactly.
    pub number: Option<String>,
    /// The resident's phone: its last four digits or the whole number (11 digits). Only
    /// for those shown residents' phones (grid members, supervisors, administrators): for a
    /// unit's staff it matches nothing.
    pub phone: Option<String>,
    /// Text in the address.
    pub address: Option<String>,
    /// How the tickets came in.
    pub channel: Option<crate::types::IntakeChannel>,
    /// A hotline transfer's number at the hotline, exactly.
    pub hotline_ref: Option<String>,
    /// The tickets being worked, the earliest running deadline first: the late ones most
    /// late first, then those falling due soonest (`tickets_late_idx`, as `overdue`).
    pub by_deadline: bool,
}

pub(crate) type Expr = Box<
    dyn BoxableExpression<tickets::table, crate::db::DbBackend, SqlType = diesel::sql_types::Bool>,
>;

/// The instant a ticket fell (or falls) late: its response deadline while it is unclaimed
/// and that deadline comes first, else its resolution deadline. An open ticket is overdue
/// when this has passed. `tickets_late_idx` indexes the very same expression over the open
/// tickets, so a scope's late tickets are one index range, the latest-due first or the
/// most late first: change the two together.
pub const LATE_SINCE: &str = "CASE WHEN responded_at IS NULL AND respond_by IS NOT NULL \
     AND (resolve_by IS NULL OR respond_by < resolve_by) THEN respond_by ELSE resolve_by END";

fn late_since(
) -> diesel::expression::SqlLiteral<diesel::sql_types::Nullable<diesel::sql_types::Timestamp>> {
    diesel::dsl::sql(LATE_SINCE)
}

const DONE: [TicketStatus; 4] = [
    TicketStatus::Resolved,
    TicketStatus::Closed,
    TicketStatus::Cancelled,
    TicketStatus::Merged,
];

/// Open, with its running deadline before `at`.
fn due_before_expr(at: NaiveDateTime) -> Expr {
    Box::new(
        tickets::status
            .ne_all(DONE)
            .and(late_since().lt(at))
            .assume_not_null(),
    )
}

/// Being worked: not resolved (awaiting the return visit), closed, cancelled or merged;
/// the predicate of the open tickets' partial indexes (`tickets_open_idx` and others).
pub(crate) fn worked_expr() -> Expr {
    Box::new(tickets::status.ne_all(DONE))
}

/// Past a deadline: not responded by `respond_by`, or not resolved by `resolve_by`.
pub(crate) fn overdue_expr(now: NaiveDateTime) -> Expr {
    due_before_expr(now)
}

/// Done, or with no deadline passed (the complement of `overdue_expr`, NULLs included).
fn not_overdue_expr(now: NaiveDateTime) -> Expr {
    Box::new(
        tickets::status
            .eq_any(DONE)
            .or(late_since().is_null())
            .or(late_since().ge(now))
            .assume_not_null(),
    )
}

pub(crate) type Filtered = tickets::BoxedQuery<'static, crate::db::DbBackend>;

/// The actor's tickets that pass `filter`, as a query to order and page.
pub(crate) fn filtered(
    conn: &mut DbConnection,
    reference: &Reference,
    actor: &Actor,
    filter: &TicketFilter,
    now: NaiveDateTime,
) -> CoreResult<Filtered> {
    let mut query = tickets::table.into_boxed();
    if let Some(scope) = visible_tickets(&actor.scope) {
        query = query.filter(scope);
    }
    match filter.statuses.as_slice() {
        [] => {}
        // One status as `=`: PostgreSQL reads `= ANY` of one value from the status index
        // unordered, and would sort a city's worth of it (or walk the primary key).
        [one] => query = query.filter(tickets::status.eq(*one)),
        many => query = query.filter(tickets::status.eq_any(many.to_vec())),
    }
    if let Some(code) = &filter.category {
        let id: crate::ids::CategoryId = categories::table
            .filter(categories::code.eq(code.trim()))
            .select(categories::id)
            .first(conn)
            .optional()?
            .ok_or_else(|| {
                CoreError::invalid(
                    "category",
                    "unknown",
                    format!("no category with the code {code:?}"),
                )
            })?;
        query = query.filter(tickets::category_id.eq(id));
    }
    if let Some(node) = filter.org_unit_id {
        // Outside one's scope an org unit is not found, as everywhere (404); a unit's staff
        // narrow the tickets they hold by any node. The tree as this process keeps it.
        let unit = reference
            .unit(conn, node)?
            .filter(|unit| match &actor.scope {
                Scope::Subtree { path, .. } => path_in_subtree(&unit.path, path),
                Scope::Everything | Scope::Partner { .. } => true,
            })
            .ok_or(CoreError::NotFound("org unit"))?;
        query = query.filter(in_subtree(tickets::org_path, &unit.path));
    }
    if let Some(partner) = filter.partner_id {
        query = query.filter(tickets::partner_id.eq(partner));
    }
    match filter.overdue {
        Some(true) => query = query.filter(overdue_expr(now)),
        Some(false) => query = query.filter(not_overdue_expr(now)),
        None => {}
    }
    match filter.warning {
        Some(true) => {
            query = query
                .filter(tickets::id.eq_any(crate::warnings::near_ids!(now)))
                .filter(not_overdue_expr(now))
        }
        Some(false) => {
            query = query.filter(diesel::dsl::not(
                tickets::id.eq_any(crate::warnings::near_ids!(now)),
            ))
        }
        None => {}
    }
    if let Some(level) = filter.level {
        query = query.filter(tickets::level.eq(level));
    }
    match filter.escalated {
        Some(true) => query = query.filter(tickets::level.gt(0)),
        Some(false) => query = query.filter(tickets::level.eq(0)),
        None => {}
    }
    if let Some(before) = filter.due_before {
        query = query.filter(due_before_expr(before));
    }
    if let Some(from) = filter.created_from {
        query = query.filter(tickets::created_at.ge(from));
    }
    if let Some(to) = filter.created_to {
        query = query.filter(tickets::created_at.lt(to));
    }
    if let Some(pattern) = crate::validate::contains_pattern(filter.q.as_deref()) {
        let q = filter.q.as_deref().unwrap_or_default().trim();
        if let Some(pieces) = text_pieces(conn, "title", q) {
            query = query.filter(pieces);
        }
        query = query.filter(tickets::title.like(pattern).escape('\\'));
    }
    if let Some(pattern) = crate::validate::contains_pattern(filter.address.as_deref()) {
        let q = filter.address.as_deref().unwrap_or_default().trim();
        if let Some(pieces) = text_pieces(conn, "address", q) {
            query = query.filter(pieces);
        }
        query = query.filter(tickets::address.like(pattern).escape('\\'));
    }
    if let Some(number) = filter.number.as_deref().map(str::trim) {
        query = query.filter(tickets::number.eq(number.to_owned()));
    }
    if let Some(phone) = &filter.phone {
        query = query.filter(phone_expr(conn, actor, phone)?);
    }
    if let Some(channel) = filter.channel {
        query = query.filter(tickets::id.eq_any(super::intake::came_in_by(channel)));
    }
    if let Some(reference) = filter.hotline_ref.as_deref().map(str::trim) {
        use crate::schema::ticket_intake;
        query = query.filter(
            tickets::id.eq_any(
                ticket_intake::table
                    .filter(ticket_intake::hotline_ref.eq(reference.to_owned()))
                    .select(ticket_intake::ticket_id),
            ),
        );
    }
    if filter.by_deadline {
        query = query
            .filter(worked_expr())
            .filter(late_since().is_not_null());
    }
    Ok(query)
}

/// On PostgreSQL, only the rows whose `column` holds every two characters of `q` (the
/// pieces' indexes of migrations 16 and 20), for `q` of two characters or more; `LIKE`
/// then keeps those that hold `q` itself.
fn text_pieces(conn: &DbConnection, column: &'static str, q: &str) -> Option<Expr> {
    (conn.backend() == crate::db::Backend::Postgres && q.chars().nth(1).is_some()).then(|| {
        Box::new(
            diesel::dsl::sql::<diesel::sql_types::Bool>(&format!(
                "ticket_title_grams(tickets.{column}) @> ticket_title_grams("
            ))
            .bind::<diesel::sql_types::Text, _>(q.to_owned())
            .sql(")"),
        ) as Expr
    })
}

/// The tickets whose resident's phone ends in `phone`'s last four digits (and is `phone`,
/// when it is a whole number): read from `tickets_phone_tail_idx`, whose expression this
/// repeats per store. A unit's staff are shown no resident's phone in lists, so for them
/// it matches nothing.
fn phone_expr(conn: &DbConnection, actor: &Actor, phone: &str) -> CoreResult<Expr> {
    let phone = phone.trim();
    if !(phone.len() == 4 || phone.len() == 11) || !phone.bytes().all(|b| b.is_ascii_digit()) {
        return Err(CoreError::invalid(
            "phone",
            "invalid",
            "the last four digits of the phone, or the whole 11-digit number",
        ));
    }
    if matches!(actor.scope, Scope::Partner { .. }) {
        return Ok(Box::new(diesel::dsl::sql::<diesel::sql_types::Bool>(
            "1 = 0",
        )));
    }
    let tail = match conn.backend() {
        crate::db::Backend::Postgres => "right(tickets.resident_phone, 4) = ",
        crate::db::Backend::Sqlite => "substr(tickets.resident_phone, -4) = ",
    };
    let tail: Expr = Box::new(
        diesel::dsl::sql::<diesel::sql_types::Bool>(tail)
            .bind::<diesel::sql_types::Text, _>(phone[phone.len() - 4..].to_owned())
            .sql(" AND tickets.resident_phone IS NOT NULL"),
    );
    Ok(if phone.len() == 11 {
        Box::new(
            tail.and(tickets::resident_phone.eq(phone.to_owned()))
                .assume_not_null(),
        )
    } else {
        tail
    })
}

/// A page of the actor's tickets, newest first (with `overdue`, the most late first).
pub fn list(
    conn: &mut DbConnection,
    reference: &Reference,
    actor: &Actor,
    filter: &TicketFilter,
    page: PageRequest,
    now: NaiveDateTime,
) -> CoreResult<Page<Ticket>> {
    let window = browse(
        conn,
        reference,
        actor,
        filter,
        Towards::Next(page.after),
        page.limit,
        now,
    )?;
    Ok(window.into_page())
}

/// A page of the actor's tickets either way from a cursor, in the list's order: newest
/// first, or with `overdue` (or `by_deadline`) the earliest running deadline first
/// (`tickets_late_idx`: one index range however many open tickets are not late yet, where
/// newest first would walk past them all). A cursor is a ticket's id; in deadline order
/// its deadline places the page.
pub fn browse(
    conn: &mut DbConnection,
    reference: &Reference,
    actor: &Actor,
    filter: &TicketFilter,
    towards: Towards,
    limit: i64,
    now: NaiveDateTime,
) -> CoreResult<Window<Ticket>> {
    let mut query = filtered(conn, reference, actor, filter, now)?;
    let (cursor, backward) = towards.start();
    if filter.overdue == Some(true) || filter.by_deadline {
        if let Some(at) = cursor {
            let since: Option<NaiveDateTime> = tickets::table
                .find(TicketId(at))
                .select(late_since())
                .first(conn)
                .optional()?
                .flatten();
            let since = since.ok_or_else(|| {
                CoreError::invalid("cursor", "invalid", "not a cursor returned by this API")
            })?;
            let at = TicketId(at);
            let beyond: Expr = if backward {
                Box::new(
                    late_since()
                        .lt(since)
                        .or(late_since().eq(since).and(tickets::id.lt(at)))
                        .assume_not_null(),
                )
            } else {
                Box::new(
                    late_since()
                        .gt(since)
                        .or(late_since().eq(since).and(tickets::id.gt(at)))
                        .assume_not_null(),
                )
            };
            query = query.filter(beyond);
        }
        query = if backward {
            query.order((late_since().desc(), tickets::id.desc()))
        } else {
            query.order((late_since().asc(), tickets::id.asc()))
        };
    } else {
        if let Some(at) = cursor.map(TicketId) {
            query = if backward {
                query.filter(tickets::id.gt(at))
            } else {
                query.filter(tickets::id.lt(at))
            };
        }
        query = if backward {
            query.order(tickets::id.asc())
        } else {
            query.order(tickets::id.desc())
        };
    }
    let rows: Vec<TicketRow> = query
        .select(TicketRow::as_select())
        .limit(limit + 1)
        .load(conn)?;
    let window = Window::from_rows(rows, towards, limit, |r| r.id.0);
    let mut items: Vec<Ticket> = window
        .items
        .into_iter()
        .map(|r| r.view(actor, now))
        .collect();
    crate::warnings::mark(conn, &mut items, now)?;
    Ok(Window {
        items,
        next: window.next,
        previous: window.previous,
    })
}

/// How many tickets `query` holds, counted up to `cap`: `(n, false)`, or `(cap, true)` for
/// "more than `cap`". Reads at most `cap + 1` index entries, so a total costs the same in
/// a community and in the city.
pub(crate) fn count_up_to(
    conn: &mut DbConnection,
    query: Filtered,
    cap: i64,
) -> CoreResult<(i64, bool)> {
    let ids: Vec<TicketId> = query.select(tickets::id).limit(cap + 1).load(conn)?;
    let n = ids.len() as i64;
    Ok((n.min(cap), n > cap))
}

/// How many of the actor's tickets pass `filter`, counted up to `cap` (`count_up_to`): a
/// page's total.
pub fn count_capped(
    conn: &mut DbConnection,
    reference: &Reference,
    actor: &Actor,
    filter: &TicketFilter,
    cap: i64,
    now: NaiveDateTime,
) -> CoreResult<(i64, bool)> {
    let query = filtered(conn, reference, actor, filter, now)?;
    count_up_to(conn, query, cap)
}

/// How many of the actor's tickets pass `filter`, all counted: for ranges whose size is
/// bounded by the filter itself (a day's intake), where `count_capped` would cut a city's.
pub fn count(
    conn: &mut DbConnection,
    reference: &Reference,
    actor: &Actor,
    filter: &TicketFilter,
    now: NaiveDateTime,
) -> CoreResult<i64> {
    Ok(filtered(conn, reference, actor, filter, now)?
        .count()
        .get_result(conn)?)
}

/// When an overdue ticket fell late, as `LATE_SINCE` says in SQL.
pub fn late_since_of(
    responded_at: Option<NaiveDateTime>,
    respond_by: Option<NaiveDateTime>,
    resolve_by: Option<NaiveDateTime>,
) -> Option<NaiveDateTime> {
    match (responded_at, respond_by, resolve_by) {
        (None, Some(respond), None) => Some(respond),
        (None, Some(respond), Some(resolve)) if respond < resolve => Some(respond),
        _ => resolve_by,
    }
}

/// The open pool tickets the actor's unit may claim: dispatched to the pool of a community
/// it serves, in a category it handles.
fn claimable(actor: &Actor) -> CoreResult<Filtered> {
    let Scope::Partner { partner } = actor.scope else {
        return Err(CoreError::Forbidden("the pool is for partner-unit staff"));
    };
    Ok(tickets::table
        .filter(tickets::in_pool.eq(true))
        .filter(tickets::status.eq(TicketStatus::Dispatched))
        .filter(tickets::partner_id.is_null())
        .filter(
            tickets::community_id.eq_any(
                partner_communities::table
                    .filter(partner_communities::partner_id.eq(partner))
                    .select(partner_communities::org_unit_id),
            ),
        )
        .filter(
            tickets::category_id.eq_any(
                partner_categories::table
                    .filter(partner_categories::partner_id.eq(partner))
                    .select(partner_categories::category_id),
            ),
        )
        .into_boxed())
}

/// The open pool tickets a unit may claim (`claimable`), oldest first.
pub fn pool(
    conn: &mut DbConnection,
    actor: &Actor,
    page: PageRequest,
    now: NaiveDateTime,
) -> CoreResult<Page<Ticket>> {
    let mut query = claimable(actor)?;
    if let Some(after) = page.after {
        query = query.filter(tickets::id.gt(TicketId(after)));
    }
    let rows = query
        .select(TicketRow::as_select())
        .order(tickets::id)
        .limit(page.fetch())
        .load(conn)?;
    let mut page = Page::from_rows(rows, page, |r| r.id.0).map(|r| r.view(actor, now));
    crate::warnings::mark(conn, &mut page.items, now)?;
    Ok(page)
}

/// How many pool tickets the actor's unit may claim, counted up to `cap` (as
/// `count_capped`).
pub fn pool_count_capped(
    conn: &mut DbConnection,
    actor: &Actor,
    cap: i64,
) -> CoreResult<(i64, bool)> {
    count_up_to(conn, claimable(actor)?, cap)
}
