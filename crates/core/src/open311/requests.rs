//! Requests as Open311 reads them: by id, by filter, by token, and what a request brought.

use super::*;

/// A service request as Open311 reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestView {
    pub service_request_id: String,
    pub status: &'static str,
    pub status_notes: Option<String>,
    pub service_name: String,
    pub service_code: String,
    pub description: String,
    pub agency_responsible: String,
    pub service_notice: Option<String>,
    pub requested_datetime: String,
    pub updated_datetime: String,
    pub expected_datetime: Option<String>,
    pub address: String,
    pub address_id: Option<String>,
    pub lat: Option<f64>,
    pub long: Option<f64>,
    pub media_url: Option<String>,
}

/// `open` or `closed`: closed once the ticket is closed, cancelled or merged.
pub fn open311_status(status: TicketStatus) -> &'static str {
    match status {
        TicketStatus::Closed | TicketStatus::Cancelled | TicketStatus::Merged => "closed",
        _ => "open",
    }
}

pub(super) fn statuses_for(open311: &str) -> Vec<TicketStatus> {
    TicketStatus::ALL
        .iter()
        .copied()
        .filter(|s| open311_status(*s) == open311)
        .collect()
}

#[derive(Debug, Clone, Default)]
pub struct RequestFilter {
    pub ids: Vec<String>,
    pub service_codes: Vec<String>,
    pub from: Option<NaiveDateTime>,
    pub to: Option<NaiveDateTime>,
    /// `open` and/or `closed`; empty: both.
    pub statuses: Vec<String>,
}

/// Requests matching the filter, newest first: at most 1,000, within 90 days.
pub fn requests(
    conn: &mut DbConnection,
    filter: &RequestFilter,
    policy: &Policy<'_>,
    now: NaiveDateTime,
) -> Result<Vec<RequestView>, Refusal> {
    let mut query = tickets::table
        .left_join(open311_requests::table)
        .inner_join(categories::table)
        .select(tickets::id)
        .into_boxed();
    if !policy.list_all_tickets {
        query = query.filter(open311_requests::ticket_id.is_not_null());
    }
    if !filter.ids.is_empty() {
        query = query.filter(tickets::number.eq_any(&filter.ids));
    } else {
        let (from, to) = match (filter.from, filter.to) {
            (Some(f), Some(t)) => (f, t),
            (Some(f), None) => (f, f + chrono::Duration::days(90)),
            (None, Some(t)) => (t - chrono::Duration::days(90), t),
            (None, None) => (now - chrono::Duration::days(90), now),
        };
        if to < from {
            return Err(Refusal::new(400, "end_date: before start_date"));
        }
        if to - from > chrono::Duration::days(90) {
            return Err(Refusal::new(
                400,
                "start_date, end_date: span at most 90 days",
            ));
        }
        query = query
            .filter(tickets::created_at.ge(from))
            .filter(tickets::created_at.le(to));
    }
    if !filter.service_codes.is_empty() {
        query = query.filter(categories::code.eq_any(&filter.service_codes));
    }
    if !filter.statuses.is_empty() {
        let mut wanted = Vec::new();
        for s in &filter.statuses {
            if s != "open" && s != "closed" {
                return Err(Refusal::new(
                    400,
                    format!("status: {s:?} is neither open nor closed"),
                ));
            }
            wanted.extend(statuses_for(s));
        }
        query = query.filter(tickets::status.eq_any(wanted));
    }
    let ids: Vec<TicketId> = query
        .order((tickets::created_at.desc(), tickets::id.desc()))
        .limit(1000)
        .load(conn)
        .map_err(CoreError::from)?;
    Ok(views(conn, &ids)?)
}

/// One request by its id (our ticket number).
pub fn request(
    conn: &mut DbConnection,
    number: &str,
    policy: &Policy<'_>,
) -> Result<RequestView, Refusal> {
    let filter = RequestFilter {
        ids: vec![number.to_owned()],
        ..RequestFilter::default()
    };
    requests(conn, &filter, policy, NaiveDateTime::default())?
        .pop()
        .ok_or_else(|| Refusal::new(404, format!("service_request_id {number:?} not found")))
}

/// `GET tokens/{token}`: the request id a token became.
pub fn token(conn: &mut DbConnection, token: &str) -> Result<String, Refusal> {
    open311_requests::table
        .inner_join(tickets::table)
        .filter(open311_requests::token.eq(token))
        .select(tickets::number)
        .first(conn)
        .optional()
        .map_err(CoreError::from)?
        .ok_or_else(|| Refusal::new(404, format!("token {token:?} not found")))
}

