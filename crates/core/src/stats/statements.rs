//! The rates of periods that have ended, stored once computed (`rates_statements`,
//! migration 17).
//!
//! Figures are taken as of a period's end, so what happens after it does not change
//! them: a period that has ended has one answer, computed once. The writes that can still
//! change it — a ticket logged into the period after the fact (an import, the generator),
//! an event stamped before its end, a ticket moved to another node or its deadlines moved
//! — delete the statements they touch, by the database's triggers in the same transaction
//! as the write, so a stored answer always equals a fresh one (the rates property test
//! holds the two equal after such writes).
//!
//! A period is stored only once it ended `SETTLE_MINUTES` ago: a write stamped before
//! the end commits within moments of it. A write stamped further in the past (an import,
//! an escalation moving an old ticket's deadlines) may commit while a statement is being
//! computed, too late for the figures and too early to find the statement to delete: the
//! triggers count such writes (`rates_writes`) and a statement is stored only if the count
//! did not move while it was computed.

use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;
use diesel::sql_types::{Text, Timestamp};
use serde::{Deserialize, Serialize};

use super::{
    days_before_today, days_to_the_hour, setwise, Cohort, Groups, Period, Whose, CONSOLE_DAYS,
    RECENT_DAYS,
};
use crate::db::DbConnection;
use crate::error::CoreResult;
use crate::schema::{org_units, rates_statements};
use crate::types::OrgKind;

/// How long after a period's end its figures are stored.
pub const SETTLE_MINUTES: i64 = 10;

/// How long a statement is kept after it was stored: the console's periods move on every
/// day, and a period asked for again after that is computed again (a city's statement,
/// with its thousands of units, is about 850 KB of JSON).
pub const KEEP_DAYS: i64 = 7;

/// Whether the figures of `period` are stored (or served from storage) at `now`.
pub fn settled(period: Period, now: NaiveDateTime) -> bool {
    period.to + Duration::minutes(SETTLE_MINUTES) <= now
}

/// The key of a cohort's statements.
fn key(cohort: &Cohort) -> String {
    let whose = match &cohort.whose {
        Whose::Subtree(path) => format!("s{path}"),
        Whose::Partner(partner) => format!("p{}", partner.0),
    };
    match cohort.channel {
        None => whose,
        Some(channel) => format!("{whose}@{channel}"),
    }
}

/// What a statement holds: the counts (the rates are derived again on reading).
#[derive(Serialize, Deserialize)]
struct Stored {
    all: super::Figures,
    children: std::collections::BTreeMap<String, super::Figures>,
    partners: std::collections::BTreeMap<i64, super::Figures>,
}

impl From<&Groups> for Stored {
    fn from(g: &Groups) -> Self {
        Stored {
            all: g.all.clone(),
            children: g.children.clone(),
            partners: g.partners.iter().map(|(k, f)| (k.0, f.clone())).collect(),
        }
    }
}

impl From<Stored> for Groups {
    fn from(s: Stored) -> Self {
        Groups {
            all: s.all.with_rates(),
            children: s
                .children
                .into_iter()
                .map(|(k, f)| (k, f.with_rates()))
                .collect(),
            partners: s
                .partners
                .into_iter()
                .map(|(k, f)| (crate::ids::PartnerId(k), f.with_rates()))
                .collect(),
        }
    }
}

/// The cohort's figures over the period, and when they were stored if they were read from
/// storage: a settled period's from its statement, computed and stored the first time;
/// any other computed (`setwise`).
pub fn groups(
    conn: &mut DbConnection,
    cohort: &Cohort,
    period: Period,
    now: NaiveDateTime,
) -> CoreResult<(Groups, Option<NaiveDateTime>)> {
    if !settled(period, now) {
        return Ok((setwise::groups(conn, cohort, period)?, None));
    }
    let key = key(cohort);
    let stored: Option<(String, NaiveDateTime)> = rates_statements::table
        .find((&key, period.from, period.to))
        .select((rates_statements::figures, rates_statements::stored_at))
        .first(conn)
        .optional()?;
    if let Some((figures, stored_at)) = stored {
        match serde_json::from_str::<Stored>(&figures) {
            Ok(s) => return Ok((s.into(), Some(stored_at))),
            // Written by another version: computed again and replaced.
            Err(e) => {
                tracing::warn!(cohort = %key, error = %e, "a stored statement could not be read");
                diesel::delete(rates_statements::table.find((&key, period.from, period.to)))
                    .execute(conn)?;
            }
        }
    }
    let before = past_writes(conn, false)?;
    let groups = setwise::groups(conn, cohort, period)?;
    let figures = serde_json::to_string(&Stored::from(&groups))
        .map_err(|e| crate::error::CoreError::internal(format!("a statement: {e}")))?;
    crate::db::write_tx(conn, |conn| -> CoreResult<()> {
        // A write stamped in the past that committed while the figures were computed may
        // be missing from them (and found no statement to delete): then they are answered
        // but not stored. Waits for such a write in flight; one that comes after waits
        // for this to commit, and then deletes the statement.
        if past_writes(conn, true)? != before {
            tracing::debug!(cohort = %key, "a write into the past came in meanwhile; not stored");
            return Ok(());
        }
        diesel::sql_query(
            "INSERT INTO rates_statements (cohort, period_from, period_to, figures, stored_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (cohort, period_from, period_to) DO NOTHING",
        )
        .bind::<Text, _>(&key)
        .bind::<Timestamp, _>(period.from)
        .bind::<Timestamp, _>(period.to)
        .bind::<Text, _>(figures)
        .bind::<Timestamp, _>(now)
        .execute(conn)?;
        Ok(())
    })?;
    Ok((groups, None))
}

