//! JWT access tokens (RFC 9068 §4, RFC 8725).

use base64::Engine;
use serde_json::{Map, Value};

use crate::Verifier;
use crate::claims::{Claims, TokenKind, numeric_date, parse_scopes, unix_now};
use crate::error::{InvalidToken, VerifyError};
use crate::jwks::{PinnedKey, alg_from_name};

/// Longer tokens are refused before any parsing.
const MAX_TOKEN_LEN: usize = 16 * 1024;

/// A compact JWS split and its header checked; the signature is not verified yet.
pub(crate) struct Parts<'a> {
    signing_input: &'a str,
    payload: &'a str,
    signature: &'a str,
    alg: String,
    pub kid: String,
}

fn b64_json(segment: &str) -> Result<Map<String, Value>, InvalidToken> {
    // URL_SAFE_NO_PAD refuses padding and non-canonical trailing bits.
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(segment)
        .map_err(|_| InvalidToken::Malformed)?;
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(InvalidToken::Malformed),
    }
}

/// Split `token` into its three segments and check the header: `typ` is `at+jwt`, `alg` is
/// an asymmetric algorithm we know, `kid` is present, no `crit` extensions. Header key
/// sources (`jku`, `x5u`, `jwk`, `x5c`) are never looked at (RFC 8725 §3.10).
pub(crate) fn split(token: &str) -> Result<Parts<'_>, VerifyError> {
    if token.is_empty() || token.len() > MAX_TOKEN_LEN {
        return Err(InvalidToken::Malformed.into());
    }
    let mut it = token.split('.');
    let (Some(h), Some(payload), Some(signature), None) =
        (it.next(), it.next(), it.next(), it.next())
    else {
        return Err(InvalidToken::Malformed.into());
    };
    let header = b64_json(h)?;
    let typ = header
        .get("typ")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if !typ.eq_ignore_ascii_case("at+jwt") && !typ.eq_ignore_ascii_case("application/at+jwt") {
        return Err(InvalidToken::WrongType.into());
    }
    if header.contains_key("crit") {
        // RFC 7515 §4.1.11: extensions we do not understand make the JWS invalid.
        return Err(InvalidToken::Malformed.into());
    }
    let alg = header
        .get("alg")
        .and_then(Value::as_str)
        .ok_or(InvalidToken::Malformed)?;
    if alg_from_name(alg).is_none() {
        // `none`, `HS256`…: no key of ours can ever match; refuse before any key lookup.
        return Err(InvalidToken::AlgorithmMismatch.into());
    }
    let kid = header
        .get("kid")
        .and_then(Value::as_str)
        .ok_or(InvalidToken::MissingKeyId)?;
    Ok(Parts {
        signing_input: &token[..h.len() + 1 + payload.len()],
        payload,
        signature,
        alg: alg.to_owned(),
        kid: kid.to_owned(),
    })
}

/// Verify the signature with `key` (whose algorithm the header must name), then the claims.
pub(crate) fn verify(
    parts: &Parts<'_>,
    key: &PinnedKey,
    v: &Verifier,
) -> Result<Claims, VerifyError> {
    if parts.alg != key.alg_name {
        return Err(InvalidToken::AlgorithmMismatch.into());
    }
    let ok = jsonwebtoken::crypto::verify(
        parts.signature,
        parts.signing_input.as_bytes(),
        &key.key,
        key.alg,
    )
    .unwrap_or(false);
    if !ok {
        return Err(InvalidToken::BadSignature.into());
    }
    let claims = b64_json(parts.payload)?;
    check_claims(claims, v.issuer(), v.audience(), v.inner.leeway, unix_now()).map_err(Into::into)
}

/// Whether an `aud` value names `audience`: a string equal to it, or an array of strings
/// one of which is (RFC 7519 §4.1.3; exact comparison, RFC 3986 §6.2.1 "simple string").
/// `None` when `aud` is neither a string nor an array of strings.
pub(crate) fn audience_contains(aud: &Value, audience: &str) -> Option<bool> {
    match aud {
        Value::String(a) => Some(a == audience),
        Value::Array(a) => {
            let mut found = false;
            for x in a {
                found |= x.as_str()? == audience;
            }
            Some(found)
        }
        _ => None,
    }
}

