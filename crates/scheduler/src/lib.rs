//! The escalation scheduler: a cron-driven sweep that raises overdue tickets up the chain
//! and a mail sender that delivers the outbox. Not built yet; `jiesu scheduler` says so.

/// What `jiesu scheduler` prints until the sweep exists.
pub const NOT_BUILT_YET: &str =
    "the escalation scheduler is not built yet: tickets are not escalated and no mail is sent";
