//! The one way a ticket changes: `transition` checks the actor's scope (404 outside it),
//! role (403), and the ticket's state (409 with the current ticket), applies the change
//! only if nobody changed the ticket since it was read (so of two racing claims exactly
//! one wins, on both stores), and appends the event in the same transaction.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Deserialize;

use super::{Context, Ticket, TicketRow};
use crate::db::{truncate_to_micros, write_tx, DbConnection};
use crate::error::{CoreError, CoreResult, FieldError};
use crate::ids::{CategoryId, OrgUnitId, PartnerId, TicketId};
use crate::schema::{
    escalation_due, partner_categories, partner_communities, partners, ticket_events,
    ticket_pauses, tickets,
};
use crate::scope::{Actor, Scope};
use crate::types::{EventKind, Role, Satisfaction, TicketStatus};

/// Where a dispatch sends a ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Partner(PartnerId),
    /// The community's pool: every unit serving the community and category may claim it.
    Pool,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    Dispatch {
        to: Target,
        note: Option<String>,
    },
    Reassign {
        to: Target,
        note: Option<String>,
    },
    Claim,
    Return {
        reason: String,
    },
    Progress {
        note: String,
    },
    Resolve {
        note: String,
    },
    Feedback {
        satisfaction: Satisfaction,
        comment: Option<String>,
    },
    Cancel {
        reason: String,
    },
    Merge {
        into: TicketId,
        note: Option<String>,
    },
    /// Waiting on the resident (waiting_on_resident): the SLA clock stands still.
    Pause {
        reason: String,
    },
    /// The wait is over: deadlines move on by the time waited.
    Resume {
        note: Option<String>,
    },
}

impl Action {
    fn roles(&self) -> (&'static [Role], &'static str) {
        match self {
            Action::Dispatch { .. }
            | Action::Reassign { .. }
            | Action::Cancel { .. }
            | Action::Merge { .. } => (
                &[Role::Supervisor, Role::Admin],
                "only a supervisor dispatches, reassigns, cancels or merges tickets",
            ),
            Action::Claim
            | Action::Return { .. }
            | Action::Progress { .. }
            | Action::Resolve { .. } => (
                &[Role::UnitStaff],
                "only partner-unit staff claim, return, report progress on or resolve tickets",
            ),
            Action::Feedback { .. } => (
                &[Role::GridMember],
                "only a grid member does the return visit",
            ),
            Action::Pause { .. } | Action::Resume { .. } => (
                &[Role::UnitStaff, Role::Supervisor, Role::Admin],
                "only the unit holding the ticket or a supervisor pauses or resumes it",
            ),
        }
    }

    /// The states this action may start from.
    fn allowed_from(&self) -> &'static [TicketStatus] {
        use TicketStatus::*;
        match self {
            Action::Dispatch { .. } => &[Reported, Returned],
            Action::Reassign { .. } => &[Dispatched, Claimed, InProgress, Reopened],
            Action::Claim => &[Dispatched],
            Action::Return { .. } => &[Dispatched, Claimed, InProgress, Reopened],
            Action::Progress { .. } | Action::Resolve { .. } => &[Claimed, InProgress, Reopened],
            Action::Feedback { .. } => &[Resolved],
            Action::Cancel { .. } | Action::Merge { .. } => &[
                Reported, Dispatched, Claimed, InProgress, Returned, Reopened, Resolved,
            ],
            Action::Pause { .. } | Action::Resume { .. } => &[
                Reported, Dispatched, Claimed, InProgress, Returned, Reopened,
            ],
        }
    }

    fn name(&self) -> &'static str {
        match self {
            Action::Dispatch { .. } => "dispatch",
            Action::Reassign { .. } => "reassign",
            Action::Claim => "claim",
            Action::Return { .. } => "return",
            Action::Progress { .. } => "report progress on",
            Action::Resolve { .. } => "resolve",
            Action::Feedback { .. } => "record the return visit of",
            Action::Cancel { .. } => "cancel",
            Action::Merge { .. } => "merge",
            Action::Pause { .. } => "pause",
            Action::Resume { .. } => "resume",
        }
    }
}

/// The change to the ticket row; absent fields stay.
#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = tickets)]
struct Change {
    status: Option<TicketStatus>,
    partner_id: Option<Option<PartnerId>>,
    in_pool: Option<bool>,
    responded_at: Option<Option<NaiveDateTime>>,
    resolved_at: Option<Option<NaiveDateTime>>,
    closed_at: Option<Option<NaiveDateTime>>,
    respond_by: Option<Option<NaiveDateTime>>,
    resolve_by: Option<Option<NaiveDateTime>>,
    satisfaction: Option<Option<Satisfaction>>,
    merged_into_id: Option<Option<TicketId>>,
    reopen_count: Option<i32>,
    return_count: Option<i32>,
    households: Option<i32>,
}

