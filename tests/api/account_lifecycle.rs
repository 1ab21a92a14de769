//! The end and the change of an account (issue #12 item 7, #15 item 7), black-box:
//! deleting an account from Settings after a fresh sign-in (its keys, tokens, sessions,
//! consents and apps stop; its events stay without its email; the last admin is refused;
//! the address can sign up again), `DELETE /v1/users/{id}` for admins, the email change
//! through the real SMTP sink (link to the new address, notice to the old, single use,
//! taken and look-alike addresses refused, `email_verified` truthful), new recovery codes
//! (old ones refused, new ones once), and `amr` in the device flow's ID token.

use crate::helpers::*;
use crate::smtp_sink::{SmtpSink, mail_settings};

const ROOT: &str = "root@example.com";
const ANN: &str = "ann@example.com";
const BOB: &str = "bob@example.com";

async fn admin(app: &TestApp, email: &str) -> entity::user::Model {
    latch::users::create(&app.db, email, PASSWORD, true)
        .await
        .expect("admin created")
}

async fn post_delete(
    app: &TestApp,
    browser: &reqwest::Client,
    confirm: &str,
    password: &str,
) -> reqwest::Response {
    let csrf = page_csrf(app, browser, "/dashboard/settings/account").await;
    browser
        .post(app.url("/dashboard/settings/delete"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("confirm_email", confirm),
            ("password", password),
        ])
        .send()
        .await
        .unwrap()
}

async fn all_events(app: &TestApp) -> Vec<entity::audit_event::Model> {
    latch::store::audit::page(
        &app.db,
        None,
        latch::store::audit::ModeFilter::All,
        1000,
        None,
    )
    .await
    .unwrap()
}

