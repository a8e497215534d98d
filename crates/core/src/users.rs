//! Accounts: creation with a role and a scope, argon2 password hashes, login with a
//! per-account slow-down after repeated failures, and admin changes (disable, re-scope).

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use chrono::NaiveDateTime;
use diesel::prelude::*;
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::db::{write_tx, DbConnection};
use crate::error::{CoreError, CoreResult, FieldError};
use crate::ids::{OrgUnitId, PartnerId, UserId};
use crate::pagination::{Page, PageRequest, Towards, Window};
use crate::schema::{org_units, partners, users};
use crate::scope::{Actor, Scope};
use crate::secrets::random_secret;
use crate::types::{OrgKind, Role};
use crate::validate;
use validator::Validate;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Queryable, Selectable)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[diesel(table_name = users)]
pub struct User {
    pub id: UserId,
    pub username: String,
    pub display_name: String,
    pub email: Option<String>,
    pub role: Role,
    pub org_unit_id: Option<OrgUnitId>,
    pub partner_id: Option<PartnerId>,
    pub active: bool,
    #[serde(serialize_with = "crate::time::utc")]
    pub created_at: NaiveDateTime,
    #[serde(serialize_with = "crate::time::utc")]
    pub updated_at: NaiveDateTime,
    /// What a token issued now carries; see `Actor::for_token`.
    #[serde(skip)]
    pub token_generation: i32,
}

/// A new account. `org_unit_id` scopes supervisors (a city, district, street or
/// community) and grid members (a grid); `partner_id` scopes unit staff.
#[derive(Debug, Clone, Deserialize, Validate)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewUser {
    #[validate(length(min = 3, max = 64))]
    pub username: String,
    #[validate(custom(function = "validate::not_blank"), length(max = 100))]
    pub display_name: String,
    #[validate(email)]
    pub email: Option<String>,
    #[validate(length(min = 10, max = 256))]
    pub password: String,
    pub role: Role,
    pub org_unit_id: Option<OrgUnitId>,
    pub partner_id: Option<PartnerId>,
}

/// An admin's change to an account; absent fields stay as they are. Scope fields may be
/// set to null explicitly when the role changes.
#[derive(Debug, Clone, Default, Deserialize, Validate)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UserChange {
    #[validate(custom(function = "validate::not_blank"), length(max = 100))]
    pub display_name: Option<String>,
    #[serde(default, deserialize_with = "validate::double_option")]
    #[validate(email)]
    pub email: Option<Option<String>>,
    #[validate(length(min = 10, max = 256))]
    pub password: Option<String>,
    pub role: Option<Role>,
    #[serde(default, deserialize_with = "validate::double_option")]
    pub org_unit_id: Option<Option<OrgUnitId>>,
    #[serde(default, deserialize_with = "validate::double_option")]
    pub partner_id: Option<Option<PartnerId>>,
    pub active: Option<bool>,
}

#[derive(Insertable)]
#[diesel(table_name = users)]
struct UserRow<'a> {
    username: &'a str,
    display_name: &'a str,
    email: Option<&'a str>,
    password_hash: &'a str,
    role: Role,
    org_unit_id: Option<OrgUnitId>,
    partner_id: Option<PartnerId>,
    active: bool,
    failed_logins: i32,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
}

/// Usernames are compared without ASCII case.
pub fn normalize_username(username: &str) -> String {
    username.trim().to_lowercase()
}

pub fn hash_password(password: &str) -> CoreResult<String> {
    let salt = SaltString::encode_b64(&rand::rng().random::<[u8; 16]>())
        .map_err(|e| CoreError::internal_because("salt", e))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| CoreError::internal_because("password hash", e))
}

/// Checks a password against its argon2 hash: slow on purpose (about 19 MiB and tens of
/// milliseconds); callers bound how many run at once and never hold a connection meanwhile.
pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

