//! Periodic clean-up of rows that can no longer matter: expired deny-list entries,
//! expired authorization codes and refresh-token families past their absolute expiry.

use std::time::Duration;

use crate::store::Db;

pub const EVERY: Duration = Duration::from_secs(600);

pub fn spawn(db: Db, clock: crate::clock::Clock, audit_retention: chrono::TimeDelta) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(EVERY);
        loop {
            tick.tick().await;
            let now = clock.now();
            if let Err(e) = sweep(&db, now, audit_retention).await {
                tracing::warn!(error = ?e, "sweeping expired rows failed");
            }
        }
    });
}

/// One pass: expired deny-list rows, codes and families; idempotency records past 24 h;
/// device authorizations a day past their expiry;
/// audit events past retention (`LATCH_AUDIT_RETENTION_DAYS`).
pub async fn sweep(
    db: &Db,
    now: chrono::DateTime<chrono::Utc>,
    audit_retention: chrono::TimeDelta,
) -> Result<(), crate::errors::StoreError> {
    crate::store::tokens::sweep(db, now).await?;
    crate::store::pushed_requests::sweep(db, now - chrono::Duration::hours(1)).await?;
    crate::store::client_assertions::sweep(db, now).await?;
    crate::store::registration_tokens::sweep(db, now - chrono::Duration::days(1)).await?;
    // Proof windows are on the system clock (JWT `iat`), not the app clock.
    crate::store::dpop_proofs::sweep(db, crate::store::now()).await?;
    crate::api::idempotency::sweep(db, now).await?;
    // A session record not seen for longer than the longest LATCH_SESSION_TTL (30 days)
    // belongs to a session that has expired whatever the setting.
    crate::store::browser_sessions::delete_seen_before(db, now - chrono::TimeDelta::days(30))
        .await?;
    // Device authorizations (RFC 8628) a day past their 10 minutes: their user codes are
    // unique, so expired ones must not pile up.
    crate::store::device_codes::delete_expired(db, now - chrono::TimeDelta::days(1)).await?;
    let cutoff = now - audit_retention;
    crate::store::audit::prune(db, cutoff).await?;
    notify_expiring_keys(db, now).await?;
    // Mailed links a day past expiry; mails given up on, kept a week for the operator.
    crate::store::user_tokens::prune(db, now - chrono::TimeDelta::days(1)).await?;
    crate::store::outbox::prune_failed::<crate::store::outbox::Mail>(
        db,
        crate::store::now() - chrono::TimeDelta::days(7),
    )
    .await?;
    // Back-channel logout: records of sessions that have expired whatever the setting (as
    // above), and logouts given up on, kept a week for the operator.
    crate::store::session_clients::delete_before(db, now - chrono::TimeDelta::days(30)).await?;
    crate::store::outbox::prune_failed::<crate::store::outbox::BackchannelLogout>(
        db,
        crate::store::now() - chrono::TimeDelta::days(7),
    )
    .await?;
    Ok(())
}

/// `api_key.expiring` for keys that expire within 7 days, then within 1 day: once per
/// threshold per key (`api_key.expiry_notice` holds the last threshold sent, set by a
/// conditional update, so two instances sweeping at once send it once).
pub async fn notify_expiring_keys(
    db: &Db,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(), crate::errors::StoreError> {
    use crate::audit::{AuditKind, Event};
    // The nearer threshold first: a key already within a day gets that notice, not both.
    for days in [1, 7] {
        let until = now + chrono::Duration::days(i64::from(days));
        for k in crate::store::api_keys::expiring(db, now, until, days).await? {
            if !crate::store::api_keys::mark_notice(db, &k.id, days).await? {
                continue;
            }
            Event::new(AuditKind::ApiKeyExpiring)
                .user(&k.user_id)
                .detail(serde_json::json!({
                    "api_key": k.id,
                    "name": k.name,
                    "redacted": crate::api_keys::redacted(&k),
                    "livemode": k.livemode,
                    "expires_at": k.expires_at.map(|t| t.timestamp()),
                    "days": days,
                }))
                .record(db)
                .await?;
        }
    }
    Ok(())
}

/// Let full in-process buckets go, so memory follows the active keys only.
pub fn spawn_limiter_pruning(limiter: std::sync::Arc<crate::rate_limit::Limiter>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        loop {
            tick.tick().await;
            limiter.prune();
        }
    });
}

/// Keep this instance's deny-list replica current: everything live at start-up, then every
/// `DENY_SYNC` the rows revoked since the last successful pass (`DenyList::sync_pass`), so
/// an outage of any length is caught up on when the database is back.
pub async fn start_deny_sync(
    db: Db,
    denied: std::sync::Arc<crate::store::tokens::DenyList>,
) -> Result<(), crate::errors::StoreError> {
    denied.sync_pass(&db, crate::store::now()).await?;
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(crate::store::tokens::DENY_SYNC);
        let mut n: u64 = 0;
        loop {
            tick.tick().await;
            let now = crate::store::now();
            if let Err(e) = denied.sync_pass(&db, now).await {
                tracing::warn!(error = ?e, "deny-list sync failed; retrying");
            }
            n += 1;
            if n.is_multiple_of(60) {
                denied.prune(now);
            }
        }
    });
    Ok(())
}
