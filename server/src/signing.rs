//! JWS signing keys: generation, encryption at rest, rotation, JWKS, and signing/verifying
//! access tokens (RFC 9068) on the hot path.
//!
//! Keys live in the database (private keys sealed with the master key), so every instance
//! signs with the same key. Each instance keeps the parsed key pairs in memory and reloads
//! the ring every [`RELOAD_EVERY`]; signing picks the newest key whose `active_from` has
//! passed, so a rotated key takes over at the same instant everywhere provided it was
//! published at least one reload interval earlier (`LATCH_KEY_PREPUBLISH`).
//! Signing is done here with aws-lc-rs on pre-parsed keys (jsonwebtoken re-parses the
//! PKCS#8 document on every call; see DEPS.md "Speed").

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RSA_PKCS1_SHA256,
};
use aws_lc_rs::{encoding::AsDer, hmac, rsa};
use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::crypto::{Sealer, b64url};
use crate::store;
use crate::store::{Db, StoreError};

/// JWS algorithms Latch can sign access tokens with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SigningAlg {
    ES256,
    RS256,
    EdDSA,
    HS256,
}

impl SigningAlg {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "ES256" => Some(Self::ES256),
            "RS256" => Some(Self::RS256),
            "EdDSA" => Some(Self::EdDSA),
            "HS256" => Some(Self::HS256),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ES256 => "ES256",
            Self::RS256 => "RS256",
            Self::EdDSA => "EdDSA",
            Self::HS256 => "HS256",
        }
    }
}

pub const RELOAD_EVERY: Duration = Duration::from_secs(30);
/// How long a verifier may cache the JWKS document (its `Cache-Control: max-age`; also
/// `latch-verify`'s default).
pub const JWKS_MAX_AGE: Duration = Duration::from_secs(300);
/// The shortest `LATCH_KEY_PREPUBLISH`: a new key must reach every instance's ring (one
/// reload interval) and then every verifier's cached JWKS (one max-age) before any instance
/// signs with it; shorter, and tokens signed by one instance fail where the key is not yet
/// known (issue #16, defect 4: 380 of 3,315 tokens failed for ~15 s with 0).
pub const MIN_PREPUBLISH: Duration =
    Duration::from_secs(RELOAD_EVERY.as_secs() + JWKS_MAX_AGE.as_secs());
/// How long a successfully verified access token is remembered (see `verify_access`).
pub const VERIFIED_TTL: Duration = Duration::from_secs(60);

/// The verified-token cache's bound, in (estimated) bytes: about 5 000 typical ES256 access
/// tokens. It was 100 000 entries, and an entry (the token's text, its claims, moka's own
/// bookkeeping) is 1–2 KB: a resource server introspecting many distinct tokens could have
/// filled 100–200 MB (issue #16). Past the bound, a token costs one signature check again.
pub const VERIFIED_CACHE_BYTES: u64 = 8 << 20;

/// What one verified-token entry holds, roughly: the key (the token's text), the claims
/// (decoded from the token's payload, so no larger than its text), and ~256 bytes of
/// allocation and cache overhead.
fn verified_weight(token: &str) -> u32 {
    u32::try_from(token.len().saturating_mul(2).saturating_add(256)).unwrap_or(u32::MAX)
}

/// Access tokens this signer verified, by their text (see `verify_access`). One per
/// signer, so two app instances in one process (the tests run many) never share it.
fn verified_cache() -> moka::sync::Cache<String, Arc<AccessClaims>> {
    moka::sync::Cache::builder()
        .max_capacity(VERIFIED_CACHE_BYTES)
        .weigher(|token: &String, _: &Arc<AccessClaims>| verified_weight(token))
        .time_to_live(VERIFIED_TTL)
        .build()
}
/// Clock-skew leeway when verifying `exp`/`nbf`/`iat` (RFC 7519 §4.1.4).
pub const LEEWAY_SECS: u64 = 30;

enum SignKey {
    Es256(EcdsaKeyPair),
    Rs256(rsa::KeyPair),
    EdDsa(Ed25519KeyPair),
    // Boxed: an HMAC key context is ~1.2 KB, the others are pointers.
    Hs256(Box<hmac::Key>),
}

/// A key that can sign, with its JWS header pre-encoded.
pub struct ActiveKey {
    pub kid: String,
    pub alg: SigningAlg,
    active_from: DateTime<Utc>,
    header_b64: String,
    /// Header for ID tokens (`typ: JWT`).
    id_header_b64: String,
    key: SignKey,
}

