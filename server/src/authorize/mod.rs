//! `GET/POST /oauth/authorize`: RFC 6749 §4.1 with PKCE (RFC 7636), the `iss` response
//! parameter (RFC 9207) and sign-in; the consent page and its answer are [`consent`].
//!
//! A POST carrying `decision` is the consent form's answer; any other POST is an
//! authorization request sent as a form (OIDC Core §3.1.2.1).

pub mod consent;
pub mod csp;
pub mod fresh_login;
pub mod pkce;
pub mod pushed;
pub mod request;
pub mod verified;

use actix_session::Session;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use url::Url;

use crate::crypto;
use crate::errors::{HtmlError, OAuthCode, StoreError};
use crate::pages::untrusted_redirect_page;
use crate::session::{self, CurrentUser};
use crate::state::AppState;
use crate::store;
use request::{AuthorizeRequest, Params, Rejection};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/oauth/authorize", web::get().to(get_authorize))
        .route("/oauth/authorize", web::post().to(post_authorize));
}

fn parse_pairs(raw: &[u8]) -> Params {
    url::form_urlencoded::parse(raw)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// Per-IP limit on the authorization endpoint (a friendly 429 page).
async fn limit_ip(state: &AppState, req: &HttpRequest) -> Result<(), HtmlError> {
    let Some(ip) = crate::middleware::ClientIp::limit_key(req) else {
        return Ok(());
    };
    let policy = crate::rate_limit::Policy::AuthorizeIp;
    crate::rate_limit::enforce(&state.limiter, &state.db, req, policy, &ip).await?;
    Ok(())
}

async fn get_authorize(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
) -> Result<HttpResponse, HtmlError> {
    limit_ip(&state, &req).await?;
    authorize(&state, &session, parse_pairs(req.query_string().as_bytes())).await
}

async fn post_authorize(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    body: web::Bytes,
) -> Result<HttpResponse, HtmlError> {
    limit_ip(&state, &req).await?;
    let is_form = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if !is_form {
        return Err(HtmlError::bad_request(
            "The request body must be application/x-www-form-urlencoded.",
        ));
    }
    let params = parse_pairs(&body);
    if params.iter().any(|(k, _)| k == "decision") {
        session::check_origin(&req, &state)?;
        return consent::decide(&state, &session, &req, params).await;
    }
    authorize(&state, &session, params).await
}

/// Where the browser goes to sign in, and comes back to afterwards. Every parameter of the
/// request comes back (`prompt` too, so `prompt=login` cannot be dropped on the way). With
/// `fresh_after`, the session records that this request needs a sign-in made at or after
/// that time, and the way back names the record (`login_after`, see [`fresh_login`]).
fn login_redirect(
    session: &Session,
    params: &Params,
    fresh_after: Option<i64>,
) -> Result<HttpResponse, HtmlError> {
    let mut kept: Params = params
        .iter()
        .filter(|(k, _)| k != fresh_login::PARAM)
        .cloned()
        .collect();
    if let Some(t) = fresh_after {
        let handle = fresh_login::demand(session, &kept, t)?;
        kept.push((fresh_login::PARAM.to_owned(), handle));
    }
    let back = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(&kept)
        .finish();
    let next = format!("/oauth/authorize?{back}");
    let location = format!(
        "/login?next={}",
        url::form_urlencoded::byte_serialize(next.as_bytes()).collect::<String>()
    );
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish())
}

/// The authorization response URL: the redirect URI with response parameters, `state` and
/// `iss` (RFC 9207 §2) added to its query (RFC 6749 §4.1.2: query, keeping the registered one).
fn client_response_url(
    state: &AppState,
    redirect_uri: &str,
    params: &[(&str, &str)],
    client_state: Option<&str>,
) -> Result<Url, HtmlError> {
    let mut url = Url::parse(redirect_uri).map_err(|e| {
        HtmlError::internal(anyhow::anyhow!(
            "registered redirect URI does not parse: {e}"
        ))
    })?;
    {
        let mut q = url.query_pairs_mut();
        for (k, v) in params {
            q.append_pair(k, v);
        }
        if let Some(s) = client_state {
            q.append_pair("state", s);
        }
        q.append_pair("iss", &state.settings.issuer);
    }
    Ok(url)
}

