//! Supervisors' pages: overdue and escalated tickets sorted by lateness, the three rates
//! with charts, and the three lists; units see their own rates, resources and projects.

use std::collections::HashMap;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest};
use chrono::NaiveDateTime;
use jiesu_core::escalation::{self, EscalatedTicket};
use jiesu_core::ids::OrgUnitId;
use jiesu_core::lists::{self, LateItem, Need, NeedFilter, ProjectRow, Resource};
use jiesu_core::org::{self, OrgUnitFilter};
use jiesu_core::pagination::{PageRequest, Towards, Window};
use jiesu_core::stats::{self, Figures, NodeStats, PartnerStats, WeekCount};
use jiesu_core::tickets::queries::{self, TicketFilter};
use jiesu_core::types::{IntakeChannel, OrgKind, Role};
use jiesu_core::{Actor, CoreError, CoreResult, Scope};
use maud::{html, Markup};
use serde::Deserialize;

use super::charts::{self, RateRow};
use super::layout::{self, page, pct, Lang, Nav};
use super::tickets::turned_query;
use super::{html_response, ConsoleResult, Session, ALL};
use crate::state::AppState;

/// The escalated list's cursors on the overdue page (forward, back).
const PAIR: [&str; 2] = ["escalated_cursor", "escalated_before"];

/// What the overdue page shows: the most late, how many are late (capped), a page of the
/// escalated and how many there are (capped), the names of their places, and the instant
/// of the read.
type LatePage = (
    Vec<LateItem>,
    (i64, bool),
    Window<EscalatedTicket>,
    (i64, bool),
    HashMap<OrgUnitId, String>,
    NaiveDateTime,
);

/// The escalated tickets a page of the overdue page shows.
const ESCALATED_SHOWN: i64 = 50;

/// How far the overdue page counts late and escalated tickets ("more than 10,000").
const COUNT_CAP: i64 = 10_000;

#[derive(Deserialize)]
pub struct OverdueQuery {
    escalated_cursor: Option<String>,
    escalated_before: Option<String>,
}

/// The late tickets the overdue page lists (the most late); the ticket list pages the rest.
const LATE_SHOWN: i64 = 200;

