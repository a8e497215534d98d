//! Ticket pages: the list, logging one (with a photo), a ticket with its timeline and the
//! actions its reader may take, the pool, and photos.

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
use jiesu_core::types::{OrgKind, Priority, Role, Satisfaction, TicketStatus};
use jiesu_core::{CoreError, FieldError, Scope};
use maud::{html, Markup};
use serde::Deserialize;

use super::layout::{self, csrf_field, notice, page, Lang, Nav};
use super::session::{CsrfForm, FormBody, TokenOnly};
use super::{html_response, see_other, ConsoleError, ConsoleResult, Session, ALL};
use crate::problem::status_of;
use crate::state::AppState;

const LIST_PAGE: i64 = 50;

fn page_at(cursor: Option<&str>) -> Result<PageRequest, ConsoleError> {
    Ok(PageRequest::parse(cursor, Some(LIST_PAGE))?)
}

fn category_name(lang: Lang, c: &Category) -> String {
    match lang {
        Lang::Zh => c.name_zh.clone(),
        Lang::En => c.name_en.clone(),
    }
}

/// The deadline that matters now: the response deadline until someone responds, then
/// the resolution deadline.
fn deadline(t: &Ticket) -> Option<(bool, NaiveDateTime)> {
    match (t.responded_at, t.respond_by, t.resolve_by) {
        (None, Some(by), _) => Some((true, by)),
        (_, _, Some(by)) => Some((false, by)),
        _ => None,
    }
}

fn deadline_cell(lang: Lang, t: &Ticket, now: NaiveDateTime) -> Markup {
    html! {
        @if t.status.is_final() || t.status == TicketStatus::Resolved {
            span class="muted" { "—" }
        } @else if let Some((respond, by)) = deadline(t) {
            span { (if respond { lang.t("响应 ", "respond by ") } else { lang.t("办结 ", "resolve by ") }) (layout::china(by)) }
            " "
            @if by < now {
                span class="badge late" { (lang.t("超时 ", "late ")) (layout::span(lang, (now - by).num_minutes())) }
            } @else {
                span class="badge" { (lang.t("剩余 ", "in ")) (layout::span(lang, (by - now).num_minutes())) }
            }
        }
    }
}

