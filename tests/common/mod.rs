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

/// Subject and body of a received mail, decoded as a mail client would.
pub fn subject_and_body(raw: &str) -> String {
    let mail = mailparse::parse_mail(raw.as_bytes()).expect("a mail");
    let subject =
        mailparse::MailHeaderMap::get_first_value(&mail.headers[..], "Subject").unwrap_or_default();
    format!("{subject}\n{}", mail.get_body().unwrap_or_default())
}

/// Signs a demo login in over HTTP; its bearer token.
/// A signed-in GET of `path` on the server at `url`: it must answer 200, with JSON.
/// POSTs `body` as JSON with a bearer token: the status and the JSON answer.
pub async fn post_json(
    client: &reqwest::Client,
    url: &str,
    path: &str,
    token: &str,
    body: serde_json::Value,
) -> (u16, serde_json::Value) {
    let res = client
        .post(format!("{url}{path}"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .expect("the server answered");
    let status = res.status().as_u16();
    (status, res.json().await.expect("a JSON answer"))
}

pub async fn get_json(
    client: &reqwest::Client,
    url: &str,
    path: &str,
    token: &str,
) -> serde_json::Value {
    let res = client
        .get(format!("{url}{path}"))
        .bearer_auth(token)
        .send()
        .await
        .expect("the server answered");
    assert_eq!(res.status(), 200, "GET {path}");
    res.json().await.expect("a JSON answer")
}

pub async fn login(client: &reqwest::Client, url: &str, dir: &Path, username: &str) -> String {
    let res = client
        .post(format!("{url}/api/v1/auth/login"))
        .json(&serde_json::json!({"username": username, "password": demo_password(dir, username)}))
        .send()
        .await
        .expect("sign-in answered");
    assert_eq!(res.status(), 200, "{username} signs in");
    let body: serde_json::Value = res.json().await.expect("a JSON answer");
    body["token"].as_str().expect("a token").to_owned()
}

const S3_KEY_ID: &str = "jiesu-test";
const S3_SECRET: &str = "jiesu-test-secret-key";

/// An S3-compatible server on a free loopback port (s3s-fs over `root`) with the bucket
/// `bucket`, running until the test process ends; returns its endpoint URL.
pub fn s3_server(root: &Path, bucket: &str) -> String {
    std::fs::create_dir_all(root.join(bucket)).expect("the bucket's folder");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    let endpoint = format!("http://{}", listener.local_addr().expect("its address"));
    let root = root.to_owned();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("a runtime");
        runtime.block_on(async move {
            let fs = s3s_fs::FileSystem::new(&root).expect("the bucket's root");
            let mut builder = s3s::service::S3ServiceBuilder::new(fs);
            builder.set_auth(s3s::auth::SimpleAuth::from_single(S3_KEY_ID, S3_SECRET));
            let service = builder.build();
            listener.set_nonblocking(true).expect("nonblocking");
            let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
            loop {
                let Ok((socket, _)) = listener.accept().await else {
                    continue;
                };
                let service = service.clone();
                tokio::spawn(async move {
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(socket), service)
                        .await;
                });
            }
        });
    });
    endpoint
}

/// The settings that keep photos in the bucket `bucket` at `endpoint`.
pub fn s3_env(endpoint: &str, bucket: &str) -> Vec<(&'static str, String)> {
    vec![
        ("JIESU_ATTACHMENTS__S3__BUCKET", bucket.to_owned()),
        ("JIESU_ATTACHMENTS__S3__ENDPOINT", endpoint.to_owned()),
        ("JIESU_ATTACHMENTS__S3__ALLOW_HTTP", "true".to_owned()),
        ("JIESU_ATTACHMENTS__S3__ACCESS_KEY_ID", S3_KEY_ID.to_owned()),
        (
            "JIESU_ATTACHMENTS__S3__SECRET_ACCESS_KEY",
            S3_SECRET.to_owned(),
        ),
    ]
}
