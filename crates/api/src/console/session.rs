//! Signing in and out, the session extractor and the CSRF check.

use actix_web::cookie::{Cookie, SameSite};
use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::{web, FromRequest, HttpRequest, HttpResponse};
use futures_util::future::LocalBoxFuture;
use jiesu_core::db::DbConnection;
use jiesu_core::users;
use jiesu_core::{Actor, CoreError, CoreResult};
use maud::html;
use serde::Deserialize;

use super::layout::{self, Lang};
use super::{html_response, see_other, ConsoleError, ConsoleResult};
use crate::problem::ApiError;
use crate::state::{now, AppState};

use crate::auth::SESSION_COOKIE;
const PRESESSION_COOKIE: &str = "jiesu_presession";

/// A signed-in person: the account loaded fresh (a disabled account is signed out at
/// once), the page language and the CSRF token its forms carry.
pub struct Session {
    pub actor: Actor,
    pub lang: Lang,
    pub csrf: String,
    token: String,
}

impl std::ops::Deref for Session {
    type Target = Actor;
    fn deref(&self) -> &Actor {
        &self.actor
    }
}

impl Session {
    /// Refuses a form whose CSRF token is not this session's.
    fn check(&self, state: &AppState, token: &str) -> Result<(), ConsoleError> {
        if state.keys.csrf_ok(&self.token, token) {
            Ok(())
        } else {
            tracing::warn!(user = %self.actor.username, "console form refused: CSRF token");
            Err(ConsoleError::Csrf)
        }
    }

    /// Runs `f` as the signed-in actor on the blocking pool, with the request's `now`.
    /// `run` for a read that tolerates a little lag: on a replica when one is fit
    /// (`AppState::read_db`).
    pub async fn read<T, F>(&self, state: &AppState, f: F) -> Result<T, ConsoleError>
    where
        F: Fn(&mut DbConnection, &Actor, chrono::NaiveDateTime) -> CoreResult<T>
            + Send
            + Sync
            + 'static,
        T: Send + 'static,
    {
        let actor = self.actor.clone();
        let at = now();
        Ok(state.read_db(move |conn| f(conn, &actor, at)).await?)
    }

    pub async fn run<T, F>(&self, state: &AppState, f: F) -> Result<T, ConsoleError>
    where
        F: FnOnce(&mut DbConnection, &Actor, chrono::NaiveDateTime) -> CoreResult<T>
            + Send
            + 'static,
        T: Send + 'static,
    {
        let actor = self.actor.clone();
        let at = now();
        Ok(state.db(move |conn| f(conn, &actor, at)).await?)
    }
}

impl FromRequest for Session {
    type Error = ConsoleError;
    type Future = LocalBoxFuture<'static, Result<Self, ConsoleError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let state = AppState::of(&req)?.clone();
            let next = if req.method() == actix_web::http::Method::GET {
                super::here(&req)
            } else {
                "/console/".to_owned()
            };
            let sign_in = || ConsoleError::SignIn { next: next.clone() };
            let token = req
                .cookie(SESSION_COOKIE)
                .map(|c| c.value().to_owned())
                .ok_or_else(sign_in)?;
            let auth = state.keys.verify(&token).map_err(|_| sign_in())?;
            let actor = match state.accounts.kept(&auth) {
                Some(actor) => actor,
                None => {
                    let accounts = state.accounts.clone();
                    state
                        .db(move |conn| accounts.load(conn, &auth))
                        .await
                        .map_err(|e| match e {
                            ApiError::Core(
                                CoreError::Unauthenticated(_) | CoreError::NotFound(_),
                            ) => sign_in(),
                            other => other.into(),
                        })?
                }
            };
            Ok(Session {
                csrf: state.keys.csrf_token(&token),
                lang: Lang::of(&req),
                actor,
                token,
            })
        })
    }
}

/// A body the console posts: read from the request, carrying the form's CSRF token.
pub trait FormBody: Sized + 'static {
    fn read(
        req: &HttpRequest,
        payload: &mut Payload,
    ) -> LocalBoxFuture<'static, Result<Self, ConsoleError>>;
    fn csrf(&self) -> &str;
}

