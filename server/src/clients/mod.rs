//! OAuth client registration rules (RFC 6749 §2, RFC 9700 §2.1/§4.1.3, RFC 8252 §7), the
//! client metadata people see (OIDC Dynamic Client Registration §2: `logo_uri`,
//! `client_uri`, `policy_uri`, `tos_uri`; the logo is fetched by [`logo`]), and who vouches
//! for an app ([`Trust`]): the operator's apps and admins' apps are trusted, an app a user
//! registered is "unverified" until an admin verifies it.

pub mod auth_method;
pub mod jwks;
pub mod kind;
pub mod logo;
pub mod logo_refresh;
pub mod logout;
pub mod metadata_document;
pub mod origins;
pub mod registration;

use url::Url;

use crate::catalog::Snapshot;
use crate::crypto;
use crate::errors::{ApiError, StoreError};
use crate::grant_type::GrantType;
use crate::scope::ScopeSet;
use crate::store::{self, Conn};

/// Scopes Latch knows; defined beside [`ScopeSet`] (which validates against it) so that

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("{0}")]
    Invalid(String, &'static str),
    #[error("unknown owner {0}")]
    UnknownOwner(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<ClientError> for ApiError {
    fn from(e: ClientError) -> Self {
        match e {
            ClientError::Invalid(m, param) => {
                ApiError::invalid_request("parameter_invalid", m).with_param(param)
            }
            ClientError::UnknownOwner(_) => {
                ApiError::invalid_request("parameter_invalid", e.to_string()).with_param("owner")
            }
            ClientError::Store(s) => s.into(),
        }
    }
}

fn invalid(msg: impl Into<String>, param: &'static str) -> ClientError {
    ClientError::Invalid(msg.into(), param)
}

/// The `client_id` the client itself uses: its metadata document URL for such a client
/// ([`metadata_document`]), else the row id.
pub fn public_id(c: &entity::client::Model) -> &str {
    c.metadata_document_url.as_deref().unwrap_or(&c.id)
}

pub(crate) fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

/// A redirect URI that may be registered: absolute, no fragment (RFC 6749 §3.1.2), no
/// wildcard, no userinfo; `https`, or `http` only on loopback (RFC 8252 §7.3), or a
/// private-use scheme in reverse-domain form for native apps (RFC 8252 §7.1).
pub fn validate_redirect_uri(raw: &str) -> Result<(), String> {
    if raw.len() > 2000 || raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!(
            "redirect URI {raw:?} contains whitespace or is too long"
        ));
    }
    let url =
        Url::parse(raw).map_err(|_| format!("redirect URI {raw:?} is not an absolute URI"))?;
    if url.fragment().is_some() || raw.contains('#') {
        return Err(format!("redirect URI {raw:?} must not contain a fragment"));
    }
    if raw.contains('*') {
        return Err(format!("redirect URI {raw:?} must not contain a wildcard"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!(
            "redirect URI {raw:?} must not contain user information"
        ));
    }
    match url.scheme() {
        "https" => Ok(()),
        "http" if is_loopback(&url) => loopback_written_plainly(raw, &url),
        "http" => Err(format!(
            "redirect URI {raw:?} must use https (http is allowed only on loopback)"
        )),
        "javascript" | "data" | "file" | "vbscript" | "about" | "blob" => {
            Err(format!("redirect URI scheme of {raw:?} is not allowed"))
        }
        s if s.contains('.') => Ok(()),
        _ => Err(format!(
            "redirect URI {raw:?}: custom schemes must be reverse-domain names such as com.example.app"
        )),
    }
}

/// RFC 8252 §7.3: a loopback redirect URI matches whatever port the client sends, and
/// `authorize::request::redirect_uri_matches` finds host and port in the text as sent
/// (`http://host[:port]…`, 1 to 5 digits; it never compares parsed URLs). A URI the URL
/// parser accepts but written otherwise (an upper-case scheme, an empty or 6-digit port,
/// which RFC 3986 §3.2.3 says to leave out, extra slashes or an empty userinfo before the
/// host, a host spelled other than the parser reads it) would only ever match itself:
/// refused here, with the spelling to use. Found by the `redirect_uri` fuzz target.
fn loopback_written_plainly(raw: &str, url: &Url) -> Result<(), String> {
    let plain = || {
        let after = raw.strip_prefix("http://")?;
        let end = after.find(['/', '?', '#']).unwrap_or(after.len());
        let authority = &after[..end];
        // A colon inside `[…]` belongs to an IPv6 literal, not to a port.
        let (host, port) = match authority.rfind(':') {
            Some(i) if !authority[i..].contains(']') => {
                (&authority[..i], Some(&authority[i + 1..]))
            }
            _ => (authority, None),
        };
        if port
            .is_some_and(|p| p.is_empty() || p.len() > 5 || !p.bytes().all(|b| b.is_ascii_digit()))
        {
            return None;
        }
        url.host_str()?.eq_ignore_ascii_case(host).then_some(())
    };
    plain().ok_or_else(|| {
        format!(
            "redirect URI {raw:?}: write a loopback URI as http://127.0.0.1:PORT/path, http://[::1]:PORT/path or http://localhost:PORT/path (the port may be left out)"
        )
    })
}

pub struct NewClient {
    pub name: String,
    pub redirect_uris: Vec<String>,
    pub public: bool,
    pub grant_types: Vec<String>,
    pub scopes: Vec<String>,
    pub livemode: bool,
    pub first_party: bool,
    pub resource_server: bool,
    pub owner_id: Option<String>,
    pub metadata: Metadata,
    /// CORS origins ([`origins`]); `None`: the default.
    pub allowed_origins: Option<Vec<String>>,
}

/// The OpenID client metadata people see on the consent screen (OIDC Dynamic Client
/// Registration §2); `None` or an empty string is "not set".
#[derive(Clone, Debug, Default)]
pub struct Metadata {
    /// Fetched once by Latch and served from Latch ([`logo`]), never hot-linked.
    pub logo_uri: Option<String>,
    /// The app's home page: its domain is shown as the app's.
    pub client_uri: Option<String>,
    pub policy_uri: Option<String>,
    pub tos_uri: Option<String>,
}

/// A metadata URI as people will follow it: absolute, `https` (`http` only on loopback),
/// at most 2000 characters, no whitespace and no credentials in it. An empty value is
/// "none".
pub fn validate_metadata_uri(
    raw: &str,
    param: &'static str,
) -> Result<Option<String>, ClientError> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(None);
    }
    let bad = |why: &str| invalid(format!("{param} {why}"), param);
    if raw.chars().count() > 2000 {
        return Err(bad("must be at most 2000 characters"));
    }
    if raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad("must not contain whitespace"));
    }
    let url = Url::parse(raw).map_err(|_| bad("must be an absolute https:// URI"))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad("must not contain credentials"));
    }
    match url.scheme() {
        "https" if url.host().is_some() => Ok(Some(raw.to_owned())),
        "http" if is_loopback(&url) => Ok(Some(raw.to_owned())),
        _ => Err(bad(
            "must be an absolute https:// URI (http:// only on loopback)",
        )),
    }
}

