//! Logging a ticket: where it is, what it is about, who is affected; a human-readable
//! number per district and year; deadlines from the category's SLA; and an
//! `Idempotency-Key` so a retry over a flaky mobile link returns the first ticket.

use chrono::{Datelike, NaiveDateTime};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use validator::Validate;

use super::{Context, Ticket, TicketRow};
use crate::db::{truncate_to_micros, write_tx, DbConnection};
use crate::error::{CoreError, CoreResult, FieldError};
use crate::ids::{CategoryId, OrgUnitId, TicketId};
use crate::reference::Reference;
use crate::schema::{idempotency_keys, org_units, ticket_events, tickets};
use crate::scope::{visible_org_units, Actor, Scope};
use crate::types::{EventKind, IntakeChannel, OrgKind, Priority, Role, TicketStatus};
use crate::validate;

/// Ticket numbers count by the year in China Standard Time (no daylight saving).
const CHINA_OFFSET_SECS: i32 = 8 * 3600;

fn one() -> i32 {
    1
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Validate)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({"category": "property_management", "title": "楼道灯不亮", "description": "5号楼2单元楼道灯不亮，老人夜间上下楼不便", "grid_id": 9, "address": "望京西园一区5号楼2单元", "latitude": 39.995, "longitude": 116.47, "resident_name": "陈阿姨", "resident_phone": "13900001111", "households": 12})))]
pub struct NewTicket {
    /// The category's code, e.g. `water_supply`.
    #[validate(custom(function = "validate::not_blank"), length(max = 40))]
    pub category: String,
    /// Defaults to the category's default priority.
    pub priority: Option<Priority>,
    #[validate(custom(function = "validate::not_blank"), length(max = 200))]
    pub title: String,
    #[validate(custom(function = "validate::not_blank"), length(max = 5000))]
    pub description: String,
    /// The community; may be left out when `grid_id` is given, or by a grid member.
    pub community_id: Option<OrgUnitId>,
    pub grid_id: Option<OrgUnitId>,
    #[validate(custom(function = "validate::not_blank"), length(max = 300))]
    pub address: String,
    #[validate(range(min = -90.0, max = 90.0))]
    pub latitude: Option<f64>,
    #[validate(range(min = -180.0, max = 180.0))]
    pub longitude: Option<f64>,
    #[validate(custom(function = "validate::not_blank"), length(max = 100))]
    pub resident_name: Option<String>,
    #[validate(custom(function = "crate::phone::check"))]
    pub resident_phone: Option<String>,
    #[serde(default = "one")]
    #[validate(range(min = 1, max = 100000))]
    pub households: i32,
    /// How it came in. Left out: `patrol` when a grid member logs it, `other` when a
    /// supervisor does; an Open311 request is always `app`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<IntakeChannel>,
    /// A hotline transfer's own ticket number at the hotline (`channel: hotline` only, and
    /// required there); a hotline's number is logged once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[validate(custom(function = "validate::hotline_ref"))]
    pub hotline_ref: Option<String>,
    /// The hotline a transfer came from, `12345` when left out (`channel: hotline` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[validate(custom(function = "validate::hotline_ref"))]
    pub hotline: Option<String>,
}

/// A channel as a query names it (`channel=hotline`): none when left out or blank, else
/// one of `IntakeChannel`'s words or a refusal naming `channel`.
pub fn channel_of(text: Option<&str>) -> CoreResult<Option<IntakeChannel>> {
    match text.map(str::trim) {
        None | Some("") => Ok(None),
        Some(word) => word
            .parse()
            .map(Some)
            .map_err(|e: crate::types::UnknownVariant| {
                CoreError::invalid("channel", "invalid", e.to_string())
            }),
    }
}

/// The hotline a transfer comes from when none is named.
pub const DEFAULT_HOTLINE: &str = "12345";

/// How a ticket came in, as its page shows it (named apart from the day's intake count in
/// the API's schemas).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Queryable)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = TicketIntake))]
pub struct Intake {
    pub channel: IntakeChannel,
    /// The hotline a transfer came from (e.g. `12345`) and its number there.
    pub hotline: Option<String>,
    pub hotline_ref: Option<String>,
}

