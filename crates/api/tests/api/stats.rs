//! The three rates on a fixture with known numbers, read over HTTP; scope; CSV exports.

use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;
use jiesu_core::calendar::WorkingCalendar;
use jiesu_core::ids::{TicketId, UserId};
use jiesu_core::schema::{org_units, users};
use jiesu_core::tickets::lifecycle::{self, Action, Target};
use jiesu_core::tickets::logging::{self, NewTicket};
use jiesu_core::tickets::Context;
use jiesu_core::types::Satisfaction;
use jiesu_core::Actor;
use serde_json::{json, Value};

use crate::helpers::{assert_names_field, StatusCode, Store, TestApp};

/// A Beijing wall-clock time as the UTC instant the core takes.
fn bj(text: &str) -> NaiveDateTime {
    NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M").unwrap() - Duration::hours(8)
}

struct Fixture<'a> {
    app: &'a TestApp,
    calendar: WorkingCalendar,
}

impl Fixture<'_> {
    fn actor(&self, username: &str) -> Actor {
        self.app.with_conn(|conn| {
            let id: UserId = users::table
                .filter(users::username.eq(username))
                .select(users::id)
                .first(conn)
                .unwrap();
            Actor::load(conn, id).unwrap()
        })
    }

    fn log(&self, by: &str, community: &str, title: &str, at: &str) -> TicketId {
        let community = self.app.with_conn(|conn| {
            org_units::table
                .filter(org_units::name.eq(community))
                .select(org_units::id)
                .first(conn)
                .unwrap()
        });
        let input = NewTicket {
            category: "property_management".into(),
            priority: None,
            title: title.into(),
            description: "统计用".into(),
            community_id: Some(community),
            grid_id: None,
            address: "某楼".into(),
            latitude: None,
            longitude: None,
            resident_name: None,
            resident_phone: None,
            households: 1,
            channel: None,
            hotline_ref: None,
            hotline: None,
        };
        let actor = self.actor(by);
        let ctx = Context {
            now: bj(at),
            calendar: &self.calendar,
            reference: &Default::default(),
            public_url: "http://jiesu.test",
            mail_language: Default::default(),
        };
        self.app.with_conn(|conn| {
            logging::log(conn, &actor, &input, None, &ctx)
                .unwrap()
                .ticket
                .id
        })
    }

    fn act(&self, by: &str, id: TicketId, action: Action, at: &str) {
        let actor = self.actor(by);
        let ctx = Context {
            now: bj(at),
            calendar: &self.calendar,
            reference: &Default::default(),
            public_url: "http://jiesu.test",
            mail_language: Default::default(),
        };
        self.app
            .with_conn(|conn| lifecycle::transition(conn, &actor, id, &action, &ctx).unwrap());
    }

    /// Pool → claimed → resolved → return visit, at the given instants.
    fn run(
        &self,
        id: TicketId,
        claim: &str,
        resolve: &str,
        visit: Option<(&str, Satisfaction, &str)>,
    ) {
        self.act(
            "demo-supervisor",
            id,
            Action::Dispatch {
                to: Target::Pool,
                note: None,
            },
            claim,
        );
        self.act("demo-unit", id, Action::Claim, claim);
        self.act(
            "demo-unit",
            id,
            Action::Resolve {
                note: "已处理".into(),
            },
            resolve,
        );
        if let Some((visitor, satisfaction, at)) = visit {
            self.act(
                visitor,
                id,
                Action::Feedback {
                    satisfaction,
                    comment: None,
                },
                at,
            );
        }
    }
}

const PERIOD: &str = "from=2026-11-16T00:00:00%2B08:00&to=2026-11-21T00:00:00%2B08:00";

fn fixture(app: &TestApp) -> Fixture<'_> {
    Fixture {
        app,
        calendar: WorkingCalendar::load(
            &app.settings.calendar,
            &app.settings.config_dir.join("calendar"),
        )
        .unwrap(),
    }
}

