//! `/needs`, `/resources`, `/projects`: the three lists.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use jiesu_core::ids::{MilestoneId, NeedId, OrgUnitId, ProjectId, ResourceId};
use jiesu_core::lists::{
    self, NeedChange, NeedFilter, NewNeed, NewProject, NewResource, ProjectAction,
};
use jiesu_core::types::NeedStatus;
use serde::Deserialize;

use super::Paging;
use crate::auth::Auth;
use crate::extract::{ValidJson, ValidQuery};
use crate::problem::ApiError;
use crate::routes::stats::csv_export;
use crate::state::AppState;

#[derive(Deserialize)]
pub struct NeedQuery {
    community_id: Option<OrgUnitId>,
    status: Option<NeedStatus>,
    published: Option<bool>,
}

pub async fn list_needs(
    state: web::Data<AppState>,
    auth: Auth,
    q: ValidQuery<NeedQuery>,
    paging: ValidQuery<Paging>,
) -> Result<HttpResponse, ApiError> {
    let page = paging.0.page()?;
    let filter = NeedFilter {
        community_id: q.0.community_id,
        status: q.0.status,
        published: q.0.published,
    };
    state
        .respond(auth, StatusCode::OK, move |conn, actor, _| {
            lists::list_needs(conn, actor, &filter, page)
        })
        .await
}

pub async fn create_need(
    state: web::Data<AppState>,
    auth: Auth,
    body: ValidJson<NewNeed>,
) -> Result<HttpResponse, ApiError> {
    state
        .respond(auth, StatusCode::CREATED, move |conn, actor, now| {
            lists::create_need(conn, actor, &body.0, now)
        })
        .await
}

pub async fn get_need(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let id = NeedId(id.into_inner());
    state
        .respond(auth, StatusCode::OK, move |conn, actor, _| {
            lists::get_need(conn, actor, id)
        })
        .await
}

pub async fn update_need(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<i64>,
    body: ValidJson<NeedChange>,
) -> Result<HttpResponse, ApiError> {
    let id = NeedId(id.into_inner());
    state
        .respond(auth, StatusCode::OK, move |conn, actor, now| {
            lists::update_need(conn, actor, id, &body.0, now)
        })
        .await
}

#[derive(Deserialize)]
pub struct ClaimBody {
    due_at: DateTime<Utc>,
}

/// `POST /needs/{id}/claim` `{due_at}`: a unit takes a published need on as a project.
pub async fn claim_need(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<i64>,
    body: ValidJson<ClaimBody>,
) -> Result<HttpResponse, ApiError> {
    let id = NeedId(id.into_inner());
    state
        .respond(auth, StatusCode::CREATED, move |conn, actor, now| {
            lists::claim_need(conn, actor, id, body.0.due_at, now)
        })
        .await
}

#[derive(Deserialize)]
pub struct ResourceQuery {
    community_id: Option<OrgUnitId>,
}

pub async fn list_resources(
    state: web::Data<AppState>,
    auth: Auth,
    q: ValidQuery<ResourceQuery>,
    paging: ValidQuery<Paging>,
) -> Result<HttpResponse, ApiError> {
    let page = paging.0.page()?;
    let community = q.0.community_id;
    state
        .respond(auth, StatusCode::OK, move |conn, actor, _| {
            lists::list_resources(conn, actor, community, page)
        })
        .await
}

pub async fn create_resource(
    state: web::Data<AppState>,
    auth: Auth,
    body: ValidJson<NewResource>,
) -> Result<HttpResponse, ApiError> {
    state
        .respond(auth, StatusCode::CREATED, move |conn, actor, now| {
            lists::create_resource(conn, actor, &body.0, now)
        })
        .await
}

pub async fn get_resource(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let id = ResourceId(id.into_inner());
    state
        .respond(auth, StatusCode::OK, move |conn, actor, _| {
            lists::get_resource(conn, actor, id)
        })
        .await
}

#[derive(Deserialize)]
pub struct ProjectQuery {
    overdue: Option<bool>,
}

pub async fn list_projects(
    state: web::Data<AppState>,
    auth: Auth,
    q: ValidQuery<ProjectQuery>,
    paging: ValidQuery<Paging>,
) -> Result<HttpResponse, ApiError> {
    let page = paging.0.page()?;
    let overdue = q.0.overdue;
    state
        .respond(auth, StatusCode::OK, move |conn, actor, now| {
            lists::list_projects(conn, actor, overdue, page, now)
        })
        .await
}

pub async fn create_project(
    state: web::Data<AppState>,
    auth: Auth,
    body: ValidJson<NewProject>,
) -> Result<HttpResponse, ApiError> {
    state
        .respond(auth, StatusCode::CREATED, move |conn, actor, now| {
            lists::create_project(conn, actor, &body.0, now)
        })
        .await
}

pub async fn get_project(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let id = ProjectId(id.into_inner());
    state
        .respond(auth, StatusCode::OK, move |conn, actor, now| {
            lists::get_project(conn, actor, id, now)
        })
        .await
}

#[derive(Deserialize, Default)]
pub struct NoteBody {
    note: Option<String>,
}

