//! Password reset (issue #12 item 2), end to end through the test's SMTP server: the link
//! from the delivered mail, single use, 30 minutes on the app clock, every old session and
//! refresh token ended, the same answer for an unknown email, limits per account and per
//! IP, the operator's `latch user reset-link`, and the pages without mail.

use std::time::Duration;

use crate::helpers::*;
use crate::smtp_sink::{SmtpSink, mail_settings};

const ANN: &str = "ann@example.com";
const NEW_PASSWORD: &str = "a completely new passphrase";

/// Ask for a reset link through the real form in `browser`.
pub async fn forgot(app: &TestApp, browser: &reqwest::Client, email: &str) -> reqwest::Response {
    let page = browser
        .get(app.url("/password/forgot"))
        .send()
        .await
        .expect("forgot page");
    assert_eq!(page.status(), 200);
    let csrf = input_value(&page.text().await.expect("body"), "csrf").expect("csrf");
    browser
        .post(app.url("/password/forgot"))
        .form(&[("email", email), ("csrf", &csrf)])
        .send()
        .await
        .expect("forgot")
}

/// Open the link and submit the form with `password`.
async fn reset_with(
    app: &TestApp,
    browser: &reqwest::Client,
    link: &str,
    password: &str,
) -> reqwest::Response {
    let page = browser.get(link).send().await.expect("reset page");
    assert_eq!(page.status(), 200, "the link opens the form");
    let html = page.text().await.expect("body");
    let csrf = input_value(&html, "csrf").expect("csrf");
    let token = input_value(&html, "token").expect("token");
    browser
        .post(app.url("/password/reset"))
        .form(&[
            ("token", token.as_str()),
            ("password", password),
            ("csrf", &csrf),
        ])
        .send()
        .await
        .expect("reset")
}

async fn mail_app(sink: &SmtpSink) -> TestApp {
    let url = sink.url();
    spawn_app_with(move |s| s.mail = Some(mail_settings(&url))).await
}

async fn refresh_token_of(app: &TestApp, c: &TestClient) -> String {
    let code = app.obtain_code(c, ANN, &[]).await;
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
    json(res).await["refresh_token"]
        .as_str()
        .expect("refresh_token")
        .to_owned()
}