pub(super) fn views(conn: &mut DbConnection, ids: &[TicketId]) -> CoreResult<Vec<RequestView>> {
    type Row = (
        crate::tickets::TicketRow,
        String,
        String,
        Option<String>,
        Option<String>,
        Option<String>,
    );
    let rows: Vec<Row> = tickets::table
        .inner_join(categories::table)
        .left_join(open311_requests::table)
        .left_join(partners::table)
        .filter(tickets::id.eq_any(ids))
        .order((tickets::created_at.desc(), tickets::id.desc()))
        .select((
            crate::tickets::TicketRow::as_select(),
            categories::code,
            categories::name_zh,
            open311_requests::address_id.nullable(),
            open311_requests::media_url.nullable(),
            partners::name.nullable(),
        ))
        .load(conn)?;
    // Only public notes reach Open311 (progress, resolution, cancel reason): never a
    // dispatcher's instruction, a return's reason or the return visit's comment.
    let mut notes: HashMap<TicketId, String> = HashMap::new();
    for (id, note) in ticket_events::table
        .filter(ticket_events::ticket_id.eq_any(ids))
        .filter(ticket_events::note.is_not_null())
        .filter(ticket_events::kind.eq_any(EventKind::PUBLIC_NOTES))
        .order(ticket_events::id)
        .select((ticket_events::ticket_id, ticket_events::note))
        .load::<(TicketId, Option<String>)>(conn)?
    {
        if let Some(note) = note {
            notes.insert(id, note);
        }
    }
    // A duplicate points at the request that carries on.
    let survivors: Vec<TicketId> = rows.iter().filter_map(|(t, ..)| t.merged_into_id).collect();
    let survivor_numbers: HashMap<TicketId, String> = tickets::table
        .filter(tickets::id.eq_any(&survivors))
        .select((tickets::id, tickets::number))
        .load::<(TicketId, String)>(conn)?
        .into_iter()
        .collect();
    let node_ids: Vec<OrgUnitId> = rows.iter().filter_map(|(t, ..)| handling_node(t)).collect();
    let names: HashMap<OrgUnitId, String> = org_units::table
        .filter(org_units::id.eq_any(&node_ids))
        .select((org_units::id, org_units::name))
        .load::<(OrgUnitId, String)>(conn)?
        .into_iter()
        .collect();
    Ok(rows
        .into_iter()
        .map(|(t, code, name, address_id, media_url, partner)| {
            let office = handling_node(&t).and_then(|n| names.get(&n).cloned());
            let merged_into = t
                .merged_into_id
                .and_then(|s| survivor_numbers.get(&s))
                .map(|number| format!("重复诉求，已并入 {number} 继续办理"));
            RequestView {
                status: open311_status(t.status),
                status_notes: merged_into.or_else(|| notes.remove(&t.id)),
                service_notice: Some(service_notice(&name, t.resolve_by)),
                service_name: name,
                service_code: code,
                agency_responsible: partner.or(office).unwrap_or_default(),
                requested_datetime: china_time(t.created_at),
                updated_datetime: china_time(t.updated_at),
                expected_datetime: t.resolve_by.map(china_time),
                address: t.address,
                address_id,
                lat: t.latitude,
                long: t.longitude,
                media_url,
                description: t.description,
                service_request_id: t.number,
            }
        })
        .collect())
}

/// The office that holds an unassigned ticket: its community, or the node it rose to.
pub(super) fn handling_node(t: &crate::tickets::TicketRow) -> Option<OrgUnitId> {
    let chain: Vec<i64> = t
        .org_path
        .split('/')
        .filter_map(|s| s.parse().ok())
        .collect();
    let level = usize::try_from(t.level).ok()?;
    chain
        .len()
        .checked_sub(1 + level)
        .and_then(|i| chain.get(i))
        .map(|id| OrgUnitId(*id))
}

/// Services: every active category with its attributes.
pub fn services(
    conn: &mut DbConnection,
) -> CoreResult<Vec<(crate::categories::Category, Vec<ServiceAttribute>)>> {
    let ids: Vec<CategoryId> = categories::table
        .filter(categories::active.eq(true))
        .order(categories::id)
        .select(categories::id)
        .load(conn)?;
    let mut attributes = attributes_of(conn, &ids)?;
    ids.into_iter()
        .map(|id| {
            Ok((
                crate::categories::get(conn, id)?,
                attributes.remove(&id).unwrap_or_default(),
            ))
        })
        .collect()
}

/// One service by its code: an active category with its attributes.
pub fn service(
    conn: &mut DbConnection,
    code: &str,
) -> CoreResult<Option<(crate::categories::Category, Vec<ServiceAttribute>)>> {
    let id: Option<CategoryId> = categories::table
        .filter(categories::code.eq(code))
        .filter(categories::active.eq(true))
        .select(categories::id)
        .first(conn)
        .optional()?;
    let Some(id) = id else { return Ok(None) };
    let attributes = attributes_of(conn, &[id])?.remove(&id).unwrap_or_default();
    Ok(Some((crate::categories::get(conn, id)?, attributes)))
}

/// The longest `media_url` kept: a link, not a payload.
pub(super) const MAX_MEDIA_URL: usize = 2000;
