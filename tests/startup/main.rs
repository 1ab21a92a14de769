//! Start-up in a fresh process: what the first seconds of a new instance look like. A
//! separate test binary because the Prometheus recorder is one per process: in `tests/api`
//! an earlier app would already have installed it and hidden the defect (issue #16, 6).

use latch::config::Settings;
use latch::startup::Application;

/// Gauges set while the app is built (the rate limiter's `latch_rate_limit_redis_up`) reach
/// `/metrics` at once, not only after their next change.
#[tokio::test]
async fn metrics_right_after_start_show_the_gauges_set_during_start_up() {
    // Arrange: a Redis that is not there, so the gauge is 0 and stays so until a probe
    // succeeds (none will).
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}/latch.db?mode=rwc", dir.path().display());
    let mut settings = Settings::for_tests(&url);
    settings.redis_url = Some("redis://127.0.0.1:1".to_owned());
    let app = Application::build_with(&mut settings, false)
        .await
        .expect("app builds");
    let port = app.port();
    tokio::spawn(app.run_until_stopped());

    // Act
    let body = reqwest::get(format!("http://127.0.0.1:{port}/metrics"))
        .await
        .expect("request")
        .text()
        .await
        .expect("body");

    // Assert
    assert!(
        body.lines()
            .any(|l| l.starts_with("latch_rate_limit_redis_up") && l.ends_with(" 0")),
        "no latch_rate_limit_redis_up in /metrics:\n{body}"
    );
}
