//! Reads from PostgreSQL streaming replicas (`database.replica_urls`), so that the reads a
//! city's offices make all day do not compete with intake on the primary.
//!
//! How fresh a replica is, is measured against the primary's WAL, not guessed from a
//! clock: every `CHECK_EVERY` a process notes the primary's WAL position with the instant
//! it asked (`sample`), and reads each replica's replayed position (`check`). A replica that
//! has replayed the position noted at instant `t` holds every write committed before `t`;
//! the newest such `t` is how far it has caught up (`caught_up_to`). A replica is used for
//! a read only if it has caught up to within `database.replica_max_lag_secs` of now and,
//! for someone who has just written, to after their write (read-your-writes). A replica
//! that is down, is not a standby, or lags is skipped until a later check finds it fit;
//! the read goes to the primary meanwhile.
//!
//! The instants are milliseconds since the Unix epoch, so that an instant noted by another
//! process (a write's, in a cookie) compares with this one's samples.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable};

use crate::config::Settings;
use crate::db::{Database, DatabaseUrl, DbConnection, Pool, PoolOptions, PoolWaits};
use crate::error::{CoreError, CoreResult};

/// How often a process samples the primary and checks its replicas.
pub const CHECK_EVERY: Duration = Duration::from_secs(1);

/// How long a check waits for a replica's connection: a replica that is down is found so
/// within this, and skipped.
const CHECK_TIMEOUT: Duration = Duration::from_secs(1);

/// The replicas of one process, shared by its workers. Without any, every read goes to
/// the primary.
#[derive(Clone, Default)]
pub struct Replicas {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    replicas: Vec<Replica>,
    max_lag_ms: i64,
    next: AtomicUsize,
    /// The primary's WAL position at each sample, oldest first: (instant, LSN).
    samples: Mutex<VecDeque<(i64, i64)>>,
    /// Reads served by the primary because no replica was fit, and by a replica.
    to_primary: AtomicU64,
    /// How requests waited for the primary's connections.
    primary_waits: Arc<PoolWaits>,
}

struct Replica {
    /// The URL without its password, for logs and metrics.
    label: String,
    database: Database,
    /// The instant of the newest sample it has replayed; 0 when it is unfit (down, not a
    /// standby, or further behind than the samples kept).
    caught_up_to: AtomicI64,
    reads: AtomicU64,
}

/// One replica as the metrics show it.
#[derive(Debug, Clone)]
pub struct ReplicaState {
    pub label: String,
    /// Seconds behind the primary at the last check, or `None` if it was unfit.
    pub lag_secs: Option<f64>,
    pub reads: u64,
    pub connections: u32,
    pub idle: u32,
    pub waits: Arc<PoolWaits>,
}

#[derive(QueryableByName)]
struct Position {
    #[diesel(sql_type = Nullable<BigInt>)]
    lsn: Option<i64>,
}

fn position(conn: &mut DbConnection, sql: &str) -> CoreResult<Option<i64>> {
    Ok(diesel::sql_query(sql).get_result::<Position>(conn)?.lsn)
}

impl Replicas {
    /// The replicas the settings name, their pools opened without connecting (a replica
    /// down at start is skipped until it answers). SQLite has none: the setting is ignored.
    /// Replicas' pools are as large as the primary's.
    pub fn open(settings: &Settings, primary: &Database) -> CoreResult<Self> {
        let urls = &settings.database.replica_urls;
        if urls.is_empty() || matches!(settings.database_url()?, DatabaseUrl::Sqlite(_)) {
            if !urls.is_empty() {
                tracing::warn!("database.replica_urls is ignored on SQLite");
            }
            return Ok(Self {
                inner: Arc::new(Inner {
                    primary_waits: primary.waits.clone(),
                    ..Inner::default()
                }),
            });
        }
        let pool_size = primary.pool.max_size();
        let mut replicas = Vec::with_capacity(urls.len());
        for (i, url) in urls.iter().enumerate() {
            let url = match DatabaseUrl::parse(url) {
                Ok(url @ DatabaseUrl::Postgres(_)) => url,
                _ => {
                    return Err(CoreError::Invalid(vec![crate::FieldError::new(
                        format!("database.replica_urls[{i}]"),
                        "invalid",
                        "a replica is a postgres:// URL",
                    )]))
                }
            };
            let options = PoolOptions {
                max_size: pool_size.max(1),
                min_idle: 0,
                acquire_timeout: CHECK_TIMEOUT,
            };
            replicas.push(Replica {
                label: url.redacted(),
                database: Database::open_lazily(&url, options)?,
                caught_up_to: AtomicI64::new(0),
                reads: AtomicU64::new(0),
            });
        }
        Ok(Self {
            inner: Arc::new(Inner {
                replicas,
                max_lag_ms: (settings.database.replica_max_lag_secs * 1000.0) as i64,
                primary_waits: primary.waits.clone(),
                ..Inner::default()
            }),
        })
    }

