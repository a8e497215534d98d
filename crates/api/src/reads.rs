//! Which database a read goes to: a replica when one is fit (`jiesu_core::replicas`),
//! else the primary, with each person reading their own writes.
//!
//! Read-your-writes: after a request that may have written (any method but GET, HEAD and
//! OPTIONS) this process notes the instant for the caller (by their bearer token or
//! console session) and answers with a cookie holding it (`jiesu_wrote`), so that another
//! API process behind the same balancer knows it too. Until a replica has replayed the
//! primary past that instant, the caller's reads go to the primary. A caller who sends
//! neither back (an API client without a cookie jar, balanced to another process) reads
//! from a replica at most `database.replica_max_lag_secs` behind.

use std::hash::{Hash, Hasher};

use actix_web::body::MessageBody;
use actix_web::cookie::time::Duration as CookieAge;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{header, Method};
use actix_web::middleware::Next;
use actix_web::{web, Error};
use jiesu_core::replicas::millis;

use crate::auth::SESSION_COOKIE;
use crate::state::{now, AppState};

pub const WROTE_COOKIE: &str = "jiesu_wrote";

tokio::task_local! {
    /// The instant (ms) of the current caller's last write, for the request being served.
    static WROTE_AT: i64;
}

/// The current caller's last write known to this request (0 if none).
pub fn wrote_at() -> i64 {
    WROTE_AT.try_with(|at| *at).unwrap_or(0)
}

/// Who a request is from, for routing only: its bearer token or console session, hashed.
/// A forged one only sends its sender's own reads to the primary.
fn caller(req: &ServiceRequest) -> Option<u64> {
    let credential = req
        .headers()
        .get(header::AUTHORIZATION)
        .map(|v| v.as_bytes().to_vec())
        .or_else(|| {
            req.cookie(SESSION_COOKIE)
                .map(|c| c.value().as_bytes().to_vec())
        })?;
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    credential.hash(&mut hasher);
    Some(hasher.finish())
}

/// The middleware: serves the request with its caller's last write known (`wrote_at`),
/// and notes a request that may have written. Does nothing without replicas.
pub async fn route(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let Some(state) = req
        .app_data::<web::Data<AppState>>()
        .filter(|s| !s.replicas.is_empty())
        .cloned()
    else {
        // Without replicas every read is on the primary: nothing to note (`wrote_at` is 0).
        return next.call(req).await;
    };
    let who = caller(&req);
    let from_cookie = req
        .cookie(WROTE_COOKIE)
        .and_then(|c| c.value().parse::<i64>().ok())
        .unwrap_or(0);
    let noted = who.and_then(|w| state.writes.get(&w)).unwrap_or(0);
    let writes = !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    let mut res = WROTE_AT
        .scope(from_cookie.max(noted), next.call(req))
        .await?;
    if writes {
        let at = millis(now());
        if let Some(who) = who {
            state.writes.insert(who, at);
        }
        let age = state.settings.database.replica_max_lag_secs.ceil() as i64 + 2;
        let mut cookie = crate::console::session::cookie(&state, WROTE_COOKIE, at.to_string());
        cookie.set_max_age(CookieAge::seconds(age));
        let _ = res.response_mut().add_cookie(&cookie);
    }
    Ok(res)
}

/// The databases as `/metrics` shows them: connections and waits per pool, each replica's
/// lag and whether it is in use, and the reads per target. Read when scraped.
pub struct DatabaseMetrics {
    pool: jiesu_core::db::Pool,
    replicas: jiesu_core::replicas::Replicas,
    connections: prometheus::IntGaugeVec,
    checkouts: prometheus::IntCounterVec,
    waited: prometheus::CounterVec,
    timeouts: prometheus::IntCounterVec,
    lag: prometheus::GaugeVec,
    in_use: prometheus::IntGaugeVec,
    reads: prometheus::IntCounterVec,
}

