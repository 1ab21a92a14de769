//! Errors: [`Error`] when setting a [`Verifier`](crate::Verifier) up, [`VerifyError`] when a
//! request's credential is refused (RFC 6750 §3.1).

/// Setting up a [`Verifier`](crate::Verifier) failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The builder was given a value outside what is allowed (e.g. a leeway over 60 s).
    #[error("invalid configuration: {0}")]
    Config(String),
    /// A document could not be fetched (network error or a non-2xx answer).
    #[error("could not fetch {url}: {message}")]
    Fetch { url: String, message: String },
    /// The metadata's `issuer` is not exactly the issuer we asked about (RFC 8414 §3.3):
    /// possibly a mix-up attack, or a misconfigured issuer URL (mind a trailing slash).
    #[error("the metadata at {url} names issuer {found:?}, not {expected:?}")]
    IssuerMismatch {
        url: String,
        expected: String,
        found: String,
    },
    /// The metadata document is not what RFC 8414 describes, or lacks something we need.
    #[error("invalid authorization server metadata: {0}")]
    Metadata(String),
    /// The JWKS is not a JSON object with a `keys` array.
    #[error("invalid JWKS: {0}")]
    Jwks(String),
}

/// Why a token was refused as `invalid_token`. Every variant has a fixed, client-safe
/// [`description`](InvalidToken::description).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum InvalidToken {
    /// Not a compact JWS of three base64url segments with JSON header and claims, or not a
    /// credential this verifier understands at all.
    Malformed,
    /// The header's `typ` is not `at+jwt` (RFC 9068 §4, RFC 8725 §3.11).
    WrongType,
    /// The header has no `kid`.
    MissingKeyId,
    /// No key in the issuer's JWKS has this `kid`, even after a refetch.
    UnknownKey,
    /// The header's `alg` is not the one algorithm pinned to the key (RFC 8725 §3.1).
    AlgorithmMismatch,
    /// The signature does not verify.
    BadSignature,
    /// `iss` is not the configured issuer.
    WrongIssuer,
    /// `aud` (a string, or an array of strings) does not contain the API identifier the
    /// verifier protects (RFC 7519 §4.1.3, RFC 9068 §4): a token for another API.
    WrongAudience,
    /// `exp` has passed (beyond the leeway).
    Expired,
    /// `nbf` is in the future (beyond the leeway).
    NotYetValid,
    /// `iat` is in the future (beyond the leeway).
    IssuedInFuture,
    /// A required claim is missing or has the wrong JSON type.
    MissingClaim(&'static str),
    /// Introspection answered `{"active": false}`: revoked, expired or unknown.
    Inactive,
    /// An API key was presented but the verifier has no introspection credentials.
    ApiKeysNotAccepted,
    /// A DPoP-bound token (`cnf.jkt`) was presented as a Bearer token (RFC 9449 §7.2).
    DpopBound,
    /// A token without `cnf.jkt` was presented as a DPoP token (RFC 9449 §7.1).
    NotDpopBound,
}

impl InvalidToken {
    /// The `error_description` (fixed text: safe to show, no quotes or backslashes).
    pub fn description(&self) -> String {
        match self {
            InvalidToken::Malformed => "The access token is malformed".into(),
            InvalidToken::WrongType => {
                "The token is not an access token (typ must be at+jwt)".into()
            }
            InvalidToken::MissingKeyId => "The access token has no key id".into(),
            InvalidToken::UnknownKey => "The access token was signed by an unknown key".into(),
            InvalidToken::AlgorithmMismatch => {
                "The access token algorithm does not match its key".into()
            }
            InvalidToken::BadSignature => "The access token signature is invalid".into(),
            InvalidToken::WrongIssuer => "The access token was issued by another issuer".into(),
            InvalidToken::WrongAudience => {
                "The access token's audience (aud) does not include this API".into()
            }
            InvalidToken::Expired => "The access token expired".into(),
            InvalidToken::NotYetValid => "The access token is not valid yet".into(),
            InvalidToken::IssuedInFuture => "The access token was issued in the future".into(),
            InvalidToken::MissingClaim(c) => {
                format!("The access token lacks a valid {c} claim")
            }
            InvalidToken::Inactive => "The token is not active".into(),
            InvalidToken::ApiKeysNotAccepted => "API keys are not accepted here".into(),
            InvalidToken::DpopBound => {
                "The access token is bound to a DPoP key: send it as DPoP with a proof".into()
            }
            InvalidToken::NotDpopBound => "The access token is not bound to a DPoP key".into(),
        }
    }
}

