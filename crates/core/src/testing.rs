//! Test support (feature `testing`): each test gets a database of its own — a fresh SQLite
//! file, or a fresh PostgreSQL database dropped when the test ends.

use diesel::connection::SimpleConnection;
use diesel::Connection;

use crate::db::DatabaseUrl;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
        let dir = tempfile::tempdir().unwrap();
        match store {
            Store::Sqlite => TestDb {
                url: DatabaseUrl::Sqlite(dir.path().join("jiesu.db")),
                dir,
                pg_name: None,
            },
            Store::Postgres => {
                let server = postgres_server_url();
                let name = format!(
                    "jiesu_test_{}",
                    crate::secrets::random_secret(20).to_lowercase()
                );
                let mut admin = diesel::PgConnection::establish(&server).unwrap_or_else(|e| {
                    panic!("PostgreSQL tests need a server at {server} (set JIESU_TEST_POSTGRES_URL): {e}")
                });
                admin
                    .batch_execute(&format!("CREATE DATABASE {name}"))
                    .unwrap();
                let mut url = url::Url::parse(&server).unwrap();
                url.set_path(&name);
                TestDb {
                    url: DatabaseUrl::Postgres(url.to_string()),
                    dir,
                    pg_name: Some(name),
                }
            }
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
