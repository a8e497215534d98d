use actix_web::http::StatusCode;
use actix_web::{get, patch, post};
use actix_web::{web, HttpResponse};
use jiesu_core::ids::{OrgUnitId, PartnerId};
use jiesu_core::pagination::Page;
use jiesu_core::partners::Partner;
use jiesu_core::partners::{self, NewPartner, PartnerChange, PartnerFilter};
use jiesu_core::types::PartnerKind;
use serde::Deserialize;

use super::Paging;
use crate::auth::Auth;
use crate::extract::{ValidJson, ValidQuery};
use crate::problem::ApiError;
use crate::state::AppState;

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    community_id: Option<OrgUnitId>,
    category: Option<String>,
    kind: Option<PartnerKind>,
    active: Option<bool>,
    /// Only those whose name contains this text.
    q: Option<String>,
}

#[utoipa::path(tag = "partners", params(ListQuery, super::Paging), responses((status = 200, description = "A page of partner units", body = Page<Partner>)))]
#[get("/partners")]
pub async fn list(
    state: web::Data<AppState>,
    auth: Auth,
    q: ValidQuery<ListQuery>,
    paging: ValidQuery<Paging>,
) -> Result<HttpResponse, ApiError> {
    let page = paging.0.page()?;
    let ListQuery {
        community_id,
        category,
        kind,
        active,
        q,
    } = q.0;
    let filter = PartnerFilter {
        community_id,
        category,
        kind,
        active,
        q,
    };
    state
        .respond(auth, StatusCode::OK, move |conn, actor, _| {
            partners::list(conn, actor, &filter, page)
        })
        .await
}

#[utoipa::path(tag = "partners", responses((status = 200, description = "The partner unit", body = Partner)))]
#[get("/partners/{id}")]
pub async fn get(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let id = PartnerId(id.into_inner());
    state
        .respond(auth, StatusCode::OK, move |conn, actor, _| {
            partners::get(conn, actor, id)
        })
        .await
}

#[utoipa::path(tag = "partners", request_body = NewPartner, responses((status = 201, description = "Created", body = Partner)))]
#[post("/partners")]
pub async fn create(
    state: web::Data<AppState>,
    auth: Auth,
    body: ValidJson<NewPartner>,
) -> Result<HttpResponse, ApiError> {
    state
        .respond(auth, StatusCode::CREATED, move |conn, actor, now| {
            partners::create(conn, actor, &body.0, now)
        })
        .await
}

#[utoipa::path(tag = "partners", request_body = PartnerChange, responses((status = 200, description = "Updated", body = Partner)))]
#[patch("/partners/{id}")]
pub async fn update(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<i64>,
    body: ValidJson<PartnerChange>,
) -> Result<HttpResponse, ApiError> {
    let id = PartnerId(id.into_inner());
    state
        .respond(auth, StatusCode::OK, move |conn, actor, now| {
            partners::update(conn, actor, id, &body.0, now)
        })
        .await
}
