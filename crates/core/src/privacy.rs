//! Residents' personal data, as the Personal Information Protection Law asks: kept whole
//! only as long as the work needs it, then reduced; erased sooner on the resident's
//! request.
//!
//! - **Retention**: `privacy.retention_days` (365 by default) after a ticket is closed,
//!   cancelled or merged, the scheduler's sweep (`reduce_expired`, replayable with
//!   `scheduler sweep --as-of`) masks the resident's name (`陈**`) and phone
//!   (`139****1111`), cuts the address to the building (`cut_address`), masks phone numbers
//!   written in the description, and forgets the Open311 reporter's names, email, device
//!   and account ids. The rates read none of these, so they do not change.
//! - **Erasure on request** (`erase`): an administrator removes the resident's name and
//!   phone outright (and cuts the address, masks the description, forgets the Open311
//!   contact) with a reason; the timeline records who, when and why (`resident_erased`, an
//!   internal note).
//! - **Reads**: a resident's contact is shown whole only on the ticket's own page, and
//!   each such showing is recorded (`record_contact_read`; administrators list them with
//!   `contact_reads`); lists, answers to actions and exports show it masked.
//!
//! A reduction or an erasure leaves a row in `ticket_redactions`. The retention sweep walks
//! closed tickets in (closing instant, id) order from the last one it reduced
//! (`tickets_closed_idx`), so each sweep costs its batch, not the city's history.

use std::borrow::Cow;
use std::sync::LazyLock;

use chrono::NaiveDateTime;
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use regex::Regex;
use serde::Serialize;

use crate::db::{truncate_to_micros, write_tx, DbConnection};
use crate::error::{CoreError, CoreResult};
use crate::ids::{TicketId, UserId};
use crate::pagination::{Page, PageRequest};
use crate::phone::Phone;
use crate::schema::{
    contact_reads, open311_requests, ticket_events, ticket_redactions, tickets, users,
};
use crate::scope::Actor;
use crate::types::EventKind;

/// Tickets reduced in one sweep at most; the rest wait for the next.
const BATCH: i64 = 5_000;

/// Held by a retention sweep's transaction on PostgreSQL, so that two schedulers do not
/// reduce the same batch at once (a second one waits, then finds it done).
const RETENTION_LOCK_KEY: i64 = 0x006a_6965_7375_0003;

/// A resident's name as kept after the retention period: the first character, then one
/// `*` for each other one (`陈阿姨` → `陈**`); a name of one character becomes `*`.
/// Masking a masked name changes nothing.
pub fn mask_name(name: &str) -> String {
    let mut chars = name.trim().chars();
    match chars.next() {
        None => String::new(),
        Some(first) => match chars.count() {
            0 => "*".into(),
            rest => format!("{first}{}", "*".repeat(rest)),
        },
    }
}

/// An address cut to the building: up to the first 号楼, 栋, 幢 or 座 (望京西园一区5号楼2单元501
/// → 望京西园一区5号楼); else up to the first 号 (a house on a street: 望京街10号502 → 望京街10号);
/// else up to the first digit (某小区3-2-501 → 某小区); else as it is. Cutting a cut address
/// changes nothing.
pub fn cut_address(address: &str) -> String {
    let first_end = |markers: &[&str]| {
        address
            .char_indices()
            .find_map(|(i, _)| {
                markers
                    .iter()
                    .find(|m| address[i..].starts_with(**m))
                    .map(|m| i + m.len())
            })
            .map(|end| address[..end].to_owned())
    };
    first_end(&["号楼", "栋", "幢", "座"])
        .or_else(|| first_end(&["号"]))
        .unwrap_or_else(|| match address.find(|c: char| c.is_ascii_digit()) {
            Some(i) => address[..i].trim_end().to_owned(),
            None => address.to_owned(),
        })
}

/// Runs of digits (and dashes) long enough to be a phone number.
static NUMBERS: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"[0-9][0-9-]{5,}[0-9]").expect("a valid pattern"));

