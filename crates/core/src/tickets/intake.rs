//! What an intake channel brought with a ticket (an Open311 request's answers, photo link
//! and reporter), as the ticket's page shows it. The channel writes it (`open311`); the
//! ticket reads it here.

use std::collections::BTreeMap;

use diesel::prelude::*;
use serde::Serialize;

use crate::db::DbConnection;
use crate::error::CoreResult;
use crate::ids::TicketId;
use crate::schema::{open311_keys, open311_requests};

/// The ids of the tickets that came in by `channel`, for `tickets::id.eq_any(…)`: the one
/// form of the channel filter (lists, the rates' replay, urgings, weekly volumes; the
/// rates' set-wise SQL writes the same in its text).
#[allow(clippy::type_complexity)]
pub fn came_in_by(
    channel: crate::types::IntakeChannel,
) -> diesel::dsl::Select<
    diesel::dsl::Filter<
        crate::schema::ticket_intake::table,
        diesel::dsl::Eq<crate::schema::ticket_intake::channel, crate::types::IntakeChannel>,
    >,
    crate::schema::ticket_intake::ticket_id,
> {
    use crate::schema::ticket_intake;
    ticket_intake::table
        .filter(ticket_intake::channel.eq(channel))
        .select(ticket_intake::ticket_id)
}

/// What an Open311 request brought with it, as the ticket's page shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RequestData {
    /// The channel (key) it came in by.
    pub channel: String,
    /// The `attribute[CODE]` answers, by code.
    pub attributes: BTreeMap<String, Vec<String>>,
    /// A photo the reporter's app published.
    pub media_url: Option<String>,
    /// The community or grid code the reporter gave.
    pub address_id: Option<String>,
    /// Who reported it, as the channel told us; only for those who may reach the resident.
    pub reporter: Option<Reporter>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Reporter {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
    pub device_id: Option<String>,
    pub account_id: Option<String>,
}

/// The columns `RequestData` is made of, on `open311_requests` joined to its key
/// (`RequestColumns::default()` selects them).
pub(crate) type RequestColumns = (
    open311_keys::channel,
    open311_requests::attributes,
    open311_requests::media_url,
    open311_requests::address_id,
    open311_requests::first_name,
    open311_requests::last_name,
    open311_requests::email,
    open311_requests::device_id,
    open311_requests::account_id,
);

/// A row of `RequestColumns`.
pub(crate) type RequestRow = (
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
);

/// The Open311 request a ticket came from, if any. `show_reporter`: the caller may see the
/// resident's contact (the same rule as the ticket's `resident`).
pub fn request_data(
    conn: &mut DbConnection,
    id: TicketId,
    show_reporter: bool,
) -> CoreResult<Option<RequestData>> {
    let row: Option<RequestRow> = open311_requests::table
        .inner_join(open311_keys::table)
        .filter(open311_requests::ticket_id.eq(id))
        .select(RequestColumns::default())
        .first(conn)
        .optional()?;
    Ok(row.map(|row| RequestData::from_row(row, show_reporter)))
}

impl RequestData {
    pub(crate) fn from_row(row: RequestRow, show_reporter: bool) -> Self {
        let (channel, attributes, media_url, address_id, first, last, email, device, account) = row;
        RequestData {
            channel,
            attributes: serde_json::from_str(&attributes).unwrap_or_default(),
            media_url,
            address_id,
            reporter: show_reporter.then_some(Reporter {
                first_name: first,
                last_name: last,
                email,
                device_id: device,
                account_id: account,
            }),
        }
    }
}
