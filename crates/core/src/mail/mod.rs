//! Every mail jiesu writes, one function each, returning a typed `Mail` for the outbox.
//! Mails go to supervisors and unit staff in China: Chinese text by default (English with
//! `mail.language = "en"`), Beijing time (the calendar's zone) to the minute, labels rather
//! than codes, and links that open the ticket's console page (a person signs in there; the
//! API's JSON is for programs).
//!
//! The words are templates beside this file, `<kind>.<language>.txt`: the first line is
//! the subject, the rest after a blank line the body. The code computes what they show
//! (times in the zone, durations and labels in the language); the templates only place it.

use std::sync::LazyLock;

use chrono::NaiveDateTime;
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::error::{CoreError, CoreResult};
use crate::ids::TicketId;
use crate::types::Priority;

/// The language of the mails jiesu writes (`mail.language`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub enum MailLanguage {
    #[default]
    Zh,
    En,
}

impl TryFrom<String> for MailLanguage {
    type Error = String;
    fn try_from(text: String) -> Result<Self, String> {
        match text.as_str() {
            "zh" => Ok(MailLanguage::Zh),
            "en" => Ok(MailLanguage::En),
            _ => Err(format!("{text:?}: must be zh or en")),
        }
    }
}

impl MailLanguage {
    fn code(self) -> &'static str {
        match self {
            MailLanguage::Zh => "zh",
            MailLanguage::En => "en",
        }
    }

    fn pick<'s>(self, zh: &'s str, en: &'s str) -> &'s str {
        match self {
            MailLanguage::Zh => zh,
            MailLanguage::En => en,
        }
    }
}

/// What every mail is written with: the zone its times are read in, the service's public
/// address for links, and the language.
#[derive(Debug, Clone, Copy)]
pub struct Letterhead<'a> {
    pub tz: Tz,
    pub public_url: &'a str,
    pub language: MailLanguage,
}

/// The templates, compiled in: a missing value is an error, never an empty gap.
static TEMPLATES: LazyLock<minijinja::Environment<'static>> = LazyLock::new(|| {
    let mut env = minijinja::Environment::new();
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    env.set_trim_blocks(true);
    env.set_lstrip_blocks(true);
    env.set_keep_trailing_newline(true);
    for (name, text) in [
        (
            "escalation_digest.zh",
            include_str!("escalation_digest.zh.txt"),
        ),
        (
            "escalation_digest.en",
            include_str!("escalation_digest.en.txt"),
        ),
        (
            "deadline_warning.zh",
            include_str!("deadline_warning.zh.txt"),
        ),
        (
            "deadline_warning.en",
            include_str!("deadline_warning.en.txt"),
        ),
        (
            "partner_dispatch.zh",
            include_str!("partner_dispatch.zh.txt"),
        ),
        (
            "partner_dispatch.en",
            include_str!("partner_dispatch.en.txt"),
        ),
        ("urging.zh", include_str!("urging.zh.txt")),
        ("urging.en", include_str!("urging.en.txt")),
    ] {
        // A template that does not parse fails every test that renders it.
        let _ = env.add_template(name, text);
    }
    env
});

/// Renders `<kind>.<language>` and splits it into subject and body.
fn render(kind: MailKind, language: MailLanguage, values: impl Serialize) -> CoreResult<Mail> {
    let name = format!("{}.{}", kind.as_str(), language.code());
    let text = TEMPLATES
        .get_template(&name)
        .and_then(|t| t.render(values))
        .map_err(|e| CoreError::internal_because(format!("the mail template {name}"), e))?;
    let (subject, body) = text.split_once("\n\n").ok_or_else(|| {
        CoreError::internal(format!("the mail template {name} has no subject line"))
    })?;
    Ok(Mail {
        kind,
        subject: subject.to_owned(),
        body: body.to_owned(),
    })
}

/// What a mail is about; stored as the outbox row's `kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailKind {
    EscalationDigest,
    DeadlineWarning,
    PartnerDispatch,
    Urging,
}

impl MailKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MailKind::EscalationDigest => "escalation_digest",
            MailKind::DeadlineWarning => "deadline_warning",
            MailKind::PartnerDispatch => "partner_dispatch",
            MailKind::Urging => "urging",
        }
    }
}

/// A mail ready for the outbox: one per recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mail {
    pub kind: MailKind,
    pub subject: String,
    pub body: String,
}

/// An instant as a person in the calendar's zone reads it: `2026-11-24 10:00`.
pub fn local_minute(t: NaiveDateTime, tz: Tz) -> String {
    t.and_utc()
        .with_timezone(&tz)
        .format("%Y-%m-%d %H:%M")
        .to_string()
}

