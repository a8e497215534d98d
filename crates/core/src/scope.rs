//! Who sees what, in one place. A supervisor sees its node's subtree, a grid member its
//! grid's community, unit staff their own unit and the communities it serves; admins see
//! everything. Outside one's scope a resource does not exist (the API answers 404).

use diesel::prelude::*;

use crate::db::DbConnection;
use crate::error::{CoreError, CoreResult};
use crate::ids::{OrgUnitId, PartnerId, UserId};
use crate::schema::{org_units, partner_communities, users};
use crate::types::{OrgKind, Role};

/// The signed-in account, loaded fresh for every request so that a disabled or
/// re-scoped account takes effect at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub user_id: UserId,
    pub username: String,
    pub role: Role,
    pub scope: Scope,
    /// Bumped by every password change or reset; a token of an older generation is no
    /// longer a session (`Actor::for_token`).
    pub token_generation: i32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    Everything,
    /// An org node and everything below it; `path` is the node's materialised path.
    Subtree {
        root: OrgUnitId,
        path: String,
    },
    /// A partner unit's staff.
    Partner {
        partner: PartnerId,
    },
}

impl Scope {
    /// The partner unit of a unit's staff; `None` for everyone else.
    pub fn partner(&self) -> Option<PartnerId> {
        match self {
            Scope::Partner { partner } => Some(*partner),
            _ => None,
        }
    }
}

impl Actor {
    pub fn load(conn: &mut DbConnection, user_id: UserId) -> CoreResult<Actor> {
        type AccountRow = (
            String,
            Role,
            Option<OrgUnitId>,
            Option<PartnerId>,
            bool,
            i32,
            Option<(OrgKind, String, Option<OrgUnitId>)>,
        );
        // One query: the account and its org unit.
        let row: Option<AccountRow> = users::table
            .left_join(org_units::table)
            .filter(users::id.eq(user_id))
            .select((
                users::username,
                users::role,
                users::org_unit_id,
                users::partner_id,
                users::active,
                users::token_generation,
                (org_units::kind, org_units::path, org_units::parent_id).nullable(),
            ))
            .first(conn)
            .optional()?;
        let Some((username, role, org_unit_id, partner_id, active, token_generation, node_row)) =
            row
        else {
            return Err(CoreError::Unauthenticated("the account no longer exists"));
        };
        if !active {
            return Err(CoreError::Unauthenticated("the account is disabled"));
        }
        let scope = match role {
            Role::Admin => Scope::Everything,
            Role::UnitStaff => Scope::Partner {
                partner: partner_id.ok_or(CoreError::internal(format!(
                    "unit staff {username} has no partner unit"
                )))?,
            },
            Role::Supervisor | Role::GridMember => {
                let (node, (kind, path, parent)) = org_unit_id
                    .zip(node_row)
                    .ok_or(CoreError::internal(format!("{username} has no org unit")))?;
                match (role, kind, parent) {
                    // A grid member works the whole community its grid belongs to: the
                    // grid's path less its own id.
                    (Role::GridMember, OrgKind::Grid, Some(community)) => {
                        let trimmed = path.trim_end_matches('/');
                        let cut = trimmed.rfind('/').map_or(0, |i| i + 1);
                        Scope::Subtree {
                            root: community,
                            path: trimmed[..cut].to_owned(),
                        }
                    }
                    _ => Scope::Subtree { root: node, path },
                }
            }
        };
        Ok(Actor {
            user_id,
            username,
            role,
            scope,
            token_generation,
        })
    }

    /// The account a token names, if the token is still a session: issued under the
    /// account's current generation, i.e. before no password change or reset since.
    pub fn for_token(
        conn: &mut DbConnection,
        user_id: UserId,
        generation: i32,
        session: Option<&str>,
    ) -> CoreResult<Actor> {
        let actor = Self::load(conn, user_id)?;
        actor.admits(generation)?;
        if let Some(sid) = session {
            still_open(session_ended(conn, sid)?)?;
        }
        Ok(actor)
    }

    /// Whether a token issued under `generation` is still this account's.
    pub fn admits(&self, generation: i32) -> CoreResult<()> {
        if self.token_generation != generation {
            return Err(CoreError::Unauthenticated(
                "the password has changed since this sign-in; sign in again",
            ));
        }
        Ok(())
    }

    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }

    pub fn require_role(&self, allowed: &[Role], what: &'static str) -> CoreResult<()> {
        if allowed.contains(&self.role) {
            Ok(())
        } else {
            Err(CoreError::Forbidden(what))
        }
    }
}

