//! Finding 18 (#9): look-alike emails.

use super::*;

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
