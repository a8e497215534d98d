//! `GET /console/tickets`: the tickets of one's scope, paged both ways with their total.

use super::*;

#[derive(Deserialize, Default)]
pub struct ListQuery {
    /// One status or several, comma-separated (`open` for every open status).
    pub(super) status: Option<String>,
    /// `1`: only late; `0`: only not late.
    pub(super) overdue: Option<String>,
    pub(super) warning: Option<String>,
    /// `1`: escalated above the community at least once.
    pub(super) escalated: Option<String>,
    pub(super) org_unit_id: Option<String>,
    /// The unit holding the tickets (a supervisor's: a unit's staff always see their own).
    pub(super) partner_id: Option<String>,
    /// The level the tickets stand at (0 the community … 3 the city).
    pub(super) level: Option<String>,
    /// A category's code.
    pub(super) category: Option<String>,
    /// Local dates (`YYYY-MM-DD`) in the calendar's time zone.
    pub(super) created_from: Option<String>,
    pub(super) due_before: Option<String>,
    /// One box for what a resident calling back gives: a ticket's number, the last four
    /// digits of the phone or the whole number, or text in the title.
    pub(super) q: Option<String>,
    pub(super) address: Option<String>,
    /// How the tickets came in (`IntakeChannel`).
    pub(super) channel: Option<String>,
    /// A hotline transfer's number at the hotline.
    pub(super) hotline_ref: Option<String>,
    /// `deadline`: the tickets being worked, the earliest deadline first.
    pub(super) sort: Option<String>,
    pub(super) cursor: Option<String>,
    /// The first ticket of the page after the one asked for (the "previous page" link).
    pub(super) before: Option<String>,
    pub(super) done: Option<String>,
}

/// The most a page counts: past it the total reads "10,000+", so the count costs the same
/// in a community and in the city. The day's figures stop at the same, so each equals the
/// total of the list it links to.
pub(super) const TOTAL_CAP: i64 = jiesu_core::today::CAP;

/// The value of `status` that stands for every open status.
const OPEN: &str = "open";

/// A local date typed into a list's query: its midnight in `tz`, or an error naming `field`.
fn local_date(
    field: &str,
    text: Option<&str>,
    tz: chrono_tz::Tz,
) -> jiesu_core::CoreResult<Option<NaiveDateTime>> {
    match text.map(str::trim).filter(|t| !t.is_empty()) {
        None => Ok(None),
        Some(t) => chrono::NaiveDate::parse_from_str(t, "%Y-%m-%d")
            .map(|day| Some(jiesu_core::stats::local_midnight(day, tz)))
            .map_err(|_| CoreError::invalid(field, "invalid", "a date such as 2026-12-07")),
    }
}

/// What the search box holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Searched {
    Nothing,
    /// A ticket's number: six digits, the year, the count (`110105-2026-000003`).
    Number,
    /// Four digits (the end of a phone) or eleven (a whole number).
    Phone,
    Text,
}

impl Searched {
    fn of(typed: &str) -> Searched {
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        let parts: Vec<&str> = typed.split('-').collect();
        match parts.as_slice() {
            [] | [""] => Searched::Nothing,
            [one] if digits(one) && (one.len() == 4 || one.len() == 11) => Searched::Phone,
            [place, year, count]
                if place.len() == 6
                    && year.len() == 4
                    && parts.iter().all(|p| digits(p))
                    && !count.is_empty() =>
            {
                Searched::Number
            }
            _ => Searched::Text,
        }
    }
}

