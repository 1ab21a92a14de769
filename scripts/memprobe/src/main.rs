//! Resident memory of the histogram recorder and of argon2, with Latch's allocator and its
//! options (`server/src/main.rs`: `arena_eager_commit` 0, `purge_delay` 0). See Cargo.toml.

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn rss() -> (u64, u64) {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    let f = |k: &str| {
        s.lines()
            .find(|l| l.starts_with(k))
            .unwrap()
            .split_whitespace()
            .nth(1)
            .unwrap()
            .parse::<u64>()
            .unwrap()
    };
    (f("RssAnon:"), f("VmHWM:"))
}

fn main() {
    // SAFETY: process-wide allocator options, as in Latch's main.rs (4: arena_eager_commit,
    // 15: purge_delay).
    unsafe { libmimalloc_sys::mi_option_set(4, 0) };
    // SAFETY: as above.
    unsafe { libmimalloc_sys::mi_option_set(15, 0) };
    let mode = std::env::args().nth(1).unwrap_or_default();
    let n: usize = std::env::args()
        .nth(2)
        .map(|a| a.parse().unwrap())
        .unwrap_or(1_600_000);
    if mode == "metrics" || mode == "metrics-upkeep" {
        let recorder = metrics_exporter_prometheus::PrometheusBuilder::new()
            .set_buckets(&[
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
            ])
            .unwrap()
            .build_recorder();
        let handle = recorder.handle();
        metrics::set_global_recorder(recorder).unwrap();
        let h = metrics::histogram!("http_request_duration_seconds", "route" => "/oauth/token", "status" => "200");
        let before = rss();
        for i in 0..n {
            h.record(0.001);
            // One second of the API-key endpoint's requests per upkeep (Latch drains each second).
            if mode == "metrics-upkeep" && i % 76_000 == 0 {
                handle.run_upkeep();
            }
        }
        let after = rss();
        handle.run_upkeep();
        let drained = rss();
        println!(
            "{mode} n={n}: RssAnon before {} kB, after {} kB (+{} kB, {:.1} B/sample), after upkeep {} kB",
            before.0,
            after.0,
            after.0 - before.0,
            (after.0 - before.0) as f64 * 1024.0 / n as f64,
            drained.0
        );
    } else if mode == "argon2" {
        let threads = n;
        let before = rss();
        let hs: Vec<_> = (0..threads)
            .map(|_| {
                std::thread::spawn(|| {
                    use argon2::PasswordHasher;
                    for _ in 0..5 {
                        let _ = argon2::Argon2::default()
                            .hash_password(b"bench-pass-1234567")
                            .unwrap();
                    }
                })
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
        let after = rss();
        println!(
            "argon2 threads={threads}: RssAnon before {} kB, after {} kB, peak (VmHWM) {} kB (was {} kB)",
            before.0, after.0, after.1, before.1
        );
    }
}
