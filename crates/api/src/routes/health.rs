use actix_web::{web, HttpResponse};

use crate::problem::ApiError;
use crate::state::AppState;

/// `GET /healthz`: the process is up.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "status": "ok" }))
}

/// `GET /readyz`: the database answers; 503 otherwise, so a load balancer stops sending.
pub async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    state.db(jiesu_core::db::ping).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "status": "ready" })))
}
