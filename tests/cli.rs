//! The `jiesu` binary end to end: first start, migrations, start-up errors, demo data
//! refusals and graceful shutdown. Each test runs in a folder of its own.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use diesel::prelude::*;
use jiesu_core::testing::{Store, TestDb};

mod common;
use common::{jiesu, run, wait_for_url};

/// A count read by SQL (`SELECT COUNT(*) AS n ...`).
#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

/// The `n` a counting query answers.
fn count(conn: &mut jiesu_core::db::DbConnection, sql: &str) -> i64 {
    diesel::sql_query(sql).get_result::<Count>(conn).unwrap().n
}

fn migrate_twice(dir: &Path, url: Option<&str>) {
    let mut first = jiesu(dir);
    first.arg("migrate");
    if let Some(url) = url {
        first.env("JIESU_DATABASE__URL", url);
    }
    let (out, stdout, stderr) = run(&mut first);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stdout.contains("applied 2026"),
        "first run applies the migrations: {stdout}"
    );
    let mut second = jiesu(dir);
    second.arg("migrate");
    if let Some(url) = url {
        second.env("JIESU_DATABASE__URL", url);
    }
    let (out, stdout, stderr) = run(&mut second);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stdout.contains("no pending migrations"),
        "second run is a no-op: {stdout}"
    );
}

#[test]
fn migrate_twice_is_a_no_op_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    migrate_twice(dir.path(), None);
    assert!(dir.path().join("data/jiesu.db").exists());
}

#[test]
fn migrate_twice_is_a_no_op_on_postgres() {
    let db = TestDb::new(Store::Postgres);
    migrate_twice(db.dir.path(), Some(&db.url_string()));
}

#[test]
fn a_closed_postgres_port_reports_the_real_connection_error() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    }; // closed again now
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let (out, _, stderr) = run(jiesu(dir.path()).arg("serve").env(
        "JIESU_DATABASE__URL",
        format!("postgres://postgres@127.0.0.1:{port}/jiesu"),
    ));
    assert!(!out.status.success());
    assert!(
        stderr.contains("Connection refused"),
        "the real cause is shown: {stderr}"
    );
    assert!(
        stderr.contains(&format!("127.0.0.1:{port}")) || stderr.contains(&port.to_string()),
        "{stderr}"
    );
    // The log names where in jiesu the error was made, beside the whole chain of causes.
    assert!(
        stderr.contains("crates/core/src/db.rs:"),
        "the place it was made is logged: {stderr}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "fails at once instead of waiting on a pool"
    );
}

#[test]
fn an_unknown_database_scheme_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let (out, _, stderr) = run(jiesu(dir.path())
        .arg("migrate")
        .env("JIESU_DATABASE__URL", "mysql://root@localhost/jiesu"));
    assert!(!out.status.success());
    assert!(
        stderr.contains("database.url") && stderr.contains("mysql"),
        "{stderr}"
    );
}

#[test]
fn production_refuses_to_start_without_a_real_jwt_secret_and_never_loads_demo_data() {
    let dir = tempfile::tempdir().unwrap();
    let (out, _, stderr) = run(jiesu(dir.path())
        .arg("serve")
        .env("JIESU_PRODUCTION", "true"));
    assert!(!out.status.success());
    assert!(stderr.contains("auth.jwt_secret"), "{stderr}");
    let (out, _, stderr) = run(jiesu(dir.path())
        .arg("serve")
        .env("JIESU_PRODUCTION", "true")
        .env("JIESU_AUTH__JWT_SECRET", "change-me"));
    assert!(!out.status.success(), "a placeholder secret is refused");
    assert!(stderr.contains("auth.jwt_secret"), "{stderr}");
    let (out, _, stderr) = run(jiesu(dir.path())
        .args(["admin", "load-demo"])
        .env("JIESU_PRODUCTION", "true")
        .env("JIESU_MAIL__TRANSPORT", "smtp")
        .env("JIESU_SERVER__PUBLIC_URL", "https://jiesu.example.gov.cn")
        .env("JIESU_AUTH__JWT_SECRET", "x".repeat(40)));
    assert!(!out.status.success());
    assert!(
        stderr.contains("demo data is never loaded with production on"),
        "{stderr}"
    );
    assert!(!dir.path().join("data/demo-credentials.txt").exists());
}

