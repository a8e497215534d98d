//! What the service exposes beyond its answers: the metrics endpoint and its labels, and
//! the headers that keep residents' data out of caches and on https.

use crate::helpers::{StatusCode, Store, TestApp};

async fn made_up_methods_do_not_grow_the_metrics_and_metrics_are_not_public(store: Store) {
    let app = TestApp::spawn(store).await;
    let metrics = |app: &TestApp, token: Option<&str>| {
        let mut req = app.client.get(format!("{}/metrics", app.address));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send()
    };
    let before = metrics(&app, None)
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
        .len();
    for i in 0..200 {
        let res = app
            .client
            .request(
                reqwest::Method::from_bytes(format!("FOO{i}").as_bytes()).unwrap(),
                format!("{}/api/v1/tickets", app.address),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED);
    }
    let text = metrics(&app, None).await.unwrap().text().await.unwrap();
    assert!(!text.contains("FOO"), "no label per made-up method");
    assert!(
        text.len() < before + 4096,
        "the metrics did not grow with the made-up methods: {before} → {}",
        text.len()
    );

    // Only the configured addresses, or the token, read /metrics.
    let closed = TestApp::spawn_with(store, |s| {
        s.metrics.allow_from = vec![];
        s.metrics.token = "scrape-me-please-0123456789".into();
    })
    .await;
    assert_eq!(
        metrics(&closed, None).await.unwrap().status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        metrics(&closed, Some("a guess")).await.unwrap().status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        metrics(&closed, Some("scrape-me-please-0123456789"))
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
}

async fn answers_with_residents_data_are_not_cached_and_https_is_insisted_on(store: Store) {
    let app = TestApp::spawn_with(store, |s| {
        s.server.public_url = "https://jiesu.example.gov.cn".into();
    })
    .await;
    let token = app.login("demo-supervisor").await;
    for path in ["/api/v1/tickets", "/api/v1/tickets.csv", "/api/v1/me"] {
        let res = app
            .client
            .get(format!("{}{path}", app.address))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{path}");
        assert_eq!(
            res.headers()["cache-control"],
            "private, no-store",
            "{path}"
        );
        assert_eq!(
            res.headers()["strict-transport-security"],
            "max-age=31536000",
            "{path}"
        );
    }
    let plain = TestApp::spawn(store).await;
    let res = plain
        .client
        .get(format!("{}/healthz", plain.address))
        .send()
        .await
        .unwrap();
    assert!(
        res.headers().get("strict-transport-security").is_none(),
        "no HSTS over plain http"
    );
}

/// A photo upload reads other parts only so far; a console redirect target with a line
/// break is refused, not a 500.
async fn uploads_and_redirect_targets_are_bounded(store: Store) {
    let app = TestApp::spawn(store).await;
    let grid = app.login("demo-grid").await;
    let (status, ticket) = app
        .post(
            "/api/v1/tickets",
            &grid,
            serde_json::json!({"category": "property_management", "title": "上传",
                "description": "x", "address": "1号楼"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let id = ticket["id"].as_i64().unwrap();
    let form = reqwest::multipart::Form::new()
        .part(
            "padding",
            reqwest::multipart::Part::bytes(vec![b'x'; 1024 * 1024]),
        )
        .part(
            "file",
            reqwest::multipart::Part::bytes(crate::helpers::png(100)).file_name("a.png"),
        );
    let res = app
        .client
        .post(format!("{}/api/v1/tickets/{id}/attachments", app.address))
        .bearer_auth(&grid)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(app.count("attachments"), 0);
    for path in [
        "/console/lang/en?back=/console%0d%0aX-Evil:%201",
        "/console/login?next=/console%0aX-Evil:%201",
    ] {
        let res = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
            .get(format!("{}{path}", app.address))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{path}");
        assert!(res.headers().get("x-evil").is_none());
    }
}

crate::on_both_stores!(
    uploads_and_redirect_targets_are_bounded,
    made_up_methods_do_not_grow_the_metrics_and_metrics_are_not_public,
    answers_with_residents_data_are_not_cached_and_https_is_insisted_on,
);
