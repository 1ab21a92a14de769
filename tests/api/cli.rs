//! The `latch` binary, run as an operator would: user, client and key creation (secrets
//! shown once and stored only as digests), `secret generate`, `signing-key`, config errors
//! (exit code 2 naming the key), the config layers, and `serve` with its master key and
//! SIGTERM handling. Each test runs in its own working directory against a fresh database
//! (SQLite, or PostgreSQL when `DATABASE_URL` says so).

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use sea_orm::{ConnectionTrait, Database, DatabaseBackend, DatabaseConnection, Statement};
use serde_json::Value;

use crate::helpers::*;

const LATCH: &str = env!("CARGO_BIN_EXE_latch");

/// An isolated operator environment: an empty working directory, a database, a master key,
/// and no `LATCH_*` variables inherited from whoever runs the tests.
struct Cli {
    cwd: tempfile::TempDir,
    db_url: String,
    secret_key: Option<String>,
    _db: Option<TestDb>,
}

impl Cli {
    /// On the database in use: a temp SQLite file, or a fresh PostgreSQL database.
    async fn new() -> Cli {
        let db = TestDb::create().await;
        Cli {
            cwd: tempfile::tempdir().expect("temp dir"),
            db_url: db.url.clone(),
            secret_key: Some(latch::config::SecretKey::generate().to_base64()),
            _db: Some(db),
        }
    }

    /// On a SQLite file in the working directory: for commands that fail before they touch
    /// the database, and for behaviour specific to SQLite.
    fn sqlite() -> Cli {
        let cwd = tempfile::tempdir().expect("temp dir");
        let db_url = format!("sqlite://{}/latch.db?mode=rwc", cwd.path().display());
        Cli {
            cwd,
            db_url,
            secret_key: Some(latch::config::SecretKey::generate().to_base64()),
            _db: None,
        }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(LATCH);
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("LATCH_") {
                c.env_remove(k);
            }
        }
        c.env("LATCH_DATABASE_URL", &self.db_url)
            .current_dir(self.cwd.path())
            .args(args)
            .stdin(Stdio::null());
        if let Some(k) = &self.secret_key {
            c.env("LATCH_SECRET_KEY", k);
        }
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        self.run_with_env(args, &[])
    }

    fn run_with_env(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut c = self.command(args);
        c.envs(env.iter().copied());
        c.output().expect("latch runs")
    }

    fn run_with_stdin(&self, args: &[&str], input: &str) -> Output {
        let mut child = self
            .command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("latch runs");
        child
            .stdin
            .take()
            .expect("piped stdin")
            .write_all(input.as_bytes())
            .expect("write stdin");
        child.wait_with_output().expect("latch exits")
    }

    /// Run a command that must succeed and print one JSON object.
    fn json(&self, args: &[&str]) -> Value {
        parse_json(&self.run(args))
    }
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn parse_json(o: &Output) -> Value {
    assert!(
        o.status.success(),
        "latch failed ({}): {}",
        o.status,
        stderr(o)
    );
    serde_json::from_str(stdout(o).trim())
        .unwrap_or_else(|e| panic!("stdout is not one JSON object ({e}): {}", stdout(o)))
}

fn keys_of(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v
        .as_object()
        .expect("a JSON object")
        .keys()
        .cloned()
        .collect();
    k.sort();
    k
}

fn sorted(keys: &[&str]) -> Vec<String> {
    let mut k: Vec<String> = keys.iter().map(|s| s.to_string()).collect();
    k.sort();
    k
}

