//! The `latch` command line. Every command reads the same configuration; `--json` prints
//! one JSON object on stdout. Exit codes: 0 ok, 1 runtime failure, 2 bad input or config.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};
use serde_json::json;

mod operator;

use crate::config::{Overrides, Settings, SigningAlg};
use crate::startup::{Application, StartupError, connect_and_migrate};

#[derive(Parser, Debug)]
#[command(
    name = "latch",
    version,
    about = "Latch: an OAuth 2.0 authorization server with API keys"
)]
pub struct Cli {
    /// Configuration file (default: ./latch.toml if present).
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<std::path::PathBuf>,
    /// Database URL (overrides LATCH_DATABASE_URL).
    #[arg(long, global = true, value_name = "URL")]
    database_url: Option<String>,
    /// Address to listen on (overrides LATCH_BIND).
    #[arg(long, global = true, value_name = "HOST:PORT")]
    bind: Option<String>,
    /// Issuer URL (overrides LATCH_ISSUER).
    #[arg(long, global = true, value_name = "URL")]
    issuer: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the server (migrations first, unless LATCH_MIGRATE=false).
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Master-key helpers.
    Secret {
        #[command(subcommand)]
        command: SecretCommand,
    },
    /// Manage users.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Manage OAuth clients.
    Client {
        #[command(subcommand)]
        command: ClientCommand,
    },
    /// Manage API keys.
    Key {
        #[command(subcommand)]
        command: KeyCommand,
    },
    /// Manage JWS signing keys.
    SigningKey {
        #[command(subcommand)]
        command: SigningKeyCommand,
    },
    /// Manage your own APIs (resource servers) and their scopes.
    Api {
        #[command(subcommand)]
        command: ApiCommand,
    },
}

#[derive(Subcommand, Debug)]
enum ApiCommand {
    /// Register an API: its identifier becomes the tokens' `aud` and the RFC 8707 `resource`.
    Create {
        /// An absolute https:// URI (http:// on loopback), compared exactly.
        #[arg(long, value_name = "URI")]
        identifier: String,
        #[arg(long)]
        name: String,
        /// A scope and what the consent page says of it (repeatable).
        #[arg(long = "scope", value_name = "NAME=DESCRIPTION")]
        scopes: Vec<String>,
        /// Access-token lifetime in seconds for this API (default: LATCH_ACCESS_TOKEN_TTL).
        #[arg(long, value_name = "SECONDS")]
        token_ttl: Option<i64>,
        #[arg(long)]
        json: bool,
    },
    /// List the APIs, the built-in Latch API first.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Add or remove a scope.
    Scope {
        #[command(subcommand)]
        command: ApiScopeCommand,
    },
    /// Rename an API, change its token lifetime or its scopes' descriptions.
    Update {
        /// The API's id (api_…) or identifier.
        api: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long, value_name = "SECONDS", conflicts_with = "default_token_ttl")]
        token_ttl: Option<i64>,
        /// Use LATCH_ACCESS_TOKEN_TTL again.
        #[arg(long)]
        default_token_ttl: bool,
        /// A new description for one of its scopes (repeatable).
        #[arg(long = "describe", value_name = "NAME=DESCRIPTION")]
        describe: Vec<String>,
        #[arg(long)]
        json: bool,
    },
    /// Delete an API (refused while a client or key holds one of its scopes).
    Delete {
        /// The API's id (api_…) or identifier.
        api: String,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand, Debug)]
enum ApiScopeCommand {
    /// Add a scope to an API.
    Add {
        /// The API's id (api_…) or identifier.
        #[arg(long, value_name = "ID|IDENTIFIER")]
        api: String,
        #[arg(value_name = "NAME=DESCRIPTION")]
        scope: String,
        #[arg(long)]
        json: bool,
    },
    /// Remove a scope (refused while a client or key holds it).
    Remove {
        name: String,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand, Debug)]
enum SecretCommand {
    /// Print a fresh random master key for LATCH_SECRET_KEY.
    Generate,
}

#[derive(Subcommand, Debug)]
enum UserCommand {
    /// Create a user. The password is read from stdin with --password-stdin, or generated and printed once.
    /// The first user of an empty server is an admin unless --no-admin.
    Create {
        #[arg(long)]
        email: String,
        #[arg(long)]
        password_stdin: bool,
        #[arg(long, conflicts_with = "no_admin")]
        admin: bool,
        /// Do not make the first user of an empty server an admin.
        #[arg(long)]
        no_admin: bool,
        /// The operator vouches for the address: mark it verified (`email_verified` true).
        #[arg(long)]
        email_verified: bool,
        #[arg(long)]
        json: bool,
    },
    /// Print a single-use password-reset link for a user (30 minutes; works without mail).
    ResetLink {
        #[arg(long)]
        email: String,
        #[arg(long)]
        json: bool,
    },
    /// List users, newest first.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Make a user an admin.
    Promote {
        #[arg(value_name = "EMAIL")]
        email: String,
        #[arg(long)]
        json: bool,
    },
    /// Withdraw a user's admin rights.
    Demote {
        #[arg(value_name = "EMAIL")]
        email: String,
        #[arg(long)]
        json: bool,
    },
    /// Set a user's password (read from stdin with --password-stdin, or generated and printed
    /// once); their sessions and app grants end.
    SetPassword {
        #[arg(value_name = "EMAIL")]
        email: String,
        #[arg(long)]
        password_stdin: bool,
        #[arg(long)]
        json: bool,
    },
    /// Disable an account: its sessions, grants, keys and apps stop working.
    Disable {
        #[arg(value_name = "EMAIL")]
        email: String,
        #[arg(long)]
        json: bool,
    },
    /// Enable a disabled account again.
    Enable {
        #[arg(value_name = "EMAIL")]
        email: String,
        #[arg(long)]
        json: bool,
    },
    /// Delete an account and everything it owns (keys, apps, grants, sessions); its audit
    /// events stay without its email. The last admin cannot be deleted.
    Delete {
        #[arg(long)]
        email: String,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand, Debug)]
