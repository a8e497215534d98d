//! The page frame (head, navigation, language links), the stylesheet and script, and the
//! words shared by many pages (statuses, priorities, times in China time).

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{FixedOffset, NaiveDateTime};
use jiesu_core::types::{EventKind, IntakeChannel, Priority, Role, Satisfaction, TicketStatus};
use maud::{html, Markup, PreEscaped, DOCTYPE};

use super::session::Session;

const LANG_COOKIE: &str = "jiesu_lang";

/// The page language: Chinese unless the person chose English.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Zh,
    En,
}

impl Lang {
    pub fn of(req: &HttpRequest) -> Lang {
        match req.cookie(LANG_COOKIE).as_ref().map(|c| c.value()) {
            Some("en") => Lang::En,
            _ => Lang::Zh,
        }
    }

    pub fn t<'a>(self, zh: &'a str, en: &'a str) -> &'a str {
        match self {
            Lang::Zh => zh,
            Lang::En => en,
        }
    }

    fn code(self) -> &'static str {
        match self {
            Lang::Zh => "zh-CN",
            Lang::En => "en",
        }
    }
}

/// `GET /console/lang/{zh|en}?back=…`: remembers the choice for a year.
pub async fn switch_language(
    path: web::Path<String>,
    q: web::Query<std::collections::HashMap<String, String>>,
) -> HttpResponse {
    let lang = if path.as_str() == "en" { "en" } else { "zh" };
    let back = q
        .get("back")
        .map(String::as_str)
        .filter(|b| b.starts_with("/console") && !b.starts_with("//"))
        .unwrap_or("/console/");
    let cookie = actix_web::cookie::Cookie::build(LANG_COOKIE, lang)
        .path("/")
        .same_site(actix_web::cookie::SameSite::Lax)
        .max_age(actix_web::cookie::time::Duration::days(365))
        .finish();
    let mut response = super::see_other(back);
    let _ = response.add_cookie(&cookie);
    response
}

pub fn language_links(lang: Lang, back: &str) -> Markup {
    let back: String = form_urlencoded::byte_serialize(back.as_bytes()).collect();
    html! {
        @if lang == Lang::Zh {
            span aria-current="true" { "中文" } " · "
            a href={ "/console/lang/en?back=" (back) } lang="en" hreflang="en" { "English" }
        } @else {
            a href={ "/console/lang/zh?back=" (back) } lang="zh-CN" hreflang="zh-CN" { "中文" } " · "
            span aria-current="true" { "English" }
        }
    }
}

fn head(title: &str) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            title { (title) }
            link rel="stylesheet" href="/console/static/console.css";
            script src="/console/static/console.js" defer {}
        }
    }
}

/// A page outside a session: sign-in and error pages.
pub fn bare_page(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="zh-CN" {
            (head(title))
            body { (body) }
        }
    }
}

/// Which navigation entry a page belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    /// A page of no menu entry (an error page).
    Elsewhere,
    Today,
    NewTicket,
    Tickets,
    Pool,
    Overdue,
    Stats,
    Hotspots,
    Lists,
    Admin,
    Account,
}

