//! The permission catalog (DESIGN.md "Your own APIs"): the APIs Latch protects — resource
//! servers named by an identifier that becomes the access token's `aud` and the RFC 8707
//! `resource` value — and their scopes, unique by name across every API. OAuth clients,
//! API keys, the authorize and token endpoints and the metadata all read one [`Snapshot`].
//!
//! The built-in "Latch API" (identifier `LATCH_AUDIENCE`, scopes `read` and `write`, the
//! `/v1` API) is always there and is not stored. OpenID Connect scopes ([`OPENID`]) belong
//! to no API.
//!
//! Each instance holds the catalog in memory ([`Catalog`]): reads on the hot paths (token
//! issue, key checks) touch no database. It is reloaded every [`RELOAD_EVERY`] by a
//! background task and at once on the instance that changed it, so another instance sees a
//! change within that delay.

mod manage;
mod resource;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use chrono::TimeDelta;

pub use crate::scope::OPENID;
use crate::scope::ScopeSet;
use crate::store::{self, StoreError};
pub use manage::V1_RESOURCES;
pub use manage::{
    CatalogError, MAX_SCOPES_PER_API, NewApi, UpdateApi, add_scope, check_new_scope,
    check_scope_name, create, delete, remove_scope, update,
};
pub use resource::InvalidTarget;

/// The built-in API's id.
pub const BUILTIN_ID: &str = "api_latch";
/// The built-in API's scopes (the `/v1` API) with what the consent page says of them.
pub const BUILTIN_SCOPES: &[(&str, &str)] = &[
    ("read", "Read your data"),
    ("write", "Create, change and delete your data"),
];
/// How often each instance reloads the catalog from the database.
pub const RELOAD_EVERY: std::time::Duration = std::time::Duration::from_secs(2);

/// What the consent page says of an OpenID Connect scope (OIDC Core §5.4).
fn openid_description(scope: &str) -> Option<&'static str> {
    Some(match scope {
        "openid" => "Confirm your identity",
        "profile" => "See your basic profile",
        "email" => "See your email address",
        _ => return None,
    })
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Scope {
    pub name: String,
    pub description: String,
}

/// One API of the catalog.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Api {
    pub id: String,
    /// An absolute URI: the token's `aud`, the RFC 8707 `resource` value.
    pub identifier: String,
    pub name: String,
    /// `None`: `LATCH_ACCESS_TOKEN_TTL`.
    pub access_token_ttl: Option<TimeDelta>,
    pub scopes: Vec<Scope>,
    /// The built-in Latch API (not stored, not editable).
    pub builtin: bool,
    pub created_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl Api {
    pub fn has_scope(&self, name: &str) -> bool {
        self.scopes.iter().any(|s| s.name == name)
    }

    /// The API object of `/v1`, the CLI's `--json` and the admin pages.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "id": self.id,
            "object": "api",
            "identifier": self.identifier,
            "name": self.name,
            "scopes": self.scopes,
            "access_token_ttl": self.access_token_ttl.map(|t| t.num_seconds()),
            "builtin": self.builtin,
            "created": self.created_at.map(|t| t.timestamp()),
        })
    }
}

/// What an audit event says of a change to `api` (and the `scope` it concerns), made
/// `via` the CLI, `/v1` or the dashboard.
pub fn audit_detail(api: &Api, scope: Option<&str>, via: &str) -> serde_json::Value {
    let mut v = serde_json::json!({
        "api": api.id,
        "identifier": api.identifier,
        "name": api.name,
        "via": via,
    });
    if let Some(s) = scope {
        v["scope"] = serde_json::json!(s);
    }
    v
}

/// The catalog at one moment: every API, indexed by scope and by identifier.
#[derive(Debug)]
pub struct Snapshot {
    apis: Vec<Api>,
    /// Scope name → (API index, scope index).
    by_scope: HashMap<String, (usize, usize)>,
    by_identifier: HashMap<String, usize>,
}

impl Snapshot {
    fn build(apis: Vec<Api>) -> Self {
        let mut by_scope = HashMap::new();
        let mut by_identifier = HashMap::new();
        for (i, a) in apis.iter().enumerate() {
            by_identifier.entry(a.identifier.clone()).or_insert(i);
            for (j, s) in a.scopes.iter().enumerate() {
                by_scope.entry(s.name.clone()).or_insert((i, j));
            }
        }
        Self {
            apis,
            by_scope,
            by_identifier,
        }
    }

    /// Every API, the built-in one first.
    pub fn apis(&self) -> &[Api] {
        &self.apis
    }

