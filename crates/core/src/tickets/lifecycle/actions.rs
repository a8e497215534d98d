//! One function per action: each checks what its input and the database must satisfy
//! beyond the lifecycle's table and plans the change (new status, row change, events).
//! The table (`guard`) has already checked role, state, waiting and holder.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::{
    append, load_visible, optional_text, required_text, unit_qualifies, ActionKind, Change,
    NewEvent, Plan, Target,
};
use crate::db::{truncate_to_micros, DbConnection};
use crate::error::{CoreError, CoreResult};
use crate::ids::{PartnerId, TicketId};
use crate::schema::{escalation_due, ticket_pauses, tickets};
use crate::scope::Actor;
use crate::tickets::{Context, TicketRow};
use crate::types::{EventKind, Satisfaction, TicketStatus};

/// A wait on the resident: since when, and where the ticket stood in the due queue.
pub(super) type Pause = (NaiveDateTime, Option<NaiveDateTime>, Option<NaiveDateTime>);

pub(crate) fn pause_of(conn: &mut DbConnection, id: TicketId) -> CoreResult<Option<Pause>> {
    Ok(ticket_pauses::table
        .find(id)
        .select((
            ticket_pauses::paused_at,
            ticket_pauses::due_at,
            ticket_pauses::window_due_at,
        ))
        .first(conn)
        .optional()?)
}

/// Dispatch or reassign: to a unit that serves the community and category, or the pool.
pub(super) fn dispatch(
    conn: &mut DbConnection,
    t: &TicketRow,
    kind: ActionKind,
    target: Target,
    note: &Option<String>,
) -> CoreResult<Plan> {
    let note = optional_text("note", note)?;
    if let Target::Partner(p) = target {
        if !unit_qualifies(conn, p, t.community_id, t.category_id)? {
            return Err(CoreError::invalid(
                "partner_id",
                "not_qualified",
                "this partner unit is inactive or does not serve this community and category",
            ));
        }
        if t.partner_id == Some(p) && kind == ActionKind::Reassign {
            return Err(CoreError::invalid(
                "partner_id",
                "unchanged",
                "the ticket is already with this unit",
            ));
        }
    }
    let partner = match target {
        Target::Partner(p) => Some(p),
        Target::Pool => None,
    };
    let change = Change {
        partner_id: Some(partner),
        in_pool: Some(target == Target::Pool),
        responded_at: Some(None),
        ..Change::default()
    };
    let event = if kind == ActionKind::Dispatch {
        EventKind::Dispatched
    } else {
        EventKind::Reassigned
    };
    let detail =
        serde_json::json!({ "pool": target == Target::Pool, "previous_partner_id": t.partner_id });
    let mut events = vec![NewEvent::new(event, partner, note, Some(detail))];
    if let Some(p) = partner {
        // Picked up by the mail outbox: the unit is told a ticket is waiting for it.
        events.push(NewEvent::new(EventKind::PartnerNotice, Some(p), None, None));
    }
    Ok(Plan {
        to: TicketStatus::Dispatched,
        change,
        events,
    })
}

/// A unit takes a ticket from the pool (or one dispatched to it); it leaves the pool.
pub(super) fn claim(
    conn: &mut DbConnection,
    actor: &Actor,
    t: &TicketRow,
    now: NaiveDateTime,
) -> CoreResult<Plan> {
    let me = actor.scope.partner().ok_or(CoreError::Forbidden(
        "only partner-unit staff claim tickets",
    ))?;
    if t.partner_id.is_none() && !unit_qualifies(conn, me, t.community_id, t.category_id)? {
        return Err(CoreError::Forbidden(
            "your unit does not serve this community and category",
        ));
    }
    Ok(Plan {
        to: TicketStatus::Claimed,
        change: Change {
            partner_id: Some(Some(me)),
            in_pool: Some(false),
            responded_at: Some(Some(now)),
            ..Change::default()
        },
        events: vec![NewEvent::new(EventKind::Claimed, Some(me), None, None)],
    })
}

