//! The scheduler against real databases (SQLite and PostgreSQL) and a real SMTP server on
//! loopback: escalation replayed at chosen instants, digests, and mail that survives a
//! mail server being down.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;
use jiesu_core::config::{MailTransport, Settings, SmtpTls};
use jiesu_core::db::{self, Pool};
use jiesu_core::ids::{TicketId, UserId};
use jiesu_core::schema::{ticket_events, tickets, users};
use jiesu_core::testing::{Store, TestDb};
use jiesu_core::tickets::lifecycle::{self, Action, Target};
use jiesu_core::tickets::logging::{self, NewTicket};
use jiesu_core::tickets::Context;
use jiesu_core::types::Priority;
use jiesu_core::{outbox, Actor};
use jiesu_scheduler::Scheduler;

/// A Beijing wall-clock time as the UTC instant the core takes.
fn bj(text: &str) -> NaiveDateTime {
    NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M").unwrap() - Duration::hours(8)
}

use jiesu_core::testing::{free_port, smtp_server, Inbox};

struct World {
    db: TestDb,
    pool: Pool,
    settings: Settings,
}

impl World {
    fn new(store: Store, smtp_port: Option<u16>) -> Self {
        let (db, _) = TestDb::with_demo(store, bj("2026-11-20 09:00"));
        let mut settings = Settings {
            data_dir: db.dir.path().to_path_buf(),
            ..Settings::default()
        };
        settings.config_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config");
        settings.mail.retry_base_secs = 60;
        if let Some(port) = smtp_port {
            settings.mail.transport = MailTransport::Smtp;
            settings.mail.smtp.host = "127.0.0.1".into();
            settings.mail.smtp.port = port;
            settings.mail.smtp.tls = SmtpTls::None;
            settings.mail.smtp.timeout_secs = 5;
        }
        let pool = db::connect(&db.url, 4).unwrap();
        World { db, pool, settings }
    }

    fn scheduler(&self) -> Scheduler {
        Scheduler::new(self.settings.clone(), self.pool.clone()).unwrap()
    }

    fn actor(&self, username: &str) -> Actor {
        let mut conn = self.pool.get().unwrap();
        let id: UserId = users::table
            .filter(users::username.eq(username))
            .select(users::id)
            .first(&mut *conn)
            .unwrap();
        Actor::load(&mut conn, id).unwrap()
    }

    /// The partner unit of a unit-staff account.
    fn partner_of(&self, username: &str) -> jiesu_core::ids::PartnerId {
        match self.actor(username).scope {
            jiesu_core::Scope::Partner { partner } => partner,
            other => panic!("{username} is not unit staff: {other:?}"),
        }
    }

    fn community(&self, name: &str) -> jiesu_core::ids::OrgUnitId {
        use jiesu_core::schema::org_units;
        org_units::table
            .filter(org_units::name.eq(name))
            .select(org_units::id)
            .first(&mut *self.pool.get().unwrap())
            .unwrap()
    }

    /// Logs a ticket of a working-clock category (respond within one working day) at `at`.
    fn log(&self, by: &str, community: &str, title: &str, at: NaiveDateTime) -> TicketId {
        self.log_priority(by, community, title, None, at)
    }

    /// Logs a property ticket at a priority: `normal` (the default) respond in one working
    /// day and resolve in seven, on the working clock; `high` respond in 2 hours and
    /// resolve in 24, around the clock.
    fn log_priority(
        &self,
        by: &str,
        community: &str,
        title: &str,
        priority: Option<Priority>,
        at: NaiveDateTime,
    ) -> TicketId {
        let input = NewTicket {
            category: "property_management".into(),
            priority,
            title: title.into(),
            description: "楼道灯不亮".into(),
            community_id: Some(self.community(community)),
            grid_id: None,
            address: "5号楼".into(),
            latitude: None,
            longitude: None,
            resident_name: None,
            resident_phone: None,
            households: 1,
            channel: None,
            hotline_ref: None,
            hotline: None,
        };
        self.log_input(by, &input, at)
    }

    /// Logs `input` as `by` at `at`.
    fn log_input(&self, by: &str, input: &NewTicket, at: NaiveDateTime) -> TicketId {
        let scheduler = self.scheduler();
        let ctx = Context {
            now: at,
            calendar: &scheduler.calendar,
            reference: &Default::default(),
            public_url: "http://jiesu.test",
            mail_language: self.settings.mail.language,
        };
        logging::log(
            &mut self.pool.get().unwrap(),
            &self.actor(by),
            input,
            None,
            &ctx,
        )
        .unwrap()
        .ticket
        .id
    }

    /// Logs a property ticket in 望京西园一区社区 at `at` with a resident's contact: 陈阿姨,
    /// 13900001111, 望京西园一区5号楼2单元501, and the phone again in the description.
    fn log_resident(&self, title: &str, at: NaiveDateTime) -> TicketId {
        let input = NewTicket {
            category: "property_management".into(),
            priority: None,
            title: title.into(),
            description: "楼道灯不亮，请联系13900001111".into(),
            community_id: Some(self.community("望京西园一区社区")),
            grid_id: None,
            address: "望京西园一区5号楼2单元501".into(),
            latitude: None,
            longitude: None,
            resident_name: Some("陈阿姨".into()),
            resident_phone: Some("13900001111".into()),
            households: 1,
            channel: None,
            hotline_ref: None,
            hotline: None,
        };
        self.log_input("demo-grid", &input, at)
    }

    /// A ticket logged by the grid member on Monday 2026-11-23 10:00 and dispatched by the
    /// street supervisor at 10:30 to the property company (the demo unit's).
    fn sent_to_the_property_company(&self, title: &str) -> TicketId {
        let id = self.log(
            "demo-grid",
            "望京西园一区社区",
            title,
            bj("2026-11-23 10:00"),
        );
        let property = self.partner_of("demo-unit");
        self.act(
            "demo-supervisor",
            id,
            Action::Dispatch {
                to: Target::Partner(property),
                note: None,
            },
            bj("2026-11-23 10:30"),
        );
        id
    }

    fn act(&self, by: &str, id: TicketId, action: Action, at: NaiveDateTime) {
        let scheduler = self.scheduler();
        let ctx = Context {
            now: at,
            calendar: &scheduler.calendar,
            reference: &Default::default(),
            public_url: "http://jiesu.test",
            mail_language: self.settings.mail.language,
        };
        lifecycle::transition(
            &mut self.pool.get().unwrap(),
            &self.actor(by),
            id,
            &action,
            &ctx,
        )
        .unwrap();
    }

    fn level(&self, id: TicketId) -> i32 {
        tickets::table
            .find(id)
            .select(tickets::level)
            .first(&mut *self.pool.get().unwrap())
            .unwrap()
    }

    /// The details of a ticket's events of one kind, oldest first.
    fn events_of(&self, id: TicketId, kind: &str) -> Vec<serde_json::Value> {
        ticket_events::table
            .filter(
                ticket_events::ticket_id
                    .eq(id)
                    .and(ticket_events::kind.eq(kind)),
            )
            .order(ticket_events::id)
            .select(ticket_events::detail)
            .load::<Option<String>>(&mut *self.pool.get().unwrap())
            .unwrap()
            .into_iter()
            .flatten()
            .map(|d| serde_json::from_str(&d).unwrap())
            .collect()
    }

    /// Two schedulers sweeping as of `at`, started at the same moment on two threads.
    async fn two_sweeps_at_once(
        &self,
        at: NaiveDateTime,
    ) -> (
        jiesu_core::escalation::SweepReport,
        jiesu_core::escalation::SweepReport,
    ) {
        let (one, two) = (self.scheduler(), self.scheduler());
        let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(2));
        let run = |s: Scheduler, barrier: std::sync::Arc<tokio::sync::Barrier>| async move {
            barrier.wait().await;
            s.sweep(at, at).await.unwrap().0
        };
        let (a, b) = tokio::join!(
            tokio::spawn(run(one, barrier.clone())),
            tokio::spawn(run(two, barrier))
        );
        (a.unwrap(), b.unwrap())
    }

    async fn sweep(&self, at: &str) -> Vec<(String, i32)> {
        let (report, _) = self.scheduler().sweep(bj(at), bj(at)).await.unwrap();
        report
            .escalated
            .iter()
            .map(|e| (e.number.clone(), e.to_level))
            .collect()
    }
}

