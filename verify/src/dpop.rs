//! DPoP proofs (RFC 9449): parsing and checking one `DPoP` header (§4.2, §4.3), the JWK
//! SHA-256 thumbprint that names the key (RFC 7638, `jkt`, §6.1), `ath` (§4.2), and a small
//! in-memory replay cache for `jti` (§11.1). Pure: no I/O, no clock of its own (the caller
//! passes `now`), so the authorization server and resource servers share one parser.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use base64::Engine;
use jsonwebtoken::Algorithm;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// The proof algorithms accepted (RFC 9449 §4.3 step 5: asymmetric only, never `none` or a
/// MAC); published as `dpop_signing_alg_values_supported` (§5.1) and in `algs` (§7.1).
pub const SIGNING_ALGS: &[&str] = &[
    "ES256", "ES384", "EdDSA", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512",
];

/// The longest proof looked at: a proof with an RSA-4096 `jwk` is about 1.5 KiB.
pub const MAX_PROOF_LEN: usize = 8 * 1024;

/// The longest `jti` kept (RFC 9449 §4.2 asks for at least 96 bits of randomness; a
/// longer value only costs the replay cache).
pub const MAX_JTI_LEN: usize = 256;

/// JWK members that hold private key material (RFC 7518 §6.2.2, §6.3.2, §6.4.1; RFC 8037
/// §2): a proof's `jwk` must be public only (RFC 9449 §4.3 step 7).
const PRIVATE_MEMBERS: &[&str] = &["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// What a proof must match, from the request it came with.
#[derive(Clone, Copy, Debug)]
pub struct Expect<'a> {
    /// The HTTP method (`htm`, §4.3 step 8).
    pub method: &'a str,
    /// The URL of the request, query and fragment ignored (`htu`, §4.3 step 9).
    pub url: &'a str,
    /// The access token presented with the proof at a resource (`ath`, §4.3 step 10);
    /// `None` at the token endpoint, where `ath` is not checked.
    pub access_token: Option<&'a str>,
    /// Now, in seconds since the epoch.
    pub now: i64,
    /// How old `iat` may be, in seconds (§4.3 step 11, §11.1).
    pub max_age: i64,
    /// How far in the future `iat` may be, in seconds (clock skew).
    pub max_future: i64,
}

/// A proof that passed every check of [`verify`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Proof {
    /// The RFC 7638 SHA-256 thumbprint of the proof's key, base64url (`cnf.jkt`, §6.1).
    pub jkt: String,
    pub jti: String,
    pub iat: i64,
    /// The server nonce the proof carries (§8), not yet checked: the caller knows its nonces.
    pub nonce: Option<String>,
}

/// Why a proof was refused. Every variant is `invalid_dpop_proof` (§5, §7.1); the text is
/// safe to show (it never echoes the proof).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    #[error("The DPoP proof is not a compact JWS")]
    Malformed,
    #[error("The DPoP proof's typ must be dpop+jwt")]
    Type,
    #[error("The DPoP proof names critical header parameters (crit) that are not understood")]
    Critical,
    #[error("The DPoP proof's alg must be one of {}", SIGNING_ALGS.join(" "))]
    Algorithm,
    #[error("The DPoP proof's jwk is missing, private or does not suit alg")]
    Key,
    #[error("The DPoP proof's signature does not verify with its jwk")]
    Signature,
    #[error("The DPoP proof's htm does not match the request method")]
    Method,
    #[error("The DPoP proof's htu does not match the request URL")]
    Url,
    #[error("The DPoP proof's iat is too old or in the future")]
    Time,
    #[error("The DPoP proof has no jti")]
    Jti,
    #[error("The DPoP proof's ath does not match the access token")]
    AccessTokenHash,
    #[error("The DPoP proof was already used")]
    Replayed,
}

#[derive(serde::Deserialize)]
struct Claims {
    jti: Option<String>,
    htm: Option<String>,
    htu: Option<String>,
    /// A NumericDate (RFC 7519 §2): seconds, possibly with a fraction; anything else is a
    /// bad `iat` (`Time`), not a bad proof.
    iat: Option<Value>,
    ath: Option<String>,
    nonce: Option<String>,
}

fn b64(s: &str) -> Option<Vec<u8>> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s)
        .ok()
}

fn b64url(data: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(data)
}

/// `ath` for an access token (RFC 9449 §4.2): base64url(SHA-256(ASCII token)).
pub fn ath(access_token: &str) -> String {
    b64url(&Sha256::digest(access_token.as_bytes()))
}

fn algorithm(name: &str) -> Option<Algorithm> {
    Some(match name {
        "ES256" => Algorithm::ES256,
        "ES384" => Algorithm::ES384,
        "EdDSA" => Algorithm::EdDSA,
        "RS256" => Algorithm::RS256,
        "RS384" => Algorithm::RS384,
        "RS512" => Algorithm::RS512,
        "PS256" => Algorithm::PS256,
        "PS384" => Algorithm::PS384,
        "PS512" => Algorithm::PS512,
        _ => return None,
    })
}

