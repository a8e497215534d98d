//! The day at a glance: what a street office (or a unit) opens its day on. Today's intake
//! against the same weekday of the weeks before, the open tickets by status, what falls
//! due today, what is warned (即将超时), late and escalated — each figure exactly the
//! total of the ticket list with the filter `Tile::filter` gives, so a figure and the list
//! it links to never disagree — and a map of the scope's communities shaded by the tickets
//! being worked and late there, with those that have coordinates as points.
//!
//! Supervisors see their node (administrators the whole city); a unit's staff see the
//! tickets their unit holds and the pool waiting for it. Counts other than the day's
//! intake stop at `CAP`, as the list's total does, so they cost the same in a community
//! and in the city; the intake is bounded by a day's tickets and counted whole.

use std::collections::HashMap;

use chrono::{Duration, NaiveDateTime, TimeZone};
use diesel::prelude::*;
use serde::Serialize;

use crate::db::DbConnection;
use crate::error::CoreResult;
use crate::ids::{OrgUnitId, TicketId};
use crate::open311::{GeoRow, LatLong};
use crate::reference::Reference;
use crate::schema::{org_unit_geo, org_units, tickets};
use crate::scope::{visible_org_units, Actor, Scope};
use crate::stats::local_midnight;
use crate::tickets::queries::{self, TicketFilter};
use crate::types::{OrgKind, Role, TicketStatus};

/// Where counts stop ("10,000+"): the ticket list's total stops at the same.
pub const CAP: i64 = 10_000;

/// The weeks the same weekday's average is taken over.
pub const WEEKS: i64 = 4;

/// The open statuses, in the order a ticket goes through them.
pub const OPEN: [TicketStatus; 7] = [
    TicketStatus::Reported,
    TicketStatus::Dispatched,
    TicketStatus::Claimed,
    TicketStatus::InProgress,
    TicketStatus::Returned,
    TicketStatus::Reopened,
    TicketStatus::Resolved,
];

/// A count that stops at `CAP`: `more` when there are more than `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Tally {
    pub count: i64,
    pub more: bool,
}

impl From<(i64, bool)> for Tally {
    fn from((count, more): (i64, bool)) -> Self {
        Tally { count, more }
    }
}

/// Tickets logged today against the same weekday of the weeks before, each counted from
/// midnight to the same time of day.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Intake {
    pub today: i64,
    /// The average of the same weekday over the last `WEEKS` weeks, by this time of day.
    pub same_weekday_average: f64,
    /// Each of those weekdays, the latest first.
    pub same_weekdays: Vec<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StatusTally {
    pub status: TicketStatus,
    #[serde(flatten)]
    pub tally: Tally,
}

/// The day of a scope at one instant.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DaySummary {
    #[serde(serialize_with = "crate::time::utc")]
    pub as_of: NaiveDateTime,
    /// Today's local midnight, and the next one.
    #[serde(serialize_with = "crate::time::utc")]
    pub day_from: NaiveDateTime,
    #[serde(serialize_with = "crate::time::utc")]
    pub day_to: NaiveDateTime,
    /// Supervisors and administrators only.
    pub intake: Option<Intake>,
    /// Open tickets by status (resolved: waiting for the return visit).
    pub open: Vec<StatusTally>,
    /// Not late yet, due before the next midnight.
    pub due_today: Tally,
    /// 即将超时: past the first warning point of the running deadline, not late.
    pub warned: Tally,
    pub late: Tally,
    /// Open and escalated above the community.
    pub escalated: Tally,
    /// A unit's staff only: pool tickets the unit may claim.
    pub pool: Option<Tally>,
}

/// One figure of the day, and the ticket-list filter whose total it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tile {
    LoggedToday,
    Open(TicketStatus),
    DueToday,
    Warned,
    Late,
    Escalated,
}

/// Today's local midnight and the next one, for `now` in `tz`.
pub fn day_of(now: NaiveDateTime, tz: chrono_tz::Tz) -> (NaiveDateTime, NaiveDateTime) {
    let today = tz.from_utc_datetime(&now).date_naive();
    (
        local_midnight(today, tz),
        local_midnight(today + Duration::days(1), tz),
    )
}

impl Tile {
    /// The ticket-list filter this figure is the total of, for `actor` at `now`.
    pub fn filter(self, actor: &Actor, now: NaiveDateTime, tz: chrono_tz::Tz) -> TicketFilter {
        let (day_from, day_to) = day_of(now, tz);
        let open = OPEN.to_vec();
        let mut filter = match self {
            Tile::LoggedToday => TicketFilter {
                created_from: Some(day_from),
                ..TicketFilter::default()
            },
            Tile::Open(status) => TicketFilter {
                statuses: vec![status],
                ..TicketFilter::default()
            },
            Tile::DueToday => TicketFilter {
                overdue: Some(false),
                due_before: Some(day_to),
                ..TicketFilter::default()
            },
            Tile::Warned => TicketFilter {
                warning: Some(true),
                ..TicketFilter::default()
            },
            Tile::Late => TicketFilter {
                overdue: Some(true),
                ..TicketFilter::default()
            },
            Tile::Escalated => TicketFilter {
                statuses: open,
                escalated: Some(true),
                ..TicketFilter::default()
            },
        };
        // A unit's staff count the tickets their unit holds (not the pool it may claim).
        filter.partner_id = actor.scope.partner();
        filter
    }
}

