//! The OpenAPI document against the server that serves it: every route in the source is
//! in the document, every documented operation is served, and every response of a walk
//! through all of them matches its documented status, content type and schema (strictly:
//! a field the document does not name fails).

use std::collections::BTreeSet;
use std::sync::Mutex;

use serde_json::{json, Value};

use crate::helpers::{png, StatusCode, Store, TestApp};

const PREFIX: &str = "/api/v1";

async fn document(app: &TestApp) -> Value {
    let res = app
        .client
        .get(format!("{}{PREFIX}/openapi.json", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    res.json().await.unwrap()
}

/// (method, path) of every operation in the document.
fn operations(doc: &Value) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in ["get", "post", "put", "patch", "delete"] {
            if item.get(method).is_some() {
                out.insert((method.to_owned(), path.clone()));
            }
        }
    }
    out
}

/// (method, path) of every route macro in the API's source, and any plain `.route(`
/// registration (which would bypass the document).
fn routes_in_source() -> (BTreeSet<(String, String)>, Vec<String>) {
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut routes = BTreeSet::new();
    let mut bypasses = Vec::new();
    let mut stack = vec![src];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            let prefix = if path.ends_with("open311.rs") {
                "/open311/v2"
            } else {
                PREFIX
            };
            for line in text.lines().map(str::trim) {
                for method in ["get", "post", "put", "patch", "delete"] {
                    let open = format!("#[{method}(\"");
                    if let Some(rest) = line.strip_prefix(&open) {
                        let route = rest.split('"').next().unwrap();
                        routes.insert((method.to_owned(), format!("{prefix}{route}")));
                    }
                }
            }
            if path.ends_with("routes/mod.rs") && text.contains(".route(") {
                bypasses.push(path.display().to_string());
            }
        }
    }
    (routes, bypasses)
}

async fn every_route_is_documented_and_every_documented_route_is_served(store: Store) {
    let app = TestApp::spawn(store).await;
    let doc = document(&app).await;
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let documented = operations(&doc);
    let (in_source, bypasses) = routes_in_source();
    assert!(
        bypasses.is_empty(),
        "routes registered without documentation in {bypasses:?}"
    );
    let missing: Vec<_> = in_source.difference(&documented).collect();
    assert!(
        missing.is_empty(),
        "routes missing from the document: {missing:?}"
    );
    let extra: Vec<_> = documented.difference(&in_source).collect();
    assert!(
        extra.is_empty(),
        "documented but not in the source: {extra:?}"
    );
    assert!(documented.len() >= 59, "{}", documented.len());

    let mut ids = BTreeSet::new();
    for (method, path) in &documented {
        let op = &doc["paths"][path][method];
        let id = op["operationId"].as_str().unwrap();
        assert!(ids.insert(id.to_owned()), "operationId {id} is not unique");
        assert!(
            path.starts_with("/open311/") || op["responses"]["422"].is_object(),
            "{method} {path} documents no 422"
        );
        assert!(
            op["responses"]["404"].is_object(),
            "{method} {path} documents no 404"
        );
        // Served: a call without a token reaches the route and is refused for the token
        // (public routes answer otherwise, but never with "no such route").
        let mut concrete = path
            .replace("{format}", "json")
            .replace("{action}", "start");
        while let (Some(open), Some(close)) = (concrete.find('{'), concrete.find('}')) {
            concrete.replace_range(open..=close, "1");
        }
        let public = op["security"] == json!([{}]);
        let res = app
            .client
            .request(
                method.to_uppercase().parse().unwrap(),
                format!("{}{concrete}", app.address),
            )
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        let status = res.status();
        if public {
            let body = res.text().await.unwrap();
            assert!(
                status != StatusCode::METHOD_NOT_ALLOWED && !body.contains("no such resource"),
                "{method} {concrete}: {status} {body}"
            );
        } else {
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {concrete}");
        }
        let documented_status = op["responses"][status.as_str()].is_object();
        assert!(
            documented_status,
            "{method} {path} answered an undocumented {status}"
        );
    }
}

