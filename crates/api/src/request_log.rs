//! One log line per request, with what operators need and no residents' data: the method,
//! the route pattern and the path — never the query string, where a search for a phone
//! number would land —, the status, the request id, and the client address as sign-in
//! throttling sees it (the socket's, or a trusted proxy's `X-Forwarded-For`, never a
//! header a client set itself). An error is logged with its sentence (`Display`), never
//! its `Debug` form, which can carry a ticket's contents.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::{web, Error, HttpMessage};
use tracing::Span;
use tracing_actix_web::{RequestId, RootSpanBuilder};

use crate::state::AppState;

pub struct PrivateRootSpan;

impl RootSpanBuilder for PrivateRootSpan {
    fn on_request_start(request: &ServiceRequest) -> Span {
        let client = request
            .app_data::<web::Data<AppState>>()
            .map(|s| crate::signin::client_address(request.request(), &s.settings))
            .unwrap_or_default();
        let route = request
            .match_pattern()
            .unwrap_or_else(|| "unmatched".into());
        let request_id = request
            .extensions()
            .get::<RequestId>()
            .map(|id| id.to_string())
            .unwrap_or_default();
        tracing::info_span!(
            "HTTP request",
            http.method = %request.method(),
            http.route = %route,
            http.target = %request.path(),
            http.client_ip = %client,
            request_id = %request_id,
            http.status_code = tracing::field::Empty,
            exception.message = tracing::field::Empty,
        )
    }

    fn on_request_end<B: MessageBody>(span: Span, outcome: &Result<ServiceResponse<B>, Error>) {
        let (status, error) = match outcome {
            Ok(response) => (
                response.status(),
                response.response().error().map(|e| e.to_string()),
            ),
            Err(e) => (e.as_response_error().status_code(), Some(e.to_string())),
        };
        span.record("http.status_code", status.as_u16());
        if let Some(message) = error {
            span.record("exception.message", message.as_str());
            let _entered = span.enter();
            if status.is_server_error() {
                tracing::error!(status = status.as_u16(), "{message}");
            } else {
                tracing::info!(status = status.as_u16(), "{message}");
            }
        }
    }
}
