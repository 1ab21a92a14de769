//! `latch serve`: its URL, SIGTERM, the master key; key list, roll and revoke.

use super::*;

// ---------------------------------------------------------------------------------------------
// latch serve

/// A running `latch serve`, killed if a test panics before it stops.
struct Served {
    child: Option<Child>,
    port: u16,
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Some(c) = self.child.as_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

impl Served {
    /// Start `latch serve` and wait (up to 10 s) until `/healthz` answers 200.
    async fn start(cli: &Cli) -> Served {
        let port = free_port();
        let child = cli
            .command(&["serve", "--bind", &format!("127.0.0.1:{port}")])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("latch serve starts");
        let mut served = Served {
            child: Some(child),
            port,
        };
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .timeout(Duration::from_secs(1))
            .build()
            .expect("client");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(r) = http
                .get(format!("http://127.0.0.1:{port}/healthz"))
                .send()
                .await
                && r.status() == 200
            {
                return served;
            }
            if let Some(status) = served
                .child
                .as_mut()
                .expect("running")
                .try_wait()
                .expect("try_wait")
            {
                let out = served
                    .child
                    .take()
                    .expect("child")
                    .wait_with_output()
                    .expect("output");
                panic!("latch serve exited early ({status}): {}", stderr(&out));
            }
            assert!(
                Instant::now() < deadline,
                "latch serve did not answer /healthz within 10 s"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// SIGTERM, then wait (up to 10 s) for the exit.
    async fn terminate(mut self) -> (ExitStatus, Output) {
        let mut child = self.child.take().expect("running");
        let sent = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(sent.success());
        let deadline = Instant::now() + Duration::from_secs(10);
        let status = loop {
            if let Some(s) = child.try_wait().expect("try_wait") {
                break s;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let out = child.wait_with_output().expect("output");
                panic!(
                    "latch serve did not exit within 10 s of SIGTERM: {}",
                    stderr(&out)
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let out = child.wait_with_output().expect("output");
        (status, out)
    }
}

#[tokio::test]
async fn serve_prints_its_url_and_exits_0_when_sent_sigterm() {
    // Arrange
    let cli = Cli::new().await;
    let served = Served::start(&cli).await;
    let port = served.port;

    // Act
    let (status, out) = served.terminate().await;

    // Assert
    assert!(status.success(), "exit {status}: {}", stderr(&out));
    assert!(
        stdout(&out).contains(&format!("127.0.0.1:{port}")),
        "{}",
        stdout(&out)
    );
}

#[tokio::test]
async fn serve_creates_a_0600_master_key_and_reuses_it_when_secret_key_is_unset_on_sqlite() {
    // Arrange
    let mut cli = Cli::sqlite();
    cli.secret_key = None;
    let key_file = cli.cwd.path().join("latch-secret.key");

    // Act
    let first = Served::start(&cli).await;
    let (first_status, first_out) = first.terminate().await;
    let saved = std::fs::read_to_string(&key_file).expect("the key file exists");
    let mode = std::fs::metadata(&key_file)
        .expect("metadata")
        .permissions()
        .mode();
    let second = Served::start(&cli).await;
    let (second_status, second_out) = second.terminate().await;

    // Assert
    assert!(first_status.success(), "{}", stderr(&first_out));
    assert!(second_status.success(), "{}", stderr(&second_out));
    assert_eq!(mode & 0o777, 0o600, "mode {:o}", mode & 0o777);
    assert!(latch::config::SecretKey::parse(&saved).is_ok(), "{saved:?}");
    assert_eq!(
        std::fs::read_to_string(&key_file).expect("still there"),
        saved,
        "the key is reused"
    );
    assert!(
        !stderr(&first_out).contains(saved.trim()),
        "the key is never logged"
    );
}

#[tokio::test]
async fn serve_exits_2_naming_the_secret_key_when_it_is_unset_on_postgres() {
    // Arrange
    let mut cli = Cli::sqlite();
    cli.secret_key = None;
    cli.db_url = "postgres://latch@127.0.0.1:1/latch".to_owned();

    // Act
    let out = cli.run(&["serve", "--bind", "127.0.0.1:0"]);

    // Assert
    assert_usage_error(&out, "LATCH_SECRET_KEY");
    assert!(!cli.cwd.path().join("latch-secret.key").exists());
}

#[tokio::test]
async fn key_list_roll_and_revoke_work_on_the_same_code_paths_and_never_print_secrets() {
    // Arrange
    let cli = Cli::new().await;
    cli.json(&["user", "create", "--email", "kim@example.com", "--json"]);
    let created = cli.json(&[
        "key",
        "create",
        "--user",
        "kim@example.com",
        "--mode",
        "test",
        "--name",
        "deploy",
        "--rate-limit",
        "7",
        "--json",
    ]);
    let id = created["id"].as_str().unwrap().to_owned();
    let secret = created["key"].as_str().unwrap().to_owned();

    // Act + Assert: list shows the key, redacted, with its own rate, never the secret.
    let list = cli.run(&["key", "list", "--user", "kim@example.com", "--json"]);
    assert!(list.status.success(), "{}", stderr(&list));
    let out = stdout(&list);
    assert!(!out.contains(&secret), "list never prints a secret");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["data"][0]["id"], id.as_str());
    assert_eq!(v["data"][0]["rate_limit"], 7);
    assert!(
        v["data"][0]["redacted"]
            .as_str()
            .unwrap()
            .ends_with(&secret[secret.len() - 4..])
    );

    // Roll with an overlap: a new secret, the old key expiring.
    let rolled = cli.json(&["key", "roll", &id, "--expires-in", "1h", "--json"]);
    assert_eq!(rolled["rolled_from"], id.as_str());
    assert!(rolled["secret"].as_str().unwrap().starts_with("sk_test_"));
    assert_ne!(rolled["secret"].as_str().unwrap(), secret);
    let list = cli.json(&["key", "list", "--user", "kim@example.com", "--json"]);
    let old = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] == id.as_str())
        .unwrap()
        .clone();
    assert_eq!(old["status"], "expiring");

    // Revoke: gone from the default list, present with --all as revoked.
    let revoked = cli.json(&["key", "revoke", &id, "--json"]);
    assert_eq!(revoked["status"], "revoked");
    let list = cli.json(&["key", "list", "--user", "kim@example.com", "--json"]);
    assert!(
        list["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|k| k["id"] != id.as_str())
    );
    let all = cli.json(&[
        "key",
        "list",
        "--user",
        "kim@example.com",
        "--all",
        "--json",
    ]);
    assert!(
        all["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k["id"] == id.as_str() && k["status"] == "revoked")
    );

    // Bad input: unknown id and a bad expiry exit 2.
    assert_eq!(
        cli.run(&["key", "revoke", "key_nope"]).status.code(),
        Some(2)
    );
    let new_id = rolled["id"].as_str().unwrap();
    assert_eq!(
        cli.run(&["key", "roll", new_id, "--expires-in", "forever"])
            .status
            .code(),
        Some(2)
    );
}
