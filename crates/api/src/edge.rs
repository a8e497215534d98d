//! Checks every request passes before any handler runs, whatever route it is for: no
//! control characters in the path, in a query value, or in a form or JSON body (core's
//! `validate::clean_text`, one rule). A refused request gets 400 naming the field — a
//! problem+json, or Open311's own error list under `/open311` — and reaches no handler,
//! so nothing is written.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::Next;
use actix_web::{web, Error, ResponseError};
use jiesu_core::validate::clean_text;
use jiesu_core::FieldError;

use crate::problem::ApiError;

/// Finds every text field of a JSON value that breaks the rule, named by its path.
fn check_json(path: &str, value: &serde_json::Value, errors: &mut Vec<FieldError>) {
    match value {
        serde_json::Value::String(text) => {
            if let Err(e) = clean_text(if path.is_empty() { "body" } else { path }, text) {
                errors.push(e);
            }
        }
        serde_json::Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                check_json(&format!("{path}[{i}]"), item, errors);
            }
        }
        serde_json::Value::Object(map) => {
            for (key, item) in map {
                if let Err(e) = clean_text("field name", key) {
                    errors.push(e);
                }
                let inner = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                check_json(&inner, item, errors);
            }
        }
        _ => {}
    }
}

/// Checks `name=value` pairs (a query string or a form body).
fn check_pairs(bytes: &[u8], errors: &mut Vec<FieldError>) {
    for (key, value) in form_urlencoded::parse(bytes) {
        if let Err(e) = clean_text("field name", &key) {
            errors.push(e);
        }
        if let Err(e) = clean_text(&key, &value) {
            errors.push(e);
        }
    }
}

fn content_type(req: &ServiceRequest) -> String {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .unwrap_or_default()
}

/// The answer to a refused request, in the error format of the route it was for.
fn refusal(req: ServiceRequest, errors: Vec<FieldError>) -> ServiceResponse<BoxBody> {
    let response = if req.path().starts_with("/open311/") {
        let descriptions = errors
            .iter()
            .map(|e| format!("{}: {}", e.field, e.message))
            .collect();
        crate::open311::refusal_for_path(req.path(), 400, descriptions)
    } else {
        ApiError::BadRequest {
            detail: "the request holds control characters".into(),
            errors,
        }
        .error_response()
    };
    req.into_response(response)
}

/// The middleware (`actix_web::middleware::from_fn`).
pub async fn refuse_control_characters(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let mut errors = Vec::new();
    let path = percent_encoding::percent_decode_str(req.path()).decode_utf8_lossy();
    if let Err(e) = clean_text("path", &path) {
        errors.push(e);
    }
    check_pairs(req.query_string().as_bytes(), &mut errors);
    if let Some(state) = req.app_data::<web::Data<crate::state::AppState>>() {
        let limit = std::time::Duration::from_secs(state.settings.server.body_timeout_secs.max(1));
        with_body_deadline(&mut req, limit);
    }
    let json = crate::extract::is_json(req.request());
    let form = content_type(&req) == "application/x-www-form-urlencoded";
    if errors.is_empty() && (json || form) {
        // Read the body once here (within the server's size limit) and hand it on.
        let body = match req.extract::<web::Bytes>().await {
            Ok(body) => body,
            Err(e) => {
                let limit = req
                    .app_data::<web::Data<crate::state::AppState>>()
                    .map(|s| s.settings.server.body_limit_bytes)
                    .unwrap_or(256 * 1024);
                let response = if e.to_string().contains("too slowly") {
                    crate::problem::problem_response(
                        actix_web::http::StatusCode::REQUEST_TIMEOUT,
                        "the request body came too slowly".into(),
                        &[],
                        None,
                        None,
                    )
                } else {
                    crate::extract::body_error(&e, limit).error_response()
                };
                return Ok(req.into_response(response));
            }
        };
        if json {
            // Broken JSON is the extractor's to report, with its own words.
            if let Ok(value) = serde_json::from_slice::<serde_json::Value>(&body) {
                check_json("", &value, &mut errors);
            }
        } else {
            check_pairs(&body, &mut errors);
        }
        req.set_payload(actix_web::dev::Payload::from(body));
    }
    if !errors.is_empty() {
        errors.sort_by(|a, b| a.field.cmp(&b.field));
        errors.dedup_by(|a, b| a.field == b.field);
        tracing::info!(fields = %errors.iter().map(|e| e.field.as_str()).collect::<Vec<_>>().join(","), "refused control characters");
        return Ok(refusal(req, errors));
    }
    Ok(next.call(req).await?.map_into_boxed_body())
}

