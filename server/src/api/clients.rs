//! `/v1/clients`: the caller's OAuth apps: list, create, retrieve, update, rotate secret,
//! delete. Mode follows the credential: test keys see and create test clients only.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::json;

use super::auth::{Action, Principal};
use super::params::Params;
use super::{ListQuery, idempotency, list_response};
use crate::audit::AuditKind;
use crate::clients::{self, ClientUpdate, Metadata, NewClient};
use crate::errors::ApiError;
use crate::state::AppState;
use crate::store;
use crate::store::words;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/clients", web::get().to(list_clients))
        .route("/clients", web::post().to(create))
        .route("/clients/{id}", web::get().to(retrieve))
        .route("/clients/{id}", web::post().to(update))
        .route("/clients/{id}", web::delete().to(delete))
        .route("/clients/{id}/rotate_secret", web::post().to(rotate_secret))
        .route("/clients/{id}/disable", web::post().to(disable))
        .route("/clients/{id}/enable", web::post().to(enable));
}

const RESOURCE: &str = "clients";

pub fn client_object(c: &entity::client::Model) -> serde_json::Value {
    json!({
        "id": c.id,
        "object": "client",
        "name": c.name,
        "redirect_uris": words(&c.redirect_uris).collect::<Vec<_>>(),
        "grant_types": words(&c.grant_types).collect::<Vec<_>>(),
        "scopes": words(&c.scopes).collect::<Vec<_>>(),
        "public": c.is_public,
        "resource_server": c.resource_server,
        "token_endpoint_auth_method": c.token_endpoint_auth_method,
        "livemode": c.livemode,
        "disabled": c.disabled_at.is_some(),
        "secret_last4": c.secret_last4,
        "previous_secret_expires": c.previous_secret_expires_at.map(|t| t.timestamp()),
        "logo_uri": c.logo_uri,
        "client_uri": c.client_uri,
        "policy_uri": c.policy_uri,
        "tos_uri": c.tos_uri,
        "token_exchange_audiences": words(&c.token_exchange_audiences).collect::<Vec<_>>(),
        "require_pushed_authorization_requests": c.require_par,
        "jwks": c.jwks.as_deref().and_then(|j| serde_json::from_str::<serde_json::Value>(j).ok()),
        "jwks_uri": c.jwks_uri,
        "allowed_origins": clients::origins::of(c),
        "dpop_bound_access_tokens": c.dpop_bound_access_tokens,
        "dpop_require_nonce": c.dpop_require_nonce,
        "introspection_signed_response_alg": c.introspection_signed_response_alg,
        // OIDC RP-Initiated Logout §3.1, Back-Channel Logout §2.2.
        "post_logout_redirect_uris": clients::logout::post_logout_uris(c),
        "backchannel_logout_uri": c.backchannel_logout_uri,
        "backchannel_logout_session_required": c.backchannel_logout_session_required,
        "created": c.created_at.timestamp(),
        "updated": c.updated_at.timestamp(),
    })
}

/// RFC 9701 §6 `introspection_signed_response_alg`: `None` when not sent, `Some(None)` to
/// clear it (an empty value), else one of the algorithms Latch signs introspection responses
/// with (`introspect::signing_algs`).
fn introspection_alg(
    state: &AppState,
    params: &Params,
) -> Result<Option<Option<String>>, ApiError> {
    let Some(alg) = params.one("introspection_signed_response_alg")? else {
        return Ok(None);
    };
    if alg.is_empty() {
        return Ok(Some(None));
    }
    let algs = crate::introspect::signing_algs(state);
    if !algs.contains(&alg) {
        return Err(ApiError::invalid_request(
            "parameter_invalid",
            format!(
                "introspection_signed_response_alg must be one of {}",
                algs.join(", ")
            ),
        )
        .with_param("introspection_signed_response_alg"));
    }
    Ok(Some(Some(alg.to_owned())))
}

/// What an audit event says about a client (never its secret).
fn detail(c: &entity::client::Model) -> serde_json::Value {
    json!({"client_id": c.id, "name": c.name, "livemode": c.livemode, "via": "api"})
}

async fn owned(
    state: &AppState,
    p: &Principal,
    id: &str,
) -> Result<entity::client::Model, ApiError> {
    let not_found = || {
        ApiError::not_found(format!(
            "No such client: '{}'",
            id.chars().take(64).collect::<String>()
        ))
        .with_param("id")
    };
    // Ids are `cl_` + base62: anything else (a NUL byte, say) is nobody's, without a query.
    if !crate::authorize::request::plausible_client_id(id) {
        return Err(not_found());
    }
    let c = store::clients::by_id(&state.db, id)
        .await?
        .ok_or_else(not_found)?;
    if !p.owns(c.owner_id.as_deref(), c.livemode) {
        return Err(not_found());
    }
    Ok(c)
}

