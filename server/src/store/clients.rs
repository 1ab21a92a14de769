//! OAuth client rows.

use entity::client::{self, Entity};
use sea_orm::{ActiveModelTrait, ConnectionTrait, EntityTrait, IntoActiveModel};

use super::StoreError;

pub async fn insert(
    db: &impl ConnectionTrait,
    m: client::Model,
) -> Result<client::Model, StoreError> {
    let id = m.id.clone();
    Entity::insert(m.into_active_model())
        .exec_without_returning(db)
        .await?;
    by_id(db, &id)
        .await?
        .ok_or_else(|| StoreError::Other(sea_orm::DbErr::RecordNotFound(id)))
}

pub async fn by_id(
    db: &impl ConnectionTrait,
    id: &str,
) -> Result<Option<client::Model>, StoreError> {
    if id.is_empty() || id.len() > 64 {
        return Ok(None);
    }
    Ok(Entity::find_by_id(id.to_owned()).one(db).await?)
}

pub async fn update(
    db: &impl ConnectionTrait,
    m: client::ActiveModel,
) -> Result<client::Model, StoreError> {
    Ok(m.update(db).await?)
}

/// A client row by id for the token endpoints' hot path, from this instance's cache (see
/// [`super::cache`]).
pub async fn by_id_cached(
    db: &impl ConnectionTrait,
    rows: &super::RowCaches,
    id: &str,
) -> Result<Option<std::sync::Arc<client::Model>>, StoreError> {
    if let Some(hit) = rows.clients.get(id) {
        return Ok(hit);
    }
    let row = by_id(db, id).await?.map(std::sync::Arc::new);
    if !id.is_empty() && id.len() <= 64 {
        rows.clients.insert(id.to_owned(), row.clone());
    }
    Ok(row)
}

/// Whose clients a listing shows.
#[derive(Clone, Copy, Debug)]
pub enum Owner<'a> {
    /// One user's.
    User(&'a str),
    /// The operator's: clients made by the CLI without `--owner` (admins only).
    Operator,
    /// Every user's (not the operator's): the apps an admin may verify.
    Users,
    /// Everyone's (the operator's `latch client list`).
    Anyone,
}

/// Clients of `owner`, newest first.
pub async fn page(
    db: &impl ConnectionTrait,
    owner: Owner<'_>,
    livemode: Option<bool>,
    limit: u64,
    starting_after: Option<&str>,
) -> Result<Vec<client::Model>, StoreError> {
    use entity::client::Column;
    use sea_orm::{ColumnTrait, QueryFilter, QueryOrder, QuerySelect};
    let mut q = Entity::find()
        .order_by_desc(Column::CreatedAt)
        .order_by_desc(Column::Id)
        .limit(limit);
    q = match owner {
        Owner::User(o) => q.filter(Column::OwnerId.eq(o)),
        Owner::Operator => q.filter(Column::OwnerId.is_null()),
        Owner::Users => q.filter(Column::OwnerId.is_not_null()),
        Owner::Anyone => q,
    };
    if let Some(l) = livemode {
        q = q.filter(Column::Livemode.eq(l));
    }
    if let Some(after) = starting_after
        && let Some(a) = by_id(db, after).await?
    {
        q = q.filter(
            sea_orm::Condition::any()
                .add(Column::CreatedAt.lt(a.created_at))
                .add(
                    sea_orm::Condition::all()
                        .add(Column::CreatedAt.eq(a.created_at))
                        .add(Column::Id.lt(a.id)),
                ),
        );
    }
    Ok(q.all(db).await?)
}

/// Delete a client; its codes, tokens and consents go with it (foreign keys cascade).
pub async fn delete(db: &impl ConnectionTrait, id: &str) -> Result<bool, StoreError> {
    Ok(Entity::delete_by_id(id.to_owned())
        .exec(db)
        .await?
        .rows_affected
        == 1)
}

/// How many clients a user owns.
pub async fn count_owned(db: &impl ConnectionTrait, owner: &str) -> Result<u64, StoreError> {
    use entity::client::Column;
    use sea_orm::{ColumnTrait, PaginatorTrait, QueryFilter};
    Ok(Entity::find()
        .filter(Column::OwnerId.eq(owner))
        .count(db)
        .await?)
}

