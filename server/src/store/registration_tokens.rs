//! Initial access tokens of dynamic client registration (RFC 7591 §3), under their SHA-256.
//! Spending one is one atomic `UPDATE … WHERE used_at IS NULL AND expires_at > now`, so a
//! token registers one client even when two instances race on it.

use chrono::{DateTime, Utc};
use entity::registration_token::{self, Column, Entity};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter};

use super::StoreError;

pub async fn insert(
    db: &impl ConnectionTrait,
    m: registration_token::Model,
) -> Result<(), StoreError> {
    Entity::insert(m.into_active_model())
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// The unspent token stored under `id` that is still valid at `now`, if any.
pub async fn usable(
    db: &impl ConnectionTrait,
    id: &str,
    now: DateTime<Utc>,
) -> Result<Option<registration_token::Model>, StoreError> {
    Ok(Entity::find_by_id(id.to_owned())
        .filter(Column::UsedAt.is_null())
        .filter(Column::ExpiresAt.gt(now))
        .one(db)
        .await?)
}

/// Spend the token stored under `id` on `client_id`: `false` when it is unknown, already
/// spent or expired at `now`.
pub async fn spend(
    db: &impl ConnectionTrait,
    id: &str,
    client_id: &str,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let r = Entity::update_many()
        .col_expr(Column::UsedAt, Expr::value(now))
        .col_expr(Column::ClientId, Expr::value(client_id))
        .filter(Column::Id.eq(id))
        .filter(Column::UsedAt.is_null())
        .filter(Column::ExpiresAt.gt(now))
        .exec(db)
        .await?;
    Ok(r.rows_affected == 1)
}

/// Remove tokens that expired before `before` (spent ones too: the audit log keeps who
/// registered what).
pub async fn sweep(db: &impl ConnectionTrait, before: DateTime<Utc>) -> Result<u64, StoreError> {
    Ok(Entity::delete_many()
        .filter(Column::ExpiresAt.lt(before))
        .exec(db)
        .await?
        .rows_affected)
}