/// The holding unit gives the ticket back to the dispatcher, with a reason.
pub(super) fn give_back(actor: &Actor, t: &TicketRow, reason: &str) -> CoreResult<Plan> {
    let reason = required_text("reason", reason)?;
    Ok(Plan {
        to: TicketStatus::Returned,
        change: Change {
            partner_id: Some(None),
            in_pool: Some(false),
            return_count: Some(t.return_count + 1),
            ..Change::default()
        },
        events: vec![NewEvent::new(
            EventKind::Returned,
            actor.scope.partner(),
            Some(reason),
            None,
        )],
    })
}

pub(super) fn progress(actor: &Actor, note: &str) -> CoreResult<Plan> {
    let note = required_text("note", note)?;
    Ok(Plan {
        to: TicketStatus::InProgress,
        change: Change::default(),
        events: vec![NewEvent::new(
            EventKind::Progress,
            actor.scope.partner(),
            Some(note),
            None,
        )],
    })
}

pub(super) fn resolve(actor: &Actor, note: &str, now: NaiveDateTime) -> CoreResult<Plan> {
    let note = required_text("note", note)?;
    Ok(Plan {
        to: TicketStatus::Resolved,
        change: Change {
            resolved_at: Some(Some(now)),
            ..Change::default()
        },
        events: vec![NewEvent::new(
            EventKind::Resolved,
            actor.scope.partner(),
            Some(note),
            None,
        )],
    })
}

/// The return visit: satisfied closes it; unsatisfied reopens it to the same unit, counted
/// against it, with a fresh resolution window.
pub(super) fn feedback(
    conn: &mut DbConnection,
    t: &TicketRow,
    satisfaction: Satisfaction,
    comment: &Option<String>,
    ctx: &Context<'_>,
) -> CoreResult<Plan> {
    let now = ctx.now;
    let comment = optional_text("comment", comment)?;
    let detail = Some(serde_json::json!({ "satisfaction": satisfaction }));
    let mut change = Change {
        satisfaction: Some(Some(satisfaction)),
        ..Change::default()
    };
    if satisfaction == Satisfaction::Unsatisfied {
        let rule = crate::categories::get(conn, t.category_id)?
            .sla
            .get(t.priority);
        change.reopen_count = Some(t.reopen_count + 1);
        change.resolved_at = Some(None);
        change.resolve_by = Some(Some(ctx.calendar.deadline(
            rule.clock,
            now,
            rule.resolve_minutes,
        )));
        return Ok(Plan {
            to: TicketStatus::Reopened,
            change,
            events: vec![NewEvent::new(
                EventKind::Reopened,
                t.partner_id,
                comment,
                detail,
            )],
        });
    }
    change.closed_at = Some(Some(now));
    Ok(Plan {
        to: TicketStatus::Closed,
        change,
        events: vec![NewEvent::new(
            EventKind::Closed,
            t.partner_id,
            comment,
            detail,
        )],
    })
}

pub(super) fn cancel(t: &TicketRow, reason: &str, now: NaiveDateTime) -> CoreResult<Plan> {
    let reason = required_text("reason", reason)?;
    Ok(Plan {
        to: TicketStatus::Cancelled,
        change: Change {
            closed_at: Some(Some(now)),
            ..Change::default()
        },
        events: vec![NewEvent::new(
            EventKind::Cancelled,
            t.partner_id,
            Some(reason),
            None,
        )],
    })
}

/// Waiting on the resident: the ticket leaves the due queue; where it stood is kept.
pub(super) fn pause(
    conn: &mut DbConnection,
    actor: &Actor,
    t: &TicketRow,
    reason: &str,
    now: NaiveDateTime,
) -> CoreResult<Plan> {
    let reason = required_text("reason", reason)?;
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
    Ok(Plan {
        to: t.status,
        change: Change::default(),
        events: vec![NewEvent::new(
            EventKind::Paused,
            t.partner_id,
            Some(reason),
            None,
        )],
    })
}

