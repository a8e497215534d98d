//! Bearer tokens: HS256 JWTs signed with the configured key. Only HS256 is accepted, so a
//! token signed with another algorithm or with `alg: none` is refused like a forged one.

use std::future::{ready, Ready};

use actix_web::dev::Payload;
use actix_web::http::{header, Method};
use actix_web::{get, post};
use actix_web::{web, FromRequest, HttpRequest, HttpResponse};
use chrono::{DateTime, Duration, Utc};
use hmac::{Hmac, Mac};
use jiesu_core::ids::UserId;
use jiesu_core::users::{self, PasswordChange, User};
use jiesu_core::{Actor, CoreError};
use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::extract::ValidJson;
use crate::problem::ApiError;
use crate::state::{now, AppState};

const ISSUER: &str = "jiesu";

#[derive(Debug, Serialize, Deserialize)]
pub struct Claims {
    /// The user id.
    pub sub: String,
    pub role: String,
    pub iat: i64,
    pub exp: i64,
    pub iss: String,
    /// The account's token generation at issue; a password change or reset moves it on
    /// and so ends the session. Tokens from before this claim existed count as 0.
    #[serde(default)]
    pub gen: i32,
    /// The session this token belongs to; signing out ends it (`ended_sessions`). Tokens
    /// from before this claim existed have none and end only when they expire.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub sid: String,
}

pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    ttl: Duration,
    /// Keys the console's CSRF tokens; derived from the same secret under its own label.
    csrf: Hmac<Sha256>,
}

impl JwtKeys {
    pub fn new(secret: &str, ttl_minutes: i64) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.set_required_spec_claims(&["exp", "sub", "iss"]);
        validation.leeway = 5;
        Self {
            encoding: EncodingKey::from_secret(secret.as_bytes()),
            decoding: DecodingKey::from_secret(secret.as_bytes()),
            validation,
            ttl: Duration::minutes(ttl_minutes),
            csrf: <Hmac<Sha256> as Mac>::new_from_slice(
                format!("jiesu console csrf\0{secret}").as_bytes(),
            )
            .expect("HMAC takes a key of any length"),
        }
    }

    /// How long a session lasts.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// The CSRF token of a form bound to `binding` (the session token, or the sign-in
    /// form's pre-session nonce): an HMAC, so it cannot be made without the secret.
    pub fn csrf_token(&self, binding: &str) -> String {
        use base64::Engine;
        let mut mac = self.csrf.clone();
        mac.update(binding.as_bytes());
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    }

    /// Whether `token` is the CSRF token of `binding` (compared in constant time).
    pub fn csrf_ok(&self, binding: &str, token: &str) -> bool {
        use base64::Engine;
        let Ok(tag) = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(token.trim()) else {
            return false;
        };
        let mut mac = self.csrf.clone();
        mac.update(binding.as_bytes());
        mac.verify_slice(&tag).is_ok()
    }

    pub fn issue(
        &self,
        user: &User,
        at: DateTime<Utc>,
    ) -> Result<(String, DateTime<Utc>), CoreError> {
        let expires = at + self.ttl;
        let claims = Claims {
            sub: user.id.to_string(),
            role: user.role.to_string(),
            iat: at.timestamp(),
            exp: expires.timestamp(),
            iss: ISSUER.into(),
            gen: user.token_generation,
            sid: hex::encode(rand::random::<[u8; 16]>()),
        };
        encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map(|t| (t, expires))
            .map_err(|e| CoreError::internal_because("token signing", e))
    }

    /// The account a token names and the generation it was issued under, if the token is
    /// well signed and unexpired; whether it is still a session is `Actor::for_token`'s.
    pub fn verify(&self, token: &str) -> Result<Auth, CoreError> {
        use jsonwebtoken::errors::ErrorKind;
        let data = decode::<Claims>(token, &self.decoding, &self.validation).map_err(|e| {
            CoreError::Unauthenticated(match e.kind() {
                ErrorKind::ExpiredSignature => "the token has expired; log in again",
                ErrorKind::InvalidSignature => "the token's signature is not valid",
                ErrorKind::InvalidAlgorithm => "the token's algorithm is not accepted",
                _ => "the token is not valid",
            })
        })?;
        let user_id = data
            .claims
            .sub
            .parse()
            .map(UserId)
            .map_err(|_| CoreError::Unauthenticated("the token is not valid"))?;
        Ok(Auth {
            user_id,
            generation: data.claims.gen,
            session: (!data.claims.sid.is_empty()).then_some(data.claims.sid),
            expires_at: DateTime::from_timestamp(data.claims.exp, 0)
                .unwrap_or_default()
                .naive_utc(),
        })
    }
}

/// A verified bearer token: the account it names is loaded per request (`AppState::as_actor`).
#[derive(Debug, Clone)]
pub struct Auth {
    pub user_id: UserId,
    pub generation: i32,
    /// The session it belongs to, if the token names one.
    pub session: Option<String>,
    pub expires_at: chrono::NaiveDateTime,
}

/// The console's session cookie. It carries the same token as the `Authorization` header,
/// and opens only the console and the downloads it links to (`BearerOrCookie`).
pub const SESSION_COOKIE: &str = "jiesu_session";

fn app_state(req: &HttpRequest) -> Result<&web::Data<AppState>, CoreError> {
    req.app_data::<web::Data<AppState>>()
        .ok_or_else(|| CoreError::internal("app state missing"))
}

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
            app_state(req).and_then(|state| bearer(req, state).unwrap_or(Err(SEND_BEARER)));
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
        let result = app_state(req).and_then(|state| {
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
    let username = state
        .as_actor(auth, move |conn, actor, now| {
            if let Some(sid) = &sid {
                users::end_session(conn, actor, sid, expires_at, now)?;
            }
            Ok(actor.username.clone())
        })
        .await?;
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
    let policy = state.settings.auth.clone();
    let client = crate::signin::client_address(&req, &state.settings);
    let (user, scope) = state
        .as_actor(auth, move |conn, actor, now| {
            let user = users::change_password(conn, actor, &body.0, &client, now, &policy)?;
            Ok((user, actor.scope_label()))
        })
        .await?;
    tracing::info!(user = %user.username, "password changed; other sessions ended");
    signed_in(&state, user, scope, now())
}
