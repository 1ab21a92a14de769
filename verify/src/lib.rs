//! `latch-verify`: check Latch access tokens and API keys in a resource server.
//!
//! A [`Verifier`] is built for one issuer and for the API it protects (its identifier, an
//! absolute URI registered at Latch; default: Latch's built-in API, the issuer). It reads the
//! issuer's metadata (RFC 8414) once, caches its JWKS, and then verifies JWT access tokens
//! locally (RFC 9068, with the RFC 8725 checks: the algorithm is pinned per key, `typ` must be
//! `at+jwt`, `iss`/`exp`/`nbf`/`iat` are checked with a small leeway, and `aud`, a string or
//! an array, must contain the API identifier). API keys (`sk_live_…`/`sk_test_…`, restricted
//! `rk_live_…`/`rk_test_…`) are checked by introspection (RFC 7662) with a short cache, when
//! the verifier has client credentials. Scopes are queried with
//! [`Claims::has_all_scopes`]/[`has_any_scope`](Claims::has_any_scope) and required with
//! [`Claims::require_all_scopes`]/[`require_any_scope`](Claims::require_any_scope).
//! Refusals carry RFC 6750 values: [`VerifyError::status`] and
//! [`Verifier::www_authenticate`] (with RFC 9728 `resource_metadata` when configured);
//! [`Verifier::resource_metadata`] is the RFC 9728 document naming Latch.
//!
//! ```no_run
//! use latch_verify::Verifier;
//!
//! # async fn run(authorization_header: &str) -> Result<(), Box<dyn std::error::Error>> {
//! let verifier = Verifier::discover_for_api("https://auth.example.com", "https://billing.example.com").await?;
//! let token = authorization_header.strip_prefix("Bearer ").unwrap_or_default();
//! match verifier.verify(token).await.and_then(|c| c.require_all_scopes(&["invoices:read"]).map(|_| c)) {
//!     Ok(claims) => println!("{} (client {:?}) may read invoices", claims.sub, claims.client_id),
//!     Err(e) => println!("{} WWW-Authenticate: {}", e.status(), verifier.www_authenticate(&e)),
//! }
//! # Ok(()) }
//! ```
//!
//! With the `actix` feature, [`actix::Authenticated`] does the same as an extractor,
//! [`actix::RequireScopes`] guards routes, and [`actix::protected_resource_metadata`]
//! serves `/.well-known/oauth-protected-resource`.
//!
//! Cached state and its staleness: keys are refetched when a token names an unknown `kid`
//! (at most once per [`jwks_refresh_min_interval`](VerifierBuilder::jwks_refresh_min_interval))
//! and when the cached set is older than [`jwks_max_age`](VerifierBuilder::jwks_max_age);
//! an introspection answer is reused for at most
//! [`introspection_cache_ttl`](VerifierBuilder::introspection_cache_ttl), so a revoked API
//! key may be accepted for that long.

mod claims;
pub mod dpop;
mod error;
mod introspect;
mod introspection_jwt;
mod jwks;
mod jwt;
mod metadata;

#[cfg(feature = "actix")]
pub mod actix;

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

pub use claims::{Claims, TokenKind};
pub use error::{Error, InvalidToken, VerifyError};
pub use metadata::{ResourceMetadata, WELL_KNOWN_PATH, well_known_url};

use introspect::Introspection;
use jwks::{KeySet, PinnedKey};

/// Default clock-skew leeway for `exp`, `nbf` and `iat`.
pub const DEFAULT_LEEWAY: Duration = Duration::from_secs(30);
/// The largest leeway the builder accepts (RFC 7519 §4.1.4: "usually no more than a few
/// minutes"; we are stricter).
pub const MAX_LEEWAY: Duration = Duration::from_secs(60);
/// Default minimum time between two JWKS refetches caused by unknown `kid`s.
pub const DEFAULT_JWKS_REFRESH_MIN_INTERVAL: Duration = Duration::from_secs(60);
/// Default age after which the cached JWKS is refreshed (Latch serves it with
/// `max-age=300`).
pub const DEFAULT_JWKS_MAX_AGE: Duration = Duration::from_secs(300);
/// Default lifetime of a cached introspection answer.
pub const DEFAULT_INTROSPECTION_CACHE_TTL: Duration = Duration::from_secs(5);
/// Default maximum number of cached introspection answers.
pub const DEFAULT_INTROSPECTION_CACHE_CAPACITY: usize = 10_000;