async fn an_ignored_ticket_climbs_to_the_city_at_the_right_instants_and_no_further(store: Store) {
    let world = World::new(store, None);
    // Monday 10:00; one working day to respond: due Tuesday 10:00.
    let id = world.log(
        "demo-grid",
        "望京西园一区社区",
        "无人理睬",
        bj("2026-11-23 10:00"),
    );
    assert!(
        world.sweep("2026-11-24 09:59").await.is_empty(),
        "not yet due"
    );
    assert_eq!(world.sweep("2026-11-24 10:00").await.len(), 1);
    assert_eq!(world.level(id), 1, "community → street");
    assert!(
        world.sweep("2026-11-24 10:00").await.is_empty(),
        "a second sweep at the same instant changes nothing"
    );
    assert!(
        world.sweep("2026-11-25 09:59").await.is_empty(),
        "one rise per window"
    );
    assert_eq!(world.sweep("2026-11-25 10:00").await.len(), 1);
    assert_eq!(world.level(id), 2, "street → district");
    // One working day later again: Thursday 10:00.
    assert_eq!(world.sweep("2026-11-26 10:00").await.len(), 1);
    assert_eq!(world.level(id), 3, "district → city");
    assert!(
        world.sweep("2026-12-31 10:00").await.is_empty(),
        "never past the city"
    );
    assert_eq!(world.level(id), 3);
    let events = world.events_of(id, "escalated");
    assert_eq!(events.len(), 3);
    for (i, detail) in events.iter().enumerate() {
        assert_eq!(detail["from_level"], i as i64);
        assert_eq!(detail["to_level"], i as i64 + 1);
    }
}

async fn a_ticket_claimed_in_time_never_escalates(store: Store) {
    let world = World::new(store, None);
    let id = world.log(
        "demo-grid",
        "望京西园一区社区",
        "及时认领",
        bj("2026-11-23 10:00"),
    );
    world.act(
        "demo-supervisor",
        id,
        Action::Dispatch {
            to: Target::Pool,
            note: None,
        },
        bj("2026-11-23 11:00"),
    );
    world.act("demo-unit", id, Action::Claim, bj("2026-11-23 15:00"));
    // Seven working days to resolve from logging: due Wednesday 2 December 10:00.
    assert!(world.sweep("2026-11-24 10:00").await.is_empty());
    assert!(world.sweep("2026-12-01 18:00").await.is_empty());
    world.act(
        "demo-unit",
        id,
        Action::Resolve {
            note: "已修好".into(),
        },
        bj("2026-12-02 09:00"),
    );
    assert!(
        world.sweep("2027-01-04 10:00").await.is_empty(),
        "a resolved ticket has left the queue"
    );
    assert_eq!(world.level(id), 0);
}

async fn a_ticket_waiting_on_the_resident_does_not_escalate_and_resumes_with_its_time(
    store: Store,
) {
    let world = World::new(store, None);
    // Monday 10:00, due Tuesday 10:00; the unit waits on the resident from Monday 11:00.
    let id = world.sent_to_the_property_company("住户不在家");
    world.act(
        "demo-unit",
        id,
        Action::Pause {
            reason: "住户出差，周三返回".into(),
        },
        bj("2026-11-23 11:00"),
    );
    assert!(
        world.sweep("2026-11-24 10:00").await.is_empty(),
        "paused: no escalation"
    );
    assert!(
        world.sweep("2026-11-25 10:00").await.is_empty(),
        "still paused"
    );
    // Resumed Wednesday 11:00: two working days (900 minutes) waited, so due Thursday 10:00.
    world.act(
        "demo-unit",
        id,
        Action::Resume {
            note: Some("住户已返回".into()),
        },
        bj("2026-11-25 11:00"),
    );
    assert!(world.sweep("2026-11-26 09:59").await.is_empty());
    assert_eq!(world.sweep("2026-11-26 10:00").await.len(), 1);
    assert_eq!(world.level(id), 1);
}

async fn a_unit_is_mailed_when_a_ticket_is_dispatched_to_it(store: Store) {
    let port = free_port();
    let inbox = smtp_server(port);
    let world = World::new(store, Some(port));
    let id = world.sent_to_the_property_company("派给物业");
    let delivery = world
        .scheduler()
        .mailer
        .deliver_due(&world.pool, bj("2026-11-23 10:31"))
        .await
        .unwrap();
    assert_eq!(
        delivery.sent, 2,
        "the unit's contact address and its staff member"
    );
    let mails = inbox.lock().unwrap().clone();
    let to_unit: Vec<_> = mails
        .iter()
        .filter(|(to, _)| {
            to.iter()
                .any(|t| t.contains("service@wangjing-property.example.com"))
        })
        .collect();
    assert_eq!(to_unit.len(), 1);
    let text = subject_and_body(&to_unit[0].1);
    assert!(
        text.contains("响应时限: 2026-11-24 10:00（北京时间）") && text.contains("优先级: 一般"),
        "Beijing time to the minute and the Chinese label: {text}"
    );
    assert!(
        text.contains("【派单】")
            && text.contains("派给物业")
            && text.contains(&format!("/console/tickets/{id}")),
        "{text}"
    );
}

/// With `mail.language = "en"` the same mails arrive in English: the dispatch notice and
/// the digest, with the same facts, through a real SMTP server.
async fn mails_are_written_in_the_configured_language(store: Store) {
    let port = free_port();
    let inbox = smtp_server(port);
    let mut world = World::new(store, Some(port));
    world.settings.mail.language = jiesu_core::mail::MailLanguage::En;
    let id = world.sent_to_the_property_company("Stair lights out");
    world
        .scheduler()
        .mailer
        .deliver_due(&world.pool, bj("2026-11-23 10:31"))
        .await
        .unwrap();
    // The unit did not claim it in time: it rises to the street at its response deadline.
    world.sweep("2026-11-24 10:00").await;
    let texts: Vec<String> = inbox
        .lock()
        .unwrap()
        .iter()
        .map(|(_, raw)| subject_and_body(raw))
        .collect();
    let dispatch = texts
        .iter()
        .find(|t| t.starts_with("[Dispatch]"))
        .expect("a dispatch notice");
    assert!(
        dispatch.contains("Priority: normal  Respond by: 2026-11-24 10:00 (Beijing time)"),
        "{dispatch}"
    );
    let digest = texts
        .iter()
        .find(|t| t.starts_with("[Escalation]"))
        .expect("a digest");
    for part in [
        "1 overdue ticket escalated",
        "Missed the response deadline: due by 2026-11-24 10:00, late by 0 min",
        "Held by: 望京宜居物业服务有限公司",
        &format!("/console/tickets/{id}"),
    ] {
        assert!(digest.contains(part), "{part}: {digest}");
    }
    assert!(
        !texts.iter().any(|t| t.contains("【")),
        "no Chinese template was used: {texts:?}"
    );
}

/// Subject and body of a received mail, decoded as a mail client would.
fn subject_and_body(raw: &str) -> String {
    let mail = mailparse::parse_mail(raw.as_bytes()).unwrap();
    let subject =
        mailparse::MailHeaderMap::get_first_value(&mail.headers[..], "Subject").unwrap_or_default();
    format!("{subject}\n{}", mail.get_body().unwrap())
}

/// The received mails whose subject or body carries `marker`.
fn mails_with(inbox: &Inbox, marker: &str) -> Vec<(Vec<String>, String)> {
    inbox
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, m)| subject_and_body(m).contains(marker))
        .cloned()
        .collect()
}

/// The escalation digests among the received mails.
fn digests(inbox: &Inbox) -> Vec<(Vec<String>, String)> {
    mails_with(inbox, "【督办】")
}

async fn the_street_supervisor_gets_one_digest_naming_its_tickets(store: Store) {
    let port = free_port();
    let inbox = smtp_server(port);
    let world = World::new(store, Some(port));
    let a = world.log(
        "demo-grid",
        "望京西园一区社区",
        "望京甲",
        bj("2026-11-23 10:00"),
    );
    let b = world.log(
        "demo-district",
        "花家地北里社区",
        "望京乙",
        bj("2026-11-23 10:00"),
    );
    let c = world.log(
        "demo-district",
        "和平街一社区",
        "和平街丙",
        bj("2026-11-23 10:00"),
    );
    let escalated = world.sweep("2026-11-24 10:00").await;
    assert_eq!(escalated.len(), 3);
    let all = digests(&inbox);
    let to_wangjing: Vec<_> = all
        .iter()
        .filter(|(to, _)| to.iter().any(|t| t.contains("wangjing@street.example.com")))
        .collect();
    assert_eq!(to_wangjing.len(), 1, "one digest per supervisor per sweep");
    let text = subject_and_body(&to_wangjing[0].1);
    assert!(
        text.contains("望京街道") && text.contains("2 件工单"),
        "{text}"
    );
    assert!(
        text.contains("望京甲") && text.contains("望京乙") && !text.contains("和平街丙"),
        "{text}"
    );
    // Which deadline, when in Beijing time, how late, who holds it; labels, not codes.
    for part in [
        "超过响应时限: 应于 2026-11-24 10:00 前，已超 0 分钟",
        "优先级: 一般",
        "当前承办: 未派单",
    ] {
        assert!(text.contains(part), "{part}: {text}");
    }
    assert!(
        !text.contains("normal") && !text.contains("/api/v1/"),
        "{text}"
    );
    assert!(
        text.contains(&format!("http://127.0.0.1:8080/console/tickets/{a}"))
            && text.contains(&format!("/console/tickets/{b}")),
        "{text}"
    );
    let to_hepingjie: Vec<_> = all
        .iter()
        .filter(|(to, _)| {
            to.iter()
                .any(|t| t.contains("hepingjie@street.example.com"))
        })
        .collect();
    assert_eq!(to_hepingjie.len(), 1);
    let text = subject_and_body(&to_hepingjie[0].1);
    assert!(
        text.contains("和平街丙")
            && text
                .split_whitespace()
                .any(|w| w.ends_with(&format!("/console/tickets/{c}"))),
        "{text}"
    );
    // Nothing waits in the outbox, and a second delivery sends nothing again.
    let scheduler = world.scheduler();
    let again = scheduler
        .mailer
        .deliver_due(&world.pool, bj("2026-11-30 10:00"))
        .await
        .unwrap();
    assert_eq!(again.sent, 0);
    assert_eq!(
        outbox::status(&mut world.pool.get().unwrap())
            .unwrap()
            .pending,
        0
    );
    assert_eq!(digests(&inbox).len(), all.len());
}

