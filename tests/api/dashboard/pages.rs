//! Escaping of hostile names on every page, and the activity page.

use super::*;

// ---------------------------------------------------------------------------------------------
// Escaping

#[tokio::test]
async fn hostile_names_are_escaped_on_every_page() {
    // Arrange: an account whose email, key and app names are markup.
    let app = spawn_app().await;
    let email = "<script>alert(1)</script>@evil.example";
    latch::users::create(&app.db, ANN, PASSWORD, true)
        .await
        .expect("the admin, who lists everyone");
    latch::users::create(&app.db, email, PASSWORD, false)
        .await
        .expect("a syntactically valid email");
    let b = app.signed_in_browser(email).await;
    let secret = create_key(&app, &b, XSS, "test", &["read"]).await;
    let key = key_row(&app, &secret).await;
    let token = page_csrf(&app, &b, "/dashboard").await;
    let res = post(
        &app,
        &b,
        "/dashboard/apps",
        &[
            ("csrf", &token),
            ("name", XSS),
            ("kind", "confidential"),
            ("mode", "test"),
            ("grant_client_credentials", "on"),
        ],
    )
    .await;
    let res = super::shown_once(&app, &b, res).await;
    assert_eq!(res.status(), 200);
    let created = res.text().await.unwrap();
    let client_id = code_by_id(&created, "client-id").unwrap();

    // Act + Assert
    let mut pages = vec![("app created".to_owned(), created)];
    for path in [
        "/dashboard".to_owned(),
        "/dashboard/keys".to_owned(),
        format!("/dashboard/keys/{}", key.id),
        format!("/dashboard/keys/{}/revoke", key.id),
        "/dashboard/apps".to_owned(),
        format!("/dashboard/apps/{client_id}"),
        format!("/dashboard/apps/{client_id}/delete"),
        "/dashboard/activity".to_owned(),
    ] {
        let (status, html) = get_html(&app, &b, &path).await;
        assert_eq!(status, 200, "{path}");
        pages.push((path, html));
    }
    let admin = app.signed_in_browser(ANN).await;
    for path in ["/dashboard/admin/users", "/dashboard/admin/activity"] {
        let (status, html) = get_html(&app, &admin, path).await;
        assert_eq!(status, 200, "{path}");
        pages.push((path.to_owned(), html));
    }
    for (path, html) in &pages {
        assert!(
            !html.contains("<script>alert"),
            "unescaped markup on {path}"
        );
        assert!(
            html.contains("&#60;script&#62;alert(1)&#60;/script&#62;")
                || html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
            "the name is shown, escaped, on {path}"
        );
        assert!(!html.contains("style="), "inline style on {path}");
        assert!(!html.contains("<script>"), "inline script on {path}");
    }
}

// ---------------------------------------------------------------------------------------------
// Activity

#[tokio::test]
async fn activity_says_what_happened_in_words_with_where_from() {
    // Arrange: Ann (admin) makes a key, authorizes an app; the operator rotates a secret
    // from the command line.
    let app = spawn_app().await;
    let ann = latch::users::create(&app.db, ANN, PASSWORD, true)
        .await
        .unwrap();
    let b = app.signed_in_browser(ANN).await;
    create_key(&app, &b, "Server", "test", &["read"]).await;
    let client = app.confidential_client().await;
    code_flow_tokens(&app, &client, ANN).await;
    Event::new(AuditKind::ClientSecretRotated)
        .user(&ann.id)
        .detail(serde_json::json!({"client_id": client.id, "name": "Test App", "via": "cli"}))
        .record(&app.db)
        .await
        .unwrap();

    // Act
    let (status, own) = get_html(&app, &b, "/dashboard/activity").await;
    let (_, server) = get_html(&app, &b, "/dashboard/admin/activity").await;

    // Assert: sentences about the objects, and where each came from.
    assert_eq!(status, 200);
    assert!(own.contains("You created API key “Server”"), "{own}");
    assert!(own.contains("You authorized Test App for read"), "{own}");
    assert!(own.contains("You rotated the secret of the app “Test App”"));
    assert!(own.contains("From 127.0.0.1"));
    assert!(own.contains("From the command line"));
    let consent = own
        .split("<li class=\"event")
        .find(|e| e.contains("You authorized Test App"))
        .unwrap();
    assert!(
        consent.contains("From 127.0.0.1"),
        "consent has its IP: {consent}"
    );
    assert!(
        server.contains(&format!("{ANN} created API key “Server”")),
        "{server}"
    );
}

#[tokio::test]
async fn activity_shows_this_accounts_events_marks_warnings_and_pages() {
    // Arrange
    let app = spawn_app().await;
    let ann = app.create_user(ANN, PASSWORD).await;
    let bob = app.create_user(BOB, PASSWORD).await;
    let stranger = app.new_browser();
    assert_eq!(
        app.sign_in(&stranger, ANN, "wrong password!", "/")
            .await
            .status(),
        401
    );
    for i in 0..55 {
        Event::new(AuditKind::ApiKeyCreated)
            .user(&ann.id)
            .detail(serde_json::json!({"name": format!("key {i}")}))
            .record(&app.db)
            .await
            .unwrap();
    }
    Event::new(AuditKind::ApiKeyCreated)
        .user(&bob.id)
        .detail(serde_json::json!({"name": "bob's secret project"}))
        .record(&app.db)
        .await
        .unwrap();
    let b = app.signed_in_browser(ANN).await;

    // Act
    let (status, first) = get_html(&app, &b, "/dashboard/activity").await;

    // Assert
    assert_eq!(status, 200);
    assert_eq!(first.matches("<li class=\"event").count(), 50);
    assert!(!first.contains("bob&#39;s secret project") && !first.contains("bob's secret"));
    assert!(first.contains("key 54"), "newest first");
    let older = first
        .split("href=\"/dashboard/activity?starting_after=")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("a link to older events")
        .to_owned();
    let (_, second) = get_html(
        &app,
        &b,
        &format!("/dashboard/activity?starting_after={older}"),
    )
    .await;
    // 55 + the failed and the successful sign-in = 57 events: 7 on page two.
    assert_eq!(second.matches("<li class=\"event").count(), 7);
    assert!(!second.contains("starting_after="), "no further page");
    assert!(
        second.contains("href=\"/dashboard/activity\""),
        "back to newest"
    );
    // The failed sign-in is a warning: marked by class, icon and the word, not colour alone.
    let warning = second
        .split("<li class=\"event event-warning\">")
        .nth(1)
        .expect("a warning event");
    assert!(warning.contains("Warning</span> Failed sign-in attempt"));
    assert!(warning.contains("<svg"));
}