/// Verifies Latch access tokens and API keys for one issuer. Cheap to clone (the key
/// cache is shared); share one per process, e.g. in `web::Data<Verifier>`.
#[derive(Clone)]
pub struct Verifier {
    inner: Arc<Inner>,
}

struct Inner {
    issuer: String,
    audience: String,
    resource_metadata_url: Option<String>,
    leeway: i64,
    jwks_uri: String,
    http: reqwest::Client,
    keys: RwLock<Arc<KeySet>>,
    /// Held while fetching the JWKS; holds when the last fetch by this verifier started
    /// (`None`: none since `discover`).
    refetch: tokio::sync::Mutex<Option<Instant>>,
    min_interval: Duration,
    max_age: Duration,
    introspection: Option<Introspection>,
    /// DPoP proof `jti`s seen by this process (RFC 9449 §11.1).
    dpop_replay: dpop::ReplayCache,
    /// Proof headers (client keys) already checked and parsed.
    dpop_headers: dpop::HeaderCache,
    /// Server nonces, when this resource server requires them (RFC 9449 §9).
    dpop_nonces: Option<dpop::NonceIssuer>,
}

/// How old a DPoP proof's `iat` may be at a resource (RFC 9449 §11.1), in seconds.
pub const DPOP_PROOF_MAX_AGE: i64 = 60;
/// How many DPoP proofs the in-process replay cache holds; when it is full of proofs still
/// inside their window, new proofs are refused rather than old ones forgotten.
pub const DPOP_REPLAY_CAPACITY: usize = 100_000;
/// How many distinct DPoP proof headers (client keys) are kept parsed.
pub const DPOP_HEADER_CACHE_CAPACITY: usize = 1024;
/// The bounds of [`VerifierBuilder::dpop_nonces`]'s step: a nonce lives one to two steps.
pub const MIN_DPOP_NONCE_STEP: Duration = Duration::from_secs(5);
pub const MAX_DPOP_NONCE_STEP: Duration = Duration::from_secs(3600);

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("issuer", &self.inner.issuer)
            .field("audience", &self.inner.audience)
            .field("resource_metadata_url", &self.inner.resource_metadata_url)
            .field("jwks_uri", &self.inner.jwks_uri)
            .field(
                "introspection_endpoint",
                &self.inner.introspection.as_ref().map(|i| &i.endpoint),
            )
            .finish_non_exhaustive()
    }
}

/// Options for a [`Verifier`]; made by [`Verifier::builder`], finished by
/// [`discover`](VerifierBuilder::discover).
#[must_use]
pub struct VerifierBuilder {
    issuer: String,
    audience: Option<String>,
    /// Set by [`api_identifier`](VerifierBuilder::api_identifier): check it is a URI.
    audience_is_identifier: bool,
    resource_metadata_url: Option<String>,
    leeway: Duration,
    min_interval: Duration,
    max_age: Duration,
    credentials: Option<(String, String)>,
    cache_ttl: Duration,
    cache_capacity: usize,
    http: Option<reqwest::Client>,
    /// [`dpop_nonces`](VerifierBuilder::dpop_nonces): the key and the step.
    dpop_nonces: Option<(Vec<u8>, Duration)>,
}

impl std::fmt::Debug for VerifierBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifierBuilder")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("resource_metadata_url", &self.resource_metadata_url)
            .field("leeway", &self.leeway)
            .field(
                "introspection_client_id",
                &self.credentials.as_ref().map(|c| &c.0),
            )
            .finish_non_exhaustive()
    }
}

