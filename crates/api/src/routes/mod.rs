//! The `/api/v1` handlers: each parses its input, calls one core function as the
//! signed-in actor, and shapes the answer. No SQL here.

pub mod categories;
pub mod channels;
pub mod health;
pub mod lists;
pub mod org_units;
pub mod partners;
pub mod privacy;
pub mod stats;
pub mod tickets;
pub mod users;

use actix_web::HttpResponse;
use jiesu_core::pagination::PageRequest;
use serde::Deserialize;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::problem::ApiError;

/// `cursor` and `limit`, accepted by every list. Read from the same query string as a
/// list's filters (each extractor ignores the other's parameters).
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Paging {
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// 1 to 200; default 50.
    pub limit: Option<i64>,
}

impl Paging {
    pub fn page(&self) -> Result<PageRequest, ApiError> {
        Ok(PageRequest::parse(self.cursor.as_deref(), self.limit)?)
    }
}

/// Every `/api/v1` route. Each handler carries its route and its OpenAPI description
/// together, and `utoipa_actix_web` registers both from the same item, so the document
/// cannot leave a route out or describe one that is not served.
pub fn configure(cfg: &mut ServiceConfig) {
    use crate::auth;
    cfg.service(auth::login)
        .service(auth::logout)
        .service(auth::me)
        .service(auth::change_password)
        .service(org_units::list)
        .service(org_units::create)
        .service(org_units::get)
        .service(org_units::update)
        .service(partners::list)
        .service(partners::create)
        .service(partners::get)
        .service(partners::update)
        .service(categories::list)
        .service(categories::create)
        .service(categories::get)
        .service(categories::update)
        .service(users::list)
        .service(users::create)
        .service(users::get)
        .service(users::update)
        .service(stats::tickets_csv)
        .service(stats::get_stats)
        .service(stats::stats_csv)
        .service(stats::hotspots)
        .service(stats::today)
        .service(lists::late_items)
        .service(lists::needs_csv)
        .service(lists::resources_csv)
        .service(lists::projects_csv)
        .service(lists::list_needs)
        .service(lists::create_need)
        .service(lists::get_need)
        .service(lists::update_need)
        .service(lists::claim_need)
        .service(lists::list_resources)
        .service(lists::create_resource)
        .service(lists::get_resource)
        .service(lists::list_projects)
        .service(lists::create_project)
        .service(lists::get_project)
        .service(lists::add_milestone)
        .service(lists::milestone_done)
        .service(lists::move_project)
        .service(tickets::list)
        .service(tickets::create)
        .service(tickets::get)
        .service(tickets::dispatch)
        .service(tickets::reassign)
        .service(tickets::claim)
        .service(tickets::give_back)
        .service(tickets::progress)
        .service(tickets::urge)
        .service(tickets::erase_resident)
        .service(privacy::contact_reads_csv)
        .service(privacy::list_contact_reads)
        .service(tickets::resolve)
        .service(tickets::feedback)
        .service(tickets::cancel)
        .service(tickets::merge)
        .service(tickets::pause)
        .service(tickets::resume)
        .service(tickets::attach)
        .service(tickets::attachment)
        .service(tickets::pool)
        .service(tickets::escalations)
        .service(tickets::outbox_status)
        .service(channels::list_keys)
        .service(channels::create_key)
        .service(channels::revoke_key)
        .service(channels::attributes)
        .service(channels::set_attributes)
        .service(channels::geo)
        .service(channels::set_geo);
}

/// What no route answers: 405 when the path exists under another method (each handler
/// is its own resource, guarded by its method), else 404. Both become problem+json.
pub async fn no_route(req: actix_web::HttpRequest) -> HttpResponse {
    if req.resource_map().has_resource(req.path()) {
        HttpResponse::MethodNotAllowed().finish()
    } else {
        HttpResponse::NotFound().finish()
    }
}
