//! Consent (RFC 6749 §4.1.1, "the authorization server authenticates the resource owner
//! and obtains an authorization decision"): the consent page, its answer (`POST
//! /oauth/authorize` with `decision`) and remembered consent, so a person is asked once per
//! app and scope (unless the request says `prompt=consent`): a request for a scope not yet
//! granted asks again, showing the granted ones as already allowed, and an approval stores
//! the union.
//!
//! An answer is bound to the request it was shown for, in this session, and used once
//! (RFC 6749 §10.12): the form carries a token naming a pending entry in the session, and
//! the code it produces has a row id derived from that token.

use actix_session::Session;
use actix_web::HttpResponse;
use actix_web::http::header;
use serde::{Deserialize, Serialize};
use url::Url;

use super::request::{self, AuthorizeRequest, Params};
use super::{
    code_to_client, csp, digest_params, error_to_client, login_redirect, rejected, store_code,
    unavailable,
};
use crate::audit::{AuditKind, Event};
use crate::clients::{self, RegisteredBy};
use crate::crypto;
use crate::errors::{HtmlError, OAuthCode, StoreError};
use crate::pages::{ConsentView, ScopeGroup, ScopeView, consent_page};
use crate::session::{self, CurrentUser};
use crate::state::AppState;
use crate::store;
use crate::store::words;

/// Pending consents kept in the session, so a consent answer is bound to the request it
/// was shown for and used once.
const PENDING: &str = "pending_consent";
const MAX_PENDING: usize = 5;
/// A consent form can be answered for this long. The session lives in the cookie, so a
/// copy of the cookie taken before the answer still holds the pending entry: single use is
/// enforced in the database instead (the code row's id is derived from the consent token,
/// see [`consent_code_id`]), and code rows are kept well beyond this age.
const PENDING_MAX_AGE_SECS: i64 = 3600;

#[derive(Serialize, Deserialize)]
struct Pending {
    token: String,
    digest: String,
    /// When the form was shown (unix seconds); 0 for entries written before this field.
    #[serde(default)]
    issued_at: i64,
}

/// The id of the one code a consent answer may produce: deterministic, so a replayed
/// answer (e.g. with a copy of the pre-answer cookie) hits the primary key and is refused
/// on every instance (RFC 6749 §10.12; the consent answer is single use).
fn consent_code_id(token: &str) -> String {
    let digest = crypto::sha256_hex(&format!("consent-answer:{token}"));
    format!("code_{}", &digest[..32])
}

const ANSWERED: &str = "This consent form has expired or was already answered. Go back to the application and try again.";

/// The scopes the person has already granted this app (a consent revoked on the dashboard
/// counts as none).
pub(super) async fn remembered(
    state: &AppState,
    client_id: &str,
    user: &CurrentUser,
) -> Result<Vec<String>, StoreError> {
    Ok(
        match store::consents::find(&state.db, &user.user.id, client_id).await? {
            Some(c) if c.revoked_at.is_none() => words(&c.scope).map(str::to_owned).collect(),
            _ => Vec::new(),
        },
    )
}

/// Whether `granted` covers every scope `r` asks for (consent is remembered per scope).
pub(super) fn covers(granted: &[String], r: &AuthorizeRequest) -> bool {
    r.scopes.iter().all(|s| granted.contains(s))
}

