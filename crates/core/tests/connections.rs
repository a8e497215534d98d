//! What every PostgreSQL connection of the pool sets before its first query, and that an
//! operator's own setting wins over jiesu's default.

#![allow(clippy::unwrap_used)]

use diesel::prelude::*;
use diesel::r2d2::ManageConnection;
use diesel::sql_types::Text;
use jiesu_core::db::{ConnectionManager, DatabaseUrl, DbConnection};
use jiesu_core::testing::{Store, TestDb};

#[derive(QueryableByName)]
struct Setting {
    #[diesel(sql_type = Text)]
    value: String,
}

fn setting(conn: &mut DbConnection, name: &str) -> String {
    diesel::sql_query(format!("SELECT current_setting('{name}') AS value"))
        .get_result::<Setting>(conn)
        .unwrap()
        .value
}

fn connect(url: &str) -> DbConnection {
    ConnectionManager::new(DatabaseUrl::Postgres(url.to_owned()))
        .connect()
        .unwrap()
}

#[test]
fn postgres_connections_plan_each_read_and_keep_the_operators_page_cost() {
    let db = TestDb::new(Store::Postgres);
    let DatabaseUrl::Postgres(url) = &db.url else {
        unreachable!()
    };
    // jiesu's defaults: a plan per read's values, random reads priced as on SSD.
    let mut conn = connect(url);
    assert_eq!(setting(&mut conn, "plan_cache_mode"), "force_custom_plan");
    assert_eq!(setting(&mut conn, "random_page_cost"), "1.1");

    // The operator's value in the URL stands.
    let sep = if url.contains('?') { '&' } else { '?' };
    let mut conn = connect(&format!("{url}{sep}options=-c%20random_page_cost%3D4"));
    assert_eq!(setting(&mut conn, "random_page_cost"), "4");

    // So does one set on the database.
    let mut admin = connect(url);
    diesel::sql_query(
        "DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET random_page_cost = 2', \
         current_database()); END $$",
    )
    .execute(&mut admin)
    .unwrap();
    let mut conn = connect(url);
    assert_eq!(setting(&mut conn, "random_page_cost"), "2");
    assert_eq!(setting(&mut conn, "plan_cache_mode"), "force_custom_plan");
}
