//! Volume for benchmarks: many tickets at once, written set-wise by the database itself
//! (a recursive series per batch), each with its `logged` event, the open ones in the
//! escalation queue. With `trails`, each closed ticket also gets the trail of a ticket that
//! was worked: dispatched to a unit, claimed, in progress, resolved, escalated one level
//! for one in twenty, and a return visit (seven in ten satisfied, two basically satisfied,
//! one unsatisfied: reopened, resolved again and closed). A grown city has a partner unit
//! per street and category, and each ticket is held by the one serving its community in
//! its category. Refused in production; meant for an empty demo or bench database.

use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text, Timestamp};

use crate::db::{write_tx, DbConnection};
use crate::error::{CoreError, CoreResult};
use crate::ids::{CategoryId, OrgUnitId, UserId};
use crate::schema::{categories, org_units, partners, tickets, users};
use crate::types::{OrgKind, Role};

/// What residents call about, one title in twelve each, so a search (`q`) at a city's size
/// matches some tickets and not others; each with the category (by code) it is logged in,
/// so the units serving that category take it.
const TITLES: [(&str, &str); 12] = [
    ("暖气不热", "heating"),
    ("楼道灯不亮", "property_management"),
    ("下水道堵塞", "environment_sanitation"),
    ("小区停水", "water_supply"),
    ("夜间施工噪音扰民", "neighbour_dispute"),
    ("垃圾清运不及时", "environment_sanitation"),
    ("路面坑洼积水", "road_facilities"),
    ("违章停车堵路", "road_facilities"),
    ("电梯故障停运", "safety_hazard"),
    ("外墙渗水", "old_community_renovation"),
    ("共享单车乱停", "road_facilities"),
    ("宠物扰民", "neighbour_dispute"),
];

/// How many tickets of each kind: `due` of the `open` ones are past their response
/// deadline at `as_of`; the rest of `open` are due a month later; `closed` are done.
#[derive(Debug, Clone, Copy)]
pub struct Spec {
    pub closed: i64,
    pub open: i64,
    pub due: i64,
    pub as_of: NaiveDateTime,
    /// Closed tickets get a worked trail (5 to 8 events) besides `logged`.
    pub trails: bool,
    /// Grow the tree to a city's size first (`grow_city`), once.
    pub city: bool,
}

/// The generated tree: 16 districts of 21 streets of 21 communities (7,056 communities
/// in 336 streets, about Beijing's), under the tree's root.
pub const CITY: (i64, i64, i64) = (16, 21, 21);

/// Grows a generated city under the root, unless one is there; answers how many
/// communities it added.
pub fn grow_city(conn: &mut DbConnection, now: NaiveDateTime) -> CoreResult<i64> {
    let grown: i64 = org_units::table
        .filter(org_units::code.like("GEN-D%"))
        .count()
        .get_result(conn)?;
    if grown > 0 {
        return Ok(0);
    }
    let root: Option<OrgUnitId> = org_units::table
        .filter(org_units::parent_id.is_null())
        .order(org_units::id)
        .select(org_units::id)
        .first(conn)
        .optional()?;
    let Some(root) = root else {
        return Err(CoreError::conflict(
            "load the demo city first: the tree needs its root",
        ));
    };
    let (districts, streets, communities) = CITY;
    write_tx(conn, |conn| -> CoreResult<i64> {
        // (kind, parents' code pattern (or the root), how many under each, name, code prefix)
        let levels = [
            ("district", None, districts, "生成区", "GEN-D"),
            ("street", Some("GEN-D%"), streets, "生成街道", "GEN-S"),
            (
                "community",
                Some("GEN-S%"),
                communities,
                "生成社区",
                "GEN-C",
            ),
        ];
        let mut added = 0;
        for (kind, parents, each, name, code) in levels {
            let parents = match parents {
                None => format!("p.id = {}", root.0),
                Some(pattern) => format!("p.code LIKE '{pattern}'"),
            };
            added = diesel::sql_query(format!(
                "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < {each}) \
                 INSERT INTO org_units (parent_id, kind, name, code, path, created_at) \
                 SELECT p.id, '{kind}', '{name}' || CAST(p.id AS TEXT) || '-' || CAST(s.i AS TEXT), \
                   '{code}' || CAST(p.id AS TEXT) || '-' || CAST(s.i AS TEXT), '', $1 \
                 FROM org_units p, s WHERE {parents}"
            ))
            .bind::<Timestamp, _>(now)
            .execute(conn)?;
            diesel::sql_query(
                "UPDATE org_units SET path = \
                   (SELECT p.path FROM org_units p WHERE p.id = org_units.parent_id) \
                   || CAST(id AS TEXT) || '/' \
                 WHERE path = '' AND code LIKE 'GEN-%'",
            )
            .execute(conn)?;
        }
        grow_units(conn, now)?;
        Ok(i64::try_from(added).unwrap_or(0))
    })
}