impl VerifierBuilder {
    /// The identifier of the API this verifier protects, as registered at Latch (`latch api
    /// create --identifier`): an absolute URI with no fragment, checked by
    /// [`discover`](Self::discover). Tokens are accepted only when their `aud` (a string,
    /// or an array of strings when a token serves several APIs) contains it (RFC 7519
    /// §4.1.3, RFC 9068 §4); others are refused as `invalid_token`. It is also the
    /// `resource` of [`Verifier::resource_metadata`]. Default: the issuer, which is Latch's
    /// default `LATCH_AUDIENCE`, the identifier of its built-in API.
    pub fn api_identifier(mut self, identifier: impl Into<String>) -> Self {
        self.audience = Some(identifier.into());
        self.audience_is_identifier = true;
        self
    }

    /// The `aud` value tokens must contain, taken as given (not checked to be a URI). Kept
    /// for compatibility; prefer [`api_identifier`](Self::api_identifier). Default: the
    /// issuer (Latch's default `LATCH_AUDIENCE`).
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = Some(audience.into());
        self.audience_is_identifier = false;
        self
    }

    /// Advertise this protected resource metadata URL (RFC 9728 §5.1) in every challenge
    /// made with [`Verifier::www_authenticate`] and by the actix helpers: `WWW-Authenticate:
    /// Bearer resource_metadata="<url>"`. Clients that discover from a 401 (the Model
    /// Context Protocol does) fetch it and find Latch there. Usually
    /// [`well_known_url`]`(api_identifier)`, where the document is served (see
    /// [`ResourceMetadata`]). Default: none, no `resource_metadata` parameter.
    pub fn resource_metadata_url(mut self, url: impl Into<String>) -> Self {
        self.resource_metadata_url = Some(url.into());
        self
    }

    /// Clock-skew leeway for `exp`, `nbf` and `iat`: default 30 s, at most 60 s
    /// ([`discover`](Self::discover) refuses more). Whole seconds count.
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// Minimum time between two JWKS refetches triggered by unknown `kid`s (default 60 s).
    /// The first unknown `kid` after [`discover`](Self::discover) always refetches.
    pub fn jwks_refresh_min_interval(mut self, interval: Duration) -> Self {
        self.min_interval = interval;
        self
    }

    /// Refresh the cached JWKS when it is older than this (default 300 s), so keys the
    /// issuer withdrew stop being trusted. If the refresh fails the old keys stay in use.
    pub fn jwks_max_age(mut self, max_age: Duration) -> Self {
        self.max_age = max_age;
        self
    }

    /// Accept API keys by introspecting them as this client (registered at Latch with
    /// `--resource-server`), authenticating with HTTP Basic (RFC 6749 §2.3.1). Without
    /// this, API keys are refused (`invalid_token`, "API keys are not accepted here").
    pub fn introspection(
        mut self,
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
    ) -> Self {
        self.credentials = Some((client_id.into(), client_secret.into()));
        self
    }

    /// How long an introspection answer is reused (default 5 s; zero disables the cache).
    /// A revoked API key can be accepted for up to this long.
    pub fn introspection_cache_ttl(mut self, ttl: Duration) -> Self {
        self.cache_ttl = ttl;
        self
    }

    /// The most introspection answers kept (default 10 000; the oldest go first).
    pub fn introspection_cache_capacity(mut self, capacity: usize) -> Self {
        self.cache_capacity = capacity;
        self
    }

    /// The HTTP client for metadata, JWKS and introspection (default: rustls, 10 s
    /// timeout). Give one to set proxies, timeouts or extra root certificates.
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.http = Some(client);
        self
    }

    /// Require server nonces in DPoP proofs (RFC 9449 §9): [`Verifier::verify_dpop`]
    /// refuses a proof without a fresh nonce with [`VerifyError::UseDpopNonce`], whose
    /// [`dpop_nonce`](VerifyError::dpop_nonce) goes in the `DPoP-Nonce` header. Nonces are
    /// stateless (an HMAC of the time step under `key`, [`dpop::NonceIssuer`]): give every
    /// instance of the resource server the same `key` (at least 32 random bytes, kept
    /// secret) and they accept each other's nonces. A nonce is accepted for one to two
    /// `step`s (5 s to 1 h; checked by [`discover`](Self::discover)). Nonces bound how long
    /// a proof made in advance (by malware on the client, say) stays usable.
    pub fn dpop_nonces(mut self, key: impl AsRef<[u8]>, step: Duration) -> Self {
        self.dpop_nonces = Some((key.as_ref().to_vec(), step));
        self
    }

    /// Fetch `{issuer}/.well-known/oauth-authorization-server`, check that its `issuer` is
    /// exactly ours (RFC 8414 §3.3), fetch its `jwks_uri`, and return the verifier.
    pub async fn discover(self) -> Result<Verifier, Error> {
        let dpop_nonces = match &self.dpop_nonces {
            None => None,
            Some((key, step)) => {
                if *step < MIN_DPOP_NONCE_STEP || *step > MAX_DPOP_NONCE_STEP {
                    return Err(Error::Config(format!(
                        "the DPoP nonce step {step:?} must be {MIN_DPOP_NONCE_STEP:?} to {MAX_DPOP_NONCE_STEP:?}"
                    )));
                }
                Some(
                    dpop::NonceIssuer::new(key, step.as_secs() as i64).ok_or_else(|| {
                        Error::Config(format!(
                            "the DPoP nonce key must be at least {} random bytes",
                            dpop::MIN_NONCE_KEY_LEN
                        ))
                    })?,
                )
            }
        };
        if self.leeway > MAX_LEEWAY {
            return Err(Error::Config(format!(
                "leeway {:?} exceeds the maximum {MAX_LEEWAY:?}",
                self.leeway
            )));
        }
        if self.issuer.is_empty() {
            return Err(Error::Config("the issuer is empty".into()));
        }
        if let Some(a) = self.audience.as_deref() {
            if a.is_empty() {
                return Err(Error::Config("the API identifier is empty".into()));
            }
            if self.audience_is_identifier {
                metadata::check_identifier(a).map_err(Error::Config)?;
            }
        }
        let http = match self.http {
            Some(c) => c,
            None => reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .connect_timeout(Duration::from_secs(5))
                .build()
                .map_err(|e| Error::Config(format!("HTTP client: {e}")))?,
        };
        let url = format!(
            "{}/.well-known/oauth-authorization-server",
            self.issuer.trim_end_matches('/')
        );
        let body = fetch(&http, &url).await?;
        let meta: serde_json::Value =
            serde_json::from_slice(&body).map_err(|e| Error::Metadata(e.to_string()))?;
        let field = |k: &str| meta.get(k).and_then(serde_json::Value::as_str);
        let found = field("issuer").ok_or_else(|| Error::Metadata("no issuer".into()))?;
        if found != self.issuer {
            return Err(Error::IssuerMismatch {
                url,
                expected: self.issuer,
                found: found.to_owned(),
            });
        }
        let jwks_uri = field("jwks_uri")
            .ok_or_else(|| Error::Metadata("no jwks_uri".into()))?
            .to_owned();
        let introspection = match self.credentials {
            None => None,
            Some((id, secret)) => {
                let endpoint = field("introspection_endpoint").ok_or_else(|| {
                    Error::Metadata(
                        "introspection credentials were given but the metadata has no introspection_endpoint"
                            .into(),
                    )
                })?;
                Some(Introspection::new(
                    endpoint.to_owned(),
                    &id,
                    &secret,
                    self.cache_ttl,
                    self.cache_capacity,
                ))
            }
        };
        let keys = jwks::parse(&fetch(&http, &jwks_uri).await?)?;
        Ok(Verifier {
            inner: Arc::new(Inner {
                audience: self.audience.unwrap_or_else(|| self.issuer.clone()),
                resource_metadata_url: self.resource_metadata_url,
                issuer: self.issuer,
                leeway: self.leeway.as_secs() as i64,
                jwks_uri,
                http,
                keys: RwLock::new(Arc::new(keys)),
                refetch: tokio::sync::Mutex::new(None),
                min_interval: self.min_interval,
                max_age: self.max_age,
                introspection,
                dpop_replay: dpop::ReplayCache::new(DPOP_REPLAY_CAPACITY),
                dpop_headers: dpop::HeaderCache::new(DPOP_HEADER_CACHE_CAPACITY),
                dpop_nonces,
            }),
        })
    }
}