/// A table of tickets, one card per ticket on a phone.
fn ticket_table(
    lang: Lang,
    items: &[Ticket],
    names: &HashMap<CategoryId, String>,
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
                            td data-label=(lang.t("类别", "Category")) { (names.get(&t.category_id).map(String::as_str).unwrap_or("")) }
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

fn category_names(lang: Lang, cats: &[Category]) -> HashMap<CategoryId, String> {
    cats.iter()
        .map(|c| (c.id, category_name(lang, c)))
        .collect()
}

#[derive(Deserialize)]
pub struct ListQuery {
    status: Option<String>,
    overdue: Option<String>,
    q: Option<String>,
    cursor: Option<String>,
    /// The first ticket of the page after the one asked for (the "previous page" link).
    before: Option<String>,
    done: Option<String>,
}

/// The most a page counts: past it the total reads "10,000+", so the count costs the same
/// in a community and in the city.
const TOTAL_CAP: i64 = 10_000;

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
    let filter = TicketFilter {
        statuses: status.clone(),
        overdue: overdue.then_some(true),
        q: q.q.clone().filter(|s| !s.trim().is_empty()),
        ..TicketFilter::default()
    };
    let towards =
        match q.before.as_deref().filter(|b| !b.is_empty()) {
            Some(before) => Towards::Previous(before.parse().map_err(|_| {
                CoreError::invalid("before", "invalid", "not a cursor this page made")
            })?),
            None => Towards::Next(page_at(q.cursor.as_deref())?.after),
        };
    let (tickets, total, cats, now) = session
        .run(&state, move |conn, actor, now| {
            let tickets = queries::browse(conn, actor, &filter, towards, LIST_PAGE, now)?;
            let total = queries::count_capped(conn, actor, &filter, TOTAL_CAP, now)?;
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
        @if tickets.previous.is_some() || tickets.next.is_some() {
            nav class="pager" aria-label=(lang.t("翻页", "Pages")) {
                @if let Some(before) = tickets.previous {
                    a rel="prev" href={ "/console/tickets?" (page_query(&req, "before", before)) } { (lang.t("← 上一页", "← Previous page")) }
                    " "
                }
                @if let Some(next) = tickets.next {
                    a rel="next" href={ "/console/tickets?" (page_query(&req, "cursor", next)) } { (lang.t("下一页 →", "Next page →")) }
                }
            }
        }
    };
    Ok(html_response(
        StatusCode::OK,
        page(&session, Nav::Tickets, &super::here(&req), title, body),
    ))
}

/// The same query with `cursor` replaced.
pub(crate) fn next_query(req: &HttpRequest, cursor: &str) -> String {
    page_query(req, "cursor", cursor)
}

/// The same query turned to another page: `cursor` (forward) or `before` (back) set to
/// `at`, the other dropped, as are one-time notices.
fn page_query(req: &HttpRequest, key: &str, at: impl std::fmt::Display) -> String {
    let mut out = form_urlencoded::Serializer::new(String::new());
    for (k, v) in form_urlencoded::parse(req.query_string().as_bytes()) {
        if !matches!(k.as_ref(), "cursor" | "before" | "done") {
            out.append_pair(&k, &v);
        }
    }
    out.append_pair(key, &at.to_string());
    out.finish()
}

// ------------------------------------------------------------------ logging a ticket

/// The new-ticket form as typed, kept to show it again with its errors.
#[derive(Default, Clone)]
struct TicketForm {
    csrf: String,
    idem: String,
    category: String,
    priority: String,
    community_id: String,
    title: String,
    description: String,
    address: String,
    latitude: String,
    longitude: String,
    resident_name: String,
    resident_phone: String,
    households: String,
}

impl TicketForm {
    fn set(&mut self, name: &str, value: String) {
        let slot = match name {
            "csrf" => &mut self.csrf,
            "idem" => &mut self.idem,
            "category" => &mut self.category,
            "priority" => &mut self.priority,
            "community_id" => &mut self.community_id,
            "title" => &mut self.title,
            "description" => &mut self.description,
            "address" => &mut self.address,
            "latitude" => &mut self.latitude,
            "longitude" => &mut self.longitude,
            "resident_name" => &mut self.resident_name,
            "resident_phone" => &mut self.resident_phone,
            "households" => &mut self.households,
            _ => return,
        };
        *slot = value;
    }

    /// The API's `NewTicket`, or the fields that could not even be read.
    fn to_new_ticket(&self) -> Result<NewTicket, Vec<FieldError>> {
        let mut errors = Vec::new();
        let text = |v: &str| Some(v.trim().to_owned()).filter(|v| !v.is_empty());
        fn number<T: std::str::FromStr>(
            field: &str,
            value: &str,
            errors: &mut Vec<FieldError>,
        ) -> Option<T> {
            let value = value.trim();
            if value.is_empty() {
                return None;
            }
            value
                .parse()
                .map_err(|_| {
                    errors.push(FieldError::new(field, "invalid", "must be a number"));
                })
                .ok()
        }
        let priority = match self.priority.trim() {
            "" => None,
            p => match p.parse::<Priority>() {
                Ok(p) => Some(p),
                Err(e) => {
                    errors.push(FieldError::new("priority", "invalid", e.to_string()));
                    None
                }
            },
        };
        let input = NewTicket {
            category: self.category.trim().to_owned(),
            priority,
            title: self.title.trim().to_owned(),
            description: self.description.trim().to_owned(),
            community_id: number::<i64>("community_id", &self.community_id, &mut errors)
                .map(OrgUnitId),
            grid_id: None,
            address: self.address.trim().to_owned(),
            latitude: number("latitude", &self.latitude, &mut errors),
            longitude: number("longitude", &self.longitude, &mut errors),
            resident_name: text(&self.resident_name),
            resident_phone: text(&self.resident_phone),
            households: number("households", &self.households, &mut errors).unwrap_or(1),
        };
        errors.extend(jiesu_core::validate::fields(&input));
        if errors.is_empty() {
            Ok(input)
        } else {
            Err(errors)
        }
    }
}

/// An uploaded photo: at most `max + 1` bytes are kept (the rest is read and dropped), so
/// the core's size check still sees that an oversized one is too large.
struct Photo {
    name: String,
    bytes: Vec<u8>,
}

/// A multipart form (the new ticket, or a photo added to one) with at most one photo.
pub struct WithPhoto {
    form: TicketForm,
    photo: Option<Photo>,
}

impl FormBody for WithPhoto {
    fn read(
        req: &HttpRequest,
        payload: &mut actix_web::dev::Payload,
    ) -> LocalBoxFuture<'static, Result<Self, ConsoleError>> {
        let max = req
            .app_data::<web::Data<AppState>>()
            .map_or(0, |state| state.settings.attachments.max_bytes);
        let multipart = Multipart::new(req.headers(), payload.take());
        Box::pin(async move {
            let (form, photo) = read_form(multipart, max).await?;
            Ok(WithPhoto { form, photo })
        })
    }
    fn csrf(&self) -> &str {
        &self.form.csrf
    }
}

/// What a ticket page posts: one lifecycle action, or a photo (multipart).
pub enum ActBody {
    Photo(WithPhoto),
    Action(ActForm),
}

impl FormBody for ActBody {
    fn read(
        req: &HttpRequest,
        payload: &mut actix_web::dev::Payload,
    ) -> LocalBoxFuture<'static, Result<Self, ConsoleError>> {
        let is_multipart = req
            .headers()
            .get(actix_web::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("multipart/form-data"));
        if is_multipart {
            let photo = WithPhoto::read(req, payload);
            Box::pin(async move { photo.await.map(ActBody::Photo) })
        } else {
            let action = super::session::read_urlencoded::<ActForm>(req, payload);
            Box::pin(async move { action.await.map(ActBody::Action) })
        }
    }
    fn csrf(&self) -> &str {
        match self {
            ActBody::Photo(p) => p.csrf(),
            ActBody::Action(a) => &a.csrf,
        }
    }
}

/// Reads the multipart form: text fields up to 16 KiB each, the photo up to the limit
/// (the rest is read and dropped, so the browser gets the form back, not a reset).
async fn read_form(
    mut form: Multipart,
    max: usize,
) -> Result<(TicketForm, Option<Photo>), ConsoleError> {
    const TEXT_MAX: usize = 16 * 1024;
    const DRAIN_MAX: usize = 64 * 1024 * 1024;
    let mut out = TicketForm::default();
    let mut photo = None;
    while let Some(field) = form.next().await {
        let mut field = field.map_err(|e| ConsoleError::BadForm(e.to_string()))?;
        let name = field.name().unwrap_or("").to_owned();
        let file_name = field
            .content_disposition()
            .and_then(|d| d.get_filename())
            .map(str::to_owned);
        let limit = if name == "photo" { max + 1 } else { TEXT_MAX };
        let mut bytes = Vec::new();
        let mut size = 0usize;
        while let Some(chunk) = field.next().await {
            let chunk = chunk.map_err(|e| ConsoleError::BadForm(e.to_string()))?;
            size += chunk.len();
            if size > DRAIN_MAX {
                return Err(ConsoleError::BadForm("the upload is far too large".into()));
            }
            let room = limit.saturating_sub(bytes.len());
            bytes.extend_from_slice(&chunk[..chunk.len().min(room)]);
        }
        if name == "photo" {
            if !bytes.is_empty() {
                photo = Some(Photo {
                    name: file_name.unwrap_or_else(|| "photo".into()),
                    bytes,
                });
            }
        } else {
            let value = String::from_utf8(bytes)
                .map_err(|_| ConsoleError::BadForm(format!("{name} is not UTF-8 text")))?;
            // The edge's rule for text (multipart forms pass it unread).
            jiesu_core::validate::clean_text(&name, &value)
                .map_err(|e| ConsoleError::BadForm(format!("{}: {}", e.field, e.message)))?;
            out.set(&name, value);
        }
    }
    Ok((out, photo))
}

