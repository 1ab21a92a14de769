//! Logos that follow their image (issue #15): each stored logo is checked again every
//! `LATCH_LOGO_REFRESH` (default 24 h) by a background refresher on every instance.
//!
//! - A pass takes at most [`BATCH`] logos last checked a period ago or more, and claims each
//!   with one conditional update of `checked_at` (`store::client_logos::claim`), so of
//!   several instances (or two passes) exactly one checks a given logo. The claim is also
//!   the schedule: whatever the outcome, the next check is a period later.
//! - The check is a conditional GET (RFC 9110 §13.1): the `ETag` the app's server gave as
//!   `If-None-Match`, its `Last-Modified` as `If-Modified-Since`. `304 Not Modified` changes
//!   nothing and downloads nothing.
//! - Otherwise the image goes through the same fence and checks as the first fetch
//!   ([`super::logo`]: public addresses, 5 s, 3 redirects, 256 KiB, PNG/JPEG/GIF/WebP whose
//!   bytes match the declared type). A new image replaces the stored one — its digest names
//!   the URL it is served under, so browsers load the new one — unless the app was saved
//!   with another logo meanwhile (the replacement is conditional on the digest seen).
//! - A failure (network, HTTP error, not an image) keeps the stored logo, logs a warning
//!   naming the client and why (never the URL, which may carry a token), and is tried again
//!   next period.
//!
//! Due-ness reads the application clock (`AppState::clock`), so tests move time.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

use super::logo::Fetcher;
use crate::errors::StoreError;
use crate::store::{self, Db};

/// The most logos one pass checks (the rest wait for the next pass, a minute later).
pub const BATCH: u64 = 32;
/// Checks run concurrently within a pass, so one slow server does not hold up the others.
const PARALLEL: usize = 4;
/// How often each instance looks for due logos.
pub const POLL: Duration = Duration::from_secs(60);

/// What one pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Pass {
    /// Logos this pass claimed and checked.
    pub checked: usize,
    /// Of those, replaced by a new image.
    pub changed: usize,
    /// Answered `304`, or the same bytes again.
    pub unchanged: usize,
    /// The fetch failed: the stored logo is kept.
    pub failed: usize,
}

/// What checking one logo came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Changed,
    Unchanged,
    Failed,
    /// The app no longer has a `logo_uri` (or is gone): the stale logo was removed.
    Dropped,
}

/// Start the refresher: a pass every [`POLL`] over the logos due by the app clock.
pub fn spawn(db: Db, fetcher: Fetcher, clock: crate::clock::Clock, every: TimeDelta) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(POLL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(e) = pass(&db, &fetcher, clock.now(), every).await {
                tracing::warn!(error = ?e, "logo refresh: pass failed; retrying");
            }
        }
    });
}

/// One pass: claim and check at most [`BATCH`] logos last checked `every` or longer before
/// `now`.
pub async fn pass(
    db: &Db,
    fetcher: &Fetcher,
    now: DateTime<Utc>,
    every: TimeDelta,
) -> Result<Pass, StoreError> {
    let cutoff = now - every;
    let due = store::client_logos::due(db, cutoff, BATCH).await?;
    let sem = std::sync::Arc::new(tokio::sync::Semaphore::new(PARALLEL));
    let mut tasks = tokio::task::JoinSet::new();
    let mut report = Pass::default();
    for client_id in due {
        if !store::client_logos::claim(db, &client_id, cutoff, now).await? {
            continue; // another refresher has it
        }
        report.checked += 1;
        let (db, fetcher, sem) = (db.clone(), *fetcher, sem.clone());
        tasks.spawn(async move {
            let _permit = sem.acquire_owned().await;
            check(&db, &fetcher, &client_id).await
        });
    }
    while let Some(r) = tasks.join_next().await {
        match r {
            Ok(Ok(Outcome::Changed)) => report.changed += 1,
            Ok(Ok(Outcome::Unchanged)) => report.unchanged += 1,
            Ok(Ok(Outcome::Failed)) => report.failed += 1,
            Ok(Ok(Outcome::Dropped)) => {}
            Ok(Err(e)) => {
                report.failed += 1;
                tracing::warn!(error = ?e, "logo refresh: could not record a check");
            }
            Err(e) => {
                report.failed += 1;
                tracing::warn!(error = %e, "logo refresh: check task failed");
            }
        }
    }
    if report.checked > 0 {
        metrics::counter!("latch_logo_refresh_changed_total").increment(report.changed as u64);
        metrics::counter!("latch_logo_refresh_failed_total").increment(report.failed as u64);
    }
    Ok(report)
}

/// Check one claimed logo against its app's `logo_uri`.
async fn check(db: &Db, fetcher: &Fetcher, client_id: &str) -> Result<Outcome, StoreError> {
    let Some(stored) = store::client_logos::by_client(db, client_id).await? else {
        return Ok(Outcome::Dropped);
    };
    let uri = store::clients::by_id(db, client_id)
        .await?
        .and_then(|c| c.logo_uri);
    let Some(uri) = uri else {
        store::client_logos::delete(db, client_id).await?;
        return Ok(Outcome::Dropped);
    };
    let fetched = fetcher
        .fetch_if_changed(
            &uri,
            stored.etag.as_deref(),
            stored.last_modified.as_deref(),
        )
        .await;
    match fetched {
        Ok(None) => Ok(Outcome::Unchanged),
        Ok(Some(l)) if l.digest == stored.digest => {
            // The same bytes: keep new validators so the next check can be conditional.
            store::client_logos::set_validators(
                db,
                client_id,
                &stored.digest,
                l.etag,
                l.last_modified,
            )
            .await?;
            Ok(Outcome::Unchanged)
        }
        Ok(Some(l)) => {
            let row = super::logo_row(client_id, l, store::now());
            if store::client_logos::replace_if(db, &stored.digest, row).await? {
                tracing::info!(client = %client_id, "logo refresh: the image changed; replaced");
                Ok(Outcome::Changed)
            } else {
                // The app was saved with another logo meanwhile: that one stands.
                Ok(Outcome::Unchanged)
            }
        }
        Err(why) => {
            tracing::warn!(client = %client_id, why = %why, "logo refresh: could not fetch the logo; the stored one is kept");
            Ok(Outcome::Failed)
        }
    }
}