/// `GET /console/overdue`: what is late in one's scope, the most late first, and what has
/// been escalated.
pub async fn overdue(
    state: web::Data<AppState>,
    session: Session,
    req: HttpRequest,
    q: web::Query<OverdueQuery>,
) -> ConsoleResult {
    let lang = session.lang;
    let towards = Towards::parse(q.escalated_cursor.as_deref(), q.escalated_before.as_deref())?;
    let reference = state.reference.clone();
    let (late, late_total, escalated, escalated_total, names, now): LatePage = session
        .read(&state, move |conn, actor, now| {
            let late = lists::overdue(conn, &reference, actor, LATE_SHOWN, now)?;
            let only_late = TicketFilter {
                overdue: Some(true),
                ..TicketFilter::default()
            };
            let late_total =
                queries::count_capped(conn, &reference, actor, &only_late, COUNT_CAP, now)?;
            let escalated = escalation::browse(conn, actor, towards, ESCALATED_SHOWN, now)?;
            let escalated_total = escalation::count_capped(conn, actor, COUNT_CAP)?;
            let mut ids: Vec<OrgUnitId> = late.iter().map(|l| l.community_id).collect();
            ids.extend(escalated.items.iter().filter_map(|e| e.node_id));
            let names = org::names(conn, &ids)?;
            Ok((late, late_total, escalated, escalated_total, names, now))
        })
        .await?;
    let body = html! {
        section aria-labelledby="late" {
            h2 id="late" { (lang.t("超时未办（按超时长短排序）", "Overdue, most late first")) }
            @let (n, more) = late_total;
            @if n as usize > late.iter().filter(|i| i.kind == "ticket").count() {
                p class="muted" {
                    (lang.t("超时工单共 ", "Overdue tickets: ")) @if more { (lang.t("超过 ", "more than ")) } (n)
                    (lang.t(" 件，这里是最久的 ", "; the ")) (LATE_SHOWN) (lang.t(" 件。", " most late are here. "))
                    a href="/console/tickets?overdue=1" { (lang.t("逐页查看全部", "All of them, page by page")) }
                }
            }
            @if late.is_empty() {
                p class="muted" { (lang.t("没有超时事项。", "Nothing is overdue.")) }
            } @else {
                table class="cards" {
                    thead { tr {
                        th scope="col" { (lang.t("编号", "Number")) }
                        th scope="col" { (lang.t("事项", "Title")) }
                        th scope="col" { (lang.t("社区", "Community")) }
                        th scope="col" { (lang.t("期限", "Due")) }
                        th scope="col" class="num" { (lang.t("已超时", "Late by")) }
                        th scope="col" { (lang.t("层级", "Level")) }
                    } }
                    tbody {
                        @for item in &late {
                            tr {
                                td data-label=(lang.t("编号", "Number")) {
                                    @if item.kind == "ticket" {
                                        a href={ "/console/tickets/" (item.id) } { (item.label) }
                                    } @else {
                                        (lang.t("项目 ", "Project ")) (item.id)
                                    }
                                }
                                td data-label=(lang.t("事项", "Title")) { (item.title) }
                                td data-label=(lang.t("社区", "Community")) { (names.get(&item.community_id).map(String::as_str).unwrap_or("")) }
                                td data-label=(lang.t("期限", "Due")) { (layout::china(item.due)) }
                                td data-label=(lang.t("已超时", "Late by")) class="num" { span class="badge late" { (layout::span(lang, item.late_minutes)) } }
                                td data-label=(lang.t("层级", "Level")) { @if let Some(level) = item.level { (layout::level_name(lang, level)) } }
                            }
                        }
                    }
                }
            }
        }
        section aria-labelledby="escalated" {
            h2 id="escalated" {
                (lang.t("已升级工单", "Escalated tickets")) " · "
                @let (n, more) = escalated_total;
                @if more { (lang.t("超过 ", "more than ")) } (n)
            }
            @if escalated.items.is_empty() {
                p class="muted" { (lang.t("没有升级的工单。", "No ticket has been escalated.")) }
            } @else {
                table class="cards" {
                    thead { tr {
                        th scope="col" { (lang.t("编号", "Number")) }
                        th scope="col" { (lang.t("事项", "Title")) }
                        th scope="col" { (lang.t("当前层级", "Level now")) }
                        th scope="col" { (lang.t("督办单位", "Supervised by")) }
                        th scope="col" { (lang.t("升级经过", "Rises")) }
                    } }
                    tbody {
                        @for e in &escalated.items {
                            tr {
                                td data-label=(lang.t("编号", "Number")) { a href={ "/console/tickets/" (e.ticket_id) } { (e.number) } }
                                td data-label=(lang.t("事项", "Title")) {
                                    (e.title) " "
                                    @if e.overdue { span class="badge late" { (lang.t("仍超时", "still late")) } }
                                }
                                td data-label=(lang.t("当前层级", "Level now")) { span class="badge level" { (layout::level_name(lang, e.level)) } }
                                td data-label=(lang.t("督办单位", "Supervised by")) { (e.node_id.and_then(|n| names.get(&n)).map(String::as_str).unwrap_or("—")) }
                                td data-label=(lang.t("升级经过", "Rises")) {
                                    @for r in &e.rises {
                                        (layout::level_name(lang, r.from_level as i32)) "→" (layout::level_name(lang, r.to_level as i32)) " " (layout::china(r.at)) br;
                                    }
                                }
                            }
                        }
                    }
                }
            }
            (layout::pager(
                lang,
                escalated.previous.map(|at| format!("/console/overdue?{}#escalated", turned_query(&req, PAIR, "escalated_before", at))),
                escalated.next.map(|at| format!("/console/overdue?{}#escalated", turned_query(&req, PAIR, "escalated_cursor", at))),
            ))
        }
        p class="muted" { (lang.t("数据截至 ", "As of ")) (layout::china(now)) }
    };
    Ok(html_response(
        StatusCode::OK,
        page(
            &session,
            Nav::Overdue,
            &super::here(&req),
            lang.t("超时与升级", "Overdue and escalated"),
            body,
        ),
    ))
}

