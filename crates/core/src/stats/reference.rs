//! The definition of the rates: every ticket of the cohort replayed event by event, in
//! memory. It is what the rates mean, kept to check the set-wise path (`setwise`) against
//! on random histories; requests never run it, since it holds a period's tickets and
//! events at once.

use std::collections::{BTreeMap, HashMap};

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::{child_key, rate, Cohort, Figures, Groups, Period, Whose};
use crate::db::DbConnection;
use crate::error::CoreResult;
use crate::ids::{PartnerId, TicketId};
use crate::schema::{ticket_events, tickets};
use crate::scope::in_subtree;
use crate::types::{EventKind, TicketStatus};

/// What the events say about one ticket as of the period's end.
#[derive(Debug, Default)]
struct Facts {
    org_path: String,
    holder: Option<PartnerId>,
    status_final: Option<TicketStatus>,
    created_at: NaiveDateTime,
    respond_by: Option<NaiveDateTime>,
    resolve_by: Option<NaiveDateTime>,
    first_claim: Option<NaiveDateTime>,
    first_resolve: Option<NaiveDateTime>,
    resolved: bool,
    reopened: bool,
    visit_satisfied: Option<bool>,
    escalated: bool,
}

fn median(mut values: Vec<i64>) -> Option<i64> {
    if values.is_empty() {
        return None;
    }
    values.sort_unstable();
    let mid = values.len() / 2;
    Some(if values.len() % 2 == 0 {
        (values[mid - 1] + values[mid]) / 2
    } else {
        values[mid]
    })
}

fn figures<'a>(facts: impl Iterator<Item = &'a Facts>, at: NaiveDateTime) -> Figures {
    let mut f = Figures::default();
    let (mut response_minutes, mut resolution_minutes) = (Vec::new(), Vec::new());
    for t in facts {
        match t.status_final {
            Some(TicketStatus::Cancelled) => {
                f.cancelled += 1;
                continue;
            }
            Some(TicketStatus::Merged) => {
                f.merged += 1;
                continue;
            }
            _ => {}
        }
        f.received += 1;
        if let Some(claim) = t.first_claim {
            f.responded += 1;
            response_minutes.push((claim - t.created_at).num_minutes());
            if t.respond_by.is_none_or(|by| claim <= by) {
                f.responded_in_time += 1;
            }
        }
        if t.resolved {
            f.resolved += 1;
        }
        if let Some(done) = t.first_resolve {
            resolution_minutes.push((done - t.created_at).num_minutes());
        }
        if t.reopened {
            f.reopened += 1;
        }
        if let Some(satisfied) = t.visit_satisfied {
            f.visited += 1;
            f.satisfied += i64::from(satisfied);
        }
        let late_response = t.first_claim.is_none() && t.respond_by.is_some_and(|by| by < at);
        let late_resolution = !t.resolved && t.resolve_by.is_some_and(|by| by < at);
        if late_response || late_resolution {
            f.overdue += 1;
        }
        f.escalated += i64::from(t.escalated);
    }
    f.response_rate = rate(f.responded_in_time, f.received);
    f.resolution_rate = rate(f.resolved, f.received);
    f.satisfaction_rate = rate(f.satisfied, f.visited);
    f.median_response_minutes = median(response_minutes);
    f.median_resolution_minutes = median(resolution_minutes);
    f
}

/// (ticket, kind, unit, new status, details, when) of one event.
type EventFacts = (
    TicketId,
    EventKind,
    Option<PartnerId>,
    Option<TicketStatus>,
    Option<String>,
    NaiveDateTime,
);