#[test]
fn a_five_field_cron_line_stops_the_start_with_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let (out, _, stderr) = run(jiesu(dir.path())
        .arg("scheduler")
        .env("JIESU_SCHEDULER__CRON", "*/5 * * * *"));
    assert!(!out.status.success());
    assert!(
        stderr.contains("scheduler.cron")
            && stderr.contains("five-field")
            && stderr.contains("0 */5 * * * *"),
        "{stderr}"
    );
}

/// Runs the command with `input` on its standard input.
fn with_stdin(cmd: &mut Command, input: &str) -> std::process::Output {
    use std::io::Write;
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn create_user_from_the_command_line_reads_the_password_from_stdin() {
    let dir = tempfile::tempdir().unwrap();
    let out = with_stdin(
        jiesu(dir.path()).args([
            "admin",
            "create-user",
            "--username",
            "chief",
            "--role",
            "admin",
            "--password-stdin",
        ]),
        "a-real-long-password\n",
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("created admin chief"), "{stdout}");
    assert!(!stdout.contains("a-real-long-password"));
    // The same username again is refused.
    let (out, _, stderr) = run(jiesu(dir.path()).args([
        "admin",
        "create-user",
        "--username",
        "CHIEF",
        "--role",
        "admin",
    ]));
    assert!(!out.status.success());
    assert!(stderr.contains("taken"), "{stderr}");

    // A locked-out administrator gets a new password from the command line, made and
    // printed when not given; a short one is refused; an unknown account is named.
    let (out, stdout, stderr) =
        run(jiesu(dir.path()).args(["admin", "reset-password", "--username", "Chief"]));
    assert!(out.status.success(), "{stderr}");
    assert!(
        stdout.contains("reset the password of admin chief"),
        "{stdout}"
    );
    let new = stdout
        .lines()
        .find_map(|l| l.strip_prefix("password: "))
        .expect("the generated password is printed");
    assert_eq!(new.len(), 16);
    let mut conn = jiesu_core::db::connect(
        &jiesu_core::db::DatabaseUrl::sqlite_in(&dir.path().join("data")),
        1,
    )
    .unwrap()
    .get()
    .unwrap();
    let mut signs_in = |username: &str, password: &str| {
        use jiesu_core::signin;
        let at = chrono::Utc::now().naive_utc();
        let candidate = signin::prepare(&mut conn, username, "cli-test", at).unwrap();
        let ok = jiesu_core::users::verify_password(password, &candidate.hash());
        signin::finish(&mut conn, candidate, ok, at, &Default::default()).is_ok()
    };
    assert!(signs_in("chief", new));
    assert!(
        !signs_in("chief", "a-real-long-password"),
        "the old password is gone"
    );
    let out = with_stdin(
        jiesu(dir.path()).args([
            "admin",
            "reset-password",
            "--username",
            "chief",
            "--password-stdin",
        ]),
        "short\n",
    );
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("password"),
        "names the field"
    );
    let (out, _, stderr) =
        run(jiesu(dir.path()).args(["admin", "reset-password", "--username", "nobody"]));
    assert!(!out.status.success());
    assert!(stderr.contains("user not found"), "{stderr}");
}

