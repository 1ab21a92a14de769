//! OAuth client registration rules (RFC 6749 §2, RFC 9700 §2.1/§4.1.3, RFC 8252 §7).

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

fn is_loopback(url: &Url) -> bool {
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
        "http" if is_loopback(&url) => Ok(()),
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

fn dedup(v: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for s in v {
        if !out.contains(s) {
            out.push(s.clone());
        }
    }
    out
}

/// Validate and register a client. Returns the row and, for a confidential client, the
/// secret: shown once, stored only as its digest.
pub async fn create(
    db: &impl Conn,
    catalog: &Snapshot,
    c: NewClient,
) -> Result<(entity::client::Model, Option<String>), ClientError> {
    let name = check_name(&c.name)?;
    let grant_types = dedup(&c.grant_types);
    if grant_types.is_empty() {
        return Err(invalid(
            "at least one grant type is required",
            "grant_types",
        ));
    }
    let grants = grant_types
        .iter()
        .map(|g| {
            GrantType::parse(g).ok_or_else(|| {
                invalid(
                    format!(
                        "unsupported grant type {g:?}; use {}",
                        GrantType::names(", ", " or ")
                    ),
                    "grant_types",
                )
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    for g in grants {
        check_grant(g, c.public)?;
    }
    let scopes = check_scopes(catalog, &c.scopes)?;
    let redirect_uris = check_redirect_uris(&c.redirect_uris, &grant_types)?;
    if let Some(owner) = &c.owner_id
        && store::users::by_id(db, owner).await?.is_none()
    {
        return Err(ClientError::UnknownOwner(owner.clone()));
    }
    let secret = (!c.public).then(|| crypto::mint_secret("cs_"));
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
        token_endpoint_auth_method: if c.public {
            "none"
        } else {
            "client_secret_basic"
        }
        .to_owned(),
        is_public: c.public,
        first_party: c.first_party,
        resource_server: c.resource_server,
        livemode: c.livemode,
        created_at: now,
        updated_at: now,
        secret_rotated_at: None,
        disabled_at: None,
    };
    let row = store::clients::insert(db, model).await?;
    Ok((row, secret))
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
    pub name: Option<String>,
    pub redirect_uris: Option<Vec<String>>,
    pub scopes: Option<Vec<String>>,
}

/// Change a client; this instance's cached row goes at once (others within the cache TTL).
pub async fn update(
    db: &impl Conn,
    catalog: &Snapshot,
    rows: &store::RowCaches,
    client: &entity::client::Model,
    u: ClientUpdate,
) -> Result<entity::client::Model, ClientError> {
    let grant_types: Vec<String> = store::words(&client.grant_types)
        .map(str::to_owned)
        .collect();
    let mut changes = store::clients::FieldChanges::default();
    if let Some(n) = u.name {
        changes.name = Some(check_name(&n)?);
    }
    if let Some(r) = u.redirect_uris {
        changes.redirect_uris = Some(check_redirect_uris(&r, &grant_types)?.join(" "));
    }
    if let Some(s) = u.scopes {
        changes.scopes = Some(check_scopes(catalog, &s)?.join(" "));
    }
    let updated = store::clients::update_fields(db, client, changes, store::now()).await?;
    rows.forget_client(&client.id);
    Ok(updated)
}

/// A new secret for a confidential client; the old one stops working at once.
pub async fn rotate_secret(
    db: &impl Conn,
    rows: &store::RowCaches,
    client: &entity::client::Model,
) -> Result<(entity::client::Model, String), ClientError> {
    if client.is_public {
        return Err(invalid("public clients have no secret", "id"));
    }
    let secret = crypto::mint_secret("cs_");
    let updated = store::clients::set_secret(
        db,
        client,
        crypto::sha256_hex(&secret),
        secret[secret.len() - 4..].to_owned(),
        store::now(),
    )
    .await?;
    rows.forget_client(&client.id);
    Ok((updated, secret))
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
}
