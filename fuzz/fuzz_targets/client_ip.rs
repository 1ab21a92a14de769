//! The client's address (`middleware::ProxyTrust`) and the per-IP limit key
//! (`client_ip::ip_key`): any `X-Forwarded-For` values never panic; the address found is the
//! peer or an entry of the header, never a trusted proxy's unless the peer is one and no
//! entry qualifies; headers from an untrusted peer are ignored; IPv6 keys are equal exactly
//! when the prefix is.
#![no_main]

use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use actix_web::http::header::HeaderValue;
use actix_web::test::TestRequest;
use arbitrary::Arbitrary;
use latch::client_ip::ip_key;
use latch::fuzzing::client_ip;
use latch::middleware::ProxyTrust;
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Input<'a> {
    headers: Vec<&'a [u8]>,
    from_proxy: bool,
    behind_proxy: bool,
    peer: [u8; 4],
    a: u128,
    b: u128,
    prefix: u8,
}

fuzz_target!(|i: Input<'_>| {
    let proxy: IpAddr = "10.0.0.1".parse().expect("an address");
    let trust = ProxyTrust {
        behind_proxy: i.behind_proxy,
        trusted_proxies: vec![proxy, "::1".parse().expect("an address")],
        v6_prefix: 64,
    };
    let peer = if i.from_proxy {
        proxy
    } else {
        IpAddr::from(i.peer)
    };
    let mut req = TestRequest::get().peer_addr(SocketAddr::new(peer, 4000));
    let mut sent = Vec::new();
    for h in i.headers.iter().take(4) {
        if let Ok(v) = HeaderValue::from_bytes(h) {
            if let Ok(s) = v.to_str() {
                sent.push(s.to_owned());
            }
            req = req.append_header(("x-forwarded-for", v));
        }
    }
    let ip = client_ip(&trust, &req.to_srv_request()).expect("an address");
    if !i.behind_proxy || !trust.trusted_proxies.contains(&peer) {
        assert_eq!(ip, peer);
    } else if ip != peer {
        assert!(!trust.trusted_proxies.contains(&ip));
        let joined = sent.join(",");
        assert!(
            joined
                .split(',')
                .any(|s| s.trim().parse::<IpAddr>().ok() == Some(ip))
        );
    }

    // IPv6 keys follow the prefix.
    let prefix = i.prefix % 129;
    let (a, b) = (Ipv6Addr::from(i.a), Ipv6Addr::from(i.b));
    let same_prefix = prefix == 0 || (i.a ^ i.b) >> (128 - u32::from(prefix)) == 0;
    let mapped = |x: Ipv6Addr| x.to_ipv4_mapped().is_some();
    if !mapped(a) && !mapped(b) {
        assert_eq!(
            ip_key(IpAddr::V6(a), prefix) == ip_key(IpAddr::V6(b), prefix),
            same_prefix
        );
    }
    let _ = ip_key(IpAddr::V6(a), i.prefix);
});