async fn build(app: &TestApp) {
    let f = fixture(app);
    // Community A (望京西园一区): respond within one working day, so by Tuesday 10:00.
    let t1 = f.log(
        "demo-grid",
        "望京西园一区社区",
        "甲：按时办结满意",
        "2026-11-16 10:00",
    );
    f.run(
        t1,
        "2026-11-16 11:00",
        "2026-11-16 15:00",
        Some(("demo-grid", Satisfaction::Satisfied, "2026-11-17 09:00")),
    );
    let t2 = f.log(
        "demo-grid",
        "望京西园一区社区",
        "乙：迟响应不满意",
        "2026-11-16 10:00",
    );
    f.run(
        t2,
        "2026-11-17 11:00",
        "2026-11-18 10:00",
        Some(("demo-grid", Satisfaction::Unsatisfied, "2026-11-18 11:00")),
    );
    let t3 = f.log(
        "demo-grid",
        "望京西园一区社区",
        "丙：无人认领",
        "2026-11-16 10:00",
    );
    f.act(
        "demo-supervisor",
        t3,
        Action::Dispatch {
            to: Target::Pool,
            note: None,
        },
        "2026-11-16 10:30",
    );
    let t4 = f.log(
        "demo-grid",
        "望京西园一区社区",
        "丁：无效登记",
        "2026-11-16 10:00",
    );
    f.act(
        "demo-supervisor",
        t4,
        Action::Cancel {
            reason: "重复".into(),
        },
        "2026-11-16 10:05",
    );
    // Community B (花家地北里), with a grid member of its own for the return visit.
    let admin = app.login("demo-admin").await;
    let hjd = app.org_id("花家地北里社区").await;
    let grid_b = app
        .all(&format!("/api/v1/org-units?parent_id={hjd}"), &admin)
        .await[0]["id"]
        .clone();
    app.account("grid-hjd", "grid_member", json!({"org_unit_id": grid_b}))
        .await;
    let t5 = f.log(
        "demo-supervisor",
        "花家地北里社区",
        "戊：另一社区",
        "2026-11-16 10:00",
    );
    f.run(
        t5,
        "2026-11-16 12:00",
        "2026-11-17 09:30",
        Some((
            "grid-hjd",
            Satisfaction::BasicallySatisfied,
            "2026-11-17 10:00",
        )),
    );
    // Another street, and a ticket after the period: not counted.
    f.log(
        "demo-district",
        "和平街一社区",
        "己：别的街道",
        "2026-11-16 10:00",
    );
    f.log(
        "demo-grid",
        "望京西园一区社区",
        "庚：期后登记",
        "2026-11-21 10:00",
    );
}

async fn the_three_rates_of_a_street_are_exact(store: Store) {
    let app = TestApp::spawn(store).await;
    build(&app).await;
    let street = app.login("demo-supervisor").await;
    let (status, body) = app.get(&format!("/api/v1/stats?{PERIOD}"), &street).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["node"]["name"], "望京街道");
    let f = &body["figures"];
    assert_eq!(f["received"], 4);
    assert_eq!(f["cancelled"], 1);
    assert_eq!(f["responded"], 3);
    assert_eq!(f["responded_in_time"], 2);
    assert_eq!(f["response_rate"], 0.5);
    assert_eq!(f["resolved"], 2, "the reopened ticket counts against it");
    assert_eq!(f["resolution_rate"], 0.5);
    assert_eq!(f["reopened"], 1);
    assert_eq!(f["visited"], 3);
    assert_eq!(f["satisfied"], 2);
    assert_eq!(f["satisfaction_rate"], 0.6667);
    assert_eq!(f["overdue"], 1, "the unclaimed one");
    assert_eq!(f["median_response_minutes"], 120);
    assert_eq!(f["median_resolution_minutes"], 1410);

    let children: Vec<(Value, Value, Value)> = body["children"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["rank"].clone(),
                c["name"].clone(),
                c["figures"]["received"].clone(),
            )
        })
        .collect();
    assert_eq!(
        children,
        [
            (json!(1), json!("花家地北里社区"), json!(1)),
            (json!(2), json!("望京西园一区社区"), json!(3))
        ],
        "ranked by resolution rate"
    );
    let partners = body["partners"].as_array().unwrap();
    assert_eq!(partners.len(), 1);
    assert_eq!(partners[0]["name"], "望京宜居物业服务有限公司");
    assert_eq!(partners[0]["figures"]["received"], 3);
    assert_eq!(partners[0]["figures"]["response_rate"], 0.6667);

    // The unit reads its own figures only.
    let unit = app.login("demo-unit").await;
    let (status, own) = app.get(&format!("/api/v1/stats?{PERIOD}"), &unit).await;
    assert_eq!(status, StatusCode::OK, "{own}");
    assert_eq!(own["partner"]["name"], "望京宜居物业服务有限公司");
    assert_eq!(own["figures"]["resolved"], 2);
    let other = app.partner_id("望京社区卫生服务中心").await;
    let (status, _) = app
        .get(&format!("/api/v1/stats?partner_id={other}&{PERIOD}"), &unit)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // The period ending earlier sees the earlier state: before the unsatisfied visit
    // (Wednesday 11:00), the second ticket was still resolved.
    let (_, before) = app
        .get(
            "/api/v1/stats?from=2026-11-16T00:00:00%2B08:00&to=2026-11-18T10:30:00%2B08:00",
            &street,
        )
        .await;
    assert_eq!(before["figures"]["resolved"], 3);
    assert_eq!(before["figures"]["reopened"], 0);
}