async fn mail_waits_out_a_mail_server_that_is_down_and_arrives_once(store: Store) {
    let port = free_port(); // nothing listens there yet
    let world = World::new(store, Some(port));
    world.log(
        "demo-grid",
        "望京西园一区社区",
        "服务器宕机时升级",
        bj("2026-11-23 10:00"),
    );
    let (report, delivery) = world
        .scheduler()
        .sweep(bj("2026-11-24 10:00"), bj("2026-11-24 10:00"))
        .await
        .unwrap();
    assert_eq!(report.escalated.len(), 1);
    assert!(delivery.failed >= 1 && delivery.sent == 0, "{delivery:?}");
    let status = outbox::status(&mut world.pool.get().unwrap()).unwrap();
    assert_eq!(status.sent, 0);
    assert!(status.pending >= 1 && status.failing >= 1, "{status:?}");
    assert!(status.last_error.is_some());

    // The server comes back; before the backoff has passed nothing is retried.
    let inbox = smtp_server(port);
    let scheduler = world.scheduler();
    let early = scheduler
        .mailer
        .deliver_due(&world.pool, bj("2026-11-24 10:00") + Duration::seconds(10))
        .await
        .unwrap();
    assert_eq!(early.sent + early.failed, 0, "waits for its backoff");
    let later = scheduler
        .mailer
        .deliver_due(&world.pool, bj("2026-11-24 10:05"))
        .await
        .unwrap();
    assert_eq!(later.failed, 0);
    assert_eq!(later.sent as i64, status.pending);
    assert_eq!(digests(&inbox).len(), 1, "the digest arrived");
    let again = scheduler
        .mailer
        .deliver_due(&world.pool, bj("2026-11-24 11:00"))
        .await
        .unwrap();
    assert_eq!(again.sent, 0, "nothing is sent twice");
    assert_eq!(digests(&inbox).len(), 1);
    drop(world.db);
}

/// SMTP down for the whole of three sweeps (each escalates and mails, each delivery
/// fails), then up: every mail arrives exactly once.
async fn mail_held_through_several_sweeps_with_smtp_down_arrives_once_each(store: Store) {
    let port = free_port(); // nothing listens there during the sweeps
    let world = World::new(store, Some(port));
    for (i, community) in ["望京西园一区社区", "花家地北里社区", "和平街一社区"]
        .iter()
        .enumerate()
    {
        world.log(
            "demo-district",
            community,
            &format!("停机期间{i}"),
            bj("2026-11-23 10:00"),
        );
    }
    let scheduler = world.scheduler();
    let mut rose = 0;
    for at in ["2026-11-24 10:00", "2026-11-26 10:00", "2026-11-30 10:00"] {
        let (report, delivery) = scheduler.sweep(bj(at), bj(at)).await.unwrap();
        rose += report.escalated.len();
        assert_eq!(delivery.sent, 0, "{at}: the server is down");
    }
    assert!(rose >= 3, "the sweeps escalated: {rose}");
    let status = outbox::status(&mut world.pool.get().unwrap()).unwrap();
    assert_eq!(status.sent, 0);
    let queued = status.pending;
    assert!(queued >= 3, "{status:?}");

    let inbox = smtp_server(port);
    let mut sent = 0;
    for at in ["2026-12-01 10:00", "2026-12-02 10:00", "2026-12-05 10:00"] {
        sent += scheduler
            .mailer
            .deliver_due(&world.pool, bj(at))
            .await
            .unwrap()
            .sent;
    }
    assert_eq!(sent as i64, queued, "everything held is delivered");
    let received = inbox.lock().unwrap().clone();
    assert_eq!(received.len() as i64, queued, "and each exactly once");
    let mut distinct: Vec<String> = received
        .iter()
        .map(|(_, raw)| subject_and_body(raw))
        .collect();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), received.len(), "no mail twice");
    drop(world.db);
}

/// Rose for a late response, then claimed: from then on it rises only when it misses its
/// resolution deadline, and after that one level per window. Working clock.
async fn a_claimed_ticket_rises_only_at_its_resolution_deadline_on_the_working_clock(store: Store) {
    let world = World::new(store, None);
    // Monday 10:00: respond by Tuesday 10:00, resolve by Wednesday 2 December 10:00.
    let id = world.log(
        "demo-grid",
        "望京西园一区社区",
        "认领后按办结时限",
        bj("2026-11-23 10:00"),
    );
    assert_eq!(world.sweep("2026-11-24 10:00").await.len(), 1);
    assert_eq!(world.level(id), 1, "late response: community → street");
    world.act(
        "demo-supervisor",
        id,
        Action::Dispatch {
            to: Target::Pool,
            note: None,
        },
        bj("2026-11-24 10:30"),
    );
    world.act("demo-unit", id, Action::Claim, bj("2026-11-24 11:00"));
    for at in [
        "2026-11-25 10:00", // one working day after the rise: the old rule rose here
        "2026-11-27 18:00",
        "2026-12-01 18:00",
        "2026-12-02 09:59",
    ] {
        assert!(
            world.sweep(at).await.is_empty(),
            "{at}: claimed, before resolve_by"
        );
    }
    assert_eq!(world.level(id), 1);
    assert_eq!(world.sweep("2026-12-02 10:00").await.len(), 1);
    assert_eq!(world.level(id), 2, "missed resolution: street → district");
    assert!(
        world.sweep("2026-12-03 09:59").await.is_empty(),
        "one window at the district"
    );
    assert_eq!(world.sweep("2026-12-03 10:00").await.len(), 1);
    assert_eq!(world.level(id), 3);
}

/// The same on the calendar clock, with a wait on the resident that moves the deadline.
async fn a_claimed_ticket_rises_only_at_its_resolution_deadline_on_the_calendar_clock(
    store: Store,
) {
    let world = World::new(store, None);
    // High priority: respond by 12:00, resolve by Tuesday 10:00, around the clock.
    let id = world.log_priority(
        "demo-grid",
        "望京西园一区社区",
        "日历时钟",
        Some(Priority::High),
        bj("2026-11-23 10:00"),
    );
    assert_eq!(world.sweep("2026-11-23 12:00").await.len(), 1);
    assert_eq!(world.level(id), 1);
    let property = world.partner_of("demo-unit");
    world.act(
        "demo-supervisor",
        id,
        Action::Dispatch {
            to: Target::Partner(property),
            note: None,
        },
        bj("2026-11-23 12:10"),
    );
    world.act("demo-unit", id, Action::Claim, bj("2026-11-23 12:30"));
    // Two hours waiting on the resident: resolve_by moves to Tuesday 12:00.
    world.act(
        "demo-unit",
        id,
        Action::Pause {
            reason: "住户外出".into(),
        },
        bj("2026-11-23 13:00"),
    );
    assert!(world.sweep("2026-11-23 14:00").await.is_empty(), "paused");
    world.act(
        "demo-unit",
        id,
        Action::Resume { note: None },
        bj("2026-11-23 15:00"),
    );
    for at in ["2026-11-23 16:00", "2026-11-24 10:00", "2026-11-24 11:59"] {
        assert!(world.sweep(at).await.is_empty(), "{at}");
    }
    assert_eq!(world.sweep("2026-11-24 12:00").await.len(), 1);
    assert_eq!(world.level(id), 2);
    assert!(world.sweep("2026-11-24 13:59").await.is_empty());
    assert_eq!(world.sweep("2026-11-24 14:00").await.len(), 1);
    assert_eq!(world.level(id), 3);
}

