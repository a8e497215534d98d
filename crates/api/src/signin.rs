//! Signing in over HTTP (the API's `/auth/login` and the console's form): the client's
//! address, a bounded number of password checks at once, and core's three steps
//! (`jiesu_core::signin`) with no database connection held during the check.

use std::net::IpAddr;
use std::time::Duration;

use actix_web::HttpRequest;
use jiesu_core::config::Settings;
use jiesu_core::users::User;
use jiesu_core::CoreError;
use tokio::sync::Semaphore;

use crate::problem::ApiError;
use crate::state::{now, AppState};

type Check = (String, String, tokio::sync::oneshot::Sender<bool>);

/// How many password checks may run at once, and how long a caller waits for one. The
/// checks run on threads of their own, as many as may run at once: each argon2 check takes
/// ~19 MiB, and the allocator keeps what a thread used, so spreading checks over the
/// general blocking pool's many threads would grow the process by that much per thread.
pub struct PasswordChecks {
    permits: Semaphore,
    wait: Duration,
    checks: std::sync::mpsc::SyncSender<Check>,
}

impl PasswordChecks {
    pub fn new(settings: &Settings) -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let permits = match settings.auth.password_checks {
            0 => cores,
            n => n,
        };
        let (checks, queue) = std::sync::mpsc::sync_channel::<Check>(permits);
        let queue = std::sync::Arc::new(std::sync::Mutex::new(queue));
        for i in 0..permits {
            let queue = queue.clone();
            let started = std::thread::Builder::new()
                .name(format!("jiesu-password-{i}"))
                .spawn(move || {
                    // One buffer for every check this thread makes.
                    let mut memory = Vec::new();
                    loop {
                        // Ends when the state (the sender) is dropped.
                        let next = queue.lock().map(|q| q.recv());
                        let Ok(Ok((password, hash, answer))) = next else {
                            return;
                        };
                        let ok =
                            jiesu_core::users::verify_password_with(&mut memory, &password, &hash);
                        let _ = answer.send(ok);
                    }
                });
            if let Err(e) = started {
                tracing::error!(error = %e, "cannot start a password-check thread");
            }
        }
        Self {
            permits: Semaphore::new(permits),
            wait: Duration::from_millis(settings.auth.password_wait_ms),
            checks,
        }
    }

    /// Checks `password` against `hash`, at most `permits` at once; a caller that cannot
    /// get a turn within the wait gets 503 (the service is busy).
    pub async fn verify(&self, password: String, hash: String) -> Result<bool, ApiError> {
        let permit = tokio::time::timeout(self.wait, self.permits.acquire())
            .await
            .map_err(|_| busy())?
            .map_err(|_| busy())?;
        let (answer, answered) = tokio::sync::oneshot::channel();
        // Holding a permit, there is room in the queue: this never blocks.
        self.checks
            .send((password, hash, answer))
            .map_err(|_| ApiError::Core(CoreError::internal("password checks stopped")))?;
        let ok = answered
            .await
            .map_err(|_| ApiError::Core(CoreError::internal("password check lost")))?;
        drop(permit);
        Ok(ok)
    }
}

fn busy() -> ApiError {
    ApiError::Core(CoreError::unavailable(
        "too many sign-ins at once; try again in a moment",
    ))
}

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
