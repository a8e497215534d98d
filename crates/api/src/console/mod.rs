//! The web console (`/console`): server-rendered pages for grid members, partner units,
//! supervisors and administrators. Every page calls the same core functions as the API,
//! as the signed-in actor, so the scope rules are the API's own.
//!
//! - Sessions: the API's JWT in an HTTP-only, `SameSite=Lax` cookie (`Secure` when the
//!   public URL is https).
//! - CSRF: every form carries an HMAC of the session token under a key derived from the
//!   JWT secret; a POST without the right one is refused before anything is read or
//!   written. The sign-in form is bound the same way to a random pre-session cookie.
//! - Language: Chinese by default, English by a cookie the language link sets.
//! - Errors are HTML pages (never problem+json), with the status the API would answer.

mod account;
mod admin;
mod charts;
mod hotspots;
mod layout;
mod overview;
pub(crate) mod session;
mod text;
mod tickets;
mod today;

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};
use jiesu_core::CoreError;
use maud::{html, Markup};

pub use layout::Lang;
pub use session::Session;

use crate::problem::{status_of, ApiError, OwnErrorFormat};

/// Pages load only their own stylesheet, script and images; forms post only here; no
/// page may be framed.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; img-src 'self' data:; \
     style-src 'self'; script-src 'self'; form-action 'self'; frame-ancestors 'none'; \
     base-uri 'none'; object-src 'none'";

/// The first 200 of a list: what a page shows where a list is not paged.
pub(crate) const ALL: jiesu_core::pagination::PageRequest = jiesu_core::pagination::PageRequest {
    after: None,
    limit: 200,
};

/// An id typed into a page's query or form: `None` when left empty, else a number or an
/// error naming `field`.
pub(crate) fn optional_id(field: &str, text: Option<&str>) -> jiesu_core::CoreResult<Option<i64>> {
    match text.map(str::trim).filter(|t| !t.is_empty()) {
        None => Ok(None),
        Some(t) => t
            .parse()
            .map(Some)
            .map_err(|_| CoreError::invalid(field, "invalid", "not an id")),
    }
}

/// Every `/console` route; mounted by `Application::build`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.app_data(
        web::FormConfig::default()
            .limit(64 * 1024)
            .error_handler(|err, _| ConsoleError::BadForm(err.to_string()).into()),
    )
    .app_data(
        web::QueryConfig::default()
            .error_handler(|err, _| ConsoleError::BadForm(err.to_string()).into()),
    )
    .route("", web::get().to(home))
    .route("/", web::get().to(home))
    .route("/static/console.css", web::get().to(layout::stylesheet))
    .route("/static/console.js", web::get().to(layout::script))
    .route("/lang/{lang}", web::get().to(layout::switch_language))
    .route("/login", web::get().to(session::login_page))
    .route("/login", web::post().to(session::login))
    .route("/logout", web::post().to(session::logout))
    .route("/tickets", web::get().to(tickets::list))
    .route("/tickets/new", web::get().to(tickets::new_form))
    .route("/tickets/new", web::post().to(tickets::create))
    .route("/tickets/{id}", web::get().to(tickets::detail))
    .route("/tickets/{id}/act", web::post().to(tickets::act))
    .route(
        "/tickets/{id}/photos/{photo}",
        web::get().to(tickets::photo),
    )
    .route("/pool", web::get().to(tickets::pool))
    .route("/pool/count", web::get().to(tickets::pool_count))
    .route("/pool/{id}/claim", web::post().to(tickets::claim))
    .route("/today", web::get().to(today::page_handler))
    .route("/hotspots", web::get().to(hotspots::page_handler))
    .route("/overdue", web::get().to(overview::overdue))
    .route("/stats", web::get().to(overview::stats))
    .route("/lists", web::get().to(overview::lists))
    .route("/account", web::get().to(account::show))
    .route(
        "/account/password",
        web::post().to(account::change_password),
    )
    .route("/admin", web::get().to(admin::page_handler))
    .route("/admin/users", web::post().to(admin::create_user))
    .route(
        "/admin/users/{id}/active",
        web::post().to(admin::set_active),
    )
    .route(
        "/admin/users/{id}/password",
        web::post().to(admin::reset_password),
    )
    .route("/admin/open311-keys", web::post().to(admin::create_key))
    .route(
        "/admin/open311-keys/{id}/revoke",
        web::post().to(admin::revoke_key),
    )
    .default_service(web::to(not_found));
}

/// `/` sends people to the console.
pub async fn root() -> HttpResponse {
    see_other("/console/")
}

/// The signed-in person's first page, by role.
async fn home(session: Session) -> HttpResponse {
    use jiesu_core::types::Role;
    see_other(match session.role {
        Role::GridMember => "/console/tickets",
        Role::UnitStaff | Role::Supervisor => "/console/today",
        Role::Admin => "/console/admin",
    })
}

async fn not_found() -> ConsoleResult {
    Err(ConsoleError::Core(CoreError::NotFound("page")))
}

pub(crate) fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location))
        .finish()
}

/// Why a console request failed; each renders as an HTML page with the API's status.
#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    #[error(transparent)]
    Core(#[from] CoreError),
    /// Not signed in, or the session ended: back to the sign-in page, then to `next`.
    #[error("sign in first")]
    SignIn { next: String },
    #[error("the form's security token is missing or wrong")]
    Csrf,
    #[error("the form could not be read: {0}")]
    BadForm(String),
}

