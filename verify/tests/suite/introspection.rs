//! API keys through introspection (RFC 7662) and its cache.

use std::time::Duration;

use base64::Engine;
use latch_verify::{InvalidToken, TokenKind, Verifier, VerifyError};
use serde_json::json;

use crate::common::*;

const KEY: &str = "sk_test_4eC39HqLyjWDarjtT1zdp7dcAbCdEf";

async fn setup(ttl: Duration) -> (MockAs, Verifier) {
    let k = TestKey::es256("k1");
    let mock = MockAs::start(&[&k]).await;
    let v = Verifier::builder(&mock.issuer)
        .introspection("rs:client 1", "s3cr%t+/")
        .introspection_cache_ttl(ttl)
        .discover()
        .await
        .unwrap();
    (mock, v)
}

fn active(mock: &MockAs) -> serde_json::Value {
    json!({"active": true, "scope": "read write", "sub": "user_42", "token_type": "api_key",
           "livemode": false, "iat": now() - 10, "iss": mock.issuer})
}

#[tokio::test]
async fn an_active_api_key_maps_to_claims() {
    // Arrange
    let (mock, v) = setup(Duration::from_secs(5)).await;
    mock.answer(KEY, active(&mock));

    // Act
    let c = v.verify(KEY).await.expect("active key");

    // Assert
    assert_eq!(c.sub, "user_42");
    assert_eq!(c.scopes, ["read", "write"]);
    assert!(!c.livemode);
    assert_eq!(c.client_id, None, "API keys have no client_id");
    assert_eq!(c.jti, None);
    assert_eq!(c.exp, None);
    assert_eq!(c.kind, TokenKind::ApiKey);
    assert!(c.require_scopes(&["write"]).is_ok());
    assert_eq!(c.require_scopes(&["admin"]).unwrap_err().status(), 403);

    // The request: HTTP Basic with each credential form-urlencoded first (RFC 6749
    // §2.3.1), and the key in a form body, not the URL.
    let (auth, body) = mock
        .state
        .last_introspection
        .lock()
        .unwrap()
        .clone()
        .unwrap();
    let b64 = auth.strip_prefix("Basic ").expect("Basic auth");
    let pair = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .unwrap();
    assert_eq!(
        String::from_utf8(pair).unwrap(),
        "rs%3Aclient+1:s3cr%25t%2B%2F"
    );
    assert_eq!(body, format!("token={KEY}"));
}

#[tokio::test]
async fn live_keys_client_id_and_expiry_are_passed_through() {
    let (mock, v) = setup(Duration::from_secs(5)).await;
    let exp = now() + 3600;
    let live = "sk_live_abc";
    let mut a = active(&mock);
    a["livemode"] = json!(true);
    a["client_id"] = json!("client_9");
    a["exp"] = json!(exp);
    mock.answer(live, a);
    let c = v.verify(live).await.unwrap();
    assert!(c.livemode);
    assert_eq!(c.client_id.as_deref(), Some("client_9"));
    assert_eq!(c.exp, Some(exp));
}

#[tokio::test]
async fn an_inactive_key_is_invalid_token() {
    let (mock, v) = setup(Duration::from_secs(5)).await;
    let err = v.verify("sk_live_revoked").await.unwrap_err();
    assert_eq!(err, VerifyError::InvalidToken(InvalidToken::Inactive));
    assert_eq!(err.status(), 401);
    assert_eq!(
        err.www_authenticate(),
        r#"Bearer error="invalid_token", error_description="The token is not active""#
    );
    assert_eq!(mock.introspect_hits(), 1);
    // Answers that claim another issuer or token type are not trusted either.
    let mut a = active(&mock);
    a["iss"] = json!("https://evil.example");
    mock.answer("sk_test_a", a);
    let mut b = active(&mock);
    b["token_type"] = json!("refresh_token");
    mock.answer("sk_test_b", b);
    let mut c = active(&mock);
    c["exp"] = json!(now() - 1);
    mock.answer("sk_test_c", c);
    for k in ["sk_test_a", "sk_test_b", "sk_test_c"] {
        assert_eq!(v.verify(k).await.unwrap_err().status(), 401, "{k}");
    }
}

