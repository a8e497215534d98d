//! A real server on a free port over a database of its own: a fresh SQLite file, or a
//! fresh PostgreSQL database that is dropped when the test ends.

use jiesu_api::Application;
use jiesu_core::config::Settings;
use jiesu_core::db::{self, DbConnection, Pool};
use jiesu_core::demo::DemoLogin;
use serde_json::Value;

pub use reqwest::StatusCode;

pub use jiesu_core::testing::{Store, TestDb};

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub pool: Pool,
    pub settings: Settings,
    pub logins: Vec<DemoLogin>,
    _db: TestDb,
}

/// When the demo city of this test run was seeded: one instant per run, so every test's
/// database is a copy of the same template (`TestDb::with_demo`).
pub fn seeded_at() -> chrono::NaiveDateTime {
    static AT: std::sync::OnceLock<chrono::NaiveDateTime> = std::sync::OnceLock::new();
    *AT.get_or_init(|| jiesu_core::db::truncate_to_micros(chrono::Utc::now().naive_utc()))
}

pub const TEST_SECRET: &str = "test-secret-test-secret-test-secret-0123";

impl TestApp {
    /// A server over the demo city, with its logins at hand.
    pub async fn spawn(store: Store) -> TestApp {
        Self::spawn_with(store, |_| {}).await
    }

    /// `spawn`, with the settings adjusted first.
    pub async fn spawn_with(store: Store, adjust: impl FnOnce(&mut Settings)) -> TestApp {
        let (db, logins) = TestDb::with_demo(store, seeded_at());
        let mut settings = Settings {
            data_dir: db.dir.path().to_path_buf(),
            ..Settings::default()
        };
        settings.server.bind = "127.0.0.1:0".into();
        settings.config_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config");
        settings.server.workers = 2;
        settings.server.body_limit_bytes = 16 * 1024;
        settings.auth.jwt_secret = TEST_SECRET.into();
        settings.auth.max_failed_logins = 3;
        settings.auth.lockout_base_secs = 60;
        adjust(&mut settings);
        // The store's own pool size, as `jiesu serve` runs it (one connection on SQLite).
        let pool = db::connect(&db.url, settings.pool_size_for(&db.url)).expect("connect");
        let app = Application::build(settings.clone(), pool.clone(), Default::default())
            .expect("build app");
        let address = format!("http://127.0.0.1:{}", app.port());
        tokio::spawn(app.run_until_stopped());
        TestApp {
            address,
            client: reqwest::Client::new(),
            pool,
            settings,
            logins,
            _db: db,
        }
    }

    /// Another API process over the same database, with its own pool and its own kept
    /// accounts, as behind a load balancer; its address.
    pub async fn another_process(&self) -> String {
        let url = &self._db.url;
        let pool = db::connect(url, self.settings.pool_size_for(url)).expect("connect");
        let app =
            Application::build(self.settings.clone(), pool, Default::default()).expect("build app");
        let address = format!("http://127.0.0.1:{}", app.port());
        tokio::spawn(app.run_until_stopped());
        address
    }

    pub fn conn(&self) -> r2d2::PooledConnection<db::ConnectionManager> {
        self.pool.get().expect("connection")
    }

    /// Runs a query on the test's database (counting rows to prove nothing was written).
    pub fn with_conn<T>(&self, f: impl FnOnce(&mut DbConnection) -> T) -> T {
        f(&mut self.conn())
    }

    pub fn password(&self, username: &str) -> String {
        self.logins
            .iter()
            .find(|l| l.username == username)
            .expect("demo login")
            .password
            .clone()
    }

    pub async fn login(&self, username: &str) -> String {
        let (status, body) = self.login_with(username, &self.password(username)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["token"].as_str().expect("token").to_owned()
    }

    /// Creates an account through the API as the demo admin and returns its token.
    /// `scope` is `{"org_unit_id": …}` or `{"partner_id": …}`.
    pub async fn account(&self, username: &str, role: &str, scope: Value) -> String {
        const PASSWORD: &str = "long-enough-pass";
        let admin = self.login("demo-admin").await;
        let mut body = serde_json::json!({"username": username, "display_name": username, "password": PASSWORD, "role": role});
        body.as_object_mut()
            .expect("object")
            .extend(scope.as_object().expect("scope object").clone());
        let (status, created) = self.post("/api/v1/users", &admin, body).await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        let (status, login) = self.login_with(username, PASSWORD).await;
        assert_eq!(status, StatusCode::OK, "{login}");
        login["token"].as_str().expect("token").to_owned()
    }

    pub async fn login_with(&self, username: &str, password: &str) -> (StatusCode, Value) {
        self.call(
            reqwest::Method::POST,
            "/api/v1/auth/login",
            None,
            Some(serde_json::json!({"username": username, "password": password})),
        )
        .await
    }

    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        self.call_at(&self.address, method, path, token, body).await
    }

    /// `call` to the process at `address` (`another_process`).
    pub async fn call_at(
        &self,
        address: &str,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self.client.request(method, format!("{address}{path}"));
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        let res = req.send().await.expect("request");
        read(res).await
    }

    pub async fn get(&self, path: &str, token: &str) -> (StatusCode, Value) {
        self.call(reqwest::Method::GET, path, Some(token), None)
            .await
    }