/// Exit code 2, a message on stderr naming `needle`, and no panic.
fn assert_usage_error(o: &Output, needle: &str) {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(2), "stderr: {err}");
    assert!(
        err.contains(needle),
        "stderr does not name {needle:?}: {err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}

// ---------------------------------------------------------------------------------------------
// latch user create

#[tokio::test]
async fn user_create_prints_a_generated_password_once_when_no_password_is_given() {
    // Arrange
    let cli = Cli::new().await;

    // Act
    let v = cli.json(&["user", "create", "--email", "ann@example.com", "--json"]);

    // Assert
    assert_eq!(keys_of(&v), sorted(&["id", "email", "admin", "password"]));
    assert_eq!(v["email"], "ann@example.com");
    assert_eq!(v["admin"], false);
    assert!(v["id"].as_str().is_some_and(|s| !s.is_empty()));
    let password = v["password"].as_str().expect("password");
    assert!(password.len() >= 16, "{password}");
    let db = Database::connect(&cli.db_url).await.expect("connect");
    let user = latch::store::users::by_email(&db, "ann@example.com")
        .await
        .unwrap()
        .expect("user");
    assert!(latch::users::password::verify_blocking(
        &user.password_hash,
        password
    ));
}

#[tokio::test]
async fn user_create_reads_the_password_from_stdin_and_does_not_print_it_when_password_stdin_is_set()
 {
    // Arrange
    let cli = Cli::new().await;
    let password = "correct horse battery staple";

    // Act
    let out = cli.run_with_stdin(
        &[
            "user",
            "create",
            "--email",
            "bob@example.com",
            "--password-stdin",
            "--json",
        ],
        &format!("{password}\n"),
    );

    // Assert
    let v = parse_json(&out);
    assert_eq!(keys_of(&v), sorted(&["id", "email", "admin"]));
    assert!(!stdout(&out).contains(password) && !stderr(&out).contains(password));
    let db = Database::connect(&cli.db_url).await.expect("connect");
    let user = latch::store::users::by_email(&db, "bob@example.com")
        .await
        .unwrap()
        .expect("user");
    assert!(latch::users::password::verify_blocking(
        &user.password_hash,
        password
    ));
}

#[tokio::test]
async fn user_create_makes_an_admin_when_admin_is_set() {
    // Arrange
    let cli = Cli::new().await;

    // Act
    let v = cli.json(&[
        "user",
        "create",
        "--email",
        "root@example.com",
        "--admin",
        "--json",
    ]);

    // Assert
    assert_eq!(v["admin"], true);
}

#[tokio::test]
async fn user_create_fails_with_a_clear_message_when_the_email_is_taken() {
    // Arrange
    let cli = Cli::new().await;
    cli.json(&["user", "create", "--email", "ann@example.com", "--json"]);

    // Act
    let out = cli.run(&["user", "create", "--email", "ann@example.com", "--json"]);

    // Assert
    assert!(!out.status.success());
    assert!(stderr(&out).contains("already exists"), "{}", stderr(&out));
    assert!(stdout(&out).is_empty(), "{}", stdout(&out));
}

#[tokio::test]
async fn user_create_fails_when_the_email_is_taken_in_another_case() {
    // Arrange
    let cli = Cli::new().await;
    cli.json(&["user", "create", "--email", "ann@example.com", "--json"]);

    // Act
    let out = cli.run(&["user", "create", "--email", "Ann@Example.COM", "--json"]);

    // Assert
    assert!(!out.status.success());
    assert!(stderr(&out).contains("already exists"), "{}", stderr(&out));
}

#[tokio::test]
async fn user_create_exits_2_when_the_email_is_invalid() {
    // Arrange
    let cli = Cli::new().await;

    // Act
    let out = cli.run(&["user", "create", "--email", "not-an-email", "--json"]);

    // Assert
    assert_usage_error(&out, "email");
}

// ---------------------------------------------------------------------------------------------
// latch client create

#[tokio::test]
async fn client_create_prints_the_documented_fields_and_a_secret_when_confidential() {
    // Arrange
    let cli = Cli::new().await;

    // Act
    let v = cli.json(&[
        "client",
        "create",
        "--name",
        "Billing",
        "--redirect-uri",
        "https://app.example.com/cb",
        "--json",
    ]);

    // Assert
    assert_eq!(
        keys_of(&v),
        sorted(&[
            "client_id",
            "client_secret",
            "name",
            "redirect_uris",
            "grant_types",
            "scopes",
            "livemode",
            "public"
        ])
    );
    assert!(v["client_id"].as_str().is_some_and(|s| !s.is_empty()));
    assert!(
        v["client_secret"]
            .as_str()
            .is_some_and(|s| s.starts_with("cs_")),
        "{v}"
    );
    assert_eq!(v["name"], "Billing");
    assert_eq!(
        v["redirect_uris"],
        serde_json::json!(["https://app.example.com/cb"])
    );
    assert_eq!(
        v["grant_types"],
        serde_json::json!(["authorization_code", "refresh_token"])
    );
    let scopes: Vec<&str> = v["scopes"]
        .as_array()
        .expect("scopes")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        scopes.contains(&"read") && scopes.contains(&"write"),
        "{scopes:?}"
    );
    assert_eq!(v["livemode"], true);
    assert_eq!(v["public"], false);
}

#[tokio::test]
async fn client_create_prints_no_secret_when_the_client_is_public() {
    // Arrange
    let cli = Cli::new().await;

    // Act
    let v = cli.json(&[
        "client",
        "create",
        "--name",
        "Mobile",
        "--redirect-uri",
        "https://app.example.com/cb",
        "--public",
        "--json",
    ]);

    // Assert
    assert_eq!(v["public"], true);
    assert!(v.get("client_secret").is_none_or(Value::is_null), "{v}");
    assert!(!v.to_string().contains("cs_"), "{v}");
}

