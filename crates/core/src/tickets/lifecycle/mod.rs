//! The one way a ticket changes. `transition` loads the ticket within the actor's scope
//! (404 outside it), asks the one table of who may do what from which state (`guard`: 403
//! for a role or a unit that may not, 409 with the current ticket for a state that does
//! not allow it), lets the action's own function plan the change (`actions`), applies it
//! only if nobody changed the ticket since it was read (so of two racing claims exactly
//! one wins, on both stores), and appends the events in the same transaction.
//! `permitted` answers from the same table which actions a person may take now, for the
//! console and for API clients.

mod actions;
pub(crate) use actions::{pause_of, unit_and_place};

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use super::{Context, Ticket, TicketRow};
use crate::db::{truncate_to_micros, write_tx, DbConnection};
use crate::error::{CoreError, CoreResult, FieldError};
use crate::ids::{CategoryId, OrgUnitId, PartnerId, TicketId};
use crate::schema::{partner_categories, partner_communities, partners, ticket_events, tickets};
use crate::scope::{Actor, Scope};
use crate::types::{EventKind, Role, Satisfaction, TicketStatus};

/// Where a dispatch sends a ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Partner(PartnerId),
    /// The community's pool: every unit serving the community and category may claim it.
    Pool,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    Dispatch {
        to: Target,
        note: Option<String>,
    },
    Reassign {
        to: Target,
        note: Option<String>,
    },
    Claim,
    Return {
        reason: String,
    },
    Progress {
        note: String,
    },
    Resolve {
        note: String,
    },
    Feedback {
        satisfaction: Satisfaction,
        comment: Option<String>,
    },
    Cancel {
        reason: String,
    },
    Merge {
        into: TicketId,
        note: Option<String>,
    },
    /// Waiting on the resident (waiting_on_resident): the SLA clock stands still.
    Pause {
        reason: String,
    },
    /// The wait is over: deadlines move on by the time waited.
    Resume {
        note: Option<String>,
    },
}

/// What kind of change an action is: the rows of the lifecycle's table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ActionKind {
    Dispatch,
    Reassign,
    Claim,
    Return,
    Progress,
    Resolve,
    Feedback,
    Cancel,
    Merge,
    Pause,
    Resume,
    /// 催办: not a change of the ticket (`tickets::urging`), but asked of the same table.
    Urge,
}

impl ActionKind {
    pub const ALL: [ActionKind; 12] = [
        ActionKind::Dispatch,
        ActionKind::Reassign,
        ActionKind::Claim,
        ActionKind::Return,
        ActionKind::Progress,
        ActionKind::Resolve,
        ActionKind::Feedback,
        ActionKind::Cancel,
        ActionKind::Merge,
        ActionKind::Pause,
        ActionKind::Resume,
        ActionKind::Urge,
    ];

    /// Who may: the roles, and the sentence a refused caller reads.
    fn roles(self) -> (&'static [Role], &'static str) {
        use ActionKind::*;
        match self {
            Dispatch | Reassign | Cancel | Merge => (
                &[Role::Supervisor, Role::Admin],
                "only a supervisor dispatches, reassigns, cancels or merges tickets",
            ),
            Claim | Return | Progress | Resolve => (
                &[Role::UnitStaff],
                "only partner-unit staff claim, return, report progress on or resolve tickets",
            ),
            Feedback => (
                &[Role::GridMember],
                "only a grid member does the return visit",
            ),
            Pause | Resume => (
                &[Role::UnitStaff, Role::Supervisor, Role::Admin],
                "only the unit holding the ticket or a supervisor pauses or resumes it",
            ),
            Urge => (
                &[Role::Supervisor, Role::Admin],
                "only a supervisor above the ticket's community urges it",
            ),
        }
    }

