//! An API key (`sk_live_…`/`sk_test_…` secret, `rk_live_…`/`rk_test_…` restricted), stored
//! as its SHA-256 digest, with its policies.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "api_key")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    #[sea_orm(unique)]
    pub key_hash: String,
    /// `sk_live_`, `sk_test_`, `rk_live_` or `rk_test_` (kept as minted).
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
    /// `secret` (every scope of every API, now and later) or `restricted` (`scopes` only).
    pub key_type: String,
    /// Uses left; `None`: uncapped.
    pub remaining: Option<i64>,
    /// `remaining` is set back to this at each `refill_interval` boundary.
    pub refill_amount: Option<i64>,
    /// `day` or `month` (UTC calendar boundaries).
    pub refill_interval: Option<String>,
    /// The interval boundary of the last refill.
    pub refilled_at: Option<DateTimeUtc>,
    /// Space-separated CIDRs the key may be used from; `None`: anywhere.
    pub allowed_ips: Option<String>,
    /// A JSON object of string pairs.
    pub metadata: Option<String>,
    /// The last `api_key.expiring` notice sent, in days before expiry (7, then 1).
    pub expiry_notice: Option<i32>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
