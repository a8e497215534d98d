//! Backups and restores: a consistent copy of the database taken while the server runs and
//! writes, the photos its tickets refer to, and a manifest (version, migration level, rows
//! per table, a checksum per file) that a restore checks before it writes anything.
//!
//! - SQLite: `VACUUM INTO` writes a consistent copy of the live file (WAL included); the
//!   rows and photos are counted from that copy.
//! - PostgreSQL: one repeatable-read transaction exports its snapshot; `pg_dump
//!   --snapshot` dumps exactly that, and the rows and photos are counted in it.
//!
//! A backup is written into `<DEST>.partial` and renamed to `DEST` only once complete, so a
//! failure (a full or read-only disk) leaves nothing that looks like a good backup.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::db::{DatabaseUrl, DbConnection, Pool};
use crate::error::{CoreError, CoreResult};

/// The manifest's name inside a backup.
pub const MANIFEST: &str = "manifest.json";
/// The SQLite copy's name inside a backup.
const SQLITE_FILE: &str = "jiesu.db";
/// The PostgreSQL dump's name inside a backup (`pg_dump --format=custom`).
const PG_DUMP_FILE: &str = "jiesu.pgdump";
/// The photos' folder, in a backup as in the data folder.
const PHOTOS: &str = "attachments";
const FORMAT: u32 = 1;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    pub jiesu_version: String,
    /// `sqlite` or `postgres`.
    pub backend: String,
    /// The last migration applied to the data.
    pub migration: String,
    pub taken_at: DateTime<Utc>,
    /// Rows per table, as in the backup.
    pub tables: BTreeMap<String, i64>,
    /// SHA-256 (hex) of every file of the backup but the manifest, by relative path.
    pub files: BTreeMap<String, String>,
}

#[derive(QueryableByName)]
struct Name {
    #[diesel(sql_type = Text)]
    name: String,
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// The tables of the database and their rows, as this connection sees them.
fn count_rows(conn: &mut DbConnection) -> CoreResult<BTreeMap<String, i64>> {
    let list = match conn {
        DbConnection::Sqlite(_) => {
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        }
        DbConnection::Postgres(_) => {
            "SELECT tablename AS name FROM pg_tables WHERE schemaname = 'public'"
        }
    };
    let names: Vec<Name> = diesel::sql_query(list).load(conn)?;
    let mut tables = BTreeMap::new();
    for Name { name } in names {
        let quoted = format!("\"{}\"", name.replace('"', "\"\""));
        let Count { n } =
            diesel::sql_query(format!("SELECT count(*) AS n FROM {quoted}")).get_result(conn)?;
        tables.insert(name, n);
    }
    Ok(tables)
}

/// The last migration applied (`""` on an empty database).
fn migration_level(conn: &mut DbConnection) -> CoreResult<String> {
    #[derive(QueryableByName)]
    struct Level {
        #[diesel(sql_type = diesel::sql_types::Nullable<Text>)]
        version: Option<String>,
    }
    let Level { version } =
        diesel::sql_query("SELECT max(version) AS version FROM __diesel_schema_migrations")
            .get_result(conn)?;
    Ok(version.unwrap_or_default())
}

/// The photos the tickets refer to (their SHA-256 names).
fn photo_names(conn: &mut DbConnection) -> CoreResult<Vec<String>> {
    use crate::schema::attachments;
    Ok(attachments::table
        .select(attachments::sha256)
        .distinct()
        .order(attachments::sha256)
        .load(conn)?)
}

fn photo_path(root: &Path, sha256: &str) -> PathBuf {
    root.join(PHOTOS)
        .join(sha256.get(..2).unwrap_or("00"))
        .join(sha256)
}

fn io_error(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> CoreError {
    let what = what.into();
    move |e| CoreError::internal_because(what, e)
}

fn sha256_of(path: &Path) -> CoreResult<String> {
    let mut file =
        std::fs::File::open(path).map_err(io_error(format!("reading {}", path.display())))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = file
            .read(&mut buf)
            .map_err(io_error(format!("reading {}", path.display())))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

/// Writes `bytes` to `to` (creating its folder) and flushes it to disk.
fn write_synced(to: &Path, bytes: &[u8]) -> CoreResult<()> {
    use std::io::Write;
    if let Some(dir) = to.parent() {
        crate::fsutil::create_private_dir(dir)
            .map_err(io_error(format!("creating {}", dir.display())))?;
    }
    let mut file = crate::fsutil::create_private_file(to)
        .map_err(io_error(format!("writing {}", to.display())))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(io_error(format!("writing {}", to.display())))
}

/// Copies `from` to `to` (creating its folder) and flushes it to disk.
fn copy_synced(from: &Path, to: &Path) -> CoreResult<()> {
    if let Some(dir) = to.parent() {
        crate::fsutil::create_private_dir(dir)
            .map_err(io_error(format!("creating {}", dir.display())))?;
    }
    std::fs::copy(from, to).map_err(io_error(format!(
        "copying {} to {}",
        from.display(),
        to.display()
    )))?;
    std::fs::File::open(to)
        .and_then(|f| f.sync_all())
        .map_err(io_error(format!("writing {}", to.display())))
}

/// A folder that does not exist or is empty (a backup's destination, a restore's target).
fn must_be_empty(dir: &Path, what: &str) -> CoreResult<()> {
    match std::fs::read_dir(dir) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(CoreError::invalid(
                    what,
                    "not_empty",
                    format!("{} is not empty", dir.display()),
                ));
            }
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(CoreError::internal_because(
            format!("reading {}", dir.display()),
            e,
        )),
    }
}

/// The `pg_dump`/`pg_restore` to run: on the PATH, else the newest under
/// /usr/lib/postgresql (Debian's layout).
fn pg_tool(name: &str) -> PathBuf {
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(name))
            .find(|p| p.is_file())
    });
    on_path.unwrap_or_else(|| {
        let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
            .map(|dirs| {
                dirs.filter_map(Result::ok)
                    .map(|d| d.path().join("bin").join(name))
                    .filter(|p| p.is_file())
                    .collect()
            })
            .unwrap_or_default();
        found.sort();
        found.pop().unwrap_or_else(|| PathBuf::from(name))
    })
}