/// `verify_password` into memory the caller keeps: a thread that checks passwords all day
/// reuses one ~19 MiB buffer instead of asking the allocator for one per check (which the
/// allocator then keeps per thread), so the process's memory stays flat under a flood.
pub fn verify_password_with(memory: &mut Vec<argon2::Block>, password: &str, hash: &str) -> bool {
    use argon2::{Algorithm, Params, Version};
    let mut check = || -> Option<bool> {
        let parsed = PasswordHash::new(hash).ok()?;
        let params = Params::try_from(&parsed).ok()?;
        let algorithm = Algorithm::try_from(parsed.algorithm).ok()?;
        let version = parsed
            .version
            .map(Version::try_from)
            .transpose()
            .ok()?
            .unwrap_or_default();
        let expected = parsed.hash?;
        let mut salt = [0u8; 64];
        let salt = parsed.salt?.decode_b64(&mut salt).ok()?;
        memory.resize(params.block_count(), argon2::Block::default());
        let mut out = vec![0u8; expected.len()];
        Argon2::new(algorithm, version, params)
            .hash_password_into_with_memory(password.as_bytes(), salt, &mut out, &mut memory[..])
            .ok()?;
        // `Output` compares in constant time.
        Some(argon2::password_hash::Output::new(&out).ok()? == expected)
    };
    check().unwrap_or(false)
}

fn check_username(username: &str, errors: &mut Vec<FieldError>) {
    if !username
        .chars()
        .all(|c| c.is_alphanumeric() || matches!(c, '.' | '_' | '-'))
    {
        errors.push(FieldError::new(
            "username",
            "invalid",
            "letters, digits, '.', '_' and '-' only",
        ));
    }
}

/// The scope an account of `role` needs, checked against the tree.
fn check_scope(
    conn: &mut DbConnection,
    role: Role,
    org_unit_id: Option<OrgUnitId>,
    partner_id: Option<PartnerId>,
    errors: &mut Vec<FieldError>,
) -> CoreResult<()> {
    let org_kind: Option<OrgKind> = match org_unit_id {
        Some(id) => {
            let kind = org_units::table
                .find(id)
                .select(org_units::kind)
                .first(conn)
                .optional()?;
            if kind.is_none() {
                errors.push(FieldError::new(
                    "org_unit_id",
                    "not_found",
                    "no such org unit",
                ));
                return Ok(());
            }
            kind
        }
        None => None,
    };
    if let Some(id) = partner_id {
        let exists = partners::table
            .find(id)
            .select(partners::id)
            .first::<PartnerId>(conn)
            .optional()?
            .is_some();
        if !exists {
            errors.push(FieldError::new(
                "partner_id",
                "not_found",
                "no such partner unit",
            ));
            return Ok(());
        }
    }
    match role {
        Role::UnitStaff => {
            if partner_id.is_none() {
                errors.push(FieldError::new(
                    "partner_id",
                    "required",
                    "unit staff belong to a partner unit",
                ));
            }
            if org_unit_id.is_some() {
                errors.push(FieldError::new(
                    "org_unit_id",
                    "not_allowed",
                    "unit staff are scoped by their partner unit",
                ));
            }
        }
        Role::GridMember => {
            if org_kind != Some(OrgKind::Grid) {
                errors.push(FieldError::new(
                    "org_unit_id",
                    "wrong_kind",
                    "a grid member is scoped to a grid",
                ));
            }
        }
        Role::Supervisor => match org_kind {
            None => errors.push(FieldError::new(
                "org_unit_id",
                "required",
                "a supervisor is scoped to an org unit",
            )),
            Some(OrgKind::Grid) => errors.push(FieldError::new(
                "org_unit_id",
                "wrong_kind",
                "a supervisor is scoped to a city, district, street or community",
            )),
            Some(_) => {}
        },
        Role::Admin => {}
    }
    if role != Role::UnitStaff && partner_id.is_some() {
        errors.push(FieldError::new(
            "partner_id",
            "not_allowed",
            "only unit staff belong to a partner unit",
        ));
    }
    Ok(())
}

