//! `browser_session`: one row per browser sign-in, for the sessions list in Settings.

use chrono::{DateTime, Utc};
use entity::browser_session::{self, Column, Entity};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};

use super::StoreError;

pub async fn insert(
    db: &impl ConnectionTrait,
    row: browser_session::Model,
) -> Result<(), StoreError> {
    let m = browser_session::ActiveModel {
        id: Set(row.id),
        user_id: Set(row.user_id),
        device: Set(row.device),
        ip: Set(row.ip),
        created_at: Set(row.created_at),
        last_seen_at: Set(row.last_seen_at),
    };
    Entity::insert(m).exec_without_returning(db).await?;
    Ok(())
}

pub async fn by_id(
    db: &impl ConnectionTrait,
    id: &str,
) -> Result<Option<browser_session::Model>, StoreError> {
    Ok(Entity::find_by_id(id.to_owned()).one(db).await?)
}

/// Stamp a session seen now (and from this address); false if its row is gone.
pub async fn touch(
    db: &impl ConnectionTrait,
    id: &str,
    ip: Option<String>,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let mut q = Entity::update_many().col_expr(Column::LastSeenAt, Expr::value(now));
    if let Some(ip) = ip {
        q = q.col_expr(Column::Ip, Expr::value(ip));
    }
    let r = q.filter(Column::Id.eq(id)).exec(db).await?;
    Ok(r.rows_affected == 1)
}

/// The account's sessions begun at or after `since` (older ones are void: password change,
/// `LATCH_SESSION_TTL`), most recently seen first.
pub async fn for_user(
    db: &impl ConnectionTrait,
    user_id: &str,
    since: DateTime<Utc>,
) -> Result<Vec<browser_session::Model>, StoreError> {
    Ok(Entity::find()
        .filter(Column::UserId.eq(user_id))
        .filter(Column::CreatedAt.gte(since))
        .order_by_desc(Column::LastSeenAt)
        .order_by_desc(Column::Id)
        .limit(200)
        .all(db)
        .await?)
}

/// Delete one of the account's sessions; the deleted row, if it was theirs.
pub async fn delete(
    db: &impl ConnectionTrait,
    user_id: &str,
    id: &str,
) -> Result<Option<browser_session::Model>, StoreError> {
    let Some(row) = Entity::find_by_id(id.to_owned())
        .filter(Column::UserId.eq(user_id))
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    Entity::delete_by_id(id.to_owned()).exec(db).await?;
    Ok(Some(row))
}

/// Delete every session of the account but `keep`; the deleted rows.
pub async fn delete_others(
    db: &impl ConnectionTrait,
    user_id: &str,
    keep: Option<&str>,
) -> Result<Vec<browser_session::Model>, StoreError> {
    let mut q = Entity::find().filter(Column::UserId.eq(user_id));
    if let Some(k) = keep {
        q = q.filter(Column::Id.ne(k));
    }
    let rows = q.all(db).await?;
    let mut d = Entity::delete_many().filter(Column::UserId.eq(user_id));
    if let Some(k) = keep {
        d = d.filter(Column::Id.ne(k));
    }
    d.exec(db).await?;
    Ok(rows)
}

/// Housekeeping: rows not seen since `before` (their sessions have expired).
pub async fn delete_seen_before(
    db: &impl ConnectionTrait,
    before: DateTime<Utc>,
) -> Result<u64, StoreError> {
    Ok(Entity::delete_many()
        .filter(Column::LastSeenAt.lt(before))
        .exec(db)
        .await?
        .rows_affected)
}
