//! The refresh token grant (RFC 6749 §6) with rotation (RFC 9700 §4.14.2): every use
//! returns a new refresh token; presenting a rotated one again revokes the whole family.
//!
//! `LATCH_REFRESH_TOKEN_GRACE` (default 0) lets a client that lost a response retry with
//! the token it just rotated: within that window the family's live token is rotated again
//! in its place, so a family still never has two live tokens.

use actix_web::HttpRequest;
use entity::{client, refresh_token};
use serde_json::json;

use super::super::issue::{self, Issued};
use super::super::request::RefreshRequest;
use crate::audit::{AuditKind, Event};
use crate::crypto;
use crate::dpop::Proof;
use crate::errors::OAuthError;
use crate::middleware::ClientIp;
use crate::oauth::id_token::{self, IdTokenInput, has_openid};
use crate::scope::ScopeSet;
use crate::state::AppState;
use crate::store;

fn invalid_grant() -> OAuthError {
    OAuthError::invalid_grant(
        "The refresh token is invalid, expired, revoked, or was issued to another client",
    )
}

/// Revoke a family in one write transaction: all of it or none (issue #16, defect 1).
async fn revoke_in_txn(state: &AppState, family_id: &str) -> Result<u64, OAuthError> {
    let txn = store::begin_write(&state.db).await?;
    let n = store::tokens::revoke_family(&*txn, family_id, state.clock.now()).await?;
    txn.commit().await.map_err(store::StoreError::from)?;
    Ok(n)
}

async fn revoke_family(
    state: &AppState,
    req: &HttpRequest,
    row: &refresh_token::Model,
    kind: AuditKind,
) -> Result<(), OAuthError> {
    let n = revoke_in_txn(state, &row.family_id).await?;
    state.denied.catch_up(&state.db).await?;
    Event::new(kind)
        .user(&row.user_id)
        .actor(Some(&row.client_id))
        .client_ip(ClientIp::of(req))
        .detail(json!({"client_id": row.client_id, "family": row.family_id, "revoked": n}))
        .record(&state.db)
        .await?;
    tracing::warn!(client_id = %row.client_id, kind = kind.as_str(), "refresh-token family revoked");
    Ok(())
}

