//! Latch's outbound HTTP fetches of addresses someone else chose — client logos
//! (`clients::logo`), client JWK Sets (`clients::jwks`) and client ID metadata documents
//! (`clients::metadata_document`) — under one SSRF fence (OWASP SSRF Prevention Cheat
//! Sheet):
//!
//! - `https` only; `http` only to loopback, and loopback only when allowed (below);
//! - every address a host name resolves to must be public: no private (RFC 1918), unique
//!   local (RFC 4193), loopback, link-local, CGNAT (RFC 6598), multicast, unspecified,
//!   documentation (RFC 5737, RFC 3849), benchmarking, reserved, NAT64 or IPv4-mapped /
//!   -compatible form of any of those ([`ip_allowed`]); IP-literal hosts are checked the
//!   same way;
//! - the connection goes to exactly the addresses that were checked: the check *is*
//!   reqwest's resolver ([`CheckedResolver`]), so no second lookup can answer differently
//!   (no DNS rebinding between check and connect);
//! - no proxy, no credentials in URLs, a time limit for the whole exchange, a size limit
//!   on the body, and each redirect hop checked again (or redirects refused).
//!
//! **Loopback** is allowed when the issuer itself is on loopback (a development server:
//! logos and JWKS only, [`Fetcher::for_issuer`]) or when `LATCH_ALLOW_LOOPBACK_FETCH=true`
//! (tests only, so they can serve documents from 127.0.0.1). Private and link-local
//! addresses never are.

use std::error::Error as StdError;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use url::Url;

const TIMEOUT: Duration = Duration::from_secs(5);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
const MAX_REDIRECTS: usize = 3;

/// `localhost` or a loopback IP literal (as `clients::is_loopback`; repeated here so this
/// module imports nothing of ours).
fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

/// Fetches under the fence (see the module doc).
#[derive(Clone, Copy, Debug)]
pub struct Fetcher {
    allow_loopback: bool,
}

impl Fetcher {
    /// A fetcher that may reach loopback addresses only if `allow_loopback`.
    pub fn new(allow_loopback: bool) -> Self {
        Fetcher { allow_loopback }
    }

    /// Loopback addresses are allowed only when `issuer` is on loopback itself.
    pub fn for_issuer(issuer: &str) -> Self {
        Fetcher {
            allow_loopback: Url::parse(issuer).is_ok_and(|u| is_loopback(&u)),
        }
    }

    /// This fetcher, also allowed loopback when `allow` (`LATCH_ALLOW_LOOPBACK_FETCH`).
    pub fn or_loopback(self, allow: bool) -> Self {
        Fetcher {
            allow_loopback: self.allow_loopback || allow,
        }
    }

    /// Whether this fetcher may reach loopback.
    pub fn allows_loopback(&self) -> bool {
        self.allow_loopback
    }

