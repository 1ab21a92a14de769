//! API keys: list (by mode), create, roll, rename, revoke: the same operations as
//! `/v1/api_keys`, on the same domain functions (`crate::api_keys`). A secret is shown once,
//! on the page that answers the create or roll POST.
//!
//! The create form is Stripe's restricted-key screen: "Secret key (full access)", or a
//! restricted key with None / Read / All for each API of the catalog. **Read** is the API's
//! scopes whose name ends in `read` (`read`, `invoices:read`, `reports.read`, `can_read`);
//! **All** is every scope of the API. Finer choices (the Latch API's `clients:read` forms)
//! are made with `/v1` or the CLI. Optional policies: expiry (days), a use cap, an IP
//! allowlist.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::json;

use super::format::{self, When, full, span};
use super::views::{self, Chrome, SecretItem};
use super::{Dash, PageQuery, paginate, see_other};
use crate::api_keys::{self, KeyError};
use crate::audit::AuditKind;
use crate::errors::HtmlError;
use crate::state::AppState;
use crate::store;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/dashboard/keys", web::get().to(list))
        .route("/dashboard/keys", web::post().to(create))
        .route("/dashboard/keys/new", web::get().to(new_form))
        .route("/dashboard/keys/{id}", web::get().to(show))
        .route("/dashboard/keys/{id}/rename", web::post().to(rename))
        .route("/dashboard/keys/{id}/roll", web::post().to(roll))
        .route("/dashboard/keys/{id}/revoke", web::get().to(confirm_revoke))
        .route("/dashboard/keys/{id}/revoke", web::post().to(revoke));
}

const PAGE: usize = 50;

#[derive(Deserialize)]
struct ListQuery {
    mode: Option<String>,
    all: Option<String>,
    starting_after: Option<String>,
}

fn is_live(mode: Option<&str>) -> bool {
    mode == Some("live")
}

fn mode_name(livemode: bool) -> &'static str {
    if livemode { "live" } else { "test" }
}

fn list_href(livemode: bool) -> String {
    format!("/dashboard/keys?mode={}", mode_name(livemode))
}

/// The signed-in person's key `id`, or 404 (never someone else's).
async fn owned(
    state: &AppState,
    dash: &Dash,
    id: &str,
) -> Result<entity::api_key::Model, HtmlError> {
    match store::api_keys::by_id(&state.db, id).await? {
        Some(k) if k.user_id == dash.user.id => Ok(k),
        _ => Err(HtmlError::not_found()),
    }
}

fn key_error(e: KeyError) -> HtmlError {
    match e {
        KeyError::Invalid(m, _) => HtmlError::bad_request(m),
        KeyError::Store(s) => s.into(),
    }
}

fn detail(k: &entity::api_key::Model) -> serde_json::Value {
    json!({"api_key": k.id, "name": k.name, "redacted": api_keys::redacted(k), "livemode": k.livemode})
}

async fn list(
    state: web::Data<AppState>,
    dash: Dash,
    q: web::Query<ListQuery>,
) -> Result<HttpResponse, HtmlError> {
    let livemode = is_live(q.mode.as_deref());
    let all = q.all.as_deref() == Some("1");
    let after = PageQuery {
        starting_after: q.starting_after.clone(),
    };
    let mut rows = store::api_keys::page(
        &state.db,
        &dash.user.id,
        Some(livemode),
        all,
        crate::cursor::fetch(PAGE as u64),
        after.after(),
    )
    .await?;
    let next = paginate(&mut rows, PAGE, |k| &k.id).map(|id| {
        format!(
            "mode={}{}&starting_after={id}",
            mode_name(livemode),
            if all { "&all=1" } else { "" }
        )
    });
    let now = state.clock.now();
    let catalog = state.catalog.get();
    let rows: Vec<KeyRow> = rows
        .iter()
        .map(|k| KeyRow::new(k, now).grouped(k, &catalog))
        .filter(|r| all || r.status != "expired")
        .collect();
    // Keys that stop working within 7 days: a banner at the top of the list.
    let expiring_soon: Vec<String> = rows
        .iter()
        .filter(|r| r.expires_within_week)
        .map(|r| r.name.clone())
        .collect();
    Ok(views::page(&KeysPage {
        c: dash.chrome("keys"),
        livemode,
        expiring_soon,
        rows,
        all,
        next_page: next,
    }))
}

#[derive(Deserialize)]
struct ModeQuery {
    mode: Option<String>,
}

