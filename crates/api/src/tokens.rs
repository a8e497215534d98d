//! Bearer tokens: HS256 JWTs signed with the configured key. Only HS256 is accepted, so a
//! token signed with another algorithm or with `alg: none` is refused like a forged one.
//! The keys and the verified token, with nothing of the request: `auth` reads them from
//! requests, `state` holds the keys.

use chrono::{DateTime, Duration, Utc};
use hmac::{Hmac, Mac};
use jiesu_core::ids::UserId;
use jiesu_core::users::User;
use jiesu_core::CoreError;
use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

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