/// A sweep replayed as of a later instant while the mail server is down: its mail is
/// retried on the wall clock, not from that later instant, and `deliver` retries at once.
async fn a_replayed_sweep_does_not_strand_real_mail(store: Store) {
    let port = free_port(); // down
    let world = World::new(store, Some(port));
    world.log(
        "demo-grid",
        "望京西园一区社区",
        "回放不滞留邮件",
        bj("2026-11-23 10:00"),
    );
    let wall = bj("2026-11-24 09:00");
    let (report, delivery) = world
        .scheduler()
        .sweep(bj("2027-06-01 10:00"), wall)
        .await
        .unwrap();
    assert_eq!(report.escalated.len(), 1);
    assert!(delivery.failed >= 1 && delivery.sent == 0, "{delivery:?}");
    let pending = outbox::status(&mut world.pool.get().unwrap())
        .unwrap()
        .pending;
    let inbox = smtp_server(port);
    let later = world
        .scheduler()
        .mailer
        .deliver_due(&world.pool, wall + Duration::minutes(5))
        .await
        .unwrap();
    assert_eq!(
        later.sent as i64, pending,
        "retried minutes later, not in 2027"
    );
    assert_eq!(digests(&inbox).len(), 1);
}

async fn deliver_retries_waiting_mail_at_once(store: Store) {
    let port = free_port(); // down
    let world = World::new(store, Some(port));
    world.log(
        "demo-grid",
        "望京西园一区社区",
        "立即重发",
        bj("2026-11-23 10:00"),
    );
    let at = bj("2026-11-24 10:00");
    let (_, delivery) = world.scheduler().sweep(at, at).await.unwrap();
    assert!(delivery.failed >= 1);
    let inbox = smtp_server(port);
    let scheduler = world.scheduler();
    let waiting = scheduler
        .mailer
        .deliver_due(&world.pool, at + Duration::seconds(1))
        .await
        .unwrap();
    assert_eq!(waiting.sent, 0, "the periodic sender waits out the backoff");
    let now = scheduler
        .mailer
        .deliver_all_now(&world.pool, at + Duration::seconds(1))
        .await
        .unwrap();
    assert!(now.sent >= 1 && now.failed == 0, "{now:?}");
    assert_eq!(digests(&inbox).len(), 1);
    let again = scheduler
        .mailer
        .deliver_all_now(&world.pool, at + Duration::seconds(2))
        .await
        .unwrap();
    assert_eq!(again.sent, 0, "nothing is sent twice");
}

/// An `Idempotency-Key` answers retries for its window (24 hours by default), then counts
/// as new; the scheduler forgets expired keys, signed-out sessions whose tokens have
/// expired, and sign-in failure counts quiet for a day.
async fn idempotency_keys_and_ended_sessions_expire_and_are_forgotten(store: Store) {
    use jiesu_core::tickets::logging::IdempotencyKey;
    let world = World::new(store, None);
    let scheduler = world.scheduler();
    let grid = world.actor("demo-grid");
    let input = NewTicket {
        category: "property_management".into(),
        priority: None,
        title: "重试".into(),
        description: "同一个键".into(),
        community_id: None,
        grid_id: None,
        address: "1号楼".into(),
        latitude: None,
        longitude: None,
        resident_name: None,
        resident_phone: None,
        households: 1,
        channel: None,
        hotline_ref: None,
        hotline: None,
    };
    let key = IdempotencyKey {
        key: "phone-7-retry".into(),
        request_hash: logging::request_hash(&input),
        window: Duration::hours(24),
    };
    let t0 = bj("2026-11-23 10:00");
    let log_at = |at: NaiveDateTime| {
        let ctx = Context {
            now: at,
            calendar: &scheduler.calendar,
            reference: &Default::default(),
            public_url: "http://jiesu.test",
            mail_language: Default::default(),
        };
        logging::log(
            &mut world.pool.get().unwrap(),
            &grid,
            &input,
            Some(&key),
            &ctx,
        )
        .unwrap()
    };
    let first = log_at(t0);
    let retry = log_at(t0 + Duration::hours(23));
    assert!(retry.replayed && retry.ticket.id == first.ticket.id);
    let later = log_at(t0 + Duration::hours(25));
    assert!(
        !later.replayed && later.ticket.id != first.ticket.id,
        "past its window the key is a new one"
    );
    jiesu_core::users::end_session(
        &mut world.pool.get().unwrap(),
        &grid,
        "a-session",
        t0 + Duration::hours(12),
        t0,
    )
    .unwrap();
    let count = |table: &str| -> i64 {
        #[derive(QueryableByName)]
        struct N {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        diesel::sql_query(format!("SELECT COUNT(*) AS n FROM {table}"))
            .get_result::<N>(&mut *world.pool.get().unwrap())
            .unwrap()
            .n
    };
    jiesu_core::signin::record_failure(
        &mut world.pool.get().unwrap(),
        "someone",
        "192.0.2.1",
        t0,
        &Default::default(),
    )
    .unwrap();
    assert_eq!((count("idempotency_keys"), count("ended_sessions")), (1, 1));
    assert_eq!(
        count("signin_throttle"),
        2,
        "the name from the address, and the address"
    );
    scheduler
        .forget_expired(t0 + Duration::hours(40))
        .await
        .unwrap();
    assert_eq!(
        (count("idempotency_keys"), count("ended_sessions")),
        (1, 0),
        "the key used at +25 h is still in its window"
    );
    assert_eq!(
        count("signin_throttle"),
        0,
        "quiet for a day, holding no wait"
    );
    scheduler
        .forget_expired(t0 + Duration::hours(50))
        .await
        .unwrap();
    assert_eq!(count("idempotency_keys"), 0);
}

/// Scheduled backups: each a complete backup (its manifest checks out file by file) in a
/// folder named by its instant, and only the newest `backup_keep` kept.
async fn scheduled_backups_keep_the_newest(store: Store) {
    let mut world = World::new(store, None);
    world.settings.database.url = world.db.url_string();
    let backups = world.db.dir.path().join("backups");
    world.settings.scheduler.backup_cron = "0 30 2 * * *".into();
    world.settings.scheduler.backup_dir = backups.clone();
    world.settings.scheduler.backup_keep = 2;
    let scheduler = world.scheduler();
    let t0 = chrono::Utc::now();
    let mut taken = Vec::new();
    for day in 0..3 {
        taken.push(
            scheduler
                .backup_now(t0 + Duration::days(day))
                .await
                .unwrap(),
        );
    }
    let mut kept: Vec<_> = std::fs::read_dir(&backups)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    kept.sort();
    assert_eq!(kept, taken[1..].to_vec(), "the two newest");
    let users: i64 = {
        let mut conn = world.pool.get().unwrap();
        users::table.count().get_result(&mut *conn).unwrap()
    };
    assert!(users >= 5, "the demo's accounts");
    for backup in &kept {
        let manifest = jiesu_core::backup::verify(backup).unwrap();
        assert_eq!(manifest.tables["users"], users);
    }
    let mut bad = world.settings.clone();
    bad.scheduler.backup_cron = "30 2 * * *".into();
    let err = Scheduler::new(bad, world.pool.clone())
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("scheduler.backup_cron"), "{err}");
}

impl World {
    async fn warn_sweep(&self, at: &str) -> jiesu_core::warnings::WarningReport {
        let (report, _) = self.scheduler().sweep(bj(at), bj(at)).await.unwrap();
        report.warnings
    }

    /// The ticket as the supervisor's ticket list shows it at `at`.
    fn listed(&self, id: TicketId, at: NaiveDateTime) -> jiesu_core::tickets::Ticket {
        self.list(&Default::default(), at)
            .into_iter()
            .find(|t| t.id == id)
            .unwrap()
    }

    /// The supervisor's ticket list with `filter` at `at`.
    fn list(
        &self,
        filter: &jiesu_core::tickets::queries::TicketFilter,
        at: NaiveDateTime,
    ) -> Vec<jiesu_core::tickets::Ticket> {
        jiesu_core::tickets::queries::list(
            &mut self.pool.get().unwrap(),
            &Default::default(),
            &self.actor("demo-supervisor"),
            filter,
            jiesu_core::pagination::PageRequest {
                after: None,
                limit: 200,
            },
            at,
        )
        .unwrap()
        .items
    }

    fn ticket(&self, id: TicketId, at: NaiveDateTime) -> jiesu_core::tickets::Ticket {
        jiesu_core::tickets::queries::get(
            &mut self.pool.get().unwrap(),
            &self.actor("demo-supervisor"),
            id,
            "GET /api/v1/tickets/{id}",
            at,
        )
        .unwrap()
        .ticket
    }
}

