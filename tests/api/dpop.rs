//! DPoP (RFC 9449): proofs at the token endpoint for every grant (§5), bound refresh tokens
//! and codes (§5, §10), server nonces (§8, §9), replay across instances (§11.1), the
//! resource side (`/v1`, userinfo: §7), introspection (§6.2) and metadata (§5.1). Proofs are
//! made here by hand with an EC P-256 key (aws-lc-rs), including each malformed kind.

use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use serde_json::{Value, json};

use crate::helpers::*;

const EMAIL: &str = "dee@example.com";

/// A client's DPoP key (also used by `verify.rs`).
pub(crate) struct Key {
    pair: EcdsaKeyPair,
    jwk: Value,
}

impl Key {
    pub(crate) fn new() -> Self {
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let pair =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref()).unwrap();
        let pk = pair.public_key().as_ref().to_vec();
        let jwk = json!({"kty": "EC", "crv": "P-256", "x": b64(&pk[1..33]), "y": b64(&pk[33..65])});
        Key { pair, jwk }
    }

    pub(crate) fn jkt(&self) -> String {
        latch_verify::dpop::thumbprint(&self.jwk, "ES256").unwrap()
    }

    fn header(&self) -> Value {
        json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": self.jwk})
    }

    /// Sign `header.claims` with this key (whatever the header says).
    fn sign(&self, header: &Value, claims: &Value) -> String {
        let msg = format!(
            "{}.{}",
            b64(header.to_string().as_bytes()),
            b64(claims.to_string().as_bytes())
        );
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let sig = self.pair.sign(&rng, msg.as_bytes()).unwrap();
        format!("{msg}.{}", b64(sig.as_ref()))
    }

    /// A good proof for `htm` `htu`.
    pub(crate) fn proof(&self, htm: &str, htu: &str) -> String {
        self.sign(&self.header(), &claims(htm, htu))
    }

    /// A good proof for a resource request with `token` (`ath`).
    pub(crate) fn proof_for(&self, htm: &str, htu: &str, token: &str) -> String {
        let mut c = claims(htm, htu);
        c["ath"] = json!(latch_verify::dpop::ath(token));
        self.sign(&self.header(), &c)
    }

    /// As [`proof_for`](Self::proof_for), carrying a server `nonce` (RFC 9449 §9).
    pub(crate) fn proof_with_nonce(
        &self,
        htm: &str,
        htu: &str,
        token: &str,
        nonce: &str,
    ) -> String {
        let mut c = claims(htm, htu);
        c["ath"] = json!(latch_verify::dpop::ath(token));
        c["nonce"] = json!(nonce);
        self.sign(&self.header(), &c)
    }
}

fn claims(htm: &str, htu: &str) -> Value {
    json!({"jti": uuid::Uuid::new_v4().to_string(), "htm": htm, "htu": htu, "iat": unix_now()})
}

/// `POST /oauth/token` with `client_secret_basic` (when `c` has a secret) and `DPoP`
/// headers (each one given).
async fn token(
    app: &TestApp,
    c: &TestClient,
    form: &[(&str, &str)],
    proofs: &[&str],
) -> reqwest::Response {
    let mut form: Vec<(&str, &str)> = form.to_vec();
    let mut req = app.http.post(app.url("/oauth/token"));
    match &c.secret {
        Some(s) => req = req.basic_auth(&c.id, Some(s)),
        None => form.push(("client_id", &c.id)),
    }
    for p in proofs {
        req = req.header("DPoP", *p);
    }
    req.form(&form).send().await.unwrap()
}

async fn cc(app: &TestApp, c: &TestClient, proofs: &[&str]) -> reqwest::Response {
    token(
        app,
        c,
        &[("grant_type", "client_credentials"), ("scope", "read")],
        proofs,
    )
    .await
}

async fn expect_dpop_error(res: reqwest::Response, code: &str) -> Value {
    assert_eq!(res.status(), 400, "expected {code}");
    let body = json(res).await;
    assert_eq!(body["error"], code, "{body}");
    body
}

fn token_url(app: &TestApp) -> String {
    format!("{}/oauth/token", app.settings.issuer)
}

#[tokio::test]
async fn client_credentials_with_a_proof_gives_a_dpop_token_bound_to_the_key() {
    let app = spawn_app().await;
    let c = app.machine_client().await;
    let key = Key::new();
    let res = cc(&app, &c, &[&key.proof("POST", &token_url(&app))]).await;
    assert_eq!(res.status(), 200);
    let body = json(res).await;
    assert_eq!(body["token_type"], "DPoP");
    let at = body["access_token"].as_str().unwrap();
    assert_eq!(jwt_claims(at)["cnf"]["jkt"], key.jkt().as_str());

    // Introspection (RFC 9449 §6.2) reports the binding.
    let rs = app
        .create_client(ClientSpec {
            resource_server: true,
            grant_types: vec!["client_credentials"],
            redirect_uris: vec![],
            ..Default::default()
        })
        .await;
    let res = app
        .http
        .post(app.url("/oauth/introspect"))
        .basic_auth(&rs.id, rs.secret.as_deref())
        .form(&[("token", at)])
        .send()
        .await
        .unwrap();
    let v = json(res).await;
    assert_eq!(v["active"], true);
    assert_eq!(v["token_type"], "DPoP");
    assert_eq!(v["cnf"]["jkt"], key.jkt().as_str());

    // Without a proof: a Bearer token, no `cnf`.
    let res = cc(&app, &c, &[]).await;
    let body = json(res).await;
    assert_eq!(body["token_type"], "Bearer");
    assert!(
        jwt_claims(body["access_token"].as_str().unwrap())
            .get("cnf")
            .is_none()
    );

    // RFC 9449 §5.1 metadata.
    let meta = json(app.get("/.well-known/oauth-authorization-server").await).await;
    let algs = meta["dpop_signing_alg_values_supported"]
        .as_array()
        .unwrap();
    assert!(algs.contains(&json!("ES256")));
    assert!(
        !algs
            .iter()
            .any(|a| a == "none" || a.as_str().unwrap().starts_with("HS"))
    );
}