impl DatabaseMetrics {
    pub fn new(pool: jiesu_core::db::Pool, replicas: jiesu_core::replicas::Replicas) -> Self {
        use prometheus::{CounterVec, GaugeVec, IntCounterVec, IntGaugeVec, Opts};
        let opts = |name: &str, help: &str| Opts::new(name, help).namespace("jiesu");
        let made = "a metric's definition";
        Self {
            pool,
            replicas,
            connections: IntGaugeVec::new(
                opts(
                    "db_connections",
                    "Connections of a pool, by state (idle, busy)",
                ),
                &["database", "state"],
            )
            .expect(made),
            checkouts: IntCounterVec::new(
                opts("db_checkouts_total", "Connections handed out by a pool"),
                &["database"],
            )
            .expect(made),
            waited: CounterVec::new(
                opts(
                    "db_wait_seconds_total",
                    "Time callers waited for a pool's connections",
                ),
                &["database"],
            )
            .expect(made),
            timeouts: IntCounterVec::new(
                opts(
                    "db_wait_timeouts_total",
                    "Callers who waited the acquire timeout for a connection (answered 503)",
                ),
                &["database"],
            )
            .expect(made),
            lag: GaugeVec::new(
                opts(
                    "db_replica_lag_seconds",
                    "How far a replica was behind the primary at its last check",
                ),
                &["database"],
            )
            .expect(made),
            in_use: IntGaugeVec::new(
                opts(
                    "db_replica_in_use",
                    "1 if a replica is fit for reads, 0 if it is skipped (down or lagging)",
                ),
                &["database"],
            )
            .expect(made),
            reads: IntCounterVec::new(
                opts(
                    "db_reads_total",
                    "Reads that tolerate lag, by the database that served them",
                ),
                &["database"],
            )
            .expect(made),
        }
    }

    fn pool(&self, name: &str, connections: u32, idle: u32, waits: &jiesu_core::db::PoolWaits) {
        use std::sync::atomic::Ordering::Relaxed;
        self.connections
            .with_label_values(&[name, "idle"])
            .set(i64::from(idle));
        self.connections
            .with_label_values(&[name, "busy"])
            .set(i64::from(connections.saturating_sub(idle)));
        let grow = |counter: &prometheus::IntCounter, to: u64| {
            counter.inc_by(to.saturating_sub(counter.get()));
        };
        grow(
            &self.checkouts.with_label_values(&[name]),
            waits.checkouts.load(Relaxed),
        );
        grow(
            &self.timeouts.with_label_values(&[name]),
            waits.timeouts.load(Relaxed),
        );
        let waited = self.waited.with_label_values(&[name]);
        let total = waits.waited_micros.load(Relaxed) as f64 / 1e6;
        waited.inc_by((total - waited.get()).max(0.0));
    }
}

impl prometheus::core::Collector for DatabaseMetrics {
    fn desc(&self) -> Vec<&prometheus::core::Desc> {
        [
            self.connections.desc(),
            self.checkouts.desc(),
            self.waited.desc(),
            self.timeouts.desc(),
            self.lag.desc(),
            self.in_use.desc(),
            self.reads.desc(),
        ]
        .concat()
    }

    fn collect(&self) -> Vec<prometheus::proto::MetricFamily> {
        let state = self.pool.state();
        self.pool(
            "primary",
            state.connections,
            state.idle_connections,
            self.replicas.primary_waits(),
        );
        let primary_reads = self.reads.with_label_values(&["primary"]);
        primary_reads.inc_by(
            self.replicas
                .reads_on_primary()
                .saturating_sub(primary_reads.get()),
        );
        for replica in self.replicas.states(millis(now())) {
            let name = replica.label.as_str();
            self.pool(name, replica.connections, replica.idle, &replica.waits);
            self.in_use
                .with_label_values(&[name])
                .set(i64::from(replica.lag_secs.is_some()));
            self.lag
                .with_label_values(&[name])
                .set(replica.lag_secs.unwrap_or(f64::NAN));
            let reads = self.reads.with_label_values(&[name]);
            reads.inc_by(replica.reads.saturating_sub(reads.get()));
        }
        [
            self.connections.collect(),
            self.checkouts.collect(),
            self.waited.collect(),
            self.timeouts.collect(),
            self.lag.collect(),
            self.in_use.collect(),
            self.reads.collect(),
        ]
        .concat()
    }
}
