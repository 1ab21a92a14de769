//! Token exchange (RFC 8693): a confidential client trades a token it holds (the subject:
//! a Latch access token, or an API key when the client is a resource server) for an access
//! token for another API of the catalog, with the same or fewer scopes, that says who acts
//! for whom (`act`, §4.1). Never a refresh token (§2.2.1: the exchanged token lives no
//! longer than its subject).
//!
//! With a DPoP proof (RFC 9449 §5) the issued token is bound to the proof's key, as every
//! grant's is; the subject token's own binding is to its holder's key, which the exchanging
//! client does not hold, so it is not carried over.
//!
//! Who may call it: clients with the grant enabled, and only into the APIs their policy
//! (`client.token_exchange_audiences`) names. Each issued token is recorded with the
//! `jti` it was exchanged from, so revoking the subject (or the actor) revokes it
//! (`store::tokens::deny`).

use actix_web::HttpRequest;
use actix_web::HttpResponse;
use actix_web::http::header;
use chrono::Utc;
use entity::client;
use serde_json::{Value, json};

use super::super::issue::Issued;
use super::super::request::TokenExchangeRequest;
use crate::audit::{AuditKind, Event};
use crate::errors::OAuthError;
use crate::middleware::ClientIp;
use crate::oauth::access_token::For;
use crate::oauth::active_access_token;
use crate::scope::ScopeSet;
use crate::signing::Audience;
use crate::state::AppState;
use crate::{api_keys, crypto, store};

/// RFC 8693 §3: a Latch access token (the only type Latch issues by exchange).
pub const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";
/// A Latch API key as the subject (RFC 8693 §3 lets a server define its own URIs).
pub const API_KEY_TYPE: &str = "urn:latch:params:oauth:token-type:api_key";

/// What the exchange starts from.
struct Subject {
    /// The `sub` the new token keeps: always a user's id.
    sub: String,
    /// What revoking it must reach: the access token's `jti`, or the API key's id.
    id: String,
    scope: String,
    /// When it stops being valid (Unix seconds), if ever.
    exp: Option<i64>,
    /// Its own `act`, for a token that was itself exchanged (the chain's earlier actors).
    act: Option<Value>,
    livemode: bool,
}

/// The claims of an exchanged access token: RFC 9068 §2.2's, in the order of
/// [`crate::signing::AccessClaims`], with `act` (RFC 8693 §4.1).
#[derive(serde::Serialize)]
struct ExchangedClaims<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: Audience,
    exp: i64,
    iat: i64,
    nbf: i64,
    jti: &'a str,
    client_id: &'a str,
    scope: &'a str,
    livemode: bool,
    act: &'a Value,
    /// RFC 9449 §6.1: bound to the key of the proof the exchanging client sent (§5).
    #[serde(skip_serializing_if = "Option::is_none")]
    cnf: Option<crate::signing::Confirmation>,
}

/// RFC 8693 §2.2.2: "If … either the subject_token or actor_token are invalid for any
/// reason, or are unacceptable based on policy, the invalid_request error code SHOULD be
/// used".
fn bad_token(which: &str) -> OAuthError {
    OAuthError::invalid_request(format!(
        "The {which} is not an active token this client may exchange"
    ))
}

