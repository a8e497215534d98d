use actix_web::{web, HttpResponse};
use jiesu_core::ids::OrgUnitId;
use jiesu_core::org::{self, NewOrgUnit, OrgUnitChange, OrgUnitFilter};
use jiesu_core::types::OrgKind;
use serde::Deserialize;

use super::Paging;
use crate::auth::Auth;
use crate::extract::{ValidJson, ValidQuery};
use crate::problem::ApiError;
use crate::state::AppState;

#[derive(Deserialize)]
pub struct ListQuery {
    parent_id: Option<OrgUnitId>,
    kind: Option<OrgKind>,
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
    let filter = OrgUnitFilter {
        parent_id: q.parent_id,
        kind: q.kind,
    };
    let found = state
        .as_actor(auth, move |conn, actor, _| {
            org::list(conn, actor, &filter, page)
        })
        .await?;
    Ok(HttpResponse::Ok().json(found))
}

pub async fn get(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let id = OrgUnitId(id.into_inner());
    let unit = state
        .as_actor(auth, move |conn, actor, _| org::get(conn, actor, id))
        .await?;
    Ok(HttpResponse::Ok().json(unit))
}

pub async fn create(
    state: web::Data<AppState>,
    auth: Auth,
    body: ValidJson<NewOrgUnit>,
) -> Result<HttpResponse, ApiError> {
    let unit = state
        .as_actor(auth, move |conn, actor, now| {
            org::create(conn, actor, &body.0, now)
        })
        .await?;
    Ok(HttpResponse::Created().json(unit))
}

pub async fn update(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<i64>,
    body: ValidJson<OrgUnitChange>,
) -> Result<HttpResponse, ApiError> {
    let id = OrgUnitId(id.into_inner());
    let unit = state
        .as_actor(auth, move |conn, actor, _| {
            org::update(conn, actor, id, &body.0)
        })
        .await?;
    Ok(HttpResponse::Ok().json(unit))
}
