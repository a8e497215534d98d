//! Open311 GeoReport v2: categories are services (their extra questions the service
//! attributes), a request becomes a ticket logged by the channel's own account, and a
//! request's coordinates find their community by boundary or nearest centre.
//!
//! Channels authenticate with an API key an administrator creates; only a SHA-256 of the
//! key is stored. Each key's account is a supervisor of the key's jurisdiction (by default
//! the whole tree), so the ordinary scope rules bound where a channel may file.

use std::collections::{BTreeMap, HashMap};

use chrono::{FixedOffset, NaiveDateTime, TimeZone};
use diesel::prelude::*;
use geo::{Contains, Distance, Haversine};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use validator::Validate;

use crate::db::{truncate_to_micros, write_tx, DbConnection};
use crate::error::{CoreError, CoreResult, FieldError};
use crate::ids::{CategoryId, OrgUnitId, TicketId, UserId};
use crate::schema::{
    categories, category_attributes, open311_keys, open311_requests, org_unit_geo, org_units,
    partners, ticket_events, tickets, users,
};
use crate::scope::Actor;
use crate::tickets::logging::{self, NewTicket};
use crate::tickets::Context;
use crate::types::{EventKind, OrgKind, Role, TicketStatus};
use crate::validate;

/// China Standard Time, the offset Open311 datetimes are given in (no daylight saving).
pub fn china_time(at: NaiveDateTime) -> String {
    let offset = FixedOffset::east_opt(8 * 3600).expect("valid offset");
    offset
        .from_utc_datetime(&at)
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, false)
}

// ---------------------------------------------------------------- service attributes

#[derive(utoipa::ToSchema, Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Datatype {
    String,
    Number,
    Datetime,
    Text,
    Singlevaluelist,
    Multivaluelist,
}

#[derive(utoipa::ToSchema, Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Validate)]
pub struct AttributeValue {
    #[validate(custom(function = "validate::not_blank"), length(max = 40))]
    pub key: String,
    #[validate(custom(function = "validate::not_blank"), length(max = 100))]
    pub name: String,
}

/// One extra question of a category (an Open311 service attribute).
#[derive(utoipa::ToSchema, Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Validate)]
pub struct ServiceAttribute {
    /// False for an informational text shown to the reporter, not a question.
    #[serde(default = "yes")]
    pub variable: bool,
    #[validate(custom(function = "attribute_code"))]
    pub code: String,
    pub datatype: Datatype,
    #[serde(default)]
    pub required: bool,
    #[validate(length(max = 200))]
    pub datatype_description: Option<String>,
    pub order: i32,
    #[validate(custom(function = "validate::not_blank"), length(max = 500))]
    pub description: String,
    /// The choices of a single or multi value list.
    #[serde(default)]
    #[validate(nested)]
    pub values: Vec<AttributeValue>,
}

fn yes() -> bool {
    true
}

fn attribute_code(code: &str) -> Result<(), validator::ValidationError> {
    let ok = (1..=40).contains(&code.len())
        && code
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if ok {
        Ok(())
    } else {
        Err(validator::ValidationError::new("invalid")
            .with_message("1 to 40 characters of A-Z, a-z, 0-9, _ and -".into()))
    }
}

#[derive(Debug, Clone, Deserialize, Validate, utoipa::ToSchema)]
pub struct AttributeList {
    #[validate(nested)]
    pub attributes: Vec<ServiceAttribute>,
}

/// The attributes of some categories (absent: none).
pub fn attributes_of(
    conn: &mut DbConnection,
    ids: &[CategoryId],
) -> CoreResult<HashMap<CategoryId, Vec<ServiceAttribute>>> {
    let rows: Vec<(CategoryId, String)> = category_attributes::table
        .filter(category_attributes::category_id.eq_any(ids))
        .select((
            category_attributes::category_id,
            category_attributes::definition,
        ))
        .load(conn)?;
    rows.into_iter()
        .map(|(id, text)| {
            let list: Vec<ServiceAttribute> = serde_json::from_str(&text).map_err(|e| {
                CoreError::internal_because(format!("category {id} attributes unreadable"), e)
            })?;
            Ok((id, list))
        })
        .collect()
}

