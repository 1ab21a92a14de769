//! Dynamic client registration (RFC 7591) and its management protocol (RFC 7592): the
//! rules, with the endpoint in `crate::register`. Metadata is checked by the same functions
//! as the dashboard, the CLI and `/v1` ([`super::create_with`], [`super::update`]), so a
//! registration cannot get what those refuse.
//!
//! Credentials, each shown once and stored only as its SHA-256:
//! - an initial access token (RFC 7591 §3, `iat_…`), made by an admin (CLI or dashboard),
//!   is single use: it registers one client, then it is spent; it expires after
//!   [`DEFAULT_IAT_TTL_SECS`] unless given another lifetime (at most [`MAX_IAT_TTL_SECS`]);
//! - a registration access token (RFC 7592 §1.3, `rat_…`) is minted for each registered
//!   client and stored on that client's row, so it reaches exactly that client's
//!   configuration endpoint and dies with it. It does not expire and is not rotated.

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{ClientError, ClientUpdate, Metadata, NewClient, Protocol};
use crate::catalog::Snapshot;
use crate::crypto;
use crate::errors::StoreError;
use crate::grant_type::GrantType;
use crate::store;

/// Prefix of initial access tokens.
pub const IAT_PREFIX: &str = "iat_";
/// Prefix of registration access tokens.
pub const RAT_PREFIX: &str = "rat_";
/// An initial access token works for a day unless asked otherwise.
pub const DEFAULT_IAT_TTL_SECS: i64 = 86_400;
/// And for 30 days at most: a standing token is a standing open door.
pub const MAX_IAT_TTL_SECS: i64 = 30 * 86_400;
/// The name of a client that registered without `client_name` (RFC 7591 §2 makes it
/// optional; the consent screen needs one).
pub const UNNAMED: &str = "Unnamed app";

/// Why a registration or an update is refused: RFC 7591 §3.2.2 errors.
#[derive(Debug, thiserror::Error)]
pub enum RegistrationError {
    /// `invalid_redirect_uri`.
    #[error("{0}")]
    RedirectUri(String),
    /// `invalid_client_metadata`.
    #[error("{0}")]
    Metadata(String),
    /// `unapproved_software_statement`: Latch accepts no software statements.
    #[error("software statements are not accepted by this server")]
    SoftwareStatement,
    /// The initial access token was spent by a concurrent registration.
    #[error("the initial access token is invalid, expired or already used")]
    TokenSpent,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<ClientError> for RegistrationError {
    fn from(e: ClientError) -> Self {
        match e {
            ClientError::Invalid(m, "redirect_uris") => RegistrationError::RedirectUri(m),
            ClientError::Invalid(m, _) => RegistrationError::Metadata(m),
            ClientError::UnknownOwner(_) => RegistrationError::Metadata(e.to_string()),
            ClientError::Store(s) => RegistrationError::Store(s),
        }
    }
}

fn bad(m: impl Into<String>) -> RegistrationError {
    RegistrationError::Metadata(m.into())
}

/// The client metadata of a registration request (RFC 7591 §2, RFC 9126 §6) and, for an
/// update, the fields RFC 7592 §2.2 adds. Metadata Latch does not know is ignored (§2:
/// "MUST ignore"); none of it is stored or echoed. A new field is one line here, read in
/// [`Request::into_new`] / [`Request::into_update`] and written in [`response`].
#[derive(Debug, Default, Deserialize)]
pub struct Request {
    pub redirect_uris: Option<Vec<String>>,
    pub token_endpoint_auth_method: Option<String>,
    pub grant_types: Option<Vec<String>>,
    pub response_types: Option<Vec<String>>,
    pub client_name: Option<String>,
    pub client_uri: Option<String>,
    pub logo_uri: Option<String>,
    pub policy_uri: Option<String>,
    pub tos_uri: Option<String>,
    /// Space-separated (RFC 7591 §2), each in the catalog.
    pub scope: Option<String>,
    /// A JWK Set as a JSON object (RFC 7591 §2), for `private_key_jwt`.
    pub jwks: Option<Value>,
    pub jwks_uri: Option<String>,
    pub require_pushed_authorization_requests: Option<bool>,
    /// RFC 9449 §5.2: every token request of the client must carry a DPoP proof.
    pub dpop_bound_access_tokens: Option<bool>,
    /// RFC 9701 §6: the algorithm of its signed introspection responses; the caller has
    /// checked it against `introspect::signing_algs` (the keys Latch signs with).
    pub introspection_signed_response_alg: Option<String>,
    /// RFC 7591 §2.3; refused (`unapproved_software_statement`).
    pub software_statement: Option<Value>,
    /// RFC 7592 §2.2: an update names the client, and may repeat its current secret.
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    /// OIDC RP-Initiated Logout §3.1 and Back-Channel Logout §2.2 (`clients::logout` rules).
    pub post_logout_redirect_uris: Option<Vec<String>>,
    pub backchannel_logout_uri: Option<String>,
    pub backchannel_logout_session_required: Option<bool>,
}

/// How a registration came in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Door<'a> {
    /// With an initial access token: the SHA-256 of a token [`usable_iat`] accepted.
    Initial(&'a str),
    /// Open registration (`LATCH_OPEN_REGISTRATION=true`): public clients only.
    Open,
}

/// The values both a registration and an update derive from the request.
struct Common {
    grant_types: Vec<String>,
    redirect_uris: Vec<String>,
    scopes: Vec<String>,
    name: String,
    jwks: Option<String>,
}

impl Request {
    /// The logout registration. A new client takes what was sent; an update (RFC 7592
    /// §2.2) replaces, so an omitted field is cleared.
    fn logout(&self, replace: bool) -> super::logout::LogoutChange {
        let or_cleared = |v: Option<String>| {
            if replace {
                Some(v.unwrap_or_default())
            } else {
                v
            }
        };
        super::logout::LogoutChange {
            post_logout_redirect_uris: match &self.post_logout_redirect_uris {
                None if replace => Some(Vec::new()),
                v => v.clone(),
            },
            backchannel_logout_uri: or_cleared(self.backchannel_logout_uri.clone()),
            backchannel_logout_session_required: match self.backchannel_logout_session_required {
                None if replace => Some(false),
                v => v,
            },
        }
    }