/// The requested scopes as the consent page shows them: the OpenID ones as "Your
/// identity", then each API by name in catalog order, each scope in plain words and
/// marked when `granted` already holds it.
pub(crate) fn groups<'a>(
    catalog: &'a crate::catalog::Snapshot,
    scopes: &'a [String],
    granted: &[String],
) -> Vec<ScopeGroup<'a>> {
    let view = |s: &'a String| ScopeView {
        name: s,
        description: catalog.describe(s).unwrap_or(s),
        already: granted.contains(s),
    };
    let mut out = Vec::new();
    let identity: Vec<_> = scopes
        .iter()
        .filter(|s| crate::catalog::OPENID.contains(&s.as_str()))
        .map(view)
        .collect();
    if !identity.is_empty() {
        out.push(ScopeGroup {
            title: "Your identity",
            scopes: identity,
        });
    }
    for api in catalog.apis() {
        let of_api: Vec<_> = scopes
            .iter()
            .filter(|s| api.has_scope(s))
            .map(view)
            .collect();
        if !of_api.is_empty() {
            out.push(ScopeGroup {
                title: &api.name,
                scopes: of_api,
            });
        }
    }
    // A scope of no API (removed from the catalog meanwhile) is still shown, never hidden.
    let other: Vec<_> = scopes
        .iter()
        .filter(|s| !crate::catalog::OPENID.contains(&s.as_str()) && catalog.api_of(s).is_none())
        .map(view)
        .collect();
    if !other.is_empty() {
        out.push(ScopeGroup {
            title: "Other access",
            scopes: other,
        });
    }
    out
}

/// The consent page for `r`: a pending entry in the session binds its answer to this
/// request. It says who registered the app and, for an app a user registered that no admin
/// verified, that it is unverified: anyone who signs up can name an app anything.
pub(super) async fn show(
    state: &AppState,
    session: &Session,
    r: &AuthorizeRequest,
    user: &CurrentUser,
    granted: &[String],
    now: i64,
) -> Result<HttpResponse, HtmlError> {
    let token = crypto::random_base62(32);
    let mut pending: Vec<Pending> = session.get(PENDING).ok().flatten().unwrap_or_default();
    pending.retain(|p| now - p.issued_at <= PENDING_MAX_AGE_SECS);
    pending.push(Pending {
        token: token.clone(),
        digest: digest_params(&r.params),
        issued_at: now,
    });
    if pending.len() > MAX_PENDING {
        pending.drain(..pending.len() - MAX_PENDING);
    }
    session
        .insert(PENDING, &pending)
        .map_err(|e| HtmlError::internal(anyhow::anyhow!("session: {e}")))?;
    let logout_csrf = session::csrf_token(session)?;
    let host = Url::parse(&r.redirect_uri)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_else(|| r.redirect_uri.clone());
    let hidden: Vec<(&str, &str)> = r
        .params
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let catalog = state.catalog.get();
    let groups = groups(&catalog, &r.scopes, granted);
    let trust = clients::trust(&state.db, &state.rows, &r.client).await?;
    let registered_by = match (trust.by, trust.verified) {
        (RegisteredBy::Operator, _) => "the operator of this service",
        (RegisteredBy::Admin, _) => "an administrator of this service",
        (RegisteredBy::User, true) => "a Latch user, verified by this service",
        (RegisteredBy::User, false) => "a Latch user",
        (RegisteredBy::Registration, true) => {
            "an outside party (dynamic registration), verified by this service"
        }
        (RegisteredBy::Registration, false) => "an outside party (dynamic registration)",
    };
    // A client ID metadata document client: the host that published it is who it is.
    let document_by = r.client.metadata_document_url.as_deref().map(|u| {
        let host = Url::parse(u)
            .ok()
            .and_then(|u| u.host_str().map(str::to_owned))
            .unwrap_or_default();
        format!("its own metadata document at {host}, not by this service")
    });
    let registered_by = document_by.as_deref().unwrap_or(registered_by);
    let homepage = r.client.client_uri.as_deref().and_then(|u| {
        let host = Url::parse(u).ok()?.host_str()?.to_owned();
        Some((u, host))
    });
    let logo_url = match r.client.logo_uri {
        Some(_) => store::client_logos::by_client(&state.db, &r.client.id)
            .await?
            .map(|l| clients::logo::path(&l)),
        None => None,
    };
    let mut res = consent_page(&ConsentView {
        csrf: &token,
        logout_csrf: &logout_csrf,
        client_name: &r.client.name,
        client_id: clients::public_id(&r.client),
        user_email: &user.user.email,
        groups,
        redirect_host: &host,
        livemode: r.client.livemode,
        hidden,
        registered_by,
        verified: trust.verified,
        homepage: homepage.as_ref().map(|(u, h)| (*u, h.as_str())),
        policy_uri: r.client.policy_uri.as_deref(),
        tos_uri: r.client.tos_uri.as_deref(),
        logo_url: logo_url.as_deref(),
    });
    res.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    // The form's answer is a redirect to the client: `form-action` must allow its origin.
    if let Ok(v) = header::HeaderValue::from_str(&csp::with_redirect(&r.redirect_uri)) {
        res.headers_mut().insert(header::CONTENT_SECURITY_POLICY, v);
    }
    Ok(res)
}

