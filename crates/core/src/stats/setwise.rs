//! The rates computed by the database in one query, nothing of the period held in memory.
//!
//! Each ticket's facts (`ticket_facts`, kept by the database's triggers with every ticket
//! and event write, migration 15) are the fold of its whole trail; they hold for a period
//! whose end comes after the trail's last event. The query follows `reference` step by
//! step:
//! 1. `u`, the cohort's few tickets whose trail goes on past the period's end (a past
//!    period), and `m`, their events before the end folded again, one pass, one row per
//!    ticket; `c`, the cohort's facts as of the period's end: tickets logged in the
//!    period under the node (or touched by the unit), most read from their row of
//!    facts, those of `u` from `m`. "The last event of a kind" is the one with the
//!    highest id: the one bit that matters of it (resolved or reopened, satisfied or
//!    not, cancelled or merged) rides in the low bits of `id * 2` (or `* 4`), the
//!    holding unit below `id * 2^24`, so one MAX finds both. The first claim and the
//!    first resolve are the earliest ones: a ticket's trail is written in time order,
//!    each change under the ticket's row version, so the first by id is the earliest (a
//!    second claim needs a return in between, and ties are one instant);
//! 2. `f`, each ticket's figures as the reference's `Facts`, with its child node (by the
//!    number its path holds below the node's) and unit;
//! 3. `t`, in one pass: the tickets counted by (child, unit, packed figures), and by
//!    (child, unit, whole minutes) for each of the two durations;
//! 4. `s`, the counts per (child, unit) pair rolled up into the whole cohort, each child and
//!    each unit; the medians from the histograms rolled up the same way, the middle one or
//!    two values found by a running count and halved as integers, as the reference does.
//!
//! Minutes between two instants are whole seconds truncated toward zero, then divided by
//! 60, as chrono's `num_minutes`; SQLite keeps timestamps as text, so there the seconds
//! come from `strftime('%s')` and the fraction from the text.

use diesel::prelude::*;
use diesel::query_builder::{BoxedSqlQuery, SqlQuery};
use diesel::sql_types::{BigInt, Nullable, Text, Timestamp};

use super::{Cohort, Figures, Groups, Period, Whose};
use crate::db::{Backend, DbBackend, DbConnection};
use crate::error::{CoreError, CoreResult};
use crate::ids::PartnerId;
use crate::scope::subtree_bounds;

#[derive(QueryableByName)]
struct Row {
    #[diesel(sql_type = Text)]
    grp: String,
    #[diesel(sql_type = BigInt)]
    received: i64,
    #[diesel(sql_type = BigInt)]
    responded: i64,
    #[diesel(sql_type = BigInt)]
    in_time: i64,
    #[diesel(sql_type = BigInt)]
    resolved: i64,
    #[diesel(sql_type = BigInt)]
    reopened: i64,
    #[diesel(sql_type = BigInt)]
    visited: i64,
    #[diesel(sql_type = BigInt)]
    satisfied: i64,
    #[diesel(sql_type = BigInt)]
    overdue: i64,
    #[diesel(sql_type = BigInt)]
    escalated: i64,
    #[diesel(sql_type = BigInt)]
    cancelled: i64,
    #[diesel(sql_type = BigInt)]
    merged: i64,
    #[diesel(sql_type = Nullable<BigInt>)]
    median_response: Option<i64>,
    #[diesel(sql_type = Nullable<BigInt>)]
    median_resolution: Option<i64>,
}

impl From<Row> for Figures {
    fn from(r: Row) -> Self {
        Figures {
            received: r.received,
            responded: r.responded,
            responded_in_time: r.in_time,
            resolved: r.resolved,
            reopened: r.reopened,
            visited: r.visited,
            satisfied: r.satisfied,
            overdue: r.overdue,
            escalated: r.escalated,
            cancelled: r.cancelled,
            merged: r.merged,
            median_response_minutes: r.median_response,
            median_resolution_minutes: r.median_resolution,
            ..Figures::default()
        }
        .with_rates()
    }
}

/// What differs between the two stores' SQL.
struct Dialect(Backend);

