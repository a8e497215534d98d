//! The rates computed by the database in one query, nothing of the period held in memory.
//!
//! The query follows `reference` step by step:
//! 1. `c`, the cohort: tickets logged in the period under the node (or touched by the unit);
//! 2. `m`, per ticket, what its events before the period's end say. "The last event of a
//!    kind" is the one with the highest id; where only one bit of it matters (resolved or
//!    reopened, satisfied or not, cancelled or merged) the bit rides in the low bits of
//!    `id * 2` (or `* 4`) so one MAX finds both. The first claim, the first resolve and the
//!    last holding event are fetched by their id;
//! 3. `f`, each ticket's facts as the reference's `Facts`;
//! 4. `g`, each ticket once for the whole cohort, once under its child node and once under
//!    the unit holding it; then counts and medians per group. The median takes the middle
//!    one or two values by row number, halved as integers as the reference does.
//!
//! Minutes between two instants are whole seconds truncated toward zero, then divided by
//! 60, as chrono's `num_minutes`; SQLite keeps timestamps as text, so there the seconds
//! come from `strftime('%s')` and the fraction from the text.

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text, Timestamp};

use super::{rate, Cohort, Figures, Groups, Period};
use crate::db::{Backend, DbConnection};
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
            response_rate: rate(r.in_time, r.received),
            resolved: r.resolved,
            resolution_rate: rate(r.resolved, r.received),
            reopened: r.reopened,
            visited: r.visited,
            satisfied: r.satisfied,
            satisfaction_rate: rate(r.satisfied, r.visited),
            overdue: r.overdue,
            escalated: r.escalated,
            cancelled: r.cancelled,
            merged: r.merged,
            median_response_minutes: r.median_response,
            median_resolution_minutes: r.median_resolution,
        }
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