/// A redirect back to the client with response parameters, `state` and `iss` (RFC 9207 §2).
fn redirect_to_client(
    state: &AppState,
    redirect_uri: &str,
    params: &[(&str, &str)],
    client_state: Option<&str>,
) -> Result<HttpResponse, HtmlError> {
    let url = client_response_url(state, redirect_uri, params, client_state)?;
    // RFC 9700 §4.12: 303 after a POST; `no-store` because the URL may carry a code.
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, url.as_str()))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"))
        .finish())
}

fn error_to_client(
    state: &AppState,
    r: &AuthorizeRequest,
    code: OAuthCode,
    description: &str,
) -> Result<HttpResponse, HtmlError> {
    redirect_to_client(
        state,
        &r.redirect_uri,
        &[("error", code.as_str()), ("error_description", description)],
        r.state.as_deref(),
    )
}

/// RFC 9700 §4.11.2: the AS "MUST only automatically redirect the user agent if it trusts
/// the redirection URI". Redirect URIs of clients with no owner were registered by the
/// operator (CLI, admin API) and of clients owned by an admin by someone the operator
/// trusts; a client any user registered for themselves could otherwise turn
/// `/oauth/authorize` into an open redirector (a link with a bad `response_type` sends
/// whoever follows it to the client's URI). Those are trusted only for a person signed in
/// here, who is in the flow by choice; before that, errors are shown as a page with a link
/// the person may follow. An owner that cannot be read counts as untrusted (fail closed).
async fn owner_trusted(state: &AppState, client: &entity::client::Model) -> bool {
    let Some(owner) = client.owner_id.as_deref() else {
        return true;
    };
    matches!(store::users::by_id(&state.db, owner).await, Ok(Some(u)) if u.is_admin)
}

/// Where an error response goes: the verified client and redirect URI, and `state`.
struct ErrorTo<'a> {
    client: &'a entity::client::Model,
    redirect_uri: &'a str,
    state: Option<&'a str>,
}

impl<'a> ErrorTo<'a> {
    fn of(r: &'a AuthorizeRequest) -> Self {
        ErrorTo {
            client: &r.client,
            redirect_uri: &r.redirect_uri,
            state: r.state.as_deref(),
        }
    }
}

/// An error response for the client when the person may not be signed in (`signed_out`:
/// known not to be): a redirect to a trusted redirect URI, else the error page described
/// at [`owner_trusted`].
async fn error_before_sign_in(
    state: &AppState,
    session: &Session,
    to: ErrorTo<'_>,
    code: OAuthCode,
    description: &str,
    signed_out: bool,
) -> Result<HttpResponse, HtmlError> {
    let ErrorTo {
        client,
        redirect_uri,
        state: client_state,
    } = to;
    let params = [("error", code.as_str()), ("error_description", description)];
    if owner_trusted(state, client).await
        || (!signed_out && matches!(session::current_user(state, session).await, Ok(Some(_))))
    {
        return redirect_to_client(state, redirect_uri, &params, client_state);
    }
    let url = client_response_url(state, redirect_uri, &params, client_state)?;
    let status = match code {
        OAuthCode::TemporarilyUnavailable => actix_web::http::StatusCode::SERVICE_UNAVAILABLE,
        _ => actix_web::http::StatusCode::BAD_REQUEST,
    };
    Ok(untrusted_redirect_page(
        status,
        &client.name,
        &redirect_label(url.as_str()),
        description,
        url.as_str(),
    ))
}

/// How a redirect URI is named to the person: its host, or its scheme for an app's own
/// scheme (RFC 8252 §7.1).
fn redirect_label(redirect_uri: &str) -> String {
    match Url::parse(redirect_uri) {
        Ok(u) => u
            .host_str()
            .map(str::to_owned)
            .unwrap_or_else(|| format!("{}:", u.scheme())),
        Err(_) => redirect_uri.to_owned(),
    }
}

