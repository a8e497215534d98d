//! The pool: tickets any qualified unit may claim; the first claim wins.

use super::*;

#[derive(Deserialize)]
pub struct PoolQuery {
    pub(super) cursor: Option<String>,
}

pub(super) async fn pool_page(
    state: &AppState,
    session: &Session,
    req: &HttpRequest,
    cursor: Option<&str>,
    banner: Option<Markup>,
    status: StatusCode,
) -> ConsoleResult {
    let lang = session.lang;
    let page_req = page_at(cursor)?;
    let (tickets, cats, waiting, now): (Page<Ticket>, Vec<Category>, (i64, bool), NaiveDateTime) =
        session
            .run(state, move |conn, actor, now| {
                Ok((
                    queries::pool(conn, actor, page_req, now)?,
                    categories::list(conn, None, ALL)?.items,
                    queries::pool_count_capped(conn, actor, POOL_CAP)?,
                    now,
                ))
            })
            .await?;
    let names = category_names(lang, &cats);
    let body = html! {
        @if let Some(b) = banner { (b) }
        p class="muted" { (lang.t("本单位结对社区中、本单位可办类别的待认领工单。先认领者承办。", "Tickets of the communities and categories your unit serves, waiting for a unit. The first claim wins.")) }
        // Checked every 30 s (and when the page comes back into view): a change is told
        // here with a link to see it (console.js).
        p id="pool-news" class="notice info" role="status" aria-live="polite" hidden
            data-pool-count=(waiting.0) data-every="30"
            data-says=(lang.t("抢单池有变化，现有待认领工单：", "The pool has changed; tickets waiting now: "))
            data-link=(lang.t("刷新", "Refresh")) {}
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

/// How far the pool's count goes ("10,000+"), as the ticket list's total.
const POOL_CAP: i64 = jiesu_core::today::CAP;

/// `GET /console/pool/count`: how many pool tickets the unit may claim now, for the pool
/// page's check for new ones (`{"count": n, "more": false}`).
pub async fn pool_count(state: web::Data<AppState>, session: Session) -> ConsoleResult {
    let (count, more) = session
        .read(&state, |conn, actor, _| {
            queries::pool_count_capped(conn, actor, POOL_CAP)
        })
        .await?;
    Ok(actix_web::HttpResponse::Ok()
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .json(serde_json::json!({ "count": count, "more": more })))
}
