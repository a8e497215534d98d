//! The API over real HTTP, every test on SQLite and on PostgreSQL, each with its own database.

mod helpers;

mod auth;
mod bad_input;
mod categories;
mod org_units;
mod partners;
mod scope;
mod users;