#[tokio::test]
async fn each_malformed_proof_is_invalid_dpop_proof() {
    let app = spawn_app().await;
    let c = app.machine_client().await;
    let key = Key::new();
    let other = Key::new();
    let url = token_url(&app);
    let mut cases: Vec<(&str, String)> = Vec::new();
    cases.push(("wrong htm", key.proof("GET", &url)));
    cases.push((
        "wrong htu",
        key.proof("POST", &format!("{}/oauth/introspect", app.settings.issuer)),
    ));
    cases.push((
        "other origin htu",
        key.proof("POST", "https://evil.example/oauth/token"),
    ));
    let mut c1 = claims("POST", &url);
    c1["iat"] = json!(unix_now() - 120);
    cases.push(("stale iat", key.sign(&key.header(), &c1)));
    let mut c2 = claims("POST", &url);
    c2["iat"] = json!(unix_now() + 120);
    cases.push(("future iat", key.sign(&key.header(), &c2)));
    let mut c3 = claims("POST", &url);
    c3.as_object_mut().unwrap().remove("jti");
    cases.push(("no jti", key.sign(&key.header(), &c3)));
    let mut h = key.header();
    h["typ"] = json!("JWT");
    cases.push(("typ", key.sign(&h, &claims("POST", &url))));
    // Signed by another key than the one in `jwk`.
    cases.push((
        "other key",
        other.sign(&key.header(), &claims("POST", &url)),
    ));
    // A private key in `jwk` (RFC 9449 §4.3 step 7).
    let mut h = key.header();
    h["jwk"]["d"] = json!(b64(&[1u8; 32]));
    cases.push(("private jwk", key.sign(&h, &claims("POST", &url))));
    // `alg: none`, unsigned.
    let none = format!(
        "{}.{}.",
        b64(json!({"typ": "dpop+jwt", "alg": "none", "jwk": key.jwk})
            .to_string()
            .as_bytes()),
        b64(claims("POST", &url).to_string().as_bytes())
    );
    cases.push(("none", none));
    // HMAC with the "key" in the header.
    let secret = b"0123456789abcdef0123456789abcdef";
    let hh = json!({"typ": "dpop+jwt", "alg": "HS256", "jwk": {"kty": "oct", "k": b64(secret)}});
    let msg = format!(
        "{}.{}",
        b64(hh.to_string().as_bytes()),
        b64(claims("POST", &url).to_string().as_bytes())
    );
    let mac = aws_lc_rs::hmac::sign(
        &aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret),
        msg.as_bytes(),
    );
    cases.push(("HS256", format!("{msg}.{}", b64(mac.as_ref()))));
    // HS256 header over the EC key's `jwk`.
    let mut h = key.header();
    h["alg"] = json!("HS256");
    cases.push(("HS256 over EC jwk", key.sign(&h, &claims("POST", &url))));
    cases.push(("garbage", "not.a.jwt".to_owned()));
    for (name, proof) in &cases {
        let res = cc(&app, &c, &[proof]).await;
        assert_eq!(res.status(), 400, "{name}");
        let body = json(res).await;
        assert_eq!(body["error"], "invalid_dpop_proof", "{name}: {body}");
    }
    // Two DPoP headers (§4.3 step 1).
    let (a, b) = (key.proof("POST", &url), key.proof("POST", &url));
    expect_dpop_error(cc(&app, &c, &[&a, &b]).await, "invalid_dpop_proof").await;
    // The query and fragment of htu do not count (§4.3 step 9).
    let ok = key.proof("POST", &format!("{url}?x=1#frag"));
    assert_eq!(cc(&app, &c, &[&ok]).await.status(), 200);
}

#[tokio::test]
async fn a_proof_is_single_use_across_instances() {
    let app = spawn_app().await;
    let sibling = spawn_sibling(&app).await;
    let c = app.machine_client().await;
    let key = Key::new();
    let proof = key.proof("POST", &token_url(&app));
    assert_eq!(cc(&app, &c, &[&proof]).await.status(), 200);
    // Without Redis the used proof is a row (of the SQLite log, or under PostgreSQL's
    // primary key) until its window ends.
    let rows = latch::store::dpop_proofs::recorded(&app.db).await.unwrap();
    assert_eq!(rows.len(), 1);
    let body = expect_dpop_error(cc(&app, &c, &[&proof]).await, "invalid_dpop_proof").await;
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("already used")
    );
    // The other instance knows it too (the shared store).
    expect_dpop_error(cc(&sibling, &c, &[&proof]).await, "invalid_dpop_proof").await;
    let fresh = key.proof("POST", &token_url(&app));
    assert_eq!(cc(&sibling, &c, &[&fresh]).await.status(), 200);
    expect_dpop_error(cc(&app, &c, &[&fresh]).await, "invalid_dpop_proof").await;
}

/// A used proof's row outlives the proof's window (a replay is refused until `iat` is too old
/// anyway) and the sweep takes it once the window has passed, not before.
#[tokio::test]
async fn a_used_proof_is_kept_for_its_window_then_swept() {
    use latch::store::dpop_proofs::{recorded, sweep};
    let app = spawn_app().await;
    let c = app.machine_client().await;
    let key = Key::new();
    let before = chrono::Utc::now();
    assert_eq!(
        cc(&app, &c, &[&key.proof("POST", &token_url(&app))])
            .await
            .status(),
        200
    );
    let ends = recorded(&app.db).await.unwrap();
    let [end] = ends[..] else {
        panic!("one used proof's row: {ends:?}")
    };
    let window = chrono::Duration::seconds(app.state.dpop.max_age);
    assert!(
        end >= before + window - chrono::Duration::seconds(1),
        "{end:?} ends before the proof's window"
    );
    sweep(&app.db, end - chrono::Duration::seconds(1))
        .await
        .unwrap();
    assert_eq!(recorded(&app.db).await.unwrap().len(), 1);
    // A second proof, recorded after the first.
    assert_eq!(
        cc(&app, &c, &[&key.proof("POST", &token_url(&app))])
            .await
            .status(),
        200
    );
    assert_eq!(recorded(&app.db).await.unwrap().len(), 2);
    let last_end = *recorded(&app.db).await.unwrap().iter().max().unwrap();
    sweep(&app.db, last_end + chrono::Duration::seconds(1))
        .await
        .unwrap();
    let left = recorded(&app.db).await.unwrap();
    if app.db.get_database_backend() == sea_orm::DbBackend::Sqlite {
        // The log keeps its newest row, whose `id` no new row may take again.
        assert_eq!(
            left,
            vec![last_end],
            "the older row is swept, the newest kept"
        );
    } else {
        assert!(left.is_empty(), "{left:?}");
    }
}

