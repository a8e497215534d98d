use base64::Engine;
use jsonwebtoken::{encode, EncodingKey, Header};
use serde_json::{json, Value};

use crate::helpers::{assert_names_field, StatusCode, Store, TestApp, TEST_SECRET};

fn claims(sub: i64, exp: i64) -> serde_json::Value {
    json!({"sub": sub.to_string(), "role": "admin", "iat": exp - 3600, "exp": exp, "iss": "jiesu"})
}

async fn me_with(app: &TestApp, token: &str) -> (StatusCode, serde_json::Value) {
    me_at(app, &app.address, token).await
}

/// `GET /me` from the API process at `address`.
async fn me_at(app: &TestApp, address: &str, token: &str) -> (StatusCode, serde_json::Value) {
    app.call_at(
        address,
        reqwest::Method::GET,
        "/api/v1/me",
        Some(token),
        None,
    )
    .await
}

/// The id of the account a token signs in.
async fn own_id(app: &TestApp, token: &str) -> i64 {
    let (_, me) = me_with(app, token).await;
    me["user"]["id"].as_i64().expect("an account id")
}

async fn login_returns_a_token_that_opens_the_api(store: Store) {
    let app = TestApp::spawn(store).await;
    let (status, body) = app
        .login_with("demo-supervisor", &app.password("demo-supervisor"))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["user"]["role"], "supervisor");
    assert!(body["user"].get("password_hash").is_none());
    assert!(body["expires_at"].as_str().unwrap().ends_with('Z'));
    let token = body["token"].as_str().unwrap();
    let (status, me) = me_with(&app, token).await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["user"]["username"], "demo-supervisor");
    assert_eq!(me["scope"]["kind"], "org_unit");
    // Usernames are not case-sensitive.
    let (status, _) = app
        .login_with("Demo-Supervisor", &app.password("demo-supervisor"))
        .await;
    assert_eq!(status, StatusCode::OK);
}

async fn no_token_and_wrong_password_are_401_problems(store: Store) {
    let app = TestApp::spawn(store).await;
    let (status, body) = app
        .call(reqwest::Method::GET, "/api/v1/org-units", None, None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["status"], 401);
    let (status, body) = app.login_with("demo-grid", "not-the-password").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["detail"], "wrong username or password");
    // An unknown user reads exactly like a wrong password.
    let (status, unknown) = app.login_with("nobody-here", "whatever-password").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(unknown["detail"], body["detail"]);
}