    /// Read at most `max` bytes of `res`'s body.
    pub(crate) async fn read_limited(
        mut res: reqwest::Response,
        max: usize,
    ) -> Result<Vec<u8>, String> {
        let too_big = || format!("the document is larger than {} KiB", max / 1024);
        if res.content_length().is_some_and(|n| n > max as u64) {
            return Err(too_big());
        }
        let mut bytes = Vec::new();
        while let Some(chunk) = res.chunk().await.map_err(describe)? {
            if bytes.len() + chunk.len() > max {
                return Err(too_big());
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok(bytes)
    }

    /// Fetch a JSON document of at most `max` bytes at `uri` under the same fence (a
    /// `private_key_jwt` client's `jwks_uri`, `clients::jwks`).
    pub async fn fetch_json(&self, uri: &str, max: usize) -> Result<Vec<u8>, String> {
        let res = self.get(uri, "Latch JWKS fetcher").await?;
        Self::read_limited(res, max).await
    }

    /// POST an `application/x-www-form-urlencoded` body to `uri` under the same fence
    /// (`https`, public addresses; loopback only when the issuer is on loopback), following
    /// no redirect, in at most the fetch timeout: back-channel logout (OIDC Back-Channel
    /// Logout §2.5) posts to an address an app's registrant chose. `Ok` on any 2xx (§2.8);
    /// otherwise a sentence for the operator (never the body the app answered).
    pub async fn post_form(&self, uri: &str, body: String, agent: &str) -> Result<(), String> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .timeout(TIMEOUT)
            .connect_timeout(CONNECT_TIMEOUT)
            .user_agent(agent)
            .dns_resolver(Arc::new(CheckedResolver {
                allow_loopback: self.allow_loopback,
            }))
            .build()
            .map_err(|_| "the request could not be made".to_owned())?;
        let url = Url::parse(uri).map_err(|_| "it is not an absolute URI".to_owned())?;
        self.check_url(&url)?;
        let res = client
            .post(url)
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(body)
            .send()
            .await
            .map_err(describe)?;
        if res.status().is_success() {
            Ok(())
        } else {
            Err(format!(
                "the server answered HTTP {}",
                res.status().as_u16()
            ))
        }
    }

    /// GET `uri` under the fence (each redirect hop checked again); the final successful
    /// response, its body not yet read.
    pub(crate) async fn get(&self, uri: &str, agent: &str) -> Result<reqwest::Response, String> {
        self.get_with(uri, agent, TIMEOUT, MAX_REDIRECTS).await
    }

    /// [`Self::get`] with a time limit for the whole exchange and a redirect budget (`0`:
    /// a redirect is an error, not followed).
    pub(crate) async fn get_with(
        &self,
        uri: &str,
        agent: &str,
        timeout: Duration,
        max_redirects: usize,
    ) -> Result<reqwest::Response, String> {
        self.get_full(
            uri,
            agent,
            timeout,
            max_redirects,
            reqwest::header::HeaderMap::new(),
        )
        .await
    }

    /// [`Self::get`] with request headers: `If-None-Match` / `If-Modified-Since` make it a
    /// conditional request (RFC 9110 §13.1), and then a `304 Not Modified` is answered as
    /// `Ok` (its status says so) rather than taken for a redirect.
    pub(crate) async fn get_conditional(
        &self,
        uri: &str,
        agent: &str,
        headers: reqwest::header::HeaderMap,
    ) -> Result<reqwest::Response, String> {
        self.get_full(uri, agent, TIMEOUT, MAX_REDIRECTS, headers)
            .await
    }

    async fn get_full(
        &self,
        uri: &str,
        agent: &str,
        timeout: Duration,
        max_redirects: usize,
        headers: reqwest::header::HeaderMap,
    ) -> Result<reqwest::Response, String> {
        let conditional = !headers.is_empty();
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .timeout(timeout)
            .connect_timeout(CONNECT_TIMEOUT.min(timeout))
            .user_agent(agent)
            .dns_resolver(Arc::new(CheckedResolver {
                allow_loopback: self.allow_loopback,
            }))
            .build()
            .map_err(|_| "the document could not be fetched".to_owned())?;
        let mut url = Url::parse(uri).map_err(|_| "it is not an absolute URI".to_owned())?;
        for _ in 0..=max_redirects {
            self.check_url(&url)?;
            let res = client
                .get(url.clone())
                .headers(headers.clone())
                .send()
                .await
                .map_err(describe)?;
            if conditional && res.status() == reqwest::StatusCode::NOT_MODIFIED {
                return Ok(res);
            }
            if res.status().is_redirection() && max_redirects == 0 {
                return Err(format!(
                    "it redirects (HTTP {}), and redirects are not followed",
                    res.status().as_u16()
                ));
            }
            if res.status().is_redirection() {
                let next = res
                    .headers()
                    .get(reqwest::header::LOCATION)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|l| url.join(l).ok())
                    .ok_or_else(|| "it redirects without a valid Location".to_owned())?;
                url = next;
                continue;
            }
            if !res.status().is_success() {
                return Err(format!(
                    "the server answered HTTP {}",
                    res.status().as_u16()
                ));
            }
            return Ok(res);
        }
        Err(format!("it redirects more than {max_redirects} times"))
    }

    /// Scheme and IP-literal hosts of each hop (names are checked by the resolver).
    fn check_url(&self, url: &Url) -> Result<(), String> {
        match url.scheme() {
            "https" => {}
            // `http` to loopback only; whether loopback is allowed is the address check below.
            "http" if is_loopback(url) => {}
            _ => return Err("it must use https".to_owned()),
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err("it must not contain credentials".to_owned());
        }
        let ip = match url.host() {
            Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip),
            Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip),
            Some(url::Host::Domain(_)) => return Ok(()),
            None => return Err("it has no host".to_owned()),
        };
        if ip_allowed(ip, self.allow_loopback) {
            Ok(())
        } else {
            Err(BLOCKED.to_owned())
        }
    }
}

pub(crate) const BLOCKED: &str = "its host is a private, local or reserved address";