/// A period that has ended is computed once and then read from storage, saying when it
/// was stored; a ticket logged into it afterwards (an import of the past) is counted at
/// once. A period that runs to now is always computed.
async fn ended_periods_are_stored_and_a_late_write_is_counted(store: Store) {
    let app = TestApp::spawn(store).await;
    build(&app).await;
    let street = app.login("demo-supervisor").await;
    let url = format!("/api/v1/stats?{PERIOD}");
    let (_, first) = app.get(&url, &street).await;
    assert_eq!(first["stored_at"], Value::Null, "computed: {first}");
    let (_, second) = app.get(&url, &street).await;
    assert!(second["stored_at"].is_string(), "stored: {second}");
    assert_eq!(second["figures"], first["figures"]);
    assert_eq!(second["children"], first["children"]);
    assert_eq!(second["partners"], first["partners"]);

    fixture(&app).log(
        "demo-supervisor",
        "花家地北里社区",
        "辛：补录的诉求",
        "2026-11-19 09:00",
    );
    let (_, after) = app.get(&url, &street).await;
    assert_eq!(after["stored_at"], Value::Null, "computed again: {after}");
    assert_eq!(after["figures"]["received"], 5);
    let (_, again) = app.get(&url, &street).await;
    assert!(again["stored_at"].is_string(), "stored again: {again}");
    assert_eq!(again["figures"], after["figures"]);

    // The default period: the 30 days to the last whole hour that ended ten minutes ago
    // or more, the same for everyone asking within the hour, so stored once computed.
    let asked = chrono::Utc::now();
    let (status, first) = app.get("/api/v1/stats", &street).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    let to: chrono::DateTime<chrono::Utc> =
        first["period"]["to"].as_str().unwrap().parse().unwrap();
    let from: chrono::DateTime<chrono::Utc> =
        first["period"]["from"].as_str().unwrap().parse().unwrap();
    assert_eq!(
        to.timestamp() % 3600,
        0,
        "a whole hour (Beijing's are UTC's): {first}"
    );
    assert!(
        to <= asked - chrono::Duration::minutes(10),
        "settled: {first}"
    );
    assert!(
        to > asked - chrono::Duration::minutes(71),
        "the last such hour: {first}"
    );
    assert_eq!(to - from, chrono::Duration::days(30));
    let (_, second) = app.get("/api/v1/stats", &street).await;
    if second["period"] == first["period"] {
        assert!(second["stored_at"].is_string(), "stored: {second}");
        assert_eq!(second["figures"], first["figures"]);
    }
    // A period asked to run to now is computed each time.
    for _ in 0..2 {
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let (status, live) = app
            .get(
                &format!("/api/v1/stats?to={}", now.replace('+', "%2B")),
                &street,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{live}");
        assert_eq!(live["stored_at"], Value::Null, "{live}");
    }
}

async fn rates_respect_scope_and_refuse_bad_filters(store: Store) {
    let app = TestApp::spawn(store).await;
    let street = app.login("demo-supervisor").await;
    let other_street = app.org_id("和平街街道").await;
    let (status, body) = app
        .get(
            &format!("/api/v1/stats?org_unit_id={other_street}"),
            &street,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, body) = app
        .get(
            "/api/v1/stats?from=2026-11-21T00:00:00Z&to=2026-11-16T00:00:00Z",
            &street,
        )
        .await;
    assert_names_field(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "to");
    let (status, body) = app.get("/api/v1/stats?org_unit_id=999999", &street).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, body) = app.get("/api/v1/stats?from=yesterday", &street).await;
    assert_names_field(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "from");
    let grid = app.login("demo-grid").await;
    let (status, _) = app.get("/api/v1/stats", &grid).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // Without org_unit_id: one's own node; the city for an administrator.
    let admin = app.login("demo-admin").await;
    for path in ["/api/v1/stats", "/api/v1/hotspots", "/api/v1/stats.csv"] {
        let res = app
            .client
            .get(format!("{}{path}", app.address))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{path}");
    }
    let (_, city) = app.get("/api/v1/stats", &admin).await;
    assert_eq!(city["node"]["name"], "北京市", "{city}");
    let (_, own) = app.get("/api/v1/stats", &street).await;
    assert_eq!(own["node"]["name"], "望京街道", "{own}");

    // The ticket list's filters: another street's node is not found (404, as everywhere),
    // an unknown category is named, not an empty list.
    let (status, body) = app
        .get(
            &format!("/api/v1/tickets?org_unit_id={other_street}"),
            &street,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, body) = app.get("/api/v1/tickets?category=plumbing", &street).await;
    assert_names_field(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "category");
}

