//! `/stats` (the three rates) and the CSV exports. CSV is UTF-8 with a byte-order mark,
//! so spreadsheet programs open the Chinese text correctly; the ticket export is streamed
//! page by page, never held whole in memory.

use actix_web::get;
use actix_web::http::header;
use actix_web::{web, HttpResponse};
use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use jiesu_core::db::DbConnection;
use jiesu_core::ids::{OrgUnitId, PartnerId};
use jiesu_core::pagination::{Page, PageRequest};
use jiesu_core::stats::{self, Figures, Period};
use jiesu_core::tickets::logging::Intake;
use jiesu_core::tickets::queries;
use jiesu_core::{Actor, CoreError, CoreResult};
use serde::{Deserialize, Serialize};

use super::tickets::ListQuery;
use crate::auth::{Auth, BearerOrCookie};
use crate::extract::ValidQuery;
use crate::problem::ApiError;
use crate::state::AppState;

const BOM: &[u8] = b"\xEF\xBB\xBF";
const EXPORT_PAGE: i64 = 500;

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StatsQuery {
    org_unit_id: Option<OrgUnitId>,
    partner_id: Option<PartnerId>,
    /// RFC 3339; default 30 days before `to`.
    from: Option<DateTime<Utc>>,
    /// RFC 3339; default the last whole hour that ended at least ten minutes ago (figures
    /// as of that hour, served from storage), or now when `from` is later than that hour.
    to: Option<DateTime<Utc>>,
    /// Only the tickets that came in by this channel (`hotline`, `patrol`, `walk_in`,
    /// `app`, `web`, `other`): the rates broken down by intake channel.
    channel: Option<jiesu_core::types::IntakeChannel>,
    /// A calendar month of the local calendar (`2026-11`), instead of `from`/`to`; one
    /// still running ends at today's local midnight.
    month: Option<String>,
    /// A calendar quarter (`2026-Q4`), the same way.
    quarter: Option<String>,
    /// `previous`: also the figures of the period before (`previous`): the month or
    /// quarter before, or the same length just before.
    compare: Option<String>,
}

