//! DPoP (RFC 9449) at the endpoints: the token endpoint's proof (§5) and a resource's
//! proof with `ath` (§7), each turned into its dialect's refusal. The checks themselves are
//! [`crate::dpop::Dpop::check`]; the headers are read by [`crate::bearer`].
//!
//! `htu` is the issuer (the public origin, also behind a proxy) followed by the request
//! path: the URL the client was told about, query and fragment excluded (§4.3 step 9).

use actix_web::HttpRequest;
use entity::client;

use crate::bearer::{self, Scheme};
use crate::dpop::{Proof, Refusal};
use crate::errors::{OAuthError, StoreError};
use crate::state::AppState;

fn url_of(state: &AppState, req: &HttpRequest) -> String {
    format!("{}{}", state.settings.issuer, req.path())
}

/// The token endpoint's proof (RFC 9449 §5): `Ok(None)` without one (refused when the
/// client is registered with `dpop_bound_access_tokens`, §5.2), else the checked proof,
/// whose key the tokens issued now are bound to.
pub async fn at_token_endpoint(
    state: &AppState,
    req: &HttpRequest,
    client: &client::Model,
) -> Result<Option<Proof>, OAuthError> {
    let proof = of_client(state, req, client).await?;
    if proof.is_none() && client.dpop_bound_access_tokens {
        return Err(OAuthError::invalid_dpop_proof(
            "This client must send a DPoP proof with every token request",
        ));
    }
    Ok(proof)
}

/// A client's proof at an endpoint of the authorization server (the token endpoint, PAR:
/// §10.1), checked as §4.3 says with the client's nonce setting; `Ok(None)` without one.
pub async fn of_client(
    state: &AppState,
    req: &HttpRequest,
    client: &client::Model,
) -> Result<Option<Proof>, OAuthError> {
    let header = bearer::dpop_proof(req)
        .map_err(|()| OAuthError::invalid_dpop_proof("Send exactly one DPoP header"))?;
    let Some(proof) = header else {
        return Ok(None);
    };
    let url = url_of(state, req);
    match state
        .dpop
        .check(
            &state.db,
            &state.limiter,
            proof,
            req.method().as_str(),
            &url,
            None,
            client.dpop_require_nonce,
            state.clock.now(),
        )
        .await
    {
        Ok(p) => Ok(Some(p)),
        Err(Refusal::Invalid(e)) => Err(OAuthError::invalid_dpop_proof(e.to_string())),
        Err(Refusal::UseNonce(n)) => Err(OAuthError::use_dpop_nonce(n)),
        Err(Refusal::Store(e)) => Err(e.into()),
    }
}

/// Why a resource refused a token (RFC 9449 §7.1, RFC 6750 §3.1): each dialect (userinfo's
/// OAuth JSON, `/v1`'s) makes its body; [`ResourceRefusal::challenge`] its headers.
#[derive(Debug)]
pub enum ResourceRefusal {
    /// `invalid_token` under the DPoP scheme: a bound token sent as Bearer (§7.2), or a
    /// token without `cnf` sent as DPoP.
    InvalidToken(&'static str),
    /// `invalid_dpop_proof`.
    InvalidProof(String),
    /// `use_dpop_nonce`, with the nonce for `DPoP-Nonce` (§9).
    UseNonce(String),
    Store(StoreError),
}

impl ResourceRefusal {
    pub fn error(&self) -> &'static str {
        match self {
            Self::InvalidToken(_) => "invalid_token",
            Self::InvalidProof(_) => "invalid_dpop_proof",
            Self::UseNonce(_) => "use_dpop_nonce",
            Self::Store(_) => "server_error",
        }
    }

    pub fn description(&self) -> String {
        match self {
            Self::InvalidToken(d) => (*d).to_owned(),
            Self::InvalidProof(d) => d.clone(),
            Self::UseNonce(_) => "The DPoP proof must carry the nonce in DPoP-Nonce".to_owned(),
            Self::Store(_) => String::new(),
        }
    }

    /// The response headers: `WWW-Authenticate: DPoP error=…, algs=…` and, for
    /// `use_dpop_nonce`, `DPoP-Nonce`.
    pub fn headers(&self) -> Vec<(&'static str, String)> {
        let challenge = bearer::dpop_challenge(
            Some(self.error()),
            &self.description(),
            &bearer::dpop_algs(),
        );
        let mut h = vec![(
            "www-authenticate",
            challenge.to_str().unwrap_or_default().to_owned(),
        )];
        if let Self::UseNonce(n) = self {
            h.push(("dpop-nonce", n.clone()));
        }
        h
    }
}

/// A resource's check of the proof behind an access token that already verified (RFC 9449
/// §7.1): `jkt` is the token's `cnf.jkt`, `client_id` the client it was issued to (whose
/// flag may require nonces). A Bearer token without `cnf` costs nothing here.
pub async fn at_resource(
    state: &AppState,
    req: &HttpRequest,
    scheme: Scheme,
    token: &str,
    jkt: Option<&str>,
    client_id: &str,
) -> Result<(), ResourceRefusal> {
    let (scheme, jkt) = match (scheme, jkt) {
        (Scheme::Bearer, None) => return Ok(()),
        (Scheme::Bearer, Some(_)) => {
            return Err(ResourceRefusal::InvalidToken(
                "This access token is bound to a DPoP key: send it as Authorization: DPoP with a proof",
            ));
        }
        (Scheme::DPoP, None) => {
            return Err(ResourceRefusal::InvalidToken(
                "This access token is not DPoP-bound: send it as Authorization: Bearer",
            ));
        }
        (s, Some(j)) => (s, j),
    };
    debug_assert_eq!(scheme, Scheme::DPoP);
    let proof = match bearer::dpop_proof(req) {
        Ok(Some(p)) => p,
        Ok(None) => {
            return Err(ResourceRefusal::InvalidProof(
                "A DPoP proof is required with Authorization: DPoP".to_owned(),
            ));
        }
        Err(()) => {
            return Err(ResourceRefusal::InvalidProof(
                "Send exactly one DPoP header".to_owned(),
            ));
        }
    };
    let url = url_of(state, req);
    // The row is cached (and was just read to check the token is active).
    let require_nonce = crate::store::clients::by_id_cached(&state.db, &state.rows, client_id)
        .await
        .map_err(ResourceRefusal::Store)?
        .is_some_and(|c| c.dpop_require_nonce);
    let checked = state
        .dpop
        .check(
            &state.db,
            &state.limiter,
            proof,
            req.method().as_str(),
            &url,
            Some(token),
            require_nonce,
            state.clock.now(),
        )
        .await;
    match checked {
        // §7.1: the proof's key must be the one the token is bound to.
        Ok(p) if p.jkt == jkt => Ok(()),
        Ok(_) => Err(ResourceRefusal::InvalidProof(
            "The DPoP proof is signed by another key than the token is bound to".to_owned(),
        )),
        Err(Refusal::Invalid(e)) => Err(ResourceRefusal::InvalidProof(e.to_string())),
        Err(Refusal::UseNonce(n)) => Err(ResourceRefusal::UseNonce(n)),
        Err(Refusal::Store(e)) => Err(ResourceRefusal::Store(e)),
    }
}