    /// A GET answered 200 with text (a CSV export), its BOM left out.
    pub async fn text(&self, path: &str, token: &str) -> String {
        let res = self
            .client
            .get(format!("{}{path}", self.address))
            .bearer_auth(token)
            .send()
            .await
            .expect("request");
        assert_eq!(res.status(), StatusCode::OK, "GET {path}");
        let text = res.text().await.expect("a text answer");
        text.trim_start_matches('\u{feff}').to_owned()
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
        self.call(reqwest::Method::POST, path, Some(token), Some(body))
            .await
    }

    pub async fn patch(&self, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
        self.call(reqwest::Method::PATCH, path, Some(token), Some(body))
            .await
    }

    /// Sends raw bytes with the given content type.
    pub async fn post_raw(
        &self,
        path: &str,
        token: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> (StatusCode, Value) {
        let res = self
            .client
            .post(format!("{}{path}", self.address))
            .bearer_auth(token)
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .expect("request");
        read(res).await
    }

    /// Every item of a paginated list, following `next_cursor`.
    pub async fn all(&self, path: &str, token: &str) -> Vec<Value> {
        self.all_by(path, token, 7).await
    }

    /// Every item of a paginated list, `limit` a page, following `next_cursor`.
    pub async fn all_by(&self, path: &str, token: &str, limit: i64) -> Vec<Value> {
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let sep = if path.contains('?') { '&' } else { '?' };
            let url = match &cursor {
                Some(c) => format!("{path}{sep}limit={limit}&cursor={c}"),
                None => format!("{path}{sep}limit={limit}"),
            };
            let (status, body) = self.get(&url, token).await;
            assert_eq!(status, StatusCode::OK, "{url}: {body}");
            items.extend(body["items"].as_array().expect("items").iter().cloned());
            match body["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => return items,
            }
        }
    }

    /// The id of the org unit with this name.
    pub async fn org_id(&self, name: &str) -> i64 {
        let admin = self.login("demo-admin").await;
        self.all("/api/v1/org-units", &admin)
            .await
            .iter()
            .find(|u| u["name"] == name)
            .unwrap_or_else(|| panic!("no org unit {name}"))["id"]
            .as_i64()
            .expect("id")
    }

    pub async fn partner_id(&self, name: &str) -> i64 {
        let admin = self.login("demo-admin").await;
        self.all("/api/v1/partners", &admin)
            .await
            .iter()
            .find(|u| u["name"] == name)
            .unwrap_or_else(|| panic!("no partner {name}"))["id"]
            .as_i64()
            .expect("id")
    }

    /// Runs the escalation sweep as the scheduler would at `now`, with this app's calendar.
    pub fn sweep_at(&self, now: chrono::NaiveDateTime) -> jiesu_core::escalation::SweepReport {
        use jiesu_core::calendar::WorkingCalendar;
        use jiesu_core::escalation::{self, SweepContext};
        let calendar = WorkingCalendar::load(
            &self.settings.calendar,
            &self.settings.config_dir.join("calendar"),
        )
        .expect("the calendar");
        self.with_conn(|conn| {
            escalation::sweep(
                conn,
                now,
                &SweepContext {
                    calendar: &calendar,
                    public_url: "http://jiesu.test",
                    mail_language: Default::default(),
                },
            )
            .expect("the sweep")
        })
    }

    pub fn count(&self, table: &str) -> i64 {
        use diesel::prelude::*;
        #[derive(QueryableByName)]
        struct Count {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        self.with_conn(|conn| {
            diesel::sql_query(format!("SELECT COUNT(*) AS n FROM {table}"))
                .get_result::<Count>(conn)
                .expect("count")
                .n
        })
    }
}

pub async fn read(res: reqwest::Response) -> (StatusCode, Value) {
    let status = res.status();
    let is_json = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("json"));
    let text = res.text().await.expect("body");
    let body = if is_json {
        serde_json::from_str(&text).expect("json body")
    } else {
        Value::String(text)
    };
    (status, body)
}

/// Asserts a problem+json body with this status naming `field` among its errors.
pub fn assert_names_field(status: StatusCode, body: &Value, expected: StatusCode, field: &str) {
    assert_eq!(status, expected, "{body}");
    assert_eq!(body["status"], expected.as_u16(), "{body}");
    let fields: Vec<&str> = body["errors"]
        .as_array()
        .map(|a| a.iter().filter_map(|e| e["field"].as_str()).collect())
        .unwrap_or_default();
    assert!(
        fields.contains(&field),
        "expected an error naming {field:?}, got {fields:?} in {body}"
    );
}

/// Runs each listed async test body on SQLite and on PostgreSQL.
#[macro_export]
macro_rules! on_both_stores {
    ($($name:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::helpers::Store::Sqlite).await
                }
            )+
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::helpers::Store::Postgres).await
                }
            )+
        }
    };
}

/// `size` bytes that read as a PNG by their signature (what the photo check sniffs).
pub fn png(size: usize) -> Vec<u8> {
    let mut bytes = vec![
        0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0x0d, b'I', b'H', b'D', b'R',
    ];
    bytes.resize(size, 0);
    bytes
}