async fn csv_exports_open_in_a_spreadsheet_with_the_chinese_intact(store: Store) {
    let app = TestApp::spawn(store).await;
    build(&app).await;
    let street = app.login("demo-supervisor").await;
    let fetch = |path: String| {
        let request = app
            .client
            .get(format!("{}{path}", app.address))
            .bearer_auth(&street);
        async move {
            let res = request.send().await.unwrap();
            assert_eq!(res.status(), StatusCode::OK);
            assert!(res.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/csv"));
            res.bytes().await.unwrap().to_vec()
        }
    };
    let bytes = fetch(format!("/api/v1/stats.csv?{PERIOD}")).await;
    assert!(
        bytes.starts_with(b"\xEF\xBB\xBF"),
        "a BOM for spreadsheet programs"
    );
    let mut rows = csv::Reader::from_reader(&bytes[3..]);
    let records: Vec<csv::StringRecord> = rows.records().map(Result::unwrap).collect();
    assert_eq!(&records[0][2], "望京街道");
    assert_eq!(&records[0][3], "4");
    assert_eq!(&records[0][5], "50.00");
    assert!(records
        .iter()
        .any(|r| &r[2] == "花家地北里社区" && &r[1] == "1"));

    let community = app.org_id("望京西园一区社区").await;
    let bytes = fetch(format!("/api/v1/tickets.csv?org_unit_id={community}")).await;
    let mut rows = csv::Reader::from_reader(&bytes[3..]);
    let titles: Vec<String> = rows.records().map(|r| r.unwrap()[1].to_owned()).collect();
    assert_eq!(titles.len(), 5);
    assert!(
        titles.contains(&"乙：迟响应不满意".to_owned()),
        "{titles:?}"
    );
    let (status, body) = app.get("/api/v1/tickets.csv?status=lost", &street).await;
    assert_names_field(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "status");
}

/// Cells that Excel or WPS would run as formulas come out as text, in every export.
async fn exports_never_hand_a_spreadsheet_a_formula(store: Store) {
    let app = TestApp::spawn(store).await;
    let grid = app.login("demo-grid").await;
    let street = app.login("demo-supervisor").await;
    let formulas = [
        "=HYPERLINK(\"http://evil.example.com\",\"点此\")",
        "+1+1",
        "@SUM(A1:A9)",
        "-2+3",
    ];
    for title in formulas {
        let (status, body) = app
            .post(
                "/api/v1/tickets",
                &grid,
                json!({"category": "property_management", "title": title,
                       "description": "公式", "address": "=1+1号楼"}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let community = app.org_id("望京西园一区社区").await;
    let (status, body) = app
        .post(
            "/api/v1/needs",
            &street,
            json!({"community_id": community, "category": "property_management",
                   "title": "=cmd|' /C calc'!A0", "description": "公式"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    for path in ["/api/v1/tickets.csv", "/api/v1/needs.csv"] {
        let res = app
            .client
            .get(format!("{}{path}", app.address))
            .bearer_auth(&street)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let bytes = res.bytes().await.unwrap();
        let mut rows = csv::Reader::from_reader(&bytes[3..]);
        let cells: Vec<String> = rows
            .records()
            .flat_map(|r| r.unwrap().iter().map(str::to_owned).collect::<Vec<_>>())
            .collect();
        assert!(
            cells
                .iter()
                .all(|c| !c.starts_with(['=', '+', '@', '-', '\t', '\r'])),
            "{path}: {cells:?}"
        );
        assert!(
            cells.iter().any(|c| c.starts_with("'=")),
            "{path}: kept, as text: {cells:?}"
        );
    }
}

async fn recurring_problems_are_flagged_as_hotspots(store: Store) {
    let app = TestApp::spawn(store).await;
    build(&app).await;
    let street = app.login("demo-supervisor").await;
    let (status, body) = app
        .get(&format!("/api/v1/hotspots?{PERIOD}&threshold=3"), &street)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let cells: Vec<(String, String, i64, bool)> = body["cells"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["category"].as_str().unwrap().into(),
                c["place_name"].as_str().unwrap().into(),
                c["tickets"].as_i64().unwrap(),
                c["flagged"].as_bool().unwrap(),
            )
        })
        .collect();
    // Four tickets in 望京西园一区 less the cancelled one; one in 花家地北里; 和平街 is another street.
    assert_eq!(
        cells,
        [
            (
                "property_management".to_owned(),
                "望京西园一区社区".to_owned(),
                3,
                true
            ),
            (
                "property_management".to_owned(),
                "花家地北里社区".to_owned(),
                1,
                false
            ),
        ]
    );
    assert_eq!(body["more"], false);
    // Cut to the top cell: the one with the most tickets, and word that more follow.
    let (status, top) = app
        .get(
            &format!("/api/v1/hotspots?{PERIOD}&threshold=3&limit=1"),
            &street,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{top}");
    assert_eq!(top["cells"].as_array().unwrap().len(), 1);
    assert_eq!(top["cells"][0]["place_name"], "望京西园一区社区");
    assert_eq!(
        top["cells"][0]["category_name"],
        body["cells"][0]["category_name"]
    );
    assert_eq!(top["more"], true);
    // By grid: the tickets logged on a grid, in cells of the grid.
    let grid_member = app.login("demo-grid").await;
    let grid = app.org_id("第1网格").await;
    for n in 0..2 {
        let (status, ticket) = app
            .post(
                "/api/v1/tickets",
                &grid_member,
                serde_json::json!({"category": "property_management", "title": format!("楼道灯不亮 {n}"),
                    "description": "5号楼楼道灯不亮", "address": "望京西园一区5号楼", "grid_id": grid}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{ticket}");
    }
    let now = chrono::Utc::now();
    let around = format!(
        "from={}&to={}",
        (now - chrono::Duration::hours(1)).format("%Y-%m-%dT%H:%M:%SZ"),
        (now + chrono::Duration::hours(1)).format("%Y-%m-%dT%H:%M:%SZ")
    );
    let (status, grids) = app
        .get(
            &format!("/api/v1/hotspots?{around}&threshold=2&by=grid"),
            &street,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{grids}");
    let cell = &grids["cells"][0];
    assert!(
        cell["place_name"].as_str().unwrap().ends_with("网格"),
        "{grids}"
    );
    assert_eq!(
        (cell["tickets"].as_i64(), cell["flagged"].as_bool()),
        (Some(2), Some(true)),
        "{grids}"
    );
    for limit in ["0", "1001", "x"] {
        let (status, body) = app
            .get(&format!("/api/v1/hotspots?limit={limit}"), &street)
            .await;
        assert!(
            status == StatusCode::UNPROCESSABLE_ENTITY || status == StatusCode::BAD_REQUEST,
            "{limit}: {status}"
        );
        assert!(body.to_string().contains("limit"), "{limit}: {body}");
    }
    let (status, body) = app.get("/api/v1/hotspots?by=building", &street).await;
    assert_names_field(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "by");
    let (status, body) = app.get("/api/v1/hotspots?threshold=0", &street).await;
    assert_names_field(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "threshold");
}

/// The rates by intake channel: the fixture's grid member logged four tickets (patrol),
/// the supervisor one (another way); each channel's figures count its own tickets only,
/// and add up to the whole.
async fn the_rates_are_broken_down_by_intake_channel(store: Store) {
    let app = TestApp::spawn(store).await;
    build(&app).await;
    let street = app.login("demo-supervisor").await;
    let figures = |query: String, token: String| {
        let app = &app;
        async move {
            let (status, body) = app
                .get(&format!("/api/v1/stats?{PERIOD}{query}"), &token)
                .await;
            assert_eq!(status, StatusCode::OK, "{query}: {body}");
            body
        }
    };
    let all = figures(String::new(), street.clone()).await;
    let patrol = figures("&channel=patrol".into(), street.clone()).await;
    let other = figures("&channel=other".into(), street.clone()).await;
    let hotline = figures("&channel=hotline".into(), street.clone()).await;
    assert_eq!(all["channel"], Value::Null);
    assert_eq!(patrol["channel"], "patrol");
    assert_eq!(
        (
            &patrol["figures"]["received"],
            &patrol["figures"]["cancelled"],
            &patrol["figures"]["resolved"]
        ),
        (&json!(3), &json!(1), &json!(1)),
        "the grid member's: one closed, one reopened, one unclaimed, one cancelled"
    );
    assert_eq!(patrol["figures"]["overdue"], 1);
    assert_eq!(
        (
            &other["figures"]["received"],
            &other["figures"]["resolved"],
            &other["figures"]["satisfied"]
        ),
        (&json!(1), &json!(1), &json!(1))
    );
    assert_eq!(hotline["figures"]["received"], 0);
    assert_eq!(hotline["figures"]["response_rate"], Value::Null);
    for figure in [
        "received",
        "responded",
        "resolved",
        "visited",
        "satisfied",
        "overdue",
        "cancelled",
    ] {
        let sum = patrol["figures"][figure].as_i64().unwrap()
            + other["figures"][figure].as_i64().unwrap();
        assert_eq!(all["figures"][figure].as_i64().unwrap(), sum, "{figure}");
    }
    // The children and the unit ranked within the channel.
    let received_of = |body: &Value, list: &str, name: &str| {
        body[list]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .map(|c| c["figures"]["received"].clone())
    };
    assert_eq!(
        received_of(&patrol, "children", "望京西园一区社区"),
        Some(json!(3))
    );
    assert_eq!(
        received_of(&patrol, "children", "花家地北里社区"),
        Some(json!(0))
    );
    assert_eq!(
        received_of(&other, "children", "花家地北里社区"),
        Some(json!(1))
    );
    assert_eq!(
        received_of(&patrol, "partners", "望京宜居物业服务有限公司"),
        Some(json!(2))
    );
    // A unit's own, and the CSV, the same way.
    let unit = app.login("demo-unit").await;
    let own = figures("&channel=other".into(), unit.clone()).await;
    assert_eq!(
        (&own["channel"], &own["figures"]["received"]),
        (&json!("other"), &json!(1))
    );
    let csv = app
        .text(
            &format!("/api/v1/stats.csv?{PERIOD}&channel=patrol"),
            &street,
        )
        .await;
    let node = csv.lines().nth(1).unwrap();
    assert!(node.starts_with("node,,望京街道,3,"), "{csv}");
    let (status, body) = app
        .get(&format!("/api/v1/stats?{PERIOD}&channel=fax"), &street)
        .await;
    assert_names_field(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "channel");
}

/// A month and a quarter of the calendar, each beside the one before (环比): November
/// holds the fixture's street tickets, October one more; the third quarter two, the
/// second one.
async fn a_month_or_quarter_is_compared_with_the_one_before(store: Store) {
    let app = TestApp::spawn(store).await;
    build(&app).await;
    let f = fixture(&app);
    for (title, at) in [
        ("十月", "2026-10-20 10:00"),
        ("八月", "2026-08-10 10:00"),
        ("九月", "2026-09-30 23:30"),
        ("六月", "2026-06-15 10:00"),
        ("十月一日零点", "2026-10-01 00:00"),
    ] {
        f.log("demo-grid", "望京西园一区社区", title, at);
    }
    let street = app.login("demo-supervisor").await;
    let instant = |v: &Value| {
        chrono::DateTime::parse_from_rfc3339(v.as_str().unwrap())
            .unwrap()
            .naive_utc()
    };
    let (status, month) = app
        .get("/api/v1/stats?month=2026-11&compare=previous", &street)
        .await;
    assert_eq!(status, StatusCode::OK, "{month}");
    assert_eq!(
        (
            instant(&month["period"]["from"]),
            instant(&month["period"]["to"])
        ),
        (bj("2026-11-01 00:00"), bj("2026-12-01 00:00"))
    );
    assert_eq!(month["figures"]["received"], 5, "{month}");
    assert_eq!(month["figures"]["cancelled"], 1);
    let before = &month["previous"];
    assert_eq!(
        (
            instant(&before["period"]["from"]),
            instant(&before["period"]["to"])
        ),
        (bj("2026-10-01 00:00"), bj("2026-11-01 00:00"))
    );
    assert_eq!(before["figures"]["received"], 2, "October's two: {before}");
    let (_, quarter) = app
        .get("/api/v1/stats?quarter=2026-Q3&compare=previous", &street)
        .await;
    assert_eq!(quarter["figures"]["received"], 2, "{quarter}");
    assert_eq!(quarter["previous"]["figures"]["received"], 1);
    assert_eq!(
        instant(&quarter["previous"]["period"]["from"]),
        bj("2026-04-01 00:00")
    );
    // Without compare, no period before; with from and to, the same length just before.
    let (_, plain) = app.get("/api/v1/stats?month=2026-11", &street).await;
    assert_eq!(plain["previous"], Value::Null);
    let (_, ranged) = app
        .get(&format!("/api/v1/stats?{PERIOD}&compare=previous"), &street)
        .await;
    assert_eq!(
        (
            instant(&ranged["previous"]["period"]["from"]),
            instant(&ranged["previous"]["period"]["to"])
        ),
        (bj("2026-11-11 00:00"), bj("2026-11-16 00:00"))
    );
    // The CSV ends with the period before.
    let csv = app
        .text("/api/v1/stats.csv?month=2026-11&compare=previous", &street)
        .await;
    let last = csv.lines().last().unwrap();
    assert!(last.starts_with("previous,,望京街道,2,"), "{csv}");
    assert!(last.ends_with(','), "no urgings counted for it: {last}");
    // The unit's own, the same way.
    let unit = app.login("demo-unit").await;
    let (_, own) = app
        .get("/api/v1/stats?month=2026-11&compare=previous", &unit)
        .await;
    assert_eq!(own["figures"]["received"], 3, "{own}");
    assert_eq!(own["previous"]["figures"]["received"], 0);
    for (query, field) in [
        ("month=2026-13", "month"),
        ("month=2026-Q4", "month"),
        ("quarter=2026-11", "quarter"),
        ("month=2026-11&quarter=2026-Q4", "quarter"),
        ("month=2026-11&from=2026-11-01T00:00:00Z", "month"),
        ("month=2999-01", "month"),
        ("month=2026-11&compare=yesterday", "compare"),
    ] {
        let (status, body) = app.get(&format!("/api/v1/stats?{query}"), &street).await;
        assert_names_field(status, &body, StatusCode::UNPROCESSABLE_ENTITY, field);
    }
}

crate::on_both_stores!(
    a_month_or_quarter_is_compared_with_the_one_before,
    the_rates_are_broken_down_by_intake_channel,
    recurring_problems_are_flagged_as_hotspots,
    the_three_rates_of_a_street_are_exact,
    ended_periods_are_stored_and_a_late_write_is_counted,
    rates_respect_scope_and_refuse_bad_filters,
    csv_exports_open_in_a_spreadsheet_with_the_chinese_intact,
    exports_never_hand_a_spreadsheet_a_formula,
);
