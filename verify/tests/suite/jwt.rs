//! JWT access tokens: every row of SECURITY.md 1d, plus key rotation and JWKS refresh.

use std::time::Duration;

use latch_verify::{Claims, InvalidToken, TokenKind, Verifier, VerifyError};
use serde_json::{Value, json};

use crate::common::*;

async fn setup(keys: &[&TestKey]) -> (MockAs, Verifier) {
    let mock = MockAs::start(keys).await;
    let v = Verifier::discover(&mock.issuer).await.expect("discover");
    (mock, v)
}

/// The reason a token was refused, checking it maps to a 401 `invalid_token`.
#[track_caller]
fn refused(r: Result<Claims, VerifyError>) -> InvalidToken {
    match r {
        Err(VerifyError::InvalidToken(reason)) => {
            let e = VerifyError::InvalidToken(reason);
            assert_eq!(e.status(), 401);
            assert!(
                e.www_authenticate()
                    .starts_with("Bearer error=\"invalid_token\", error_description=\""),
                "{}",
                e.www_authenticate()
            );
            reason
        }
        other => panic!("expected invalid_token, got {other:?}"),
    }
}

#[tokio::test]
async fn good_tokens_verify_for_es256_eddsa_and_rs256() {
    // Arrange
    let (es, ed, rs) = (
        TestKey::es256("k-es"),
        TestKey::eddsa("k-ed"),
        TestKey::rs256("k-rs"),
    );
    let (mock, v) = setup(&[&es, &ed, &rs]).await;
    for key in [&es, &ed, &rs] {
        // Act
        let c = v
            .verify(&key.token(&claims(&mock.issuer)))
            .await
            .expect(key.alg);
        // Assert
        assert_eq!(c.sub, "user_123");
        assert_eq!(c.client_id.as_deref(), Some("client_1"));
        assert_eq!(c.scopes, ["read", "write"]);
        assert!(!c.livemode);
        assert_eq!(c.jti.as_deref(), Some("jti_1"));
        assert_eq!(c.kind, TokenKind::AccessToken);
        assert!(c.has_scope("write") && c.require_scopes(&["read"]).is_ok());
        assert_eq!(c.raw["iss"], mock.issuer.as_str());
    }
    assert_eq!(
        mock.jwks_hits(),
        1,
        "keys come from the cache after discover"
    );
}

#[tokio::test]
async fn j1_alg_none_and_empty_signatures_are_refused() {
    let k = TestKey::es256("k1");
    let (mock, v) = setup(&[&k]).await;
    let c = claims(&mock.issuer);
    let unsigned = |alg: &str| {
        let h = json!({"alg": alg, "kid": "k1", "typ": "at+jwt"});
        format!(
            "{}.{}.",
            b64(h.to_string().as_bytes()),
            b64(c.to_string().as_bytes())
        )
    };
    for alg in ["none", "None", "NONE", ""] {
        assert_eq!(
            refused(v.verify(&unsigned(alg)).await),
            InvalidToken::AlgorithmMismatch
        );
    }
    // The key's own algorithm with the signature stripped.
    assert_eq!(
        refused(v.verify(&unsigned("ES256")).await),
        InvalidToken::BadSignature
    );
    assert_eq!(mock.jwks_hits(), 1, "no refetch for alg none");
}

#[tokio::test]
async fn j2_hs256_signed_with_the_public_key_is_refused() {
    let (es, rs) = (TestKey::es256("k-es"), TestKey::rs256("k-rs"));
    let (mock, v) = setup(&[&es, &rs]).await;
    let c = claims(&mock.issuer);
    for key in [&es, &rs] {
        // The public key in every form an attacker might feed an HMAC: raw bytes, the JWK
        // JSON, and the JWK's x/n member.
        let member = key
            .jwk
            .get("x")
            .or(key.jwk.get("n"))
            .unwrap()
            .as_str()
            .unwrap();
        for secret in [
            key.public_bytes.clone(),
            key.jwk.to_string().into_bytes(),
            member.as_bytes().to_vec(),
        ] {
            for alg in ["HS256", "HS384", "HS512"] {
                let forger = TestKey::hs256(&key.kid, &secret);
                let h = json!({"alg": alg, "kid": key.kid, "typ": "at+jwt"});
                let token = forger.sign(&h, &c);
                assert_eq!(
                    refused(v.verify(&token).await),
                    InvalidToken::AlgorithmMismatch
                );
            }
        }
    }
}

