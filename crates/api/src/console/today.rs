//! `GET /console/today`: the front page of the day for supervisors (their node) and units
//! (the tickets they hold). Each figure links to the ticket list it is the total of; the
//! month's three rates with the units below ranked; the top hotspots; and a map of the
//! scope's communities, drawn on the server as SVG (no tile server: the stored centres and
//! boundaries), shaded by their late tickets, with the open tickets as points.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest};
use jiesu_core::hotspots::{self, Grain, HotspotReport};
use jiesu_core::open311::LatLong;
use jiesu_core::stats::{self, NodeStats, PartnerStats};
use jiesu_core::today::{self, DayMap, DaySummary, Tally, Tile};
use jiesu_core::Scope;
use maud::{html, Markup};

use super::layout::{self, page, pct, Lang, Nav};
use super::overview::{default_node, ranking};
use super::tickets::query_of;
use super::{html_response, ConsoleResult, Session};
use crate::state::AppState;

/// The open tickets the map draws as points at most (the newest); a city has far more.
const POINTS: i64 = 500;

/// Past this many communities the map draws each as a dot at its centre, not its outline:
/// a city's thousands of outlines would make a page of megabytes.
const OUTLINES: usize = 600;

/// The hotspots the page lists.
const HOTSPOTS: i64 = 5;

/// The period of the month's rates: the 30 whole days before today (stored daily).
const MONTH_DAYS: i64 = 30;

enum Month {
    Node(Box<NodeStats>, HotspotReport),
    Partner(Box<PartnerStats>),
}

type Day = (DaySummary, DayMap, Month, chrono::NaiveDateTime);

/// `GET /console/today`.
pub async fn page_handler(
    state: web::Data<AppState>,
    session: Session,
    req: HttpRequest,
) -> ConsoleResult {
    let lang = session.lang;
    let tz = state.calendar.tz();
    let threshold = state.settings.hotspots.threshold;
    let reference = state.reference.clone();
    let (summary, map, month, now): Day = session
        .read(&state, move |conn, actor, now| {
            let summary = today::summary(conn, &reference, actor, now, tz)?;
            let map = today::map(conn, &reference, actor, now, POINTS)?;
            let period = stats::days_before_today(now, MONTH_DAYS, tz)?;
            let month = match actor.scope {
                Scope::Partner { partner } => Month::Partner(Box::new(stats::for_partner(
                    conn, actor, partner, period, None, now,
                )?)),
                _ => {
                    let node = default_node(conn, actor)?;
                    let rates = stats::for_node(conn, actor, node, period, None, now)?;
                    let spots = hotspots::report(
                        conn,
                        actor,
                        node,
                        super::hotspots::recent(now, MONTH_DAYS, tz)?,
                        Grain::Community,
                        threshold,
                        HOTSPOTS,
                    )?;
                    Month::Node(Box::new(rates), spots)
                }
            };
            Ok((summary, map, month, now))
        })
        .await?;
    let link = |tile: Tile| {
        format!(
            "/console/tickets?{}",
            query_of(&tile.filter(&session, now, tz), tz)
        )
    };
    let name = match &month {
        Month::Node(rates, _) => rates.node.name.clone(),
        Month::Partner(p) => p.partner.name.clone(),
    };
    let body = html! {
        p class="muted" { (name) " · " (lang.t("截至 ", "as of ")) (layout::china(now)) }
        section aria-labelledby="day" {
            h2 id="day" { (lang.t("今日工单", "Today's tickets")) }
            ul class="tiles" {
                @if let Some(intake) = &summary.intake {
                    li { a id="tile-logged" href=(link(Tile::LoggedToday)) {
                        span class="figure" { (intake.today) }
                        span class="label" { (lang.t("今日受理", "Logged today")) }
                        span class="muted" {
                            (lang.t("前4周同日同时段平均 ", "same weekday, 4-week average by now: "))
                            (format!("{:.1}", intake.same_weekday_average))
                        }
                    } }
                }
                @if let Some(pool) = summary.pool {
                    li { a id="tile-pool" href="/console/pool" {
                        (figure(pool))
                        span class="label" { (lang.t("抢单池待认领", "Waiting in the pool")) }
                    } }
                }
                li { a id="tile-due" href=(link(Tile::DueToday)) {
                    (figure(summary.due_today))
                    span class="label" { (lang.t("今日到期", "Due today")) }
                } }
                li { a id="tile-warned" href=(link(Tile::Warned)) class=(if summary.warned.count > 0 { "warn" } else { "" }) {
                    (figure(summary.warned))
                    span class="label" { (lang.t("即将超时", "Due soon")) }
                } }
                li { a id="tile-late" href=(link(Tile::Late)) class=(if summary.late.count > 0 { "late" } else { "" }) {
                    (figure(summary.late))
                    span class="label" { (lang.t("已超时", "Late")) }
                } }
                li { a id="tile-escalated" href=(link(Tile::Escalated)) {
                    (figure(summary.escalated))
                    span class="label" { (lang.t("已升级在办", "Escalated, open")) }
                } }
            }
            h3 { (lang.t("在办工单（按状态）", "Open tickets by status")) }
            ul class="tiles" {
                @for s in &summary.open {
                    li { a id={ "tile-" (s.status.as_str()) } href=(link(Tile::Open(s.status))) {
                        (figure(s.tally))
                        span class="label" { (layout::status_name(lang, s.status)) }
                    } }
                }
            }
        }
        section aria-labelledby="map-title" {
            h2 id="map-title" { (lang.t("地图", "Map")) }
            (map_figure(lang, &map))
        }
        section aria-labelledby="month" {
            h2 id="month" { (lang.t("近30天三率", "The three rates, last 30 days")) }
            @match &month {
                Month::Node(rates, spots) => {
                    (figures(lang, &rates.figures))
                    @if !rates.children.is_empty() {
                        (ranking(lang, lang.t("下级排名", "Units below, ranked"), &rates.children, |n| html! {
                            a href={ "/console/stats?org_unit_id=" (n.id) } { (n.name) }
                        }))
                    }
                    p { a href="/console/stats" { (lang.t("三率详情与下载", "The rates in full, with downloads")) } }
                    h2 id="hotspots" { (lang.t("热点（近30天，未诉先办）", "Hotspots (last 30 days)")) " " a href="/console/hotspots" { (lang.t("全部", "all")) } }
                    @if spots.cells.is_empty() {
                        p class="muted" { (lang.t("近30天没有工单。", "No tickets in the last 30 days.")) }
                    } @else {
                        ol class="hotspots" {
                            @for c in &spots.cells {
                                li {
                                    (c.place_name) " · " (c.category_name) " · "
                                    a href=(super::hotspots::cell_link(c, spots.period.from, tz)) { (c.tickets) (lang.t(" 件", " tickets")) }
                                    @if c.flagged { " " span class="badge late" { (lang.t("热点", "hotspot")) } }
                                }
                            }
                        }
                    }
                }
                Month::Partner(p) => {
                    (figures(lang, &p.figures))
                }
            }
        }
    };
    Ok(html_response(
        StatusCode::OK,
        page(
            &session,
            Nav::Today,
            &super::here(&req),
            lang.t("今日概览", "Today"),
            body,
        ),
    ))
}

