//! A back-channel logout waiting to be delivered (OIDC Back-Channel Logout §2.5): the app,
//! the user (`sub`) and the session (`sid`) it is about. The `logout_token` is signed at each
//! attempt (its `exp` is short), so nothing secret is stored. Claimed by one instance at a
//! time (`claimed_until`), retried at `next_attempt_at`, given up on at `failed_at`;
//! deleted once delivered.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "backchannel_logout")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub client_id: String,
    pub user_id: String,
    pub sid: Option<String>,
    pub attempts: i32,
    pub next_attempt_at: DateTimeUtc,
    pub claimed_until: Option<DateTimeUtc>,
    pub last_error: Option<String>,
    pub failed_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