#[tokio::test]
async fn the_header_alg_must_equal_the_keys_pinned_algorithm() {
    // An RSA key is pinned to RS256 (derived), so PS256 or RS512 in the header is refused
    // even though the same key could mathematically produce them.
    let (ed, rs) = (TestKey::eddsa("k-ed"), TestKey::rs256("k-rs"));
    let (mock, v) = setup(&[&ed, &rs]).await;
    let c = claims(&mock.issuer);
    for (key, alg) in [
        (&rs, "PS256"),
        (&rs, "RS512"),
        (&rs, "ES256"),
        (&ed, "ES256"),
    ] {
        let h = json!({"alg": alg, "kid": key.kid, "typ": "at+jwt"});
        assert_eq!(
            refused(v.verify(&key.sign(&h, &c)).await),
            InvalidToken::AlgorithmMismatch
        );
    }
}

#[tokio::test]
async fn j3_unknown_kids_cause_at_most_one_refetch_per_interval() {
    // Arrange
    let k = TestKey::es256("k1");
    let (mock, v) = setup(&[&k]).await;
    let c = claims(&mock.issuer);
    let other = |kid: &str| k.sign(&json!({"alg":"ES256","kid":kid,"typ":"at+jwt"}), &c);
    assert_eq!(mock.jwks_hits(), 1);

    // Act: the first unknown kid refetches once; a second one within the interval doesn't.
    assert_eq!(
        refused(v.verify(&other("nope-1")).await),
        InvalidToken::UnknownKey
    );
    assert_eq!(mock.jwks_hits(), 2);
    assert_eq!(
        refused(v.verify(&other("nope-2")).await),
        InvalidToken::UnknownKey
    );
    assert_eq!(mock.jwks_hits(), 2);

    // Concurrent unknown kids don't stampede either.
    let tokens: Vec<String> = (0..16).map(|i| other(&format!("many-{i}"))).collect();
    let results = futures_join(&v, &tokens).await;
    assert!(results.iter().all(|r| r.is_err()));
    assert_eq!(mock.jwks_hits(), 2);

    // The known key still works without fetching.
    v.verify(&k.token(&c)).await.unwrap();
    assert_eq!(mock.jwks_hits(), 2);
}

async fn futures_join(v: &Verifier, tokens: &[String]) -> Vec<Result<Claims, VerifyError>> {
    let handles: Vec<_> = tokens
        .iter()
        .map(|t| {
            let (v, t) = (v.clone(), t.clone());
            tokio::spawn(async move { v.verify(&t).await })
        })
        .collect();
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}

#[tokio::test]
async fn j3_concurrent_unknown_kids_fetch_once_even_on_first_miss() {
    let k = TestKey::es256("k1");
    let (mock, v) = setup(&[&k]).await;
    let c = claims(&mock.issuer);
    let tokens: Vec<String> = (0..16)
        .map(|i| {
            k.sign(
                &json!({"alg":"ES256","kid":format!("x{i}"),"typ":"at+jwt"}),
                &c,
            )
        })
        .collect();
    futures_join(&v, &tokens).await;
    assert_eq!(mock.jwks_hits(), 2, "discover + exactly one refetch");
}

#[tokio::test]
async fn key_rotation_a_new_kid_is_found_by_refetch_and_the_interval_is_honoured() {
    // Arrange
    let (old, new, newer) = (
        TestKey::es256("old"),
        TestKey::eddsa("new"),
        TestKey::rs256("newer"),
    );
    let mock = MockAs::start(&[&old]).await;
    let v = Verifier::builder(&mock.issuer)
        .jwks_refresh_min_interval(Duration::from_secs(1))
        .discover()
        .await
        .unwrap();
    let c = claims(&mock.issuer);

    // Act: the issuer publishes a new key and signs with it.
    mock.set_keys(&[&old, &new]);
    let claims_new = v
        .verify(&new.token(&c))
        .await
        .expect("new kid found by refetch");

    // Assert
    assert_eq!(claims_new.sub, "user_123");
    assert_eq!(mock.jwks_hits(), 2);
    v.verify(&old.token(&c))
        .await
        .expect("old key still published");

    // A further rotation right away is not fetched (rate limit)…
    mock.set_keys(&[&old, &new, &newer]);
    assert_eq!(
        refused(v.verify(&newer.token(&c)).await),
        InvalidToken::UnknownKey
    );
    assert_eq!(mock.jwks_hits(), 2);
    // …but once the interval has passed it is.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    v.verify(&newer.token(&c))
        .await
        .expect("refetched after the interval");
    assert_eq!(mock.jwks_hits(), 3);
}

