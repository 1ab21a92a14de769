//! OpenID Connect Core 1.0 on top of the code flow: the UserInfo endpoint (§5.3) and
//! discovery (OpenID Connect Discovery 1.0 §3). ID tokens are minted in
//! [`crate::oauth::id_token`].

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::json;

use crate::bearer;
use crate::errors::{OAuthCode, OAuthError};
use crate::oauth::access_token::For;
use crate::oauth::active_access_token;
use crate::oauth::id_token::{has_openid, user_claims};
use crate::state::AppState;
use crate::store;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route(
        "/.well-known/openid-configuration",
        web::get().to(get_configuration),
    )
    .route("/oauth/userinfo", web::get().to(userinfo))
    .route("/oauth/userinfo", web::post().to(userinfo));
}

async fn get_configuration(state: web::Data<AppState>) -> HttpResponse {
    let iss = &state.settings.issuer;
    let mut m = crate::discovery::metadata(&state);
    m["userinfo_endpoint"] = json!(format!("{iss}/oauth/userinfo"));
    m["subject_types_supported"] = json!(["public"]);
    m["id_token_signing_alg_values_supported"] = json!(["RS256"]);
    m["claims_supported"] = json!([
        "sub",
        "iss",
        "aud",
        "exp",
        "iat",
        "auth_time",
        "amr",
        "nonce",
        "at_hash",
        "azp",
        "name",
        "updated_at",
        "email",
        "email_verified",
        // OIDC Back-Channel Logout §2.1: the browser session's public id.
        "sid"
    ]);
    m["claims_parameter_supported"] = json!(false);
    m["request_parameter_supported"] = json!(false);
    m["request_uri_parameter_supported"] = json!(false);
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
        .json(m)
}

/// RFC 6750 §3: a challenge with the error, and the OAuth JSON body; under the scheme the
/// token came with (RFC 9449 §7.1: a DPoP request is answered with a DPoP challenge).
fn bearer_error(
    scheme: bearer::Scheme,
    code: OAuthCode,
    description: &'static str,
) -> HttpResponse {
    let challenge = match scheme {
        bearer::Scheme::Bearer => bearer::challenge(Some(code.as_str()), description),
        bearer::Scheme::DPoP => {
            bearer::dpop_challenge(Some(code.as_str()), description, &bearer::dpop_algs())
        }
    };
    HttpResponse::build(code.status())
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::WWW_AUTHENTICATE, challenge))
        .json(json!({"error": code.as_str(), "error_description": description}))
}

/// UserInfo (Core §5.3): the token in `Authorization: Bearer`, or for POST in the form body
/// (RFC 6750 §2.2); never in the query string (RFC 6750 §2.3 is not supported).
async fn userinfo(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, OAuthError> {
    if url::form_urlencoded::parse(req.query_string().as_bytes()).any(|(k, _)| k == "access_token")
    {
        return Err(OAuthError::invalid_request(
            "Access tokens must not be sent in the query string",
        ));
    }
    // RFC 9449 §7.1: `Authorization: DPoP` as well as Bearer.
    let creds = bearer::credentials(&req);
    let scheme = creds.map_or(bearer::Scheme::Bearer, |(s, _)| s);
    let from_header = creds.map(|(_, t)| t.to_owned());
    let from_body = if req.method() == actix_web::http::Method::POST && !body.is_empty() {
        url::form_urlencoded::parse(&body)
            .find(|(k, _)| k == "access_token")
            .map(|(_, v)| v.into_owned())
    } else {
        None
    };
    let token = match (from_header, from_body) {
        (Some(_), Some(_)) => {
            return Err(OAuthError::invalid_request(
                "Send the access token in one place only",
            ));
        }
        (Some(t), None) | (None, Some(t)) => t,
        (None, None) => {
            let mut res = HttpResponse::Unauthorized();
            // RFC 9449 §7.1: both schemes are offered.
            res.insert_header((header::WWW_AUTHENTICATE, bearer::challenge(None, "")))
                .append_header((header::WWW_AUTHENTICATE, bearer::bare_dpop_challenge()))
                .insert_header((header::CACHE_CONTROL, "no-store"));
            return Ok(res.finish());
        }
    };
    let claims = match active_access_token(&state, &token, For::UserInfo).await? {
        Ok(c) => c,
        Err(_) => {
            return Ok(bearer_error(
                scheme,
                OAuthCode::InvalidToken,
                "The access token is invalid or expired",
            ));
        }
    };
    // CORS: the token's client decides which browser origin may read this answer.
    if let Some(c) = store::clients::by_id_cached(&state.db, &state.rows, &claims.client_id).await?
    {
        crate::oauth::cors::mark(&req, &c);
    }
    if let Err(r) = crate::oauth::dpop::at_resource(
        &state,
        &req,
        scheme,
        &token,
        claims.jkt(),
        &claims.client_id,
    )
    .await
    {
        if let crate::oauth::dpop::ResourceRefusal::Store(e) = r {
            return Err(e.into());
        }
        let mut res = HttpResponse::Unauthorized();
        res.insert_header((header::CACHE_CONTROL, "no-store"));
        for (k, v) in r.headers() {
            res.insert_header((k, v));
        }
        return Ok(res.json(json!({"error": r.error(), "error_description": r.description()})));
    }
    if !has_openid(&claims.scope) || claims.sub == claims.client_id {
        return Ok(bearer_error(
            scheme,
            OAuthCode::InsufficientScope,
            "The access token was not granted the openid scope",
        ));
    }
    let Some(user) = store::users::by_id(&state.db, &claims.sub).await? else {
        return Ok(bearer_error(
            scheme,
            OAuthCode::InvalidToken,
            "The access token is invalid or expired",
        ));
    };
    let mut out = json!({"sub": user.id});
    user_claims(&user, &claims.scope, &mut out);
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(out))
}
