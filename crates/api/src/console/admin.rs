//! The administrator's page: the org tree, partner units, categories with their SLA
//! policies, the working calendar in force, accounts (create, disable and enable, reset a
//! password), Open311 keys (issue and revoke) and the outbox. Changes to the tree, units
//! and categories go through the API (`/api/v1`), whose forms of record these are.
//!
//! A password the console makes (a new account's, a reset) is shown once, like an
//! Open311 key, for the administrator to hand over; the person changes it on their
//! account page. A reset ends the account's sessions.

use std::collections::HashMap;

use actix_web::http::StatusCode;
use actix_web::web;
use jiesu_core::categories::{self, Category};
use jiesu_core::ids::{OrgUnitId, PartnerId, UserId};
use jiesu_core::open311::{self, IssuedKey, Key, NewKey};
use jiesu_core::org::{self, OrgUnit, OrgUnitFilter};
use jiesu_core::outbox::{self, OutboxStatus};
use jiesu_core::pagination::{Towards, Window};
use jiesu_core::partners::{self, Partner, PartnerFilter};
use jiesu_core::types::{ClockKind, OrgKind, Priority, Role};
use jiesu_core::users::{self, NewUser, User, UserChange, UserFilter};
use jiesu_core::{CoreError, FieldError};
use maud::{html, Markup};
use serde::Deserialize;

use super::layout::{self, csrf_field, notice, page, Lang, Nav};
use super::session::{urlencoded_forms, CsrfForm, TokenOnly};
use super::{html_response, optional_id, see_other, ConsoleError, ConsoleResult, Session};
use crate::state::AppState;

/// Rows a page of each of the administrator's lists shows.
const UNITS_SHOWN: i64 = 100;
const PARTNERS_SHOWN: i64 = 50;
const USERS_SHOWN: i64 = 50;

/// What the administrator is looking at (the query of `GET /console/admin`): the node of
/// the org tree browsed, a page of each list and its search, and the unit or partner unit a
/// new account is to belong to. A city has tens of thousands of each, so each list is
/// paged on its own.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct AdminView {
    #[serde(default)]
    unit: Option<String>,
    #[serde(default)]
    units_cursor: Option<String>,
    #[serde(default)]
    units_before: Option<String>,
    #[serde(default)]
    partners_q: Option<String>,
    #[serde(default)]
    partners_cursor: Option<String>,
    #[serde(default)]
    partners_before: Option<String>,
    #[serde(default)]
    users_q: Option<String>,
    #[serde(default)]
    users_cursor: Option<String>,
    #[serde(default)]
    users_before: Option<String>,
    #[serde(default)]
    account_unit: Option<String>,
    #[serde(default)]
    account_partner: Option<String>,
}

impl AdminView {
    /// The view after a change to one account: that account found in the accounts list.
    fn account(username: &str) -> Self {
        AdminView {
            users_q: Some(username.to_owned()),
            ..AdminView::default()
        }
    }

