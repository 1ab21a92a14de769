//! Two-step sign-in rows: the `totp_factor` of an account and its `recovery_code`s.

use chrono::{DateTime, Utc};
use entity::{recovery_code, totp_factor};
use sea_orm::sea_query::{Condition, Expr, OnConflict};
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};

use super::StoreError;

pub async fn factor(
    db: &impl ConnectionTrait,
    user_id: &str,
) -> Result<Option<totp_factor::Model>, StoreError> {
    Ok(totp_factor::Entity::find_by_id(user_id.to_owned())
        .one(db)
        .await?)
}

/// Whether the account has a confirmed authenticator.
pub async fn enabled(db: &impl ConnectionTrait, user_id: &str) -> Result<bool, StoreError> {
    Ok(factor(db, user_id)
        .await?
        .is_some_and(|f| f.confirmed_at.is_some()))
}

/// Start (or restart) a set-up: an unconfirmed secret. A confirmed factor is never
/// replaced this way (it must be removed first).
pub async fn put_pending(
    db: &impl ConnectionTrait,
    user_id: &str,
    secret_sealed: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    totp_factor::Entity::delete_many()
        .filter(totp_factor::Column::UserId.eq(user_id))
        .filter(totp_factor::Column::ConfirmedAt.is_null())
        .exec(db)
        .await?;
    let m = totp_factor::ActiveModel {
        user_id: Set(user_id.to_owned()),
        secret_sealed: Set(secret_sealed.to_owned()),
        confirmed_at: Set(None),
        last_step: Set(None),
        created_at: Set(now),
    };
    totp_factor::Entity::insert(m)
        .on_conflict(
            OnConflict::column(totp_factor::Column::UserId)
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// Mark the pending factor confirmed, recording the step of the confirming code.
/// False when there was no pending factor (already confirmed, or removed).
pub async fn confirm(
    db: &impl ConnectionTrait,
    user_id: &str,
    step: i64,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let r = totp_factor::Entity::update_many()
        .col_expr(totp_factor::Column::ConfirmedAt, Expr::value(now))
        .col_expr(totp_factor::Column::LastStep, Expr::value(step))
        .filter(totp_factor::Column::UserId.eq(user_id))
        .filter(totp_factor::Column::ConfirmedAt.is_null())
        .exec(db)
        .await?;
    Ok(r.rows_affected == 1)
}

/// Claim a time step for a confirmed factor: true only if it is later than every step
/// accepted before (RFC 6238 §5.2), so of two concurrent uses of one code one wins.
pub async fn claim_step(
    db: &impl ConnectionTrait,
    user_id: &str,
    step: i64,
) -> Result<bool, StoreError> {
    let r = totp_factor::Entity::update_many()
        .col_expr(totp_factor::Column::LastStep, Expr::value(step))
        .filter(totp_factor::Column::UserId.eq(user_id))
        .filter(totp_factor::Column::ConfirmedAt.is_not_null())
        .filter(
            Condition::any()
                .add(totp_factor::Column::LastStep.is_null())
                .add(totp_factor::Column::LastStep.lt(step)),
        )
        .exec(db)
        .await?;
    Ok(r.rows_affected == 1)
}

/// Remove the factor and every recovery code of the account.
pub async fn remove(db: &impl ConnectionTrait, user_id: &str) -> Result<bool, StoreError> {
    recovery_code::Entity::delete_many()
        .filter(recovery_code::Column::UserId.eq(user_id))
        .exec(db)
        .await?;
    let r = totp_factor::Entity::delete_many()
        .filter(totp_factor::Column::UserId.eq(user_id))
        .exec(db)
        .await?;
    Ok(r.rows_affected > 0)
}

/// Replace the account's recovery codes with these digests.
pub async fn replace_recovery_codes(
    db: &impl ConnectionTrait,
    user_id: &str,
    hashes: &[String],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    recovery_code::Entity::delete_many()
        .filter(recovery_code::Column::UserId.eq(user_id))
        .exec(db)
        .await?;
    let rows = hashes.iter().map(|h| recovery_code::ActiveModel {
        id: Set(crate::crypto::new_id("rc")),
        user_id: Set(user_id.to_owned()),
        code_hash: Set(h.clone()),
        used_at: Set(None),
        created_at: Set(now),
    });
    recovery_code::Entity::insert_many(rows)
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// Use a recovery code: true once per code (the update is its own check, so two
/// concurrent uses cannot both succeed).
pub async fn use_recovery_code(
    db: &impl ConnectionTrait,
    user_id: &str,
    hash: &str,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let r = recovery_code::Entity::update_many()
        .col_expr(recovery_code::Column::UsedAt, Expr::value(now))
        .filter(recovery_code::Column::UserId.eq(user_id))
        .filter(recovery_code::Column::CodeHash.eq(hash))
        .filter(recovery_code::Column::UsedAt.is_null())
        .exec(db)
        .await?;
    Ok(r.rows_affected == 1)
}

/// How many unused recovery codes the account has left.
pub async fn recovery_codes_left(
    db: &impl ConnectionTrait,
    user_id: &str,
) -> Result<u64, StoreError> {
    use sea_orm::PaginatorTrait;
    Ok(recovery_code::Entity::find()
        .filter(recovery_code::Column::UserId.eq(user_id))
        .filter(recovery_code::Column::UsedAt.is_null())
        .count(db)
        .await?)
}
