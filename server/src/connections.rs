//! A cap on the connections one address may hold open at once (`LATCH_MAX_CONNECTIONS_PER_IP`).
//!
//! Each accepted connection is counted against its peer's limit key (the address, or its IPv6
//! prefix, as for every per-IP limit) by a guard kept in the connection's extensions; the
//! guard's `Drop` gives the slot back when the connection closes. Requests on a connection
//! over the cap are answered 429 with `Connection: close` (RFC 6585 §4, RFC 9112 §9.6), so
//! one address cannot hold every file descriptor while others still get served.
//!
//! Connections from a trusted proxy (`LATCH_BEHIND_PROXY`) are not counted: they carry many
//! clients, whose own limits apply per request.

use std::any::Any;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};

use actix_web::dev::Extensions;

pub struct ConnectionLimiter {
    max: u32,
    v6_prefix: u8,
    /// Peers whose connections are not counted (trusted proxies, when behind one).
    exempt: Vec<IpAddr>,
    open: Mutex<HashMap<String, u32>>,
}

/// Kept in a connection's extensions; reports whether the connection is over the cap.
pub struct ConnectionGuard {
    limiter: Arc<ConnectionLimiter>,
    key: String,
    over: bool,
}

impl ConnectionGuard {
    /// Whether this connection went past its address's cap when it was accepted.
    pub fn over_limit(&self) -> bool {
        self.over
    }
}

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        let mut open = self.limiter.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = open.get_mut(&self.key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                open.remove(&self.key);
            }
        }
    }
}

impl ConnectionLimiter {
    pub fn new(max: u32, v6_prefix: u8, exempt: Vec<IpAddr>) -> Arc<Self> {
        Arc::new(Self {
            max,
            v6_prefix,
            exempt,
            open: Mutex::new(HashMap::new()),
        })
    }

    /// Count a new connection from `peer`; `None` when it is exempt.
    pub fn admit(self: &Arc<Self>, peer: IpAddr) -> Option<ConnectionGuard> {
        if self.exempt.contains(&peer) {
            return None;
        }
        let key = crate::client_ip::ip_key(peer, self.v6_prefix);
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let n = open.entry(key.clone()).or_insert(0);
        *n = n.saturating_add(1);
        let over = *n > self.max;
        drop(open);
        if over {
            metrics::counter!("latch_connections_refused_total").increment(1);
        }
        Some(ConnectionGuard {
            limiter: self.clone(),
            key,
            over,
        })
    }

    /// For `HttpServer::on_connect`: find the peer of a plain or TLS connection and keep a
    /// guard for it in the connection's extensions.
    pub fn on_connect(self: &Arc<Self>, conn: &dyn Any, ext: &mut Extensions) {
        if let Some(guard) = peer_of(conn).and_then(|peer| self.admit(peer.ip())) {
            ext.insert(guard);
        }
    }
}

fn peer_of(conn: &dyn Any) -> Option<SocketAddr> {
    use actix_web::rt::net::TcpStream;
    if let Some(tcp) = conn.downcast_ref::<TcpStream>() {
        return tcp.peer_addr().ok();
    }
    if let Some(tls) = conn.downcast_ref::<actix_tls::accept::rustls_0_23::TlsStream<TcpStream>>() {
        return tls.get_ref().0.peer_addr().ok();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_over_the_cap_are_marked_and_slots_come_back_on_drop() {
        let l = ConnectionLimiter::new(2, 64, vec!["10.0.0.1".parse().unwrap()]);
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let g1 = l.admit(a).unwrap();
        let g2 = l.admit(a).unwrap();
        let g3 = l.admit(a).unwrap();
        assert!(!g1.over_limit() && !g2.over_limit());
        assert!(g3.over_limit());
        assert!(!l.admit("192.0.2.2".parse().unwrap()).unwrap().over_limit());
        // Same /64: one address for the cap.
        let v6 = |s: &str| s.parse::<IpAddr>().unwrap();
        let h1 = l.admit(v6("2001:db8::1")).unwrap();
        let h2 = l.admit(v6("2001:db8::2")).unwrap();
        assert!(l.admit(v6("2001:db8::3")).unwrap().over_limit());
        assert!(!l.admit(v6("2001:db8:0:1::3")).unwrap().over_limit());
        drop((g3, g2, h1, h2));
        assert!(!l.admit(a).unwrap().over_limit());
        assert!(l.admit("10.0.0.1".parse().unwrap()).is_none());
        drop(g1);
        assert!(
            l.open.lock().unwrap().is_empty(),
            "closed connections leave nothing behind"
        );
    }
}