#[test]
fn first_start_serves_the_demo_city_and_stops_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = jiesu(dir.path())
        .env("JIESU_SERVER__BIND", "127.0.0.1:0")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let url = wait_for_url(&mut child);
    let creds = std::fs::read_to_string(dir.path().join("data/demo-credentials.txt")).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("data/demo-credentials.txt"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "demo logins readable by the owner only");
    }
    let line = creds
        .lines()
        .find(|l| l.contains("demo-supervisor"))
        .expect("supervisor login");
    let password = line.split_whitespace().nth(2).unwrap();

    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let client = reqwest::Client::new();
        let res = client
            .post(format!("{url}/api/v1/auth/login"))
            .json(&serde_json::json!({"username": "demo-supervisor", "password": password}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        let body: serde_json::Value = res.json().await.unwrap();
        let token = body["token"].as_str().unwrap();
        let res = client
            .get(format!("{url}/api/v1/org-units"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        let units: serde_json::Value = res.json().await.unwrap();
        assert!(units["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|u| u["name"] == "望京街道"));
        let ready = client.get(format!("{url}/readyz")).send().await.unwrap();
        assert_eq!(ready.status(), 200);
    });

    // SIGTERM: a graceful stop, exit status 0.
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(30);
    let exit = loop {
        if let Some(exit) = child.try_wait().unwrap() {
            break exit;
        }
        assert!(
            Instant::now() < deadline,
            "server did not stop after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(exit.success(), "{exit:?}");

    // A second start keeps the data and does not seed again.
    let (out, _, stderr) = run(jiesu(dir.path()).arg("migrate"));
    assert!(out.status.success(), "{stderr}");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("data/demo-credentials.txt")).unwrap(),
        creds
    );
}

/// The demo city with its tickets in `db`, through the binary.
fn load_demo(db: &TestDb) {
    common::load_demo(db.dir.path(), &db.url_string());
}

fn sweep_as_of(db: &TestDb, instant: &str) -> Child {
    jiesu(db.dir.path())
        .args(["scheduler", "sweep", "--as-of", instant])
        .env("JIESU_DATABASE__URL", db.url_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// An instant `days` after now: past every demo deadline with a quarter of a year, on any
/// day the test runs.
fn days_ahead(days: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::days(days)).to_rfc3339()
}

/// The year of ticket numbers logged now (China time).
fn china_year() -> i32 {
    use chrono::Datelike;
    (chrono::Utc::now() + chrono::Duration::hours(8)).year()
}

fn eml_files(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir.join("data/outbox"))
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| std::fs::read_to_string(e.path()).unwrap())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn a_demo_ticket_left_alone_escalates_into_an_eml_in_the_outbox_folder() {
    let db = TestDb::new(Store::Sqlite);
    load_demo(&db);
    assert!(
        eml_files(db.dir.path())
            .iter()
            .all(|m| !m.contains("wangjing@street.example.com")),
        "no digest yet"
    );
    let instant = days_ahead(90);
    let out = sweep_as_of(&db, &instant).wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("3 ticket(s) escalated")
            && stdout.contains(&format!("110105-{}-000001", china_year())),
        "{stdout}"
    );
    let digests: Vec<_> = eml_files(db.dir.path())
        .into_iter()
        .filter(|m| m.contains("To: wangjing@street.example.com"))
        .collect();
    assert_eq!(digests.len(), 1, "one digest for the street");
    // Files holding residents' data are the service's own: the database (and its WAL),
    // the mail, the folders they are in.
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let data = db.dir.path().join("data");
    assert_eq!(mode(&data), 0o700, "data/");
    assert_eq!(mode(&data.join("outbox")), 0o700, "data/outbox/");
    for entry in std::fs::read_dir(data.join("outbox")).unwrap() {
        let path = entry.unwrap().path();
        assert_eq!(mode(&path), 0o600, "{}", path.display());
    }
    let database = db.dir.path().join("jiesu.db");
    assert_eq!(mode(&database), 0o600, "the SQLite file");
    for name in ["jiesu.db-wal", "jiesu.db-shm"] {
        let path = db.dir.path().join(name);
        if path.exists() {
            assert_eq!(mode(&path), 0o600, "{name}");
        }
    }

    // Replaying the same instant changes nothing and mails nothing.
    let out = sweep_as_of(&db, &instant).wait_with_output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("0 ticket(s) escalated"));
    assert_eq!(
        eml_files(db.dir.path())
            .iter()
            .filter(|m| m.contains("To: wangjing@street.example.com"))
            .count(),
        1
    );
}

#[test]
fn two_schedulers_sweeping_one_postgres_at_once_escalate_once_and_mail_once() {
    let db = TestDb::new(Store::Postgres);
    load_demo(&db);
    let instant = days_ahead(90);
    let (a, b) = (sweep_as_of(&db, &instant), sweep_as_of(&db, &instant));
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    assert!(
        a.status.success() && b.status.success(),
        "{} {}",
        String::from_utf8_lossy(&a.stderr),
        String::from_utf8_lossy(&b.stderr)
    );
    let reports = format!(
        "{}{}",
        String::from_utf8_lossy(&a.stdout),
        String::from_utf8_lossy(&b.stdout)
    );
    assert!(
        reports.contains("3 ticket(s) escalated") && reports.contains("0 ticket(s) escalated"),
        "one did the work: {reports}"
    );

    let mut conn = diesel::PgConnection::establish(&db.url_string()).unwrap();
    let per_ticket: Vec<Count> = diesel::sql_query(
        "SELECT COUNT(*) AS n FROM ticket_events WHERE kind = 'escalated' GROUP BY ticket_id",
    )
    .load(&mut conn)
    .unwrap();
    assert_eq!(
        per_ticket.iter().map(|r| r.n).collect::<Vec<_>>(),
        [1, 1, 1],
        "one escalation per ticket"
    );
    let per_recipient: Vec<Count> = diesel::sql_query(
        "SELECT COUNT(*) AS n FROM outbox WHERE kind = 'escalation_digest' GROUP BY recipient",
    )
    .load(&mut conn)
    .unwrap();
    assert!(
        !per_recipient.is_empty() && per_recipient.iter().all(|r| r.n == 1),
        "one digest per supervisor"
    );
    let sent: Vec<Count> = diesel::sql_query(
        "SELECT COUNT(*) AS n FROM outbox WHERE kind = 'escalation_digest' AND sent_at IS NOT NULL",
    )
    .load(&mut conn)
    .unwrap();
    assert_eq!(sent[0].n, per_recipient.len() as i64);
    let digests = eml_files(db.dir.path())
        .into_iter()
        .filter(|m| m.contains("To: wangjing@street.example.com"))
        .count();
    assert_eq!(digests, 1, "delivered once");
}

/// `generate --city --trails` grows a city-sized tree and writes worked trails the rates
/// read as the replay does; `explain-rates` prints the store's plan.
fn generated_city_with_trails(store: Store) {
    let db = TestDb::new(store);
    load_demo(&db);
    let generate = |extra: &[&str]| {
        let mut cmd = jiesu(db.dir.path());
        cmd.args([
            "admin", "generate", "--closed", "400", "--open", "40", "--due", "4",
        ])
        .args(["--trails", "--city", "--as-of", "2026-11-20T10:00:00+08:00"])
        .args(extra)
        .env("JIESU_DATABASE__URL", db.url_string());
        let (out, stdout, stderr) = run(&mut cmd);
        assert!(out.status.success(), "{stderr}");
        assert!(
            stdout.contains("generated 400 closed and 40 open"),
            "{stdout}"
        );
    };
    generate(&[]);
    generate(&["--batch", "100"]); // a second run keeps the tree it grew
    let pool = jiesu_core::db::connect(&db.url, 1).unwrap();
    let conn = &mut *pool.get().unwrap();
    use jiesu_core::schema::{org_units, ticket_events, tickets};
    let communities: i64 = org_units::table
        .filter(org_units::kind.eq("community"))
        .count()
        .get_result(conn)
        .unwrap();
    let (d, s, c) = jiesu_core::loadgen::CITY;
    assert_eq!(
        communities,
        8 + d * s * c,
        "the demo's 8 and the grown city's, once"
    );
    let mut kind_count = |kind: &str| -> i64 {
        ticket_events::table
            .inner_join(tickets::table)
            .filter(tickets::number.like("GEN%"))
            .filter(ticket_events::kind.eq(kind))
            .count()
            .get_result(conn)
            .unwrap()
    };
    assert_eq!(kind_count("logged"), 880);
    // One in fifty of the worked ones was cancelled before dispatch; the rest were worked.
    let cancelled = kind_count("cancelled");
    assert!(
        (10..=20).contains(&cancelled),
        "{cancelled} of 800 cancelled"
    );
    let worked = 800 - cancelled;
    assert_eq!(
        kind_count("claimed"),
        worked,
        "every worked ticket was claimed"
    );
    assert_eq!(
        kind_count("closed"),
        worked,
        "and closed after its return visit"
    );
    assert_eq!(kind_count("reopened"), 80, "one in ten reopened");
    assert_eq!(
        kind_count("resolved"),
        worked + 80,
        "resolved once, the reopened twice"
    );
    // One in twenty-five was given back once and sent again; as many waited on the
    // resident, and resumed.
    for kind in ["returned", "paused", "resumed"] {
        let n = kind_count(kind);
        assert!((24..=40).contains(&n), "{n} of 800 {kind}");
    }
    assert_eq!(
        kind_count("dispatched"),
        worked + kind_count("returned"),
        "dispatched once, a returned ticket twice"
    );
    // One in each run of twenty ids rose a level, one in three of those two, and its row
    // says so.
    let escalated = kind_count("escalated");
    let levels: Vec<i32> = tickets::table
        .filter(tickets::number.like("GEN%"))
        .filter(tickets::level.gt(0))
        .select(tickets::level)
        .load(conn)
        .unwrap();
    assert!(
        (36..=44).contains(&(levels.len() as i64)),
        "{} of 800 escalated",
        levels.len()
    );
    assert!(levels.contains(&2), "some rose twice");
    assert_eq!(
        levels.iter().map(|&l| i64::from(l)).sum::<i64>(),
        escalated,
        "each escalated ticket's row is a level up for each rise"
    );
    // Spread over the city: no community holds more than its share.
    let most: i64 = tickets::table
        .filter(tickets::number.like("GEN%"))
        .group_by(tickets::community_id)
        .select(diesel::dsl::count_star())
        .order(diesel::dsl::count_star().desc())
        .first(conn)
        .unwrap();
    assert!(most <= 2, "{most} tickets in one community");
    // What residents call about varies, as a search at a city's size needs.
    let titles: i64 = tickets::table
        .filter(tickets::number.like("GEN%"))
        .select(diesel::dsl::count(tickets::title).aggregate_distinct())
        .first(conn)
        .unwrap();
    assert_eq!(titles, 12, "each of the generator's titles");
    // The grown city's units: one per street and category, each ticket in a grown
    // community held by the unit serving it in the ticket's category.
    let units = count(
        conn,
        "SELECT COUNT(*) AS n FROM partners WHERE contact_email LIKE '%@gen.example.cn'",
    );
    let active = count(conn, "SELECT COUNT(*) AS n FROM categories WHERE active");
    assert_eq!(
        units,
        d * s * active,
        "a unit per street and category, once"
    );
    let held = |conn: &mut jiesu_core::db::DbConnection, served: &str| {
        count(
            conn,
            &format!(
                "SELECT COUNT(*) AS n FROM tickets t JOIN org_units cm ON cm.id = t.community_id \
                 WHERE t.number LIKE 'GEN%' AND t.status = 'closed' AND cm.code LIKE 'GEN-C%' \
                 AND {served} EXISTS (SELECT 1 FROM partner_communities pc \
                   JOIN partner_categories pk ON pk.partner_id = pc.partner_id \
                   WHERE pc.partner_id = t.partner_id AND pc.org_unit_id = t.community_id \
                   AND pk.category_id = t.category_id)"
            ),
        )
    };
    assert!(
        held(conn, "") > 700,
        "most tickets are in grown communities"
    );
    assert_eq!(held(conn, "NOT"), 0, "held by a unit serving them");
    // Its grids and its people: a supervisor of every grown node with its address where
    // escalations are mailed, a grid member per grid, a member of staff per unit.
    let grids = count(
        conn,
        "SELECT COUNT(*) AS n FROM org_units g JOIN org_units cm ON cm.id = g.parent_id \
         WHERE g.kind = 'grid' AND cm.code LIKE 'GEN-C%'",
    );
    assert_eq!(grids, d * s * c * jiesu_core::loadgen::GRIDS);
    let people = |conn: &mut jiesu_core::db::DbConnection, role: &str| {
        count(
            conn,
            &format!(
                "SELECT COUNT(DISTINCT email) AS n FROM users \
                 WHERE role = '{role}' AND email LIKE '%@gen.example.cn'"
            ),
        )
    };
    assert_eq!(people(conn, "supervisor"), d + d * s + d * s * c);
    assert_eq!(people(conn, "grid_member"), grids);
    assert_eq!(people(conn, "unit_staff"), units);
    let mailed = count(
        conn,
        "SELECT COUNT(*) AS n FROM org_unit_emails m JOIN org_units o ON o.id = m.org_unit_id \
         WHERE o.code LIKE 'GEN-S%' AND m.email LIKE 'sup-%@gen.example.cn'",
    );
    assert_eq!(
        mailed,
        d * s,
        "each street's supervisor is mailed its escalations"
    );
    let on_grids = count(
        conn,
        "SELECT COUNT(*) AS n FROM tickets t JOIN org_units g ON g.id = t.grid_id \
         WHERE t.number LIKE 'GEN%' AND g.parent_id = t.community_id",
    );
    assert!(
        on_grids > 700,
        "tickets in grown communities are on one of their grids"
    );
    let categories = count(
        conn,
        "SELECT COUNT(DISTINCT category_id) AS n FROM tickets WHERE number LIKE 'GEN%'",
    );
    assert!(categories >= 8, "tickets in {categories} categories");
    // Each generated trail is one the lifecycle could have written, and leaves the row as
    // the lifecycle would have: each step starts where the one before ended, in time
    // order, and the row's status, unit, level and reopens are those its trail comes to.
    trails_replay_to_their_rows(conn);
    // The rates over the generated trails are those of the replay, for the city and a
    // grown street.
    use jiesu_core::stats::{reference, setwise, Cohort, Period};
    let at = |text: &str| {
        chrono::DateTime::parse_from_rfc3339(text)
            .unwrap()
            .naive_utc()
    };
    // Before any day the test runs on, so the demo's own tickets (logged today) stay out.
    let period = Period::new(at("2026-11-10T00:00:00Z"), at("2026-11-25T00:00:00Z")).unwrap();
    let street: String = org_units::table
        .filter(org_units::code.like("GEN-S%"))
        .select(org_units::path)
        .first(conn)
        .unwrap();
    // Every generated ticket says how it came in, most of them by hotline transfer with a
    // number of their own; the hotline's rates are the replay's too.
    let channels: Vec<(String, i64)> = jiesu_core::schema::ticket_intake::table
        .group_by(jiesu_core::schema::ticket_intake::channel)
        .select((
            jiesu_core::schema::ticket_intake::channel,
            diesel::dsl::count_star(),
        ))
        .load(conn)
        .unwrap();
    let of = |c: &str| channels.iter().find(|(k, _)| k == c).map_or(0, |(_, n)| *n);
    let generated: i64 = tickets::table
        .filter(tickets::number.like("GEN%"))
        .count()
        .get_result(conn)
        .unwrap();
    assert!(of("hotline") * 2 > generated, "{channels:?} of {generated}");
    assert!(
        of("patrol") > 0 && of("app") > 0 && of("walk_in") > 0,
        "{channels:?}"
    );
    let numbered: i64 = jiesu_core::schema::ticket_intake::table
        .filter(jiesu_core::schema::ticket_intake::hotline_ref.is_not_null())
        .count()
        .get_result(conn)
        .unwrap();
    assert_eq!(numbered, of("hotline"));
    let hotline =
        Cohort::subtree("/1/").by_channel(Some(jiesu_core::types::IntakeChannel::Hotline));
    let expected = reference::groups(conn, &hotline, period).unwrap();
    assert_eq!(setwise::groups(conn, &hotline, period).unwrap(), expected);
    assert!(expected.all.received > 0, "{:?}", expected.all);
    for cohort in [Cohort::subtree("/1/"), Cohort::subtree(street)] {
        let expected = reference::groups(conn, &cohort, period).unwrap();
        assert_eq!(setwise::groups(conn, &cohort, period).unwrap(), expected);
        if cohort == Cohort::subtree("/1/") {
            assert_eq!(expected.all.received, 880 - cancelled);
            assert_eq!(expected.all.cancelled, cancelled);
            assert_eq!(expected.all.resolved, worked);
            assert_eq!(expected.all.visited, worked);
            assert_eq!(
                expected.all.satisfied, worked,
                "the reopened were closed satisfied"
            );
            assert_eq!(expected.all.reopened, 80);
            let districts: Vec<&String> = expected.children.keys().collect();
            assert!(districts.len() > 2, "a grown district among {districts:?}");
            assert!(districts
                .iter()
                .all(|p| p.starts_with("/1/") && p.matches('/').count() == 3));
        }
    }
    let mut explain = jiesu(db.dir.path());
    explain
        .args(["admin", "explain-rates", "--org-unit-id", "1"])
        .args([
            "--from",
            "2026-11-10T00:00:00Z",
            "--to",
            "2026-11-25T00:00:00Z",
        ])
        .env("JIESU_DATABASE__URL", db.url_string());
    let (out, stdout, stderr) = run(&mut explain);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stdout.contains("ticket_events"),
        "a plan that reads the events: {stdout}"
    );
}

