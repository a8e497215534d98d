//! What the Open311 gateway needs configured: channel keys, the attributes (extra
//! questions) of categories, and where communities are.

use actix_web::http::StatusCode;
use actix_web::{get, post, put};
use actix_web::{web, HttpResponse};
use jiesu_core::ids::{CategoryId, OrgUnitId};
use jiesu_core::open311::{self, AttributeList, Geo, IssuedKey, Key, NewKey, ServiceAttribute};

use crate::auth::Auth;
use crate::extract::ValidJson;
use crate::problem::ApiError;
use crate::state::AppState;

/// `GET /open311-keys`: the channels and their keys (never the secrets).
#[utoipa::path(tag = "open311", responses((status = 200, description = "Every key, revoked ones too", body = Vec<Key>)))]
#[get("/open311-keys")]
pub async fn list_keys(state: web::Data<AppState>, auth: Auth) -> Result<HttpResponse, ApiError> {
    state
        .respond(auth, StatusCode::OK, |conn, actor, _| {
            open311::list_keys(conn, actor)
        })
        .await
}

/// `POST /open311-keys`: a channel and its key; `api_key` is shown this once.
#[utoipa::path(tag = "open311", request_body = NewKey, responses((status = 201, description = "Created", body = IssuedKey)))]
#[post("/open311-keys")]
pub async fn create_key(
    state: web::Data<AppState>,
    auth: Auth,
    body: ValidJson<NewKey>,
) -> Result<HttpResponse, ApiError> {
    state
        .respond(auth, StatusCode::CREATED, move |conn, actor, now| {
            open311::create_key(conn, actor, &body.0, now)
        })
        .await
}

/// `POST /open311-keys/{id}/revoke`: the key stops working at once.
#[utoipa::path(tag = "open311", responses((status = 200, description = "Revoked", body = Key)))]
#[post("/open311-keys/{id}/revoke")]
pub async fn revoke_key(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    state
        .respond(auth, StatusCode::OK, move |conn, actor, now| {
            open311::revoke_key(conn, actor, id, now)
        })
        .await
}

/// `GET /categories/{id}/attributes`: the category's extra questions.
#[utoipa::path(tag = "open311", responses((status = 200, description = "The attributes, by order", body = Vec<ServiceAttribute>)))]
#[get("/categories/{id}/attributes")]
pub async fn attributes(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let id = CategoryId(id.into_inner());
    state
        .respond(auth, StatusCode::OK, move |conn, _, _| {
            jiesu_core::categories::get(conn, id)?;
            Ok(open311::attributes_of(conn, &[id])?
                .remove(&id)
                .unwrap_or_default())
        })
        .await
}

/// `PUT /categories/{id}/attributes`: replaces them (administrators).
#[utoipa::path(tag = "open311", request_body = AttributeList, responses((status = 200, description = "The attributes now", body = Vec<ServiceAttribute>)))]
#[put("/categories/{id}/attributes")]
pub async fn set_attributes(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<i64>,
    body: ValidJson<AttributeList>,
) -> Result<HttpResponse, ApiError> {
    let id = CategoryId(id.into_inner());
    state
        .respond(auth, StatusCode::OK, move |conn, actor, _| {
            open311::set_attributes(conn, actor, id, &body.0)
        })
        .await
}

/// `GET /org-units/{id}/geo`: where a community is.
#[utoipa::path(tag = "open311", responses((status = 200, description = "Its centre and boundary", body = Geo)))]
#[get("/org-units/{id}/geo")]
pub async fn geo(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let id = OrgUnitId(id.into_inner());
    state
        .respond(auth, StatusCode::OK, move |conn, actor, _| {
            open311::geo_of(conn, actor, id)
        })
        .await
}

/// `PUT /org-units/{id}/geo`: sets a community's centre and/or boundary (administrators).
#[utoipa::path(tag = "open311", request_body = Geo, responses((status = 200, description = "Its place now", body = Geo)))]
#[put("/org-units/{id}/geo")]
pub async fn set_geo(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<i64>,
    body: ValidJson<Geo>,
) -> Result<HttpResponse, ApiError> {
    let id = OrgUnitId(id.into_inner());
    state
        .respond(auth, StatusCode::OK, move |conn, actor, _| {
            open311::set_geo(conn, actor, id, &body.0)
        })
        .await
}
