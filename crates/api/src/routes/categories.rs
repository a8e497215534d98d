use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use jiesu_core::categories::{self, CategoryChange, NewCategory};
use jiesu_core::ids::CategoryId;
use serde::Deserialize;

use super::Paging;
use crate::auth::Auth;
use crate::extract::{ValidJson, ValidQuery};
use crate::problem::ApiError;
use crate::state::AppState;

#[derive(Deserialize)]
pub struct ListQuery {
    active: Option<bool>,
}

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

pub async fn update(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<i64>,
    body: ValidJson<CategoryChange>,
) -> Result<HttpResponse, ApiError> {
    let id = CategoryId(id.into_inner());
    state
        .respond(auth, StatusCode::OK, move |conn, actor, now| {
            categories::update(conn, actor, id, &body.0, now)
        })
        .await
}
