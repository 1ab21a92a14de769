//! An initial access token (RFC 7591 §3): an admin's permission for one client to register
//! at `/oauth/register`. Kept under the SHA-256 of the token (never the token), single use.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "registration_token")]
pub struct Model {
    /// SHA-256 hex of the token.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// The admin who made it; `None`: the operator, with the CLI.
    pub created_by: Option<String>,
    pub created_at: DateTimeUtc,
    pub expires_at: DateTimeUtc,
    /// When it registered a client (then it is spent).
    pub used_at: Option<DateTimeUtc>,
    /// The client it registered.
    pub client_id: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