/// Creates an account without an acting user: for the command line and first start.
pub fn create_unchecked(
    conn: &mut DbConnection,
    input: &NewUser,
    now: NaiveDateTime,
) -> CoreResult<User> {
    let username = normalize_username(&input.username);
    let mut errors = validate::fields(input);
    check_username(&username, &mut errors);
    check_scope(
        conn,
        input.role,
        input.org_unit_id,
        input.partner_id,
        &mut errors,
    )?;
    if !errors.is_empty() {
        return Err(CoreError::Invalid(errors));
    }
    let hash = hash_password(&input.password)?;
    let now = crate::db::truncate_to_micros(now);
    write_tx(conn, |conn| {
        let taken = users::table
            .filter(users::username.eq(&username))
            .select(users::id)
            .first::<UserId>(conn)
            .optional()?
            .is_some();
        if taken {
            return Err(CoreError::Conflict {
                message: format!("username {username:?} is taken"),
                current: None,
            });
        }
        diesel::insert_into(users::table)
            .values(UserRow {
                username: &username,
                display_name: input.display_name.trim(),
                email: input.email.as_deref().map(str::trim),
                password_hash: &hash,
                role: input.role,
                org_unit_id: input.org_unit_id,
                partner_id: input.partner_id,
                active: true,
                failed_logins: 0,
                created_at: now,
                updated_at: now,
            })
            .execute(conn)?;
        Ok(users::table
            .filter(users::username.eq(&username))
            .select(User::as_select())
            .first(conn)?)
    })
}

pub fn create(
    conn: &mut DbConnection,
    actor: &Actor,
    input: &NewUser,
    now: NaiveDateTime,
) -> CoreResult<User> {
    require_admin(actor)?;
    create_unchecked(conn, input, now)
}

fn require_admin(actor: &Actor) -> CoreResult<()> {
    actor.require_role(&[Role::Admin], "only an administrator manages accounts")
}

pub fn get(conn: &mut DbConnection, actor: &Actor, id: UserId) -> CoreResult<User> {
    if !actor.is_admin() && actor.user_id != id {
        return Err(CoreError::NotFound("user"));
    }
    users::table
        .find(id)
        .select(User::as_select())
        .first(conn)
        .optional()?
        .ok_or(CoreError::NotFound("user"))
}

#[derive(Debug, Clone, Default)]
pub struct UserFilter {
    pub role: Option<Role>,
    pub org_unit_id: Option<OrgUnitId>,
    pub partner_id: Option<PartnerId>,
    pub active: Option<bool>,
    /// Accounts whose username or name contains this.
    pub q: Option<String>,
}

type UserQuery = users::BoxedQuery<'static, crate::db::DbBackend>;

/// The accounts that pass `filter` (an administrator's read).
fn filtered(filter: &UserFilter) -> UserQuery {
    let mut query = users::table.into_boxed();
    if let Some(role) = filter.role {
        query = query.filter(users::role.eq(role));
    }
    if let Some(org) = filter.org_unit_id {
        query = query.filter(users::org_unit_id.eq(org));
    }
    if let Some(partner) = filter.partner_id {
        query = query.filter(users::partner_id.eq(partner));
    }
    if let Some(active) = filter.active {
        query = query.filter(users::active.eq(active));
    }
    if let Some(pattern) = validate::contains_pattern(filter.q.as_deref()) {
        query = query.filter(
            users::username
                .like(pattern.clone())
                .escape('\\')
                .or(users::display_name.like(pattern).escape('\\')),
        );
    }
    query
}

/// A page of the accounts either way from a cursor, in id order.
pub fn browse(
    conn: &mut DbConnection,
    actor: &Actor,
    filter: &UserFilter,
    towards: Towards,
    limit: i64,
) -> CoreResult<Window<User>> {
    require_admin(actor)?;
    let rows = crate::walk_by_id!(filtered(filter), users::id, UserId, towards)
        .select(User::as_select())
        .limit(limit + 1)
        .load(conn)?;
    Ok(Window::from_rows(rows, towards, limit, |u| u.id.0))
}

