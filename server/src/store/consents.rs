//! Consents: the scopes a user granted to a client.

use entity::consent::{self, Column, Entity};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};

use super::StoreError;

pub async fn find(
    db: &impl ConnectionTrait,
    user_id: &str,
    client_id: &str,
) -> Result<Option<consent::Model>, StoreError> {
    Ok(Entity::find()
        .filter(Column::UserId.eq(user_id))
        .filter(Column::ClientId.eq(client_id))
        .one(db)
        .await?)
}

/// Record a grant of `scope` (space-separated), replacing an earlier or revoked one.
pub async fn grant(
    db: &impl ConnectionTrait,
    user_id: &str,
    client_id: &str,
    scope: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(), StoreError> {
    match find(db, user_id, client_id).await? {
        Some(existing) => {
            Entity::update_many()
                .col_expr(Column::Scope, Expr::value(scope.to_owned()))
                .col_expr(Column::UpdatedAt, Expr::value(now))
                .col_expr(
                    Column::RevokedAt,
                    Expr::value(Option::<chrono::DateTime<chrono::Utc>>::None),
                )
                .filter(Column::Id.eq(existing.id))
                .exec(db)
                .await?;
        }
        None => {
            let m = consent::ActiveModel {
                id: Set(crate::crypto::new_id("consent")),
                user_id: Set(user_id.to_owned()),
                client_id: Set(client_id.to_owned()),
                scope: Set(scope.to_owned()),
                created_at: Set(now),
                updated_at: Set(now),
                revoked_at: Set(None),
            };
            Entity::insert(m).exec_without_returning(db).await?;
        }
    }
    Ok(())
}

/// A user's live consents with the client each one is for, newest first.
pub async fn for_user(
    db: &impl ConnectionTrait,
    user_id: &str,
) -> Result<Vec<(consent::Model, Option<entity::client::Model>)>, StoreError> {
    use sea_orm::QueryOrder;
    Ok(Entity::find()
        .find_also_related(entity::client::Entity)
        .filter(Column::UserId.eq(user_id))
        .filter(Column::RevokedAt.is_null())
        .order_by_desc(Column::UpdatedAt)
        .all(db)
        .await?)
}

/// Withdraw a consent: mark it revoked and revoke every grant the client holds for the
/// user (refresh-token families and the access tokens they and their codes issued), and
/// void the codes not yet redeemed, which would otherwise still buy a working token after
/// the withdrawal (RFC 6749 §4.1.2: a code is bound to the authorization it stands for).
pub async fn revoke(
    db: &impl ConnectionTrait,
    user_id: &str,
    client_id: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<bool, StoreError> {
    let r = Entity::update_many()
        .col_expr(Column::RevokedAt, Expr::value(now))
        .filter(Column::UserId.eq(user_id))
        .filter(Column::ClientId.eq(client_id))
        .filter(Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    super::codes::void_unredeemed(db, user_id, Some(client_id), None, now).await?;
    super::tokens::revoke_user_grants(db, user_id, Some(client_id), now).await?;
    Ok(r.rows_affected > 0)
}
