//! The org tree: city → district → street → community → grid. A child is always exactly
//! one level below its parent; each node carries the emails of its supervisors, who are
//! the ones told when a ticket is escalated to that node.

use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use crate::db::{truncate_to_micros, write_tx, DbConnection};
use crate::error::{CoreError, CoreResult, FieldError};
use crate::ids::OrgUnitId;
use crate::pagination::{Page, PageRequest, Towards, Window};
use crate::schema::{org_unit_emails, org_units};
use crate::scope::{visible_org_units, Actor};
use crate::types::{OrgKind, Role};
use crate::validate;
use validator::Validate;

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = org_units)]
struct OrgUnitRow {
    id: OrgUnitId,
    parent_id: Option<OrgUnitId>,
    kind: OrgKind,
    name: String,
    code: String,
    path: String,
    created_at: NaiveDateTime,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OrgUnit {
    pub id: OrgUnitId,
    pub parent_id: Option<OrgUnitId>,
    pub kind: OrgKind,
    pub name: String,
    /// The administrative division code (e.g. 110105 for Chaoyang District).
    pub code: String,
    pub supervisor_emails: Vec<String>,
    #[serde(serialize_with = "crate::time::utc")]
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Clone, Deserialize, Validate)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewOrgUnit {
    pub parent_id: Option<OrgUnitId>,
    pub kind: OrgKind,
    #[validate(custom(function = "validate::not_blank"), length(max = 100))]
    pub name: String,
    #[validate(custom(function = "validate::not_blank"), length(max = 32))]
    pub code: String,
    #[serde(default)]
    #[validate(custom(function = "validate::emails"))]
    pub supervisor_emails: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Validate)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OrgUnitChange {
    #[validate(custom(function = "validate::not_blank"), length(max = 100))]
    pub name: Option<String>,
    #[validate(custom(function = "validate::emails"))]
    pub supervisor_emails: Option<Vec<String>>,
}

#[derive(Debug, Clone, Default)]
pub struct OrgUnitFilter {
    pub parent_id: Option<OrgUnitId>,
    pub kind: Option<OrgKind>,
    /// Only the tree's top nodes (no parent): where an administrator starts browsing.
    pub top_only: bool,
    /// Only this node and those below it.
    pub within: Option<OrgUnitId>,
}

fn normalized_emails(emails: &[String]) -> Vec<String> {
    let mut out: Vec<String> = emails.iter().map(|e| e.trim().to_lowercase()).collect();
    out.sort();
    out.dedup();
    out
}

pub fn create(
    conn: &mut DbConnection,
    actor: &Actor,
    input: &NewOrgUnit,
    now: NaiveDateTime,
) -> CoreResult<OrgUnit> {
    actor.require_role(&[Role::Admin], "only an administrator edits the org tree")?;
    let mut errors = validate::fields(input);
    let parent = match input.parent_id {
        None => None,
        Some(pid) => {
            let row = org_units::table
                .find(pid)
                .select(OrgUnitRow::as_select())
                .first(conn)
                .optional()?;
            if row.is_none() {
                errors.push(FieldError::new(
                    "parent_id",
                    "not_found",
                    "no such org unit",
                ));
            }
            row
        }
    };
    match (&parent, input.kind) {
        (None, OrgKind::City) => {}
        (None, kind) if input.parent_id.is_none() => errors.push(FieldError::new(
            "parent_id",
            "required",
            format!("a {kind} needs a parent; only a city is a root"),
        )),
        (Some(p), kind) if p.kind.child_kind() != Some(kind) => errors.push(FieldError::new(
            "kind",
            "wrong_level",
            match p.kind.child_kind() {
                Some(child) => {
                    format!("the children of a {} are {child} units, not {kind}", p.kind)
                }
                None => format!("a {} has no children", p.kind),
            },
        )),
        _ => {}
    }
    if !errors.is_empty() {
        return Err(CoreError::Invalid(errors));
    }
    let now = truncate_to_micros(now);
    let emails = normalized_emails(&input.supervisor_emails);
    let id = write_tx(conn, |conn| -> CoreResult<OrgUnitId> {
        let duplicate = org_units::table
            .filter(org_units::code.eq(input.code.trim()))
            .select(org_units::id)
            .first::<OrgUnitId>(conn)
            .optional()?;
        if duplicate.is_some() {
            return Err(CoreError::conflict(format!(
                "org unit code {:?} is taken",
                input.code.trim()
            )));
        }
        let mut siblings = org_units::table
            .filter(org_units::name.eq(input.name.trim()))
            .select(org_units::id)
            .into_boxed();
        siblings = match input.parent_id {
            Some(pid) => siblings.filter(org_units::parent_id.eq(pid)),
            None => siblings.filter(org_units::parent_id.is_null()),
        };
        if siblings.first::<OrgUnitId>(conn).optional()?.is_some() {
            return Err(CoreError::conflict(format!(
                "{:?} already exists under the same parent",
                input.name.trim()
            )));
        }
        let id: OrgUnitId = diesel::insert_into(org_units::table)
            .values((
                org_units::parent_id.eq(input.parent_id),
                org_units::kind.eq(input.kind),
                org_units::name.eq(input.name.trim()),
                org_units::code.eq(input.code.trim()),
                org_units::path.eq(""),
                org_units::created_at.eq(now),
            ))
            .returning(org_units::id)
            .get_result(conn)?;
        let path = format!("{}{id}/", parent.as_ref().map_or("/", |p| p.path.as_str()));
        diesel::update(org_units::table.find(id))
            .set(org_units::path.eq(path))
            .execute(conn)?;
        replace_emails(conn, id, &emails)?;
        Ok(id)
    })?;
    get(conn, actor, id)
}

fn replace_emails(conn: &mut DbConnection, id: OrgUnitId, emails: &[String]) -> CoreResult<()> {
    diesel::delete(org_unit_emails::table.filter(org_unit_emails::org_unit_id.eq(id)))
        .execute(conn)?;
    for email in emails {
        diesel::insert_into(org_unit_emails::table)
            .values((
                org_unit_emails::org_unit_id.eq(id),
                org_unit_emails::email.eq(email),
            ))
            .execute(conn)?;
    }
    Ok(())
}

pub fn update(
    conn: &mut DbConnection,
    actor: &Actor,
    id: OrgUnitId,
    change: &OrgUnitChange,
) -> CoreResult<OrgUnit> {
    actor.require_role(&[Role::Admin], "only an administrator edits the org tree")?;
    let errors = validate::fields(change);
    if !errors.is_empty() {
        return Err(CoreError::Invalid(errors));
    }
    write_tx(conn, |conn| -> CoreResult<()> {
        let exists = org_units::table
            .find(id)
            .select(org_units::id)
            .first::<OrgUnitId>(conn)
            .optional()?;
        if exists.is_none() {
            return Err(CoreError::NotFound("org unit"));
        }
        if let Some(name) = &change.name {
            diesel::update(org_units::table.find(id))
                .set(org_units::name.eq(name.trim()))
                .execute(conn)
                .map_err(|e| match CoreError::from(e) {
                    CoreError::Conflict { .. } => CoreError::conflict(format!(
                        "{:?} already exists under the same parent",
                        name.trim()
                    )),
                    other => other,
                })?;
        }
        if let Some(emails) = &change.supervisor_emails {
            replace_emails(conn, id, &normalized_emails(emails))?;
        }
        Ok(())
    })?;
    get(conn, actor, id)
}

/// An org unit inside the actor's scope, else `NotFound`.
pub fn get(conn: &mut DbConnection, actor: &Actor, id: OrgUnitId) -> CoreResult<OrgUnit> {
    let mut query = org_units::table
        .filter(org_units::id.eq(id))
        .select(OrgUnitRow::as_select())
        .into_boxed();
    if let Some(filter) = visible_org_units(&actor.scope) {
        query = query.filter(filter);
    }
    let row = query
        .first(conn)
        .optional()?
        .ok_or(CoreError::NotFound("org unit"))?;
    Ok(with_emails(conn, vec![row])?.remove(0))
}

type OrgUnitQuery = org_units::BoxedQuery<'static, crate::db::DbBackend>;

/// The org units the actor sees that pass `filter`.
fn filtered(
    conn: &mut DbConnection,
    actor: &Actor,
    filter: &OrgUnitFilter,
) -> CoreResult<OrgUnitQuery> {
    let mut query = org_units::table.into_boxed();
    if let Some(node) = filter.within {
        let path: String = org_units::table
            .find(node)
            .select(org_units::path)
            .first(conn)
            .optional()?
            .ok_or(CoreError::NotFound("org unit"))?;
        query = query.filter(crate::scope::in_subtree(org_units::path, &path));
    }
    if let Some(scope_filter) = visible_org_units(&actor.scope) {
        query = query.filter(scope_filter);
    }
    if let Some(parent) = filter.parent_id {
        query = query.filter(org_units::parent_id.eq(parent));
    }
    if filter.top_only {
        query = query.filter(org_units::parent_id.is_null());
    }
    if let Some(kind) = filter.kind {
        query = query.filter(org_units::kind.eq(kind));
    }
    Ok(query)
}

pub fn list(
    conn: &mut DbConnection,
    actor: &Actor,
    filter: &OrgUnitFilter,
    page: PageRequest,
) -> CoreResult<Page<OrgUnit>> {
    Ok(browse(conn, actor, filter, Towards::Next(page.after), page.limit)?.into_page())
}

/// A page of the org units either way from a cursor, in id order.
pub fn browse(
    conn: &mut DbConnection,
    actor: &Actor,
    filter: &OrgUnitFilter,
    towards: Towards,
    limit: i64,
) -> CoreResult<Window<OrgUnit>> {
    let rows = crate::walk_by_id!(
        filtered(conn, actor, filter)?,
        org_units::id,
        OrgUnitId,
        towards
    )
    .select(OrgUnitRow::as_select())
    .limit(limit + 1)
    .load(conn)?;
    Window::from_rows(rows, towards, limit, |r| r.id.0)
        .try_map_items(|rows| with_emails(conn, rows))
}

/// How many org units the actor sees pass `filter`.
pub fn count(conn: &mut DbConnection, actor: &Actor, filter: &OrgUnitFilter) -> CoreResult<i64> {
    Ok(filtered(conn, actor, filter)?.count().get_result(conn)?)
}

/// The node and its ancestors the actor sees, from the top down: a breadcrumb.
pub fn lineage(conn: &mut DbConnection, actor: &Actor, id: OrgUnitId) -> CoreResult<Vec<OrgUnit>> {
    let node = get(conn, actor, id)?;
    let path = org_units::table
        .find(id)
        .select(org_units::path)
        .first::<String>(conn)?;
    let ids: Vec<OrgUnitId> = path
        .split('/')
        .filter_map(|part| part.parse().ok().map(OrgUnitId))
        .filter(|a| *a != node.id)
        .collect();
    let mut rows = filtered(conn, actor, &OrgUnitFilter::default())?
        .filter(org_units::id.eq_any(ids))
        .select(OrgUnitRow::as_select())
        .load(conn)?;
    rows.sort_by_key(|r| r.path.len());
    let mut out = with_emails(conn, rows)?;
    out.push(node);
    Ok(out)
}

fn with_emails(conn: &mut DbConnection, rows: Vec<OrgUnitRow>) -> CoreResult<Vec<OrgUnit>> {
    let ids: Vec<OrgUnitId> = rows.iter().map(|r| r.id).collect();
    let mut emails: HashMap<OrgUnitId, Vec<String>> = HashMap::new();
    for (id, email) in org_unit_emails::table
        .filter(org_unit_emails::org_unit_id.eq_any(&ids))
        .order((org_unit_emails::org_unit_id, org_unit_emails::email))
        .select((org_unit_emails::org_unit_id, org_unit_emails::email))
        .load::<(OrgUnitId, String)>(conn)?
    {
        emails.entry(id).or_default().push(email);
    }
    Ok(rows
        .into_iter()
        .map(|r| OrgUnit {
            supervisor_emails: emails.remove(&r.id).unwrap_or_default(),
            id: r.id,
            parent_id: r.parent_id,
            kind: r.kind,
            name: r.name,
            code: r.code,
            created_at: r.created_at,
        })
        .collect())
}

/// The kind of each of these org units, for callers checking references (partner communities).
pub fn kinds_of(
    conn: &mut DbConnection,
    ids: &[OrgUnitId],
) -> CoreResult<HashMap<OrgUnitId, OrgKind>> {
    Ok(org_units::table
        .filter(org_units::id.eq_any(ids))
        .select((org_units::id, org_units::kind))
        .load::<(OrgUnitId, OrgKind)>(conn)?
        .into_iter()
        .collect())
}

/// Is the tree empty? (The demo loader only fills an empty one.)
/// The node a person's figures are about when they name none: their own node, or the top
/// of the tree (the city) for an administrator. Unit staff have no node.
pub fn own_node(conn: &mut DbConnection, actor: &Actor) -> CoreResult<Option<OrgUnitId>> {
    Ok(match &actor.scope {
        crate::Scope::Subtree { root, .. } => Some(*root),
        crate::Scope::Everything => org_units::table
            .filter(org_units::parent_id.is_null())
            .order(org_units::id)
            .select(org_units::id)
            .first(conn)
            .optional()?,
        crate::Scope::Partner { .. } => None,
    })
}

pub fn is_empty(conn: &mut DbConnection) -> CoreResult<bool> {
    Ok(org_units::table
        .select(org_units::id)
        .first::<OrgUnitId>(conn)
        .optional()?
        .is_none())
}

/// An org unit's name, for showing beside something the caller may already see.
pub fn name_of(conn: &mut DbConnection, id: OrgUnitId) -> CoreResult<String> {
    org_units::table
        .find(id)
        .select(org_units::name)
        .first(conn)
        .optional()?
        .ok_or(CoreError::NotFound("org unit"))
}

/// Names of the given org units, for labelling rows the caller may already see.
pub fn names(
    conn: &mut DbConnection,
    ids: &[OrgUnitId],
) -> CoreResult<std::collections::HashMap<OrgUnitId, String>> {
    Ok(org_units::table
        .filter(org_units::id.eq_any(ids.to_vec()))
        .select((org_units::id, org_units::name))
        .load::<(OrgUnitId, String)>(conn)?
        .into_iter()
        .collect())
}
