//! A client's logout registration (OIDC RP-Initiated Logout 1.0 §3.1, Back-Channel Logout
//! 1.0 §2.2): `post_logout_redirect_uris`, matched exactly and held to the redirect URI rules
//! (an open redirect after sign-out is as bad as one after sign-in, RFC 9700 §4.1.3), and
//! `backchannel_logout_uri`, an absolute `https` URI (`http` only on loopback) with no
//! fragment (§2.2), which Latch POSTs to under the logo fetcher's SSRF fence. One set of
//! rules for the CLI, `/v1/clients` and the dashboard.

use super::{ClientError, invalid, validate_metadata_uri, validate_redirect_uri};
use crate::errors::StoreError;
use crate::store::{self, Conn};

/// At most this many post-logout redirect URIs per client.
pub const MAX_URIS: usize = 20;

/// A change to a client's logout registration; `None` leaves a field as it is.
#[derive(Clone, Debug, Default)]
pub struct LogoutChange {
    /// The whole list (an empty list clears it).
    pub post_logout_redirect_uris: Option<Vec<String>>,
    /// `Some("")` clears it.
    pub backchannel_logout_uri: Option<String>,
    pub backchannel_logout_session_required: Option<bool>,
}

impl LogoutChange {
    /// Check the change without applying it (before a client is created with it).
    pub fn validate(&self) -> Result<(), ClientError> {
        if let Some(l) = &self.post_logout_redirect_uris {
            check_post_logout_uris(l)?;
        }
        if let Some(u) = &self.backchannel_logout_uri {
            check_backchannel_uri(u)?;
        }
        Ok(())
    }

    pub fn is_empty(&self) -> bool {
        self.post_logout_redirect_uris.is_none()
            && self.backchannel_logout_uri.is_none()
            && self.backchannel_logout_session_required.is_none()
    }
}

/// The registered post-logout redirect URIs of `c`.
pub fn post_logout_uris(c: &entity::client::Model) -> Vec<&str> {
    c.post_logout_redirect_uris.split_whitespace().collect()
}

/// Whether `uri` is exactly one of `c`'s post-logout redirect URIs (RP-Initiated Logout
/// §3: "MUST have been previously registered"; simple string comparison).
pub fn allows_post_logout(c: &entity::client::Model, uri: &str) -> bool {
    post_logout_uris(c).contains(&uri)
}

/// Validate a list of post-logout redirect URIs: the redirect URI rules, no duplicates, at
/// most [`MAX_URIS`]. Returns them space-separated, as stored.
pub fn check_post_logout_uris(list: &[String]) -> Result<String, ClientError> {
    const P: &str = "post_logout_redirect_uris";
    let mut out: Vec<&str> = Vec::new();
    for u in list.iter().map(|u| u.trim()).filter(|u| !u.is_empty()) {
        validate_redirect_uri(u)
            .map_err(|m| invalid(m.replacen("redirect URI", "post-logout redirect URI", 1), P))?;
        if !out.contains(&u) {
            out.push(u);
        }
    }
    if out.len() > MAX_URIS {
        return Err(invalid(
            format!("at most {MAX_URIS} post-logout redirect URIs"),
            P,
        ));
    }
    Ok(out.join(" "))
}

/// Validate a `backchannel_logout_uri`; empty is "none".
pub fn check_backchannel_uri(raw: &str) -> Result<Option<String>, ClientError> {
    const P: &str = "backchannel_logout_uri";
    let v = validate_metadata_uri(raw, P)?;
    if v.as_deref().is_some_and(|u| u.contains('#')) {
        return Err(invalid(
            "backchannel_logout_uri must not contain a fragment",
            P,
        ));
    }
    Ok(v)
}

/// Apply a validated change; the row cache entry is dropped so it takes effect at once on
/// this instance (within the cache's 2 s elsewhere).
pub async fn set_logout(
    db: &impl Conn,
    rows: &store::RowCaches,
    client: &entity::client::Model,
    change: &LogoutChange,
) -> Result<entity::client::Model, ClientError> {
    if change.is_empty() {
        return Ok(client.clone());
    }
    let post = change
        .post_logout_redirect_uris
        .as_deref()
        .map(check_post_logout_uris)
        .transpose()?;
    let back = change
        .backchannel_logout_uri
        .as_deref()
        .map(check_backchannel_uri)
        .transpose()?;
    let updated = store::clients::set_logout(
        db,
        client,
        post,
        back,
        change.backchannel_logout_session_required,
    )
    .await
    .map_err(|e: StoreError| ClientError::Store(e))?;
    rows.forget_client(&client.id);
    Ok(updated)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn post_logout_uris_follow_the_redirect_uri_rules() {
        let ok = check_post_logout_uris(&[
            "https://app.example.com/bye".into(),
            "http://127.0.0.1:8080/bye".into(),
            "https://app.example.com/bye".into(),
        ])
        .unwrap();
        assert_eq!(ok, "https://app.example.com/bye http://127.0.0.1:8080/bye");
        for bad in [
            "javascript:alert(1)",
            "http://app.example.com/bye",
            "https://app.example.com/*",
            "https://app.example.com/bye#x",
            "/relative",
        ] {
            assert!(check_post_logout_uris(&[bad.into()]).is_err(), "{bad}");
        }
    }

    #[test]
    fn backchannel_uri_is_https_without_fragment() {
        assert_eq!(
            check_backchannel_uri("https://app.example.com/bc?x=1").unwrap(),
            Some("https://app.example.com/bc?x=1".into())
        );
        assert_eq!(check_backchannel_uri("").unwrap(), None);
        assert!(check_backchannel_uri("https://app.example.com/bc#f").is_err());
        assert!(check_backchannel_uri("http://app.example.com/bc").is_err());
        assert!(check_backchannel_uri("ftp://app.example.com/bc").is_err());
    }
}