/// `text` with every Chinese phone number in it masked (`139****1111`, `010****5678`);
/// dates, amounts and house numbers are left alone.
pub fn mask_phones_in(text: &str) -> Cow<'_, str> {
    NUMBERS.replace_all(text, |found: &regex::Captures<'_>| {
        match Phone::parse(&found[0]) {
            Ok(phone) => Phone::masked(phone.as_str()),
            Err(_) => found[0].to_owned(),
        }
    })
}

/// Forgets what an Open311 request kept of its reporter.
fn forget_reporter(conn: &mut DbConnection, id: TicketId) -> CoreResult<()> {
    diesel::update(open311_requests::table.find(id))
        .set((
            open311_requests::email.eq(None::<String>),
            open311_requests::device_id.eq(None::<String>),
            open311_requests::account_id.eq(None::<String>),
            open311_requests::first_name.eq(None::<String>),
            open311_requests::last_name.eq(None::<String>),
        ))
        .execute(conn)?;
    Ok(())
}

/// (id, closed at, name, phone, address, description, updated at) of a ticket to reduce.
type Personal = (
    TicketId,
    Option<NaiveDateTime>,
    Option<String>,
    Option<String>,
    String,
    String,
    NaiveDateTime,
);

/// What a reduction writes of one ticket: the resident's `name` and `phone` as given, the
/// address cut to the building, phone numbers in the description masked, the version moved
/// on and `updated_at` as given; the Open311 reporter's contact forgotten; and the
/// reduction's row in `ticket_redactions`.
struct Reduction<'a> {
    id: TicketId,
    closed_at: Option<NaiveDateTime>,
    name: Option<String>,
    phone: Option<String>,
    address: &'a str,
    description: &'a str,
    updated_at: NaiveDateTime,
    reason: &'static str,
    at: NaiveDateTime,
    by: Option<UserId>,
}

fn reduce(conn: &mut DbConnection, r: Reduction<'_>) -> CoreResult<()> {
    diesel::update(tickets::table.find(r.id))
        .set((
            tickets::resident_name.eq(r.name),
            tickets::resident_phone.eq(r.phone),
            tickets::address.eq(cut_address(r.address)),
            tickets::description.eq(mask_phones_in(r.description).as_ref()),
            tickets::version.eq(tickets::version + 1),
            tickets::updated_at.eq(r.updated_at),
        ))
        .execute(conn)?;
    forget_reporter(conn, r.id)?;
    diesel::insert_into(ticket_redactions::table)
        .values((
            ticket_redactions::ticket_id.eq(r.id),
            ticket_redactions::closed_at.eq(r.closed_at),
            ticket_redactions::reason.eq(r.reason),
            ticket_redactions::redacted_at.eq(r.at),
            ticket_redactions::redacted_by.eq(r.by),
        ))
        .execute(conn)?;
    Ok(())
}

/// Reduces the personal data of tickets closed (cancelled, merged) more than `retention`
/// before `as_of`, at most a batch of them, oldest first. Returns how many it reduced.
pub fn reduce_expired(
    conn: &mut DbConnection,
    as_of: NaiveDateTime,
    retention: chrono::Duration,
) -> CoreResult<usize> {
    let as_of = truncate_to_micros(as_of);
    let cutoff = as_of - retention;
    write_tx(conn, |conn| {
        if let DbConnection::Postgres(pg) = conn {
            pg.batch_execute(&format!(
                "SELECT pg_advisory_xact_lock({RETENTION_LOCK_KEY})"
            ))?;
        }
        // Where the last sweep stopped: every ticket before it, in (closing instant, id)
        // order, is reduced. Closed tickets never change, and a ticket closes at the wall
        // clock's now, far after any cutoff, so none can appear behind the walk.
        let from: Option<(Option<NaiveDateTime>, TicketId)> = ticket_redactions::table
            .filter(ticket_redactions::reason.eq("retention"))
            .order((
                ticket_redactions::closed_at.desc(),
                ticket_redactions::ticket_id.desc(),
            ))
            .select((ticket_redactions::closed_at, ticket_redactions::ticket_id))
            .first(conn)
            .optional()?;
        let mut query = tickets::table
            .filter(tickets::closed_at.lt(cutoff))
            .select((
                tickets::id,
                tickets::closed_at,
                tickets::resident_name,
                tickets::resident_phone,
                tickets::address,
                tickets::description,
                tickets::updated_at,
            ))
            .into_boxed();
        if let Some((Some(at), id)) = from {
            query = query.filter(tickets::closed_at.ge(at)).filter(
                tickets::closed_at
                    .gt(at)
                    .or(tickets::closed_at.eq(at).and(tickets::id.gt(id))),
            );
        }
        let due: Vec<Personal> = query
            .order((tickets::closed_at, tickets::id))
            .limit(BATCH)
            .load(conn)?;
        for (id, closed_at, name, phone, address, description, updated_at) in &due {
            // Retention is not a change of the ticket: `updated_at` stays.
            reduce(
                conn,
                Reduction {
                    id: *id,
                    closed_at: *closed_at,
                    name: name.as_deref().map(mask_name),
                    phone: phone.as_deref().map(Phone::masked),
                    address,
                    description,
                    updated_at: *updated_at,
                    reason: "retention",
                    at: as_of,
                    by: None,
                },
            )?;
        }
        Ok(due.len())
    })
}

