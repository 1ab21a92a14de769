//! `POST /oauth/revoke` (RFC 7009). A refresh token takes its whole family and the access
//! tokens the family issued with it; an access token's `jti` goes on the deny list until it
//! would have expired. A client can revoke only its own tokens. Unknown, invalid and
//! foreign tokens all answer 200 (RFC 7009 §2.2), so the endpoint reveals nothing.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};

use crate::errors::OAuthError;
use crate::oauth::ClientRequest;
use crate::state::AppState;
use crate::{crypto, store};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/oauth/revoke", web::post().to(post_revoke));
}

fn ok() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish()
}

async fn post_revoke(
    req: HttpRequest,
    state: web::Data<AppState>,
    payload: web::Payload,
) -> Result<HttpResponse, OAuthError> {
    let ClientRequest { form, client } = ClientRequest::open(&state, &req, payload).await?;
    let token = form
        .get("token")
        .ok_or_else(|| OAuthError::invalid_request("The token parameter is missing"))?;
    let now = state.clock.now();
    if token.starts_with("rt_") {
        if crypto::check_secret(token, "rt_")
            && let Some(rt) = store::tokens::by_hash(&state.db, &crypto::sha256_hex(token)).await?
            && rt.client_id == client.id
        {
            store::tokens::revoke_family(&state.db, &rt.family_id, now).await?;
            state.denied.catch_up(&state.db).await?;
        }
        return Ok(ok());
    }
    if crate::api_keys::is_key_token(token) {
        // API keys are revoked by their owner (dashboard, /v1, CLI), not by OAuth clients.
        return Ok(ok());
    }
    // An access token: its signature must be ours, even if it has expired since.
    if let Some(claims) = state
        .signer
        .decode_access_ignoring_expiry(token, &state.settings.issuer)
        && claims.client_id == crate::clients::public_id(&client)
        && let Some(exp) = chrono::DateTime::from_timestamp(claims.exp, 0)
        && exp > now
    {
        store::tokens::deny(&state.db, &claims.jti, exp, now).await?;
        state.denied.catch_up(&state.db).await?;
    }
    Ok(ok())
}