/// How many accounts pass `filter`.
pub fn count(conn: &mut DbConnection, actor: &Actor, filter: &UserFilter) -> CoreResult<i64> {
    require_admin(actor)?;
    Ok(filtered(filter).count().get_result(conn)?)
}

pub fn list(
    conn: &mut DbConnection,
    actor: &Actor,
    filter: &UserFilter,
    page: PageRequest,
) -> CoreResult<Page<User>> {
    Ok(browse(conn, actor, filter, Towards::Next(page.after), page.limit)?.into_page())
}

pub fn update(
    conn: &mut DbConnection,
    actor: &Actor,
    id: UserId,
    change: &UserChange,
    now: NaiveDateTime,
) -> CoreResult<User> {
    require_admin(actor)?;
    let now = crate::db::truncate_to_micros(now);
    let mut errors = validate::fields(change);
    if id == actor.user_id
        && (change.active == Some(false) || change.role.is_some_and(|r| r != Role::Admin))
    {
        errors.push(FieldError::new(
            "active",
            "self",
            "an administrator cannot disable or demote their own account",
        ));
    }
    if id == actor.user_id && change.password.is_some() {
        // One's own password changes only with the current one (POST /me/password), so a
        // stolen administrator token cannot take the account over.
        errors.push(FieldError::new(
            "password",
            "self",
            "change your own password with POST /api/v1/me/password, giving the current one",
        ));
    }
    if !errors.is_empty() {
        return Err(CoreError::Invalid(errors));
    }
    apply(conn, id, change, now)
}

/// Writes a checked change: fields left out stay, the scope is checked against the
/// tree, and a new password ends the account's sessions.
pub(crate) fn apply(
    conn: &mut DbConnection,
    id: UserId,
    change: &UserChange,
    now: NaiveDateTime,
) -> CoreResult<User> {
    let hash = change.password.as_deref().map(hash_password).transpose()?;
    write_tx(conn, |conn| {
        let current = users::table
            .find(id)
            .select(User::as_select())
            .first(conn)
            .optional()?
            .ok_or(CoreError::NotFound("user"))?;
        let role = change.role.unwrap_or(current.role);
        let org_unit_id = change.org_unit_id.unwrap_or(current.org_unit_id);
        let partner_id = change.partner_id.unwrap_or(current.partner_id);
        let mut errors = Vec::new();
        check_scope(conn, role, org_unit_id, partner_id, &mut errors)?;
        if !errors.is_empty() {
            return Err(CoreError::Invalid(errors));
        }
        diesel::update(users::table.find(id))
            .set((
                users::display_name.eq(change
                    .display_name
                    .as_deref()
                    .map(str::trim)
                    .unwrap_or(&current.display_name)),
                users::email.eq(change.email.clone().unwrap_or(current.email.clone())),
                users::role.eq(role),
                users::org_unit_id.eq(org_unit_id),
                users::partner_id.eq(partner_id),
                users::active.eq(change.active.unwrap_or(current.active)),
                users::updated_at.eq(now),
            ))
            .execute(conn)?;
        if let Some(hash) = &hash {
            set_password(conn, id, hash, now)?;
        }
        Ok(users::table
            .find(id)
            .select(User::as_select())
            .first(conn)?)
    })
}

