//! Moving a SQLite installation to PostgreSQL when it outgrows one machine: every table
//! copied into an empty PostgreSQL database at the same migration level, ids, events,
//! numbers and counters kept, the id sequences set past the copied ids, then every table
//! compared row by row (a checksum of its rows in primary-key order, values compared as
//! the types they are).
//!
//! The copy runs with `session_replication_role = replica`, so PostgreSQL's triggers do not
//! fire: the derived tables (`ticket_facts`, stored rates) are copied as they are, not
//! derived a second time, and foreign keys are checked by the comparison instead. The
//! target carries the table `jiesu_move_incomplete` until the move has been verified;
//! `jiesu` refuses to serve a database that has it, and a later move starts that target
//! over.

use std::collections::BTreeMap;

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text};
use sha2::{Digest, Sha256};

use crate::db::DbConnection;
use crate::error::{CoreError, CoreResult};

/// Present in a PostgreSQL database while a move into it has not been verified.
pub const INCOMPLETE: &str = "jiesu_move_incomplete";

/// Rows per round trip.
const CHUNK: i64 = 2_000;

/// A column of the target, as PostgreSQL describes it.
#[derive(Debug, Clone, QueryableByName)]
struct Column {
    #[diesel(sql_type = Text)]
    table_name: String,
    #[diesel(sql_type = Text)]
    column_name: String,
    #[diesel(sql_type = Text)]
    data_type: String,
    #[diesel(sql_type = Nullable<Text>)]
    column_default: Option<String>,
}

#[derive(QueryableByName)]
struct Row {
    #[diesel(sql_type = BigInt)]
    rowid: i64,
    #[diesel(sql_type = Text)]
    row: String,
}

#[derive(QueryableByName)]
struct Rendered {
    #[diesel(sql_type = Text)]
    row: String,
}

#[derive(QueryableByName)]
struct Name {
    #[diesel(sql_type = Text)]
    name: String,
}

fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// What a move copied: rows per table.
pub type Moved = BTreeMap<String, i64>;

/// Whether the PostgreSQL database holds an unverified move (refuse to serve it).
pub fn interrupted(conn: &mut diesel::PgConnection) -> CoreResult<bool> {
    #[derive(QueryableByName)]
    struct Found {
        #[diesel(sql_type = diesel::sql_types::Bool)]
        found: bool,
    }
    let Found { found } = diesel::sql_query(format!(
        "SELECT to_regclass('public.{INCOMPLETE}') IS NOT NULL AS found"
    ))
    .get_result(conn)?;
    Ok(found)
}

/// Copies the SQLite database `source` into the empty PostgreSQL database at `target_url`
/// and verifies it. `progress(table, rows done, rows of the table)`.
pub fn move_to_postgres(
    source: &mut DbConnection,
    target_url: &str,
    mut progress: impl FnMut(&str, i64, i64),
) -> CoreResult<Moved> {
    let DbConnection::Sqlite(_) = source else {
        return Err(CoreError::invalid(
            "database.url",
            "not_sqlite",
            "move-to copies a SQLite installation; this one is on PostgreSQL already",
        ));
    };
    let mut target = diesel::PgConnection::establish(target_url).map_err(|e| {
        CoreError::unavailable_because(
            format!(
                "cannot connect to {}",
                crate::db::DatabaseUrl::Postgres(target_url.to_owned()).redacted()
            ),
            e,
        )
    })?;
    let tables: Vec<Name> =
        diesel::sql_query("SELECT tablename AS name FROM pg_tables WHERE schemaname = 'public'")
            .load(&mut target)?;
    if !tables.is_empty() {
        if !interrupted(&mut target)? {
            return Err(CoreError::invalid(
                "target",
                "not_empty",
                "the PostgreSQL database has tables: move into an empty database",
            ));
        }
        // An earlier move stopped half-way: start over.
        diesel::sql_query("DROP SCHEMA public CASCADE").execute(&mut target)?;
        diesel::sql_query("CREATE SCHEMA public").execute(&mut target)?;
    }
    diesel::sql_query(format!(
        "CREATE TABLE {INCOMPLETE} (started_at timestamp NOT NULL DEFAULT now())"
    ))
    .execute(&mut target)?;
    let mut target = DbConnection::Postgres(target);
    crate::db::apply_migrations(&mut target)?;
    // The same level (PostgreSQL has migrations of its own, such as an index SQLite lacks).
    let source_level = migration_versions(source)?.pop();
    let target_level = migration_versions(&mut target)?.pop();
    if source_level != target_level {
        return Err(CoreError::internal(format!(
            "the two databases are at different migrations: {source_level:?} against {target_level:?}"
        )));
    }

    let columns: Vec<Column> = diesel::sql_query(format!(
        "SELECT table_name::text AS table_name, column_name::text AS column_name, \
         data_type::text AS data_type, column_default::text AS column_default \
         FROM information_schema.columns WHERE table_schema = 'public' \
         AND table_name NOT IN ('__diesel_schema_migrations', '{INCOMPLETE}') \
         ORDER BY table_name, ordinal_position"
    ))
    .load(&mut target)?;
    let mut by_table: BTreeMap<String, Vec<Column>> = BTreeMap::new();
    for c in columns {
        by_table.entry(c.table_name.clone()).or_default().push(c);
    }

    // Rows a migration may have put in (the source has its own copy of them).
    let all = by_table
        .keys()
        .map(|t| quoted(t))
        .collect::<Vec<_>>()
        .join(", ");
    diesel::sql_query(format!("TRUNCATE {all}")).execute(&mut target)?;
    let mut moved = Moved::new();
    for (table, columns) in &by_table {
        let n = copy_table(source, &mut target, table, columns, &mut progress)?;
        moved.insert(table.clone(), n);
    }
    for (table, columns) in &by_table {
        for c in columns.iter().filter(|c| {
            c.column_default
                .as_deref()
                .is_some_and(|d| d.starts_with("nextval("))
        }) {
            let (t, col) = (quoted(table), quoted(&c.column_name));
            diesel::sql_query(format!(
                "SELECT setval(pg_get_serial_sequence('{t}', '{}'), \
                 COALESCE((SELECT max({col}) FROM {t}), 1), \
                 (SELECT max({col}) FROM {t}) IS NOT NULL)",
                c.column_name.replace('\'', "''")
            ))
            .execute(&mut target)?;
        }
    }
    for (table, columns) in &by_table {
        let keys = primary_key(&mut target, table)?;
        let here = checksum(source, table, columns, &keys)?;
        let there = checksum(&mut target, table, columns, &keys)?;
        if here != there {
            return Err(CoreError::internal(format!(
                "{table}: the copy differs from the source ({} rows against {}); the target stays marked incomplete",
                there.0, here.0
            )));
        }
    }
    diesel::sql_query(format!("DROP TABLE {INCOMPLETE}")).execute(&mut target)?;
    Ok(moved)
}