impl ActiveKey {
    fn sign_input(&self, input: &[u8]) -> Result<Vec<u8>, anyhow::Error> {
        Ok(match &self.key {
            SignKey::Es256(k) => k
                .sign(&SystemRandom::new(), input)
                .map_err(|_| anyhow::anyhow!("ECDSA signing failed"))?
                .as_ref()
                .to_vec(),
            SignKey::Rs256(k) => {
                let mut sig = vec![0u8; k.public_modulus_len()];
                k.sign(&RSA_PKCS1_SHA256, &SystemRandom::new(), input, &mut sig)
                    .map_err(|_| anyhow::anyhow!("RSA signing failed"))?;
                sig
            }
            SignKey::EdDsa(k) => k.sign(input).as_ref().to_vec(),
            SignKey::Hs256(k) => hmac::sign(k, input).as_ref().to_vec(),
        })
    }

    /// Compact JWS over `claims` with this key's access-token header (`typ: at+jwt`).
    pub fn sign_access(&self, claims: &impl Serialize) -> Result<String, anyhow::Error> {
        self.sign_with(&self.header_b64, claims)
    }

    /// Compact JWS with another `typ` (RFC 9701 §5: `token-introspection+jwt`); the header
    /// is built per call, as these are rare.
    pub fn sign_typed(&self, typ: &str, claims: &impl Serialize) -> Result<String, anyhow::Error> {
        self.sign_with(&header_b64(&self.kid, self.alg, typ), claims)
    }

    /// Compact JWS with `typ: JWT` (OpenID Connect ID tokens).
    pub fn sign_id(&self, claims: &impl Serialize) -> Result<String, anyhow::Error> {
        self.sign_with(&self.id_header_b64, claims)
    }

    fn sign_with(
        &self,
        header_b64: &str,
        claims: &impl Serialize,
    ) -> Result<String, anyhow::Error> {
        let payload = serde_json::to_vec(claims)?;
        let mut out = String::with_capacity(header_b64.len() + payload.len() * 4 / 3 + 100);
        out.push_str(header_b64);
        out.push('.');
        out.push_str(&b64url(&payload));
        let sig = self.sign_input(out.as_bytes())?;
        out.push('.');
        out.push_str(&b64url(&sig));
        Ok(out)
    }
}

struct Verifier {
    alg: Algorithm,
    key: DecodingKey,
}

struct Ring {
    /// Keys that may sign, newest `active_from` first.
    signers: Vec<Arc<ActiveKey>>,
    verifiers: HashMap<String, Arc<Verifier>>,
    jwks: Arc<serde_json::Value>,
}

/// The shared key ring; cheap to clone.
#[derive(Clone)]
pub struct Signer {
    ring: Arc<RwLock<Arc<Ring>>>,
    db: Db,
    sealer: Sealer,
    /// The access-token algorithm (`LATCH_SIGNING_ALG`).
    alg: SigningAlg,
    verified: moka::sync::Cache<String, Arc<AccessClaims>>,
}

/// The `aud` claim (RFC 7519 §4.1.3): one or more API identifiers (RFC 9068 §2.2, RFC 8707
/// §2), a JSON string when there is one and an array otherwise, and read in either form.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Audience(Vec<String>);

impl Audience {
    pub fn new(values: Vec<String>) -> Self {
        Self(values)
    }

    pub fn one(value: impl Into<String>) -> Self {
        Self(vec![value.into()])
    }

    /// RFC 7519 §4.1.3: the recipient must identify itself with a value in the audience.
    pub fn contains(&self, value: &str) -> bool {
        self.0.iter().any(|a| a == value)
    }

    pub fn values(&self) -> &[String] {
        &self.0
    }
}

impl Serialize for Audience {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0.as_slice() {
            [one] => s.serialize_str(one),
            many => many.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for Audience {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Form {
            One(String),
            Many(Vec<String>),
        }
        Ok(match Form::deserialize(d)? {
            Form::One(a) => Self(vec![a]),
            Form::Many(v) => Self(v),
        })
    }
}

/// Which audience a verified access token must have.
#[derive(Clone, Copy, Debug)]
enum AudienceCheck<'a> {
    /// `aud` contains this value (RFC 7519 §4.1.3); time claims checked.
    Contains(&'a str),
    /// Any audience Latch issued (userinfo, introspection); time claims checked.
    Any,
    /// Signature and issuer only (revocation).
    DecodeOnly,
}

/// The claims of a Latch access token (RFC 9068 §2.2).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AccessClaims {
    pub iss: String,
    pub sub: String,
    pub aud: Audience,
    pub exp: i64,
    pub iat: i64,
    pub nbf: i64,
    pub jti: String,
    pub client_id: String,
    pub scope: String,
    pub livemode: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<i64>,
    /// RFC 8693 §4.1: who acts for `sub`, on a token issued by token exchange (nested
    /// `act` members are the earlier actors of a chain).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub act: Option<serde_json::Value>,
    /// RFC 9449 §6.1: the DPoP key the token is bound to (`{"jkt": thumbprint}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cnf: Option<Confirmation>,
}