/// The RFC 7638 §3.2 members of a public key in lexicographic order, for the thumbprint;
/// `None` for a key type or curve that does not suit `alg` (RFC 7518 §3.4, RFC 8037 §3.1).
fn required_members(jwk: &Map<String, Value>, alg: Algorithm) -> Option<Vec<(&'static str, &str)>> {
    let s = |name: &str| jwk.get(name).and_then(Value::as_str);
    let kty = s("kty")?;
    Some(match (kty, alg) {
        ("EC", Algorithm::ES256 | Algorithm::ES384) => {
            let crv = s("crv")?;
            let want = if alg == Algorithm::ES256 {
                "P-256"
            } else {
                "P-384"
            };
            if crv != want {
                return None;
            }
            vec![("crv", crv), ("kty", kty), ("x", s("x")?), ("y", s("y")?)]
        }
        ("OKP", Algorithm::EdDSA) => {
            let crv = s("crv")?;
            if crv != "Ed25519" {
                return None;
            }
            vec![("crv", crv), ("kty", kty), ("x", s("x")?)]
        }
        (
            "RSA",
            Algorithm::RS256
            | Algorithm::RS384
            | Algorithm::RS512
            | Algorithm::PS256
            | Algorithm::PS384
            | Algorithm::PS512,
        ) => vec![("e", s("e")?), ("kty", kty), ("n", s("n")?)],
        _ => return None,
    })
}

/// The RFC 7638 SHA-256 thumbprint of a public JWK (as JSON), base64url: the `jkt` of
/// `cnf` (RFC 9449 §6.1) and of `dpop_jkt` (§10). `None` for an unsupported or private key.
pub fn thumbprint(jwk: &Value, alg: &str) -> Option<String> {
    let jwk = jwk.as_object()?;
    let alg = algorithm(alg)?;
    if PRIVATE_MEMBERS.iter().any(|m| jwk.contains_key(*m)) {
        return None;
    }
    Some(thumbprint_of(&required_members(jwk, alg)?))
}

fn thumbprint_of(members: &[(&str, &str)]) -> String {
    // RFC 7638 §3.3: no whitespace, members sorted, strings JSON-escaped.
    let mut canonical = String::from("{");
    for (i, (k, v)) in members.iter().enumerate() {
        if i > 0 {
            canonical.push(',');
        }
        canonical.push_str(&Value::from(*k).to_string());
        canonical.push(':');
        canonical.push_str(&Value::from(*v).to_string());
    }
    canonical.push('}');
    b64url(&Sha256::digest(canonical.as_bytes()))
}

/// RFC 9449 §4.3 step 9: `htu` matches the request URL once both are normalised (RFC 3986
/// §6.2.2 and §6.2.3: case of scheme and host, default port and dot segments, which the `url`
/// crate's parse does; percent-encoding, done here) and query and fragment are dropped.
pub fn htu_matches(htu: &str, request_url: &str) -> bool {
    fn norm(s: &str) -> Option<url::Url> {
        let mut u = url::Url::parse(s).ok()?;
        if !matches!(u.scheme(), "http" | "https") {
            return None;
        }
        u.set_query(None);
        u.set_fragment(None);
        if u.path().contains('%') {
            let path = normalize_percent_encoding(u.path());
            u.set_path(&path);
        }
        Some(u)
    }
    // The same text normalises to the same URL: one parse instead of two (what a client
    // that copies the URL it was given sends), and none when this thread last found this
    // same URL to be an http(s) URL (an endpoint's URL, proof after proof: the parse was
    // ~1.4 µs of a DPoP request).
    if htu == request_url {
        thread_local! {
            static LAST_VALID: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
        }
        if LAST_VALID.with_borrow(|last| !last.is_empty() && last == request_url) {
            return true;
        }
        let valid = norm(request_url).is_some();
        if valid {
            LAST_VALID.with_borrow_mut(|last| request_url.clone_into(last));
        }
        return valid;
    }
    match (norm(htu), norm(request_url)) {
        (Some(a), Some(b)) => a == b,
        _ => false,
    }
}

/// RFC 3986 §6.2.2.2: a percent-encoded unreserved character is the character itself, and
/// the hex digits of every other percent-encoding are upper case.
fn normalize_percent_encoding(path: &str) -> String {
    let b = path.as_bytes();
    let mut out = String::with_capacity(path.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        if b[i] == b'%'
            && let (Some(hi), Some(lo)) = (
                b.get(i + 1).copied().and_then(hex),
                b.get(i + 2).copied().and_then(hex),
            )
        {
            let c = (hi * 16 + lo) as u8;
            if c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~') {
                out.push(c as char);
            } else {
                out.push_str(&format!("%{c:02X}"));
            }
            i += 3;
            continue;
        }
        // `url` has percent-encoded everything outside ASCII, so this is one byte a char.
        out.push(b[i] as char);
        i += 1;
    }
    out
}

/// A proof header that passed §4.3 steps 4, 5 and 7, with its key ready for step 6.
struct CheckedHeader {
    key: VerifyKey,
    /// The key's RFC 7638 thumbprint.
    jkt: String,
}

