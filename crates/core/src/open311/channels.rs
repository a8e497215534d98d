//! Channel keys: an administrator issues one per channel, only its SHA-256 is kept, and
//! each key's account is a supervisor of the key's jurisdiction.

use super::*;

#[derive(Debug, Clone, Deserialize, Validate)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({"channel": "city-app"})))]
pub struct NewKey {
    /// The channel's name, shown on its tickets: 2 to 40 of a-z, 0-9, _ and -.
    #[validate(custom(function = "channel_name"))]
    pub channel: String,
    /// Where the channel may file (default: the whole tree).
    pub org_unit_id: Option<OrgUnitId>,
}

pub(super) fn channel_name(name: &str) -> Result<(), validator::ValidationError> {
    let ok = (2..=40).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
    if ok {
        Ok(())
    } else {
        Err(validator::ValidationError::new("invalid")
            .with_message("2 to 40 characters of a-z, 0-9, _ and -".into()))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Queryable, Selectable)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[diesel(table_name = open311_keys)]
pub struct Key {
    pub id: i64,
    pub channel: String,
    /// The first characters of the key, to tell keys apart.
    pub key_prefix: String,
    /// The account the channel's tickets are logged as.
    pub account_id: UserId,
    pub created_by: UserId,
    #[serde(serialize_with = "crate::time::utc")]
    pub created_at: NaiveDateTime,
    #[serde(serialize_with = "crate::time::utc_opt")]
    pub revoked_at: Option<NaiveDateTime>,
}

/// A new key: the secret is shown this once.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct IssuedKey {
    #[serde(flatten)]
    pub key: Key,
    pub api_key: String,
}

pub(super) fn hash_key(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

pub fn create_key(
    conn: &mut DbConnection,
    actor: &Actor,
    input: &NewKey,
    now: NaiveDateTime,
) -> CoreResult<IssuedKey> {
    actor.require_role(&[Role::Admin], "only an administrator manages Open311 keys")?;
    let errors = validate::fields(input);
    if !errors.is_empty() {
        return Err(CoreError::Invalid(errors));
    }
    let root = match input.org_unit_id {
        Some(id) => crate::org::get(conn, actor, id)?.id,
        None => org_units::table
            .filter(org_units::parent_id.is_null())
            .order(org_units::id)
            .select(org_units::id)
            .first(conn)
            .optional()?
            .ok_or_else(|| {
                CoreError::invalid("org_unit_id", "required", "the org tree is empty")
            })?,
    };
    let secret = format!("j311_{}", hex::encode(rand::random::<[u8; 24]>()));
    let now = truncate_to_micros(now);
    let channel = input.channel.trim();
    let id: i64 = write_tx(conn, |conn| -> CoreResult<i64> {
        let account: UserId = diesel::insert_into(users::table)
            .values((
                users::username.eq(format!("open311-{channel}")),
                users::display_name.eq(format!("Open311 渠道 {channel}")),
                // Not a PHC string: no password ever signs this account in.
                users::password_hash.eq("!open311-channel"),
                users::role.eq(Role::Supervisor),
                users::org_unit_id.eq(root),
                users::active.eq(true),
                users::failed_logins.eq(0),
                users::created_at.eq(now),
                users::updated_at.eq(now),
            ))
            .returning(users::id)
            .get_result(conn)
            .map_err(|e| match CoreError::from(e) {
                CoreError::Conflict { .. } => {
                    CoreError::conflict(format!("channel {channel:?} already exists"))
                }
                other => other,
            })?;
        Ok(diesel::insert_into(open311_keys::table)
            .values((
                open311_keys::channel.eq(channel),
                open311_keys::key_hash.eq(hash_key(&secret)),
                open311_keys::key_prefix.eq(&secret[..9]),
                open311_keys::account_id.eq(account),
                open311_keys::created_by.eq(actor.user_id),
                open311_keys::created_at.eq(now),
            ))
            .returning(open311_keys::id)
            .get_result(conn)?)
    })?;
    let key = open311_keys::table
        .find(id)
        .select(Key::as_select())
        .first(conn)?;
    Ok(IssuedKey {
        key,
        api_key: secret,
    })
}

pub fn list_keys(conn: &mut DbConnection, actor: &Actor) -> CoreResult<Vec<Key>> {
    actor.require_role(&[Role::Admin], "only an administrator manages Open311 keys")?;
    Ok(open311_keys::table
        .order(open311_keys::id)
        .select(Key::as_select())
        .load(conn)?)
}

/// Revokes a key for good; its channel's account is disabled with it.
pub fn revoke_key(
    conn: &mut DbConnection,
    actor: &Actor,
    id: i64,
    now: NaiveDateTime,
) -> CoreResult<Key> {
    actor.require_role(&[Role::Admin], "only an administrator manages Open311 keys")?;
    let now = truncate_to_micros(now);
    write_tx(conn, |conn| -> CoreResult<()> {
        let key: Key = open311_keys::table
            .find(id)
            .select(Key::as_select())
            .first(conn)
            .optional()?
            .ok_or(CoreError::NotFound("Open311 key"))?;
        if key.revoked_at.is_none() {
            diesel::update(open311_keys::table.find(id))
                .set(open311_keys::revoked_at.eq(now))
                .execute(conn)?;
            diesel::update(users::table.find(key.account_id))
                .set((users::active.eq(false), users::updated_at.eq(now)))
                .execute(conn)?;
        }
        Ok(())
    })?;
    Ok(open311_keys::table
        .find(id)
        .select(Key::as_select())
        .first(conn)?)
}

/// The key's id and its channel's account, for a key that exists and is not revoked.
pub fn authenticate(conn: &mut DbConnection, api_key: &str) -> CoreResult<(i64, Actor)> {
    let found: Option<(i64, UserId)> = open311_keys::table
        .filter(open311_keys::key_hash.eq(hash_key(api_key.trim())))
        .filter(open311_keys::revoked_at.is_null())
        .select((open311_keys::id, open311_keys::account_id))
        .first(conn)
        .optional()?;
    let (id, account) = found.ok_or(CoreError::Forbidden("invalid api_key"))?;
    Ok((id, Actor::load(conn, account)?))
}
