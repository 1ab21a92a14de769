//! Authentication for every `/v1` endpoint: `Authorization: Bearer` with an API key
//! (secret `sk_live_…`/`sk_test_…`, restricted `rk_live_…`/`rk_test_…`) or a Latch access token (RFC 6750 §2.1). Failures answer in the
//! API dialect with `WWW-Authenticate: Bearer error=…` (RFC 6750 §3).

use std::future::Future;
use std::pin::Pin;

use actix_web::{FromRequest, HttpRequest, web};

use crate::api_keys;
use crate::errors::{ApiError, ApiErrorType};
use crate::rate_limit::{FailureKind, Policy};
use crate::signing::VerifyError;
use crate::state::AppState;

/// How the caller authenticated.
#[derive(Clone, Debug)]
pub enum Via {
    ApiKey {
        key_id: String,
    },
    /// `dpop`: sent as `Authorization: DPoP` (its refusals use that scheme's challenge).
    AccessToken {
        client_id: String,
        jti: String,
        dpop: bool,
    },
}

/// The authenticated caller of a `/v1` request.
///
/// # Who may do what on `/v1` (the one place the rule lives; the README has the table)
///
/// - A caller is a **user** (an API key, or an access token issued for a person) or a
///   **client** (a `client_credentials` token, `user_id: None`). A client principal manages
///   nothing on `/v1`: every resource answers 403 `user_required` ([`Principal::allow`]).
/// - A user principal reaches only its own objects in its own mode ([`Principal::owns`]):
///   an object without an owner (an operator client made by the CLI) belongs to nobody here,
///   so `None` never matches `None`. Admin powers go through admin endpoints only.
/// - API keys and OAuth apps are changed only with an API key ([`Principal::allow`] with
///   [`Action::Manage`]): an access token a third-party app received may read them, never
///   create, roll, update or delete them.
/// - A key creates or rolls only keys whose scopes it covers itself ([`Principal::covers`]):
///   a secret key covers everything; a restricted key never mints a secret key.
/// - A secret key holds every scope (`read`/`write` and every resource form among them); a
///   restricted key only its own: `invoices:read` alone gets 403 `insufficient_scope` here.
/// - Server-wide resources (the API catalog, `/v1/apis`) are an admin's
///   ([`Principal::allow_admin`]): a user principal whose account is an admin's now (read
///   from the database on each request, so removing admin rights takes effect at once),
///   reading with `read`, changing with `write` and an API key, as for [`Action::Manage`].
///   Users are such a resource for their admin endpoints (list, retrieve, disable, enable,
///   and `DELETE /v1/users/{id}`, which also refuses the caller's own account and the last
///   admin: a person deletes their own account in Settings, after a fresh sign-in).
#[derive(Clone, Debug)]
pub struct Principal {
    /// The user the request acts for; `None` for a client-credentials token.
    pub user_id: Option<String>,
    pub livemode: bool,
    /// For a secret key: empty (it holds every scope, see `secret`).
    pub scopes: Vec<String>,
    /// Authenticated by a secret API key: every scope of every API, now and later.
    pub secret: bool,
    pub via: Via,
}

/// What a `/v1` endpoint does to its resource.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Read objects (`read` or `resource:read`).
    Read,
    /// Change objects that are not credentials (`write` or `resource:write`).
    Write,
    /// Create or change credentials (API keys, OAuth apps): `write`, and an API key.
    Manage,
}

impl Action {
    fn scope(self) -> &'static str {
        match self {
            Action::Read => "read",
            Action::Write | Action::Manage => "write",
        }
    }
}

/// Whether `held` (a caller's scopes) covers the scope `wanted`: the same scope, or a plain
/// `read`/`write` covering the Latch API's `resource:read`/`resource:write` (only those: a
/// catalog scope like `invoices:read` belongs to another API and is covered only by itself).
pub fn scope_covers(held: &[String], wanted: &str) -> bool {
    held.iter().any(|h| h == wanted)
        || wanted.split_once(':').is_some_and(|(res, action)| {
            crate::catalog::V1_RESOURCES.contains(&res) && held.iter().any(|h| h == action)
        })
}