fn field_label(lang: Lang, field: &str) -> &'static str {
    match field {
        "category" => lang.t("类别", "Category"),
        "priority" => lang.t("紧急程度", "Priority"),
        "community_id" => lang.t("社区", "Community"),
        "title" => lang.t("事项", "Title"),
        "description" => lang.t("详细描述", "Description"),
        "address" => lang.t("地点", "Place"),
        "latitude" => lang.t("纬度", "Latitude"),
        "longitude" => lang.t("经度", "Longitude"),
        "resident_name" => lang.t("居民姓名", "Resident's name"),
        "resident_phone" => lang.t("居民电话", "Resident's phone"),
        "households" => lang.t("涉及户数", "Households"),
        "photo" | "file" => lang.t("照片", "Photo"),
        "note" => lang.t("说明", "Note"),
        "reason" => lang.t("原因", "Reason"),
        "satisfaction" => lang.t("满意度", "Satisfaction"),
        "partner_id" => lang.t("共建单位", "Partner unit"),
        _ => lang.t("内容", "Input"),
    }
}

fn size_label(bytes: usize) -> String {
    if bytes >= 1024 * 1024 {
        format!("{} MB", bytes / (1024 * 1024))
    } else {
        format!("{} KB", bytes.div_ceil(1024))
    }
}

/// A field's error in the page's language where we know the rule, else the core's words.
fn field_message(lang: Lang, e: &FieldError, max_bytes: usize) -> String {
    match (e.field.as_str(), e.code.as_str(), lang) {
        ("file" | "photo", "too_large", Lang::Zh) => {
            format!("照片太大：最大 {}。", size_label(max_bytes))
        }
        ("file" | "photo", "too_large", Lang::En) => {
            format!("The photo is too large: at most {}.", size_label(max_bytes))
        }
        ("file" | "photo", "unsupported_type", Lang::Zh) => {
            "只能上传 JPEG、PNG 或 WebP 格式的照片。".into()
        }
        ("file" | "photo", "unsupported_type", Lang::En) => {
            "Only JPEG, PNG and WebP photos can be uploaded.".into()
        }
        (_, "required" | "blank", Lang::Zh) => "必填。".into(),
        (_, _, Lang::Zh) => format!("不符合要求（{}）", e.message),
        (_, _, Lang::En) => e.message.clone(),
    }
}

struct FormChoices {
    categories: Vec<Category>,
    communities: Vec<(OrgUnitId, String)>,
}

async fn choices(state: &AppState, session: &Session) -> Result<FormChoices, ConsoleError> {
    let wants_community = !matches!(session.role, Role::GridMember);
    session
        .run(state, move |conn, actor, _| {
            let categories = categories::list(conn, Some(true), ALL)?.items;
            let communities = if wants_community {
                let filter = OrgUnitFilter {
                    kind: Some(OrgKind::Community),
                    ..OrgUnitFilter::default()
                };
                org::list(conn, actor, &filter, ALL)?
                    .items
                    .into_iter()
                    .map(|o| (o.id, o.name))
                    .collect()
            } else {
                Vec::new()
            };
            Ok(FormChoices {
                categories,
                communities,
            })
        })
        .await
}