impl Dialect {
    /// Whole minutes from `b` to `a`, as `(a - b).num_minutes()`.
    fn minutes(&self, a: &str, b: &str) -> String {
        match self.0 {
            Backend::Postgres => {
                format!("(CAST(trunc(extract(epoch FROM {a} - {b})) AS BIGINT) / 60)")
            }
            Backend::Sqlite => {
                let secs = |t: &str| format!("CAST(strftime('%s', substr({t}, 1, 19)) AS INTEGER)");
                let nanos = |t: &str| {
                    format!("CAST(substr(substr({t}, 21) || '000000000', 1, 9) AS INTEGER)")
                };
                format!(
                    "((({sa} - {sb}) * 1000000000 + {na} - {nb}) / 1000000000 / 60)",
                    sa = secs(a),
                    sb = secs(b),
                    na = nanos(a),
                    nb = nanos(b),
                )
            }
        }
    }

    /// The `satisfaction` string of a JSON detail, or NULL.
    fn satisfaction(&self, detail: &str) -> String {
        match self.0 {
            Backend::Postgres => format!("(CAST({detail} AS jsonb) ->> 'satisfaction')"),
            Backend::Sqlite => format!("json_extract({detail}, '$.satisfaction')"),
        }
    }

    fn position(&self) -> &'static str {
        match self.0 {
            Backend::Postgres => "strpos",
            Backend::Sqlite => "instr",
        }
    }
}

/// The last holding event's unit rides below the event's id, `id * 2^24 + unit` (0 for
/// none, or after a return), so one MAX over the events finds both. Unit ids stay far
/// below 2^24 (a city has thousands), and event ids below 2^39.
const HOLD: &str =
    "e.id * 16777216 + CASE WHEN e.kind = 'returned' THEN 0 ELSE COALESCE(e.partner_id, 0) END";
const HOLDER: &str = "NULLIF(m.hold % 16777216, 0)";

/// `columns` of `table` summed (or the histogram's counts, with `v`) for the whole cohort,
/// each child and each unit.
fn rolled(cohort: &Cohort, table: &str, columns: &str, by_value: bool) -> String {
    let (v, by_v, and_v) = if by_value {
        ("v, ", "GROUP BY v", ", v")
    } else {
        ("", "", "")
    };
    match cohort.whose {
        Whose::Subtree(_) => format!(
            "SELECT '' AS grp, {v}{columns} FROM {table} {by_v} \
             UNION ALL SELECT 'c' || $5 || CAST(child AS TEXT) || '/', {v}{columns} FROM {table} \
               WHERE child IS NOT NULL GROUP BY child{and_v} \
             UNION ALL SELECT 'p' || CAST(holder AS TEXT), {v}{columns} FROM {table} \
               WHERE holder IS NOT NULL GROUP BY holder{and_v}"
        ),
        Whose::Partner(_) => {
            format!("SELECT '' AS grp, {v}{columns} FROM {table} WHERE holder = $3 {by_v}")
        }
    }
}

/// A ticket's figures packed into one number, so that one grouping counts them all:
/// (name, place, how many values). `ending` is 0 (counted), 1 (cancelled) or 2 (merged);
/// `verdict` is the return visit's: 0 (none), 1 (unsatisfied) or 2 (satisfied).
const PACKED: [(&str, u32, u32); 8] = [
    ("ending", 1, 4),
    ("responded", 4, 2),
    ("in_time", 8, 2),
    ("resolved", 16, 2),
    ("reopened", 32, 2),
    ("escalated", 64, 2),
    ("verdict", 128, 4),
    ("overdue", 512, 2),
];

/// Which of `t`'s groupings a row belongs to, as PostgreSQL's `GROUPING(flags, rm, sm)`
/// numbers them (a bit for each column left out): by packed figures, by minutes to the
/// first claim, by minutes to the first resolve.
const BY_FIGURES: u32 = 0b011;
const BY_RESPONSE: u32 = 0b101;
const BY_RESOLUTION: u32 = 0b110;

/// Each figure the rates report, as a condition on the unpacked fields.
const FIGURES: [(&str, &str); 11] = [
    ("received", "ending = 0"),
    ("responded", "ending = 0 AND responded = 1"),
    ("in_time", "ending = 0 AND in_time = 1"),
    ("resolved", "ending = 0 AND resolved = 1"),
    ("reopened", "ending = 0 AND reopened = 1"),
    ("visited", "ending = 0 AND verdict > 0"),
    ("satisfied", "ending = 0 AND verdict = 2"),
    ("overdue", "ending = 0 AND overdue = 1"),
    ("escalated", "ending = 0 AND escalated = 1"),
    ("cancelled", "ending = 1"),
    ("merged", "ending = 2"),
];