/// The intake a new ticket records, once `input` is checked: its channel by default for
/// the actor, and a hotline's number only on (and always on) a hotline transfer.
fn intake_of(actor: &Actor, input: &NewTicket, errors: &mut Vec<FieldError>) -> Intake {
    let channel = input.channel.unwrap_or(match actor.role {
        Role::GridMember => IntakeChannel::Patrol,
        _ => IntakeChannel::Other,
    });
    let hotline_ref = input.hotline_ref.as_deref().map(str::trim);
    let hotline = input.hotline.as_deref().map(str::trim);
    match (channel, hotline_ref) {
        (IntakeChannel::Hotline, None) => errors.push(FieldError::new(
            "hotline_ref",
            "required",
            "a hotline transfer carries the hotline's own ticket number",
        )),
        (IntakeChannel::Hotline, Some(_)) => {}
        (_, Some(_)) => errors.push(FieldError::new(
            "hotline_ref",
            "not_hotline",
            "only a hotline transfer (channel hotline) carries a hotline number",
        )),
        (_, None) if hotline.is_some() => errors.push(FieldError::new(
            "hotline",
            "not_hotline",
            "only a hotline transfer (channel hotline) names a hotline",
        )),
        (_, None) => {}
    }
    let transfer = channel == IntakeChannel::Hotline;
    Intake {
        channel,
        hotline: transfer.then(|| hotline.unwrap_or(DEFAULT_HOTLINE).to_owned()),
        hotline_ref: hotline_ref.filter(|_| transfer).map(str::to_owned),
    }
}

/// The refusal of a hotline number already logged, naming the ticket it was logged as.
fn hotline_ref_taken(number: &str) -> FieldError {
    FieldError::new(
        "hotline_ref",
        "taken",
        format!("this hotline number was already logged, as ticket {number}"),
    )
}

/// The ticket already logged for a hotline's number, if any.
fn logged_for_hotline_ref(conn: &mut DbConnection, intake: &Intake) -> CoreResult<Option<String>> {
    use crate::schema::ticket_intake;
    let (Some(hotline), Some(reference)) = (&intake.hotline, &intake.hotline_ref) else {
        return Ok(None);
    };
    Ok(ticket_intake::table
        .inner_join(tickets::table)
        .filter(ticket_intake::hotline.eq(hotline))
        .filter(ticket_intake::hotline_ref.eq(reference))
        .select(tickets::number)
        .first(conn)
        .optional()?)
}

/// A stable hash of a request body, to tell a retry from a different request under the same key.
pub fn request_hash(input: &NewTicket) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(
        serde_json::to_vec(input).unwrap_or_default(),
    ))
}

/// The client's key for one logical request, and a hash of the request it came with.
#[derive(Debug, Clone)]
pub struct IdempotencyKey {
    pub key: String,
    pub request_hash: String,
    /// How long a key answers retries (`idempotency.window_hours`); after that it is a new
    /// key, and the scheduler forgets it.
    pub window: chrono::Duration,
}

#[derive(Debug, Clone)]
pub struct Logged {
    pub ticket: Ticket,
    /// True when this answers a retry: the ticket was logged by an earlier request.
    pub replayed: bool,
}

#[derive(Clone, Copy, Insertable)]
#[diesel(table_name = tickets)]
struct NewTicketRow<'a> {
    number: &'a str,
    category_id: CategoryId,
    priority: Priority,
    title: &'a str,
    description: &'a str,
    community_id: OrgUnitId,
    grid_id: Option<OrgUnitId>,
    org_path: &'a str,
    address: &'a str,
    latitude: Option<f64>,
    longitude: Option<f64>,
    resident_name: Option<&'a str>,
    resident_phone: Option<&'a str>,
    households: i32,
    status: TicketStatus,
    partner_id: Option<crate::ids::PartnerId>,
    in_pool: bool,
    level: i32,
    respond_by: Option<NaiveDateTime>,
    resolve_by: Option<NaiveDateTime>,
    reopen_count: i32,
    return_count: i32,
    reported_by: crate::ids::UserId,
    version: i32,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
}

