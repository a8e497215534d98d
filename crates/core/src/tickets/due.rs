//! The escalation queue as a ticket's changes keep it: each open ticket that can still
//! rise has one row, due at its running deadline (DESIGN.md §5). Every change to a ticket
//! brings its row in step in the change's own transaction; the sweep (`escalation`) reads
//! the rows that are due.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::DbConnection;
use crate::error::CoreResult;
use crate::ids::TicketId;
use crate::schema::escalation_due;
use crate::tickets::TicketRow;
use crate::types::TicketStatus;

/// The last level: a ticket at the city rises no further.
pub const CITY_LEVEL: i32 = 3;

/// Puts a just-logged ticket in the due queue (it has no row there and no pause yet).
pub fn enqueue_new(conn: &mut DbConnection, t: &TicketRow) -> CoreResult<()> {
    if let Some(due) = t.respond_by {
        diesel::insert_into(escalation_due::table)
            .values((
                escalation_due::ticket_id.eq(t.id),
                escalation_due::due_at.eq(due),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// The deadline that decides a ticket's next rise (DESIGN.md §5). `window` is the end of
/// its current level's window (NULL at the community, where the ticket's own `respond_by`
/// is that window). While no unit has claimed it, that window runs; once claimed, its
/// resolution deadline — above the community never before the level's window, so a ticket
/// that rose for a missed resolution gets one window at its new level, not an instant rise.
fn running_deadline(t: &TicketRow, window: Option<NaiveDateTime>) -> Option<NaiveDateTime> {
    let window = if t.level > 0 { window } else { None };
    if t.responded_at.is_none() {
        return window.or(t.respond_by);
    }
    match (t.resolve_by, window) {
        (Some(resolve_by), Some(window)) => Some(resolve_by.max(window)),
        (resolve_by, window) => resolve_by.or(window),
    }
}

/// Keeps a ticket's row in the due queue in step with its state; called in the transaction
/// of every change. Done and paused tickets leave the queue; the others are due at their
/// running deadline, at every level.
pub fn sync_due(conn: &mut DbConnection, t: &TicketRow) -> CoreResult<()> {
    use TicketStatus::*;
    let paused = crate::schema::ticket_pauses::table
        .find(t.id)
        .select(crate::schema::ticket_pauses::ticket_id)
        .first::<TicketId>(conn)
        .optional()?
        .is_some();
    // A paused ticket's clock stands still: it leaves the queue until it resumes.
    let done = paused
        || matches!(t.status, Resolved | Closed | Cancelled | Merged)
        || t.level >= CITY_LEVEL;
    if done {
        diesel::delete(escalation_due::table.find(t.id)).execute(conn)?;
        return Ok(());
    }
    let current: Option<(NaiveDateTime, Option<NaiveDateTime>)> = escalation_due::table
        .find(t.id)
        .select((escalation_due::due_at, escalation_due::window_due_at))
        .first(conn)
        .optional()?;
    let wanted = running_deadline(t, current.and_then(|(_, window)| window));
    match (current, wanted) {
        (None, Some(due)) => {
            diesel::insert_into(escalation_due::table)
                .values((
                    escalation_due::ticket_id.eq(t.id),
                    escalation_due::due_at.eq(due),
                ))
                .execute(conn)?;
        }
        (Some((now_due, _)), Some(due)) if now_due != due => {
            diesel::update(escalation_due::table.find(t.id))
                .set(escalation_due::due_at.eq(due))
                .execute(conn)?;
        }
        (Some(_), None) => {
            diesel::delete(escalation_due::table.find(t.id)).execute(conn)?;
        }
        _ => {}
    }
    Ok(())
}