fn new_ticket_page(
    state: &AppState,
    session: &Session,
    form: &TicketForm,
    choices: &FormChoices,
    errors: &[FieldError],
) -> Markup {
    let lang = session.lang;
    let max = state.settings.attachments.max_bytes;
    let error_of = |field: &str| {
        errors
            .iter()
            .find(|e| e.field == field || (field == "photo" && e.field == "file"))
    };
    let input = |field: &'static str, kind: &'static str, value: &str, required: bool| {
        layout::Field {
            id: field,
            name: field,
            label: field_label(lang, field),
            kind,
            value,
            required,
            autocomplete: None,
            hint: None,
            error: error_of(field).map(|e| field_message(lang, e, max)),
        }
        .render()
    };
    let body = html! {
        @if !errors.is_empty() {
            div class="notice error" role="alert" {
                (lang.t("请修改以下内容后再提交：", "Please correct the following and submit again:"))
                ul { @for e in errors { li { a href={ "#" (if e.field == "file" { "photo" } else { e.field.as_str() }) } { (field_label(lang, &e.field)) } "：" (field_message(lang, e, max)) } } }
            }
        }
        form method="post" action="/console/tickets/new" enctype="multipart/form-data" class="stack card" {
            (csrf_field(session))
            input type="hidden" name="idem" value=(form.idem);
            label for="category" { (field_label(lang, "category")) " *" }
            select id="category" name="category" required aria-invalid=[error_of("category").map(|_| "true")] {
                option value="" { (lang.t("请选择", "Choose")) }
                @for c in &choices.categories {
                    option value=(c.code) selected[form.category == c.code] { (category_name(lang, c)) }
                }
            }
            @if let Some(e) = error_of("category") { span class="field-error" { (field_message(lang, e, max)) } }
            label for="priority" { (field_label(lang, "priority")) }
            select id="priority" name="priority" {
                option value="" { (lang.t("按类别默认", "The category's default")) }
                @for p in Priority::ALL {
                    option value=(p.as_str()) selected[form.priority == p.as_str()] { (layout::priority_name(lang, *p)) }
                }
            }
            @if !choices.communities.is_empty() {
                label for="community_id" { (field_label(lang, "community_id")) " *" }
                select id="community_id" name="community_id" required aria-invalid=[error_of("community_id").map(|_| "true")] {
                    option value="" { (lang.t("请选择", "Choose")) }
                    @for (id, name) in &choices.communities {
                        option value=(id) selected[form.community_id == id.to_string()] { (name) }
                    }
                }
                @if let Some(e) = error_of("community_id") { span class="field-error" { (field_message(lang, e, max)) } }
            }
            (input("title", "text", &form.title, true))
            label for="description" { (field_label(lang, "description")) " *" }
            textarea id="description" name="description" required aria-invalid=[error_of("description").map(|_| "true")] { (form.description) }
            @if let Some(e) = error_of("description") { span class="field-error" { (field_message(lang, e, max)) } }
            (input("address", "text", &form.address, true))
            div class="row" {
                div { (input("latitude", "text", &form.latitude, false)) }
                div { (input("longitude", "text", &form.longitude, false)) }
            }
            p {
                button type="button" class="secondary" data-locate data-done=(lang.t("已填入当前位置", "Filled in from this device")) aria-describedby="locate-status" { (lang.t("使用当前位置", "Use my location")) }
                " " span id="locate-status" class="muted" aria-live="polite" {}
            }
            (input("resident_name", "text", &form.resident_name, false))
            (input("resident_phone", "tel", &form.resident_phone, false))
            (input("households", "number", if form.households.is_empty() { "1" } else { &form.households }, false))
            label for="photo" { (field_label(lang, "photo")) }
            input id="photo" name="photo" type="file" accept="image/jpeg,image/png,image/webp"
                aria-invalid=[error_of("photo").map(|_| "true")] aria-describedby="photo-hint";
            span id="photo-hint" class="muted" { (lang.t("JPEG、PNG 或 WebP，最大 ", "JPEG, PNG or WebP, at most ")) (size_label(max)) }
            @if let Some(e) = error_of("photo") { span id="photo-error" class="field-error" role="alert" { (field_message(lang, e, max)) } }
            button type="submit" { (lang.t("提交工单", "Log the ticket")) }
        }
    };
    page(
        session,
        Nav::NewTicket,
        "/console/tickets/new",
        lang.t("登记工单", "Log a ticket"),
        body,
    )
}

/// `GET /console/tickets/new`
pub async fn new_form(state: web::Data<AppState>, session: Session) -> ConsoleResult {
    let choices = choices(&state, &session).await?;
    let form = TicketForm {
        idem: jiesu_core::secrets::random_secret(24),
        ..TicketForm::default()
    };
    Ok(html_response(
        StatusCode::OK,
        new_ticket_page(&state, &session, &form, &choices, &[]),
    ))
}

/// `POST /console/tickets/new` (multipart): checks the token, the fields and the photo
/// before anything is written; the form's one-time key makes a double submit log once.
pub async fn create(
    state: web::Data<AppState>,
    CsrfForm(session, body): CsrfForm<WithPhoto>,
) -> ConsoleResult {
    let max = state.settings.attachments.max_bytes;
    let WithPhoto { form, photo } = body;
    let (input, mut errors) = match form.to_new_ticket() {
        Ok(input) => (Some(input), Vec::new()),
        Err(errors) => (None, errors),
    };
    if let Some(photo) = &photo {
        if let Err(CoreError::Invalid(mut e)) = attachments::check_photo(&photo.bytes, max) {
            errors.append(&mut e);
        }
    }
    let rerender = |errors: Vec<FieldError>, status: StatusCode| {
        let state = state.clone();
        let form = form.clone();
        let session = &session;
        async move {
            let choices = choices(&state, session).await?;
            Ok::<_, ConsoleError>(html_response(
                status,
                new_ticket_page(&state, session, &form, &choices, &errors),
            ))
        }
    };
    let input = match input {
        Some(input) if errors.is_empty() => input,
        _ => return rerender(errors, StatusCode::UNPROCESSABLE_ENTITY).await,
    };
    let key = Some(form.idem.trim().to_owned())
        .filter(|k| !k.is_empty() && k.len() <= 200)
        .map(|key| IdempotencyKey {
            key,
            request_hash: logging::request_hash(&input),
            window: state.settings.idempotency.window(),
        });
    let env = state.ticket_env();
    let outcome = session
        .run(&state, move |conn, actor, now| {
            let ctx = env.at(now);
            let logged = logging::log(conn, actor, &input, key.as_ref(), &ctx)?;
            if let (Some(photo), false) = (photo, logged.replayed) {
                attachments::add(
                    conn,
                    actor,
                    logged.ticket.id,
                    attachments::Upload {
                        file_name: &photo.name,
                        bytes: &photo.bytes,
                    },
                    attachments::PhotoStore {
                        data_dir: &env.settings.data_dir,
                        max_bytes: env.settings.attachments.max_bytes,
                    },
                    now,
                )?;
            }
            Ok(logged.ticket.id)
        })
        .await;
    match outcome {
        Ok(id) => Ok(see_other(&format!("/console/tickets/{id}?done=logged"))),
        Err(ConsoleError::Core(CoreError::Invalid(errors))) => {
            rerender(errors, StatusCode::UNPROCESSABLE_ENTITY).await
        }
        Err(e) => Err(e),
    }
}

// ------------------------------------------------------------------ one ticket