/// The day of the actor's scope at `now`, the day taken in `tz`.
pub fn summary(
    conn: &mut DbConnection,
    reference: &Reference,
    actor: &Actor,
    now: NaiveDateTime,
    tz: chrono_tz::Tz,
) -> CoreResult<DaySummary> {
    actor.require_role(
        &[Role::Supervisor, Role::Admin, Role::UnitStaff],
        "the day's figures are for supervisors and units",
    )?;
    let (day_from, day_to) = day_of(now, tz);
    let tally = |conn: &mut DbConnection, tile: Tile| -> CoreResult<Tally> {
        let filter = tile.filter(actor, now, tz);
        Ok(queries::count_capped(conn, reference, actor, &filter, CAP, now)?.into())
    };
    let mut open = Vec::with_capacity(OPEN.len());
    for status in OPEN {
        open.push(StatusTally {
            status,
            tally: tally(conn, Tile::Open(status))?,
        });
    }
    let due_today = tally(conn, Tile::DueToday)?;
    let warned = tally(conn, Tile::Warned)?;
    let late = tally(conn, Tile::Late)?;
    let escalated = tally(conn, Tile::Escalated)?;
    let (intake, pool) = match actor.scope {
        Scope::Partner { .. } => {
            let pool = queries::pool_count_capped(conn, actor, CAP)?;
            (None, Some(pool.into()))
        }
        _ => (Some(intake(conn, reference, actor, now, tz)?), None),
    };
    Ok(DaySummary {
        as_of: now,
        day_from,
        day_to,
        intake,
        open,
        due_today,
        warned,
        late,
        escalated,
        pool,
    })
}

/// Today's intake by now, and each of the same weekdays before by the same time of day.
fn intake(
    conn: &mut DbConnection,
    reference: &Reference,
    actor: &Actor,
    now: NaiveDateTime,
    tz: chrono_tz::Tz,
) -> CoreResult<Intake> {
    let today = tz.from_utc_datetime(&now).date_naive();
    let (day_from, _) = day_of(now, tz);
    let elapsed = now - day_from;
    let mut count = |from: NaiveDateTime, to: NaiveDateTime| {
        let filter = TicketFilter {
            created_from: Some(from),
            created_to: Some(to),
            ..TicketFilter::default()
        };
        queries::count(conn, reference, actor, &filter, now)
    };
    let logged = count(day_from, now)?;
    let mut same_weekdays = Vec::with_capacity(WEEKS as usize);
    for week in 1..=WEEKS {
        let start = local_midnight(today - Duration::days(7 * week), tz);
        same_weekdays.push(count(start, start + elapsed)?);
    }
    let average = same_weekdays.iter().sum::<i64>() as f64 / WEEKS as f64;
    Ok(Intake {
        today: logged,
        same_weekday_average: average,
        same_weekdays,
    })
}

/// A community on the map: where it is, and its tickets being worked (open, not resolved
/// awaiting the return visit) and late.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MapPlace {
    pub id: OrgUnitId,
    pub name: String,
    pub centre: Option<LatLong>,
    pub boundary: Vec<LatLong>,
    pub open: i64,
    pub late: i64,
}

/// A ticket being worked, with coordinates.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MapPoint {
    pub id: TicketId,
    pub number: String,
    pub title: String,
    pub at: LatLong,
    pub late: bool,
}

/// What the day's map draws.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DayMap {
    /// The scope's communities that have a place (a centre or a boundary).
    pub places: Vec<MapPlace>,
    /// Tickets being worked with coordinates, the newest first, at most the limit asked
    /// for.
    pub points: Vec<MapPoint>,
    /// Tickets being worked with coordinates in all (up to `CAP`).
    pub points_total: Tally,
    /// The scope's communities with no place stored.
    pub unplaced: i64,
}

