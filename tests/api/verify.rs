//! `latch-verify` against the real server: real tokens from `/oauth/token`, keys from the
//! published JWKS, API keys through `/oauth/introspect`, and the actix extractor as the
//! example resource server uses it.

use std::time::Duration;

use latch_verify::actix::Authenticated;
use latch_verify::{InvalidToken, TokenKind, Verifier, VerifyError};

use crate::helpers::*;

/// The app with an issuer that is its real address (`…:0` makes start-up substitute the
/// port), so discovery at the issuer reaches it.
async fn spawn_reachable_app() -> TestApp {
    let app = spawn_app_with(|s| s.issuer = "http://127.0.0.1:0".into()).await;
    assert_eq!(app.settings.issuer, app.address);
    app
}

async fn verifier(app: &TestApp) -> Verifier {
    Verifier::builder(&app.settings.issuer)
        .audience(&app.settings.audience)
        .discover()
        .await
        .expect("discover the test app")
}

/// Change one character in the middle of the signature segment.
fn tamper(token: &str) -> String {
    let (input, sig) = token.rsplit_once('.').expect("a JWS");
    let mut sig: Vec<char> = sig.chars().collect();
    let i = sig.len() / 2;
    sig[i] = if sig[i] == 'A' { 'B' } else { 'A' };
    format!("{input}.{}", sig.into_iter().collect::<String>())
}

#[tokio::test]
async fn latch_verify_accepts_a_real_client_credentials_token() {
    // Arrange
    let app = spawn_reachable_app().await;
    let c = app.machine_client().await;
    let token = client_credentials_token(&app, &c, "read").await;

    // Act: discovery with exactly the issuer, as a resource server would.
    let v = Verifier::discover(&app.settings.issuer)
        .await
        .expect("discover");
    let claims = verifier(&app).await.verify(&token).await.expect("verifies");

    // Assert
    assert_eq!(v.issuer(), app.settings.issuer);
    assert_eq!(claims.client_id.as_deref(), Some(c.id.as_str()));
    assert_eq!(
        claims.sub, c.id,
        "client_credentials: the client is the subject"
    );
    assert_eq!(claims.scopes, ["read"]);
    assert!(claims.livemode, "a live client's token says livemode");
    assert_eq!(claims.kind, TokenKind::AccessToken);
    assert!(claims.jti.is_some() && claims.exp > claims.iat);
    assert!(claims.require_scopes(&["read"]).is_ok());
    assert_eq!(claims.require_scopes(&["write"]).unwrap_err().status(), 403);
}

