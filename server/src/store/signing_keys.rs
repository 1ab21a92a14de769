//! Signing-key rows.

use chrono::{DateTime, Utc};
use entity::signing_key::{self, ActiveModel, Column, Entity};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, EntityTrait,
    QueryFilter, QueryOrder, TransactionTrait,
};

use super::StoreError;

/// Keys not yet past their `expires_at`: these are published and may verify.
pub async fn usable(
    db: &impl ConnectionTrait,
    now: DateTime<Utc>,
) -> Result<Vec<signing_key::Model>, StoreError> {
    Ok(Entity::find()
        .filter(
            Condition::any()
                .add(Column::ExpiresAt.is_null())
                .add(Column::ExpiresAt.gt(now)),
        )
        .order_by_desc(Column::ActiveFrom)
        .all(db)
        .await?)
}

pub async fn all(db: &impl ConnectionTrait) -> Result<Vec<signing_key::Model>, StoreError> {
    Ok(Entity::find()
        .order_by_desc(Column::ActiveFrom)
        .all(db)
        .await?)
}

/// Insert a new key active from `active_from`, and retire every key of the same algorithm
/// not yet retired that became active before it: they stop signing at `active_from` and expire at `expires`.
#[allow(clippy::too_many_arguments)]
pub async fn insert_and_retire(
    db: &DatabaseConnection,
    kid: &str,
    alg: &str,
    private_key_enc: &str,
    public_jwk: &str,
    now: DateTime<Utc>,
    active_from: DateTime<Utc>,
    expires: DateTime<Utc>,
) -> Result<(), StoreError> {
    let txn = db.begin().await?;
    Entity::update_many()
        .col_expr(Column::RetiredAt, Expr::value(active_from))
        .col_expr(Column::ExpiresAt, Expr::value(expires))
        .filter(Column::Alg.eq(alg))
        .filter(Column::RetiredAt.is_null())
        .filter(Column::ActiveFrom.lte(active_from))
        .exec(&txn)
        .await?;
    Entity::insert(ActiveModel {
        kid: Set(kid.to_owned()),
        alg: Set(alg.to_owned()),
        private_key_enc: Set(private_key_enc.to_owned()),
        public_jwk: Set(public_jwk.to_owned()),
        created_at: Set(now),
        active_from: Set(active_from),
        retired_at: Set(None),
        expires_at: Set(None),
    })
    .exec_without_returning(&txn)
    .await?;
    txn.commit().await?;
    Ok(())
}
