//! Formatting for dashboard pages: moments (`When`), durations in words, avatar initials
//! and scope labels. Pure functions; templates hold no logic.

use chrono::{DateTime, Utc};

/// The first letter or digit of `s`, upper-cased, for an avatar.
pub fn initial(s: &str) -> String {
    s.chars()
        .find(|c| c.is_alphanumeric())
        .map_or_else(|| "?".to_owned(), |c| c.to_uppercase().collect())
}

/// `Mar 4, 2026`
pub fn date(t: DateTime<Utc>) -> String {
    t.format("%b %-d, %Y").to_string()
}

/// `Mar 4, 2026, 14:05 UTC`: the exact time, for a `title`.
pub fn full(t: DateTime<Utc>) -> String {
    t.format("%b %-d, %Y, %H:%M UTC").to_string()
}

/// `2026-03-04T14:05:09Z`, for `<time datetime>`.
pub fn iso(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn plural(n: i64, unit: &str) -> String {
    if n == 1 {
        format!("1 {unit}")
    } else {
        format!("{n} {unit}s")
    }
}

/// A duration in words, rounded down to its largest unit: `59 minutes`, `23 hours`, `7 days`.
pub fn span(secs: i64) -> String {
    let s = secs.max(0);
    if s < 60 {
        plural(s, "second")
    } else if s < 3600 {
        plural(s / 60, "minute")
    } else if s < 86_400 {
        plural(s / 3600, "hour")
    } else {
        plural(s / 86_400, "day")
    }
}

/// `just now`, `5 minutes ago`, `3 days ago`; older than a month: the date.
pub fn ago(t: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let s = (now - t).num_seconds();
    if s < 45 {
        "just now".to_owned()
    } else if s < 30 * 86_400 {
        format!("{} ago", span(s.max(60)))
    } else {
        date(t)
    }
}

/// A moment shown relative to now, with the exact time on hover and for machines.
pub struct When {
    pub text: String,
    pub iso: String,
    pub full: String,
}

impl When {
    pub fn ago(t: DateTime<Utc>, now: DateTime<Utc>) -> Self {
        When {
            text: ago(t, now),
            iso: iso(t),
            full: full(t),
        }
    }

    pub fn date(t: DateTime<Utc>) -> Self {
        When {
            text: date(t),
            iso: iso(t),
            full: full(t),
        }
    }
}

/// One scope, as the person reads it.
pub struct ScopeRow {
    pub name: String,
    pub description: String,
}

/// A stored scope list in words, from the catalog (a scope since removed reads as such).
pub fn scope_rows(catalog: &crate::catalog::Snapshot, scopes: &str) -> Vec<ScopeRow> {
    crate::store::words(scopes)
        .map(|s| ScopeRow {
            name: s.to_owned(),
            description: catalog
                .describe(s)
                .unwrap_or("A permission that no longer exists")
                .to_owned(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_and_ages_read_naturally() {
        assert_eq!(span(0), "0 seconds");
        assert_eq!(span(59), "59 seconds");
        assert_eq!(span(3599), "59 minutes");
        assert_eq!(span(3600), "1 hour");
        assert_eq!(span(86_399), "23 hours");
        assert_eq!(span(7 * 86_400), "7 days");
        let now = Utc::now();
        assert_eq!(ago(now, now), "just now");
        assert_eq!(
            ago(now - chrono::Duration::seconds(61), now),
            "1 minute ago"
        );
        assert_eq!(ago(now - chrono::Duration::hours(5), now), "5 hours ago");
        let old = now - chrono::Duration::days(90);
        assert_eq!(ago(old, now), date(old));
    }

    #[test]
    fn initials() {
        assert_eq!(initial("ann@example.com"), "A");
        assert_eq!(initial("<script>"), "S");
        assert_eq!(initial("!!"), "?");
    }
}
