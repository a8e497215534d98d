//! Tickets (工单): logging, the lifecycle, reads and photos. Every change goes through
//! `lifecycle::transition`, which checks role, scope and state and appends an event in
//! the same transaction; events are never updated or deleted (the database refuses).

pub mod attachments;
pub mod due;
pub mod intake;
pub mod lifecycle;
pub mod logging;
pub mod queries;
pub mod urging;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;

use crate::ids::{CategoryId, EventId, OrgUnitId, PartnerId, TicketId, UserId};
use crate::schema::tickets;
use crate::scope::{in_subtree, Actor, Scope};
use crate::types::{EventKind, Priority, Role, Satisfaction, TicketStatus};

/// What a change needs besides its input: the instant it happens at, the working-time
/// calendar for deadlines, and the service's public URL and language for mails.
#[derive(Clone, Copy)]
pub struct Context<'a> {
    pub now: NaiveDateTime,
    pub calendar: &'a crate::calendar::WorkingCalendar,
    /// The categories and the org tree as this process keeps them.
    pub reference: &'a crate::reference::Reference,
    pub public_url: &'a str,
    pub mail_language: crate::mail::MailLanguage,
}

impl Context<'_> {
    /// How this change's mails are written.
    pub fn letterhead(&self) -> crate::mail::Letterhead<'_> {
        crate::mail::Letterhead {
            tz: self.calendar.tz(),
            public_url: self.public_url,
            language: self.mail_language,
        }
    }
}

/// A ticket as stored.
#[derive(Debug, Clone, PartialEq, Queryable, QueryableByName, Selectable)]
#[diesel(table_name = tickets)]
pub struct TicketRow {
    pub id: TicketId,
    pub number: String,
    pub category_id: CategoryId,
    pub priority: Priority,
    pub title: String,
    pub description: String,
    pub community_id: OrgUnitId,
    pub grid_id: Option<OrgUnitId>,
    pub org_path: String,
    pub address: String,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    pub resident_name: Option<String>,
    pub resident_phone: Option<String>,
    pub households: i32,
    pub status: TicketStatus,
    pub partner_id: Option<PartnerId>,
    pub in_pool: bool,
    pub level: i32,
    pub satisfaction: Option<Satisfaction>,
    pub respond_by: Option<NaiveDateTime>,
    pub resolve_by: Option<NaiveDateTime>,
    pub responded_at: Option<NaiveDateTime>,
    pub resolved_at: Option<NaiveDateTime>,
    pub closed_at: Option<NaiveDateTime>,
    pub merged_into_id: Option<TicketId>,
    pub reopen_count: i32,
    pub return_count: i32,
    pub reported_by: UserId,
    pub version: i32,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// The resident's contact, shown only to those who need it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Resident {
    pub name: Option<String>,
    pub phone: Option<String>,
}

/// A ticket as a caller sees it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Ticket {
    pub id: TicketId,
    pub number: String,
    pub category_id: CategoryId,
    pub priority: Priority,
    pub title: String,
    pub description: String,
    pub community_id: OrgUnitId,
    pub grid_id: Option<OrgUnitId>,
    pub address: String,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    /// The resident's contact. Whole only on the ticket's own page (`GET /tickets/{id}`)
    /// and only to those who may reach the resident (the ticket's community, supervisors,
    /// admins, the unit holding it), each such read recorded; masked (`陈**`,
    /// `139****1111`) in lists, answers to actions and exports; to units browsing the pool
    /// the phone masked alone.
    pub resident: Option<Resident>,
    pub households: i32,
    pub status: TicketStatus,
    pub partner_id: Option<PartnerId>,
    pub in_pool: bool,
    /// Escalation level: community 0, street 1, district 2, city 3.
    pub level: i32,
    pub satisfaction: Option<Satisfaction>,
    #[serde(serialize_with = "crate::time::utc_opt")]
    pub respond_by: Option<NaiveDateTime>,
    #[serde(serialize_with = "crate::time::utc_opt")]
    pub resolve_by: Option<NaiveDateTime>,
    #[serde(serialize_with = "crate::time::utc_opt")]
    pub responded_at: Option<NaiveDateTime>,
    #[serde(serialize_with = "crate::time::utc_opt")]
    pub resolved_at: Option<NaiveDateTime>,
    #[serde(serialize_with = "crate::time::utc_opt")]
    pub closed_at: Option<NaiveDateTime>,
    /// Past a stored deadline at the instant of the read.
    pub overdue: bool,
    /// 即将超时: not yet overdue, and past the first warning point of its running deadline
    /// (`warnings.points`, 75% of the window by default) as the scheduler planned it at its
    /// last sweep (`warnings::mark`).
    pub warning: bool,
    pub merged_into_id: Option<TicketId>,
    pub reopen_count: i32,
    pub return_count: i32,
    pub reported_by: UserId,
    #[serde(serialize_with = "crate::time::utc")]
    pub created_at: NaiveDateTime,
    #[serde(serialize_with = "crate::time::utc")]
    pub updated_at: NaiveDateTime,
}

