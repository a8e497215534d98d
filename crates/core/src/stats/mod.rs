//! The three rates (响应率 / 解决率 / 满意率) for an org node's subtree or a partner unit,
//! over a period. Figures are derived from the event trail as of the end of the period, so
//! any past period can be computed again and later changes do not rewrite it.
//!
//! The cohort is the tickets logged in the period (cancelled and merged ones are counted
//! apart and left out of the rates). As of the period's end, a ticket is
//! - responded if it had been claimed, in time if the first claim came by `respond_by`;
//! - resolved if its last resolve/close/reopen event was a resolve or close (a reopened
//!   ticket counts against the rate until resolved again);
//! - satisfied if its latest return visit was satisfied or basically satisfied;
//! - overdue if a deadline had passed undone; escalated if it had risen at least once.

//!
//! Requests compute them set-wise in the database (`setwise`): one query reads each
//! ticket's facts (the fold of its trail, kept by the database with every write), folds
//! again only the trails that go on past the period's end, and counts the tickets per
//! group, so nothing of the period is held in memory. `reference` keeps the definition
//! as an event-by-event replay; a property test holds the two equal on random histories,
//! on both stores.

use std::collections::{BTreeMap, HashMap};

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use crate::db::DbConnection;
use crate::error::{CoreError, CoreResult};
use crate::ids::{OrgUnitId, PartnerId};
use crate::schema::{org_units, partners, tickets};
use crate::scope::{can_see_org_unit, in_subtree, visible_path, Actor, Scope};
use crate::types::{IntakeChannel, OrgKind, Role, TicketStatus};

pub mod reference;
pub mod setwise;
pub mod statements;

/// The longest period one request may cover.
pub const MAX_PERIOD_DAYS: i64 = 400;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Period {
    #[serde(serialize_with = "crate::time::utc")]
    pub from: NaiveDateTime,
    #[serde(serialize_with = "crate::time::utc")]
    pub to: NaiveDateTime,
}

