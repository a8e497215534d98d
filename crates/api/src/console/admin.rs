//! The administrator's page: the org tree, partner units, categories with their SLA
//! policies, the working calendar in force, accounts, Open311 keys (issue and revoke)
//! and the outbox. Changes to the tree, units, categories and accounts go through the
//! API (`/api/v1`), whose forms of record these are.

use std::collections::HashMap;

use actix_web::http::StatusCode;
use actix_web::web;
use jiesu_core::categories::{self, Category};
use jiesu_core::ids::OrgUnitId;
use jiesu_core::open311::{self, IssuedKey, Key, NewKey};
use jiesu_core::org::{self, OrgUnit, OrgUnitFilter};
use jiesu_core::outbox::{self, OutboxStatus};
use jiesu_core::pagination::{Page, PageRequest};
use jiesu_core::partners::{self, Partner, PartnerFilter};
use jiesu_core::types::{ClockKind, Priority, Role};
use jiesu_core::users::{self, User, UserFilter};
use jiesu_core::{CoreError, CoreResult, FieldError};
use maud::{html, Markup};
use serde::Deserialize;

use super::layout::{self, csrf_field, notice, page, Lang, Nav};
use super::session::CsrfForm;
use super::{html_response, see_other, ConsoleError, ConsoleResult, Session};
use crate::state::AppState;

/// Every page of a paged core list, for an administrator's overview.
fn all<T>(mut read: impl FnMut(PageRequest) -> CoreResult<Page<T>>) -> CoreResult<Vec<T>> {
    let mut out = Vec::new();
    let mut after = None;
    loop {
        let page = read(PageRequest { after, limit: 200 })?;
        out.extend(page.items);
        match page.next_cursor {
            Some(cursor) => after = PageRequest::parse(Some(&cursor), None)?.after,
            None => return Ok(out),
        }
    }
}

struct Overview {
    units: Vec<OrgUnit>,
    partners: Vec<Partner>,
    categories: Vec<Category>,
    users: Vec<User>,
    keys: Vec<Key>,
    outbox: OutboxStatus,
}

async fn overview(state: &AppState, session: &Session) -> Result<Overview, ConsoleError> {
    session
        .run(state, |conn, actor, _| {
            actor.require_role(
                &[Role::Admin],
                "the administration page is for administrators",
            )?;
            Ok(Overview {
                units: all(|p| org::list(conn, actor, &OrgUnitFilter::default(), p))?,
                partners: all(|p| partners::list(conn, actor, &PartnerFilter::default(), p))?,
                categories: all(|p| categories::list(conn, None, p))?,
                users: all(|p| users::list(conn, actor, &UserFilter::default(), p))?,
                keys: open311::list_keys(conn, actor)?,
                outbox: outbox::status(conn)?,
            })
        })
        .await
}