/// What an erasure did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Erased {
    pub ticket_id: TicketId,
    #[serde(serialize_with = "crate::time::utc")]
    pub at: NaiveDateTime,
}

/// Erases the resident's personal data from ticket `id` on the resident's request:
/// administrators only, with a reason. The name and phone are removed (not masked), the
/// address cut to the building, phone numbers in the description masked, the Open311
/// reporter's contact forgotten, and a `resident_erased` event records who and why (its
/// note is internal). A second erasure of the same ticket is a conflict.
pub fn erase(
    conn: &mut DbConnection,
    actor: &Actor,
    id: TicketId,
    reason: &str,
    now: NaiveDateTime,
) -> CoreResult<Erased> {
    if !actor.is_admin() {
        return Err(CoreError::Forbidden(
            "erasing a resident's data is for administrators",
        ));
    }
    let reason = crate::tickets::lifecycle::required_text("reason", reason)?;
    let now = truncate_to_micros(now);
    write_tx(conn, |conn| {
        let (status, closed_at, address, description): (
            crate::types::TicketStatus,
            Option<NaiveDateTime>,
            String,
            String,
        ) = tickets::table
            .find(id)
            .select((
                tickets::status,
                tickets::closed_at,
                tickets::address,
                tickets::description,
            ))
            .first(conn)
            .optional()?
            .ok_or(CoreError::NotFound("ticket"))?;
        let erased_before: i64 = ticket_redactions::table
            .filter(ticket_redactions::ticket_id.eq(id))
            .filter(ticket_redactions::reason.eq("request"))
            .count()
            .get_result(conn)?;
        if erased_before > 0 {
            return Err(CoreError::conflict(
                "the resident's data on this ticket was already erased",
            ));
        }
        reduce(
            conn,
            Reduction {
                id,
                closed_at,
                name: None,
                phone: None,
                address: &address,
                description: &description,
                updated_at: now,
                reason: "request",
                at: now,
                by: Some(actor.user_id),
            },
        )?;
        diesel::insert_into(ticket_events::table)
            .values((
                ticket_events::ticket_id.eq(id),
                ticket_events::actor_id.eq(actor.user_id),
                ticket_events::kind.eq(EventKind::ResidentErased),
                ticket_events::from_status.eq(Some(status)),
                ticket_events::to_status.eq(Some(status)),
                ticket_events::note.eq(Some(reason.as_str())),
                ticket_events::created_at.eq(now),
            ))
            .execute(conn)?;
        Ok(Erased {
            ticket_id: id,
            at: now,
        })
    })
}

/// Records that `actor` was shown the resident's whole contact on ticket `id`, through
/// `route`, at `now`.
pub fn record_contact_read(
    conn: &mut DbConnection,
    actor: &Actor,
    id: TicketId,
    route: &'static str,
    now: NaiveDateTime,
) -> CoreResult<()> {
    diesel::insert_into(contact_reads::table)
        .values((
            contact_reads::ticket_id.eq(id),
            contact_reads::user_id.eq(actor.user_id),
            contact_reads::route.eq(route),
            contact_reads::read_at.eq(truncate_to_micros(now)),
        ))
        .execute(conn)?;
    Ok(())
}