fn check_metadata(m: &Metadata) -> Result<Metadata, ClientError> {
    let one = |v: &Option<String>, p| match v {
        Some(v) => validate_metadata_uri(v, p),
        None => Ok(None),
    };
    Ok(Metadata {
        logo_uri: one(&m.logo_uri, "logo_uri")?,
        client_uri: one(&m.client_uri, "client_uri")?,
        policy_uri: one(&m.policy_uri, "policy_uri")?,
        tos_uri: one(&m.tos_uri, "tos_uri")?,
    })
}

/// Fetch the logo at a validated `logo_uri`; a failure names `logo_uri`.
async fn fetch_logo(logos: &logo::Fetcher, uri: &str) -> Result<logo::Logo, ClientError> {
    logos
        .fetch(uri)
        .await
        .map_err(|why| invalid(format!("could not use logo_uri: {why}"), "logo_uri"))
}

/// Store a fetched logo as `client_id`'s: called inside the transaction that writes the
/// client row, so an app is never saved without the logo it was checked with.
async fn store_logo(db: &impl Conn, client_id: &str, l: logo::Logo) -> Result<(), StoreError> {
    let now = store::now();
    store::client_logos::put(db, logo_row(client_id, l, now)).await
}

/// The `client_logo` row of a logo fetched (and so checked) at `now`.
pub(crate) fn logo_row(
    client_id: &str,
    l: logo::Logo,
    now: chrono::DateTime<chrono::Utc>,
) -> entity::client_logo::Model {
    entity::client_logo::Model {
        client_id: client_id.to_owned(),
        content_type: l.content_type.to_owned(),
        digest: l.digest,
        bytes: l.bytes,
        fetched_at: now,
        etag: l.etag,
        last_modified: l.last_modified,
        checked_at: Some(now),
    }
}

/// Who registered an app, as the consent screen says it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegisteredBy {
    /// No owner: made with the CLI by the server's operator.
    Operator,
    /// An admin of this server.
    Admin,
    /// Anyone who signed up.
    User,
    /// A program that registered itself at `/oauth/register` (RFC 7591): an outside party,
    /// whatever initial access token it may have had; unverified until an admin verifies it.
    Registration,
}

/// Who registered an app and whether someone this server trusts vouches for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Trust {
    pub by: RegisteredBy,
    /// Operator and admin apps always; a user's app once an admin verified it.
    pub verified: bool,
}

