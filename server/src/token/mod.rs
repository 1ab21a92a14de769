//! `POST /oauth/token` (RFC 6749 §3.2, §5): form body only, no repeated parameters, one
//! client authentication method (the shared opening in [`crate::oauth`]), then the request
//! parsed once into a [`GrantRequest`] and dispatched to one file per grant.

pub mod grants;
pub mod issue;
pub mod request;

use actix_web::{HttpRequest, HttpResponse, web};

pub use request::GrantRequest;

use crate::errors::OAuthError;
use crate::grant_type::GrantType;
use crate::oauth::ClientRequest;
use crate::state::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/oauth/token", web::post().to(post_token))
        .route("/oauth/token", web::route().to(method_not_allowed));
}

async fn method_not_allowed() -> Result<HttpResponse, OAuthError> {
    Err(OAuthError::invalid_request(
        "The token endpoint accepts only POST",
    ))
}

async fn post_token(
    req: HttpRequest,
    state: web::Data<AppState>,
    payload: web::Payload,
) -> Result<HttpResponse, OAuthError> {
    // An unknown grant is refused before the client's credentials are looked at.
    let (ClientRequest { form, client }, grant_type) =
        ClientRequest::open_with(&state, &req, payload, request::grant_type).await?;
    if !GrantType::stored(&client.grant_types).any(|g| g == grant_type) {
        return Err(OAuthError::unauthorized_client(format!(
            "This client is not allowed to use the {grant_type} grant"
        )));
    }
    let request = GrantRequest::parse(grant_type, &form)?;
    // RFC 9449 §5: a proof binds what every grant issues now to its key.
    let dpop = crate::oauth::dpop::at_token_endpoint(&state, &req, &client).await?;
    let proof = dpop.as_ref();
    let bound = dpop.is_some();
    let mut res = match request {
        GrantRequest::AuthorizationCode(r) => issue::response(
            &grants::authorization_code::exchange(&state, &req, &client, r, proof).await?,
            bound,
        ),
        GrantRequest::RefreshToken(r) => issue::response(
            &grants::refresh_token::exchange(&state, &req, &client, r, proof).await?,
            bound,
        ),
        GrantRequest::ClientCredentials(r) => issue::response(
            &grants::client_credentials::exchange(&state, &client, r, proof).await?,
            bound,
        ),
        // RFC 8693 §2.2.1: its own response members (`issued_token_type`).
        GrantRequest::TokenExchange(r) => grants::token_exchange::response(
            &grants::token_exchange::exchange(&state, &req, &client, r, proof).await?,
            bound,
        ),
        GrantRequest::DeviceCode(r) => issue::response(
            &grants::device_code::exchange(&state, &client, r, proof).await?,
            bound,
        ),
    };
    // RFC 9449 §8.2: where nonces are required, the next one comes with each answer, so
    // the client's next request needs no `use_dpop_nonce` round trip.
    if dpop.is_some() && (state.dpop.require_nonce || client.dpop_require_nonce) {
        let nonce = state.dpop.nonce(state.clock.now());
        if let Ok(v) = actix_web::http::header::HeaderValue::from_str(&nonce) {
            res.headers_mut().insert(
                actix_web::http::header::HeaderName::from_static("dpop-nonce"),
                v,
            );
        }
    }
    Ok(res)
}