#[tokio::test]
async fn a_stale_jwks_is_refreshed_and_withdrawn_keys_stop_working() {
    let (a, b) = (TestKey::es256("a"), TestKey::es256("b"));
    let mock = MockAs::start(&[&a, &b]).await;
    let v = Verifier::builder(&mock.issuer)
        .jwks_max_age(Duration::from_millis(200))
        .jwks_refresh_min_interval(Duration::from_secs(5))
        .discover()
        .await
        .unwrap();
    let c = claims(&mock.issuer);
    v.verify(&a.token(&c)).await.unwrap();
    mock.set_keys(&[&b]);
    tokio::time::sleep(Duration::from_millis(250)).await;
    // The stale cache is refreshed first, so `a` is found unknown; its refetch is then
    // rate-limited, and no third fetch happens.
    assert_eq!(
        refused(v.verify(&a.token(&c)).await),
        InvalidToken::UnknownKey
    );
    assert_eq!(mock.jwks_hits(), 2);
    v.verify(&b.token(&c)).await.unwrap();
}

#[tokio::test]
async fn j3_a_token_without_kid_is_refused() {
    // With several keys it would be ambiguous; Latch always sends a kid, so a missing kid
    // is refused even with a single key.
    let (k1, k2) = (TestKey::es256("k1"), TestKey::es256("k2"));
    for keys in [vec![&k1, &k2], vec![&k1]] {
        let (mock, v) = setup(&keys).await;
        let token = k1.sign(
            &json!({"alg":"ES256","typ":"at+jwt"}),
            &claims(&mock.issuer),
        );
        assert_eq!(refused(v.verify(&token).await), InvalidToken::MissingKeyId);
        assert_eq!(mock.jwks_hits(), 1);
    }
}

#[tokio::test]
async fn j3_header_key_sources_jku_x5u_and_jwk_are_ignored() {
    // Arrange: our key, and an attacker key served at /evil/jwks and embedded in headers.
    let ours = TestKey::es256("ours");
    let attacker = TestKey::es256("attacker");
    let (mock, v) = setup(&[&ours]).await;
    *mock.state.evil_jwks.lock().unwrap() = json!({"keys": [attacker.jwk.clone()]});
    let c = claims(&mock.issuer);
    let evil = mock.url("/evil/jwks");
    let headers = [
        // The attacker's kid, with every header key source pointing at the attacker key.
        json!({"alg":"ES256","kid":"attacker","typ":"at+jwt","jku":evil}),
        json!({"alg":"ES256","kid":"attacker","typ":"at+jwt","x5u":evil}),
        json!({"alg":"ES256","kid":"attacker","typ":"at+jwt","jwk":attacker.jwk}),
        // Our kid, hoping the embedded key is preferred.
        json!({"alg":"ES256","kid":"ours","typ":"at+jwt","jwk":attacker.jwk,"jku":evil}),
        json!({"alg":"ES256","kid":"ours","typ":"at+jwt","x5u":evil}),
    ];
    for h in &headers {
        // Act
        let r = v.verify(&attacker.sign(h, &c)).await;
        // Assert
        let reason = refused(r);
        assert!(
            matches!(
                reason,
                InvalidToken::UnknownKey | InvalidToken::BadSignature
            ),
            "{h}: {reason:?}"
        );
    }
    assert_eq!(
        mock.state
            .evil_hits
            .load(std::sync::atomic::Ordering::SeqCst),
        0
    );
    // Those members don't stop a token our key really signed.
    v.verify(&ours.sign(&headers[3], &c)).await.unwrap();
}