impl ListQuery {
    /// The filter the list reads; a unit's staff see the tickets their unit holds (the pool
    /// it may claim from has its own page).
    pub(super) fn filter(
        &self,
        role: Role,
        scope: &Scope,
        tz: chrono_tz::Tz,
    ) -> jiesu_core::CoreResult<TicketFilter> {
        let statuses = match self.status.as_deref().map(str::trim) {
            None | Some("") => vec![],
            Some(OPEN) => jiesu_core::today::OPEN.to_vec(),
            Some(list) => list
                .split(',')
                .map(|s| s.trim().parse::<TicketStatus>())
                .collect::<Result<_, _>>()
                .map_err(|e| CoreError::invalid("status", "invalid", e.to_string()))?,
        };
        let typed = self.q.as_deref().map(str::trim).unwrap_or_default();
        let searched = Searched::of(typed);
        let flag = |v: &Option<String>| match v.as_deref() {
            Some("1") => Some(true),
            Some("0") => Some(false),
            _ => None,
        };
        Ok(TicketFilter {
            statuses,
            overdue: flag(&self.overdue),
            warning: flag(&self.warning).filter(|w| *w),
            escalated: flag(&self.escalated).filter(|e| *e),
            org_unit_id: crate::console::optional_id("org_unit_id", self.org_unit_id.as_deref())?
                .map(OrgUnitId),
            partner_id: match scope.partner().filter(|_| role == Role::UnitStaff) {
                Some(own) => Some(own),
                None => crate::console::optional_id("partner_id", self.partner_id.as_deref())?
                    .map(PartnerId),
            },
            level: match self.level.as_deref().map(str::trim) {
                None | Some("") => None,
                Some(l) => Some(
                    l.parse::<i32>()
                        .ok()
                        .filter(|l| (0..=3).contains(l))
                        .ok_or_else(|| CoreError::invalid("level", "invalid", "0 to 3"))?,
                ),
            },
            created_from: local_date("created_from", self.created_from.as_deref(), tz)?,
            due_before: local_date("due_before", self.due_before.as_deref(), tz)?,
            q: (searched == Searched::Text).then(|| typed.to_owned()),
            number: (searched == Searched::Number).then(|| typed.to_owned()),
            phone: (searched == Searched::Phone).then(|| typed.to_owned()),
            address: self.address.clone().filter(|s| !s.trim().is_empty()),
            category: self.category.clone().filter(|s| !s.trim().is_empty()),
            channel: logging::channel_of(self.channel.as_deref())?,
            hotline_ref: self.hotline_ref.clone().filter(|s| !s.trim().is_empty()),
            by_deadline: self.sort.as_deref() == Some("deadline"),
            ..TicketFilter::default()
        })
    }
}

/// The list's query string for `filter` (what `ListQuery::filter` reads back), for links
/// from other pages: the day's figures link to the lists they count.
pub(crate) fn query_of(filter: &TicketFilter, tz: chrono_tz::Tz) -> String {
    use chrono::TimeZone;
    let date = |at: NaiveDateTime| tz.from_utc_datetime(&at).date_naive().to_string();
    let mut out = form_urlencoded::Serializer::new(String::new());
    if filter.statuses == jiesu_core::today::OPEN {
        out.append_pair("status", OPEN);
    } else if !filter.statuses.is_empty() {
        let list: Vec<&str> = filter.statuses.iter().map(|s| s.as_str()).collect();
        out.append_pair("status", &list.join(","));
    }
    let flag = |b: bool| if b { "1" } else { "0" };
    if let Some(o) = filter.overdue {
        out.append_pair("overdue", flag(o));
    }
    if let Some(w) = filter.warning {
        out.append_pair("warning", flag(w));
    }
    if let Some(e) = filter.escalated {
        out.append_pair("escalated", flag(e));
    }
    if let Some(node) = filter.org_unit_id {
        out.append_pair("org_unit_id", &node.to_string());
    }
    if let Some(partner) = filter.partner_id {
        out.append_pair("partner_id", &partner.to_string());
    }
    if let Some(level) = filter.level {
        out.append_pair("level", &level.to_string());
    }
    if let Some(code) = &filter.category {
        out.append_pair("category", code);
    }
    if let Some(at) = filter.created_from {
        out.append_pair("created_from", &date(at));
    }
    if let Some(at) = filter.due_before {
        out.append_pair("due_before", &date(at));
    }
    if let Some(q) = filter
        .q
        .as_ref()
        .or(filter.number.as_ref())
        .or(filter.phone.as_ref())
    {
        out.append_pair("q", q);
    }
    if let Some(address) = &filter.address {
        out.append_pair("address", address);
    }
    if let Some(channel) = filter.channel {
        out.append_pair("channel", channel.as_str());
    }
    if let Some(reference) = &filter.hotline_ref {
        out.append_pair("hotline_ref", reference);
    }
    if filter.by_deadline {
        out.append_pair("sort", "deadline");
    }
    out.finish()
}

