//! One registered passkey (WebAuthn credential) of an account.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "passkey")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub user_id: String,
    /// The credential id, base64url without padding; unique.
    pub credential_id: String,
    /// The WebAuthn user handle it was made for (a UUID derived from the account).
    pub user_handle: String,
    /// The person's name for it ("Work laptop").
    pub name: String,
    /// The `webauthn-rs` `Passkey` as JSON: public key, signature counter, backup flags.
    pub credential: String,
    pub created_at: DateTimeUtc,
    pub last_used_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
