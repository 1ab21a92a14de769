//! The authorization code grant (RFC 6749 §4.1.3, RFC 7636 §4.6).
//!
//! Every binding (client, redirect URI, PKCE verifier, expiry) is checked before the code
//! is consumed, so a request with wrong parameters neither burns the code nor, for a code
//! already used, revokes anything (OAuth 2.1 §7.5.2: no DoS lever). Consuming the code and
//! storing the refresh token it issues are all or nothing (one statement on PostgreSQL, one
//! write transaction on SQLite: `store::codes::consume_and_issue`); the response is sent
//! after commit. An exchange costs PostgreSQL two statements: the code read (with its user)
//! and that write, and exchanges arriving together share both (the reads grouped into one
//! `SELECT … WHERE code_hash = ANY(…)`; the writes group-committed: one statement and one WAL
//! flush for the batch; each exchange told its own outcome).

use actix_web::HttpRequest;
use entity::{authorization_code, client};
use serde_json::json;

use super::super::issue::{self, Issued};
use super::super::request::CodeRequest;
use crate::audit::{AuditKind, Event};
use crate::authorize::pkce;
use crate::crypto;
use crate::dpop::Proof;
use crate::errors::OAuthError;
use crate::grant_type::GrantType;
use crate::middleware::ClientIp;
use crate::oauth::id_token::{self, IdTokenInput, has_openid};
use crate::scope::ScopeSet;
use crate::state::AppState;
use crate::store;

fn invalid_grant() -> OAuthError {
    OAuthError::invalid_grant(
        "The authorization code is invalid, expired, already used, or was issued to another client",
    )
}

/// RFC 6749 §4.1.3: "ensure that the redirect_uri parameter is present if [it] was included
/// in the initial authorization request, and if included ensure that their values are identical".
fn check_redirect(
    row: &authorization_code::Model,
    redirect_uri: Option<&str>,
) -> Result<(), OAuthError> {
    match redirect_uri {
        Some(r) if r == row.redirect_uri => Ok(()),
        Some(_) => Err(OAuthError::invalid_grant(
            "redirect_uri does not match the authorization request",
        )),
        None if row.redirect_uri_sent => Err(OAuthError::invalid_grant(
            "redirect_uri is required because the authorization request included it",
        )),
        None => Ok(()),
    }
}

/// RFC 7636 §4.6; RFC 9700 §2.1.1 (a verifier for a code issued without a challenge is a
/// downgrade attempt and is refused).
fn check_pkce(
    row: &authorization_code::Model,
    code_verifier: Option<&str>,
) -> Result<(), OAuthError> {
    match (&row.code_challenge, code_verifier) {
        (Some(challenge), Some(verifier)) if pkce::verify(verifier, challenge) => Ok(()),
        (Some(_), Some(_)) => Err(OAuthError::invalid_grant(
            "The code_verifier does not match the code_challenge",
        )),
        (Some(_), None) => Err(OAuthError::invalid_grant("The code_verifier is required")),
        (None, Some(_)) => Err(OAuthError::invalid_grant(
            "A code_verifier was sent for a code issued without a code_challenge",
        )),
        (None, None) => Ok(()),
    }
}

/// RFC 6749 §4.1.2: a code used twice is refused and what it issued is revoked.
async fn revoke_what_it_issued(
    state: &AppState,
    req: &HttpRequest,
    row: &authorization_code::Model,
) -> Result<(), OAuthError> {
    let now = state.clock.now();
    // One write transaction, and the family revoked the way a refresh-token reuse revokes
    // it, so a rotation racing with this replay cannot leave a live successor (issue #16,
    // defect 1).
    let txn = store::begin_write(&state.db).await?;
    if let (Some(jti), Some(exp)) = (&row.access_token_jti, row.access_token_expires_at) {
        store::tokens::deny(&*txn, jti, exp, now).await?;
    }
    if let Some(family) = &row.family_id {
        store::tokens::revoke_family(&*txn, family, now).await?;
    }
    txn.commit().await.map_err(store::StoreError::from)?;
    // Effective on this instance at once (others within the deny-list sync).
    state.denied.catch_up(&state.db).await?;
    Event::new(AuditKind::AuthorizationCodeReused)
        .user(&row.user_id)
        .actor(Some(&row.client_id))
        .client_ip(ClientIp::of(req))
        .detail(json!({"client_id": row.client_id}))
        .record(&state.db)
        .await?;
    tracing::warn!(client_id = %row.client_id, "authorization code replayed; revoked the tokens it issued");
    Ok(())
}