async fn list_clients(
    state: web::Data<AppState>,
    p: Principal,
    q: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let user_id = p.allow(RESOURCE, Action::Read)?;
    let page = q.page()?;
    let rows = store::clients::page(
        &state.db,
        store::clients::Owner::User(user_id),
        Some(p.livemode),
        crate::cursor::fetch(page.limit),
        page.starting_after.as_deref(),
    )
    .await?;
    Ok(list_response(
        "/v1/clients",
        rows,
        page.limit,
        client_object,
    ))
}

async fn retrieve(
    state: web::Data<AppState>,
    p: Principal,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    p.allow(RESOURCE, Action::Read)?;
    Ok(HttpResponse::Ok().json(client_object(&owned(&state, &p, &id).await?)))
}

async fn create(
    req: HttpRequest,
    state: web::Data<AppState>,
    p: Principal,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let owner = p.allow(RESOURCE, Action::Manage)?.to_owned();
    let params = Params::parse(&req, &body)?;
    params.only(&[
        "name",
        "redirect_uris",
        "public",
        "grant_types",
        "scopes",
        "logo_uri",
        "client_uri",
        "policy_uri",
        "tos_uri",
        "resource_server",
        "token_exchange_audiences",
        "require_pushed_authorization_requests",
        "token_endpoint_auth_method",
        "jwks",
        "jwks_uri",
        "allowed_origins",
        "dpop_bound_access_tokens",
        "dpop_require_nonce",
        "introspection_signed_response_alg",
        "post_logout_redirect_uris",
        "backchannel_logout_uri",
        "backchannel_logout_session_required",
    ])?;
    // A resource server may introspect every token and key of the server: only an admin's
    // API key makes one (`Principal::allow_admin`).
    let resource_server = params.bool("resource_server")?.unwrap_or(false);
    if resource_server {
        p.allow_admin(&state.db, RESOURCE, Action::Manage).await?;
    }
    let audiences = params.list("token_exchange_audiences");
    if let Some(a) = &audiences {
        clients::check_exchange_audiences(&state.catalog.get(), a)?;
    }
    idempotency::run(&state, &p.owner(), &req, &body, || async {
        // RFC 9126 §6 and RFC 7591 §2 names; `jwks` is the JWK Set as JSON text.
        let protocol = clients::Protocol {
            require_par: params
                .bool("require_pushed_authorization_requests")?
                .unwrap_or(false),
            auth_method: params.one("token_endpoint_auth_method")?.map(str::to_owned),
            jwks: params.one("jwks")?.map(str::to_owned),
            jwks_uri: params.one("jwks_uri")?.map(str::to_owned),
        };
        let dpop_bound = params.bool("dpop_bound_access_tokens")?;
        let dpop_nonce = params.bool("dpop_require_nonce")?;
        let introspection_alg = introspection_alg(&state, &params)?;
        let logout = clients::logout::LogoutChange {
            post_logout_redirect_uris: params.list("post_logout_redirect_uris"),
            backchannel_logout_uri: params.one("backchannel_logout_uri")?.map(str::to_owned),
            backchannel_logout_session_required: params
                .bool("backchannel_logout_session_required")?,
        };
        logout.validate()?;
        let new = NewClient {
            name: params
                .one("name")?
                .ok_or_else(|| {
                    ApiError::invalid_request("parameter_missing", "name is required")
                        .with_param("name")
                })?
                .to_owned(),
            redirect_uris: params.list("redirect_uris").unwrap_or_default(),
            public: params.bool("public")?.unwrap_or(false),
            grant_types: params
                .list("grant_types")
                .unwrap_or_else(|| clients::default_grant_types_for(resource_server)),
            scopes: params
                .list("scopes")
                .unwrap_or_else(clients::default_scopes),
            livemode: p.livemode,
            first_party: false,
            resource_server,
            owner_id: Some(owner.clone()),
            metadata: Metadata {
                logo_uri: params.one("logo_uri")?.map(str::to_owned),
                client_uri: params.one("client_uri")?.map(str::to_owned),
                policy_uri: params.one("policy_uri")?.map(str::to_owned),
                tos_uri: params.one("tos_uri")?.map(str::to_owned),
            },
            allowed_origins: params.list("allowed_origins"),
        };
        let (mut c, secret) =
            clients::create_with(&state.db, &state.catalog.get(), &state.logos, new, protocol)
                .await?;
        if let Some(a) = &audiences {
            let catalog = state.catalog.get();
            c = clients::set_exchange_audiences(&state.db, &catalog, &state.rows, &c, a).await?;
        }
        // This instance answers preflights for the new origins at once.
        state.origins.reload(&state.db).await?;
        // RFC 9449 §5.2.
        let c = match dpop_bound {
            Some(b) => clients::set_dpop_bound(&state.db, &state.rows, &c, b).await?,
            None => c,
        };
        let c = match dpop_nonce {
            Some(b) => clients::set_dpop_require_nonce(&state.db, &state.rows, &c, b).await?,
            None => c,
        };
        let c = match introspection_alg {
            Some(a) => clients::set_introspection_alg(&state.db, &state.rows, &c, a).await?,
            None => c,
        };
        let c = clients::logout::set_logout(&state.db, &state.rows, &c, &logout).await?;
        super::audit(&state, &req, &owner, AuditKind::ClientCreated, detail(&c)).await?;
        let mut v = client_object(&c);
        v["secret"] = json!(secret);
        Ok((StatusCode::OK, v))
    })
    .await
}

