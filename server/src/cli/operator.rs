//! The operator's everyday commands (#15): users (`list`, `promote`, `demote`,
//! `set-password`, `disable`, `enable`) and clients (`list`, `show`, `rotate-secret`,
//! `update`, `delete`, `disable`, `enable`, `verify`, `unverify`). They call the same domain functions as the
//! dashboard and `/v1`, and each change is an audit event with `"via": "cli"`, filed under
//! the account it concerns (a client's owner).

use std::io::BufRead;

use serde_json::json;

use super::{ClientCommand, Failure, UserCommand, load_catalog};
use crate::audit::{AuditKind, Event};
use crate::config::Settings;
use crate::startup::connect_and_migrate;
use crate::store;

fn store_err(e: store::StoreError) -> Failure {
    Failure(1, e.to_string())
}

/// A password from stdin (`--password-stdin`), or a generated one (`true`: print it once).
pub(super) fn read_password(from_stdin: bool) -> Result<(String, bool), Failure> {
    if from_stdin {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(|e| Failure(1, format!("cannot read the password from stdin: {e}")))?;
        Ok((line.trim_end_matches(['\r', '\n']).to_owned(), false))
    } else {
        Ok((crate::crypto::random_base62(20), true))
    }
}

fn user_json(u: &entity::user::Model) -> serde_json::Value {
    json!({
        "id": u.id,
        "object": "user",
        "email": u.email,
        "admin": u.is_admin,
        "disabled": u.disabled_at.is_some(),
        "created": u.created_at.timestamp(),
    })
}

pub(super) fn client_json(c: &entity::client::Model) -> serde_json::Value {
    let list = |s: &str| store::words(s).map(str::to_owned).collect::<Vec<_>>();
    json!({
        "client_id": c.id,
        "object": "client",
        "name": c.name,
        "redirect_uris": list(&c.redirect_uris),
        "grant_types": list(&c.grant_types),
        "allowed_origins": crate::clients::origins::of(c),
        "scopes": list(&c.scopes),
        "livemode": c.livemode,
        "public": c.is_public,
        "first_party": c.first_party,
        "resource_server": c.resource_server,
        "owner": c.owner_id,
        "disabled": c.disabled_at.is_some(),
        "verified_at": c.verified_at.map(|t| t.timestamp()),
        "logo_uri": c.logo_uri,
        "client_uri": c.client_uri,
        "policy_uri": c.policy_uri,
        "tos_uri": c.tos_uri,
        "token_exchange_audiences": list(&c.token_exchange_audiences),
        "secret_last4": c.secret_last4,
        "previous_secret_expires": c.previous_secret_expires_at.map(|t| t.timestamp()),
        "token_endpoint_auth_method": c.token_endpoint_auth_method,
        "require_pushed_authorization_requests": c.require_par,
        "jwks_uri": c.jwks_uri,
        "created": c.created_at.timestamp(),
        // OIDC RP-Initiated Logout §3.1, Back-Channel Logout §2.2.
        "post_logout_redirect_uris": crate::clients::logout::post_logout_uris(c),
        "backchannel_logout_uri": c.backchannel_logout_uri,
        "backchannel_logout_session_required": c.backchannel_logout_session_required,
    })
}

/// Record a client change made here, under the client's owner (operator clients: none).
pub(super) async fn audit_client(
    db: &store::Db,
    kind: AuditKind,
    c: &entity::client::Model,
) -> Result<(), Failure> {
    Event::new(kind)
        .user_opt(c.owner_id.as_deref())
        .detail(json!({"client_id": c.id, "name": c.name, "livemode": c.livemode, "via": "cli"}))
        .record(db)
        .await
        .map_err(store_err)
}

async fn user_by_email(db: &store::Db, email: &str) -> Result<entity::user::Model, Failure> {
    store::users::by_email(db, email)
        .await
        .map_err(store_err)?
        .ok_or_else(|| Failure(2, format!("no user with email {email}")))
}

fn print_user(u: &entity::user::Model, json: bool, done: &str) {
    if json {
        println!("{}", user_json(u));
    } else {
        println!("{} ({}) {done}", u.email, u.id);
    }
}

