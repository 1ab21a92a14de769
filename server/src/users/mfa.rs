//! Two-step sign-in rules (DESIGN.md "Accounts people can trust"): setting up an
//! authenticator app (RFC 6238) — a new secret sealed at rest under the master key, confirmed
//! by a first valid code — checking a code at sign-in (one step of drift either side, a step
//! used once: RFC 6238 §5.2), and the ten single-use recovery codes, stored as keyed digests.
//! The dashboard's Settings and the sign-in's second step both call these.

use chrono::{DateTime, Utc};

use crate::crypto::{self, Sealer};
use crate::errors::StoreError;
use crate::store::{self, Conn};
use crate::totp;

/// How many recovery codes a set-up hands out.
pub const RECOVERY_CODES: usize = 10;
/// Characters of a recovery code (without the dash): 10 of 32 symbols, 50 bits. Enough
/// against on-line guessing, which the second step throttles like passwords (RFC 6819
/// §5.1.4.2.3); the digest is keyed, so a copy of the table cannot be searched off-line.
const RECOVERY_LEN: usize = 10;
/// No 0/o, 1/l/i: codes are read off paper.
const RECOVERY_ALPHABET: &[u8; 32] = b"abcdefghjkmnpqrstuvwxyz23456789_";

/// What the set-up page shows: the secret (for typing in), the key URI and its QR code.
pub struct Enrolment {
    pub secret_b32: String,
    pub uri: String,
    pub qr_svg: String,
}

/// How a second step was passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Passed {
    /// A code from the authenticator app.
    Otp,
    /// One of the recovery codes (now used up).
    RecoveryCode,
}

fn aad(user_id: &str) -> String {
    // Binds the sealed secret to its account: a row copied to another user will not open.
    format!("totp:{user_id}")
}

fn enrolment(issuer: &str, email: &str, secret: &[u8]) -> Enrolment {
    let uri = totp::otpauth_uri(issuer, email, secret);
    Enrolment {
        secret_b32: totp::base32(secret),
        qr_svg: totp::qr_svg(&uri).unwrap_or_default(),
        uri,
    }
}

/// Start a set-up: a fresh random secret, sealed and kept unconfirmed (a confirmed
/// authenticator stays as it is until removed).
pub async fn begin(
    db: &impl Conn,
    sealer: &Sealer,
    user: &entity::user::Model,
    issuer: &str,
    now: DateTime<Utc>,
) -> Result<Enrolment, StoreError> {
    let secret = crypto::random_bytes(totp::SECRET_LEN);
    let sealed = sealer.seal(&secret, &aad(&user.id));
    store::totp::put_pending(db, &user.id, &sealed, now).await?;
    Ok(enrolment(issuer, &user.email, &secret))
}

/// The set-up under way (unconfirmed), to show again.
pub async fn pending(
    db: &impl Conn,
    sealer: &Sealer,
    user: &entity::user::Model,
    issuer: &str,
) -> Result<Option<Enrolment>, StoreError> {
    let Some(f) = store::totp::factor(db, &user.id).await? else {
        return Ok(None);
    };
    if f.confirmed_at.is_some() {
        return Ok(None);
    }
    Ok(sealer
        .open(&f.secret_sealed, &aad(&user.id))
        .map(|s| enrolment(issuer, &user.email, &s)))
}

/// Whether the account has a confirmed authenticator.
pub async fn enabled(db: &impl Conn, user_id: &str) -> Result<bool, StoreError> {
    store::totp::enabled(db, user_id).await
}

/// Confirm the set-up under way with a first code: the new recovery codes (to show once),
/// or `None` when the code is wrong or no set-up is under way.
pub async fn confirm(
    db: &impl Conn,
    sealer: &Sealer,
    user_id: &str,
    code: &str,
    now: DateTime<Utc>,
) -> Result<Option<Vec<String>>, StoreError> {
    let Some(f) = store::totp::factor(db, user_id).await? else {
        return Ok(None);
    };
    if f.confirmed_at.is_some() {
        return Ok(None);
    }
    let Some(secret) = sealer.open(&f.secret_sealed, &aad(user_id)) else {
        return Ok(None);
    };
    let Some(step) = totp::matching_step(&secret, code, now.timestamp()) else {
        return Ok(None);
    };
    if !store::totp::confirm(db, user_id, step_i64(step), now).await? {
        return Ok(None);
    }
    Ok(Some(new_recovery_codes(db, sealer, user_id, now).await?))
}

