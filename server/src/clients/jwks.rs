//! The public keys of `private_key_jwt` clients (RFC 7523 §2.2, OIDC Core §9): a JWK Set
//! (RFC 7517 §5) registered inline or published at the client's `jwks_uri`.
//!
//! Only public signature keys are accepted: RSA, EC (P-256, P-384) and OKP (Ed25519), never
//! a symmetric (`oct`) key, never private members. A `jwks_uri` is fetched under the logo
//! fetcher's SSRF fence ([`super::logo::Fetcher::fetch_json`]: public addresses only,
//! loopback only for a loopback issuer, 5 s, at most [`MAX_BYTES`]) and kept per instance
//! for [`URI_TTL`]; a `kid` it does not hold makes one refetch, at most once per
//! [`REFRESH_MIN`] per client (OIDC Core §10.1.1: a client rotates by publishing a new key
//! first), so an attacker sending unknown `kid`s cannot make Latch hammer the client's
//! server. These times are on the app clock, so tests advance it instead of sleeping.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, TimeDelta, Utc};
use jsonwebtoken::jwk::{AlgorithmParameters, Jwk, JwkSet, KeyAlgorithm};
use jsonwebtoken::{Algorithm, DecodingKey};

use super::logo::Fetcher;

/// Largest JWK Set accepted, inline or fetched.
pub const MAX_BYTES: usize = 64 * 1024;
/// Most keys in one set.
pub const MAX_KEYS: usize = 20;
/// How long a fetched set is used before it is fetched again.
pub const URI_TTL: TimeDelta = TimeDelta::minutes(5);
/// Fewest seconds between two fetches of one client's `jwks_uri` on an unknown `kid`.
pub const REFRESH_MIN: TimeDelta = TimeDelta::seconds(10);

/// The signature algorithms a client assertion may use: asymmetric only (RFC 7523 §3 item
/// 9 leaves the choice to the server; an HMAC under the client secret would make the
/// secret a shared signing key, and `none` is no signature).
pub const ALGS: &[Algorithm] = &[
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::EdDSA,
];

/// Names of [`ALGS`] for the metadata (`token_endpoint_auth_signing_alg_values_supported`).
pub const ALG_NAMES: &[&str] = &[
    "ES256", "ES384", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "EdDSA",
];