pub(super) async fn user(command: UserCommand, settings: &Settings) -> Result<(), Failure> {
    let db = connect_and_migrate(settings, settings.migrate).await?;
    let now = crate::clock::Clock::system().now();
    // Caches of this process: another running instance sees the change within their TTL.
    let keys = crate::api_keys::KeyCache::default();
    let rows = store::RowCaches::default();
    let failed = super::user_failure;
    match command {
        UserCommand::Create { .. } => Err(Failure(1, "handled by run()".into())),
        UserCommand::List { json } => {
            let users = store::users::page(&db, 100_000, None)
                .await
                .map_err(store_err)?;
            if json {
                let data: Vec<_> = users.iter().map(user_json).collect();
                println!("{}", json!({"object": "list", "data": data}));
            } else {
                for u in users {
                    println!(
                        "{}  {:<40}  {:<5}  {}",
                        u.id,
                        u.email,
                        if u.is_admin { "admin" } else { "" },
                        if u.disabled_at.is_some() {
                            "disabled"
                        } else {
                            "active"
                        }
                    );
                }
            }
            Ok(())
        }
        UserCommand::Promote { email, json } => {
            let target = user_by_email(&db, &email).await?;
            let u = crate::users::set_admin(&db, None, &target, true)
                .await
                .map_err(failed)?;
            if !target.is_admin {
                audit_user(&db, AuditKind::UserAdminGranted, &u).await?;
            }
            print_user(&u, json, "is an admin");
            Ok(())
        }
        UserCommand::Demote { email, json } => {
            let target = user_by_email(&db, &email).await?;
            let u = crate::users::set_admin(&db, None, &target, false)
                .await
                .map_err(failed)?;
            if target.is_admin {
                audit_user(&db, AuditKind::UserAdminRevoked, &u).await?;
            }
            print_user(&u, json, "is not an admin");
            Ok(())
        }
        UserCommand::SetPassword {
            email,
            password_stdin,
            json,
        } => {
            let target = user_by_email(&db, &email).await?;
            let (password, generated) = read_password(password_stdin)?;
            let u = crate::users::reset_password(&db, &target, &password, now)
                .await
                .map_err(failed)?;
            audit_user(&db, AuditKind::PasswordChanged, &u).await?;
            if json {
                let mut v = user_json(&u);
                if generated {
                    v["password"] = json!(password);
                }
                println!("{v}");
            } else {
                println!(
                    "{} ({}) has a new password; their sessions and app grants ended",
                    u.email, u.id
                );
                if generated {
                    println!("Password (shown once): {password}");
                }
            }
            Ok(())
        }
        UserCommand::ResetLink { email, json } => {
            // The same link a mail would carry (`users::links`): single use, 30 minutes on
            // the server's clock, stored as its digest; for servers without mail.
            let target = user_by_email(&db, &email).await?;
            if target.disabled_at.is_some() {
                return Err(Failure(2, format!("{} is disabled", target.email)));
            }
            let token = crate::users::links::issue(
                &db,
                &target,
                crate::users::links::Purpose::PasswordReset,
                now,
            )
            .await
            .map_err(store_err)?;
            let link = crate::users::links::link(
                &settings.issuer,
                crate::users::links::Purpose::PasswordReset,
                &token,
            );
            crate::audit::Event::new(AuditKind::PasswordResetRequested)
                .user(&target.id)
                .detail(json!({"via": "cli"}))
                .record(&db)
                .await
                .map_err(store_err)?;
            let expires = now + crate::users::links::RESET_TTL;
            if json {
                println!(
                    "{}",
                    json!({"link": link, "expires_at": expires.timestamp(), "email": target.email})
                );
            } else {
                println!("{link}");
                eprintln!(
                    "Single use, valid until {}. Give it to {} only.",
                    expires.to_rfc3339(),
                    target.email
                );
            }
            Ok(())
        }
        UserCommand::Disable { email, json } => {
            let target = user_by_email(&db, &email).await?;
            let u = crate::users::set_disabled(&db, &keys, &rows, None, &target, true, now)
                .await
                .map_err(failed)?;
            if target.disabled_at.is_none() {
                audit_user(&db, AuditKind::UserDisabled, &u).await?;
            }
            print_user(&u, json, "is disabled");
            Ok(())
        }
        UserCommand::Enable { email, json } => {
            let target = user_by_email(&db, &email).await?;
            let u = crate::users::set_disabled(&db, &keys, &rows, None, &target, false, now)
                .await
                .map_err(failed)?;
            if target.disabled_at.is_some() {
                audit_user(&db, AuditKind::UserEnabled, &u).await?;
            }
            print_user(&u, json, "is enabled");
            Ok(())
        }
        UserCommand::Delete { email, json } => {
            let target = user_by_email(&db, &email).await?;
            match crate::users::lifecycle::delete_account(&db, &keys, &rows, &target, now).await {
                Ok(()) => {}
                Err(e @ crate::users::lifecycle::DeleteError::LastAdmin) => {
                    return Err(Failure(2, e.to_string()));
                }
                Err(crate::users::lifecycle::DeleteError::Store(e)) => return Err(store_err(e)),
            }
            Event::new(AuditKind::AccountDeleted)
                .user(&target.id)
                .detail(json!({"by": "the operator", "via": "cli"}))
                .record(&db)
                .await
                .map_err(store_err)?;
            if json {
                println!(
                    "{}",
                    json!({"id": target.id, "object": "user", "deleted": true})
                );
            } else {
                println!(
                    "{} ({}) was deleted with its keys, apps, grants and sessions",
                    target.email, target.id
                );
            }
            Ok(())
        }
    }
}