async fn rejected(
    state: &AppState,
    session: &Session,
    rejection: Rejection,
) -> Result<HttpResponse, HtmlError> {
    match rejection {
        Rejection::Page(e) => Err(e),
        Rejection::Redirect {
            client,
            redirect_uri,
            state: s,
            code,
            description,
        } => {
            let to = ErrorTo {
                client: &client,
                redirect_uri: &redirect_uri,
                state: s.as_deref(),
            };
            error_before_sign_in(state, session, to, code, &description, false).await
        }
    }
}

/// Whether this session's sign-in is too old for the request: older than the sign-in Latch
/// asked for (`fresh_after`, from [`fresh_login::take`]), or than `max_age` allows (OIDC
/// Core §3.1.2.1).
fn needs_fresh_login(
    r: &AuthorizeRequest,
    user: &CurrentUser,
    fresh_after: Option<i64>,
    now: i64,
) -> bool {
    fresh_after.is_some_and(|t| user.auth_time < t)
        || r.max_age.is_some_and(|m| now - user.auth_time > m)
}

async fn authorize(
    state: &AppState,
    session: &Session,
    params: Params,
) -> Result<HttpResponse, HtmlError> {
    let resolved = match pushed::resolve(state, session, params).await {
        Ok(p) => p,
        Err(rej) => return rejected(state, session, rej).await,
    };
    let r = match request::parse(state, resolved.params).await {
        Ok(r) => r,
        Err(rej) => return rejected(state, session, rej).await,
    };
    // RFC 9126 §5: a client (or, with LATCH_REQUIRE_PAR, every client) that must push its
    // requests gets an error for any other; client and redirect URI are verified by now.
    if !resolved.pushed && (r.client.require_par || state.settings.require_par) {
        return error_before_sign_in(
            state,
            session,
            ErrorTo::of(&r),
            OAuthCode::InvalidRequest,
            "This application must send its authorization requests to the pushed authorization request endpoint first",
            false,
        )
        .await;
    }
    let prompt_none = r.prompt.iter().any(|p| p == "none");
    let prompt_login = r.prompt.iter().any(|p| p == "login");
    let now = state.clock.now().timestamp();
    let user = match session::current_user(state, session).await {
        Ok(u) => u,
        Err(e) if e.status.is_server_error() => {
            // Whether the person is signed in cannot be told: only a trusted redirect URI.
            return error_before_sign_in(
                state,
                session,
                ErrorTo::of(&r),
                OAuthCode::TemporarilyUnavailable,
                "The service is temporarily unavailable",
                true,
            )
            .await;
        }
        Err(e) => return Err(e),
    };
    let Some(user) = user else {
        if prompt_none {
            return error_before_sign_in(
                state,
                session,
                ErrorTo::of(&r),
                OAuthCode::LoginRequired,
                "The user is not signed in",
                true,
            )
            .await;
        }
        // The sign-in about to happen is the fresh one `prompt=login` asks for.
        return login_redirect(session, &r.params, prompt_login.then_some(now));
    };
    // Only a record this session holds for this very request, used once, says the person
    // signed in again for it (see `fresh_login`).
    let fresh_after = fresh_login::take(session, &r.params, now)?;
    if prompt_login && fresh_after.is_none() {
        // Ask for the password again, and accept only a sign-in made after this moment.
        return login_redirect(session, &r.params, Some(now));
    }
    if needs_fresh_login(&r, &user, fresh_after, now) {
        if prompt_none {
            return error_to_client(
                state,
                &r,
                OAuthCode::LoginRequired,
                "A fresh sign-in is required",
            );
        }
        return login_redirect(session, &r.params, Some(now));
    }

    // LATCH_REQUIRE_VERIFIED_EMAIL: no sign-in to an app before the address is proven.
    if state.settings.require_verified_email && user.user.email_verified_at.is_none() {
        if prompt_none {
            // OIDC Core §3.1.2.6: the person must act (verify) before this can succeed.
            return error_to_client(
                state,
                &r,
                OAuthCode::InteractionRequired,
                "The account's email address is not verified",
            );
        }
        return verified::page(session, &r.params, &r.client.name, &user.user.email);
    }

    let granted = match consent::remembered(state, &r.client.id, &user).await {
        Ok(g) => g,
        Err(_) => {
            return error_to_client(
                state,
                &r,
                OAuthCode::TemporarilyUnavailable,
                "The service is temporarily unavailable",
            );
        }
    };
    let force_consent = r.prompt.iter().any(|p| p == "consent");
    if r.client.first_party || (consent::covers(&granted, &r) && !force_consent) {
        return issue_code(state, &r, &user).await;
    }
    if prompt_none {
        return error_to_client(
            state,
            &r,
            OAuthCode::ConsentRequired,
            "The user has not consented to this application",
        );
    }
    consent::show(state, session, &r, &user, &granted, now).await
}

