//! API keys on the dashboard: shown once, stored as a digest, roll, revoke, rename, mode filter.

use super::*;

// ---------------------------------------------------------------------------------------------
// API keys

#[tokio::test]
async fn reloading_the_new_key_page_shows_it_no_more_and_creates_nothing() {
    // Arrange
    let app = spawn_app().await;
    app.create_user(ANN, PASSWORD).await;
    let b = app.signed_in_browser(ANN).await;
    let secret = create_key(&app, &b, "CI deploys", "test", &["read", "write"]).await;

    // Act: the browser reloads the page that showed the secret (POST-redirect-GET: a GET).
    let again = b
        .get(app.url("/dashboard/shown-once"))
        .send()
        .await
        .expect("GET");

    // Assert: no secret, no second key, a word about why.
    assert_eq!(again.status(), 303);
    assert_eq!(location(&again), "/dashboard");
    let (_, html) = get_html(&app, &b, "/dashboard").await;
    assert!(html.contains("shown only once"), "{html}");
    assert!(!html.contains(&secret));
    let user = user(&app, ANN).await;
    let keys = latch::store::api_keys::page(&app.db, &user.id, None, true, 100, None)
        .await
        .expect("keys");
    assert_eq!(keys.len(), 1, "one POST, one key");
}

#[tokio::test]
async fn a_created_key_is_shown_once_and_only_its_digest_is_stored() {
    // Arrange
    let app = spawn_app().await;
    app.create_user(ANN, PASSWORD).await;
    let b = app.signed_in_browser(ANN).await;

    // Act
    let secret = create_key(&app, &b, "CI deploys", "test", &["read", "write"]).await;

    // Assert: it works, and no later page shows it.
    assert_eq!(me_status(&app, &secret).await, 200);
    let row = key_row(&app, &secret).await;
    let redacted = format!("sk_test_…{}", &secret[secret.len() - 4..]);
    for path in [
        "/dashboard/keys".to_owned(),
        "/dashboard/keys?mode=test".to_owned(),
        format!("/dashboard/keys/{}", row.id),
        "/dashboard".to_owned(),
        "/dashboard/activity".to_owned(),
    ] {
        let (status, html) = get_html(&app, &b, &path).await;
        assert_eq!(status, 200, "{path}");
        assert!(!html.contains(&secret), "{path} shows the secret");
    }
    let (_, list) = get_html(&app, &b, "/dashboard/keys").await;
    assert!(list.contains(&redacted), "the list shows {redacted}");
    assert!(list.contains("CI deploys"));
    // The database holds its SHA-256 digest and display parts, never the secret.
    let rows = entity::api_key::Entity::find().all(&app.db).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].key_hash, latch::crypto::sha256_hex(&secret));
    assert_eq!(rows[0].last4, &secret[secret.len() - 4..]);
    assert!(!format!("{:?}", rows[0]).contains(&secret[8..]));
    assert_eq!(rows[0].key_type, "secret", "read and write: a secret key");
    assert!(!rows[0].livemode);
}

