//! `latch user reset-link --email E` (issue #12 item 2): a working single-use reset link
//! printed for an admin, with no mail configured; `latch user create --email-verified`.

use super::*;

#[tokio::test]
async fn reset_link_prints_a_single_use_link_that_works_without_mail() {
    // Arrange
    let cli = Cli::new().await;
    cli.json(&["user", "create", "--email", "ann@example.com", "--json"]);
    let url = cli.db_url.clone();
    let app = spawn_app_with(move |s| s.database_url = url).await;
    assert!(app.settings.mail.is_none());

    // Act
    let v = cli.json(&["user", "reset-link", "--email", "ann@example.com", "--json"]);
    let plain = cli.run(&["user", "reset-link", "--email", "ann@example.com"]);

    // Assert: the link's path works on the server, once
    let link = v["link"].as_str().expect("link");
    assert!(link.contains("/password/reset?token="), "{v}");
    assert!(stdout(&plain).trim().contains("/password/reset?token="));
    let path = &link[link.find("/password/reset").unwrap()..];
    let browser = app.new_browser();
    let page = browser.get(app.url(path)).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    let form = [
        ("token", input_value(&html, "token").unwrap()),
        ("password", "a fresh passphrase!".to_owned()),
        ("csrf", input_value(&html, "csrf").unwrap()),
    ];
    let done = browser
        .post(app.url("/password/reset"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), 200);
    assert_eq!(
        browser.get(app.url(path)).send().await.unwrap().status(),
        400
    );
    let signed = app
        .sign_in(
            &app.new_browser(),
            "ann@example.com",
            "a fresh passphrase!",
            "/",
        )
        .await;
    assert_eq!(signed.status(), 303);
    let unknown = cli.run(&["user", "reset-link", "--email", "nobody@example.com"]);
    assert!(!unknown.status.success());
}

#[tokio::test]
async fn user_create_may_mark_the_email_verified() {
    let cli = Cli::new().await;
    let v = cli.json(&[
        "user",
        "create",
        "--email",
        "ann@example.com",
        "--email-verified",
        "--json",
    ]);
    assert_eq!(v["email_verified"], true, "{v}");
    let w = cli.json(&["user", "create", "--email", "bob@example.com", "--json"]);
    assert_eq!(w["email_verified"], false, "{w}");
}
