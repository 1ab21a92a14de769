//! Queueing a back-channel logout (`backchannel::worker` delivers it): rows inserted where a
//! session ends (in its transaction when it has one). The worker's queries (due, claim,
//! delete, failed, counts, prune) are the mail outbox's, shared in [`super::outbox`] over
//! [`super::outbox::BackchannelLogout`]: one worker at a time claims a row with a conditional
//! update, so two instances never deliver one logout twice; deleted once delivered.

use chrono::{DateTime, Utc};
use entity::backchannel_logout::{ActiveModel, Entity};
use sea_orm::{ActiveValue::Set, ConnectionTrait, EntityTrait};

use super::StoreError;

pub struct NewLogout<'a> {
    pub id: &'a str,
    pub client_id: &'a str,
    pub user_id: &'a str,
    pub sid: Option<&'a str>,
    pub now: DateTime<Utc>,
}

pub async fn insert(db: &impl ConnectionTrait, m: NewLogout<'_>) -> Result<(), StoreError> {
    Entity::insert(ActiveModel {
        id: Set(m.id.to_owned()),
        client_id: Set(m.client_id.to_owned()),
        user_id: Set(m.user_id.to_owned()),
        sid: Set(m.sid.map(str::to_owned)),
        attempts: Set(0),
        next_attempt_at: Set(m.now),
        claimed_until: Set(None),
        last_error: Set(None),
        failed_at: Set(None),
        created_at: Set(m.now),
    })
    .exec_without_returning(db)
    .await?;
    Ok(())
}
