//! The web console in a real browser: Debian's headless Chromium driven over WebDriver
//! (chromedriver) against `jiesu serve` on a free port with the demo data.
//!
//! One story, as the people who use it would go through it: a grid member logs a ticket
//! with a photo through the form; a supervisor dispatches it to the pool; the partner
//! unit claims it (and a second, late claim is told plainly that it lost); a replayed
//! sweep escalates it and the street supervisor sees it escalated and reads the charts;
//! the unit resolves it and the grid member's return visit closes it. Around it: a form
//! without its CSRF token is refused, another community's ticket is a 404 page, and a
//! non-image or oversized photo gets a clear form error with nothing written.
//!
//! Every page is photographed at phone (360 px) and desktop width into
//! `target/tmp/console-screenshots/`, and at phone width no page may scroll sideways,
//! every form control must have a label and every control in error must name its message.
//!
//! Needs `chromium` and `chromium-driver` (scripts/test installs them when missing);
//! without them this test fails, it never skips.

mod common;
use common::get_json;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const PHONE: (u32, u32) = (360, 740);
const DESKTOP: (u32, u32) = (1280, 900);

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn start_chromedriver() -> (Killed, u16) {
    for path in [CHROMIUM, CHROMEDRIVER] {
        assert!(
            Path::new(path).exists(),
            "{path} is missing: install Debian's chromium and chromium-driver \
             (scripts/test does: apt-get install -y chromium chromium-driver)"
        );
    }
    let port = free_port();
    let child = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromedriver");
    let child = Killed(child);
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return (child, port);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("chromedriver did not listen on port {port}");
}

struct Browser {
    client: Client,
    base: String,
    shots: PathBuf,
}

impl Browser {
    async fn start(driver_port: u16, base: &str, profile: &Path) -> Browser {
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": CHROMIUM,
                "args": [
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-quic",
                    "--no-first-run",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                    "--disable-dev-shm-usage",
                    "--hide-scrollbars",
                    format!("--user-data-dir={}", profile.display()),
                    format!("--window-size={},{}", DESKTOP.0, DESKTOP.1),
                ]
            }),
        );
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{driver_port}"))
            .await
            .expect("a Chromium session");
        let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("console-screenshots");
        std::fs::create_dir_all(&shots).expect("screenshot folder");
        Browser {
            client,
            base: base.to_owned(),
            shots,
        }
    }

    async fn go(&self, path: &str) {
        self.client
            .goto(&format!("{}{path}", self.base))
            .await
            .unwrap_or_else(|e| panic!("open {path}: {e}"));
    }

    async fn text(&self) -> String {
        self.client
            .execute("return document.body.innerText", vec![])
            .await
            .expect("page text")
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// The page's text once it contains `needle` (pages load after a click on their own
    /// time); fails after 20 s without it, showing what the page says.
    async fn text_with(&self, needle: &str) -> String {
        for _ in 0..200 {
            let text = self.text().await;
            if text.contains(needle) {
                return text;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let text = self.text().await;
        assert!(
            text.contains(needle),
            "waited 20 s for {needle:?} at {}: {text}",
            self.path().await
        );
        text
    }

    /// Waits (up to 20 s) until `script` returns true; returns what it last returned.
    async fn until(&self, script: &str) -> Value {
        let mut last = Value::Null;
        for _ in 0..200 {
            last = self.client.execute(script, vec![]).await.expect("script");
            if last == json!(true) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        last
    }

    async fn path(&self) -> String {
        let url = self.client.current_url().await.expect("current url");
        let query = url.query().map(|q| format!("?{q}")).unwrap_or_default();
        format!("{}{query}", url.path())
    }

    async fn fill(&self, css: &str, value: &str) {
        let field = self
            .client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("field {css}: {e}"));
        field.clear().await.ok();
        field.send_keys(value).await.expect("type");
    }

    async fn choose(&self, css: &str, value: &str) {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("select {css}: {e}"))
            .select_by_value(value)
            .await
            .unwrap_or_else(|e| panic!("option {value} of {css}: {e}"));
    }

    async fn click(&self, css: &str) {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("element {css}: {e}"))
            .click()
            .await
            .unwrap_or_else(|e| panic!("click {css}: {e}"));
    }

    /// Follows the link (or presses the button) the XPath names.
    async fn click_xpath(&self, xpath: &str) {
        self.client
            .find(Locator::XPath(xpath))
            .await
            .unwrap_or_else(|e| panic!("element {xpath}: {e}"))
            .click()
            .await
            .unwrap_or_else(|e| panic!("click {xpath}: {e}"));
    }

    /// Opens a `<details>` section of the ticket page by its summary text.
    async fn open_section(&self, summary: &str) {
        self.client
            .find(Locator::XPath(&format!(
                "//summary[normalize-space()='{summary}']"
            )))
            .await
            .unwrap_or_else(|e| panic!("section {summary}: {e}"))
            .click()
            .await
            .expect("open section");
    }

    async fn sign_in(&self, dir: &Path, username: &str) {
        self.sign_in_with(username, &common::demo_password(dir, username))
            .await;
    }

    async fn sign_in_with(&self, username: &str, password: &str) {
        self.client.delete_all_cookies().await.expect("sign out");
        self.go("/console/login").await;
        self.fill("#username", username).await;
        self.fill("#password", password).await;
        self.click("form[action='/console/login'] button[type=submit]")
            .await;
        self.until("return !location.pathname.startsWith('/console/login')")
            .await;
        assert!(
            !self.path().await.starts_with("/console/login"),
            "{username} could not sign in: {}",
            self.text().await
        );
    }

    /// Photographs the page at phone and desktop width. At phone width the page must not
    /// scroll sideways and every visible form control must have a label.
    async fn shoot(&self, name: &str) {
        for (label, (w, h)) in [("phone", PHONE), ("desktop", DESKTOP)] {
            self.client.set_window_size(w, h).await.expect("resize");
            let inner: Value = self
                .client
                .execute("return window.innerWidth", vec![])
                .await
                .expect("width");
            if label == "phone" {
                assert!(
                    inner.as_u64().is_some_and(|iw| iw <= u64::from(w)),
                    "the phone viewport is {inner} px wide"
                );
                let overflow: Value = self
                    .client
                    .execute(
                        "return document.documentElement.scrollWidth - window.innerWidth",
                        vec![],
                    )
                    .await
                    .expect("overflow");
                assert!(
                    overflow.as_i64().is_some_and(|o| o <= 1),
                    "{name} scrolls sideways on a {w}-px phone by {overflow} px"
                );
                let unlabelled: Value = self
                    .client
                    .execute(
                        "return [...document.querySelectorAll('input:not([type=hidden]),select,textarea')]\
                         .filter(e => e.labels.length === 0 && !e.getAttribute('aria-label'))\
                         .map(e => e.name || e.id)",
                        vec![],
                    )
                    .await
                    .expect("labels");
                assert_eq!(unlabelled, json!([]), "{name}: controls without a label");
                let untied: Value = self
                    .client
                    .execute(
                        "return [...document.querySelectorAll('[aria-invalid=true]')]\
                         .filter(e => !(e.getAttribute('aria-describedby') || '').split(' ')\
                           .some(id => { const d = document.getElementById(id); \
                                         return !!d && d.classList.contains('field-error'); }))\
                         .map(e => e.name || e.id)",
                        vec![],
                    )
                    .await
                    .expect("errors");
                assert_eq!(untied, json!([]), "{name}: errors not tied to their field");
            }
            let png = self.client.screenshot().await.expect("screenshot");
            assert!(png.starts_with(b"\x89PNG"), "a PNG screenshot");
            std::fs::write(self.shots.join(format!("{name}-{label}.png")), png)
                .expect("save screenshot");
        }
    }
}