    fn fields(&self) -> [(&'static str, &Option<String>); 11] {
        [
            ("unit", &self.unit),
            ("units_cursor", &self.units_cursor),
            ("units_before", &self.units_before),
            ("partners_q", &self.partners_q),
            ("partners_cursor", &self.partners_cursor),
            ("partners_before", &self.partners_before),
            ("users_q", &self.users_q),
            ("users_cursor", &self.users_cursor),
            ("users_before", &self.users_before),
            ("account_unit", &self.account_unit),
            ("account_partner", &self.account_partner),
        ]
    }

    /// This view with `set` changed (`None` drops a field) and the rest kept, as a link to
    /// `anchor`. Turning a list's page drops its other cursor; browsing to another node
    /// starts its children at the first page.
    fn href(&self, set: &[(&str, Option<String>)], anchor: &str) -> String {
        let mut out = form_urlencoded::Serializer::new(String::new());
        let moves_unit = set.iter().any(|(k, _)| *k == "unit");
        for (key, value) in self.fields() {
            let dropped = moves_unit && matches!(key, "units_cursor" | "units_before");
            let value = match set.iter().find(|(k, _)| *k == key) {
                Some((_, v)) => v.as_deref(),
                None if dropped => None,
                None => value.as_deref(),
            };
            if let Some(v) = value.filter(|v| !v.is_empty()) {
                out.append_pair(key, v);
            }
        }
        format!("/console/admin?{}#{anchor}", out.finish())
    }

    /// Links to the page before and after of the list whose fields start with `list`,
    /// shown in the section `anchor`.
    fn pager<T>(&self, lang: Lang, list: &str, anchor: &str, w: &Window<T>) -> Markup {
        let (cursor, before) = (format!("{list}_cursor"), format!("{list}_before"));
        let turn = |key: &str, other: &str, at: i64| {
            self.href(&[(key, Some(at.to_string())), (other, None)], anchor)
        };
        layout::pager(
            lang,
            w.previous.map(|at| turn(&before, &cursor, at)),
            w.next.map(|at| turn(&cursor, &before, at)),
        )
    }
}

struct Overview {
    /// The node browsed and its ancestors, from the top; empty at the top of the tree.
    lineage: Vec<OrgUnit>,
    units: Window<OrgUnit>,
    units_total: i64,
    partners: Window<Partner>,
    partners_total: i64,
    categories: Vec<Category>,
    users: Window<User>,
    users_total: i64,
    /// Where each listed account works, by name.
    scopes: HashMap<UserId, String>,
    keys: Vec<Key>,
    outbox: OutboxStatus,
    account_unit: Option<OrgUnit>,
    account_partner: Option<Partner>,
}

async fn overview(
    state: &AppState,
    session: &Session,
    view: &AdminView,
) -> Result<Overview, ConsoleError> {
    let view = view.clone();
    session
        .run(state, move |conn, actor, _| {
            actor.require_role(
                &[Role::Admin],
                "the administration page is for administrators",
            )?;
            let node = optional_id("unit", view.unit.as_deref())?.map(OrgUnitId);
            let lineage = match node {
                Some(id) => org::lineage(conn, actor, id)?,
                None => Vec::new(),
            };
            let children = OrgUnitFilter {
                parent_id: node,
                top_only: node.is_none(),
                ..OrgUnitFilter::default()
            };
            let towards = |cursor: &Option<String>, before: &Option<String>| {
                Towards::parse(cursor.as_deref(), before.as_deref())
            };
            let units = org::browse(
                conn,
                actor,
                &children,
                towards(&view.units_cursor, &view.units_before)?,
                UNITS_SHOWN,
            )?;
            let units_total = org::count(conn, actor, &children)?;
            let partner_filter = PartnerFilter {
                q: view.partners_q.clone(),
                ..PartnerFilter::default()
            };
            let partners = partners::browse(
                conn,
                actor,
                &partner_filter,
                towards(&view.partners_cursor, &view.partners_before)?,
                PARTNERS_SHOWN,
            )?;
            let partners_total = partners::count(conn, actor, &partner_filter)?;
            let user_filter = UserFilter {
                q: view.users_q.clone(),
                ..UserFilter::default()
            };
            let users = users::browse(
                conn,
                actor,
                &user_filter,
                towards(&view.users_cursor, &view.users_before)?,
                USERS_SHOWN,
            )?;
            let users_total = users::count(conn, actor, &user_filter)?;
            let unit_ids: Vec<OrgUnitId> =
                users.items.iter().filter_map(|u| u.org_unit_id).collect();
            let partner_ids: Vec<PartnerId> =
                users.items.iter().filter_map(|u| u.partner_id).collect();
            let (unit_names, partner_names) = (
                org::names(conn, &unit_ids)?,
                partners::names(conn, &partner_ids)?,
            );
            let scopes = users
                .items
                .iter()
                .filter_map(|u| {
                    let unit = u.org_unit_id.and_then(|id| unit_names.get(&id));
                    let partner = u.partner_id.and_then(|id| partner_names.get(&id));
                    Some((u.id, unit.or(partner)?.clone()))
                })
                .collect();
            let account_unit = match optional_id("account_unit", view.account_unit.as_deref())? {
                Some(id) => Some(org::get(conn, actor, OrgUnitId(id))?),
                None => None,
            };
            let account_partner =
                match optional_id("account_partner", view.account_partner.as_deref())? {
                    Some(id) => Some(partners::get(conn, actor, PartnerId(id))?),
                    None => None,
                };
            Ok(Overview {
                lineage,
                units,
                units_total,
                partners,
                partners_total,
                categories: categories::list(conn, None, super::ALL)?.items,
                users,
                users_total,
                scopes,
                keys: open311::list_keys(conn, actor)?,
                outbox: outbox::status(conn)?,
                account_unit,
                account_partner,
            })
        })
        .await
}

/// The org tree one node at a time: the way down from the top, the node, and a page of its
/// children, each a link further down.
fn tree(lang: Lang, view: &AdminView, o: &Overview) -> Markup {
    let down = |id: OrgUnitId| view.href(&[("unit", Some(id.to_string()))], "org");
    let new_account =
        |id: OrgUnitId| view.href(&[("account_unit", Some(id.to_string()))], "new-account");
    let emails = |u: &OrgUnit| {
        html! {
            @if !u.supervisor_emails.is_empty() {
                " " span class="muted" { "✉ " (u.supervisor_emails.join(", ")) }
            }
        }
    };
    html! {
        nav class="crumbs" aria-label=(lang.t("所在位置", "Where in the tree")) {
            a href=(view.href(&[("unit", None)], "org")) { (lang.t("全部", "Top")) }
            @for u in &o.lineage { " › " a href=(down(u.id)) { (u.name) } }
        }
        @if let Some(node) = o.lineage.last() {
            p class="card" {
                strong { (node.name) } " " span class="muted" { (node.kind) " · " (node.code) " · id " (node.id) }
                (emails(node)) " · "
                a href=(new_account(node.id)) { (lang.t("在此新建账号", "New account here")) }
            }
        }
        p class="muted" {
            @if o.lineage.is_empty() { (lang.t("顶层单位 ", "Top units: ")) } @else { (lang.t("下级单位 ", "Units below: ")) }
            (o.units_total)
        }
        @if !o.units.items.is_empty() {
            table class="cards" {
                thead { tr {
                    th scope="col" { (lang.t("名称", "Name")) }
                    th scope="col" { (lang.t("层级 · 代码", "Kind · code")) }
                    th scope="col" { (lang.t("督办邮箱", "Supervisors")) }
                    th scope="col" { (lang.t("操作", "Actions")) }
                } }
                tbody { @for u in &o.units.items { tr {
                    td data-label=(lang.t("名称", "Name")) {
                        @if u.kind == OrgKind::Grid { (u.name) } @else { a href=(down(u.id)) { (u.name) } }
                    }
                    td data-label=(lang.t("层级 · 代码", "Kind · code")) { (u.kind) " · " (u.code) }
                    td data-label=(lang.t("督办邮箱", "Supervisors")) { (u.supervisor_emails.join(", ")) }
                    td data-label=(lang.t("操作", "Actions")) { a href=(new_account(u.id)) { (lang.t("在此新建账号", "New account here")) } }
                } } }
            }
        }
        (view.pager(lang, "units", "org", &o.units))
    }
}

/// A search box over one list (its `{list}_q`), keeping the rest of the view; a new search
/// starts the list at its first page.
fn search(lang: Lang, view: &AdminView, list: &str, label: &str) -> Markup {
    let field = format!("{list}_q");
    let id = format!("{list}-q");
    let fields = view.fields();
    let value = fields
        .iter()
        .find(|(key, _)| *key == field)
        .and_then(|(_, v)| v.as_deref());
    html! {
        form method="get" action={ "/console/admin#" (list) } class="inline search" role="search" {
            @for (key, v) in fields {
                @if !key.starts_with(list) {
                    @if let Some(v) = v.as_deref().filter(|v| !v.is_empty()) {
                        input type="hidden" name=(key) value=(v);
                    }
                }
            }
            label for=(id) { (label) } " "
            input id=(id) name=(field) type="search" value=(value.unwrap_or("")) maxlength="100";
            " " button type="submit" class="secondary" { (lang.t("查找", "Find")) }
        }
    }
}

fn sla_cell(lang: Lang, c: &Category, p: Priority) -> String {
    let rule = c.sla.get(p);
    let clock = match rule.clock {
        ClockKind::Calendar => lang.t("自然时", "24×7"),
        ClockKind::Working => lang.t("工作时", "working"),
    };
    format!(
        "{} / {} ({clock})",
        layout::span(lang, i64::from(rule.respond_minutes)),
        layout::span(lang, i64::from(rule.resolve_minutes))
    )
}

/// What a POST has to show on the page it answers with.
#[derive(Default)]
struct Flash {
    /// Why an Open311 key was not issued.
    banner: Option<Markup>,
    /// A key just issued, shown this once.
    issued_key: Option<IssuedKey>,
    /// An account just created or reset, or why not; in the accounts section.
    account: Option<Markup>,
    /// The new-account form as typed, and its errors.
    form: AccountForm,
    errors: Vec<FieldError>,
    /// What the page shows of each list.
    view: AdminView,
}

fn admin_page(state: &AppState, session: &Session, o: &Overview, flash: &Flash) -> Markup {
    let lang = session.lang;
    let view = &flash.view;
    let cal = &state.settings.calendar;
    let issued = flash.issued_key.as_ref();
    let body = html! {
        @if let Some(b) = &flash.banner { (b) }
        nav aria-label=(lang.t("本页目录", "On this page")) {
            p {
                a href="#org" { (lang.t("组织架构", "Org tree")) } " · "
                a href="#partners" { (lang.t("共建单位", "Partner units")) } " · "
                a href="#categories" { (lang.t("类别与时限", "Categories and SLAs")) } " · "
                a href="#calendar" { (lang.t("工作日历", "Calendar")) } " · "
                a href="#users" { (lang.t("账号", "Accounts")) } " · "
                a href="#keys" { (lang.t("Open311 密钥", "Open311 keys")) } " · "
                a href="#outbox" { (lang.t("邮件发送", "Outbox")) }
            }
        }
        section aria-labelledby="outbox" {
            h2 id="outbox" { (lang.t("邮件发送状态", "Outbox")) }
            dl class="facts card" {
                dt { (lang.t("待发送", "Pending")) } dd { (o.outbox.pending) }
                dt { (lang.t("发送失败待重试", "Failing, will retry")) } dd {
                    (o.outbox.failing)
                    @if o.outbox.failing > 0 { " " span class="badge late" { "!" } }
                }
                dt { (lang.t("已发送", "Sent")) } dd { (o.outbox.sent) }
                @if let Some(e) = &o.outbox.last_error {
                    dt { (lang.t("最近错误", "Last error")) } dd { code { (e) } }
                }
            }
        }
        section aria-labelledby="keys" {
            h2 id="keys" { (lang.t("Open311 接入密钥", "Open311 keys")) }
            @if let Some(k) = issued {
                div class="notice ok" role="status" {
                    (lang.t("新密钥（只显示这一次，请立即交给接入方）：", "The new key (shown this once; hand it to the channel now): "))
                    code id="issued-key" { (k.api_key) }
                }
            }
            table class="cards" {
                thead { tr {
                    th scope="col" { (lang.t("渠道", "Channel")) }
                    th scope="col" { (lang.t("密钥前缀", "Key prefix")) }
                    th scope="col" { (lang.t("创建", "Created")) }
                    th scope="col" { (lang.t("状态", "Status")) }
                } }
                tbody { @for k in &o.keys { tr {
                    td data-label=(lang.t("渠道", "Channel")) { (k.channel) }
                    td data-label=(lang.t("密钥前缀", "Key prefix")) { code { (k.key_prefix) "…" } }
                    td data-label=(lang.t("创建", "Created")) { (layout::china(k.created_at)) }
                    td data-label=(lang.t("状态", "Status")) {
                        @if let Some(at) = k.revoked_at {
                            (lang.t("已吊销 ", "revoked ")) (layout::china(at))
                        } @else {
                            form method="post" action={ "/console/admin/open311-keys/" (k.id) "/revoke" } class="inline" {
                                (csrf_field(session))
                                button type="submit" class="secondary" data-confirm=(lang.t("吊销后该渠道将无法提交诉求，确定吗？", "The channel will no longer be able to file requests. Revoke?")) { (lang.t("吊销", "Revoke")) }
                            }
                        }
                    }
                } } }
            }
            form method="post" action="/console/admin/open311-keys#keys" class="stack card" {
                (csrf_field(session))
                label for="channel" { (lang.t("新渠道名称（小写字母、数字、_ 和 -）", "New channel name (a-z, 0-9, _ and -)")) }
                input id="channel" name="channel" type="text" required pattern="[a-z0-9_-]{2,40}";
                button type="submit" { (lang.t("签发密钥", "Issue a key")) }
            }
        }
        section aria-labelledby="org" {
            h2 id="org" { (lang.t("组织架构", "Org tree")) }
            (tree(lang, view, o))
        }
        section aria-labelledby="partners" {
            h2 id="partners" { (lang.t("共建单位", "Partner units")) " · " (o.partners_total) }
            (search(lang, view, "partners", lang.t("名称含", "Name contains")))
            table class="cards" {
                thead { tr {
                    th scope="col" { (lang.t("名称", "Name")) }
                    th scope="col" { (lang.t("类型", "Kind")) }
                    th scope="col" { (lang.t("联系邮箱", "Email")) }
                    th scope="col" { (lang.t("可办类别", "Categories")) }
                    th scope="col" class="num" { (lang.t("结对社区数", "Communities")) }
                    th scope="col" { (lang.t("操作", "Actions")) }
                } }
                tbody { @for p in &o.partners.items { tr {
                    td data-label=(lang.t("名称", "Name")) { (p.name) @if !p.active { " " span class="badge" { (lang.t("停用", "inactive")) } } }
                    td data-label=(lang.t("类型", "Kind")) { (p.kind) }
                    td data-label=(lang.t("联系邮箱", "Email")) { (p.contact_email) }
                    td data-label=(lang.t("可办类别", "Categories")) { (p.categories.join(", ")) }
                    td data-label=(lang.t("结对社区数", "Communities")) class="num" { (p.communities.len()) }
                    td data-label=(lang.t("操作", "Actions")) {
                        a href=(view.href(&[("account_partner", Some(p.id.to_string()))], "new-account")) { (lang.t("为其新建账号", "New account here")) }
                    }
                } } }
            }
            (view.pager(lang, "partners", "partners", &o.partners))
        }
        section aria-labelledby="categories" {
            h2 id="categories" { (lang.t("类别与办理时限", "Categories and SLA policies")) }
            p class="muted" { (lang.t("每格：响应时限 / 办结时限（计时方式）", "Each cell: respond within / resolve within (clock)")) }
            table class="cards" {
                thead { tr {
                    th scope="col" { (lang.t("类别", "Category")) }
                    @for p in Priority::ALL { th scope="col" { (layout::priority_name(lang, *p)) } }
                } }
                tbody { @for c in &o.categories { tr {
                    td data-label=(lang.t("类别", "Category")) {
                        (match lang { Lang::Zh => &c.name_zh, Lang::En => &c.name_en }) " " code { (c.code) }
                        @if !c.active { " " span class="badge" { (lang.t("停用", "inactive")) } }
                    }
                    @for p in Priority::ALL { td data-label=(layout::priority_name(lang, *p)) { (sla_cell(lang, c, *p)) } }
                } } }
            }
        }
        section aria-labelledby="calendar" {
            h2 id="calendar" { (lang.t("工作日历", "Working calendar in force")) }
            dl class="facts card" {
                dt { (lang.t("时区", "Time zone")) } dd { (cal.timezone) }
                dt { (lang.t("工作时间", "Working hours")) } dd { (cal.working_hours.join(", ")) }
                dt { (lang.t("工作日", "Working days")) } dd { (cal.working_days.join(", ")) }
                @for (year, holidays, makeup) in state.calendar.year_summary() {
                    dt { code { "config/calendar/" (year) ".toml" } }
                    dd { (lang.t("节假日 ", "holidays ")) (holidays) (lang.t(" 天，调休上班 ", ", make-up working days ")) (makeup) (lang.t(" 天", "")) }
                }
            }
        }
        section aria-labelledby="users" {
            h2 id="users" { (lang.t("账号", "Accounts")) " · " (o.users_total) }
            @if let Some(m) = &flash.account { (m) }
            (search(lang, view, "users", lang.t("用户名或姓名含", "Username or name contains")))
            (accounts_table(session, o))
            (view.pager(lang, "users", "users", &o.users))
            (account_form(session, o, &flash.form, &flash.errors))
        }
    };
    page(
        session,
        Nav::Admin,
        "/console/admin",
        lang.t("系统管理", "Administration"),
        body,
    )
}

/// `GET /console/admin`
pub async fn page_handler(
    state: web::Data<AppState>,
    session: Session,
    view: web::Query<AdminView>,
) -> ConsoleResult {
    let flash = Flash {
        view: view.into_inner(),
        ..Flash::default()
    };
    respond(&state, &session, StatusCode::OK, flash).await
}

/// The page, read fresh after whatever the POST changed.
async fn respond(
    state: &AppState,
    session: &Session,
    status: StatusCode,
    flash: Flash,
) -> ConsoleResult {
    let o = overview(state, session, &flash.view).await?;
    Ok(html_response(
        status,
        admin_page(state, session, &o, &flash),
    ))
}

#[derive(Deserialize)]
pub struct KeyForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    channel: String,
}