/// A duration in minutes as `1 天 2 小时 5 分钟`, or `1 d 2 h 5 min`.
pub fn duration(minutes: i64, language: MailLanguage) -> String {
    let minutes = minutes.max(0);
    let (days, hours, mins) = (minutes / 1440, minutes % 1440 / 60, minutes % 60);
    let units = [
        (days, language.pick("天", "d")),
        (hours, language.pick("小时", "h")),
        (mins, language.pick("分钟", "min")),
    ];
    let mut parts: Vec<String> = units
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, unit)| format!("{n} {unit}"))
        .collect();
    if parts.is_empty() {
        parts.push(format!("0 {}", units[2].1));
    }
    parts.join(" ")
}

/// The console page of a ticket.
pub fn ticket_link(public_url: &str, id: TicketId) -> String {
    format!("{}/console/tickets/{id}", public_url.trim_end_matches('/'))
}

/// Which deadline a ticket missed, or is near.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missed {
    /// Nobody claimed it in time (响应时限).
    Response,
    /// The unit holding it did not resolve it in time (办结时限).
    Resolution,
}

impl Missed {
    fn name(self, language: MailLanguage) -> &'static str {
        match self {
            Missed::Response => language.pick("响应时限", "response deadline"),
            Missed::Resolution => language.pick("办结时限", "resolution deadline"),
        }
    }
}

/// Where an escalated ticket is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Holder {
    /// A unit holds it.
    Unit(String),
    /// It waits in the community's pool for a unit to claim it.
    Pool,
    /// Nobody has sent it anywhere yet.
    Undispatched,
}

impl Holder {
    fn name(&self, language: MailLanguage) -> String {
        match self {
            Holder::Unit(name) => name.clone(),
            Holder::Pool => language
                .pick("待认领（社区派单池）", "waiting in the community's pool")
                .into(),
            Holder::Undispatched => language.pick("未派单", "not dispatched yet").into(),
        }
    }
}

/// A ticket as a digest line names it: what, where, how urgent, and who holds it.
#[derive(Debug, Clone)]
pub struct MailTicket {
    pub id: TicketId,
    pub number: String,
    pub title: String,
    pub community: String,
    /// The category's name in Chinese and in English.
    pub category: (String, String),
    pub priority: Priority,
    pub holder: Holder,
}

impl MailTicket {
    /// The line's values for a template, in the letterhead's language, with `extra` (what
    /// the digest says about the deadline) added.
    fn values(&self, head: &Letterhead<'_>, extra: serde_json::Value) -> serde_json::Value {
        let language = head.language;
        let mut values = serde_json::json!({
            "number": self.number,
            "title": self.title,
            "community": self.community,
            "category": language.pick(&self.category.0, &self.category.1),
            "priority": priority_name(self.priority, language),
            "holder": self.holder.name(language),
            "link": ticket_link(head.public_url, self.id),
        });
        if let (Some(values), serde_json::Value::Object(extra)) = (values.as_object_mut(), extra) {
            values.extend(extra);
        }
        values
    }
}

/// One ticket of an escalation digest.
#[derive(Debug, Clone)]
pub struct DigestLine {
    pub ticket: MailTicket,
    pub missed: Missed,
    pub was_due: NaiveDateTime,
    pub late_minutes: i64,
}

fn priority_name(p: Priority, language: MailLanguage) -> &'static str {
    match language {
        MailLanguage::Zh => p.name_zh(),
        MailLanguage::En => p.name_en(),
    }
}

/// The digest a node's supervisors get from one sweep: every ticket that rose to them.
pub fn escalation_digest(
    node: &str,
    lines: &[DigestLine],
    head: &Letterhead<'_>,
) -> CoreResult<Mail> {
    let language = head.language;
    let lines: Vec<_> = lines
        .iter()
        .map(|l| {
            l.ticket.values(
                head,
                serde_json::json!({
                    "missed": l.missed.name(language),
                    "due": local_minute(l.was_due, head.tz),
                    "late": duration(l.late_minutes, language),
                }),
            )
        })
        .collect();
    render(
        MailKind::EscalationDigest,
        language,
        minijinja::context! { node, lines },
    )
}

/// One ticket of a warning digest: a deadline near.
#[derive(Debug, Clone)]
pub struct WarningLine {
    pub ticket: MailTicket,
    pub deadline: Missed,
    pub due: NaiveDateTime,
    /// Minutes of wall-clock time until the deadline.
    pub left_minutes: i64,
    /// The warning point reached, in percent of the window.
    pub point: u8,
}