/// A 1×1 PNG.
const PNG: &[u8] = &[
    0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1F, 0x15, 0xC4,
    0x89, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9C, 0x63, 0xF8, 0xCF, 0xC0, 0xF0,
    0x1F, 0x00, 0x05, 0x00, 0x01, 0xFF, 0x89, 0x99, 0x3D, 0x1D, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45,
    0x4E, 0x44, 0xAE, 0x42, 0x60, 0x82,
];

async fn api_login(http: &reqwest::Client, base: &str, dir: &Path, username: &str) -> String {
    let body: Value = http
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"username": username, "password": common::demo_password(dir, username)}))
        .send()
        .await
        .expect("login")
        .json()
        .await
        .expect("login body");
    body["token"].as_str().expect("token").to_owned()
}

async fn ticket_count(http: &reqwest::Client, base: &str, token: &str) -> usize {
    let body = get_json(http, base, "/api/v1/tickets?limit=200", token).await;
    body["items"].as_array().expect("items").len()
}

/// Fills the new-ticket form with a valid ticket.
async fn fill_ticket(b: &Browser, title: &str) {
    b.go("/console/tickets/new").await;
    b.choose("#category", "property_management").await;
    b.choose("#priority", "normal").await;
    b.fill("#title", title).await;
    b.fill("#description", "5号楼2单元楼道灯不亮，老人夜间上下楼不便")
        .await;
    b.fill("#address", "望京西园一区5号楼2单元").await;
    b.fill("#resident_name", "陈阿姨").await;
    b.fill("#resident_phone", "13900001111").await;
}

