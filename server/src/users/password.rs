//! Password hashing: argon2id with OWASP's parameters (m = 19 MiB, t = 2, p = 1), off the
//! async executor, with a bound on concurrent hashes so a login flood cannot exhaust memory.
//!
//! The hashes run on threads of their own at a lower scheduling priority (nice 10), not on
//! tokio's blocking pool: each costs tens of milliseconds of CPU, and sign-ins must not slow
//! the token endpoint or `/v1` (issue #12). When the CPU is busy, request handling comes
//! first and sign-ins wait; when it is idle, they run at full speed.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{LazyLock, Mutex, mpsc};

use argon2::{Argon2, PasswordHash, PasswordHasher, PasswordVerifier};
use tokio::sync::Semaphore;

/// At most this many sign-ins wait for a hash at once (the rest wait for a permit).
static HASHING: LazyLock<Semaphore> = LazyLock::new(|| Semaphore::new(8));

/// Hashing threads (`LATCH_HASHING_THREADS`, default 1): at most this many argon2
/// computations run at once, each holding 19 MiB while it runs (the blocks are freed, and
/// given back to the OS, when the hash is done: `purge_delay` 0 in `main.rs`), and together
/// they take at most this many cores, at a lower priority than request handling. With two,
/// sign-ins beside the token endpoint took the peak to 83 MB (issue #16); one keeps hashing
/// to 19 MiB. Read when the first hash starts the pool; [`set_threads`] sets it before.
static THREADS: AtomicUsize = AtomicUsize::new(DEFAULT_THREADS);
/// The default of `LATCH_HASHING_THREADS`.
pub const DEFAULT_THREADS: usize = crate::config::DEFAULT_HASHING_THREADS;

/// Set the number of hashing threads (start-up, before the first sign-in; later calls do
/// not resize a running pool).
pub fn set_threads(n: usize) {
    THREADS.store(n.max(1), Ordering::Relaxed);
}

type Job = Box<dyn FnOnce() + Send>;

/// The hashing threads, [`THREADS`] of them, started on first use.
static POOL: LazyLock<Mutex<mpsc::Sender<Job>>> = LazyLock::new(|| {
    let (tx, rx) = mpsc::channel::<Job>();
    let rx = std::sync::Arc::new(Mutex::new(rx));
    for i in 0..THREADS.load(Ordering::Relaxed).max(1) {
        let rx = rx.clone();
        let _ = std::thread::Builder::new()
            .name(format!("argon2-{i}"))
            .spawn(move || {
                lower_priority();
                loop {
                    let job = match rx.lock() {
                        Ok(r) => r.recv(),
                        Err(_) => return,
                    };
                    match job {
                        Ok(job) => job(),
                        Err(_) => return,
                    }
                }
            });
    }
    Mutex::new(tx)
});

/// Nice 10 for the calling thread: on Linux, `setpriority(PRIO_PROCESS, 0, …)` applies to the
/// calling thread only (nice values are per thread), and raising one's own nice value needs
/// no privilege. Elsewhere a no-op.
fn lower_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: setpriority takes plain integers and touches no memory of ours.
    unsafe {
        libc::setpriority(libc::PRIO_PROCESS, 0, 10);
    }
}

/// Run `f` on a hashing thread and wait for it without blocking the executor.
async fn on_hashing_thread<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, anyhow::Error> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let job: Job = Box::new(move || {
        let _ = tx.send(f());
    });
    POOL.lock()
        .map_err(|_| anyhow::anyhow!("the hashing pool is poisoned"))?
        .send(job)
        .map_err(|_| anyhow::anyhow!("the hashing threads are gone"))?;
    rx.await
        .map_err(|_| anyhow::anyhow!("a hashing thread stopped"))
}

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
    on_hashing_thread(move || hash_blocking(&password)).await?
}

/// Verify `password` against `hash`, or against a dummy hash when there is no account,
/// taking the same time either way.
pub async fn verify(hash: Option<String>, password: String) -> Result<bool, anyhow::Error> {
    let _permit = HASHING.acquire().await?;
    on_hashing_thread(move || match hash {
        Some(h) => verify_blocking(&h, &password),
        None => {
            let _ = verify_blocking(&DUMMY_HASH, &password);
            false
        }
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashing_runs_on_its_own_lower_priority_threads() {
        let (name, nice) = on_hashing_thread(|| {
            let name = std::thread::current().name().map(str::to_owned);
            // SAFETY: getpriority reads the calling thread's nice value.
            #[cfg(target_os = "linux")]
            let nice = unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) };
            #[cfg(not(target_os = "linux"))]
            let nice = 10;
            (name, nice)
        })
        .await
        .unwrap();
        assert!(name.unwrap_or_default().starts_with("argon2-"));
        assert!(nice >= 10, "nice {nice}");
        let h = hash("correct horse battery".into()).await.unwrap();
        assert!(
            verify(Some(h), "correct horse battery".into())
                .await
                .unwrap()
        );
        assert!(!verify(None, "x".into()).await.unwrap());
    }

    #[test]
    fn hashes_are_argon2id_and_verify() {
        let h = hash_blocking("correct horse battery").unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(verify_blocking(&h, "correct horse battery"));
        assert!(!verify_blocking(&h, "wrong"));
        assert!(!verify_blocking("not a phc string", "x"));
    }
}
