//! The parts the fault scenarios are made of: a private PostgreSQL cluster, a private Redis,
//! Latch in-process or as a real process, a mixed load, and what a client saw.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use latch::config::Settings;
use latch::startup::Application;

pub const ADMIN: &str = "faults-admin@example.com";
pub const PASSWORD: &str = "a long passphrase for faults";
pub const REDIRECT: &str = "http://127.0.0.1:9/cb";

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL

/// A PostgreSQL cluster of this test's own on a free port, stopped and deleted on drop.
pub struct PgCluster {
    bin: PathBuf,
    data: PathBuf,
    port: u16,
    owner: Option<&'static str>,
    _dir: tempfile::TempDir,
}

const PG_USER: &str = "latchfaults";

impl PgCluster {
    pub fn start() -> Self {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .ok()
            .and_then(|d| d.filter_map(Result::ok).map(|e| e.path().join("bin")).max())
            .filter(|b| b.join("initdb").exists())
            .expect("PostgreSQL server binaries under /usr/lib/postgresql/*/bin");
        let dir = tempfile::Builder::new()
            .prefix("latch-faults-pg")
            .tempdir()
            .expect("temp dir");
        let data = dir.path().join("data");
        // initdb refuses root: the cluster belongs to a system user made for it.
        let owner = is_root().then_some(PG_USER);
        if let Some(user) = owner {
            let exists = Command::new("id")
                .arg(user)
                .output()
                .is_ok_and(|o| o.status.success());
            if !exists {
                run(Command::new("useradd").args([
                    "--system",
                    "--no-create-home",
                    "--shell",
                    "/usr/sbin/nologin",
                    user,
                ]));
            }
            run(Command::new("chown").args(["-R", user]).arg(dir.path()));
        }
        let c = PgCluster {
            bin,
            data,
            port: free_port(),
            owner,
            _dir: dir,
        };
        run(&mut c.as_owner(
            "initdb",
            &[
                "-D",
                c.data.to_str().expect("utf-8 path"),
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
            ],
        ));
        c.restart();
        run(Command::new(c.bin.join("createdb")).args([
            "-h",
            "127.0.0.1",
            "-p",
            &c.port.to_string(),
            "-U",
            "postgres",
            "latch",
        ]));
        c
    }

    fn as_owner(&self, tool: &str, args: &[&str]) -> Command {
        let exe = self.bin.join(tool);
        match self.owner {
            Some(user) => {
                let mut cmd = Command::new("runuser");
                cmd.args(["-u", user, "--"]).arg(exe).args(args);
                cmd
            }
            None => {
                let mut cmd = Command::new(exe);
                cmd.args(args);
                cmd
            }
        }
    }

