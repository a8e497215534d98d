//! One ticket: its facts, timeline and photos, and the actions its reader may take.

use super::*;

pub(super) struct Shown {
    pub(super) detail: TicketDetail,
    pub(super) category: Category,
    /// Units that may take it (for dispatch and summon), when the reader may dispatch.
    pub(super) units: Vec<Partner>,
    pub(super) community: String,
    pub(super) holder: Option<String>,
    pub(super) names: HashMap<i64, String>,
    /// Where it may be merged: the open tickets of its category in its community logged
    /// in the last week, when the reader may merge it.
    pub(super) duplicates: Vec<Ticket>,
    pub(super) now: NaiveDateTime,
}

/// How far back the merge form looks for the ticket a duplicate repeats.
const DUPLICATE_DAYS: i64 = 7;

/// The open tickets of `t`'s category in its community logged in the last week, newest
/// first, `t` left out: what a duplicate most likely repeats.
fn likely_originals(
    conn: &mut jiesu_core::db::DbConnection,
    reference: &jiesu_core::reference::Reference,
    actor: &jiesu_core::Actor,
    (t, category): (&Ticket, &str),
    now: NaiveDateTime,
) -> jiesu_core::CoreResult<Vec<Ticket>> {
    let filter = TicketFilter {
        statuses: jiesu_core::today::OPEN.to_vec(),
        category: Some(category.to_owned()),
        org_unit_id: Some(t.community_id),
        created_from: Some(now - chrono::Duration::days(DUPLICATE_DAYS)),
        ..TicketFilter::default()
    };
    let page = PageRequest {
        after: None,
        limit: 11,
    };
    let mut found = queries::list(conn, reference, actor, &filter, page, now)?.items;
    found.retain(|other| other.id != t.id);
    found.truncate(10);
    Ok(found)
}

pub(super) async fn load_ticket(
    state: &AppState,
    session: &Session,
    id: TicketId,
) -> Result<Shown, ConsoleError> {
    let dispatches = matches!(session.role, Role::Supervisor | Role::Admin);
    let reference = state.reference.clone();
    session
        .run(state, move |conn, actor, now| {
            let detail = queries::get(conn, actor, id, "GET /console/tickets/{id}", now)?;
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
            let duplicates = if detail.actions.contains(&ActionKind::Merge) {
                let of = (&detail.ticket, category.code.as_str());
                likely_originals(conn, &reference, actor, of, now)?
            } else {
                Vec::new()
            };
            Ok(Shown {
                detail,
                category,
                units,
                community,
                holder,
                names,
                duplicates,
                now,
            })
        })
        .await
}

