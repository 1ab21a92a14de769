//! Findings of the security review (issue #9) on the authorization endpoint, sign-in,
//! sign-out, consent withdrawal and sign-up, each driven over HTTP like a browser or app.

use crate::helpers::*;

const ANN: &str = "ann@example.com";

/// Whether introspection (RFC 7662) by the client itself calls `token` active.
async fn is_active(app: &TestApp, c: &TestClient, token: &str) -> bool {
    let res = app
        .http
        .post(app.url("/oauth/introspect"))
        .basic_auth(&c.id, Some(c.secret()))
        .form(&[("token", token)])
        .send()
        .await
        .expect("introspect");
    assert_eq!(res.status(), 200);
    json(res).await["active"] == true
}

/// The status `/v1/users/me` answers for this access token.
async fn me_status(app: &TestApp, bearer: &str) -> u16 {
    app.http
        .get(app.url("/v1/users/me"))
        .bearer_auth(bearer)
        .send()
        .await
        .expect("GET /v1/users/me")
        .status()
        .as_u16()
}

/// Exchange `code` (issued for `c`'s first redirect URI) for tokens.
async fn exchange(app: &TestApp, c: &TestClient, code: &str) -> reqwest::Response {
    app.post_token_basic(
        &c.id,
        c.secret(),
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", &c.redirect_uri),
        ],
    )
    .await
}

/// Authorize `c` for `scope` in `browser` (signing in as `email` if needed), allow, and
/// return the code.
async fn code_in(
    app: &TestApp,
    browser: &reqwest::Client,
    c: &TestClient,
    email: &str,
    scope: &str,
) -> String {
    let url = app.authorize_url(&[
        ("client_id", &c.id),
        ("response_type", "code"),
        ("redirect_uri", &c.redirect_uri),
        ("scope", scope),
        ("state", "s1"),
    ]);
    let res = app
        .authorize_in_browser(browser, &url, email, "allow")
        .await;
    assert_eq!(res.status(), 303, "authorization did not redirect");
    query_of(&location(&res))
        .remove("code")
        .expect("a code in the redirect")
}

/// The session's CSRF token, read from the dashboard.
async fn dashboard_csrf(app: &TestApp, browser: &reqwest::Client) -> String {
    let res = browser
        .get(app.url("/dashboard"))
        .send()
        .await
        .expect("GET");
    assert_eq!(res.status(), 200, "not signed in");
    input_value(&res.text().await.expect("body"), "csrf").expect("csrf on the dashboard")
}

// ---------------------------------------------------------------------------------------------
// Finding 9: signing out revokes access tokens of clients without a refresh grant

#[tokio::test]
async fn sign_out_revokes_the_access_token_of_a_client_without_a_refresh_grant() {
    // Arrange: a client whose only grant is authorization_code gets an access token in
    // this browser session (and so no refresh-token family exists for it).
    let app = spawn_app().await;
    app.create_user(ANN, PASSWORD).await;
    let c = app
        .create_client(ClientSpec {
            grant_types: vec!["authorization_code"],
            ..ClientSpec::default()
        })
        .await;
    let browser = app.new_browser();
    let code = code_in(&app, &browser, &c, ANN, "read").await;
    let res = exchange(&app, &c, &code).await;
    assert_eq!(res.status(), 200);
    let body = json(res).await;
    assert!(body.get("refresh_token").is_none(), "no refresh grant");
    let at = body["access_token"]
        .as_str()
        .expect("access token")
        .to_owned();
    assert!(is_active(&app, &c, &at).await);
    assert_eq!(me_status(&app, &at).await, 200);
    let csrf = dashboard_csrf(&app, &browser).await;

    // Act
    let out = browser
        .post(app.url("/logout"))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .expect("logout");

    // Assert
    assert_eq!(out.status(), 303);
    assert!(
        !is_active(&app, &c, &at).await,
        "introspection after sign-out"
    );
    assert_eq!(me_status(&app, &at).await, 401, "/v1 after sign-out");
}