/// Where the ticket is: (community id, its path, grid).
fn place(
    conn: &mut DbConnection,
    actor: &Actor,
    input: &NewTicket,
    reference: &Reference,
    errors: &mut Vec<FieldError>,
) -> CoreResult<Option<(OrgUnitId, String, Option<OrgUnitId>)>> {
    // The unit, if it is in the actor's scope: a subtree's from the kept tree.
    let lookup = |conn: &mut DbConnection,
                  id: OrgUnitId|
     -> CoreResult<Option<(OrgKind, Option<OrgUnitId>, String)>> {
        let seen = |path: &str| match &actor.scope {
            Scope::Everything => Some(true),
            Scope::Subtree { path: root, .. } => Some(path.starts_with(root.as_str())),
            Scope::Partner { .. } => None,
        };
        if let Some(unit) = reference.unit(conn, id)? {
            match seen(&unit.path) {
                Some(true) => return Ok(Some((unit.kind, unit.parent_id, unit.path.clone()))),
                Some(false) => return Ok(None),
                None => {}
            }
        }
        let mut query = org_units::table
            .filter(org_units::id.eq(id))
            .select((org_units::kind, org_units::parent_id, org_units::path))
            .into_boxed();
        if let Some(filter) = visible_org_units(&actor.scope) {
            query = query.filter(filter);
        }
        Ok(query.first(conn).optional()?)
    };
    let grid = match input.grid_id {
        None => None,
        Some(id) => match lookup(conn, id)? {
            Some((OrgKind::Grid, Some(parent), _)) => Some((id, parent)),
            Some(_) => {
                errors.push(FieldError::new("grid_id", "wrong_kind", "not a grid"));
                return Ok(None);
            }
            None => {
                errors.push(FieldError::new(
                    "grid_id",
                    "not_found",
                    "no such grid in your scope",
                ));
                return Ok(None);
            }
        },
    };
    let community = match (input.community_id, grid, &actor.scope) {
        (Some(c), Some((_, parent)), _) if c != parent => {
            errors.push(FieldError::new(
                "grid_id",
                "mismatch",
                "the grid is not in that community",
            ));
            return Ok(None);
        }
        (Some(c), _, _) => c,
        (None, Some((_, parent)), _) => parent,
        (None, None, Scope::Subtree { root, .. }) if actor.role == Role::GridMember => *root,
        (None, None, _) => {
            errors.push(FieldError::new(
                "community_id",
                "required",
                "name the community (or the grid)",
            ));
            return Ok(None);
        }
    };
    match lookup(conn, community)? {
        Some((OrgKind::Community, _, path)) => Ok(Some((community, path, grid.map(|(g, _)| g)))),
        Some(_) => {
            errors.push(FieldError::new(
                "community_id",
                "wrong_kind",
                "not a community",
            ));
            Ok(None)
        }
        None => {
            errors.push(FieldError::new(
                "community_id",
                "not_found",
                "no such community in your scope",
            ));
            Ok(None)
        }
    }
}

/// `<district code>-<year>-<000001>`: counted per district and year, so numbers never
/// depend on database ids being gap-free. The district of a community path, and its code.
fn district_of(
    conn: &mut DbConnection,
    reference: &Reference,
    community_path: &str,
) -> CoreResult<(OrgUnitId, String)> {
    let district: OrgUnitId = community_path
        .split('/')
        .nth(2)
        .and_then(|s| s.parse().ok())
        .map(OrgUnitId)
        .ok_or_else(|| {
            CoreError::internal(format!("community path {community_path} has no district"))
        })?;
    let code = reference
        .unit(conn, district)?
        .ok_or_else(|| CoreError::internal(format!("district {} is missing", district.0)))?
        .code
        .clone();
    Ok((district, code))
}

/// The year a ticket logged at `now` is numbered in.
fn number_year(now: NaiveDateTime) -> i32 {
    (now + chrono::Duration::seconds(CHINA_OFFSET_SECS.into())).year()
}

#[derive(QueryableByName)]
struct Drawn {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    last_number: i64,
}

/// PostgreSQL numbers a district's year with a sequence of its own: drawing from it locks
/// nothing until the commit, so a district's creates do not queue behind each other's
/// disk flush (a counter row did), and it can be drawn inside the statement that writes
/// the ticket. A sequence is not rolled back: a create that fails after drawing leaves its
/// number unused, and after a crash of the database server a sequence may skip a few
/// numbers ahead (it logs them in advance); numbers are never repeated.
fn number_sequence(district: OrgUnitId, year: i32) -> String {
    format!("ticket_numbers_{}_{year}", district.0)
}

