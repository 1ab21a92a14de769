//! The back-channel logout worker (OIDC Back-Channel Logout §2.5, §2.8), built like the
//! mail worker: claims due rows (one conditional update each, so of two instances exactly
//! one delivers a given logout), signs a fresh `logout_token` per attempt, POSTs it as
//! `application/x-www-form-urlencoded` `logout_token=…` under the logo fetcher's SSRF fence
//! (at most its 5 s per attempt, no redirects), deletes what was delivered, and schedules a
//! failure again after `2^(attempts-1)` seconds (at most [`store::outbox::MAX_BACKOFF`])
//! until `LATCH_BACKCHANNEL_MAX_ATTEMPTS`, then gives up on it. Claims and backoff are
//! timers, so they read the system clock, not the application's.

use std::sync::Arc;
use std::time::Duration;

use super::Backchannel;
use crate::clients::logo::Fetcher;
use crate::signing::Signer;
use crate::store::outbox::{BackchannelLogout, backoff};
use crate::store::{self, Db};

/// How long a claim lasts: longer than one attempt may take (the fetcher's 5 s), so a live
/// worker's claim never runs out under it.
pub const CLAIM: Duration = Duration::from_secs(60);
/// Wake-ups come from this instance's sign-outs; this poll finds other instances' rows and
/// retries that fell due.
const POLL: Duration = Duration::from_secs(1);
const BATCH: u64 = 20;
/// Attempts run concurrently within a pass, so one slow app does not hold up the others.
const PARALLEL: usize = 8;

/// What the worker needs; cheap to clone.
#[derive(Clone)]
pub struct Worker {
    pub db: Db,
    pub signer: Signer,
    pub issuer: String,
    pub fetcher: Fetcher,
    pub max_attempts: u32,
}

/// Start the worker; it stops when `bc` is stopped.
pub fn spawn(w: Worker, bc: &Backchannel) {
    let wake = bc.wake.clone();
    let stopped = bc.stopped.clone();
    tokio::spawn(async move {
        while !stopped.load(std::sync::atomic::Ordering::Relaxed) {
            if let Err(e) = pass(&w).await {
                tracing::warn!(error = ?e, "back-channel logout: pass failed; retrying");
            }
            tokio::select! {
                _ = tokio::time::sleep(POLL) => {}
                _ = wake.notified() => {}
            }
        }
    });
}

/// One pass over the due rows.
pub async fn pass(w: &Worker) -> Result<(), crate::errors::StoreError> {
    let now = store::now();
    let rows = store::outbox::due::<BackchannelLogout>(&w.db, now, BATCH).await?;
    let sem = Arc::new(tokio::sync::Semaphore::new(PARALLEL));
    let mut tasks = tokio::task::JoinSet::new();
    for row in rows {
        let until = now + chrono::TimeDelta::from_std(CLAIM).unwrap_or_default();
        if !store::outbox::claim::<BackchannelLogout>(&w.db, &row, now, until).await? {
            continue; // another instance has it
        }
        let w = w.clone();
        let sem = sem.clone();
        tasks.spawn(async move {
            let _permit = sem.acquire_owned().await;
            attempt(&w, row).await
        });
    }
    while let Some(r) = tasks.join_next().await {
        match r {
            Ok(Err(e)) => {
                tracing::warn!(error = ?e, "back-channel logout: could not record an attempt")
            }
            Err(e) => tracing::warn!(error = %e, "back-channel logout: attempt task failed"),
            Ok(Ok(())) => {}
        }
    }
    Ok(())
}

async fn attempt(
    w: &Worker,
    row: entity::backchannel_logout::Model,
) -> Result<(), crate::errors::StoreError> {
    let attempts = u32::try_from(row.attempts).unwrap_or(0).saturating_add(1);
    let client = store::clients::by_id(&w.db, &row.client_id).await?;
    let Some(uri) = client.and_then(|c| c.backchannel_logout_uri) else {
        // The app is gone or no longer asks to be told: nothing to deliver.
        store::outbox::delete::<BackchannelLogout>(&w.db, &row.id).await?;
        return Ok(());
    };
    let result = match super::logout_token(
        &w.signer,
        &w.issuer,
        &row.client_id,
        &row.user_id,
        row.sid.as_deref(),
    ) {
        Ok(token) => {
            let body = url::form_urlencoded::Serializer::new(String::new())
                .append_pair("logout_token", &token)
                .finish();
            w.fetcher
                .post_form(&uri, body, "Latch back-channel logout")
                .await
        }
        Err(e) => Err(format!("the logout token could not be signed: {e}")),
    };
    match result {
        Ok(()) => {
            store::outbox::delete::<BackchannelLogout>(&w.db, &row.id).await?;
            metrics::counter!("latch_backchannel_logout_delivered_total").increment(1);
        }
        Err(e) => {
            let e: String = e.chars().take(300).collect();
            metrics::counter!("latch_backchannel_logout_failed_attempts_total").increment(1);
            let next = (attempts < w.max_attempts).then(|| {
                store::now() + chrono::TimeDelta::from_std(backoff(attempts)).unwrap_or_default()
            });
            if next.is_none() {
                metrics::counter!("latch_backchannel_logout_given_up_total").increment(1);
                tracing::error!(logout = %row.id, client = %row.client_id, attempts, error = %e, "back-channel logout: giving up");
            } else {
                tracing::warn!(logout = %row.id, client = %row.client_id, attempts, error = %e, "back-channel logout: attempt failed; will retry");
            }
            store::outbox::failed::<BackchannelLogout>(&w.db, &row.id, &e, next, store::now())
                .await?;
        }
    }
    Ok(())
}
