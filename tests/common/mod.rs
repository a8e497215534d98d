//! What the binary's end-to-end tests share: the `jiesu` command with the repo's config,
//! and starting `jiesu serve` until it says where it serves.

#![allow(dead_code)] // each test crate uses its part

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

/// The binary under test: `JIESU_TEST_BIN` when set (scripts/test sets it to the release
/// build, the binary as deployed), else the one cargo built for these tests.
pub fn bin() -> std::path::PathBuf {
    std::env::var_os("JIESU_TEST_BIN")
        .filter(|p| !p.is_empty())
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| env!("CARGO_BIN_EXE_jiesu").into())
}

/// `jiesu` with the repo's config folder, run in `dir`, with no stray JIESU_ settings.
pub fn jiesu(dir: &Path) -> Command {
    let mut cmd = Command::new(bin());
    cmd.current_dir(dir)
        .env(
            "JIESU_CONFIG_DIR",
            Path::new(env!("CARGO_MANIFEST_DIR")).join("config"),
        )
        .env_remove("JIESU_ENVIRONMENT")
        .env_remove("JIESU_DATABASE__URL")
        .env_remove("JIESU_PRODUCTION")
        .env_remove("JIESU_AUTH__JWT_SECRET")
        .env("JIESU_LOG__LEVEL", "info");
    cmd
}

pub fn run(cmd: &mut Command) -> (Output, String, String) {
    let out = cmd.stdin(Stdio::null()).output().expect("run jiesu");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (out, stdout, stderr)
}

/// Reads stderr until the server says where it serves; returns that URL. The rest of
/// stderr is drained so the server never blocks on a full pipe.
pub fn wait_for_url(child: &mut Child) -> String {
    let stderr = child.stderr.take().expect("stderr piped");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            // Text logs say url=…; JSON logs (production) "url":"…".
            let url = if let Some(rest) = line.split("url=").nth(1) {
                rest.split_whitespace().next()
            } else if let Some(rest) = line.split("\"url\":\"").nth(1) {
                rest.split('"').next()
            } else {
                None
            };
            if let Some(url) = url {
                let _ = tx.send(url.to_owned());
            }
        }
    });
    rx.recv_timeout(Duration::from_secs(60))
        .expect("server announced its URL")
}

/// `jiesu serve` in `dir` on a free port, with these settings; returns it and its URL.
pub fn serve(dir: &Path, env: &[(&str, String)]) -> (Child, String) {
    let mut cmd = jiesu(dir);
    cmd.arg("serve")
        .env("JIESU_SERVER__BIND", "127.0.0.1:0")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("spawn jiesu serve");
    let url = wait_for_url(&mut child);
    (child, url)
}

/// `jiesu admin load-demo` in `dir` against the database at `url`.
pub fn load_demo(dir: &Path, url: &str) {
    let (out, _, stderr) = run(jiesu(dir)
        .args(["admin", "load-demo"])
        .env("JIESU_DATABASE__URL", url));
    assert!(out.status.success(), "{stderr}");
}

/// A demo login's password from `<dir>/data/demo-credentials.txt`.
pub fn demo_password(dir: &Path, username: &str) -> String {
    let creds =
        std::fs::read_to_string(dir.join("data/demo-credentials.txt")).expect("demo credentials");
    creds
        .lines()
        .find(|l| l.split_whitespace().nth(1) == Some(username))
        .and_then(|l| l.split_whitespace().nth(2))
        .expect("demo login")
        .to_owned()
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
        self.inbox.lock().expect("inbox").push((
            self.to.clone(),
            String::from_utf8_lossy(&self.data).into_owned(),
        ));
        mailin_embedded::response::OK
    }
}

/// A real SMTP server (mailin-embedded) on 127.0.0.1:`port`, in a thread of its own.
pub fn smtp_server(port: u16) -> Inbox {
    let listener = std::net::TcpListener::bind(("127.0.0.1", port)).expect("SMTP port");
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

/// A port nothing listens on (yet).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// Subject and body of a received mail, decoded as a mail client would.
pub fn subject_and_body(raw: &str) -> String {
    let mail = mailparse::parse_mail(raw.as_bytes()).expect("a mail");
    let subject =
        mailparse::MailHeaderMap::get_first_value(&mail.headers[..], "Subject").unwrap_or_default();
    format!("{subject}\n{}", mail.get_body().unwrap_or_default())
}
