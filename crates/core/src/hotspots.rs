//! Hotspots (未诉先办): where the same kind of problem keeps coming back. Counts of tickets
//! by category × community (or × grid) over a period in a subtree; a cell at or above the
//! threshold is flagged, so a street can turn it into a need before residents call again.

use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;

use crate::db::DbConnection;
use crate::error::{CoreError, CoreResult};
use crate::ids::OrgUnitId;
use crate::schema::{categories, org_units, tickets};
use crate::scope::{in_subtree, visible_path, Actor};
use crate::stats::Period;
use crate::types::{Role, TicketStatus};

// A report groups tickets by their category (its code and name) and their place.
diesel::allow_columns_to_appear_in_same_group_by_clause!(
    categories::code,
    categories::name_zh,
    tickets::community_id,
    tickets::grid_id,
);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grain {
    Community,
    Grid,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Hotspot {
    pub category: String,
    pub category_name: String,
    pub place_id: OrgUnitId,
    pub place_name: String,
    pub tickets: i64,
    /// At or above the threshold.
    pub flagged: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HotspotReport {
    pub period: Period,
    pub threshold: i64,
    /// The `limit` cells with the most tickets, most first; ties by category code, then
    /// place id.
    pub cells: Vec<Hotspot>,
    /// More cells follow the last one shown, with as many tickets or fewer.
    pub more: bool,
}

/// The most cells one report holds: a city has thousands of communities times dozens of
/// categories, and the useful ones are at the top.
pub const MAX_CELLS: i64 = 1_000;

/// Tickets logged in the period under `node`, by category and place. Cancelled tickets
/// and merged duplicates do not count. Tickets logged without a grid are left out of the
/// grid report.
pub fn report(
    conn: &mut DbConnection,
    actor: &Actor,
    node: OrgUnitId,
    period: Period,
    grain: Grain,
    threshold: i64,
    limit: i64,
) -> CoreResult<HotspotReport> {
    actor.require_role(
        &[Role::Supervisor, Role::Admin],
        "hotspots are for supervisors",
    )?;
    if threshold < 1 {
        return Err(CoreError::invalid(
            "threshold",
            "range",
            "must be at least 1",
        ));
    }
    if !(1..=MAX_CELLS).contains(&limit) {
        return Err(CoreError::invalid(
            "limit",
            "range",
            format!("must be between 1 and {MAX_CELLS}"),
        ));
    }
    let path = visible_path(conn, &actor.scope, node)?;
    // Counted, ranked and cut in the database: only the cells shown come back.
    let base = tickets::table
        .inner_join(categories::table)
        .filter(in_subtree(tickets::org_path, &path))
        .filter(
            tickets::created_at
                .ge(period.from)
                .and(tickets::created_at.lt(period.to)),
        )
        .filter(tickets::status.ne_all(vec![TicketStatus::Cancelled, TicketStatus::Merged]));
    // The category's name rides along in the grouping (the code is unique), ranked by count,
    // then code, then place, as the report promises.
    let mut counted: Vec<(String, String, OrgUnitId, i64)> = match grain {
        Grain::Community => base
            .group_by((categories::code, categories::name_zh, tickets::community_id))
            .select((
                categories::code,
                categories::name_zh,
                tickets::community_id,
                diesel::dsl::count_star(),
            ))
            .order((
                diesel::dsl::count_star().desc(),
                categories::code.asc(),
                tickets::community_id.asc(),
            ))
            .limit(limit + 1)
            .load(conn)?,
        Grain::Grid => base
            .filter(tickets::grid_id.is_not_null())
            .group_by((categories::code, categories::name_zh, tickets::grid_id))
            .select((
                categories::code,
                categories::name_zh,
                tickets::grid_id.assume_not_null(),
                diesel::dsl::count_star(),
            ))
            .order((
                diesel::dsl::count_star().desc(),
                categories::code.asc(),
                tickets::grid_id.asc(),
            ))
            .limit(limit + 1)
            .load(conn)?,
    };
    let more = counted.len() as i64 > limit;
    counted.truncate(limit as usize);
    let place_ids: Vec<OrgUnitId> = counted.iter().map(|c| c.2).collect();
    let place_names: HashMap<OrgUnitId, String> = org_units::table
        .filter(org_units::id.eq_any(&place_ids))
        .select((org_units::id, org_units::name))
        .load::<(OrgUnitId, String)>(conn)?
        .into_iter()
        .collect();
    let cells: Vec<Hotspot> = counted
        .into_iter()
        .map(|(code, name, place, n)| Hotspot {
            category: code,
            category_name: name,
            place_name: place_names.get(&place).cloned().unwrap_or_default(),
            place_id: place,
            tickets: n,
            flagged: n >= threshold,
        })
        .collect();
    Ok(HotspotReport {
        period,
        threshold,
        cells,
        more,
    })
}

/// The period report's default threshold comes from config; `now` bounds the default period.
pub fn default_period(now: NaiveDateTime) -> CoreResult<Period> {
    Period::new(now - chrono::Duration::days(90), now)
}
