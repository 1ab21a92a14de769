//! `POST /oauth/introspect` (RFC 7662) for access tokens, refresh tokens and API keys.
//!
//! The caller authenticates as a confidential client. A client may introspect the tokens
//! issued to itself; a client registered as a resource server may introspect any token
//! and API key. Anything revoked, expired, foreign or malformed is `{"active": false}` and
//! nothing else (RFC 7662 §2.2).

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::json;

use crate::errors::OAuthError;
use crate::oauth::access_token::For;
use crate::oauth::{ClientRequest, active_access_token};
use crate::state::AppState;
use crate::{api_keys, crypto, store};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/oauth/introspect", web::post().to(post_introspect));
}

fn answer(body: serde_json::Value) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"))
        .json(body)
}

fn inactive() -> HttpResponse {
    answer(json!({"active": false}))
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
        return Ok(answer(body));
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
        return Ok(answer(json!({
            "active": true,
            "token_type": "refresh_token",
            "scope": rt.scope,
            "client_id": rt.client_id,
            "sub": rt.user_id,
            "exp": rt.expires_at.min(rt.created_at + idle).timestamp(),
            "iat": rt.created_at.timestamp(),
            "livemode": rt.livemode,
            "iss": state.settings.issuer,
        })));
    }

    let claims = match active_access_token(&state, token, For::Introspection).await? {
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
        "client_id": claims.client_id,
        "sub": claims.sub,
        "exp": claims.exp,
        "iat": claims.iat,
        "nbf": claims.nbf,
        "aud": claims.aud,
        "iss": claims.iss,
        "jti": claims.jti,
        "livemode": claims.livemode,
    });
    if let Some(cnf) = &claims.cnf {
        body["cnf"] = json!({"jkt": cnf.jkt});
    }
    Ok(answer(body))
}