/// The query. Parameters: $1 the period's start, $2 its end, then for a subtree $3 and $4
/// the path's bounds and $5 the path, for a unit $3 its id. (SQLite numbers `$n` by first
/// appearance, so they appear in order.)
fn query(d: &Dialect, cohort: &Cohort) -> String {
    let scope = match cohort.whose {
        // The subtree's paths, each then read for the period from the (path, logged)
        // index: a range of paths alone reads every ticket the subtree ever had.
        Whose::Subtree(_) => {
            "x.org_path IN (SELECT o.path FROM org_units o WHERE o.path >= $3 AND o.path < $4)"
        }
        Whose::Partner(_) => {
            "x.ticket_id IN (SELECT ticket_id FROM ticket_events WHERE partner_id = $3)"
        }
    };
    // The child a ticket falls under, as the number its path holds after the node's path
    // (NULL for the node's own tickets): grouping 1.8 M tickets by a number took a city's
    // month from 7.6–8.1 s to 5.4–5.6 s against grouping by the child's path; the path is
    // put back together for the few rows that come out (`rolled`).
    let child = match cohort.whose {
        Whose::Subtree(_) => format!(
            "CAST(substr(org_path, length($5) + 1, \
               NULLIF({pos}(substr(org_path, length($5) + 1), '/'), 0) - 1) AS BIGINT)",
            pos = d.position()
        ),
        Whose::Partner(_) => "0".to_owned(),
    };
    let sat = d.satisfaction("ev.detail");
    let flags: Vec<String> = PACKED
        .iter()
        .map(|(name, place, _)| format!("{place} * {name}"))
        .collect();
    let unpacked: Vec<String> = PACKED
        .iter()
        .map(|(name, place, values)| format!("(flags / {place}) % {values} AS {name}"))
        .collect();
    let counts: Vec<String> = FIGURES
        .iter()
        .map(|(name, condition)| format!("SUM(CASE WHEN {condition} THEN k ELSE 0 END) AS {name}"))
        .collect();
    let summed: Vec<String> = FIGURES
        .iter()
        .map(|(name, _)| format!("CAST(COALESCE(SUM({name}), 0) AS BIGINT) AS {name}"))
        .collect();
    // Each ticket once for its figures and once for each of its two durations, by child and
    // unit, counted in one pass: PostgreSQL groups the three sets at once, SQLite as three
    // groupings. (By child, not by community: durations spread over thousands of minutes,
    // so a community's histogram would hold about one ticket a bucket.)
    let grouped = match d.0 {
        Backend::Postgres => "SELECT child, holder, flags, rm, sm, COUNT(*) AS k, \
               GROUPING(flags, rm, sm) AS gs FROM g \
             GROUP BY GROUPING SETS ((child, holder, flags), (child, holder, rm), \
               (child, holder, sm))"
            .to_owned(),
        Backend::Sqlite => format!(
            "SELECT child, holder, flags, NULL AS rm, NULL AS sm, COUNT(*) AS k, \
               {BY_FIGURES} AS gs FROM g GROUP BY child, holder, flags \
             UNION ALL SELECT child, holder, NULL, rm, NULL, COUNT(*), {BY_RESPONSE} FROM g \
               GROUP BY child, holder, rm \
             UNION ALL SELECT child, holder, NULL, NULL, sm, COUNT(*), {BY_RESOLUTION} FROM g \
               GROUP BY child, holder, sm"
        ),
    };
    let histogram = |column: &str, set: u32| {
        format!(
            "(SELECT child, holder, {column} AS v, k FROM t \
              WHERE gs = {set} AND {column} IS NOT NULL) hist"
        )
    };
    let median = |histogram: &str| {
        format!(
            "SELECT grp, (MIN(CASE WHEN upto >= (n + 1) / 2 THEN v END) \
                        + MIN(CASE WHEN upto >= (n + 2) / 2 THEN v END)) / 2 AS med \
             FROM (SELECT grp, v, \
                     CAST(SUM(k) OVER (PARTITION BY grp ORDER BY v) AS BIGINT) AS upto, \
                     CAST(SUM(k) OVER (PARTITION BY grp) AS BIGINT) AS n \
                   FROM ({rolled}) h) x \
             GROUP BY grp",
            rolled = rolled(cohort, histogram, "CAST(SUM(k) AS BIGINT) AS k", true)
        )
    };
    // The channel's name is one of the closed set (`IntakeChannel::as_str`), written in.
    let channel = match cohort.channel {
        Some(c) => format!(
            " AND x.ticket_id IN (SELECT i.ticket_id FROM ticket_intake i WHERE i.channel = '{}')",
            c.as_str()
        ),
        None => String::new(),
    };
    let in_period = format!("x.created_at >= $1 AND x.created_at < $2 AND {scope}{channel}");
    format!(
        "WITH u AS ( \
           SELECT x.ticket_id, x.org_path, x.created_at, x.respond_by, x.resolve_by \
           FROM ticket_facts x WHERE {in_period} AND x.last_event_at >= $2), \
         m AS ( \
           SELECT e.ticket_id, \
             MIN(CASE WHEN e.kind = 'claimed' THEN e.created_at END) AS first_claim, \
             MIN(CASE WHEN e.kind = 'resolved' THEN e.created_at END) AS first_resolve, \
             MAX(CASE WHEN e.kind IN ('resolved', 'closed') THEN e.id * 2 + 1 \
                      WHEN e.kind = 'reopened' THEN e.id * 2 END) AS state, \
             MAX(CASE WHEN e.verdict IS NOT NULL \
                      THEN e.id * 2 + CASE WHEN e.verdict = 'unsatisfied' THEN 0 ELSE 1 END END) AS visit, \
             MAX(CASE WHEN e.kind IN ('claimed', 'dispatched', 'reassigned', 'returned') \
                      THEN {hold} END) AS hold, \
             MAX(CASE WHEN e.kind IN ('cancelled', 'merged') THEN e.id * 4 + \
                      CASE e.to_status WHEN 'cancelled' THEN 1 WHEN 'merged' THEN 2 ELSE 0 END \
                      END) AS ending, \
             MAX(CASE WHEN e.kind = 'reopened' THEN 1 ELSE 0 END) AS reopened, \
             MAX(CASE WHEN e.kind = 'escalated' THEN 1 ELSE 0 END) AS escalated \
           FROM u JOIN ( \
             SELECT ev.ticket_id, ev.id, ev.kind, ev.partner_id, ev.to_status, ev.created_at, \
               CASE WHEN ev.kind IN ('closed', 'reopened') THEN {sat} END AS verdict \
             FROM ticket_events ev) e ON e.ticket_id = u.ticket_id \
           WHERE e.created_at < $2 \
           GROUP BY e.ticket_id), \
         c AS ( \
           SELECT x.org_path, x.respond_by, x.resolve_by, x.first_claim, x.response_minutes, \
             x.resolution_minutes, x.resolved, x.satisfied, x.holder, x.ending, x.reopened, \
             x.escalated \
           FROM ticket_facts x \
           WHERE {in_period} AND (x.last_event_at IS NULL OR x.last_event_at < $2) \
           UNION ALL \
           SELECT u.org_path, u.respond_by, u.resolve_by, m.first_claim, {response}, \
             {resolution}, COALESCE(m.state % 2, 0), m.visit % 2, {holder}, \
             COALESCE(m.ending % 4, 0), COALESCE(m.reopened, 0), COALESCE(m.escalated, 0) \
           FROM u LEFT JOIN m ON m.ticket_id = u.ticket_id), \
         f AS ( \
           SELECT org_path, holder, ending, \
             CASE WHEN first_claim IS NULL THEN 0 ELSE 1 END AS responded, \
             CASE WHEN first_claim IS NOT NULL \
                   AND (respond_by IS NULL OR first_claim <= respond_by) \
                  THEN 1 ELSE 0 END AS in_time, \
             resolved, reopened, escalated, \
             COALESCE(satisfied + 1, 0) AS verdict, \
             CASE WHEN (first_claim IS NULL AND respond_by < $2) \
                    OR (resolved = 0 AND resolve_by < $2) \
                  THEN 1 ELSE 0 END AS overdue, \
             CASE WHEN ending = 0 THEN response_minutes END AS rm, \
             CASE WHEN ending = 0 THEN resolution_minutes END AS sm \
           FROM c), \
         g AS (SELECT {child} AS child, holder, {flags} AS flags, rm, sm FROM f), \
         t AS ({grouped}), \
         s AS (SELECT child, holder, {counts} \
               FROM (SELECT child, holder, k, {unpacked} FROM t WHERE gs = {BY_FIGURES}) p \
               GROUP BY child, holder), \
         a AS ({rolled_counts}), \
         rm AS ({median_response}), \
         sm AS ({median_resolution}) \
         SELECT a.*, rm.med AS median_response, sm.med AS median_resolution \
         FROM a LEFT JOIN rm ON rm.grp = a.grp LEFT JOIN sm ON sm.grp = a.grp",
        hold = HOLD,
        holder = HOLDER,
        flags = flags.join(" + "),
        unpacked = unpacked.join(", "),
        response = d.minutes("m.first_claim", "u.created_at"),
        resolution = d.minutes("m.first_resolve", "u.created_at"),
        counts = counts.join(", "),
        rolled_counts = rolled(cohort, "s", &summed.join(", "), false),
        median_response = median(&histogram("rm", BY_RESPONSE)),
        median_resolution = median(&histogram("sm", BY_RESOLUTION)),
    )
}

