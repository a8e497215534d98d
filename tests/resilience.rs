//! Faults under load, through the real binary: a `kill -9` while tickets are being
//! logged, a PostgreSQL restart under load, and two API processes with two schedulers on
//! one PostgreSQL. Each test is bounded by counts (so many acknowledged writes), never by
//! sleeping on the wall clock, and talks over loopback only.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use diesel::prelude::*;
use jiesu_core::testing::{Store, TestDb};
use serde_json::{json, Value};

mod common;
use common::{get_json, jiesu, load_demo, login, run, serve};

fn ticket(title: &str) -> Value {
    json!({"category": "property_management", "title": title, "description": "压力下登记",
           "address": "5号楼", "households": 1})
}

/// Clients that log tickets until told to stop or their server goes away; every 201 is
/// recorded with the ticket's id.
struct Load {
    acknowledged: Arc<Mutex<Vec<i64>>>,
    stop: Arc<AtomicBool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Load {
    fn start(urls: &[String], token: &str, clients: usize) -> Load {
        let acknowledged = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(20))
            .build()
            .unwrap();
        let tasks = (0..clients)
            .map(|i| {
                let (client, token, acknowledged, stop) = (
                    client.clone(),
                    token.to_owned(),
                    acknowledged.clone(),
                    stop.clone(),
                );
                let url = urls[i % urls.len()].clone();
                tokio::spawn(async move {
                    let mut n = 0;
                    while !stop.load(Ordering::SeqCst) {
                        n += 1;
                        let res = client
                            .post(format!("{url}/api/v1/tickets"))
                            .bearer_auth(&token)
                            .json(&ticket(&format!("负载{i}-{n}")))
                            .send()
                            .await;
                        match res {
                            Ok(res) if res.status() == 201 => {
                                let body: Result<Value, _> = res.json().await;
                                if let Ok(body) = body {
                                    acknowledged
                                        .lock()
                                        .unwrap()
                                        .push(body["id"].as_i64().unwrap());
                                }
                            }
                            Ok(_) => {}
                            Err(_) => break,
                        }
                    }
                })
            })
            .collect();
        Load {
            acknowledged,
            stop,
            tasks,
        }
    }

    fn count(&self) -> usize {
        self.acknowledged.lock().unwrap().len()
    }

