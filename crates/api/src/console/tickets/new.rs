//! Logging a ticket: the form, and checking it with its photo before anything is written.

use super::*;
use jiesu_core::org::OrgUnit;
use jiesu_core::Scope;

pub(super) struct FormChoices {
    pub(super) categories: Vec<Category>,
    /// The communities to choose from: the scope's, or those of the place narrowed to.
    pub(super) communities: Vec<(OrgUnitId, String)>,
    /// Where a scope holds more communities than one list shows: the place narrowed to so
    /// far (from the top) and the places below it to narrow further.
    pub(super) narrowed: Vec<OrgUnit>,
    pub(super) places: Vec<OrgUnit>,
}

/// The most communities the form lists at once; a city supervisor narrows to a district
/// and a street first.
const COMMUNITIES_LISTED: i64 = 200;

pub(super) async fn choices(
    state: &AppState,
    session: &Session,
    within: Option<OrgUnitId>,
) -> Result<FormChoices, ConsoleError> {
    let wants_community = !matches!(session.role, Role::GridMember);
    session
        .run(state, move |conn, actor, _| {
            let categories = categories::list(conn, Some(true), ALL)?.items;
            let mut choices = FormChoices {
                categories,
                communities: Vec::new(),
                narrowed: Vec::new(),
                places: Vec::new(),
            };
            if !wants_community {
                return Ok(choices);
            }
            let node = within.or(match &actor.scope {
                Scope::Subtree { root, .. } => Some(*root),
                _ => None,
            });
            if let Some(node) = node {
                choices.narrowed = org::lineage(conn, actor, node)?;
            }
            let communities = OrgUnitFilter {
                kind: Some(OrgKind::Community),
                within: node,
                ..OrgUnitFilter::default()
            };
            let street = choices
                .narrowed
                .last()
                .is_some_and(|n| n.kind == OrgKind::Street);
            if street || org::count(conn, actor, &communities)? <= COMMUNITIES_LISTED {
                // A street's communities are listed however many (a few dozen at most).
                let all = PageRequest {
                    after: None,
                    limit: 10_000,
                };
                choices.communities = org::list(conn, actor, &communities, all)?
                    .items
                    .into_iter()
                    .map(|o| (o.id, o.name))
                    .collect();
            } else {
                let below = OrgUnitFilter {
                    parent_id: node,
                    top_only: node.is_none(),
                    ..OrgUnitFilter::default()
                };
                choices.places = org::list(conn, actor, &below, ALL)?.items;
            }
            Ok(choices)
        })
        .await
}

/// The place a form's community list is narrowed to, as typed in the query or the form.
pub(super) fn within_of(text: Option<&str>) -> Result<Option<OrgUnitId>, ConsoleError> {
    Ok(crate::console::optional_id("within", text)?.map(OrgUnitId))
}