fn migration_versions(conn: &mut DbConnection) -> CoreResult<Vec<String>> {
    let rows: Vec<Name> = diesel::sql_query(
        "SELECT version AS name FROM __diesel_schema_migrations ORDER BY version",
    )
    .load(conn)?;
    Ok(rows.into_iter().map(|r| r.name).collect())
}

/// The SQLite expression that renders `column` as text, losing nothing.
fn sqlite_text(column: &Column) -> String {
    let c = quoted(&column.column_name);
    match column.data_type.as_str() {
        // 17 significant digits read back as the same double.
        "double precision" | "real" => {
            format!("CASE WHEN {c} IS NULL THEN NULL ELSE printf('%!.17g', {c}) END")
        }
        _ => format!("CAST({c} AS TEXT)"),
    }
}

/// Copies one table in chunks, each one round trip on each side; returns its rows.
fn copy_table(
    source: &mut DbConnection,
    target: &mut DbConnection,
    table: &str,
    columns: &[Column],
    progress: &mut impl FnMut(&str, i64, i64),
) -> CoreResult<i64> {
    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }
    let t = quoted(table);
    let Count { n: total } =
        diesel::sql_query(format!("SELECT count(*) AS n FROM {t}")).get_result(source)?;
    let select = columns
        .iter()
        .map(sqlite_text)
        .collect::<Vec<_>>()
        .join(", ");
    let names = columns
        .iter()
        .map(|c| quoted(&c.column_name))
        .collect::<Vec<_>>()
        .join(", ");
    let casts = columns
        .iter()
        .enumerate()
        .map(|(i, c)| format!("(r->>{i})::{}", c.data_type))
        .collect::<Vec<_>>()
        .join(", ");
    let insert =
        format!("INSERT INTO {t} ({names}) SELECT {casts} FROM json_array_elements($1::json) AS r");
    let mut after = i64::MIN;
    let mut done = 0;
    progress(table, 0, total);
    loop {
        let rows: Vec<Row> = diesel::sql_query(format!(
            "SELECT rowid AS rowid, json_array({select}) AS row FROM {t} \
             WHERE rowid > ? ORDER BY rowid LIMIT {CHUNK}"
        ))
        .bind::<BigInt, _>(after)
        .load(source)?;
        let Some(last) = rows.last() else { break };
        after = last.rowid;
        let batch = format!(
            "[{}]",
            rows.iter()
                .map(|r| r.row.as_str())
                .collect::<Vec<_>>()
                .join(",")
        );
        target.transaction::<_, CoreError, _>(|target| {
            diesel::sql_query("SET LOCAL session_replication_role = replica").execute(target)?;
            diesel::sql_query(&insert)
                .bind::<Text, _>(&batch)
                .execute(target)?;
            Ok(())
        })?;
        done += rows.len() as i64;
        progress(table, done, total);
    }
    Ok(done)
}

