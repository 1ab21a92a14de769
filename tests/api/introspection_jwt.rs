//! JWT introspection responses (RFC 9701): a resource server asking with
//! `Accept: application/token-introspection+jwt` gets the RFC 7662 answer inside a JWT
//! signed with the server's key, which it verifies with the JWKS.

use serde_json::json;

use crate::helpers::*;
use crate::token_exchange::verify_with_jwks;

const MEDIA: &str = "application/token-introspection+jwt";

async fn introspect_as(
    app: &TestApp,
    caller: &TestClient,
    token: &str,
    accept: Option<&str>,
) -> reqwest::Response {
    let mut req = app
        .http
        .post(app.url("/oauth/introspect"))
        .basic_auth(&caller.id, caller.secret.as_deref())
        .form(&[("token", token)]);
    if let Some(a) = accept {
        req = req.header("accept", a);
    }
    req.send().await.unwrap()
}

async fn resource_server(app: &TestApp) -> TestClient {
    app.create_client(ClientSpec {
        name: "Billing RS",
        redirect_uris: vec![],
        grant_types: vec!["client_credentials"],
        resource_server: true,
        ..ClientSpec::default()
    })
    .await
}

#[tokio::test]
async fn a_resource_server_gets_a_signed_introspection_it_can_verify_with_the_jwks() {
    // Arrange
    let app = spawn_app().await;
    let rs = resource_server(&app).await;
    let machine = app.machine_client().await;
    let token = client_credentials_token(&app, &machine, "read").await;
    let plain = json(introspect_as(&app, &rs, &token, None).await).await;
    assert_eq!(plain["active"], true);

    // Act
    let res = introspect_as(
        &app,
        &rs,
        &token,
        Some(&format!("application/json;q=0.5, {MEDIA}")),
    )
    .await;

    // Assert: RFC 9701 §5.
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], MEDIA);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let jwt = res.text().await.unwrap();
    let claims = verify_with_jwks(&app, &jwt, "token-introspection+jwt", &rs.id).await;
    assert_eq!(claims["iss"], app.settings.issuer);
    assert_eq!(claims["aud"], rs.id);
    let iat = claims["iat"].as_i64().unwrap();
    assert!((iat - chrono::Utc::now().timestamp()).abs() < 60);
    assert_eq!(claims["token_introspection"], plain);
    assert!(
        claims.get("sub").is_none(),
        "the token's claims stay inside token_introspection"
    );

    // The metadata names the algorithm the JWT is signed with first (RFC 9701 §7), then
    // RS256, which a client may register (§6).
    let meta = json(app.get("/.well-known/oauth-authorization-server").await).await;
    let alg = jsonwebtoken::decode_header(&jwt).unwrap().alg;
    assert_eq!(
        meta["introspection_signing_alg_values_supported"][0],
        serde_json::to_value(alg).unwrap()
    );
}

#[tokio::test]
async fn inactive_and_foreign_tokens_are_signed_as_inactive() {
    // Arrange: a confidential client that is not a resource server, and another's token.
    let app = spawn_app().await;
    let caller = app.confidential_client().await;
    let machine = app.machine_client().await;
    let foreign = client_credentials_token(&app, &machine, "read").await;

    for token in ["garbage", foreign.as_str()] {
        // Act
        let res = introspect_as(&app, &caller, token, Some(MEDIA)).await;

        // Assert: §5, `{"active": false}` inside, for this caller.
        assert_eq!(res.status(), 200);
        assert_eq!(res.headers()["content-type"], MEDIA);
        let jwt = res.text().await.unwrap();
        let claims = verify_with_jwks(&app, &jwt, "token-introspection+jwt", &caller.id).await;
        assert_eq!(claims["token_introspection"], json!({"active": false}));
    }
    // Errors stay RFC 6749 §5.2 JSON whatever the Accept header says.
    let res = app
        .http
        .post(app.url("/oauth/introspect"))
        .basic_auth(&caller.id, Some("wrong"))
        .header("accept", MEDIA)
        .form(&[("token", "x")])
        .send()
        .await
        .unwrap();
    expect_oauth_error(res, 401, "invalid_client").await;
    // Without the media type, the plain JSON answer.
    let res = introspect_as(&app, &caller, "garbage", Some("application/json")).await;
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    assert_eq!(json(res).await, json!({"active": false}));
}