#[tokio::test]
async fn reset_end_to_end_ends_every_session_and_refresh_token_and_the_link_works_once() {
    // Arrange: Ann is signed in in one browser and an app holds her refresh token
    let sink = SmtpSink::start().await;
    let app = mail_app(&sink).await;
    app.create_user(ANN, PASSWORD).await;
    let client = app.confidential_client().await;
    let rt = refresh_token_of(&app, &client).await;
    let old_browser = app.new_browser();
    assert_eq!(
        app.sign_in(&old_browser, ANN, PASSWORD, "/dashboard")
            .await
            .status(),
        303
    );
    assert_eq!(dashboard_status(&app, &old_browser).await, 200);

    // Act: forgot → mail → link → new password
    let browser = app.new_browser();
    let res = forgot(&app, &browser, ANN).await;
    assert_eq!(res.status(), 200);
    let mail = &sink.wait_for(1, 10).await[0];
    let link = app.url(&mail.link("/password/reset?token="));
    let done = reset_with(&app, &browser, &link, NEW_PASSWORD).await;

    // Assert
    assert_eq!(done.status(), 200);
    assert!(
        done.text()
            .await
            .unwrap()
            .contains("Your password was changed")
    );
    assert_eq!(
        dashboard_status(&app, &old_browser).await,
        303,
        "old session ended"
    );
    expect_oauth_error(
        app.post_token_basic(
            &client.id,
            client.secret(),
            &[("grant_type", "refresh_token"), ("refresh_token", &rt)],
        )
        .await,
        400,
        "invalid_grant",
    )
    .await;
    let fresh = app.new_browser();
    assert_eq!(app.sign_in(&fresh, ANN, PASSWORD, "/").await.status(), 401);
    assert_eq!(
        app.sign_in(&fresh, ANN, NEW_PASSWORD, "/").await.status(),
        303
    );
    // Single use: the same link again is refused, opening and posting alike
    let again = browser.get(&link).send().await.unwrap();
    assert_eq!(again.status(), 400);
    assert!(again.text().await.unwrap().contains("no longer valid"));
    let token = query_of(&link)["token"].clone();
    let csrf = input_value(
        &browser
            .get(app.url("/password/forgot"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        "csrf",
    )
    .unwrap();
    let replay = browser
        .post(app.url("/password/reset"))
        .form(&[
            ("token", token.as_str()),
            ("password", "yet another passphrase"),
            ("csrf", &csrf),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(replay.status(), 400);
    assert_eq!(
        app.sign_in(&app.new_browser(), ANN, NEW_PASSWORD, "/")
            .await
            .status(),
        303
    );
    // The link proved the mailbox: the address counts as verified now
    let ann = latch::store::users::by_email(&app.db, ANN)
        .await
        .unwrap()
        .unwrap();
    assert!(ann.email_verified_at.is_some());
    // Audited
    let kinds: Vec<String> = latch::store::audit::page(
        &app.db,
        None,
        latch::store::audit::ModeFilter::All,
        100,
        None,
    )
    .await
    .unwrap()
    .into_iter()
    .map(|e| e.kind)
    .collect();
    assert!(
        kinds.iter().any(|k| k == "password.reset_requested"),
        "{kinds:?}"
    );
    assert!(kinds.iter().any(|k| k == "password.reset"), "{kinds:?}");
}

#[tokio::test]
async fn a_reset_link_expires_after_30_minutes_of_app_time() {
    // Arrange
    let sink = SmtpSink::start().await;
    let app = mail_app(&sink).await;
    app.create_user(ANN, PASSWORD).await;
    let browser = app.new_browser();
    forgot(&app, &browser, ANN).await;
    let link = app.url(&sink.wait_for(1, 10).await[0].link("/password/reset?token="));
    let page = browser.get(&link).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    let (csrf, token) = (
        input_value(&html, "csrf").unwrap(),
        input_value(&html, "token").unwrap(),
    );

    // Act
    app.advance(31 * 60);

    // Assert
    assert_eq!(browser.get(&link).send().await.unwrap().status(), 400);
    let res = browser
        .post(app.url("/password/reset"))
        .form(&[
            ("token", token.as_str()),
            ("password", NEW_PASSWORD),
            ("csrf", &csrf),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    assert_eq!(
        app.sign_in(&app.new_browser(), ANN, PASSWORD, "/")
            .await
            .status(),
        303
    );
}

#[tokio::test]
async fn a_weak_new_password_is_refused_and_the_link_still_works() {
    let sink = SmtpSink::start().await;
    let app = mail_app(&sink).await;
    app.create_user(ANN, PASSWORD).await;
    let browser = app.new_browser();
    forgot(&app, &browser, ANN).await;
    let link = app.url(&sink.wait_for(1, 10).await[0].link("/password/reset?token="));

    let weak = reset_with(&app, &browser, &link, "short").await;
    assert_eq!(weak.status(), 422);
    assert!(
        weak.text()
            .await
            .unwrap()
            .contains("at least 10 characters")
    );
    assert_eq!(
        reset_with(&app, &browser, &link, NEW_PASSWORD)
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn an_unknown_email_gets_the_same_answer_and_no_mail() {
    // Arrange
    let sink = SmtpSink::start().await;
    let app = mail_app(&sink).await;
    app.create_user(ANN, PASSWORD).await;
    let browser = app.new_browser();

    // Act: alternate, and time both
    let mut known = Vec::new();
    let mut unknown = Vec::new();
    let (mut body_known, mut body_unknown) = (String::new(), String::new());
    for i in 0..6 {
        for (email, times, body) in [
            (ANN, &mut known, &mut body_known),
            ("nobody@example.com", &mut unknown, &mut body_unknown),
        ] {
            let t = std::time::Instant::now();
            let res = forgot(&app, &browser, email).await;
            times.push(t.elapsed());
            assert_eq!(res.status(), 200, "{email} #{i}");
            *body = res.text().await.unwrap();
        }
    }

    // Assert: byte-identical pages, comparable times, mail only for the real account
    assert_eq!(body_known, body_unknown);
    known.sort();
    unknown.sort();
    let (a, b) = (known[3], unknown[3]);
    let gap = a.abs_diff(b);
    assert!(gap < Duration::from_millis(50), "medians {a:?} vs {b:?}");
    let mails = sink.wait_for(6, 20).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(sink.messages().iter().all(|m| m.to == vec![ANN.to_owned()]));
    assert_eq!(mails.len(), 6);
}

#[tokio::test]
async fn resets_are_limited_per_account_silently_and_per_ip_with_a_429() {
    // Arrange: limits on; 3 mails per account, 5 requests per IP
    let sink = SmtpSink::start().await;
    let url = sink.url();
    let app = spawn_app_with(move |s| {
        s.mail = Some(mail_settings(&url));
        s.rate_limit = true;
        s.limits.password_reset_ip = latch::rate_limit::Rate::parse("5/h").unwrap();
    })
    .await;
    app.create_user(ANN, PASSWORD).await;
    let browser = app.new_browser();

    // Act
    let mut statuses = Vec::new();
    for _ in 0..6 {
        statuses.push(forgot(&app, &browser, ANN).await.status().as_u16());
    }

    // Assert: five answered alike (two of them unsent), then the IP limit
    assert_eq!(statuses, vec![200, 200, 200, 200, 200, 429]);
    sink.wait_for(3, 10).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        sink.messages().len(),
        3,
        "the account limit holds mail back"
    );
}

#[tokio::test]
async fn without_mail_the_forgot_page_says_to_ask_an_admin_and_sign_in_links_to_it() {
    let app = spawn_app().await;
    let login = app.get("/login").await.text().await.unwrap();
    assert!(
        login.contains("href=\"/password/forgot\""),
        "Forgot password? link"
    );
    let page = app.get("/password/forgot").await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("Ask an administrator"), "{html}");
    assert!(
        !html.contains("action=\"/password/forgot\""),
        "no form without mail"
    );
}

#[tokio::test]
async fn a_bad_token_or_missing_csrf_is_refused_without_a_500() {
    let sink = SmtpSink::start().await;
    let app = mail_app(&sink).await;
    for t in [
        "",
        "x",
        "%00",
        &"a".repeat(5000),
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    ] {
        let res = app.get(&format!("/password/reset?token={t}")).await;
        assert_eq!(res.status(), 400, "{t}");
    }
    let res = app
        .http
        .post(app.url("/password/forgot"))
        .form(&[("email", ANN)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    let res = app
        .http
        .post(app.url("/password/reset"))
        .form(&[("token", "x"), ("password", NEW_PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
}