/// Warnings at 75% of each running window on the ticket's own clock: the response window
/// of a working-clock ticket logged the day before National Day (seven holidays inside
/// it), the resolution window once a unit claims it, and a calendar-clock ticket on a
/// holiday. Each warning once, to the right people, over SMTP; `warning` in the ticket
/// from the point to the deadline.
async fn warnings_come_at_three_quarters_of_each_window_on_its_clock(store: Store) {
    let port = free_port();
    let inbox = smtp_server(port);
    let world = World::new(store, Some(port));
    // Wednesday 30 September 10:00, one working day (450 min) to respond: due Thursday
    // 8 October 10:00, after the holidays. A quarter of the window (112 min) before it:
    // its first hour, and 52 minutes before 18:00 on 30 September.
    let id = world.log(
        "demo-grid",
        "望京西园一区社区",
        "节前报修",
        bj("2026-09-30 10:00"),
    );
    assert!(world.warn_sweep("2026-09-30 17:07").await.warned.is_empty());
    assert!(!world.ticket(id, bj("2026-09-30 17:07")).warning);
    let report = world.warn_sweep("2026-09-30 17:08").await;
    assert_eq!(report.warned.len(), 1, "{report:?}");
    let warned = &report.warned[0];
    assert_eq!((warned.deadline, warned.point), ("response", 75));
    assert_eq!(warned.due_at, bj("2026-10-08 10:00"));
    let told = warned.recipients.len();
    assert!(
        told > 0,
        "nobody dispatched it: the community's supervisors are told"
    );
    assert!(
        world.ticket(id, bj("2026-10-05 12:00")).warning,
        "near, through the holidays"
    );
    assert!(
        world.listed(id, bj("2026-10-05 12:00")).warning,
        "the list says so too"
    );
    assert!(!world.listed(id, bj("2026-09-30 17:07")).warning);
    let near_only = jiesu_core::tickets::queries::TicketFilter {
        warning: Some(true),
        ..Default::default()
    };
    let ids = |tickets: Vec<jiesu_core::tickets::Ticket>| -> Vec<TicketId> {
        tickets.into_iter().map(|t| t.id).collect()
    };
    assert!(ids(world.list(&near_only, bj("2026-10-05 12:00"))).contains(&id));
    assert!(!ids(world.list(&near_only, bj("2026-09-30 17:07"))).contains(&id));
    assert!(
        !ids(world.list(&near_only, bj("2026-10-08 10:01"))).contains(&id),
        "late"
    );
    let not_near = jiesu_core::tickets::queries::TicketFilter {
        warning: Some(false),
        ..Default::default()
    };
    assert!(!ids(world.list(&not_near, bj("2026-10-05 12:00"))).contains(&id));
    assert!(ids(world.list(&not_near, bj("2026-09-30 17:07"))).contains(&id));
    assert!(
        !world.ticket(id, bj("2026-10-08 10:01")).warning,
        "late is not near"
    );
    assert!(
        world.warn_sweep("2026-09-30 17:08").await.warned.is_empty(),
        "once per deadline and point"
    );
    assert!(world.warn_sweep("2026-10-08 09:00").await.warned.is_empty());

    // Dispatched and claimed on Friday 9 October: the resolution window runs (seven
    // working days, the make-up Saturday 10 October among them) and the unit is warned.
    let property = world.partner_of("demo-unit");
    world.act(
        "demo-supervisor",
        id,
        Action::Dispatch {
            to: Target::Partner(property),
            note: None,
        },
        bj("2026-10-09 09:30"),
    );
    world.act("demo-unit", id, Action::Claim, bj("2026-10-09 10:00"));
    let resolve_by: NaiveDateTime = tickets::table
        .find(id)
        .select(tickets::resolve_by)
        .first::<Option<NaiveDateTime>>(&mut *world.pool.get().unwrap())
        .unwrap()
        .unwrap();
    // Seven working days (3,150 min) from the logging: 30 September's 390, then 450 on
    // each of 8, 9, 10 (the make-up Saturday), 12, 13 and 14 October, and 60 on the 15th.
    // A quarter (787 min) before it: 60 on the 15th, 450 on the 14th, 270 on the
    // afternoon of the 13th and 7 before its noon — 13 October 11:53.
    assert_eq!(resolve_by, bj("2026-10-15 10:00"));
    assert!(world.warn_sweep("2026-10-13 11:52").await.warned.is_empty());
    let report = world.warn_sweep("2026-10-13 11:53").await;
    assert_eq!(report.warned.len(), 1, "{report:?}");
    assert_eq!(report.warned[0].deadline, "resolution");
    assert!(
        report.warned[0]
            .recipients
            .iter()
            .any(|r| r.contains("wangjing-property")),
        "the unit holding it: {:?}",
        report.warned[0].recipients
    );
    assert_eq!(world.events_of(id, "warned").len(), 2);
    assert_eq!(world.events_of(id, "warned")[1]["deadline"], "resolution");

    // Around the clock: high priority, respond in 2 hours, on a holiday.
    let urgent = world.log_priority(
        "demo-grid",
        "望京西园一区社区",
        "假日急修",
        Some(Priority::High),
        bj("2026-10-03 10:00"),
    );
    assert!(world.warn_sweep("2026-10-03 11:29").await.warned.is_empty());
    let report = world.warn_sweep("2026-10-03 11:30").await;
    assert_eq!(report.warned.len(), 1);
    assert_eq!(report.warned[0].ticket_id, urgent);

    // Every warning arrived over SMTP, each once.
    let scheduler = world.scheduler();
    scheduler
        .mailer
        .deliver_due(&world.pool, bj("2026-10-15 12:00"))
        .await
        .unwrap();
    let mails = mails_with(&inbox, "【预警】");
    let texts: Vec<String> = mails.iter().map(|(_, m)| subject_and_body(m)).collect();
    assert!(
        texts.iter().any(|t| t.contains("节前报修")
            && t.contains("响应时限: 2026-10-08 10:00")
            && t.contains("75%")),
        "{texts:?}"
    );
    assert!(
        texts
            .iter()
            .any(|t| t.contains("办结时限: 2026-10-15 10:00") && t.contains("望京宜居物业")),
        "{texts:?}"
    );
    let response_mails = texts
        .iter()
        .filter(|t| t.contains("节前报修") && t.contains("响应时限"))
        .count();
    assert_eq!(response_mails, told, "one mail to each supervisor, once");
    drop(world.db);
}

/// Two schedulers sweeping at the same instant, at once: one warning, one set of mails.
async fn two_schedulers_at_one_instant_warn_once(store: Store) {
    let world = World::new(store, None);
    let ids: Vec<TicketId> = (0..5)
        .map(|i| {
            world.log(
                "demo-grid",
                "望京西园一区社区",
                &format!("同时巡检 {i}"),
                bj("2026-11-23 10:00"),
            )
        })
        .collect();
    // Due Tuesday 10:00; 75% of the window was Monday 17:08.
    let at = bj("2026-11-23 17:30");
    let (a, b) = world.two_sweeps_at_once(at).await;
    let (a, b) = (a.warnings, b.warnings);
    assert_eq!(
        a.warned.len() + b.warned.len(),
        ids.len(),
        "each ticket warned by exactly one: {} + {}",
        a.warned.len(),
        b.warned.len()
    );
    for id in &ids {
        assert_eq!(world.events_of(*id, "warned").len(), 1);
    }
    use jiesu_core::schema::outbox;
    let mails: i64 = outbox::table
        .filter(outbox::kind.eq("deadline_warning"))
        .count()
        .get_result(&mut *world.pool.get().unwrap())
        .unwrap();
    assert_eq!(mails as usize, a.mails + b.mails);
    assert!(mails > 0);
}