/// RFC 7800 §3.1 `cnf`, with RFC 9449 §6.1's `jkt` member.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Confirmation {
    pub jkt: String,
}

impl AccessClaims {
    /// The DPoP key thumbprint this token is bound to, if any.
    pub fn jkt(&self) -> Option<&str> {
        self.cnf.as_ref().map(|c| c.jkt.as_str())
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum VerifyError {
    #[error("The access token expired")]
    Expired,
    #[error("The access token is invalid")]
    Invalid,
}

/// A freshly generated key, ready to insert.
pub struct NewKey {
    pub kid: String,
    pub alg: SigningAlg,
    pub private_der: Vec<u8>,
    pub public_jwk: String,
}

pub fn generate(alg: SigningAlg) -> Result<NewKey, anyhow::Error> {
    let kid = crate::crypto::random_base62(16);
    let unspecified = |_| anyhow::anyhow!("key generation failed");
    let (private_der, jwk) = match alg {
        SigningAlg::ES256 => {
            let kp =
                EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).map_err(unspecified)?;
            let der = kp.to_pkcs8v1().map_err(unspecified)?.as_ref().to_vec();
            let point = kp.public_key().as_ref();
            anyhow::ensure!(
                point.len() == 65 && point[0] == 4,
                "unexpected P-256 point encoding"
            );
            let jwk = json!({"kty":"EC","crv":"P-256","x":b64url(&point[1..33]),"y":b64url(&point[33..65]),
                "kid":kid,"alg":"ES256","use":"sig"});
            (der, jwk)
        }
        SigningAlg::RS256 => {
            let kp = rsa::KeyPair::generate(rsa::KeySize::Rsa2048).map_err(unspecified)?;
            let der = AsDer::<aws_lc_rs::encoding::Pkcs8V1Der>::as_der(&kp)
                .map_err(unspecified)?
                .as_ref()
                .to_vec();
            let pk = kp.public_key();
            let jwk = json!({"kty":"RSA","n":b64url(pk.modulus().big_endian_without_leading_zero()),
                "e":b64url(pk.exponent().big_endian_without_leading_zero()),"kid":kid,"alg":"RS256","use":"sig"});
            (der, jwk)
        }
        SigningAlg::EdDSA => {
            let kp = Ed25519KeyPair::generate().map_err(unspecified)?;
            let der = kp.to_pkcs8v1().map_err(unspecified)?.as_ref().to_vec();
            let jwk = json!({"kty":"OKP","crv":"Ed25519","x":b64url(kp.public_key().as_ref()),
                "kid":kid,"alg":"EdDSA","use":"sig"});
            (der, jwk)
        }
        SigningAlg::HS256 => (crate::crypto::random_bytes(32), serde_json::Value::Null),
    };
    let public_jwk = if jwk.is_null() {
        String::new()
    } else {
        jwk.to_string()
    };
    Ok(NewKey {
        kid,
        alg,
        private_der,
        public_jwk,
    })
}

fn header_b64(kid: &str, alg: SigningAlg, typ: &str) -> String {
    b64url(
        json!({"alg": alg.as_str(), "kid": kid, "typ": typ})
            .to_string()
            .as_bytes(),
    )
}

fn jwt_alg(alg: SigningAlg) -> Algorithm {
    match alg {
        SigningAlg::ES256 => Algorithm::ES256,
        SigningAlg::RS256 => Algorithm::RS256,
        SigningAlg::EdDSA => Algorithm::EdDSA,
        SigningAlg::HS256 => Algorithm::HS256,
    }
}

fn load_key(
    row: &entity::signing_key::Model,
    sealer: &Sealer,
) -> Result<(ActiveKey, Verifier), anyhow::Error> {
    let alg =
        SigningAlg::parse(&row.alg).ok_or_else(|| anyhow::anyhow!("unknown alg {}", row.alg))?;
    let der = sealer.open(&row.private_key_enc, &row.kid).ok_or_else(|| {
        anyhow::anyhow!(
            "signing key {} cannot be decrypted: is LATCH_SECRET_KEY the one it was sealed with?",
            row.kid
        )
    })?;
    let rejected =
        |e: aws_lc_rs::error::KeyRejected| anyhow::anyhow!("signing key {} rejected: {e}", row.kid);
    let jwk: serde_json::Value = if row.public_jwk.is_empty() {
        serde_json::Value::Null
    } else {
        serde_json::from_str(&row.public_jwk)?
    };
    let s = |k: &str| jwk[k].as_str().unwrap_or_default().to_owned();
    let (key, dec) = match alg {
        SigningAlg::ES256 => (
            SignKey::Es256(
                EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &der)
                    .map_err(rejected)?,
            ),
            DecodingKey::from_ec_components(&s("x"), &s("y"))?,
        ),
        SigningAlg::RS256 => (
            SignKey::Rs256(rsa::KeyPair::from_pkcs8(&der).map_err(rejected)?),
            DecodingKey::from_rsa_components(&s("n"), &s("e"))?,
        ),
        SigningAlg::EdDSA => (
            SignKey::EdDsa(Ed25519KeyPair::from_pkcs8(&der).map_err(rejected)?),
            DecodingKey::from_ed_components(&s("x"))?,
        ),
        SigningAlg::HS256 => (
            SignKey::Hs256(Box::new(hmac::Key::new(hmac::HMAC_SHA256, &der))),
            DecodingKey::from_secret(&der),
        ),
    };
    Ok((
        ActiveKey {
            kid: row.kid.clone(),
            alg,
            active_from: row.active_from,
            header_b64: header_b64(&row.kid, alg, "at+jwt"),
            id_header_b64: header_b64(&row.kid, alg, "JWT"),
            key,
        },
        Verifier {
            alg: jwt_alg(alg),
            key: dec,
        },
    ))
}

