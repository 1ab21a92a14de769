//! F8: a slow disk under SQLite. While every fsync of the process takes two seconds
//! (`slow_sync/slow_sync.c`, loaded with `LD_PRELOAD`), a DPoP token request whose replay
//! record must restart the WAL waits for the disk, and nothing else does: the one request
//! worker keeps answering requests that do not write (session 11: the replay log's
//! statements ran on the request thread, and a WAL restart's fsync stopped every request of
//! the worker; they now run on the runtime's blocking threads).

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use base64::Engine;
use serde_json::json;

use crate::infra::*;

/// How long each fsync takes while the disk is slow.
const STALL: Duration = Duration::from_secs(2);
/// The longest a request that does not write may take meanwhile (a stall is 2 s).
const RESPONSIVE: Duration = Duration::from_millis(500);

/// Build the `LD_PRELOAD` library into `dir`.
fn build_shim(dir: &Path) -> String {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/faults/slow_sync/slow_sync.c");
    let out = dir.join("libslow_sync.so");
    let status = Command::new("cc")
        .args(["-shared", "-fPIC", "-O2", "-o"])
        .arg(&out)
        .arg(&src)
        .arg("-ldl")
        .status()
        .expect("cc (the C compiler) builds the slow-disk library");
    assert!(status.success(), "cc {}", src.display());
    out.display().to_string()
}

/// A DPoP key (EC P-256) and its proofs (RFC 9449 §4.2).
struct DpopKey {
    pair: EcdsaKeyPair,
    jwk: serde_json::Value,
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

impl DpopKey {
    fn new() -> Self {
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .expect("P-256 key");
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref())
            .expect("P-256 key");
        let pk = pair.public_key().as_ref().to_vec();
        let jwk = json!({"kty": "EC", "crv": "P-256", "x": b64(&pk[1..33]), "y": b64(&pk[33..65])});
        DpopKey { pair, jwk }
    }

    fn proof(&self, htu: &str) -> String {
        let header = json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": self.jwk});
        let iat = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_secs();
        let claims = json!({
            "jti": uuid::Uuid::new_v4().to_string(), "htm": "POST", "htu": htu, "iat": iat,
        });
        let msg = format!(
            "{}.{}",
            b64(header.to_string().as_bytes()),
            b64(claims.to_string().as_bytes())
        );
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let sig = self.pair.sign(&rng, msg.as_bytes()).expect("sign");
        format!("{msg}.{}", b64(sig.as_ref()))
    }
}

/// A `client_credentials` token request with a fresh proof; its status and how long it took.
async fn dpop_token(
    http: &reqwest::Client,
    base: &str,
    fx: &Fixtures,
    key: &DpopKey,
) -> (u16, Duration) {
    let url = format!("{base}/oauth/token");
    let started = Instant::now();
    let res = http
        .post(&url)
        .basic_auth(&fx.client_id, Some(&fx.client_secret))
        .header("DPoP", key.proof(&url))
        .form(&[("grant_type", "client_credentials"), ("scope", "read")])
        .send()
        .await
        .expect("token request");
    let status = res.status().as_u16();
    let body: serde_json::Value = res.json().await.unwrap_or_default();
    if status == 200 {
        assert_eq!(body["token_type"], "DPoP", "{body}");
    }
    (status, started.elapsed())
}

/// Checkpoint the whole WAL into the database and truncate it, from outside the server, so
/// that the next write starts a new WAL: SQLite writes its header and fsyncs it.
fn truncate_wal(file: &Path) {
    let conn = rusqlite::Connection::open(file).expect("open the database");
    for _ in 0..50 {
        let (busy, _, _): (i64, i64, i64) = conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .expect("checkpoint");
        if busy == 0 {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("the WAL could not be checkpointed (busy)");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "fault injection: run by .ci/run with --ignored"]
async fn f8_slow_fsync_stalls_only_the_request_that_writes() {
    // Arrange: one request worker, so a stall on its thread would stop every request.
    let dir = tempfile::tempdir().expect("temp dir");
    let shim = build_shim(dir.path());
    let flag = dir.path().join("slow");
    let log = dir.path().join("stalls.log");
    let file = dir.path().join("latch.db");
    let db = format!("sqlite://{}?mode=rwc", file.display());
    let ms = STALL.as_millis().to_string();
    let p = Process::start_with_env(
        &db,
        &[
            ("LD_PRELOAD", &shim),
            ("SLOW_SYNC_FLAG", &flag.display().to_string()),
            ("SLOW_SYNC_LOG", &log.display().to_string()),
            ("SLOW_SYNC_MS", &ms),
            ("LATCH_WORKERS", "1"),
        ],
    );
    let fx = process_fixtures(&p).await;
    let http = reqwest::Client::new();
    let key = DpopKey::new();
    for _ in 0..5 {
        let (status, _) = dpop_token(&http, &p.base, &fx, &key).await;
        assert_eq!(status, 200, "DPoP tokens before the fault");
    }
    truncate_wal(&file);

    // Act: the disk turns slow; one DPoP request must write a replay record (the first write
    // to the new WAL), while another task asks for the JWKS every 20 ms.
    std::fs::write(&flag, b"").expect("flag");
    let writer = {
        let (http, base, fx) = (http.clone(), p.base.clone(), fx.clone());
        tokio::spawn(async move { dpop_token(&http, &base, &fx, &key).await })
    };
    let mut probes = Vec::new();
    let until = Instant::now() + STALL + Duration::from_millis(500);
    while Instant::now() < until {
        let started = Instant::now();
        let res = http
            .get(format!("{}/.well-known/jwks.json", p.base))
            .timeout(Duration::from_secs(10))
            .send()
            .await;
        let status = res.map(|r| r.status().as_u16()).unwrap_or(0);
        probes.push((status, started.elapsed()));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (status, took) = writer.await.expect("writer task");
    std::fs::remove_file(&flag).expect("flag");
    let stalls = std::fs::read_to_string(&log)
        .unwrap_or_default()
        .lines()
        .count();

    // Assert
    let slowest = probes.iter().map(|p| p.1).max().unwrap_or_default();
    eprintln!(
        "F8: DPoP token {status} in {took:?} across {stalls} stalled fsync(s); {} JWKS \
         answers meanwhile, slowest {slowest:?}",
        probes.len()
    );
    assert!(stalls >= 1, "the slow disk was reached");
    assert_eq!(status, 200, "the request that wrote still succeeds");
    assert!(
        took >= STALL - Duration::from_millis(100),
        "the replay record's write waited for the disk ({took:?}): else this test proves nothing"
    );
    assert!(
        probes.iter().all(|p| p.0 == 200),
        "every JWKS answer is a 200: {probes:?}"
    );
    assert!(
        slowest < RESPONSIVE,
        "requests that do not write are answered while the disk is slow: slowest {slowest:?}"
    );
    let (status, took) = dpop_token(&http, &p.base, &fx, &DpopKey::new()).await;
    assert_eq!(status, 200, "after the fault");
    assert!(took < RESPONSIVE, "after the fault: {took:?}");
}
