//! The escalation views: what rose, seen within scope, and the outbox status for admins.

use serde_json::json;

use crate::helpers::{StatusCode, Store, TestApp};

async fn supervisors_see_the_escalations_of_their_subtree(store: Store) {
    let app = TestApp::spawn(store).await;
    let grid = app.login("demo-grid").await;
    let street = app.login("demo-supervisor").await;
    let admin = app.login("demo-admin").await;
    let (status, ticket) = app
        .post("/api/v1/tickets", &grid, json!({"category": "water_supply", "title": "停水两天", "description": "整栋楼停水", "address": "3号楼"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{ticket}");
    let later = chrono::Utc::now().naive_utc() + chrono::Duration::days(3);
    let report = app.sweep_at(later);
    assert_eq!(report.escalated.len(), 1);

    let seen = app.all("/api/v1/escalations", &street).await;
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0]["number"], ticket["number"]);
    assert_eq!(seen[0]["level"], 1);
    assert_eq!(seen[0]["node_id"], app.org_id("望京街道").await);
    assert_eq!(seen[0]["rises"][0]["from_level"], 0);
    assert_eq!(seen[0]["rises"][0]["to_level"], 1);
    let (_, detail) = app
        .get(&format!("/api/v1/tickets/{}", ticket["id"]), &street)
        .await;
    assert_eq!(detail["level"], 1);
    assert!(detail["events"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["kind"] == "escalated"));

    let haidian = app.org_id("中关村街道").await;
    let outsider = app
        .account("zgc-chief", "supervisor", json!({"org_unit_id": haidian}))
        .await;
    assert!(app.all("/api/v1/escalations", &outsider).await.is_empty());

    let (status, outbox) = app.get("/api/v1/outbox", &admin).await;
    assert_eq!(status, StatusCode::OK, "{outbox}");
    assert!(
        outbox["pending"].as_i64().unwrap() >= 1,
        "the digest waits for the sender: {outbox}"
    );
    let (status, _) = app.get("/api/v1/outbox", &street).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

crate::on_both_stores!(supervisors_see_the_escalations_of_their_subtree);