/// One story, told in the order people live it: a grid member logs a ticket with a photo,
/// the street supervisor sends it to the pool, a unit claims it (and a colleague's claim
/// wins a race), a sweep escalates it, the unit resolves it and the grid member's return
/// visit closes it; then the administrator's page and a new account. Each page is checked
/// and photographed on the way. It is long because the story is: split into functions it
/// would hide which step depends on which.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn people_run_a_ticket_from_logged_to_closed_in_a_real_browser() {
    let dir = tempfile::tempdir().expect("tempdir");
    let max_bytes = 64 * 1024;
    let (server, base) = common::serve(
        dir.path(),
        &[
            ("JIESU_ATTACHMENTS__MAX_BYTES", max_bytes.to_string()),
            ("JIESU_SCHEDULER__ENABLED", "false".into()),
        ],
    );
    let _server = Killed(server);
    let (_driver, driver_port) = start_chromedriver();
    let profile = tempfile::tempdir().expect("profile dir");
    let b = Browser::start(driver_port, &base, profile.path()).await;
    let http = reqwest::Client::new();
    let admin = api_login(&http, &base, dir.path(), "demo-admin").await;

    // The sign-in page, in Chinese by default and in English on request.
    b.go("/console/").await;
    assert_eq!(b.path().await, "/console/login?next=%2Fconsole%2F");
    assert!(b.text().await.contains("用户名"));
    b.shoot("login").await;
    b.click("a[hreflang=en]").await;
    assert!(b.text().await.contains("Username"));
    b.click("a[hreflang=zh-CN]").await;

    // A wrong password is said plainly, and nobody is signed in.
    b.fill("#username", "demo-grid").await;
    b.fill("#password", "not-the-password").await;
    b.click("form[action='/console/login'] button[type=submit]")
        .await;
    let text = b.text_with("用户名或密码不正确").await;
    assert!(text.contains("用户名或密码不正确"), "{text}");

    // 1. The grid member logs a ticket on a phone, with a photo.
    b.sign_in(dir.path(), "demo-grid").await;
    assert_eq!(b.path().await, "/console/tickets");
    let before = ticket_count(&http, &base, &admin).await;

    // A text file posing as a photo, then one over the limit: a clear form error each,
    // what was typed is kept, and no ticket is written.
    let files = tempfile::tempdir().expect("files");
    let fake = files.path().join("photo.jpg");
    std::fs::write(&fake, "this is not an image").expect("write");
    let big = files.path().join("big.png");
    let mut oversized = PNG.to_vec();
    oversized.resize(max_bytes + 1, 0);
    std::fs::write(&big, oversized).expect("write");
    for (file, message) in [
        (&fake, "只能上传 JPEG、PNG 或 WebP 格式的照片"),
        (&big, "照片太大"),
    ] {
        fill_ticket(&b, "楼道灯不亮").await;
        b.fill("#photo", &file.display().to_string()).await;
        b.click("form[enctype='multipart/form-data'] button[type=submit]")
            .await;
        let text = b.text_with(message).await;
        assert!(text.contains(message), "expected {message:?} in {text}");
        let kept: Value = b
            .client
            .execute("return document.getElementById('title').value", vec![])
            .await
            .expect("title");
        assert_eq!(kept, json!("楼道灯不亮"), "the form keeps what was typed");
        let invalid: Value = b
            .client
            .execute(
                "return document.getElementById('photo').getAttribute('aria-invalid')",
                vec![],
            )
            .await
            .expect("aria-invalid");
        assert_eq!(invalid, json!("true"));
    }
    b.shoot("new-ticket-photo-error").await;
    assert_eq!(
        ticket_count(&http, &base, &admin).await,
        before,
        "a refused form writes nothing"
    );

    let photo = files.path().join("light.png");
    std::fs::write(&photo, PNG).expect("write");
    fill_ticket(&b, "楼道灯不亮").await;
    b.shoot("new-ticket").await;
    b.fill("#photo", &photo.display().to_string()).await;
    b.click("form[enctype='multipart/form-data'] button[type=submit]")
        .await;
    b.text_with("工单已登记").await;
    let path = b.path().await;
    assert!(path.ends_with("?done=logged"), "{path}");
    let id: i64 = path
        .trim_start_matches("/console/tickets/")
        .split('?')
        .next()
        .and_then(|n| n.parse().ok())
        .expect("ticket id in the URL");
    let text = b.text().await;
    assert!(text.contains("工单已登记"), "{text}");
    assert!(text.contains("待派单"));
    let photo_ok = b
        .until("const i = document.querySelector('.photos img'); return !!i && i.complete && i.naturalWidth === 1")
        .await;
    assert_eq!(photo_ok, json!(true), "the photo is shown on the ticket");
    assert_eq!(ticket_count(&http, &base, &admin).await, before + 1);
    b.shoot("ticket-logged").await;

    // The grid member's list shows it with its deadline.
    b.go("/console/tickets").await;
    let text = b.text().await;
    assert!(
        text.contains("楼道灯不亮") && text.contains("响应"),
        "{text}"
    );
    b.shoot("my-tickets").await;

    // 2. A form without its CSRF token is refused and changes nothing.
    b.sign_in(dir.path(), "demo-supervisor").await;
    b.go(&format!("/console/tickets/{id}")).await;
    b.open_section("作废").await;
    b.fill("#cancel-reason", "测试").await;
    b.click("#cancel-confirm").await;
    b.client
        .execute(
            "document.querySelectorAll('form input[name=csrf]').forEach(e => e.remove())",
            vec![],
        )
        .await
        .expect("remove the token");
    b.click("form[action$='/act'] input[value=cancel] ~ button[type=submit]")
        .await;
    let text = b.text_with("表单已失效").await;
    assert!(
        text.contains("403") && text.contains("表单已失效"),
        "{text}"
    );
    let detail = get_json(&http, &base, &format!("/api/v1/tickets/{id}"), &admin).await;
    assert_eq!(
        detail["status"], "reported",
        "the refused form cancelled nothing"
    );
    b.shoot("csrf-refused").await;

    // 3. The street supervisor dispatches it to the community's pool.
    b.go(&format!("/console/tickets/{id}")).await;
    b.open_section("派单 / 吹哨报到").await;
    b.choose("#dispatch-target", "pool").await;
    b.fill("#dispatch-note", "请结对物业尽快处理").await;
    b.click("button[name=action][value=dispatch]").await;
    assert!(b.text_with("已派单。").await.contains("已派单。"));

    // 4. The partner unit claims it from the pool; a second claim is told it lost.
    b.sign_in(dir.path(), "demo-unit").await;
    assert_eq!(b.path().await, "/console/today");
    b.go("/console/pool").await;
    let text = b.text().await;
    assert!(
        text.contains("楼道灯不亮"),
        "the pool shows the ticket: {text}"
    );
    assert!(
        !text.contains("陈阿姨") && !text.contains("13900001111"),
        "the pool does not show the resident's contact"
    );
    b.shoot("pool").await;
    // A colleague's claim gets there first, while this page is open.
    let colleague = api_login(&http, &base, dir.path(), "demo-unit").await;
    let first = http
        .post(format!("{base}/api/v1/tickets/{id}/claim"))
        .bearer_auth(&colleague)
        .send()
        .await
        .expect("claim");
    assert_eq!(first.status(), 200);
    b.click(&format!("form[action='/console/pool/{id}/claim'] button"))
        .await;
    let text = b.text_with("手慢了").await;
    assert!(text.contains("手慢了"), "the lost claim says so: {text}");
    b.shoot("pool-claim-lost").await;

    // The unit holds it now (its colleague's claim), with the resident's contact.
    b.go(&format!("/console/tickets/{id}")).await;
    let text = b.text().await;
    assert!(text.contains("已认领") && text.contains("陈阿姨"), "{text}");
    b.open_section("记录进展").await;
    b.fill("#progress-note", "已派电工上门检查线路").await;
    b.click("form[action$='/act'] input[value=progress] ~ button[type=submit]")
        .await;
    assert!(b.text_with("进展已记录").await.contains("进展已记录"));
    b.shoot("ticket-in-progress").await;

    // 5. A replayed sweep, a month on, escalates the late ticket to the street.
    let (out, _, stderr) = common::run(
        common::jiesu(dir.path())
            .args(["scheduler", "sweep", "--as-of"])
            .arg((chrono::Utc::now() + chrono::Duration::days(30)).to_rfc3339()),
    );
    assert!(out.status.success(), "{stderr}");

    b.sign_in(dir.path(), "demo-supervisor").await;
    assert_eq!(b.path().await, "/console/today");
    b.go("/console/overdue").await;
    let text = b.text().await;
    let escalated = text
        .split("已升级工单")
        .nth(1)
        .expect("the escalated section");
    assert!(
        escalated.contains("楼道灯不亮") && escalated.contains("街道"),
        "the supervisor sees the ticket escalated to the street: {escalated}"
    );
    b.shoot("overdue").await;
    b.go(&format!("/console/tickets/{id}")).await;
    assert!(
        b.text().await.contains("超时升级"),
        "the rise is in the timeline"
    );
    b.shoot("ticket-escalated").await;

    // The street urges the unit holding it (催办): a note, the notice, the timeline.
    b.open_section("催办").await;
    b.fill("#urge-note", "请今日内修好楼道灯").await;
    b.click("form[action$='/act'] input[value=urge] ~ button[type=submit]")
        .await;
    let text = b.text_with("已催办").await;
    assert!(
        text.contains("已催办") && text.contains("请今日内修好楼道灯"),
        "the urge is done and in the timeline: {text}"
    );
    b.shoot("ticket-urged").await;

    // The supervisor reads the charts: the street's communities as bars, and this
    // week's volume on the line, with the same figures in tables.
    b.go("/console/stats").await;
    let charts: Value = b
        .client
        .execute(
            "return [...document.querySelectorAll('figure.chart svg[role=img]')]\
             .map(s => ({label: s.getAttribute('aria-label'), text: s.textContent, \
             bars: s.querySelectorAll('rect').length, points: s.querySelectorAll('circle').length}))",
            vec![],
        )
        .await
        .expect("charts");
    let charts = charts.as_array().expect("charts list");
    assert_eq!(charts.len(), 2, "{charts:?}");
    assert!(charts[0]["label"]
        .as_str()
        .unwrap_or("")
        .contains("下级三率"));
    assert!(
        charts[0]["text"]
            .as_str()
            .unwrap_or("")
            .contains("望京西园一区"),
        "the bars name the communities: {charts:?}"
    );
    assert_eq!(charts[1]["points"], json!(12), "twelve weeks on the line");
    let week_counts: Value = b
        .client
        .execute(
            "const cells = [...document.querySelectorAll('figure.chart figcaption td')];\
             return Number(cells[cells.length - 1].textContent)",
            vec![],
        )
        .await
        .expect("weekly table");
    assert!(
        week_counts.as_i64().is_some_and(|n| n >= 1),
        "this week counts the new ticket: {week_counts}"
    );
    b.shoot("stats").await;
    // On a phone the charts keep their lettering legible (at least 11 px as drawn on the
    // screen) and scroll sideways inside their frames; the page itself does not.
    b.client
        .set_window_size(PHONE.0, PHONE.1)
        .await
        .expect("resize");
    let smallest = number(
        &b,
        "return Math.floor(Math.min(...[...document.querySelectorAll('figure.chart svg')].flatMap(s => {\
           const k = s.getBoundingClientRect().width / s.width.baseVal.value;\
           return [...s.querySelectorAll('text')].map(t => parseFloat(getComputedStyle(t).fontSize) * k);\
         })))",
    )
    .await;
    assert!(
        smallest >= 11,
        "the charts' smallest lettering on a phone: {smallest} px"
    );
    b.client
        .set_window_size(DESKTOP.0, DESKTOP.1)
        .await
        .expect("resize");
    // The CSV download works with the console's session.
    let csv_href: Value = b
        .client
        .execute(
            "return document.querySelector('a[href^=\"/api/v1/stats.csv\"]').getAttribute('href')",
            vec![],
        )
        .await
        .expect("csv link");
    let csv: Value = b
        .client
        .execute(
            "return fetch(arguments[0]).then(r => r.status + ' ' + r.headers.get('content-type'))",
            vec![csv_href],
        )
        .await
        .expect("csv fetch");
    assert_eq!(csv, json!("200 text/csv; charset=utf-8"));
    b.go("/console/lists").await;
    b.shoot("lists").await;

    // 6. The unit resolves it; the grid member's return visit closes it.
    b.sign_in(dir.path(), "demo-unit").await;
    b.go(&format!("/console/tickets/{id}")).await;
    b.open_section("办结").await;
    b.fill("#resolve-note", "更换灯具，已恢复照明").await;
    b.click("form[action$='/act'] input[value=resolve] ~ button[type=submit]")
        .await;
    assert!(b
        .text_with("已办结，等待回访")
        .await
        .contains("已办结，等待回访"));

    b.sign_in(dir.path(), "demo-grid").await;
    b.go(&format!("/console/tickets/{id}")).await;
    b.shoot("return-visit").await;
    b.click("input[name=satisfaction][value=satisfied]").await;
    b.fill("#feedback-comment", "居民很满意").await;
    b.click("form[action$='/act'] input[value=feedback] ~ button[type=submit]")
        .await;
    let text = b.text_with("回访已记录").await;
    assert!(
        text.contains("回访已记录") && text.contains("已办结"),
        "{text}"
    );
    b.shoot("ticket-closed").await;

    // 7. Another community's ticket is a 404 page for this grid member.
    let district = api_login(&http, &base, dir.path(), "demo-district").await;
    let communities = get_json(
        &http,
        &base,
        "/api/v1/org-units?kind=community&limit=200",
        &district,
    )
    .await;
    let own = detail["community_id"].as_i64().expect("community");
    let other = communities["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|c| c["id"].as_i64())
        .find(|c| *c != own)
        .expect("another community");
    let elsewhere: Value = http
        .post(format!("{base}/api/v1/tickets"))
        .bearer_auth(&district)
        .json(
            &json!({"category": "property_management", "title": "别处的工单",
                      "description": "另一个社区", "address": "别处", "community_id": other}),
        )
        .send()
        .await
        .expect("create")
        .json()
        .await
        .expect("created");
    let elsewhere = elsewhere["id"]
        .as_i64()
        .unwrap_or_else(|| panic!("a ticket elsewhere: {elsewhere}"));
    b.go(&format!("/console/tickets/{elsewhere}")).await;
    let text = b.text().await;
    assert!(
        text.contains("404") && text.contains("页面不存在"),
        "{text}"
    );
    assert!(!text.contains("别处的工单"));
    b.shoot("not-found").await;

    // 8. The administrator's page, with the outbox and an Open311 key issued once.
    b.sign_in(dir.path(), "demo-admin").await;
    assert_eq!(b.path().await, "/console/admin");
    b.fill("#channel", "city-app").await;
    b.click("form[action='/console/admin/open311-keys#keys'] button")
        .await;
    b.text_with("只显示这一次").await;
    let key: Value = b
        .client
        .execute(
            "return document.getElementById('issued-key').textContent",
            vec![],
        )
        .await
        .expect("issued key");
    let key = key.as_str().expect("key text").to_owned();
    // The key is accepted (the request then fails only for want of a location); a
    // forged one is refused.
    for (api_key, status) in [(key.as_str(), 400), ("forged-key-0000000000", 403)] {
        let answer = http
            .post(format!("{base}/open311/v2/requests.json"))
            .form(&[
                ("api_key", api_key),
                ("service_code", "property_management"),
                ("description", "路灯不亮"),
            ])
            .send()
            .await
            .expect("open311 request");
        assert_eq!(answer.status(), status, "{api_key}");
    }
    let text = b.text().await;
    assert!(
        text.contains("邮件发送状态") && text.contains("组织架构"),
        "{text}"
    );
    b.shoot("admin").await;

    // The resident asks for their data to be erased: the administrator does it on the
    // ticket's page, with the reason; the contact is gone and the timeline says so.
    b.go(&format!("/console/tickets/{id}")).await;
    assert!(b.text().await.contains("13900001111"));
    b.open_section("删除居民个人信息").await;
    b.fill("#erase_resident-reason", "居民来电申请删除个人信息")
        .await;
    b.click("#erase_resident-confirm").await;
    b.click("form[action$='/act'] input[value=erase_resident] ~ button[type=submit]")
        .await;
    let text = b.text_with("居民个人信息已删除").await;
    assert!(
        !text.contains("13900001111") && !text.contains("陈阿姨"),
        "the contact is gone: {text}"
    );
    assert!(
        text.contains("删除居民信息") && text.contains("居民来电申请删除个人信息"),
        "the timeline records it: {text}"
    );
    b.shoot("ticket-resident-erased").await;

    // On paper the whole story fits one A4 工单: facts, timeline and the signature lines,
    // without the header, navigation or forms.
    let pdf = b
        .client
        .print(
            fantoccini::wd::PrintConfiguration::builder()
                .size(fantoccini::wd::PrintSize::A4)
                .shrink_to_fit(false)
                .build()
                .expect("print settings"),
        )
        .await
        .expect("print to PDF");
    assert!(pdf.starts_with(b"%PDF"), "a PDF");
    std::fs::write(b.shots.join("ticket-print.pdf"), &pdf).expect("save the PDF");
    assert_eq!(pdf_pages(&pdf), 1, "the ticket prints on one A4 page");
    b.go("/console/admin").await;

    // 9. An account made in the page, with a password shown once; its owner signs in
    //    and sets a password of their own.
    b.fill("#new-username", "li.grid").await;
    b.fill("#new-display_name", "李网格").await;
    b.choose("#new-role", "grid_member").await;
    // The grid is found in the org tree, one level at a time, and its "new account here"
    // fills the form's unit (what was typed stays: the form is filled again below).
    for name in ["北京市", "朝阳区", "望京街道", "望京西园一区社区"] {
        b.click_xpath(&format!(
            "//section[@aria-labelledby='org']//table//a[normalize-space()='{name}']"
        ))
        .await;
        b.text_with(&format!("› {name}")).await;
    }
    b.click_xpath(
        "//section[@aria-labelledby='org']//tr[td[normalize-space()='第1网格']]//a[normalize-space()='在此新建账号']",
    )
    .await;
    b.text_with("第1网格 (grid)").await;
    b.fill("#new-username", "li.grid").await;
    b.fill("#new-display_name", "李网格").await;
    b.choose("#new-role", "grid_member").await;
    b.click("form[action='/console/admin/users#users'] button[type=submit]")
        .await;
    b.until("return document.getElementById('issued-password') !== null")
        .await;
    let issued: Value = b
        .client
        .execute(
            "return document.getElementById('issued-password').textContent",
            vec![],
        )
        .await
        .expect("issued password");
    let issued = issued.as_str().expect("password text").to_owned();
    assert!(b.text().await.contains("李网格"));
    b.shoot("admin-account-created").await;
    b.sign_in_with("li.grid", &issued).await;
    b.go("/console/account").await;
    b.fill("#current_password", &issued).await;
    b.fill("#new_password", "李网格自己设的新密码2026").await;
    b.fill("#repeat_password", "李网格自己设的新密码2026").await;
    b.click("form[action='/console/account/password'] button[type=submit]")
        .await;
    b.text_with("密码已修改").await;
    b.shoot("account").await;
    b.sign_in_with("li.grid", "李网格自己设的新密码2026").await;
    assert_eq!(b.path().await, "/console/tickets");

    b.client.close().await.expect("close the browser");
}