pub async fn exchange(
    state: &AppState,
    req: &HttpRequest,
    client: &client::Model,
    r: CodeRequest<'_>,
    dpop: Option<&Proof>,
) -> Result<Issued, OAuthError> {
    let code = r.code;
    if !crypto::check_secret(code, "ac_") {
        return Err(invalid_grant());
    }
    let hash = crypto::sha256_hex(code);
    // The code and its user in one query (one round trip, shared with the exchanges that
    // arrive meanwhile on PostgreSQL; the user is checked below, after the replay and
    // expiry checks, as before).
    let (row, user) = store::codes::read_for_exchange(&state.db, &state.code_reads, &hash)
        .await?
        .ok_or_else(invalid_grant)?;
    // RFC 6749 §4.1.3: the code must have been issued to the authenticated client.
    if row.client_id != client.id {
        return Err(invalid_grant());
    }
    check_redirect(&row, r.redirect_uri)?;
    check_pkce(&row, r.code_verifier)?;
    // RFC 9449 §10: a code bound with `dpop_jkt` is redeemed only with a proof by that key
    // (checked before consumption: a wrong proof burns nothing).
    if let Some(bound) = &row.dpop_jkt
        && dpop.is_none_or(|p| &p.jkt != bound)
    {
        return Err(OAuthError::invalid_dpop_proof(
            "The authorization request bound this code to another DPoP key (dpop_jkt)",
        ));
    }
    let jkt = dpop.map(|p| p.jkt.as_str());
    if row.consumed_at.is_some() {
        revoke_what_it_issued(state, req, &row).await?;
        return Err(invalid_grant());
    }
    let now = state.clock.now();
    if row.expires_at <= now {
        return Err(invalid_grant());
    }
    let user = user.ok_or_else(invalid_grant)?;
    if user.disabled_at.is_some() {
        return Err(invalid_grant());
    }

    // RFC 8707 §2.2: `resource` narrows this access token; the refresh token keeps the
    // whole grant. Checked before the code is consumed, so a wrong resource burns nothing.
    let catalog = state.catalog.get();
    let grant = ScopeSet::stored(&row.scope);
    let scope =
        issue::narrow_to_resources(&catalog, r.resources, &grant, grant.clone())?.to_string();

    // Sign before the transaction so the write lock is held as briefly as possible.
    let access = issue::mint_access(
        state,
        &catalog,
        client,
        &user.id,
        &scope,
        Some(row.auth_time.timestamp()),
        jkt,
    )?;
    // OpenID Connect Core §3.1.3.3: an ID token when `openid` was granted.
    let id_token = if has_openid(&row.scope) {
        Some(id_token::id_token(
            state,
            IdTokenInput {
                client,
                user: &user,
                scope: &row.scope,
                auth_time: row.auth_time.timestamp(),
                amr: row.amr.as_deref(),
                nonce: row.nonce.as_deref(),
                access_token: &access.jwt,
                sid: row.sid.as_deref(),
            },
        )?)
    } else {
        None
    };
    let refresh = GrantType::stored(&client.grant_types)
        .any(|g| g == GrantType::RefreshToken)
        .then(|| {
            let family = crypto::new_id("fam");
            let ttl = state.settings.refresh_token_ttl;
            let (secret, mut rt) = issue::new_refresh(
                client,
                &user.id,
                &row.scope,
                &family,
                None,
                row.auth_time,
                row.nonce.clone(),
                now + ttl,
                &access,
                now,
                // RFC 9449 §5: a public client's refresh tokens are bound to the key (a
                // confidential client's are bound to its credentials already).
                jkt.filter(|_| client.is_public).map(str::to_owned),
            );
            rt.amr = row.amr.clone();
            rt.sid = row.sid.clone();
            (secret, rt, family)
        });

    let issued = store::codes::Issued {
        family_id: refresh.as_ref().map(|(_, _, f)| f.as_str()),
        jti: &access.jti,
        access_expires: access.expires_at,
    };
    // Consume the code and store the family's first refresh token, all or nothing: one
    // statement on PostgreSQL, one write transaction on SQLite (`consume_and_issue`).
    let rt = refresh.as_ref().map(|(_, rt, _)| rt);
    if !store::codes::consume_and_issue(&state.db, &state.codes, &hash, &client.id, now, issued, rt)
        .await?
    {
        // Lost a race with another redemption (it committed first): a replay.
        if let Some(row) = store::codes::by_hash(&state.db, &hash).await?
            && row.consumed_at.is_some()
        {
            revoke_what_it_issued(state, req, &row).await?;
        }
        return Err(invalid_grant());
    }
    // OIDC Back-Channel Logout §2.1: this app now has tokens from that browser session.
    // After the code's one statement, and best effort: the tokens are issued already, and
    // failing the request now would make the client's retry a replay that revokes them.
    if let Some(sid) = &row.sid
        && let Err(e) =
            store::session_clients::record(&state.db, sid, &client.id, &user.id, now).await
    {
        tracing::warn!(error = %e, client_id = %client.id, "session_client not recorded; this app will get no back-channel logout for the session");
    }

    Ok(Issued {
        access_token: access.jwt,
        expires_in: access.expires_in,
        scope,
        refresh_token: refresh.map(|(s, _, _)| s),
        id_token,
    })
}