/// Replaces a category's attributes (administrators).
pub fn set_attributes(
    conn: &mut DbConnection,
    actor: &Actor,
    id: CategoryId,
    input: &AttributeList,
) -> CoreResult<Vec<ServiceAttribute>> {
    actor.require_role(&[Role::Admin], "only an administrator edits categories")?;
    let mut errors = validate::fields(input);
    let mut seen = std::collections::HashSet::new();
    for (i, a) in input.attributes.iter().enumerate() {
        if !seen.insert(a.code.as_str()) {
            errors.push(FieldError::new(
                format!("attributes[{i}].code"),
                "duplicate",
                "each code once",
            ));
        }
        let is_list = matches!(
            a.datatype,
            Datatype::Singlevaluelist | Datatype::Multivaluelist
        );
        if is_list && a.values.is_empty() {
            errors.push(FieldError::new(
                format!("attributes[{i}].values"),
                "required",
                "a list attribute needs its values",
            ));
        }
    }
    if !errors.is_empty() {
        return Err(CoreError::Invalid(errors));
    }
    let mut list = input.attributes.clone();
    list.sort_by_key(|a| a.order);
    let text = serde_json::to_string(&list)
        .map_err(|e| CoreError::internal_because("category attributes as JSON", e))?;
    write_tx(conn, |conn| -> CoreResult<()> {
        crate::categories::get(conn, id)?;
        diesel::delete(category_attributes::table.find(id)).execute(conn)?;
        if !list.is_empty() {
            diesel::insert_into(category_attributes::table)
                .values((
                    category_attributes::category_id.eq(id),
                    category_attributes::definition.eq(&text),
                ))
                .execute(conn)?;
        }
        Ok(())
    })?;
    Ok(list)
}

// ---------------------------------------------------------------- where communities are

#[derive(utoipa::ToSchema, Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Validate)]
pub struct LatLong {
    #[validate(range(min = -90.0, max = 90.0))]
    pub lat: f64,
    #[validate(range(min = -180.0, max = 180.0))]
    pub long: f64,
}

/// A community's place: a centre, a boundary polygon (at least three points), or both.
#[derive(utoipa::ToSchema, Debug, Clone, PartialEq, Serialize, Deserialize, Validate)]
#[schema(example = json!({"centre": {"lat": 39.995, "long": 116.47}, "boundary": [{"lat": 39.992, "long": 116.467}, {"lat": 39.992, "long": 116.473}, {"lat": 39.998, "long": 116.473}, {"lat": 39.998, "long": 116.467}]}))]
pub struct Geo {
    #[validate(nested)]
    pub centre: Option<LatLong>,
    #[serde(default)]
    #[validate(nested)]
    pub boundary: Vec<LatLong>,
}

pub fn geo_of(conn: &mut DbConnection, actor: &Actor, id: OrgUnitId) -> CoreResult<Geo> {
    crate::org::get(conn, actor, id)?;
    type GeoRow = (Option<f64>, Option<f64>, Option<String>);
    let row: Option<GeoRow> = org_unit_geo::table
        .find(id)
        .select((
            org_unit_geo::centre_lat,
            org_unit_geo::centre_long,
            org_unit_geo::boundary,
        ))
        .first(conn)
        .optional()?;
    Ok(match row {
        None => Geo {
            centre: None,
            boundary: vec![],
        },
        Some(row) => to_geo(row)?,
    })
}

fn to_geo((lat, long, boundary): (Option<f64>, Option<f64>, Option<String>)) -> CoreResult<Geo> {
    Ok(Geo {
        centre: lat.zip(long).map(|(lat, long)| LatLong { lat, long }),
        boundary: match boundary {
            None => vec![],
            Some(text) => serde_json::from_str(&text)
                .map_err(|e| CoreError::internal_because("boundary unreadable", e))?,
        },
    })
}

/// Sets where a community is (administrators).
pub fn set_geo(
    conn: &mut DbConnection,
    actor: &Actor,
    id: OrgUnitId,
    input: &Geo,
) -> CoreResult<Geo> {
    actor.require_role(&[Role::Admin], "only an administrator edits the org tree")?;
    let mut errors = validate::fields(input);
    if !input.boundary.is_empty() && input.boundary.len() < 3 {
        errors.push(FieldError::new(
            "boundary",
            "too_short",
            "a boundary needs at least three points",
        ));
    }
    if input.centre.is_none() && input.boundary.is_empty() {
        errors.push(FieldError::new(
            "centre",
            "required",
            "give a centre, a boundary or both",
        ));
    }
    let unit = crate::org::get(conn, actor, id)?;
    if unit.kind != OrgKind::Community {
        errors.push(FieldError::new(
            "org_unit",
            "wrong_kind",
            "only communities carry a place",
        ));
    }
    if !errors.is_empty() {
        return Err(CoreError::Invalid(errors));
    }
    let boundary = (!input.boundary.is_empty())
        .then(|| serde_json::to_string(&input.boundary))
        .transpose()
        .map_err(|e| CoreError::internal_because("a boundary as JSON", e))?;
    write_tx(conn, |conn| -> CoreResult<()> {
        diesel::delete(org_unit_geo::table.find(id)).execute(conn)?;
        diesel::insert_into(org_unit_geo::table)
            .values((
                org_unit_geo::org_unit_id.eq(id),
                org_unit_geo::centre_lat.eq(input.centre.map(|c| c.lat)),
                org_unit_geo::centre_long.eq(input.centre.map(|c| c.long)),
                org_unit_geo::boundary.eq(&boundary),
            ))
            .execute(conn)?;
        Ok(())
    })?;
    geo_of(conn, actor, id)
}

