//! The web console over HTTP on both stores: sessions and CSRF, scope (404 pages),
//! racing claims through the pool page, and photo checks on the new-ticket form. The
//! same pages in a real browser are in the workspace's `tests/console.rs`.

use std::sync::Arc;

use reqwest::header::{CONTENT_TYPE, COOKIE, LOCATION, SET_COOKIE};
use reqwest::redirect::Policy;
use serde_json::{json, Value};

use crate::helpers::{png, StatusCode, Store, TestApp};

/// A browser-like client: keeps the console's cookies, does not follow redirects.
struct Console {
    base: String,
    http: reqwest::Client,
    cookies: Vec<(String, String)>,
}

/// The value of the first `name="csrf"` field of a page.
fn csrf_of(html: &str) -> String {
    let at = html.find("name=\"csrf\" value=\"").expect("a CSRF field") + 19;
    html[at..].split('"').next().expect("value").to_owned()
}

impl Console {
    fn new(app: &TestApp) -> Console {
        Console {
            base: app.address.clone(),
            http: reqwest::Client::builder()
                .redirect(Policy::none())
                .build()
                .unwrap(),
            cookies: Vec::new(),
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn keep_cookies(&mut self, res: &reqwest::Response) -> Vec<String> {
        let raw: Vec<String> = res
            .headers()
            .get_all(SET_COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect();
        for line in &raw {
            let pair = line.split(';').next().unwrap();
            let (name, value) = pair.split_once('=').unwrap();
            self.cookies.retain(|(k, _)| k != name);
            if !value.is_empty() {
                self.cookies.push((name.to_owned(), value.to_owned()));
            }
        }
        raw
    }

    /// Sends with the kept cookies and keeps the new ones; answers the status, the
    /// `Location`, the content type and the body.
    async fn send(&mut self, req: reqwest::RequestBuilder) -> (StatusCode, String, String, String) {
        let res = req
            .header(COOKIE, self.cookie_header())
            .send()
            .await
            .unwrap();
        self.keep_cookies(&res);
        let header = |name| {
            res.headers()
                .get(name)
                .map(|v: &reqwest::header::HeaderValue| v.to_str().unwrap().to_owned())
                .unwrap_or_default()
        };
        let (location, kind) = (header(LOCATION), header(CONTENT_TYPE));
        (res.status(), location, kind, res.text().await.unwrap())
    }

    /// GET: the status, the content type and the body.
    async fn get(&mut self, path: &str) -> (StatusCode, String, String) {
        let req = self.http.get(format!("{}{path}", self.base));
        let (status, _, kind, body) = self.send(req).await;
        (status, kind, body)
    }

    /// POST a form: the status, the `Location` and the body.
    async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> (StatusCode, String, String) {
        let req = self.http.post(format!("{}{path}", self.base)).form(form);
        let (status, location, _, body) = self.send(req).await;
        (status, location, body)
    }

    async fn post_multipart(
        &mut self,
        path: &str,
        form: reqwest::multipart::Form,
    ) -> (StatusCode, String, String) {
        let req = self
            .http
            .post(format!("{}{path}", self.base))
            .multipart(form);
        let (status, location, _, body) = self.send(req).await;
        (status, location, body)
    }

    /// Signs in through the form; returns the CSRF token of the session's pages.
    async fn sign_in(app: &TestApp, username: &str) -> (Console, String) {
        Self::sign_in_with(app, username, &app.password(username)).await
    }

    async fn sign_in_with(app: &TestApp, username: &str, password: &str) -> (Console, String) {
        let mut c = Console::new(app);
        let (_, _, page) = c.get("/console/login").await;
        let (status, location, _) = c
            .post(
                "/console/login",
                &[
                    ("csrf", &csrf_of(&page)),
                    ("username", username),
                    ("password", password),
                    ("next", "/console/tickets"),
                ],
            )
            .await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{username} signs in");
        assert_eq!(location, "/console/tickets");
        let (status, _, page) = c.get("/console/tickets").await;
        assert_eq!(status, StatusCode::OK);
        let token = csrf_of(&page);
        (c, token)
    }
}

async fn signing_in_sets_an_http_only_session_and_forms_need_their_token(store: Store) {
    let app = TestApp::spawn(store).await;
    let mut c = Console::new(&app);
    let (status, _, _) = c.get("/console/tickets").await;
    assert_eq!(
        status,
        StatusCode::SEE_OTHER,
        "signed out: to the sign-in page"
    );
    let (status, kind, page) = c.get("/console/login").await;
    assert_eq!(status, StatusCode::OK);
    assert!(kind.starts_with("text/html"));
    assert!(page.contains("用户名"), "Chinese by default");

    // Without the form's token, the right password signs nobody in.
    let password = app.password("demo-grid");
    let (status, _, body) = c
        .post(
            "/console/login",
            &[("username", "demo-grid"), ("password", &password)],
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(!c.cookies.iter().any(|(k, _)| k == "jiesu_session"));

    // With it: an HTTP-only, SameSite session cookie.
    let res = c
        .http
        .post(format!("{}/console/login", c.base))
        .header(COOKIE, c.cookie_header())
        .form(&[
            ("csrf", csrf_of(&page).as_str()),
            ("username", "demo-grid"),
            ("password", &password),
            ("next", "https://evil.example/"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        res.headers()[LOCATION],
        "/console/",
        "no redirect off the site"
    );
    let set = c.keep_cookies(&res);
    let session = set
        .iter()
        .find(|l| l.starts_with("jiesu_session="))
        .expect("a session cookie");
    for flag in ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age="] {
        assert!(session.contains(flag), "{flag} in {session}");
    }

    // The cookie opens the CSV downloads the console links to, no other read of the API,
    // and writes nothing there.
    let (status, _, csv) = c.get("/api/v1/tickets.csv").await;
    assert_eq!(status, StatusCode::OK, "{csv}");
    let (status, _, me) = c.get("/api/v1/me").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{me}");
    let before = app.count("tickets");
    let res = c
        .http
        .post(format!("{}/api/v1/tickets", c.base))
        .header(COOKIE, c.cookie_header())
        .json(&json!({"category": "property_management", "title": "t", "description": "d", "address": "a"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(app.count("tickets"), before);

    // English on request, kept in a cookie.
    let (status, _, _) = c.get("/console/lang/en?back=/console/tickets").await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, _, page) = c.get("/console/tickets").await;
    assert!(page.contains("Tickets of my community"), "{page}");

    // Signing out needs the token too, then ends the session.
    let token = csrf_of(&page);
    let (status, _, _) = c.post("/console/logout", &[("csrf", "forged")]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, location, _) = c.post("/console/logout", &[("csrf", &token)]).await;
    assert_eq!(
        (status, location.as_str()),
        (StatusCode::SEE_OTHER, "/console/login")
    );
    let (status, _, _) = c.get("/console/tickets").await;
    assert_eq!(status, StatusCode::SEE_OTHER);
}

async fn a_console_action_without_its_token_is_refused_and_changes_nothing(store: Store) {
    let app = TestApp::spawn(store).await;
    let supervisor = app.login("demo-supervisor").await;
    let grid = app.login("demo-grid").await;
    let (status, ticket) = app
        .post(
            "/api/v1/tickets",
            &grid,
            json!({"category": "property_management", "title": "t", "description": "d", "address": "a"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{ticket}");
    let id = ticket["id"].as_i64().unwrap();
    let (mut c, token) = Console::sign_in(&app, "demo-supervisor").await;
    let (_, grid_token) = Console::sign_in(&app, "demo-grid").await;
    let path = format!("/console/tickets/{id}/act");
    let before = (app.count("ticket_events"), app.count("tickets"));
    for csrf in ["", "forged", grid_token.as_str()] {
        let (status, _, body) = c
            .post(
                &path,
                &[("csrf", csrf), ("action", "cancel"), ("reason", "测试")],
            )
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "token {csrf:?}");
        assert!(body.contains("表单已失效"), "an HTML page says why: {body}");
    }
    assert_eq!((app.count("ticket_events"), app.count("tickets")), before);
    // A refused action (no reason) shows the ticket again with the reason, 422.
    let (status, _, body) = c
        .post(
            &path,
            &[("csrf", &token), ("action", "cancel"), ("reason", " ")],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body.contains("未能办理") && body.contains("原因"), "{body}");
    assert_eq!((app.count("ticket_events"), app.count("tickets")), before);
    // Cancelling cannot be undone: the form's box must be ticked, or nothing is done.
    let (_, _, page) = c.get(&format!("/console/tickets/{id}")).await;
    assert!(
        page.contains(r#"id="cancel-confirm" name="confirm" value="1" required"#),
        "{page}"
    );
    let (status, _, body) = c
        .post(
            &path,
            &[
                ("csrf", &token),
                ("action", "cancel"),
                ("reason", "重复登记"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body.contains("请勾选确认"), "{body}");
    assert_eq!((app.count("ticket_events"), app.count("tickets")), before);
    let (status, location, _) = c
        .post(
            &path,
            &[
                ("csrf", &token),
                ("action", "cancel"),
                ("reason", "重复登记"),
                ("confirm", "1"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(location, format!("/console/tickets/{id}?done=cancel"));
    let (_, detail) = app.get(&format!("/api/v1/tickets/{id}"), &supervisor).await;
    assert_eq!(detail["status"], "cancelled");
}

async fn pages_outside_ones_scope_or_role_are_html_error_pages(store: Store) {
    let app = TestApp::spawn(store).await;
    let district = app.login("demo-district").await;
    // A ticket in another community of the district.
    let (_, communities) = app
        .get("/api/v1/org-units?kind=community&limit=200", &district)
        .await;
    let own = app.org_id("望京西园一区社区").await;
    let other = communities["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_i64().unwrap())
        .find(|c| *c != own)
        .expect("another community");
    let (status, elsewhere) = app
        .post(
            "/api/v1/tickets",
            &district,
            json!({"category": "property_management", "title": "别处的工单", "description": "d", "address": "a", "community_id": other}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{elsewhere}");
    let (mut c, _) = Console::sign_in(&app, "demo-grid").await;
    let (status, kind, page) = c
        .get(&format!("/console/tickets/{}", elsewhere["id"]))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(kind.starts_with("text/html"), "{kind}");
    assert!(page.contains("页面不存在") && !page.contains("别处的工单"));
    assert!(
        page.contains("工单不存在"),
        "what was not found, in Chinese too: {page}"
    );
    // Inside the person's own page: the menu stays, and the page is in its language only.
    assert!(
        page.contains(r#"href="/console/tickets/new""#) && page.contains("我的工单"),
        "the menu stays on an error page: {page}"
    );
    assert!(!page.contains("This page does not exist"), "{page}");
    let (status, kind, page) = c.get("/console/no-such-page").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(kind.starts_with("text/html") && page.contains("我的工单"));
    let (status, kind, page) = c.get("/console/admin").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(kind.starts_with("text/html") && page.contains("403") && page.contains("我的工单"));
    c.get("/console/lang/en?back=/console/tickets").await;
    let (status, _, page) = c.get("/console/admin").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(
        page.contains("Your role may not do this") && !page.contains("您的角色不能执行此操作"),
        "in English only once English is chosen: {page}"
    );
    assert!(page.contains("My tickets"), "{page}");
    // The API's own errors stay problem+json.
    let (status, kind, _) = c.get("/api/v1/no-such-thing").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(kind, "application/problem+json");
}

async fn racing_claims_through_the_pool_page_leave_one_winner_and_tell_the_others(store: Store) {
    let app = TestApp::spawn(store).await;
    let admin = app.login("demo-admin").await;
    let grid = app.login("demo-grid").await;
    let supervisor = app.login("demo-supervisor").await;
    let community = app.org_id("望京西园一区社区").await;
    let mut racers = Vec::new();
    for i in 0..6 {
        let (status, partner) = app
            .post("/api/v1/partners", &admin, json!({"name": format!("页面抢单{i}"), "kind": "enterprise", "contact_email": format!("p{i}@example.com"),
                "communities": [community], "categories": ["property_management"]}))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{partner}");
        app.account(
            &format!("racer{i}"),
            "unit_staff",
            json!({"partner_id": partner["id"]}),
        )
        .await;
        let mut c = Console::new(&app);
        let (_, _, page) = c.get("/console/login").await;
        let (status, _, _) = c
            .post(
                "/console/login",
                &[
                    ("csrf", &csrf_of(&page)),
                    ("username", &format!("racer{i}")),
                    ("password", "long-enough-pass"),
                ],
            )
            .await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        racers.push(c);
    }
    let (status, ticket) = app
        .post(
            "/api/v1/tickets",
            &grid,
            json!({"category": "property_management", "title": "抢单页面测试", "description": "d", "address": "a"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let id = ticket["id"].as_i64().unwrap();
    app.post(
        &format!("/api/v1/tickets/{id}/dispatch"),
        &supervisor,
        json!({"pool": true}),
    )
    .await;
    // Each racer has the pool page open, with the ticket and its claim button.
    let mut tokens = Vec::new();
    for c in racers.iter_mut() {
        let (status, _, page) = c.get("/console/pool").await;
        assert_eq!(status, StatusCode::OK);
        assert!(
            page.contains(&format!("/console/pool/{id}/claim")),
            "{page}"
        );
        tokens.push(csrf_of(&page));
    }
    let barrier = Arc::new(tokio::sync::Barrier::new(racers.len()));
    let claims = racers.into_iter().zip(tokens).map(|(mut c, token)| {
        let barrier = barrier.clone();
        tokio::spawn(async move {
            barrier.wait().await;
            c.post(&format!("/console/pool/{id}/claim"), &[("csrf", &token)])
                .await
        })
    });
    let results: Vec<(StatusCode, String, String)> = futures_util::future::join_all(claims)
        .await
        .into_iter()
        .map(|r| r.unwrap())
        .collect();
    let winners = results
        .iter()
        .filter(|(s, location, _)| {
            *s == StatusCode::SEE_OTHER && *location == format!("/console/tickets/{id}?done=claim")
        })
        .count();
    assert_eq!(
        winners,
        1,
        "{:?}",
        results.iter().map(|r| r.0).collect::<Vec<_>>()
    );
    for (status, _, body) in results.iter().filter(|r| r.0 != StatusCode::SEE_OTHER) {
        assert_eq!(*status, StatusCode::CONFLICT);
        assert!(body.contains("手慢了"), "the loser is told plainly: {body}");
    }
    let (_, detail) = app.get(&format!("/api/v1/tickets/{id}"), &admin).await;
    let claims = detail["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "claimed")
        .count();
    assert_eq!(claims, 1);
}

fn ticket_form(csrf: &str, idem: &str, photo: Option<(&str, Vec<u8>)>) -> reqwest::multipart::Form {
    let mut form = reqwest::multipart::Form::new()
        .text("csrf", csrf.to_owned())
        .text("idem", idem.to_owned())
        .text("category", "property_management")
        .text("title", "楼道灯不亮")
        .text("description", "5号楼2单元楼道灯不亮")
        .text("address", "望京西园一区5号楼")
        .text("households", "3");
    if let Some((name, bytes)) = photo {
        form = form.part(
            "photo",
            reqwest::multipart::Part::bytes(bytes).file_name(name.to_owned()),
        );
    }
    form
}

async fn the_new_ticket_form_checks_the_photo_and_logs_once(store: Store) {
    let max = 4096;
    let app = TestApp::spawn_with(store, |s| s.attachments.max_bytes = max).await;
    let (mut c, token) = Console::sign_in(&app, "demo-grid").await;
    let (_, _, page) = c.get("/console/tickets/new").await;
    let idem = form_key(&page);
    let before = (app.count("tickets"), app.count("attachments"));
    for (name, bytes, message) in [
        (
            "notes.jpg",
            b"plain text, not a photo".to_vec(),
            "只能上传 JPEG、PNG 或 WebP",
        ),
        ("big.png", png(max + 1), "照片太大"),
    ] {
        let (status, _, body) = c
            .post_multipart(
                "/console/tickets/new",
                ticket_form(&token, &idem, Some((name, bytes))),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(body.contains(message), "{message}: {body}");
        assert!(
            body.contains("value=\"楼道灯不亮\""),
            "what was typed is kept"
        );
        assert_eq!((app.count("tickets"), app.count("attachments")), before);
    }
    // Without the token, nothing is written either.
    let (status, _, _) = c
        .post_multipart(
            "/console/tickets/new",
            ticket_form("", &idem, Some(("p.png", png(64)))),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!((app.count("tickets"), app.count("attachments")), before);
    // A good one, sent twice (a double tap): one ticket, one photo.
    let mut locations = Vec::new();
    for _ in 0..2 {
        let (status, location, body) = c
            .post_multipart(
                "/console/tickets/new",
                ticket_form(&token, &idem, Some(("p.png", png(64)))),
            )
            .await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
        locations.push(location);
    }
    assert_eq!(locations[0], locations[1]);
    assert_eq!(
        (app.count("tickets"), app.count("attachments")),
        (before.0 + 1, before.1 + 1)
    );
    let (status, _, page) = c.get(&locations[0]).await;
    assert_eq!(status, StatusCode::OK);
    let photo = page
        .split("<img src=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .expect("the photo on the ticket page")
        .to_owned();
    let (status, kind, _) = c.get(&photo).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(kind, "image/png");
}

/// A refused new ticket lists its errors in the order of the form, and each control in
/// error names its message (`aria-describedby`), selects and the description included.
async fn a_refused_new_ticket_ties_each_error_to_its_field_in_form_order(store: Store) {
    let app = TestApp::spawn(store).await;
    let (mut c, token) = Console::sign_in(&app, "demo-grid").await;
    let (_, _, page) = c.get("/console/tickets/new").await;
    let idem = form_key(&page);
    let before = app.count("tickets");
    let form = reqwest::multipart::Form::new()
        .text("csrf", token.clone())
        .text("idem", idem)
        .text("category", "")
        .text("title", "")
        .text("description", " ")
        .text("address", "望京西园一区5号楼")
        .text("resident_phone", "12345")
        .text("households", "1");
    let (status, _, body) = c.post_multipart("/console/tickets/new", form).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(app.count("tickets"), before, "nothing written");
    let list = body
        .split("class=\"notice error\"")
        .nth(1)
        .and_then(|r| r.split("</ul>").next())
        .expect("the list of errors");
    let order: Vec<&str> = list
        .split("href=\"#")
        .skip(1)
        .filter_map(|r| r.split('"').next())
        .collect();
    assert_eq!(
        order,
        ["category", "title", "description", "resident_phone"],
        "in the form's order: {list}"
    );
    for field in order {
        let control = body
            .split(&format!("id=\"{field}\""))
            .nth(1)
            .and_then(|r| r.split('>').next())
            .unwrap_or_else(|| panic!("the {field} control"));
        assert!(
            control.contains("aria-invalid=\"true\"")
                && control.contains(&format!("aria-describedby=\"{field}-error\"")),
            "{field}: {control}"
        );
        assert!(
            body.contains(&format!("id=\"{field}-error\" class=\"field-error\"")),
            "{field}'s message has its id"
        );
    }
}

/// Every page in every role's navigation renders, in both languages, on both stores.
async fn every_page_of_every_role_renders(store: Store) {
    let app = TestApp::spawn(store).await;
    for username in [
        "demo-grid",
        "demo-unit",
        "demo-supervisor",
        "demo-district",
        "demo-admin",
    ] {
        let (mut c, _) = Console::sign_in(&app, username).await;
        let (_, _, first) = c.get("/console/tickets").await;
        let nav = first
            .split("<nav")
            .nth(1)
            .unwrap()
            .split("</nav>")
            .next()
            .unwrap();
        let mut links: Vec<String> = nav
            .split("href=\"")
            .skip(1)
            .map(|r| r.split('"').next().unwrap().to_owned())
            .collect();
        links.push("/console/account".to_owned());
        assert!(links.len() >= 3, "{username}: {links:?}");
        for lang in ["zh", "en"] {
            c.get(&format!("/console/lang/{lang}")).await;
            for link in &links {
                let (status, kind, page) = c.get(link).await;
                assert_eq!(status, StatusCode::OK, "{username} {lang} {link}: {page}");
                assert!(kind.starts_with("text/html"));
                assert!(page.contains("</main>"), "{username} {link}");
            }
        }
    }
}

/// The tickets a list page links to, in order.
fn listed_ids(html: &str) -> Vec<i64> {
    html.split("href=\"/console/tickets/")
        .skip(1)
        .filter_map(|r| r.split('"').next()?.parse().ok())
        .collect()
}

/// The target of the page's `rel` link (`next`, `prev`), if it has one.
fn pager_link(html: &str, rel: &str) -> Option<String> {
    let rest = html.split(&format!("rel=\"{rel}\" href=\"")).nth(1)?;
    Some(rest.split('"').next()?.replace("&amp;", "&"))
}

async fn the_ticket_list_pages_both_ways_with_its_total(store: Store) {
    let app = TestApp::spawn(store).await;
    let grid = app.login("demo-grid").await;
    let mut logged = Vec::new();
    for i in 0..57 {
        let (status, body) = app
            .post(
                "/api/v1/tickets",
                &grid,
                serde_json::json!({
                    "category": "property_management", "title": format!("翻页{i:02}"),
                    "description": "楼道灯不亮", "address": "望京西园一区5号楼", "households": 1
                }),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        logged.push(body["id"].as_i64().unwrap());
    }
    logged.reverse(); // newest first, as the list shows them
    let (mut c, _) = Console::sign_in(&app, "demo-supervisor").await;
    let (status, _, first) = c.get("/console/tickets?q=%E7%BF%BB%E9%A1%B5").await;
    assert_eq!(status, StatusCode::OK, "{first}");
    assert_eq!(listed_ids(&first), logged[..50]);
    assert!(first.contains("共 57 条"), "the total is shown");
    assert_eq!(
        pager_link(&first, "prev"),
        None,
        "nothing before the first page"
    );
    let next = pager_link(&first, "next").expect("a next page");

    let (status, _, second) = c.get(&next).await;
    assert_eq!(status, StatusCode::OK, "{second}");
    assert_eq!(listed_ids(&second), logged[50..]);
    assert!(second.contains("共 57 条"));
    assert_eq!(
        pager_link(&second, "next"),
        None,
        "nothing after the last page"
    );
    let back = pager_link(&second, "prev").expect("a previous page");
    assert!(
        back.contains("q=%E7%BF%BB%E9%A1%B5"),
        "the filter is kept: {back}"
    );

    let (status, _, again) = c.get(&back).await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(
        listed_ids(&again),
        logged[..50],
        "back to the same first page"
    );
    assert_eq!(pager_link(&again, "prev"), None);
    assert_eq!(pager_link(&again, "next"), Some(next));

    // A cursor the page did not make is an error page naming it, not a 500.
    let (status, _, page) = c.get("/console/tickets?before=abc").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("before"), "{page}");
}

/// The text of the element with this id (a password shown once).
fn text_of_id(html: &str, id: &str) -> String {
    let at = html
        .find(&format!("id=\"{id}\">"))
        .unwrap_or_else(|| panic!("no #{id} in the page"))
        + id.len()
        + 6;
    html[at..].split('<').next().unwrap().to_owned()
}

/// The one-time key of a new-ticket form page.
fn form_key(page: &str) -> String {
    page.split("name=\"idem\" value=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .expect("a one-time form key")
        .to_owned()
}

/// POST a form of owned values.
async fn post(
    c: &mut Console,
    path: String,
    fields: Vec<(&str, String)>,
) -> (StatusCode, String, String) {
    let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    c.post(&path, &fields).await
}

/// The id of the account with this username, read from the database.
fn user_id(app: &TestApp, username: &str) -> i64 {
    use diesel::prelude::*;
    use jiesu_core::schema::users;
    app.with_conn(|conn| {
        users::table
            .filter(users::username.eq(username))
            .select(users::id)
            .first(conn)
            .unwrap()
    })
}

/// Is this session still signed in? (A page, not a way back to the sign-in form.)
async fn signed_in(c: &mut Console, page: &str) -> bool {
    let (status, _, _) = c.get(page).await;
    status == StatusCode::OK
}

async fn an_administrator_creates_disables_and_resets_accounts_in_the_page(store: Store) {
    let app = TestApp::spawn(store).await;
    let (mut admin, csrf) = Console::sign_in(&app, "demo-admin").await;
    let grid = app.org_id("第1网格").await.to_string();
    let accounts = app.count("users");
    let form = |role: &'static str, org: &str, password: &'static str| {
        vec![
            ("csrf", csrf.clone()),
            ("username", "li.grid".to_owned()),
            ("display_name", "李网格".to_owned()),
            ("email", String::new()),
            ("role", role.to_owned()),
            ("org_unit_id", org.to_owned()),
            ("partner_id", String::new()),
            ("password", password.to_owned()),
        ]
    };
    // No role, or a grid member without a grid: the form comes back naming the field,
    // as typed, and no account is written.
    let (status, _, page) = post(&mut admin, "/console/admin/users".into(), form("", "", "")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{page}");
    assert!(page.contains("href=\"#new-role\""), "{page}");
    assert!(
        page.contains("value=\"li.grid\""),
        "the form keeps what was typed"
    );
    let (status, _, page) = post(
        &mut admin,
        "/console/admin/users".into(),
        form("grid_member", "", ""),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{page}");
    assert!(page.contains("href=\"#new-org_unit_id\""), "{page}");
    let (status, _, page) = post(
        &mut admin,
        "/console/admin/users".into(),
        form("grid_member", &grid, "short"),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{page}");
    assert!(page.contains("href=\"#new-password\""), "{page}");
    assert_eq!(app.count("users"), accounts, "nothing written");

    // Left empty, the password is made here and shown once; it signs the person in.
    let (status, _, page) = post(
        &mut admin,
        "/console/admin/users".into(),
        form("grid_member", &grid, ""),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{page}");
    let first = text_of_id(&page, "issued-password");
    assert_eq!(first.len(), 16, "{first}");
    assert_eq!(app.count("users"), accounts + 1);
    let (_, _, again) = admin.get("/console/admin").await;
    assert!(!again.contains(&first), "shown once, not on the next visit");
    let (status, _, page) = post(
        &mut admin,
        "/console/admin/users".into(),
        form("grid_member", &grid, ""),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "the username is taken: {page}"
    );
    assert_eq!(app.count("users"), accounts + 1);
    let (mut li, _) = Console::sign_in_with(&app, "li.grid", &first).await;
    assert!(signed_in(&mut li, "/console/tickets/new").await);

    // Disabled: signed out at once and cannot sign in; enabled again, can.
    let id = user_id(&app, "li.grid");
    let (status, location, _) = post(
        &mut admin,
        format!("/console/admin/users/{id}/active"),
        vec![("csrf", csrf.clone()), ("active", "false".into())],
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(
        location,
        format!("/console/admin?users_q=li.grid#user-{id}")
    );
    let (_, _, found) = admin.get(&location).await;
    assert_eq!(ids_of_rows(&found, "user-"), vec![id], "the account, found");
    assert!(!signed_in(&mut li, "/console/tickets").await);
    let (status, _) = app.login_with("li.grid", &first).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    post(
        &mut admin,
        format!("/console/admin/users/{id}/active"),
        vec![("csrf", csrf.clone()), ("active", "true".into())],
    )
    .await;
    let (mut li, _) = Console::sign_in_with(&app, "li.grid", &first).await;

    // A reset shows a new password once and ends the account's sessions.
    let (status, _, page) = post(
        &mut admin,
        format!("/console/admin/users/{id}/password"),
        vec![("csrf", csrf.clone())],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let second = text_of_id(&page, "issued-password");
    assert_ne!(second, first);
    assert!(!signed_in(&mut li, "/console/tickets").await, "signed out");
    assert_eq!(
        app.login_with("li.grid", &first).await.0,
        StatusCode::UNAUTHORIZED
    );
    Console::sign_in_with(&app, "li.grid", &second).await;

    // The administrator's own account is not disabled from here, nor a token-less form
    // obeyed.
    let own = user_id(&app, "demo-admin");
    let (status, _, page) = post(
        &mut admin,
        format!("/console/admin/users/{own}/active"),
        vec![("csrf", csrf.clone()), ("active", "false".into())],
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{page}");
    assert!(signed_in(&mut admin, "/console/admin").await);
    let (status, _, _) = post(
        &mut admin,
        format!("/console/admin/users/{id}/active"),
        vec![("active", "false".into())],
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(app.login_with("li.grid", &second).await.0, StatusCode::OK);
}

async fn changing_ones_password_in_the_page_keeps_this_session_and_ends_the_others(store: Store) {
    let app = TestApp::spawn(store).await;
    let old = app.password("demo-unit");
    let (mut desk, csrf) = Console::sign_in(&app, "demo-unit").await;
    let (mut phone, _) = Console::sign_in(&app, "demo-unit").await;
    let change = |current: &str, new: &str, repeat: &str| {
        vec![
            ("csrf", csrf.clone()),
            ("current_password", current.to_owned()),
            ("new_password", new.to_owned()),
            ("repeat_password", repeat.to_owned()),
        ]
    };
    for (fields, field) in [
        (
            change(&old, "a new passphrase", "a new passphrase!"),
            "repeat_password",
        ),
        (
            change("not it at all", "a new passphrase", "a new passphrase"),
            "current_password",
        ),
        (change(&old, "short", "short"), "new_password"),
    ] {
        let (status, _, page) = post(&mut desk, "/console/account/password".into(), fields).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{page}");
        assert!(
            page.contains(&format!("href=\"#{field}\"")),
            "{field}: {page}"
        );
    }
    assert!(
        signed_in(&mut phone, "/console/pool").await,
        "nothing changed yet"
    );

    let fields = change(&old, "a new passphrase", "a new passphrase");
    let (status, location, _) = post(&mut desk, "/console/account/password".into(), fields).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(location, "/console/account?changed=1");
    let (status, _, page) = desk.get(&location).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "this session goes on with its new cookie"
    );
    assert!(page.contains("notice ok"), "{page}");
    assert!(
        !signed_in(&mut phone, "/console/pool").await,
        "the other one ended"
    );
    assert_eq!(
        app.login_with("demo-unit", &old).await.0,
        StatusCode::UNAUTHORIZED
    );
    Console::sign_in_with(&app, "demo-unit", "a new passphrase").await;
}

/// The states a ticket can be in, each built through the API.
#[derive(Debug, Clone, Copy)]
enum Stage {
    Reported,
    InPool,
    SentToUnit,
    Claimed,
    InProgress,
    Paused,
    Resolved,
    Returned,
    Reopened,
    Closed,
    Cancelled,
}

/// A fresh ticket brought to `stage` through the API; its id.
async fn ticket_at(app: &TestApp, stage: Stage, title: &str) -> i64 {
    let grid = app.login("demo-grid").await;
    let supervisor = app.login("demo-supervisor").await;
    let unit = app.login("demo-unit").await;
    let (status, t) = app
        .post(
            "/api/v1/tickets",
            &grid,
            json!({"category": "property_management", "title": title, "description": "每种状态",
                   "address": "1号楼"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{t}");
    let id = t["id"].as_i64().unwrap();
    let step = |path: &'static str, token: String, body: serde_json::Value| {
        let app = &app;
        async move {
            let (status, body) = app
                .post(&format!("/api/v1/tickets/{id}/{path}"), &token, body)
                .await;
            assert_eq!(status, StatusCode::OK, "{path}: {body}");
        }
    };
    use Stage::*;
    if matches!(stage, Cancelled) {
        step("cancel", supervisor.clone(), json!({"reason": "重复"})).await;
        return id;
    }
    if matches!(stage, Reported) {
        return id;
    }
    if matches!(stage, SentToUnit) {
        let partner = app.partner_id("望京宜居物业服务有限公司").await;
        step(
            "dispatch",
            supervisor.clone(),
            json!({"partner_id": partner}),
        )
        .await;
        return id;
    }
    step("dispatch", supervisor.clone(), json!({"pool": true})).await;
    if matches!(stage, InPool) {
        return id;
    }
    step("claim", unit.clone(), json!({})).await;
    match stage {
        Claimed => return id,
        Returned => {
            step("return", unit.clone(), json!({"reason": "不属本单位"})).await;
            return id;
        }
        Paused => {
            step("pause", unit.clone(), json!({"reason": "住户不在"})).await;
            return id;
        }
        _ => {}
    }
    step("progress", unit.clone(), json!({"note": "已上门"})).await;
    if matches!(stage, InProgress) {
        return id;
    }
    step("resolve", unit.clone(), json!({"note": "已修好"})).await;
    match stage {
        Reopened => step("feedback", grid, json!({"satisfaction": "unsatisfied"})).await,
        Closed => step("feedback", grid, json!({"satisfaction": "satisfied"})).await,
        _ => {}
    }
    id
}

/// The lifecycle actions a ticket page offers: the `action` values of its forms, and a
/// claim form.
fn offered(page: &str, id: i64) -> Vec<String> {
    let mut found: Vec<String> = page
        .split("name=\"action\" value=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .filter(|a| *a != "photo")
        .map(str::to_owned)
        .collect();
    if page.contains(&format!("action=\"/console/pool/{id}/claim\"")) {
        found.push("claim".into());
    }
    found.sort();
    found.dedup();
    found
}

/// For every role and every state, each action the ticket page offers is accepted when
/// submitted: the console offers nothing core refuses (a supervisor is not offered the
/// grid member's return visit, nor a dispatch of a resolved ticket).
async fn the_ticket_page_offers_only_what_core_accepts_for_every_role_and_state(store: Store) {
    use Stage::*;
    let app = TestApp::spawn(store).await;
    let roles = [
        "demo-grid",
        "demo-supervisor",
        "demo-district",
        "demo-admin",
        "demo-unit",
    ];
    let mut sessions = Vec::new();
    for role in roles {
        sessions.push(Console::sign_in(&app, role).await);
    }
    let mut tried = 0;
    // What an offered merge merges into: an open ticket of the same community.
    let survivor = ticket_at(&app, Reported, "并入目标").await.to_string();
    for stage in [
        Reported, InPool, SentToUnit, Claimed, InProgress, Paused, Resolved, Returned, Reopened,
        Closed, Cancelled,
    ] {
        for (role, (c, token)) in roles.iter().zip(sessions.iter_mut()) {
            let id = ticket_at(&app, stage, "看页面").await;
            let (status, _, page) = c.get(&format!("/console/tickets/{id}")).await;
            if status == StatusCode::NOT_FOUND {
                continue; // outside this person's scope: nothing offered
            }
            assert_eq!(status, StatusCode::OK, "{role} {stage:?}");
            let actions = offered(&page, id);
            if *role != "demo-grid" {
                assert!(
                    !actions.contains(&"feedback".to_owned()),
                    "{role} {stage:?}: only grid members do return visits"
                );
            }
            for action in actions {
                let id = ticket_at(&app, stage, "点按钮").await;
                let (status, location, body) = if action == "claim" {
                    c.post(&format!("/console/pool/{id}/claim"), &[("csrf", token)])
                        .await
                } else {
                    c.post(
                        &format!("/console/tickets/{id}/act"),
                        &[
                            ("csrf", token.as_str()),
                            ("action", action.as_str()),
                            ("note", "说明"),
                            ("reason", "原因"),
                            ("satisfaction", "satisfied"),
                            ("partner_id", "pool"),
                            ("into", survivor.as_str()),
                            ("confirm", "1"),
                        ],
                    )
                    .await
                };
                assert_eq!(
                    status,
                    StatusCode::SEE_OTHER,
                    "{role} {stage:?}: the page offered {action:?} and core refused it: {location} {}",
                    body.chars().take(400).collect::<String>()
                );
                tried += 1;
            }
        }
    }
    assert!(tried >= 20, "the pages offered {tried} actions in all");
}

/// Every console form that changes something checks its token before its handler runs:
/// with a forged one (or none) each answers the 403 page and writes nothing, even where
/// the account may do what the form asks.
async fn every_form_that_changes_something_refuses_a_forged_token(store: Store) {
    let app = TestApp::spawn(store).await;
    let (mut admin, _) = Console::sign_in(&app, "demo-admin").await;
    let (mut grid, _) = Console::sign_in(&app, "demo-grid").await;
    // The refusal comes before the ticket is even looked up.
    let ticket = 1;
    let tables = [
        "tickets",
        "ticket_events",
        "attachments",
        "users",
        "open311_keys",
        "ended_sessions",
        "outbox",
    ];
    let counts = |app: &TestApp| tables.map(|t| app.count(t));
    let before = counts(&app);
    let act = format!("/console/tickets/{ticket}/act");
    let claim = format!("/console/pool/{ticket}/claim");
    let forms: Vec<(&str, Vec<(&str, &str)>)> = vec![
        ("/console/logout", vec![]),
        (&act, vec![("action", "cancel"), ("reason", "测试")]),
        (&claim, vec![]),
        (
            "/console/account/password",
            vec![
                ("current_password", "x"),
                ("new_password", "long-enough-pass"),
                ("repeat_password", "long-enough-pass"),
            ],
        ),
        (
            "/console/admin/users",
            vec![
                ("username", "forged-one"),
                ("display_name", "x"),
                ("role", "admin"),
                ("password", "long-enough-pass"),
            ],
        ),
        ("/console/admin/users/1/active", vec![("active", "false")]),
        ("/console/admin/users/1/password", vec![]),
        ("/console/admin/open311-keys", vec![("channel", "x")]),
        ("/console/admin/open311-keys/1/revoke", vec![]),
    ];
    for (path, fields) in &forms {
        for token in [None, Some(""), Some("forged")] {
            let mut form = fields.clone();
            if let Some(token) = token {
                form.push(("csrf", token));
            }
            let (status, _, page) = admin.post(path, &form).await;
            assert_eq!(
                status,
                StatusCode::FORBIDDEN,
                "{path} with {token:?}: {page}"
            );
            assert!(page.contains("表单已失效"), "{path}: {page}");
        }
    }
    for path in ["/console/tickets/new".to_owned(), act.clone()] {
        let form = ticket_form("forged", "idem-forged", Some(("p.png", png(64))));
        let (status, _, _) = grid.post_multipart(&path, form).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}");
    }
    assert_eq!(counts(&app), before, "nothing was written");
    // Both sessions go on: the forged sign-out ended nothing.
    let (status, _, _) = admin.get("/console/admin").await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, _) = grid.get("/console/tickets").await;
    assert_eq!(status, StatusCode::OK);
}

/// The ids of the rows `<tr id="{prefix}N">` of a page, in order.
fn ids_of_rows(html: &str, prefix: &str) -> Vec<i64> {
    let marker = format!("<tr id=\"{prefix}");
    html.split(&marker)
        .skip(1)
        .map(|rest| rest.split('"').next().unwrap().parse().unwrap())
        .collect()
}

/// The href of the page's `rel` link ("next", "prev") that goes to `#anchor`.
fn turn_link(html: &str, rel: &str, anchor: &str) -> Option<String> {
    html.split(&format!("rel=\"{rel}\" href=\""))
        .skip(1)
        .map(|rest| rest.split('"').next().unwrap().replace("&amp;", "&"))
        .find(|href| href.ends_with(&format!("#{anchor}")))
}

/// The cells of the first column of each body row of the table after `marker`.
fn names_after(html: &str, marker: &str, until: &str) -> Vec<String> {
    let from = html.find(marker).unwrap_or_else(|| panic!("no {marker}"));
    let section = &html[from..];
    let section = &section[..section.find(until).unwrap_or(section.len())];
    section
        .split("<tbody>")
        .nth(1)
        .map(|body| {
            body.split("<tr>")
                .skip(1)
                .map(|row| {
                    let cell = row.split("</td>").next().unwrap();
                    let text: String = cell
                        .split('<')
                        .map(|part| part.split_once('>').map_or(part, |(_, t)| t))
                        .collect();
                    text.trim().to_owned()
                })
                .collect()
        })
        .unwrap_or_default()
}

async fn an_administrator_pages_through_a_citys_worth_of_units_partners_and_accounts(store: Store) {
    use diesel::prelude::*;
    use jiesu_core::schema::users;
    let app = TestApp::spawn(store).await;
    let admin_token = app.login("demo-admin").await;
    let (mut admin, _) = Console::sign_in(&app, "demo-admin").await;
    let community = app.org_id("望京西园一区社区").await;
    // A community with 130 more grids, 60 more units and 120 more accounts than the demo:
    // each list is paged, both ways, with its total.
    for i in 0..130 {
        let (status, body) = app
            .post(
                "/api/v1/org-units",
                &admin_token,
                json!({"parent_id": community, "kind": "grid", "name": format!("翻页网格{i:03}"), "code": format!("G{i:03}")}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    for i in 0..60 {
        let (status, body) = app
            .post("/api/v1/partners", &admin_token, json!({"name": format!("翻页单位{i:02}"), "kind": "enterprise",
                "contact_email": format!("page{i}@example.com"), "communities": [community], "categories": ["property_management"]}))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    app.with_conn(|conn| {
        let (hash, at): (String, chrono::NaiveDateTime) = users::table
            .filter(users::username.eq("demo-grid"))
            .select((users::password_hash, users::created_at))
            .first(conn)
            .unwrap();
        for i in 0..120 {
            diesel::insert_into(users::table)
                .values((
                    users::username.eq(format!("pager.{i:03}")),
                    users::display_name.eq(format!("翻页账号{i:03}")),
                    users::password_hash.eq(&hash),
                    users::role.eq("unit_staff"),
                    users::active.eq(true),
                    users::failed_logins.eq(0),
                    users::created_at.eq(at),
                    users::updated_at.eq(at),
                    users::token_generation.eq(0),
                ))
                .execute(conn)
                .unwrap();
        }
    });
    let accounts = app.count("users");

    // Accounts: 50 a page with the total; next, next, then back gives the same rows.
    let (status, _, first) = admin.get("/console/admin").await;
    assert_eq!(status, StatusCode::OK);
    assert!(first.contains(&format!("账号 · {accounts}")), "the total");
    let page1 = ids_of_rows(&first, "user-");
    assert_eq!(page1.len(), 50);
    assert!(
        turn_link(&first, "prev", "users").is_none(),
        "no page before the first"
    );
    let next = turn_link(&first, "next", "users").expect("a next page of accounts");
    let (_, _, second) = admin.get(&next).await;
    let page2 = ids_of_rows(&second, "user-");
    assert_eq!(page2.len(), 50);
    assert!(
        page2[0] > *page1.last().unwrap(),
        "{page1:?} then {page2:?}"
    );
    let back = turn_link(&second, "prev", "users").expect("a way back");
    let (_, _, again) = admin.get(&back).await;
    assert_eq!(ids_of_rows(&again, "user-"), page1);
    let mut seen = page1.clone();
    let mut at = second;
    seen.extend(ids_of_rows(&at, "user-"));
    while let Some(next) = turn_link(&at, "next", "users") {
        at = admin.get(&next).await.2;
        seen.extend(ids_of_rows(&at, "user-"));
    }
    assert_eq!(seen.len() as i64, accounts, "every account once, in order");
    assert!(seen.windows(2).all(|w| w[0] < w[1]));
    // Found by name, the search kept across pages of other lists.
    let (_, _, found) = admin.get("/console/admin?users_q=翻页账号07").await;
    assert_eq!(ids_of_rows(&found, "user-").len(), 10, "翻页账号070..079");
    assert!(found.contains("账号 · 10"));

    // The org tree one node at a time: the way down, and the node's 130 + demo grids.
    let (_, _, node) = admin.get(&format!("/console/admin?unit={community}")).await;
    assert!(
        node.contains("望京西园一区社区") && node.contains("望京街道"),
        "the way down"
    );
    let grids = names_after(&node, "id=\"org\"", "id=\"partners\"");
    assert_eq!(grids.len(), 100, "{grids:?}");
    let next = turn_link(&node, "next", "org").expect("the next page of grids");
    assert!(next.contains(&format!("unit={community}")), "{next}");
    let (_, _, rest) = admin.get(&next).await;
    let more = names_after(&rest, "id=\"org\"", "id=\"partners\"");
    let all: std::collections::BTreeSet<_> = grids.iter().chain(&more).cloned().collect();
    assert!((0..130).all(|i| all.contains(&format!("翻页网格{i:03}"))));
    assert_eq!(all.len(), grids.len() + more.len(), "no grid twice");

    // Partner units: 50 a page; the search finds one.
    let units = names_after(&first, "id=\"partners\"", "id=\"categories\"");
    assert_eq!(units.len(), 50);
    assert!(turn_link(&first, "next", "partners").is_some());
    let (_, _, one) = admin.get("/console/admin?partners_q=翻页单位42").await;
    let units = names_after(&one, "id=\"partners\"", "id=\"categories\"");
    assert_eq!(units, vec!["翻页单位42".to_owned()]);

    // "New account here" fills the new account's unit with its name beside it.
    let grid = app.org_id("翻页网格129").await;
    let (_, _, form) = admin
        .get(&format!("/console/admin?account_unit={grid}#new-account"))
        .await;
    assert!(form.contains(&format!("value=\"{grid}\"")), "prefilled");
    assert!(form.contains("翻页网格129 (grid)"), "named");
    // A made-up id is a clear error, not a server error.
    let (status, _, _) = admin.get("/console/admin?unit=abc").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
}

async fn the_overdue_page_pages_the_escalated_tickets_with_their_total(store: Store) {
    let app = TestApp::spawn(store).await;
    let grid = app.login("demo-grid").await;
    let street = app.login("demo-supervisor").await;
    for i in 0..55 {
        let (status, body) = app
            .post("/api/v1/tickets", &grid, json!({"category": "water_supply", "title": format!("停水{i}"), "description": "整栋楼停水", "address": "3号楼"}))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let later = chrono::Utc::now().naive_utc() + chrono::Duration::days(3);
    app.sweep_at(later);
    let escalated = app.all("/api/v1/escalations", &street).await;
    assert!(escalated.len() >= 55);
    let (mut c, _) = Console::sign_in(&app, "demo-supervisor").await;
    let (status, _, first) = c.get("/console/overdue").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        first.contains(&format!("已升级工单 · {}", escalated.len())),
        "the total"
    );
    let numbers = |page: &str| names_after(page, "id=\"escalated\"", "数据截至");
    let page1 = numbers(&first);
    assert_eq!(page1.len(), 50);
    assert_eq!(
        page1[0],
        escalated[0]["number"].as_str().unwrap(),
        "newest first, as the API"
    );
    let next = turn_link(&first, "next", "escalated").expect("the next page");
    let (_, _, second) = c.get(&next).await;
    let page2 = numbers(&second);
    assert_eq!(page1.len() + page2.len(), escalated.len());
    let listed: Vec<&str> = page1.iter().chain(&page2).map(String::as_str).collect();
    let expected: Vec<&str> = escalated
        .iter()
        .map(|e| e["number"].as_str().unwrap())
        .collect();
    assert_eq!(listed, expected);
    let back = turn_link(&second, "prev", "escalated").expect("the way back");
    assert_eq!(numbers(&c.get(&back).await.2), page1);
}

async fn a_city_wide_supervisor_narrows_to_a_street_to_pick_the_community(store: Store) {
    let app = TestApp::spawn(store).await;
    let admin = app.login("demo-admin").await;
    let chaoyang = app.org_id("朝阳区").await;
    let (status, street) = app
        .post("/api/v1/org-units", &admin, json!({"parent_id": chaoyang, "kind": "street", "name": "大社区街道", "code": "110105099"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{street}");
    for i in 0..200 {
        let (status, body) = app
            .post("/api/v1/org-units", &admin, json!({"parent_id": street["id"], "kind": "community", "name": format!("大社区{i:03}"), "code": format!("110105099{i:03}")}))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    app.account(
        "city-chief",
        "supervisor",
        json!({"org_unit_id": app.org_id("北京市").await}),
    )
    .await;
    let (mut c, token) = Console::sign_in_with(&app, "city-chief", "long-enough-pass").await;
    // 208 communities: too many for one list, so the form asks where first, and each
    // step down is a link; a street's communities are a list.
    let (status, _, page) = c.get("/console/tickets/new").await;
    assert_eq!(status, StatusCode::OK);
    assert!(!page.contains("id=\"community_id\""), "no list of 208");
    assert!(page.contains(&format!("href=\"/console/tickets/new?within={chaoyang}\"")));
    let (_, _, page) = c
        .get(&format!("/console/tickets/new?within={chaoyang}"))
        .await;
    let wangjing = app.org_id("望京街道").await;
    assert!(page.contains(&format!("href=\"/console/tickets/new?within={wangjing}\"")));
    assert!(!page.contains("id=\"community_id\""));
    let (_, _, page) = c
        .get(&format!("/console/tickets/new?within={wangjing}"))
        .await;
    assert!(page.contains("id=\"community_id\""));
    assert!(page.contains("望京西园一区社区") && !page.contains("大社区001"));
    let (_, _, big) = c
        .get(&format!("/console/tickets/new?within={}", street["id"]))
        .await;
    assert_eq!(
        big.matches("大社区").count() - big.matches("大社区街道").count(),
        200,
        "every one of the street's"
    );
    // The ticket is logged there, and a form that comes back keeps the narrowed list.
    let idem = form_key(&page);
    let community = app.org_id("花家地北里社区").await;
    let form = |title: &'static str| {
        ticket_form(&token, &idem, None)
            .text("within", wangjing.to_string())
            .text("community_id", community.to_string())
            .text("title", title)
    };
    let (status, _, body) = c
        .post_multipart("/console/tickets/new", form("").text("description", ""))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        body.contains(&format!("<option value=\"{community}\" selected")),
        "{body}"
    );
    let before = app.count("tickets");
    let (status, _, body) = c
        .post_multipart("/console/tickets/new", form("在大城市里登记"))
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    assert_eq!(app.count("tickets"), before + 1);
    let (_, _, page) = c.get("/console/tickets/new?within=x").await;
    assert!(page.contains("within"), "a made-up place is named");
}

/// A city's rates rank thousands of units: the page shows the best and the worst 20 with
/// how many lie between, in the API's order; the API and the CSV keep the whole ranking.
async fn the_rates_page_shows_a_citys_best_and_worst_units(store: Store) {
    let app = TestApp::spawn(store).await;
    // The console's 30 days: up to today's midnight, figures as of then.
    let tz = "Asia/Shanghai".parse().unwrap();
    let period =
        jiesu_core::stats::days_before_today(chrono::Utc::now().naive_utc(), 30, tz).unwrap();
    app.with_conn(|conn| {
        let spec = jiesu_core::loadgen::Spec {
            closed: 600,
            open: 0,
            due: 0,
            as_of: period.to,
            trails: true,
            city: true,
            days: None,
            tz,
        };
        jiesu_core::loadgen::generate(conn, spec, 1_000, |_| {}).unwrap();
    });
    let admin = app.login("demo-admin").await;
    let root = app.org_id("北京市").await;
    let (from, to) = (
        period.from.and_utc().to_rfc3339(),
        period.to.and_utc().to_rfc3339(),
    );
    let enc = |s: &str| s.replace('+', "%2B");
    let (status, stats) = app
        .get(
            &format!(
                "/api/v1/stats?org_unit_id={root}&from={}&to={}",
                enc(&from),
                enc(&to)
            ),
            &admin,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{stats}");
    let ranked: Vec<i64> = stats["partners"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["rank"].as_i64().unwrap())
        .collect();
    assert!(ranked.len() > 50, "{} units ranked", ranked.len());
    let (mut c, _) = Console::sign_in(&app, "demo-admin").await;
    let (status, _, page) = c.get(&format!("/console/stats?org_unit_id={root}")).await;
    assert_eq!(status, StatusCode::OK);
    let table = page
        .split("共建单位排名")
        .nth(1)
        .and_then(|t| t.split("</table>").next())
        .expect("the units' ranking");
    let shown: Vec<i64> = table
        .split("data-label=\"名次\" class=\"num\">")
        .skip(1)
        .map(|cell| cell.split('<').next().unwrap().parse().unwrap())
        .collect();
    let expected: Vec<i64> = ranked[..20]
        .iter()
        .chain(&ranked[ranked.len() - 20..])
        .copied()
        .collect();
    assert_eq!(shown, expected, "the best 20 and the worst 20");
    assert!(
        table.contains(&format!("中间 {} 个未列出", ranked.len() - 40)),
        "how many lie between: {table}"
    );
    assert!(page.len() < 200_000, "a page of {} bytes", page.len());
    assert!(
        page.contains("数据截至今日 0 时"),
        "the page says when its figures stand"
    );
}

/// Two API processes behind a load balancer: a console session signed in through one is
/// served by the other, and its forms' CSRF token is accepted there (a forged one is not).
async fn a_console_session_and_its_forms_work_through_another_process(store: Store) {
    let app = TestApp::spawn(store).await;
    let other = app.another_process().await;
    let (mut c, token) = Console::sign_in(&app, "demo-supervisor").await;
    c.base = other;
    let (status, _, page) = c.get("/console/tickets").await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the other process serves the session"
    );
    assert_eq!(csrf_of(&page), token, "the same session's token");
    let (status, _, _) = c.post("/console/logout", &[("csrf", "forged")]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, location, _) = c.post("/console/logout", &[("csrf", &token)]).await;
    assert_eq!(
        (status, location.as_str()),
        (StatusCode::SEE_OTHER, "/console/login")
    );
    c.base = app.address.clone();
    let (status, _, _) = c.get("/console/tickets").await;
    assert_eq!(status, StatusCode::SEE_OTHER, "signed out on the first too");
}

/// A street office logs a 12345 transfer in the page: the channel and the hotline's number
/// are asked for, shown on the ticket, the same number again is refused beside its field,
/// and the list and the rates narrow to a channel.
async fn a_hotline_transfer_is_logged_once_in_the_page(store: Store) {
    let app = TestApp::spawn(store).await;
    let (mut c, token) = Console::sign_in(&app, "demo-supervisor").await;
    let community = app.org_id("望京西园一区社区").await.to_string();
    let (_, _, page) = c.get("/console/tickets/new").await;
    assert!(
        page.contains(r#"<option value="other" selected>其他</option>"#),
        "a supervisor's ticket came in another way unless chosen: {page}"
    );
    let transfer = |idem: String, reference: &str| {
        reqwest::multipart::Form::new()
            .text("csrf", token.clone())
            .text("idem", idem)
            .text("category", "property_management")
            .text("channel", "hotline")
            .text("hotline_ref", reference.to_owned())
            .text("community_id", community.clone())
            .text("title", "热线：楼道灯不亮")
            .text("description", "12345 转办")
            .text("address", "望京西园一区5号楼")
            .text("households", "1")
    };
    let (status, location, body) = c
        .post_multipart(
            "/console/tickets/new",
            transfer(form_key(&page), "BJ20261203-0099"),
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    let (_, _, ticket) = c.get(&location).await;
    assert!(
        ticket.contains("12345热线转办") && ticket.contains("BJ20261203-0099"),
        "the ticket says how it came in"
    );
    let id: i64 = location
        .trim_start_matches("/console/tickets/")
        .split(['?', '/'])
        .next()
        .unwrap()
        .parse()
        .unwrap();

    let before = app.count("tickets");
    let (_, _, page) = c.get("/console/tickets/new").await;
    let form = transfer(form_key(&page), "BJ20261203-0099");
    let (status, _, body) = c.post_multipart("/console/tickets/new", form).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(app.count("tickets"), before, "nothing written");
    assert!(body.contains("该热线工单已登记"), "{body}");
    let control = body
        .split("id=\"hotline_ref\"")
        .nth(1)
        .and_then(|r| r.split('>').next())
        .expect("the hotline_ref control");
    assert!(
        control.contains("aria-invalid=\"true\"") && control.contains("hotline_ref-error"),
        "{control}"
    );
    assert!(
        body.contains(r#"<option value="hotline" selected>"#),
        "the choice is kept"
    );

    let (_, _, list) = c.get("/console/tickets?channel=hotline").await;
    assert_eq!(listed_ids(&list), [id]);
    let (_, _, list) = c.get("/console/tickets?hotline_ref=BJ20261203-0099").await;
    assert_eq!(listed_ids(&list), [id]);
    let (_, _, list) = c.get("/console/tickets?channel=walk_in").await;
    assert!(listed_ids(&list).is_empty());
    let (status, _, rates) = c.get("/console/stats?days=7&channel=hotline").await;
    assert_eq!(status, StatusCode::OK);
    assert!(rates.contains("· 12345热线转办"), "{rates}");
    // The weekly volume counts the channel's tickets too: this week, the one transfer.
    let this_week = |page: &str| -> i64 {
        let row = page
            .split("每周受理量（周一起）")
            .nth(1)
            .and_then(|r| r.split("</table>").next())
            .expect("the weekly table");
        row.split("<td class=\"num\">")
            .last()
            .and_then(|c| c.split('<').next())
            .and_then(|n| n.parse().ok())
            .expect("this week's count")
    };
    assert_eq!(this_week(&rates), 1);
    let (_, _, all) = c.get("/console/stats?days=7").await;
    let all_before = this_week(&all);
    assert!(all_before >= 1, "every channel's, the transfer among them");
    let grid = app.login("demo-grid").await;
    let (status, body) = app
        .post(
            "/api/v1/tickets",
            &grid,
            json!({"category": "property_management", "title": "巡查发现", "description": "d",
                   "address": "5号楼"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (_, _, hotline) = c.get("/console/stats?days=7&channel=hotline").await;
    let (_, _, all) = c.get("/console/stats?days=7").await;
    assert_eq!(
        this_week(&hotline),
        1,
        "the patrol's ticket is not the hotline's"
    );
    assert_eq!(
        this_week(&all),
        this_week(&rates) + 1,
        "every channel's tickets this week"
    );
    assert!(
        rates.contains("&amp;channel=hotline"),
        "links keep the channel"
    );
    let (status, _, _) = c.get("/console/stats?channel=fax").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
}

/// The rates page offers months and quarters, and shows one beside the one before.
async fn the_rates_page_compares_a_month_with_the_one_before(store: Store) {
    let app = TestApp::spawn(store).await;
    let (mut c, _) = Console::sign_in(&app, "demo-supervisor").await;
    let (status, _, page) = c.get("/console/stats?period=2026-11").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let table = page
        .split("id=\"figures\"")
        .nth(1)
        .and_then(|r| r.split("</table>").next())
        .expect("the figures");
    assert!(table.contains("上期") && table.contains("环比"), "{table}");
    assert!(
        page.contains("上期 2026-10-01"),
        "the period before is named"
    );
    assert!(
        page.contains(r#"<option value="2026-11" selected>"#),
        "{page}"
    );
    assert!(
        page.contains("&amp;period=2026-11"),
        "the links keep the month"
    );
    let (_, _, page) = c.get("/console/stats?period=7d").await;
    assert!(page.contains(r#"<option value="7d" selected>"#));
    let table = page.split("id=\"figures\"").nth(1).unwrap();
    assert!(!table.split("</table>").next().unwrap().contains("环比"));
    let (status, _, _) = c.get("/console/stats?period=2026-13").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
}

/// A street office lists the tickets one unit holds (from the units' ranking) and those
/// standing at one level: the same tickets as the API's filters.
async fn a_supervisor_lists_the_tickets_one_unit_holds_and_one_level(store: Store) {
    let app = TestApp::spawn(store).await;
    let supervisor = app.login("demo-supervisor").await;
    let unit = app.partner_id("望京宜居物业服务有限公司").await;
    let grid = app.login("demo-grid").await;
    let (status, logged) = app
        .post(
            "/api/v1/tickets",
            &grid,
            json!({"category": "property_management", "title": "派给物业", "description": "d",
                   "address": "5号楼"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{logged}");
    let (status, body) = app
        .post(
            &format!("/api/v1/tickets/{}/dispatch", logged["id"]),
            &supervisor,
            json!({"partner_id": unit}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let ids = |items: Vec<Value>| -> Vec<i64> {
        let mut ids: Vec<i64> = items.iter().map(|t| t["id"].as_i64().unwrap()).collect();
        ids.sort();
        ids
    };
    let (mut c, _) = Console::sign_in(&app, "demo-supervisor").await;
    for (console, api) in [
        (format!("partner_id={unit}"), format!("partner_id={unit}")),
        ("level=0".to_owned(), "level=0".to_owned()),
        ("level=2".to_owned(), "level=2".to_owned()),
    ] {
        let expected = ids(app
            .all(&format!("/api/v1/tickets?{api}"), &supervisor)
            .await);
        let (status, _, page) = c.get(&format!("/console/tickets?{console}")).await;
        assert_eq!(status, StatusCode::OK);
        let mut listed = listed_ids(&page);
        listed.sort();
        listed.dedup();
        assert_eq!(listed, expected, "{console}");
        if console.starts_with("partner_id") {
            assert!(
                expected.contains(&logged["id"].as_i64().unwrap()),
                "{expected:?}"
            );
            assert!(text_of_id(&page, "held-by").contains("望京宜居物业服务有限公司"));
        }
    }
    let (status, _, _) = c.get("/console/tickets?level=7").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
}

/// A street office merges a repeated call into the ticket it repeats: the form offers the
/// week's open tickets of the same category in the community, or takes a number; it goes
/// ahead only with its box ticked.
async fn a_duplicate_is_merged_from_its_page_into_the_ticket_it_repeats(store: Store) {
    let app = TestApp::spawn(store).await;
    let grid = app.login("demo-grid").await;
    let supervisor = app.login("demo-supervisor").await;
    let mut logged = Vec::new();
    for (title, households) in [
        ("原单：楼道灯不亮", 2),
        ("重复：楼道灯又报", 3),
        ("再报：楼道灯", 1),
    ] {
        let (status, t) = app
            .post(
                "/api/v1/tickets",
                &grid,
                json!({"category": "property_management", "title": title, "description": "d",
                       "address": "5号楼", "households": households}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{t}");
        logged.push(t);
    }
    let id = |n: usize| logged[n]["id"].as_i64().unwrap();
    let (mut c, token) = Console::sign_in(&app, "demo-supervisor").await;
    let (_, _, page) = c.get(&format!("/console/tickets/{}", id(1))).await;
    assert!(
        page.contains(&format!(r#"name="into" value="{}""#, id(0))),
        "the ticket it repeats is offered"
    );
    assert!(
        !page.contains(&format!(r#"name="into" value="{}""#, id(1))),
        "not itself"
    );
    let act = format!("/console/tickets/{}/act", id(1));
    let into = id(0).to_string();
    // Without the box ticked: refused, nothing merged.
    let (status, _, body) = c
        .post(
            &act,
            &[("csrf", &token), ("action", "merge"), ("into", &into)],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (_, t) = app
        .get(&format!("/api/v1/tickets/{}", id(1)), &supervisor)
        .await;
    assert_ne!(t["status"], "merged");
    let (status, location, _) = c
        .post(
            &act,
            &[
                ("csrf", &token),
                ("action", "merge"),
                ("into", &into),
                ("confirm", "1"),
                ("note", "同一盏灯"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(location.ends_with("done=merged"), "{location}");
    let (_, merged) = app
        .get(&format!("/api/v1/tickets/{}", id(1)), &supervisor)
        .await;
    assert_eq!(
        (&merged["status"], &merged["merged_into_id"]),
        (&json!("merged"), &json!(id(0)))
    );
    let (_, survivor) = app
        .get(&format!("/api/v1/tickets/{}", id(0)), &supervisor)
        .await;
    assert_eq!(
        survivor["households"], 5,
        "its households count on the survivor"
    );
    // By the number typed, too; a number outside the scope is refused naming the field.
    let act = format!("/console/tickets/{}/act", id(2));
    let (status, _, body) = c
        .post(
            &act,
            &[
                ("csrf", &token),
                ("action", "merge"),
                ("into_number", "999999-2026-000001"),
                ("confirm", "1"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body.contains("并入的工单"), "the field is named");
    let number = logged[0]["number"].as_str().unwrap();
    let (status, _, _) = c
        .post(
            &act,
            &[
                ("csrf", &token),
                ("action", "merge"),
                ("into_number", number),
                ("confirm", "1"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, survivor) = app
        .get(&format!("/api/v1/tickets/{}", id(0)), &supervisor)
        .await;
    assert_eq!(survivor["households"], 6);
}

crate::on_both_stores!(
    a_duplicate_is_merged_from_its_page_into_the_ticket_it_repeats,
    a_supervisor_lists_the_tickets_one_unit_holds_and_one_level,
    the_rates_page_compares_a_month_with_the_one_before,
    a_hotline_transfer_is_logged_once_in_the_page,
    a_console_session_and_its_forms_work_through_another_process,
    the_rates_page_shows_a_citys_best_and_worst_units,
    a_city_wide_supervisor_narrows_to_a_street_to_pick_the_community,
    the_overdue_page_pages_the_escalated_tickets_with_their_total,
    an_administrator_pages_through_a_citys_worth_of_units_partners_and_accounts,
    every_form_that_changes_something_refuses_a_forged_token,
    the_ticket_list_pages_both_ways_with_its_total,
    the_ticket_page_offers_only_what_core_accepts_for_every_role_and_state,
    an_administrator_creates_disables_and_resets_accounts_in_the_page,
    changing_ones_password_in_the_page_keeps_this_session_and_ends_the_others,
    every_page_of_every_role_renders,
    signing_in_sets_an_http_only_session_and_forms_need_their_token,
    a_console_action_without_its_token_is_refused_and_changes_nothing,
    pages_outside_ones_scope_or_role_are_html_error_pages,
    racing_claims_through_the_pool_page_leave_one_winner_and_tell_the_others,
    the_new_ticket_form_checks_the_photo_and_logs_once,
    a_refused_new_ticket_ties_each_error_to_its_field_in_form_order,
);
