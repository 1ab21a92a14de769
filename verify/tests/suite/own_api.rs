//! A verifier built for an API of the operator's own (DESIGN.md "Your own APIs"): `aud`
//! must contain the API identifier, scope queries, restricted keys, RFC 9728 metadata.

use latch_verify::{
    Error, InvalidToken, ResourceMetadata, TokenKind, Verifier, VerifyError, well_known_url,
};
use serde_json::json;

use crate::common::*;

const BILLING: &str = "https://billing.example.com";
const FILES: &str = "https://files.example.com";

fn refused(r: Result<latch_verify::Claims, VerifyError>) -> InvalidToken {
    match r {
        Err(VerifyError::InvalidToken(reason)) => reason,
        other => panic!("expected invalid_token, got {other:?}"),
    }
}

/// A Billing API token as Latch issues it for `aud` and `scope`.
fn billing_claims(mock: &MockAs, aud: serde_json::Value, scope: &str) -> serde_json::Value {
    with(
        &with(&claims(&mock.issuer), "aud", aud),
        "scope",
        json!(scope),
    )
}

#[tokio::test]
async fn aud_may_be_the_api_identifier_or_an_array_containing_it() {
    // Arrange
    let k = TestKey::es256("k1");
    let mock = MockAs::start(&[&k]).await;
    let v = Verifier::builder(&mock.issuer)
        .api_identifier(BILLING)
        .discover()
        .await
        .unwrap();

    // Act + Assert: a string (one API) and an array (several, RFC 7519 §4.1.3).
    let one = v
        .verify(&k.token(&billing_claims(&mock, json!(BILLING), "invoices:read")))
        .await
        .expect("aud string");
    assert_eq!(one.scopes, ["invoices:read"]);
    let several = v
        .verify(&k.token(&billing_claims(
            &mock,
            json!([FILES, BILLING]),
            "files:read invoices:read",
        )))
        .await
        .expect("aud array containing the identifier");
    assert_eq!(several.raw["aud"], json!([FILES, BILLING]));
    assert_eq!(v.api_identifier(), BILLING);
    assert_eq!(v.audience(), BILLING);
}

/// J5: `aud` not containing this resource server.
#[tokio::test]
async fn a_token_for_another_api_is_invalid_token() {
    // Arrange
    let k = TestKey::es256("k1");
    let mock = MockAs::start(&[&k]).await;
    let v = Verifier::discover_for_api(&mock.issuer, BILLING)
        .await
        .unwrap();

    // Act + Assert: another API, the built-in one (the issuer), an array without us, a
    // near miss, and malformed values.
    for aud in [
        json!(FILES),
        json!(mock.issuer),
        json!([FILES, mock.issuer]),
        json!("https://billing.example.com/"),
        json!([]),
    ] {
        let r = v
            .verify(&k.token(&billing_claims(&mock, aud.clone(), "invoices:read")))
            .await;
        let e = r.clone().unwrap_err();
        assert_eq!(refused(r), InvalidToken::WrongAudience, "aud {aud}");
        assert_eq!(e.status(), 401);
        assert_eq!(
            e.www_authenticate(),
            r#"Bearer error="invalid_token", error_description="The access token's audience (aud) does not include this API""#
        );
    }
    for aud in [json!(42), json!([BILLING, 42]), json!({"a": BILLING})] {
        assert_eq!(
            refused(
                v.verify(&k.token(&billing_claims(&mock, aud.clone(), "invoices:read")))
                    .await
            ),
            InvalidToken::MissingClaim("aud"),
            "aud {aud}"
        );
    }
}

#[tokio::test]
async fn the_default_audience_stays_the_issuer() {
    let k = TestKey::es256("k1");
    let mock = MockAs::start(&[&k]).await;
    let v = Verifier::discover(&mock.issuer).await.unwrap();
    assert_eq!(v.api_identifier(), mock.issuer);
    v.verify(&k.token(&claims(&mock.issuer))).await.unwrap();
    assert_eq!(
        refused(
            v.verify(&k.token(&billing_claims(&mock, json!(BILLING), "read")))
                .await
        ),
        InvalidToken::WrongAudience
    );
}

#[tokio::test]
async fn an_api_identifier_must_be_an_absolute_uri_without_fragment() {
    let mock = MockAs::start(&[&TestKey::es256("k1")]).await;
    for bad in [
        "billing",
        "/billing",
        "https://billing.example.com/#top",
        "",
    ] {
        let r = Verifier::builder(&mock.issuer)
            .api_identifier(bad)
            .discover()
            .await;
        assert!(matches!(r, Err(Error::Config(_))), "{bad:?}: {r:?}");
    }
    // `audience` keeps taking any non-empty value, as before.
    Verifier::builder(&mock.issuer)
        .audience("billing")
        .discover()
        .await
        .unwrap();
}

#[tokio::test]
async fn scope_queries_any_and_all() {
    // Arrange
    let k = TestKey::es256("k1");
    let mock = MockAs::start(&[&k]).await;
    let v = Verifier::discover_for_api(&mock.issuer, BILLING)
        .await
        .unwrap();
    let c = v
        .verify(&k.token(&billing_claims(&mock, json!(BILLING), "invoices:read")))
        .await
        .unwrap();

    // Act + Assert
    assert!(c.has_all_scopes(&["invoices:read"]));
    assert!(!c.has_all_scopes(&["invoices:read", "invoices:write"]));
    assert!(c.has_any_scope(&["invoices:write", "invoices:read"]));
    assert!(!c.has_any_scope(&["invoices:write"]));
    assert!(
        c.require_any_scope(&["invoices:read", "invoices:write"])
            .is_ok()
    );
    let e = c
        .require_all_scopes(&["invoices:read", "invoices:write"])
        .unwrap_err();
    assert_eq!(e.status(), 403);
    assert_eq!(
        e.www_authenticate(),
        r#"Bearer error="insufficient_scope", error_description="The access token lacks a scope this request requires", scope="invoices:read invoices:write""#
    );
    assert_eq!(
        c.require_any_scope(&["invoices:write", "admin"])
            .unwrap_err()
            .error_code(),
        Some("insufficient_scope")
    );
}

