//! Volume for benchmarks: many tickets at once, written set-wise by the database itself
//! (a recursive series per batch), each with its `logged` event, the open ones in the
//! escalation queue. With `trails`, each closed ticket also gets the trail of a ticket that
//! was worked: dispatched to a unit, claimed, in progress, resolved, escalated one level
//! for one in twenty, and a return visit (seven in ten satisfied, two basically satisfied,
//! one unsatisfied: reopened, resolved again and closed). A grown city has a partner unit
//! per street and category, and each ticket is held by the one serving its community in
//! its category, and the city has grids and people (a supervisor of every node, a grid
//! member per grid, staff per unit). With `days`, the tickets are logged over those days
//! at a city's weekly and daily rhythm (`hourly`), each trail from its own logging.
//! Refused in production; meant for an empty demo or bench database.

use chrono::{Duration, NaiveDateTime};
pub use chrono_tz::Tz;
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
    /// Spread the tickets over this many days up to `as_of`, at a city's rhythm
    /// (`hourly`); without it every ticket is logged two days before `as_of`.
    pub days: Option<i64>,
    /// The city's time zone, for the rhythm's hours and weekdays.
    pub tz: Tz,
}

/// How a city's hotline is busier on some days and at some hours: relative weights by
/// weekday (Monday first) and by hour of the day, local time. Mondays carry the weekend's
/// problems; mornings and early afternoons are the peaks, nights are quiet.
const WEEKDAY_WEIGHTS: [i64; 7] = [115, 110, 105, 105, 100, 85, 80];
const HOUR_WEIGHTS: [i64; 24] = [
    15, 10, 8, 8, 10, 20, 40, 80, 130, 150, 150, 140, 110, 100, 130, 140, 135, 120, 100, 90, 80,
    60, 40, 25,
];

/// How many of `total` tickets are logged in each hour of the `days` days before `as_of`,
/// newest hour first (hour `k` is `[as_of - (k + 1) h, as_of - k h)`), in proportion to the
/// rhythm's weight of the hour's local start; the rounding left over goes to the hours
/// with the largest remainders, earliest first, so the counts add up to `total`.
pub fn hourly(total: i64, days: i64, as_of: NaiveDateTime, tz: Tz) -> Vec<i64> {
    use chrono::{Datelike, TimeZone, Timelike};
    let weights: Vec<i64> = (0..days.max(0) * 24)
        .map(|k| {
            let start = tz.from_utc_datetime(&(as_of - Duration::hours(k + 1)));
            WEEKDAY_WEIGHTS[start.weekday().num_days_from_monday() as usize]
                * HOUR_WEIGHTS[start.hour() as usize]
        })
        .collect();
    let sum: i64 = weights.iter().sum();
    if sum == 0 {
        return Vec::new();
    }
    let total = i128::from(total.max(0));
    let shares: Vec<(i64, i128)> = weights
        .iter()
        .map(|w| {
            let exact = total * i128::from(*w);
            (
                i64::try_from(exact / i128::from(sum)).unwrap_or(0),
                exact % i128::from(sum),
            )
        })
        .collect();
    let mut counts: Vec<i64> = shares.iter().map(|s| s.0).collect();
    let left = total - counts.iter().map(|c| i128::from(*c)).sum::<i128>();
    let mut order: Vec<usize> = (0..shares.len()).collect();
    order.sort_by_key(|&k| (std::cmp::Reverse(shares[k].1), k));
    for &k in order.iter().take(usize::try_from(left).unwrap_or(0)) {
        counts[k] += 1;
    }
    counts
}