/// `POST /console/admin/open311-keys`: issues a key and shows it once.
pub async fn create_key(
    state: web::Data<AppState>,
    CsrfForm(session, form): CsrfForm<KeyForm>,
) -> ConsoleResult {
    let input = NewKey {
        channel: form.channel.trim().to_owned(),
        org_unit_id: None,
    };
    let issued = session
        .run(&state, move |conn, actor, now| {
            open311::create_key(conn, actor, &input, now)
        })
        .await;
    let lang = session.lang;
    let (status, flash) = match issued {
        Ok(k) => (
            StatusCode::CREATED,
            Flash {
                issued_key: Some(k),
                ..Flash::default()
            },
        ),
        Err(e) => {
            let (status, banner) = refusal(lang, lang.t("未能签发：", "Not issued: "), e)?;
            (
                status,
                Flash {
                    banner: Some(banner),
                    ..Flash::default()
                },
            )
        }
    };
    respond(&state, &session, status, flash).await
}

/// A refused change as a notice with its status; other errors stay errors (their pages).
fn refusal(
    lang: Lang,
    prefix: &str,
    e: ConsoleError,
) -> Result<(StatusCode, Markup), ConsoleError> {
    match e {
        ConsoleError::Core(CoreError::Invalid(errors)) => Ok((
            StatusCode::UNPROCESSABLE_ENTITY,
            html! {
                div class="notice error" role="alert" {
                    (prefix)
                    @for e in &errors { (field_label(lang, &e.field)) "：" (e.message) " " }
                }
            },
        )),
        ConsoleError::Core(CoreError::Conflict { message, .. }) => Ok((
            StatusCode::CONFLICT,
            notice("error", &format!("{prefix}{message}")),
        )),
        e => Err(e),
    }
}

