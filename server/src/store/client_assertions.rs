//! Seen client-assertion `jti`s (RFC 7523 §3 item 7): a row per accepted assertion until
//! its `exp`. The primary key makes a second insert of the same `(client, jti)` fail on
//! every instance, so an assertion is accepted once.

use chrono::{DateTime, Utc};
use entity::client_assertion_jti::{self, Column, Entity};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter};

use super::StoreError;

/// Record a `jti` (its digest `id`); `false` when it was already recorded and has not
/// expired at `now` (a replay).
pub async fn remember(
    db: &impl ConnectionTrait,
    id: &str,
    client_id: &str,
    expires_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    // An expired row that the sweeper has not removed yet no longer counts.
    Entity::delete_many()
        .filter(Column::Id.eq(id))
        .filter(Column::ExpiresAt.lte(now))
        .exec(db)
        .await?;
    let row = client_assertion_jti::Model {
        id: id.to_owned(),
        client_id: client_id.to_owned(),
        expires_at,
    };
    match Entity::insert(row.into_active_model())
        .exec_without_returning(db)
        .await
    {
        Ok(_) => Ok(true),
        Err(e) => match StoreError::from(e) {
            StoreError::Conflict(_) => Ok(false),
            other => Err(other),
        },
    }
}

/// Remove `jti`s whose assertions expired before `before`.
pub async fn sweep(db: &impl ConnectionTrait, before: DateTime<Utc>) -> Result<u64, StoreError> {
    Ok(Entity::delete_many()
        .filter(Column::ExpiresAt.lt(before))
        .exec(db)
        .await?
        .rows_affected)
}
