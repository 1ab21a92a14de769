//! ID tokens (OpenID Connect Core 1.0 §2, §3.1.3.6), minted by the grants that return one:
//! authorization_code (§3.1.3.3) and refresh_token (§12.2).
//!
//! ID tokens are signed with RS256, the algorithm every relying party supports
//! (Core §15.1 and the default `id_token_signed_response_alg`), whatever
//! `LATCH_SIGNING_ALG` says for access tokens.

use chrono::Utc;
use entity::{client, user};
use serde_json::json;

use crate::config::SigningAlg;
use crate::crypto::{b64url, sha256};
use crate::errors::OAuthError;
use crate::state::AppState;

pub fn has_openid(scope: &str) -> bool {
    scope.split(' ').any(|s| s == "openid")
}

/// `at_hash` (Core §3.1.3.6): base64url of the left half of SHA-256 of the access token.
fn at_hash(access_token: &str) -> String {
    b64url(&sha256(access_token.as_bytes())[..16])
}

/// Claims about the user that the granted scopes release (Core §5.4).
pub fn user_claims(u: &user::Model, scope: &str, out: &mut serde_json::Value) {
    for s in scope.split(' ') {
        match s {
            "profile" => {
                out["name"] = json!(u.name.clone().unwrap_or_default());
                out["updated_at"] = json!(u.updated_at.timestamp());
            }
            "email" => {
                out["email"] = json!(u.email);
                // True only once a mailed link proved this very address (`users::links`);
                // an operator may vouch for it (`latch user create --email-verified`).
                out["email_verified"] = json!(u.email_verified_at.is_some());
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
    /// How the person signed in, space-separated (`pwd`, `pwd otp`), as stored with the
    /// grant; `None` for grants made before it was recorded.
    pub amr: Option<&'a str>,
    pub nonce: Option<&'a str>,
    pub access_token: &'a str,
    /// The public session id of the browser session of the grant (OIDC Back-Channel
    /// Logout §2.1 `sid`), so the app can match a later logout token to it.
    pub sid: Option<&'a str>,
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
        "aud": crate::clients::public_id(i.client),
        "azp": crate::clients::public_id(i.client),
        "exp": now + state.settings.access_token_ttl.num_seconds(),
        "iat": now,
        "auth_time": i.auth_time,
        "at_hash": at_hash(i.access_token),
    });
    // OIDC Core §2 `amr` (values from RFC 8176): `pwd`, and `otp` after a second step.
    if let Some(amr) = i.amr.filter(|a| !a.is_empty()) {
        claims["amr"] = json!(amr.split(' ').collect::<Vec<_>>());
    }
    if let Some(sid) = i.sid {
        claims["sid"] = json!(sid);
    }
    if let Some(n) = i.nonce {
        claims["nonce"] = json!(n);
    }
    user_claims(i.user, i.scope, &mut claims);
    key.sign_id(&claims).map_err(OAuthError::server)
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