#[tokio::test]
async fn latch_verify_checks_a_signed_introspection_response() {
    // Arrange: an issuer the verifier can reach (as in `verify.rs`).
    let app = spawn_app_with(|s| s.issuer = "http://127.0.0.1:0".into()).await;
    let rs = resource_server(&app).await;
    let machine = app.machine_client().await;
    let token = client_credentials_token(&app, &machine, "read").await;
    let verifier = latch_verify::Verifier::builder(&app.settings.issuer)
        .audience(&app.settings.audience)
        .discover()
        .await
        .expect("discover");
    let jwt = introspect_as(&app, &rs, &token, Some(MEDIA))
        .await
        .text()
        .await
        .unwrap();

    // Act
    let answer = verifier
        .verify_introspection_response(&jwt, &rs.id)
        .await
        .expect("verifies");

    // Assert: the RFC 7662 object; for another client, or tampered, or an access token
    // passed off as one, it is refused.
    assert_eq!(answer["active"], true);
    assert_eq!(answer["client_id"], machine.id);
    assert!(
        verifier
            .verify_introspection_response(&jwt, &machine.id)
            .await
            .is_err()
    );
    let (input, sig) = jwt.rsplit_once('.').unwrap();
    let flipped = if sig.starts_with('A') { "B" } else { "A" };
    let tampered = format!("{input}.{flipped}{}", &sig[1..]);
    assert!(
        verifier
            .verify_introspection_response(&tampered, &rs.id)
            .await
            .is_err()
    );
    assert!(
        verifier
            .verify_introspection_response(&token, &rs.id)
            .await
            .is_err()
    );
}

#[tokio::test]
async fn accept_weights_choose_between_json_and_a_jwt() {
    // Arrange
    let app = spawn_app().await;
    let rs = resource_server(&app).await;
    let machine = app.machine_client().await;
    let token = client_credentials_token(&app, &machine, "read").await;

    // Act + Assert: RFC 9110 §12.5.1 weights; `q=0` is "not acceptable", and the JWT is
    // chosen when it weighs at least what JSON does.
    for (accept, jwt) in [
        (MEDIA.to_owned(), true),
        (format!("{MEDIA};q=0, application/json"), false),
        (format!("{MEDIA}; q=0.0"), false),
        (format!("application/json, {MEDIA};q=0.5"), false),
        (format!("application/json;q=0.5, {MEDIA}"), true),
        (format!("*/*;q=0.9, {MEDIA};q=0.9"), true),
        (format!("{}, application/json", MEDIA.to_uppercase()), true),
        ("application/json".to_owned(), false),
    ] {
        let res = introspect_as(&app, &rs, &token, Some(&accept)).await;
        assert_eq!(res.status(), 200, "{accept}");
        let ct = res.headers()["content-type"].to_str().unwrap().to_owned();
        assert_eq!(ct.starts_with(MEDIA), jwt, "{accept}: {ct}");
    }
}

#[tokio::test]
async fn with_hmac_access_tokens_introspection_jwts_are_signed_with_rs256() {
    // Arrange: access tokens HMAC'd with a secret no resource server holds.
    let app = spawn_app_with(|s| s.signing_alg = latch::config::SigningAlg::HS256).await;
    let rs = resource_server(&app).await;
    let machine = app.machine_client().await;
    let token = client_credentials_token(&app, &machine, "read").await;

    // Act
    let res = introspect_as(&app, &rs, &token, Some(MEDIA)).await;

    // Assert: an RS256 JWT that the JWKS verifies, and the metadata says so.
    assert_eq!(res.status(), 200);
    let jwt = res.text().await.unwrap();
    let header = jsonwebtoken::decode_header(&jwt).unwrap();
    assert_eq!(header.alg, jsonwebtoken::Algorithm::RS256);
    let claims = verify_with_jwks(&app, &jwt, "token-introspection+jwt", &rs.id).await;
    assert_eq!(claims["token_introspection"]["active"], true);
    let meta = json(app.get("/.well-known/oauth-authorization-server").await).await;
    assert_eq!(
        meta["introspection_signing_alg_values_supported"],
        json!(["RS256"])
    );
}

