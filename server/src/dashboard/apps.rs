//! OAuth apps the signed-in person registered: list, register, edit, rotate the secret,
//! delete. The same rules as `/v1/clients` (`crate::clients`); the secret is shown once.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde_json::json;

use super::format::{ScopeRow, When, initial, scope_rows};
use super::keys::capitalize;
use super::views::{self, Chrome, SecretItem};
use super::{Dash, PageQuery, paginate, see_other};
use crate::audit::AuditKind;
use crate::clients::{self, ClientError, ClientUpdate, Metadata, NewClient};
use crate::errors::HtmlError;
use crate::state::AppState;
use crate::store;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/dashboard/apps", web::get().to(list))
        .route("/dashboard/apps", web::post().to(create))
        .route("/dashboard/apps/new", web::get().to(new_form))
        .route("/dashboard/apps/{id}", web::get().to(show))
        .route("/dashboard/apps/{id}", web::post().to(update))
        .route(
            "/dashboard/apps/{id}/rotate_secret",
            web::post().to(rotate_secret),
        )
        .route(
            "/dashboard/apps/{id}/make_public",
            web::get().to(confirm_make_public),
        )
        .route(
            "/dashboard/apps/{id}/make_public",
            web::post().to(make_public),
        )
        .route(
            "/dashboard/apps/{id}/make_confidential",
            web::post().to(make_confidential),
        )
        .route("/dashboard/apps/{id}/delete", web::get().to(confirm_delete))
        .route("/dashboard/apps/{id}/delete", web::post().to(delete));
}

const PAGE: usize = 50;

/// The signed-in person's app `id`, or 404.
async fn owned(
    state: &AppState,
    dash: &Dash,
    id: &str,
) -> Result<entity::client::Model, HtmlError> {
    match store::clients::by_id(&state.db, id).await? {
        Some(c) if c.owner_id.as_deref() == Some(dash.user.id.as_str()) => Ok(c),
        _ => Err(HtmlError::not_found()),
    }
}

fn detail(c: &entity::client::Model) -> serde_json::Value {
    json!({"client_id": c.id, "name": c.name, "livemode": c.livemode})
}

/// Redirect URIs as typed in the textarea: one per line (spaces also separate).
fn split_uris(s: &str) -> Vec<String> {
    s.split_whitespace().map(str::to_owned).collect()
}

async fn list(
    state: web::Data<AppState>,
    dash: Dash,
    q: web::Query<PageQuery>,
) -> Result<HttpResponse, HtmlError> {
    let mut rows = store::clients::page(
        &state.db,
        store::clients::Owner::User(&dash.user.id),
        None,
        crate::cursor::fetch(PAGE as u64),
        q.after(),
    )
    .await?;
    let next = paginate(&mut rows, PAGE, |c| &c.id).map(|id| format!("starting_after={id}"));
    Ok(views::page(&AppsPage {
        c: dash.chrome("apps"),
        rows: {
            let catalog = state.catalog.get();
            rows.iter().map(|c| AppRow::new(&catalog, c)).collect()
        },
        next_page: next,
    }))
}

async fn new_form(state: web::Data<AppState>, dash: Dash) -> HttpResponse {
    let f = AppForm {
        name: String::new(),
        redirect_uris: String::new(),
        public: false,
        resource_server: false,
        livemode: false,
        grant_code: true,
        grant_refresh: true,
        grant_client_credentials: false,
        grant_device: false,
    };
    views::render(
        StatusCode::OK,
        &AppNewPage {
            c: dash.chrome("apps"),
            choices: scope_choices(&state.catalog.get(), &clients::default_scopes()),
            f,
            links: Links::default(),
            error: None,
        },
    )
}

/// A form body read as its pairs: the scope checkboxes repeat one name (`scopes`), which a
/// struct cannot hold.
struct Pairs(Vec<(String, String)>);

impl Pairs {
    fn get(&self, k: &str) -> Option<&str> {
        self.0.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str())
    }

    fn text(&self, k: &str) -> String {
        self.get(k).unwrap_or_default().to_owned()
    }

    fn all(&self, k: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// The checked scopes; `None` when the form had no scope picker (`scopes_shown`), as
    /// from a script written before it existed.
    fn scopes(&self) -> Option<Vec<String>> {
        self.get("scopes_shown").map(|_| self.all("scopes"))
    }

    fn links(&self) -> Links {
        Links {
            logo_uri: self.text("logo_uri").trim().to_owned(),
            client_uri: self.text("client_uri").trim().to_owned(),
            policy_uri: self.text("policy_uri").trim().to_owned(),
            tos_uri: self.text("tos_uri").trim().to_owned(),
        }
    }
}