#[tokio::test]
async fn j4_typ_must_be_at_jwt() {
    let k = TestKey::es256("k1");
    let (mock, v) = setup(&[&k]).await;
    let c = claims(&mock.issuer);
    let h = |typ: Value| {
        let mut h = k.header();
        if typ.is_null() {
            h.as_object_mut().unwrap().remove("typ");
        } else {
            h["typ"] = typ;
        }
        h
    };
    for bad in [
        json!("JWT"),
        Value::Null,
        json!("jwt"),
        json!("at+jwt2"),
        json!(1),
        json!(""),
    ] {
        let token = k.sign(&h(bad.clone()), &c);
        assert_eq!(
            refused(v.verify(&token).await),
            InvalidToken::WrongType,
            "typ {bad}"
        );
    }
    // RFC 8725 §3.11: compared case-insensitively, with or without the application/ prefix.
    for good in [
        "at+jwt",
        "AT+JWT",
        "application/at+jwt",
        "Application/AT+JWT",
    ] {
        v.verify(&k.sign(&h(json!(good)), &c)).await.expect(good);
    }
}

#[tokio::test]
async fn j5_wrong_issuer_or_audience_is_refused() {
    let k = TestKey::es256("k1");
    let (mock, v) = setup(&[&k]).await;
    let c = claims(&mock.issuer);
    let t = |claims: Value| k.token(&claims);
    let iss = mock.issuer.clone();
    for bad in [
        json!("https://evil.example"),
        json!(format!("{iss}/")),
        json!(null),
    ] {
        let r = refused(v.verify(&t(with(&c, "iss", bad))).await);
        assert!(matches!(
            r,
            InvalidToken::WrongIssuer | InvalidToken::MissingClaim("iss")
        ));
    }
    for bad in [
        json!("https://api.other"),
        json!(["https://api.other", "x"]),
        json!([]),
    ] {
        assert_eq!(
            refused(v.verify(&t(with(&c, "aud", bad.clone()))).await),
            InvalidToken::WrongAudience,
            "aud {bad}"
        );
    }
    v.verify(&t(with(&c, "aud", json!(["x", iss]))))
        .await
        .expect("array containing ours");

    // A configured audience replaces the default (the issuer).
    let api = Verifier::builder(&mock.issuer)
        .audience("https://api.example")
        .discover()
        .await
        .unwrap();
    assert_eq!(
        refused(api.verify(&t(c.clone())).await),
        InvalidToken::WrongAudience
    );
    api.verify(&t(with(&c, "aud", json!("https://api.example"))))
        .await
        .unwrap();
    api.verify(&t(with(&c, "aud", json!([iss, "https://api.example"]))))
        .await
        .unwrap();
}

#[tokio::test]
async fn j6_exp_nbf_and_iat_are_checked_with_the_leeway() {
    let k = TestKey::es256("k1");
    let (mock, v) = setup(&[&k]).await;
    let c = claims(&mock.issuer);
    let leeway = 30; // the default
    for l in [leeway, 5] {
        let v = if l == leeway {
            v.clone()
        } else {
            Verifier::builder(&mock.issuer)
                .leeway(Duration::from_secs(l as u64))
                .discover()
                .await
                .unwrap()
        };
        fresh_second().await;
        let now = now();
        let t = |name: &str, at: i64| k.token(&with(&c, name, json!(at)));
        assert_eq!(
            refused(v.verify(&t("exp", now - (l + 1))).await),
            InvalidToken::Expired
        );
        v.verify(&t("exp", now - (l - 1)))
            .await
            .expect("expired within the leeway");
        assert_eq!(
            refused(v.verify(&t("nbf", now + l + 1)).await),
            InvalidToken::NotYetValid
        );
        assert_eq!(
            refused(v.verify(&t("iat", now + l + 1)).await),
            InvalidToken::IssuedInFuture
        );
        v.verify(&t("nbf", now + l - 1))
            .await
            .expect("nbf within the leeway");
        v.verify(&t("iat", now + l - 1))
            .await
            .expect("iat within the leeway");
    }
    let e = VerifyError::InvalidToken(InvalidToken::Expired);
    assert!(e.is_expired());
    assert_eq!(
        e.www_authenticate(),
        r#"Bearer error="invalid_token", error_description="The access token expired""#
    );
}