/// How many writes stamped in the past have committed (`rates_writes`, counted by the
/// triggers); `wait` (in a transaction) waits for those in flight on PostgreSQL and holds
/// back new ones until the transaction ends (SQLite's write transaction already does).
fn past_writes(conn: &mut DbConnection, wait: bool) -> CoreResult<i64> {
    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        changed: i64,
    }
    let lock = match conn.backend() {
        crate::db::Backend::Postgres if wait => " FOR SHARE",
        _ => "",
    };
    Ok(diesel::sql_query(format!(
        "SELECT changed FROM rates_writes WHERE id = 1{lock}"
    ))
    .get_result::<Count>(conn)?
    .changed)
}

/// The periods the scheduler keeps stored for the city and each district: the console's
/// (`CONSOLE_DAYS` up to today's midnight) and the API's default (`RECENT_DAYS` up to the
/// last settled whole hour), those that are settled.
fn kept_periods(now: NaiveDateTime, tz: chrono_tz::Tz) -> CoreResult<Vec<Period>> {
    let mut periods = CONSOLE_DAYS
        .iter()
        .map(|&days| days_before_today(now, days, tz))
        .chain([days_to_the_hour(now, RECENT_DAYS, tz)])
        .collect::<CoreResult<Vec<_>>>()?;
    periods.retain(|p| settled(*p, now));
    periods.dedup();
    Ok(periods)
}

/// Computes and stores the statements of `kept_periods` that are missing, for the city and
/// each district: the figures whose computing takes seconds at a city's volume (a street's
/// or a community's takes milliseconds, and is stored when first asked for). Answers how
/// many it computed. The scheduler runs it every hour, once the hour has settled.
pub fn state_periods(
    conn: &mut DbConnection,
    now: NaiveDateTime,
    tz: chrono_tz::Tz,
) -> CoreResult<usize> {
    let nodes: Vec<String> = org_units::table
        .filter(org_units::kind.eq_any([OrgKind::City, OrgKind::District]))
        .order(org_units::path)
        .select(org_units::path)
        .load(conn)?;
    let mut computed = 0;
    for period in kept_periods(now, tz)? {
        for path in &nodes {
            let cohort = Cohort::subtree(path.clone());
            // Looked up by key, not read: a city's statement is about 850 KB of JSON.
            let stored = rates_statements::table
                .find((key(&cohort), period.from, period.to))
                .count()
                .get_result::<i64>(conn)?;
            if stored == 0 {
                groups(conn, &cohort, period, now)?;
                computed += 1;
            }
        }
    }
    Ok(computed)
}

/// Deletes the statements stored more than `KEEP_DAYS` before `now`, and those of periods
/// that do not end at a local midnight (the API's hourly default, a period asked for with
/// its own end) stored more than a day before: the next hour's replaces them. Answers how
/// many.
pub fn prune(conn: &mut DbConnection, now: NaiveDateTime, tz: chrono_tz::Tz) -> CoreResult<usize> {
    let mut pruned = diesel::delete(
        rates_statements::table
            .filter(rates_statements::stored_at.lt(now - Duration::days(KEEP_DAYS))),
    )
    .execute(conn)?;
    // The day's statements: a few per node asked for, so few rows (their keys only).
    let older: Vec<(String, NaiveDateTime, NaiveDateTime)> = rates_statements::table
        .filter(rates_statements::stored_at.lt(now - Duration::days(1)))
        .select((
            rates_statements::cohort,
            rates_statements::period_from,
            rates_statements::period_to,
        ))
        .load(conn)?;
    for (cohort, from, to) in older {
        if !at_local_midnight(to, tz) {
            pruned +=
                diesel::delete(rates_statements::table.find((cohort, from, to))).execute(conn)?;
        }
    }
    Ok(pruned)
}

/// Whether `t` (UTC) is the start of a local day in `tz`.
fn at_local_midnight(t: NaiveDateTime, tz: chrono_tz::Tz) -> bool {
    t.and_utc().with_timezone(&tz).time() == chrono::NaiveTime::MIN
}