pub async fn exchange(
    state: &AppState,
    req: &HttpRequest,
    client: &client::Model,
    r: TokenExchangeRequest<'_>,
    proof: Option<&crate::dpop::Proof>,
) -> Result<Issued, OAuthError> {
    if client.is_public {
        return Err(OAuthError::unauthorized_client(
            "Public clients cannot use token exchange",
        ));
    }
    // §2.1: Latch issues access tokens only; no refresh token is ever exchanged for.
    if let Some(t) = r.requested_token_type
        && t != ACCESS_TOKEN_TYPE
    {
        return Err(OAuthError::invalid_request(format!(
            "requested_token_type must be {ACCESS_TOKEN_TYPE}"
        )));
    }
    // §2.1: actor_token_type is REQUIRED with actor_token and MUST NOT appear without it.
    match (r.actor_token, r.actor_token_type) {
        (Some(_), None) => {
            return Err(OAuthError::invalid_request(
                "actor_token_type is required with actor_token",
            ));
        }
        (None, Some(_)) => {
            return Err(OAuthError::invalid_request(
                "actor_token_type is given without actor_token",
            ));
        }
        (Some(_), Some(t)) if t != ACCESS_TOKEN_TYPE => {
            return Err(OAuthError::invalid_request(format!(
                "actor_token_type must be {ACCESS_TOKEN_TYPE}"
            )));
        }
        _ => {}
    }

    // The target: `resource` values (RFC 8707) and `audience` (§2.1), each a catalog API
    // identifier. Latch has no default target for an exchange: the policy names APIs.
    let mut targets: Vec<String> = Vec::new();
    // (An empty `audience` names nothing, as an empty parameter is absent: RFC 6749 §3.1.)
    for t in r
        .resources
        .iter()
        .chain(r.audiences.iter().filter(|a| !a.is_empty()))
    {
        if !targets.contains(t) {
            targets.push(t.clone());
        }
    }
    if targets.is_empty() {
        return Err(OAuthError::invalid_request(
            "Name the API to exchange into with resource or audience",
        ));
    }
    // The client's policy. §2.2.2: invalid_target when the server "is unwilling or unable
    // to issue a token for any target service indicated by the resource or audience
    // parameters".
    for t in &targets {
        if !store::words(&client.token_exchange_audiences).any(|a| a == t) {
            return Err(OAuthError::invalid_target(format!(
                "This client may not exchange tokens for {t:?}"
            )));
        }
    }

    let now = state.clock.now();
    let subject = match r.subject_token_type {
        ACCESS_TOKEN_TYPE => {
            let c = active_access_token(state, r.subject_token, For::Introspection)
                .await?
                .map_err(|_| bad_token("subject_token"))?;
            // A client's own token (client_credentials) has no person to act for; the
            // resource side (`/v1`, introspection) reads a `sub` other than the client as a
            // user, so such a token is not exchanged (it can be the actor_token).
            if c.sub == c.client_id {
                return Err(OAuthError::invalid_request(
                    "The subject_token must be issued for a person; a client's own token \
                     can only be the actor_token",
                ));
            }
            Subject {
                sub: c.sub,
                id: c.jti,
                scope: c.scope,
                exp: Some(c.exp),
                act: c.act,
                livemode: c.livemode,
            }
        }
        // A resource server holding a user's API key may exchange it for a token to a
        // downstream API; no other client may present someone's key here.
        API_KEY_TYPE => {
            if !client.resource_server || !api_keys::looks_valid(r.subject_token) {
                return Err(bad_token("subject_token"));
            }
            let v = api_keys::verify(&state.db, &state.keys, r.subject_token, None, now)
                .await?
                .map_err(|_| bad_token("subject_token"))?;
            let key = &v.key;
            Subject {
                sub: key.user_id.clone(),
                id: key.id.clone(),
                scope: api_keys::effective_scopes(key, &state.catalog.get()).join(" "),
                exp: key.expires_at.map(|t| t.timestamp()),
                act: None,
                livemode: key.livemode,
            }
        }
        _ => {
            return Err(OAuthError::invalid_request(format!(
                "subject_token_type must be {ACCESS_TOKEN_TYPE} or {API_KEY_TYPE}"
            )));
        }
    };
    // A test-mode credential never turns into a live-mode token, nor the reverse.
    if subject.livemode != client.livemode {
        return Err(bad_token("subject_token"));
    }
    let actor = match r.actor_token {
        Some(t) => {
            let c = active_access_token(state, t, For::Introspection)
                .await?
                .map_err(|_| bad_token("actor_token"))?;
            if c.livemode != client.livemode {
                return Err(bad_token("actor_token"));
            }
            Some(c)
        }
        None => None,
    };

    // Scopes: the same as the subject's or fewer (wider is invalid_scope, RFC 6749 §5.2),
    // then only those of the target APIs (RFC 8707 §2); OpenID scopes stay behind.
    let catalog = state.catalog.get();
    let held = ScopeSet::stored(&subject.scope);
    let wider = |part: &str| {
        OAuthError::invalid_scope(format!(
            "The scope {part:?} is not held by the subject_token"
        ))
    };
    let requested = match r.scope {
        Some(s) => {
            let s = s.map_err(wider)?;
            s.within(&held).map_err(wider)?;
            s
        }
        None => held.clone(),
    };
    let target = |e: crate::catalog::InvalidTarget| OAuthError::invalid_target(e.0);
    let apis = catalog.resolve_resources(&targets, &held).map_err(target)?;
    let scopes = catalog
        .narrow_to(requested, &apis)
        .map_err(target)?
        .filter(|s| catalog.api_of(s).is_some());
    if scopes.is_empty() {
        return Err(OAuthError::invalid_scope(
            "No scope of the target API is left to exchange",
        ));
    }
    let scope = scopes.to_string();

    // The lifetime: the target's, and never past the subject's (JWT times are on the
    // system clock, as everywhere; ARCHITECTURE.md "Not yet as it should be").
    let iat = Utc::now().timestamp();
    let mut exp = iat
        + catalog
            .token_ttl(&apis, state.settings.access_token_ttl)
            .num_seconds();
    if let Some(limit) = subject.exp {
        exp = exp.min(limit);
    }
    if exp <= iat {
        return Err(bad_token("subject_token"));
    }

    // §4.1: the current actor outermost; a chain's earlier actors nested inside.
    let mut act = json!({
        "sub": actor.as_ref().map_or(client.id.as_str(), |a| a.sub.as_str()),
    });
    if let Some(prev) = &subject.act {
        act["act"] = prev.clone();
    }
    let jti = crypto::random_base62(22);
    let key = state
        .signer
        .current()
        .ok_or_else(|| OAuthError::server(anyhow::anyhow!("no signing key is active")))?;
    let aud = Audience::new(apis.iter().map(|a| a.identifier.clone()).collect());
    let jwt = key
        .sign_access(&ExchangedClaims {
            iss: &state.settings.issuer,
            sub: &subject.sub,
            aud: aud.clone(),
            exp,
            iat,
            nbf: iat,
            jti: &jti,
            client_id: &client.id,
            scope: &scope,
            livemode: client.livemode,
            act: &act,
            cnf: proof.map(|p| crate::signing::Confirmation { jkt: p.jkt.clone() }),
        })
        .map_err(OAuthError::server)?;
    let expires_at = chrono::DateTime::from_timestamp(exp, 0)
        .ok_or_else(|| OAuthError::server(anyhow::anyhow!("expiry out of range")))?;

    // Recorded before it is handed out. A revocation of the subject writes its deny-list
    // row before it reads what was exchanged from it; this writes its row before it reads
    // the deny list: whichever comes second sees the other.
    store::exchanged_tokens::insert(
        &state.db,
        entity::exchanged_token::Model {
            jti: jti.clone(),
            subject_jti: subject.id.clone(),
            actor_jti: actor.as_ref().map(|a| a.jti.clone()),
            client_id: client.id.clone(),
            expires_at,
            created_at: store::now(),
        },
    )
    .await?;
    let revoked_meanwhile = store::tokens::is_denied_in_db(&state.db, &subject.id).await?
        || match &actor {
            Some(a) => store::tokens::is_denied_in_db(&state.db, &a.jti).await?,
            None => false,
        };
    if revoked_meanwhile {
        store::tokens::deny(&state.db, &jti, expires_at, now).await?;
        return Err(bad_token("subject_token"));
    }

    Event::new(AuditKind::TokenExchanged)
        .user(&subject.sub)
        .actor(Some(&client.id))
        .client_ip(ClientIp::of(req))
        .detail(json!({
            "client_id": client.id,
            "audience": aud,
            "scope": scope,
            "jti": jti,
            "subject_token_type": r.subject_token_type,
            "act": act,
            "livemode": client.livemode,
        }))
        .record(&state.db)
        .await?;

    Ok(Issued {
        access_token: jwt,
        expires_in: exp - iat,
        scope,
        refresh_token: None,
        id_token: None,
    })
}

/// RFC 8693 §2.2.1: the access token, `issued_token_type`, `token_type` (Bearer, or DPoP
/// for a token bound to the proof's key: RFC 9449 §5), its lifetime and scope; never a
/// refresh token. `Cache-Control: no-store` as RFC 6749 §5.1.
pub fn response(i: &Issued, dpop: bool) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"))
        .json(json!({
            "access_token": i.access_token,
            "issued_token_type": ACCESS_TOKEN_TYPE,
            "token_type": if dpop { "DPoP" } else { "Bearer" },
            "expires_in": i.expires_in,
            "scope": i.scope,
        }))
}
