//! Storage: one diesel connection type over SQLite (the embedded default) and PostgreSQL
//! (production), an r2d2 pool whose manager picks the backend from the URL scheme and
//! reports the real connection error, and the embedded migrations of each backend.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use diesel::connection::{AnsiTransactionManager, SimpleConnection, TransactionManager};
use diesel::prelude::*;
use diesel::r2d2::R2D2Connection;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};
use scheduled_thread_pool::ScheduledThreadPool;

use crate::error::{CoreError, CoreResult};

#[derive(diesel::MultiConnection)]
pub enum DbConnection {
    Postgres(diesel::PgConnection),
    Sqlite(diesel::SqliteConnection),
}

/// The backend type diesel derives for `DbConnection`.
pub type DbBackend = <DbConnection as diesel::Connection>::Backend;

pub type Pool = r2d2::Pool<ConnectionManager>;
pub type PooledConnection = r2d2::PooledConnection<ConnectionManager>;

const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/postgres");
const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/sqlite");

/// Any constant works; it only has to be the same in every jiesu process.
const MIGRATION_LOCK_KEY: i64 = 0x006a_6965_7375; // "jiesu"

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A database location whose backend is known from its scheme.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    Postgres(String),
    Sqlite(PathBuf),
}

impl DatabaseUrl {
    /// `postgres://…` / `postgresql://…` select PostgreSQL; `sqlite://PATH` or `sqlite:PATH`
    /// select SQLite; anything else is refused with the scheme named.
    pub fn parse(url: &str) -> CoreResult<Self> {
        let url = url.trim();
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(DatabaseUrl::Postgres(url.to_owned()));
        }
        if let Some(path) = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
        {
            if path.is_empty() {
                return Err(CoreError::invalid(
                    "database.url",
                    "invalid",
                    "a sqlite URL needs a file path, e.g. sqlite://data/jiesu.db",
                ));
            }
            return Ok(DatabaseUrl::Sqlite(PathBuf::from(path)));
        }
        let scheme = url.split_once(':').map(|(s, _)| s).unwrap_or(url);
        Err(CoreError::invalid(
            "database.url",
            "unsupported",
            format!(
                "unsupported database URL scheme {scheme:?}: use postgres://… or sqlite://PATH"
            ),
        ))
    }

    pub fn sqlite_in(data_dir: &Path) -> Self {
        DatabaseUrl::Sqlite(data_dir.join("jiesu.db"))
    }

    pub fn backend(&self) -> Backend {
        match self {
            DatabaseUrl::Postgres(_) => Backend::Postgres,
            DatabaseUrl::Sqlite(_) => Backend::Sqlite,
        }
    }

    /// The URL with any password replaced, for logs.
    pub fn redacted(&self) -> String {
        match self {
            DatabaseUrl::Sqlite(p) => format!("sqlite://{}", p.display()),
            DatabaseUrl::Postgres(u) => match url::Url::parse(u) {
                Ok(mut parsed) if parsed.password().is_some() => {
                    let _ = parsed.set_password(Some("***"));
                    parsed.to_string()
                }
                _ => u.clone(),
            },
        }
    }
}

/// r2d2 manager that connects to the backend the URL names. (diesel's derived
/// `establish` tries each backend in turn and hides the real error.)
#[derive(Debug, Clone)]
pub struct ConnectionManager {
    url: DatabaseUrl,
    /// Set by `Database::close`: every connection is then treated as broken, so the pool
    /// closes it instead of keeping it.
    closing: Arc<AtomicBool>,
}

impl ConnectionManager {
    pub fn new(url: DatabaseUrl) -> Self {
        Self {
            url,
            closing: Arc::default(),
        }
    }
}

impl r2d2::ManageConnection for ConnectionManager {
    type Connection = DbConnection;
    type Error = diesel::r2d2::Error;