/// The district's sequence of the year, created the first time it numbers a ticket in
/// that year, starting after what `ticket_counters` counted (an installation numbering
/// before sequences were used). Known sequences are
/// kept by the process, so this reads nothing after the first time.
fn ensure_sequence(
    conn: &mut DbConnection,
    reference: &Reference,
    district: OrgUnitId,
    year: i32,
) -> CoreResult<String> {
    #[derive(QueryableByName)]
    struct Found {
        #[diesel(sql_type = diesel::sql_types::Bool)]
        found: bool,
    }
    let name = number_sequence(district, year);
    if reference.knows_sequence(&name) {
        return Ok(name);
    }
    let exists = |conn: &mut DbConnection| -> CoreResult<bool> {
        Ok(
            diesel::sql_query("SELECT to_regclass($1) IS NOT NULL AS found")
                .bind::<diesel::sql_types::Text, _>(&name)
                .get_result::<Found>(conn)?
                .found,
        )
    };
    if !exists(conn)? {
        let counted: i64 = crate::schema::ticket_counters::table
            .find((district, year))
            .select(crate::schema::ticket_counters::last_number)
            .first(conn)
            .optional()?
            .unwrap_or(0);
        // In a savepoint inside a caller's transaction: a process creating the same
        // sequence at the same moment makes this fail, and it then exists all the same.
        let created = conn.transaction(|conn| {
            diesel::sql_query(format!(
                "CREATE SEQUENCE IF NOT EXISTS {name} START WITH {}",
                counted + 1
            ))
            .execute(conn)
        });
        if let Err(e) = created {
            if !exists(conn)? {
                return Err(e.into());
            }
        }
    }
    // A sequence created inside a caller's transaction exists only once it commits.
    if !conn.in_transaction()? {
        reference.know_sequence(&name);
    }
    Ok(name)
}

/// `<district code>-<year>-<000001>`.
fn number_of(code: &str, year: i32, n: i64) -> String {
    format!("{code}-{year}-{n:06}")
}

/// The next number of the district's year, inside the logging transaction. SQLite counts
/// in `ticket_counters`: the row stays locked until the commit (SQLite's writers take
/// turns anyway), so its numbers have no gaps. PostgreSQL draws from the district's
/// sequence (`number_sequence`).
fn next_number(
    conn: &mut DbConnection,
    reference: &Reference,
    (district, code): &(OrgUnitId, String),
    now: NaiveDateTime,
) -> CoreResult<String> {
    let year = number_year(now);
    let n = match conn.backend() {
        crate::db::Backend::Postgres => {
            let sequence = ensure_sequence(conn, reference, *district, year)?;
            diesel::sql_query("SELECT nextval($1::regclass) AS last_number")
                .bind::<diesel::sql_types::Text, _>(sequence)
                .get_result::<Drawn>(conn)?
                .last_number
        }
        crate::db::Backend::Sqlite => {
            diesel::sql_query(
                "INSERT INTO ticket_counters (district_id, year, last_number) VALUES ($1, $2, 1) \
                 ON CONFLICT (district_id, year) DO UPDATE SET last_number = ticket_counters.last_number + 1 \
                 RETURNING last_number",
            )
            .bind::<diesel::sql_types::BigInt, _>(district.0)
            .bind::<diesel::sql_types::Integer, _>(year)
            .get_result::<Drawn>(conn)?
            .last_number
        }
    };
    Ok(number_of(code, year, n))
}

/// What an `Idempotency-Key` was used for before this request.
enum KeyUse {
    New,
    /// Used longer ago than the window: a new key, its old row not purged yet.
    Expired,
    /// The ticket it logged, for a retry of the same request.
    Answered(Box<Logged>),
}