/// Seconds before `as_of` at which the tickets numbered `from..to` (0 the newest) are
/// logged, as a SQL expression of `s.i`: spread evenly over their hour of `hours`.
fn logged_offset(hours: &[i64], from: i64, to: i64) -> String {
    let mut arms = String::new();
    let mut lo = 0;
    for (k, &n) in hours.iter().enumerate() {
        let hi = lo + n;
        if n > 0 && hi > from && lo < to {
            arms.push_str(&format!(
                " WHEN s.i < {hi} THEN {base} + ((s.i - {lo}) * 3600 + 1800) / {n}",
                base = k as i64 * 3600
            ));
        }
        lo = hi;
    }
    format!("CASE{arms} END")
}

/// `base` moved by `by` (a SQL expression, negative for earlier) of `unit` (`minute`,
/// `second`), in the store's own arithmetic.
fn shifted(backend: crate::db::Backend, base: &str, by: &str, unit: &str) -> String {
    match backend {
        crate::db::Backend::Postgres => format!("({base} + ({by}) * INTERVAL '1 {unit}')"),
        crate::db::Backend::Sqlite => format!("datetime({base}, ({by}) || ' {unit}s')"),
    }
}

/// The generated tree: 16 districts of 21 streets of 21 communities (7,056 communities
/// in 336 streets, about Beijing's), under the tree's root.
pub const CITY: (i64, i64, i64) = (16, 21, 21);

/// Grids in each generated community (28,224 in the city).
pub const GRIDS: i64 = 4;

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
            ("grid", Some("GEN-C%"), GRIDS, "生成网格", "GEN-G"),
        ];
        let mut added = 0;
        for (kind, parents, each, name, code) in levels {
            let parents = match parents {
                None => format!("p.id = {}", root.0),
                Some(pattern) => format!("p.code LIKE '{pattern}'"),
            };
            let made = diesel::sql_query(format!(
                "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < {each}) \
                 INSERT INTO org_units (parent_id, kind, name, code, path, created_at) \
                 SELECT p.id, '{kind}', '{name}' || CAST(p.id AS TEXT) || '-' || CAST(s.i AS TEXT), \
                   '{code}' || CAST(p.id AS TEXT) || '-' || CAST(s.i AS TEXT), '', $1 \
                 FROM org_units p, s WHERE {parents}"
            ))
            .bind::<Timestamp, _>(now)
            .execute(conn)?;
            if kind == "community" {
                added = i64::try_from(made).unwrap_or(0);
            }
            diesel::sql_query(
                "UPDATE org_units SET path = \
                   (SELECT p.path FROM org_units p WHERE p.id = org_units.parent_id) \
                   || CAST(id AS TEXT) || '/' \
                 WHERE path = '' AND code LIKE 'GEN-%'",
            )
            .execute(conn)?;
        }
        grow_units(conn, now)?;
        grow_people(conn, now)?;
        Ok(added)
    })
}