#[tokio::test]
async fn restricted_and_secret_keys_are_introspected_and_scoped() {
    // Arrange: a restricted key holding only `invoices:read`, a secret key with more.
    let mock = MockAs::start(&[&TestKey::es256("k1")]).await;
    let v = Verifier::builder(&mock.issuer)
        .api_identifier(BILLING)
        .introspection("rs", "secret")
        .discover()
        .await
        .unwrap();
    let rk = "rk_test_51HqLyjWDarjtT1zdp7dcAbCdEf";
    let sk = "sk_live_51HqLyjWDarjtT1zdp7dcAbCdEf";
    let answer = |scope: &str, livemode: bool| {
        json!({"active": true, "scope": scope, "sub": "user_9", "token_type": "api_key",
               "livemode": livemode, "iss": mock.issuer, "metadata": {"team": "billing"}})
    };
    mock.answer(rk, answer("invoices:read", false));
    mock.answer(sk, answer("read write invoices:read invoices:write", true));

    // Act
    let r = v.verify(rk).await.expect("restricted key");
    let s = v.verify(sk).await.expect("secret key");

    // Assert: the same scope helpers as for tokens.
    assert_eq!(r.kind, TokenKind::ApiKey);
    assert_eq!(mock.introspect_hits(), 2, "rk_ keys go to introspection");
    assert!(r.has_all_scopes(&["invoices:read"]));
    assert!(!r.has_any_scope(&["invoices:write", "read"]));
    assert_eq!(
        r.require_all_scopes(&["invoices:write"])
            .unwrap_err()
            .status(),
        403
    );
    assert!(s.has_all_scopes(&["invoices:read", "invoices:write"]));
    assert!(s.livemode);
    assert_eq!(r.raw["metadata"]["team"], "billing");

    // A key whose introspection names audiences must name ours (RFC 7662 §2.2).
    let scoped = "rk_live_aaaaaaaaaaaaaaaaaaaaaaaa";
    let mut a = answer("files:read", true);
    a["aud"] = json!([FILES]);
    mock.answer(scoped, a.clone());
    assert_eq!(refused(v.verify(scoped).await), InvalidToken::WrongAudience);
    let ours = "rk_live_bbbbbbbbbbbbbbbbbbbbbbbb";
    a["aud"] = json!([FILES, BILLING]);
    mock.answer(ours, a);
    v.verify(ours).await.expect("aud containing ours");

    // Without introspection credentials restricted keys are refused like secret keys.
    let no_keys = Verifier::discover_for_api(&mock.issuer, BILLING)
        .await
        .unwrap();
    assert_eq!(
        refused(no_keys.verify(rk).await),
        InvalidToken::ApiKeysNotAccepted
    );
}

#[tokio::test]
async fn the_metadata_document_names_the_api_and_latch() {
    // Arrange
    let mock = MockAs::start(&[&TestKey::es256("k1")]).await;
    let url = well_known_url(BILLING).unwrap();
    let v = Verifier::builder(&mock.issuer)
        .api_identifier(BILLING)
        .resource_metadata_url(&url)
        .discover()
        .await
        .unwrap();

    // Act
    let bare = v.resource_metadata();
    let full = v
        .resource_metadata()
        .scopes_supported(["invoices:read", "invoices:write"])
        .resource_name("Billing API");

    // Assert (RFC 9728 §2)
    assert_eq!(
        url,
        "https://billing.example.com/.well-known/oauth-protected-resource"
    );
    assert_eq!(v.resource_metadata_url(), Some(url.as_str()));
    assert_eq!(
        bare.to_json(),
        json!({"resource": BILLING, "authorization_servers": [mock.issuer],
               "bearer_methods_supported": ["header"]})
    );
    assert_eq!(
        full.to_json(),
        json!({"resource": BILLING, "authorization_servers": [mock.issuer],
               "bearer_methods_supported": ["header"],
               "scopes_supported": ["invoices:read", "invoices:write"],
               "resource_name": "Billing API"})
    );
    assert_eq!(bare.well_known_url().as_deref(), Some(url.as_str()));
    assert_eq!(
        full.well_known_path(),
        "/.well-known/oauth-protected-resource"
    );
    assert_eq!(
        ResourceMetadata::new("https://api.example.com/billing", &mock.issuer).well_known_path(),
        "/.well-known/oauth-protected-resource/billing"
    );

    // Challenges made through the verifier point at the document (RFC 9728 §5.1).
    assert_eq!(
        v.www_authenticate(&VerifyError::MissingToken),
        format!("Bearer resource_metadata=\"{url}\"")
    );
    let expired = VerifyError::InvalidToken(InvalidToken::Expired);
    assert_eq!(
        v.www_authenticate(&expired),
        format!(
            "Bearer error=\"invalid_token\", error_description=\"The access token expired\", resource_metadata=\"{url}\""
        )
    );
    // Not configured: no parameter.
    let plain = Verifier::discover_for_api(&mock.issuer, BILLING)
        .await
        .unwrap();
    assert_eq!(plain.www_authenticate(&VerifyError::MissingToken), "Bearer");
}