/// `POST /console/admin/open311-keys/{id}/revoke`
pub async fn revoke_key(
    state: web::Data<AppState>,
    id: web::Path<i64>,
    CsrfForm(session, _): CsrfForm<TokenOnly>,
) -> ConsoleResult {
    let id = id.into_inner();
    session
        .run(&state, move |conn, actor, now| {
            open311::revoke_key(conn, actor, id, now)
        })
        .await?;
    Ok(see_other("/console/admin#keys"))
}

fn field_label(lang: Lang, field: &str) -> &'static str {
    match field {
        "channel" => lang.t("渠道名称", "Channel"),
        "username" => lang.t("用户名", "Username"),
        "display_name" => lang.t("姓名", "Name"),
        "email" => lang.t("邮箱", "Email"),
        "password" => lang.t("初始密码", "Initial password"),
        "role" => lang.t("角色", "Role"),
        "org_unit_id" => lang.t("所属组织", "Org unit"),
        "partner_id" => lang.t("所属共建单位", "Partner unit"),
        "active" => lang.t("状态", "Status"),
        _ => lang.t("内容", "Input"),
    }
}

fn accounts_table(session: &Session, o: &Overview) -> Markup {
    let lang = session.lang;
    html! {
        table class="cards" {
            thead { tr {
                th scope="col" { (lang.t("用户名", "Username")) }
                th scope="col" { (lang.t("姓名", "Name")) }
                th scope="col" { (lang.t("角色", "Role")) }
                th scope="col" { (lang.t("范围", "Scope")) }
                th scope="col" { (lang.t("状态", "Status")) }
                th scope="col" { (lang.t("操作", "Actions")) }
            } }
            tbody { @for u in &o.users.items { tr id={ "user-" (u.id) } {
                td data-label=(lang.t("用户名", "Username")) { (u.username) }
                td data-label=(lang.t("姓名", "Name")) { (u.display_name) }
                td data-label=(lang.t("角色", "Role")) { (layout::role_name(lang, u.role)) }
                td data-label=(lang.t("范围", "Scope")) { (o.scopes.get(&u.id).map(String::as_str).unwrap_or("—")) }
                td data-label=(lang.t("状态", "Status")) {
                    @if u.active { (lang.t("启用", "active")) } @else { span class="badge" { (lang.t("停用", "disabled")) } }
                }
                td data-label=(lang.t("操作", "Actions")) {
                    @if u.id == session.user_id {
                        a href="/console/account" { (lang.t("我的账号", "My account")) }
                    } @else {
                        form method="post" action={ "/console/admin/users/" (u.id) "/active" } class="inline" {
                            (csrf_field(session))
                            @if u.active {
                                input type="hidden" name="active" value="false";
                                button type="submit" class="secondary" aria-label={ (lang.t("停用 ", "Disable ")) (u.username) }
                                    data-confirm=(lang.t("停用后该账号立即退出且不能登录，确定吗？", "The account is signed out at once and cannot sign in. Disable it?")) {
                                    (lang.t("停用", "Disable"))
                                }
                            } @else {
                                input type="hidden" name="active" value="true";
                                button type="submit" class="secondary" aria-label={ (lang.t("启用 ", "Enable ")) (u.username) } { (lang.t("启用", "Enable")) }
                            }
                        }
                        " "
                        form method="post" action={ "/console/admin/users/" (u.id) "/password#users" } class="inline" {
                            (csrf_field(session))
                            button type="submit" class="secondary" aria-label={ (lang.t("重置密码 ", "Reset the password of ")) (u.username) }
                                data-confirm=(lang.t("将生成新密码，该账号现有登录全部失效，确定吗？", "A new password is made and every sign-in of the account ends. Reset?")) {
                                (lang.t("重置密码", "Reset password"))
                            }
                        }
                    }
                }
            } } }
        }
    }
}