fn nav_items(role: Role) -> Vec<(Nav, &'static str, &'static str, &'static str)> {
    let mut items = Vec::new();
    match role {
        Role::GridMember => {
            items.push((
                Nav::NewTicket,
                "/console/tickets/new",
                "登记工单",
                "Log a ticket",
            ));
            items.push((Nav::Tickets, "/console/tickets", "我的工单", "My tickets"));
            items.push((Nav::Lists, "/console/lists", "三张清单", "Three lists"));
        }
        Role::UnitStaff => {
            items.push((Nav::Today, "/console/today", "今日", "Today"));
            items.push((Nav::Pool, "/console/pool", "抢单池", "Pool"));
            items.push((
                Nav::Tickets,
                "/console/tickets",
                "本单位工单",
                "Our tickets",
            ));
            items.push((Nav::Stats, "/console/stats", "三率", "Rates"));
            items.push((
                Nav::Lists,
                "/console/lists",
                "资源与项目",
                "Resources & projects",
            ));
        }
        Role::Supervisor | Role::Admin => {
            if role == Role::Admin {
                items.push((Nav::Admin, "/console/admin", "系统管理", "Administration"));
            }
            items.push((Nav::Today, "/console/today", "今日", "Today"));
            items.push((
                Nav::Overdue,
                "/console/overdue",
                "超时与升级",
                "Overdue & escalated",
            ));
            items.push((Nav::Tickets, "/console/tickets", "工单", "Tickets"));
            if role == Role::Supervisor {
                items.push((Nav::NewTicket, "/console/tickets/new", "登记", "Log"));
            }
            items.push((Nav::Stats, "/console/stats", "三率", "Rates"));
            items.push((Nav::Hotspots, "/console/hotspots", "热点", "Hotspots"));
            items.push((Nav::Lists, "/console/lists", "三张清单", "Three lists"));
        }
    }
    items
}

pub fn role_name(lang: Lang, role: Role) -> &'static str {
    match role {
        Role::GridMember => lang.t("网格员", "grid member"),
        Role::UnitStaff => lang.t("共建单位", "partner unit"),
        Role::Supervisor => lang.t("督办", "supervisor"),
        Role::Admin => lang.t("管理员", "administrator"),
    }
}

/// A page of a signed-in person: the navigation of its role, the language links and a
/// sign-out button (a form, so it carries the CSRF token).
pub fn page(s: &Session, current: Nav, path: &str, title: &str, body: Markup) -> Markup {
    let lang = s.lang;
    html! {
        (DOCTYPE)
        html lang=(lang.code()) {
            (head(&format!("{title} · {}", lang.t("接诉即办", "jiesu"))))
            body {
                a class="skip" href="#main" { (lang.t("跳到正文", "Skip to content")) }
                header class="top" {
                    a class="brand" href="/console/" { (lang.t("接诉即办", "jiesu")) }
                    // On a phone the menu folds behind this button (console.js); without
                    // script it stays open.
                    button type="button" class="menu-toggle" aria-expanded="false" aria-controls="top-menu" { (lang.t("菜单", "Menu")) }
                    div id="top-menu" class="menu" {
                        nav aria-label=(lang.t("主菜单", "Main")) {
                            ul {
                                @for (nav, href, zh, en) in nav_items(s.role) {
                                    li {
                                        @if nav == current {
                                            a href=(href) aria-current="page" { (lang.t(zh, en)) }
                                        } @else {
                                            a href=(href) { (lang.t(zh, en)) }
                                        }
                                    }
                                }
                            }
                        }
                        div class="who" {
                            @if current == Nav::Account {
                                a href="/console/account" aria-current="page" { (s.username) } " · " (role_name(lang, s.role))
                            } @else {
                                a href="/console/account" title=(lang.t("我的账号", "My account")) { (s.username) } " · " (role_name(lang, s.role))
                            }
                            span class="lang" { (language_links(lang, path)) }
                            form method="post" action="/console/logout" class="inline" {
                                input type="hidden" name="csrf" value=(s.csrf);
                                button type="submit" class="link" { (lang.t("退出", "Sign out")) }
                            }
                        }
                    }
                }
                main id="main" {
                    h1 { (title) }
                    (body)
                }
            }
        }
    }
}

/// A labelled text-like input with its hint and its error, tied to it for screen readers
/// (`aria-invalid`, `aria-describedby`); the error's element is `{id}-error`.
pub struct Field<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub label: &'a str,
    pub kind: &'a str,
    pub value: &'a str,
    pub required: bool,
    pub autocomplete: Option<&'a str>,
    pub hint: Option<&'a str>,
    pub error: Option<String>,
}

