//! An app's type after registration (issue #15 item 7): public ⇄ confidential, the one rule
//! for the dashboard, `PATCH /v1/clients/{id}` (`public`) and `latch client update
//! --public/--confidential`.
//!
//! - **To confidential**: a new client secret (`cs_…`, returned once for the caller to show
//!   once), token endpoint auth method `client_secret_basic`. From now on the app must
//!   authenticate at the token endpoint (RFC 6749 §2.3); its refresh tokens keep working
//!   once it does.
//! - **To public**: the secret (and a rotation's previous one) and any JWK Set are erased,
//!   auth method `none`. Refused while the app holds a grant only confidential clients may
//!   use (`client_credentials`, OAuth 2.1 §4.2; token exchange, RFC 8693 §2.1) or is a
//!   resource server (it authenticates to introspect). Everything issued while it was
//!   confidential (refresh tokens, codes, the access tokens they issued) is revoked in the
//!   same transaction: those refresh tokens were bound to the client's authentication (RFC
//!   6749 §6), and as a public client anyone holding one could refresh with the client id
//!   alone.

use sea_orm::{ActiveValue::Set, IntoActiveModel};

use super::{ClientError, invalid};
use crate::grant_type::GrantType;
use crate::{crypto, store};

/// Make `client` public (`true`) or confidential (`false`); the new secret when it became
/// confidential. Nothing changes (and `None`) when it already is of that type.
pub async fn set_public(
    db: &store::Db,
    rows: &store::RowCaches,
    client: &entity::client::Model,
    public: bool,
) -> Result<(entity::client::Model, Option<String>), ClientError> {
    if client.is_public == public {
        return Ok((client.clone(), None));
    }
    let now = store::now();
    let mut m = client.clone().into_active_model();
    m.is_public = Set(public);
    m.updated_at = Set(now);
    if public {
        check_may_be_public(client)?;
        m.token_endpoint_auth_method = Set("none".to_owned());
        m.secret_hash = Set(None);
        m.secret_last4 = Set(None);
        m.previous_secret_hash = Set(None);
        m.previous_secret_expires_at = Set(None);
        m.secret_rotated_at = Set(None);
        m.jwks = Set(None);
        m.jwks_uri = Set(None);
        let tx = store::begin_write(db).await?;
        let updated = store::clients::update(&*tx, m).await?;
        store::tokens::revoke_client_grants(&*tx, &client.id, now).await?;
        tx.commit().await.map_err(store::StoreError::from)?;
        rows.forget_client(&client.id);
        Ok((updated, None))
    } else {
        let secret = crypto::mint_secret("cs_");
        m.token_endpoint_auth_method = Set("client_secret_basic".to_owned());
        m.secret_hash = Set(Some(crypto::sha256_hex(&secret)));
        m.secret_last4 = Set(Some(secret[secret.len() - 4..].to_owned()));
        m.previous_secret_hash = Set(None);
        m.previous_secret_expires_at = Set(None);
        m.secret_rotated_at = Set(Some(now));
        let updated = store::clients::update(db, m).await?;
        rows.forget_client(&client.id);
        Ok((updated, Some(secret)))
    }
}

/// Why `client` cannot become public, if it cannot.
fn check_may_be_public(client: &entity::client::Model) -> Result<(), ClientError> {
    if client.resource_server {
        return Err(invalid(
            "a resource server authenticates to introspect tokens and keys, so it cannot be public",
            "public",
        ));
    }
    for g in store::words(&client.grant_types) {
        let confidential_only = match GrantType::parse(g) {
            Some(GrantType::ClientCredentials) => "client_credentials (OAuth 2.1 §4.2)",
            Some(GrantType::TokenExchange) => "token exchange (RFC 8693 §2.1)",
            _ => continue,
        };
        return Err(invalid(
            format!(
                "a public app cannot use {confidential_only}, which needs client authentication: remove that grant type first"
            ),
            "public",
        ));
    }
    Ok(())
}