#[derive(Deserialize)]
pub struct StatsQuery {
    org_unit_id: Option<OrgUnitId>,
    days: Option<i64>,
    /// The period picker's choice: `30d` (the last 30 days), `2026-11` (a month) or
    /// `2026-Q4` (a quarter); `days` when left out.
    period: Option<String>,
    /// Only the tickets that came in by this intake channel.
    channel: Option<String>,
}

enum Rates {
    Node {
        stats: Box<NodeStats>,
        weeks: Vec<WeekCount>,
        parent: Option<OrgUnitId>,
    },
    Partner(Box<PartnerStats>),
}

/// The node a supervisor's figures are about: the one asked for, else its own; an
/// administrator's default is the top of the tree.
pub(super) fn default_node(
    conn: &mut jiesu_core::db::DbConnection,
    actor: &Actor,
) -> CoreResult<OrgUnitId> {
    if let Scope::Subtree { root, .. } = actor.scope {
        return Ok(root);
    }
    for kind in [OrgKind::City, OrgKind::District, OrgKind::Street] {
        let filter = OrgUnitFilter {
            kind: Some(kind),
            ..OrgUnitFilter::default()
        };
        let page = PageRequest {
            after: None,
            limit: 1,
        };
        if let Some(top) = org::list(conn, actor, &filter, page)?.items.first() {
            return Ok(top.id);
        }
    }
    Err(CoreError::NotFound("org unit"))
}

/// The period's figures, beside those of the period before (环比) with the change.
fn figures_table(lang: Lang, f: &Figures, before: Option<&Figures>) -> Markup {
    // A figure's name, its value, and the period before's with the change: a count's, and
    // a rate's in percentage points.
    type Line<'a> = (&'a str, String, Option<(String, String)>);
    let count = |name: &'static str, of: fn(&Figures) -> i64| -> Line {
        let then = before.map(|b| (of(b).to_string(), format!("{:+}", of(f) - of(b))));
        (name, of(f).to_string(), then)
    };
    let rate = |name: &'static str, of: fn(&Figures) -> Option<f64>| -> Line {
        let change = |b: &Figures| match (of(f), of(b)) {
            (Some(x), Some(y)) => format!("{:+.1}", (x - y) * 100.0) + lang.t(" 个百分点", " pts"),
            _ => "—".to_owned(),
        };
        (name, pct(of(f)), before.map(|b| (pct(of(b)), change(b))))
    };
    let rows: [Line; 6] = [
        count(lang.t("受理量", "Received"), |f| f.received),
        rate(lang.t("响应率", "Response rate"), |f| f.response_rate),
        rate(lang.t("解决率", "Resolution rate"), |f| {
            f.resolution_rate
        }),
        rate(lang.t("满意率", "Satisfaction rate"), |f| {
            f.satisfaction_rate
        }),
        count(lang.t("超时", "Overdue"), |f| f.overdue),
        count(lang.t("升级", "Escalated"), |f| f.escalated),
    ];
    html! {
        table id="figures" {
            caption class="muted" { (lang.t("本期汇总", "This period")) }
            @if before.is_some() {
                thead { tr {
                    td {}
                    th scope="col" class="num" { (lang.t("本期", "This period")) }
                    th scope="col" class="num" { (lang.t("上期", "The period before")) }
                    th scope="col" class="num" { (lang.t("环比", "Change")) }
                } }
            }
            tbody {
                @for (name, value, then) in &rows {
                    tr {
                        th scope="row" { (name) }
                        td class="num" { (value) }
                        @if let Some((then, change)) = then {
                            td class="num" { (then) }
                            td class="num" { (change) }
                        }
                    }
                }
            }
        }
    }
}

