//! Persistence of the audit trail (kinds, severities and building events: `crate::audit`).

use entity::audit_event::{self, Entity};
use sea_orm::{ActiveValue::Set, ConnectionTrait, EntityTrait};

use super::StoreError;

/// An event as stored; built by `crate::audit::Event`, which owns kinds and severities.
pub struct NewEvent<'a> {
    pub user_id: Option<&'a str>,
    pub actor: Option<&'a str>,
    pub kind: &'a str,
    pub severity: &'a str,
    pub ip: Option<String>,
    pub user_agent: Option<&'a str>,
    /// The mode of the object the event is about, when it has one (keys and clients do).
    pub livemode: Option<bool>,
    pub detail: String,
}

pub async fn insert(db: &impl ConnectionTrait, e: NewEvent<'_>) -> Result<(), StoreError> {
    let m = audit_event::ActiveModel {
        id: Set(crate::crypto::new_id("evt")),
        created_at: Set(super::now()),
        user_id: Set(e.user_id.map(str::to_owned)),
        actor: Set(e.actor.map(str::to_owned)),
        kind: Set(e.kind.to_owned()),
        severity: Set(e.severity.to_owned()),
        ip: Set(e.ip),
        user_agent: Set(e.user_agent.map(|s| s.chars().take(512).collect())),
        livemode: Set(e.livemode),
        detail: Set(e.detail),
    };
    Entity::insert(m).exec_without_returning(db).await?;
    Ok(())
}

/// Which events a reader may see by mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModeFilter {
    /// Every event (the dashboard, which shows both modes).
    All,
    /// Live-mode readers: live events and account events without a mode.
    Live,
    /// Test-mode readers: test-mode events only.
    Test,
}

impl ModeFilter {
    pub fn of(livemode: bool) -> Self {
        if livemode { Self::Live } else { Self::Test }
    }
}

/// Events newest first; `user_id: None` lists the whole server's.
pub async fn page(
    db: &impl ConnectionTrait,
    user_id: Option<&str>,
    mode: ModeFilter,
    limit: u64,
    starting_after: Option<&str>,
) -> Result<Vec<audit_event::Model>, StoreError> {
    use entity::audit_event::Column;
    use sea_orm::{ColumnTrait, QueryFilter, QueryOrder, QuerySelect};
    let mut q = Entity::find().order_by_desc(Column::Id).limit(limit);
    if let Some(u) = user_id {
        q = q.filter(Column::UserId.eq(u));
    }
    match mode {
        ModeFilter::All => {}
        ModeFilter::Live => {
            q = q.filter(
                sea_orm::Condition::any()
                    .add(Column::Livemode.is_null())
                    .add(Column::Livemode.eq(true)),
            )
        }
        ModeFilter::Test => q = q.filter(Column::Livemode.eq(false)),
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

/// Replace every occurrence of the addresses `emails` in stored event details with
/// `replacement` (a deleted account: its events stay, its address goes). Events naming it
/// are those an admin or sign-in wrote about it (`"by": email`); the account's own events
/// carry only its id. Returns how many events were changed.
pub async fn redact(
    db: &impl ConnectionTrait,
    emails: &[&str],
    replacement: &str,
) -> Result<u64, StoreError> {
    use entity::audit_event::Column;
    use sea_orm::{ColumnTrait, Condition, QueryFilter};
    if emails.iter().all(|e| e.is_empty()) {
        return Ok(0);
    }
    let mut any = Condition::any();
    for e in emails.iter().filter(|e| !e.is_empty()) {
        any = any.add(Column::Detail.contains(*e));
    }
    let rows = Entity::find().filter(any).all(db).await?;
    let mut n = 0;
    for row in rows {
        let mut detail = row.detail.clone();
        for e in emails.iter().filter(|e| !e.is_empty()) {
            detail = detail.replace(e, replacement);
        }
        if detail != row.detail {
            Entity::update_many()
                .col_expr(Column::Detail, sea_orm::sea_query::Expr::value(detail))
                .filter(Column::Id.eq(row.id))
                .exec(db)
                .await?;
            n += 1;
        }
    }
    Ok(n)
}
