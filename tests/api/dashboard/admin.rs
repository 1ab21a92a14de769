//! The admin pages: members get 403, disabling a user, no plaintext secrets in rows.

use super::*;

// ---------------------------------------------------------------------------------------------
// Admin

#[tokio::test]
async fn admin_pages_are_403_for_members() {
    let app = spawn_app().await;
    signup(&app, &app.new_browser(), ANN, PASSWORD).await;
    signup(&app, &app.new_browser(), BOB, PASSWORD).await;
    let bob = app.signed_in_browser(BOB).await;
    for path in [
        "/dashboard/admin/users",
        "/dashboard/admin/activity",
        "/dashboard/admin",
    ] {
        let (status, html) = get_html(&app, &bob, path).await;
        assert_eq!(status, 403, "{path}");
        assert!(html.contains("administrators"));
    }
    let token = page_csrf(&app, &bob, "/dashboard").await;
    let ann = user(&app, ANN).await;
    let res = post(
        &app,
        &bob,
        &format!("/dashboard/admin/users/{}/disable", ann.id),
        &[("csrf", &token)],
    )
    .await;
    assert_eq!(res.status(), 403);
    assert!(user(&app, ANN).await.disabled_at.is_none());
    let res = post(
        &app,
        &bob,
        &format!(
            "/dashboard/admin/users/{}/make_admin",
            user(&app, BOB).await.id
        ),
        &[("csrf", &token)],
    )
    .await;
    assert_eq!(res.status(), 403);
    assert!(!user(&app, BOB).await.is_admin);
}

#[tokio::test]
async fn an_admin_disabling_a_user_ends_their_keys_and_session() {
    // Arrange: Ann (first, admin) and Bob, with a key that both instances have cached.
    let app = spawn_app().await;
    let other = spawn_sibling(&app).await;
    signup(&app, &app.new_browser(), ANN, PASSWORD).await;
    signup(&app, &app.new_browser(), BOB, PASSWORD).await;
    let bob_browser = app.signed_in_browser(BOB).await;
    let key = create_key(&app, &bob_browser, "Bob's key", "live", &["read"]).await;
    assert_eq!(me_status(&app, &key).await, 200);
    assert_eq!(me_status(&other, &key).await, 200);
    let admin = app.signed_in_browser(ANN).await;
    let (status, users) = get_html(&app, &admin, "/dashboard/admin/users").await;
    assert_eq!(status, 200);
    assert!(users.contains(BOB) && users.contains("(you)"));
    let bob = user(&app, BOB).await;
    // "Disable" asks first; asking changes nothing.
    let confirm = format!("/dashboard/admin/users/{}/disable", bob.id);
    assert!(users.contains(&format!("href=\"{confirm}\"")), "{users}");
    let (status, confirm_page) = get_html(&app, &admin, &confirm).await;
    assert_eq!(status, 200);
    assert!(confirm_page.contains(&format!("Disable {BOB}?")));
    assert!(confirm_page.contains(&format!("action=\"{confirm}\"")));
    assert_eq!(me_status(&app, &key).await, 200);
    let token = input_value(&confirm_page, "csrf").unwrap();

    // Act
    let res = post(
        &app,
        &admin,
        &format!("/dashboard/admin/users/{}/disable", bob.id),
        &[("csrf", &token)],
    )
    .await;

    // Assert: at once here, within the cache delay (2 s) on the other instance.
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), "/dashboard/admin/users");
    assert_eq!(me_status(&app, &key).await, 401);
    let started = Instant::now();
    while me_status(&other, &key).await != 401 {
        assert!(
            started.elapsed() < latch::api_keys::CACHE_TTL + Duration::from_secs(1),
            "the other instance still accepts the key"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        !is_signed_in(&app, &bob_browser).await,
        "Bob's session ended"
    );
    assert_eq!(
        app.sign_in(&app.new_browser(), BOB, PASSWORD, "/")
            .await
            .status(),
        401
    );
    let ann_id = user(&app, ANN).await.id;
    assert!(
        events_of(&app, &bob.id)
            .await
            .iter()
            .any(|e| e.kind == "user.disabled" && e.actor.as_deref() == Some(ann_id.as_str()))
    );

    // An admin cannot lock themselves out.
    let ann = user(&app, ANN).await;
    for action in ["disable", "remove_admin"] {
        let res = post(
            &app,
            &admin,
            &format!("/dashboard/admin/users/{}/{action}", ann.id),
            &[("csrf", &token)],
        )
        .await;
        assert_eq!(res.status(), 403, "{action}");
    }
    let ann = user(&app, ANN).await;
    assert!(ann.is_admin && ann.disabled_at.is_none());

    // Enabling lets Bob sign in again (his old session stays void); making him admin works.
    for action in ["enable", "make_admin"] {
        let res = post(
            &app,
            &admin,
            &format!("/dashboard/admin/users/{}/{action}", bob.id),
            &[("csrf", &token)],
        )
        .await;
        assert_eq!(res.status(), 303, "{action}");
    }
    assert!(!is_signed_in(&app, &bob_browser).await);
    let bob = user(&app, BOB).await;
    assert!(bob.is_admin && bob.disabled_at.is_none());
    assert_eq!(
        app.sign_in(&app.new_browser(), BOB, PASSWORD, "/")
            .await
            .status(),
        303
    );
    let (_, activity) = get_html(&app, &admin, "/dashboard/admin/activity").await;
    assert!(
        activity.contains(&format!("The account was disabled by {ANN}")),
        "in words, naming the admin"
    );
    assert!(activity.contains(BOB));
}

