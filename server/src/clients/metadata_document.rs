//! Client ID metadata documents (draft-ietf-oauth-client-id-metadata-document, which the
//! Model Context Protocol's 2025-11-25 authorization spec prefers to registration): with
//! `LATCH_CLIENT_ID_METADATA_DOCUMENTS=true`, a `client_id` that is an `https` URL with a
//! path names a JSON document of client metadata (RFC 7591 §2) that Latch fetches, checks
//! and caches; nobody registers the client.
//!
//! - **The URL** (draft §3): `https`, a path, no fragment, no user information, no `.` or
//!   `..` segments, in the normalized form (what `Url` serializes it to: a `client_id` is
//!   compared as a string), at most [`MAX_URL`] characters.
//! - **The fetch** goes through the SSRF fence of [`crate::outbound`] (public addresses
//!   only, checked where it connects) with its own limits: [`TIMEOUT`] for the whole
//!   exchange, at most [`MAX_BYTES`] (the draft suggests 5 KB; some MCP clients publish
//!   more, so 8 KiB), **no redirect followed** (draft §4: the document is the one at the
//!   URL), only HTTP 200 with a JSON `Content-Type`.
//! - **The document** (draft §4.1, §6.1): `client_id` equal to the URL, character for
//!   character; `redirect_uris` required, each valid by the rules of registered clients
//!   ([`super::validate_redirect_uri`]); no `client_secret`; `token_endpoint_auth_method`
//!   `none` (the default) — such clients are public (RFC 6749 §2.1), so PKCE is required as
//!   for every public client; `grant_types` among `authorization_code` and
//!   `refresh_token`; `scope`, if given, from the catalog (else the default scopes of a
//!   registered client); `client_name`, `logo_uri`, `client_uri`, `policy_uri`, `tos_uri`
//!   checked like a registered client's. The consent screen shows the name, the URL's host
//!   and that nobody here verified the app ([`super::trust_of`]).
//! - **The cache** (draft §4.4): the checked document becomes a `client` row whose `id` is
//!   [`row_id`] of the URL (tokens, codes and consents refer to it; ids are at most 64
//!   characters where they are stored) and whose `metadata_document_url` is the URL. It is
//!   used until `metadata_document_expires_at`: the response's `Cache-Control: max-age`
//!   clamped to [[`MIN_TTL`], [`MAX_TTL`]] (`no-store`, `no-cache` or no header:
//!   [`MIN_TTL`], so a burst of requests makes one fetch, not one each). After that, a
//!   request fetches it again. **When that fetch fails** because the client's server is
//!   unreachable, slow or answers 5xx, the stored copy is used for up to [`STALE_GRACE`]
//!   past its expiry; any other failure (404, a document that no longer checks out, a
//!   redirect) refuses the client at once: its owner changed or withdrew it.
//! - A failed fetch is remembered for [`RETRY_AFTER`] per URL (per instance), so requests
//!   naming a broken document do not make Latch fetch it each time.
//!
//! Tokens name such a client by its URL: access tokens' `client_id` (RFC 9068 §2.2; mapped
//! back to the row id by `oauth::active_access_token`), introspection, and ID tokens' `aud`
//! and `azp` (OIDC Core §2). Limits: `private_key_jwt` documents (with `jwks_uri`) are
//! refused, not supported yet; logout URIs in a document are not read.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};
use url::Url;

use super::{Metadata, logo};
use crate::catalog::Snapshot;
use crate::crypto;
use crate::errors::StoreError;
use crate::outbound::Fetcher;
use crate::store;

/// The largest document accepted (8 KiB; the draft's §6.6 suggests 5 KB).
pub const MAX_BYTES: usize = 8 * 1024;
/// The time limit of one fetch, connection included.
pub const TIMEOUT: Duration = Duration::from_secs(3);
/// The longest `client_id` URL accepted.
pub const MAX_URL: usize = 2000;
/// The shortest time a fetched document is kept (also without caching headers).
pub const MIN_TTL: TimeDelta = TimeDelta::minutes(5);
/// The longest time a fetched document is kept, whatever its `max-age`.
pub const MAX_TTL: TimeDelta = TimeDelta::hours(24);
/// How long past its expiry a stored document stands in while its server cannot be reached.
pub const STALE_GRACE: TimeDelta = TimeDelta::hours(24);
/// After a failed fetch, the same URL is not fetched again for this long (per instance).
pub const RETRY_AFTER: Duration = Duration::from_secs(10);
/// Most redirect URIs in one document.
const MAX_REDIRECT_URIS: usize = 20;