/// Members of a private or symmetric JWK (RFC 7518 §6.2.2, §6.3.2, §6.4; RFC 8037 §2).
const SECRET_MEMBERS: &[&str] = &["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// One usable key of a client.
#[derive(Clone)]
pub struct Key {
    pub kid: Option<String>,
    /// The key's own `alg`, if it names one: then only that algorithm is accepted with it.
    pub alg: Option<Algorithm>,
    pub key: DecodingKey,
}

/// Parse and check a JWK Set; the error is a sentence naming what is wrong.
pub fn parse(text: &str) -> Result<Vec<Key>, String> {
    if text.len() > MAX_BYTES {
        return Err(format!("jwks is larger than {} KiB", MAX_BYTES / 1024));
    }
    let raw: serde_json::Value =
        serde_json::from_str(text).map_err(|_| "jwks is not JSON".to_owned())?;
    let Some(keys) = raw.get("keys").and_then(|k| k.as_array()) else {
        return Err("jwks must be a JWK Set: {\"keys\": [...]}".to_owned());
    };
    if keys.is_empty() || keys.len() > MAX_KEYS {
        return Err(format!("jwks must hold 1 to {MAX_KEYS} keys"));
    }
    for k in keys {
        let Some(obj) = k.as_object() else {
            return Err("each key in jwks must be a JSON object".to_owned());
        };
        if let Some(m) = SECRET_MEMBERS.iter().find(|m| obj.contains_key(**m)) {
            return Err(format!(
                "jwks must hold public keys only (a key has the private member {m:?})"
            ));
        }
    }
    let set: JwkSet = serde_json::from_value(raw)
        .map_err(|_| "jwks holds a key that is not a valid JWK".to_owned())?;
    set.keys.iter().map(key_of).collect()
}

fn key_of(jwk: &Jwk) -> Result<Key, String> {
    match &jwk.algorithm {
        AlgorithmParameters::RSA(_)
        | AlgorithmParameters::EllipticCurve(_)
        | AlgorithmParameters::OctetKeyPair(_) => {}
        _ => return Err("jwks keys must be RSA, EC or OKP public keys".to_owned()),
    }
    if let Some(u) = &jwk.common.public_key_use
        && *u != jsonwebtoken::jwk::PublicKeyUse::Signature
    {
        return Err("jwks keys must be for signatures (\"use\": \"sig\")".to_owned());
    }
    let alg = match jwk.common.key_algorithm {
        None => None,
        Some(a) => Some(algorithm(a).filter(|a| ALGS.contains(a)).ok_or_else(|| {
            format!("jwks key algorithm {a:?} is not an asymmetric signature algorithm")
        })?),
    };
    let key = DecodingKey::from_jwk(jwk)
        .map_err(|_| "jwks holds a key that cannot be read".to_owned())?;
    Ok(Key {
        kid: jwk.common.key_id.clone(),
        alg,
        key,
    })
}

fn algorithm(a: KeyAlgorithm) -> Option<Algorithm> {
    Some(match a {
        KeyAlgorithm::ES256 => Algorithm::ES256,
        KeyAlgorithm::ES384 => Algorithm::ES384,
        KeyAlgorithm::RS256 => Algorithm::RS256,
        KeyAlgorithm::RS384 => Algorithm::RS384,
        KeyAlgorithm::RS512 => Algorithm::RS512,
        KeyAlgorithm::PS256 => Algorithm::PS256,
        KeyAlgorithm::PS384 => Algorithm::PS384,
        KeyAlgorithm::PS512 => Algorithm::PS512,
        KeyAlgorithm::EdDSA => Algorithm::EdDSA,
        _ => return None,
    })
}

struct Entry {
    /// The inline set's text or the URI it came from: a change of either is a new entry.
    source: String,
    /// Empty when no fetch has succeeded yet.
    keys: Arc<Vec<Key>>,
    fetched_at: DateTime<Utc>,
    /// The last fetch started (successful or not): the rate limit of refetches.
    tried_at: DateTime<Utc>,
}

/// Parsed keys per client, per instance (`AppState::client_keys`).
#[derive(Default)]
pub struct KeyCache {
    entries: Mutex<HashMap<String, Entry>>,
}

/// Why a client's keys could not be had.
#[derive(Debug)]
pub struct Unavailable(pub String);

/// What to do about a `jwks_uri` client, decided under the lock.
enum Plan {
    Use(Arc<Vec<Key>>),
    /// Fetch; the stale keys (if any) stand in should the fetch fail.
    Fetch(Arc<Vec<Key>>),
}

impl KeyCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        let mut map = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        // Bounded by the number of private_key_jwt clients; start over if that ever explodes.
        if map.len() > 10_000 {
            map.clear();
        }
        map
    }

    /// The keys of `client`. `want_kid`: the assertion names a key; when the cached set of a
    /// `jwks_uri` lacks it, the set is fetched again — at most once per [`REFRESH_MIN`] per
    /// client, whether fetches succeed or fail, and one request at a time claims the fetch
    /// (the others go on with what is cached), so neither unknown `kid`s nor a slow client
    /// server turn Latch into a fetch amplifier.
    pub async fn keys(
        &self,
        fetcher: &Fetcher,
        client: &entity::client::Model,
        want_kid: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Arc<Vec<Key>>, Unavailable> {
        if let Some(text) = client.jwks.as_deref() {
            if let Some(e) = self.lock().get(&client.id).filter(|e| e.source == text) {
                return Ok(e.keys.clone());
            }
            let keys = Arc::new(parse(text).map_err(Unavailable)?);
            self.lock().insert(
                client.id.clone(),
                Entry {
                    source: text.to_owned(),
                    keys: keys.clone(),
                    fetched_at: now,
                    tried_at: now,
                },
            );
            return Ok(keys);
        }
        let Some(uri) = client.jwks_uri.as_deref() else {
            return Err(Unavailable("the client has no keys registered".to_owned()));
        };
        let plan = {
            let mut map = self.lock();
            match map.get_mut(&client.id).filter(|e| e.source == uri) {
                None => {
                    map.insert(
                        client.id.clone(),
                        Entry {
                            source: uri.to_owned(),
                            keys: Arc::new(Vec::new()),
                            fetched_at: DateTime::<Utc>::MIN_UTC,
                            tried_at: now,
                        },
                    );
                    Plan::Fetch(Arc::new(Vec::new()))
                }
                Some(e) => {
                    let stale = now - e.fetched_at >= URI_TTL;
                    let has_kid =
                        want_kid.is_none_or(|k| e.keys.iter().any(|x| x.kid.as_deref() == Some(k)));
                    if (stale || !has_kid) && now - e.tried_at >= REFRESH_MIN {
                        e.tried_at = now;
                        Plan::Fetch(e.keys.clone())
                    } else {
                        Plan::Use(e.keys.clone())
                    }
                }
            }
        };
        let stale = match plan {
            Plan::Use(keys) if keys.is_empty() => {
                return Err(Unavailable(
                    "jwks_uri: the last fetch failed; retrying later".to_owned(),
                ));
            }
            Plan::Use(keys) => return Ok(keys),
            Plan::Fetch(stale) => stale,
        };
        match fetch(fetcher, uri).await {
            Ok(keys) => {
                let keys = Arc::new(keys);
                if let Some(e) = self.lock().get_mut(&client.id).filter(|e| e.source == uri) {
                    e.keys = keys.clone();
                    e.fetched_at = now;
                }
                Ok(keys)
            }
            // The keys it had still verify what they verified: a client whose server is down
            // for a moment keeps working with them.
            Err(_) if !stale.is_empty() => Ok(stale),
            Err(e) => Err(e),
        }
    }
}

