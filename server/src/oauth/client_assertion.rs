//! `private_key_jwt` (RFC 7523 §2.2 and §3, OIDC Core §9): the client proves itself with a
//! JWT signed by one of its registered keys, sent as `client_assertion` with
//! `client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer`.
//!
//! Checks, in order: the type; an asymmetric `alg` only ([`jwks::ALGS`]: never `none`,
//! never an HMAC, which would turn the client secret into a signing key); the client is
//! registered for `private_key_jwt`; a key of its JWKS (by `kid`, and the key's own `alg`
//! when it names one) verifies the signature; `iss` = `sub` = the client id (§3 items 1,
//! 2); `aud` names this server's issuer or the URL of the endpoint called (§3 item 3; OIDC
//! Core §9); `exp` present, not past and at most [`MAX_AHEAD_SECS`] ahead (§3 item 4: the
//! server may bound how far, and the shorter it is the less a stolen assertion is worth);
//! `nbf`/`iat` not in the future; `jti` present and not seen before (§3 item 7), recorded
//! in the database until `exp` so no instance accepts it twice.
//!
//! JWT times are on the system clock, like every JWT Latch signs and verifies.

use jsonwebtoken::{Header, Validation};
use serde::Deserialize;

use crate::clients::jwks;
use crate::errors::OAuthError;
use crate::state::AppState;

/// RFC 7523 §2.2.
pub const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// How far ahead `exp` may be (DESIGN.md: 5 minutes).
pub const MAX_AHEAD_SECS: i64 = 300;
/// Clock skew allowed between the client and Latch.
const SKEW_SECS: i64 = 30;
/// Longest assertion read.
const MAX_LEN: usize = 8 * 1024;

fn bad(why: &'static str) -> OAuthError {
    OAuthError::invalid_client(why)
}

#[derive(Deserialize)]
struct Unverified {
    sub: Option<String>,
}

/// Every claim optional here, so a missing one is named rather than read as a bad signature.
#[derive(Deserialize)]
struct Claims {
    #[serde(default)]
    iss: Option<String>,
    #[serde(default)]
    sub: Option<String>,
    #[serde(default)]
    aud: serde_json::Value,
    #[serde(default)]
    exp: Option<i64>,
    #[serde(default)]
    jti: Option<String>,
    #[serde(default)]
    nbf: Option<i64>,
    #[serde(default)]
    iat: Option<i64>,
}

/// What the assertion says before it is verified: its header and the client it names
/// (`sub`), to find the client and its keys. Nothing here is trusted yet.
pub struct Presented<'a> {
    pub assertion: &'a str,
    pub header: Header,
    pub client_id: String,
}

