//! The audit trail.

use entity::audit_event::{self, Entity};
use sea_orm::{ActiveValue::Set, ConnectionTrait, EntityTrait};

use super::StoreError;

pub struct Event<'a> {
    pub user_id: Option<&'a str>,
    pub actor: Option<&'a str>,
    pub kind: &'a str,
    pub warning: bool,
    pub ip: Option<String>,
    pub user_agent: Option<&'a str>,
    pub detail: serde_json::Value,
}

pub async fn record(db: &impl ConnectionTrait, e: Event<'_>) -> Result<(), StoreError> {
    let m = audit_event::ActiveModel {
        id: Set(crate::crypto::new_id("evt")),
        created_at: Set(super::now()),
        user_id: Set(e.user_id.map(str::to_owned)),
        actor: Set(e.actor.map(str::to_owned)),
        kind: Set(e.kind.to_owned()),
        severity: Set(if e.warning { "warning" } else { "info" }.to_owned()),
        ip: Set(e.ip),
        user_agent: Set(e.user_agent.map(|s| s.chars().take(512).collect())),
        detail: Set(e.detail.to_string()),
    };
    Entity::insert(m).exec_without_returning(db).await?;
    Ok(())
}
