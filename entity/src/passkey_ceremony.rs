//! The server side of a WebAuthn ceremony under way (its challenge): used once, short-lived.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "passkey_ceremony")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// `register` or `signin`.
    pub kind: String,
    /// The account registering (none for a sign-in: the passkey names it).
    pub user_id: Option<String>,
    /// The `webauthn-rs` ceremony state as JSON.
    pub state: String,
    pub expires_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