    async fn until(&self, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(120);
        while self.count() < n {
            assert!(
                Instant::now() < deadline,
                "the load stalled at {}",
                self.count()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn finish(self) -> Vec<i64> {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.tasks {
            t.await.unwrap();
        }
        Arc::try_unwrap(self.acknowledged)
            .unwrap()
            .into_inner()
            .unwrap()
    }
}

/// Every acknowledged ticket reads back over HTTP with its `logged` event.
async fn all_there(url: &str, token: &str, ids: &[i64]) {
    let client = reqwest::Client::new();
    for id in ids {
        let res = client
            .get(format!("{url}/api/v1/tickets/{id}"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "acknowledged ticket {id} is lost");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["events"][0]["kind"], "logged", "{body}");
    }
}

fn kill_9(child: &mut Child) {
    child.kill().unwrap(); // SIGKILL: no shutdown hooks, nothing flushed by us
    child.wait().unwrap();
}

/// A store with the demo city and the settings to serve it with the scheduler off: on
/// PostgreSQL loaded now, on SQLite the embedded default in `<dir>/data`, seeded when
/// `serve` first starts.
fn demo_store(store: Store) -> (TestDb, Vec<(&'static str, String)>) {
    let db = TestDb::new(store);
    let mut env = vec![("JIESU_SCHEDULER__ENABLED", "false".to_owned())];
    if store == Store::Postgres {
        load_demo(db.dir.path(), &db.url_string());
        env.push(("JIESU_DATABASE__URL", db.url_string()));
    }
    (db, env)
}

async fn a_crash_under_load_loses_no_acknowledged_ticket(store: Store) {
    let (db, env) = demo_store(store);
    let dir = db.dir.path();

    let (mut server, url) = serve(dir, &env);
    let client = reqwest::Client::new();
    let token = login(&client, &url, dir, "demo-grid").await;

    let load = Load::start(std::slice::from_ref(&url), &token, 8);
    load.until(150).await;
    kill_9(&mut server);
    let acknowledged = load.finish().await;
    assert!(acknowledged.len() >= 150);

    let (mut again, url) = serve(dir, &env);
    let token = login(&client, &url, dir, "demo-grid").await;
    all_there(&url, &token, &acknowledged).await;
    kill_9(&mut again);
}

/// A PostgreSQL cluster of the test's own (never the machine's shared server), started
/// with initdb/pg_ctl; as root, run as the postgres user, as initdb requires.
struct Cluster {
    dir: tempfile::TempDir,
    port: u16,
    bin: PathBuf,
}

impl Cluster {
    fn pg_bin() -> PathBuf {
        let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
            .expect("PostgreSQL binaries under /usr/lib/postgresql")
            .map(|e| e.unwrap().path().join("bin"))
            .filter(|p| p.join("pg_ctl").exists())
            .collect();
        found.sort();
        found.pop().expect("pg_ctl")
    }

    /// `command` in a shell, as the postgres user when we are root.
    fn as_owner(command: &str) -> Command {
        let root = Command::new("id").arg("-u").output().unwrap().stdout == b"0\n";
        let mut cmd = if root {
            let mut su = Command::new("su");
            su.args(["postgres", "-s", "/bin/sh", "-c"]);
            su
        } else {
            let mut sh = Command::new("sh");
            sh.arg("-c");
            sh
        };
        cmd.arg(command);
        cmd
    }

    fn shell(&self, command: &str) {
        let status = Self::as_owner(command).status().unwrap();
        assert!(status.success(), "{command}");
    }

    /// A folder and a port for a cluster, nothing in them yet.
    fn unmade() -> Cluster {
        let cluster = Cluster {
            bin: Self::pg_bin(),
            dir: tempfile::tempdir().unwrap(),
            port: jiesu_core::testing::free_port(),
        };
        Command::new("chmod")
            .args(["777", &cluster.dir.path().display().to_string()])
            .status()
            .unwrap();
        cluster
    }

    fn start_new() -> Cluster {
        let cluster = Self::unmade();
        cluster.shell(&format!(
            "'{}/initdb' -D '{}/data' -U postgres --auth=trust >/dev/null",
            cluster.bin.display(),
            cluster.dir.path().display()
        ));
        cluster.start();
        cluster
    }

    fn ctl(&self, action: &str) {
        let d = self.dir.path().display();
        self.shell(&format!(
            "'{}/pg_ctl' -D '{d}/data' -l '{d}/server.log' -o \"-p {} -k {d} -c listen_addresses=127.0.0.1\" -m fast -w {action} >/dev/null",
            self.bin.display(),
            self.port
        ));
    }

    fn start(&self) {
        self.ctl("start");
    }

    fn stop(&self) {
        self.ctl("stop");
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// A cluster whose statements are counted, on its standbys too (`pg_stat_statements`).
    fn start_counting() -> Cluster {
        let cluster = Self::start_new();
        cluster.stop();
        std::fs::write(
            cluster.dir.path().join("data/postgresql.auto.conf"),
            "shared_preload_libraries = 'pg_stat_statements'\n",
        )
        .unwrap();
        cluster.start();
        let mut conn = diesel::PgConnection::establish(&cluster.url()).unwrap();
        diesel::sql_query("CREATE EXTENSION pg_stat_statements")
            .execute(&mut conn)
            .unwrap();
        cluster
    }

    /// A streaming standby of `primary` (`pg_basebackup -R`), started.
    fn standby_of(primary: &Cluster) -> Cluster {
        let cluster = Self::unmade();
        cluster.shell(&format!(
            "'{}/pg_basebackup' -h 127.0.0.1 -p {} -U postgres -D '{}/data' -R -X stream",
            cluster.bin.display(),
            primary.port,
            cluster.dir.path().display()
        ));
        cluster.start();
        cluster
    }

    /// Calls this server answered of statements reading a page of the tickets' list.
    fn list_reads(&self) -> i64 {
        #[derive(QueryableByName)]
        struct Calls {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            calls: i64,
        }
        let mut conn = diesel::PgConnection::establish(&self.url()).unwrap();
        diesel::sql_query(
            "SELECT coalesce(sum(calls), 0)::bigint AS calls FROM pg_stat_statements \
             WHERE query LIKE '%FROM \"tickets\"%' AND query LIKE '%LIMIT%'",
        )
        .get_result::<Calls>(&mut conn)
        .unwrap()
        .calls
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let d = self.dir.path().display();
        let _ = Self::as_owner(&format!(
            "'{}/pg_ctl' -D '{d}/data' -m immediate stop",
            self.bin.display()
        ))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_database_restart_under_load_answers_503_meanwhile_and_recovers_without_a_restart() {
    let cluster = Cluster::start_new();
    let dir = tempfile::tempdir().unwrap();
    load_demo(dir.path(), &cluster.url());
    let env = vec![
        ("JIESU_DATABASE__URL", cluster.url()),
        ("JIESU_SCHEDULER__ENABLED", "false".to_owned()),
        ("JIESU_DATABASE__POOL_SIZE", "4".to_owned()),
        ("JIESU_DATABASE__ACQUIRE_TIMEOUT_SECS", "2".to_owned()),
    ];
    let (mut server, url) = serve(dir.path(), &env);
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let token = login(&client, &url, dir.path(), "demo-grid").await;
    let load = Load::start(std::slice::from_ref(&url), &token, 4);
    load.until(50).await;

    cluster.stop();
    // While the database is down every call is answered, in bounded time, with 503
    // problem+json: ten at once.
    let calls = (0..10).map(|_| {
        let (client, url, token) = (client.clone(), url.clone(), token.clone());
        tokio::spawn(async move {
            let started = Instant::now();
            let res = client
                .post(format!("{url}/api/v1/tickets"))
                .bearer_auth(&token)
                .json(&ticket("库停时"))
                .send()
                .await
                .expect("an answer, not a hang");
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "answered in bounded time"
            );
            assert_eq!(res.status(), 503, "while the database is down");
            assert_eq!(res.headers()["content-type"], "application/problem+json");
            assert!(res.headers().contains_key("retry-after"));
            let body: Value = res.json().await.unwrap();
            assert_eq!(body["status"], 503);
        })
    });
    let mut unavailable = 0;
    for call in calls.collect::<Vec<_>>() {
        call.await.unwrap();
        unavailable += 1;
    }
    assert_eq!(unavailable, 10);
    let ready = client.get(format!("{url}/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 503);

    cluster.start();
    // The pool reconnects by itself: the same process serves again.
    let before = load.count();
    load.until(before + 50).await;
    let acknowledged = load.finish().await;
    let ready = client.get(format!("{url}/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    all_there(&url, &token, &acknowledged).await;
    kill_9(&mut server);
}

/// GET /me `n` times, `at_once` at a time; the statuses in the order they came back.
async fn reads_of_me(
    client: &reqwest::Client,
    url: &str,
    token: &str,
    n: usize,
    at_once: usize,
) -> Vec<u16> {
    let mut statuses = Vec::new();
    for _ in 0..n.div_ceil(at_once) {
        let calls: Vec<_> = (0..at_once)
            .map(|_| {
                let (client, url, token) = (client.clone(), url.to_owned(), token.to_owned());
                tokio::spawn(async move {
                    let res = client
                        .get(format!("{url}/api/v1/me"))
                        .bearer_auth(&token)
                        .send()
                        .await
                        .expect("an answer");
                    let status = res.status().as_u16();
                    if status != 200 {
                        assert_eq!(res.headers()["content-type"], "application/problem+json");
                    }
                    status
                })
            })
            .collect();
        for call in calls {
            statuses.push(call.await.unwrap());
        }
    }
    statuses
}

/// Every connection of the database cut by the server (a failover, a proxy restarted, an
/// operator's `pg_terminate_backend`): the pool replaces them by itself. A connection idle
/// for longer than `ALIVE_WITHOUT_PING` is checked before use, so after a pause nothing
/// fails; one that answered within it is handed out unchecked (the round trip a busy
/// server saves), so right after the cut each pooled connection may cost one 503 — never
/// a 500 — and is then closed.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn connections_the_database_cuts_are_replaced_and_cost_at_most_one_503_each() {
    const POOL: usize = 4;
    let db = TestDb::new(Store::Postgres);
    let dir = db.dir.path();
    load_demo(dir, &db.url_string());
    let env = vec![
        ("JIESU_DATABASE__URL", db.url_string()),
        ("JIESU_SCHEDULER__ENABLED", "false".to_owned()),
        ("JIESU_DATABASE__POOL_SIZE", POOL.to_string()),
    ];
    let (mut server, url) = serve(dir, &env);
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let token = login(&client, &url, dir, "demo-grid").await;
    let mut admin = diesel::PgConnection::establish(&db.url_string()).unwrap();
    let mut cut_every_connection = || {
        let cut = diesel::sql_query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = current_database() AND pid <> pg_backend_pid()",
        )
        .execute(&mut admin)
        .unwrap();
        assert!(cut >= 1, "the server's connections were cut");
    };

    // Cut while busy: the cut connections answered a moment ago, so they are used as they
    // are; each fails once, as 503, and is replaced.
    assert!(reads_of_me(&client, &url, &token, 40, POOL)
        .await
        .iter()
        .all(|s| *s == 200));
    cut_every_connection();
    let statuses = reads_of_me(&client, &url, &token, 30, 1).await;
    assert!(
        statuses.iter().all(|s| matches!(s, 200 | 503)),
        "a lost connection is answered 503, never 500: {statuses:?}"
    );
    let failed = statuses.iter().filter(|s| **s == 503).count();
    eprintln!("after the cut: {failed} answered 503 of {}", statuses.len());
    assert!(
        failed <= POOL,
        "at most one failure per pooled connection: {statuses:?}"
    );
    assert!(
        statuses[statuses.len() - 10..].iter().all(|s| *s == 200),
        "then served again: {statuses:?}"
    );

    // Cut, then a pause longer than the window: every connection is checked before use and
    // nothing fails.
    assert!(reads_of_me(&client, &url, &token, 40, POOL)
        .await
        .iter()
        .all(|s| *s == 200));
    cut_every_connection();
    std::thread::sleep(jiesu_core::db::ALIVE_WITHOUT_PING * 2);
    let statuses = reads_of_me(&client, &url, &token, 40, POOL).await;
    assert!(
        statuses.iter().all(|s| *s == 200),
        "idle connections cut by the server are found before use: {statuses:?}"
    );
    kill_9(&mut server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_api_processes_and_two_schedulers_on_one_postgres_double_nothing_and_lose_nothing() {
    let db = TestDb::new(Store::Postgres);
    let dir = db.dir.path();
    let url_env = db.url_string();
    load_demo(dir, &url_env);
    let env = vec![
        ("JIESU_DATABASE__URL", url_env.clone()),
        ("JIESU_SCHEDULER__ENABLED", "false".to_owned()),
    ];
    let (mut a, url_a) = serve(dir, &env);
    let (mut b, url_b) = serve(dir, &env);
    let client = reqwest::Client::new();
    let token = login(&client, &url_a, dir, "demo-grid").await;
    let load = Load::start(&[url_a.clone(), url_b.clone()], &token, 8);
    load.until(40).await;

    // Three rounds of two schedulers sweeping the same instant at once, under the load.
    let sweeps = Arc::new(AtomicUsize::new(0));
    for instant in [days_ahead(90), days_ahead(97), days_ahead(104)] {
        let pair: Vec<Child> = (0..2)
            .map(|_| {
                jiesu(dir)
                    .args(["scheduler", "sweep", "--as-of", &instant])
                    .env("JIESU_DATABASE__URL", &url_env)
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for child in pair {
            let out = child.wait_with_output().unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            sweeps.fetch_add(1, Ordering::SeqCst);
        }
    }
    let before = load.count();
    load.until(before + 40).await;
    let acknowledged = load.finish().await;
    all_there(&url_b, &token, &acknowledged).await;

    let mut conn = diesel::PgConnection::establish(&url_env).unwrap();
    #[derive(QueryableByName, Debug)]
    struct Row {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let escalated: Vec<Row> = diesel::sql_query(
        "SELECT COUNT(*) AS n FROM ticket_events WHERE kind = 'escalated' GROUP BY ticket_id, to_status, detail",
    )
    .load(&mut conn)
    .unwrap();
    assert!(!escalated.is_empty(), "the sweeps escalated something");
    assert!(
        escalated.iter().all(|r| r.n == 1),
        "no double escalation: {escalated:?}"
    );
    let levels: Vec<Row> = diesel::sql_query(
        "SELECT COUNT(*) AS n FROM ticket_events WHERE kind = 'escalated' GROUP BY ticket_id HAVING COUNT(*) > 3",
    )
    .load(&mut conn)
    .unwrap();
    assert!(levels.is_empty(), "never past the city");
    #[derive(QueryableByName)]
    struct Number {
        #[diesel(sql_type = diesel::sql_types::Text)]
        number: String,
    }
    let numbers: Vec<Number> =
        diesel::sql_query("SELECT number FROM tickets WHERE number LIKE '110105-%'")
            .load(&mut conn)
            .unwrap();
    let mut seq: Vec<i64> = numbers
        .iter()
        .map(|n| n.number.rsplit('-').next().unwrap().parse().unwrap())
        .collect();
    seq.sort_unstable();
    assert_eq!(
        seq,
        (1..=seq.len() as i64).collect::<Vec<_>>(),
        "numbers drawn by two processes at once have no gaps and no repeats"
    );
    let mails: Vec<Row> = diesel::sql_query(
        "SELECT COUNT(*) AS n FROM outbox GROUP BY kind, recipient, subject, body",
    )
    .load(&mut conn)
    .unwrap();
    assert!(
        mails.iter().all(|r| r.n == 1),
        "no mail enqueued twice: {mails:?}"
    );
    let (out, stdout, stderr) = run(jiesu(dir)
        .args(["scheduler", "deliver"])
        .env("JIESU_DATABASE__URL", &url_env));
    assert!(out.status.success(), "{}\n{stdout}\n{stderr}", out.status);
    let queued: Vec<Row> = diesel::sql_query("SELECT COUNT(*) AS n FROM outbox")
        .load(&mut conn)
        .unwrap();
    let files = std::fs::read_dir(dir.join("data/outbox"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(files as i64, queued[0].n, "each mail delivered once");
    kill_9(&mut a);
    kill_9(&mut b);
}

/// An instant `days` after now (RFC 3339): with a quarter of a year, past every demo
/// deadline, whatever day the test runs on.
fn days_ahead(days: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::days(days)).to_rfc3339()
}

/// Runs `jiesu args…` `times` times against `url`; every run must exit 0 (a failure stops
/// at once, with the status and what the run printed).
fn every_run_exits_0(dir: &Path, url: &str, args: &[&str], times: usize) {
    for run_no in 1..=times {
        let (out, stdout, stderr) = run(jiesu(dir).args(args).env("JIESU_DATABASE__URL", url));
        assert!(
            out.status.success(),
            "`jiesu {}` run {run_no} of {times} ended with {} (a signal is a crash at exit)\n{stdout}\n{stderr}",
            args.join(" "),
            out.status
        );
    }
}

/// Cron, systemd and monitoring read the exit status: every one-shot command on
/// PostgreSQL ends with 0 run after run, and never crashes at exit while a pool thread is
/// inside libpq (OpenSSL and Kerberos are torn down by `exit()`).
#[test]
fn one_shot_commands_on_postgres_exit_0_every_time() {
    const RUNS: usize = 50;
    let db = TestDb::new(Store::Postgres);
    let dir = db.dir.path();
    let url = db.url_string();
    load_demo(dir, &url);
    let later = days_ahead(90);
    every_run_exits_0(dir, &url, &["migrate"], RUNS);
    every_run_exits_0(dir, &url, &["scheduler", "sweep", "--as-of", &later], RUNS);
    every_run_exits_0(dir, &url, &["scheduler", "deliver"], RUNS);
    every_run_exits_0(
        dir,
        &url,
        &["admin", "generate", "--closed", "1", "--open", "1"],
        RUNS,
    );
    // The demo goes only into an empty database: a fresh one each run, two at a time.
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                for _ in 0..RUNS / 2 {
                    let fresh = TestDb::new(Store::Postgres);
                    every_run_exits_0(
                        fresh.dir.path(),
                        &fresh.url_string(),
                        &["admin", "load-demo"],
                        1,
                    );
                }
            });
        }
    });
}

/// `jiesu serve` on PostgreSQL, stopped with SIGTERM: a graceful stop, exit 0, each time.
#[test]
fn serve_on_postgres_stops_on_sigterm_with_exit_0_every_time() {
    const RUNS: usize = 20;
    let db = TestDb::new(Store::Postgres);
    let dir = db.dir.path();
    let url = db.url_string();
    load_demo(dir, &url);
    let env = vec![
        ("JIESU_DATABASE__URL", url.clone()),
        // The scheduler runs too: its sender and sweep must stop cleanly as well.
        ("JIESU_SCHEDULER__CRON", "* * * * * *".to_owned()),
        ("JIESU_SCHEDULER__DELIVER_EVERY_SECS", "1".to_owned()),
    ];
    for run_no in 1..=RUNS {
        let (mut server, url) = serve(dir, &env);
        // One request, so the pool holds connections when the signal comes.
        let ready = std::process::Command::new("curl")
            .args(["-sf", &format!("{url}/readyz")])
            .output()
            .unwrap();
        assert!(ready.status.success(), "run {run_no}: readyz");
        let status = sigterm(&mut server);
        assert!(
            status.success(),
            "run {run_no} of {RUNS}: serve ended with {status} after SIGTERM"
        );
    }
}

/// Stops a child as a service manager does (SIGTERM) and waits for it, at most a minute.
fn sigterm(child: &mut Child) -> std::process::ExitStatus {
    let sent = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    wait_bounded(child, Duration::from_secs(60))
}

/// Waits for a child at most `limit` (then kills it and fails).
fn wait_bounded(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the process did not stop within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Clients trickling a request body a byte at a time are cut off (408) once the body
/// deadline passes, instead of holding connections for as long as they like.
#[test]
fn a_request_body_that_trickles_in_is_cut_off() {
    use std::io::{Read, Write};
    let dir = tempfile::tempdir().unwrap();
    let env = vec![
        ("JIESU_SCHEDULER__ENABLED", "false".to_owned()),
        ("JIESU_SERVER__BODY_TIMEOUT_SECS", "2".to_owned()),
    ];
    let (mut server, url) = serve(dir.path(), &env);
    let addr = url.trim_start_matches("http://").to_owned();
    let slow: Vec<_> = (0..8)
        .map(|_| {
            let addr = addr.clone();
            std::thread::spawn(move || {
                let mut stream = std::net::TcpStream::connect(&addr).unwrap();
                stream
                    .set_read_timeout(Some(Duration::from_secs(30)))
                    .unwrap();
                stream
                    .write_all(
                        b"POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\n\
                          Content-Type: application/json\r\nContent-Length: 200\r\n\r\n{",
                    )
                    .unwrap();
                // A byte every 300 ms: 60 s for the whole body, far past the deadline.
                let started = Instant::now();
                for _ in 0..60 {
                    std::thread::sleep(Duration::from_millis(300));
                    if stream.write_all(b" ").is_err() {
                        break;
                    }
                    stream.set_nonblocking(true).unwrap();
                    let mut peek = [0u8; 1];
                    let answered = matches!(stream.peek(&mut peek), Ok(n) if n > 0);
                    stream.set_nonblocking(false).unwrap();
                    if answered {
                        break;
                    }
                }
                let mut answer = Vec::new();
                let _ = stream.read_to_end(&mut answer);
                (
                    started.elapsed(),
                    String::from_utf8_lossy(&answer).into_owned(),
                )
            })
        })
        .collect();
    for client in slow {
        let (took, answer) = client.join().unwrap();
        assert!(
            answer.starts_with("HTTP/1.1 408"),
            "a trickling body is refused: {answer:?}"
        );
        assert!(
            took < Duration::from_secs(18),
            "cut off at its deadline, not when the client finished: {took:?}"
        );
    }
    kill_9(&mut server);
}

/// Resident memory of a process, from /proc (kB → MB).
fn rss_mb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb / 1024)
}

/// A flood of sign-ins with wrong passwords for made-up names, none of them throttled (the
/// worst case: every one is a password check), beside a signed-in person reading: every
/// read is answered, no read waits for a connection, and the server's memory stays flat —
/// password checks run a few at a time and never hold a database connection.
async fn a_sign_in_flood_leaves_signed_in_reads_working_and_memory_flat(store: Store) {
    const FLOODERS: usize = 48;
    const ATTEMPTS_EACH: usize = 8;
    const MEMORY_BOUND_MB: u64 = 300;
    let db = TestDb::new(store);
    let dir = db.dir.path();
    let mut env = vec![
        ("JIESU_SCHEDULER__ENABLED", "false".to_owned()),
        // Nothing throttled: the flood reaches the password check every time.
        ("JIESU_AUTH__MAX_FAILED_LOGINS", "1000000".to_owned()),
        (
            "JIESU_AUTH__MAX_FAILED_LOGINS_PER_ADDRESS",
            "1000000".to_owned(),
        ),
    ];
    if store == Store::Postgres {
        load_demo(dir, &db.url_string());
        env.push(("JIESU_DATABASE__URL", db.url_string()));
    }
    let (mut server, url) = serve(dir, &env);
    let pid = server.id();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let token = login(&client, &url, dir, "demo-grid").await;
    let before = rss_mb(pid);

    let flood: Vec<_> = (0..FLOODERS)
        .map(|i| {
            let (client, url) = (client.clone(), url.clone());
            tokio::spawn(async move {
                let mut statuses = Vec::new();
                for n in 0..ATTEMPTS_EACH {
                    let res = client
                        .post(format!("{url}/api/v1/auth/login"))
                        .json(&json!({"username": format!("flood-{i}-{n}"), "password": "hunter2hunter2"}))
                        .send()
                        .await;
                    statuses.push(res.map(|r| r.status().as_u16()).unwrap_or(0));
                }
                statuses
            })
        })
        .collect();
    let peak = Arc::new(AtomicUsize::new(0));
    let watching = Arc::new(AtomicBool::new(true));
    let watcher = {
        let (peak, watching) = (peak.clone(), watching.clone());
        tokio::spawn(async move {
            while watching.load(Ordering::SeqCst) {
                peak.fetch_max(rss_mb(pid) as usize, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    };
    let mut reads = 0;
    while flood.iter().any(|t| !t.is_finished()) {
        let res = client
            .get(format!("{url}/api/v1/me"))
            .bearer_auth(&token)
            .send()
            .await
            .expect("a read is answered during the flood");
        assert_eq!(res.status(), 200, "a signed-in read during the flood");
        reads += 1;
    }
    let mut answered = std::collections::BTreeMap::new();
    for t in flood {
        for status in t.await.unwrap() {
            *answered.entry(status).or_insert(0) += 1;
        }
    }
    watching.store(false, Ordering::SeqCst);
    watcher.await.unwrap();
    let peak = peak.load(Ordering::SeqCst) as u64;
    eprintln!("flood: {reads} reads, memory {before} MB → peak {peak} MB, answers {answered:?}");
    assert!(reads >= 10, "reads went on: {reads}");
    assert!(
        answered.keys().all(|s| matches!(s, 401 | 503)),
        "each flood attempt refused, as 401 or 503 (busy): {answered:?}"
    );
    assert!(
        peak < MEMORY_BOUND_MB,
        "resident memory peaked at {peak} MB (from {before} MB) under the flood"
    );
    kill_9(&mut server);
}

/// A PNG (by its signature) of `len` bytes filled with `fill`.
fn png(len: usize, fill: u8) -> Vec<u8> {
    let mut photo = vec![
        0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0x0d, b'I', b'H', b'D', b'R',
    ];
    photo.resize(len, fill);
    photo
}

/// `photo` uploaded to ticket 1 through `url`: the attachment (201 required).
async fn upload_photo(client: &reqwest::Client, url: &str, token: &str, photo: &[u8]) -> Value {
    let res = upload(client, url, token, photo).await;
    assert_eq!(res.status(), 201);
    res.json().await.unwrap()
}

/// `photo` uploaded to ticket 1 through `url`: the answer.
async fn upload(
    client: &reqwest::Client,
    url: &str,
    token: &str,
    photo: &[u8],
) -> reqwest::Response {
    client
        .post(format!("{url}/api/v1/tickets/1/attachments"))
        .bearer_auth(token)
        .multipart(
            reqwest::multipart::Form::new().part(
                "file",
                reqwest::multipart::Part::bytes(photo.to_vec())
                    .file_name("photo.png")
                    .mime_str("image/png")
                    .unwrap(),
            ),
        )
        .send()
        .await
        .unwrap()
}

/// `jiesu admin` with the test's settings, in `dir`: its exit status and stderr.
fn admin(dir: &Path, env: &[(&str, String)], args: &[&str]) -> (bool, String) {
    let mut cmd = jiesu(dir);
    cmd.arg("admin").args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let (out, _, stderr) = run(&mut cmd);
    (out.status.success(), stderr)
}

/// A folder nobody may write into, not even root (an immutable folder), until dropped.
struct ReadOnly(PathBuf);

impl ReadOnly {
    fn new(path: PathBuf) -> Self {
        std::fs::create_dir_all(&path).unwrap();
        let root = run(Command::new("id").arg("-u")).1.trim() == "0";
        if root {
            let (out, _, stderr) = run(Command::new("chattr").arg("+i").arg(&path));
            assert!(out.status.success(), "chattr +i: {stderr}");
        } else {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o555)).unwrap();
        }
        assert!(
            std::fs::create_dir(path.join("probe")).is_err(),
            "{} is still writable",
            path.display()
        );
        ReadOnly(path)
    }
}

impl Drop for ReadOnly {
    fn drop(&mut self) {
        let _ = Command::new("chattr").arg("-i").arg(&self.0).output();
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(&self.0, std::fs::Permissions::from_mode(0o755));
    }
}

/// A backup into a folder that cannot be written fails naming it, and leaves nothing that
/// looks like a backup (no `DEST`, no `DEST.partial`).
async fn a_backup_to_a_read_only_destination_fails_and_leaves_nothing(store: Store) {
    let (db, env) = demo_store(store);
    let dir = db.dir.path();
    if store == Store::Sqlite {
        let (mut server, _) = serve(dir, &env); // seeds the embedded default
        kill_9(&mut server);
    }
    let locked = ReadOnly::new(dir.join("locked"));
    let dest = locked.0.join("backup");
    let (ok, stderr) = admin(dir, &env, &["backup", &dest.display().to_string()]);
    assert!(!ok, "the backup cannot have succeeded");
    assert!(
        stderr.contains(&locked.0.display().to_string()),
        "names where it could not write: {stderr}"
    );
    assert!(!dest.exists());
    assert!(!locked.0.join("backup.partial").exists());
    drop(locked);
    // The same store backs up fine into a folder that can be written.
    let (ok, stderr) = admin(
        dir,
        &env,
        &["backup", &dir.join("fine").display().to_string()],
    );
    assert!(ok, "{stderr}");
    jiesu_core::backup::verify(&dir.join("fine")).unwrap();
}

/// A backup taken while tickets are being logged, restored into an empty store: every
/// ticket acknowledged before the backup began is there with its events, the photo is
/// served with the same bytes, and the manifest's counts are the restored rows. A restore
/// over data, or of a damaged backup, is refused naming why, and changes nothing.
async fn a_backup_under_load_restores_every_ticket_acknowledged_before_it(store: Store) {
    let (db, env) = demo_store(store);
    let dir = db.dir.path();
    let (mut server, url) = serve(dir, &env);
    let client = reqwest::Client::new();
    let token = login(&client, &url, dir, "demo-grid").await;
    // A photo on the demo's first ticket.
    let photo = png(2048, 7);
    let attachment = upload_photo(&client, &url, &token, &photo).await;

    let load = Load::start(std::slice::from_ref(&url), &token, 4);
    load.until(60).await;
    let before: Vec<i64> = load.acknowledged.lock().unwrap().clone();
    let backup = dir.join("backup");
    let (ok, stderr) = {
        let (dir, env, dest) = (dir.to_owned(), env.clone(), backup.display().to_string());
        tokio::task::spawn_blocking(move || admin(&dir, &env, &["backup", &dest]))
            .await
            .unwrap()
    };
    assert!(ok, "{stderr}");
    let more = load.count() + 20;
    load.until(more).await; // the server went on taking tickets
    load.finish().await;
    kill_9(&mut server);
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(backup.join("manifest.json")).unwrap()).unwrap();
    assert!(
        manifest["tables"]["tickets"].as_i64().unwrap() >= before.len() as i64 + 3,
        "{manifest}"
    );

    // Into an empty store of the same kind.
    let target = TestDb::new(store);
    let there = target.dir.path();
    let mut target_env = vec![("JIESU_SCHEDULER__ENABLED", "false".to_owned())];
    if store == Store::Postgres {
        target_env.push(("JIESU_DATABASE__URL", target.url_string()));
    }
    let (ok, stderr) = admin(
        there,
        &target_env,
        &["restore", &backup.display().to_string()],
    );
    assert!(ok, "{stderr}");
    let (ok, stderr) = admin(
        there,
        &target_env,
        &["restore", &backup.display().to_string()],
    );
    assert!(!ok, "a restore over data is refused");
    assert!(
        stderr.contains("exists") || stderr.contains("has tables") || stderr.contains("not empty"),
        "{stderr}"
    );

    let restored_url = match store {
        // The embedded default: <data_dir>/jiesu.db, the data folder under the working one.
        Store::Sqlite => jiesu_core::db::DatabaseUrl::sqlite_in(&there.join("data")),
        Store::Postgres => target.url.clone(),
    };
    let pool = jiesu_core::db::connect(&restored_url, 1).unwrap();
    let conn = &mut *jiesu_core::db::get(&pool).unwrap();
    // The restored rows are the manifest's.
    for (table, rows) in manifest["tables"].as_object().unwrap() {
        #[derive(QueryableByName)]
        struct N {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        let N { n } = diesel::sql_query(format!("SELECT count(*) AS n FROM \"{table}\""))
            .get_result(conn)
            .unwrap();
        assert_eq!(n, rows.as_i64().unwrap(), "{table}");
    }

    drop(pool);

    let (mut restored, url) = serve(there, &target_env);
    let token = login(&client, &url, dir, "demo-grid").await;
    all_there(&url, &token, &before).await;
    let res = client
        .get(format!(
            "{url}/api/v1/tickets/1/attachments/{}",
            attachment["id"]
        ))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.bytes().await.unwrap().as_ref(), photo.as_slice());
    kill_9(&mut restored);
    // A damaged backup is refused, naming the file, before anything is written.
    let damaged = dir.join("damaged");
    let copied = Command::new("cp")
        .arg("-r")
        .arg(&backup)
        .arg(&damaged)
        .status()
        .unwrap();
    assert!(copied.success());
    let file = if store == Store::Postgres {
        "jiesu.pgdump"
    } else {
        "jiesu.db"
    };
    let mut bytes = std::fs::read(damaged.join(file)).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(damaged.join(file), bytes).unwrap();
    let empty = TestDb::new(store);
    let mut empty_env = vec![];
    if store == Store::Postgres {
        empty_env.push(("JIESU_DATABASE__URL", empty.url_string()));
    }
    let (ok, stderr) = admin(
        empty.dir.path(),
        &empty_env,
        &["restore", &damaged.display().to_string()],
    );
    assert!(!ok);
    assert!(
        stderr.contains(file) && stderr.contains("checksum"),
        "{stderr}"
    );
    assert!(
        !empty.dir.path().join("data/jiesu.db").exists(),
        "nothing written"
    );
}

/// Every answer of a list, page after page, and of each ticket: what a move must keep.
/// `overdue` is left out (it is judged at the instant of the read).
async fn every_answer(client: &reqwest::Client, url: &str, token: &str) -> Vec<(String, Value)> {
    fn without_instant(mut v: Value) -> Value {
        match &mut v {
            Value::Object(map) => {
                map.remove("overdue");
                for value in map.values_mut() {
                    *value = without_instant(value.take());
                }
            }
            Value::Array(items) => {
                for value in items.iter_mut() {
                    *value = without_instant(value.take());
                }
            }
            _ => {}
        }
        v
    }
    let get = |path: String| {
        let (client, url, token) = (client.clone(), url.to_owned(), token.to_owned());
        async move {
            let res = client
                .get(format!("{url}{path}"))
                .bearer_auth(&token)
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 200, "{path}");
            res.json::<Value>().await.unwrap()
        }
    };
    let mut answers = Vec::new();
    let mut tickets = Vec::new();
    for list in [
        "/api/v1/tickets",
        "/api/v1/org-units",
        "/api/v1/partners",
        "/api/v1/users",
        "/api/v1/categories",
        "/api/v1/escalations",
        "/api/v1/needs",
    ] {
        let mut cursor = String::new();
        loop {
            let page = get(format!("{list}?limit=200&cursor={cursor}")).await;
            if list == "/api/v1/tickets" {
                tickets.extend(
                    page["items"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|t| t["id"].as_i64().unwrap()),
                );
            }
            answers.push((
                format!("{list}?cursor={cursor}"),
                without_instant(page.clone()),
            ));
            match page["next_cursor"].as_str() {
                Some(next) => cursor = next.to_owned(),
                None => break,
            }
        }
    }
    for id in tickets {
        let path = format!("/api/v1/tickets/{id}");
        answers.push((path.clone(), without_instant(get(path).await)));
    }
    answers
}

/// A SQLite installation moved to PostgreSQL (the demo city, 240 generated tickets with
/// their trails, a photo): the API answers every list and every ticket the same before and
/// after, the photo included; a second move into the now full database is refused, a
/// database left by an interrupted move is refused by `serve` and started over by the next
/// move.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_move_from_sqlite_to_postgres_keeps_every_answer() {
    let db = TestDb::new(Store::Sqlite);
    let dir = db.dir.path();
    let env = vec![("JIESU_SCHEDULER__ENABLED", "false".to_owned())];
    let (ok, stderr) = admin(dir, &env, &["load-demo"]);
    assert!(ok, "{stderr}");
    let (ok, stderr) = admin(
        dir,
        &env,
        &[
            "generate", "--closed", "200", "--open", "40", "--due", "5", "--trails",
        ],
    );
    assert!(ok, "{stderr}");
    let client = reqwest::Client::new();
    let (mut server, url) = serve(dir, &env);
    let admin_token = login(&client, &url, dir, "demo-admin").await;
    let grid = login(&client, &url, dir, "demo-grid").await;
    let photo = png(1024, 3);
    let attachment = upload_photo(&client, &url, &grid, &photo).await;
    let before = every_answer(&client, &url, &admin_token).await;
    assert!(before.len() > 240, "{} answers", before.len());
    kill_9(&mut server);

    let target = TestDb::new(Store::Postgres);
    let (ok, stderr) = admin(dir, &env, &["move-to", &target.url_string()]);
    assert!(ok, "{stderr}");
    let (ok, stderr) = admin(dir, &env, &["move-to", &target.url_string()]);
    assert!(
        !ok && stderr.contains("has tables"),
        "a second move is refused: {stderr}"
    );

    let moved_env = vec![
        ("JIESU_SCHEDULER__ENABLED", "false".to_owned()),
        ("JIESU_DATABASE__URL", target.url_string()),
    ];
    let (mut server, url) = serve(dir, &moved_env);
    let admin_token = login(&client, &url, dir, "demo-admin").await;
    let after = every_answer(&client, &url, &admin_token).await;
    assert_eq!(before.len(), after.len());
    for ((path, b), (_, a)) in before.iter().zip(&after) {
        if a != b {
            let (b, a) = (b.to_string(), a.to_string());
            let at = b.bytes().zip(a.bytes()).take_while(|(x, y)| x == y).count();
            let from = b[..at].char_indices().rev().nth(80).map_or(0, |(i, _)| i);
            panic!(
                "{path} differs after the move:\n before …{}\n after  …{}",
                b[from..].chars().take(200).collect::<String>(),
                a[from..].chars().take(200).collect::<String>()
            );
        }
    }
    let res = client
        .get(format!(
            "{url}/api/v1/tickets/1/attachments/{}",
            attachment["id"]
        ))
        .bearer_auth(&admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.bytes().await.unwrap().as_ref(), photo.as_slice());
    // New ids and numbers follow the moved ones.
    let res = client
        .post(format!("{url}/api/v1/tickets"))
        .bearer_auth(&login(&client, &url, dir, "demo-grid").await)
        .json(&ticket("搬家之后"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let logged: Value = res.json().await.unwrap();
    let last = before
        .iter()
        .filter_map(|(path, _)| path.strip_prefix("/api/v1/tickets/")?.parse::<i64>().ok())
        .max()
        .unwrap();
    assert_eq!(logged["id"].as_i64().unwrap(), last + 1, "{logged}");
    let first = &before
        .iter()
        .find(|(path, _)| path == "/api/v1/tickets/1")
        .unwrap()
        .1["number"];
    let district_year = first.as_str().unwrap().rsplit_once('-').unwrap().0;
    assert_eq!(
        logged["number"].as_str().unwrap(),
        format!("{district_year}-000004"),
        "numbered after the demo's three"
    );
    kill_9(&mut server);

    // An interrupted move: `serve` refuses the database, the next move starts it over.
    let mut pg = diesel::PgConnection::establish(&target.url_string()).unwrap();
    diesel::sql_query("CREATE TABLE jiesu_move_incomplete (started_at timestamp)")
        .execute(&mut pg)
        .unwrap();
    let (ok, stderr) = admin(dir, &moved_env, &["explain-rates", "--org-unit-id", "1"]);
    assert!(!ok && stderr.contains("move-to"), "{stderr}");
    let (ok, stderr) = admin(dir, &env, &["move-to", &target.url_string()]);
    assert!(ok, "{stderr}");
}

/// Production settings with photos in `bucket` at `endpoint`.
fn production_with_bucket(
    url: String,
    endpoint: &str,
    bucket: &str,
) -> Vec<(&'static str, String)> {
    let mut env = production(url);
    env.extend(common::s3_env(endpoint, bucket));
    env
}

/// Production settings on the PostgreSQL at `url`, with no scheduler (the tests that use
/// them look at the API only).
fn production(url: String) -> Vec<(&'static str, String)> {
    vec![
        ("JIESU_ENVIRONMENT", "production".to_owned()),
        ("JIESU_DATABASE__URL", url),
        // Processes behind one balancer share the signing key, from the environment.
        (
            "JIESU_AUTH__JWT_SECRET",
            "k3Jq9-production-secret-of-forty-bytes-x".to_owned(),
        ),
        (
            "JIESU_SERVER__PUBLIC_URL",
            "https://jiesu.example.test".to_owned(),
        ),
        ("JIESU_SCHEDULER__ENABLED", "false".to_owned()),
        ("JIESU_MAIL__SMTP__HOST", "127.0.0.1".to_owned()),
        ("JIESU_MAIL__SMTP__TLS", "none".to_owned()),
        ("JIESU_MAIL__SMTP__ALLOW_PLAINTEXT", "true".to_owned()),
    ]
}

/// Photos in an S3-compatible bucket, served by the binary with production settings: two
/// `serve` processes with data folders of their own and one bucket, as on two machines; a
/// photo uploaded through one is served by the other, a backup holds it and restores it
/// into another database and bucket. A bucket that does not answer fails an upload with
/// 503 naming the photos' store, and no attachment is recorded.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn photos_in_a_bucket_are_served_by_every_process_and_backed_up() {
    let db = TestDb::new(Store::Postgres);
    let dir = db.dir.path();
    load_demo(dir, &db.url_string());
    let buckets = tempfile::tempdir().unwrap();
    let endpoint = common::s3_server(buckets.path(), "photos");
    let env = production_with_bucket(db.url_string(), &endpoint, "photos");
    let (mut one, url_one) = serve(dir, &env);
    let elsewhere = tempfile::tempdir().unwrap(); // the other machine's data folder
    let (mut two, url_two) = serve(elsewhere.path(), &env);
    let client = reqwest::Client::new();
    let token = login(&client, &url_one, dir, "demo-grid").await;
    let photo = png(4096, 9);
    let attachment = upload_photo(&client, &url_one, &token, &photo).await;
    let sha256 = attachment["sha256"].as_str().unwrap();
    assert!(
        !dir.join("data/attachments")
            .join(&sha256[..2])
            .join(sha256)
            .exists(),
        "not on the receiving machine's disk"
    );
    let photo_at = |url: String, token: String| {
        let (client, id) = (client.clone(), attachment["id"].clone());
        async move {
            let res = client
                .get(format!("{url}/api/v1/tickets/1/attachments/{id}"))
                .bearer_auth(&token)
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 200);
            assert_eq!(res.headers()["content-type"], "image/png");
            res.bytes().await.unwrap().to_vec()
        }
    };
    assert_eq!(
        photo_at(url_two.clone(), token.clone()).await,
        photo,
        "served by the other process"
    );
    kill_9(&mut one);
    kill_9(&mut two);

    // A bucket that does not answer: the upload is refused as unavailable, nothing recorded.
    let nowhere = format!("http://127.0.0.1:{}", jiesu_core::testing::free_port());
    let (mut cut_off, url) = serve(
        dir,
        &production_with_bucket(db.url_string(), &nowhere, "photos"),
    );
    let mut other = photo.clone();
    other[100] = 1;
    let res = upload(&client, &url, &token, &other).await;
    assert_eq!(res.status(), 503);
    assert!(res.headers().contains_key("retry-after"));
    let problem: Value = res.json().await.unwrap();
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("photos' store"),
        "{problem}"
    );
    let ticket = get_json(&client, &url, "/api/v1/tickets/1", &token).await;
    assert_eq!(
        ticket["attachments"].as_array().unwrap().len(),
        1,
        "only the first photo is recorded: {ticket}"
    );
    kill_9(&mut cut_off);

    // Backed up from the bucket, restored into another database and bucket.
    let backup = dir.join("backup");
    let (ok, stderr) = admin(dir, &env, &["backup", &backup.display().to_string()]);
    assert!(ok, "{stderr}");
    assert!(backup
        .join("attachments")
        .join(&sha256[..2])
        .join(sha256)
        .exists());
    let target = TestDb::new(Store::Postgres);
    let target_env = production_with_bucket(target.url_string(), &endpoint, "restored");
    std::fs::create_dir_all(buckets.path().join("restored")).unwrap();
    let (ok, stderr) = admin(
        target.dir.path(),
        &target_env,
        &["restore", &backup.display().to_string()],
    );
    assert!(ok, "{stderr}");
    assert!(buckets
        .path()
        .join("restored")
        .join(&sha256[..2])
        .join(sha256)
        .exists());
    let (mut restored, url) = serve(target.dir.path(), &target_env);
    let token = login(&client, &url, dir, "demo-grid").await;
    assert_eq!(
        photo_at(url, token).await,
        photo,
        "served after the restore"
    );
    kill_9(&mut restored);
}

/// An upload waits for the photos' store with no database connection held: with a pool
/// of two connections and a bucket that takes requests but never answers, three uploads
/// hanging on the bucket leave the database free, so reads are answered meanwhile (they
/// would wait for a connection and get 503 if the uploads held the pool). When the bucket
/// goes, the uploads fail with 503 and record nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn uploads_waiting_on_a_silent_bucket_hold_no_database_connection() {
    const UPLOADS: usize = 3;
    let db = TestDb::new(Store::Postgres);
    let dir = db.dir.path();
    load_demo(dir, &db.url_string());
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", silent.local_addr().unwrap());
    let (accepted, held) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for socket in silent.incoming() {
            if accepted.send(socket).is_err() {
                break;
            }
        }
    });
    let mut env = production_with_bucket(db.url_string(), &endpoint, "photos");
    env.push(("JIESU_DATABASE__POOL_SIZE", "2".to_owned()));
    let (mut server, url) = serve(dir, &env);
    let client = reqwest::Client::new();
    let token = login(&client, &url, dir, "demo-grid").await;
    let uploads: Vec<_> = (0..UPLOADS)
        .map(|i| {
            let (client, url, token) = (client.clone(), url.clone(), token.clone());
            tokio::spawn(async move { upload(&client, &url, &token, &png(2048, i as u8)).await })
        })
        .collect();
    // Every upload has reached the bucket and waits for its answer.
    let sockets: Vec<_> = (0..UPLOADS)
        .map(|_| {
            held.recv_timeout(Duration::from_secs(60))
                .expect("an upload reached the bucket")
        })
        .collect();
    for _ in 0..4 {
        let res = client
            .get(format!("{url}/api/v1/tickets?limit=5"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(
            res.status(),
            200,
            "a read while uploads wait on the bucket: {}",
            res.text().await.unwrap()
        );
    }
    assert!(
        uploads.iter().all(|u| !u.is_finished()),
        "the uploads were still waiting on the bucket"
    );
    drop(sockets);
    drop(held);
    for upload in uploads {
        assert_eq!(upload.await.unwrap().status(), 503);
    }
    let ticket = get_json(&client, &url, "/api/v1/tickets/1", &token).await;
    assert_eq!(ticket["attachments"], serde_json::json!([]), "{ticket}");
    kill_9(&mut server);
}

/// One value of `/metrics` (a line starting with `series`).
async fn metric(client: &reqwest::Client, url: &str, series: &str) -> Option<f64> {
    let text = client
        .get(format!("{url}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find(|l| l.starts_with(series))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
}

/// Reads from a streaming replica, through the release binary with production settings, on
/// a primary and a standby the test starts itself: ticket lists and the rates are served
/// by the standby (counted in its own `pg_stat_statements`); under a load of creates each
/// creator finds their new ticket in the list they read at once; with the standby stopped
/// under a read load no request fails and the reads move to the primary; started again,
/// it is used again; and stopped with SIGTERM, it exits 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_reads_go_to_a_streaming_standby_and_fall_back_to_the_primary() {
    let primary = Cluster::start_counting();
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    load_demo(dir, &primary.url());
    let standby = Cluster::standby_of(&primary);
    let mut env = production(primary.url());
    env.push(("JIESU_DATABASE__REPLICA_URLS", standby.url()));
    let (mut server, url) = serve(dir, &env);
    let client = reqwest::Client::new();
    let in_use = format!("jiesu_db_replica_in_use{{database=\"{}\"}}", standby.url());
    let wait_for = |want: f64| {
        let (client, url, in_use) = (client.clone(), url.clone(), in_use.clone());
        async move {
            let deadline = Instant::now() + Duration::from_secs(30);
            while metric(&client, &url, &in_use).await != Some(want) {
                assert!(Instant::now() < deadline, "{in_use} never became {want}");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    };
    wait_for(1.0).await;

    // Lists and the rates are read on the standby.
    let admin = login(&client, &url, dir, "demo-admin").await;
    let before = standby.list_reads();
    for _ in 0..20 {
        get_json(&client, &url, "/api/v1/tickets?limit=5", &admin).await;
    }
    assert!(
        standby.list_reads() >= before + 20,
        "the standby served the lists: {} then {}",
        before,
        standby.list_reads()
    );
    get_json(&client, &url, "/api/v1/stats", &admin).await;
    let replica_reads = format!("jiesu_db_reads_total{{database=\"{}\"}}", standby.url());
    assert!(metric(&client, &url, &replica_reads).await.unwrap_or(0.0) >= 21.0);

    // Read-your-writes under a load of creates: each creator lists their new ticket at once.
    let grid = login(&client, &url, dir, "demo-grid").await;
    let creators: Vec<_> = (0..4)
        .map(|c| {
            let (client, url, grid) = (client.clone(), url.clone(), grid.clone());
            tokio::spawn(async move {
                for n in 0..15 {
                    let res = client
                        .post(format!("{url}/api/v1/tickets"))
                        .bearer_auth(&grid)
                        .json(&ticket(&format!("副本{c}-{n}")))
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(res.status(), 201);
                    let id = res.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
                    let page = get_json(&client, &url, "/api/v1/tickets?limit=100", &grid).await;
                    assert!(
                        page["items"]
                            .as_array()
                            .unwrap()
                            .iter()
                            .any(|t| t["id"].as_i64() == Some(id)),
                        "ticket {id} is in its creator's list at once"
                    );
                }
            })
        })
        .collect();
    for creator in creators {
        creator.await.unwrap();
    }

    // The standby stopped under a read load: no read fails, they move to the primary.
    let stop = Arc::new(AtomicBool::new(false));
    let failed = Arc::new(AtomicUsize::new(0));
    let served = Arc::new(AtomicUsize::new(0));
    let readers: Vec<_> = (0..8)
        .map(|_| {
            let (client, url, admin) = (client.clone(), url.clone(), admin.clone());
            let (stop, failed, served) = (stop.clone(), failed.clone(), served.clone());
            tokio::spawn(async move {
                while !stop.load(Ordering::SeqCst) {
                    let res = client
                        .get(format!("{url}/api/v1/tickets?limit=5"))
                        .bearer_auth(&admin)
                        .send()
                        .await;
                    match res {
                        Ok(r) if r.status() == 200 => served.fetch_add(1, Ordering::SeqCst),
                        _ => failed.fetch_add(1, Ordering::SeqCst),
                    };
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    standby.stop();
    wait_for(0.0).await;
    let on_primary = served.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(
        served.load(Ordering::SeqCst) > on_primary,
        "reads go on, on the primary"
    );
    // Started again, it is used again.
    standby.start();
    wait_for(1.0).await;
    let again = standby.list_reads();
    tokio::time::sleep(Duration::from_secs(1)).await;
    stop.store(true, Ordering::SeqCst);
    for reader in readers {
        reader.await.unwrap();
    }
    assert_eq!(
        failed.load(Ordering::SeqCst),
        0,
        "no read failed ({} served)",
        served.load(Ordering::SeqCst)
    );
    assert!(
        standby.list_reads() > again,
        "the standby serves reads again"
    );
    // Stopped as a service manager stops it: the replica's pool closes cleanly too, exit 0.
    let status = sigterm(&mut server);
    assert!(
        status.success(),
        "serve with a replica ended with {status} after SIGTERM"
    );
}

macro_rules! on_both_stores {
    ($($name:ident),+ $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() { super::$name(super::Store::Sqlite).await })+
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() { super::$name(super::Store::Postgres).await })+
        }
    };
}

on_both_stores!(
    a_backup_under_load_restores_every_ticket_acknowledged_before_it,
    a_backup_to_a_read_only_destination_fails_and_leaves_nothing,
    a_crash_under_load_loses_no_acknowledged_ticket,
    a_sign_in_flood_leaves_signed_in_reads_working_and_memory_flat,
);
