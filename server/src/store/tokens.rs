//! Refresh tokens (families, rotation, revocation) and the access-token deny list.
//!
//! A family's first token (the one a code exchange issued, `parent_id IS NULL`) stands for
//! the family: its `revoked_at` is the family's. Every revocation sets it before anything
//! else and every rotation checks it in its own atomic statement ([`hold_live_family`]), so
//! the two serialise on that row: on PostgreSQL by its row lock, on SQLite by the write lock.
//! A rotation either commits before the revocation reads the family (and its successor is
//! revoked and its access token deny-listed with the rest) or finds the family revoked
//! (issue #16, defect 1).

use chrono::{DateTime, Utc};
use entity::refresh_token::{self, Column, Entity};
use entity::revoked_token;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter,
    QuerySelect,
};

use super::StoreError;

pub async fn insert(db: &impl ConnectionTrait, m: refresh_token::Model) -> Result<(), StoreError> {
    Entity::insert(m.into_active_model())
        .exec_without_returning(db)
        .await?;
    Ok(())
}

pub async fn by_hash(
    db: &impl ConnectionTrait,
    token_hash: &str,
) -> Result<Option<refresh_token::Model>, StoreError> {
    Ok(Entity::find()
        .filter(Column::TokenHash.eq(token_hash))
        .one(db)
        .await?)
}