/// A credential was refused. Maps onto RFC 6750 §3.1: see [`status`](Self::status),
/// [`error_code`](Self::error_code) and [`www_authenticate`](Self::www_authenticate).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// 401 `invalid_token`: malformed, expired, revoked, badly signed, wrong issuer or
    /// audience…; the reason is in the variant.
    #[error("invalid_token: {}", .0.description())]
    InvalidToken(InvalidToken),
    /// 401 `invalid_dpop_proof` (RFC 9449 §7.1): the DPoP proof is missing, invalid,
    /// replayed or by another key than the token's `cnf.jkt`; the text says which.
    #[error("invalid_dpop_proof: {0}")]
    InvalidDpopProof(String),
    /// 401 `use_dpop_nonce` (RFC 9449 §9): the proof must carry a server nonce (it had none,
    /// or a stale one); the value is the nonce to use, for the `DPoP-Nonce` header
    /// ([`dpop_nonce`](Self::dpop_nonce)).
    #[error("use_dpop_nonce")]
    UseDpopNonce(String),
    /// 403 `insufficient_scope`: the token is good but lacks these scopes.
    #[error("insufficient_scope: requires {}", .required.join(" "))]
    InsufficientScope { required: Vec<String> },
    /// 400 `invalid_request`: e.g. two `Authorization` headers, or `Bearer` with no token.
    #[error("invalid_request: {0}")]
    InvalidRequest(&'static str),
    /// 401 with a bare `WWW-Authenticate: Bearer` (RFC 6750 §3.1: a request with no
    /// credential gets no error code).
    #[error("no bearer token")]
    MissingToken,
    /// 503: the credential could not be checked because the authorization server (JWKS or
    /// introspection endpoint) failed. Not the client's fault; it may retry.
    #[error("the authorization server is unavailable: {0}")]
    Unavailable(String),
}

impl From<InvalidToken> for VerifyError {
    fn from(r: InvalidToken) -> Self {
        VerifyError::InvalidToken(r)
    }
}

impl VerifyError {
    /// HTTP status to answer with: 401, 403, 400 or 503.
    pub fn status(&self) -> u16 {
        match self {
            VerifyError::InvalidToken(_)
            | VerifyError::MissingToken
            | VerifyError::InvalidDpopProof(_)
            | VerifyError::UseDpopNonce(_) => 401,
            VerifyError::InsufficientScope { .. } => 403,
            VerifyError::InvalidRequest(_) => 400,
            VerifyError::Unavailable(_) => 503,
        }
    }

    /// The RFC 6750 error code, when there is one (`None` for [`MissingToken`](Self::MissingToken)
    /// and [`Unavailable`](Self::Unavailable)).
    pub fn error_code(&self) -> Option<&'static str> {
        match self {
            VerifyError::InvalidToken(_) => Some("invalid_token"),
            VerifyError::InvalidDpopProof(_) => Some("invalid_dpop_proof"),
            VerifyError::UseDpopNonce(_) => Some("use_dpop_nonce"),
            VerifyError::InsufficientScope { .. } => Some("insufficient_scope"),
            VerifyError::InvalidRequest(_) => Some("invalid_request"),
            VerifyError::MissingToken | VerifyError::Unavailable(_) => None,
        }
    }

    /// A human-readable description, safe to send to the client.
    pub fn description(&self) -> String {
        match self {
            VerifyError::InvalidToken(r) => r.description(),
            VerifyError::InsufficientScope { .. } => {
                "The access token lacks a scope this request requires".into()
            }
            VerifyError::InvalidRequest(m) => (*m).into(),
            VerifyError::InvalidDpopProof(m) => m.clone(),
            VerifyError::UseDpopNonce(_) => {
                "The DPoP proof must carry the nonce given in DPoP-Nonce".into()
            }
            VerifyError::MissingToken => "The request has no bearer token".into(),
            VerifyError::Unavailable(_) => {
                "The credential cannot be checked right now; try again later".into()
            }
        }
    }

    /// The nonce for the `DPoP-Nonce` response header (RFC 9449 §9), for
    /// [`UseDpopNonce`](Self::UseDpopNonce).
    pub fn dpop_nonce(&self) -> Option<&str> {
        match self {
            VerifyError::UseDpopNonce(n) => Some(n),
            _ => None,
        }
    }

    /// Whether the token was refused only because it expired (e.g. to answer
    /// `expired_token` in an API's own error dialect).
    pub fn is_expired(&self) -> bool {
        matches!(self, VerifyError::InvalidToken(InvalidToken::Expired))
    }

    /// The `WWW-Authenticate` header value (RFC 6750 §3), e.g.
    /// `Bearer error="invalid_token", error_description="The access token expired"`.
    /// For [`MissingToken`](Self::MissingToken) and [`Unavailable`](Self::Unavailable) it is
    /// the bare challenge `Bearer`.
    pub fn www_authenticate(&self) -> String {
        self.www_authenticate_with(None)
    }

    /// The RFC 9449 §7.1 challenge for a request made with `Authorization: DPoP`:
    /// `DPoP error="…", error_description="…", algs="ES256 …"` (bare `DPoP algs=…` for
    /// [`MissingToken`](Self::MissingToken) and [`Unavailable`](Self::Unavailable)).
    pub fn dpop_challenge(&self) -> String {
        let algs = crate::dpop::SIGNING_ALGS.join(" ");
        match self.error_code() {
            Some(code) => format!(
                "DPoP error=\"{code}\", error_description=\"{}\", algs=\"{algs}\"",
                quoted(&self.description())
            ),
            None => format!("DPoP algs=\"{algs}\""),
        }
    }

    /// [`www_authenticate`](Self::www_authenticate) plus, when `resource_metadata` is given,
    /// the RFC 9728 §5.1 `resource_metadata="<url>"` parameter: the URL of the protected
    /// resource metadata, from which a client (an MCP client, say) learns which
    /// authorization server to ask for a token. E.g. `Bearer
    /// resource_metadata="https://api.example.com/.well-known/oauth-protected-resource"`.
    /// [`Verifier::www_authenticate`](crate::Verifier::www_authenticate) passes the URL the
    /// verifier was configured with.
    pub fn www_authenticate_with(&self, resource_metadata: Option<&str>) -> String {
        let mut params = Vec::new();
        if let Some(code) = self.error_code() {
            params.push(format!("error=\"{code}\""));
            params.push(format!(
                "error_description=\"{}\"",
                quoted(&self.description())
            ));
        }
        if let VerifyError::InsufficientScope { required } = self {
            let scopes: Vec<String> = required.iter().map(|s| quoted(s)).collect();
            params.push(format!("scope=\"{}\"", scopes.join(" ")));
        }
        if let Some(url) = resource_metadata {
            params.push(format!("resource_metadata=\"{}\"", quoted(url)));
        }
        if params.is_empty() {
            "Bearer".into()
        } else {
            format!("Bearer {}", params.join(", "))
        }
    }
}