async fn fetch(fetcher: &Fetcher, uri: &str) -> Result<Vec<Key>, Unavailable> {
    let bytes = fetcher
        .fetch_json(uri, MAX_BYTES)
        .await
        .map_err(|why| Unavailable(format!("jwks_uri: {why}")))?;
    let text =
        String::from_utf8(bytes).map_err(|_| Unavailable("jwks_uri: not UTF-8".to_owned()))?;
    parse(&text).map_err(|why| Unavailable(format!("jwks_uri: {why}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const EC: &str = r#"{"kty":"EC","crv":"P-256","kid":"a","alg":"ES256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}"#;

    #[test]
    fn a_public_ec_key_is_accepted() {
        let keys = parse(&format!(r#"{{"keys":[{EC}]}}"#)).unwrap();
        assert_eq!(keys.len(), 1);
        assert_eq!(keys[0].kid.as_deref(), Some("a"));
        assert_eq!(keys[0].alg, Some(Algorithm::ES256));
    }

    #[test]
    fn private_symmetric_and_malformed_sets_are_refused() {
        let private = EC.replace(r#""kid""#, r#""d":"AAAA","kid""#);
        for bad in [
            "".to_owned(),
            "[]".to_owned(),
            r#"{"keys":[]}"#.to_owned(),
            format!(r#"{{"keys":[{private}]}}"#),
            r#"{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}"#.to_owned(),
            r#"{"keys":[{"kty":"oct","alg":"HS256"}]}"#.to_owned(),
            format!(r#"{{"keys":[{}]}}"#, EC.replace("ES256", "HS256")),
            format!(
                r#"{{"keys":[{}]}}"#,
                EC.replace(r#""kid""#, r#""use":"enc","kid""#)
            ),
        ] {
            assert!(parse(&bad).is_err(), "{bad}");
        }
    }

    proptest! {
        #![proptest_config(hostile_config!())]

        /// Arbitrary text never panics.
        #[test]
        fn prop_arbitrary_text_never_panics(s in "\\PC{0,300}") {
            let _ = parse(&s);
        }

        /// Arbitrary JSON values inside `keys` never panic, and nothing with a private
        /// member is accepted.
        #[test]
        fn prop_arbitrary_keys_never_panic(
            members in prop::collection::vec(
                (prop::sample::select(vec!["kty", "crv", "x", "y", "n", "e", "d", "k", "alg", "kid", "use"]),
                 prop::sample::select(vec!["EC", "RSA", "OKP", "oct", "P-256", "Ed25519", "AQAB", "ES256", "HS256", "sig", "x"])),
                0..8),
        ) {
            let obj: serde_json::Map<String, serde_json::Value> = members
                .iter()
                .map(|(k, v)| ((*k).to_owned(), serde_json::Value::from(*v)))
                .collect();
            let secret = obj.contains_key("d") || obj.contains_key("k");
            let text = serde_json::json!({"keys": [obj]}).to_string();
            if parse(&text).is_ok() {
                prop_assert!(!secret);
            }
        }
    }
}