/// A ticket the actor may see, else `NotFound`.
pub(crate) fn load_visible(
    conn: &mut DbConnection,
    actor: &Actor,
    id: TicketId,
) -> CoreResult<TicketRow> {
    let mut query = tickets::table
        .filter(tickets::id.eq(id))
        .select(TicketRow::as_select())
        .into_boxed();
    if let Some(filter) = super::visible_tickets(&actor.scope) {
        query = query.filter(filter);
    }
    query
        .first(conn)
        .optional()?
        .ok_or(CoreError::NotFound("ticket"))
}

/// The unit holding a ticket the actor may see: `None` while it is undispatched or in the
/// pool. One row, for callers that choose between dispatching and reassigning.
pub fn holder(
    conn: &mut DbConnection,
    actor: &Actor,
    id: TicketId,
) -> CoreResult<Option<crate::ids::PartnerId>> {
    Ok(load_visible(conn, actor, id)?.partner_id)
}

/// A 409 with the ticket as it now is. A unit that does not hold it (it lost a claim
/// race) is told only where it stands and who holds it, not its contents.
fn conflict(row: TicketRow, actor: &Actor, now: NaiveDateTime, message: String) -> CoreError {
    let outsider = matches!(actor.scope, Scope::Partner { partner } if row.partner_id != Some(partner));
    let current = if outsider {
        Some(serde_json::json!({
            "id": row.id,
            "number": row.number,
            "status": row.status,
            "partner_id": row.partner_id,
            "in_pool": row.in_pool,
        }))
    } else {
        serde_json::to_value(row.view(actor, now)).ok()
    };
    CoreError::Conflict { message, current }
}

/// The ticket a unit tries to claim: visible to it, or — once another unit holds it — a
/// ticket of a community and category the unit serves, so a late claim learns it lost
/// (409, naming the holder) rather than that the ticket vanished (404).
fn load_for_claim(conn: &mut DbConnection, actor: &Actor, id: TicketId) -> CoreResult<TicketRow> {
    match load_visible(conn, actor, id) {
        Err(CoreError::NotFound(what)) => {
            let Some(me) = actor_partner(actor) else {
                return Err(CoreError::NotFound(what));
            };
            let row: Option<TicketRow> = tickets::table
                .find(id)
                .select(TicketRow::as_select())
                .first(conn)
                .optional()?;
            match row {
                Some(row)
                    if row.partner_id.is_some()
                        && unit_qualifies(conn, me, row.community_id, row.category_id)? =>
                {
                    Ok(row)
                }
                _ => Err(CoreError::NotFound(what)),
            }
        }
        other => other,
    }
}

fn required_text(field: &str, value: &str) -> CoreResult<String> {
    let value = value.trim();
    if value.is_empty() {
        return Err(CoreError::invalid(field, "required", "must not be blank"));
    }
    if value.chars().count() > 2000 {
        return Err(CoreError::invalid(
            field,
            "length",
            "at most 2000 characters",
        ));
    }
    Ok(value.to_owned())
}

fn optional_text(field: &str, value: &Option<String>) -> CoreResult<Option<String>> {
    match value.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(v) => required_text(field, v).map(Some),
    }
}

/// Does this active unit serve the community and handle the category?
pub(crate) fn unit_qualifies(
    conn: &mut DbConnection,
    partner: PartnerId,
    community: OrgUnitId,
    category: CategoryId,
) -> CoreResult<bool> {
    let active = partners::table
        .find(partner)
        .select(partners::active)
        .first::<bool>(conn)
        .optional()?
        .unwrap_or(false);
    let serves = partner_communities::table
        .find((partner, community))
        .select(partner_communities::partner_id)
        .first::<PartnerId>(conn)
        .optional()?
        .is_some();
    let handles = partner_categories::table
        .find((partner, category))
        .select(partner_categories::partner_id)
        .first::<PartnerId>(conn)
        .optional()?
        .is_some();
    Ok(active && serves && handles)
}

fn actor_partner(actor: &Actor) -> Option<PartnerId> {
    match actor.scope {
        Scope::Partner { partner } => Some(partner),
        _ => None,
    }
}

