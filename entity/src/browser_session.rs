//! One browser sign-in: its id is the session cookie's `sid`; deleting the row (or the
//! deny-list entry written with it) signs that browser out.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "browser_session")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub user_id: String,
    /// "Chrome on Linux" (`user_agent::summary`), never the raw header.
    pub device: String,
    pub ip: Option<String>,
    pub created_at: DateTimeUtc,
    /// Updated at most once a minute.
    pub last_seen_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
