//! API-key rows, looked up by SHA-256 digest.

use entity::api_key::{self, Column, Entity};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter};

use super::StoreError;

pub async fn insert(
    db: &impl ConnectionTrait,
    m: api_key::Model,
) -> Result<api_key::Model, StoreError> {
    let id = m.id.clone();
    Entity::insert(m.into_active_model())
        .exec_without_returning(db)
        .await?;
    Entity::find_by_id(id.clone())
        .one(db)
        .await?
        .ok_or_else(|| StoreError::Other(sea_orm::DbErr::RecordNotFound(id)))
}

pub async fn by_hash(
    db: &impl ConnectionTrait,
    key_hash: &str,
) -> Result<Option<api_key::Model>, StoreError> {
    Ok(Entity::find()
        .filter(Column::KeyHash.eq(key_hash))
        .one(db)
        .await?)
}
