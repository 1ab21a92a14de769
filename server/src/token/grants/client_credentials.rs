//! The client credentials grant (RFC 6749 §4.4): confidential clients only, scopes within
//! what the client may use, narrowed by `resource` (RFC 8707 §2), no refresh token
//! (§4.4.3).

use entity::client;

use super::super::issue::{self, Issued};
use super::super::request::ClientCredentialsRequest;
use crate::dpop::Proof;
use crate::errors::OAuthError;
use crate::scope::ScopeSet;
use crate::state::AppState;

pub async fn exchange(
    state: &AppState,
    client: &client::Model,
    r: ClientCredentialsRequest<'_>,
    dpop: Option<&Proof>,
) -> Result<Issued, OAuthError> {
    if client.is_public {
        return Err(OAuthError::unauthorized_client(
            "Public clients cannot use client_credentials",
        ));
    }
    // Scopes that make sense without a user: the client's API scopes still in the catalog;
    // OpenID Connect scopes do not.
    let catalog = state.catalog.get();
    let allowed = ScopeSet::stored(&client.scopes).filter(|s| catalog.api_of(s).is_some());
    let not_allowed = |part: &str| {
        OAuthError::invalid_scope(format!("The scope {part:?} is not allowed for this client"))
    };
    let scopes = match r.scope {
        Some(requested) => {
            let requested = requested.map_err(not_allowed)?;
            requested.within(&allowed).map_err(not_allowed)?;
            requested
        }
        None => allowed.clone(),
    };
    let scopes = issue::narrow_to_resources(&catalog, r.resources, &allowed, scopes)?;
    if scopes.is_empty() {
        return Err(OAuthError::invalid_scope(
            "No scope was requested and the client has no default scope",
        ));
    }
    let scope = scopes.to_string();
    let jkt = dpop.map(|p| p.jkt.as_str());
    let access = issue::mint_access(state, &catalog, client, &client.id, &scope, None, jkt)?;
    Ok(Issued {
        access_token: access.jwt,
        expires_in: access.expires_in,
        scope,
        refresh_token: None,
        id_token: None,
    })
}
