use actix_web::{web, HttpResponse};
use jiesu_core::ids::{OrgUnitId, PartnerId};
use jiesu_core::partners::{self, NewPartner, PartnerChange, PartnerFilter};
use jiesu_core::types::PartnerKind;
use serde::Deserialize;

use super::Paging;
use crate::auth::Auth;
use crate::extract::{ValidJson, ValidQuery};
use crate::problem::ApiError;
use crate::state::AppState;

#[derive(Deserialize)]
pub struct ListQuery {
    community_id: Option<OrgUnitId>,
    category: Option<String>,
    kind: Option<PartnerKind>,
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
    let filter = PartnerFilter {
        community_id: q.community_id,
        category: q.category,
        kind: q.kind,
        active: q.active,
    };
    let found = state
        .as_actor(auth, move |conn, actor, _| {
            partners::list(conn, actor, &filter, page)
        })
        .await?;
    Ok(HttpResponse::Ok().json(found))
}

pub async fn get(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let id = PartnerId(id.into_inner());
    let partner = state
        .as_actor(auth, move |conn, actor, _| partners::get(conn, actor, id))
        .await?;
    Ok(HttpResponse::Ok().json(partner))
}

pub async fn create(
    state: web::Data<AppState>,
    auth: Auth,
    body: ValidJson<NewPartner>,
) -> Result<HttpResponse, ApiError> {
    let partner = state
        .as_actor(auth, move |conn, actor, now| {
            partners::create(conn, actor, &body.0, now)
        })
        .await?;
    Ok(HttpResponse::Created().json(partner))
}

pub async fn update(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<i64>,
    body: ValidJson<PartnerChange>,
) -> Result<HttpResponse, ApiError> {
    let id = PartnerId(id.into_inner());
    let partner = state
        .as_actor(auth, move |conn, actor, now| {
            partners::update(conn, actor, id, &body.0, now)
        })
        .await?;
    Ok(HttpResponse::Ok().json(partner))
}
