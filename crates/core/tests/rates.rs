//! The set-wise rates equal the event-by-event replay that defines them, on random
//! histories, on SQLite and on PostgreSQL.
//!
//! Each case writes a handful of tickets into the demo city with random trails — claims,
//! dispatches to a unit or to the pool, reassignments, returns, resolves, return visits of
//! every verdict (or none), reopens, cancels, merges, escalations, pauses — at times on a
//! minute grid (so deadlines, events and period edges often fall on the same instant) with
//! some sub-second parts (so whole minutes are cut as chrono cuts them), several events
//! often at one instant (so "the last one" is decided by id). Then every node of the tree
//! and every partner unit is asked for several periods, both ways, and the answers must be
//! equal. Each case runs in a transaction that is rolled back.

use chrono::{Duration, NaiveDate, NaiveDateTime};
use diesel::prelude::*;
use jiesu_core::db::{self, DbConnection};
use jiesu_core::schema::{org_units, partners, ticket_events, tickets, users};
use jiesu_core::stats::{reference, setwise, Cohort, Groups, Period};
use jiesu_core::testing::{Store, TestDb};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

fn base() -> NaiveDateTime {
    NaiveDate::from_ymd_opt(2026, 3, 1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .expect("a valid date")
}

#[derive(Debug, Clone)]
struct Event {
    kind: &'static str,
    /// Seconds after the previous event (0: the same instant).
    gap: i64,
    micros: u32,
    partner: Option<usize>,
    to_status: Option<&'static str>,
    detail: Option<&'static str>,
}

#[derive(Debug, Clone)]
struct Ticket {
    community: usize,
    /// Minutes after the base.
    created: i64,
    micros: u32,
    /// Minutes after creation.
    respond_by: Option<i64>,
    resolve_by: Option<i64>,
    events: Vec<Event>,
    /// Deadlines moved after the trail (minutes after creation), as an escalation or an
    /// extension moves them.
    moved: Option<(Option<i64>, Option<i64>)>,
    /// For the stored statements' test: how many events are written before the
    /// statements are computed (the rest, and any moved deadlines, after), and whether the
    /// ticket is logged only after (an import of the past).
    split: prop::sample::Index,
    late: bool,
}

const VERDICTS: [Option<&str>; 6] = [
    None,
    Some(r#"{"satisfaction":"satisfied"}"#),
    Some(r#"{"satisfaction":"basically_satisfied"}"#),
    Some(r#"{"satisfaction":"unsatisfied"}"#),
    Some(r#"{"reason":"重复诉求"}"#),
    Some(r#"{"satisfaction":"unsatisfied","note":"复核"}"#),
];

fn event() -> impl Strategy<Value = Event> {
    let kind = prop::sample::select(vec![
        "claimed",
        "claimed",
        "dispatched",
        "reassigned",
        "returned",
        "progress",
        "resolved",
        "resolved",
        "closed",
        "closed",
        "reopened",
        "cancelled",
        "merged",
        "escalated",
        "paused",
        "resumed",
    ]);
    let gap = prop_oneof![
        Just(0i64),
        prop::sample::select(vec![60i64, 120, 300, 600, 1_800, 3_600]),
        0i64..20_000
    ];
    let micros = prop_oneof![Just(0u32), 0u32..1_000_000];
    (
        kind,
        gap,
        micros,
        prop::option::of(0usize..8),
        prop::sample::select(VERDICTS.to_vec()),
        prop::bool::ANY,
    )
        .prop_map(|(kind, gap, micros, partner, detail, plain)| {
            let to_status = match kind {
                "cancelled" | "merged" if plain => None,
                "cancelled" => Some("cancelled"),
                "merged" => Some("merged"),
                _ => None,
            };
            Event {
                kind,
                gap,
                micros,
                partner: partner.filter(|_| kind != "returned" || plain),
                to_status,
                detail: matches!(kind, "closed" | "reopened" | "resolved")
                    .then_some(detail)
                    .flatten(),
            }
        })
}

fn ticket() -> impl Strategy<Value = Ticket> {
    (
        0usize..64,
        prop_oneof![(0i64..20).prop_map(|k| k * 30), 0i64..600],
        prop_oneof![Just(0u32), 0u32..1_000_000],
        prop::option::of(prop::sample::select(vec![0i64, 1, 2, 5, 10, 30, 60, 120])),
        prop::option::of(prop::sample::select(vec![
            0i64, 5, 30, 60, 120, 240, 600, 1_440,
        ])),
        prop::collection::vec(event(), 0..9),
        prop::option::weighted(
            0.2,
            (prop::option::of(0i64..600), prop::option::of(0i64..2_000)),
        ),
        any::<prop::sample::Index>(),
        prop::bool::weighted(0.1),
    )
        .prop_map(
            |(community, created, micros, respond_by, resolve_by, events, moved, split, late)| {
                Ticket {
                    community,
                    created,
                    micros,
                    respond_by,
                    resolve_by,
                    events,
                    moved,
                    split,
                    late,
                }
            },
        )
}

/// Periods as (start, end) in minutes after the base.
fn periods() -> impl Strategy<Value = Vec<(i64, i64)>> {
    prop::collection::vec(
        prop_oneof![
            (0i64..24, 1i64..48).prop_map(|(from, len)| (from * 30, (from + len) * 30)),
            (0i64..700, 1i64..1_500).prop_map(|(from, len)| (from, from + len)),
        ],
        1..4,
    )
}

struct City {
    /// (community id, its path)
    communities: Vec<(i64, String)>,
    nodes: Vec<String>,
    partners: Vec<i64>,
    category: i64,
    reporter: i64,
}

fn city(conn: &mut DbConnection) -> City {
    let communities: Vec<(i64, String)> = org_units::table
        .filter(org_units::kind.eq("community"))
        .order(org_units::id)
        .select((org_units::id, org_units::path))
        .load::<(jiesu_core::ids::OrgUnitId, String)>(conn)
        .expect("communities")
        .into_iter()
        .map(|(id, path)| (id.0, path))
        .collect();
    let nodes: Vec<String> = org_units::table
        .filter(org_units::kind.ne("grid"))
        .order(org_units::id)
        .select(org_units::path)
        .load(conn)
        .expect("nodes");
    let partners: Vec<i64> = partners::table
        .order(partners::id)
        .select(partners::id)
        .load::<jiesu_core::ids::PartnerId>(conn)
        .expect("partners")
        .into_iter()
        .map(|p| p.0)
        .collect();
    let category: i64 = jiesu_core::schema::categories::table
        .select(jiesu_core::schema::categories::id)
        .first::<jiesu_core::ids::CategoryId>(conn)
        .expect("a category")
        .0;
    let reporter: i64 = users::table
        .select(users::id)
        .first::<jiesu_core::ids::UserId>(conn)
        .expect("a user")
        .0;
    assert!(communities.len() > 1 && nodes.len() > communities.len() && partners.len() > 1);
    City {
        communities,
        nodes,
        partners,
        category,
        reporter,
    }
}

/// Writes the tickets; answers the instants they were logged at and their events and
/// deadlines fell on, for periods to start or end on.
fn write(conn: &mut DbConnection, city: &City, list: &[Ticket]) -> QueryResult<Vec<NaiveDateTime>> {
    let mut instants = Vec::new();
    for (n, t) in list.iter().enumerate() {
        write_whole(conn, city, n, t, &mut instants)?;
    }
    Ok(instants)
}

/// Writes the `n`th ticket whole: logged, its trail, its deadlines moved.
fn write_whole(
    conn: &mut DbConnection,
    city: &City,
    n: usize,
    t: &Ticket,
    instants: &mut Vec<NaiveDateTime>,
) -> QueryResult<()> {
    let mut w = log(conn, city, n, t, instants)?;
    add_events(conn, city, t, &mut w, t.events.len(), instants)?;
    move_deadlines(conn, t, &w, instants)
}

/// How far a ticket has been written: its id, the instant of its last event, and how many
/// of its events are written.
struct Written {
    id: jiesu_core::ids::TicketId,
    created: NaiveDateTime,
    at: NaiveDateTime,
    next: usize,
}

/// Logs the `n`th ticket (its row and its `logged` event).
fn log(
    conn: &mut DbConnection,
    city: &City,
    n: usize,
    t: &Ticket,
    instants: &mut Vec<NaiveDateTime>,
) -> QueryResult<Written> {
    let (community, path) = &city.communities[t.community % city.communities.len()];
    let created =
        base() + Duration::minutes(t.created) + Duration::microseconds(i64::from(t.micros));
    let respond_by = t.respond_by.map(|m| created + Duration::minutes(m));
    let resolve_by = t.resolve_by.map(|m| created + Duration::minutes(m));
    instants.extend(
        [Some(created), respond_by, resolve_by]
            .into_iter()
            .flatten(),
    );
    let id: jiesu_core::ids::TicketId = diesel::insert_into(tickets::table)
        .values((
            tickets::number.eq(format!("PROP-{n}")),
            tickets::category_id.eq(city.category),
            tickets::priority.eq("normal"),
            tickets::title.eq("随机历史"),
            tickets::description.eq("性质测试"),
            tickets::community_id.eq(community),
            tickets::org_path.eq(path),
            tickets::address.eq("某处"),
            tickets::households.eq(1),
            tickets::status.eq("reported"),
            tickets::in_pool.eq(false),
            tickets::level.eq(0),
            tickets::respond_by.eq(respond_by),
            tickets::resolve_by.eq(resolve_by),
            tickets::reopen_count.eq(0),
            tickets::return_count.eq(0),
            tickets::reported_by.eq(city.reporter),
            tickets::version.eq(0),
            tickets::created_at.eq(created),
            tickets::updated_at.eq(created),
        ))
        .returning(tickets::id)
        .get_result(conn)?;
    let logged = (
        ticket_events::ticket_id.eq(id.0),
        ticket_events::kind.eq("logged"),
        ticket_events::to_status.eq(Some("reported")),
        ticket_events::created_at.eq(created),
    );
    diesel::insert_into(ticket_events::table)
        .values(logged)
        .execute(conn)?;
    // How it came in: the tickets in turn by hotline, patrol and app, so that the rates of
    // one channel are compared too.
    diesel::insert_into(jiesu_core::schema::ticket_intake::table)
        .values((
            jiesu_core::schema::ticket_intake::ticket_id.eq(id.0),
            jiesu_core::schema::ticket_intake::channel.eq(CHANNELS[n % CHANNELS.len()]),
        ))
        .execute(conn)?;
    Ok(Written {
        id,
        created,
        at: created,
        next: 0,
    })
}

/// Writes the ticket's events from the next unwritten one up to (not including) `upto`.
fn add_events(
    conn: &mut DbConnection,
    city: &City,
    t: &Ticket,
    w: &mut Written,
    upto: usize,
    instants: &mut Vec<NaiveDateTime>,
) -> QueryResult<()> {
    for e in &t.events[w.next..upto] {
        // Any sub-second part, so long as the trail stays in time order.
        let next = w.at + Duration::seconds(e.gap);
        w.at = if e.micros > 0 {
            (whole_second(next) + Duration::microseconds(i64::from(e.micros))).max(w.at)
        } else {
            next
        };
        instants.push(w.at);
        diesel::insert_into(ticket_events::table)
            .values((
                ticket_events::ticket_id.eq(w.id.0),
                ticket_events::kind.eq(e.kind),
                ticket_events::to_status.eq(e.to_status),
                ticket_events::partner_id
                    .eq(e.partner.map(|p| city.partners[p % city.partners.len()])),
                ticket_events::detail.eq(e.detail),
                ticket_events::created_at.eq(w.at),
            ))
            .execute(conn)?;
    }
    w.next = w.next.max(upto);
    Ok(())
}

/// Moves the ticket's deadlines, if its history does.
fn move_deadlines(
    conn: &mut DbConnection,
    t: &Ticket,
    w: &Written,
    instants: &mut Vec<NaiveDateTime>,
) -> QueryResult<()> {
    if let Some((respond_by, resolve_by)) = t.moved {
        let respond_by = respond_by.map(|m| w.created + Duration::minutes(m));
        let resolve_by = resolve_by.map(|m| w.created + Duration::minutes(m));
        instants.extend([respond_by, resolve_by].into_iter().flatten());
        diesel::update(tickets::table.find(w.id))
            .set((
                tickets::respond_by.eq(respond_by),
                tickets::resolve_by.eq(resolve_by),
            ))
            .execute(conn)?;
    }
    Ok(())
}

fn whole_second(t: NaiveDateTime) -> NaiveDateTime {
    use chrono::Timelike;
    t.with_nanosecond(0).unwrap_or(t)
}

/// Both answers for every node and unit and period.
type Answers = Vec<(String, Period, Groups, Groups)>;

fn answers(conn: &mut DbConnection, city: &City, periods: &[Period]) -> QueryResult<Answers> {
    let mut out = Vec::new();
    for cohort in cohorts(city) {
        for &period in periods {
            let expected = reference::groups(conn, &cohort, period).map_err(fail)?;
            let got = setwise::groups(conn, &cohort, period).map_err(fail)?;
            out.push((format!("{cohort:?}"), period, expected, got));
        }
    }
    Ok(out)
}

/// The channels the generated tickets come in by, in turn.
const CHANNELS: [&str; 3] = ["hotline", "patrol", "app"];

/// Every node of the tree (grids apart) and every partner unit; and of the hotline's
/// tickets only (the rates by channel), the city (its districts and units ranked within)
/// and every unit.
fn cohorts(city: &City) -> Vec<Cohort> {
    let units = || {
        city.partners
            .iter()
            .map(|&p| Cohort::partner(jiesu_core::ids::PartnerId(p)))
    };
    let hotline = city
        .nodes
        .first()
        .map(|p| Cohort::subtree(p.clone()))
        .into_iter()
        .chain(units())
        .map(|c| c.by_channel(Some(jiesu_core::types::IntakeChannel::Hotline)));
    city.nodes
        .iter()
        .map(|p| Cohort::subtree(p.clone()))
        .chain(units())
        .chain(hotline)
        .collect()
}

/// A failed read, as the query error the case reports.
fn fail(e: jiesu_core::CoreError) -> diesel::result::Error {
    diesel::result::Error::QueryBuilderError(format!("{e}").into())
}

/// A runner of `cases` random cases, none kept on disk.
fn runner(cases: u32) -> TestRunner {
    TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    })
}

/// A case's periods (minutes after the base), and those from the base to instants of the
/// data itself, picked (and, `onwards`, two days from them).
fn case_periods(
    periods: &[(i64, i64)],
    picks: &[prop::sample::Index],
    instants: &[NaiveDateTime],
    onwards: bool,
) -> Vec<Period> {
    let at = |m: i64| base() + Duration::minutes(m);
    let mut all: Vec<Period> = periods
        .iter()
        .filter_map(|&(from, to)| Period::new(at(from), at(to)).ok())
        .collect();
    if !instants.is_empty() {
        for pick in picks {
            let edge = *pick.get(instants);
            all.extend(Period::new(base(), edge).ok());
            if onwards {
                all.extend(Period::new(edge, edge + Duration::days(2)).ok());
            }
        }
    }
    all
}

/// Runs a case in a transaction that is rolled back; its answer.
fn rolled_back<T>(
    conn: &mut DbConnection,
    case: impl FnOnce(&mut DbConnection) -> QueryResult<T>,
) -> Result<T, TestCaseError> {
    let mut result = None;
    let _ = conn.transaction::<(), diesel::result::Error, _>(|conn| {
        result = Some(case(conn));
        Err(diesel::result::Error::RollbackTransaction)
    });
    result
        .expect("the case ran")
        .map_err(|e| TestCaseError::fail(format!("query failed: {e}")))
}

/// A database of its own, migrated, with the demo city; a connection to it; the city.
fn demo_city(store: Store) -> (TestDb, db::PooledConnection, City) {
    let (test_db, pool, city) = demo_city_pool(store, 1);
    let conn = pool.get().expect("a connection");
    (test_db, conn, city)
}

/// The same with a pool of `size` connections.
fn demo_city_pool(store: Store, size: u32) -> (TestDb, db::Pool, City) {
    let test_db = TestDb::new(store);
    let pool = db::connect(&test_db.url, size).expect("a pool");
    let mut conn = pool.get().expect("a connection");
    db::run_migrations(&mut conn).expect("migrated");
    jiesu_core::demo::seed(&mut conn, false, base() - Duration::days(30)).expect("the demo city");
    let city = city(&mut conn);
    drop(conn);
    (test_db, pool, city)
}

fn set_wise_equals_replay(store: Store, cases: u32) {
    let (_db, conn, city) = demo_city(store);
    let mut runner = runner(cases);
    // Random periods, and periods that end or start on an instant of the data itself.
    let strategy = (
        prop::collection::vec(ticket(), 3..16),
        periods(),
        prop::collection::vec(any::<prop::sample::Index>(), 3),
    );
    // Every figure the rates have must have been counted somewhere, or the cases missed it.
    let tally = std::cell::RefCell::new((0usize, 0usize, jiesu_core::stats::Figures::default()));
    let conn = std::cell::RefCell::new(conn);
    runner
        .run(&strategy, |(list, periods, picks)| {
            let answers = rolled_back(&mut conn.borrow_mut(), |conn| {
                let instants = write(conn, &city, &list)?;
                answers(
                    conn,
                    &city,
                    &case_periods(&periods, &picks, &instants, true),
                )
            })?;
            let (compared, nonempty, seen) = &mut *tally.borrow_mut();
            for (cohort, period, expected, got) in answers {
                *compared += 1;
                let all = &expected.all;
                *nonempty += usize::from(all.received + all.cancelled + all.merged > 0);
                for (total, n) in [
                    (&mut seen.responded_in_time, all.responded_in_time),
                    (&mut seen.responded, all.responded - all.responded_in_time),
                    (&mut seen.resolved, all.resolved),
                    (&mut seen.reopened, all.reopened),
                    (&mut seen.visited, all.visited),
                    (&mut seen.satisfied, all.satisfied),
                    (&mut seen.overdue, all.overdue),
                    (&mut seen.escalated, all.escalated),
                    (&mut seen.cancelled, all.cancelled),
                    (&mut seen.merged, all.merged),
                ] {
                    *total += n;
                }
                seen.received += i64::from(all.median_resolution_minutes.is_some());
                prop_assert_eq!(got, expected, "{} over {:?}", cohort, period);
            }
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{e}"));
    let (compared, nonempty, seen) = tally.into_inner();
    // The cases must have reached the interesting part: most answers count something.
    eprintln!("{nonempty} of {compared} answers counted a ticket; totals {seen:?}");
    assert!(
        compared > 0 && nonempty * 4 > compared,
        "{nonempty} of {compared} answers counted a ticket"
    );
    for (figure, n) in [
        ("responded in time", seen.responded_in_time),
        ("responded late", seen.responded),
        ("resolved", seen.resolved),
        ("reopened", seen.reopened),
        ("visited", seen.visited),
        ("satisfied", seen.satisfied),
        ("overdue", seen.overdue),
        ("escalated", seen.escalated),
        ("cancelled", seen.cancelled),
        ("merged", seen.merged),
        ("with a resolution median", seen.received),
    ] {
        assert!(n > 0, "no case had a ticket {figure}");
    }
}

#[test]
fn set_wise_rates_equal_the_replay_on_sqlite() {
    set_wise_equals_replay(Store::Sqlite, 96);
}

#[test]
fn set_wise_rates_equal_the_replay_on_postgres() {
    set_wise_equals_replay(Store::Postgres, 96);
}

/// The stored statements of ended periods equal the replay after the writes that can
/// still change them: events stamped before a period's end, deadlines moved, tickets
/// logged into the past. Each case writes part of its tickets' trails, has every cohort's
/// statements of its periods computed and stored, writes the rest, and asks again.
fn statements_equal_replay(store: Store, cases: u32) {
    use jiesu_core::stats::statements;
    let (_db, conn, city) = demo_city(store);
    let mut runner = runner(cases);
    let strategy = (
        prop::collection::vec(ticket(), 3..16),
        periods(),
        prop::collection::vec(any::<prop::sample::Index>(), 2),
    );
    // Long after every period: all are settled, so all are stored.
    let now = base() + Duration::days(400);
    // (answers read from storage, answers computed again after the second writes)
    let tally = std::cell::RefCell::new((0usize, 0usize));
    let conn = std::cell::RefCell::new(conn);
    runner
        .run(&strategy, |(list, periods, picks)| {
            let answers = rolled_back(&mut conn.borrow_mut(), |conn| {
                let mut instants = Vec::new();
                let mut written = Vec::new();
                for (n, t) in list.iter().enumerate().filter(|(_, t)| !t.late) {
                    let mut w = log(conn, &city, n, t, &mut instants)?;
                    let upto = t.split.index(t.events.len() + 1);
                    add_events(conn, &city, t, &mut w, upto, &mut instants)?;
                    written.push((n, w));
                }
                let all = case_periods(&periods, &picks, &instants, false);
                let cohorts = cohorts(&city);
                for cohort in &cohorts {
                    for &period in &all {
                        statements::groups(conn, cohort, period, now).map_err(fail)?;
                    }
                }
                for (n, w) in &mut written {
                    let t = &list[*n];
                    add_events(conn, &city, t, w, t.events.len(), &mut instants)?;
                    move_deadlines(conn, t, w, &mut instants)?;
                }
                for (n, t) in list.iter().enumerate().filter(|(_, t)| t.late) {
                    write_whole(conn, &city, n, t, &mut instants)?;
                }
                let mut out = Vec::new();
                for cohort in &cohorts {
                    for &period in &all {
                        let expected = reference::groups(conn, cohort, period).map_err(fail)?;
                        let (got, stored_at) =
                            statements::groups(conn, cohort, period, now).map_err(fail)?;
                        let cohort = format!("{cohort:?}");
                        out.push((cohort, period, expected, got, stored_at.is_some()));
                    }
                }
                Ok(out)
            })?;
            let (stored, computed) = &mut *tally.borrow_mut();
            for (cohort, period, expected, got, from_storage) in answers {
                if from_storage {
                    *stored += 1;
                } else {
                    *computed += 1;
                }
                prop_assert_eq!(got, expected, "{} over {:?}", cohort, period);
            }
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{e}"));
    let (stored, computed) = tally.into_inner();
    eprintln!("{stored} answers read from storage, {computed} computed again");
    // Both ways must have been taken: statements that the second writes left alone, and
    // statements they deleted.
    assert!(
        stored > 0 && computed > 0,
        "{stored} stored, {computed} computed again"
    );
}

#[test]
fn stored_statements_equal_the_replay_on_sqlite() {
    statements_equal_replay(Store::Sqlite, 48);
}

#[test]
fn stored_statements_equal_the_replay_on_postgres() {
    statements_equal_replay(Store::Postgres, 48);
}

/// A ticket logged into an ended period by a transaction that commits while that period's
/// statement is being computed (an import running beside the first request of the day):
/// the figures computed without it are answered but not stored, and the next request
/// counts it. Real concurrency: two connections, the writer holding its transaction open
/// until the reader has computed and waits to store.
fn a_write_into_the_past_during_a_computation_is_not_lost(store: Store) {
    use jiesu_core::stats::statements;
    use proptest::strategy::ValueTree;
    let (_db, pool, city) = demo_city_pool(store, 2);
    let mut conn = pool.get().expect("a connection");
    let mut runner = TestRunner::deterministic();
    let mut list = prop::collection::vec(ticket(), 40)
        .new_tree(&mut runner)
        .expect("histories")
        .current();
    for t in &mut list {
        t.late = false;
    }
    write(&mut conn, &city, &list[..39]).expect("written");
    let root = city.nodes[0].clone();
    let cohort = Cohort::subtree(root);
    let period = Period::new(base(), base() + Duration::days(3)).expect("a period");
    let now = base() + Duration::days(400);
    let received = |g: &Groups| g.all.received + g.all.cancelled + g.all.merged;
    let before = reference::groups(&mut conn, &cohort, period).expect("the replay");

    // The import: one more ticket logged at the period's start, not yet committed.
    let mut late = list[39].clone();
    late.created = 0;
    let mut writer = pool.get().expect("a second connection");
    let backend = writer.backend();
    match backend {
        db::Backend::Sqlite => diesel::sql_query("BEGIN IMMEDIATE").execute(&mut *writer),
        db::Backend::Postgres => diesel::sql_query("BEGIN").execute(&mut *writer),
    }
    .expect("begun");
    log(&mut writer, &city, 39, &late, &mut Vec::new()).expect("logged");

    // The first request of the period, meanwhile.
    let reader = std::thread::spawn({
        let cohort = cohort.clone();
        move || {
            let answer = statements::groups(&mut conn, &cohort, period, now).expect("answered");
            (answer, conn)
        }
    });
    match backend {
        // It computed and waits, at storing, for the write in flight.
        db::Backend::Postgres => {
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
            let waiting = diesel::dsl::sql::<diesel::sql_types::BigInt>(
                "(SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' \
                 AND datname = current_database())",
            );
            while diesel::select(waiting.clone())
                .get_result::<i64>(&mut *writer)
                .expect("the activity")
                == 0
            {
                assert!(
                    std::time::Instant::now() < deadline,
                    "the reader never waited"
                );
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
        }
        // SQLite shows no waiter: the reader has a second to compute (milliseconds here)
        // and then waits on the busy timeout to store.
        db::Backend::Sqlite => std::thread::sleep(std::time::Duration::from_secs(1)),
    }
    diesel::sql_query("COMMIT")
        .execute(&mut *writer)
        .expect("committed");
    let ((first, stored_at), mut conn) = reader.join().expect("the reader");
    assert_eq!(stored_at, None);
    if backend == db::Backend::Postgres {
        assert_eq!(
            received(&first),
            received(&before),
            "computed without the import"
        );
    }
    let after = reference::groups(&mut conn, &cohort, period).expect("the replay");
    assert_eq!(received(&after), received(&before) + 1);
    let (second, stored_at) = statements::groups(&mut conn, &cohort, period, now).expect("again");
    assert_eq!(second, after, "the import is counted");
    assert_eq!(
        stored_at, None,
        "the figures without the import were not stored"
    );
    let (third, stored_at) = statements::groups(&mut conn, &cohort, period, now).expect("again");
    assert!(
        stored_at.is_some(),
        "stored once computed with nothing in flight"
    );
    assert_eq!(third, after);
}

#[test]
fn a_write_into_the_past_during_a_computation_is_not_lost_on_sqlite() {
    a_write_into_the_past_during_a_computation_is_not_lost(Store::Sqlite);
}

#[test]
fn a_write_into_the_past_during_a_computation_is_not_lost_on_postgres() {
    a_write_into_the_past_during_a_computation_is_not_lost(Store::Postgres);
}

/// Statements of periods ending at a local midnight (the console's) are kept a week after
/// they were stored, others (the API's hourly default, a period asked with its own end) a
/// day; then computed again when asked.
fn statements_are_kept_a_week(store: Store) {
    use jiesu_core::stats::statements::{self, KEEP_DAYS};
    let (_db, mut conn, city) = demo_city(store);
    let tz = chrono_tz::Asia::Shanghai;
    let cohort = cohorts(&city).remove(0);
    // base() is 08:00 in Beijing; eight hours before, midnight.
    let midnight = base() - Duration::hours(8);
    let daily = Period::new(midnight - Duration::days(1), midnight).expect("a period");
    let hourly = Period::new(base() - Duration::days(1), base()).expect("a period");
    let stored = base() + Duration::days(400);
    for period in [daily, hourly] {
        let (_, at) = statements::groups(&mut conn, &cohort, period, stored).expect("computed");
        assert_eq!(at, None);
        let (_, at) = statements::groups(&mut conn, &cohort, period, stored).expect("read");
        assert_eq!(at, Some(stored));
    }
    let stored_at = |conn: &mut DbConnection, period, now| {
        statements::groups(conn, &cohort, period, now)
            .expect("read")
            .1
    };
    let within_a_day = stored + Duration::days(1) - Duration::minutes(1);
    assert_eq!(
        statements::prune(&mut conn, within_a_day, tz).expect("pruned"),
        0
    );
    assert_eq!(stored_at(&mut conn, hourly, within_a_day), Some(stored));
    let after_a_day = stored + Duration::days(1) + Duration::minutes(1);
    assert_eq!(
        statements::prune(&mut conn, after_a_day, tz).expect("pruned"),
        1
    );
    assert_eq!(
        stored_at(&mut conn, daily, after_a_day),
        Some(stored),
        "the daily kept"
    );
    assert_eq!(
        stored_at(&mut conn, hourly, after_a_day),
        None,
        "the hourly computed again"
    );
    let within = stored + Duration::days(KEEP_DAYS) - Duration::minutes(1);
    assert_eq!(
        statements::prune(&mut conn, within, tz).expect("pruned"),
        1,
        "the hourly computed again a day ago"
    );
    assert_eq!(
        stored_at(&mut conn, daily, within),
        Some(stored),
        "kept for a week"
    );
    let after = stored + Duration::days(KEEP_DAYS) + Duration::minutes(1);
    assert_eq!(statements::prune(&mut conn, after, tz).expect("pruned"), 1);
    assert_eq!(
        stored_at(&mut conn, daily, after),
        None,
        "computed again after"
    );
}

#[test]
fn statements_are_kept_a_week_on_sqlite() {
    statements_are_kept_a_week(Store::Sqlite);
}

#[test]
fn statements_are_kept_a_week_on_postgres() {
    statements_are_kept_a_week(Store::Postgres);
}

/// A ticket's row of facts, every column.
type FactsRow = (
    (
        i64,
        String,
        NaiveDateTime,
        Option<NaiveDateTime>,
        Option<NaiveDateTime>,
    ),
    (
        Option<NaiveDateTime>,
        Option<NaiveDateTime>,
        i16,
        Option<i16>,
        Option<i64>,
    ),
    (i16, i16, i16, Option<NaiveDateTime>),
    (Option<i64>, Option<i64>),
);

fn facts(conn: &mut DbConnection) -> Vec<FactsRow> {
    use jiesu_core::schema::ticket_facts as f;
    f::table
        .order(f::ticket_id)
        .select((
            (
                f::ticket_id,
                f::org_path,
                f::created_at,
                f::respond_by,
                f::resolve_by,
            ),
            (
                f::first_claim,
                f::first_resolve,
                f::resolved,
                f::satisfied,
                f::holder,
            ),
            (f::ending, f::reopened, f::escalated, f::last_event_at),
            (f::response_minutes, f::resolution_minutes),
        ))
        .load(conn)
        .expect("the facts")
}

/// The facts that the migration builds from trails already written (an upgrade) equal those
/// the triggers kept while the trails were written: reverting and applying it again
/// changes no row.
fn rebuilt_facts_equal_kept_ones(store: Store) {
    use proptest::strategy::ValueTree;
    let (_db, mut conn, city) = demo_city(store);
    let mut runner = TestRunner::deterministic();
    let list = prop::collection::vec(ticket(), 300)
        .new_tree(&mut runner)
        .expect("histories")
        .current();
    write(&mut conn, &city, &list).expect("written");
    let kept = facts(&mut conn);
    let count = |pick: fn(&FactsRow) -> bool| kept.iter().filter(|r| pick(r)).count();
    assert!(kept.len() >= 300, "{} rows of facts", kept.len());
    for (what, n) in [
        ("claimed", count(|r| r.1 .0.is_some())),
        ("resolved", count(|r| r.1 .2 == 1)),
        ("visited", count(|r| r.1 .3.is_some())),
        ("held", count(|r| r.1 .4.is_some())),
        ("cancelled or merged", count(|r| r.2 .0 > 0)),
        ("reopened", count(|r| r.2 .1 == 1)),
        ("escalated", count(|r| r.2 .2 == 1)),
        ("with its minutes to a resolve", count(|r| r.3 .1.is_some())),
    ] {
        assert!(n > 0, "no ticket {what}");
    }
    db::redo_migrations_after(&mut conn, 14).expect("migration 15 on reverted and applied again");
    assert_eq!(facts(&mut conn), kept);
}

#[test]
fn rebuilt_facts_equal_kept_ones_on_sqlite() {
    rebuilt_facts_equal_kept_ones(Store::Sqlite);
}

#[test]
fn rebuilt_facts_equal_kept_ones_on_postgres() {
    rebuilt_facts_equal_kept_ones(Store::Postgres);
}
