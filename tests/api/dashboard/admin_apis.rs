//! `/dashboard/admin/apis` (issue #11): admins register APIs, add, describe and remove
//! scopes, see who holds each scope, and delete APIs after a confirmation; members get 403;
//! every form checks the CSRF token; scope names are validated as everywhere else.

use super::*;

const PAGE: &str = "/dashboard/admin/apis";

async fn admin_browser(app: &TestApp) -> (reqwest::Client, String) {
    signup(app, &app.new_browser(), ANN, PASSWORD).await;
    let b = app.signed_in_browser(ANN).await;
    let token = page_csrf(app, &b, "/dashboard").await;
    (b, token)
}

async fn register(
    app: &TestApp,
    b: &reqwest::Client,
    csrf: &str,
    scopes: &str,
) -> reqwest::Response {
    post(
        app,
        b,
        PAGE,
        &[
            ("csrf", csrf),
            ("identifier", "https://billing.example.com"),
            ("name", "Billing API"),
            ("token_ttl", "300"),
            ("scopes", scopes),
        ],
    )
    .await
}

fn billing(app: &TestApp) -> Option<latch::catalog::Api> {
    app.state
        .catalog
        .get()
        .by_identifier("https://billing.example.com")
        .cloned()
}

#[tokio::test]
async fn the_apis_page_is_for_admins_and_shows_the_builtin_api_read_only() {
    let app = spawn_app().await;
    let (admin, _) = admin_browser(&app).await;
    signup(&app, &app.new_browser(), BOB, PASSWORD).await;
    let bob = app.signed_in_browser(BOB).await;

    let (status, html) = get_html(&app, &admin, PAGE).await;
    assert_eq!(status, 200);
    assert!(html.contains("href=\"/dashboard/admin/apis\" aria-current=\"page\""));
    assert!(html.contains("Latch API") && html.contains("Built-in"));
    assert!(html.contains("Register an API"));
    assert!(
        !html.contains("action=\"/dashboard/admin/apis/api_latch"),
        "the built-in API has no forms"
    );
    let (status, html) = get_html(&app, &bob, PAGE).await;
    assert_eq!(status, 403);
    assert!(html.contains("administrators"));
    let token = page_csrf(&app, &bob, "/dashboard").await;
    let res = register(&app, &bob, &token, "invoices:read = See your invoices").await;
    assert_eq!(res.status(), 403);
    assert!(billing(&app).is_none());
}

#[tokio::test]
async fn an_admin_registers_an_api_edits_it_and_deletes_it_from_the_dashboard() {
    // Arrange
    let app = spawn_app().await;
    let (b, token) = admin_browser(&app).await;

    // Act: register with two scopes.
    let res = register(
        &app,
        &b,
        &token,
        "invoices:read = See your invoices\n\ninvoices:write = Send invoices\n",
    )
    .await;

    // Assert
    assert_eq!(res.status(), 303);
    let api = billing(&app).expect("registered");
    assert_eq!(location(&res), format!("{PAGE}#{}", api.id));
    assert_eq!(api.access_token_ttl.map(|t| t.num_seconds()), Some(300));
    let names: Vec<&str> = api.scopes.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["invoices:read", "invoices:write"]);
    let (_, html) = get_html(&app, &b, PAGE).await;
    assert!(html.contains("Registered Billing API."));
    assert!(html.contains("See your invoices"));

    // Act: add a scope, edit a description and the name, remove a scope.
    let base = format!("{PAGE}/{}", api.id);
    let res = post(
        &app,
        &b,
        &format!("{base}/scopes"),
        &[
            ("csrf", &token),
            ("name", "invoices:void"),
            ("description", "Cancel invoices"),
        ],
    )
    .await;
    assert_eq!(res.status(), 303);
    let res = post(
        &app,
        &b,
        &base,
        &[
            ("csrf", &token),
            ("name", "Billing"),
            ("token_ttl", ""),
            ("description:invoices:read", "Read your invoices"),
            ("description:invoices:write", "Send invoices"),
            ("description:invoices:void", "Cancel invoices"),
        ],
    )
    .await;
    assert_eq!(res.status(), 303);
    let (status, confirm) =
        get_html(&app, &b, &format!("{base}/scopes/invoices:void/remove")).await;
    assert_eq!(status, 200);
    assert!(confirm.contains("Remove this scope?") && confirm.contains("invoices:void"));
    let res = post(
        &app,
        &b,
        &format!("{base}/scopes/invoices:void/remove"),
        &[("csrf", &token)],
    )
    .await;
    assert_eq!(res.status(), 303);

    // Assert
    let api = billing(&app).expect("still there");
    assert_eq!(api.name, "Billing");
    assert_eq!(api.access_token_ttl, None);
    assert_eq!(api.scopes[0].description, "Read your invoices");
    assert!(!api.has_scope("invoices:void"));

    // Act: delete after the confirmation page.
    let (status, confirm) = get_html(&app, &b, &format!("{base}/delete")).await;
    assert_eq!(status, 200);
    assert!(
        confirm.contains("Delete this API?") && confirm.contains("https://billing.example.com")
    );
    let res = post(&app, &b, &format!("{base}/delete"), &[("csrf", &token)]).await;

    // Assert
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), PAGE);
    assert!(billing(&app).is_none());
    let ann = user(&app, ANN).await;
    let kinds: Vec<String> = events_of(&app, &ann.id)
        .await
        .into_iter()
        .rev()
        .filter(|e| e.kind.starts_with("api."))
        .map(|e| {
            assert!(e.detail.contains("\"via\":\"dashboard\""), "{}", e.detail);
            e.kind
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "api.created",
            "api.scope_added",
            "api.updated",
            "api.scope_removed",
            "api.deleted"
        ]
    );
}

