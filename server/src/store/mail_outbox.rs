//! Putting a mail in the outbox (in the transaction of what it announces). The worker's
//! queries (due, claim, delete, failed, counts, prune) are the shared ones in
//! [`super::outbox`], over [`super::outbox::Mail`]: one worker at a time claims a row with a
//! conditional update, so two instances never send one mail twice; deleted once sent.

use chrono::{DateTime, Utc};
use entity::mail_outbox::{ActiveModel, Entity};
use sea_orm::{ActiveValue::Set, ConnectionTrait, EntityTrait};

use super::StoreError;

pub struct NewMail<'a> {
    pub id: &'a str,
    pub kind: &'a str,
    pub recipient: &'a str,
    pub sealed: String,
    pub now: DateTime<Utc>,
}

pub async fn insert(db: &impl ConnectionTrait, m: NewMail<'_>) -> Result<(), StoreError> {
    Entity::insert(ActiveModel {
        id: Set(m.id.to_owned()),
        kind: Set(m.kind.to_owned()),
        recipient: Set(m.recipient.to_owned()),
        sealed: Set(m.sealed),
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