/// RFC 9068 §4 claim checks. Required: `iss exp aud sub client_id iat jti`.
pub(crate) fn check_claims(
    claims: Map<String, Value>,
    issuer: &str,
    audience: &str,
    leeway: i64,
    now: i64,
) -> Result<Claims, InvalidToken> {
    let text = |name: &'static str| {
        claims
            .get(name)
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or(InvalidToken::MissingClaim(name))
    };
    let date = |name: &'static str| {
        claims
            .get(name)
            .and_then(numeric_date)
            .ok_or(InvalidToken::MissingClaim(name))
    };
    if text("iss")? != issuer {
        return Err(InvalidToken::WrongIssuer);
    }
    let aud_ok = claims
        .get("aud")
        .and_then(|a| audience_contains(a, audience))
        .ok_or(InvalidToken::MissingClaim("aud"))?;
    if !aud_ok {
        return Err(InvalidToken::WrongAudience);
    }
    let exp = date("exp")?;
    if now > exp.saturating_add(leeway) {
        return Err(InvalidToken::Expired);
    }
    if let Some(nbf) = claims.get("nbf") {
        let nbf = numeric_date(nbf).ok_or(InvalidToken::MissingClaim("nbf"))?;
        if nbf > now.saturating_add(leeway) {
            return Err(InvalidToken::NotYetValid);
        }
    }
    let iat = date("iat")?;
    if iat > now.saturating_add(leeway) {
        return Err(InvalidToken::IssuedInFuture);
    }
    let sub = text("sub")?;
    let client_id = text("client_id")?;
    let jti = text("jti")?;
    let scopes = parse_scopes(claims.get("scope")).ok_or(InvalidToken::MissingClaim("scope"))?;
    let livemode = match claims.get("livemode") {
        None => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(InvalidToken::MissingClaim("livemode")),
    };
    Ok(Claims {
        sub,
        client_id: Some(client_id),
        scopes,
        livemode,
        exp: Some(exp),
        iat: Some(iat),
        jti: Some(jti),
        kind: TokenKind::AccessToken,
        raw: Value::Object(claims),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NOW: i64 = 1_800_000_000;

    fn good() -> Map<String, Value> {
        json!({"iss":"https://i","aud":"https://i","sub":"user_1","client_id":"c","jti":"j",
               "exp":NOW+60,"iat":NOW,"nbf":NOW,"scope":"read write","livemode":true})
        .as_object()
        .unwrap()
        .clone()
    }

    fn check(m: Map<String, Value>) -> Result<Claims, InvalidToken> {
        check_claims(m, "https://i", "https://i", 30, NOW)
    }

    fn with(k: &str, v: Value) -> Map<String, Value> {
        let mut m = good();
        m.insert(k.into(), v);
        m
    }

    #[test]
    fn claims_are_checked_with_leeway() {
        let c = check(good()).unwrap();
        assert_eq!((c.sub.as_str(), c.livemode), ("user_1", true));
        assert_eq!(
            check(with("exp", json!(NOW - 31))),
            Err(InvalidToken::Expired)
        );
        assert!(check(with("exp", json!(NOW - 29))).is_ok());
        assert!(check(with("exp", json!(NOW - 30))).is_ok());
        assert_eq!(
            check(with("nbf", json!(NOW + 31))),
            Err(InvalidToken::NotYetValid)
        );
        assert!(check(with("nbf", json!(NOW + 30))).is_ok());
        assert_eq!(
            check(with("iat", json!(NOW + 31))),
            Err(InvalidToken::IssuedInFuture)
        );
        assert_eq!(
            check(with("iss", json!("https://i/"))),
            Err(InvalidToken::WrongIssuer)
        );
        assert_eq!(
            check(with("aud", json!("x"))),
            Err(InvalidToken::WrongAudience)
        );
        assert_eq!(
            check(with("aud", json!(["x", "y"]))),
            Err(InvalidToken::WrongAudience)
        );
        assert!(check(with("aud", json!(["x", "https://i"]))).is_ok());
        assert_eq!(
            check(with("exp", json!("soon"))),
            Err(InvalidToken::MissingClaim("exp"))
        );
        assert_eq!(
            check(with("scope", json!(1))),
            Err(InvalidToken::MissingClaim("scope"))
        );
        for name in ["iss", "exp", "aud", "sub", "client_id", "iat", "jti"] {
            let mut m = good();
            m.remove(name);
            assert_eq!(check(m), Err(InvalidToken::MissingClaim(name)), "{name}");
        }
        let mut m = good();
        m.remove("nbf");
        m.remove("scope");
        m.remove("livemode");
        let c = check(m).unwrap();
        assert!(c.scopes.is_empty() && !c.livemode);
    }
}
