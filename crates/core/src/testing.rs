//! Test support (feature `testing`): each test gets a database of its own — a fresh SQLite
//! file, or a fresh PostgreSQL database dropped when the test ends — either empty or, from
//! `TestDb::with_demo`, a copy of the demo city migrated and seeded once per test process
//! (`CREATE DATABASE … TEMPLATE` on PostgreSQL, a file copy on SQLite).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

use chrono::NaiveDateTime;
use diesel::connection::SimpleConnection;
use diesel::Connection;

use crate::db::DatabaseUrl;
use crate::demo::DemoLogin;

/// A ticket the demo's grid member logs in their own community (a stairwell light out).
pub fn grid_ticket(title: &str) -> crate::tickets::logging::NewTicket {
    crate::tickets::logging::NewTicket {
        category: "property_management".into(),
        priority: None,
        title: title.into(),
        description: "楼道灯不亮".into(),
        community_id: None,
        grid_id: None,
        address: "望京西园一区5号楼".into(),
        latitude: None,
        longitude: None,
        resident_name: None,
        resident_phone: None,
        households: 1,
        channel: None,
        hotline_ref: None,
        hotline: None,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Store {
    Sqlite,
    Postgres,
}

/// The server the PostgreSQL tests create their databases on (its user may CREATE
/// DATABASE): `JIESU_TEST_POSTGRES_URL`, else 127.0.0.1:5432 as postgres. A test fails,
/// never skips, when it cannot be reached.
pub fn postgres_server_url() -> String {
    std::env::var("JIESU_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

pub struct TestDb {
    pub url: DatabaseUrl,
    /// A folder of the test's own (the SQLite file, a data folder).
    pub dir: tempfile::TempDir,
    pg_name: Option<String>,
}

impl TestDb {
    /// # Panics
    /// When the temp folder or the PostgreSQL database cannot be made: the test fails.
    #[allow(clippy::unwrap_used)]
    pub fn new(store: Store) -> Self {
        match store {
            Store::Sqlite => {
                let dir = tempfile::tempdir().unwrap();
                TestDb {
                    url: DatabaseUrl::Sqlite(dir.path().join("jiesu.db")),
                    dir,
                    pg_name: None,
                }
            }
            Store::Postgres => TestDb::create_postgres(None),
        }
    }

    /// A database holding the demo city as `demo::seed` leaves it at `seeded_at`, with its
    /// logins. The city is migrated and seeded once per process, store and instant into a
    /// template, and each test gets a copy of it: the same data as seeding it afresh, for
    /// the cost of a copy.
    ///
    /// # Panics
    /// When the template cannot be made or copied: the test fails.
    #[allow(clippy::unwrap_used)]
    pub fn with_demo(store: Store, seeded_at: NaiveDateTime) -> (Self, Vec<DemoLogin>) {
        let template = template(store, seeded_at);
        let db = match (&template.source, store) {
            (Source::Sqlite(file), Store::Sqlite) => {
                let db = TestDb::new(Store::Sqlite);
                let DatabaseUrl::Sqlite(path) = &db.url else {
                    unreachable!("a SQLite test database")
                };
                std::fs::copy(file, path).unwrap();
                db
            }
            (Source::Postgres(name), Store::Postgres) => TestDb::create_postgres(Some(name)),
            _ => unreachable!("templates are made per store"),
        };
        (db, template.logins.clone())
    }

    fn create_postgres(template: Option<&str>) -> Self {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("a temp folder: {e}"));
        let name = format!(
            "jiesu_test_{}",
            crate::secrets::random_secret(20).to_lowercase()
        );
        TestDb {
            url: create_database(&name, template),
            dir,
            pg_name: Some(name),
        }
    }

    /// The URL as `JIESU_DATABASE__URL` takes it.
    pub fn url_string(&self) -> String {
        match &self.url {
            DatabaseUrl::Postgres(u) => u.clone(),
            DatabaseUrl::Sqlite(p) => format!("sqlite://{}", p.display()),
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some(name) = &self.pg_name {
            if let Ok(mut admin) = diesel::PgConnection::establish(&postgres_server_url()) {
                let _ =
                    admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
            }
        }
    }
}

/// Creates database `name` on the test server, empty or as a copy of `template`; answers
/// its URL. Panics (the test fails, never skips) when the server cannot be reached.
fn create_database(name: &str, template: Option<&str>) -> DatabaseUrl {
    let server = postgres_server_url();
    let mut admin = diesel::PgConnection::establish(&server).unwrap_or_else(|e| {
        panic!("PostgreSQL tests need a server at {server} (set JIESU_TEST_POSTGRES_URL): {e}")
    });
    let from = template
        .map(|t| format!(" TEMPLATE {t}"))
        .unwrap_or_default();
    admin
        .batch_execute(&format!("CREATE DATABASE {name}{from}"))
        .unwrap_or_else(|e| panic!("CREATE DATABASE {name}{from}: {e}"));
    let mut url = url::Url::parse(&server)
        .unwrap_or_else(|e| panic!("JIESU_TEST_POSTGRES_URL {server:?}: {e}"));
    url.set_path(name);
    DatabaseUrl::Postgres(url.to_string())
}

/// Where a template's copies come from.
enum Source {
    Sqlite(PathBuf),
    Postgres(String),
}

struct Template {
    source: Source,
    logins: Vec<DemoLogin>,
}

/// The prefix of template names (files and databases); the process id follows, so a
/// process finds and removes what an earlier, finished one left behind.
const TEMPLATE_PREFIX: &str = "jiesu_template_";

type Templates = Mutex<HashMap<(Store, NaiveDateTime), Arc<OnceLock<Arc<Template>>>>>;

/// The template of (store, instant), made by the first test that asks; the others wait.
fn template(store: Store, seeded_at: NaiveDateTime) -> Arc<Template> {
    static TEMPLATES: OnceLock<Templates> = OnceLock::new();
    let slot = {
        let mut map = TEMPLATES
            .get_or_init(Default::default)
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        map.entry((store, seeded_at)).or_default().clone()
    };
    slot.get_or_init(|| Arc::new(make_template(store, seeded_at)))
        .clone()
}

#[allow(clippy::unwrap_used)]
fn make_template(store: Store, seeded_at: NaiveDateTime) -> Template {
    remove_stale_templates(store);
    let name = format!(
        "{TEMPLATE_PREFIX}{}_{}",
        std::process::id(),
        crate::secrets::random_secret(8).to_lowercase()
    );
    let (url, source) = match store {
        Store::Sqlite => {
            let file = std::env::temp_dir().join(format!("{name}.db"));
            (DatabaseUrl::Sqlite(file.clone()), Source::Sqlite(file))
        }
        Store::Postgres => (create_database(&name, None), Source::Postgres(name)),
    };
    let logins = {
        // One connection, closed before any copy: a PostgreSQL template must have no
        // session, and SQLite's last close folds the journal into the file.
        let mut conn = r2d2::ManageConnection::connect(&crate::db::ConnectionManager::new(url))
            .unwrap_or_else(|e| panic!("the template database: {e}"));
        crate::db::run_migrations(&mut conn).unwrap();
        crate::demo::seed(&mut conn, false, seeded_at).unwrap()
    };
    Template { source, logins }
}

/// Templates of test processes that have ended (Linux: no `/proc/<pid>`).
fn remove_stale_templates(store: Store) {
    let ended = |name: &str| -> bool {
        let pid = name
            .strip_prefix(TEMPLATE_PREFIX)
            .and_then(|rest| rest.split('_').next())
            .and_then(|pid| pid.parse::<u32>().ok());
        pid.is_some_and(|pid| {
            pid != std::process::id()
                && std::path::Path::new("/proc/self").exists()
                && !std::path::Path::new(&format!("/proc/{pid}")).exists()
        })
    };
    match store {
        Store::Sqlite => {
            let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
                return;
            };
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if name.starts_with(TEMPLATE_PREFIX) && ended(&name) {
                    let _ = std::fs::remove_file(entry.path());
                }
            }
        }
        Store::Postgres => {
            use diesel::prelude::*;
            #[derive(QueryableByName)]
            struct Name {
                #[diesel(sql_type = diesel::sql_types::Text)]
                datname: String,
            }
            let Ok(mut admin) = diesel::PgConnection::establish(&postgres_server_url()) else {
                return;
            };
            let names: Vec<Name> = diesel::sql_query(format!(
                "SELECT datname FROM pg_database WHERE datname LIKE '{TEMPLATE_PREFIX}%'"
            ))
            .load(&mut admin)
            .unwrap_or_default();
            for Name { datname } in names {
                if ended(&datname) {
                    let _ = admin
                        .batch_execute(&format!("DROP DATABASE IF EXISTS {datname} WITH (FORCE)"));
                }
            }
        }
    }
}

/// Mails a loopback SMTP server received: (recipients, raw message).
pub type Inbox = std::sync::Arc<std::sync::Mutex<Vec<(Vec<String>, String)>>>;

#[derive(Clone)]
struct Collector {
    inbox: Inbox,
    to: Vec<String>,
    data: Vec<u8>,
}

impl mailin_embedded::Handler for Collector {
    fn data_start(
        &mut self,
        _domain: &str,
        _from: &str,
        _is8bit: bool,
        to: &[String],
    ) -> mailin_embedded::Response {
        self.to = to.to_vec();
        self.data.clear();
        mailin_embedded::response::OK
    }
    fn data(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.data.extend_from_slice(buf);
        Ok(())
    }
    fn data_end(&mut self) -> mailin_embedded::Response {
        if let Ok(mut inbox) = self.inbox.lock() {
            inbox.push((
                self.to.clone(),
                String::from_utf8_lossy(&self.data).into_owned(),
            ));
        }
        mailin_embedded::response::OK
    }
}

/// A real SMTP server (mailin-embedded) on 127.0.0.1:`port`, in a thread of its own.
///
/// # Panics
/// When the port cannot be bound: the test fails.
#[allow(clippy::unwrap_used)]
pub fn smtp_server(port: u16) -> Inbox {
    let listener = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
    let inbox: Inbox = Default::default();
    let mut server = mailin_embedded::Server::new(Collector {
        inbox: inbox.clone(),
        to: vec![],
        data: vec![],
    });
    server.with_name("localhost").with_tcp_listener(listener);
    std::thread::spawn(move || {
        let _ = server.serve();
    });
    inbox
}

/// A loopback port nothing listens on (yet).
///
/// # Panics
/// When no port can be had: the test fails.
#[allow(clippy::unwrap_used)]
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port()
}
