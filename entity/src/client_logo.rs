//! A client's logo as Latch fetched it from its `logo_uri` and serves it (never hot-linked):
//! a PNG, JPEG, GIF or WebP image of at most 256 KiB, its SHA-256 naming its URL.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "client_logo")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub client_id: String,
    /// `image/png`, `image/jpeg`, `image/gif` or `image/webp`, from the bytes' signature.
    pub content_type: String,
    /// SHA-256 hex of `bytes`.
    pub digest: String,
    pub bytes: Vec<u8>,
    pub fetched_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
