//! Device authorizations (RFC 8628 §3.2). Each decision and the redemption is one atomic
//! `UPDATE … WHERE` on the row's state, so a code is approved or denied once and redeemed
//! once even with two instances racing (as authorization codes, SECURITY.md §5.3).

use chrono::{DateTime, Utc};
use entity::device_code::{self, Column, Entity};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter};

use super::StoreError;

pub async fn insert(db: &impl ConnectionTrait, m: device_code::Model) -> Result<(), StoreError> {
    Entity::insert(m.into_active_model())
        .exec_without_returning(db)
        .await?;
    Ok(())
}

pub async fn by_hash(
    db: &impl ConnectionTrait,
    device_code_hash: &str,
) -> Result<Option<device_code::Model>, StoreError> {
    Ok(Entity::find()
        .filter(Column::DeviceCodeHash.eq(device_code_hash))
        .one(db)
        .await?)
}

/// The live authorization with this user code (normalised: 8 letters, no dash): not
/// expired, not yet decided.
pub async fn pending_by_user_code(
    db: &impl ConnectionTrait,
    user_code: &str,
    now: DateTime<Utc>,
) -> Result<Option<device_code::Model>, StoreError> {
    Ok(Entity::find()
        .filter(Column::UserCode.eq(user_code))
        .filter(Column::ExpiresAt.gt(now))
        .filter(Column::ApprovedAt.is_null())
        .filter(Column::DeniedAt.is_null())
        .one(db)
        .await?)
}

/// Record a poll at `now`, with the interval it leaves (raised on `slow_down`).
pub async fn polled(
    db: &impl ConnectionTrait,
    id: &str,
    now: DateTime<Utc>,
    interval_secs: i32,
) -> Result<(), StoreError> {
    Entity::update_many()
        .col_expr(Column::LastPolledAt, Expr::value(now))
        .col_expr(Column::IntervalSecs, Expr::value(interval_secs))
        .filter(Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

/// The person's decision, once: `scope` is what they granted (on approval). `false` when
/// the code was decided meanwhile or has expired.
pub async fn decide(
    db: &impl ConnectionTrait,
    id: &str,
    user_id: &str,
    auth_time: DateTime<Utc>,
    approved: bool,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let at = if approved {
        Column::ApprovedAt
    } else {
        Column::DeniedAt
    };
    let r = Entity::update_many()
        .col_expr(at, Expr::value(now))
        .col_expr(Column::UserId, Expr::value(user_id.to_owned()))
        .col_expr(Column::AuthTime, Expr::value(auth_time))
        .filter(Column::Id.eq(id))
        .filter(Column::ApprovedAt.is_null())
        .filter(Column::DeniedAt.is_null())
        .filter(Column::ExpiresAt.gt(now))
        .exec(db)
        .await?;
    Ok(r.rows_affected == 1)
}

/// Redeem an approved code, once (RFC 8628 §3.5 with RFC 6749 §4.1.2's single use).
pub async fn consume(
    db: &impl ConnectionTrait,
    id: &str,
    client_id: &str,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let r = Entity::update_many()
        .col_expr(Column::ConsumedAt, Expr::value(now))
        .filter(Column::Id.eq(id))
        .filter(Column::ClientId.eq(client_id))
        .filter(Column::ApprovedAt.is_not_null())
        .filter(Column::ConsumedAt.is_null())
        .filter(Column::ExpiresAt.gt(now))
        .exec(db)
        .await?;
    Ok(r.rows_affected == 1)
}

/// Delete authorizations that expired before `cutoff` (housekeeping).
pub async fn delete_expired(
    db: &impl ConnectionTrait,
    cutoff: DateTime<Utc>,
) -> Result<u64, StoreError> {
    Ok(Entity::delete_many()
        .filter(Column::ExpiresAt.lt(cutoff))
        .exec(db)
        .await?
        .rows_affected)
}

/// Record how the person who approved had signed in (OIDC Core §2 `amr`), with the
/// approval (same transaction as [`decide`]), for the ID token the device gets.
pub async fn set_amr(db: &impl ConnectionTrait, id: &str, amr: &str) -> Result<(), StoreError> {
    Entity::update_many()
        .col_expr(Column::Amr, Expr::value(Some(amr.to_owned())))
        .filter(Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}
