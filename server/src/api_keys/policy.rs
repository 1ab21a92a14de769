//! Key policies as pure rules (no I/O): CIDR allowlists, refill intervals on the app clock,
//! the size of the block of uses an instance leases, and metadata bounds. The caller
//! (`api_keys::verify`, the `/v1` guard) applies them to a cached key.

use std::net::IpAddr;

use chrono::{DateTime, Datelike, TimeZone, Utc};

/// At most this many CIDRs in one key's allowlist.
pub const MAX_ALLOWED_IPS: usize = 50;
pub const MAX_METADATA: usize = 20;
pub const MAX_METADATA_KEY: usize = 40;
pub const MAX_METADATA_VALUE: usize = 500;
/// The largest block of uses one instance leases from the row at once.
pub const MAX_BLOCK: i64 = 100;

/// One allowlist entry: an address and a prefix length (`10.0.0.0/8`, `2001:db8::/32`; a
/// bare address is a /32 or /128).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    len: u8,
}

impl Cidr {
    pub fn parse(s: &str) -> Option<Cidr> {
        let (a, len) = match s.split_once('/') {
            Some((a, l)) => (a, Some(l.parse::<u8>().ok()?)),
            None => (s, None),
        };
        let addr: IpAddr = a.parse().ok()?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let len = len.unwrap_or(max);
        if len > max {
            return None;
        }
        Some(Cidr { addr, len })
    }

    /// Whether `ip` is inside; an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`, RFC 4291
    /// §2.5.5.2) counts as its IPv4 address.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(a)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.len)).unwrap_or(0);
                u32::from(net) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(a)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.len))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

/// Parse an allowlist; `Err` names the first bad entry.
pub fn parse_allowlist<'a>(items: impl IntoIterator<Item = &'a str>) -> Result<Vec<Cidr>, String> {
    let mut out: Vec<Cidr> = Vec::new();
    for s in items {
        let s = s.trim();
        if s.is_empty() {
            continue;
        }
        let c = Cidr::parse(s).ok_or_else(|| {
            format!(
                "{:?} is not an IPv4 or IPv6 address or CIDR",
                s.chars().take(64).collect::<String>()
            )
        })?;
        if !out.contains(&c) {
            out.push(c);
        }
    }
    if out.len() > MAX_ALLOWED_IPS {
        return Err(format!("at most {MAX_ALLOWED_IPS} allowed_ips"));
    }
    Ok(out)
}

pub fn allowed(list: &[Cidr], ip: Option<IpAddr>) -> bool {
    ip.is_some_and(|ip| list.iter().any(|c| c.contains(ip)))
}

/// A refill interval: `remaining` is set back to the amount at each UTC calendar boundary.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Interval {
    Day,
    Month,
}

impl Interval {
    pub fn parse(s: &str) -> Option<Interval> {
        match s {
            "day" => Some(Interval::Day),
            "month" => Some(Interval::Month),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Interval::Day => "day",
            Interval::Month => "month",
        }
    }

    /// The start of the interval holding `now` (00:00 UTC of the day, or of the 1st).
    pub fn period_start(self, now: DateTime<Utc>) -> DateTime<Utc> {
        let d = now.date_naive();
        let day = match self {
            Interval::Day => d,
            Interval::Month => d.with_day(1).unwrap_or(d),
        };
        Utc.from_utc_datetime(&day.and_time(chrono::NaiveTime::MIN))
    }

    /// The next boundary after `now`: when a refill comes.
    pub fn next_boundary(self, now: DateTime<Utc>) -> DateTime<Utc> {
        let start = self.period_start(now);
        match self {
            Interval::Day => start + chrono::Duration::days(1),
            Interval::Month => start
                .checked_add_months(chrono::Months::new(1))
                .unwrap_or(start + chrono::Duration::days(31)),
        }
    }
}

/// Whether a key last refilled at `refilled_at` is due a refill at `now`: a boundary has
/// passed since (a key never refilled is due at its first boundary after `created`).
pub fn refill_due(
    interval: Interval,
    refilled_at: Option<DateTime<Utc>>,
    created: DateTime<Utc>,
    now: DateTime<Utc>,
) -> bool {
    let last = refilled_at.unwrap_or_else(|| interval.period_start(created));
    interval.period_start(now) > last
}

/// How many uses to lease from a row that had `remaining` left: a sixteenth, between 1 and
/// [`MAX_BLOCK`], so the block shrinks as the cap nears and several instances each get some.
pub fn block_size(remaining: i64) -> i64 {
    (remaining / 16).clamp(1, MAX_BLOCK)
}