fn primary_key(target: &mut DbConnection, table: &str) -> CoreResult<Vec<String>> {
    let rows: Vec<Name> = diesel::sql_query(
        "SELECT a.attname::text AS name FROM pg_index i \
         JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) \
         WHERE i.indrelid = ('public.' || quote_ident($1))::regclass AND i.indisprimary \
         ORDER BY array_position(i.indkey, a.attnum)",
    )
    .bind::<Text, _>(table)
    .load(target)?;
    Ok(rows.into_iter().map(|r| r.name).collect())
}

/// The table's rows in primary-key order, each value read as the type it is, hashed:
/// (rows, SHA-256).
fn checksum(
    conn: &mut DbConnection,
    table: &str,
    columns: &[Column],
    keys: &[String],
) -> CoreResult<(i64, String)> {
    let sqlite = matches!(conn, DbConnection::Sqlite(_));
    let values = columns
        .iter()
        .map(|c| {
            if sqlite {
                sqlite_text(c)
            } else {
                format!("{}::text", quoted(&c.column_name))
            }
        })
        .collect::<Vec<_>>()
        .join(", ");
    let (array, as_text) = if sqlite {
        ("json_array", "")
    } else {
        ("json_build_array", "::text")
    };
    let order = if keys.is_empty() {
        columns
            .iter()
            .map(|c| quoted(&c.column_name))
            .collect::<Vec<_>>()
            .join(", ")
    } else {
        keys.iter()
            .map(|k| quoted(k))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let rows: Vec<Rendered> = diesel::sql_query(format!(
        "SELECT {array}({values}){as_text} AS row FROM {} ORDER BY {order}",
        quoted(table)
    ))
    .load(conn)?;
    let mut hasher = Sha256::new();
    for Rendered { row } in &rows {
        let parsed: Vec<Option<String>> = serde_json::from_str(row)
            .map_err(|e| CoreError::internal_because(format!("reading a row of {table}"), e))?;
        for (value, column) in parsed.iter().zip(columns) {
            match value {
                None => hasher.update(b"\x00null"),
                Some(text) => {
                    hasher.update(b"\x01");
                    hasher.update(canonical(&column.data_type, text).as_bytes());
                }
            }
            hasher.update(b"\x1f");
        }
        hasher.update(b"\x1e");
    }
    Ok((rows.len() as i64, hex::encode(hasher.finalize())))
}

/// One value as text the same way from either store: booleans as `t`/`f`, timestamps to
/// the microsecond, doubles as the double they are.
fn canonical(data_type: &str, text: &str) -> String {
    match data_type {
        "boolean" => match text {
            "1" | "t" | "true" => "t".to_owned(),
            "0" | "f" | "false" => "f".to_owned(),
            other => other.to_owned(),
        },
        "timestamp without time zone" => {
            chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f")
                .or_else(|_| chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f"))
                .map(|t| t.format("%Y-%m-%d %H:%M:%S%.6f").to_string())
                .unwrap_or_else(|_| text.to_owned())
        }
        "double precision" | "real" => text
            .parse::<f64>()
            .map(|v| format!("{v:?}"))
            .unwrap_or_else(|_| text.to_owned()),
        _ => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::canonical;

    #[test]
    fn values_read_the_same_from_either_store() {
        for (ty, sqlite, postgres) in [
            ("boolean", "1", "true"),
            ("boolean", "0", "false"),
            (
                "timestamp without time zone",
                "2026-12-07 06:50:26",
                "2026-12-07 06:50:26",
            ),
            (
                "timestamp without time zone",
                "2026-12-07 06:50:26.2143",
                "2026-12-07 06:50:26.2143",
            ),
            (
                "timestamp without time zone",
                "2026-12-07T06:50:26.5",
                "2026-12-07 06:50:26.5",
            ),
            ("double precision", "39.899999999999999", "39.9"),
            ("bigint", "42", "42"),
        ] {
            assert_eq!(
                canonical(ty, sqlite),
                canonical(ty, postgres),
                "{ty} {sqlite}"
            );
        }
        for (ty, a, b) in [
            ("boolean", "1", "false"),
            (
                "timestamp without time zone",
                "2026-12-07 06:50:26.000001",
                "2026-12-07 06:50:26",
            ),
            ("double precision", "39.9", "39.900000000000006"),
            ("text", "a", "A"),
        ] {
            assert_ne!(canonical(ty, a), canonical(ty, b), "{ty} {a} {b}");
        }
    }
}
