//! A pushed authorization request (RFC 9126 §2): its parameters, kept under the SHA-256 of
//! its `request_uri` (never the URI itself) until it is redeemed once or expires.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "pushed_request")]
pub struct Model {
    /// SHA-256 hex of the `request_uri`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub client_id: String,
    /// The validated parameters, a JSON array of `[name, value]` pairs in order.
    pub params: String,
    pub created_at: DateTimeUtc,
    pub expires_at: DateTimeUtc,
    pub consumed_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
