//! A JWS signing key. The private key is sealed with the server master key (AES-256-GCM).
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "signing_key")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub kid: String,
    pub alg: String,
    /// base64url(nonce || ciphertext) of the PKCS#8 DER private key (or HMAC secret).
    pub private_key_enc: String,
    /// The public JWK as JSON; empty for HS256.
    pub public_jwk: String,
    pub created_at: DateTimeUtc,
    /// Signing switches to this key at this time (published in JWKS before).
    pub active_from: DateTimeUtc,
    /// When a newer key took over signing.
    pub retired_at: Option<DateTimeUtc>,
    /// After this, no token it signed is still valid; the key leaves JWKS.
    pub expires_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