#[tokio::test]
async fn sign_out_voids_a_code_of_the_session_that_was_not_yet_redeemed() {
    // Arrange
    let app = spawn_app().await;
    app.create_user(ANN, PASSWORD).await;
    let c = app
        .create_client(ClientSpec {
            grant_types: vec!["authorization_code"],
            ..ClientSpec::default()
        })
        .await;
    let browser = app.new_browser();
    let code = code_in(&app, &browser, &c, ANN, "read").await;
    let csrf = dashboard_csrf(&app, &browser).await;

    // Act
    let out = browser
        .post(app.url("/logout"))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .expect("logout");
    assert_eq!(out.status(), 303);
    let res = exchange(&app, &c, &code).await;

    // Assert
    expect_oauth_error(res, 400, "invalid_grant").await;
}

#[tokio::test]
async fn sign_out_leaves_tokens_of_another_session_alone() {
    // Arrange: two sessions of the same person, a token obtained in each (1 s apart, as
    // sessions are told apart by their sign-in second).
    let app = spawn_app().await;
    app.create_user(ANN, PASSWORD).await;
    let c = app
        .create_client(ClientSpec {
            grant_types: vec!["authorization_code"],
            ..ClientSpec::default()
        })
        .await;
    let other = app.new_browser();
    let code = code_in(&app, &other, &c, ANN, "read").await;
    let kept = json(exchange(&app, &c, &code).await).await["access_token"]
        .as_str()
        .expect("access token")
        .to_owned();
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let browser = app.new_browser();
    let code = code_in(&app, &browser, &c, ANN, "read").await;
    let ended = json(exchange(&app, &c, &code).await).await["access_token"]
        .as_str()
        .expect("access token")
        .to_owned();
    let csrf = dashboard_csrf(&app, &browser).await;

    // Act
    let out = browser
        .post(app.url("/logout"))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .expect("logout");

    // Assert
    assert_eq!(out.status(), 303);
    assert!(!is_active(&app, &c, &ended).await);
    assert!(
        is_active(&app, &c, &kept).await,
        "the other session's token"
    );
}

// ---------------------------------------------------------------------------------------------
// Finding 10: withdrawing consent voids the codes not yet redeemed

/// Withdraw `c`'s authorization from the dashboard of `browser`.
async fn withdraw_consent(app: &TestApp, browser: &reqwest::Client, c: &TestClient) {
    let csrf = dashboard_csrf(app, browser).await;
    let res = browser
        .post(app.url(&format!("/dashboard/authorized/{}/revoke", c.id)))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .expect("revoke");
    assert_eq!(res.status(), 303);
}

#[tokio::test]
async fn withdrawing_consent_voids_a_code_issued_before_it() {
    // Arrange: a code issued with consent, not yet redeemed.
    let app = spawn_app().await;
    app.create_user(ANN, PASSWORD).await;
    let c = app.confidential_client().await;
    let browser = app.new_browser();
    let code = code_in(&app, &browser, &c, ANN, "read").await;

    // Act
    withdraw_consent(&app, &browser, &c).await;
    let res = exchange(&app, &c, &code).await;

    // Assert
    expect_oauth_error(res, 400, "invalid_grant").await;
}

#[tokio::test]
async fn withdrawing_consent_revokes_the_access_tokens_from_codes_and_refreshes() {
    // Arrange: one token straight from a code, one from a refresh.
    let app = spawn_app().await;
    app.create_user(ANN, PASSWORD).await;
    let c = app.confidential_client().await;
    let browser = app.new_browser();
    let code = code_in(&app, &browser, &c, ANN, "read").await;
    let first = json(exchange(&app, &c, &code).await).await;
    let from_code = first["access_token"].as_str().expect("at").to_owned();
    let rt = first["refresh_token"].as_str().expect("rt").to_owned();
    let refreshed = json(
        app.post_token_basic(
            &c.id,
            c.secret(),
            &[("grant_type", "refresh_token"), ("refresh_token", &rt)],
        )
        .await,
    )
    .await;
    let from_refresh = refreshed["access_token"].as_str().expect("at").to_owned();
    assert!(is_active(&app, &c, &from_code).await);
    assert!(is_active(&app, &c, &from_refresh).await);

    // Act
    withdraw_consent(&app, &browser, &c).await;

    // Assert
    for at in [&from_code, &from_refresh] {
        assert!(!is_active(&app, &c, at).await);
        assert_eq!(me_status(&app, at).await, 401);
    }
}

// ---------------------------------------------------------------------------------------------
// Finding 7: no open redirector through clients that users registered for themselves

const CB: &str = "https://app.example.com/callback";

