//! The outbox queries that `mail_outbox` and `backchannel_logouts` share: rows inserted by
//! the request path (in the transaction of what they announce), claimed by one worker at a
//! time with a conditional update, so two instances never act on one row twice; deleted once
//! done, or given up on (`failed_at`) and pruned a while later. Each table implements
//! [`Outbox`] by naming its columns; the queries are written once, here, for both. Times here
//! are the system clock's: claims and backoff are timers, not expiry decisions.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
};

use super::StoreError;

/// The longest wait between two attempts.
pub const MAX_BACKOFF: Duration = Duration::from_secs(3600);

/// Delay before attempt `attempts + 1`, after `attempts` failed ones: `2^(attempts-1)`
/// seconds, at most [`MAX_BACKOFF`] (both workers' schedule).
pub fn backoff(attempts: u32) -> Duration {
    let exp = std::cmp::min(attempts.saturating_sub(1), 31);
    Duration::from_secs(1u64 << exp).min(MAX_BACKOFF)
}

/// The mail outbox (`store::mail_outbox` inserts into it).
pub type Mail = entity::mail_outbox::Entity;
/// The back-channel logout outbox (`store::backchannel_logouts` inserts into it).
pub type BackchannelLogout = entity::backchannel_logout::Entity;

/// A table built as an outbox: a string `id`, an `attempts` count, and the three times
/// `next_attempt_at`, `claimed_until` (nullable) and `failed_at` (nullable), with
/// `last_error` (nullable text).
pub trait Outbox: EntityTrait<Model: Sync> {
    const ID: Self::Column;
    const ATTEMPTS: Self::Column;
    const NEXT_ATTEMPT_AT: Self::Column;
    const CLAIMED_UNTIL: Self::Column;
    const LAST_ERROR: Self::Column;
    const FAILED_AT: Self::Column;

    fn row_id(row: &Self::Model) -> &str;
    fn row_attempts(row: &Self::Model) -> i32;
}

impl Outbox for Mail {
    const ID: Self::Column = entity::mail_outbox::Column::Id;
    const ATTEMPTS: Self::Column = entity::mail_outbox::Column::Attempts;
    const NEXT_ATTEMPT_AT: Self::Column = entity::mail_outbox::Column::NextAttemptAt;
    const CLAIMED_UNTIL: Self::Column = entity::mail_outbox::Column::ClaimedUntil;
    const LAST_ERROR: Self::Column = entity::mail_outbox::Column::LastError;
    const FAILED_AT: Self::Column = entity::mail_outbox::Column::FailedAt;

    fn row_id(row: &Self::Model) -> &str {
        &row.id
    }
    fn row_attempts(row: &Self::Model) -> i32 {
        row.attempts
    }
}

impl Outbox for BackchannelLogout {
    const ID: Self::Column = entity::backchannel_logout::Column::Id;
    const ATTEMPTS: Self::Column = entity::backchannel_logout::Column::Attempts;
    const NEXT_ATTEMPT_AT: Self::Column = entity::backchannel_logout::Column::NextAttemptAt;
    const CLAIMED_UNTIL: Self::Column = entity::backchannel_logout::Column::ClaimedUntil;
    const LAST_ERROR: Self::Column = entity::backchannel_logout::Column::LastError;
    const FAILED_AT: Self::Column = entity::backchannel_logout::Column::FailedAt;

    fn row_id(row: &Self::Model) -> &str {
        &row.id
    }
    fn row_attempts(row: &Self::Model) -> i32 {
        row.attempts
    }
}

/// Rows due for an attempt, oldest first: not given up on, due, and not claimed by a
/// worker whose claim is still running.
pub async fn due<E: Outbox>(
    db: &impl ConnectionTrait,
    now: DateTime<Utc>,
    limit: u64,
) -> Result<Vec<E::Model>, StoreError> {
    Ok(E::find()
        .filter(E::FAILED_AT.is_null())
        .filter(E::NEXT_ATTEMPT_AT.lte(now))
        .filter(E::CLAIMED_UNTIL.is_null().or(E::CLAIMED_UNTIL.lt(now)))
        .order_by_asc(E::NEXT_ATTEMPT_AT)
        .limit(limit)
        .all(db)
        .await?)
}

/// Claim one row until `until`, counting the attempt: one conditional update, so of two
/// workers that both saw the row due, exactly one gets `true`.
pub async fn claim<E: Outbox>(
    db: &impl ConnectionTrait,
    row: &E::Model,
    now: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let r = E::update_many()
        .col_expr(E::CLAIMED_UNTIL, Expr::value(Some(until)))
        .col_expr(E::ATTEMPTS, Expr::col(E::ATTEMPTS).add(1))
        .filter(E::ID.eq(E::row_id(row).to_owned()))
        .filter(E::ATTEMPTS.eq(E::row_attempts(row)))
        .filter(E::FAILED_AT.is_null())
        .filter(E::NEXT_ATTEMPT_AT.lte(now))
        .filter(E::CLAIMED_UNTIL.is_null().or(E::CLAIMED_UNTIL.lt(now)))
        .exec(db)
        .await?;
    Ok(r.rows_affected == 1)
}

/// Done (sent, delivered, or nothing left to do): the row goes, and with it whatever it
/// carried (a mail's sealed links).
pub async fn delete<E: Outbox>(db: &impl ConnectionTrait, id: &str) -> Result<(), StoreError> {
    E::delete_many()
        .filter(E::ID.eq(id.to_owned()))
        .exec(db)
        .await?;
    Ok(())
}

/// A failed attempt: try again at `next`, or give up (`next: None`).
pub async fn failed<E: Outbox>(
    db: &impl ConnectionTrait,
    id: &str,
    error: &str,
    next: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let mut q = E::update_many()
        .col_expr(E::CLAIMED_UNTIL, Expr::value(Option::<DateTime<Utc>>::None))
        .col_expr(E::LAST_ERROR, Expr::value(Some(error.to_owned())))
        .filter(E::ID.eq(id.to_owned()));
    q = match next {
        Some(at) => q.col_expr(E::NEXT_ATTEMPT_AT, Expr::value(at)),
        None => q.col_expr(E::FAILED_AT, Expr::value(Some(now))),
    };
    q.exec(db).await?;
    Ok(())
}

/// How many rows wait, and how many were given up on (the mail's for `/readyz`).
pub async fn counts<E: Outbox>(db: &impl ConnectionTrait) -> Result<(u64, u64), StoreError> {
    let pending = E::find().filter(E::FAILED_AT.is_null()).count(db).await?;
    let failed = E::find()
        .filter(E::FAILED_AT.is_not_null())
        .count(db)
        .await?;
    Ok((pending, failed))
}

/// Given-up rows older than `cutoff` (the sweeper; kept a while for the operator).
pub async fn prune_failed<E: Outbox>(
    db: &impl ConnectionTrait,
    cutoff: DateTime<Utc>,
) -> Result<u64, StoreError> {
    Ok(E::delete_many()
        .filter(E::FAILED_AT.lt(cutoff))
        .exec(db)
        .await?
        .rows_affected)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_one_second_and_caps() {
        assert_eq!(backoff(1), Duration::from_secs(1));
        assert_eq!(backoff(2), Duration::from_secs(2));
        assert_eq!(backoff(3), Duration::from_secs(4));
        assert_eq!(backoff(5), Duration::from_secs(16));
        assert_eq!(backoff(40), MAX_BACKOFF);
        assert_eq!(backoff(0), Duration::from_secs(1));
    }
}