/// What the rates page covers: the last so many whole days, or a calendar month or
/// quarter (compared with the one before).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Covered {
    Days(i64),
    Calendar(stats::CalendarPeriod),
}

impl Covered {
    /// From the page's query: `period` (`30d`, `2026-11`, `2026-Q4`), else `days`.
    fn of(q: &StatsQuery) -> CoreResult<Covered> {
        let Some(text) = q.period.as_deref().map(str::trim).filter(|t| !t.is_empty()) else {
            return Ok(Covered::Days(
                q.days.unwrap_or(30).clamp(1, stats::MAX_PERIOD_DAYS),
            ));
        };
        if let Some(days) = text.strip_suffix('d').and_then(|d| d.parse::<i64>().ok()) {
            return Ok(Covered::Days(days.clamp(1, stats::MAX_PERIOD_DAYS)));
        }
        stats::CalendarPeriod::parse(text)
            .map(Covered::Calendar)
            .ok_or_else(|| {
                CoreError::invalid(
                    "period",
                    "invalid",
                    "30d, a month (2026-11) or a quarter (2026-Q4)",
                )
            })
    }

    /// The value the period picker and the page's links carry.
    fn value(self) -> String {
        match self {
            Covered::Days(days) => format!("{days}d"),
            Covered::Calendar(c) => c.to_string(),
        }
    }

    fn period(self, now: NaiveDateTime, tz: chrono_tz::Tz) -> CoreResult<stats::Period> {
        match self {
            Covered::Days(days) => stats::days_before_today(now, days, tz),
            Covered::Calendar(c) => c.period(now, tz, "period"),
        }
    }
}

/// The picker's choices at `now`: the last 7 to 365 days, this month and quarter so far
/// (from their second day), the five months and three quarters before.
fn period_choices(lang: Lang, now: NaiveDateTime, tz: chrono_tz::Tz) -> Vec<(Covered, String)> {
    let mut out: Vec<(Covered, String)> = [
        (7, "近7天", "last 7 days"),
        (30, "近30天", "last 30 days"),
        (90, "近90天", "last 90 days"),
        (365, "近一年", "last year"),
    ]
    .into_iter()
    .map(|(d, zh, en)| (Covered::Days(d), lang.t(zh, en).to_owned()))
    .collect();
    for (start, count, this_zh, this_en) in [
        (
            stats::CalendarPeriod::month_of(now, tz),
            6,
            "本月至今",
            "this month so far",
        ),
        (
            stats::CalendarPeriod::quarter_of(now, tz),
            4,
            "本季度至今",
            "this quarter so far",
        ),
    ] {
        let mut c = start;
        for i in 0..count {
            if i > 0 || c.period(now, tz, "period").is_ok() {
                let name = if i == 0 {
                    format!("{} ({c})", lang.t(this_zh, this_en))
                } else {
                    c.to_string()
                };
                out.push((Covered::Calendar(c), name));
            }
            c = c.previous();
        }
    }
    out
}

/// How many of a ranking's best and of its worst a page shows when it is longer than twice
/// that: a city's thousands of units would make a page of megabytes that nobody reads
/// row by row. The rates' CSV holds the whole ranking.
const RANK_ENDS: usize = 20;