/// A client registered by `owner_id` (as the dashboard or `/v1` does for a user).
async fn owned_client(app: &TestApp, owner_id: &str) -> TestClient {
    let (m, secret) = latch::clients::create(
        &app.db,
        latch::clients::NewClient {
            name: "Someone's App".to_owned(),
            redirect_uris: vec![CB.to_owned()],
            public: false,
            grant_types: vec!["authorization_code".to_owned()],
            scopes: vec!["read".to_owned()],
            livemode: true,
            first_party: false,
            resource_server: false,
            owner_id: Some(owner_id.to_owned()),
        },
    )
    .await
    .expect("client created");
    TestClient {
        id: m.id,
        secret,
        redirect_uri: CB.to_owned(),
    }
}

/// A request for `c` with `changes` applied (an empty value removes the parameter).
fn request_url(app: &TestApp, c: &TestClient, changes: &[(&str, &str)]) -> String {
    let mut p: Vec<(&str, &str)> = vec![
        ("client_id", &c.id),
        ("redirect_uri", &c.redirect_uri),
        ("response_type", "code"),
        ("scope", "read"),
        ("state", "xyz"),
    ];
    for (k, v) in changes {
        p.retain(|(pk, _)| pk != k);
        if !v.is_empty() {
            p.push((k, v));
        }
    }
    app.authorize_url(&p)
}

/// The `href` of the page's call to action, unescaped.
fn link_of(html: &str) -> Option<String> {
    let start = html.find("class=\"btn btn-primary btn-block\" href=\"")?;
    let rest = &html[start + "class=\"btn btn-primary btn-block\" href=\"".len()..];
    Some(html_unescape(&rest[..rest.find('"')?]))
}

#[tokio::test]
async fn authorize_shows_error_page_with_a_link_when_a_users_own_client_errs_before_sign_in() {
    // Arrange: a client registered by a user who is not an admin; a visitor with no session.
    let app = spawn_app().await;
    let owner = app.create_user("mallory@example.com", PASSWORD).await;
    let c = owned_client(&app, &owner.id).await;
    for (change, error) in [
        (("response_type", "token"), "unsupported_response_type"),
        (("response_type", ""), "invalid_request"),
        (("prompt", "none"), "login_required"),
        (("scope", "write"), "invalid_scope"),
    ] {
        // Act
        let res = app
            .new_browser()
            .get(request_url(&app, &c, &[change]))
            .send()
            .await
            .expect("authorize");

        // Assert: RFC 9700 §4.11.2, not redirected automatically.
        assert_error_page(&res, error);
        let html = res.text().await.expect("body");
        let href = link_of(&html).unwrap_or_else(|| panic!("no link to the app for {error}"));
        assert!(href.starts_with(&format!("{CB}?")), "{href}");
        let q = query_of(&href);
        assert_eq!(q.get("error").map(String::as_str), Some(error));
        assert_eq!(q.get("state").map(String::as_str), Some("xyz"));
        assert_eq!(q.get("iss"), Some(&app.settings.issuer));
        assert_eq!(app.codes_issued().await, 0);
    }
}

#[tokio::test]
async fn authorize_still_redirects_errors_before_sign_in_for_operator_and_admin_clients() {
    // Arrange: a client without an owner (the operator's) and one registered by an admin.
    let app = spawn_app().await;
    let admin = latch::users::create(&app.db, "admin@example.com", PASSWORD, true)
        .await
        .expect("admin");
    let operator = app.confidential_client().await;
    let admins = owned_client(&app, &admin.id).await;
    for c in [&operator, &admins] {
        // Act
        let res = app
            .new_browser()
            .get(request_url(&app, c, &[("response_type", "token")]))
            .send()
            .await
            .expect("authorize");

        // Assert
        assert_eq!(res.status(), 303);
        let loc = location(&res);
        assert!(loc.starts_with(&format!("{}?", c.redirect_uri)), "{loc}");
        let q = query_of(&loc);
        assert_eq!(
            q.get("error").map(String::as_str),
            Some("unsupported_response_type")
        );
        assert_eq!(q.get("iss"), Some(&app.settings.issuer));
    }
}

