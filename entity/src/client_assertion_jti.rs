//! The `jti` of an accepted client assertion (RFC 7523 §3 item 7), kept until the
//! assertion's `exp` so it is accepted once, whichever instance sees it.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "client_assertion_jti")]
pub struct Model {
    /// SHA-256 hex of the client id and the `jti`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub client_id: String,
    pub expires_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
