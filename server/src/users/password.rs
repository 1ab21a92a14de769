//! Password hashing: argon2id with OWASP's parameters (m = 19 MiB, t = 2, p = 1), off the
//! async executor, with a bound on concurrent hashes so a login flood cannot exhaust memory.

use std::sync::LazyLock;

use argon2::{Argon2, PasswordHash, PasswordHasher, PasswordVerifier};
use tokio::sync::Semaphore;

/// At most this many argon2 computations at once (each holds 19 MiB).
static HASHING: LazyLock<Semaphore> = LazyLock::new(|| Semaphore::new(8));

/// A valid hash of a random password, verified against when the account does not exist so
/// an unknown email costs the same as a wrong password (OWASP Authentication CS).
static DUMMY_HASH: LazyLock<String> = LazyLock::new(|| {
    hash_blocking(&crate::crypto::random_base62(24)).expect("hashing a random password succeeds")
});

pub const MIN_LEN: usize = 10;
pub const MAX_LEN: usize = 1024;

fn argon2() -> Argon2<'static> {
    Argon2::default() // argon2id, v19, m=19456, t=2, p=1: OWASP's first recommendation.
}

pub fn hash_blocking(password: &str) -> Result<String, anyhow::Error> {
    argon2()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("argon2 hashing failed: {e}"))
}

pub fn verify_blocking(hash: &str, password: &str) -> bool {
    match PasswordHash::new(hash) {
        Ok(parsed) => argon2()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

pub async fn hash(password: String) -> Result<String, anyhow::Error> {
    let _permit = HASHING.acquire().await?;
    tokio::task::spawn_blocking(move || hash_blocking(&password)).await?
}

/// Verify `password` against `hash`, or against a dummy hash when there is no account,
/// taking the same time either way.
pub async fn verify(hash: Option<String>, password: String) -> Result<bool, anyhow::Error> {
    let _permit = HASHING.acquire().await?;
    tokio::task::spawn_blocking(move || match hash {
        Some(h) => verify_blocking(&h, &password),
        None => {
            let _ = verify_blocking(&DUMMY_HASH, &password);
            false
        }
    })
    .await
    .map_err(Into::into)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_argon2id_and_verify() {
        let h = hash_blocking("correct horse battery").unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(verify_blocking(&h, "correct horse battery"));
        assert!(!verify_blocking(&h, "wrong"));
        assert!(!verify_blocking("not a phc string", "x"));
    }
}