/// `[lower, upper)` bounds of every path under `path` (ids are digits, '/' sorts just
/// below '0'), so a subtree is an index range scan on both backends.
pub fn subtree_bounds(path: &str) -> (String, String) {
    let mut upper = path.trim_end_matches('/').to_owned();
    upper.push('0');
    (path.to_owned(), upper)
}

/// `path` lies in the subtree at `root` (the same test as `in_subtree`, in memory).
pub fn path_in_subtree(path: &str, root: &str) -> bool {
    let (lower, upper) = subtree_bounds(root);
    path >= lower.as_str() && path < upper.as_str()
}

/// `column` (a materialised path) lies in the subtree at `path`: an index range scan.
pub fn in_subtree<C>(
    column: C,
    path: &str,
) -> diesel::dsl::And<diesel::dsl::GtEq<C, String>, diesel::dsl::Lt<C, String>>
where
    C: ExpressionMethods + Copy + diesel::Expression<SqlType = diesel::sql_types::Text>,
{
    let (lower, upper) = subtree_bounds(path);
    column.ge(lower).and(column.lt(upper))
}

type OrgFilter = Box<
    dyn BoxableExpression<
        org_units::table,
        crate::db::DbBackend,
        SqlType = diesel::sql_types::Bool,
    >,
>;

/// The org units an actor may see, as a filter on `org_units`.
pub fn visible_org_units(scope: &Scope) -> Option<OrgFilter> {
    match scope {
        Scope::Everything => None,
        Scope::Subtree { path, .. } => Some(Box::new(in_subtree(org_units::path, path))),
        Scope::Partner { partner } => Some(Box::new(
            org_units::id.eq_any(
                partner_communities::table
                    .filter(partner_communities::partner_id.eq(*partner))
                    .select(partner_communities::org_unit_id),
            ),
        )),
    }
}

/// Is this org unit inside the actor's scope?
pub fn can_see_org_unit(conn: &mut DbConnection, scope: &Scope, id: OrgUnitId) -> CoreResult<bool> {
    let mut query = org_units::table
        .filter(org_units::id.eq(id))
        .select(org_units::id)
        .into_boxed();
    if let Some(filter) = visible_org_units(scope) {
        query = query.filter(filter);
    }
    Ok(query.first::<OrgUnitId>(conn).optional()?.is_some())
}

/// The materialised path of an org unit inside the actor's scope, for subtree queries;
/// outside it (or unknown) the unit does not exist. One query.
pub fn visible_path(conn: &mut DbConnection, scope: &Scope, id: OrgUnitId) -> CoreResult<String> {
    let mut query = org_units::table
        .filter(org_units::id.eq(id))
        .select(org_units::path)
        .into_boxed();
    if let Some(filter) = visible_org_units(scope) {
        query = query.filter(filter);
    }
    query
        .first::<String>(conn)
        .optional()?
        .ok_or(CoreError::NotFound("org unit"))
}

/// A session's token is refused once the session was signed out.
pub fn still_open(ended: bool) -> CoreResult<()> {
    if ended {
        return Err(CoreError::Unauthenticated(
            "this session was signed out; sign in again",
        ));
    }
    Ok(())
}

/// Whether a session was signed out.
pub fn session_ended(conn: &mut DbConnection, sid: &str) -> CoreResult<bool> {
    use crate::schema::ended_sessions;
    Ok(ended_sessions::table
        .find(sid)
        .select(ended_sessions::sid)
        .first::<String>(conn)
        .optional()?
        .is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subtree_bounds_hold_descendants_and_exclude_siblings_with_longer_ids() {
        let (lo, hi) = subtree_bounds("/1/4/");
        for inside in ["/1/4/", "/1/4/9/", "/1/4/9/123/"] {
            assert!(inside >= lo.as_str() && inside < hi.as_str(), "{inside}");
            assert!(path_in_subtree(inside, "/1/4/"), "{inside}");
        }
        for outside in ["/1/40/", "/1/41/2/", "/1/3/", "/1/"] {
            assert!(
                !(outside >= lo.as_str() && outside < hi.as_str()),
                "{outside}"
            );
            assert!(!path_in_subtree(outside, "/1/4/"), "{outside}");
        }
    }
}
