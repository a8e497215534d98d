//! `/tickets` and `/pool`: logging (with `Idempotency-Key`), reads, the lifecycle calls
//! (each one core `transition`), and photos.

use actix_multipart::Multipart;
use actix_web::http::{header, StatusCode};
use actix_web::{get, post};
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use jiesu_core::ids::{AttachmentId, OrgUnitId, PartnerId, TicketId};
use jiesu_core::pagination::Page;
use jiesu_core::tickets::attachments;
use jiesu_core::tickets::lifecycle::{self, Action, DispatchRequest};
use jiesu_core::tickets::logging::{self, IdempotencyKey, NewTicket};
use jiesu_core::tickets::queries::TicketDetail;
use jiesu_core::tickets::queries::{self, TicketFilter};
use jiesu_core::tickets::Ticket;
use jiesu_core::types::{Satisfaction, TicketStatus};
use jiesu_core::{CoreError, FieldError};
use serde::Deserialize;

use super::Paging;
use crate::auth::Auth;
use crate::extract::{ValidJson, ValidQuery};
use crate::problem::ApiError;
use crate::state::AppState;

/// The multipart body of `POST /tickets/{id}/attachments` (for the API document).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct PhotoUpload {
    /// JPEG, PNG or WebP, at most `attachments.max_bytes`.
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
}

const IDEMPOTENCY_KEY: &str = "idempotency-key";

fn idempotency_key(req: &HttpRequest) -> Result<Option<String>, ApiError> {
    let Some(value) = req.headers().get(IDEMPOTENCY_KEY) else {
        return Ok(None);
    };
    let key = value
        .to_str()
        .ok()
        .map(str::trim)
        .filter(|k| !k.is_empty() && k.len() <= 200);
    key.map(|k| Some(k.to_owned())).ok_or_else(|| {
        ApiError::Core(CoreError::invalid(
            "Idempotency-Key",
            "invalid",
            "1 to 200 visible ASCII characters",
        ))
    })
}

/// `POST /tickets`: 201 with the ticket; a retry with the same `Idempotency-Key` and body
/// gets the same ticket again, a different body under the same key 422.
#[utoipa::path(tag = "tickets", request_body = NewTicket, params(("Idempotency-Key" = Option<String>, Header, description = "1 to 200 characters; a retry with the same key and body returns the first ticket")), responses((status = 201, description = "Logged (or, with `idempotent-replayed: true`, the earlier ticket for this key)", body = Ticket)))]
#[post("/tickets")]
pub async fn create(
    state: web::Data<AppState>,
    auth: Auth,
    req: HttpRequest,
    body: ValidJson<NewTicket>,
) -> Result<HttpResponse, ApiError> {
    let input = body.0;
    let key = idempotency_key(&req)?.map(|key| IdempotencyKey {
        key,
        request_hash: logging::request_hash(&input),
        window: state.settings.idempotency.window(),
    });
    let env = state.ticket_env();
    let logged = state
        .as_actor(auth, move |conn, actor, now| {
            let ctx = env.at(now);
            logging::log(conn, actor, &input, key.as_ref(), &ctx)
        })
        .await?;
    let mut response = HttpResponse::Created();
    response.insert_header((
        header::LOCATION,
        format!("/api/v1/tickets/{}", logged.ticket.id),
    ));
    if logged.replayed {
        response.insert_header(("idempotent-replayed", "true"));
    }
    Ok(response.json(logged.ticket))
}

/// The filters of `GET /tickets` (and of its CSV export).
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// One status or several, comma-separated.
    status: Option<String>,
    category: Option<String>,
    org_unit_id: Option<OrgUnitId>,
    partner_id: Option<PartnerId>,
    overdue: Option<bool>,
    /// 即将超时: past the first warning point of the running deadline, not yet late.
    warning: Option<bool>,
    level: Option<i32>,
    /// Escalated above the community at least once (`true`), or never (`false`).
    escalated: Option<bool>,
    /// Open, with the running deadline (the one `overdue` reads) before this instant; with
    /// `overdue=false` and the next midnight: what falls due today.
    due_before: Option<DateTime<Utc>>,
    created_from: Option<DateTime<Utc>>,
    created_to: Option<DateTime<Utc>>,
    q: Option<String>,
    /// The ticket's number, exactly (`110105-2026-000003`).
    number: Option<String>,
    /// The resident's phone: the last four digits or the whole 11-digit number. Grid
    /// members, supervisors and administrators; for a unit's staff it matches nothing.
    phone: Option<String>,
    /// Text in the address, as typed.
    address: Option<String>,
    /// How the tickets came in: `hotline` (12345 transfers), `patrol`, `walk_in`, `app`,
    /// `web` or `other`.
    channel: Option<String>,
    /// A hotline transfer's number at the hotline, exactly.
    hotline_ref: Option<String>,
    /// `logged` (the default: newest first) or `deadline` (the tickets being worked, the
    /// earliest running deadline first: the late ones most late first, then those due
    /// soonest).
    sort: Option<String>,
}