/// The consent-screen links as typed in the form (empty: none).
#[derive(Default, Clone)]
pub struct Links {
    pub logo_uri: String,
    pub client_uri: String,
    pub policy_uri: String,
    pub tos_uri: String,
}

impl Links {
    fn of(c: &entity::client::Model) -> Self {
        let s = |v: &Option<String>| v.clone().unwrap_or_default();
        Links {
            logo_uri: s(&c.logo_uri),
            client_uri: s(&c.client_uri),
            policy_uri: s(&c.policy_uri),
            tos_uri: s(&c.tos_uri),
        }
    }
}

fn some(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_owned())
}

/// One group of the scope picker: the OpenID scopes, then each API of the catalog.
pub struct ScopeChoices {
    pub title: String,
    /// `(name, description, checked)`.
    pub scopes: Vec<(String, String, bool)>,
}

/// The catalog as checkboxes, `chosen` checked.
fn scope_choices(catalog: &crate::catalog::Snapshot, chosen: &[String]) -> Vec<ScopeChoices> {
    let row = |name: &str| {
        (
            name.to_owned(),
            catalog.describe(name).unwrap_or(name).to_owned(),
            chosen.iter().any(|c| c == name),
        )
    };
    let mut out = vec![ScopeChoices {
        title: "Identity (OpenID Connect)".into(),
        scopes: crate::catalog::OPENID.iter().map(|s| row(s)).collect(),
    }];
    for api in catalog.apis() {
        out.push(ScopeChoices {
            title: api.name.clone(),
            scopes: api.scopes.iter().map(|s| row(&s.name)).collect(),
        });
    }
    out
}

async fn create(
    req: HttpRequest,
    state: web::Data<AppState>,
    dash: Dash,
    form: web::Form<Vec<(String, String)>>,
) -> Result<HttpResponse, HtmlError> {
    let form = Pairs(form.into_inner());
    dash.check(&req, &state, form.get("csrf").unwrap_or_default())?;
    // A resource server may introspect every token and key of the server: admins only.
    let resource_server = form.get("kind") == Some("resource_server");
    if resource_server && !dash.user.is_admin {
        return Err(HtmlError::forbidden(
            "Only administrators register resource servers: they can introspect every token.",
        ));
    }
    let f = AppForm {
        name: form.text("name"),
        redirect_uris: form.text("redirect_uris"),
        public: form.get("kind") == Some("public"),
        resource_server,
        livemode: form.get("mode") == Some("live"),
        grant_code: form.get("grant_authorization_code").is_some(),
        grant_refresh: form.get("grant_refresh_token").is_some(),
        grant_client_credentials: form.get("grant_client_credentials").is_some(),
        grant_device: form.get("grant_device_code").is_some(),
    };
    let links = form.links();
    let scopes = form.scopes().unwrap_or_else(clients::default_scopes);
    let mut grant_types = Vec::new();
    for (on, g) in [
        (f.grant_code, "authorization_code"),
        (f.grant_refresh, "refresh_token"),
        (f.grant_client_credentials, "client_credentials"),
        (
            f.grant_device,
            crate::grant_type::GrantType::DeviceCode.as_str(),
        ),
    ] {
        if on {
            grant_types.push(g.to_owned());
        }
    }
    if grant_types.is_empty() && resource_server {
        grant_types = clients::default_grant_types_for(true);
    }
    let new = NewClient {
        name: f.name.clone(),
        redirect_uris: split_uris(&f.redirect_uris),
        public: f.public,
        grant_types,
        scopes: scopes.clone(),
        livemode: f.livemode,
        first_party: false,
        resource_server,
        owner_id: Some(dash.user.id.clone()),
        metadata: Metadata {
            logo_uri: some(&links.logo_uri),
            client_uri: some(&links.client_uri),
            policy_uri: some(&links.policy_uri),
            tos_uri: some(&links.tos_uri),
        },
        allowed_origins: None,
    };
    let catalog = state.catalog.get();
    let result = if scopes.is_empty() {
        Err(ClientError::Invalid(
            "choose at least one scope the app may ask for".into(),
            "scopes",
        ))
    } else {
        clients::create(&state.db, &catalog, &state.logos, new).await
    };
    let (c, secret) = match result {
        Ok(r) => r,
        Err(ClientError::Store(e)) => return Err(e.into()),
        Err(e) => {
            return Ok(views::render(
                StatusCode::UNPROCESSABLE_ENTITY,
                &AppNewPage {
                    c: dash.chrome("apps"),
                    choices: scope_choices(&catalog, &scopes),
                    f,
                    links,
                    error: Some(capitalize(&e.to_string())),
                },
            ));
        }
    };
    dash.audit(&state, &req, AuditKind::ClientCreated, detail(&c))
        .await?;
    let mut items = vec![SecretItem {
        id: "client-id".into(),
        label: "Client ID".into(),
        value: c.id.clone(),
        secret: false,
    }];
    if let Some(s) = secret {
        items.push(SecretItem {
            id: "client-secret".into(),
            label: "Client secret".into(),
            value: s,
            secret: true,
        });
    }
    let lede = if c.is_public {
        "Your app is registered. Public apps have no secret: they prove who they are with PKCE \
         on every authorization."
    } else {
        "Your app is registered. Copy the client secret now and keep it on your server only."
    };
    Ok(dash.show_once(
        &state,
        "apps",
        views::SecretBody {
            crumb: "OAuth apps".into(),
            crumb_href: "/dashboard/apps".into(),
            title: format!("{} is registered", c.name),
            lede: lede.into(),
            livemode: c.livemode,
            items,
            details: app_details(&c)
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect(),
            note: None,
            done_href: format!("/dashboard/apps/{}", c.id),
            done_label: if c.is_public {
                "Go to the app".into()
            } else {
                "Done, I've saved it".into()
            },
        },
    ))
}