/// Which kind of unit serves a category in the generated city.
const UNIT_KINDS: [(&str, &str); 6] = [
    ("property_management", "property"),
    ("elderly_care", "elderly_care"),
    ("neighbour_dispute", "social_org"),
    ("environment_sanitation", "government_dept"),
    ("road_facilities", "government_dept"),
    ("safety_hazard", "government_dept"),
];

/// The generated city's partner units: in every generated street one unit for each active
/// category (about 3,700 in a city of 336 streets), serving that category in the street's
/// communities, each with its own contact address.
fn grow_units(conn: &mut DbConnection, now: NaiveDateTime) -> CoreResult<()> {
    let kind = {
        let arms: String = UNIT_KINDS
            .iter()
            .map(|(code, kind)| format!(" WHEN '{code}' THEN '{kind}'"))
            .collect();
        format!("CASE c.code {arms} ELSE 'enterprise' END")
    };
    // The unit's address names its street and category, so the rows below find it.
    let address = "'unit-' || CAST(s.id AS TEXT) || '-' || CAST(c.id AS TEXT) || '@gen.example.cn'";
    diesel::sql_query(format!(
        "INSERT INTO partners (name, kind, contact_email, active, created_at, updated_at) \
         SELECT s.name || c.name_zh || '服务单位', {kind}, {address}, TRUE, $1, $1 \
         FROM org_units s, categories c WHERE s.code LIKE 'GEN-S%' AND c.active \
         ORDER BY s.id, c.id"
    ))
    .bind::<Timestamp, _>(now)
    .execute(conn)?;
    // Each generated unit with its street and category, found by its address.
    let made = |more: &str| {
        format!(
            "FROM {more}partners p, org_units s, categories c \
             WHERE s.code LIKE 'GEN-S%' AND c.active AND p.contact_email = {address}"
        )
    };
    diesel::sql_query(format!(
        "INSERT INTO partner_categories (partner_id, category_id) SELECT p.id, c.id {}",
        made("")
    ))
    .execute(conn)?;
    diesel::sql_query(format!(
        "INSERT INTO partner_communities (partner_id, org_unit_id) \
         SELECT p.id, cm.id {} AND cm.parent_id = s.id",
        made("org_units cm, ")
    ))
    .execute(conn)?;
    Ok(())
}