/// The community of `root`'s subtree whose boundary holds the point; else the one whose
/// centre is nearest, if within `max_metres`.
pub fn locate(
    conn: &mut DbConnection,
    root_path: &str,
    point: LatLong,
    max_metres: f64,
) -> CoreResult<Option<OrgUnitId>> {
    type Row = (OrgUnitId, Option<f64>, Option<f64>, Option<String>);
    let rows: Vec<Row> = org_unit_geo::table
        .inner_join(org_units::table)
        .filter(crate::scope::in_subtree(org_units::path, root_path))
        .filter(org_units::kind.eq(OrgKind::Community))
        .order(org_units::id)
        .select((
            org_unit_geo::org_unit_id,
            org_unit_geo::centre_lat,
            org_unit_geo::centre_long,
            org_unit_geo::boundary,
        ))
        .load(conn)?;
    let here = geo::Point::new(point.long, point.lat);
    let mut nearest: Option<(f64, OrgUnitId)> = None;
    for (id, lat, long, boundary) in rows {
        let place = to_geo((lat, long, boundary))?;
        if place.boundary.len() >= 3 {
            let ring: Vec<(f64, f64)> = place.boundary.iter().map(|p| (p.long, p.lat)).collect();
            if geo::Polygon::new(geo::LineString::from(ring), vec![]).contains(&here) {
                return Ok(Some(id));
            }
        }
        if let Some(c) = place.centre {
            let metres = Haversine.distance(here, geo::Point::new(c.long, c.lat));
            if metres <= max_metres && nearest.is_none_or(|(best, _)| metres < best) {
                nearest = Some((metres, id));
            }
        }
    }
    Ok(nearest.map(|(_, id)| id))
}

// ---------------------------------------------------------------- channel keys

#[derive(utoipa::ToSchema, Debug, Clone, Deserialize, Validate)]
#[schema(example = json!({"channel": "city-app"}))]
pub struct NewKey {
    /// The channel's name, shown on its tickets: 2 to 40 of a-z, 0-9, _ and -.
    #[validate(custom(function = "channel_name"))]
    pub channel: String,
    /// Where the channel may file (default: the whole tree).
    pub org_unit_id: Option<OrgUnitId>,
}

