//! Changing the catalog: the rules every entry point (CLI, `/v1/apis`, the admin pages)
//! goes through, so a scope name or identifier is validated in one place.

use chrono::TimeDelta;

use super::{Api, Catalog, OPENID, Snapshot};
use crate::crypto;
use crate::errors::{ApiError, ApiErrorType};
use crate::store::{self, StoreError};

/// `/v1` resources whose `resource:read|write` forms narrow an API key over the Latch API;
/// no API may define a scope of that form (it would mean two things).
pub const V1_RESOURCES: &[&str] = &["apis", "api_keys", "clients", "events", "users"];
/// Bounds that keep a catalog readable on a consent page and cheap to hold in memory.
pub const MAX_SCOPES_PER_API: usize = 100;
pub const MAX_APIS: usize = 200;
const MAX_DESCRIPTION: usize = 200;
const MAX_NAME: usize = 100;
const MAX_IDENTIFIER: usize = 500;
/// An access token lives at least a minute and at most a day.
const TTL_RANGE: std::ops::RangeInclusive<i64> = 60..=86_400;

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// A value broke a rule; names the parameter.
    #[error("{0}")]
    Invalid(String, &'static str),
    /// A scope (or an API's scope) is still held by clients or keys.
    #[error("{0}")]
    InUse(String),
    #[error("no such API")]
    NotFound,
    #[error("the built-in Latch API cannot be changed")]
    Builtin,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<CatalogError> for ApiError {
    fn from(e: CatalogError) -> Self {
        match e {
            CatalogError::Invalid(m, p) => {
                ApiError::invalid_request("parameter_invalid", m).with_param(p)
            }
            CatalogError::InUse(m) => ApiError::new(ApiErrorType::Conflict, "resource_in_use", m),
            CatalogError::NotFound => ApiError::not_found("No such API"),
            CatalogError::Builtin => ApiError::new(
                ApiErrorType::InvalidRequest,
                "builtin_api",
                "The built-in Latch API cannot be changed",
            ),
            CatalogError::Store(s) => s.into(),
        }
    }
}

fn invalid(m: impl Into<String>, p: &'static str) -> CatalogError {
    CatalogError::Invalid(m.into(), p)
}

/// DESIGN.md: `[a-z0-9][a-z0-9:._-]{0,63}`, not an OpenID scope, not a `/v1` narrowing form.
pub fn check_scope_name(name: &str) -> Result<(), CatalogError> {
    let b = name.as_bytes();
    let ok = !b.is_empty()
        && b.len() <= 64
        && (b[0].is_ascii_lowercase() || b[0].is_ascii_digit())
        && b.iter().all(|c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, b':' | b'.' | b'_' | b'-')
        });
    let shown = name.chars().take(64).collect::<String>();
    if !ok {
        return Err(invalid(
            format!(
                "invalid scope name {shown:?}: 1 to 64 of a-z 0-9 : . _ -, starting with a letter or digit"
            ),
            "scopes",
        ));
    }
    if OPENID.contains(&name) || name == "offline_access" {
        return Err(invalid(
            format!("{name:?} is an OpenID Connect scope and belongs to no API"),
            "scopes",
        ));
    }
    if name
        .split_once(':')
        .is_some_and(|(r, a)| V1_RESOURCES.contains(&r) && (a == "read" || a == "write"))
    {
        return Err(invalid(
            format!("{name:?} is reserved for the Latch API's per-resource key scopes"),
            "scopes",
        ));
    }
    Ok(())
}

fn check_description(d: &str) -> Result<String, CatalogError> {
    let d = d.trim();
    if d.is_empty() || d.chars().count() > MAX_DESCRIPTION || d.chars().any(char::is_control) {
        return Err(invalid(
            format!(
                "a scope's description must be 1 to {MAX_DESCRIPTION} characters of plain words"
            ),
            "scopes",
        ));
    }
    Ok(d.to_owned())
}

fn check_name(n: &str) -> Result<String, CatalogError> {
    let n = n.trim();
    if n.is_empty() || n.chars().count() > MAX_NAME || n.chars().any(char::is_control) {
        return Err(invalid(
            format!("name must be 1 to {MAX_NAME} characters"),
            "name",
        ));
    }
    Ok(n.to_owned())
}

fn check_ttl(ttl: Option<i64>) -> Result<Option<i32>, CatalogError> {
    match ttl {
        None => Ok(None),
        Some(s) if TTL_RANGE.contains(&s) => Ok(Some(s as i32)),
        Some(_) => Err(invalid(
            format!(
                "access_token_ttl must be {} to {} seconds",
                TTL_RANGE.start(),
                TTL_RANGE.end()
            ),
            "access_token_ttl",
        )),
    }
}