#[tokio::test]
async fn rolling_a_key_keeps_the_old_one_for_the_chosen_time() {
    // Arrange
    let app = spawn_app().await;
    app.create_user(ANN, PASSWORD).await;
    let b = app.signed_in_browser(ANN).await;
    let first = create_key(&app, &b, "Server", "test", &["read"]).await;
    assert_eq!(me_status(&app, &first).await, 200);
    let first_row = key_row(&app, &first).await;
    let token = page_csrf(&app, &b, "/dashboard").await;

    // Act: roll with a one-hour overlap.
    let res = post(
        &app,
        &b,
        &format!("/dashboard/keys/{}/roll", first_row.id),
        &[("csrf", &token), ("expires_in", "1h")],
    )
    .await;

    // Assert
    let res = shown_once(&app, &b, res).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers().get("cache-control").unwrap(), "no-store");
    let html = res.text().await.unwrap();
    let second = code_by_id(&html, "secret-key").expect("new secret");
    assert!(html.contains("keeps working for 1 hour"));
    assert_eq!(me_status(&app, &first).await, 200, "old key still works");
    assert_eq!(me_status(&app, &second).await, 200, "new key works");
    let second_row = key_row(&app, &second).await;
    assert_eq!(second_row.name, "Server");
    assert_eq!(second_row.scopes, "read");
    let (_, list) = get_html(&app, &b, "/dashboard/keys?mode=test").await;
    assert!(list.contains("Expires in 59 minutes"), "{list}");
    // The two keys share a name; the old one says it was rolled, the new one does not.
    assert_eq!(list.matches(">Rolled</span>").count(), 1, "{list}");
    let old_row = list
        .split("<tr>")
        .find(|r| r.contains(&first_row.id))
        .unwrap();
    assert!(old_row.contains(">Rolled</span>"), "{old_row}");

    // Act: roll the new key with "now".
    let res = post(
        &app,
        &b,
        &format!("/dashboard/keys/{}/roll", second_row.id),
        &[("csrf", &token), ("expires_in", "now")],
    )
    .await;
    let res = shown_once(&app, &b, res).await;
    assert_eq!(res.status(), 200);
    let third = code_by_id(&res.text().await.unwrap(), "secret-key").unwrap();

    // Assert
    assert_eq!(me_status(&app, &second).await, 401, "stopped at once");
    assert_eq!(me_status(&app, &third).await, 200);
    assert_eq!(
        me_status(&app, &first).await,
        200,
        "the 1-hour overlap holds"
    );
}

#[tokio::test]
async fn revoking_a_key_asks_for_confirmation_then_refuses_it() {
    // Arrange
    let app = spawn_app().await;
    app.create_user(ANN, PASSWORD).await;
    let b = app.signed_in_browser(ANN).await;
    let secret = create_key(&app, &b, "Doomed", "live", &["read"]).await;
    let row = key_row(&app, &secret).await;
    assert_eq!(me_status(&app, &secret).await, 200);

    // Act
    let (status, confirm) = get_html(&app, &b, &format!("/dashboard/keys/{}/revoke", row.id)).await;
    assert_eq!(status, 200);
    assert!(confirm.contains("Revoke this API key?"));
    assert_eq!(
        me_status(&app, &secret).await,
        200,
        "asking changes nothing"
    );
    let token = input_value(&confirm, "csrf").unwrap();
    let res = post(
        &app,
        &b,
        &format!("/dashboard/keys/{}/revoke", row.id),
        &[("csrf", &token)],
    )
    .await;

    // Assert
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), "/dashboard/keys?mode=live");
    assert_eq!(me_status(&app, &secret).await, 401);
    let (_, list) = get_html(&app, &b, "/dashboard/keys?mode=live").await;
    assert!(list.contains("Revoked Doomed"), "flash message");
    assert!(!list.contains("/dashboard/keys/key_"), "no longer listed");
    let (_, all) = get_html(&app, &b, "/dashboard/keys?mode=live&all=1").await;
    assert!(all.contains("status-revoked"));
    let (_, again) = get_html(&app, &b, "/dashboard/keys?mode=live").await;
    assert!(!again.contains("Revoked Doomed"), "a flash shows once");
    let ann = user(&app, ANN).await;
    assert!(
        events_of(&app, &ann.id)
            .await
            .iter()
            .any(|e| e.kind == "api_key.revoked" && e.severity == "warning")
    );
}

#[tokio::test]
async fn renaming_a_key_keeps_it_working() {
    let app = spawn_app().await;
    app.create_user(ANN, PASSWORD).await;
    let b = app.signed_in_browser(ANN).await;
    let secret = create_key(&app, &b, "Old name", "test", &["read"]).await;
    let row = key_row(&app, &secret).await;
    let token = page_csrf(&app, &b, "/dashboard").await;
    let path = format!("/dashboard/keys/{}/rename", row.id);

    let res = post(&app, &b, &path, &[("csrf", &token), ("name", "New name")]).await;
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), format!("/dashboard/keys/{}", row.id));
    assert_eq!(key_row(&app, &secret).await.name, "New name");
    let (_, html) = get_html(&app, &b, &location(&res)).await;
    assert!(html.contains("<h1>New name</h1>"));
    assert_eq!(me_status(&app, &secret).await, 200);

    let res = post(&app, &b, &path, &[("csrf", &token), ("name", "   ")]).await;
    assert_eq!(res.status(), 422);
    assert_eq!(key_row(&app, &secret).await.name, "New name");
}

