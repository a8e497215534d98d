//! Signing in, in three steps so that the slow password check never holds a database
//! connection: `prepare` (is this client allowed to try this name now? the stored hash),
//! the caller's bounded password check (`users::verify_password`, off the pool), then
//! `finish` (record the outcome). Throttling is counted in the database, so every API
//! process agrees, and keyed by client address:
//! - a name tried from one address: after `auth.max_failed_logins` failures in a row that
//!   address waits before trying that name again, the wait doubling per further failure —
//!   the account's owner elsewhere still signs in;
//! - an address: after `auth.max_failed_logins_per_address` failures within
//!   `auth.address_window_secs`, whatever the names, it waits out the window.
//!
//! Known and unknown names, and disabled accounts, are answered alike: the same check,
//! the same counting, the same words. A person's change of their own password is counted
//! the same way, and a reset from the command line lifts the throttle.

use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;

use crate::config::AuthSettings;
use crate::db::{truncate_to_micros, write_tx, DbConnection};
use crate::error::{CoreError, CoreResult, FieldError};
use crate::ids::UserId;
use crate::schema::{signin_throttle, users};
use crate::scope::Actor;
use crate::users::{apply, normalize_username, set_password, PasswordChange, User, UserChange};
use crate::validate;

pub const BAD_LOGIN: &str = "wrong username or password";

/// A sign-in allowed to go on: the name, the client, and the account if there is one.
#[derive(Debug, Clone)]
pub struct Candidate {
    username: String,
    client: String,
    account: Option<(User, String)>,
}

impl Candidate {
    /// The hash to check the password against: the account's, or a decoy for an unknown
    /// name, so that both cost the same.
    pub fn hash(&self) -> String {
        match &self.account {
            Some((_, hash)) => hash.clone(),
            None => crate::users::decoy_hash().to_owned(),
        }
    }
}

fn pair_key(username: &str, client: &str) -> String {
    format!("account:{username}@{client}")
}

fn address_key(client: &str) -> String {
    format!("address:{client}")
}

fn throttled(until: NaiveDateTime, now: NaiveDateTime) -> CoreError {
    let secs = (until - now).num_milliseconds().max(0) as u64;
    CoreError::Throttled {
        retry_after_secs: secs.div_ceil(1000).max(1),
    }
}

/// Step one: refuses (429) a client that must wait, before any password is checked.
pub fn prepare(
    conn: &mut DbConnection,
    username: &str,
    client: &str,
    now: NaiveDateTime,
) -> CoreResult<Candidate> {
    let username = normalize_username(username);
    must_not_wait(conn, &username, client, now)?;
    let account: Option<(User, String)> = users::table
        .filter(users::username.eq(&username))
        .select((User::as_select(), users::password_hash))
        .first(conn)
        .optional()?;
    Ok(Candidate {
        username,
        client: client.to_owned(),
        account,
    })
}

/// 429 while `client` must wait before trying `username` (or anything) again.
pub fn must_not_wait(
    conn: &mut DbConnection,
    username: &str,
    client: &str,
    now: NaiveDateTime,
) -> CoreResult<()> {
    let keys = [
        pair_key(&normalize_username(username), client),
        address_key(client),
    ];
    let until: Option<NaiveDateTime> = signin_throttle::table
        .filter(signin_throttle::key.eq_any(&keys))
        .filter(signin_throttle::locked_until.gt(now))
        .select(signin_throttle::locked_until)
        .load::<Option<NaiveDateTime>>(conn)?
        .into_iter()
        .flatten()
        .max();
    match until {
        Some(until) => Err(throttled(until, now)),
        None => Ok(()),
    }
}

/// Step three: the outcome of the password check. A right password of an active account
/// clears this client's count for the name; anything else — a wrong password, an unknown
/// name, a disabled account — is one more failure and the same answer.
pub fn finish(
    conn: &mut DbConnection,
    candidate: Candidate,
    password_ok: bool,
    now: NaiveDateTime,
    policy: &AuthSettings,
) -> CoreResult<User> {
    let now = truncate_to_micros(now);
    let pair = pair_key(&candidate.username, &candidate.client);
    match candidate.account {
        Some((user, _)) if password_ok && user.active => {
            diesel::delete(signin_throttle::table.find(&pair)).execute(conn)?;
            Ok(user)
        }
        _ => {
            record_failure(conn, &candidate.username, &candidate.client, now, policy)?;
            Err(CoreError::Unauthenticated(BAD_LOGIN))
        }
    }
}

