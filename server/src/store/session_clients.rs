//! `session_client`: which clients got tokens in which browser session (by its public
//! `sid`), for back-channel logout (OIDC Back-Channel Logout §2.1).

use chrono::{DateTime, Utc};
use entity::session_client::{self, ActiveModel, Column, Entity};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};

use super::StoreError;

/// Record that `client_id` got tokens in the session `sid` (once per pair).
pub async fn record(
    db: &impl ConnectionTrait,
    sid: &str,
    client_id: &str,
    user_id: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    Entity::insert(ActiveModel {
        sid: Set(sid.to_owned()),
        client_id: Set(client_id.to_owned()),
        user_id: Set(user_id.to_owned()),
        created_at: Set(now),
    })
    .on_conflict(
        OnConflict::columns([Column::Sid, Column::ClientId])
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(db)
    .await?;
    Ok(())
}

/// Take (read and delete) the clients of the sessions `sids`.
pub async fn take_for_sessions(
    db: &impl ConnectionTrait,
    sids: &[String],
) -> Result<Vec<session_client::Model>, StoreError> {
    if sids.is_empty() {
        return Ok(Vec::new());
    }
    let rows = Entity::find()
        .filter(Column::Sid.is_in(sids.iter().cloned()))
        .all(db)
        .await?;
    Entity::delete_many()
        .filter(Column::Sid.is_in(sids.iter().cloned()))
        .exec(db)
        .await?;
    Ok(rows)
}

/// Take (read and delete) the clients of every session of the account (password change,
/// reset, disablement end them all).
pub async fn take_for_user(
    db: &impl ConnectionTrait,
    user_id: &str,
) -> Result<Vec<session_client::Model>, StoreError> {
    let rows = Entity::find()
        .filter(Column::UserId.eq(user_id))
        .all(db)
        .await?;
    Entity::delete_many()
        .filter(Column::UserId.eq(user_id))
        .exec(db)
        .await?;
    Ok(rows)
}

/// The clients recorded for one session (tests and the operator).
pub async fn for_session(
    db: &impl ConnectionTrait,
    sid: &str,
) -> Result<Vec<session_client::Model>, StoreError> {
    Ok(Entity::find().filter(Column::Sid.eq(sid)).all(db).await?)
}

/// Housekeeping: records older than `before` (their sessions have expired).
pub async fn delete_before(
    db: &impl ConnectionTrait,
    before: DateTime<Utc>,
) -> Result<u64, StoreError> {
    Ok(Entity::delete_many()
        .filter(Column::CreatedAt.lt(before))
        .exec(db)
        .await?
        .rows_affected)
}