#[tokio::test]
async fn authorize_redirects_errors_of_a_users_own_client_once_the_person_is_signed_in() {
    // Arrange
    let app = spawn_app().await;
    let owner = app.create_user("mallory@example.com", PASSWORD).await;
    app.create_user(ANN, PASSWORD).await;
    let c = owned_client(&app, &owner.id).await;
    let browser = app.new_browser();

    // Act: sign in for the request, then deny on the consent page.
    let res = app
        .authorize_in_browser(&browser, &request_url(&app, &c, &[]), ANN, "deny")
        .await;

    // Assert: access_denied goes back to the app with state and iss (RFC 6749 §4.1.2.1).
    assert_eq!(res.status(), 303);
    let loc = location(&res);
    assert!(loc.starts_with(&format!("{CB}?")), "{loc}");
    let q = query_of(&loc);
    assert_eq!(q.get("error").map(String::as_str), Some("access_denied"));
    assert_eq!(q.get("state").map(String::as_str), Some("xyz"));
    assert_eq!(q.get("iss"), Some(&app.settings.issuer));

    // Act: a request error while signed in.
    let res = browser
        .get(request_url(&app, &c, &[("response_type", "token")]))
        .send()
        .await
        .expect("authorize");

    // Assert
    assert_eq!(res.status(), 303);
    let q = query_of(&location(&res));
    assert_eq!(
        q.get("error").map(String::as_str),
        Some("unsupported_response_type")
    );
}

// ---------------------------------------------------------------------------------------------
// Finding 8: login_after is bound to the request and the session, and used once

/// `next` of a redirect to the sign-in page, or `None` for any other answer.
fn login_next(res: &reqwest::Response) -> Option<String> {
    let loc = res.headers().get("location")?.to_str().ok()?;
    if res.status() != 303 || !loc.starts_with("/login?") {
        return None;
    }
    query_of(loc).remove("next")
}

/// A first-party client: a signed-in person gets a code with no consent page, so skipping
/// the fresh sign-in would show as a code.
async fn first_party(app: &TestApp) -> TestClient {
    app.create_client(ClientSpec {
        first_party: true,
        ..ClientSpec::default()
    })
    .await
}

/// `login_after` of a `next` URL.
fn login_after_of(next: &str) -> String {
    query_of(next)
        .remove("login_after")
        .expect("login_after in next")
}

#[tokio::test]
async fn authorize_demands_sign_in_when_prompt_login_carries_another_persons_login_after() {
    // Arrange: Mallory starts a prompt=login flow and keeps its login_after; then Ann signs
    // in (after that login_after was made).
    let app = spawn_app().await;
    app.create_user("mallory@example.com", PASSWORD).await;
    app.create_user(ANN, PASSWORD).await;
    let c = first_party(&app).await;
    let mallory = app.signed_in_browser("mallory@example.com").await;
    let url = request_url(&app, &c, &[("prompt", "login")]);
    let res = mallory.get(&url).send().await.expect("authorize");
    let stolen = login_after_of(&login_next(&res).expect("sign-in demanded"));
    let ann = app.signed_in_browser(ANN).await;

    // Act
    let res = ann
        .get(request_url(
            &app,
            &c,
            &[("prompt", "login"), ("login_after", &stolen)],
        ))
        .send()
        .await
        .expect("authorize");

    // Assert
    assert!(
        login_next(&res).is_some(),
        "another person's login_after skipped the sign-in: {} {:?}",
        res.status(),
        res.headers().get("location")
    );
    assert_eq!(app.codes_issued().await, 0);
}

#[tokio::test]
async fn authorize_demands_sign_in_when_a_used_login_after_is_replayed() {
    // Arrange: Ann completes a prompt=login flow, signing in again.
    let app = spawn_app().await;
    app.create_user(ANN, PASSWORD).await;
    let c = first_party(&app).await;
    let browser = app.signed_in_browser(ANN).await;
    let res = browser
        .get(request_url(&app, &c, &[("prompt", "login")]))
        .send()
        .await
        .expect("authorize");
    let next = login_next(&res).expect("sign-in demanded");
    let login = app.sign_in(&browser, ANN, PASSWORD, &next).await;
    assert_eq!(login.status(), 303);
    let res = browser
        .get(app.url(&location(&login)))
        .send()
        .await
        .expect("back to authorize");
    assert!(
        query_of(&location(&res)).contains_key("code"),
        "the flow completes"
    );

    // Act: the same way back again (login_after already used).
    let res = browser.get(app.url(&next)).send().await.expect("replay");

    // Assert
    assert!(
        login_next(&res).is_some(),
        "a used login_after skipped the sign-in: {} {:?}",
        res.status(),
        res.headers().get("location")
    );
    assert_eq!(app.codes_issued().await, 1);
}

