//! A client's logo as Latch fetched it from its `logo_uri` and serves it (never hot-linked):
//! a PNG, JPEG, GIF or WebP image of at most 256 KiB, its SHA-256 naming its URL; checked
//! again every `LATCH_LOGO_REFRESH` (`clients::logo_refresh`).
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
    /// The validators the app's server sent with the image (RFC 9110 §8.8), sent back as
    /// `If-None-Match` / `If-Modified-Since` when the logo is checked again.
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    /// When the logo was last fetched or checked; `None` is due at once. The refresher
    /// claims a due row by moving this forward in one conditional update.
    pub checked_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
