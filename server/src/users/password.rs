//! Password hashing: argon2id with one of OWASP's equivalent parameter sets (m = 7 MiB, t = 5,
//! p = 1; see [`argon2`]), off the async executor, with a bound on concurrent hashes so a login
//! flood cannot exhaust memory. A hash made with other parameters (Latch before issue #16
//! used m = 19 MiB, t = 2) still verifies, and is replaced at the next sign-in
//! ([`needs_rehash`]).
//!
//! The hashes run on threads of their own at a lower scheduling priority (nice 10), not on
//! tokio's blocking pool: each costs tens of milliseconds of CPU, and sign-ins must not slow
//! the token endpoint or `/v1` (issue #12). When the CPU is busy, request handling comes
//! first and sign-ins wait; when it is idle, they run at full speed.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{LazyLock, Mutex, mpsc};

use argon2::{Algorithm, Argon2, Params, PasswordHash, PasswordHasher, PasswordVerifier, Version};
use tokio::sync::Semaphore;

/// At most this many sign-ins wait for a hash at once (the rest wait for a permit).
static HASHING: LazyLock<Semaphore> = LazyLock::new(|| Semaphore::new(8));

/// Hashing threads (`LATCH_HASHING_THREADS`, default 1): at most this many argon2
/// computations run at once, each holding [`MEMORY_KIB`] (7 MiB) while it runs (the blocks
/// are freed, and given back to the OS, when the hash is done: `purge_delay` 0 in `main.rs`),
/// and together they take at most this many cores, at a lower priority than request
/// handling. With two, sign-ins beside the token endpoint took the peak to 83 MB (issue #16);
/// one keeps hashing to one hash's memory. Read when the first hash starts the pool;
/// [`set_threads`] sets it before.
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

/// argon2id's memory per hash, in KiB, and its passes. OWASP's Password Storage Cheat Sheet
/// lists five argon2id settings that "provide an equal level of defense, and the only
/// difference is a trade off between CPU and RAM usage": m = 46 MiB t = 1, 19 MiB t = 2,
/// 12 MiB t = 3, 9 MiB t = 4, 7 MiB t = 5 (p = 1). Latch takes the last: about the same CPU
/// per hash as 19 MiB t = 2 (7 × 5 against 19 × 2 MiB passes), a third of the memory, so a
/// sign-in beside full load adds ~7 MB to the process instead of ~20 (issue #16, peak RSS
/// ≤ 60 MB; BENCHMARKS.md).
pub const MEMORY_KIB: u32 = 7 * 1024;
/// See [`MEMORY_KIB`].
pub const PASSES: u32 = 5;

fn argon2() -> Argon2<'static> {
    match Params::new(MEMORY_KIB, PASSES, 1, None) {
        Ok(params) => Argon2::new(Algorithm::Argon2id, Version::V0x13, params),
        // Unreachable: the constants are within argon2's bounds (a unit test checks).
        Err(_) => Argon2::default(),
    }
}

/// Whether `hash` was made with other settings than today's (an older Latch's m = 19 MiB, an
/// imported argon2i/argon2d hash or other parameters): the sign-in that just verified it
/// stores a new one. It also verifies under its own parameters until then, which bounds
/// nothing: the PHC string's parameters are ours (we wrote them), or an operator's import.
pub fn needs_rehash(hash: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(hash) else {
        return false;
    };
    let Ok(params) = Params::try_from(&parsed) else {
        return false;
    };
    parsed.algorithm.as_str() != Algorithm::Argon2id.as_str()
        || parsed.version != Some(Version::V0x13.into())
        || params.m_cost() != MEMORY_KIB
        || params.t_cost() != PASSES
        || params.p_cost() != 1
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
        assert!(h.starts_with("$argon2id$v=19$m=7168,t=5,p=1$"), "{h}");
        assert!(!needs_rehash(&h));
        assert!(verify_blocking(&h, "correct horse battery"));
        assert!(!verify_blocking(&h, "wrong"));
        assert!(!verify_blocking("not a phc string", "x"));
    }

    #[test]
    fn older_settings_still_verify_and_ask_for_a_new_hash() {
        // What Latch stored before issue #16: OWASP's m = 19 MiB, t = 2.
        let old = Argon2::default()
            .hash_password(b"correct horse battery")
            .unwrap()
            .to_string();
        assert!(old.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{old}");
        assert!(verify_blocking(&old, "correct horse battery"));
        assert!(needs_rehash(&old));
        assert!(!needs_rehash("not a phc string"));
    }
}
