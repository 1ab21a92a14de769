//! What a verified credential says about the caller.

use crate::error::VerifyError;

/// Which kind of credential was verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// A Latch JWT access token (RFC 9068), verified locally against the JWKS.
    AccessToken,
    /// An API key (`sk_…` secret or `rk_…` restricted, live or test), checked by introspection (RFC 7662).
    ApiKey,
}

/// The verified identity and permissions of a request.
///
/// For access tokens every field is present (`iss exp aud sub client_id iat jti` are
/// required). For API keys, `client_id` and `jti` are `None` (an API key belongs to a
/// user, not to an OAuth client), `exp` is `None` when the key does not expire, and `raw`
/// is the introspection response.
#[derive(Debug, Clone, PartialEq)]
pub struct Claims {
    /// The subject: a user id, or for `client_credentials` tokens the client's own id
    /// (Latch keeps the two namespaces apart).
    pub sub: String,
    /// The OAuth client the token was issued to; `None` for API keys.
    pub client_id: Option<String>,
    /// The granted scopes (the space-separated `scope` claim, split).
    pub scopes: Vec<String>,
    /// `false` for test-mode credentials (`sk_test_…`, test clients). Absent → `false`.
    pub livemode: bool,
    /// Expiry (seconds since the Unix epoch); `None` for an API key that does not expire.
    pub exp: Option<i64>,
    /// Issued-at (seconds since the Unix epoch).
    pub iat: Option<i64>,
    /// The token id (`jti`); `None` for API keys.
    pub jti: Option<String>,
    /// Which kind of credential this was.
    pub kind: TokenKind,
    /// Every claim as received (the JWT claims set, or the introspection response).
    pub raw: serde_json::Value,
}

impl Claims {
    /// Whether the credential carries `scope`.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }

    /// `Ok` when every scope in `required` was granted; otherwise
    /// [`VerifyError::InsufficientScope`] naming all of `required` (RFC 6750 §3.1: 403).
    pub fn require_scopes(&self, required: &[&str]) -> Result<(), VerifyError> {
        if required.iter().all(|s| self.has_scope(s)) {
            Ok(())
        } else {
            Err(VerifyError::InsufficientScope {
                required: required.iter().map(|s| (*s).to_owned()).collect(),
            })
        }
    }
}

/// Split a `scope` value: a space-separated string (RFC 6749 §3.3), or (leniently) a JSON
/// array of strings. Anything else is `None`.
pub(crate) fn parse_scopes(v: Option<&serde_json::Value>) -> Option<Vec<String>> {
    match v {
        None | Some(serde_json::Value::Null) => Some(Vec::new()),
        Some(serde_json::Value::String(s)) => Some(
            s.split(' ')
                .filter(|s| !s.is_empty())
                .map(Into::into)
                .collect(),
        ),
        Some(serde_json::Value::Array(a)) => a
            .iter()
            .map(|v| v.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>(),
        Some(_) => None,
    }
}

/// A NumericDate (RFC 7519 §2): a JSON number of seconds, possibly fractional.
pub(crate) fn numeric_date(v: &serde_json::Value) -> Option<i64> {
    v.as_i64().or_else(|| {
        v.as_f64()
            .filter(|f| f.is_finite())
            .map(|f| f.floor() as i64)
    })
}

pub(crate) fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claims(scope: &str) -> Claims {
        Claims {
            sub: "user_1".into(),
            client_id: Some("c".into()),
            scopes: parse_scopes(Some(&json!(scope))).unwrap(),
            livemode: false,
            exp: None,
            iat: None,
            jti: None,
            kind: TokenKind::AccessToken,
            raw: json!({}),
        }
    }

    #[test]
    fn scopes_are_split_and_required() {
        let c = claims("read  write");
        assert_eq!(c.scopes, ["read", "write"]);
        assert!(c.has_scope("read") && !c.has_scope("admin"));
        assert!(c.require_scopes(&["read", "write"]).is_ok());
        let e = c.require_scopes(&["read", "admin"]).unwrap_err();
        assert_eq!(e.status(), 403);
        assert_eq!(e.error_code(), Some("insufficient_scope"));
        assert!(e.www_authenticate().ends_with("scope=\"read admin\""));
    }

    #[test]
    fn scope_and_dates_parse_leniently_but_not_wrongly() {
        assert_eq!(parse_scopes(None), Some(vec![]));
        assert_eq!(parse_scopes(Some(&json!(["a", "b"]))).unwrap(), ["a", "b"]);
        assert_eq!(parse_scopes(Some(&json!(5))), None);
        assert_eq!(numeric_date(&json!(10)), Some(10));
        assert_eq!(numeric_date(&json!(10.9)), Some(10));
        assert_eq!(numeric_date(&json!("10")), None);
    }
}
