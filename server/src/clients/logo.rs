//! Client logos (OIDC Dynamic Client Registration §2 `logo_uri`), fetched by Latch and
//! served from its own origin, never hot-linked: a consent page that loaded the app's URL
//! would tell the app's server who is looking at it and when, and would show whatever that
//! URL serves at that moment.
//!
//! The fetch is a server-side request to an address a user chose, so it is fenced (OWASP
//! SSRF Prevention): `https` only (`http` only on loopback, like redirect URIs); every
//! address a host name resolves to must be public — no private (RFC 1918, RFC 4193),
//! loopback, link-local, CGNAT (RFC 6598), multicast, documentation or reserved address —
//! and the connection goes to the addresses that were checked (the check is the resolver,
//! so a second lookup cannot answer differently); no proxy; at most 3 redirects, each hop
//! checked again; 5 s in all; at most [`MAX_BYTES`]. **Loopback** is allowed only when the
//! issuer itself is on loopback (a development server, and the tests, which serve a logo
//! from 127.0.0.1); private and link-local addresses never are.
//!
//! Only PNG, JPEG, GIF and WebP are kept — not SVG, which can carry script — and the bytes
//! must start with the signature of the type the server declared.

use std::error::Error as StdError;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use url::Url;

/// The largest logo kept (256 KiB).
pub const MAX_BYTES: usize = 256 * 1024;
const TIMEOUT: Duration = Duration::from_secs(5);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
const MAX_REDIRECTS: usize = 3;

/// A fetched logo, ready to store.
#[derive(Debug, Clone)]
pub struct Logo {
    pub content_type: &'static str,
    pub bytes: Vec<u8>,
    /// SHA-256 hex of the bytes.
    pub digest: String,
}

/// Fetches logos under this server's address rule (see the module doc).
#[derive(Clone, Copy, Debug)]
pub struct Fetcher {
    allow_loopback: bool,
}

impl Fetcher {
    /// Loopback logo addresses are allowed only when `issuer` is on loopback itself.
    pub fn for_issuer(issuer: &str) -> Self {
        Fetcher {
            allow_loopback: Url::parse(issuer).is_ok_and(|u| super::is_loopback(&u)),
        }
    }

    /// Fetch and check the logo at `uri` (already validated as a metadata URI). The error is
    /// a sentence for the person who gave the URI.
    pub async fn fetch(&self, uri: &str) -> Result<Logo, String> {
        read_image(self.get(uri, "Latch logo fetcher").await?).await
    }

    /// Fetch a JSON document of at most `max` bytes at `uri` under the same fence (a
    /// `private_key_jwt` client's `jwks_uri`, `clients::jwks`).
    pub async fn fetch_json(&self, uri: &str, max: usize) -> Result<Vec<u8>, String> {
        let mut res = self.get(uri, "Latch JWKS fetcher").await?;
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

    /// GET `uri` under the fence (each redirect hop checked again); the final successful
    /// response, its body not yet read.
    async fn get(&self, uri: &str, agent: &str) -> Result<reqwest::Response, String> {
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
            .map_err(|_| "the document could not be fetched".to_owned())?;
        let mut url = Url::parse(uri).map_err(|_| "it is not an absolute URI".to_owned())?;
        for _ in 0..=MAX_REDIRECTS {
            self.check_url(&url)?;
            let res = client.get(url.clone()).send().await.map_err(describe)?;
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
        Err(format!("it redirects more than {MAX_REDIRECTS} times"))
    }

    /// Scheme and IP-literal hosts of each hop (names are checked by the resolver).
    fn check_url(&self, url: &Url) -> Result<(), String> {
        match url.scheme() {
            "https" => {}
            "http" if super::is_loopback(url) => {}
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

const BLOCKED: &str = "its host is a private, local or reserved address";

/// The first error in a chain that says more than "error sending request".
fn describe(e: reqwest::Error) -> String {
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
        "the logo could not be fetched".to_owned()
    }
}

async fn read_image(mut res: reqwest::Response) -> Result<Logo, String> {
    let declared = res
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase()
        })
        .unwrap_or_default();
    let declared = match declared.as_str() {
        "image/png" => "image/png",
        "image/jpeg" | "image/jpg" | "image/pjpeg" => "image/jpeg",
        "image/gif" => "image/gif",
        "image/webp" => "image/webp",
        "" => {
            return Err(
                "the server sent no Content-Type; use a PNG, JPEG, GIF or WebP image".into(),
            );
        }
        other => {
            return Err(format!(
                "it is {:?}, not a PNG, JPEG, GIF or WebP image (SVG is not accepted)",
                other.chars().take(40).collect::<String>()
            ));
        }
    };
    let too_big = || format!("the image is larger than {} KiB", MAX_BYTES / 1024);
    if res.content_length().is_some_and(|n| n > MAX_BYTES as u64) {
        return Err(too_big());
    }
    let mut bytes = Vec::new();
    while let Some(chunk) = res.chunk().await.map_err(describe)? {
        if bytes.len() + chunk.len() > MAX_BYTES {
            return Err(too_big());
        }
        bytes.extend_from_slice(&chunk);
    }
    match sniff(&bytes) {
        Some(t) if t == declared => Ok(Logo {
            content_type: t,
            digest: crate::crypto::sha256_hex_bytes(&bytes),
            bytes,
        }),
        _ => Err(format!(
            "the content is not the {declared} image its Content-Type says"
        )),
    }
}

/// The image type the bytes' signature names (PNG, JPEG, GIF, WebP), if any.
pub fn sniff(b: &[u8]) -> Option<&'static str> {
    if b.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if b.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some("image/jpeg")
    } else if b.starts_with(b"GIF87a") || b.starts_with(b"GIF89a") {
        Some("image/gif")
    } else if b.len() >= 12 && &b[..4] == b"RIFF" && &b[8..12] == b"WEBP" {
        Some("image/webp")
    } else {
        None
    }
}