impl Signer {
    /// Load the ring; when no usable key of the configured algorithm exists, create one
    /// that is active at once (first start, or the operator changed `LATCH_SIGNING_ALG`).
    pub async fn init(
        db: Db,
        sealer: Sealer,
        alg: SigningAlg,
        keep_after: Duration,
    ) -> Result<Self, anyhow::Error> {
        let now = Utc::now();
        let rows = store::signing_keys::usable(&db, now).await?;
        // The access-token algorithm, and RS256 for ID tokens (OpenID Connect Core §15.1:
        // RS256 is what relying parties can always verify).
        let mut needed = vec![alg];
        if alg != SigningAlg::RS256 {
            needed.push(SigningAlg::RS256);
        }
        for a in needed {
            if !rows
                .iter()
                .any(|r| r.active_from <= now && r.alg == a.as_str())
            {
                rotate(&db, &sealer, a, Duration::ZERO, keep_after).await?;
                tracing::info!(alg = a.as_str(), "generated a signing key");
            }
        }
        let signer = Signer {
            ring: Arc::new(RwLock::new(Arc::new(Ring::empty()))),
            db,
            sealer,
            alg,
            verified: verified_cache(),
        };
        signer.reload().await?;
        Ok(signer)
    }

    /// A signer with one freshly generated in-memory key and no database, for benchmarks
    /// and tests of the signing and verification paths.
    pub fn ephemeral(alg: SigningAlg) -> Result<Self, anyhow::Error> {
        let key = generate(alg)?;
        let sealer = Sealer::new(&crate::crypto::random_bytes(32));
        let now = Utc::now() - chrono::Duration::seconds(1);
        let row = entity::signing_key::Model {
            kid: key.kid.clone(),
            alg: alg.as_str().to_owned(),
            private_key_enc: sealer.seal(&key.private_der, &key.kid),
            public_jwk: key.public_jwk.clone(),
            created_at: now,
            active_from: now,
            retired_at: None,
            expires_at: None,
        };
        let (active, verifier) = load_key(&row, &sealer)?;
        let jwks = if key.public_jwk.is_empty() {
            json!({"keys": []})
        } else {
            json!({"keys": [serde_json::from_str::<serde_json::Value>(&key.public_jwk)?]})
        };
        let ring = Ring {
            signers: vec![Arc::new(active)],
            verifiers: HashMap::from([(key.kid, Arc::new(verifier))]),
            jwks: Arc::new(jwks),
        };
        Ok(Signer {
            ring: Arc::new(RwLock::new(Arc::new(ring))),
            db: Db::default(),
            sealer,
            alg,
            verified: verified_cache(),
        })
    }

    pub async fn reload(&self) -> Result<(), anyhow::Error> {
        let now = Utc::now();
        let rows = store::signing_keys::usable(&self.db, now).await?;
        let mut signers = Vec::new();
        let mut verifiers = HashMap::new();
        let mut keys = Vec::new();
        for row in &rows {
            let (active, verifier) = load_key(row, &self.sealer)?;
            if !row.public_jwk.is_empty() {
                keys.push(serde_json::from_str::<serde_json::Value>(&row.public_jwk)?);
            }
            verifiers.insert(row.kid.clone(), Arc::new(verifier));
            signers.push(Arc::new(active));
        }
        signers.sort_by(|a, b| {
            b.active_from
                .cmp(&a.active_from)
                .then_with(|| b.kid.cmp(&a.kid))
        });
        let ring = Ring {
            signers,
            verifiers,
            jwks: Arc::new(json!({ "keys": keys })),
        };
        *self.ring.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(ring);
        Ok(())
    }

