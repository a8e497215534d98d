//! `GET /console/tickets`: the tickets of one's scope, paged both ways with their total.

use super::*;

#[derive(Deserialize)]
pub struct ListQuery {
    pub(super) status: Option<String>,
    pub(super) overdue: Option<String>,
    pub(super) warning: Option<String>,
    pub(super) q: Option<String>,
    pub(super) cursor: Option<String>,
    /// The first ticket of the page after the one asked for (the "previous page" link).
    pub(super) before: Option<String>,
    pub(super) done: Option<String>,
}

/// The most a page counts: past it the total reads "10,000+", so the count costs the same
/// in a community and in the city.
pub(super) const TOTAL_CAP: i64 = 10_000;

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
    let status: Vec<TicketStatus> = q
        .status
        .as_deref()
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().map(|s| vec![s]))
        .transpose()
        .map_err(|e: jiesu_core::types::UnknownVariant| {
            CoreError::invalid("status", "invalid", e.to_string())
        })?
        .unwrap_or_default();
    let overdue = q.overdue.as_deref() == Some("1");
    let warning = q.warning.as_deref() == Some("1");
    let filter = TicketFilter {
        statuses: status.clone(),
        overdue: overdue.then_some(true),
        warning: warning.then_some(true),
        q: q.q.clone().filter(|s| !s.trim().is_empty()),
        ..TicketFilter::default()
    };
    let towards = Towards::parse(q.cursor.as_deref(), q.before.as_deref())?;
    let reference = state.reference.clone();
    let (tickets, total, cats, now) = session
        .read(&state, move |conn, actor, now| {
            let tickets =
                queries::browse(conn, &reference, actor, &filter, towards, LIST_PAGE, now)?;
            let total = queries::count_capped(conn, &reference, actor, &filter, TOTAL_CAP, now)?;
            let cats = categories::list(conn, None, ALL)?.items;
            Ok((tickets, total, cats, now))
        })
        .await?;
    let names = category_names(lang, &cats);
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
                    @for s in TicketStatus::ALL {
                        option value=(s.as_str()) selected[status.contains(s)] { (layout::status_name(lang, *s)) }
                    }
                }
            }
            div {
                label for="q" { (lang.t("标题包含", "Title contains")) }
                input id="q" name="q" type="text" value=(q.q.as_deref().unwrap_or(""));
            }
            div {
                label { input type="checkbox" name="overdue" value="1" checked[overdue]; " " (lang.t("只看超时", "Overdue only")) }
                " "
                label { input type="checkbox" name="warning" value="1" checked[warning]; " " (lang.t("只看即将超时", "Due soon only")) }
                button type="submit" class="secondary" { (lang.t("筛选", "Filter")) }
            }
        }
        p class="muted" id="total" {
            @match total {
                (n, false) => { (lang.t("共 ", "")) (n) (lang.t(" 条", " tickets")) }
                (n, true) => { (lang.t("超过 ", "More than ")) (n) (lang.t(" 条", " tickets")) }
            }
        }
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
    let mut out = form_urlencoded::Serializer::new(String::new());
    for (k, v) in form_urlencoded::parse(req.query_string().as_bytes()) {
        if !(pair.contains(&k.as_ref()) || k == "done") {
            out.append_pair(&k, &v);
        }
    }
    out.append_pair(key, &at.to_string());
    out.finish()
}
