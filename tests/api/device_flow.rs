//! The device authorization grant (RFC 8628) end to end: the `oauth2` crate as the device,
//! reqwest as the person's browser on `/device`; every polling answer (§3.5), expiry on the
//! app's clock, single redemption, denial, the grant enabled per client, and user-code
//! guessing throttled (§5.1).

use oauth2::basic::BasicClient;
use oauth2::{
    ClientId, DeviceAuthorizationUrl, Scope, StandardDeviceAuthorizationResponse, TokenResponse,
    TokenUrl,
};

use crate::helpers::*;

const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";
const WARNING: &str = "a code you were given by someone else";

/// A public CLI with the device grant and refresh tokens.
async fn cli_client(app: &TestApp) -> TestClient {
    app.create_client(ClientSpec {
        name: "Acme CLI",
        public: true,
        redirect_uris: vec![],
        grant_types: vec![DEVICE_GRANT, "refresh_token"],
        ..ClientSpec::default()
    })
    .await
}

/// `POST /oauth/device_authorization` for a public client: the JSON answer.
async fn device_authorization(app: &TestApp, client_id: &str, scope: &str) -> serde_json::Value {
    let res = app
        .post_form(
            "/oauth/device_authorization",
            &[("client_id", client_id), ("scope", scope)],
        )
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["cache-control"], "no-store");
    json(res).await
}

async fn poll(app: &TestApp, client_id: &str, device_code: &str) -> reqwest::Response {
    app.post_token(&[
        ("grant_type", DEVICE_GRANT),
        ("device_code", device_code),
        ("client_id", client_id),
    ])
    .await
}

/// A signed-in browser that entered `typed` on `/device`: the answer to that POST.
async fn enter_code(app: &TestApp, browser: &reqwest::Client, typed: &str) -> reqwest::Response {
    let page = browser
        .get(app.url("/device"))
        .send()
        .await
        .expect("device page");
    assert_eq!(page.status(), 200);
    let csrf = input_value(&page.text().await.expect("html"), "csrf").expect("csrf");
    browser
        .post(app.url("/device"))
        .form(&[("csrf", csrf.as_str()), ("user_code", typed)])
        .send()
        .await
        .expect("enter code")
}

/// Answer the consent screen `html` (the answer to [`enter_code`]) with `decision`.
async fn decide(
    app: &TestApp,
    browser: &reqwest::Client,
    html: &str,
    decision: &str,
) -> reqwest::Response {
    let form = &html[html
        .find("action=\"/device/decision\"")
        .expect("decision form")..];
    let csrf = input_value(form, "csrf").expect("csrf");
    let user_code = input_value(form, "user_code").expect("user_code");
    browser
        .post(app.url("/device/decision"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("user_code", user_code.as_str()),
            ("decision", decision),
        ])
        .send()
        .await
        .expect("decision")
}

/// Sign in, enter `user_code`, answer `decision`.
async fn answer(app: &TestApp, email: &str, user_code: &str, decision: &str) -> String {
    let browser = app.signed_in_browser(email).await;
    let res = enter_code(app, &browser, user_code).await;
    assert_eq!(res.status(), 200);
    let html = res.text().await.expect("consent");
    let res = decide(app, &browser, &html, decision).await;
    assert_eq!(res.status(), 200);
    res.text().await.expect("done page")
}