/// One showing of a resident's whole contact.
#[derive(Debug, Clone, PartialEq, Serialize, Queryable)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ContactRead {
    pub id: i64,
    pub ticket_id: TicketId,
    /// The ticket's number.
    pub number: String,
    pub user_id: UserId,
    pub username: String,
    /// Where it was shown: `GET /api/v1/tickets/{id}` or `GET /console/tickets/{id}`.
    pub route: String,
    #[serde(serialize_with = "crate::time::utc")]
    pub read_at: NaiveDateTime,
}

/// Which reads to list.
#[derive(Debug, Clone, Default)]
pub struct ContactReadFilter {
    pub ticket_id: Option<TicketId>,
    pub user_id: Option<UserId>,
    /// Reads at or after this instant.
    pub from: Option<NaiveDateTime>,
    /// Reads before this instant.
    pub to: Option<NaiveDateTime>,
}

/// The recorded reads of residents' contacts, oldest first: administrators only.
pub fn contact_reads(
    conn: &mut DbConnection,
    actor: &Actor,
    filter: &ContactReadFilter,
    page: PageRequest,
) -> CoreResult<Page<ContactRead>> {
    if !actor.is_admin() {
        return Err(CoreError::Forbidden(
            "who read residents' contacts is for administrators",
        ));
    }
    let mut query = contact_reads::table
        .inner_join(tickets::table)
        .inner_join(users::table)
        .select((
            contact_reads::id,
            contact_reads::ticket_id,
            tickets::number,
            contact_reads::user_id,
            users::username,
            contact_reads::route,
            contact_reads::read_at,
        ))
        .into_boxed();
    if let Some(ticket) = filter.ticket_id {
        query = query.filter(contact_reads::ticket_id.eq(ticket));
    }
    if let Some(user) = filter.user_id {
        query = query.filter(contact_reads::user_id.eq(user));
    }
    if let Some(from) = filter.from {
        query = query.filter(contact_reads::read_at.ge(from));
    }
    if let Some(to) = filter.to {
        query = query.filter(contact_reads::read_at.lt(to));
    }
    if let Some(after) = page.after {
        query = query.filter(contact_reads::id.gt(after));
    }
    let rows: Vec<ContactRead> = query
        .order(contact_reads::id)
        .limit(page.fetch())
        .load(conn)?;
    Ok(Page::from_rows(rows, page, |r| r.id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_keep_their_first_character() {
        assert_eq!(mask_name("陈阿姨"), "陈**");
        assert_eq!(mask_name(" 欧阳娜娜 "), "欧***");
        assert_eq!(mask_name("陈"), "*");
        assert_eq!(mask_name(""), "");
        assert_eq!(mask_name(&mask_name("陈阿姨")), "陈**");
    }

    #[test]
    fn addresses_are_cut_to_the_building() {
        for (address, cut) in [
            ("望京西园一区5号楼2单元501", "望京西园一区5号楼"),
            ("朝阳路12号院3号楼1单元502", "朝阳路12号院3号楼"),
            ("某小区A座1201室", "某小区A座"),
            ("花园小区7栋302", "花园小区7栋"),
            ("望京街10号502", "望京街10号"),
            ("某小区3-2-501", "某小区"),
            ("望京西园一区东门", "望京西园一区东门"),
        ] {
            assert_eq!(cut_address(address), cut, "{address}");
            assert_eq!(cut_address(cut), cut, "cutting {cut} again");
        }
    }

    #[test]
    fn phone_numbers_in_text_are_masked_and_nothing_else() {
        assert_eq!(
            mask_phones_in("请联系13900001111或010-12345678，2026-12-01前上门，5号楼2单元"),
            "请联系139****1111或010****5678，2026-12-01前上门，5号楼2单元"
        );
        let masked = mask_phones_in("电话 13900001111").into_owned();
        assert_eq!(mask_phones_in(&masked), masked);
        assert!(matches!(mask_phones_in("楼道灯不亮"), Cow::Borrowed(_)));
    }
}
