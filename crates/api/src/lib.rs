//! jiesu's HTTP API on actix-web. Handlers call the core and return `ApiError`, which
//! renders every failure as RFC 9457 problem+json. `Application::build` binds the
//! listener (port 0 picks a free one, for tests) and `run_until_stopped` serves until
//! SIGTERM/SIGINT, finishing requests in flight first.

pub mod accounts;
pub mod auth;
pub mod console;
pub mod edge;
pub mod extract;
pub mod open311;
pub mod openapi;
pub mod passwords;
pub mod problem;
pub mod reads;
pub mod request_log;
pub mod routes;
pub mod signin;
pub mod state;
pub mod tokens;

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::{Server, Service};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::ErrorHandlers;
use actix_web::{web, App, HttpMessage, HttpServer};
use jiesu_core::calendar::WorkingCalendar;
use jiesu_core::config::Settings;
use jiesu_core::db::Pool;
use jiesu_core::replicas::Replicas;
use tracing_actix_web::{RequestId, TracingLogger};

use crate::auth::JwtKeys;
use crate::state::AppState;

pub struct Application {
    port: u16,
    server: Server,
    /// The replicas and the primary they are measured against, checked while serving.
    checks: Option<(Replicas, Pool)>,
}

impl Application {
    /// Binds `settings.server.bind` and prepares the server; nothing is served until
    /// `run_until_stopped`.
    pub fn build(settings: Settings, pool: Pool, replicas: Replicas) -> Result<Self, StartError> {
        let secret = settings.jwt_secret()?;
        let calendar =
            WorkingCalendar::load(&settings.calendar, &settings.config_dir.join("calendar"))?;
        let listen_error = |source| StartError::Listen {
            addr: settings.server.bind.clone(),
            source,
        };
        let listener = TcpListener::bind(&settings.server.bind).map_err(listen_error)?;
        let port = listener.local_addr().map_err(listen_error)?.port();
        let workers = settings.server.workers;
        let shutdown = settings.server.shutdown_timeout_secs;
        let photos = jiesu_core::photos::Photos::from_settings(&settings)?;
        let state = web::Data::new(AppState {
            photos,
            accounts: accounts::Accounts::default(),
            reference: Default::default(),
            passwords: signin::PasswordChecks::new(&settings),
            writes: moka::sync::CacheBuilder::new(200_000)
                .time_to_live(std::time::Duration::from_secs_f64(
                    settings.database.replica_max_lag_secs + 2.0,
                ))
                .build(),
            replicas: replicas.clone(),
            pool: pool.clone(),
            keys: JwtKeys::new(&secret, settings.auth.token_ttl_minutes),
            calendar: Arc::new(calendar),
            settings: Arc::new(settings),
        });
        // One registry for all workers; paths are labelled by their route pattern.
        let metrics = actix_web_prom::PrometheusMetricsBuilder::new("jiesu")
            .endpoint("/metrics")
            .mask_unmatched_patterns("UNMATCHED")
            .build()
            .map_err(|e| {
                StartError::Config(jiesu_core::CoreError::internal_because("metrics", e))
            })?;
        metrics
            .registry
            .register(Box::new(reads::DatabaseMetrics::new(
                pool.clone(),
                replicas.clone(),
            )))
            .map_err(|e| {
                StartError::Config(jiesu_core::CoreError::internal_because("metrics", e))
            })?;
        let document = web::Data::new(openapi::Document::new());
        let mut server = HttpServer::new(move || {
            let limit = state.settings.server.body_limit_bytes;
            App::new()
                .app_data(state.clone())
                .app_data(document.clone())
                .app_data(web::PayloadConfig::new(limit))
                .wrap(ErrorHandlers::new().default_handler(problem::to_problem))
                .wrap(actix_web::middleware::from_fn(
                    edge::refuse_control_characters,
                ))
                .wrap_fn(|req, srv| {
                    let id: Option<String> =
                        req.extensions().get::<RequestId>().map(|id| id.to_string());
                    let fut = srv.call(req);
                    async move {
                        let mut res = fut.await?;
                        if let Some(value) =
                            id.and_then(|id: String| HeaderValue::from_str(&id).ok())
                        {
                            res.headers_mut()
                                .insert(HeaderName::from_static("x-request-id"), value);
                        }
                        Ok(res)
                    }
                })
                .wrap(metrics.clone())
                .wrap(actix_web::middleware::from_fn(edge::gate))
                .wrap(
                    actix_web::middleware::DefaultHeaders::new()
                        .add(("x-content-type-options", "nosniff")),
                )
                .wrap(actix_web::middleware::from_fn(reads::route))
                .wrap(TracingLogger::<request_log::PrivateRootSpan>::new())
                .route("/healthz", web::get().to(routes::health::healthz))
                .route("/readyz", web::get().to(routes::health::readyz))
                .service(
                    web::scope("/api/v1")
                        .configure(|cfg| {
                            routes::configure(
                                &mut utoipa_actix_web::service_config::ServiceConfig::new(cfg),
                            )
                        })
                        .service(openapi::openapi_json),
                )
                .route("/", web::get().to(console::root))
                .service(
                    web::scope("/console")
                        .wrap(actix_web::middleware::from_fn(console::in_layout))
                        .wrap(
                            actix_web::middleware::DefaultHeaders::new()
                                .add(("content-security-policy", console::CONTENT_SECURITY_POLICY))
                                .add(("x-frame-options", "DENY"))
                                .add(("referrer-policy", "same-origin")),
                        )
                        .configure(console::configure),
                )
                .service(
                    web::scope("/open311/v2")
                        .wrap(open311::cors(&state.settings.open311))
                        .configure(|cfg| {
                            open311::configure(
                                &mut utoipa_actix_web::service_config::ServiceConfig::new(cfg),
                            )
                        }),
                )
                .default_service(web::to(routes::no_route))
        })
        .shutdown_timeout(shutdown)
        .client_request_timeout(Duration::from_secs(30));
        if workers > 0 {
            server = server.workers(workers);
        }
        let server = server
            .listen(listener)
            .map_err(|source| StartError::Listen {
                addr: format!("port {port}"),
                source,
            })?
            .run();
        Ok(Self {
            port,
            server,
            checks: (!replicas.is_empty()).then_some((replicas, pool)),
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let checks = self.checks.map(|(replicas, pool)| {
            actix_web::rt::spawn(async move {
                let mut every = actix_web::rt::time::interval(jiesu_core::replicas::CHECK_EVERY);
                every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    every.tick().await;
                    let (replicas, pool) = (replicas.clone(), pool.clone());
                    let at = jiesu_core::replicas::millis(state::now());
                    let _ = web::block(move || replicas.check(&pool, at)).await;
                }
            })
        });
        let served = self.server.await;
        if let Some(task) = checks {
            task.abort();
        }
        served
    }
}

/// Why the server could not start; each says what the operator should look at.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] jiesu_core::CoreError),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: String,
        source: std::io::Error,
    },
}