#[tokio::test]
async fn answers_are_cached_for_the_ttl_only() {
    // Arrange
    let (mock, v) = setup(Duration::from_secs(1)).await;
    mock.answer(KEY, active(&mock));

    // Act + Assert: the second call within the TTL is answered from the cache…
    v.verify(KEY).await.unwrap();
    v.verify(KEY).await.unwrap();
    assert_eq!(mock.introspect_hits(), 1);
    // …inactive answers too…
    v.verify("sk_test_unknown").await.unwrap_err();
    v.verify("sk_test_unknown").await.unwrap_err();
    assert_eq!(mock.introspect_hits(), 2);
    // …and after the TTL the endpoint is asked again, seeing a revocation.
    mock.answer(KEY, json!({"active": false}));
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let err = v.verify(KEY).await.unwrap_err();
    assert_eq!(err, VerifyError::InvalidToken(InvalidToken::Inactive));
    assert_eq!(mock.introspect_hits(), 3);
}

#[tokio::test]
async fn the_default_ttl_caches_and_zero_disables_the_cache() {
    let k = TestKey::es256("k1");
    let mock = MockAs::start(&[&k]).await;
    mock.answer(KEY, active(&mock));
    let v = Verifier::builder(&mock.issuer)
        .introspection("rs", "secret")
        .discover()
        .await
        .unwrap();
    for _ in 0..3 {
        v.verify(KEY).await.unwrap();
    }
    assert_eq!(mock.introspect_hits(), 1, "default TTL is 5 s");
    let uncached = Verifier::builder(&mock.issuer)
        .introspection("rs", "secret")
        .introspection_cache_ttl(Duration::ZERO)
        .discover()
        .await
        .unwrap();
    uncached.verify(KEY).await.unwrap();
    uncached.verify(KEY).await.unwrap();
    assert_eq!(mock.introspect_hits(), 3);
}

#[tokio::test]
async fn endpoint_failures_are_unavailable_and_not_cached() {
    let (mock, v) = setup(Duration::from_secs(5)).await;
    mock.answer(KEY, active(&mock));
    *mock.state.introspect_status.lock().unwrap() = Some(500);
    let err = v.verify(KEY).await.unwrap_err();
    assert!(matches!(err, VerifyError::Unavailable(_)), "{err:?}");
    assert_eq!(err.status(), 503);
    // Our credentials refused: a configuration problem, not the caller's.
    *mock.state.introspect_status.lock().unwrap() = Some(401);
    assert_eq!(v.verify(KEY).await.unwrap_err().status(), 503);
    *mock.state.introspect_status.lock().unwrap() = None;
    v.verify(KEY).await.expect("the failure was not cached");
    assert_eq!(mock.introspect_hits(), 3);
}

#[tokio::test]
async fn without_credentials_api_keys_are_refused_without_a_request() {
    let k = TestKey::es256("k1");
    let mock = MockAs::start(&[&k]).await;
    let v = Verifier::discover(&mock.issuer).await.unwrap();
    let err = v.verify(KEY).await.unwrap_err();
    assert_eq!(
        err,
        VerifyError::InvalidToken(InvalidToken::ApiKeysNotAccepted)
    );
    assert_eq!(mock.introspect_hits(), 0);
}

#[tokio::test]
async fn jwts_are_never_sent_to_introspection() {
    let k = TestKey::es256("k1");
    let mock = MockAs::start(&[&k]).await;
    let v = Verifier::builder(&mock.issuer)
        .introspection("rs", "secret")
        .discover()
        .await
        .unwrap();
    v.verify(&k.token(&claims(&mock.issuer))).await.unwrap();
    v.verify("not-a-jwt").await.unwrap_err();
    assert_eq!(mock.introspect_hits(), 0);
}