/// A capped count as the ticket list's total reads it.
fn figure(t: Tally) -> Markup {
    html! {
        span class="figure" { (t.count) @if t.more { "+" } }
    }
}

fn figures(lang: Lang, f: &stats::Figures) -> Markup {
    html! {
        ul class="tiles static" {
            li { span class="figure" { (f.received) } span class="label" { (lang.t("受理量", "Received")) } }
            li { span class="figure" { (pct(f.response_rate)) } span class="label" { (lang.t("响应率", "Response rate")) } }
            li { span class="figure" { (pct(f.resolution_rate)) } span class="label" { (lang.t("解决率", "Resolution rate")) } }
            li { span class="figure" { (pct(f.satisfaction_rate)) } span class="label" { (lang.t("满意率", "Satisfaction rate")) } }
        }
    }
}

/// The map's frame: a box around every place and point, projected so a metre east is as
/// long as a metre north at the box's latitude.
struct Frame {
    west: f64,
    north: f64,
    /// Pixels per degree of longitude and of latitude.
    x_scale: f64,
    y_scale: f64,
    width: f64,
    height: f64,
}

const MAP_WIDTH: f64 = 640.0;
const MAP_MAX_HEIGHT: f64 = 640.0;

impl Frame {
    fn around(at: impl Iterator<Item = LatLong>) -> Option<Frame> {
        let (mut south, mut north, mut west, mut east) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
        let mut any = false;
        for p in at {
            any = true;
            south = south.min(p.lat);
            north = north.max(p.lat);
            west = west.min(p.long);
            east = east.max(p.long);
        }
        if !any {
            return None;
        }
        // A margin, and a least size so that one point still makes a map.
        let pad = ((north - south).max(east - west) * 0.05).max(0.002);
        let (south, north, west, east) = (south - pad, north + pad, west - pad, east + pad);
        let shrink = ((south + north) / 2.0).to_radians().cos().max(0.1);
        let (w, h) = ((east - west) * shrink, north - south);
        let scale = (MAP_WIDTH / w).min(MAP_MAX_HEIGHT / h);
        Some(Frame {
            west,
            north,
            x_scale: scale * shrink,
            y_scale: scale,
            width: w * scale,
            height: h * scale,
        })
    }