/// The warning a unit, or a node's supervisors, get from one sweep: every ticket they
/// hold (or must dispatch) whose deadline is near. `audience` is the unit's or the node's
/// name.
pub fn deadline_warning(
    audience: &str,
    lines: &[WarningLine],
    head: &Letterhead<'_>,
) -> CoreResult<Mail> {
    let language = head.language;
    let lines: Vec<_> = lines
        .iter()
        .map(|l| {
            l.ticket.values(
                head,
                serde_json::json!({
                    "deadline": l.deadline.name(language),
                    "due": local_minute(l.due, head.tz),
                    "left": duration(l.left_minutes, language),
                    "point": l.point,
                }),
            )
        })
        .collect();
    render(
        MailKind::DeadlineWarning,
        language,
        minijinja::context! { audience, lines },
    )
}

/// What a dispatch mail says about the ticket.
#[derive(Debug, Clone)]
pub struct DispatchNotice<'a> {
    pub unit: &'a str,
    pub id: TicketId,
    pub number: &'a str,
    pub title: &'a str,
    pub community: &'a str,
    pub address: &'a str,
    pub priority: Priority,
    pub respond_by: Option<NaiveDateTime>,
}

/// Tells a unit that a ticket was dispatched to it.
pub fn partner_dispatch(n: &DispatchNotice<'_>, head: &Letterhead<'_>) -> CoreResult<Mail> {
    let language = head.language;
    let respond_by = n
        .respond_by
        .map(|t| local_minute(t, head.tz))
        .unwrap_or_else(|| "—".into());
    render(
        MailKind::PartnerDispatch,
        language,
        minijinja::context! {
            unit => n.unit,
            number => n.number,
            title => n.title,
            community => n.community,
            address => n.address,
            priority => priority_name(n.priority, language),
            respond_by,
            link => ticket_link(head.public_url, n.id),
        },
    )
}

/// What an urging mail says.
#[derive(Debug, Clone)]
pub struct UrgingNotice<'a> {
    pub unit: &'a str,
    pub id: TicketId,
    pub number: &'a str,
    pub title: &'a str,
    pub community: &'a str,
    /// Who urges: the supervisor's name.
    pub by: &'a str,
    pub note: &'a str,
    /// The deadline the unit works to: resolution once it holds the ticket, else response.
    pub due: Option<NaiveDateTime>,
}