/// Where Latch serves a client's stored logo (`crate::logos`): its digest names it, so the
/// URL changes with the image and may be cached for a year.
pub fn path(l: &entity::client_logo::Model) -> String {
    format!(
        "/logos/{}/{}.{}",
        l.client_id,
        &l.digest[..l.digest.len().min(16)],
        extension(&l.content_type)
    )
}

/// The file extension Latch serves a logo of this type under.
pub fn extension(content_type: &str) -> &'static str {
    match content_type {
        "image/png" => "png",
        "image/jpeg" => "jpg",
        "image/gif" => "gif",
        _ => "webp",
    }
}

/// Whether a logo may be fetched from `ip`: public unicast only; loopback when allowed.
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

/// Refusal of a name that resolves to an address logos may not come from.
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

impl Fetcher {
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
            "::",
            "fd00::1",
            "fe80::1",
            "::ffff:10.0.0.1",
            "::ffff:169.254.169.254",
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
    fn sniffs_only_raster_types() {
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\n...."), Some("image/png"));
        assert_eq!(sniff(&[0xFF, 0xD8, 0xFF, 0xE0]), Some("image/jpeg"));
        assert_eq!(sniff(b"GIF89a.."), Some("image/gif"));
        assert_eq!(sniff(b"RIFF\0\0\0\0WEBPVP8 "), Some("image/webp"));
        assert_eq!(sniff(b"<svg xmlns=\"http://www.w3.org/2000/svg\"/>"), None);
        assert_eq!(sniff(b""), None);
    }

    /// A one-shot HTTP server on 127.0.0.1 answering one request with a PNG.
    async fn serve_png_once() -> u16 {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            if let Ok((mut s, _)) = listener.accept().await {
                let mut buf = [0u8; 2048];
                let _ = s.read(&mut buf).await;
                let body = b"\x89PNG\r\n\x1a\n0000";
                let head = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: image/png\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    body.len()
                );
                let _ = s.write_all(head.as_bytes()).await;
                let _ = s.write_all(body).await;
            }
        });
        port
    }

    /// Host names go through the checking resolver: `localhost` is loopback, refused unless
    /// the issuer is on loopback too.
    #[tokio::test]
    async fn names_are_resolved_and_checked() {
        let port = serve_png_once().await;
        let uri = format!("http://localhost:{port}/logo.png");
        let public = Fetcher {
            allow_loopback: false,
        };
        assert_eq!(public.fetch(&uri).await.unwrap_err(), BLOCKED);
        let local = Fetcher {
            allow_loopback: true,
        };
        let logo = local.fetch(&uri).await.expect("fetched");
        assert_eq!(logo.content_type, "image/png");
    }

    #[test]
    fn loopback_follows_the_issuer() {
        assert!(Fetcher::for_issuer("http://127.0.0.1:8080").allow_loopback);
        assert!(Fetcher::for_issuer("http://localhost:8080").allow_loopback);
        assert!(!Fetcher::for_issuer("https://auth.example.com").allow_loopback);
    }
}
