//! Partner units (共建单位): property companies, schools, hospitals, elderly homes and others
//! paired with communities. Which communities a unit serves and which categories it handles
//! decide which pool tickets it may claim. Admins manage all units; a supervisor manages the
//! units serving its subtree, and only the pairings inside it.

use std::collections::{BTreeSet, HashMap};

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use crate::categories;
use crate::db::{truncate_to_micros, write_tx, DbConnection};
use crate::error::{CoreError, CoreResult, FieldError};
use crate::ids::{CategoryId, OrgUnitId, PartnerId};
use crate::pagination::{Page, PageRequest, Towards, Window};
use crate::schema::{
    categories as categories_t, org_units, partner_categories, partner_communities, partners, users,
};
use crate::scope::{can_see_org_unit, in_subtree, Actor, Scope};
use crate::types::{OrgKind, PartnerKind, Role};
use crate::validate;
use validator::Validate;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Partner {
    pub id: PartnerId,
    pub name: String,
    pub kind: PartnerKind,
    pub contact_email: String,
    pub contact_phone: Option<String>,
    pub active: bool,
    /// The communities it serves.
    pub communities: Vec<OrgUnitId>,
    /// The codes of the categories it handles.
    pub categories: Vec<String>,
    #[serde(serialize_with = "crate::time::utc")]
    pub created_at: NaiveDateTime,
    #[serde(serialize_with = "crate::time::utc")]
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Clone, Deserialize, Validate)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewPartner {
    #[validate(custom(function = "validate::not_blank"), length(max = 200))]
    pub name: String,
    pub kind: PartnerKind,
    #[validate(email)]
    pub contact_email: String,
    #[validate(custom(function = "crate::phone::check"))]
    pub contact_phone: Option<String>,
    #[serde(default)]
    pub communities: Vec<OrgUnitId>,
    #[serde(default)]
    pub categories: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Validate)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PartnerChange {
    #[validate(custom(function = "validate::not_blank"), length(max = 200))]
    pub name: Option<String>,
    pub kind: Option<PartnerKind>,
    #[validate(email)]
    pub contact_email: Option<String>,
    #[serde(default, deserialize_with = "validate::double_option")]
    #[validate(custom(function = "crate::phone::check"))]
    pub contact_phone: Option<Option<String>>,
    pub active: Option<bool>,
    /// Replaces the communities served (for a supervisor: those inside its subtree).
    pub communities: Option<Vec<OrgUnitId>>,
    /// Replaces the categories handled.
    pub categories: Option<Vec<String>>,
}

#[derive(Debug, Clone, Default)]
pub struct PartnerFilter {
    pub community_id: Option<OrgUnitId>,
    pub category: Option<String>,
    pub kind: Option<PartnerKind>,
    pub active: Option<bool>,
    /// Units whose name contains this.
    pub q: Option<String>,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = partners)]
struct PartnerRow {
    id: PartnerId,
    name: String,
    kind: PartnerKind,
    contact_email: String,
    contact_phone: Option<String>,
    active: bool,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
}

type PartnerFilterExpr = Box<
    dyn BoxableExpression<partners::table, crate::db::DbBackend, SqlType = diesel::sql_types::Bool>,
>;

/// The partner units an actor may see: all (admin), those serving a community in its
/// subtree (supervisor, grid member), or its own (unit staff).
fn visible_partners(scope: &Scope) -> Option<PartnerFilterExpr> {
    match scope {
        Scope::Everything => None,
        Scope::Subtree { path, .. } => Some(Box::new(
            partners::id.eq_any(
                partner_communities::table
                    .inner_join(org_units::table)
                    .filter(in_subtree(org_units::path, path))
                    .select(partner_communities::partner_id),
            ),
        )),
        Scope::Partner { partner } => Some(Box::new(partners::id.eq(*partner))),
    }
}

fn require_manager(actor: &Actor) -> CoreResult<()> {
    actor.require_role(
        &[Role::Admin, Role::Supervisor],
        "only an administrator or a supervisor manages partner units",
    )
}

