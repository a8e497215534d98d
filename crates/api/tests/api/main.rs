//! The API over real HTTP, every test on SQLite and on PostgreSQL, each with its own database.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod helpers;

mod lists;

mod auth;
mod bad_input;
mod categories;
mod console;
mod escalations;
mod exposure;
mod hostile;
mod open311;
mod openapi;
mod org_units;
mod partners;
mod processes;
mod scope;
mod stats;
mod tickets;
mod users;
