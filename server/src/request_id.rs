//! The id of the request being handled, set by the middleware for the life of the request
//! (response header `X-Request-Id`, the log span, `/v1` error bodies). At the bottom of the
//! graph: it imports nothing of ours.

use std::sync::Arc;

tokio::task_local! {
    pub static REQUEST_ID: Arc<str>;
}

/// The id of the request being handled on this task, if any.
pub fn current_request_id() -> Option<Arc<str>> {
    REQUEST_ID.try_with(|id| id.clone()).ok()
}
