//! Mail (issue #12 item 1): delivery over real SMTP to the test's sink (text + HTML, the
//! link on its own line, AUTH), retry after the server was down, giving up after
//! `LATCH_MAIL_MAX_ATTEMPTS`, the `.eml` file transport, one send across instances and
//! restarts, and what `/readyz` and `/metrics` say.

use std::time::Duration;

use crate::helpers::*;
use crate::password_reset::forgot;
use crate::smtp_sink::{SmtpSink, free_port, mail_settings};
use entity::mail_outbox;
use sea_orm::EntityTrait;

const ANN: &str = "ann@example.com";

async fn outbox(app: &TestApp) -> Vec<mail_outbox::Model> {
    mail_outbox::Entity::find()
        .all(&app.db)
        .await
        .expect("outbox readable")
}

/// Poll until `f` holds (timers here are real: claims and backoff are on system time).
async fn eventually<F, Fut>(secs: u64, what: &str, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    while !f().await {
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn readyz_mail(app: &TestApp) -> serde_json::Value {
    let res = app.get("/readyz").await;
    assert_eq!(
        res.status(),
        200,
        "a mail outage never makes the instance unready"
    );
    json(res).await["mail"].clone()
}

#[tokio::test]
async fn a_reset_mail_is_delivered_over_smtp_as_text_and_html_with_the_link_on_its_own_line() {
    // Arrange
    let sink = SmtpSink::start().await;
    let url = sink.url();
    let app = spawn_app_with(move |s| s.mail = Some(mail_settings(&url))).await;
    app.create_user(ANN, PASSWORD).await;

    // Act
    let res = forgot(&app, &app.new_browser(), ANN).await;

    // Assert
    assert_eq!(res.status(), 200);
    let mails = sink.wait_for(1, 10).await;
    let m = &mails[0];
    assert_eq!(m.to, vec![ANN.to_owned()]);
    assert_eq!(m.from, "no-reply@latch.test");
    assert!(m.header("Subject").expect("subject").contains("Reset your"));
    assert!(
        m.header("Content-Type")
            .expect("type")
            .starts_with("multipart/alternative")
    );
    let path = m.link("/password/reset?token=");
    let absolute = format!("{}{path}", app.settings.issuer);
    assert!(
        m.text().lines().any(|l| l == absolute),
        "the link is alone on its line"
    );
    let html = m.part("text/html").expect("an HTML part");
    assert!(html.contains("Choose a new password"));
    assert!(
        html.lines().any(|l| l.trim() == absolute),
        "HTML has the link on a line too: {html}"
    );
    eventually(5, "the sent mail leaves the outbox", || async {
        outbox(&app).await.is_empty()
    })
    .await;
    let metrics = app.get("/metrics").await.text().await.expect("metrics");
    assert!(metrics.contains("latch_mail_sent_total"), "{metrics}");
    assert_eq!(readyz_mail(&app).await["state"], "ok");
}

#[tokio::test]
async fn smtp_auth_credentials_from_the_url_are_used_and_never_shown() {
    // Arrange
    let sink = SmtpSink::start().await;
    let url = format!("smtp://mailer:s3cr%40t@127.0.0.1:{}", sink.port);
    let app = spawn_app_with(move |s| s.mail = Some(mail_settings(&url))).await;
    app.create_user(ANN, PASSWORD).await;

    // Act
    forgot(&app, &app.new_browser(), ANN).await;

    // Assert
    let mails = sink.wait_for(1, 10).await;
    assert_eq!(mails[0].auth.as_deref(), Some("mailer:s3cr@t"));
    let ready = readyz_mail(&app).await.to_string();
    assert!(ready.contains("smtp://127.0.0.1"), "{ready}");
    assert!(!ready.contains("s3cr"), "{ready}");
}

#[tokio::test]
async fn a_mail_is_retried_with_backoff_until_the_smtp_server_is_back() {
    // Arrange: the mail server is down
    let port = free_port();
    let url = format!("smtp://127.0.0.1:{port}");
    let app = spawn_app_with(move |s| s.mail = Some(mail_settings(&url))).await;
    app.create_user(ANN, PASSWORD).await;

    // Act
    let res = forgot(&app, &app.new_browser(), ANN).await;

    // Assert: the request succeeded; the mail waits, failing, counted and reported
    assert_eq!(res.status(), 200);
    eventually(10, "a failed attempt is recorded", || async {
        outbox(&app)
            .await
            .first()
            .is_some_and(|r| r.attempts >= 1 && r.last_error.is_some())
    })
    .await;
    let row = &outbox(&app).await[0];
    assert!(row.failed_at.is_none());
    assert!(
        !row.sealed.contains("token"),
        "the stored message is sealed"
    );
    let ready = readyz_mail(&app).await;
    assert_eq!(ready["state"], "failing", "{ready}");
    assert_eq!(ready["pending"], 1);
    let metrics = app.get("/metrics").await.text().await.expect("metrics");
    assert!(
        metrics.contains("latch_mail_failed_attempts_total"),
        "{metrics}"
    );

    // Act: the server comes back
    let sink = SmtpSink::start_on(port).await;

    // Assert: delivered by a retry, once
    let mails = sink.wait_for(1, 20).await;
    assert!(mails[0].text().contains("/password/reset?token="));
    eventually(5, "the outbox empties", || async {
        outbox(&app).await.is_empty()
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(sink.messages().len(), 1, "sent exactly once");
    assert_eq!(readyz_mail(&app).await["state"], "ok");
}

#[tokio::test]
async fn after_max_attempts_a_mail_is_given_up_on_and_counted() {
    // Arrange
    let port = free_port();
    let url = format!("smtp://127.0.0.1:{port}");
    let app = spawn_app_with(move |s| {
        let mut m = mail_settings(&url);
        m.max_attempts = 2;
        s.mail = Some(m);
    })
    .await;
    app.create_user(ANN, PASSWORD).await;

    // Act
    forgot(&app, &app.new_browser(), ANN).await;

    // Assert
    eventually(15, "the mail is given up on", || async {
        outbox(&app)
            .await
            .first()
            .is_some_and(|r| r.failed_at.is_some())
    })
    .await;
    assert_eq!(outbox(&app).await[0].attempts, 2);
    let ready = readyz_mail(&app).await;
    assert_eq!(ready["given_up"], 1, "{ready}");
    assert_eq!(ready["pending"], 0, "{ready}");
    let metrics = app.get("/metrics").await.text().await.expect("metrics");
    assert!(metrics.contains("latch_mail_given_up_total"), "{metrics}");
}

#[tokio::test]
async fn the_file_transport_writes_each_mail_as_an_eml_file() {
    // Arrange
    let dir = tempfile::tempdir().expect("dir");
    let url = format!("file://{}/out", dir.path().display());
    let app = spawn_app_with(move |s| s.mail = Some(mail_settings(&url))).await;
    app.create_user(ANN, PASSWORD).await;

    // Act
    forgot(&app, &app.new_browser(), ANN).await;

    // Assert
    let out = dir.path().join("out");
    let mut files = Vec::new();
    for _ in 0..100 {
        files = std::fs::read_dir(&out)
            .map(|d| {
                d.filter_map(Result::ok)
                    .map(|e| e.path())
                    .filter(|p| p.extension().is_some_and(|x| x == "eml"))
                    .collect()
            })
            .unwrap_or_default();
        if !files.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(files.len(), 1, "one .eml file");
    let eml = std::fs::read_to_string(&files[0]).expect("readable");
    assert!(eml.contains("To: ann@example.com"), "{eml}");
    assert!(eml.contains("Subject: Reset your"), "{eml}");
    assert!(eml.contains("text/plain") && eml.contains("text/html"));
}

#[tokio::test]
async fn a_restart_loses_no_mail_and_two_instances_send_it_once() {
    // Arrange: instance A queues a mail while the mail server is down, then stops
    let url = format!("smtp://127.0.0.1:{}", free_port());
    let a = spawn_app_with(move |s| {
        let mut m = mail_settings(&url);
        m.max_attempts = 50;
        s.mail = Some(m);
    })
    .await;
    a.create_user(ANN, PASSWORD).await;
    forgot(&a, &a.new_browser(), ANN).await;
    eventually(10, "A tried and failed", || async {
        outbox(&a).await.first().is_some_and(|r| r.attempts >= 1)
    })
    .await;
    a.handle.stop(true).await;

    // Act: two new instances on the same database, with a working mail server
    let sink = SmtpSink::start().await;
    let (u1, u2) = (sink.url(), sink.url());
    let b = spawn_sibling_with(&a, move |s| s.mail = Some(mail_settings(&u1))).await;
    let _c = spawn_sibling_with(&a, move |s| s.mail = Some(mail_settings(&u2))).await;

    // Assert: the queued mail goes out, exactly once
    let mails = sink.wait_for(1, 30).await;
    assert_eq!(mails[0].to, vec![ANN.to_owned()]);
    eventually(5, "the outbox empties", || async {
        outbox(&b).await.is_empty()
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(sink.messages().len(), 1, "one mail, not one per instance");
}

#[tokio::test]
async fn without_mail_readyz_says_it_is_off() {
    let app = spawn_app().await;
    assert_eq!(readyz_mail(&app).await, "off (LATCH_SMTP_URL not set)");
}

/// `?tls=starttls` requires STARTTLS (RFC 3207) and `smtps://` speaks TLS from the first
/// byte (RFC 8314): against a server offering neither, nothing is sent in the clear; the
/// mail waits and is retried.
#[tokio::test]
async fn required_tls_never_falls_back_to_plain_text() {
    for scheme in ["smtp+starttls", "smtps"] {
        // Arrange: a plain-text server (it does not offer STARTTLS)
        let sink = SmtpSink::start().await;
        let url = match scheme {
            "smtps" => format!("smtps://127.0.0.1:{}", sink.port),
            _ => format!("smtp://127.0.0.1:{}?tls=starttls", sink.port),
        };
        let app = spawn_app_with(move |s| s.mail = Some(mail_settings(&url))).await;
        app.create_user(ANN, PASSWORD).await;

        // Act
        forgot(&app, &app.new_browser(), ANN).await;

        // Assert
        eventually(15, "a failed attempt is recorded", || async {
            outbox(&app).await.first().is_some_and(|r| r.attempts >= 1)
        })
        .await;
        assert!(
            sink.messages().is_empty(),
            "{scheme}: nothing sent in the clear"
        );
        // The attempt is counted when the mail is claimed (`store::outbox::claim`), before
        // the send fails: under load the check above can pass while the send is still on.
        eventually(15, "readiness says mail is failing", || async {
            readyz_mail(&app).await["state"] == "failing"
        })
        .await;
    }
}
