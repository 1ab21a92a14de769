//! Email verification (issue #12 item 3): sign-up mails a link; opening it makes
//! `email_verified` true in the ID token and userinfo; the link works once;
//! `LATCH_REQUIRE_VERIFIED_EMAIL` keeps an unverified account out of apps (a page with a
//! resend button) until it verifies; the dashboard banner's resend is limited.

use crate::helpers::*;
use crate::smtp_sink::{SmtpSink, mail_settings};

const EVE: &str = "eve@example.com";

async fn mail_app_with(sink: &SmtpSink, f: impl FnOnce(&mut latch::config::Settings)) -> TestApp {
    let url = sink.url();
    spawn_app_with(move |s| {
        s.mail = Some(mail_settings(&url));
        f(s);
    })
    .await
}

/// Sign up through the real form.
async fn sign_up(app: &TestApp, email: &str) {
    let browser = app.new_browser();
    let page = browser.get(app.url("/signup")).send().await.unwrap();
    let csrf = input_value(&page.text().await.unwrap(), "csrf").unwrap();
    let res = browser
        .post(app.url("/signup"))
        .form(&[("email", email), ("password", PASSWORD), ("csrf", &csrf)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
}

async fn id_token_and_userinfo(
    app: &TestApp,
    c: &TestClient,
) -> (serde_json::Value, serde_json::Value) {
    let code = app.obtain_code(c, EVE, &[("scope", "openid email")]).await;
    let res = app
        .post_token_basic(
            &c.id,
            c.secret(),
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", &c.redirect_uri),
            ],
        )
        .await;
    assert_eq!(res.status(), 200);
    let body = json(res).await;
    let id = jwt_claims(body["id_token"].as_str().expect("id_token"));
    let at = body["access_token"].as_str().unwrap();
    let info = app
        .http
        .get(app.url("/oauth/userinfo"))
        .bearer_auth(at)
        .send()
        .await
        .unwrap();
    assert_eq!(info.status(), 200);
    (id, json(info).await)
}

#[tokio::test]
async fn sign_up_mails_a_link_that_verifies_once_and_the_claims_tell_the_truth() {
    // Arrange
    let sink = SmtpSink::start().await;
    let app = mail_app_with(&sink, |_| {}).await;
    app.create_user("admin@example.com", PASSWORD).await; // Eve is not the first account
    let client = app.confidential_client().await;
    sign_up(&app, EVE).await;
    let mail = &sink.wait_for(1, 10).await[0];
    assert_eq!(mail.to, vec![EVE.to_owned()]);
    let link = app.url(&mail.link("/email/verify?token="));
    let (id, info) = id_token_and_userinfo(&app, &client).await;
    assert_eq!(id["email_verified"], false);
    assert_eq!(info["email_verified"], false);

    // Act
    let res = app.new_browser().get(&link).send().await.unwrap();

    // Assert
    assert_eq!(res.status(), 200);
    assert!(res.text().await.unwrap().contains("verified"));
    let (id, info) = id_token_and_userinfo(&app, &client).await;
    assert_eq!(id["email_verified"], true);
    assert_eq!(info["email_verified"], true);
    assert_eq!(info["email"], EVE);
    let again = app.new_browser().get(&link).send().await.unwrap();
    assert_eq!(again.status(), 400, "single use");
}

#[tokio::test]
async fn a_verification_link_expires_after_24_hours() {
    let sink = SmtpSink::start().await;
    let app = mail_app_with(&sink, |_| {}).await;
    sign_up(&app, EVE).await;
    let link = app.url(&sink.wait_for(1, 10).await[0].link("/email/verify?token="));
    app.advance(24 * 3600 + 60);
    assert_eq!(
        app.new_browser().get(&link).send().await.unwrap().status(),
        400
    );
}

#[tokio::test]
async fn require_verified_email_keeps_an_unverified_account_out_of_apps_until_it_verifies() {
    // Arrange
    let sink = SmtpSink::start().await;
    let app = mail_app_with(&sink, |s| s.require_verified_email = true).await;
    app.create_user("admin@example.com", PASSWORD).await;
    let client = app.confidential_client().await;
    sign_up(&app, EVE).await;
    sink.wait_for(1, 10).await;
    let browser = app.new_browser();
    let url = app.url(&format!(
        "/oauth/authorize?client_id={}&response_type=code&redirect_uri={}&scope=openid%20email&state=s",
        client.id,
        urlencode(&client.redirect_uri)
    ));

    // Act: sign in and go to the app
    let res = app.authorize_in_browser(&browser, &url, EVE, "allow").await;

    // Assert: a clear page, no code, a resend button
    assert_eq!(res.status(), 403);
    let html = res.text().await.unwrap();
    assert!(html.contains("Verify your email to continue"), "{html}");
    assert!(html.contains("action=\"/email/verify/resend\""));
    let csrf = input_value(&html, "csrf").unwrap();
    let next = input_value(&html, "next").unwrap();
    assert!(next.starts_with("/oauth/authorize?"));
    let none = browser
        .get(format!("{url}&prompt=none"))
        .send()
        .await
        .unwrap();
    assert_eq!(none.status(), 303);
    assert!(location(&none).contains("error=interaction_required"));

    // Act: resend, open the new link, continue
    let resent = browser
        .post(app.url("/email/verify/resend"))
        .form(&[("csrf", csrf.as_str()), ("next", next.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(resent.status(), 200);
    let mails = sink.wait_for(2, 10).await;
    let link = app.url(&mails[1].link("/email/verify?token="));
    assert_eq!(browser.get(&link).send().await.unwrap().status(), 200);
    let back = browser.get(app.url(&next)).send().await.unwrap();

    // Assert: now the consent page (then a code)
    assert_eq!(back.status(), 200);
    assert!(
        back.text()
            .await
            .unwrap()
            .contains("action=\"/oauth/authorize\"")
    );
}

#[tokio::test]
async fn the_dashboard_banner_offers_a_resend_which_is_limited() {
    // Arrange
    let sink = SmtpSink::start().await;
    let app = mail_app_with(&sink, |s| s.rate_limit = true).await;
    sign_up(&app, EVE).await;
    sink.wait_for(1, 10).await;
    let browser = app.new_browser();
    assert_eq!(
        app.sign_in(&browser, EVE, PASSWORD, "/dashboard")
            .await
            .status(),
        303
    );
    let dash = browser.get(app.url("/dashboard")).send().await.unwrap();
    let html = dash.text().await.unwrap();
    assert!(html.contains("Verify your email"), "banner shown");
    let csrf = input_value(&html, "csrf").unwrap();

    // Act: resend four times (the limit is 3 an hour)
    let mut statuses = Vec::new();
    for _ in 0..4 {
        let res = browser
            .post(app.url("/email/verify/resend"))
            .form(&[("csrf", csrf.as_str())])
            .send()
            .await
            .unwrap();
        statuses.push(res.status().as_u16());
    }

    // Assert
    assert_eq!(statuses, vec![200, 200, 200, 429]);
    let mails = sink.wait_for(4, 10).await;
    let link = app.url(&mails[3].link("/email/verify?token="));
    assert_eq!(browser.get(&link).send().await.unwrap().status(), 200);
    let html = browser
        .get(app.url("/dashboard"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        !html.contains("id=\"verify-banner\""),
        "banner gone once verified"
    );
}

#[tokio::test]
async fn require_verified_email_without_mail_is_a_configuration_error() {
    let e = latch::config::Settings::load_from(
        &latch::config::Overrides::default(),
        [("LATCH_REQUIRE_VERIFIED_EMAIL".to_owned(), "true".to_owned())],
    )
    .expect_err("refused");
    assert!(
        e.to_string().contains("LATCH_REQUIRE_VERIFIED_EMAIL"),
        "{e}"
    );
}