/// The pages of a PDF (its `/Type /Page` objects, not the `/Pages` tree).
fn pdf_pages(pdf: &[u8]) -> usize {
    let needle = b"/Type /Page";
    pdf.windows(needle.len() + 1)
        .filter(|w| &w[..needle.len()] == needle && w[needle.len()] != b's')
        .count()
}

/// `s` for a query string.
fn form_urlencoded_str(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A number a script read from the page (a figure's text, a count).
async fn number(b: &Browser, script: &str) -> i64 {
    let v = b.client.execute(script, vec![]).await.expect("script");
    v.as_i64()
        .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
        .unwrap_or_else(|| panic!("{script} gave {v}"))
}

/// The street office opens its day: the supervisor lands on the front page, whose figures
/// equal `GET /api/v1/today` for the same scope, each a link to the list it is the total
/// of; the map has one point per open ticket with coordinates, and each community is
/// shaded by its late tickets as the API counts them. The unit's day shows its pool.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_street_office_opens_its_day_on_the_front_page() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (server, base) = common::serve(dir.path(), &[("JIESU_SCHEDULER__ENABLED", "false".into())]);
    let _server = Killed(server);
    let http = reqwest::Client::new();
    let street = api_login(&http, &base, dir.path(), "demo-supervisor").await;
    let grid = api_login(&http, &base, dir.path(), "demo-grid").await;

    // Three tickets today in 望京西园一区: two at a point inside it, one without.
    let mut ids = Vec::new();
    for (title, point) in [
        ("水管漏水", Some((39.9951, 116.4702))),
        ("垃圾满溢", Some((39.9948, 116.4695))),
        ("噪音扰民", None),
    ] {
        let mut body = json!({"category": "property_management", "title": title,
            "description": "请尽快处理", "address": format!("{title}楼"), "resident_phone": "13900005678"});
        if let Some((lat, long)) = point {
            body["latitude"] = json!(lat);
            body["longitude"] = json!(long);
        }
        let (status, created) =
            common::post_json(&http, &base, "/api/v1/tickets", &grid, body).await;
        assert_eq!(status, 201, "{created}");
        ids.push(created["id"].as_i64().expect("id"));
    }
    // One of them is late: the wall clock cannot be moved under a browser, so its response
    // deadline is set an hour back in the database.
    {
        use diesel::prelude::*;
        use jiesu_core::schema::tickets;
        let mut conn = diesel::SqliteConnection::establish(
            &dir.path().join("data/jiesu.db").display().to_string(),
        )
        .expect("open the database");
        let hour_ago = chrono::Utc::now().naive_utc() - chrono::Duration::hours(1);
        diesel::update(tickets::table.find(ids[0]))
            .set(tickets::respond_by.eq(Some(hour_ago)))
            .execute(&mut conn)
            .expect("move the deadline back");
    }

    let (_driver, driver_port) = start_chromedriver();
    let profile = tempfile::tempdir().expect("profile dir");
    let b = Browser::start(driver_port, &base, profile.path()).await;
    b.sign_in(dir.path(), "demo-supervisor").await;
    assert_eq!(
        b.path().await,
        "/console/today",
        "a street office's day starts here"
    );
    b.shoot("today").await;
    // On a phone the header is one line; its menu opens behind one button.
    b.client
        .set_window_size(PHONE.0, PHONE.1)
        .await
        .expect("resize");
    assert!(
        number(
            &b,
            "return document.querySelector('header.top').offsetHeight"
        )
        .await
            <= 64,
        "a compact header on a phone"
    );
    assert_eq!(
        number(&b, "return document.querySelector('#top-menu a[href=\"/console/tickets\"]').offsetParent === null ? 0 : 1").await,
        0,
        "the menu is folded"
    );
    b.click(".menu-toggle").await;
    assert_eq!(
        number(&b, "return document.querySelector('#top-menu a[href=\"/console/tickets\"]').offsetParent === null ? 0 : 1").await,
        1,
        "the menu opens"
    );
    let expanded: Value = b
        .client
        .execute(
            "return document.querySelector('.menu-toggle').getAttribute('aria-expanded')",
            vec![],
        )
        .await
        .expect("expanded");
    assert_eq!(expanded, json!("true"));
    b.client
        .set_window_size(DESKTOP.0, DESKTOP.1)
        .await
        .expect("resize");
    let api = get_json(&http, &base, "/api/v1/today", &street).await;

    // Every figure equals the API's, and the list it links to has that total.
    let figure =
        |tile: &str| format!("return document.querySelector('#tile-{tile} .figure').textContent");
    let mut tiles: Vec<(String, i64)> = vec![
        (
            "logged".into(),
            api["intake"]["today"].as_i64().expect("intake"),
        ),
        (
            "due".into(),
            api["due_today"]["count"].as_i64().expect("due"),
        ),
        (
            "warned".into(),
            api["warned"]["count"].as_i64().expect("warned"),
        ),
        ("late".into(), api["late"]["count"].as_i64().expect("late")),
        (
            "escalated".into(),
            api["escalated"]["count"].as_i64().expect("escalated"),
        ),
    ];
    for s in api["open"].as_array().expect("open") {
        tiles.push((
            s["status"].as_str().expect("status").to_owned(),
            s["count"].as_i64().expect("count"),
        ));
    }
    assert!(
        tiles[0].1 >= 6,
        "the demo's three and ours are today's: {tiles:?}"
    );
    assert_eq!(tiles[3].1, 1, "one late ticket");
    for (tile, n) in &tiles {
        assert_eq!(number(&b, &figure(tile)).await, *n, "the {tile} figure");
    }
    let mut links = Vec::new();
    for (tile, n) in &tiles {
        let href: Value = b
            .client
            .execute(
                &format!("return document.querySelector('#tile-{tile}').getAttribute('href')"),
                vec![],
            )
            .await
            .expect("href");
        links.push((tile, *n, href.as_str().expect("a link").to_owned()));
    }
    for (tile, n, href) in links {
        b.go(&href).await;
        let total = b.text().await;
        let total = total
            .lines()
            .find(|l| l.starts_with("共 ") && l.ends_with(" 条"))
            .unwrap_or_else(|| panic!("the list's total at {href}: {total}"));
        assert_eq!(
            total,
            format!("共 {n} 条"),
            "the {tile} figure's list at {href}"
        );
    }
    b.go("/console/tickets?overdue=1").await;
    assert!(
        b.text().await.contains("水管漏水"),
        "the late list holds the late ticket"
    );
    // Its CSV holds what the list shows: the header and the one late ticket.
    b.client
        .execute(
            "const a = [...document.querySelectorAll('a[download]')].find(a => a.href.includes('/api/v1/tickets.csv'));\
             window.csvLines = null;\
             fetch(a.href).then(r => r.text()).then(t => { window.csvLines = t.trim().split('\\n'); });",
            vec![],
        )
        .await
        .expect("fetch the CSV");
    assert_eq!(
        b.until("return window.csvLines !== null").await,
        json!(true)
    );
    let lines: Value = b
        .client
        .execute("return window.csvLines", vec![])
        .await
        .expect("lines");
    let lines = lines.as_array().expect("lines");
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(
        lines[1].as_str().expect("a row").contains("水管漏水"),
        "{lines:?}"
    );

    // The map: one point per open ticket with coordinates (the API's), the late one red.
    b.go("/console/today").await;
    // (Being worked: open, not resolved awaiting the return visit.)
    let open = "reported,dispatched,claimed,in_progress,returned,reopened";
    let listed = get_json(
        &http,
        &base,
        &format!("/api/v1/tickets?status={open}&limit=200"),
        &street,
    )
    .await;
    let mut placed: Vec<i64> = listed["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|t| !t["latitude"].is_null())
        .map(|t| t["id"].as_i64().expect("id"))
        .collect();
    placed.sort();
    let points: Value = b
        .client
        .execute("return [...document.querySelectorAll('#day-map a.point')].map(a => Number(a.dataset.ticket))", vec![])
        .await
        .expect("points");
    let mut points: Vec<i64> = serde_json::from_value(points).expect("ids");
    points.sort();
    assert!(placed.contains(&ids[0]) && placed.contains(&ids[1]) && !placed.contains(&ids[2]));
    assert_eq!(points, placed);
    assert_eq!(
        number(
            &b,
            "return document.querySelectorAll('#day-map circle.point.late').length"
        )
        .await,
        1
    );
    assert_eq!(
        number(&b, &format!("return document.querySelectorAll('#day-map a.point[data-ticket=\"{}\"] circle.late').length", ids[0])).await,
        1,
        "the late ticket's point is the red one"
    );
    // Each community's shade follows its late tickets as the API lists them.
    let places: Value = b
        .client
        .execute(
            "return [...document.querySelectorAll('#day-map a.place')].map(a => [Number(a.dataset.place), Number(a.dataset.late), a.firstElementChild.nextElementSibling.getAttribute('class')])",
            vec![],
        )
        .await
        .expect("places");
    let places: Vec<(i64, i64, String)> = serde_json::from_value(places).expect("places");
    assert_eq!(
        places.len(),
        2,
        "the street's two communities are on the map"
    );
    for (id, late, class) in &places {
        let listed = get_json(
            &http,
            &base,
            &format!("/api/v1/tickets?org_unit_id={id}&overdue=true&limit=200"),
            &street,
        )
        .await;
        let n = listed["items"].as_array().expect("items").len() as i64;
        assert_eq!(*late, n, "community {id}'s late tickets");
        let shade = if n == 0 {
            ["shade-none", "shade-open"].as_slice()
        } else {
            ["shade-late-1"].as_slice()
        };
        assert!(
            shade.contains(&class.as_str()),
            "community {id} with {n} late is shaded {class}"
        );
    }
    assert!(places
        .iter()
        .any(|(_, late, class)| *late == 1 && class == "shade-late-1"));

    // The hotspots page: each cell's count is the total of the list it links to.
    b.go("/console/hotspots?days=7").await;
    let cells: Value = b
        .client
        .execute(
            "return [...document.querySelectorAll('td.num a')].map(a => [a.textContent, a.getAttribute('href')])",
            vec![],
        )
        .await
        .expect("cells");
    let cells: Vec<(String, String)> = serde_json::from_value(cells).expect("cells");
    assert!(!cells.is_empty(), "today's tickets make cells");
    b.shoot("hotspots").await;
    for (count, href) in cells.iter().take(3) {
        b.go(href).await;
        let text = b.text().await;
        let total = text
            .lines()
            .find(|l| l.starts_with("共 ") && l.ends_with(" 条"))
            .unwrap_or_else(|| panic!("a total at {href}: {text}"));
        assert_eq!(total, format!("共 {count} 条"), "the cell's list at {href}");
    }

    // A resident calls back: the ticket is found by its number, by the phone's last four
    // digits (our three were logged with one phone), or by the address.
    let ticket_number = get_json(
        &http,
        &base,
        &format!("/api/v1/tickets/{}", ids[0]),
        &street,
    )
    .await["number"]
        .as_str()
        .expect("number")
        .to_owned();
    let total = |text: String| {
        text.lines()
            .find(|l| l.starts_with("共 ") && l.ends_with(" 条"))
            .map(str::to_owned)
            .unwrap_or_else(|| panic!("a total in {text}"))
    };
    b.go("/console/tickets").await;
    b.fill("#q", &ticket_number).await;
    b.click("form[role=search] button[type=submit]").await;
    // The list before the search also shows a total: wait for the searched page.
    let searched = b
        .until("return new URLSearchParams(location.search).get('q') !== null && document.readyState === 'complete'")
        .await;
    assert_eq!(searched, json!(true), "the search was sent");
    assert_eq!(total(b.text_with("共 ").await), "共 1 条", "by number");
    assert!(b.text().await.contains("水管漏水"));
    b.go("/console/tickets?q=5678").await;
    assert_eq!(
        total(b.text().await),
        "共 3 条",
        "by the phone's last four digits"
    );
    b.go(&format!(
        "/console/tickets?address={}",
        form_urlencoded_str("垃圾满溢楼")
    ))
    .await;
    assert_eq!(total(b.text().await), "共 1 条", "by the address");

    // The unit claims the late one; it finds it by number, never by the resident's phone.
    let unit = api_login(&http, &base, dir.path(), "demo-unit").await;
    for (path, token, body) in [
        (
            format!("/api/v1/tickets/{}/dispatch", ids[0]),
            &street,
            json!({"pool": true}),
        ),
        (
            format!("/api/v1/tickets/{}/claim", ids[0]),
            &unit,
            json!({}),
        ),
    ] {
        let (status, answer) = common::post_json(&http, &base, &path, token, body).await;
        assert_eq!(status, 200, "{path}: {answer}");
    }
    b.sign_in(dir.path(), "demo-unit").await;
    b.go(&format!("/console/tickets?q={ticket_number}")).await;
    let text = b.text().await;
    assert_eq!(
        total(text.clone()),
        "共 1 条",
        "the unit finds its ticket by number"
    );
    assert!(
        text.contains("望京西园一区社区") && text.contains("望京宜居物业服务有限公司"),
        "the list shows the community and the unit holding it: {text}"
    );
    b.go("/console/tickets?q=5678").await;
    assert_eq!(
        total(b.text().await),
        "共 0 条",
        "a unit finds nothing by a resident's phone"
    );

    // The unit waits on the resident through the ticket's page, then resumes.
    b.go(&format!("/console/tickets/{}", ids[0])).await;
    b.open_section("等待居民").await;
    b.fill("#pause-reason", "居民出差，下周回来").await;
    b.click("form[action$='/act'] input[value=pause] ~ button[type=submit]")
        .await;
    b.text_with("已转为等待居民").await;
    let paused = get_json(
        &http,
        &base,
        &format!("/api/v1/tickets/{}", ids[0]),
        &street,
    )
    .await;
    assert!(!paused["waiting_on_resident"].is_null(), "{paused}");
    b.fill("#resume-note", "居民已回").await;
    b.click("form[action$='/act'] input[value=resume] ~ button[type=submit]")
        .await;
    b.text_with("已恢复办理").await;
    let resumed = get_json(
        &http,
        &base,
        &format!("/api/v1/tickets/{}", ids[0]),
        &street,
    )
    .await;
    assert!(resumed["waiting_on_resident"].is_null(), "{resumed}");

    // The unit's day: the pool waiting for it, linked to the pool.
    let pool = get_json(&http, &base, "/api/v1/pool?limit=200", &unit).await;
    b.sign_in(dir.path(), "demo-unit").await;
    assert_eq!(b.path().await, "/console/today");
    assert_eq!(
        number(&b, &figure("pool")).await,
        pool["items"].as_array().expect("items").len() as i64
    );
    assert!(b.text().await.contains("抢单池待认领"));
    b.shoot("today-unit").await;

    // The pool page tells the unit of a ticket sent to the pool after it was opened.
    b.go("/console/pool").await;
    let waiting = pool["items"].as_array().expect("items").len();
    assert_eq!(
        number(
            &b,
            "return document.getElementById('pool-news').hidden ? 0 : 1"
        )
        .await,
        0,
        "nothing to tell yet"
    );
    let (status, answer) = common::post_json(
        &http,
        &base,
        &format!("/api/v1/tickets/{}/dispatch", ids[1]),
        &street,
        json!({"pool": true}),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    b.client
        .execute("window.dispatchEvent(new Event('focus'))", vec![])
        .await
        .expect("focus");
    let told = b
        .until("const n = document.getElementById('pool-news'); return !n.hidden && n.querySelector('a[href=\"/console/pool\"]') !== null")
        .await;
    assert_eq!(told, json!(true), "the pool page says it changed");
    let news = b.text().await;
    assert!(
        news.contains(&format!("现有待认领工单：{}", waiting + 1)),
        "{news}"
    );
}