pub(super) fn ranking<T>(
    lang: Lang,
    caption: &str,
    rows: &[stats::Ranked<T>],
    name: impl Fn(&T) -> Markup,
) -> Markup {
    let (best, between, worst) = if rows.len() > 2 * RANK_ENDS {
        (
            &rows[..RANK_ENDS],
            rows.len() - 2 * RANK_ENDS,
            &rows[rows.len() - RANK_ENDS..],
        )
    } else {
        (rows, 0, &rows[rows.len()..])
    };
    let row = |r: &stats::Ranked<T>| {
        html! {
            tr {
                td data-label=(lang.t("名次", "Rank")) class="num" { (r.rank) }
                td data-label=(lang.t("名称", "Name")) { (name(&r.who)) }
                td data-label=(lang.t("受理量", "Received")) class="num" { (r.figures.received) }
                td data-label=(lang.t("响应率", "Response")) class="num" { (pct(r.figures.response_rate)) }
                td data-label=(lang.t("解决率", "Resolution")) class="num" { (pct(r.figures.resolution_rate)) }
                td data-label=(lang.t("满意率", "Satisfaction")) class="num" { (pct(r.figures.satisfaction_rate)) }
                td data-label=(lang.t("催办次数", "Urged")) class="num" { (r.urged) }
            }
        }
    };
    html! {
        table class="cards" {
            caption { (caption) }
            thead { tr {
                th scope="col" class="num" { (lang.t("名次", "Rank")) }
                th scope="col" { (lang.t("名称", "Name")) }
                th scope="col" class="num" { (lang.t("受理量", "Received")) }
                th scope="col" class="num" { (lang.t("响应率", "Response")) }
                th scope="col" class="num" { (lang.t("解决率", "Resolution")) }
                th scope="col" class="num" { (lang.t("满意率", "Satisfaction")) }
                th scope="col" class="num" { (lang.t("催办次数", "Urged")) }
            } }
            tbody {
                @for r in best { (row(r)) }
                @if between > 0 {
                    tr class="gap" {
                        td colspan="7" class="muted" {
                            (lang.t(
                                &format!("…… 中间 {between} 个未列出，完整排名见三率排名 CSV ……"),
                                &format!("… {between} more in between: the whole ranking is in the rates CSV …"),
                            ))
                        }
                    }
                }
                @for r in worst { (row(r)) }
            }
        }
    }
}

/// The period picker of the rates page (for a node, or for one's own unit), with the
/// intake channel the figures are of.
fn period_form(
    lang: Lang,
    (covered, choices): (Covered, &[(Covered, String)]),
    channel: Option<IntakeChannel>,
    node: Option<OrgUnitId>,
) -> Markup {
    html! {
        form method="get" action="/console/stats" class="row" {
            @if let Some(node) = node { input type="hidden" name="org_unit_id" value=(node); }
            div {
                label for="period" { (lang.t("统计区间", "Period")) }
                select id="period" name="period" {
                    @if !choices.iter().any(|(c, _)| *c == covered) {
                        option value=(covered.value()) selected { (covered.value()) }
                    }
                    @for (c, name) in choices {
                        option value=(c.value()) selected[*c == covered] { (name) }
                    }
                }
            }
            div { (layout::channel_filter(lang, channel)) }
            div { button type="submit" class="secondary" { (lang.t("查看", "Show")) } }
        }
    }
}