/// The trust of `c`, given its owner's row (`None` for operator apps, or an owner gone).
pub fn trust_of(c: &entity::client::Model, owner: Option<&entity::user::Model>) -> Trust {
    if c.registration_access_token_hash.is_some() {
        return Trust {
            by: RegisteredBy::Registration,
            verified: c.verified_at.is_some(),
        };
    }
    match (&c.owner_id, owner) {
        // A client ID metadata document: whoever controls its URL wrote it; nobody here
        // vouches for it (draft-ietf-oauth-client-id-metadata-document §6).
        _ if c.metadata_document_url.is_some() => Trust {
            by: RegisteredBy::User,
            verified: false,
        },
        (None, _) => Trust {
            by: RegisteredBy::Operator,
            verified: true,
        },
        (Some(_), Some(u)) if u.is_admin => Trust {
            by: RegisteredBy::Admin,
            verified: true,
        },
        (Some(_), _) => Trust {
            by: RegisteredBy::User,
            verified: c.verified_at.is_some(),
        },
    }
}

/// [`trust_of`] with the owner read from the row caches.
pub async fn trust(
    db: &impl Conn,
    rows: &store::RowCaches,
    c: &entity::client::Model,
) -> Result<Trust, StoreError> {
    let owner = match &c.owner_id {
        Some(o) => store::users::by_id_cached(db, rows, o).await?,
        None => None,
    };
    Ok(trust_of(c, owner.as_deref()))
}

/// An admin marks a user's app verified, or takes that back.
pub async fn set_verified(
    db: &impl Conn,
    rows: &store::RowCaches,
    client: &entity::client::Model,
    verified: bool,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<entity::client::Model, StoreError> {
    if client.verified_at.is_some() == verified {
        return Ok(client.clone());
    }
    let updated = store::clients::set_verified(db, client, verified.then_some(now)).await?;
    rows.forget_client(&client.id);
    Ok(updated)
}

/// A client registered without a scope list may ask for the built-in API's scopes and the
/// OpenID ones (not other APIs': those are granted by naming them).
pub fn default_scopes() -> Vec<String> {
    crate::catalog::BUILTIN_SCOPES
        .iter()
        .map(|(s, _)| *s)
        .chain(crate::scope::OPENID.iter().copied())
        .map(str::to_owned)
        .collect()
}

pub fn default_grant_types() -> Vec<String> {
    [GrantType::AuthorizationCode, GrantType::RefreshToken]
        .map(|g| g.as_str().to_owned())
        .to_vec()
}

/// The grants a client gets when none are chosen: a resource server needs no user flow (so
/// no redirect URI): it introspects, and may get tokens of its own with client_credentials.
pub fn default_grant_types_for(resource_server: bool) -> Vec<String> {
    if resource_server {
        vec![GrantType::ClientCredentials.as_str().to_owned()]
    } else {
        default_grant_types()
    }
}

fn dedup(v: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for s in v {
        if !out.contains(s) {
            out.push(s.clone());
        }
    }
    out
}

/// How a client authenticates at the token endpoint and sends its authorization
/// requests, beside [`NewClient`] (whose callers that need none of it call [`create`]).
#[derive(Clone, Debug, Default)]
pub struct Protocol {
    /// RFC 9126 §6 `require_pushed_authorization_requests`.
    pub require_par: bool,
    /// `token_endpoint_auth_method` (RFC 7591 §2); `None`: `none` for a public client,
    /// `client_secret_basic` otherwise.
    pub auth_method: Option<String>,
    /// For `private_key_jwt`: a JWK Set (RFC 7517 §5) as JSON text, or where it is published.
    pub jwks: Option<String>,
    pub jwks_uri: Option<String>,
}

/// The client-authentication methods a client can be registered with.
pub const AUTH_METHODS: &[&str] = &[
    "client_secret_basic",
    "client_secret_post",
    "private_key_jwt",
    "none",
];

/// `token_endpoint_auth_method` and the keys that go with it: `none` for public clients
/// only; `private_key_jwt` (RFC 7523 §2.2) with exactly one of an inline JWKS or a
/// `jwks_uri` (OIDC Dynamic Client Registration §2: "MUST NOT both be present"), and no
/// keys with any other method.
fn check_protocol(
    public: bool,
    p: &Protocol,
) -> Result<(String, Option<String>, Option<String>), ClientError> {
    let method = match p.auth_method.as_deref().map(str::trim) {
        None | Some("") if public => "none",
        None | Some("") => "client_secret_basic",
        Some(m) if AUTH_METHODS.contains(&m) => m,
        Some(m) => {
            return Err(invalid(
                format!(
                    "unsupported token_endpoint_auth_method {:?}; use {}",
                    m.chars().take(40).collect::<String>(),
                    AUTH_METHODS.join(", ")
                ),
                "token_endpoint_auth_method",
            ));
        }
    };
    if public != (method == "none") {
        return Err(invalid(
            "public clients use token_endpoint_auth_method none, and only they do",
            "token_endpoint_auth_method",
        ));
    }
    let jwks = p.jwks.as_deref().map(str::trim).filter(|s| !s.is_empty());
    let jwks_uri = p
        .jwks_uri
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty());
    if method != "private_key_jwt" {
        if jwks.is_some() || jwks_uri.is_some() {
            return Err(invalid(
                "jwks and jwks_uri are for token_endpoint_auth_method private_key_jwt",
                "token_endpoint_auth_method",
            ));
        }
        return Ok((method.to_owned(), None, None));
    }
    match (jwks, jwks_uri) {
        (Some(j), None) => {
            jwks::parse(j).map_err(|m| invalid(m, "jwks"))?;
            Ok((method.to_owned(), Some(j.to_owned()), None))
        }
        (None, Some(u)) => {
            let u = validate_metadata_uri(u, "jwks_uri")?;
            Ok((method.to_owned(), None, u))
        }
        _ => Err(invalid(
            "private_key_jwt needs exactly one of jwks and jwks_uri",
            "jwks",
        )),
    }
}