struct Shown {
    detail: TicketDetail,
    category: Category,
    /// Units that may take it (for dispatch and summon), when the reader may dispatch.
    units: Vec<Partner>,
    community: String,
    holder: Option<String>,
    names: HashMap<i64, String>,
    now: NaiveDateTime,
}

async fn load_ticket(
    state: &AppState,
    session: &Session,
    id: TicketId,
) -> Result<Shown, ConsoleError> {
    let dispatches = matches!(session.role, Role::Supervisor | Role::Admin);
    session
        .run(state, move |conn, actor, now| {
            let detail = queries::get(conn, actor, id, now)?;
            let category = categories::get(conn, detail.ticket.category_id)?;
            let units = if dispatches {
                let filter = PartnerFilter {
                    community_id: Some(detail.ticket.community_id),
                    category: Some(category.code.clone()),
                    active: Some(true),
                    ..PartnerFilter::default()
                };
                partners::list(conn, actor, &filter, ALL)?.items
            } else {
                Vec::new()
            };
            let community = jiesu_core::org::name_of(conn, detail.ticket.community_id)?;
            let holder = match detail.ticket.partner_id {
                Some(p) => Some(partners::name_of(conn, p)?),
                None => None,
            };
            let people: Vec<jiesu_core::ids::UserId> =
                detail.events.iter().filter_map(|e| e.actor_id).collect();
            let names = jiesu_core::users::display_names(conn, &people)?;
            Ok(Shown {
                detail,
                category,
                units,
                community,
                holder,
                names,
                now,
            })
        })
        .await
}

fn done_message(lang: Lang, done: &str) -> Option<&'static str> {
    Some(match done {
        "logged" => lang.t("工单已登记。", "The ticket is logged."),
        "claim" => lang.t(
            "认领成功，工单由本单位办理。",
            "Claimed: your unit now holds the ticket.",
        ),
        "progress" => lang.t("进展已记录。", "Progress noted."),
        "resolve" => lang.t("已办结，等待回访。", "Resolved; awaiting the return visit."),
        "feedback" => lang.t("回访已记录。", "Return visit recorded."),
        "dispatch" => lang.t("已派单。", "Dispatched."),
        "summon" => lang.t(
            "已吹哨，单位已被召集。",
            "Summoned: the unit has been called in.",
        ),
        "cancel" => lang.t("工单已作废。", "The ticket is cancelled."),
        "photo" => lang.t("照片已上传。", "Photo added."),
        _ => return None,
    })
}

