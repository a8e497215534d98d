//! The one error type of the core. Every public core function returns `CoreError`;
//! the API crate maps each kind one-to-one onto an RFC 9457 problem response.

use serde::Serialize;

/// One invalid input field, named the way the caller spelled it (`parent_id`, `sla.urgent.clock`).
#[derive(utoipa::ToSchema, Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub code: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, code: &str, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            code: code.to_owned(),
            message: message.into(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    /// The input breaks a rule; each bad field is named.
    #[error("invalid input: {}", .0.iter().map(|e| format!("{}: {}", e.field, e.message)).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<FieldError>),
    /// Unknown id, or a resource outside the caller's scope (both look the same from outside).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The change conflicts with the current state (a duplicate name, a claimed ticket).
    #[error("{message}")]
    Conflict {
        message: String,
        current: Option<serde_json::Value>,
    },
    #[error("{0}")]
    Unauthenticated(&'static str),
    /// Inside the caller's scope but not allowed for its role.
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("too many failed logins; retry in {retry_after_secs} s")]
    Throttled { retry_after_secs: u64 },
    #[error("database: {0}")]
    Database(diesel::result::Error),
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error("{0}")]
    Internal(String),
}

pub type CoreResult<T> = Result<T, CoreError>;

impl CoreError {
    pub fn invalid(field: &str, code: &str, message: impl Into<String>) -> Self {
        CoreError::Invalid(vec![FieldError::new(field, code, message)])
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        CoreError::Conflict {
            message: message.into(),
            current: None,
        }
    }
}

impl From<diesel::result::Error> for CoreError {
    fn from(e: diesel::result::Error) -> Self {
        use diesel::result::{DatabaseErrorKind, Error};
        match e {
            Error::NotFound => CoreError::NotFound("record"),
            Error::DatabaseError(DatabaseErrorKind::UniqueViolation, _) => {
                CoreError::conflict("a record with the same unique value already exists")
            }
            other => CoreError::Database(other),
        }
    }
}

impl From<r2d2::Error> for CoreError {
    fn from(e: r2d2::Error) -> Self {
        CoreError::Unavailable(e.to_string())
    }
}