impl Principal {
    /// `resource:action` scopes narrow a key; plain `read`/`write` cover every resource.
    fn has_scope(&self, action: &str, resource: &str) -> bool {
        self.secret
            || self
                .scopes
                .iter()
                .any(|s| s == action || *s == format!("{resource}:{action}"))
    }

    /// RFC 6750 §3.1 `insufficient_scope` (403).
    fn require(&self, action: &'static str, resource: &str) -> Result<(), ApiError> {
        if self.has_scope(action, resource) {
            return Ok(());
        }
        let message = format!("This request requires the {action} scope");
        let e = ApiError::new(
            ApiErrorType::Permission,
            "insufficient_scope",
            message.clone(),
        )
        .with_bearer("insufficient_scope");
        // RFC 9449 §7.1: a DPoP request's challenge is a DPoP one.
        Err(match self.via {
            Via::AccessToken { dpop: true, .. } => {
                let challenge = crate::bearer::dpop_challenge(
                    Some("insufficient_scope"),
                    &message,
                    &crate::bearer::dpop_algs(),
                );
                e.with_headers([(
                    "www-authenticate",
                    challenge.to_str().unwrap_or_default().to_owned(),
                )])
            }
            _ => e,
        })
    }

    /// The `/v1` rule in one call: a user principal, holding the action's scope for
    /// `resource`, and (for [`Action::Manage`]) authenticated by an API key. Returns the
    /// user the request acts for.
    pub fn allow(&self, resource: &str, action: Action) -> Result<&str, ApiError> {
        let user = self.user_id()?;
        self.require(action.scope(), resource)?;
        if action == Action::Manage && !matches!(self.via, Via::ApiKey { .. }) {
            return Err(ApiError::new(
                ApiErrorType::Permission,
                "api_key_required",
                "API keys and OAuth apps are managed with an API key or in the dashboard, \
                 not with an OAuth access token",
            ));
        }
        Ok(user)
    }

    /// [`Principal::allow`] for a server-wide resource, plus: the caller's account is an
    /// admin's. Returns the admin's user id.
    pub async fn allow_admin(
        &self,
        db: &impl crate::store::Conn,
        resource: &str,
        action: Action,
    ) -> Result<&str, ApiError> {
        // `Manage` as in `allow`, with a message that names what is being changed.
        let user = match action {
            Action::Manage => self.allow(resource, Action::Write)?,
            other => self.allow(resource, other)?,
        };
        if action == Action::Manage && !matches!(self.via, Via::ApiKey { .. }) {
            return Err(ApiError::new(
                ApiErrorType::Permission,
                "api_key_required",
                format!(
                    "/v1/{resource} is changed with an admin's API key, in the dashboard or with \
                     the CLI, not with an OAuth access token"
                ),
            ));
        }
        let admin = crate::store::users::by_id(db, user)
            .await?
            .is_some_and(|u| u.is_admin && u.disabled_at.is_none());
        if !admin {
            return Err(ApiError::new(
                ApiErrorType::Permission,
                "admin_required",
                format!("/v1/{resource} is for administrators of this Latch server"),
            ));
        }
        Ok(user)
    }

    /// Whether an object owned by `owner` in `livemode` is this caller's: its own user, its
    /// own mode. An object without an owner is nobody's here (operator objects).
    pub fn owns(&self, owner: Option<&str>, livemode: bool) -> bool {
        matches!((owner, self.user_id.as_deref()), (Some(o), Some(me)) if o == me)
            && livemode == self.livemode
    }

    /// Whether the caller holds every scope in `wanted` (a key may mint or roll only keys
    /// no broader than itself).
    pub fn covers<'a>(&self, wanted: impl IntoIterator<Item = &'a str>) -> Result<(), ApiError> {
        if self.secret {
            return Ok(());
        }
        match wanted.into_iter().find(|w| !scope_covers(&self.scopes, w)) {
            None => Ok(()),
            Some(w) => Err(ApiError::new(
                ApiErrorType::Permission,
                "insufficient_scope",
                format!("The key used for this request does not hold the {w} scope itself"),
            )
            .with_param("scopes")),
        }
    }

    /// Whether the caller may mint a secret key: only a secret key may.
    pub fn covers_secret(&self) -> Result<(), ApiError> {
        if self.secret {
            return Ok(());
        }
        Err(ApiError::new(
            ApiErrorType::Permission,
            "insufficient_scope",
            "A restricted key cannot create or roll a secret key; give the new key scopes",
        )
        .with_param("scopes"))
    }

    /// Who an `Idempotency-Key` belongs to: the API key, or the client acting for the user.
    pub fn owner(&self) -> String {
        match &self.via {
            Via::ApiKey { key_id } => key_id.clone(),
            Via::AccessToken { client_id, .. } => {
                format!("{client_id}:{}", self.user_id.as_deref().unwrap_or(""))
            }
        }
    }

    pub fn user_id(&self) -> Result<&str, ApiError> {
        self.user_id.as_deref().ok_or_else(|| {
            ApiError::new(
                ApiErrorType::Permission,
                "user_required",
                "This endpoint needs credentials that act for a user",
            )
        })
    }
}

