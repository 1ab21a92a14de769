//! The whole product's schema: users, clients, codes, refresh tokens, the access-token deny
//! list, consents, API keys, signing keys, audit events and idempotency records.
//! Every digest column has a unique index; lookups by owner and time have indexes.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

fn id(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col)
        .string_len(64)
        .not_null()
        .primary_key()
        .to_owned()
}
fn text(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col).text().not_null().to_owned()
}
fn text_null(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col).text().null().to_owned()
}
fn string(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col).string_len(255).not_null().to_owned()
}
fn string_null(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col).string_len(255).null().to_owned()
}
fn flag(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col)
        .boolean()
        .not_null()
        .default(false)
        .to_owned()
}
fn ts(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col)
        .timestamp_with_time_zone()
        .not_null()
        .to_owned()
}
fn ts_null(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col)
        .timestamp_with_time_zone()
        .null()
        .to_owned()
}
fn int(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col)
        .integer()
        .not_null()
        .default(0)
        .to_owned()
}

fn fk(
    name: &str,
    from: (impl IntoIden, impl IntoIden),
    to: (impl IntoIden, impl IntoIden),
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(name)
        .from(from.0, from.1)
        .to(to.0, to.1)
        .on_delete(ForeignKeyAction::Cascade)
        .to_owned()
}

