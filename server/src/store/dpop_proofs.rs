//! Used DPoP proofs (RFC 9449 §11.1) when there is no Redis: one row per (key, `jti`),
//! inserted once; the primary key makes the second insert, from any instance, a no-op.

use entity::dpop_proof::{self, Column, Entity};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};

use super::StoreError;

/// Record `key` until `expires_at`; `false` if it was already recorded (a replay).
pub async fn insert_once(
    db: &impl ConnectionTrait,
    key: String,
    expires_at: chrono::DateTime<chrono::Utc>,
) -> Result<bool, StoreError> {
    let row = dpop_proof::ActiveModel {
        key: Set(key),
        expires_at: Set(expires_at),
    };
    let n = Entity::insert(row)
        .on_conflict(OnConflict::column(Column::Key).do_nothing().to_owned())
        .exec_without_returning(db)
        .await?;
    Ok(n == 1)
}

/// Forget proofs whose window has passed.
pub async fn sweep(
    db: &impl ConnectionTrait,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(), StoreError> {
    Entity::delete_many()
        .filter(Column::ExpiresAt.lt(now))
        .exec(db)
        .await?;
    Ok(())
}
