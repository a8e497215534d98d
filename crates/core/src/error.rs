//! The one error type of the core. Every public core function returns `CoreError`;
//! the API crate maps each kind one-to-one onto an RFC 9457 problem response.

use std::fmt;
use std::panic::Location;

use serde::Serialize;

/// One invalid input field, named the way the caller spelled it (`parent_id`, `sla.urgent.clock`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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

/// What went wrong underneath an error: kept for the log, never sent to a caller.
pub type Cause = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Where in jiesu's code an error was made (`#[track_caller]`), for the log.
pub type At = &'static Location<'static>;

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
    /// A query failed for a reason other than a missing row or a duplicate.
    #[error("database")]
    Database {
        #[source]
        source: diesel::result::Error,
        at: At,
    },
    /// Something the request needs (the database or its pool, the photos' store, the
    /// password checks) cannot serve it now; retrying later may work.
    #[error("{what} unavailable: {context}")]
    Unavailable {
        /// What is unavailable, as the answer names it: "the database", "the photos' store".
        what: &'static str,
        context: String,
        #[source]
        cause: Option<Cause>,
        at: At,
    },
    /// A fault of jiesu or its host (a file that cannot be written, a rule missing).
    #[error("{context}")]
    Internal {
        context: String,
        #[source]
        cause: Option<Cause>,
        at: At,
    },
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

    /// A fault with nothing underneath it (a rule or row that should be there is not).
    #[track_caller]
    pub fn internal(context: impl Into<String>) -> Self {
        CoreError::Internal {
            context: context.into(),
            cause: None,
            at: Location::caller(),
        }
    }

    /// A fault caused by another error, which is kept as the source.
    #[track_caller]
    pub fn internal_because(context: impl Into<String>, cause: impl Into<Cause>) -> Self {
        CoreError::Internal {
            context: context.into(),
            cause: Some(cause.into()),
            at: Location::caller(),
        }
    }

    /// The service cannot take this now (too busy); retrying later may work.
    #[track_caller]
    pub fn unavailable(context: impl Into<String>) -> Self {
        CoreError::Unavailable {
            what: "the database",
            context: context.into(),
            cause: None,
            at: Location::caller(),
        }
    }

    /// The connection this came from was found dead (the server restarted or cut it).
    pub fn is_lost_connection(&self) -> bool {
        use diesel::result::{DatabaseErrorKind, Error};
        match self {
            CoreError::Unavailable {
                cause: Some(cause), ..
            } => matches!(
                cause.downcast_ref::<Error>(),
                Some(Error::DatabaseError(DatabaseErrorKind::ClosedConnection, _))
            ),
            _ => false,
        }
    }

    /// The database cannot be reached, and why.
    #[track_caller]
    pub fn unavailable_because(context: impl Into<String>, cause: impl Into<Cause>) -> Self {
        CoreError::Unavailable {
            what: "the database",
            context: context.into(),
            cause: Some(cause.into()),
            at: Location::caller(),
        }
    }

    /// `what` (not the database) cannot serve the request now: 503, retry later.
    #[track_caller]
    pub fn unavailable_service(
        what: &'static str,
        context: impl Into<String>,
        cause: Option<Cause>,
    ) -> Self {
        CoreError::Unavailable {
            what,
            context: context.into(),
            cause,
            at: Location::caller(),
        }
    }

    /// Where the error was made, for the faults that record it.
    pub fn at(&self) -> Option<At> {
        match self {
            CoreError::Database { at, .. }
            | CoreError::Unavailable { at, .. }
            | CoreError::Internal { at, .. } => Some(at),
            _ => None,
        }
    }

    /// `at`, as `file:line:column` (empty where not recorded), for a log field.
    pub fn place(&self) -> Place {
        Place(self.at())
    }

    /// The error and every cause under it, `outer: inner: innermost`: what an operator
    /// reads in the log or on the command line (a caller of the API never sees it).
    pub fn chain(&self) -> Chain<'_> {
        Chain(self)
    }
}

/// Where an error was made, displayed as `file:line:column` (`CoreError::place`).
pub struct Place(pub Option<At>);

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(at) => write!(f, "{at}"),
            None => Ok(()),
        }
    }
}

/// `Display` of an error with its sources (`CoreError::chain`, `chain_of`).
pub struct Chain<'a>(pub &'a (dyn std::error::Error + 'static));

/// The chain of any error, as `CoreError::chain` writes it.
pub fn chain_of<'a>(e: &'a (dyn std::error::Error + 'static)) -> Chain<'a> {
    Chain(e)
}

impl fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(cause) = source {
            write!(f, ": {cause}")?;
            source = cause.source();
        }
        Ok(())
    }
}

impl From<diesel::result::Error> for CoreError {
    #[track_caller]
    fn from(e: diesel::result::Error) -> Self {
        use diesel::result::{DatabaseErrorKind, Error};
        match e {
            Error::NotFound => CoreError::NotFound("record"),
            Error::DatabaseError(DatabaseErrorKind::UniqueViolation, _) => {
                CoreError::conflict("a record with the same unique value already exists")
            }
            lost @ Error::DatabaseError(DatabaseErrorKind::ClosedConnection, _) => {
                CoreError::Unavailable {
                    what: "the database",
                    context: "the database connection was lost".to_owned(),
                    cause: Some(Box::new(lost)),
                    at: Location::caller(),
                }
            }
            other => CoreError::Database {
                source: other,
                at: Location::caller(),
            },
        }
    }
}

impl From<r2d2::Error> for CoreError {
    #[track_caller]
    fn from(e: r2d2::Error) -> Self {
        CoreError::unavailable_because("no database connection", e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fault_keeps_its_cause_and_where_it_was_made() {
        let mut line = 0;
        let mut read = || -> CoreResult<String> {
            line = line!() + 2;
            std::fs::read_to_string("/nonexistent/jiesu")
                .map_err(|e| CoreError::internal_because("reading", e))
        };
        let e = read().unwrap_err();
        // The caller-facing sentence is the context alone; the cause is the source.
        assert_eq!(e.to_string(), "reading");
        let source = std::error::Error::source(&e).map(ToString::to_string);
        assert!(source.is_some_and(|s| s.contains("No such file")), "{e:?}");
        assert!(e.chain().to_string().starts_with("reading: No such file"));
        assert_eq!(
            e.at().map(|at| (at.file(), at.line())),
            Some((file!(), line))
        );
    }

    #[test]
    fn a_query_error_records_the_question_mark_that_raised_it() {
        let mut line = 0;
        let mut query = || -> CoreResult<()> {
            line = line!() + 1;
            Err(diesel::result::Error::RollbackTransaction)?
        };
        let e = query().unwrap_err();
        assert!(matches!(e, CoreError::Database { .. }), "{e:?}");
        assert_eq!(
            e.at().map(|at| (at.file(), at.line())),
            Some((file!(), line))
        );
        assert!(
            e.chain().to_string().starts_with("database: "),
            "{}",
            e.chain()
        );
    }
}
