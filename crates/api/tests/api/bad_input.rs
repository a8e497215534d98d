//! Every kind of bad input gets a problem+json naming what is wrong; nothing is written.

use serde_json::json;

use crate::helpers::{assert_names_field, StatusCode, Store, TestApp};

async fn malformed_bodies_are_named_problems_and_write_nothing(store: Store) {
    let app = TestApp::spawn(store).await;
    let admin = app.login("demo-admin").await;
    let street = app.org_id("望京街道").await;
    let before = app.count("org_units");

    let (status, body) = app
        .post_raw(
            "/api/v1/org-units",
            &admin,
            "application/json",
            b"{\"kind\": \"community\",".to_vec(),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["title"], "Bad Request");

    let (status, body) = app
        .post(
            "/api/v1/org-units",
            &admin,
            json!({"parent_id": "seven", "kind": "community", "name": "n", "code": "c"}),
        )
        .await;
    assert_names_field(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "parent_id");

    let (status, body) = app
        .post(
            "/api/v1/org-units",
            &admin,
            json!({"parent_id": street, "kind": "community", "code": "c"}),
        )
        .await;
    assert_names_field(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "name");

    let (status, body) = app
        .post(
            "/api/v1/org-units",
            &admin,
            json!({"parent_id": street, "kind": "village", "name": "n", "code": "c"}),
        )
        .await;
    assert_names_field(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "kind");

    let (status, body) = app.post("/api/v1/org-units", &admin, json!({"parent_id": street, "kind": "community", "name": "n", "code": "c", "supervisor_emails": ["ok@example.com", "nope"]})).await;
    assert_names_field(
        status,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "supervisor_emails",
    );

    let (status, body) = app
        .post_raw(
            "/api/v1/org-units",
            &admin,
            "text/plain",
            b"name=x".to_vec(),
        )
        .await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{body}");
    assert_eq!(body["status"], 415);

    let huge = json!({"parent_id": street, "kind": "community", "name": "x".repeat(20_000), "code": "big"});
    let (status, body) = app
        .post_raw(
            "/api/v1/org-units",
            &admin,
            "application/json",
            huge.to_string().into_bytes(),
        )
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert_eq!(body["status"], 413);

    assert_eq!(app.count("org_units"), before);
}

async fn unknown_ids_routes_and_bad_queries_are_problems(store: Store) {
    let app = TestApp::spawn(store).await;
    let admin = app.login("demo-admin").await;
    for path in [
        "/api/v1/org-units/987654",
        "/api/v1/partners/987654",
        "/api/v1/categories/987654",
        "/api/v1/users/987654",
        "/api/v1/no-such-thing",
    ] {
        let (status, body) = app.get(path, &admin).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {body}");
        assert_eq!(body["status"], 404, "{path}");
    }
    let (status, body) = app
        .call(
            reqwest::Method::DELETE,
            "/api/v1/categories",
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{body}");
    assert_eq!(body["status"], 405);
    let (status, body) = app.get("/api/v1/org-units?limit=0", &admin).await;
    assert_names_field(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "limit");
    let (status, body) = app.get("/api/v1/org-units?kind=village", &admin).await;
    assert_names_field(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "kind");
    let (status, body) = app.get("/api/v1/org-units?cursor=abc", &admin).await;
    assert_names_field(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "cursor");
    let (status, body) = app.get("/api/v1/org-units/not-a-number", &admin).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
}

async fn pages_cover_every_item_once(store: Store) {
    let app = TestApp::spawn(store).await;
    let admin = app.login("demo-admin").await;
    let all = app.all("/api/v1/org-units", &admin).await; // 7 a page
    let ids: Vec<i64> = all.iter().map(|u| u["id"].as_i64().unwrap()).collect();
    let mut unique = ids.clone();
    unique.dedup();
    assert_eq!(ids, unique);
    assert_eq!(ids.len() as i64, app.count("org_units"));
}

async fn health_and_readiness(store: Store) {
    let app = TestApp::spawn(store).await;
    let res = app
        .client
        .get(format!("{}/healthz", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers().contains_key("x-request-id"));
    let res = app
        .client
        .get(format!("{}/readyz", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["x-content-type-options"], "nosniff");
    // Prometheus text, with requests labelled by route pattern, not by raw URL.
    let admin = app.login("demo-admin").await;
    app.get("/api/v1/org-units/1", &admin).await;
    let text = app
        .client
        .get(format!("{}/metrics", app.address))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.contains("jiesu_http_requests_total"), "{text}");
    assert!(
        text.contains(r#"endpoint="/api/v1/org-units/{id}""#),
        "{text}"
    );
}

crate::on_both_stores!(
    malformed_bodies_are_named_problems_and_write_nothing,
    unknown_ids_routes_and_bad_queries_are_problems,
    pages_cover_every_item_once,
    health_and_readiness,
);
