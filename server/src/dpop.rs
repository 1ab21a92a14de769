//! DPoP (RFC 9449) on the server: what needs state beyond the pure proof checks of
//! `latch_verify::dpop` (shared with resource servers) — server nonces (§8, §9) and the
//! `jti` replay cache (§11.1) — and the one [`Dpop::check`] every endpoint that takes a
//! proof calls (token endpoint, userinfo, `/v1`, through `oauth::dpop`).
//!
//! Nonces are stateless: `base64url(slot ‖ HMAC-SHA256(slot)[..16])` under a key derived
//! from the master key, where `slot` is the app clock divided by
//! `LATCH_DPOP_PROOF_MAX_AGE`; the current and the previous slot are accepted, so any
//! instance accepts any instance's nonce for one to two windows, and no row is written.
//!
//! Used `jti`s go to Redis (`SET NX PX`, shared by every instance) when it is in use, else
//! to the database (`store::dpop_proofs`: SQLite's append-only log, PostgreSQL's primary key
//! per key and `jti`; swept by `sweeper`).

use aws_lc_rs::hmac;
use chrono::{DateTime, Utc};

pub use latch_verify::dpop::{Expect, Proof, ProofError, SIGNING_ALGS, ath};

use crate::rate_limit::Limiter;
use crate::store::{self, StoreError};

/// How far in the future a proof's `iat` may be (clock skew between client and server).
pub const MAX_FUTURE_SECS: i64 = 5;

/// How many distinct proof headers (client keys) are kept parsed.
const HEADER_CACHE: usize = 1024;

/// Length of a nonce's slot number and MAC, in bytes.
const SLOT_LEN: usize = 8;
const MAC_LEN: usize = 16;

/// Why a proof was not accepted.
#[derive(Debug)]
pub enum Refusal {
    /// `invalid_dpop_proof` (RFC 9449 §5, §7.1).
    Invalid(ProofError),
    /// `use_dpop_nonce` (§8, §9): the proof needs this nonce (missing or stale).
    UseNonce(String),
    Store(StoreError),
}

impl From<StoreError> for Refusal {
    fn from(e: StoreError) -> Self {
        Refusal::Store(e)
    }
}

/// The server's DPoP state: the nonce key and the proof window (per instance, built at
/// start-up from the master key and the settings).
pub struct Dpop {
    nonce_key: hmac::Key,
    /// `LATCH_DPOP_PROOF_MAX_AGE` in seconds (≥ 5, validated).
    pub max_age: i64,
    /// `LATCH_DPOP_REQUIRE_NONCE`.
    pub require_nonce: bool,
    /// Used `jti`s without Redis: written in batches (group commit).
    replay: store::dpop_proofs::GroupInsert,
    /// Checked proof headers (their key, parsed once), by their raw bytes.
    headers: latch_verify::dpop::HeaderCache,
}

impl Dpop {
    pub fn new(master: &[u8], max_age: chrono::TimeDelta, require_nonce: bool) -> Self {
        let k = crate::crypto::derive_key(master, "dpop-nonce");
        Self {
            nonce_key: hmac::Key::new(hmac::HMAC_SHA256, &k),
            max_age: max_age.num_seconds().max(1),
            require_nonce,
            replay: Default::default(),
            headers: latch_verify::dpop::HeaderCache::new(HEADER_CACHE),
        }
    }

    fn slot(&self, now: DateTime<Utc>) -> i64 {
        now.timestamp().div_euclid(self.max_age)
    }

    fn nonce_for(&self, slot: i64) -> String {
        let s = slot.to_be_bytes();
        let tag = hmac::sign(&self.nonce_key, &s);
        let mut out = s.to_vec();
        out.extend_from_slice(&tag.as_ref()[..MAC_LEN]);
        crate::crypto::b64url(&out)
    }

    /// The nonce to hand out now (`DPoP-Nonce`, §8.1).
    pub fn nonce(&self, now: DateTime<Utc>) -> String {
        self.nonce_for(self.slot(now))
    }

    /// Whether `nonce` was made by an instance of this server in the current or the
    /// previous slot (MAC compared in constant time).
    pub fn nonce_is_fresh(&self, nonce: &str, now: DateTime<Utc>) -> bool {
        let Some(raw) = crate::crypto::b64url_decode(nonce) else {
            return false;
        };
        if raw.len() != SLOT_LEN + MAC_LEN {
            return false;
        }
        let (s, mac) = raw.split_at(SLOT_LEN);
        let mut slot_bytes = [0u8; SLOT_LEN];
        slot_bytes.copy_from_slice(s);
        let slot = i64::from_be_bytes(slot_bytes);
        let current = self.slot(now);
        if slot != current && slot != current - 1 {
            return false;
        }
        let want = hmac::sign(&self.nonce_key, &slot_bytes);
        crate::crypto::constant_time_eq(&want.as_ref()[..MAC_LEN], mac)
    }