/// 催办: the street's supervisor urges the unit holding a ticket. The unit's contact
/// address and its staff each get one mail over SMTP with the note and the link; the
/// timeline has the urge; the ticket is unchanged (a unit's own change at once is not
/// refused); the rates count it for the unit, its street and community; a community's own
/// supervisor, unit staff and a ticket waiting in the pool are refused.
async fn an_urging_reaches_the_unit_over_smtp_and_is_counted(store: Store) {
    use jiesu_core::stats::{self, Period};
    use jiesu_core::tickets::urging;
    let port = free_port();
    let inbox = smtp_server(port);
    let world = World::new(store, Some(port));
    let id = world.sent_to_the_property_company("催办的工单");
    let scheduler = world.scheduler();
    let reference = jiesu_core::reference::Reference::default();
    let ctx = |at: &str| Context {
        now: bj(at),
        calendar: &scheduler.calendar,
        reference: &reference,
        public_url: "http://jiesu.test",
        mail_language: world.settings.mail.language,
    };
    let mut conn = world.pool.get().unwrap();
    let version = |conn: &mut jiesu_core::db::DbConnection| -> i32 {
        tickets::table
            .find(id)
            .select(tickets::version)
            .first(conn)
            .unwrap()
    };
    let before = version(&mut conn);
    let urged = urging::urge(
        &mut conn,
        &world.actor("demo-supervisor"),
        id,
        "请今天下午前上门处理",
        &ctx("2026-11-23 14:00"),
    )
    .unwrap();
    assert_eq!(urged.partner_id, world.partner_of("demo-unit"));
    assert_eq!(urged.mails, 2, "the unit's contact address and its staff");
    assert_eq!(version(&mut conn), before, "the ticket itself is unchanged");
    // The unit claims at the same moment: not refused because of the urge.
    drop(conn);
    world.act("demo-unit", id, Action::Claim, bj("2026-11-23 14:01"));

    // Refused: unit staff, a community's own supervisor (none in the demo: made here), a
    // blank note, and a ticket in the pool.
    let mut conn = world.pool.get().unwrap();
    let refused = |conn: &mut jiesu_core::db::DbConnection, actor: &Actor, id, note| {
        urging::urge(conn, actor, id, note, &ctx("2026-11-23 15:00")).unwrap_err()
    };
    let e = refused(&mut conn, &world.actor("demo-unit"), id, "催");
    assert!(matches!(e, jiesu_core::CoreError::Forbidden(_)), "{e:?}");
    let community = world.community("望京西园一区社区");
    let mut own = world.actor("demo-supervisor");
    own.scope = jiesu_core::Scope::Subtree {
        root: community,
        path: jiesu_core::schema::org_units::table
            .find(community)
            .select(jiesu_core::schema::org_units::path)
            .first(&mut conn)
            .unwrap(),
    };
    let e = refused(&mut conn, &own, id, "催");
    assert!(matches!(e, jiesu_core::CoreError::Forbidden(_)), "{e:?}");
    let e = refused(&mut conn, &world.actor("demo-district"), id, "  ");
    assert!(matches!(e, jiesu_core::CoreError::Invalid(_)), "{e:?}");
    drop(conn);
    let pooled = world.log(
        "demo-grid",
        "望京西园一区社区",
        "派单池",
        bj("2026-11-23 10:00"),
    );
    world.act(
        "demo-supervisor",
        pooled,
        Action::Dispatch {
            to: Target::Pool,
            note: None,
        },
        bj("2026-11-23 10:05"),
    );
    let mut conn = world.pool.get().unwrap();
    let e = refused(&mut conn, &world.actor("demo-district"), pooled, "催");
    assert!(matches!(e, jiesu_core::CoreError::Conflict { .. }), "{e:?}");
    // A second urge, by the district, a day later.
    urging::urge(
        &mut conn,
        &world.actor("demo-district"),
        id,
        "再次催办",
        &ctx("2026-11-24 09:00"),
    )
    .unwrap();

    // The timeline holds both, with the unit.
    let urges: Vec<(Option<i64>, Option<String>)> = ticket_events::table
        .filter(
            ticket_events::ticket_id
                .eq(id)
                .and(ticket_events::kind.eq("urged")),
        )
        .order(ticket_events::id)
        .select((ticket_events::partner_id, ticket_events::note))
        .load(&mut conn)
        .unwrap();
    let unit = world.partner_of("demo-unit").0;
    assert_eq!(
        urges,
        [
            (Some(unit), Some("请今天下午前上门处理".to_owned())),
            (Some(unit), Some("再次催办".to_owned())),
        ]
    );

    // Counted: the unit's own figures, the street's ranking of units and of communities.
    let period = Period::new(bj("2026-11-23 00:00"), bj("2026-11-25 00:00")).unwrap();
    let now = bj("2026-11-25 08:00");
    let admin = world.actor("demo-admin");
    let own = stats::for_partner(
        &mut conn,
        &admin,
        world.partner_of("demo-unit"),
        period,
        None,
        now,
    )
    .unwrap();
    assert_eq!(own.urged, 2);
    let street = world.actor("demo-supervisor");
    let root = match &street.scope {
        jiesu_core::Scope::Subtree { root, .. } => *root,
        other => panic!("{other:?}"),
    };
    let node = stats::for_node(&mut conn, &street, root, period, None, now).unwrap();
    assert_eq!(node.urged, 2);
    let ranked_unit = node
        .partners
        .iter()
        .find(|p| p.who.partner_id.0 == unit)
        .expect("the unit is ranked");
    assert_eq!(ranked_unit.urged, 2);
    let child = node
        .children
        .iter()
        .find(|c| c.who.id == community)
        .expect("the community is ranked");
    assert_eq!(child.urged, 2);
    assert!(node
        .children
        .iter()
        .filter(|c| c.who.id != community)
        .all(|c| c.urged == 0));
    // Only the first day: one.
    let first_day = Period::new(bj("2026-11-23 00:00"), bj("2026-11-24 00:00")).unwrap();
    let own = stats::for_partner(
        &mut conn,
        &admin,
        world.partner_of("demo-unit"),
        first_day,
        None,
        now,
    )
    .unwrap();
    assert_eq!(own.urged, 1);
    drop(conn);

    // The mails: one per address per urge, over SMTP.
    let delivery = scheduler
        .mailer
        .deliver_due(&world.pool, bj("2026-11-24 09:01"))
        .await
        .unwrap();
    assert_eq!(delivery.failed, 0);
    let mails = inbox.lock().unwrap().clone();
    for address in [
        "service@wangjing-property.example.com",
        "staff@wangjing-property.example.com",
    ] {
        let urgings: Vec<String> = mails
            .iter()
            .filter(|(to, _)| to.iter().any(|t| t.contains(address)))
            .map(|(_, raw)| subject_and_body(raw))
            .filter(|text| text.contains("【催办】"))
            .collect();
        assert_eq!(urgings.len(), 2, "{address}: {urgings:?}");
        assert!(
            urgings.iter().any(|u| u.contains("请今天下午前上门处理")
                && u.contains("催办的工单")
                && u.contains("望京街道 王主任")
                && u.contains(&format!("/console/tickets/{id}"))),
            "{urgings:?}"
        );
    }
}

/// Residents' personal data (PIPL retention): a year after a ticket is closed, the sweep
/// masks its resident's name and phone, cuts the address to the building and masks phone
/// numbers in the description — not a minute earlier, and never an open ticket's. Two
/// schedulers at one instant reduce each ticket once; the rates do not change.
async fn residents_data_is_reduced_a_year_after_closing_and_the_rates_stay(store: Store) {
    use jiesu_core::schema::ticket_redactions;
    use jiesu_core::stats::{self, Period};
    let world = World::new(store, None);
    assert_eq!(world.settings.privacy.retention_days, 365);
    let closed_on = |title: &str, day: &str| {
        let id = world.log_resident(title, bj(&format!("{day} 09:00")));
        let property = world.partner_of("demo-unit");
        let at = |time: &str| bj(&format!("{day} {time}"));
        world.act(
            "demo-supervisor",
            id,
            Action::Dispatch {
                to: Target::Partner(property),
                note: None,
            },
            at("09:30"),
        );
        world.act("demo-unit", id, Action::Claim, at("10:00"));
        world.act(
            "demo-unit",
            id,
            Action::Resolve {
                note: "已更换灯泡".into(),
            },
            at("11:00"),
        );
        world.act(
            "demo-grid",
            id,
            Action::Feedback {
                satisfaction: jiesu_core::types::Satisfaction::Satisfied,
                comment: None,
            },
            at("14:00"),
        );
        id
    };
    let first = closed_on("先关闭的工单", "2026-11-23");
    let second = closed_on("后关闭的工单", "2026-11-30");
    let open = world.log_resident("仍在办理的工单", bj("2026-11-23 09:00"));
    type Personal = (Option<String>, Option<String>, String, String, i32);
    let personal = |id: TicketId| -> Personal {
        tickets::table
            .find(id)
            .select((
                tickets::resident_name,
                tickets::resident_phone,
                tickets::address,
                tickets::description,
                tickets::version,
            ))
            .first(&mut *world.pool.get().unwrap())
            .unwrap()
    };
    let whole = |id: TicketId| {
        let (name, phone, address, description, _) = personal(id);
        (name, phone, address, description)
            == (
                Some("陈阿姨".to_owned()),
                Some("13900001111".to_owned()),
                "望京西园一区5号楼2单元501".to_owned(),
                "楼道灯不亮，请联系13900001111".to_owned(),
            )
    };
    let street = world.actor("demo-supervisor");
    let root = match &street.scope {
        jiesu_core::Scope::Subtree { root, .. } => *root,
        other => panic!("{other:?}"),
    };
    let rates = || {
        let period = Period::new(bj("2026-11-23 00:00"), bj("2026-12-01 00:00")).unwrap();
        let node = stats::for_node(
            &mut world.pool.get().unwrap(),
            &street,
            root,
            period,
            None,
            bj("2026-12-01 00:00"),
        )
        .unwrap();
        let mut node = serde_json::to_value(node).unwrap();
        node.as_object_mut().unwrap().remove("stored_at");
        node
    };
    let rates_before = rates();
    let version_before = personal(first).4;
    let reduce = |at: &str| {
        let (scheduler, at) = (world.scheduler(), bj(at));
        async move { scheduler.sweep(at, at).await.unwrap().0.reduced }
    };

    // The first closed 2026-11-23 14:00: a minute before its year is out, still whole.
    reduce("2027-11-23 13:59").await;
    assert!(whole(first) && whole(second) && whole(open));
    // After it: reduced, the other two whole.
    assert!(reduce("2027-11-24 09:00").await >= 1);
    assert_eq!(
        personal(first),
        (
            Some("陈**".to_owned()),
            Some("139****1111".to_owned()),
            "望京西园一区5号楼".to_owned(),
            "楼道灯不亮，请联系139****1111".to_owned(),
            version_before + 1,
        )
    );
    assert!(whole(second) && whole(open));
    assert_eq!(reduce("2027-11-24 09:00").await, 0, "nothing twice");

    // Two schedulers at one instant after the second's year: each ticket reduced once.
    let at = bj("2027-12-01 09:00");
    let (a, b) = world.two_sweeps_at_once(at).await;
    let (a, b) = (a.reduced, b.reduced);
    assert!(a + b >= 1, "{a} + {b}");
    assert_eq!(personal(second).1.as_deref(), Some("139****1111"));
    assert_eq!(personal(second).4, version_before + 1, "masked once");
    assert!(whole(open), "an open ticket keeps its resident's contact");
    let rows: Vec<(i64, String)> = ticket_redactions::table
        .filter(ticket_redactions::ticket_id.eq_any([first.0, second.0, open.0]))
        .order(ticket_redactions::ticket_id)
        .select((ticket_redactions::ticket_id, ticket_redactions::reason))
        .load(&mut *world.pool.get().unwrap())
        .unwrap();
    assert_eq!(
        rows,
        [
            (first.0, "retention".into()),
            (second.0, "retention".into())
        ]
    );
    let reduced: i64 = ticket_redactions::table
        .count()
        .get_result(&mut *world.pool.get().unwrap())
        .unwrap();
    let closed_by_then: i64 = tickets::table
        .filter(tickets::closed_at.lt(at - Duration::days(365)))
        .count()
        .get_result(&mut *world.pool.get().unwrap())
        .unwrap();
    assert_eq!(
        reduced, closed_by_then,
        "every ticket closed a year before, once"
    );
    assert_eq!(rates(), rates_before, "the rates read none of it");
}

