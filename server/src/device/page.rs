//! `/device` (RFC 8628 §3.3): the person enters the user code, signs in if needed, sees
//! which app asks for what (with a warning about codes received from someone else, §5.4)
//! and approves or denies.
//!
//! - `GET /device[?user_code=…]`: sign-in first (then back here), then the code form,
//!   prefilled from `verification_uri_complete`: the person still confirms it.
//! - `POST /device` (`csrf`, `user_code`): rate limited per IP and per session (§5.1;
//!   `LATCH_LIMIT_DEVICE_CODE`); a wrong code says so; a right one shows the consent screen
//!   and remembers, in the session, which authorization it is for.
//! - `POST /device/decision` (`csrf`, `decision`): answers the authorization remembered
//!   in this session, once (the row is decided by one conditional update).

use actix_session::Session;
use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use serde_json::json;
use url::Url;

use super::user_code;
use crate::audit::{AuditKind, Event};
use crate::clients::{self, RegisteredBy};
use crate::errors::HtmlError;
use crate::middleware::ClientIp;
use crate::pages::{DeviceConsentView, DeviceEntryView, device_consent_page, device_entry_page};
use crate::session::{self, CurrentUser};
use crate::state::AppState;
use crate::store;
use crate::store::words;

/// The authorization whose code was entered in this session, awaiting the decision.
const PENDING: &str = "device_pending";

const WRONG_CODE: &str = "That code is not valid or has expired. Check the code on your device and try again; if it keeps failing, start again on the device.";

#[derive(Serialize, Deserialize)]
struct Pending {
    id: String,
    user_code: String,
}

#[derive(Deserialize)]
pub struct CodeQuery {
    user_code: Option<String>,
}

#[derive(Deserialize)]
pub struct CodeForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    user_code: String,
}

#[derive(Deserialize)]
pub struct DecisionForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    decision: String,
    /// The code the consent screen showed: it must be the one pending in this session (a
    /// code entered since in another tab replaces it, and this answer must not go to that).
    #[serde(default)]
    user_code: String,
}

/// To sign-in, then back to `/device` with the code (if it was a well-formed one).
fn sign_in_first(code: Option<&str>) -> HttpResponse {
    let next = match code {
        Some(c) => format!("/device?user_code={}", user_code::display(c)),
        None => "/device".to_owned(),
    };
    HttpResponse::SeeOther()
        .insert_header((
            header::LOCATION,
            format!(
                "/login?next={}",
                url::form_urlencoded::byte_serialize(next.as_bytes()).collect::<String>()
            ),
        ))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish()
}

fn entry(
    status: StatusCode,
    csrf: &str,
    code: Option<&str>,
    error: Option<&str>,
    user: &CurrentUser,
) -> HttpResponse {
    let shown = code.map(user_code::display).unwrap_or_default();
    device_entry_page(
        status,
        &DeviceEntryView {
            csrf,
            code: &shown,
            error,
            user_email: &user.user.email,
        },
    )
}

pub async fn get(
    state: web::Data<AppState>,
    session: Session,
    q: web::Query<CodeQuery>,
) -> Result<HttpResponse, HtmlError> {
    let code = q.user_code.as_deref().and_then(user_code::normalize);
    let Some(user) = session::current_user(&state, &session).await? else {
        return Ok(sign_in_first(code.as_deref()));
    };
    let csrf = session::csrf_token(&session)?;
    Ok(entry(StatusCode::OK, &csrf, code.as_deref(), None, &user))
}

/// RFC 8628 §5.1: each code entered costs a token from the IP's bucket and the session's.
async fn limit(state: &AppState, req: &HttpRequest, csrf: &str) -> Result<(), HtmlError> {
    let policy = crate::rate_limit::Policy::DeviceCode;
    if let Some(ip) = ClientIp::limit_key(req) {
        crate::rate_limit::enforce(&state.limiter, &state.db, req, policy, &format!("ip:{ip}"))
            .await?;
    }
    // The session is known by its CSRF token (already verified): a digest, so the key in
    // Redis reveals nothing.
    let session_key = format!("session:{}", &crate::crypto::sha256_hex(csrf)[..32]);
    crate::rate_limit::enforce(&state.limiter, &state.db, req, policy, &session_key).await?;
    Ok(())
}

