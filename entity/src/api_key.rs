//! An API key (`sk_live_…` / `sk_test_…`), stored as its SHA-256 digest.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "api_key")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    #[sea_orm(unique)]
    pub key_hash: String,
    /// `sk_live_` or `sk_test_`.
    pub prefix: String,
    pub last4: String,
    pub livemode: bool,
    pub name: String,
    pub scopes: String,
    pub user_id: String,
    /// Requests per second, overriding the mode default.
    pub rate_limit: Option<i32>,
    pub created_at: DateTimeUtc,
    pub last_used_at: Option<DateTimeUtc>,
    pub last_used_ip: Option<String>,
    pub expires_at: Option<DateTimeUtc>,
    pub revoked_at: Option<DateTimeUtc>,
    /// The key that replaced this one when it was rolled.
    pub rolled_to: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