/// `GET /console/stats?org_unit_id=&period=&channel=`: the three rates of a node (a month
/// or a quarter beside the one before) with its children ranked (table and bar chart), weekly volume (line chart) and CSV downloads; a unit's
/// staff see their own unit's rates.
pub async fn stats(
    state: web::Data<AppState>,
    session: Session,
    req: HttpRequest,
    q: web::Query<StatsQuery>,
) -> ConsoleResult {
    let lang = session.lang;
    let covered = Covered::of(&q)?;
    let asked = q.org_unit_id;
    let channel = jiesu_core::tickets::logging::channel_of(q.channel.as_deref())?;
    // What the links of the page carry on: the period and the channel asked for.
    let with_channel = channel.map(|c| format!("&channel={c}")).unwrap_or_default();
    let with_period = format!("&period={}{with_channel}", covered.value());
    let tz = state.calendar.tz();
    let (rates, period, now) = session
        .read(&state, move |conn, actor, now| {
            let period = covered.period(now, tz)?;
            // A month or a quarter beside the one before (环比).
            let before = match covered {
                Covered::Calendar(c) => Some(stats::previous_period(period, Some(c), now, tz)?),
                Covered::Days(_) => None,
            };
            if let Scope::Partner { partner } = actor.scope {
                let mut own = stats::for_partner(conn, actor, partner, period, channel, now)?;
                if let Some(before) = before {
                    own.previous = Some(stats::Previous {
                        period: before,
                        figures: stats::for_partner(conn, actor, partner, before, channel, now)?
                            .figures,
                    });
                }
                return Ok((Rates::Partner(Box::new(own)), period, now));
            }
            let node = match asked {
                Some(n) => n,
                None => default_node(conn, actor)?,
            };
            let mut stats = stats::for_node(conn, actor, node, period, channel, now)?;
            if let Some(before) = before {
                stats.previous = Some(stats::Previous {
                    period: before,
                    figures: stats::for_node(conn, actor, node, before, channel, now)?.figures,
                });
            }
            let weeks = stats::weekly_volume(conn, actor, (node, channel), 12, now, tz)?;
            let parent = org::get(conn, actor, node)?
                .parent_id
                .filter(|p| org::get(conn, actor, *p).is_ok());
            Ok((
                Rates::Node {
                    stats: Box::new(stats),
                    weeks,
                    parent,
                },
                period,
                now,
            ))
        })
        .await?;
    let series = [
        lang.t("响应率", "Response"),
        lang.t("解决率", "Resolution"),
        lang.t("满意率", "Satisfaction"),
    ];
    let from = period.from.and_utc().to_rfc3339();
    let to = period.to.and_utc().to_rfc3339();
    let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let choices = period_choices(lang, now, tz);
    let before = match &rates {
        Rates::Node { stats, .. } => stats.previous.as_ref().map(|p| p.period),
        Rates::Partner(p) => p.previous.as_ref().map(|p| p.period),
    };
    let body = match &rates {
        Rates::Partner(p) => html! {
            (period_form(lang, (covered, &choices), channel, None))
            h2 { (p.partner.name) @if let Some(c) = channel { " · " (layout::channel_name(lang, c)) } }
            (figures_table(lang, &p.figures, p.previous.as_ref().map(|b| &b.figures)))
        },
        Rates::Node {
            stats,
            weeks,
            parent,
        } => {
            let rows: Vec<RateRow> = stats
                .children
                .iter()
                .map(|c| RateRow {
                    name: c.who.name.clone(),
                    rates: [
                        c.figures.response_rate,
                        c.figures.resolution_rate,
                        c.figures.satisfaction_rate,
                    ],
                })
                .collect();
            let bars_title = format!(
                "{} · {}",
                stats.node.name,
                lang.t("下级三率", "rates of the units below")
            );
            let bars = charts::rate_bars(&bars_title, series, &rows);
            let points: Vec<(String, i64)> = weeks
                .iter()
                .map(|w| (w.week_of.format("%m-%d").to_string(), w.logged))
                .collect();
            let line_title = format!(
                "{} · {}",
                stats.node.name,
                lang.t("每周受理量", "tickets logged per week")
            );
            let line = charts::weekly_line(&line_title, &points);
            let node = stats.node.id;
            html! {
                @if let Some(parent) = parent {
                    p { a href={ "/console/stats?org_unit_id=" (parent) (with_period) } { (lang.t("← 上一级", "← One level up")) } }
                }
                (period_form(lang, (covered, &choices), channel, Some(node)))
                h2 { (stats.node.name) @if let Some(c) = channel { " · " (layout::channel_name(lang, c)) } }
                div class="two" {
                    (figures_table(lang, &stats.figures, stats.previous.as_ref().map(|b| &b.figures)))
                    div {
                        h2 { (lang.t("下载", "Downloads")) }
                        ul {
                            li { a href={ "/api/v1/stats.csv?org_unit_id=" (node) "&from=" (enc(&from)) "&to=" (enc(&to)) (with_channel) } download { (lang.t("三率排名 CSV", "Rates and rankings (CSV)")) } }
                            li { a href={ "/api/v1/tickets.csv?org_unit_id=" (node) "&created_from=" (enc(&from)) "&created_to=" (enc(&to)) (with_channel) } download { (lang.t("本期工单 CSV", "Tickets of the period (CSV)")) } }
                        }
                    }
                }
                @if !rows.is_empty() {
                    figure class="chart" {
                        (layout::plot(lang, bars))
                        figcaption class="muted" { (lang.t("蓝：响应率　绿：解决率　黄：满意率；无数据的不画。", "Blue: response, green: resolution, yellow: satisfaction; no bar where there is no data.")) }
                    }
                    (ranking(lang, lang.t("下级排名", "Units below, ranked"), &stats.children, |n| html! {
                        a href={ "/console/stats?org_unit_id=" (n.id) (with_period) } { (n.name) }
                    }))
                }
                figure class="chart" {
                    (layout::plot(lang, line))
                    figcaption class="scroll" {
                        table {
                            caption class="muted" { (lang.t("每周受理量（周一起）", "Tickets logged per week (from Monday)")) }
                            tr { @for w in weeks.iter() { th scope="col" class="num" { (w.week_of.format("%m-%d")) } } }
                            tr { @for w in weeks.iter() { td class="num" { (w.logged) } } }
                        }
                    }
                }
                @if !stats.partners.is_empty() {
                    (ranking(lang, lang.t("共建单位排名", "Partner units, ranked"), &stats.partners, |p| html! {
                        a href={ "/console/tickets?org_unit_id=" (node) "&partner_id=" (p.partner_id) } { (p.name) }
                    }))
                }
            }
        }
    };
    Ok(html_response(
        StatusCode::OK,
        page(
            &session,
            Nav::Stats,
            &super::here(&req),
            lang.t("三率统计", "The three rates"),
            html! {
                p class="muted" {
                    (layout::china(period.from)) " – " (layout::china(period.to))
                    @if let Some(before) = before {
                        " · " (lang.t("上期 ", "the period before: ")) (layout::china(before.from)) " – " (layout::china(before.to))
                    }
                    " · " (lang.t("数据截至今日 0 时，每日更新", "figures as of midnight, updated daily"))
                }
                (body)
            },
        ),
    ))
}

