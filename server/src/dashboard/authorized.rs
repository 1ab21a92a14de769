//! Apps the signed-in person authorized (their live consents), and revoking one: the consent
//! ends and so do the refresh tokens and access tokens the app holds for them
//! (`store::consents::revoke`).

use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::json;

use askama::Template;

use super::format::{ScopeRow, When, initial, scope_rows};
use super::views::{self, Chrome};
use super::{CsrfForm, Dash, see_other};
use crate::audit::AuditKind;
use crate::errors::HtmlError;
use crate::state::AppState;
use crate::store;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/dashboard/authorized", web::get().to(list))
        .route(
            "/dashboard/authorized/{client_id}/revoke",
            web::get().to(confirm_revoke),
        )
        .route(
            "/dashboard/authorized/{client_id}/revoke",
            web::post().to(revoke),
        );
}

async fn list(state: web::Data<AppState>, dash: Dash) -> Result<HttpResponse, HtmlError> {
    let catalog = state.catalog.get();
    let rows = store::consents::for_user(&state.db, &dash.user.id)
        .await?
        .into_iter()
        .map(|(consent, client)| {
            let name = client
                .as_ref()
                .map_or_else(|| "Deleted app".to_owned(), |c| c.name.clone());
            ConsentRow {
                initial: initial(&name),
                name,
                client_id: consent.client_id.clone(),
                livemode: client.as_ref().is_none_or(|c| c.livemode),
                scopes: scope_rows(&catalog, &consent.scope),
                granted: When::date(consent.updated_at),
            }
        })
        .collect();
    Ok(views::page(&AuthorizedPage {
        c: dash.chrome("authorized"),
        rows,
    }))
}

/// "Revoke access" asks first, as revoking a key does: the app loses its tokens at once.
async fn confirm_revoke(
    state: web::Data<AppState>,
    dash: Dash,
    client_id: web::Path<String>,
) -> Result<HttpResponse, HtmlError> {
    let consents = store::consents::for_user(&state.db, &dash.user.id).await?;
    let Some((consent, client)) = consents.iter().find(|(c, _)| c.client_id == *client_id) else {
        return Ok(see_other("/dashboard/authorized"));
    };
    let name = client
        .as_ref()
        .map_or_else(|| "Deleted app".to_owned(), |c| c.name.clone());
    let catalog = state.catalog.get();
    let scopes: Vec<String> = scope_rows(&catalog, &consent.scope)
        .into_iter()
        .map(|s| s.description)
        .collect();
    let mut subject = vec![("App", name.clone())];
    if !scopes.is_empty() {
        subject.push(("It can", scopes.join("; ")));
    }
    let id: String = url::form_urlencoded::byte_serialize(client_id.as_bytes()).collect();
    Ok(views::page(&views::ConfirmPage {
        c: dash.chrome("authorized"),
        title: format!("Revoke access for {name}?"),
        message: format!(
            "{name} will stop working with your account: the tokens it holds stop within a \
             few seconds, and it must ask for your permission again before it can use your \
             account."
        ),
        subject,
        action: format!("/dashboard/authorized/{id}/revoke"),
        button: "Revoke access",
        cancel_href: "/dashboard/authorized".into(),
    }))
}

async fn revoke(
    req: HttpRequest,
    state: web::Data<AppState>,
    dash: Dash,
    client_id: web::Path<String>,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, HtmlError> {
    dash.check(&req, &state, &form.csrf)?;
    let client = store::clients::by_id(&state.db, &client_id).await?;
    let name = client
        .as_ref()
        .map_or_else(|| "the app".to_owned(), |c| c.name.clone());
    if store::consents::revoke(&state.db, &dash.user.id, &client_id, state.clock.now()).await? {
        state.denied.catch_up(&state.db).await?;
        dash.audit(
            &state,
            &req,
            AuditKind::ConsentRevoked,
            json!({"client_id": client_id.as_str(), "client": name}),
        )
        .await?;
        dash.flash(format!("Access for {name} was revoked."));
    }
    Ok(see_other("/dashboard/authorized"))
}

// ---------------------------------------------------------------------------------------------
// Views

/// An app the person authorized (a live consent).
pub struct ConsentRow {
    pub client_id: String,
    pub name: String,
    pub initial: String,
    pub livemode: bool,
    pub scopes: Vec<ScopeRow>,
    pub granted: When,
}

#[derive(Template)]
#[template(path = "dashboard/authorized.html")]
pub struct AuthorizedPage {
    pub c: Chrome,
    pub rows: Vec<ConsentRow>,
}
