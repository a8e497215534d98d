//! Projects (项目清单): a need matched with a resource or a unit, with milestones, a due
//! date and an event trail; a unit may claim a published need as a project (双向认领).

use super::*;
use crate::schema::{needs, projects};

#[derive(Debug, Clone, PartialEq, Serialize, Queryable, Selectable)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[diesel(table_name = projects)]
pub struct ProjectRow {
    pub id: ProjectId,
    pub need_id: Option<NeedId>,
    pub resource_id: Option<ResourceId>,
    pub owner_partner_id: PartnerId,
    pub community_id: OrgUnitId,
    #[serde(skip)]
    pub org_path: String,
    pub title: String,
    pub status: ProjectStatus,
    #[serde(serialize_with = "crate::time::utc")]
    pub due_at: NaiveDateTime,
    #[serde(skip)]
    pub created_by: crate::ids::UserId,
    #[serde(skip)]
    pub version: i32,
    #[serde(serialize_with = "crate::time::utc")]
    pub created_at: NaiveDateTime,
    #[serde(serialize_with = "crate::time::utc")]
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Clone, PartialEq, Serialize, Queryable, Selectable)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[diesel(table_name = project_milestones)]
pub struct Milestone {
    pub id: MilestoneId,
    #[serde(skip)]
    pub project_id: ProjectId,
    pub title: String,
    #[serde(serialize_with = "crate::time::utc")]
    pub due_at: NaiveDateTime,
    #[serde(serialize_with = "crate::time::utc_opt")]
    pub done_at: Option<NaiveDateTime>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Queryable, Selectable)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[diesel(table_name = project_events)]
pub struct ProjectEvent {
    pub id: i64,
    #[serde(skip)]
    pub project_id: ProjectId,
    pub actor_id: Option<crate::ids::UserId>,
    pub kind: String,
    pub from_status: Option<String>,
    pub to_status: Option<String>,
    pub note: Option<String>,
    #[serde(serialize_with = "crate::time::utc")]
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Project {
    #[serde(flatten)]
    pub project: ProjectRow,
    /// Past its due date and not done.
    pub overdue: bool,
    pub milestones: Vec<Milestone>,
    pub events: Vec<ProjectEvent>,
}

#[derive(Debug, Clone, Deserialize, Validate)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewMilestone {
    #[validate(custom(function = "validate::not_blank"), length(max = 200))]
    pub title: String,
    pub due_at: chrono::DateTime<chrono::Utc>,
}

#[derive(Debug, Clone, Deserialize, Validate)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewProject {
    pub need_id: NeedId,
    /// The resource that meets the need (its unit owns the project) …
    pub resource_id: Option<ResourceId>,
    /// … or the owner unit directly.
    pub owner_partner_id: Option<PartnerId>,
    #[validate(custom(function = "validate::not_blank"), length(max = 200))]
    pub title: Option<String>,
    pub due_at: chrono::DateTime<chrono::Utc>,
    #[serde(default)]
    #[validate(nested)]
    pub milestones: Vec<NewMilestone>,
}

pub(super) type ProjectFilterExpr = Box<
    dyn BoxableExpression<projects::table, crate::db::DbBackend, SqlType = diesel::sql_types::Bool>,
>;

pub(super) fn visible_projects(scope: &Scope) -> Option<ProjectFilterExpr> {
    match scope {
        Scope::Everything => None,
        Scope::Subtree { path, .. } => Some(Box::new(in_subtree(projects::org_path, path))),
        Scope::Partner { partner } => Some(Box::new(projects::owner_partner_id.eq(*partner))),
    }
}