/// The retention walk across batches of tickets closed at one and the same instant (a
/// bulk close): every one reduced exactly once, over two sweeps of 5,000; a ticket erased
/// on request before is passed too (its erasure stays on record).
async fn the_retention_walk_reduces_each_ticket_once_across_batches_closed_at_one_instant(
    store: Store,
) {
    use jiesu_core::schema::ticket_redactions;
    let world = World::new(store, None);
    let closed_at = bj("2026-11-25 12:00");
    let as_of = closed_at + Duration::days(2);
    let mut conn = world.pool.get().unwrap();
    let before: i64 = tickets::table.count().get_result(&mut conn).unwrap();
    let spec = jiesu_core::loadgen::Spec {
        closed: 6_000,
        open: 0,
        due: 0,
        as_of,
        trails: false,
        city: false,
        days: None,
        tz: world.scheduler().calendar.tz(),
    };
    jiesu_core::loadgen::generate(&mut conn, spec, 6_000, |_| {}).unwrap();
    let generated: Vec<(TicketId, Option<NaiveDateTime>)> = tickets::table
        .order(tickets::id)
        .offset(before)
        .select((tickets::id, tickets::closed_at))
        .load(&mut conn)
        .unwrap();
    assert_eq!(generated.len(), 6_000);
    let instant = generated[0].1;
    assert!(
        instant.is_some() && generated.iter().all(|(_, at)| *at == instant),
        "one instant"
    );
    let erased = generated[100].0;
    jiesu_core::privacy::erase(
        &mut conn,
        &world.actor("demo-admin"),
        erased,
        "居民申请",
        as_of,
    )
    .unwrap();
    drop(conn);

    let year_on = instant.unwrap() + Duration::days(366);
    let scheduler = world.scheduler();
    let first = scheduler.sweep(year_on, year_on).await.unwrap().0.reduced;
    let second = scheduler.sweep(year_on, year_on).await.unwrap().0.reduced;
    let third = scheduler.sweep(year_on, year_on).await.unwrap().0.reduced;
    assert_eq!(first, 5_000);
    assert!(
        second >= 1_000,
        "the rest of the instant's tickets: {second}"
    );
    assert_eq!(third, 0);
    let mut conn = world.pool.get().unwrap();
    let ids: Vec<i64> = generated.iter().map(|(id, _)| id.0).collect();
    let per_ticket: Vec<(i64, i64)> = ticket_redactions::table
        .filter(ticket_redactions::reason.eq("retention"))
        .filter(ticket_redactions::ticket_id.eq_any(&ids))
        .group_by(ticket_redactions::ticket_id)
        .select((ticket_redactions::ticket_id, diesel::dsl::count_star()))
        .load(&mut conn)
        .unwrap();
    assert_eq!(per_ticket.len(), 6_000, "every generated ticket reduced");
    assert!(per_ticket.iter().all(|(_, n)| *n == 1), "none twice");
    let request: i64 = ticket_redactions::table
        .filter(ticket_redactions::ticket_id.eq(erased.0))
        .filter(ticket_redactions::reason.eq("request"))
        .count()
        .get_result(&mut conn)
        .unwrap();
    assert_eq!(request, 1, "the erasure stays on record");
}

/// A ticket as the day's reference model reads it: straight from the row, in Rust.
struct Row {
    id: TicketId,
    status: jiesu_core::types::TicketStatus,
    community: jiesu_core::ids::OrgUnitId,
    level: i32,
    late_since: Option<NaiveDateTime>,
    placed: bool,
    partner: Option<jiesu_core::ids::PartnerId>,
}

impl World {
    /// Logs a property ticket as `by` in `community` at `at`, at a point when given.
    fn log_at_point(
        &self,
        by: &str,
        community: &str,
        title: &str,
        point: Option<(f64, f64)>,
        at: NaiveDateTime,
    ) -> TicketId {
        let input = NewTicket {
            category: "property_management".into(),
            priority: None,
            title: title.into(),
            description: "楼道灯不亮".into(),
            community_id: Some(self.community(community)),
            grid_id: None,
            address: "5号楼".into(),
            latitude: point.map(|p| p.0),
            longitude: point.map(|p| p.1),
            resident_name: None,
            resident_phone: None,
            households: 1,
            channel: None,
            hotline_ref: None,
            hotline: None,
        };
        self.log_input(by, &input, at)
    }

    /// Every ticket of the street's two communities, read plainly.
    fn street_rows(&self) -> Vec<Row> {
        let ours = [
            self.community("望京西园一区社区"),
            self.community("花家地北里社区"),
        ];
        type Raw = (
            TicketId,
            jiesu_core::types::TicketStatus,
            jiesu_core::ids::OrgUnitId,
            i32,
            (
                Option<NaiveDateTime>,
                Option<NaiveDateTime>,
                Option<NaiveDateTime>,
            ),
            Option<f64>,
            Option<jiesu_core::ids::PartnerId>,
        );
        let raw: Vec<Raw> = tickets::table
            .select((
                tickets::id,
                tickets::status,
                tickets::community_id,
                tickets::level,
                (
                    tickets::responded_at,
                    tickets::respond_by,
                    tickets::resolve_by,
                ),
                tickets::latitude,
                tickets::partner_id,
            ))
            .load(&mut *self.pool.get().unwrap())
            .unwrap();
        raw.into_iter()
            .filter(|r| ours.contains(&r.2))
            .map(
                |(id, status, community, level, (a, b, c), lat, partner)| Row {
                    id,
                    status,
                    community,
                    level,
                    late_since: jiesu_core::tickets::queries::late_since_of(a, b, c),
                    placed: lat.is_some(),
                    partner,
                },
            )
            .collect()
    }
}

