//! The OpenAPI 3.1 document of `/api/v1`, generated from the handlers themselves: each
//! handler's `#[utoipa::path]` sits on the same item that `routes::configure` registers,
//! and the request and response types derive their schemas. What is added here is what
//! every operation shares: the bearer scheme and the problem+json error responses.

use actix_web::{get, web, App, HttpResponse};
use utoipa::openapi::path::{HttpMethod, Operation};
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{Content, OpenApi as Document_, Ref, RefOr};
use utoipa::OpenApi;
use utoipa_actix_web::AppExt;

use crate::problem::PROBLEM_JSON;

/// The document, rendered once at start-up.
pub struct Document {
    pub json: String,
}

impl Document {
    pub fn new() -> Self {
        Self {
            json: document().to_pretty_json().unwrap_or_default(),
        }
    }
}

impl Default for Document {
    fn default() -> Self {
        Self::new()
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "jiesu 接诉即办",
        description = "Resident-needs tickets, dispatch to partner units, SLA deadlines and escalation.\n\n\
            Sign in with `POST /api/v1/auth/login` and send the token as `Authorization: Bearer <token>`. \
            Every error is `application/problem+json`; invalid input names each field in `errors`. \
            Outside your scope a resource does not exist (404). Lists are cursor-paged: pass the \
            `next_cursor` of one page as `cursor` for the next.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    tags(
        (name = "auth", description = "Sign-in and the current account"),
        (name = "org", description = "The org tree: city, district, street, community, grid"),
        (name = "partners", description = "Partner units (共建单位) and whom they serve"),
        (name = "categories", description = "Categories and their SLA policies"),
        (name = "users", description = "Accounts"),
        (name = "tickets", description = "Tickets (工单): logging, the lifecycle and photos"),
        (name = "escalation", description = "Escalated tickets and the mail outbox"),
        (name = "lists", description = "The needs, resources and projects lists"),
        (name = "stats", description = "Rates, hotspots and the day's figures"),
        (name = "exports", description = "CSV downloads (UTF-8 with BOM)"),
        (name = "open311", description = "Open311 GeoReport v2 (`/open311/v2`), its channels, service attributes and community places"),
        (name = "meta", description = "This document"),
    ),
    components(schemas(
        crate::problem::Problem,
        jiesu_core::FieldError,
        crate::routes::lists::ProjectVerb,
        crate::open311::doc::Error,
        crate::open311::doc::AttributeValue,
        crate::open311::Format
    )),
)]
struct ApiDoc;

/// Status codes an operation may answer with besides its success, and why.
const ALWAYS: &[(&str, &str)] = &[
    ("400", "The body or query string could not be read"),
    ("401", "No valid bearer token, or the account is disabled"),
    ("403", "Your role may not do this"),
    ("404", "No such resource in your scope"),
    ("422", "Invalid input; `errors` names each field"),
    ("500", "An internal error; logged with the request's id"),
    (
        "503",
        "The database, the photos' store or the password checks are busy or unreachable; retry after `Retry-After`",
    ),
];
const WRITES: &[(&str, &str)] = &[
    (
        "409",
        "The resource changed state first; `current` shows it as it is",
    ),
    ("413", "The body is larger than the configured limit"),
    ("415", "The body is not of the documented content type"),
];

fn problem(description: &str) -> Response {
    ResponseBuilder::new()
        .description(description)
        .content(
            PROBLEM_JSON,
            Content::new(Some(RefOr::Ref(Ref::from_schema_name("Problem")))),
        )
        .build()
}

fn add_errors(method: &HttpMethod, op: &mut Operation) {
    let writes = matches!(
        method,
        HttpMethod::Post | HttpMethod::Patch | HttpMethod::Put | HttpMethod::Delete
    );
    let extra: &[(&str, &str)] = if writes { WRITES } else { &[] };
    for (code, why) in ALWAYS.iter().chain(extra) {
        op.responses
            .responses
            .entry((*code).to_owned())
            .or_insert_with(|| RefOr::T(problem(why)));
    }
    if op.operation_id.as_deref() == Some("login") {
        op.responses.responses.insert(
            "429".into(),
            RefOr::T(problem(
                "Too many failed sign-ins; wait `retry_after_secs` (also in `Retry-After`)",
            )),
        );
    }
}

/// Open311 answers errors in its own format: a list of `{code, description}`.
fn add_open311_errors(op: &mut Operation) {
    for (code, why) in [
        (
            "400",
            "A required field is missing or invalid; each problem is one entry",
        ),
        ("403", "A missing, invalid or revoked api_key"),
        (
            "404",
            "No such service, request or token, or an unsupported format",
        ),
        ("500", "An internal error"),
        ("503", "The service is unavailable; retry"),
    ] {
        let list = RefOr::T(utoipa::openapi::schema::Schema::Array(
            utoipa::openapi::schema::ArrayBuilder::new()
                .items(RefOr::Ref(Ref::from_schema_name("open311.Error")))
                .build(),
        ));
        let response = ResponseBuilder::new()
            .description(why)
            .content("application/json", Content::new(Some(list)))
            .content(
                "text/xml",
                Content::new(Some(RefOr::T(utoipa::openapi::schema::Schema::Object(
                    utoipa::openapi::schema::ObjectBuilder::new()
                        .schema_type(utoipa::openapi::schema::Type::String)
                        .build(),
                )))),
            )
            .build();
        op.responses
            .responses
            .entry(code.to_owned())
            .or_insert(RefOr::T(response));
    }
}

/// The whole document: the handlers' paths (collected the way they are registered)
/// merged into the shared parts above.
pub fn document() -> Document_ {
    let (_, paths) = App::new()
        .into_utoipa_app()
        .service(
            utoipa_actix_web::scope("/api/v1")
                .configure(crate::routes::configure)
                .service(openapi_json),
        )
        .service(utoipa_actix_web::scope("/open311/v2").configure(crate::open311::configure))
        .split_for_parts();
    let mut doc = ApiDoc::openapi();
    doc.merge(paths);
    let components = doc.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        "bearer",
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .bearer_format("JWT")
                .description(Some("The `token` of `POST /api/v1/auth/login`"))
                .build(),
        ),
    );
    doc.security = Some(vec![utoipa::openapi::security::SecurityRequirement::new(
        "bearer",
        Vec::<String>::new(),
    )]);
    for (path, item) in doc.paths.paths.iter_mut() {
        let open311 = path.starts_with("/open311/");
        let ops = [
            (HttpMethod::Get, &mut item.get),
            (HttpMethod::Post, &mut item.post),
            (HttpMethod::Put, &mut item.put),
            (HttpMethod::Patch, &mut item.patch),
            (HttpMethod::Delete, &mut item.delete),
        ];
        for (method, op) in ops {
            if let Some(op) = op {
                if open311 {
                    add_open311_errors(op);
                } else {
                    add_errors(&method, op);
                }
                // Handlers are named per module (`list`, `get`); the tag makes the id unique.
                let tag = op.tags.as_ref().and_then(|t| t.first()).cloned();
                if let (Some(tag), Some(id)) = (tag, op.operation_id.as_mut()) {
                    *id = format!("{tag}_{id}");
                }
            }
        }
    }
    doc
}

/// This document, generated from the handlers and the types they read and return.
#[utoipa::path(
    tag = "meta",
    security(()),
    responses((status = 200, description = "The OpenAPI 3.1 document of `/api/v1`", content_type = "application/json", body = Object))
)]
#[get("/openapi.json")]
pub async fn openapi_json(doc: web::Data<Document>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(doc.json.clone())
}
