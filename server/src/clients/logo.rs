//! Client logos (OIDC Dynamic Client Registration §2 `logo_uri`), fetched by Latch and
//! served from its own origin, never hot-linked: a consent page that loaded the app's URL
//! would tell the app's server who is looking at it and when, and would show whatever that
//! URL serves at that moment.
//!
//! The fetch is a server-side request to an address a user chose, so it goes through the
//! SSRF fence of [`crate::outbound`] (public addresses only, checked where it connects; at
//! most 3 redirects, each hop checked again; 5 s in all) and keeps at most [`MAX_BYTES`].
//! **Loopback** is allowed only when the issuer itself is on loopback (a development
//! server, and the tests, which serve a logo from 127.0.0.1) or with
//! `LATCH_ALLOW_LOOPBACK_FETCH`; private and link-local addresses never are.
//!
//! Only PNG, JPEG, GIF and WebP are kept — not SVG, which can carry script — and the bytes
//! must start with the signature of the type the server declared.

pub use crate::outbound::Fetcher;
use crate::outbound::describe;

/// The largest logo kept (256 KiB).
pub const MAX_BYTES: usize = 256 * 1024;
/// A fetched logo, ready to store.
#[derive(Debug, Clone)]
pub struct Logo {
    pub content_type: &'static str,
    pub bytes: Vec<u8>,
    /// SHA-256 hex of the bytes.
    pub digest: String,
    /// The response's `ETag` and `Last-Modified` (RFC 9110 §8.8), when given and usable:
    /// sent back when the logo is checked again ([`Fetcher::fetch_if_changed`]).
    pub etag: Option<String>,
    pub last_modified: Option<String>,
}

/// The longest validator kept (the column's size).
const MAX_VALIDATOR: usize = 256;

/// A validator header's value if it can be stored and sent back as it came: visible ASCII
/// (and spaces, which HTTP dates contain), at most [`MAX_VALIDATOR`] characters.
fn validator(res: &reqwest::Response, name: reqwest::header::HeaderName) -> Option<String> {
    let v = res.headers().get(name)?.to_str().ok()?.trim();
    (!v.is_empty() && v.len() <= MAX_VALIDATOR && v.bytes().all(|b| (0x20..0x7f).contains(&b)))
        .then(|| v.to_owned())
}

/// The request headers that make a check conditional (RFC 9110 §13.1.2, §13.1.3): the
/// stored `ETag` as `If-None-Match`, the stored `Last-Modified` as `If-Modified-Since`;
/// empty when the server gave neither (the check is then a plain GET).
pub fn conditional_headers(
    etag: Option<&str>,
    last_modified: Option<&str>,
) -> reqwest::header::HeaderMap {
    use reqwest::header::{HeaderMap, HeaderValue, IF_MODIFIED_SINCE, IF_NONE_MATCH};
    let mut h = HeaderMap::new();
    if let Some(v) = etag.and_then(|v| HeaderValue::from_str(v).ok()) {
        h.insert(IF_NONE_MATCH, v);
    }
    if let Some(v) = last_modified.and_then(|v| HeaderValue::from_str(v).ok()) {
        h.insert(IF_MODIFIED_SINCE, v);
    }
    h
}

impl Fetcher {
    /// Fetch and check the logo at `uri` (already validated as a metadata URI). The error is
    /// a sentence for the person who gave the URI.
    pub async fn fetch(&self, uri: &str) -> Result<Logo, String> {
        read_image(self.get(uri, "Latch logo fetcher").await?).await
    }

    /// Fetch the logo at `uri` again, conditionally on the validators stored with it: `None`
    /// when the server answers `304 Not Modified`, else the image, checked as by
    /// [`Self::fetch`] (same fence, size, type and signature).
    pub async fn fetch_if_changed(
        &self,
        uri: &str,
        etag: Option<&str>,
        last_modified: Option<&str>,
    ) -> Result<Option<Logo>, String> {
        let res = self
            .get_conditional(
                uri,
                "Latch logo fetcher",
                conditional_headers(etag, last_modified),
            )
            .await?;
        if res.status() == reqwest::StatusCode::NOT_MODIFIED {
            return Ok(None);
        }
        read_image(res).await.map(Some)
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
    let etag = validator(&res, reqwest::header::ETAG);
    let last_modified = validator(&res, reqwest::header::LAST_MODIFIED);
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
            etag,
            last_modified,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffs_only_raster_types() {
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\n...."), Some("image/png"));
        assert_eq!(sniff(&[0xFF, 0xD8, 0xFF, 0xE0]), Some("image/jpeg"));
        assert_eq!(sniff(b"GIF89a.."), Some("image/gif"));
        assert_eq!(sniff(b"RIFF\0\0\0\0WEBPVP8 "), Some("image/webp"));
        assert_eq!(sniff(b"<svg xmlns=\"http://www.w3.org/2000/svg\"/>"), None);
        assert_eq!(sniff(b""), None);
    }

    #[test]
    fn conditional_headers_carry_the_stored_validators() {
        let h = conditional_headers(Some("\"v1\""), Some("Tue, 01 Dec 2026 03:00:00 GMT"));
        assert_eq!(h["if-none-match"], "\"v1\"");
        assert_eq!(h["if-modified-since"], "Tue, 01 Dec 2026 03:00:00 GMT");
        assert!(conditional_headers(None, None).is_empty());
        // A value that cannot be a header is left out rather than sent.
        assert!(conditional_headers(Some("a\nb"), None).is_empty());
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
        let public = Fetcher::new(false);
        assert!(public.fetch(&uri).await.is_err());
        let local = Fetcher::new(true);
        let logo = local.fetch(&uri).await.expect("fetched");
        assert_eq!(logo.content_type, "image/png");
    }
}
