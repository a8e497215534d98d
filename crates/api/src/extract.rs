//! Request extractors that turn every malformed input into a problem naming the field:
//! `ValidJson` (415 for another content type, 413 over the size limit, 400 for broken
//! JSON, 422 naming the field of a wrong type or a missing one) and `ValidQuery`.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpRequest};
use jiesu_core::{CoreError, FieldError};
use serde::de::DeserializeOwned;

use crate::problem::ApiError;
use crate::state::AppState;

/// A JSON body deserialised into `T`.
pub struct ValidJson<T>(pub T);

/// A JSON body by its content type (`application/json` or `application/…+json`).
pub(crate) fn is_json(req: &HttpRequest) -> bool {
    let Some(value) = req.headers().get(header::CONTENT_TYPE) else {
        return false;
    };
    let Ok(text) = value.to_str() else {
        return false;
    };
    let mime = text
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"))
}

/// A body that could not be read: over the size limit (413), or broken off (400).
pub(crate) fn body_error(e: &actix_web::Error, limit: usize) -> ApiError {
    if e.as_response_error().status_code() == actix_web::http::StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::PayloadTooLarge { limit }
    } else {
        ApiError::BadRequest {
            detail: format!("the body could not be read: {e}"),
            errors: vec![],
        }
    }
}

/// Names the field serde choked on, e.g. `sla.urgent.clock` or `communities[1]`.
fn json_error(err: serde_path_to_error::Error<serde_json::Error>) -> ApiError {
    use serde_json::error::Category;
    let path = err.path().to_string();
    let inner = err.into_inner();
    match inner.classify() {
        Category::Syntax | Category::Eof | Category::Io => ApiError::BadRequest {
            detail: format!("the body is not valid JSON: {inner}"),
            errors: vec![],
        },
        Category::Data => {
            let message = inner.to_string();
            let message = message
                .split(" at line ")
                .next()
                .unwrap_or(&message)
                .to_owned();
            // serde reports a missing field at its parent; name the field itself.
            let field = match message
                .strip_prefix("missing field `")
                .and_then(|m| m.split('`').next())
            {
                Some(missing) if path == "." => missing.to_owned(),
                Some(missing) => format!("{path}.{missing}"),
                None if path == "." => "body".to_owned(),
                None => path,
            };
            let code = if message.starts_with("missing field") {
                "required"
            } else {
                "invalid"
            };
            ApiError::Core(CoreError::Invalid(vec![FieldError::new(
                field, code, message,
            )]))
        }
    }
}

impl<T: DeserializeOwned + 'static> FromRequest for ValidJson<T> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let json = is_json(req);
        let limit = req
            .app_data::<web::Data<AppState>>()
            .map(|s| s.settings.server.body_limit_bytes)
            .unwrap_or(256 * 1024);
        let bytes = web::Bytes::from_request(req, payload);
        Box::pin(async move {
            if !json {
                return Err(ApiError::UnsupportedMediaType(
                    "send the body as application/json".into(),
                ));
            }
            let body = bytes.await.map_err(|e| body_error(&e, limit))?;
            let mut de = serde_json::Deserializer::from_slice(&body);
            let value = serde_path_to_error::deserialize(&mut de).map_err(json_error)?;
            de.end().map_err(|e| ApiError::BadRequest {
                detail: format!("the body is not valid JSON: {e}"),
                errors: vec![],
            })?;
            Ok(ValidJson(value))
        })
    }
}

/// A query string deserialised into `T`; a bad value is a 422 naming its parameter.
pub struct ValidQuery<T>(pub T);

impl<T: DeserializeOwned> FromRequest for ValidQuery<T> {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(
            req.query_string().as_bytes(),
        ));
        std::future::ready(
            serde_path_to_error::deserialize(de)
                .map(ValidQuery)
                .map_err(|err| {
                    let field = err.path().to_string();
                    let message = err.into_inner().to_string();
                    let field = match message
                        .strip_prefix("missing field `")
                        .and_then(|m| m.split('`').next())
                    {
                        Some(missing) => missing.to_owned(),
                        None if field == "." => "query".to_owned(),
                        None => field,
                    };
                    ApiError::Core(CoreError::Invalid(vec![FieldError::new(
                        field, "invalid", message,
                    )]))
                }),
        )
    }
}
