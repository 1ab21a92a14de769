//! Signed introspection answers (RFC 9701): check the JWT an authorization server returns for
//! `Accept: application/token-introspection+jwt` and return its RFC 7662 object.

use base64::Engine;
use serde_json::{Map, Value};

use crate::Verifier;
use crate::claims::{numeric_date, unix_now};
use crate::error::{InvalidToken, VerifyError};
use crate::jwks::alg_from_name;
use crate::jwt::audience_contains;

/// RFC 9701 §5: the JWS `typ` of an introspection response.
const TYP: &str = "token-introspection+jwt";
const MAX_LEN: usize = 64 * 1024;

fn segment(s: &str) -> Result<Map<String, Value>, InvalidToken> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s)
        .map_err(|_| InvalidToken::Malformed)?;
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(InvalidToken::Malformed),
    }
}

impl Verifier {
    /// Verify a signed introspection response (RFC 9701 §5) that `client_id` asked for: `typ`
    /// `token-introspection+jwt`, the issuer's key (algorithm pinned per key, as for access
    /// tokens), `iss`, `aud` naming `client_id`, `iat` not in the future. Returns the
    /// `token_introspection` object, `{"active": false}` included: read `active` yourself.
    pub async fn verify_introspection_response(
        &self,
        jwt: &str,
        client_id: &str,
    ) -> Result<Map<String, Value>, VerifyError> {
        if jwt.is_empty() || jwt.len() > MAX_LEN {
            return Err(InvalidToken::Malformed.into());
        }
        let mut it = jwt.split('.');
        let (Some(h), Some(payload), Some(signature), None) =
            (it.next(), it.next(), it.next(), it.next())
        else {
            return Err(InvalidToken::Malformed.into());
        };
        let header = segment(h)?;
        let typ = header
            .get("typ")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if !typ.eq_ignore_ascii_case(TYP)
            && !typ.eq_ignore_ascii_case("application/token-introspection+jwt")
        {
            return Err(InvalidToken::WrongType.into());
        }
        if header.contains_key("crit") {
            return Err(InvalidToken::Malformed.into());
        }
        let alg = header
            .get("alg")
            .and_then(Value::as_str)
            .ok_or(InvalidToken::Malformed)?;
        if alg_from_name(alg).is_none() {
            return Err(InvalidToken::AlgorithmMismatch.into());
        }
        let kid = header
            .get("kid")
            .and_then(Value::as_str)
            .ok_or(InvalidToken::MissingKeyId)?;
        let key = self.key_for(kid).await?;
        if alg != key.alg_name {
            return Err(InvalidToken::AlgorithmMismatch.into());
        }
        let input = &jwt[..h.len() + 1 + payload.len()];
        if !jsonwebtoken::crypto::verify(signature, input.as_bytes(), &key.key, key.alg)
            .unwrap_or(false)
        {
            return Err(InvalidToken::BadSignature.into());
        }
        let mut claims = segment(payload)?;
        check(
            &mut claims,
            self.issuer(),
            client_id,
            self.inner.leeway,
            unix_now(),
        )
        .map_err(Into::into)
    }
}

fn check(
    claims: &mut Map<String, Value>,
    issuer: &str,
    client_id: &str,
    leeway: i64,
    now: i64,
) -> Result<Map<String, Value>, InvalidToken> {
    if claims.get("iss").and_then(Value::as_str) != Some(issuer) {
        return Err(InvalidToken::WrongIssuer);
    }
    match claims
        .get("aud")
        .and_then(|a| audience_contains(a, client_id))
    {
        None => return Err(InvalidToken::MissingClaim("aud")),
        Some(false) => return Err(InvalidToken::WrongAudience),
        Some(true) => {}
    }
    let iat = claims
        .get("iat")
        .and_then(numeric_date)
        .ok_or(InvalidToken::MissingClaim("iat"))?;
    if iat > now.saturating_add(leeway) {
        return Err(InvalidToken::IssuedInFuture);
    }
    match claims.remove("token_introspection") {
        Some(Value::Object(o)) if o.get("active").is_some_and(Value::is_boolean) => Ok(o),
        _ => Err(InvalidToken::MissingClaim("token_introspection")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NOW: i64 = 1_800_000_000;

    fn run(v: Value) -> Result<Map<String, Value>, InvalidToken> {
        let mut m = v.as_object().unwrap().clone();
        check(&mut m, "https://i", "cl_rs", 30, NOW)
    }

    #[test]
    fn claims_are_checked() {
        let good = json!({"iss":"https://i","aud":"cl_rs","iat":NOW,
            "token_introspection":{"active":true,"sub":"user_1"}});
        assert_eq!(run(good.clone()).unwrap()["sub"], "user_1");
        let with = |k: &str, v: Value| {
            let mut g = good.clone();
            g[k] = v;
            g
        };
        assert_eq!(
            run(with("iss", json!("https://x"))),
            Err(InvalidToken::WrongIssuer)
        );
        assert_eq!(
            run(with("aud", json!("cl_other"))),
            Err(InvalidToken::WrongAudience)
        );
        assert!(run(with("aud", json!(["x", "cl_rs"]))).is_ok());
        assert_eq!(
            run(with("iat", json!(NOW + 31))),
            Err(InvalidToken::IssuedInFuture)
        );
        assert_eq!(
            run(with("token_introspection", json!({"sub": "x"}))),
            Err(InvalidToken::MissingClaim("token_introspection"))
        );
        assert_eq!(
            run(with("token_introspection", json!("active"))),
            Err(InvalidToken::MissingClaim("token_introspection"))
        );
        assert!(run(with("token_introspection", json!({"active": false}))).is_ok());
    }
}
