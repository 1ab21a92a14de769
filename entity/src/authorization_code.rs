//! A single-use authorization code (RFC 6749 §4.1.2), stored as its digest.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "authorization_code")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    #[sea_orm(unique)]
    pub code_hash: String,
    pub client_id: String,
    pub user_id: String,
    pub redirect_uri: String,
    /// Whether the authorization request carried `redirect_uri` (RFC 6749 §4.1.3).
    pub redirect_uri_sent: bool,
    pub scope: String,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
    pub nonce: Option<String>,
    pub auth_time: DateTimeUtc,
    pub created_at: DateTimeUtc,
    pub expires_at: DateTimeUtc,
    pub consumed_at: Option<DateTimeUtc>,
    /// The refresh-token family minted from this code, so a replay can revoke it (RFC 6749 §4.1.2).
    pub family_id: Option<String>,
    /// The access token minted from this code, and when it expires (deny-listed on replay).
    pub access_token_jti: Option<String>,
    pub access_token_expires_at: Option<DateTimeUtc>,
    /// How the person signed in (OIDC Core §2 `amr`), space-separated: `pwd`, `pwd otp`.
    pub amr: Option<String>,
    /// RFC 9449 §10 `dpop_jkt`: the code is redeemed only with a proof by this key.
    pub dpop_jkt: Option<String>,
    /// The public session id (OIDC Back-Channel Logout §2.1 `sid`) of the browser session
    /// the grant was made in; `None` outside a browser session or before it was recorded.
    pub sid: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
