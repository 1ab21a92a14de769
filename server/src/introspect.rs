//! `POST /oauth/introspect` (RFC 7662) for access tokens, refresh tokens and API keys.
//!
//! The caller authenticates as a confidential client. A client may introspect the tokens
//! issued to itself; a client registered as a resource server may introspect any token
//! and API key. Anything revoked, expired, foreign or malformed is `{"active": false}` and
//! nothing else (RFC 7662 §2.2).
//!
//! A caller that sends `Accept: application/token-introspection+jwt` gets the same answer
//! as a JWT signed with the server's key (RFC 9701): proof, for the resource server, of
//! what the authorization server said.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::json;

use crate::errors::OAuthError;
use crate::oauth::access_token::For;
use crate::oauth::{ClientRequest, active_access_token};
use std::sync::Arc;

use crate::signing::{ActiveKey, SigningAlg};
use crate::state::AppState;
use crate::{api_keys, crypto, store};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/oauth/introspect", web::post().to(post_introspect));
}

/// RFC 9701 §4.1: the media type a resource server accepts to get a signed answer.
pub const JWT_MEDIA_TYPE: &str = "application/token-introspection+jwt";

/// Whether `Accept` asks for [`JWT_MEDIA_TYPE`]: named with a weight above zero, and at
/// least the weight of the JSON it would otherwise get (`application/json`,
/// `application/*`, `*/*`); RFC 9110 §12.5.1: `q=0` means "not acceptable".
fn wants_jwt(req: &HttpRequest) -> bool {
    let mut jwt = 0.0f32;
    let mut json = 0.0f32;
    for range in req
        .headers()
        .get_all(header::ACCEPT)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
    {
        let mut parts = range.split(';');
        let media = parts.next().unwrap_or("").trim();
        let q = parts
            .filter_map(|p| p.trim().split_once('='))
            .find(|(k, _)| k.trim().eq_ignore_ascii_case("q"))
            .map_or(1.0, |(_, v)| v.trim().parse::<f32>().unwrap_or(0.0))
            .clamp(0.0, 1.0);
        if media.eq_ignore_ascii_case(JWT_MEDIA_TYPE) {
            jwt = jwt.max(q);
        } else if ["application/json", "application/*", "*/*"]
            .iter()
            .any(|m| media.eq_ignore_ascii_case(m))
        {
            json = json.max(q);
        }
    }
    jwt > 0.0 && jwt >= json
}

/// The key that signs introspection responses by default: the access tokens' (RFC 9701 §5),
/// unless those are HMAC'd with a secret only Latch holds (`LATCH_SIGNING_ALG=HS256`), which
/// no resource server could verify; then the RS256 key the JWKS publishes for ID tokens.
pub fn signing_key(state: &AppState) -> Option<Arc<ActiveKey>> {
    match state.signer.current() {
        Some(k) if k.alg == SigningAlg::HS256 => state.signer.current_of(SigningAlg::RS256),
        k => k,
    }
}

/// The algorithms an introspection response can be signed with (RFC 9701 §7
/// `introspection_signing_alg_values_supported`, and what a client may register as its
/// `introspection_signed_response_alg`, §6): the default key's, and RS256, which Latch
/// always keeps for ID tokens.
pub fn signing_algs(state: &AppState) -> Vec<&'static str> {
    let mut algs: Vec<&'static str> = signing_key(state)
        .map(|k| k.alg.as_str())
        .into_iter()
        .collect();
    if state.signer.current_of(SigningAlg::RS256).is_some() && !algs.contains(&"RS256") {
        algs.push("RS256");
    }
    algs
}

/// The key for `caller`'s responses: the algorithm it registered (§6), else the default.
fn signing_key_for(state: &AppState, caller: &entity::client::Model) -> Option<Arc<ActiveKey>> {
    match caller
        .introspection_signed_response_alg
        .as_deref()
        .and_then(SigningAlg::parse)
    {
        Some(alg) if signing_algs(state).contains(&alg.as_str()) => state.signer.current_of(alg),
        _ => signing_key(state),
    }
}

fn inactive() -> serde_json::Value {
    json!({"active": false})
}

async fn post_introspect(
    req: HttpRequest,
    state: web::Data<AppState>,
    payload: web::Payload,
) -> Result<HttpResponse, OAuthError> {
    let ClientRequest {
        form,
        client: caller,
    } = ClientRequest::open(&state, &req, payload).await?;
    let body = introspect(&state, &form, &caller).await?;
    let res = HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"))
        .take();
    if !wants_jwt(&req) {
        return Ok({ res }.json(body));
    }
    // RFC 9701 §5: `{iss, aud: the caller, iat, token_introspection: the RFC 7662 object}`,
    // under `typ: token-introspection+jwt`; inactive answers are signed too.
    let key = signing_key_for(&state, &caller)
        .ok_or_else(|| OAuthError::server(anyhow::anyhow!("no signing key is active")))?;
    let claims = json!({
        "iss": state.settings.issuer,
        "aud": caller.id,
        "iat": chrono::Utc::now().timestamp(),
        "token_introspection": body,
    });
    let jwt = key
        .sign_typed("token-introspection+jwt", &claims)
        .map_err(OAuthError::server)?;
    Ok({ res }.content_type(JWT_MEDIA_TYPE).body(jwt))
}

