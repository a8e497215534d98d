//! Ticket pages: the list, logging one (with a photo), a ticket with its timeline and the
//! actions its reader may take, the pool, and photos; one file per page, the parts they
//! share here.

use std::collections::HashMap;

use actix_multipart::Multipart;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest};
use chrono::NaiveDateTime;
use futures_util::future::LocalBoxFuture;
use futures_util::StreamExt;
use jiesu_core::categories::{self, Category};
use jiesu_core::ids::{AttachmentId, CategoryId, OrgUnitId, PartnerId, TicketId};
use jiesu_core::org::{self, OrgUnitFilter};
use jiesu_core::pagination::{Page, PageRequest};
use jiesu_core::partners::{self, Partner, PartnerFilter};
use jiesu_core::tickets::lifecycle::{self, Action, ActionKind, Target};
use jiesu_core::tickets::logging::{self, IdempotencyKey, NewTicket};
use jiesu_core::tickets::queries::{self, TicketDetail, TicketFilter, Towards};
use jiesu_core::tickets::{attachments, Ticket};
use jiesu_core::types::{IntakeChannel, OrgKind, Priority, Role, Satisfaction, TicketStatus};
use jiesu_core::{CoreError, FieldError, Scope};
use maud::{html, Markup};
use serde::Deserialize;

use super::layout::{self, csrf_field, notice, page, Lang, Nav};
use super::session::{CsrfForm, FormBody, TokenOnly};
use super::{html_response, see_other, ConsoleError, ConsoleResult, Session, ALL};
use crate::problem::status_of;
use crate::state::AppState;

mod detail;
mod forms;
mod list;
mod new;
mod pool;

pub use detail::{act, detail, photo};
pub use list::list;
pub(crate) use list::query_of;
pub(crate) use list::turned_query;
pub use new::{create, new_form};
pub use pool::{claim, pool, pool_count};

use super::text::{done_message, field_label, field_message, form_position, size_label};
use detail::*;
use forms::*;
use list::*;

pub(super) const LIST_PAGE: i64 = 50;

pub(super) fn page_at(cursor: Option<&str>) -> Result<PageRequest, ConsoleError> {
    Ok(PageRequest::parse(cursor, Some(LIST_PAGE))?)
}

pub(super) fn category_name(lang: Lang, c: &Category) -> String {
    match lang {
        Lang::Zh => c.name_zh.clone(),
        Lang::En => c.name_en.clone(),
    }
}

/// The deadline that matters now: the response deadline until someone responds, then
/// the resolution deadline.
pub(super) fn deadline(t: &Ticket) -> Option<(bool, NaiveDateTime)> {
    match (t.responded_at, t.respond_by, t.resolve_by) {
        (None, Some(by), _) => Some((true, by)),
        (_, _, Some(by)) => Some((false, by)),
        _ => None,
    }
}

pub(super) fn deadline_cell(lang: Lang, t: &Ticket, now: NaiveDateTime) -> Markup {
    html! {
        @if t.status.is_final() || t.status == TicketStatus::Resolved {
            span class="muted" { "—" }
        } @else if let Some((respond, by)) = deadline(t) {
            span { (if respond { lang.t("响应 ", "respond by ") } else { lang.t("办结 ", "resolve by ") }) (layout::china(by)) }
            " "
            @if by < now {
                span class="badge late" { (lang.t("超时 ", "late ")) (layout::span(lang, (now - by).num_minutes())) }
            } @else if t.warning {
                span class="badge warn" { (lang.t("即将超时 剩余 ", "due soon, in ")) (layout::span(lang, (by - now).num_minutes())) }
            } @else {
                span class="badge" { (lang.t("剩余 ", "in ")) (layout::span(lang, (by - now).num_minutes())) }
            }
        }
    }
}

/// A table of tickets, one card per ticket on a phone.
/// The names a ticket table shows beside each ticket: its category, community and holder.
pub(super) struct TableNames {
    pub(super) categories: HashMap<CategoryId, String>,
    pub(super) places: HashMap<OrgUnitId, String>,
    pub(super) units: HashMap<PartnerId, String>,
}

impl TableNames {
    /// The names of `tickets`' communities and units (those of a page: one query each).
    pub(super) fn of(
        conn: &mut jiesu_core::db::DbConnection,
        categories: HashMap<CategoryId, String>,
        tickets: &[Ticket],
    ) -> jiesu_core::CoreResult<TableNames> {
        let places: Vec<OrgUnitId> = tickets.iter().map(|t| t.community_id).collect();
        let units: Vec<PartnerId> = tickets.iter().filter_map(|t| t.partner_id).collect();
        Ok(TableNames {
            categories,
            places: org::names(conn, &places)?,
            units: partners::names(conn, &units)?,
        })
    }
}

pub(super) fn ticket_table(
    lang: Lang,
    items: &[Ticket],
    names: &TableNames,
    now: NaiveDateTime,
) -> Markup {
    html! {
        @if items.is_empty() {
            p class="muted" { (lang.t("没有工单。", "No tickets.")) }
        } @else {
            table class="cards" {
                thead { tr {
                    th scope="col" { (lang.t("编号", "Number")) }
                    th scope="col" { (lang.t("事项", "Title")) }
                    th scope="col" { (lang.t("类别", "Category")) }
                    th scope="col" { (lang.t("社区", "Community")) }
                    th scope="col" { (lang.t("承办", "Held by")) }
                    th scope="col" { (lang.t("登记时间", "Logged")) }
                    th scope="col" { (lang.t("状态", "Status")) }
                    th scope="col" { (lang.t("期限", "Deadline")) }
                } }
                tbody {
                    @for t in items {
                        tr {
                            td data-label=(lang.t("编号", "Number")) { a href={ "/console/tickets/" (t.id) } { (t.number) } }
                            td data-label=(lang.t("事项", "Title")) {
                                (t.title)
                                @if t.priority == Priority::Urgent { " " span class="badge late" { (layout::priority_name(lang, t.priority)) } }
                            }
                            td data-label=(lang.t("类别", "Category")) { (names.categories.get(&t.category_id).map(String::as_str).unwrap_or("")) }
                            td data-label=(lang.t("社区", "Community")) { (names.places.get(&t.community_id).map(String::as_str).unwrap_or("")) }
                            td data-label=(lang.t("承办", "Held by")) {
                                @match t.partner_id.and_then(|p| names.units.get(&p)) {
                                    Some(unit) => { (unit) }
                                    None if t.in_pool => { (lang.t("抢单池", "the pool")) }
                                    None => { "—" }
                                }
                            }
                            td data-label=(lang.t("登记时间", "Logged")) { (layout::china(t.created_at)) }
                            td data-label=(lang.t("状态", "Status")) {
                                (layout::status_name(lang, t.status))
                                @if t.level > 0 { " " span class="badge level" { (lang.t("已升级至", "escalated to ")) (layout::level_name(lang, t.level)) } }
                            }
                            td data-label=(lang.t("期限", "Deadline")) { (deadline_cell(lang, t, now)) }
                        }
                    }
                }
            }
        }
    }
}

pub(super) fn category_names(lang: Lang, cats: &[Category]) -> HashMap<CategoryId, String> {
    cats.iter()
        .map(|c| (c.id, category_name(lang, c)))
        .collect()
}
