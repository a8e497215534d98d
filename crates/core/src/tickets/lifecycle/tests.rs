//! The lifecycle's table, asked directly: every role against every state.

use chrono::NaiveDateTime;

use super::*;
use crate::ids::UserId;

fn actor(role: Role, partner: Option<i64>) -> Actor {
    Actor {
        user_id: UserId(1),
        username: "someone".into(),
        role,
        scope: match (role, partner) {
            (_, Some(p)) => Scope::Partner {
                partner: PartnerId(p),
            },
            (Role::Admin, None) => Scope::Everything,
            _ => Scope::Subtree {
                root: OrgUnitId(1),
                path: "/1/".into(),
            },
        },
        token_generation: 0,
    }
}

fn ticket(status: TicketStatus, holder: Option<i64>, in_pool: bool) -> TicketRow {
    let at = NaiveDateTime::default();
    TicketRow {
        id: TicketId(1),
        number: "110105-2026-000001".into(),
        category_id: CategoryId(1),
        priority: crate::types::Priority::Normal,
        title: "t".into(),
        description: "d".into(),
        community_id: OrgUnitId(4),
        grid_id: None,
        org_path: "/1/2/3/4/".into(),
        address: "a".into(),
        latitude: None,
        longitude: None,
        resident_name: None,
        resident_phone: None,
        households: 1,
        status,
        partner_id: holder.map(PartnerId),
        in_pool,
        level: 0,
        satisfaction: None,
        respond_by: None,
        resolve_by: None,
        responded_at: None,
        resolved_at: None,
        closed_at: None,
        merged_into_id: None,
        reopen_count: 0,
        return_count: 0,
        reported_by: UserId(1),
        version: 1,
        created_at: at,
        updated_at: at,
    }
}

use ActionKind::*;

#[test]
fn only_grid_members_do_the_return_visit() {
    let resolved = ticket(TicketStatus::Resolved, Some(7), false);
    assert!(permitted(&actor(Role::GridMember, None), &resolved, false).contains(&Feedback));
    for role in [Role::Supervisor, Role::Admin] {
        let offered = permitted(&actor(role, None), &resolved, false);
        assert!(!offered.contains(&Feedback), "{role}: {offered:?}");
    }
    assert!(!permitted(&actor(Role::UnitStaff, Some(7)), &resolved, false).contains(&Feedback));
}

#[test]
fn a_unit_works_only_what_it_holds_and_claims_only_from_the_pool() {
    let unit = actor(Role::UnitStaff, Some(7));
    let held = ticket(TicketStatus::Claimed, Some(7), false);
    assert_eq!(
        permitted(&unit, &held, false),
        vec![Return, Progress, Resolve, Pause]
    );
    let someone_elses = ticket(TicketStatus::Claimed, Some(8), false);
    assert!(permitted(&unit, &someone_elses, false).is_empty());
    let pooled = ticket(TicketStatus::Dispatched, None, true);
    assert_eq!(permitted(&unit, &pooled, false), vec![Claim]);
    let sent_to_me = ticket(TicketStatus::Dispatched, Some(7), false);
    assert_eq!(
        permitted(&unit, &sent_to_me, false),
        vec![Claim, Return, Pause]
    );
}

#[test]
fn waiting_on_the_resident_leaves_only_resume_progress_cancel_and_merge() {
    let t = ticket(TicketStatus::InProgress, Some(7), false);
    assert_eq!(
        permitted(&actor(Role::UnitStaff, Some(7)), &t, true),
        vec![Progress, Resume]
    );
    assert_eq!(
        permitted(&actor(Role::Supervisor, None), &t, true),
        vec![Cancel, Merge, Resume]
    );
}

#[test]
fn final_tickets_accept_nothing_from_anyone() {
    for status in [
        TicketStatus::Closed,
        TicketStatus::Cancelled,
        TicketStatus::Merged,
    ] {
        for (role, partner) in [
            (Role::Admin, None),
            (Role::Supervisor, None),
            (Role::GridMember, None),
            (Role::UnitStaff, Some(7)),
        ] {
            let t = ticket(status, partner, false);
            assert!(permitted(&actor(role, partner), &t, false).is_empty());
        }
    }
}