#[tokio::test]
async fn the_oauth2_crate_completes_the_device_flow_while_a_person_approves_in_a_browser() {
    // Arrange
    let app = spawn_app().await;
    let user = app.create_user("ada@example.com", PASSWORD).await;
    let c = cli_client(&app).await;
    let client = BasicClient::new(ClientId::new(c.id.clone()))
        .set_device_authorization_url(
            DeviceAuthorizationUrl::new(app.url("/oauth/device_authorization")).unwrap(),
        )
        .set_token_uri(TokenUrl::new(app.url("/oauth/token")).unwrap());
    let http = oauth_http();

    // Act: the device asks for codes.
    let details: StandardDeviceAuthorizationResponse = client
        .exchange_device_code()
        .add_scope(Scope::new("openid".into()))
        .add_scope(Scope::new("read".into()))
        .request_async(&http)
        .await
        .expect("device authorization");

    // Assert: RFC 8628 §3.2, with an easy-to-read code.
    let iss = &app.settings.issuer;
    assert_eq!(details.verification_uri().as_str(), format!("{iss}/device"));
    let user_code = details.user_code().secret().clone();
    assert_eq!(user_code.len(), 9, "{user_code}");
    assert_eq!(&user_code[4..5], "-");
    assert!(
        user_code
            .chars()
            .filter(|c| *c != '-')
            .all(|c| "BCDFGHJKLMNPQRSTVWXZ".contains(c)),
        "{user_code}"
    );
    let complete = details
        .verification_uri_complete()
        .expect("verification_uri_complete")
        .secret()
        .clone();
    assert_eq!(complete, format!("{iss}/device?user_code={user_code}"));
    // The issuer is the public address; the test talks to the listening port.
    let complete = complete.replacen(iss.as_str(), &app.address, 1);
    assert_eq!(details.interval(), std::time::Duration::from_secs(5));
    assert!(details.expires_in().as_secs() >= 300);

    // Act: the device polls (each wait moves the app's clock instead of sleeping) while
    // the person opens the complete URI, signs in, checks the code and allows.
    let clock = app.clock.clone();
    let polls = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
    let counted = polls.clone();
    let sleep = move |d: std::time::Duration| {
        clock.advance(chrono::TimeDelta::from_std(d).unwrap());
        counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        tokio::time::sleep(std::time::Duration::from_millis(40))
    };
    let device = client
        .exchange_device_access_token(&details)
        .request_async(&http, sleep, None);
    let person = async {
        let browser = app.new_browser();
        let res = browser.get(&complete).send().await.expect("complete uri");
        assert_eq!(res.status(), 303);
        let next = query_of(&location(&res)).remove("next").expect("next");
        assert_eq!(next, format!("/device?user_code={user_code}"));
        let login = app
            .sign_in(&browser, "ada@example.com", PASSWORD, &next)
            .await;
        assert_eq!(login.status(), 303);
        assert_eq!(location(&login), next);
        let page = browser
            .get(app.url(&next))
            .send()
            .await
            .expect("device page");
        let html = page.text().await.expect("html");
        // Prefilled, but the person still confirms it (§5.4).
        assert_eq!(
            input_value(&html, "user_code").as_deref(),
            Some(user_code.as_str())
        );
        let csrf = input_value(&html, "csrf").expect("csrf");
        let res = browser
            .post(app.url("/device"))
            .form(&[("csrf", csrf.as_str()), ("user_code", user_code.as_str())])
            .send()
            .await
            .expect("enter");
        assert_eq!(res.status(), 200);
        let consent = html_unescape(&res.text().await.expect("consent"));
        assert!(consent.contains("Acme CLI"), "{consent}");
        assert!(consent.contains(&user_code), "the code to compare");
        assert!(consent.to_lowercase().contains(WARNING), "phishing warning");
        assert!(consent.contains("Confirm your identity"), "scopes in words");
        let res = decide(&app, &browser, &consent, "allow").await;
        assert_eq!(res.status(), 200);
        assert!(res.text().await.unwrap().contains("Device connected"));
    };
    let (token, ()) = tokio::join!(device, person);

    // Assert: tokens for the person, with the refresh token the client's rules give.
    let token = token.expect("device access token");
    assert!(
        polls.load(std::sync::atomic::Ordering::SeqCst) >= 1,
        "it polled while pending"
    );
    let claims = jwt_claims(token.access_token().secret());
    assert_eq!(claims["sub"], user.id.as_str());
    assert_eq!(claims["client_id"], c.id.as_str());
    assert_eq!(claims["scope"], "openid read");
    assert!(token.refresh_token().is_some());
    // The access token works at userinfo.
    let res = bearer_get(&app, token.access_token().secret(), "/oauth/userinfo").await;
    assert_eq!(res.status(), 200);
    assert_eq!(json(res).await["sub"], user.id.as_str());
}