async fn new_form(
    state: web::Data<AppState>,
    dash: Dash,
    q: web::Query<ModeQuery>,
) -> HttpResponse {
    views::render(
        StatusCode::OK,
        &KeyNewPage {
            c: dash.chrome("keys"),
            livemode: is_live(q.mode.as_deref()),
            name: String::new(),
            secret: true,
            apis: api_choices(&state.catalog.get(), &[]),
            expires_days: String::new(),
            remaining: String::new(),
            allowed_ips: String::new(),
            error: None,
        },
    )
}

/// Whether a scope counts as "Read" on the form: its name ends in `read`.
fn read_like(scope: &str) -> bool {
    scope.ends_with("read")
}

/// One API's row on the create form.
pub struct ApiChoice {
    pub id: String,
    pub name: String,
    pub identifier: String,
    pub read_scopes: Vec<String>,
    pub all_scopes: Vec<String>,
    /// `none`, `read` or `all`.
    pub choice: String,
}

fn api_choices(catalog: &crate::catalog::Snapshot, chosen: &[(String, String)]) -> Vec<ApiChoice> {
    catalog
        .apis()
        .iter()
        .filter(|a| !a.scopes.is_empty())
        .map(|a| {
            let all: Vec<String> = a.scopes.iter().map(|s| s.name.clone()).collect();
            ApiChoice {
                id: a.id.clone(),
                name: a.name.clone(),
                identifier: a.identifier.clone(),
                read_scopes: all.iter().filter(|s| read_like(s)).cloned().collect(),
                choice: chosen
                    .iter()
                    .find(|(k, _)| k.strip_prefix("access_") == Some(a.id.as_str()))
                    .map(|(_, v)| v.clone())
                    .unwrap_or_else(|| "none".into()),
                all_scopes: all,
            }
        })
        .collect()
}

fn field<'a>(form: &'a [(String, String)], name: &str) -> &'a str {
    form.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .unwrap_or("")
}

async fn create(
    req: HttpRequest,
    state: web::Data<AppState>,
    dash: Dash,
    form: web::Form<Vec<(String, String)>>,
) -> Result<HttpResponse, HtmlError> {
    let form = form.into_inner();
    dash.check(&req, &state, field(&form, "csrf"))?;
    let livemode = is_live(Some(field(&form, "mode")));
    let name = field(&form, "name").to_owned();
    let secret_kind = field(&form, "kind") != "restricted";
    let catalog = state.catalog.get();
    let apis = api_choices(&catalog, &form);
    let again = |error: String| {
        views::render(
            StatusCode::UNPROCESSABLE_ENTITY,
            &KeyNewPage {
                c: dash.chrome("keys"),
                livemode,
                name: name.clone(),
                secret: secret_kind,
                apis: api_choices(&catalog, &form),
                expires_days: field(&form, "expires_days").to_owned(),
                remaining: field(&form, "remaining").to_owned(),
                allowed_ips: field(&form, "allowed_ips").to_owned(),
                error: Some(error),
            },
        )
    };
    // A field naming an API the catalog does not have (removed meanwhile, or forged) is
    // refused by name, as unknown scopes are on `/v1` and the CLI.
    if let Some((k, _)) = form.iter().find(|(k, v)| {
        k.strip_prefix("access_").is_some_and(|id| {
            catalog.api(id).is_none() || !matches!(v.as_str(), "none" | "read" | "all")
        })
    }) {
        let id: String = k["access_".len()..].chars().take(64).collect();
        return Ok(again(format!("Unknown API or access level for “{id}”.")));
    }
    let mut scopes = Vec::new();
    if !secret_kind {
        for a in &apis {
            match a.choice.as_str() {
                "read" => scopes.extend(a.read_scopes.iter().cloned()),
                "all" => scopes.extend(a.all_scopes.iter().cloned()),
                _ => {}
            }
        }
        if scopes.is_empty() {
            return Ok(again(
                "Give a restricted key Read or All on at least one API.".into(),
            ));
        }
    }
    let now = state.clock.now();
    let expires_at = match field(&form, "expires_days").trim() {
        "" => None,
        d => match d.parse::<i64>().ok().filter(|n| (1..=366).contains(n)) {
            Some(n) => Some((now + chrono::Duration::days(n)).timestamp().to_string()),
            None => return Ok(again("Expiry must be 1 to 366 days.".into())),
        },
    };
    let remaining = field(&form, "remaining").trim().to_owned();
    let ips: Vec<String> = field(&form, "allowed_ips")
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    let policies = match api_keys::Policies::parse(
        |n| match n {
            "expires_at" => expires_at.clone(),
            "remaining" if !remaining.is_empty() => Some(remaining.clone()),
            _ => None,
        },
        (!ips.is_empty()).then_some(ips),
        None,
        now,
    ) {
        Ok(p) => p,
        Err(KeyError::Invalid(m, _)) => return Ok(again(capitalize(&m))),
        Err(e) => return Err(key_error(e)),
    };
    let created = api_keys::create(
        &state.db,
        &catalog,
        api_keys::NewKey {
            user_id: dash.user.id.clone(),
            livemode,
            name: name.clone(),
            scopes,
            policies,
        },
    )
    .await;
    let (key, secret) = match created {
        Ok(k) => k,
        Err(KeyError::Invalid(m, _)) => return Ok(again(capitalize(&m))),
        Err(e) => return Err(key_error(e)),
    };
    dash.audit(&state, &req, AuditKind::ApiKeyCreated, detail(&key))
        .await?;
    let row = KeyRow::new(&key, state.clock.now()).grouped(&key, &catalog);
    Ok(dash.show_once(
        &state,
        "keys",
        views::SecretBody {
            crumb: "API keys".into(),
            crumb_href: list_href(livemode),
            title: "Your new secret key".into(),
            lede: "Copy this key and store it somewhere safe, such as a secrets manager or an \
               environment variable."
                .into(),
            livemode,
            items: vec![SecretItem {
                id: "secret-key".into(),
                label: "Secret key".into(),
                value: secret,
                secret: true,
            }],
            details: vec![
                ("Name".into(), row.name),
                ("Mode".into(), if livemode { "Live" } else { "Test" }.into()),
                (
                    "Permissions".into(),
                    row.groups
                        .iter()
                        .map(|(api, s)| format!("{api}: {}", s.join(", ")))
                        .collect::<Vec<_>>()
                        .join("; "),
                ),
            ],
            note: None,
            done_href: list_href(livemode),
            done_label: "Done, I've saved it".into(),
        },
    ))
}

