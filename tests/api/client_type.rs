//! An app's type after registration (issue #15 item 7, `clients::kind`) through
//! `POST /v1/clients/{id}` (`public`): to public erases the secret, sets auth method `none`
//! and revokes what the app was issued; to confidential returns a new secret once; a grant
//! only confidential clients may use is refused with the reason.

use sea_orm::{ActiveModelTrait, ActiveValue::Set, IntoActiveModel};

use crate::helpers::*;

const EMAIL: &str = "owner@example.com";

#[tokio::test]
async fn v1_changes_an_apps_type_and_revokes_what_it_was_issued() {
    // Arrange: a confidential app of the user's, with a refresh token issued to it.
    let app = spawn_app().await;
    let user = app.create_user(EMAIL, PASSWORD).await;
    let (_, key) = key_for(&app, &user.id, true, &["read", "write"]).await;
    let c = app
        .create_client(ClientSpec {
            grant_types: vec!["authorization_code", "refresh_token"],
            ..ClientSpec::default()
        })
        .await;
    let row = latch::store::clients::by_id(&app.db, &c.id)
        .await
        .unwrap()
        .unwrap();
    let mut m = row.into_active_model();
    m.owner_id = Set(Some(user.id.clone()));
    m.update(&app.db).await.unwrap();
    let code = app.obtain_code(&c, EMAIL, &[]).await;
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
    let rt = body["refresh_token"].as_str().unwrap().to_owned();
    let path = format!("/v1/clients/{}", c.id);

    // Act + Assert: `public` with another change is refused, nothing changes.
    let res = bearer_post(&app, &key, &path, &[("public", "true"), ("name", "X")]).await;
    assert_eq!(res.status(), 400);
    assert_eq!(json(res).await["error"]["param"], "public");

    // Act: public.
    let res = bearer_post(&app, &key, &path, &[("public", "true")]).await;

    // Assert: no secret, auth method none, the refresh token revoked.
    assert_eq!(res.status(), 200);
    let v = json(res).await;
    assert_eq!(v["public"], true, "{v}");
    assert_eq!(v["token_endpoint_auth_method"], "none");
    assert!(v["secret"].is_null() && v["secret_last4"].is_null());
    let row = latch::store::clients::by_id(&app.db, &c.id)
        .await
        .unwrap()
        .unwrap();
    assert!(row.is_public && row.secret_hash.is_none());
    let res = app
        .post_token(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", &rt),
            ("client_id", &c.id),
        ])
        .await;
    assert_eq!(res.status(), 400);
    assert_eq!(json(res).await["error"], "invalid_grant");
    // The old secret no longer authenticates.
    let res = app
        .post_token_basic(
            &c.id,
            c.secret(),
            &[("grant_type", "refresh_token"), ("refresh_token", &rt)],
        )
        .await;
    assert_eq!(res.status(), 401);

    // Act: confidential again.
    let res = bearer_post(&app, &key, &path, &[("public", "false")]).await;

    // Assert: a new secret, returned once, that authenticates.
    assert_eq!(res.status(), 200);
    let v = json(res).await;
    let secret = v["secret"].as_str().expect("the new secret").to_owned();
    assert!(secret.starts_with("cs_"));
    assert_eq!(v["token_endpoint_auth_method"], "client_secret_basic");
    let res = app
        .post_token_basic(
            &c.id,
            &secret,
            &[("grant_type", "refresh_token"), ("refresh_token", &rt)],
        )
        .await;
    // Authenticated (the revoked refresh token is what is refused, not the client).
    assert_eq!(res.status(), 400);
    assert_eq!(json(res).await["error"], "invalid_grant");
    let shown = json(
        app.http
            .get(app.url(&path))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert!(shown["secret"].is_null(), "{shown}");
    // The same again: no change, no new secret.
    let v = json(bearer_post(&app, &key, &path, &[("public", "false")]).await).await;
    assert!(v["secret"].is_null());
}

#[tokio::test]
async fn v1_refuses_a_public_app_with_client_credentials_and_says_why() {
    // Arrange
    let app = spawn_app().await;
    let user = app.create_user(EMAIL, PASSWORD).await;
    let (_, key) = key_for(&app, &user.id, true, &["read", "write"]).await;
    let res = bearer_post(
        &app,
        &key,
        "/v1/clients",
        &[("name", "Worker"), ("grant_types[]", "client_credentials")],
    )
    .await;
    assert_eq!(res.status(), 200);
    let id = json(res).await["id"].as_str().unwrap().to_owned();

    // Act
    let res = bearer_post(
        &app,
        &key,
        &format!("/v1/clients/{id}"),
        &[("public", "true")],
    )
    .await;

    // Assert
    assert_eq!(res.status(), 400);
    let e = json(res).await;
    assert_eq!(e["error"]["param"], "public");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("client_credentials"),
        "{e}"
    );
    let row = latch::store::clients::by_id(&app.db, &id)
        .await
        .unwrap()
        .unwrap();
    assert!(!row.is_public && row.secret_hash.is_some());
}