/// The query. Parameters: $1 the period's start, $2 its end, then for a subtree $3 and $4
/// the path's bounds and $5 the path, for a unit $3 its id. (SQLite numbers `$n` by first
/// appearance, so they appear in order.)
fn query(d: &Dialect, cohort: &Cohort) -> String {
    let scope = match cohort {
        Cohort::Subtree(_) => "t.org_path >= $3 AND t.org_path < $4",
        Cohort::Partner(_) => "t.id IN (SELECT ticket_id FROM ticket_events WHERE partner_id = $3)",
    };
    let groups = match cohort {
        Cohort::Subtree(_) => {
            let child = format!(
                "substr(f.org_path, 1, length($5) + {pos}(substr(f.org_path, length($5) + 1), '/'))",
                pos = d.position()
            );
            format!(
                "SELECT '' AS grp, f.* FROM f \
                 UNION ALL SELECT 'c' || {child}, f.* FROM f WHERE {child} <> $5 \
                 UNION ALL SELECT 'p' || CAST(f.holder AS TEXT), f.* FROM f WHERE f.holder IS NOT NULL"
            )
        }
        Cohort::Partner(_) => "SELECT '' AS grp, f.* FROM f WHERE f.holder = $3".to_owned(),
    };
    let sat = d.satisfaction("e.detail");
    let median = |column: &str| {
        format!(
            "SELECT grp, CAST(SUM(v) AS BIGINT) / COUNT(*) AS med FROM ( \
               SELECT grp, {column} AS v, \
                 ROW_NUMBER() OVER (PARTITION BY grp ORDER BY {column}) AS rn, \
                 COUNT(*) OVER (PARTITION BY grp) AS n \
               FROM g WHERE ending = 0 AND {column} IS NOT NULL) x \
             WHERE rn IN ((n + 1) / 2, (n + 2) / 2) GROUP BY grp"
        )
    };
    let count = |what: &str| format!("CAST(SUM(CASE WHEN {what} THEN 1 ELSE 0 END) AS BIGINT)");
    format!(
        "WITH c AS MATERIALIZED ( \
           SELECT t.id, t.org_path, t.created_at, t.respond_by, t.resolve_by FROM tickets t \
           WHERE t.created_at >= $1 AND t.created_at < $2 AND {scope}), \
         m AS MATERIALIZED ( \
           SELECT e.ticket_id, \
             MIN(CASE WHEN e.kind = 'claimed' THEN e.id END) AS claim_id, \
             MIN(CASE WHEN e.kind = 'resolved' THEN e.id END) AS resolve_id, \
             MAX(CASE WHEN e.kind IN ('resolved', 'closed') THEN e.id * 2 + 1 \
                      WHEN e.kind = 'reopened' THEN e.id * 2 END) AS state, \
             MAX(CASE WHEN e.kind IN ('closed', 'reopened') AND {sat} IS NOT NULL \
                      THEN e.id * 2 + CASE WHEN {sat} = 'unsatisfied' THEN 0 ELSE 1 END END) AS visit, \
             MAX(CASE WHEN e.kind IN ('claimed', 'dispatched', 'reassigned', 'returned') \
                      THEN e.id END) AS hold_id, \
             MAX(CASE WHEN e.kind IN ('cancelled', 'merged') THEN e.id * 4 + \
                      CASE e.to_status WHEN 'cancelled' THEN 1 WHEN 'merged' THEN 2 ELSE 0 END \
                      END) AS ending, \
             MAX(CASE WHEN e.kind = 'reopened' THEN 1 ELSE 0 END) AS reopened, \
             MAX(CASE WHEN e.kind = 'escalated' THEN 1 ELSE 0 END) AS escalated \
           FROM c JOIN ticket_events e ON e.ticket_id = c.id \
           WHERE e.created_at < $2 \
           GROUP BY e.ticket_id), \
         f AS MATERIALIZED ( \
           SELECT c.org_path, \
             COALESCE(m.ending % 4, 0) AS ending, \
             CASE WHEN claim.id IS NULL THEN 0 ELSE 1 END AS responded, \
             CASE WHEN claim.id IS NOT NULL AND (c.respond_by IS NULL OR claim.created_at <= c.respond_by) \
                  THEN 1 ELSE 0 END AS in_time, \
             {response} AS response_minutes, \
             {resolution} AS resolution_minutes, \
             COALESCE(m.state % 2, 0) AS resolved, \
             COALESCE(m.reopened, 0) AS reopened, \
             COALESCE(m.escalated, 0) AS escalated, \
             m.visit % 2 AS satisfied, \
             CASE WHEN hold.kind = 'returned' THEN NULL ELSE hold.partner_id END AS holder, \
             CASE WHEN (claim.id IS NULL AND c.respond_by < $2) \
                    OR (COALESCE(m.state % 2, 0) = 0 AND c.resolve_by < $2) \
                  THEN 1 ELSE 0 END AS overdue \
           FROM c LEFT JOIN m ON m.ticket_id = c.id \
             LEFT JOIN ticket_events claim ON claim.id = m.claim_id \
             LEFT JOIN ticket_events done ON done.id = m.resolve_id \
             LEFT JOIN ticket_events hold ON hold.id = m.hold_id), \
         g AS MATERIALIZED ({groups}), \
         a AS ( \
           SELECT grp, \
             {received} AS received, \
             {responded} AS responded, \
             {in_time} AS in_time, \
             {resolved} AS resolved, \
             {reopened} AS reopened, \
             {visited} AS visited, \
             {satisfied} AS satisfied, \
             {overdue} AS overdue, \
             {escalated} AS escalated, \
             {cancelled} AS cancelled, \
             {merged} AS merged \
           FROM g GROUP BY grp), \
         rm AS ({median_response}), \
         sm AS ({median_resolution}) \
         SELECT a.*, rm.med AS median_response, sm.med AS median_resolution \
         FROM a LEFT JOIN rm ON rm.grp = a.grp LEFT JOIN sm ON sm.grp = a.grp",
        response = d.minutes("claim.created_at", "c.created_at"),
        resolution = d.minutes("done.created_at", "c.created_at"),
        received = count("ending = 0"),
        responded = count("ending = 0 AND responded = 1"),
        in_time = count("ending = 0 AND in_time = 1"),
        resolved = count("ending = 0 AND resolved = 1"),
        reopened = count("ending = 0 AND reopened = 1"),
        visited = count("ending = 0 AND satisfied IS NOT NULL"),
        satisfied = count("ending = 0 AND satisfied = 1"),
        overdue = count("ending = 0 AND overdue = 1"),
        escalated = count("ending = 0 AND escalated = 1"),
        cancelled = count("ending = 1"),
        merged = count("ending = 2"),
        median_response = median("response_minutes"),
        median_resolution = median("resolution_minutes"),
    )
}

/// The cohort's figures, computed by the database.
pub fn groups(conn: &mut DbConnection, cohort: &Cohort, period: Period) -> CoreResult<Groups> {
    let sql = query(&Dialect(conn.backend()), cohort);
    let rows: Vec<Row> = match cohort {
        Cohort::Subtree(path) => {
            let (lower, upper) = subtree_bounds(path);
            diesel::sql_query(sql)
                .bind::<Timestamp, _>(period.from)
                .bind::<Timestamp, _>(period.to)
                .bind::<Text, _>(lower)
                .bind::<Text, _>(upper)
                .bind::<Text, _>(path)
                .load(conn)?
        }
        Cohort::Partner(partner) => diesel::sql_query(sql)
            .bind::<Timestamp, _>(period.from)
            .bind::<Timestamp, _>(period.to)
            .bind::<BigInt, _>(partner.0)
            .load(conn)?,
    };
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
                    .map_err(|_| CoreError::Internal(format!("a unit group named {id:?}")))?;
                groups.partners.insert(PartnerId(id), figures);
            }
            Some(_) => return Err(CoreError::Internal(format!("a group named {key:?}"))),
        }
    }
    Ok(groups)
}