/// The HTTP methods the service answers; any other is refused here (405), before the
/// metrics count it, so made-up method names cannot grow the metrics without bound.
const METHODS: &[&str] = &["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

/// Whether `/metrics` may be read by this request: with `metrics.token` as a bearer
/// token, or from one of `metrics.allow_from` (loopback by default).
fn may_read_metrics(req: &ServiceRequest, settings: &jiesu_core::config::Settings) -> bool {
    let token = &settings.metrics.token;
    if !token.is_empty() {
        let given = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        if constant_time_eq(given.as_bytes(), token.as_bytes()) {
            return true;
        }
    }
    req.peer_addr().is_some_and(|peer| {
        settings.metrics.allow_from.iter().any(|a| {
            a.parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip == peer.ip())
        })
    })
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The middleware outside the metrics: standard methods only, `/metrics` only for those
/// allowed; and on every answer `Strict-Transport-Security` when the service is reached
/// over https, and `Cache-Control: private, no-store` on the API's and the console's
/// answers (they carry residents' data) unless a handler chose otherwise.
pub async fn gate(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let Some(state) = req.app_data::<web::Data<crate::state::AppState>>().cloned() else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    if !METHODS.contains(&req.method().as_str()) {
        let response = crate::problem::problem_response(
            actix_web::http::StatusCode::METHOD_NOT_ALLOWED,
            "this method is not served here".into(),
            &[],
            None,
            None,
        );
        return Ok(req.into_response(response));
    }
    if req.path() == "/metrics" && !may_read_metrics(&req, &state.settings) {
        let response = crate::problem::problem_response(
            actix_web::http::StatusCode::NOT_FOUND,
            "no such resource".into(),
            &[],
            None,
            None,
        );
        return Ok(req.into_response(response));
    }
    let private = req.path().starts_with("/api/") || req.path().starts_with("/console");
    let mut res = next.call(req).await?.map_into_boxed_body();
    let headers = res.headers_mut();
    if private && !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(
            header::CACHE_CONTROL,
            header::HeaderValue::from_static("private, no-store"),
        );
    }
    if state.settings.serves_https() {
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            header::HeaderValue::from_static("max-age=31536000"),
        );
    }
    Ok(res)
}

/// A request body must arrive whole within `server.body_timeout_secs`: a client trickling
/// a byte now and then cannot hold a connection and a worker for ever.
struct Deadline<S> {
    inner: S,
    sleep: std::pin::Pin<Box<tokio::time::Sleep>>,
    expired: bool,
}

impl<S> futures_util::Stream for Deadline<S>
where
    S: futures_util::Stream<Item = Result<web::Bytes, actix_web::error::PayloadError>> + Unpin,
{
    type Item = Result<web::Bytes, actix_web::error::PayloadError>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        use std::task::Poll;
        if self.expired {
            return Poll::Ready(None);
        }
        if std::future::Future::poll(self.sleep.as_mut(), cx).is_ready() {
            self.expired = true;
            return Poll::Ready(Some(Err(actix_web::error::PayloadError::Io(
                std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "the request body came too slowly",
                ),
            ))));
        }
        std::pin::Pin::new(&mut self.inner).poll_next(cx)
    }
}

/// Puts the body deadline on a request's payload.
fn with_body_deadline(req: &mut ServiceRequest, limit: std::time::Duration) {
    let inner = actix_web::HttpMessage::take_payload(req);
    let stream = Deadline {
        inner,
        sleep: Box::pin(tokio::time::sleep(limit)),
        expired: false,
    };
    req.set_payload(actix_web::dev::Payload::Stream {
        payload: Box::pin(stream),
    });
}
