//! Parsing and validating an authorization request (RFC 6749 §4.1.1, §3.1.2; RFC 7636
//! §4.3; RFC 9700 §2.1; RFC 8707 §2.1 resource indicators). Until the client and redirect
//! URI are verified every error is an error page; after that, errors go back to the client
//! (§4.1.2.1).

use entity::client;
use url::Url;

use super::pkce;
use crate::errors::{HtmlError, OAuthCode, StoreError};
use crate::grant_type::GrantType;
use crate::scope::ScopeSet;
use crate::state::AppState;
use crate::store;
use crate::store::words;

/// Parameters exactly as received (query string or form), in order.
pub type Params = Vec<(String, String)>;

/// Parameters that must not repeat (RFC 6749 §3.1: "MUST NOT be included more than once").
const SINGLE: &[&str] = &[
    "client_id",
    "redirect_uri",
    "response_type",
    "scope",
    "state",
    "code_challenge",
    "code_challenge_method",
    "nonce",
    "prompt",
    "max_age",
    "login_after",
    "response_mode",
    // RFC 9449 §10.
    "dpop_jkt",
];

/// RFC 8707 §2: `resource` may repeat (one value per API the token is meant for).
const RESOURCE: &str = "resource";

/// Client ids are ours (`cl_` + base62): anything else is unknown without a query, and
/// control characters (`%00`, `%1B`) never reach the database.
pub fn plausible_client_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

/// The client whose `client_id` is a metadata document URL, when
/// `LATCH_CLIENT_ID_METADATA_DOCUMENTS` is on (`clients::metadata_document`); `None` when
/// the feature is off or `client_id` is no URL (then it is unknown, as before).
pub async fn metadata_document_client(
    state: &AppState,
    client_id: &str,
) -> Option<Result<client::Model, crate::clients::metadata_document::DocError>> {
    use crate::clients::metadata_document as md;
    if !state.settings.client_id_metadata_documents || !md::looks_like_url(client_id) {
        return None;
    }
    let catalog = state.catalog.get();
    let cx = md::Context {
        db: &state.db,
        rows: &state.rows,
        catalog: &catalog,
        logos: &state.logos,
        allow_loopback: state.settings.allow_loopback_fetch,
        now: state.clock.now(),
    };
    Some(md::resolve(&cx, client_id).await)
}

#[derive(Clone, Debug)]
pub struct AuthorizeRequest {
    pub client: client::Model,
    pub redirect_uri: String,
    pub redirect_uri_sent: bool,
    pub state: Option<String>,
    pub scopes: Vec<String>,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
    pub nonce: Option<String>,
    /// RFC 9449 §10: the thumbprint of the DPoP key the code is bound to.
    pub dpop_jkt: Option<String>,
    pub prompt: Vec<String>,
    pub max_age: Option<i64>,
    /// The validated parameters, to carry through sign-in and consent.
    pub params: Params,
}

impl AuthorizeRequest {
    pub fn scope(&self) -> String {
        self.scopes.join(" ")
    }
}

/// Why a request was refused.
pub enum Rejection {
    /// Client or redirect URI not verified: show a page, never redirect.
    Page(HtmlError),
    /// Verified: send the error to the client's redirect URI, if the client's redirect
    /// URIs are trusted for that (RFC 9700 §4.11.2; see `authorize::owner_trusted`).
    Redirect {
        client: Box<client::Model>,
        redirect_uri: String,
        state: Option<String>,
        code: OAuthCode,
        description: String,
    },
}

impl From<StoreError> for Rejection {
    fn from(e: StoreError) -> Self {
        Rejection::Page(e.into())
    }
}

fn page(msg: &'static str) -> Rejection {
    Rejection::Page(HtmlError::bad_request(msg))
}

fn first<'a>(params: &'a Params, name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn count(params: &Params, name: &str) -> usize {
    params.iter().filter(|(k, _)| k == name).count()
}

fn is_loopback_ip(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        _ => false,
    }
}

