//! The accounts behind tokens, kept a second by each process (`moka`), so a request does
//! not read its account and its session from the database every time: at a hundred
//! requests a second from one person, one read in a second does.
//!
//! A change made by this process (a password changed, an account updated or disabled, a
//! session signed out) takes effect here at once: its handler forgets what was kept. One
//! made by another API process takes effect here when the kept copy expires, within
//! `FRESH_FOR`. Refusals (a disabled account, an ended session's token) are never kept.

use jiesu_core::db::DbConnection;
use jiesu_core::ids::UserId;
use jiesu_core::reference::kept_a_second;
pub use jiesu_core::reference::FRESH_FOR;
use jiesu_core::scope::{session_ended, still_open};
use jiesu_core::{Actor, CoreResult};

use crate::tokens::Auth;

/// At most this many accounts and sessions kept (a city's staff signed in at once).
const CAPACITY: u64 = 200_000;

#[derive(Clone)]
pub struct Accounts {
    actors: moka::sync::Cache<UserId, Actor>,
    /// Sessions known not to be signed out.
    open: moka::sync::Cache<String, ()>,
}

impl Default for Accounts {
    fn default() -> Self {
        Accounts {
            actors: kept_a_second(CAPACITY),
            open: kept_a_second(CAPACITY),
        }
    }
}

impl Accounts {
    /// The account of a verified token from what is kept, if all of it is kept and admits
    /// the token; `None` sends the caller to `load`.
    pub fn kept(&self, auth: &Auth) -> Option<Actor> {
        let actor = self.actors.get(&auth.user_id)?;
        actor.admits(auth.generation).ok()?;
        match &auth.session {
            Some(sid) if !self.open.contains_key(sid) => None,
            _ => Some(actor),
        }
    }

    /// The account of a verified token read from the database, as `Actor::for_token`
    /// checks it, and kept.
    pub fn load(&self, conn: &mut DbConnection, auth: &Auth) -> CoreResult<Actor> {
        let actor = Actor::load(conn, auth.user_id)?;
        self.actors.insert(auth.user_id, actor.clone());
        actor.admits(auth.generation)?;
        if let Some(sid) = &auth.session {
            still_open(session_ended(conn, sid)?)?;
            self.open.insert(sid.clone(), ());
        }
        Ok(actor)
    }

    /// The account of a verified token: kept, else loaded.
    pub fn actor(&self, conn: &mut DbConnection, auth: &Auth) -> CoreResult<Actor> {
        match self.kept(auth) {
            Some(actor) => Ok(actor),
            None => self.load(conn, auth),
        }
    }

    /// After a change to the account (its password, role, scope, or disabled).
    pub fn forget_account(&self, user: UserId) {
        self.actors.invalidate(&user);
    }

    /// After the org tree changed (an account's scope is a path in it).
    pub fn forget_all(&self) {
        self.actors.invalidate_all();
    }

    /// After the session was signed out.
    pub fn forget_session(&self, sid: &str) {
        self.open.invalidate(sid);
    }
}