/// Marks every object schema that is not a member of an `allOf` as closed, so a field the
/// handler returns but the document does not name fails validation.
fn strict(doc: &mut Value) {
    let mut members = BTreeSet::new();
    fn collect(v: &Value, in_all_of: bool, members: &mut BTreeSet<String>) {
        match v {
            Value::Object(m) => {
                if in_all_of {
                    if let Some(r) = m.get("$ref").and_then(Value::as_str) {
                        members.insert(r.rsplit('/').next().unwrap().to_owned());
                    }
                }
                for (k, child) in m {
                    collect(child, k == "allOf", members);
                }
            }
            Value::Array(a) => a.iter().for_each(|c| collect(c, in_all_of, members)),
            _ => {}
        }
    }
    collect(doc, false, &mut members);
    fn close(v: &mut Value, in_all_of: bool) {
        match v {
            Value::Object(m) => {
                let is_object = m.contains_key("properties") || m.contains_key("allOf");
                if is_object && !in_all_of && !m.contains_key("additionalProperties") {
                    m.insert("unevaluatedProperties".into(), Value::Bool(false));
                }
                for (k, child) in m.iter_mut() {
                    close(child, k == "allOf");
                }
            }
            Value::Array(a) => a.iter_mut().for_each(|c| close(c, in_all_of)),
            _ => {}
        }
    }
    let schemas = doc["components"]["schemas"].as_object_mut().unwrap();
    for (name, schema) in schemas.iter_mut() {
        close(schema, members.contains(name));
    }
    // A member used on its own (a `Ticket` outside `TicketDetail`) is closed through a
    // wrapper, so it is strict there too.
    for name in &members {
        let wrapper = json!({"allOf": [{"$ref": format!("#/components/schemas/{name}")}], "unevaluatedProperties": false});
        schemas.insert(format!("{name}__closed"), wrapper);
    }
    fn redirect(v: &mut Value, in_all_of: bool, members: &BTreeSet<String>) {
        match v {
            Value::Object(m) => {
                if !in_all_of {
                    if let Some(Value::String(r)) = m.get_mut("$ref") {
                        let name = r.rsplit('/').next().unwrap().to_owned();
                        if members.contains(&name) {
                            *r = format!("#/components/schemas/{name}__closed");
                        }
                    }
                }
                for (k, child) in m.iter_mut() {
                    redirect(child, k == "allOf", members);
                }
            }
            Value::Array(a) => a.iter_mut().for_each(|c| redirect(c, in_all_of, members)),
            _ => {}
        }
    }
    redirect(doc, false, &members);
    for item in doc["paths"].as_object_mut().unwrap().values_mut() {
        close(item, false);
    }
}

/// Calls the API and checks each answer against the document.
struct Walk<'a> {
    app: &'a TestApp,
    doc: Value,
    seen: Mutex<BTreeSet<(String, String)>>,
}