/// The new-account form, as typed when it comes back with errors.
#[derive(Default, Deserialize)]
pub struct AccountForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    display_name: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    org_unit_id: String,
    #[serde(default)]
    partner_id: String,
    #[serde(default)]
    password: String,
}

impl AccountForm {
    /// The form as the core's new account, or the fields that are not even readable.
    fn to_new_user(&self) -> Result<(NewUser, bool), Vec<FieldError>> {
        let mut errors = Vec::new();
        let role = match self.role.parse::<Role>() {
            Ok(r) => Some(r),
            Err(_) => {
                errors.push(FieldError::new("role", "required", "choose a role"));
                None
            }
        };
        let mut id = |field: &str, text: &str| -> Option<i64> {
            let text = text.trim();
            if text.is_empty() {
                return None;
            }
            text.parse()
                .map_err(|_| {
                    errors.push(FieldError::new(
                        field,
                        "invalid",
                        "an id from the lists above",
                    ))
                })
                .ok()
        };
        let org_unit_id = id("org_unit_id", &self.org_unit_id).map(OrgUnitId);
        let partner_id = id("partner_id", &self.partner_id).map(PartnerId);
        let (Some(role), true) = (role, errors.is_empty()) else {
            return Err(errors);
        };
        let generated = self.password.is_empty();
        let email = self.email.trim();
        Ok((
            NewUser {
                username: self.username.trim().to_owned(),
                display_name: self.display_name.clone(),
                email: (!email.is_empty()).then(|| email.to_owned()),
                password: if generated {
                    users::generated_password()
                } else {
                    self.password.clone()
                },
                role,
                org_unit_id,
                partner_id,
            },
            generated,
        ))
    }
}

