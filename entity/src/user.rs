//! A person who can sign in. `email_normalized` (lowercased) carries the unique index, so
//! `Ann@x.io` and `ann@x.io` are one account.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "user")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub email: String,
    #[sea_orm(unique)]
    pub email_normalized: String,
    /// When the current `email` was proven by a mailed link (`None`: not verified; an
    /// email change clears it).
    pub email_verified_at: Option<DateTimeUtc>,
    /// argon2id PHC string.
    pub password_hash: String,
    pub name: Option<String>,
    pub is_admin: bool,
    pub disabled_at: Option<DateTimeUtc>,
    /// Sessions and refresh tokens older than this are void (password change, forced sign-out).
    pub sessions_valid_after: DateTimeUtc,
    pub failed_login_count: i32,
    pub locked_until: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