#[tokio::test]
async fn a_client_registers_the_algorithm_of_its_signed_introspections() {
    // Arrange: the metadata offers the access tokens' algorithm and RS256 (RFC 9701 §7).
    let app = spawn_app().await;
    let meta = json(app.get("/.well-known/oauth-authorization-server").await).await;
    assert_eq!(
        meta["introspection_signing_alg_values_supported"],
        json!(["ES256", "RS256"])
    );
    let iat = crate::registration::iat(&app).await;
    let register = |alg: &'static str| {
        let body = json!({
            "client_name": "Signed", "grant_types": ["client_credentials"], "scope": "read",
            "token_endpoint_auth_method": "client_secret_basic",
            "introspection_signed_response_alg": alg,
        });
        crate::registration::register(&app, Some(&iat), body)
    };

    // Act + Assert: only an algorithm Latch signs with; a refusal spends nothing.
    for bad in ["HS256", "none", "PS512", ""] {
        let res = register(bad).await;
        assert_eq!(res.status(), 400, "{bad}");
        assert_eq!(json(res).await["error"], "invalid_client_metadata", "{bad}");
    }
    let res = register("RS256").await;
    assert_eq!(res.status(), 201);
    let reg = json(res).await;
    assert_eq!(reg["introspection_signed_response_alg"], "RS256");
    let c = TestClient {
        id: reg["client_id"].as_str().unwrap().to_owned(),
        secret: reg["client_secret"].as_str().map(str::to_owned),
        redirect_uri: String::new(),
    };
    // A client introspects its own tokens (RFC 7662 §2.1); the JWT is RS256 (§6).
    let token = client_credentials_token(&app, &c, "read").await;
    let res = introspect_as(&app, &c, &token, Some(MEDIA)).await;
    assert_eq!(res.status(), 200);
    let jwt = res.text().await.unwrap();
    assert_eq!(
        jsonwebtoken::decode_header(&jwt).unwrap().alg,
        jsonwebtoken::Algorithm::RS256
    );
    let claims = verify_with_jwks(&app, &jwt, "token-introspection+jwt", &c.id).await;
    assert_eq!(claims["token_introspection"]["active"], true);
    // Another client, nothing registered: the access tokens' algorithm.
    let rs = resource_server(&app).await;
    let jwt = introspect_as(&app, &rs, &token, Some(MEDIA))
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(
        jsonwebtoken::decode_header(&jwt).unwrap().alg,
        jsonwebtoken::Algorithm::ES256
    );
}

#[tokio::test]
async fn v1_clients_set_show_and_clear_the_introspection_algorithm() {
    let app = spawn_app().await;
    let user = app.create_user("rs@example.com", PASSWORD).await;
    let (_, key) = key_for(&app, &user.id, true, &["read", "write"]).await;
    let res = bearer_post(
        &app,
        &key,
        "/v1/clients",
        &[
            ("name", "Signed"),
            ("redirect_uris[]", "https://signed.example/cb"),
            ("introspection_signed_response_alg", "RS256"),
        ],
    )
    .await;
    assert_eq!(res.status(), 200);
    let c = json(res).await;
    assert_eq!(c["introspection_signed_response_alg"], "RS256");
    let path = format!("/v1/clients/{}", c["id"].as_str().unwrap());
    let res = bearer_post(
        &app,
        &key,
        &path,
        &[("introspection_signed_response_alg", "HS256")],
    )
    .await;
    assert_eq!(res.status(), 400);
    assert_eq!(
        json(res).await["error"]["param"],
        "introspection_signed_response_alg"
    );
    let res = bearer_post(
        &app,
        &key,
        &path,
        &[("introspection_signed_response_alg", "")],
    )
    .await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        json(res).await["introspection_signed_response_alg"],
        json!(null)
    );
}
