//! OAuth client rows.

use entity::client::{self, Entity};
use sea_orm::{ActiveModelTrait, ConnectionTrait, EntityTrait, IntoActiveModel};

use super::StoreError;

pub async fn insert(
    db: &impl ConnectionTrait,
    m: client::Model,
) -> Result<client::Model, StoreError> {
    let id = m.id.clone();
    Entity::insert(m.into_active_model())
        .exec_without_returning(db)
        .await?;
    by_id(db, &id)
        .await?
        .ok_or_else(|| StoreError::Other(sea_orm::DbErr::RecordNotFound(id)))
}

pub async fn by_id(
    db: &impl ConnectionTrait,
    id: &str,
) -> Result<Option<client::Model>, StoreError> {
    if id.is_empty() || id.len() > 64 {
        return Ok(None);
    }
    Ok(Entity::find_by_id(id.to_owned()).one(db).await?)
}

pub async fn update(
    db: &impl ConnectionTrait,
    m: client::ActiveModel,
) -> Result<client::Model, StoreError> {
    Ok(m.update(db).await?)
}