/// `POST /projects/{id}/{start|complete|cancel}` with an optional `{note}`.
pub async fn move_project(
    state: web::Data<AppState>,
    auth: Auth,
    path: web::Path<(i64, String)>,
    body: Option<ValidJson<NoteBody>>,
) -> Result<HttpResponse, ApiError> {
    let (id, verb) = path.into_inner();
    let action = match verb.as_str() {
        "start" => ProjectAction::Start,
        "complete" => ProjectAction::Complete,
        "cancel" => ProjectAction::Cancel,
        _ => {
            return Err(ApiError::Core(jiesu_core::CoreError::NotFound(
                "project action",
            )))
        }
    };
    let note = body.and_then(|b| b.0.note);
    state
        .respond(auth, StatusCode::OK, move |conn, actor, now| {
            lists::transition_project(conn, actor, ProjectId(id), action, note.as_deref(), now)
        })
        .await
}

pub async fn milestone_done(
    state: web::Data<AppState>,
    auth: Auth,
    path: web::Path<(i64, i64)>,
) -> Result<HttpResponse, ApiError> {
    let (id, milestone) = path.into_inner();
    state
        .respond(auth, StatusCode::OK, move |conn, actor, now| {
            lists::complete_milestone(conn, actor, ProjectId(id), MilestoneId(milestone), now)
        })
        .await
}

const NEED_HEADERS: &[&str] = &[
    "编号 id",
    "社区ID community_id",
    "类别ID category_id",
    "标题 title",
    "描述 description",
    "户数 households",
    "紧急程度 urgency",
    "状态 status",
    "来源 source",
    "已发布 published",
    "关联工单 ticket_ids",
    "登记时间 created_at",
];
const RESOURCE_HEADERS: &[&str] = &[
    "编号 id",
    "共建单位ID partner_id",
    "类别ID category_id",
    "名称 title",
    "说明 description",
    "能力 capacity",
    "时间 schedule",
    "可用 active",
    "服务社区 communities",
];
const PROJECT_HEADERS: &[&str] = &[
    "编号 id",
    "需求ID need_id",
    "资源ID resource_id",
    "承办单位ID owner_partner_id",
    "社区ID community_id",
    "名称 title",
    "状态 status",
    "截止 due_at",
    "登记时间 created_at",
];

fn ids<T: ToString>(list: &[T]) -> String {
    list.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(" ")
}

/// `GET /needs.csv` (the filters of `GET /needs`).
pub async fn needs_csv(
    state: web::Data<AppState>,
    auth: Auth,
    q: ValidQuery<NeedQuery>,
) -> Result<HttpResponse, ApiError> {
    let filter = NeedFilter {
        community_id: q.0.community_id,
        status: q.0.status,
        published: q.0.published,
    };
    csv_export(
        state,
        auth,
        "needs.csv",
        NEED_HEADERS,
        move |conn, actor, page, _| lists::list_needs(conn, actor, &filter, page),
        |n: &lists::Need| {
            let r = &n.need;
            vec![
                r.id.to_string(),
                r.community_id.to_string(),
                r.category_id.to_string(),
                r.title.clone(),
                r.description.clone(),
                r.households.to_string(),
                r.urgency.to_string(),
                r.status.to_string(),
                r.source.to_string(),
                r.published.to_string(),
                ids(&n.ticket_ids),
                r.created_at.and_utc().to_rfc3339(),
            ]
        },
    )
    .await
}

/// `GET /resources.csv` (the filters of `GET /resources`).
pub async fn resources_csv(
    state: web::Data<AppState>,
    auth: Auth,
    q: ValidQuery<ResourceQuery>,
) -> Result<HttpResponse, ApiError> {
    let community = q.0.community_id;
    csv_export(
        state,
        auth,
        "resources.csv",
        RESOURCE_HEADERS,
        move |conn, actor, page, _| lists::list_resources(conn, actor, community, page),
        |x: &lists::Resource| {
            let r = &x.resource;
            vec![
                r.id.to_string(),
                r.partner_id.to_string(),
                r.category_id.map(|c| c.to_string()).unwrap_or_default(),
                r.title.clone(),
                r.description.clone(),
                r.capacity.clone(),
                r.schedule.clone(),
                r.active.to_string(),
                ids(&x.communities),
            ]
        },
    )
    .await
}

/// `GET /projects.csv` (the filters of `GET /projects`).
pub async fn projects_csv(
    state: web::Data<AppState>,
    auth: Auth,
    q: ValidQuery<ProjectQuery>,
) -> Result<HttpResponse, ApiError> {
    let overdue = q.0.overdue;
    csv_export(
        state,
        auth,
        "projects.csv",
        PROJECT_HEADERS,
        move |conn, actor, page, now| lists::list_projects(conn, actor, overdue, page, now),
        |p: &lists::ProjectRow| {
            vec![
                p.id.to_string(),
                p.need_id.map(|n| n.to_string()).unwrap_or_default(),
                p.resource_id.map(|r| r.to_string()).unwrap_or_default(),
                p.owner_partner_id.to_string(),
                p.community_id.to_string(),
                p.title.clone(),
                p.status.to_string(),
                p.due_at.and_utc().to_rfc3339(),
                p.created_at.and_utc().to_rfc3339(),
            ]
        },
    )
    .await
}

/// `GET /overdue`: the late tickets and projects of the caller's scope, latest first
/// (at most `limit`, default 50, of each).
pub async fn overdue(
    state: web::Data<AppState>,
    auth: Auth,
    q: ValidQuery<Paging>,
) -> Result<HttpResponse, ApiError> {
    let limit = q.0.page()?.limit;
    state
        .respond(auth, StatusCode::OK, move |conn, actor, now| {
            lists::overdue(conn, actor, limit, now)
        })
        .await
}
