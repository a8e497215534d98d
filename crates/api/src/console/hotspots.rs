//! `GET /console/hotspots`: where the same kind of problem keeps coming back (未诉先办),
//! for a supervisor's node: category × community (or grid) counts over the last 7, 30 or
//! 90 days, the flagged ones marked, each a link to its tickets.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest};
use jiesu_core::hotspots::{self, Grain, HotspotReport};
use jiesu_core::stats::Period;
use jiesu_core::CoreResult;
use maud::html;
use serde::Deserialize;

use super::layout::{page, Nav};
use super::overview::default_node;
use super::{html_response, ConsoleResult, Session};
use crate::state::AppState;

/// The cells the page lists, the most tickets first.
const CELLS: i64 = 100;

#[derive(Deserialize)]
pub struct HotspotsQuery {
    days: Option<i64>,
    /// `grid` for grids, else communities.
    by: Option<String>,
}

/// `GET /console/hotspots?days=&by=`.
pub async fn page_handler(
    state: web::Data<AppState>,
    session: Session,
    req: HttpRequest,
    q: web::Query<HotspotsQuery>,
) -> ConsoleResult {
    let lang = session.lang;
    let days = q.days.filter(|d| [7, 30, 90].contains(d)).unwrap_or(30);
    let grain = match q.by.as_deref() {
        Some("grid") => Grain::Grid,
        _ => Grain::Community,
    };
    let threshold = state.settings.hotspots.threshold;
    let tz = state.calendar.tz();
    let report: HotspotReport = session
        .read(&state, move |conn, actor, now| {
            let node = default_node(conn, actor)?;
            hotspots::report(
                conn,
                actor,
                node,
                recent(now, days, tz)?,
                grain,
                threshold,
                CELLS,
            )
        })
        .await?;
    let by_grid = grain == Grain::Grid;
    let body = html! {
        form method="get" action="/console/hotspots" class="row" {
            div {
                label for="days" { (lang.t("统计区间", "Period")) }
                select id="days" name="days" {
                    @for (d, zh, en) in [(7, "近7天", "last 7 days"), (30, "近30天", "last 30 days"), (90, "近90天", "last 90 days")] {
                        option value=(d) selected[d == days] { (lang.t(zh, en)) }
                    }
                }
            }
            div {
                label for="by" { (lang.t("按", "By")) }
                select id="by" name="by" {
                    option value="community" selected[!by_grid] { (lang.t("社区", "community")) }
                    option value="grid" selected[by_grid] { (lang.t("网格", "grid")) }
                }
            }
            div { button type="submit" class="secondary" { (lang.t("查看", "Show")) } }
        }
        p class="muted" {
            (lang.t("同一类诉求在同一地点达到 ", "A cell with ")) (report.threshold)
            (lang.t(" 件即标为热点，可转为需求清单提前处置。", " tickets or more of one kind in one place is a hotspot: turn it into a need before residents call again."))
        }
        @if report.cells.is_empty() {
            p { (lang.t("这段时间没有工单。", "No tickets in this period.")) }
        } @else {
            table class="cards" {
                caption { (lang.t("热点（件数多者在前）", "Cells, the most tickets first")) }
                thead { tr {
                    th scope="col" { (if by_grid { lang.t("网格", "Grid") } else { lang.t("社区", "Community") }) }
                    th scope="col" { (lang.t("类别", "Category")) }
                    th scope="col" class="num" { (lang.t("件数", "Tickets")) }
                    th scope="col" { (lang.t("热点", "Hotspot")) }
                } }
                tbody {
                    @for c in &report.cells {
                        tr {
                            td data-label=(lang.t("地点", "Place")) { (c.place_name) }
                            td data-label=(lang.t("类别", "Category")) { (c.category_name) }
                            td data-label=(lang.t("件数", "Tickets")) class="num" {
                                a href=(cell_link(c, report.period.from, tz)) { (c.tickets) }
                            }
                            td data-label=(lang.t("热点", "Hotspot")) { @if c.flagged { span class="badge late" { (lang.t("热点", "hotspot")) } } }
                        }
                    }
                }
            }
            @if report.more { p class="muted" { (lang.t("只列出件数最多的 100 个。", "Only the 100 largest are listed.")) } }
        }
    };
    Ok(html_response(
        StatusCode::OK,
        page(
            &session,
            Nav::Hotspots,
            &super::here(&req),
            lang.t("热点（未诉先办）", "Hotspots"),
            body,
        ),
    ))
}

/// The last `days` days up to now: today and the days before it, from local midnight.
pub(super) fn recent(
    now: chrono::NaiveDateTime,
    days: i64,
    tz: chrono_tz::Tz,
) -> CoreResult<Period> {
    use chrono::TimeZone;
    let today = tz.from_utc_datetime(&now).date_naive();
    let from = jiesu_core::stats::local_midnight(today - chrono::Duration::days(days - 1), tz);
    Period::new(from, now)
}

/// The statuses hotspots count (all but cancelled and merged tickets).
const COUNTED: &str = "reported,dispatched,claimed,in_progress,resolved,closed,returned,reopened";

/// The ticket list of one cell: its place, its category, its counted statuses, logged
/// since the period began (the period runs to now, as the list does).
pub(super) fn cell_link(
    c: &jiesu_core::hotspots::Hotspot,
    from: chrono::NaiveDateTime,
    tz: chrono_tz::Tz,
) -> String {
    use chrono::TimeZone;
    let day = tz.from_utc_datetime(&from).date_naive();
    let mut out = form_urlencoded::Serializer::new(String::new());
    out.append_pair("org_unit_id", &c.place_id.to_string())
        .append_pair("category", &c.category)
        .append_pair("status", COUNTED)
        .append_pair("created_from", &day.to_string());
    format!("/console/tickets?{}", out.finish())
}
