//! A used DPoP proof (RFC 9449 §11.1), when there is no Redis: the digest of its key's
//! thumbprint and `jti`, kept until the proof's `iat` window has passed.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "dpop_proof")]
pub struct Model {
    /// SHA-256 hex of `jkt:jti`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub key: String,
    #[sea_orm(indexed)]
    pub expires_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