/// Communities must exist, be communities, and lie inside the actor's scope.
fn check_communities(
    conn: &mut DbConnection,
    actor: &Actor,
    ids: &[OrgUnitId],
    errors: &mut Vec<FieldError>,
) -> CoreResult<()> {
    let kinds = crate::org::kinds_of(conn, ids)?;
    for (i, id) in ids.iter().enumerate() {
        let field = format!("communities[{i}]");
        match kinds.get(id) {
            Some(OrgKind::Community) if can_see_org_unit(conn, &actor.scope, *id)? => {}
            Some(OrgKind::Community) | None => errors.push(FieldError::new(
                field,
                "not_found",
                format!("no community {id} in your scope"),
            )),
            Some(kind) => errors.push(FieldError::new(
                field,
                "wrong_kind",
                format!("org unit {id} is a {kind}, not a community"),
            )),
        }
    }
    Ok(())
}

fn check_categories(
    conn: &mut DbConnection,
    codes: &[String],
    errors: &mut Vec<FieldError>,
) -> CoreResult<HashMap<String, CategoryId>> {
    let found = categories::ids_by_code(conn, codes)?;
    for (i, code) in codes.iter().enumerate() {
        if !found.contains_key(code) {
            errors.push(FieldError::new(
                format!("categories[{i}]"),
                "not_found",
                format!("no category {code:?}"),
            ));
        }
    }
    Ok(found)
}

pub fn create(
    conn: &mut DbConnection,
    actor: &Actor,
    input: &NewPartner,
    now: NaiveDateTime,
) -> CoreResult<Partner> {
    require_manager(actor)?;
    let mut errors = validate::fields(input);
    check_communities(conn, actor, &input.communities, &mut errors)?;
    if actor.role == Role::Supervisor && input.communities.is_empty() {
        errors.push(FieldError::new(
            "communities",
            "required",
            "name at least one community of your subtree",
        ));
    }
    let category_ids = check_categories(conn, &input.categories, &mut errors)?;
    if !errors.is_empty() {
        return Err(CoreError::Invalid(errors));
    }
    let now = truncate_to_micros(now);
    let id = write_tx(conn, |conn| -> CoreResult<PartnerId> {
        let taken = partners::table
            .filter(partners::name.eq(input.name.trim()))
            .select(partners::id)
            .first::<PartnerId>(conn)
            .optional()?;
        if taken.is_some() {
            return Err(CoreError::conflict(format!(
                "a partner unit named {:?} exists",
                input.name.trim()
            )));
        }
        let id = diesel::insert_into(partners::table)
            .values((
                partners::name.eq(input.name.trim()),
                partners::kind.eq(input.kind),
                partners::contact_email.eq(input.contact_email.trim()),
                partners::contact_phone
                    .eq(crate::phone::normalised(input.contact_phone.as_deref())),
                partners::active.eq(true),
                partners::created_at.eq(now),
                partners::updated_at.eq(now),
            ))
            .returning(partners::id)
            .get_result(conn)?;
        set_communities(conn, id, &input.communities)?;
        set_categories(
            conn,
            id,
            &category_ids.values().copied().collect::<Vec<_>>(),
        )?;
        Ok(id)
    })?;
    get(conn, actor, id)
}

fn set_communities(
    conn: &mut DbConnection,
    id: PartnerId,
    communities: &[OrgUnitId],
) -> CoreResult<()> {
    diesel::delete(partner_communities::table.filter(partner_communities::partner_id.eq(id)))
        .execute(conn)?;
    for community in communities.iter().collect::<BTreeSet<_>>() {
        diesel::insert_into(partner_communities::table)
            .values((
                partner_communities::partner_id.eq(id),
                partner_communities::org_unit_id.eq(*community),
            ))
            .execute(conn)?;
    }
    Ok(())
}

fn set_categories(
    conn: &mut DbConnection,
    id: PartnerId,
    category_ids: &[CategoryId],
) -> CoreResult<()> {
    diesel::delete(partner_categories::table.filter(partner_categories::partner_id.eq(id)))
        .execute(conn)?;
    for category in category_ids.iter().collect::<BTreeSet<_>>() {
        diesel::insert_into(partner_categories::table)
            .values((
                partner_categories::partner_id.eq(id),
                partner_categories::category_id.eq(*category),
            ))
            .execute(conn)?;
    }
    Ok(())
}

