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
    cursor: Option<String>,
    limit: Option<i64>,
}

pub async fn list(
    state: web::Data<AppState>,
    auth: Auth,
    q: ValidQuery<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = q.0;
    let page = Paging {
        cursor: q.cursor,
        limit: q.limit,
    }
    .page()?;
    let found = state
        .as_actor(auth, move |conn, _, _| {
            categories::list(conn, q.active, page)
        })
        .await?;
    Ok(HttpResponse::Ok().json(found))
}

pub async fn get(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let id = CategoryId(id.into_inner());
    let category = state
        .as_actor(auth, move |conn, _, _| categories::get(conn, id))
        .await?;
    Ok(HttpResponse::Ok().json(category))
}

pub async fn create(
    state: web::Data<AppState>,
    auth: Auth,
    body: ValidJson<NewCategory>,
) -> Result<HttpResponse, ApiError> {
    let category = state
        .as_actor(auth, move |conn, actor, now| {
            categories::create(conn, actor, &body.0, now)
        })
        .await?;
    Ok(HttpResponse::Created().json(category))
}

pub async fn update(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<i64>,
    body: ValidJson<CategoryChange>,
) -> Result<HttpResponse, ApiError> {
    let id = CategoryId(id.into_inner());
    let category = state
        .as_actor(auth, move |conn, actor, now| {
            categories::update(conn, actor, id, &body.0, now)
        })
        .await?;
    Ok(HttpResponse::Ok().json(category))
}
