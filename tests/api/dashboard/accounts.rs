//! Sign-up, changing the password, and the dashboard's session and CSRF checks.

use super::*;

// ---------------------------------------------------------------------------------------------
// Sign-up

#[tokio::test]
async fn signup_makes_the_first_account_admin_and_later_ones_members() {
    // Arrange
    let app = spawn_app().await;
    let first = app.new_browser();
    let second = app.new_browser();

    // Act
    let res1 = signup(&app, &first, ANN, PASSWORD).await;
    let res2 = signup(&app, &second, BOB, PASSWORD).await;

    // Assert
    assert_eq!(res1.status(), 303);
    assert_eq!(location(&res1), "/signup/done");
    assert_eq!(res2.status(), 303);
    assert!(user(&app, ANN).await.is_admin, "the first account is admin");
    assert!(!user(&app, BOB).await.is_admin, "later accounts are not");
    // Neither is signed in by signing up (see signup.rs on enumeration).
    assert!(!is_signed_in(&app, &first).await);
    let (status, done) = get_html(&app, &first, "/signup/done").await;
    assert_eq!(status, 200);
    assert!(done.contains("Your account is ready"));
    assert!(done.contains("href=\"/login?next=/dashboard\""));
    // Signing in works, and the admin sees the admin pages in the nav.
    let ann = app.signed_in_browser(ANN).await;
    let (_, html) = get_html(&app, &ann, "/dashboard").await;
    assert!(html.contains("href=\"/dashboard/admin/users\""));
    let bob = app.signed_in_browser(BOB).await;
    let (_, html) = get_html(&app, &bob, "/dashboard").await;
    assert!(!html.contains("/dashboard/admin/users"));
    assert!(
        events_of(&app, &user(&app, ANN).await.id)
            .await
            .iter()
            .any(|e| e.kind == "account.created")
    );
}

#[tokio::test]
async fn signup_answers_a_taken_email_exactly_like_a_new_one() {
    // Arrange
    let app = spawn_app().await;
    let owner = app.create_user(ANN, PASSWORD).await;
    let fresh = app.new_browser();
    let probe = app.new_browser();

    // Act
    let new = signup(&app, &fresh, "carol@example.com", "a password for carol").await;
    let taken = signup(&app, &probe, "ANN@example.com", "an attacker's password").await;

    // Assert: same status, same Location, same header names, same next page.
    assert_eq!(new.status(), taken.status());
    assert_eq!(location(&new), location(&taken));
    let names = |r: &reqwest::Response| {
        let mut n: Vec<String> = r
            .headers()
            .keys()
            .map(|k| k.as_str().to_owned())
            .filter(|k| k != "date" && k != "x-request-id")
            .collect();
        n.sort();
        n
    };
    assert_eq!(names(&new), names(&taken));
    let (s1, page1) = get_html(&app, &fresh, &location(&new)).await;
    let (s2, page2) = get_html(&app, &probe, &location(&taken)).await;
    assert_eq!(s1, s2);
    assert_eq!(without_csrf(&page1), without_csrf(&page2));
    assert!(!is_signed_in(&app, &fresh).await);
    assert!(!is_signed_in(&app, &probe).await);
    // The owner's account is untouched and learns about the attempt.
    let after = user(&app, ANN).await;
    assert_eq!(after.password_hash, owner.password_hash);
    assert!(
        events_of(&app, &owner.id)
            .await
            .iter()
            .any(|e| e.kind == "signup.duplicate" && e.severity == "warning")
    );
    assert_eq!(
        latch::store::users::count(&app.db).await.unwrap(),
        2,
        "only carol was created"
    );
}

#[tokio::test]
async fn signup_refuses_bad_input_without_creating_anything() {
    let app = spawn_app().await;
    let b = app.new_browser();
    let res = signup(&app, &b, "not-an-email", PASSWORD).await;
    assert_eq!(res.status(), 422);
    assert!(res.text().await.unwrap().contains("valid email"));
    let res = signup(&app, &b, ANN, "short").await;
    assert_eq!(res.status(), 422);
    assert!(res.text().await.unwrap().contains("at least 10 characters"));
    assert_eq!(latch::store::users::count(&app.db).await.unwrap(), 0);
}

#[tokio::test]
async fn signup_is_404_and_unlinked_when_disabled() {
    // Arrange
    let on = spawn_app().await;
    let off = spawn_app_with(|s| s.signup = false).await;

    // Act + Assert
    let (_, login) = get_html(&on, &on.http, "/login").await;
    assert!(login.contains("href=\"/signup"), "login links to sign-up");
    let (status, login) = get_html(&off, &off.http, "/login").await;
    assert_eq!(status, 200);
    assert!(!login.contains("/signup"));
    let (status, _) = get_html(&off, &off.http, "/signup").await;
    assert_eq!(status, 404);
    let csrf = input_value(&login, "csrf").unwrap();
    let res = post(
        &off,
        &off.http,
        "/signup",
        &[("email", ANN), ("password", PASSWORD), ("csrf", &csrf)],
    )
    .await;
    assert_eq!(res.status(), 404);
    assert_eq!(latch::store::users::count(&off.db).await.unwrap(), 0);
}