    fn connect(&self) -> Result<DbConnection, Self::Error> {
        match &self.url {
            DatabaseUrl::Postgres(url) => {
                let mut conn = diesel::PgConnection::establish(url)
                    .map_err(diesel::r2d2::Error::ConnectionError)?;
                // Every read is planned for its own values: a scope is the whole city or
                // one community, a status a tenth of the tickets or a handful, and a plan
                // made for one is wrong for the other (a generic plan also cannot use the
                // open tickets' partial indexes). And random reads cost little more than
                // sequential ones on the solid-state storage a city's server runs on: at
                // PostgreSQL's default (4.0, for spinning disks) the planner walks the
                // primary key past a million closed tickets rather than read the index
                // of the filter. That one is a default only: a value the operator set
                // (server config, `ALTER DATABASE`, `options` in the URL) stands.
                conn.batch_execute(
                    "SET plan_cache_mode = force_custom_plan; \
                     SELECT set_config('random_page_cost', '1.1', false) FROM pg_settings \
                     WHERE name = 'random_page_cost' AND source = 'default';",
                )
                .map_err(diesel::r2d2::Error::QueryError)?;
                Ok(DbConnection::Postgres(conn))
            }
            DatabaseUrl::Sqlite(path) => {
                let path = path.to_str().ok_or_else(|| {
                    diesel::r2d2::Error::ConnectionError(diesel::ConnectionError::BadConnection(
                        "the SQLite path is not valid UTF-8".into(),
                    ))
                })?;
                let mut conn = diesel::SqliteConnection::establish(path)
                    .map_err(diesel::r2d2::Error::ConnectionError)?;
                // WAL lets readers run beside the one writer; FULL sync so an acknowledged
                // write survives a crash; the busy timeout queues writers instead of failing.
                conn.batch_execute(
                    "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; \
                     PRAGMA busy_timeout = 15000; PRAGMA foreign_keys = ON;",
                )
                .map_err(diesel::r2d2::Error::QueryError)?;
                Ok(DbConnection::Sqlite(conn))
            }
        }
    }

    fn is_valid(&self, conn: &mut DbConnection) -> Result<(), Self::Error> {
        conn.ping().map_err(diesel::r2d2::Error::QueryError)
    }

    fn has_broken(&self, conn: &mut DbConnection) -> bool {
        self.closing.load(Ordering::SeqCst) || std::thread::panicking() || conn.is_broken()
    }
}

/// How a process uses its pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolOptions {
    pub max_size: u32,
    /// Connections kept open while idle. A one-shot command keeps none, so the pool's
    /// threads never open a connection nobody asked for.
    pub min_idle: u32,
    /// How long a caller waits for a connection before `Unavailable` (503).
    pub acquire_timeout: Duration,
}

impl PoolOptions {
    /// A one-shot command (migrate, a sweep, a delivery, an admin task).
    pub fn one_shot() -> Self {
        Self {
            max_size: 2,
            min_idle: 0,
            acquire_timeout: Duration::from_secs(5),
        }
    }

    /// A long-running server: one connection kept warm.
    pub fn server(max_size: u32, acquire_timeout: Duration) -> Self {
        Self {
            max_size: max_size.max(1),
            min_idle: 1,
            acquire_timeout,
        }
    }
}

/// How the callers of a pool waited for a connection, counted since it opened (for the
/// metrics).
#[derive(Debug, Default)]
pub struct PoolWaits {
    pub checkouts: AtomicU64,
    /// The time callers waited for those checkouts, in all.
    pub waited_micros: AtomicU64,
    /// Callers who waited `acquire_timeout` and were answered 503.
    pub timeouts: AtomicU64,
}

#[derive(Debug)]
struct WaitCounter(Arc<PoolWaits>);

impl r2d2::HandleEvent for WaitCounter {
    fn handle_checkout(&self, event: r2d2::event::CheckoutEvent) {
        self.0.checkouts.fetch_add(1, Ordering::Relaxed);
        self.0
            .waited_micros
            .fetch_add(event.duration().as_micros() as u64, Ordering::Relaxed);
    }

    fn handle_timeout(&self, _: r2d2::event::TimeoutEvent) {
        self.0.timeouts.fetch_add(1, Ordering::Relaxed);
    }
}

/// Threads that open the pool's connections in the background.
const CONNECT_THREADS: usize = 3;

/// A process's database: the pool, and the threads that open its connections.
///
/// A process must `close` it before it exits: the C libraries under libpq (OpenSSL,
/// Kerberos) tear themselves down in `exit()`, and a pool thread still opening or closing
/// a connection then crashes the process (SIGSEGV/SIGABRT) after its work is done.
pub struct Database {
    pub pool: Pool,
    /// How requests waited for its connections.
    pub waits: Arc<PoolWaits>,
    connect_threads: Arc<ScheduledThreadPool>,
    closing: Arc<AtomicBool>,
}

