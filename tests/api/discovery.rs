//! Metadata (RFC 8414, SECURITY.md U5), the JWKS (RFC 7517), signing-key rotation (SECURITY.md
//! §5.6, OIDC `oidcc-server-rotate-keys`) and the configurable signing algorithms.

use std::collections::HashSet;
use std::time::Duration;

use latch::config::SigningAlg;
use latch::crypto::Sealer;

use crate::helpers::*;
use crate::oauth_flow::verify_with_jwks;

const PRIVATE_MEMBERS: &[&str] = &["d", "p", "q", "dp", "dq", "qi", "k", "oth"];

async fn metadata(app: &TestApp) -> serde_json::Value {
    let res = app.get("/.well-known/oauth-authorization-server").await;
    assert_eq!(res.status(), 200);
    json(res).await
}

async fn jwks(app: &TestApp) -> serde_json::Value {
    let res = app.get("/.well-known/jwks.json").await;
    assert_eq!(res.status(), 200);
    json(res).await
}

fn kids(jwks: &serde_json::Value) -> Vec<String> {
    jwks["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .map(|k| k["kid"].as_str().expect("every key has a kid").to_owned())
        .collect()
}

fn assert_public_only(jwks: &serde_json::Value) {
    for key in jwks["keys"].as_array().expect("keys") {
        for m in PRIVATE_MEMBERS {
            assert!(key.get(*m).is_none(), "private member {m} in {key}");
        }
    }
}

/// A client-credentials access token from a new machine client.
async fn issue_token(app: &TestApp) -> String {
    let c = app.machine_client().await;
    let res = app
        .post_token_basic(
            &c.id,
            c.secret(),
            &[("grant_type", "client_credentials"), ("scope", "read")],
        )
        .await;
    assert_eq!(res.status(), 200);
    json(res).await["access_token"]
        .as_str()
        .expect("access_token")
        .to_owned()
}

fn header_of(token: &str) -> jsonwebtoken::Header {
    jsonwebtoken::decode_header(token).expect("JWS header")
}

fn kid_of(token: &str) -> String {
    header_of(token).kid.expect("kid")
}

async fn rotate(
    app: &TestApp,
    alg: SigningAlg,
    prepublish: Duration,
    keep_after: Duration,
) -> String {
    let sealer = Sealer::new(app.settings.secret().expose());
    let info = latch::signing::rotate(&app.db, &sealer, alg, prepublish, keep_after)
        .await
        .expect("rotate");
    // Instances reload the ring every 30 s; trigger it now instead of waiting.
    app.state.signer.reload().await.expect("reload");
    info.kid
}

// ---------------------------------------------------------------------------------------------
// U5: metadata

#[tokio::test]
async fn metadata_advertises_only_the_code_flow_with_s256_and_iss_when_fetched() {
    // Arrange
    let app = spawn_app().await;
    // Act
    let m = metadata(&app).await;
    // Assert
    let iss = &app.settings.issuer;
    assert_eq!(m["issuer"], iss.as_str(), "issuer is exact (RFC 8414 §3.3)");
    assert_eq!(
        m["authorization_endpoint"],
        format!("{iss}/oauth/authorize")
    );
    assert_eq!(m["token_endpoint"], format!("{iss}/oauth/token"));
    assert_eq!(m["jwks_uri"], format!("{iss}/.well-known/jwks.json"));
    assert_eq!(m["response_types_supported"], serde_json::json!(["code"]));
    assert_eq!(
        m["code_challenge_methods_supported"],
        serde_json::json!(["S256"])
    );
    assert_eq!(m["authorization_response_iss_parameter_supported"], true);
    let grants: Vec<&str> = m["grant_types_supported"]
        .as_array()
        .expect("grant_types_supported")
        .iter()
        .filter_map(|g| g.as_str())
        .collect();
    assert!(grants.contains(&"authorization_code"), "{grants:?}");
    for forbidden in ["implicit", "password"] {
        assert!(!grants.contains(&forbidden), "{forbidden} in {grants:?}");
    }
    if let Some(modes) = m.get("response_modes_supported") {
        assert!(
            !modes.as_array().unwrap().iter().any(|x| x == "fragment"),
            "{modes}"
        );
    }
    assert!(
        m["scopes_supported"]
            .as_array()
            .is_some_and(|s| !s.is_empty())
    );
}

#[tokio::test]
async fn metadata_issuer_equals_the_iss_of_issued_tokens_when_a_token_is_issued() {
    // Arrange
    let app = spawn_app().await;
    let m = metadata(&app).await;
    // Act
    let token = issue_token(&app).await;
    // Assert
    let claims = verify_with_jwks(&app, &token).await;
    assert_eq!(claims["iss"], m["issuer"]);
}

#[tokio::test]
async fn metadata_and_jwks_are_cacheable_json_when_fetched() {
    // Arrange
    let app = spawn_app().await;
    for path in [
        "/.well-known/oauth-authorization-server",
        "/.well-known/jwks.json",
    ] {
        // Act
        let res = app.get(path).await;
        // Assert: public, short-lived caching; never no-store.
        assert_eq!(res.status(), 200);
        let ct = res.headers()["content-type"].to_str().unwrap().to_owned();
        assert!(
            ct.starts_with("application/json") || ct.starts_with("application/jwk-set+json"),
            "{path}: {ct}"
        );
        let cc = res.headers()["cache-control"].to_str().unwrap().to_owned();
        assert!(
            !cc.contains("no-store") && !cc.contains("private"),
            "{path}: {cc}"
        );
        let max_age: u64 = cc
            .split(',')
            .find_map(|d| d.trim().strip_prefix("max-age="))
            .unwrap_or_else(|| panic!("{path}: no max-age in {cc}"))
            .parse()
            .expect("max-age is a number");
        assert!(
            (60..=86_400).contains(&max_age),
            "{path}: max-age {max_age}"
        );
        serde_json::from_str::<serde_json::Value>(&res.text().await.unwrap()).expect("JSON body");
    }
}

// ---------------------------------------------------------------------------------------------
// U5: JWKS

#[tokio::test]
async fn jwks_lists_unique_kids_without_private_members_when_keys_were_rotated() {
    // Arrange: three access-token keys in the ring (plus whatever else Latch publishes).
    let app = spawn_app().await;
    let first = kid_of(&issue_token(&app).await);
    let hour = Duration::from_secs(3600);
    let second = rotate(&app, SigningAlg::ES256, Duration::ZERO, hour).await;
    let third = rotate(&app, SigningAlg::ES256, hour, hour).await;
    // Act
    let set = jwks(&app).await;
    // Assert
    let kids = kids(&set);
    for k in [&first, &second, &third] {
        assert!(kids.contains(k), "{k} missing from {set}");
    }
    assert_eq!(
        kids.iter().collect::<HashSet<_>>().len(),
        kids.len(),
        "duplicate kid: {kids:?}"
    );
    assert_public_only(&set);
    for key in set["keys"].as_array().unwrap() {
        assert_eq!(key["use"], "sig", "{key}");
        assert!(
            key["alg"].is_string(),
            "each key names its one algorithm: {key}"
        );
        assert_ne!(key["kty"], "oct", "a symmetric key was published: {key}");
    }
}

// ---------------------------------------------------------------------------------------------
// Rotation

#[tokio::test]
async fn jwks_publishes_the_next_key_before_it_signs_when_a_key_is_rotated_with_prepublication() {
    // Arrange
    let app = spawn_app().await;
    let old_token = issue_token(&app).await;
    let old_kid = kid_of(&old_token);
    // Act
    let new_kid = rotate(
        &app,
        SigningAlg::ES256,
        Duration::from_secs(3600),
        Duration::from_secs(3600),
    )
    .await;
    // Assert: both published; tokens still signed by the old key.
    let kids = kids(&jwks(&app).await);
    assert!(
        kids.contains(&old_kid) && kids.contains(&new_kid),
        "{kids:?}"
    );
    let token = issue_token(&app).await;
    assert_eq!(
        kid_of(&token),
        old_kid,
        "signed with the next key before its active_from"
    );
    verify_with_jwks(&app, &token).await;
}

#[tokio::test]
async fn token_is_signed_by_the_new_key_when_its_active_from_has_passed() {
    // Arrange
    let app = spawn_app().await;
    let old_kid = kid_of(&issue_token(&app).await);
    let new_kid = rotate(
        &app,
        SigningAlg::ES256,
        Duration::from_secs(2),
        Duration::from_secs(3600),
    )
    .await;
    let before = issue_token(&app).await;
    assert_eq!(kid_of(&before), old_kid);
    // Act
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let after = issue_token(&app).await;
    // Assert: the switch needs no reload; both tokens verify from the JWKS.
    assert_eq!(kid_of(&after), new_kid);
    verify_with_jwks(&app, &before).await;
    verify_with_jwks(&app, &after).await;
}

#[tokio::test]
async fn jwks_keeps_the_old_key_when_tokens_it_signed_may_still_be_live() {
    // Arrange
    let app = spawn_app().await;
    let old_token = issue_token(&app).await;
    // Act: rotate to a key that signs at once.
    let new_kid = rotate(
        &app,
        SigningAlg::ES256,
        Duration::ZERO,
        Duration::from_secs(3600),
    )
    .await;
    // Assert: the old token still verifies, from the JWKS and by Latch itself.
    let claims = verify_with_jwks(&app, &old_token).await;
    assert!(claims["jti"].is_string());
    app.state
        .signer
        .verify_access(&old_token, &app.settings.issuer, &app.settings.audience)
        .expect("Latch still accepts tokens signed by the retired key");
    let new_token = issue_token(&app).await;
    assert_eq!(kid_of(&new_token), new_kid);
    verify_with_jwks(&app, &new_token).await;
}

#[tokio::test]
async fn jwks_drops_the_old_key_when_its_keep_period_has_passed() {
    // Arrange
    let app = spawn_app().await;
    let old_kid = kid_of(&issue_token(&app).await);
    let new_kid = rotate(
        &app,
        SigningAlg::ES256,
        Duration::ZERO,
        Duration::from_secs(1),
    )
    .await;
    assert!(
        kids(&jwks(&app).await).contains(&old_kid),
        "dropped too early"
    );
    // Act
    tokio::time::sleep(Duration::from_millis(1500)).await;
    app.state.signer.reload().await.expect("reload");
    // Assert
    let kids = kids(&jwks(&app).await);
    assert!(
        !kids.contains(&old_kid),
        "{old_kid} still published: {kids:?}"
    );
    assert!(kids.contains(&new_kid), "{kids:?}");
}

// ---------------------------------------------------------------------------------------------
// Algorithms

async fn assert_signs_with(alg: SigningAlg, kty: &str) {
    // Arrange
    let app = spawn_app_with(|s| s.signing_alg = alg).await;
    // Act
    let token = issue_token(&app).await;
    // Assert
    let header = header_of(&token);
    assert_eq!(format!("{:?}", header.alg), alg.as_str());
    let set = jwks(&app).await;
    assert_public_only(&set);
    let key = set["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == header.kid.clone().unwrap().as_str())
        .unwrap_or_else(|| panic!("kid not in {set}"))
        .clone();
    assert_eq!(key["kty"], kty);
    assert_eq!(key["alg"], alg.as_str());
    verify_with_jwks(&app, &token).await;
}

#[tokio::test]
async fn token_is_signed_with_es256_when_no_algorithm_is_configured() {
    assert_signs_with(SigningAlg::ES256, "EC").await;
}

#[tokio::test]
async fn token_is_signed_with_rs256_when_rs256_is_configured() {
    assert_signs_with(SigningAlg::RS256, "RSA").await;
}

#[tokio::test]
async fn token_is_signed_with_eddsa_when_eddsa_is_configured() {
    assert_signs_with(SigningAlg::EdDSA, "OKP").await;
}

#[tokio::test]
async fn jwks_publishes_no_key_when_hs256_is_configured() {
    // Arrange
    let app = spawn_app_with(|s| s.signing_alg = SigningAlg::HS256).await;
    // Act
    let token = issue_token(&app).await;
    let set = jwks(&app).await;
    // Assert: the shared secret never appears; Latch itself still verifies.
    let header = header_of(&token);
    assert_eq!(header.alg, jsonwebtoken::Algorithm::HS256);
    assert!(
        !kids(&set).contains(&header.kid.expect("kid")),
        "the HS256 key is in {set}"
    );
    assert_public_only(&set);
    for key in set["keys"].as_array().unwrap() {
        assert_ne!(key["kty"], "oct", "{key}");
        assert_ne!(key["alg"], "HS256", "{key}");
    }
    app.state
        .signer
        .verify_access(&token, &app.settings.issuer, &app.settings.audience)
        .expect("HS256 token verifies with the shared secret");
}