    /// The states this action may start from.
    fn allowed_from(self) -> &'static [TicketStatus] {
        use ActionKind::*;
        use TicketStatus::*;
        match self {
            ActionKind::Dispatch => &[Reported, Returned],
            Reassign => &[TicketStatus::Dispatched, Claimed, InProgress, Reopened],
            Claim => &[TicketStatus::Dispatched],
            Return => &[TicketStatus::Dispatched, Claimed, InProgress, Reopened],
            ActionKind::Progress | Resolve => &[Claimed, InProgress, Reopened],
            Feedback => &[Resolved],
            Cancel | Merge => &[
                Reported,
                TicketStatus::Dispatched,
                Claimed,
                InProgress,
                Returned,
                Reopened,
                Resolved,
            ],
            Urge => &[TicketStatus::Dispatched, Claimed, InProgress, Reopened],
            Pause | Resume => &[
                Reported,
                TicketStatus::Dispatched,
                Claimed,
                InProgress,
                Returned,
                Reopened,
            ],
        }
    }

    /// What may still happen while the ticket waits on the resident.
    fn allowed_while_paused(self) -> bool {
        matches!(
            self,
            ActionKind::Resume | ActionKind::Cancel | ActionKind::Merge | ActionKind::Progress
        )
    }

    /// Unit staff may do this only to a ticket their unit holds.
    fn holder_only(self) -> bool {
        matches!(
            self,
            ActionKind::Return
                | ActionKind::Progress
                | ActionKind::Resolve
                | ActionKind::Pause
                | ActionKind::Resume
        )
    }

    fn verb(self) -> &'static str {
        use ActionKind::*;
        match self {
            Dispatch => "dispatch",
            Reassign => "reassign",
            Claim => "claim",
            Return => "return",
            Progress => "report progress on",
            Resolve => "resolve",
            Feedback => "record the return visit of",
            Cancel => "cancel",
            Merge => "merge",
            Pause => "pause",
            Resume => "resume",
            Urge => "urge",
        }
    }
}

impl Action {
    pub fn kind(&self) -> ActionKind {
        match self {
            Action::Dispatch { .. } => ActionKind::Dispatch,
            Action::Reassign { .. } => ActionKind::Reassign,
            Action::Claim => ActionKind::Claim,
            Action::Return { .. } => ActionKind::Return,
            Action::Progress { .. } => ActionKind::Progress,
            Action::Resolve { .. } => ActionKind::Resolve,
            Action::Feedback { .. } => ActionKind::Feedback,
            Action::Cancel { .. } => ActionKind::Cancel,
            Action::Merge { .. } => ActionKind::Merge,
            Action::Pause { .. } => ActionKind::Pause,
            Action::Resume { .. } => ActionKind::Resume,
        }
    }
}

/// Why the table refuses an action, before anything is read or written.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Refusal {
    /// 403: a role that may not.
    Role(&'static str),
    /// 403: unit staff acting on a ticket their unit does not hold.
    NotHolder,
    /// 409: the ticket's state does not allow it; the sentence says why.
    State(String),
}

/// The lifecycle's table, asked for one action: role, then state, then waiting on the
/// resident, then who holds the ticket. Pure: what needs the database (does a unit serve
/// this community and category?) is checked by the action itself.
fn guard(kind: ActionKind, actor: &Actor, t: &TicketRow, paused: bool) -> Result<(), Refusal> {
    let (roles, why) = kind.roles();
    if !roles.contains(&actor.role) {
        return Err(Refusal::Role(why));
    }
    if t.status.is_final() {
        return Err(Refusal::State(format!(
            "ticket {} is {} and accepts no further changes",
            t.number, t.status
        )));
    }
    if !kind.allowed_from().contains(&t.status) {
        return Err(Refusal::State(format!(
            "cannot {} a ticket that is {}",
            kind.verb(),
            t.status
        )));
    }
    match (paused, kind) {
        (true, ActionKind::Pause) => {
            return Err(Refusal::State(format!(
                "ticket {} is already waiting on the resident",
                t.number
            )))
        }
        (false, ActionKind::Resume) => {
            return Err(Refusal::State(format!(
                "ticket {} is not waiting on the resident",
                t.number
            )))
        }
        (true, k) if !k.allowed_while_paused() => {
            return Err(Refusal::State(format!(
                "ticket {} is waiting on the resident; resume it first",
                t.number
            )))
        }
        _ => {}
    }
    if kind == ActionKind::Urge {
        if matches!(&actor.scope, Scope::Subtree { root, .. } if *root == t.community_id) {
            return Err(Refusal::Role(
                "a community's own supervisors do not urge its tickets: the street or above does",
            ));
        }
        if t.partner_id.is_none() {
            return Err(Refusal::State(format!(
                "ticket {} waits in the pool, held by no unit: there is nobody to urge",
                t.number
            )));
        }
    }
    if let Scope::Partner { partner } = actor.scope {
        if kind.holder_only() && t.partner_id != Some(partner) {
            return Err(Refusal::NotHolder);
        }
        if kind == ActionKind::Claim {
            match t.partner_id {
                Some(holder) if holder != partner => {
                    return Err(Refusal::State(format!(
                        "ticket {} is already held by partner unit {holder}",
                        t.number
                    )))
                }
                None if !t.in_pool => {
                    return Err(Refusal::State(format!(
                        "ticket {} is not in the pool",
                        t.number
                    )))
                }
                _ => {}
            }
        }
    }
    Ok(())
}

