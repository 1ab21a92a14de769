//! The client credentials grant (RFC 6749 §4.4): confidential clients only, scopes within
//! what the client may use, no refresh token (§4.4.3).

use entity::client;

use super::super::Form;
use super::super::issue::{self, Issued};
use crate::clients::list;
use crate::errors::OAuthError;
use crate::state::AppState;

/// Scopes that make sense without a user; OpenID Connect scopes do not.
const MACHINE_SCOPES: &[&str] = &["read", "write"];

pub async fn exchange(
    state: &AppState,
    client: &client::Model,
    form: &Form,
) -> Result<Issued, OAuthError> {
    if client.is_public {
        return Err(OAuthError::unauthorized_client(
            "Public clients cannot use client_credentials",
        ));
    }
    let allowed: Vec<&str> = list(&client.scopes)
        .filter(|s| MACHINE_SCOPES.contains(s))
        .collect();
    let mut scopes: Vec<&str> = Vec::new();
    match form.get("scope") {
        Some(s) => {
            for part in s.split(' ').filter(|p| !p.is_empty()) {
                if !allowed.contains(&part) {
                    return Err(OAuthError::invalid_scope(format!(
                        "The scope {part:?} is not allowed for this client"
                    )));
                }
                if !scopes.contains(&part) {
                    scopes.push(part);
                }
            }
        }
        None => scopes = allowed.clone(),
    }
    if scopes.is_empty() {
        return Err(OAuthError::invalid_scope(
            "No scope was requested and the client has no default scope",
        ));
    }
    let scope = scopes.join(" ");
    let access = issue::mint_access(state, client, &client.id, &scope, None)?;
    Ok(Issued {
        access_token: access.jwt,
        expires_in: access.expires_in,
        scope,
        refresh_token: None,
        id_token: None,
    })
}