impl Period {
    pub fn new(from: NaiveDateTime, to: NaiveDateTime) -> CoreResult<Self> {
        if to <= from {
            return Err(CoreError::invalid(
                "to",
                "range",
                "the period must end after it starts",
            ));
        }
        if (to - from).num_days() > MAX_PERIOD_DAYS {
            return Err(CoreError::invalid(
                "to",
                "range",
                format!("a period spans at most {MAX_PERIOD_DAYS} days"),
            ));
        }
        Ok(Self { from, to })
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Figures {
    /// Tickets logged in the period, cancelled and merged ones left out.
    pub received: i64,
    pub responded: i64,
    pub responded_in_time: i64,
    /// responded in time / received.
    pub response_rate: Option<f64>,
    pub resolved: i64,
    /// resolved / received.
    pub resolution_rate: Option<f64>,
    pub reopened: i64,
    /// Tickets with a return visit.
    pub visited: i64,
    pub satisfied: i64,
    /// satisfied / visited.
    pub satisfaction_rate: Option<f64>,
    pub overdue: i64,
    pub escalated: i64,
    pub cancelled: i64,
    pub merged: i64,
    pub median_response_minutes: Option<i64>,
    pub median_resolution_minutes: Option<i64>,
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Ranked<T> {
    pub rank: usize,
    #[serde(flatten)]
    pub who: T,
    pub figures: Figures,
    /// Urgings (催办次数) in the period: of the unit, or of tickets under the node.
    pub urged: i64,
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NodeRef {
    pub id: OrgUnitId,
    pub name: String,
    pub kind: OrgKind,
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PartnerRef {
    pub partner_id: PartnerId,
    pub name: String,
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NodeStats {
    pub node: NodeRef,
    pub period: Period,
    /// The intake channel the figures are of, when one was asked for (else all tickets).
    pub channel: Option<IntakeChannel>,
    /// The figures of the period before (`compare=previous`): the month or quarter before,
    /// or the same length just before.
    pub previous: Option<Previous>,
    pub figures: Figures,
    /// The node's children, best first.
    pub children: Vec<Ranked<NodeRef>>,
    /// The partner units that held the node's tickets, best first.
    pub partners: Vec<Ranked<PartnerRef>>,
    /// Urgings (催办) in the period of tickets under the node, by when they were made.
    pub urged: i64,
    /// When these figures were stored, if they were read from storage: a period that
    /// ended at least ten minutes ago is computed once and stored (its figures are taken
    /// as of its end); null when computed for this answer.
    #[serde(serialize_with = "crate::time::utc_opt")]
    pub stored_at: Option<NaiveDateTime>,
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PartnerStats {
    pub partner: PartnerRef,
    pub period: Period,
    /// As `NodeStats::channel`.
    pub channel: Option<IntakeChannel>,
    /// As `NodeStats::previous`.
    pub previous: Option<Previous>,
    pub figures: Figures,
    /// Urgings (催办次数) the unit received in the period.
    pub urged: i64,
    /// As `NodeStats::stored_at`.
    #[serde(serialize_with = "crate::time::utc_opt")]
    pub stored_at: Option<NaiveDateTime>,
}

impl Figures {
    /// The three rates derived again from the counts.
    pub fn with_rates(self) -> Self {
        Figures {
            response_rate: rate(self.responded_in_time, self.received),
            resolution_rate: rate(self.resolved, self.received),
            satisfaction_rate: rate(self.satisfied, self.visited),
            ..self
        }
    }
}

fn rate(n: i64, d: i64) -> Option<f64> {
    (d > 0).then(|| (n as f64 / d as f64 * 10_000.0).round() / 10_000.0)
}

/// Best first: resolution rate, then response rate, then satisfaction rate (no figure
/// ranks below any figure), then more tickets received; ties keep id order.
fn rank<T>(mut rows: Vec<(i64, T, Figures, i64)>) -> Vec<Ranked<T>> {
    let key = |f: &Figures| {
        let r = |x: Option<f64>| x.map_or(-1, |v| (v * 10_000.0).round() as i64);
        (
            r(f.resolution_rate),
            r(f.response_rate),
            r(f.satisfaction_rate),
            f.received,
        )
    };
    rows.sort_by(|a, b| key(&b.2).cmp(&key(&a.2)).then(a.0.cmp(&b.0)));
    rows.into_iter()
        .enumerate()
        .map(|(i, (_, who, figures, urged))| Ranked {
            rank: i + 1,
            who,
            figures,
            urged,
        })
        .collect()
}

/// Whose tickets a figure counts: those logged in the period under an org node, or those
/// a partner unit held at the period's end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Whose {
    /// The subtree at this materialised path.
    Subtree(String),
    Partner(PartnerId),
}

/// The tickets a figure counts: whose, and of those only the ones that came in by
/// `channel` when one is named (the rates by intake channel).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cohort {
    pub whose: Whose,
    pub channel: Option<IntakeChannel>,
}

impl Cohort {
    /// The tickets of the subtree at this materialised path.
    pub fn subtree(path: impl Into<String>) -> Self {
        Cohort {
            whose: Whose::Subtree(path.into()),
            channel: None,
        }
    }

    /// The tickets a partner unit held.
    pub fn partner(partner: PartnerId) -> Self {
        Cohort {
            whose: Whose::Partner(partner),
            channel: None,
        }
    }

    /// Of these, only the ones that came in by `channel` (all, for `None`).
    pub fn by_channel(self, channel: Option<IntakeChannel>) -> Self {
        Cohort { channel, ..self }
    }
}

/// The figures of a cohort: all of it, by child node (keyed by the child's path) and by the
/// unit holding each ticket at the period's end. A partner's cohort fills `all` only.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Groups {
    pub all: Figures,
    pub children: BTreeMap<String, Figures>,
    pub partners: BTreeMap<PartnerId, Figures>,
}

/// The path of the child of the node at `node_path` that `org_path` lies under; `None` for
/// the node itself.
pub fn child_key<'a>(org_path: &'a str, node_path: &str) -> Option<&'a str> {
    let rest = org_path.strip_prefix(node_path)?;
    let end = node_path.len() + rest.find('/')? + 1;
    Some(&org_path[..end])
}

/// The rates of an org node's subtree, its children ranked, and the partner units ranked;
/// a settled period's from its stored statement (`statements`).
pub fn for_node(
    conn: &mut DbConnection,
    actor: &Actor,
    node: OrgUnitId,
    period: Period,
    channel: Option<IntakeChannel>,
    now: NaiveDateTime,
) -> CoreResult<NodeStats> {
    actor.require_role(
        &[Role::Supervisor, Role::Admin],
        "the rates are for supervisors; units read their own with partner_id",
    )?;
    if !can_see_org_unit(conn, &actor.scope, node)? {
        return Err(CoreError::NotFound("org unit"));
    }
    let (name, kind, path): (String, OrgKind, String) = org_units::table
        .find(node)
        .select((org_units::name, org_units::kind, org_units::path))
        .first(conn)?;
    let cohort = Cohort::subtree(path).by_channel(channel);
    let (mut groups, stored_at) = statements::groups(conn, &cohort, period, now)?;
    let urged = urgings(conn, &cohort, period)?;
    let children: Vec<(OrgUnitId, String, OrgKind, String)> = org_units::table
        .filter(org_units::parent_id.eq(node))
        .order(org_units::id)
        .select((
            org_units::id,
            org_units::name,
            org_units::kind,
            org_units::path,
        ))
        .load(conn)?;
    let child_rows = children
        .into_iter()
        .map(|(id, name, kind, child_path)| {
            let f = groups.children.remove(&child_path).unwrap_or_default();
            let n = urged.children.get(&child_path).copied().unwrap_or(0);
            (id.0, NodeRef { id, name, kind }, f, n)
        })
        .collect();
    let names: HashMap<PartnerId, String> = partners::table
        .filter(partners::id.eq_any(groups.partners.keys().copied().collect::<Vec<_>>()))
        .select((partners::id, partners::name))
        .load::<(PartnerId, String)>(conn)?
        .into_iter()
        .collect();
    let partner_rows = groups
        .partners
        .into_iter()
        .map(|(id, figures)| {
            let name = names.get(&id).cloned().unwrap_or_default();
            (
                id.0,
                PartnerRef {
                    partner_id: id,
                    name,
                },
                figures,
                urged.partners.get(&id).copied().unwrap_or(0),
            )
        })
        .collect();
    Ok(NodeStats {
        node: NodeRef {
            id: node,
            name,
            kind,
        },
        period,
        channel,
        previous: None,
        figures: groups.all,
        children: rank(child_rows),
        partners: rank(partner_rows),
        urged: urged.all,
        stored_at,
    })
}

/// A partner unit's own rates: its staff see theirs only; supervisors those of units
/// serving their subtree.
pub fn for_partner(
    conn: &mut DbConnection,
    actor: &Actor,
    partner: PartnerId,
    period: Period,
    channel: Option<IntakeChannel>,
    now: NaiveDateTime,
) -> CoreResult<PartnerStats> {
    match (&actor.scope, actor.role) {
        (Scope::Partner { partner: own }, _) if *own != partner => {
            return Err(CoreError::NotFound("partner unit"))
        }
        (_, Role::GridMember) => {
            return Err(CoreError::Forbidden(
                "the rates are for supervisors and units",
            ))
        }
        _ => {}
    }
    let unit = crate::partners::get(conn, actor, partner)?;
    let cohort = Cohort::partner(partner).by_channel(channel);
    let (groups, stored_at) = statements::groups(conn, &cohort, period, now)?;
    Ok(PartnerStats {
        partner: PartnerRef {
            partner_id: unit.id,
            name: unit.name,
        },
        period,
        channel,
        previous: None,
        figures: groups.all,
        urged: urgings(conn, &cohort, period)?.all,
        stored_at,
    })
}

/// Urgings (催办) made in a period: in all, by the child node the ticket lies under, and by
/// the unit urged.
#[derive(Debug, Default)]
struct Urgings {
    all: i64,
    children: HashMap<String, i64>,
    partners: HashMap<PartnerId, i64>,
}

/// The urgings of a cohort made in the period: of tickets under the node, or of the unit.
/// Counted by when each was made, from the events themselves (a handful a day; the
/// events' `(kind, created_at)` index finds them), so not part of a stored statement.
fn urgings(conn: &mut DbConnection, cohort: &Cohort, period: Period) -> CoreResult<Urgings> {
    use crate::schema::{ticket_events, tickets};
    let made = ticket_events::table
        .inner_join(tickets::table)
        .filter(ticket_events::kind.eq(crate::types::EventKind::Urged))
        .filter(ticket_events::created_at.ge(period.from))
        .filter(ticket_events::created_at.lt(period.to))
        .select((ticket_events::partner_id, tickets::org_path));
    let made = match cohort.channel {
        Some(channel) => made
            .filter(tickets::id.eq_any(crate::tickets::intake::came_in_by(channel)))
            .into_boxed(),
        None => made.into_boxed(),
    };
    let (rows, node): (Vec<(Option<PartnerId>, String)>, Option<&str>) = match &cohort.whose {
        Whose::Subtree(path) => {
            let (lower, upper) = crate::scope::subtree_bounds(path);
            let rows = made
                .filter(tickets::org_path.ge(lower))
                .filter(tickets::org_path.lt(upper))
                .load(conn)?;
            (rows, Some(path.as_str()))
        }
        Whose::Partner(partner) => (
            made.filter(ticket_events::partner_id.eq(*partner))
                .load(conn)?,
            None,
        ),
    };
    let mut urged = Urgings::default();
    for (partner, org_path) in rows {
        urged.all += 1;
        if let Some(partner) = partner {
            *urged.partners.entry(partner).or_default() += 1;
        }
        if let Some(child) = node.and_then(|n| child_key(&org_path, n)) {
            *urged.children.entry(child.to_owned()).or_default() += 1;
        }
    }
    Ok(urged)
}

/// The periods the console offers, in days.
pub const CONSOLE_DAYS: [i64; 4] = [7, 30, 90, 365];

/// The instant a local day starts in `tz` (the earliest, if the clocks went back).
pub fn local_midnight(day: chrono::NaiveDate, tz: chrono_tz::Tz) -> NaiveDateTime {
    use chrono::TimeZone;
    let midnight = day.and_time(chrono::NaiveTime::MIN);
    tz.from_local_datetime(&midnight)
        .earliest()
        .map(|t| t.naive_utc())
        .unwrap_or(midnight)
}

/// The `days` whole local days before the one holding `now`: from that many midnights
/// ago to today's midnight in `tz`. The console's periods: the same all day (figures as of
/// 00:00, as a hotline office's daily report), so computed once and stored.
pub fn days_before_today(now: NaiveDateTime, days: i64, tz: chrono_tz::Tz) -> CoreResult<Period> {
    let today = now.and_utc().with_timezone(&tz).date_naive();
    Period::new(
        local_midnight(today - chrono::Duration::days(days), tz),
        local_midnight(today, tz),
    )
}

/// A calendar month or quarter of the local calendar, as a hotline office reports by
/// (月报, 季报), written `2026-11` or `2026-Q4`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CalendarPeriod {
    Month { year: i32, month: u32 },
    Quarter { year: i32, quarter: u32 },
}

impl CalendarPeriod {
    /// `2026-11` (a month) or `2026-Q4` (a quarter), years 2000 to 2999.
    pub fn parse(text: &str) -> Option<CalendarPeriod> {
        let (year, rest) = text.trim().split_once('-')?;
        let year: i32 = year.parse().ok().filter(|y| (2000..3000).contains(y))?;
        match rest.strip_prefix(['Q', 'q']) {
            Some(q) => q
                .parse()
                .ok()
                .filter(|q| (1..=4).contains(q))
                .map(|quarter| CalendarPeriod::Quarter { year, quarter }),
            None => rest
                .parse()
                .ok()
                .filter(|m| (1..=12).contains(m) && rest.len() == 2)
                .map(|month| CalendarPeriod::Month { year, month }),
        }
    }