fn earlier_use(
    conn: &mut DbConnection,
    actor: &Actor,
    key: &IdempotencyKey,
    now: NaiveDateTime,
) -> CoreResult<KeyUse> {
    let found: Option<(String, TicketId, NaiveDateTime)> = idempotency_keys::table
        .find((actor.user_id, &key.key))
        .select((
            idempotency_keys::request_hash,
            idempotency_keys::ticket_id,
            idempotency_keys::created_at,
        ))
        .first(conn)
        .optional()?;
    let (hash, ticket_id) = match found {
        None => return Ok(KeyUse::New),
        Some((_, _, used)) if used <= now - key.window => return Ok(KeyUse::Expired),
        Some((hash, ticket_id, _)) => (hash, ticket_id),
    };
    if hash != key.request_hash {
        return Err(CoreError::invalid(
            "Idempotency-Key",
            "reused",
            "this key was already used with a different request body; use a new key for a new ticket",
        ));
    }
    let row: TicketRow = tickets::table
        .find(ticket_id)
        .select(TicketRow::as_select())
        .first(conn)?;
    Ok(KeyUse::Answered(Box::new(Logged {
        ticket: row.view(actor, now),
        replayed: true,
    })))
}

/// Forgets an expired use of the key (not purged yet), so it can be used again.
fn forget_expired(
    conn: &mut DbConnection,
    actor: &Actor,
    key: &IdempotencyKey,
    now: NaiveDateTime,
) -> CoreResult<()> {
    diesel::delete(
        idempotency_keys::table
            .find((actor.user_id, &key.key))
            .filter(idempotency_keys::created_at.le(now - key.window)),
    )
    .execute(conn)?;
    Ok(())
}

/// PostgreSQL, outside a caller's transaction: the ticket, its `logged` event, its row in
/// the due queue (DESIGN's escalation reads only that), its intake and the idempotency key
/// written by one statement, so one round trip and one commit where pgbench's same
/// transaction makes four round trips, its number drawn from the district's sequence inside
/// it. The statement sets what `NewTicketRow` sets for a new ticket.
fn insert_in_one_statement(
    conn: &mut DbConnection,
    row: &NewTicketRow<'_>,
    intake: &Intake,
    (code, year, sequence): (&str, i32, &str),
    key: Option<&IdempotencyKey>,
) -> CoreResult<TicketRow> {
    use diesel::sql_types::{BigInt, Double, Integer, Nullable, Text, Timestamp};
    let keyed = if key.is_some() {
        ", k AS (INSERT INTO idempotency_keys (user_id, key, request_hash, ticket_id, created_at) \
           SELECT reported_by, $23, $24, id, created_at FROM t)"
    } else {
        ""
    };
    // The number as `number_of` writes it: at least six digits.
    let query = diesel::sql_query(format!(
        "WITH n AS (SELECT nextval($19::regclass)::text AS v), \
         t AS (\
           INSERT INTO tickets (number, category_id, priority, title, description, community_id, \
             grid_id, org_path, address, latitude, longitude, resident_name, resident_phone, \
             households, status, partner_id, in_pool, level, respond_by, resolve_by, reopen_count, \
             return_count, reported_by, version, created_at, updated_at) \
           SELECT $1 || '-' || {year} || '-' || lpad(n.v, greatest(6, length(n.v)), '0'), \
             $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, 'reported', NULL, \
             false, 0, $15, $16, 0, 0, $17, 0, $18, $18 FROM n \
           RETURNING *), \
         e AS (INSERT INTO ticket_events (ticket_id, actor_id, kind, to_status, created_at) \
           SELECT id, reported_by, 'logged', 'reported', created_at FROM t), \
         d AS (INSERT INTO escalation_due (ticket_id, due_at) \
           SELECT id, respond_by FROM t WHERE respond_by IS NOT NULL), \
         i AS (INSERT INTO ticket_intake (ticket_id, channel, hotline, hotline_ref) \
           SELECT id, $20, $21, $22 FROM t){keyed} \
         SELECT * FROM t"
    ))
    .into_boxed::<crate::db::DbBackend>()
    .bind::<Text, _>(code)
    .bind::<BigInt, _>(row.category_id)
    .bind::<Text, _>(row.priority)
    .bind::<Text, _>(row.title)
    .bind::<Text, _>(row.description)
    .bind::<BigInt, _>(row.community_id)
    .bind::<Nullable<BigInt>, _>(row.grid_id)
    .bind::<Text, _>(row.org_path)
    .bind::<Text, _>(row.address)
    .bind::<Nullable<Double>, _>(row.latitude)
    .bind::<Nullable<Double>, _>(row.longitude)
    .bind::<Nullable<Text>, _>(row.resident_name)
    .bind::<Nullable<Text>, _>(row.resident_phone)
    .bind::<Integer, _>(row.households)
    .bind::<Nullable<Timestamp>, _>(row.respond_by)
    .bind::<Nullable<Timestamp>, _>(row.resolve_by)
    .bind::<BigInt, _>(row.reported_by)
    .bind::<Timestamp, _>(row.created_at)
    .bind::<Text, _>(sequence)
    .bind::<Text, _>(intake.channel)
    .bind::<Nullable<Text>, _>(intake.hotline.clone())
    .bind::<Nullable<Text>, _>(intake.hotline_ref.clone());
    let query = match key {
        Some(key) => query
            .bind::<Text, _>(key.key.clone())
            .bind::<Text, _>(key.request_hash.clone()),
        None => query,
    };
    Ok(query.get_result::<TicketRow>(conn)?)
}

