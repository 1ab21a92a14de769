//! Client logos Latch fetched and serves itself (`client_logo`), one per client, checked
//! again periodically by `clients::logo_refresh` (claims below).

use chrono::{DateTime, Utc};
use entity::client_logo::{self, Column, Entity};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder,
    QuerySelect,
};

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
    use sea_orm::sea_query::OnConflict;
    Entity::insert(m.into_active_model())
        .on_conflict(
            OnConflict::column(Column::ClientId)
                .update_columns([
                    Column::ContentType,
                    Column::Digest,
                    Column::Bytes,
                    Column::FetchedAt,
                    Column::Etag,
                    Column::LastModified,
                    Column::CheckedAt,
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

fn is_due(cutoff: DateTime<Utc>) -> sea_orm::Condition {
    sea_orm::Condition::any()
        .add(Column::CheckedAt.is_null())
        .add(Column::CheckedAt.lte(cutoff))
}

/// The client ids of at most `limit` logos last checked at or before `cutoff` (or never),
/// the longest unchecked first. Only ids: the bytes are not read to decide.
pub async fn due(
    db: &impl ConnectionTrait,
    cutoff: DateTime<Utc>,
    limit: u64,
) -> Result<Vec<String>, StoreError> {
    Ok(Entity::find()
        .select_only()
        .column(Column::ClientId)
        .filter(is_due(cutoff))
        .order_by_asc(Column::CheckedAt)
        .order_by_asc(Column::ClientId)
        .limit(limit)
        .into_tuple::<String>()
        .all(db)
        .await?)
}

/// Claim a due logo for a check at `now`: one conditional update moving `checked_at` to
/// `now`, so of several refreshers that saw it due exactly one gets `true` (the others'
/// condition no longer holds). The claim is also the schedule: a failed check is tried
/// again a period later.
pub async fn claim(
    db: &impl ConnectionTrait,
    client_id: &str,
    cutoff: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let r = Entity::update_many()
        .col_expr(Column::CheckedAt, Expr::value(Some(now)))
        .filter(Column::ClientId.eq(client_id))
        .filter(is_due(cutoff))
        .exec(db)
        .await?;
    Ok(r.rows_affected == 1)
}

/// Replace the image of a logo that still has digest `seen` (a logo saved with its app
/// meanwhile is not overwritten by a refresh of the old address); whether it was replaced.
pub async fn replace_if(
    db: &impl ConnectionTrait,
    seen: &str,
    m: client_logo::Model,
) -> Result<bool, StoreError> {
    let r = Entity::update_many()
        .col_expr(Column::ContentType, Expr::value(m.content_type))
        .col_expr(Column::Digest, Expr::value(m.digest))
        .col_expr(Column::Bytes, Expr::value(m.bytes))
        .col_expr(Column::FetchedAt, Expr::value(m.fetched_at))
        .col_expr(Column::Etag, Expr::value(m.etag))
        .col_expr(Column::LastModified, Expr::value(m.last_modified))
        .filter(Column::ClientId.eq(m.client_id))
        .filter(Column::Digest.eq(seen))
        .exec(db)
        .await?;
    Ok(r.rows_affected == 1)
}

/// Keep new validators for an unchanged image (the same digest), so the next check can
/// be conditional.
pub async fn set_validators(
    db: &impl ConnectionTrait,
    client_id: &str,
    digest: &str,
    etag: Option<String>,
    last_modified: Option<String>,
) -> Result<(), StoreError> {
    Entity::update_many()
        .col_expr(Column::Etag, Expr::value(etag))
        .col_expr(Column::LastModified, Expr::value(last_modified))
        .filter(Column::ClientId.eq(client_id))
        .filter(Column::Digest.eq(digest))
        .exec(db)
        .await?;
    Ok(())
}
