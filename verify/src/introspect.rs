//! API keys, checked at the issuer's introspection endpoint (RFC 7662), with a short cache.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::claims::{Claims, TokenKind, numeric_date, parse_scopes, unix_now};
use crate::error::{InvalidToken, VerifyError};

pub(crate) struct Introspection {
    pub endpoint: String,
    /// `Basic …` (RFC 6749 §2.3.1). Never printed.
    authorization: String,
    cache: Cache,
}

impl Introspection {
    pub fn new(endpoint: String, client_id: &str, secret: &str, ttl: Duration, cap: usize) -> Self {
        let pair = format!("{}:{}", form_urlencode(client_id), form_urlencode(secret));
        Introspection {
            endpoint,
            authorization: format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(pair)
            ),
            cache: Cache::new(ttl, cap),
        }
    }

    /// Introspect `key` (or answer from the cache). Only definite answers (active or
    /// inactive) are cached; failures to reach the endpoint are not.
    pub async fn check(
        &self,
        http: &reqwest::Client,
        issuer: &str,
        key: &str,
    ) -> Result<Claims, VerifyError> {
        let digest: [u8; 32] = Sha256::digest(key.as_bytes()).into();
        if let Some(hit) = self.cache.get(&digest) {
            return still_valid(hit);
        }
        let res = http
            .post(&self.endpoint)
            .header(reqwest::header::AUTHORIZATION, &self.authorization)
            .header(reqwest::header::ACCEPT, "application/json")
            .form(&[("token", key)])
            .send()
            .await
            .map_err(|e| VerifyError::Unavailable(format!("introspection request failed: {e}")))?;
        let status = res.status();
        if !status.is_success() {
            return Err(VerifyError::Unavailable(format!(
                "introspection endpoint answered {status}"
            )));
        }
        let body: Value = res.json().await.map_err(|e| {
            VerifyError::Unavailable(format!("introspection answer is not JSON: {e}"))
        })?;
        let result = map_response(body, issuer);
        self.cache.put(digest, result.clone());
        result.and_then(|c| still_valid(Ok(c)))
    }
}

/// A cached active answer stops counting once the key's own `exp` has passed.
fn still_valid(r: Result<Claims, VerifyError>) -> Result<Claims, VerifyError> {
    match r {
        Ok(c) if c.exp.is_some_and(|exp| exp <= unix_now()) => Err(InvalidToken::Inactive.into()),
        other => other,
    }
}

/// Map an RFC 7662 response onto [`Claims`]. `active` must be exactly `true`; `sub` is
/// required (an API key belongs to a user); `iss` and `token_type`, when present, must be
/// our issuer and `api_key`.
pub(crate) fn map_response(body: Value, issuer: &str) -> Result<Claims, VerifyError> {
    let Some(obj) = body.as_object() else {
        return Err(VerifyError::Unavailable(
            "introspection answer is not a JSON object".into(),
        ));
    };
    if obj.get("active") != Some(&Value::Bool(true)) {
        return Err(InvalidToken::Inactive.into());
    }
    if obj.get("iss").is_some_and(|i| i.as_str() != Some(issuer)) {
        return Err(InvalidToken::WrongIssuer.into());
    }
    if obj
        .get("token_type")
        .is_some_and(|t| t.as_str() != Some("api_key"))
    {
        return Err(InvalidToken::WrongType.into());
    }
    let sub = obj
        .get("sub")
        .and_then(Value::as_str)
        .ok_or(InvalidToken::MissingClaim("sub"))?
        .to_owned();
    let scopes = parse_scopes(obj.get("scope")).ok_or(InvalidToken::MissingClaim("scope"))?;
    let date = |name: &'static str| match obj.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => numeric_date(v)
            .map(Some)
            .ok_or(InvalidToken::MissingClaim(name)),
    };
    let exp = date("exp")?;
    let iat = date("iat")?;
    Ok(Claims {
        sub,
        client_id: obj
            .get("client_id")
            .and_then(Value::as_str)
            .map(str::to_owned),
        scopes,
        livemode: obj
            .get("livemode")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        exp,
        iat,
        jti: None,
        kind: TokenKind::ApiKey,
        raw: body,
    })
}