#[tokio::test]
async fn polling_answers_pending_slow_down_denied_and_the_interval_grows_by_five_seconds() {
    // Arrange
    let app = spawn_app().await;
    app.create_user("ada@example.com", PASSWORD).await;
    let c = cli_client(&app).await;
    let d = device_authorization(&app, &c.id, "read").await;
    let code = d["device_code"].as_str().expect("device_code");

    // Act + Assert: pending, then too fast.
    expect_oauth_error(poll(&app, &c.id, code).await, 400, "authorization_pending").await;
    expect_oauth_error(poll(&app, &c.id, code).await, 400, "slow_down").await;
    // §3.5: the interval is now 10 s: 5 s later is still too fast (and adds 5 more)…
    app.advance(5);
    expect_oauth_error(poll(&app, &c.id, code).await, 400, "slow_down").await;
    // …15 s later is fine.
    app.advance(15);
    expect_oauth_error(poll(&app, &c.id, code).await, 400, "authorization_pending").await;

    // Act: the person denies.
    let done = answer(
        &app,
        "ada@example.com",
        d["user_code"].as_str().unwrap(),
        "deny",
    )
    .await;
    assert!(done.contains("Request denied"), "{done}");

    // Assert
    app.advance(20);
    expect_oauth_error(poll(&app, &c.id, code).await, 400, "access_denied").await;
}

#[tokio::test]
async fn an_expired_device_code_answers_expired_token_and_its_user_code_is_refused() {
    // Arrange
    let app = spawn_app().await;
    app.create_user("ada@example.com", PASSWORD).await;
    let c = cli_client(&app).await;
    let d = device_authorization(&app, &c.id, "read").await;
    let code = d["device_code"].as_str().expect("device_code");
    let expires_in = d["expires_in"].as_i64().expect("expires_in");

    // Act
    app.advance(expires_in + 1);

    // Assert
    expect_oauth_error(poll(&app, &c.id, code).await, 400, "expired_token").await;
    let browser = app.signed_in_browser("ada@example.com").await;
    let res = enter_code(&app, &browser, d["user_code"].as_str().unwrap()).await;
    assert_eq!(res.status(), 400);
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("not valid or has expired")
    );
}

#[tokio::test]
async fn a_device_code_is_redeemed_once_and_only_by_its_client() {
    // Arrange
    let app = spawn_app().await;
    app.create_user("ada@example.com", PASSWORD).await;
    let c = cli_client(&app).await;
    let other = cli_client(&app).await;
    let d = device_authorization(&app, &c.id, "read").await;
    let code = d["device_code"].as_str().expect("device_code");
    // Typed in lower case, without the dash.
    let typed = d["user_code"]
        .as_str()
        .unwrap()
        .replace('-', "")
        .to_lowercase();
    answer(&app, "ada@example.com", &typed, "allow").await;

    // Act + Assert: another client cannot redeem it.
    expect_oauth_error(poll(&app, &other.id, code).await, 400, "invalid_grant").await;
    let res = poll(&app, &c.id, code).await;
    assert_token_headers(&res);
    assert_eq!(res.status(), 200);
    let body = json(res).await;
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["scope"], "read");
    // A second redemption is refused.
    app.advance(10);
    expect_oauth_error(poll(&app, &c.id, code).await, 400, "invalid_grant").await;
    // Garbage is refused without a lookup.
    expect_oauth_error(poll(&app, &c.id, "dc_nope").await, 400, "invalid_grant").await;
}

