//! Logging (tracing) and the Prometheus recorder.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Install the global subscriber once. `LATCH_LOG` (or `RUST_LOG`) sets the filter.
pub fn init(format: LogFormat, default_filter: &str) {
    let user = std::env::var("LATCH_LOG")
        .or_else(|_| std::env::var("RUST_LOG"))
        .ok();
    let filter = filter(user.as_deref(), default_filter);
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .try_init(),
        LogFormat::Pretty => builder.compact().try_init(),
    };
}

/// actix-http logs every malformed or abandoned connection (bad request line or header,
/// slow headers, a client reset mid-body) as an ERROR "stream error", after it has already
/// answered 400/408 or the client is gone. Those are the client's mistakes, not ours, and
/// must not page anyone, so they are off unless a filter names `actix_http` explicitly.
const CLIENT_NOISE: &str = "actix_http::h1::dispatcher=off";

fn filter(user: Option<&str>, default_filter: &str) -> EnvFilter {
    let text = user
        .filter(|f| EnvFilter::try_new(f).is_ok())
        .unwrap_or(default_filter);
    let filter = EnvFilter::new(text);
    if text.contains("actix_http") {
        return filter;
    }
    match CLIENT_NOISE.parse() {
        Ok(d) => filter.add_directive(d),
        Err(_) => filter,
    }
}

/// The process-wide Prometheus recorder (one per process, shared by every app in tests).
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets(&[
                    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
                ])
                .expect("static bucket list is valid")
                .build_recorder();
            let handle = recorder.handle();
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!("a metrics recorder was already installed; /metrics may be empty");
            }
            spawn_upkeep(handle.clone());
            handle
        })
        .clone()
}

/// How often recorded histogram samples are folded into their buckets.
pub const METRICS_UPKEEP: std::time::Duration = std::time::Duration::from_secs(1);

/// Fold histogram samples into their buckets every [`METRICS_UPKEEP`]. The recorder keeps
/// every sample of `http_request_duration_seconds` (in 64-sample blocks, ~20 bytes a sample
/// as allocated) until upkeep or a `/metrics` scrape drains it: with nobody scraping, memory
/// grew with every request served (+30 MB for 1.6 M samples, and not given back after a
/// drain; issue #16, BENCHMARKS.md). Drained each second, the samples held are at most one
/// second's requests (+0.5 MB for the same 1.6 M). A thread of its own, not a tokio task:
/// the recorder is process-wide and outlives any one runtime (the tests build many).
fn spawn_upkeep(handle: PrometheusHandle) {
    let spawned = std::thread::Builder::new()
        .name("metrics-upkeep".into())
        .stack_size(64 * 1024)
        .spawn(move || {
            loop {
                std::thread::sleep(METRICS_UPKEEP);
                handle.run_upkeep();
            }
        });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "cannot start the metrics upkeep thread; histogram samples are drained only by /metrics");
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn client_protocol_errors_are_not_logged_as_errors_unless_asked_for() {
        let f = super::filter(None, "info").to_string();
        assert!(f.contains("actix_http::h1::dispatcher=off"), "{f}");
        let f = super::filter(Some("debug,actix_http=trace"), "info").to_string();
        assert!(!f.contains("=off"), "{f}");
        let f = super::filter(Some("not a [valid filter"), "warn").to_string();
        assert!(f.contains("warn") && f.contains("=off"), "{f}");
    }
}
