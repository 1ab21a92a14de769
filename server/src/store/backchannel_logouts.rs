//! The back-channel logout outbox (`backchannel::worker`), built like the mail outbox:
//! rows inserted where a session ends (in its transaction when it has one), claimed by one
//! worker at a time with a conditional update, so two instances never deliver one logout
//! twice; deleted once delivered. Times here are the system clock's: claims and backoff are
//! timers, not expiry decisions.

use chrono::{DateTime, Utc};
use entity::backchannel_logout::{self, ActiveModel, Column, Entity};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect,
};

use super::StoreError;

pub struct NewLogout<'a> {
    pub id: &'a str,
    pub client_id: &'a str,
    pub user_id: &'a str,
    pub sid: Option<&'a str>,
    pub now: DateTime<Utc>,
}

pub async fn insert(db: &impl ConnectionTrait, m: NewLogout<'_>) -> Result<(), StoreError> {
    Entity::insert(ActiveModel {
        id: Set(m.id.to_owned()),
        client_id: Set(m.client_id.to_owned()),
        user_id: Set(m.user_id.to_owned()),
        sid: Set(m.sid.map(str::to_owned)),
        attempts: Set(0),
        next_attempt_at: Set(m.now),
        claimed_until: Set(None),
        last_error: Set(None),
        failed_at: Set(None),
        created_at: Set(m.now),
    })
    .exec_without_returning(db)
    .await?;
    Ok(())
}

/// Rows due for an attempt, oldest first: not given up on, due, and not claimed by a
/// worker whose claim is still running.
pub async fn due(
    db: &impl ConnectionTrait,
    now: DateTime<Utc>,
    limit: u64,
) -> Result<Vec<backchannel_logout::Model>, StoreError> {
    Ok(Entity::find()
        .filter(Column::FailedAt.is_null())
        .filter(Column::NextAttemptAt.lte(now))
        .filter(
            Column::ClaimedUntil
                .is_null()
                .or(Column::ClaimedUntil.lt(now)),
        )
        .order_by_asc(Column::NextAttemptAt)
        .limit(limit)
        .all(db)
        .await?)
}

/// Claim one row until `until`, counting the attempt: one conditional update, so of two
/// workers that both saw the row due, exactly one gets `true`.
pub async fn claim(
    db: &impl ConnectionTrait,
    row: &backchannel_logout::Model,
    now: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let r = Entity::update_many()
        .col_expr(Column::ClaimedUntil, Expr::value(Some(until)))
        .col_expr(Column::Attempts, Expr::col(Column::Attempts).add(1))
        .filter(Column::Id.eq(row.id.clone()))
        .filter(Column::Attempts.eq(row.attempts))
        .filter(Column::FailedAt.is_null())
        .filter(Column::NextAttemptAt.lte(now))
        .filter(
            Column::ClaimedUntil
                .is_null()
                .or(Column::ClaimedUntil.lt(now)),
        )
        .exec(db)
        .await?;
    Ok(r.rows_affected == 1)
}

/// Delivered: the row goes.
pub async fn delete(db: &impl ConnectionTrait, id: &str) -> Result<(), StoreError> {
    Entity::delete_by_id(id.to_owned()).exec(db).await?;
    Ok(())
}

/// A failed attempt: try again at `next`, or give up (`next: None`).
pub async fn failed(
    db: &impl ConnectionTrait,
    id: &str,
    error: &str,
    next: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let mut q = Entity::update_many()
        .col_expr(
            Column::ClaimedUntil,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .col_expr(Column::LastError, Expr::value(Some(error.to_owned())))
        .filter(Column::Id.eq(id.to_owned()));
    q = match next {
        Some(at) => q.col_expr(Column::NextAttemptAt, Expr::value(at)),
        None => q.col_expr(Column::FailedAt, Expr::value(Some(now))),
    };
    q.exec(db).await?;
    Ok(())
}

/// How many logouts wait to be delivered, and how many were given up on.
pub async fn counts(db: &impl ConnectionTrait) -> Result<(u64, u64), StoreError> {
    let pending = Entity::find()
        .filter(Column::FailedAt.is_null())
        .count(db)
        .await?;
    let failed = Entity::find()
        .filter(Column::FailedAt.is_not_null())
        .count(db)
        .await?;
    Ok((pending, failed))
}

/// Given-up rows older than `cutoff` (the sweeper; kept a while for the operator).
pub async fn prune_failed(
    db: &impl ConnectionTrait,
    cutoff: DateTime<Utc>,
) -> Result<u64, StoreError> {
    Ok(Entity::delete_many()
        .filter(Column::FailedAt.lt(cutoff))
        .exec(db)
        .await?
        .rows_affected)
}
