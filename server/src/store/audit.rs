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

/// Events newest first; `user_id: None` lists the whole server's.
pub async fn page(
    db: &impl ConnectionTrait,
    user_id: Option<&str>,
    limit: u64,
    starting_after: Option<&str>,
) -> Result<Vec<audit_event::Model>, StoreError> {
    use entity::audit_event::Column;
    use sea_orm::{ColumnTrait, QueryFilter, QueryOrder, QuerySelect};
    let mut q = Entity::find().order_by_desc(Column::Id).limit(limit);
    if let Some(u) = user_id {
        q = q.filter(Column::UserId.eq(u));
    }
    if let Some(after) = starting_after {
        q = q.filter(Column::Id.lt(after));
    }
    Ok(q.all(db).await?)
}

/// Delete events older than `before` (retention).
pub async fn prune(
    db: &impl ConnectionTrait,
    before: chrono::DateTime<chrono::Utc>,
) -> Result<u64, StoreError> {
    use entity::audit_event::Column;
    use sea_orm::{ColumnTrait, QueryFilter};
    Ok(Entity::delete_many()
        .filter(Column::CreatedAt.lt(before))
        .exec(db)
        .await?
        .rows_affected)
}
