//! `POST /oauth/device_authorization` (RFC 8628 §3.1, §3.2): client-authenticated like the
//! token endpoint (a public client sends its `client_id`); the scopes are checked as the
//! authorization endpoint checks them (RFC 6749 §3.3, RFC 8707 §2.1 `resource`).

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::TimeDelta;
use entity::client;
use serde_json::json;

use super::{EXPIRES_IN_SECS, INTERVAL_SECS, user_code};
use crate::catalog::Snapshot;
use crate::crypto;
use crate::errors::{OAuthError, StoreError};
use crate::grant_type::GrantType;
use crate::oauth::ClientRequest;
use crate::scope::ScopeSet;
use crate::state::AppState;
use crate::store;

/// The scopes of the request: each one the client may ask for and the catalog knows;
/// narrowed to the APIs named by `resource`; none given: the client's API scopes (of the
/// named APIs). The same rules as `/oauth/authorize`.
fn requested_scopes(
    catalog: &Snapshot,
    client: &client::Model,
    scope: Option<&str>,
    resources: &[String],
) -> Result<String, OAuthError> {
    let allowed = ScopeSet::stored(&client.scopes);
    let invalid = |_| {
        OAuthError::invalid_scope(
            "The requested scope is invalid, unknown, or not allowed for this client",
        )
    };
    let requested = match scope {
        Some(s) => {
            let requested = ScopeSet::parse(s).map_err(invalid)?;
            requested.within(&allowed).map_err(invalid)?;
            if catalog.unknown(&requested).is_some() {
                return Err(invalid(""));
            }
            Some(requested)
        }
        None => None,
    };
    let target = |e: crate::catalog::InvalidTarget| OAuthError::invalid_target(e.0);
    let apis = catalog
        .resolve_resources(resources, &allowed)
        .map_err(target)?;
    let scopes = match requested {
        Some(requested) if apis.is_empty() => requested.to_vec(),
        Some(requested) => catalog
            .narrow_to(requested, &apis)
            .map_err(target)?
            .to_vec(),
        None => allowed
            .filter(|s| {
                catalog
                    .api_of(s)
                    .is_some_and(|api| apis.is_empty() || apis.iter().any(|a| a.id == api.id))
            })
            .to_vec(),
    };
    if scopes.is_empty() {
        return Err(OAuthError::invalid_scope(
            "No scope was requested and the client has no default scope",
        ));
    }
    Ok(scopes.join(" "))
}

pub async fn post(
    req: HttpRequest,
    state: web::Data<AppState>,
    payload: web::Payload,
) -> Result<HttpResponse, OAuthError> {
    let ClientRequest { form, client } = ClientRequest::open(&state, &req, payload).await?;
    if !GrantType::stored(&client.grant_types).any(|g| g == GrantType::DeviceCode) {
        return Err(OAuthError::unauthorized_client(
            "This client is not allowed to use the device authorization grant",
        ));
    }
    let scope = requested_scopes(
        &state.catalog.get(),
        &client,
        form.get("scope"),
        form.resources(),
    )?;
    let device_code = crypto::mint_secret("dc_");
    let now = state.clock.now();
    // A user code is short: on the rare collision with a stored one, draw again.
    let mut attempts = 0;
    let user_code = loop {
        let code = user_code::generate();
        let row = entity::device_code::Model {
            id: crypto::new_id("dev"),
            device_code_hash: crypto::sha256_hex(&device_code),
            user_code: code.clone(),
            client_id: client.id.clone(),
            scope: scope.clone(),
            user_id: None,
            auth_time: None,
            amr: None,
            interval_secs: INTERVAL_SECS,
            last_polled_at: None,
            created_at: now,
            expires_at: now + TimeDelta::seconds(EXPIRES_IN_SECS),
            approved_at: None,
            denied_at: None,
            consumed_at: None,
        };
        match store::device_codes::insert(&state.db, row).await {
            Ok(()) => break code,
            Err(StoreError::Conflict(_)) if attempts < 5 => attempts += 1,
            Err(e) => return Err(e.into()),
        }
    };
    let iss = &state.settings.issuer;
    let shown = user_code::display(&user_code);
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"))
        .json(json!({
            "device_code": device_code,
            "user_code": shown,
            "verification_uri": format!("{iss}/device"),
            // §3.3.1: the code in the URI, for a QR code or a link; the page still asks
            // the person to check it against the device (§5.4).
            "verification_uri_complete": format!("{iss}/device?user_code={shown}"),
            "expires_in": EXPIRES_IN_SECS,
            "interval": INTERVAL_SECS,
        })))
}