fn app_details(c: &entity::client::Model) -> Vec<(&'static str, String)> {
    vec![
        (
            "Type",
            if c.is_public {
                "Public (PKCE, no secret)"
            } else if c.resource_server {
                "Resource server (may introspect every token and key)"
            } else {
                "Confidential"
            }
            .into(),
        ),
        ("Mode", if c.livemode { "Live" } else { "Test" }.into()),
        (
            "Grant types",
            crate::store::words(&c.grant_types)
                .collect::<Vec<_>>()
                .join(", "),
        ),
    ]
}

/// What the settings form shows: the stored values, or those just submitted.
struct Values {
    name: String,
    redirect_uris: String,
    links: Links,
    scopes: Vec<String>,
    /// The CORS origins as typed (one per line); empty: the default.
    allowed_origins: String,
    /// Post-logout redirect URIs (one per line) and the back-channel logout URI, as typed.
    post_logout: String,
    backchannel: String,
    proto: ProtocolValues,
    /// RFC 9449 §5.2 `dpop_bound_access_tokens` and the nonce requirement (§8), as ticked.
    dpop_bound: bool,
    dpop_nonce: bool,
}

/// How the app authenticates and sends authorization requests, as stored or as typed
/// (issue #13 item 7; the same rules as the CLI and `/v1`: `clients::auth_method`).
pub struct ProtocolValues {
    pub auth_method: String,
    /// The inline JWK Set (JSON text), for `private_key_jwt`.
    pub jwks: String,
    pub jwks_uri: String,
    /// RFC 9126 §6: authorization requests must be pushed first.
    pub require_par: bool,
}

impl ProtocolValues {
    fn of(c: &entity::client::Model) -> Self {
        ProtocolValues {
            auth_method: c.token_endpoint_auth_method.clone(),
            jwks: c.jwks.clone().unwrap_or_default(),
            jwks_uri: c.jwks_uri.clone().unwrap_or_default(),
            require_par: c.require_par,
        }
    }

    /// The submitted values; `None` when the form did not show these fields.
    fn from_form(form: &Pairs, c: &entity::client::Model) -> Option<Self> {
        form.get("protocol_shown")?;
        Some(ProtocolValues {
            auth_method: form
                .get("token_endpoint_auth_method")
                .map_or_else(|| c.token_endpoint_auth_method.clone(), str::to_owned),
            jwks: form.text("jwks").trim().to_owned(),
            jwks_uri: form.text("jwks_uri").trim().to_owned(),
            require_par: form.get("require_par").is_some(),
        })
    }