enum Body {
    None,
    Json(Value),
    Photo(Vec<u8>),
    Form(Vec<(&'static str, String)>),
}

impl Walk<'_> {
    /// `template` is the documented path (with `{id}`); `path` the concrete one, with any
    /// query string.
    async fn call(
        &self,
        method: &str,
        template: &str,
        path: &str,
        token: Option<&str>,
        body: Body,
    ) -> (StatusCode, Value) {
        // Open311 paths are given whole; the rest under /api/v1.
        let root = if template.starts_with("/open311/") {
            ""
        } else {
            PREFIX
        };
        let url = format!("{}{root}{path}", self.app.address);
        let mut req = self
            .app
            .client
            .request(method.to_uppercase().parse().unwrap(), url);
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        req = match body {
            Body::None => req,
            Body::Json(v) => req.json(&v),
            Body::Form(fields) => req.form(&fields),
            Body::Photo(bytes) => req.multipart(reqwest::multipart::Form::new().part(
                "file",
                reqwest::multipart::Part::bytes(bytes).file_name("photo.png"),
            )),
        };
        let res = req.send().await.unwrap();
        let status = res.status();
        let content_type = res
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned())
            .unwrap_or_default();
        let bytes = res.bytes().await.unwrap();
        let full = format!("{root}{template}");
        let op = &self.doc["paths"][&full][method];
        assert!(op.is_object(), "{method} {full} is not documented");
        let response = &op["responses"][status.as_str()];
        assert!(
            response.is_object(),
            "{method} {path}: undocumented status {status}"
        );
        if status == StatusCode::NO_CONTENT {
            assert!(bytes.is_empty(), "{method} {path}: a 204 with a body");
            assert!(
                response.get("content").is_none(),
                "{method} {path}: a 204 documented with content"
            );
            self.seen.lock().unwrap().insert((method.to_owned(), full));
            return (status, Value::Null);
        }
        let content = &response["content"];
        let media = content
            .get(&content_type)
            .or_else(|| content.get(format!("{}/*", content_type.split('/').next().unwrap())))
            .unwrap_or_else(|| {
                panic!("{method} {path}: {status} as {content_type} is not documented: {response}")
            });
        let value = if content_type.contains("json") {
            let value: Value = serde_json::from_slice(&bytes).unwrap();
            let mut schema = self.doc.clone();
            schema.as_object_mut().unwrap().insert(
                "$ref".into(),
                Value::String(pointer_to(&full, method, status, &content_type)),
            );
            let validator = jsonschema::options()
                .with_draft(jsonschema::Draft::Draft202012)
                .should_validate_formats(true)
                .build(&schema)
                .unwrap();
            let errors: Vec<String> = validator
                .iter_errors(&value)
                .map(|e| format!("{} at {}", e, e.instance_path()))
                .collect();
            assert!(
                errors.is_empty(),
                "{method} {path} ({status}) does not match its schema {media}:\n{}\n{value:#}",
                errors.join("\n")
            );
            value
        } else {
            Value::String(String::from_utf8_lossy(&bytes).into_owned())
        };
        self.seen.lock().unwrap().insert((method.to_owned(), full));
        (status, value)
    }

    async fn ok(&self, method: &str, template: &str, path: &str, token: &str, body: Body) -> Value {
        let (status, value) = self.call(method, template, path, Some(token), body).await;
        assert!(status.is_success(), "{method} {path}: {status} {value}");
        value
    }
}

fn pointer_to(path: &str, method: &str, status: StatusCode, content_type: &str) -> String {
    let escape = |s: &str| {
        s.replace('~', "~0")
            .replace('/', "~1")
            .replace('{', "%7B")
            .replace('}', "%7D")
    };
    format!(
        "#/paths/{}/{method}/responses/{}/content/{}/schema",
        escape(path),
        status.as_str(),
        escape(content_type)
    )
}

fn in_days(days: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::days(days)).to_rfc3339()
}