#[tokio::test]
async fn required_nonces_are_handed_out_accepted_anywhere_and_expire() {
    let app = spawn_app_with(|s| s.dpop_require_nonce = true).await;
    let sibling = spawn_sibling(&app).await;
    let c = app.machine_client().await;
    let key = Key::new();
    let url = token_url(&app);
    // No nonce: 400 use_dpop_nonce with one in DPoP-Nonce (§8).
    let res = cc(&app, &c, &[&key.proof("POST", &url)]).await;
    let nonce = res
        .headers()
        .get("dpop-nonce")
        .expect("DPoP-Nonce")
        .to_str()
        .unwrap()
        .to_owned();
    expect_dpop_error(res, "use_dpop_nonce").await;
    let with_nonce = |n: &str| {
        let mut cl = claims("POST", &url);
        cl["nonce"] = json!(n);
        key.sign(&key.header(), &cl)
    };
    let res = cc(&app, &c, &[&with_nonce(&nonce)]).await;
    assert_eq!(res.status(), 200);
    // §8.2: the next nonce comes with the answer.
    assert!(res.headers().get("dpop-nonce").is_some());
    // Stateless: the other instance accepts this instance's nonce.
    assert_eq!(cc(&sibling, &c, &[&with_nonce(&nonce)]).await.status(), 200);
    // A made-up nonce is refused with a fresh one.
    expect_dpop_error(
        cc(&app, &c, &[&with_nonce("bm9ub25jZQ")]).await,
        "use_dpop_nonce",
    )
    .await;
    // Two windows later (LATCH_DPOP_PROOF_MAX_AGE, 60 s) the nonce is stale.
    app.advance(121);
    let res = cc(&app, &c, &[&with_nonce(&nonce)]).await;
    let fresh = res
        .headers()
        .get("dpop-nonce")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert_ne!(fresh, nonce);
    expect_dpop_error(res, "use_dpop_nonce").await;
    assert_eq!(cc(&app, &c, &[&with_nonce(&fresh)]).await.status(), 200);
}

#[tokio::test]
async fn a_client_registered_dpop_bound_must_send_proofs() {
    let app = spawn_app().await;
    let c = app.machine_client().await;
    let row = latch::store::clients::by_id(&app.db, &c.id)
        .await
        .unwrap()
        .unwrap();
    latch::store::clients::set_dpop_bound(&app.db, &row, true)
        .await
        .unwrap();
    app.state.rows.forget_client(&c.id);
    expect_dpop_error(cc(&app, &c, &[]).await, "invalid_dpop_proof").await;
    let key = Key::new();
    let res = cc(&app, &c, &[&key.proof("POST", &token_url(&app))]).await;
    assert_eq!(res.status(), 200);
    assert_eq!(json(res).await["token_type"], "DPoP");
}

/// The code flow for a public client with PKCE; `extra` goes to the authorization request.
async fn code_for(app: &TestApp, c: &TestClient, extra: &[(&str, &str)]) -> (String, String) {
    let (verifier, challenge) = pkce_pair();
    let mut params = vec![
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
        ("scope", "openid read"),
    ];
    params.extend_from_slice(extra);
    (app.obtain_code(c, EMAIL, &params).await, verifier)
}

async fn redeem(
    app: &TestApp,
    c: &TestClient,
    code: &str,
    verifier: &str,
    proofs: &[&str],
) -> reqwest::Response {
    token(
        app,
        c,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", &c.redirect_uri),
            ("code_verifier", verifier),
        ],
        proofs,
    )
    .await
}

async fn refresh(app: &TestApp, c: &TestClient, rt: &str, proofs: &[&str]) -> reqwest::Response {
    token(
        app,
        c,
        &[("grant_type", "refresh_token"), ("refresh_token", rt)],
        proofs,
    )
    .await
}