pub async fn exchange(
    state: &AppState,
    req: &HttpRequest,
    client: &client::Model,
    r: RefreshRequest<'_>,
    dpop: Option<&Proof>,
) -> Result<Issued, OAuthError> {
    let presented = r.refresh_token;
    if !crypto::check_secret(presented, "rt_") {
        return Err(invalid_grant());
    }
    let row = store::tokens::by_hash(&state.db, &crypto::sha256_hex(presented))
        .await?
        .ok_or_else(invalid_grant)?;
    // RFC 6749 §6: bound to the client it was issued to.
    if row.client_id != client.id || row.revoked_at.is_some() {
        return Err(invalid_grant());
    }
    // RFC 9449 §5: a family bound to a DPoP key refreshes only with a proof by that key.
    if let Some(bound) = &row.dpop_jkt
        && dpop.is_none_or(|p| &p.jkt != bound)
    {
        return Err(OAuthError::invalid_dpop_proof(
            "This refresh token is bound to another DPoP key",
        ));
    }
    let jkt = dpop.map(|p| p.jkt.as_str());
    let now = state.clock.now();
    let idle = state.settings.refresh_token_idle_ttl;
    if row.expires_at <= now || row.created_at + idle <= now {
        return Err(invalid_grant());
    }
    // A client's registered scopes bound everything issued to it, now and later: scopes
    // removed from the client since the grant drop out here, and the successor refresh
    // token carries the narrowed grant (issue #9, finding 11).
    let granted = ScopeSet::stored(&row.scope).narrow(&ScopeSet::stored(&client.scopes));
    if granted.is_empty() {
        return Err(OAuthError::invalid_scope(
            "The client may no longer use any scope of this grant",
        ));
    }
    let granted_scope = granted.to_string();
    // RFC 6749 §6: "MUST NOT include any scope not originally granted".
    let exceeds =
        |_| OAuthError::invalid_scope("The requested scope exceeds the scope originally granted");
    let requested = match r.scope {
        Some(requested) => {
            let requested = requested.map_err(exceeds)?;
            requested.within(&granted).map_err(exceeds)?;
            if requested.is_empty() {
                granted.clone()
            } else {
                requested
            }
        }
        None => granted.clone(),
    };
    // RFC 8707 §2.2: `resource` narrows this access token only; the successor refresh
    // token keeps the whole grant, so a later refresh without it gets everything back.
    let catalog = state.catalog.get();
    let scope = issue::narrow_to_resources(&catalog, r.resources, &granted, requested)?.to_string();

    // Which token to rotate: this one, or (inside the grace window) its live successor.
    let target = match row.rotated_at {
        None => row.clone(),
        Some(rotated_at) => {
            let grace = state.settings.refresh_token_grace;
            let live = if grace > chrono::Duration::zero() && now - rotated_at <= grace {
                // Only a retry of the token that minted the live one is a lost response.
                // A successor superseded by such a retry, or an older generation, is a
                // rotated token presented again: reuse (RFC 9700 §4.14.2).
                store::tokens::live_in_family(&state.db, &row.family_id)
                    .await?
                    .filter(|live| live.parent_id.as_deref() == Some(row.id.as_str()))
            } else {
                None
            };
            match live {
                Some(live) => live,
                None => {
                    // RFC 9700 §4.14.2: reuse of a rotated token revokes the family.
                    revoke_family(state, req, &row, AuditKind::RefreshTokenReused).await?;
                    return Err(invalid_grant());
                }
            }
        }
    };

    let user = store::users::by_id(&state.db, &row.user_id)
        .await?
        .ok_or_else(invalid_grant)?;
    if user.disabled_at.is_some()
        || row.auth_time.timestamp() < user.sessions_valid_after.timestamp()
    {
        revoke_family(state, req, &row, AuditKind::RefreshTokenInvalidated).await?;
        return Err(invalid_grant());
    }
    if !client.first_party {
        let consent = store::consents::find(&state.db, &row.user_id, &client.id).await?;
        if consent.is_none_or(|c| c.revoked_at.is_some()) {
            revoke_in_txn(state, &row.family_id).await?;
            state.denied.catch_up(&state.db).await?;
            return Err(invalid_grant());
        }
    }

    let access = issue::mint_access(
        state,
        &catalog,
        client,
        &user.id,
        &scope,
        Some(row.auth_time.timestamp()),
        jkt,
    )?;
    // OpenID Connect Core §12.2: a new ID token on refresh, same sub and auth_time, no nonce.
    let id_token = if has_openid(&scope) {
        Some(id_token::id_token(
            state,
            IdTokenInput {
                client,
                user: &user,
                scope: &scope,
                auth_time: row.auth_time.timestamp(),
                amr: row.amr.as_deref(),
                nonce: None,
                access_token: &access.jwt,
                sid: row.sid.as_deref(),
            },
        )?)
    } else {
        None
    };
    let (secret, mut new_row) = issue::new_refresh(
        client,
        &user.id,
        &granted_scope,
        &row.family_id,
        // The parent is the token presented (not the one rotated in its place by a grace
        // retry), so only that token may retry again within the window.
        Some(&row.id),
        row.auth_time,
        row.nonce.clone(),
        row.expires_at,
        &access,
        now,
        // The family keeps the key it was bound to at issuance; a public client's unbound
        // family is bound from now on to the key of the proof it refreshes with (RFC 9449
        // §5: a public client's refresh token issued with a proof is bound to its key).
        row.dpop_jkt
            .clone()
            .or_else(|| jkt.filter(|_| client.is_public).map(str::to_owned)),
    );
    new_row.amr = row.amr.clone();
    new_row.sid = row.sid.clone();

    let txn = store::begin_write(&state.db).await?;
    // Serialise with revocation on the family (issue #16, defect 1): a family revoked since
    // `row` was read, or being revoked now, gets no successor.
    if !store::tokens::hold_live_family(&*txn, &row.family_id).await? {
        txn.rollback().await.map_err(store::StoreError::from)?;
        return Err(invalid_grant());
    }
    if !store::tokens::mark_rotated(&*txn, &target.id, now).await? {
        // Another request rotated it first: two uses of one token, so treat as reuse.
        txn.rollback().await.map_err(store::StoreError::from)?;
        revoke_family(state, req, &row, AuditKind::RefreshTokenReused).await?;
        return Err(invalid_grant());
    }
    store::tokens::insert(&*txn, new_row).await?;
    txn.commit().await.map_err(store::StoreError::from)?;

    Ok(Issued {
        access_token: access.jwt,
        expires_in: access.expires_in,
        scope,
        refresh_token: Some(secret),
        id_token,
    })
}