/// DESIGN.md / RFC 8707 §2: an absolute `https` URI (or `http` on a loopback host), no
/// fragment; it is compared exactly, so it is stored as given.
pub fn check_identifier(s: &str) -> Result<String, CatalogError> {
    let bad = |why: &str| invalid(format!("identifier {why}"), "identifier");
    if s.is_empty() || s.len() > MAX_IDENTIFIER || s.chars().any(|c| c.is_control() || c == ' ') {
        return Err(bad("must be an absolute URI of at most 500 characters"));
    }
    let url = url::Url::parse(s).map_err(|_| bad("must be an absolute URI"))?;
    if s.contains('#') {
        return Err(bad("must not contain a fragment (RFC 8707 §2)"));
    }
    let loopback = match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    match url.scheme() {
        "https" if url.host().is_some() => {}
        "http" if loopback => {}
        _ => return Err(bad("must be an https URI (http only on a loopback host)")),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad("must not carry credentials"));
    }
    Ok(s.to_owned())
}

/// What `latch api create` and `POST /v1/apis` take.
#[derive(Clone, Debug, Default)]
pub struct NewApi {
    pub identifier: String,
    pub name: String,
    /// `(name, description)` pairs.
    pub scopes: Vec<(String, String)>,
    /// Seconds.
    pub access_token_ttl: Option<i64>,
}

/// What an update may change (`None`: unchanged; `Some(None)` for the TTL: the default).
#[derive(Clone, Debug, Default)]
pub struct UpdateApi {
    pub name: Option<String>,
    pub access_token_ttl: Option<Option<i64>>,
    /// New descriptions of existing scopes.
    pub descriptions: Vec<(String, String)>,
}

fn taken(snap: &Snapshot, name: &str) -> CatalogError {
    let owner = snap
        .api_of(name)
        .map(|a| a.name.clone())
        .unwrap_or_else(|| "another API".to_owned());
    invalid(
        format!("scope {name:?} already belongs to {owner}; scope names are unique across APIs"),
        "scopes",
    )
}

async fn reloaded(db: &store::Db, catalog: &Catalog, id: &str) -> Result<Api, CatalogError> {
    let snap = catalog.reload(db).await?;
    snap.api(id).cloned().ok_or(CatalogError::NotFound)
}

/// Create an API with its scopes.
pub async fn create(db: &store::Db, catalog: &Catalog, new: NewApi) -> Result<Api, CatalogError> {
    let identifier = check_identifier(new.identifier.trim())?;
    let name = check_name(&new.name)?;
    let ttl = check_ttl(new.access_token_ttl)?;
    if new.scopes.len() > MAX_SCOPES_PER_API {
        return Err(invalid(
            format!("at most {MAX_SCOPES_PER_API} scopes per API"),
            "scopes",
        ));
    }
    let mut scopes: Vec<(String, String)> = Vec::with_capacity(new.scopes.len());
    for (n, d) in &new.scopes {
        let n = n.trim();
        check_scope_name(n)?;
        if scopes.iter().any(|(s, _)| s == n) {
            return Err(invalid(format!("scope {n:?} is listed twice"), "scopes"));
        }
        scopes.push((n.to_owned(), check_description(d)?));
    }
    // Read the stored catalog, not this instance's copy: another instance may have just
    // added the same name (the primary key is the final word; this gives a clear message).
    let snap = catalog.reload(db).await?;
    if snap.apis().len() > MAX_APIS {
        return Err(invalid(format!("at most {MAX_APIS} APIs"), "identifier"));
    }
    if snap.by_identifier(&identifier).is_some() {
        return Err(invalid(
            format!("an API with identifier {identifier:?} already exists"),
            "identifier",
        ));
    }
    if let Some((n, _)) = scopes.iter().find(|(n, _)| snap.knows(n)) {
        return Err(taken(&snap, n));
    }
    let now = store::now();
    let id = crypto::new_id("api");
    let tx = store::begin_write(db).await?;
    store::apis::insert(
        &*tx,
        entity::api::Model {
            id: id.clone(),
            identifier,
            name,
            access_token_ttl: ttl,
            created_at: now,
            updated_at: now,
        },
    )
    .await
    .map_err(|e| match e {
        StoreError::Conflict(_) => {
            invalid("an API with this identifier already exists", "identifier")
        }
        e => e.into(),
    })?;
    for (i, (n, d)) in scopes.into_iter().enumerate() {
        store::apis::insert_scope(
            &*tx,
            entity::api_scope::Model {
                name: n.clone(),
                api_id: id.clone(),
                description: d,
                // Distinct stamps keep the order given.
                created_at: now + TimeDelta::microseconds(i as i64),
            },
        )
        .await
        .map_err(|e| match e {
            StoreError::Conflict(_) => taken(&snap, &n),
            e => e.into(),
        })?;
    }
    tx.commit().await.map_err(StoreError::from)?;
    reloaded(db, catalog, &id).await
}