fn ticket_page(session: &Session, shown: &Shown, banner: Option<Markup>) -> Markup {
    let lang = session.lang;
    let t = &shown.detail.ticket;
    let now = shown.now;
    let holds =
        matches!(session.scope, Scope::Partner { partner } if t.partner_id == Some(partner));
    // Exactly what core would accept from this person now (the lifecycle's table).
    let can = |kind: ActionKind| shown.detail.actions.contains(&kind);
    let action = format!("/console/tickets/{}/act", t.id);
    let note_form = |name: &'static str,
                     field: &'static str,
                     label: (&str, &str),
                     button: (&str, &str),
                     required: bool| {
        html! {
            details {
                summary { (lang.t(button.0, button.1)) }
                form method="post" action=(action) class="stack" {
                    (csrf_field(session))
                    input type="hidden" name="action" value=(name);
                    label for={ (name) "-" (field) } { (lang.t(label.0, label.1)) }
                    textarea id={ (name) "-" (field) } name=(field) required[required] {}
                    button type="submit" { (lang.t(button.0, button.1)) }
                }
            }
        }
    };
    let body = html! {
        @if let Some(b) = banner { (b) }
        div class="two" {
            section class="card" aria-labelledby="facts" {
                h2 id="facts" { (t.title) }
                dl class="facts" {
                    dt { (lang.t("状态", "Status")) } dd { (layout::status_name(lang, t.status)) }
                    dt { (lang.t("层级", "Level")) } dd {
                        (layout::level_name(lang, t.level))
                        @if t.level > 0 { " " span class="badge level" { (lang.t("已升级", "escalated")) } }
                    }
                    dt { (lang.t("类别", "Category")) } dd { (category_name(lang, &shown.category)) }
                    dt { (lang.t("紧急程度", "Priority")) } dd { (layout::priority_name(lang, t.priority)) }
                    dt { (lang.t("社区", "Community")) } dd { (shown.community) }
                    dt { (lang.t("地点", "Place")) } dd { (t.address) }
                    @if let Some(r) = &t.resident {
                        dt { (lang.t("居民", "Resident")) }
                        dd {
                            (r.name.as_deref().unwrap_or("—")) " "
                            @if let Some(phone) = &r.phone { a href={ "tel:" (phone) } { (phone) } }
                        }
                    }
                    dt { (lang.t("承办单位", "Held by")) } dd {
                        @if let Some(h) = &shown.holder { (h) } @else if t.in_pool { (lang.t("抢单池", "the pool")) } @else { "—" }
                    }
                    dt { (lang.t("登记时间", "Logged")) } dd { (layout::china(t.created_at)) }
                    dt { (lang.t("期限", "Deadline")) } dd { (deadline_cell(lang, t, now)) }
                    @if let Some(s) = t.satisfaction {
                        dt { (lang.t("满意度", "Satisfaction")) } dd { (layout::satisfaction_name(lang, s)) }
                    }
                    @if let Some(r) = &shown.detail.open311 {
                        dt { (lang.t("来源渠道", "Channel")) } dd { "Open311 · " (r.channel) }
                        @for (code, answers) in &r.attributes {
                            dt { (code) } dd { (answers.join(", ")) }
                        }
                        @if let Some(url) = &r.media_url {
                            dt { (lang.t("照片链接", "Photo link")) }
                            dd { a href=(url) rel="noopener noreferrer nofollow" target="_blank" { (lang.t("打开照片", "Open the photo")) } }
                        }
                        @if let Some(who) = &r.reporter {
                            @let name = [who.first_name.as_deref(), who.last_name.as_deref()].into_iter().flatten().collect::<Vec<_>>().join(" ");
                            @if !name.is_empty() { dt { (lang.t("报告人", "Reporter")) } dd { (name) } }
                            @if let Some(e) = &who.email { dt { (lang.t("邮箱", "Email")) } dd { (e) } }
                            @if let Some(d) = &who.device_id { dt { (lang.t("设备号", "Device")) } dd { (d) } }
                            @if let Some(a) = &who.account_id { dt { (lang.t("应用账号", "App account")) } dd { (a) } }
                        }
                    }
                    @if let Some(w) = &shown.detail.waiting_on_resident {
                        dt { (lang.t("等待居民", "Waiting on resident")) } dd { (w.reason) }
                    }
                }
                p { (t.description) }
                @if !shown.detail.attachments.is_empty() {
                    div class="photos" {
                        @for a in &shown.detail.attachments {
                            a href={ "/console/tickets/" (t.id) "/photos/" (a.id) } {
                                img src={ "/console/tickets/" (t.id) "/photos/" (a.id) } alt={ (lang.t("现场照片：", "Photo: ")) (a.file_name) } loading="lazy";
                            }
                        }
                    }
                }
            }
            section class="actions" aria-labelledby="act" {
                h2 id="act" { (lang.t("办理", "Actions")) }
                @if can(ActionKind::Claim) {
                    form method="post" action={ "/console/pool/" (t.id) "/claim" } {
                        (csrf_field(session))
                        button type="submit" { (lang.t("认领此工单", "Claim this ticket")) }
                    }
                }
                @if can(ActionKind::Progress) {
                    (note_form("progress", "note", ("进展说明", "What was done"), ("记录进展", "Note progress"), true))
                }
                @if can(ActionKind::Resolve) {
                    (note_form("resolve", "note", ("办结说明", "How it was resolved"), ("办结", "Resolve"), true))
                }
                @if can(ActionKind::Return) {
                    (note_form("return", "reason", ("退单原因", "Why it is returned"), ("退单", "Return"), true))
                }
                @if can(ActionKind::Feedback) {
                    details open {
                        summary { (lang.t("回访", "Return visit")) }
                        form method="post" action=(action) class="stack" {
                            (csrf_field(session))
                            input type="hidden" name="action" value="feedback";
                            fieldset {
                                legend { (lang.t("居民满意度", "The resident's satisfaction")) }
                                @for s in Satisfaction::ALL {
                                    label { input type="radio" name="satisfaction" value=(s.as_str()) required; " " (layout::satisfaction_name(lang, *s)) }
                                }
                            }
                            label for="feedback-comment" { (lang.t("回访记录", "Notes of the visit")) }
                            textarea id="feedback-comment" name="comment" {}
                            p class="muted" { (lang.t("满意或基本满意即办结；不满意则退回原单位重办。", "Satisfied or basically satisfied closes the ticket; unsatisfied sends it back to the same unit.")) }
                            button type="submit" { (lang.t("提交回访", "Record the visit")) }
                        }
                    }
                }
                @if can(ActionKind::Dispatch) || can(ActionKind::Reassign) {
                    details {
                        summary { (lang.t("派单 / 吹哨报到", "Dispatch / summon")) }
                        form method="post" action=(action) class="stack" {
                            (csrf_field(session))
                            label for="dispatch-target" { (lang.t("派给", "Send to")) }
                            select id="dispatch-target" name="partner_id" {
                                option value="pool" { (lang.t("社区抢单池", "The community's pool")) }
                                @for u in &shown.units {
                                    option value=(u.id) { (u.name) }
                                }
                            }
                            label for="dispatch-note" { (lang.t("说明", "Note")) }
                            textarea id="dispatch-note" name="note" {}
                            div class="row" {
                                button type="submit" name="action" value="dispatch" { (lang.t("派单", "Dispatch")) }
                                button type="submit" name="action" value="summon" class="secondary" { (lang.t("吹哨报到", "Summon")) }
                            }
                        }
                    }
                }
                @if can(ActionKind::Cancel) {
                    (note_form("cancel", "reason", ("作废原因", "Why it is cancelled"), ("作废", "Cancel"), true))
                }
                @if (holds || matches!(session.role, Role::GridMember | Role::Supervisor | Role::Admin)) && !t.status.is_final() {
                    details {
                        summary { (lang.t("上传照片", "Add a photo")) }
                        form method="post" action={ "/console/tickets/" (t.id) "/act" } enctype="multipart/form-data" class="stack" {
                            (csrf_field(session))
                            input type="hidden" name="action" value="photo";
                            label for="more-photo" { (lang.t("照片", "Photo")) }
                            input id="more-photo" name="photo" type="file" accept="image/jpeg,image/png,image/webp" required;
                            button type="submit" { (lang.t("上传", "Upload")) }
                        }
                    }
                }
            }
        }
        section aria-labelledby="timeline" {
            h2 id="timeline" { (lang.t("办理经过", "Timeline")) }
            ol class="timeline card" {
                @for e in &shown.detail.events {
                    li {
                        time datetime=(e.created_at.and_utc().to_rfc3339()) { (layout::china(e.created_at)) }
                        strong { (layout::event_name(lang, e.kind)) }
                        @if let (Some(from), Some(to)) = (e.from_status, e.to_status) {
                            " · " (layout::status_name(lang, from)) " → " (layout::status_name(lang, to))
                        }
                        @if let Some(who) = e.actor_id.and_then(|a| shown.names.get(&a.0)) { " · " (who) }
                        @if let Some(note) = &e.note { br; (note) }
                    }
                }
            }
        }
    };
    page(
        session,
        Nav::Tickets,
        &format!("/console/tickets/{}", t.id),
        &format!("{} {}", lang.t("工单", "Ticket"), t.number),
        body,
    )
}

