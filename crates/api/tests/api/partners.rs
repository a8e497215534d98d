use serde_json::json;

use crate::helpers::{assert_names_field, StatusCode, Store, TestApp};

async fn a_supervisor_registers_a_partner_unit_for_its_communities(store: Store) {
    let app = TestApp::spawn(store).await;
    let supervisor = app.login("demo-supervisor").await;
    let c1 = app.org_id("望京西园一区社区").await;
    let c2 = app.org_id("花家地北里社区").await;
    let (status, created) = app
        .post(
            "/api/v1/partners",
            &supervisor,
            json!({
                "name": "望京电工志愿服务队（老旧线路）", "kind": "social_org",
                "contact_email": "dianwork@example.com", "contact_phone": "13800000000",
                "communities": [c2, c1, c1], "categories": ["power_supply", "safety_hazard"]
            }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["id"].as_i64().unwrap();
    let (status, read) = app
        .get(&format!("/api/v1/partners/{id}"), &supervisor)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(read["name"], "望京电工志愿服务队（老旧线路）");
    assert_eq!(read["kind"], "social_org");
    assert_eq!(read["communities"], json!([c1.min(c2), c1.max(c2)]));
    assert_eq!(read["categories"], json!(["power_supply", "safety_hazard"]));
    assert_eq!(read["active"], true);

    // Filters: by community and by category.
    let by_category = app
        .all(
            &format!("/api/v1/partners?community_id={c1}&category=power_supply"),
            &supervisor,
        )
        .await;
    let names: Vec<_> = by_category
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"望京电工志愿服务队（老旧线路）"),
        "{names:?}"
    );
    assert!(!names.contains(&"望京社区卫生服务中心"), "{names:?}");

    let (status, changed) = app
        .patch(
            &format!("/api/v1/partners/{id}"),
            &supervisor,
            json!({"active": false, "contact_phone": null}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    assert_eq!(changed["active"], false);
    assert_eq!(changed["contact_phone"], serde_json::Value::Null);
    assert_eq!(
        changed["categories"],
        json!(["power_supply", "safety_hazard"])
    );
}

async fn a_supervisor_cannot_pair_a_unit_outside_its_subtree(store: Store) {
    let app = TestApp::spawn(store).await;
    let supervisor = app.login("demo-supervisor").await;
    let other = app.org_id("和平街一社区").await;
    let street = app.org_id("望京街道").await;
    let before = app.count("partners");
    let (status, body) = app
        .post("/api/v1/partners", &supervisor, json!({"name": "越界单位", "kind": "enterprise", "contact_email": "x@example.com", "communities": [other]}))
        .await;
    assert_names_field(
        status,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "communities[0]",
    );
    let (status, body) = app
        .post("/api/v1/partners", &supervisor, json!({"name": "挂街道单位", "kind": "enterprise", "contact_email": "x@example.com", "communities": [street], "categories": ["no_such_category"]}))
        .await;
    assert_names_field(
        status,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "communities[0]",
    );
    assert_names_field(
        status,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "categories[0]",
    );
    let (status, body) = app
        .post("/api/v1/partners", &supervisor, json!({"name": "望京宜居物业服务有限公司", "kind": "property", "contact_email": "x@example.com", "communities": [app.org_id("花家地北里社区").await]}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let grid_member = app.login("demo-grid").await;
    let (status, _) = app
        .post(
            "/api/v1/partners",
            &grid_member,
            json!({"name": "网格员建的", "kind": "other", "contact_email": "x@example.com"}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(app.count("partners"), before);
}

/// A unit that serves several districts: a street or district supervisor may change only
/// its pairings with their own communities, never its name, contacts, kind, categories or
/// active flag (those reach every district); an administrator may.
async fn a_unit_shared_across_districts_is_changed_only_where_it_is_all_yours(store: Store) {
    let app = TestApp::spawn(store).await;
    let shared = app.partner_id("城市排水与燃气服务公司").await;
    let admin = app.login("demo-admin").await;
    let before: serde_json::Value = app
        .get(&format!("/api/v1/partners/{shared}"), &admin)
        .await
        .1;
    for who in ["demo-supervisor", "demo-district"] {
        let token = app.login(who).await;
        for change in [
            json!({"contact_email": "attacker@elsewhere.example.com"}),
            json!({"name": "改名"}),
            json!({"active": false}),
            json!({"kind": "other"}),
            json!({"contact_phone": "010-87654321"}),
            json!({"categories": ["water_supply"]}),
        ] {
            let (status, body) = app
                .patch(
                    &format!("/api/v1/partners/{shared}"),
                    &token,
                    change.clone(),
                )
                .await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{who} {change}: {body}");
        }
        // Its own pairings it may change.
        let mine = app.org_id("望京西园一区社区").await;
        let (status, body) = app
            .patch(
                &format!("/api/v1/partners/{shared}"),
                &token,
                json!({"communities": [mine]}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{who}: {body}");
    }
    let after: serde_json::Value = app
        .get(&format!("/api/v1/partners/{shared}"), &admin)
        .await
        .1;
    for field in [
        "name",
        "contact_email",
        "contact_phone",
        "kind",
        "active",
        "categories",
    ] {
        assert_eq!(before[field], after[field], "{field} unchanged");
    }
    let (status, body) = app
        .patch(
            &format!("/api/v1/partners/{shared}"),
            &admin,
            json!({"contact_email": "new-desk@utility.example.com"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // A unit entirely inside a street stays that street's to edit.
    let wangjing_only = app.partner_id("望京宜居物业服务有限公司").await;
    let street = app.login("demo-supervisor").await;
    let (status, body) = app
        .patch(
            &format!("/api/v1/partners/{wangjing_only}"),
            &street,
            json!({"contact_phone": "010-64701234"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

crate::on_both_stores!(
    a_unit_shared_across_districts_is_changed_only_where_it_is_all_yours,
    a_supervisor_registers_a_partner_unit_for_its_communities,
    a_supervisor_cannot_pair_a_unit_outside_its_subtree,
);