/// The actions `actor` may take on a ticket it can see, now: the same table `transition`
/// asks, so a page or a client offers exactly what would be accepted.
pub fn permitted(actor: &Actor, t: &TicketRow, paused: bool) -> Vec<ActionKind> {
    ActionKind::ALL
        .into_iter()
        .filter(|k| guard(*k, actor, t, paused).is_ok())
        .collect()
}

/// The change to the ticket row; absent fields stay.
#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = tickets)]
struct Change {
    status: Option<TicketStatus>,
    partner_id: Option<Option<PartnerId>>,
    in_pool: Option<bool>,
    responded_at: Option<Option<NaiveDateTime>>,
    resolved_at: Option<Option<NaiveDateTime>>,
    closed_at: Option<Option<NaiveDateTime>>,
    respond_by: Option<Option<NaiveDateTime>>,
    resolve_by: Option<Option<NaiveDateTime>>,
    satisfaction: Option<Option<Satisfaction>>,
    merged_into_id: Option<Option<TicketId>>,
    reopen_count: Option<i32>,
    return_count: Option<i32>,
    households: Option<i32>,
}

/// What an action's function decided: the new status, the change to the row, and the
/// events to append.
struct Plan {
    to: TicketStatus,
    change: Change,
    events: Vec<NewEvent>,
}

/// A ticket the actor may see, else `NotFound`.
pub(crate) fn load_visible(
    conn: &mut DbConnection,
    actor: &Actor,
    id: TicketId,
) -> CoreResult<TicketRow> {
    let mut query = tickets::table
        .filter(tickets::id.eq(id))
        .select(TicketRow::as_select())
        .into_boxed();
    if let Some(filter) = super::visible_tickets(&actor.scope) {
        query = query.filter(filter);
    }
    query
        .first(conn)
        .optional()?
        .ok_or(CoreError::NotFound("ticket"))
}

/// The ticket a unit tries to claim: visible to it, or — once another unit holds it — a
/// ticket of a community and category the unit serves, so a late claim learns it lost
/// (409, naming the holder) rather than that the ticket vanished (404).
fn load_for_claim(conn: &mut DbConnection, actor: &Actor, id: TicketId) -> CoreResult<TicketRow> {
    match load_visible(conn, actor, id) {
        Err(CoreError::NotFound(what)) => {
            let Some(me) = actor.scope.partner() else {
                return Err(CoreError::NotFound(what));
            };
            let row: Option<TicketRow> = tickets::table
                .find(id)
                .select(TicketRow::as_select())
                .first(conn)
                .optional()?;
            match row {
                Some(row)
                    if row.partner_id.is_some()
                        && unit_qualifies(conn, me, row.community_id, row.category_id)? =>
                {
                    Ok(row)
                }
                _ => Err(CoreError::NotFound(what)),
            }
        }
        other => other,
    }
}

/// The unit holding a ticket the actor may see: `None` while it is undispatched or in the
/// pool. One row, for callers that choose between dispatching and reassigning.
pub fn holder(
    conn: &mut DbConnection,
    actor: &Actor,
    id: TicketId,
) -> CoreResult<Option<crate::ids::PartnerId>> {
    Ok(load_visible(conn, actor, id)?.partner_id)
}

/// Sending a ticket to a unit or the pool is a dispatch while nobody has it (reported,
/// returned) and a reassignment once it has gone out: the right one for its state now.
pub fn send(
    conn: &mut DbConnection,
    actor: &Actor,
    id: TicketId,
    to: Target,
    note: Option<String>,
) -> CoreResult<Action> {
    let t = load_visible(conn, actor, id)?;
    Ok(if ActionKind::Reassign.allowed_from().contains(&t.status) {
        Action::Reassign { to, note }
    } else {
        Action::Dispatch { to, note }
    })
}

/// Whether a ticket waits on the resident now.
pub fn is_paused(conn: &mut DbConnection, id: TicketId) -> CoreResult<bool> {
    Ok(crate::schema::ticket_pauses::table
        .find(id)
        .select(crate::schema::ticket_pauses::ticket_id)
        .first::<TicketId>(conn)
        .optional()?
        .is_some())
}

