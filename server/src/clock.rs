//! The application's clock: every time *decision* (code, refresh-token, session, consent
//! and API-key expiry, `max_age`, retention cut-offs) reads `AppState::clock` instead of
//! the system time, so tests can move time forward instead of sleeping. Imports nothing
//! of ours.
//!
//! Not routed through it: audit-event and id timestamps, cache TTLs (moka), tokio timers,
//! rate-limit windows and JWT `iat`/`exp`/`nbf` (checked by `jsonwebtoken` against the
//! system time).

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{DateTime, SubsecRound, TimeDelta, Utc};

/// The current time, truncated to microseconds (PostgreSQL's precision, so a value written
/// and read back compares equal). Cloning shares the clock: advancing one clone advances all.
#[derive(Clone, Default)]
pub struct Clock {
    /// `None`: the system clock. `Some`: the system clock plus this many microseconds,
    /// moved forward by [`Clock::advance`] (tests).
    offset_us: Option<Arc<AtomicI64>>,
}

impl Clock {
    /// The system clock (production).
    pub fn system() -> Self {
        Self { offset_us: None }
    }

    /// A clock for tests: starts at the real time, runs with it, and jumps forward by
    /// whatever [`Clock::advance`] adds.
    pub fn manual() -> Self {
        Self {
            offset_us: Some(Arc::new(AtomicI64::new(0))),
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        let now = Utc::now().trunc_subsecs(6);
        match &self.offset_us {
            None => now,
            Some(offset) => now + TimeDelta::microseconds(offset.load(Ordering::Relaxed)),
        }
    }

    /// Move a manual clock forward (every clone sees it). The system clock cannot be
    /// moved: this is a no-op on it.
    pub fn advance(&self, by: TimeDelta) {
        if let Some(offset) = &self.offset_us {
            let us = by.num_microseconds().unwrap_or(i64::MAX);
            offset.fetch_add(us, Ordering::Relaxed);
        }
    }
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.offset_us {
            None => f.write_str("Clock::system"),
            Some(o) => write!(f, "Clock::manual(+{}us)", o.load(Ordering::Relaxed)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_advances_for_every_clone_and_keeps_microseconds() {
        let clock = Clock::manual();
        let other = clock.clone();
        let before = clock.now();
        other.advance(TimeDelta::seconds(90));
        let after = clock.now();
        assert!(after - before >= TimeDelta::seconds(90));
        assert_eq!(after.timestamp_subsec_nanos() % 1_000, 0);
    }

    #[test]
    fn the_system_clock_ignores_advance() {
        let clock = Clock::system();
        clock.advance(TimeDelta::days(1));
        assert!(clock.now() - Utc::now() < TimeDelta::seconds(1));
    }
}
