//! The Open311 GeoReport v2 gateway under `/open311/v2`: every resource in JSON and XML
//! (by its `.json`/`.xml` suffix), errors as the specification's `{code, description}`
//! list, datetimes in ISO 8601 with the +08:00 offset, UTF-8 throughout.
//!
//! Each answer is built once as a list of named fields and written out in either format,
//! so the JSON keys and the XML element names cannot disagree.

use std::collections::BTreeMap;

use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use jiesu_core::open311::{self, Policy, Refusal, RequestFilter, RequestView, Submission};
use jiesu_core::CoreError;
use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};
use quick_xml::Writer;

use crate::state::{now, AppState};

/// `json` or `xml`, the suffix of every Open311 resource.
#[derive(Clone, Copy, PartialEq, Eq, utoipa::ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum Format {
    Json,
    Xml,
}

/// A field's value; `List` holds nested records under an item element name.
enum V {
    Null,
    S(String),
    F(f64),
    I(i64),
    B(bool),
    List(&'static str, Vec<Rec>),
    /// A list of plain values, each an `item` element in XML.
    Texts(&'static str, Vec<String>),
}

type Rec = Vec<(&'static str, V)>;

fn opt(v: Option<String>) -> V {
    v.map_or(V::Null, V::S)
}

fn to_json(rec: &Rec) -> serde_json::Value {
    let mut map = serde_json::Map::new();
    for (k, v) in rec {
        let value = match v {
            V::Null => serde_json::Value::Null,
            V::S(s) => s.clone().into(),
            V::F(f) => (*f).into(),
            V::I(i) => (*i).into(),
            V::B(b) => (*b).into(),
            V::List(_, items) => items.iter().map(to_json).collect(),
            V::Texts(_, items) => items.clone().into(),
        };
        map.insert((*k).to_owned(), value);
    }
    map.into()
}

fn write_rec(w: &mut Writer<Vec<u8>>, element: &str, rec: &Rec) -> std::io::Result<()> {
    w.write_event(Event::Start(BytesStart::new(element)))?;
    for (k, v) in rec {
        let text = match v {
            V::Null => {
                w.write_event(Event::Empty(BytesStart::new(*k)))?;
                continue;
            }
            V::List(item, items) => {
                w.write_event(Event::Start(BytesStart::new(*k)))?;
                for r in items {
                    write_rec(w, item, r)?;
                }
                w.write_event(Event::End(BytesEnd::new(*k)))?;
                continue;
            }
            V::Texts(item, items) => {
                w.write_event(Event::Start(BytesStart::new(*k)))?;
                for text in items {
                    w.write_event(Event::Start(BytesStart::new(*item)))?;
                    w.write_event(Event::Text(BytesText::new(text)))?;
                    w.write_event(Event::End(BytesEnd::new(*item)))?;
                }
                w.write_event(Event::End(BytesEnd::new(*k)))?;
                continue;
            }
            V::S(s) => s.clone(),
            V::F(f) => f.to_string(),
            V::I(i) => i.to_string(),
            V::B(b) => b.to_string(),
        };
        w.write_event(Event::Start(BytesStart::new(*k)))?;
        w.write_event(Event::Text(BytesText::new(&text)))?;
        w.write_event(Event::End(BytesEnd::new(*k)))?;
    }
    w.write_event(Event::End(BytesEnd::new(element)))
}

/// `list`: a JSON array of objects, or `<root><item>…</item>…</root>`. Without `item`,
/// one record: a JSON object, or `<root>…</root>`.
fn render(
    format: Format,
    status: StatusCode,
    root: &str,
    item: Option<&str>,
    recs: &[Rec],
) -> HttpResponse {
    match format {
        Format::Json => {
            let body = match item {
                Some(_) => recs.iter().map(to_json).collect(),
                None => recs.first().map(to_json).unwrap_or_default(),
            };
            HttpResponse::build(status)
                .content_type("application/json; charset=utf-8")
                .body(body.to_string())
        }
        Format::Xml => {
            let mut w = Writer::new_with_indent(Vec::new(), b' ', 2);
            let written = (|| -> std::io::Result<()> {
                w.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
                match item {
                    Some(item) => {
                        w.write_event(Event::Start(BytesStart::new(root)))?;
                        for r in recs {
                            write_rec(&mut w, item, r)?;
                        }
                        w.write_event(Event::End(BytesEnd::new(root)))?;
                    }
                    None => {
                        if let Some(r) = recs.first() {
                            write_rec(&mut w, root, r)?;
                        }
                    }
                }
                Ok(())
            })();
            if written.is_err() {
                return HttpResponse::InternalServerError().finish();
            }
            HttpResponse::build(status)
                .content_type("text/xml; charset=utf-8")
                .body(w.into_inner())
        }
    }
}

fn refusal(format: Format, r: &Refusal) -> HttpResponse {
    let mut response = refusal_body(format, r);
    response
        .extensions_mut()
        .insert(crate::problem::OwnErrorFormat);
    response
}

/// An Open311 error answer for a request path, in the format its suffix asks for (JSON
/// unless `.xml`); for checks made before the route's handler runs.
pub(crate) fn refusal_for_path(path: &str, status: u16, descriptions: Vec<String>) -> HttpResponse {
    let format = if path.ends_with(".xml") {
        Format::Xml
    } else {
        Format::Json
    };
    refusal(
        format,
        &Refusal {
            status,
            descriptions,
        },
    )
}

fn refusal_body(format: Format, r: &Refusal) -> HttpResponse {
    let status = StatusCode::from_u16(r.status).unwrap_or(StatusCode::BAD_REQUEST);
    let errors: Vec<Rec> = r
        .descriptions
        .iter()
        .map(|d| {
            vec![
                ("code", V::I(r.status.into())),
                ("description", V::S(d.clone())),
            ]
        })
        .collect();
    render(format, status, "errors", Some("error"), &errors)
}

fn format_of(ext: &str) -> Option<Format> {
    match ext {
        "json" => Some(Format::Json),
        "xml" => Some(Format::Xml),
        _ => None,
    }
}

fn unsupported() -> HttpResponse {
    refusal(
        Format::Json,
        &Refusal {
            status: 404,
            descriptions: vec!["unsupported format: use .json or .xml".into()],
        },
    )
}

async fn run<T, F>(state: &AppState, f: F) -> Result<T, Refusal>
where
    F: FnOnce(&mut jiesu_core::db::DbConnection) -> Result<T, Refusal> + Send + 'static,
    T: Send + 'static,
{
    let pool = state.pool.clone();
    web::block(move || {
        let mut conn = jiesu_core::db::get(&pool).map_err(Refusal::from)?;
        let outcome = f(&mut conn);
        if outcome.is_ok() {
            jiesu_core::db::used(&mut conn, &Ok(()));
        }
        outcome
    })
    .await
    .map_err(|_| Refusal::from(CoreError::internal("blocking task failed")))?
}

/// `run` for a read that tolerates a little lag: on a replica when one is fit
/// (`AppState::read_db`).
async fn read<T, F>(state: &AppState, f: F) -> Result<T, Refusal>
where
    F: Fn(&mut jiesu_core::db::DbConnection) -> Result<T, Refusal> + Send + Sync + 'static,
    T: Send + 'static,
{
    // A replica that went away answers 503: read again on the primary (`read_db`).
    let outcome = state.read_db(move |conn| match f(conn) {
        Err(refusal) if refusal.status == 503 => Err(CoreError::unavailable_because(
            "an Open311 read",
            refusal.descriptions.join("; "),
        )),
        outcome => Ok(outcome),
    });
    match outcome.await {
        Ok(outcome) => outcome,
        Err(crate::problem::ApiError::Core(e)) => Err(Refusal::from(e)),
        Err(_) => Err(Refusal::from(CoreError::internal("a read failed"))),
    }
}

fn policy(s: &jiesu_core::config::Open311Settings) -> Policy<'_> {
    Policy {
        intake_community: &s.intake_community,
        nearest_centre_max_metres: s.nearest_centre_max_metres,
        list_all_tickets: s.list_all_tickets,
    }
}

fn service_rec(c: &jiesu_core::categories::Category, attrs: &[open311::ServiceAttribute]) -> Rec {
    // The category's readable group (水电气热, 住房物业, …); its own name where it has none.
    let group = if c.group.is_empty() {
        c.name_zh.clone()
    } else {
        c.group.clone()
    };
    vec![
        ("service_code", V::S(c.code.clone())),
        ("service_name", V::S(c.name_zh.clone())),
        (
            "description",
            V::S(format!("{} / {}", c.name_zh, c.name_en)),
        ),
        ("metadata", V::B(!attrs.is_empty())),
        ("type", V::S("realtime".into())),
        ("keywords", V::S(format!("{}, {}", c.name_zh, c.name_en))),
        ("group", V::S(group)),
    ]
}

/// When this endpoint's interface last changed (the discovery document's `changeset`).
const CHANGESET: &str = "2026-11-27T00:00:00+08:00";

/// `GET discovery.{format}`: where this GeoReport v2 endpoint is, what it speaks, and
/// whom to ask for a key — the document the specification asks every server for.
#[utoipa::path(
    tag = "open311", security(()),
    params(("format" = Format, Path)),
    responses((status = 200, description = "The discovery document",
        content((doc::Discovery = "application/json"), (String = "text/xml"))))
)]
#[get("/discovery.{format}")]
async fn discovery(state: web::Data<AppState>, format: web::Path<String>) -> HttpResponse {
    let Some(format) = format_of(&format) else {
        return unsupported();
    };
    let settings = &state.settings;
    let endpoint = vec![
        (
            "specification",
            V::S("http://wiki.open311.org/GeoReport_v2".into()),
        ),
        (
            "url",
            V::S(format!(
                "{}/open311/v2",
                settings.server.public_url.trim_end_matches('/')
            )),
        ),
        ("changeset", V::S(CHANGESET.into())),
        (
            "type",
            V::S(
                if settings.production {
                    "production"
                } else {
                    "test"
                }
                .into(),
            ),
        ),
        (
            "formats",
            V::Texts("format", vec!["application/json".into(), "text/xml".into()]),
        ),
    ];
    let rec = vec![
        ("changeset", V::S(CHANGESET.into())),
        ("contact", V::S(settings.open311.contact.clone())),
        ("key_service", V::S(settings.open311.key_service.clone())),
        ("endpoints", V::List("endpoint", vec![endpoint])),
    ];
    render(format, StatusCode::OK, "discovery", None, &[rec])
}

