//! The audit trail: sign-ins, key changes, suspicious activity.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "audit_event")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub created_at: DateTimeUtc,
    /// The account the event belongs to (shown in its Activity page).
    pub user_id: Option<String>,
    /// Who did it, when not the account itself (an admin, a client).
    pub actor: Option<String>,
    pub kind: String,
    /// `info` or `warning`.
    pub severity: String,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// JSON object with event details (never a secret).
    pub detail: String,
    /// The mode of the object the event is about; `None` for account events (live-mode reading).
    pub livemode: Option<bool>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