/// A posted form whose CSRF token is the session's. Every console handler that changes
/// something takes one: a forged or stale form is refused with the 403 page before the
/// handler runs, so no handler can forget the check.
pub struct CsrfForm<T>(pub Session, pub T);

impl<T: FormBody> FromRequest for CsrfForm<T> {
    type Error = ConsoleError;
    type Future = LocalBoxFuture<'static, Result<Self, ConsoleError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let state = AppState::of(req).cloned();
        let session = Session::from_request(req, payload);
        let body = T::read(req, payload);
        Box::pin(async move {
            let state = state?;
            let session = session.await?;
            let body = body.await?;
            session.check(&state, body.csrf())?;
            Ok(CsrfForm(session, body))
        })
    }
}

/// Reads an urlencoded form under the console's `FormConfig` (its limit and its errors).
pub fn read_urlencoded<T: serde::de::DeserializeOwned + 'static>(
    req: &HttpRequest,
    payload: &mut Payload,
) -> LocalBoxFuture<'static, Result<T, ConsoleError>> {
    let form = web::Form::<T>::from_request(req, payload);
    Box::pin(async move {
        form.await
            .map(web::Form::into_inner)
            .map_err(|e| match e.as_error::<ConsoleError>() {
                Some(ConsoleError::BadForm(detail)) => ConsoleError::BadForm(detail.clone()),
                _ => ConsoleError::BadForm(e.to_string()),
            })
    })
}

/// `FormBody` for urlencoded forms whose token is their `csrf` field.
macro_rules! urlencoded_forms {
    ($($form:ty),+ $(,)?) => {
        $(
            impl $crate::console::session::FormBody for $form {
                fn read(
                    req: &actix_web::HttpRequest,
                    payload: &mut actix_web::dev::Payload,
                ) -> futures_util::future::LocalBoxFuture<
                    'static,
                    Result<Self, $crate::console::ConsoleError>,
                > {
                    $crate::console::session::read_urlencoded(req, payload)
                }
                fn csrf(&self) -> &str {
                    &self.csrf
                }
            }
        )+
    };
}
pub(crate) use urlencoded_forms;

urlencoded_forms!(TokenOnly);

fn secure(state: &AppState) -> bool {
    state.settings.server.public_url.starts_with("https://")
}

/// A cookie of ours: the whole site, not for scripts, sent on same-site navigations, and
/// only over https when the service is reached so.
pub(crate) fn cookie<'c>(state: &AppState, name: &'c str, value: String) -> Cookie<'c> {
    Cookie::build(name, value)
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(secure(state))
        .finish()
}

/// Only our own pages are followed after signing in (no open redirect).
fn safe_next(next: Option<&str>) -> &str {
    match next {
        Some(n) if n.starts_with("/console") && !n.starts_with("//") && !n.contains('\\') => n,
        _ => "/console/",
    }
}

#[derive(Deserialize)]
pub struct LoginQuery {
    next: Option<String>,
}

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    csrf: String,
    next: Option<String>,
}

fn login_form(
    state: &AppState,
    lang: Lang,
    nonce: &str,
    username: &str,
    next: &str,
    error: Option<&str>,
) -> maud::Markup {
    let t = |zh, en| lang.t(zh, en);
    layout::bare_page(
        t("登录 · 接诉即办", "Sign in · jiesu"),
        html! {
            main id="main" class="narrow" {
                h1 { (t("接诉即办 · 工作台", "jiesu console")) }
                p class="lang" { (layout::language_links(lang, "/console/login")) }
                @if let Some(error) = error {
                    div class="notice error" role="alert" { (error) }
                }
                form method="post" action="/console/login" class="stack" {
                    input type="hidden" name="csrf" value=(state.keys.csrf_token(&format!("login:{nonce}")));
                    input type="hidden" name="next" value=(next);
                    label for="username" { (t("用户名", "Username")) }
                    input id="username" name="username" type="text" autocomplete="username" required value=(username) autofocus;
                    label for="password" { (t("密码", "Password")) }
                    input id="password" name="password" type="password" autocomplete="current-password" required;
                    button type="submit" { (t("登录", "Sign in")) }
                }
            }
        },
    )
}