/// Validate and register a client. Returns the row and, for a confidential client, the
/// secret: shown once, stored only as its digest.
pub async fn create(
    db: &store::Db,
    catalog: &Snapshot,
    logos: &logo::Fetcher,
    c: NewClient,
) -> Result<(entity::client::Model, Option<String>), ClientError> {
    create_with(db, catalog, logos, c, Protocol::default()).await
}

/// [`create`] with the client's [`Protocol`]. A `private_key_jwt` client gets no secret:
/// its keys are its credential. The logo is fetched first, outside any transaction (it is
/// network), then the client row and its logo row are written in one transaction.
pub async fn create_with(
    db: &store::Db,
    catalog: &Snapshot,
    logos: &logo::Fetcher,
    c: NewClient,
    protocol: Protocol,
) -> Result<(entity::client::Model, Option<String>), ClientError> {
    let Checked {
        auth_method,
        jwks,
        jwks_uri,
        name,
        grant_types,
        scopes,
        redirect_uris,
        metadata,
        allowed_origins,
    } = check_new(catalog, &c, &protocol)?;
    if let Some(owner) = &c.owner_id
        && store::users::by_id(db, owner).await?.is_none()
    {
        return Err(ClientError::UnknownOwner(owner.clone()));
    }
    let logo = match &metadata.logo_uri {
        Some(uri) => Some(fetch_logo(logos, uri).await?),
        None => None,
    };
    let uses_secret = auth_method.starts_with("client_secret_");
    let secret = uses_secret.then(|| crypto::mint_secret("cs_"));
    let now = store::now();
    let model = entity::client::Model {
        id: format!("cl_{}", crypto::random_base62(24)),
        secret_hash: secret.as_deref().map(crypto::sha256_hex),
        secret_last4: secret.as_deref().map(|s| s[s.len() - 4..].to_owned()),
        name,
        owner_id: c.owner_id,
        redirect_uris: redirect_uris.join(" "),
        grant_types: grant_types.join(" "),
        scopes: scopes.join(" "),
        token_endpoint_auth_method: auth_method,
        is_public: c.public,
        first_party: c.first_party,
        resource_server: c.resource_server,
        livemode: c.livemode,
        created_at: now,
        updated_at: now,
        secret_rotated_at: None,
        disabled_at: None,
        verified_at: None,
        logo_uri: metadata.logo_uri,
        client_uri: metadata.client_uri,
        policy_uri: metadata.policy_uri,
        tos_uri: metadata.tos_uri,
        previous_secret_hash: None,
        previous_secret_expires_at: None,
        token_exchange_audiences: String::new(),
        require_par: protocol.require_par,
        jwks,
        jwks_uri,
        allowed_origins,
        dpop_bound_access_tokens: false,
        dpop_require_nonce: false,
        introspection_signed_response_alg: None,
        // Logout URIs are set after creation (`set_logout`).
        post_logout_redirect_uris: String::new(),
        backchannel_logout_uri: None,
        backchannel_logout_session_required: false,
        registration_access_token_hash: None,
        metadata_document_url: None,
        metadata_document_expires_at: None,
    };
    let tx = store::begin_write(db).await?;
    let row = store::clients::insert(&*tx, model).await?;
    if let Some(l) = logo {
        store_logo(&*tx, &row.id, l).await?;
    }
    tx.commit().await.map_err(StoreError::from)?;
    Ok((row, secret))
}

/// A new client's values after every rule that needs neither the database nor the network
/// (all of [`create_with`]'s checks but the owner lookup and the logo fetch).
pub(crate) struct Checked {
    pub auth_method: String,
    pub jwks: Option<String>,
    pub jwks_uri: Option<String>,
    pub name: String,
    pub grant_types: Vec<String>,
    pub scopes: Vec<String>,
    pub redirect_uris: Vec<String>,
    pub metadata: Metadata,
    pub allowed_origins: Option<String>,
}

