//! Ticket numbers, `<district code>-<year>-<sequence>`: counted per district and China-time
//! year, never repeated, at least six digits. PostgreSQL draws them from a sequence per
//! district and year, created when first needed and starting after what `ticket_counters`
//! counted (an installation that numbered before); SQLite counts in `ticket_counters`.
//! Outside and inside a caller's transaction, and from many connections at once.

#![allow(clippy::unwrap_used)]

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;
use jiesu_core::calendar::WorkingCalendar;
use jiesu_core::config::CalendarSettings;
use jiesu_core::db::{self, write_tx, DbConnection};
use jiesu_core::ids::{OrgUnitId, UserId};
use jiesu_core::reference::Reference;
use jiesu_core::schema::{org_units, ticket_counters, users};
use jiesu_core::scope::Actor;
use jiesu_core::testing::{grid_ticket, Store, TestDb};
use jiesu_core::tickets::logging;
use jiesu_core::tickets::Context;

fn at(year: i32) -> NaiveDateTime {
    NaiveDate::from_ymd_opt(year, 3, 2)
        .and_then(|d| d.and_hms_opt(2, 0, 0))
        .unwrap()
}

/// The grid member, and the district (id, code) their tickets are numbered in.
fn grid_member(conn: &mut DbConnection) -> (Actor, OrgUnitId, String) {
    let id: UserId = users::table
        .filter(users::username.eq("demo-grid"))
        .select(users::id)
        .first(conn)
        .unwrap();
    let actor = Actor::load(conn, id).unwrap();
    let path: String = users::table
        .inner_join(org_units::table)
        .filter(users::id.eq(id))
        .select(org_units::path)
        .first(conn)
        .unwrap();
    let district = OrgUnitId(path.split('/').nth(2).unwrap().parse().unwrap());
    let code = org_units::table
        .find(district)
        .select(org_units::code)
        .first(conn)
        .unwrap();
    (actor, district, code)
}

fn counted_before(conn: &mut DbConnection, district: OrgUnitId, year: i32, last: i64) {
    diesel::insert_into(ticket_counters::table)
        .values((
            ticket_counters::district_id.eq(district),
            ticket_counters::year.eq(year),
            ticket_counters::last_number.eq(last),
        ))
        .execute(conn)
        .unwrap();
}

fn numbers_go_on_from_the_count_and_never_repeat(store: Store) {
    let db = TestDb::new(store);
    let pool = db::connect(&db.url, 8).unwrap();
    let mut conn = pool.get().unwrap();
    db::run_migrations(&mut conn).unwrap();
    jiesu_core::demo::seed(&mut conn, false, at(2026)).unwrap();
    let (grid, district, code) = grid_member(&mut conn);
    let calendar = WorkingCalendar::weekly(&CalendarSettings::default()).unwrap();
    let reference = Reference::default();
    let log = |conn: &mut DbConnection, year: i32, title: &str| {
        let ctx = Context {
            now: at(year),
            calendar: &calendar,
            reference: &reference,
            public_url: "http://localhost",
            mail_language: Default::default(),
        };
        logging::log(conn, &grid, &grid_ticket(title), None, &ctx)
            .unwrap()
            .ticket
            .number
    };
    // 2029 was counted to 41 before (by counters, as SQLite counts and PostgreSQL did).
    counted_before(&mut conn, district, 2029, 41);
    let first = 42;
    assert_eq!(
        log(&mut conn, 2029, "一"),
        format!("{code}-2029-{first:06}")
    );
    // Inside a caller's transaction too.
    let inside = write_tx(&mut conn, |conn| -> Result<String, diesel::result::Error> {
        Ok(log(conn, 2029, "二"))
    })
    .unwrap();
    assert_eq!(inside, format!("{code}-2029-{:06}", first + 1));

    // Many connections at once: every number different, none skipped.
    let numbers: Vec<String> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..8)
            .map(|w| {
                let pool = pool.clone();
                let log = &log;
                s.spawn(move || {
                    let mut conn = pool.get().unwrap();
                    (0..10)
                        .map(|i| log(&mut conn, 2029, &format!("并发{w}-{i}")))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .collect()
    });
    let mut drawn: Vec<i64> = numbers
        .iter()
        .map(|n| n.rsplit('-').next().unwrap().parse().unwrap())
        .collect();
    drawn.sort_unstable();
    assert_eq!(drawn, (first + 2..first + 82).collect::<Vec<_>>());

    // A new year starts at 1; past 999,999 the number grows a digit.
    assert_eq!(log(&mut conn, 2030, "新年"), format!("{code}-2030-000001"));
    counted_before(&mut conn, district, 2031, 999_999);
    assert_eq!(log(&mut conn, 2031, "七位"), format!("{code}-2031-1000000"));
}

#[test]
fn numbers_go_on_from_the_count_and_never_repeat_on_sqlite() {
    numbers_go_on_from_the_count_and_never_repeat(Store::Sqlite);
}

#[test]
fn numbers_go_on_from_the_count_and_never_repeat_on_postgres() {
    numbers_go_on_from_the_count_and_never_repeat(Store::Postgres);
}
