//! Single-use links mailed to a person (password reset, email verification), by the
//! SHA-256 of the token. Consuming is one conditional update (unused, unexpired), so a link
//! works once even when two requests race, on any number of instances.

use chrono::{DateTime, Utc};
use entity::user_token::{self, ActiveModel, Column, Entity};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};

use super::StoreError;

pub struct NewToken<'a> {
    pub token_hash: &'a str,
    pub user_id: &'a str,
    pub purpose: &'a str,
    pub email: &'a str,
    pub now: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

pub async fn insert(db: &impl ConnectionTrait, t: NewToken<'_>) -> Result<(), StoreError> {
    Entity::insert(ActiveModel {
        token_hash: Set(t.token_hash.to_owned()),
        user_id: Set(t.user_id.to_owned()),
        purpose: Set(t.purpose.to_owned()),
        email: Set(t.email.to_owned()),
        created_at: Set(t.now),
        expires_at: Set(t.expires_at),
        used_at: Set(None),
    })
    .exec_without_returning(db)
    .await?;
    Ok(())
}

/// The token if it is for `purpose`, unused and unexpired at `now` (for showing a form; the
/// use itself is [`consume`]).
pub async fn live(
    db: &impl ConnectionTrait,
    token_hash: &str,
    purpose: &str,
    now: DateTime<Utc>,
) -> Result<Option<user_token::Model>, StoreError> {
    Ok(Entity::find_by_id(token_hash.to_owned())
        .filter(Column::Purpose.eq(purpose))
        .filter(Column::UsedAt.is_null())
        .filter(Column::ExpiresAt.gt(now))
        .one(db)
        .await?)
}

/// Use the token: `Some(row)` for exactly one caller while it is unused and unexpired.
pub async fn consume(
    db: &impl ConnectionTrait,
    token_hash: &str,
    purpose: &str,
    now: DateTime<Utc>,
) -> Result<Option<user_token::Model>, StoreError> {
    let r = Entity::update_many()
        .col_expr(Column::UsedAt, Expr::value(Some(now)))
        .filter(Column::TokenHash.eq(token_hash))
        .filter(Column::Purpose.eq(purpose))
        .filter(Column::UsedAt.is_null())
        .filter(Column::ExpiresAt.gt(now))
        .exec(db)
        .await?;
    if r.rows_affected != 1 {
        return Ok(None);
    }
    Ok(Entity::find_by_id(token_hash.to_owned()).one(db).await?)
}

/// End every other unused token of the account for `purpose` (a reset ends the other
/// reset links; a verification the other verification links).
pub async fn use_all(
    db: &impl ConnectionTrait,
    user_id: &str,
    purpose: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    Entity::update_many()
        .col_expr(Column::UsedAt, Expr::value(Some(now)))
        .filter(Column::UserId.eq(user_id))
        .filter(Column::Purpose.eq(purpose))
        .filter(Column::UsedAt.is_null())
        .exec(db)
        .await?;
    Ok(())
}

/// Tokens expired before `cutoff` (the sweeper).
pub async fn prune(db: &impl ConnectionTrait, cutoff: DateTime<Utc>) -> Result<u64, StoreError> {
    Ok(Entity::delete_many()
        .filter(Column::ExpiresAt.lt(cutoff))
        .exec(db)
        .await?
        .rows_affected)
}

/// Every mailed link of an account (no foreign key: deleted with the account by hand).
pub async fn delete_for_user(db: &impl ConnectionTrait, user_id: &str) -> Result<(), StoreError> {
    Entity::delete_many()
        .filter(Column::UserId.eq(user_id))
        .exec(db)
        .await?;
    Ok(())
}

/// The addresses an account's links were sent to (its current one, and earlier ones whose
/// links are not pruned yet), for redacting them when the account is deleted.
pub async fn emails_of(
    db: &impl ConnectionTrait,
    user_id: &str,
) -> Result<Vec<String>, StoreError> {
    use sea_orm::QuerySelect;
    Ok(Entity::find()
        .select_only()
        .column(Column::Email)
        .distinct()
        .filter(Column::UserId.eq(user_id))
        .into_tuple::<String>()
        .all(db)
        .await?)
}
