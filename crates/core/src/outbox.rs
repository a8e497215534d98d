//! The transactional outbox: a mail is a row written in the same transaction as the change
//! that causes it (an escalation, a dispatch), so a rolled-back change sends nothing and a
//! committed one loses nothing. A sender takes due rows, delivers them, and marks each sent
//! only after the mail server accepted it; failures are retried with exponential backoff.

use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;
use serde::Serialize;

use crate::db::{truncate_to_micros, DbConnection};
use crate::error::CoreResult;
use crate::ids::MailId;
use crate::schema::outbox;

/// How long a sender holds rows it took; a sender that died lets them go after this.
const CLAIM_SECS: i64 = 300;
const MAX_BACKOFF_SECS: i64 = 3600;

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[diesel(table_name = outbox)]
pub struct Mail {
    pub id: MailId,
    pub kind: String,
    pub recipient: String,
    pub subject: String,
    pub body: String,
    pub attempts: i32,
}

/// Writes a mail for one recipient, in the caller's transaction.
pub fn enqueue(
    conn: &mut DbConnection,
    recipient: &str,
    mail: &crate::mail::Mail,
    now: NaiveDateTime,
) -> CoreResult<()> {
    let now = truncate_to_micros(now);
    diesel::insert_into(outbox::table)
        .values((
            outbox::kind.eq(mail.kind.as_str()),
            outbox::recipient.eq(recipient),
            outbox::subject.eq(&mail.subject),
            outbox::body.eq(&mail.body),
            outbox::created_at.eq(now),
            outbox::attempts.eq(0),
            outbox::next_attempt_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

/// Which waiting mails a sender takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Take {
    /// Mail never tried, and failed mail whose backoff has passed at `now`. A mail never
    /// tried is due whatever instant it was written at, so a sweep replayed as of a later
    /// instant does not hold real mail back until then.
    Due,
    /// Every unsent mail, failed ones too, without waiting out their backoff (an operator's
    /// "retry now" once the mail server is back).
    AllNow,
}

/// Takes up to `limit` mails at `now` that no other sender holds. Each row is taken with a
/// conditional update, so two senders never take the same row.
pub fn take(
    conn: &mut DbConnection,
    which: Take,
    now: NaiveDateTime,
    limit: i64,
) -> CoreResult<Vec<Mail>> {
    let now = truncate_to_micros(now);
    let mut query = outbox::table.filter(outbox::sent_at.is_null()).into_boxed();
    if which == Take::Due {
        query = query.filter(outbox::attempts.eq(0).or(outbox::next_attempt_at.le(now)));
    }
    let candidates: Vec<MailId> = query
        .filter(
            outbox::claimed_until
                .is_null()
                .or(outbox::claimed_until.lt(now)),
        )
        .order(outbox::id)
        .limit(limit)
        .select(outbox::id)
        .load(conn)?;
    let mut taken = Vec::new();
    for id in candidates {
        let won = diesel::update(
            outbox::table
                .filter(outbox::id.eq(id))
                .filter(outbox::sent_at.is_null())
                .filter(
                    outbox::claimed_until
                        .is_null()
                        .or(outbox::claimed_until.lt(now)),
                ),
        )
        .set(outbox::claimed_until.eq(now + Duration::seconds(CLAIM_SECS)))
        .execute(conn)?;
        if won == 1 {
            taken.push(
                outbox::table
                    .find(id)
                    .select(Mail::as_select())
                    .first(conn)?,
            );
        }
    }
    Ok(taken)
}

pub fn mark_sent(conn: &mut DbConnection, id: MailId, now: NaiveDateTime) -> CoreResult<()> {
    diesel::update(outbox::table.find(id))
        .set((
            outbox::sent_at.eq(Some(truncate_to_micros(now))),
            outbox::attempts.eq(outbox::attempts + 1),
            outbox::claimed_until.eq(None::<NaiveDateTime>),
            outbox::last_error.eq(None::<String>),
        ))
        .execute(conn)?;
    Ok(())
}

/// Records a failed attempt; the next one waits `base_secs · 2^attempts` (at most an hour).
pub fn mark_failed(
    conn: &mut DbConnection,
    mail: &Mail,
    error: &str,
    base_secs: i64,
    now: NaiveDateTime,
) -> CoreResult<NaiveDateTime> {
    let wait = base_secs
        .saturating_mul(1_i64 << mail.attempts.clamp(0, 20))
        .min(MAX_BACKOFF_SECS);
    let next = truncate_to_micros(now + Duration::seconds(wait));
    diesel::update(outbox::table.find(mail.id))
        .set((
            outbox::attempts.eq(mail.attempts + 1),
            outbox::next_attempt_at.eq(next),
            outbox::claimed_until.eq(None::<NaiveDateTime>),
            outbox::last_error.eq(Some(error.chars().take(1000).collect::<String>())),
        ))
        .execute(conn)?;
    Ok(next)
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OutboxStatus {
    pub pending: i64,
    /// Pending mails that failed at least once.
    pub failing: i64,
    pub sent: i64,
    pub last_error: Option<String>,
}

pub fn status(conn: &mut DbConnection) -> CoreResult<OutboxStatus> {
    let pending = outbox::table
        .filter(outbox::sent_at.is_null())
        .count()
        .get_result(conn)?;
    let failing = outbox::table
        .filter(outbox::sent_at.is_null().and(outbox::attempts.gt(0)))
        .count()
        .get_result(conn)?;
    let sent = outbox::table
        .filter(outbox::sent_at.is_not_null())
        .count()
        .get_result(conn)?;
    let last_error = outbox::table
        .filter(
            outbox::sent_at
                .is_null()
                .and(outbox::last_error.is_not_null()),
        )
        .order(outbox::id.desc())
        .select(outbox::last_error)
        .first::<Option<String>>(conn)
        .optional()?
        .flatten();
    Ok(OutboxStatus {
        pending,
        failing,
        sent,
        last_error,
    })
}
