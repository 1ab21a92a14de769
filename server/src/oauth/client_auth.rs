//! Client authentication at every endpoint a client calls (RFC 6749 §2.3.1, §3.2.1):
//! exactly one of `client_secret_basic`, `client_secret_post`, `private_key_jwt` (RFC 7523
//! §2.2, [`super::client_assertion`]) or `none` for public clients. The method a client was
//! registered with is enforced: a `private_key_jwt` client has no secret, and a client with
//! a secret cannot send an assertion.

use actix_web::HttpRequest;
use actix_web::http::header;
use base64::Engine;
use entity::client;

use super::form::Form;
use crate::errors::OAuthError;
use crate::rate_limit::FailureKind;
use crate::state::AppState;
use crate::store;

fn bad_client() -> OAuthError {
    OAuthError::invalid_client("Client authentication failed")
}

/// Decode `Authorization: Basic` whose id and secret are form-urlencoded first
/// (RFC 6749 §2.3.1 and Appendix B), so `:`, `%` and `+` in secrets survive.
pub(crate) fn basic_credentials(req: &HttpRequest) -> Result<Option<(String, String)>, OAuthError> {
    let Some(h) = req.headers().get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let h = h.to_str().map_err(|_| bad_client())?;
    let Some((scheme, rest)) = h.split_once(' ') else {
        return Err(bad_client());
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(OAuthError::invalid_request(
            "Unsupported Authorization scheme at the token endpoint",
        ));
    }
    let raw = base64::engine::general_purpose::STANDARD
        .decode(rest.trim())
        .map_err(|_| bad_client())?;
    let raw = String::from_utf8(raw).map_err(|_| bad_client())?;
    let (id, secret) = raw.split_once(':').ok_or_else(bad_client)?;
    // Decode the whole value exactly once: a raw `&` is a literal character, not a
    // parameter separator (else `secret&junk` would be read as `secret`).
    let decode = |s: &str| -> String {
        // Without `%` or `+` the decoding is the identity (ids and generated secrets):
        // no copies, no parse.
        if !s.contains(['%', '+']) {
            return s.to_owned();
        }
        let s = s.replace('&', "%26");
        url::form_urlencoded::parse(format!("x={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    Ok(Some((decode(id), decode(secret))))
}

pub async fn authenticate(
    state: &AppState,
    req: &HttpRequest,
    form: &Form,
) -> Result<std::sync::Arc<client::Model>, OAuthError> {
    let basic = basic_credentials(req)?;
    let post_secret = form.get("client_secret");
    let form_id = form.get("client_id");
    let assertion_type = form.get("client_assertion_type");
    let assertion = form.get("client_assertion");
    if assertion_type.is_some() || assertion.is_some() {
        if basic.is_some() || post_secret.is_some() {
            return Err(OAuthError::invalid_request(
                "Use one client authentication method per request",
            ));
        }
        let presented = super::client_assertion::read(assertion_type, assertion)?;
        // RFC 7523 §3 item 2: `sub` is the client; a client_id sent beside must agree.
        if form_id.is_some_and(|f| f != presented.client_id) {
            return Err(bad_client());
        }
        let client = locked_client(state, req, &presented.client_id).await?;
        if client.token_endpoint_auth_method != "private_key_jwt" {
            return Err(bad_client());
        }
        super::client_assertion::verify(state, req, &client, &presented).await?;
        return Ok(client);
    }
    let (client_id, secret) = match (basic, post_secret) {
        (Some(_), Some(_)) => {
            return Err(OAuthError::invalid_request(
                "Use one client authentication method per request",
            ));
        }
        (Some((id, secret)), None) => {
            // A client_id in the body must name the same client (FAPI2 ensure-client-id).
            if form_id.is_some_and(|f| f != id) {
                return Err(bad_client());
            }
            (id, Some(secret))
        }
        (None, Some(secret)) => (
            form_id.ok_or_else(bad_client)?.to_owned(),
            Some(secret.to_owned()),
        ),
        (None, None) => (form_id.ok_or_else(bad_client)?.to_owned(), None),
    };
    let client = locked_client(state, req, &client_id).await?;
    match (&client.secret_hash, secret) {
        (Some(_), Some(secret)) => {
            // The current secret, or the previous one during a rotation's overlap.
            if !crate::clients::secret_matches(&client, &secret, state.clock.now()) {
                count_failure(state, req, &client_id).await;
                return Err(bad_client());
            }
        }
        (None, None) if client.is_public => {}
        // A confidential client without credentials, a public client sending a secret, or a
        // `private_key_jwt` client (no secret) sending one.
        _ => return Err(bad_client()),
    }
    Ok(client)
}

/// Count a failed authentication of `client_id` from this address, locking it after
/// repeated failures (see [`locked_client`]).
pub(super) async fn count_failure(state: &AppState, req: &HttpRequest, client_id: &str) {
    let lock_key = client_lock_key(req, client_id);
    if let Some(lock) = state.limiter.fail(FailureKind::ClientAuth, &lock_key).await {
        tracing::warn!(client_id = %client_id, lock_secs = lock.as_secs(), "client authentication locked after repeated failures");
        metrics::counter!("latch_client_auth_locked_total").increment(1);
    }
}

/// The client named `client_id`, if it exists, may act, and is not locked from this
/// address after repeated failures.
async fn locked_client(
    state: &AppState,
    req: &HttpRequest,
    client_id: &str,
) -> Result<std::sync::Arc<client::Model>, OAuthError> {
    let document = !crate::authorize::request::plausible_client_id(client_id);
    if document
        && !(state.settings.client_id_metadata_documents
            && crate::clients::metadata_document::looks_like_url(client_id))
    {
        return Err(bad_client());
    }
    // RFC 6819 §5.1.4.2.3: guessing a client's secret is throttled; after repeated
    // failures the client is locked for an exponentially growing time. Client ids are
    // public, so the lock is per (client, source address): wrong secrets sent from one
    // address never lock the client out for callers elsewhere (secrets are 256-bit random,
    // so spreading guesses over many addresses gains an attacker nothing).
    let lock_key = client_lock_key(req, client_id);
    if let Some(wait) = state
        .limiter
        .locked(FailureKind::ClientAuth, &lock_key)
        .await
    {
        return Err(OAuthError::too_many_requests(wait.as_secs().max(1)));
    }
    let client = if document {
        // A client ID metadata document client (draft-ietf-oauth-client-id-metadata-document):
        // fetched or taken from the cache; public, so it authenticates with `none`.
        match crate::authorize::request::metadata_document_client(state, client_id).await {
            Some(Ok(c)) => std::sync::Arc::new(c),
            Some(Err(crate::clients::metadata_document::DocError::Store(e))) => {
                return Err(e.into());
            }
            Some(Err(crate::clients::metadata_document::DocError::Refused(why))) => {
                return Err(OAuthError::invalid_client(format!(
                    "The client ID metadata document was refused: {why}"
                )));
            }
            None => return Err(bad_client()),
        }
    } else {
        store::clients::by_id_cached(&state.db, &state.rows, client_id)
            .await?
            .filter(|c| c.metadata_document_url.is_none())
            .ok_or_else(bad_client)?
    };
    if !crate::clients::may_act(&state.db, &state.rows, &client).await? {
        return Err(bad_client());
    }
    Ok(client)
}

/// The failure-count key of `client_id` as used from this request's address.
fn client_lock_key(req: &HttpRequest, client_id: &str) -> String {
    let ip = crate::middleware::ClientIp::limit_key(req).unwrap_or_default();
    format!("{client_id}|{ip}")
}

/// Per-IP limit on the token, introspection and revocation endpoints (checked before any
/// work, the body included), and per-client limit once the client is known.
pub async fn limit_ip(state: &AppState, req: &HttpRequest) -> Result<(), OAuthError> {
    let Some(ip) = crate::middleware::ClientIp::limit_key(req) else {
        return Ok(());
    };
    let policy = crate::rate_limit::Policy::TokenIp;
    crate::rate_limit::enforce(&state.limiter, &state.db, req, policy, &ip).await?;
    Ok(())
}

pub async fn limit_client(
    state: &AppState,
    req: &HttpRequest,
    client: &client::Model,
) -> Result<(), OAuthError> {
    let policy = crate::rate_limit::Policy::TokenClient;
    crate::rate_limit::enforce(&state.limiter, &state.db, req, policy, &client.id).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::HeaderValue;
    use actix_web::test::TestRequest;
    use proptest::prelude::*;

    fn with_authorization(v: HeaderValue) -> HttpRequest {
        TestRequest::post()
            .insert_header((header::AUTHORIZATION, v))
            .to_http_request()
    }

    /// RFC 6749 §2.3.1: id and secret are form-urlencoded, joined by `:`, then base64.
    fn basic(id: &str, secret: &str) -> String {
        let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        let raw = format!("{}:{}", enc(id), enc(secret));
        base64::engine::general_purpose::STANDARD.encode(raw)
    }

    #[test]
    fn a_raw_ampersand_is_a_literal_character() {
        let v = base64::engine::general_purpose::STANDARD.encode("cl_a:s&x=1%3A+");
        let req = with_authorization(HeaderValue::from_str(&format!("Basic {v}")).unwrap());
        let (id, secret) = basic_credentials(&req).unwrap().unwrap();
        assert_eq!((id.as_str(), secret.as_str()), ("cl_a", "s&x=1: "));
    }

    proptest! {
        #![proptest_config(hostile_config!())]

        /// Any id and secret, encoded as §2.3.1 says, come back exactly.
        #[test]
        fn prop_encoded_credentials_round_trip(
            id in any::<String>(), secret in any::<String>(),
            scheme in prop::sample::select(vec!["Basic", "basic", "BASIC"]),
        ) {
            let req = with_authorization(
                HeaderValue::from_str(&format!("{scheme} {}", basic(&id, &secret))).unwrap(),
            );
            let got = basic_credentials(&req).map_err(|e| format!("{e:?}"));
            prop_assert_eq!(got, Ok(Some((id, secret))));
        }

        /// Any header value never panics; another scheme is `invalid_request`, anything
        /// else undecodable is `invalid_client`.
        #[test]
        fn prop_arbitrary_headers_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
            let Ok(v) = HeaderValue::from_bytes(&bytes) else { return Ok(()) };
            let req = with_authorization(v);
            match basic_credentials(&req) {
                Ok(Some(_)) => {
                    let s = String::from_utf8_lossy(&bytes).to_ascii_lowercase();
                    prop_assert!(s.starts_with("basic "));
                }
                Ok(None) => prop_assert!(false, "a header was sent"),
                Err(_) => {}
            }
        }

        /// Base64 of arbitrary bytes never panics.
        #[test]
        fn prop_arbitrary_decoded_bytes_never_panic(raw in prop::collection::vec(any::<u8>(), 0..200)) {
            let v = base64::engine::general_purpose::STANDARD.encode(&raw);
            let req = with_authorization(HeaderValue::from_str(&format!("Basic {v}")).unwrap());
            let ok = matches!(basic_credentials(&req), Ok(Some(_)));
            prop_assert_eq!(ok, std::str::from_utf8(&raw).is_ok_and(|s| s.contains(':')));
        }
    }
}
