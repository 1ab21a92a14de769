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
    /// The parsed keys of `private_key_jwt` clients (`clients::jwks`), per instance.
    pub client_keys: crate::clients::jwks::KeyCache,
    /// Mail: whether it is configured, the outbox, the worker's wake-up and status.
    pub mail: crate::mail::Mailer,
    /// Every enabled client's CORS origins (reloaded every 2 s and at once after a change here).
    pub origins: Arc<crate::clients::origins::OriginSet>,
    /// DPoP nonces and proof checks (RFC 9449).
    pub dpop: crate::dpop::Dpop,
    /// The back-channel logout worker's wake-up and stop flag (`backchannel`).
    pub backchannel: crate::backchannel::Backchannel,
    /// Code exchanges on PostgreSQL, written in batches (group commit, `store::codes`).
    pub codes: crate::store::codes::GroupConsume,
    /// Reads of codes for exchanges on PostgreSQL, in batches (`store::codes::GroupRead`).
    pub code_reads: crate::store::codes::GroupRead,
}