    /// Reload the ring in the background so rotations made elsewhere are seen.
    pub fn spawn_reloader(&self) {
        let this = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(RELOAD_EVERY);
            tick.tick().await;
            loop {
                tick.tick().await;
                if let Err(e) = this.reload().await {
                    tracing::warn!(error = ?e, "signing key reload failed; keeping the keys already loaded");
                }
            }
        });
    }

    fn ring(&self) -> Arc<Ring> {
        self.ring.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The key that signs access tokens now: the newest of the configured algorithm whose
    /// `active_from` has passed.
    pub fn current(&self) -> Option<Arc<ActiveKey>> {
        self.current_of(self.alg)
    }

    /// The current key of a given algorithm (ID tokens may need RS256).
    pub fn current_of(&self, alg: SigningAlg) -> Option<Arc<ActiveKey>> {
        let now = Utc::now();
        self.ring()
            .signers
            .iter()
            .find(|k| k.active_from <= now && k.alg == alg)
            .cloned()
    }

    pub fn jwks(&self) -> Arc<serde_json::Value> {
        self.ring().jwks.clone()
    }

    /// Verify a Latch access token (RFC 9068 §4): the algorithm comes from our key for
    /// the `kid`, never from the header (RFC 8725 §3.1); `typ` must be `at+jwt`;
    /// `iss`, `exp`, `nbf` are checked with a small leeway, and `aud` must contain
    /// `audience` (RFC 9068 §4 step 3; it may hold several APIs, RFC 8707 §2).
    pub fn verify_access(
        &self,
        token: &str,
        issuer: &str,
        audience: &str,
    ) -> Result<AccessClaims, VerifyError> {
        self.verify_cached(token, issuer, AudienceCheck::Contains(audience))
    }

    /// [`Signer::verify_access`] accepting whatever audience the token names: for
    /// Latch's own endpoints that serve every API's tokens (userinfo, introspection).
    pub fn verify_access_any_audience(
        &self,
        token: &str,
        issuer: &str,
    ) -> Result<AccessClaims, VerifyError> {
        self.verify_cached(token, issuer, AudienceCheck::Any)
    }

    fn verify_cached(
        &self,
        token: &str,
        issuer: &str,
        audience: AudienceCheck<'_>,
    ) -> Result<AccessClaims, VerifyError> {
        // A token verified once is remembered (until it expires, at most VERIFIED_TTL), so
        // a resource server asking about the same token again costs no signature check.
        // Time-based claims and the audience are checked again on every use; revocation
        // is the deny list's job.
        let now = Utc::now().timestamp();
        if let Some(c) = self.verified.get(token) {
            let leeway = LEEWAY_SECS as i64;
            if c.exp + leeway < now {
                return Err(VerifyError::Expired);
            }
            if c.iss == issuer && c.nbf <= now + leeway {
                return match audience {
                    AudienceCheck::Contains(a) if !c.aud.contains(a) => Err(VerifyError::Invalid),
                    _ => Ok(c.as_ref().clone()),
                };
            }
        }
        let claims = self.verify_inner(token, issuer, audience)?;
        self.verified
            .insert(token.to_owned(), Arc::new(claims.clone()));
        Ok(claims)
    }

    /// Our signature and issuer, whatever the expiry (revocation of an expired token is a
    /// no-op, not an error).
    pub fn decode_access_ignoring_expiry(&self, token: &str, issuer: &str) -> Option<AccessClaims> {
        self.verify_inner(token, issuer, AudienceCheck::DecodeOnly)
            .ok()
    }

    fn verify_inner(
        &self,
        token: &str,
        issuer: &str,
        audience: AudienceCheck<'_>,
    ) -> Result<AccessClaims, VerifyError> {
        if token.len() > 8192 || token.split('.').count() != 3 {
            return Err(VerifyError::Invalid);
        }
        let header = jsonwebtoken::decode_header(token).map_err(|_| VerifyError::Invalid)?;
        if header.typ.as_deref() != Some("at+jwt") {
            return Err(VerifyError::Invalid);
        }
        let kid = header.kid.ok_or(VerifyError::Invalid)?;
        let v = self
            .ring()
            .verifiers
            .get(&kid)
            .cloned()
            .ok_or(VerifyError::Invalid)?;
        if header.alg != v.alg {
            return Err(VerifyError::Invalid);
        }
        let mut validation = Validation::new(v.alg);
        validation.leeway = LEEWAY_SECS;
        validation.validate_nbf = true;
        validation.set_issuer(&[issuer]);
        // jsonwebtoken accepts `aud` as a string or an array and checks that it contains
        // one of the expected values.
        match audience {
            AudienceCheck::Contains(aud) => validation.set_audience(&[aud]),
            AudienceCheck::Any => validation.validate_aud = false,
            AudienceCheck::DecodeOnly => {
                validation.validate_aud = false;
                validation.validate_exp = false;
                validation.validate_nbf = false;
            }
        }
        validation.set_required_spec_claims(&["exp", "iat", "nbf", "iss", "aud", "sub"]);
        match jsonwebtoken::decode::<AccessClaims>(token, &v.key, &validation) {
            Ok(data) => {
                let now = Utc::now().timestamp();
                if !matches!(audience, AudienceCheck::DecodeOnly)
                    && data.claims.iat > now + LEEWAY_SECS as i64
                {
                    return Err(VerifyError::Invalid);
                }
                Ok(data.claims)
            }
            Err(e) if matches!(e.kind(), jsonwebtoken::errors::ErrorKind::ExpiredSignature) => {
                Err(VerifyError::Expired)
            }
            Err(_) => Err(VerifyError::Invalid),
        }
    }
}

