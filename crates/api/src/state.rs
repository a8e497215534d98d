//! What every handler shares: the pool, the settings and the JWT keys; and the one way a
//! handler reaches the database, on the blocking pool with the request's span.

use std::sync::Arc;

use actix_web::web;
use jiesu_core::calendar::WorkingCalendar;
use jiesu_core::config::Settings;
use jiesu_core::db::{DbConnection, Pool};
use jiesu_core::ids::TicketId;
use jiesu_core::reference::Reference;
use jiesu_core::replicas::{millis, Replicas};
use jiesu_core::tickets::attachments::{self, Attachment};
use jiesu_core::tickets::Context;
use jiesu_core::{Actor, CoreError};

use crate::problem::ApiError;
use crate::tokens::{Auth, JwtKeys};

pub struct AppState {
    pub pool: Pool,
    /// The accounts behind tokens, kept a second.
    pub accounts: crate::accounts::Accounts,
    /// The categories and the org tree, kept a second.
    pub reference: Reference,
    /// Bounds the password checks running at once (sign-in floods).
    pub passwords: crate::passwords::PasswordChecks,
    pub settings: Arc<Settings>,
    pub keys: JwtKeys,
    pub calendar: Arc<WorkingCalendar>,
    /// Where the photos are kept: the data folder or a bucket.
    pub photos: jiesu_core::photos::Photos,
    /// Read replicas (none: every read on the primary).
    pub replicas: Replicas,
    /// When each caller last wrote through this process (`reads`), for as long as a
    /// replica may lag.
    pub writes: moka::sync::Cache<u64, i64>,
}

/// What the ticket calls need besides a connection and an actor: the working calendar
/// (for deadlines) and the settings (the public URL in mails), owned so that it moves into
/// a `db` closure; `at(now)` lends them as the core's `Context`.
#[derive(Clone)]
pub struct TicketEnv {
    pub calendar: Arc<WorkingCalendar>,
    pub settings: Arc<Settings>,
    pub reference: Reference,
}

impl TicketEnv {
    pub fn at(&self, now: chrono::NaiveDateTime) -> Context<'_> {
        Context {
            now,
            calendar: &self.calendar,
            reference: &self.reference,
            public_url: &self.settings.server.public_url,
            mail_language: self.settings.mail.language,
        }
    }
}

/// The instant a request is handled at; the core takes time as an input.
pub fn now() -> chrono::NaiveDateTime {
    chrono::Utc::now().naive_utc()
}

impl AppState {
    /// The state of the app serving `req`, for extractors (handlers take `web::Data`).
    pub fn of(req: &actix_web::HttpRequest) -> Result<&web::Data<AppState>, CoreError> {
        req.app_data::<web::Data<AppState>>()
            .ok_or_else(|| CoreError::internal("app state missing"))
    }

    pub fn ticket_env(&self) -> TicketEnv {
        TicketEnv {
            calendar: self.calendar.clone(),
            settings: self.settings.clone(),
            reference: self.reference.clone(),
        }
    }

    /// Runs `f` with a pooled connection on actix's blocking pool.
    pub async fn db<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, CoreError> + Send + 'static,
        T: Send + 'static,
    {
        let pool = self.pool.clone();
        let span = tracing::Span::current();
        web::block(move || {
            let _entered = span.enter();
            jiesu_core::db::with_connection(&pool, f)
        })
        .await
        .map_err(|e| ApiError::Core(CoreError::internal_because("blocking task failed", e)))?
        .map_err(ApiError::Core)
    }

    /// Runs a read that tolerates a little lag with a pooled connection: on a replica when
    /// one is fit (`reads`), else on the primary. A read the replica fails in a way the
    /// primary may not (it went down meanwhile, cancelled the read, or the read wanted to
    /// write) is read again on the primary, so a replica's trouble fails no request.
    pub async fn read_db<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        F: Fn(&mut DbConnection) -> Result<T, CoreError> + Send + Sync + 'static,
        T: Send + 'static,
    {
        let Some(replica) = self.replicas.pick(millis(now()), crate::reads::wrote_at()) else {
            return self.db(f).await;
        };
        let primary = self.pool.clone();
        let span = tracing::Span::current();
        web::block(move || {
            let _entered = span.enter();
            replica.read(&primary, f)
        })
        .await
        .map_err(|e| ApiError::Core(CoreError::internal_because("blocking task failed", e)))?
        .map_err(ApiError::Core)
    }