/// The front page of the day for the street (and for a unit) at a fixed instant: the
/// intake against the same weekday of four weeks by the same hour, open tickets by status,
/// due today, warned, late and escalated, each equal to what a model reading the rows in
/// Rust counts and to the total of the ticket list it links to; the map's shading and
/// points likewise.
async fn the_days_figures_and_map_count_what_the_lists_hold(store: Store) {
    use jiesu_core::today::{self, Tile, OPEN};
    use jiesu_core::types::TicketStatus;
    let world = World::new(store, None);
    let inside = Some((39.9950, 116.4700));
    // Thursday 3 December 2026, 15:00 in Beijing.
    let now = bj("2026-12-03 15:00");
    // The same weekday a week before: two by 15:00 (one sent to the property company and
    // claimed, one ignored), one after; two weeks before: one.
    let claimed = world.log(
        "demo-grid",
        "望京西园一区社区",
        "单元门坏了",
        bj("2026-11-26 09:00"),
    );
    world.act(
        "demo-supervisor",
        claimed,
        Action::Dispatch {
            to: Target::Partner(world.partner_of("demo-unit")),
            note: None,
        },
        bj("2026-11-26 09:30"),
    );
    world.act("demo-unit", claimed, Action::Claim, bj("2026-11-26 10:00"));
    world.log(
        "demo-grid",
        "望京西园一区社区",
        "楼道堆物",
        bj("2026-11-26 11:00"),
    );
    world.log(
        "demo-grid",
        "望京西园一区社区",
        "路灯不亮",
        bj("2026-11-26 16:00"),
    );
    world.log(
        "demo-supervisor",
        "花家地北里社区",
        "井盖松动",
        bj("2026-11-19 10:00"),
    );
    // Logged yesterday at 16:00: one working day to respond (09:00–12:00, 13:30–18:00), so
    // due today at 16:00.
    let due = world.log(
        "demo-grid",
        "望京西园一区社区",
        "电梯异响",
        bj("2026-12-02 16:00"),
    );
    // Today: two in 望京西园一区 with a point inside it, one in 花家地北里 without.
    let morning = world.log_at_point(
        "demo-grid",
        "望京西园一区社区",
        "水管漏水",
        inside,
        bj("2026-12-03 09:00"),
    );
    world.log_at_point(
        "demo-supervisor",
        "花家地北里社区",
        "噪音扰民",
        None,
        bj("2026-12-03 10:00"),
    );
    world.log_at_point(
        "demo-grid",
        "望京西园一区社区",
        "垃圾满溢",
        inside,
        bj("2026-12-03 14:30"),
    );
    // A sweep at 14:00 escalates what is late and plans the warnings.
    world.sweep("2026-12-03 14:00").await;

    let scheduler = world.scheduler();
    let tz = scheduler.calendar.tz();
    let street = world.actor("demo-supervisor");
    let mut conn = world.pool.get().unwrap();
    let reference = Default::default();
    let day = today::summary(&mut conn, &reference, &street, now, tz).unwrap();

    // The intake, by hand.
    let intake = day
        .intake
        .clone()
        .expect("a supervisor's day has its intake");
    assert_eq!(intake.today, 3);
    assert_eq!(intake.same_weekdays, vec![2, 1, 0, 0]);
    assert!((intake.same_weekday_average - 0.75).abs() < 1e-9);
    assert_eq!(day.pool, None);
    assert_eq!(
        (day.day_from, day.day_to),
        (bj("2026-12-03 00:00"), bj("2026-12-04 00:00"))
    );

    // The rest, against the rows read in Rust.
    let rows = world.street_rows();
    let open = |r: &Row| OPEN.contains(&r.status);
    let late = |r: &Row| {
        open(r) && r.status != TicketStatus::Resolved && r.late_since.is_some_and(|t| t < now)
    };
    for s in &day.open {
        let n = rows.iter().filter(|r| r.status == s.status).count() as i64;
        assert_eq!((s.status, s.tally.count), (s.status, n));
    }
    let due_today: Vec<TicketId> = rows
        .iter()
        .filter(|r| {
            open(r)
                && r.status != TicketStatus::Resolved
                && r.late_since.is_some_and(|t| t >= now && t < day.day_to)
        })
        .map(|r| r.id)
        .collect();
    assert_eq!(
        due_today,
        vec![due, morning],
        "yesterday's 16:00 ticket, due at 16:00, and this morning's 09:00 one, whose working day ends at 18:00"
    );
    assert_eq!(day.due_today.count, 2);
    let late_n = rows.iter().filter(|r| late(r)).count() as i64;
    assert!(late_n >= 3, "the fixture has late tickets: {late_n}");
    assert_eq!(day.late.count, late_n);
    let escalated = rows.iter().filter(|r| open(r) && r.level > 0).count() as i64;
    assert!(
        escalated >= 2,
        "the sweep escalated the ignored ones: {escalated}"
    );
    assert_eq!(day.escalated.count, escalated);
    let mut warned: Vec<TicketId> = world
        .list(&Default::default(), now)
        .into_iter()
        .filter(|t| t.warning)
        .map(|t| t.id)
        .collect();
    warned.sort();
    assert_eq!(
        warned,
        vec![claimed, due],
        "past three quarters of their windows: the claimed one's seven working days to resolve \
         (due tomorrow 18:00), and the 16:00 one's day to respond"
    );
    assert_eq!(day.warned.count, 2);
    assert!(day.open.iter().all(|s| !s.tally.more));

    // Each figure is the total of the list its tile links to.
    for (tile, count) in [
        (Tile::LoggedToday, intake.today),
        (Tile::DueToday, day.due_today.count),
        (Tile::Warned, day.warned.count),
        (Tile::Late, day.late.count),
        (Tile::Escalated, day.escalated.count),
        (Tile::Open(TicketStatus::Reported), day.open[0].tally.count),
    ] {
        let listed = world.list(&tile.filter(&street, now, tz), now).len() as i64;
        assert_eq!((tile, listed), (tile, count));
    }

    // The map: both communities placed, each shaded by its own open and late tickets; one
    // point per open ticket with coordinates, late or not as the rows say.
    let map = today::map(&mut conn, &reference, &street, now, 500).unwrap();
    assert_eq!(map.places.len(), 2);
    assert_eq!(map.unplaced, 0);
    // On the map, the tickets being worked: open, not resolved awaiting the visit.
    let worked = |r: &Row| open(r) && r.status != TicketStatus::Resolved;
    for place in &map.places {
        let here: Vec<&Row> = rows.iter().filter(|r| r.community == place.id).collect();
        assert_eq!(
            place.open,
            here.iter().filter(|r| worked(r)).count() as i64,
            "{}",
            place.name
        );
        assert_eq!(
            place.late,
            here.iter().filter(|r| late(r)).count() as i64,
            "{}",
            place.name
        );
    }
    let mut placed: Vec<(TicketId, bool)> = rows
        .iter()
        .filter(|r| worked(r) && r.placed)
        .map(|r| (r.id, late(r)))
        .collect();
    placed.sort();
    let mut points: Vec<(TicketId, bool)> = map.points.iter().map(|p| (p.id, p.late)).collect();
    points.sort();
    assert!(points.len() >= 2, "today's two tickets with a point");
    assert_eq!(points, placed);
    assert_eq!(map.points_total.count, placed.len() as i64);
    let fewer = today::map(&mut conn, &reference, &street, now, 1).unwrap();
    assert_eq!(
        fewer.points.len(),
        1,
        "the points stop at the limit asked for"
    );
    assert_eq!(fewer.points_total, map.points_total);

    // The property company's day: the tickets it holds, and the pool waiting for it.
    let unit = world.actor("demo-unit");
    let partner = world.partner_of("demo-unit");
    let day = today::summary(&mut conn, &reference, &unit, now, tz).unwrap();
    assert_eq!(day.intake, None);
    let pool = jiesu_core::tickets::queries::pool(
        &mut conn,
        &unit,
        jiesu_core::pagination::PageRequest {
            after: None,
            limit: 200,
        },
        now,
    )
    .unwrap();
    assert_eq!(day.pool.map(|p| p.count), Some(pool.items.len() as i64));
    let held = |s: TicketStatus| {
        rows.iter()
            .filter(|r| r.partner == Some(partner) && r.status == s)
            .count() as i64
    };
    for s in &day.open {
        assert_eq!((s.status, s.tally.count), (s.status, held(s.status)));
    }
    assert!(
        held(TicketStatus::Claimed) >= 1,
        "the claimed ticket is the unit's"
    );
    assert_eq!(day.warned.count, 1, "the unit's claimed ticket is warned");
    assert_eq!(
        day.late.count,
        rows.iter()
            .filter(|r| late(r))
            .filter(|r| r.partner == Some(partner))
            .count() as i64
    );

    // A grid member has no front page.
    let grid = world.actor("demo-grid");
    assert!(matches!(
        today::summary(&mut conn, &reference, &grid, now, tz),
        Err(jiesu_core::CoreError::Forbidden(_))
    ));
}

macro_rules! on_both_stores {
    ($($name:ident),+ $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name(super::Store::Sqlite).await })+
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name(super::Store::Postgres).await })+
        }
    };
}

on_both_stores!(
    the_days_figures_and_map_count_what_the_lists_hold,
    an_ignored_ticket_climbs_to_the_city_at_the_right_instants_and_no_further,
    a_ticket_claimed_in_time_never_escalates,
    the_street_supervisor_gets_one_digest_naming_its_tickets,
    mail_waits_out_a_mail_server_that_is_down_and_arrives_once,
    mail_held_through_several_sweeps_with_smtp_down_arrives_once_each,
    a_ticket_waiting_on_the_resident_does_not_escalate_and_resumes_with_its_time,
    a_unit_is_mailed_when_a_ticket_is_dispatched_to_it,
    mails_are_written_in_the_configured_language,
    a_claimed_ticket_rises_only_at_its_resolution_deadline_on_the_working_clock,
    a_claimed_ticket_rises_only_at_its_resolution_deadline_on_the_calendar_clock,
    a_replayed_sweep_does_not_strand_real_mail,
    deliver_retries_waiting_mail_at_once,
    idempotency_keys_and_ended_sessions_expire_and_are_forgotten,
    scheduled_backups_keep_the_newest,
    warnings_come_at_three_quarters_of_each_window_on_its_clock,
    two_schedulers_at_one_instant_warn_once,
    an_urging_reaches_the_unit_over_smtp_and_is_counted,
    residents_data_is_reduced_a_year_after_closing_and_the_rates_stay,
    the_retention_walk_reduces_each_ticket_once_across_batches_closed_at_one_instant,
);