/// A ticket's page: its facts and photos, what its reader may do, and its timeline.
pub(super) fn ticket_page(session: &Session, shown: &Shown, banner: Option<Markup>) -> Markup {
    let lang = session.lang;
    let t = &shown.detail.ticket;
    let body = html! {
        @if let Some(b) = banner { (b) }
        p class="screen-only" {
            button type="button" class="secondary" data-print { (lang.t("打印工单", "Print the ticket")) }
        }
        div class="two" {
            (facts(lang, shown))
            (actions(session, shown))
        }
        (timeline(lang, shown))
        // On paper (工单): the lines the unit and the visit sign.
        section class="print-only signatures" aria-hidden="true" {
            p { (lang.t("承办单位（签章）：", "Unit (signature and seal): ")) span class="line" {} }
            p { (lang.t("办结日期：", "Resolved on: ")) span class="line" {} }
            p { (lang.t("回访人：", "Return visit by: ")) span class="line" {} }
            p { (lang.t("居民意见：", "The resident's view: ")) span class="line" {} }
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

/// What the ticket is, where, for whom, who holds it and by when; its photos.
fn facts(lang: Lang, shown: &Shown) -> Markup {
    let t = &shown.detail.ticket;
    let now = shown.now;
    html! {
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
                @let intake = &shown.detail.intake;
                dt { (lang.t("来源", "Came in by")) } dd {
                    (layout::channel_name(lang, intake.channel))
                    @if let (Some(hotline), Some(number)) = (&intake.hotline, &intake.hotline_ref) {
                        " · " (hotline) " " (lang.t("工单号", "number")) " " span class="number" { (number) }
                    }
                }
                dt { (lang.t("期限", "Deadline")) } dd { (deadline_cell(lang, t, now)) }
                @if let Some(s) = t.satisfaction {
                    dt { (lang.t("满意度", "Satisfaction")) } dd { (layout::satisfaction_name(lang, s)) }
                }
                @if let Some(r) = &shown.detail.open311 {
                    dt { (lang.t("应用渠道", "App channel")) } dd { "Open311 · " (r.channel) }
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
    }
}

/// A form for each action core would accept from this reader now (the lifecycle's table).
fn actions(session: &Session, shown: &Shown) -> Markup {
    let lang = session.lang;
    let t = &shown.detail.ticket;
    let holds =
        matches!(session.scope, Scope::Partner { partner } if t.partner_id == Some(partner));
    let can = |kind: ActionKind| shown.detail.actions.contains(&kind);
    let action = format!("/console/tickets/{}/act", t.id);
    // A form for an action with a note; one that cannot be undone asks for `confirm`, a
    // box to tick (checked again by the server), before it is sent.
    let form_with = |name: &'static str,
                     field: &'static str,
                     label: (&str, &str),
                     button: (&str, &str),
                     confirm: Option<(&str, &str)>| {
        html! {
            details {
                summary { (lang.t(button.0, button.1)) }
                form method="post" action=(action) class="stack" {
                    (csrf_field(session))
                    input type="hidden" name="action" value=(name);
                    label for={ (name) "-" (field) } { (lang.t(label.0, label.1)) }
                    textarea id={ (name) "-" (field) } name=(field) required {}
                    @if let Some(confirm) = confirm {
                        label class="confirm" {
                            input type="checkbox" id={ (name) "-confirm" } name="confirm" value="1" required;
                            " " (lang.t(confirm.0, confirm.1))
                        }
                    }
                    button type="submit" { (lang.t(button.0, button.1)) }
                }
            }
        }
    };
    let note_form = |name, field, label, button| form_with(name, field, label, button, None);
    html! {
        section class="actions" aria-labelledby="act" {
            h2 id="act" { (lang.t("办理", "Actions")) }
            @if can(ActionKind::Claim) {
                form method="post" action={ "/console/pool/" (t.id) "/claim" } {
                    (csrf_field(session))
                    button type="submit" { (lang.t("认领此工单", "Claim this ticket")) }
                }
            }
            @if can(ActionKind::Progress) {
                (note_form("progress", "note", ("进展说明", "What was done"), ("记录进展", "Note progress")))
            }
            @if can(ActionKind::Resolve) {
                (note_form("resolve", "note", ("办结说明", "How it was resolved"), ("办结", "Resolve")))
            }
            @if can(ActionKind::Return) {
                (note_form("return", "reason", ("退单原因", "Why it is returned"), ("退单", "Return")))
            }
            @if can(ActionKind::Urge) {
                (note_form("urge", "note", ("催办意见", "What the unit is urged to do"), ("催办", "Urge the unit")))
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
            @if can(ActionKind::Pause) {
                (note_form("pause", "reason", ("等待原因（如居民不在家、需居民补充材料）", "What the ticket waits for (the resident away, papers from the resident)"), ("等待居民", "Wait on the resident")))
            }
            @if can(ActionKind::Resume) {
                details open {
                    summary { (lang.t("恢复办理", "Resume")) }
                    form method="post" action=(action) class="stack" {
                        (csrf_field(session))
                        input type="hidden" name="action" value="resume";
                        label for="resume-note" { (lang.t("说明（可不填）", "Note (optional)")) }
                        textarea id="resume-note" name="note" {}
                        p class="muted" { (lang.t("时限将顺延等待的时间。", "The deadlines move on by the time waited.")) }
                        button type="submit" { (lang.t("恢复办理", "Resume")) }
                    }
                }
            }
            @if can(ActionKind::Merge) {
                details {
                    summary { (lang.t("合并重复工单", "Merge as a duplicate")) }
                    form method="post" action=(action) class="stack" {
                        (csrf_field(session))
                        input type="hidden" name="action" value="merge";
                        @if shown.duplicates.is_empty() {
                            p class="muted" { (lang.t("近7天本社区同类别没有其他在办工单。", "No other open ticket of this category in the community in the last 7 days.")) }
                        } @else {
                            fieldset {
                                legend { (lang.t("并入（近7天本社区同类别在办工单）", "Merge into (open tickets of this category in the community, last 7 days)")) }
                                @for d in &shown.duplicates {
                                    label { input type="radio" name="into" value=(d.id); " " span class="number" { (d.number) } " · " (d.title) " · " (layout::china(d.created_at)) }
                                }
                            }
                        }
                        label for="merge-into_number" { (lang.t("或输入要并入的工单编号", "Or the number of the ticket to merge into")) }
                        input id="merge-into_number" name="into_number" type="text" autocomplete="off";
                        label for="merge-note" { (lang.t("说明（可不填）", "Note (optional)")) }
                        textarea id="merge-note" name="note" {}
                        p class="muted" { (lang.t("合并后本工单关闭，户数计入被并入的工单。", "This ticket closes; its households count on the one it merges into.")) }
                        label class="confirm" {
                            input type="checkbox" id="merge-confirm" name="confirm" value="1" required;
                            " " (lang.t("确认合并（合并后不能恢复）", "Yes, merge (it cannot be undone)"))
                        }
                        button type="submit" { (lang.t("合并", "Merge")) }
                    }
                }
            }
            @if can(ActionKind::Cancel) {
                (form_with("cancel", "reason", ("作废原因", "Why it is cancelled"), ("作废", "Cancel"), Some(("确认作废此工单（作废后不能恢复）", "Yes, cancel this ticket (it cannot be undone)"))))
            }
            @if session.role == Role::Admin && shown.detail.shows_contact() {
                (form_with("erase_resident", "reason", ("删除依据（居民申请）", "Why (the resident's request)"), ("删除居民个人信息", "Erase the resident's data"), Some(("确认删除居民姓名和电话（删除后不能恢复）", "Yes, erase the resident's name and phone (it cannot be undone)"))))
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
}

/// Every event of the ticket, oldest first, with who did it.
fn timeline(lang: Lang, shown: &Shown) -> Markup {
    html! {
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
    }
}

#[derive(Deserialize)]
pub struct DetailQuery {
    pub(super) done: Option<String>,
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
    pub(super) csrf: String,
    #[serde(default)]
    pub(super) action: String,
    pub(super) note: Option<String>,
    pub(super) reason: Option<String>,
    pub(super) satisfaction: Option<String>,
    pub(super) comment: Option<String>,
    pub(super) partner_id: Option<String>,
    /// The ticket a duplicate merges into: its id (a choice of the form) or its number.
    pub(super) into: Option<String>,
    pub(super) into_number: Option<String>,
    /// The ticked box of an action that cannot be undone.
    pub(super) confirm: Option<String>,
}

pub(super) fn optional(value: Option<String>) -> Option<String> {
    value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

pub(super) fn required(value: Option<String>, field: &str) -> Result<String, CoreError> {
    optional(value).ok_or_else(|| CoreError::invalid(field, "required", "required"))
}

impl ActForm {
    /// An action that cannot be undone goes ahead only with its box ticked.
    pub(super) fn confirmed(&self) -> Result<(), CoreError> {
        match self.confirm.as_deref() {
            Some("1") => Ok(()),
            _ => Err(CoreError::invalid(
                "confirm",
                "required",
                "tick the box to confirm; this cannot be undone",
            )),
        }
    }

    /// The action the form asks for, with its name (for the `done` notice).
    pub(super) fn action(self, lang: Lang) -> Result<(&'static str, Action), CoreError> {
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
            "cancel" => {
                let confirmed = self.confirmed();
                let reason = required(self.reason, "reason")?;
                confirmed?;
                ("cancel", Action::Cancel { reason })
            }
            "pause" => (
                "pause",
                Action::Pause {
                    reason: required(self.reason, "reason")?,
                },
            ),
            "resume" => (
                "resume",
                Action::Resume {
                    note: optional(self.note),
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
pub(super) fn refusal(lang: Lang, e: &CoreError, max: usize) -> Markup {
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
        ActBody::Photo(posted) => {
            let WithPhoto { photo, .. } = *posted;
            match photo {
                None => Err(CoreError::invalid("file", "required", "choose a photo").into()),
                Some(p) => state
                    .add_photo(session.actor.clone(), id, &p.name, p.bytes)
                    .await
                    .map(|_| "photo")
                    .map_err(ConsoleError::from),
            }
        }
        ActBody::Action(form) if form.action == "erase_resident" => match form.confirmed() {
            Err(e) => Err(e.into()),
            Ok(()) => {
                let reason = form.reason.unwrap_or_default();
                session
                    .run(&state, move |conn, actor, now| {
                        jiesu_core::privacy::erase(conn, actor, id, &reason, now)
                    })
                    .await
                    .map(|_| "erased")
            }
        },
        ActBody::Action(form) if form.action == "merge" => {
            let env = state.ticket_env();
            let reference = state.reference.clone();
            match form.confirmed() {
                Err(e) => Err(e.into()),
                Ok(()) => session
                    .run(&state, move |conn, actor, now| {
                        let into = merged_into(conn, &reference, actor, &form, now)?;
                        let action = Action::Merge {
                            into,
                            note: optional(form.note),
                        };
                        lifecycle::transition(conn, actor, id, &action, &env.at(now))
                    })
                    .await
                    .map(|_| "merged"),
            }
        }
        ActBody::Action(form) if form.action == "urge" => {
            let env = state.ticket_env();
            let note = form.note.unwrap_or_default();
            session
                .run(&state, move |conn, actor, now| {
                    jiesu_core::tickets::urging::urge(conn, actor, id, &note, &env.at(now))
                })
                .await
                .map(|_| "urged")
        }
        ActBody::Action(form) => match (*form).action(lang) {
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

/// The ticket a merge form names: the number typed (found in the reader's scope), else
/// the one chosen; a refusal naming `into` when neither is there.
fn merged_into(
    conn: &mut jiesu_core::db::DbConnection,
    reference: &jiesu_core::reference::Reference,
    actor: &jiesu_core::Actor,
    form: &ActForm,
    now: NaiveDateTime,
) -> jiesu_core::CoreResult<TicketId> {
    if let Some(number) = optional(form.into_number.clone()) {
        let filter = TicketFilter {
            number: Some(number.clone()),
            ..TicketFilter::default()
        };
        let page = PageRequest {
            after: None,
            limit: 1,
        };
        return queries::list(conn, reference, actor, &filter, page, now)?
            .items
            .first()
            .map(|t| t.id)
            .ok_or_else(|| {
                CoreError::invalid(
                    "into",
                    "not_found",
                    format!("no ticket {number} in your scope"),
                )
            });
    }
    optional(form.into.clone())
        .and_then(|id| id.parse().ok())
        .map(TicketId)
        .ok_or_else(|| CoreError::invalid("into", "required", "choose the ticket to merge into"))
}

/// `GET /console/tickets/{id}/photos/{photo}`: to those who may see the ticket.
pub async fn photo(
    state: web::Data<AppState>,
    session: Session,
    req: HttpRequest,
    path: web::Path<(i64, i64)>,
) -> ConsoleResult {
    let (ticket, photo) = path.into_inner();
    let meta = session
        .run(&state, move |conn, actor, _| {
            attachments::open(conn, actor, TicketId(ticket), AttachmentId(photo))
        })
        .await?;
    Ok(crate::routes::tickets::photo_response(&state.photos, &meta, &req).await?)
}
