//! OAuth apps (register, rotate, delete) and authorized apps (revoking ends the app's tokens).

use super::*;

// ---------------------------------------------------------------------------------------------
// OAuth apps

#[tokio::test]
async fn a_registered_app_gets_its_secret_once_and_rotating_it_ends_the_old_one() {
    // Arrange
    let app = spawn_app().await;
    app.create_user(ANN, PASSWORD).await;
    let b = app.signed_in_browser(ANN).await;
    let token = page_csrf(&app, &b, "/dashboard").await;

    // Act: register.
    let res = post(
        &app,
        &b,
        "/dashboard/apps",
        &[
            ("csrf", &token),
            ("name", "Billing worker"),
            ("kind", "confidential"),
            ("mode", "test"),
            ("grant_authorization_code", "on"),
            ("grant_refresh_token", "on"),
            ("grant_client_credentials", "on"),
            (
                "redirect_uris",
                "https://billing.example.com/cb\r\nhttp://localhost:8080/cb\r\n",
            ),
        ],
    )
    .await;

    // Assert
    let res = shown_once(&app, &b, res).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers().get("cache-control").unwrap(), "no-store");
    let html = res.text().await.unwrap();
    let client_id = code_by_id(&html, "client-id").expect("client id");
    let secret = code_by_id(&html, "client-secret").expect("client secret");
    assert!(secret.starts_with("cs_"));
    let c = latch::store::clients::by_id(&app.db, &client_id)
        .await
        .unwrap()
        .expect("registered");
    assert_eq!(
        c.owner_id.as_deref(),
        Some(user(&app, ANN).await.id.as_str())
    );
    assert_eq!(
        c.redirect_uris,
        "https://billing.example.com/cb http://localhost:8080/cb"
    );
    assert!(!c.livemode);
    assert_eq!(
        c.secret_hash.as_deref(),
        Some(latch::crypto::sha256_hex(&secret).as_str())
    );
    let cc = [("grant_type", "client_credentials")];
    assert_eq!(
        app.post_token_basic(&client_id, &secret, &cc)
            .await
            .status(),
        200
    );
    for path in [
        "/dashboard/apps".to_owned(),
        format!("/dashboard/apps/{client_id}"),
    ] {
        let (status, page) = get_html(&app, &b, &path).await;
        assert_eq!(status, 200);
        assert!(page.contains("Billing worker") && page.contains(&client_id));
        assert!(!page.contains(&secret), "{path} shows the secret");
    }

    // Act: edit, then rotate.
    let res = post(
        &app,
        &b,
        &format!("/dashboard/apps/{client_id}"),
        &[
            ("csrf", &token),
            ("name", "Billing"),
            ("redirect_uris", "https://billing.example.com/cb"),
        ],
    )
    .await;
    assert_eq!(res.status(), 303);
    let c = latch::store::clients::by_id(&app.db, &client_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (c.name.as_str(), c.redirect_uris.as_str()),
        ("Billing", "https://billing.example.com/cb")
    );
    let bad = post(
        &app,
        &b,
        &format!("/dashboard/apps/{client_id}"),
        &[
            ("csrf", &token),
            ("name", "Billing"),
            ("redirect_uris", "javascript:alert(1)"),
        ],
    )
    .await;
    assert_eq!(bad.status(), 422);
    let res = post(
        &app,
        &b,
        &format!("/dashboard/apps/{client_id}/rotate_secret"),
        &[("csrf", &token)],
    )
    .await;
    let res = shown_once(&app, &b, res).await;
    assert_eq!(res.status(), 200);
    let rotated = code_by_id(&res.text().await.unwrap(), "client-secret").unwrap();

    // Assert
    assert_ne!(rotated, secret);
    expect_oauth_error(
        app.post_token_basic(&client_id, &secret, &cc).await,
        401,
        "invalid_client",
    )
    .await;
    assert_eq!(
        app.post_token_basic(&client_id, &rotated, &cc)
            .await
            .status(),
        200
    );

    // Act: rotate again, keeping the current secret for an hour.
    let res = post(
        &app,
        &b,
        &format!("/dashboard/apps/{client_id}/rotate_secret"),
        &[("csrf", &token), ("expires_in", "1h")],
    )
    .await;
    let res = shown_once(&app, &b, res).await;
    let html = res.text().await.unwrap();
    let third = code_by_id(&html, "client-secret").unwrap();

    // Assert: both work for the hour, and the app page says until when.
    assert!(html.contains("keeps working for 1 hour"), "{html}");
    for s in [&rotated, &third] {
        assert_eq!(app.post_token_basic(&client_id, s, &cc).await.status(), 200);
    }
    let (_, page) = get_html(&app, &b, &format!("/dashboard/apps/{client_id}")).await;
    assert!(
        page.contains("The previous secret keeps working for 59 minutes"),
        "{page}"
    );
    app.advance(3601);
    assert_eq!(
        app.post_token_basic(&client_id, &rotated, &cc)
            .await
            .status(),
        401
    );
    let (_, page) = get_html(&app, &b, &format!("/dashboard/apps/{client_id}")).await;
    assert!(!page.contains("The previous secret keeps working"));

    // Act: delete, with a confirmation step.
    let (status, confirm) =
        get_html(&app, &b, &format!("/dashboard/apps/{client_id}/delete")).await;
    assert_eq!(status, 200);
    assert!(confirm.contains("Delete Billing?"));
    let res = post(
        &app,
        &b,
        &format!("/dashboard/apps/{client_id}/delete"),
        &[("csrf", &token)],
    )
    .await;
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), "/dashboard/apps");
    assert!(
        latch::store::clients::by_id(&app.db, &client_id)
            .await
            .unwrap()
            .is_none()
    );
    expect_oauth_error(
        app.post_token_basic(&client_id, &rotated, &cc).await,
        401,
        "invalid_client",
    )
    .await;
}