fn stored_api<'a>(snap: &'a Snapshot, id: &str) -> Result<&'a Api, CatalogError> {
    match snap.api(id) {
        Some(a) if a.builtin => Err(CatalogError::Builtin),
        Some(a) => Ok(a),
        None => Err(CatalogError::NotFound),
    }
}

/// Add a scope to an API.
pub async fn add_scope(
    db: &store::Db,
    catalog: &Catalog,
    api_id: &str,
    name: &str,
    description: &str,
) -> Result<Api, CatalogError> {
    let name = name.trim();
    check_scope_name(name)?;
    let description = check_description(description)?;
    let snap = catalog.reload(db).await?;
    let api = stored_api(&snap, api_id)?;
    if snap.knows(name) {
        return Err(taken(&snap, name));
    }
    if api.scopes.len() >= MAX_SCOPES_PER_API {
        return Err(invalid(
            format!("at most {MAX_SCOPES_PER_API} scopes per API"),
            "scopes",
        ));
    }
    store::apis::insert_scope(
        db,
        entity::api_scope::Model {
            name: name.to_owned(),
            api_id: api.id.clone(),
            description,
            created_at: store::now(),
        },
    )
    .await
    .map_err(|e| match e {
        StoreError::Conflict(_) => taken(&snap, name),
        e => e.into(),
    })?;
    reloaded(db, catalog, api_id).await
}

/// The checks [`add_scope`] makes before writing, against `snap`: for a caller that must
/// refuse a whole request before it changes anything (`/v1/apis` update adds scopes after
/// renaming).
pub fn check_new_scope(
    snap: &Snapshot,
    api: &Api,
    name: &str,
    description: &str,
) -> Result<(), CatalogError> {
    let name = name.trim();
    check_scope_name(name)?;
    check_description(description)?;
    if snap.knows(name) {
        return Err(taken(snap, name));
    }
    if api.scopes.len() >= MAX_SCOPES_PER_API {
        return Err(invalid(
            format!("at most {MAX_SCOPES_PER_API} scopes per API"),
            "scopes",
        ));
    }
    Ok(())
}

