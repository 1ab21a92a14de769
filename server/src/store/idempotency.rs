//! Idempotency records for `/v1` POSTs: one row per (owner, `Idempotency-Key`), claimed
//! before the operation runs and completed with its sealed response.

use entity::idempotency_key::{self, Column, Entity};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};

use super::StoreError;

/// A claimed key's response is not written yet.
pub const IN_PROGRESS: i32 = 0;

pub async fn find(
    db: &impl ConnectionTrait,
    owner: &str,
    key: &str,
) -> Result<Option<idempotency_key::Model>, StoreError> {
    Ok(Entity::find()
        .filter(Column::Owner.eq(owner))
        .filter(Column::Key.eq(key))
        .one(db)
        .await?)
}

pub async fn delete(db: &impl ConnectionTrait, id: &str) -> Result<(), StoreError> {
    Entity::delete_by_id(id.to_owned()).exec(db).await?;
    Ok(())
}

/// Claim (owner, key) for a request with this hash; a concurrent claim of the same key
/// fails with [`StoreError::Conflict`] (unique index).
pub async fn claim(
    db: &impl ConnectionTrait,
    id: &str,
    owner: &str,
    key: &str,
    request_hash: String,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(), StoreError> {
    let claim = idempotency_key::ActiveModel {
        id: Set(id.to_owned()),
        owner: Set(owner.to_owned()),
        key: Set(key.to_owned()),
        request_hash: Set(request_hash),
        status: Set(IN_PROGRESS),
        body: Set(String::new()),
        created_at: Set(now),
    };
    Entity::insert(claim).exec_without_returning(db).await?;
    Ok(())
}

/// Record the completed response (sealed by the caller) of a claimed key.
pub async fn complete(
    db: &impl ConnectionTrait,
    id: &str,
    status: u16,
    sealed_body: String,
) -> Result<(), StoreError> {
    Entity::update_many()
        .col_expr(Column::Status, Expr::value(i32::from(status)))
        .col_expr(Column::Body, Expr::value(sealed_body))
        .filter(Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

/// Delete records created before `before` (retention).
pub async fn sweep(
    db: &impl ConnectionTrait,
    before: chrono::DateTime<chrono::Utc>,
) -> Result<(), StoreError> {
    Entity::delete_many()
        .filter(Column::CreatedAt.lt(before))
        .exec(db)
        .await?;
    Ok(())
}