    fn protocol(&self) -> clients::Protocol {
        clients::Protocol {
            require_par: self.require_par,
            auth_method: Some(self.auth_method.clone()),
            jwks: some(&self.jwks),
            jwks_uri: some(&self.jwks_uri),
        }
    }
}

/// The methods a confidential app may pick on its page: (wire name, label).
pub const CONFIDENTIAL_AUTH_METHODS: &[(&str, &str)] = &[
    (
        "client_secret_basic",
        "Client secret, HTTP Basic (client_secret_basic)",
    ),
    (
        "client_secret_post",
        "Client secret in the form body (client_secret_post)",
    ),
    (
        "private_key_jwt",
        "Signed assertion with its own key (private_key_jwt)",
    ),
];

async fn app_page(
    state: &AppState,
    dash: &Dash,
    c: &entity::client::Model,
    values: Option<Values>,
    error: Option<String>,
) -> Result<HttpResponse, HtmlError> {
    let v = values.unwrap_or_else(|| Values {
        name: c.name.clone(),
        redirect_uris: crate::store::words(&c.redirect_uris)
            .collect::<Vec<_>>()
            .join("\n"),
        links: Links::of(c),
        scopes: crate::store::words(&c.scopes).map(str::to_owned).collect(),
        allowed_origins: c
            .allowed_origins
            .as_deref()
            .map(|o| crate::store::words(o).collect::<Vec<_>>().join("\n"))
            .unwrap_or_default(),
        post_logout: clients::logout::post_logout_uris(c).join("\n"),
        backchannel: c.backchannel_logout_uri.clone().unwrap_or_default(),
        proto: ProtocolValues::of(c),
        dpop_bound: c.dpop_bound_access_tokens,
        dpop_nonce: c.dpop_require_nonce,
    });
    let catalog = state.catalog.get();
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    // The logo Latch fetched and serves (never the app's own URL), as on the consent page.
    let logo_url = match c.logo_uri {
        Some(_) => crate::store::client_logos::by_client(&state.db, &c.id)
            .await?
            .map(|l| clients::logo::path(&l)),
        None => None,
    };
    Ok(views::render(
        status,
        &AppPage {
            c: dash.chrome("apps"),
            app: AppRow::new(&catalog, c),
            logo_url,
            name_value: v.name,
            redirect_value: v.redirect_uris,
            links: v.links,
            choices: scope_choices(&catalog, &v.scopes),
            verified: clients::trust_of(c, Some(&dash.user)).verified,
            error,
            needs_redirect: crate::store::words(&c.grant_types).any(|g| g == "authorization_code"),
            previous_secret: previous_secret_note(c, state.clock.now()),
            grant_choices: crate::grant_type::GrantType::ALL
                .iter()
                .map(|g| {
                    let wire = g.as_str();
                    let on = crate::store::words(&c.grant_types).any(|x| x == wire);
                    (wire.to_owned(), g.label(), on)
                })
                .collect(),
            origins_value: v.allowed_origins,
            origins_effective: clients::origins::of(c).join(", "),
            post_logout_value: v.post_logout,
            backchannel_value: v.backchannel,
            proto: v.proto,
            auth_methods: CONFIDENTIAL_AUTH_METHODS,
            dpop_bound: v.dpop_bound,
            dpop_nonce: v.dpop_nonce,
        },
    ))
}

/// "The previous secret keeps working for 59 minutes (until …)" while a rotation's overlap
/// lasts.
fn previous_secret_note(
    c: &entity::client::Model,
    now: chrono::DateTime<chrono::Utc>,
) -> Option<String> {
    let until = c.previous_secret_expires_at.filter(|t| *t > now)?;
    Some(format!(
        "The previous secret keeps working for {} (until {}).",
        super::format::span((until - now).num_seconds()),
        super::format::full(until)
    ))
}

async fn show(
    state: web::Data<AppState>,
    dash: Dash,
    id: web::Path<String>,
) -> Result<HttpResponse, HtmlError> {
    let c = owned(&state, &dash, &id).await?;
    app_page(&state, &dash, &c, None, None).await
}