async fn update(
    req: HttpRequest,
    state: web::Data<AppState>,
    p: Principal,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let user_id = p.allow(RESOURCE, Action::Manage)?;
    let c = owned(&state, &p, &id).await?;
    let params = Params::parse(&req, &body)?;
    params.only(&[
        "name",
        "redirect_uris",
        "scopes",
        "logo_uri",
        "client_uri",
        "policy_uri",
        "tos_uri",
        "grant_types",
        "token_exchange_audiences",
        "require_pushed_authorization_requests",
        "allowed_origins",
        "dpop_bound_access_tokens",
        "dpop_require_nonce",
        "introspection_signed_response_alg",
        "jwks",
        "jwks_uri",
        "post_logout_redirect_uris",
        "backchannel_logout_uri",
        "backchannel_logout_session_required",
        "public",
    ])?;
    // The app's type (issue #15 item 7, `clients::kind`): on its own, so that a refused
    // change of anything else never leaves a new secret nobody was shown.
    if let Some(public) = params.bool("public")? {
        if params.only(&["public"]).is_err() {
            return Err(ApiError::invalid_request(
                "parameter_invalid",
                "public changes the app's type on its own: send the other changes in another request",
            )
            .with_param("public"));
        }
        return idempotency::run(&state, &p.owner(), &req, &body, || async {
            let (updated, secret) =
                clients::kind::set_public(&state.db, &state.rows, &c, public).await?;
            state.origins.reload(&state.db).await?;
            if updated.is_public != c.is_public {
                let mut d = detail(&updated);
                d["public"] = json!(updated.is_public);
                super::audit(&state, &req, user_id, AuditKind::ClientUpdated, d).await?;
            }
            let mut v = client_object(&updated);
            // Shown once, as at creation.
            if let Some(s) = secret {
                v["secret"] = json!(s);
            }
            Ok((StatusCode::OK, v))
        })
        .await;
    }
    let audiences = params.list("token_exchange_audiences");
    idempotency::run(&state, &p.owner(), &req, &body, || async {
        if let Some(a) = &audiences {
            clients::check_exchange_audiences(&state.catalog.get(), a)?;
        }
        let dpop_bound = params.bool("dpop_bound_access_tokens")?;
        let dpop_nonce = params.bool("dpop_require_nonce")?;
        let introspection_alg = introspection_alg(&state, &params)?;
        let logout = clients::logout::LogoutChange {
            post_logout_redirect_uris: params.list("post_logout_redirect_uris"),
            backchannel_logout_uri: params.one("backchannel_logout_uri")?.map(str::to_owned),
            backchannel_logout_session_required: params
                .bool("backchannel_logout_session_required")?,
        };
        logout.validate()?;
        let u = ClientUpdate {
            grant_types: params.list("grant_types"),
            require_par: params.bool("require_pushed_authorization_requests")?,
            jwks: params.one("jwks")?.map(str::to_owned),
            jwks_uri: params.one("jwks_uri")?.map(str::to_owned),
            name: params.one("name")?.map(str::to_owned),
            redirect_uris: params.list("redirect_uris"),
            scopes: params.list("scopes"),
            logo_uri: params.one("logo_uri")?.map(str::to_owned),
            client_uri: params.one("client_uri")?.map(str::to_owned),
            policy_uri: params.one("policy_uri")?.map(str::to_owned),
            tos_uri: params.one("tos_uri")?.map(str::to_owned),
            allowed_origins: params.list("allowed_origins"),
        };
        let mut updated = clients::update(
            &state.db,
            &state.catalog.get(),
            &state.rows,
            &state.logos,
            &c,
            u,
        )
        .await?;
        if let Some(a) = &audiences {
            let catalog = state.catalog.get();
            updated =
                clients::set_exchange_audiences(&state.db, &catalog, &state.rows, &updated, a)
                    .await?;
        }
        state.origins.reload(&state.db).await?;
        let updated = match dpop_bound {
            Some(b) => clients::set_dpop_bound(&state.db, &state.rows, &updated, b).await?,
            None => updated,
        };
        let updated = match dpop_nonce {
            Some(b) => clients::set_dpop_require_nonce(&state.db, &state.rows, &updated, b).await?,
            None => updated,
        };
        let updated = match introspection_alg {
            Some(a) => clients::set_introspection_alg(&state.db, &state.rows, &updated, a).await?,
            None => updated,
        };
        let updated =
            clients::logout::set_logout(&state.db, &state.rows, &updated, &logout).await?;
        super::audit(
            &state,
            &req,
            user_id,
            AuditKind::ClientUpdated,
            detail(&updated),
        )
        .await?;
        Ok((StatusCode::OK, client_object(&updated)))
    })
    .await
}

