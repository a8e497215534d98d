//! jiesu's core: the domain and its persistence, with no HTTP in it.
//!
//! Every public function takes a `&mut DbConnection` (so callers compose several in one
//! transaction), the acting user where scope matters, and `now` where time matters, and
//! returns `CoreResult<T>`: a `CoreError` whose kinds the API maps one-to-one onto
//! problem+json responses.

pub mod backup;
pub mod calendar;
pub mod categories;
pub mod config;
pub mod db;
pub mod demo;
pub mod error;
pub mod escalation;
pub mod fsutil;
pub mod hotspots;
pub mod ids;
pub mod lists;
pub mod loadgen;
pub mod mail;
pub mod moving;
pub mod open311;
pub mod org;
pub mod outbox;
pub mod pagination;
pub mod partners;
pub mod phone;
pub mod photos;
pub mod privacy;
pub mod reference;
pub mod replicas;
pub mod schema;
pub mod scope;
pub mod secrets;
pub mod signin;
pub mod stats;
#[cfg(feature = "testing")]
pub mod testing;
pub mod tickets;
pub mod time;
pub mod today;
pub mod types;
pub mod users;
pub mod validate;
pub mod warnings;

pub use error::{CoreError, CoreResult, FieldError};
pub use scope::{Actor, Scope};