    /// The month holding `now` in `tz`.
    pub fn month_of(now: NaiveDateTime, tz: chrono_tz::Tz) -> CalendarPeriod {
        use chrono::Datelike;
        let day = now.and_utc().with_timezone(&tz).date_naive();
        CalendarPeriod::Month {
            year: day.year(),
            month: day.month(),
        }
    }

    /// The quarter holding `now` in `tz`.
    pub fn quarter_of(now: NaiveDateTime, tz: chrono_tz::Tz) -> CalendarPeriod {
        match Self::month_of(now, tz) {
            CalendarPeriod::Month { year, month } => CalendarPeriod::Quarter {
                year,
                quarter: (month - 1) / 3 + 1,
            },
            quarter => quarter,
        }
    }

    /// The month or quarter before this one.
    pub fn previous(self) -> CalendarPeriod {
        // The `n`th of `per_year` in `year`, one back.
        let back = |year: i32, n: u32, per_year: u32| match n {
            1 => (year - 1, per_year),
            n => (year, n - 1),
        };
        match self {
            CalendarPeriod::Month { year, month } => {
                let (year, month) = back(year, month, 12);
                CalendarPeriod::Month { year, month }
            }
            CalendarPeriod::Quarter { year, quarter } => {
                let (year, quarter) = back(year, quarter, 4);
                CalendarPeriod::Quarter { year, quarter }
            }
        }
    }