/// The first error in a chain that says more than "error sending request".
pub(crate) fn describe(e: reqwest::Error) -> String {
    let mut source: Option<&(dyn StdError + 'static)> = Some(&e);
    while let Some(s) = source {
        if s.downcast_ref::<Blocked>().is_some() {
            return BLOCKED.to_owned();
        }
        source = s.source();
    }
    if e.is_timeout() {
        "the server did not answer in time".to_owned()
    } else if e.is_connect() {
        "the server could not be reached".to_owned()
    } else {
        "the document could not be fetched".to_owned()
    }
}

/// Whether Latch may connect to `ip`: public unicast only; loopback when allowed.
pub fn ip_allowed(ip: IpAddr, allow_loopback: bool) -> bool {
    match ip {
        IpAddr::V4(v4) => v4_allowed(v4, allow_loopback),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return v4_allowed(v4, allow_loopback);
            }
            if v6.is_loopback() {
                return allow_loopback;
            }
            let s = v6.segments();
            !(v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00 // unique local, RFC 4193
                || (s[0] & 0xffc0) == 0xfe80 // link-local
                || (s[0] & 0xffc0) == 0xfec0 // site-local (deprecated)
                || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation, RFC 3849
                || (s[0] == 0x64 && s[1] == 0xff9b) // NAT64, RFC 6052: an IPv4 behind it
                || s[..6] == [0, 0, 0, 0, 0, 0]) // IPv4-compatible (deprecated)
        }
    }
}

fn v4_allowed(ip: Ipv4Addr, allow_loopback: bool) -> bool {
    if ip.is_loopback() {
        return allow_loopback;
    }
    let o = ip.octets();
    !(ip.is_unspecified()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || o[0] == 0
        || (o[0] == 100 && (o[1] & 0xc0) == 64) // CGNAT, RFC 6598
        || (o[0] == 192 && o[1] == 0 && o[2] == 0) // IETF protocol assignments
        || (o[0] == 198 && (o[1] & 0xfe) == 18) // benchmarking, RFC 2544
        || o[0] >= 240) // reserved
}

/// Refusal of a name that resolves to an address Latch may not connect to.
#[derive(Debug)]
struct Blocked;

impl std::fmt::Display for Blocked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(BLOCKED)
    }
}

impl StdError for Blocked {}

/// Resolves with the system resolver and refuses a name if any of its addresses is not
/// allowed; reqwest connects only to the addresses returned here.
struct CheckedResolver {
    allow_loopback: bool,
}

impl reqwest::dns::Resolve for CheckedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let allow_loopback = self.allow_loopback;
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if addrs.is_empty() || addrs.iter().any(|a| !ip_allowed(a.ip(), allow_loopback)) {
                return Err(Box::new(Blocked) as Box<dyn StdError + Send + Sync>);
            }
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_public_addresses_unless_loopback_is_allowed() {
        for bad in [
            "10.0.0.1",
            "172.16.5.4",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "192.0.2.1",
            "198.51.100.7",
            "203.0.113.9",
            "::",
            "fd00::1",
            "fe80::1",
            "ff02::1",
            "::ffff:10.0.0.1",
            "::ffff:169.254.169.254",
            "::ffff:100.64.0.1",
            "64:ff9b::a00:1",
            "2001:db8::1",
        ] {
            let ip: IpAddr = bad.parse().unwrap();
            assert!(!ip_allowed(ip, true), "{bad}");
        }
        for ok in ["93.184.216.34", "2606:4700::1111", "1.1.1.1"] {
            assert!(ip_allowed(ok.parse().unwrap(), false), "{ok}");
        }
        for lo in ["127.0.0.1", "127.1.2.3", "::1", "::ffff:127.0.0.1"] {
            let ip: IpAddr = lo.parse().unwrap();
            assert!(!ip_allowed(ip, false), "{lo}");
            assert!(ip_allowed(ip, true), "{lo}");
        }
    }

    #[test]
    fn loopback_follows_the_issuer() {
        assert!(Fetcher::for_issuer("http://127.0.0.1:8080").allow_loopback);
        assert!(Fetcher::for_issuer("http://localhost:8080").allow_loopback);
        assert!(!Fetcher::for_issuer("https://auth.example.com").allow_loopback);
    }

    #[test]
    fn plain_http_needs_loopback_allowed() {
        let url = Url::parse("http://127.0.0.1:9/x").unwrap();
        assert!(Fetcher::new(false).check_url(&url).is_err());
        assert!(Fetcher::new(true).check_url(&url).is_ok());
        let url = Url::parse("http://example.com/x").unwrap();
        assert!(Fetcher::new(true).check_url(&url).is_err());
    }
}