/// The calendar month or quarter asked for, if any: never with `from`/`to` or each other.
fn calendar_of(q: &StatsQuery) -> Result<Option<stats::CalendarPeriod>, CoreError> {
    use stats::CalendarPeriod;
    let month = |text: &str, field: &str, quarter: bool| {
        CalendarPeriod::parse(text)
            .filter(|c| matches!(c, CalendarPeriod::Quarter { .. }) == quarter)
            .ok_or_else(|| {
                CoreError::invalid(
                    field,
                    "invalid",
                    if quarter {
                        "a quarter such as 2026-Q4"
                    } else {
                        "a month such as 2026-11"
                    },
                )
            })
    };
    let asked = match (&q.month, &q.quarter) {
        (None, None) => return Ok(None),
        (Some(m), None) => ("month", month(m, "month", false)?),
        (None, Some(t)) => ("quarter", month(t, "quarter", true)?),
        (Some(_), Some(_)) => {
            return Err(CoreError::invalid(
                "quarter",
                "conflict",
                "ask for a month or a quarter, not both",
            ))
        }
    };
    if q.from.is_some() || q.to.is_some() {
        return Err(CoreError::invalid(
            asked.0,
            "conflict",
            "a month or a quarter is a period of its own: leave out from and to",
        ));
    }
    Ok(Some(asked.1))
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum Answer {
    Node(stats::NodeStats),
    Partner(stats::PartnerStats),
}

/// The org node a figure is about: the one asked for, else the caller's own node (the city
/// for an administrator).
fn node_of(
    conn: &mut DbConnection,
    asked: Option<OrgUnitId>,
    actor: &Actor,
) -> Result<OrgUnitId, CoreError> {
    match asked {
        Some(node) => Ok(node),
        None => jiesu_core::org::own_node(conn, actor)?
            .ok_or_else(|| CoreError::invalid("org_unit_id", "required", "name the org node")),
    }
}

fn compute(
    conn: &mut DbConnection,
    actor: &Actor,
    q: &StatsQuery,
    now: NaiveDateTime,
    tz: chrono_tz::Tz,
) -> Result<Answer, CoreError> {
    let calendar = calendar_of(q)?;
    let compare = match q.compare.as_deref().map(str::trim) {
        None | Some("") => false,
        Some("previous") => true,
        Some(other) => {
            return Err(CoreError::invalid(
                "compare",
                "invalid",
                format!("{other:?}: use previous"),
            ))
        }
    };
    let period = match (calendar, q.from, q.to) {
        (Some(c), _, _) => c.period(
            now,
            tz,
            match c {
                stats::CalendarPeriod::Month { .. } => "month",
                stats::CalendarPeriod::Quarter { .. } => "quarter",
            },
        )?,
        (None, None, None) => stats::days_to_the_hour(now, stats::RECENT_DAYS, tz)?,
        (None, from, Some(to)) => {
            let to = to.naive_utc();
            Period::new(
                from.map_or(to - Duration::days(stats::RECENT_DAYS), |t| t.naive_utc()),
                to,
            )?
        }
        (None, Some(from), None) => {
            let hour = stats::days_to_the_hour(now, stats::RECENT_DAYS, tz)?.to;
            let from = from.naive_utc();
            Period::new(from, if from < hour { hour } else { now })?
        }
    };
    // The period before, read the same way (an ended period: stored after the first time).
    let before = if compare {
        Some(stats::previous_period(period, calendar, now, tz)?)
    } else {
        None
    };
    if let Some(partner) = q.partner_id.or(actor.scope.partner()) {
        let mut answer = stats::for_partner(conn, actor, partner, period, q.channel, now)?;
        if let Some(before) = before {
            answer.previous = Some(stats::Previous {
                period: before,
                figures: stats::for_partner(conn, actor, partner, before, q.channel, now)?.figures,
            });
        }
        return Ok(Answer::Partner(answer));
    }
    let node = node_of(conn, q.org_unit_id, actor)?;
    let mut answer = stats::for_node(conn, actor, node, period, q.channel, now)?;
    if let Some(before) = before {
        answer.previous = Some(stats::Previous {
            period: before,
            figures: stats::for_node(conn, actor, node, before, q.channel, now)?.figures,
        });
    }
    Ok(Answer::Node(answer))
}

/// `GET /stats?org_unit_id=&partner_id=&from=&to=&month=&quarter=&channel=&compare=`: the node's rates with its children and
/// partner units ranked; or a partner unit's own rates (unit staff always get their own).
#[utoipa::path(tag = "stats", params(StatsQuery), responses((status = 200, description = "The three rates of a node (children and units ranked) or of a unit", body = Answer)))]
#[get("/stats")]
pub async fn get_stats(
    state: web::Data<AppState>,
    auth: Auth,
    q: ValidQuery<StatsQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = q.0;
    let tz = state.calendar.tz();
    state
        .read_respond(auth, move |conn, actor, now| {
            compute(conn, actor, &q, now, tz)
        })
        .await
}

fn csv_response(name: &str) -> actix_web::HttpResponseBuilder {
    let mut response = HttpResponse::Ok();
    response
        .insert_header((header::CONTENT_TYPE, "text/csv; charset=utf-8"))
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{name}\""),
        ));
    response
}

fn csv_error(e: csv::Error) -> CoreError {
    CoreError::internal_because("csv", e)
}

fn pct(rate: Option<f64>) -> String {
    rate.map(|r| format!("{:.2}", r * 100.0))
        .unwrap_or_default()
}

fn figure_cells(f: &Figures) -> Vec<String> {
    vec![
        f.received.to_string(),
        f.responded_in_time.to_string(),
        pct(f.response_rate),
        f.resolved.to_string(),
        pct(f.resolution_rate),
        f.visited.to_string(),
        f.satisfied.to_string(),
        pct(f.satisfaction_rate),
        f.overdue.to_string(),
        f.escalated.to_string(),
        f.median_response_minutes
            .map(|m| m.to_string())
            .unwrap_or_default(),
        f.median_resolution_minutes
            .map(|m| m.to_string())
            .unwrap_or_default(),
    ]
}