/// Exact string comparison (RFC 9700 §4.1.3), with RFC 8252 §7.3's one exception: for a
/// registered `http` loopback IP literal, any port matches. Everything but the port is
/// compared as sent, never after URL parsing: the WHATWG parser drops tabs and newlines,
/// reads `\` as `/`, resolves `/../` and reads `0x7f.1` as `127.0.0.1`, so comparing
/// parsed forms would accept strings that were never registered.
pub fn redirect_uri_matches(registered: &str, presented: &str) -> bool {
    if registered == presented {
        return true;
    }
    let Ok(r) = Url::parse(registered) else {
        return false;
    };
    if r.scheme() != "http" || !is_loopback_ip(&r) || Url::parse(presented).is_err() {
        return false;
    }
    match (without_port(registered), without_port(presented)) {
        (Some((rh, rp)), Some((ph, pp))) => rh == ph && same_path(rp, pp),
        _ => false,
    }
}

/// Equal, or equal but for an empty path written `/` (RFC 3986 §6.2.3: the same resource
/// for `http`; `http://127.0.0.1` is registered and `http://127.0.0.1:5000/` sent).
fn same_path(a: &str, b: &str) -> bool {
    let pathless = |s: &str| !s.starts_with('/');
    a == b
        || (pathless(a) && b.strip_prefix('/') == Some(a))
        || (pathless(b) && a.strip_prefix('/') == Some(b))
}

/// `http://host[:port]rest` as the raw `(host, rest)`, the port (1 to 5 digits) dropped;
/// `None` for any other shape.
fn without_port(raw: &str) -> Option<(&str, &str)> {
    let after = raw.strip_prefix("http://")?;
    let end = after.find(['/', '?', '#']).unwrap_or(after.len());
    let (authority, rest) = after.split_at(end);
    let host = match authority.rfind(':') {
        // A colon inside `[…]` belongs to an IPv6 literal, not to a port.
        Some(i) if !authority[i..].contains(']') => {
            let port = &authority[i + 1..];
            if port.is_empty() || port.len() > 5 || !port.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            &authority[..i]
        }
        _ => authority,
    };
    Some((host, rest))
}