/// Read the assertion's type, header and `sub`; refuse what no key could make valid.
pub fn read<'a>(
    assertion_type: Option<&str>,
    assertion: Option<&'a str>,
) -> Result<Presented<'a>, OAuthError> {
    if assertion_type != Some(ASSERTION_TYPE) {
        return Err(OAuthError::invalid_request(
            "client_assertion_type must be urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        ));
    }
    let assertion = assertion.ok_or_else(|| {
        OAuthError::invalid_request("client_assertion_type was sent without client_assertion")
    })?;
    if assertion.len() > MAX_LEN {
        return Err(bad("The client assertion is too long"));
    }
    // `alg: none` and unknown algorithms do not parse as a header at all.
    let header = jsonwebtoken::decode_header(assertion)
        .map_err(|_| bad("The client assertion is not a signed JWT"))?;
    if !jwks::ALGS.contains(&header.alg) {
        return Err(bad(
            "The client assertion must be signed with an asymmetric algorithm",
        ));
    }
    let claims: Unverified = jsonwebtoken::dangerous::insecure_decode_claims(assertion)
        .map_err(|_| bad("The client assertion is not a signed JWT"))?;
    let client_id = claims
        .sub
        .ok_or_else(|| bad("The client assertion has no sub"))?;
    Ok(Presented {
        assertion,
        header,
        client_id,
    })
}

/// Verify the assertion with the client's keys and check its claims; `Ok(())` only when
/// every check of the module doc passed, the `jti` included (then recorded).
pub async fn verify(
    state: &AppState,
    req: &actix_web::HttpRequest,
    client: &entity::client::Model,
    p: &Presented<'_>,
) -> Result<(), OAuthError> {
    let kid = p.header.kid.as_deref();
    let keys = state
        .client_keys
        .keys(&state.logos, client, kid, state.clock.now())
        .await
        .map_err(|e| {
            tracing::warn!(client_id = %client.id, why = %e.0, "client keys unavailable");
            bad("The client's keys could not be loaded")
        })?;
    let alg = p.header.alg;
    let mut validation = Validation::new(alg);
    validation.required_spec_claims.clear();
    validation.validate_exp = false;
    validation.validate_aud = false;
    let verified = keys
        .iter()
        .filter(|k| kid.is_none() || k.kid.as_deref() == kid)
        .filter(|k| k.alg.is_none_or(|a| a == alg))
        .find_map(|k| jsonwebtoken::decode::<Claims>(p.assertion, &k.key, &validation).ok());
    let Some(verified) = verified else {
        // A signature that does not verify counts towards the lock, like a wrong secret.
        super::client_auth::count_failure(state, req, &client.id).await;
        return Err(bad(
            "The client assertion's signature does not verify with the client's keys",
        ));
    };
    let claims = verified.claims;

    if claims.iss.as_deref() != Some(client.id.as_str())
        || claims.sub.as_deref() != Some(client.id.as_str())
    {
        return Err(bad(
            "The client assertion's iss and sub must be the client_id",
        ));
    }
    let issuer = &state.settings.issuer;
    let endpoint = format!("{issuer}{}", req.path());
    let ours = |v: &serde_json::Value| v.as_str().is_some_and(|a| a == issuer || a == endpoint);
    let aud_ok = match &claims.aud {
        serde_json::Value::Array(v) => v.iter().any(ours),
        v => ours(v),
    };
    if !aud_ok {
        return Err(bad(
            "The client assertion's aud must be the issuer or this endpoint's URL",
        ));
    }
    let now = crate::store::now();
    let t = now.timestamp();
    let Some(exp) = claims.exp else {
        return Err(bad("The client assertion has no exp"));
    };
    if exp <= t - SKEW_SECS {
        return Err(bad("The client assertion has expired"));
    }
    if exp > t + MAX_AHEAD_SECS + SKEW_SECS {
        return Err(bad(
            "The client assertion's exp is more than 5 minutes ahead",
        ));
    }
    if claims.nbf.is_some_and(|n| n > t + SKEW_SECS)
        || claims.iat.is_some_and(|i| i > t + SKEW_SECS)
    {
        return Err(bad("The client assertion is not valid yet"));
    }
    let jti = claims.jti.unwrap_or_default();
    if jti.is_empty() || jti.len() > 256 {
        return Err(bad(
            "The client assertion needs a jti of at most 256 characters",
        ));
    }
    let expires = chrono::DateTime::from_timestamp(exp.max(t), 0).unwrap_or(now)
        + chrono::TimeDelta::seconds(SKEW_SECS);
    let id = crate::crypto::sha256_hex(&format!("{}\n{}", client.id, jti));
    if !crate::store::client_assertions::remember(&state.db, &id, &client.id, expires, now).await? {
        return Err(bad("The client assertion was already used (jti)"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use proptest::prelude::*;

    fn b64(v: &serde_json::Value) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    }

    #[test]
    fn none_and_hmac_are_refused_before_any_key_is_looked_at() {
        let claims = b64(&serde_json::json!({"sub": "cl_a"}));
        for alg in ["none", "HS256", "HS384", "HS512", "ES512", ""] {
            let jwt = format!("{}.{claims}.c2ln", b64(&serde_json::json!({"alg": alg})));
            assert!(read(Some(ASSERTION_TYPE), Some(&jwt)).is_err(), "{alg}");
        }
        let ok = format!(
            "{}.{claims}.c2ln",
            b64(&serde_json::json!({"alg": "ES256"}))
        );
        assert_eq!(
            read(Some(ASSERTION_TYPE), Some(&ok)).unwrap().client_id,
            "cl_a"
        );
        assert!(read(Some("urn:other"), Some(&ok)).is_err());
        assert!(read(None, Some(&ok)).is_err());
        assert!(read(Some(ASSERTION_TYPE), None).is_err());
    }

    proptest! {
        #![proptest_config(hostile_config!())]

        /// Arbitrary assertions never panic; what is read names an asymmetric algorithm.
        #[test]
        fn prop_arbitrary_assertions_never_panic(s in "\\PC{0,300}|[A-Za-z0-9_.-]{0,300}") {
            if let Ok(p) = read(Some(ASSERTION_TYPE), Some(&s)) {
                prop_assert!(jwks::ALGS.contains(&p.header.alg));
            }
        }

        /// Arbitrary JSON header and claims parts never panic.
        #[test]
        fn prop_arbitrary_json_parts_never_panic(
            alg in prop::sample::select(vec!["ES256", "EdDSA", "RS256", "none", "HS256", "x"]),
            kid in prop::option::of("\\PC{0,20}"),
            sub in prop::option::of(any::<String>()),
            sig in "[A-Za-z0-9_-]{0,90}",
        ) {
            let header = serde_json::json!({"alg": alg, "kid": kid});
            let claims = serde_json::json!({"sub": sub});
            let jwt = format!("{}.{}.{sig}", b64(&header), b64(&claims));
            let r = read(Some(ASSERTION_TYPE), Some(&jwt));
            if alg == "none" || alg == "HS256" || alg == "x" || sub.is_none() {
                prop_assert!(r.is_err());
            }
        }
    }
}