fn account_form(
    session: &Session,
    o: &Overview,
    form: &AccountForm,
    errors: &[FieldError],
) -> Markup {
    let lang = session.lang;
    let error_of = |field: &str| errors.iter().find(|e| e.field == field);
    let invalid = |field: &str| error_of(field).map(|_| "true");
    let problem = |field: &str| {
        html! {
            @if let Some(e) = error_of(field) {
                span id={ "new-" (field) "-error" } class="field-error" { (e.message) }
            }
        }
    };
    let text =
        |field: &'static str, kind: &'static str, value: &str, required: bool, hint: &str| {
            layout::Field {
                id: &format!("new-{field}"),
                name: field,
                label: field_label(lang, field),
                kind,
                value,
                required,
                autocomplete: Some("off"),
                hint: (!hint.is_empty()).then_some(hint),
                error: error_of(field).map(|e| e.message.clone()),
            }
            .render()
        };
    html! {
        h3 id="new-account" { (lang.t("新建账号", "New account")) }
        @if !errors.is_empty() {
            div class="notice error" role="alert" {
                (lang.t("账号未创建：", "The account was not created: "))
                ul { @for e in errors { li { a href={ "#new-" (e.field) } { (field_label(lang, &e.field)) } "：" (e.message) } } }
            }
        }
        form method="post" action="/console/admin/users#users" class="stack card" aria-labelledby="new-account" {
            (csrf_field(session))
            (text("username", "text", &form.username, true, lang.t("字母、数字、. _ -，至少 3 个字符", "letters, digits, . _ -; 3 or more")))
            (text("display_name", "text", &form.display_name, true, ""))
            (text("email", "email", &form.email, false, lang.t("督办人员的超时提醒发到这里", "Where a supervisor's overdue mail goes")))
            label for="new-role" { (field_label(lang, "role")) " *" }
            select id="new-role" name="role" required aria-invalid=[invalid("role")]
                aria-describedby=[invalid("role").map(|_| "new-role-error")] {
                option value="" { (lang.t("请选择", "Choose")) }
                @for r in Role::ALL {
                    option value=(r.as_str()) selected[form.role == r.as_str()] { (layout::role_name(lang, *r)) }
                }
            }
            (problem("role"))
            @let unit_value = if form.org_unit_id.is_empty() { o.account_unit.as_ref().map(|u| u.id.to_string()).unwrap_or_default() } else { form.org_unit_id.clone() };
            @let unit_hint = match &o.account_unit {
                Some(u) => format!("{} ({}) · {}", u.name, u.kind, lang.t("网格员选网格；督办选城市、区、街道或社区；共建单位人员不填", "a grid for a grid member; a city, district, street or community for a supervisor; none for unit staff")),
                None => lang.t("在上面的组织架构中点“在此新建账号”填入；网格员选网格，督办选城市、区、街道或社区，共建单位人员不填", "Filled in by “New account here” in the org tree above: a grid for a grid member, a city, district, street or community for a supervisor, none for unit staff").to_owned(),
            };
            (text("org_unit_id", "text", &unit_value, false, &unit_hint))
            @let partner_value = if form.partner_id.is_empty() { o.account_partner.as_ref().map(|p| p.id.to_string()).unwrap_or_default() } else { form.partner_id.clone() };
            @let partner_hint = match &o.account_partner {
                Some(p) => p.name.clone(),
                None => lang.t("共建单位人员：在上面的共建单位中点“为其新建账号”填入", "Unit staff: filled in by “New account here” in the partner units above").to_owned(),
            };
            (text("partner_id", "text", &partner_value, false, &partner_hint))
            (text("password", "text", "", false, lang.t("留空则自动生成；至少 10 个字符", "Leave empty to have one made; 10 characters or more")))
            button type="submit" { (lang.t("创建账号", "Create the account")) }
        }
    }
}

