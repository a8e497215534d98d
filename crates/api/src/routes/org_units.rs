use actix_web::http::StatusCode;
use actix_web::{get, patch, post};
use actix_web::{web, HttpResponse};
use jiesu_core::ids::OrgUnitId;
use jiesu_core::org::OrgUnit;
use jiesu_core::org::{self, NewOrgUnit, OrgUnitChange, OrgUnitFilter};
use jiesu_core::pagination::Page;
use jiesu_core::types::OrgKind;
use serde::Deserialize;

use super::Paging;
use crate::auth::Auth;
use crate::extract::{ValidJson, ValidQuery};
use crate::problem::ApiError;
use crate::state::AppState;

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    parent_id: Option<OrgUnitId>,
    kind: Option<OrgKind>,
}

#[utoipa::path(tag = "org", params(ListQuery, super::Paging), responses((status = 200, description = "A page of org units in your scope", body = Page<OrgUnit>)))]
#[get("/org-units")]
pub async fn list(
    state: web::Data<AppState>,
    auth: Auth,
    q: ValidQuery<ListQuery>,
    paging: ValidQuery<Paging>,
) -> Result<HttpResponse, ApiError> {
    let page = paging.0.page()?;
    let filter = OrgUnitFilter {
        parent_id: q.0.parent_id,
        kind: q.0.kind,
        ..OrgUnitFilter::default()
    };
    state
        .respond(auth, StatusCode::OK, move |conn, actor, _| {
            org::list(conn, actor, &filter, page)
        })
        .await
}

#[utoipa::path(tag = "org", responses((status = 200, description = "The org unit", body = OrgUnit)))]
#[get("/org-units/{id}")]
pub async fn get(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let id = OrgUnitId(id.into_inner());
    state
        .respond(auth, StatusCode::OK, move |conn, actor, _| {
            org::get(conn, actor, id)
        })
        .await
}

#[utoipa::path(tag = "org", request_body = NewOrgUnit, responses((status = 201, description = "Created", body = OrgUnit)))]
#[post("/org-units")]
pub async fn create(
    state: web::Data<AppState>,
    auth: Auth,
    body: ValidJson<NewOrgUnit>,
) -> Result<HttpResponse, ApiError> {
    state
        .respond(auth, StatusCode::CREATED, move |conn, actor, now| {
            org::create(conn, actor, &body.0, now)
        })
        .await
}

#[utoipa::path(tag = "org", request_body = OrgUnitChange, responses((status = 200, description = "Updated", body = OrgUnit)))]
#[patch("/org-units/{id}")]
pub async fn update(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<i64>,
    body: ValidJson<OrgUnitChange>,
) -> Result<HttpResponse, ApiError> {
    let id = OrgUnitId(id.into_inner());
    let changed = state
        .respond(auth, StatusCode::OK, move |conn, actor, _| {
            org::update(conn, actor, id, &body.0)
        })
        .await;
    // Logging and scopes here see the change at once; on other processes within a second.
    state.reference.forget_all();
    state.accounts.forget_all();
    changed
}
