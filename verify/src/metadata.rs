//! RFC 9728 protected resource metadata: the document a resource server publishes at
//! `/.well-known/oauth-protected-resource` so that a client holding only the API's URL
//! (an MCP client after a 401, say) can find the authorization server to ask for a token.

use reqwest::Url;
use serde_json::{Value, json};

/// The well-known URI suffix registered by RFC 9728 §3.
pub const WELL_KNOWN_PATH: &str = "/.well-known/oauth-protected-resource";

/// An RFC 9728 §2 protected resource metadata document.
///
/// Made by [`ResourceMetadata::new`] or [`Verifier::resource_metadata`](crate::Verifier::resource_metadata)
/// (which fills in the verifier's API identifier and issuer); the optional members are set
/// with the builder methods. [`to_json`](Self::to_json) is the document to serve.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ResourceMetadata {
    /// `resource`: the API identifier (RFC 9728 §2, and the token's `aud`).
    pub resource: String,
    /// `authorization_servers`: issuer identifiers clients may get tokens from (Latch).
    pub authorization_servers: Vec<String>,
    /// `scopes_supported` (RECOMMENDED): omitted when `None`.
    pub scopes_supported: Option<Vec<String>>,
    /// `bearer_methods_supported`: `["header"]`, the only method `latch-verify` accepts
    /// (RFC 6750 §2.1; query and body tokens are never looked at).
    pub bearer_methods_supported: Vec<String>,
    /// `resource_name`: a human-readable name, e.g. "Billing API"; omitted when `None`.
    pub resource_name: Option<String>,
    /// `resource_documentation`: a URL of developer documentation; omitted when `None`.
    pub resource_documentation: Option<String>,
}

impl ResourceMetadata {
    /// The document for the API `resource` whose tokens `authorization_server` (the Latch
    /// issuer) issues, accepting bearer tokens in the `Authorization` header only.
    pub fn new(resource: impl Into<String>, authorization_server: impl Into<String>) -> Self {
        ResourceMetadata {
            resource: resource.into(),
            authorization_servers: vec![authorization_server.into()],
            scopes_supported: None,
            bearer_methods_supported: vec!["header".into()],
            resource_name: None,
            resource_documentation: None,
        }
    }

    /// Set `scopes_supported`: the scopes this API understands (e.g. `invoices:read`).
    #[must_use]
    pub fn scopes_supported<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scopes_supported = Some(scopes.into_iter().map(Into::into).collect());
        self
    }

    /// Set `resource_name`, shown to people (e.g. "Billing API").
    #[must_use]
    pub fn resource_name(mut self, name: impl Into<String>) -> Self {
        self.resource_name = Some(name.into());
        self
    }

    /// Set `resource_documentation`, a URL of human-readable documentation.
    #[must_use]
    pub fn resource_documentation(mut self, url: impl Into<String>) -> Self {
        self.resource_documentation = Some(url.into());
        self
    }

    /// The JSON document (RFC 9728 §3.2); absent optional members are omitted, not null.
    pub fn to_json(&self) -> Value {
        let mut doc = json!({
            "resource": self.resource,
            "authorization_servers": self.authorization_servers,
            "bearer_methods_supported": self.bearer_methods_supported,
        });
        if let Some(s) = &self.scopes_supported {
            doc["scopes_supported"] = json!(s);
        }
        if let Some(n) = &self.resource_name {
            doc["resource_name"] = json!(n);
        }
        if let Some(d) = &self.resource_documentation {
            doc["resource_documentation"] = json!(d);
        }
        doc
    }

    /// The path to serve the document at on the resource's host: the well-known suffix
    /// followed by the identifier's own path (RFC 9728 §3.1), e.g.
    /// `/.well-known/oauth-protected-resource` for `https://billing.example.com` and
    /// `/.well-known/oauth-protected-resource/billing` for `https://api.example.com/billing`.
    /// When `resource` is not an absolute URL, the bare well-known path.
    pub fn well_known_path(&self) -> String {
        match parse(&self.resource) {
            Some(u) => format!("{WELL_KNOWN_PATH}{}", tail_path(&u)),
            None => WELL_KNOWN_PATH.into(),
        }
    }

    /// The document's URL derived from `resource` (RFC 9728 §3.1), the value for
    /// [`VerifierBuilder::resource_metadata_url`](crate::VerifierBuilder::resource_metadata_url)
    /// when the API is served at its identifier. `None` when `resource` is not an absolute
    /// URL with a host.
    pub fn well_known_url(&self) -> Option<String> {
        well_known_url(&self.resource)
    }
}