enum ClientCommand {
    /// Register an OAuth client; a confidential client's secret is printed once.
    Create(ClientCreate),
    /// List clients, newest first (all of them, or one owner's, or the operator's).
    List {
        /// Only the clients of this user.
        #[arg(long, value_name = "EMAIL", conflicts_with = "operator")]
        owner: Option<String>,
        /// Only the operator's clients (made here without --owner).
        #[arg(long)]
        operator: bool,
        #[arg(long)]
        json: bool,
    },
    /// Show one client.
    Show {
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Give a confidential client a new secret (printed once); the old one stops working.
    RotateSecret {
        id: String,
        /// How long the current secret keeps working: now (default), 1h, 24h, 7d, or seconds
        /// (at most 604800).
        #[arg(long, default_value = "now", value_name = "WHEN")]
        expire_old_in: String,
        #[arg(long)]
        json: bool,
    },
    /// Change a client's name, redirect URIs, scopes or consent-screen metadata (an empty
    /// --logo-uri "" and the like clears one).
    Update {
        id: String,
        #[arg(long)]
        name: Option<String>,
        /// Grant type (repeatable; replaces the list, with the rules of `client create`).
        #[arg(long = "grant-type", value_name = "GRANT")]
        grant_types: Vec<String>,
        /// Exact redirect URI (repeatable; replaces the list).
        #[arg(long = "redirect-uri", value_name = "URI")]
        redirect_uris: Vec<String>,
        /// Allowed scope (repeatable; replaces the list).
        #[arg(long = "scope", value_name = "SCOPE")]
        scopes: Vec<String>,
        #[command(flatten)]
        metadata: ClientMetadataArgs,
        #[command(flatten)]
        logout: ClientLogoutArgs,
        /// An API identifier this client may exchange tokens into (RFC 8693; repeatable;
        /// replaces the list; --exchange-audience "" clears it).
        #[arg(long = "exchange-audience", value_name = "ID")]
        exchange_audiences: Vec<String>,
        /// Require (true) or stop requiring (false) pushed authorization requests.
        #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
        require_par: Option<bool>,
        /// A private_key_jwt client's new JWK Set file (replaces its keys).
        #[arg(long, value_name = "FILE", conflicts_with = "jwks_uri")]
        jwks: Option<std::path::PathBuf>,
        /// A private_key_jwt client's new JWK Set URL.
        #[arg(long, value_name = "URL")]
        jwks_uri: Option<String>,
        /// Make the client public: its secret is erased, auth method none, and what it was
        /// issued is revoked (refused while it has client_credentials or token exchange).
        /// On its own, without other changes.
        #[arg(long, conflicts_with = "confidential")]
        public: bool,
        /// Make a public client confidential: a new client secret, printed once.
        /// On its own, without other changes.
        #[arg(long)]
        confidential: bool,
        #[arg(long)]
        json: bool,
    },
    /// Vouch for an app a user registered: the consent screen stops calling it unverified.
    Verify {
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Withdraw that: the consent screen calls the app unverified again.
    Unverify {
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Delete a client with its grants; its tokens stop working.
    Delete {
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Pause a client: it cannot authenticate or authorize, its tokens are refused.
    Disable {
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Resume a disabled client.
    Enable {
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Make an initial access token for `POST /oauth/register` (RFC 7591 §3): single use,
    /// printed once, stored only as its digest.
    RegistrationToken {
        /// Lifetime: seconds, or a number with m, h or d (60 s to 30 d).
        #[arg(long, value_name = "DURATION", default_value = "24h")]
        expires_in: String,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Args, Debug)]
struct ClientCreate {
    #[arg(long)]
    name: String,
    /// Exact redirect URI (repeatable).
    #[arg(long = "redirect-uri", value_name = "URI")]
    redirect_uris: Vec<String>,
    /// A public client (no secret; PKCE required).
    #[arg(long)]
    public: bool,
    /// Grant type (repeatable): authorization_code, refresh_token, client_credentials.
    #[arg(long = "grant-type", value_name = "GRANT")]
    grant_types: Vec<String>,
    /// Allowed scope (repeatable).
    #[arg(long = "scope", value_name = "SCOPE")]
    scopes: Vec<String>,
    /// A test-mode client (tokens say livemode: false).
    #[arg(long)]
    test: bool,
    /// A first-party client: users are not asked for consent.
    #[arg(long)]
    first_party: bool,
    /// A resource server: may introspect any token and API key.
    #[arg(long)]
    resource_server: bool,
    /// Every token request must carry a DPoP proof (RFC 9449 §5.2
    /// `dpop_bound_access_tokens`).
    #[arg(long)]
    dpop_bound: bool,
    /// Every DPoP proof of this client must carry a server nonce (RFC 9449 §8, §9).
    #[arg(long)]
    dpop_require_nonce: bool,
    /// Email of the user who owns the client.
    #[arg(long)]
    owner: Option<String>,
    /// The app's logo (https; PNG, JPEG, GIF or WebP, at most 256 KiB): Latch fetches it now
    /// and serves it on the consent screen.
    #[arg(long, value_name = "URI")]
    logo_uri: Option<String>,
    /// The app's home page; the consent screen shows its domain.
    #[arg(long, value_name = "URI")]
    client_uri: Option<String>,
    /// The app's privacy policy, linked from the consent screen.
    #[arg(long, value_name = "URI")]
    policy_uri: Option<String>,
    /// The app's terms of service, linked from the consent screen.
    #[arg(long, value_name = "URI")]
    tos_uri: Option<String>,
    /// An API identifier this client may exchange tokens into (RFC 8693; repeatable; needs
    /// --grant-type urn:ietf:params:oauth:grant-type:token-exchange).
    #[arg(long = "exchange-audience", value_name = "ID")]
    exchange_audiences: Vec<String>,
    /// Its authorization requests must be pushed to /oauth/par first (RFC 9126).
    #[arg(long)]
    require_par: bool,
    /// How it authenticates: client_secret_basic (default), client_secret_post,
    /// private_key_jwt (with --jwks or --jwks-uri), none (public clients).
    #[arg(long, value_name = "METHOD")]
    auth_method: Option<String>,
    /// For private_key_jwt: a file holding its JWK Set (public keys).
    #[arg(long, value_name = "FILE", conflicts_with = "jwks_uri")]
    jwks: Option<std::path::PathBuf>,
    /// For private_key_jwt: where it publishes its JWK Set.
    #[arg(long, value_name = "URL")]
    jwks_uri: Option<String>,
    /// A browser origin (scheme://host[:port]) that may call the token, revocation,
    /// userinfo and device endpoints (CORS; repeatable, replaces the list; "" for none).
    /// Default: a public client's redirect URI origins, none for a confidential one.
    #[arg(long = "allowed-origin", value_name = "ORIGIN")]
    allowed_origins: Vec<String>,
    #[command(flatten)]
    logout: ClientLogoutArgs,
    #[arg(long)]
    json: bool,
}

/// Logout registration (OIDC RP-Initiated Logout §3.1, Back-Channel Logout §2.2), for
/// `client create` and `client update`.
#[derive(Args, Debug)]
struct ClientLogoutArgs {
    /// Where the app may send people after sign-out at /oauth/logout (exact match, the
    /// redirect URI rules; several values or repeatable; replaces the list; "" clears it).
    #[arg(long = "post-logout-redirect-uri", value_name = "URI", num_args = 1..)]
    post_logout_redirect_uris: Vec<String>,
    /// Where Latch POSTs a logout_token when a browser session the app had ends (https,
    /// http only on loopback, no fragment; "" clears it).
    #[arg(long, value_name = "URI")]
    backchannel_logout_uri: Option<String>,
    /// The app needs `sid` in logout tokens (Latch always sends it; recorded as metadata).
    #[arg(long, value_name = "BOOL")]
    backchannel_logout_session_required: Option<bool>,
}

impl ClientLogoutArgs {
    fn change(self) -> crate::clients::logout::LogoutChange {
        crate::clients::logout::LogoutChange {
            post_logout_redirect_uris: (!self.post_logout_redirect_uris.is_empty())
                .then_some(self.post_logout_redirect_uris),
            backchannel_logout_uri: self.backchannel_logout_uri,
            backchannel_logout_session_required: self.backchannel_logout_session_required,
        }
    }
}

/// The consent-screen metadata `client update` may change; an empty value clears one.
#[derive(Args, Debug)]
struct ClientMetadataArgs {
    /// The app's logo (https; PNG, JPEG, GIF or WebP, at most 256 KiB): Latch fetches it now
    /// and serves it on the consent screen.
    #[arg(long, value_name = "URI")]
    logo_uri: Option<String>,
    /// The app's home page; the consent screen shows its domain.
    #[arg(long, value_name = "URI")]
    client_uri: Option<String>,
    /// The app's privacy policy, linked from the consent screen.
    #[arg(long, value_name = "URI")]
    policy_uri: Option<String>,
    /// The app's terms of service, linked from the consent screen.
    #[arg(long, value_name = "URI")]
    tos_uri: Option<String>,
    /// A browser origin (scheme://host[:port]) that may call the token, revocation,
    /// userinfo and device endpoints (CORS; repeatable, replaces the list; "" for none).
    /// Default: a public client's redirect URI origins, none for a confidential one.
    #[arg(long = "allowed-origin", value_name = "ORIGIN")]
    allowed_origins: Vec<String>,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Mode {
    Test,
    Live,
}

#[derive(Subcommand, Debug)]
enum KeyCommand {
    /// Create an API key for a user; the key is printed once.
    Create {
        #[arg(long, value_name = "EMAIL")]
        user: String,
        #[arg(long, value_enum)]
        mode: Mode,
        #[arg(long)]
        name: Option<String>,
        /// Scope (repeatable): any registered API scope, or resource:read / resource:write.
        /// Without it: a secret key (sk_…) with every scope of every API, now and later;
        /// with it: a restricted key (rk_…) with exactly those.
        #[arg(long = "scope", value_name = "SCOPE")]
        scopes: Vec<String>,
        /// This key's own limit in requests per second (default: the mode's limit).
        #[arg(long, value_name = "PER_SECOND", value_parser = clap::value_parser!(i32).range(1..=100_000))]
        rate_limit: Option<i32>,
        #[command(flatten)]
        policies: KeyPolicyArgs,
        #[arg(long)]
        json: bool,
    },
    /// Change a key's name or policies (an empty value removes a policy).
    Update {
        /// The key's id (key_…).
        id: String,
        #[arg(long)]
        name: Option<String>,
        #[command(flatten)]
        policies: KeyPolicyArgs,
        #[arg(long)]
        json: bool,
    },
    /// List a user's keys (never their secrets).
    List {
        #[arg(long, value_name = "EMAIL")]
        user: String,
        #[arg(long, value_enum)]
        mode: Option<Mode>,
        /// Include revoked keys.
        #[arg(long)]
        all: bool,
        #[arg(long)]
        json: bool,
    },
    /// Replace a key with a new one; the old one keeps working until --expires-in passes.
    Roll {
        /// The key's id (key_…).
        id: String,
        /// When the old key stops: now, 1h, 24h, 7d, or seconds (≤ 604800).
        #[arg(long, default_value = "now")]
        expires_in: String,
        #[arg(long)]
        json: bool,
    },
    /// Revoke a key at once.
    Revoke {
        id: String,
        #[arg(long)]
        json: bool,
    },
}

/// Key policies, named as the `/v1/api_keys` parameters.
#[derive(clap::Args, Debug, Default)]
struct KeyPolicyArgs {
    /// When the key stops working (Unix seconds, in the future; empty: never).
    #[arg(long, value_name = "UNIX_SECONDS")]
    expires_at: Option<String>,
    /// Uses left (empty: uncapped).
    #[arg(long, value_name = "USES")]
    remaining: Option<String>,
    /// At each --refill-interval boundary, `remaining` is set back to this (empty: none).
    #[arg(long, value_name = "USES")]
    refill_amount: Option<String>,
    /// day or month (UTC boundaries).
    #[arg(long, value_name = "INTERVAL")]
    refill_interval: Option<String>,
    /// An address or CIDR the key may be used from (repeatable; v4 or v6). `--allowed-ip ""`
    /// removes the allowlist.
    #[arg(long = "allowed-ip", value_name = "CIDR")]
    allowed_ips: Vec<String>,
    /// A metadata pair KEY=VALUE (repeatable; an empty VALUE removes KEY).
    #[arg(long = "metadata", value_name = "KEY=VALUE")]
    metadata: Vec<String>,
}

impl KeyPolicyArgs {
    fn parse(&self) -> Result<crate::api_keys::Policies, Failure> {
        let one = |n: &'static str| match n {
            "expires_at" => self.expires_at.clone(),
            "remaining" => self.remaining.clone(),
            "refill[amount]" => self.refill_amount.clone(),
            "refill[interval]" => self.refill_interval.clone(),
            _ => None,
        };
        let metadata = self
            .metadata
            .iter()
            .map(|kv| {
                kv.split_once('=')
                    .map(|(k, v)| (k.to_owned(), v.to_owned()))
                    .ok_or_else(|| Failure(2, format!("--metadata {kv:?}: use KEY=VALUE")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        crate::api_keys::Policies::parse(
            one,
            (!self.allowed_ips.is_empty()).then(|| self.allowed_ips.clone()),
            (!metadata.is_empty()).then_some(metadata),
            crate::clock::Clock::system().now(),
        )
        .map_err(|e| Failure(2, e.to_string()))
    }
}

#[derive(Subcommand, Debug)]
enum SigningKeyCommand {
    /// Publish a new signing key; it starts signing after LATCH_KEY_PREPUBLISH.
    Rotate {
        /// Algorithm of the new key (default: LATCH_SIGNING_ALG).
        #[arg(long)]
        alg: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// List signing keys and their state.
    List {
        #[arg(long)]
        json: bool,
    },
}

/// A failure with the exit code it deserves.
struct Failure(u8, String);

impl From<StartupError> for Failure {
    fn from(e: StartupError) -> Self {
        let code = if matches!(e, StartupError::Config(_)) {
            2
        } else {
            1
        };
        Failure(code, e.to_string())
    }
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let overrides = Overrides {
        config_file: cli.config.clone(),
        bind: cli.bind.clone(),
        database_url: cli.database_url.clone(),
        issuer: cli.issuer.clone(),
    };
    if let Command::Secret {
        command: SecretCommand::Generate,
    } = cli.command
    {
        println!("{}", crate::config::SecretKey::generate().to_base64());
        return ExitCode::SUCCESS;
    }
    let settings = match Settings::load(&overrides) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("latch: {e}");
            return ExitCode::from(2);
        }
    };
    let default_filter = if matches!(cli.command, Command::Serve) {
        "info,sqlx=warn,sea_orm=warn"
    } else {
        "warn"
    };
    crate::telemetry::init(settings.log_format, default_filter);
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("latch: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(cli.command, settings)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure(code, msg)) => {
            eprintln!("latch: {msg}");
            ExitCode::from(code)
        }
    }
}

/// The permission catalog as stored now (the CLI validates scopes against it).
async fn load_catalog(
    db: &crate::store::Db,
    settings: &Settings,
) -> Result<std::sync::Arc<crate::catalog::Snapshot>, Failure> {
    crate::catalog::Catalog::new(&settings.audience)
        .reload(db)
        .await
        .map_err(|e| Failure(1, e.to_string()))
}

async fn run(command: Command, mut settings: Settings) -> Result<(), Failure> {
    match command {
        Command::Serve => {
            let app = Application::build_with(&mut settings, true).await?;
            println!(
                "Latch is listening on {} (issuer {})",
                settings.bind,
                app.issuer()
            );
            app.run_until_stopped()
                .await
                .map_err(|e| Failure(1, e.to_string()))?;
            tracing::info!("stopped");
            Ok(())
        }
        Command::Migrate => {
            connect_and_migrate(&settings, true).await?;
            println!("migrations applied");
            Ok(())
        }
        Command::Secret { .. } => Ok(()),
        Command::User {
            command:
                UserCommand::Create {
                    email,
                    password_stdin,
                    admin,
                    no_admin,
                    email_verified,
                    json,
                },
        } => {
            let db = connect_and_migrate(&settings, settings.migrate).await?;
            let (password, generated) = operator::read_password(password_stdin)?;
            // The first account of an empty server administers it (#15), unless told not to.
            let admin = admin
                || (!no_admin
                    && crate::store::users::count(&db)
                        .await
                        .map_err(|e| Failure(1, e.to_string()))?
                        == 0);
            let user = crate::users::create_with(&db, &email, &password, admin, email_verified)
                .await
                .map_err(user_failure)?;
            if json {
                let mut v = json!({"id": user.id, "email": user.email, "admin": user.is_admin, "email_verified": user.email_verified_at.is_some()});
                if generated {
                    v["password"] = json!(password);
                }
                println!("{v}");
            } else {
                println!(
                    "Created user {} ({}){}",
                    user.email,
                    user.id,
                    if user.is_admin { ", admin" } else { "" }
                );
                if generated {
                    println!("Password (shown once): {password}");
                }
            }
            Ok(())
        }
        Command::User { command } => operator::user(command, &settings).await,
        Command::Client {
            command: ClientCommand::Create(c),
        } => {
            let db = connect_and_migrate(&settings, settings.migrate).await?;
            let owner_id = match &c.owner {
                Some(email) => Some(
                    crate::store::users::by_email(&db, email)
                        .await
                        .map_err(|e| Failure(1, e.to_string()))?
                        .ok_or_else(|| Failure(2, format!("no user with email {email}")))?
                        .id,
                ),
                None => None,
            };
            let new = crate::clients::NewClient {
                name: c.name,
                redirect_uris: c.redirect_uris,
                public: c.public,
                grant_types: if c.grant_types.is_empty() {
                    crate::clients::default_grant_types_for(c.resource_server)
                } else {
                    c.grant_types
                },
                scopes: if c.scopes.is_empty() {
                    crate::clients::default_scopes()
                } else {
                    c.scopes
                },
                livemode: !c.test,
                first_party: c.first_party,
                resource_server: c.resource_server,
                owner_id,
                metadata: crate::clients::Metadata {
                    logo_uri: c.logo_uri,
                    client_uri: c.client_uri,
                    policy_uri: c.policy_uri,
                    tos_uri: c.tos_uri,
                },
                allowed_origins: (!c.allowed_origins.is_empty()).then_some(c.allowed_origins),
            };
            let jwks = match &c.jwks {
                Some(path) => Some(
                    std::fs::read_to_string(path)
                        .map_err(|e| Failure(2, format!("cannot read {}: {e}", path.display())))?,
                ),
                None => None,
            };
            let protocol = crate::clients::Protocol {
                require_par: c.require_par,
                auth_method: c.auth_method,
                jwks,
                jwks_uri: c.jwks_uri,
            };
            let catalog = load_catalog(&db, &settings).await?;
            let logos = crate::clients::logo::Fetcher::for_issuer(&settings.issuer);
            let client_failure = |e| match e {
                crate::clients::ClientError::Store(s) => Failure(1, s.to_string()),
                other => Failure(2, other.to_string()),
            };
            crate::clients::check_exchange_audiences(&catalog, &c.exchange_audiences)
                .map_err(client_failure)?;
            let logout = c.logout.change();
            logout.validate().map_err(client_failure)?;
            let (mut client, secret) =
                crate::clients::create_with(&db, &catalog, &logos, new, protocol)
                    .await
                    .map_err(client_failure)?;
            if !c.exchange_audiences.is_empty() {
                let rows = crate::store::RowCaches::default();
                client = crate::clients::set_exchange_audiences(
                    &db,
                    &catalog,
                    &rows,
                    &client,
                    &c.exchange_audiences,
                )
                .await
                .map_err(client_failure)?;
            }
            let client = if c.dpop_bound {
                let rows = crate::store::RowCaches::default();
                crate::clients::set_dpop_bound(&db, &rows, &client, true)
                    .await
                    .map_err(|e| Failure(1, e.to_string()))?
            } else {
                client
            };
            let client = if c.dpop_require_nonce {
                let rows = crate::store::RowCaches::default();
                crate::clients::set_dpop_require_nonce(&db, &rows, &client, true)
                    .await
                    .map_err(|e| Failure(1, e.to_string()))?
            } else {
                client
            };
            let client = crate::clients::logout::set_logout(
                &db,
                &crate::store::RowCaches::default(),
                &client,
                &logout,
            )
            .await
            .map_err(client_failure)?;
            operator::audit_client(&db, crate::audit::AuditKind::ClientCreated, &client).await?;
            if c.json {
                // Exactly DESIGN.md's fields (`client show --json` has them all).
                let list = |s: &str| {
                    crate::store::words(s)
                        .map(str::to_owned)
                        .collect::<Vec<_>>()
                };
                println!(
                    "{}",
                    json!({
                        "client_id": client.id, "client_secret": secret, "name": client.name,
                        "redirect_uris": list(&client.redirect_uris), "grant_types": list(&client.grant_types),
                        "scopes": list(&client.scopes), "livemode": client.livemode, "public": client.is_public,
                    })
                );
            } else {
                println!(
                    "Created {} client {:?}",
                    if client.is_public {
                        "public"
                    } else {
                        "confidential"
                    },
                    client.name
                );
                println!("client_id:     {}", client.id);
                if let Some(s) = secret {
                    println!("client_secret: {s}   (shown once; store it now)");
                }
            }
            Ok(())
        }
        Command::Key {
            command:
                KeyCommand::Create {
                    user,
                    mode,
                    name,
                    scopes,
                    rate_limit,
                    policies,
                    json,
                },
        } => {
            let policies = policies.parse()?;
            let db = connect_and_migrate(&settings, settings.migrate).await?;
            let catalog = load_catalog(&db, &settings).await?;
            let owner = crate::store::users::by_email(&db, &user)
                .await
                .map_err(|e| Failure(1, e.to_string()))?
                .ok_or_else(|| Failure(2, format!("no user with email {user}")))?;
            let new = crate::api_keys::NewKey {
                user_id: owner.id,
                livemode: matches!(mode, Mode::Live),
                name: name.unwrap_or_default(),
                scopes,
                policies,
            };
            let key_failure = |e: crate::api_keys::KeyError| match e {
                crate::api_keys::KeyError::Store(s) => Failure(1, s.to_string()),
                other => Failure(2, other.to_string()),
            };
            let (mut key, secret) = crate::api_keys::create(&db, &catalog, new)
                .await
                .map_err(key_failure)?;
            if rate_limit.is_some() {
                let cache = crate::api_keys::KeyCache::default();
                key = crate::api_keys::set_rate_limit(&db, &cache, &key, rate_limit)
                    .await
                    .map_err(key_failure)?;
            }
            if json {
                let scopes = crate::api_keys::effective_scopes(&key, &catalog);
                println!(
                    "{}",
                    json!({"id": key.id, "key": secret, "type": key.key_type, "livemode": key.livemode, "scopes": scopes, "name": key.name})
                );
            } else {
                println!(
                    "Created {} {} key {} ({})",
                    if key.livemode { "live" } else { "test" },
                    key.key_type,
                    key.id,
                    key.name
                );
                println!("{secret}");
                if std::io::stdout().is_terminal() {
                    println!("This key is shown once. Store it securely now.");
                }
            }
            Ok(())
        }
        Command::Client { command } => operator::client(command, &settings).await,
        Command::Key { command } => key_command(command, settings).await,
        Command::SigningKey { command } => signing_key(command, settings).await,
        Command::Api { command } => api_command(command, settings).await,
    }
}

/// `NAME=DESCRIPTION` (the description may hold `=`).
fn scope_pair(flag: &str, s: &str) -> Result<(String, String), Failure> {
    match s.split_once('=') {
        Some((n, d)) if !n.trim().is_empty() => Ok((n.trim().to_owned(), d.to_owned())),
        _ => Err(Failure(
            2,
            format!(
                "invalid {flag} {s:?}: write NAME=DESCRIPTION, e.g. invoices:read=\"See your invoices\""
            ),
        )),
    }
}

/// A catalog refusal as exit 2 (a store failure as 1). `given` pairs a parameter with the
/// flag and value the operator typed, so the message names the value.
fn catalog_failure(e: crate::catalog::CatalogError, given: &[(&str, String)]) -> Failure {
    use crate::catalog::CatalogError;
    match e {
        CatalogError::Store(s) => Failure(1, s.to_string()),
        CatalogError::Invalid(m, p) => match given.iter().find(|(k, _)| *k == p) {
            Some((_, shown)) => Failure(2, format!("invalid {shown}: {m}")),
            None => Failure(2, m),
        },
        other => Failure(2, other.to_string()),
    }
}

/// The API named by its id or its identifier.
fn find_api(snap: &crate::catalog::Snapshot, key: &str) -> Result<crate::catalog::Api, Failure> {
    snap.api(key)
        .or_else(|| snap.by_identifier(key))
        .cloned()
        .ok_or_else(|| Failure(2, format!("no API with id or identifier {key:?}")))
}

/// Record a catalog change made from the command line (no account did it).
async fn audit_api(
    db: &crate::store::Db,
    kind: crate::audit::AuditKind,
    api: &crate::catalog::Api,
    scope: Option<&str>,
) -> Result<(), Failure> {
    crate::audit::Event::new(kind)
        .detail(crate::catalog::audit_detail(api, scope, "cli"))
        .record(db)
        .await
        .map_err(|e| Failure(1, e.to_string()))
}

fn print_api(api: &crate::catalog::Api, json: bool, done: &str) {
    if json {
        println!("{}", api.to_json());
    } else {
        println!("{done} {} ({}, {})", api.name, api.id, api.identifier);
        for s in &api.scopes {
            println!("  {:<24}  {}", s.name, s.description);
        }
    }
}

async fn api_command(command: ApiCommand, settings: Settings) -> Result<(), Failure> {
    use crate::audit::AuditKind;
    use crate::catalog::{self, Catalog};
    let db = connect_and_migrate(&settings, settings.migrate).await?;
    let cat = Catalog::new(&settings.audience);
    let snap = cat
        .reload(&db)
        .await
        .map_err(|e| Failure(1, e.to_string()))?;
    match command {
        ApiCommand::Create {
            identifier,
            name,
            scopes,
            token_ttl,
            json,
        } => {
            let scopes = scopes
                .iter()
                .map(|s| scope_pair("--scope", s))
                .collect::<Result<Vec<_>, _>>()?;
            let given = [
                ("identifier", format!("--identifier {identifier:?}")),
                ("name", format!("--name {name:?}")),
                (
                    "access_token_ttl",
                    format!("--token-ttl {}", token_ttl.unwrap_or_default()),
                ),
            ];
            let new = catalog::NewApi {
                identifier,
                name,
                scopes,
                access_token_ttl: token_ttl,
            };
            let api = catalog::create(&db, &cat, new)
                .await
                .map_err(|e| catalog_failure(e, &given))?;
            audit_api(&db, AuditKind::ApiCreated, &api, None).await?;
            print_api(&api, json, "Created API");
        }
        ApiCommand::List { json } => {
            if json {
                let data: Vec<_> = snap.apis().iter().map(catalog::Api::to_json).collect();
                println!("{}", json!({"object": "list", "data": data}));
            } else {
                for a in snap.apis() {
                    let ttl = a
                        .access_token_ttl
                        .map(|t| format!("{} s", t.num_seconds()))
                        .unwrap_or_else(|| "default".to_owned());
                    let scopes: Vec<&str> = a.scopes.iter().map(|s| s.name.as_str()).collect();
                    println!(
                        "{:<26}  {:<36}  {:<20}  {:<8}  {}{}",
                        a.id,
                        a.identifier,
                        a.name,
                        ttl,
                        scopes.join(","),
                        if a.builtin { "  (built-in)" } else { "" }
                    );
                }
            }
        }
        ApiCommand::Scope {
            command: ApiScopeCommand::Add { api, scope, json },
        } => {
            let target = find_api(&snap, &api)?;
            let (name, description) = scope_pair("scope", &scope)?;
            let updated = catalog::add_scope(&db, &cat, &target.id, &name, &description)
                .await
                .map_err(|e| catalog_failure(e, &[]))?;
            audit_api(&db, AuditKind::ApiScopeAdded, &updated, Some(&name)).await?;
            print_api(&updated, json, &format!("Added {name} to"));
        }
        ApiCommand::Scope {
            command: ApiScopeCommand::Remove { name, json },
        } => {
            let updated = catalog::remove_scope(&db, &cat, name.trim())
                .await
                .map_err(|e| catalog_failure(e, &[]))?;
            audit_api(&db, AuditKind::ApiScopeRemoved, &updated, Some(name.trim())).await?;
            print_api(&updated, json, &format!("Removed {} from", name.trim()));
        }
        ApiCommand::Update {
            api,
            name,
            token_ttl,
            default_token_ttl,
            describe,
            json,
        } => {
            let target = find_api(&snap, &api)?;
            let descriptions = describe
                .iter()
                .map(|s| scope_pair("--describe", s))
                .collect::<Result<Vec<_>, _>>()?;
            let given = [
                (
                    "name",
                    format!("--name {:?}", name.as_deref().unwrap_or_default()),
                ),
                (
                    "access_token_ttl",
                    format!("--token-ttl {}", token_ttl.unwrap_or_default()),
                ),
            ];
            let changes = catalog::UpdateApi {
                name,
                access_token_ttl: if default_token_ttl {
                    Some(None)
                } else {
                    token_ttl.map(Some)
                },
                descriptions,
            };
            let updated = catalog::update(&db, &cat, &target.id, changes)
                .await
                .map_err(|e| catalog_failure(e, &given))?;
            audit_api(&db, AuditKind::ApiUpdated, &updated, None).await?;
            print_api(&updated, json, "Updated API");
        }
        ApiCommand::Delete { api, json } => {
            let target = find_api(&snap, &api)?;
            let deleted = catalog::delete(&db, &cat, &target.id)
                .await
                .map_err(|e| catalog_failure(e, &[]))?;
            audit_api(&db, AuditKind::ApiDeleted, &deleted, None).await?;
            if json {
                let mut v = deleted.to_json();
                v["deleted"] = json!(true);
                println!("{v}");
            } else {
                println!("Deleted API {} ({})", deleted.name, deleted.id);
            }
        }
    }
    Ok(())
}

fn user_failure(e: crate::users::UserError) -> Failure {
    use crate::users::UserError;
    match e {
        UserError::Store(_) | UserError::Unexpected(_) => Failure(1, e.to_string()),
        other => Failure(2, other.to_string()),
    }
}

async fn signing_key(command: SigningKeyCommand, mut settings: Settings) -> Result<(), Failure> {
    settings
        .ensure_secret_key()
        .map_err(|e| Failure(2, e.to_string()))?;
    let db = connect_and_migrate(&settings, settings.migrate).await?;
    match command {
        SigningKeyCommand::Rotate { alg, json } => {
            let alg = match alg {
                Some(a) => SigningAlg::parse(&a).ok_or_else(|| {
                    Failure(
                        2,
                        format!("unknown algorithm {a:?}; use ES256, RS256, EdDSA or HS256"),
                    )
                })?,
                None => settings.signing_alg,
            };
            let sealer = crate::crypto::Sealer::new(settings.secret().expose());
            let keep = std::time::Duration::from_secs(
                settings.access_token_ttl.num_seconds().unsigned_abs()
                    + crate::signing::LEEWAY_SECS,
            );
            let info = crate::signing::rotate(&db, &sealer, alg, settings.key_prepublish, keep)
                .await
                .map_err(|e| Failure(1, format!("{e:#}")))?;
            if json {
                println!("{}", json!(info));
            } else {
                println!(
                    "New {} key {} published; it signs from {}",
                    info.alg.as_str(),
                    info.kid,
                    info.active_from.to_rfc3339()
                );
            }
            Ok(())
        }
        SigningKeyCommand::List { json } => {
            let rows = crate::store::signing_keys::all(&db)
                .await
                .map_err(|e| Failure(1, e.to_string()))?;
            let v: Vec<_> = rows
                .iter()
                .map(|r| json!({"kid": r.kid, "alg": r.alg, "active_from": r.active_from, "retired_at": r.retired_at, "expires_at": r.expires_at}))
                .collect();
            if json {
                println!("{}", json!({ "keys": v }));
            } else {
                for r in rows {
                    println!(
                        "{}  {:6}  active from {}  {}",
                        r.kid,
                        r.alg,
                        r.active_from.to_rfc3339(),
                        match r.expires_at {
                            Some(e) => format!("expires {}", e.to_rfc3339()),
                            None => "current".to_owned(),
                        }
                    );
                }
            }
            Ok(())
        }
    }
}

async fn key_command(command: KeyCommand, settings: Settings) -> Result<(), Failure> {
    let db = connect_and_migrate(&settings, settings.migrate).await?;
    let catalog = load_catalog(&db, &settings).await?;
    let key_json = |k: &entity::api_key::Model| {
        crate::api::api_keys::key_object(k, &catalog, crate::clock::Clock::system().now())
    };
    let cache = crate::api_keys::KeyCache::default();
    let store_err = |e: crate::errors::StoreError| Failure(1, e.to_string());
    let find = |id: String| {
        let db = db.clone();
        async move {
            crate::store::api_keys::by_id(&db, &id)
                .await
                .map_err(|e| Failure(1, e.to_string()))?
                .ok_or_else(|| Failure(2, format!("no API key with id {id}")))
        }
    };
    match command {
        KeyCommand::Create { .. } => unreachable!("handled by run()"),
        KeyCommand::List {
            user,
            mode,
            all,
            json,
        } => {
            let owner = crate::store::users::by_email(&db, &user)
                .await
                .map_err(store_err)?
                .ok_or_else(|| Failure(2, format!("no user with email {user}")))?;
            let livemode = mode.map(|m| matches!(m, Mode::Live));
            let rows = crate::store::api_keys::page(&db, &owner.id, livemode, all, 10_000, None)
                .await
                .map_err(store_err)?;
            if json {
                println!(
                    "{}",
                    json!({"object": "list", "data": rows.iter().map(&key_json).collect::<Vec<_>>()})
                );
            } else {
                for k in rows {
                    println!(
                        "{}  {:<22}  {:<9}  {:<10}  {:<10}  {}",
                        k.id,
                        crate::api_keys::redacted(&k),
                        crate::api_keys::status(&k, crate::clock::Clock::system().now()),
                        k.key_type,
                        if crate::api_keys::is_secret(&k) {
                            "all".to_owned()
                        } else {
                            k.scopes.replace(' ', ",")
                        },
                        k.name
                    );
                }
            }
            Ok(())
        }
        KeyCommand::Roll {
            id,
            expires_in,
            json,
        } => {
            let key = find(id).await?;
            let secs = crate::api_keys::parse_roll_expiry(&expires_in)
                .ok_or_else(|| Failure(2, format!("invalid --expires-in {expires_in:?}: use now, 1h, 24h, 7d or seconds up to 604800")))?;
            if matches!(
                crate::api_keys::status(&key, crate::clock::Clock::system().now()),
                "revoked" | "expired"
            ) {
                return Err(Failure(
                    2,
                    "a revoked or expired key cannot be rolled".into(),
                ));
            }
            let (new, secret) = crate::api_keys::roll(
                &db,
                &catalog,
                &cache,
                &key,
                secs,
                crate::clock::Clock::system().now(),
            )
            .await
            .map_err(|e| Failure(1, e.to_string()))?;
            if json {
                let mut v = key_json(&new);
                v["secret"] = json!(secret);
                v["rolled_from"] = json!(key.id);
                println!("{v}");
            } else {
                println!(
                    "Rolled {} into {}; the old key stops working {}.",
                    key.id,
                    new.id,
                    if secs == 0 {
                        "now".to_owned()
                    } else {
                        format!("in {secs} s")
                    }
                );
                println!("{secret}");
            }
            Ok(())
        }
        KeyCommand::Update {
            id,
            name,
            policies,
            json,
        } => {
            let policies = policies.parse()?;
            let key = find(id).await?;
            let key_failure = |e: crate::api_keys::KeyError| match e {
                crate::api_keys::KeyError::Store(s) => Failure(1, s.to_string()),
                other => Failure(2, other.to_string()),
            };
            let mut updated = match name {
                Some(n) => crate::api_keys::rename(&db, &key, &n)
                    .await
                    .map_err(key_failure)?,
                None => key.clone(),
            };
            updated = crate::api_keys::update_policies(&db, &cache, &updated, &policies)
                .await
                .map_err(key_failure)?;
            if json {
                println!("{}", key_json(&updated));
            } else {
                println!(
                    "Updated {} ({}).",
                    updated.id,
                    crate::api_keys::redacted(&updated)
                );
            }
            Ok(())
        }
        KeyCommand::Revoke { id, json } => {
            let key = find(id).await?;
            let revoked =
                crate::api_keys::revoke(&db, &cache, &key, crate::clock::Clock::system().now())
                    .await
                    .map_err(|e| Failure(1, e.to_string()))?;
            if json {
                println!("{}", key_json(&revoked));
            } else {
                println!(
                    "Revoked {} ({}).",
                    revoked.id,
                    crate::api_keys::redacted(&revoked)
                );
            }
            Ok(())
        }
    }
}