/// A proof key, parsed once: EC keys checked to be on their curve, OKP keys, and RSA keys
/// from `n` and `e` (aws-lc keeps the modulus' Montgomery context with the key, so it is not
/// rebuilt per proof; the 2048–8192-bit size range is enforced at each verification, as
/// jsonwebtoken's RSA verifiers do).
type VerifyKey = aws_lc_rs::signature::ParsedPublicKey;

/// A coordinate of an EC or OKP key: base64url of exactly `len` bytes (RFC 7518 §6.2.1.2,
/// RFC 8037 §2).
fn coordinate(jwk: &Map<String, Value>, name: &str, len: usize) -> Result<Vec<u8>, ProofError> {
    jwk.get(name)
        .and_then(Value::as_str)
        .and_then(b64)
        .filter(|b| b.len() == len)
        .ok_or(ProofError::Key)
}

/// Steps 4, 5 and 7 of RFC 9449 §4.3 on the proof's first part: `typ`, `alg` and a public
/// `jwk` that suits `alg`; then the key, built for verification.
fn check_header(h64: &str) -> Result<CheckedHeader, ProofError> {
    use aws_lc_rs::signature as sig;
    let header: Map<String, Value> = b64(h64)
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or(ProofError::Malformed)?;
    // Step 4: `typ` is `dpop+jwt` (§4.2), a media type: compared without regard to case, and
    // with the `application/` prefix the JWS spec lets a sender keep (RFC 7515 §4.1.9).
    let typ = header.get("typ").and_then(Value::as_str).unwrap_or("");
    let typ = match typ.get(..12) {
        Some(prefix) if prefix.eq_ignore_ascii_case("application/") => &typ[12..],
        _ => typ,
    };
    if !typ.eq_ignore_ascii_case("dpop+jwt") {
        return Err(ProofError::Type);
    }
    // No JWS extension is understood here, so a proof that marks one critical is refused
    // (RFC 7515 §4.1.11), as the introspection-response check does.
    if header.contains_key("crit") {
        return Err(ProofError::Critical);
    }
    // Step 5: an asymmetric algorithm we support; `none` and `HS*` are not in the list.
    let alg_name = header
        .get("alg")
        .and_then(Value::as_str)
        .ok_or(ProofError::Algorithm)?;
    let alg = algorithm(alg_name).ok_or(ProofError::Algorithm)?;
    // Step 7: a public key, of a type that suits `alg`.
    let jwk_value = header.get("jwk").ok_or(ProofError::Key)?;
    let jwk_map = jwk_value.as_object().ok_or(ProofError::Key)?;
    if PRIVATE_MEMBERS.iter().any(|m| jwk_map.contains_key(*m)) {
        return Err(ProofError::Key);
    }
    let members = required_members(jwk_map, alg).ok_or(ProofError::Key)?;
    let parsed = |a: &'static sig::EcdsaVerificationAlgorithm, len: usize| {
        let mut point = vec![4u8];
        point.extend(coordinate(jwk_map, "x", len)?);
        point.extend(coordinate(jwk_map, "y", len)?);
        sig::ParsedPublicKey::new(a, point).map_err(|_| ProofError::Key)
    };
    // RSA (RFC 7518 §6.3.1): `n` and `e` base64url, big-endian without leading zeros (a
    // leading zero is refused by aws-lc, as it was through jsonwebtoken).
    let rsa = |params: &'static sig::RsaParameters| {
        let n = jwk_map.get("n").and_then(Value::as_str).and_then(b64);
        let e = jwk_map.get("e").and_then(Value::as_str).and_then(b64);
        let (Some(n), Some(e)) = (n, e) else {
            return Err(ProofError::Key);
        };
        sig::RsaPublicKeyComponents { n, e }
            .to_parsed_public_key(params)
            .map_err(|_| ProofError::Key)
    };
    let key = match alg {
        Algorithm::ES256 => parsed(&sig::ECDSA_P256_SHA256_FIXED, 32)?,
        Algorithm::ES384 => parsed(&sig::ECDSA_P384_SHA384_FIXED, 48)?,
        Algorithm::EdDSA => sig::ParsedPublicKey::new(&sig::ED25519, coordinate(jwk_map, "x", 32)?)
            .map_err(|_| ProofError::Key)?,
        // The parameters jsonwebtoken's verifiers use for these names.
        Algorithm::RS256 => rsa(&sig::RSA_PKCS1_2048_8192_SHA256)?,
        Algorithm::RS384 => rsa(&sig::RSA_PKCS1_2048_8192_SHA384)?,
        Algorithm::RS512 => rsa(&sig::RSA_PKCS1_2048_8192_SHA512)?,
        Algorithm::PS256 => rsa(&sig::RSA_PSS_2048_8192_SHA256)?,
        Algorithm::PS384 => rsa(&sig::RSA_PSS_2048_8192_SHA384)?,
        Algorithm::PS512 => rsa(&sig::RSA_PSS_2048_8192_SHA512)?,
        _ => return Err(ProofError::Algorithm),
    };
    Ok(CheckedHeader {
        key,
        jkt: thumbprint_of(&members),
    })
}

