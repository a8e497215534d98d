//! Who is asking: the bearer token read from a request (or, on the downloads, the
//! console's cookie), signing in and out, one's own account and password. The tokens
//! themselves are `tokens`'.

use std::future::{ready, Ready};

use actix_web::dev::Payload;
use actix_web::http::{header, Method};
use actix_web::{get, post};
use actix_web::{web, FromRequest, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use jiesu_core::users::{self, PasswordChange, User};
use jiesu_core::{Actor, CoreError};
use serde::{Deserialize, Serialize};

use crate::extract::ValidJson;
use crate::problem::ApiError;
use crate::state::{now, AppState};
pub use crate::tokens::{Auth, Claims, JwtKeys};

/// The console's session cookie. It carries the same token as the `Authorization` header,
/// and opens only the console and the downloads it links to (`BearerOrCookie`).
pub const SESSION_COOKIE: &str = "jiesu_session";

/// The token of the `Authorization: Bearer` header, verified; `None` when there is no header.
fn bearer(req: &HttpRequest, state: &AppState) -> Option<Result<Auth, CoreError>> {
    let value = req.headers().get(header::AUTHORIZATION)?;
    let token = value
        .to_str()
        .ok()
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or(CoreError::Unauthenticated(
            "the Authorization header must be 'Bearer <token>'",
        ));
    Some(token.and_then(|t| state.keys.verify(t)))
}

const SEND_BEARER: CoreError =
    CoreError::Unauthenticated("send Authorization: Bearer <token> (from POST /api/v1/auth/login)");

impl FromRequest for Auth {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    /// The API takes the bearer header only; the console's cookie opens nothing here.
    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let result =
            AppState::of(req).and_then(|state| bearer(req, state).unwrap_or(Err(SEND_BEARER)));
        ready(result.map_err(ApiError::Core))
    }
}

/// A bearer token, or else the console's session cookie: only on the CSV downloads the
/// console links to, which a browser fetches without an `Authorization` header. They are
/// reads (GET) only, so a cross-site page that makes the browser send the cookie can change
/// nothing, and what it fetches it cannot read.
pub struct BearerOrCookie(pub Auth);

impl FromRequest for BearerOrCookie {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let result = AppState::of(req).and_then(|state| {
            bearer(req, state).unwrap_or_else(|| {
                let safe = matches!(*req.method(), Method::GET | Method::HEAD);
                match req.cookie(SESSION_COOKIE) {
                    Some(cookie) if safe => state.keys.verify(cookie.value()),
                    _ => Err(SEND_BEARER),
                }
            })
        });
        ready(result.map(BearerOrCookie).map_err(ApiError::Core))
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
#[schema(example = json!({"username": "demo-grid", "password": "…"}))]
pub struct LoginRequest {
    pub username: String,
    pub password: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct LoginResponse {
    pub token: String,
    #[schema(example = "Bearer")]
    pub token_type: &'static str,
    pub expires_at: DateTime<Utc>,
    pub user: User,
    #[schema(value_type = Object)]
    pub scope: serde_json::Value,
}

/// `GET /me`: the account and what it may see.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Me {
    pub user: User,
    #[schema(value_type = Object)]
    pub scope: serde_json::Value,
}

/// `POST /api/v1/auth/login`
#[utoipa::path(tag = "auth", request_body = LoginRequest, security(()), responses((status = 200, description = "A bearer token", body = LoginResponse)))]
#[post("/auth/login")]
pub async fn login(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: ValidJson<LoginRequest>,
) -> Result<HttpResponse, ApiError> {
    let LoginRequest { username, password } = body.0;
    let client = crate::signin::client_address(&req, &state.settings);
    let user = crate::signin::sign_in(&state, username, password, client).await?;
    let id = user.id;
    let scope = state
        .db(move |conn| Ok(Actor::load(conn, id)?.scope_label()))
        .await?;
    signed_in(&state, user, scope, now())
}

/// A fresh token for `user`, as `/auth/login` answers it.
fn signed_in(
    state: &AppState,
    user: User,
    scope: serde_json::Value,
    at: chrono::NaiveDateTime,
) -> Result<HttpResponse, ApiError> {
    let (token, expires_at) = state.keys.issue(&user, at.and_utc())?;
    Ok(HttpResponse::Ok().json(LoginResponse {
        token,
        token_type: "Bearer",
        expires_at,
        user,
        scope,
    }))
}

/// `POST /api/v1/auth/logout`: ends this session; its token is refused from now on (the
/// account's other sessions go on).
#[utoipa::path(tag = "auth", responses((status = 204, description = "Signed out: this token no longer works")))]
#[post("/auth/logout")]
pub async fn logout(state: web::Data<AppState>, auth: Auth) -> Result<HttpResponse, ApiError> {
    end_session(&state, auth).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Ends the session of a verified token (API sign-out, the console's too).
pub async fn end_session(state: &AppState, auth: Auth) -> Result<(), ApiError> {
    let (sid, expires_at) = (auth.session.clone(), auth.expires_at);
    let ended = sid.clone();
    let username = state
        .as_actor(auth, move |conn, actor, now| {
            if let Some(sid) = &sid {
                users::end_session(conn, actor, sid, expires_at, now)?;
            }
            Ok(actor.username.clone())
        })
        .await?;
    if let Some(sid) = &ended {
        state.accounts.forget_session(sid);
    }
    tracing::info!(user = %username, "signed out");
    Ok(())
}

/// `GET /api/v1/me`: the signed-in account and its scope.
#[utoipa::path(tag = "auth", responses((status = 200, description = "The signed-in account and its scope", body = Me)))]
#[get("/me")]
pub async fn me(state: web::Data<AppState>, auth: Auth) -> Result<HttpResponse, ApiError> {
    let (user, scope) = state
        .as_actor(auth, |conn, actor, _| {
            Ok((users::get(conn, actor, actor.user_id)?, actor.scope_label()))
        })
        .await?;
    Ok(HttpResponse::Ok().json(Me { user, scope }))
}

/// `POST /api/v1/me/password`: the signed-in person changes their password. Every other
/// session of the account ends; the answer carries a fresh token for this one.
#[utoipa::path(tag = "auth", request_body = PasswordChange, responses(
    (status = 200, description = "Changed; a fresh token, since the old one no longer works", body = LoginResponse),
))]
#[post("/me/password")]
pub async fn change_password(
    state: web::Data<AppState>,
    req: HttpRequest,
    auth: Auth,
    body: ValidJson<PasswordChange>,
) -> Result<HttpResponse, ApiError> {
    let client = crate::signin::client_address(&req, &state.settings);
    let actor = state
        .as_actor(auth, |_, actor, _| Ok(actor.clone()))
        .await?;
    let scope = actor.scope_label();
    let user = crate::signin::change_password(&state, actor, body.0, client).await?;
    tracing::info!(user = %user.username, "password changed; other sessions ended");
    signed_in(&state, user, scope, now())
}
