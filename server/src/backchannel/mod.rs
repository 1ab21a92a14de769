//! OpenID Connect Back-Channel Logout 1.0: telling apps that a browser session ended.
//!
//! - The session's **public `sid`** ([`public_sid`]) is what ID tokens and logout tokens
//!   carry (§2.1, §2.4). It is derived one-way from the browser session's id (SHA-256 under a
//!   fixed label), never the id itself: that id keys the deny-list entry and the Settings
//!   list, and an app (or anyone an ID token leaks to) must learn nothing that names the
//!   session on our side.
//! - Which apps had the session: the authorization-code grant records
//!   `store::session_clients` (sid, client, user) when it redeems a code issued in a browser
//!   session.
//! - Whenever a session ends — sign-out, RP-initiated logout, ending a session from
//!   Settings (`session`), a password change or reset, an admin disabling the account
//!   (`users`) — [`sessions_ended`] or [`user_sessions_ended`] takes those rows and inserts
//!   one `backchannel_logout` row per app that has a `backchannel_logout_uri`, in the
//!   caller's transaction when it has one.
//! - [`worker`] delivers them off the request path (§2.5): a `logout_token` signed at each
//!   attempt (short `exp`), POSTed under the logo fetcher's SSRF fence with a bounded time,
//!   retried with backoff up to `LATCH_BACKCHANNEL_MAX_ATTEMPTS`, counted in `/metrics`
//!   (`latch_backchannel_logout_*`). A restart loses nothing: rows stay until delivered.

pub mod worker;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use chrono::{DateTime, Utc};
use serde_json::json;

use crate::config::SigningAlg;
use crate::crypto;
use crate::errors::StoreError;
use crate::signing::Signer;
use crate::store::{self, Conn};

/// The `events` member of a logout token (Back-Channel Logout §2.4).
pub const EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";
/// The `typ` header of a logout token (§2.4: explicit typing, RFC 8725 §3.11).
pub const TYP: &str = "logout+jwt";
/// A logout token's lifetime (§2.4 recommends at most two minutes).
pub const TOKEN_TTL_SECS: i64 = 120;

/// The public `sid` of the browser session `session_id` (see the module doc).
pub fn public_sid(session_id: &str) -> String {
    let d = crypto::sha256(format!("latch oidc sid v1\0{session_id}").as_bytes());
    crypto::b64url(&d[..24])
}

/// The worker's wake-up and stop flag (in `AppState`).
#[derive(Default)]
pub struct Backchannel {
    wake: Arc<tokio::sync::Notify>,
    stopped: Arc<AtomicBool>,
}

impl Backchannel {
    /// New rows are waiting: the worker looks now rather than at its next poll.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// This instance stops: the worker ends after its current pass; what is left waits in
    /// the table for another instance (a claim in progress runs out, [`worker::CLAIM`]).
    pub fn stop(&self) {
        self.stopped.store(true, Ordering::Relaxed);
        self.wake.notify_one();
    }
}

/// The sessions `sids` (public) ended: queue a logout for each app that had one of them
/// and has a `backchannel_logout_uri`. Returns how many were queued.
pub async fn sessions_ended(
    db: &impl Conn,
    sids: &[String],
    now: DateTime<Utc>,
) -> Result<usize, StoreError> {
    let rows = store::session_clients::take_for_sessions(db, sids).await?;
    queue(db, rows, now).await
}

/// Every session of the account ended (password change or reset, disablement).
pub async fn user_sessions_ended(
    db: &impl Conn,
    user_id: &str,
    now: DateTime<Utc>,
) -> Result<usize, StoreError> {
    let rows = store::session_clients::take_for_user(db, user_id).await?;
    queue(db, rows, now).await
}

async fn queue(
    db: &impl Conn,
    rows: Vec<entity::session_client::Model>,
    now: DateTime<Utc>,
) -> Result<usize, StoreError> {
    let mut n = 0;
    for r in rows {
        let Some(c) = store::clients::by_id(db, &r.client_id).await? else {
            continue;
        };
        if c.backchannel_logout_uri.is_none() {
            continue;
        }
        store::backchannel_logouts::insert(
            db,
            store::backchannel_logouts::NewLogout {
                id: &crypto::new_id("bcl"),
                client_id: &r.client_id,
                user_id: &r.user_id,
                sid: Some(&r.sid),
                now,
            },
        )
        .await?;
        n += 1;
    }
    Ok(n)
}

/// A signed logout token (Back-Channel Logout §2.4) for `client_id` about `sub` and `sid`:
/// `iss`, `aud`, `iat`, a short `exp`, a fresh `jti`, `sub`, `sid` and `events`; never a
/// `nonce` (§2.4, so it cannot pass for an ID token); header `typ: logout+jwt`. Signed with
/// the RS256 key that signs ID tokens, so an app verifies both the same way.
pub fn logout_token(
    signer: &Signer,
    issuer: &str,
    client_id: &str,
    sub: &str,
    sid: Option<&str>,
) -> Result<String, anyhow::Error> {
    let key = signer
        .current_of(SigningAlg::RS256)
        .ok_or_else(|| anyhow::anyhow!("no RS256 key for logout tokens"))?;
    let now = Utc::now().timestamp();
    let mut claims = json!({
        "iss": issuer,
        "aud": client_id,
        "iat": now,
        "exp": now + TOKEN_TTL_SECS,
        "jti": crypto::new_id("lt"),
        "sub": sub,
        "events": { EVENT: {} },
    });
    if let Some(sid) = sid {
        claims["sid"] = json!(sid);
    }
    key.sign_typed(TYP, &claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_sid_is_stable_and_does_not_contain_the_session_id() {
        let a = public_sid("abcDEF123");
        assert_eq!(a, public_sid("abcDEF123"));
        assert_ne!(a, public_sid("abcDEF124"));
        assert!(!a.contains("abcDEF123"));
        assert_eq!(a.len(), 32);
    }
}