    /// Its first day and the first day after it.
    fn days(self) -> (chrono::NaiveDate, chrono::NaiveDate) {
        let (year, first, months) = match self {
            CalendarPeriod::Month { year, month } => (year, month, 1),
            CalendarPeriod::Quarter { year, quarter } => (year, quarter * 3 - 2, 3),
        };
        let start = chrono::NaiveDate::from_ymd_opt(year, first, 1).unwrap_or_default();
        (start, start + chrono::Months::new(months))
    }

    /// Its figures' period: from its first local midnight to the one after its last day,
    /// or, while it runs, to today's (figures as of 00:00, as the console's periods). The
    /// first day of a month or quarter has nothing to show yet: a refusal naming `field`.
    pub fn period(self, now: NaiveDateTime, tz: chrono_tz::Tz, field: &str) -> CoreResult<Period> {
        let (first, after) = self.days();
        let today = now.and_utc().with_timezone(&tz).date_naive();
        let from = local_midnight(first, tz);
        let to = local_midnight(after.min(today), tz);
        if to <= from {
            return Err(CoreError::invalid(
                field,
                "not_begun",
                format!("{self} has no whole day yet"),
            ));
        }
        Period::new(from, to).map_err(|_| CoreError::invalid(field, "range", "too long a period"))
    }
}

impl std::fmt::Display for CalendarPeriod {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CalendarPeriod::Month { year, month } => write!(f, "{year}-{month:02}"),
            CalendarPeriod::Quarter { year, quarter } => write!(f, "{year}-Q{quarter}"),
        }
    }
}