    pub fn is_empty(&self) -> bool {
        self.inner.replicas.is_empty()
    }

    /// Notes the primary's WAL position at `now_ms` (asked after `now_ms` was taken, so the
    /// position covers every write committed before it), then checks every replica.
    pub fn check(&self, primary: &Pool, now_ms: i64) {
        if self.is_empty() {
            return;
        }
        let sampled = crate::db::with_connection(primary, |conn| {
            position(
                conn,
                "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::bigint AS lsn",
            )
        });
        match sampled {
            Ok(Some(lsn)) => {
                let mut samples = self.inner.samples.lock().unwrap_or_else(|e| e.into_inner());
                samples.push_back((now_ms, lsn));
                // Samples older than the lag allowed are of no use but one, kept so that a
                // replica exactly that far behind still finds its place.
                let horizon = now_ms - self.inner.max_lag_ms - CHECK_EVERY.as_millis() as i64;
                while samples.len() > 1 && samples[1].0 < horizon {
                    samples.pop_front();
                }
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "could not read the primary's WAL position"),
        }
        for replica in &self.inner.replicas {
            let fit = self.caught_up(replica);
            let was = replica
                .caught_up_to
                .swap(fit.unwrap_or(0), Ordering::SeqCst);
            match (was != 0, fit) {
                (true, None) => {
                    tracing::warn!(replica = %replica.label, "a replica is down, not a standby or too far behind: reads go to the primary")
                }
                (false, Some(_)) => {
                    tracing::info!(replica = %replica.label, "a replica is in use for reads")
                }
                _ => {}
            }
        }
    }

    /// The instant of the newest sample `replica` has replayed, if any.
    fn caught_up(&self, replica: &Replica) -> Option<i64> {
        let replayed = replica
            .database
            .pool
            .get_timeout(CHECK_TIMEOUT)
            .map_err(CoreError::from)
            .and_then(|mut conn| {
                position(
                    &mut conn,
                    "SELECT pg_wal_lsn_diff(pg_last_wal_replay_lsn(), '0/0')::bigint AS lsn",
                )
            });
        let replayed = match replayed {
            Ok(Some(lsn)) => lsn,
            Ok(None) => {
                tracing::debug!(replica = %replica.label, "not a standby (no replayed WAL position)");
                return None;
            }
            Err(e) => {
                tracing::debug!(replica = %replica.label, error = %e, "replica check failed");
                return None;
            }
        };
        let samples = self.inner.samples.lock().unwrap_or_else(|e| e.into_inner());
        samples
            .iter()
            .rev()
            .find(|(_, lsn)| *lsn <= replayed)
            .map(|(at, _)| *at)
    }