/// Checked proof headers by their exact base64url text, for a server that sees the same
/// client keys again and again: the header's JSON, the key's parsing and its thumbprint are
/// done once per key instead of once per proof. Only a header that passed every check is
/// kept, and the same bytes always give the same result, so nothing is skipped that could
/// differ; the signature, the claims and the replay check are done for every proof. At
/// most `capacity` headers; when full it starts over (a flood of new keys costs what it
/// would without the cache).
pub struct HeaderCache {
    seen: Mutex<HashMap<Box<str>, Arc<CheckedHeader>>>,
    capacity: usize,
}

impl HeaderCache {
    pub fn new(capacity: usize) -> Self {
        Self {
            seen: Mutex::new(HashMap::new()),
            capacity: capacity.max(1),
        }
    }

    /// [`verify`], with the header looked up here first.
    pub fn verify(&self, proof: &str, expect: &Expect<'_>) -> Result<Proof, ProofError> {
        verify_with(proof, expect, Some(self))
    }

    fn header(&self, h64: &str) -> Result<Arc<CheckedHeader>, ProofError> {
        if let Some(h) = self.lock().get(h64) {
            return Ok(h.clone());
        }
        let h = Arc::new(check_header(h64)?);
        let mut seen = self.lock();
        if seen.len() >= self.capacity {
            seen.clear();
        }
        seen.insert(h64.into(), h.clone());
        Ok(h)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Box<str>, Arc<CheckedHeader>>> {
        self.seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Check a `DPoP` header value against the request (RFC 9449 §4.3 steps 1–11, except the
/// nonce of step 10's neighbour §8 and the `jti` replay check of §11.1, which need state
/// the caller holds: see [`Proof::nonce`] and [`ReplayCache`]).
pub fn verify(proof: &str, expect: &Expect<'_>) -> Result<Proof, ProofError> {
    verify_with(proof, expect, None)
}

fn verify_with(
    proof: &str,
    expect: &Expect<'_>,
    cache: Option<&HeaderCache>,
) -> Result<Proof, ProofError> {
    // Step 1–3: one well-formed compact JWS (RFC 7515 §7.1).
    if proof.len() > MAX_PROOF_LEN {
        return Err(ProofError::Malformed);
    }
    let mut parts = proof.split('.');
    let (Some(h64), Some(p64), Some(sig), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(ProofError::Malformed);
    };
    // Steps 4, 5, 7.
    let header = match cache {
        Some(c) => c.header(h64)?,
        None => Arc::new(check_header(h64)?),
    };
    // Step 6: the signature, by that key.
    let signed = &proof.as_bytes()[..h64.len() + 1 + p64.len()];
    if b64(sig).is_none_or(|s| header.key.verify_sig(signed, &s).is_err()) {
        return Err(ProofError::Signature);
    }
    let claims: Claims = b64(p64)
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or(ProofError::Malformed)?;
    // §4.2: `jti` is required; bounded so a replay cache cannot be made to hold megabytes.
    let jti = claims
        .jti
        .filter(|j| !j.is_empty() && j.len() <= MAX_JTI_LEN)
        .ok_or(ProofError::Jti)?;
    // Step 8: `htm` is the method (RFC 9110 §9.1: case-sensitive).
    if claims.htm.as_deref() != Some(expect.method) {
        return Err(ProofError::Method);
    }
    // Step 9: `htu`.
    if !claims
        .htu
        .as_deref()
        .is_some_and(|htu| htu_matches(htu, expect.url))
    {
        return Err(ProofError::Url);
    }
    // Step 11: `iat` within the window (§11.1).
    let iat = claims
        .iat
        .as_ref()
        .and_then(|n| n.as_i64().or_else(|| n.as_f64().map(|f| f.floor() as i64)))
        .ok_or(ProofError::Time)?;
    if iat < expect.now.saturating_sub(expect.max_age)
        || iat > expect.now.saturating_add(expect.max_future)
    {
        return Err(ProofError::Time);
    }
    // Step 10 (§4.3, resource access): `ath` is the access token's hash, compared in
    // constant time (it is a digest of a secret).
    if let Some(token) = expect.access_token {
        let want = ath(token);
        let got = claims.ath.as_deref().unwrap_or("");
        let same = want.len() == got.len()
            && want
                .bytes()
                .zip(got.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0;
        if !same {
            return Err(ProofError::AccessTokenHash);
        }
    }
    Ok(Proof {
        jkt: header.jkt.clone(),
        jti,
        iat,
        nonce: claims.nonce,
    })
}

/// `jti` single use within the `iat` window (RFC 9449 §11.1), in memory: for a resource
/// server running one process. Entries live until `iat + max_age + max_future` has passed
/// (a proof older than that is refused by [`verify`] anyway); a full cache refuses new
/// proofs rather than forgetting used ones.
pub struct ReplayCache {
    seen: Mutex<HashMap<String, i64>>,
    capacity: usize,
}

impl ReplayCache {
    pub fn new(capacity: usize) -> Self {
        Self {
            seen: Mutex::new(HashMap::new()),
            capacity,
        }
    }

    /// Record `proof`'s `jti` (per key: `jkt` + `jti`) until `until` (seconds since the
    /// epoch); `Err(Replayed)` if it was seen and has not expired yet, or if the cache is
    /// full of live entries.
    pub fn check_and_insert(&self, proof: &Proof, now: i64, until: i64) -> Result<(), ProofError> {
        let key = format!("{}:{}", proof.jkt, proof.jti);
        let mut seen = self
            .seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if seen.len() >= self.capacity {
            seen.retain(|_, exp| *exp > now);
        }
        match seen.get(&key) {
            Some(exp) if *exp > now => Err(ProofError::Replayed),
            _ if seen.len() >= self.capacity => Err(ProofError::Replayed),
            _ => {
                seen.insert(key, until);
                Ok(())
            }
        }
    }
}

/// Server nonces of a resource server (RFC 9449 §9), stateless: `base64url(step ‖
/// HMAC-SHA256(key, step)[..16])`, where `step` is the time divided by the step length. A
/// nonce of the current or the previous step is accepted, so a nonce lives one to two steps
/// and every process holding the same key accepts every other's; nothing is stored.
pub struct NonceIssuer {
    key: aws_lc_rs::hmac::Key,
    step: i64,
}

/// Length of a nonce's step number and MAC, in bytes.
const NONCE_STEP_LEN: usize = 8;
const NONCE_MAC_LEN: usize = 16;

/// The shortest key [`NonceIssuer::new`] takes (HMAC-SHA256's block of entropy).
pub const MIN_NONCE_KEY_LEN: usize = 32;

impl NonceIssuer {
    /// `key`: at least [`MIN_NONCE_KEY_LEN`] random bytes the resource server keeps (the same
    /// on each of its instances); `step_secs`: how long one nonce is current (≥ 1).
    pub fn new(key: &[u8], step_secs: i64) -> Option<Self> {
        if key.len() < MIN_NONCE_KEY_LEN || step_secs < 1 {
            return None;
        }
        Some(Self {
            key: aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, key),
            step: step_secs,
        })
    }

    fn step_of(&self, now: i64) -> i64 {
        now.div_euclid(self.step)
    }

    fn nonce_for(&self, step: i64) -> String {
        let s = step.to_be_bytes();
        let tag = aws_lc_rs::hmac::sign(&self.key, &s);
        let mut out = s.to_vec();
        out.extend_from_slice(&tag.as_ref()[..NONCE_MAC_LEN]);
        b64url(&out)
    }

    /// The nonce to hand out at `now` (seconds since the epoch), for `DPoP-Nonce`.
    pub fn nonce(&self, now: i64) -> String {
        self.nonce_for(self.step_of(now))
    }

    /// Whether `nonce` was made with this key in the current or the previous step (the MAC
    /// compared in constant time).
    pub fn is_fresh(&self, nonce: &str, now: i64) -> bool {
        let Some(raw) = b64(nonce) else {
            return false;
        };
        if raw.len() != NONCE_STEP_LEN + NONCE_MAC_LEN {
            return false;
        }
        let (s, mac) = raw.split_at(NONCE_STEP_LEN);
        let mut step_bytes = [0u8; NONCE_STEP_LEN];
        step_bytes.copy_from_slice(s);
        let step = i64::from_be_bytes(step_bytes);
        let current = self.step_of(now);
        if step != current && step != current - 1 {
            return false;
        }
        let want = aws_lc_rs::hmac::sign(&self.key, &step_bytes);
        want.as_ref()[..NONCE_MAC_LEN]
            .iter()
            .zip(mac)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
    use serde_json::json;

    /// A P-256 key for tests: the pair and its public JWK.
    pub(crate) fn key() -> (EcdsaKeyPair, Value) {
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let pair =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref()).unwrap();
        let pk = pair.public_key().as_ref();
        let jwk =
            json!({"kty": "EC", "crv": "P-256", "x": b64url(&pk[1..33]), "y": b64url(&pk[33..65])});
        (pair, jwk)
    }

    pub(crate) fn sign(pair: &EcdsaKeyPair, header: &Value, claims: &Value) -> String {
        let msg = format!(
            "{}.{}",
            b64url(header.to_string().as_bytes()),
            b64url(claims.to_string().as_bytes())
        );
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let sig = pair.sign(&rng, msg.as_bytes()).unwrap();
        format!("{msg}.{}", b64url(sig.as_ref()))
    }

    const URL: &str = "https://as.example.com/oauth/token";

    fn expect(now: i64) -> Expect<'static> {
        Expect {
            method: "POST",
            url: URL,
            access_token: None,
            now,
            max_age: 60,
            max_future: 5,
        }
    }

    fn claims(now: i64) -> Value {
        json!({"jti": "j1", "htm": "POST", "htu": URL, "iat": now})
    }

    fn header(jwk: &Value) -> Value {
        json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": jwk})
    }

    #[test]
    fn a_good_proof_verifies_and_names_its_key() {
        let (pair, jwk) = key();
        let p = verify(&sign(&pair, &header(&jwk), &claims(1000)), &expect(1000)).unwrap();
        assert_eq!(p.jkt, thumbprint(&jwk, "ES256").unwrap());
        assert_eq!(p.jti, "j1");
        assert_eq!(p.nonce, None);
    }

    #[test]
    fn rfc7638_thumbprint_example() {
        // RFC 7638 §3.1's RSA key and thumbprint.
        let jwk = json!({"kty": "RSA", "e": "AQAB", "alg": "RS256", "kid": "2011-04-29",
            "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"});
        assert_eq!(
            thumbprint(&jwk, "RS256").unwrap(),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
    }

    #[test]
    fn each_check_refuses() {
        let (pair, jwk) = key();
        let (other, _) = key();
        let now = 1000;
        let ok = |h: &Value, c: &Value| verify(&sign(&pair, h, c), &expect(now));
        let h = header(&jwk);
        let mut c = claims(now);
        c["htm"] = json!("GET");
        assert_eq!(ok(&h, &c), Err(ProofError::Method));
        let mut c = claims(now);
        c["htu"] = json!("https://as.example.com/oauth/other");
        assert_eq!(ok(&h, &c), Err(ProofError::Url));
        let mut c = claims(now);
        c["iat"] = json!(now - 61);
        assert_eq!(ok(&h, &c), Err(ProofError::Time));
        c["iat"] = json!(now + 6);
        assert_eq!(ok(&h, &c), Err(ProofError::Time));
        let mut c = claims(now);
        c.as_object_mut().unwrap().remove("jti");
        assert_eq!(ok(&h, &c), Err(ProofError::Jti));
        let mut hh = h.clone();
        hh["typ"] = json!("JWT");
        assert_eq!(ok(&hh, &claims(now)), Err(ProofError::Type));
        hh["typ"] = json!("application/jwt");
        assert_eq!(ok(&hh, &claims(now)), Err(ProofError::Type));
        hh.as_object_mut().unwrap().remove("typ");
        assert_eq!(ok(&hh, &claims(now)), Err(ProofError::Type));
        // A media type: any case, with or without `application/` (RFC 7515 §4.1.9).
        for typ in ["DPoP+JWT", "application/dpop+jwt", "Application/DPOP+jwt"] {
            hh["typ"] = json!(typ);
            assert!(ok(&hh, &claims(now)).is_ok(), "{typ}");
        }
        // An extension marked critical is not understood (RFC 7515 §4.1.11).
        let mut hh = h.clone();
        hh["crit"] = json!(["urn:x:unknown"]);
        hh["urn:x:unknown"] = json!(1);
        assert_eq!(ok(&hh, &claims(now)), Err(ProofError::Critical));
        // `iat` is a NumericDate, which may carry a fraction (RFC 7519 §2).
        let mut c = claims(now);
        c["iat"] = json!(now as f64 - 0.5);
        assert!(ok(&h, &c).is_ok());
        c["iat"] = json!(now as f64 - 61.5);
        assert_eq!(ok(&h, &c), Err(ProofError::Time));
        c["iat"] = json!("1000");
        assert_eq!(ok(&h, &c), Err(ProofError::Time));
        for alg in ["none", "HS256", "ES512", ""] {
            let mut hh = h.clone();
            hh["alg"] = json!(alg);
            assert_eq!(ok(&hh, &claims(now)), Err(ProofError::Algorithm));
        }
        let mut hh = h.clone();
        hh["alg"] = json!("ES384");
        assert_eq!(ok(&hh, &claims(now)), Err(ProofError::Key));
        let mut hh = h.clone();
        hh["jwk"]["d"] = json!("AAAA");
        assert_eq!(ok(&hh, &claims(now)), Err(ProofError::Key));
        // Signed by another key than the one in `jwk`.
        assert_eq!(
            verify(&sign(&other, &h, &claims(now)), &expect(now)),
            Err(ProofError::Signature)
        );
        // `ath` at a resource.
        let mut e = expect(now);
        e.access_token = Some("tok");
        assert_eq!(
            verify(&sign(&pair, &h, &claims(now)), &e),
            Err(ProofError::AccessTokenHash)
        );
        let mut c = claims(now);
        c["ath"] = json!(ath("tok"));
        assert!(verify(&sign(&pair, &h, &c), &e).is_ok());
        // An HMAC "proof" with the key in `jwk` as `oct`.
        let mut hh = h.clone();
        hh["jwk"] = json!({"kty": "oct", "k": "c2VjcmV0"});
        assert_eq!(ok(&hh, &claims(now)), Err(ProofError::Key));
    }

    /// A signer of proofs by `alg`: its public JWK and a function signing the JWS input.
    type ProofSigner = (Value, Box<dyn Fn(&[u8]) -> Vec<u8>>);

    fn signer(alg: &str) -> ProofSigner {
        use aws_lc_rs::signature as sig;
        let rng = aws_lc_rs::rand::SystemRandom::new();
        match alg {
            "ES384" => {
                let a = &sig::ECDSA_P384_SHA384_FIXED_SIGNING;
                let pkcs8 = EcdsaKeyPair::generate_pkcs8(a, &rng).unwrap();
                let pair = EcdsaKeyPair::from_pkcs8(a, pkcs8.as_ref()).unwrap();
                let pk = pair.public_key().as_ref().to_vec();
                let jwk = json!({"kty": "EC", "crv": "P-384", "x": b64url(&pk[1..49]),
                    "y": b64url(&pk[49..])});
                (
                    jwk,
                    Box::new(move |m| pair.sign(&rng, m).unwrap().as_ref().to_vec()),
                )
            }
            "EdDSA" => {
                let pair = sig::Ed25519KeyPair::generate().unwrap();
                let jwk = json!({"kty": "OKP", "crv": "Ed25519",
                    "x": b64url(pair.public_key().as_ref())});
                (jwk, Box::new(move |m| pair.sign(m).as_ref().to_vec()))
            }
            "RS256" | "PS256" => {
                let pair = sig::RsaKeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
                let pk = pair.public_key();
                let jwk = json!({"kty": "RSA",
                    "n": b64url(pk.modulus().big_endian_without_leading_zero()),
                    "e": b64url(pk.exponent().big_endian_without_leading_zero())});
                let padding: &'static dyn sig::RsaEncoding = if alg == "RS256" {
                    &sig::RSA_PKCS1_SHA256
                } else {
                    &sig::RSA_PSS_SHA256
                };
                (
                    jwk,
                    Box::new(move |m| {
                        let mut out = vec![0u8; pair.public_modulus_len()];
                        pair.sign(padding, &rng, m, &mut out).unwrap();
                        out
                    }),
                )
            }
            _ => unreachable!(),
        }
    }

    fn sign_with(alg: &str, jwk: &Value, sign: &dyn Fn(&[u8]) -> Vec<u8>, c: &Value) -> String {
        let h = json!({"typ": "dpop+jwt", "alg": alg, "jwk": jwk});
        let msg = format!(
            "{}.{}",
            b64url(h.to_string().as_bytes()),
            b64url(c.to_string().as_bytes())
        );
        let sig = sign(msg.as_bytes());
        format!("{msg}.{}", b64url(&sig))
    }

    #[test]
    fn every_algorithm_verifies_its_own_signatures_only() {
        let cache = HeaderCache::new(8);
        for alg in ["ES384", "EdDSA", "RS256", "PS256"] {
            let (jwk, sign) = signer(alg);
            let (_, other) = signer(alg);
            let good = sign_with(alg, &jwk, &sign, &claims(1000));
            let p = verify(&good, &expect(1000)).unwrap();
            assert_eq!(p.jkt, thumbprint(&jwk, alg).unwrap(), "{alg}");
            assert_eq!(cache.verify(&good, &expect(1000)), Ok(p), "{alg}");
            // Twice through the cache: the key parsed once still checks each signature.
            for _ in 0..2 {
                let forged = sign_with(alg, &jwk, &other, &claims(1000));
                assert_eq!(
                    cache.verify(&forged, &expect(1000)),
                    Err(ProofError::Signature),
                    "{alg}"
                );
            }
            // A signature's bytes flipped.
            let mut bad = good.clone().into_bytes();
            let i = bad.len() - 3;
            bad[i] = if bad[i] == b'A' { b'B' } else { b'A' };
            let bad = String::from_utf8(bad).unwrap();
            assert_eq!(verify(&bad, &expect(1000)), Err(ProofError::Signature));
        }
        // A PKCS#1 v1.5 signature presented as PSS, and the reverse: refused.
        let (jwk, sign) = signer("RS256");
        let ps = sign_with("PS256", &jwk, &sign, &claims(1000));
        assert_eq!(verify(&ps, &expect(1000)), Err(ProofError::Signature));
        let (jwk, sign) = signer("PS256");
        let rs = sign_with("RS256", &jwk, &sign, &claims(1000));
        assert_eq!(verify(&rs, &expect(1000)), Err(ProofError::Signature));
        // An RSA modulus with a leading zero byte, or that is not base64url: not a key.
        let mut z = jwk.clone();
        let n = b64(jwk["n"].as_str().unwrap()).unwrap();
        z["n"] = json!(b64url(&[&[0u8][..], &n].concat()));
        assert_eq!(
            verify(&sign_with("PS256", &z, &sign, &claims(1000)), &expect(1000)),
            Err(ProofError::Key)
        );
        z["n"] = json!("!!");
        assert_eq!(
            verify(&sign_with("PS256", &z, &sign, &claims(1000)), &expect(1000)),
            Err(ProofError::Key)
        );
    }

    #[test]
    fn htu_ignores_query_fragment_and_case() {
        assert!(htu_matches(
            "HTTPS://AS.example.com:443/oauth/token?x=1#f",
            "https://as.example.com/oauth/token"
        ));
        assert!(!htu_matches("https://a.b/x", "https://a.b/y"));
        assert!(!htu_matches("https://a.b/x", "http://a.b/x"));
        // Percent-encoding (RFC 3986 §6.2.2.2): unreserved characters decoded, hex case
        // ignored; a reserved character stays encoded, so `%2F` is not `/`.
        assert!(htu_matches(
            "https://a.b/oauth/%74oken",
            "https://a.b/oauth/token"
        ));
        assert!(htu_matches("https://a.b/a%2fb", "https://a.b/a%2Fb"));
        assert!(!htu_matches("https://a.b/a%2Fb", "https://a.b/a/b"));
        assert!(htu_matches(
            "https://a.b/x/%2E%2E/token",
            "https://a.b/token"
        ));
        assert!(!htu_matches("mailto:x@y", "mailto:x@y"));
        // The same text: equal when it is an http(s) URL, whatever its query.
        assert!(htu_matches("https://a.b/x?q=1", "https://a.b/x?q=1"));
        assert!(!htu_matches("not a url", "not a url"));
        assert!(!htu_matches("", ""));
        // The same text again (remembered as valid) and after it other texts: each judged
        // as before.
        assert!(htu_matches("https://a.b/x?q=1", "https://a.b/x?q=1"));
        assert!(htu_matches("https://a.b/x?q=1", "https://a.b/x?q=1"));
        assert!(!htu_matches("mailto:x@y", "mailto:x@y"));
        assert!(!htu_matches("https://a.b/x?q=1", "https://a.b/y"));
        assert!(htu_matches("https://a.b/x?q=1", "https://a.b/x?q=1"));
    }

    #[test]
    fn replay_cache_is_single_use_until_expiry() {
        let cache = ReplayCache::new(2);
        let p = |jti: &str| Proof {
            jkt: "k".into(),
            jti: jti.into(),
            iat: 0,
            nonce: None,
        };
        assert!(cache.check_and_insert(&p("a"), 0, 10).is_ok());
        assert_eq!(
            cache.check_and_insert(&p("a"), 5, 15),
            Err(ProofError::Replayed)
        );
        assert!(cache.check_and_insert(&p("b"), 5, 15).is_ok());
        // Full of live entries: refused, not forgotten.
        assert_eq!(
            cache.check_and_insert(&p("c"), 5, 15),
            Err(ProofError::Replayed)
        );
        // `a` expired at 10: swept, room again, and `a` is usable again.
        assert!(cache.check_and_insert(&p("a"), 11, 20).is_ok());
    }

    #[test]
    fn nonces_live_one_to_two_steps_and_are_bound_to_the_key() {
        assert!(NonceIssuer::new(&[1u8; 31], 60).is_none());
        assert!(NonceIssuer::new(&[1u8; 32], 0).is_none());
        let n = NonceIssuer::new(&[1u8; 32], 60).unwrap();
        let t0 = 6000;
        let nonce = n.nonce(t0);
        assert!(n.is_fresh(&nonce, t0));
        assert!(n.is_fresh(&nonce, t0 + 119));
        assert!(!n.is_fresh(&nonce, t0 + 120));
        // A nonce of the future, another key's, garbage and a flipped MAC are refused.
        assert!(!n.is_fresh(&n.nonce(t0 + 60), t0));
        let other = NonceIssuer::new(&[2u8; 32], 60).unwrap();
        assert!(!other.is_fresh(&nonce, t0));
        for bad in ["", "!!", "AAAA", &nonce[..nonce.len() - 1]] {
            assert!(!n.is_fresh(bad, t0));
        }
        let mut raw = b64(&nonce).unwrap();
        let last = raw.len() - 1;
        raw[last] ^= 1;
        assert!(!n.is_fresh(&b64url(&raw), t0));
    }

    #[test]
    fn the_header_cache_gives_what_verify_gives() {
        let (pair, jwk) = key();
        let (other, _) = key();
        let cache = HeaderCache::new(1);
        let good = sign(&pair, &header(&jwk), &claims(1000));
        assert_eq!(
            cache.verify(&good, &expect(1000)),
            verify(&good, &expect(1000))
        );
        // The same header again (from the cache), then a forged signature with that header:
        // the signature is still checked each time.
        let mut c = claims(1000);
        c["jti"] = json!("j2");
        assert!(
            cache
                .verify(&sign(&pair, &header(&jwk), &c), &expect(1000))
                .is_ok()
        );
        assert_eq!(
            cache.verify(&sign(&other, &header(&jwk), &c), &expect(1000)),
            Err(ProofError::Signature)
        );
        // A refused header is not kept; another key replaces the one entry.
        let mut bad = header(&jwk);
        bad["typ"] = json!("JWT");
        let p = sign(&pair, &bad, &claims(1000));
        assert_eq!(cache.verify(&p, &expect(1000)), Err(ProofError::Type));
        assert_eq!(cache.verify(&p, &expect(1000)), Err(ProofError::Type));
        let (pair2, jwk2) = key();
        let p2 = sign(&pair2, &header(&jwk2), &claims(1000));
        assert_eq!(
            cache.verify(&p2, &expect(1000)).unwrap().jkt,
            thumbprint(&jwk2, "ES256").unwrap()
        );
        // EC coordinates of the wrong length are refused (RFC 7518 §6.2.1.2).
        let mut short = jwk.clone();
        short["x"] = json!(b64url(&[1u8; 31]));
        let p = sign(&pair, &header(&short), &claims(1000));
        assert_eq!(cache.verify(&p, &expect(1000)), Err(ProofError::Key));
    }
}
