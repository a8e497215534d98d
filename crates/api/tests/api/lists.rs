//! The three lists over HTTP: a need gathered from tickets becomes a project and is done;
//! a unit claims a published need; scope and bad input.

use serde_json::json;

use crate::helpers::{assert_names_field, StatusCode, Store, TestApp};

fn in_days(days: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::days(days)).to_rfc3339()
}

async fn log(app: &TestApp, token: &str, title: &str) -> i64 {
    let (status, body) = app
        .post("/api/v1/tickets", token, json!({"category": "property_management", "title": title, "description": "电线老化冒火花", "address": "5号楼", "households": 12}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["id"].as_i64().unwrap()
}

async fn a_need_gathered_from_tickets_becomes_a_project_and_is_done(store: Store) {
    let app = TestApp::spawn(store).await;
    let grid = app.login("demo-grid").await;
    let street = app.login("demo-supervisor").await;
    let unit = app.login("demo-unit").await;
    let community = app.org_id("望京西园一区社区").await;
    let (t1, t2) = (
        log(&app, &grid, "5号楼电线老化（2单元）").await,
        log(&app, &grid, "5号楼电线老化（3单元）").await,
    );

    let (status, need) = app
        .post("/api/v1/needs", &street, json!({"community_id": community, "category": "property_management", "title": "5号楼老旧线路改造",
            "description": "多户反映电线老化", "ticket_ids": [t1, t2], "published": true}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{need}");
    assert_eq!(need["source"], "tickets");
    assert_eq!(need["households"], 24, "the gathered tickets' households");
    assert_eq!(need["status"], "open");
    assert_eq!(need["ticket_ids"], json!([t1, t2]));
    let need_id = need["id"].as_i64().unwrap();
    let (_, ticket) = app.get(&format!("/api/v1/tickets/{t1}"), &grid).await;
    assert_eq!(ticket["need_id"], need_id, "the ticket keeps its link");

    let (status, resource) = app
        .post("/api/v1/resources", &unit, json!({"title": "电工班组", "category": "property_management", "capacity": "4名持证电工", "schedule": "工作日 09:00-17:00", "communities": [community]}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{resource}");
    assert_eq!(
        resource["partner_id"],
        app.partner_id("望京宜居物业服务有限公司").await
    );

    let (status, project) = app
        .post("/api/v1/projects", &street, json!({"need_id": need_id, "resource_id": resource["id"], "due_at": in_days(30),
            "milestones": [{"title": "入户勘察", "due_at": in_days(7)}, {"title": "更换线路", "due_at": in_days(25)}]}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{project}");
    assert_eq!(project["status"], "planned");
    assert_eq!(project["title"], "5号楼老旧线路改造");
    let pid = project["id"].as_i64().unwrap();
    let (_, need) = app.get(&format!("/api/v1/needs/{need_id}"), &street).await;
    assert_eq!(need["status"], "matched");

    let (status, body) = app
        .post(
            &format!("/api/v1/projects/{pid}/start"),
            &unit,
            json!({"note": "已进场"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let milestone = body["milestones"][0]["id"].as_i64().unwrap();
    let (status, _) = app
        .post(
            &format!("/api/v1/projects/{pid}/milestones/{milestone}/done"),
            &unit,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, done) = app
        .post(
            &format!("/api/v1/projects/{pid}/complete"),
            &unit,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{done}");
    assert_eq!(done["status"], "done");
    let kinds: Vec<&str> = done["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["created", "started", "milestone_done", "completed"]);
    let (_, need) = app.get(&format!("/api/v1/needs/{need_id}"), &street).await;
    assert_eq!(need["status"], "done");
    let (status, _) = app
        .post(&format!("/api/v1/projects/{pid}/start"), &unit, json!({}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "done is final");
    assert!(app
        .all("/api/v1/projects?overdue=true", &street)
        .await
        .is_empty());

    // The three lists as CSV, Chinese intact.
    for (path, expected) in [
        ("needs.csv", "5号楼老旧线路改造"),
        ("resources.csv", "4名持证电工"),
        ("projects.csv", "5号楼老旧线路改造"),
    ] {
        let res = app
            .client
            .get(format!("{}/api/v1/{path}", app.address))
            .bearer_auth(&street)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{path}");
        let bytes = res.bytes().await.unwrap();
        assert!(bytes.starts_with(b"\xEF\xBB\xBF"), "{path}");
        let mut reader = csv::Reader::from_reader(&bytes[3..]);
        let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
        assert_eq!(rows.len(), 1, "{path}");
        assert!(
            rows[0].iter().any(|cell| cell == expected),
            "{path}: {:?}",
            rows[0]
        );
    }
}

async fn a_unit_claims_a_published_need_and_a_second_claim_is_refused(store: Store) {
    let app = TestApp::spawn(store).await;
    let street = app.login("demo-supervisor").await;
    let unit = app.login("demo-unit").await;
    let community = app.org_id("望京西园一区社区").await;
    let new_need = |published: bool| json!({"community_id": community, "category": "property_management", "title": "楼顶防水", "description": "雨季漏水", "households": 8, "published": published});
    let (_, hidden) = app.post("/api/v1/needs", &street, new_need(false)).await;
    let (status, _) = app
        .get(&format!("/api/v1/needs/{}", hidden["id"]), &unit)
        .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "unpublished needs are the community's own"
    );
    let (_, need) = app.post("/api/v1/needs", &street, new_need(true)).await;
    let need_id = need["id"].as_i64().unwrap();
    assert!(
        app.all("/api/v1/needs", &unit)
            .await
            .iter()
            .any(|n| n["id"] == need_id),
        "the unit reads the published list"
    );

    let (status, project) = app
        .post(
            &format!("/api/v1/needs/{need_id}/claim"),
            &unit,
            json!({"due_at": in_days(20)}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{project}");
    assert_eq!(
        project["owner_partner_id"],
        app.partner_id("望京宜居物业服务有限公司").await
    );
    // A project made by claiming starts without milestones: its unit plans them.
    assert_eq!(project["milestones"], json!([]));
    let pid = project["id"].as_i64().unwrap();
    let (status, planned) = app
        .post(
            &format!("/api/v1/projects/{pid}/milestones"),
            &unit,
            json!({"title": "材料进场", "due_at": in_days(5)}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{planned}");
    assert_eq!(planned["milestones"][0]["title"], "材料进场");
    let (status, body) = app
        .post(
            &format!("/api/v1/projects/{pid}/milestones"),
            &unit,
            json!({"title": " ", "due_at": in_days(5)}),
        )
        .await;
    assert_names_field(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "title");
    let admin = app.login("demo-admin").await;
    let (_, rival) = app
        .post("/api/v1/partners", &admin, json!({"name": "另一家物业", "kind": "property", "contact_email": "x@example.com", "communities": [community], "categories": ["property_management"]}))
        .await;
    let rival = app
        .account(
            "rival-staff",
            "unit_staff",
            json!({"partner_id": rival["id"]}),
        )
        .await;
    let (status, body) = app
        .post(
            &format!("/api/v1/needs/{need_id}/claim"),
            &rival,
            json!({"due_at": in_days(20)}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let (_, projects) = app.get("/api/v1/projects", &rival).await;
    assert_eq!(projects["items"], json!([]), "the rival owns nothing");
}

async fn lists_keep_to_scope_and_name_bad_fields(store: Store) {
    let app = TestApp::spawn(store).await;
    let grid = app.login("demo-grid").await;
    let street = app.login("demo-supervisor").await;
    let community = app.org_id("望京西园一区社区").await;
    let elsewhere = app.org_id("花家地北里社区").await;
    let ticket = log(&app, &grid, "别处的票").await;
    let before = app.count("needs");
    let (status, body) = app
        .post("/api/v1/needs", &street, json!({"community_id": elsewhere, "category": "property_management", "title": "x", "description": "y", "ticket_ids": [ticket]}))
        .await;
    assert_names_field(
        status,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "ticket_ids[0]",
    );
    let (status, body) = app.post("/api/v1/needs", &street, json!({"community_id": community, "category": "nope", "title": " ", "description": "y"})).await;
    assert_names_field(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "category");
    assert_names_field(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "title");
    assert_eq!(app.count("needs"), before);

    let (_, need) = app.post("/api/v1/needs", &street, json!({"community_id": community, "category": "property_management", "title": "x", "description": "y"})).await;
    let (status, body) = app
        .post("/api/v1/projects", &street, json!({"need_id": need["id"], "owner_partner_id": app.partner_id("望京宜居物业服务有限公司").await, "due_at": "2020-01-01T00:00:00Z"}))
        .await;
    assert_names_field(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "due_at");
    let hpj = app.org_id("和平街街道").await;
    let outsider = app
        .account("hpj-chief", "supervisor", json!({"org_unit_id": hpj}))
        .await;
    let (status, _) = app
        .get(&format!("/api/v1/needs/{}", need["id"]), &outsider)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

async fn overdue_projects_show_in_the_overdue_view_beside_tickets(store: Store) {
    use diesel::prelude::*;
    use jiesu_core::ids::{NeedId, PartnerId, UserId};
    use jiesu_core::lists::{self, NewProject};
    use jiesu_core::schema::users;
    use jiesu_core::Actor;

    let app = TestApp::spawn(store).await;
    let street = app.login("demo-supervisor").await;
    let community = app.org_id("望京西园一区社区").await;
    let property = app.partner_id("望京宜居物业服务有限公司").await;
    let (_, need) = app.post("/api/v1/needs", &street, json!({"community_id": community, "category": "property_management", "title": "加装扶手", "description": "老人上下楼"})).await;
    // Made ten days ago, due five days ago: late now.
    let ten_days_ago = chrono::Utc::now() - chrono::Duration::days(10);
    let project = app.with_conn(|conn| {
        let id: UserId = users::table
            .filter(users::username.eq("demo-supervisor"))
            .select(users::id)
            .first(conn)
            .unwrap();
        let actor = Actor::load(conn, id).unwrap();
        let input = NewProject {
            need_id: NeedId(need["id"].as_i64().unwrap()),
            resource_id: None,
            owner_partner_id: Some(PartnerId(property)),
            title: None,
            due_at: ten_days_ago + chrono::Duration::days(5),
            milestones: vec![],
        };
        lists::create_project(conn, &actor, &input, ten_days_ago.naive_utc()).unwrap()
    });
    let (status, late) = app.get("/api/v1/overdue", &street).await;
    assert_eq!(status, StatusCode::OK, "{late}");
    let late_project = late
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["kind"] == "project")
        .cloned()
        .unwrap();
    assert_eq!(late_project["id"], project.project.id.0);
    assert!(
        late_project["late_minutes"].as_i64().unwrap() >= 5 * 24 * 60 - 1,
        "{late_project}"
    );
    let (_, projects) = app.get("/api/v1/projects?overdue=true", &street).await;
    assert_eq!(projects["items"][0]["id"], project.project.id.0);
    let (_, on_time) = app.get("/api/v1/projects?overdue=false", &street).await;
    assert_eq!(on_time["items"], json!([]));
}

crate::on_both_stores!(
    a_need_gathered_from_tickets_becomes_a_project_and_is_done,
    overdue_projects_show_in_the_overdue_view_beside_tickets,
    a_unit_claims_a_published_need_and_a_second_claim_is_refused,
    lists_keep_to_scope_and_name_bad_fields,
);
