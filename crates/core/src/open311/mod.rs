//! Open311 GeoReport v2: categories are services (their extra questions the service
//! attributes), a request becomes a ticket logged by the channel's own account, and a
//! request's coordinates find their community by boundary or nearest centre.
//!
//! Channels authenticate with an API key an administrator creates; only a SHA-256 of the
//! key is stored. Each key's account is a supervisor of the key's jurisdiction (by default
//! the whole tree), so the ordinary scope rules bound where a channel may file.

use std::collections::{BTreeMap, HashMap};

use chrono::{FixedOffset, NaiveDateTime, TimeZone};
use diesel::prelude::*;
use geo::{Contains, Distance, Haversine};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use validator::Validate;

use crate::db::{truncate_to_micros, write_tx, DbConnection};
use crate::error::{CoreError, CoreResult, FieldError};
use crate::ids::{CategoryId, OrgUnitId, TicketId, UserId};
use crate::schema::{
    categories, category_attributes, open311_keys, open311_requests, org_unit_geo, org_units,
    partners, ticket_events, tickets, users,
};
use crate::scope::Actor;
use crate::tickets::logging::{self, NewTicket};
use crate::tickets::Context;
use crate::types::{EventKind, OrgKind, Role, TicketStatus};
use crate::validate;

/// China Standard Time, the offset Open311 datetimes are given in (no daylight saving).
pub fn china_time(at: NaiveDateTime) -> String {
    let offset = FixedOffset::east_opt(8 * 3600).expect("valid offset");
    offset
        .from_utc_datetime(&at)
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, false)
}

mod channels;
mod places;
mod requests;
mod services;
mod submission;

pub use channels::*;
pub use places::*;
pub use requests::*;
pub use services::*;
pub use submission::*;

pub use crate::tickets::intake::{request_data, Reporter, RequestData};
