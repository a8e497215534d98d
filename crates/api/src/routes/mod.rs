//! The `/api/v1` handlers: each parses its input, calls one core function as the
//! signed-in actor, and shapes the answer. No SQL here.

pub mod categories;
pub mod health;
pub mod lists;
pub mod org_units;
pub mod partners;
pub mod stats;
pub mod tickets;
pub mod users;

use actix_web::web;
use jiesu_core::pagination::PageRequest;
use serde::Deserialize;

use crate::problem::ApiError;

/// `cursor` and `limit`, accepted by every list. Read from the same query string as a
/// list's filters (each extractor ignores the other's parameters).
#[derive(Debug, Default, Deserialize)]
pub struct Paging {
    pub cursor: Option<String>,
    pub limit: Option<i64>,
}

impl Paging {
    pub fn page(&self) -> Result<PageRequest, ApiError> {
        Ok(PageRequest::parse(self.cursor.as_deref(), self.limit)?)
    }
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/auth/login", web::post().to(crate::auth::login))
        .route("/me", web::get().to(crate::auth::me))
        .service(
            web::resource("/org-units")
                .get(org_units::list)
                .post(org_units::create),
        )
        .service(
            web::resource("/org-units/{id}")
                .get(org_units::get)
                .patch(org_units::update),
        )
        .service(
            web::resource("/partners")
                .get(partners::list)
                .post(partners::create),
        )
        .service(
            web::resource("/partners/{id}")
                .get(partners::get)
                .patch(partners::update),
        )
        .service(
            web::resource("/categories")
                .get(categories::list)
                .post(categories::create),
        )
        .service(
            web::resource("/categories/{id}")
                .get(categories::get)
                .patch(categories::update),
        )
        .service(web::resource("/users").get(users::list).post(users::create))
        .service(
            web::resource("/users/{id}")
                .get(users::get)
                .patch(users::update),
        )
        .route("/tickets.csv", web::get().to(stats::tickets_csv))
        .route("/stats", web::get().to(stats::stats))
        .route("/stats.csv", web::get().to(stats::stats_csv))
        .route("/hotspots", web::get().to(stats::hotspots))
        .route("/overdue", web::get().to(lists::overdue))
        .route("/needs.csv", web::get().to(lists::needs_csv))
        .route("/resources.csv", web::get().to(lists::resources_csv))
        .route("/projects.csv", web::get().to(lists::projects_csv))
        .service(
            web::resource("/needs")
                .get(lists::list_needs)
                .post(lists::create_need),
        )
        .service(
            web::resource("/needs/{id}")
                .get(lists::get_need)
                .patch(lists::update_need),
        )
        .route("/needs/{id}/claim", web::post().to(lists::claim_need))
        .service(
            web::resource("/resources")
                .get(lists::list_resources)
                .post(lists::create_resource),
        )
        .route("/resources/{id}", web::get().to(lists::get_resource))
        .service(
            web::resource("/projects")
                .get(lists::list_projects)
                .post(lists::create_project),
        )
        .route("/projects/{id}", web::get().to(lists::get_project))
        .route(
            "/projects/{id}/milestones/{milestone}/done",
            web::post().to(lists::milestone_done),
        )
        .route(
            "/projects/{id}/{action}",
            web::post().to(lists::move_project),
        )
        .service(
            web::resource("/tickets")
                .get(tickets::list)
                .post(tickets::create),
        )
        .route("/tickets/{id}", web::get().to(tickets::get))
        .route("/tickets/{id}/dispatch", web::post().to(tickets::dispatch))
        .route("/tickets/{id}/reassign", web::post().to(tickets::reassign))
        .route("/tickets/{id}/claim", web::post().to(tickets::claim))
        .route("/tickets/{id}/return", web::post().to(tickets::give_back))
        .route("/tickets/{id}/progress", web::post().to(tickets::progress))
        .route("/tickets/{id}/resolve", web::post().to(tickets::resolve))
        .route("/tickets/{id}/feedback", web::post().to(tickets::feedback))
        .route("/tickets/{id}/cancel", web::post().to(tickets::cancel))
        .route("/tickets/{id}/merge", web::post().to(tickets::merge))
        .route("/tickets/{id}/pause", web::post().to(tickets::pause))
        .route("/tickets/{id}/resume", web::post().to(tickets::resume))
        .route("/tickets/{id}/attachments", web::post().to(tickets::attach))
        .route(
            "/tickets/{id}/attachments/{attachment}",
            web::get().to(tickets::attachment),
        )
        .route("/pool", web::get().to(tickets::pool))
        .route("/escalations", web::get().to(tickets::escalations))
        .route("/outbox", web::get().to(tickets::outbox_status));
}
