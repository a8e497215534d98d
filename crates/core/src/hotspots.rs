//! Hotspots (未诉先办): where the same kind of problem keeps coming back. Counts of tickets
//! by category × community (or × grid) over a period in a subtree; a cell at or above the
//! threshold is flagged, so a street can turn it into a need before residents call again.

use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text, Timestamp};
use serde::Serialize;

use crate::db::DbConnection;
use crate::error::{CoreError, CoreResult};
use crate::ids::OrgUnitId;
use crate::schema::org_units;
use crate::scope::{subtree_bounds, visible_path, Actor};
use crate::stats::Period;
use crate::types::Role;

/// A counted cell: the category's code and name, the place, how many tickets.
#[derive(QueryableByName)]
struct Cell {
    #[diesel(sql_type = Text)]
    code: String,
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = BigInt)]
    place: OrgUnitId,
    #[diesel(sql_type = BigInt)]
    n: i64,
}

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
    // Counted by the ids, then ranked and cut in the database: only the cells shown come
    // back, and the category's code and name are joined to the counted cells, not to each
    // ticket (a city's quarter is millions of tickets in tens of thousands of cells).
    let (place, with_place) = match grain {
        Grain::Community => ("community_id", ""),
        Grain::Grid => ("grid_id", " AND grid_id IS NOT NULL"),
    };
    let (lower, upper) = subtree_bounds(&path);
    let mut counted: Vec<Cell> = diesel::sql_query(format!(
        "SELECT c.code, c.name_zh AS name, h.place, h.n \
         FROM (SELECT category_id, {place} AS place, COUNT(*) AS n FROM tickets \
               WHERE org_path >= $1 AND org_path < $2 AND created_at >= $3 AND created_at < $4 \
                 AND status NOT IN ('cancelled', 'merged'){with_place} \
               GROUP BY category_id, {place}) h \
         JOIN categories c ON c.id = h.category_id \
         ORDER BY h.n DESC, c.code, h.place \
         LIMIT $5"
    ))
    .bind::<Text, _>(lower)
    .bind::<Text, _>(upper)
    .bind::<Timestamp, _>(period.from)
    .bind::<Timestamp, _>(period.to)
    .bind::<BigInt, _>(limit + 1)
    .load(conn)?;
    let more = counted.len() as i64 > limit;
    counted.truncate(limit as usize);
    let place_ids: Vec<OrgUnitId> = counted.iter().map(|c| c.place).collect();
    let place_names: HashMap<OrgUnitId, String> = org_units::table
        .filter(org_units::id.eq_any(&place_ids))
        .select((org_units::id, org_units::name))
        .load::<(OrgUnitId, String)>(conn)?
        .into_iter()
        .collect();
    let cells: Vec<Hotspot> = counted
        .into_iter()
        .map(|c| Hotspot {
            category: c.code,
            category_name: c.name,
            place_name: place_names.get(&c.place).cloned().unwrap_or_default(),
            place_id: c.place,
            tickets: c.n,
            flagged: c.n >= threshold,
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