type ThreeLists = (
    Vec<Need>,
    Vec<Resource>,
    Vec<ProjectRow>,
    HashMap<OrgUnitId, String>,
    NaiveDateTime,
);

/// `GET /console/lists`: the needs list, resources and projects of one's scope.
pub async fn lists(
    state: web::Data<AppState>,
    session: Session,
    req: HttpRequest,
) -> ConsoleResult {
    let lang = session.lang;
    let lists: ThreeLists = session
        .read(&state, |conn, actor, now| {
            let needs = if actor.role == Role::UnitStaff {
                Vec::new()
            } else {
                lists::list_needs(conn, actor, &NeedFilter::default(), ALL)?.items
            };
            let resources = lists::list_resources(conn, actor, None, ALL)?.items;
            let projects = lists::list_projects(conn, actor, None, ALL, now)?.items;
            let mut ids: Vec<OrgUnitId> = needs.iter().map(|n| n.need.community_id).collect();
            ids.extend(projects.iter().map(|p| p.community_id));
            ids.extend(resources.iter().flat_map(|r| r.communities.iter().copied()));
            let names = org::names(conn, &ids)?;
            Ok((needs, resources, projects, names, now))
        })
        .await?;
    let (needs, resources, projects, names, now) = lists;
    let community = |id: &OrgUnitId| names.get(id).map(String::as_str).unwrap_or("").to_owned();
    let body = html! {
        @if session.role != Role::UnitStaff {
            section aria-labelledby="needs" {
                h2 id="needs" { (lang.t("需求清单", "Needs list")) " · " (needs.len()) " " a href="/api/v1/needs.csv" download { "CSV" } }
                table class="cards" {
                    thead { tr {
                        th scope="col" { (lang.t("需求", "Need")) }
                        th scope="col" { (lang.t("社区", "Community")) }
                        th scope="col" class="num" { (lang.t("户数", "Households")) }
                        th scope="col" { (lang.t("状态", "Status")) }
                        th scope="col" class="num" { (lang.t("关联工单", "Tickets")) }
                    } }
                    tbody { @for n in &needs { tr {
                        td data-label=(lang.t("需求", "Need")) { (n.need.title) }
                        td data-label=(lang.t("社区", "Community")) { (community(&n.need.community_id)) }
                        td data-label=(lang.t("户数", "Households")) class="num" { (n.need.households) }
                        td data-label=(lang.t("状态", "Status")) { (n.need.status) }
                        td data-label=(lang.t("关联工单", "Tickets")) class="num" { (n.ticket_ids.len()) }
                    } } }
                }
            }
        }
        section aria-labelledby="resources" {
            h2 id="resources" { (lang.t("资源清单", "Resource list")) " · " (resources.len()) " " a href="/api/v1/resources.csv" download { "CSV" } }
            table class="cards" {
                thead { tr {
                    th scope="col" { (lang.t("资源", "Resource")) }
                    th scope="col" { (lang.t("数量", "Capacity")) }
                    th scope="col" { (lang.t("时间", "When")) }
                    th scope="col" { (lang.t("服务社区", "Communities")) }
                } }
                tbody { @for r in &resources { tr {
                    td data-label=(lang.t("资源", "Resource")) { (r.resource.title) @if !r.resource.active { " " span class="badge" { (lang.t("停用", "inactive")) } } }
                    td data-label=(lang.t("数量", "Capacity")) { (r.resource.capacity) }
                    td data-label=(lang.t("时间", "When")) { (r.resource.schedule) }
                    td data-label=(lang.t("服务社区", "Communities")) { (r.communities.iter().map(&community).collect::<Vec<_>>().join("、")) }
                } } }
            }
        }
        section aria-labelledby="projects" {
            h2 id="projects" { (lang.t("项目清单", "Project list")) " · " (projects.len()) " " a href="/api/v1/projects.csv" download { "CSV" } }
            table class="cards" {
                thead { tr {
                    th scope="col" { (lang.t("项目", "Project")) }
                    th scope="col" { (lang.t("社区", "Community")) }
                    th scope="col" { (lang.t("状态", "Status")) }
                    th scope="col" { (lang.t("完成期限", "Due")) }
                } }
                tbody { @for p in &projects { tr {
                    td data-label=(lang.t("项目", "Project")) { (p.title) }
                    td data-label=(lang.t("社区", "Community")) { (community(&p.community_id)) }
                    td data-label=(lang.t("状态", "Status")) { (p.status) }
                    td data-label=(lang.t("完成期限", "Due")) {
                        (layout::china(p.due_at))
                        @if p.due_at < now && !matches!(p.status, jiesu_core::types::ProjectStatus::Done | jiesu_core::types::ProjectStatus::Cancelled) {
                            " " span class="badge late" { (lang.t("逾期", "overdue")) }
                        }
                    }
                } } }
            }
        }
    };
    let title = if session.role == Role::UnitStaff {
        lang.t("资源与项目", "Resources and projects")
    } else {
        lang.t("三张清单", "The three lists")
    };
    Ok(html_response(
        StatusCode::OK,
        page(&session, Nav::Lists, &super::here(&req), title, body),
    ))
}