/// Forgets idempotency keys used before `before`; returns how many.
pub fn purge_idempotency_keys(conn: &mut DbConnection, before: NaiveDateTime) -> CoreResult<usize> {
    Ok(
        diesel::delete(idempotency_keys::table.filter(idempotency_keys::created_at.le(before)))
            .execute(conn)?,
    )
}

/// Logs a ticket as a grid member or supervisor. Inside a caller's transaction it is one
/// of the caller's writes (an intake channel keeps what it received beside the ticket, all
/// or nothing).
pub fn log(
    conn: &mut DbConnection,
    actor: &Actor,
    input: &NewTicket,
    idempotency: Option<&IdempotencyKey>,
    ctx: &Context<'_>,
) -> CoreResult<Logged> {
    let now = ctx.now;
    actor.require_role(
        &[Role::GridMember, Role::Supervisor],
        "only grid members and supervisors log tickets",
    )?;
    let now = truncate_to_micros(now);
    let mut expired_key = false;
    if let Some(key) = idempotency {
        match earlier_use(conn, actor, key, now)? {
            KeyUse::Answered(earlier) => return Ok(*earlier),
            KeyUse::Expired => expired_key = true,
            KeyUse::New => {}
        }
    }
    let mut errors = validate::fields(input);
    if input.latitude.is_some() != input.longitude.is_some() {
        errors.push(FieldError::new(
            "longitude",
            "required",
            "give latitude and longitude together",
        ));
    }
    let intake = intake_of(actor, input, &mut errors);
    if let Some(number) = logged_for_hotline_ref(conn, &intake)? {
        errors.push(hotline_ref_taken(&number));
    }
    let place = place(conn, actor, input, ctx.reference, &mut errors)?;
    let rules = ctx.reference.category_rules(conn, input.category.trim())?;
    let category = rules
        .first()
        .map(|(id, default, active, ..)| (*id, *default, *active));
    match category {
        Some((_, _, true)) => {}
        Some((_, _, false)) => errors.push(FieldError::new(
            "category",
            "inactive",
            "this category is no longer in use",
        )),
        None => errors.push(FieldError::new(
            "category",
            "not_found",
            format!("no category {:?}", input.category),
        )),
    }
    let (Some((community_id, org_path, grid_id)), Some((category_id, default_priority, _)), true) =
        (place, category, errors.is_empty())
    else {
        return Err(CoreError::Invalid(errors));
    };
    let priority = input.priority.unwrap_or(default_priority);
    let rule = rules
        .iter()
        .find(|r| r.3 == priority)
        .map(|r| r.4)
        .ok_or_else(|| {
            CoreError::internal(format!("category {category_id} has no {priority} rule"))
        })?;
    let district = district_of(conn, ctx.reference, &org_path)?;
    let respond_by = ctx.calendar.deadline(rule.clock, now, rule.respond_minutes);
    let resolve_by = ctx.calendar.deadline(rule.clock, now, rule.resolve_minutes);

    let resident_phone = crate::phone::normalised(input.resident_phone.as_deref());
    let new_row = NewTicketRow {
        number: "",
        category_id,
        priority,
        title: input.title.trim(),
        description: input.description.trim(),
        community_id,
        grid_id,
        org_path: &org_path,
        address: input.address.trim(),
        latitude: input.latitude,
        longitude: input.longitude,
        resident_name: input.resident_name.as_deref().map(str::trim),
        resident_phone: resident_phone.as_deref(),
        households: input.households,
        status: TicketStatus::Reported,
        partner_id: None,
        in_pool: false,
        level: 0,
        respond_by: Some(respond_by),
        resolve_by: Some(resolve_by),
        reopen_count: 0,
        return_count: 0,
        reported_by: actor.user_id,
        version: 0,
        created_at: now,
        updated_at: now,
    };
    let one_statement = conn.backend() == crate::db::Backend::Postgres && !conn.in_transaction()?;
    let attempt = |conn: &mut DbConnection| -> CoreResult<TicketRow> {
        if one_statement {
            if let (Some(key), true) = (idempotency, expired_key) {
                forget_expired(conn, actor, key, now)?;
            }
            let year = number_year(now);
            let sequence = ensure_sequence(conn, ctx.reference, district.0, year)?;
            return insert_in_one_statement(
                conn,
                &new_row,
                &intake,
                (&district.1, year, &sequence),
                idempotency,
            );
        }
        write_tx(conn, |conn| -> CoreResult<TicketRow> {
            // A unique placeholder until the number is drawn, last, just before the commit.
            let pending = format!("pending-{}", crate::secrets::random_secret(24));
            let mut row: TicketRow = diesel::insert_into(tickets::table)
                .values(NewTicketRow {
                    number: &pending,
                    ..new_row
                })
                .returning(tickets::all_columns)
                .get_result(conn)?;
            let id = row.id;
            diesel::insert_into(ticket_events::table)
                .values((
                    ticket_events::ticket_id.eq(id),
                    ticket_events::actor_id.eq(actor.user_id),
                    ticket_events::kind.eq(EventKind::Logged),
                    ticket_events::to_status.eq(TicketStatus::Reported),
                    ticket_events::created_at.eq(now),
                ))
                .execute(conn)?;
            super::due::enqueue_new(conn, &row)?;
            diesel::insert_into(crate::schema::ticket_intake::table)
                .values((
                    crate::schema::ticket_intake::ticket_id.eq(id),
                    crate::schema::ticket_intake::channel.eq(intake.channel),
                    crate::schema::ticket_intake::hotline.eq(&intake.hotline),
                    crate::schema::ticket_intake::hotline_ref.eq(&intake.hotline_ref),
                ))
                .execute(conn)?;
            if let Some(key) = idempotency {
                if expired_key {
                    forget_expired(conn, actor, key, now)?;
                }
                diesel::insert_into(idempotency_keys::table)
                    .values((
                        idempotency_keys::user_id.eq(actor.user_id),
                        idempotency_keys::key.eq(&key.key),
                        idempotency_keys::request_hash.eq(&key.request_hash),
                        idempotency_keys::ticket_id.eq(id),
                        idempotency_keys::created_at.eq(now),
                    ))
                    .execute(conn)?;
            }
            row.number = next_number(conn, ctx.reference, &district, now)?;
            diesel::update(tickets::table.find(id))
                .set(tickets::number.eq(&row.number))
                .execute(conn)?;
            Ok(row)
        })
    };
    let row = match attempt(conn) {
        Ok(row) => row,
        Err(e @ CoreError::Conflict { .. }) => {
            // A concurrent retry with the same key committed first: answer with its ticket.
            if let Some(key) = idempotency {
                if let KeyUse::Answered(earlier) = earlier_use(conn, actor, key, now)? {
                    return Ok(*earlier);
                }
            }
            // A concurrent transfer of the same hotline number committed first.
            if let Some(number) = logged_for_hotline_ref(conn, &intake)? {
                return Err(CoreError::Invalid(vec![hotline_ref_taken(&number)]));
            }
            if idempotency.is_some() {
                return Err(CoreError::conflict("the ticket could not be logged; retry"));
            }
            return Err(e);
        }
        Err(e) => return Err(e),
    };
    Ok(Logged {
        ticket: row.view(actor, now),
        replayed: false,
    })
}