fn statuses(text: Option<&str>) -> Result<Vec<TicketStatus>, ApiError> {
    let Some(text) = text else { return Ok(vec![]) };
    text.split(',')
        .map(|s| s.trim().parse::<TicketStatus>())
        .collect::<Result<_, _>>()
        .map_err(|e| ApiError::Core(CoreError::invalid("status", "invalid", e.to_string())))
}

#[utoipa::path(tag = "tickets", params(ListQuery, super::Paging), responses((status = 200, description = "A page of tickets in your scope, newest first", body = Page<Ticket>)))]
#[get("/tickets")]
pub async fn list(
    state: web::Data<AppState>,
    auth: Auth,
    q: ValidQuery<ListQuery>,
    paging: ValidQuery<Paging>,
) -> Result<HttpResponse, ApiError> {
    let page = paging.0.page()?;
    let filter = q.0.filter()?;
    let reference = state.reference.clone();
    state
        .read_respond(auth, move |conn, actor, now| {
            queries::list(conn, &reference, actor, &filter, page, now)
        })
        .await
}

impl ListQuery {
    pub fn filter(self) -> Result<TicketFilter, ApiError> {
        let q = self;
        Ok(TicketFilter {
            statuses: statuses(q.status.as_deref())?,
            category: q.category,
            org_unit_id: q.org_unit_id,
            partner_id: q.partner_id,
            overdue: q.overdue,
            warning: q.warning,
            level: q.level,
            escalated: q.escalated,
            due_before: q.due_before.map(|t| t.naive_utc()),
            created_from: q.created_from.map(|t| t.naive_utc()),
            created_to: q.created_to.map(|t| t.naive_utc()),
            q: q.q,
            number: q.number.filter(|n| !n.trim().is_empty()),
            phone: q.phone.filter(|p| !p.trim().is_empty()),
            address: q.address,
            channel: jiesu_core::tickets::logging::channel_of(q.channel.as_deref())?,
            hotline_ref: q.hotline_ref.filter(|r| !r.trim().is_empty()),
            by_deadline: match q.sort.as_deref() {
                None | Some("logged") => false,
                Some("deadline") => true,
                Some(other) => {
                    return Err(ApiError::Core(CoreError::invalid(
                        "sort",
                        "invalid",
                        format!("{other:?}: use logged or deadline"),
                    )))
                }
            },
        })
    }
}

#[utoipa::path(tag = "tickets", responses((status = 200, description = "The ticket with its timeline and photos", body = TicketDetail)))]
#[get("/tickets/{id}")]
pub async fn get(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let id = TicketId(id.into_inner());
    state
        .respond(auth, StatusCode::OK, move |conn, actor, now| {
            queries::get(conn, actor, id, "GET /api/v1/tickets/{id}", now)
        })
        .await
}

#[utoipa::path(tag = "tickets", params(super::Paging), responses((status = 200, description = "Pool tickets a unit may claim", body = Page<Ticket>)))]
#[get("/pool")]
pub async fn pool(
    state: web::Data<AppState>,
    auth: Auth,
    q: ValidQuery<Paging>,
) -> Result<HttpResponse, ApiError> {
    let page = q.0.page()?;
    state
        .read_respond(auth, move |conn, actor, now| {
            queries::pool(conn, actor, page, now)
        })
        .await
}

async fn run(
    state: web::Data<AppState>,
    auth: Auth,
    id: i64,
    action: Action,
) -> Result<HttpResponse, ApiError> {
    let id = TicketId(id);
    let env = state.ticket_env();
    state
        .respond(auth, StatusCode::OK, move |conn, actor, now| {
            let ctx = env.at(now);
            lifecycle::transition(conn, actor, id, &action, &ctx)
        })
        .await
}

