//! Who sees which ticket: the ticket view decides from the ticket it read (`visible_from_row`)
//! what the lists decide in SQL (`visible_tickets`); for every demo account and every demo
//! ticket the two agree (the pool ticket a unit sees, the ticket it holds, the one it does
//! not; a street's, a district's, a grid member's and the city's).

#![allow(clippy::unwrap_used)]

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;
use jiesu_core::calendar::WorkingCalendar;
use jiesu_core::config::CalendarSettings;
use jiesu_core::error::CoreError;
use jiesu_core::ids::{OrgUnitId, TicketId, UserId};
use jiesu_core::pagination::PageRequest;
use jiesu_core::reference::Reference;
use jiesu_core::schema::{org_units, tickets, users};
use jiesu_core::scope::Actor;
use jiesu_core::testing::{grid_ticket, Store, TestDb};
use jiesu_core::tickets::logging::{self, NewTicket};
use jiesu_core::tickets::queries::{self, TicketFilter};
use jiesu_core::tickets::Context;
use jiesu_core::types::OrgKind;

fn seeded_at() -> NaiveDateTime {
    NaiveDate::from_ymd_opt(2026, 3, 2)
        .and_then(|d| d.and_hms_opt(2, 0, 0))
        .unwrap()
}

fn the_view_and_the_lists_agree(store: Store) {
    let (db, _) = TestDb::with_demo(store, seeded_at());
    let pool = jiesu_core::db::connect(&db.url, 1).unwrap();
    let conn = &mut *jiesu_core::db::get(&pool).unwrap();
    let reference = Reference::default();
    let calendar = WorkingCalendar::weekly(&CalendarSettings::default()).unwrap();
    let ctx = Context {
        now: seeded_at(),
        calendar: &calendar,
        reference: &reference,
        public_url: "http://localhost",
        mail_language: Default::default(),
    };
    jiesu_core::demo::seed_tickets(conn, &ctx).unwrap();
    // And one in every community of the district, logged by its supervisor.
    let district: UserId = users::table
        .filter(users::username.eq("demo-district"))
        .select(users::id)
        .first(conn)
        .unwrap();
    let district = Actor::load(conn, district).unwrap();
    let mut logged = 0;
    let communities: Vec<OrgUnitId> = org_units::table
        .filter(org_units::kind.eq(OrgKind::Community))
        .select(org_units::id)
        .load(conn)
        .unwrap();
    for community in communities {
        let input = NewTicket {
            community_id: Some(community),
            ..grid_ticket("每个社区一件")
        };
        match logging::log(conn, &district, &input, None, &ctx) {
            Ok(_) => logged += 1,
            Err(CoreError::Invalid(_)) => {} // another district's
            Err(e) => panic!("{e}"),
        }
    }
    assert!(logged >= 2, "tickets in several communities: {logged}");
    let now = seeded_at() + chrono::Duration::hours(1);
    let all: Vec<TicketId> = tickets::table.select(tickets::id).load(conn).unwrap();
    assert!(all.len() >= 3, "the demo's tickets");
    let accounts: Vec<(String, UserId)> = users::table
        .select((users::username, users::id))
        .load(conn)
        .unwrap();
    let mut partly = 0;
    for (username, id) in accounts {
        let actor = Actor::load(conn, id).unwrap();
        let listed: Vec<TicketId> = queries::list(
            conn,
            &reference,
            &actor,
            &TicketFilter::default(),
            PageRequest {
                after: None,
                limit: 1000,
            },
            now,
        )
        .unwrap()
        .items
        .into_iter()
        .map(|t| t.id)
        .collect();
        for &ticket in &all {
            let shown = match queries::get(conn, &actor, ticket, "GET /api/v1/tickets/{id}", now) {
                Ok(detail) => {
                    assert_eq!(detail.ticket.id, ticket);
                    true
                }
                Err(CoreError::NotFound(_)) => false,
                Err(e) => panic!("{username} reading ticket {ticket:?}: {e}"),
            };
            assert_eq!(
                shown,
                listed.contains(&ticket),
                "{username} and ticket {ticket:?}: the view and the list disagree"
            );
        }
        if !listed.is_empty() && listed.len() < all.len() {
            partly += 1;
        }
    }
    assert!(
        partly >= 3,
        "accounts that see some tickets and not others: {partly}"
    );
}

#[test]
fn the_view_and_the_lists_agree_on_sqlite() {
    the_view_and_the_lists_agree(Store::Sqlite);
}

#[test]
fn the_view_and_the_lists_agree_on_postgres() {
    the_view_and_the_lists_agree(Store::Postgres);
}