fn channel_name(name: &str) -> Result<(), validator::ValidationError> {
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

#[derive(utoipa::ToSchema, Debug, Clone, PartialEq, Eq, Serialize, Queryable, Selectable)]
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
#[derive(utoipa::ToSchema, Debug, Clone, Serialize)]
pub struct IssuedKey {
    #[serde(flatten)]
    pub key: Key,
    pub api_key: String,
}

fn hash_key(secret: &str) -> String {
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

// ---------------------------------------------------------------- requests

/// What `POST requests` carries, already read from the form.
#[derive(Debug, Clone, Default)]
pub struct Submission {
    pub jurisdiction_id: Option<String>,
    pub service_code: String,
    pub lat: Option<f64>,
    pub long: Option<f64>,
    pub address_string: Option<String>,
    pub address_id: Option<String>,
    pub email: Option<String>,
    pub device_id: Option<String>,
    pub account_id: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub phone: Option<String>,
    pub description: Option<String>,
    pub media_url: Option<String>,
    /// `attribute[CODE]` answers; a multi value list may repeat a code.
    pub attributes: BTreeMap<String, Vec<String>>,
}

/// How requests are mapped and read.
#[derive(Debug, Clone)]
pub struct Policy<'a> {
    pub intake_community: &'a str,
    pub nearest_centre_max_metres: f64,
    pub list_all_tickets: bool,
}

#[derive(Debug, Clone)]
pub struct Created {
    pub service_request_id: String,
    pub token: String,
    pub service_notice: String,
}

/// An Open311 failure: the status and the specification's `{code, description}` list.
#[derive(Debug, Clone)]
pub struct Refusal {
    pub status: u16,
    pub descriptions: Vec<String>,
}

impl Refusal {
    fn new(status: u16, description: impl Into<String>) -> Self {
        Self {
            status,
            descriptions: vec![description.into()],
        }
    }
}

impl From<CoreError> for Refusal {
    fn from(e: CoreError) -> Self {
        match e {
            CoreError::Invalid(errors) => Refusal {
                status: 400,
                descriptions: errors
                    .iter()
                    .map(|f| format!("{}: {}", open311_field(&f.field), f.message))
                    .collect(),
            },
            CoreError::NotFound(what) => Refusal::new(404, format!("{what} not found")),
            CoreError::Forbidden(why) | CoreError::Unauthenticated(why) => Refusal::new(403, why),
            CoreError::Unavailable { .. } => {
                tracing::error!(error = %e.chain(), at = %e.place(), "open311: database unavailable");
                Refusal::new(503, "the service is unavailable; retry")
            }
            CoreError::Conflict { message, .. } => Refusal::new(409, message),
            CoreError::Throttled { .. } => Refusal::new(429, "too many requests"),
            CoreError::Database { .. } | CoreError::Internal { .. } => {
                tracing::error!(error = %e.chain(), at = %e.place(), "open311 internal error");
                Refusal::new(500, "an internal error occurred")
            }
        }
    }
}

/// Our field names in a refusal, spoken as Open311's.
fn open311_field(field: &str) -> &str {
    match field {
        "category" => "service_code",
        "latitude" => "lat",
        "longitude" => "long",
        "resident_phone" => "phone",
        "resident_name" => "first_name",
        "address" => "address_string",
        other => other,
    }
}

fn blank_to_none(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

fn check_attributes(
    defined: &[ServiceAttribute],
    given: &BTreeMap<String, Vec<String>>,
) -> Vec<String> {
    let mut problems = Vec::new();
    for code in given.keys() {
        if !defined.iter().any(|a| &a.code == code) {
            problems.push(format!(
                "attribute[{code}]: not an attribute of this service"
            ));
        }
    }
    for a in defined.iter().filter(|a| a.variable) {
        let values: Vec<&str> = given
            .get(&a.code)
            .map(|v| {
                v.iter()
                    .map(|s| s.trim())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        let name = format!("attribute[{}]", a.code);
        if values.is_empty() {
            if a.required {
                problems.push(format!("{name}: required"));
            }
            continue;
        }
        let known = |v: &&str| a.values.iter().any(|x| x.key == *v);
        let ok = match a.datatype {
            Datatype::Singlevaluelist => values.len() == 1 && values.iter().all(known),
            Datatype::Multivaluelist => values.iter().all(known),
            Datatype::Number => values.len() == 1 && values[0].parse::<f64>().is_ok(),
            Datatype::Datetime => {
                values.len() == 1 && chrono::DateTime::parse_from_rfc3339(values[0]).is_ok()
            }
            Datatype::String | Datatype::Text => values.len() == 1 && values[0].len() <= 4000,
        };
        if !ok {
            problems.push(format!("{name}: not a valid {:?} value", a.datatype));
        }
    }
    problems
}

/// `POST requests`: checks the request, finds its community and logs the ticket as the
/// channel, with what the request brought kept beside it, in one transaction.
pub fn submit(
    conn: &mut DbConnection,
    key_id: i64,
    actor: &Actor,
    input: &Submission,
    policy: &Policy<'_>,
    ctx: &Context<'_>,
) -> Result<Created, Refusal> {
    let mut problems = Vec::new();
    let description = blank_to_none(&input.description);
    if description.is_some_and(|d| d.chars().count() > 4000) {
        problems.push("description: at most 4000 characters".to_owned());
    }
    if let Some(url) = blank_to_none(&input.media_url) {
        let web = url::Url::parse(url)
            .ok()
            .is_some_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some());
        if !web || url.len() > MAX_MEDIA_URL {
            problems.push(format!(
                "media_url: an http or https URL of at most {MAX_MEDIA_URL} characters"
            ));
        }
    }
    if input.lat.is_some() != input.long.is_some() {
        problems.push("lat, long: give both or neither".to_owned());
    }
    let address_string = blank_to_none(&input.address_string);
    let address_id = blank_to_none(&input.address_id);
    if input.lat.is_none() && address_string.is_none() && address_id.is_none() {
        problems.push("location: give lat and long, address_string or address_id".to_owned());
    }
    let service: Option<(CategoryId, String, bool)> = categories::table
        .filter(categories::code.eq(input.service_code.trim()))
        .select((categories::id, categories::name_zh, categories::active))
        .first(conn)
        .optional()
        .map_err(CoreError::from)?;
    let Some((category_id, service_name, true)) = service else {
        return Err(Refusal::new(
            404,
            format!("service_code {:?} is not a service", input.service_code),
        ));
    };
    let defined = attributes_of(conn, &[category_id])?
        .remove(&category_id)
        .unwrap_or_default();
    problems.extend(check_attributes(&defined, &input.attributes));
    if !problems.is_empty() {
        return Err(Refusal {
            status: 400,
            descriptions: problems,
        });
    }
    let Some(root_path) = (match &actor.scope {
        crate::Scope::Subtree { path, .. } => Some(path.clone()),
        _ => None,
    }) else {
        return Err(Refusal::new(
            403,
            "this key's account is not a channel account",
        ));
    };
    let community = community_for(conn, &root_path, input, address_id, policy)?;
    let title: String = description
        .unwrap_or(&service_name)
        .lines()
        .next()
        .unwrap_or(&service_name)
        .chars()
        .take(60)
        .collect();
    let name = [
        blank_to_none(&input.first_name),
        blank_to_none(&input.last_name),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join(" ");
    let address = match (address_string, input.lat.zip(input.long)) {
        (Some(a), _) => a.chars().take(300).collect(),
        (None, Some((lat, long))) => format!("{lat:.6},{long:.6}"),
        (None, None) => address_id.unwrap_or_default().to_owned(),
    };
    let ticket = NewTicket {
        category: input.service_code.trim().to_owned(),
        priority: None,
        title,
        description: description.unwrap_or(&service_name).to_owned(),
        community_id: Some(community),
        grid_id: None,
        address,
        latitude: input.lat,
        longitude: input.long,
        resident_name: (!name.is_empty()).then_some(name),
        resident_phone: blank_to_none(&input.phone).map(str::to_owned),
        households: 1,
    };
    let token = hex::encode(rand::random::<[u8; 12]>());
    let attributes = serde_json::to_string(&input.attributes)
        .map_err(|e| CoreError::internal_because("a request's attributes as JSON", e))?;
    let now = truncate_to_micros(ctx.now);
    let logged = write_tx(conn, |conn| -> CoreResult<logging::Logged> {
        let logged = logging::log(conn, actor, &ticket, None, ctx)?;
        diesel::insert_into(open311_requests::table)
            .values((
                open311_requests::ticket_id.eq(logged.ticket.id),
                open311_requests::key_id.eq(key_id),
                open311_requests::token.eq(&token),
                open311_requests::address_id.eq(address_id),
                open311_requests::email.eq(blank_to_none(&input.email)),
                open311_requests::device_id.eq(blank_to_none(&input.device_id)),
                open311_requests::account_id.eq(blank_to_none(&input.account_id)),
                open311_requests::first_name.eq(blank_to_none(&input.first_name)),
                open311_requests::last_name.eq(blank_to_none(&input.last_name)),
                open311_requests::media_url.eq(blank_to_none(&input.media_url)),
                open311_requests::attributes.eq(&attributes),
                open311_requests::created_at.eq(now),
            ))
            .execute(conn)?;
        Ok(logged)
    })?;
    Ok(Created {
        service_notice: service_notice(&service_name, logged.ticket.resolve_by),
        service_request_id: logged.ticket.number,
        token,
    })
}

/// What a request's reporter is told to expect: the same sentence at `POST` and on every
/// read.
fn service_notice(service_name: &str, resolve_by: Option<NaiveDateTime>) -> String {
    match resolve_by {
        Some(deadline) => format!(
            "已受理，{service_name}类诉求将于 {} 前办结",
            china_time(deadline)
        ),
        None => format!("已受理，{service_name}类诉求"),
    }
}

/// An org unit as a place: id, kind, parent and path.
type Place = (OrgUnitId, OrgKind, Option<OrgUnitId>, String);
const PLACE: (
    org_units::id,
    org_units::kind,
    org_units::parent_id,
    org_units::path,
) = (
    org_units::id,
    org_units::kind,
    org_units::parent_id,
    org_units::path,
);

fn community_for(
    conn: &mut DbConnection,
    channel_root: &str,
    input: &Submission,
    address_id: Option<&str>,
    policy: &Policy<'_>,
) -> Result<OrgUnitId, Refusal> {
    let by_code = |conn: &mut DbConnection, code: &str, field: &str| -> Result<Place, Refusal> {
        let unit: Option<Place> = org_units::table
            .filter(org_units::code.eq(code))
            .filter(crate::scope::in_subtree(org_units::path, channel_root))
            .select(PLACE)
            .first(conn)
            .optional()
            .map_err(CoreError::from)?;
        unit.ok_or_else(|| {
            Refusal::new(
                400,
                format!("{field}: no place {code:?} in this jurisdiction"),
            )
        })
    };
    let root = match blank_to_none(&input.jurisdiction_id) {
        Some(code) => by_code(conn, code, "jurisdiction_id")?,
        None => org_units::table
            .filter(org_units::path.eq(channel_root))
            .select(PLACE)
            .first(conn)
            .map_err(CoreError::from)?,
    };
    if root.1 == OrgKind::Community {
        return Ok(root.0);
    }
    if let Some(code) = address_id {
        let unit = by_code(conn, code, "address_id")?;
        match unit {
            (id, OrgKind::Community, _, _) => return Ok(id),
            (_, OrgKind::Grid, Some(parent), _) => return Ok(parent),
            _ => return Err(Refusal::new(400, "address_id: name a community or a grid")),
        }
    }
    if let Some((lat, long)) = input.lat.zip(input.long) {
        if !(-90.0..=90.0).contains(&lat) || !(-180.0..=180.0).contains(&long) {
            return Err(Refusal::new(400, "lat, long: not a WGS84 position"));
        }
        let found = locate(
            conn,
            &root.3,
            LatLong { lat, long },
            policy.nearest_centre_max_metres,
        )?;
        if let Some(id) = found {
            return Ok(id);
        }
    }
    if !policy.intake_community.is_empty() {
        let unit = by_code(conn, policy.intake_community, "open311.intake_community")?;
        if unit.1 == OrgKind::Community {
            return Ok(unit.0);
        }
    }
    Err(Refusal::new(
        400,
        "location: outside every community of this jurisdiction, and no intake community is configured",
    ))
}

/// A service request as Open311 reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestView {
    pub service_request_id: String,
    pub status: &'static str,
    pub status_notes: Option<String>,
    pub service_name: String,
    pub service_code: String,
    pub description: String,
    pub agency_responsible: String,
    pub service_notice: Option<String>,
    pub requested_datetime: String,
    pub updated_datetime: String,
    pub expected_datetime: Option<String>,
    pub address: String,
    pub address_id: Option<String>,
    pub lat: Option<f64>,
    pub long: Option<f64>,
    pub media_url: Option<String>,
}

/// `open` or `closed`: closed once the ticket is closed, cancelled or merged.
pub fn open311_status(status: TicketStatus) -> &'static str {
    match status {
        TicketStatus::Closed | TicketStatus::Cancelled | TicketStatus::Merged => "closed",
        _ => "open",
    }
}

fn statuses_for(open311: &str) -> Vec<TicketStatus> {
    TicketStatus::ALL
        .iter()
        .copied()
        .filter(|s| open311_status(*s) == open311)
        .collect()
}

#[derive(Debug, Clone, Default)]
pub struct RequestFilter {
    pub ids: Vec<String>,
    pub service_codes: Vec<String>,
    pub from: Option<NaiveDateTime>,
    pub to: Option<NaiveDateTime>,
    /// `open` and/or `closed`; empty: both.
    pub statuses: Vec<String>,
}

/// Requests matching the filter, newest first: at most 1,000, within 90 days.
pub fn requests(
    conn: &mut DbConnection,
    filter: &RequestFilter,
    policy: &Policy<'_>,
    now: NaiveDateTime,
) -> Result<Vec<RequestView>, Refusal> {
    let mut query = tickets::table
        .left_join(open311_requests::table)
        .inner_join(categories::table)
        .select(tickets::id)
        .into_boxed();
    if !policy.list_all_tickets {
        query = query.filter(open311_requests::ticket_id.is_not_null());
    }
    if !filter.ids.is_empty() {
        query = query.filter(tickets::number.eq_any(&filter.ids));
    } else {
        let (from, to) = match (filter.from, filter.to) {
            (Some(f), Some(t)) => (f, t),
            (Some(f), None) => (f, f + chrono::Duration::days(90)),
            (None, Some(t)) => (t - chrono::Duration::days(90), t),
            (None, None) => (now - chrono::Duration::days(90), now),
        };
        if to < from {
            return Err(Refusal::new(400, "end_date: before start_date"));
        }
        if to - from > chrono::Duration::days(90) {
            return Err(Refusal::new(
                400,
                "start_date, end_date: span at most 90 days",
            ));
        }
        query = query
            .filter(tickets::created_at.ge(from))
            .filter(tickets::created_at.le(to));
    }
    if !filter.service_codes.is_empty() {
        query = query.filter(categories::code.eq_any(&filter.service_codes));
    }
    if !filter.statuses.is_empty() {
        let mut wanted = Vec::new();
        for s in &filter.statuses {
            if s != "open" && s != "closed" {
                return Err(Refusal::new(
                    400,
                    format!("status: {s:?} is neither open nor closed"),
                ));
            }
            wanted.extend(statuses_for(s));
        }
        query = query.filter(tickets::status.eq_any(wanted));
    }
    let ids: Vec<TicketId> = query
        .order((tickets::created_at.desc(), tickets::id.desc()))
        .limit(1000)
        .load(conn)
        .map_err(CoreError::from)?;
    Ok(views(conn, &ids)?)
}

/// One request by its id (our ticket number).
pub fn request(
    conn: &mut DbConnection,
    number: &str,
    policy: &Policy<'_>,
) -> Result<RequestView, Refusal> {
    let filter = RequestFilter {
        ids: vec![number.to_owned()],
        ..RequestFilter::default()
    };
    requests(conn, &filter, policy, NaiveDateTime::default())?
        .pop()
        .ok_or_else(|| Refusal::new(404, format!("service_request_id {number:?} not found")))
}

/// `GET tokens/{token}`: the request id a token became.
pub fn token(conn: &mut DbConnection, token: &str) -> Result<String, Refusal> {
    open311_requests::table
        .inner_join(tickets::table)
        .filter(open311_requests::token.eq(token))
        .select(tickets::number)
        .first(conn)
        .optional()
        .map_err(CoreError::from)?
        .ok_or_else(|| Refusal::new(404, format!("token {token:?} not found")))
}

fn views(conn: &mut DbConnection, ids: &[TicketId]) -> CoreResult<Vec<RequestView>> {
    type Row = (
        crate::tickets::TicketRow,
        String,
        String,
        Option<String>,
        Option<String>,
        Option<String>,
    );
    let rows: Vec<Row> = tickets::table
        .inner_join(categories::table)
        .left_join(open311_requests::table)
        .left_join(partners::table)
        .filter(tickets::id.eq_any(ids))
        .order((tickets::created_at.desc(), tickets::id.desc()))
        .select((
            crate::tickets::TicketRow::as_select(),
            categories::code,
            categories::name_zh,
            open311_requests::address_id.nullable(),
            open311_requests::media_url.nullable(),
            partners::name.nullable(),
        ))
        .load(conn)?;
    // Only public notes reach Open311 (progress, resolution, cancel reason): never a
    // dispatcher's instruction, a return's reason or the return visit's comment.
    let mut notes: HashMap<TicketId, String> = HashMap::new();
    for (id, note) in ticket_events::table
        .filter(ticket_events::ticket_id.eq_any(ids))
        .filter(ticket_events::note.is_not_null())
        .filter(ticket_events::kind.eq_any(EventKind::PUBLIC_NOTES))
        .order(ticket_events::id)
        .select((ticket_events::ticket_id, ticket_events::note))
        .load::<(TicketId, Option<String>)>(conn)?
    {
        if let Some(note) = note {
            notes.insert(id, note);
        }
    }
    // A duplicate points at the request that carries on.
    let survivors: Vec<TicketId> = rows.iter().filter_map(|(t, ..)| t.merged_into_id).collect();
    let survivor_numbers: HashMap<TicketId, String> = tickets::table
        .filter(tickets::id.eq_any(&survivors))
        .select((tickets::id, tickets::number))
        .load::<(TicketId, String)>(conn)?
        .into_iter()
        .collect();
    let node_ids: Vec<OrgUnitId> = rows.iter().filter_map(|(t, ..)| handling_node(t)).collect();
    let names: HashMap<OrgUnitId, String> = org_units::table
        .filter(org_units::id.eq_any(&node_ids))
        .select((org_units::id, org_units::name))
        .load::<(OrgUnitId, String)>(conn)?
        .into_iter()
        .collect();
    Ok(rows
        .into_iter()
        .map(|(t, code, name, address_id, media_url, partner)| {
            let office = handling_node(&t).and_then(|n| names.get(&n).cloned());
            let merged_into = t
                .merged_into_id
                .and_then(|s| survivor_numbers.get(&s))
                .map(|number| format!("重复诉求，已并入 {number} 继续办理"));
            RequestView {
                status: open311_status(t.status),
                status_notes: merged_into.or_else(|| notes.remove(&t.id)),
                service_notice: Some(service_notice(&name, t.resolve_by)),
                service_name: name,
                service_code: code,
                agency_responsible: partner.or(office).unwrap_or_default(),
                requested_datetime: china_time(t.created_at),
                updated_datetime: china_time(t.updated_at),
                expected_datetime: t.resolve_by.map(china_time),
                address: t.address,
                address_id,
                lat: t.latitude,
                long: t.longitude,
                media_url,
                description: t.description,
                service_request_id: t.number,
            }
        })
        .collect())
}

/// The office that holds an unassigned ticket: its community, or the node it rose to.
fn handling_node(t: &crate::tickets::TicketRow) -> Option<OrgUnitId> {
    let chain: Vec<i64> = t
        .org_path
        .split('/')
        .filter_map(|s| s.parse().ok())
        .collect();
    let level = usize::try_from(t.level).ok()?;
    chain
        .len()
        .checked_sub(1 + level)
        .and_then(|i| chain.get(i))
        .map(|id| OrgUnitId(*id))
}

/// Services: every active category with its attributes.
pub fn services(
    conn: &mut DbConnection,
) -> CoreResult<Vec<(crate::categories::Category, Vec<ServiceAttribute>)>> {
    let ids: Vec<CategoryId> = categories::table
        .filter(categories::active.eq(true))
        .order(categories::id)
        .select(categories::id)
        .load(conn)?;
    let mut attributes = attributes_of(conn, &ids)?;
    ids.into_iter()
        .map(|id| {
            Ok((
                crate::categories::get(conn, id)?,
                attributes.remove(&id).unwrap_or_default(),
            ))
        })
        .collect()
}

/// One service by its code: an active category with its attributes.
pub fn service(
    conn: &mut DbConnection,
    code: &str,
) -> CoreResult<Option<(crate::categories::Category, Vec<ServiceAttribute>)>> {
    let id: Option<CategoryId> = categories::table
        .filter(categories::code.eq(code))
        .filter(categories::active.eq(true))
        .select(categories::id)
        .first(conn)
        .optional()?;
    let Some(id) = id else { return Ok(None) };
    let attributes = attributes_of(conn, &[id])?.remove(&id).unwrap_or_default();
    Ok(Some((crate::categories::get(conn, id)?, attributes)))
}

/// The longest `media_url` kept: a link, not a payload.
const MAX_MEDIA_URL: usize = 2000;

/// What an Open311 request brought with it, as the ticket's page shows it.
#[derive(utoipa::ToSchema, Debug, Clone, PartialEq, Serialize)]
pub struct RequestData {
    /// The channel (key) it came in by.
    pub channel: String,
    /// The `attribute[CODE]` answers, by code.
    pub attributes: BTreeMap<String, Vec<String>>,
    /// A photo the reporter's app published.
    pub media_url: Option<String>,
    /// The community or grid code the reporter gave.
    pub address_id: Option<String>,
    /// Who reported it, as the channel told us; only for those who may reach the resident.
    pub reporter: Option<Reporter>,
}

#[derive(utoipa::ToSchema, Debug, Clone, PartialEq, Serialize)]
pub struct Reporter {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
    pub device_id: Option<String>,
    pub account_id: Option<String>,
}

/// The Open311 request a ticket came from, if any. `show_reporter`: the caller may see the
/// resident's contact (the same rule as the ticket's `resident`).
pub fn request_data(
    conn: &mut DbConnection,
    id: TicketId,
    show_reporter: bool,
) -> CoreResult<Option<RequestData>> {
    type Row = (
        String,
        String,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
    );
    let row: Option<Row> = open311_requests::table
        .inner_join(open311_keys::table)
        .filter(open311_requests::ticket_id.eq(id))
        .select((
            open311_keys::channel,
            open311_requests::attributes,
            open311_requests::media_url,
            open311_requests::address_id,
            open311_requests::first_name,
            open311_requests::last_name,
            open311_requests::email,
            open311_requests::device_id,
            open311_requests::account_id,
        ))
        .first(conn)
        .optional()?;
    Ok(row.map(
        |(channel, attributes, media_url, address_id, first, last, email, device, account)| {
            RequestData {
                channel,
                attributes: serde_json::from_str(&attributes).unwrap_or_default(),
                media_url,
                address_id,
                reporter: show_reporter.then_some(Reporter {
                    first_name: first,
                    last_name: last,
                    email,
                    device_id: device,
                    account_id: account,
                }),
            }
        },
    ))
}

/// The channel a ticket came in by, if any.
pub fn channel_of(conn: &mut DbConnection, id: TicketId) -> CoreResult<Option<String>> {
    Ok(open311_requests::table
        .inner_join(open311_keys::table)
        .filter(open311_requests::ticket_id.eq(id))
        .select(open311_keys::channel)
        .first(conn)
        .optional()?)
}