/// One entry to append to a ticket's trail.
struct NewEvent {
    kind: EventKind,
    partner: Option<PartnerId>,
    note: Option<String>,
    detail: Option<serde_json::Value>,
}

impl NewEvent {
    fn new(
        kind: EventKind,
        partner: Option<PartnerId>,
        note: Option<String>,
        detail: Option<serde_json::Value>,
    ) -> Self {
        Self {
            kind,
            partner,
            note,
            detail,
        }
    }
}

fn append(
    conn: &mut DbConnection,
    ticket: TicketId,
    actor: &Actor,
    (from, to): (Option<TicketStatus>, Option<TicketStatus>),
    e: &NewEvent,
    now: NaiveDateTime,
) -> CoreResult<()> {
    diesel::insert_into(ticket_events::table)
        .values((
            ticket_events::ticket_id.eq(ticket),
            ticket_events::actor_id.eq(actor.user_id),
            ticket_events::kind.eq(e.kind),
            ticket_events::from_status.eq(from),
            ticket_events::to_status.eq(to),
            ticket_events::partner_id.eq(e.partner),
            ticket_events::note.eq(e.note.as_deref()),
            ticket_events::detail.eq(e.detail.as_ref().map(|d| d.to_string())),
            ticket_events::created_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

/// Applies `action` to ticket `id` as `actor` at `now`; returns the ticket as it now is.
pub fn transition(
    conn: &mut DbConnection,
    actor: &Actor,
    id: TicketId,
    action: &Action,
    ctx: &Context<'_>,
) -> CoreResult<Ticket> {
    let ctx = Context {
        now: truncate_to_micros(ctx.now),
        ..*ctx
    };
    let now = ctx.now;
    let row = write_tx(conn, |conn| {
        apply(conn, actor, id, action, &ctx)?;
        // Read inside the transaction and without the scope filter: a unit that has just
        // returned a ticket no longer sees it, but is owed the answer to its change.
        let row: TicketRow = tickets::table
            .find(id)
            .select(TicketRow::as_select())
            .first(conn)?;
        crate::escalation::sync_due(conn, &row)?;
        Ok::<_, CoreError>(row)
    })?;
    Ok(row.view(actor, now))
}

fn apply(
    conn: &mut DbConnection,
    actor: &Actor,
    id: TicketId,
    action: &Action,
    ctx: &Context<'_>,
) -> CoreResult<()> {
    let now = ctx.now;
    let t = if matches!(action, Action::Claim) {
        load_for_claim(conn, actor, id)?
    } else {
        load_visible(conn, actor, id)?
    };
    let (roles, why) = action.roles();
    actor.require_role(roles, why)?;
    if t.status.is_final() {
        let message = format!(
            "ticket {} is {} and accepts no further changes",
            t.number, t.status
        );
        return Err(conflict(t, actor, now, message));
    }
    if !action.allowed_from().contains(&t.status) {
        let message = format!("cannot {} a ticket that is {}", action.name(), t.status);
        return Err(conflict(t, actor, now, message));
    }
    type Paused = (NaiveDateTime, Option<NaiveDateTime>, Option<NaiveDateTime>);
    let paused_since: Option<Paused> = ticket_pauses::table
        .find(t.id)
        .select((
            ticket_pauses::paused_at,
            ticket_pauses::due_at,
            ticket_pauses::window_due_at,
        ))
        .first(conn)
        .optional()?;
    let allowed_while_paused = matches!(
        action,
        Action::Resume { .. }
            | Action::Cancel { .. }
            | Action::Merge { .. }
            | Action::Progress { .. }
    );
    match (paused_since.is_some(), action) {
        (true, Action::Pause { .. }) => {
            let message = format!("ticket {} is already waiting on the resident", t.number);
            return Err(conflict(t, actor, now, message));
        }
        (false, Action::Resume { .. }) => {
            let message = format!("ticket {} is not waiting on the resident", t.number);
            return Err(conflict(t, actor, now, message));
        }
        (true, _) if !allowed_while_paused => {
            let message = format!(
                "ticket {} is waiting on the resident; resume it first",
                t.number
            );
            return Err(conflict(t, actor, now, message));
        }
        _ => {}
    }
    if let (Action::Pause { .. } | Action::Resume { .. }, Some(me)) = (action, actor_partner(actor))
    {
        if t.partner_id != Some(me) {
            return Err(CoreError::Forbidden(
                "only the unit holding the ticket may do this",
            ));
        }
    }
    let from = t.status;
    let mut change = Change::default();
    let mut events: Vec<NewEvent> = Vec::new();
    let to: TicketStatus;
    match action {
        Action::Dispatch { to: target, note } | Action::Reassign { to: target, note } => {
            let note = optional_text("note", note)?;
            if let Target::Partner(p) = target {
                if !unit_qualifies(conn, *p, t.community_id, t.category_id)? {
                    return Err(CoreError::invalid(
                        "partner_id",
                        "not_qualified",
                        "this partner unit is inactive or does not serve this community and category",
                    ));
                }
                if t.partner_id == Some(*p) && matches!(action, Action::Reassign { .. }) {
                    return Err(CoreError::invalid(
                        "partner_id",
                        "unchanged",
                        "the ticket is already with this unit",
                    ));
                }
            }
            to = TicketStatus::Dispatched;
            let partner = match target {
                Target::Partner(p) => Some(*p),
                Target::Pool => None,
            };
            change.partner_id = Some(partner);
            change.in_pool = Some(*target == Target::Pool);
            change.responded_at = Some(None);
            let kind = if matches!(action, Action::Dispatch { .. }) {
                EventKind::Dispatched
            } else {
                EventKind::Reassigned
            };
            let detail = serde_json::json!({ "pool": *target == Target::Pool, "previous_partner_id": t.partner_id });
            events.push(NewEvent::new(kind, partner, note, Some(detail)));
            if let Some(p) = partner {
                // Picked up by the mail outbox: the unit is told a ticket is waiting for it.
                events.push(NewEvent::new(EventKind::PartnerNotice, Some(p), None, None));
            }
        }
        Action::Claim => {
            let me = actor_partner(actor).ok_or(CoreError::Forbidden(
                "only partner-unit staff claim tickets",
            ))?;
            match t.partner_id {
                Some(holder) if holder != me => {
                    let message = format!(
                        "ticket {} is already held by partner unit {holder}",
                        t.number
                    );
                    return Err(conflict(t, actor, now, message));
                }
                Some(_) => {}
                None => {
                    if !unit_qualifies(conn, me, t.community_id, t.category_id)? {
                        return Err(CoreError::Forbidden(
                            "your unit does not serve this community and category",
                        ));
                    }
                }
            }
            to = TicketStatus::Claimed;
            change.partner_id = Some(Some(me));
            change.in_pool = Some(false);
            change.responded_at = Some(Some(now));
            events.push(NewEvent::new(EventKind::Claimed, Some(me), None, None));
        }
        Action::Return { reason }
        | Action::Progress { note: reason }
        | Action::Resolve { note: reason } => {
            let me = actor_partner(actor)
                .ok_or(CoreError::Forbidden("only partner-unit staff work tickets"))?;
            if t.partner_id != Some(me) {
                return Err(CoreError::Forbidden(
                    "only the unit holding the ticket may do this",
                ));
            }
            let field = if matches!(action, Action::Return { .. }) {
                "reason"
            } else {
                "note"
            };
            let text = required_text(field, reason)?;
            match action {
                Action::Return { .. } => {
                    to = TicketStatus::Returned;
                    change.partner_id = Some(None);
                    change.in_pool = Some(false);
                    change.return_count = Some(t.return_count + 1);
                    events.push(NewEvent::new(
                        EventKind::Returned,
                        Some(me),
                        Some(text),
                        None,
                    ));
                }
                Action::Progress { .. } => {
                    to = TicketStatus::InProgress;
                    events.push(NewEvent::new(
                        EventKind::Progress,
                        Some(me),
                        Some(text),
                        None,
                    ));
                }
                _ => {
                    to = TicketStatus::Resolved;
                    change.resolved_at = Some(Some(now));
                    events.push(NewEvent::new(
                        EventKind::Resolved,
                        Some(me),
                        Some(text),
                        None,
                    ));
                }
            }
        }
        Action::Feedback {
            satisfaction,
            comment,
        } => {
            let comment = optional_text("comment", comment)?;
            change.satisfaction = Some(Some(*satisfaction));
            let detail = Some(serde_json::json!({ "satisfaction": satisfaction }));
            if *satisfaction == Satisfaction::Unsatisfied {
                // Back to the same unit, counted against it, with a fresh resolution window.
                to = TicketStatus::Reopened;
                change.reopen_count = Some(t.reopen_count + 1);
                change.resolved_at = Some(None);
                let rule = crate::categories::get(conn, t.category_id)?
                    .sla
                    .get(t.priority);
                change.resolve_by = Some(Some(ctx.calendar.deadline(
                    rule.clock,
                    now,
                    rule.resolve_minutes,
                )));
                events.push(NewEvent::new(
                    EventKind::Reopened,
                    t.partner_id,
                    comment,
                    detail,
                ));
            } else {
                to = TicketStatus::Closed;
                change.closed_at = Some(Some(now));
                events.push(NewEvent::new(
                    EventKind::Closed,
                    t.partner_id,
                    comment,
                    detail,
                ));
            }
        }
        Action::Cancel { reason } => {
            let reason = required_text("reason", reason)?;
            to = TicketStatus::Cancelled;
            change.closed_at = Some(Some(now));
            events.push(NewEvent::new(
                EventKind::Cancelled,
                t.partner_id,
                Some(reason),
                None,
            ));
        }
        Action::Pause { reason } => {
            let reason = required_text("reason", reason)?;
            to = t.status;
            let queued: Option<(NaiveDateTime, Option<NaiveDateTime>)> = escalation_due::table
                .find(t.id)
                .select((escalation_due::due_at, escalation_due::window_due_at))
                .first(conn)
                .optional()?;
            diesel::insert_into(ticket_pauses::table)
                .values((
                    ticket_pauses::ticket_id.eq(t.id),
                    ticket_pauses::paused_at.eq(now),
                    ticket_pauses::reason.eq(&reason),
                    ticket_pauses::paused_by.eq(actor.user_id),
                    ticket_pauses::due_at.eq(queued.map(|q| q.0)),
                    ticket_pauses::window_due_at.eq(queued.and_then(|q| q.1)),
                ))
                .execute(conn)?;
            events.push(NewEvent::new(
                EventKind::Paused,
                t.partner_id,
                Some(reason),
                None,
            ));
        }
        Action::Resume { note } => {
            let note = optional_text("note", note)?;
            to = t.status;
            let (paused_at, due, window) =
                paused_since.ok_or_else(|| CoreError::Internal("pause vanished".into()))?;
            let rule = crate::categories::get(conn, t.category_id)?
                .sla
                .get(t.priority);
            let waited_working = ctx.calendar.working_minutes_between(paused_at, now);
            // A deadline moves on by the time waited, counted on its own clock.
            let extend = |d: NaiveDateTime| match rule.clock {
                crate::types::ClockKind::Calendar => truncate_to_micros(d + (now - paused_at)),
                crate::types::ClockKind::Working if waited_working == 0 => d,
                crate::types::ClockKind::Working => {
                    truncate_to_micros(ctx.calendar.add_working_minutes(d, waited_working))
                }
            };
            if t.responded_at.is_none() {
                change.respond_by = Some(t.respond_by.map(extend));
            }
            change.resolve_by = Some(t.resolve_by.map(extend));
            diesel::delete(ticket_pauses::table.find(t.id)).execute(conn)?;
            if let Some(due) = due {
                diesel::insert_into(escalation_due::table)
                    .values((
                        escalation_due::ticket_id.eq(t.id),
                        escalation_due::due_at.eq(extend(due)),
                        escalation_due::window_due_at.eq(window.map(extend)),
                    ))
                    .execute(conn)?;
            }
            let waited = serde_json::json!({ "waited_minutes": (now - paused_at).num_minutes(), "waited_working_minutes": waited_working });
            events.push(NewEvent::new(
                EventKind::Resumed,
                t.partner_id,
                note,
                Some(waited),
            ));
        }
        Action::Merge { into, note } => {
            let note = optional_text("note", note)?;
            if *into == t.id {
                return Err(CoreError::invalid(
                    "into",
                    "self",
                    "a ticket cannot be merged into itself",
                ));
            }
            let survivor = load_visible(conn, actor, *into).map_err(|_| {
                CoreError::invalid("into", "not_found", "no such ticket in your scope")
            })?;
            if survivor.status.is_final() {
                return Err(CoreError::invalid(
                    "into",
                    "final",
                    format!("ticket {} is {}", survivor.number, survivor.status),
                ));
            }
            to = TicketStatus::Merged;
            change.merged_into_id = Some(Some(survivor.id));
            change.closed_at = Some(Some(now));
            events.push(NewEvent::new(
                EventKind::Merged,
                None,
                note,
                Some(serde_json::json!({ "into": survivor.id, "into_number": survivor.number })),
            ));
            // The survivor carries on for the duplicate's households too; the duplicate keeps
            // its residents and points at the survivor.
            let absorbed = diesel::update(
                tickets::table.filter(
                    tickets::id
                        .eq(survivor.id)
                        .and(tickets::version.eq(survivor.version)),
                ),
            )
            .set((
                tickets::households.eq(survivor.households + t.households),
                tickets::version.eq(survivor.version + 1),
                tickets::updated_at.eq(now),
            ))
            .execute(conn)?;
            if absorbed != 1 {
                return Err(CoreError::conflict(format!(
                    "ticket {} changed meanwhile; retry",
                    survivor.number
                )));
            }
            let detail = serde_json::json!({ "ticket": t.id, "number": t.number, "households": t.households });
            append(
                conn,
                survivor.id,
                actor,
                (Some(survivor.status), Some(survivor.status)),
                &NewEvent::new(EventKind::Absorbed, None, None, Some(detail)),
                now,
            )?;
        }
    }
    change.status = Some(to);
    // Only if nobody changed the ticket since it was read: of racing changes one wins.
    let updated = diesel::update(
        tickets::table.filter(tickets::id.eq(t.id).and(tickets::version.eq(t.version))),
    )
    .set((
        &change,
        tickets::version.eq(t.version + 1),
        tickets::updated_at.eq(now),
    ))
    .execute(conn)?;
    if updated != 1 {
        let current = if matches!(action, Action::Claim) {
            load_for_claim(conn, actor, id)?
        } else {
            load_visible(conn, actor, id)?
        };
        let message = match current.partner_id {
            Some(holder) if matches!(action, Action::Claim) => format!(
                "ticket {} was just claimed by partner unit {holder}",
                current.number
            ),
            _ => format!(
                "ticket {} was changed meanwhile; it is now {}",
                current.number, current.status
            ),
        };
        return Err(conflict(current, actor, now, message));
    }
    for e in events.iter().filter(|e| e.kind == EventKind::PartnerNotice) {
        if let Some(partner) = e.partner {
            mail_partner(conn, &t, partner, ctx)?;
        }
    }
    for e in &events {
        let statuses = if e.kind == EventKind::PartnerNotice {
            (None, None)
        } else {
            (Some(from), Some(to))
        };
        append(conn, t.id, actor, statuses, e, now)?;
    }
    Ok(())
}

/// Tells a unit, through the outbox, that a ticket was dispatched to it: its contact
/// address and its active staff.
fn mail_partner(
    conn: &mut DbConnection,
    t: &TicketRow,
    partner: PartnerId,
    ctx: &Context<'_>,
) -> CoreResult<()> {
    use crate::schema::{org_units, users};
    let (name, contact): (String, String) = partners::table
        .find(partner)
        .select((partners::name, partners::contact_email))
        .first(conn)?;
    let mut recipients: std::collections::BTreeSet<String> = users::table
        .filter(users::partner_id.eq(partner).and(users::active.eq(true)))
        .select(users::email)
        .load::<Option<String>>(conn)?
        .into_iter()
        .flatten()
        .map(|e| e.to_lowercase())
        .collect();
    recipients.insert(contact.to_lowercase());
    let community: String = org_units::table
        .find(t.community_id)
        .select(org_units::name)
        .first(conn)?;
    let notice = crate::mail::partner_dispatch(
        &crate::mail::DispatchNotice {
            unit: &name,
            id: t.id,
            number: &t.number,
            title: &t.title,
            community: &community,
            address: &t.address,
            priority: t.priority,
            respond_by: t.respond_by,
        },
        ctx.calendar.tz(),
        ctx.public_url,
    );
    for recipient in recipients {
        crate::outbox::enqueue(conn, &recipient, &notice, ctx.now)?;
    }
    Ok(())
}

/// Request bodies of the transition calls, shared by the API.
#[derive(utoipa::ToSchema, Debug, Clone, Deserialize)]
#[schema(example = json!({"partner_id": 3, "note": "请今日内上门"}))]
pub struct DispatchRequest {
    pub partner_id: Option<PartnerId>,
    #[serde(default)]
    pub pool: bool,
    pub note: Option<String>,
}

impl DispatchRequest {
    pub fn target(&self) -> CoreResult<Target> {
        match (self.partner_id, self.pool) {
            (Some(p), false) => Ok(Target::Partner(p)),
            (None, true) => Ok(Target::Pool),
            _ => Err(CoreError::Invalid(vec![FieldError::new(
                "partner_id",
                "required",
                "give either partner_id or pool: true",
            )])),
        }
    }
}