/// A digest of a request's parameters (not the consent form's own), binding a consent
/// answer or a `prompt=login` record to the request it was made for.
fn digest_params(params: &Params) -> String {
    let mut sorted: Vec<_> = params
        .iter()
        .filter(|(k, _)| k != "csrf" && k != "decision")
        .collect();
    sorted.sort();
    let mut s = String::new();
    for (k, v) in sorted {
        s.push_str(&format!("{}={}&", k.len(), k));
        s.push_str(&format!("{}={}&", v.len(), v));
    }
    crypto::sha256_hex(&s)
}

fn unavailable(state: &AppState, r: &AuthorizeRequest) -> Result<HttpResponse, HtmlError> {
    error_to_client(
        state,
        r,
        OAuthCode::TemporarilyUnavailable,
        "The service is temporarily unavailable",
    )
}

fn code_to_client(
    state: &AppState,
    r: &AuthorizeRequest,
    code: &str,
) -> Result<HttpResponse, HtmlError> {
    redirect_to_client(
        state,
        &r.redirect_uri,
        &[("code", code)],
        r.state.as_deref(),
    )
}

async fn issue_code(
    state: &AppState,
    r: &AuthorizeRequest,
    user: &CurrentUser,
) -> Result<HttpResponse, HtmlError> {
    match store_code(state, r, user, crypto::new_id("code")).await {
        Ok(code) => code_to_client(state, r, &code),
        Err(_) => unavailable(state, r),
    }
}

/// Store a new code for the request under the row id `id`; returns the code to deliver.
async fn store_code(
    state: &AppState,
    r: &AuthorizeRequest,
    user: &CurrentUser,
    id: String,
) -> Result<String, StoreError> {
    let code = crypto::mint_secret("ac_");
    let now = state.clock.now();
    let ttl = state.settings.code_ttl;
    let row = entity::authorization_code::Model {
        id,
        code_hash: crypto::sha256_hex(&code),
        client_id: r.client.id.clone(),
        user_id: user.user.id.clone(),
        redirect_uri: r.redirect_uri.clone(),
        redirect_uri_sent: r.redirect_uri_sent,
        scope: r.scope(),
        code_challenge: r.code_challenge.clone(),
        code_challenge_method: r.code_challenge_method.clone(),
        nonce: r.nonce.clone(),
        auth_time: chrono::DateTime::from_timestamp(user.auth_time, 0).unwrap_or(now),
        created_at: now,
        expires_at: now + ttl,
        consumed_at: None,
        family_id: None,
        access_token_jti: None,
        access_token_expires_at: None,
        // OIDC Core §2: how the person signed in, for the ID tokens of this grant.
        amr: Some(user.amr.join(" ")),
        dpop_jkt: r.dpop_jkt.clone(),
        // OIDC Back-Channel Logout §2.1: the session's public `sid`, for the ID tokens of
        // this grant and to know that this app had the session.
        sid: Some(crate::backchannel::public_sid(&user.sid)),
    };
    store::codes::insert(&state.db, row).await?;
    Ok(code)
}
