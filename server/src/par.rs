//! `POST /oauth/par`: pushed authorization requests (RFC 9126 §2). Who may call it: any
//! registered client, authenticated as at the token endpoint (`oauth::ClientRequest::open`:
//! secret, `private_key_jwt` or, for a public client, its `client_id`); on whose objects:
//! only its own requests (the stored request is bound to the authenticated client); mode:
//! live or test alike (the request carries the client's mode).
//!
//! A DPoP proof sent with the request (RFC 9449 §10.1) is checked as at the token endpoint
//! and binds the code to its key (`dpop_jkt`, which, when also sent, must name that key).
//!
//! The body is any authorization request, validated exactly as `/oauth/authorize` validates
//! it (`authorize::request::parse`), so a request that would fail there fails here, as a
//! JSON error (§2.3) instead of a page or a redirect. A valid one is stored under the SHA-256
//! of a fresh `request_uri` for [`TTL_SECS`] (§2.2) and redeemed, once, by
//! `authorize::pushed`.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::json;

use crate::authorize::pushed;
use crate::authorize::request::{self, Params, Rejection};
use crate::crypto;
use crate::errors::{OAuthCode, OAuthError};
use crate::oauth::ClientRequest;
use crate::state::AppState;
use crate::store;

/// Lifetime of a `request_uri` (DESIGN.md: 60 s; RFC 9126 §2.2 asks for a short one).
pub const TTL_SECS: i64 = 60;

/// Client-authentication parameters: they authenticate this call and are not part of the
/// authorization request (RFC 9126 §2.1, RFC 6749 §2.3.1, RFC 7523 §2.2).
const AUTH_PARAMS: &[&str] = &["client_secret", "client_assertion", "client_assertion_type"];

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/oauth/par", web::post().to(post_par));
}

async fn post_par(
    req: HttpRequest,
    state: web::Data<AppState>,
    payload: web::Payload,
) -> Result<HttpResponse, OAuthError> {
    let ClientRequest { form, client } = ClientRequest::open(&state, &req, payload).await?;
    // §2.1: "The request_uri authorization request parameter MUST NOT be provided in this
    // case" — a pushed request cannot point at another.
    if form.0.contains_key("request_uri") {
        return Err(OAuthError::invalid_request(
            "request_uri cannot be sent in a pushed authorization request",
        ));
    }
    // Request objects (RFC 9101) are not supported; OIDC Core §3.1.2.6 names the error.
    if form.0.contains_key("request") {
        return Err(OAuthError::new(
            OAuthCode::RequestNotSupported,
            "Request objects (the request parameter) are not supported",
        ));
    }
    // The authenticated client is the request's client_id (§2.1); client_auth already
    // refused a body client_id naming another client.
    // A metadata document client is named by its URL (`clients::public_id`).
    let mut params: Params = vec![(
        "client_id".to_owned(),
        crate::clients::public_id(&client).to_owned(),
    )];
    let mut rest: Vec<_> = form
        .0
        .iter()
        .filter(|(k, _)| k.as_str() != "client_id" && !AUTH_PARAMS.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    // RFC 9449 §10.1: a DPoP proof sent with the pushed request binds the code to its key,
    // as `dpop_jkt` would; both at once must name the same key.
    if let Some(proof) = crate::oauth::dpop::of_client(&state, &req, &client).await? {
        match rest.iter().find(|(k, _)| k == "dpop_jkt") {
            Some((_, jkt)) if *jkt != proof.jkt => {
                return Err(OAuthError::invalid_dpop_proof(
                    "dpop_jkt does not name the DPoP proof's key",
                ));
            }
            Some(_) => {}
            None => rest.push(("dpop_jkt".to_owned(), proof.jkt)),
        }
    }
    rest.sort();
    params.extend(rest);
    params.extend(
        form.resources()
            .iter()
            .map(|r| ("resource".to_owned(), r.clone())),
    );
    let r = request::parse(&state, params).await.map_err(as_oauth)?;

    let request_uri = format!("{}{}", pushed::URN_PREFIX, crypto::random_base62(32));
    let now = state.clock.now();
    store::pushed_requests::insert(
        &state.db,
        entity::pushed_request::Model {
            id: pushed::stored_id(&request_uri),
            client_id: client.id.clone(),
            params: pushed::encode(&r.params),
            created_at: now,
            expires_at: now + chrono::TimeDelta::seconds(TTL_SECS),
            consumed_at: None,
        },
    )
    .await?;
    // §2.2: 201 Created; like every answer carrying a credential, not stored by caches.
    Ok(HttpResponse::Created()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(json!({ "request_uri": request_uri, "expires_in": TTL_SECS })))
}

/// The authorization endpoint's refusal as an RFC 9126 §2.3 error: the OAuth error it
/// would have redirected, or `invalid_request` with the page's sentence.
fn as_oauth(rej: Rejection) -> OAuthError {
    match rej {
        Rejection::Redirect {
            code, description, ..
        } => OAuthError::new(code, description),
        Rejection::Page(e) if e.status == StatusCode::SERVICE_UNAVAILABLE => {
            OAuthError::unavailable(anyhow::anyhow!("authorization request: {}", e.message))
        }
        Rejection::Page(e) if e.status.is_server_error() => {
            OAuthError::server(anyhow::anyhow!("authorization request: {}", e.message))
        }
        Rejection::Page(e) => OAuthError::invalid_request(e.message),
    }
}