/// `GET services.{format}`: every active category as a service.
#[utoipa::path(
    tag = "open311", security(()),
    params(("format" = Format, Path)),
    responses((status = 200, description = "The services",
        content((Vec<doc::Service> = "application/json"), (String = "text/xml"))))
)]
#[get("/services.{format}")]
async fn services(state: web::Data<AppState>, format: web::Path<String>) -> HttpResponse {
    let Some(format) = format_of(&format) else {
        return unsupported();
    };
    match run(&state, |conn| Ok(open311::services(conn)?)).await {
        Ok(list) => {
            let recs: Vec<Rec> = list.iter().map(|(c, a)| service_rec(c, a)).collect();
            render(format, StatusCode::OK, "services", Some("service"), &recs)
        }
        Err(r) => refusal(format, &r),
    }
}

/// `GET services/{service_code}.{format}`: the service definition (its attributes).
#[utoipa::path(
    tag = "open311", security(()),
    params(("service_code" = String, Path), ("format" = Format, Path)),
    responses((status = 200, description = "The service definition",
        content((doc::ServiceDefinition = "application/json"), (String = "text/xml"))))
)]
#[get("/services/{service_code}.{format}")]
async fn service_definition(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> HttpResponse {
    let (code, format) = path.into_inner();
    let Some(format) = format_of(&format) else {
        return unsupported();
    };
    let found = run(&state, move |conn| {
        open311::service(conn, &code)?.ok_or_else(|| Refusal {
            status: 404,
            descriptions: vec![format!("service_code {code:?} not found")],
        })
    })
    .await;
    match found {
        Ok((c, attrs)) => {
            let attributes: Vec<Rec> = attrs
                .iter()
                .map(|a| {
                    vec![
                        ("variable", V::B(a.variable)),
                        ("code", V::S(a.code.clone())),
                        (
                            "datatype",
                            V::S(
                                serde_json::to_value(a.datatype)
                                    .ok()
                                    .and_then(|v| v.as_str().map(str::to_owned))
                                    .unwrap_or_default(),
                            ),
                        ),
                        ("required", V::B(a.required)),
                        ("datatype_description", opt(a.datatype_description.clone())),
                        ("order", V::I(a.order.into())),
                        ("description", V::S(a.description.clone())),
                        (
                            "values",
                            V::List(
                                "value",
                                a.values
                                    .iter()
                                    .map(|v| {
                                        vec![
                                            ("key", V::S(v.key.clone())),
                                            ("name", V::S(v.name.clone())),
                                        ]
                                    })
                                    .collect(),
                            ),
                        ),
                    ]
                })
                .collect();
            let rec = vec![
                ("service_code", V::S(c.code)),
                ("attributes", V::List("attribute", attributes)),
            ];
            render(format, StatusCode::OK, "service_definition", None, &[rec])
        }
        Err(r) => refusal(format, &r),
    }
}

fn one(form: &BTreeMap<String, Vec<String>>, name: &str) -> Option<String> {
    form.get(name).and_then(|v| v.first()).cloned()
}

fn number(form: &BTreeMap<String, Vec<String>>, name: &str) -> Result<Option<f64>, Refusal> {
    match one(form, name).filter(|s| !s.trim().is_empty()) {
        None => Ok(None),
        Some(s) => s
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|f| f.is_finite())
            .map(Some)
            .ok_or_else(|| Refusal {
                status: 400,
                descriptions: vec![format!("{name}: not a number")],
            }),
    }
}