async fn show(
    state: web::Data<AppState>,
    dash: Dash,
    id: web::Path<String>,
) -> Result<HttpResponse, HtmlError> {
    let k = owned(&state, &dash, &id).await?;
    Ok(key_page(&state, &dash, &k, None, state.clock.now()))
}

fn key_page(
    state: &AppState,
    dash: &Dash,
    k: &entity::api_key::Model,
    error: Option<String>,
    now: chrono::DateTime<chrono::Utc>,
) -> HttpResponse {
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    views::render(
        status,
        &KeyPage {
            c: dash.chrome("keys"),
            key: KeyRow::new(k, now).grouped(k, &state.catalog.get()),
            rolled_to: k.rolled_to.clone(),
            name_value: k.name.clone(),
            error,
        },
    )
}

#[derive(Deserialize)]
struct RenameForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
}

async fn rename(
    req: HttpRequest,
    state: web::Data<AppState>,
    dash: Dash,
    id: web::Path<String>,
    form: web::Form<RenameForm>,
) -> Result<HttpResponse, HtmlError> {
    dash.check(&req, &state, &form.csrf)?;
    let k = owned(&state, &dash, &id).await?;
    let renamed = match api_keys::rename(&state.db, &k, &form.name).await {
        Ok(r) => r,
        Err(KeyError::Invalid(m, _)) => {
            return Ok(key_page(
                &state,
                &dash,
                &k,
                Some(capitalize(&m)),
                state.clock.now(),
            ));
        }
        Err(e) => return Err(key_error(e)),
    };
    state.keys.forget(&k.key_hash);
    let mut d = detail(&renamed);
    d["previous_name"] = json!(k.name);
    dash.audit(&state, &req, AuditKind::ApiKeyRenamed, d)
        .await?;
    dash.flash("Key renamed.");
    Ok(see_other(&format!("/dashboard/keys/{}", k.id)))
}

#[derive(Deserialize)]
struct RollForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    expires_in: String,
}