#[tokio::test]
async fn authorize_demands_sign_in_when_login_after_was_made_for_another_request() {
    // Arrange: Ann gets a login_after for one request, then signs in (for something else).
    let app = spawn_app().await;
    app.create_user(ANN, PASSWORD).await;
    let c = first_party(&app).await;
    let browser = app.signed_in_browser(ANN).await;
    let res = browser
        .get(request_url(
            &app,
            &c,
            &[("prompt", "login"), ("state", "one")],
        ))
        .send()
        .await
        .expect("authorize");
    let handle = login_after_of(&login_next(&res).expect("sign-in demanded"));
    let login = app.sign_in(&browser, ANN, PASSWORD, "/dashboard").await;
    assert_eq!(login.status(), 303);

    // Act: that login_after on another request.
    let res = browser
        .get(request_url(
            &app,
            &c,
            &[
                ("prompt", "login"),
                ("state", "two"),
                ("login_after", &handle),
            ],
        ))
        .send()
        .await
        .expect("authorize");

    // Assert
    assert!(
        login_next(&res).is_some(),
        "a login_after of another request skipped the sign-in: {} {:?}",
        res.status(),
        res.headers().get("location")
    );
    assert_eq!(app.codes_issued().await, 0);
}

#[tokio::test]
async fn authorize_keeps_prompt_login_when_a_visitor_signs_in_for_it_and_asks_once() {
    // Arrange: no session yet.
    let app = spawn_app().await;
    app.create_user(ANN, PASSWORD).await;
    let c = first_party(&app).await;
    let browser = app.new_browser();
    let res = browser
        .get(request_url(&app, &c, &[("prompt", "login")]))
        .send()
        .await
        .expect("authorize");
    let next = login_next(&res).expect("sign-in demanded");
    assert_eq!(
        query_of(&next).get("prompt").map(String::as_str),
        Some("login")
    );

    // Act: sign in once.
    let login = app.sign_in(&browser, ANN, PASSWORD, &next).await;
    assert_eq!(login.status(), 303);
    let res = browser
        .get(app.url(&location(&login)))
        .send()
        .await
        .expect("back to authorize");

    // Assert: a code, not a second sign-in.
    assert_eq!(res.status(), 303);
    assert!(
        query_of(&location(&res)).contains_key("code"),
        "{:?}",
        location(&res)
    );
}

// ---------------------------------------------------------------------------------------------
// Finding 19: pages whose form ends in a redirect to the client allow its origin in
// form-action (Chrome applies form-action to the redirects after a form submission)