/// A 409 with the ticket as it now is. A unit that does not hold it (it lost a claim
/// race) is told only where it stands and who holds it, not its contents.
fn conflict(row: TicketRow, actor: &Actor, now: NaiveDateTime, message: String) -> CoreError {
    let outsider =
        matches!(actor.scope, Scope::Partner { partner } if row.partner_id != Some(partner));
    let current = if outsider {
        Some(serde_json::json!({
            "id": row.id,
            "number": row.number,
            "status": row.status,
            "partner_id": row.partner_id,
            "in_pool": row.in_pool,
        }))
    } else {
        serde_json::to_value(row.view(actor, now)).ok()
    };
    CoreError::Conflict { message, current }
}

pub(crate) fn required_text(field: &str, value: &str) -> CoreResult<String> {
    let value = value.trim();
    if value.is_empty() {
        return Err(CoreError::invalid(field, "required", "must not be blank"));
    }
    if value.chars().count() > 2000 {
        return Err(CoreError::invalid(
            field,
            "length",
            "at most 2000 characters",
        ));
    }
    Ok(value.to_owned())
}

fn optional_text(field: &str, value: &Option<String>) -> CoreResult<Option<String>> {
    match value.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(v) => required_text(field, v).map(Some),
    }
}

/// Does this active unit serve the community and handle the category?
pub(crate) fn unit_qualifies(
    conn: &mut DbConnection,
    partner: PartnerId,
    community: OrgUnitId,
    category: CategoryId,
) -> CoreResult<bool> {
    let active = partners::table
        .find(partner)
        .select(partners::active)
        .first::<bool>(conn)
        .optional()?
        .unwrap_or(false);
    let serves = partner_communities::table
        .find((partner, community))
        .select(partner_communities::partner_id)
        .first::<PartnerId>(conn)
        .optional()?
        .is_some();
    let handles = partner_categories::table
        .find((partner, category))
        .select(partner_categories::partner_id)
        .first::<PartnerId>(conn)
        .optional()?
        .is_some();
    Ok(active && serves && handles)
}

/// One entry to append to a ticket's trail.
struct NewEvent {
    kind: EventKind,
    partner: Option<PartnerId>,
    note: Option<String>,
    detail: Option<serde_json::Value>,
}

impl NewEvent {
    fn new(
        kind: EventKind,
        partner: Option<PartnerId>,
        note: Option<String>,
        detail: Option<serde_json::Value>,
    ) -> Self {
        Self {
            kind,
            partner,
            note,
            detail,
        }
    }
}

