//! Urging (催办): a supervisor above the ticket's community presses the unit holding it,
//! with a note. The urge is a timeline event (`urged`, with the unit), a mail to the unit's
//! staff and contact address through the outbox, and a count per unit in the rates
//! (`stats::urgings`).
//!
//! An urge changes nothing of the ticket: its row and version stay as they are, so the
//! unit's own change at the same moment is never refused because of it.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::lifecycle::{
    allowed, load_visible, pause_of, required_text, unit_and_place, ActionKind,
};
use super::Context;
use crate::db::{truncate_to_micros, write_tx, DbConnection};
use crate::error::{CoreError, CoreResult};
use crate::ids::{PartnerId, TicketId};
use crate::schema::{ticket_events, users};
use crate::scope::Actor;
use crate::types::EventKind;

/// What an urge recorded.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Urged {
    pub ticket_id: TicketId,
    /// The unit urged.
    pub partner_id: PartnerId,
    /// Mails queued: the unit's contact address and its active staff.
    pub mails: usize,
    #[serde(serialize_with = "crate::time::utc")]
    pub at: NaiveDateTime,
}

/// Urges the unit holding ticket `id`: supervisors whose node is above the ticket's
/// community (street, district, city) and administrators; the ticket held by a unit (sent
/// to it, claimed, in progress or reopened) and not waiting on the resident. The
/// lifecycle's table decides (`ActionKind::Urge`), so a ticket's `actions` offer it exactly
/// when it would be accepted.
pub fn urge(
    conn: &mut DbConnection,
    actor: &Actor,
    id: TicketId,
    note: &str,
    ctx: &Context<'_>,
) -> CoreResult<Urged> {
    let note = required_text("note", note)?;
    let now = truncate_to_micros(ctx.now);
    write_tx(conn, |conn| {
        let t = load_visible(conn, actor, id)?;
        let paused = pause_of(conn, t.id)?.is_some();
        let t = allowed(ActionKind::Urge, actor, t, paused, now)?;
        let partner = t
            .partner_id
            .ok_or_else(|| CoreError::internal("an urged ticket's unit"))?;
        let (unit, recipients, community) = unit_and_place(conn, &t, partner)?;
        let by: String = users::table
            .find(actor.user_id)
            .select(users::display_name)
            .first(conn)?;
        let head = ctx.letterhead();
        let mail = crate::mail::urging(
            &crate::mail::UrgingNotice {
                unit: &unit,
                id: t.id,
                number: &t.number,
                title: &t.title,
                community: &community,
                by: &by,
                note: &note,
                due: t.resolve_by.filter(|_| t.status.is_held()).or(t.respond_by),
            },
            &head,
        )?;
        for recipient in &recipients {
            crate::outbox::enqueue(conn, recipient, &mail, now)?;
        }
        diesel::insert_into(ticket_events::table)
            .values((
                ticket_events::ticket_id.eq(t.id),
                ticket_events::actor_id.eq(actor.user_id),
                ticket_events::kind.eq(EventKind::Urged),
                ticket_events::from_status.eq(Some(t.status)),
                ticket_events::to_status.eq(Some(t.status)),
                ticket_events::partner_id.eq(Some(partner)),
                ticket_events::note.eq(Some(note.as_str())),
                ticket_events::created_at.eq(now),
            ))
            .execute(conn)?;
        Ok(Urged {
            ticket_id: t.id,
            partner_id: partner,
            mails: recipients.len(),
            at: now,
        })
    })
}