impl Database {
    /// Opens the pool. The first connection is made directly so that a server that is
    /// down, a bad password or an unwritable file is reported with its own words at once.
    pub fn open(url: &DatabaseUrl, options: PoolOptions) -> CoreResult<Self> {
        if let DatabaseUrl::Sqlite(path) = url {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                crate::fsutil::create_private_dir(dir).map_err(|e| {
                    CoreError::unavailable_because(format!("cannot create {}", dir.display()), e)
                })?;
            }
            crate::fsutil::ensure_private_file(path).map_err(|e| {
                CoreError::unavailable_because(format!("cannot open {}", path.display()), e)
            })?;
        }
        let manager = ConnectionManager::new(url.clone());
        let first = r2d2::ManageConnection::connect(&manager).map_err(|e| {
            CoreError::unavailable_because(format!("cannot connect to {}", url.redacted()), e)
        })?;
        drop(first);
        Self::build(manager, options, true)
    }

    /// Opens the pool without connecting first: for a server that may be down now and
    /// come back later (a read replica), whose pool then connects when asked.
    pub fn open_lazily(url: &DatabaseUrl, options: PoolOptions) -> CoreResult<Self> {
        Self::build(ConnectionManager::new(url.clone()), options, false)
    }

    fn build(manager: ConnectionManager, options: PoolOptions, checked: bool) -> CoreResult<Self> {
        let closing = manager.closing.clone();
        let waits = Arc::new(PoolWaits::default());
        let connect_threads = Arc::new(
            ScheduledThreadPool::builder()
                .num_threads(CONNECT_THREADS)
                .thread_name_pattern("jiesu-db-connect-{}")
                .build(),
        );
        let builder = r2d2::Pool::builder()
            .max_size(options.max_size.max(1))
            .min_idle(Some(options.min_idle.min(options.max_size)))
            .connection_timeout(options.acquire_timeout)
            // `get` checks a connection idle for a while instead (a round trip saved on
            // every busy request).
            .test_on_check_out(false)
            .thread_pool(connect_threads.clone())
            .event_handler(Box::new(WaitCounter(waits.clone())));
        let pool = if checked {
            builder
                .build(manager)
                .map_err(|e| CoreError::unavailable_because("cannot open pool", e))?
        } else {
            builder.build_unchecked(manager)
        };
        Ok(Self {
            pool,
            waits,
            connect_threads,
            closing,
        })
    }

    /// Closes the pool for a process about to exit, so that no thread is inside libpq
    /// while `exit()` runs: first every connecting thread finishes what it is doing and
    /// stays parked (nothing new is connected), then every connection is closed here as it
    /// comes back idle (one still in use elsewhere is closed by its user on return).
    /// Returns false if that took longer than `timeout`.
    pub fn close(&self, timeout: Duration) -> bool {
        let deadline = std::time::Instant::now() + timeout;
        let (parked, waiting) = std::sync::mpsc::channel::<()>();
        for _ in 0..CONNECT_THREADS {
            let parked = parked.clone();
            self.connect_threads.execute(move || {
                let _ = parked.send(());
                loop {
                    std::thread::park();
                }
            });
        }
        let all_parked = (0..CONNECT_THREADS).all(|_| {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            waiting.recv_timeout(left).is_ok()
        });
        self.closing.store(true, Ordering::SeqCst);
        loop {
            // Taken and dropped here, each idle connection is found broken and closed.
            while let Some(conn) = self.pool.try_get() {
                drop(conn);
            }
            if self.pool.state().connections == 0 {
                return all_parked;
            }
            if std::time::Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// A connection used without fault this recently is taken to be alive and handed out as is;
/// one idle longer is pinged first (HikariCP's "alive bypass window", the same length).
pub const ALIVE_WITHOUT_PING: Duration = Duration::from_millis(500);

/// When a pooled connection last answered (kept in the pool's per-connection extensions).
struct Answered(std::time::Instant);

/// A connection from the pool, the one way every process takes one. A connection that
/// answered within `ALIVE_WITHOUT_PING` is handed out at once; an older one is pinged
/// first, and one that does not answer (the server restarted, a proxy cut it) is closed
/// and the next one tried, so a busy process makes no round trip for nothing and an idle
/// one never hands out a dead connection. What a dead connection can still cost: a
/// request made within the window after the server dropped it gets `Unavailable` (503,
/// Retry-After), and the connection is closed (`used`).
pub fn get(pool: &Pool) -> CoreResult<PooledConnection> {
    let mut tries = pool.max_size() + 1;
    loop {
        let mut conn = pool.get()?;
        let answered = PooledConnection::extensions(&conn)
            .get::<Answered>()
            .is_some_and(|a| a.0.elapsed() < ALIVE_WITHOUT_PING);
        if answered {
            return Ok(conn);
        }
        match conn.ping() {
            Ok(()) => {
                PooledConnection::extensions_mut(&mut conn)
                    .insert(Answered(std::time::Instant::now()));
                return Ok(conn);
            }
            Err(e) => {
                close_on_return(&mut conn);
                tries -= 1;
                if tries == 0 {
                    return Err(CoreError::unavailable_because("no database connection", e));
                }
            }
        }
    }
}

/// After a use of a connection from `get`: one that was found lost is closed when it goes
/// back to the pool; any other has just answered.
pub fn used<T>(conn: &mut PooledConnection, outcome: &CoreResult<T>) {
    match outcome {
        Err(e) if e.is_lost_connection() => close_on_return(conn),
        _ => {
            PooledConnection::extensions_mut(conn).insert(Answered(std::time::Instant::now()));
        }
    }
}

/// `f` with a connection from `get`, then `used`: what a caller on a blocking thread does.
pub fn with_connection<T>(
    pool: &Pool,
    f: impl FnOnce(&mut DbConnection) -> CoreResult<T>,
) -> CoreResult<T> {
    let mut conn = get(pool)?;
    let outcome = f(&mut conn);
    used(&mut conn, &outcome);
    outcome
}

/// Makes the pool close `conn` rather than keep it (it finds the connection broken).
fn close_on_return(conn: &mut PooledConnection) {
    <DbConnection as Connection>::TransactionManager::transaction_manager_status_mut(conn)
        .set_in_error();
}

/// Opens a pool for a test or a tool that does not exit right after (see `Database`).
pub fn connect(url: &DatabaseUrl, max_size: u32) -> CoreResult<Pool> {
    Ok(Database::open(
        url,
        PoolOptions {
            max_size,
            ..PoolOptions::one_shot()
        },
    )?
    .pool)
}

/// Applies pending migrations; returns the names of those applied (empty when up to date).
/// On PostgreSQL an advisory lock lets several processes start side by side. A PostgreSQL
/// database that holds a move from SQLite not yet verified is refused.
pub fn run_migrations(conn: &mut DbConnection) -> CoreResult<Vec<String>> {
    if let DbConnection::Postgres(pg) = conn {
        if crate::moving::interrupted(pg)? {
            return Err(CoreError::invalid(
                "database.url",
                "incomplete_move",
                "this database holds a move from SQLite that did not finish: run `jiesu admin move-to` again",
            ));
        }
    }
    apply_migrations(conn)
}

/// `run_migrations` without the check for an unfinished move (the move's own).
pub(crate) fn apply_migrations(conn: &mut DbConnection) -> CoreResult<Vec<String>> {
    let applied = match conn {
        DbConnection::Postgres(pg) => {
            pg.batch_execute(&format!("SELECT pg_advisory_lock({MIGRATION_LOCK_KEY})"))?;
            let result = pg
                .run_pending_migrations(POSTGRES_MIGRATIONS)
                .map(|v| v.iter().map(|m| m.to_string()).collect::<Vec<_>>());
            pg.batch_execute(&format!("SELECT pg_advisory_unlock({MIGRATION_LOCK_KEY})"))?;
            result
        }
        DbConnection::Sqlite(lite) => lite
            .run_pending_migrations(SQLITE_MIGRATIONS)
            .map(|v| v.iter().map(|m| m.to_string()).collect::<Vec<_>>()),
    };
    applied.map_err(|e| CoreError::internal_because("migration failed", e))
}

/// The last migration this build carries for `backend` (a version as the database records
/// it).
pub fn latest_known_migration(backend: Backend) -> CoreResult<String> {
    use diesel::migration::MigrationSource;
    let names: Vec<String> = match backend {
        Backend::Postgres => MigrationSource::<diesel::pg::Pg>::migrations(&POSTGRES_MIGRATIONS)
            .map(|all| all.iter().map(|m| m.name().version().to_string()).collect()),
        Backend::Sqlite => {
            MigrationSource::<diesel::sqlite::Sqlite>::migrations(&SQLITE_MIGRATIONS)
                .map(|all| all.iter().map(|m| m.name().version().to_string()).collect())
        }
    }
    .map_err(|e| CoreError::internal(format!("reading the embedded migrations: {e}")))?;
    Ok(names.into_iter().max().unwrap_or_default())
}

/// Reverts the migrations after the first `kept` and applies them again: for tests of what
/// a migration does to data already written.
#[cfg(feature = "testing")]
pub fn redo_migrations_after(conn: &mut DbConnection, kept: usize) -> CoreResult<()> {
    type Outcome = Result<(), Box<dyn std::error::Error + Send + Sync>>;
    fn redo<B: diesel::backend::Backend>(
        c: &mut impl MigrationHarness<B>,
        source: fn() -> EmbeddedMigrations,
        kept: usize,
    ) -> Outcome {
        while c.applied_migrations()?.len() > kept {
            c.revert_last_migration(source())?;
        }
        c.run_pending_migrations(source()).map(drop)
    }
    let redone = match conn {
        DbConnection::Postgres(pg) => redo(pg, || POSTGRES_MIGRATIONS, kept),
        DbConnection::Sqlite(lite) => redo(lite, || SQLITE_MIGRATIONS, kept),
    };
    redone.map_err(|e| CoreError::internal_because("migration failed", e))
}

/// Runs `f` in a write transaction. On SQLite the outermost transaction starts with
/// `BEGIN IMMEDIATE` so concurrent writers wait on the busy timeout rather than fail when a
/// read lock cannot be upgraded; on PostgreSQL it is an ordinary transaction. Called inside
/// another transaction, on either store, it runs in a savepoint of that transaction: writes
/// compose, and the caller's commit or rollback decides for all of them.
pub fn write_tx<T, E, F>(conn: &mut DbConnection, f: F) -> Result<T, E>
where
    F: FnOnce(&mut DbConnection) -> Result<T, E>,
    E: From<diesel::result::Error>,
{
    let outermost_sqlite = match conn {
        DbConnection::Sqlite(lite) => !in_transaction(lite)?,
        DbConnection::Postgres(_) => false,
    };
    match conn {
        DbConnection::Sqlite(lite) if outermost_sqlite => {
            AnsiTransactionManager::begin_transaction_sql(lite, "BEGIN IMMEDIATE")?;
            match f(conn) {
                Ok(value) => {
                    <DbConnection as Connection>::TransactionManager::commit_transaction(conn)?;
                    Ok(value)
                }
                Err(e) => {
                    <DbConnection as Connection>::TransactionManager::rollback_transaction(conn)?;
                    Err(e)
                }
            }
        }
        // PostgreSQL, or SQLite already in a transaction: diesel begins or takes a savepoint.
        _ => conn.transaction(f),
    }
}

fn in_transaction<C>(conn: &mut C) -> QueryResult<bool>
where
    C: Connection<TransactionManager = AnsiTransactionManager>,
{
    Ok(AnsiTransactionManager::transaction_manager_status_mut(conn)
        .transaction_depth()?
        .is_some())
}

impl DbConnection {
    pub fn backend(&self) -> Backend {
        match self {
            DbConnection::Postgres(_) => Backend::Postgres,
            DbConnection::Sqlite(_) => Backend::Sqlite,
        }
    }

    /// Whether a transaction (a caller's) is open on the connection.
    pub fn in_transaction(&mut self) -> QueryResult<bool> {
        match self {
            DbConnection::Postgres(pg) => in_transaction(pg),
            DbConnection::Sqlite(lite) => in_transaction(lite),
        }
    }
}

/// Timestamps are stored to the microsecond on both backends (PostgreSQL's resolution),
/// so a value read back equals the value written.
pub fn truncate_to_micros(t: chrono::NaiveDateTime) -> chrono::NaiveDateTime {
    use chrono::Timelike;
    let nanos = t.nanosecond();
    t.with_nanosecond(nanos - nanos % 1_000).unwrap_or(t)
}

/// A round trip to the database (readiness checks).
pub fn ping(conn: &mut DbConnection) -> CoreResult<()> {
    conn.ping().map_err(CoreError::from)
}
