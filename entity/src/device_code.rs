//! A device authorization (RFC 8628 §3.2): the device code (stored as its digest) the
//! device polls with, the user code a person types on `/device`, and their decision.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "device_code")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// SHA-256 hex of the device code.
    #[sea_orm(unique)]
    pub device_code_hash: String,
    /// The 8 characters people type, without the dash (`BCDFGHJK`).
    #[sea_orm(unique)]
    pub user_code: String,
    pub client_id: String,
    /// The scopes asked for; on approval, the scopes granted.
    pub scope: String,
    /// Who approved or denied it.
    pub user_id: Option<String>,
    pub auth_time: Option<DateTimeUtc>,
    /// How the person who approved had signed in (OIDC Core §2 `amr`), space-separated.
    pub amr: Option<String>,
    /// The polling interval in seconds; raised by 5 on each `slow_down` (RFC 8628 §3.5).
    pub interval_secs: i32,
    pub last_polled_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub expires_at: DateTimeUtc,
    pub approved_at: Option<DateTimeUtc>,
    pub denied_at: Option<DateTimeUtc>,
    /// Set once, when tokens were issued for it.
    pub consumed_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