/// Tells a unit that a supervisor urges it on a ticket it holds (催办).
pub fn urging(n: &UrgingNotice<'_>, head: &Letterhead<'_>) -> CoreResult<Mail> {
    let due = n
        .due
        .map(|t| local_minute(t, head.tz))
        .unwrap_or_else(|| "—".into());
    render(
        MailKind::Urging,
        head.language,
        minijinja::context! {
            unit => n.unit,
            number => n.number,
            title => n.title,
            community => n.community,
            by => n.by,
            note => n.note,
            due,
            link => ticket_link(head.public_url, n.id),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M").unwrap()
    }

    fn duration_in_zh(minutes: i64) -> String {
        duration(minutes, MailLanguage::Zh)
    }

    #[test]
    fn times_are_beijing_minutes_and_durations_read_in_chinese() {
        let tz: Tz = "Asia/Shanghai".parse().unwrap();
        assert_eq!(local_minute(at("2026-11-24 02:00"), tz), "2026-11-24 10:00");
        assert_eq!(duration_in_zh(0), "0 分钟");
        assert_eq!(duration_in_zh(59), "59 分钟");
        assert_eq!(duration_in_zh(60), "1 小时");
        assert_eq!(duration_in_zh(1440 + 125), "1 天 2 小时 5 分钟");
    }

    fn ticket(holder: Holder) -> MailTicket {
        MailTicket {
            id: TicketId(7),
            number: "110105-2026-000007".into(),
            title: "楼道灯不亮".into(),
            community: "望京西园一区社区".into(),
            category: ("物业服务".into(), "Property management".into()),
            priority: Priority::Normal,
            holder,
        }
    }

    fn line(holder: Holder) -> DigestLine {
        DigestLine {
            ticket: ticket(holder),
            missed: Missed::Resolution,
            was_due: at("2026-11-24 02:00"),
            late_minutes: 90,
        }
    }

    fn head(language: MailLanguage) -> Letterhead<'static> {
        Letterhead {
            tz: "Asia/Shanghai".parse().unwrap(),
            public_url: "https://jiesu.example.gov.cn/",
            language,
        }
    }

    #[test]
    fn a_digest_line_names_the_missed_deadline_when_how_late_and_the_holder() {
        let mail = escalation_digest(
            "望京街道",
            &[line(Holder::Unit("望京宜居物业".into()))],
            &head(MailLanguage::Zh),
        )
        .unwrap();
        assert_eq!(mail.kind, MailKind::EscalationDigest);
        assert_eq!(mail.subject, "【督办】望京街道：1 件工单超时升级");
        for part in [
            "望京街道 督办人员：\n\n",
            "超过办结时限: 应于 2026-11-24 10:00 前，已超 1 小时 30 分钟",
            "类别: 物业服务  优先级: 一般",
            "当前承办: 望京宜居物业",
            "https://jiesu.example.gov.cn/console/tickets/7\n\n—— 接诉即办 jiesu\n",
        ] {
            assert!(mail.body.contains(part), "{part} in {}", mail.body);
        }
        assert!(!mail.body.contains("normal") && !mail.body.contains("/api/v1"));
    }

    #[test]
    fn a_warning_names_the_deadline_how_long_is_left_and_the_point() {
        let line = WarningLine {
            ticket: ticket(Holder::Unit("望京宜居物业".into())),
            deadline: Missed::Response,
            due: at("2026-11-24 02:00"),
            left_minutes: 30,
            point: 75,
        };
        let mail = deadline_warning(
            "望京宜居物业",
            std::slice::from_ref(&line),
            &head(MailLanguage::Zh),
        )
        .unwrap();
        assert_eq!(mail.kind, MailKind::DeadlineWarning);
        assert_eq!(mail.subject, "【预警】望京宜居物业：1 件工单即将超时");
        for part in [
            "响应时限: 2026-11-24 10:00，剩余 30 分钟（已过时限的 75%）",
            "当前承办: 望京宜居物业",
            "https://jiesu.example.gov.cn/console/tickets/7",
        ] {
            assert!(mail.body.contains(part), "{part} in {}", mail.body);
        }
        let mail = deadline_warning(
            "Wangjing Property",
            &[line.clone(), line],
            &head(MailLanguage::En),
        )
        .unwrap();
        assert_eq!(
            mail.subject,
            "[Warning] Wangjing Property: 2 tickets near their deadlines"
        );
        assert!(
            mail.body.contains(
                "Response deadline: 2026-11-24 10:00, 30 min left (75% of the time used)"
            ),
            "{}",
            mail.body
        );
    }

    #[test]
    fn a_digest_of_several_tickets_keeps_a_blank_line_between_them() {
        let mail = escalation_digest(
            "望京街道",
            &[line(Holder::Pool), line(Holder::Undispatched)],
            &head(MailLanguage::Zh),
        )
        .unwrap();
        assert_eq!(mail.subject, "【督办】望京街道：2 件工单超时升级");
        assert!(mail
            .body
            .contains("当前承办: 待认领（社区派单池）\n  https://jiesu.example.gov.cn/console/tickets/7\n\n110105-2026-000007"));
        assert!(mail.body.contains("当前承办: 未派单"));
    }

    #[test]
    fn in_english_every_label_is_english_and_the_facts_are_the_same() {
        let mail = escalation_digest(
            "Wangjing Street",
            &[line(Holder::Pool)],
            &head(MailLanguage::En),
        )
        .unwrap();
        assert_eq!(
            mail.subject,
            "[Escalation] Wangjing Street: 1 overdue ticket escalated"
        );
        for part in [
            "Category: Property management  Priority: normal",
            "Missed the resolution deadline: due by 2026-11-24 10:00, late by 1 h 30 min",
            "Held by: waiting in the community's pool",
            "https://jiesu.example.gov.cn/console/tickets/7",
        ] {
            assert!(mail.body.contains(part), "{part} in {}", mail.body);
        }
        let notice = DispatchNotice {
            unit: "Wangjing Property",
            id: TicketId(7),
            number: "110105-2026-000007",
            title: "Stair lights out",
            community: "Wangjing Xiyuan 1",
            address: "Building 5",
            priority: Priority::Urgent,
            respond_by: Some(at("2026-11-24 02:00")),
        };
        let zh = partner_dispatch(&notice, &head(MailLanguage::Zh)).unwrap();
        assert_eq!(zh.subject, "【派单】110105-2026-000007 Stair lights out");
        assert!(
            zh.body
                .contains("优先级: 紧急  响应时限: 2026-11-24 10:00（北京时间）"),
            "{}",
            zh.body
        );
        let en = partner_dispatch(&notice, &head(MailLanguage::En)).unwrap();
        assert_eq!(en.subject, "[Dispatch] 110105-2026-000007 Stair lights out");
        assert!(
            en.body.starts_with("To Wangjing Property:\n\n"),
            "{}",
            en.body
        );
        assert!(
            en.body
                .contains("Priority: urgent  Respond by: 2026-11-24 10:00 (Beijing time)"),
            "{}",
            en.body
        );
    }
}