/// `GET /console/login`
pub async fn login_page(
    state: web::Data<AppState>,
    req: HttpRequest,
    q: web::Query<LoginQuery>,
) -> HttpResponse {
    let lang = Lang::of(&req);
    let nonce = req
        .cookie(PRESESSION_COOKIE)
        .map(|c| c.value().to_owned())
        .filter(|v| v.len() == 32)
        .unwrap_or_else(|| jiesu_core::secrets::random_secret(32));
    let page = login_form(&state, lang, &nonce, "", safe_next(q.next.as_deref()), None);
    let mut response = html_response(StatusCode::OK, page);
    let _ = response.add_cookie(&cookie(&state, PRESESSION_COOKIE, nonce));
    response
}

/// `POST /console/login`: checks the form's token, then the password (with the API's
/// throttling), and sets the session cookie.
pub async fn login(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<LoginForm>,
) -> ConsoleResult {
    let lang = Lang::of(&req);
    let form = form.into_inner();
    let nonce = req
        .cookie(PRESESSION_COOKIE)
        .map(|c| c.value().to_owned())
        .unwrap_or_default();
    if nonce.is_empty() || !state.keys.csrf_ok(&format!("login:{nonce}"), &form.csrf) {
        return Err(ConsoleError::Csrf);
    }
    let next = safe_next(form.next.as_deref()).to_owned();
    let client = crate::signin::client_address(&req, &state.settings);
    let outcome =
        crate::signin::sign_in(&state, form.username.clone(), form.password, client).await;
    let user = match outcome {
        Ok(user) => user,
        Err(ApiError::Core(e @ (CoreError::Unauthenticated(_) | CoreError::Throttled { .. }))) => {
            let message = match e {
                CoreError::Throttled { retry_after_secs } => format!(
                    "{} {retry_after_secs} s",
                    lang.t(
                        "登录失败次数过多，请稍后再试：",
                        "Too many failed sign-ins; try again in"
                    )
                ),
                _ => lang
                    .t("用户名或密码不正确。", "Wrong username or password.")
                    .to_owned(),
            };
            let page = login_form(&state, lang, &nonce, &form.username, &next, Some(&message));
            return Ok(html_response(StatusCode::UNAUTHORIZED, page));
        }
        Err(e) => return Err(e.into()),
    };
    tracing::info!(user = %user.username, "console sign-in");
    signed_in(&state, &user, now(), &next)
}

/// A redirect to `to` that sets a session cookie with a fresh token for `user`, living as
/// long as the token.
pub(crate) fn signed_in(
    state: &AppState,
    user: &users::User,
    at: chrono::NaiveDateTime,
    to: &str,
) -> ConsoleResult {
    let (token, _) = state.keys.issue(user, at.and_utc())?;
    let mut session = cookie(state, SESSION_COOKIE, token);
    session.set_max_age(actix_web::cookie::time::Duration::seconds(
        state.keys.ttl().num_seconds(),
    ));
    let mut response = see_other(to);
    let _ = response.add_cookie(&session);
    Ok(response)
}

/// A form that carries nothing but its CSRF token (sign out, claim, revoke).
#[derive(Deserialize)]
pub struct TokenOnly {
    #[serde(default)]
    pub csrf: String,
}

/// `POST /console/logout`
pub async fn logout(
    state: web::Data<AppState>,
    CsrfForm(session, _): CsrfForm<TokenOnly>,
) -> ConsoleResult {
    // The session ends on the server too: the cookie's token is refused from now on,
    // even if a copy of it was kept.
    if let Ok(auth) = state.keys.verify(&session.token) {
        crate::auth::end_session(&state, auth).await?;
    }
    let mut response = see_other("/console/login");
    let mut gone = cookie(&state, SESSION_COOKIE, String::new());
    gone.make_removal();
    let _ = response.add_cookie(&gone);
    Ok(response)
}
