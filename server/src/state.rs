//! Shared application state, handed to handlers as `web::Data<AppState>`.

use std::sync::Arc;

use metrics_exporter_prometheus::PrometheusHandle;

use crate::config::Settings;
use crate::signing::Signer;

pub struct AppState {
    pub db: crate::store::Db,
    pub settings: Arc<Settings>,
    pub signer: Signer,
    pub metrics: PrometheusHandle,
    /// API-key lookups, reused for at most `api_keys::CACHE_TTL`.
    pub keys: crate::api_keys::KeyCache,
    /// Client and user rows for the hot paths (at most `store::cache::CACHE_TTL` old).
    pub rows: crate::store::RowCaches,
    /// This instance's replica of the access-token and session deny list.
    pub denied: Arc<crate::store::tokens::DenyList>,
    /// Rate limits and brute-force tracking.
    pub limiter: std::sync::Arc<crate::rate_limit::Limiter>,
    /// AES-GCM under the master key (keys derived once at start-up).
    pub sealer: crate::crypto::Sealer,
    /// The time every expiry and age decision reads (a manual clock in tests).
    pub clock: crate::clock::Clock,
    /// The permission catalog: APIs and their scopes (reloaded every 2 s).
    pub catalog: Arc<crate::catalog::Catalog>,
    /// Fetches client logos under this server's address rule (`clients::logo`).
    pub logos: crate::clients::logo::Fetcher,
    /// DPoP nonces and proof checks (RFC 9449).
    pub dpop: crate::dpop::Dpop,
}
