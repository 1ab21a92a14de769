//! Authorization codes. Consumption is one atomic `UPDATE … WHERE consumed_at IS NULL
//! RETURNING`, so two instances racing on one code give exactly one winner (SECURITY.md §5.3).

use chrono::{DateTime, Utc};
use entity::authorization_code::{self, Column, Entity};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter};

use super::StoreError;

pub async fn insert(
    db: &impl ConnectionTrait,
    m: authorization_code::Model,
) -> Result<(), StoreError> {
    Entity::insert(m.into_active_model())
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// Mark the code consumed and return it, or `None` when it does not exist or was already
/// consumed (then [`by_hash`] tells which).
pub async fn consume(
    db: &impl ConnectionTrait,
    code_hash: &str,
    client_id: &str,
    now: DateTime<Utc>,
) -> Result<Option<authorization_code::Model>, StoreError> {
    let rows = Entity::update_many()
        .col_expr(Column::ConsumedAt, Expr::value(now))
        .filter(Column::CodeHash.eq(code_hash))
        .filter(Column::ClientId.eq(client_id))
        .filter(Column::ConsumedAt.is_null())
        .exec_with_returning(db)
        .await?;
    Ok(rows.into_iter().next())
}

pub async fn by_hash(
    db: &impl ConnectionTrait,
    code_hash: &str,
) -> Result<Option<authorization_code::Model>, StoreError> {
    Ok(Entity::find()
        .filter(Column::CodeHash.eq(code_hash))
        .one(db)
        .await?)
}

/// Record what the code issued, so a replay can revoke it (RFC 6749 §4.1.2).
pub async fn set_issued(
    db: &impl ConnectionTrait,
    id: &str,
    family_id: Option<&str>,
    jti: &str,
    access_expires: DateTime<Utc>,
) -> Result<(), StoreError> {
    Entity::update_many()
        .col_expr(Column::FamilyId, Expr::value(family_id.map(str::to_owned)))
        .col_expr(Column::AccessTokenJti, Expr::value(jti.to_owned()))
        .col_expr(Column::AccessTokenExpiresAt, Expr::value(access_expires))
        .filter(Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}
