//! Minting access tokens (RFC 9068 JWTs) and refresh tokens, and the token response
//! (RFC 6749 §5.1).

use actix_web::HttpResponse;
use actix_web::http::header;
use chrono::{DateTime, Utc};
use entity::{client, refresh_token};

use crate::catalog::Snapshot;
use crate::crypto;
use crate::errors::OAuthError;
use crate::scope::ScopeSet;
use crate::state::AppState;

pub struct Issued {
    pub access_token: String,
    pub expires_in: i64,
    pub scope: String,
    pub refresh_token: Option<String>,
    pub id_token: Option<String>,
}

/// The claims of [`crate::signing::AccessClaims`], borrowed for signing.
#[derive(serde::Serialize)]
struct AccessClaimsRef<'a> {
    iss: &'a str,
    sub: &'a str,
    #[serde(serialize_with = "audience")]
    aud: &'a [String],
    exp: i64,
    iat: i64,
    nbf: i64,
    jti: &'a str,
    client_id: &'a str,
    scope: &'a str,
    livemode: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    auth_time: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cnf: Option<CnfRef<'a>>,
}

/// RFC 9449 §6.1: `"cnf": {"jkt": …}`.
#[derive(serde::Serialize)]
struct CnfRef<'a> {
    jkt: &'a str,
}

/// RFC 7519 §4.1.3: a string for one audience, an array for several (as
/// [`crate::signing::Audience`] serializes).
fn audience<S: serde::Serializer>(aud: &&[String], s: S) -> Result<S::Ok, S::Error> {
    use serde::Serialize;
    match aud {
        [one] => s.serialize_str(one),
        many => many.serialize(s),
    }
}

/// RFC 8707 §2.2: `resources` narrow the access token to those APIs of the grant, with
/// only their scopes (and the OpenID ones); a resource that is not a registered API or has
/// no scope in `grant` is `invalid_target`. No resource: `requested` as it is.
pub fn narrow_to_resources<'a>(
    catalog: &Snapshot,
    resources: &[String],
    grant: &ScopeSet<'_>,
    requested: ScopeSet<'a>,
) -> Result<ScopeSet<'a>, OAuthError> {
    if resources.is_empty() {
        return Ok(requested);
    }
    let target = |e: crate::catalog::InvalidTarget| OAuthError::invalid_target(e.0);
    let apis = catalog
        .resolve_resources(resources, grant)
        .map_err(target)?;
    catalog.narrow_to(requested, &apis).map_err(target)
}

pub struct Access {
    pub jwt: String,
    pub jti: String,
    pub expires_at: DateTime<Utc>,
    pub expires_in: i64,
}

/// Sign an access token for `sub` (a user id, or the client id for client_credentials:
/// `user_…` and `cl_…` never collide, RFC 9068 §2.2 / RFC 9700 §4.15).
///
/// Its `aud` is the identifier of every API owning one of `scope` (RFC 9068 §2.2, RFC 8707
/// §2), the built-in API's for a token with only OpenID scopes; its lifetime the shortest
/// `access_token_ttl` among those APIs, else `LATCH_ACCESS_TOKEN_TTL` (DESIGN.md "Your own
/// APIs"). The catalog is in memory: no query. With `jkt` (a DPoP proof's key, RFC 9449
/// §6.1) the token carries `cnf.jkt` and is good only with proofs by that key.
pub fn mint_access(
    state: &AppState,
    catalog: &Snapshot,
    client: &client::Model,
    sub: &str,
    scope: &str,
    auth_time: Option<i64>,
    jkt: Option<&str>,
) -> Result<Access, OAuthError> {
    let key = state
        .signer
        .current()
        .ok_or_else(|| OAuthError::server(anyhow::anyhow!("no signing key is active")))?;
    let now = Utc::now();
    let (apis, aud) = catalog.audience_of(&ScopeSet::stored(scope));
    let ttl = catalog
        .token_ttl(&apis, state.settings.access_token_ttl)
        .num_seconds();
    let jti = crypto::random_base62(22);
    // Serialized in the field order of `AccessClaims`, borrowing instead of cloning.
    let claims = AccessClaimsRef {
        iss: &state.settings.issuer,
        sub,
        aud: &aud,
        exp: now.timestamp() + ttl,
        iat: now.timestamp(),
        nbf: now.timestamp(),
        jti: &jti,
        // RFC 9068 §2.2: the client identifier the client uses (a metadata document
        // client's URL, not its row id; `active_access_token` maps it back).
        client_id: crate::clients::public_id(client),
        scope,
        livemode: client.livemode,
        auth_time,
        cnf: jkt.map(|jkt| CnfRef { jkt }),
    };
    let jwt = key.sign_access(&claims).map_err(OAuthError::server)?;
    Ok(Access {
        jwt,
        jti,
        expires_at: now + chrono::Duration::seconds(ttl),
        expires_in: ttl,
    })
}

/// A new refresh token row; the secret is returned once.
#[allow(clippy::too_many_arguments)]
pub fn new_refresh(
    client: &client::Model,
    user_id: &str,
    scope: &str,
    family_id: &str,
    parent_id: Option<&str>,
    auth_time: DateTime<Utc>,
    nonce: Option<String>,
    family_expires_at: DateTime<Utc>,
    access: &Access,
    now: DateTime<Utc>,
    dpop_jkt: Option<String>,
) -> (String, refresh_token::Model) {
    let secret = crypto::mint_secret("rt_");
    let row = refresh_token::Model {
        id: crypto::new_id("rt"),
        token_hash: crypto::sha256_hex(&secret),
        family_id: family_id.to_owned(),
        parent_id: parent_id.map(str::to_owned),
        client_id: client.id.clone(),
        user_id: user_id.to_owned(),
        scope: scope.to_owned(),
        auth_time,
        nonce,
        livemode: client.livemode,
        access_token_jti: access.jti.clone(),
        access_token_expires_at: access.expires_at,
        created_at: now,
        expires_at: family_expires_at,
        rotated_at: None,
        revoked_at: None,
        // Set by the grant from the code or the parent token (`amr` of the sign-in).
        amr: None,
        // Set by the grant, like `amr` (the browser session's public `sid`).
        sid: None,
        dpop_jkt,
    };
    (secret, row)
}

/// RFC 6749 §5.1, with `Cache-Control: no-store` and `Pragma: no-cache`; `token_type`
/// is `DPoP` when the access token is bound to a proof's key (RFC 9449 §5).
pub fn response(i: &Issued, dpop: bool) -> HttpResponse {
    #[derive(serde::Serialize)]
    struct Body<'a> {
        access_token: &'a str,
        token_type: &'static str,
        expires_in: i64,
        scope: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        refresh_token: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        id_token: Option<&'a str>,
    }
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"))
        .json(Body {
            access_token: &i.access_token,
            token_type: if dpop { "DPoP" } else { "Bearer" },
            expires_in: i.expires_in,
            scope: &i.scope,
            refresh_token: i.refresh_token.as_deref(),
            id_token: i.id_token.as_deref(),
        })
}