/// PostgreSQL's settings for this query only: memory for its hashes and sorts (with the
/// default 4 MB a city's month spills its per-ticket facts to disk). The cost of a random
/// page is set for every connection (`db`): at the default a district's month hashes every
/// event of the city instead of fetching its tickets' events by index (4.9 s against
/// 2.8 s on 1.1 M tickets).
pub const SETTINGS: &str = "SET LOCAL work_mem = '64MB'";

/// Runs `f` with `SETTINGS` on PostgreSQL (`SET LOCAL`: they end with the transaction).
fn with_room<T>(
    conn: &mut DbConnection,
    f: impl FnOnce(&mut DbConnection) -> QueryResult<T>,
) -> QueryResult<T> {
    match conn.backend() {
        Backend::Postgres => conn.transaction(|conn| {
            diesel::connection::SimpleConnection::batch_execute(conn, SETTINGS)?;
            f(conn)
        }),
        Backend::Sqlite => f(conn),
    }
}

/// The query for this cohort and period with its parameters bound.
fn bound(
    sql: String,
    cohort: &Cohort,
    period: Period,
) -> BoxedSqlQuery<'static, DbBackend, SqlQuery> {
    let query = diesel::sql_query(sql)
        .into_boxed::<DbBackend>()
        .bind::<Timestamp, _>(period.from)
        .bind::<Timestamp, _>(period.to);
    match &cohort.whose {
        Whose::Subtree(path) => {
            let (lower, upper) = subtree_bounds(path);
            query
                .bind::<Text, _>(lower)
                .bind::<Text, _>(upper)
                .bind::<Text, _>(path.clone())
        }
        Whose::Partner(partner) => query.bind::<BigInt, _>(partner.0),
    }
}

