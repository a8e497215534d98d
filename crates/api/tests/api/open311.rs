//! The Open311 GeoReport v2 gateway over HTTP, in JSON and XML, compared field by field
//! with the specification's examples; a request followed through `/api/v1` to closed.

use std::collections::BTreeSet;

use serde_json::{json, Value};

use crate::helpers::{StatusCode, Store, TestApp};

/// The fields of the specification's examples, in its order.
const SERVICE: &[&str] = &[
    "service_code",
    "service_name",
    "description",
    "metadata",
    "type",
    "keywords",
    "group",
];
const ATTRIBUTE: &[&str] = &[
    "variable",
    "code",
    "datatype",
    "required",
    "datatype_description",
    "order",
    "description",
    "values",
];
const CREATED: &[&str] = &[
    "service_request_id",
    "token",
    "service_notice",
    "account_id",
];
const REQUEST: &[&str] = &[
    "service_request_id",
    "status",
    "status_notes",
    "service_name",
    "service_code",
    "description",
    "agency_responsible",
    "service_notice",
    "requested_datetime",
    "updated_datetime",
    "expected_datetime",
    "address",
    "address_id",
    "zipcode",
    "lat",
    "long",
    "media_url",
];

type Form = Vec<(&'static str, String)>;

/// In the demo city: a boundary around 望京西园一区 and a centre for 花家地北里.
const INSIDE: (f64, f64) = (39.9950, 116.4700);
const NEAR_HUAJIADI: (f64, f64) = (39.9772, 116.4671);

struct Gateway {
    app: TestApp,
    key: String,
    admin: String,
}

async fn gateway(store: Store) -> Gateway {
    let app = TestApp::spawn_with(store, |s| {
        s.open311.intake_community = "110105004001".into(); // 和平街一社区
        s.open311.nearest_centre_max_metres = 800.0;
    })
    .await;
    let admin = app.login("demo-admin").await;
    let (status, key) = app
        .post(
            "/api/v1/open311-keys",
            &admin,
            json!({"channel": "city-app"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{key}");
    let wangjing = app.org_id("望京西园一区社区").await;
    let (status, body) = app
        .call(reqwest::Method::PUT, &format!("/api/v1/org-units/{wangjing}/geo"), Some(&admin), Some(json!({
            "boundary": [{"lat": 39.990, "long": 116.465}, {"lat": 39.990, "long": 116.475}, {"lat": 40.000, "long": 116.475}, {"lat": 40.000, "long": 116.465}]})))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let huajiadi = app.org_id("花家地北里社区").await;
    let (status, body) = app
        .call(
            reqwest::Method::PUT,
            &format!("/api/v1/org-units/{huajiadi}/geo"),
            Some(&admin),
            Some(json!({"centre": {"lat": 39.9780, "long": 116.4680}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    Gateway {
        key: key["api_key"].as_str().unwrap().to_owned(),
        app,
        admin,
    }
}

impl Gateway {
    async fn get(&self, path: &str) -> (StatusCode, String, String) {
        let res = self
            .app
            .client
            .get(format!("{}/open311/v2/{path}", self.app.address))
            .send()
            .await
            .unwrap();
        let status = res.status();
        let kind = res.headers()["content-type"].to_str().unwrap().to_owned();
        (status, kind, res.text().await.unwrap())
    }

    async fn json(&self, path: &str) -> (StatusCode, Value) {
        let (status, kind, body) = self.get(path).await;
        assert!(kind.starts_with("application/json"), "{kind}");
        (status, serde_json::from_str(&body).unwrap())
    }

    async fn post(&self, format: &str, form: &[(&str, String)]) -> (StatusCode, String) {
        let res = self
            .app
            .client
            .post(format!("{}/open311/v2/requests.{format}", self.app.address))
            .form(form)
            .send()
            .await
            .unwrap();
        (res.status(), res.text().await.unwrap())
    }

    fn form(
        &self,
        service: &str,
        (lat, long): (f64, f64),
        description: &str,
    ) -> Vec<(&'static str, String)> {
        vec![
            ("api_key", self.key.clone()),
            ("service_code", service.into()),
            ("lat", lat.to_string()),
            ("long", long.to_string()),
            ("description", description.into()),
            ("first_name", "Li".into()),
            ("last_name", "Wei".into()),
            ("phone", "13800001111".into()),
            ("media_url", "https://photos.example.com/1.jpg".into()),
        ]
    }

    async fn create(&self, form: &[(&str, String)]) -> Value {
        let (status, body) = self.post("json", form).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let body: Value = serde_json::from_str(&body).unwrap();
        body[0].clone()
    }
}

fn keys(v: &Value) -> Vec<&str> {
    let mut k: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    k.sort_unstable();
    k
}

fn sorted(fields: &[&'static str]) -> Vec<&'static str> {
    let mut f = fields.to_vec();
    f.sort_unstable();
    f
}

/// The child element names of an XML element, in document order.
fn children<'a>(node: roxmltree::Node<'a, 'a>) -> Vec<roxmltree::Node<'a, 'a>> {
    node.children()
        .filter(roxmltree::Node::is_element)
        .collect()
}

fn names(node: roxmltree::Node<'_, '_>) -> Vec<String> {
    children(node)
        .iter()
        .map(|n| n.tag_name().name().to_owned())
        .collect()
}

fn xml_doc(text: &str) -> roxmltree::Document<'_> {
    assert!(
        text.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>"),
        "{text}"
    );
    roxmltree::Document::parse(text).unwrap()
}

fn text_of(node: roxmltree::Node<'_, '_>, name: &str) -> String {
    children(node)
        .into_iter()
        .find(|n| n.tag_name().name() == name)
        .unwrap_or_else(|| panic!("no <{name}>"))
        .text()
        .unwrap_or_default()
        .to_owned()
}

async fn services_and_definitions_read_as_the_specification_shows(store: Store) {
    let g = gateway(store).await;
    let category = g.app.with_conn(|conn| {
        jiesu_core::categories::ids_by_code(conn, &["property_management".into()]).unwrap()
            ["property_management"]
    });
    let (status, body) = g
        .app
        .call(reqwest::Method::PUT, &format!("/api/v1/categories/{category}/attributes"), Some(&g.admin), Some(json!({"attributes": [
            {"code": "FLOOR", "datatype": "number", "required": true, "order": 2, "description": "几楼？"},
            {"code": "KIND", "datatype": "singlevaluelist", "required": true, "order": 1, "description": "什么问题？",
             "values": [{"key": "light", "name": "楼道灯"}, {"key": "door", "name": "单元门"}]}]})))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body[0]["code"], "KIND", "kept by order");

    let (status, services) = g.json("services.json").await;
    assert_eq!(status, StatusCode::OK);
    let list = services.as_array().unwrap();
    assert!(list.len() >= 11, "{services}");
    for s in list {
        assert_eq!(keys(s), sorted(SERVICE), "{s}");
        assert_eq!(s["type"], "realtime");
    }
    let pm = list
        .iter()
        .find(|s| s["service_code"] == "property_management")
        .unwrap();
    assert_eq!(pm["metadata"], true, "it has attributes");
    assert!(list.iter().any(|s| s["metadata"] == false));

    let (status, kind, xml) = g.get("services.xml").await;
    assert_eq!(status, StatusCode::OK);
    assert!(kind.starts_with("text/xml"), "{kind}");
    let doc = xml_doc(&xml);
    assert_eq!(doc.root_element().tag_name().name(), "services");
    let items = children(doc.root_element());
    assert_eq!(items.len(), list.len());
    for (item, json) in items.iter().zip(list) {
        assert_eq!(item.tag_name().name(), "service");
        assert_eq!(
            names(*item),
            SERVICE,
            "element order as in the specification"
        );
        assert_eq!(
            text_of(*item, "service_code"),
            json["service_code"].as_str().unwrap()
        );
        assert_eq!(
            text_of(*item, "service_name"),
            json["service_name"].as_str().unwrap()
        );
        assert_eq!(text_of(*item, "metadata"), json["metadata"].to_string());
    }

    let (status, def) = g.json("services/property_management.json").await;
    assert_eq!(status, StatusCode::OK, "{def}");
    assert_eq!(keys(&def), vec!["attributes", "service_code"]);
    let attrs = def["attributes"].as_array().unwrap();
    assert_eq!(attrs.len(), 2);
    for a in attrs {
        assert_eq!(keys(a), sorted(ATTRIBUTE), "{a}");
    }
    assert_eq!(
        attrs[0]["values"],
        json!([{"key": "light", "name": "楼道灯"}, {"key": "door", "name": "单元门"}])
    );
    assert_eq!(attrs[1]["datatype_description"], Value::Null);
    let (_, _, xml) = g.get("services/property_management.xml").await;
    let doc = xml_doc(&xml);
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "service_definition");
    assert_eq!(names(root), vec!["service_code", "attributes"]);
    let attr = children(children(root)[1])[0];
    assert_eq!(attr.tag_name().name(), "attribute");
    assert_eq!(names(attr), ATTRIBUTE);
    let values = children(attr)
        .into_iter()
        .find(|n| n.tag_name().name() == "values")
        .unwrap();
    let value = children(values)[0];
    assert_eq!(value.tag_name().name(), "value");
    assert_eq!(
        (text_of(value, "key"), text_of(value, "name")),
        ("light".into(), "楼道灯".into())
    );

    let (status, err) = g.json("services/nope.json").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(keys(&err[0]), vec!["code", "description"]);
    assert_eq!(err[0]["code"], 404);
    let (status, _, _) = g.get("services.html").await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // A request must answer the attributes: a required one missing, or a value not listed, is 400.
    let mut form = g.form("property_management", INSIDE, "楼道灯坏了");
    let (status, body) = g.post("json", &form).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body.contains("attribute[KIND]") && body.contains("attribute[FLOOR]"),
        "{body}"
    );
    form.push(("attribute[KIND]", "window".into()));
    form.push(("attribute[FLOOR]", "3".into()));
    let (status, body) = g.post("json", &form).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    form.retain(|(k, _)| *k != "attribute[KIND]");
    form.push(("attribute[KIND]", "light".into()));
    let created = g.create(&form).await;
    assert!(created["service_request_id"]
        .as_str()
        .unwrap()
        .starts_with("110105-"));
}

async fn a_request_is_worked_through_the_api_and_reads_back_closed(store: Store) {
    let g = gateway(store).await;
    let created = g
        .create(&g.form(
            "environment_sanitation",
            INSIDE,
            "垃圾桶满溢\n已经两天没人清运",
        ))
        .await;
    assert_eq!(keys(&created), sorted(CREATED));
    assert_eq!(created["account_id"], Value::Null);
    let id = created["service_request_id"].as_str().unwrap().to_owned();
    let token = created["token"].as_str().unwrap().to_owned();
    assert!(
        created["service_notice"]
            .as_str()
            .unwrap()
            .contains("+08:00"),
        "{created}"
    );

    let (status, found) = g.json(&format!("tokens/{token}.json")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(found, json!([{"service_request_id": id, "token": token}]));
    let (_, _, xml) = g.get(&format!("tokens/{token}.xml")).await;
    let doc = xml_doc(&xml);
    assert_eq!(doc.root_element().tag_name().name(), "service_requests");
    let req = children(doc.root_element())[0];
    assert_eq!(names(req), vec!["service_request_id", "token"]);
    assert_eq!(text_of(req, "service_request_id"), id);
    let (status, _) = g.json("tokens/nope.json").await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (status, open) = g.json(&format!("requests/{id}.json")).await;
    assert_eq!(status, StatusCode::OK, "{open}");
    let r = &open[0];
    assert_eq!(keys(r), sorted(REQUEST));
    assert_eq!(r["status"], "open");
    assert_eq!(r["service_code"], "environment_sanitation");
    assert_eq!(
        r["agency_responsible"], "望京西园一区社区",
        "the community holds it"
    );
    assert_eq!(
        (r["lat"].as_f64(), r["long"].as_f64()),
        (Some(INSIDE.0), Some(INSIDE.1))
    );
    assert_eq!(r["media_url"], "https://photos.example.com/1.jpg");
    for field in [
        "requested_datetime",
        "updated_datetime",
        "expected_datetime",
    ] {
        let text = r[field].as_str().unwrap();
        assert!(text.ends_with("+08:00"), "{field}: {text}");
        chrono::DateTime::parse_from_rfc3339(text).unwrap();
    }

    // Worked through /api/v1: the street sends it to the pool, the unit claims and resolves it.
    let street = g.app.login("demo-supervisor").await;
    let unit = g.app.login("demo-unit").await;
    let grid = g.app.login("demo-grid").await;
    let all = g.app.all("/api/v1/tickets", &street).await;
    let ticket = all
        .iter()
        .find(|t| t["number"] == id.as_str())
        .unwrap()
        .clone();
    let tid = ticket["id"].as_i64().unwrap();
    assert_eq!(ticket["title"], "垃圾桶满溢");
    let (_, detail) = g.app.get(&format!("/api/v1/tickets/{tid}"), &street).await;
    assert_eq!(
        detail["channel"], "city-app",
        "the ticket shows where it came from"
    );
    assert_eq!(detail["resident"]["name"], "Li Wei");
    for (path, token, body) in [
        (
            "dispatch",
            &street,
            json!({"pool": true, "note": "内部：联系人王主任 13911112222"}),
        ),
        ("claim", &unit, json!({})),
        ("resolve", &unit, json!({"note": "已清运并消毒"})),
        (
            "feedback",
            &grid,
            json!({"satisfaction": "satisfied", "comment": "李女士 13800001111 表示满意"}),
        ),
    ] {
        let (status, body) = g
            .app
            .post(&format!("/api/v1/tickets/{tid}/{path}"), token, body)
            .await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
    }

    let (_, closed) = g.json(&format!("requests/{id}.json")).await;
    let r = &closed[0];
    assert_eq!(r["status"], "closed");
    assert_eq!(
        r["status_notes"], "已清运并消毒",
        "the public resolution note, not the visit's comment nor the dispatcher's"
    );
    let (_, listed) = g.json("requests.json").await;
    let text = listed.to_string();
    assert!(
        !text.contains("13911112222") && !text.contains("13800001111"),
        "no internal note reaches Open311: {text}"
    );
    assert_eq!(
        r["agency_responsible"], "望京宜居物业服务有限公司",
        "the unit that held it"
    );
    let (_, kind, xml) = g.get(&format!("requests/{id}.xml")).await;
    assert!(kind.starts_with("text/xml"));
    let doc = xml_doc(&xml);
    let req = children(doc.root_element())[0];
    assert_eq!(req.tag_name().name(), "request");
    assert_eq!(names(req), REQUEST, "element order as in the specification");
    assert_eq!(text_of(req, "status"), "closed");
    assert_eq!(text_of(req, "status_notes"), "已清运并消毒");
    assert_eq!(text_of(req, "description"), "垃圾桶满溢\n已经两天没人清运");

    // POST in XML answers in XML.
    let (status, xml) = g
        .post("xml", &g.form("environment_sanitation", INSIDE, "又满了"))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{xml}");
    let doc = xml_doc(&xml);
    let req = children(doc.root_element())[0];
    assert_eq!(names(req), CREATED);
    assert!(
        children(req)[3].children().next().is_none(),
        "account_id is empty"
    );
}

async fn bad_requests_are_refused_in_the_specification_s_error_format_and_write_nothing(
    store: Store,
) {
    let g = gateway(store).await;
    let before = g.app.count("tickets");
    let valid = g.form("environment_sanitation", INSIDE, "路灯不亮");
    let without =
        |name: &str| -> Form { valid.iter().filter(|(k, _)| *k != name).cloned().collect() };
    let with = |name: &'static str, value: String| -> Form {
        let mut f = without(name);
        f.push((name, value));
        f
    };
    let cases: Vec<(Form, StatusCode, &str)> = vec![
        (without("api_key"), StatusCode::FORBIDDEN, "api_key"),
        (
            with("api_key", "j311_forged".into()),
            StatusCode::FORBIDDEN,
            "api_key",
        ),
        (
            with("service_code", "no_such_service".into()),
            StatusCode::NOT_FOUND,
            "service_code",
        ),
        (
            without("service_code"),
            StatusCode::BAD_REQUEST,
            "service_code",
        ),
        (
            valid
                .iter()
                .filter(|(k, _)| *k != "lat" && *k != "long")
                .cloned()
                .collect(),
            StatusCode::BAD_REQUEST,
            "location",
        ),
        (
            with("description", "a".repeat(4001)),
            StatusCode::BAD_REQUEST,
            "description",
        ),
        (with("lat", "north".into()), StatusCode::BAD_REQUEST, "lat"),
        (
            with("phone", "call me".into()),
            StatusCode::BAD_REQUEST,
            "phone",
        ),
        (
            with("jurisdiction_id", "999999".into()),
            StatusCode::BAD_REQUEST,
            "jurisdiction_id",
        ),
    ];
    for (form, expected, names_field) in cases {
        let (status, body) = g.post("json", &form).await;
        assert_eq!(status, expected, "{names_field}: {body}");
        let errors: Value = serde_json::from_str(&body).unwrap();
        let first = &errors[0];
        assert_eq!(keys(first), vec!["code", "description"], "{body}");
        assert_eq!(first["code"], expected.as_u16());
        assert!(
            errors
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["description"].as_str().unwrap().contains(names_field)),
            "{names_field}: {body}"
        );
    }
    let (status, xml) = g.post("xml", &without("api_key")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let doc = xml_doc(&xml);
    assert_eq!(doc.root_element().tag_name().name(), "errors");
    let error = children(doc.root_element())[0];
    assert_eq!(names(error), vec!["code", "description"]);
    assert_eq!(text_of(error, "code"), "403");
    let res = g
        .app
        .client
        .post(format!("{}/open311/v2/requests.json", g.app.address))
        .json(&json!({"api_key": g.key}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST, "form-encoded only");
    assert_eq!(
        g.app.count("tickets"),
        before,
        "nothing written by a refused request"
    );
    assert_eq!(g.app.count("open311_requests"), 0);

    // A revoked key stops working at once; keys are for administrators only.
    let (_, keys_list) = g.app.get("/api/v1/open311-keys", &g.admin).await;
    let key_id = keys_list[0]["id"].as_i64().unwrap();
    assert!(
        keys_list[0].get("api_key").is_none(),
        "the secret is never shown again"
    );
    let street = g.app.login("demo-supervisor").await;
    let (status, _) = g
        .app
        .post(
            &format!("/api/v1/open311-keys/{key_id}/revoke"),
            &street,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    g.create(&valid).await;
    let (status, revoked) = g
        .app
        .post(
            &format!("/api/v1/open311-keys/{key_id}/revoke"),
            &g.admin,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(revoked["revoked_at"].is_string());
    let (status, _) = g.post("json", &valid).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // The channel's account cannot sign in.
    let (status, _) = g
        .app
        .login_with("open311-city-app", "!open311-channel")
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

async fn locations_map_to_communities_by_boundary_centre_code_or_intake(store: Store) {
    let g = gateway(store).await;
    let community_of = |number: String| {
        let (app, admin) = (&g.app, g.admin.clone());
        async move {
            let all = app.all("/api/v1/tickets", &admin).await;
            let t = all.iter().find(|t| t["number"] == number.as_str()).unwrap();
            let (_, unit) = app
                .get(&format!("/api/v1/org-units/{}", t["community_id"]), &admin)
                .await;
            unit["name"].as_str().unwrap().to_owned()
        }
    };
    let id = |v: Value| v["service_request_id"].as_str().unwrap().to_owned();

    let inside = g
        .create(&g.form("environment_sanitation", INSIDE, "a"))
        .await;
    assert_eq!(
        community_of(id(inside)).await,
        "望京西园一区社区",
        "inside its boundary"
    );
    let near = g
        .create(&g.form("environment_sanitation", NEAR_HUAJIADI, "b"))
        .await;
    assert_eq!(
        community_of(id(near)).await,
        "花家地北里社区",
        "the nearest centre within 800 m"
    );
    let far = g
        .create(&g.form("environment_sanitation", (39.90, 116.30), "c"))
        .await;
    assert_eq!(
        community_of(id(far)).await,
        "和平街一社区",
        "the intake community"
    );
    let mut by_code = g.form("environment_sanitation", INSIDE, "d");
    by_code.push(("jurisdiction_id", "110105004002".into()));
    assert_eq!(
        community_of(id(g.create(&by_code).await)).await,
        "樱花园社区",
        "jurisdiction_id names a community"
    );
    let by_grid: Vec<(&str, String)> = vec![
        ("api_key", g.key.clone()),
        ("service_code", "environment_sanitation".into()),
        ("address_string", "花家地北里3号楼".into()),
        ("address_id", "110105026002G01".into()),
        ("description", "e".into()),
    ];
    assert_eq!(
        community_of(id(g.create(&by_grid).await)).await,
        "花家地北里社区",
        "address_id names a grid"
    );
}

async fn requests_filter_by_id_service_date_and_status(store: Store) {
    let g = gateway(store).await;
    let a = g
        .create(&g.form("environment_sanitation", INSIDE, "a"))
        .await["service_request_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let b = g.create(&g.form("property_management", INSIDE, "b")).await["service_request_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let ids = |v: &Value| -> BTreeSet<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|r| r["service_request_id"].as_str().unwrap().to_owned())
            .collect()
    };
    let (status, all) = g.json("requests.json").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        ids(&all),
        BTreeSet::from([a.clone(), b.clone()]),
        "only Open311 requests, last 90 days"
    );
    assert_eq!(all[0]["service_request_id"], b.as_str(), "newest first");
    let (_, one) = g
        .json(&format!("requests.json?service_request_id={a}"))
        .await;
    assert_eq!(ids(&one), BTreeSet::from([a.clone()]));
    let (_, both) = g
        .json(&format!("requests.json?service_request_id={a},{b}"))
        .await;
    assert_eq!(ids(&both).len(), 2);
    let (_, by_service) = g
        .json("requests.json?service_code=property_management")
        .await;
    assert_eq!(ids(&by_service), BTreeSet::from([b.clone()]));
    let (_, open) = g.json("requests.json?status=open").await;
    assert_eq!(ids(&open).len(), 2);
    let (_, closed) = g.json("requests.json?status=closed").await;
    assert!(ids(&closed).is_empty());
    let today = chrono::Utc::now();
    let (_, old) = g
        .json(&format!(
            "requests.json?start_date={}&end_date={}",
            (today - chrono::Duration::days(60)).format("%Y-%m-%dT%H:%M:%SZ"),
            (today - chrono::Duration::days(30)).format("%Y-%m-%dT%H:%M:%SZ")
        ))
        .await;
    assert!(ids(&old).is_empty(), "created outside the window");
    let window = format!(
        "requests.json?start_date={}&end_date={}",
        (today - chrono::Duration::days(1)).format("%Y-%m-%dT%H:%M:%SZ"),
        (today + chrono::Duration::days(1)).format("%Y-%m-%dT%H:%M:%SZ")
    );
    let (_, recent) = g.json(&window).await;
    assert_eq!(ids(&recent).len(), 2);
    let (status, err) = g
        .json("requests.json?start_date=2026-01-01T00:00:00Z&end_date=2026-06-01T00:00:00Z")
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{err}");
    assert!(err[0]["description"].as_str().unwrap().contains("90 days"));
    let (status, _) = g.json("requests.json?start_date=yesterday").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = g.json("requests.json?status=pending").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (_, _, xml) = g.get("requests.xml").await;
    let doc = xml_doc(&xml);
    assert_eq!(children(doc.root_element()).len(), 2);
    let (status, _) = g.json("requests/110105-1999-000001.json").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// What a client meets beyond the basics: the discovery document, the notice on every
/// read, a merged request pointing at the one that carries on, readable groups, CORS for
/// configured origins only, web links only as `media_url`, and what the request brought
/// shown on the ticket to those who may see it.
async fn discovery_notices_merges_groups_cors_and_request_data(store: Store) {
    let g = gateway(store).await;
    for format in ["json", "xml"] {
        let (status, _, body) = g.get(&format!("discovery.{format}")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(
            body.contains("GeoReport_v2") && body.contains("/open311/v2"),
            "{body}"
        );
    }
    let (_, doc) = g.json("discovery.json").await;
    assert_eq!(
        doc["endpoints"][0]["formats"],
        json!(["application/json", "text/xml"])
    );
    let (_, services) = g.json("services.json").await;
    let property = services
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["service_code"] == "property_management")
        .unwrap();
    assert_eq!(
        property["group"], "住房物业",
        "a readable group, not a code word"
    );

    let first = g
        .create(&g.form("environment_sanitation", INSIDE, "垃圾桶满溢"))
        .await;
    let second = g
        .create(&g.form("environment_sanitation", INSIDE, "垃圾桶满溢（重复）"))
        .await;
    let (a, b) = (
        first["service_request_id"].as_str().unwrap(),
        second["service_request_id"].as_str().unwrap(),
    );
    let (_, read) = g.json(&format!("requests/{a}.json")).await;
    assert_eq!(
        read[0]["service_notice"], first["service_notice"],
        "the notice the POST gave, on every read"
    );
    let street = g.app.login("demo-supervisor").await;
    let id_of = |number: &str| {
        let number = number.to_owned();
        let (app, street) = (&g.app, street.clone());
        async move {
            app.all("/api/v1/tickets", &street)
                .await
                .iter()
                .find(|t| t["number"] == number.as_str())
                .unwrap()["id"]
                .as_i64()
                .unwrap()
        }
    };
    let (ta, tb) = (id_of(a).await, id_of(b).await);
    let (status, body) = g
        .app
        .post(
            &format!("/api/v1/tickets/{tb}/merge"),
            &street,
            json!({"into": ta, "note": "内部备注"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, merged) = g.json(&format!("requests/{b}.json")).await;
    assert_eq!(merged[0]["status"], "closed");
    assert!(
        merged[0]["status_notes"].as_str().unwrap().contains(a),
        "points at the request that carries on: {merged}"
    );

    // What the request brought, on the ticket: the street sees the reporter, a unit
    // browsing the pool sees the answers and the photo link but not who reported it.
    let (_, detail) = g.app.get(&format!("/api/v1/tickets/{ta}"), &street).await;
    assert_eq!(detail["open311"]["channel"], "city-app");
    assert_eq!(
        detail["open311"]["media_url"],
        "https://photos.example.com/1.jpg"
    );
    assert_eq!(detail["open311"]["reporter"]["first_name"], "Li");
    g.app
        .post(
            &format!("/api/v1/tickets/{ta}/dispatch"),
            &street,
            json!({"pool": true}),
        )
        .await;
    let (status, pooled) = g
        .app
        .get(
            &format!("/api/v1/tickets/{ta}"),
            &g.app.login("demo-unit").await,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{pooled}");
    assert_eq!(
        pooled["open311"]["media_url"],
        "https://photos.example.com/1.jpg"
    );
    assert_eq!(pooled["open311"]["reporter"], Value::Null);

    // media_url: a web link of bounded length, nothing else.
    let before = g.app.count("tickets");
    for bad in [
        "javascript:alert(1)".to_owned(),
        format!("https://x.example.com/{}", "a".repeat(3000)),
    ] {
        let mut form = g.form("environment_sanitation", INSIDE, "坏链接");
        form.retain(|(k, _)| *k != "media_url");
        form.push(("media_url", bad));
        let (status, body) = g.post("json", &form).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert!(body.contains("media_url"), "{body}");
    }
    assert_eq!(g.app.count("tickets"), before);

    // No CORS unless an origin is configured.
    let res = g
        .app
        .client
        .get(format!("{}/open311/v2/services.json", g.app.address))
        .header("origin", "https://app.example.cn")
        .send()
        .await
        .unwrap();
    assert!(res.headers().get("access-control-allow-origin").is_none());
}

async fn configured_origins_may_read_open311_from_the_browser(store: Store) {
    let app = TestApp::spawn_with(store, |s| {
        s.open311.cors_allowed_origins = vec!["https://app.example.cn".into()];
    })
    .await;
    let res = app
        .client
        .get(format!("{}/open311/v2/services.json", app.address))
        .header("origin", "https://app.example.cn")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        res.headers()["access-control-allow-origin"],
        "https://app.example.cn"
    );
}

/// The resident asks for their data to be erased (PIPL): only an administrator may, with a
/// reason; the name, phone and reporter's contact go, the address is cut to the building,
/// phone numbers in the description are masked; the timeline records who and why (not
/// on Open311's public answer); a second erasure is 409. A refusal writes nothing.
async fn an_administrator_erases_a_residents_data_on_request(store: Store) {
    let g = gateway(store).await;
    let mut form = g.form(
        "environment_sanitation",
        INSIDE,
        "垃圾桶满溢，请回电13800001111",
    );
    form.push(("email", "li.wei@example.cn".into()));
    form.push(("address_string", "望京西园一区5号楼2单元501".into()));
    let created = g.create(&form).await;
    let number = created["service_request_id"].as_str().unwrap().to_owned();
    let street = g.app.login("demo-supervisor").await;
    let all = g.app.all("/api/v1/tickets", &street).await;
    let tid = all.iter().find(|t| t["number"] == number.as_str()).unwrap()["id"]
        .as_i64()
        .unwrap();
    let detail = |token: String| {
        let app = &g.app;
        async move { app.get(&format!("/api/v1/tickets/{tid}"), &token).await.1 }
    };
    let before = detail(g.admin.clone()).await;
    assert_eq!(before["resident"]["phone"], "13800001111", "{before}");
    assert_eq!(before["open311"]["reporter"]["email"], "li.wei@example.cn");
    let erase = |token: String, reason: &'static str| {
        let app = &g.app;
        async move {
            app.post(
                &format!("/api/v1/tickets/{tid}/erase-resident"),
                &token,
                json!({ "reason": reason }),
            )
            .await
        }
    };

    // Refused, writing nothing: a supervisor; a blank reason.
    let (status, body) = erase(street.clone(), "居民要求").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, body) = erase(g.admin.clone(), "  ").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["errors"][0]["field"], "reason", "{body}");
    assert_eq!(detail(g.admin.clone()).await, before);

    let (status, body) = erase(g.admin.clone(), "居民来电要求删除个人信息").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["ticket_id"], tid);
    let after = detail(g.admin.clone()).await;
    assert_eq!(
        after["resident"],
        json!({"name": null, "phone": null}),
        "{after}"
    );
    assert_eq!(after["address"], "望京西园一区5号楼");
    assert_eq!(after["description"], "垃圾桶满溢，请回电138****1111");
    let reporter = &after["open311"]["reporter"];
    for field in [
        "first_name",
        "last_name",
        "email",
        "device_id",
        "account_id",
    ] {
        assert_eq!(reporter[field], Value::Null, "{field}: {reporter}");
    }
    let last = after["events"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["kind"], "resident_erased", "{last}");
    assert_eq!(last["note"], "居民来电要求删除个人信息");
    assert_eq!(last["actor_id"], admin_id(&g).await);
    // Open311's public answer: neither the phone nor the reason.
    let (_, public) = g.json(&format!("requests/{number}.json")).await;
    let text = public.to_string();
    assert!(
        !text.contains("13800001111") && !text.contains("删除个人信息"),
        "{text}"
    );

    let (status, body) = erase(g.admin.clone(), "再次").await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let again = detail(g.admin.clone()).await;
    assert_eq!(
        again["events"].as_array().unwrap().len(),
        after["events"].as_array().unwrap().len()
    );
}

/// The signed-in administrator's account id.
async fn admin_id(g: &Gateway) -> Value {
    g.app.get("/api/v1/me", &g.admin).await.1["user"]["id"].clone()
}

crate::on_both_stores!(
    discovery_notices_merges_groups_cors_and_request_data,
    configured_origins_may_read_open311_from_the_browser,
    services_and_definitions_read_as_the_specification_shows,
    a_request_is_worked_through_the_api_and_reads_back_closed,
    bad_requests_are_refused_in_the_specification_s_error_format_and_write_nothing,
    locations_map_to_communities_by_boundary_centre_code_or_intake,
    requests_filter_by_id_service_date_and_status,
    an_administrator_erases_a_residents_data_on_request,
);