/// One entry of the audit trail.
#[derive(Debug, Clone, PartialEq, Serialize, Queryable, Selectable)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[diesel(table_name = crate::schema::ticket_events)]
pub struct Event {
    pub id: EventId,
    #[serde(skip)]
    pub ticket_id: TicketId,
    pub actor_id: Option<UserId>,
    pub kind: EventKind,
    pub from_status: Option<TicketStatus>,
    pub to_status: Option<TicketStatus>,
    pub partner_id: Option<PartnerId>,
    pub note: Option<String>,
    /// What the event carries besides its note (e.g. the photo's id and hash), as JSON.
    #[serde(serialize_with = "json_text")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub detail: Option<String>,
    #[serde(serialize_with = "crate::time::utc")]
    pub created_at: NaiveDateTime,
}

impl TicketRow {
    /// Not yet responded by its response deadline, or not resolved by its resolution deadline.
    pub fn is_overdue(&self, now: NaiveDateTime) -> bool {
        if self.status.is_final() || self.status == TicketStatus::Resolved {
            return false;
        }
        let late_response = self.responded_at.is_none() && self.respond_by.is_some_and(|t| t < now);
        let late_resolution = self.resolve_by.is_some_and(|t| t < now);
        late_response || late_resolution
    }

    /// Who may read the resident's name and phone: the people of the ticket's community and
    /// the unit holding it, not other units looking at the pool.
    pub(crate) fn shows_resident_to(&self, actor: &Actor) -> bool {
        match (&actor.scope, actor.role) {
            (Scope::Partner { partner }, _) => self.partner_id == Some(*partner),
            (_, Role::Admin | Role::Supervisor | Role::GridMember) => true,
            _ => false,
        }
    }

    /// The ticket as a list, an action's answer or an export shows it: to those who may
    /// reach the resident, the name and phone masked (`陈**`, `139****1111`) — whole only
    /// on the ticket's own page (`view_whole`), where each read is recorded; to others
    /// (units browsing the pool) the phone masked alone, to recognise a caller by.
    pub fn view(self, actor: &Actor, now: NaiveDateTime) -> Ticket {
        self.render(actor, now, false)
    }

    /// The ticket as its own page shows it: the resident's name and phone whole to those
    /// who may reach the resident (`shows_resident_to`), masked to others as in `view`.
    pub fn view_whole(self, actor: &Actor, now: NaiveDateTime) -> Ticket {
        self.render(actor, now, true)
    }

