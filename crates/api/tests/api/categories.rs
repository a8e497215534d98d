use serde_json::json;

use crate::helpers::{assert_names_field, StatusCode, Store, TestApp};

fn rule(respond: i32, resolve: i32, clock: &str) -> serde_json::Value {
    json!({"respond_minutes": respond, "resolve_minutes": resolve, "clock": clock})
}

async fn categories_carry_an_sla_per_priority(store: Store) {
    let app = TestApp::spawn(store).await;
    let admin = app.login("demo-admin").await;
    let (status, created) = app
        .post("/api/v1/categories", &admin, json!({
            "code": "lift_fault", "name_zh": "电梯故障", "name_en": "Lift fault", "default_priority": "high",
            "sla": {"urgent": rule(15, 120, "calendar"), "high": rule(60, 1440, "calendar"),
                    "normal": rule(450, 3150, "working"), "low": rule(900, 3150, "working")}
        }))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["id"].as_i64().unwrap();
    let grid = app.login("demo-grid").await;
    let (status, read) = app.get(&format!("/api/v1/categories/{id}"), &grid).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(read["name_zh"], "电梯故障");
    assert_eq!(read["sla"]["normal"], rule(450, 3150, "working"));

    // Changing one priority's rule leaves the others as they were.
    let (status, changed) = app
        .patch(
            &format!("/api/v1/categories/{id}"),
            &admin,
            json!({"sla": {"urgent": rule(10, 60, "calendar")}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    assert_eq!(changed["sla"]["urgent"], rule(10, 60, "calendar"));
    assert_eq!(changed["sla"]["high"], rule(60, 1440, "calendar"));

    // The demo's Beijing 12345-style limits: urgent 2 h, utilities 24 h, general 7 working days.
    let all = app.all("/api/v1/categories", &grid).await;
    let water = all.iter().find(|c| c["code"] == "water_supply").unwrap();
    assert_eq!(water["sla"]["urgent"]["resolve_minutes"], 120);
    assert_eq!(water["sla"]["high"]["resolve_minutes"], 24 * 60);
    let general = all
        .iter()
        .find(|c| c["code"] == "environment_sanitation")
        .unwrap();
    assert_eq!(general["sla"]["normal"], rule(450, 7 * 450, "working"));
}

async fn bad_sla_rules_are_named_and_nothing_is_written(store: Store) {
    let app = TestApp::spawn(store).await;
    let admin = app.login("demo-admin").await;
    let before = (app.count("categories"), app.count("sla_policies"));
    let (status, body) = app
        .post(
            "/api/v1/categories",
            &admin,
            json!({
                "code": "Bad Code", "name_zh": " ", "name_en": "x", "default_priority": "normal",
                "sla": {"urgent": rule(30, 10, "calendar"), "high": rule(0, 10, "calendar"),
                        "normal": rule(1, 10, "working"), "low": rule(1, 10, "working")}
            }),
        )
        .await;
    for field in ["code", "name_zh", "sla.urgent", "sla.high.respond_minutes"] {
        assert_names_field(status, &body, StatusCode::UNPROCESSABLE_ENTITY, field);
    }
    let (status, body) = app
        .post(
            "/api/v1/categories",
            &admin,
            json!({
                "code": "ok_code", "name_zh": "好", "name_en": "ok", "default_priority": "normal",
                "sla": {"urgent": rule(1, 10, "sundial"), "high": rule(1, 10, "calendar"),
                        "normal": rule(1, 10, "working"), "low": rule(1, 10, "working")}
            }),
        )
        .await;
    assert_names_field(
        status,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "sla.urgent.clock",
    );
    let (status, body) = app
        .post("/api/v1/categories", &admin, json!({"code": "ok_code", "name_zh": "好", "name_en": "ok", "default_priority": "normal",
            "sla": {"urgent": rule(1, 10, "calendar")}}))
        .await;
    assert_names_field(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "sla.high");
    let supervisor = app.login("demo-supervisor").await;
    let (status, _) = app
        .post("/api/v1/categories", &supervisor, json!({"code": "sup_code", "name_zh": "好", "name_en": "ok", "default_priority": "normal",
            "sla": {"urgent": rule(1, 10, "calendar"), "high": rule(1, 10, "calendar"), "normal": rule(1, 10, "working"), "low": rule(1, 10, "working")}}))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!((app.count("categories"), app.count("sla_policies")), before);
}

/// Each API process keeps the categories a second: a category taken out of use through one
/// process refuses new tickets there at once, and on another process once that second has
/// passed.
async fn a_category_taken_out_of_use_is_refused_on_every_process_within_a_second(store: Store) {
    let app = TestApp::spawn(store).await;
    let other = app.another_process().await;
    let admin = app.login("demo-admin").await;
    let grid = app.login("demo-grid").await;
    let ticket = json!({"category": "property_management", "title": "楼道灯不亮",
                        "description": "5号楼2单元", "address": "望京西园一区5号楼"});
    let log_there = || {
        app.call_at(
            &other,
            reqwest::Method::POST,
            "/api/v1/tickets",
            Some(&grid),
            Some(ticket.clone()),
        )
    };
    // Both processes log one, and so keep the category.
    let (status, body) = app.post("/api/v1/tickets", &grid, ticket.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = log_there().await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    let id = app
        .all("/api/v1/categories", &admin)
        .await
        .into_iter()
        .find(|c| c["code"] == "property_management")
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    let (status, body) = app
        .patch(
            &format!("/api/v1/categories/{id}"),
            &admin,
            json!({"active": false}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = app.post("/api/v1/tickets", &grid, ticket.clone()).await;
    assert_names_field(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "category");
    tokio::time::sleep(jiesu_core::reference::FRESH_FOR + std::time::Duration::from_millis(300))
        .await;
    let (status, body) = log_there().await;
    assert_names_field(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "category");
}

crate::on_both_stores!(
    a_category_taken_out_of_use_is_refused_on_every_process_within_a_second,
    categories_carry_an_sla_per_priority,
    bad_sla_rules_are_named_and_nothing_is_written
);
