//! The OpenAPI document against the server that serves it: every route in the source is
//! in the document, every documented operation is served, and every response of a walk
//! through all of them matches its documented status, content type and schema (strictly:
//! a field the document does not name fails).

use std::collections::{BTreeMap, BTreeSet};
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

/// One call of the walk: who sends what to which documented operation, the status it must
/// answer (any success when not given), and values of the answer kept for later calls.
/// `$name` in the path, a JSON string value or a form value is a kept value.
struct Step {
    method: &'static str,
    /// The operation as documented, e.g. `/tickets/{id}/claim`.
    operation: String,
    /// The path sent, e.g. `/tickets/$t/claim`.
    path: String,
    /// Whose token goes with it; `None` for none.
    who: Option<&'static str>,
    body: Body,
    status: Option<StatusCode>,
    keep: Vec<(&'static str, &'static str)>,
}

fn step(method: &'static str, operation: &str, path: &str, who: &'static str, body: Body) -> Step {
    Step {
        method,
        operation: operation.to_owned(),
        path: path.to_owned(),
        who: (!who.is_empty()).then_some(who),
        body,
        status: None,
        keep: Vec::new(),
    }
}

impl Step {
    /// The status the call must answer.
    fn answers(mut self, status: StatusCode) -> Self {
        self.status = Some(status);
        self
    }

    /// Keeps the answer's value at a JSON pointer as `$name`.
    fn keep(mut self, name: &'static str, pointer: &'static str) -> Self {
        self.keep.push((name, pointer));
        self
    }
}

/// `$name` replaced by its kept value, in a path or a form value.
fn fill(text: &str, kept: &BTreeMap<String, Value>) -> String {
    let mut names: Vec<&String> = kept.keys().collect();
    names.sort_by_key(|n| std::cmp::Reverse(n.len()));
    let mut out = text.to_owned();
    for name in names {
        let value = match &kept[name] {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        out = out.replace(&format!("${name}"), &value);
    }
    out
}

/// Every JSON string that is exactly `$name` replaced by the kept value itself.
fn fill_json(value: Value, kept: &BTreeMap<String, Value>) -> Value {
    match value {
        Value::String(s) => match s.strip_prefix('$').and_then(|n| kept.get(n)) {
            Some(v) => v.clone(),
            None => Value::String(s),
        },
        Value::Array(items) => {
            Value::Array(items.into_iter().map(|v| fill_json(v, kept)).collect())
        }
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| (k, fill_json(v, kept)))
                .collect(),
        ),
        other => other,
    }
}