/// For a rotation, inside its write transaction and before [`mark_rotated`]: lock the
/// family's first token until the transaction ends, provided the family is not revoked.
/// `false` when it is (or a revocation holding it commits first). A revocation that starts
/// while the lock is held waits for the commit, so it sees the successor.
pub async fn hold_live_family(
    db: &impl ConnectionTrait,
    family_id: &str,
) -> Result<bool, StoreError> {
    let r = Entity::update_many()
        // A write that changes nothing: the row lock is the point.
        .col_expr(Column::RevokedAt, Expr::col(Column::RevokedAt))
        .filter(Column::FamilyId.eq(family_id))
        .filter(Column::ParentId.is_null())
        .filter(Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(r.rows_affected == 1)
}

/// Mark a live token rotated. Atomic: of concurrent callers exactly one gets `true`.
pub async fn mark_rotated(
    db: &impl ConnectionTrait,
    id: &str,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let r = Entity::update_many()
        .col_expr(Column::RotatedAt, Expr::value(now))
        .filter(Column::Id.eq(id))
        .filter(Column::RotatedAt.is_null())
        .filter(Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(r.rows_affected == 1)
}

/// The family's live token (neither rotated nor revoked), if any.
pub async fn live_in_family(
    db: &impl ConnectionTrait,
    family_id: &str,
) -> Result<Option<refresh_token::Model>, StoreError> {
    Ok(Entity::find()
        .filter(Column::FamilyId.eq(family_id))
        .filter(Column::RotatedAt.is_null())
        .filter(Column::RevokedAt.is_null())
        .one(db)
        .await?)
}

/// Revoke every token of a family and deny-list the access tokens they issued.
/// Returns how many refresh tokens were still unrevoked.
///
/// The family's first token is revoked first (see the module docs): from then on no
/// rotation of the family commits, and one that held it has committed, so the access
/// tokens read next include its successor's. Correct in autocommit too; callers that can
/// pass a write transaction make it all-or-nothing.
pub async fn revoke_family(
    db: &impl ConnectionTrait,
    family_id: &str,
    now: DateTime<Utc>,
) -> Result<u64, StoreError> {
    let first = Entity::update_many()
        .col_expr(Column::RevokedAt, Expr::value(now))
        .filter(Column::FamilyId.eq(family_id))
        .filter(Column::ParentId.is_null())
        .filter(Column::RevokedAt.is_null())
        .exec(db)
        .await?
        .rows_affected;
    let jtis: Vec<(String, DateTime<Utc>)> = Entity::find()
        .select_only()
        .column(Column::AccessTokenJti)
        .column(Column::AccessTokenExpiresAt)
        .filter(Column::FamilyId.eq(family_id))
        .filter(Column::AccessTokenExpiresAt.gt(now))
        .into_tuple()
        .all(db)
        .await?;
    for (jti, exp) in jtis {
        deny(db, &jti, exp, now).await?;
    }
    let r = Entity::update_many()
        .col_expr(Column::RevokedAt, Expr::value(now))
        .filter(Column::FamilyId.eq(family_id))
        .filter(Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(first + r.rows_affected)
}

/// Put an access token's `jti` on the deny list until it would have expired, with every
/// token exchanged from it (RFC 8693: as subject or actor, and down the chain), so each
/// revocation path (RFC 7009, families, consent, password, disabled accounts) reaches them.
pub async fn deny(
    db: &impl ConnectionTrait,
    jti: &str,
    expires_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    deny_one(db, jti, expires_at, now).await?;
    deny_derived(db, jti, now).await
}

/// Deny-list everything exchanged from `id` (an access token's `jti`, or an API key's id),
/// transitively. The deny-list row of each is written before its own derivations are read,
/// so an exchange racing it either is seen here or sees the row (see
/// `token::grants::token_exchange`).
pub async fn deny_derived(
    db: &impl ConnectionTrait,
    id: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let mut todo = vec![id.to_owned()];
    // A chain is short, and each token is visited once (a bound against a cycle that
    // cannot happen: a token is recorded only after the one it derives from exists).
    let mut seen = std::collections::HashSet::new();
    while let Some(parent) = todo.pop() {
        if !seen.insert(parent.clone()) {
            continue;
        }
        for (child, exp) in super::exchanged_tokens::derived_from(db, &parent, now).await? {
            deny_one(db, &child, exp, now).await?;
            todo.push(child);
        }
    }
    Ok(())
}

async fn deny_one(
    db: &impl ConnectionTrait,
    jti: &str,
    expires_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let m = revoked_token::ActiveModel {
        jti: Set(jti.to_owned()),
        expires_at: Set(expires_at),
        revoked_at: Set(now),
    };
    revoked_token::Entity::insert(m)
        .on_conflict_do_nothing_on([revoked_token::Column::Jti])
        .exec_without_returning(db)
        .await?;
    // Every instance's replica ([`DenyList`]) picks it up within `DENY_SYNC`; the instance
    // that revoked calls [`DenyList::catch_up`] after its commit, so it takes effect there
    // at once.
    Ok(())
}

/// How often each instance copies new deny-list rows from the database: the delay after
/// which a revocation made on another instance takes effect here.
pub const DENY_SYNC: std::time::Duration = std::time::Duration::from_secs(1);

/// The in-memory replica of the deny list (`jti` → expiry), one per app instance (it lives
/// in `AppState`, so two instances in one process do not share it, as two processes do not).
/// Reading it costs no query on the hot paths (introspection, `/v1`, userinfo, sessions).
///
/// It syncs from a high-water mark: each pass copies the rows revoked since the start of the
/// last *successful* pass (less [`SYNC_OVERLAP`] for clock skew between instances), so a
/// database outage longer than any fixed window loses no revocation: the first pass after it
/// catches up on the whole gap (issue #16, defect 2).
#[derive(Default)]
pub struct DenyList {
    map: std::sync::RwLock<std::collections::HashMap<String, DateTime<Utc>>>,
    /// When the last successful pass started; `None` before the first (a full copy).
    synced_from: std::sync::Mutex<Option<DateTime<Utc>>>,
}

/// How far before the high-water mark each pass looks again: revocations are stamped by the
/// clock of the instance that made them, and a commit may land after a later stamp.
pub const SYNC_OVERLAP: chrono::TimeDelta = chrono::TimeDelta::seconds(10);

impl DenyList {
    fn write(
        &self,
    ) -> std::sync::RwLockWriteGuard<'_, std::collections::HashMap<String, DateTime<Utc>>> {
        self.map.write().unwrap_or_else(|e| e.into_inner())
    }

    pub fn contains(&self, jti: &str) -> bool {
        self.map
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .contains_key(jti)
    }

    /// Copy deny-list rows revoked since `since` (all live rows when `None`) into the replica.
    pub async fn sync(
        &self,
        db: &impl ConnectionTrait,
        since: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        let mut q = revoked_token::Entity::find()
            .select_only()
            .column(revoked_token::Column::Jti)
            .column(revoked_token::Column::ExpiresAt)
            .filter(revoked_token::Column::ExpiresAt.gt(now));
        if let Some(t) = since {
            q = q.filter(revoked_token::Column::RevokedAt.gte(t));
        }
        let rows: Vec<(String, DateTime<Utc>)> = q.into_tuple().all(db).await?;
        let n = rows.len();
        if n > 0 {
            let mut set = self.write();
            for (jti, exp) in rows {
                set.insert(jti, exp);
            }
        }
        Ok(n)
    }

    /// One pass from the high-water mark (a full copy the first time), at `now`; the mark
    /// moves only when the pass succeeds.
    pub async fn sync_pass(
        &self,
        db: &impl ConnectionTrait,
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        let mark = *self.synced_from.lock().unwrap_or_else(|e| e.into_inner());
        let n = self.sync(db, mark.map(|t| t - SYNC_OVERLAP), now).await?;
        let mut m = self.synced_from.lock().unwrap_or_else(|e| e.into_inner());
        if m.is_none_or(|t| t < now) {
            *m = Some(now);
        }
        Ok(n)
    }

    /// After a revocation this instance committed: a pass now, so the revocation takes
    /// effect here at once (one query; revocations are rare).
    pub async fn catch_up(&self, db: &impl ConnectionTrait) -> Result<(), StoreError> {
        self.sync_pass(db, super::now()).await.map(|_| ())
    }

    /// Forget entries whose tokens have expired anyway.
    pub fn prune(&self, now: DateTime<Utc>) {
        self.write().retain(|_, exp| *exp > now);
    }
}

/// Whether the deny list in the database holds `jti` (what every instance will converge to).
pub async fn is_denied_in_db(db: &impl ConnectionTrait, jti: &str) -> Result<bool, StoreError> {
    Ok(revoked_token::Entity::find_by_id(jti.to_owned())
        .one(db)
        .await?
        .is_some())
}

/// Delete rows that can no longer affect any decision.
pub async fn sweep(db: &impl ConnectionTrait, now: DateTime<Utc>) -> Result<(), StoreError> {
    revoked_token::Entity::delete_many()
        .filter(revoked_token::Column::ExpiresAt.lt(now))
        .exec(db)
        .await?;
    super::exchanged_tokens::sweep(db, now).await?;
    let day_ago = now - chrono::Duration::days(1);
    entity::authorization_code::Entity::delete_many()
        .filter(entity::authorization_code::Column::ExpiresAt.lt(day_ago))
        .exec(db)
        .await?;
    Entity::delete_many()
        .filter(Column::ExpiresAt.lt(day_ago))
        .exec(db)
        .await?;
    Ok(())
}

/// Revoke everything a user's authorizations issued (to one client, or to all): every
/// refresh-token family, and the access tokens issued from codes and refreshes, through
/// the deny list. Used when consent is withdrawn, the password changes, or the account is
/// disabled.
pub async fn revoke_user_grants(
    db: &impl ConnectionTrait,
    user_id: &str,
    client_id: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    use entity::authorization_code as code;
    // The families' first tokens before reading what they issued (see `revoke_family`).
    let mut first = Entity::update_many()
        .col_expr(Column::RevokedAt, Expr::value(now))
        .filter(Column::UserId.eq(user_id))
        .filter(Column::ParentId.is_null())
        .filter(Column::RevokedAt.is_null());
    if let Some(c) = client_id {
        first = first.filter(Column::ClientId.eq(c));
    }
    first.exec(db).await?;
    let mut rq = Entity::find()
        .select_only()
        .column(Column::AccessTokenJti)
        .column(Column::AccessTokenExpiresAt)
        .filter(Column::UserId.eq(user_id))
        .filter(Column::AccessTokenExpiresAt.gt(now));
    let mut cq = code::Entity::find()
        .select_only()
        .column(code::Column::AccessTokenJti)
        .column(code::Column::AccessTokenExpiresAt)
        .filter(code::Column::UserId.eq(user_id))
        .filter(code::Column::AccessTokenExpiresAt.gt(now));
    if let Some(c) = client_id {
        rq = rq.filter(Column::ClientId.eq(c));
        cq = cq.filter(code::Column::ClientId.eq(c));
    }
    let mut jtis: Vec<(Option<String>, Option<DateTime<Utc>>)> = rq
        .into_tuple::<(String, DateTime<Utc>)>()
        .all(db)
        .await?
        .into_iter()
        .map(|(j, e)| (Some(j), Some(e)))
        .collect();
    jtis.extend(
        cq.into_tuple::<(Option<String>, Option<DateTime<Utc>>)>()
            .all(db)
            .await?,
    );
    for (jti, exp) in jtis {
        if let (Some(jti), Some(exp)) = (jti, exp) {
            deny(db, &jti, exp, now).await?;
        }
    }
    let mut u = Entity::update_many()
        .col_expr(Column::RevokedAt, Expr::value(now))
        .filter(Column::UserId.eq(user_id))
        .filter(Column::RevokedAt.is_null());
    if let Some(c) = client_id {
        u = u.filter(Column::ClientId.eq(c));
    }
    u.exec(db).await?;
    Ok(())
}

/// Revoke everything issued to a client for any user (before the client is deleted): the
/// access tokens its codes and refresh tokens issued go on the deny list, and its refresh
/// tokens are revoked. (Client-credentials tokens are not recorded; they end at expiry.)
pub async fn revoke_client_grants(
    db: &impl ConnectionTrait,
    client_id: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    use entity::authorization_code as code;
    // The families' first tokens before reading what they issued (see `revoke_family`).
    Entity::update_many()
        .col_expr(Column::RevokedAt, Expr::value(now))
        .filter(Column::ClientId.eq(client_id))
        .filter(Column::ParentId.is_null())
        .filter(Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    let mut jtis: Vec<(Option<String>, Option<DateTime<Utc>>)> = Entity::find()
        .select_only()
        .column(Column::AccessTokenJti)
        .column(Column::AccessTokenExpiresAt)
        .filter(Column::ClientId.eq(client_id))
        .filter(Column::AccessTokenExpiresAt.gt(now))
        .into_tuple::<(String, DateTime<Utc>)>()
        .all(db)
        .await?
        .into_iter()
        .map(|(j, e)| (Some(j), Some(e)))
        .collect();
    jtis.extend(
        code::Entity::find()
            .select_only()
            .column(code::Column::AccessTokenJti)
            .column(code::Column::AccessTokenExpiresAt)
            .filter(code::Column::ClientId.eq(client_id))
            .filter(code::Column::AccessTokenExpiresAt.gt(now))
            .into_tuple::<(Option<String>, Option<DateTime<Utc>>)>()
            .all(db)
            .await?,
    );
    for (jti, exp) in jtis {
        if let (Some(jti), Some(exp)) = (jti, exp) {
            deny(db, &jti, exp, now).await?;
        }
    }
    Entity::update_many()
        .col_expr(Column::RevokedAt, Expr::value(now))
        .filter(Column::ClientId.eq(client_id))
        .filter(Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(())
}

/// Revoke the grants made while one browser session was signed in (its `auth_time`): the
/// refresh-token families, the access tokens minted by code exchanges (recorded on the
/// code row, which carries the session's `auth_time`; clients without a refresh grant hold
/// nothing else), and the codes not yet redeemed. RFC 9700 §4.14.2 / SECURITY.md R5.
pub async fn revoke_session_grants(
    db: &impl ConnectionTrait,
    user_id: &str,
    auth_time: i64,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    use entity::authorization_code as code;
    let Some(at) = DateTime::from_timestamp(auth_time, 0) else {
        return Ok(());
    };
    super::codes::void_unredeemed(db, user_id, None, Some(at), now).await?;
    let code_jtis: Vec<(Option<String>, Option<DateTime<Utc>>)> = code::Entity::find()
        .select_only()
        .column(code::Column::AccessTokenJti)
        .column(code::Column::AccessTokenExpiresAt)
        .filter(code::Column::UserId.eq(user_id))
        .filter(code::Column::AuthTime.eq(at))
        .filter(code::Column::AccessTokenExpiresAt.gt(now))
        .into_tuple()
        .all(db)
        .await?;
    for (jti, exp) in code_jtis {
        if let (Some(jti), Some(exp)) = (jti, exp) {
            deny(db, &jti, exp, now).await?;
        }
    }
    let families: Vec<String> = Entity::find()
        .select_only()
        .column(Column::FamilyId)
        .filter(Column::UserId.eq(user_id))
        .filter(Column::AuthTime.eq(at))
        .filter(Column::RevokedAt.is_null())
        .distinct()
        .into_tuple()
        .all(db)
        .await?;
    for f in families {
        revoke_family(db, &f, now).await?;
    }
    Ok(())
}
