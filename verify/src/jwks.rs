//! The issuer's public keys, each pinned to exactly one algorithm (RFC 8725 §3.1).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::Value;

use crate::error::Error;

/// A public key and the only algorithm it may verify.
pub(crate) struct PinnedKey {
    pub alg: Algorithm,
    pub alg_name: &'static str,
    pub key: DecodingKey,
}

/// The keys of one JWKS fetch, by `kid`.
pub(crate) struct KeySet {
    pub keys: HashMap<String, Arc<PinnedKey>>,
    pub fetched_at: Instant,
}

/// The asymmetric JWS algorithms we accept. HMAC (`HS*`) is never accepted from a JWKS:
/// a resource server holding the secret could mint tokens itself.
pub(crate) fn alg_from_name(name: &str) -> Option<(Algorithm, &'static str)> {
    Some(match name {
        "ES256" => (Algorithm::ES256, "ES256"),
        "ES384" => (Algorithm::ES384, "ES384"),
        "RS256" => (Algorithm::RS256, "RS256"),
        "RS384" => (Algorithm::RS384, "RS384"),
        "RS512" => (Algorithm::RS512, "RS512"),
        "PS256" => (Algorithm::PS256, "PS256"),
        "PS384" => (Algorithm::PS384, "PS384"),
        "PS512" => (Algorithm::PS512, "PS512"),
        "EdDSA" => (Algorithm::EdDSA, "EdDSA"),
        _ => return None,
    })
}

/// The one algorithm a JWK may be used with: its `alg` member if present (and consistent
/// with its key type), else derived from `kty`/`crv` (EC P-256 → ES256, EC P-384 → ES384,
/// OKP Ed25519 → EdDSA, RSA → RS256). `None` for keys we must not use.
fn pin(jwk: &serde_json::Map<String, Value>) -> Option<(Algorithm, &'static str, DecodingKey)> {
    let s = |k: &str| jwk.get(k).and_then(Value::as_str);
    if s("use").is_some_and(|u| u != "sig") {
        return None;
    }
    if let Some(ops) = jwk.get("key_ops") {
        let verifies = ops
            .as_array()
            .is_some_and(|a| a.iter().any(|o| o.as_str() == Some("verify")));
        if !verifies {
            return None;
        }
    }
    let kty = s("kty")?;
    let crv = s("crv");
    let derived = match (kty, crv) {
        ("EC", Some("P-256")) => "ES256",
        ("EC", Some("P-384")) => "ES384",
        ("OKP", Some("Ed25519")) => "EdDSA",
        ("RSA", _) => "RS256",
        _ => return None,
    };
    let name = match jwk.get("alg") {
        None => derived,
        Some(Value::String(a)) => a.as_str(),
        Some(_) => return None,
    };
    let (alg, alg_name) = alg_from_name(name)?;
    let consistent = match kty {
        "RSA" => matches!(
            alg,
            Algorithm::RS256
                | Algorithm::RS384
                | Algorithm::RS512
                | Algorithm::PS256
                | Algorithm::PS384
                | Algorithm::PS512
        ),
        _ => alg_name == derived,
    };
    if !consistent {
        return None;
    }
    let key = match kty {
        "RSA" => DecodingKey::from_rsa_components(s("n")?, s("e")?).ok()?,
        "EC" => DecodingKey::from_ec_components(s("x")?, s("y")?).ok()?,
        "OKP" => DecodingKey::from_ed_components(s("x")?).ok()?,
        _ => return None,
    };
    Some((alg, alg_name, key))
}

/// Parse a JWKS document. Keys without a `kid`, of an unknown type, not for signatures,
/// or whose `kid` appears more than once (ambiguous) are left out.
pub(crate) fn parse(body: &[u8]) -> Result<KeySet, Error> {
    let doc: Value = serde_json::from_slice(body).map_err(|e| Error::Jwks(e.to_string()))?;
    let list = doc
        .get("keys")
        .and_then(Value::as_array)
        .ok_or_else(|| Error::Jwks("no \"keys\" array".into()))?;
    let mut keys: HashMap<String, Arc<PinnedKey>> = HashMap::new();
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for jwk in list {
        if let Some(kid) = jwk.get("kid").and_then(Value::as_str) {
            *seen.entry(kid).or_default() += 1;
        }
    }
    for jwk in list {
        let Some(obj) = jwk.as_object() else { continue };
        let Some(kid) = obj.get("kid").and_then(Value::as_str) else {
            continue;
        };
        if seen.get(kid) != Some(&1) {
            continue;
        }
        if let Some((alg, alg_name, key)) = pin(obj) {
            keys.insert(kid.to_owned(), Arc::new(PinnedKey { alg, alg_name, key }));
        }
    }
    Ok(KeySet {
        keys,
        fetched_at: Instant::now(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pinned(jwk: Value) -> Option<&'static str> {
        pin(jwk.as_object().unwrap()).map(|(_, n, _)| n)
    }

    const X: &str = "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU";
    const Y: &str = "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0";

    #[test]
    fn the_algorithm_is_pinned_from_the_jwk() {
        assert_eq!(
            pinned(json!({"kty":"EC","crv":"P-256","x":X,"y":Y})),
            Some("ES256")
        );
        assert_eq!(
            pinned(json!({"kty":"OKP","crv":"Ed25519","x":X})),
            Some("EdDSA")
        );
        assert_eq!(pinned(json!({"kty":"RSA","n":X,"e":"AQAB"})), Some("RS256"));
        assert_eq!(
            pinned(json!({"kty":"RSA","n":X,"e":"AQAB","alg":"PS256"})),
            Some("PS256")
        );
        // An alg that does not fit the key type, HMAC keys, encryption keys: unusable.
        assert_eq!(
            pinned(json!({"kty":"EC","crv":"P-256","x":X,"y":Y,"alg":"RS256"})),
            None
        );
        assert_eq!(
            pinned(json!({"kty":"EC","crv":"P-256","x":X,"y":Y,"alg":"HS256"})),
            None
        );
        assert_eq!(pinned(json!({"kty":"oct","k":X})), None);
        assert_eq!(
            pinned(json!({"kty":"EC","crv":"P-256","x":X,"y":Y,"use":"enc"})),
            None
        );
        assert_eq!(
            pinned(json!({"kty":"EC","crv":"P-256","x":X,"y":Y,"key_ops":["encrypt"]})),
            None
        );
    }

    #[test]
    fn duplicate_and_missing_kids_are_left_out() {
        let k = |kid: &str| json!({"kty":"EC","crv":"P-256","x":X,"y":Y,"kid":kid});
        let doc = json!({"keys":[k("a"), k("b"), k("b"), {"kty":"EC","crv":"P-256","x":X,"y":Y}]});
        let set = parse(doc.to_string().as_bytes()).unwrap();
        assert_eq!(set.keys.keys().collect::<Vec<_>>(), ["a"]);
        assert!(parse(b"{}").is_err());
    }
}