/// Keep a value inside an RFC 7230 quoted-string: drop `"`, `\` and control characters
/// (scope tokens and our descriptions never contain them; RFC 6749 §3.3, RFC 6750 §3).
fn quoted(s: &str) -> String {
    s.chars()
        .filter(|c| *c != '"' && *c != '\\' && !c.is_control())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn www_authenticate_values_follow_rfc_6750() {
        assert_eq!(
            VerifyError::InvalidToken(InvalidToken::Expired).www_authenticate(),
            r#"Bearer error="invalid_token", error_description="The access token expired""#
        );
        let e = VerifyError::InsufficientScope {
            required: vec!["read".into(), "wr\"ite".into()],
        };
        assert_eq!(e.status(), 403);
        assert_eq!(
            e.www_authenticate(),
            r#"Bearer error="insufficient_scope", error_description="The access token lacks a scope this request requires", scope="read write""#
        );
        assert_eq!(VerifyError::MissingToken.www_authenticate(), "Bearer");
        let rm = Some("https://api.example.com/.well-known/oauth-protected-resource");
        assert_eq!(
            VerifyError::MissingToken.www_authenticate_with(rm),
            r#"Bearer resource_metadata="https://api.example.com/.well-known/oauth-protected-resource""#
        );
        assert_eq!(
            VerifyError::InvalidToken(InvalidToken::Expired).www_authenticate_with(rm),
            r#"Bearer error="invalid_token", error_description="The access token expired", resource_metadata="https://api.example.com/.well-known/oauth-protected-resource""#
        );
        assert!(
            e.www_authenticate_with(rm)
                .ends_with(r#"scope="read write", resource_metadata="https://api.example.com/.well-known/oauth-protected-resource""#)
        );
        assert_eq!(VerifyError::MissingToken.status(), 401);
        assert_eq!(VerifyError::Unavailable("x".into()).status(), 503);
        assert_eq!(VerifyError::InvalidRequest("two").status(), 400);
    }

    #[test]
    fn descriptions_never_break_the_quoted_string() {
        for r in [
            InvalidToken::Malformed,
            InvalidToken::WrongType,
            InvalidToken::MissingKeyId,
            InvalidToken::UnknownKey,
            InvalidToken::AlgorithmMismatch,
            InvalidToken::BadSignature,
            InvalidToken::WrongIssuer,
            InvalidToken::WrongAudience,
            InvalidToken::Expired,
            InvalidToken::NotYetValid,
            InvalidToken::IssuedInFuture,
            InvalidToken::MissingClaim("sub"),
            InvalidToken::Inactive,
            InvalidToken::ApiKeysNotAccepted,
        ] {
            let d = r.description();
            assert!(!d.contains('"') && !d.contains('\\'), "{d}");
        }
    }
}
