//! Changing how a registered confidential client authenticates at the token endpoint
//! (`token_endpoint_auth_method`, RFC 7591 §2) and its `private_key_jwt` keys (RFC 7523
//! §2.2), under the same rules as at registration ([`super::check_protocol`]). Moving to a
//! `client_secret_*` method without a secret mints one (shown once); moving to
//! `private_key_jwt` drops the secret, so it stops working at once (the keys are the
//! credential). A public client stays `none`: becoming confidential is a new app.

use super::{ClientError, Protocol};
use crate::crypto;
use crate::store;

/// The method and keys `p` asks of a client of this type, checked as at registration:
/// `(method, jwks, jwks_uri)`.
pub fn check(
    public: bool,
    p: &Protocol,
) -> Result<(String, Option<String>, Option<String>), ClientError> {
    super::check_protocol(public, p)
}

/// Set `client`'s method and keys; returns the row and a new secret when one was minted.
/// Nothing changes (and nothing is written) when the method and keys are the stored ones.
pub async fn set(
    db: &impl store::Conn,
    rows: &store::RowCaches,
    client: &entity::client::Model,
    p: &Protocol,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(entity::client::Model, Option<String>), ClientError> {
    let (method, jwks, jwks_uri) = check(client.is_public, p)?;
    if method == client.token_endpoint_auth_method
        && jwks == client.jwks
        && jwks_uri == client.jwks_uri
    {
        return Ok((client.clone(), None));
    }
    let mut minted = None;
    let secret = if method.starts_with("client_secret_") {
        if client.secret_hash.is_none() {
            let s = crypto::mint_secret("cs_");
            let change = Some((crypto::sha256_hex(&s), s[s.len() - 4..].to_owned()));
            minted = Some(s);
            store::clients::SecretChange::Set(change)
        } else {
            store::clients::SecretChange::Keep
        }
    } else if method == "private_key_jwt" {
        store::clients::SecretChange::Set(None)
    } else {
        store::clients::SecretChange::Keep
    };
    let updated =
        store::clients::set_auth_method(db, client, method, jwks, jwks_uri, secret, now).await?;
    rows.forget_client(&client.id);
    Ok((updated, minted))
}
