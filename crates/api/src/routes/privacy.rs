//! Who was shown residents' contacts (the Personal Information Protection Law's
//! accountability): administrators read the record, and export it.

use actix_web::{get, web, HttpResponse};
use chrono::{DateTime, Utc};
use jiesu_core::ids::{TicketId, UserId};
use jiesu_core::pagination::Page;
use jiesu_core::privacy::{self, ContactRead, ContactReadFilter};
use serde::Deserialize;

use super::Paging;
use crate::auth::{Auth, BearerOrCookie};
use crate::extract::ValidQuery;
use crate::problem::ApiError;
use crate::routes::stats::{csv_export, time_cell};
use crate::state::AppState;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ContactReadQuery {
    /// Only reads of this ticket.
    ticket_id: Option<TicketId>,
    /// Only reads by this account.
    user_id: Option<UserId>,
    /// Reads at or after this instant (RFC 3339).
    from: Option<DateTime<Utc>>,
    /// Reads before this instant (RFC 3339).
    to: Option<DateTime<Utc>>,
}

impl ContactReadQuery {
    fn filter(self) -> ContactReadFilter {
        ContactReadFilter {
            ticket_id: self.ticket_id,
            user_id: self.user_id,
            from: self.from.map(|t| t.naive_utc()),
            to: self.to.map(|t| t.naive_utc()),
        }
    }
}

/// `GET /contact-reads`: every showing of a resident's whole contact (a ticket's own page,
/// API or console), oldest first; administrators only.
#[utoipa::path(tag = "users", params(ContactReadQuery, Paging), responses((status = 200, description = "Who was shown which resident's contact, when and where", body = Page<ContactRead>)))]
#[get("/contact-reads")]
pub async fn list_contact_reads(
    state: web::Data<AppState>,
    auth: Auth,
    q: ValidQuery<ContactReadQuery>,
    paging: ValidQuery<Paging>,
) -> Result<HttpResponse, ApiError> {
    let page = paging.0.page()?;
    let filter = q.0.filter();
    state
        .read_respond(auth, move |conn, actor, _| {
            privacy::contact_reads(conn, actor, &filter, page)
        })
        .await
}

const HEADERS: &[&str] = &[
    "序号 id",
    "工单ID ticket_id",
    "编号 number",
    "账号ID user_id",
    "账号 username",
    "途径 route",
    "时间 read_at",
];

/// `GET /contact-reads.csv` (the filters of `GET /contact-reads`).
#[utoipa::path(tag = "exports", params(ContactReadQuery), responses((status = 200, description = "UTF-8 CSV with BOM", content_type = "text/csv", body = String)))]
#[get("/contact-reads.csv")]
pub async fn contact_reads_csv(
    state: web::Data<AppState>,
    BearerOrCookie(auth): BearerOrCookie,
    q: ValidQuery<ContactReadQuery>,
) -> Result<HttpResponse, ApiError> {
    let filter = q.0.filter();
    csv_export(
        state,
        auth,
        "contact-reads.csv",
        HEADERS,
        move |conn, actor, page, _| privacy::contact_reads(conn, actor, &filter, page),
        |r: &ContactRead| {
            vec![
                r.id.to_string(),
                r.ticket_id.to_string(),
                r.number.clone(),
                r.user_id.to_string(),
                r.username.clone(),
                r.route.clone(),
                time_cell(Some(r.read_at)),
            ]
        },
    )
    .await
}