async fn repeated_failed_logins_make_the_account_wait(store: Store) {
    let app = TestApp::spawn(store).await;
    for _ in 0..app.settings.auth.max_failed_logins {
        let (status, _) = app.login_with("demo-unit", "wrong-password!").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    // Now even the right password must wait, and is told how long.
    let (status, body) = app
        .login_with("demo-unit", &app.password("demo-unit"))
        .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    let wait = body["retry_after_secs"].as_u64().unwrap();
    assert!(
        wait > 0 && wait <= app.settings.auth.lockout_base_secs as u64,
        "{body}"
    );
    // Other accounts are not affected.
    let (status, _) = app
        .login_with("demo-grid", &app.password("demo-grid"))
        .await;
    assert_eq!(status, StatusCode::OK);
}

/// Sign-in from one client, through a trusted proxy that names it.
async fn login_from(
    app: &TestApp,
    client: &str,
    username: &str,
    password: &str,
) -> (StatusCode, Value) {
    let res = app
        .client
        .post(format!("{}/api/v1/auth/login", app.address))
        .header("x-forwarded-for", client)
        .json(&json!({"username": username, "password": password}))
        .send()
        .await
        .unwrap();
    let status = res.status();
    (status, res.json().await.unwrap_or(Value::Null))
}

/// Lockouts cannot be turned against an account's owner: failures from one client make
/// that client wait, not the owner signing in from elsewhere. Unknown names, wrong
/// passwords and disabled accounts are answered alike, and an address spraying names
/// waits too.
async fn sign_in_throttling_is_per_client_and_gives_nothing_away(store: Store) {
    let app = TestApp::spawn_with(store, |s| {
        s.server.trusted_proxies = vec!["127.0.0.1".into()];
        s.auth.max_failed_logins_per_address = 8;
    })
    .await;
    let (attacker, owner) = ("203.0.113.7", "198.51.100.9");
    let tries = app.settings.auth.max_failed_logins;
    for _ in 0..tries {
        let (status, _) = login_from(&app, attacker, "demo-admin", "a guess").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let (status, _) = login_from(&app, attacker, "demo-admin", &app.password("demo-admin")).await;
    assert_eq!(
        status,
        StatusCode::TOO_MANY_REQUESTS,
        "the failing client waits"
    );
    let (status, body) = login_from(&app, owner, "demo-admin", &app.password("demo-admin")).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the owner elsewhere signs in: {body}"
    );

    // Unknown names: the same answer, and the same wait after as many failures.
    let mut answers = Vec::new();
    for name in ["demo-grid", "nobody-here"] {
        for _ in 0..tries {
            answers.push(login_from(&app, "192.0.2.1", name, "a guess").await);
        }
        let (status, _) = login_from(&app, "192.0.2.1", name, "a guess").await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{name} waits alike");
    }
    assert!(
        answers.windows(2).all(|w| w[0] == w[1]),
        "known and unknown names answered alike: {answers:?}"
    );

    // A disabled account with its right password reads like a wrong one.
    let admin = app.login("demo-admin").await;
    let unit = app.login("demo-unit").await;
    let id = own_id(&app, &unit).await;
    app.patch(
        &format!("/api/v1/users/{id}"),
        &admin,
        json!({"active": false}),
    )
    .await;
    let disabled = login_from(&app, "192.0.2.9", "demo-unit", &app.password("demo-unit")).await;
    let wrong = login_from(&app, "192.0.2.9", "demo-district", "a guess").await;
    assert_eq!(disabled, wrong, "a disabled account confirms nothing");

    // One address trying many names waits out its window, whatever the name.
    for i in 0..8 {
        login_from(&app, "192.0.2.50", &format!("sprayed-{i}"), "123456").await;
    }
    let (status, _) = login_from(
        &app,
        "192.0.2.50",
        "demo-district",
        &app.password("demo-district"),
    )
    .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
}

/// Without a trusted proxy, X-Forwarded-For is the client's own word and ignored: a
/// client cannot escape its wait by changing the header.
async fn a_forwarded_for_header_from_an_untrusted_client_changes_nothing(store: Store) {
    let app = TestApp::spawn(store).await;
    for i in 0..app.settings.auth.max_failed_logins {
        let (status, _) = login_from(&app, &format!("203.0.113.{i}"), "demo-grid", "a guess").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let (status, _) = login_from(&app, "203.0.113.99", "demo-grid", "a guess").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
}

async fn expired_forged_and_unsigned_tokens_are_refused(store: Store) {
    let app = TestApp::spawn(store).await;
    let now = chrono::Utc::now().timestamp();
    let expired = encode(
        &Header::default(),
        &claims(1, now - 600),
        &EncodingKey::from_secret(TEST_SECRET.as_bytes()),
    )
    .unwrap();
    let (status, body) = me_with(&app, &expired).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        body["detail"].as_str().unwrap().contains("expired"),
        "{body}"
    );

    let forged = encode(
        &Header::default(),
        &claims(1, now + 600),
        &EncodingKey::from_secret(b"someone-elses-key-someone-elses-key"),
    )
    .unwrap();
    let (status, _) = me_with(&app, &forged).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let unsigned = format!(
        "{}.{}.",
        b64.encode(br#"{"alg":"none","typ":"JWT"}"#),
        b64.encode(claims(1, now + 600).to_string())
    );
    let (status, _) = me_with(&app, &unsigned).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // A genuine token signed with the right key works, so the refusals above are about the token.
    let genuine = encode(
        &Header::default(),
        &claims(1, now + 600),
        &EncodingKey::from_secret(TEST_SECRET.as_bytes()),
    )
    .unwrap();
    let (status, body) = me_with(&app, &genuine).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

async fn a_disabled_account_is_shut_out_at_once(store: Store) {
    let app = TestApp::spawn(store).await;
    let admin = app.login("demo-admin").await;
    let grid = app.login("demo-grid").await;
    let id = own_id(&app, &grid).await;
    let (status, body) = app
        .patch(
            &format!("/api/v1/users/{id}"),
            &admin,
            json!({"active": false}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["active"], false);
    let (status, body) = me_with(&app, &grid).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        body["detail"].as_str().unwrap().contains("disabled"),
        "{body}"
    );
    let (status, _) = app
        .login_with("demo-grid", &app.password("demo-grid"))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

async fn changing_ones_password_ends_the_other_sessions_and_keeps_this_one(store: Store) {
    let app = TestApp::spawn(store).await;
    let old_password = app.password("demo-unit");
    let phone = app.login("demo-unit").await;
    let desk = app.login("demo-unit").await;

    // A wrong current password changes nothing and names the field.
    let (status, body) = app
        .post(
            "/api/v1/me/password",
            &desk,
            json!({"current_password": "not-the-password", "new_password": "a brand new passphrase"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["errors"][0]["field"], "current_password", "{body}");
    // Too short a new one, likewise.
    let (status, body) = app
        .post(
            "/api/v1/me/password",
            &desk,
            json!({"current_password": old_password, "new_password": "short"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["errors"][0]["field"], "new_password", "{body}");
    assert_eq!(
        me_with(&app, &phone).await.0,
        StatusCode::OK,
        "nothing changed yet"
    );
    let (status, _) = app.login_with("demo-unit", &old_password).await;
    assert_eq!(status, StatusCode::OK, "the old password still works");

    let (status, body) = app
        .post(
            "/api/v1/me/password",
            &desk,
            json!({"current_password": old_password, "new_password": "a brand new passphrase"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let fresh = body["token"].as_str().unwrap().to_owned();
    assert_eq!(body["user"]["username"], "demo-unit");
    assert!(body["user"].get("token_generation").is_none(), "{body}");

    // Both earlier sessions are over; the fresh token works.
    for token in [&phone, &desk] {
        let (status, body) = me_with(&app, token).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
        assert!(
            body["detail"]
                .as_str()
                .unwrap()
                .contains("password has changed"),
            "{body}"
        );
    }
    assert_eq!(me_with(&app, &fresh).await.0, StatusCode::OK);
    let (status, _) = app.login_with("demo-unit", &old_password).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "the old password is gone");
    let (status, _) = app.login_with("demo-unit", "a brand new passphrase").await;
    assert_eq!(status, StatusCode::OK, "the new one signs in");
}

async fn guessing_the_current_password_is_throttled_like_signing_in(store: Store) {
    let app = TestApp::spawn(store).await;
    let token = app.login("demo-grid").await;
    let tries = app.settings.auth.max_failed_logins;
    for _ in 0..tries {
        let (status, _) = app
            .post(
                "/api/v1/me/password",
                &token,
                json!({"current_password": "a wrong guess", "new_password": "whatever it may be"}),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    }
    // Now even the right password has to wait, here and at the sign-in from this client.
    let (status, body) = app
        .post(
            "/api/v1/me/password",
            &token,
            json!({"current_password": app.password("demo-grid"), "new_password": "whatever it may be"}),
        )
        .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    let (status, _) = app
        .login_with("demo-grid", &app.password("demo-grid"))
        .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
}

/// A stolen administrator token cannot change the administrator's own password without
/// the current one: PATCH /users/{own id} refuses it; /me/password asks for it.
async fn ones_own_password_changes_only_with_the_current_one(store: Store) {
    let app = TestApp::spawn(store).await;
    let admin = app.login("demo-admin").await;
    let id = own_id(&app, &admin).await;
    let (status, body) = app
        .patch(
            &format!("/api/v1/users/{id}"),
            &admin,
            json!({"password": "taken over by a thief"}),
        )
        .await;
    assert_names_field(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "password");
    let (status, _) = app
        .login_with("demo-admin", &app.password("demo-admin"))
        .await;
    assert_eq!(status, StatusCode::OK, "the password is unchanged");
}

async fn an_administrators_reset_ends_the_accounts_sessions(store: Store) {
    let app = TestApp::spawn(store).await;
    let admin = app.login("demo-admin").await;
    let grid = app.login("demo-grid").await;
    let id = own_id(&app, &grid).await;
    let (status, body) = app
        .patch(
            &format!("/api/v1/users/{id}"),
            &admin,
            json!({"display_name": "王网格"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        me_with(&app, &grid).await.0,
        StatusCode::OK,
        "a change other than the password keeps the session"
    );
    let (status, body) = app
        .patch(
            &format!("/api/v1/users/{id}"),
            &admin,
            json!({"password": "handed over in person"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(me_with(&app, &grid).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(me_with(&app, &admin).await.0, StatusCode::OK);
    let (status, _) = app.login_with("demo-grid", "handed over in person").await;
    assert_eq!(status, StatusCode::OK);
}

/// Signing out ends that session on the server: its token is refused at once, by the API
/// and on the console's cookie, while the account's other sessions go on.
async fn signing_out_ends_this_session_and_no_other(store: Store) {
    let app = TestApp::spawn(store).await;
    let here = app.login("demo-grid").await;
    let elsewhere = app.login("demo-grid").await;
    let res = app
        .client
        .post(format!("{}/api/v1/auth/logout", app.address))
        .bearer_auth(&here)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let (status, body) = app.get("/api/v1/me", &here).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert!(
        body["detail"].as_str().unwrap().contains("signed out"),
        "{body}"
    );
    let (status, _) = app.get("/api/v1/me", &elsewhere).await;
    assert_eq!(status, StatusCode::OK, "the other session goes on");
    // The console's cookie carries the same token: refused too.
    let res = app
        .client
        .get(format!("{}/api/v1/tickets.csv", app.address))
        .header("cookie", format!("jiesu_session={here}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}

/// The console's session cookie opens the downloads the console links to, and nothing
/// else of the API: a JSON read or any write needs the bearer header.
async fn the_console_cookie_opens_only_the_downloads(store: Store) {
    let app = TestApp::spawn(store).await;
    let token = app.login("demo-supervisor").await;
    let with_cookie = |method: reqwest::Method, path: &str| {
        app.client
            .request(method, format!("{}{path}", app.address))
            .header("cookie", format!("jiesu_session={token}"))
    };
    for path in [
        "/api/v1/tickets.csv",
        "/api/v1/stats.csv",
        "/api/v1/needs.csv",
        "/api/v1/resources.csv",
        "/api/v1/projects.csv",
    ] {
        let res = with_cookie(reqwest::Method::GET, path)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{path}");
        assert!(
            res.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/csv"),
            "{path}"
        );
    }
    for path in [
        "/api/v1/tickets",
        "/api/v1/me",
        "/api/v1/stats",
        "/api/v1/overdue",
    ] {
        let res = with_cookie(reqwest::Method::GET, path)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{path}");
    }
    let res = with_cookie(reqwest::Method::POST, "/api/v1/auth/logout")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    // The same token in the header opens them all.
    for path in ["/api/v1/tickets", "/api/v1/me", "/api/v1/tickets.csv"] {
        let (status, _) = app.get(path, &token).await;
        assert_eq!(status, StatusCode::OK, "{path}");
    }
}

/// Two API processes over one database, as behind a load balancer: each keeps the accounts
/// behind tokens a second, so a sign-out, a disabled account or a changed password made
/// through one refuses the old token on the other once that second has passed (and at
/// once on the process that made it, as the tests above check).
async fn a_change_through_one_process_shuts_the_token_out_of_another_within_a_second(store: Store) {
    let app = TestApp::spawn(store).await;
    let other = app.another_process().await;
    let after_a_second = || {
        tokio::time::sleep(jiesu_api::accounts::FRESH_FOR + std::time::Duration::from_millis(300))
    };

    // Signed out through the first process.
    let token = app.login("demo-grid").await;
    assert_eq!(
        me_at(&app, &other, &token).await.0,
        StatusCode::OK,
        "kept there now"
    );
    let (status, _) = app
        .call(
            reqwest::Method::POST,
            "/api/v1/auth/logout",
            Some(&token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    after_a_second().await;
    let (status, body) = me_at(&app, &other, &token).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert!(
        body["detail"].as_str().unwrap().contains("signed out"),
        "{body}"
    );

    // A password changed through the first process.
    let old_password = app.password("demo-unit");
    let token = app.login("demo-unit").await;
    let desk = app.login("demo-unit").await;
    assert_eq!(me_at(&app, &other, &desk).await.0, StatusCode::OK);
    let (status, changed) = app
        .post(
            "/api/v1/me/password",
            &token,
            json!({"current_password": old_password, "new_password": "a-new-long-password"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    after_a_second().await;
    let (status, body) = me_at(&app, &other, &desk).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert!(
        body["detail"].as_str().unwrap().contains("password"),
        "{body}"
    );
    let fresh = changed["token"].as_str().unwrap().to_owned();
    assert_eq!(
        me_at(&app, &other, &fresh).await.0,
        StatusCode::OK,
        "the new token opens it"
    );

    // An account disabled through the first process.
    let admin = app.login("demo-admin").await;
    let grid = app.login("demo-grid").await;
    assert_eq!(me_at(&app, &other, &grid).await.0, StatusCode::OK);
    let id = own_id(&app, &grid).await;
    let (status, body) = app
        .patch(
            &format!("/api/v1/users/{id}"),
            &admin,
            json!({"active": false}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    after_a_second().await;
    let (status, body) = me_at(&app, &other, &grid).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert!(
        body["detail"].as_str().unwrap().contains("disabled"),
        "{body}"
    );
}

crate::on_both_stores!(
    a_change_through_one_process_shuts_the_token_out_of_another_within_a_second,
    the_console_cookie_opens_only_the_downloads,
    ones_own_password_changes_only_with_the_current_one,
    sign_in_throttling_is_per_client_and_gives_nothing_away,
    a_forwarded_for_header_from_an_untrusted_client_changes_nothing,
    signing_out_ends_this_session_and_no_other,
    changing_ones_password_ends_the_other_sessions_and_keeps_this_one,
    guessing_the_current_password_is_throttled_like_signing_in,
    an_administrators_reset_ends_the_accounts_sessions,
    login_returns_a_token_that_opens_the_api,
    no_token_and_wrong_password_are_401_problems,
    repeated_failed_logins_make_the_account_wait,
    expired_forged_and_unsigned_tokens_are_refused,
    a_disabled_account_is_shut_out_at_once,
);