fn read_submission(body: &[u8]) -> Result<(Option<String>, Submission), Refusal> {
    let mut form: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut attributes: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (k, v) in form_urlencoded::parse(body) {
        if let Some(code) = k
            .strip_prefix("attribute[")
            .and_then(|c| c.strip_suffix(']'))
        {
            // `attribute[CODE][]` repeats a multi value list's code.
            let code = code.trim_end_matches("][");
            attributes
                .entry(code.to_owned())
                .or_default()
                .push(v.into_owned());
        } else {
            form.entry(k.into_owned()).or_default().push(v.into_owned());
        }
    }
    let submission = Submission {
        jurisdiction_id: one(&form, "jurisdiction_id"),
        service_code: one(&form, "service_code").unwrap_or_default(),
        lat: number(&form, "lat")?,
        long: number(&form, "long")?,
        address_string: one(&form, "address_string"),
        address_id: one(&form, "address_id"),
        email: one(&form, "email"),
        device_id: one(&form, "device_id"),
        account_id: one(&form, "account_id"),
        first_name: one(&form, "first_name"),
        last_name: one(&form, "last_name"),
        phone: one(&form, "phone"),
        description: one(&form, "description"),
        media_url: one(&form, "media_url"),
        attributes,
    };
    if submission.service_code.trim().is_empty() {
        return Err(Refusal {
            status: 400,
            descriptions: vec!["service_code: required".into()],
        });
    }
    Ok((one(&form, "api_key"), submission))
}

