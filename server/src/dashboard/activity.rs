//! The signed-in person's activity: their audit events, newest first, paginated.

use actix_web::{HttpResponse, web};

use super::views;
use super::{Dash, PageQuery, paginate};
use crate::errors::HtmlError;
use crate::state::AppState;
use crate::store;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/dashboard/activity", web::get().to(list));
}

pub const PAGE: usize = 50;

async fn list(
    state: web::Data<AppState>,
    dash: Dash,
    q: web::Query<PageQuery>,
) -> Result<HttpResponse, HtmlError> {
    let mut events = store::audit::page(
        &state.db,
        Some(&dash.user.id),
        store::audit::ModeFilter::All,
        PAGE as u64 + 1,
        q.after(),
    )
    .await?;
    let next = paginate(&mut events, PAGE, |e| &e.id).map(|id| format!("starting_after={id}"));
    Ok(views::activity(views::ActivityPage {
        c: dash.chrome("activity"),
        title: "Activity",
        lede: "Sign-ins, changes to your keys and apps, and anything suspicious on your account.",
        base: "/dashboard/activity",
        events: views::event_rows(&events, None),
        server_wide: false,
        first_page: q.after().is_none(),
        next_page: next,
    }))
}
