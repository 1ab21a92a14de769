//! Authorization server metadata (RFC 8414) and the JWKS document (RFC 7517). OpenID
//! discovery (`openid-configuration`) is built in `oidc`, from the same metadata.

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use serde_json::json;

use crate::grant_type::GrantType;
use crate::state::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route(
        "/.well-known/oauth-authorization-server",
        web::get().to(get_metadata),
    )
    .route("/.well-known/jwks.json", web::get().to(get_jwks));
}

/// RFC 8414 §2 metadata. `issuer` is exactly the `iss` of our tokens and responses.
pub fn metadata(state: &AppState) -> serde_json::Value {
    let iss = &state.settings.issuer;
    let mut metadata = json!({
        "issuer": iss,
        "authorization_endpoint": format!("{iss}/oauth/authorize"),
        "token_endpoint": format!("{iss}/oauth/token"),
        // RFC 9449 §5.1.
        "dpop_signing_alg_values_supported": latch_verify::dpop::SIGNING_ALGS,
        "jwks_uri": format!("{iss}/.well-known/jwks.json"),
        "introspection_endpoint": format!("{iss}/oauth/introspect"),
        "revocation_endpoint": format!("{iss}/oauth/revoke"),
        // RFC 8628 §4.
        "device_authorization_endpoint": format!("{iss}/oauth/device_authorization"),
        "scopes_supported": state.catalog.get().supported(),
        // RFC 9700 §2.1.2: no implicit grant; only the code flow.
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": GrantType::ALL,
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"],
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "private_key_jwt"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"],
        // RFC 8414 §2: the algorithms a private_key_jwt assertion may be signed with.
        "token_endpoint_auth_signing_alg_values_supported": crate::clients::jwks::ALG_NAMES,
        "introspection_endpoint_auth_signing_alg_values_supported": crate::clients::jwks::ALG_NAMES,
        "revocation_endpoint_auth_signing_alg_values_supported": crate::clients::jwks::ALG_NAMES,
        // RFC 9700 §2.1.1: S256 only.
        "code_challenge_methods_supported": ["S256"],
        // RFC 9207 §3.
        "authorization_response_iss_parameter_supported": true,
        "prompt_values_supported": ["none", "login", "consent"],
        // RFC 9701 §7: introspection answers as JWTs, signed like the access tokens (RS256
        // when those are HMAC'd), or with RS256 for a client that registered it (§6).
        "introspection_signing_alg_values_supported": crate::introspect::signing_algs(state),
        // RFC 9126 §5.
        "pushed_authorization_request_endpoint": format!("{iss}/oauth/par"),
        "require_pushed_authorization_requests": state.settings.require_par,
        // OIDC RP-Initiated Logout 1.0 §2.1 and Back-Channel Logout 1.0 §2.1: logout tokens
        // always carry `sid`. No front-channel logout or session management (iframes).
        "end_session_endpoint": format!("{iss}/oauth/logout"),
        "backchannel_logout_supported": true,
        "backchannel_logout_session_supported": true,
        // RFC 8414 §2, RFC 7591 §3.
        "registration_endpoint": format!("{iss}/oauth/register"),
    });
    // draft-ietf-oauth-client-id-metadata-document §5: an `https` URL may be a client_id.
    if state.settings.client_id_metadata_documents
        && let Some(m) = metadata.as_object_mut()
    {
        m.insert("client_id_metadata_document_supported".into(), true.into());
    }
    metadata
}

async fn get_metadata(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
        .json(metadata(&state))
}

/// Public keys only, unique `kid`s. Cached briefly: a rotated key is published at least
/// `LATCH_KEY_PREPUBLISH` before it signs, which config validation keeps above this max-age
/// plus the key reload interval ([`crate::signing::MIN_PREPUBLISH`]).
async fn get_jwks(state: web::Data<AppState>) -> HttpResponse {
    let cache = format!("public, max-age={}", crate::signing::JWKS_MAX_AGE.as_secs());
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, cache))
        .content_type("application/json")
        .json(state.signer.jwks().as_ref())
}