/// Registration fields an owner changed, already validated and joined into their
/// space-separated column form; `None` leaves a field as it is.
#[derive(Default)]
pub struct FieldChanges {
    pub name: Option<String>,
    pub redirect_uris: Option<String>,
    pub scopes: Option<String>,
    /// `Some(None)` clears the URI.
    pub logo_uri: Option<Option<String>>,
    pub client_uri: Option<Option<String>>,
    pub policy_uri: Option<Option<String>>,
    pub tos_uri: Option<Option<String>>,
    /// RFC 9126 §6 `require_pushed_authorization_requests`.
    pub require_par: Option<bool>,
    /// The grant types, space-separated.
    pub grant_types: Option<String>,
    /// `Some(list)` stores the allowed origins (space-separated).
    pub allowed_origins: Option<String>,
    /// A `private_key_jwt` client's new keys: `(jwks, jwks_uri)`, one of them set.
    pub keys: Option<(Option<String>, Option<String>)>,
}

/// Write an owner's changes and stamp `updated_at`.
pub async fn update_fields(
    db: &impl ConnectionTrait,
    c: &client::Model,
    changes: FieldChanges,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<client::Model, StoreError> {
    use sea_orm::ActiveValue::Set;
    let mut m = c.clone().into_active_model();
    if let Some(n) = changes.name {
        m.name = Set(n);
    }
    if let Some(r) = changes.redirect_uris {
        m.redirect_uris = Set(r);
    }
    if let Some(s) = changes.scopes {
        m.scopes = Set(s);
    }
    if let Some(u) = changes.logo_uri {
        m.logo_uri = Set(u);
    }
    if let Some(u) = changes.client_uri {
        m.client_uri = Set(u);
    }
    if let Some(u) = changes.policy_uri {
        m.policy_uri = Set(u);
    }
    if let Some(u) = changes.tos_uri {
        m.tos_uri = Set(u);
    }
    if let Some(p) = changes.require_par {
        m.require_par = Set(p);
    }
    if let Some(g) = changes.grant_types {
        m.grant_types = Set(g);
    }
    if let Some(o) = changes.allowed_origins {
        m.allowed_origins = Set(Some(o));
    }
    if let Some((jwks, jwks_uri)) = changes.keys {
        m.jwks = Set(jwks);
        m.jwks_uri = Set(jwks_uri);
    }
    m.updated_at = Set(now);
    update(db, m).await
}

/// Replace a confidential client's secret (its digest and last four characters).
pub async fn set_secret(
    db: &impl ConnectionTrait,
    c: &client::Model,
    secret_hash: String,
    secret_last4: String,
    previous: Option<(String, chrono::DateTime<chrono::Utc>)>,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<client::Model, StoreError> {
    use sea_orm::ActiveValue::Set;
    let mut m = c.clone().into_active_model();
    m.secret_hash = Set(Some(secret_hash));
    m.secret_last4 = Set(Some(secret_last4));
    let (prev_hash, prev_until) = previous.unzip();
    m.previous_secret_hash = Set(prev_hash);
    m.previous_secret_expires_at = Set(prev_until);
    m.secret_rotated_at = Set(Some(now));
    m.updated_at = Set(now);
    update(db, m).await
}

/// Set or clear `disabled_at`.
pub async fn set_disabled(
    db: &impl ConnectionTrait,
    c: &client::Model,
    at: Option<chrono::DateTime<chrono::Utc>>,
) -> Result<client::Model, StoreError> {
    let mut m = c.clone().into_active_model();
    m.disabled_at = sea_orm::Set(at);
    m.updated_at = sea_orm::Set(super::now());
    Ok(m.update(db).await?)
}

/// Set or clear `verified_at` (an admin vouched for the app).
pub async fn set_verified(
    db: &impl ConnectionTrait,
    c: &client::Model,
    at: Option<chrono::DateTime<chrono::Utc>>,
) -> Result<client::Model, StoreError> {
    let mut m = c.clone().into_active_model();
    m.verified_at = sea_orm::Set(at);
    m.updated_at = sea_orm::Set(super::now());
    Ok(m.update(db).await?)
}

/// Replace the audiences a client may exchange tokens into (RFC 8693; validated, joined).
pub async fn set_exchange_audiences(
    db: &impl ConnectionTrait,
    c: &client::Model,
    audiences: String,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<client::Model, StoreError> {
    use sea_orm::ActiveValue::Set;
    let mut m = c.clone().into_active_model();
    m.token_exchange_audiences = Set(audiences);
    m.updated_at = Set(now);
    update(db, m).await
}

/// Each enabled client's `(is_public, redirect_uris, allowed_origins)`: what the CORS
/// origin set is built from (`clients::origins`), without the rest of the rows.
pub async fn origin_rows(
    db: &impl ConnectionTrait,
) -> Result<Vec<(bool, String, Option<String>)>, StoreError> {
    use entity::client::Column;
    use sea_orm::{ColumnTrait, QueryFilter, QuerySelect};
    Ok(Entity::find()
        .select_only()
        .column(Column::IsPublic)
        .column(Column::RedirectUris)
        .column(Column::AllowedOrigins)
        .filter(Column::DisabledAt.is_null())
        .into_tuple()
        .all(db)
        .await?)
}

/// RFC 9449 §8, §9: whether the client's DPoP proofs must carry a server nonce.
pub async fn set_dpop_require_nonce(
    db: &impl ConnectionTrait,
    c: &client::Model,
    required: bool,
) -> Result<client::Model, StoreError> {
    let mut m = c.clone().into_active_model();
    m.dpop_require_nonce = sea_orm::Set(required);
    m.updated_at = sea_orm::Set(super::now());
    Ok(m.update(db).await?)
}

/// RFC 9449 §5.2 `dpop_bound_access_tokens`: whether the client must send DPoP proofs.
pub async fn set_dpop_bound(
    db: &impl ConnectionTrait,
    c: &client::Model,
    bound: bool,
) -> Result<client::Model, StoreError> {
    let mut m = c.clone().into_active_model();
    m.dpop_bound_access_tokens = sea_orm::Set(bound);
    m.updated_at = sea_orm::Set(super::now());
    Ok(m.update(db).await?)
}

/// RFC 9701 §6: the client's `introspection_signed_response_alg` (`None`: not registered).
pub async fn set_introspection_alg(
    db: &impl ConnectionTrait,
    c: &client::Model,
    alg: Option<String>,
) -> Result<client::Model, StoreError> {
    let mut m = c.clone().into_active_model();
    m.introspection_signed_response_alg = sea_orm::Set(alg);
    m.updated_at = sea_orm::Set(super::now());
    Ok(m.update(db).await?)
}

/// The ids of the clients a user owns (all of them: deleting the account deletes them).
pub async fn ids_owned(db: &impl ConnectionTrait, owner: &str) -> Result<Vec<String>, StoreError> {
    use entity::client::Column;
    use sea_orm::{ColumnTrait, QueryFilter, QuerySelect};
    Ok(Entity::find()
        .select_only()
        .column(Column::Id)
        .filter(Column::OwnerId.eq(owner))
        .into_tuple::<String>()
        .all(db)
        .await?)
}

/// OIDC RP-Initiated Logout §3.1 / Back-Channel Logout §2.2 registration; `None` leaves a
/// field as it is, `Some(None)` clears the back-channel URI.
pub async fn set_logout(
    db: &impl ConnectionTrait,
    c: &client::Model,
    post_logout_redirect_uris: Option<String>,
    backchannel_logout_uri: Option<Option<String>>,
    session_required: Option<bool>,
) -> Result<client::Model, StoreError> {
    let mut m = c.clone().into_active_model();
    if let Some(v) = post_logout_redirect_uris {
        m.post_logout_redirect_uris = sea_orm::Set(v);
    }
    if let Some(v) = backchannel_logout_uri {
        m.backchannel_logout_uri = sea_orm::Set(v);
    }
    if let Some(v) = session_required {
        m.backchannel_logout_session_required = sea_orm::Set(v);
    }
    m.updated_at = sea_orm::Set(super::now());
    Ok(m.update(db).await?)
}

/// Store the digest of a client's RFC 7592 registration access token.
pub async fn set_registration_token(
    db: &impl ConnectionTrait,
    c: &client::Model,
    token_hash: String,
) -> Result<client::Model, StoreError> {
    use sea_orm::ActiveValue::Set;
    let mut m = c.clone().into_active_model();
    m.registration_access_token_hash = Set(Some(token_hash));
    update(db, m).await
}

/// What [`set_auth_method`] does to the client secret.
pub enum SecretChange {
    Keep,
    /// `Some((digest, last4))`: a new secret; `None`: no secret any more (and no previous
    /// one in an overlap).
    Set(Option<(String, String)>),
}

/// Change a client's `token_endpoint_auth_method`, its keys and, with it, its secret.
pub async fn set_auth_method(
    db: &impl ConnectionTrait,
    c: &client::Model,
    method: String,
    jwks: Option<String>,
    jwks_uri: Option<String>,
    secret: SecretChange,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<client::Model, StoreError> {
    use sea_orm::ActiveValue::Set;
    let mut m = c.clone().into_active_model();
    m.token_endpoint_auth_method = Set(method);
    m.jwks = Set(jwks);
    m.jwks_uri = Set(jwks_uri);
    if let SecretChange::Set(s) = secret {
        let (hash, last4) = s.unzip();
        if hash.is_some() {
            m.secret_rotated_at = Set(Some(now));
        }
        m.secret_hash = Set(hash);
        m.secret_last4 = Set(last4);
        m.previous_secret_hash = Set(None);
        m.previous_secret_expires_at = Set(None);
    }
    m.updated_at = Set(now);
    update(db, m).await
}