async fn audit_user(
    db: &store::Db,
    kind: AuditKind,
    u: &entity::user::Model,
) -> Result<(), Failure> {
    Event::new(kind)
        .user(&u.id)
        .detail(json!({"by": "the operator", "via": "cli"}))
        .record(db)
        .await
        .map_err(store_err)
}

async fn client_by_id(db: &store::Db, id: &str) -> Result<entity::client::Model, Failure> {
    store::clients::by_id(db, id)
        .await
        .map_err(store_err)?
        .ok_or_else(|| Failure(2, format!("no client with id {id}")))
}

fn client_failure(e: crate::clients::ClientError) -> Failure {
    match e {
        crate::clients::ClientError::Store(s) => Failure(1, s.to_string()),
        other => Failure(2, other.to_string()),
    }
}

fn print_client(c: &entity::client::Model, json: bool, done: &str) {
    if json {
        println!("{}", client_json(c));
    } else {
        println!("{} ({}) {done}", c.id, c.name);
    }
}

pub(super) async fn client(command: ClientCommand, settings: &Settings) -> Result<(), Failure> {
    let db = connect_and_migrate(settings, settings.migrate).await?;
    let now = crate::clock::Clock::system().now();
    let rows = store::RowCaches::default();
    match command {
        ClientCommand::Create(_) => Err(Failure(1, "handled by run()".into())),
        ClientCommand::RegistrationToken { expires_in, json } => {
            use crate::clients::registration;
            let ttl = registration::parse_ttl(&expires_in).ok_or_else(|| {
                Failure(
                    2,
                    format!(
                        "invalid --expires-in {expires_in:?}: use seconds or a number with m, h or d, from 60 s to 30 d"
                    ),
                )
            })?;
            let (token, row) = registration::mint_iat(&db, None, ttl, now)
                .await
                .map_err(|e| Failure(1, e.to_string()))?;
            Event::new(AuditKind::RegistrationTokenCreated)
                .detail(json!({"expires_in": ttl, "via": "cli"}))
                .record(&db)
                .await
                .map_err(store_err)?;
            if json {
                println!(
                    "{}",
                    json!({"token": token, "expires_at": row.expires_at.timestamp()})
                );
            } else {
                println!(
                    "Initial access token (shown once, single use, expires {}):\n{token}",
                    row.expires_at.to_rfc3339()
                );
            }
            Ok(())
        }
        ClientCommand::List {
            owner,
            operator,
            json,
        } => {
            let owner_id = match &owner {
                Some(email) => Some(user_by_email(&db, email).await?.id),
                None => None,
            };
            let which = match (&owner_id, operator) {
                (Some(id), _) => store::clients::Owner::User(id),
                (None, true) => store::clients::Owner::Operator,
                (None, false) => store::clients::Owner::Anyone,
            };
            let list = store::clients::page(&db, which, None, 100_000, None)
                .await
                .map_err(store_err)?;
            if json {
                let data: Vec<_> = list.iter().map(client_json).collect();
                println!("{}", json!({"object": "list", "data": data}));
            } else {
                for c in list {
                    println!(
                        "{}  {:<30}  {:<12}  {:<4}  {}",
                        c.id,
                        c.name,
                        if c.is_public {
                            "public"
                        } else {
                            "confidential"
                        },
                        if c.livemode { "live" } else { "test" },
                        if c.disabled_at.is_some() {
                            "disabled"
                        } else {
                            "active"
                        }
                    );
                }
            }
            Ok(())
        }
        ClientCommand::Show { id, json } => {
            let c = client_by_id(&db, &id).await?;
            if json {
                println!("{}", client_json(&c));
            } else {
                let v = client_json(&c);
                if let Some(o) = v.as_object() {
                    for (k, val) in o {
                        println!("{k:<16} {val}");
                    }
                }
            }
            Ok(())
        }
        ClientCommand::RotateSecret {
            id,
            expire_old_in,
            json,
        } => {
            let Some(overlap) = crate::api_keys::parse_roll_expiry(&expire_old_in) else {
                return Err(Failure(
                    2,
                    format!(
                        "--expire-old-in must be now, 1h, 24h, 7d or 0 to 604800 seconds, not {expire_old_in:?}"
                    ),
                ));
            };
            let c = client_by_id(&db, &id).await?;
            let (c, secret) = crate::clients::rotate_secret(&db, &rows, &c, overlap, now)
                .await
                .map_err(client_failure)?;
            audit_client(&db, AuditKind::ClientSecretRotated, &c).await?;
            if json {
                let mut v = client_json(&c);
                v["client_secret"] = json!(secret);
                println!("{v}");
            } else {
                println!("client_id:     {}", c.id);
                if overlap == 0 {
                    println!(
                        "client_secret: {secret}   (shown once; the old secret no longer works)"
                    );
                } else {
                    println!(
                        "client_secret: {secret}   (shown once; the old secret works for {overlap} more seconds)"
                    );
                }
            }
            Ok(())
        }
        ClientCommand::Update {
            id,
            name,
            redirect_uris,
            scopes,
            metadata,
            exchange_audiences,
            require_par,
            jwks,
            jwks_uri,
            grant_types,
            logout,
            public,
            confidential,
            json,
        } => {
            let c = client_by_id(&db, &id).await?;
            let m = metadata;
            let logout = logout.change();
            // The type on its own (`clients::kind`), as on /v1: a refused other change never
            // leaves a secret nobody saw.
            if public || confidential {
                let alone = require_par.is_none()
                    && grant_types.is_empty()
                    && jwks.is_none()
                    && jwks_uri.is_none()
                    && name.is_none()
                    && redirect_uris.is_empty()
                    && scopes.is_empty()
                    && exchange_audiences.is_empty()
                    && m.logo_uri.is_none()
                    && m.client_uri.is_none()
                    && m.policy_uri.is_none()
                    && m.tos_uri.is_none()
                    && m.allowed_origins.is_empty()
                    && logout.is_empty();
                if !alone {
                    return Err(Failure(
                        2,
                        "--public and --confidential change the type on their own: make the other changes with another `client update`".into(),
                    ));
                }
                let (c2, secret) = crate::clients::kind::set_public(&db, &rows, &c, public)
                    .await
                    .map_err(client_failure)?;
                if c2.is_public != c.is_public {
                    audit_client(&db, AuditKind::ClientUpdated, &c2).await?;
                }
                match (json, secret) {
                    (true, secret) => {
                        let mut v = client_json(&c2);
                        if let Some(s) = secret {
                            v["client_secret"] = json!(s);
                        }
                        println!("{v}");
                    }
                    (false, Some(secret)) => {
                        println!("client_id:     {} (confidential now)", c2.id);
                        println!("client_secret: {secret}   (shown once)");
                    }
                    (false, None) => print_client(
                        &c2,
                        false,
                        if c2.is_public {
                            "is public"
                        } else {
                            "unchanged"
                        },
                    ),
                }
                return Ok(());
            }
            let jwks = match &jwks {
                Some(path) => Some(
                    std::fs::read_to_string(path)
                        .map_err(|e| Failure(2, format!("cannot read {}: {e}", path.display())))?,
                ),
                None => None,
            };
            if require_par.is_none()
                && grant_types.is_empty()
                && jwks.is_none()
                && jwks_uri.is_none()
                && name.is_none()
                && redirect_uris.is_empty()
                && scopes.is_empty()
                && exchange_audiences.is_empty()
                && m.logo_uri.is_none()
                && m.client_uri.is_none()
                && m.policy_uri.is_none()
                && m.tos_uri.is_none()
                && m.allowed_origins.is_empty()
                && logout.is_empty()
            {
                return Err(Failure(
                    2,
                    "nothing to change: give --name, --grant-type, --redirect-uri, --scope, --logo-uri, \
                     --client-uri, --policy-uri, --tos-uri, --exchange-audience, --require-par, \
                     --allowed-origin, --jwks, --jwks-uri, --post-logout-redirect-uri or \
                     --backchannel-logout-uri"
                        .into(),
                ));
            }
            logout.validate().map_err(client_failure)?;
            let catalog = load_catalog(&db, settings).await?;
            let logos = crate::clients::logo::Fetcher::for_issuer(&settings.issuer);
            let u = crate::clients::ClientUpdate {
                grant_types: (!grant_types.is_empty()).then_some(grant_types),
                require_par,
                jwks,
                jwks_uri,
                name,
                redirect_uris: (!redirect_uris.is_empty()).then_some(redirect_uris),
                scopes: (!scopes.is_empty()).then_some(scopes),
                logo_uri: m.logo_uri,
                client_uri: m.client_uri,
                policy_uri: m.policy_uri,
                tos_uri: m.tos_uri,
                allowed_origins: (!m.allowed_origins.is_empty()).then_some(m.allowed_origins),
            };
            if !exchange_audiences.is_empty() {
                crate::clients::check_exchange_audiences(&catalog, &exchange_audiences)
                    .map_err(client_failure)?;
            }
            let mut c = crate::clients::update(&db, &catalog, &rows, &logos, &c, u)
                .await
                .map_err(client_failure)?;
            if !exchange_audiences.is_empty() {
                c = crate::clients::set_exchange_audiences(
                    &db,
                    &catalog,
                    &rows,
                    &c,
                    &exchange_audiences,
                )
                .await
                .map_err(client_failure)?;
            }
            let c = crate::clients::logout::set_logout(&db, &rows, &c, &logout)
                .await
                .map_err(client_failure)?;
            audit_client(&db, AuditKind::ClientUpdated, &c).await?;
            print_client(&c, json, "updated");
            Ok(())
        }
        ClientCommand::Delete { id, json } => {
            let c = client_by_id(&db, &id).await?;
            crate::clients::delete(&db, &rows, &c)
                .await
                .map_err(store_err)?;
            audit_client(&db, AuditKind::ClientDeleted, &c).await?;
            if json {
                println!(
                    "{}",
                    json!({"client_id": c.id, "object": "client", "deleted": true})
                );
            } else {
                println!("{} ({}) deleted; its tokens no longer work", c.id, c.name);
            }
            Ok(())
        }
        ClientCommand::Disable { id, json } => {
            let before = client_by_id(&db, &id).await?;
            let c = crate::clients::set_disabled(&db, &rows, &before, true, now)
                .await
                .map_err(store_err)?;
            if before.disabled_at.is_none() {
                audit_client(&db, AuditKind::ClientDisabled, &c).await?;
            }
            print_client(&c, json, "is disabled");
            Ok(())
        }
        ClientCommand::Verify { id, json } => set_verified(&db, &rows, &id, true, now, json).await,
        ClientCommand::Unverify { id, json } => {
            set_verified(&db, &rows, &id, false, now, json).await
        }
        ClientCommand::Enable { id, json } => {
            let before = client_by_id(&db, &id).await?;
            let c = crate::clients::set_disabled(&db, &rows, &before, false, now)
                .await
                .map_err(store_err)?;
            if before.disabled_at.is_some() {
                audit_client(&db, AuditKind::ClientEnabled, &c).await?;
            }
            print_client(&c, json, "is enabled");
            Ok(())
        }
    }
}

/// `client verify` / `client unverify`: an event only when the mark changes.
async fn set_verified(
    db: &store::Db,
    rows: &store::RowCaches,
    id: &str,
    verify: bool,
    now: chrono::DateTime<chrono::Utc>,
    json: bool,
) -> Result<(), Failure> {
    let before = client_by_id(db, id).await?;
    let c = crate::clients::set_verified(db, rows, &before, verify, now)
        .await
        .map_err(store_err)?;
    if before.verified_at.is_some() != verify {
        let kind = if verify {
            AuditKind::ClientVerified
        } else {
            AuditKind::ClientUnverified
        };
        audit_client(db, kind, &c).await?;
    }
    let trust = crate::clients::trust(db, rows, &c)
        .await
        .map_err(store_err)?;
    let done = match (verify, trust.verified) {
        (true, _) => "is verified",
        (false, true) => {
            "is no longer marked verified (it still counts as verified: the operator or an \
             admin registered it)"
        }
        (false, false) => "is no longer verified",
    };
    print_client(&c, json, done);
    Ok(())
}
