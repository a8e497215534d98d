//! The product as it is deployed: the binary (scripts/test runs the release build) with
//! production settings — `JIESU_ENVIRONMENT=production`, a real JWT secret, PostgreSQL,
//! mail through SMTP to a real server on loopback, the scheduler running inside `serve` —
//! and the operator's scheduler commands beside it. A component that passes inside a
//! test harness can still fail in `main`; these tests go through `main`.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::path::Path;
use std::process::{Child, Command};

use std::time::{Duration, Instant};

use jiesu_core::testing::{Store, TestDb};
use serde_json::{json, Value};

mod common;
use common::{get_json, jiesu, load_demo, login, post_json, run, serve, subject_and_body};
use jiesu_core::testing::{free_port, smtp_server, Inbox};

const PUBLIC_URL: &str = "https://jiesu.example.test";

/// The environment of a production process mailing through the SMTP server on `port`.
fn production(url: &str, smtp_port: u16) -> Vec<(&'static str, String)> {
    vec![
        ("JIESU_ENVIRONMENT", "production".to_owned()),
        ("JIESU_DATABASE__URL", url.to_owned()),
        (
            "JIESU_AUTH__JWT_SECRET",
            "k3Jq9-production-secret-of-forty-bytes-x".to_owned(),
        ),
        ("JIESU_SERVER__PUBLIC_URL", PUBLIC_URL.to_owned()),
        ("JIESU_MAIL__SMTP__HOST", "127.0.0.1".to_owned()),
        ("JIESU_MAIL__SMTP__PORT", smtp_port.to_string()),
        // A loopback test server speaks plain SMTP; production must say so explicitly.
        ("JIESU_MAIL__SMTP__TLS", "none".to_owned()),
        ("JIESU_MAIL__SMTP__ALLOW_PLAINTEXT", "true".to_owned()),
        ("JIESU_MAIL__SMTP__TIMEOUT_SECS", "5".to_owned()),
        ("JIESU_SCHEDULER__DELIVER_EVERY_SECS", "1".to_owned()),
    ]
}

fn with_env<'a>(cmd: &'a mut Command, env: &[(&str, String)]) -> &'a mut Command {
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

/// `jiesu scheduler …` with these settings: exit 0 required; returns stdout.
fn scheduler(dir: &Path, env: &[(&str, String)], args: &[&str]) -> String {
    let (out, stdout, stderr) = run(with_env(jiesu(dir).arg("scheduler").args(args), env));
    assert!(
        out.status.success(),
        "jiesu scheduler {}: {}\n{stdout}\n{stderr}",
        args.join(" "),
        out.status
    );
    stdout
}

/// "mail: N sent, M failed" from a scheduler command's output.
fn mail_counts(stdout: &str) -> (usize, usize) {
    let line = stdout
        .lines()
        .find(|l| l.starts_with("mail: "))
        .unwrap_or_else(|| panic!("no mail line in {stdout}"));
    let numbers: Vec<usize> = line
        .split(|c: char| !c.is_ascii_digit())
        .filter(|w| !w.is_empty())
        .map(|w| w.parse().unwrap())
        .collect();
    (numbers[0], numbers[1])
}

fn days_ahead(days: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::days(days)).to_rfc3339()
}