#[tokio::test]
async fn the_key_list_shows_only_the_chosen_mode_and_others_keys_are_404() {
    // Arrange
    let app = spawn_app().await;
    app.create_user(ANN, PASSWORD).await;
    app.create_user(BOB, PASSWORD).await;
    let b = app.signed_in_browser(ANN).await;
    let test = create_key(&app, &b, "Test one", "test", &["read"]).await;
    let live = create_key(&app, &b, "Live one", "live", &["read"]).await;
    let last4 = |s: &str| format!("…{}", &s[s.len() - 4..]);

    // Act
    let (_, default) = get_html(&app, &b, "/dashboard/keys").await;
    let (_, test_page) = get_html(&app, &b, "/dashboard/keys?mode=test").await;
    let (_, live_page) = get_html(&app, &b, "/dashboard/keys?mode=live").await;

    // Assert
    for page in [&default, &test_page] {
        assert!(page.contains(&last4(&test)) && page.contains("Test one"));
        assert!(!page.contains(&last4(&live)) && !page.contains("Live one"));
    }
    assert!(live_page.contains(&last4(&live)) && live_page.contains("Live one"));
    assert!(!live_page.contains(&last4(&test)) && !live_page.contains("Test one"));
    let (_, overview) = get_html(&app, &b, "/dashboard").await;
    assert!(overview.contains("Live API keys"));
    // Someone else's key is not found, and cannot be revoked.
    let bob = app.signed_in_browser(BOB).await;
    let id = key_row(&app, &live).await.id;
    let (status, _) = get_html(&app, &bob, &format!("/dashboard/keys/{id}")).await;
    assert_eq!(status, 404);
    let token = page_csrf(&app, &bob, "/dashboard").await;
    let res = post(
        &app,
        &bob,
        &format!("/dashboard/keys/{id}/revoke"),
        &[("csrf", &token)],
    )
    .await;
    assert_eq!(res.status(), 404);
    assert_eq!(me_status(&app, &live).await, 200);
}

#[tokio::test]
async fn the_key_form_makes_a_restricted_key_per_api_and_names_an_unknown_one() {
    // Arrange
    let app = spawn_app().await;
    app.create_user(ANN, PASSWORD).await;
    let b = app.signed_in_browser(ANN).await;
    let api = create_api(
        &app,
        "https://invoices.example.com",
        "Invoices",
        &[
            ("invoices:read", "Read invoices"),
            ("invoices:write", "Change invoices"),
        ],
        None,
    )
    .await;
    let form_page = b
        .get(app.url("/dashboard/keys/new"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = input_value(&form_page, "csrf").expect("csrf");
    let field = format!("access_{}", api.id);
    let expires = "3";

    // Act
    let made = b
        .post(app.url("/dashboard/keys"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("name", "Invoice reader"),
            ("mode", "test"),
            ("kind", "restricted"),
            (field.as_str(), "read"),
            ("expires_days", expires),
            ("remaining", "10"),
            ("allowed_ips", "10.0.0.0/8\n127.0.0.1"),
        ])
        .send()
        .await
        .unwrap();
    let made = shown_once(&app, &b, made).await;
    let made_html = made.text().await.unwrap();
    let unknown = b
        .post(app.url("/dashboard/keys"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("name", "x"),
            ("mode", "test"),
            ("kind", "restricted"),
            ("access_api_nope", "read"),
        ])
        .send()
        .await
        .unwrap();
    let list = b
        .get(app.url("/dashboard/keys?mode=test"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();

    // Assert
    assert!(form_page.contains("Secret key (full access)"));
    assert!(form_page.contains("Invoices"));
    assert!(made_html.contains("rk_test_"), "{made_html}");
    assert_eq!(unknown.status(), 422);
    assert!(unknown.text().await.unwrap().contains("api_nope"));
    assert!(list.contains("Restricted"));
    assert!(list.contains("invoices:read"));
    assert!(!list.contains("invoices:write"));
    assert!(list.contains("10 uses left"));
    assert!(
        list.contains("expires within 7 days") || list.contains("expire within 7 days"),
        "{list}"
    );
}