impl Field<'_> {
    pub fn render(&self) -> Markup {
        let error_id = format!("{}-error", self.id);
        let hint_id = format!("{}-hint", self.id);
        let described: Vec<&str> = [
            self.hint.map(|_| hint_id.as_str()),
            self.error.as_ref().map(|_| error_id.as_str()),
        ]
        .into_iter()
        .flatten()
        .collect();
        html! {
            label for=(self.id) { (self.label) @if self.required { " *" } }
            input id=(self.id) name=(self.name) type=(self.kind) value=(self.value)
                required[self.required] autocomplete=[self.autocomplete]
                aria-invalid=[self.error.as_ref().map(|_| "true")]
                aria-describedby=[(!described.is_empty()).then(|| described.join(" "))];
            @if let Some(hint) = self.hint { span id=(hint_id) class="muted" { (hint) } }
            @if let Some(e) = &self.error { span id=(error_id) class="field-error" { (e) } }
        }
    }
}

pub fn csrf_field(s: &Session) -> Markup {
    html! { input type="hidden" name="csrf" value=(s.csrf); }
}

/// China Standard Time, as the people using the console read it.
pub fn china(at: NaiveDateTime) -> String {
    let cst = FixedOffset::east_opt(8 * 3600).expect("UTC+8 is a valid offset");
    at.and_utc()
        .with_timezone(&cst)
        .format("%Y-%m-%d %H:%M")
        .to_string()
}

/// "3 h 20 min" / "2 d 4 h": how late something is, or how long until it is due.
pub fn span(lang: Lang, minutes: i64) -> String {
    let m = minutes.abs();
    let (d, h, min) = (m / 1440, (m % 1440) / 60, m % 60);
    match lang {
        Lang::Zh if d > 0 => format!("{d}天{h}小时"),
        Lang::Zh if h > 0 => format!("{h}小时{min}分"),
        Lang::Zh => format!("{min}分钟"),
        Lang::En if d > 0 => format!("{d} d {h} h"),
        Lang::En if h > 0 => format!("{h} h {min} min"),
        Lang::En => format!("{min} min"),
    }
}

pub fn status_name(lang: Lang, s: TicketStatus) -> &'static str {
    use TicketStatus::*;
    match s {
        Reported => lang.t("待派单", "reported"),
        Dispatched => lang.t("已派单", "dispatched"),
        Claimed => lang.t("已认领", "claimed"),
        InProgress => lang.t("办理中", "in progress"),
        Resolved => lang.t("待回访", "resolved, awaiting visit"),
        Closed => lang.t("已办结", "closed"),
        Returned => lang.t("已退单", "returned"),
        Reopened => lang.t("重办", "reopened"),
        Cancelled => lang.t("已作废", "cancelled"),
        Merged => lang.t("已合并", "merged"),
    }
}

pub fn priority_name(lang: Lang, p: Priority) -> &'static str {
    lang.t(p.name_zh(), p.name_en())
}

pub fn level_name(lang: Lang, level: i32) -> &'static str {
    match level {
        0 => lang.t("社区", "community"),
        1 => lang.t("街道", "street"),
        2 => lang.t("区", "district"),
        _ => lang.t("市", "city"),
    }
}

pub fn channel_name(lang: Lang, c: IntakeChannel) -> &'static str {
    match c {
        IntakeChannel::Hotline => lang.t("12345热线转办", "12345 hotline transfer"),
        IntakeChannel::Patrol => lang.t("网格巡查", "grid patrol"),
        IntakeChannel::WalkIn => lang.t("来访", "walk-in"),
        IntakeChannel::App => lang.t("应用（Open311）", "app (Open311)"),
        IntakeChannel::Web => lang.t("居民网页", "residents' web form"),
        IntakeChannel::Other => lang.t("其他", "other"),
    }
}

