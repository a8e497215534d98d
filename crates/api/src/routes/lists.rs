//! `/needs`, `/resources`, `/projects`: the three lists.

use actix_web::http::StatusCode;
use actix_web::{get, patch, post};
use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use jiesu_core::ids::{MilestoneId, NeedId, OrgUnitId, ProjectId, ResourceId};
use jiesu_core::lists::{
    self, NeedChange, NeedFilter, NewNeed, NewProject, NewResource, ProjectAction,
};
use jiesu_core::pagination::Page;
use jiesu_core::types::NeedStatus;
use serde::Deserialize;

use super::Paging;
use crate::auth::{Auth, BearerOrCookie};
use crate::extract::{ValidJson, ValidQuery};
use crate::problem::ApiError;
use crate::routes::stats::csv_export;
use crate::state::AppState;

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct NeedQuery {
    community_id: Option<OrgUnitId>,
    status: Option<NeedStatus>,
    published: Option<bool>,
}

#[utoipa::path(tag = "lists", params(NeedQuery, super::Paging), responses((status = 200, description = "A page of needs", body = Page<lists::Need>)))]
#[get("/needs")]
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
        .read_respond(auth, move |conn, actor, _| {
            lists::list_needs(conn, actor, &filter, page)
        })
        .await
}

#[utoipa::path(tag = "lists", request_body = NewNeed, responses((status = 201, description = "Created", body = lists::Need)))]
#[post("/needs")]
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

#[utoipa::path(tag = "lists", responses((status = 200, description = "The need", body = lists::Need)))]
#[get("/needs/{id}")]
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

#[utoipa::path(tag = "lists", request_body = NeedChange, responses((status = 200, description = "Updated", body = lists::Need)))]
#[patch("/needs/{id}")]
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

#[derive(Deserialize, utoipa::ToSchema)]
pub struct ClaimBody {
    due_at: DateTime<Utc>,
}

/// `POST /needs/{id}/claim` `{due_at}`: a unit takes a published need on as a project.
#[utoipa::path(tag = "lists", request_body = ClaimBody, responses((status = 201, description = "The unit's new project for the need", body = lists::Project)))]
#[post("/needs/{id}/claim")]
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

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ResourceQuery {
    community_id: Option<OrgUnitId>,
}

#[utoipa::path(tag = "lists", params(ResourceQuery, super::Paging), responses((status = 200, description = "A page of resources", body = Page<lists::Resource>)))]
#[get("/resources")]
pub async fn list_resources(
    state: web::Data<AppState>,
    auth: Auth,
    q: ValidQuery<ResourceQuery>,
    paging: ValidQuery<Paging>,
) -> Result<HttpResponse, ApiError> {
    let page = paging.0.page()?;
    let community = q.0.community_id;
    state
        .read_respond(auth, move |conn, actor, _| {
            lists::list_resources(conn, actor, community, page)
        })
        .await
}

#[utoipa::path(tag = "lists", request_body = NewResource, responses((status = 201, description = "Created", body = lists::Resource)))]
#[post("/resources")]
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

#[utoipa::path(tag = "lists", responses((status = 200, description = "The resource", body = lists::Resource)))]
#[get("/resources/{id}")]
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

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ProjectQuery {
    overdue: Option<bool>,
}

#[utoipa::path(tag = "lists", params(ProjectQuery, super::Paging), responses((status = 200, description = "A page of projects", body = Page<lists::ProjectRow>)))]
#[get("/projects")]
pub async fn list_projects(
    state: web::Data<AppState>,
    auth: Auth,
    q: ValidQuery<ProjectQuery>,
    paging: ValidQuery<Paging>,
) -> Result<HttpResponse, ApiError> {
    let page = paging.0.page()?;
    let overdue = q.0.overdue;
    state
        .read_respond(auth, move |conn, actor, now| {
            lists::list_projects(conn, actor, overdue, page, now)
        })
        .await
}

#[utoipa::path(tag = "lists", request_body = NewProject, responses((status = 201, description = "Created", body = lists::Project)))]
#[post("/projects")]
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