async fn update(
    req: HttpRequest,
    state: web::Data<AppState>,
    dash: Dash,
    id: web::Path<String>,
    form: web::Form<Vec<(String, String)>>,
) -> Result<HttpResponse, HtmlError> {
    let form = Pairs(form.into_inner());
    dash.check(&req, &state, form.get("csrf").unwrap_or_default())?;
    let c = owned(&state, &dash, &id).await?;
    let links = form.links();
    let scopes = form.scopes();
    // A field the form did not carry is left as it is.
    let given = |k: &str, v: &String| form.get(k).map(|_| v.clone());
    // Grant types: the form says it showed them, so no box ticked means none (refused).
    let grant_types = form.get("grants_shown").map(|_| {
        form.0
            .iter()
            .filter(|(k, _)| k == "grant_type")
            .map(|(_, v)| v.clone())
            .collect::<Vec<_>>()
    });
    // Authentication method, keys and PAR (issue #13 item 7): checked before anything is
    // written, with the rules of registration, then written after the other settings.
    let proto = ProtocolValues::from_form(&form, &c);
    let checked_proto = match &proto {
        Some(p) => clients::auth_method::check(c.is_public, &p.protocol()).map(|_| ()),
        None => Ok(()),
    };
    let u = ClientUpdate {
        grant_types,
        require_par: proto.as_ref().map(|p| p.require_par),
        jwks: None,
        jwks_uri: None,
        name: Some(form.text("name")),
        redirect_uris: Some(split_uris(&form.text("redirect_uris"))),
        scopes: scopes.clone(),
        // The logo is fetched again only when its address changed.
        logo_uri: given("logo_uri", &links.logo_uri).filter(|l| some(l) != c.logo_uri),
        client_uri: given("client_uri", &links.client_uri),
        policy_uri: given("policy_uri", &links.policy_uri),
        tos_uri: given("tos_uri", &links.tos_uri),
        // CORS origins: an empty field keeps the default while there is one (nothing was
        // ever named); otherwise the list typed replaces the stored one.
        allowed_origins: form.get("allowed_origins").and_then(|_| {
            let typed = split_uris(&form.text("allowed_origins"));
            (!typed.is_empty() || c.allowed_origins.is_some()).then_some(typed)
        }),
    };
    // OIDC logout URIs: a field the form did not carry is left as it is.
    let logout = clients::logout::LogoutChange {
        post_logout_redirect_uris: form
            .get("post_logout_redirect_uris")
            .map(|_| split_uris(&form.text("post_logout_redirect_uris"))),
        backchannel_logout_uri: form
            .get("backchannel_logout_uri")
            .map(|_| form.text("backchannel_logout_uri").trim().to_owned()),
        backchannel_logout_session_required: None,
    };
    // DPoP: the form says it showed the boxes, so an unticked box means off (as /v1's
    // `dpop_bound_access_tokens` / `dpop_require_nonce` = false).
    let dpop = form.get("dpop_shown").map(|_| {
        (
            form.get("dpop_bound").is_some(),
            form.get("dpop_nonce").is_some(),
        )
    });
    let result = if scopes.as_ref().is_some_and(Vec::is_empty) {
        Err(ClientError::Invalid(
            "choose at least one scope the app may ask for".into(),
            "scopes",
        ))
    } else if let Err(e) = logout.validate() {
        Err(e)
    } else if let Err(e) = checked_proto {
        Err(e)
    } else {
        clients::update(
            &state.db,
            &state.catalog.get(),
            &state.rows,
            &state.logos,
            &c,
            u,
        )
        .await
    };
    let result = match result {
        Ok(u) => clients::logout::set_logout(&state.db, &state.rows, &u, &logout).await,
        Err(e) => Err(e),
    };
    let updated = match result {
        Ok(u) => u,
        Err(ClientError::Store(e)) => return Err(e.into()),
        Err(e) => {
            return app_page(
                &state,
                &dash,
                &c,
                Some(Values {
                    name: form.text("name"),
                    redirect_uris: form.text("redirect_uris"),
                    links,
                    scopes: scopes.unwrap_or_else(|| {
                        crate::store::words(&c.scopes).map(str::to_owned).collect()
                    }),
                    allowed_origins: form.text("allowed_origins"),
                    post_logout: form.text("post_logout_redirect_uris"),
                    backchannel: form.text("backchannel_logout_uri"),
                    proto: proto.unwrap_or_else(|| ProtocolValues::of(&c)),
                    dpop_bound: dpop.map_or(c.dpop_bound_access_tokens, |d| d.0),
                    dpop_nonce: dpop.map_or(c.dpop_require_nonce, |d| d.1),
                }),
                Some(capitalize(&e.to_string())),
            )
            .await;
        }
    };
    let (updated, new_secret) = match &proto {
        Some(p) => clients::auth_method::set(
            &state.db,
            &state.rows,
            &updated,
            &p.protocol(),
            state.clock.now(),
        )
        .await
        .map_err(|e| match e {
            ClientError::Store(s) => HtmlError::from(s),
            other => HtmlError::bad_request(capitalize(&other.to_string())),
        })?,
        None => (updated, None),
    };
    // The same two writes as `PATCH /v1/clients/{id}` (`crate::clients`).
    let updated = match dpop {
        Some((bound, nonce)) => {
            let u = clients::set_dpop_bound(&state.db, &state.rows, &updated, bound).await?;
            clients::set_dpop_require_nonce(&state.db, &state.rows, &u, nonce).await?
        }
        None => updated,
    };
    // This instance answers CORS preflights for the new origins at once.
    state.origins.reload(&state.db).await?;
    dash.audit(&state, &req, AuditKind::ClientUpdated, detail(&updated))
        .await?;
    if let Some(secret) = new_secret {
        // A move from private_key_jwt to a client secret: the new secret, shown once.
        return Ok(dash.show_once(
            &state,
            "apps",
            secret_body(&updated, secret, "New client secret", format!(
                    "{} now authenticates with a client secret. Copy it now and keep it on your server only.",
                    updated.name
                )),
        ));
    }
    dash.flash("Changes saved.");
    Ok(see_other(&format!("/dashboard/apps/{}", c.id)))
}