/// Writes the tickets in batches of `batch`, calling `progress` with each batch's size.
pub fn generate(
    conn: &mut DbConnection,
    spec: Spec,
    batch: i64,
    mut progress: impl FnMut(u64),
) -> CoreResult<()> {
    if spec.due > spec.open || spec.open < 0 || spec.closed < 0 || batch < 1 {
        return Err(CoreError::invalid(
            "due",
            "invalid",
            "due ≤ open, counts ≥ 0, batch ≥ 1",
        ));
    }
    if spec.city {
        grow_city(conn, spec.as_of)?;
    }
    let communities: i64 = org_units::table
        .filter(org_units::kind.eq(OrgKind::Community))
        .count()
        .get_result(conn)?;
    let category: Option<CategoryId> = categories::table
        .filter(categories::active.eq(true))
        .order(categories::id)
        .select(categories::id)
        .first(conn)
        .optional()?;
    let reporter: Option<UserId> = users::table
        .filter(users::role.eq_any([Role::GridMember, Role::Supervisor]))
        .order(users::id)
        .select(users::id)
        .first(conn)
        .optional()?;
    let (Some(category), Some(reporter), false) = (category, reporter, communities == 0) else {
        return Err(CoreError::conflict(
            "load the demo city first: communities, a category and a grid member are needed",
        ));
    };
    // Which community the i-th ticket is in, spread evenly: the communities numbered.
    let k = communities;
    let units: Vec<crate::ids::PartnerId> = partners::table
        .order(partners::id)
        .select(partners::id)
        .load(conn)?;
    if spec.trails && units.is_empty() {
        return Err(CoreError::conflict(
            "trails need partner units: load the demo city first",
        ));
    }
    let unit = {
        let arms: String = units
            .iter()
            .enumerate()
            .map(|(n, u)| format!(" WHEN {n} THEN {}", u.0))
            .collect();
        // The unit serving the ticket's community in its category (the generated city's
        // units), else the store's units in turn (the demo's eight communities).
        format!(
            "COALESCE((SELECT MIN(pc.partner_id) FROM partner_communities pc \
               JOIN partner_categories pk ON pk.partner_id = pc.partner_id \
               WHERE pc.org_unit_id = t.community_id AND pk.category_id = t.category_id), \
             CASE t.id % {} {arms} END)",
            units.len().max(1)
        )
    };
    // The i-th ticket's title (seven tickets in a row, then the next title), and what else
    // goes with that title, as a SQL CASE.
    let by_title = |value: &dyn Fn(&(&str, &str)) -> String| {
        let arms: String = TITLES
            .iter()
            .enumerate()
            .map(|(n, t)| format!(" WHEN {n} THEN {}", value(t)))
            .collect();
        format!("CASE (s.i / 7) % {} {arms} END", TITLES.len())
    };
    let title = by_title(&|(title, _)| format!("'{title}'"));
    // Each title's category where the store has it, else the first.
    let by_code: std::collections::HashMap<String, CategoryId> = categories::table
        .filter(categories::active.eq(true))
        .select((categories::code, categories::id))
        .load::<(String, CategoryId)>(conn)?
        .into_iter()
        .collect();
    let category = by_title(&|(_, code)| {
        by_code
            .get(*code)
            .copied()
            .unwrap_or(category)
            .0
            .to_string()
    });
    let run = crate::secrets::random_secret(6).to_uppercase();
    let total = spec.closed + spec.open;
    let mut start = 0;
    while start < total {
        let end = (start + batch).min(total);
        let sql = format!(
            "WITH RECURSIVE s(i) AS (SELECT CAST($1 AS BIGINT) UNION ALL SELECT i + 1 FROM s WHERE i + 1 < $2) \
             INSERT INTO tickets (number, category_id, priority, title, description, community_id, org_path, \
               address, households, status, in_pool, level, respond_by, resolve_by, closed_at, reopen_count, \
               return_count, reported_by, version, created_at, updated_at) \
             SELECT 'GEN' || $3 || '-' || CAST(s.i AS TEXT), {category}, 'normal', {title}, '批量生成', cm.id, cm.path, \
               '压测地址', 1, \
               CASE WHEN s.i < {open} THEN 'reported' ELSE 'closed' END, FALSE, 0, \
               CASE WHEN s.i < {due} THEN $4 ELSE $5 END, $6, \
               CASE WHEN s.i < {open} THEN NULL ELSE $7 END, 0, 0, {reporter}, 0, $8, $8 \
             FROM s JOIN (SELECT id, path, ROW_NUMBER() OVER (ORDER BY id) - 1 AS n \
                          FROM org_units WHERE kind = 'community') cm ON cm.n = s.i % {k} \
             ORDER BY s.i",
            category = category,
            title = title,
            reporter = reporter.0,
            open = spec.open,
            due = spec.due,
        );
        let as_of = spec.as_of;
        write_tx(conn, |conn| -> CoreResult<()> {
            let before: Option<i64> = tickets::table
                .select(diesel::dsl::max(tickets::id))
                .first::<Option<crate::ids::TicketId>>(conn)?
                .map(|id| id.0);
            let before = before.unwrap_or(0);
            diesel::sql_query(&sql)
                .bind::<BigInt, _>(start)
                .bind::<BigInt, _>(end)
                .bind::<Text, _>(&run)
                .bind::<Timestamp, _>(as_of - Duration::hours(1))
                .bind::<Timestamp, _>(as_of + Duration::days(30))
                .bind::<Timestamp, _>(as_of + Duration::days(37))
                .bind::<Timestamp, _>(as_of - Duration::days(1))
                .bind::<Timestamp, _>(as_of - Duration::days(2))
                .execute(conn)?;
            diesel::sql_query(
                "INSERT INTO ticket_events (ticket_id, actor_id, kind, to_status, created_at) \
                 SELECT id, reported_by, 'logged', 'reported', created_at FROM tickets WHERE id > $1",
            )
            .bind::<BigInt, _>(before)
            .execute(conn)?;
            diesel::sql_query(
                "INSERT INTO escalation_due (ticket_id, due_at) \
                 SELECT id, respond_by FROM tickets WHERE id > $1 AND status = 'reported'",
            )
            .bind::<BigInt, _>(before)
            .execute(conn)?;
            if spec.trails {
                trails(conn, before, &unit, as_of - Duration::days(2))?;
            }
            Ok(())
        })?;
        progress(u64::try_from(end - start).unwrap_or(0));
        start = end;
    }
    Ok(())
}