#[tokio::test]
async fn registering_an_app_explains_invalid_input_and_keeps_it() {
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
            ("name", "Browser app"),
            ("kind", "public"),
            ("mode", "live"),
            ("grant_authorization_code", "on"),
            ("redirect_uris", "http://app.example.com/cb"),
        ],
    )
    .await;
    assert_eq!(res.status(), 422);
    let html = res.text().await.unwrap();
    assert!(html.contains("must use https"), "{html}");
    assert!(html.contains("value=\"Browser app\""));
    assert!(html.contains("http://app.example.com/cb</textarea>"));
    assert_eq!(
        entity::client::Entity::find()
            .all(&app.db)
            .await
            .unwrap()
            .len(),
        0
    );

    // A public app has no secret: only the client id is shown.
    let res = post(
        &app,
        &b,
        "/dashboard/apps",
        &[
            ("csrf", &token),
            ("name", "Browser app"),
            ("kind", "public"),
            ("mode", "live"),
            ("grant_authorization_code", "on"),
            ("redirect_uris", "https://app.example.com/cb"),
        ],
    )
    .await;
    let res = shown_once(&app, &b, res).await;
    assert_eq!(res.status(), 200);
    let html = res.text().await.unwrap();
    assert!(code_by_id(&html, "client-id").is_some());
    assert!(code_by_id(&html, "client-secret").is_none());
    assert!(!html.contains("You won't see it again"));
}

// ---------------------------------------------------------------------------------------------
// Authorized apps

#[tokio::test]
async fn an_apps_grant_types_are_edited_on_its_page() {
    // Arrange: a confidential app with the code and refresh grants.
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
            ("name", "Billing"),
            ("kind", "confidential"),
            ("mode", "test"),
            ("grant_authorization_code", "on"),
            ("grant_refresh_token", "on"),
            ("redirect_uris", "https://billing.example.com/cb"),
        ],
    )
    .await;
    let html = shown_once(&app, &b, res).await.text().await.unwrap();
    let id = code_by_id(&html, "client-id").unwrap();
    let (_, page) = get_html(&app, &b, &format!("/dashboard/apps/{id}")).await;
    assert!(page.contains("name=\"grant_type\" value=\"refresh_token\" checked"));
    assert!(page.contains("name=\"grant_type\" value=\"client_credentials\">"));
    let form = |grants: &[&'static str]| {
        let mut f = vec![
            ("csrf", token.clone()),
            ("name", "Billing".to_owned()),
            ("redirect_uris", "https://billing.example.com/cb".to_owned()),
            ("grants_shown", "1".to_owned()),
        ];
        f.extend(grants.iter().map(|g| ("grant_type", g.to_string())));
        f
    };
    let send = |f: Vec<(&'static str, String)>| {
        let (app, b, id) = (&app, &b, id.clone());
        async move {
            b.post(app.url(&format!("/dashboard/apps/{id}")))
                .form(&f)
                .send()
                .await
                .unwrap()
        }
    };

    // Act + Assert: no grant at all is explained and changes nothing.
    let res = send(form(&[])).await;
    assert_eq!(res.status(), 422);
    assert!(res.text().await.unwrap().contains("t least one grant type"));

    // Act: swap refresh tokens for client credentials.
    let res = send(form(&["authorization_code", "client_credentials"])).await;

    // Assert
    assert_eq!(res.status(), 303);
    let c = latch::store::clients::by_id(&app.db, &id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(c.grant_types, "authorization_code client_credentials");
}

#[tokio::test]
async fn revoking_an_authorization_ends_the_apps_tokens() {
    // Arrange
    let app = spawn_app().await;
    let ann = app.create_user(ANN, PASSWORD).await;
    let client = app.confidential_client().await;
    let (at, rt) = code_flow_tokens(&app, &client, ANN).await;
    assert_eq!(me_status(&app, &at).await, 200);
    let b = app.signed_in_browser(ANN).await;
    let (status, page) = get_html(&app, &b, "/dashboard/authorized").await;
    assert_eq!(status, 200);
    assert!(page.contains("Test App"));
    assert!(page.contains("Read your data"), "scopes in plain words");
    // "Revoke access" is a link to a confirmation, as revoking a key is.
    let confirm = format!("/dashboard/authorized/{}/revoke", client.id);
    assert!(page.contains(&format!("href=\"{confirm}\"")), "{page}");
    let (status, confirm_page) = get_html(&app, &b, &confirm).await;
    assert_eq!(status, 200);
    assert!(confirm_page.contains("Revoke access for Test App?"));
    assert!(confirm_page.contains("Read your data"));
    assert!(confirm_page.contains(&format!("action=\"{confirm}\"")));
    assert_eq!(me_status(&app, &at).await, 200, "asking changes nothing");
    let token = input_value(&confirm_page, "csrf").unwrap();

    // Act
    let res = post(
        &app,
        &b,
        &format!("/dashboard/authorized/{}/revoke", client.id),
        &[("csrf", &token)],
    )
    .await;

    // Assert
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), "/dashboard/authorized");
    let (_, page) = get_html(&app, &b, "/dashboard/authorized").await;
    assert!(page.contains("Access for Test App was revoked."));
    assert!(page.contains("No authorized apps"));
    expect_oauth_error(refresh(&app, &client, &rt).await, 400, "invalid_grant").await;
    assert_eq!(
        me_status(&app, &at).await,
        401,
        "its access token is inactive"
    );
    assert!(
        events_of(&app, &ann.id)
            .await
            .iter()
            .any(|e| e.kind == "consent.revoked")
    );
}