#[tokio::test]
async fn the_grant_must_be_enabled_on_the_client_and_the_client_authenticated() {
    // Arrange: a client with only the code grant; a confidential device client.
    let app = spawn_app().await;
    let web = app.public_client().await;
    let tv = app
        .create_client(ClientSpec {
            redirect_uris: vec![],
            grant_types: vec![DEVICE_GRANT],
            ..ClientSpec::default()
        })
        .await;

    // Act + Assert
    let res = app
        .post_form("/oauth/device_authorization", &[("client_id", &web.id)])
        .await;
    expect_oauth_error(res, 400, "unauthorized_client").await;
    let res = poll(&app, &web.id, "dc_whatever").await;
    expect_oauth_error(res, 400, "unauthorized_client").await;
    // Unknown client, or a confidential one without its secret.
    let res = app
        .post_form(
            "/oauth/device_authorization",
            &[("client_id", "cl_unknown")],
        )
        .await;
    expect_oauth_error(res, 401, "invalid_client").await;
    let res = app
        .post_form("/oauth/device_authorization", &[("client_id", &tv.id)])
        .await;
    expect_oauth_error(res, 401, "invalid_client").await;
    // With its secret, it works; a scope it may not ask for does not.
    let res = app
        .http
        .post(app.url("/oauth/device_authorization"))
        .basic_auth(&tv.id, Some(tv.secret()))
        .form(&[("scope", "read")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let res = app
        .http
        .post(app.url("/oauth/device_authorization"))
        .basic_auth(&tv.id, Some(tv.secret()))
        .form(&[("scope", "read admin")])
        .send()
        .await
        .unwrap();
    expect_oauth_error(res, 400, "invalid_scope").await;
    // Only POST.
    let res = app.get("/oauth/device_authorization").await;
    assert!(res.status().is_client_error());
}

#[tokio::test]
async fn user_code_guessing_is_throttled_per_ip_and_session_with_a_clear_message_for_wrong_codes() {
    // Arrange: limits on, 3 codes a minute.
    let app = spawn_app_with(|s| {
        s.rate_limit = true;
        s.limits.device_code = latch::rate_limit::Rate {
            count: 3,
            period: std::time::Duration::from_secs(60),
            burst: 3,
        };
    })
    .await;
    app.create_user("eve@example.com", PASSWORD).await;
    let c = cli_client(&app).await;
    let d = device_authorization(&app, &c.id, "read").await;
    let browser = app.signed_in_browser("eve@example.com").await;

    // Act: three wrong guesses.
    for guess in ["BCDF-GHJK", "XXXX-XXXX", "not a code"] {
        let res = enter_code(&app, &browser, guess).await;

        // Assert: a clear message, the form again.
        assert_eq!(res.status(), 400, "{guess}");
        let html = res.text().await.unwrap();
        assert!(html.contains("not valid or has expired"), "{html}");
        assert!(html.contains("action=\"/device\""));
    }
    // Assert: the fourth, even the right code, is refused; so is a fresh session from
    // the same address.
    let res = enter_code(&app, &browser, d["user_code"].as_str().unwrap()).await;
    assert_eq!(res.status(), 429);
    assert!(res.headers().get("retry-after").is_some());
    let again = app.signed_in_browser("eve@example.com").await;
    let res = enter_code(&app, &again, d["user_code"].as_str().unwrap()).await;
    assert_eq!(res.status(), 429);
    // Wrong codes are on the person's activity.
    use sea_orm::EntityTrait;
    let events: Vec<String> = entity::audit_event::Entity::find()
        .all(&app.db)
        .await
        .expect("events")
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert!(
        events.iter().any(|k| k == "device.code_rejected"),
        "{events:?}"
    );
}

#[tokio::test]
async fn the_device_page_needs_sign_in_csrf_and_answers_each_code_once() {
    // Arrange
    let app = spawn_app().await;
    app.create_user("ada@example.com", PASSWORD).await;
    let c = cli_client(&app).await;
    let d = device_authorization(&app, &c.id, "read").await;

    // Signed out: to the sign-in page, then back.
    let res = app
        .new_browser()
        .get(app.url("/device"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), "/login?next=%2Fdevice");

    // No CSRF token: refused.
    let browser = app.signed_in_browser("ada@example.com").await;
    let res = browser
        .post(app.url("/device"))
        .form(&[("user_code", d["user_code"].as_str().unwrap())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);

    // Answered once: a replayed decision is refused and changes nothing.
    let res = enter_code(&app, &browser, d["user_code"].as_str().unwrap()).await;
    let html = res.text().await.unwrap();
    let first = decide(&app, &browser, &html, "allow").await;
    assert_eq!(first.status(), 200);
    let replay = decide(&app, &browser, &html, "deny").await;
    assert_eq!(replay.status(), 400);
    let res = poll(&app, &c.id, d["device_code"].as_str().unwrap()).await;
    assert_eq!(res.status(), 200);
    // The code is no longer pending: entering it again says so.
    let res = enter_code(&app, &browser, d["user_code"].as_str().unwrap()).await;
    assert_eq!(res.status(), 400);
}

#[tokio::test]
async fn metadata_names_the_device_endpoint_and_grant() {
    // Arrange
    let app = spawn_app().await;

    // Act
    let m = json(app.get("/.well-known/oauth-authorization-server").await).await;

    // Assert
    assert_eq!(
        m["device_authorization_endpoint"],
        format!("{}/oauth/device_authorization", app.settings.issuer)
    );
    assert!(
        m["grant_types_supported"]
            .as_array()
            .unwrap()
            .iter()
            .any(|g| g == DEVICE_GRANT)
    );
}

#[tokio::test]
async fn the_sweeper_deletes_device_authorizations_a_day_past_their_expiry() {
    // Arrange
    let app = spawn_app().await;
    let c = cli_client(&app).await;
    let d = device_authorization(&app, &c.id, "read").await;
    let code = d["device_code"].as_str().expect("device_code");

    // Act
    app.advance(600 + 86_400 + 1);
    latch::sweeper::sweep(&app.db, app.clock.now(), chrono::TimeDelta::days(90))
        .await
        .expect("sweep");

    // Assert: gone (an expired but kept code would answer expired_token).
    expect_oauth_error(poll(&app, &c.id, code).await, 400, "invalid_grant").await;
}

#[tokio::test]
async fn an_answer_goes_only_to_the_code_its_screen_showed() {
    // Arrange: two codes; the person opens the first, then enters the second in another tab.
    let app = spawn_app().await;
    app.create_user("ada@example.com", PASSWORD).await;
    let c = cli_client(&app).await;
    let first = device_authorization(&app, &c.id, "read").await;
    let second = device_authorization(&app, &c.id, "read").await;
    let browser = app.signed_in_browser("ada@example.com").await;
    let res = enter_code(&app, &browser, first["user_code"].as_str().unwrap()).await;
    let first_screen = res.text().await.unwrap();
    let res = enter_code(&app, &browser, second["user_code"].as_str().unwrap()).await;
    assert_eq!(res.status(), 200);

    // Act: "Allow" on the first screen.
    let res = decide(&app, &browser, &first_screen, "allow").await;

    // Assert: refused; neither code was approved.
    assert_eq!(res.status(), 400);
    for d in [&first, &second] {
        let res = poll(&app, &c.id, d["device_code"].as_str().unwrap()).await;
        expect_oauth_error(res, 400, "authorization_pending").await;
    }
}

#[tokio::test]
async fn an_app_registered_on_the_dashboard_with_the_device_grant_can_start_the_flow() {
    // Arrange
    let app = spawn_app().await;
    let ann = app.create_user("ann@example.com", PASSWORD).await;
    let browser = app.signed_in_browser("ann@example.com").await;
    let page = browser
        .get(app.url("/dashboard/apps/new"))
        .send()
        .await
        .unwrap();
    let html = page.text().await.unwrap();
    assert!(html.contains("name=\"grant_device_code\""), "{html}");
    let csrf = input_value(&html, "csrf").expect("csrf");

    // Act: a public app with only the device grant (no redirect URI needed).
    let res = browser
        .post(app.url("/dashboard/apps"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("name", "Ann's CLI"),
            ("kind", "public"),
            ("mode", "live"),
            ("grant_device_code", "on"),
            ("redirect_uris", ""),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let rows = latch::store::clients::page(
        &app.db,
        latch::store::clients::Owner::User(&ann.id),
        None,
        10,
        None,
    )
    .await
    .unwrap();

    // Assert
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].grant_types, DEVICE_GRANT);
    let d = device_authorization(&app, &rows[0].id, "read").await;
    assert!(d["user_code"].as_str().is_some());
}
