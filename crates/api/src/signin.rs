//! Signing in over HTTP (the API's `/auth/login` and the console's form): the client's
//! address, a bounded number of password checks at once, and core's three steps
//! (`jiesu_core::signin`) with no database connection held during the check.

use std::net::IpAddr;

use actix_web::HttpRequest;
use jiesu_core::config::Settings;
use jiesu_core::users::{PasswordChange, User};
use jiesu_core::Actor;

pub use crate::passwords::PasswordChecks;
use crate::problem::ApiError;
use crate::state::{now, AppState};

/// The address a request came from: the socket's peer, or — only when that peer is one of
/// `server.trusted_proxies` — the last address its `X-Forwarded-For` names that is not a
/// trusted proxy itself. A client cannot make itself someone else by sending the header.
pub fn client_address(req: &HttpRequest, settings: &Settings) -> String {
    let peer = req.peer_addr().map(|a| a.ip());
    let trusted = |ip: &IpAddr| {
        settings
            .server
            .trusted_proxies
            .iter()
            .any(|p| p.parse::<IpAddr>().is_ok_and(|t| t == *ip))
    };
    match peer {
        Some(ip) if trusted(&ip) => req
            .headers()
            .get_all("x-forwarded-for")
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|a| a.trim().parse::<IpAddr>().ok())
            .rev()
            .find(|a| !trusted(a))
            .unwrap_or(ip)
            .to_string(),
        Some(ip) => ip.to_string(),
        None => "unknown".into(),
    }
}

/// Signs `username` in from `client`: 429 while that client must wait, 503 when too many
/// checks run at once, 401 for any wrong name, password or disabled account alike.
pub async fn sign_in(
    state: &AppState,
    username: String,
    password: String,
    client: String,
) -> Result<User, ApiError> {
    let at = now();
    let (name, from) = (username.clone(), client.clone());
    let candidate = state
        .db(move |conn| jiesu_core::signin::prepare(conn, &name, &from, at))
        .await;
    let candidate = match candidate {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(username = %username, client = %client, "sign-in refused: this client must wait");
            return Err(e);
        }
    };
    let ok = state.passwords.verify(password, candidate.hash()).await?;
    let policy = state.settings.auth.clone();
    let outcome = state
        .db(move |conn| jiesu_core::signin::finish(conn, candidate, ok, now(), &policy))
        .await;
    match &outcome {
        Ok(user) => tracing::info!(user = %user.username, client = %client, "signed in"),
        Err(_) => tracing::warn!(username = %username, client = %client, "sign-in failed"),
    }
    outcome
}

/// Changes the signed-in person's password (`jiesu_core::signin::prepare_change`): the
/// current password is checked on the password threads and the new one hashed on the
/// blocking pool, neither while holding a database connection.
pub async fn change_password(
    state: &AppState,
    actor: Actor,
    change: PasswordChange,
    client: String,
) -> Result<User, ApiError> {
    let (who, asked, from) = (actor.clone(), change.clone(), client.clone());
    let hash = state
        .db(move |conn| jiesu_core::signin::prepare_change(conn, &who, &asked, &from, now()))
        .await?;
    let right = state
        .passwords
        .verify(change.current_password.clone(), hash)
        .await?;
    let new_hash = if right {
        let new = change.new_password;
        let hashed = actix_web::web::block(move || jiesu_core::users::hash_password(&new))
            .await
            .map_err(|e| {
                jiesu_core::CoreError::internal_because("hashing the new password", e)
            })??;
        Some(hashed)
    } else {
        None
    };
    let policy = state.settings.auth.clone();
    let user = actor.user_id;
    let changed = state
        .db(move |conn| {
            jiesu_core::signin::finish_change(
                conn,
                &actor,
                new_hash.as_deref(),
                &client,
                now(),
                &policy,
            )
        })
        .await;
    state.accounts.forget_account(user);
    changed
}