#[tokio::test]
async fn client_create_needs_no_redirect_uri_when_the_only_grant_is_client_credentials() {
    // Arrange
    let cli = Cli::new().await;

    // Act
    let v = cli.json(&[
        "client",
        "create",
        "--name",
        "Cron",
        "--grant-type",
        "client_credentials",
        "--json",
    ]);

    // Assert
    assert_eq!(v["grant_types"], serde_json::json!(["client_credentials"]));
    assert_eq!(v["redirect_uris"], serde_json::json!([]));
    assert!(
        v["client_secret"]
            .as_str()
            .is_some_and(|s| s.starts_with("cs_")),
        "{v}"
    );
}

#[tokio::test]
async fn client_create_exits_2_naming_the_uri_when_a_redirect_uri_is_http_off_loopback() {
    // Arrange
    let cli = Cli::new().await;

    // Act
    let out = cli.run(&[
        "client",
        "create",
        "--name",
        "Old",
        "--redirect-uri",
        "http://app.example.com/cb",
        "--json",
    ]);

    // Assert
    assert_usage_error(&out, "http://app.example.com/cb");
    assert!(stdout(&out).is_empty(), "{}", stdout(&out));
}

// ---------------------------------------------------------------------------------------------
// latch key create

#[tokio::test]
async fn key_create_prints_a_test_key_once_when_mode_is_test() {
    // Arrange
    let cli = Cli::new().await;
    cli.json(&["user", "create", "--email", "ann@example.com", "--json"]);

    // Act
    let v = cli.json(&[
        "key",
        "create",
        "--user",
        "ann@example.com",
        "--mode",
        "test",
        "--json",
    ]);

    // Assert
    assert_eq!(
        keys_of(&v),
        sorted(&["id", "key", "livemode", "scopes", "name"])
    );
    assert!(
        v["key"].as_str().is_some_and(|k| k.starts_with("sk_test_")),
        "{v}"
    );
    assert_eq!(v["livemode"], false);
    assert!(v["scopes"].is_array(), "{v}");
    assert!(v["name"].is_string(), "{v}");
}

#[tokio::test]
async fn key_create_prints_a_live_key_when_mode_is_live() {
    // Arrange
    let cli = Cli::new().await;
    cli.json(&["user", "create", "--email", "ann@example.com", "--json"]);

    // Act
    let v = cli.json(&[
        "key",
        "create",
        "--user",
        "ann@example.com",
        "--mode",
        "live",
        "--name",
        "CI",
        "--json",
    ]);

    // Assert
    assert!(
        v["key"].as_str().is_some_and(|k| k.starts_with("sk_live_")),
        "{v}"
    );
    assert_eq!(v["livemode"], true);
    assert_eq!(v["name"], "CI");
}

#[tokio::test]
async fn key_create_exits_2_when_the_user_does_not_exist() {
    // Arrange
    let cli = Cli::new().await;

    // Act
    let out = cli.run(&[
        "key",
        "create",
        "--user",
        "ghost@example.com",
        "--mode",
        "test",
        "--json",
    ]);

    // Assert
    assert_usage_error(&out, "ghost@example.com");
}

// ---------------------------------------------------------------------------------------------
// Secrets at rest

/// Every row of every table, one line per row, every column rendered as text.
async fn dump_database(db: &DatabaseConnection) -> String {
    let backend = db.get_database_backend();
    let list = match backend {
        DatabaseBackend::Sqlite => "SELECT name FROM sqlite_master WHERE type = 'table'",
        _ => {
            "SELECT table_name::text FROM information_schema.tables \
              WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'"
        }
    };
    let tables: Vec<String> = db
        .query_all_raw(Statement::from_string(backend, list))
        .await
        .expect("list tables")
        .iter()
        .map(|r| r.try_get_by_index::<String>(0).expect("name"))
        .collect();
    assert!(tables.len() > 5, "found only {tables:?}");
    let mut dump = String::new();
    for table in tables {
        let select = match backend {
            DatabaseBackend::Sqlite => {
                let columns: Vec<String> = db
                    .query_all_raw(Statement::from_string(
                        backend,
                        format!("SELECT name FROM pragma_table_info('{table}')"),
                    ))
                    .await
                    .expect("columns")
                    .iter()
                    .map(|r| r.try_get_by_index::<String>(0).expect("column"))
                    .collect();
                // quote() renders every type, BLOBs as X'…' hex.
                let row = columns
                    .iter()
                    .map(|c| format!("quote(\"{c}\")"))
                    .collect::<Vec<_>>()
                    .join(" || '|' || ");
                format!("SELECT {row} FROM \"{table}\"")
            }
            _ => format!("SELECT row_to_json(t)::text FROM \"{table}\" t"),
        };
        for r in db
            .query_all_raw(Statement::from_string(backend, select))
            .await
            .expect("select rows")
        {
            dump.push_str(&table);
            dump.push_str(": ");
            dump.push_str(&r.try_get_by_index::<String>(0).expect("row text"));
            dump.push('\n');
        }
    }
    dump
}