#[utoipa::path(tag = "tickets", request_body = DispatchRequest, responses((status = 200, description = "Dispatched", body = Ticket)))]
#[post("/tickets/{id}/dispatch")]
pub async fn dispatch(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<i64>,
    body: ValidJson<DispatchRequest>,
) -> Result<HttpResponse, ApiError> {
    let to = body.0.target()?;
    run(
        state,
        auth,
        id.into_inner(),
        Action::Dispatch {
            to,
            note: body.0.note,
        },
    )
    .await
}

#[utoipa::path(tag = "tickets", request_body = DispatchRequest, responses((status = 200, description = "Reassigned", body = Ticket)))]
#[post("/tickets/{id}/reassign")]
pub async fn reassign(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<i64>,
    body: ValidJson<DispatchRequest>,
) -> Result<HttpResponse, ApiError> {
    let to = body.0.target()?;
    run(
        state,
        auth,
        id.into_inner(),
        Action::Reassign {
            to,
            note: body.0.note,
        },
    )
    .await
}

/// `POST /tickets/{id}/claim`: the first claim wins; later ones get 409 with the holder.
#[utoipa::path(tag = "tickets", responses((status = 200, description = "Claimed: the caller's unit now holds the ticket", body = Ticket)))]
#[post("/tickets/{id}/claim")]
pub async fn claim(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    run(state, auth, id.into_inner(), Action::Claim).await
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct ReasonBody {
    reason: String,
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct NoteBody {
    note: String,
}

#[utoipa::path(tag = "tickets", request_body = ReasonBody, responses((status = 200, description = "Returned to the dispatcher", body = Ticket)))]
#[post("/tickets/{id}/return")]
pub async fn give_back(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<i64>,
    body: ValidJson<ReasonBody>,
) -> Result<HttpResponse, ApiError> {
    run(
        state,
        auth,
        id.into_inner(),
        Action::Return {
            reason: body.0.reason,
        },
    )
    .await
}

#[utoipa::path(tag = "tickets", request_body = NoteBody, responses((status = 200, description = "Progress noted", body = Ticket)))]
#[post("/tickets/{id}/progress")]
pub async fn progress(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<i64>,
    body: ValidJson<NoteBody>,
) -> Result<HttpResponse, ApiError> {
    run(
        state,
        auth,
        id.into_inner(),
        Action::Progress { note: body.0.note },
    )
    .await
}

/// `POST /tickets/{id}/urge`: a supervisor above the ticket's community urges the unit
/// holding it (催办): a timeline event and a mail to the unit; the ticket is unchanged.
#[utoipa::path(tag = "tickets", request_body = NoteBody, responses((status = 201, description = "Urged; the unit is mailed", body = jiesu_core::tickets::urging::Urged)))]
#[post("/tickets/{id}/urge")]
pub async fn urge(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<i64>,
    body: ValidJson<NoteBody>,
) -> Result<HttpResponse, ApiError> {
    let (id, note) = (TicketId(id.into_inner()), body.0.note);
    let env = state.ticket_env();
    state
        .respond(auth, StatusCode::CREATED, move |conn, actor, now| {
            jiesu_core::tickets::urging::urge(conn, actor, id, &note, &env.at(now))
        })
        .await
}

/// `POST /tickets/{id}/erase-resident`: an administrator erases the resident's personal
/// data from a ticket on the resident's request (the Personal Information Protection
/// Law's right to deletion): name and phone removed, the address cut to the building,
/// phone numbers in the description masked, the Open311 reporter's contact forgotten; the
/// timeline records who and why. A second erasure is 409.
#[utoipa::path(tag = "tickets", request_body = ReasonBody, responses((status = 200, description = "Erased; the timeline records it", body = jiesu_core::privacy::Erased)))]
#[post("/tickets/{id}/erase-resident")]
pub async fn erase_resident(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<i64>,
    body: ValidJson<ReasonBody>,
) -> Result<HttpResponse, ApiError> {
    let (id, reason) = (TicketId(id.into_inner()), body.0.reason);
    state
        .respond(auth, StatusCode::OK, move |conn, actor, now| {
            jiesu_core::privacy::erase(conn, actor, id, &reason, now)
        })
        .await
}

#[utoipa::path(tag = "tickets", request_body = NoteBody, responses((status = 200, description = "Resolved, awaiting the return visit", body = Ticket)))]
#[post("/tickets/{id}/resolve")]
pub async fn resolve(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<i64>,
    body: ValidJson<NoteBody>,
) -> Result<HttpResponse, ApiError> {
    run(
        state,
        auth,
        id.into_inner(),
        Action::Resolve { note: body.0.note },
    )
    .await
}

#[derive(Deserialize, utoipa::ToSchema)]
#[schema(example = json!({"satisfaction": "satisfied", "comment": "居民很满意"}))]
pub struct FeedbackBody {
    satisfaction: Satisfaction,
    comment: Option<String>,
}

#[utoipa::path(tag = "tickets", request_body = FeedbackBody, responses((status = 200, description = "Closed, or reopened when the resident is dissatisfied", body = Ticket)))]
#[post("/tickets/{id}/feedback")]
pub async fn feedback(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<i64>,
    body: ValidJson<FeedbackBody>,
) -> Result<HttpResponse, ApiError> {
    let FeedbackBody {
        satisfaction,
        comment,
    } = body.0;
    run(
        state,
        auth,
        id.into_inner(),
        Action::Feedback {
            satisfaction,
            comment,
        },
    )
    .await
}

#[utoipa::path(tag = "tickets", request_body = ReasonBody, responses((status = 200, description = "Cancelled", body = Ticket)))]
#[post("/tickets/{id}/cancel")]
pub async fn cancel(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<i64>,
    body: ValidJson<ReasonBody>,
) -> Result<HttpResponse, ApiError> {
    run(
        state,
        auth,
        id.into_inner(),
        Action::Cancel {
            reason: body.0.reason,
        },
    )
    .await
}

/// `POST /tickets/{id}/pause` `{reason}`: waiting on the resident; the SLA clock stands still.
#[utoipa::path(tag = "tickets", request_body = ReasonBody, responses((status = 200, description = "Paused: waiting on the resident", body = Ticket)))]
#[post("/tickets/{id}/pause")]
pub async fn pause(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<i64>,
    body: ValidJson<ReasonBody>,
) -> Result<HttpResponse, ApiError> {
    run(
        state,
        auth,
        id.into_inner(),
        Action::Pause {
            reason: body.0.reason,
        },
    )
    .await
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct ResumeBody {
    note: Option<String>,
}

/// `POST /tickets/{id}/resume`: the wait is over; deadlines move on by the time waited.
#[utoipa::path(tag = "tickets", request_body = ResumeBody, responses((status = 200, description = "Resumed; deadlines moved on by the time waited", body = Ticket)))]
#[post("/tickets/{id}/resume")]
pub async fn resume(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<i64>,
    body: ValidJson<ResumeBody>,
) -> Result<HttpResponse, ApiError> {
    run(
        state,
        auth,
        id.into_inner(),
        Action::Resume { note: body.0.note },
    )
    .await
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct MergeBody {
    into: TicketId,
    note: Option<String>,
}

#[utoipa::path(tag = "tickets", request_body = MergeBody, responses((status = 200, description = "Merged into another ticket", body = Ticket)))]
#[post("/tickets/{id}/merge")]
pub async fn merge(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<i64>,
    body: ValidJson<MergeBody>,
) -> Result<HttpResponse, ApiError> {
    let MergeBody { into, note } = body.0;
    run(state, auth, id.into_inner(), Action::Merge { into, note }).await
}

/// `POST /tickets/{id}/attachments`: multipart with one part named `file`. Reading stops
/// one byte past the limit, so an oversized upload is never held in memory.
#[utoipa::path(tag = "tickets", request_body(content = PhotoUpload, content_type = "multipart/form-data"), responses((status = 201, description = "Stored", body = jiesu_core::tickets::attachments::Attachment)))]
#[post("/tickets/{id}/attachments")]
pub async fn attach(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<i64>,
    mut form: Multipart,
) -> Result<HttpResponse, ApiError> {
    // Parts other than `file` are read only this far (and only so many of them), so an
    // upload cannot make the server read without end.
    const OTHER_PART_MAX: usize = 16 * 1024;
    const PARTS_MAX: usize = 16;
    let max = state.settings.attachments.max_bytes;
    let mut file: Option<(String, Vec<u8>)> = None;
    let mut parts = 0;
    while let Some(field) = form.next().await {
        let mut field = field.map_err(|e| ApiError::BadRequest {
            detail: format!("the multipart body could not be read: {e}"),
            errors: vec![],
        })?;
        parts += 1;
        if parts > PARTS_MAX {
            return Err(ApiError::PayloadTooLarge {
                limit: OTHER_PART_MAX,
            });
        }
        if field.name() != Some("file") {
            let mut seen = 0;
            while let Some(chunk) = field.next().await {
                seen += chunk.map(|c| c.len()).unwrap_or(0);
                if seen > OTHER_PART_MAX {
                    return Err(ApiError::PayloadTooLarge {
                        limit: OTHER_PART_MAX,
                    });
                }
            }
            continue;
        }
        let name = field
            .content_disposition()
            .and_then(|d| d.get_filename())
            .unwrap_or("photo")
            .to_owned();
        let mut bytes = Vec::new();
        while let Some(chunk) = field.next().await {
            let chunk = chunk.map_err(|e| ApiError::BadRequest {
                detail: format!("the upload broke off: {e}"),
                errors: vec![],
            })?;
            bytes.extend_from_slice(&chunk[..chunk.len().min(max + 1 - bytes.len())]);
            if bytes.len() > max {
                break;
            }
        }
        file = Some((name, bytes));
        break;
    }
    let (name, bytes) = file.ok_or_else(|| {
        ApiError::Core(CoreError::Invalid(vec![FieldError::new(
            "file",
            "required",
            "send the photo as a multipart part named file",
        )]))
    })?;
    let actor = state
        .as_actor(auth, |_, actor, _| Ok(actor.clone()))
        .await?;
    let added = state
        .add_photo(actor, TicketId(id.into_inner()), &name, bytes)
        .await?;
    Ok(HttpResponse::Created().json(added))
}

/// `GET /tickets/{id}/attachments/{attachment}`: the photo, to those who may see the ticket.
#[utoipa::path(tag = "tickets", responses((status = 200, description = "The photo (JPEG, PNG or WebP)", content_type = "image/*", body = Vec<u8>)))]
#[get("/tickets/{id}/attachments/{attachment}")]
pub async fn attachment(
    state: web::Data<AppState>,
    auth: Auth,
    req: HttpRequest,
    path: web::Path<(i64, i64)>,
) -> Result<HttpResponse, ApiError> {
    let (ticket, id) = path.into_inner();
    let meta = state
        .as_actor(auth, move |conn, actor, _| {
            attachments::open(conn, actor, TicketId(ticket), AttachmentId(id))
        })
        .await?;
    Ok(photo_response(&state.photos, &meta, &req).await?)
}

/// A stored photo as a response, with its stored type and its SHA-256 as the ETag (the
/// bytes never change under a name): 304 to a client that has it (the API and the console).
pub(crate) async fn photo_response(
    photos: &jiesu_core::photos::Photos,
    meta: &attachments::Attachment,
    req: &HttpRequest,
) -> Result<HttpResponse, CoreError> {
    use actix_web::http::header::{ETag, EntityTag, IfNoneMatch};
    use actix_web::HttpMessage;
    let etag = EntityTag::new_strong(meta.sha256.clone());
    let cached = match req.get_header::<IfNoneMatch>() {
        Some(IfNoneMatch::Any) => true,
        Some(IfNoneMatch::Items(tags)) => tags.iter().any(|t| t.weak_eq(&etag)),
        None => false,
    };
    if cached {
        return Ok(HttpResponse::NotModified()
            .insert_header(ETag(etag))
            .finish());
    }
    let bytes = photos.get(&meta.sha256).await?;
    Ok(HttpResponse::Ok()
        .content_type(meta.content_type.as_str())
        .insert_header(ETag(etag))
        .body(bytes))
}

/// `GET /escalations`: the escalated tickets of the caller's scope with their rises.
#[utoipa::path(tag = "escalation", params(super::Paging), responses((status = 200, description = "Escalated tickets of your scope with their rises", body = Page<jiesu_core::escalation::EscalatedTicket>)))]
#[get("/escalations")]
pub async fn escalations(
    state: web::Data<AppState>,
    auth: Auth,
    q: ValidQuery<Paging>,
) -> Result<HttpResponse, ApiError> {
    let page = q.0.page()?;
    state
        .read_respond(auth, move |conn, actor, now| {
            jiesu_core::escalation::list(conn, actor, page, now)
        })
        .await
}

/// `GET /outbox`: mail delivery status for administrators (pending, failing, sent).
#[utoipa::path(tag = "escalation", responses((status = 200, description = "Mail delivery status (administrators)", body = jiesu_core::outbox::OutboxStatus)))]
#[get("/outbox")]
pub async fn outbox_status(
    state: web::Data<AppState>,
    auth: Auth,
) -> Result<HttpResponse, ApiError> {
    state
        .respond(auth, StatusCode::OK, move |conn, actor, _| {
            actor.require_role(
                &[jiesu_core::types::Role::Admin],
                "only an administrator reads the outbox status",
            )?;
            jiesu_core::outbox::status(conn)
        })
        .await
}