#[tokio::test]
async fn the_page_shows_who_holds_a_scope_and_refuses_removing_it() {
    // Arrange: an operator app holding invoices:read.
    let app = spawn_app().await;
    let (b, token) = admin_browser(&app).await;
    register(
        &app,
        &b,
        &token,
        "invoices:read = See your invoices\ninvoices:write = Send invoices",
    )
    .await;
    let api = billing(&app).unwrap();
    app.create_client(ClientSpec {
        name: "Invoicer",
        scopes: vec!["openid", "invoices:read"],
        ..ClientSpec::default()
    })
    .await;

    // Act
    let (_, html) = get_html(&app, &b, PAGE).await;
    let remove = post(
        &app,
        &b,
        &format!("{PAGE}/{}/scopes/invoices:read/remove", api.id),
        &[("csrf", &token)],
    )
    .await;
    let delete = post(
        &app,
        &b,
        &format!("{PAGE}/{}/delete", api.id),
        &[("csrf", &token)],
    )
    .await;

    // Assert
    assert!(html.contains("Apps:</span> Invoicer"), "holders shown");
    assert_eq!(remove.status(), 303);
    assert_eq!(delete.status(), 303);
    let (_, after) = get_html(&app, &b, PAGE).await;
    assert!(
        after.contains("flash-error") && after.contains("still held by"),
        "{after}"
    );
    assert!(billing(&app).unwrap().has_scope("invoices:read"));
}

#[tokio::test]
async fn dashboard_forms_validate_scope_names_and_check_csrf() {
    // Arrange
    let app = spawn_app().await;
    let (b, token) = admin_browser(&app).await;

    // Act: a bad scope name, a scope taken by the built-in API, a missing description.
    let mut answers = Vec::new();
    for scopes in ["Invoices = Bad", "read = Read", "invoices:read"] {
        let res = register(&app, &b, &token, scopes).await;
        answers.push((scopes, res.status().as_u16(), res.text().await.unwrap()));
    }
    let no_csrf = register(&app, &b, "", "invoices:read = See").await;

    // Assert: 422 with the form kept and the value named; nothing registered.
    for (scopes, status, html) in answers {
        assert_eq!(status, 422, "{scopes}");
        assert!(html.contains("role=\"alert\""), "{scopes}");
        let named = scopes.split(' ').next().unwrap();
        assert!(html_unescape(&html).contains(named), "{scopes}: names it");
        assert!(
            html.contains("value=\"https://billing.example.com\""),
            "form kept"
        );
    }
    assert_eq!(no_csrf.status(), 403);
    assert!(billing(&app).is_none());

    // Adding a bad scope to a registered API is refused with a flash naming it.
    register(&app, &b, &token, "invoices:read = See your invoices").await;
    let api = billing(&app).unwrap();
    let res = post(
        &app,
        &b,
        &format!("{PAGE}/{}/scopes", api.id),
        &[
            ("csrf", &token),
            ("name", "Bad Scope"),
            ("description", "x"),
        ],
    )
    .await;
    assert_eq!(res.status(), 303);
    let (_, html) = get_html(&app, &b, PAGE).await;
    assert!(html_unescape(&html).contains("Bad Scope"));
    assert_eq!(billing(&app).unwrap().scopes.len(), 1);
    let res = post(
        &app,
        &b,
        &format!("{PAGE}/{}/scopes", api.id),
        &[("name", "reports"), ("description", "Reports")],
    )
    .await;
    assert_eq!(res.status(), 403);
}