async fn until_mail(inbox: &Inbox, what: &str, count: usize) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let found: Vec<String> = inbox
            .lock()
            .unwrap()
            .iter()
            .map(|(_, raw)| subject_and_body(raw))
            .filter(|m| m.contains(what))
            .collect();
        if found.len() >= count {
            return found;
        }
        assert!(
            Instant::now() < deadline,
            "waited a minute for {count} mail(s) with {what:?}, got {}",
            found.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn sigterm(mut server: Child) {
    let killed = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = server.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "serve did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "serve ended with {status} after SIGTERM");
}

/// The scheduler inside serve computes and stores, without anyone asking, the rates of the
/// city and each district that supervisors open most: the console's (7, 30, 90 and 365
/// days up to today's midnight) and the API's default (30 days to the last settled hour);
/// the API then answers them from storage.
async fn rates_are_stored_by_the_scheduler(
    client: &reqwest::Client,
    base: &str,
    dir: &Path,
    url: &str,
) {
    use chrono::{FixedOffset, NaiveDateTime, Utc};
    use diesel::prelude::*;
    use diesel::sql_types::Timestamp;
    use jiesu_core::stats;
    // The demo calendar's time zone (Asia/Shanghai, no summer time).
    let beijing = FixedOffset::east_opt(8 * 3600).unwrap();
    let midnight = Utc::now()
        .with_timezone(&beijing)
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .unwrap()
        .and_local_timezone(beijing)
        .unwrap();
    // A period is stored ten minutes after it ends; a run just after midnight waits.
    let settled = midnight.with_timezone(&Utc) + chrono::Duration::minutes(11);
    let wait = (settled - Utc::now()).to_std().unwrap_or_default();
    let deadline = Instant::now() + wait + Duration::from_secs(120);
    let pool =
        jiesu_core::db::connect(&jiesu_core::db::DatabaseUrl::parse(url).unwrap(), 1).unwrap();
    let mut conn = pool.get().unwrap();
    let nodes: i64 =
        diesel::sql_query("SELECT count(*) AS n FROM org_units WHERE kind IN ('city', 'district')")
            .get_result::<Count>(&mut conn)
            .unwrap()
            .n;
    assert!(nodes >= 2, "{nodes} city and district nodes");
    // Statements of the city and districts ending at `to` and starting at `from` or after
    // (`exactly`: at `from`). Just after midnight in Beijing the hour's period ends at
    // midnight too, and is then the console's 30 days: counted by its own start only.
    let stored_to = |conn: &mut jiesu_core::db::DbConnection,
                     from: NaiveDateTime,
                     to: NaiveDateTime,
                     exactly: bool| {
        let start = if exactly { "=" } else { ">=" };
        diesel::sql_query(format!(
            "SELECT count(*) AS n FROM rates_statements \
             WHERE cohort LIKE 's%' AND period_from {start} $1 AND period_to = $2"
        ))
        .bind::<Timestamp, _>(from)
        .bind::<Timestamp, _>(to)
        .get_result::<Count>(conn)
        .unwrap()
        .n
    };
    let midnight_utc = midnight.with_timezone(&Utc).naive_utc();
    loop {
        let daily = stored_to(
            &mut conn,
            midnight_utc - chrono::Duration::days(365),
            midnight_utc,
            false,
        );
        let hour = stats::days_to_the_hour(
            Utc::now().naive_utc(),
            stats::RECENT_DAYS,
            chrono_tz::Asia::Shanghai,
        )
        .unwrap();
        let hourly = stored_to(&mut conn, hour.from, hour.to, true);
        if daily == 4 * nodes && hourly == nodes {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{daily} statements to midnight stored of the {} expected, {hourly} to the hour of {nodes}",
            4 * nodes
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let admin = login(client, base, dir, "demo-admin").await;
    let from = (midnight - chrono::Duration::days(30)).to_rfc3339();
    let query = format!(
        "/api/v1/stats?from={}&to={}",
        from.replace('+', "%2B"),
        midnight.to_rfc3339().replace('+', "%2B")
    );
    let rates = get_json(client, base, &query, &admin).await;
    assert!(rates["stored_at"].is_string(), "{rates}");
    // The default period, as the scheduler stored it (unless the hour turned meanwhile).
    let hour = stats::days_to_the_hour(
        Utc::now().naive_utc(),
        stats::RECENT_DAYS,
        chrono_tz::Asia::Shanghai,
    )
    .unwrap();
    let rates = get_json(client, base, "/api/v1/stats", &admin).await;
    let to: chrono::DateTime<Utc> = rates["period"]["to"].as_str().unwrap().parse().unwrap();
    if to.naive_utc() == hour.to {
        assert!(rates["stored_at"].is_string(), "{rates}");
    }
}

#[derive(diesel::QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

/// Production serve with its scheduler mails a dispatch through SMTP; a replayed sweep
/// mails the escalation digests; with the mail server down a sweep's mail waits, and
/// `scheduler deliver` sends each exactly once when it is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn production_on_postgres_mails_supervisors_through_smtp_and_loses_none_while_it_is_down() {
    let db = TestDb::new(Store::Postgres);
    let dir = db.dir.path();
    let url = db.url_string();
    // The city's data comes in before production starts (production refuses demo data).
    load_demo(dir, &url);

    let port = free_port();
    let inbox = smtp_server(port);
    let env = production(&url, port);
    let (server, base) = serve(dir, &env);

    // A supervisor dispatches a ticket to the property company: the scheduler inside
    // serve delivers the unit's mail through SMTP.
    let client = reqwest::Client::new();
    let (grid, supervisor, unit) = (
        login(&client, &base, dir, "demo-grid").await,
        login(&client, &base, dir, "demo-supervisor").await,
        login(&client, &base, dir, "demo-unit").await,
    );
    let me = get_json(&client, &base, "/api/v1/me", &unit).await;
    let partner = me["user"]["partner_id"].as_i64().unwrap();
    let (status, created) = post_json(
        &client,
        &base,
        "/api/v1/tickets",
        &grid,
        json!({"category": "property_management", "title": "生产环境派单",
               "description": "楼道灯不亮", "address": "5号楼"}),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_i64().unwrap();
    // A ticket with a resident's contact, cancelled today: its contact is kept a year.
    let (status, cancelled) = post_json(
        &client,
        &base,
        "/api/v1/tickets",
        &grid,
        json!({"category": "property_management", "title": "重复登记",
               "description": "请联系13900001111", "address": "望京西园一区5号楼2单元501",
               "resident_name": "陈阿姨", "resident_phone": "13900001111"}),
    )
    .await;
    assert_eq!(status, 201, "{cancelled}");
    let cancelled = cancelled["id"].as_i64().unwrap();
    let (status, body) = post_json(
        &client,
        &base,
        &format!("/api/v1/tickets/{cancelled}/cancel"),
        &supervisor,
        json!({"reason": "重复登记"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let dispatched = client
        .post(format!("{base}/api/v1/tickets/{id}/dispatch"))
        .bearer_auth(&supervisor)
        .json(&json!({"partner_id": partner}))
        .send()
        .await
        .unwrap();
    assert_eq!(dispatched.status(), 200);
    // The street's rates up to now, computed by the database, count the ticket just
    // logged (the default period ends at the last whole hour).
    let to = (chrono::Utc::now() + chrono::Duration::minutes(1))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let rates = get_json(
        &client,
        &base,
        &format!("/api/v1/stats?to={to}"),
        &supervisor,
    )
    .await;
    assert!(
        rates["figures"]["received"].as_i64().unwrap() >= 1,
        "{rates}"
    );
    // A 12345 transfer through the production store's one-statement create: its number is
    // logged once, and the rates of the hotline's tickets count it apart.
    let transfer = json!({"category": "property_management", "title": "热线转办",
        "description": "楼道灯不亮", "address": "5号楼", "channel": "hotline",
        "hotline_ref": "BJ-DEPLOYED-1", "community_id": created["community_id"]});
    let (status, logged) = post_json(
        &client,
        &base,
        "/api/v1/tickets",
        &supervisor,
        transfer.clone(),
    )
    .await;
    assert_eq!(status, 201, "{logged}");
    let (status, again) = post_json(&client, &base, "/api/v1/tickets", &supervisor, transfer).await;
    assert_eq!(status, 422, "{again}");
    assert_eq!(again["errors"][0]["field"], "hotline_ref", "{again}");
    let detail = get_json(
        &client,
        &base,
        &format!("/api/v1/tickets/{}", logged["id"]),
        &supervisor,
    )
    .await;
    assert_eq!(detail["intake"]["hotline_ref"], "BJ-DEPLOYED-1", "{detail}");
    let total = rates["figures"]["received"].as_i64().unwrap();
    let mut by_channel = 0;
    for channel in ["hotline", "patrol"] {
        let rates = get_json(
            &client,
            &base,
            &format!("/api/v1/stats?to={to}&channel={channel}"),
            &supervisor,
        )
        .await;
        assert_eq!(rates["channel"], channel, "{rates}");
        let received = rates["figures"]["received"].as_i64().unwrap();
        assert!(received >= 1, "{channel}: {rates}");
        by_channel += received;
    }
    // The transfer was logged after the street's figures above.
    assert!(by_channel <= total + 1, "{by_channel} of {total}");
    // The street's lists on the production store, through the indexes and the settings
    // each connection makes: the new ticket is not late, the late list comes most late
    // first, and the hotspots are cut to the cells asked for.
    let on_time = get_json(&client, &base, "/api/v1/tickets?overdue=false", &supervisor).await;
    assert!(
        on_time["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["id"] == id),
        "{on_time}"
    );
    // A title search through the index of the titles' pieces (migration 16): two
    // characters find the ticket, a word in no title finds nothing.
    let found = get_json(
        &client,
        &base,
        "/api/v1/tickets?q=%E6%B4%BE%E5%8D%95",
        &supervisor,
    )
    .await; // 派单
    let found: Vec<i64> = found["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_i64().unwrap())
        .collect();
    assert!(found.contains(&id), "{found:?}");
    let none = get_json(
        &client,
        &base,
        "/api/v1/tickets?q=%E7%87%83%E6%B0%94",
        &supervisor,
    )
    .await; // 燃气
    assert!(none["items"].as_array().unwrap().is_empty(), "{none}");
    let late = get_json(&client, &base, "/api/v1/overdue", &supervisor).await;
    let minutes: Vec<i64> = late
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["late_minutes"].as_i64().unwrap())
        .collect();
    assert!(minutes.windows(2).all(|w| w[0] >= w[1]), "{late}");
    let hotspots = get_json(&client, &base, "/api/v1/hotspots?limit=1", &supervisor).await;
    assert_eq!(hotspots["cells"].as_array().unwrap().len(), 1, "{hotspots}");
    // The day at a glance: today's intake is what the list from today's midnight holds
    // (the two tickets logged here among them), and the open ones by status add up to the
    // open list.
    let day = get_json(&client, &base, "/api/v1/today", &supervisor).await;
    let from = day["day_from"].as_str().unwrap();
    let logged = get_json(
        &client,
        &base,
        &format!("/api/v1/tickets?created_from={from}&limit=200"),
        &supervisor,
    )
    .await;
    let logged = logged["items"].as_array().unwrap();
    assert!(logged.iter().any(|t| t["id"].as_i64() == Some(id)), "{day}");
    assert_eq!(
        day["intake"]["today"].as_u64(),
        Some(logged.len() as u64),
        "{day}"
    );
    let open = get_json(
        &client,
        &base,
        "/api/v1/tickets?status=reported,dispatched,claimed,in_progress,returned,reopened,resolved&limit=200",
        &supervisor,
    )
    .await;
    let by_status: u64 = day["open"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["count"].as_u64().unwrap())
        .sum();
    assert_eq!(
        by_status,
        open["items"].as_array().unwrap().len() as u64,
        "{day}"
    );
    rates_are_stored_by_the_scheduler(&client, &base, dir, &url).await;
    let ours = until_mail(&inbox, "生产环境派单", 1).await;
    assert!(
        ours[0].contains(&format!("{PUBLIC_URL}/console/tickets/{id}")),
        "{}",
        ours[0]
    );

    // A minute before its response deadline the unit holding it has been warned (临期预警)
    // over SMTP, by a sweep the operator replays at that instant.
    let respond_by = chrono::DateTime::parse_from_rfc3339(created["respond_by"].as_str().unwrap())
        .unwrap()
        - chrono::Duration::minutes(1);
    let out = scheduler(dir, &env, &["sweep", "--as-of", &respond_by.to_rfc3339()]);
    let number = created["number"].as_str().unwrap();
    assert!(
        out.lines()
            .any(|l| l.contains(number) && l.contains("response deadline")),
        "{out}"
    );
    let warnings = until_mail(&inbox, "【预警】", 1).await;
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("生产环境派单") && w.contains("响应时限")),
        "{warnings:?}"
    );

    // The operator replays a sweep a quarter of a year on: every open ticket rises and
    // the street's supervisors get their digest over SMTP.
    let out = scheduler(dir, &env, &["sweep", "--as-of", &days_ahead(90)]);
    let (sent, failed) = mail_counts(&out);
    assert!(sent >= 1 && failed == 0, "{out}");
    let digests = until_mail(&inbox, "【督办】", 1).await;
    assert!(
        digests.iter().any(|d| d.contains("生产环境派单")),
        "{digests:?}"
    );
    sigterm(server);

    // The mail server is down for the next sweep: its mail waits in the outbox …
    let down = free_port();
    let env = production(&url, down);
    let out = scheduler(dir, &env, &["sweep", "--as-of", &days_ahead(180)]);
    let (sent, failed) = mail_counts(&out);
    assert!(sent == 0 && failed >= 1, "{out}");
    let held = mail_counts(&scheduler(dir, &env, &["deliver"]));
    assert_eq!(held.0, 0, "still down");
    // … and once it is back, `deliver` sends every held mail at once, each exactly once.
    let back = smtp_server(down);
    let (sent, failed) = mail_counts(&scheduler(dir, &env, &["deliver"]));
    assert!(sent >= 1 && failed == 0);
    let received: Vec<String> = back
        .lock()
        .unwrap()
        .iter()
        .map(|(_, raw)| subject_and_body(raw))
        .collect();
    assert_eq!(received.len(), sent, "each held mail arrived");
    assert_eq!(
        mail_counts(&scheduler(dir, &env, &["deliver"])).0,
        0,
        "nothing is sent twice"
    );
    let mut distinct = received.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), received.len(), "no mail twice");

    // Residents' data (PIPL retention): half a year on, the cancelled ticket's resident is
    // whole; a year and more on, the operator's sweep has reduced it.
    let contact = |id: i64| -> (Option<String>, Option<String>, String) {
        use diesel::prelude::*;
        use jiesu_core::schema::tickets;
        let pool = jiesu_core::db::connect(&db.url, 1).unwrap();
        tickets::table
            .find(jiesu_core::ids::TicketId(id))
            .select((
                tickets::resident_name,
                tickets::resident_phone,
                tickets::address,
            ))
            .first(&mut *pool.get().unwrap())
            .unwrap()
    };
    assert_eq!(contact(cancelled).1.as_deref(), Some("13900001111"));
    let out = scheduler(dir, &env, &["sweep", "--as-of", &days_ahead(400)]);
    let reduced: usize = out
        .lines()
        .find_map(|l| l.strip_prefix("privacy: "))
        .and_then(|l| l.split(' ').next())
        .unwrap_or_else(|| panic!("no privacy line in {out}"))
        .parse()
        .unwrap();
    assert!(reduced >= 1, "{out}");
    assert_eq!(
        contact(cancelled),
        (
            Some("陈**".to_owned()),
            Some("139****1111".to_owned()),
            "望京西园一区5号楼".to_owned()
        )
    );
}

/// Production refuses to start with settings that would expose residents' data.
/// Scheduled backups inside `serve` with production settings on PostgreSQL: `pg_dump` of
/// one snapshot, on the schedule, each checking out against its manifest, only the newest
/// kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_takes_scheduled_backups_in_production() {
    let db = TestDb::new(Store::Postgres);
    let dir = db.dir.path();
    let url = db.url_string();
    load_demo(dir, &url);
    let backups = dir.join("backups");
    let mut env = production(&url, free_port());
    env.push(("JIESU_SCHEDULER__BACKUP_CRON", "*/2 * * * * *".to_owned()));
    env.push(("JIESU_SCHEDULER__BACKUP_DIR", backups.display().to_string()));
    env.push(("JIESU_SCHEDULER__BACKUP_KEEP", "2".to_owned()));
    let (server, _) = serve(dir, &env);
    let taken = || -> Vec<std::path::PathBuf> {
        let mut found: Vec<_> = std::fs::read_dir(&backups)
            .map(|d| d.map(|e| e.unwrap().path()).collect())
            .unwrap_or_default();
        found.retain(|p| p.join("manifest.json").exists());
        found.sort();
        found
    };
    // Three ticks at least: two kept, the first deleted.
    let deadline = Instant::now() + Duration::from_secs(60);
    let first = loop {
        if let Some(first) = taken().first().cloned() {
            break first;
        }
        assert!(Instant::now() < deadline, "no backup was taken");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    while first.exists() {
        assert!(
            Instant::now() < deadline,
            "the oldest backup was not deleted"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    sigterm(server);
    let kept = taken();
    assert!(!kept.is_empty() && kept.len() <= 2, "{kept:?}");
    for backup in kept {
        let manifest = jiesu_core::backup::verify(&backup).unwrap();
        assert_eq!(manifest.backend, "postgres");
        assert!(manifest.tables["users"] >= 5);
    }
}

#[test]
fn production_refuses_plain_http_and_plaintext_smtp_unless_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let (out, _, stderr) = run(jiesu(dir.path())
        .arg("migrate")
        .env("JIESU_ENVIRONMENT", "production")
        .env("JIESU_DATABASE__URL", "postgres://nobody@127.0.0.1:1/none")
        .env(
            "JIESU_AUTH__JWT_SECRET",
            "k3Jq9-production-secret-of-forty-bytes-x",
        )
        .env("JIESU_SERVER__PUBLIC_URL", "http://jiesu.example.test")
        .env("JIESU_MAIL__SMTP__TLS", "none"));
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("server.public_url") && stderr.contains("mail.smtp.tls"),
        "{stderr}"
    );
}

/// What the server logs carries no resident's phone — not from a search's query string,
/// nor from an error's details — and the client address it logs is the socket's, not a
/// header the client made up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_log_names_no_residents_phone_and_no_address_a_client_made_up() {
    const PHONE: &str = "13912345678";
    let dir = tempfile::tempdir().unwrap();
    let log_path = dir.path().join("server.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let mut server = jiesu(dir.path())
        .arg("serve")
        .env("JIESU_SERVER__BIND", "127.0.0.1:0")
        .env("JIESU_SCHEDULER__ENABLED", "false")
        .env("JIESU_LOG__FORMAT", "json")
        .stdout(std::process::Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let base = loop {
        let text = std::fs::read_to_string(&log_path).unwrap_or_default();
        if let Some(url) = text
            .split("\"url\":\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
        {
            break url.to_owned();
        }
        assert!(
            Instant::now() < deadline,
            "the server did not start: {text}"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let client = reqwest::Client::new();
    let (grid, supervisor) = (
        login(&client, &base, dir.path(), "demo-grid").await,
        login(&client, &base, dir.path(), "demo-supervisor").await,
    );
    let created: Value = client
        .post(format!("{base}/api/v1/tickets"))
        .bearer_auth(&grid)
        .json(
            &json!({"category": "property_management", "title": "日志检查", "description": "x",
                      "address": "1号楼", "resident_phone": PHONE}),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = created["id"].as_i64().unwrap();
    // A search by phone (a 200) and a refused one (a 422 on a bad filter beside it) …
    for query in [format!("q={PHONE}"), format!("q={PHONE}&status=lost")] {
        client
            .get(format!("{base}/api/v1/tickets?{query}"))
            .bearer_auth(&supervisor)
            .header("x-forwarded-for", "6.6.6.6")
            .send()
            .await
            .unwrap();
    }
    // … and a conflict whose answer carries the ticket with the resident's phone (masked,
    // as every answer but the ticket's own page shows it).
    client
        .post(format!("{base}/api/v1/tickets/{id}/cancel"))
        .bearer_auth(&supervisor)
        .json(&json!({"reason": "重复"}))
        .send()
        .await
        .unwrap();
    let conflict = client
        .post(format!("{base}/api/v1/tickets/{id}/cancel"))
        .bearer_auth(&supervisor)
        .json(&json!({"reason": "再次"}))
        .send()
        .await
        .unwrap();
    assert_eq!(conflict.status(), 409);
    assert!(
        conflict.text().await.unwrap().contains("139****5678"),
        "the answer has it"
    );
    let failed = client
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"username": "who-is-this", "password": "not it at all"}))
        .send()
        .await
        .unwrap();
    assert_eq!(failed.status(), 401);
    std::thread::sleep(Duration::from_millis(300));
    let _ = server.kill();
    let _ = server.wait();
    let text = std::fs::read_to_string(&log_path).unwrap();
    assert!(
        !text.contains(PHONE) && !text.contains("139****5678"),
        "a resident's phone in the log:\n{text}"
    );
    assert!(
        !text.contains("6.6.6.6"),
        "a made-up client address in the log"
    );
    assert!(
        text.contains("127.0.0.1") && text.contains("who-is-this"),
        "the log names the client and a failed sign-in's name"
    );
}