#[tokio::test]
async fn the_builder_refuses_a_leeway_over_sixty_seconds() {
    let k = TestKey::es256("k1");
    let mock = MockAs::start(&[&k]).await;
    let err = Verifier::builder(&mock.issuer)
        .leeway(Duration::from_secs(61))
        .discover()
        .await
        .unwrap_err();
    assert!(matches!(err, latch_verify::Error::Config(_)), "{err}");
    Verifier::builder(&mock.issuer)
        .leeway(Duration::from_secs(60))
        .discover()
        .await
        .expect("60 s is allowed");
}

#[tokio::test]
async fn j7_tampered_truncated_or_padded_tokens_are_refused() {
    let k = TestKey::es256("k1");
    let (mock, v) = setup(&[&k]).await;
    let token = k.token(&claims(&mock.issuer));
    let (input, sig) = token.rsplit_once('.').unwrap();

    // One flipped bit, anywhere in the signature.
    let raw = b64_decode(sig);
    for bit in [0, 7, 8 * raw.len() / 2, 8 * raw.len() - 1] {
        let mut s = raw.clone();
        s[bit / 8] ^= 1 << (bit % 8);
        let t = format!("{input}.{}", b64(&s));
        assert_eq!(
            refused(v.verify(&t).await),
            InvalidToken::BadSignature,
            "bit {bit}"
        );
    }
    // A changed claim with the old signature.
    let (h, _) = input.split_once('.').unwrap();
    let forged = format!(
        "{h}.{}.{sig}",
        b64(with(&claims(&mock.issuer), "sub", json!("admin"))
            .to_string()
            .as_bytes())
    );
    assert_eq!(refused(v.verify(&forged).await), InvalidToken::BadSignature);

    // Two segments, four segments, trailing garbage, padding, whitespace, empty.
    for bad in [
        input.to_owned(),
        format!("{token}.x"),
        format!("{token}."),
        format!("{token}garbage"),
        format!("{token}="),
        format!("{token} "),
        format!(" {token}"),
        format!("{token}\n"),
        String::new(),
        "..".into(),
        "a.b.c".into(),
    ] {
        let r = refused(v.verify(&bad).await);
        assert!(
            matches!(r, InvalidToken::Malformed | InvalidToken::BadSignature),
            "{bad:?}: {r:?}"
        );
    }
    // Far too long.
    let long = format!("{token}{}", "A".repeat(20_000));
    assert_eq!(refused(v.verify(&long).await), InvalidToken::Malformed);
    v.verify(&token).await.expect("the original still verifies");
}

#[tokio::test]
async fn j8_every_required_claim_must_be_present() {
    let k = TestKey::es256("k1");
    let (mock, v) = setup(&[&k]).await;
    let c = claims(&mock.issuer);
    for name in ["iss", "exp", "aud", "sub", "client_id", "iat", "jti"] {
        let token = k.token(&with(&c, name, Value::Null));
        assert_eq!(
            refused(v.verify(&token).await),
            InvalidToken::MissingClaim(name),
            "{name}"
        );
        // Present but of the wrong JSON type counts as missing.
        let token = k.token(&with(&c, name, json!({"x": 1})));
        let r = refused(v.verify(&token).await);
        assert!(
            matches!(
                r,
                InvalidToken::MissingClaim(_) | InvalidToken::WrongAudience
            ),
            "{name}: {r:?}"
        );
    }
    // A claims set that is not an object.
    let token = k.sign(&k.header(), &json!(["iss"]));
    assert_eq!(refused(v.verify(&token).await), InvalidToken::Malformed);
}

#[tokio::test]
async fn crit_headers_are_refused() {
    let k = TestKey::es256("k1");
    let (mock, v) = setup(&[&k]).await;
    let mut h = k.header();
    h["crit"] = json!(["exp"]);
    let token = k.sign(&h, &claims(&mock.issuer));
    assert_eq!(refused(v.verify(&token).await), InvalidToken::Malformed);
}