    /// Check one proof (RFC 9449 §4.3) for a request to `url` with `method`, with `ath`
    /// when an access token comes with it; then its nonce when one is required (`§8`),
    /// then single use of its `jti` across every instance (§11.1). `clock_now` is the app
    /// clock (nonce slots); `iat` is judged on the system time, like every JWT time.
    #[allow(clippy::too_many_arguments)]
    pub async fn check(
        &self,
        db: &store::Db,
        limiter: &Limiter,
        proof: &str,
        method: &str,
        url: &str,
        access_token: Option<&str>,
        require_nonce: bool,
        clock_now: DateTime<Utc>,
    ) -> Result<Proof, Refusal> {
        let now = Utc::now().timestamp();
        let expect = Expect {
            method,
            url,
            access_token,
            now,
            max_age: self.max_age,
            max_future: MAX_FUTURE_SECS,
        };
        let proof = self
            .headers
            .verify(proof, &expect)
            .map_err(Refusal::Invalid)?;
        if (require_nonce || self.require_nonce)
            && !proof
                .nonce
                .as_deref()
                .is_some_and(|n| self.nonce_is_fresh(n, clock_now))
        {
            return Err(Refusal::UseNonce(self.nonce(clock_now)));
        }
        // Kept until the proof could no longer pass the `iat` check anyway.
        let until = proof.iat + self.max_age + MAX_FUTURE_SECS + 1;
        let ttl = (until - now).max(1);
        let key = crate::crypto::sha256_hex(&format!("{}:{}", proof.jkt, proof.jti));
        let first = match limiter
            .set_once(
                &format!("dpop:{key}"),
                std::time::Duration::from_secs(ttl as u64),
            )
            .await
        {
            Some(first) => first,
            None => {
                let expires = DateTime::from_timestamp(until, 0).unwrap_or_else(store::now);
                self.replay.submit(db, (key, expires)).await?
            }
        };
        if !first {
            return Err(Refusal::Invalid(ProofError::Replayed));
        }
        Ok(proof)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dpop() -> Dpop {
        Dpop::new(&[7u8; 32], chrono::TimeDelta::seconds(60), false)
    }

    #[test]
    fn nonces_live_one_to_two_slots_and_are_bound_to_the_key() {
        let d = dpop();
        let t0 = DateTime::from_timestamp(6000, 0).unwrap();
        let n = d.nonce(t0);
        assert!(d.nonce_is_fresh(&n, t0));
        assert!(d.nonce_is_fresh(&n, t0 + chrono::TimeDelta::seconds(60)));
        assert!(!d.nonce_is_fresh(&n, t0 + chrono::TimeDelta::seconds(120)));
        // Another master key (another deployment) makes other nonces.
        let other = Dpop::new(&[8u8; 32], chrono::TimeDelta::seconds(60), false);
        assert!(!other.nonce_is_fresh(&n, t0));
        // Garbage and a future slot are refused.
        assert!(!d.nonce_is_fresh("", t0));
        assert!(!d.nonce_is_fresh("!!", t0));
        assert!(!d.nonce_is_fresh(&d.nonce(t0 + chrono::TimeDelta::seconds(60)), t0));
    }

    mod hostile {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(hostile_config!())]

            /// Any nonce string never panics and is accepted only if it is one we minted.
            #[test]
            fn prop_arbitrary_nonces_are_refused(s in any::<String>(), t in 0i64..4_000_000_000) {
                let d = dpop();
                let now = DateTime::from_timestamp(t, 0).unwrap();
                prop_assert!(!d.nonce_is_fresh(&s, now) || s == d.nonce(now)
                    || s == d.nonce(now - chrono::TimeDelta::seconds(60)));
            }

            /// Any header value given as a proof never panics and is never accepted.
            #[test]
            fn prop_arbitrary_proofs_are_refused(
                s in prop_oneof![
                    any::<String>(),
                    "[A-Za-z0-9_-]{0,40}\\.[A-Za-z0-9_-]{0,40}\\.[A-Za-z0-9_-]{0,40}",
                ],
                header in prop::collection::vec(any::<u8>(), 0..200),
            ) {
                let e = Expect {
                    method: "POST", url: "https://as.example/oauth/token", access_token: None,
                    now: 1000, max_age: 60, max_future: 5,
                };
                prop_assert!(latch_verify::dpop::verify(&s, &e).is_err());
                // A JSON-ish header with arbitrary bytes, signed by nobody.
                let h = crate::crypto::b64url(&header);
                let p = format!("{h}.e30.AAAA");
                prop_assert!(latch_verify::dpop::verify(&p, &e).is_err());
            }

            /// A JWK with any member set never panics the thumbprint; a private member or
            /// an unknown type gives none.
            #[test]
            fn prop_thumbprints_refuse_private_keys(
                kty in prop_oneof![Just("EC"), Just("RSA"), Just("OKP"), Just("oct"), Just("x")],
                extra in prop::sample::select(vec!["d", "p", "q", "dp", "dq", "qi", "k", "kid"]),
                v in any::<String>(),
            ) {
                let jwk = serde_json::json!({"kty": kty, "crv": "P-256", "x": v, "y": v,
                    "n": v, "e": v, extra: v});
                for alg in SIGNING_ALGS {
                    let t = latch_verify::dpop::thumbprint(&jwk, alg);
                    if extra != "kid" {
                        prop_assert!(t.is_none());
                    }
                }
            }
        }
    }
}