impl From<ApiError> for ConsoleError {
    fn from(e: ApiError) -> Self {
        match e {
            ApiError::Core(core) => ConsoleError::Core(core),
            other => ConsoleError::BadForm(other.to_string()),
        }
    }
}

impl ResponseError for ConsoleError {
    fn status_code(&self) -> StatusCode {
        match self {
            ConsoleError::SignIn { .. } => StatusCode::SEE_OTHER,
            ConsoleError::Csrf => StatusCode::FORBIDDEN,
            ConsoleError::BadForm(_) => StatusCode::BAD_REQUEST,
            ConsoleError::Core(e) => status_of(e),
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let ConsoleError::SignIn { next } = self {
            let target = format!(
                "/console/login?next={}",
                form_urlencoded::byte_serialize(next.as_bytes()).collect::<String>()
            );
            return see_other(&target);
        }
        if let ConsoleError::Core(CoreError::Unauthenticated(_)) = self {
            return see_other("/console/login");
        }
        let status = self.status_code();
        if status.is_server_error() {
            let place = match self {
                ConsoleError::Core(e) => e.place(),
                _ => jiesu_core::error::Place(None),
            };
            tracing::error!(error = %jiesu_core::error::chain_of(self), at = %place, "console request failed");
        }
        // The page is in both languages: an error may come before the language is known.
        let (zh, en, detail): (&str, &str, String) = match self {
            ConsoleError::Csrf => (
                "表单已失效或来源不明，操作未执行。请返回刷新页面后重试。",
                "The form has expired or did not come from this site; nothing was done. Go back, reload the page and try again.",
                String::new(),
            ),
            ConsoleError::BadForm(detail) => (
                "表单内容无法读取。",
                "The form could not be read.",
                detail.clone(),
            ),
            ConsoleError::Core(CoreError::NotFound(what)) => (
                "页面不存在，或您无权查看。",
                "This page does not exist, or it is not yours to see.",
                format!("{}不存在 · {what} not found", text::thing_name(what)),
            ),
            ConsoleError::Core(CoreError::Forbidden(why)) => {
                ("您的角色不能执行此操作。", "Your role may not do this.", (*why).to_owned())
            }
            ConsoleError::Core(e) if status.is_client_error() => (
                "请求未能完成。",
                "The request could not be completed.",
                e.to_string(),
            ),
            _ => (
                "服务暂时出错，请稍后再试。",
                "Something went wrong on our side; please try again shortly.",
                String::new(),
            ),
        };
        let page = ErrorPage {
            status,
            zh,
            en,
            detail: detail.clone(),
        };
        let body = layout::bare_page(
            &format!(
                "{} {}",
                status.as_u16(),
                status.canonical_reason().unwrap_or("")
            ),
            html! {
                main id="main" class="narrow" {
                    h1 { (status.as_u16()) " · " (zh) }
                    p lang="en" { (en) }
                    @if !detail.is_empty() { p class="muted" { (detail) } }
                    p { a href="/console/" { "返回首页 · Back to the console" } }
                }
            },
        );
        let mut response = html_response(status, body);
        response.extensions_mut().insert(page);
        response
    }
}

/// What an error page says, kept on its response: `in_layout` draws it again inside the
/// signed-in person's own page (menu, language), which the error alone cannot know.
#[derive(Debug, Clone)]
struct ErrorPage {
    status: StatusCode,
    zh: &'static str,
    en: &'static str,
    detail: String,
}

impl ErrorPage {
    fn page(&self, session: &Session, path: &str) -> Markup {
        let lang = session.lang;
        let title = format!("{} · {}", self.status.as_u16(), lang.t(self.zh, self.en));
        layout::page(
            session,
            layout::Nav::Elsewhere,
            path,
            &title,
            html! {
                @if !self.detail.is_empty() { p class="muted" { (self.detail) } }
                p { a href="/console/" { (lang.t("返回首页", "Back to the console")) } }
            },
        )
    }
}

/// The console's error pages inside the normal layout, in the page's language, for a
/// signed-in person (the menu stays); without a session the page stays bilingual.
pub async fn in_layout(
    req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody + 'static>,
) -> Result<
    actix_web::dev::ServiceResponse<
        actix_web::body::EitherBody<impl actix_web::body::MessageBody, actix_web::body::BoxBody>,
    >,
    actix_web::Error,
> {
    use actix_web::FromRequest;
    let res = next.call(req).await?;
    let error = res.response().extensions().get::<ErrorPage>().cloned();
    let Some(error) = error else {
        return Ok(res.map_into_left_body());
    };
    let (req, response) = res.into_parts();
    match Session::from_request(&req, &mut actix_web::dev::Payload::None).await {
        Ok(session) => {
            let page = error.page(&session, &here(&req));
            let mut again = html_response(error.status, page);
            for (name, value) in response.headers() {
                if !again.headers().contains_key(name) {
                    again.headers_mut().insert(name.clone(), value.clone());
                }
            }
            Ok(actix_web::dev::ServiceResponse::new(req, again).map_into_right_body())
        }
        Err(_) => Ok(actix_web::dev::ServiceResponse::new(req, response).map_into_left_body()),
    }
}

/// A page with an error status (a form shown again with its errors) stays HTML.
pub(crate) fn html_response(status: StatusCode, page: Markup) -> HttpResponse {
    let mut response = HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(page.into_string());
    response.extensions_mut().insert(OwnErrorFormat);
    response
}

/// The path and query of the request, to come back to after signing in.
pub(crate) fn here(req: &HttpRequest) -> String {
    req.uri()
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "/console/".into())
}

pub type ConsoleResult = Result<HttpResponse, ConsoleError>;
