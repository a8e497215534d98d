//! The ticket lifecycle over HTTP: logged → dispatched → claimed → resolved → closed,
//! with the audit trail, refusals that write nothing, racing claims, idempotent retries.

use std::sync::Arc;

use serde_json::{json, Value};

use crate::helpers::{assert_names_field, png, StatusCode, Store, TestApp};

fn new_ticket(title: &str) -> Value {
    json!({
        "category": "property_management", "title": title,
        "description": "5号楼2单元楼道灯不亮，老人夜间上下楼不便", "address": "望京西园一区5号楼2单元",
        "latitude": 39.99, "longitude": 116.47,
        "resident_name": "陈阿姨", "resident_phone": "13900001111", "households": 12
    })
}

async fn log(app: &TestApp, token: &str, title: &str) -> Value {
    let (status, body) = app.post("/api/v1/tickets", token, new_ticket(title)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body
}

fn kinds(detail: &Value) -> Vec<String> {
    detail["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap().to_owned())
        .collect()
}

async fn grid_member_logs_and_partner_claims_resolves_and_the_visit_closes_it(store: Store) {
    let app = TestApp::spawn(store).await;
    let grid = app.login("demo-grid").await;
    let supervisor = app.login("demo-supervisor").await;
    let unit = app.login("demo-unit").await;

    let ticket = log(&app, &grid, "楼道灯不亮").await;
    let id = ticket["id"].as_i64().unwrap();
    assert_eq!(ticket["status"], "reported");
    assert!(
        ticket["number"].as_str().unwrap().starts_with("110105-"),
        "{ticket}"
    );
    assert_eq!(
        ticket["resident"],
        json!({"name": "陈**", "phone": "139****1111"}),
        "an answer shows the contact masked; whole only on the ticket's page"
    );
    // property_management, normal priority: respond within a working day, resolve within 7.
    assert!(ticket["respond_by"].as_str().unwrap() < ticket["resolve_by"].as_str().unwrap());

    let (status, body) = app
        .post(
            &format!("/api/v1/tickets/{id}/dispatch"),
            &supervisor,
            json!({"pool": true}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "dispatched");
    assert_eq!(body["in_pool"], true);

    // The unit finds it in its pool, with the phone masked and no name.
    let pool = app.all("/api/v1/pool", &unit).await;
    let pooled = pool
        .iter()
        .find(|t| t["id"] == id)
        .expect("ticket in the pool");
    assert_eq!(
        pooled["resident"],
        json!({"name": null, "phone": "139****1111"})
    );
    let (_, page) = app.get(&format!("/api/v1/tickets/{id}"), &unit).await;
    assert_eq!(
        page["resident"],
        json!({"name": null, "phone": "139****1111"})
    );

    let (status, body) = app
        .post(&format!("/api/v1/tickets/{id}/claim"), &unit, json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "claimed");
    let (_, page) = app.get(&format!("/api/v1/tickets/{id}"), &unit).await;
    assert_eq!(
        page["resident"],
        json!({"name": "陈阿姨", "phone": "13900001111"}),
        "the holder may call the resident"
    );
    assert!(body["responded_at"].is_string());
    assert!(app
        .all("/api/v1/pool", &unit)
        .await
        .iter()
        .all(|t| t["id"] != id));

    let (status, _) = app
        .post(
            &format!("/api/v1/tickets/{id}/progress"),
            &unit,
            json!({"note": "已派电工，明早更换灯具"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = app
        .post(
            &format!("/api/v1/tickets/{id}/resolve"),
            &unit,
            json!({"note": "已更换12盏声控灯"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "resolved");
    let (status, body) = app
        .post(
            &format!("/api/v1/tickets/{id}/feedback"),
            &grid,
            json!({"satisfaction": "satisfied", "comment": "居民很满意"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "closed");
    assert_eq!(body["satisfaction"], "satisfied");

    let (status, detail) = app.get(&format!("/api/v1/tickets/{id}"), &supervisor).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        kinds(&detail),
        [
            "logged",
            "dispatched",
            "claimed",
            "progress",
            "resolved",
            "closed"
        ]
    );
    let claimed = &detail["events"][2];
    assert_eq!(claimed["from_status"], "dispatched");
    assert_eq!(claimed["to_status"], "claimed");
    assert!(claimed["actor_id"].is_i64() && claimed["partner_id"].is_i64());
    assert_eq!(detail["events"][3]["note"], "已派电工，明早更换灯具");

    // Closed is final.
    let (status, body) = app
        .post(
            &format!("/api/v1/tickets/{id}/resolve"),
            &unit,
            json!({"note": "again"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["current"]["status"], "closed");
}

async fn an_unsatisfied_visit_reopens_to_the_same_unit_and_a_second_closes_it(store: Store) {
    let app = TestApp::spawn(store).await;
    let grid = app.login("demo-grid").await;
    let supervisor = app.login("demo-supervisor").await;
    let unit = app.login("demo-unit").await;
    let partner = app.partner_id("望京宜居物业服务有限公司").await;
    let id = log(&app, &grid, "垃圾清运不及时").await["id"]
        .as_i64()
        .unwrap();

    let (status, body) = app
        .post(
            &format!("/api/v1/tickets/{id}/dispatch"),
            &supervisor,
            json!({"partner_id": partner}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["partner_id"], partner);
    let (status, _) = app
        .post(&format!("/api/v1/tickets/{id}/claim"), &unit, json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);
    app.post(
        &format!("/api/v1/tickets/{id}/resolve"),
        &unit,
        json!({"note": "已清运"}),
    )
    .await;
    let (status, body) = app
        .post(
            &format!("/api/v1/tickets/{id}/feedback"),
            &grid,
            json!({"satisfaction": "unsatisfied", "comment": "还有残留"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "reopened");
    assert_eq!(body["partner_id"], partner, "back to the same unit");
    assert_eq!(body["reopen_count"], 1);
    let (status, _) = app
        .post(
            &format!("/api/v1/tickets/{id}/resolve"),
            &unit,
            json!({"note": "彻底清理"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, body) = app
        .post(
            &format!("/api/v1/tickets/{id}/feedback"),
            &grid,
            json!({"satisfaction": "basically_satisfied"}),
        )
        .await;
    assert_eq!(body["status"], "closed");
    let (_, detail) = app.get(&format!("/api/v1/tickets/{id}"), &grid).await;
    assert_eq!(
        kinds(&detail),
        [
            "logged",
            "dispatched",
            "partner_notice",
            "claimed",
            "resolved",
            "reopened",
            "resolved",
            "closed"
        ]
    );
}

async fn forbidden_transitions_are_refused_and_write_nothing(store: Store) {
    let app = TestApp::spawn(store).await;
    let grid = app.login("demo-grid").await;
    let supervisor = app.login("demo-supervisor").await;
    let unit = app.login("demo-unit").await;
    let id = log(&app, &grid, "路灯坏了").await["id"].as_i64().unwrap();
    let before = (app.count("ticket_events"), app.count("tickets"));

    // Wrong role: 403.
    let (status, _) = app
        .post(
            &format!("/api/v1/tickets/{id}/dispatch"),
            &grid,
            json!({"pool": true}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = app
        .post(
            &format!("/api/v1/tickets/{id}/cancel"),
            &unit,
            json!({"reason": "x"}),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "not dispatched to the unit: outside its scope"
    );
    // Wrong state: 409 with the current ticket.
    let (status, body) = app
        .post(
            &format!("/api/v1/tickets/{id}/feedback"),
            &grid,
            json!({"satisfaction": "satisfied"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["current"]["status"], "reported");
    // Wrong scope: a supervisor of another street gets 404.
    let street2 = app.org_id("和平街街道").await;
    let outsider = &app
        .account("hpj", "supervisor", json!({"org_unit_id": street2}))
        .await;
    let (status, _) = app
        .post(
            &format!("/api/v1/tickets/{id}/dispatch"),
            outsider,
            json!({"pool": true}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app.get(&format!("/api/v1/tickets/{id}"), outsider).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // A unit that does not serve the community and category cannot be dispatched to.
    let clinic = app.partner_id("中关村志愿者服务队").await;
    let (status, body) = app
        .post(
            &format!("/api/v1/tickets/{id}/dispatch"),
            &supervisor,
            json!({"partner_id": clinic}),
        )
        .await;
    assert_names_field(
        status,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "partner_id",
    );
    let (status, body) = app
        .post(
            &format!("/api/v1/tickets/{id}/dispatch"),
            &supervisor,
            json!({}),
        )
        .await;
    assert_names_field(
        status,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "partner_id",
    );
    // Bad ticket input: nothing logged.
    let mut bad = new_ticket("x");
    bad["category"] = json!("no_such");
    bad["resident_phone"] = json!("call me");
    bad["households"] = json!(0);
    let (status, body) = app.post("/api/v1/tickets", &grid, bad).await;
    for field in ["category", "resident_phone", "households"] {
        assert_names_field(status, &body, StatusCode::UNPROCESSABLE_ENTITY, field);
    }
    let (status, _) = app
        .post("/api/v1/tickets", &unit, new_ticket("unit cannot log"))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!((app.count("ticket_events"), app.count("tickets")), before);
}

async fn of_many_units_claiming_at_once_exactly_one_wins(store: Store) {
    let app = TestApp::spawn(store).await;
    let admin = app.login("demo-admin").await;
    let grid = app.login("demo-grid").await;
    let supervisor = app.login("demo-supervisor").await;
    let community = app.org_id("望京西园一区社区").await;
    let mut tokens = Vec::new();
    for i in 0..8 {
        let (status, partner) = app
            .post("/api/v1/partners", &admin, json!({"name": format!("抢单单位{i}"), "kind": "enterprise", "contact_email": format!("u{i}@example.com"),
                "communities": [community], "categories": ["property_management"]}))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{partner}");
        tokens.push(
            app.account(
                &format!("claimer{i}"),
                "unit_staff",
                json!({"partner_id": partner["id"]}),
            )
            .await,
        );
    }
    let id = log(&app, &grid, "抢单测试").await["id"].as_i64().unwrap();
    app.post(
        &format!("/api/v1/tickets/{id}/dispatch"),
        &supervisor,
        json!({"pool": true}),
    )
    .await;

    let app = Arc::new(app);
    let barrier = Arc::new(tokio::sync::Barrier::new(tokens.len()));
    let claims = tokens.into_iter().map(|token| {
        let (app, barrier) = (app.clone(), barrier.clone());
        tokio::spawn(async move {
            barrier.wait().await;
            app.post(&format!("/api/v1/tickets/{id}/claim"), &token, json!({}))
                .await
        })
    });
    let results: Vec<(StatusCode, Value)> = futures_util::future::join_all(claims)
        .await
        .into_iter()
        .map(|r| r.unwrap())
        .collect();
    let winners: Vec<_> = results
        .iter()
        .filter(|(s, _)| *s == StatusCode::OK)
        .collect();
    assert_eq!(winners.len(), 1, "{results:?}");
    let holder = &winners[0].1["partner_id"];
    for (status, body) in results.iter().filter(|(s, _)| *s != StatusCode::OK) {
        assert_eq!(*status, StatusCode::CONFLICT, "{body}");
        assert_eq!(
            &body["current"]["partner_id"], holder,
            "the loser is told who holds it"
        );
    }
    let (_, detail) = app.get(&format!("/api/v1/tickets/{id}"), &admin).await;
    assert_eq!(kinds(&detail).iter().filter(|k| *k == "claimed").count(), 1);
}

/// Once claimed, a ticket leaves the pool: the units that lost the race read nothing more
/// of it — not the ticket, not the winner's notes, not the resident's return visit — and a
/// late claim is told it lost (409 naming the holder) without the ticket's contents.
async fn units_that_lost_the_claim_no_longer_read_the_ticket(store: Store) {
    let app = TestApp::spawn(store).await;
    let admin = app.login("demo-admin").await;
    let grid = app.login("demo-grid").await;
    let supervisor = app.login("demo-supervisor").await;
    let winner = app.login("demo-unit").await;
    let community = app.org_id("望京西园一区社区").await;
    let (status, rival) = app
        .post(
            "/api/v1/partners",
            &admin,
            json!({"name": "另一家物业", "kind": "property", "contact_email": "rival@example.com",
            "communities": [community], "categories": ["property_management"]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{rival}");
    let loser = app
        .account(
            "rival.staff",
            "unit_staff",
            json!({"partner_id": rival["id"]}),
        )
        .await;
    let id = log(&app, &grid, "抢单后不可见").await["id"]
        .as_i64()
        .unwrap();
    app.post(
        &format!("/api/v1/tickets/{id}/dispatch"),
        &supervisor,
        json!({"pool": true}),
    )
    .await;
    let (status, _) = app.get(&format!("/api/v1/tickets/{id}"), &loser).await;
    assert_eq!(status, StatusCode::OK, "in the pool, both units may look");

    let (status, claimed) = app
        .post(&format!("/api/v1/tickets/{id}/claim"), &winner, json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{claimed}");
    assert_eq!(claimed["in_pool"], false, "claimed: out of the pool");
    let (status, late) = app
        .post(&format!("/api/v1/tickets/{id}/claim"), &loser, json!({}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{late}");
    assert_eq!(late["current"]["partner_id"], claimed["partner_id"]);
    assert!(
        late["current"].get("title").is_none() && late["current"].get("events").is_none(),
        "the loser learns who holds it, not what it says: {late}"
    );
    let (status, _) = app.get(&format!("/api/v1/tickets/{id}"), &loser).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    app.post(
        &format!("/api/v1/tickets/{id}/resolve"),
        &winner,
        json!({"note": "已更换灯具"}),
    )
    .await;
    let (status, _) = app
        .post(
            &format!("/api/v1/tickets/{id}/feedback"),
            &grid,
            json!({"satisfaction": "satisfied", "comment": "陈阿姨电话13900001111，很满意"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app.get(&format!("/api/v1/tickets/{id}"), &loser).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let closed = app.all("/api/v1/tickets?status=closed", &loser).await;
    assert!(
        closed.iter().all(|t| t["id"] != id),
        "not in the loser's lists: {closed:?}"
    );
    let (status, _) = app.get(&format!("/api/v1/tickets/{id}"), &winner).await;
    assert_eq!(status, StatusCode::OK, "the holder still reads its ticket");
}

/// Phones are Chinese mobiles or landlines with their area code, kept in one form;
/// `12345` is nobody's phone.
async fn phones_are_checked_and_kept_in_one_form(store: Store) {
    let app = TestApp::spawn(store).await;
    let grid = app.login("demo-grid").await;
    let admin = app.login("demo-admin").await;
    let before = app.count("tickets");
    for bad in ["12345", "139000011", "call me"] {
        let mut body = new_ticket("电话不对");
        body["resident_phone"] = bad.into();
        let (status, body) = app.post("/api/v1/tickets", &grid, body).await;
        assert_names_field(
            status,
            &body,
            StatusCode::UNPROCESSABLE_ENTITY,
            "resident_phone",
        );
    }
    assert_eq!(app.count("tickets"), before);
    for (given, kept) in [
        ("+86 139-0000-1111", "13900001111"),
        ("(010) 1234 5678 转 801", "010-12345678-801"),
    ] {
        let mut body = new_ticket("电话格式");
        body["resident_phone"] = given.into();
        let (status, created) = app.post("/api/v1/tickets", &grid, body).await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        let id = created["id"].as_i64().unwrap();
        let (_, page) = app.get(&format!("/api/v1/tickets/{id}"), &grid).await;
        assert_eq!(page["resident"]["phone"], kept, "{given}");
    }
    let community = app.org_id("望京西园一区社区").await;
    let unit = |phone: &str| {
        json!({"name": format!("电话单位{phone}"), "kind": "property",
        "contact_email": "unit@example.com", "contact_phone": phone,
        "communities": [community], "categories": ["property_management"]})
    };
    let (status, body) = app.post("/api/v1/partners", &admin, unit("12345")).await;
    assert_names_field(
        status,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "contact_phone",
    );
    let (status, body) = app
        .post("/api/v1/partners", &admin, unit("0755 8765 4321"))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["contact_phone"], "0755-87654321");
    let id = body["id"].as_i64().unwrap();
    let (status, body) = app
        .patch(
            &format!("/api/v1/partners/{id}"),
            &admin,
            json!({"contact_phone": "110"}),
        )
        .await;
    assert_names_field(
        status,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "contact_phone",
    );
}

async fn a_retried_post_with_the_same_key_logs_one_ticket(store: Store) {
    let app = TestApp::spawn(store).await;
    let grid = app.login("demo-grid").await;
    let before = app.count("tickets");
    let send = |body: Value| {
        app.client
            .post(format!("{}/api/v1/tickets", app.address))
            .bearer_auth(&grid)
            .header("Idempotency-Key", "phone-42-retry-1")
            .json(&body)
            .send()
    };
    let first = crate::helpers::read(send(new_ticket("重试")).await.unwrap()).await;
    let second = crate::helpers::read(send(new_ticket("重试")).await.unwrap()).await;
    assert_eq!(first.0, StatusCode::CREATED);
    assert_eq!(second.0, StatusCode::CREATED);
    assert_eq!(first.1["id"], second.1["id"]);
    assert_eq!(first.1["number"], second.1["number"]);
    assert_eq!(app.count("tickets"), before + 1);
    let (status, body) = crate::helpers::read(send(new_ticket("另一件事")).await.unwrap()).await;
    assert_names_field(
        status,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "Idempotency-Key",
    );
    assert_eq!(app.count("tickets"), before + 1);
}

async fn duplicates_merge_into_the_survivor_and_cancel_needs_a_reason(store: Store) {
    let app = TestApp::spawn(store).await;
    let grid = app.login("demo-grid").await;
    let supervisor = app.login("demo-supervisor").await;
    let survivor = log(&app, &grid, "5号楼电线老化").await["id"]
        .as_i64()
        .unwrap();
    let duplicate = log(&app, &grid, "5号楼电线老化（另一户）").await;
    let dup = duplicate["id"].as_i64().unwrap();
    let (status, body) = app
        .post(
            &format!("/api/v1/tickets/{dup}/merge"),
            &supervisor,
            json!({"into": survivor}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "merged");
    assert_eq!(body["merged_into_id"], survivor);
    let (_, page) = app
        .get(&format!("/api/v1/tickets/{dup}"), &supervisor)
        .await;
    assert_eq!(
        page["resident"]["name"], "陈阿姨",
        "the duplicate keeps its residents"
    );
    let (_, kept) = app
        .get(&format!("/api/v1/tickets/{survivor}"), &supervisor)
        .await;
    assert_eq!(kept["households"], 24);
    assert_eq!(kinds(&kept), ["logged", "absorbed"]);
    let (status, _) = app
        .post(
            &format!("/api/v1/tickets/{dup}/dispatch"),
            &supervisor,
            json!({"pool": true}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "merged is final");
    let (status, body) = app
        .post(
            &format!("/api/v1/tickets/{survivor}/merge"),
            &supervisor,
            json!({"into": survivor}),
        )
        .await;
    assert_names_field(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "into");

    let (status, body) = app
        .post(
            &format!("/api/v1/tickets/{survivor}/cancel"),
            &supervisor,
            json!({"reason": "  "}),
        )
        .await;
    assert_names_field(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "reason");
    let (status, body) = app
        .post(
            &format!("/api/v1/tickets/{survivor}/cancel"),
            &supervisor,
            json!({"reason": "重复登记，已线下处理"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "cancelled");
}

async fn filters_and_pages_lose_and_repeat_nothing_while_tickets_arrive(store: Store) {
    let app = TestApp::spawn(store).await;
    let grid = app.login("demo-grid").await;
    let supervisor = app.login("demo-supervisor").await;
    for i in 0..12 {
        log(&app, &grid, &format!("第{i}号问题")).await;
    }
    // Walk the pages while more tickets arrive between them.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut extra = 0;
    loop {
        let url = match &cursor {
            Some(c) => format!("/api/v1/tickets?limit=5&cursor={c}"),
            None => "/api/v1/tickets?limit=5".to_owned(),
        };
        let (status, page) = app.get(&url, &supervisor).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        seen.extend(
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t["id"].as_i64().unwrap()),
        );
        log(&app, &grid, &format!("新来的{extra}")).await;
        extra += 1;
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    let mut unique = seen.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), seen.len(), "no ticket twice: {seen:?}");
    assert_eq!(
        seen.len(),
        12,
        "every ticket there at the start, newest first: {seen:?}"
    );
    assert!(seen.windows(2).all(|w| w[0] > w[1]));

    let matching = app
        .all("/api/v1/tickets?q=%E7%AC%AC3%E5%8F%B7", &supervisor)
        .await; // 第3号
    assert_eq!(matching.len(), 1);
    let reported = app
        .all(
            "/api/v1/tickets?status=reported,dispatched&category=property_management&level=0",
            &supervisor,
        )
        .await;
    assert_eq!(reported.len(), 12 + extra);
    let community = app.org_id("望京西园一区社区").await;
    assert_eq!(
        app.all(
            &format!("/api/v1/tickets?org_unit_id={community}"),
            &supervisor
        )
        .await
        .len(),
        12 + extra
    );
    let elsewhere = app.org_id("花家地北里社区").await;
    assert!(app
        .all(
            &format!("/api/v1/tickets?org_unit_id={elsewhere}"),
            &supervisor
        )
        .await
        .is_empty());
    assert!(
        app.all("/api/v1/tickets?overdue=true", &supervisor)
            .await
            .is_empty(),
        "nothing is late yet"
    );
    // Nothing is near its deadline before a sweep has planned the warnings; every ticket
    // says so.
    assert!(app
        .all("/api/v1/tickets?warning=true", &supervisor)
        .await
        .is_empty());
    let not_near = app.all("/api/v1/tickets?warning=false", &supervisor).await;
    assert_eq!(not_near.len(), 12 + extra);
    assert!(
        not_near.iter().all(|t| t["warning"] == false),
        "{not_near:?}"
    );
    assert_eq!(
        app.all(
            "/api/v1/tickets?created_from=2000-01-01T00:00:00Z",
            &supervisor
        )
        .await
        .len(),
        12 + extra
    );
    assert!(app
        .all(
            "/api/v1/tickets?created_to=2000-01-01T00:00:00Z",
            &supervisor
        )
        .await
        .is_empty());
    let (status, body) = app.get("/api/v1/tickets?status=lost", &supervisor).await;
    assert_names_field(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "status");
    // Another district's supervisor sees none of them.
    let haidian = app.org_id("海淀区").await;
    let outsider = app
        .account(
            "haidian-chief",
            "supervisor",
            json!({"org_unit_id": haidian}),
        )
        .await;
    assert!(app.all("/api/v1/tickets", &outsider).await.is_empty());
}

/// Deadlines as the scheduler and the lifecycle store them, hours from now (`None`: none);
/// `responded`: claimed already; `closed`: done.
struct Deadlines {
    respond: Option<i64>,
    resolve: Option<i64>,
    responded: bool,
    closed: bool,
}

async fn the_late_come_most_late_first_in_pages_and_the_rest_are_not_late(store: Store) {
    use diesel::prelude::*;
    use jiesu_core::schema::tickets;
    use jiesu_core::types::TicketStatus;

    let app = TestApp::spawn(store).await;
    let grid = app.login("demo-grid").await;
    let supervisor = app.login("demo-supervisor").await;
    let now = chrono::Utc::now().naive_utc();
    let d = |respond, resolve, responded, closed| Deadlines {
        respond,
        resolve,
        responded,
        closed,
    };
    // (title, deadlines, late since: hours from now)
    let cases = [
        ("排序甲", d(Some(-1), Some(48), false, false), Some(-1)),
        ("排序乙", d(Some(-5), Some(-2), false, false), Some(-5)),
        // The resolution deadline came first: it is the one missed first.
        ("排序丙", d(Some(-72), Some(-96), false, false), Some(-96)),
        // Claimed: only the resolution deadline counts.
        ("排序丁", d(Some(-240), Some(-1), true, false), Some(-1)),
        ("排序戊", d(Some(-240), Some(24), true, false), None),
        ("排序己", d(Some(1), Some(24), false, false), None),
        ("排序庚", d(None, None, false, false), None),
        // The same instant as 排序乙: the older ticket first.
        ("排序辛", d(Some(-5), Some(-2), false, false), Some(-5)),
        ("排序壬", d(Some(-48), Some(-24), false, true), None),
        ("排序癸", d(None, Some(-3), false, false), Some(-3)),
    ];
    let mut ids = Vec::new();
    for (title, dl, _) in &cases {
        let id = log(&app, &grid, title).await["id"].as_i64().unwrap();
        let at = |h: Option<i64>| h.map(|h| now + chrono::Duration::hours(h));
        app.with_conn(|conn| {
            diesel::update(tickets::table.find(jiesu_core::ids::TicketId(id)))
                .set((
                    tickets::respond_by.eq(at(dl.respond)),
                    tickets::resolve_by.eq(at(dl.resolve)),
                    tickets::responded_at.eq(dl.responded.then_some(now)),
                    tickets::status.eq(if dl.closed {
                        TicketStatus::Closed
                    } else {
                        TicketStatus::Reported
                    }),
                ))
                .execute(conn)
                .unwrap()
        });
        ids.push(id);
    }
    let mut late: Vec<(i64, i64)> = cases
        .iter()
        .zip(&ids)
        .filter_map(|((_, _, since), id)| since.map(|h| (h, *id)))
        .collect();
    late.sort();
    let expected: Vec<i64> = late.iter().map(|(_, id)| *id).collect();

    // Two at a time, following the cursor: every late one once, the most late first.
    let seen: Vec<i64> = app
        .all_by(
            "/api/v1/tickets?q=%E6%8E%92%E5%BA%8F&overdue=true",
            &supervisor,
            2,
        )
        .await
        .iter()
        .map(|t| t["id"].as_i64().unwrap())
        .collect();
    assert_eq!(seen, expected, "most late first, each once");

    // The rest, and only the rest, are not late: none lost to a missing deadline.
    let mut on_time: Vec<i64> = app
        .all(
            "/api/v1/tickets?q=%E6%8E%92%E5%BA%8F&overdue=false",
            &supervisor,
        )
        .await
        .iter()
        .map(|t| t["id"].as_i64().unwrap())
        .collect();
    on_time.sort();
    let mut rest: Vec<i64> = ids
        .iter()
        .filter(|id| !expected.contains(id))
        .copied()
        .collect();
    rest.sort();
    assert_eq!(on_time, rest);

    // The overdue view: the most late first, each late by the deadline it missed first.
    let (status, view) = app.get("/api/v1/overdue?limit=3", &supervisor).await;
    assert_eq!(status, StatusCode::OK, "{view}");
    let items = view.as_array().unwrap();
    let tickets: Vec<&Value> = items.iter().filter(|i| i["kind"] == "ticket").collect();
    assert_eq!(
        tickets
            .iter()
            .map(|t| t["id"].as_i64().unwrap())
            .collect::<Vec<_>>(),
        expected[..3]
    );
    let hours = tickets[0]["late_minutes"].as_i64().unwrap() / 60;
    assert!((95..=96).contains(&hours), "{}", tickets[0]);

    // A cursor that names no ticket is refused by name.
    let (status, body) = app
        .get("/api/v1/tickets?overdue=true&cursor=999999999", &supervisor)
        .await;
    assert_names_field(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "cursor");
}

async fn upload(
    app: &TestApp,
    token: &str,
    id: i64,
    name: &str,
    bytes: Vec<u8>,
) -> (StatusCode, Value) {
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(bytes).file_name(name.to_owned()),
    );
    let res = app
        .client
        .post(format!("{}/api/v1/tickets/{id}/attachments", app.address))
        .bearer_auth(token)
        .multipart(form)
        .send()
        .await
        .unwrap();
    crate::helpers::read(res).await
}

async fn photos_are_checked_by_content_and_served_only_in_scope(store: Store) {
    let app = TestApp::spawn(store).await;
    let grid = app.login("demo-grid").await;
    let id = log(&app, &grid, "墙面渗水").await["id"].as_i64().unwrap();

    let (status, photo) = upload(&app, &grid, id, "wall.png", png(2048)).await;
    assert_eq!(status, StatusCode::CREATED, "{photo}");
    assert_eq!(photo["content_type"], "image/png");
    let photo_id = photo["id"].as_i64().unwrap();
    let res = app
        .client
        .get(format!(
            "{}/api/v1/tickets/{id}/attachments/{photo_id}",
            app.address
        ))
        .bearer_auth(&grid)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["content-type"], "image/png");
    let etag = res.headers()["etag"].to_str().unwrap().to_owned();
    assert_eq!(etag, format!("\"{}\"", photo["sha256"].as_str().unwrap()));
    assert_eq!(res.bytes().await.unwrap().to_vec(), png(2048));
    // A client that has these bytes is told so, without them.
    let again = |tag: String| {
        app.client
            .get(format!(
                "{}/api/v1/tickets/{id}/attachments/{photo_id}",
                app.address
            ))
            .bearer_auth(&grid)
            .header("if-none-match", tag)
            .send()
    };
    let res = again(etag.clone()).await.unwrap();
    assert_eq!(res.status(), StatusCode::NOT_MODIFIED);
    assert!(res.bytes().await.unwrap().is_empty());
    let res = again("\"an-older-version\"".to_owned()).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.bytes().await.unwrap().to_vec(), png(2048));

    let (status, body) = upload(
        &app,
        &grid,
        id,
        "looks-like.jpg",
        b"just some text, not a photo".to_vec(),
    )
    .await;
    assert_names_field(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "file");
    let (status, body) = upload(
        &app,
        &grid,
        id,
        "huge.png",
        png(app.settings.attachments.max_bytes + 10),
    )
    .await;
    assert_names_field(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "file");

    // Another community's people cannot fetch it.
    let admin = app.login("demo-admin").await;
    let other_community = app.org_id("花家地北里社区").await;
    let other_grid = app
        .all(
            &format!("/api/v1/org-units?parent_id={other_community}"),
            &admin,
        )
        .await[0]["id"]
        .clone();
    let outsider = app
        .account("grid-b", "grid_member", json!({"org_unit_id": other_grid}))
        .await;
    let (status, _) = app
        .get(
            &format!("/api/v1/tickets/{id}/attachments/{photo_id}"),
            &outsider,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, detail) = app.get(&format!("/api/v1/tickets/{id}"), &grid).await;
    assert_eq!(detail["attachments"].as_array().unwrap().len(), 1);
}

async fn the_audit_trail_cannot_be_rewritten(store: Store) {
    let app = TestApp::spawn(store).await;
    let grid = app.login("demo-grid").await;
    log(&app, &grid, "审计").await;
    use diesel::RunQueryDsl;
    let update = app.with_conn(|conn| {
        diesel::sql_query("UPDATE ticket_events SET note = 'rewritten'").execute(conn)
    });
    assert!(update.is_err(), "UPDATE of an event must fail");
    let delete = app.with_conn(|conn| diesel::sql_query("DELETE FROM ticket_events").execute(conn));
    assert!(delete.is_err(), "DELETE of an event must fail");
}

async fn a_returned_ticket_goes_back_to_the_dispatcher_and_is_reassigned(store: Store) {
    let app = TestApp::spawn(store).await;
    let grid = app.login("demo-grid").await;
    let supervisor = app.login("demo-supervisor").await;
    let unit = app.login("demo-unit").await;
    let property = app.partner_id("望京宜居物业服务有限公司").await;
    let id = log(&app, &grid, "小区绿化带杂草").await["id"]
        .as_i64()
        .unwrap();
    app.post(
        &format!("/api/v1/tickets/{id}/dispatch"),
        &supervisor,
        json!({"partner_id": property}),
    )
    .await;
    let (status, body) = app
        .post(
            &format!("/api/v1/tickets/{id}/return"),
            &unit,
            json!({"reason": "  "}),
        )
        .await;
    assert_names_field(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "reason");
    let (status, body) = app
        .post(
            &format!("/api/v1/tickets/{id}/return"),
            &unit,
            json!({"reason": "绿化归街道园林所管理"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "returned");
    assert_eq!(body["partner_id"], Value::Null);
    assert_eq!(body["return_count"], 1);
    // The unit no longer holds it, so it cannot see it any more.
    let (status, _) = app.get(&format!("/api/v1/tickets/{id}"), &unit).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Back with the supervisor, who sends it to the pool; the return stays counted against the unit.
    let (status, body) = app
        .post(
            &format!("/api/v1/tickets/{id}/dispatch"),
            &supervisor,
            json!({"pool": true, "note": "请有能力的单位认领"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = app
        .post(
            &format!("/api/v1/tickets/{id}/reassign"),
            &supervisor,
            json!({"partner_id": property}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["in_pool"], false);
    let (_, detail) = app.get(&format!("/api/v1/tickets/{id}"), &supervisor).await;
    assert_eq!(
        kinds(&detail),
        [
            "logged",
            "dispatched",
            "partner_notice",
            "returned",
            "dispatched",
            "reassigned",
            "partner_notice"
        ]
    );
    let returned = &detail["events"][3];
    assert_eq!(returned["partner_id"], property, "counted against the unit");
    assert_eq!(returned["note"], "绿化归街道园林所管理");
    // Only the holder works the ticket: a grid member cannot resolve, and staff of another unit cannot either.
    let (status, _) = app
        .post(
            &format!("/api/v1/tickets/{id}/resolve"),
            &grid,
            json!({"note": "x"}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

async fn a_unit_waits_on_the_resident_and_nothing_else_moves_meanwhile(store: Store) {
    let app = TestApp::spawn(store).await;
    let grid = app.login("demo-grid").await;
    let supervisor = app.login("demo-supervisor").await;
    let unit = app.login("demo-unit").await;
    let property = app.partner_id("望京宜居物业服务有限公司").await;
    let id = log(&app, &grid, "入户维修需住户在家").await["id"]
        .as_i64()
        .unwrap();
    app.post(
        &format!("/api/v1/tickets/{id}/dispatch"),
        &supervisor,
        json!({"partner_id": property}),
    )
    .await;
    app.post(&format!("/api/v1/tickets/{id}/claim"), &unit, json!({}))
        .await;
    let (status, body) = app
        .post(&format!("/api/v1/tickets/{id}/resume"), &unit, json!({}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "not waiting yet: {body}");
    let (status, body) = app
        .post(
            &format!("/api/v1/tickets/{id}/pause"),
            &unit,
            json!({"reason": "住户出差"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, detail) = app.get(&format!("/api/v1/tickets/{id}"), &grid).await;
    assert_eq!(detail["waiting_on_resident"]["reason"], "住户出差");
    let (status, body) = app
        .post(
            &format!("/api/v1/tickets/{id}/resolve"),
            &unit,
            json!({"note": "x"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(
        body["detail"].as_str().unwrap().contains("resume"),
        "{body}"
    );
    let (status, _) = app
        .post(
            &format!("/api/v1/tickets/{id}/pause"),
            &unit,
            json!({"reason": "again"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, body) = app
        .post(
            &format!("/api/v1/tickets/{id}/resume"),
            &unit,
            json!({"note": "住户已回"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, detail) = app.get(&format!("/api/v1/tickets/{id}"), &grid).await;
    assert_eq!(detail["waiting_on_resident"], Value::Null);
    assert_eq!(kinds(&detail)[4..], ["paused", "resumed"]);
    let (status, _) = app
        .post(
            &format!("/api/v1/tickets/{id}/resolve"),
            &unit,
            json!({"note": "已修好"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
}

async fn a_search_finds_the_titles_that_hold_the_text_as_typed(store: Store) {
    let app = TestApp::spawn(store).await;
    let grid = app.login("demo-grid").await;
    let supervisor = app.login("demo-supervisor").await;
    for title in [
        "暖气不热",
        "楼道暖气停暖",
        "停水两天",
        "路灯A_B坏了",
        "路灯AxB坏了",
        "折扣100%",
    ] {
        log(&app, &grid, title).await;
    }
    let titles = |q: &'static str| {
        let app = &app;
        let supervisor = &supervisor;
        async move {
            let encoded: String = form_urlencoded::byte_serialize(q.as_bytes()).collect();
            let mut found: Vec<String> = app
                .all(&format!("/api/v1/tickets?q={encoded}"), supervisor)
                .await
                .iter()
                .map(|t| t["title"].as_str().unwrap().to_owned())
                .filter(|t| {
                    !t.starts_with("demo")
                        && ["暖", "停", "路灯", "折扣"].iter().any(|w| t.contains(w))
                })
                .collect();
            found.sort();
            found
        }
    };
    assert_eq!(titles("暖气").await, ["暖气不热", "楼道暖气停暖"]);
    // Every two characters of the text are in the title, but not the text itself.
    assert!(titles("气停暖气").await.is_empty());
    assert_eq!(titles("气停暖").await, ["楼道暖气停暖"]);
    // One character, and the characters LIKE would read as wildcards.
    assert_eq!(titles("停").await, ["停水两天", "楼道暖气停暖"]);
    assert_eq!(titles("A_B").await, ["路灯A_B坏了"]);
    assert_eq!(titles("0%").await, ["折扣100%"]);
    assert!(titles("暖水").await.is_empty());
}

/// A resident calls back: the ticket is found by its number, by the last four digits of
/// the phone or the whole number, or by a piece of the address; a unit's staff, shown no
/// resident's phone in lists, find nothing by phone, even on a ticket they hold; a phone
/// that is neither four digits nor a whole number is 422 naming `phone`.
async fn a_resident_calling_back_is_found_by_number_phone_or_address(store: Store) {
    let app = TestApp::spawn(store).await;
    let grid = app.login("demo-grid").await;
    let supervisor = app.login("demo-supervisor").await;
    let unit = app.login("demo-unit").await;
    let mut ours = Vec::new();
    for (phone, address) in [
        ("13900001111", "望京西园一区5号楼2单元501"),
        ("13800001111", "望京西园一区7号楼"),
        ("13900002222", "花家地北里3号楼"),
    ] {
        let (status, t) = app
            .post(
                "/api/v1/tickets",
                &grid,
                json!({"category": "property_management", "title": "回电查询", "description": "d",
                       "address": address, "resident_phone": phone}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{t}");
        ours.push((
            t["id"].as_i64().unwrap(),
            t["number"].as_str().unwrap().to_owned(),
        ));
    }
    let ids: Vec<i64> = ours.iter().map(|(id, _)| *id).collect();
    let found = |query: String, token: String| {
        let app = &app;
        let ids = ids.clone();
        async move {
            let mut found: Vec<i64> = app
                .all(&format!("/api/v1/tickets?{query}"), &token)
                .await
                .iter()
                .map(|t| t["id"].as_i64().unwrap())
                .filter(|id| ids.contains(id))
                .collect();
            found.sort();
            found
        }
    };
    let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let sup = || supervisor.clone();
    assert_eq!(
        found(format!("number={}", ours[1].1), sup()).await,
        [ids[1]]
    );
    assert_eq!(found("phone=1111".into(), sup()).await, [ids[0], ids[1]]);
    assert_eq!(found("phone=13900001111".into(), sup()).await, [ids[0]]);
    assert_eq!(found("phone=2222".into(), sup()).await, [ids[2]]);
    assert!(found("phone=3333".into(), sup()).await.is_empty());
    assert_eq!(
        found(format!("address={}", enc("7号楼")), sup()).await,
        [ids[1]]
    );
    assert_eq!(
        found(format!("address={}", enc("望京西园")), sup()).await,
        [ids[0], ids[1]]
    );
    assert_eq!(
        found(format!("address={}", enc("3号")), sup()).await,
        [ids[2]]
    );
    assert_eq!(
        found("phone=1111".into(), grid.clone()).await,
        [ids[0], ids[1]]
    );
    for bad in ["12", "139000011", "1390000111a"] {
        let (status, body) = app
            .get(&format!("/api/v1/tickets?phone={bad}"), &supervisor)
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {body}");
        assert_eq!(body["errors"][0]["field"], "phone", "{body}");
    }
    // The unit holds the first ticket: it finds it by its number, never by the phone.
    let (status, body) = app
        .post(
            &format!("/api/v1/tickets/{}/dispatch", ids[0]),
            &supervisor,
            json!({"pool": true}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = app
        .post(
            &format!("/api/v1/tickets/{}/claim", ids[0]),
            &unit,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        found(format!("number={}", ours[0].1), unit.clone()).await,
        [ids[0]]
    );
    assert!(found("phone=1111".into(), unit.clone()).await.is_empty());
    assert!(found("phone=13900001111".into(), unit.clone())
        .await
        .is_empty());
}

/// `sort=deadline`: the tickets being worked, the earliest running deadline first (the
/// late most late first, then those due soonest), paged without loss or repeat; nothing
/// resolved, closed or cancelled; an unknown order is 422 naming `sort`.
async fn the_deadline_order_puts_the_most_pressing_first(store: Store) {
    let app = TestApp::spawn(store).await;
    let grid = app.login("demo-grid").await;
    let supervisor = app.login("demo-supervisor").await;
    let mut ours = Vec::new();
    for priority in ["normal", "urgent", "high", "low"] {
        let (status, t) = app
            .post(
                "/api/v1/tickets",
                &grid,
                json!({"category": "property_management", "title": format!("期限{priority}"), "description": "d",
                       "address": "5号楼", "priority": priority}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{t}");
        ours.push(t["id"].as_i64().unwrap());
    }
    let (status, body) = app
        .post(
            &format!("/api/v1/tickets/{}/cancel", ours[3]),
            &supervisor,
            json!({"reason": "重复"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let listed = app.all("/api/v1/tickets?sort=deadline", &supervisor).await;
    let running = |t: &Value| -> String {
        let at = |k: &str| t[k].as_str().map(str::to_owned);
        match (at("responded_at"), at("respond_by"), at("resolve_by")) {
            (None, Some(respond), None) => respond,
            (None, Some(respond), Some(resolve)) if respond < resolve => respond,
            (_, _, resolve) => resolve.unwrap_or_default(),
        }
    };
    let deadlines: Vec<String> = listed.iter().map(running).collect();
    let mut sorted = deadlines.clone();
    sorted.sort();
    assert_eq!(deadlines, sorted, "earliest deadline first");
    let ids: Vec<i64> = listed.iter().map(|t| t["id"].as_i64().unwrap()).collect();
    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), ids.len(), "no ticket twice across pages");
    let worked = app
        .all(
            "/api/v1/tickets?status=reported,dispatched,claimed,in_progress,returned,reopened",
            &supervisor,
        )
        .await;
    let mut expected: Vec<i64> = worked.iter().map(|t| t["id"].as_i64().unwrap()).collect();
    expected.sort();
    assert_eq!(
        unique, expected,
        "every ticket being worked, and nothing else"
    );
    let place = |id: i64| ids.iter().position(|i| *i == id).unwrap();
    assert!(
        place(ours[1]) < place(ours[2]) && place(ours[2]) < place(ours[0]),
        "urgent, high, normal"
    );
    assert!(
        !ids.contains(&ours[3]),
        "a cancelled ticket has no deadline to keep"
    );
    let (status, body) = app.get("/api/v1/tickets?sort=soonest", &supervisor).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["errors"][0]["field"], "sort", "{body}");
}

/// 催办 over HTTP: offered in a ticket's `actions` exactly to those who may (the street's
/// supervisor, not the unit nor the grid member); a blank note is 422 naming `note`; a
/// refused urge writes nothing; an accepted one is 201 and in the timeline with the unit,
/// and the ticket's version does not move.
async fn the_street_urges_the_unit_holding_a_ticket(store: Store) {
    let app = TestApp::spawn(store).await;
    let grid = app.login("demo-grid").await;
    let supervisor = app.login("demo-supervisor").await;
    let unit = app.login("demo-unit").await;
    let id = log(&app, &grid, "催办测试").await["id"].as_i64().unwrap();
    let offered = |token: String| {
        let app = &app;
        async move {
            let (_, t) = app.get(&format!("/api/v1/tickets/{id}"), &token).await;
            t["actions"].as_array().unwrap().iter().any(|a| a == "urge")
        }
    };
    // Not yet with a unit: nobody to urge.
    assert!(!offered(supervisor.clone()).await);
    let (status, _) = app
        .post(
            &format!("/api/v1/tickets/{id}/urge"),
            &supervisor,
            json!({"note": "快"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, body) = app.get("/api/v1/partners?limit=100", &supervisor).await;
    assert_eq!(status, StatusCode::OK);
    let property = body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"].as_str().unwrap_or("").contains("物业"))
        .expect("the demo's property company")["id"]
        .clone();
    let (status, body) = app
        .post(
            &format!("/api/v1/tickets/{id}/dispatch"),
            &supervisor,
            json!({"partner_id": property}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let version = body["updated_at"].clone();
    assert!(version.is_string(), "{body}");
    assert!(offered(supervisor.clone()).await);
    assert!(!offered(unit.clone()).await);
    assert!(!offered(grid.clone()).await);

    let (status, body) = app
        .post(
            &format!("/api/v1/tickets/{id}/urge"),
            &supervisor,
            json!({"note": "  "}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["errors"][0]["field"], "note", "{body}");
    let (status, _) = app
        .post(
            &format!("/api/v1/tickets/{id}/urge"),
            &unit,
            json!({"note": "催"}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = app
        .post(
            &format!("/api/v1/tickets/{id}/urge"),
            &grid,
            json!({"note": "催"}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let urges = |t: &Value| {
        t["events"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["kind"] == "urged")
            .cloned()
            .collect::<Vec<_>>()
    };
    let (_, t) = app.get(&format!("/api/v1/tickets/{id}"), &supervisor).await;
    assert!(urges(&t).is_empty(), "refusals wrote nothing");

    let (status, body) = app
        .post(
            &format!("/api/v1/tickets/{id}/urge"),
            &supervisor,
            json!({"note": "请今天处理"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["partner_id"], property);
    assert_eq!(body["mails"], 2);
    let (_, t) = app.get(&format!("/api/v1/tickets/{id}"), &supervisor).await;
    let urged = urges(&t);
    assert_eq!(urged.len(), 1, "{t}");
    assert_eq!(urged[0]["note"], "请今天处理");
    assert_eq!(urged[0]["partner_id"], property);
    assert_eq!(t["updated_at"], version, "the ticket itself did not change");
}

/// A resident's contact is shown whole only on the ticket's own page, to those who may
/// reach the resident, and each such showing is recorded (who, which ticket, where, when)
/// for administrators to read and export; lists show it masked and are not recorded.
async fn the_residents_contact_is_whole_only_on_the_ticket_page_and_each_read_is_recorded(
    store: Store,
) {
    let app = TestApp::spawn(store).await;
    let grid = app.login("demo-grid").await;
    let supervisor = app.login("demo-supervisor").await;
    let admin = app.login("demo-admin").await;
    let id = log(&app, &grid, "谁看过电话").await["id"].as_i64().unwrap();
    let reads = |query: String| {
        let (app, admin) = (&app, admin.clone());
        async move {
            app.all(&format!("/api/v1/contact-reads?{query}"), &admin)
                .await
        }
    };
    assert!(
        reads(format!("ticket_id={id}")).await.is_empty(),
        "logging is not a read"
    );

    // A list: masked, nothing recorded.
    let listed = app
        .all("/api/v1/tickets?status=reported", &supervisor)
        .await;
    let listed = listed.iter().find(|t| t["id"] == id).unwrap();
    assert_eq!(
        listed["resident"],
        json!({"name": "陈**", "phone": "139****1111"})
    );
    assert!(reads(format!("ticket_id={id}")).await.is_empty());
    // The ticket's page: whole, recorded.
    let (status, page) = app.get(&format!("/api/v1/tickets/{id}"), &supervisor).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page["resident"]["phone"], "13900001111");
    let recorded = reads(format!("ticket_id={id}")).await;
    assert_eq!(recorded.len(), 1, "{recorded:?}");
    assert_eq!(recorded[0]["username"], "demo-supervisor");
    assert_eq!(recorded[0]["route"], "GET /api/v1/tickets/{id}");
    assert_eq!(recorded[0]["number"], page["number"]);
    // A ticket with no contact: its page records nothing.
    let mut plain = new_ticket("无联系方式");
    plain["resident_name"] = Value::Null;
    plain["resident_phone"] = Value::Null;
    let (status, plain) = app.post("/api/v1/tickets", &grid, plain).await;
    assert_eq!(status, StatusCode::CREATED, "{plain}");
    let plain = plain["id"].as_i64().unwrap();
    app.get(&format!("/api/v1/tickets/{plain}"), &supervisor)
        .await;
    assert!(reads(format!("ticket_id={plain}")).await.is_empty());

    // Filters, and who may read the record.
    let me = app.get("/api/v1/me", &supervisor).await.1["user"]["id"].clone();
    assert_eq!(reads(format!("user_id={me}")).await.len(), 1);
    let future = "2999-01-01T00:00:00Z";
    assert!(reads(format!("from={future}")).await.is_empty());
    let (status, _) = app.get("/api/v1/contact-reads", &supervisor).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = app.get("/api/v1/contact-reads?ticket_id=x", &admin).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["errors"][0]["field"], "ticket_id", "{body}");
    let csv = app
        .text(&format!("/api/v1/contact-reads.csv?ticket_id={id}"), &admin)
        .await;
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 2, "{csv}");
    assert!(
        lines[1].contains("demo-supervisor") && lines[1].contains(page["number"].as_str().unwrap()),
        "{csv}"
    );
}

/// 12345 transfers carry the hotline's own number, logged once: a second transfer of the
/// same number is refused naming `hotline_ref` (also when both arrive at the same moment),
/// and the list, its CSV and the ticket page tell the channels apart.
async fn each_ticket_records_how_it_came_in_and_a_hotline_number_is_logged_once(store: Store) {
    let app = TestApp::spawn(store).await;
    let grid = app.login("demo-grid").await;
    let supervisor = app.login("demo-supervisor").await;
    let community = app.org_id("望京西园一区社区").await;
    let body = |extra: Value| {
        let mut b = json!({"category": "property_management", "title": "热线转办", "description": "d",
                           "address": "望京西园一区5号楼", "community_id": community});
        b.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        b
    };
    // A grid member's ticket came by patrol unless it says otherwise; a supervisor's by
    // another way.
    let (status, patrol) = app.post("/api/v1/tickets", &grid, body(json!({}))).await;
    assert_eq!(status, StatusCode::CREATED, "{patrol}");
    let (status, other) = app
        .post("/api/v1/tickets", &supervisor, body(json!({})))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{other}");
    let (status, walk_in) = app
        .post(
            "/api/v1/tickets",
            &supervisor,
            body(json!({"channel": "walk_in"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{walk_in}");
    let (status, transfer) = app
        .post(
            "/api/v1/tickets",
            &supervisor,
            body(json!({"channel": "hotline", "hotline_ref": "BJ20261203-00042"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{transfer}");
    let intake = |id: &Value| {
        let app = &app;
        let token = supervisor.clone();
        let id = id.as_i64().unwrap();
        async move { app.get(&format!("/api/v1/tickets/{id}"), &token).await.1["intake"].clone() }
    };
    assert_eq!(
        intake(&patrol["id"]).await,
        json!({"channel": "patrol", "hotline": null, "hotline_ref": null})
    );
    assert_eq!(intake(&other["id"]).await["channel"], "other");
    assert_eq!(intake(&walk_in["id"]).await["channel"], "walk_in");
    assert_eq!(
        intake(&transfer["id"]).await,
        json!({"channel": "hotline", "hotline": "12345", "hotline_ref": "BJ20261203-00042"})
    );

    // Refusals name their field and write nothing.
    let tickets_before = app.count("tickets");
    let intakes_before = app.count("ticket_intake");
    for (extra, field, code) in [
        (
            json!({"channel": "hotline", "hotline_ref": "BJ20261203-00042"}),
            "hotline_ref",
            "taken",
        ),
        (
            json!({"channel": "hotline", "hotline_ref": " BJ20261203-00042 "}),
            "hotline_ref",
            "taken",
        ),
        (json!({"channel": "hotline"}), "hotline_ref", "required"),
        (
            json!({"channel": "walk_in", "hotline_ref": "X1"}),
            "hotline_ref",
            "not_hotline",
        ),
        (json!({"hotline": "12345"}), "hotline", "not_hotline"),
        (
            json!({"channel": "hotline", "hotline_ref": "编号1"}),
            "hotline_ref",
            "format",
        ),
        (json!({"channel": "fax"}), "channel", ""),
    ] {
        let (status, refused) = app
            .post("/api/v1/tickets", &supervisor, body(extra.clone()))
            .await;
        assert_names_field(status, &refused, StatusCode::UNPROCESSABLE_ENTITY, field);
        if !code.is_empty() {
            assert_eq!(refused["errors"][0]["code"], code, "{extra}: {refused}");
        }
        if code == "taken" {
            let number = transfer["number"].as_str().unwrap();
            assert!(
                refused["errors"][0]["message"]
                    .as_str()
                    .unwrap()
                    .contains(number),
                "{refused}"
            );
        }
    }
    assert_eq!(app.count("tickets"), tickets_before);
    assert_eq!(app.count("ticket_intake"), intakes_before);
    // Another hotline may use the same number.
    let (status, other_hotline) = app
        .post(
            "/api/v1/tickets",
            &supervisor,
            body(json!({"channel": "hotline", "hotline": "96105", "hotline_ref": "BJ20261203-00042"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{other_hotline}");

    // Eight transfers of one new number at the same moment: one ticket.
    let app = Arc::new(app);
    let barrier = Arc::new(tokio::sync::Barrier::new(8));
    let tries = (0..8).map(|_| {
        let (app, barrier, token, b) = (
            app.clone(),
            barrier.clone(),
            supervisor.clone(),
            body(json!({"channel": "hotline", "hotline_ref": "BJ20261203-00777"})),
        );
        tokio::spawn(async move {
            barrier.wait().await;
            app.post("/api/v1/tickets", &token, b).await
        })
    });
    let results: Vec<(StatusCode, Value)> = futures_util::future::join_all(tries)
        .await
        .into_iter()
        .map(|r| r.unwrap())
        .collect();
    let created: Vec<_> = results
        .iter()
        .filter(|(s, _)| *s == StatusCode::CREATED)
        .collect();
    assert_eq!(created.len(), 1, "{results:?}");
    for (status, refused) in results.iter().filter(|(s, _)| *s != StatusCode::CREATED) {
        assert_names_field(
            *status,
            refused,
            StatusCode::UNPROCESSABLE_ENTITY,
            "hotline_ref",
        );
    }
    let late = created[0].1["id"].as_i64().unwrap();

    // The lists: by channel, by the hotline's number; the CSV says how each came in.
    let ids = |items: Vec<Value>| -> Vec<i64> {
        let mut ids: Vec<i64> = items.iter().map(|t| t["id"].as_i64().unwrap()).collect();
        ids.sort();
        ids
    };
    let mut transfers = vec![
        transfer["id"].as_i64().unwrap(),
        other_hotline["id"].as_i64().unwrap(),
        late,
    ];
    transfers.sort();
    assert_eq!(
        ids(app
            .all("/api/v1/tickets?channel=hotline", &supervisor)
            .await),
        transfers
    );
    assert_eq!(
        ids(app
            .all("/api/v1/tickets?channel=walk_in", &supervisor)
            .await),
        [walk_in["id"].as_i64().unwrap()]
    );
    assert_eq!(
        ids(app
            .all("/api/v1/tickets?hotline_ref=BJ20261203-00042", &supervisor)
            .await),
        [
            transfer["id"].as_i64().unwrap(),
            other_hotline["id"].as_i64().unwrap()
        ]
    );
    let (status, refused) = app.get("/api/v1/tickets?channel=fax", &supervisor).await;
    assert_names_field(
        status,
        &refused,
        StatusCode::UNPROCESSABLE_ENTITY,
        "channel",
    );
    let csv = app
        .text("/api/v1/tickets.csv?channel=hotline", &supervisor)
        .await;
    let lines: Vec<&str> = csv.lines().collect();
    assert!(
        lines[0].ends_with("来源 channel,热线工单号 hotline_ref"),
        "{csv}"
    );
    assert_eq!(lines.len(), 4, "{csv}");
    assert!(
        lines
            .iter()
            .any(|l| l.ends_with(",hotline,BJ20261203-00777")),
        "{csv}"
    );
    let patrols = app
        .text("/api/v1/tickets.csv?channel=patrol", &supervisor)
        .await;
    assert!(
        patrols.contains(patrol["number"].as_str().unwrap()),
        "{patrols}"
    );
    assert!(
        !patrols.contains(transfer["number"].as_str().unwrap()),
        "{patrols}"
    );
}

crate::on_both_stores!(
    each_ticket_records_how_it_came_in_and_a_hotline_number_is_logged_once,
    a_search_finds_the_titles_that_hold_the_text_as_typed,
    a_resident_calling_back_is_found_by_number_phone_or_address,
    the_deadline_order_puts_the_most_pressing_first,
    a_unit_waits_on_the_resident_and_nothing_else_moves_meanwhile,
    a_returned_ticket_goes_back_to_the_dispatcher_and_is_reassigned,
    grid_member_logs_and_partner_claims_resolves_and_the_visit_closes_it,
    an_unsatisfied_visit_reopens_to_the_same_unit_and_a_second_closes_it,
    forbidden_transitions_are_refused_and_write_nothing,
    of_many_units_claiming_at_once_exactly_one_wins,
    units_that_lost_the_claim_no_longer_read_the_ticket,
    phones_are_checked_and_kept_in_one_form,
    a_retried_post_with_the_same_key_logs_one_ticket,
    duplicates_merge_into_the_survivor_and_cancel_needs_a_reason,
    filters_and_pages_lose_and_repeat_nothing_while_tickets_arrive,
    the_late_come_most_late_first_in_pages_and_the_rest_are_not_late,
    photos_are_checked_by_content_and_served_only_in_scope,
    the_audit_trail_cannot_be_rewritten,
    the_street_urges_the_unit_holding_a_ticket,
    the_residents_contact_is_whole_only_on_the_ticket_page_and_each_read_is_recorded,
);