/// The facts of every ticket logged in the period under `path` (or held by `partner`).
fn load_facts(conn: &mut DbConnection, cohort: &Cohort, period: Period) -> CoreResult<Vec<Facts>> {
    type Row = (
        TicketId,
        String,
        NaiveDateTime,
        Option<NaiveDateTime>,
        Option<NaiveDateTime>,
    );
    let mut query = tickets::table
        .filter(
            tickets::created_at
                .ge(period.from)
                .and(tickets::created_at.lt(period.to)),
        )
        .select((
            tickets::id,
            tickets::org_path,
            tickets::created_at,
            tickets::respond_by,
            tickets::resolve_by,
        ))
        .into_boxed();
    if let Some(channel) = cohort.channel {
        query = query.filter(tickets::id.eq_any(crate::tickets::intake::came_in_by(channel)));
    }
    match &cohort.whose {
        Whose::Subtree(path) => query = query.filter(in_subtree(tickets::org_path, path)),
        Whose::Partner(partner) => {
            // Every ticket the unit ever took or was given; attributed below as of the
            // period's end.
            query = query.filter(
                tickets::id.eq_any(
                    ticket_events::table
                        .filter(ticket_events::partner_id.eq(*partner))
                        .select(ticket_events::ticket_id),
                ),
            );
        }
    }
    let rows: Vec<Row> = query.order(tickets::id).load(conn)?;
    let mut facts: HashMap<TicketId, Facts> = rows
        .into_iter()
        .map(|(id, org_path, created_at, respond_by, resolve_by)| {
            (
                id,
                Facts {
                    org_path,
                    created_at,
                    respond_by,
                    resolve_by,
                    ..Facts::default()
                },
            )
        })
        .collect();
    let ids: Vec<TicketId> = facts.keys().copied().collect();
    for chunk in ids.chunks(5_000) {
        let events: Vec<EventFacts> = ticket_events::table
            .filter(ticket_events::ticket_id.eq_any(chunk))
            .filter(ticket_events::created_at.lt(period.to))
            .order(ticket_events::id)
            .select((
                ticket_events::ticket_id,
                ticket_events::kind,
                ticket_events::partner_id,
                ticket_events::to_status,
                ticket_events::detail,
                ticket_events::created_at,
            ))
            .load(conn)?;
        for (id, kind, event_partner, to_status, detail, at) in events {
            let Some(t) = facts.get_mut(&id) else {
                continue;
            };
            match kind {
                EventKind::Claimed => {
                    t.first_claim.get_or_insert(at);
                    t.holder = event_partner;
                }
                EventKind::Dispatched | EventKind::Reassigned => t.holder = event_partner,
                EventKind::Returned => t.holder = None,
                EventKind::Resolved => {
                    t.resolved = true;
                    t.first_resolve.get_or_insert(at);
                }
                EventKind::Closed | EventKind::Reopened => {
                    t.resolved = kind == EventKind::Closed;
                    t.reopened |= kind == EventKind::Reopened;
                    if let Some(verdict) = detail
                        .as_deref()
                        .and_then(|d| serde_json::from_str::<serde_json::Value>(d).ok())
                    {
                        if let Some(s) = verdict["satisfaction"].as_str() {
                            t.visit_satisfied = Some(s != "unsatisfied");
                        }
                    }
                }
                EventKind::Cancelled | EventKind::Merged => t.status_final = to_status,
                EventKind::Escalated => t.escalated = true,
                _ => {}
            }
        }
    }
    let mut all: Vec<Facts> = facts.into_values().collect();
    if let Whose::Partner(partner) = &cohort.whose {
        all.retain(|t| t.holder == Some(*partner));
    }
    Ok(all)
}

/// The cohort's figures, by child node and by the unit holding each ticket at the
/// period's end, replayed from the events.
pub fn groups(conn: &mut DbConnection, cohort: &Cohort, period: Period) -> CoreResult<Groups> {
    let facts = load_facts(conn, cohort, period)?;
    let all = figures(facts.iter(), period.to);
    let Whose::Subtree(path) = &cohort.whose else {
        return Ok(Groups {
            all,
            ..Groups::default()
        });
    };
    let mut children: BTreeMap<String, Vec<&Facts>> = BTreeMap::new();
    let mut partners: BTreeMap<PartnerId, Vec<&Facts>> = BTreeMap::new();
    for t in &facts {
        if let Some(key) = child_key(&t.org_path, path) {
            children.entry(key.to_owned()).or_default().push(t);
        }
        if let Some(p) = t.holder {
            partners.entry(p).or_default().push(t);
        }
    }
    Ok(Groups {
        all,
        children: children
            .into_iter()
            .map(|(k, list)| (k, figures(list.into_iter(), period.to)))
            .collect(),
        partners: partners
            .into_iter()
            .map(|(k, list)| (k, figures(list.into_iter(), period.to)))
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians() {
        assert_eq!(median(vec![]), None);
        assert_eq!(median(vec![5, 1, 3]), Some(3));
        assert_eq!(median(vec![4, 1, 3, 2]), Some(2));
    }
}