fn csp_of(res: &reqwest::Response) -> String {
    res.headers()
        .get_all("content-security-policy")
        .iter()
        .map(|v| v.to_str().expect("ascii").to_owned())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The sources of the policy's `form-action` directive; panics unless there is exactly one.
fn form_action_of(csp: &str) -> Vec<String> {
    let found: Vec<&str> = csp
        .split([';', ','])
        .map(str::trim)
        .filter(|d| d.starts_with("form-action"))
        .collect();
    assert_eq!(found.len(), 1, "one form-action in {csp}");
    found[0]
        .split_ascii_whitespace()
        .skip(1)
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn consent_page_csp_allows_the_redirect_uris_origin_in_form_action() {
    // Arrange
    let app = spawn_app().await;
    app.create_user(ANN, PASSWORD).await;
    let c = app
        .create_client(ClientSpec {
            redirect_uris: vec!["https://app.example.com:8443/oauth/callback?tenant=1"],
            ..ClientSpec::default()
        })
        .await;
    let browser = app.signed_in_browser(ANN).await;

    // Act
    let res = browser
        .get(request_url(&app, &c, &[]))
        .send()
        .await
        .expect("authorize");

    // Assert
    assert_eq!(res.status(), 200, "the consent page");
    let csp = csp_of(&res);
    assert_eq!(
        form_action_of(&csp),
        vec!["'self'", "https://app.example.com:8443"],
        "{csp}"
    );
    for kept in [
        "default-src 'none'",
        "frame-ancestors 'none'",
        "script-src 'self'",
        "base-uri 'none'",
    ] {
        assert!(csp.contains(kept), "{kept} missing from {csp}");
    }
    let html = res.text().await.expect("body");
    assert!(html.contains("action=\"/oauth/authorize\""));
}

#[tokio::test]
async fn consent_page_csp_names_the_scheme_of_a_native_apps_redirect_uri() {
    // Arrange: a native app with a private-use scheme (RFC 8252 §7.1).
    let app = spawn_app().await;
    app.create_user(ANN, PASSWORD).await;
    let c = app
        .create_client(ClientSpec {
            public: true,
            grant_types: vec!["authorization_code"],
            redirect_uris: vec!["com.example.app:/oauth2redirect"],
            ..ClientSpec::default()
        })
        .await;
    let browser = app.signed_in_browser(ANN).await;
    let (_, challenge) = pkce_pair();

    // Act
    let res = browser
        .get(request_url(
            &app,
            &c,
            &[
                ("code_challenge", &challenge),
                ("code_challenge_method", "S256"),
            ],
        ))
        .send()
        .await
        .expect("authorize");

    // Assert
    assert_eq!(res.status(), 200, "the consent page");
    let csp = csp_of(&res);
    assert_eq!(
        form_action_of(&csp),
        vec!["'self'", "com.example.app:"],
        "{csp}"
    );
}

#[tokio::test]
async fn sign_in_page_for_an_authorization_request_allows_the_redirect_uris_origin() {
    // Arrange: signing in for a first-party app ends in a redirect with the code.
    let app = spawn_app().await;
    let c = first_party(&app).await;
    let res = app
        .new_browser()
        .get(request_url(&app, &c, &[]))
        .send()
        .await
        .expect("authorize");
    let next = login_next(&res).expect("sign-in demanded");

    // Act
    let page = app
        .new_browser()
        .get(app.url(&format!("/login?next={}", urlencode(&next))))
        .send()
        .await
        .expect("login page");
    let plain = app
        .new_browser()
        .get(app.url("/login"))
        .send()
        .await
        .expect("login page");

    // Assert
    assert_eq!(page.status(), 200);
    let csp = csp_of(&page);
    assert_eq!(
        form_action_of(&csp),
        vec!["'self'", "https://app.example.com"],
        "{csp}"
    );
    let plain_csp = csp_of(&plain);
    assert!(
        !plain_csp.contains("app.example.com"),
        "only sign-ins for that app: {plain_csp}"
    );
}

// ---------------------------------------------------------------------------------------------
// Finding 18: look-alike emails

/// Sign up through the form in a fresh browser.
async fn sign_up(app: &TestApp, email: &str) -> reqwest::Response {
    let browser = app.new_browser();
    let page = browser.get(app.url("/signup")).send().await.expect("GET");
    assert_eq!(page.status(), 200);
    let csrf = input_value(&page.text().await.expect("body"), "csrf").expect("csrf");
    browser
        .post(app.url("/signup"))
        .form(&[
            ("email", email),
            ("password", PASSWORD),
            ("csrf", csrf.as_str()),
            ("next", ""),
        ])
        .send()
        .await
        .expect("POST /signup")
}

async fn user_count(app: &TestApp) -> u64 {
    latch::store::users::count(&app.db).await.expect("count")
}

#[tokio::test]
async fn signup_refuses_an_email_that_mixes_latin_with_cyrillic_or_greek() {
    // Arrange
    let app = spawn_app().await;
    app.create_user("alice@example.com", PASSWORD).await;
    for lookalike in [
        "\u{0430}lice@example.com", // Cyrillic а
        "alic\u{0435}@example.com", // Cyrillic е
        "\u{03B1}lice@example.com", // Greek α
        "alice@ex\u{0430}mple.com", // Cyrillic а in the domain
    ] {
        // Act
        let res = sign_up(&app, lookalike).await;

        // Assert
        assert_eq!(res.status(), 422, "{lookalike}");
        let html = html_unescape(&res.text().await.expect("body"));
        assert!(
            html.contains("mixes letters from different alphabets"),
            "{lookalike}: {html}"
        );
    }
    assert_eq!(user_count(&app).await, 1, "no look-alike account");
}

#[tokio::test]
async fn signup_refuses_an_email_with_invisible_or_bidi_characters() {
    // Arrange
    let app = spawn_app().await;
    for hidden in [
        "ali\u{200B}ce@example.com", // zero-width space
        "ali\u{200D}ce@example.com", // zero-width joiner
        "ali\u{00AD}ce@example.com", // soft hyphen
        "\u{FEFF}alice@example.com", // byte-order mark
        "alice\u{202E}@example.com", // right-to-left override
        "alice\u{2067}@example.com", // right-to-left isolate
    ] {
        // Act
        let res = sign_up(&app, hidden).await;

        // Assert
        assert_eq!(res.status(), 422, "{hidden:?}");
        let html = html_unescape(&res.text().await.expect("body"));
        assert!(
            html.contains("invisible or text-direction characters"),
            "{hidden:?}: {html}"
        );
    }
    assert_eq!(user_count(&app).await, 0);
}

#[tokio::test]
async fn signup_with_a_fullwidth_form_of_a_taken_email_creates_no_second_account() {
    // Arrange
    let app = spawn_app().await;
    let alice = app.create_user("alice@example.com", PASSWORD).await;

    // Act
    let res = sign_up(&app, "ＡＬＩＣＥ@example.com").await;

    // Assert: the same answer as for any taken email, and still one account.
    assert_eq!(res.status(), 303);
    assert_eq!(user_count(&app).await, 1);
    let events = latch::store::audit::page(
        &app.db,
        Some(&alice.id),
        latch::store::audit::ModeFilter::All,
        100,
        None,
    )
    .await
    .expect("events");
    assert!(events.iter().any(|e| e.kind == "signup.duplicate"));
}

#[tokio::test]
async fn signup_stores_a_fullwidth_email_in_its_normal_form() {
    // Arrange
    let app = spawn_app().await;

    // Act
    let res = sign_up(&app, " ｂｏｂ＠ｅｘａｍｐｌｅ．ｃｏｍ ").await;

    // Assert
    assert_eq!(res.status(), 303);
    let bob = latch::store::users::by_email(&app.db, "bob@example.com")
        .await
        .expect("lookup")
        .expect("bob's account");
    assert_eq!(bob.email, "bob@example.com");
}

#[tokio::test]
async fn sign_in_with_the_fullwidth_form_of_an_email_signs_in_to_that_account() {
    // Arrange
    let app = spawn_app().await;
    app.create_user("alice@example.com", PASSWORD).await;
    let browser = app.new_browser();

    // Act
    let res = app
        .sign_in(&browser, "ＡＬＩＣＥ@example.com", PASSWORD, "/dashboard")
        .await;

    // Assert
    assert_eq!(res.status(), 303, "signed in");
    assert_eq!(location(&res), "/dashboard");
    let page = browser
        .get(app.url("/dashboard"))
        .send()
        .await
        .expect("dashboard");
    assert_eq!(page.status(), 200);
    assert!(
        page.text()
            .await
            .expect("body")
            .contains("alice@example.com")
    );
}

/// `latch user create --email EMAIL --json` against the app's database.
fn cli_user_create(app: &TestApp, email: &str) -> std::process::Output {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_latch"));
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("LATCH_") {
            c.env_remove(k);
        }
    }
    c.env("LATCH_DATABASE_URL", &app.test_db.url)
        .env(
            "LATCH_SECRET_KEY",
            latch::config::SecretKey::generate().to_base64(),
        )
        .args(["user", "create", "--email", email, "--json"])
        .stdin(std::process::Stdio::null())
        .output()
        .expect("latch runs")
}

#[tokio::test]
async fn cli_user_create_normalises_the_email_and_refuses_look_alikes() {
    // Arrange
    let app = spawn_app().await;

    // Act
    let created = cli_user_create(&app, "ＢＯＢ@example.com");
    let again = cli_user_create(&app, "bob@example.com");
    let lookalike = cli_user_create(&app, "b\u{043E}b@example.com"); // Cyrillic о

    // Assert
    assert!(created.status.success(), "{created:?}");
    let v: serde_json::Value = serde_json::from_slice(&created.stdout).expect("JSON");
    assert_eq!(v["email"], "BOB@example.com");
    assert!(!again.status.success());
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("already exists"),
        "{again:?}"
    );
    assert!(!lookalike.status.success());
    assert!(
        String::from_utf8_lossy(&lookalike.stderr).contains("different alphabets"),
        "{lookalike:?}"
    );
}
