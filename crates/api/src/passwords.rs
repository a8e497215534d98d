//! Password checks off the async workers: argon2 runs on a few threads of its own, with a
//! bound on how many wait, so a flood of sign-ins cannot starve the service.

use std::time::Duration;

use jiesu_core::config::Settings;
use jiesu_core::CoreError;
use tokio::sync::Semaphore;

use crate::problem::ApiError;

/// A password and its hash to check, and where the answer goes.
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
    ApiError::Core(CoreError::unavailable_service(
        "sign-in",
        "too many sign-ins at once",
        None,
    ))
}