/// `application/x-www-form-urlencoded` encoding of one value (RFC 6749 §2.3.1, Appendix B).
fn form_urlencode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Introspection answers by SHA-256 of the key (never the key itself), for `ttl`, at most
/// `cap` entries; when full, the oldest entry goes first.
struct Cache {
    ttl: Duration,
    cap: usize,
    inner: Mutex<CacheInner>,
}

#[derive(Default)]
struct CacheInner {
    map: HashMap<[u8; 32], (Instant, Result<Claims, VerifyError>)>,
    order: VecDeque<([u8; 32], Instant)>,
}

impl Cache {
    fn new(ttl: Duration, cap: usize) -> Self {
        Cache {
            ttl,
            cap,
            inner: Mutex::new(CacheInner::default()),
        }
    }

    fn get(&self, k: &[u8; 32]) -> Option<Result<Claims, VerifyError>> {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner
            .map
            .get(k)
            .filter(|(at, _)| at.elapsed() < self.ttl)
            .map(|(_, r)| r.clone())
    }

    fn put(&self, k: [u8; 32], v: Result<Claims, VerifyError>) {
        if self.ttl.is_zero() || self.cap == 0 {
            return;
        }
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        // Drop what has expired (the front is the oldest), then the oldest while full.
        while let Some(&(old, at)) = inner.order.front() {
            let expired = at.elapsed() >= self.ttl;
            if !expired && inner.map.len() < self.cap {
                break;
            }
            inner.order.pop_front();
            if inner.map.get(&old).is_some_and(|(t, _)| *t == at) {
                inner.map.remove(&old);
            }
        }
        inner.map.insert(k, (now, v));
        inner.order.push_back((k, now));
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.inner.lock().unwrap().map.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn credentials_are_form_encoded_before_basic() {
        assert_eq!(form_urlencode("a b+c:d/é"), "a+b%2Bc%3Ad%2F%C3%A9");
        let i = Introspection::new("x".into(), "id:1", "s%", Duration::ZERO, 0);
        let b64 = i.authorization.strip_prefix("Basic ").unwrap();
        let raw = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap();
        assert_eq!(raw, b"id%3A1:s%25");
    }

    #[test]
    fn responses_map_to_claims() {
        let c = map_response(
            json!({"active":true,"scope":"read write","sub":"user_1","token_type":"api_key",
                   "livemode":false,"iss":"https://i","exp":4_000_000_000i64}),
            "https://i",
        )
        .unwrap();
        assert_eq!(c.sub, "user_1");
        assert_eq!(c.scopes, ["read", "write"]);
        assert_eq!(c.client_id, None);
        assert_eq!(c.exp, Some(4_000_000_000));
        assert_eq!(c.kind, TokenKind::ApiKey);
        let inactive = VerifyError::InvalidToken(InvalidToken::Inactive);
        assert_eq!(
            map_response(json!({"active":false}), "i").unwrap_err(),
            inactive
        );
        assert_eq!(
            map_response(json!({"active":"true","sub":"u"}), "i").unwrap_err(),
            inactive
        );
        assert!(map_response(json!({"active":true,"sub":"u","iss":"other"}), "i").is_err());
        assert!(
            map_response(
                json!({"active":true,"sub":"u","token_type":"refresh_token"}),
                "i"
            )
            .is_err()
        );
        assert!(map_response(json!({"active":true}), "i").is_err());
        assert_eq!(map_response(json!([1]), "i").unwrap_err().status(), 503);
    }

    #[test]
    fn cache_is_bounded_and_evicts_the_oldest() {
        let c = Cache::new(Duration::from_secs(60), 3);
        let e = || Err(VerifyError::MissingToken);
        for i in 0..5u8 {
            c.put([i; 32], e());
        }
        assert_eq!(c.len(), 3);
        assert!(c.get(&[0; 32]).is_none() && c.get(&[1; 32]).is_none());
        assert!(c.get(&[4; 32]).is_some());
        // Re-inserting a key keeps one entry, and eviction skips its stale order slot.
        c.put([4; 32], e());
        c.put([5; 32], e());
        assert_eq!(c.len(), 3);
        assert!(c.get(&[4; 32]).is_some() && c.get(&[5; 32]).is_some());
    }

    #[test]
    fn expired_entries_are_not_served() {
        let c = Cache::new(Duration::from_millis(1), 10);
        c.put([1; 32], Err(VerifyError::MissingToken));
        std::thread::sleep(Duration::from_millis(5));
        assert!(c.get(&[1; 32]).is_none());
    }
}