pub fn update(
    conn: &mut DbConnection,
    actor: &Actor,
    id: PartnerId,
    change: &PartnerChange,
    now: NaiveDateTime,
) -> CoreResult<Partner> {
    require_manager(actor)?;
    let current = get(conn, actor, id)?;
    // A unit's identity (name, contacts, kind, active, categories) is shared by every
    // district it serves: a supervisor changes it only when all of the unit's communities
    // are in its subtree. Its own pairings it may always change.
    let identity_changes = change.name.is_some()
        || change.kind.is_some()
        || change.contact_email.is_some()
        || change.contact_phone.is_some()
        || change.active.is_some()
        || change.categories.is_some();
    if identity_changes && !actor.is_admin() {
        for community in &current.communities {
            if !can_see_org_unit(conn, &actor.scope, *community)? {
                return Err(CoreError::Forbidden(
                    "this partner unit also serves communities outside your area: its name, \
                     contacts, kind, categories and active flag are changed by an administrator \
                     (you may change its pairings with your communities)",
                ));
            }
        }
    }
    let mut errors = validate::fields(change);
    let communities = match &change.communities {
        None => None,
        Some(wanted) => {
            check_communities(conn, actor, wanted, &mut errors)?;
            // Pairings outside a supervisor's subtree are not its to change.
            let mut kept = Vec::new();
            for community in &current.communities {
                if !can_see_org_unit(conn, &actor.scope, *community)? {
                    kept.push(*community);
                }
            }
            kept.extend(wanted.iter().copied());
            Some(kept)
        }
    };
    let category_ids = match &change.categories {
        None => None,
        Some(codes) => Some(check_categories(conn, codes, &mut errors)?),
    };
    if !errors.is_empty() {
        return Err(CoreError::Invalid(errors));
    }
    let now = truncate_to_micros(now);
    write_tx(conn, |conn| -> CoreResult<()> {
        if let Some(name) = &change.name {
            let other = partners::table
                .filter(partners::name.eq(name.trim()).and(partners::id.ne(id)))
                .select(partners::id)
                .first::<PartnerId>(conn)
                .optional()?;
            if other.is_some() {
                return Err(CoreError::conflict(format!(
                    "a partner unit named {:?} exists",
                    name.trim()
                )));
            }
        }
        diesel::update(partners::table.find(id))
            .set((
                partners::name.eq(change
                    .name
                    .as_deref()
                    .map(str::trim)
                    .unwrap_or(&current.name)),
                partners::kind.eq(change.kind.unwrap_or(current.kind)),
                partners::contact_email.eq(change
                    .contact_email
                    .as_deref()
                    .map(str::trim)
                    .unwrap_or(&current.contact_email)),
                partners::contact_phone.eq(match &change.contact_phone {
                    Some(given) => crate::phone::normalised(given.as_deref()),
                    None => current.contact_phone.clone(),
                }),
                partners::active.eq(change.active.unwrap_or(current.active)),
                partners::updated_at.eq(now),
            ))
            .execute(conn)?;
        if let Some(communities) = &communities {
            set_communities(conn, id, communities)?;
        }
        if let Some(ids) = &category_ids {
            set_categories(conn, id, &ids.values().copied().collect::<Vec<_>>())?;
        }
        Ok(())
    })?;
    get(conn, actor, id)
}

/// A unit's name and who its mail goes to: its contact address and its active staff's.
pub fn recipients(
    conn: &mut DbConnection,
    partner: PartnerId,
) -> CoreResult<(String, Vec<String>)> {
    let (name, contact): (String, String) = partners::table
        .find(partner)
        .select((partners::name, partners::contact_email))
        .first(conn)?;
    let mut recipients: BTreeSet<String> = users::table
        .filter(users::partner_id.eq(partner).and(users::active.eq(true)))
        .select(users::email)
        .load::<Option<String>>(conn)?
        .into_iter()
        .flatten()
        .map(|e| e.to_lowercase())
        .collect();
    recipients.insert(contact.to_lowercase());
    Ok((name, recipients.into_iter().collect()))
}

pub fn get(conn: &mut DbConnection, actor: &Actor, id: PartnerId) -> CoreResult<Partner> {
    let mut query = partners::table
        .filter(partners::id.eq(id))
        .select(PartnerRow::as_select())
        .into_boxed();
    if let Some(filter) = visible_partners(&actor.scope) {
        query = query.filter(filter);
    }
    let row = query
        .first(conn)
        .optional()?
        .ok_or(CoreError::NotFound("partner unit"))?;
    Ok(with_pairings(conn, vec![row])?.remove(0))
}

type PartnerQuery = partners::BoxedQuery<'static, crate::db::DbBackend>;

