//! An API the operator protects with Latch (a resource server, RFC 8707): its `identifier`
//! is the access token's `aud` and the `resource` parameter's value.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "api")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    #[sea_orm(unique)]
    pub identifier: String,
    pub name: String,
    /// Seconds; `None` for `LATCH_ACCESS_TOKEN_TTL`.
    pub access_token_ttl: Option<i32>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