/// The API's query string for `filter` (`GET /api/v1/tickets.csv`, which the console's
/// session may read): the CSV of what the list shows.
fn api_query_of(filter: &TicketFilter) -> String {
    let mut out = form_urlencoded::Serializer::new(String::new());
    if !filter.statuses.is_empty() {
        let list: Vec<&str> = filter.statuses.iter().map(|s| s.as_str()).collect();
        out.append_pair("status", &list.join(","));
    }
    let instant = |at: NaiveDateTime| at.and_utc().to_rfc3339();
    for (key, value) in [
        ("overdue", filter.overdue.map(|b| b.to_string())),
        ("warning", filter.warning.map(|b| b.to_string())),
        ("escalated", filter.escalated.map(|b| b.to_string())),
        ("org_unit_id", filter.org_unit_id.map(|n| n.to_string())),
        ("category", filter.category.clone()),
        ("partner_id", filter.partner_id.map(|p| p.to_string())),
        ("level", filter.level.map(|l| l.to_string())),
        ("created_from", filter.created_from.map(instant)),
        ("due_before", filter.due_before.map(instant)),
        ("q", filter.q.clone()),
        ("number", filter.number.clone()),
        ("phone", filter.phone.clone()),
        ("address", filter.address.clone()),
        ("channel", filter.channel.map(|c| c.as_str().to_owned())),
        ("hotline_ref", filter.hotline_ref.clone()),
        ("sort", filter.by_deadline.then(|| "deadline".to_owned())),
    ] {
        if let Some(value) = value {
            out.append_pair(key, &value);
        }
    }
    out.finish()
}