    pub fn builtin(&self) -> &Api {
        &self.apis[0]
    }

    pub fn api(&self, id: &str) -> Option<&Api> {
        self.apis.iter().find(|a| a.id == id)
    }

    /// The API an RFC 8707 `resource` value names (exact match, RFC 8707 §2).
    pub fn by_identifier(&self, identifier: &str) -> Option<&Api> {
        self.by_identifier.get(identifier).map(|&i| &self.apis[i])
    }

    /// The API owning `scope`; `None` for OpenID scopes and unknown ones.
    pub fn api_of(&self, scope: &str) -> Option<&Api> {
        self.by_scope.get(scope).map(|&(i, _)| &self.apis[i])
    }

    /// What the consent page says of `scope`.
    pub fn describe(&self, scope: &str) -> Option<&str> {
        match self.by_scope.get(scope) {
            Some(&(i, j)) => Some(&self.apis[i].scopes[j].description),
            None => openid_description(scope),
        }
    }

    /// A scope a client may be registered for and request: an API's or an OpenID one.
    pub fn knows(&self, scope: &str) -> bool {
        self.by_scope.contains_key(scope) || OPENID.contains(&scope)
    }

    /// The first scope of `set` the catalog does not know.
    pub fn unknown<'a>(&self, set: &ScopeSet<'a>) -> Option<&'a str> {
        set.iter().find(|s| !self.knows(s))
    }

    /// Every scope of every API (what a secret API key holds), in catalog order.
    pub fn api_scopes(&self) -> impl Iterator<Item = &str> {
        self.apis
            .iter()
            .flat_map(|a| a.scopes.iter().map(|s| s.name.as_str()))
    }

    /// `scopes_supported` (RFC 8414 §2): the OpenID scopes, then every API's.
    pub fn supported(&self) -> Vec<&str> {
        OPENID.iter().copied().chain(self.api_scopes()).collect()
    }

    /// The APIs owning a scope of `granted` (the token's audiences), in catalog order.
    pub fn audiences(&self, granted: &ScopeSet<'_>) -> Vec<&Api> {
        let mut idx: Vec<usize> = granted
            .iter()
            .filter_map(|s| self.by_scope.get(s).map(|&(i, _)| i))
            .collect();
        idx.sort_unstable();
        idx.dedup();
        idx.into_iter().map(|i| &self.apis[i]).collect()
    }

    /// An access token's lifetime: the shortest `access_token_ttl` among its audiences,
    /// else `default` (DESIGN.md).
    pub fn token_ttl(&self, audiences: &[&Api], default: TimeDelta) -> TimeDelta {
        audiences
            .iter()
            .filter_map(|a| a.access_token_ttl)
            .min()
            .unwrap_or(default)
    }
}

/// This instance's copy of the catalog.
pub struct Catalog {
    builtin: Api,
    /// The snapshot and the ticket of the reload that read it. Reloads overlap (the
    /// background one and the one after a change): a reload replaces the snapshot only if it
    /// started after the one that made it, so a read that began before a change committed
    /// never overwrites a snapshot that has the change.
    current: RwLock<(u64, Arc<Snapshot>)>,
    tickets: std::sync::atomic::AtomicU64,
}