/// `POST requests.{format}`: form-encoded, `api_key` required; `attribute[CODE]` answers
/// the service's attributes.
#[utoipa::path(
    tag = "open311", security(()),
    params(("format" = Format, Path)),
    request_body(content = doc::NewRequest, content_type = "application/x-www-form-urlencoded"),
    responses((status = 201, description = "Logged as a ticket",
        content((Vec<doc::Created> = "application/json"), (String = "text/xml"))))
)]
#[post("/requests.{format}")]
async fn create_request(
    state: web::Data<AppState>,
    req: HttpRequest,
    format: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let Some(format) = format_of(&format) else {
        return unsupported();
    };
    let form_type = req
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if !form_type {
        return refusal(
            format,
            &Refusal {
                status: 400,
                descriptions: vec!["send the request as application/x-www-form-urlencoded".into()],
            },
        );
    }
    let (key, submission) = match read_submission(&body) {
        Ok(x) => x,
        Err(r) => return refusal(format, &r),
    };
    let Some(key) = key.filter(|k| !k.trim().is_empty()) else {
        return refusal(
            format,
            &Refusal {
                status: 403,
                descriptions: vec!["api_key: required to create a request".into()],
            },
        );
    };
    let env = state.ticket_env();
    let at = now();
    let created = run(&state, move |conn| {
        let (key_id, actor) = open311::authenticate(conn, &key).map_err(|_| Refusal {
            status: 403,
            descriptions: vec!["api_key: invalid or revoked".into()],
        })?;
        let ctx = env.at(at);
        let policy = policy(&env.settings.open311);
        open311::submit(conn, key_id, &actor, &submission, &policy, &ctx)
    })
    .await;
    match created {
        Ok(c) => {
            let rec = vec![
                ("service_request_id", V::S(c.service_request_id)),
                ("token", V::S(c.token)),
                ("service_notice", V::S(c.service_notice)),
                ("account_id", V::Null),
            ];
            render(
                format,
                StatusCode::CREATED,
                "service_requests",
                Some("request"),
                &[rec],
            )
        }
        Err(r) => refusal(format, &r),
    }
}

