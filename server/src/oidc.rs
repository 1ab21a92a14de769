//! OpenID Connect Core 1.0 on top of the code flow: ID tokens (§2, §3.1.3.6), the UserInfo
//! endpoint (§5.3) and discovery (OpenID Connect Discovery 1.0 §3).
//!
//! ID tokens are signed with RS256, the algorithm every relying party supports
//! (Core §15.1 and the default `id_token_signed_response_alg`), whatever
//! `LATCH_SIGNING_ALG` says for access tokens.

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::Utc;
use entity::{client, user};
use serde_json::json;

use crate::config::SigningAlg;
use crate::crypto::{b64url, sha256};
use crate::errors::{OAuthCode, OAuthError};
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

pub fn has_openid(scope: &str) -> bool {
    scope.split(' ').any(|s| s == "openid")
}

/// `at_hash` (Core §3.1.3.6): base64url of the left half of SHA-256 of the access token.
fn at_hash(access_token: &str) -> String {
    b64url(&sha256(access_token.as_bytes())[..16])
}

/// Claims about the user that the granted scopes release (Core §5.4).
fn user_claims(u: &user::Model, scope: &str, out: &mut serde_json::Value) {
    for s in scope.split(' ') {
        match s {
            "profile" => {
                out["name"] = json!(u.name.clone().unwrap_or_default());
                out["updated_at"] = json!(u.updated_at.timestamp());
            }
            "email" => {
                out["email"] = json!(u.email);
                // Latch does not verify addresses by mail, so it never claims it did.
                out["email_verified"] = json!(false);
            }
            _ => {}
        }
    }
}

pub struct IdTokenInput<'a> {
    pub client: &'a client::Model,
    pub user: &'a user::Model,
    pub scope: &'a str,
    pub auth_time: i64,
    pub nonce: Option<&'a str>,
    pub access_token: &'a str,
}

pub fn id_token(state: &AppState, i: IdTokenInput<'_>) -> Result<String, OAuthError> {
    let key = state
        .signer
        .current_of(SigningAlg::RS256)
        .ok_or_else(|| OAuthError::server(anyhow::anyhow!("no RS256 key for ID tokens")))?;
    let now = Utc::now().timestamp();
    let mut claims = json!({
        "iss": state.settings.issuer,
        "sub": i.user.id,
        "aud": i.client.id,
        "azp": i.client.id,
        "exp": now + state.settings.access_token_ttl.as_secs() as i64,
        "iat": now,
        "auth_time": i.auth_time,
        "at_hash": at_hash(i.access_token),
    });
    if let Some(n) = i.nonce {
        claims["nonce"] = json!(n);
    }
    user_claims(i.user, i.scope, &mut claims);
    key.sign_id(&claims).map_err(OAuthError::server)
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
        "nonce",
        "at_hash",
        "azp",
        "name",
        "updated_at",
        "email",
        "email_verified"
    ]);
    m["claims_parameter_supported"] = json!(false);
    m["request_parameter_supported"] = json!(false);
    m["request_uri_parameter_supported"] = json!(false);
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
        .json(m)
}

/// RFC 6750 §3: a Bearer challenge with the error, and the OAuth JSON body.
fn bearer_error(code: OAuthCode, description: &'static str) -> HttpResponse {
    let status = code.status();
    let mut res = HttpResponse::build(status);
    res.insert_header((header::CACHE_CONTROL, "no-store"));
    let challenge = format!(
        "Bearer realm=\"latch\", error=\"{}\", error_description=\"{description}\"",
        code.as_str()
    );
    if let Ok(v) = HeaderValue::from_str(&challenge) {
        res.insert_header((header::WWW_AUTHENTICATE, v));
    }
    res.json(json!({"error": code.as_str(), "error_description": description}))
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
    let from_header = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim().to_owned());
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
            res.insert_header((header::WWW_AUTHENTICATE, "Bearer realm=\"latch\""))
                .insert_header((header::CACHE_CONTROL, "no-store"));
            return Ok(res.finish());
        }
    };
    let claims = match crate::introspect::active_access_token(&state, &token).await? {
        Ok(c) => c,
        Err(_) => {
            return Ok(bearer_error(
                OAuthCode::InvalidToken,
                "The access token is invalid or expired",
            ));
        }
    };
    if !has_openid(&claims.scope) || claims.sub == claims.client_id {
        return Ok(bearer_error(
            OAuthCode::InsufficientScope,
            "The access token was not granted the openid scope",
        ));
    }
    let Some(user) = store::users::by_id(&state.db, &claims.sub).await? else {
        return Ok(bearer_error(
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

#[cfg(test)]
mod tests {
    #[test]
    fn at_hash_is_left_half_of_sha256() {
        // OIDC Core example: at_hash for "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y".
        assert_eq!(
            super::at_hash("jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y"),
            "77QmUPtjPfzWtF2AnpK9RQ"
        );
    }
}
