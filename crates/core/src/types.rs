//! The closed vocabularies of the domain (roles, org levels, partner kinds, priorities,
//! clocks), stored as text on both backends and spelled the same in JSON.

use std::fmt;

use diesel::backend::Backend;
use diesel::deserialize::{self, FromSql};
use diesel::serialize::{self, Output, ToSql};
use diesel::sql_types::Text;

/// The text was not one of the enum's spellings.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} {value:?}; expected one of {expected}")]
pub struct UnknownVariant {
    pub kind: &'static str,
    pub value: String,
    pub expected: String,
}

macro_rules! text_enum {
    ($(#[$meta:meta])* $name:ident, $label:literal { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord,
                 serde::Serialize, serde::Deserialize, diesel::AsExpression, diesel::FromSqlRow)]
        #[diesel(sql_type = Text)]
        pub enum $name { $(#[serde(rename = $text)] $variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        // By hand: the derive does not see serde renames made inside a macro.
        #[cfg(feature = "openapi")]
        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::schema::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .enum_values(Some([$($text),+]))
                    .into()
            }
        }

        #[cfg(feature = "openapi")]
        impl utoipa::ToSchema for $name {}

        impl std::str::FromStr for $name {
            type Err = UnknownVariant;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok($name::$variant),)+
                    _ => Err(UnknownVariant {
                        kind: $label,
                        value: s.to_owned(),
                        expected: [$($text),+].join(", "),
                    }),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl<DB> ToSql<Text, DB> for $name
        where
            DB: Backend,
            str: ToSql<Text, DB>,
        {
            fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, DB>) -> serialize::Result {
                self.as_str().to_sql(out)
            }
        }

        impl<DB> FromSql<Text, DB> for $name
        where
            DB: Backend,
            String: FromSql<Text, DB>,
        {
            fn from_sql(bytes: DB::RawValue<'_>) -> deserialize::Result<Self> {
                Ok(String::from_sql(bytes)?.parse()?)
            }
        }
    };
}

text_enum!(
    /// What an account may do; its scope comes with it (see `scope`).
    Role, "role" {
        GridMember => "grid_member",
        UnitStaff => "unit_staff",
        Supervisor => "supervisor",
        Admin => "admin",
    }
);

text_enum!(
    /// A level of the org tree, from the city down to the grid.
    OrgKind, "org unit kind" {
        City => "city",
        District => "district",
        Street => "street",
        Community => "community",
        Grid => "grid",
    }
);

impl OrgKind {
    /// The only kind a child of this node may have.
    pub fn child_kind(self) -> Option<OrgKind> {
        match self {
            OrgKind::City => Some(OrgKind::District),
            OrgKind::District => Some(OrgKind::Street),
            OrgKind::Street => Some(OrgKind::Community),
            OrgKind::Community => Some(OrgKind::Grid),
            OrgKind::Grid => None,
        }
    }
}

text_enum!(
    /// What kind of co-building partner unit (共建单位) this is.
    PartnerKind, "partner kind" {
        Property => "property",
        School => "school",
        Hospital => "hospital",
        ElderlyCare => "elderly_care",
        Enterprise => "enterprise",
        SocialOrg => "social_org",
        GovernmentDept => "government_dept",
        Other => "other",
    }
);

text_enum!(
    Priority, "priority" {
        Urgent => "urgent",
        High => "high",
        Normal => "normal",
        Low => "low",
    }
);

impl Priority {
    pub fn name_zh(self) -> &'static str {
        match self {
            Priority::Urgent => "紧急",
            Priority::High => "高",
            Priority::Normal => "一般",
            Priority::Low => "低",
        }
    }

    pub fn name_en(self) -> &'static str {
        match self {
            Priority::Urgent => "urgent",
            Priority::High => "high",
            Priority::Normal => "normal",
            Priority::Low => "low",
        }
    }
}

text_enum!(
    /// How an SLA deadline counts time: around the clock, or working hours only.
    ClockKind, "clock" {
        Calendar => "calendar",
        Working => "working",
    }
);