/// The checks of [`create_with`] before it reads or writes anything; one function so the
/// fuzz target of dynamic registration (`fuzz/fuzz_targets/registration.rs`, through
/// `latch::fuzzing`) runs exactly the rules a registration meets.
pub(crate) fn check_new(
    catalog: &Snapshot,
    c: &NewClient,
    protocol: &Protocol,
) -> Result<Checked, ClientError> {
    let (auth_method, jwks, jwks_uri) = check_protocol(c.public, protocol)?;
    let name = check_name(&c.name)?;
    let grant_types = check_grant_types(&c.grant_types, c.public)?;
    let scopes = check_scopes(catalog, &c.scopes)?;
    let redirect_uris = check_redirect_uris(&c.redirect_uris, &grant_types)?;
    let metadata = check_metadata(&c.metadata)?;
    let allowed_origins = match &c.allowed_origins {
        Some(list) => Some(
            origins::check_origins(list)
                .map_err(|m| invalid(m, "allowed_origins"))?
                .join(" "),
        ),
        None => None,
    };
    Ok(Checked {
        auth_method,
        jwks,
        jwks_uri,
        name,
        grant_types,
        scopes,
        redirect_uris,
        metadata,
        allowed_origins,
    })
}

fn check_name(name: &str) -> Result<String, ClientError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(invalid("name must be 1 to 100 characters", "name"));
    }
    Ok(name.to_owned())
}

/// What each grant asks of the client registering it (one arm per grant; the redirect URIs
/// the code grant needs are checked in [`check_redirect_uris`]).
fn check_grant(grant: GrantType, public: bool) -> Result<(), ClientError> {
    match grant {
        GrantType::AuthorizationCode | GrantType::RefreshToken => Ok(()),
        // OAuth 2.1 §4.2: the client credentials grant is for confidential clients only.
        GrantType::ClientCredentials if public => Err(invalid(
            "public clients cannot use client_credentials",
            "grant_types",
        )),
        GrantType::ClientCredentials => Ok(()),
        // RFC 8693 §2.1: the exchange is bound to an authenticated client, whose policy
        // (`token_exchange_audiences`) says where it may exchange tokens into.
        GrantType::TokenExchange if public => Err(invalid(
            "public clients cannot use token exchange",
            "grant_types",
        )),
        GrantType::TokenExchange => Ok(()),
        // RFC 8628 §3.4: public (a TV, a CLI) or confidential alike.
        GrantType::DeviceCode => Ok(()),
    }
}

/// Every scope must be in the catalog (an API's, or an OpenID one); the error names the
/// first that is not.
fn check_scopes(catalog: &Snapshot, scopes: &[String]) -> Result<Vec<String>, ClientError> {
    let unknown = |s: &str| {
        invalid(
            format!(
                "unknown scope {:?}; register it with an API first (`latch api scope add`)",
                s.chars().take(64).collect::<String>()
            ),
            "scopes",
        )
    };
    let set = ScopeSet::from_tokens(scopes.iter().map(String::as_str)).map_err(unknown)?;
    if let Some(s) = catalog.unknown(&set) {
        return Err(unknown(s));
    }
    Ok(set.to_vec())
}

/// A client's grant types, deduplicated: at least one, each supported and allowed for the
/// client's type (the one rule for registration and for changes).
fn check_grant_types(given: &[String], public: bool) -> Result<Vec<String>, ClientError> {
    let grant_types = dedup(given);
    if grant_types.is_empty() {
        return Err(invalid(
            "at least one grant type is required",
            "grant_types",
        ));
    }
    for g in &grant_types {
        let grant = GrantType::parse(g).ok_or_else(|| {
            invalid(
                format!(
                    "unsupported grant type {g:?}; use {}",
                    GrantType::names(", ", " or ")
                ),
                "grant_types",
            )
        })?;
        check_grant(grant, public)?;
    }
    Ok(grant_types)
}

fn check_redirect_uris(
    uris: &[String],
    grant_types: &[String],
) -> Result<Vec<String>, ClientError> {
    let uris = dedup(uris);
    if uris.len() > 20 {
        return Err(invalid("at most 20 redirect URIs", "redirect_uris"));
    }
    for r in &uris {
        validate_redirect_uri(r).map_err(|m| invalid(m, "redirect_uris"))?;
    }
    if grant_types
        .iter()
        .any(|g| g == GrantType::AuthorizationCode.as_str())
        && uris.is_empty()
    {
        return Err(invalid(
            "the authorization_code grant needs at least one redirect URI",
            "redirect_uris",
        ));
    }
    Ok(uris)
}

/// Changes an owner may make to a registered client.
#[derive(Default)]
pub struct ClientUpdate {
    /// Replaces the grant types (the same rules as at registration).
    pub grant_types: Option<Vec<String>>,
    pub name: Option<String>,
    pub redirect_uris: Option<Vec<String>>,
    pub scopes: Option<Vec<String>>,
    /// Each given URI replaces the stored one; an empty string clears it. Giving
    /// `logo_uri` fetches the logo again.
    pub logo_uri: Option<String>,
    pub client_uri: Option<String>,
    pub policy_uri: Option<String>,
    pub tos_uri: Option<String>,
    /// RFC 9126 §6 `require_pushed_authorization_requests`.
    pub require_par: Option<bool>,
    /// Replaces the CORS origins (an empty list: none).
    pub allowed_origins: Option<Vec<String>>,
    /// A `private_key_jwt` client's new JWK Set, or the URL it moves to: either replaces
    /// both (a client rotates inline keys by sending the set with old and new keys, then
    /// the new one alone).
    pub jwks: Option<String>,
    pub jwks_uri: Option<String>,
}