    /// Grant and response types (RFC 7591 §2.1: `code` goes with `authorization_code`;
    /// only the code flow exists here, RFC 9700 §2.1.2), scope, name and keys.
    fn common(&self) -> Result<Common, RegistrationError> {
        if self.software_statement.is_some() {
            return Err(RegistrationError::SoftwareStatement);
        }
        let grant_types = self
            .grant_types
            .clone()
            .unwrap_or_else(|| vec![GrantType::AuthorizationCode.as_str().to_owned()]);
        let code = grant_types
            .iter()
            .any(|g| g == GrantType::AuthorizationCode.as_str());
        let response_types = self.response_types.clone().unwrap_or_else(|| {
            if code {
                vec!["code".to_owned()]
            } else {
                vec![]
            }
        });
        if let Some(r) = response_types.iter().find(|r| r.as_str() != "code") {
            return Err(bad(format!(
                "unsupported response type {:?}: only code is supported",
                r.chars().take(40).collect::<String>()
            )));
        }
        if code != response_types.iter().any(|r| r == "code") {
            return Err(bad(
                "response_types code and grant_types authorization_code go together (RFC 7591 §2.1)",
            ));
        }
        let scopes = match self.scope.as_deref().map(str::trim) {
            None | Some("") => super::default_scopes(),
            Some(s) => s
                .split(' ')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
        };
        let jwks = match &self.jwks {
            None => None,
            Some(Value::Object(_)) => self.jwks.as_ref().map(Value::to_string),
            Some(_) => return Err(bad("jwks must be a JWK Set (a JSON object)")),
        };
        Ok(Common {
            grant_types,
            redirect_uris: self.redirect_uris.clone().unwrap_or_default(),
            scopes,
            name: self
                .client_name
                .clone()
                .filter(|n| !n.trim().is_empty())
                .unwrap_or_else(|| UNNAMED.to_owned()),
            jwks,
        })
    }