/// The `cnf.jkt` of verified claims (RFC 9449 §6.1).
fn dpop_jkt(claims: &Claims) -> Option<&str> {
    claims.raw.get("cnf")?.get("jkt")?.as_str()
}

/// Latch API keys: secret `sk_live_…`/`sk_test_…` and restricted `rk_live_…`/`rk_test_…`.
fn is_api_key(token: &str) -> bool {
    token.starts_with("sk_") || token.starts_with("rk_")
}

async fn fetch(http: &reqwest::Client, url: &str) -> Result<Vec<u8>, Error> {
    let err = |message: String| Error::Fetch {
        url: url.to_owned(),
        message,
    };
    let res = http
        .get(url)
        .header(reqwest::header::ACCEPT, "application/json")
        .send()
        .await
        .map_err(|e| err(e.to_string()))?;
    if !res.status().is_success() {
        return Err(err(format!("status {}", res.status())));
    }
    Ok(res.bytes().await.map_err(|e| err(e.to_string()))?.to_vec())
}

impl Verifier {
    /// [`Verifier::builder`]`(issuer).discover()`: all defaults, no API keys; tokens must
    /// be for Latch's built-in API (`aud` contains the issuer).
    pub async fn discover(issuer: &str) -> Result<Verifier, Error> {
        Self::builder(issuer).discover().await
    }