/// Replays every generated ticket's trail (see `generated_city_with_trails`).
fn trails_replay_to_their_rows(conn: &mut jiesu_core::db::DbConnection) {
    use jiesu_core::schema::{ticket_events as e, tickets as t};
    type Row = (i64, String, Option<i64>, i32, i32);
    let rows: Vec<(
        jiesu_core::ids::TicketId,
        String,
        Option<jiesu_core::ids::PartnerId>,
        i32,
        i32,
    )> = t::table
        .filter(t::number.like("GEN%"))
        .order(t::id)
        .select((t::id, t::status, t::partner_id, t::level, t::reopen_count))
        .load(conn)
        .unwrap();
    let rows: Vec<Row> = rows
        .into_iter()
        .map(|(id, status, partner, level, reopens)| {
            (id.0, status, partner.map(|p| p.0), level, reopens)
        })
        .collect();
    type Step = (
        jiesu_core::ids::TicketId,
        String,
        Option<String>,
        Option<String>,
        Option<jiesu_core::ids::PartnerId>,
        chrono::NaiveDateTime,
    );
    let events: Vec<Step> = e::table
        .inner_join(t::table)
        .filter(t::number.like("GEN%"))
        .order((e::ticket_id, e::id))
        .select((
            e::ticket_id,
            e::kind,
            e::from_status,
            e::to_status,
            e::partner_id,
            e::created_at,
        ))
        .load(conn)
        .unwrap();
    let mut trails: std::collections::BTreeMap<i64, Vec<&Step>> = Default::default();
    for step in &events {
        trails.entry(step.0 .0).or_default().push(step);
    }
    assert_eq!(
        trails.len(),
        rows.len(),
        "every generated ticket has a trail"
    );
    for (id, status, partner, level, reopens) in &rows {
        let trail = &trails[id];
        assert_eq!(trail[0].1, "logged", "ticket {id} starts logged");
        let mut at = trail[0].5;
        let mut state = trail[0].3.clone().unwrap();
        let mut holder = None;
        let (mut rose, mut reopened) = (0, 0);
        for (_, kind, from, to, unit, when) in trail.iter().skip(1).copied() {
            assert_eq!(
                from.as_deref(),
                Some(state.as_str()),
                "ticket {id}: {kind} from {from:?} after the trail came to {state}"
            );
            assert!(
                *when >= at,
                "ticket {id}: {kind} at {when} before the step before ({at})"
            );
            at = *when;
            state = to.clone().unwrap_or(state);
            match kind.as_str() {
                "dispatched" | "claimed" | "reassigned" => holder = unit.map(|p| p.0),
                "returned" => holder = None,
                "escalated" => rose += 1,
                "reopened" => reopened += 1,
                _ => {}
            }
        }
        assert_eq!(&state, status, "ticket {id}'s status");
        assert_eq!(&holder, partner, "ticket {id}'s unit");
        assert_eq!(
            (rose, reopened),
            (*level, *reopens),
            "ticket {id}'s level and reopens"
        );
    }
}