fn invalid_key() -> ApiError {
    ApiError::new(
        ApiErrorType::Authentication,
        "invalid_api_key",
        "The API key provided is invalid",
    )
    .with_bearer("invalid_token")
}

/// Names under which a credential might be smuggled into a URL.
const QUERY_CREDENTIALS: &[&str] = &["access_token", "api_key", "key", "token", "bearer"];

async fn authenticate(req: HttpRequest) -> Result<Principal, ApiError> {
    let state = req
        .app_data::<web::Data<AppState>>()
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("no app state")))?
        .clone();
    // RFC 6750 §5.3 / SECURITY.md K7: credentials in URLs leak into logs and histories.
    let query = req.query_string();
    if !query.is_empty()
        && url::form_urlencoded::parse(query.as_bytes()).any(|(k, v)| {
            QUERY_CREDENTIALS.contains(&k.as_ref())
                || v.starts_with("sk_live_")
                || v.starts_with("sk_test_")
                || v.starts_with("rk_live_")
                || v.starts_with("rk_test_")
        })
    {
        return Err(ApiError::invalid_request(
            "credential_in_query",
            "Credentials must be sent in the Authorization header, never in the URL",
        ));
    }
    let (scheme, token) = match crate::bearer::credentials(&req) {
        Some((s, t)) if !t.is_empty() => (s, t),
        _ => {
            return Err(ApiError::new(
                ApiErrorType::Authentication,
                "invalid_api_key",
                "No API key provided. Send `Authorization: Bearer <key>`",
            ));
        }
    };
    if api_keys::is_key_token(token) && scheme == crate::bearer::Scheme::Bearer {
        // A bad checksum is refused without touching the database (SECURITY.md K3).
        let ip = crate::middleware::ClientIp::of(&req);
        // Each well-formed key that is not cached costs a query: an address that keeps
        // presenting unknown, revoked or expired keys is refused before the lookup for a
        // while (doubling locks). Cached keys skip the check, so the hot path pays nothing.
        let fail_key = || crate::middleware::ClientIp::limit_key(&req);
        let gate = async || match fail_key() {
            Some(k) => state.limiter.locked(FailureKind::ApiKeyIp, &k).await,
            None => None,
        };
        let v = match api_keys::verify_gated(
            &state.db,
            &state.keys,
            token,
            ip,
            state.clock.now(),
            gate,
        )
        .await?
        {
            Ok(v) => v,
            Err(api_keys::KeyRejection::Malformed) => return Err(invalid_key()),
            Err(api_keys::KeyRejection::Locked(wait)) => {
                return Err(ApiError::too_many_requests(wait.as_secs().max(1)));
            }
            Err(api_keys::KeyRejection::Expired) => {
                if let Some(k) = fail_key() {
                    state.limiter.fail(FailureKind::ApiKeyIp, &k).await;
                }
                return Err(ApiError::new(
                    ApiErrorType::Authentication,
                    "expired_api_key",
                    "The API key provided has expired",
                )
                .with_bearer("invalid_token"));
            }
            Err(_) => {
                if let Some(k) = fail_key() {
                    state.limiter.fail(FailureKind::ApiKeyIp, &k).await;
                }
                return Err(invalid_key());
            }
        };
        // Per-key limit: the key's own override, else the mode's default.
        let policy = Policy::ApiKey {
            livemode: v.key.livemode,
            own: v
                .key
                .rate_limit
                .filter(|n| *n > 0)
                .map(|n| crate::rate_limit::Rate::per_second(n as u32)),
        };
        limit(&state, &req, policy, &v.key.id).await?;
        // Key policies (allowlist, cap): nothing to do for a plain key.
        if v.policy.is_some() {
            match api_keys::enforce(&state.db, &state.keys, &v, ip, state.clock.now()).await? {
                Ok(()) => {}
                Err(api_keys::PolicyRejection::IpNotAllowed) => {
                    return Err(ApiError::new(
                        ApiErrorType::Permission,
                        "ip_not_allowed",
                        "This API key may not be used from this address",
                    ));
                }
                Err(api_keys::PolicyRejection::Exhausted(retry)) => {
                    let e = ApiError::new(
                        ApiErrorType::RateLimit,
                        "usage_exhausted",
                        "This API key has no uses left",
                    );
                    return Err(match retry {
                        Some(secs) => e.with_retry_after(secs),
                        None => e,
                    });
                }
            }
        }
        let secret = api_keys::is_secret(&v.key);
        return Ok(Principal {
            user_id: Some(v.key.user_id.clone()),
            livemode: v.key.livemode,
            scopes: if secret {
                Vec::new()
            } else {
                crate::store::words(&v.key.scopes)
                    .map(str::to_owned)
                    .collect()
            },
            secret,
            via: Via::ApiKey {
                key_id: v.key.id.clone(),
            },
        });
    }
    // `/v1` is the built-in API: the token's `aud` must name it (RFC 9068 §4).
    let for_v1 = crate::oauth::access_token::For::LatchApi;
    let as_dpop = |e: ApiError| match scheme {
        crate::bearer::Scheme::DPoP => {
            let r =
                crate::oauth::dpop::ResourceRefusal::InvalidToken("The access token is invalid");
            e.with_headers(r.headers())
        }
        crate::bearer::Scheme::Bearer => e,
    };
    let claims = crate::oauth::active_access_token(&state, token, for_v1)
        .await?
        .map_err(|e| match e {
            VerifyError::Expired => ApiError::new(
                ApiErrorType::Authentication,
                "expired_token",
                "The access token expired",
            )
            .with_bearer("invalid_token"),
            VerifyError::Invalid => ApiError::new(
                ApiErrorType::Authentication,
                "invalid_token",
                "The access token is invalid",
            )
            .with_bearer("invalid_token"),
        })
        .map_err(as_dpop)?;
    // RFC 9449 §7: a DPoP-bound token needs its proof; a Bearer token without `cnf` passes
    // without any work.
    if let Err(r) = crate::oauth::dpop::at_resource(
        &state,
        &req,
        scheme,
        token,
        claims.jkt(),
        &claims.client_id,
    )
    .await
    {
        use crate::oauth::dpop::ResourceRefusal;
        return Err(match r {
            ResourceRefusal::Store(e) => e.into(),
            r => ApiError::new(ApiErrorType::Authentication, r.error(), r.description())
                .with_headers(r.headers()),
        });
    }
    let policy = Policy::ApiToken {
        livemode: claims.livemode,
    };
    let key = format!("{}:{}", claims.client_id, claims.sub);
    limit(&state, &req, policy, &key).await?;
    let user_id = if claims.sub == claims.client_id {
        None
    } else {
        Some(claims.sub)
    };
    Ok(Principal {
        user_id,
        livemode: claims.livemode,
        scopes: claims
            .scope
            .split(' ')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        secret: false,
        via: Via::AccessToken {
            client_id: claims.client_id,
            jti: claims.jti,
            dpop: scheme == crate::bearer::Scheme::DPoP,
        },
    })
}

/// Take one request from the caller's bucket; the decision rides in the request's
/// extensions so the `/v1` middleware can put `RateLimit` headers on the response.
async fn limit(
    state: &AppState,
    req: &HttpRequest,
    policy: Policy,
    key: &str,
) -> Result<(), ApiError> {
    use actix_web::HttpMessage;
    let d = crate::rate_limit::enforce(&state.limiter, &state.db, req, policy, key).await?;
    req.extensions_mut().insert(d);
    Ok(())
}

impl FromRequest for Principal {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        Box::pin(authenticate(req.clone()))
    }
}