#[tokio::test]
async fn an_admin_disabling_an_app_stops_it_until_enabled_on_both_instances() {
    // Arrange: Ann (admin); Bob registers an app that holds a token for him.
    let app = spawn_app().await;
    let other = spawn_sibling(&app).await;
    signup(&app, &app.new_browser(), ANN, PASSWORD).await;
    signup(&app, &app.new_browser(), BOB, PASSWORD).await;
    let client = app.confidential_client().await;
    let (at, rt) = code_flow_tokens(&app, &client, BOB).await;
    assert_eq!(me_status(&other, &at).await, 200);
    let admin = app.signed_in_browser(ANN).await;
    let members = app.signed_in_browser(BOB).await;
    let confirm = format!("/dashboard/admin/apps/{}/disable", client.id);
    let (status, _) = get_html(&app, &members, &confirm).await;
    assert_eq!(status, 403, "members cannot");

    // Act: the list links to a confirmation; confirm.
    let (_, list) = get_html(&app, &admin, "/dashboard/admin/apps").await;
    assert!(list.contains(&format!("href=\"{confirm}\"")), "{list}");
    let (status, page) = get_html(&app, &admin, &confirm).await;
    assert_eq!(status, 200);
    assert!(page.contains("Disable Test App?"));
    let token = input_value(&page, "csrf").unwrap();
    let res = post(&app, &admin, &confirm, &[("csrf", &token)]).await;

    // Assert: no tokens, its token refused (here at once, on the other instance within
    // the row caches' TTL), an event for the admin.
    assert_eq!(res.status(), 303);
    let (_, list) = get_html(&app, &admin, "/dashboard/admin/apps").await;
    assert!(list.contains("Disabled"));
    expect_oauth_error(
        app.post_token_basic(
            &client.id,
            client.secret(),
            &[("grant_type", "refresh_token"), ("refresh_token", &rt)],
        )
        .await,
        401,
        "invalid_client",
    )
    .await;
    assert_eq!(me_status(&app, &at).await, 401);
    let started = Instant::now();
    while me_status(&other, &at).await != 401 {
        assert!(started.elapsed() < Duration::from_secs(4), "other instance");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (_, activity) = get_html(&app, &admin, "/dashboard/admin/activity").await;
    assert!(
        activity.contains(&format!("The app “Test App” was disabled by {ANN}")),
        "{activity}"
    );

    // Enabling resumes it: the same token works again.
    let res = post(
        &app,
        &admin,
        &format!("/dashboard/admin/apps/{}/enable", client.id),
        &[("csrf", &token)],
    )
    .await;
    assert_eq!(res.status(), 303);
    assert_eq!(me_status(&app, &at).await, 200);
}

#[tokio::test]
async fn entity_rows_hold_no_plaintext_client_secret() {
    let app = spawn_app().await;
    app.create_user(ANN, PASSWORD).await;
    let b = app.signed_in_browser(ANN).await;
    let token = page_csrf(&app, &b, "/dashboard").await;
    let res = post(
        &app,
        &b,
        "/dashboard/apps",
        &[
            ("csrf", &token),
            ("name", "Machine"),
            ("kind", "confidential"),
            ("mode", "live"),
            ("grant_client_credentials", "on"),
        ],
    )
    .await;
    let res = shown_once(&app, &b, res).await;
    let html = res.text().await.unwrap();
    let secret = code_by_id(&html, "client-secret").unwrap();
    let rows = entity::client::Entity::find()
        .filter(entity::client::Column::Name.eq("Machine"))
        .all(&app.db)
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert!(!format!("{:?}", rows[0]).contains(&secret[3..]));
}