/// The cohort's figures, computed by the database.
pub fn groups(conn: &mut DbConnection, cohort: &Cohort, period: Period) -> CoreResult<Groups> {
    let sql = query(&Dialect(conn.backend()), cohort);
    let rows: Vec<Row> = with_room(conn, |conn| bound(sql, cohort, period).load(conn))?;
    let mut groups = Groups::default();
    for row in rows {
        let key = row.grp.clone();
        let figures = Figures::from(row);
        match key.split_at_checked(1) {
            None => groups.all = figures,
            Some(("c", path)) => {
                groups.children.insert(path.to_owned(), figures);
            }
            Some(("p", id)) => {
                let id = id
                    .parse()
                    .map_err(|_| CoreError::internal(format!("a unit group named {id:?}")))?;
                groups.partners.insert(PartnerId(id), figures);
            }
            Some(_) => return Err(CoreError::internal(format!("a group named {key:?}"))),
        }
    }
    Ok(groups)
}

/// How the store runs the query for this cohort and period: PostgreSQL's plan as run
/// (`EXPLAIN ANALYZE`, with buffers), SQLite's query plan. For `jiesu admin explain-rates`.
pub fn explain(conn: &mut DbConnection, cohort: &Cohort, period: Period) -> CoreResult<String> {
    #[derive(QueryableByName)]
    struct PgLine {
        #[diesel(sql_type = Text, column_name = "QUERY PLAN")]
        line: String,
    }
    #[derive(QueryableByName)]
    struct LiteLine {
        #[diesel(sql_type = Text)]
        detail: String,
    }
    let backend = conn.backend();
    let sql = query(&Dialect(backend), cohort);
    let sql = match backend {
        Backend::Postgres => format!("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) {sql}"),
        Backend::Sqlite => format!("EXPLAIN QUERY PLAN {sql}"),
    };
    let query = bound(sql, cohort, period);
    let lines: Vec<String> = match backend {
        Backend::Postgres => with_room(conn, |conn| query.load::<PgLine>(conn))?
            .into_iter()
            .map(|l| l.line)
            .collect(),
        Backend::Sqlite => query
            .load::<LiteLine>(conn)?
            .into_iter()
            .map(|l| l.detail)
            .collect(),
    };
    Ok(lines.join("\n"))
}
