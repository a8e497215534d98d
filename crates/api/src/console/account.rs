//! Everyone's own account page: who the console thinks you are, and a password change
//! that ends your other sessions (a lost phone, a shared office computer) and keeps this
//! one with a fresh cookie.

use actix_web::http::StatusCode;
use actix_web::web;
use jiesu_core::users::PasswordChange;
use jiesu_core::{CoreError, FieldError};
use maud::{html, Markup};
use serde::Deserialize;

use super::layout::{self, csrf_field, notice, page, Lang, Nav};
use super::session::{signed_in, urlencoded_forms, CsrfForm};
use super::{html_response, ConsoleError, ConsoleResult, Session};
use crate::state::{now, AppState};

fn label(lang: Lang, field: &str) -> &'static str {
    match field {
        "current_password" => lang.t("当前密码", "Current password"),
        "new_password" => lang.t(
            "新密码（至少 10 个字符）",
            "New password (10 characters or more)",
        ),
        "repeat_password" => lang.t("再次输入新密码", "New password again"),
        _ => lang.t("内容", "Input"),
    }
}

fn message(lang: Lang, e: &FieldError) -> String {
    match (e.code.as_str(), lang) {
        ("wrong", Lang::Zh) => "当前密码不正确。".into(),
        ("length", Lang::Zh) => "新密码至少 10 个字符。".into(),
        ("unchanged", Lang::Zh) => "新密码不能与当前密码相同。".into(),
        ("mismatch", Lang::Zh) => "两次输入的新密码不一致。".into(),
        (_, Lang::Zh) => format!("不符合要求（{}）", e.message),
        (_, Lang::En) => e.message.clone(),
    }
}

fn account_page(session: &Session, banner: Option<Markup>, errors: &[FieldError]) -> Markup {
    let lang = session.lang;
    let error_of = |field: &str| errors.iter().find(|e| e.field == field);
    let password = |field: &'static str, autocomplete: &'static str| {
        layout::Field {
            id: field,
            name: field,
            label: label(lang, field),
            kind: "password",
            value: "",
            required: true,
            autocomplete: Some(autocomplete),
            hint: None,
            error: error_of(field).map(|e| message(lang, e)),
        }
        .render()
    };
    let body = html! {
        @if let Some(b) = banner { (b) }
        @if !errors.is_empty() {
            div class="notice error" role="alert" {
                (lang.t("密码未修改：", "The password was not changed: "))
                ul { @for e in errors { li { a href={ "#" (e.field) } { (label(lang, &e.field)) } "：" (message(lang, e)) } } }
            }
        }
        dl class="facts card" {
            dt { (lang.t("用户名", "Username")) } dd { (session.username) }
            dt { (lang.t("角色", "Role")) } dd { (layout::role_name(lang, session.role)) }
        }
        h2 { (lang.t("修改密码", "Change the password")) }
        p class="muted" { (lang.t("修改后，本账号在其他设备上的登录全部失效；本设备保持登录。", "Afterwards every other sign-in of this account ends; this one stays.")) }
        form method="post" action="/console/account/password" class="stack card" {
            (csrf_field(session))
            (password("current_password", "current-password"))
            (password("new_password", "new-password"))
            (password("repeat_password", "new-password"))
            button type="submit" { (lang.t("修改密码", "Change the password")) }
        }
    };
    page(
        session,
        Nav::Account,
        "/console/account",
        lang.t("我的账号", "My account"),
        body,
    )
}

#[derive(Deserialize)]
pub struct AccountQuery {
    changed: Option<String>,
}

/// `GET /console/account`
pub async fn show(session: Session, q: web::Query<AccountQuery>) -> ConsoleResult {
    let lang = session.lang;
    let banner = q.changed.as_ref().map(|_| {
        notice(
            "ok",
            lang.t(
                "密码已修改，其他设备上的登录已失效。",
                "The password is changed; every other sign-in has ended.",
            ),
        )
    });
    Ok(html_response(
        StatusCode::OK,
        account_page(&session, banner, &[]),
    ))
}

#[derive(Deserialize)]
pub struct PasswordForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    current_password: String,
    #[serde(default)]
    new_password: String,
    #[serde(default)]
    repeat_password: String,
}

urlencoded_forms!(PasswordForm);

/// `POST /console/account/password`: checks the current password (a wrong one counts as
/// a failed sign-in), stores the new one and renews this session's cookie.
pub async fn change_password(
    state: web::Data<AppState>,
    req: actix_web::HttpRequest,
    CsrfForm(session, form): CsrfForm<PasswordForm>,
) -> ConsoleResult {
    if form.new_password != form.repeat_password {
        let mismatch = FieldError::new(
            "repeat_password",
            "mismatch",
            "the two new passwords differ",
        );
        return Ok(html_response(
            StatusCode::UNPROCESSABLE_ENTITY,
            account_page(&session, None, &[mismatch]),
        ));
    }
    let change = PasswordChange {
        current_password: form.current_password,
        new_password: form.new_password,
    };
    let client = crate::signin::client_address(&req, &state.settings);
    let changed: Result<_, ConsoleError> =
        crate::signin::change_password(&state, session.actor.clone(), change, client)
            .await
            .map_err(ConsoleError::from);
    let lang = session.lang;
    match changed {
        Ok(user) => {
            tracing::info!(user = %user.username, "console password change; other sessions ended");
            signed_in(&state, &user, now(), "/console/account?changed=1")
        }
        Err(ConsoleError::Core(CoreError::Invalid(errors))) => Ok(html_response(
            StatusCode::UNPROCESSABLE_ENTITY,
            account_page(&session, None, &errors),
        )),
        Err(ConsoleError::Core(CoreError::Throttled { retry_after_secs })) => {
            let text = format!(
                "{} {retry_after_secs} s",
                lang.t(
                    "密码错误次数过多，请稍后再试：",
                    "Too many wrong passwords; try again in"
                )
            );
            Ok(html_response(
                StatusCode::TOO_MANY_REQUESTS,
                account_page(&session, Some(notice("error", &text)), &[]),
            ))
        }
        Err(e) => Err(e),
    }
}