async fn rotate_secret(
    req: HttpRequest,
    state: web::Data<AppState>,
    p: Principal,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let user_id = p.allow(RESOURCE, Action::Manage)?;
    let c = owned(&state, &p, &id).await?;
    let params = Params::parse(&req, &body)?;
    params.only(&["expires_in"])?;
    let overlap = match params.one("expires_in")? {
        None => 0,
        Some(s) => crate::api_keys::parse_roll_expiry(s).ok_or_else(|| {
            ApiError::invalid_request(
                "parameter_invalid",
                "expires_in must be 0 to 604800 seconds (or now, 1h, 24h, 7d)",
            )
            .with_param("expires_in")
        })?,
    };
    idempotency::run(&state, &p.owner(), &req, &body, || async {
        let (c, secret) =
            clients::rotate_secret(&state.db, &state.rows, &c, overlap, state.clock.now()).await?;
        let mut d = detail(&c);
        d["expires_in"] = json!(overlap);
        super::audit(&state, &req, user_id, AuditKind::ClientSecretRotated, d).await?;
        let mut v = client_object(&c);
        v["secret"] = json!(secret);
        Ok((StatusCode::OK, v))
    })
    .await
}

async fn delete(
    req: HttpRequest,
    state: web::Data<AppState>,
    p: Principal,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let user_id = p.allow(RESOURCE, Action::Manage)?;
    let c = owned(&state, &p, &id).await?;
    // The access tokens it obtained go on the deny list with it (`clients::delete`).
    clients::delete(&state.db, &state.rows, &c).await?;
    state.denied.catch_up(&state.db).await?;
    super::audit(&state, &req, user_id, AuditKind::ClientDeleted, detail(&c)).await?;
    let mut v = client_object(&c);
    v["deleted"] = json!(true);
    Ok(HttpResponse::Ok().json(v))
}

async fn disable(
    req: HttpRequest,
    state: web::Data<AppState>,
    p: Principal,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    set_disabled(req, state, p, &id, true).await
}

async fn enable(
    req: HttpRequest,
    state: web::Data<AppState>,
    p: Principal,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    set_disabled(req, state, p, &id, false).await
}

/// For admins, on any client (a user's, or the operator's): while disabled it cannot
/// authenticate or authorize and its tokens are refused (`clients::may_act`); its grants are
/// kept, so enabling resumes them. Idempotent.
async fn set_disabled(
    req: HttpRequest,
    state: web::Data<AppState>,
    p: Principal,
    id: &str,
    disable: bool,
) -> Result<HttpResponse, ApiError> {
    let admin = p
        .allow_admin(&state.db, RESOURCE, Action::Manage)
        .await?
        .to_owned();
    let shown: String = id.chars().filter(|c| !c.is_control()).take(64).collect();
    let not_found = || ApiError::not_found(format!("No such client: '{shown}'")).with_param("id");
    if !crate::authorize::request::plausible_client_id(id) {
        return Err(not_found());
    }
    let c = store::clients::by_id(&state.db, id)
        .await?
        .ok_or_else(not_found)?;
    let updated =
        clients::set_disabled(&state.db, &state.rows, &c, disable, state.clock.now()).await?;
    if c.disabled_at.is_some() != disable {
        let kind = if disable {
            AuditKind::ClientDisabled
        } else {
            AuditKind::ClientEnabled
        };
        super::admin_audit(
            &state,
            &req,
            &admin,
            c.owner_id.as_deref(),
            kind,
            detail(&c),
        )
        .await?;
    }
    Ok(HttpResponse::Ok().json(client_object(&updated)))
}