/// `GET /console/tickets`: the tickets of one's scope, newest first (the late ones most
/// late first), with their deadlines, the total and pages both ways.
pub async fn list(
    state: web::Data<AppState>,
    session: Session,
    req: HttpRequest,
    q: web::Query<ListQuery>,
) -> ConsoleResult {
    let q = q.into_inner();
    let lang = session.lang;
    let tz = state.calendar.tz();
    let filter = q.filter(session.role, &session.actor.scope, tz)?;
    let status = filter.statuses.clone();
    let overdue = filter.overdue;
    let warning = filter.warning == Some(true);
    let escalated = filter.escalated == Some(true);
    let by_deadline = filter.by_deadline;
    let channel = filter.channel;
    let towards = Towards::parse(q.cursor.as_deref(), q.before.as_deref())?;
    let reference = state.reference.clone();
    let node = filter.org_unit_id;
    let level = filter.level;
    // The unit a supervisor narrowed to (a unit's staff always see their own).
    let holder = filter
        .partner_id
        .filter(|_| session.role != Role::UnitStaff);
    let csv = format!("/api/v1/tickets.csv?{}", api_query_of(&filter));
    let (tickets, total, cats, names, (place, held_by), now) = session
        .read(&state, move |conn, actor, now| {
            let tickets =
                queries::browse(conn, &reference, actor, &filter, towards, LIST_PAGE, now)?;
            let total = queries::count_capped(conn, &reference, actor, &filter, TOTAL_CAP, now)?;
            let cats = categories::list(conn, None, ALL)?.items;
            let names = TableNames::of(conn, category_names(lang, &cats), &tickets.items)?;
            let place = match node {
                Some(node) => org::names(conn, &[node])?.remove_entry(&node),
                None => None,
            };
            let held_by = match holder {
                Some(partner) => Some((partner, partners::get(conn, actor, partner)?.name)),
                None => None,
            };
            Ok((tickets, total, cats, names, (place, held_by), now))
        })
        .await?;
    let without_place = without(&req, &["org_unit_id", "cursor", "before", "done"]);
    let without_holder = without(&req, &["partner_id", "cursor", "before", "done"]);
    let title = match session.role {
        Role::GridMember => lang.t("我的社区工单", "Tickets of my community"),
        Role::UnitStaff => lang.t("本单位工单", "Our unit's tickets"),
        _ => lang.t("工单", "Tickets"),
    };
    let body = html! {
        @if q.done.as_deref() == Some("returned") {
            (notice("ok", lang.t("已退单，工单回到派单人处。", "Returned: the ticket went back to the dispatcher.")))
        }
        form method="get" action="/console/tickets" class="row" role="search" {
            div {
                label for="status" { (lang.t("状态", "Status")) }
                select id="status" name="status" {
                    option value="" { (lang.t("全部", "All")) }
                    option value=(OPEN) selected[status == jiesu_core::today::OPEN] { (lang.t("未办结（全部在办）", "Open (every open status)")) }
                    // Several statuses (a link from another page) that no option stands for.
                    @if status.len() > 1 && status != jiesu_core::today::OPEN {
                        option value=(status.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(",")) selected {
                            (status.iter().map(|s| layout::status_name(lang, *s)).collect::<Vec<_>>().join(lang.t("、", ", ")))
                        }
                    }
                    @for s in TicketStatus::ALL {
                        option value=(s.as_str()) selected[status == [*s]] { (layout::status_name(lang, *s)) }
                    }
                }
            }
            div {
                label for="q" { (lang.t("编号、电话或标题", "Number, phone or title")) }
                input id="q" name="q" type="search" value=(q.q.as_deref().unwrap_or(""))
                    aria-describedby="q-hint";
                span id="q-hint" class="muted" { (lang.t("工单编号；居民电话后四位或完整号码；或标题中的字", "A ticket number; the last four digits of the resident's phone, or the whole number; or words of the title")) }
            }
            div {
                label for="address" { (lang.t("地址包含", "Address contains")) }
                input id="address" name="address" type="search" value=(q.address.as_deref().unwrap_or(""));
            }
            div {
                label for="sort" { (lang.t("排序", "Order")) }
                select id="sort" name="sort" {
                    option value="logged" { (lang.t("登记时间（新的在前）", "Logged, newest first")) }
                    option value="deadline" selected[by_deadline] { (lang.t("期限（最紧的在前，仅在办）", "Deadline, most pressing first (open only)")) }
                }
            }
            div {
                label for="category" { (lang.t("类别", "Category")) }
                select id="category" name="category" {
                    option value="" { (lang.t("全部", "All")) }
                    @for c in &cats {
                        option value=(c.code) selected[q.category.as_deref() == Some(c.code.as_str())] { (category_name(lang, c)) }
                    }
                }
            }
            div { (layout::channel_filter(lang, channel)) }
            div {
                label for="level" { (lang.t("层级", "Level")) }
                select id="level" name="level" {
                    option value="" { (lang.t("全部", "All")) }
                    @for l in 0..=3 {
                        option value=(l) selected[level == Some(l)] { (layout::level_name(lang, l)) }
                    }
                }
            }
            div {
                label for="hotline_ref" { (lang.t("热线工单号", "Hotline's number")) }
                input id="hotline_ref" name="hotline_ref" type="search" value=(q.hotline_ref.as_deref().unwrap_or(""));
            }
            div {
                label for="overdue" { (lang.t("超时", "Late")) }
                select id="overdue" name="overdue" {
                    option value="" { (lang.t("全部", "All")) }
                    option value="1" selected[overdue == Some(true)] { (lang.t("只看超时", "Overdue only")) }
                    option value="0" selected[overdue == Some(false)] { (lang.t("未超时", "Not overdue")) }
                }
            }
            div {
                label for="created_from" { (lang.t("登记日期不早于", "Logged on or after")) }
                input id="created_from" name="created_from" type="date" value=(q.created_from.as_deref().unwrap_or(""));
            }
            div {
                label for="due_before" { (lang.t("期限早于", "Due before")) }
                input id="due_before" name="due_before" type="date" value=(q.due_before.as_deref().unwrap_or(""));
            }
            div {
                @if let Some((node, name)) = &place {
                    input type="hidden" name="org_unit_id" value=(node);
                    p class="muted" { (lang.t("范围：", "Within: ")) (name) " " a href={ "/console/tickets?" (without_place) } { (lang.t("取消", "clear")) } }
                }
                @if let Some((partner, name)) = &held_by {
                    input type="hidden" name="partner_id" value=(partner);
                    p class="muted" id="held-by" { (lang.t("承办单位：", "Held by: ")) (name) " " a href={ "/console/tickets?" (without_holder) } { (lang.t("取消", "clear")) } }
                }
                label { input type="checkbox" name="warning" value="1" checked[warning]; " " (lang.t("只看即将超时", "Due soon only")) }
                " "
                label { input type="checkbox" name="escalated" value="1" checked[escalated]; " " (lang.t("只看已升级", "Escalated only")) }
                button type="submit" class="secondary" { (lang.t("筛选", "Filter")) }
            }
        }
        p class="muted" id="total" {
            @match total {
                (n, false) => { (lang.t("共 ", "")) (n) (lang.t(" 条", " tickets")) }
                (n, true) => { (lang.t("超过 ", "More than ")) (n) (lang.t(" 条", " tickets")) }
            }
        }
        p { a href=(csv) download { (lang.t("下载本筛选结果（CSV）", "These tickets as CSV")) } }
        (ticket_table(lang, &tickets.items, &names, now))
        (layout::pager(
            lang,
            tickets.previous.map(|at| format!("/console/tickets?{}", page_query(&req, "before", at))),
            tickets.next.map(|at| format!("/console/tickets?{}", page_query(&req, "cursor", at))),
        ))
    };
    Ok(html_response(
        StatusCode::OK,
        page(
            &session,
            Nav::Tickets,
            &crate::console::here(&req),
            title,
            body,
        ),
    ))
}

