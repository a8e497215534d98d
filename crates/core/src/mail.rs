//! Every mail jiesu writes, one function each, returning a typed `Mail` for the outbox.
//! Mails go to supervisors and unit staff in China: Chinese text, Beijing time (the
//! calendar's zone) to the minute, labels rather than codes, and links that open the
//! ticket's console page (a person signs in there; the API's JSON is for programs).

use chrono::NaiveDateTime;
use chrono_tz::Tz;

use crate::ids::TicketId;
use crate::types::Priority;

/// What a mail is about; stored as the outbox row's `kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailKind {
    EscalationDigest,
    PartnerDispatch,
}

impl MailKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MailKind::EscalationDigest => "escalation_digest",
            MailKind::PartnerDispatch => "partner_dispatch",
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

/// A duration in minutes as `1 天 2 小时 5 分钟`.
pub fn duration_zh(minutes: i64) -> String {
    let minutes = minutes.max(0);
    let (days, hours, mins) = (minutes / 1440, minutes % 1440 / 60, minutes % 60);
    let mut parts = Vec::new();
    if days > 0 {
        parts.push(format!("{days} 天"));
    }
    if hours > 0 {
        parts.push(format!("{hours} 小时"));
    }
    if mins > 0 || parts.is_empty() {
        parts.push(format!("{mins} 分钟"));
    }
    parts.join(" ")
}

/// The console page of a ticket.
pub fn ticket_link(public_url: &str, id: TicketId) -> String {
    format!("{}/console/tickets/{id}", public_url.trim_end_matches('/'))
}

/// Which deadline a ticket missed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missed {
    /// Nobody claimed it in time (响应时限).
    Response,
    /// The unit holding it did not resolve it in time (办结时限).
    Resolution,
}

impl Missed {
    fn name_zh(self) -> &'static str {
        match self {
            Missed::Response => "响应时限",
            Missed::Resolution => "办结时限",
        }
    }
}

/// One ticket of an escalation digest.
#[derive(Debug, Clone)]
pub struct DigestLine {
    pub id: TicketId,
    pub number: String,
    pub title: String,
    pub community: String,
    pub category: String,
    pub priority: Priority,
    pub missed: Missed,
    pub was_due: NaiveDateTime,
    pub late_minutes: i64,
    /// The unit holding it, or where it waits (the pool, undispatched).
    pub holder: String,
}

/// The digest a node's supervisors get from one sweep: every ticket that rose to them.
pub fn escalation_digest(node: &str, lines: &[DigestLine], tz: Tz, public_url: &str) -> Mail {
    let items: Vec<String> = lines
        .iter()
        .map(|l| {
            format!(
                "{number}  {title}\n  社区: {community}  类别: {category}  优先级: {priority}\n  超过{missed}: 应于 {due} 前，已超 {late}\n  当前承办: {holder}\n  {link}",
                number = l.number,
                title = l.title,
                community = l.community,
                category = l.category,
                priority = l.priority.name_zh(),
                missed = l.missed.name_zh(),
                due = local_minute(l.was_due, tz),
                late = duration_zh(l.late_minutes),
                holder = l.holder,
                link = ticket_link(public_url, l.id),
            )
        })
        .collect();
    Mail {
        kind: MailKind::EscalationDigest,
        subject: format!("【督办】{node}：{} 件工单超时升级", lines.len()),
        body: format!(
            "{node} 督办人员：\n\n以下工单已超过处理时限，于本次巡检升级至贵级，请督促办理。\n时间均为北京时间。\n\n{}\n\n—— 接诉即办 jiesu\n",
            items.join("\n\n")
        ),
    }
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
pub fn partner_dispatch(n: &DispatchNotice<'_>, tz: Tz, public_url: &str) -> Mail {
    let respond_by = n
        .respond_by
        .map(|t| local_minute(t, tz))
        .unwrap_or_else(|| "—".into());
    Mail {
        kind: MailKind::PartnerDispatch,
        subject: format!("【派单】{} {}", n.number, n.title),
        body: format!(
            "{unit}：\n\n有一件工单派给贵单位，请及时认领办理。\n\n{number}  {title}\n社区: {community}  地址: {address}\n优先级: {priority}  响应时限: {respond_by}（北京时间）\n{link}\n\n—— 接诉即办 jiesu\n",
            unit = n.unit,
            number = n.number,
            title = n.title,
            community = n.community,
            address = n.address,
            priority = n.priority.name_zh(),
            link = ticket_link(public_url, n.id),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M").unwrap()
    }

    #[test]
    fn times_are_beijing_minutes_and_durations_read_in_chinese() {
        let tz: Tz = "Asia/Shanghai".parse().unwrap();
        assert_eq!(local_minute(at("2026-11-24 02:00"), tz), "2026-11-24 10:00");
        assert_eq!(duration_zh(0), "0 分钟");
        assert_eq!(duration_zh(59), "59 分钟");
        assert_eq!(duration_zh(60), "1 小时");
        assert_eq!(duration_zh(1440 + 125), "1 天 2 小时 5 分钟");
    }

    #[test]
    fn a_digest_line_names_the_missed_deadline_when_how_late_and_the_holder() {
        let tz: Tz = "Asia/Shanghai".parse().unwrap();
        let mail = escalation_digest(
            "望京街道",
            &[DigestLine {
                id: TicketId(7),
                number: "110105-2026-000007".into(),
                title: "楼道灯不亮".into(),
                community: "望京西园一区社区".into(),
                category: "物业服务".into(),
                priority: Priority::Normal,
                missed: Missed::Resolution,
                was_due: at("2026-11-24 02:00"),
                late_minutes: 90,
                holder: "望京宜居物业".into(),
            }],
            tz,
            "https://jiesu.example.gov.cn/",
        );
        assert_eq!(mail.subject, "【督办】望京街道：1 件工单超时升级");
        for part in [
            "超过办结时限",
            "2026-11-24 10:00",
            "1 小时 30 分钟",
            "优先级: 一般",
            "当前承办: 望京宜居物业",
            "https://jiesu.example.gov.cn/console/tickets/7",
        ] {
            assert!(mail.body.contains(part), "{part} in {}", mail.body);
        }
        assert!(!mail.body.contains("normal") && !mail.body.contains("/api/v1"));
    }
}