/// A password shown this once, for the administrator to hand over.
fn shown_once(lang: Lang, what: &str, username: &str, password: &str) -> Markup {
    html! {
        div class="notice ok" role="status" {
            (what) " " strong { (username) } " · "
            (lang.t("密码（只显示这一次，请交给本人并提醒其登录后修改）：", "Password (shown this once; hand it over and ask for a change after signing in): "))
            code id="issued-password" { (password) }
        }
    }
}

/// `POST /console/admin/users`: creates an account; a password left empty is made here
/// and shown once.
pub async fn create_user(
    state: web::Data<AppState>,
    CsrfForm(session, form): CsrfForm<AccountForm>,
) -> ConsoleResult {
    let lang = session.lang;
    let (input, generated) = match form.to_new_user() {
        Ok(ok) => ok,
        Err(errors) => {
            let flash = Flash {
                form,
                errors,
                ..Flash::default()
            };
            return respond(&state, &session, StatusCode::UNPROCESSABLE_ENTITY, flash).await;
        }
    };
    let password = input.password.clone();
    let created = session
        .run(&state, move |conn, actor, now| {
            users::create(conn, actor, &input, now)
        })
        .await;
    let flash = match created {
        Ok(user) => {
            tracing::info!(admin = %session.username, user = %user.username, "console: account created");
            let created = lang.t("账号已创建：", "Account created: ");
            let account = if generated {
                shown_once(lang, created, &user.username, &password)
            } else {
                notice("ok", &format!("{created}{}", user.username))
            };
            return respond(
                &state,
                &session,
                StatusCode::CREATED,
                Flash {
                    account: Some(account),
                    view: AdminView::account(&user.username),
                    ..Flash::default()
                },
            )
            .await;
        }
        Err(ConsoleError::Core(CoreError::Invalid(errors))) => Flash {
            form,
            errors,
            ..Flash::default()
        },
        Err(ConsoleError::Core(CoreError::Conflict { message, .. })) => {
            let errors = vec![FieldError::new("username", "taken", message)];
            let flash = Flash {
                form,
                errors,
                ..Flash::default()
            };
            return respond(&state, &session, StatusCode::CONFLICT, flash).await;
        }
        Err(e) => return Err(e),
    };
    respond(&state, &session, StatusCode::UNPROCESSABLE_ENTITY, flash).await
}

