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

crate::on_both_stores!(
    made_up_methods_do_not_grow_the_metrics_and_metrics_are_not_public,
    answers_with_residents_data_are_not_cached_and_https_is_insisted_on,
);
