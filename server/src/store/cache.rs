//! Row caches for the hot read paths, one set per app instance (in `AppState`): client rows
//! for client authentication and token checks, user rows for "is this account enabled".
//! Entries live at most [`CACHE_TTL`]; the instance that changes a row drops its entry at
//! once (the domain functions that change clients and users take these caches), other
//! instances see the change within the TTL.

use std::sync::Arc;

use entity::{client, user};

/// How long a cached row is reused.
pub const CACHE_TTL: std::time::Duration = std::time::Duration::from_secs(2);

pub struct RowCaches {
    pub(super) clients: moka::sync::Cache<String, Option<Arc<client::Model>>>,
    pub(super) users: moka::sync::Cache<String, Option<Arc<user::Model>>>,
}

fn cache<V: Clone + Send + Sync + 'static>() -> moka::sync::Cache<String, V> {
    moka::sync::Cache::builder()
        .max_capacity(100_000)
        .time_to_live(CACHE_TTL)
        .build()
}

impl Default for RowCaches {
    fn default() -> Self {
        Self {
            clients: cache(),
            users: cache(),
        }
    }
}

impl RowCaches {
    /// Drop a client's row (after it changed or was deleted here).
    pub fn forget_client(&self, id: &str) {
        self.clients.invalidate(id);
    }

    /// Drop a user's row (after it changed here).
    pub fn forget_user(&self, id: &str) {
        self.users.invalidate(id);
    }
}