/// Change a client; this instance's cached row goes at once (others within the cache TTL).
/// A new logo is fetched before anything is written, then the row and the logo are written
/// in one transaction.
pub async fn update(
    db: &store::Db,
    catalog: &Snapshot,
    rows: &store::RowCaches,
    logos: &logo::Fetcher,
    client: &entity::client::Model,
    u: ClientUpdate,
) -> Result<entity::client::Model, ClientError> {
    let mut changes = store::clients::FieldChanges::default();
    // Grant types may change after registration (issue #15): the same rules as at
    // registration, and the redirect URIs (given now, or stored) must suit the new set.
    // Dropping `refresh_token` stops the refreshes of tokens already issued: the token
    // endpoint checks the client's grants on every request.
    let grant_types: Vec<String> = match &u.grant_types {
        Some(g) => check_grant_types(g, client.is_public)?,
        None => store::words(&client.grant_types)
            .map(str::to_owned)
            .collect(),
    };
    if u.grant_types.is_some() {
        changes.grant_types = Some(grant_types.join(" "));
    }
    if let Some(n) = u.name {
        changes.name = Some(check_name(&n)?);
    }
    match u.redirect_uris {
        Some(r) => {
            changes.redirect_uris = Some(check_redirect_uris(&r, &grant_types)?.join(" "));
        }
        None if u.grant_types.is_some() => {
            let stored: Vec<String> = store::words(&client.redirect_uris)
                .map(str::to_owned)
                .collect();
            check_redirect_uris(&stored, &grant_types)?;
        }
        None => {}
    }
    if let Some(s) = u.scopes {
        changes.scopes = Some(check_scopes(catalog, &s)?.join(" "));
    }
    for (given, slot, param) in [
        (&u.client_uri, &mut changes.client_uri, "client_uri"),
        (&u.policy_uri, &mut changes.policy_uri, "policy_uri"),
        (&u.tos_uri, &mut changes.tos_uri, "tos_uri"),
        (&u.logo_uri, &mut changes.logo_uri, "logo_uri"),
    ] {
        if let Some(v) = given {
            *slot = Some(validate_metadata_uri(v, param)?);
        }
    }
    if let Some(list) = &u.allowed_origins {
        changes.allowed_origins = Some(
            origins::check_origins(list)
                .map_err(|m| invalid(m, "allowed_origins"))?
                .join(" "),
        );
    }
    // The logo is fetched before anything is written, so a refused logo changes nothing.
    let logo = match &changes.logo_uri {
        Some(Some(uri)) => Some(fetch_logo(logos, uri).await?),
        _ => None,
    };
    changes.require_par = u.require_par;
    if u.jwks.is_some() || u.jwks_uri.is_some() {
        if client.token_endpoint_auth_method != "private_key_jwt" {
            return Err(invalid(
                "jwks and jwks_uri are for token_endpoint_auth_method private_key_jwt",
                "jwks",
            ));
        }
        let p = Protocol {
            auth_method: Some("private_key_jwt".to_owned()),
            jwks: u.jwks,
            jwks_uri: u.jwks_uri,
            ..Protocol::default()
        };
        let (_, jwks, jwks_uri) = check_protocol(false, &p)?;
        changes.keys = Some((jwks, jwks_uri));
    }
    let cleared_logo = matches!(changes.logo_uri, Some(None));
    let tx = store::begin_write(db).await?;
    let updated = store::clients::update_fields(&*tx, client, changes, store::now()).await?;
    if let Some(l) = logo {
        store_logo(&*tx, &client.id, l).await?;
    } else if cleared_logo {
        store::client_logos::delete(&*tx, &client.id).await?;
    }
    tx.commit().await.map_err(StoreError::from)?;
    rows.forget_client(&client.id);
    Ok(updated)
}

/// The longest a rotated-out client secret may keep working (as for a rolled API key).
pub const MAX_SECRET_OVERLAP_SECS: i64 = 604_800;

/// The token-exchange policy (RFC 8693) as stored: each value a registered API identifier
/// (DESIGN.md "Your own APIs"), empty values skipped, duplicates dropped. An empty list
/// allows no exchange at all.
pub fn check_exchange_audiences(catalog: &Snapshot, ids: &[String]) -> Result<String, ClientError> {
    const PARAM: &str = "token_exchange_audiences";
    let mut out: Vec<&str> = Vec::new();
    for id in ids.iter().map(|i| i.trim()).filter(|i| !i.is_empty()) {
        if catalog.by_identifier(id).is_none() {
            return Err(invalid(
                format!("{PARAM}: {id:?} is not the identifier of a registered API"),
                PARAM,
            ));
        }
        if !out.contains(&id) {
            out.push(id);
        }
    }
    Ok(out.join(" "))
}