// ---------------------------------------------------------------------------------------------
// Change password

#[tokio::test]
async fn changing_the_password_ends_other_sessions_and_refresh_tokens() {
    // Arrange
    let app = spawn_app().await;
    let ann = app.create_user(ANN, PASSWORD).await;
    let client = app.confidential_client().await;
    let (at, rt) = code_flow_tokens(&app, &client, ANN).await;
    let other = app.signed_in_browser(ANN).await;
    let here = app.signed_in_browser(ANN).await;
    let token = page_csrf(&app, &here, "/dashboard").await;

    // Act
    let res = post(
        &app,
        &here,
        "/dashboard/settings/password",
        &[
            ("csrf", &token),
            ("current_password", PASSWORD),
            ("new_password", NEW_PASSWORD),
            ("confirm_password", NEW_PASSWORD),
        ],
    )
    .await;

    // Assert
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), "/dashboard/settings/password");
    let (status, html) = get_html(&app, &here, "/dashboard/settings/password").await;
    assert_eq!(status, 200, "this browser stays signed in");
    assert!(html.contains("Password changed"));
    assert!(
        !is_signed_in(&app, &other).await,
        "the other browser is out"
    );
    expect_oauth_error(refresh(&app, &client, &rt).await, 400, "invalid_grant").await;
    assert_eq!(me_status(&app, &at).await, 401, "its access token too");
    let b = app.new_browser();
    assert_eq!(app.sign_in(&b, ANN, PASSWORD, "/").await.status(), 401);
    assert_eq!(app.sign_in(&b, ANN, NEW_PASSWORD, "/").await.status(), 303);
    let stored = user(&app, ANN).await.password_hash;
    assert!(stored.starts_with("$argon2id$"));
    assert_ne!(stored, ann.password_hash);
    assert!(
        events_of(&app, &ann.id)
            .await
            .iter()
            .any(|e| e.kind == "password.changed")
    );
}

#[tokio::test]
async fn changing_the_password_with_a_wrong_current_one_changes_nothing() {
    // Arrange
    let app = spawn_app().await;
    let ann = app.create_user(ANN, PASSWORD).await;
    let client = app.confidential_client().await;
    let (_, rt) = code_flow_tokens(&app, &client, ANN).await;
    let other = app.signed_in_browser(ANN).await;
    let here = app.signed_in_browser(ANN).await;
    let token = page_csrf(&app, &here, "/dashboard").await;

    // Act
    let wrong = post(
        &app,
        &here,
        "/dashboard/settings/password",
        &[
            ("csrf", &token),
            ("current_password", "not my password at all"),
            ("new_password", NEW_PASSWORD),
            ("confirm_password", NEW_PASSWORD),
        ],
    )
    .await;
    let mismatch = post(
        &app,
        &here,
        "/dashboard/settings/password",
        &[
            ("csrf", &token),
            ("current_password", PASSWORD),
            ("new_password", NEW_PASSWORD),
            ("confirm_password", "something else entirely"),
        ],
    )
    .await;

    // Assert
    assert_eq!(wrong.status(), 422);
    assert!(
        wrong
            .text()
            .await
            .unwrap()
            .contains("current password is not correct")
    );
    assert_eq!(mismatch.status(), 422);
    assert!(mismatch.text().await.unwrap().contains("do not match"));
    assert_eq!(user(&app, ANN).await.password_hash, ann.password_hash);
    assert!(is_signed_in(&app, &other).await);
    assert!(is_signed_in(&app, &here).await);
    assert_eq!(refresh(&app, &client, &rt).await.status(), 200);
}

// ---------------------------------------------------------------------------------------------
// Sessions and CSRF

#[tokio::test]
async fn dashboard_pages_send_signed_out_visitors_to_sign_in() {
    let app = spawn_app().await;
    for path in [
        "/dashboard",
        "/dashboard/keys?mode=live",
        "/dashboard/keys/new",
        "/dashboard/keys/key_123",
        "/dashboard/apps",
        "/dashboard/apps/new",
        "/dashboard/authorized",
        "/dashboard/activity",
        "/dashboard/settings/password",
        "/dashboard/admin/users",
        "/dashboard/admin/activity",
    ] {
        let res = app.get(path).await;
        assert_eq!(res.status(), 303, "{path}");
        let to = location(&res);
        assert_eq!(
            query_of(&to).get("next").map(String::as_str),
            Some(path),
            "{to}"
        );
        assert!(to.starts_with("/login?"), "{to}");
    }
    let res = post(&app, &app.http, "/dashboard/keys", &[("name", "x")]).await;
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), "/login?next=%2Fdashboard");
    assert_eq!(location(&app.get("/").await), "/dashboard");
}

