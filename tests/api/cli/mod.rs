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

mod apis;
mod client_type;
mod config;
mod create;
mod exchange;
mod operator;
mod reset_link;
mod secrets;
mod serve;

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
