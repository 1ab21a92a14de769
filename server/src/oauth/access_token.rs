//! "Is this access token active": the one check behind introspection (RFC 7662 §2.2),
//! userinfo (OpenID Connect Core §5.3) and the `/v1` API (RFC 6750 §2.1). A new endpoint
//! that accepts Latch access tokens calls [`active_access_token`] and nothing else, naming
//! in [`For`] whom the token must be for: the audience rule of each caller lives here.

use crate::signing::AccessClaims;
use crate::state::AppState;
use crate::store;

/// Who asks whether a token is active, which decides the audience it must have.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum For {
    /// The `/v1` API, a resource server like any other: `aud` must contain the built-in
    /// API's identifier (`LATCH_AUDIENCE`; RFC 9068 §4 step 3). A token for only another
    /// API is not good here.
    LatchApi,
    /// UserInfo (OIDC Core §5.3) is served by Latch itself for whatever APIs the token is
    /// for: any audience (the caller then requires the `openid` scope).
    UserInfo,
    /// Introspection (RFC 7662 §2.2) answers for every API's tokens and reports `aud`.
    Introspection,
}

/// Whether a Latch access token is still good for `who`: signature, claims, audience,
/// deny list, and its user still enabled. Shared by introspection, userinfo and `/v1`.
pub async fn active_access_token(
    state: &AppState,
    token: &str,
    who: For,
) -> Result<Result<AccessClaims, crate::signing::VerifyError>, store::StoreError> {
    let issuer = &state.settings.issuer;
    let verified = match who {
        For::LatchApi => state
            .signer
            .verify_access(token, issuer, &state.settings.audience),
        For::UserInfo | For::Introspection => {
            state.signer.verify_access_any_audience(token, issuer)
        }
    };
    let mut claims = match verified {
        Ok(c) => c,
        Err(e) => return Ok(Err(e)),
    };
    // A metadata document client's tokens name it by its URL (RFC 9068 §2.2); everything
    // behind this function looks clients up by row id.
    if crate::clients::metadata_document::looks_like_url(&claims.client_id) {
        claims.client_id = crate::clients::metadata_document::row_id(&claims.client_id);
    }
    if state.denied.contains(&claims.jti) {
        return Ok(Err(crate::signing::VerifyError::Invalid));
    }
    // A deleted client's tokens die with it (cached lookup: at once here, within 2 s elsewhere).
    // So do the tokens of a client whose owner was disabled.
    let Some(client) =
        store::clients::by_id_cached(&state.db, &state.rows, &claims.client_id).await?
    else {
        return Ok(Err(crate::signing::VerifyError::Invalid));
    };
    if !crate::clients::may_act(&state.db, &state.rows, &client).await? {
        return Ok(Err(crate::signing::VerifyError::Invalid));
    }
    if claims.sub != claims.client_id {
        let user = store::users::by_id_cached(&state.db, &state.rows, &claims.sub).await?;
        if user.is_none_or(|u| u.disabled_at.is_some()) {
            return Ok(Err(crate::signing::VerifyError::Invalid));
        }
    }
    Ok(Ok(claims))
}