    /// [`Verifier::builder`]`(issuer).api_identifier(api).discover()`: a verifier for the
    /// operator's API `api` (e.g. `https://billing.example.com`), all other defaults.
    pub async fn discover_for_api(issuer: &str, api: &str) -> Result<Verifier, Error> {
        Self::builder(issuer).api_identifier(api).discover().await
    }

    /// Options: API identifier, leeway, refetch interval, introspection credentials,
    /// resource metadata URL, HTTP client.
    pub fn builder(issuer: impl Into<String>) -> VerifierBuilder {
        VerifierBuilder {
            issuer: issuer.into(),
            audience: None,
            audience_is_identifier: false,
            resource_metadata_url: None,
            leeway: DEFAULT_LEEWAY,
            min_interval: DEFAULT_JWKS_REFRESH_MIN_INTERVAL,
            max_age: DEFAULT_JWKS_MAX_AGE,
            credentials: None,
            cache_ttl: DEFAULT_INTROSPECTION_CACHE_TTL,
            cache_capacity: DEFAULT_INTROSPECTION_CACHE_CAPACITY,
            http: None,
            dpop_nonces: None,
        }
    }

    /// The DPoP nonce to hand out now (`DPoP-Nonce`, RFC 9449 §9), when this verifier
    /// requires nonces: a resource server may send it on any response so the client's next
    /// proof carries it.
    pub fn dpop_nonce(&self) -> Option<String> {
        self.inner
            .dpop_nonces
            .as_ref()
            .map(|n| n.nonce(claims::unix_now()))
    }

    /// The issuer this verifier trusts.
    pub fn issuer(&self) -> &str {
        &self.inner.issuer
    }

    /// The API identifier tokens' `aud` must contain (the issuer unless configured).
    pub fn audience(&self) -> &str {
        &self.inner.audience
    }