async fn api_delete(app: &TestApp, key: &str, path: &str) -> reqwest::Response {
    app.http
        .delete(app.url(path))
        .bearer_auth(key)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn deleting_an_account_ends_its_keys_tokens_sessions_consents_and_apps_and_keeps_its_events_without_the_email()
 {
    // Arrange: ann is an admin (root is another), with a key, a session elsewhere, an app
    // she authorized (refresh token), an app of her own, and an event about bob that names
    // her.
    let app = spawn_app().await;
    admin(&app, ROOT).await;
    let ann = admin(&app, ANN).await;
    let bob = app.create_user(BOB, PASSWORD).await;
    let (_, key) = key_for(&app, &ann.id, true, &["read", "write"]).await;
    assert_eq!(bearer_get(&app, &key, "/v1/users/me").await.status(), 200);
    let res = bearer_post(&app, &key, &format!("/v1/users/{}/disable", bob.id), &[]).await;
    let status = res.status();
    assert_eq!(status, 200, "{}", res.text().await.unwrap());
    let client = app.confidential_client().await;
    let code = app.obtain_code(&client, ANN, &[]).await;
    let tokens = json(
        app.post_token_basic(
            &client.id,
            client.secret(),
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", &client.redirect_uri),
            ],
        )
        .await,
    )
    .await;
    let refresh = tokens["refresh_token"]
        .as_str()
        .expect("refresh")
        .to_owned();
    let access = tokens["access_token"].as_str().expect("access").to_owned();
    assert_eq!(
        bearer_get(&app, &access, "/v1/users/me").await.status(),
        200
    );
    let (own_app, own_secret) = latch::clients::create(
        &app.db,
        &app.state.catalog.get(),
        &app.state.logos,
        latch::clients::NewClient {
            name: "Ann's tool".into(),
            redirect_uris: vec![],
            public: false,
            grant_types: vec!["client_credentials".into()],
            scopes: vec!["read".into()],
            livemode: true,
            first_party: false,
            resource_server: false,
            owner_id: Some(ann.id.clone()),
            metadata: Default::default(),
            allowed_origins: None,
        },
    )
    .await
    .expect("own app");
    let own_secret = own_secret.expect("confidential");
    let cc = || {
        app.post_token_basic(
            &own_app.id,
            &own_secret,
            &[("grant_type", "client_credentials"), ("scope", "read")],
        )
    };
    assert_eq!(cc().await.status(), 200);
    let elsewhere = app.signed_in_browser(ANN).await;
    let browser = app.signed_in_browser(ANN).await;
    assert!(
        !latch::store::consents::for_user(&app.db, &ann.id)
            .await
            .unwrap()
            .is_empty()
    );

    // Act + Assert: a wrong confirmation or a wrong password (the fresh sign-in) deletes
    // nothing.
    let res = post_delete(&app, &browser, "someone@example.com", PASSWORD).await;
    assert_eq!(res.status(), 422);
    let res = post_delete(&app, &browser, ANN, "not the password at all").await;
    assert_eq!(res.status(), 422);
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("password is not correct")
    );
    assert!(
        latch::store::users::by_id(&app.db, &ann.id)
            .await
            .unwrap()
            .is_some()
    );

    // Act
    let res = post_delete(&app, &browser, "ANN@example.com", PASSWORD).await;

    // Assert
    assert_eq!(res.status(), 200);
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("Your account was deleted")
    );
    assert!(
        latch::store::users::by_id(&app.db, &ann.id)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(dashboard_status(&app, &browser).await, 303, "this session");
    assert_eq!(
        dashboard_status(&app, &elsewhere).await,
        303,
        "other sessions"
    );
    assert_eq!(
        bearer_get(&app, &key, "/v1/users/me").await.status(),
        401,
        "API key"
    );
    assert_eq!(
        bearer_get(&app, &access, "/v1/users/me").await.status(),
        401,
        "access token"
    );
    expect_oauth_error(
        app.post_token_basic(
            &client.id,
            client.secret(),
            &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
        )
        .await,
        400,
        "invalid_grant",
    )
    .await;
    assert!(
        latch::store::consents::for_user(&app.db, &ann.id)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(cc().await.status(), 401, "her app is gone");
    // Her events stay, her address is nowhere in the trail.
    let events = all_events(&app).await;
    let hers: Vec<&str> = events
        .iter()
        .filter(|e| e.user_id.as_deref() == Some(ann.id.as_str()))
        .map(|e| e.kind.as_str())
        .collect();
    assert!(hers.contains(&"account.deleted"), "{hers:?}");
    assert!(hers.contains(&"signin.succeeded"), "{hers:?}");
    assert!(
        events
            .iter()
            .all(|e| !e.detail.to_lowercase().contains(ANN)),
        "no event names the deleted address"
    );
    let about_bob = events
        .iter()
        .find(|e| e.user_id.as_deref() == Some(bob.id.as_str()) && e.kind == "user.disabled")
        .expect("bob's event");
    assert!(
        about_bob.detail.contains("deleted user"),
        "{}",
        about_bob.detail
    );
    // The address can sign up again, as a new account.
    let again = app.create_user(ANN, PASSWORD).await;
    assert_ne!(again.id, ann.id);
}

#[tokio::test]
async fn the_last_admin_cannot_delete_their_account_and_admins_delete_others_through_v1() {
    // Arrange
    let app = spawn_app().await;
    let root = admin(&app, ROOT).await;
    let bob = app.create_user(BOB, PASSWORD).await;
    let browser = app.signed_in_browser(ROOT).await;

    // Act + Assert: the only admin is refused, with a clear message.
    let res = post_delete(&app, &browser, ROOT, PASSWORD).await;
    assert_eq!(res.status(), 422);
    assert!(res.text().await.unwrap().contains("only admin"));
    assert_eq!(dashboard_status(&app, &browser).await, 200);

    // /v1: not on oneself; another account, yes.
    let (_, key) = key_for(&app, &root.id, true, &["read", "write"]).await;
    let res = api_delete(&app, &key, &format!("/v1/users/{}", root.id)).await;
    assert_eq!(res.status(), 400);
    assert_eq!(json(res).await["error"]["code"], "cannot_delete_self");
    let (_, bobs_key) = key_for(&app, &bob.id, true, &["read", "write"]).await;
    let res = api_delete(&app, &bobs_key, &format!("/v1/users/{}", root.id)).await;
    assert_eq!(res.status(), 403, "only admins");
    let res = api_delete(&app, &key, &format!("/v1/users/{}", bob.id)).await;
    assert_eq!(res.status(), 200);
    let body = json(res).await;
    assert_eq!(body["deleted"], true, "{body}");
    assert_eq!(
        bearer_get(&app, &key, &format!("/v1/users/{}", bob.id))
            .await
            .status(),
        404
    );
    assert_eq!(
        bearer_get(&app, &bobs_key, "/v1/users/me").await.status(),
        401
    );
    let res = api_delete(&app, &key, &format!("/v1/users/{}", bob.id)).await;
    assert_eq!(res.status(), 404);
}

// ---------------------------------------------------------------------------------------------
// Email change

const EVE: &str = "eve@example.com";
const NEW: &str = "eve.new@example.com";

async fn post_email(
    app: &TestApp,
    browser: &reqwest::Client,
    new: &str,
    password: &str,
) -> reqwest::Response {
    let csrf = page_csrf(app, browser, "/dashboard/settings/account").await;
    browser
        .post(app.url("/dashboard/settings/email"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("new_email", new),
            ("password", password),
        ])
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn an_email_change_mails_the_new_address_a_single_use_link_and_the_old_one_a_notice() {
    // Arrange
    let sink = SmtpSink::start().await;
    let url = sink.url();
    let app = spawn_app_with(move |s| s.mail = Some(mail_settings(&url))).await;
    admin(&app, ROOT).await;
    let eve = app.create_user(EVE, PASSWORD).await;
    let client = app.confidential_client().await;
    let browser = app.signed_in_browser(EVE).await;

    // Act + Assert: refusals change nothing and mail nothing.
    let res = post_email(&app, &browser, ROOT, PASSWORD).await;
    assert_eq!(res.status(), 422, "a taken address");
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("Another account uses that email")
    );
    let res = post_email(&app, &browser, "e\u{0435}ve@example.com", PASSWORD).await;
    assert_eq!(res.status(), 422, "a look-alike (Cyrillic е)");
    let res = post_email(&app, &browser, NEW, "not the password at all").await;
    assert_eq!(res.status(), 422, "the fresh sign-in");

    // Act
    let res = post_email(&app, &browser, NEW, PASSWORD).await;

    // Assert: two mails; nothing changed yet.
    assert_eq!(res.status(), 303);
    let mails = sink.wait_for(2, 10).await;
    assert_eq!(mails.len(), 2, "no mail for the refused attempts");
    let to_new = mails
        .iter()
        .find(|m| m.to == vec![NEW.to_owned()])
        .expect("to new");
    let to_old = mails
        .iter()
        .find(|m| m.to == vec![EVE.to_owned()])
        .expect("notice");
    assert!(
        to_old.text().contains("e******@example.com"),
        "{}",
        to_old.text()
    );
    assert!(
        !to_old.text().contains("token="),
        "the notice carries no link"
    );
    let link = app.url(&to_new.link("/email/change?token="));
    let before = latch::store::users::by_id(&app.db, &eve.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(before.email, EVE);

    // Act: the link, twice.
    let res = app.new_browser().get(&link).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let again = app.new_browser().get(&link).send().await.unwrap();
    assert_eq!(again.status(), 400, "single use");

    // Assert: the new address, verified, in the ID token and userinfo.
    let after = latch::store::users::by_id(&app.db, &eve.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(after.email, NEW);
    assert!(after.email_verified_at.is_some());
    let code = app
        .obtain_code(&client, NEW, &[("scope", "openid email")])
        .await;
    let body = json(
        app.post_token_basic(
            &client.id,
            client.secret(),
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", &client.redirect_uri),
            ],
        )
        .await,
    )
    .await;
    let id = jwt_claims(body["id_token"].as_str().expect("id_token"));
    assert_eq!(id["email"], NEW);
    assert_eq!(id["email_verified"], true);
    let info = json(
        bearer_get(
            &app,
            body["access_token"].as_str().unwrap(),
            "/oauth/userinfo",
        )
        .await,
    )
    .await;
    assert_eq!(info["email"], NEW);
    assert_eq!(info["email_verified"], true);
    let old = app.new_browser();
    assert_ne!(
        app.sign_in(&old, EVE, PASSWORD, "/").await.status(),
        303,
        "the old address"
    );
    let kinds: Vec<String> = all_events(&app)
        .await
        .into_iter()
        .filter(|e| e.user_id.as_deref() == Some(eve.id.as_str()))
        .map(|e| e.kind)
        .collect();
    assert!(
        kinds.iter().any(|k| k == "email.change_requested"),
        "{kinds:?}"
    );
    assert!(kinds.iter().any(|k| k == "email.changed"), "{kinds:?}");
}

#[tokio::test]
async fn an_email_change_link_fails_when_the_address_was_taken_meanwhile() {
    // Arrange
    let sink = SmtpSink::start().await;
    let url = sink.url();
    let app = spawn_app_with(move |s| s.mail = Some(mail_settings(&url))).await;
    let eve = app.create_user(EVE, PASSWORD).await;
    let browser = app.signed_in_browser(EVE).await;
    assert_eq!(
        post_email(&app, &browser, NEW, PASSWORD).await.status(),
        303
    );
    let mails = sink.wait_for(2, 10).await;
    let to_new = mails
        .iter()
        .find(|m| m.to == vec![NEW.to_owned()])
        .expect("to new");
    let link = app.url(&to_new.link("/email/change?token="));
    app.create_user(NEW, PASSWORD).await;

    // Act
    let res = app.new_browser().get(&link).send().await.unwrap();

    // Assert
    assert_eq!(res.status(), 409);
    let still = latch::store::users::by_id(&app.db, &eve.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(still.email, EVE);
}

// ---------------------------------------------------------------------------------------------
// Recovery codes

const OTP: &str = "otp.user@example.com";

#[tokio::test]
async fn new_recovery_codes_are_shown_once_and_replace_the_old_ones() {
    // Arrange
    let app = spawn_app().await;
    app.create_user(OTP, PASSWORD).await;
    let browser = app.signed_in_browser(OTP).await;
    let (_secret, old_codes) = enrol_totp(&app, &browser).await;
    let csrf = page_csrf(&app, &browser, "/dashboard/settings/account").await;
    let post = |password: &'static str| {
        browser
            .post(app.url("/dashboard/settings/recovery-codes"))
            .form(&[("csrf", csrf.as_str()), ("password", password)])
            .send()
    };

    // Act + Assert: the fresh sign-in is required.
    let res = post("not the password at all").await.unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), "/dashboard/settings/security");

    // Act
    let res = post(PASSWORD).await.unwrap();

    // Assert: shown once (POST-redirect-GET).
    assert_eq!(res.status(), 303);
    let shown = location(&res);
    let html = browser
        .get(app.url(&shown))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let start =
        html.find("id=\"recovery-codes\">").expect("codes") + "id=\"recovery-codes\">".len();
    let end = html[start..].find("</code>").expect("end") + start;
    let new_codes: Vec<String> = html[start..end]
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    assert_eq!(new_codes.len(), 10);
    assert!(new_codes.iter().all(|c| !old_codes.contains(c)));
    let replay = browser.get(app.url(&shown)).send().await.unwrap();
    assert_eq!(replay.status(), 303, "shown only once");

    // An old code is refused; a new one works, once.
    let (b1, _) = password_step(&app, OTP, "/dashboard").await;
    assert_ne!(
        second_step(&app, &b1, &old_codes[0]).await.status(),
        303,
        "old code"
    );
    let (b2, _) = password_step(&app, OTP, "/dashboard").await;
    assert_eq!(
        second_step(&app, &b2, &new_codes[0]).await.status(),
        303,
        "new code"
    );
    let (b3, _) = password_step(&app, OTP, "/dashboard").await;
    assert_ne!(
        second_step(&app, &b3, &new_codes[0]).await.status(),
        303,
        "used once"
    );
    let kinds: Vec<String> = all_events(&app).await.into_iter().map(|e| e.kind).collect();
    assert!(
        kinds.iter().any(|k| k == "recovery_codes.regenerated"),
        "{kinds:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Device flow amr

const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

#[tokio::test]
async fn the_device_flow_id_token_carries_amr_and_auth_time_from_the_sign_in() {
    // Arrange: a person with TOTP signs in with both steps in the browser that approves.
    let app = spawn_app().await;
    app.create_user(OTP, PASSWORD).await;
    let (secret, _) = enrol_totp(&app, &app.signed_in_browser(OTP).await).await;
    let (browser, res) = password_step(&app, OTP, "/dashboard").await;
    assert_eq!(res.status(), 303);
    assert_eq!(
        second_step(&app, &browser, &totp_code(&app, &secret, 0))
            .await
            .status(),
        303
    );
    let c = app
        .create_client(ClientSpec {
            name: "Acme CLI",
            public: true,
            redirect_uris: vec![],
            grant_types: vec![DEVICE_GRANT, "refresh_token"],
            ..ClientSpec::default()
        })
        .await;
    let d = json(
        app.post_form(
            "/oauth/device_authorization",
            &[("client_id", c.id.as_str()), ("scope", "openid read")],
        )
        .await,
    )
    .await;
    let device_code = d["device_code"].as_str().expect("device_code");
    let user_code = d["user_code"].as_str().expect("user_code");

    // Act: the person enters the code and approves; the device polls.
    let page = browser.get(app.url("/device")).send().await.unwrap();
    let csrf = input_value(&page.text().await.unwrap(), "csrf").expect("csrf");
    let res = browser
        .post(app.url("/device"))
        .form(&[("csrf", csrf.as_str()), ("user_code", user_code)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let html = res.text().await.unwrap();
    let form = &html[html
        .find("action=\"/device/decision\"")
        .expect("decision form")..];
    let csrf = input_value(form, "csrf").expect("csrf");
    let uc = input_value(form, "user_code").expect("user_code");
    let res = browser
        .post(app.url("/device/decision"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("user_code", uc.as_str()),
            ("decision", "allow"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let res = app
        .post_token(&[
            ("grant_type", DEVICE_GRANT),
            ("device_code", device_code),
            ("client_id", &c.id),
        ])
        .await;

    // Assert: amr and auth_time, as the code flow's ID token has them; kept on refresh.
    assert_eq!(res.status(), 200);
    let body = json(res).await;
    let id = jwt_claims(body["id_token"].as_str().expect("id_token"));
    assert_eq!(id["amr"], serde_json::json!(["pwd", "otp"]), "{id}");
    assert!(id["auth_time"].as_i64().is_some(), "{id}");
    let res = app
        .post_token(&[
            ("grant_type", "refresh_token"),
            (
                "refresh_token",
                body["refresh_token"].as_str().expect("refresh"),
            ),
            ("client_id", &c.id),
        ])
        .await;
    assert_eq!(res.status(), 200);
    let refreshed = json(res).await;
    if let Some(t) = refreshed["id_token"].as_str() {
        let again = jwt_claims(t);
        assert_eq!(again["amr"], id["amr"]);
        assert_eq!(again["auth_time"], id["auth_time"]);
    }
}

#[tokio::test]
async fn a_deleted_account_stops_on_another_instance_within_the_revocation_delay() {
    // Arrange: ann's key and access token, cached by a second instance.
    let app = spawn_app().await;
    let other = spawn_sibling(&app).await;
    admin(&app, ROOT).await;
    let ann = app.create_user(ANN, PASSWORD).await;
    let (_, key) = key_for(&app, &ann.id, true, &["read", "write"]).await;
    let client = app.confidential_client().await;
    let code = app.obtain_code(&client, ANN, &[]).await;
    let tokens = json(
        app.post_token_basic(
            &client.id,
            client.secret(),
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", &client.redirect_uri),
            ],
        )
        .await,
    )
    .await;
    let access = tokens["access_token"].as_str().expect("access").to_owned();
    assert_eq!(bearer_get(&other, &key, "/v1/users/me").await.status(), 200);
    assert_eq!(
        bearer_get(&other, &access, "/v1/users/me").await.status(),
        200
    );
    let browser = app.signed_in_browser(ANN).await;

    // Act
    let res = post_delete(&app, &browser, ANN, PASSWORD).await;
    assert_eq!(res.status(), 200);

    // Assert: the other instance refuses both within its caches' lifetime (2 s) and the
    // deny-list sync (1 s).
    let started = std::time::Instant::now();
    let bound = latch::api_keys::CACHE_TTL + std::time::Duration::from_secs(2);
    loop {
        let k = bearer_get(&other, &key, "/v1/users/me").await.status();
        let t = bearer_get(&other, &access, "/v1/users/me").await.status();
        if k == 401 && t == 401 {
            break;
        }
        assert!(
            started.elapsed() < bound,
            "still accepted after {:?}: key {k}, token {t}",
            started.elapsed()
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}
