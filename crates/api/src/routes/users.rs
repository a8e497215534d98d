use actix_web::{web, HttpResponse};
use jiesu_core::ids::{OrgUnitId, PartnerId, UserId};
use jiesu_core::types::Role;
use jiesu_core::users::{self, NewUser, UserChange, UserFilter};
use serde::Deserialize;

use super::Paging;
use crate::auth::Auth;
use crate::extract::{ValidJson, ValidQuery};
use crate::problem::ApiError;
use crate::state::AppState;

#[derive(Deserialize)]
pub struct ListQuery {
    role: Option<Role>,
    org_unit_id: Option<OrgUnitId>,
    partner_id: Option<PartnerId>,
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
    let filter = UserFilter {
        role: q.role,
        org_unit_id: q.org_unit_id,
        partner_id: q.partner_id,
        active: q.active,
    };
    let found = state
        .as_actor(auth, move |conn, actor, _| {
            users::list(conn, actor, &filter, page)
        })
        .await?;
    Ok(HttpResponse::Ok().json(found))
}

pub async fn get(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let id = UserId(id.into_inner());
    let user = state
        .as_actor(auth, move |conn, actor, _| users::get(conn, actor, id))
        .await?;
    Ok(HttpResponse::Ok().json(user))
}

pub async fn create(
    state: web::Data<AppState>,
    auth: Auth,
    body: ValidJson<NewUser>,
) -> Result<HttpResponse, ApiError> {
    let user = state
        .as_actor(auth, move |conn, actor, now| {
            users::create(conn, actor, &body.0, now)
        })
        .await?;
    Ok(HttpResponse::Created().json(user))
}

pub async fn update(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<i64>,
    body: ValidJson<UserChange>,
) -> Result<HttpResponse, ApiError> {
    let id = UserId(id.into_inner());
    let user = state
        .as_actor(auth, move |conn, actor, now| {
            users::update(conn, actor, id, &body.0, now)
        })
        .await?;
    Ok(HttpResponse::Ok().json(user))
}