#[test]
fn generated_city_with_trails_on_sqlite() {
    generated_city_with_trails(Store::Sqlite);
}

#[test]
fn generated_city_with_trails_on_postgres() {
    generated_city_with_trails(Store::Postgres);
}

/// `generate --days` logs a city's days as they come: every day of the span, busier on
/// weekdays and in office hours, the open tickets the newest, each closed ticket's trail
/// from its own logging and no event after `--as-of`; the rates read them as the replay does.
fn generated_days_follow_a_citys_rhythm(store: Store) {
    let db = TestDb::new(store);
    load_demo(&db);
    let mut cmd = jiesu(db.dir.path());
    cmd.args(["admin", "generate", "--days", "7", "--per-day", "1000"])
        .args(["--open", "400", "--due", "40", "--trails"])
        .args(["--as-of", "2026-11-20T10:00:00+08:00"])
        .env("JIESU_DATABASE__URL", db.url_string());
    let (out, stdout, stderr) = run(&mut cmd);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stdout.contains("generated 6600 closed and 400 open"),
        "a week's tickets less the open ones are closed: {stdout}"
    );
    let at = |text: &str| {
        chrono::DateTime::parse_from_rfc3339(text)
            .unwrap()
            .naive_utc()
    };
    let as_of = at("2026-11-20T10:00:00+08:00");
    let pool = jiesu_core::db::connect(&db.url, 1).unwrap();
    let conn = &mut *pool.get().unwrap();
    use jiesu_core::schema::{escalation_due, ticket_events, tickets};
    let rows: Vec<(String, chrono::NaiveDateTime, Option<chrono::NaiveDateTime>)> = tickets::table
        .filter(tickets::number.like("GEN%"))
        .select((tickets::status, tickets::created_at, tickets::respond_by))
        .load(conn)
        .unwrap();
    assert_eq!(rows.len(), 7_000);
    assert!(rows
        .iter()
        .all(|r| r.1 <= as_of && r.1 >= as_of - chrono::Duration::days(7)));
    // The rhythm, in Beijing time (UTC+8 all year).
    use chrono::{Datelike, Timelike};
    let local = |t: &chrono::NaiveDateTime| *t + chrono::Duration::hours(8);
    let at_hour = |h: u32| rows.iter().filter(|r| local(&r.1).hour() == h).count();
    let on_day = |d: chrono::Weekday| rows.iter().filter(|r| local(&r.1).weekday() == d).count();
    assert!(
        at_hour(10) > 3 * at_hour(3),
        "{} at ten, {} at three in the night",
        at_hour(10),
        at_hour(3)
    );
    assert!(
        on_day(chrono::Weekday::Mon) > on_day(chrono::Weekday::Sun),
        "{} on the Monday, {} on the Sunday",
        on_day(chrono::Weekday::Mon),
        on_day(chrono::Weekday::Sun)
    );
    let newest_closed = rows.iter().filter(|r| r.0 == "closed").map(|r| r.1).max();
    let oldest_open = rows.iter().filter(|r| r.0 == "reported").map(|r| r.1).min();
    assert!(newest_closed <= oldest_open, "the open ones are the newest");
    let by_id: Vec<chrono::NaiveDateTime> = tickets::table
        .filter(tickets::number.like("GEN%"))
        .order(tickets::id)
        .select(tickets::created_at)
        .load(conn)
        .unwrap();
    assert!(
        by_id.windows(2).all(|w| w[0] <= w[1]),
        "ids rise with the time of logging, as a live city's do"
    );
    let late = rows
        .iter()
        .filter(|r| r.0 == "reported" && r.2.is_some_and(|by| by < as_of && by >= r.1))
        .count();
    assert_eq!(
        late, 40,
        "--due open tickets are past their response deadline"
    );
    let queued: i64 = escalation_due::table
        .inner_join(tickets::table)
        .filter(tickets::number.like("GEN%"))
        .count()
        .get_result(conn)
        .unwrap();
    assert_eq!(queued, 400, "every open ticket is in the escalation queue");
    // Each trail starts at its ticket's logging and stops by `--as-of`, and the row is
    // closed when its last visit closed it.
    assert_eq!(
        count(
            conn,
            "SELECT COUNT(*) AS n FROM ticket_events e JOIN tickets t ON t.id = e.ticket_id \
             WHERE t.number LIKE 'GEN%' AND e.created_at < t.created_at"
        ),
        0
    );
    let after: i64 = ticket_events::table
        .inner_join(tickets::table)
        .filter(tickets::number.like("GEN%"))
        .filter(ticket_events::created_at.gt(as_of))
        .count()
        .get_result(conn)
        .unwrap();
    assert_eq!(after, 0, "nothing happened after --as-of");
    assert_eq!(
        count(
            conn,
            "SELECT COUNT(*) AS n FROM tickets t WHERE t.number LIKE 'GEN%' AND t.status = 'closed' \
             AND t.closed_at <> (SELECT MAX(e.created_at) FROM ticket_events e \
               WHERE e.ticket_id = t.id AND e.kind = 'closed')"
        ),
        0,
        "closed_at is the closing visit's"
    );
    trails_replay_to_their_rows(conn);
    // The rates of the week, and of one day in it, as the replay counts them.
    use jiesu_core::stats::{reference, setwise, Cohort, Period};
    let week = Period::new(
        as_of - chrono::Duration::days(7),
        as_of + chrono::Duration::days(1),
    )
    .unwrap();
    let day = Period::new(
        at("2026-11-16T00:00:00+08:00"),
        at("2026-11-17T00:00:00+08:00"),
    )
    .unwrap();
    for period in [week, day] {
        let cohort = Cohort::subtree("/1/");
        let expected = reference::groups(conn, &cohort, period).unwrap();
        assert_eq!(setwise::groups(conn, &cohort, period).unwrap(), expected);
        if period == week {
            let cancelled = expected.all.cancelled;
            assert!(
                (120..=145).contains(&cancelled),
                "{cancelled} of 6,600 cancelled"
            );
            assert_eq!(expected.all.received, 7_000 - cancelled);
            assert_eq!(expected.all.resolved, 6_600 - cancelled);
            assert!(
                expected.all.responded_in_time < expected.all.responded,
                "some claims come after the two hours to respond"
            );
        } else {
            let monday = on_day(chrono::Weekday::Mon) as i64;
            assert_eq!(
                expected.all.received + expected.all.cancelled,
                monday,
                "the Monday's tickets"
            );
        }
    }
}

#[test]
fn generated_days_follow_a_citys_rhythm_on_sqlite() {
    generated_days_follow_a_citys_rhythm(Store::Sqlite);
}

#[test]
fn generated_days_follow_a_citys_rhythm_on_postgres() {
    generated_days_follow_a_citys_rhythm(Store::Postgres);
}