/// A filter's choice of intake channel (来源), every channel when none is chosen.
pub fn channel_filter(lang: Lang, chosen: Option<IntakeChannel>) -> Markup {
    html! {
        label for="channel" { (lang.t("来源", "Came in by")) }
        select id="channel" name="channel" {
            option value="" { (lang.t("全部来源", "Every channel")) }
            @for c in IntakeChannel::ALL {
                option value=(c.as_str()) selected[chosen == Some(*c)] { (channel_name(lang, *c)) }
            }
        }
    }
}

pub fn satisfaction_name(lang: Lang, s: Satisfaction) -> &'static str {
    match s {
        Satisfaction::Satisfied => lang.t("满意", "satisfied"),
        Satisfaction::BasicallySatisfied => lang.t("基本满意", "basically satisfied"),
        Satisfaction::Unsatisfied => lang.t("不满意", "unsatisfied"),
    }
}

pub fn event_name(lang: Lang, k: EventKind) -> &'static str {
    use EventKind::*;
    match k {
        Logged => lang.t("登记", "logged"),
        Dispatched => lang.t("派单", "dispatched"),
        Reassigned => lang.t("转派", "reassigned"),
        Claimed => lang.t("认领", "claimed"),
        Returned => lang.t("退单", "returned"),
        Progress => lang.t("进展", "progress"),
        Resolved => lang.t("办结", "resolved"),
        Closed => lang.t("回访关闭", "closed"),
        Reopened => lang.t("重办", "reopened"),
        Cancelled => lang.t("作废", "cancelled"),
        Merged => lang.t("合并", "merged"),
        Absorbed => lang.t("并入", "absorbed"),
        PartnerNotice => lang.t("通知单位", "unit notified"),
        AttachmentAdded => lang.t("上传照片", "photo added"),
        Escalated => lang.t("超时升级", "escalated"),
        Paused => lang.t("等待居民", "waiting on resident"),
        Resumed => lang.t("恢复办理", "resumed"),
        Warned => lang.t("临期预警", "deadline warning"),
        Urged => lang.t("催办", "urged"),
        ResidentErased => lang.t("删除居民信息", "resident's data erased"),
    }
}

pub fn pct(rate: Option<f64>) -> String {
    rate.map(|r| format!("{:.1}%", r * 100.0))
        .unwrap_or_else(|| "—".into())
}

/// A notice at the top of a page: what just happened, or why it did not.
pub fn notice(kind: &str, text: &str) -> Markup {
    let role = if kind == "error" { "alert" } else { "status" };
    html! { div class={ "notice " (kind) } role=(role) { (text) } }
}

/// Links to the page before and the page after, where there are such pages.
pub fn pager(lang: Lang, previous: Option<String>, next: Option<String>) -> Markup {
    html! {
        @if previous.is_some() || next.is_some() {
            nav class="pager" aria-label=(lang.t("翻页", "Pages")) {
                @if let Some(href) = previous {
                    a rel="prev" href=(href) { (lang.t("← 上一页", "← Previous page")) }
                    " "
                }
                @if let Some(href) = next {
                    a rel="next" href=(href) { (lang.t("下一页 →", "Next page →")) }
                }
            }
        }
    }
}

const CSS: &str = include_str!("console.css");
const JS: &str = include_str!("console.js");

fn asset(content_type: &'static str, body: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(content_type)
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .body(body)
}

pub async fn stylesheet() -> HttpResponse {
    asset("text/css; charset=utf-8", CSS)
}

pub async fn script() -> HttpResponse {
    asset("text/javascript; charset=utf-8", JS)
}

/// An SVG made on the server, inline in the page.
/// A chart drawn on the server, at its own size: on a phone it scrolls sideways inside
/// its frame (a region keyboard users can scroll) instead of shrinking its lettering.
pub fn plot(lang: Lang, chart: String) -> Markup {
    html! {
        div class="plot" tabindex="0" role="region" aria-label=(lang.t("图表（可左右滑动）", "Chart (scrolls sideways)")) {
            (svg(chart))
        }
    }
}

pub fn svg(markup: String) -> Markup {
    PreEscaped(markup)
}