/// Who still holds `scope`: a refusal naming them, or `Ok`.
async fn not_in_use(db: &store::Db, scope: &str) -> Result<(), CatalogError> {
    let clients = store::apis::clients_holding(db, scope, 3).await?;
    let keys = store::apis::keys_holding(db, scope, 3).await?;
    if clients.is_empty() && keys.is_empty() {
        return Ok(());
    }
    let mut who = Vec::new();
    if !clients.is_empty() {
        who.push(format!(
            "clients {}",
            clients
                .iter()
                .map(|(id, _)| id.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if !keys.is_empty() {
        who.push(format!(
            "API keys {}",
            keys.iter()
                .map(|(id, _)| id.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    Err(CatalogError::InUse(format!(
        "scope {scope:?} is still held by {}; remove it from them first",
        who.join(" and ")
    )))
}

/// Remove a scope from its API; refused while a client or key holds it.
pub async fn remove_scope(
    db: &store::Db,
    catalog: &Catalog,
    name: &str,
) -> Result<Api, CatalogError> {
    let snap = catalog.reload(db).await?;
    let Some(api) = snap.api_of(name) else {
        return Err(invalid(
            format!(
                "unknown scope {:?}",
                name.chars().take(64).collect::<String>()
            ),
            "scopes",
        ));
    };
    let api = stored_api(&snap, &api.id)?;
    not_in_use(db, name).await?;
    store::apis::delete_scope(db, name).await?;
    reloaded(db, catalog, &api.id).await
}

/// Rename an API, change its token lifetime or its scopes' descriptions.
pub async fn update(
    db: &store::Db,
    catalog: &Catalog,
    api_id: &str,
    changes: UpdateApi,
) -> Result<Api, CatalogError> {
    let snap = catalog.reload(db).await?;
    let api = stored_api(&snap, api_id)?;
    let mut descriptions = Vec::new();
    for (n, d) in &changes.descriptions {
        if !api.has_scope(n) {
            return Err(invalid(
                format!("{} has no scope {n:?}", api.name),
                "scopes",
            ));
        }
        descriptions.push((n.clone(), check_description(d)?));
    }
    let name = changes.name.as_deref().map(check_name).transpose()?;
    let ttl = changes.access_token_ttl.map(check_ttl).transpose()?;
    let tx = store::begin_write(db).await?;
    if name.is_some() || ttl.is_some() {
        let Some(row) = store::apis::by_id(&*tx, api_id).await? else {
            return Err(CatalogError::NotFound);
        };
        let mut am: entity::api::ActiveModel = row.into();
        if let Some(n) = name {
            am.name = sea_orm::Set(n);
        }
        if let Some(t) = ttl {
            am.access_token_ttl = sea_orm::Set(t);
        }
        am.updated_at = sea_orm::Set(store::now());
        store::apis::update(&*tx, am).await?;
    }
    for (n, d) in descriptions {
        if let Some(row) = store::apis::scope_by_name(&*tx, &n).await? {
            store::apis::update_scope_description(&*tx, row, &d).await?;
        }
    }
    tx.commit().await.map_err(StoreError::from)?;
    reloaded(db, catalog, api_id).await
}

/// Delete an API; refused while a client or key holds one of its scopes.
pub async fn delete(db: &store::Db, catalog: &Catalog, api_id: &str) -> Result<Api, CatalogError> {
    let snap = catalog.reload(db).await?;
    let api = stored_api(&snap, api_id)?.clone();
    for s in &api.scopes {
        not_in_use(db, &s.name).await?;
    }
    store::apis::delete(db, api_id).await?;
    catalog.reload(db).await?;
    Ok(api)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_names_follow_the_design() {
        for ok in ["invoices:read", "a", "0x", "files.write", "reports_v2-all"] {
            assert!(check_scope_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "Invoices",
            ":x",
            "-x",
            "a b",
            "a/b",
            "openid",
            "email",
            "offline_access",
            "clients:read",
            "api_keys:write",
            "é",
        ] {
            assert!(check_scope_name(bad).is_err(), "{bad}");
        }
        assert!(check_scope_name(&"a".repeat(64)).is_ok());
        assert!(check_scope_name(&"a".repeat(65)).is_err());
    }

    #[test]
    fn identifiers_are_absolute_https_or_loopback_http() {
        for ok in [
            "https://billing.example.com",
            "https://api.example.com/v2",
            "http://localhost:8081",
            "http://127.0.0.1:9000/api",
            "http://[::1]:9000",
        ] {
            assert!(check_identifier(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "billing",
            "/relative",
            "http://billing.example.com",
            "https://api.example.com/#frag",
            "https://user:pw@api.example.com",
            "urn:example:billing",
            "ftp://x.example",
        ] {
            assert!(check_identifier(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn ttl_has_a_safe_range() {
        assert_eq!(check_ttl(None).unwrap(), None);
        assert_eq!(check_ttl(Some(300)).unwrap(), Some(300));
        assert!(check_ttl(Some(59)).is_err());
        assert!(check_ttl(Some(86_401)).is_err());
    }

    mod prop {
        use super::super::*;
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(hostile_config!())]

            /// Whatever is accepted is `[a-z0-9][a-z0-9:._-]{0,63}` (DESIGN.md), which is
            /// also an RFC 6749 §3.3 scope token.
            #[test]
            fn prop_scope_names_follow_the_design(n in "\\PC{0,70}|[a-z0-9:._-]{0,70}|[ -~]{0,10}") {
                if check_scope_name(&n).is_ok() {
                    let b = n.as_bytes();
                    prop_assert!((1..=64).contains(&b.len()));
                    prop_assert!(b[0].is_ascii_lowercase() || b[0].is_ascii_digit());
                    prop_assert!(b.iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || b":._-".contains(c)));
                    prop_assert!(crate::scope::ScopeSet::parse(&n).is_ok());
                }
            }

            /// RFC 8707 §2: an accepted identifier is an absolute `https` URI (or `http` on
            /// loopback), with no fragment, credentials, spaces or control characters,
            /// stored as given.
            #[test]
            fn prop_identifiers_are_absolute_https_uris(s in "\\PC{0,80}|(https?|ftp)://[a-z0-9.:@#/?\\[\\]%-]{0,40}|[ -~]{0,30}") {
                if let Ok(stored) = check_identifier(&s) {
                    prop_assert_eq!(&stored, &s);
                    let u = url::Url::parse(&s).unwrap();
                    prop_assert!(u.scheme() == "https" || u.scheme() == "http");
                    prop_assert!(!s.contains('#') && !s.contains(' '));
                    prop_assert!(!s.chars().any(char::is_control));
                    prop_assert!(u.username().is_empty() && u.password().is_none());
                }
            }
        }
    }
}