async fn roll(
    req: HttpRequest,
    state: web::Data<AppState>,
    dash: Dash,
    id: web::Path<String>,
    form: web::Form<RollForm>,
) -> Result<HttpResponse, HtmlError> {
    dash.check(&req, &state, &form.csrf)?;
    let k = owned(&state, &dash, &id).await?;
    let now = state.clock.now();
    if matches!(api_keys::status(&k, now), "revoked" | "expired") {
        return Ok(key_page(
            &state,
            &dash,
            &k,
            Some("A revoked or expired key cannot be rolled. Create a new key instead.".into()),
            now,
        ));
    }
    let Some(expires_in) = api_keys::parse_roll_expiry(&form.expires_in) else {
        return Ok(key_page(
            &state,
            &dash,
            &k,
            Some("Choose when the current key should stop working.".into()),
            now,
        ));
    };
    let (new, secret) = api_keys::roll(
        &state.db,
        &state.catalog.get(),
        &state.keys,
        &k,
        expires_in,
        now,
    )
    .await
    .map_err(key_error)?;
    let mut d = detail(&k);
    d["new_api_key"] = json!(new.id);
    d["expires_in"] = json!(expires_in);
    dash.audit(&state, &req, AuditKind::ApiKeyRolled, d).await?;
    let old = api_keys::redacted(&k);
    let note = if expires_in == 0 {
        format!("The old key {old} has stopped working.")
    } else {
        format!(
            "The old key {old} keeps working for {}, until {}. Deploy the new key before then.",
            format::span(expires_in),
            format::full(state.clock.now() + chrono::Duration::seconds(expires_in))
        )
    };
    Ok(dash.show_once(
        &state,
        "keys",
        views::SecretBody {
            crumb: "API keys".into(),
            crumb_href: list_href(new.livemode),
            title: "Key rolled".into(),
            lede: "Here is the replacement key. Copy it and update wherever the old key is used."
                .into(),
            livemode: new.livemode,
            items: vec![SecretItem {
                id: "secret-key".into(),
                label: "New secret key".into(),
                value: secret,
                secret: true,
            }],
            details: vec![
                ("Name".into(), new.name.clone()),
                (
                    "Mode".into(),
                    if new.livemode { "Live" } else { "Test" }.into(),
                ),
                (
                    "Permissions".into(),
                    KeyRow::new(&new, now)
                        .grouped(&new, &state.catalog.get())
                        .groups
                        .iter()
                        .map(|(api, s)| format!("{api}: {}", s.join(", ")))
                        .collect::<Vec<_>>()
                        .join("; "),
                ),
            ],
            note: Some(note),
            done_href: list_href(new.livemode),
            done_label: "Done, I've saved it".into(),
        },
    ))
}

async fn confirm_revoke(
    state: web::Data<AppState>,
    dash: Dash,
    id: web::Path<String>,
) -> Result<HttpResponse, HtmlError> {
    let k = owned(&state, &dash, &id).await?;
    if k.revoked_at.is_some() {
        return Ok(see_other(&format!("/dashboard/keys/{}", k.id)));
    }
    Ok(views::page(&views::ConfirmPage {
        c: dash.chrome("keys"),
        title: "Revoke this API key?".into(),
        message: "Requests made with this key will be refused right away (within a few seconds \
                  on every server). This cannot be undone."
            .into(),
        subject: vec![
            ("Name", k.name.clone()),
            ("Key", api_keys::redacted(&k)),
            ("Mode", if k.livemode { "Live" } else { "Test" }.into()),
        ],
        action: format!("/dashboard/keys/{}/revoke", k.id),
        button: "Revoke key",
        cancel_href: format!("/dashboard/keys/{}", k.id),
    }))
}

async fn revoke(
    req: HttpRequest,
    state: web::Data<AppState>,
    dash: Dash,
    id: web::Path<String>,
    form: web::Form<super::CsrfForm>,
) -> Result<HttpResponse, HtmlError> {
    dash.check(&req, &state, &form.csrf)?;
    let k = owned(&state, &dash, &id).await?;
    if k.revoked_at.is_none() {
        api_keys::revoke(&state.db, &state.keys, &k, state.clock.now())
            .await
            .map_err(key_error)?;
        // Tokens exchanged from the key (RFC 8693) stop here at once.
        state.denied.catch_up(&state.db).await?;
        dash.audit(&state, &req, AuditKind::ApiKeyRevoked, detail(&k))
            .await?;
    }
    dash.flash(format!("Revoked {} ({}).", k.name, api_keys::redacted(&k)));
    Ok(see_other(&list_href(k.livemode)))
}

/// Domain messages start in lower case ("name must be…"); pages show sentences.
pub fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => {
            let mut out: String = f.to_uppercase().collect();
            out.push_str(c.as_str());
            if !out.ends_with('.') {
                out.push('.');
            }
            out
        }
        None => String::new(),
    }
}

// ---------------------------------------------------------------------------------------------
// Views

