//! An OAuth client (RFC 6749 §2). `id` is the public `client_id`.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "client")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// SHA-256 hex of the client secret; `None` for public clients.
    #[sea_orm(unique)]
    pub secret_hash: Option<String>,
    pub secret_last4: Option<String>,
    pub name: String,
    pub owner_id: Option<String>,
    /// Space-separated, each matched exactly (RFC 9700 §4.1.3).
    pub redirect_uris: String,
    pub grant_types: String,
    /// The scopes this client may ask for, space-separated.
    pub scopes: String,
    /// `client_secret_basic`, `client_secret_post`, `private_key_jwt` or `none`.
    pub token_endpoint_auth_method: String,
    pub is_public: bool,
    pub first_party: bool,
    /// May introspect any token and API key.
    pub resource_server: bool,
    pub livemode: bool,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub secret_rotated_at: Option<DateTimeUtc>,
    /// While set, the client cannot act and its tokens are not accepted.
    pub disabled_at: Option<DateTimeUtc>,
    /// An admin vouched for this app (a user registered it): the consent screen drops its
    /// "unverified app" notice. Operator apps and apps of admins count as verified anyway.
    pub verified_at: Option<DateTimeUtc>,
    /// OIDC Dynamic Client Registration §2 metadata people see on the consent screen.
    pub logo_uri: Option<String>,
    pub client_uri: Option<String>,
    pub policy_uri: Option<String>,
    pub tos_uri: Option<String>,
    /// After a rotation with an overlap: the previous secret's SHA-256 hex, accepted until
    /// `previous_secret_expires_at` (as a rolled API key is).
    pub previous_secret_hash: Option<String>,
    pub previous_secret_expires_at: Option<DateTimeUtc>,
    /// RFC 8693: the API identifiers (space-separated) this client may exchange tokens
    /// into; empty: none, even with the token-exchange grant enabled.
    pub token_exchange_audiences: String,
    /// Authorization requests must be pushed first (RFC 9126 §6).
    pub require_par: bool,
    /// A JWK Set (RFC 7517 §5) of a `private_key_jwt` client's public keys.
    pub jwks: Option<String>,
    /// Where a `private_key_jwt` client publishes its JWK Set instead.
    pub jwks_uri: Option<String>,
    /// Origins allowed to call the token, revocation, userinfo and device endpoints from a
    /// browser (CORS), space-separated; `None`: the default (a public client's redirect URI
    /// origins, none for a confidential client).
    pub allowed_origins: Option<String>,
    /// RFC 9449 §5.2 `dpop_bound_access_tokens`: every token request needs a DPoP proof.
    pub dpop_bound_access_tokens: bool,
    /// Every DPoP proof of this client, at the token endpoint and at resources, must carry
    /// a server nonce (RFC 9449 §8, §9), as `LATCH_DPOP_REQUIRE_NONCE` asks of all clients.
    pub dpop_require_nonce: bool,
    /// RFC 9701 §6 `introspection_signed_response_alg`: the algorithm of the signed
    /// introspection responses this client asks for; `None`: the access tokens'.
    pub introspection_signed_response_alg: Option<String>,
    /// OIDC RP-Initiated Logout §3.1: where the app may ask to be sent after sign-out,
    /// space-separated, each matched exactly (the redirect URI rules).
    pub post_logout_redirect_uris: String,
    /// OIDC Back-Channel Logout §2.2: where Latch POSTs a `logout_token` when a browser
    /// session that got tokens for this app ends.
    pub backchannel_logout_uri: Option<String>,
    /// Back-Channel Logout §2.2 `backchannel_logout_session_required`: the app needs `sid`
    /// in logout tokens (and ID tokens). Latch always sends it; kept for the app's metadata.
    pub backchannel_logout_session_required: bool,
    /// RFC 7592 §1.3: SHA-256 hex of the registration access token of a client registered
    /// at `/oauth/register`; `None` for every other client (so it also marks those
    /// registered by an outside party).
    pub registration_access_token_hash: Option<String>,
    /// A client ID metadata document client: its `client_id` is this `https` URL (the row's
    /// `id` is a digest of it), and the row is a cache of the document.
    pub metadata_document_url: Option<String>,
    /// Until when the cached document is used before it is fetched again.
    pub metadata_document_expires_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