#[tokio::test]
async fn dashboard_posts_are_refused_without_the_csrf_token_or_from_another_site() {
    // Arrange
    let app = spawn_app().await;
    app.create_user(ANN, PASSWORD).await;
    let b = app.signed_in_browser(ANN).await;
    let token = page_csrf(&app, &b, "/dashboard").await;
    let secret = create_key(&app, &b, "Kept", "test", &["read"]).await;
    let key = key_row(&app, &secret).await;
    let keys = || async {
        entity::api_key::Entity::find()
            .all(&app.db)
            .await
            .unwrap()
            .len()
    };

    // Act + Assert: create without a token, with a foreign one, and cross-site.
    let form = |csrf: &'static str| vec![("csrf", csrf), ("name", "Nope"), ("mode", "test")];
    for f in [form(""), form("forged-token")] {
        let res = post(&app, &b, "/dashboard/keys", &f).await;
        assert_eq!(res.status(), 403);
    }
    let res = post(&app, &b, "/dashboard/keys", &[("name", "Nope")]).await;
    assert_eq!(res.status(), 403, "missing csrf field");
    let res = b
        .post(app.url("/dashboard/keys"))
        .header("origin", "https://evil.example")
        .form(&[
            ("csrf", token.as_str()),
            ("name", "Nope"),
            ("mode", "test"),
            ("scope_read", "on"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403, "cross-site Origin");
    assert_eq!(keys().await, 1, "nothing was created");

    // Revoke, rename, roll, password, admin, consent: all refuse a forged token.
    let id = key.id.as_str();
    for path in [
        format!("/dashboard/keys/{id}/revoke"),
        format!("/dashboard/keys/{id}/rename"),
        format!("/dashboard/keys/{id}/roll"),
        "/dashboard/settings/password".to_owned(),
        "/dashboard/apps".to_owned(),
    ] {
        let res = post(
            &app,
            &b,
            &path,
            &[
                ("csrf", "forged"),
                ("name", "Changed"),
                ("expires_in", "now"),
                ("current_password", PASSWORD),
                ("new_password", NEW_PASSWORD),
                ("confirm_password", NEW_PASSWORD),
            ],
        )
        .await;
        assert_eq!(res.status(), 403, "{path}");
    }
    assert_eq!(me_status(&app, &secret).await, 200, "the key still works");
    let after = key_row(&app, &secret).await;
    assert_eq!(after.name, "Kept");
    assert!(after.revoked_at.is_none() && after.expires_at.is_none());
    assert_eq!(keys().await, 1);

    // Sign-up too.
    let fresh = app.new_browser();
    let res = post(
        &app,
        &fresh,
        "/signup",
        &[("email", BOB), ("password", PASSWORD), ("csrf", "forged")],
    )
    .await;
    assert_eq!(res.status(), 403);
    assert_eq!(latch::store::users::count(&app.db).await.unwrap(), 1);
}

#[tokio::test]
async fn a_display_name_set_in_settings_is_what_apps_see_with_profile() {
    // Arrange
    let app = spawn_app().await;
    app.create_user(ANN, PASSWORD).await;
    let b = app.signed_in_browser(ANN).await;
    let token = page_csrf(&app, &b, "/dashboard").await;

    // Act: refused names change nothing; a good one is saved (trimmed).
    for bad in ["Ann\nLee", &"x".repeat(101)] {
        let res = post(
            &app,
            &b,
            "/dashboard/settings/name",
            &[("csrf", &token), ("name", bad)],
        )
        .await;
        assert_eq!(res.status(), 422, "{bad:?}");
    }
    let res = post(
        &app,
        &b,
        "/dashboard/settings/name",
        &[("csrf", &token), ("name", "  Ann Lee ")],
    )
    .await;

    // Assert: the page shows it, an app with `profile` gets it in userinfo and the ID token.
    assert_eq!(res.status(), 303);
    let (_, page) = get_html(&app, &b, "/dashboard/settings/password").await;
    assert!(page.contains("value=\"Ann Lee\""), "{page}");
    let client = app.confidential_client().await;
    let (verifier, challenge) = pkce_pair();
    let code = app
        .obtain_code(
            &client,
            ANN,
            &[
                ("scope", "openid profile"),
                ("code_challenge", &challenge),
                ("code_challenge_method", "S256"),
            ],
        )
        .await;
    let tokens = json(app.redeem_code(&client, &code, &verifier).await).await;
    assert_eq!(
        jwt_claims(tokens["id_token"].as_str().unwrap())["name"],
        "Ann Lee"
    );
    let info = json(
        bearer_get(
            &app,
            tokens["access_token"].as_str().unwrap(),
            "/oauth/userinfo",
        )
        .await,
    )
    .await;
    assert_eq!(info["name"], "Ann Lee");
    let (_, activity) = get_html(&app, &b, "/dashboard/activity").await;
    assert!(activity.contains("Display name changed"));
}
