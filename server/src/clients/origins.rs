//! The browser origins a client may call Latch's endpoints from (DESIGN.md "Browser apps
//! (CORS)"): the rule for one origin, a client's effective list, and [`OriginSet`], this
//! instance's in-memory union of every enabled client's origins, which answers "is this
//! origin allowed for any client" (a CORS preflight) without a query.

use std::collections::HashSet;
use std::sync::{Arc, RwLock};

use url::Url;

use crate::store::{self, StoreError};

/// How often each instance reloads the set (and at once on the instance that changed a client).
pub const RELOAD_EVERY: std::time::Duration = std::time::Duration::from_secs(2);
/// At most this many origins per client.
pub const MAX_ORIGINS: usize = 20;

/// An origin as a client registers it: `scheme://host[:port]` (RFC 6454 §4), no path, query,
/// fragment or credentials; `https`, or `http` only on loopback (as redirect URIs, RFC 8252
/// §7.3). Returns its ASCII serialization (RFC 6454 §6.2), the form browsers send in
/// `Origin`: lower-case host, default port dropped.
pub fn validate_origin(raw: &str) -> Result<String, String> {
    let shown: String = raw.chars().take(80).collect();
    if raw.len() > 300 || raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!(
            "origin {shown:?} contains whitespace or is too long"
        ));
    }
    let Some((_, rest)) = raw.split_once("://") else {
        return Err(format!("origin {shown:?} must be scheme://host[:port]"));
    };
    if rest.is_empty() || rest.contains(['/', '?', '#', '@', '*', '\\']) {
        return Err(format!(
            "origin {shown:?} must be scheme://host[:port], with no path, query, wildcard or user"
        ));
    }
    let url = Url::parse(raw).map_err(|_| format!("origin {shown:?} is not a valid origin"))?;
    match url.scheme() {
        "https" => {}
        "http" if super::is_loopback(&url) => {}
        _ => {
            return Err(format!(
                "origin {shown:?} must use https (http is allowed only on loopback)"
            ));
        }
    }
    let origin = url.origin();
    if !origin.is_tuple() {
        return Err(format!("origin {shown:?} is not a valid origin"));
    }
    Ok(origin.ascii_serialization())
}

/// Validate a list: each origin, de-duplicated, at most [`MAX_ORIGINS`].
pub fn check_origins(list: &[String]) -> Result<Vec<String>, String> {
    let mut out: Vec<String> = Vec::new();
    for raw in list.iter().filter(|s| !s.trim().is_empty()) {
        let o = validate_origin(raw.trim())?;
        if !out.contains(&o) {
            out.push(o);
        }
    }
    if out.len() > MAX_ORIGINS {
        return Err(format!("at most {MAX_ORIGINS} allowed origins"));
    }
    Ok(out)
}

/// The origin of a redirect URI, when it has one a browser could send (an `https` URI, or
/// `http` on loopback; a native app's private-use scheme has none).
fn origin_of_redirect(uri: &str) -> Option<String> {
    validate_origin(&Url::parse(uri).ok()?.origin().ascii_serialization()).ok()
}

/// A client's effective origins: its stored list, else (the default) a public client's
/// redirect URI origins and none for a confidential client (which must not be called from
/// a browser, where its secret would show).
pub fn effective(
    is_public: bool,
    redirect_uris: &str,
    allowed_origins: Option<&str>,
) -> Vec<String> {
    match allowed_origins {
        Some(stored) => store::words(stored).map(str::to_owned).collect(),
        None if is_public => {
            let mut out: Vec<String> = Vec::new();
            for o in store::words(redirect_uris).filter_map(origin_of_redirect) {
                if !out.contains(&o) {
                    out.push(o);
                }
            }
            out
        }
        None => Vec::new(),
    }
}

/// [`effective`] of a client row.
pub fn of(c: &entity::client::Model) -> Vec<String> {
    effective(c.is_public, &c.redirect_uris, c.allowed_origins.as_deref())
}

/// Whether `origin` (an `Origin` header as sent) is one of `c`'s.
pub fn allows(c: &entity::client::Model, origin: &str) -> bool {
    of(c).iter().any(|o| o == origin)
}

/// This instance's union of every enabled client's origins.
#[derive(Default)]
pub struct OriginSet {
    current: RwLock<Arc<HashSet<String>>>,
}

impl OriginSet {
    /// Whether any enabled client allows `origin` (no I/O).
    pub fn contains(&self, origin: &str) -> bool {
        match self.current.read() {
            Ok(g) => g.contains(origin),
            Err(poisoned) => poisoned.into_inner().contains(origin),
        }
    }

    /// Read every enabled client's origins and replace the set.
    pub async fn reload(&self, db: &impl store::Conn) -> Result<(), StoreError> {
        let mut set = HashSet::new();
        for (is_public, redirect_uris, allowed) in store::clients::origin_rows(db).await? {
            set.extend(effective(is_public, &redirect_uris, allowed.as_deref()));
        }
        let set = Arc::new(set);
        match self.current.write() {
            Ok(mut g) => *g = set,
            Err(poisoned) => *poisoned.into_inner() = set,
        }
        Ok(())
    }
}

/// Reload `set` every [`RELOAD_EVERY`] until the process ends (a failed reload keeps the
/// last set and is retried on the next tick).
pub fn start_reloading(db: store::Db, set: Arc<OriginSet>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(RELOAD_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(e) = set.reload(&db).await {
                tracing::warn!(error = ?e, "reloading the CORS origins failed");
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn origin_rules() {
        for (raw, want) in [
            ("https://app.example.com", "https://app.example.com"),
            ("https://App.Example.COM:443", "https://app.example.com"),
            (
                "https://app.example.com:8443",
                "https://app.example.com:8443",
            ),
            ("http://localhost:3000", "http://localhost:3000"),
            ("http://127.0.0.1:5173", "http://127.0.0.1:5173"),
            ("http://[::1]:8080", "http://[::1]:8080"),
        ] {
            assert_eq!(validate_origin(raw).as_deref(), Ok(want), "{raw}");
        }
        for bad in [
            "app.example.com",
            "https://app.example.com/",
            "https://app.example.com/cb",
            "https://app.example.com?x",
            "https://app.example.com#x",
            "https://user@app.example.com",
            "https://*.example.com",
            "http://app.example.com",
            "ftp://app.example.com",
            "javascript://x",
            "null",
            "https://",
            "https://app.example.com ",
        ] {
            assert!(validate_origin(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn defaults_follow_public_redirect_uris() {
        let uris = "https://app.example.com/cb https://app.example.com/other http://127.0.0.1:9/cb com.example.app:/cb";
        assert_eq!(
            effective(true, uris, None),
            vec!["https://app.example.com", "http://127.0.0.1:9"]
        );
        assert!(effective(false, uris, None).is_empty());
        assert!(effective(true, uris, Some("")).is_empty());
        assert_eq!(
            effective(false, uris, Some("https://spa.example.com")),
            vec!["https://spa.example.com"]
        );
    }

    proptest! {
        #![proptest_config(hostile_config!())]

        /// Any string: no panic; an accepted origin is its own serialization, has no path,
        /// and is https or loopback http.
        #[test]
        fn prop_accepted_origins_are_canonical(raw in any::<String>()) {
            if let Ok(o) = validate_origin(&raw) {
                prop_assert_eq!(validate_origin(&o), Ok(o.clone()));
                prop_assert!(o.starts_with("https://") || o.starts_with("http://"));
                prop_assert!(!o.split_once("://").map(|x| x.1).unwrap_or("").contains('/'));
            }
        }
    }
}