#[utoipa::path(tag = "lists", responses((status = 200, description = "The project with milestones and trail", body = lists::Project)))]
#[get("/projects/{id}")]
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

/// What `POST /projects/{id}/{action}` does; any other word is a 404.
#[derive(Debug, Clone, Copy, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ProjectVerb {
    Start,
    Complete,
    Cancel,
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
pub struct OptionalNote {
    note: Option<String>,
}

/// `POST /projects/{id}/{start|complete|cancel}` with an optional `{note}`.
#[utoipa::path(tag = "lists", params(("id" = i64, Path), ("action" = ProjectVerb, Path)), request_body(content = Option<OptionalNote>), responses((status = 200, description = "Moved", body = lists::Project)))]
#[post("/projects/{id}/{action}")]
pub async fn move_project(
    state: web::Data<AppState>,
    auth: Auth,
    path: web::Path<(i64, ProjectVerb)>,
    body: Option<ValidJson<OptionalNote>>,
) -> Result<HttpResponse, ApiError> {
    let (id, verb) = path.into_inner();
    let action = match verb {
        ProjectVerb::Start => ProjectAction::Start,
        ProjectVerb::Complete => ProjectAction::Complete,
        ProjectVerb::Cancel => ProjectAction::Cancel,
    };
    let note = body.and_then(|b| b.0.note);
    state
        .respond(auth, StatusCode::OK, move |conn, actor, now| {
            lists::transition_project(conn, actor, ProjectId(id), action, note.as_deref(), now)
        })
        .await
}

/// `POST /projects/{id}/milestones`: the owner unit or a supervisor adds a milestone.
#[utoipa::path(tag = "lists", params(("id" = i64, Path)), request_body = lists::NewMilestone, responses((status = 201, description = "The project with its new milestone", body = lists::Project)))]
#[post("/projects/{id}/milestones")]
pub async fn add_milestone(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<i64>,
    body: ValidJson<lists::NewMilestone>,
) -> Result<HttpResponse, ApiError> {
    let id = ProjectId(id.into_inner());
    state
        .respond(auth, StatusCode::CREATED, move |conn, actor, now| {
            lists::add_milestone(conn, actor, id, &body.0, now)
        })
        .await
}

#[utoipa::path(tag = "lists", params(("id" = i64, Path), ("milestone" = i64, Path)), responses((status = 200, description = "Milestone done", body = lists::Project)))]
#[post("/projects/{id}/milestones/{milestone}/done")]
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
#[utoipa::path(tag = "exports", params(NeedQuery), responses((status = 200, description = "UTF-8 CSV with BOM", content_type = "text/csv", body = String)))]
#[get("/needs.csv")]
pub async fn needs_csv(
    state: web::Data<AppState>,
    BearerOrCookie(auth): BearerOrCookie,
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
#[utoipa::path(tag = "exports", params(ResourceQuery), responses((status = 200, description = "UTF-8 CSV with BOM", content_type = "text/csv", body = String)))]
#[get("/resources.csv")]
pub async fn resources_csv(
    state: web::Data<AppState>,
    BearerOrCookie(auth): BearerOrCookie,
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
#[utoipa::path(tag = "exports", params(ProjectQuery), responses((status = 200, description = "UTF-8 CSV with BOM", content_type = "text/csv", body = String)))]
#[get("/projects.csv")]
pub async fn projects_csv(
    state: web::Data<AppState>,
    BearerOrCookie(auth): BearerOrCookie,
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

/// `GET /overdue`: the late tickets and projects of the caller's scope, the most late
/// first (the `limit` most late, default 50, of each).
#[utoipa::path(tag = "lists", params(super::Paging), responses((status = 200, description = "Late tickets and projects, the most late first", body = Vec<lists::LateItem>)))]
#[get("/overdue")]
pub async fn late_items(
    state: web::Data<AppState>,
    auth: Auth,
    q: ValidQuery<Paging>,
) -> Result<HttpResponse, ApiError> {
    let limit = q.0.page()?.limit;
    let reference = state.reference.clone();
    state
        .read_respond(auth, move |conn, actor, now| {
            lists::overdue(conn, &reference, actor, limit, now)
        })
        .await
}
