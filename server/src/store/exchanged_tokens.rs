//! Access tokens issued by token exchange (RFC 8693) and the token each was exchanged from,
//! so a revocation reaches what was derived from the revoked token ([`derived_from`], called
//! by [`super::tokens::deny`]).

use chrono::{DateTime, Utc};
use entity::exchanged_token::{self, Column, Entity};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter, QuerySelect,
};

use super::StoreError;

pub async fn insert(
    db: &impl ConnectionTrait,
    m: exchanged_token::Model,
) -> Result<(), StoreError> {
    Entity::insert(m.into_active_model())
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// The live tokens exchanged directly from `jti` (as subject or as actor), with their
/// expiry.
pub async fn derived_from(
    db: &impl ConnectionTrait,
    jti: &str,
    now: DateTime<Utc>,
) -> Result<Vec<(String, DateTime<Utc>)>, StoreError> {
    Ok(Entity::find()
        .select_only()
        .column(Column::Jti)
        .column(Column::ExpiresAt)
        .filter(
            Condition::any()
                .add(Column::SubjectJti.eq(jti))
                .add(Column::ActorJti.eq(jti)),
        )
        .filter(Column::ExpiresAt.gt(now))
        .into_tuple()
        .all(db)
        .await?)
}

/// Delete rows whose tokens have expired: nothing derived from them can still be live (an
/// exchanged token never outlives its subject).
pub async fn sweep(db: &impl ConnectionTrait, now: DateTime<Utc>) -> Result<(), StoreError> {
    Entity::delete_many()
        .filter(Column::ExpiresAt.lt(now))
        .exec(db)
        .await?;
    Ok(())
}