fn append(
    conn: &mut DbConnection,
    ticket: TicketId,
    actor: &Actor,
    (from, to): (Option<TicketStatus>, Option<TicketStatus>),
    e: &NewEvent,
    now: NaiveDateTime,
) -> CoreResult<()> {
    diesel::insert_into(ticket_events::table)
        .values((
            ticket_events::ticket_id.eq(ticket),
            ticket_events::actor_id.eq(actor.user_id),
            ticket_events::kind.eq(e.kind),
            ticket_events::from_status.eq(from),
            ticket_events::to_status.eq(to),
            ticket_events::partner_id.eq(e.partner),
            ticket_events::note.eq(e.note.as_deref()),
            ticket_events::detail.eq(e.detail.as_ref().map(|d| d.to_string())),
            ticket_events::created_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

/// Applies `action` to ticket `id` as `actor` at `now`; returns the ticket as it now is.
pub fn transition(
    conn: &mut DbConnection,
    actor: &Actor,
    id: TicketId,
    action: &Action,
    ctx: &Context<'_>,
) -> CoreResult<Ticket> {
    let ctx = Context {
        now: truncate_to_micros(ctx.now),
        ..*ctx
    };
    let now = ctx.now;
    let row = write_tx(conn, |conn| {
        apply(conn, actor, id, action, &ctx)?;
        // Read inside the transaction and without the scope filter: a unit that has just
        // returned a ticket no longer sees it, but is owed the answer to its change.
        let row: TicketRow = tickets::table
            .find(id)
            .select(TicketRow::as_select())
            .first(conn)?;
        crate::tickets::due::sync_due(conn, &row)?;
        Ok::<_, CoreError>(row)
    })?;
    Ok(row.view(actor, now))
}

/// The table asked for `kind` on `t` (read by the caller with its pause): the ticket back
/// if allowed, else the refusal as the API answers it (403, or 409 with the ticket).
pub(crate) fn allowed(
    kind: ActionKind,
    actor: &Actor,
    t: TicketRow,
    paused: bool,
    now: NaiveDateTime,
) -> CoreResult<TicketRow> {
    match guard(kind, actor, &t, paused) {
        Ok(()) => Ok(t),
        Err(Refusal::Role(why)) => Err(CoreError::Forbidden(why)),
        Err(Refusal::NotHolder) => Err(CoreError::Forbidden(
            "only the unit holding the ticket may do this",
        )),
        Err(Refusal::State(message)) => Err(conflict(t, actor, now, message)),
    }
}

/// Scope, the table, the action's own plan, then the versioned write and the events.
fn apply(
    conn: &mut DbConnection,
    actor: &Actor,
    id: TicketId,
    action: &Action,
    ctx: &Context<'_>,
) -> CoreResult<()> {
    let now = ctx.now;
    let kind = action.kind();
    let t = if kind == ActionKind::Claim {
        load_for_claim(conn, actor, id)?
    } else {
        load_visible(conn, actor, id)?
    };
    let pause = actions::pause_of(conn, t.id)?;
    let t = allowed(kind, actor, t, pause.is_some(), now)?;
    let plan = match action {
        Action::Dispatch { to, note } | Action::Reassign { to, note } => {
            actions::dispatch(conn, &t, kind, *to, note)?
        }
        Action::Claim => actions::claim(conn, actor, &t, now)?,
        Action::Return { reason } => actions::give_back(actor, &t, reason)?,
        Action::Progress { note } => actions::progress(actor, note)?,
        Action::Resolve { note } => actions::resolve(actor, note, now)?,
        Action::Feedback {
            satisfaction,
            comment,
        } => actions::feedback(conn, &t, *satisfaction, comment, ctx)?,
        Action::Cancel { reason } => actions::cancel(&t, reason, now)?,
        Action::Pause { reason } => actions::pause(conn, actor, &t, reason, now)?,
        Action::Resume { note } => actions::resume(conn, &t, pause, note, ctx)?,
        Action::Merge { into, note } => actions::merge(conn, actor, &t, *into, note, now)?,
    };
    commit(conn, actor, &t, kind, plan, ctx)
}

/// Writes a plan: only if nobody changed the ticket since it was read (of racing changes
/// one wins), then the mails and the events.
fn commit(
    conn: &mut DbConnection,
    actor: &Actor,
    t: &TicketRow,
    kind: ActionKind,
    mut plan: Plan,
    ctx: &Context<'_>,
) -> CoreResult<()> {
    let now = ctx.now;
    plan.change.status = Some(plan.to);
    let updated = diesel::update(
        tickets::table.filter(tickets::id.eq(t.id).and(tickets::version.eq(t.version))),
    )
    .set((
        &plan.change,
        tickets::version.eq(t.version + 1),
        tickets::updated_at.eq(now),
    ))
    .execute(conn)?;
    if updated != 1 {
        let current = if kind == ActionKind::Claim {
            load_for_claim(conn, actor, t.id)?
        } else {
            load_visible(conn, actor, t.id)?
        };
        let message = match current.partner_id {
            Some(holder) if kind == ActionKind::Claim => format!(
                "ticket {} was just claimed by partner unit {holder}",
                current.number
            ),
            _ => format!(
                "ticket {} was changed meanwhile; it is now {}",
                current.number, current.status
            ),
        };
        return Err(conflict(current, actor, now, message));
    }
    for e in plan
        .events
        .iter()
        .filter(|e| e.kind == EventKind::PartnerNotice)
    {
        if let Some(partner) = e.partner {
            actions::mail_partner(conn, t, partner, ctx)?;
        }
    }
    for e in &plan.events {
        let statuses = if e.kind == EventKind::PartnerNotice {
            (None, None)
        } else {
            (Some(t.status), Some(plan.to))
        };
        append(conn, t.id, actor, statuses, e, now)?;
    }
    Ok(())
}

/// Request bodies of the transition calls, shared by the API.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({"partner_id": 3, "note": "请今日内上门"})))]
pub struct DispatchRequest {
    pub partner_id: Option<PartnerId>,
    #[serde(default)]
    pub pool: bool,
    pub note: Option<String>,
}

impl DispatchRequest {
    pub fn target(&self) -> CoreResult<Target> {
        match (self.partner_id, self.pool) {
            (Some(p), false) => Ok(Target::Partner(p)),
            (None, true) => Ok(Target::Pool),
            _ => Err(CoreError::Invalid(vec![FieldError::new(
                "partner_id",
                "required",
                "give either partner_id or pool: true",
            )])),
        }
    }
}

#[cfg(test)]
mod tests;
