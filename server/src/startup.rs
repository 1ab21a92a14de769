//! Building and running the application: connect, migrate, load keys, bind, serve.

use std::net::{IpAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

use actix_session::SessionMiddleware;
use actix_session::config::{BrowserSession, CookieContentSecurity};
use actix_session::storage::CookieSessionStore;
use actix_web::cookie::{Key, SameSite};
use actix_web::dev::{Server, ServerHandle};
use actix_web::middleware::from_fn;
use actix_web::{App, HttpServer, web};
use migration::{Migrator, MigratorTrait};

use crate::config::Settings;
use crate::crypto::{Sealer, derive_key};
use crate::signing::{LEEWAY_SECS, Signer};
use crate::state::AppState;

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error("cannot connect to the database: {0}")]
    Database(String),
    #[error("database migration failed: {0}")]
    Migration(String),
    #[error("signing keys: {0}")]
    Keys(String),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
    #[error("TLS: {0}")]
    Tls(String),
}

/// The session cookie's name on plain-http loopback (development and tests).
pub const SESSION_COOKIE: &str = "latch_session";
/// Its name over https. The `__Host-` prefix (RFC 6265bis §4.1.3.2) makes browsers accept the
/// cookie only when it is `Secure`, has `Path=/` and no `Domain`, so a sibling subdomain or a
/// plain-http page cannot plant or shadow it.
pub const SESSION_COOKIE_HTTPS: &str = "__Host-latch_session";

/// The session cookie's name for these settings: prefixed whenever Latch is reached over https.
pub fn session_cookie_name(settings: &Settings) -> &'static str {
    if secure_transport(settings) {
        SESSION_COOKIE_HTTPS
    } else {
        SESSION_COOKIE
    }
}

/// Whether browsers reach Latch over https (it serves TLS, or its issuer is https).
fn secure_transport(settings: &Settings) -> bool {
    settings.tls.is_some() || settings.issuer_is_https()
}

pub struct Application {
    port: u16,
    server: Server,
    state: web::Data<AppState>,
}

/// Connect and (unless `LATCH_MIGRATE=false`) migrate; used by `serve` and the CLI.
pub async fn connect_and_migrate(
    settings: &Settings,
    migrate: bool,
) -> Result<crate::store::Db, StartupError> {
    let config = settings.db_config();
    let connect = |config: crate::store::DbConfig| async move {
        crate::store::connect(&config)
            .await
            .map_err(|e| StartupError::Database(redact_url(&e.to_string())))
    };
    let db = connect(config.clone()).await?;
    if migrate {
        let migrated = if config.is_sqlite {
            Migrator::up(&db, None).await
        } else {
            // PostgreSQL: on a connection of its own without the requests' statement
            // timeout, since a migration may rewrite a large table for longer than a
            // request may wait.
            let once = connect(crate::store::DbConfig {
                max_connections: 1,
                statement_timeout: None,
                ..config
            })
            .await?;
            let r = Migrator::up(&once, None).await;
            once.close().await.ok();
            r
        };
        migrated.map_err(|e| StartupError::Migration(e.to_string()))?;
    }
    Ok(db)
}

/// Never print a password that may sit in a database URL.
fn redact_url(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for word in s.split_inclusive(char::is_whitespace) {
        match (word.find("://"), word.find('@')) {
            (Some(i), Some(j)) if j > i => {
                out.push_str(&word[..i + 3]);
                out.push_str("<redacted>");
                out.push_str(&word[j..]);
            }
            _ => out.push_str(word),
        }
    }
    out
}

impl Application {
    pub async fn build(mut settings: Settings) -> Result<Self, StartupError> {
        Self::build_with(&mut settings, false).await
    }

    /// `handle_signals`: SIGTERM drains in-flight requests then exits (the CLI sets it;
    /// tests that run many apps in one process do not).
    pub async fn build_with(
        settings: &mut Settings,
        handle_signals: bool,
    ) -> Result<Self, StartupError> {
        Self::build_with_clock(settings, handle_signals, crate::clock::Clock::system()).await
    }

