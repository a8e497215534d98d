use serde_json::json;

use crate::helpers::{assert_names_field, StatusCode, Store, TestApp};

async fn admins_create_and_rescope_accounts(store: Store) {
    let app = TestApp::spawn(store).await;
    let admin = app.login("demo-admin").await;
    let street = app.org_id("和平街街道").await;
    let (status, created) = app
        .post("/api/v1/users", &admin, json!({
            "username": "hepingjie-chief", "display_name": "和平街 赵主任", "email": "zhao@example.com",
            "password": "a-long-enough-password", "role": "supervisor", "org_unit_id": street
        }))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert!(created.get("password").is_none() && created.get("password_hash").is_none());
    let id = created["id"].as_i64().unwrap();
    let token = {
        let (status, body) = app
            .login_with("hepingjie-chief", "a-long-enough-password")
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["token"].as_str().unwrap().to_owned()
    };
    let wangjing = app.org_id("望京西园一区社区").await;
    let (status, _) = app
        .get(&format!("/api/v1/org-units/{wangjing}"), &token)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Re-scoped to the district: the same token now sees Wangjing.
    let district = app.org_id("朝阳区").await;
    let (status, body) = app
        .patch(
            &format!("/api/v1/users/{id}"),
            &admin,
            json!({"org_unit_id": district}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _) = app
        .get(&format!("/api/v1/org-units/{wangjing}"), &token)
        .await;
    assert_eq!(status, StatusCode::OK);

    let listed = app.all("/api/v1/users?role=supervisor", &admin).await;
    assert!(listed.iter().any(|u| u["username"] == "hepingjie-chief"));
    // Only admins manage accounts.
    let (status, _) = app.get("/api/v1/users", &token).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

async fn account_rules_are_enforced_and_nothing_half_written(store: Store) {
    let app = TestApp::spawn(store).await;
    let admin = app.login("demo-admin").await;
    let before = app.count("users");
    let street = app.org_id("望京街道").await;
    let (status, body) = app
        .post("/api/v1/users", &admin, json!({"username": "demo-grid", "display_name": "重名", "password": "long-enough-pass", "role": "admin"}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let (status, body) = app
        .post("/api/v1/users", &admin, json!({"username": "grid2", "display_name": "网格员", "password": "long-enough-pass", "role": "grid_member", "org_unit_id": street}))
        .await;
    assert_names_field(
        status,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "org_unit_id",
    );
    let (status, body) = app
        .post("/api/v1/users", &admin, json!({"username": "unit2", "display_name": "员工", "password": "long-enough-pass", "role": "unit_staff"}))
        .await;
    assert_names_field(
        status,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "partner_id",
    );
    let (status, body) = app
        .post("/api/v1/users", &admin, json!({"username": "x", "display_name": "", "password": "short", "role": "admin", "email": "not-mail"}))
        .await;
    for field in ["username", "display_name", "password", "email"] {
        assert_names_field(status, &body, StatusCode::UNPROCESSABLE_ENTITY, field);
    }
    let (status, body) = app
        .post("/api/v1/users", &admin, json!({"username": "boss", "display_name": "x", "password": "long-enough-pass", "role": "mayor"}))
        .await;
    assert_names_field(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "role");
    assert_eq!(app.count("users"), before);
    // An admin cannot lock themselves out.
    let (_, me) = app.get("/api/v1/me", &admin).await;
    let (status, body) = app
        .patch(
            &format!("/api/v1/users/{}", me["user"]["id"]),
            &admin,
            json!({"active": false}),
        )
        .await;
    assert_names_field(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "active");
}

async fn accounts_and_units_are_found_by_what_their_names_contain(store: Store) {
    let app = TestApp::spawn(store).await;
    let admin = app.login("demo-admin").await;
    let found = app.all("/api/v1/users?q=demo-gri", &admin).await;
    let names: Vec<&str> = found
        .iter()
        .map(|u| u["username"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["demo-grid"]);
    // By the display name too, and `%` or `_` are only themselves.
    let grid_name = found[0]["display_name"].as_str().unwrap().to_owned();
    let by_name = app
        .all(
            &format!("/api/v1/users?q={}", urlencoding(&grid_name)),
            &admin,
        )
        .await;
    assert!(by_name.iter().any(|u| u["username"] == "demo-grid"));
    assert!(app.all("/api/v1/users?q=%25", &admin).await.is_empty());
    assert!(app
        .all("/api/v1/users?q=demo_grid", &admin)
        .await
        .is_empty());
    let all_units = app.all("/api/v1/partners", &admin).await;
    let first = all_units[0]["name"].as_str().unwrap().to_owned();
    let units = app
        .all(
            &format!("/api/v1/partners?q={}", urlencoding(&first)),
            &admin,
        )
        .await;
    assert!(units.iter().any(|p| p["name"] == first.as_str()));
    assert!(
        units.len() < all_units.len(),
        "a search, not the whole list"
    );
    assert!(units
        .iter()
        .all(|p| p["name"].as_str().unwrap().contains(&first)));
}

fn urlencoding(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

crate::on_both_stores!(
    accounts_and_units_are_found_by_what_their_names_contain,
    admins_create_and_rescope_accounts,
    account_rules_are_enforced_and_nothing_half_written
);
