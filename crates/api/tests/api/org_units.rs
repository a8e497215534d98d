use serde_json::json;

use crate::helpers::{assert_names_field, StatusCode, Store, TestApp};

async fn admin_builds_the_tree_and_reads_it_back_in_chinese(store: Store) {
    let app = TestApp::spawn(store).await;
    let admin = app.login("demo-admin").await;
    let district = app.org_id("朝阳区").await;
    let (status, street) = app
        .post(
            "/api/v1/org-units",
            &admin,
            json!({
                "parent_id": district, "kind": "street", "name": "奥运村街道", "code": "110105043",
                "supervisor_emails": ["Aoyuncun@Street.example.com", "duty@street.example.com"]
            }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{street}");
    let street_id = street["id"].as_i64().unwrap();
    let (status, community) = app
        .post("/api/v1/org-units", &admin, json!({"parent_id": street_id, "kind": "community", "name": "安慧里社区", "code": "110105043001"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{community}");
    let (status, read) = app
        .get(&format!("/api/v1/org-units/{street_id}"), &admin)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(read["name"], "奥运村街道");
    assert_eq!(read["kind"], "street");
    assert_eq!(read["parent_id"], district);
    assert_eq!(
        read["supervisor_emails"],
        json!(["aoyuncun@street.example.com", "duty@street.example.com"])
    );
    let children = app
        .all(&format!("/api/v1/org-units?parent_id={street_id}"), &admin)
        .await;
    assert_eq!(children.len(), 1);
    assert_eq!(children[0]["name"], "安慧里社区");

    let (status, changed) = app
        .patch(
            &format!("/api/v1/org-units/{street_id}"),
            &admin,
            json!({"supervisor_emails": ["new@street.example.com"]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    assert_eq!(
        changed["supervisor_emails"],
        json!(["new@street.example.com"])
    );
    assert_eq!(changed["name"], "奥运村街道");
}

async fn a_child_must_be_exactly_one_level_down(store: Store) {
    let app = TestApp::spawn(store).await;
    let admin = app.login("demo-admin").await;
    let before = app.count("org_units");
    let street = app.org_id("望京街道").await;
    let city = app.org_id("北京市").await;
    let grid_parent = app.org_id("望京西园一区社区").await;

    let (status, body) = app
        .post(
            "/api/v1/org-units",
            &admin,
            json!({"parent_id": street, "kind": "grid", "name": "越级网格", "code": "X1"}),
        )
        .await;
    assert_names_field(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "kind");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("community"),
        "{body}"
    );

    let (status, body) = app
        .post(
            "/api/v1/org-units",
            &admin,
            json!({"parent_id": city, "kind": "street", "name": "直属街道", "code": "X2"}),
        )
        .await;
    assert_names_field(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "kind");

    let (status, body) = app
        .post(
            "/api/v1/org-units",
            &admin,
            json!({"kind": "district", "name": "无上级区", "code": "X3"}),
        )
        .await;
    assert_names_field(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "parent_id");

    let (status, body) = app
        .post(
            "/api/v1/org-units",
            &admin,
            json!({"parent_id": 999999, "kind": "district", "name": "孤儿区", "code": "X4"}),
        )
        .await;
    assert_names_field(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "parent_id");

    let grid = app
        .all(
            &format!("/api/v1/org-units?parent_id={grid_parent}"),
            &admin,
        )
        .await[0]["id"]
        .as_i64()
        .unwrap();
    let (status, body) = app
        .post(
            "/api/v1/org-units",
            &admin,
            json!({"parent_id": grid, "kind": "grid", "name": "子网格", "code": "X5"}),
        )
        .await;
    assert_names_field(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "kind");

    assert_eq!(
        app.count("org_units"),
        before,
        "a refused org unit left a row behind"
    );
}

async fn duplicates_conflict_and_only_admins_edit_the_tree(store: Store) {
    let app = TestApp::spawn(store).await;
    let admin = app.login("demo-admin").await;
    let supervisor = app.login("demo-supervisor").await;
    let street = app.org_id("望京街道").await;
    let before = app.count("org_units");
    let (status, body) = app.post("/api/v1/org-units", &admin, json!({"parent_id": street, "kind": "community", "name": "花家地北里社区", "code": "NEW1"})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let (status, body) = app.post("/api/v1/org-units", &admin, json!({"parent_id": street, "kind": "community", "name": "新社区", "code": "110105026001"})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let (status, body) = app
        .post(
            "/api/v1/org-units",
            &supervisor,
            json!({"parent_id": street, "kind": "community", "name": "新社区", "code": "NEW2"}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["status"], 403);
    assert_eq!(app.count("org_units"), before);
}

crate::on_both_stores!(
    admin_builds_the_tree_and_reads_it_back_in_chinese,
    a_child_must_be_exactly_one_level_down,
    duplicates_conflict_and_only_admins_edit_the_tree,
);
