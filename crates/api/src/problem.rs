//! RFC 9457 problem+json for every error the API returns. Each `CoreError` kind maps onto
//! exactly one status; a 500 is logged with its cause and the caller sees only its id.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::ServiceResponse;
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::middleware::ErrorHandlerResponse;
use actix_web::{HttpResponse, ResponseError};
use jiesu_core::{CoreError, FieldError};
use serde::Serialize;

pub const PROBLEM_JSON: &str = "application/problem+json";

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(transparent)]
    Core(#[from] CoreError),
    /// The body or query could not be read at all (malformed JSON, bad query string).
    #[error("{detail}")]
    BadRequest {
        detail: String,
        errors: Vec<FieldError>,
    },
    #[error("the request body is larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("{0}")]
    UnsupportedMediaType(String),
}

/// The one status each kind of core error answers with, in the API and in the console.
pub fn status_of(e: &CoreError) -> StatusCode {
    match e {
        CoreError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
        CoreError::NotFound(_) => StatusCode::NOT_FOUND,
        CoreError::Conflict { .. } => StatusCode::CONFLICT,
        CoreError::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
        CoreError::Forbidden(_) => StatusCode::FORBIDDEN,
        CoreError::Throttled { .. } => StatusCode::TOO_MANY_REQUESTS,
        CoreError::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
        CoreError::Database { .. } | CoreError::Internal { .. } => {
            StatusCode::INTERNAL_SERVER_ERROR
        }
    }
}

/// An RFC 9457 problem: what every error response of the API carries.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = Problem)]
pub struct Problem<'a> {
    /// A reference identifying the kind of problem, e.g. `/problems/unprocessable-entity`.
    #[serde(rename = "type")]
    #[schema(example = "/problems/unprocessable-entity")]
    kind: String,
    #[schema(value_type = String, example = "Unprocessable Entity")]
    title: &'a str,
    #[schema(example = 422)]
    status: u16,
    #[schema(example = "the request has invalid fields")]
    detail: String,
    /// One entry per invalid field, naming it by its path in the request.
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    #[schema(value_type = Vec<FieldError>)]
    errors: &'a [FieldError],
    /// On a 409: the resource as it is now, e.g. the ticket another unit claimed first.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    current: Option<&'a serde_json::Value>,
    /// On a 429 or 503: when to try again (also in `Retry-After`).
    #[serde(skip_serializing_if = "Option::is_none")]
    retry_after_secs: Option<u64>,
}

/// The `type` URI of a problem, relative to the service (RFC 9457 allows a reference).
fn type_uri(status: StatusCode) -> String {
    let slug = status
        .canonical_reason()
        .unwrap_or("error")
        .to_ascii_lowercase()
        .replace(' ', "-");
    format!("/problems/{slug}")
}

pub fn problem_response(
    status: StatusCode,
    detail: String,
    errors: &[FieldError],
    current: Option<&serde_json::Value>,
    retry_after_secs: Option<u64>,
) -> HttpResponse {
    let body = Problem {
        kind: type_uri(status),
        title: status.canonical_reason().unwrap_or("Error"),
        status: status.as_u16(),
        detail,
        errors,
        current,
        retry_after_secs,
    };
    let mut response = HttpResponse::build(status);
    response.insert_header((header::CONTENT_TYPE, PROBLEM_JSON));
    if let Some(secs) = retry_after_secs {
        response.insert_header((header::RETRY_AFTER, secs.to_string()));
    }
    if status == StatusCode::UNAUTHORIZED {
        response.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
    }
    response.body(serde_json::to_string(&body).unwrap_or_default())
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::Core(e) => status_of(e),
            ApiError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        match self {
            ApiError::Core(CoreError::Invalid(errors)) => problem_response(
                status,
                "the request has invalid fields".into(),
                errors,
                None,
                None,
            ),
            ApiError::Core(CoreError::Conflict { message, current }) => {
                problem_response(status, message.clone(), &[], current.as_ref(), None)
            }
            ApiError::Core(CoreError::Throttled { retry_after_secs }) => {
                problem_response(status, self.to_string(), &[], None, Some(*retry_after_secs))
            }
            ApiError::Core(e @ CoreError::Unavailable { what, .. }) => {
                tracing::error!(error = %e.chain(), at = %e.place(), "{what} unavailable");
                problem_response(
                    status,
                    format!("{what} is unavailable; try again shortly"),
                    &[],
                    None,
                    Some(5),
                )
            }
            ApiError::Core(e @ (CoreError::Database { .. } | CoreError::Internal { .. })) => {
                tracing::error!(error = %e.chain(), at = %e.place(), "internal error");
                problem_response(
                    status,
                    "an internal error occurred; it has been logged with this request's id".into(),
                    &[],
                    None,
                    None,
                )
            }
            ApiError::BadRequest { detail, errors } => {
                problem_response(status, detail.clone(), errors, None, None)
            }
            other => problem_response(status, other.to_string(), &[], None, None),
        }
    }
}

/// Marks an error response whose body is already in its protocol's own error format
/// (Open311's `{code, description}` list), which `to_problem` leaves alone.
pub struct OwnErrorFormat;

/// Turns any error response that is not problem+json yet (actix's own 404/405, a
/// panic's 500) into one, so every client sees one error format.
pub fn to_problem<B: MessageBody + 'static>(
    res: ServiceResponse<B>,
) -> actix_web::Result<ErrorHandlerResponse<B>> {
    let already = res
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v == HeaderValue::from_static(PROBLEM_JSON));
    if already || res.response().extensions().contains::<OwnErrorFormat>() {
        return Ok(ErrorHandlerResponse::Response(res.map_into_left_body()));
    }
    let status = res.status();
    let detail = match status {
        StatusCode::NOT_FOUND => "no such resource".to_owned(),
        StatusCode::METHOD_NOT_ALLOWED => format!("{} is not allowed here", res.request().method()),
        _ => status.canonical_reason().unwrap_or("error").to_owned(),
    };
    let (req, _) = res.into_parts();
    let response: HttpResponse<BoxBody> = problem_response(status, detail, &[], None, None);
    Ok(ErrorHandlerResponse::Response(
        ServiceResponse::new(req, response).map_into_right_body(),
    ))
}