/// One more failed password from `client` for `username` (a sign-in, or a wrong current
/// password when changing it).
pub fn record_failure(
    conn: &mut DbConnection,
    username: &str,
    client: &str,
    now: NaiveDateTime,
    policy: &AuthSettings,
) -> CoreResult<()> {
    let now = truncate_to_micros(now);
    let pair = pair_key(&normalize_username(username), client);
    write_tx(conn, |conn| -> CoreResult<()> {
        count_failure(conn, &pair, now, |failures| {
            let over = failures - policy.max_failed_logins;
            (over >= 0).then(|| {
                now + Duration::seconds(
                    policy
                        .lockout_base_secs
                        .saturating_mul(1_i64 << over.min(30))
                        .min(policy.lockout_max_secs),
                )
            })
        })?;
        let window = Duration::seconds(policy.address_window_secs.max(1));
        count_window_failure(
            conn,
            &address_key(client),
            now,
            window,
            policy.max_failed_logins_per_address,
        )
    })
}

/// One more failure in a row for `key`; `lock` decides, from the new count, until when.
fn count_failure(
    conn: &mut DbConnection,
    key: &str,
    now: NaiveDateTime,
    lock: impl Fn(i32) -> Option<NaiveDateTime>,
) -> CoreResult<()> {
    let failures = bump(conn, key, now, None)?;
    if let Some(until) = lock(failures) {
        diesel::update(signin_throttle::table.find(key))
            .set(signin_throttle::locked_until.eq(Some(truncate_to_micros(until))))
            .execute(conn)?;
    }
    Ok(())
}

/// One more failure within a window: past `limit` the key waits out the window.
fn count_window_failure(
    conn: &mut DbConnection,
    key: &str,
    now: NaiveDateTime,
    window: Duration,
    limit: i32,
) -> CoreResult<()> {
    let failures = bump(conn, key, now, Some(window))?;
    if failures >= limit.max(1) {
        let first: NaiveDateTime = signin_throttle::table
            .find(key)
            .select(signin_throttle::first_failure_at)
            .first(conn)?;
        diesel::update(signin_throttle::table.find(key))
            .set(signin_throttle::locked_until.eq(Some(truncate_to_micros(first + window))))
            .execute(conn)?;
    }
    Ok(())
}

/// Adds a failure to `key` (a new row, or a new window once `window` has passed); returns
/// the count. The row is locked for the rest of the transaction, so racing processes count
/// every failure.
fn bump(
    conn: &mut DbConnection,
    key: &str,
    now: NaiveDateTime,
    window: Option<Duration>,
) -> CoreResult<i32> {
    let row: Option<(i32, NaiveDateTime)> = signin_throttle::table
        .find(key)
        .select((signin_throttle::failures, signin_throttle::first_failure_at))
        .first(conn)
        .optional()?;
    match row {
        None => {
            // A racing process may have made the row meanwhile: one upsert counts both.
            #[derive(QueryableByName)]
            struct Count {
                #[diesel(sql_type = diesel::sql_types::Integer)]
                failures: i32,
            }
            Ok(diesel::sql_query(
                "INSERT INTO signin_throttle (key, failures, first_failure_at) VALUES ($1, 1, $2) \
                 ON CONFLICT (key) DO UPDATE SET failures = signin_throttle.failures + 1 \
                 RETURNING failures",
            )
            .bind::<diesel::sql_types::Text, _>(key)
            .bind::<diesel::sql_types::Timestamp, _>(now)
            .get_result::<Count>(conn)?
            .failures)
        }
        Some((_, first)) if window.is_some_and(|w| first + w <= now) => {
            diesel::update(signin_throttle::table.find(key))
                .set((
                    signin_throttle::failures.eq(1),
                    signin_throttle::first_failure_at.eq(now),
                    signin_throttle::locked_until.eq(None::<NaiveDateTime>),
                ))
                .execute(conn)?;
            Ok(1)
        }
        Some(_) => Ok(diesel::update(signin_throttle::table.find(key))
            .set(signin_throttle::failures.eq(signin_throttle::failures + 1))
            .returning(signin_throttle::failures)
            .get_result(conn)?),
    }
}