/// The partner units the actor sees that pass `filter`.
fn filtered(actor: &Actor, filter: &PartnerFilter) -> PartnerQuery {
    let mut query = partners::table.into_boxed();
    if let Some(scope_filter) = visible_partners(&actor.scope) {
        query = query.filter(scope_filter);
    }
    if let Some(community) = filter.community_id {
        query = query.filter(
            partners::id.eq_any(
                partner_communities::table
                    .filter(partner_communities::org_unit_id.eq(community))
                    .select(partner_communities::partner_id),
            ),
        );
    }
    if let Some(code) = &filter.category {
        query = query.filter(
            partners::id.eq_any(
                partner_categories::table
                    .inner_join(categories_t::table)
                    .filter(categories_t::code.eq(code.clone()))
                    .select(partner_categories::partner_id),
            ),
        );
    }
    if let Some(kind) = filter.kind {
        query = query.filter(partners::kind.eq(kind));
    }
    if let Some(active) = filter.active {
        query = query.filter(partners::active.eq(active));
    }
    if let Some(pattern) = validate::contains_pattern(filter.q.as_deref()) {
        query = query.filter(partners::name.like(pattern).escape('\\'));
    }
    query
}

pub fn list(
    conn: &mut DbConnection,
    actor: &Actor,
    filter: &PartnerFilter,
    page: PageRequest,
) -> CoreResult<Page<Partner>> {
    Ok(browse(conn, actor, filter, Towards::Next(page.after), page.limit)?.into_page())
}

/// A page of the partner units either way from a cursor, in id order.
pub fn browse(
    conn: &mut DbConnection,
    actor: &Actor,
    filter: &PartnerFilter,
    towards: Towards,
    limit: i64,
) -> CoreResult<Window<Partner>> {
    let rows = crate::walk_by_id!(filtered(actor, filter), partners::id, PartnerId, towards)
        .select(PartnerRow::as_select())
        .limit(limit + 1)
        .load(conn)?;
    Window::from_rows(rows, towards, limit, |r| r.id.0)
        .try_map_items(|rows| with_pairings(conn, rows))
}

/// How many partner units the actor sees pass `filter`.
pub fn count(conn: &mut DbConnection, actor: &Actor, filter: &PartnerFilter) -> CoreResult<i64> {
    Ok(filtered(actor, filter).count().get_result(conn)?)
}

/// Names of the given partner units, for labelling rows the caller may already see.
pub fn names(conn: &mut DbConnection, ids: &[PartnerId]) -> CoreResult<HashMap<PartnerId, String>> {
    Ok(partners::table
        .filter(partners::id.eq_any(ids.to_vec()))
        .select((partners::id, partners::name))
        .load::<(PartnerId, String)>(conn)?
        .into_iter()
        .collect())
}

fn with_pairings(conn: &mut DbConnection, rows: Vec<PartnerRow>) -> CoreResult<Vec<Partner>> {
    let ids: Vec<PartnerId> = rows.iter().map(|r| r.id).collect();
    let mut communities: HashMap<PartnerId, Vec<OrgUnitId>> = HashMap::new();
    for (pid, oid) in partner_communities::table
        .filter(partner_communities::partner_id.eq_any(&ids))
        .order((
            partner_communities::partner_id,
            partner_communities::org_unit_id,
        ))
        .select((
            partner_communities::partner_id,
            partner_communities::org_unit_id,
        ))
        .load::<(PartnerId, OrgUnitId)>(conn)?
    {
        communities.entry(pid).or_default().push(oid);
    }
    let mut codes: HashMap<PartnerId, Vec<String>> = HashMap::new();
    for (pid, code) in partner_categories::table
        .inner_join(categories_t::table)
        .filter(partner_categories::partner_id.eq_any(&ids))
        .order((partner_categories::partner_id, categories_t::code))
        .select((partner_categories::partner_id, categories_t::code))
        .load::<(PartnerId, String)>(conn)?
    {
        codes.entry(pid).or_default().push(code);
    }
    Ok(rows
        .into_iter()
        .map(|r| Partner {
            communities: communities.remove(&r.id).unwrap_or_default(),
            categories: codes.remove(&r.id).unwrap_or_default(),
            id: r.id,
            name: r.name,
            kind: r.kind,
            contact_email: r.contact_email,
            contact_phone: r.contact_phone,
            active: r.active,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
        .collect())
}

/// A partner unit's name, for showing beside something the caller may already see.
pub fn name_of(conn: &mut DbConnection, id: PartnerId) -> CoreResult<String> {
    partners::table
        .find(id)
        .select(partners::name)
        .first(conn)
        .optional()?
        .ok_or(CoreError::NotFound("partner unit"))
}