#[derive(serde::Deserialize)]
struct RotateForm {
    csrf: String,
    /// `now`, `1h`, `24h`, `7d` (as for rolling a key); absent means now.
    #[serde(default)]
    expires_in: Option<String>,
}

async fn rotate_secret(
    req: HttpRequest,
    state: web::Data<AppState>,
    dash: Dash,
    id: web::Path<String>,
    form: web::Form<RotateForm>,
) -> Result<HttpResponse, HtmlError> {
    dash.check(&req, &state, &form.csrf)?;
    let c = owned(&state, &dash, &id).await?;
    if c.is_public {
        return app_page(
            &state,
            &dash,
            &c,
            None,
            Some("Public apps have no secret to rotate.".into()),
        )
        .await;
    }
    let Some(overlap) =
        crate::api_keys::parse_roll_expiry(form.expires_in.as_deref().unwrap_or("now"))
    else {
        return app_page(
            &state,
            &dash,
            &c,
            None,
            Some("Choose when the current secret should stop working.".into()),
        )
        .await;
    };
    let (c, secret) =
        clients::rotate_secret(&state.db, &state.rows, &c, overlap, state.clock.now())
            .await
            .map_err(|e| match e {
                ClientError::Store(s) => s.into(),
                other => HtmlError::bad_request(capitalize(&other.to_string())),
            })?;
    let mut d = detail(&c);
    d["expires_in"] = serde_json::json!(overlap);
    dash.audit(&state, &req, AuditKind::ClientSecretRotated, d)
        .await?;
    Ok(dash.show_once(
        &state,
        "apps",
        secret_body(&c, secret, "New client secret", if overlap == 0 {
                format!(
                    "The previous secret of {} has stopped working. Update your server with this one.",
                    c.name
                )
            } else {
                format!(
                    "The previous secret of {} keeps working for {}. Update your server with this one before then.",
                    c.name,
                    super::format::span(overlap)
                )
            }),
    ))
}

/// The one-time view of an existing app's new client secret (rotation, a move to a secret
/// from `private_key_jwt`, a public app made confidential).
fn secret_body(
    c: &entity::client::Model,
    secret: String,
    title: &str,
    lede: String,
) -> views::SecretBody {
    views::SecretBody {
        crumb: "OAuth apps".into(),
        crumb_href: "/dashboard/apps".into(),
        title: title.into(),
        lede,
        livemode: c.livemode,
        items: vec![
            SecretItem {
                id: "client-id".into(),
                label: "Client ID".into(),
                value: c.id.clone(),
                secret: false,
            },
            SecretItem {
                id: "client-secret".into(),
                label: "Client secret".into(),
                value: secret,
                secret: true,
            },
        ],
        details: app_details(c)
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect(),
        note: None,
        done_href: format!("/dashboard/apps/{}", c.id),
        done_label: "Done, I've saved it".into(),
    }
}

#[derive(serde::Deserialize)]
struct CsrfForm {
    csrf: String,
}