pub(super) fn new_ticket_page(
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
    let mut listed: Vec<&FieldError> = errors.iter().collect();
    listed.sort_by_key(|e| super::form_position(&e.field));
    // An error's element, which its control names in `aria-describedby`.
    let error_span = |field: &str| {
        error_of(field).map(|e| {
            html! { span id={ (field) "-error" } class="field-error" { (field_message(lang, e, max)) } }
        })
    };
    let described = |field: &str| error_of(field).map(|_| format!("{field}-error"));
    let body = html! {
        @if !errors.is_empty() {
            div class="notice error" role="alert" {
                (lang.t("请修改以下内容后再提交：", "Please correct the following and submit again:"))
                ul { @for e in &listed { li { a href={ "#" (if e.field == "file" { "photo" } else { e.field.as_str() }) } { (field_label(lang, &e.field)) } "：" (field_message(lang, e, max)) } } }
            }
        }
        form method="post" action="/console/tickets/new" enctype="multipart/form-data" class="stack card" {
            (csrf_field(session))
            input type="hidden" name="idem" value=(form.idem);
            label for="category" { (field_label(lang, "category")) " *" }
            select id="category" name="category" required aria-invalid=[error_of("category").map(|_| "true")] aria-describedby=[described("category")] {
                option value="" { (lang.t("请选择", "Choose")) }
                @for c in &choices.categories {
                    option value=(c.code) selected[form.category == c.code] { (category_name(lang, c)) }
                }
            }
            @if let Some(e) = error_span("category") { (e) }
            label for="priority" { (field_label(lang, "priority")) }
            select id="priority" name="priority" {
                option value="" { (lang.t("按类别默认", "The category's default")) }
                @for p in Priority::ALL {
                    option value=(p.as_str()) selected[form.priority == p.as_str()] { (layout::priority_name(lang, *p)) }
                }
            }
            @let channel = if form.channel.is_empty() {
                if session.role == Role::GridMember { IntakeChannel::Patrol.as_str() } else { IntakeChannel::Other.as_str() }
            } else { form.channel.as_str() };
            label for="channel" { (field_label(lang, "channel")) }
            select id="channel" name="channel" aria-invalid=[error_of("channel").map(|_| "true")] aria-describedby=[described("channel")] {
                @for c in IntakeChannel::ALL.iter().filter(|c| **c != IntakeChannel::App && **c != IntakeChannel::Web) {
                    option value=(c.as_str()) selected[channel == c.as_str()] { (layout::channel_name(lang, *c)) }
                }
            }
            @if let Some(e) = error_span("channel") { (e) }
            label for="hotline_ref" { (field_label(lang, "hotline_ref")) }
            input id="hotline_ref" name="hotline_ref" type="text" value=(form.hotline_ref) autocomplete="off"
                aria-invalid=[error_of("hotline_ref").map(|_| "true")]
                aria-describedby=(if error_of("hotline_ref").is_some() { "hotline_ref-hint hotline_ref-error" } else { "hotline_ref-hint" });
            span id="hotline_ref-hint" class="muted" { (lang.t("热线转办时必填：12345 派单上的工单号", "For a hotline transfer: the number on the 12345 order")) }
            @if let Some(e) = error_span("hotline_ref") { (e) }
            @if !choices.narrowed.is_empty() || !choices.places.is_empty() {
                input type="hidden" name="within" value=(choices.narrowed.last().map(|n| n.id.to_string()).unwrap_or_default());
                p class="crumbs" {
                    (field_label(lang, "community_id")) "："
                    @for (i, n) in choices.narrowed.iter().enumerate() {
                        @if i > 0 { " › " }
                        a href={ "/console/tickets/new?within=" (n.id) } { (n.name) }
                    }
                }
            }
            @if !choices.places.is_empty() {
                p class="muted" { (lang.t("社区较多，请先选择所在区域：", "Many communities: choose where first:")) }
                ul class="places" {
                    @for p in &choices.places {
                        li { a href={ "/console/tickets/new?within=" (p.id) } { (p.name) } }
                    }
                }
                @if let Some(e) = error_span("community_id") { (e) }
            }
            @if !choices.communities.is_empty() {
                label for="community_id" { (field_label(lang, "community_id")) " *" }
                select id="community_id" name="community_id" required aria-invalid=[error_of("community_id").map(|_| "true")] aria-describedby=[described("community_id")] {
                    option value="" { (lang.t("请选择", "Choose")) }
                    @for (id, name) in &choices.communities {
                        option value=(id) selected[form.community_id == id.to_string()] { (name) }
                    }
                }
                @if let Some(e) = error_span("community_id") { (e) }
            }
            (input("title", "text", &form.title, true))
            label for="description" { (field_label(lang, "description")) " *" }
            textarea id="description" name="description" required aria-invalid=[error_of("description").map(|_| "true")] aria-describedby=[described("description")] { (form.description) }
            @if let Some(e) = error_span("description") { (e) }
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
                aria-invalid=[error_of("photo").map(|_| "true")]
                aria-describedby=(if error_of("photo").is_some() { "photo-hint photo-error" } else { "photo-hint" });
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

#[derive(Deserialize)]
pub struct NewFormQuery {
    within: Option<String>,
}

/// `GET /console/tickets/new` (`within`: the place the community list is narrowed to)
pub async fn new_form(
    state: web::Data<AppState>,
    session: Session,
    q: web::Query<NewFormQuery>,
) -> ConsoleResult {
    let within = within_of(q.within.as_deref())?;
    let choices = choices(&state, &session, within).await?;
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
            let choices = choices(&state, session, within_of(Some(&form.within))?).await?;
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
            logging::log(conn, actor, &input, key.as_ref(), &env.at(now))
        })
        .await;
    let outcome = match (outcome, photo) {
        (Ok(logged), Some(photo)) if !logged.replayed => state
            .add_photo(
                session.actor.clone(),
                logged.ticket.id,
                &photo.name,
                photo.bytes,
            )
            .await
            .map(|_| logged.ticket.id)
            .map_err(ConsoleError::from),
        (outcome, _) => outcome.map(|logged| logged.ticket.id),
    };
    match outcome {
        Ok(id) => Ok(see_other(&format!("/console/tickets/{id}?done=logged"))),
        Err(ConsoleError::Core(CoreError::Invalid(errors))) => {
            rerender(errors, StatusCode::UNPROCESSABLE_ENTITY).await
        }
        Err(e) => Err(e),
    }
}
