//! An account's authenticator app (RFC 6238): the shared secret sealed under the master key,
//! whether a first code confirmed it, and the last time step accepted (no replay, §5.2).
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "totp_factor")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub user_id: String,
    /// AES-GCM sealed (`crypto::Sealer`), bound to the user id; never the secret in clear.
    pub secret_sealed: String,
    pub confirmed_at: Option<DateTimeUtc>,
    pub last_step: Option<i64>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