    pub fn url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }

    /// Start (again) on the same port and data.
    pub fn restart(&self) {
        let data = self.data.to_str().expect("utf-8 path");
        let log = self.data.parent().expect("dir").join("pg.log");
        let opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=100",
            self.port,
            self.data.parent().expect("dir").display()
        );
        run(&mut self.as_owner(
            "pg_ctl",
            &[
                "-D",
                data,
                "-o",
                &opts,
                "-l",
                log.to_str().expect("utf-8"),
                "-w",
                "start",
            ],
        ));
    }

    /// `pg_ctl stop -m immediate`: the server dies without a shutdown checkpoint, as a
    /// crash does.
    pub fn kill(&self) {
        let data = self.data.to_str().expect("utf-8 path");
        run(&mut self.as_owner("pg_ctl", &["-D", data, "-m", "immediate", "-w", "stop"]));
    }

    fn psql(&self, db: &str, sql: &str) -> Vec<String> {
        run(Command::new(self.bin.join("psql"))
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
                "-d",
                db,
            ])
            .args(["-At", "-v", "ON_ERROR_STOP=1", "-c", sql]))
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
    }

    /// Every line a query prints.
    pub fn psql_lines(&self, db: &str, sql: &str) -> Vec<String> {
        self.psql(db, sql)
    }

    /// The first line a query prints.
    pub fn psql_one(&self, db: &str, sql: &str) -> String {
        self.psql(db, sql).into_iter().next().unwrap_or_default()
    }

    /// `SELECT COUNT(*) FROM table`.
    pub fn count(&self, db: &str, table: &str) -> i64 {
        self.psql(db, &format!("SELECT COUNT(*) FROM {table}"))
            .first()
            .and_then(|n| n.parse().ok())
            .expect("a count")
    }

    /// The invariants of issue #16, F3: each violation as a line.
    pub fn invariant_violations(&self, db: &str) -> Vec<String> {
        let mut out = Vec::new();
        for (what, sql) in [
            (
                "consumed code without its tokens",
                "SELECT id FROM authorization_code WHERE consumed_at IS NOT NULL \
                 AND (access_token_jti IS NULL OR family_id IS NULL)",
            ),
            (
                "family with two live refresh tokens",
                "SELECT family_id FROM refresh_token WHERE rotated_at IS NULL \
                 AND revoked_at IS NULL GROUP BY family_id HAVING COUNT(*) > 1",
            ),
            (
                "live refresh token in a revoked family",
                "SELECT t.id FROM refresh_token t JOIN refresh_token root \
                 ON root.family_id = t.family_id AND root.parent_id IS NULL \
                 WHERE root.revoked_at IS NOT NULL AND t.rotated_at IS NULL \
                 AND t.revoked_at IS NULL",
            ),
        ] {
            for row in self.psql(db, sql) {
                out.push(format!("{what}: {row}"));
            }
        }
        out
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        if let Some(data) = self.data.to_str() {
            let _ = self
                .as_owner("pg_ctl", &["-D", data, "-m", "immediate", "stop"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Redis

/// A Redis of this test's own on a free port, keeping nothing on disk.
pub struct RedisServer {
    port: u16,
    child: Mutex<Child>,
}

impl RedisServer {
    pub fn start() -> Self {
        let port = free_port();
        let s = RedisServer {
            port,
            child: Mutex::new(Self::spawn(port)),
        };
        s.wait_up();
        s
    }

    fn spawn(port: u16) -> Child {
        Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server")
    }

    fn wait_up(&self) {
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "redis did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// SIGKILL.
    pub fn kill(&self) {
        let mut c = self.child.lock().expect("lock");
        let _ = c.kill();
        let _ = c.wait();
    }

    pub fn restart(&self) {
        *self.child.lock().expect("lock") = Self::spawn(self.port);
        self.wait_up();
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

// ---------------------------------------------------------------------------------------------
// Latch

/// What the load needs: an admin's secret key and a client_credentials client.
#[derive(Clone, Debug)]
pub struct Fixtures {
    pub admin_key: String,
    pub client_id: String,
    pub client_secret: String,
    /// A first-party confidential client with the code and refresh grants (no consent page).
    pub web_id: String,
    pub web_secret: String,
}

/// Latch in this process (`Application`), for faults of its dependencies.
pub struct InProcess {
    pub base: String,
    state: actix_web::web::Data<latch::state::AppState>,
    http: reqwest::Client,
}

impl InProcess {
    pub async fn start(url: &str, f: impl FnOnce(&mut Settings)) -> Self {
        Self::start_with_clock(url, latch::clock::Clock::system(), f).await
    }

    /// As [`InProcess::start`], on `clock` (a manual one lets the soak move time forward).
    pub async fn start_with_clock(
        url: &str,
        clock: latch::clock::Clock,
        f: impl FnOnce(&mut Settings),
    ) -> Self {
        let mut s = Settings::for_tests(url);
        s.rate_limit = false;
        f(&mut s);
        let app = Application::build_with_clock(&mut s, false, clock)
            .await
            .expect("app builds");
        let base = format!("http://127.0.0.1:{}", app.port());
        let state = app.state();
        tokio::spawn(app.run_until_stopped());
        InProcess {
            base,
            state,
            http: reqwest::Client::new(),
        }
    }

    pub fn state(&self) -> &latch::state::AppState {
        &self.state
    }

    pub async fn fixtures(&self) -> Fixtures {
        let db = &self.state.db;
        let admin = latch::users::create(db, ADMIN, PASSWORD, true)
            .await
            .expect("admin");
        let catalog = self.state.catalog.get();
        let (_, admin_key) = latch::api_keys::create(
            db,
            &catalog,
            latch::api_keys::NewKey {
                user_id: admin.id.clone(),
                livemode: true,
                name: "faults".into(),
                scopes: Vec::new(),
                policies: Default::default(),
            },
        )
        .await
        .expect("key");
        let client =
            |grants: &[&str], redirect: Vec<String>, first_party: bool| latch::clients::NewClient {
                name: "Faults".into(),
                redirect_uris: redirect,
                public: false,
                grant_types: grants.iter().map(|g| g.to_string()).collect(),
                scopes: vec!["read".into(), "write".into()],
                livemode: true,
                first_party,
                resource_server: false,
                owner_id: None,
                metadata: Default::default(),
                allowed_origins: None,
            };
        let (m, secret) = latch::clients::create(
            db,
            &catalog,
            &self.state.logos,
            client(&["client_credentials"], vec![], false),
        )
        .await
        .expect("client");
        let (w, web_secret) = latch::clients::create(
            db,
            &catalog,
            &self.state.logos,
            client(
                &["authorization_code", "refresh_token"],
                vec![REDIRECT.into()],
                true,
            ),
        )
        .await
        .expect("web client");
        Fixtures {
            admin_key,
            client_id: m.id,
            client_secret: secret.expect("secret"),
            web_id: w.id,
            web_secret: web_secret.expect("secret"),
        }
    }

    /// How long until a write (`POST /v1/api_keys`) succeeds again.
    pub async fn wait_until_writes_work(&self, fx: &Fixtures, max: Duration) -> Duration {
        let started = Instant::now();
        loop {
            let res = self
                .http
                .post(format!("{}/v1/api_keys", self.base))
                .bearer_auth(&fx.admin_key)
                .form(&[("name", "after")])
                .send()
                .await;
            if res.is_ok_and(|r| r.status() == 200) {
                return started.elapsed();
            }
            assert!(
                started.elapsed() < max,
                "writes did not recover within {max:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// How long until `/metrics` shows `name` at `value`.
    pub async fn wait_for_metric(&self, name: &str, value: f64, max: Duration) -> Duration {
        let started = Instant::now();
        loop {
            if let Ok(res) = self.http.get(format!("{}/metrics", self.base)).send().await
                && let Ok(body) = res.text().await
                && body.lines().any(|l| {
                    l.split_once(' ').is_some_and(|(k, v)| {
                        k == name && v.trim().parse::<f64>().is_ok_and(|x| x == value)
                    })
                })
            {
                return started.elapsed();
            }
            assert!(
                started.elapsed() < max,
                "{name} was not {value} within {max:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// The master key both processes of a scenario share (32 bytes, base64).
pub const SECRET_KEY: &str = "ZmF1bHRzLWZhdWx0cy1mYXVsdHMtZmF1bHRzLWZhdWw=";

/// Latch as a real process (`latch serve`), for signals.
pub struct Process {
    pub base: String,
    port: u16,
    db: String,
    data_dir: tempfile::TempDir,
    child: Option<Child>,
    /// Set after the defaults, so they win over them (and over the CLI's).
    env: Vec<(String, String)>,
}

impl Process {
    pub fn start(db: &str) -> Self {
        Self::start_with_env(db, &[])
    }

    /// As [`start`](Self::start), with `env` added to (or replacing) the defaults.
    pub fn start_with_env(db: &str, env: &[(&str, &str)]) -> Self {
        let mut p = Process {
            base: String::new(),
            port: free_port(),
            db: db.to_owned(),
            data_dir: tempfile::tempdir().expect("temp dir"),
            child: None,
            env: env
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        };
        p.base = format!("http://127.0.0.1:{}", p.port);
        p.restart();
        p
    }

    fn command(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_latch"));
        cmd.env("LATCH_BIND", format!("127.0.0.1:{}", self.port))
            .env("LATCH_DATABASE_URL", &self.db)
            .env("LATCH_SECRET_KEY", SECRET_KEY)
            .env("LATCH_DATA_DIR", self.data_dir.path())
            .env("LATCH_RATE_LIMIT", "off")
            .env("LATCH_WORKERS", "2")
            .env("LATCH_LOG", "error")
            .env_remove("LATCH_REDIS_URL");
        cmd.envs(self.env.iter().map(|(k, v)| (k, v)));
        cmd
    }

    /// Run a CLI command against the same database; its stdout.
    pub fn cli(&self, args: &[&str], stdin: Option<&str>) -> String {
        use std::io::Write;
        let mut cmd = self.command();
        cmd.args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("latch cli");
        if let Some(input) = stdin {
            child
                .stdin
                .take()
                .expect("stdin")
                .write_all(input.as_bytes())
                .expect("write");
        }
        let out = child.wait_with_output().expect("cli output");
        assert!(
            out.status.success(),
            "latch {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Start (again) on the same port and database; returns once `/readyz` answers 200.
    pub fn restart(&mut self) {
        let child = self
            .command()
            .arg("serve")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("latch serve");
        self.child = Some(child);
        let started = Instant::now();
        loop {
            let ok = std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok()
                && blocking_ready(&format!("{}/readyz", self.base));
            if ok {
                return;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "latch did not start"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// SIGKILL.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM, then wait for the exit; how long the stop took.
    pub fn terminate(&mut self) -> Duration {
        let Some(mut c) = self.child.take() else {
            return Duration::ZERO;
        };
        let started = Instant::now();
        run(Command::new("kill").args(["-TERM", &c.id().to_string()]));
        loop {
            if let Ok(Some(status)) = c.try_wait() {
                assert!(status.success(), "SIGTERM exit status {status}");
                return started.elapsed();
            }
            if started.elapsed() > Duration::from_secs(30) {
                let _ = c.kill();
                panic!("latch did not stop within 30 s of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A tiny blocking readiness probe: `restart` runs inside the runtime but must not need it.
fn blocking_ready(url: &str) -> bool {
    use std::io::{Read, Write};
    let Ok(u) = url::Url::parse(url) else {
        return false;
    };
    let Ok(mut s) =
        std::net::TcpStream::connect((u.host_str().unwrap_or("127.0.0.1"), u.port().unwrap_or(80)))
    else {
        return false;
    };
    let _ = s.set_read_timeout(Some(std::time::Duration::from_secs(2)));
    let req = format!(
        "GET {} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        u.path()
    );
    if s.write_all(req.as_bytes()).is_err() {
        return false;
    }
    let mut buf = String::new();
    let _ = s.read_to_string(&mut buf);
    buf.starts_with("HTTP/1.1 200")
}

/// The CLI-made fixtures of a process scenario.
pub async fn process_fixtures(p: &Process) -> Fixtures {
    let json = |s: String| -> serde_json::Value { serde_json::from_str(&s).expect("json") };
    p.cli(
        &[
            "user",
            "create",
            "--email",
            ADMIN,
            "--password-stdin",
            "--admin",
        ],
        Some(PASSWORD),
    );
    let key = json(p.cli(
        &["key", "create", "--user", ADMIN, "--mode", "live", "--json"],
        None,
    ));
    let m = json(p.cli(
        &[
            "client",
            "create",
            "--name",
            "Faults",
            "--grant-type",
            "client_credentials",
            "--scope",
            "read",
            "--json",
        ],
        None,
    ));
    let w = json(p.cli(
        &[
            "client",
            "create",
            "--name",
            "Faults web",
            "--redirect-uri",
            REDIRECT,
            "--first-party",
            "--scope",
            "read",
            "--json",
        ],
        None,
    ));
    let s = |v: &serde_json::Value, k: &str| v[k].as_str().expect(k).to_owned();
    Fixtures {
        admin_key: s(&key, "key"),
        client_id: s(&m, "client_id"),
        client_secret: s(&m, "client_secret"),
        web_id: s(&w, "client_id"),
        web_secret: s(&w, "client_secret"),
    }
}

/// `SELECT COUNT(*)` on a SQLite database URL.
pub fn sqlite_count(url: &str, sql: &str) -> i64 {
    let rt = tokio::runtime::Handle::current();
    let url = url.to_owned();
    let sql = sql.to_owned();
    std::thread::spawn(move || {
        rt.block_on(async move {
            use sea_orm::{ConnectionTrait, Database, Statement};
            let db = Database::connect(&url).await.expect("sqlite");
            let row = db
                .query_one_raw(Statement::from_string(db.get_database_backend(), sql))
                .await
                .expect("query")
                .expect("row");
            row.try_get_by_index::<i64>(0).expect("count")
        })
    })
    .join()
    .expect("thread")
}

// ---------------------------------------------------------------------------------------------
// What clients saw

/// One answer: status (0: no answer at all), whether a 503 carried `Retry-After`, whether the
/// body named the database driver, and how long it took.
#[derive(Clone, Debug)]
pub struct Answer {
    pub status: u16,
    pub retry_after: bool,
    pub leaks: bool,
    pub elapsed: Duration,
    pub what: &'static str,
}

impl Answer {
    pub async fn of(res: reqwest::Result<reqwest::Response>, elapsed: Duration) -> Self {
        Self::named(res, elapsed, "request").await
    }

    pub async fn named(
        res: reqwest::Result<reqwest::Response>,
        elapsed: Duration,
        what: &'static str,
    ) -> Self {
        match res {
            Err(_) => Answer {
                status: 0,
                retry_after: false,
                leaks: false,
                elapsed,
                what,
            },
            Ok(r) => {
                let status = r.status().as_u16();
                let retry_after = r.headers().contains_key("retry-after");
                let body = r.text().await.unwrap_or_default().to_ascii_lowercase();
                // Only error bodies are searched: a 200's tokens are random base64, and a
                // lowercased JWT of ~700 characters holds "sqlx" often enough (about one
                // token response in 1,400) to fail a run of thousands for no reason.
                let leaks = status >= 400
                    && [
                        "sqlx",
                        "sqlstate",
                        "postgres",
                        "sea_orm",
                        "database error",
                        "pool timed out",
                    ]
                    .iter()
                    .any(|w| body.contains(w));
                Answer {
                    status,
                    retry_after,
                    leaks,
                    elapsed,
                    what,
                }
            }
        }
    }
}

#[derive(Default, Debug)]
pub struct Answers(pub Vec<Answer>);

impl Answers {
    pub fn push(&mut self, a: Answer) {
        self.0.push(a);
    }
    pub fn total(&self) -> usize {
        self.0.len()
    }
    pub fn count(&self, status: u16) -> usize {
        self.0.iter().filter(|a| a.status == status).count()
    }
    pub fn slowest(&self) -> Duration {
        self.0.iter().map(|a| a.elapsed).max().unwrap_or_default()
    }
    /// No 5xx but 503, every 503 with `Retry-After`, no driver text, every request answered.
    pub fn assert_no_failures(&self, when: &str) {
        for a in &self.0 {
            assert!(a.status != 0, "{when}: {} got no answer", a.what);
            assert!(
                a.status < 500 || (a.status == 503 && a.retry_after),
                "{when}: {} answered {} (Retry-After: {})",
                a.what,
                a.status,
                a.retry_after
            );
            assert!(!a.leaks, "{when}: {} named the database driver", a.what);
        }
    }
    pub fn assert_bounded(&self, bound: Duration) {
        let slowest = self.slowest();
        assert!(slowest <= bound, "slowest answer {slowest:?} > {bound:?}");
    }
}

/// A mixed load in `n` tasks: client_credentials tokens, `/v1/users/me` and key creation
/// (a write), round robin.
pub struct Load {
    stop: Arc<AtomicBool>,
    answers: Arc<Mutex<Answers>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Load {
    pub fn start(base: String, fx: Fixtures, n: usize) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let answers = Arc::new(Mutex::new(Answers::default()));
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(20))
            .build()
            .expect("client");
        let tasks = (0..n)
            .map(|i| {
                let (stop, answers, http, base, fx) = (
                    stop.clone(),
                    answers.clone(),
                    http.clone(),
                    base.clone(),
                    fx.clone(),
                );
                tokio::spawn(async move {
                    let mut k = i;
                    while !stop.load(Ordering::Relaxed) {
                        k += 1;
                        let started = Instant::now();
                        let (res, what) = match k % 3 {
                            0 => (
                                http.post(format!("{base}/oauth/token"))
                                    .basic_auth(&fx.client_id, Some(&fx.client_secret))
                                    .form(&[("grant_type", "client_credentials")])
                                    .send()
                                    .await,
                                "token",
                            ),
                            1 => (
                                http.get(format!("{base}/v1/users/me"))
                                    .bearer_auth(&fx.admin_key)
                                    .send()
                                    .await,
                                "/v1/users/me",
                            ),
                            _ => (
                                http.post(format!("{base}/v1/api_keys"))
                                    .bearer_auth(&fx.admin_key)
                                    .form(&[("name", "load")])
                                    .send()
                                    .await,
                                "POST /v1/api_keys",
                            ),
                        };
                        let a = Answer::named(res, started.elapsed(), what).await;
                        answers.lock().expect("lock").push(a);
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                })
            })
            .collect();
        Load {
            stop,
            answers,
            tasks,
        }
    }

    /// The answers so far (and a fresh record from now on).
    pub fn take(&self) -> Answers {
        std::mem::take(&mut *self.answers.lock().expect("lock"))
    }

    pub async fn stop(mut self) -> Answers {
        self.stop.store(true, Ordering::Relaxed);
        for t in std::mem::take(&mut self.tasks) {
            let _ = t.await;
        }
        self.take()
    }
}

// ---------------------------------------------------------------------------------------------
// Refresh-token families under load (F3)

#[derive(Debug, Default)]
pub struct FamiliesReport {
    pub families: u64,
    pub rotations: u64,
    pub server_errors: u64,
    pub no_answer: u64,
}

/// `n` tasks, each getting a refresh token through the code flow and rotating it in a loop;
/// a lost answer (the process died mid-request) makes the client replay, which revokes the
/// family (RFC 9700 §4.14.2): the task then starts a new family.
pub struct Families {
    stop: Arc<AtomicBool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    families: Arc<AtomicU64>,
    rotations: Arc<AtomicU64>,
    server_errors: Arc<AtomicU64>,
    no_answer: Arc<AtomicU64>,
}

impl Families {
    pub async fn start(base: String, fx: Fixtures, n: usize) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let [families, rotations, server_errors, no_answer] =
            std::array::from_fn(|_| Arc::new(AtomicU64::new(0)));
        let tasks = (0..n)
            .map(|_| {
                let (stop, base, fx) = (stop.clone(), base.clone(), fx.clone());
                let (families, rotations, server_errors, no_answer) = (
                    families.clone(),
                    rotations.clone(),
                    server_errors.clone(),
                    no_answer.clone(),
                );
                tokio::spawn(async move {
                    let http = reqwest::Client::builder()
                        .timeout(Duration::from_secs(20))
                        .build()
                        .expect("client");
                    while !stop.load(Ordering::Relaxed) {
                        let Some(mut rt) = new_family(&base, &fx).await else {
                            tokio::time::sleep(Duration::from_millis(100)).await;
                            continue;
                        };
                        families.fetch_add(1, Ordering::Relaxed);
                        while !stop.load(Ordering::Relaxed) {
                            let res = http
                                .post(format!("{base}/oauth/token"))
                                .basic_auth(&fx.web_id, Some(&fx.web_secret))
                                .form(&[("grant_type", "refresh_token"), ("refresh_token", &rt)])
                                .send()
                                .await;
                            match res {
                                Err(_) => {
                                    no_answer.fetch_add(1, Ordering::Relaxed);
                                    tokio::time::sleep(Duration::from_millis(100)).await;
                                    // Retry the same token: the server may have rotated it.
                                }
                                Ok(r) if r.status() == 200 => {
                                    let v: serde_json::Value = r.json().await.unwrap_or_default();
                                    match v["refresh_token"].as_str() {
                                        Some(next) => {
                                            rt = next.to_owned();
                                            rotations.fetch_add(1, Ordering::Relaxed);
                                        }
                                        None => break,
                                    }
                                }
                                Ok(r) if r.status().as_u16() >= 500 && r.status() != 503 => {
                                    server_errors.fetch_add(1, Ordering::Relaxed);
                                    break;
                                }
                                Ok(r) if r.status() == 503 => {
                                    tokio::time::sleep(Duration::from_millis(100)).await;
                                }
                                // invalid_grant: a replay revoked the family; start another.
                                Ok(_) => break,
                            }
                        }
                    }
                })
            })
            .collect();
        Families {
            stop,
            tasks,
            families,
            rotations,
            server_errors,
            no_answer,
        }
    }

    pub async fn stop(self) -> FamiliesReport {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.tasks {
            let _ = t.await;
        }
        FamiliesReport {
            families: self.families.load(Ordering::Relaxed),
            rotations: self.rotations.load(Ordering::Relaxed),
            server_errors: self.server_errors.load(Ordering::Relaxed),
            no_answer: self.no_answer.load(Ordering::Relaxed),
        }
    }
}

/// Sign in, authorize (first-party: no consent page), redeem the code with PKCE; the
/// refresh token, or `None` when the server was not answering.
async fn new_family(base: &str, fx: &Fixtures) -> Option<String> {
    let browser = browser();
    let (code, verifier) = authorize(&browser, base, fx).await?;
    let res = redeem_code(&browser, base, fx, &code, &verifier)
        .await
        .ok()?;
    let v: serde_json::Value = res.json().await.ok()?;
    v["refresh_token"].as_str().map(str::to_owned)
}

/// A browser: cookies kept (the session), redirects not followed.
pub fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(20))
        .build()
        .expect("client")
}

/// A code for the first-party web client and its PKCE verifier: `/oauth/authorize`, signing
/// in first when the browser has no session yet (later calls reuse it: no password hash).
pub async fn authorize(
    browser: &reqwest::Client,
    base: &str,
    fx: &Fixtures,
) -> Option<(String, String)> {
    use base64::Engine;
    use sha2::Digest;
    let verifier = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(sha2::Sha256::digest(verifier.as_bytes()));
    let authorize = format!(
        "{base}/oauth/authorize?response_type=code&client_id={}&redirect_uri={}&scope=read&state=s&code_challenge={challenge}&code_challenge_method=S256",
        fx.web_id,
        url::form_urlencoded::byte_serialize(REDIRECT.as_bytes()).collect::<String>()
    );
    let res = browser.get(&authorize).send().await.ok()?;
    let mut to_client = res.headers().get("location")?.to_str().ok()?.to_owned();
    if to_client.starts_with('/') {
        // Not signed in: the login page, then back to /oauth/authorize.
        let login_path = to_client;
        let page = browser
            .get(format!("{base}{login_path}"))
            .send()
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        let csrf = page
            .split("name=\"csrf\" value=\"")
            .nth(1)?
            .split('"')
            .next()?
            .to_owned();
        let next: String = url::Url::parse(&format!("{base}{login_path}"))
            .ok()?
            .query_pairs()
            .find(|(k, _)| k == "next")?
            .1
            .into_owned();
        let res = browser
            .post(format!("{base}/login"))
            .form(&[
                ("email", ADMIN),
                ("password", PASSWORD),
                ("csrf", &csrf),
                ("next", &next),
            ])
            .send()
            .await
            .ok()?;
        let back = res.headers().get("location")?.to_str().ok()?.to_owned();
        let res = browser.get(format!("{base}{back}")).send().await.ok()?;
        to_client = res.headers().get("location")?.to_str().ok()?.to_owned();
    }
    let code = url::Url::parse(&to_client)
        .ok()?
        .query_pairs()
        .find(|(k, _)| k == "code")?
        .1
        .into_owned();
    Some((code, verifier))
}

/// `POST /oauth/token` with the code, the registered redirect URI and the verifier.
pub async fn redeem_code(
    http: &reqwest::Client,
    base: &str,
    fx: &Fixtures,
    code: &str,
    verifier: &str,
) -> reqwest::Result<reqwest::Response> {
    http.post(format!("{base}/oauth/token"))
        .basic_auth(&fx.web_id, Some(&fx.web_secret))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", verifier),
        ])
        .send()
        .await
}

/// `POST /oauth/token` with `grant_type=refresh_token`.
pub async fn refresh(
    http: &reqwest::Client,
    base: &str,
    fx: &Fixtures,
    rt: &str,
) -> reqwest::Result<reqwest::Response> {
    http.post(format!("{base}/oauth/token"))
        .basic_auth(&fx.web_id, Some(&fx.web_secret))
        .form(&[("grant_type", "refresh_token"), ("refresh_token", rt)])
        .send()
        .await
}