pub async fn enter(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    form: web::Form<CodeForm>,
) -> Result<HttpResponse, HtmlError> {
    session::check_origin(&req, &state)?;
    session::verify_csrf(&session, &form.csrf)?;
    let Some(user) = session::current_user(&state, &session).await? else {
        return Ok(sign_in_first(
            user_code::normalize(&form.user_code).as_deref(),
        ));
    };
    limit(&state, &req, &form.csrf).await?;
    let now = state.clock.now();
    let found = match user_code::normalize(&form.user_code) {
        Some(code) => store::device_codes::pending_by_user_code(&state.db, &code, now).await?,
        None => None,
    };
    let client = match &found {
        Some(row) => store::clients::by_id_cached(&state.db, &state.rows, &row.client_id).await?,
        None => None,
    };
    let (Some(row), Some(client)) = (found, client) else {
        let _ = Event::new(AuditKind::DeviceCodeRejected)
            .user(&user.user.id)
            .client_ip(ClientIp::of(&req))
            .record(&state.db)
            .await;
        let typed: String = form.user_code.chars().take(20).collect();
        return Ok(device_entry_page(
            StatusCode::BAD_REQUEST,
            &DeviceEntryView {
                csrf: &form.csrf,
                code: &typed,
                error: Some(WRONG_CODE),
                user_email: &user.user.email,
            },
        ));
    };
    if !clients::may_act(&state.db, &state.rows, &client).await? {
        return Ok(entry(
            StatusCode::BAD_REQUEST,
            &form.csrf,
            None,
            Some(WRONG_CODE),
            &user,
        ));
    }
    session
        .insert(
            PENDING,
            Pending {
                id: row.id.clone(),
                user_code: row.user_code.clone(),
            },
        )
        .map_err(|e| HtmlError::internal(anyhow::anyhow!("session: {e}")))?;

    let granted = match store::consents::find(&state.db, &user.user.id, &client.id).await? {
        Some(c) if c.revoked_at.is_none() => words(&c.scope).map(str::to_owned).collect(),
        _ => Vec::new(),
    };
    let scopes: Vec<String> = words(&row.scope).map(str::to_owned).collect();
    let catalog = state.catalog.get();
    let groups = crate::authorize::consent::groups(&catalog, &scopes, &granted);
    let trust = clients::trust(&state.db, &state.rows, &client).await?;
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
    let homepage = client.client_uri.as_deref().and_then(|u| {
        let host = Url::parse(u).ok()?.host_str()?.to_owned();
        Some((u, host))
    });
    let logo_url = match client.logo_uri {
        Some(_) => store::client_logos::by_client(&state.db, &client.id)
            .await?
            .map(|l| clients::logo::path(&l)),
        None => None,
    };
    let shown = user_code::display(&row.user_code);
    let spelled = row
        .user_code
        .chars()
        .map(String::from)
        .collect::<Vec<_>>()
        .join(" ");
    Ok(device_consent_page(&DeviceConsentView {
        csrf: &form.csrf,
        client_name: &client.name,
        client_id: &client.id,
        user_email: &user.user.email,
        user_code: &shown,
        user_code_spelled: &spelled,
        groups,
        livemode: client.livemode,
        registered_by,
        verified: trust.verified,
        homepage: homepage.as_ref().map(|(u, h)| (*u, h.as_str())),
        logo_url: logo_url.as_deref(),
    }))
}

pub async fn decide(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    form: web::Form<DecisionForm>,
) -> Result<HttpResponse, HtmlError> {
    session::check_origin(&req, &state)?;
    session::verify_csrf(&session, &form.csrf)?;
    let Some(user) = session::current_user(&state, &session).await? else {
        return Ok(sign_in_first(None));
    };
    let approve = match form.decision.as_str() {
        "allow" => true,
        "deny" => false,
        _ => return Err(HtmlError::bad_request("Choose Allow or Deny.")),
    };
    let expired = || {
        crate::pages::message_page(
            StatusCode::BAD_REQUEST,
            "This request has expired",
            "This code was already answered or has expired. Start again on your device.",
            Some(("/device", "Enter another code")),
        )
    };
    // Single use: the pending entry leaves the session now, and the row is decided once.
    let Some(pending) = session
        .remove_as::<Pending>(PENDING)
        .and_then(Result::ok)
        .filter(|p| user_code::normalize(&form.user_code).as_deref() == Some(&p.user_code))
    else {
        return Ok(expired());
    };
    let now = state.clock.now();
    let Some(row) = store::device_codes::pending_by_user_code(&state.db, &pending.user_code, now)
        .await?
        .filter(|r| r.id == pending.id)
    else {
        return Ok(expired());
    };
    let auth_time = chrono::DateTime::from_timestamp(user.auth_time, 0).unwrap_or(now);
    // The decision and the remembered consent commit together.
    let txn = store::begin_write(&state.db).await?;
    if !store::device_codes::decide(&*txn, &row.id, &user.user.id, auth_time, approve, now).await? {
        txn.rollback().await.map_err(store::StoreError::from)?;
        return Ok(expired());
    }
    if approve {
        // How they signed in, for the ID token's `amr` (as the code flow carries it).
        store::device_codes::set_amr(&*txn, &row.id, &user.amr.join(" ")).await?;
        // Remembered like a consent on the authorization endpoint (the dashboard lists it;
        // revoking it ends the refresh tokens): the union with what was granted before.
        let mut scope: Vec<String> =
            match store::consents::find(&*txn, &user.user.id, &row.client_id).await? {
                Some(c) if c.revoked_at.is_none() => words(&c.scope).map(str::to_owned).collect(),
                _ => Vec::new(),
            };
        for s in words(&row.scope) {
            if !scope.iter().any(|x| x == s) {
                scope.push(s.to_owned());
            }
        }
        store::consents::grant(&*txn, &user.user.id, &row.client_id, &scope.join(" "), now).await?;
    }
    txn.commit().await.map_err(store::StoreError::from)?;
    let kind = if approve {
        AuditKind::DeviceApproved
    } else {
        AuditKind::DeviceDenied
    };
    let _ = Event::new(kind)
        .user(&user.user.id)
        .actor(Some(&row.client_id))
        .client_ip(ClientIp::of(&req))
        .detail(json!({"client_id": row.client_id, "scope": row.scope}))
        .record(&state.db)
        .await;
    Ok(if approve {
        crate::pages::message_page(
            StatusCode::OK,
            "Device connected",
            "You're all set. Go back to your device: it will continue on its own in a few seconds. You can close this page.",
            None,
        )
    } else {
        crate::pages::message_page(
            StatusCode::OK,
            "Request denied",
            "The device was not given access to your account. If you did not start this, nothing else is needed.",
            None,
        )
    })
}