impl Ring {
    fn empty() -> Self {
        Ring {
            signers: Vec::new(),
            verifiers: HashMap::new(),
            jwks: Arc::new(json!({"keys": []})),
        }
    }
}

/// Create a key that starts signing after `prepublish`; the key signing now is retired at
/// that moment and leaves JWKS once every token it signed has expired (`keep_after`).
pub async fn rotate(
    db: &Db,
    sealer: &Sealer,
    alg: SigningAlg,
    prepublish: Duration,
    keep_after: Duration,
) -> Result<NewKeyInfo, anyhow::Error> {
    let key = tokio::task::spawn_blocking(move || generate(alg)).await??;
    let now = Utc::now();
    let active_from = now + chrono::Duration::from_std(prepublish)?;
    let retire_expires = active_from + chrono::Duration::from_std(keep_after)?;
    let sealed = sealer.seal(&key.private_der, &key.kid);
    store::signing_keys::insert_and_retire(
        db,
        &key.kid,
        alg.as_str(),
        &sealed,
        &key.public_jwk,
        now,
        active_from,
        retire_expires,
    )
    .await
    .map_err(|e: StoreError| anyhow::anyhow!(e))?;
    Ok(NewKeyInfo {
        kid: key.kid,
        alg,
        active_from,
    })
}

#[derive(Debug, Serialize)]
pub struct NewKeyInfo {
    pub kid: String,
    #[serde(serialize_with = "ser_alg")]
    pub alg: SigningAlg,
    pub active_from: DateTime<Utc>,
}

fn ser_alg<S: serde::Serializer>(a: &SigningAlg, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(a.as_str())
}

/// What an `id_token_hint` (OIDC RP-Initiated Logout 1.0 §2) tells: whom it was issued to
/// and about, and the session it named.
#[derive(Debug, Clone)]
pub struct IdTokenHint {
    pub sub: String,
    /// `aud`: the client(s) it was issued to.
    pub aud: Vec<String>,
    pub sid: Option<String>,
}