#[derive(Deserialize)]
pub struct DetailQuery {
    done: Option<String>,
}

/// `GET /console/tickets/{id}`: a ticket outside one's scope is a 404 page.
pub async fn detail(
    state: web::Data<AppState>,
    session: Session,
    id: web::Path<i64>,
    q: web::Query<DetailQuery>,
) -> ConsoleResult {
    let shown = load_ticket(&state, &session, TicketId(id.into_inner())).await?;
    let banner = q
        .done
        .as_deref()
        .and_then(|d| done_message(session.lang, d))
        .map(|m| notice("ok", m));
    Ok(html_response(
        StatusCode::OK,
        ticket_page(&session, &shown, banner),
    ))
}

#[derive(Deserialize, Default)]
pub struct ActForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    action: String,
    note: Option<String>,
    reason: Option<String>,
    satisfaction: Option<String>,
    comment: Option<String>,
    partner_id: Option<String>,
}

fn optional(value: Option<String>) -> Option<String> {
    value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

fn required(value: Option<String>, field: &str) -> Result<String, CoreError> {
    optional(value).ok_or_else(|| CoreError::invalid(field, "required", "required"))
}

impl ActForm {
    /// The action the form asks for, with its name (for the `done` notice).
    fn action(self, lang: Lang) -> Result<(&'static str, Action), CoreError> {
        Ok(match self.action.as_str() {
            "progress" => (
                "progress",
                Action::Progress {
                    note: required(self.note, "note")?,
                },
            ),
            "resolve" => (
                "resolve",
                Action::Resolve {
                    note: required(self.note, "note")?,
                },
            ),
            "return" => (
                "return",
                Action::Return {
                    reason: required(self.reason, "reason")?,
                },
            ),
            "cancel" => (
                "cancel",
                Action::Cancel {
                    reason: required(self.reason, "reason")?,
                },
            ),
            "feedback" => (
                "feedback",
                Action::Feedback {
                    satisfaction: required(self.satisfaction, "satisfaction")?
                        .parse()
                        .map_err(|e: jiesu_core::types::UnknownVariant| {
                            CoreError::invalid("satisfaction", "invalid", e.to_string())
                        })?,
                    comment: optional(self.comment),
                },
            ),
            "dispatch" | "summon" => {
                let summon = self.action == "summon";
                let to = match self.partner_id.as_deref().map(str::trim) {
                    None | Some("") | Some("pool") => Target::Pool,
                    Some(p) => Target::Partner(PartnerId(p.parse().map_err(|_| {
                        CoreError::invalid("partner_id", "invalid", "choose a unit from the list")
                    })?)),
                };
                let mut note = optional(self.note);
                if summon {
                    // 吹哨报到: the street calls a unit in; it is a dispatch (or a
                    // reassignment) marked as such in the timeline.
                    let mark = lang.t("吹哨报到", "Summoned");
                    note = Some(match note {
                        Some(n) => format!("{mark}：{n}"),
                        None => mark.to_owned(),
                    });
                }
                let name = if summon { "summon" } else { "dispatch" };
                (name, Action::Dispatch { to, note })
            }
            other => {
                return Err(CoreError::invalid(
                    "action",
                    "invalid",
                    format!("unknown action {other:?}"),
                ))
            }
        })
    }
}

/// The error banner of a refused action, in the page's language.
fn refusal(lang: Lang, e: &CoreError, max: usize) -> Markup {
    match e {
        CoreError::Invalid(errors) => html! {
            div class="notice error" role="alert" {
                (lang.t("未能办理：", "Not done: "))
                @for f in errors { (field_label(lang, &f.field)) "：" (field_message(lang, f, max)) " " }
            }
        },
        CoreError::Conflict { message, .. } => notice(
            "error",
            &format!(
                "{}{message}",
                lang.t(
                    "未能办理，工单状态已变化：",
                    "Not done; the ticket has changed: "
                )
            ),
        ),
        CoreError::Forbidden(why) => notice(
            "error",
            &format!(
                "{}{why}",
                lang.t("您不能执行此操作：", "You may not do this: ")
            ),
        ),
        other => notice("error", &other.to_string()),
    }
}

/// `POST /console/tickets/{id}/act`: one lifecycle action (or a photo, as multipart). A
/// refused one shows the ticket again with the reason; nothing is half-done.
pub async fn act(
    state: web::Data<AppState>,
    id: web::Path<i64>,
    CsrfForm(session, body): CsrfForm<ActBody>,
) -> ConsoleResult {
    let id = TicketId(id.into_inner());
    let lang = session.lang;
    let max = state.settings.attachments.max_bytes;
    let outcome: Result<&'static str, ConsoleError> = match body {
        ActBody::Photo(WithPhoto { photo, .. }) => {
            let data_dir = state.settings.data_dir.clone();
            match photo {
                None => Err(CoreError::invalid("file", "required", "choose a photo").into()),
                Some(p) => session
                    .run(&state, move |conn, actor, now| {
                        attachments::add(
                            conn,
                            actor,
                            id,
                            attachments::Upload {
                                file_name: &p.name,
                                bytes: &p.bytes,
                            },
                            attachments::PhotoStore {
                                data_dir: &data_dir,
                                max_bytes: max,
                            },
                            now,
                        )
                    })
                    .await
                    .map(|_| "photo"),
            }
        }
        ActBody::Action(form) => match form.action(lang) {
            Err(e) => Err(e.into()),
            Ok((name, action)) => {
                let env = state.ticket_env();
                session
                    .run(&state, move |conn, actor, now| {
                        let ctx = env.at(now);
                        // A ticket that has gone out is moved on by reassigning it.
                        let action = match action {
                            Action::Dispatch { to, note } => {
                                lifecycle::send(conn, actor, id, to, note)?
                            }
                            other => other,
                        };
                        lifecycle::transition(conn, actor, id, &action, &ctx)
                    })
                    .await
                    .map(|_| name)
            }
        },
    };
    match outcome {
        Ok("return") => Ok(see_other("/console/tickets?done=returned")),
        Ok(done) => Ok(see_other(&format!("/console/tickets/{id}?done={done}"))),
        Err(ConsoleError::Core(
            e @ (CoreError::Invalid(_) | CoreError::Conflict { .. } | CoreError::Forbidden(_)),
        )) => {
            let status = status_of(&e);
            let shown = load_ticket(&state, &session, id).await?;
            Ok(html_response(
                status,
                ticket_page(&session, &shown, Some(refusal(lang, &e, max))),
            ))
        }
        Err(e) => Err(e),
    }
}