#[tokio::test]
async fn latch_verify_refuses_a_tampered_real_token() {
    let app = spawn_reachable_app().await;
    let c = app.machine_client().await;
    let token = client_credentials_token(&app, &c, "read write").await;
    let v = verifier(&app).await;

    let err = v.verify(&tamper(&token)).await.unwrap_err();

    assert!(
        matches!(
            err,
            VerifyError::InvalidToken(InvalidToken::BadSignature | InvalidToken::Malformed)
        ),
        "{err:?}"
    );
    assert_eq!(err.status(), 401);
    assert!(
        err.www_authenticate()
            .starts_with(r#"Bearer error="invalid_token""#)
    );
    v.verify(&token).await.expect("the original verifies");
}

#[tokio::test]
async fn latch_verify_refuses_a_token_from_another_latch() {
    // Two instances with separate databases: separate keys and issuers (J5 on real tokens).
    let app = spawn_reachable_app().await;
    let other = spawn_reachable_app().await;
    let c = other.machine_client().await;
    let foreign = client_credentials_token(&other, &c, "read").await;

    let err = verifier(&app).await.verify(&foreign).await.unwrap_err();

    assert!(
        matches!(
            err,
            VerifyError::InvalidToken(InvalidToken::UnknownKey | InvalidToken::WrongIssuer)
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn an_api_key_verifies_through_introspection_with_a_resource_server_client() {
    // Arrange
    let app = spawn_reachable_app().await;
    let user = app.create_user("rs-owner@example.com", PASSWORD).await;
    let (key, secret) = latch::api_keys::create(
        &app.db,
        &app.state.catalog.get(),
        latch::api_keys::NewKey {
            user_id: user.id.clone(),
            livemode: false,
            name: "resource server test".into(),
            scopes: vec!["read".into()],
            policies: Default::default(),
        },
    )
    .await
    .expect("key created");
    let rs = app
        .create_client(ClientSpec {
            resource_server: true,
            grant_types: vec!["client_credentials"],
            redirect_uris: vec![],
            ..Default::default()
        })
        .await;
    let v = Verifier::builder(&app.settings.issuer)
        .introspection(&rs.id, rs.secret())
        .introspection_cache_ttl(Duration::ZERO)
        .discover()
        .await
        .expect("discover");

    // Act
    let claims = v.verify(&secret).await.expect("the API key verifies");

    // Assert
    assert_eq!(claims.sub, user.id);
    assert_eq!(claims.scopes, ["read"]);
    assert!(!claims.livemode, "sk_test_ keys are test mode");
    assert_eq!(claims.kind, TokenKind::ApiKey);
    assert!(claims.require_scopes(&["write"]).is_err());

    // A revoked key is inactive.
    latch::api_keys::revoke(&app.db, &app.state.keys, &key, app.clock.now())
        .await
        .expect("revoked");
    let err = v.verify(&secret).await.unwrap_err();
    assert_eq!(err, VerifyError::InvalidToken(InvalidToken::Inactive));

    // A client that is not a resource server learns nothing about API keys.
    let (_, other_secret) = latch::api_keys::create(
        &app.db,
        &app.state.catalog.get(),
        latch::api_keys::NewKey {
            user_id: user.id.clone(),
            livemode: false,
            name: "second".into(),
            scopes: vec!["read".into()],
            policies: Default::default(),
        },
    )
    .await
    .expect("key created");
    let plain = app.machine_client().await;
    let not_rs = Verifier::builder(&app.settings.issuer)
        .introspection(&plain.id, plain.secret())
        .discover()
        .await
        .expect("discover");
    let err = not_rs.verify(&other_secret).await.unwrap_err();
    assert_eq!(err, VerifyError::InvalidToken(InvalidToken::Inactive));
}

/// The example resource server's route (`verify/examples/resource_server.rs`).
async fn hello(auth: Authenticated) -> actix_web::Result<actix_web::HttpResponse> {
    auth.require_scopes(&["read"])?;
    Ok(actix_web::HttpResponse::Ok()
        .json(serde_json::json!({"hello": auth.sub, "scopes": auth.scopes})))
}

#[tokio::test]
async fn the_example_resource_server_accepts_a_real_token_and_refuses_a_tampered_one() {
    use actix_web::{App, test, web};

    // Arrange
    let app = spawn_reachable_app().await;
    let c = app.machine_client().await;
    let good = client_credentials_token(&app, &c, "read").await;
    let write_only = client_credentials_token(&app, &c, "write").await;
    let rs = test::init_service(
        App::new()
            .app_data(web::Data::new(verifier(&app).await))
            .route("/hello", web::get().to(hello)),
    )
    .await;
    let get = |token: &str| {
        test::TestRequest::get()
            .uri("/hello")
            .insert_header(("Authorization", format!("Bearer {token}")))
            .to_request()
    };

    // Act + Assert
    let res = test::call_service(&rs, get(&good)).await;
    assert_eq!(res.status(), 200);
    let body: serde_json::Value = test::read_body_json(res).await;
    assert_eq!(body, serde_json::json!({"hello": c.id, "scopes": ["read"]}));

    let res = test::call_service(&rs, get(&tamper(&good))).await;
    assert_eq!(res.status(), 401);
    let www = res
        .headers()
        .get("www-authenticate")
        .unwrap()
        .to_str()
        .unwrap();
    assert!(www.starts_with(r#"Bearer error="invalid_token""#), "{www}");

    let res = test::call_service(&rs, get(&write_only)).await;
    assert_eq!(res.status(), 403);
    let www = res
        .headers()
        .get("www-authenticate")
        .unwrap()
        .to_str()
        .unwrap();
    assert!(
        www.starts_with(r#"Bearer error="insufficient_scope""#),
        "{www}"
    );
}

/// RFC 9449 §7: `Verifier::verify_dpop` checks the proof, `ath` and the key binding, and
/// keeps its own replay cache; `verify` refuses a DPoP-bound token sent as Bearer (§7.2).
#[tokio::test]
async fn latch_verify_checks_dpop_bound_tokens() {
    use crate::dpop::Key;
    let app = spawn_reachable_app().await;
    let c = app.machine_client().await;
    let key = Key::new();
    let other = Key::new();
    let res = app
        .http
        .post(app.url("/oauth/token"))
        .basic_auth(&c.id, c.secret.as_deref())
        .header("DPoP", key.proof("POST", &app.url("/oauth/token")))
        .form(&[("grant_type", "client_credentials"), ("scope", "read")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let at = json(res).await["access_token"].as_str().unwrap().to_owned();
    let v = verifier(&app).await;
    let api = "https://api.example.com/invoices";

    let proof = key.proof_for("GET", api, &at);
    let claims = v
        .verify_dpop(&at, Some(&proof), "GET", &format!("{api}?page=2"))
        .await
        .expect("a good proof verifies");
    assert_eq!(claims.client_id.as_deref(), Some(c.id.as_str()));
    // Replayed, missing, another key, another token's `ath`, another method or URL.
    let refused = |r: Result<latch_verify::Claims, VerifyError>| match r {
        Err(e @ VerifyError::InvalidDpopProof(_)) => {
            assert_eq!(e.status(), 401);
            assert!(
                e.dpop_challenge()
                    .starts_with("DPoP error=\"invalid_dpop_proof\"")
            );
        }
        other => panic!("expected invalid_dpop_proof, got {other:?}"),
    };
    refused(v.verify_dpop(&at, Some(&proof), "GET", api).await);
    refused(v.verify_dpop(&at, None, "GET", api).await);
    refused(
        v.verify_dpop(&at, Some(&other.proof_for("GET", api, &at)), "GET", api)
            .await,
    );
    refused(
        v.verify_dpop(&at, Some(&key.proof_for("GET", api, "x")), "GET", api)
            .await,
    );
    refused(
        v.verify_dpop(&at, Some(&key.proof_for("GET", api, &at)), "POST", api)
            .await,
    );
    let elsewhere = "https://api.example.com/other";
    refused(
        v.verify_dpop(&at, Some(&key.proof_for("GET", api, &at)), "GET", elsewhere)
            .await,
    );
    // §7.2: the bound token as Bearer.
    assert_eq!(
        v.verify(&at).await.unwrap_err(),
        VerifyError::InvalidToken(InvalidToken::DpopBound)
    );
    // A Bearer token sent as DPoP.
    let bearer = client_credentials_token(&app, &c, "read").await;
    assert_eq!(
        v.verify_dpop(
            &bearer,
            Some(&key.proof_for("GET", api, &bearer)),
            "GET",
            api
        )
        .await
        .unwrap_err(),
        VerifyError::InvalidToken(InvalidToken::NotDpopBound)
    );
}

/// RFC 9449 §9: a resource server using latch-verify can require its own nonces: a proof
/// without one (or with a stale or foreign one) gets `use_dpop_nonce` with a nonce for
/// `DPoP-Nonce`; with it, the proof passes; another verifier holding the same key (another
/// instance of the resource server) accepts it; the replay cache still holds.
#[tokio::test]
async fn latch_verify_requires_its_own_dpop_nonces_when_configured() {
    use crate::dpop::Key;
    let app = spawn_reachable_app().await;
    let c = app.machine_client().await;
    let key = Key::new();
    let res = app
        .http
        .post(app.url("/oauth/token"))
        .basic_auth(&c.id, c.secret.as_deref())
        .header("DPoP", key.proof("POST", &app.url("/oauth/token")))
        .form(&[("grant_type", "client_credentials"), ("scope", "read")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let at = json(res).await["access_token"].as_str().unwrap().to_owned();
    let rs_key = [7u8; 32];
    let with_nonces = |k: &[u8]| {
        Verifier::builder(&app.settings.issuer)
            .audience(&app.settings.audience)
            .dpop_nonces(k, std::time::Duration::from_secs(60))
    };
    let v = with_nonces(&rs_key).discover().await.unwrap();
    let sibling = with_nonces(&rs_key).discover().await.unwrap();
    let api = "https://api.example.com/invoices";

    // Without a nonce: 401 use_dpop_nonce, and the nonce to use.
    let e = v
        .verify_dpop(&at, Some(&key.proof_for("GET", api, &at)), "GET", api)
        .await
        .unwrap_err();
    assert_eq!(e.status(), 401);
    assert_eq!(e.error_code(), Some("use_dpop_nonce"));
    assert!(
        e.dpop_challenge()
            .starts_with("DPoP error=\"use_dpop_nonce\"")
    );
    let nonce = e.dpop_nonce().expect("a nonce for DPoP-Nonce").to_owned();
    assert_eq!(v.dpop_nonce().as_deref(), Some(nonce.as_str()));

    // With it: accepted, here and by the sibling; each proof once.
    let proof = key.proof_with_nonce("GET", api, &at, &nonce);
    v.verify_dpop(&at, Some(&proof), "GET", api).await.unwrap();
    assert!(matches!(
        v.verify_dpop(&at, Some(&proof), "GET", api).await,
        Err(VerifyError::InvalidDpopProof(_))
    ));
    sibling
        .verify_dpop(
            &at,
            Some(&key.proof_with_nonce("GET", api, &at, &nonce)),
            "GET",
            api,
        )
        .await
        .unwrap();

    // A made-up nonce, and another resource server's nonce: use_dpop_nonce again.
    let other = with_nonces(&[8u8; 32]).discover().await.unwrap();
    let foreign = other.dpop_nonce().unwrap();
    for bad in ["bm9ub25jZQ", foreign.as_str()] {
        let e = v
            .verify_dpop(
                &at,
                Some(&key.proof_with_nonce("GET", api, &at, bad)),
                "GET",
                api,
            )
            .await
            .unwrap_err();
        assert_eq!(e.dpop_nonce(), Some(nonce.as_str()), "{bad}");
    }

    // The nonce does not excuse anything else: another key is still refused.
    let stranger = Key::new();
    assert!(matches!(
        v.verify_dpop(
            &at,
            Some(&stranger.proof_with_nonce("GET", api, &at, &nonce)),
            "GET",
            api
        )
        .await,
        Err(VerifyError::InvalidDpopProof(_))
    ));

    // A short key or a step out of bounds is a configuration error.
    assert!(with_nonces(&[1u8; 16]).discover().await.is_err());
    let zero_step = Verifier::builder(&app.settings.issuer)
        .dpop_nonces(rs_key, std::time::Duration::from_secs(0))
        .discover()
        .await;
    assert!(zero_step.is_err());
    // Without nonces configured, none is handed out.
    assert_eq!(verifier(&app).await.dpop_nonce(), None);
}
