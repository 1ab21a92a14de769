//! A refresh token (RFC 6749 §6), rotated on every use. All tokens descending from one
//! authorization form a family; a family never has two live tokens.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "refresh_token")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    #[sea_orm(unique)]
    pub token_hash: String,
    #[sea_orm(indexed)]
    pub family_id: String,
    pub parent_id: Option<String>,
    pub client_id: String,
    pub user_id: String,
    pub scope: String,
    pub auth_time: DateTimeUtc,
    pub nonce: Option<String>,
    pub livemode: bool,
    /// The access token issued alongside this refresh token.
    pub access_token_jti: String,
    pub access_token_expires_at: DateTimeUtc,
    pub created_at: DateTimeUtc,
    /// Absolute expiry of the family, carried from token to token.
    pub expires_at: DateTimeUtc,
    pub rotated_at: Option<DateTimeUtc>,
    pub revoked_at: Option<DateTimeUtc>,
    /// How the person signed in (OIDC Core §2 `amr`), space-separated: `pwd`, `pwd otp`.
    pub amr: Option<String>,
    /// RFC 9449 §5: a public client's family is bound to this key (JWK thumbprint): a
    /// refresh needs a proof by it.
    pub dpop_jkt: Option<String>,
    /// The public session id (OIDC Back-Channel Logout §2.1 `sid`) of the browser session
    /// the grant was made in; `None` outside a browser session or before it was recorded.
    pub sid: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
