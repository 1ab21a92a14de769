//! The client's address as the middleware determined it (a request extension), and the key
//! per-IP limits and failure counts use for it. At the bottom of the graph: it imports
//! nothing of ours.

use std::net::IpAddr;

use actix_web::{HttpMessage, HttpRequest};

/// The address the request came from, by the rule in `middleware::ProxyTrust`, and the IPv6 prefix
/// length per-IP limits key it by (`LATCH_IPV6_PREFIX`).
#[derive(Clone, Copy, Debug)]
pub struct ClientIp {
    pub ip: IpAddr,
    v6_prefix: u8,
}

impl ClientIp {
    pub fn new(ip: IpAddr, v6_prefix: u8) -> Self {
        ClientIp { ip, v6_prefix }
    }

    pub fn of(req: &HttpRequest) -> Option<IpAddr> {
        req.extensions().get::<ClientIp>().map(|c| c.ip)
    }

    /// The key every per-IP rate limit and per-IP failure count uses: the address, or its
    /// /64 (by default) for IPv6 (see [`ip_key`]).
    pub fn limit_key(req: &HttpRequest) -> Option<String> {
        req.extensions()
            .get::<ClientIp>()
            .map(|c| ip_key(c.ip, c.v6_prefix))
    }
}

/// The key a per-IP limit or failure count uses for `ip`: an IPv4 address as it is, an IPv6
/// address cut to its first `v6_prefix` bits and written as a prefix (`2001:db8::/64`).
/// One subscriber is usually given a whole /64 (RFC 6177, RFC 7421), so keying on the full
/// address would let one host rotate through 2^64 fresh buckets. IPv4-mapped IPv6 addresses
/// (`::ffff:192.0.2.1`) are the IPv4 address they carry.
pub fn ip_key(ip: IpAddr, v6_prefix: u8) -> String {
    use std::net::Ipv6Addr;
    match ip.to_canonical() {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => {
            let bits = u32::from(v6_prefix.min(128));
            let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
            let net = Ipv6Addr::from(u128::from(v6) & mask);
            format!("{net}/{bits}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_addresses_are_keyed_by_prefix_and_ipv4_as_is() {
        let ip = |s: &str| s.parse::<std::net::IpAddr>().unwrap();
        assert_eq!(ip_key(ip("192.0.2.7"), 64), "192.0.2.7");
        assert_eq!(ip_key(ip("::ffff:192.0.2.7"), 64), "192.0.2.7");
        assert_eq!(ip_key(ip("2001:db8:1:2:aaaa::1"), 64), "2001:db8:1:2::/64");
        assert_eq!(
            ip_key(ip("2001:db8:1:2:aaaa::1"), 64),
            ip_key(ip("2001:db8:1:2:ffff:ffff:ffff:ffff"), 64)
        );
        assert_ne!(
            ip_key(ip("2001:db8:1:2::1"), 64),
            ip_key(ip("2001:db8:1:3::1"), 64)
        );
        assert_eq!(ip_key(ip("2001:db8:1:2::1"), 48), "2001:db8:1::/48");
        assert_eq!(ip_key(ip("2001:db8::1"), 128), "2001:db8::1/128");
        assert_eq!(ip_key(ip("2001:db8:ffff::1"), 32), "2001:db8::/32");
        assert_eq!(
            ip_key(ip("::1"), 0),
            "::/0",
            "out-of-range prefixes never panic"
        );
    }

    mod prop {
        use super::super::*;
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(hostile_config!())]

            /// Any address and any prefix length never panic; two IPv6 addresses that
            /// share the first `prefix` bits share a key, others do not.
            #[test]
            fn prop_ipv6_keys_follow_the_prefix(a in any::<u128>(), b in any::<u128>(), prefix in any::<u8>()) {
                use std::net::Ipv6Addr;
                let (ia, ib) = (Ipv6Addr::from(a), Ipv6Addr::from(b));
                prop_assume!(ia.to_ipv4_mapped().is_none() && ib.to_ipv4_mapped().is_none());
                let bits = u32::from(prefix.min(128));
                let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
                let same = a & mask == b & mask;
                prop_assert_eq!(ip_key(IpAddr::V6(ia), prefix) == ip_key(IpAddr::V6(ib), prefix), same);
            }

            #[test]
            fn prop_ipv4_keys_are_the_address(a in any::<u32>(), prefix in any::<u8>()) {
                let v4 = std::net::Ipv4Addr::from(a);
                prop_assert_eq!(ip_key(IpAddr::V4(v4), prefix), v4.to_string());
                prop_assert_eq!(ip_key(IpAddr::V6(v4.to_ipv6_mapped()), prefix), v4.to_string());
            }
        }
    }
}