    /// The client to create. RFC 7591 §2: `token_endpoint_auth_method` defaults to
    /// `client_secret_basic`; at the open door only `none` is allowed, so there it defaults
    /// to `none` (§3.2.1 lets the server substitute values; the response says which).
    pub(crate) fn into_new(
        self,
        door: Door<'_>,
    ) -> Result<(NewClient, Protocol), RegistrationError> {
        let c = self.common()?;
        let method = match (door, self.token_endpoint_auth_method.as_deref()) {
            (Door::Open, None | Some("none")) => "none".to_owned(),
            (Door::Open, Some(_)) => {
                return Err(bad(
                    "open registration registers public clients only: use token_endpoint_auth_method none, or an initial access token",
                ));
            }
            (Door::Initial(_), None) => "client_secret_basic".to_owned(),
            (Door::Initial(_), Some(m)) => m.to_owned(),
        };
        let public = method == "none";
        let new = NewClient {
            name: c.name,
            redirect_uris: c.redirect_uris,
            public,
            grant_types: c.grant_types,
            scopes: c.scopes,
            livemode: true,
            first_party: false,
            // Introspecting every token is never something a client can register for.
            resource_server: false,
            owner_id: None,
            metadata: Metadata {
                logo_uri: self.logo_uri,
                client_uri: self.client_uri,
                policy_uri: self.policy_uri,
                tos_uri: self.tos_uri,
            },
            allowed_origins: None,
        };
        let protocol = Protocol {
            require_par: self.require_pushed_authorization_requests.unwrap_or(false),
            auth_method: Some(method),
            jwks: c.jwks,
            jwks_uri: self.jwks_uri,
        };
        Ok((new, protocol))
    }