/// Check metadata pairs: at most 20, key 1 to 40 characters, value at most 500.
pub fn check_metadata(pairs: &[(String, String)]) -> Result<(), String> {
    if pairs.len() > MAX_METADATA {
        return Err(format!("at most {MAX_METADATA} metadata keys"));
    }
    for (k, v) in pairs {
        if k.is_empty() || k.chars().count() > MAX_METADATA_KEY || k.chars().any(char::is_control) {
            return Err(format!(
                "metadata keys must be 1 to {MAX_METADATA_KEY} characters, without control characters"
            ));
        }
        if v.chars().count() > MAX_METADATA_VALUE {
            return Err(format!(
                "metadata values must be at most {MAX_METADATA_VALUE} characters"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn cidr_v4() {
        let c = Cidr::parse("10.1.0.0/16").unwrap();
        assert!(c.contains(ip("10.1.2.3")));
        assert!(!c.contains(ip("10.2.0.1")));
        assert!(c.contains(ip("::ffff:10.1.9.9")));
        assert!(Cidr::parse("0.0.0.0/0").unwrap().contains(ip("8.8.8.8")));
        assert!(Cidr::parse("127.0.0.1").unwrap().contains(ip("127.0.0.1")));
        assert!(!Cidr::parse("127.0.0.1").unwrap().contains(ip("127.0.0.2")));
        assert!(Cidr::parse("10.0.0.0/33").is_none());
        assert!(Cidr::parse("10.0.0/8").is_none());
        assert!(Cidr::parse("nope").is_none());
    }

    #[test]
    fn cidr_v6() {
        let c = Cidr::parse("2001:db8::/32").unwrap();
        assert!(c.contains(ip("2001:db8:1::1")));
        assert!(!c.contains(ip("2001:db9::1")));
        assert!(!c.contains(ip("10.0.0.1")));
        assert!(Cidr::parse("::/0").unwrap().contains(ip("::1")));
        assert!(Cidr::parse("::1/129").is_none());
    }

    #[test]
    fn allowlist_bounds() {
        assert_eq!(parse_allowlist(["1.2.3.4", "1.2.3.4/32"]).unwrap().len(), 1);
        assert!(
            parse_allowlist(["1.2.3.4", "x"])
                .unwrap_err()
                .contains("\"x\"")
        );
        let many: Vec<String> = (0..51).map(|i| format!("10.0.0.{i}")).collect();
        assert!(parse_allowlist(many.iter().map(String::as_str)).is_err());
        assert!(!allowed(&parse_allowlist(["1.2.3.4"]).unwrap(), None));
    }

    #[test]
    fn refill_boundaries() {
        let t = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        let now = t("2026-11-30T17:05:00Z");
        assert_eq!(Interval::Day.period_start(now), t("2026-11-30T00:00:00Z"));
        assert_eq!(Interval::Day.next_boundary(now), t("2026-12-01T00:00:00Z"));
        assert_eq!(Interval::Month.period_start(now), t("2026-11-01T00:00:00Z"));
        assert_eq!(
            Interval::Month.next_boundary(now),
            t("2026-12-01T00:00:00Z")
        );
        let created = t("2026-11-30T10:00:00Z");
        assert!(!refill_due(Interval::Day, None, created, now));
        assert!(refill_due(
            Interval::Day,
            None,
            created,
            t("2026-12-01T00:00:00Z")
        ));
        assert!(!refill_due(
            Interval::Day,
            Some(t("2026-12-01T00:00:00Z")),
            created,
            t("2026-12-01T23:59:59Z")
        ));
        assert!(refill_due(
            Interval::Month,
            Some(t("2026-11-01T00:00:00Z")),
            created,
            t("2027-01-15T00:00:00Z")
        ));
    }

    #[test]
    fn blocks_shrink() {
        assert_eq!(block_size(1), 1);
        assert_eq!(block_size(15), 1);
        assert_eq!(block_size(160), 10);
        assert_eq!(block_size(1_000_000), MAX_BLOCK);
    }

    #[test]
    fn metadata_bounds() {
        let p = |k: &str, v: &str| vec![(k.to_owned(), v.to_owned())];
        assert!(check_metadata(&p("team", "billing")).is_ok());
        assert!(check_metadata(&p("", "x")).is_err());
        assert!(check_metadata(&p(&"k".repeat(41), "x")).is_err());
        assert!(check_metadata(&p("k", &"v".repeat(501))).is_err());
        let many: Vec<_> = (0..21).map(|i| (format!("k{i}"), String::new())).collect();
        assert!(check_metadata(&many).is_err());
    }
}