fn request_rec(v: RequestView) -> Rec {
    vec![
        ("service_request_id", V::S(v.service_request_id)),
        ("status", V::S(v.status.into())),
        ("status_notes", opt(v.status_notes)),
        ("service_name", V::S(v.service_name)),
        ("service_code", V::S(v.service_code)),
        ("description", V::S(v.description)),
        ("agency_responsible", V::S(v.agency_responsible)),
        ("service_notice", opt(v.service_notice)),
        ("requested_datetime", V::S(v.requested_datetime)),
        ("updated_datetime", V::S(v.updated_datetime)),
        ("expected_datetime", opt(v.expected_datetime)),
        ("address", V::S(v.address)),
        ("address_id", opt(v.address_id)),
        ("zipcode", V::Null),
        ("lat", v.lat.map_or(V::Null, V::F)),
        ("long", v.long.map_or(V::Null, V::F)),
        ("media_url", opt(v.media_url)),
    ]
}

fn date(
    q: &BTreeMap<String, String>,
    name: &str,
) -> Result<Option<chrono::NaiveDateTime>, Refusal> {
    match q.get(name).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => chrono::DateTime::parse_from_rfc3339(s)
            .map(|d| Some(d.naive_utc()))
            .map_err(|_| Refusal {
                status: 400,
                descriptions: vec![format!(
                    "{name}: not a W3C datetime such as 2026-11-22T08:00:00+08:00"
                )],
            }),
    }
}

fn list(q: &BTreeMap<String, String>, name: &str) -> Vec<String> {
    q.get(name)
        .map(|s| {
            s.split(',')
                .map(|x| x.trim().to_owned())
                .filter(|x| !x.is_empty())
                .collect()
        })
        .unwrap_or_default()
}

