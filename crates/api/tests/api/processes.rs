//! Two API processes over one database, as behind a load balancer: what one process
//! guarantees holds across both. The same Idempotency-Key sent to both at once logs one
//! ticket; units claiming one pool ticket through both leave one winner; failed sign-ins
//! counted through one make the account wait on the other. (Sign-out, disabling and
//! password changes across processes: `auth`; a console session and its CSRF token:
//! `console`.)

use std::sync::Arc;

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{read, Store, TestApp};

fn ticket(title: &str) -> Value {
    json!({"category": "property_management", "title": title, "description": "两个进程",
           "address": "5号楼", "households": 1})
}

async fn one_key_sent_to_both_processes_at_once_logs_one_ticket(store: Store) {
    let app = TestApp::spawn(store).await;
    let other = app.another_process().await;
    let grid = app.login("demo-grid").await;
    let before = app.count("tickets");
    for round in 0..6 {
        let key = format!("two-processes-{round}");
        let send = |address: String| {
            app.client
                .post(format!("{address}/api/v1/tickets"))
                .bearer_auth(&grid)
                .header("Idempotency-Key", key.clone())
                .json(&ticket("两处同时重试"))
                .send()
        };
        let (a, b) = tokio::join!(send(app.address.clone()), send(other.clone()));
        let (a, b) = (read(a.unwrap()).await, read(b.unwrap()).await);
        assert_eq!(
            (a.0, b.0),
            (StatusCode::CREATED, StatusCode::CREATED),
            "{a:?} {b:?}"
        );
        assert_eq!(a.1["id"], b.1["id"], "one ticket for one key");
        assert_eq!(a.1["number"], b.1["number"]);
    }
    assert_eq!(app.count("tickets"), before + 6);
}

async fn units_claiming_through_both_processes_leave_one_winner(store: Store) {
    let app = TestApp::spawn(store).await;
    let other = app.another_process().await;
    let admin = app.login("demo-admin").await;
    let grid = app.login("demo-grid").await;
    let supervisor = app.login("demo-supervisor").await;
    let community = app.org_id("望京西园一区社区").await;
    let mut tokens = Vec::new();
    for i in 0..6 {
        let (status, partner) = app
            .post("/api/v1/partners", &admin, json!({"name": format!("两处抢单{i}"), "kind": "enterprise", "contact_email": format!("p{i}@example.com"),
                "communities": [community], "categories": ["property_management"]}))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{partner}");
        tokens.push(
            app.account(
                &format!("racer{i}"),
                "unit_staff",
                json!({"partner_id": partner["id"]}),
            )
            .await,
        );
    }
    let app = Arc::new(app);
    for round in 0..3 {
        let (status, logged) = app
            .post("/api/v1/tickets", &grid, ticket(&format!("抢单{round}")))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{logged}");
        let id = logged["id"].as_i64().unwrap();
        let (status, _) = app
            .post(
                &format!("/api/v1/tickets/{id}/dispatch"),
                &supervisor,
                json!({"pool": true}),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        let barrier = Arc::new(tokio::sync::Barrier::new(tokens.len()));
        let claims = tokens.iter().enumerate().map(|(i, token)| {
            let (app, barrier, token) = (app.clone(), barrier.clone(), token.clone());
            // Half the units through each process.
            let address = if i % 2 == 0 {
                app.address.clone()
            } else {
                other.clone()
            };
            tokio::spawn(async move {
                barrier.wait().await;
                app.call_at(
                    &address,
                    reqwest::Method::POST,
                    &format!("/api/v1/tickets/{id}/claim"),
                    Some(&token),
                    Some(json!({})),
                )
                .await
            })
        });
        let mut statuses = Vec::new();
        for claim in claims.collect::<Vec<_>>() {
            statuses.push(claim.await.unwrap().0);
        }
        assert_eq!(
            statuses.iter().filter(|s| **s == StatusCode::OK).count(),
            1,
            "one winner: {statuses:?}"
        );
        assert!(
            statuses
                .iter()
                .all(|s| matches!(*s, StatusCode::OK | StatusCode::CONFLICT)),
            "the others told they lost: {statuses:?}"
        );
    }
}

async fn failed_sign_ins_through_one_process_make_the_account_wait_on_the_other(store: Store) {
    let app = TestApp::spawn(store).await;
    let other = app.another_process().await;
    for _ in 0..app.settings.auth.max_failed_logins {
        let (status, _) = app.login_with("demo-unit", "wrong-password!").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let (status, body) = app
        .call_at(
            &other,
            reqwest::Method::POST,
            "/api/v1/auth/login",
            None,
            Some(json!({"username": "demo-unit", "password": app.password("demo-unit")})),
        )
        .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert!(body["retry_after_secs"].as_u64().unwrap() > 0, "{body}");
}

crate::on_both_stores!(
    one_key_sent_to_both_processes_at_once_logs_one_ticket,
    units_claiming_through_both_processes_leave_one_winner,
    failed_sign_ins_through_one_process_make_the_account_wait_on_the_other,
);