/// Lets every client try a name again (`jiesu admin reset-password`).
pub fn lift(conn: &mut DbConnection, username: &str) -> CoreResult<usize> {
    let prefix = format!("account:{}@", normalize_username(username));
    let pattern = format!(
        "{}%",
        prefix
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_")
    );
    Ok(diesel::delete(
        signin_throttle::table.filter(signin_throttle::key.like(pattern).escape('\\')),
    )
    .execute(conn)?)
}

/// Forgets counts that have been quiet for a day and hold no wait.
pub fn purge(conn: &mut DbConnection, now: NaiveDateTime) -> CoreResult<usize> {
    let quiet = now - Duration::days(1);
    Ok(diesel::delete(
        signin_throttle::table
            .filter(signin_throttle::first_failure_at.lt(quiet))
            .filter(
                signin_throttle::locked_until
                    .is_null()
                    .or(signin_throttle::locked_until.lt(now)),
            ),
    )
    .execute(conn)?)
}

// ---------------------------------------------------------------- passwords set or changed

/// Sets an account's password without an acting user: for the command line, when the
/// last administrator is locked out. Ends the account's sessions and lifts a sign-in
/// throttle; does not enable a disabled account.
pub fn reset_password_unchecked(
    conn: &mut DbConnection,
    username: &str,
    password: &str,
    now: NaiveDateTime,
) -> CoreResult<User> {
    let change = UserChange {
        password: Some(password.to_owned()),
        ..UserChange::default()
    };
    let errors = validate::fields(&change);
    if !errors.is_empty() {
        return Err(CoreError::Invalid(errors));
    }
    let id: UserId = users::table
        .filter(users::username.eq(normalize_username(username)))
        .select(users::id)
        .first(conn)
        .optional()?
        .ok_or(CoreError::NotFound("user"))?;
    let user = apply(conn, id, &change, crate::db::truncate_to_micros(now))?;
    lift(conn, username)?;
    Ok(user)
}

/// A change of one's own password is done in three steps, like signing in, so that the
/// slow argon2 work never holds a database connection: `prepare_change` (the input, the
/// throttle, the stored hash), the caller's bounded check of the current password and hash
/// of the new one (off the pool), then `finish_change`. A wrong current password counts as
/// a failed sign-in from `client` (the same slow-down applies), so a stolen session cannot
/// guess it.
///
/// This step refuses bad input or a client that must wait, and answers the hash the
/// current password is checked against.
pub fn prepare_change(
    conn: &mut DbConnection,
    actor: &Actor,
    change: &PasswordChange,
    client: &str,
    now: NaiveDateTime,
) -> CoreResult<String> {
    let mut errors = validate::fields(change);
    if change.new_password == change.current_password {
        errors.push(FieldError::new(
            "new_password",
            "unchanged",
            "the new password must differ from the current one",
        ));
    }
    if !errors.is_empty() {
        return Err(CoreError::Invalid(errors));
    }
    must_not_wait(conn, &actor.username, client, now)?;
    Ok(users::table
        .find(actor.user_id)
        .select(users::password_hash)
        .first(conn)?)
}

/// The last step of a change of one's own password: `new_hash` is the new password's hash
/// when the current password was right, `None` when it was wrong (counted as a failed
/// sign-in, and refused naming `current_password`). Every other session of the account
/// ends; the caller issues a fresh token from the returned account to keep this one.
pub fn finish_change(
    conn: &mut DbConnection,
    actor: &Actor,
    new_hash: Option<&str>,
    client: &str,
    now: NaiveDateTime,
    policy: &AuthSettings,
) -> CoreResult<User> {
    let Some(new_hash) = new_hash else {
        record_failure(conn, &actor.username, client, now, policy)?;
        return Err(CoreError::invalid(
            "current_password",
            "wrong",
            "the current password is not right",
        ));
    };
    let now = crate::db::truncate_to_micros(now);
    write_tx(conn, |conn| {
        set_password(conn, actor.user_id, new_hash, now)?;
        Ok(users::table
            .find(actor.user_id)
            .select(User::as_select())
            .first(conn)?)
    })
}