const FIGURE_HEADERS: [&str; 12] = [
    "受理量 received",
    "按时响应 responded in time",
    "响应率% response rate",
    "解决量 resolved",
    "解决率% resolution rate",
    "回访量 visited",
    "满意量 satisfied",
    "满意率% satisfaction rate",
    "超时 overdue",
    "升级 escalated",
    "响应中位分钟 median response min",
    "办结中位分钟 median resolution min",
];

/// `GET /stats.csv`: the same figures as `/stats`, one row per node, child and unit.
#[utoipa::path(tag = "exports", params(StatsQuery), responses((status = 200, description = "UTF-8 CSV with BOM", content_type = "text/csv", body = String)))]
#[get("/stats.csv")]
pub async fn stats_csv(
    state: web::Data<AppState>,
    BearerOrCookie(auth): BearerOrCookie,
    q: ValidQuery<StatsQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = q.0;
    let tz = state.calendar.tz();
    let bytes = state
        .read_as_actor(auth, move |conn, actor, now| {
            let answer = compute(conn, actor, &q, now, tz)?;
            let mut head = vec!["范围 scope", "排名 rank", "名称 name"];
            head.extend(FIGURE_HEADERS);
            head.push("催办次数 urged");
            let row = |scope: &str, rank: String, name: &str, f: &Figures, urged: i64| {
                let mut cells = vec![scope.to_owned(), rank, name.to_owned()];
                cells.extend(figure_cells(f));
                cells.push(urged.to_string());
                cells
            };
            let mut rows = Vec::new();
            match &answer {
                Answer::Node(n) => {
                    rows.push(row(
                        "node",
                        String::new(),
                        &n.node.name,
                        &n.figures,
                        n.urged,
                    ));
                    rows.extend(n.children.iter().map(|c| {
                        row(
                            "child",
                            c.rank.to_string(),
                            &c.who.name,
                            &c.figures,
                            c.urged,
                        )
                    }));
                    rows.extend(n.partners.iter().map(|p| {
                        row(
                            "partner",
                            p.rank.to_string(),
                            &p.who.name,
                            &p.figures,
                            p.urged,
                        )
                    }));
                }
                Answer::Partner(p) => rows.push(row(
                    "partner",
                    String::new(),
                    &p.partner.name,
                    &p.figures,
                    p.urged,
                )),
            }
            // With compare=previous, the node's (or unit's) figures of the period before,
            // last (环比); urgings are not counted for it.
            let (name, previous) = match &answer {
                Answer::Node(n) => (&n.node.name, &n.previous),
                Answer::Partner(p) => (&p.partner.name, &p.previous),
            };
            if let Some(before) = previous {
                let mut cells = row("previous", String::new(), name, &before.figures, 0);
                if let Some(urged) = cells.last_mut() {
                    urged.clear();
                }
                rows.push(cells);
            }
            csv_bytes(Some(&head), rows)
        })
        .await?;
    Ok(csv_response("stats.csv").body(bytes))
}

const TICKET_HEADERS: [&str; 18] = [
    "编号 number",
    "标题 title",
    "类别ID category_id",
    "优先级 priority",
    "状态 status",
    "社区ID community_id",
    "地址 address",
    "户数 households",
    "承办单位ID partner_id",
    "升级层级 level",
    "超时 overdue",
    "响应时限 respond_by",
    "办结时限 resolve_by",
    "响应时间 responded_at",
    "办结时间 resolved_at",
    "登记时间 created_at",
    "来源 channel",
    "热线工单号 hotline_ref",
];

/// A cell a spreadsheet would run as a formula (`=`, `+`, `-`, `@`, a tab or a carriage
/// return first: OWASP's CSV injection guidance) starts with a `'`, so Excel and WPS show
/// it as text. Every export goes through `csv_bytes`, so through this.
fn neutralise(cell: &str) -> std::borrow::Cow<'_, str> {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{cell}").into()
    } else {
        cell.into()
    }
}