fn hex(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test]
async fn cli_stores_no_plaintext_secret_when_creating_a_user_a_client_and_keys() {
    // Arrange
    let cli = Cli::new().await;
    let user = cli.json(&["user", "create", "--email", "ann@example.com", "--json"]);
    let client = cli.json(&[
        "client",
        "create",
        "--name",
        "Billing",
        "--redirect-uri",
        "https://app.example.com/cb",
        "--json",
    ]);
    let test_key = cli.json(&[
        "key",
        "create",
        "--user",
        "ann@example.com",
        "--mode",
        "test",
        "--json",
    ]);
    let live_key = cli.json(&[
        "key",
        "create",
        "--user",
        "ann@example.com",
        "--mode",
        "live",
        "--json",
    ]);
    let password = user["password"].as_str().expect("generated password");
    let client_secret = client["client_secret"].as_str().expect("client secret");
    let keys = [
        test_key["key"].as_str().expect("test key"),
        live_key["key"].as_str().expect("live key"),
    ];

    // Act
    let db = Database::connect(&cli.db_url).await.expect("connect");
    let dump = dump_database(&db).await;

    // Assert
    let lower = dump.to_lowercase();
    let mut plaintexts = vec![
        password.to_owned(),
        client_secret.to_owned(),
        client_secret.trim_start_matches("cs_").to_owned(),
    ];
    for k in keys {
        plaintexts.push(k.to_owned());
        plaintexts.push(k[8..].to_owned());
    }
    for p in &plaintexts {
        assert!(
            !lower.contains(&p.to_lowercase()),
            "plaintext {p} is stored:\n{dump}"
        );
        assert!(
            !lower.contains(&hex(p)),
            "plaintext {p} is stored as bytes:\n{dump}"
        );
    }
    for secret in [client_secret, keys[0], keys[1]] {
        let digest = latch::crypto::sha256_hex(secret);
        assert!(
            dump.contains(&digest),
            "no SHA-256 digest of {secret} in:\n{dump}"
        );
    }
    assert!(
        dump.contains("ann@example.com"),
        "the dump sees the user row:\n{dump}"
    );
}

// ---------------------------------------------------------------------------------------------
// latch secret generate, latch migrate, latch signing-key

#[tokio::test]
async fn secret_generate_prints_base64_of_at_least_32_bytes() {
    // Arrange
    let cli = Cli::sqlite();

    // Act
    let first = cli.run(&["secret", "generate"]);
    let second = cli.run(&["secret", "generate"]);

    // Assert
    assert!(first.status.success(), "{}", stderr(&first));
    let printed = stdout(&first).trim().to_owned();
    let bytes = [
        &base64::engine::general_purpose::STANDARD,
        &base64::engine::general_purpose::STANDARD_NO_PAD,
        &base64::engine::general_purpose::URL_SAFE,
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
    ]
    .iter()
    .find_map(|e| e.decode(&printed).ok())
    .unwrap_or_else(|| panic!("not base64: {printed:?}"));
    assert!(bytes.len() >= 32, "{} bytes", bytes.len());
    assert_ne!(
        printed,
        stdout(&second).trim(),
        "every run prints a fresh key"
    );
    assert!(
        latch::config::SecretKey::parse(&printed).is_ok(),
        "LATCH_SECRET_KEY accepts it"
    );
}

#[tokio::test]
async fn migrate_succeeds_and_is_idempotent_when_run_twice() {
    // Arrange
    let cli = Cli::new().await;

    // Act
    let first = cli.run(&["migrate"]);
    let second = cli.run(&["migrate"]);

    // Assert
    assert!(first.status.success(), "{}", stderr(&first));
    assert!(second.status.success(), "{}", stderr(&second));
    let db = Database::connect(&cli.db_url).await.expect("connect");
    use migration::MigratorTrait;
    assert!(
        migration::Migrator::get_pending_migrations(&db)
            .await
            .expect("status")
            .is_empty()
    );
}