async fn every_operation_answers_as_documented(store: Store) {
    use Body::{Json, None as Empty, Photo};
    let app = TestApp::spawn(store).await;
    let mut doc = document(&app).await;
    strict(&mut doc);
    let w = Walk {
        app: &app,
        doc,
        seen: Mutex::new(BTreeSet::new()),
    };
    let admin = app.login("demo-admin").await;
    let street = app.login("demo-supervisor").await;
    let grid = app.login("demo-grid").await;
    let unit = app.login("demo-unit").await;
    let community = app.org_id("望京西园一区社区").await;
    let wangjing = app.org_id("望京街道").await;
    let partner = app.partner_id("望京宜居物业服务有限公司").await;

    w.call("get", "/openapi.json", "/openapi.json", None, Empty)
        .await;
    let login = json!({"username": "demo-admin", "password": app.password("demo-admin")});
    w.call("post", "/auth/login", "/auth/login", None, Json(login))
        .await;
    let (status, _) = w
        .call(
            "post",
            "/auth/login",
            "/auth/login",
            None,
            Json(json!({"username": "demo-admin"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    w.ok("get", "/me", "/me", &grid, Empty).await;
    let (status, _) = w.call("get", "/me", "/me", None, Empty).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // The org tree, partners, categories and accounts.
    w.ok(
        "get",
        "/org-units",
        "/org-units?kind=community",
        &admin,
        Empty,
    )
    .await;
    let unit_id = w
        .ok("post", "/org-units", "/org-units", &admin, Json(json!({"parent_id": wangjing, "kind": "community", "name": "望京新社区", "code": "110105-NEW"})))
        .await["id"]
        .as_i64()
        .unwrap();
    w.ok(
        "get",
        "/org-units/{id}",
        &format!("/org-units/{unit_id}"),
        &admin,
        Empty,
    )
    .await;
    w.ok(
        "patch",
        "/org-units/{id}",
        &format!("/org-units/{unit_id}"),
        &admin,
        Json(json!({"name": "望京新社区（筹）"})),
    )
    .await;
    w.ok("get", "/partners", "/partners", &street, Empty).await;
    let new_partner = w
        .ok("post", "/partners", "/partners", &admin, Json(json!({"name": "文档测试单位", "kind": "enterprise", "contact_email": "doc@example.com", "communities": [community], "categories": ["property_management"]})))
        .await["id"]
        .as_i64()
        .unwrap();
    w.ok(
        "get",
        "/partners/{id}",
        &format!("/partners/{new_partner}"),
        &admin,
        Empty,
    )
    .await;
    w.ok(
        "patch",
        "/partners/{id}",
        &format!("/partners/{new_partner}"),
        &admin,
        Json(json!({"contact_phone": "010-12345678"})),
    )
    .await;
    w.ok("get", "/categories", "/categories", &grid, Empty)
        .await;
    let rule = |respond: i64, resolve: i64| json!({"respond_minutes": respond, "resolve_minutes": resolve, "clock": "working"});
    let category = w
        .ok("post", "/categories", "/categories", &admin, Json(json!({"code": "doc_test", "name_zh": "文档测试", "name_en": "Doc test", "default_priority": "normal",
            "sla": {"urgent": rule(15, 120), "high": rule(60, 1440), "normal": rule(450, 3150), "low": rule(900, 6300)}})))
        .await["id"]
        .as_i64()
        .unwrap();
    w.ok(
        "get",
        "/categories/{id}",
        &format!("/categories/{category}"),
        &admin,
        Empty,
    )
    .await;
    w.ok(
        "patch",
        "/categories/{id}",
        &format!("/categories/{category}"),
        &admin,
        Json(json!({"name_en": "Documentation test"})),
    )
    .await;
    w.ok("get", "/users", "/users", &admin, Empty).await;
    let user = w
        .ok("post", "/users", "/users", &admin, Json(json!({"username": "doc-user", "display_name": "文档", "password": "long-enough-pass", "role": "supervisor", "org_unit_id": wangjing})))
        .await["id"]
        .as_i64()
        .unwrap();
    w.ok(
        "get",
        "/users/{id}",
        &format!("/users/{user}"),
        &admin,
        Empty,
    )
    .await;
    w.ok(
        "patch",
        "/users/{id}",
        &format!("/users/{user}"),
        &admin,
        Json(json!({"display_name": "文档用户"})),
    )
    .await;

    // A ticket through its whole life, and its refusals.
    let new_ticket = |title: &str| {
        json!({"category": "property_management", "title": title, "description": "楼道灯不亮", "address": "5号楼",
        "latitude": 39.99, "longitude": 116.47, "resident_name": "陈阿姨", "resident_phone": "13900001111"})
    };
    let (status, _) = w
        .call(
            "post",
            "/tickets",
            "/tickets",
            Some(&grid),
            Json(json!({"category": "", "title": " "})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let t = w
        .ok(
            "post",
            "/tickets",
            "/tickets",
            &grid,
            Json(new_ticket("楼道灯不亮")),
        )
        .await["id"]
        .as_i64()
        .unwrap();
    w.ok(
        "get",
        "/tickets",
        "/tickets?status=reported&limit=5",
        &street,
        Empty,
    )
    .await;
    w.ok(
        "get",
        "/tickets/{id}",
        &format!("/tickets/{t}"),
        &grid,
        Empty,
    )
    .await;
    w.ok(
        "post",
        "/tickets/{id}/attachments",
        &format!("/tickets/{t}/attachments"),
        &grid,
        Photo(png(1024)),
    )
    .await;
    let detail = w
        .ok(
            "get",
            "/tickets/{id}",
            &format!("/tickets/{t}"),
            &grid,
            Empty,
        )
        .await;
    let photo = detail["attachments"][0]["id"].as_i64().unwrap();
    w.ok(
        "get",
        "/tickets/{id}/attachments/{attachment}",
        &format!("/tickets/{t}/attachments/{photo}"),
        &grid,
        Empty,
    )
    .await;
    w.ok(
        "post",
        "/tickets/{id}/dispatch",
        &format!("/tickets/{t}/dispatch"),
        &street,
        Json(json!({"pool": true})),
    )
    .await;
    w.ok("get", "/pool", "/pool", &unit, Empty).await;
    w.ok(
        "post",
        "/tickets/{id}/claim",
        &format!("/tickets/{t}/claim"),
        &unit,
        Empty,
    )
    .await;
    let (status, conflict) = w
        .call(
            "post",
            "/tickets/{id}/claim",
            &format!("/tickets/{t}/claim"),
            Some(&unit),
            Empty,
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{conflict}");
    w.ok(
        "post",
        "/tickets/{id}/progress",
        &format!("/tickets/{t}/progress"),
        &unit,
        Json(json!({"note": "已派电工"})),
    )
    .await;
    w.ok(
        "post",
        "/tickets/{id}/pause",
        &format!("/tickets/{t}/pause"),
        &unit,
        Json(json!({"reason": "等居民在家"})),
    )
    .await;
    w.ok(
        "post",
        "/tickets/{id}/resume",
        &format!("/tickets/{t}/resume"),
        &unit,
        Json(json!({"note": "居民已回"})),
    )
    .await;
    w.ok(
        "post",
        "/tickets/{id}/resolve",
        &format!("/tickets/{t}/resolve"),
        &unit,
        Json(json!({"note": "已更换灯具"})),
    )
    .await;
    w.ok(
        "post",
        "/tickets/{id}/feedback",
        &format!("/tickets/{t}/feedback"),
        &grid,
        Json(json!({"satisfaction": "satisfied"})),
    )
    .await;

    let t2 = w
        .ok(
            "post",
            "/tickets",
            "/tickets",
            &grid,
            Json(new_ticket("垃圾未清运")),
        )
        .await["id"]
        .as_i64()
        .unwrap();
    w.ok(
        "post",
        "/tickets/{id}/dispatch",
        &format!("/tickets/{t2}/dispatch"),
        &street,
        Json(json!({"partner_id": partner})),
    )
    .await;
    w.ok(
        "post",
        "/tickets/{id}/return",
        &format!("/tickets/{t2}/return"),
        &unit,
        Json(json!({"reason": "不属我单位"})),
    )
    .await;
    w.ok(
        "post",
        "/tickets/{id}/dispatch",
        &format!("/tickets/{t2}/dispatch"),
        &street,
        Json(json!({"pool": true})),
    )
    .await;
    w.ok(
        "post",
        "/tickets/{id}/reassign",
        &format!("/tickets/{t2}/reassign"),
        &street,
        Json(json!({"partner_id": new_partner})),
    )
    .await;
    let t3 = w
        .ok(
            "post",
            "/tickets",
            "/tickets",
            &grid,
            Json(new_ticket("重复登记")),
        )
        .await["id"]
        .as_i64()
        .unwrap();
    w.ok(
        "post",
        "/tickets/{id}/merge",
        &format!("/tickets/{t3}/merge"),
        &street,
        Json(json!({"into": t2})),
    )
    .await;
    let t4 = w
        .ok(
            "post",
            "/tickets",
            "/tickets",
            &grid,
            Json(new_ticket("误报")),
        )
        .await["id"]
        .as_i64()
        .unwrap();
    w.ok(
        "post",
        "/tickets/{id}/cancel",
        &format!("/tickets/{t4}/cancel"),
        &street,
        Json(json!({"reason": "居民已自行解决"})),
    )
    .await;
    let (status, _) = w
        .call(
            "get",
            "/tickets/{id}",
            "/tickets/999999",
            Some(&grid),
            Empty,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    w.ok("get", "/escalations", "/escalations", &street, Empty)
        .await;
    w.ok("get", "/outbox", "/outbox", &admin, Empty).await;
    let (status, _) = w
        .call("get", "/outbox", "/outbox", Some(&grid), Empty)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // The three lists.
    let need = w
        .ok("post", "/needs", "/needs", &street, Json(json!({"community_id": community, "category": "property_management", "title": "楼顶防水", "description": "雨季漏水", "households": 8, "published": true})))
        .await["id"]
        .as_i64()
        .unwrap();
    w.ok("get", "/needs", "/needs?published=true", &street, Empty)
        .await;
    w.ok(
        "get",
        "/needs/{id}",
        &format!("/needs/{need}"),
        &street,
        Empty,
    )
    .await;
    w.ok(
        "patch",
        "/needs/{id}",
        &format!("/needs/{need}"),
        &street,
        Json(json!({"published": true})),
    )
    .await;
    w.ok(
        "post",
        "/needs/{id}/claim",
        &format!("/needs/{need}/claim"),
        &unit,
        Json(json!({"due_at": in_days(20)})),
    )
    .await;
    let resource = w
        .ok("post", "/resources", "/resources", &unit, Json(json!({"title": "电工班组", "category": "property_management", "capacity": "4名电工", "schedule": "工作日", "communities": [community]})))
        .await["id"]
        .as_i64()
        .unwrap();
    w.ok("get", "/resources", "/resources", &unit, Empty).await;
    w.ok(
        "get",
        "/resources/{id}",
        &format!("/resources/{resource}"),
        &unit,
        Empty,
    )
    .await;
    let need2 = w
        .ok("post", "/needs", "/needs", &street, Json(json!({"community_id": community, "category": "property_management", "title": "加装扶手", "description": "老人上下楼"})))
        .await["id"]
        .as_i64()
        .unwrap();
    let project = w
        .ok(
            "post",
            "/projects",
            "/projects",
            &street,
            Json(
                json!({"need_id": need2, "resource_id": resource, "due_at": in_days(30),
            "milestones": [{"title": "勘察", "due_at": in_days(7)}]}),
            ),
        )
        .await;
    let (pid, milestone) = (
        project["id"].as_i64().unwrap(),
        project["milestones"][0]["id"].as_i64().unwrap(),
    );
    w.ok("get", "/projects", "/projects", &street, Empty).await;
    w.ok(
        "get",
        "/projects/{id}",
        &format!("/projects/{pid}"),
        &street,
        Empty,
    )
    .await;
    w.ok(
        "post",
        "/projects/{id}/{action}",
        &format!("/projects/{pid}/start"),
        &unit,
        Json(json!({"note": "进场"})),
    )
    .await;
    w.ok(
        "post",
        "/projects/{id}/milestones",
        &format!("/projects/{pid}/milestones"),
        &unit,
        Json(json!({"title": "验收", "due_at": "2027-01-20T10:00:00Z"})),
    )
    .await;
    w.ok(
        "post",
        "/projects/{id}/milestones/{milestone}/done",
        &format!("/projects/{pid}/milestones/{milestone}/done"),
        &unit,
        Empty,
    )
    .await;
    w.ok("get", "/overdue", "/overdue", &street, Empty).await;

    // Open311 set-up: keys, attributes, places.
    w.ok("get", "/open311-keys", "/open311-keys", &admin, Empty)
        .await;
    let key = w
        .ok(
            "post",
            "/open311-keys",
            "/open311-keys",
            &admin,
            Json(json!({"channel": "doc-app"})),
        )
        .await["id"]
        .as_i64()
        .unwrap();
    let api_key = w
        .ok(
            "post",
            "/open311-keys",
            "/open311-keys",
            &admin,
            Json(json!({"channel": "doc-app-2"})),
        )
        .await["api_key"]
        .as_str()
        .unwrap()
        .to_owned();
    w.ok("put", "/categories/{id}/attributes", &format!("/categories/{category}/attributes"), &admin,
        Json(json!({"attributes": [{"code": "FLOOR", "datatype": "number", "order": 1, "description": "几楼"}]}))).await;
    w.ok(
        "get",
        "/categories/{id}/attributes",
        &format!("/categories/{category}/attributes"),
        &admin,
        Empty,
    )
    .await;
    w.ok(
        "put",
        "/org-units/{id}/geo",
        &format!("/org-units/{community}/geo"),
        &admin,
        Json(json!({"centre": {"lat": 39.99, "long": 116.47}})),
    )
    .await;
    w.ok(
        "get",
        "/org-units/{id}/geo",
        &format!("/org-units/{community}/geo"),
        &street,
        Empty,
    )
    .await;

    // Open311: JSON answers against their schemas, XML by content type.
    const O: &str = "/open311/v2";
    for format in ["json", "xml"] {
        w.call(
            "get",
            &format!("{O}/discovery.{{format}}"),
            &format!("{O}/discovery.{format}"),
            None,
            Empty,
        )
        .await;
        w.call(
            "get",
            &format!("{O}/services.{{format}}"),
            &format!("{O}/services.{format}"),
            None,
            Empty,
        )
        .await;
        w.call(
            "get",
            &format!("{O}/services/{{service_code}}.{{format}}"),
            &format!("{O}/services/property_management.{format}"),
            None,
            Empty,
        )
        .await;
    }
    let form = |key: &str| -> Vec<(&'static str, String)> {
        vec![
            ("api_key", key.to_owned()),
            ("service_code", "environment_sanitation".into()),
            ("lat", "39.99".into()),
            ("long", "116.47".into()),
            ("description", "垃圾满溢".into()),
        ]
    };
    let (status, created) = w
        .call(
            "post",
            &format!("{O}/requests.{{format}}"),
            &format!("{O}/requests.json"),
            None,
            Body::Form(form(&api_key)),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let (status, _) = w
        .call(
            "post",
            &format!("{O}/requests.{{format}}"),
            &format!("{O}/requests.json"),
            None,
            Body::Form(form("j311_forged")),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let id = created[0]["service_request_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let token = created[0]["token"].as_str().unwrap().to_owned();
    w.call(
        "get",
        &format!("{O}/requests.{{format}}"),
        &format!("{O}/requests.json?status=open"),
        None,
        Empty,
    )
    .await;
    w.call(
        "get",
        &format!("{O}/requests/{{service_request_id}}.{{format}}"),
        &format!("{O}/requests/{id}.json"),
        None,
        Empty,
    )
    .await;
    w.call(
        "get",
        &format!("{O}/requests/{{service_request_id}}.{{format}}"),
        &format!("{O}/requests/nope.json"),
        None,
        Empty,
    )
    .await;
    w.call(
        "get",
        &format!("{O}/tokens/{{token}}.{{format}}"),
        &format!("{O}/tokens/{token}.json"),
        None,
        Empty,
    )
    .await;
    w.ok(
        "post",
        "/open311-keys/{id}/revoke",
        &format!("/open311-keys/{key}/revoke"),
        &admin,
        Empty,
    )
    .await;

    // Figures and exports.
    w.ok(
        "get",
        "/stats",
        &format!("/stats?org_unit_id={wangjing}"),
        &street,
        Empty,
    )
    .await;
    w.ok("get", "/stats", "/stats", &unit, Empty).await;
    w.ok("get", "/hotspots", "/hotspots", &street, Empty).await;
    for csv in [
        "/stats.csv",
        "/tickets.csv",
        "/needs.csv",
        "/resources.csv",
        "/projects.csv",
    ] {
        let body = w.ok("get", csv, csv, &street, Empty).await;
        assert!(body.as_str().unwrap().starts_with('\u{feff}'), "{csv}");
    }

    // Signing out ends a session of its own.
    let leaving = app.login("demo-grid").await;
    let (status, _) = w
        .call(
            "post",
            "/auth/logout",
            "/auth/logout",
            Some(&leaving),
            Empty,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);

    // Last, since a changed password ends the unit's token.
    let (status, _) = w
        .call(
            "post",
            "/me/password",
            "/me/password",
            Some(&unit),
            Json(json!({"current_password": "not it", "new_password": "a new passphrase"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let changed = w
        .ok(
            "post",
            "/me/password",
            "/me/password",
            &unit,
            Json(json!({"current_password": app.password("demo-unit"), "new_password": "a new passphrase"})),
        )
        .await;
    assert!(changed["token"].is_string());

    let seen = w.seen.lock().unwrap().clone();
    let all: BTreeSet<(String, String)> = operations(&w.doc);
    let missed: Vec<_> = all.difference(&seen).collect();
    assert!(missed.is_empty(), "the walk left out {missed:?}");
}

crate::on_both_stores!(
    every_route_is_documented_and_every_documented_route_is_served,
    every_operation_answers_as_documented,
);