    /// The API identifier this verifier protects; the same as [`audience`](Self::audience).
    pub fn api_identifier(&self) -> &str {
        &self.inner.audience
    }

    /// The RFC 9728 metadata URL advertised in challenges, if configured.
    pub fn resource_metadata_url(&self) -> Option<&str> {
        self.inner.resource_metadata_url.as_deref()
    }

    /// The RFC 9728 protected resource metadata for this verifier's API: `resource` is the
    /// API identifier, `authorization_servers` the issuer, `bearer_methods_supported`
    /// `["header"]`. Add `scopes_supported` and `resource_name` with its builder methods.
    pub fn resource_metadata(&self) -> ResourceMetadata {
        ResourceMetadata::new(&self.inner.audience, &self.inner.issuer)
    }

    /// The `WWW-Authenticate` value for a refusal (RFC 6750 §3), with
    /// `resource_metadata="<url>"` (RFC 9728 §5.1) when
    /// [`resource_metadata_url`](VerifierBuilder::resource_metadata_url) was configured.
    pub fn www_authenticate(&self, error: &VerifyError) -> String {
        error.www_authenticate_with(self.resource_metadata_url())
    }

    /// Verify a bearer credential: an API key (secret `sk_…` or restricted `rk_…`) by
    /// introspection, anything else as a JWT access token.
    ///
    /// An API key's `aud` is checked only when introspection answers one (keys are not
    /// bound to one API; a key's scopes say what it may do, so check them).
    pub async fn verify(&self, token: &str) -> Result<Claims, VerifyError> {
        if is_api_key(token) {
            self.verify_api_key(token).await
        } else {
            self.verify_jwt(token).await
        }
    }

    /// Verify an API key at the introspection endpoint (cached briefly).
    pub async fn verify_api_key(&self, key: &str) -> Result<Claims, VerifyError> {
        let Some(i) = &self.inner.introspection else {
            return Err(InvalidToken::ApiKeysNotAccepted.into());
        };
        let claims = i.check(&self.inner.http, &self.inner.issuer, key).await?;
        // RFC 7662 §2.2: `aud`, when the authorization server answers one, must name us.
        match claims.raw.get("aud") {
            None | Some(serde_json::Value::Null) => Ok(claims),
            Some(aud) if jwt::audience_contains(aud, &self.inner.audience) == Some(true) => {
                Ok(claims)
            }
            Some(_) => Err(InvalidToken::WrongAudience.into()),
        }
    }

    /// Verify a JWT access token locally (RFC 9068 §4), presented as a Bearer token: a
    /// DPoP-bound token (with `cnf.jkt`) is refused here (RFC 9449 §7.2); see
    /// [`verify_dpop`](Self::verify_dpop).
    pub async fn verify_jwt(&self, token: &str) -> Result<Claims, VerifyError> {
        let claims = self.verify_jwt_any(token).await?;
        if dpop_jkt(&claims).is_some() {
            return Err(InvalidToken::DpopBound.into());
        }
        Ok(claims)
    }

    async fn verify_jwt_any(&self, token: &str) -> Result<Claims, VerifyError> {
        let parts = jwt::split(token)?;
        let key = self.key_for(&parts.kid).await?;
        jwt::verify(&parts, &key, self)
    }

