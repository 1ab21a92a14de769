//! The shared layer of the `/oauth` endpoints: the form body (RFC 6749 §3.2), client
//! authentication (§2.3), bearer tokens and their challenge (RFC 6750), "is this access
//! token active", and ID-token minting (OpenID Connect Core §2).
//!
//! [`ClientRequest::open`] is the opening of every endpoint a client calls with a form
//! (token, introspection, revocation): limit by IP before a body byte is read, read and
//! parse the form, authenticate the client, limit by client. A new client-facing endpoint
//! (device authorization, PAR, token exchange) starts with it; its own logic stays in its
//! own module, which imports this one and not its siblings.

pub mod access_token;
pub mod client_assertion;
pub mod client_auth;
pub mod cors;
pub mod dpop;
pub mod form;
pub mod id_token;

use std::sync::Arc;

use actix_web::{HttpRequest, web};
use entity::client;

pub use access_token::active_access_token;
pub use form::{Form, parse_form, read_body};

use crate::errors::OAuthError;
use crate::state::AppState;

/// A client's form request, past the shared opening.
pub struct ClientRequest {
    pub form: Form,
    /// The authenticated client.
    pub client: Arc<client::Model>,
}

impl ClientRequest {
    /// The shared opening without an endpoint-specific check.
    pub async fn open(
        state: &AppState,
        req: &HttpRequest,
        payload: web::Payload,
    ) -> Result<Self, OAuthError> {
        Ok(Self::open_with(state, req, payload, |_| Ok(())).await?.0)
    }

    /// The shared opening, running `before_auth` on the parsed form before the client is
    /// authenticated: for checks that cost nothing and reveal nothing (an unknown
    /// `grant_type` is refused before credentials are looked at).
    pub async fn open_with<T>(
        state: &AppState,
        req: &HttpRequest,
        payload: web::Payload,
        before_auth: impl FnOnce(&Form) -> Result<T, OAuthError>,
    ) -> Result<(Self, T), OAuthError> {
        // Before the body: an address over its limit costs us no read.
        client_auth::limit_ip(state, req).await?;
        let body = read_body(req, payload).await?;
        let form = parse_form(req, &body)?;
        let early = before_auth(&form)?;
        let client = client_auth::authenticate(state, req, &form).await?;
        // From here on, answers are the client's to read: its origins decide CORS.
        cors::mark(req, &client);
        client_auth::limit_client(state, req, &client).await?;
        Ok((Self { form, client }, early))
    }
}