#[derive(Deserialize)]
pub struct ActiveForm {
    #[serde(default)]
    csrf: String,
    active: bool,
}

urlencoded_forms!(KeyForm, AccountForm, ActiveForm);

/// `POST /console/admin/users/{id}/active`: disables an account (signed out at once) or
/// enables it again.
pub async fn set_active(
    state: web::Data<AppState>,
    id: web::Path<i64>,
    CsrfForm(session, form): CsrfForm<ActiveForm>,
) -> ConsoleResult {
    let (id, active) = (UserId(id.into_inner()), form.active);
    let change = UserChange {
        active: Some(active),
        ..UserChange::default()
    };
    let changed = session
        .run(&state, move |conn, actor, now| {
            users::update(conn, actor, id, &change, now)
        })
        .await;
    state.accounts.forget_account(id);
    match changed {
        Ok(user) => {
            tracing::info!(admin = %session.username, user = %user.username, active, "console: account status changed");
            let found = AdminView::account(&user.username);
            Ok(see_other(&found.href(&[], &format!("user-{id}"))))
        }
        Err(e) => {
            let (status, account) = refusal(
                session.lang,
                session.lang.t("未能修改：", "Not changed: "),
                e,
            )?;
            respond(
                &state,
                &session,
                status,
                Flash {
                    account: Some(account),
                    ..Flash::default()
                },
            )
            .await
        }
    }
}

/// `POST /console/admin/users/{id}/password`: a new password, made here and shown once;
/// the account's sessions end and a sign-in throttle is lifted.
pub async fn reset_password(
    state: web::Data<AppState>,
    id: web::Path<i64>,
    CsrfForm(session, _): CsrfForm<TokenOnly>,
) -> ConsoleResult {
    let id = UserId(id.into_inner());
    if id == session.user_id {
        // Here it would end this very session; one's own goes through the account page.
        return Ok(see_other("/console/account"));
    }
    let password = users::generated_password();
    let change = UserChange {
        password: Some(password.clone()),
        ..UserChange::default()
    };
    let user = session
        .run(&state, move |conn, actor, now| {
            users::update(conn, actor, id, &change, now)
        })
        .await;
    state.accounts.forget_account(id);
    let user = user?;
    tracing::info!(admin = %session.username, user = %user.username, "console: password reset");
    let lang = session.lang;
    let account = shown_once(
        lang,
        lang.t("密码已重置：", "Password reset: "),
        &user.username,
        &password,
    );
    respond(
        &state,
        &session,
        StatusCode::OK,
        Flash {
            account: Some(account),
            view: AdminView::account(&user.username),
            ..Flash::default()
        },
    )
    .await
}