/// "Make public": it erases the secret and revokes what the app was issued, so it is
/// confirmed first, like deleting.
async fn confirm_make_public(
    state: web::Data<AppState>,
    dash: Dash,
    id: web::Path<String>,
) -> Result<HttpResponse, HtmlError> {
    let c = owned(&state, &dash, &id).await?;
    Ok(views::page(&views::ConfirmPage {
        c: dash.chrome("apps"),
        title: format!("Make {} public?", c.name),
        message: "Its client secret stops working at once and is erased, and every token and \
                  refresh token it holds for people is revoked (they were issued to an app that \
                  authenticated). From then on it signs people in with PKCE and no secret."
            .into(),
        subject: vec![
            ("Name", c.name.clone()),
            ("Client ID", c.id.clone()),
            ("Mode", if c.livemode { "Live" } else { "Test" }.into()),
        ],
        action: format!("/dashboard/apps/{}/make_public", c.id),
        button: "Make public",
        cancel_href: format!("/dashboard/apps/{}", c.id),
    }))
}

async fn make_public(
    req: HttpRequest,
    state: web::Data<AppState>,
    dash: Dash,
    id: web::Path<String>,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, HtmlError> {
    change_type(req, state, dash, id, form, true).await
}

async fn make_confidential(
    req: HttpRequest,
    state: web::Data<AppState>,
    dash: Dash,
    id: web::Path<String>,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, HtmlError> {
    change_type(req, state, dash, id, form, false).await
}

/// Change the app between public and confidential (`clients::kind`): to confidential, the
/// new secret is shown once; to public, the secret is erased and what the app was issued
/// is revoked; a grant only confidential apps may use is explained and nothing changes.
async fn change_type(
    req: HttpRequest,
    state: web::Data<AppState>,
    dash: Dash,
    id: web::Path<String>,
    form: web::Form<CsrfForm>,
    public: bool,
) -> Result<HttpResponse, HtmlError> {
    dash.check(&req, &state, &form.csrf)?;
    let c = owned(&state, &dash, &id).await?;
    let (updated, secret) =
        match clients::kind::set_public(&state.db, &state.rows, &c, public).await {
            Ok(r) => r,
            Err(ClientError::Store(e)) => return Err(e.into()),
            Err(e) => {
                return app_page(&state, &dash, &c, None, Some(capitalize(&e.to_string()))).await;
            }
        };
    if updated.is_public != c.is_public {
        state.origins.reload(&state.db).await?;
        let mut d = detail(&updated);
        d["public"] = json!(updated.is_public);
        dash.audit(&state, &req, AuditKind::ClientUpdated, d)
            .await?;
    }
    let Some(secret) = secret else {
        dash.flash(if updated.is_public {
            "The app is public now: its secret is erased, and what it had been issued is revoked."
        } else {
            "No change."
        });
        return Ok(see_other(&format!("/dashboard/apps/{}", c.id)));
    };
    Ok(dash.show_once(
        &state,
        "apps",
        secret_body(
            &updated,
            secret,
            "The app is confidential now",
            format!(
                "{} must now authenticate at the token endpoint with this secret.",
                updated.name
            ),
        ),
    ))
}

async fn confirm_delete(
    state: web::Data<AppState>,
    dash: Dash,
    id: web::Path<String>,
) -> Result<HttpResponse, HtmlError> {
    let c = owned(&state, &dash, &id).await?;
    Ok(views::page(&views::ConfirmPage {
        c: dash.chrome("apps"),
        title: format!("Delete {}?", c.name),
        message: "The app's client ID and secret stop working at once, the tokens it holds for \
                  people are revoked, and everyone who authorized it loses the connection. This \
                  cannot be undone."
            .into(),
        subject: vec![
            ("Name", c.name.clone()),
            ("Client ID", c.id.clone()),
            ("Mode", if c.livemode { "Live" } else { "Test" }.into()),
        ],
        action: format!("/dashboard/apps/{}/delete", c.id),
        button: "Delete app",
        cancel_href: format!("/dashboard/apps/{}", c.id),
    }))
}

async fn delete(
    req: HttpRequest,
    state: web::Data<AppState>,
    dash: Dash,
    id: web::Path<String>,
    form: web::Form<super::CsrfForm>,
) -> Result<HttpResponse, HtmlError> {
    dash.check(&req, &state, &form.csrf)?;
    let c = owned(&state, &dash, &id).await?;
    clients::delete(&state.db, &state.rows, &c).await?;
    state.denied.catch_up(&state.db).await?;
    dash.audit(&state, &req, AuditKind::ClientDeleted, detail(&c))
        .await?;
    dash.flash(format!("Deleted {}.", c.name));
    Ok(see_other("/dashboard/apps"))
}

// ---------------------------------------------------------------------------------------------
// Views

/// An OAuth app the person registered.
pub struct AppRow {
    pub id: String,
    pub name: String,
    pub initial: String,
    pub livemode: bool,
    pub public: bool,
    pub redirect_uris: Vec<String>,
    pub grant_types: Vec<(String, &'static str)>,
    pub scopes: Vec<ScopeRow>,
    pub secret_last4: Option<String>,
    pub created: When,
    pub secret_rotated: Option<When>,
}

/// What the dashboard calls a stored grant name (`GrantType::label`, an exhaustive match).
pub fn grant_label(g: &str) -> &'static str {
    crate::grant_type::GrantType::parse(g).map_or("Other", crate::grant_type::GrantType::label)
}

impl AppRow {
    pub fn new(catalog: &crate::catalog::Snapshot, c: &entity::client::Model) -> Self {
        AppRow {
            id: c.id.clone(),
            name: c.name.clone(),
            initial: initial(&c.name),
            livemode: c.livemode,
            public: c.is_public,
            redirect_uris: crate::store::words(&c.redirect_uris)
                .map(str::to_owned)
                .collect(),
            grant_types: crate::store::words(&c.grant_types)
                .map(|g| (g.to_owned(), grant_label(g)))
                .collect(),
            scopes: scope_rows(catalog, &c.scopes),
            secret_last4: c.secret_last4.clone(),
            created: When::date(c.created_at),
            secret_rotated: c.secret_rotated_at.map(When::date),
        }
    }
}

#[derive(Template)]
#[template(path = "dashboard/apps.html")]
pub struct AppsPage {
    pub c: Chrome,
    pub rows: Vec<AppRow>,
    pub next_page: Option<String>,
}

/// The registration form's values (kept when it is shown again with an error).
pub struct AppForm {
    pub name: String,
    pub redirect_uris: String,
    pub public: bool,
    pub resource_server: bool,
    pub livemode: bool,
    pub grant_code: bool,
    pub grant_refresh: bool,
    pub grant_client_credentials: bool,
    /// RFC 8628: TVs and command-line tools sign in with a code on `/device`.
    pub grant_device: bool,
}

#[derive(Template)]
#[template(path = "dashboard/app_new.html")]
pub struct AppNewPage {
    pub c: Chrome,
    pub f: AppForm,
    pub links: Links,
    pub choices: Vec<ScopeChoices>,
    pub error: Option<String>,
}

#[derive(Template)]
#[template(path = "dashboard/app.html")]
pub struct AppPage {
    pub c: Chrome,
    pub app: AppRow,
    pub name_value: String,
    pub redirect_value: String,
    pub links: Links,
    pub choices: Vec<ScopeChoices>,
    /// The consent screen shows no "Unverified app" notice (an admin's app, or verified).
    pub verified: bool,
    pub error: Option<String>,
    pub needs_redirect: bool,
    /// While a rotation's overlap lasts, when the previous secret stops working.
    pub previous_secret: Option<String>,
    /// Every grant Latch supports: (wire name, label, enabled for this app).
    pub grant_choices: Vec<(String, &'static str, bool)>,
    /// The stored logo (`/logos/…`), shown instead of the initial.
    pub logo_url: Option<String>,
    /// The stored CORS origins, one per line (empty: the default).
    pub origins_value: String,
    /// The origins in force, for the hint.
    pub origins_effective: String,
    /// OIDC logout: post-logout redirect URIs (one per line) and the back-channel URI.
    pub post_logout_value: String,
    pub backchannel_value: String,
    /// Token endpoint authentication, keys and "PAR required".
    pub proto: ProtocolValues,
    pub auth_methods: &'static [(&'static str, &'static str)],
    /// "Require DPoP" (`dpop_bound_access_tokens`, RFC 9449 §5.2) as shown.
    pub dpop_bound: bool,
    /// "Require DPoP nonce" (`dpop_require_nonce`, RFC 9449 §8) as shown.
    pub dpop_nonce: bool,
}