#[tokio::test]
async fn signing_key_list_shows_both_keys_when_rotated_twice() {
    // Arrange
    let cli = Cli::new().await;
    let first = cli.json(&["signing-key", "rotate", "--json"]);
    let second = cli.json(&["signing-key", "rotate", "--json"]);

    // Act
    let list = cli.json(&["signing-key", "list", "--json"]);

    // Assert
    let keys = list["keys"]
        .as_array()
        .unwrap_or_else(|| panic!("no keys: {list}"));
    assert_eq!(keys.len(), 2, "{list}");
    let mut kids: Vec<&str> = keys.iter().filter_map(|k| k["kid"].as_str()).collect();
    kids.sort();
    let mut rotated = vec![
        first["kid"].as_str().expect("kid"),
        second["kid"].as_str().expect("kid"),
    ];
    rotated.sort();
    assert_ne!(rotated[0], rotated[1]);
    assert_eq!(kids, rotated);
}

// ---------------------------------------------------------------------------------------------
// Bad configuration and bad usage: exit code 2, a message naming the key, never a panic

#[tokio::test]
async fn migrate_exits_2_naming_the_key_when_a_token_ttl_is_not_a_number() {
    // Arrange
    let cli = Cli::sqlite();

    // Act
    let out = cli.run_with_env(&["migrate"], &[("LATCH_ACCESS_TOKEN_TTL", "soon")]);

    // Assert
    assert_usage_error(&out, "LATCH_ACCESS_TOKEN_TTL");
}

#[tokio::test]
async fn migrate_exits_2_naming_the_key_when_the_secret_key_is_too_short() {
    // Arrange
    let cli = Cli::sqlite();

    // Act
    let out = cli.run_with_env(&["migrate"], &[("LATCH_SECRET_KEY", "short")]);

    // Assert
    assert_usage_error(&out, "LATCH_SECRET_KEY");
}

#[tokio::test]
async fn migrate_exits_2_naming_the_key_when_the_database_is_not_sqlite_or_postgres() {
    // Arrange
    let cli = Cli::sqlite();

    // Act
    let out = cli.run_with_env(&["migrate"], &[("LATCH_DATABASE_URL", "mysql://x")]);

    // Assert
    assert_usage_error(&out, "LATCH_DATABASE_URL");
}

#[tokio::test]
async fn latch_exits_2_when_the_subcommand_is_unknown() {
    // Arrange
    let cli = Cli::sqlite();

    // Act
    let out = cli.run(&["frobnicate"]);

    // Assert
    assert_usage_error(&out, "frobnicate");
}

// ---------------------------------------------------------------------------------------------
// Configuration layers: latch.toml in the working directory < LATCH_* < flags

#[tokio::test]
async fn latch_reads_latch_toml_from_the_working_directory_when_it_exists() {
    // Arrange
    let cli = Cli::sqlite();
    std::fs::write(
        cli.cwd.path().join("latch.toml"),
        "access_token_ttl = \"soon\"\n",
    )
    .expect("write");

    // Act
    let out = cli.run(&["migrate"]);

    // Assert
    assert_usage_error(&out, "LATCH_ACCESS_TOKEN_TTL");
}

#[tokio::test]
async fn env_overrides_latch_toml_when_both_set_a_value() {
    // Arrange
    let cli = Cli::sqlite();
    std::fs::write(
        cli.cwd.path().join("latch.toml"),
        "access_token_ttl = \"soon\"\n",
    )
    .expect("write");

    // Act
    let out = cli.run_with_env(&["migrate"], &[("LATCH_ACCESS_TOKEN_TTL", "60")]);

    // Assert
    assert!(out.status.success(), "{}", stderr(&out));
}

#[tokio::test]
async fn bind_flag_overrides_env_which_overrides_latch_toml_when_all_are_set() {
    // Arrange
    let cli = Cli::sqlite();
    std::fs::write(
        cli.cwd.path().join("latch.toml"),
        "bind = \"from-the-file\"\n",
    )
    .expect("write");

    // Act
    let env_wins = cli.run_with_env(&["migrate"], &[("LATCH_BIND", "from-the-env")]);
    let flag_wins = cli.run_with_env(
        &["migrate", "--bind", "127.0.0.1:9"],
        &[("LATCH_BIND", "from-the-env")],
    );

    // Assert
    assert_usage_error(&env_wins, "LATCH_BIND");
    assert!(
        stderr(&env_wins).contains("from-the-env"),
        "{}",
        stderr(&env_wins)
    );
    assert!(
        !stderr(&env_wins).contains("from-the-file"),
        "{}",
        stderr(&env_wins)
    );
    assert!(flag_wins.status.success(), "{}", stderr(&flag_wins));
}

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
