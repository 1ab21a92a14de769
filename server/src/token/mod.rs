//! `POST /oauth/token` (RFC 6749 §3.2, §5): form body only, no repeated parameters, one
//! client authentication method, then dispatch on `grant_type` to one file per grant.

pub mod client_auth;
pub mod grants;
pub mod issue;

use std::collections::HashMap;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};

use crate::errors::{OAuthCode, OAuthError};
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

/// A parsed form body with every parameter present at most once.
pub struct Form(pub HashMap<String, String>);

impl Form {
    pub fn get(&self, k: &str) -> Option<&str> {
        self.0.get(k).map(String::as_str).filter(|v| !v.is_empty())
    }
}

/// Parse an `application/x-www-form-urlencoded` body, refusing repeated parameters
/// (RFC 6749 §3.2: "Request and response parameters MUST NOT be included more than once").
pub fn parse_form(req: &HttpRequest, body: &[u8]) -> Result<Form, OAuthError> {
    let ct = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !ct
        .to_ascii_lowercase()
        .starts_with("application/x-www-form-urlencoded")
    {
        return Err(OAuthError::invalid_request(
            "The request body must be application/x-www-form-urlencoded",
        ));
    }
    if !req.query_string().is_empty()
        && url::form_urlencoded::parse(req.query_string().as_bytes()).any(|(k, _)| {
            k == "client_secret" || k == "code" || k == "refresh_token" || k == "token"
        })
    {
        return Err(OAuthError::invalid_request(
            "Credentials must not be sent in the query string",
        ));
    }
    let mut map = HashMap::new();
    for (k, v) in url::form_urlencoded::parse(body) {
        if map.insert(k.clone().into_owned(), v.into_owned()).is_some() {
            return Err(OAuthError::invalid_request(format!(
                "The {k} parameter was sent more than once"
            )));
        }
    }
    Ok(Form(map))
}

/// Read the body of a token, introspection or revocation request, at most
/// [`crate::errors::by_path::MAX_BODY`]. Handlers call it only after [`client_auth::limit_ip`], so an
/// address over its limit is refused before a single body byte is read. A larger body is
/// refused as an RFC 6749 §5.2 error (JSON, `no-store`, §5.1) instead of a plain-text 413.
pub async fn read_body(req: &HttpRequest, payload: web::Payload) -> Result<web::Bytes, OAuthError> {
    let max = crate::errors::by_path::MAX_BODY;
    let too_large = || {
        OAuthError::invalid_request(format!(
            "The request body is too large (at most {} KiB)",
            max / 1024
        ))
    };
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max as u64) {
        return Err(too_large());
    }
    match payload.to_bytes_limited(max).await {
        Ok(Ok(body)) => Ok(body),
        // A client that disconnects or trickles past LATCH_BODY_TIMEOUT (the latter is
        // answered 408 by the middleware).
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "request body could not be read");
            Err(OAuthError::invalid_request(
                "The request body could not be read",
            ))
        }
        Err(_) => Err(too_large()),
    }
}

async fn post_token(
    req: HttpRequest,
    state: web::Data<AppState>,
    payload: web::Payload,
) -> Result<HttpResponse, OAuthError> {
    client_auth::limit_ip(&state, &req).await?;
    let body = read_body(&req, payload).await?;
    let form = parse_form(&req, &body)?;
    let grant_type = form
        .get("grant_type")
        .ok_or_else(|| OAuthError::invalid_request("The grant_type parameter is missing"))?;
    // Refuse unknown grants before touching credentials: it costs nothing and reveals nothing.
    if !matches!(
        grant_type,
        "authorization_code" | "refresh_token" | "client_credentials"
    ) {
        // RFC 9700 §2.4: the password grant MUST NOT be used; implicit is not a token grant.
        return Err(OAuthError::new(
            OAuthCode::UnsupportedGrantType,
            "Supported grant types: authorization_code, refresh_token, client_credentials",
        ));
    }
    let client = client_auth::authenticate(&state, &req, &form).await?;
    client_auth::limit_client(&state, &req, &client).await?;
    if !crate::clients::list(&client.grant_types).any(|g| g == grant_type) {
        return Err(OAuthError::unauthorized_client(format!(
            "This client is not allowed to use the {grant_type} grant"
        )));
    }
    let issued = match grant_type {
        "authorization_code" => {
            grants::authorization_code::exchange(&state, &req, &client, &form).await?
        }
        "refresh_token" => grants::refresh_token::exchange(&state, &req, &client, &form).await?,
        _ => grants::client_credentials::exchange(&state, &client, &form).await?,
    };
    Ok(issue::response(&issued))
}