/// The period a figure is compared with (环比): the month or quarter before a calendar
/// one, else the same length just before.
pub fn previous_period(
    period: Period,
    calendar: Option<CalendarPeriod>,
    now: NaiveDateTime,
    tz: chrono_tz::Tz,
) -> CoreResult<Period> {
    match calendar {
        Some(c) => c.previous().period(now, tz, "compare"),
        None => Period::new(period.from - (period.to - period.from), period.from),
    }
}

/// The figures of the period before, beside an answer's (`compare=previous`).
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Previous {
    pub period: Period,
    pub figures: Figures,
}

/// The period `GET /stats` answers when none is asked for, in days.
pub const RECENT_DAYS: i64 = 30;

/// The `days` up to the last whole local hour that has settled (`statements::settled`): at
/// 14:05 the period ends at 13:00, at 14:15 at 14:00. The API's default period: figures as
/// of a whole hour, the same for everyone asking within it, so stored once computed (the
/// scheduler computes the city's and the districts' every hour before anyone asks).
pub fn days_to_the_hour(now: NaiveDateTime, days: i64, tz: chrono_tz::Tz) -> CoreResult<Period> {
    use chrono::{Offset, TimeZone};
    let latest = now - chrono::Duration::minutes(statements::SETTLE_MINUTES);
    // How far the local clock is past its whole hour (a zone may be half an hour off UTC).
    let offset = i64::from(tz.offset_from_utc_datetime(&latest).fix().local_minus_utc());
    let past = (latest.and_utc().timestamp() + offset).rem_euclid(3600);
    let to = latest
        - chrono::Duration::seconds(past)
        - chrono::Duration::nanoseconds(i64::from(latest.and_utc().timestamp_subsec_nanos()));
    Period::new(to - chrono::Duration::days(days), to)
}