#[tokio::test]
async fn a_public_clients_refresh_tokens_are_bound_to_its_key() {
    let app = spawn_app().await;
    app.create_user(EMAIL, PASSWORD).await;
    let c = app.public_client().await;
    let key = Key::new();
    let other = Key::new();
    let url = token_url(&app);
    let (code, verifier) = code_for(&app, &c, &[]).await;
    let res = redeem(&app, &c, &code, &verifier, &[&key.proof("POST", &url)]).await;
    assert_eq!(res.status(), 200);
    let body = json(res).await;
    assert_eq!(body["token_type"], "DPoP");
    assert_eq!(
        jwt_claims(body["access_token"].as_str().unwrap())["cnf"]["jkt"],
        key.jkt().as_str()
    );
    let rt = body["refresh_token"].as_str().unwrap().to_owned();
    // Without a proof, or with another key's: refused, and the token is not spent.
    expect_dpop_error(refresh(&app, &c, &rt, &[]).await, "invalid_dpop_proof").await;
    expect_dpop_error(
        refresh(&app, &c, &rt, &[&other.proof("POST", &url)]).await,
        "invalid_dpop_proof",
    )
    .await;
    let res = refresh(&app, &c, &rt, &[&key.proof("POST", &url)]).await;
    assert_eq!(res.status(), 200);
    let body = json(res).await;
    assert_eq!(body["token_type"], "DPoP");
    // The successor stays bound.
    let rt2 = body["refresh_token"].as_str().unwrap().to_owned();
    expect_dpop_error(
        refresh(&app, &c, &rt2, &[&other.proof("POST", &url)]).await,
        "invalid_dpop_proof",
    )
    .await;
    assert_eq!(
        refresh(&app, &c, &rt2, &[&key.proof("POST", &url)])
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn a_public_clients_unbound_refresh_token_refreshed_with_a_proof_is_bound_from_then_on() {
    // Arrange: a code redeemed without DPoP gives an unbound refresh token.
    let app = spawn_app().await;
    app.create_user(EMAIL, PASSWORD).await;
    let c = app.public_client().await;
    let (key, other) = (Key::new(), Key::new());
    let url = token_url(&app);
    let (code, verifier) = code_for(&app, &c, &[]).await;
    let body = json(redeem(&app, &c, &code, &verifier, &[]).await).await;
    assert_eq!(body["token_type"], "Bearer");
    let rt = body["refresh_token"].as_str().unwrap().to_owned();

    // Act: refresh it with a proof (RFC 9449 §5).
    let res = refresh(&app, &c, &rt, &[&key.proof("POST", &url)]).await;
    assert_eq!(res.status(), 200);
    let body = json(res).await;
    assert_eq!(body["token_type"], "DPoP");
    let rt2 = body["refresh_token"].as_str().unwrap().to_owned();

    // Assert: the successor is bound to that key.
    expect_dpop_error(refresh(&app, &c, &rt2, &[]).await, "invalid_dpop_proof").await;
    expect_dpop_error(
        refresh(&app, &c, &rt2, &[&other.proof("POST", &url)]).await,
        "invalid_dpop_proof",
    )
    .await;
    let res = refresh(&app, &c, &rt2, &[&key.proof("POST", &url)]).await;
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn dpop_jkt_binds_the_code_to_the_key() {
    let app = spawn_app().await;
    app.create_user(EMAIL, PASSWORD).await;
    let c = app.public_client().await;
    let key = Key::new();
    let (code, verifier) = code_for(&app, &c, &[("dpop_jkt", &key.jkt())]).await;
    redeems_only_with(&app, &c, &code, &verifier, &key).await;
}

/// `code` is bound to `key`: refused without a proof and with another key's (neither burns
/// it), then redeemed with `key`'s proof for a DPoP token whose `cnf.jkt` is `key`'s.
async fn redeems_only_with(app: &TestApp, c: &TestClient, code: &str, verifier: &str, key: &Key) {
    let url = token_url(app);
    expect_dpop_error(
        redeem(app, c, code, verifier, &[]).await,
        "invalid_dpop_proof",
    )
    .await;
    let other = Key::new();
    expect_dpop_error(
        redeem(app, c, code, verifier, &[&other.proof("POST", &url)]).await,
        "invalid_dpop_proof",
    )
    .await;
    let res = redeem(app, c, code, verifier, &[&key.proof("POST", &url)]).await;
    assert_eq!(res.status(), 200);
    let body = json(res).await;
    assert_eq!(body["token_type"], "DPoP");
    let claims = jwt_claims(body["access_token"].as_str().unwrap());
    assert_eq!(claims["cnf"]["jkt"], key.jkt());
}

/// `POST /oauth/par` for the public client `c` with these `DPoP` headers.
async fn par(
    app: &TestApp,
    c: &TestClient,
    extra: &[(&str, &str)],
    proofs: &[&str],
) -> (reqwest::Response, String) {
    let (verifier, challenge) = pkce_pair();
    let mut form = vec![
        ("client_id", c.id.as_str()),
        ("response_type", "code"),
        ("redirect_uri", c.redirect_uri.as_str()),
        ("scope", "openid read"),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    form.extend_from_slice(extra);
    let mut req = app.http.post(app.url("/oauth/par"));
    for p in proofs {
        req = req.header("DPoP", *p);
    }
    (req.form(&form).send().await.unwrap(), verifier)
}

#[tokio::test]
async fn a_proof_with_a_pushed_request_binds_the_code_to_its_key() {
    // Arrange
    let app = spawn_app().await;
    app.create_user(EMAIL, PASSWORD).await;
    let c = app.public_client().await;
    let (key, other) = (Key::new(), Key::new());
    let par_url = format!("{}/oauth/par", app.settings.issuer);
    let url = token_url(&app);

    // Act: push with a proof and no `dpop_jkt` (RFC 9449 §10.1), then sign in.
    let (res, verifier) = par(&app, &c, &[], &[&key.proof("POST", &par_url)]).await;
    assert_eq!(res.status(), 201, "a pushed request with a proof");
    let uri = json(res).await["request_uri"].as_str().unwrap().to_owned();
    let code = app.obtain_code(&c, EMAIL, &[("request_uri", &uri)]).await;

    // Assert: the code is bound to the proof's key, as with `dpop_jkt`.
    redeems_only_with(&app, &c, &code, &verifier, &key).await;

    // A proof and a `dpop_jkt` naming another key; a proof that is not one; a proof for
    // another URL; a proof used before: each refused as the token endpoint refuses it.
    let used = key.proof("POST", &par_url);
    let (res, _) = par(&app, &c, &[("dpop_jkt", &other.jkt())], &[&used]).await;
    expect_dpop_error(res, "invalid_dpop_proof").await;
    let (res, _) = par(&app, &c, &[], &["not.a.proof"]).await;
    expect_dpop_error(res, "invalid_dpop_proof").await;
    let (res, _) = par(&app, &c, &[], &[&key.proof("POST", &url)]).await;
    expect_dpop_error(res, "invalid_dpop_proof").await;
    let (res, _) = par(&app, &c, &[], &[&used]).await;
    expect_dpop_error(res, "invalid_dpop_proof").await;
    let fresh = key.proof("POST", &par_url);
    let (res, _) = par(&app, &c, &[], &[&fresh, &fresh]).await;
    expect_dpop_error(res, "invalid_dpop_proof").await;
    // Both, naming the same key: accepted.
    let (res, _) = par(&app, &c, &[("dpop_jkt", &key.jkt())], &[&fresh]).await;
    assert_eq!(res.status(), 201);
}

async fn resource(app: &TestApp, path: &str, auth: &str, proof: Option<&str>) -> reqwest::Response {
    let mut req = app.http.get(app.url(path)).header("Authorization", auth);
    if let Some(p) = proof {
        req = req.header("DPoP", p);
    }
    req.send().await.unwrap()
}

async fn expect_challenge(res: reqwest::Response, error: &str) {
    assert_eq!(res.status(), 401, "expected {error}");
    let h = res
        .headers()
        .get("www-authenticate")
        .expect("a challenge")
        .to_str()
        .unwrap()
        .to_owned();
    assert!(h.starts_with("DPoP "), "{h}");
    assert!(h.contains(&format!("error=\"{error}\"")), "{h}");
    assert!(h.contains("algs=\"ES256"), "{h}");
}

#[tokio::test]
async fn resources_take_dpop_tokens_with_proofs_and_refuse_them_as_bearer() {
    let app = spawn_app().await;
    app.create_user(EMAIL, PASSWORD).await;
    let c = app.public_client().await;
    let key = Key::new();
    let other = Key::new();
    let (code, verifier) = code_for(&app, &c, &[]).await;
    let res = redeem(
        &app,
        &c,
        &code,
        &verifier,
        &[&key.proof("POST", &token_url(&app))],
    )
    .await;
    let at = json(res).await["access_token"].as_str().unwrap().to_owned();
    let dpop = format!("DPoP {at}");
    for path in ["/v1/users/me", "/oauth/userinfo"] {
        let url = format!("{}{path}", app.settings.issuer);
        let res = resource(&app, path, &dpop, Some(&key.proof_for("GET", &url, &at))).await;
        assert_eq!(res.status(), 200, "{path}");
        // §7.2: a DPoP-bound token sent as Bearer.
        expect_challenge(
            resource(&app, path, &format!("Bearer {at}"), None).await,
            "invalid_token",
        )
        .await;
        // No proof, a proof without `ath`, `ath` of another token, another key, wrong htm.
        expect_challenge(
            resource(&app, path, &dpop, None).await,
            "invalid_dpop_proof",
        )
        .await;
        let no_ath = key.proof("GET", &url);
        expect_challenge(
            resource(&app, path, &dpop, Some(&no_ath)).await,
            "invalid_dpop_proof",
        )
        .await;
        let wrong_ath = key.proof_for("GET", &url, "another-token");
        expect_challenge(
            resource(&app, path, &dpop, Some(&wrong_ath)).await,
            "invalid_dpop_proof",
        )
        .await;
        let by_other = other.proof_for("GET", &url, &at);
        expect_challenge(
            resource(&app, path, &dpop, Some(&by_other)).await,
            "invalid_dpop_proof",
        )
        .await;
        let post = key.proof_for("POST", &url, &at);
        expect_challenge(
            resource(&app, path, &dpop, Some(&post)).await,
            "invalid_dpop_proof",
        )
        .await;
        // Replay of a proof that worked.
        let once = key.proof_for("GET", &url, &at);
        assert_eq!(resource(&app, path, &dpop, Some(&once)).await.status(), 200);
        expect_challenge(
            resource(&app, path, &dpop, Some(&once)).await,
            "invalid_dpop_proof",
        )
        .await;
    }
    // A Bearer token sent as DPoP is refused; as Bearer it still works.
    let bearer = app.machine_client().await;
    let bt = client_credentials_token(&app, &bearer, "read").await;
    let url = format!("{}/v1/users/me", app.settings.issuer);
    let res = resource(
        &app,
        "/v1/users/me",
        &format!("DPoP {bt}"),
        Some(&key.proof_for("GET", &url, &bt)),
    )
    .await;
    expect_challenge(res, "invalid_token").await;
}

#[tokio::test]
async fn resource_challenges_follow_the_scheme_and_offer_dpop_without_credentials() {
    // Arrange: a DPoP token with `openid` only (no `read`).
    let app = spawn_app().await;
    app.create_user(EMAIL, PASSWORD).await;
    let c = app.public_client().await;
    let key = Key::new();
    let (verifier, challenge) = pkce_pair();
    let code = app
        .obtain_code(
            &c,
            EMAIL,
            &[
                ("code_challenge", challenge.as_str()),
                ("code_challenge_method", "S256"),
                ("scope", "openid"),
            ],
        )
        .await;
    let res = redeem(
        &app,
        &c,
        &code,
        &verifier,
        &[&key.proof("POST", &token_url(&app))],
    )
    .await;
    let at = json(res).await["access_token"].as_str().unwrap().to_owned();

    for path in ["/v1/users/me", "/oauth/userinfo"] {
        let url = format!("{}{path}", app.settings.issuer);
        // No credentials: both schemes are offered (RFC 9449 §7.1), DPoP with its algs.
        let res = app.http.get(app.url(path)).send().await.unwrap();
        assert_eq!(res.status(), 401, "{path}");
        let challenges: Vec<String> = res
            .headers()
            .get_all("www-authenticate")
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect();
        assert!(
            challenges.iter().any(|c| c.starts_with("Bearer ")),
            "{path}: {challenges:?}"
        );
        assert!(
            challenges
                .iter()
                .any(|c| c.starts_with("DPoP ") && c.contains("algs=\"ES256")),
            "{path}: {challenges:?}"
        );
        // A token that is not one, sent as DPoP: the DPoP scheme's invalid_token.
        let bad = format!("{at}x");
        let proof = key.proof_for("GET", &url, &bad);
        expect_challenge(
            resource(&app, path, &format!("DPoP {bad}"), Some(&proof)).await,
            "invalid_token",
        )
        .await;
    }
    // Not enough scope, sent as DPoP: 403 with a DPoP challenge.
    for (path, needs) in [("/v1/users/me", "read"), ("/oauth/userinfo", "")] {
        let url = format!("{}{path}", app.settings.issuer);
        let proof = key.proof_for("GET", &url, &at);
        let res = resource(&app, path, &format!("DPoP {at}"), Some(&proof)).await;
        if needs.is_empty() {
            // `openid` is what userinfo needs: the token is good there.
            assert_eq!(res.status(), 200, "{path}");
            continue;
        }
        assert_eq!(res.status(), 403, "{path}");
        let h = res.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(h.starts_with("DPoP "), "{h}");
        assert!(h.contains("error=\"insufficient_scope\""), "{h}");
    }
}

#[tokio::test]
async fn resources_require_nonces_when_configured() {
    let app = spawn_app_with(|s| s.dpop_require_nonce = true).await;
    let c = app.machine_client().await;
    let key = Key::new();
    let nonce = app.state.dpop.nonce(app.clock.now());
    let mut cl = claims("POST", &token_url(&app));
    cl["nonce"] = json!(nonce);
    let res = cc(&app, &c, &[&key.sign(&key.header(), &cl)]).await;
    let at = json(res).await["access_token"].as_str().unwrap().to_owned();
    let url = format!("{}/v1/users/me", app.settings.issuer);
    let res = resource(
        &app,
        "/v1/users/me",
        &format!("DPoP {at}"),
        Some(&key.proof_for("GET", &url, &at)),
    )
    .await;
    assert!(res.headers().get("dpop-nonce").is_some());
    expect_challenge(res, "use_dpop_nonce").await;
    let mut cl = claims("GET", &url);
    cl["ath"] = json!(latch_verify::dpop::ath(&at));
    cl["nonce"] = json!(nonce);
    let res = resource(
        &app,
        "/v1/users/me",
        &format!("DPoP {at}"),
        Some(&key.sign(&key.header(), &cl)),
    )
    .await;
    // Past authentication (a client token has no user: not a 401).
    assert_ne!(res.status(), 401);
}

#[tokio::test]
async fn v1_clients_set_and_show_dpop_bound_access_tokens() {
    let app = spawn_app().await;
    let user = app.create_user(EMAIL, PASSWORD).await;
    let (_, key) = key_for(&app, &user.id, true, &["read", "write"]).await;
    let res = bearer_post(
        &app,
        &key,
        "/v1/clients",
        &[
            ("name", "Bound"),
            ("redirect_uris[]", "https://bound.example/cb"),
            ("dpop_bound_access_tokens", "true"),
            ("dpop_require_nonce", "true"),
        ],
    )
    .await;
    assert_eq!(res.status(), 200);
    let c = json(res).await;
    assert_eq!(c["dpop_bound_access_tokens"], true);
    let id = c["id"].as_str().unwrap();
    let row = latch::store::clients::by_id(&app.db, id)
        .await
        .unwrap()
        .unwrap();
    assert!(row.dpop_bound_access_tokens);
    assert!(row.dpop_require_nonce);
    assert_eq!(c["dpop_require_nonce"], true);
    let res = bearer_post(
        &app,
        &key,
        &format!("/v1/clients/{id}"),
        &[("dpop_bound_access_tokens", "false")],
    )
    .await;
    assert_eq!(res.status(), 200);
    assert_eq!(json(res).await["dpop_bound_access_tokens"], false);
    let res = bearer_post(
        &app,
        &key,
        &format!("/v1/clients/{id}"),
        &[("dpop_bound_access_tokens", "maybe")],
    )
    .await;
    assert_eq!(res.status(), 400);
}

/// With Redis, used `jti`s go there (`SET NX PX`), shared by every instance; the table
/// stays empty. Skips without a Redis on 127.0.0.1:6379, except under CI.
#[tokio::test]
async fn with_redis_a_proof_is_single_use_across_instances_without_table_rows() {
    use sea_orm::{EntityTrait, PaginatorTrait};
    let up = tokio::net::TcpStream::connect("127.0.0.1:6379")
        .await
        .is_ok();
    assert!(
        up || std::env::var_os("CI").is_none(),
        "CI is set but Redis does not answer"
    );
    if !up {
        eprintln!("skipping: no Redis on 127.0.0.1:6379");
        return;
    }
    let app = spawn_app_with(|s| s.redis_url = Some("redis://127.0.0.1:6379".into())).await;
    let sibling = spawn_sibling(&app).await;
    // The limiter connects in the background: wait for both (a connection, not a lifetime).
    for _ in 0..100 {
        if app.state.limiter.redis_up() == Some(true)
            && sibling.state.limiter.redis_up() == Some(true)
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(sibling.state.limiter.redis_up(), Some(true));
    let c = app.machine_client().await;
    let key = Key::new();
    let proof = key.proof("POST", &token_url(&app));
    assert_eq!(cc(&app, &c, &[&proof]).await.status(), 200);
    expect_dpop_error(cc(&sibling, &c, &[&proof]).await, "invalid_dpop_proof").await;
    expect_dpop_error(cc(&app, &c, &[&proof]).await, "invalid_dpop_proof").await;
    let rows = entity::dpop_proof::Entity::find()
        .count(&app.db)
        .await
        .unwrap();
    assert_eq!(rows, 0, "Redis holds the used proofs");
}

#[tokio::test]
async fn dynamic_registration_takes_dpop_bound_access_tokens() {
    // Arrange: a client registered with RFC 9449 §5.2's metadata (RFC 7591).
    let app = spawn_app().await;
    let iat = crate::registration::iat(&app).await;
    let mut body = json!({
        "client_name": "Gateway", "grant_types": ["client_credentials"], "scope": "read",
        "token_endpoint_auth_method": "client_secret_basic", "dpop_bound_access_tokens": true,
    });
    let res = crate::registration::register(&app, Some(&iat), body.clone()).await;
    assert_eq!(res.status(), 201);
    let reg = json(res).await;
    assert_eq!(reg["dpop_bound_access_tokens"], true, "{reg}");
    let c = TestClient {
        id: reg["client_id"].as_str().unwrap().to_owned(),
        secret: reg["client_secret"].as_str().map(str::to_owned),
        redirect_uri: String::new(),
    };
    let key = Key::new();

    // Act + Assert: every token request needs a proof.
    expect_dpop_error(cc(&app, &c, &[]).await, "invalid_dpop_proof").await;
    let res = cc(&app, &c, &[&key.proof("POST", &token_url(&app))]).await;
    assert_eq!(json(res).await["token_type"], "DPoP");

    // An update that omits it puts it back to false (RFC 7592 §2.2), and says so.
    body["client_id"] = reg["client_id"].clone();
    body.as_object_mut()
        .unwrap()
        .remove("dpop_bound_access_tokens");
    let uri = reg["registration_client_uri"].as_str().unwrap();
    let res = app
        .http
        .put(app.url(uri.trim_start_matches(app.settings.issuer.as_str())))
        .bearer_auth(reg["registration_access_token"].as_str().unwrap())
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(json(res).await["dpop_bound_access_tokens"], false);
    let res = cc(&app, &c, &[]).await;
    assert_eq!(json(res).await["token_type"], "Bearer");
}

#[tokio::test]
async fn a_client_flag_requires_nonces_for_that_client_only() {
    let app = spawn_app().await;
    let strict = app.machine_client().await;
    let lax = app.machine_client().await;
    let row = latch::store::clients::by_id(&app.db, &strict.id)
        .await
        .unwrap()
        .unwrap();
    latch::clients::set_dpop_require_nonce(&app.db, &app.state.rows, &row, true)
        .await
        .unwrap();
    let key = Key::new();
    let url = token_url(&app);
    assert_eq!(
        cc(&app, &lax, &[&key.proof("POST", &url)]).await.status(),
        200
    );
    let res = cc(&app, &strict, &[&key.proof("POST", &url)]).await;
    let nonce = res
        .headers()
        .get("dpop-nonce")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    expect_dpop_error(res, "use_dpop_nonce").await;
    let mut cl = claims("POST", &url);
    cl["nonce"] = json!(nonce);
    let res = cc(&app, &strict, &[&key.sign(&key.header(), &cl)]).await;
    assert_eq!(res.status(), 200);
    let at = json(res).await["access_token"].as_str().unwrap().to_owned();
    // At a resource too (§9): 401 use_dpop_nonce with DPoP-Nonce.
    let v1 = format!("{}/v1/users/me", app.settings.issuer);
    let res = resource(
        &app,
        "/v1/users/me",
        &format!("DPoP {at}"),
        Some(&key.proof_for("GET", &v1, &at)),
    )
    .await;
    assert!(res.headers().get("dpop-nonce").is_some());
    expect_challenge(res, "use_dpop_nonce").await;
}

/// Used `jti`s are written by group commit (`store::dpop_proofs::GroupInsert`): the same
/// proof sent many times at once, to two instances, in batches together or apart, is
/// accepted exactly once; distinct proofs sent at once are each accepted.
#[tokio::test]
async fn concurrent_copies_of_a_proof_are_accepted_once() {
    let app = spawn_app().await;
    let sibling = spawn_sibling(&app).await;
    let c = app.machine_client().await;
    let key = Key::new();
    let proof = key.proof("POST", &token_url(&app));
    let sends = (0..24).map(|i| {
        let (app, sibling, c, proof) = (&app, &sibling, &c, proof.clone());
        async move {
            let on = if i % 2 == 0 { app } else { sibling };
            cc(on, c, &[&proof]).await.status().as_u16()
        }
    });
    let statuses = futures_util::future::join_all(sends).await;
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 400),
        "{statuses:?}"
    );
    let fresh: Vec<String> = (0..24)
        .map(|_| key.proof("POST", &token_url(&app)))
        .collect();
    let sends = fresh.iter().map(|p| {
        let (app, c) = (&app, &c);
        async move { cc(app, c, &[p]).await.status().as_u16() }
    });
    let statuses = futures_util::future::join_all(sends).await;
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
}

/// The replay store alone, as two instances sharing one database would drive it: 400 proofs,
/// a quarter of them sent twice or three times, each copy to a random instance, all at once.
/// Every proof is accepted exactly once, whichever instance saw it first (on SQLite the log's
/// order decides, and each instance reads what the other appended).
#[tokio::test]
async fn two_instances_replay_stores_accept_each_proof_once_under_interleaving() {
    use latch::store::dpop_proofs::GroupInsert;
    use rand::Rng;
    let app = spawn_app().await;
    let (one, two) = (GroupInsert::default(), GroupInsert::default());
    let until = chrono::Utc::now() + chrono::Duration::seconds(60);
    let mut rng = rand::rng();
    let mut sends = Vec::new();
    for i in 0..400 {
        let key = latch::crypto::sha256_hex(&format!("jkt:{i}"));
        let copies = if i % 4 == 0 {
            rng.random_range(2..=3)
        } else {
            1
        };
        for _ in 0..copies {
            sends.push((i, key.clone(), rng.random_bool(0.5)));
        }
    }
    let answers = futures_util::future::join_all(sends.iter().map(|(i, key, first)| {
        let (store, db) = (if *first { &one } else { &two }, &app.db);
        async move { (*i, store.submit(db, (key.clone(), until)).await.unwrap()) }
    }))
    .await;
    let mut accepted = vec![0; 400];
    for (i, first) in answers {
        accepted[i] += usize::from(first);
    }
    assert!(accepted.iter().all(|n| *n == 1), "{accepted:?}");
    // Afterwards, either instance refuses any of them again.
    for (i, store) in [(0, &one), (1, &two), (4, &two), (5, &one)] {
        let key = latch::crypto::sha256_hex(&format!("jkt:{i}"));
        assert!(!store.submit(&app.db, (key, until)).await.unwrap(), "{i}");
    }
}

/// SQLite: proofs recorded in `dpop_proof` before the upgrade to the log stay used after it
/// (the migration moves the rows), and an instance whose log was emptied and restarted from
/// `id` 1 (recreated by hand) still reads what another instance records after that.
#[tokio::test]
async fn sqlite_replay_log_keeps_records_across_the_upgrade_and_a_restarted_log() {
    use latch::store::dpop_proofs::GroupInsert;
    use migration::{Migrator, MigratorTrait};
    use sea_orm::ConnectionTrait;
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/upgrade.db?mode=rwc", dir.path().display());
    let db = sea_orm::Database::connect(&url).await.unwrap();
    let before_log = log_migration();
    Migrator::up(&db, Some(before_log)).await.unwrap();
    let until = chrono::Utc::now() + chrono::Duration::seconds(60);
    let used = latch::crypto::sha256_hex("jkt:used-before-the-upgrade");
    db.execute_raw(sea_orm::Statement::from_sql_and_values(
        sea_orm::DbBackend::Sqlite,
        "INSERT INTO dpop_proof (key, expires_at) VALUES (?, ?)",
        [used.clone().into(), until.into()],
    ))
    .await
    .unwrap();
    Migrator::up(&db, None).await.unwrap();
    let one = GroupInsert::default();
    assert!(!one.submit(&db, (used, until)).await.unwrap());
    let key = |s: &str| latch::crypto::sha256_hex(&format!("jkt:{s}"));
    assert!(one.submit(&db, (key("a"), until)).await.unwrap());
    assert!(one.submit(&db, (key("b"), until)).await.unwrap());

    // The log emptied by hand, so its ids restart; another instance records "c" as id 1.
    db.execute_unprepared("DELETE FROM dpop_proof_log")
        .await
        .unwrap();
    let two = GroupInsert::default();
    assert!(two.submit(&db, (key("c"), until)).await.unwrap());
    assert!(!one.submit(&db, (key("c"), until)).await.unwrap());
    assert!(one.submit(&db, (key("d"), until)).await.unwrap());
    assert!(!two.submit(&db, (key("d"), until)).await.unwrap());
}

/// How many migrations run before SQLite's replay log exists (migration 23 makes it).
fn log_migration() -> u32 {
    use migration::MigratorTrait;
    let at = migration::Migrator::migrations()
        .iter()
        .position(|m| m.name().ends_with("_dpop_proof_log"))
        .expect("the replay log's migration");
    u32::try_from(at).unwrap()
}

/// SQLite: migration 24 drops `AUTOINCREMENT` from the log and keeps its `id`s from ever
/// being handed out again: a log swept empty before the upgrade carries its highest `id`
/// over as a row, so an instance that had read up to it still reads every row appended after
/// the upgrade (without it, new rows would restart at 1 and be skipped: "c" accepted twice).
#[tokio::test]
async fn sqlite_replay_log_ids_are_not_reused_across_the_lean_log_upgrade() {
    use latch::store::dpop_proofs::{GroupInsert, recorded, sweep};
    use migration::{Migrator, MigratorTrait};
    use sea_orm::ConnectionTrait;
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/lean.db?mode=rwc", dir.path().display());
    let db = sea_orm::Database::connect(&url).await.unwrap();
    Migrator::up(&db, Some(log_migration() + 1)).await.unwrap();
    let until = chrono::Utc::now() + chrono::Duration::seconds(60);
    let key = |s: &str| latch::crypto::sha256_hex(&format!("jkt:{s}"));
    let one = GroupInsert::default();
    for s in ["a", "b", "x"] {
        assert!(one.submit(&db, (key(s), until)).await.unwrap(), "{s}");
    }
    // Migration 23's sweep emptied the log; AUTOINCREMENT remembers id 3.
    db.execute_unprepared("DELETE FROM dpop_proof_log")
        .await
        .unwrap();
    Migrator::up(&db, None).await.unwrap();
    let two = GroupInsert::default();
    for s in ["c", "d", "e", "f"] {
        assert!(two.submit(&db, (key(s), until)).await.unwrap(), "{s}");
    }
    assert!(!one.submit(&db, (key("c"), until)).await.unwrap());
    assert!(!one.submit(&db, (key("f"), until)).await.unwrap());
    assert!(one.submit(&db, (key("g"), until)).await.unwrap());
    assert!(!two.submit(&db, (key("g"), until)).await.unwrap());
    // The mark row (its window ended at the epoch), c to f, one's copy of c, g and two's
    // copy of g; the sweep keeps only the newest row.
    assert_eq!(recorded(&db).await.unwrap().len(), 8);
    sweep(&db, until + chrono::Duration::seconds(1))
        .await
        .unwrap();
    assert_eq!(recorded(&db).await.unwrap().len(), 1);
    let three = GroupInsert::default();
    assert!(three.submit(&db, (key("h"), until)).await.unwrap());
    assert!(!one.submit(&db, (key("h"), until)).await.unwrap());
    // Down to migration 23's shape and up again: every row and id kept.
    Migrator::down(&db, Some(1)).await.unwrap();
    assert_eq!(recorded(&db).await.unwrap().len(), 3);
    assert!(!three.submit(&db, (key("h"), until)).await.unwrap());
    Migrator::up(&db, None).await.unwrap();
    assert!(!two.submit(&db, (key("h"), until)).await.unwrap());
    assert!(one.submit(&db, (key("i"), until)).await.unwrap());
}

/// SQLite without a file to share (in memory): the log has no connection of its own and runs
/// on the pool (one statement with `RETURNING`); two instances on it still accept each proof
/// once, copies within one batch included.
#[tokio::test]
async fn sqlite_replay_log_on_the_pool_accepts_each_proof_once() {
    use latch::store::dpop_proofs::GroupInsert;
    use migration::{Migrator, MigratorTrait};
    // One connection: every pooled statement sees the same in-memory database.
    let mut options = sea_orm::ConnectOptions::new("sqlite::memory:");
    options.max_connections(1).min_connections(1);
    let db = sea_orm::Database::connect(options).await.unwrap();
    Migrator::up(&db, None).await.unwrap();
    let until = chrono::Utc::now() + chrono::Duration::seconds(60);
    let key = |s: &str| latch::crypto::sha256_hex(&format!("jkt:{s}"));
    let (one, two) = (GroupInsert::default(), GroupInsert::default());
    let batch =
        futures_util::future::join_all(["a", "b", "a"].map(|s| one.submit(&db, (key(s), until))))
            .await;
    let firsts: Vec<bool> = batch.into_iter().map(Result::unwrap).collect();
    assert_eq!(firsts.iter().filter(|f| **f).count(), 2, "{firsts:?}");
    assert!(!two.submit(&db, (key("b"), until)).await.unwrap());
    assert!(two.submit(&db, (key("c"), until)).await.unwrap());
    assert!(!one.submit(&db, (key("c"), until)).await.unwrap());
    assert!(!one.submit(&db, (key("a"), until)).await.unwrap());
}

/// SQLite: the replay log's own connection never waits inside SQLite. While another process
/// holds the write lock, a batch retries and succeeds once the lock is released; held past
/// the pool's acquire timeout, the batch is "unavailable" (503), and nothing was recorded.
#[tokio::test]
async fn sqlite_replay_log_waits_for_a_locked_database_within_the_acquire_timeout() {
    use latch::store::dpop_proofs::GroupInsert;
    use migration::{Migrator, MigratorTrait};
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("locked.db");
    let db = latch::store::connect(&latch::store::DbConfig {
        url: format!("sqlite://{}?mode=rwc", file.display()),
        max_connections: 4,
        acquire_timeout: std::time::Duration::from_millis(400),
        statement_timeout: None,
        is_sqlite: true,
    })
    .await
    .unwrap();
    Migrator::up(&db, None).await.unwrap();
    let until = chrono::Utc::now() + chrono::Duration::seconds(60);
    let key = |s: &str| latch::crypto::sha256_hex(&format!("jkt:{s}"));
    let store = GroupInsert::default();
    assert!(store.submit(&db, (key("a"), until)).await.unwrap());

    let other = rusqlite::Connection::open(&file).unwrap();
    other.execute_batch("BEGIN IMMEDIATE").unwrap();
    let started = std::time::Instant::now();
    let locked = store.submit(&db, (key("b"), until)).await;
    assert!(
        matches!(locked, Err(latch::store::StoreError::Unavailable(_))),
        "{locked:?}"
    );
    assert!(started.elapsed() >= std::time::Duration::from_millis(350));
    assert!(started.elapsed() < std::time::Duration::from_secs(3));

    let (db2, store) = (db.clone(), std::sync::Arc::new(store));
    let waiting = {
        let store = store.clone();
        tokio::spawn(async move { store.submit(&db2, (key("b"), until)).await })
    };
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    other.execute_batch("COMMIT").unwrap();
    assert!(
        waiting.await.unwrap().unwrap(),
        "b was not recorded while locked"
    );
    assert!(!store.submit(&db, (key("b"), until)).await.unwrap());
}

/// SQLite: an instance that starts after many proofs were used (6,000 rows read in one go
/// on the log's blocking thread) refuses each of them and accepts new ones.
#[tokio::test]
async fn sqlite_replay_log_read_whole_at_start_refuses_every_used_proof() {
    use latch::store::dpop_proofs::{GroupInsert, fingerprint};
    use migration::{Migrator, MigratorTrait};
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("long.db");
    let db = sea_orm::Database::connect(format!("sqlite://{}?mode=rwc", file.display()))
        .await
        .unwrap();
    Migrator::up(&db, None).await.unwrap();
    let until = chrono::Utc::now() + chrono::Duration::seconds(60);
    let key = |i: usize| latch::crypto::sha256_hex(&format!("jkt:{i}"));
    {
        let mut other = rusqlite::Connection::open(&file).unwrap();
        let txn = other.transaction().unwrap();
        for i in 0..6000 {
            txn.execute(
                "INSERT INTO dpop_proof_log (fp, expires) VALUES (?1, ?2)",
                rusqlite::params![fingerprint(&key(i)).unwrap(), until.timestamp()],
            )
            .unwrap();
        }
        txn.commit().unwrap();
    }
    let store = GroupInsert::default();
    for i in [0, 2999, 5999] {
        assert!(!store.submit(&db, (key(i), until)).await.unwrap(), "{i}");
    }
    assert!(store.submit(&db, (key(6000), until)).await.unwrap());
}