fn tree(units: &[OrgUnit]) -> Markup {
    let mut children: HashMap<Option<OrgUnitId>, Vec<&OrgUnit>> = HashMap::new();
    for u in units {
        children.entry(u.parent_id).or_default().push(u);
    }
    fn branch(
        parent: Option<OrgUnitId>,
        children: &HashMap<Option<OrgUnitId>, Vec<&OrgUnit>>,
    ) -> Markup {
        html! {
            @if let Some(list) = children.get(&parent) {
                ul {
                    @for u in list {
                        li {
                            (u.name) " " span class="muted" { (u.kind) " · " (u.code) }
                            @if !u.supervisor_emails.is_empty() {
                                " " span class="muted" { "✉ " (u.supervisor_emails.join(", ")) }
                            }
                            (branch(Some(u.id), children))
                        }
                    }
                }
            }
        }
    }
    html! { div class="tree card" { (branch(None, &children)) } }
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

fn admin_page(
    state: &AppState,
    session: &Session,
    o: &Overview,
    banner: Option<Markup>,
    issued: Option<&IssuedKey>,
) -> Markup {
    let lang = session.lang;
    let cal = &state.settings.calendar;
    let body = html! {
        @if let Some(b) = banner { (b) }
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
            form method="post" action="/console/admin/open311-keys" class="stack card" {
                (csrf_field(session))
                label for="channel" { (lang.t("新渠道名称（小写字母、数字、_ 和 -）", "New channel name (a-z, 0-9, _ and -)")) }
                input id="channel" name="channel" type="text" required pattern="[a-z0-9_-]{2,40}";
                button type="submit" { (lang.t("签发密钥", "Issue a key")) }
            }
        }
        section aria-labelledby="org" {
            h2 id="org" { (lang.t("组织架构", "Org tree")) " · " (o.units.len()) }
            (tree(&o.units))
        }
        section aria-labelledby="partners" {
            h2 id="partners" { (lang.t("共建单位", "Partner units")) " · " (o.partners.len()) }
            table class="cards" {
                thead { tr {
                    th scope="col" { (lang.t("名称", "Name")) }
                    th scope="col" { (lang.t("类型", "Kind")) }
                    th scope="col" { (lang.t("联系邮箱", "Email")) }
                    th scope="col" { (lang.t("可办类别", "Categories")) }
                    th scope="col" class="num" { (lang.t("结对社区数", "Communities")) }
                } }
                tbody { @for p in &o.partners { tr {
                    td data-label=(lang.t("名称", "Name")) { (p.name) @if !p.active { " " span class="badge" { (lang.t("停用", "inactive")) } } }
                    td data-label=(lang.t("类型", "Kind")) { (p.kind) }
                    td data-label=(lang.t("联系邮箱", "Email")) { (p.contact_email) }
                    td data-label=(lang.t("可办类别", "Categories")) { (p.categories.join(", ")) }
                    td data-label=(lang.t("结对社区数", "Communities")) class="num" { (p.communities.len()) }
                } } }
            }
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
            h2 id="users" { (lang.t("账号", "Accounts")) " · " (o.users.len()) }
            table class="cards" {
                thead { tr {
                    th scope="col" { (lang.t("用户名", "Username")) }
                    th scope="col" { (lang.t("姓名", "Name")) }
                    th scope="col" { (lang.t("角色", "Role")) }
                    th scope="col" { (lang.t("状态", "Status")) }
                } }
                tbody { @for u in &o.users { tr {
                    td data-label=(lang.t("用户名", "Username")) { (u.username) }
                    td data-label=(lang.t("姓名", "Name")) { (u.display_name) }
                    td data-label=(lang.t("角色", "Role")) { (layout::role_name(lang, u.role)) }
                    td data-label=(lang.t("状态", "Status")) { @if u.active { (lang.t("启用", "active")) } @else { (lang.t("停用", "disabled")) } }
                } } }
            }
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
pub async fn page_handler(state: web::Data<AppState>, session: Session) -> ConsoleResult {
    let o = overview(&state, &session).await?;
    Ok(html_response(
        StatusCode::OK,
        admin_page(&state, &session, &o, None, None),
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
    session: Session,
    form: web::Form<KeyForm>,
) -> ConsoleResult {
    session.check(&state, &form.csrf)?;
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
    let (banner, issued, status) = match issued {
        Ok(k) => (None, Some(k), StatusCode::CREATED),
        Err(ConsoleError::Core(CoreError::Invalid(errors))) => (
            Some(field_errors(lang, &errors)),
            None,
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        Err(ConsoleError::Core(CoreError::Conflict { message, .. })) => {
            (Some(notice("error", &message)), None, StatusCode::CONFLICT)
        }
        Err(e) => return Err(e),
    };
    let o = overview(&state, &session).await?;
    Ok(html_response(
        status,
        admin_page(&state, &session, &o, banner, issued.as_ref()),
    ))
}

fn field_errors(lang: Lang, errors: &[FieldError]) -> Markup {
    html! {
        div class="notice error" role="alert" {
            (lang.t("未能签发：", "Not issued: "))
            @for e in errors { (e.field) "：" (e.message) " " }
        }
    }
}

/// `POST /console/admin/open311-keys/{id}/revoke`
pub async fn revoke_key(
    state: web::Data<AppState>,
    session: Session,
    id: web::Path<i64>,
    form: web::Form<CsrfForm>,
) -> ConsoleResult {
    session.check(&state, &form.csrf)?;
    let id = id.into_inner();
    session
        .run(&state, move |conn, actor, now| {
            open311::revoke_key(conn, actor, id, now)
        })
        .await?;
    Ok(see_other("/console/admin#keys"))
}