/// The map of the actor's scope at `now`: its communities (a unit's, those it serves)
/// with their tickets being worked and late (a unit's, those it holds), and up to `limit`
/// of those with coordinates.
pub fn map(
    conn: &mut DbConnection,
    reference: &Reference,
    actor: &Actor,
    now: NaiveDateTime,
    limit: i64,
) -> CoreResult<DayMap> {
    actor.require_role(
        &[Role::Supervisor, Role::Admin, Role::UnitStaff],
        "the day's map is for supervisors and units",
    )?;
    let mut communities = org_units::table
        .filter(org_units::kind.eq(OrgKind::Community.as_str()))
        .select((org_units::id, org_units::name))
        .order(org_units::id)
        .into_boxed();
    if let Some(scope) = visible_org_units(&actor.scope) {
        communities = communities.filter(scope);
    }
    let communities: Vec<(OrgUnitId, String)> = communities.load(conn)?;
    let mut geo: HashMap<OrgUnitId, GeoRow> = HashMap::with_capacity(communities.len());
    for chunk in communities.chunks(10_000) {
        let ids: Vec<OrgUnitId> = chunk.iter().map(|(id, _)| *id).collect();
        let rows: Vec<(OrgUnitId, GeoRow)> = org_unit_geo::table
            .filter(org_unit_geo::org_unit_id.eq_any(ids))
            .select((org_unit_geo::org_unit_id, crate::open311::GEO_COLUMNS))
            .load(conn)?;
        geo.extend(rows);
    }
    let partner = actor.scope.partner();
    let per_community =
        |conn: &mut DbConnection, late: bool| -> CoreResult<HashMap<OrgUnitId, i64>> {
            // Grouped in the database (a city's open tickets are a hundred thousand): the
            // filter as one expression, since a boxed query cannot be grouped.
            let mut clause = queries::worked_expr();
            if let Some(scope) = crate::tickets::visible_tickets(&actor.scope) {
                clause = Box::new(clause.and(scope));
            }
            if let Some(partner) = partner {
                clause = Box::new(
                    clause
                        .and(tickets::partner_id.eq(partner))
                        .assume_not_null(),
                );
            }
            if late {
                clause = Box::new(clause.and(queries::overdue_expr(now)));
            }
            let counted: Vec<(OrgUnitId, i64)> = tickets::table
                .filter(clause)
                .group_by(tickets::community_id)
                .select((tickets::community_id, diesel::dsl::count_star()))
                .load(conn)?;
            Ok(counted.into_iter().collect())
        };
    let open = per_community(conn, false)?;
    let late = per_community(conn, true)?;
    let mut places = Vec::new();
    let mut unplaced = 0;
    for (id, name) in communities {
        let Some(row) = geo.remove(&id) else {
            unplaced += 1;
            continue;
        };
        let geo = crate::open311::to_geo(row)?;
        if geo.centre.is_none() && geo.boundary.is_empty() {
            unplaced += 1;
            continue;
        }
        places.push(MapPlace {
            id,
            name,
            centre: geo.centre,
            boundary: geo.boundary,
            open: open.get(&id).copied().unwrap_or(0),
            late: late.get(&id).copied().unwrap_or(0),
        });
    }
    let with_place = TicketFilter {
        partner_id: partner,
        ..TicketFilter::default()
    };
    // Being worked, with a place: `tickets_open_placed_idx` holds just these, so a city
    // whose tickets mostly have no coordinates is not walked to find the few that do.
    let placed = || {
        queries::worked_expr().and(
            tickets::latitude
                .is_not_null()
                .and(tickets::longitude.is_not_null()),
        )
    };
    type Deadlines = (
        Option<NaiveDateTime>,
        Option<NaiveDateTime>,
        Option<NaiveDateTime>,
    );
    type PointRow = (
        TicketId,
        String,
        String,
        Option<f64>,
        Option<f64>,
        TicketStatus,
        Deadlines,
    );
    let rows: Vec<PointRow> = queries::filtered(conn, reference, actor, &with_place, now)?
        .filter(placed())
        .order(tickets::id.desc())
        .limit(limit)
        .select((
            tickets::id,
            tickets::number,
            tickets::title,
            tickets::latitude,
            tickets::longitude,
            tickets::status,
            (
                tickets::responded_at,
                tickets::respond_by,
                tickets::resolve_by,
            ),
        ))
        .load(conn)?;
    let points = rows
        .into_iter()
        .filter_map(
            |(id, number, title, lat, long, status, (responded, respond_by, resolve_by))| {
                // Late as `overdue` reads it: being worked, its running deadline passed.
                let late = status != TicketStatus::Resolved
                    && queries::late_since_of(responded, respond_by, resolve_by)
                        .is_some_and(|t| t < now);
                Some(MapPoint {
                    id,
                    number,
                    title,
                    at: LatLong {
                        lat: lat?,
                        long: long?,
                    },
                    late,
                })
            },
        )
        .collect();
    let placed_tickets =
        queries::filtered(conn, reference, actor, &with_place, now)?.filter(placed());
    let points_total = queries::count_up_to(conn, placed_tickets, CAP)?.into();
    Ok(DayMap {
        places,
        points,
        points_total,
        unplaced,
    })
}