impl Catalog {
    /// A catalog holding only the built-in API, identified by `audience` (`LATCH_AUDIENCE`);
    /// [`Catalog::reload`] adds the stored ones.
    pub fn new(audience: &str) -> Self {
        let builtin = Api {
            id: BUILTIN_ID.to_owned(),
            identifier: audience.to_owned(),
            name: "Latch API".to_owned(),
            access_token_ttl: None,
            scopes: BUILTIN_SCOPES
                .iter()
                .map(|(n, d)| Scope {
                    name: (*n).to_owned(),
                    description: (*d).to_owned(),
                })
                .collect(),
            builtin: true,
            created_at: None,
        };
        let current = RwLock::new((0, Arc::new(Snapshot::build(vec![builtin.clone()]))));
        Self {
            builtin,
            current,
            tickets: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// The catalog as last loaded (no I/O).
    pub fn get(&self) -> Arc<Snapshot> {
        match self.current.read() {
            Ok(g) => g.1.clone(),
            Err(poisoned) => poisoned.into_inner().1.clone(),
        }
    }

    /// Read the stored APIs and replace the snapshot (unless a reload that started later
    /// already did). Returns the newest snapshot, which holds every change committed before
    /// this call.
    pub async fn reload(&self, db: &impl store::Conn) -> Result<Arc<Snapshot>, StoreError> {
        let ticket = self
            .tickets
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst)
            + 1;
        let rows = store::apis::all(db).await?;
        let mut apis = Vec::with_capacity(rows.len() + 1);
        apis.push(self.builtin.clone());
        apis.extend(rows.into_iter().map(|(a, scopes)| {
            Api {
                id: a.id,
                identifier: a.identifier,
                name: a.name,
                access_token_ttl: a.access_token_ttl.map(|s| TimeDelta::seconds(s.into())),
                scopes: scopes
                    .into_iter()
                    .map(|s| Scope {
                        name: s.name,
                        description: s.description,
                    })
                    .collect(),
                builtin: false,
                created_at: Some(a.created_at),
            }
        }));
        Ok(self.install(ticket, Arc::new(Snapshot::build(apis))))
    }

    /// Keep `snap` if its reload started after the current snapshot's; return the newest.
    fn install(&self, ticket: u64, snap: Arc<Snapshot>) -> Arc<Snapshot> {
        let mut g = match self.current.write() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        if ticket > g.0 {
            *g = (ticket, snap);
        }
        g.1.clone()
    }
}

/// Reload `catalog` every [`RELOAD_EVERY`] until the process ends (a failed reload keeps
/// the last snapshot and is retried on the next tick).
pub fn start_reloading(db: store::Db, catalog: Arc<Catalog>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(RELOAD_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(e) = catalog.reload(&db).await {
                tracing::warn!(error = ?e, "reloading the API catalog failed");
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn billing() -> Api {
        Api {
            id: "api_1".into(),
            identifier: "https://billing.example".into(),
            name: "Billing API".into(),
            access_token_ttl: Some(TimeDelta::seconds(300)),
            scopes: vec![
                Scope {
                    name: "invoices:read".into(),
                    description: "See your invoices".into(),
                },
                Scope {
                    name: "invoices:write".into(),
                    description: "Send invoices".into(),
                },
            ],
            builtin: false,
            created_at: None,
        }
    }

    pub(super) fn snapshot() -> Snapshot {
        let c = Catalog::new("https://latch.example");
        let mut apis = vec![c.builtin.clone()];
        apis.push(billing());
        Snapshot::build(apis)
    }

    #[test]
    fn a_reload_that_started_earlier_never_replaces_a_later_one() {
        let c = Catalog::new("https://latch.example");
        let with_billing = Arc::new(snapshot());
        let stale = Arc::new(Snapshot::build(vec![c.builtin.clone()]));
        // Reload 2 (after the change) finishes first; reload 1 (begun before) then ends.
        assert!(c.install(2, with_billing).api("api_1").is_some());
        assert!(
            c.install(1, stale).api("api_1").is_some(),
            "the stale read is dropped"
        );
        assert!(c.get().api("api_1").is_some());
    }

    #[test]
    fn knows_api_and_openid_scopes_only() {
        let s = snapshot();
        assert!(s.knows("read") && s.knows("invoices:write") && s.knows("openid"));
        assert!(!s.knows("admin"));
        let set = ScopeSet::parse("openid invoices:read admin").unwrap();
        assert_eq!(s.unknown(&set), Some("admin"));
        assert_eq!(s.describe("invoices:read"), Some("See your invoices"));
        assert_eq!(s.describe("email"), Some("See your email address"));
    }

    #[test]
    fn audiences_follow_granted_scopes_in_catalog_order() {
        let s = snapshot();
        let set = ScopeSet::parse("openid invoices:read read").unwrap();
        let ids: Vec<_> = s.audiences(&set).iter().map(|a| a.id.as_str()).collect();
        assert_eq!(ids, [BUILTIN_ID, "api_1"]);
        assert!(s.audiences(&ScopeSet::parse("openid").unwrap()).is_empty());
        let auds = s.audiences(&set);
        assert_eq!(
            s.token_ttl(&auds, TimeDelta::seconds(900)),
            TimeDelta::seconds(300)
        );
        let latch_only = s.audiences(&ScopeSet::parse("read").unwrap());
        assert_eq!(
            s.token_ttl(&latch_only, TimeDelta::seconds(900)),
            TimeDelta::seconds(900)
        );
    }

    #[test]
    fn supported_lists_openid_then_every_api_scope() {
        let s = snapshot();
        assert_eq!(
            s.supported(),
            [
                "openid",
                "profile",
                "email",
                "read",
                "write",
                "invoices:read",
                "invoices:write"
            ]
        );
        assert_eq!(
            s.by_identifier("https://billing.example")
                .map(|a| a.id.as_str()),
            Some("api_1")
        );
        assert!(s.by_identifier("https://billing.example/").is_none());
    }
}