    /// RFC 7592 §2.2: the request replaces the registration: an omitted field is cleared or
    /// back to its default. `client_id` must be the client's, a `client_secret` its current
    /// one, and the authentication method cannot change (a new kind of client is a new
    /// registration; this also keeps a public client from the open door public).
    fn into_update(
        self,
        client: &entity::client::Model,
        now: DateTime<Utc>,
    ) -> Result<ClientUpdate, RegistrationError> {
        if self.client_id.as_deref() != Some(client.id.as_str()) {
            return Err(bad(
                "client_id must be present and be this client's (RFC 7592 §2.2)",
            ));
        }
        if let Some(s) = &self.client_secret
            && !super::secret_matches(client, s, now)
        {
            return Err(bad("client_secret does not match the client's secret"));
        }
        if let Some(m) = &self.token_endpoint_auth_method
            && *m != client.token_endpoint_auth_method
        {
            return Err(bad(
                "token_endpoint_auth_method cannot change; register a new client instead",
            ));
        }
        let c = self.common()?;
        let pkjwt = client.token_endpoint_auth_method == "private_key_jwt";
        if pkjwt && c.jwks.is_none() && self.jwks_uri.as_deref().is_none_or(str::is_empty) {
            return Err(bad(
                "private_key_jwt needs exactly one of jwks and jwks_uri",
            ));
        }
        let uri = |v: Option<String>| Some(v.unwrap_or_default());
        Ok(ClientUpdate {
            grant_types: Some(c.grant_types),
            name: Some(c.name),
            redirect_uris: Some(c.redirect_uris),
            scopes: Some(c.scopes),
            // The logo is fetched again only when its address changes.
            logo_uri: uri(self.logo_uri).filter(|l| Some(l) != client.logo_uri.as_ref()),
            client_uri: uri(self.client_uri),
            policy_uri: uri(self.policy_uri),
            tos_uri: uri(self.tos_uri),
            require_par: Some(self.require_pushed_authorization_requests.unwrap_or(false)),
            // Not registration metadata: CORS origins stay as they are (by default, a
            // public client's redirect URI origins).
            allowed_origins: None,
            jwks: c.jwks,
            jwks_uri: self.jwks_uri.filter(|u| !u.is_empty()),
        })
    }
}

/// The client information response (RFC 7591 §3.2.1, RFC 7592 §3) without the credentials:
/// every registered metadata value, the `registration_client_uri`, and
/// `client_secret_expires_at: 0` (secrets do not expire) for a client with a secret. The
/// secret itself exists only in the registration response: only its digest is kept.
pub fn response(c: &entity::client::Model, issuer: &str) -> Value {
    let list = |s: &str| store::words(s).map(str::to_owned).collect::<Vec<_>>();
    let grant_types = list(&c.grant_types);
    let code = grant_types
        .iter()
        .any(|g| g == GrantType::AuthorizationCode.as_str());
    let mut v = json!({
        "client_id": c.id,
        "client_id_issued_at": c.created_at.timestamp(),
        "client_name": c.name,
        "redirect_uris": list(&c.redirect_uris),
        "grant_types": grant_types,
        "response_types": if code { vec!["code"] } else { vec![] },
        "token_endpoint_auth_method": c.token_endpoint_auth_method,
        "scope": c.scopes,
        "require_pushed_authorization_requests": c.require_par,
        "dpop_bound_access_tokens": c.dpop_bound_access_tokens,
        "registration_client_uri": client_uri(issuer, &c.id),
    });
    let Some(obj) = v.as_object_mut() else {
        return v;
    };
    for (k, val) in [
        ("client_uri", &c.client_uri),
        ("logo_uri", &c.logo_uri),
        ("policy_uri", &c.policy_uri),
        ("tos_uri", &c.tos_uri),
        ("jwks_uri", &c.jwks_uri),
        (
            "introspection_signed_response_alg",
            &c.introspection_signed_response_alg,
        ),
    ] {
        if let Some(val) = val {
            obj.insert(k.to_owned(), json!(val));
        }
    }
    if let Some(j) = c
        .jwks
        .as_deref()
        .and_then(|j| serde_json::from_str::<Value>(j).ok())
    {
        obj.insert("jwks".to_owned(), j);
    }
    if c.secret_hash.is_some() {
        obj.insert("client_secret_expires_at".to_owned(), json!(0));
    }
    let post_logout = super::logout::post_logout_uris(c);
    if !post_logout.is_empty() {
        obj.insert("post_logout_redirect_uris".to_owned(), json!(post_logout));
    }
    if let Some(u) = &c.backchannel_logout_uri {
        obj.insert("backchannel_logout_uri".to_owned(), json!(u));
        obj.insert(
            "backchannel_logout_session_required".to_owned(),
            json!(c.backchannel_logout_session_required),
        );
    }
    v
}

/// RFC 7592 §1.2: the client configuration endpoint of `client_id`.
pub fn client_uri(issuer: &str, client_id: &str) -> String {
    format!("{issuer}/oauth/register/{client_id}")
}

/// A new initial access token, valid `ttl_secs` from `now`: the token (shown once) and its
/// row. `created_by`: the admin; `None` for the operator (CLI).
pub async fn mint_iat(
    db: &impl store::Conn,
    created_by: Option<&str>,
    ttl_secs: i64,
    now: DateTime<Utc>,
) -> Result<(String, entity::registration_token::Model), RegistrationError> {
    if !(60..=MAX_IAT_TTL_SECS).contains(&ttl_secs) {
        return Err(bad(
            "an initial access token lives from 60 seconds to 30 days",
        ));
    }
    let token = crypto::mint_secret(IAT_PREFIX);
    let row = entity::registration_token::Model {
        id: crypto::sha256_hex(&token),
        created_by: created_by.map(str::to_owned),
        created_at: now,
        expires_at: now + chrono::TimeDelta::seconds(ttl_secs),
        used_at: None,
        client_id: None,
    };
    store::registration_tokens::insert(db, row.clone()).await?;
    Ok((token, row))
}

/// `--expires-in` / the dashboard's choice: seconds, or a number with `m`, `h` or `d`.
pub fn parse_ttl(s: &str) -> Option<i64> {
    let s = s.trim();
    let (n, unit) = match s.char_indices().last()? {
        (i, 'm') => (&s[..i], 60),
        (i, 'h') => (&s[..i], 3600),
        (i, 'd') => (&s[..i], 86_400),
        (i, 's') => (&s[..i], 1),
        _ => (s, 1),
    };
    let n: i64 = n.parse().ok()?;
    n.checked_mul(unit)
        .filter(|v| (60..=MAX_IAT_TTL_SECS).contains(v))
}

/// The unspent, unexpired initial access token `token` (its row), or `None`. Malformed
/// tokens are refused by checksum before any query.
pub async fn usable_iat(
    db: &impl store::Conn,
    token: &str,
    now: DateTime<Utc>,
) -> Result<Option<entity::registration_token::Model>, StoreError> {
    if !crypto::check_secret(token, IAT_PREFIX) {
        return Ok(None);
    }
    store::registration_tokens::usable(db, &crypto::sha256_hex(token), now).await
}

/// Whether `token` is the registration access token of `client` (constant-time digest
/// comparison; a client registered otherwise has none).
pub fn rat_matches(client: &entity::client::Model, token: &str) -> bool {
    let Some(hash) = &client.registration_access_token_hash else {
        return false;
    };
    crypto::check_secret(token, RAT_PREFIX)
        && crypto::constant_time_eq(crypto::sha256_hex(token).as_bytes(), hash.as_bytes())
}

/// A registered client with the credentials shown once.
pub struct Registered {
    pub client: entity::client::Model,
    pub secret: Option<String>,
    pub access_token: String,
}

/// Register a client (RFC 7591 §3.1). The client is created with the shared rules, then in
/// one transaction the initial access token is spent on it and its registration access
/// token stored; should another registration have spent the token meanwhile, the client
/// is deleted again and the request refused. (Checking the token, then creating, then
/// spending keeps the logo fetch out of the write transaction, and a refused request from
/// spending the token.)
pub async fn register(
    db: &store::Db,
    catalog: &Snapshot,
    rows: &store::RowCaches,
    logos: &super::logo::Fetcher,
    req: Request,
    door: Door<'_>,
    now: DateTime<Utc>,
) -> Result<Registered, RegistrationError> {
    let dpop_bound = req.dpop_bound_access_tokens.unwrap_or(false);
    let introspection_alg = req.introspection_signed_response_alg.clone();
    let (logout, new, protocol) = prepare(req, door)?;
    let (client, secret) = super::create_with(db, catalog, logos, new, protocol).await?;
    let client = super::logout::set_logout(db, rows, &client, &logout).await?;
    let client = super::set_dpop_bound(db, rows, &client, dpop_bound).await?;
    let client = super::set_introspection_alg(db, rows, &client, introspection_alg).await?;
    let access_token = crypto::mint_secret(RAT_PREFIX);
    let tx = store::begin_write(db).await?;
    if let Door::Initial(iat) = door
        && !store::registration_tokens::spend(&*tx, iat, &client.id, now).await?
    {
        drop(tx);
        super::delete(db, rows, &client).await?;
        return Err(RegistrationError::TokenSpent);
    }
    let client =
        store::clients::set_registration_token(&*tx, &client, crypto::sha256_hex(&access_token))
            .await?;
    tx.commit().await.map_err(StoreError::from)?;
    Ok(Registered {
        client,
        secret,
        access_token,
    })
}

/// What [`register`] derives from the request before it touches the store: the logout
/// URIs (checked), then the client and its protocol, which [`super::create_with`] checks.
pub(crate) fn prepare(
    req: Request,
    door: Door<'_>,
) -> Result<(super::logout::LogoutChange, NewClient, Protocol), RegistrationError> {
    let logout = req.logout(false);
    logout.validate()?;
    let (new, protocol) = req.into_new(door)?;
    Ok((logout, new, protocol))
}

/// Replace a registered client's metadata (RFC 7592 §2.2) under the shared rules.
pub async fn update(
    db: &store::Db,
    catalog: &Snapshot,
    rows: &store::RowCaches,
    logos: &super::logo::Fetcher,
    client: &entity::client::Model,
    req: Request,
    now: DateTime<Utc>,
) -> Result<entity::client::Model, RegistrationError> {
    let logout = req.logout(true);
    logout.validate()?;
    // Omitted, it is back to its default, false (§2.2), like every other field.
    let dpop_bound = req.dpop_bound_access_tokens.unwrap_or(false);
    let introspection_alg = req.introspection_signed_response_alg.clone();
    let u = req.into_update(client, now)?;
    let updated = super::update(db, catalog, rows, logos, client, u).await?;
    let updated = super::logout::set_logout(db, rows, &updated, &logout).await?;
    let updated = super::set_dpop_bound(db, rows, &updated, dpop_bound).await?;
    Ok(super::set_introspection_alg(db, rows, &updated, introspection_alg).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(v: Value) -> Request {
        serde_json::from_value(v).unwrap()
    }

    use proptest::prelude::*;

    proptest! {
        #![proptest_config(hostile_config!())]

        /// Any body either fails to parse or gives a request whose checks answer without
        /// panicking, at either door; any `--expires-in` text parses to a lifetime in range
        /// or to nothing.
        #[test]
        fn prop_arbitrary_bodies_never_panic(
            bytes in prop::collection::vec(any::<u8>(), 0..300),
            fields in prop::collection::vec(
                (prop::sample::select(vec![
                    "redirect_uris", "grant_types", "response_types", "scope", "client_name",
                    "token_endpoint_auth_method", "jwks", "jwks_uri", "client_id",
                    "software_statement", "require_pushed_authorization_requests",
                    "dpop_bound_access_tokens", "introspection_signed_response_alg",
                ]), any::<String>()),
                0..6,
            ),
            ttl in any::<String>(),
        ) {
            if let Ok(r) = serde_json::from_slice::<Request>(&bytes) {
                let _ = r.into_new(Door::Open);
            }
            let mut obj = serde_json::Map::new();
            for (k, v) in fields {
                obj.insert(k.to_owned(), json!(v));
                obj.insert(format!("{k}_list"), json!([v]));
            }
            if let Ok(r) = serde_json::from_value::<Request>(Value::Object(obj)) {
                let _ = r.into_new(Door::Initial("x"));
            }
            if let Some(secs) = parse_ttl(&ttl) {
                prop_assert!((60..=MAX_IAT_TTL_SECS).contains(&secs));
            }
        }
    }

    #[test]
    fn ttl_parsing() {
        assert_eq!(parse_ttl("3600"), Some(3600));
        assert_eq!(parse_ttl("2h"), Some(7200));
        assert_eq!(parse_ttl("30d"), Some(30 * 86_400));
        assert_eq!(parse_ttl("10m"), Some(600));
        for bad in ["", "h", "31d", "59", "-1h", "1y", "9999999999999999999d"] {
            assert_eq!(parse_ttl(bad), None, "{bad}");
        }
    }

    #[test]
    fn open_door_is_public_only() {
        let (new, p) = req(json!({"redirect_uris": ["https://a.example/cb"]}))
            .into_new(Door::Open)
            .unwrap();
        assert!(new.public);
        assert_eq!(p.auth_method.as_deref(), Some("none"));
        assert!(matches!(
            req(json!({"token_endpoint_auth_method": "client_secret_basic"})).into_new(Door::Open),
            Err(RegistrationError::Metadata(_))
        ));
        let (new, p) = req(json!({})).into_new(Door::Initial("x")).unwrap();
        assert!(!new.public);
        assert_eq!(p.auth_method.as_deref(), Some("client_secret_basic"));
    }

    #[test]
    fn response_types_follow_grant_types() {
        for bad in [
            json!({"response_types": ["token"]}),
            json!({"response_types": ["code"], "grant_types": ["client_credentials"]}),
            json!({"response_types": [], "grant_types": ["authorization_code"]}),
            json!({"software_statement": "eyJ..."}),
            json!({"jwks": "not an object"}),
        ] {
            assert!(req(bad.clone()).common().is_err(), "{bad}");
        }
        let c = req(json!({"grant_types": ["client_credentials"]}))
            .common()
            .unwrap();
        assert_eq!(c.grant_types, vec!["client_credentials"]);
        assert_eq!(c.name, UNNAMED);
    }
}