/// The consent form's answer: the pending request must be the one shown, in this session,
/// answered once (RFC 6749 §10.12).
pub(super) async fn decide(
    state: &AppState,
    session: &Session,
    req: &actix_web::HttpRequest,
    params: Params,
) -> Result<HttpResponse, HtmlError> {
    let token = params
        .iter()
        .find(|(k, _)| k == "csrf")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    let decision = params
        .iter()
        .find(|(k, _)| k == "decision")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    let request_params: Params = params
        .into_iter()
        .filter(|(k, _)| k != "csrf" && k != "decision")
        .collect();
    let mut pending: Vec<Pending> = session.get(PENDING).ok().flatten().unwrap_or_default();
    let digest = digest_params(&request_params);
    let now = state.clock.now().timestamp();
    let Some(pos) = pending.iter().position(|p| {
        crypto::constant_time_eq(p.token.as_bytes(), token.as_bytes())
            && p.digest == digest
            && now - p.issued_at <= PENDING_MAX_AGE_SECS
    }) else {
        return Err(HtmlError::forbidden(ANSWERED));
    };
    pending.remove(pos);
    session
        .insert(PENDING, &pending)
        .map_err(|e| HtmlError::internal(anyhow::anyhow!("session: {e}")))?;

    let r = match request::parse(state, request_params).await {
        Ok(r) => r,
        Err(rej) => return rejected(state, session, rej).await,
    };
    let Some(user) = session::current_user(state, session).await? else {
        let prompt_login = r.prompt.iter().any(|p| p == "login");
        return login_redirect(session, &r.params, prompt_login.then_some(now));
    };
    match decision.as_str() {
        "allow" => {
            // The code row is written first: its id claims this answer, so a replay gets
            // 403 and records nothing; the code is delivered only once consent is stored.
            let code = match store_code(state, &r, &user, consent_code_id(&token)).await {
                Ok(code) => code,
                Err(StoreError::Conflict(_)) => return Err(HtmlError::forbidden(ANSWERED)),
                Err(_) => return unavailable(state, &r),
            };
            // Consent is per scope: what was granted before stays granted (the union).
            let Ok(mut granted) = remembered(state, &r.client.id, &user).await else {
                return unavailable(state, &r);
            };
            for s in &r.scopes {
                if !granted.contains(s) {
                    granted.push(s.clone());
                }
            }
            if store::consents::grant(
                &state.db,
                &user.user.id,
                &r.client.id,
                &granted.join(" "),
                state.clock.now(),
            )
            .await
            .is_err()
            {
                return unavailable(state, &r);
            }
            let _ = Event::new(AuditKind::ConsentGranted)
                .user(&user.user.id)
                .actor(Some(&r.client.id))
                .client_ip(crate::middleware::ClientIp::of(req))
                .user_agent_of(req)
                .detail(serde_json::json!({"client_id": r.client.id, "client_name": r.client.name, "scope": r.scope()}))
                .record(&state.db)
                .await;
            code_to_client(state, &r, &code)
        }
        // RFC 6749 §4.1.2.1: the resource owner denied the request.
        _ => error_to_client(
            state,
            &r,
            OAuthCode::AccessDenied,
            "The user denied the request",
        ),
    }
}