/// One week of `weekly_volume`: the Monday it starts on (local date) and the tickets
/// logged in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WeekCount {
    pub week_of: chrono::NaiveDate,
    pub logged: i64,
}

/// Tickets logged per week in a node's subtree (cancelled and merged ones left out, as in
/// the rates), for the `weeks` weeks up to and including the one holding `now`. Weeks
/// start on Monday 00:00 in `tz`. One indexed count per week, so the cost does not grow
/// with the district's history.
pub fn weekly_volume(
    conn: &mut DbConnection,
    actor: &Actor,
    (node, channel): (OrgUnitId, Option<IntakeChannel>),
    weeks: u32,
    now: NaiveDateTime,
    tz: chrono_tz::Tz,
) -> CoreResult<Vec<WeekCount>> {
    use chrono::{Datelike, Duration};
    actor.require_role(
        &[Role::Supervisor, Role::Admin],
        "weekly volumes are for supervisors",
    )?;
    let path = visible_path(conn, &actor.scope, node)?;
    let today = now.and_utc().with_timezone(&tz).date_naive();
    let this_monday = today - Duration::days(i64::from(today.weekday().num_days_from_monday()));
    let start_of = |day| local_midnight(day, tz);
    let weeks = weeks.clamp(1, 104);
    (0..weeks)
        .rev()
        .map(|back| {
            let monday = this_monday - Duration::weeks(i64::from(back));
            let (from, to) = (start_of(monday), start_of(monday + Duration::weeks(1)));
            let mut logged = tickets::table
                .filter(in_subtree(tickets::org_path, &path))
                .filter(tickets::created_at.ge(from).and(tickets::created_at.lt(to)))
                .filter(tickets::status.ne_all([TicketStatus::Cancelled, TicketStatus::Merged]))
                .into_boxed();
            if let Some(channel) = channel {
                logged =
                    logged.filter(tickets::id.eq_any(crate::tickets::intake::came_in_by(channel)));
            }
            let logged = logged.count().get_result(conn)?;
            Ok(WeekCount {
                week_of: monday,
                logged,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_and_child_keys() {
        assert_eq!(child_key("/1/5/23/", "/1/"), Some("/1/5/"));
        assert_eq!(child_key("/1/5/23/", "/1/5/"), Some("/1/5/23/"));
        assert_eq!(child_key("/1/5/", "/1/5/"), None);
        assert_eq!(child_key("/2/5/", "/1/"), None);
        assert_eq!(rate(1, 3), Some(0.3333));
        assert_eq!(rate(0, 0), None);
    }

    #[test]
    fn months_and_quarters_run_from_local_midnight_to_local_midnight() {
        let tz: chrono_tz::Tz = "Asia/Shanghai".parse().unwrap();
        let at = |t: &str| NaiveDateTime::parse_from_str(t, "%Y-%m-%d %H:%M:%S").unwrap();
        let now = at("2026-12-08 02:00:00");
        let november = CalendarPeriod::parse("2026-11").unwrap();
        let p = november.period(now, tz, "month").unwrap();
        assert_eq!(
            (p.from, p.to),
            (at("2026-10-31 16:00:00"), at("2026-11-30 16:00:00"))
        );
        assert_eq!(november.previous().to_string(), "2026-10");
        let q3 = CalendarPeriod::parse("2026-Q3").unwrap();
        let p = q3.period(now, tz, "quarter").unwrap();
        assert_eq!(
            (p.from, p.to),
            (at("2026-06-30 16:00:00"), at("2026-09-30 16:00:00"))
        );
        assert_eq!(q3.previous().to_string(), "2026-Q2");
        assert_eq!(
            CalendarPeriod::parse("2026-01")
                .unwrap()
                .previous()
                .to_string(),
            "2025-12"
        );
        assert_eq!(
            CalendarPeriod::parse("2026-q1")
                .unwrap()
                .previous()
                .to_string(),
            "2025-Q4"
        );
        // A month that runs ends at today's midnight; its first day has nothing yet.
        let december = CalendarPeriod::month_of(now, tz);
        assert_eq!(december.to_string(), "2026-12");
        assert_eq!(CalendarPeriod::quarter_of(now, tz).to_string(), "2026-Q4");
        assert_eq!(
            december.period(now, tz, "month").unwrap().to,
            at("2026-12-07 16:00:00")
        );
        let first_day = at("2026-11-30 18:00:00");
        assert!(december.period(first_day, tz, "month").is_err());
        for bad in [
            "2026-13", "2026-Q5", "2026-1", "26-11", "2026", "2026-Q0", "x-11",
        ] {
            assert_eq!(CalendarPeriod::parse(bad), None, "{bad}");
        }
        // Compared with: the month before, or the same length just before.
        let p = november.period(now, tz, "month").unwrap();
        let before = previous_period(p, Some(november), now, tz).unwrap();
        assert_eq!(
            (before.from, before.to),
            (at("2026-09-30 16:00:00"), at("2026-10-31 16:00:00"))
        );
        let week = Period::new(at("2026-11-16 00:00:00"), at("2026-11-23 00:00:00")).unwrap();
        let before = previous_period(week, None, now, tz).unwrap();
        assert_eq!(
            (before.from, before.to),
            (at("2026-11-09 00:00:00"), at("2026-11-16 00:00:00"))
        );
    }

    #[test]
    fn the_default_period_ends_at_the_last_settled_local_hour() {
        let at = |t: &str| NaiveDateTime::parse_from_str(t, "%Y-%m-%d %H:%M:%S").unwrap();
        let shanghai = chrono_tz::Asia::Shanghai;
        // 14:05 in Beijing (06:05 UTC): 14:00 has not settled, so 13:00.
        let p = days_to_the_hour(at("2026-11-20 06:05:00"), 30, shanghai).unwrap();
        assert_eq!(p.to, at("2026-11-20 05:00:00"));
        assert_eq!(p.from, at("2026-10-21 05:00:00"));
        // 14:10 exactly: 14:00 has.
        let p = days_to_the_hour(at("2026-11-20 06:10:00"), 30, shanghai).unwrap();
        assert_eq!(p.to, at("2026-11-20 06:00:00"));
        assert!(statements::settled(p, at("2026-11-20 06:10:00")));
        // A zone half an hour off UTC ends at its own whole hours.
        let p = days_to_the_hour(at("2026-11-20 06:50:00"), 7, chrono_tz::Asia::Kolkata).unwrap();
        assert_eq!(p.to, at("2026-11-20 06:30:00"));
        // The hour the clocks repeat (Berlin, 2026-10-25 03:00 CEST → 02:00 CET): at 02:40
        // CET the hour is 02:00 CET, not 02:00 CEST an hour before.
        let p = days_to_the_hour(at("2026-10-25 01:40:00"), 1, chrono_tz::Europe::Berlin).unwrap();
        assert_eq!(p.to, at("2026-10-25 01:00:00"));
    }

    #[test]
    fn ranking_is_by_rates_then_volume_then_id() {
        let f = |res: Option<f64>, rec: i64| Figures {
            resolution_rate: res,
            received: rec,
            ..Figures::default()
        };
        let ranked = rank(vec![
            (3, "c", f(Some(0.5), 2), 0),
            (1, "a", f(None, 9), 0),
            (2, "b", f(Some(0.5), 2), 0),
            (4, "d", f(Some(0.5), 5), 0),
        ]);
        let order: Vec<_> = ranked.iter().map(|r| (r.rank, r.who)).collect();
        assert_eq!(order, [(1, "d"), (2, "b"), (3, "c"), (4, "a")]);
    }
}