/// Stores a new password hash and ends every session of the account: tokens issued
/// before carry the old generation. A throttle from failed sign-ins is lifted.
pub(crate) fn set_password(
    conn: &mut DbConnection,
    id: UserId,
    hash: &str,
    now: NaiveDateTime,
) -> CoreResult<()> {
    diesel::update(users::table.find(id))
        .set((
            users::password_hash.eq(hash),
            users::token_generation.eq(users::token_generation + 1),
            users::failed_logins.eq(0),
            users::locked_until.eq(None::<NaiveDateTime>),
            users::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

/// A password made for someone (a new account's, a reset), to be handed over and then
/// changed by its owner.
pub fn generated_password() -> String {
    random_secret(16)
}

/// A person's change of their own password.
#[derive(Debug, Clone, Deserialize, Validate)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({"current_password": "…", "new_password": "a longer passphrase"})))]
pub struct PasswordChange {
    pub current_password: String,
    #[validate(length(min = 10, max = 256))]
    pub new_password: String,
}

/// A hash of a random password: verified against when the username is unknown, so that a
/// wrong username costs as long as a wrong password.
pub(crate) fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| hash_password(&random_secret(24)).unwrap_or_default())
}

/// Does any account exist yet? (First start decides about the bootstrap admin from it.)
pub fn any_exist(conn: &mut DbConnection) -> CoreResult<bool> {
    Ok(users::table
        .select(users::id)
        .first::<UserId>(conn)
        .optional()?
        .is_some())
}

impl Actor {
    /// A scope description for responses (`/auth/login`, `/me`).
    pub fn scope_label(&self) -> serde_json::Value {
        match &self.scope {
            Scope::Everything => serde_json::json!({"kind": "everything"}),
            Scope::Subtree { root, .. } => {
                serde_json::json!({"kind": "org_unit", "org_unit_id": root})
            }
            Scope::Partner { partner } => {
                serde_json::json!({"kind": "partner", "partner_id": partner})
            }
        }
    }
}

/// Display names of the given accounts (e.g. the people in a ticket's timeline).
pub fn display_names(
    conn: &mut DbConnection,
    ids: &[UserId],
) -> CoreResult<std::collections::HashMap<i64, String>> {
    let mut ids = ids.to_vec();
    ids.sort_by_key(|u| u.0);
    ids.dedup();
    Ok(users::table
        .filter(users::id.eq_any(ids))
        .select((users::id, users::display_name))
        .load::<(UserId, String)>(conn)?
        .into_iter()
        .map(|(id, name)| (id.0, name))
        .collect())
}

/// Ends one session (signing out): its token is refused from now on, though other
/// sessions of the account go on. Kept until the token would have expired anyway.
pub fn end_session(
    conn: &mut DbConnection,
    actor: &Actor,
    sid: &str,
    expires_at: NaiveDateTime,
    now: NaiveDateTime,
) -> CoreResult<()> {
    use crate::schema::ended_sessions;
    let already = crate::scope::session_ended(conn, sid)?;
    if !already {
        diesel::insert_into(ended_sessions::table)
            .values((
                ended_sessions::sid.eq(sid),
                ended_sessions::user_id.eq(actor.user_id),
                ended_sessions::ended_at.eq(crate::db::truncate_to_micros(now)),
                ended_sessions::expires_at.eq(crate::db::truncate_to_micros(expires_at)),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// Forgets signed-out sessions whose tokens have expired by `now`; returns how many.
pub fn purge_ended_sessions(conn: &mut DbConnection, now: NaiveDateTime) -> CoreResult<usize> {
    use crate::schema::ended_sessions;
    Ok(
        diesel::delete(ended_sessions::table.filter(ended_sessions::expires_at.lt(now)))
            .execute(conn)?,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reused_buffer_checks_passwords_as_the_plain_check_does() {
        let hash = hash_password("correct horse battery").unwrap();
        // A hash made with other parameters: the buffer grows to fit it.
        let small = argon2::Argon2::new(
            argon2::Algorithm::Argon2id,
            argon2::Version::V0x13,
            argon2::Params::new(1024, 1, 1, None).unwrap(),
        )
        .hash_password(
            b"tiny",
            &SaltString::generate(&mut argon2::password_hash::rand_core::OsRng),
        )
        .unwrap()
        .to_string();
        let mut memory = Vec::new();
        for (password, stored, expected) in [
            ("correct horse battery", hash.as_str(), true),
            ("wrong horse battery", hash.as_str(), false),
            ("tiny", small.as_str(), true),
            ("correct horse battery", hash.as_str(), true),
            ("anything", "not a hash", false),
        ] {
            assert_eq!(verify_password(password, stored), expected);
            assert_eq!(
                verify_password_with(&mut memory, password, stored),
                expected,
                "{password}"
            );
        }
    }
}