/// The generated city's people, each with an address of their own: a supervisor of every
/// district, street and community (whose address is also the node's, where escalations
/// are mailed), a grid member in every grid and a member of staff in every unit. None has
/// a password (no hash matches one): an operator gives one with `admin reset-password`.
fn grow_people(conn: &mut DbConnection, now: NaiveDateTime) -> CoreResult<()> {
    let people = [
        (
            "supervisor",
            "org_units o WHERE o.code LIKE 'GEN-D%' OR o.code LIKE 'GEN-S%' OR o.code LIKE 'GEN-C%'",
            "'sup'",
            "'主管'",
            "o.id, NULL",
        ),
        (
            "grid_member",
            "org_units o WHERE o.code LIKE 'GEN-G%'",
            "'grid'",
            "'网格员'",
            "o.id, NULL",
        ),
        (
            "unit_staff",
            "partners o WHERE o.contact_email LIKE '%@gen.example.cn'",
            "'staff'",
            "'工作人员'",
            "NULL, o.id",
        ),
    ];
    for (role, from, prefix, title, place) in people {
        diesel::sql_query(format!(
            "INSERT INTO users (username, display_name, email, password_hash, role, org_unit_id, \
               partner_id, active, failed_logins, created_at, updated_at) \
             SELECT 'gen-' || {prefix} || '-' || CAST(o.id AS TEXT), o.name || {title}, \
               {prefix} || '-' || CAST(o.id AS TEXT) || '@gen.example.cn', '!', '{role}', {place}, \
               TRUE, 0, $1, $1 \
             FROM {from} ORDER BY o.id"
        ))
        .bind::<Timestamp, _>(now)
        .execute(conn)?;
    }
    diesel::sql_query(
        "INSERT INTO org_unit_emails (org_unit_id, email) \
         SELECT org_unit_id, email FROM users WHERE username LIKE 'gen-sup-%'",
    )
    .execute(conn)?;
    Ok(())
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
    // Stored to the microsecond on both stores, as every write is (`truncate_to_micros`).
    let spec = Spec {
        as_of: crate::db::truncate_to_micros(spec.as_of),
        ..spec
    };
    if spec.due > spec.open || spec.open < 0 || spec.closed < 0 || batch < 1 {
        return Err(CoreError::invalid(
            "due",
            "invalid",
            "due ≤ open, counts ≥ 0, batch ≥ 1",
        ));
    }
    if spec.days.is_some_and(|days| !(1..=3_660).contains(&days)) {
        return Err(CoreError::invalid(
            "days",
            "range",
            "between 1 and 3,660 days",
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
    let backend = conn.backend();
    // Tickets are numbered newest first: the first `open` are open, the last `due` of those
    // (the oldest open) past their response deadline at `as_of`.
    let hours = spec
        .days
        .map(|days| hourly(total, days, spec.as_of, spec.tz));
    let (open, due) = (spec.open, spec.open - spec.due);
    // Written oldest first (the batches from the last, each in descending `i`), so ids
    // rise with the time of logging as a live city's do.
    let mut end = total;
    while end > 0 {
        let start = (end - batch).max(0);
        // When each is logged ($3: `as_of`, or two days before it), and a closed ticket's
        // deadlines: spread over the days, its own (two hours to respond, three days to
        // resolve); all at once, the open ones'.
        let (logged, respond, resolve) = match &hours {
            Some(hours) => (
                shifted(
                    backend,
                    "$3",
                    &format!("-({})", logged_offset(hours, start, end)),
                    "second",
                ),
                shifted(backend, "s.at", "120", "minute"),
                shifted(backend, "s.at", "4320", "minute"),
            ),
            None => ("$3".to_owned(), "$6".to_owned(), "$7".to_owned()),
        };
        // Each ticket in the communities in turn, on one of the community's first `GRIDS`
        // grids where it has them (a grown city's communities have that many).
        let sql = format!(
            "WITH RECURSIVE s(i) AS (SELECT CAST($1 AS BIGINT) UNION ALL SELECT i + 1 FROM s WHERE i + 1 < $2), \
             l AS (SELECT s.i, {logged} AS at FROM s) \
             INSERT INTO tickets (number, category_id, priority, title, description, community_id, grid_id, \
               org_path, address, households, status, in_pool, level, respond_by, resolve_by, closed_at, \
               reopen_count, return_count, reported_by, version, created_at, updated_at) \
             SELECT 'GEN' || $4 || '-' || CAST(s.i AS TEXT), {category}, 'normal', {title}, '批量生成', \
               cm.id, g.id, cm.path, '压测地址', 1, \
               CASE WHEN s.i < {open} THEN 'reported' ELSE 'closed' END, FALSE, 0, \
               CASE WHEN s.i >= {due} AND s.i < {open} THEN $5 WHEN s.i < {open} THEN $6 ELSE {respond} END, \
               CASE WHEN s.i < {open} THEN $7 ELSE {resolve} END, \
               CASE WHEN s.i < {open} THEN NULL ELSE $8 END, 0, 0, {reporter}, 0, s.at, s.at \
             FROM l s JOIN (SELECT id, path, ROW_NUMBER() OVER (ORDER BY id) - 1 AS n \
                          FROM org_units WHERE kind = 'community') cm ON cm.n = s.i % {k} \
             LEFT JOIN (SELECT id, parent_id, ROW_NUMBER() OVER (PARTITION BY parent_id ORDER BY id) - 1 AS n \
                        FROM org_units WHERE kind = 'grid') g ON g.parent_id = cm.id AND g.n = (s.i / {k}) % {GRIDS} \
             ORDER BY s.i DESC",
            category = category,
            title = title,
            reporter = reporter.0,
        );
        let (as_of, spread) = (spec.as_of, hours.is_some());
        write_tx(conn, |conn| -> CoreResult<()> {
            let before: Option<i64> = tickets::table
                .select(diesel::dsl::max(tickets::id))
                .first::<Option<crate::ids::TicketId>>(conn)?
                .map(|id| id.0);
            let before = before.unwrap_or(0);
            diesel::sql_query(&sql)
                .bind::<BigInt, _>(start)
                .bind::<BigInt, _>(end)
                .bind::<Timestamp, _>(if spread {
                    as_of
                } else {
                    as_of - Duration::days(2)
                })
                .bind::<Text, _>(&run)
                .bind::<Timestamp, _>(if spread {
                    as_of - Duration::minutes(1)
                } else {
                    as_of - Duration::hours(1)
                })
                .bind::<Timestamp, _>(as_of + Duration::days(30))
                .bind::<Timestamp, _>(as_of + Duration::days(37))
                .bind::<Timestamp, _>(as_of - Duration::days(1))
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
            // How each came in, as a city's hotline office sees it: most by 12345 transfer
            // (each with its own number at the hotline), then patrols, the apps, walk-ins,
            // the residents' web form and other ways. (`before` is written in: SQLite
            // numbers `$n` by first appearance.)
            diesel::sql_query(format!(
                "INSERT INTO ticket_intake (ticket_id, channel, hotline, hotline_ref) \
                 SELECT id, channel, CASE WHEN channel = 'hotline' THEN '12345' END, \
                   CASE WHEN channel = 'hotline' THEN 'GEN' || $1 || '-' || CAST(id AS TEXT) END \
                 FROM (SELECT id, CASE WHEN id % 20 < 12 THEN 'hotline' WHEN id % 20 < 16 THEN 'patrol' \
                   WHEN id % 20 < 18 THEN 'app' WHEN id % 20 = 18 THEN 'walk_in' \
                   WHEN id % 40 = 19 THEN 'web' ELSE 'other' END AS channel \
                   FROM tickets WHERE id > {before}) c"
            ))
            .bind::<Text, _>(&run)
            .execute(conn)?;
            if spec.trails {
                trails(conn, before, &unit, as_of)?;
            }
            Ok(())
        })?;
        progress(u64::try_from(end - start).unwrap_or(0));
        end = start;
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

/// `ESCALATED` as a literal, so the conditions built on it name it once.
macro_rules! escalated {
    () => {
        "(t.id + t.id / 20) % 20 = 0"
    };
}
/// Which worked tickets rose a level: one in each run of twenty ids, a different place in
/// each run, so that every community has some (tickets go to the communities in turn, and
/// `id % 20` alone would pick the same few communities every time).
const ESCALATED: &str = escalated!();
/// Which of those rose a second level before they were claimed: one in three.
const ESCALATED_TWICE: &str = concat!(escalated!(), " AND t.id % 3 = 0");
/// Which the unit gave back at once (more details needed) and the street sent again: one
/// in twenty-five, none of the escalated.
const RETURNED: &str = concat!("t.id % 25 = 7 AND NOT (", escalated!(), ")");
/// Which waited on the resident a while after the claim (its resolve deadline moves on by
/// the wait): one in twenty-five.
const PAUSED: &str = "t.id % 25 = 11";
/// Which the street cancelled before dispatching (a duplicate call, not a matter for the
/// hotline): one in fifty, none of the escalated.
const CANCELLED: &str = concat!("t.id % 50 = 13 AND NOT (", escalated!(), ")");
/// Minutes after logging (at full pace) of a pause and of the resume.
const PAUSE: (i64, i64) = (150, 170);

/// Minutes after logging (at full pace) that the return visit closes a ticket, and closes
/// it again after a reopen.
const CLOSE: i64 = 1_800;
/// Minutes after logging (at full pace) that a cancelled ticket is cancelled.
const CANCEL_AFTER: i64 = 30;
const REOPENED_CLOSE: i64 = 2_400;

/// The worked trails of the closed tickets after id `before`, each from its own logging,
/// none past `as_of` (a trail that would run on is cut short at `as_of`).
/// (`before` is written into the SQL, not bound: SQLite numbers `$n` by first appearance,
/// and the instants come first.)
fn trails(
    conn: &mut DbConnection,
    before: i64,
    unit: &str,
    as_of: NaiveDateTime,
) -> CoreResult<()> {
    const SATISFIED: &str = "CASE WHEN t.id % 10 < 7 THEN '{\"satisfaction\":\"satisfied\"}' \
                             ELSE '{\"satisfaction\":\"basically_satisfied\"}' END";
    // A step `minutes` after logging at the ticket's own pace (0.2 to 1.0 by its id, so its
    // trail stays in order and durations spread over hundreds of minutes, as a city's do),
    // and no later than `as_of` (the parameter named).
    let backend = conn.backend();
    let pace = |minutes: &str| format!("({minutes}) * (20 + (t.id / 4) % 81) / 100");
    let at = |minutes: &str, as_of: &str| {
        let step = shifted(backend, "t.created_at", &pace(minutes), "minute");
        match backend {
            crate::db::Backend::Postgres => format!("LEAST({step}, {as_of})"),
            crate::db::Backend::Sqlite => format!("min({step}, {as_of})"),
        }
    };
    // The cancelled first: logged, then cancelled, held by no unit.
    let cancelled_at = at(&CANCEL_AFTER.to_string(), "$1");
    diesel::sql_query(format!(
        "UPDATE tickets AS t SET status = 'cancelled', closed_at = {cancelled_at}, \
           updated_at = {cancelled_at} \
         WHERE t.id > $2 AND t.status = 'closed' AND {CANCELLED}"
    ))
    .bind::<Timestamp, _>(as_of)
    .bind::<BigInt, _>(before)
    .execute(conn)?;
    diesel::sql_query(format!(
        "INSERT INTO ticket_events (ticket_id, kind, from_status, to_status, created_at) \
         SELECT t.id, 'cancelled', 'reported', 'cancelled', {cancelled_at} FROM tickets t \
         WHERE t.id > $2 AND t.status = 'cancelled' ORDER BY t.id"
    ))
    .bind::<Timestamp, _>(as_of)
    .bind::<BigInt, _>(before)
    .execute(conn)?;
    // The rows as their trails leave them, written first so the trails read their unit
    // from the row: the unit holds them, the visit's verdict, one reopen, a level or two
    // up, a return, the resolve deadline moved on by a wait, closed when the last visit
    // closed them.
    diesel::sql_query(format!(
        "UPDATE tickets AS t SET partner_id = {unit}, \
           level = CASE WHEN {ESCALATED_TWICE} THEN 2 WHEN {ESCALATED} THEN 1 ELSE 0 END, \
           satisfaction = CASE WHEN t.id % 10 < 7 THEN 'satisfied' ELSE 'basically_satisfied' END, \
           reopen_count = CASE WHEN t.id % 10 = 9 THEN 1 ELSE 0 END, \
           return_count = CASE WHEN {RETURNED} THEN 1 ELSE 0 END, \
           resolve_by = CASE WHEN {PAUSED} THEN {extended} ELSE t.resolve_by END, \
           closed_at = {closed}, updated_at = {closed} \
         WHERE t.id > $2 AND t.status = 'closed'",
        closed = at(
            &format!("CASE WHEN t.id % 10 = 9 THEN {REOPENED_CLOSE} ELSE {CLOSE} END"),
            "$1"
        ),
        extended = shifted(
            backend,
            "t.resolve_by",
            &format!(
                "{} - {}",
                pace(&PAUSE.1.to_string()),
                pace(&PAUSE.0.to_string())
            ),
            "minute"
        ),
    ))
    .bind::<Timestamp, _>(as_of)
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
            kind: "returned",
            from: "dispatched",
            to: "returned",
            minutes: [3; 4],
            detail: "NULL",
            only: RETURNED,
        },
        Step {
            kind: "dispatched",
            from: "returned",
            to: "dispatched",
            minutes: [4; 4],
            detail: "NULL",
            only: RETURNED,
        },
        // Before the claim it prompted (the claim steps' minutes, less a few): the ticket
        // rose unclaimed, so the trail reads in time order.
        Step {
            kind: "escalated",
            from: "dispatched",
            to: "dispatched",
            minutes: [3, 15, 35, 100],
            detail: "'{\"from_level\":0,\"to_level\":1}'",
            only: ESCALATED,
        },
        Step {
            kind: "escalated",
            from: "dispatched",
            to: "dispatched",
            minutes: [4, 18, 40, 120],
            detail: "'{\"from_level\":1,\"to_level\":2}'",
            only: ESCALATED_TWICE,
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
            kind: "paused",
            from: "claimed",
            to: "claimed",
            minutes: [PAUSE.0; 4],
            detail: "NULL",
            only: PAUSED,
        },
        Step {
            kind: "resumed",
            from: "claimed",
            to: "claimed",
            minutes: [PAUSE.1; 4],
            detail: "NULL",
            only: PAUSED,
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
            minutes: [CLOSE; 4],
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
            minutes: [REOPENED_CLOSE; 4],
            detail: "'{\"satisfaction\":\"basically_satisfied\"}'",
            only: "t.id % 10 = 9",
        },
    ];
    // One statement for all the steps, each ticket's trail in order, so the database folds
    // each ticket's facts (`ticket_facts`) once per batch, not once per step.
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
                at = at(
                    &format!(
                        "CASE t.id % 4 WHEN 0 THEN {m0} WHEN 1 THEN {m1} WHEN 2 THEN {m2} ELSE {m3} END"
                    ),
                    "$1"
                ),
            )
        })
        .collect();
    diesel::sql_query(format!(
        "INSERT INTO ticket_events (ticket_id, kind, from_status, to_status, partner_id, detail, created_at) \
         SELECT ticket_id, kind, from_status, to_status, partner_id, detail, at \
         FROM ({}) steps ORDER BY ticket_id, step",
        selects.join(" UNION ALL ")
    ))
    .bind::<Timestamp, _>(as_of)
    .execute(conn)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hours_share_out_every_ticket_at_the_citys_rhythm() {
        let as_of = chrono::NaiveDate::from_ymd_opt(2026, 11, 20)
            .unwrap()
            .and_hms_opt(2, 0, 0)
            .unwrap();
        let tz: Tz = "Asia/Shanghai".parse().unwrap();
        for total in [0, 1, 7, 1_000, 60_001] {
            let hours = hourly(total, 7, as_of, tz);
            assert_eq!(hours.len(), 7 * 24);
            assert_eq!(hours.iter().sum::<i64>(), total);
        }
        let hours = hourly(60_000 * 7, 7, as_of, tz);
        // Hour 0 is 09:00–10:00 on a Friday in Beijing, hour 6 is 03:00–04:00.
        assert!(hours[0] > 5 * hours[6], "{} against {}", hours[0], hours[6]);
        assert_eq!(
            hours,
            hourly(60_000 * 7, 7, as_of, tz),
            "the same every time"
        );
        assert!(hourly(10, 0, as_of, tz).is_empty());
    }
}