/// `GET requests.{format}`: the newest requests (1,000 at most) of a window of 90 days
/// at most (default: the last 90 days).
#[utoipa::path(
    tag = "open311", security(()),
    params(("format" = Format, Path), doc::RequestQuery),
    responses((status = 200, description = "Matching requests, newest first",
        content((Vec<doc::ServiceRequest> = "application/json"), (String = "text/xml"))))
)]
#[get("/requests.{format}")]
async fn requests(
    state: web::Data<AppState>,
    req: HttpRequest,
    format: web::Path<String>,
) -> HttpResponse {
    let Some(format) = format_of(&format) else {
        return unsupported();
    };
    let q: BTreeMap<String, String> = form_urlencoded::parse(req.query_string().as_bytes())
        .into_owned()
        .collect();
    let filter = (|| -> Result<RequestFilter, Refusal> {
        Ok(RequestFilter {
            ids: list(&q, "service_request_id"),
            service_codes: list(&q, "service_code"),
            from: date(&q, "start_date")?,
            to: date(&q, "end_date")?,
            statuses: list(&q, "status"),
        })
    })();
    let filter = match filter {
        Ok(f) => f,
        Err(r) => return refusal(format, &r),
    };
    let (settings, at) = (state.settings.clone(), now());
    let found = read(&state, move |conn| {
        let policy = policy(&settings.open311);
        open311::requests(conn, &filter, &policy, at)
    })
    .await;
    match found {
        Ok(list) => {
            let recs: Vec<Rec> = list.into_iter().map(request_rec).collect();
            render(
                format,
                StatusCode::OK,
                "service_requests",
                Some("request"),
                &recs,
            )
        }
        Err(r) => refusal(format, &r),
    }
}

/// `GET requests/{service_request_id}.{format}`
#[utoipa::path(
    tag = "open311", security(()),
    params(("service_request_id" = String, Path), ("format" = Format, Path)),
    responses((status = 200, description = "The request, as a list of one",
        content((Vec<doc::ServiceRequest> = "application/json"), (String = "text/xml"))))
)]
#[get("/requests/{service_request_id}.{format}")]
async fn request(state: web::Data<AppState>, path: web::Path<(String, String)>) -> HttpResponse {
    let (id, format) = path.into_inner();
    let Some(format) = format_of(&format) else {
        return unsupported();
    };
    let settings = state.settings.clone();
    let found = read(&state, move |conn| {
        let policy = policy(&settings.open311);
        open311::request(conn, &id, &policy)
    })
    .await;
    match found {
        Ok(v) => render(
            format,
            StatusCode::OK,
            "service_requests",
            Some("request"),
            &[request_rec(v)],
        ),
        Err(r) => refusal(format, &r),
    }
}

/// `GET tokens/{token}.{format}`: the request id a token became.
#[utoipa::path(
    tag = "open311", security(()),
    params(("token" = String, Path), ("format" = Format, Path)),
    responses((status = 200, description = "The request id, as a list of one",
        content((Vec<doc::TokenAnswer> = "application/json"), (String = "text/xml"))))
)]
#[get("/tokens/{token}.{format}")]
async fn token(state: web::Data<AppState>, path: web::Path<(String, String)>) -> HttpResponse {
    let (token, format) = path.into_inner();
    let Some(format) = format_of(&format) else {
        return unsupported();
    };
    let t = token.clone();
    match read(&state, move |conn| open311::token(conn, &t)).await {
        Ok(id) => {
            let rec = vec![("service_request_id", V::S(id)), ("token", V::S(token))];
            render(
                format,
                StatusCode::OK,
                "service_requests",
                Some("request"),
                &[rec],
            )
        }
        Err(r) => refusal(format, &r),
    }
}

/// The `/open311/v2` routes, registered (and documented) from the handlers.
pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(discovery)
        .service(services)
        .service(service_definition)
        .service(requests)
        .service(create_request)
        .service(request)
        .service(token);
}

/// The shapes of the JSON answers, for the API document (the XML has the same names).
pub mod doc {
    #![allow(dead_code)]
    use utoipa::{IntoParams, ToSchema};

    #[derive(ToSchema)]
    #[schema(as = open311::Service)]
    pub struct Service {
        service_code: String,
        service_name: String,
        description: String,
        /// True when the service has attributes (see its definition).
        metadata: bool,
        #[schema(example = "realtime")]
        r#type: String,
        keywords: String,
        group: String,
    }

    #[derive(ToSchema)]
    #[schema(as = open311::Endpoint)]
    pub struct Endpoint {
        specification: String,
        url: String,
        changeset: String,
        /// production or test.
        r#type: String,
        formats: Vec<String>,
    }

