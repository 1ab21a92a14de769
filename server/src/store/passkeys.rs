//! `passkey` (an account's WebAuthn credentials) and `passkey_ceremony` (the server side of a
//! ceremony under way: used once, short-lived).

use chrono::{DateTime, Utc};
use entity::{passkey, passkey_ceremony};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect,
};

use super::StoreError;

/// At most this many passkeys per account (the list and `excludeCredentials` stay small).
pub const MAX_PER_USER: u64 = 20;

pub async fn insert(db: &impl ConnectionTrait, row: passkey::Model) -> Result<(), StoreError> {
    let m = passkey::ActiveModel {
        id: Set(row.id),
        user_id: Set(row.user_id),
        credential_id: Set(row.credential_id),
        user_handle: Set(row.user_handle),
        name: Set(row.name),
        credential: Set(row.credential),
        created_at: Set(row.created_at),
        last_used_at: Set(row.last_used_at),
    };
    passkey::Entity::insert(m)
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// The account's passkeys, newest first.
pub async fn for_user(
    db: &impl ConnectionTrait,
    user_id: &str,
) -> Result<Vec<passkey::Model>, StoreError> {
    Ok(passkey::Entity::find()
        .filter(passkey::Column::UserId.eq(user_id))
        .order_by_desc(passkey::Column::CreatedAt)
        .order_by_desc(passkey::Column::Id)
        .limit(MAX_PER_USER)
        .all(db)
        .await?)
}

pub async fn count_for_user(db: &impl ConnectionTrait, user_id: &str) -> Result<u64, StoreError> {
    Ok(passkey::Entity::find()
        .filter(passkey::Column::UserId.eq(user_id))
        .count(db)
        .await?)
}

pub async fn by_credential_id(
    db: &impl ConnectionTrait,
    credential_id: &str,
) -> Result<Option<passkey::Model>, StoreError> {
    Ok(passkey::Entity::find()
        .filter(passkey::Column::CredentialId.eq(credential_id))
        .one(db)
        .await?)
}

/// After a sign-in: the updated credential record (counter, backup state) and the time.
pub async fn mark_used(
    db: &impl ConnectionTrait,
    id: &str,
    credential: Option<String>,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let mut q = passkey::Entity::update_many()
        .col_expr(passkey::Column::LastUsedAt, Expr::value(Some(now)));
    if let Some(c) = credential {
        q = q.col_expr(passkey::Column::Credential, Expr::value(c));
    }
    q.filter(passkey::Column::Id.eq(id)).exec(db).await?;
    Ok(())
}

/// Delete one of the account's passkeys (scoped by the user id); its row, if it was theirs.
pub async fn delete(
    db: &impl ConnectionTrait,
    user_id: &str,
    id: &str,
) -> Result<Option<passkey::Model>, StoreError> {
    let Some(row) = passkey::Entity::find_by_id(id.to_owned())
        .filter(passkey::Column::UserId.eq(user_id))
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    let r = passkey::Entity::delete_many()
        .filter(passkey::Column::Id.eq(id))
        .filter(passkey::Column::UserId.eq(user_id))
        .exec(db)
        .await?;
    Ok((r.rows_affected == 1).then_some(row))
}

/// Keep a ceremony's state; ceremonies past their expiry are swept on the way.
pub async fn put_ceremony(
    db: &impl ConnectionTrait,
    row: passkey_ceremony::Model,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    passkey_ceremony::Entity::delete_many()
        .filter(passkey_ceremony::Column::ExpiresAt.lt(now))
        .exec(db)
        .await?;
    let m = passkey_ceremony::ActiveModel {
        id: Set(row.id),
        kind: Set(row.kind),
        user_id: Set(row.user_id),
        state: Set(row.state),
        expires_at: Set(row.expires_at),
    };
    passkey_ceremony::Entity::insert(m)
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// Take a ceremony's state, once: the row is deleted, and only the request whose delete
/// removed it gets the state (two racing requests: one wins). None when it is gone, of
/// another kind, or expired.
pub async fn take_ceremony(
    db: &impl ConnectionTrait,
    id: &str,
    kind: &str,
    now: DateTime<Utc>,
) -> Result<Option<passkey_ceremony::Model>, StoreError> {
    let Some(row) = passkey_ceremony::Entity::find_by_id(id.to_owned())
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    let r = passkey_ceremony::Entity::delete_many()
        .filter(passkey_ceremony::Column::Id.eq(id))
        .exec(db)
        .await?;
    if r.rows_affected != 1 || row.kind != kind || row.expires_at <= now {
        return Ok(None);
    }
    Ok(Some(row))
}