/// Why a metadata document client cannot be used: the reason, for the error page or
/// `error_description` (never a secret: it describes a public document), or a store error.
#[derive(Debug, thiserror::Error)]
pub enum DocError {
    #[error("{0}")]
    Refused(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Whether `client_id` has the shape of a metadata document URL (only then is the feature
/// asked about it; other ids are looked up as registered clients).
pub fn looks_like_url(client_id: &str) -> bool {
    client_id.starts_with("https://") || client_id.starts_with("http://")
}

/// The `client` row id of the document at `url`: a digest, so it fits where client ids are
/// stored and cannot collide with `cl_` ids.
pub fn row_id(url: &str) -> String {
    format!("cimd_{}", &crypto::sha256_hex(url)[..40])
}

/// Check `raw` as a client identifier URL (draft §3). `allow_loopback`: the test flag, with
/// which `http://` loopback URLs are accepted too.
pub fn check_url(raw: &str, allow_loopback: bool) -> Result<Url, String> {
    if raw.len() > MAX_URL || raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("the client_id URL is too long or contains whitespace".to_owned());
    }
    let url = Url::parse(raw).map_err(|_| "the client_id is not a valid URL".to_owned())?;
    match url.scheme() {
        "https" => {}
        "http" if allow_loopback && super::is_loopback(&url) => {}
        _ => return Err("a client_id URL must use https".to_owned()),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("a client_id URL must not contain user information".to_owned());
    }
    if raw.contains('#') {
        return Err("a client_id URL must not contain a fragment".to_owned());
    }
    let path = raw
        .split_once("://")
        .and_then(|(_, rest)| rest.find('/').map(|i| &rest[i..]))
        .unwrap_or("");
    let path = path.split('?').next().unwrap_or_default();
    if path.is_empty() || path == "/" {
        return Err("a client_id URL must have a path".to_owned());
    }
    if path.split('/').any(|seg| seg == "." || seg == "..") {
        return Err("a client_id URL must not contain . or .. path segments".to_owned());
    }
    if url.as_str() != raw {
        return Err(format!(
            "a client_id URL must be in normalized form ({:?})",
            url.as_str()
        ));
    }
    Ok(url)
}

/// A document that checked out: the row's fields.
#[derive(Debug)]
pub struct Checked {
    pub name: String,
    pub redirect_uris: Vec<String>,
    pub grant_types: Vec<String>,
    pub scopes: Vec<String>,
    pub metadata: Metadata,
}

fn refused(m: impl Into<String>) -> String {
    m.into()
}

/// Check the document fetched from `url` (draft §4.1, §6.1; RFC 7591 §2).
pub fn check_document(catalog: &Snapshot, url: &str, body: &[u8]) -> Result<Checked, String> {
    let doc: serde_json::Value =
        serde_json::from_slice(body).map_err(|_| refused("the document is not valid JSON"))?;
    let Some(doc) = doc.as_object() else {
        return Err(refused("the document is not a JSON object"));
    };
    let string = |k: &str| -> Result<Option<&str>, String> {
        match doc.get(k) {
            None | Some(serde_json::Value::Null) => Ok(None),
            Some(serde_json::Value::String(s)) => Ok(Some(s.as_str())),
            Some(_) => Err(format!("the document's {k} must be a string")),
        }
    };
    // §4.1: the document names itself; a copy served elsewhere is not this client.
    if string("client_id")? != Some(url) {
        return Err(refused(
            "the document's client_id is not exactly the URL it was fetched from",
        ));
    }
    // §4.1: a document is public; a shared secret in it would be no secret.
    for k in ["client_secret", "client_secret_expires_at"] {
        if doc.contains_key(k) {
            return Err(format!("the document must not contain {k}"));
        }
    }
    match string("token_endpoint_auth_method")? {
        None | Some("none") => {}
        Some("private_key_jwt") => {
            return Err(refused(
                "token_endpoint_auth_method private_key_jwt is not supported for metadata documents yet; use none",
            ));
        }
        Some(_) => {
            return Err(refused(
                "the document's token_endpoint_auth_method must be none",
            ));
        }
    }
    let strings = |k: &str| -> Result<Option<Vec<String>>, String> {
        match doc.get(k) {
            None | Some(serde_json::Value::Null) => Ok(None),
            Some(serde_json::Value::Array(a)) => a
                .iter()
                .map(|v| {
                    v.as_str()
                        .map(str::to_owned)
                        .ok_or_else(|| format!("the document's {k} must be strings"))
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            Some(_) => Err(format!("the document's {k} must be an array")),
        }
    };
    let redirect_uris = strings("redirect_uris")?.unwrap_or_default();
    if redirect_uris.is_empty() || redirect_uris.len() > MAX_REDIRECT_URIS {
        return Err(format!(
            "the document must list 1 to {MAX_REDIRECT_URIS} redirect_uris"
        ));
    }
    for r in &redirect_uris {
        super::validate_redirect_uri(r)?;
    }
    let grant_types = strings("grant_types")?.unwrap_or_else(|| vec!["authorization_code".into()]);
    if grant_types.is_empty()
        || grant_types
            .iter()
            .any(|g| g != "authorization_code" && g != "refresh_token")
        || !grant_types.iter().any(|g| g == "authorization_code")
    {
        return Err(refused(
            "the document's grant_types must be authorization_code, optionally with refresh_token",
        ));
    }
    if let Some(rt) = strings("response_types")?
        && rt.iter().any(|t| t != "code")
    {
        return Err(refused("the document's response_types must be code"));
    }
    let scopes = match string("scope")? {
        Some(s) => {
            let list: Vec<String> = s
                .split(' ')
                .filter(|w| !w.is_empty())
                .map(str::to_owned)
                .collect();
            super::check_scopes(catalog, &list).map_err(|e| format!("the document's scope: {e}"))?
        }
        None => super::default_scopes(),
    };
    let host = Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_default();
    let name = match string("client_name")? {
        Some(n) => super::check_name(n).map_err(|e| format!("the document's client_name: {e}"))?,
        None => host,
    };
    let metadata = super::check_metadata(&Metadata {
        logo_uri: string("logo_uri")?.map(str::to_owned),
        client_uri: string("client_uri")?.map(str::to_owned),
        policy_uri: string("policy_uri")?.map(str::to_owned),
        tos_uri: string("tos_uri")?.map(str::to_owned),
    })
    .map_err(|e| format!("the document's {e}"))?;
    Ok(Checked {
        name,
        redirect_uris,
        grant_types,
        scopes: scopes.into_iter().map(|s| s.to_string()).collect(),
        metadata,
    })
}

/// The freshness a response's `Cache-Control` gives it, clamped (see the module doc).
pub fn ttl_of(cache_control: Option<&str>) -> TimeDelta {
    let Some(cc) = cache_control else {
        return MIN_TTL;
    };
    let mut max_age = None;
    for d in cc.split(',').map(|d| d.trim().to_ascii_lowercase()) {
        if d == "no-store" || d == "no-cache" {
            return MIN_TTL;
        }
        if let Some(v) = d.strip_prefix("max-age=") {
            max_age = v.trim_matches('"').parse::<i64>().ok();
        }
    }
    match max_age {
        Some(s) => TimeDelta::seconds(s.clamp(MIN_TTL.num_seconds(), MAX_TTL.num_seconds())),
        None => MIN_TTL,
    }
}

/// A fetch failure: `transient` ones (unreachable, too slow, 5xx) let a stored copy stand in.
struct FetchError {
    why: String,
    transient: bool,
}

struct Fetched {
    body: Vec<u8>,
    cache_control: Option<String>,
}

async fn fetch(fetcher: &Fetcher, url: &str) -> Result<Fetched, FetchError> {
    let hard = |why: String| FetchError {
        why,
        transient: false,
    };
    let res = fetcher
        .get_with(url, "Latch client metadata fetcher", TIMEOUT, 0)
        .await
        .map_err(|why| FetchError {
            transient: why.contains("in time")
                || why.contains("could not be reached")
                || why.contains("HTTP 5"),
            why,
        })?;
    // §4: only 200 (get_with already refused redirects and other errors).
    if res.status() != reqwest::StatusCode::OK {
        return Err(hard(format!(
            "the server answered HTTP {}, not 200",
            res.status().as_u16()
        )));
    }
    let content_type = res
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .unwrap_or_default();
    if content_type != "application/json" && !content_type.ends_with("+json") {
        return Err(hard(
            "the document's Content-Type is not application/json".to_owned(),
        ));
    }
    let cache_control = res
        .headers()
        .get(reqwest::header::CACHE_CONTROL)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = Fetcher::read_limited(res, MAX_BYTES)
        .await
        .map_err(|why| FetchError {
            transient: why.contains("in time"),
            why,
        })?;
    Ok(Fetched {
        body,
        cache_control,
    })
}

/// Failed fetches per URL on this instance: when and why.
static FAILED: LazyLock<Mutex<HashMap<String, (Instant, String)>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

fn recent_failure(url: &str) -> Option<String> {
    let map = FAILED.lock().unwrap_or_else(|p| p.into_inner());
    map.get(url)
        .filter(|(at, _)| at.elapsed() < RETRY_AFTER)
        .map(|(_, why)| why.clone())
}

fn remember_failure(url: &str, why: &str) {
    let mut map = FAILED.lock().unwrap_or_else(|p| p.into_inner());
    if map.len() > 10_000 {
        map.retain(|_, (at, _)| at.elapsed() < RETRY_AFTER);
        if map.len() > 10_000 {
            map.clear();
        }
    }
    map.insert(url.to_owned(), (Instant::now(), why.to_owned()));
}

/// What [`resolve`] needs of the app.
pub struct Context<'a> {
    pub db: &'a store::Db,
    pub rows: &'a store::RowCaches,
    pub catalog: &'a Snapshot,
    /// Logos of such clients are fetched like registered clients' (`AppState::logos`).
    pub logos: &'a logo::Fetcher,
    /// `LATCH_ALLOW_LOOPBACK_FETCH`.
    pub allow_loopback: bool,
    pub now: DateTime<Utc>,
}

/// The client whose `client_id` is the URL `url`: the stored copy while fresh, else the
/// document fetched and checked again (see the module doc).
pub async fn resolve(cx: &Context<'_>, url: &str) -> Result<entity::client::Model, DocError> {
    check_url(url, cx.allow_loopback).map_err(DocError::Refused)?;
    let id = row_id(url);
    let stored = store::clients::by_id(cx.db, &id)
        .await?
        .filter(|c| c.metadata_document_url.as_deref() == Some(url));
    if let Some(c) = &stored
        && c.metadata_document_expires_at.is_some_and(|t| t > cx.now)
    {
        return Ok(c.clone());
    }
    if let Some(why) = recent_failure(url) {
        return stale_or(stored, cx.now, why);
    }
    let fetcher = Fetcher::new(cx.allow_loopback);
    let fetched = match fetch(&fetcher, url).await {
        Ok(f) => f,
        Err(e) => {
            remember_failure(url, &e.why);
            tracing::info!(client_id = %url, why = %e.why, "client metadata document fetch failed");
            if e.transient {
                return stale_or(stored, cx.now, e.why);
            }
            return Err(DocError::Refused(e.why));
        }
    };
    let checked = match check_document(cx.catalog, url, &fetched.body) {
        Ok(c) => c,
        Err(why) => {
            remember_failure(url, &why);
            return Err(DocError::Refused(why));
        }
    };
    let expires_at = cx.now + ttl_of(fetched.cache_control.as_deref());
    let row = save(cx, url, &id, stored.as_ref(), checked, expires_at).await?;
    cx.rows.forget_client(&id);
    Ok(row)
}

fn stale_or(
    stored: Option<entity::client::Model>,
    now: DateTime<Utc>,
    why: String,
) -> Result<entity::client::Model, DocError> {
    match stored {
        Some(c)
            if c.metadata_document_expires_at
                .is_some_and(|t| t + STALE_GRACE > now) =>
        {
            Ok(c)
        }
        _ => Err(DocError::Refused(why)),
    }
}

async fn save(
    cx: &Context<'_>,
    url: &str,
    id: &str,
    stored: Option<&entity::client::Model>,
    d: Checked,
    expires_at: DateTime<Utc>,
) -> Result<entity::client::Model, DocError> {
    // The logo is fetched again only when its URI changed; one that cannot be had is left
    // out rather than refusing the client.
    let logo_changed = stored.is_none_or(|s| s.logo_uri != d.metadata.logo_uri);
    let mut logo_uri = d.metadata.logo_uri.clone();
    let mut logo = None;
    if logo_changed && let Some(uri) = &d.metadata.logo_uri {
        match cx.logos.fetch(uri).await {
            Ok(l) => logo = Some(l),
            Err(why) => {
                tracing::info!(client_id = %url, why = %why, "client metadata document logo_uri not used");
                logo_uri = None;
            }
        }
    }
    let now = cx.now;
    let model = entity::client::Model {
        id: id.to_owned(),
        secret_hash: None,
        secret_last4: None,
        name: d.name,
        owner_id: None,
        redirect_uris: d.redirect_uris.join(" "),
        grant_types: d.grant_types.join(" "),
        scopes: d.scopes.join(" "),
        token_endpoint_auth_method: "none".to_owned(),
        is_public: true,
        first_party: false,
        resource_server: false,
        livemode: stored.is_none_or(|s| s.livemode),
        created_at: stored.map_or(now, |s| s.created_at),
        updated_at: now,
        secret_rotated_at: None,
        disabled_at: stored.and_then(|s| s.disabled_at),
        verified_at: None,
        logo_uri,
        client_uri: d.metadata.client_uri,
        policy_uri: d.metadata.policy_uri,
        tos_uri: d.metadata.tos_uri,
        previous_secret_hash: None,
        previous_secret_expires_at: None,
        token_exchange_audiences: String::new(),
        require_par: false,
        jwks: None,
        jwks_uri: None,
        allowed_origins: None,
        dpop_bound_access_tokens: false,
        dpop_require_nonce: false,
        introspection_signed_response_alg: None,
        // Logout registration is not read from documents yet (README, limits).
        post_logout_redirect_uris: String::new(),
        backchannel_logout_uri: None,
        backchannel_logout_session_required: false,
        // Not registered at `/oauth/register`: no registration access token.
        registration_access_token_hash: None,
        metadata_document_url: Some(url.to_owned()),
        metadata_document_expires_at: Some(expires_at),
    };
    // The row and its logo in one transaction (the logo was fetched above, outside it).
    let tx = store::begin_write(cx.db).await?;
    let row = match stored {
        Some(_) => {
            use sea_orm::{ActiveModelTrait, IntoActiveModel};
            // Every column is written: the row is a cache of the document.
            let am = model.into_active_model().reset_all();
            store::clients::update(&*tx, am).await?
        }
        None => match store::clients::insert(&*tx, model.clone()).await {
            Ok(r) => r,
            // Two requests fetched the same new document at once: the other one stored it,
            // with its logo; this transaction is rolled back and writes nothing.
            Err(_) => {
                drop(tx);
                return store::clients::by_id(cx.db, id)
                    .await?
                    .ok_or_else(|| DocError::Refused("the client could not be stored".to_owned()));
            }
        },
    };
    if let Some(l) = logo {
        super::store_logo(&*tx, id, l).await?;
    }
    tx.commit().await.map_err(StoreError::from)?;
    Ok(row)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_id_urls() {
        for ok in [
            "https://app.example.com/client.json",
            "https://app.example.com:8443/oauth/metadata?v=1",
        ] {
            assert!(check_url(ok, false).is_ok(), "{ok}");
        }
        for bad in [
            "http://app.example.com/client.json",
            "https://app.example.com",
            "https://app.example.com/",
            "https://app.example.com/a/../b",
            "https://app.example.com/./b",
            "https://user:pw@app.example.com/c",
            "https://app.example.com/c#frag",
            "https://APP.example.com/c",
            "https://app.example.com:443/c",
            "ftp://app.example.com/c",
            "http://127.0.0.1:8080/c",
        ] {
            assert!(check_url(bad, false).is_err(), "{bad}");
        }
        assert!(check_url("http://127.0.0.1:8080/c", true).is_ok());
        assert!(check_url("http://10.0.0.1:8080/c", true).is_err());
    }

    #[test]
    fn freshness_is_clamped() {
        assert_eq!(ttl_of(None), MIN_TTL);
        assert_eq!(ttl_of(Some("no-store")), MIN_TTL);
        assert_eq!(ttl_of(Some("public, max-age=0")), MIN_TTL);
        assert_eq!(ttl_of(Some("public, max-age=3600")), TimeDelta::hours(1));
        assert_eq!(ttl_of(Some("max-age=99999999")), MAX_TTL);
        assert_eq!(ttl_of(Some("max-age=junk")), MIN_TTL);
    }

    #[test]
    fn documents_are_checked() {
        let cat = crate::catalog::Catalog::new("https://auth.example.com").get();
        let url = "https://agent.example.com/c.json";
        let good = serde_json::json!({
            "client_id": url,
            "redirect_uris": ["https://agent.example.com/cb"],
            "scope": "read",
        });
        let ok = check_document(&cat, url, good.to_string().as_bytes()).unwrap();
        assert_eq!(ok.name, "agent.example.com");
        assert_eq!(ok.grant_types, ["authorization_code"]);
        assert_eq!(ok.scopes, ["read"]);
        let with = |k: &str, v: serde_json::Value| {
            let mut d = good.clone();
            d[k] = v;
            check_document(&cat, url, d.to_string().as_bytes())
        };
        for (k, v) in [
            (
                "client_id",
                serde_json::json!("https://agent.example.com/other.json"),
            ),
            ("client_id", serde_json::json!(null)),
            ("redirect_uris", serde_json::json!([])),
            ("redirect_uris", serde_json::json!(["javascript:alert(1)"])),
            (
                "redirect_uris",
                serde_json::json!(["http://agent.example.com/cb"]),
            ),
            (
                "redirect_uris",
                serde_json::json!("https://agent.example.com/cb"),
            ),
            ("client_secret", serde_json::json!("s")),
            (
                "token_endpoint_auth_method",
                serde_json::json!("client_secret_basic"),
            ),
            (
                "token_endpoint_auth_method",
                serde_json::json!("private_key_jwt"),
            ),
            ("grant_types", serde_json::json!(["client_credentials"])),
            ("grant_types", serde_json::json!(["refresh_token"])),
            ("response_types", serde_json::json!(["token"])),
            ("scope", serde_json::json!("no-such-scope")),
            ("logo_uri", serde_json::json!("javascript:x")),
            ("client_name", serde_json::json!("")),
        ] {
            assert!(with(k, v.clone()).is_err(), "{k}: {v}");
        }
        assert!(check_document(&cat, url, b"[]").is_err());
        assert!(check_document(&cat, url, b"not json").is_err());
    }

    proptest::proptest! {
        #![proptest_config(hostile_config!())]

        /// Arbitrary URLs, cache headers and documents never panic.
        #[test]
        fn prop_hostile_input_never_panics(url in "\\PC{0,120}", cc in "\\PC{0,60}", body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300)) {
            let _ = check_url(&url, true);
            let _ = ttl_of(Some(&cc));
            let cat = crate::catalog::Catalog::new("https://auth.example.com").get();
            let _ = check_document(&cat, &url, &body);
        }
    }

    #[test]
    fn row_ids_fit_and_differ() {
        let a = row_id("https://a.example/c");
        assert!(a.len() <= 64 && a.starts_with("cimd_"));
        assert_ne!(a, row_id("https://a.example/d"));
    }
}
