use actix_web::http::StatusCode;
use actix_web::{get, patch, post};
use actix_web::{web, HttpResponse};
use jiesu_core::ids::{OrgUnitId, PartnerId, UserId};
use jiesu_core::pagination::Page;
use jiesu_core::types::Role;
use jiesu_core::users::User;
use jiesu_core::users::{self, NewUser, UserChange, UserFilter};
use serde::Deserialize;

use super::Paging;
use crate::auth::Auth;
use crate::extract::{ValidJson, ValidQuery};
use crate::problem::ApiError;
use crate::state::AppState;

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    role: Option<Role>,
    org_unit_id: Option<OrgUnitId>,
    partner_id: Option<PartnerId>,
    active: Option<bool>,
    /// Only those whose username or name contains this text.
    q: Option<String>,
}

#[utoipa::path(tag = "users", params(ListQuery, super::Paging), responses((status = 200, description = "A page of accounts", body = Page<User>)))]
#[get("/users")]
pub async fn list(
    state: web::Data<AppState>,
    auth: Auth,
    q: ValidQuery<ListQuery>,
    paging: ValidQuery<Paging>,
) -> Result<HttpResponse, ApiError> {
    let page = paging.0.page()?;
    let ListQuery {
        role,
        org_unit_id,
        partner_id,
        active,
        q,
    } = q.0;
    let filter = UserFilter {
        role,
        org_unit_id,
        partner_id,
        active,
        q,
    };
    state
        .respond(auth, StatusCode::OK, move |conn, actor, _| {
            users::list(conn, actor, &filter, page)
        })
        .await
}

#[utoipa::path(tag = "users", responses((status = 200, description = "The account", body = User)))]
#[get("/users/{id}")]
pub async fn get(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let id = UserId(id.into_inner());
    state
        .respond(auth, StatusCode::OK, move |conn, actor, _| {
            users::get(conn, actor, id)
        })
        .await
}

#[utoipa::path(tag = "users", request_body = NewUser, responses((status = 201, description = "Created", body = User)))]
#[post("/users")]
pub async fn create(
    state: web::Data<AppState>,
    auth: Auth,
    body: ValidJson<NewUser>,
) -> Result<HttpResponse, ApiError> {
    state
        .respond(auth, StatusCode::CREATED, move |conn, actor, now| {
            users::create(conn, actor, &body.0, now)
        })
        .await
}

#[utoipa::path(tag = "users", request_body = UserChange, responses((status = 200, description = "Updated", body = User)))]
#[patch("/users/{id}")]
pub async fn update(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<i64>,
    body: ValidJson<UserChange>,
) -> Result<HttpResponse, ApiError> {
    let id = UserId(id.into_inner());
    let changed = state
        .respond(auth, StatusCode::OK, move |conn, actor, now| {
            users::update(conn, actor, id, &body.0, now)
        })
        .await;
    state.accounts.forget_account(id);
    changed
}