text_enum!(
    /// Where a ticket is in its lifecycle (DESIGN.md §3).
    TicketStatus, "ticket status" {
        Reported => "reported",
        Dispatched => "dispatched",
        Claimed => "claimed",
        InProgress => "in_progress",
        Resolved => "resolved",
        Closed => "closed",
        Returned => "returned",
        Reopened => "reopened",
        Cancelled => "cancelled",
        Merged => "merged",
    }
);

impl TicketStatus {
    /// No change is accepted after these.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            TicketStatus::Closed | TicketStatus::Cancelled | TicketStatus::Merged
        )
    }

    /// A partner unit holds the ticket and is working it.
    pub fn is_held(self) -> bool {
        matches!(
            self,
            TicketStatus::Claimed | TicketStatus::InProgress | TicketStatus::Reopened
        )
    }
}

text_enum!(
    /// What an entry of a ticket's audit trail records. `absorbed` is on the surviving
    /// ticket of a merge; `partner_notice` asks the mail outbox to tell a unit that a ticket
    /// was dispatched to it; `warned` records a warning before a deadline (临期预警); `urged`
    /// a supervisor's urging of the unit holding it (催办); `resident_erased` an
    /// administrator's erasure of the resident's data on request (`privacy::erase`).
    EventKind, "event kind" {
        Logged => "logged",
        Dispatched => "dispatched",
        Reassigned => "reassigned",
        Claimed => "claimed",
        Returned => "returned",
        Progress => "progress",
        Resolved => "resolved",
        Closed => "closed",
        Reopened => "reopened",
        Cancelled => "cancelled",
        Merged => "merged",
        Absorbed => "absorbed",
        PartnerNotice => "partner_notice",
        AttachmentAdded => "attachment_added",
        Escalated => "escalated",
        Paused => "paused",
        Resumed => "resumed",
        Warned => "warned",
        Urged => "urged",
        ResidentErased => "resident_erased",
    }
);

impl EventKind {
    /// The events whose note may be shown to the public (Open311, public pages): what the
    /// unit did (progress, resolution) and why a ticket was cancelled. Every other note —
    /// a dispatcher's instructions, a return's reason, the return visit's comment, a
    /// wait's reason — is internal: staff read it in the timeline, nobody else.
    pub const PUBLIC_NOTES: &'static [EventKind] = &[
        EventKind::Progress,
        EventKind::Resolved,
        EventKind::Cancelled,
    ];

    pub fn note_is_public(self) -> bool {
        Self::PUBLIC_NOTES.contains(&self)
    }
}

text_enum!(
    /// The resident's verdict at the return visit (回访).
    Satisfaction, "satisfaction" {
        Satisfied => "satisfied",
        BasicallySatisfied => "basically_satisfied",
        Unsatisfied => "unsatisfied",
    }
);

text_enum!(
    /// How a ticket came in: a transfer from the city's 12345 hotline (热线转办), a grid
    /// member's patrol (网格巡查), a resident at the office (来访), an app through Open311,
    /// the residents' web form, or another way.
    IntakeChannel, "intake channel" {
        Hotline => "hotline",
        Patrol => "patrol",
        WalkIn => "walk_in",
        App => "app",
        Web => "web",
        Other => "other",
    }
);

text_enum!(
    /// Where an item of a community's needs list (需求清单) stands.
    NeedStatus, "need status" {
        Open => "open",
        Matched => "matched",
        InProgress => "in_progress",
        Done => "done",
        Dropped => "dropped",
    }
);

text_enum!(
    NeedSource, "need source" {
        Direct => "direct",
        Tickets => "tickets",
    }
);

text_enum!(
    /// Where a project (项目清单) stands.
    ProjectStatus, "project status" {
        Planned => "planned",
        InProgress => "in_progress",
        Done => "done",
        Cancelled => "cancelled",
    }
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_but_grid_has_exactly_the_next_level_as_child() {
        let chain: Vec<_> =
            std::iter::successors(Some(OrgKind::City), |k| k.child_kind()).collect();
        assert_eq!(chain, OrgKind::ALL);
    }

    #[test]
    fn spellings_round_trip_and_unknown_ones_name_the_choices() {
        for kind in PartnerKind::ALL {
            assert_eq!(kind.as_str().parse::<PartnerKind>(), Ok(*kind));
        }
        let err = "elderly".parse::<PartnerKind>().unwrap_err();
        assert!(err.to_string().contains("elderly_care"), "{err}");
    }
}