    #[derive(ToSchema)]
    #[schema(as = open311::Discovery)]
    pub struct Discovery {
        changeset: String,
        contact: String,
        key_service: String,
        endpoints: Vec<Endpoint>,
    }

    #[derive(ToSchema)]
    #[schema(as = open311::AttributeValue)]
    pub struct AttributeValue {
        key: String,
        name: String,
    }

    #[derive(ToSchema)]
    #[schema(as = open311::Attribute)]
    pub struct Attribute {
        variable: bool,
        code: String,
        /// string, number, datetime, text, singlevaluelist or multivaluelist.
        datatype: String,
        required: bool,
        datatype_description: Option<String>,
        order: i64,
        description: String,
        values: Vec<AttributeValue>,
    }

    #[derive(ToSchema)]
    #[schema(as = open311::ServiceDefinition)]
    pub struct ServiceDefinition {
        service_code: String,
        attributes: Vec<Attribute>,
    }

    /// The form of `POST requests`; also `attribute[CODE]=value` per attribute.
    #[derive(ToSchema)]
    #[schema(as = open311::NewRequest)]
    pub struct NewRequest {
        api_key: String,
        service_code: String,
        jurisdiction_id: Option<String>,
        lat: Option<f64>,
        long: Option<f64>,
        address_string: Option<String>,
        address_id: Option<String>,
        email: Option<String>,
        device_id: Option<String>,
        account_id: Option<String>,
        first_name: Option<String>,
        last_name: Option<String>,
        phone: Option<String>,
        /// At most 4,000 characters.
        description: Option<String>,
        media_url: Option<String>,
    }

    #[derive(ToSchema)]
    #[schema(as = open311::Created)]
    pub struct Created {
        service_request_id: String,
        token: String,
        service_notice: String,
        account_id: Option<String>,
    }

    #[derive(ToSchema)]
    #[schema(as = open311::TokenAnswer)]
    pub struct TokenAnswer {
        service_request_id: String,
        token: String,
    }

    #[derive(ToSchema)]
    #[schema(as = open311::ServiceRequest)]
    pub struct ServiceRequest {
        service_request_id: String,
        /// open or closed.
        status: String,
        status_notes: Option<String>,
        service_name: String,
        service_code: String,
        description: String,
        agency_responsible: String,
        service_notice: Option<String>,
        requested_datetime: String,
        updated_datetime: String,
        expected_datetime: Option<String>,
        address: String,
        address_id: Option<String>,
        zipcode: Option<String>,
        lat: Option<f64>,
        long: Option<f64>,
        media_url: Option<String>,
    }

    /// One entry of an Open311 error answer (a list of them).
    #[derive(ToSchema)]
    #[schema(as = open311::Error)]
    pub struct Error {
        code: u16,
        description: String,
    }

    #[derive(IntoParams)]
    #[into_params(parameter_in = Query)]
    pub struct RequestQuery {
        /// Request ids, comma-separated.
        service_request_id: Option<String>,
        /// Service codes, comma-separated.
        service_code: Option<String>,
        /// W3C datetime; with end_date at most 90 days apart.
        start_date: Option<String>,
        end_date: Option<String>,
        /// open, closed, or both comma-separated.
        status: Option<String>,
    }
}

/// CORS for browser clients of other origins reading the Open311 resources
/// (`open311.cors_allowed_origins`); none configured: no cross-origin headers at all.
pub fn cors(
    settings: &jiesu_core::config::Open311Settings,
) -> actix_web::middleware::Condition<actix_cors::Cors> {
    let origins = &settings.cors_allowed_origins;
    let mut cors = actix_cors::Cors::default()
        .allowed_methods(["GET"])
        .max_age(3600);
    for origin in origins {
        cors = if origin == "*" {
            cors.allow_any_origin()
        } else {
            cors.allowed_origin(origin)
        };
    }
    actix_web::middleware::Condition::new(!origins.is_empty(), cors)
}