/// `GET /console/tickets/{id}/photos/{photo}`: to those who may see the ticket.
pub async fn photo(
    state: web::Data<AppState>,
    session: Session,
    req: HttpRequest,
    path: web::Path<(i64, i64)>,
) -> ConsoleResult {
    let (ticket, photo) = path.into_inner();
    let data_dir = state.settings.data_dir.clone();
    let (meta, file) = session
        .run(&state, move |conn, actor, _| {
            attachments::open(
                conn,
                actor,
                TicketId(ticket),
                AttachmentId(photo),
                &data_dir,
            )
        })
        .await?;
    Ok(crate::routes::tickets::photo_response(&meta, &file, &req).await?)
}

// ------------------------------------------------------------------ the pool

#[derive(Deserialize)]
pub struct PoolQuery {
    cursor: Option<String>,
}

async fn pool_page(
    state: &AppState,
    session: &Session,
    req: &HttpRequest,
    cursor: Option<&str>,
    banner: Option<Markup>,
    status: StatusCode,
) -> ConsoleResult {
    let lang = session.lang;
    let page_req = page_at(cursor)?;
    let (tickets, cats, now): (Page<Ticket>, Vec<Category>, NaiveDateTime) = session
        .run(state, move |conn, actor, now| {
            Ok((
                queries::pool(conn, actor, page_req, now)?,
                categories::list(conn, None, ALL)?.items,
                now,
            ))
        })
        .await?;
    let names = category_names(lang, &cats);
    let body = html! {
        @if let Some(b) = banner { (b) }
        p class="muted" { (lang.t("本单位结对社区中、本单位可办类别的待认领工单。先认领者承办。", "Tickets of the communities and categories your unit serves, waiting for a unit. The first claim wins.")) }
        @if tickets.items.is_empty() {
            p { (lang.t("抢单池暂时没有工单。", "The pool is empty for now.")) }
        }
        @for t in &tickets.items {
            article class="card" aria-labelledby={ "pool-" (t.id) } {
                h2 id={ "pool-" (t.id) } { a href={ "/console/tickets/" (t.id) } { (t.number) } " · " (t.title) }
                p { (names.get(&t.category_id).map(String::as_str).unwrap_or("")) " · " (t.address) " · " (layout::priority_name(lang, t.priority)) }
                p { (deadline_cell(lang, t, now)) }
                form method="post" action={ "/console/pool/" (t.id) "/claim" } {
                    (csrf_field(session))
                    button type="submit" { (lang.t("认领", "Claim")) " " (t.number) }
                }
            }
        }
        @if let Some(next) = &tickets.next_cursor {
            p class="pager" { a href={ "/console/pool?" (next_query(req, next)) } { (lang.t("下一页 →", "Next page →")) } }
        }
    };
    Ok(html_response(
        status,
        page(
            session,
            Nav::Pool,
            "/console/pool",
            lang.t("抢单池", "Pool"),
            body,
        ),
    ))
}

/// `GET /console/pool`
pub async fn pool(
    state: web::Data<AppState>,
    session: Session,
    req: HttpRequest,
    q: web::Query<PoolQuery>,
) -> ConsoleResult {
    pool_page(
        &state,
        &session,
        &req,
        q.cursor.as_deref(),
        None,
        StatusCode::OK,
    )
    .await
}

/// `POST /console/pool/{id}/claim`: the first claim wins; a unit that lost the race is
/// told so on the pool page.
pub async fn claim(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<i64>,
    CsrfForm(session, _): CsrfForm<TokenOnly>,
) -> ConsoleResult {
    let id = TicketId(id.into_inner());
    let lang = session.lang;
    let env = state.ticket_env();
    let outcome = session
        .run(&state, move |conn, actor, now| {
            let ctx = env.at(now);
            lifecycle::transition(conn, actor, id, &Action::Claim, &ctx)
        })
        .await;
    match outcome {
        Ok(t) => Ok(see_other(&format!("/console/tickets/{}?done=claim", t.id))),
        Err(ConsoleError::Core(CoreError::Conflict { .. } | CoreError::NotFound(_))) => {
            let banner = notice(
                "error",
                lang.t(
                    "手慢了：这张工单已被其他单位认领，或已不在抢单池中。",
                    "Too late: another unit claimed this ticket first, or it has left the pool.",
                ),
            );
            pool_page(
                &state,
                &session,
                &req,
                None,
                Some(banner),
                StatusCode::CONFLICT,
            )
            .await
        }
        Err(e) => Err(e),
    }
}