/// The same query without `keys`.
fn without(req: &HttpRequest, keys: &[&str]) -> String {
    let mut out = form_urlencoded::Serializer::new(String::new());
    for (k, v) in form_urlencoded::parse(req.query_string().as_bytes()) {
        if !keys.contains(&k.as_ref()) {
            out.append_pair(&k, &v);
        }
    }
    out.finish()
}

/// The same query with `cursor` replaced.
pub(crate) fn next_query(req: &HttpRequest, cursor: &str) -> String {
    page_query(req, "cursor", cursor)
}

/// The same query turned to another page: `cursor` (forward) or `before` (back) set to
/// `at`, the other dropped, as are one-time notices.
pub(super) fn page_query(req: &HttpRequest, key: &str, at: impl std::fmt::Display) -> String {
    turned_query(req, ["cursor", "before"], key, at)
}

/// The query turned to another page of the list whose cursors are `pair` (forward, back):
/// `key` (one of them) set to `at`, the other dropped, as are one-time notices.
pub(crate) fn turned_query(
    req: &HttpRequest,
    pair: [&str; 2],
    key: &str,
    at: impl std::fmt::Display,
) -> String {
    let mut out =
        form_urlencoded::Serializer::for_suffix(without(req, &[pair[0], pair[1], "done"]), 0);
    out.append_pair(key, &at.to_string());
    out.finish()
}

#[cfg(test)]
mod tests {
    use super::Searched;

    #[test]
    fn the_search_box_reads_numbers_phones_and_text() {
        assert_eq!(Searched::of(""), Searched::Nothing);
        assert_eq!(Searched::of("110105-2026-000003"), Searched::Number);
        assert_eq!(Searched::of("110105-2026-1234567"), Searched::Number);
        assert_eq!(Searched::of("1111"), Searched::Phone);
        assert_eq!(Searched::of("13900001111"), Searched::Phone);
        for text in [
            "暖气",
            "111",
            "139000011",
            "110105-26-000003",
            "11010a-2026-000003",
            "5号楼",
        ] {
            assert_eq!(Searched::of(text), Searched::Text, "{text}");
        }
    }
}
