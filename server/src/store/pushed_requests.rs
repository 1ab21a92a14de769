//! Pushed authorization requests (RFC 9126 §2). Redemption is one atomic `UPDATE … WHERE
//! consumed_at IS NULL AND expires_at > now`, so a `request_uri` is used once even when two
//! instances race on it (§4, §7.3).

use chrono::{DateTime, Utc};
use entity::pushed_request::{self, Column, Entity};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter};

use super::StoreError;

pub async fn insert(db: &impl ConnectionTrait, m: pushed_request::Model) -> Result<(), StoreError> {
    Entity::insert(m.into_active_model())
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// Take the request stored under `id` for `client_id`: marks it consumed and returns it, or
/// `None` when it is unknown, another client's, already used or expired at `now`.
pub async fn take(
    db: &impl ConnectionTrait,
    id: &str,
    client_id: &str,
    now: DateTime<Utc>,
) -> Result<Option<pushed_request::Model>, StoreError> {
    let r = Entity::update_many()
        .col_expr(Column::ConsumedAt, Expr::value(now))
        .filter(Column::Id.eq(id))
        .filter(Column::ClientId.eq(client_id))
        .filter(Column::ConsumedAt.is_null())
        .filter(Column::ExpiresAt.gt(now))
        .exec(db)
        .await?;
    if r.rows_affected != 1 {
        return Ok(None);
    }
    Ok(Entity::find_by_id(id.to_owned()).one(db).await?)
}

/// Remove requests that expired before `before`.
pub async fn sweep(db: &impl ConnectionTrait, before: DateTime<Utc>) -> Result<u64, StoreError> {
    Ok(Entity::delete_many()
        .filter(Column::ExpiresAt.lt(before))
        .exec(db)
        .await?
        .rows_affected)
}
