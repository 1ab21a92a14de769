//! The device authorization grant at the token endpoint (RFC 8628 §3.4, §3.5): the device
//! polls with its device code until the person answered on `/device`.
//!
//! Order of checks: the code must be this client's and unredeemed (`invalid_grant`), not
//! expired (`expired_token`), and not polled faster than its interval (`slow_down`, which
//! adds 5 seconds to the interval, §3.5); then the person's answer: `access_denied`,
//! `authorization_pending`, or tokens, issued once (the redemption is one atomic update in
//! the issuing transaction). Times are the app's clock, so tests advance it instead of
//! sleeping.

use chrono::TimeDelta;
use entity::client;

use super::super::issue::{self, Issued};
use super::super::request::DeviceCodeRequest;
use crate::crypto;
use crate::dpop::Proof;
use crate::errors::{OAuthCode, OAuthError};
use crate::grant_type::GrantType;
use crate::oauth::id_token::{self, IdTokenInput, has_openid};
use crate::scope::ScopeSet;
use crate::state::AppState;
use crate::store;

/// RFC 8628 §3.5: "the interval MUST be increased by 5 seconds for this and all subsequent
/// requests". Capped, so a broken device is not told to wait for ever.
const SLOW_DOWN_STEP: i32 = 5;
const MAX_INTERVAL: i32 = 60;

fn invalid_grant() -> OAuthError {
    OAuthError::invalid_grant(
        "The device code is invalid, already used, or was issued to another client",
    )
}

pub async fn exchange(
    state: &AppState,
    client: &client::Model,
    r: DeviceCodeRequest<'_>,
    dpop: Option<&Proof>,
) -> Result<Issued, OAuthError> {
    // RFC 9449 §5: a proof binds the access token, and a public client's refresh token.
    let jkt = dpop.map(|p| p.jkt.as_str());
    if !crypto::check_secret(r.device_code, "dc_") {
        return Err(invalid_grant());
    }
    let row = store::device_codes::by_hash(&state.db, &crypto::sha256_hex(r.device_code))
        .await?
        .ok_or_else(invalid_grant)?;
    if row.client_id != client.id || row.consumed_at.is_some() {
        return Err(invalid_grant());
    }
    let now = state.clock.now();
    if row.expires_at <= now {
        return Err(OAuthError::new(
            OAuthCode::ExpiredToken,
            "The device code has expired; start the sign-in on the device again",
        ));
    }
    if let Some(last) = row.last_polled_at
        && now - last < TimeDelta::seconds(row.interval_secs.into())
    {
        let interval = (row.interval_secs + SLOW_DOWN_STEP).min(MAX_INTERVAL);
        store::device_codes::polled(&state.db, &row.id, now, interval).await?;
        return Err(OAuthError::new(
            OAuthCode::SlowDown,
            format!("Polling too fast: wait {interval} seconds between requests"),
        ));
    }
    store::device_codes::polled(&state.db, &row.id, now, row.interval_secs).await?;
    if row.denied_at.is_some() {
        return Err(OAuthError::new(
            OAuthCode::AccessDenied,
            "The person denied the request",
        ));
    }
    let (Some(_), Some(user_id), Some(auth_time)) = (row.approved_at, &row.user_id, row.auth_time)
    else {
        return Err(OAuthError::new(
            OAuthCode::AuthorizationPending,
            "The person has not answered yet",
        ));
    };
    let user = store::users::by_id(&state.db, user_id)
        .await?
        .ok_or_else(invalid_grant)?;
    if user.disabled_at.is_some() {
        return Err(invalid_grant());
    }

    // RFC 8707 §2.2: `resource` narrows this access token; the refresh token keeps the
    // whole grant (as for the code grant).
    let catalog = state.catalog.get();
    let grant = ScopeSet::stored(&row.scope);
    let scope =
        issue::narrow_to_resources(&catalog, r.resources, &grant, grant.clone())?.to_string();
    let access = issue::mint_access(
        state,
        &catalog,
        client,
        &user.id,
        &scope,
        Some(auth_time.timestamp()),
        jkt,
    )?;
    // OpenID Connect Core §3.1.3.3: an ID token when `openid` was granted (no nonce: the
    // device flow has no authorization request to carry one).
    let id_token = if has_openid(&row.scope) {
        Some(id_token::id_token(
            state,
            IdTokenInput {
                client,
                user: &user,
                scope: &row.scope,
                auth_time: auth_time.timestamp(),
                nonce: None,
                // OIDC Core §2: how the person signed in on `/device`, recorded with the
                // approval (rows approved before it was recorded have none).
                amr: row.amr.as_deref(),
                access_token: &access.jwt,
                // The device is not the browser that approved: no browser session to name.
                sid: None,
            },
        )?)
    } else {
        None
    };
    // A refresh token on the client's rules, as the code grant gives one.
    let refresh = GrantType::stored(&client.grant_types)
        .any(|g| g == GrantType::RefreshToken)
        .then(|| {
            let family = crypto::new_id("fam");
            let (secret, mut rt) = issue::new_refresh(
                client,
                &user.id,
                &row.scope,
                &family,
                None,
                auth_time,
                None,
                now + state.settings.refresh_token_ttl,
                &access,
                now,
                jkt.filter(|_| client.is_public).map(str::to_owned),
            );
            // Refreshed ID tokens keep the sign-in's `amr` (OIDC Core §12.2), as in the
            // code flow.
            rt.amr = row.amr.clone();
            (secret, rt)
        });

    let txn = store::begin_write(&state.db).await?;
    if !store::device_codes::consume(&*txn, &row.id, &client.id, now).await? {
        // Another poll redeemed it first.
        txn.rollback().await.map_err(store::StoreError::from)?;
        return Err(invalid_grant());
    }
    if let Some((_, rt)) = &refresh {
        store::tokens::insert(&*txn, rt.clone()).await?;
    }
    txn.commit().await.map_err(store::StoreError::from)?;

    Ok(Issued {
        access_token: access.jwt,
        expires_in: access.expires_in,
        scope,
        refresh_token: refresh.map(|(s, _)| s),
        id_token,
    })
}