    fn xy(&self, p: LatLong) -> (f64, f64) {
        (
            (p.long - self.west) * self.x_scale,
            (self.north - p.lat) * self.y_scale,
        )
    }
}

/// The shade of a community by its late tickets (none open, open and none late, a few,
/// more, many).
fn shade(open: i64, late: i64) -> &'static str {
    match (open, late) {
        (0, _) => "shade-none",
        (_, 0) => "shade-open",
        (_, 1..=2) => "shade-late-1",
        (_, 3..=9) => "shade-late-2",
        _ => "shade-late-3",
    }
}

fn centre_of(place: &today::MapPlace) -> Option<LatLong> {
    place.centre.or_else(|| {
        let n = place.boundary.len() as f64;
        (n > 0.0).then(|| LatLong {
            lat: place.boundary.iter().map(|p| p.lat).sum::<f64>() / n,
            long: place.boundary.iter().map(|p| p.long).sum::<f64>() / n,
        })
    })
}

fn map_figure(lang: Lang, map: &DayMap) -> Markup {
    let outlines = map.places.len() <= OUTLINES;
    let corners = map
        .places
        .iter()
        .flat_map(|p| {
            if outlines && !p.boundary.is_empty() {
                p.boundary.clone()
            } else {
                centre_of(p).into_iter().collect()
            }
        })
        .chain(map.points.iter().map(|p| p.at));
    let Some(frame) = Frame::around(corners) else {
        return html! {
            p class="muted" { (lang.t("辖区内的社区尚未登记位置，无法绘制地图。", "No community here has a place stored, so there is no map.")) }
        };
    };
    let open_list =
        |id: jiesu_core::ids::OrgUnitId| format!("/console/tickets?status=open&org_unit_id={id}");
    let f1 = |v: f64| format!("{v:.1}");
    html! {
        figure class="map" {
            svg id="day-map" xmlns="http://www.w3.org/2000/svg" role="group"
                width=(f1(frame.width)) height=(f1(frame.height))
                viewBox={ "0 0 " (f1(frame.width)) " " (f1(frame.height)) }
                aria-labelledby="map-caption" {
                @for place in &map.places {
                    @let label = format!("{}：{} {}，{} {}", place.name, lang.t("在办", "open"), place.open, lang.t("超时", "late"), place.late);
                    a href=(open_list(place.id)) class="place" data-place=(place.id) data-open=(place.open) data-late=(place.late) {
                        title { (label) }
                        @if outlines && place.boundary.len() >= 3 {
                            polygon class=(shade(place.open, place.late)) points=(place.boundary.iter().map(|p| { let (x, y) = frame.xy(*p); format!("{},{}", f1(x), f1(y)) }).collect::<Vec<_>>().join(" ")) {}
                        } @else if let Some(c) = centre_of(place) {
                            @let (x, y) = frame.xy(c);
                            circle class=(shade(place.open, place.late)) cx=(f1(x)) cy=(f1(y)) r="6" {}
                        }
                    }
                }
                @for p in &map.points {
                    @let (x, y) = frame.xy(p.at);
                    a href={ "/console/tickets/" (p.id) } class="point" data-ticket=(p.id) {
                        title { (p.number) " " (p.title) @if p.late { " · " (lang.t("已超时", "late")) } }
                        circle class=(if p.late { "point late" } else { "point" }) cx=(f1(x)) cy=(f1(y)) r="4" {}
                    }
                }
            }
            figcaption id="map-caption" {
                (lang.t("辖区社区按超时工单着色；圆点为有坐标的在办工单", "Communities shaded by their late tickets; dots are open tickets with coordinates"))
                @if map.points_total.count > map.points.len() as i64 || map.points_total.more {
                    " (" (lang.t("显示最新 ", "the newest ")) (map.points.len()) (lang.t(" 件，共 ", " of "))
                    (map.points_total.count) @if map.points_total.more { "+" } ")"
                }
                @if map.unplaced > 0 {
                    " · " (map.unplaced) (lang.t(" 个社区未登记位置", " communities have no place stored"))
                }
                ul class="legend" {
                    @for (class, zh, en) in [("shade-none", "无在办", "none open"), ("shade-open", "在办、未超时", "open, none late"), ("shade-late-1", "超时 1–2", "1–2 late"), ("shade-late-2", "超时 3–9", "3–9 late"), ("shade-late-3", "超时 10+", "10+ late")] {
                        li { span class=(format!("swatch {class}")) {} " " (lang.t(zh, en)) }
                    }
                }
            }
        }
    }
}