/// The walk's steps, in order: each operation once at least, with its refusals. A table,
/// as long as the API is wide: each entry is one call, and the order is the story (a
/// ticket is logged before it is claimed).
fn steps() -> Vec<Step> {
    use Body::{Json, None as Empty, Photo};
    let new_ticket = |title: &str| {
        Json(
            json!({"category": "property_management", "title": title, "description": "楼道灯不亮", "address": "5号楼",
        "latitude": 39.99, "longitude": 116.47, "resident_name": "陈阿姨", "resident_phone": "13900001111"}),
        )
    };
    let rule = |respond: i64, resolve: i64| json!({"respond_minutes": respond, "resolve_minutes": resolve, "clock": "working"});
    let mut steps = vec![
        step("get", "/openapi.json", "/openapi.json", "", Empty),
        step("post", "/auth/login", "/auth/login", "", Json(json!({"username": "demo-admin", "password": "$admin_password"}))),
        step("post", "/auth/login", "/auth/login", "", Json(json!({"username": "demo-admin"}))).answers(StatusCode::UNPROCESSABLE_ENTITY),
        step("get", "/me", "/me", "grid", Empty),
        step("get", "/me", "/me", "", Empty).answers(StatusCode::UNAUTHORIZED),
        // The org tree, partners, categories and accounts.
        step("get", "/org-units", "/org-units?kind=community", "admin", Empty),
        step("post", "/org-units", "/org-units", "admin", Json(json!({"parent_id": "$wangjing", "kind": "community", "name": "望京新社区", "code": "110105-NEW"}))).keep("unit_id", "/id"),
        step("get", "/org-units/{id}", "/org-units/$unit_id", "admin", Empty),
        step("patch", "/org-units/{id}", "/org-units/$unit_id", "admin", Json(json!({"name": "望京新社区（筹）"}))),
        step("get", "/partners", "/partners", "street", Empty),
        step("post", "/partners", "/partners", "admin", Json(json!({"name": "文档测试单位", "kind": "enterprise", "contact_email": "doc@example.com", "communities": ["$community"], "categories": ["property_management"]}))).keep("new_partner", "/id"),
        step("get", "/partners/{id}", "/partners/$new_partner", "admin", Empty),
        step("patch", "/partners/{id}", "/partners/$new_partner", "admin", Json(json!({"contact_phone": "010-12345678"}))),
        step("get", "/categories", "/categories", "grid", Empty),
        step("post", "/categories", "/categories", "admin", Json(json!({"code": "doc_test", "name_zh": "文档测试", "name_en": "Doc test", "default_priority": "normal",
            "sla": {"urgent": rule(15, 120), "high": rule(60, 1440), "normal": rule(450, 3150), "low": rule(900, 6300)}}))).keep("category", "/id"),
        step("get", "/categories/{id}", "/categories/$category", "admin", Empty),
        step("patch", "/categories/{id}", "/categories/$category", "admin", Json(json!({"name_en": "Documentation test"}))),
        step("get", "/users", "/users", "admin", Empty),
        step("post", "/users", "/users", "admin", Json(json!({"username": "doc-user", "display_name": "文档", "password": "long-enough-pass", "role": "supervisor", "org_unit_id": "$wangjing"}))).keep("user", "/id"),
        step("get", "/users/{id}", "/users/$user", "admin", Empty),
        step("patch", "/users/{id}", "/users/$user", "admin", Json(json!({"display_name": "文档用户"}))),
        // A ticket through its whole life, and its refusals.
        step("post", "/tickets", "/tickets", "grid", Json(json!({"category": "", "title": " "}))).answers(StatusCode::UNPROCESSABLE_ENTITY),
        step("post", "/tickets", "/tickets", "grid", new_ticket("楼道灯不亮")).keep("t", "/id"),
        step("get", "/tickets", "/tickets?status=reported&limit=5", "street", Empty),
        step("get", "/tickets/{id}", "/tickets/$t", "grid", Empty),
        step("post", "/tickets/{id}/attachments", "/tickets/$t/attachments", "grid", Photo(png(1024))),
        step("get", "/tickets/{id}", "/tickets/$t", "grid", Empty).keep("photo", "/attachments/0/id"),
        step("get", "/tickets/{id}/attachments/{attachment}", "/tickets/$t/attachments/$photo", "grid", Empty),
        step("post", "/tickets/{id}/dispatch", "/tickets/$t/dispatch", "street", Json(json!({"pool": true}))),
        step("get", "/pool", "/pool", "unit", Empty),
        step("post", "/tickets/{id}/claim", "/tickets/$t/claim", "unit", Empty),
        step("post", "/tickets/{id}/claim", "/tickets/$t/claim", "unit", Empty).answers(StatusCode::CONFLICT),
        step("post", "/tickets/{id}/progress", "/tickets/$t/progress", "unit", Json(json!({"note": "已派电工"}))),
        step("post", "/tickets/{id}/urge", "/tickets/$t/urge", "street", Json(json!({"note": "请今天处理"}))),
        step("post", "/tickets/{id}/urge", "/tickets/$t/urge", "unit", Json(json!({"note": "催"}))).answers(StatusCode::FORBIDDEN),
        step("post", "/tickets/{id}/pause", "/tickets/$t/pause", "unit", Json(json!({"reason": "等居民在家"}))),
        step("post", "/tickets/{id}/resume", "/tickets/$t/resume", "unit", Json(json!({"note": "居民已回"}))),
        step("post", "/tickets/{id}/resolve", "/tickets/$t/resolve", "unit", Json(json!({"note": "已更换灯具"}))),
        step("post", "/tickets/{id}/feedback", "/tickets/$t/feedback", "grid", Json(json!({"satisfaction": "satisfied"}))),
        step("post", "/tickets/{id}/erase-resident", "/tickets/$t/erase-resident", "street", Json(json!({"reason": "居民要求"}))).answers(StatusCode::FORBIDDEN),
        step("post", "/tickets/{id}/erase-resident", "/tickets/$t/erase-resident", "admin", Json(json!({"reason": "居民要求删除个人信息"}))),
        step("post", "/tickets/{id}/erase-resident", "/tickets/$t/erase-resident", "admin", Json(json!({"reason": "再次"}))).answers(StatusCode::CONFLICT),
        step("get", "/contact-reads", "/contact-reads?limit=5", "admin", Empty),
        step("get", "/contact-reads", "/contact-reads", "street", Empty).answers(StatusCode::FORBIDDEN),
        step("get", "/contact-reads.csv", "/contact-reads.csv", "admin", Empty),
        step("post", "/tickets", "/tickets", "grid", new_ticket("垃圾未清运")).keep("t2", "/id"),
        step("post", "/tickets/{id}/dispatch", "/tickets/$t2/dispatch", "street", Json(json!({"partner_id": "$partner"}))),
        step("post", "/tickets/{id}/return", "/tickets/$t2/return", "unit", Json(json!({"reason": "不属我单位"}))),
        step("post", "/tickets/{id}/dispatch", "/tickets/$t2/dispatch", "street", Json(json!({"pool": true}))),
        step("post", "/tickets/{id}/reassign", "/tickets/$t2/reassign", "street", Json(json!({"partner_id": "$new_partner"}))),
        step("post", "/tickets", "/tickets", "grid", new_ticket("重复登记")).keep("t3", "/id"),
        step("post", "/tickets/{id}/merge", "/tickets/$t3/merge", "street", Json(json!({"into": "$t2"}))),
        step("post", "/tickets", "/tickets", "grid", new_ticket("误报")).keep("t4", "/id"),
        step("post", "/tickets/{id}/cancel", "/tickets/$t4/cancel", "street", Json(json!({"reason": "居民已自行解决"}))),
        step("get", "/tickets/{id}", "/tickets/999999", "grid", Empty).answers(StatusCode::NOT_FOUND),
        step("get", "/escalations", "/escalations", "street", Empty),
        step("get", "/outbox", "/outbox", "admin", Empty),
        step("get", "/outbox", "/outbox", "grid", Empty).answers(StatusCode::FORBIDDEN),
        // The three lists.
        step("post", "/needs", "/needs", "street", Json(json!({"community_id": "$community", "category": "property_management", "title": "楼顶防水", "description": "雨季漏水", "households": 8, "published": true}))).keep("need", "/id"),
        step("get", "/needs", "/needs?published=true", "street", Empty),
        step("get", "/needs/{id}", "/needs/$need", "street", Empty),
        step("patch", "/needs/{id}", "/needs/$need", "street", Json(json!({"published": true}))),
        step("post", "/needs/{id}/claim", "/needs/$need/claim", "unit", Json(json!({"due_at": in_days(20)}))),
        step("post", "/resources", "/resources", "unit", Json(json!({"title": "电工班组", "category": "property_management", "capacity": "4名电工", "schedule": "工作日", "communities": ["$community"]}))).keep("resource", "/id"),
        step("get", "/resources", "/resources", "unit", Empty),
        step("get", "/resources/{id}", "/resources/$resource", "unit", Empty),
        step("post", "/needs", "/needs", "street", Json(json!({"community_id": "$community", "category": "property_management", "title": "加装扶手", "description": "老人上下楼"}))).keep("need2", "/id"),
        step("post", "/projects", "/projects", "street", Json(json!({"need_id": "$need2", "resource_id": "$resource", "due_at": in_days(30),
            "milestones": [{"title": "勘察", "due_at": in_days(7)}]}))).keep("project", "/id").keep("milestone", "/milestones/0/id"),
        step("get", "/projects", "/projects", "street", Empty),
        step("get", "/projects/{id}", "/projects/$project", "street", Empty),
        step("post", "/projects/{id}/{action}", "/projects/$project/start", "unit", Json(json!({"note": "进场"}))),
        step("post", "/projects/{id}/milestones", "/projects/$project/milestones", "unit", Json(json!({"title": "验收", "due_at": "2027-01-20T10:00:00Z"}))),
        step("post", "/projects/{id}/milestones/{milestone}/done", "/projects/$project/milestones/$milestone/done", "unit", Empty),
        step("get", "/overdue", "/overdue", "street", Empty),
        // Open311 set-up: keys, attributes, places.
        step("get", "/open311-keys", "/open311-keys", "admin", Empty),
        step("post", "/open311-keys", "/open311-keys", "admin", Json(json!({"channel": "doc-app"}))).keep("key", "/id"),
        step("post", "/open311-keys", "/open311-keys", "admin", Json(json!({"channel": "doc-app-2"}))).keep("api_key", "/api_key"),
        step("put", "/categories/{id}/attributes", "/categories/$category/attributes", "admin",
            Json(json!({"attributes": [{"code": "FLOOR", "datatype": "number", "order": 1, "description": "几楼"}]}))),
        step("get", "/categories/{id}/attributes", "/categories/$category/attributes", "admin", Empty),
        step("put", "/org-units/{id}/geo", "/org-units/$community/geo", "admin", Json(json!({"centre": {"lat": 39.99, "long": 116.47}}))),
        step("get", "/org-units/{id}/geo", "/org-units/$community/geo", "street", Empty),
    ];
    // Open311: JSON answers against their schemas, XML by content type.
    const O: &str = "/open311/v2";
    for format in ["json", "xml"] {
        steps.extend([
            step(
                "get",
                &format!("{O}/discovery.{{format}}"),
                &format!("{O}/discovery.{format}"),
                "",
                Empty,
            ),
            step(
                "get",
                &format!("{O}/services.{{format}}"),
                &format!("{O}/services.{format}"),
                "",
                Empty,
            ),
            step(
                "get",
                &format!("{O}/services/{{service_code}}.{{format}}"),
                &format!("{O}/services/property_management.{format}"),
                "",
                Empty,
            ),
        ]);
    }
    let form = |key: &str| {
        Body::Form(vec![
            ("api_key", key.to_owned()),
            ("service_code", "environment_sanitation".into()),
            ("lat", "39.99".into()),
            ("long", "116.47".into()),
            ("description", "垃圾满溢".into()),
        ])
    };
    let requests = format!("{O}/requests.{{format}}");
    let request = format!("{O}/requests/{{service_request_id}}.{{format}}");
    steps.extend([
        step(
            "post",
            &requests,
            &format!("{O}/requests.json"),
            "",
            form("$api_key"),
        )
        .answers(StatusCode::CREATED)
        .keep("request", "/0/service_request_id")
        .keep("token", "/0/token"),
        step(
            "post",
            &requests,
            &format!("{O}/requests.json"),
            "",
            form("j311_forged"),
        )
        .answers(StatusCode::FORBIDDEN),
        step(
            "get",
            &requests,
            &format!("{O}/requests.json?status=open"),
            "",
            Empty,
        ),
        step(
            "get",
            &request,
            &format!("{O}/requests/$request.json"),
            "",
            Empty,
        ),
        step(
            "get",
            &request,
            &format!("{O}/requests/nope.json"),
            "",
            Empty,
        )
        .answers(StatusCode::NOT_FOUND),
        step(
            "get",
            &format!("{O}/tokens/{{token}}.{{format}}"),
            &format!("{O}/tokens/$token.json"),
            "",
            Empty,
        ),
        step(
            "post",
            "/open311-keys/{id}/revoke",
            "/open311-keys/$key/revoke",
            "admin",
            Empty,
        ),
        // Figures and exports.
        step(
            "get",
            "/stats",
            "/stats?org_unit_id=$wangjing",
            "street",
            Empty,
        ),
        step("get", "/stats", "/stats", "unit", Empty),
        step("get", "/hotspots", "/hotspots", "street", Empty),
        step("get", "/today", "/today", "street", Empty),
        step("get", "/today", "/today", "unit", Empty),
    ]);
    for csv in [
        "/stats.csv",
        "/tickets.csv",
        "/needs.csv",
        "/resources.csv",
        "/projects.csv",
    ] {
        steps.push(step("get", csv, csv, "street", Empty));
    }
    steps.extend([
        // Signing out ends a session of its own.
        step("post", "/auth/logout", "/auth/logout", "leaving", Empty)
            .answers(StatusCode::NO_CONTENT),
        // Last, since a changed password ends the unit's token.
        step(
            "post",
            "/me/password",
            "/me/password",
            "unit",
            Json(json!({"current_password": "not it", "new_password": "a new passphrase"})),
        )
        .answers(StatusCode::UNPROCESSABLE_ENTITY),
        step(
            "post",
            "/me/password",
            "/me/password",
            "unit",
            Json(json!({"current_password": "$unit_password", "new_password": "a new passphrase"})),
        )
        .keep("new_token", "/token"),
    ]);
    steps
}