fn step_i64(step: u64) -> i64 {
    i64::try_from(step).unwrap_or(i64::MAX)
}

/// Check a second step: a current code (its step not used before) or an unused recovery
/// code. `None` when neither.
pub async fn verify(
    db: &impl Conn,
    sealer: &Sealer,
    user_id: &str,
    input: &str,
    now: DateTime<Utc>,
) -> Result<Option<Passed>, StoreError> {
    let Some(f) = store::totp::factor(db, user_id).await? else {
        return Ok(None);
    };
    if f.confirmed_at.is_none() {
        return Ok(None);
    }
    if totp::normalize(input).is_some() {
        let Some(secret) = sealer.open(&f.secret_sealed, &aad(user_id)) else {
            return Ok(None);
        };
        let Some(step) = totp::matching_step(&secret, input, now.timestamp()) else {
            return Ok(None);
        };
        // RFC 6238 §5.2: a code is accepted once; a later step also retires earlier ones.
        let fresh = store::totp::claim_step(db, user_id, step_i64(step)).await?;
        return Ok(fresh.then_some(Passed::Otp));
    }
    let Some(code) = normalize_recovery(input) else {
        return Ok(None);
    };
    let hash = sealer.keyed_digest("recovery-code", code.as_bytes());
    let used = store::totp::use_recovery_code(db, user_id, &hash, now).await?;
    Ok(used.then_some(Passed::RecoveryCode))
}

/// Remove the authenticator and its recovery codes.
pub async fn remove(db: &impl Conn, user_id: &str) -> Result<bool, StoreError> {
    store::totp::remove(db, user_id).await
}

pub async fn recovery_codes_left(db: &impl Conn, user_id: &str) -> Result<u64, StoreError> {
    store::totp::recovery_codes_left(db, user_id).await
}

/// Ten new recovery codes replacing any earlier ones; returned once, kept as digests.
pub async fn new_recovery_codes(
    db: &impl Conn,
    sealer: &Sealer,
    user_id: &str,
    now: DateTime<Utc>,
) -> Result<Vec<String>, StoreError> {
    let codes: Vec<String> = (0..RECOVERY_CODES).map(|_| recovery_code()).collect();
    let hashes: Vec<String> = codes
        .iter()
        .filter_map(|c| normalize_recovery(c))
        .map(|c| sealer.keyed_digest("recovery-code", c.as_bytes()))
        .collect();
    store::totp::replace_recovery_codes(db, user_id, &hashes, now).await?;
    Ok(codes)
}

/// `xxxxx-xxxxx` from [`RECOVERY_ALPHABET`] (without its last symbol, so 31 letters;
/// uniform by rejection sampling).
fn recovery_code() -> String {
    let mut out = String::with_capacity(RECOVERY_LEN + 1);
    while out.len() < RECOVERY_LEN + 1 {
        for b in crypto::random_bytes(16) {
            let i = (b & 31) as usize;
            if i == 31 {
                continue;
            }
            if out.len() == RECOVERY_LEN / 2 {
                out.push('-');
            }
            if out.len() < RECOVERY_LEN + 1 {
                out.push(RECOVERY_ALPHABET[i] as char);
            }
        }
    }
    out
}

/// A typed recovery code in its stored form: lower case, without spaces or dashes;
/// `None` for anything that cannot be one.
pub fn normalize_recovery(input: &str) -> Option<String> {
    let s: String = input
        .chars()
        .filter(|c| !matches!(c, ' ' | '-'))
        .map(|c| c.to_ascii_lowercase())
        .collect();
    (s.len() == RECOVERY_LEN && s.bytes().all(|b| RECOVERY_ALPHABET[..31].contains(&b)))
        .then_some(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn recovery_codes_have_the_documented_shape() {
        for _ in 0..200 {
            let c = recovery_code();
            assert_eq!(c.len(), 11);
            assert_eq!(&c[5..6], "-");
            assert!(normalize_recovery(&c).is_some(), "{c}");
            assert!(normalize_recovery(&c.to_uppercase()).is_some());
        }
        assert_eq!(normalize_recovery("12345-67890"), None);
        assert_eq!(normalize_recovery("abcde"), None);
    }

    proptest! {
        #![proptest_config(hostile_config!())]

        #[test]
        fn prop_normalize_recovery_is_total(s in "\\PC{0,30}") {
            if let Some(n) = normalize_recovery(&s) {
                prop_assert_eq!(n.len(), RECOVERY_LEN);
            }
        }
    }
}