    /// A replica fit to serve a read at `now_ms` for someone whose last write was at
    /// `wrote_at` (ms; 0 for none known): caught up within the lag allowed and past that
    /// write. Replicas take turns. `None` sends the read to the primary.
    pub fn pick(&self, now_ms: i64, wrote_at: i64) -> Option<ReadReplica> {
        let replicas = &self.inner.replicas;
        if replicas.is_empty() {
            return None;
        }
        let start = self.inner.next.fetch_add(1, Ordering::Relaxed);
        let fit = (0..replicas.len())
            .map(|i| (start + i) % replicas.len())
            .find(|&i| {
                let at = replicas[i].caught_up_to.load(Ordering::SeqCst);
                at != 0 && at > wrote_at && now_ms - at <= self.inner.max_lag_ms
            });
        match fit {
            Some(index) => {
                replicas[index].reads.fetch_add(1, Ordering::Relaxed);
                Some(ReadReplica {
                    replicas: self.clone(),
                    index,
                })
            }
            None => {
                self.inner.to_primary.fetch_add(1, Ordering::Relaxed);
                None
            }
        }
    }

    /// How requests waited for the primary's connections (nothing counted for a pool
    /// opened without `open`, as in tests).
    pub fn primary_waits(&self) -> &PoolWaits {
        &self.inner.primary_waits
    }

    /// Reads that went to the primary because no replica was fit (replicas configured).
    pub fn reads_on_primary(&self) -> u64 {
        self.inner.to_primary.load(Ordering::Relaxed)
    }

    pub fn states(&self, now_ms: i64) -> Vec<ReplicaState> {
        self.inner
            .replicas
            .iter()
            .map(|r| {
                let at = r.caught_up_to.load(Ordering::SeqCst);
                let pool = r.database.pool.state();
                ReplicaState {
                    label: r.label.clone(),
                    lag_secs: (at != 0).then(|| (now_ms - at).max(0) as f64 / 1000.0),
                    reads: r.reads.load(Ordering::Relaxed),
                    connections: pool.connections,
                    idle: pool.idle_connections,
                    waits: r.database.waits.clone(),
                }
            })
            .collect()
    }

    /// Closes every replica's pool (see `Database::close`).
    pub fn close(&self, timeout: Duration) -> bool {
        self.inner
            .replicas
            .iter()
            .all(|r| r.database.close(timeout))
    }
}

/// The replica a read was given.
pub struct ReadReplica {
    replicas: Replicas,
    index: usize,
}

impl ReadReplica {
    pub fn pool(&self) -> &Pool {
        &self.replicas.inner.replicas[self.index].database.pool
    }

    /// Runs the read `f` on this replica, and again on `primary` if it failed in a way
    /// the primary may not (`read_again_on_primary`); the replica is then unfit until the
    /// next check finds it fit, if it was unavailable, so the following reads go elsewhere
    /// at once. A replica's trouble fails no read.
    pub fn read<T>(
        &self,
        primary: &Pool,
        f: impl Fn(&mut DbConnection) -> CoreResult<T>,
    ) -> CoreResult<T> {
        crate::db::with_connection(self.pool(), &f).or_else(|e| {
            if !read_again_on_primary(&e) {
                return Err(e);
            }
            let replica = &self.replicas.inner.replicas[self.index];
            if matches!(e, CoreError::Unavailable { .. }) {
                replica.caught_up_to.store(0, Ordering::SeqCst);
            }
            tracing::warn!(replica = %replica.label, error = %e, "a read on a replica failed; read again on the primary");
            crate::db::with_connection(primary, &f)
        })
    }
}

/// Whether a read that failed on a replica is read again on the primary: the replica was
/// unavailable, cancelled the read (a conflict with recovery), or the read writes.
fn read_again_on_primary(e: &CoreError) -> bool {
    use diesel::result::{DatabaseErrorKind, Error};
    match e {
        CoreError::Unavailable { .. } => true,
        CoreError::Database { source, .. } => matches!(
            source,
            Error::DatabaseError(
                DatabaseErrorKind::ReadOnlyTransaction
                    | DatabaseErrorKind::SerializationFailure
                    | DatabaseErrorKind::ClosedConnection,
                _
            )
        ),
        _ => false,
    }
}

/// Milliseconds since the Unix epoch of a UTC instant.
pub fn millis(at: chrono::NaiveDateTime) -> i64 {
    at.and_utc().timestamp_millis()
}
