//! Photos on a ticket: JPEG, PNG or WebP, recognised by their bytes (not their name),
//! stored once per content under `<2 hex>/<sha256>` in the photos' store (the data folder
//! or a bucket, `crate::photos`) and served only to those who may see the ticket.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::lifecycle::load_visible;
use crate::db::{truncate_to_micros, write_tx, DbConnection};
use crate::error::{CoreError, CoreResult};
use crate::ids::{AttachmentId, TicketId, UserId};
use crate::schema::{attachments, ticket_events};
use crate::scope::{Actor, Scope};
use crate::types::{EventKind, Role};

const ACCEPTED: &[&str] = &["image/jpeg", "image/png", "image/webp"];

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Queryable, Selectable)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[diesel(table_name = attachments)]
pub struct Attachment {
    pub id: AttachmentId,
    #[serde(skip)]
    pub ticket_id: TicketId,
    pub sha256: String,
    pub content_type: String,
    pub size_bytes: i64,
    pub file_name: String,
    pub uploaded_by: UserId,
    #[serde(serialize_with = "crate::time::utc")]
    pub created_at: NaiveDateTime,
}

pub fn list(conn: &mut DbConnection, ticket: TicketId) -> CoreResult<Vec<Attachment>> {
    Ok(attachments::table
        .filter(attachments::ticket_id.eq(ticket))
        .order(attachments::id)
        .select(Attachment::as_select())
        .load(conn)?)
}

/// A file as uploaded: the name the client gave and its bytes.
#[derive(Debug, Clone, Copy)]
pub struct Upload<'a> {
    pub file_name: &'a str,
    pub bytes: &'a [u8],
}

/// The content type of an acceptable photo: not empty, at most `max_bytes`, and JPEG,
/// PNG or WebP by its first bytes (the name and the declared type are not trusted).
pub fn check_photo(bytes: &[u8], max_bytes: usize) -> CoreResult<&'static str> {
    if bytes.is_empty() {
        return Err(CoreError::invalid("file", "required", "the file is empty"));
    }
    if bytes.len() > max_bytes {
        return Err(CoreError::invalid(
            "file",
            "too_large",
            format!("a photo may be at most {max_bytes} bytes"),
        ));
    }
    infer::get(bytes)
        .map(|t| t.mime_type())
        .filter(|m| ACCEPTED.contains(m))
        .ok_or_else(|| {
            CoreError::invalid(
                "file",
                "unsupported_type",
                "only JPEG, PNG and WebP photos are accepted",
            )
        })
}

/// An acceptable photo, ready to be stored under `sha256` and recorded: what can be known
/// of it without the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Photo {
    pub sha256: String,
    pub content_type: &'static str,
    pub size_bytes: i64,
    pub file_name: String,
}

impl Photo {
    /// Checks an upload (`check_photo`) and names it: its SHA-256 and its file name with
    /// control characters removed, at most 200 characters.
    pub fn of(upload: Upload<'_>, max_bytes: usize) -> CoreResult<Self> {
        let content_type = check_photo(upload.bytes, max_bytes)?;
        Ok(Self {
            sha256: hex::encode(Sha256::digest(upload.bytes)),
            content_type,
            size_bytes: upload.bytes.len() as i64,
            file_name: upload
                .file_name
                .trim()
                .chars()
                .filter(|c| !c.is_control())
                .take(200)
                .collect(),
        })
    }
}

/// Whether the actor may add a photo to the ticket: grid members, supervisors and admins
/// of its scope, or the unit holding it, while the ticket is not finished.
pub fn may_add(conn: &mut DbConnection, actor: &Actor, ticket_id: TicketId) -> CoreResult<()> {
    let ticket = load_visible(conn, actor, ticket_id)?;
    let allowed = match (&actor.scope, actor.role) {
        (Scope::Partner { partner }, _) => ticket.partner_id == Some(*partner),
        (_, Role::GridMember | Role::Supervisor | Role::Admin) => true,
        _ => false,
    };
    if !allowed {
        return Err(CoreError::Forbidden(
            "only the ticket's community, its supervisors or the unit holding it add photos",
        ));
    }
    if ticket.status.is_final() {
        return Err(CoreError::conflict(format!(
            "ticket {} is {}",
            ticket.number, ticket.status
        )));
    }
    Ok(())
}

/// Records a photo already in the photos' store on a ticket, checking `may_add` again in
/// the same transaction (the ticket may have been finished while the photo was stored).
///
/// Adding a photo is three steps so that no database connection is held while a bucket
/// is written: `may_add`, `Photos::store` with no connection, then `record`. A photo
/// stored and then refused here stays in the store unreferenced (stored once per
/// content, it costs nothing the next upload of it would not).
pub fn record(
    conn: &mut DbConnection,
    actor: &Actor,
    ticket_id: TicketId,
    photo: &Photo,
    now: NaiveDateTime,
) -> CoreResult<Attachment> {
    let now = truncate_to_micros(now);
    write_tx(conn, |conn| -> CoreResult<Attachment> {
        may_add(conn, actor, ticket_id)?;
        let id: AttachmentId = diesel::insert_into(attachments::table)
            .values((
                attachments::ticket_id.eq(ticket_id),
                attachments::sha256.eq(&photo.sha256),
                attachments::content_type.eq(photo.content_type),
                attachments::size_bytes.eq(photo.size_bytes),
                attachments::file_name.eq(&photo.file_name),
                attachments::uploaded_by.eq(actor.user_id),
                attachments::created_at.eq(now),
            ))
            .returning(attachments::id)
            .get_result(conn)?;
        diesel::insert_into(ticket_events::table)
            .values((
                ticket_events::ticket_id.eq(ticket_id),
                ticket_events::actor_id.eq(actor.user_id),
                ticket_events::kind.eq(EventKind::AttachmentAdded),
                ticket_events::detail.eq(serde_json::json!({
                    "attachment": id,
                    "sha256": photo.sha256
                })
                .to_string()),
                ticket_events::created_at.eq(now),
            ))
            .execute(conn)?;
        Ok(attachments::table
            .find(id)
            .select(Attachment::as_select())
            .first(conn)?)
    })
}

/// An attachment of a ticket the actor may see (its bytes are in `Photos` under its
/// `sha256`).
pub fn open(
    conn: &mut DbConnection,
    actor: &Actor,
    ticket_id: TicketId,
    id: AttachmentId,
) -> CoreResult<Attachment> {
    load_visible(conn, actor, ticket_id)?;
    let attachment: Attachment = attachments::table
        .filter(
            attachments::id
                .eq(id)
                .and(attachments::ticket_id.eq(ticket_id)),
        )
        .select(Attachment::as_select())
        .first(conn)
        .optional()?
        .ok_or(CoreError::NotFound("attachment"))?;
    Ok(attachment)
}