/// An API key in a list or on its page.
pub struct KeyRow {
    pub id: String,
    pub name: String,
    pub redacted: String,
    pub livemode: bool,
    pub scopes: Vec<String>,
    pub created: When,
    pub last_used: Option<When>,
    /// `active`, `expiring`, `expired` or `revoked` (also the badge's class).
    pub status: &'static str,
    pub status_label: String,
    /// For a rolled key still working: "Stops working in 59 minutes".
    pub note: Option<String>,
    /// `secret` or `restricted`.
    pub key_type: String,
    /// What the key may do, by API: (API name, scopes), or ("All APIs", ["everything"]).
    pub groups: Vec<(String, Vec<String>)>,
    /// Its policies in words: "12 uses left", "IPs: 10.0.0.0/8", "team=ops".
    pub policies: Vec<String>,
    /// Working, and stops within 7 days.
    pub expires_within_week: bool,
    /// Replaced by a rolled key: the list says so beside the (shared) name.
    pub rolled: bool,
}

impl KeyRow {
    pub fn new(k: &entity::api_key::Model, now: DateTime<Utc>) -> Self {
        let status = crate::api_keys::status(k, now);
        let (status_label, note) = match (status, k.expires_at) {
            ("expiring", Some(t)) => {
                let left = (t - now).num_seconds();
                (
                    format!("Expires in {}", span(left)),
                    Some(format!("Stops working {}", full(t))),
                )
            }
            ("expired", Some(t)) => ("Expired".to_owned(), Some(format!("Expired {}", full(t)))),
            ("revoked", _) => (
                "Revoked".to_owned(),
                k.revoked_at.map(|t| format!("Revoked {}", full(t))),
            ),
            _ => ("Active".to_owned(), None),
        };
        KeyRow {
            id: k.id.clone(),
            name: k.name.clone(),
            redacted: crate::api_keys::redacted(k),
            livemode: k.livemode,
            scopes: crate::store::words(&k.scopes).map(str::to_owned).collect(),
            created: When::date(k.created_at),
            last_used: k.last_used_at.map(|t| When::ago(t, now)),
            status,
            status_label,
            note,
            key_type: k.key_type.clone(),
            groups: Vec::new(),
            policies: policy_words(k),
            rolled: k.rolled_to.is_some(),
            expires_within_week: matches!(status, "expiring" | "active")
                && k.expires_at
                    .is_some_and(|t| t > now && t - now <= chrono::Duration::days(7)),
        }
    }

    /// Fill [`KeyRow::groups`] from the catalog.
    pub fn grouped(
        mut self,
        k: &entity::api_key::Model,
        catalog: &crate::catalog::Snapshot,
    ) -> Self {
        if api_keys::is_secret(k) {
            self.groups = vec![("All APIs".into(), vec!["full access".into()])];
            return self;
        }
        for s in crate::store::words(&k.scopes) {
            let api = match catalog.api_of(s) {
                Some(a) => a.name.clone(),
                None => catalog.builtin().name.clone(),
            };
            match self.groups.iter_mut().find(|(n, _)| *n == api) {
                Some((_, list)) => list.push(s.to_owned()),
                None => self.groups.push((api, vec![s.to_owned()])),
            }
        }
        self
    }
}

fn policy_words(k: &entity::api_key::Model) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(r) = k.remaining {
        out.push(match (k.refill_amount, k.refill_interval.as_deref()) {
            (Some(a), Some(i)) => format!("{r} uses left (refills to {a} each {i})"),
            _ => format!("{r} uses left"),
        });
    }
    let ips = api_keys::allowed_ips(k);
    if !ips.is_empty() {
        out.push(format!("IPs: {}", ips.join(", ")));
    }
    for (mk, mv) in api_keys::metadata_pairs(k) {
        out.push(format!("{mk}={mv}"));
    }
    out
}

#[derive(Template)]
#[template(path = "dashboard/keys.html")]
pub struct KeysPage {
    pub c: Chrome,
    pub livemode: bool,
    /// Names of keys that stop working within 7 days.
    pub expiring_soon: Vec<String>,
    pub rows: Vec<KeyRow>,
    /// Revoked and expired keys are listed too.
    pub all: bool,
    /// The query string of the next page, if there is one.
    pub next_page: Option<String>,
}

#[derive(Template)]
#[template(path = "dashboard/key_new.html")]
pub struct KeyNewPage {
    pub c: Chrome,
    pub livemode: bool,
    pub name: String,
    /// "Secret key (full access)" chosen (else restricted).
    pub secret: bool,
    pub apis: Vec<ApiChoice>,
    pub expires_days: String,
    pub remaining: String,
    pub allowed_ips: String,
    pub error: Option<String>,
}

#[derive(Template)]
#[template(path = "dashboard/key.html")]
pub struct KeyPage {
    pub c: Chrome,
    pub key: KeyRow,
    /// The key that replaced this one, when it was rolled.
    pub rolled_to: Option<String>,
    pub name_value: String,
    pub error: Option<String>,
}