/// The wait is over: every deadline, and the next rise, moves on by the time waited,
/// counted on its own clock.
pub(super) fn resume(
    conn: &mut DbConnection,
    t: &TicketRow,
    pause: Option<Pause>,
    note: &Option<String>,
    ctx: &Context<'_>,
) -> CoreResult<Plan> {
    let now = ctx.now;
    let note = optional_text("note", note)?;
    let (paused_at, due, window) = pause.ok_or_else(|| CoreError::internal("pause vanished"))?;
    let rule = crate::categories::get(conn, t.category_id)?
        .sla
        .get(t.priority);
    let waited_working = ctx.calendar.working_minutes_between(paused_at, now);
    let extend = |d: NaiveDateTime| match rule.clock {
        crate::types::ClockKind::Calendar => truncate_to_micros(d + (now - paused_at)),
        crate::types::ClockKind::Working if waited_working == 0 => d,
        crate::types::ClockKind::Working => {
            truncate_to_micros(ctx.calendar.add_working_minutes(d, waited_working))
        }
    };
    let mut change = Change::default();
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
    Ok(Plan {
        to: t.status,
        change,
        events: vec![NewEvent::new(
            EventKind::Resumed,
            t.partner_id,
            note,
            Some(waited),
        )],
    })
}

/// A duplicate merges into a surviving ticket the actor may see, which carries on for the
/// duplicate's households too; the duplicate keeps its residents and points at it.
pub(super) fn merge(
    conn: &mut DbConnection,
    actor: &Actor,
    t: &TicketRow,
    into: TicketId,
    note: &Option<String>,
    now: NaiveDateTime,
) -> CoreResult<Plan> {
    let note = optional_text("note", note)?;
    if into == t.id {
        return Err(CoreError::invalid(
            "into",
            "self",
            "a ticket cannot be merged into itself",
        ));
    }
    let survivor = load_visible(conn, actor, into)
        .map_err(|_| CoreError::invalid("into", "not_found", "no such ticket in your scope"))?;
    if survivor.status.is_final() {
        return Err(CoreError::invalid(
            "into",
            "final",
            format!("ticket {} is {}", survivor.number, survivor.status),
        ));
    }
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
    let detail =
        serde_json::json!({ "ticket": t.id, "number": t.number, "households": t.households });
    append(
        conn,
        survivor.id,
        actor,
        (Some(survivor.status), Some(survivor.status)),
        &NewEvent::new(EventKind::Absorbed, None, None, Some(detail)),
        now,
    )?;
    Ok(Plan {
        to: TicketStatus::Merged,
        change: Change {
            merged_into_id: Some(Some(survivor.id)),
            closed_at: Some(Some(now)),
            ..Change::default()
        },
        events: vec![NewEvent::new(
            EventKind::Merged,
            None,
            note,
            Some(serde_json::json!({ "into": survivor.id, "into_number": survivor.number })),
        )],
    })
}

/// What a mail to a unit about a ticket needs: the unit's name, its addresses (contact and
/// active staff) and the ticket's community's name.
pub(crate) fn unit_and_place(
    conn: &mut DbConnection,
    t: &TicketRow,
    partner: PartnerId,
) -> CoreResult<(String, Vec<String>, String)> {
    use crate::schema::org_units;
    let (name, recipients) = crate::partners::recipients(conn, partner)?;
    let community: String = org_units::table
        .find(t.community_id)
        .select(org_units::name)
        .first(conn)?;
    Ok((name, recipients, community))
}

/// Tells a unit, through the outbox, that a ticket was dispatched to it: its contact
/// address and its active staff.
pub(super) fn mail_partner(
    conn: &mut DbConnection,
    t: &TicketRow,
    partner: PartnerId,
    ctx: &Context<'_>,
) -> CoreResult<()> {
    let (name, recipients, community) = unit_and_place(conn, t, partner)?;
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
        &ctx.letterhead(),
    )?;
    for recipient in recipients {
        crate::outbox::enqueue(conn, &recipient, &notice, ctx.now)?;
    }
    Ok(())
}
