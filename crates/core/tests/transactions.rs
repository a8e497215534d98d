//! Writes compose: a caller opens one transaction and runs two of core's writes in it, on
//! SQLite as on PostgreSQL; the caller's outcome decides for both.

#![allow(clippy::unwrap_used)]

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;
use jiesu_core::calendar::WorkingCalendar;
use jiesu_core::config::CalendarSettings;
use jiesu_core::db::{self, write_tx, DbConnection};
use jiesu_core::error::{CoreError, CoreResult};
use jiesu_core::ids::UserId;
use jiesu_core::schema::{escalation_due, ticket_events, tickets, users};
use jiesu_core::scope::Actor;
use jiesu_core::testing::{grid_ticket, Store, TestDb};
use jiesu_core::tickets::logging;
use jiesu_core::tickets::Context;

fn now() -> NaiveDateTime {
    NaiveDate::from_ymd_opt(2026, 3, 2)
        .and_then(|d| d.and_hms_opt(2, 0, 0))
        .unwrap()
}

fn counts(conn: &mut DbConnection) -> (i64, i64, i64) {
    (
        tickets::table.count().get_result(conn).unwrap(),
        ticket_events::table.count().get_result(conn).unwrap(),
        escalation_due::table.count().get_result(conn).unwrap(),
    )
}

fn two_logs_in_one_transaction(store: Store) {
    let db = TestDb::new(store);
    let pool = db::connect(&db.url, 1).unwrap();
    let mut conn = pool.get().unwrap();
    db::run_migrations(&mut conn).unwrap();
    jiesu_core::demo::seed(&mut conn, false, now()).unwrap();
    let id: UserId = users::table
        .filter(users::username.eq("demo-grid"))
        .select(users::id)
        .first(&mut conn)
        .unwrap();
    let grid = Actor::load(&mut conn, id).unwrap();
    let calendar = WorkingCalendar::weekly(&CalendarSettings::default()).unwrap();
    let ctx = Context {
        now: now(),
        calendar: &calendar,
        reference: &Default::default(),
        public_url: "http://localhost",
        mail_language: Default::default(),
    };
    let before = counts(&mut conn);

    // The second write fails: the first, committed inside its own write_tx, is undone too.
    let failed = write_tx(&mut conn, |conn| -> CoreResult<()> {
        logging::log(conn, &grid, &grid_ticket("一号"), None, &ctx)?;
        logging::log(conn, &grid, &grid_ticket(""), None, &ctx)?;
        Ok(())
    });
    assert!(
        matches!(&failed, Err(CoreError::Invalid(fields)) if fields[0].field == "title"),
        "{failed:?}"
    );
    assert_eq!(
        counts(&mut conn),
        before,
        "nothing of the failed pair is kept"
    );

    // Both succeed: both are there, each with its event and its deadline jobs.
    let numbers = write_tx(&mut conn, |conn| -> CoreResult<Vec<String>> {
        let a = logging::log(conn, &grid, &grid_ticket("一号"), None, &ctx)?;
        let b = logging::log(conn, &grid, &grid_ticket("二号"), None, &ctx)?;
        Ok(vec![a.ticket.number, b.ticket.number])
    })
    .unwrap();
    assert_ne!(numbers[0], numbers[1]);
    let after = counts(&mut conn);
    assert_eq!(after.0, before.0 + 2);
    assert_eq!(after.1, before.1 + 2);
    assert!(after.2 > before.2);
    let stored: Vec<String> = tickets::table
        .filter(tickets::number.eq_any(&numbers))
        .select(tickets::title)
        .order(tickets::id)
        .load(&mut conn)
        .unwrap();
    assert_eq!(stored, ["一号", "二号"]);

    // A caller's rollback after both writes succeeded undoes both.
    let rolled_back = write_tx(&mut conn, |conn| -> CoreResult<()> {
        logging::log(conn, &grid, &grid_ticket("三号"), None, &ctx)?;
        logging::log(conn, &grid, &grid_ticket("四号"), None, &ctx)?;
        Err(CoreError::conflict("the caller changed its mind"))
    });
    assert!(rolled_back.is_err());
    assert_eq!(counts(&mut conn), after);
}

#[test]
fn sqlite_two_writes_compose_in_one_transaction() {
    two_logs_in_one_transaction(Store::Sqlite);
}

#[test]
fn postgres_two_writes_compose_in_one_transaction() {
    two_logs_in_one_transaction(Store::Postgres);
}