fn run_tool(mut cmd: Command, what: &str) -> CoreResult<()> {
    let out = cmd
        .output()
        .map_err(|e| CoreError::internal_because(format!("cannot run {what}"), e))?;
    if !out.status.success() {
        return Err(CoreError::internal(format!(
            "{what} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}

/// Takes a backup of the database at `url` (through `pool`) and of the photos under
/// `data_dir` into `dest`, a folder that must not exist or be empty. `progress` is told
/// of each photo copied, with how many there are.
pub fn backup(
    url: &DatabaseUrl,
    pool: &Pool,
    photos: &crate::photos::Photos,
    dest: &Path,
    now: DateTime<Utc>,
    mut progress: impl FnMut(u64, u64),
) -> CoreResult<Manifest> {
    must_be_empty(dest, "destination")?;
    let partial = PathBuf::from(format!("{}.partial", dest.display()));
    if partial.exists() {
        std::fs::remove_dir_all(&partial)
            .map_err(io_error(format!("removing {}", partial.display())))?;
    }
    crate::fsutil::create_private_dir(&partial)
        .map_err(io_error(format!("creating {}", partial.display())))?;
    let made = (|| {
        let (backend, tables, migration, names) = match url {
            DatabaseUrl::Sqlite(_) => {
                let copy = partial.join(SQLITE_FILE);
                let path = copy.to_str().ok_or_else(|| {
                    CoreError::invalid("destination", "invalid", "the path is not valid UTF-8")
                })?;
                let mut conn = crate::db::get(pool)?;
                diesel::sql_query("VACUUM INTO ?")
                    .bind::<Text, _>(path)
                    .execute(&mut *conn)?;
                drop(conn);
                let mut copied = DbConnection::Sqlite(
                    diesel::SqliteConnection::establish(path)
                        .map_err(|e| CoreError::internal_because("opening the copy", e))?,
                );
                let tables = count_rows(&mut copied)?;
                let migration = migration_level(&mut copied)?;
                let photos = photo_names(&mut copied)?;
                ("sqlite", tables, migration, photos)
            }
            DatabaseUrl::Postgres(pg_url) => {
                let mut conn = crate::db::get(pool)?;
                let dump = partial.join(PG_DUMP_FILE);
                let (tables, migration, photos) = conn.transaction::<_, CoreError, _>(|conn| {
                    // One snapshot for the dump and for what the manifest counts.
                    diesel::sql_query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                        .execute(conn)?;
                    #[derive(QueryableByName)]
                    struct Snapshot {
                        #[diesel(sql_type = Text)]
                        id: String,
                    }
                    let Snapshot { id } =
                        diesel::sql_query("SELECT pg_export_snapshot() AS id").get_result(conn)?;
                    let mut dump_cmd = Command::new(pg_tool("pg_dump"));
                    dump_cmd
                        .arg("--format=custom")
                        .arg(format!("--snapshot={id}"))
                        .arg("--no-owner")
                        .arg("--file")
                        .arg(&dump)
                        .arg(pg_url);
                    run_tool(dump_cmd, "pg_dump")?;
                    Ok((
                        count_rows(conn)?,
                        migration_level(conn)?,
                        photo_names(conn)?,
                    ))
                })?;
                ("postgres", tables, migration, photos)
            }
        };
        let total = names.len() as u64;
        for (i, sha256) in names.iter().enumerate() {
            let bytes = photos.get_blocking(sha256)?;
            write_synced(&photo_path(&partial, sha256), &bytes)?;
            progress(i as u64 + 1, total);
        }
        let mut files = BTreeMap::new();
        for file in files_under(&partial)? {
            let relative = relative_name(&partial, &file);
            files.insert(relative, sha256_of(&file)?);
        }
        let manifest = Manifest {
            format: FORMAT,
            jiesu_version: env!("CARGO_PKG_VERSION").to_owned(),
            backend: backend.to_owned(),
            migration,
            taken_at: now,
            tables,
            files,
        };
        let text = serde_json::to_vec_pretty(&manifest)
            .map_err(|e| CoreError::internal_because("writing the manifest", e))?;
        crate::fsutil::write_private(&partial.join(MANIFEST), &text)?;
        std::fs::File::open(&partial)
            .and_then(|d| d.sync_all())
            .map_err(io_error(format!("writing {}", partial.display())))?;
        Ok(manifest)
    })();
    match made {
        Ok(manifest) => {
            if dest.exists() {
                std::fs::remove_dir(dest)
                    .map_err(io_error(format!("replacing {}", dest.display())))?;
            }
            std::fs::rename(&partial, dest).map_err(io_error(format!(
                "moving {} to {}",
                partial.display(),
                dest.display()
            )))?;
            Ok(manifest)
        }
        Err(e) => {
            let _ = std::fs::remove_dir_all(&partial);
            Err(e)
        }
    }
}

/// Every file under `root`, sorted.
fn files_under(root: &Path) -> CoreResult<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in
            std::fs::read_dir(&dir).map_err(io_error(format!("reading {}", dir.display())))?
        {
            let path = entry
                .map_err(io_error(format!("reading {}", dir.display())))?
                .path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}

fn relative_name(root: &Path, file: &Path) -> String {
    file.strip_prefix(root)
        .unwrap_or(file)
        .components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

/// Reads the manifest of the backup at `src` and checks every file against it: none
/// missing, none added, none changed. The error names the first file that is wrong.
pub fn verify(src: &Path) -> CoreResult<Manifest> {
    let damaged = |detail: String| CoreError::invalid("backup", "damaged", detail);
    let text = std::fs::read(src.join(MANIFEST))
        .map_err(|e| damaged(format!("{}: {e}", src.join(MANIFEST).display())))?;
    let manifest: Manifest = serde_json::from_slice(&text)
        .map_err(|e| damaged(format!("{MANIFEST} cannot be read: {e}")))?;
    if manifest.format != FORMAT {
        return Err(damaged(format!(
            "{MANIFEST} is of format {}, this jiesu reads {FORMAT}",
            manifest.format
        )));
    }
    let mut present = BTreeMap::new();
    for file in files_under(src)? {
        let name = relative_name(src, &file);
        if name != MANIFEST {
            present.insert(name, file);
        }
    }
    for name in manifest.files.keys() {
        if !present.contains_key(name) {
            return Err(damaged(format!("{name} is missing")));
        }
    }
    for (name, file) in &present {
        let Some(expected) = manifest.files.get(name) else {
            return Err(damaged(format!("{name} is not in the manifest")));
        };
        if &sha256_of(file)? != expected {
            return Err(damaged(format!("{name} does not match its checksum")));
        }
    }
    Ok(manifest)
}

/// Restores the backup at `src` into the database at `url` and the photos into `photos`.
/// Checks the whole backup first, and refuses a target database that holds data: a SQLite
/// file that exists, a PostgreSQL database with tables. (Photos are kept under their
/// checksum, so one already in the store is the same photo.) Checks the restored rows
/// against the manifest.
pub fn restore(
    src: &Path,
    url: &DatabaseUrl,
    photos: &crate::photos::Photos,
    known_migration: &str,
) -> CoreResult<Manifest> {
    let manifest = verify(src)?;
    if manifest.migration.as_str() > known_migration {
        return Err(CoreError::invalid(
            "backup",
            "newer",
            format!(
                "the backup's data is at migration {}, newer than this jiesu's {known_migration}: restore it with the jiesu that took it",
                manifest.migration
            ),
        ));
    }
    let mut restored = match (url, manifest.backend.as_str()) {
        (DatabaseUrl::Sqlite(path), "sqlite") => {
            if path.exists() && std::fs::metadata(path).map(|m| m.len() > 0).unwrap_or(true) {
                return Err(CoreError::invalid(
                    "database.url",
                    "not_empty",
                    format!("{} exists: restore into a new data folder or database", path.display()),
                ));
            }
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                crate::fsutil::create_private_dir(dir).map_err(io_error(format!("creating {}", dir.display())))?;
            }
            let partial = PathBuf::from(format!("{}.partial", path.display()));
            copy_synced(&src.join(SQLITE_FILE), &partial)?;
            std::fs::rename(&partial, path).map_err(io_error(format!("writing {}", path.display())))?;
            let path = path.to_str().ok_or_else(|| {
                CoreError::invalid("database.url", "invalid", "the path is not valid UTF-8")
            })?;
            DbConnection::Sqlite(
                diesel::SqliteConnection::establish(path)
                    .map_err(|e| CoreError::internal_because("opening the restored file", e))?,
            )
        }
        (DatabaseUrl::Postgres(pg_url), "postgres") => {
            let mut conn = DbConnection::Postgres(
                diesel::PgConnection::establish(pg_url).map_err(|e| {
                    CoreError::unavailable_because(format!("cannot connect to {}", url.redacted()), e)
                })?,
            );
            if !count_rows(&mut conn)?.is_empty() {
                return Err(CoreError::invalid(
                    "database.url",
                    "not_empty",
                    format!("{} has tables: restore into an empty database", url.redacted()),
                ));
            }
            let mut cmd = Command::new(pg_tool("pg_restore"));
            cmd.arg("--no-owner")
                .arg("--no-privileges")
                .arg("--exit-on-error")
                .arg("--single-transaction")
                .arg("--dbname")
                .arg(pg_url)
                .arg(src.join(PG_DUMP_FILE));
            run_tool(cmd, "pg_restore")?;
            conn
        }
        (_, backend) => {
            return Err(CoreError::invalid(
                "backup",
                "other_backend",
                format!(
                    "the backup is of a {backend} installation and the target is {}: a backup restores into the same kind of store",
                    url.redacted()
                ),
            ))
        }
    };
    for (name, file) in manifest
        .files
        .keys()
        .filter_map(|n| n.strip_prefix(&format!("{PHOTOS}/")).map(|rest| (n, rest)))
    {
        let sha256 = file.rsplit('/').next().unwrap_or(file);
        let bytes = std::fs::read(src.join(name))
            .map_err(io_error(format!("reading {}", src.join(name).display())))?;
        photos.put(sha256, bytes)?;
    }
    let tables = count_rows(&mut restored)?;
    if tables != manifest.tables {
        return Err(CoreError::internal(format!(
            "the restored rows differ from the manifest's: {tables:?} against {:?}",
            manifest.tables
        )));
    }
    Ok(manifest)
}

/// Deletes all but the `keep` newest backups under `dir` (folders `jiesu-<instant>` with a
/// manifest, by name: the instant sorts); returns how many were deleted. Anything else in
/// the folder is left alone.
pub fn keep_newest(dir: &Path, keep: usize) -> CoreResult<usize> {
    let mut backups: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(io_error(format!("reading {}", dir.display())))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("jiesu-") && !n.ends_with(".partial"))
                && p.join(MANIFEST).is_file()
        })
        .collect();
    backups.sort();
    let old = backups.len().saturating_sub(keep);
    for path in &backups[..old] {
        std::fs::remove_dir_all(path).map_err(io_error(format!("removing {}", path.display())))?;
    }
    Ok(old)
}