    /// [`Application::build_with`] on the given clock (tests pass a manual one and advance
    /// it instead of sleeping).
    pub async fn build_with_clock(
        settings: &mut Settings,
        handle_signals: bool,
        clock: crate::clock::Clock,
    ) -> Result<Self, StartupError> {
        // The recorder first: a metric set before it is installed (the rate limiter's
        // `latch_rate_limit_redis_up`) is dropped, not replayed (issue #16, defect 6).
        let metrics = crate::telemetry::metrics_handle();
        crate::users::password::set_threads(settings.hashing_threads);
        if let Some((path, created)) = settings.ensure_secret_key()? {
            if created {
                tracing::warn!(path = %path.display(), "LATCH_SECRET_KEY is not set: generated a master key and saved it (mode 0600); keep this file, or set LATCH_SECRET_KEY");
            } else {
                tracing::info!(path = %path.display(), "using the master key saved in the data directory");
            }
        }
        if !settings.rate_limit {
            tracing::warn!(
                "LATCH_RATE_LIMIT=off: every rate limit is disabled (use this only for benchmarks)"
            );
        }
        if settings.signing_alg == crate::config::SigningAlg::HS256 {
            tracing::warn!(
                "LATCH_SIGNING_ALG=HS256: access tokens can be verified only by introspection or with the shared secret; JWKS stays empty"
            );
        }
        let db = connect_and_migrate(settings, settings.migrate).await?;
        let master = settings.secret().expose().to_vec();
        let sealer = Sealer::new(&master);
        let keep_after = Duration::from_secs(
            settings.access_token_ttl.num_seconds().unsigned_abs() + LEEWAY_SECS,
        );
        let signer = Signer::init(db.clone(), sealer.clone(), settings.signing_alg, keep_after)
            .await
            .map_err(|e| StartupError::Keys(format!("{e:#}")))?;
        signer.spawn_reloader();
        crate::sweeper::spawn(db.clone(), clock.clone(), settings.audit_retention);
        let denied = Arc::new(crate::store::tokens::DenyList::default());
        crate::sweeper::start_deny_sync(db.clone(), denied.clone())
            .await
            .map_err(|e| StartupError::Database(e.to_string()))?;

        let listener = TcpListener::bind(&settings.bind).map_err(|source| StartupError::Bind {
            addr: settings.bind.clone(),
            source,
        })?;
        let port = listener
            .local_addr()
            .map_err(|source| StartupError::Bind {
                addr: settings.bind.clone(),
                source,
            })?
            .port();
        if settings.bind.ends_with(":0") && settings.issuer.ends_with(":0") {
            // Port 0 (tests): the issuer follows the port the OS picked.
            settings.issuer = format!("{}{port}", settings.issuer.trim_end_matches('0'));
            settings.audience = settings.issuer.clone();
        }

        // The permission catalog: the built-in API follows the (final) audience.
        let catalog = Arc::new(crate::catalog::Catalog::new(&settings.audience));
        catalog
            .reload(&db)
            .await
            .map_err(|e| StartupError::Database(e.to_string()))?;
        crate::catalog::start_reloading(db.clone(), catalog.clone());
        let origins = Arc::new(crate::clients::origins::OriginSet::default());
        origins
            .reload(&db)
            .await
            .map_err(|e| StartupError::Database(e.to_string()))?;
        crate::clients::origins::start_reloading(db.clone(), origins.clone());

        let limiter = crate::rate_limit::Limiter::new(
            settings.rate_limit,
            settings.limits.clone(),
            settings.redis_url.as_deref(),
        )
        .map_err(|e| StartupError::Config(crate::config::ConfigError::Source(e)))?;
        limiter.spawn_probe();
        crate::sweeper::spawn_limiter_pruning(limiter.clone());
        let trusted_proxies: Vec<IpAddr> = vec![
            "127.0.0.1".parse().expect("literal"),
            "::1".parse().expect("literal"),
        ];
        let edge = web::Data::new(crate::middleware::Edge {
            proxy: crate::middleware::ProxyTrust {
                behind_proxy: settings.behind_proxy,
                trusted_proxies: trusted_proxies.clone(),
                v6_prefix: settings.ipv6_prefix,
            },
            body_timeout: settings.body_timeout,
            hsts: settings.tls.is_some() || settings.issuer_is_https(),
            brand: settings.brand.clone(),
        });
        let state = web::Data::new(AppState {
            db,
            settings: Arc::new(settings.clone()),
            signer,
            metrics,
            keys: crate::api_keys::KeyCache::default(),
            denied,
            rows: crate::store::RowCaches::default(),
            limiter,
            sealer,
            clock,
            catalog,
            logos: crate::clients::logo::Fetcher::for_issuer(&settings.issuer)
                .or_loopback(settings.allow_loopback_fetch),
            client_keys: crate::clients::jwks::KeyCache::default(),
            mail: crate::mail::Mailer::new(settings.mail.clone()),
            origins,
            dpop: crate::dpop::Dpop::new(
                &master,
                settings.dpop_proof_max_age,
                settings.dpop_require_nonce,
            ),
            backchannel: crate::backchannel::Backchannel::default(),
            codes: crate::store::codes::GroupConsume::default(),
            code_reads: crate::store::codes::GroupRead::default(),
        });
        crate::mail::worker::spawn(state.db.clone(), state.sealer.clone(), &state.mail);
        crate::backchannel::worker::spawn(
            crate::backchannel::worker::Worker {
                db: state.db.clone(),
                signer: state.signer.clone(),
                issuer: settings.issuer.clone(),
                fetcher: state.logos,
                max_attempts: settings.backchannel_max_attempts,
            },
            &state.backchannel,
        );
        crate::clients::logo_refresh::spawn(
            state.db.clone(),
            state.logos,
            state.clock.clone(),
            settings.logo_refresh,
        );
        let cookie_key = Key::derive_from(&derive_key(&master, "session-cookie"));
        let secure_cookies = secure_transport(settings);
        let cookie_name = session_cookie_name(settings);
        // Connections from the trusted proxies carry many clients: only direct peers count.
        let connections = crate::connections::ConnectionLimiter::new(
            settings.max_connections_per_ip,
            settings.ipv6_prefix,
            if settings.behind_proxy {
                trusted_proxies
            } else {
                Vec::new()
            },
        );
        let app_state = state.clone();
        let server = HttpServer::new(move || {
            let session =
                SessionMiddleware::builder(CookieSessionStore::default(), cookie_key.clone())
                    .cookie_name(cookie_name.to_owned())
                    // `__Host-` requires exactly this: Path=/ and no Domain attribute.
                    .cookie_path("/".to_owned())
                    .cookie_domain(None)
                    .cookie_secure(secure_cookies)
                    .cookie_http_only(true)
                    .cookie_same_site(SameSite::Lax)
                    .cookie_content_security(CookieContentSecurity::Private)
                    .session_lifecycle(BrowserSession::default())
                    .build();
            App::new()
                .app_data(app_state.clone())
                .app_data(edge.clone())
                .app_data(crate::routes::form_config())
                .app_data(crate::routes::query_config())
                .app_data(crate::routes::json_config())
                .app_data(crate::routes::payload_config())
                .wrap(
                    actix_web::middleware::ErrorHandlers::new()
                        .handler(
                            actix_web::http::StatusCode::PAYLOAD_TOO_LARGE,
                            crate::routes::payload_too_large,
                        )
                        .handler(
                            actix_web::http::StatusCode::BAD_REQUEST,
                            crate::routes::unreadable_body,
                        ),
                )
                .wrap(from_fn(crate::oauth::cors::answer))
                .wrap(from_fn(crate::middleware::observe))
                .configure(crate::routes::machine_routes)
                // Browser pages get the session cookie; the machine endpoints above do not
                // pay for it. An empty-prefix scope registered last catches every other path.
                .service(
                    web::scope("")
                        .wrap(session)
                        .configure(crate::routes::browser_routes),
                )
        })
        .on_connect(move |conn, ext| connections.on_connect(conn, ext))
        .workers(settings.workers)
        .shutdown_timeout(20);
        let server = if handle_signals {
            server
        } else {
            server.disable_signals()
        };
        let server = match &settings.tls {
            None => server.listen(listener),
            Some((cert, key)) => server.listen_rustls_0_23(listener, tls_config(cert, key)?),
        }
        .map_err(|source| StartupError::Bind {
            addr: settings.bind.clone(),
            source,
        })?
        .run();
        Ok(Self {
            port,
            server,
            state,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn issuer(&self) -> &str {
        &self.state.settings.issuer
    }

    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    pub fn state(&self) -> web::Data<AppState> {
        self.state.clone()
    }

    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let r = self.server.await;
        // Stopped: this instance sends no more mail; what is left waits in the outbox for
        // the next instance (a claim in progress runs out, `mail::worker::CLAIM`).
        self.state.mail.stop();
        self.state.backchannel.stop();
        r
    }
}

fn tls_config(
    cert: &std::path::Path,
    key: &std::path::Path,
) -> Result<rustls::ServerConfig, StartupError> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| StartupError::Tls(format!("LATCH_TLS_CERT {}: {e}", cert.display())))?
        .collect::<Result<_, _>>()
        .map_err(|e| StartupError::Tls(format!("LATCH_TLS_CERT {}: {e}", cert.display())))?;
    if certs.is_empty() {
        return Err(StartupError::Tls(format!(
            "LATCH_TLS_CERT {}: no certificate found",
            cert.display()
        )));
    }
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| StartupError::Tls(format!("LATCH_TLS_KEY {}: {e}", key.display())))?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| StartupError::Tls(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| StartupError::Tls(e.to_string()))?;
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(cfg)
}

#[cfg(test)]
mod tests {
    #[test]
    fn database_passwords_are_redacted() {
        let s = super::redact_url(
            "error connecting to postgres://latch:hunter2@db:5432/latch: refused",
        );
        assert!(!s.contains("hunter2"), "{s}");
        assert!(s.contains("postgres://<redacted>@db:5432"));
    }
}