/// The RFC 7662 §2.2 object for the `token` of the form, as `caller` may see it.
async fn introspect(
    state: &AppState,
    form: &crate::oauth::Form,
    caller: &entity::client::Model,
) -> Result<serde_json::Value, OAuthError> {
    // RFC 7662 §2.1: the endpoint MUST require authorization; public clients cannot.
    if caller.is_public {
        return Err(OAuthError::invalid_client(
            "Public clients cannot use the introspection endpoint",
        ));
    }
    let token = form
        .get("token")
        .ok_or_else(|| OAuthError::invalid_request("The token parameter is missing"))?;
    let now = state.clock.now();

    if api_keys::is_key_token(token) {
        if !caller.resource_server || !api_keys::looks_valid(token) {
            return Ok(inactive());
        }
        let Ok(v) = api_keys::verify(&state.db, &state.keys, token, None, now).await? else {
            return Ok(inactive());
        };
        let key = &v.key;
        // A secret key's scope is every API scope in the catalog now (one created after the
        // key included); a restricted key's, its own. Introspection spends no use of a cap
        // and cannot apply an IP allowlist (the caller is the resource server, not the
        // key's holder).
        let mut body = json!({
            "active": true,
            "token_type": "api_key",
            "key_type": key.key_type,
            "scope": api_keys::effective_scopes(key, &state.catalog.get()).join(" "),
            "metadata": api_keys::metadata_json(key),
            "sub": key.user_id,
            "iat": key.created_at.timestamp(),
            "livemode": key.livemode,
            "iss": state.settings.issuer,
        });
        if let Some(exp) = key.expires_at.or(key.revoked_at) {
            body["exp"] = json!(exp.timestamp());
        }
        return Ok(body);
    }

    if token.starts_with("rt_") {
        if !crypto::check_secret(token, "rt_") {
            return Ok(inactive());
        }
        let Some(rt) = store::tokens::by_hash(&state.db, &crypto::sha256_hex(token)).await? else {
            return Ok(inactive());
        };
        let idle = state.settings.refresh_token_idle_ttl;
        let live = rt.revoked_at.is_none()
            && rt.rotated_at.is_none()
            && rt.expires_at > now
            && rt.created_at + idle > now;
        if !live || (rt.client_id != caller.id && !caller.resource_server) {
            return Ok(inactive());
        }
        let user = store::users::by_id(&state.db, &rt.user_id).await?;
        if user.is_none_or(|u| {
            u.disabled_at.is_some() || rt.auth_time.timestamp() < u.sessions_valid_after.timestamp()
        }) {
            return Ok(inactive());
        }
        return Ok(json!({
            "active": true,
            "token_type": "refresh_token",
            "scope": rt.scope,
            "client_id": shown_client_id(state, &rt.client_id).await?,
            "sub": rt.user_id,
            "exp": rt.expires_at.min(rt.created_at + idle).timestamp(),
            "iat": rt.created_at.timestamp(),
            "livemode": rt.livemode,
            "iss": state.settings.issuer,
        }));
    }

    let claims = match active_access_token(state, token, For::Introspection).await? {
        Ok(c) => c,
        Err(_) => return Ok(inactive()),
    };
    if claims.client_id != caller.id && !caller.resource_server {
        return Ok(inactive());
    }
    // RFC 9449 §6.2: a DPoP-bound token is reported with its type and `cnf.jkt`.
    let mut body = json!({
        "active": true,
        "token_type": if claims.cnf.is_some() { "DPoP" } else { "Bearer" },
        "scope": claims.scope,
        "client_id": shown_client_id(state, &claims.client_id).await?,
        "sub": claims.sub,
        "exp": claims.exp,
        "iat": claims.iat,
        "nbf": claims.nbf,
        "aud": claims.aud,
        "iss": claims.iss,
        "jti": claims.jti,
        "livemode": claims.livemode,
    });
    // RFC 8693 §4.1 (and §2.2 of RFC 7662's extensibility): who acts for `sub`.
    if let Some(act) = claims.act {
        body["act"] = act;
    }
    if let Some(cnf) = &claims.cnf {
        body["cnf"] = json!({"jkt": cnf.jkt});
    }
    Ok(body)
}

/// The `client_id` introspection reports: the one the client uses (RFC 7662 §2.2), which for
/// a metadata document client is its URL rather than the row id tokens are kept under.
async fn shown_client_id(state: &AppState, id: &str) -> Result<String, store::StoreError> {
    if id.starts_with("cimd_")
        && let Some(c) = store::clients::by_id_cached(&state.db, &state.rows, id).await?
    {
        return Ok(crate::clients::public_id(&c).to_owned());
    }
    Ok(id.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn with_accept(values: &[&str]) -> HttpRequest {
        let mut r = actix_web::test::TestRequest::post();
        for v in values {
            r = r.append_header((header::ACCEPT, *v));
        }
        r.to_http_request()
    }

    #[test]
    fn the_jwt_media_type_is_found_among_others() {
        for yes in [
            &["application/token-introspection+jwt"][..],
            &["application/json;q=0.5, Application/Token-Introspection+JWT;q=1"],
            &["text/html", "application/token-introspection+jwt"],
        ] {
            assert!(wants_jwt(&with_accept(yes)), "{yes:?}");
        }
        for no in [
            &[][..],
            &["application/json"],
            &["*/*"],
            &["application/token-introspection+jwtx"],
            &["application/jwt"],
        ] {
            assert!(!wants_jwt(&with_accept(no)), "{no:?}");
        }
    }

    proptest! {
        #![proptest_config(hostile_config!())]

        /// Any `Accept` value is read without panicking, and asks for a JWT only if it
        /// names the media type.
        #[test]
        fn prop_any_accept_header_is_safe(v in "[ -~]{0,200}") {
            let Ok(value) = header::HeaderValue::from_str(&v) else { return Ok(()) };
            let req = actix_web::test::TestRequest::post()
                .insert_header((header::ACCEPT, value))
                .to_http_request();
            if wants_jwt(&req) {
                prop_assert!(v.to_ascii_lowercase().contains(JWT_MEDIA_TYPE));
            }
        }
    }
}