pub async fn parse(state: &AppState, params: Params) -> Result<AuthorizeRequest, Rejection> {
    // 1. The client.
    if count(&params, "client_id") > 1 {
        return Err(page("The client_id parameter was sent more than once."));
    }
    let Some(client_id) = first(&params, "client_id") else {
        return Err(page("The request is missing the client_id parameter."));
    };
    let client = if plausible_client_id(client_id) {
        // A metadata document client is named by its URL only, never by its row id.
        store::clients::by_id(&state.db, client_id)
            .await?
            .filter(|c| c.metadata_document_url.is_none())
    } else {
        match metadata_document_client(state, client_id).await {
            None => None,
            Some(Ok(c)) => Some(c),
            Some(Err(crate::clients::metadata_document::DocError::Store(e))) => {
                return Err(e.into());
            }
            Some(Err(crate::clients::metadata_document::DocError::Refused(why))) => {
                return Err(Rejection::Page(HtmlError::bad_request(format!(
                    "The application that sent you here cannot be used: its client ID metadata document was refused ({why})."
                ))));
            }
        }
    };
    let Some(client) = client else {
        return Err(page(
            "The application that sent you here is not registered (unknown client_id).",
        ));
    };
    // An app whose owner's account was disabled stops with it (issue #9, finding 12); its
    // redirect URI is not trusted for an error, so this is a page.
    if !crate::clients::may_act(&state.db, &state.rows, &client).await? {
        return Err(page(
            "The application that sent you here is disabled. Contact the application's developer.",
        ));
    }

    // 2. The redirect URI.
    if count(&params, "redirect_uri") > 1 {
        return Err(page("The redirect_uri parameter was sent more than once."));
    }
    let registered: Vec<&str> = words(&client.redirect_uris).collect();
    let (redirect_uri, redirect_uri_sent) = match first(&params, "redirect_uri") {
        Some(presented) => {
            if !registered
                .iter()
                .any(|r| redirect_uri_matches(r, presented))
            {
                return Err(page(
                    "The redirect_uri does not match any URI registered for this application.",
                ));
            }
            (presented.to_owned(), true)
        }
        None if registered.len() == 1 => (registered[0].to_owned(), false),
        None if registered.is_empty() => {
            return Err(page("This application has no redirect URI registered."));
        }
        None => {
            return Err(page(
                "The request is missing the redirect_uri parameter, which this application must send.",
            ));
        }
    };

    // From here on, errors are redirected to the client with `state` and `iss`.
    let state_param = first(&params, "state").map(str::to_owned);
    let redirect = |code: OAuthCode, description: &str| Rejection::Redirect {
        client: Box::new(client.clone()),
        redirect_uri: redirect_uri.clone(),
        state: state_param.clone(),
        code,
        description: description.to_owned(),
    };
    if let Some(dup) = SINGLE.iter().find(|p| count(&params, p) > 1) {
        return Err(redirect(
            OAuthCode::InvalidRequest,
            &format!("The {dup} parameter was sent more than once"),
        ));
    }
    // OIDC Core §6.1 / RFC 9101 §5: Latch takes no request objects (metadata says
    // `request_parameter_supported: false`). Ignoring one would act on the plain parameters
    // while the client believes its signed ones apply, so it is refused by name.
    if count(&params, "request") > 0 {
        return Err(redirect(
            OAuthCode::RequestNotSupported,
            "Request objects (the request parameter) are not supported; send the parameters themselves, or push them to the pushed authorization request endpoint",
        ));
    }
    match first(&params, "response_type") {
        None => {
            return Err(redirect(
                OAuthCode::InvalidRequest,
                "The response_type parameter is missing",
            ));
        }
        Some("code") => {}
        // RFC 9700 §2.1.2: no implicit or hybrid flows.
        Some(_) => {
            return Err(redirect(
                OAuthCode::UnsupportedResponseType,
                "Only response_type=code is supported",
            ));
        }
    }
    if let Some(mode) = first(&params, "response_mode")
        && mode != "query"
    {
        return Err(redirect(
            OAuthCode::InvalidRequest,
            "Only response_mode=query is supported",
        ));
    }
    if !GrantType::stored(&client.grant_types).any(|g| g == GrantType::AuthorizationCode) {
        return Err(redirect(
            OAuthCode::UnauthorizedClient,
            "This client may not use the authorization code grant",
        ));
    }

    // Scope (RFC 6749 §3.3): every value must be one Latch knows and the client may ask
    // for. Omitted → the client's API scopes.
    let allowed = ScopeSet::stored(&client.scopes);
    let catalog = state.catalog.get();
    let requested = match first(&params, "scope") {
        Some(s) => {
            let invalid = |_| {
                redirect(
                    OAuthCode::InvalidScope,
                    "The requested scope is invalid, unknown, or not allowed for this client",
                )
            };
            let requested = ScopeSet::parse(s).map_err(invalid)?;
            requested.within(&allowed).map_err(invalid)?;
            if catalog.unknown(&requested).is_some() {
                return Err(invalid(""));
            }
            Some(requested)
        }
        None => None,
    };
    // Resource indicators (RFC 8707 §2.1): each value a registered API the client holds a
    // scope of; the scopes are then limited to those APIs' (and the OpenID ones). The code
    // carries only the scopes: its token's audiences follow from them. The values stay in
    // `params`, so sign-in and the consent answer carry them back.
    let resources: Vec<String> = params
        .iter()
        .filter(|(k, _)| k == RESOURCE)
        .map(|(_, v)| v.clone())
        .collect();
    let target = |e: crate::catalog::InvalidTarget| redirect(OAuthCode::InvalidTarget, &e.0);
    let apis = catalog
        .resolve_resources(&resources, &allowed)
        .map_err(target)?;
    let scopes = match requested {
        Some(requested) if apis.is_empty() => requested.to_vec(),
        Some(requested) => catalog
            .narrow_to(requested, &apis)
            .map_err(target)?
            .to_vec(),
        // The client's API scopes still in the catalog (of the named APIs, if any); OpenID
        // scopes only when named.
        None => allowed
            .filter(|s| {
                catalog
                    .api_of(s)
                    .is_some_and(|api| apis.is_empty() || apis.iter().any(|a| a.id == api.id))
            })
            .to_vec(),
    };
    if scopes.is_empty() {
        return Err(redirect(
            OAuthCode::InvalidScope,
            "No scope was requested and the client has no default scope",
        ));
    }

    // PKCE (RFC 7636 §4.3, RFC 9700 §2.1.1): S256 only; required for public clients.
    let challenge = first(&params, "code_challenge");
    let method = first(&params, "code_challenge_method");
    match (challenge, method) {
        (None, Some(_)) => {
            return Err(redirect(
                OAuthCode::InvalidRequest,
                "code_challenge_method was sent without code_challenge",
            ));
        }
        (None, None) if client.is_public => {
            return Err(redirect(
                OAuthCode::InvalidRequest,
                "Public clients must use PKCE (code_challenge with S256)",
            ));
        }
        (None, None) => {}
        (Some(_), None) | (Some(_), Some("plain")) => {
            return Err(redirect(
                OAuthCode::InvalidRequest,
                "Only code_challenge_method=S256 is supported",
            ));
        }
        (Some(c), Some("S256")) => {
            if !pkce::valid_s256_challenge(c) {
                return Err(redirect(
                    OAuthCode::InvalidRequest,
                    "code_challenge must be 43 base64url characters (S256)",
                ));
            }
        }
        (Some(_), Some(_)) => {
            return Err(redirect(
                OAuthCode::InvalidRequest,
                "Unsupported code_challenge_method; use S256",
            ));
        }
    }

    let prompt: Vec<String> = first(&params, "prompt")
        .unwrap_or("")
        .split(' ')
        .filter(|p| !p.is_empty())
        .map(str::to_owned)
        .collect();
    for p in &prompt {
        if !matches!(p.as_str(), "none" | "login" | "consent" | "select_account") {
            return Err(redirect(
                OAuthCode::InvalidRequest,
                "Unsupported prompt value",
            ));
        }
    }
    if prompt.iter().any(|p| p == "none") && prompt.len() > 1 {
        return Err(redirect(
            OAuthCode::InvalidRequest,
            "prompt=none cannot be combined with other values",
        ));
    }
    let int = |name: &str| -> Result<Option<i64>, Rejection> {
        first(&params, name)
            .map(|v| {
                v.parse::<i64>().ok().filter(|n| *n >= 0).ok_or_else(|| {
                    redirect(
                        OAuthCode::InvalidRequest,
                        &format!("{name} must be a non-negative integer"),
                    )
                })
            })
            .transpose()
    };
    let max_age = int("max_age")?;
    // `login_after` is carried along in `params` and resolved against the session by
    // `authorize::fresh_login`: only an entry this session holds for this request counts.
    let nonce = first(&params, "nonce").map(str::to_owned);
    if nonce.as_ref().is_some_and(|n| n.len() > 512)
        || state_param.as_ref().is_some_and(|s| s.len() > 4096)
    {
        return Err(redirect(
            OAuthCode::InvalidRequest,
            "state or nonce is too long",
        ));
    }

    // RFC 9449 §10: base64url of a SHA-256 thumbprint (RFC 7638), 43 characters.
    let dpop_jkt = first(&params, "dpop_jkt").map(str::to_owned);
    if dpop_jkt.as_ref().is_some_and(|j| {
        j.len() != 43
            || !j
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    }) {
        return Err(redirect(
            OAuthCode::InvalidRequest,
            "dpop_jkt must be a base64url SHA-256 JWK thumbprint",
        ));
    }

    Ok(AuthorizeRequest {
        dpop_jkt,
        redirect_uri,
        redirect_uri_sent,
        state: state_param,
        scopes,
        code_challenge: challenge.map(str::to_owned),
        code_challenge_method: method.map(str::to_owned),
        nonce,
        prompt,
        max_age,
        client,
        params: params
            .into_iter()
            .filter(|(k, _)| SINGLE.contains(&k.as_str()) || k == RESOURCE)
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_matching_is_exact_except_loopback_ports() {
        let r = "https://app.example.com/cb";
        assert!(redirect_uri_matches(r, r));
        for bad in [
            "https://app.example.com/cb/",
            "https://APP.example.com/cb",
            "https://app.example.com/cb/extra",
            "https://app.example.com/cb?x=1",
            "https://app.example.com:8443/cb",
            "http://app.example.com/cb",
            "https://app.example.com@evil.com/cb",
            "https://app.example.com%2Fcb",
            "https://app.example.com/%63b",
        ] {
            assert!(!redirect_uri_matches(r, bad), "{bad}");
        }
        assert!(redirect_uri_matches(
            "http://127.0.0.1/cb",
            "http://127.0.0.1:51004/cb"
        ));
        assert!(redirect_uri_matches(
            "http://[::1]:80/cb",
            "http://[::1]:9/cb"
        ));
        assert!(!redirect_uri_matches(
            "http://127.0.0.1/cb",
            "http://127.0.0.1:5/other"
        ));
        assert!(!redirect_uri_matches(
            "http://localhost/cb",
            "http://localhost:5/cb"
        ));
        assert!(!redirect_uri_matches(
            "http://127.0.0.1/cb",
            "http://127.0.0.2:5/cb"
        ));
    }

    /// RFC 8252 §7.3 for whatever registration accepts: a loopback IP literal matches with
    /// any port (found by the `redirect_uri` fuzz target: `http://[::1]:` was accepted and
    /// matched no other port; `clients::validate_redirect_uri` now refuses that spelling).
    #[test]
    fn every_registrable_loopback_ip_matches_any_port() {
        use crate::clients::validate_redirect_uri;
        for (registered, other) in [
            ("http://[::1]", "http://[::1]:2559"),
            ("http://127.0.0.1:8080/cb", "http://127.0.0.1:9/cb"),
            ("http://127.0.0.1:08080/cb?x=1", "http://127.0.0.1:1/cb?x=1"),
            ("http://[::1]:65535/cb", "http://[::1]:80/cb"),
        ] {
            assert!(validate_redirect_uri(registered).is_ok(), "{registered}");
            assert!(
                redirect_uri_matches(registered, other),
                "{registered} ~ {other}"
            );
        }
    }

    #[test]
    fn client_ids_with_control_characters_are_implausible() {
        assert!(plausible_client_id("cl_abc123"));
        assert!(!plausible_client_id("cl_\u{0}"));
        assert!(!plausible_client_id("cl_\u{1b}"));
        assert!(!plausible_client_id(""));
    }

    #[test]
    fn loopback_matching_compares_the_string_as_sent_not_as_parsed() {
        // Found by `prop_only_the_port_of_a_loopback_ip_may_differ`: these matched, because
        // both sides were compared after URL parsing.
        let r = "http://127.0.0.1/cb";
        for bad in [
            "http://127.0.0.1:5/a/../cb",
            "http://127.0.0.1:5/./cb",
            "http://127.0.0.1:5/c\tb",
            "http://\t127.0.0.1:5/cb",
            "http://127.0.0.1:5\\cb",
            "http://0x7f.0.0.1:5/cb",
            "http://2130706433:5/cb",
            "http://127.1:5/cb",
            "http://127.0.0.1:05/cb/",
            "http://127.0.0.1:/cb",
            "http://127.0.0.1:999999/cb",
        ] {
            assert!(!redirect_uri_matches(r, bad), "{bad:?}");
        }
        assert!(redirect_uri_matches(r, "http://127.0.0.1:05/cb"));
        assert!(redirect_uri_matches(
            "http://127.0.0.1",
            "http://127.0.0.1:5000/"
        ));
        assert!(redirect_uri_matches(
            "http://[::1]/?x=1",
            "http://[::1]:5000?x=1"
        ));
        assert!(!redirect_uri_matches(
            "http://127.0.0.1",
            "http://127.0.0.1:5000//"
        ));
        assert!(redirect_uri_matches(
            "http://127.0.0.1:3000/cb?x=1",
            "http://127.0.0.1:4000/cb?x=1"
        ));
    }

    mod prop {
        use super::super::*;
        use proptest::prelude::*;

        /// Registered URIs of the shapes clients register: https, http on loopback
        /// (IP literals and `localhost`), private-use schemes; with and without a port.
        fn registered() -> impl Strategy<Value = String> {
            let scheme = prop::sample::select(vec!["https", "http", "com.example.app"]);
            let host = prop::sample::select(vec![
                "127.0.0.1",
                "[::1]",
                "localhost",
                "app.example.com",
                "127.0.0.2",
            ]);
            let port = prop::option::of(1u16..);
            let path = "(/[a-zA-Z0-9._~%-]{0,8}){0,3}";
            let query = prop::option::of("[a-z0-9=&]{0,8}");
            (scheme, host, port, path, query).prop_map(|(s, h, p, path, q)| {
                let port = p.map(|p| format!(":{p}")).unwrap_or_default();
                let q = q.map(|q| format!("?{q}")).unwrap_or_default();
                format!("{s}://{h}{port}{path}{q}")
            })
        }

        /// A presented URI made from `r` by one edit (insert, delete or replace a character,
        /// or splice in something a URL parser normalises).
        fn edited(r: String) -> impl Strategy<Value = String> {
            let n = r.chars().count();
            let splice = prop::sample::select(vec![
                "", "/", "/./", "/../", "\t", "\n", "\\", "@", "#", ":", ":0", ":80", "%2F", "%63",
                "A", "a", "?", "..", "0x7f.1", " ",
            ]);
            (0..=n, 0..=2usize, splice, any::<char>()).prop_map(move |(i, kind, sp, c)| {
                let chars: Vec<char> = r.chars().collect();
                let (a, b) = chars.split_at(i);
                let (a, b): (String, String) = (a.iter().collect(), b.iter().collect());
                match kind {
                    0 => format!("{a}{sp}{b}"),
                    1 => format!("{a}{c}{}", b.chars().skip(1).collect::<String>()),
                    _ => format!("{a}{}", b.chars().skip(1).collect::<String>()),
                }
            })
        }

        /// The raw string without its port, for `http://` URIs only.
        fn portless(u: &str) -> Option<(&str, &str)> {
            without_port(u)
        }

        fn loopback_ip_http(r: &str) -> bool {
            Url::parse(r).is_ok_and(|u| u.scheme() == "http" && is_loopback_ip(&u))
        }

        proptest! {
            #![proptest_config(hostile_config!())]

            #[test]
            fn prop_a_registered_uri_always_matches_itself(r in registered()) {
                prop_assert!(redirect_uri_matches(&r, &r));
            }

            /// RFC 9700 §4.1.3 exact match; RFC 8252 §7.3: only the port of a registered
            /// `http` loopback IP literal may differ.
            #[test]
            fn prop_only_the_port_of_a_loopback_ip_may_differ(
                (r, p) in registered().prop_flat_map(|r| (Just(r.clone()), edited(r)))
            ) {
                if redirect_uri_matches(&r, &p) && r != p {
                    prop_assert!(loopback_ip_http(&r), "{r:?} ~ {p:?}");
                    prop_assert!(Url::parse(&p).is_ok(), "{r:?} ~ {p:?}");
                    let (Some((rh, rp)), Some((ph, pp))) = (portless(&r), portless(&p)) else {
                        return Err(TestCaseError::fail(format!("{r:?} ~ {p:?}")));
                    };
                    prop_assert_eq!(rh, ph);
                    // The path as sent, or an empty path written `/` (RFC 3986 §6.2.3).
                    let rooted = |a: &str, b: &str| !a.starts_with('/') && b == format!("/{a}");
                    prop_assert!(rp == pp || rooted(rp, pp) || rooted(pp, rp), "{r:?} ~ {p:?}");
                }
            }

            #[test]
            fn prop_any_port_matches_a_loopback_ip(
                r in registered(), port in 1u16..,
            ) {
                let Some((host, rest)) = portless(&r) else { return Ok(()) };
                if loopback_ip_http(&r) {
                    let p = format!("http://{host}:{port}{rest}");
                    prop_assert!(redirect_uri_matches(&r, &p), "{r:?} ~ {p:?}");
                }
            }

            #[test]
            fn prop_arbitrary_strings_never_panic(r in any::<String>(), p in any::<String>()) {
                if redirect_uri_matches(&r, &p) {
                    prop_assert!(r == p || loopback_ip_http(&r));
                }
                let _ = plausible_client_id(&p);
            }

            #[test]
            fn prop_plausible_client_ids_are_short_and_plain(s in "\\PC{0,80}|[a-zA-Z0-9_.-]{0,70}") {
                if plausible_client_id(&s) {
                    prop_assert!(!s.is_empty() && s.len() <= 64);
                    prop_assert!(s.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b)));
                }
            }
        }
    }
}
