use actix_web::http::StatusCode;
use actix_web::{get, patch, post};
use actix_web::{web, HttpResponse};
use jiesu_core::categories::Category;
use jiesu_core::categories::{self, CategoryChange, NewCategory};
use jiesu_core::ids::CategoryId;
use jiesu_core::pagination::Page;
use serde::Deserialize;

use super::Paging;
use crate::auth::Auth;
use crate::extract::{ValidJson, ValidQuery};
use crate::problem::ApiError;
use crate::state::AppState;

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    active: Option<bool>,
}

#[utoipa::path(tag = "categories", params(ListQuery, super::Paging), responses((status = 200, description = "A page of categories with their SLA policies", body = Page<Category>)))]
#[get("/categories")]
pub async fn list(
    state: web::Data<AppState>,
    auth: Auth,
    q: ValidQuery<ListQuery>,
    paging: ValidQuery<Paging>,
) -> Result<HttpResponse, ApiError> {
    let page = paging.0.page()?;
    let active = q.0.active;
    state
        .respond(auth, StatusCode::OK, move |conn, _, _| {
            categories::list(conn, active, page)
        })
        .await
}

#[utoipa::path(tag = "categories", responses((status = 200, description = "The category", body = Category)))]
#[get("/categories/{id}")]
pub async fn get(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let id = CategoryId(id.into_inner());
    state
        .respond(auth, StatusCode::OK, move |conn, _, _| {
            categories::get(conn, id)
        })
        .await
}

#[utoipa::path(tag = "categories", request_body = NewCategory, responses((status = 201, description = "Created", body = Category)))]
#[post("/categories")]
pub async fn create(
    state: web::Data<AppState>,
    auth: Auth,
    body: ValidJson<NewCategory>,
) -> Result<HttpResponse, ApiError> {
    state
        .respond(auth, StatusCode::CREATED, move |conn, actor, now| {
            categories::create(conn, actor, &body.0, now)
        })
        .await
}

#[utoipa::path(tag = "categories", request_body = CategoryChange, responses((status = 200, description = "Updated", body = Category)))]
#[patch("/categories/{id}")]
pub async fn update(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<i64>,
    body: ValidJson<CategoryChange>,
) -> Result<HttpResponse, ApiError> {
    let id = CategoryId(id.into_inner());
    let changed = state
        .respond(auth, StatusCode::OK, move |conn, actor, now| {
            categories::update(conn, actor, id, &body.0, now)
        })
        .await;
    // Logging here sees the change at once; on other processes within a second.
    state.reference.forget_all();
    changed
}