/// The RFC 9728 §3.1 metadata URL of the protected resource `resource`: the well-known
/// suffix is inserted between the host and the path (a lone `/` path counts as empty), and
/// the query, if any, is kept. `None` when `resource` is not an absolute URL with a host.
///
/// ```
/// assert_eq!(
///     latch_verify::well_known_url("https://api.example.com/billing").as_deref(),
///     Some("https://api.example.com/.well-known/oauth-protected-resource/billing")
/// );
/// ```
pub fn well_known_url(resource: &str) -> Option<String> {
    let u = parse(resource)?;
    let host = u.host_str()?;
    let port = u.port().map(|p| format!(":{p}")).unwrap_or_default();
    let query = u.query().map(|q| format!("?{q}")).unwrap_or_default();
    Some(format!(
        "{}://{host}{port}{WELL_KNOWN_PATH}{}{query}",
        u.scheme(),
        tail_path(&u)
    ))
}

fn parse(s: &str) -> Option<Url> {
    Url::parse(s)
        .ok()
        .filter(|u| !u.cannot_be_a_base() && u.host_str().is_some())
}

/// The identifier's path, without the terminating slash RFC 9728 §3.1 says to remove.
fn tail_path(u: &Url) -> &str {
    u.path().trim_end_matches('/')
}

/// An API identifier must be an absolute URI with a host and no fragment (RFC 8707 §2:
/// the `resource` value; RFC 9728 §1.2), as Latch requires of the APIs it registers.
pub(crate) fn check_identifier(identifier: &str) -> Result<(), String> {
    if identifier.contains('#') {
        return Err(format!(
            "the API identifier {identifier:?} has a fragment (RFC 8707 §2 forbids one)"
        ));
    }
    if parse(identifier).is_none() {
        return Err(format!(
            "the API identifier {identifier:?} is not an absolute URI with a host"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_well_known_url_is_inserted_after_the_host() {
        let cases = [
            (
                "https://billing.example.com",
                "https://billing.example.com/.well-known/oauth-protected-resource",
            ),
            (
                "https://billing.example.com/",
                "https://billing.example.com/.well-known/oauth-protected-resource",
            ),
            (
                "https://api.example.com/billing/",
                "https://api.example.com/.well-known/oauth-protected-resource/billing",
            ),
            (
                "http://127.0.0.1:8081/v2/x?tenant=a",
                "http://127.0.0.1:8081/.well-known/oauth-protected-resource/v2/x?tenant=a",
            ),
        ];
        for (resource, url) in cases {
            assert_eq!(well_known_url(resource).as_deref(), Some(url), "{resource}");
        }
        assert_eq!(well_known_url("billing"), None);
        assert_eq!(well_known_url("urn:example:billing"), None);
        let m = ResourceMetadata::new("https://api.example.com/billing", "https://auth");
        assert_eq!(
            m.well_known_path(),
            "/.well-known/oauth-protected-resource/billing"
        );
        assert_eq!(
            ResourceMetadata::new("not a url", "i").well_known_path(),
            WELL_KNOWN_PATH
        );
    }

    #[test]
    fn identifiers_are_absolute_without_fragment() {
        assert!(check_identifier("https://billing.example.com").is_ok());
        assert!(check_identifier("http://127.0.0.1:8081/api").is_ok());
        assert!(check_identifier("https://billing.example.com/#x").is_err());
        assert!(check_identifier("billing").is_err());
        assert!(check_identifier("/billing").is_err());
        assert!(check_identifier("").is_err());
    }

    #[test]
    fn the_document_omits_what_is_not_set() {
        let m = ResourceMetadata::new("https://b", "https://i");
        assert_eq!(
            m.to_json(),
            json!({"resource":"https://b","authorization_servers":["https://i"],
                   "bearer_methods_supported":["header"]})
        );
        let m = m
            .scopes_supported(["invoices:read", "invoices:write"])
            .resource_name("Billing API");
        assert_eq!(
            m.to_json()["scopes_supported"],
            json!(["invoices:read", "invoices:write"])
        );
        assert_eq!(m.to_json()["resource_name"], "Billing API");
    }
}
