//! "Is this access token active": the one check behind introspection (RFC 7662 §2.2),
//! userinfo (OpenID Connect Core §5.3) and the `/v1` API (RFC 6750 §2.1). A new endpoint
//! that accepts Latch access tokens calls [`active_access_token`] and nothing else.

use crate::signing::AccessClaims;
use crate::state::AppState;
use crate::store;

/// Whether a Latch access token is still good: signature, claims, deny list, and its
/// user still enabled. Shared by introspection, userinfo and `/v1`.
pub async fn active_access_token(
    state: &AppState,
    token: &str,
) -> Result<Result<AccessClaims, crate::signing::VerifyError>, store::StoreError> {
    let claims =
        match state
            .signer
            .verify_access(token, &state.settings.issuer, &state.settings.audience)
        {
            Ok(c) => c,
            Err(e) => return Ok(Err(e)),
        };
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