/// CSV bytes of some records; the first chunk of a file starts with the BOM and the header.
pub fn csv_bytes(
    header: Option<&[&str]>,
    records: impl IntoIterator<Item = Vec<String>>,
) -> Result<Vec<u8>, CoreError> {
    let mut out = csv::Writer::from_writer(if header.is_some() {
        BOM.to_vec()
    } else {
        Vec::new()
    });
    if let Some(header) = header {
        out.write_record(header).map_err(csv_error)?;
    }
    for record in records {
        out.write_record(record.iter().map(|cell| neutralise(cell).into_owned()))
            .map_err(csv_error)?;
    }
    out.into_inner()
        .map_err(|e| CoreError::internal_because("csv", e))
}

pub(crate) fn time_cell(t: Option<NaiveDateTime>) -> String {
    t.map(|t| t.and_utc().to_rfc3339()).unwrap_or_default()
}

fn ticket_record((t, intake): &(jiesu_core::tickets::Ticket, Option<Intake>)) -> Vec<String> {
    vec![
        t.number.clone(),
        t.title.clone(),
        t.category_id.to_string(),
        t.priority.to_string(),
        t.status.to_string(),
        t.community_id.to_string(),
        t.address.clone(),
        t.households.to_string(),
        t.partner_id.map(|p| p.to_string()).unwrap_or_default(),
        t.level.to_string(),
        t.overdue.to_string(),
        time_cell(t.respond_by),
        time_cell(t.resolve_by),
        time_cell(t.responded_at),
        time_cell(t.resolved_at),
        time_cell(Some(t.created_at)),
        intake
            .as_ref()
            .map(|i| i.channel.to_string())
            .unwrap_or_default(),
        intake
            .as_ref()
            .and_then(|i| i.hotline_ref.clone())
            .unwrap_or_default(),
    ]
}

/// Answers with a CSV file streamed a page at a time: `fetch` reads each page as the
/// signed-in actor, `record` turns an item into a row. The first page is read before the
/// answer starts, so a bad filter is a problem+json, not a broken download.
pub async fn csv_export<T, F, R>(
    state: web::Data<AppState>,
    auth: Auth,
    name: &'static str,
    header: &'static [&'static str],
    fetch: F,
    record: R,
) -> Result<HttpResponse, ApiError>
where
    T: Send + 'static,
    F: Fn(&mut DbConnection, &Actor, PageRequest, NaiveDateTime) -> Result<Page<T>, CoreError>
        + Clone
        + Send
        + Sync
        + 'static,
    R: Fn(&T) -> Vec<String> + Send + 'static,
{
    let first_fetch = fetch.clone();
    let (actor, (first, now)) = state
        .read_as_actor(auth, move |conn, actor, now| {
            let page = first_fetch(
                conn,
                actor,
                PageRequest {
                    after: None,
                    limit: EXPORT_PAGE,
                },
                now,
            )?;
            Ok((actor.clone(), (page, now)))
        })
        .await?;
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<web::Bytes, std::io::Error>>(4);
    // The following pages from a replica too, when one is fit now.
    let replica = state
        .replicas
        .pick(jiesu_core::replicas::millis(now), crate::reads::wrote_at());
    let pool = state.pool.clone();
    let span = tracing::Span::current();
    tokio::task::spawn_blocking(move || {
        let _entered = span.enter();
        let mut page: CoreResult<Page<T>> = Ok(first);
        let mut header = Some(header);
        loop {
            let chunk = page.and_then(|p: Page<T>| {
                let bytes = csv_bytes(header.take(), p.items.iter().map(&record))?;
                Ok((bytes, p.next_cursor))
            });
            let (bytes, next) = match chunk {
                Ok(chunk) => chunk,
                Err(e) => {
                    tracing::error!(error = %e.chain(), at = %e.place(), export = name, "export broke off");
                    return;
                }
            };
            if tx.blocking_send(Ok(web::Bytes::from(bytes))).is_err() {
                return; // the client went away
            }
            let Some(after) = next.and_then(|c| c.parse().ok()) else {
                return;
            };
            let next_page = |conn: &mut DbConnection| {
                let asked = PageRequest {
                    after: Some(after),
                    limit: EXPORT_PAGE,
                };
                fetch(conn, &actor, asked, now)
            };
            page = match &replica {
                Some(replica) => replica.read(&pool, next_page),
                None => jiesu_core::db::with_connection(&pool, next_page),
            };
        }
    });
    let body = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|chunk| (chunk, rx))
    });
    Ok(csv_response(name).streaming(body))
}

