//! The permission catalog's rows: `api` and `api_scope` (DESIGN.md "Your own APIs"), and
//! "who holds this scope" for the checks that refuse deleting a scope in use.

use entity::{api, api_scope};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter,
    QueryOrder, QuerySelect,
};

use super::StoreError;

/// Every stored API with its scopes, oldest first (scopes in the order they were added).
pub async fn all(
    db: &impl ConnectionTrait,
) -> Result<Vec<(api::Model, Vec<api_scope::Model>)>, StoreError> {
    let apis = api::Entity::find()
        .order_by_asc(api::Column::CreatedAt)
        .order_by_asc(api::Column::Id)
        .all(db)
        .await?;
    let scopes = api_scope::Entity::find()
        .order_by_asc(api_scope::Column::CreatedAt)
        .order_by_asc(api_scope::Column::Name)
        .all(db)
        .await?;
    Ok(apis
        .into_iter()
        .map(|a| {
            let mine = scopes
                .iter()
                .filter(|s| s.api_id == a.id)
                .cloned()
                .collect();
            (a, mine)
        })
        .collect())
}

pub async fn by_id(db: &impl ConnectionTrait, id: &str) -> Result<Option<api::Model>, StoreError> {
    if id.is_empty() || id.len() > 64 {
        return Ok(None);
    }
    Ok(api::Entity::find_by_id(id.to_owned()).one(db).await?)
}

pub async fn scope_by_name(
    db: &impl ConnectionTrait,
    name: &str,
) -> Result<Option<api_scope::Model>, StoreError> {
    if name.is_empty() || name.len() > 64 {
        return Ok(None);
    }
    Ok(api_scope::Entity::find_by_id(name.to_owned())
        .one(db)
        .await?)
}

pub async fn insert(db: &impl ConnectionTrait, m: api::Model) -> Result<(), StoreError> {
    api::Entity::insert(m.into_active_model())
        .exec_without_returning(db)
        .await?;
    Ok(())
}

pub async fn insert_scope(
    db: &impl ConnectionTrait,
    m: api_scope::Model,
) -> Result<(), StoreError> {
    api_scope::Entity::insert(m.into_active_model())
        .exec_without_returning(db)
        .await?;
    Ok(())
}

pub async fn update(
    db: &impl ConnectionTrait,
    m: api::ActiveModel,
) -> Result<api::Model, StoreError> {
    Ok(m.update(db).await?)
}

pub async fn update_scope_description(
    db: &impl ConnectionTrait,
    m: api_scope::Model,
    description: &str,
) -> Result<api_scope::Model, StoreError> {
    let mut am = m.into_active_model();
    am.description = sea_orm::Set(description.to_owned());
    Ok(am.update(db).await?)
}

pub async fn delete_scope(db: &impl ConnectionTrait, name: &str) -> Result<(), StoreError> {
    api_scope::Entity::delete_by_id(name.to_owned())
        .exec(db)
        .await?;
    Ok(())
}

/// Delete an API and (by cascade, and explicitly for SQLite files made without foreign
/// keys) its scopes.
pub async fn delete(db: &impl ConnectionTrait, id: &str) -> Result<(), StoreError> {
    api_scope::Entity::delete_many()
        .filter(api_scope::Column::ApiId.eq(id))
        .exec(db)
        .await?;
    api::Entity::delete_by_id(id.to_owned()).exec(db).await?;
    Ok(())
}

/// Whether a space-separated column holds `scope` as a whole word.
fn holds(column: &str, scope: &str) -> bool {
    super::words(column).any(|w| w == scope)
}

/// Up to `limit` clients `(id, name)` that may ask for `scope`. The `LIKE` only narrows the
/// rows read (`_` and `%` in a name match loosely); the word check decides.
pub async fn clients_holding(
    db: &impl ConnectionTrait,
    scope: &str,
    limit: usize,
) -> Result<Vec<(String, String)>, StoreError> {
    use entity::client::{Column, Entity};
    let rows: Vec<(String, String, String)> = Entity::find()
        .select_only()
        .columns([Column::Id, Column::Name, Column::Scopes])
        .filter(Column::Scopes.contains(scope))
        .order_by_asc(Column::CreatedAt)
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .filter(|(_, _, s)| holds(s, scope))
        .map(|(id, name, _)| (id, name))
        .take(limit)
        .collect())
}

/// Up to `limit` unrevoked API keys `(id, name)` restricted to a list that names `scope`.
pub async fn keys_holding(
    db: &impl ConnectionTrait,
    scope: &str,
    limit: usize,
) -> Result<Vec<(String, String)>, StoreError> {
    use entity::api_key::{Column, Entity};
    let rows: Vec<(String, String, String)> = Entity::find()
        .select_only()
        .columns([Column::Id, Column::Name, Column::Scopes])
        .filter(Column::Scopes.contains(scope))
        .filter(Column::RevokedAt.is_null())
        .order_by_asc(Column::CreatedAt)
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .filter(|(_, _, s)| holds(s, scope))
        .map(|(id, name, _)| (id, name))
        .take(limit)
        .collect())
}