fn index(name: &str, table: impl IntoIden, cols: &[&'static str]) -> IndexCreateStatement {
    let mut i = Index::create();
    i.name(name).table(table);
    for c in cols {
        i.col(Alias::new(*c));
    }
    i.to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(User::Table)
                .col(id(User::Id))
                .col(string(User::Email))
                .col(string(User::EmailNormalized).unique_key().to_owned())
                .col(text(User::PasswordHash))
                .col(string_null(User::Name))
                .col(flag(User::IsAdmin))
                .col(ts_null(User::DisabledAt))
                .col(ts(User::SessionsValidAfter))
                .col(int(User::FailedLoginCount))
                .col(ts_null(User::LockedUntil))
                .col(ts(User::CreatedAt))
                .col(ts(User::UpdatedAt))
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Client::Table)
                .col(id(Client::Id))
                .col(
                    ColumnDef::new(Client::SecretHash)
                        .string_len(64)
                        .null()
                        .unique_key()
                        .to_owned(),
                )
                .col(string_null(Client::SecretLast4))
                .col(string(Client::Name))
                .col(
                    ColumnDef::new(Client::OwnerId)
                        .string_len(64)
                        .null()
                        .to_owned(),
                )
                .col(text(Client::RedirectUris))
                .col(text(Client::GrantTypes))
                .col(text(Client::Scopes))
                .col(string(Client::TokenEndpointAuthMethod))
                .col(flag(Client::IsPublic))
                .col(flag(Client::FirstParty))
                .col(flag(Client::ResourceServer))
                .col(flag(Client::Livemode))
                .col(ts(Client::CreatedAt))
                .col(ts(Client::UpdatedAt))
                .col(ts_null(Client::SecretRotatedAt))
                .foreign_key(&mut fk(
                    "fk_client_owner",
                    (Client::Table, Client::OwnerId),
                    (User::Table, User::Id),
                ))
                .to_owned(),
        )
        .await?;
        m.create_index(index("idx_client_owner", Client::Table, &["owner_id"]))
            .await?;

        m.create_table(
            Table::create()
                .table(AuthorizationCode::Table)
                .col(id(AuthorizationCode::Id))
                .col(
                    ColumnDef::new(AuthorizationCode::CodeHash)
                        .string_len(64)
                        .not_null()
                        .unique_key()
                        .to_owned(),
                )
                .col(
                    ColumnDef::new(AuthorizationCode::ClientId)
                        .string_len(64)
                        .not_null()
                        .to_owned(),
                )
                .col(
                    ColumnDef::new(AuthorizationCode::UserId)
                        .string_len(64)
                        .not_null()
                        .to_owned(),
                )
                .col(text(AuthorizationCode::RedirectUri))
                .col(flag(AuthorizationCode::RedirectUriSent))
                .col(text(AuthorizationCode::Scope))
                .col(string_null(AuthorizationCode::CodeChallenge))
                .col(string_null(AuthorizationCode::CodeChallengeMethod))
                .col(text_null(AuthorizationCode::Nonce))
                .col(ts(AuthorizationCode::AuthTime))
                .col(ts(AuthorizationCode::CreatedAt))
                .col(ts(AuthorizationCode::ExpiresAt))
                .col(ts_null(AuthorizationCode::ConsumedAt))
                .col(
                    ColumnDef::new(AuthorizationCode::FamilyId)
                        .string_len(64)
                        .null()
                        .to_owned(),
                )
                .col(
                    ColumnDef::new(AuthorizationCode::AccessTokenJti)
                        .string_len(64)
                        .null()
                        .to_owned(),
                )
                .col(ts_null(AuthorizationCode::AccessTokenExpiresAt))
                .foreign_key(&mut fk(
                    "fk_code_client",
                    (AuthorizationCode::Table, AuthorizationCode::ClientId),
                    (Client::Table, Client::Id),
                ))
                .foreign_key(&mut fk(
                    "fk_code_user",
                    (AuthorizationCode::Table, AuthorizationCode::UserId),
                    (User::Table, User::Id),
                ))
                .to_owned(),
        )
        .await?;
        m.create_index(index(
            "idx_code_expires",
            AuthorizationCode::Table,
            &["expires_at"],
        ))
        .await?;

        m.create_table(
            Table::create()
                .table(RefreshToken::Table)
                .col(id(RefreshToken::Id))
                .col(
                    ColumnDef::new(RefreshToken::TokenHash)
                        .string_len(64)
                        .not_null()
                        .unique_key()
                        .to_owned(),
                )
                .col(
                    ColumnDef::new(RefreshToken::FamilyId)
                        .string_len(64)
                        .not_null()
                        .to_owned(),
                )
                .col(
                    ColumnDef::new(RefreshToken::ParentId)
                        .string_len(64)
                        .null()
                        .to_owned(),
                )
                .col(
                    ColumnDef::new(RefreshToken::ClientId)
                        .string_len(64)
                        .not_null()
                        .to_owned(),
                )
                .col(
                    ColumnDef::new(RefreshToken::UserId)
                        .string_len(64)
                        .not_null()
                        .to_owned(),
                )
                .col(text(RefreshToken::Scope))
                .col(ts(RefreshToken::AuthTime))
                .col(text_null(RefreshToken::Nonce))
                .col(flag(RefreshToken::Livemode))
                .col(
                    ColumnDef::new(RefreshToken::AccessTokenJti)
                        .string_len(64)
                        .not_null()
                        .to_owned(),
                )
                .col(ts(RefreshToken::AccessTokenExpiresAt))
                .col(ts(RefreshToken::CreatedAt))
                .col(ts(RefreshToken::ExpiresAt))
                .col(ts_null(RefreshToken::RotatedAt))
                .col(ts_null(RefreshToken::RevokedAt))
                .foreign_key(&mut fk(
                    "fk_refresh_client",
                    (RefreshToken::Table, RefreshToken::ClientId),
                    (Client::Table, Client::Id),
                ))
                .foreign_key(&mut fk(
                    "fk_refresh_user",
                    (RefreshToken::Table, RefreshToken::UserId),
                    (User::Table, User::Id),
                ))
                .to_owned(),
        )
        .await?;
        m.create_index(index(
            "idx_refresh_family",
            RefreshToken::Table,
            &["family_id"],
        ))
        .await?;
        m.create_index(index(
            "idx_refresh_user_client",
            RefreshToken::Table,
            &["user_id", "client_id"],
        ))
        .await?;

        m.create_table(
            Table::create()
                .table(RevokedToken::Table)
                .col(id(RevokedToken::Jti))
                .col(ts(RevokedToken::ExpiresAt))
                .col(ts(RevokedToken::RevokedAt))
                .to_owned(),
        )
        .await?;
        m.create_index(index(
            "idx_revoked_expires",
            RevokedToken::Table,
            &["expires_at"],
        ))
        .await?;

        m.create_table(
            Table::create()
                .table(Consent::Table)
                .col(id(Consent::Id))
                .col(
                    ColumnDef::new(Consent::UserId)
                        .string_len(64)
                        .not_null()
                        .to_owned(),
                )
                .col(
                    ColumnDef::new(Consent::ClientId)
                        .string_len(64)
                        .not_null()
                        .to_owned(),
                )
                .col(text(Consent::Scope))
                .col(ts(Consent::CreatedAt))
                .col(ts(Consent::UpdatedAt))
                .col(ts_null(Consent::RevokedAt))
                .foreign_key(&mut fk(
                    "fk_consent_user",
                    (Consent::Table, Consent::UserId),
                    (User::Table, User::Id),
                ))
                .foreign_key(&mut fk(
                    "fk_consent_client",
                    (Consent::Table, Consent::ClientId),
                    (Client::Table, Client::Id),
                ))
                .to_owned(),
        )
        .await?;
        m.create_index(
            index(
                "idx_consent_user_client",
                Consent::Table,
                &["user_id", "client_id"],
            )
            .unique()
            .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(ApiKey::Table)
                .col(id(ApiKey::Id))
                .col(
                    ColumnDef::new(ApiKey::KeyHash)
                        .string_len(64)
                        .not_null()
                        .unique_key()
                        .to_owned(),
                )
                .col(string(ApiKey::Prefix))
                .col(string(ApiKey::Last4))
                .col(flag(ApiKey::Livemode))
                .col(string(ApiKey::Name))
                .col(text(ApiKey::Scopes))
                .col(
                    ColumnDef::new(ApiKey::UserId)
                        .string_len(64)
                        .not_null()
                        .to_owned(),
                )
                .col(
                    ColumnDef::new(ApiKey::RateLimit)
                        .integer()
                        .null()
                        .to_owned(),
                )
                .col(ts(ApiKey::CreatedAt))
                .col(ts_null(ApiKey::LastUsedAt))
                .col(string_null(ApiKey::LastUsedIp))
                .col(ts_null(ApiKey::ExpiresAt))
                .col(ts_null(ApiKey::RevokedAt))
                .col(
                    ColumnDef::new(ApiKey::RolledTo)
                        .string_len(64)
                        .null()
                        .to_owned(),
                )
                .foreign_key(&mut fk(
                    "fk_api_key_user",
                    (ApiKey::Table, ApiKey::UserId),
                    (User::Table, User::Id),
                ))
                .to_owned(),
        )
        .await?;
        m.create_index(index(
            "idx_api_key_user",
            ApiKey::Table,
            &["user_id", "livemode"],
        ))
        .await?;

        m.create_table(
            Table::create()
                .table(SigningKey::Table)
                .col(id(SigningKey::Kid))
                .col(string(SigningKey::Alg))
                .col(text(SigningKey::PrivateKeyEnc))
                .col(text(SigningKey::PublicJwk))
                .col(ts(SigningKey::CreatedAt))
                .col(ts(SigningKey::ActiveFrom))
                .col(ts_null(SigningKey::RetiredAt))
                .col(ts_null(SigningKey::ExpiresAt))
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(AuditEvent::Table)
                .col(id(AuditEvent::Id))
                .col(ts(AuditEvent::CreatedAt))
                .col(
                    ColumnDef::new(AuditEvent::UserId)
                        .string_len(64)
                        .null()
                        .to_owned(),
                )
                .col(string_null(AuditEvent::Actor))
                .col(string(AuditEvent::Kind))
                .col(string(AuditEvent::Severity))
                .col(string_null(AuditEvent::Ip))
                .col(text_null(AuditEvent::UserAgent))
                .col(text(AuditEvent::Detail))
                .to_owned(),
        )
        .await?;
        m.create_index(index(
            "idx_audit_user",
            AuditEvent::Table,
            &["user_id", "id"],
        ))
        .await?;
        m.create_index(index(
            "idx_audit_created",
            AuditEvent::Table,
            &["created_at"],
        ))
        .await?;

        m.create_table(
            Table::create()
                .table(IdempotencyKey::Table)
                .col(id(IdempotencyKey::Id))
                .col(string(IdempotencyKey::Owner))
                .col(string(IdempotencyKey::Key))
                .col(string(IdempotencyKey::RequestHash))
                .col(int(IdempotencyKey::Status))
                .col(text(IdempotencyKey::Body))
                .col(ts(IdempotencyKey::CreatedAt))
                .to_owned(),
        )
        .await?;
        m.create_index(
            index(
                "idx_idempotency_owner_key",
                IdempotencyKey::Table,
                &["owner", "key"],
            )
            .unique()
            .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for t in [
            IdempotencyKey::Table.into_iden(),
            AuditEvent::Table.into_iden(),
            SigningKey::Table.into_iden(),
            ApiKey::Table.into_iden(),
            Consent::Table.into_iden(),
            RevokedToken::Table.into_iden(),
            RefreshToken::Table.into_iden(),
            AuthorizationCode::Table.into_iden(),
            Client::Table.into_iden(),
            User::Table.into_iden(),
        ] {
            m.drop_table(Table::drop().table(t).to_owned()).await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum User {
    Table,
    Id,
    Email,
    EmailNormalized,
    PasswordHash,
    Name,
    IsAdmin,
    DisabledAt,
    SessionsValidAfter,
    FailedLoginCount,
    LockedUntil,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Client {
    Table,
    Id,
    SecretHash,
    SecretLast4,
    Name,
    OwnerId,
    RedirectUris,
    GrantTypes,
    Scopes,
    TokenEndpointAuthMethod,
    IsPublic,
    FirstParty,
    ResourceServer,
    Livemode,
    CreatedAt,
    UpdatedAt,
    SecretRotatedAt,
}

#[derive(DeriveIden)]
enum AuthorizationCode {
    Table,
    Id,
    CodeHash,
    ClientId,
    UserId,
    RedirectUri,
    RedirectUriSent,
    Scope,
    CodeChallenge,
    CodeChallengeMethod,
    Nonce,
    AuthTime,
    CreatedAt,
    ExpiresAt,
    ConsumedAt,
    FamilyId,
    AccessTokenJti,
    AccessTokenExpiresAt,
}

#[derive(DeriveIden)]
enum RefreshToken {
    Table,
    Id,
    TokenHash,
    FamilyId,
    ParentId,
    ClientId,
    UserId,
    Scope,
    AuthTime,
    Nonce,
    Livemode,
    AccessTokenJti,
    AccessTokenExpiresAt,
    CreatedAt,
    ExpiresAt,
    RotatedAt,
    RevokedAt,
}

#[derive(DeriveIden)]
enum RevokedToken {
    Table,
    Jti,
    ExpiresAt,
    RevokedAt,
}

#[derive(DeriveIden)]
enum Consent {
    Table,
    Id,
    UserId,
    ClientId,
    Scope,
    CreatedAt,
    UpdatedAt,
    RevokedAt,
}

#[derive(DeriveIden)]
enum ApiKey {
    Table,
    Id,
    KeyHash,
    Prefix,
    Last4,
    Livemode,
    Name,
    Scopes,
    UserId,
    RateLimit,
    CreatedAt,
    LastUsedAt,
    LastUsedIp,
    ExpiresAt,
    RevokedAt,
    RolledTo,
}

#[derive(DeriveIden)]
enum SigningKey {
    Table,
    Kid,
    Alg,
    PrivateKeyEnc,
    PublicJwk,
    CreatedAt,
    ActiveFrom,
    RetiredAt,
    ExpiresAt,
}

#[derive(DeriveIden)]
enum AuditEvent {
    Table,
    Id,
    CreatedAt,
    UserId,
    Actor,
    Kind,
    Severity,
    Ip,
    UserAgent,
    Detail,
}

#[derive(DeriveIden)]
enum IdempotencyKey {
    Table,
    Id,
    Owner,
    Key,
    RequestHash,
    Status,
    Body,
    CreatedAt,
}
