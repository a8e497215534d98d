//! Hotspots (未诉先办): where the same kind of problem keeps coming back. Counts of tickets
//! by category × community (or × grid) over a period in a subtree; a cell at or above the
//! threshold is flagged, so a street can turn it into a need before residents call again.

use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;

use crate::db::DbConnection;
use crate::error::{CoreError, CoreResult};
use crate::ids::{CategoryId, OrgUnitId};
use crate::schema::{categories, org_units, tickets};
use crate::scope::{in_subtree, visible_path, Actor};
use crate::stats::Period;
use crate::types::{Role, TicketStatus};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grain {
    Community,
    Grid,
}

#[derive(utoipa::ToSchema, Debug, Clone, PartialEq, Serialize)]
pub struct Hotspot {
    pub category: String,
    pub category_name: String,
    pub place_id: OrgUnitId,
    pub place_name: String,
    pub tickets: i64,
    /// At or above the threshold.
    pub flagged: bool,
}

#[derive(utoipa::ToSchema, Debug, Clone, PartialEq, Serialize)]
pub struct HotspotReport {
    pub period: Period,
    pub threshold: i64,
    /// Most tickets first; ties by category code, then place id.
    pub cells: Vec<Hotspot>,
}

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
    let path = visible_path(conn, &actor.scope, node)?;
    let base = tickets::table
        .filter(in_subtree(tickets::org_path, &path))
        .filter(
            tickets::created_at
                .ge(period.from)
                .and(tickets::created_at.lt(period.to)),
        )
        .filter(tickets::status.ne_all(vec![TicketStatus::Cancelled, TicketStatus::Merged]));
    let counted: Vec<(CategoryId, OrgUnitId, i64)> = match grain {
        Grain::Community => base
            .group_by((tickets::category_id, tickets::community_id))
            .select((
                tickets::category_id,
                tickets::community_id,
                diesel::dsl::count_star(),
            ))
            .load(conn)?,
        Grain::Grid => base
            .filter(tickets::grid_id.is_not_null())
            .group_by((tickets::category_id, tickets::grid_id))
            .select((
                tickets::category_id,
                tickets::grid_id.assume_not_null(),
                diesel::dsl::count_star(),
            ))
            .load(conn)?,
    };
    let category_ids: Vec<CategoryId> = counted.iter().map(|c| c.0).collect();
    let place_ids: Vec<OrgUnitId> = counted.iter().map(|c| c.1).collect();
    let category_names: HashMap<CategoryId, (String, String)> = categories::table
        .filter(categories::id.eq_any(&category_ids))
        .select((categories::id, categories::code, categories::name_zh))
        .load::<(CategoryId, String, String)>(conn)?
        .into_iter()
        .map(|(id, code, name)| (id, (code, name)))
        .collect();
    let place_names: HashMap<OrgUnitId, String> = org_units::table
        .filter(org_units::id.eq_any(&place_ids))
        .select((org_units::id, org_units::name))
        .load::<(OrgUnitId, String)>(conn)?
        .into_iter()
        .collect();
    let mut cells: Vec<Hotspot> = counted
        .into_iter()
        .map(|(category, place, n)| {
            let (code, name) = category_names.get(&category).cloned().unwrap_or_default();
            Hotspot {
                category: code,
                category_name: name,
                place_name: place_names.get(&place).cloned().unwrap_or_default(),
                place_id: place,
                tickets: n,
                flagged: n >= threshold,
            }
        })
        .collect();
    cells.sort_by(|a, b| {
        b.tickets
            .cmp(&a.tickets)
            .then_with(|| a.category.cmp(&b.category))
            .then(a.place_id.cmp(&b.place_id))
    });
    Ok(HotspotReport {
        period,
        threshold,
        cells,
    })
}

/// The period report's default threshold comes from config; `now` bounds the default period.
pub fn default_period(now: NaiveDateTime) -> CoreResult<Period> {
    Period::new(now - chrono::Duration::days(90), now)
}