    /// Verify a DPoP-bound access token sent as `Authorization: DPoP <token>` with its
    /// `DPoP` proof header (RFC 9449 §7.1): the token as [`verify_jwt`](Self::verify_jwt)
    /// does; then the proof (`typ`, asymmetric `alg`, public `jwk`, signature, `htm` =
    /// `method`, `htu` = `url` without query and fragment, `iat` within
    /// [`DPOP_PROOF_MAX_AGE`], `ath` = the token's hash), its key must be the token's
    /// `cnf.jkt`, its server nonce fresh when [`VerifierBuilder::dpop_nonces`] asks for
    /// them, and its `jti` unused in this process. Answer refusals with
    /// [`VerifyError::dpop_challenge`] (and `DPoP-Nonce: `[`VerifyError::dpop_nonce`]).
    pub async fn verify_dpop(
        &self,
        token: &str,
        proof: Option<&str>,
        method: &str,
        url: &str,
    ) -> Result<Claims, VerifyError> {
        let claims = self.verify_jwt_any(token).await?;
        let Some(jkt) = dpop_jkt(&claims) else {
            return Err(InvalidToken::NotDpopBound.into());
        };
        let proof = proof.ok_or_else(|| {
            VerifyError::InvalidDpopProof("A DPoP proof is required with a DPoP token".into())
        })?;
        let now = claims::unix_now();
        let max_future = self.inner.leeway.min(5);
        let expect = dpop::Expect {
            method,
            url,
            access_token: Some(token),
            now,
            max_age: DPOP_PROOF_MAX_AGE,
            max_future,
        };
        let invalid = |e: dpop::ProofError| VerifyError::InvalidDpopProof(e.to_string());
        let p = self
            .inner
            .dpop_headers
            .verify(proof, &expect)
            .map_err(invalid)?;
        if p.jkt != jkt {
            return Err(VerifyError::InvalidDpopProof(
                "The DPoP proof is signed by another key than the token is bound to".into(),
            ));
        }
        // §9: a nonce this resource server handed out, current or previous step. Checked
        // before the `jti` is recorded, so the client's retry with the nonce may reuse
        // nothing but is not refused as a replay either (it is a new proof).
        if let Some(n) = &self.inner.dpop_nonces
            && !p.nonce.as_deref().is_some_and(|x| n.is_fresh(x, now))
        {
            return Err(VerifyError::UseDpopNonce(n.nonce(now)));
        }
        let until = p.iat + DPOP_PROOF_MAX_AGE + max_future + 1;
        self.inner
            .dpop_replay
            .check_and_insert(&p, now, until)
            .map_err(invalid)?;
        Ok(claims)
    }

    fn keys(&self) -> Arc<KeySet> {
        self.inner
            .keys
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The key for `kid`, refetching the JWKS when it is stale or `kid` is unknown.
    async fn key_for(&self, kid: &str) -> Result<Arc<PinnedKey>, VerifyError> {
        let mut set = self.keys();
        if set.fetched_at.elapsed() >= self.inner.max_age {
            // Stale: one caller refreshes; the others carry on with the keys they have.
            if let Ok(mut last) = self.inner.refetch.try_lock()
                && last.is_none_or(|t| t.elapsed() >= self.inner.min_interval)
            {
                *last = Some(Instant::now());
                let _ = self.refresh().await;
            }
            set = self.keys();
        }
        if let Some(k) = set.keys.get(kid) {
            return Ok(k.clone());
        }
        // Unknown kid (a rotation, or garbage): at most one refetch per interval, and
        // callers arriving meanwhile wait for it instead of fetching again.
        let mut last = self.inner.refetch.lock().await;
        if let Some(k) = self.keys().keys.get(kid) {
            return Ok(k.clone());
        }
        if last.is_some_and(|t| t.elapsed() < self.inner.min_interval) {
            return Err(InvalidToken::UnknownKey.into());
        }
        *last = Some(Instant::now());
        self.refresh().await?;
        self.keys()
            .keys
            .get(kid)
            .cloned()
            .ok_or(InvalidToken::UnknownKey.into())
    }

    async fn refresh(&self) -> Result<(), VerifyError> {
        let body = fetch(&self.inner.http, &self.inner.jwks_uri)
            .await
            .map_err(|e| VerifyError::Unavailable(e.to_string()))?;
        let set = jwks::parse(&body).map_err(|e| VerifyError::Unavailable(e.to_string()))?;
        *self.inner.keys.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(set);
        Ok(())
    }
}

/// The root README's resource-server program, compiled as a doc-test so it cannot rot.
#[cfg(all(doctest, feature = "actix"))]
#[doc = include_str!("../../README.md")]
mod root_readme {}