async fn every_operation_answers_as_documented(store: Store) {
    let app = TestApp::spawn(store).await;
    let mut doc = document(&app).await;
    strict(&mut doc);
    let w = Walk {
        app: &app,
        doc,
        seen: Mutex::new(BTreeSet::new()),
    };
    let mut tokens = BTreeMap::new();
    for (who, username) in [
        ("admin", "demo-admin"),
        ("street", "demo-supervisor"),
        ("grid", "demo-grid"),
        ("unit", "demo-unit"),
        ("leaving", "demo-grid"),
    ] {
        tokens.insert(who, app.login(username).await);
    }
    let mut kept: BTreeMap<String, Value> = BTreeMap::new();
    kept.insert(
        "community".into(),
        json!(app.org_id("望京西园一区社区").await),
    );
    kept.insert("wangjing".into(), json!(app.org_id("望京街道").await));
    kept.insert(
        "partner".into(),
        json!(app.partner_id("望京宜居物业服务有限公司").await),
    );
    kept.insert("admin_password".into(), json!(app.password("demo-admin")));
    kept.insert("unit_password".into(), json!(app.password("demo-unit")));

    for step in steps() {
        let path = fill(&step.path, &kept);
        let body = match step.body {
            Body::Json(v) => Body::Json(fill_json(v, &kept)),
            Body::Form(fields) => Body::Form(
                fields
                    .into_iter()
                    .map(|(k, v)| (k, fill(&v, &kept)))
                    .collect(),
            ),
            other => other,
        };
        let token = step.who.map(|who| tokens[who].as_str());
        let (status, answer) = w
            .call(step.method, &step.operation, &path, token, body)
            .await;
        match step.status {
            Some(expected) => assert_eq!(status, expected, "{} {path}: {answer}", step.method),
            None => assert!(
                status.is_success(),
                "{} {path}: {status} {answer}",
                step.method
            ),
        }
        for (name, pointer) in step.keep {
            let value = answer
                .pointer(pointer)
                .cloned()
                .unwrap_or_else(|| panic!("{pointer} of {} {path}: {answer}", step.method));
            kept.insert(name.into(), value);
        }
        if path.ends_with(".csv") {
            assert!(
                answer.as_str().is_some_and(|b| b.starts_with('\u{feff}')),
                "{path}: a BOM first"
            );
        }
    }
    assert!(kept["new_token"].is_string());

    let seen = w.seen.lock().unwrap().clone();
    let all: BTreeSet<(String, String)> = operations(&w.doc);
    let missed: Vec<_> = all.difference(&seen).collect();
    assert!(missed.is_empty(), "the walk left out {missed:?}");
}

crate::on_both_stores!(
    every_route_is_documented_and_every_documented_route_is_served,
    every_operation_answers_as_documented,
);