/// One step of a worked trail: an event for each closed ticket of the batch that `only`
/// picks, at one of four instants (minutes after logging) by the ticket's id, scaled by
/// the ticket's own pace.
struct Step {
    kind: &'static str,
    from: &'static str,
    to: &'static str,
    minutes: [i64; 4],
    detail: &'static str,
    only: &'static str,
}

/// Which worked tickets rose a level: one in each run of twenty ids, a different place in
/// each run, so that every community has some (tickets go to the communities in turn, and
/// `id % 20` alone would pick the same few communities every time).
const ESCALATED: &str = "(t.id + t.id / 20) % 20 = 0";

/// The worked trails of the closed tickets after id `before`, all logged at `logged`.
/// (`before` is written into the SQL, not bound: SQLite numbers `$n` by first appearance,
/// and the instants come first.)
fn trails(
    conn: &mut DbConnection,
    before: i64,
    unit: &str,
    logged: NaiveDateTime,
) -> CoreResult<()> {
    const SATISFIED: &str = "CASE WHEN t.id % 10 < 7 THEN '{\"satisfaction\":\"satisfied\"}' \
                             ELSE '{\"satisfaction\":\"basically_satisfied\"}' END";
    // The rows as their trails leave them, written first so the trails read their unit
    // from the row: the unit holds them, the visit's verdict, one reopen, one level up.
    diesel::sql_query(format!(
        "UPDATE tickets AS t SET partner_id = {unit}, \
           level = CASE WHEN {ESCALATED} THEN 1 ELSE 0 END, \
           satisfaction = CASE WHEN t.id % 10 < 7 THEN 'satisfied' ELSE 'basically_satisfied' END, \
           reopen_count = CASE WHEN t.id % 10 = 9 THEN 1 ELSE 0 END \
         WHERE t.id > $1 AND t.status = 'closed'"
    ))
    .bind::<BigInt, _>(before)
    .execute(conn)?;
    let steps = [
        Step {
            kind: "dispatched",
            from: "reported",
            to: "dispatched",
            minutes: [2; 4],
            detail: "NULL",
            only: "TRUE",
        },
        Step {
            kind: "escalated",
            from: "dispatched",
            to: "dispatched",
            minutes: [60; 4],
            detail: "'{\"from_level\":0,\"to_level\":1}'",
            only: ESCALATED,
        },
        Step {
            kind: "claimed",
            from: "dispatched",
            to: "claimed",
            minutes: [5, 20, 45, 130],
            detail: "NULL",
            only: "TRUE",
        },
        Step {
            kind: "progress",
            from: "claimed",
            to: "in_progress",
            minutes: [180; 4],
            detail: "NULL",
            only: "TRUE",
        },
        Step {
            kind: "resolved",
            from: "in_progress",
            to: "resolved",
            minutes: [240, 540, 1_200, 1_620],
            detail: "NULL",
            only: "TRUE",
        },
        Step {
            kind: "closed",
            from: "resolved",
            to: "closed",
            minutes: [1_800; 4],
            detail: SATISFIED,
            only: "t.id % 10 <> 9",
        },
        Step {
            kind: "reopened",
            from: "resolved",
            to: "reopened",
            minutes: [1_800; 4],
            detail: "'{\"satisfaction\":\"unsatisfied\"}'",
            only: "t.id % 10 = 9",
        },
        Step {
            kind: "resolved",
            from: "reopened",
            to: "resolved",
            minutes: [2_160; 4],
            detail: "NULL",
            only: "t.id % 10 = 9",
        },
        Step {
            kind: "closed",
            from: "resolved",
            to: "closed",
            minutes: [2_400; 4],
            detail: "'{\"satisfaction\":\"basically_satisfied\"}'",
            only: "t.id % 10 = 9",
        },
    ];
    // One statement for all the steps, each ticket's trail in order, so the database folds
    // each ticket's facts (`ticket_facts`) once per batch, not once per step. A ticket's
    // own pace scales all its steps by 0.2 to 1.0 (by its id), so its trail stays in order
    // and durations spread over hundreds of minutes, as a city's do.
    let at = |minutes: &str| match conn.backend() {
        crate::db::Backend::Postgres => format!("($1 + ({minutes}) * INTERVAL '1 minute')"),
        crate::db::Backend::Sqlite => format!("datetime($1, '+' || ({minutes}) || ' minutes')"),
    };
    let selects: Vec<String> = steps
        .iter()
        .enumerate()
        .map(|(n, step)| {
            let partner = if step.kind == "escalated" {
                "NULL"
            } else {
                "t.partner_id"
            };
            let [m0, m1, m2, m3] = step.minutes;
            format!(
                "SELECT t.id AS ticket_id, {n} AS step, '{kind}' AS kind, '{from}' AS from_status, \
                   '{to}' AS to_status, {partner} AS partner_id, {detail} AS detail, {at} AS at \
                 FROM tickets t WHERE t.id > {before} AND t.status = 'closed' AND {only}",
                kind = step.kind,
                from = step.from,
                to = step.to,
                detail = step.detail,
                only = step.only,
                at = at(&format!(
                    "(CASE t.id % 4 WHEN 0 THEN {m0} WHEN 1 THEN {m1} WHEN 2 THEN {m2} ELSE {m3} END) \
                     * (20 + (t.id / 4) % 81) / 100"
                )),
            )
        })
        .collect();
    diesel::sql_query(format!(
        "INSERT INTO ticket_events (ticket_id, kind, from_status, to_status, partner_id, detail, created_at) \
         SELECT ticket_id, kind, from_status, to_status, partner_id, detail, at \
         FROM ({}) steps ORDER BY ticket_id, step",
        selects.join(" UNION ALL ")
    ))
    .bind::<Timestamp, _>(logged)
    .execute(conn)?;
    Ok(())
}