/// `GET /tickets.csv` with the filters of `GET /tickets`: every matching ticket in scope.
#[utoipa::path(tag = "exports", params(super::tickets::ListQuery), responses((status = 200, description = "UTF-8 CSV with BOM", content_type = "text/csv", body = String)))]
#[get("/tickets.csv")]
pub async fn tickets_csv(
    state: web::Data<AppState>,
    BearerOrCookie(auth): BearerOrCookie,
    q: ValidQuery<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let filter = q.0.filter()?;
    let reference = state.reference.clone();
    csv_export(
        state,
        auth,
        "tickets.csv",
        &TICKET_HEADERS,
        move |conn, actor, page, now| {
            let page = queries::list(conn, &reference, actor, &filter, page, now)?;
            let ids: Vec<_> = page.items.iter().map(|t| t.id).collect();
            let mut intakes = queries::intakes(conn, &ids)?;
            Ok(Page {
                items: page
                    .items
                    .into_iter()
                    .map(|t| {
                        let intake = intakes.remove(&t.id);
                        (t, intake)
                    })
                    .collect(),
                next_cursor: page.next_cursor,
            })
        },
        ticket_record,
    )
    .await
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HotspotQuery {
    org_unit_id: Option<OrgUnitId>,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    /// `community` (default) or `grid`.
    by: Option<String>,
    /// Default from config (`hotspots.threshold`).
    threshold: Option<i64>,
    /// How many cells, the most tickets first: 1–1000, default 100.
    limit: Option<i64>,
}

/// `GET /hotspots`: category × community (or grid) counts with the clusters flagged.
#[utoipa::path(tag = "stats", params(HotspotQuery), responses((status = 200, description = "Category × place counts with clusters flagged", body = jiesu_core::hotspots::HotspotReport)))]
#[get("/hotspots")]
pub async fn hotspots(
    state: web::Data<AppState>,
    auth: Auth,
    q: ValidQuery<HotspotQuery>,
) -> Result<HttpResponse, ApiError> {
    use jiesu_core::hotspots::{self, Grain};
    let q = q.0;
    let grain = match q.by.as_deref() {
        None | Some("community") => Grain::Community,
        Some("grid") => Grain::Grid,
        Some(other) => {
            return Err(ApiError::Core(CoreError::invalid(
                "by",
                "invalid",
                format!("{other:?}: use community or grid"),
            )))
        }
    };
    let threshold = q.threshold.unwrap_or(state.settings.hotspots.threshold);
    state
        .read_respond(auth, move |conn, actor, now| {
            let period = match (q.from, q.to) {
                (None, None) => hotspots::default_period(now)?,
                (from, to) => {
                    let to = to.map_or(now, |t| t.naive_utc());
                    Period::new(from.map_or(to - Duration::days(90), |t| t.naive_utc()), to)?
                }
            };
            let node = node_of(conn, q.org_unit_id, actor)?;
            let limit = q.limit.unwrap_or(100);
            hotspots::report(conn, actor, node, period, grain, threshold, limit)
        })
        .await
}

/// `GET /today`: the day of one's scope at a glance — the figures of the console's front
/// page. Each figure but the intake stops at 10,000 (`more`), as a list's total does.
#[utoipa::path(tag = "stats", responses((status = 200, description = "Today's intake against the same weekday, open tickets by status, due today, warned, late and escalated", body = jiesu_core::today::DaySummary)))]
#[get("/today")]
pub async fn today(state: web::Data<AppState>, auth: Auth) -> Result<HttpResponse, ApiError> {
    let reference = state.reference.clone();
    let tz = state.calendar.tz();
    state
        .read_respond(auth, move |conn, actor, now| {
            jiesu_core::today::summary(conn, &reference, actor, now, tz)
        })
        .await
}