    fn render(self, actor: &Actor, now: NaiveDateTime, whole: bool) -> Ticket {
        let masked = |phone: &Option<String>| phone.as_deref().map(crate::phone::Phone::masked);
        let resident = match (self.shows_resident_to(actor), whole) {
            (true, true) => Some(Resident {
                name: self.resident_name.clone(),
                phone: self.resident_phone.clone(),
            }),
            (true, false) => Some(Resident {
                name: self.resident_name.as_deref().map(crate::privacy::mask_name),
                phone: masked(&self.resident_phone),
            }),
            (false, _) => masked(&self.resident_phone).map(|phone| Resident {
                name: None,
                phone: Some(phone),
            }),
        };
        Ticket {
            overdue: self.is_overdue(now),
            warning: false,
            resident,
            id: self.id,
            number: self.number,
            category_id: self.category_id,
            priority: self.priority,
            title: self.title,
            description: self.description,
            community_id: self.community_id,
            grid_id: self.grid_id,
            address: self.address,
            latitude: self.latitude,
            longitude: self.longitude,
            households: self.households,
            status: self.status,
            partner_id: self.partner_id,
            in_pool: self.in_pool,
            level: self.level,
            satisfaction: self.satisfaction,
            respond_by: self.respond_by,
            resolve_by: self.resolve_by,
            responded_at: self.responded_at,
            resolved_at: self.resolved_at,
            closed_at: self.closed_at,
            merged_into_id: self.merged_into_id,
            reopen_count: self.reopen_count,
            return_count: self.return_count,
            reported_by: self.reported_by,
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }
}

type TicketFilterExpr = Box<
    dyn BoxableExpression<tickets::table, crate::db::DbBackend, SqlType = diesel::sql_types::Bool>,
>;

/// The tickets an actor may see: its subtree's (supervisors, grid members), or for unit
/// staff those it holds now plus the open pool tickets (dispatched to the pool, nobody has
/// claimed them yet) of its communities and categories. A ticket leaves the pool when it is
/// claimed or dispatched to a unit; from then on only its holder sees it — not the units
/// that lost the claim, nor a unit that returned it or was replaced by a reassignment.
pub fn visible_tickets(scope: &Scope) -> Option<TicketFilterExpr> {
    use crate::schema::{partner_categories, partner_communities};
    match scope {
        Scope::Everything => None,
        Scope::Subtree { path, .. } => Some(Box::new(in_subtree(tickets::org_path, path))),
        Scope::Partner { partner } => Some(Box::new(
            tickets::partner_id
                .eq(*partner)
                .or(tickets::in_pool
                    .eq(true)
                    .and(tickets::partner_id.is_null())
                    .and(tickets::status.eq(crate::types::TicketStatus::Dispatched))
                    .and(
                        tickets::community_id.eq_any(
                            partner_communities::table
                                .filter(partner_communities::partner_id.eq(*partner))
                                .select(partner_communities::org_unit_id),
                        ),
                    )
                    .and(
                        tickets::category_id.eq_any(
                            partner_categories::table
                                .filter(partner_categories::partner_id.eq(*partner))
                                .select(partner_categories::category_id),
                        ),
                    ))
                .assume_not_null(),
        )),
    }
}

/// `visible_tickets` decided from a ticket already read, where the row alone can tell:
/// `None` when it cannot (a pool ticket and a unit: the unit's communities and categories
/// decide). Change the two together.
pub(crate) fn visible_from_row(scope: &Scope, row: &TicketRow) -> Option<bool> {
    match scope {
        Scope::Everything => Some(true),
        Scope::Subtree { path, .. } => Some(crate::scope::path_in_subtree(&row.org_path, path)),
        Scope::Partner { partner } => {
            if row.partner_id == Some(*partner) {
                Some(true)
            } else if row.in_pool
                && row.partner_id.is_none()
                && row.status == crate::types::TicketStatus::Dispatched
            {
                None
            } else {
                Some(false)
            }
        }
    }
}

/// Event details are JSON kept as text; callers get them as JSON.
fn json_text<S: serde::Serializer>(text: &Option<String>, s: S) -> Result<S::Ok, S::Error> {
    let value: Option<serde_json::Value> =
        text.as_deref().and_then(|t| serde_json::from_str(t).ok());
    value.serialize(s)
}