pub(super) fn project_event(
    conn: &mut DbConnection,
    id: ProjectId,
    actor: &Actor,
    kind: &str,
    (from, to): (Option<ProjectStatus>, Option<ProjectStatus>),
    note: Option<&str>,
    now: NaiveDateTime,
) -> CoreResult<()> {
    diesel::insert_into(project_events::table)
        .values((
            project_events::project_id.eq(id),
            project_events::actor_id.eq(actor.user_id),
            project_events::kind.eq(kind),
            project_events::from_status.eq(from.map(|s| s.as_str())),
            project_events::to_status.eq(to.map(|s| s.as_str())),
            project_events::note.eq(note),
            project_events::created_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

pub(super) fn set_need_status(
    conn: &mut DbConnection,
    need: Option<NeedId>,
    status: NeedStatus,
    now: NaiveDateTime,
) -> CoreResult<()> {
    if let Some(need) = need {
        diesel::update(needs::table.find(need))
            .set((needs::status.eq(status), needs::updated_at.eq(now)))
            .execute(conn)?;
    }
    Ok(())
}

/// A project about to be made from a need.
pub(super) struct Draft<'a> {
    pub(super) owner: PartnerId,
    pub(super) resource: Option<ResourceId>,
    pub(super) title: &'a str,
    pub(super) due_at: NaiveDateTime,
    pub(super) milestones: &'a [NewMilestone],
}

pub(super) fn insert_project(
    conn: &mut DbConnection,
    actor: &Actor,
    need: &NeedRow,
    draft: Draft<'_>,
    now: NaiveDateTime,
) -> CoreResult<ProjectId> {
    let Draft {
        owner,
        resource,
        title,
        due_at,
        milestones,
    } = draft;
    write_tx(conn, |conn| {
        let current: NeedStatus = needs::table
            .find(need.id)
            .select(needs::status)
            .first(conn)?;
        if current != NeedStatus::Open {
            return Err(CoreError::conflict(format!(
                "need {} is {current}, no longer open",
                need.id
            )));
        }
        let id: ProjectId = diesel::insert_into(projects::table)
            .values((
                projects::need_id.eq(need.id),
                projects::resource_id.eq(resource),
                projects::owner_partner_id.eq(owner),
                projects::community_id.eq(need.community_id),
                projects::org_path.eq(&need.org_path),
                projects::title.eq(title),
                projects::status.eq(ProjectStatus::Planned),
                projects::due_at.eq(due_at),
                projects::created_by.eq(actor.user_id),
                projects::version.eq(0),
                projects::created_at.eq(now),
                projects::updated_at.eq(now),
            ))
            .returning(projects::id)
            .get_result(conn)?;
        for m in milestones {
            diesel::insert_into(project_milestones::table)
                .values((
                    project_milestones::project_id.eq(id),
                    project_milestones::title.eq(m.title.trim()),
                    project_milestones::due_at.eq(truncate_to_micros(m.due_at.naive_utc())),
                ))
                .execute(conn)?;
        }
        set_need_status(conn, Some(need.id), NeedStatus::Matched, now)?;
        project_event(
            conn,
            id,
            actor,
            "created",
            (None, Some(ProjectStatus::Planned)),
            None,
            now,
        )?;
        Ok(id)
    })
}

/// A supervisor matches a need with a resource (or a unit directly) into a project.
pub fn create_project(
    conn: &mut DbConnection,
    actor: &Actor,
    input: &NewProject,
    now: NaiveDateTime,
) -> CoreResult<Project> {
    actor.require_role(
        &[Role::Supervisor, Role::Admin],
        "only a supervisor matches needs into projects",
    )?;
    let mut errors = validate::fields(input);
    let need = load_need(conn, actor, input.need_id)
        .map_err(|_| CoreError::invalid("need_id", "not_found", "no such need in your scope"))?;
    let owner = match (input.resource_id, input.owner_partner_id) {
        (Some(r), None) => match get_resource(conn, actor, r) {
            Ok(res) if res.communities.contains(&need.community_id) => {
                Some(res.resource.partner_id)
            }
            Ok(_) => {
                errors.push(FieldError::new(
                    "resource_id",
                    "not_served",
                    "the resource does not serve the need's community",
                ));
                None
            }
            Err(_) => {
                errors.push(FieldError::new(
                    "resource_id",
                    "not_found",
                    "no such resource in your scope",
                ));
                None
            }
        },
        (None, Some(p)) => {
            if !crate::tickets::lifecycle::unit_qualifies(
                conn,
                p,
                need.community_id,
                need.category_id,
            )? {
                errors.push(FieldError::new(
                    "owner_partner_id",
                    "not_qualified",
                    "the unit does not serve this community and category",
                ));
            }
            Some(p)
        }
        _ => {
            errors.push(FieldError::new(
                "resource_id",
                "required",
                "give either resource_id or owner_partner_id",
            ));
            None
        }
    };
    let now = truncate_to_micros(now);
    if input.due_at.naive_utc() <= now {
        errors.push(FieldError::new("due_at", "range", "must be in the future"));
    }
    let (Some(owner), true) = (owner, errors.is_empty()) else {
        return Err(CoreError::Invalid(errors));
    };
    let title = input.title.clone().unwrap_or_else(|| need.title.clone());
    let id = insert_project(
        conn,
        actor,
        &need,
        Draft {
            owner,
            resource: input.resource_id,
            title: title.trim(),
            due_at: truncate_to_micros(input.due_at.naive_utc()),
            milestones: &input.milestones,
        },
        now,
    )?;
    get_project(conn, actor, id, now)
}

/// 双向认领: a unit claims a published, open need of a community it serves as a project.
pub fn claim_need(
    conn: &mut DbConnection,
    actor: &Actor,
    need_id: NeedId,
    due_at: chrono::DateTime<chrono::Utc>,
    now: NaiveDateTime,
) -> CoreResult<Project> {
    let Scope::Partner { partner } = actor.scope else {
        return Err(CoreError::Forbidden("only partner-unit staff claim needs"));
    };
    let need = load_need(conn, actor, need_id)?;
    if !crate::tickets::lifecycle::unit_qualifies(
        conn,
        partner,
        need.community_id,
        need.category_id,
    )? {
        return Err(CoreError::Forbidden(
            "your unit does not handle this category",
        ));
    }
    let now = truncate_to_micros(now);
    if due_at.naive_utc() <= now {
        return Err(CoreError::invalid(
            "due_at",
            "range",
            "must be in the future",
        ));
    }
    let id = insert_project(
        conn,
        actor,
        &need,
        Draft {
            owner: partner,
            resource: None,
            title: &need.title,
            due_at: truncate_to_micros(due_at.naive_utc()),
            milestones: &[],
        },
        now,
    )
    .map_err(|e| match e {
        // The unique index on live projects per need: another claim won.
        CoreError::Conflict { message, .. } => CoreError::Conflict {
            message,
            current: serde_json::to_value(&need).ok(),
        },
        other => other,
    })?;
    get_project(conn, actor, id, now)
}

pub(super) fn load_project(
    conn: &mut DbConnection,
    actor: &Actor,
    id: ProjectId,
) -> CoreResult<ProjectRow> {
    let mut query = projects::table
        .filter(projects::id.eq(id))
        .select(ProjectRow::as_select())
        .into_boxed();
    if let Some(filter) = visible_projects(&actor.scope) {
        query = query.filter(filter);
    }
    query
        .first(conn)
        .optional()?
        .ok_or(CoreError::NotFound("project"))
}

pub(super) fn is_overdue(p: &ProjectRow, now: NaiveDateTime) -> bool {
    matches!(p.status, ProjectStatus::Planned | ProjectStatus::InProgress) && p.due_at < now
}

pub fn get_project(
    conn: &mut DbConnection,
    actor: &Actor,
    id: ProjectId,
    now: NaiveDateTime,
) -> CoreResult<Project> {
    let project = load_project(conn, actor, id)?;
    let milestones = project_milestones::table
        .filter(project_milestones::project_id.eq(id))
        .order(project_milestones::id)
        .select(Milestone::as_select())
        .load(conn)?;
    let events = project_events::table
        .filter(project_events::project_id.eq(id))
        .order(project_events::id)
        .select(ProjectEvent::as_select())
        .load(conn)?;
    Ok(Project {
        overdue: is_overdue(&project, now),
        project,
        milestones,
        events,
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProjectAction {
    Start,
    Complete,
    Cancel,
}

/// Moves a project (the owner unit starts and completes it; a supervisor may also cancel),
/// carrying its need along: in progress, done, or open again when cancelled.
pub fn transition_project(
    conn: &mut DbConnection,
    actor: &Actor,
    id: ProjectId,
    action: ProjectAction,
    note: Option<&str>,
    now: NaiveDateTime,
) -> CoreResult<Project> {
    let now = truncate_to_micros(now);
    let p = load_project(conn, actor, id)?;
    let owner = matches!(actor.scope, Scope::Partner { partner } if partner == p.owner_partner_id);
    let supervisor = matches!(actor.role, Role::Supervisor | Role::Admin);
    let (from, to, need_status, allowed) = match action {
        ProjectAction::Start => (
            ProjectStatus::Planned,
            ProjectStatus::InProgress,
            NeedStatus::InProgress,
            owner || supervisor,
        ),
        ProjectAction::Complete => (
            ProjectStatus::InProgress,
            ProjectStatus::Done,
            NeedStatus::Done,
            owner || supervisor,
        ),
        ProjectAction::Cancel => (
            p.status,
            ProjectStatus::Cancelled,
            NeedStatus::Open,
            supervisor,
        ),
    };
    if !allowed {
        return Err(CoreError::Forbidden(
            "only the owner unit or a supervisor moves this project",
        ));
    }
    if p.status != from || matches!(p.status, ProjectStatus::Done | ProjectStatus::Cancelled) {
        return Err(CoreError::Conflict {
            message: format!("project {} is {}", p.id, p.status),
            current: serde_json::to_value(&p).ok(),
        });
    }
    write_tx(conn, |conn| -> CoreResult<()> {
        let moved = diesel::update(
            projects::table.filter(projects::id.eq(id).and(projects::version.eq(p.version))),
        )
        .set((
            projects::status.eq(to),
            projects::version.eq(p.version + 1),
            projects::updated_at.eq(now),
        ))
        .execute(conn)?;
        if moved != 1 {
            return Err(CoreError::conflict(format!(
                "project {id} changed meanwhile; retry"
            )));
        }
        set_need_status(conn, p.need_id, need_status, now)?;
        let kind = match action {
            ProjectAction::Start => "started",
            ProjectAction::Complete => "completed",
            ProjectAction::Cancel => "cancelled",
        };
        project_event(conn, id, actor, kind, (Some(from), Some(to)), note, now)
    })?;
    get_project(conn, actor, id, now)
}

/// Milestones are planned and marked by the project's owner unit or a supervisor.
pub(super) fn require_milestone_keeper(actor: &Actor, p: &ProjectRow) -> CoreResult<()> {
    if matches!(actor.scope, Scope::Partner { partner } if partner == p.owner_partner_id)
        || matches!(actor.role, Role::Supervisor | Role::Admin)
    {
        Ok(())
    } else {
        Err(CoreError::Forbidden(
            "only the owner unit or a supervisor plans and marks milestones",
        ))
    }
}

/// Adds a milestone to a project that is not finished: the owner unit (a project made when
/// it claimed a need starts with none) or a supervisor plans the work.
pub fn add_milestone(
    conn: &mut DbConnection,
    actor: &Actor,
    id: ProjectId,
    input: &NewMilestone,
    now: NaiveDateTime,
) -> CoreResult<Project> {
    let now = truncate_to_micros(now);
    let p = load_project(conn, actor, id)?;
    require_milestone_keeper(actor, &p)?;
    let errors = validate::fields(input);
    if !errors.is_empty() {
        return Err(CoreError::Invalid(errors));
    }
    if matches!(p.status, ProjectStatus::Done | ProjectStatus::Cancelled) {
        return Err(CoreError::conflict(format!(
            "the project is {} and takes no new milestones",
            p.status
        )));
    }
    let title = input.title.trim().to_owned();
    write_tx(conn, |conn| -> CoreResult<()> {
        diesel::insert_into(project_milestones::table)
            .values((
                project_milestones::project_id.eq(id),
                project_milestones::title.eq(&title),
                project_milestones::due_at.eq(truncate_to_micros(input.due_at.naive_utc())),
            ))
            .execute(conn)?;
        project_event(
            conn,
            id,
            actor,
            "milestone_added",
            (Some(p.status), Some(p.status)),
            Some(&title),
            now,
        )
    })?;
    get_project(conn, actor, id, now)
}

pub fn complete_milestone(
    conn: &mut DbConnection,
    actor: &Actor,
    id: ProjectId,
    milestone: MilestoneId,
    now: NaiveDateTime,
) -> CoreResult<Project> {
    let now = truncate_to_micros(now);
    let p = load_project(conn, actor, id)?;
    require_milestone_keeper(actor, &p)?;
    let title: String = project_milestones::table
        .filter(
            project_milestones::id
                .eq(milestone)
                .and(project_milestones::project_id.eq(id)),
        )
        .select(project_milestones::title)
        .first(conn)
        .optional()?
        .ok_or(CoreError::NotFound("milestone"))?;
    write_tx(conn, |conn| -> CoreResult<()> {
        diesel::update(project_milestones::table.find(milestone))
            .set(project_milestones::done_at.eq(Some(now)))
            .execute(conn)?;
        project_event(
            conn,
            id,
            actor,
            "milestone_done",
            (Some(p.status), Some(p.status)),
            Some(&title),
            now,
        )
    })?;
    get_project(conn, actor, id, now)
}

pub fn list_projects(
    conn: &mut DbConnection,
    actor: &Actor,
    overdue: Option<bool>,
    page: PageRequest,
    now: NaiveDateTime,
) -> CoreResult<Page<ProjectRow>> {
    let mut query = projects::table.select(ProjectRow::as_select()).into_boxed();
    if let Some(filter) = visible_projects(&actor.scope) {
        query = query.filter(filter);
    }
    let live = vec![ProjectStatus::Planned, ProjectStatus::InProgress];
    match overdue {
        Some(true) => {
            query = query.filter(projects::status.eq_any(live).and(projects::due_at.lt(now)))
        }
        Some(false) => {
            query = query.filter(diesel::dsl::not(
                projects::status.eq_any(live).and(projects::due_at.lt(now)),
            ))
        }
        None => {}
    }
    if let Some(after) = page.after {
        query = query.filter(projects::id.gt(ProjectId(after)));
    }
    let rows = query.order(projects::id).limit(page.fetch()).load(conn)?;
    Ok(Page::from_rows(rows, page, |p| p.id.0))
}
