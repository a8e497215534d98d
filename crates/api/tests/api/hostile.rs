//! Hostile input against every operation of the OpenAPI document and the Open311 routes:
//! SQL-ish strings, deeply nested and huge JSON, invalid UTF-8, absurd numbers, wrong
//! content types, tampered ids and query strings. Never a 5xx, and a refused request
//! writes nothing.

use serde_json::Value;

use crate::helpers::{StatusCode, Store, TestApp};

const TABLES: &[&str] = &[
    "tickets",
    "ticket_events",
    "org_units",
    "org_unit_emails",
    "org_unit_geo",
    "partners",
    "categories",
    "category_attributes",
    "sla_policies",
    "users",
    "needs",
    "resources",
    "projects",
    "attachments",
    "outbox",
    "open311_keys",
    "open311_requests",
    "idempotency_keys",
];

fn counts(app: &TestApp) -> Vec<i64> {
    TABLES.iter().map(|t| app.count(t)).collect()
}

/// Bodies no operation should accept, with their content types.
fn bodies() -> Vec<(&'static str, Vec<u8>)> {
    let sqlish = r#"{"title": "'; DROP TABLE tickets; --", "name": "x' OR '1'='1", "code": "1; DELETE FROM users", "category": "' UNION SELECT password_hash FROM users --", "reason": "\u0000", "note": "<script>alert(1)</script>"}"#;
    vec![
        ("application/json", sqlish.as_bytes().to_vec()),
        ("application/json", "[".repeat(100_000).into_bytes()),
        ("application/json", b"{\"title\": \"\xff\xfe\xfd\", \"name\": \"\xc3\x28\"}".to_vec()),
        ("application/json", br#"{"parent_id": -1, "partner_id": 99999999999999999999999, "households": 1e309, "into": -9223372036854775808, "due_at": "9999-99-99T99:99:99Z", "limit": -5}"#.to_vec()),
        ("application/json", br#"{"latitude": 1e400, "longitude": "NaN", "priority": 7, "satisfaction": {"$gt": ""}}"#.to_vec()),
        ("application/json", b"null".to_vec()),
        ("application/json", b"".to_vec()),
        ("application/json", b"\"just a string\"".to_vec()),
        ("application/json", format!("{{\"description\": \"{}\"}}", "長".repeat(300_000)).into_bytes()),
        ("text/xml", b"<ticket><title>x</title></ticket>".to_vec()),
        ("application/x-www-form-urlencoded", b"title=x&category=%27--".to_vec()),
        ("multipart/form-data; boundary=zzz", b"--zzz\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\nnot an image\r\n--zzz--\r\n".to_vec()),
    ]
}

/// Concrete paths for a documented template: ordinary ids and tampered ones.
fn paths(template: &str) -> Vec<String> {
    let fill = |id: &str| {
        template
            .split('/')
            .map(|seg| match seg {
                "{action}" => "start".to_owned(),
                s if s.starts_with('{') => id.to_owned(),
                s => s.to_owned(),
            })
            .collect::<Vec<_>>()
            .join("/")
    };
    if !template.contains('{') {
        return vec![
            template.to_owned(),
            format!("{template}?limit=-5&cursor=%27%20OR%201%3D1--&status=reported%27--&created_from=yesterday&org_unit_id=1%20OR%201"),
            format!("{template}?limit=99999999999999999999&overdue=maybe&q=%00%ff"),
        ];
    }
    [
        "1",
        "-1",
        "0",
        "99999999999999999999",
        "1%27%20OR%201%3D1",
        "%ff%fe",
        "1.5",
    ]
    .iter()
    .map(|id| fill(id))
    .collect()
}

async fn every_operation_refuses_hostile_input_without_a_5xx_or_a_write(store: Store) {
    let app = TestApp::spawn(store).await;
    let admin = app.login("demo-admin").await;
    let grid = app.login("demo-grid").await;
    let doc: Value = app
        .client
        .get(format!("{}/api/v1/openapi.json", app.address))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut sent = 0;
    for (template, item) in doc["paths"].as_object().unwrap() {
        if template.ends_with("/auth/logout") {
            continue; // it would end the sessions this test goes on with; it reads no body
        }
        for method in ["get", "post", "put", "patch"] {
            if item.get(method).is_none() {
                continue;
            }
            for path in paths(template) {
                for token in [&admin, &grid] {
                    let battery: Vec<(&str, Vec<u8>)> = if method == "get" {
                        vec![("application/json", vec![])]
                    } else {
                        bodies()
                    };
                    for (content_type, body) in battery {
                        let before = counts(&app);
                        let res = app
                            .client
                            .request(
                                method.to_uppercase().parse().unwrap(),
                                format!("{}{path}", app.address),
                            )
                            .bearer_auth(token)
                            .header("content-type", content_type)
                            .body(body)
                            .send()
                            .await
                            .unwrap();
                        let status = res.status();
                        sent += 1;
                        assert!(
                            !status.is_server_error(),
                            "{method} {path} ({content_type}): {status}"
                        );
                        if status.is_client_error() {
                            let kind = res.headers()["content-type"].to_str().unwrap().to_owned();
                            if !path.starts_with("/open311/") {
                                assert_eq!(
                                    kind, "application/problem+json",
                                    "{method} {path}: {status}"
                                );
                            }
                            assert_eq!(counts(&app), before, "{method} {path} ({content_type}) was refused with {status} but wrote");
                        }
                    }
                }
            }
        }
    }
    assert!(sent > 1000, "{sent}");

    // Open311: tampered names, keys and forms.
    let before = counts(&app);
    for (method, path, body) in [
        ("GET", "/open311/v2/services.php", ""),
        ("GET", "/open311/v2/services/%27%20OR%201=1.json", ""),
        ("GET", "/open311/v2/requests/%ff%fe.xml", ""),
        (
            "GET",
            "/open311/v2/requests.json?start_date=%00&end_date=9999-99-99",
            "",
        ),
        (
            "GET",
            "/open311/v2/requests.json?service_request_id=1%27--,2&status=%27",
            "",
        ),
        ("GET", "/open311/v2/tokens/..%2F..%2Fetc%2Fpasswd.json", ""),
        (
            "POST",
            "/open311/v2/requests.json",
            "api_key=%27%20OR%201=1--&service_code=x",
        ),
        (
            "POST",
            "/open311/v2/requests.xml",
            "api_key=&service_code=%ff&lat=1e999&long=-1e999",
        ),
        ("POST", "/open311/v2/requests.json", "%%%%&&&==="),
        ("POST", "/open311/v2/services.json", "api_key=x"),
    ] {
        let res = app
            .client
            .request(method.parse().unwrap(), format!("{}{path}", app.address))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap();
        let status = res.status();
        assert!(status.is_client_error(), "{method} {path}: {status}");
        if status != StatusCode::METHOD_NOT_ALLOWED && status != StatusCode::NOT_FOUND {
            let text = res.text().await.unwrap();
            assert!(text.contains("description"), "{path}: {text}");
        }
    }
    assert_eq!(counts(&app), before);
}

/// Control characters (a NUL breaks PostgreSQL, a U+000B every XML answer) are refused at
/// the edge in every path segment, query value and body field, with 400 naming the
/// field, before any handler runs: nothing is written.
async fn control_characters_are_refused_naming_the_field_and_write_nothing(store: Store) {
    let app = TestApp::spawn(store).await;
    let admin = app.login("demo-admin").await;
    let grid = app.login("demo-grid").await;
    let before = counts(&app);
    let json_calls: Vec<(&str, &str, Option<&str>, Value, &str)> = vec![
        (
            "POST",
            "/api/v1/auth/login",
            None,
            serde_json::json!({"username": "demo-admin\u{0}", "password": "x"}),
            "username",
        ),
        (
            "POST",
            "/api/v1/tickets",
            Some(&grid),
            serde_json::json!({"category": "property_management", "title": "标题",
                "description": "垂直制表\u{b}符", "address": "1号楼"}),
            "description",
        ),
        (
            "POST",
            "/api/v1/tickets",
            Some(&grid),
            serde_json::json!({"category": "property_management", "title": "两行\n标题",
                "description": "描述可以\n换行", "address": "1号楼"}),
            "title",
        ),
        (
            "PATCH",
            "/api/v1/categories/1",
            Some(&admin),
            serde_json::json!({"name_zh": "供\u{0}水"}),
            "name_zh",
        ),
    ];
    for (method, path, token, body, field) in json_calls {
        let mut req = app
            .client
            .request(method.parse().unwrap(), format!("{}{path}", app.address))
            .json(&body);
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        let res = req.send().await.unwrap();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{method} {path}");
        let problem: Value = res.json().await.unwrap();
        assert!(
            problem["errors"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["field"] == field && e["code"] == "control_character"),
            "{method} {path}: {problem}"
        );
    }
    // Query values and path segments, under /api/v1 and /open311/v2.
    for (path, field) in [
        ("/api/v1/tickets?q=%00", "q"),
        ("/api/v1/tickets?q=%0B", "q"),
        ("/api/v1/tickets/%00", "path"),
    ] {
        let (status, body) = app.get(path, &admin).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {body}");
        assert_eq!(body["errors"][0]["field"], field, "{path}: {body}");
    }
    for path in [
        "/open311/v2/requests.json?service_code=%00",
        "/open311/v2/services/%00.json",
        "/open311/v2/tokens/%00.json",
        "/open311/v2/requests.xml?status=%0B",
    ] {
        let res = app
            .client
            .get(format!("{}{path}", app.address))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{path}");
        let text = res.text().await.unwrap();
        assert!(text.contains("control character"), "{path}: {text}");
    }
    // A form body: an Open311 description with U+000B.
    let res = app
        .client
        .post(format!("{}/open311/v2/requests.json", app.address))
        .form(&[
            ("api_key", "whatever"),
            ("service_code", "property_management"),
            ("address_id", "110105026001"),
            ("description", "坏\u{b}字符"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let text = res.text().await.unwrap();
    assert!(text.contains("description"), "{text}");
    assert_eq!(counts(&app), before, "nothing was written");
}

crate::on_both_stores!(
    every_operation_refuses_hostile_input_without_a_5xx_or_a_write,
    control_characters_are_refused_naming_the_field_and_write_nothing,
);
