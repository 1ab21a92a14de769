//! Client logos Latch fetched and serves itself (`client_logo`), one per client.

use entity::client_logo::{self, Entity};
use sea_orm::{ConnectionTrait, EntityTrait, IntoActiveModel};

use super::StoreError;

pub async fn by_client(
    db: &impl ConnectionTrait,
    client_id: &str,
) -> Result<Option<client_logo::Model>, StoreError> {
    if client_id.is_empty() || client_id.len() > 64 {
        return Ok(None);
    }
    Ok(Entity::find_by_id(client_id.to_owned()).one(db).await?)
}

/// Store a client's logo, replacing the one it had.
pub async fn put(db: &impl ConnectionTrait, m: client_logo::Model) -> Result<(), StoreError> {
    use entity::client_logo::Column;
    use sea_orm::sea_query::OnConflict;
    Entity::insert(m.into_active_model())
        .on_conflict(
            OnConflict::column(Column::ClientId)
                .update_columns([
                    Column::ContentType,
                    Column::Digest,
                    Column::Bytes,
                    Column::FetchedAt,
                ])
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    Ok(())
}

pub async fn delete(db: &impl ConnectionTrait, client_id: &str) -> Result<(), StoreError> {
    Entity::delete_by_id(client_id.to_owned()).exec(db).await?;
    Ok(())
}
