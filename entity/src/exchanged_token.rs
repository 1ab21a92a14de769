//! An access token issued by token exchange (RFC 8693), with the token it was exchanged
//! from: revoking the subject (or the actor) deny-lists this one too. Kept until it expires.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "exchanged_token")]
pub struct Model {
    /// The issued token's `jti`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub jti: String,
    /// The subject token's `jti`, or the API key's id when the subject was a key.
    pub subject_jti: String,
    /// The actor token's `jti`, when one was given.
    pub actor_jti: Option<String>,
    /// The client that asked for the exchange.
    pub client_id: String,
    pub expires_at: DateTimeUtc,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