impl Signer {
    /// An ID token this server signed, as an `id_token_hint` (RP-Initiated Logout §2): our
    /// key by `kid` and that key's algorithm (never the header's choice, RFC 8725 §3.1), our
    /// `iss`, `sub` and `aud` present; **expiry is not checked** (§2: the OP should accept an
    /// expired hint; a sign-out request is often made long after the ID token's `exp`). An
    /// access token (`typ: at+jwt`) or a logout token is refused: only `typ: JWT` or none.
    /// `None` for anything else, including a token signed by a key no longer published.
    pub fn verify_id_token_hint(&self, token: &str, issuer: &str) -> Option<IdTokenHint> {
        if token.len() > 8192 || token.split('.').count() != 3 {
            return None;
        }
        let header = jsonwebtoken::decode_header(token).ok()?;
        if !matches!(header.typ.as_deref(), None | Some("JWT")) {
            return None;
        }
        let v = self.ring().verifiers.get(&header.kid?)?.clone();
        if header.alg != v.alg {
            return None;
        }
        let mut validation = Validation::new(v.alg);
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        validation.set_issuer(&[issuer]);
        validation.set_required_spec_claims(&["iss", "sub", "aud"]);
        let data = jsonwebtoken::decode::<serde_json::Value>(token, &v.key, &validation).ok()?;
        let c = data.claims;
        let aud = match &c["aud"] {
            serde_json::Value::String(s) => vec![s.clone()],
            serde_json::Value::Array(a) => a
                .iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect(),
            _ => return None,
        };
        Some(IdTokenHint {
            sub: c["sub"].as_str()?.to_owned(),
            aud,
            sid: c["sid"].as_str().map(str::to_owned),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring_for(alg: SigningAlg) -> (ActiveKey, Verifier) {
        let k = generate(alg).unwrap();
        let sealer = Sealer::new(&[1u8; 32]);
        let now = Utc::now();
        let row = entity::signing_key::Model {
            kid: k.kid.clone(),
            alg: alg.as_str().into(),
            private_key_enc: sealer.seal(&k.private_der, &k.kid),
            public_jwk: k.public_jwk,
            created_at: now,
            active_from: now,
            retired_at: None,
            expires_at: None,
        };
        load_key(&row, &sealer).unwrap()
    }

    #[test]
    fn every_algorithm_signs_what_jsonwebtoken_verifies() {
        for alg in [
            SigningAlg::ES256,
            SigningAlg::RS256,
            SigningAlg::EdDSA,
            SigningAlg::HS256,
        ] {
            let (k, v) = ring_for(alg);
            let now = Utc::now().timestamp();
            let claims = json!({"iss":"i","aud":"a","sub":"s","exp":now+60,"iat":now,"nbf":now});
            let jwt = k.sign_access(&claims).unwrap();
            let header = jsonwebtoken::decode_header(&jwt).unwrap();
            assert_eq!(header.typ.as_deref(), Some("at+jwt"));
            assert_eq!(header.kid.as_deref(), Some(k.kid.as_str()));
            let mut val = Validation::new(v.alg);
            val.set_audience(&["a"]);
            jsonwebtoken::decode::<serde_json::Value>(&jwt, &v.key, &val).unwrap();
        }
    }

    #[test]
    fn audience_is_a_string_for_one_and_an_array_for_several() {
        let one = Audience::one("https://a");
        assert_eq!(serde_json::to_value(&one).unwrap(), json!("https://a"));
        let two = Audience::new(vec!["https://a".into(), "https://b".into()]);
        assert_eq!(
            serde_json::to_value(&two).unwrap(),
            json!(["https://a", "https://b"])
        );
        let back: Audience = serde_json::from_value(json!("https://a")).unwrap();
        assert_eq!(back, one);
        let back: Audience = serde_json::from_value(json!(["https://a", "https://b"])).unwrap();
        assert!(back.contains("https://b") && !back.contains("https://c"));
    }

    #[test]
    fn verify_access_wants_the_audience_among_several() {
        let signer = Signer::ephemeral(SigningAlg::ES256).unwrap();
        let key = signer.current().unwrap();
        let now = Utc::now().timestamp();
        let claims = json!({"iss":"i","aud":["https://a","https://b"],"sub":"s","exp":now+60,
            "iat":now,"nbf":now,"jti":"j","client_id":"c","scope":"x","livemode":true});
        let jwt = key.sign_access(&claims).unwrap();
        assert_eq!(
            signer.verify_access(&jwt, "i", "https://c").unwrap_err(),
            VerifyError::Invalid
        );
        assert!(signer.verify_access(&jwt, "i", "https://b").is_ok());
        // From the verified-token cache now: the audience is still checked.
        assert_eq!(
            signer.verify_access(&jwt, "i", "https://c").unwrap_err(),
            VerifyError::Invalid
        );
        assert!(signer.verify_access_any_audience(&jwt, "i").is_ok());
    }

    mod prop {
        use super::super::*;
        use crate::crypto::b64url;
        use proptest::prelude::*;
        use std::sync::LazyLock;

        /// One signer per algorithm, made once (RSA key generation is slow).
        static SIGNERS: LazyLock<Vec<Signer>> = LazyLock::new(|| {
            [
                SigningAlg::ES256,
                SigningAlg::RS256,
                SigningAlg::EdDSA,
                SigningAlg::HS256,
            ]
            .into_iter()
            .map(|a| Signer::ephemeral(a).unwrap())
            .collect()
        });

        fn signed(signer: &Signer) -> String {
            let now = Utc::now().timestamp();
            let claims = json!({"iss":"i","aud":"a","sub":"s","exp":now+600,"iat":now,"nbf":now,
                "jti":"j","client_id":"c","scope":"x","livemode":true});
            signer.current().unwrap().sign_access(&claims).unwrap()
        }

        fn verifies(signer: &Signer, token: &str) -> bool {
            signer.verify_access(token, "i", "a").is_ok()
                || signer.verify_access_any_audience(token, "i").is_ok()
                || signer.decode_access_ignoring_expiry(token, "i").is_some()
        }

        /// JSON values of every kind, with the strings a header would hold.
        fn json_value() -> impl Strategy<Value = serde_json::Value> {
            let leaf = prop_oneof![
                Just(serde_json::Value::Null),
                any::<bool>().prop_map(serde_json::Value::from),
                any::<i64>().prop_map(serde_json::Value::from),
                any::<f64>().prop_map(|f| json!(f)),
                prop::sample::select(vec![
                    "at+jwt", "JWT", "none", "ES256", "RS256", "HS256", "EdDSA", "i", "a", "s", ""
                ])
                .prop_map(serde_json::Value::from),
                any::<String>().prop_map(serde_json::Value::from),
            ];
            leaf.prop_recursive(3, 16, 4, |inner| {
                prop_oneof![
                    prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
                    prop::collection::hash_map("[a-z]{1,4}", inner, 0..4)
                        .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
                ]
            })
        }

        /// A header built from the fields a verifier reads, our key's `kid` among them.
        fn header(kids: Vec<String>) -> impl Strategy<Value = serde_json::Value> {
            (
                prop::option::of(prop::sample::select(vec![
                    "ES256", "RS256", "EdDSA", "HS256", "none", "none ", "HS512",
                ])),
                prop::option::of(prop::sample::select(vec!["at+jwt", "JWT", "AT+JWT"])),
                prop::option::of(prop::sample::select(kids)),
                prop::collection::hash_map("[a-z]{1,4}", json_value(), 0..3),
            )
                .prop_map(|(alg, typ, kid, extra)| {
                    let mut h: serde_json::Map<String, serde_json::Value> =
                        extra.into_iter().collect();
                    if let Some(a) = alg {
                        h.insert("alg".into(), a.into());
                    }
                    if let Some(t) = typ {
                        h.insert("typ".into(), t.into());
                    }
                    if let Some(k) = kid {
                        h.insert("kid".into(), k.into());
                    }
                    serde_json::Value::Object(h)
                })
        }

        fn claims() -> impl Strategy<Value = serde_json::Value> {
            let now = Utc::now().timestamp();
            prop_oneof![
                json_value(),
                Just(
                    json!({"iss":"i","aud":"a","sub":"s","exp":now+600,"iat":now,"nbf":now,
                    "jti":"j","client_id":"c","scope":"x","livemode":true})
                ),
            ]
        }

        proptest! {
            #![proptest_config(hostile_config!())]

            /// Any string never panics and never verifies.
            #[test]
            fn prop_arbitrary_strings_never_verify(s in any::<String>(), dotted in "[A-Za-z0-9_=.-]{0,200}") {
                for signer in SIGNERS.iter() {
                    prop_assert!(!verifies(signer, &s));
                    prop_assert!(!verifies(signer, &dotted));
                }
            }

            /// Arbitrary headers (our `kid`, `alg: none`, a wrong `typ`…), arbitrary claims
            /// and arbitrary signatures never verify (RFC 8725 §3.1: the algorithm is ours).
            #[test]
            fn prop_forged_tokens_never_verify(
                which in 0..4usize,
                h in header(SIGNERS.iter().map(|s| s.current().unwrap().kid.clone()).chain(["x".to_owned()]).collect()),
                c in claims(),
                sig in prop::collection::vec(any::<u8>(), 0..300),
                raw_segments in prop::option::of(("[A-Za-z0-9_-]{0,40}", "[A-Za-z0-9_-]{0,40}")),
            ) {
                let signer = &SIGNERS[which];
                let (hs, cs) = match raw_segments {
                    Some((a, b)) => (a, b),
                    None => (b64url(h.to_string().as_bytes()), b64url(c.to_string().as_bytes())),
                };
                for token in [
                    format!("{hs}.{cs}.{}", b64url(&sig)),
                    format!("{hs}.{cs}."),
                    format!("{hs}.{cs}"),
                ] {
                    prop_assert!(!verifies(signer, &token), "{token}");
                }
            }

            /// A token we signed, with any one character changed, never verifies.
            #[test]
            fn prop_a_changed_character_never_verifies(
                which in 0..4usize,
                i in any::<prop::sample::Index>(),
                c in prop_oneof![any::<char>(), prop::char::range('-', 'z')],
            ) {
                let signer = &SIGNERS[which];
                let token = signed(signer);
                prop_assert!(verifies(signer, &token));
                let mut chars: Vec<char> = token.chars().collect();
                let i = i.index(chars.len());
                prop_assume!(chars[i] != c);
                chars[i] = c;
                let bad: String = chars.into_iter().collect();
                prop_assert!(!verifies(signer, &bad), "{alg}: {bad}", alg = signer.alg.as_str());
            }
        }
    }
}