    /// `read_db` with the signed-in account, read from the primary when it is not kept
    /// (a sign-out or a disabled account takes effect as on the primary, never later).
    pub async fn read_as_actor<T, F>(&self, auth: Auth, f: F) -> Result<T, ApiError>
    where
        F: Fn(&mut DbConnection, &Actor, chrono::NaiveDateTime) -> Result<T, CoreError>
            + Send
            + Sync
            + 'static,
        T: Send + 'static,
    {
        let at = now();
        let actor = match self.accounts.kept(&auth) {
            Some(actor) => actor,
            None => {
                let accounts = self.accounts.clone();
                self.db(move |conn| accounts.load(conn, &auth)).await?
            }
        };
        self.read_db(move |conn| f(conn, &actor, at)).await
    }

    /// `read_as_actor`, answered as JSON with 200.
    pub async fn read_respond<T, F>(
        &self,
        auth: Auth,
        f: F,
    ) -> Result<actix_web::HttpResponse, ApiError>
    where
        F: Fn(&mut DbConnection, &Actor, chrono::NaiveDateTime) -> Result<T, CoreError>
            + Send
            + Sync
            + 'static,
        T: serde::Serialize + Send + 'static,
    {
        let value = self.read_as_actor(auth, f).await?;
        Ok(actix_web::HttpResponse::Ok().json(value))
    }

    /// `as_actor`, answered as JSON with `status`: what most handlers are.
    pub async fn respond<T, F>(
        &self,
        auth: Auth,
        status: actix_web::http::StatusCode,
        f: F,
    ) -> Result<actix_web::HttpResponse, ApiError>
    where
        F: FnOnce(&mut DbConnection, &Actor, chrono::NaiveDateTime) -> Result<T, CoreError>
            + Send
            + 'static,
        T: serde::Serialize + Send + 'static,
    {
        let value = self.as_actor(auth, f).await?;
        Ok(actix_web::HttpResponse::build(status).json(value))
    }

    /// Like `db`, with the signed-in account (`accounts`: read at most a second before, so
    /// a disabled or re-scoped account takes effect within a second on every process, at
    /// once on this one) and the request's `now`.
    pub async fn as_actor<T, F>(&self, auth: Auth, f: F) -> Result<T, ApiError>
    where
        F: FnOnce(&mut DbConnection, &Actor, chrono::NaiveDateTime) -> Result<T, CoreError>
            + Send
            + 'static,
        T: Send + 'static,
    {
        let at = now();
        let accounts = self.accounts.clone();
        self.db(move |conn| {
            let actor = accounts.actor(conn, &auth)?;
            f(conn, &actor, at)
        })
        .await
    }

    /// Adds a photo to a ticket without holding a database connection while the photos'
    /// store (perhaps a bucket on another machine) is written: the actor's right to add
    /// it checked with one, the upload checked and the photo stored with none,
    /// then recorded (the right checked again in that transaction).
    pub async fn add_photo(
        &self,
        actor: Actor,
        ticket: TicketId,
        file_name: &str,
        bytes: Vec<u8>,
    ) -> Result<Attachment, ApiError> {
        let asking = actor.clone();
        self.db(move |conn| attachments::may_add(conn, &asking, ticket))
            .await?;
        let upload = attachments::Upload {
            file_name,
            bytes: &bytes,
        };
        let photo = attachments::Photo::of(upload, self.settings.attachments.max_bytes)?;
        self.photos.store(&photo.sha256, bytes).await?;
        let at = now();
        self.db(move |conn| attachments::record(conn, &actor, ticket, &photo, at))
            .await
    }
}