/// Set which APIs `client` may exchange tokens into (RFC 8693); this instance's cached row
/// goes at once (others within the cache TTL).
pub async fn set_exchange_audiences(
    db: &impl Conn,
    catalog: &Snapshot,
    rows: &store::RowCaches,
    client: &entity::client::Model,
    ids: &[String],
) -> Result<entity::client::Model, ClientError> {
    let joined = check_exchange_audiences(catalog, ids)?;
    let updated = store::clients::set_exchange_audiences(db, client, joined, store::now()).await?;
    rows.forget_client(&client.id);
    Ok(updated)
}

/// A new secret for a confidential client. The old one keeps working for `overlap_secs`
/// (0: it stops at once; at most [`MAX_SECRET_OVERLAP_SECS`]), so a deployment can switch
/// without downtime. One previous secret at most: a rotation during an overlap ends the
/// older secret at once.
pub async fn rotate_secret(
    db: &impl Conn,
    rows: &store::RowCaches,
    client: &entity::client::Model,
    overlap_secs: i64,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(entity::client::Model, String), ClientError> {
    if client.is_public || client.secret_hash.is_none() {
        return Err(invalid("this client authenticates without a secret", "id"));
    }
    if !(0..=MAX_SECRET_OVERLAP_SECS).contains(&overlap_secs) {
        return Err(invalid(
            "the old secret may keep working for 0 to 604800 seconds (7 days)",
            "expires_in",
        ));
    }
    let secret = crypto::mint_secret("cs_");
    let previous = client
        .secret_hash
        .clone()
        .filter(|_| overlap_secs > 0)
        .map(|h| (h, now + chrono::Duration::seconds(overlap_secs)));
    let updated = store::clients::set_secret(
        db,
        client,
        crypto::sha256_hex(&secret),
        secret[secret.len() - 4..].to_owned(),
        previous,
        now,
    )
    .await?;
    rows.forget_client(&client.id);
    Ok((updated, secret))
}

/// Whether `secret` is the client's: its current secret, or the previous one while the
/// overlap of a rotation lasts (app clock). Constant-time digest comparisons; garbage is
/// refused by checksum before hashing.
pub fn secret_matches(
    client: &entity::client::Model,
    secret: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> bool {
    let Some(hash) = &client.secret_hash else {
        return false;
    };
    if !crypto::check_secret(secret, "cs_") {
        return false;
    }
    let digest = crypto::sha256_hex(secret);
    let current = crypto::constant_time_eq(digest.as_bytes(), hash.as_bytes());
    let previous = match (
        &client.previous_secret_hash,
        client.previous_secret_expires_at,
    ) {
        (Some(prev), Some(until)) if now < until => {
            crypto::constant_time_eq(digest.as_bytes(), prev.as_bytes())
        }
        _ => false,
    };
    current | previous
}

/// Disable or re-enable a client. Disabling is a pause: while disabled, the client cannot
/// authenticate or start an authorization and its tokens are refused ([`may_act`]); its
/// grants are kept, so re-enabling resumes them.
pub async fn set_disabled(
    db: &impl Conn,
    rows: &store::RowCaches,
    client: &entity::client::Model,
    disabled: bool,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<entity::client::Model, StoreError> {
    if client.disabled_at.is_some() == disabled {
        return Ok(client.clone());
    }
    let updated = store::clients::set_disabled(db, client, disabled.then_some(now)).await?;
    rows.forget_client(&client.id);
    Ok(updated)
}

/// RFC 9449 §5.2 `dpop_bound_access_tokens`: from now on every token request of `client`
/// needs a DPoP proof (or no longer does). Takes effect at once on this instance (the row
/// cache entry is dropped), within the cache's 2 s elsewhere.
pub async fn set_dpop_bound(
    db: &impl Conn,
    rows: &store::RowCaches,
    client: &entity::client::Model,
    bound: bool,
) -> Result<entity::client::Model, StoreError> {
    if client.dpop_bound_access_tokens == bound {
        return Ok(client.clone());
    }
    let updated = store::clients::set_dpop_bound(db, client, bound).await?;
    rows.forget_client(&client.id);
    Ok(updated)
}

/// RFC 9701 §6 `introspection_signed_response_alg` (already checked against what
/// `introspect::signing_algs` offers). At once on this instance, within 2 s elsewhere.
pub async fn set_introspection_alg(
    db: &impl Conn,
    rows: &store::RowCaches,
    client: &entity::client::Model,
    alg: Option<String>,
) -> Result<entity::client::Model, StoreError> {
    if client.introspection_signed_response_alg == alg {
        return Ok(client.clone());
    }
    let updated = store::clients::set_introspection_alg(db, client, alg).await?;
    rows.forget_client(&client.id);
    Ok(updated)
}

/// RFC 9449 §8, §9: from now on every DPoP proof of `client` must carry a server nonce
/// (or no longer must). At once on this instance, within 2 s elsewhere.
pub async fn set_dpop_require_nonce(
    db: &impl Conn,
    rows: &store::RowCaches,
    client: &entity::client::Model,
    required: bool,
) -> Result<entity::client::Model, StoreError> {
    if client.dpop_require_nonce == required {
        return Ok(client.clone());
    }
    let updated = store::clients::set_dpop_require_nonce(db, client, required).await?;
    rows.forget_client(&client.id);
    Ok(updated)
}

/// Delete a client with its codes, refresh tokens and consents (foreign keys cascade). The
/// access tokens it obtained for people go on the deny list first, which outlives the
/// client's rows, so they stop working now rather than at their expiry.
pub async fn delete(
    db: &store::Db,
    rows: &store::RowCaches,
    client: &entity::client::Model,
) -> Result<(), StoreError> {
    let tx = store::begin_write(db).await?;
    store::tokens::revoke_client_grants(&*tx, &client.id, store::now()).await?;
    store::clients::delete(&*tx, &client.id).await?;
    tx.commit().await?;
    rows.forget_client(&client.id);
    Ok(())
}

/// Whether a client may act at all: not disabled itself (`latch client disable`), and a
/// client registered by a person works only while that person's account is enabled (issue
/// #9, finding 12), so disabling either stops the client's authentication, its
/// authorization requests and the tokens it holds. Operator clients have no owner. Served
/// from the row caches: at once on this instance, within their TTL elsewhere.
pub async fn may_act(
    db: &impl Conn,
    rows: &store::RowCaches,
    client: &entity::client::Model,
) -> Result<bool, StoreError> {
    if client.disabled_at.is_some() {
        return Ok(false);
    }
    match &client.owner_id {
        None => Ok(true),
        Some(owner) => Ok(store::users::by_id_cached(db, rows, owner)
            .await?
            .is_some_and(|u| u.disabled_at.is_none())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_uri_rules() {
        for ok in [
            "https://app.example.com/cb",
            "http://127.0.0.1:8080/cb",
            "http://localhost/cb",
            "http://[::1]:9/cb",
            "com.example.app:/oauth",
        ] {
            assert!(validate_redirect_uri(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://app.example.com/cb",
            "https://app.example.com/cb#frag",
            "https://*.example.com/cb",
            "https://user@app.example.com/cb",
            "javascript:alert(1)",
            "/relative",
            "myapp:/cb",
            "https://app.example.com/ cb",
        ] {
            assert!(validate_redirect_uri(bad).is_err(), "{bad}");
        }
    }

    /// Found by the `redirect_uri` fuzz target (`fuzz/corpus/redirect_uri/empty_port`,
    /// `slashes_before_host`): `http://[::1]:` and `http:////@127.0.0.2:` were accepted, and
    /// then matched no other port, against RFC 8252 §7.3 (`authorize::request`'s tests
    /// check that what is accepted matches any port).
    #[test]
    fn loopback_redirect_uris_are_written_as_the_port_blind_match_reads_them() {
        for bad in [
            "http://[::1]:",
            "http://127.0.0.1:/cb",
            "http://127.0.0.1:000080/cb",
            "HTTP://127.0.0.1/cb",
            "Http://[::1]:8080/cb",
            "http://localhost:/cb",
            "http:////@127.0.0.2:",
            "http://@127.0.0.1/cb",
            "http://0x7f.1/cb",
            "http://127.0.0.%31/cb",
            "http://[0:0:0:0:0:0:0:1]/cb",
        ] {
            assert!(validate_redirect_uri(bad).is_err(), "{bad}");
        }
        for ok in [
            "http://[::1]",
            "http://127.0.0.1:08080/cb?x=1",
            "http://[::1]:65535/cb",
            "http://localhost:3000/cb",
        ] {
            assert!(validate_redirect_uri(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn exchange_audiences_must_be_registered_apis() {
        let catalog = crate::catalog::Catalog::new("https://latch.example").get();
        let ids = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            check_exchange_audiences(
                &catalog,
                &ids(&["https://latch.example", " ", "https://latch.example"])
            )
            .unwrap(),
            "https://latch.example"
        );
        assert_eq!(check_exchange_audiences(&catalog, &ids(&[""])).unwrap(), "");
        for bad in [
            "https://other.example",
            "https://latch.example/",
            "latch",
            "a b",
        ] {
            match check_exchange_audiences(&catalog, &ids(&[bad])) {
                Err(ClientError::Invalid(_, param)) => {
                    assert_eq!(param, "token_exchange_audiences")
                }
                other => panic!("{bad}: {:?}", other.map_err(|e| e.to_string())),
            }
        }
    }
}
