#!/usr/bin/env python3
"""DPoP (RFC 9449) from a browser app with a real client library, against a real Latch.

    scripts/dpop-browser.py [--latch PATH_TO_BINARY]

A single-page app on http://127.0.0.1:<port> (a public client), in headless Chromium, runs
panva's `oauth4webapi` (fetched with `npm pack`) with its DPoP support: a non-extractable
ES256 key pair (`o.generateKeyPair`, kept across the redirect in IndexedDB) and an `o.DPoP`
handle on every token and userinfo request. Discovery, then code + PKCE bound to the key
(`dpop_jkt`); the token response must say `token_type` DPoP and the access token carry
`cnf.jkt` = the key's thumbprint; userinfo with `Authorization: DPoP` + a proof with `ath`
succeeds; a refresh with the key succeeds. Refused: the same access token as `Bearer` (401),
and a refresh with another key pair. The whole round runs twice: as is, then with
LATCH_DPOP_REQUIRE_NONCE=true, where oauth4webapi must answer `use_dpop_nonce` (one retry per
`o.isDPoPNonceError`, the handle having cached the `DPoP-Nonce`). Prints one line per check;
exits 0 when all hold. Each round has its own server, database and browser (scripts/spa_harness.py).
Needs Debian's `chromium`, `npm`, and `pip install websocket-client`.
"""

import argparse
import json
import os
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from spa_harness import EMAIL, LIB, OPTS, LatchSpa  # noqa: E402

# Page helpers: the key pair survives the trip to Latch's pages in IndexedDB (a CryptoKey is
# structured-cloneable, its private half stays non-extractable); `retry` repeats a request once
# when the server asks for a DPoP nonce (oauth4webapi's documented pattern: the handle has
# cached the nonce from the refusal).
PRELUDE = LIB + """
const idb = () => new Promise((ok, ko) => { const r = indexedDB.open('dpop', 1);
    r.onupgradeneeded = () => r.result.createObjectStore('keys');
    r.onsuccess = () => ok(r.result); r.onerror = () => ko(r.error); });
const keys = async (mode, value) => { const db = await idb();
    return new Promise((ok, ko) => { const tx = db.transaction('keys', mode);
        const r = mode === 'readwrite' ? tx.objectStore('keys').put(value, 'pair')
                                       : tx.objectStore('keys').get('pair');
        tx.oncomplete = () => ok(r.result); tx.onerror = () => ko(tx.error); }); };
let retries = 0;
const retry = async (f) => { try { return await f(); }
    catch (e) { if (o.isDPoPNonceError(e)) { retries++; return await f(); } throw e; } };
const payload = (jwt) => JSON.parse(atob(jwt.split('.')[1].replace(/-/g, '+').replace(/_/g, '/')));
const describe = (e) => ({name: e.name, code: e.code, status: e.status, error: e.error,
    error_description: e.error_description, message: String(e.message)});
"""


def run(latch_bin, nonces):
    """One full round; returns whether every check held."""
    env = {"LATCH_DPOP_REQUIRE_NONCE": "true" if nonces else "false"}
    h = LatchSpa(latch_bin, prefix="latch-dpop-", env=env)
    b, iss, spa, client_id = h.b, h.iss, h.spa, h.client_id
    ctx = dict(issuer=iss, client_id=client_id, redirect_uri=h.redirect_uri)
    try:
        # Discovery, the key pair, and the authorization URL (PKCE, dpop_jkt), on the app.
        b.goto(f"{spa}/")
        start = b.eval(f"""(async () => {{ {PRELUDE}
            try {{
            const c = {json.dumps(ctx)};
            const issuer = new URL(c.issuer);
            const as = await o.processDiscoveryResponse(issuer,
                await o.discoveryRequest(issuer, {{algorithm: 'oidc', ...{OPTS}}}));
            const pair = await o.generateKeyPair('ES256');
            await keys('readwrite', pair);
            const jkt = await o.DPoP({{client_id: c.client_id}}, pair).calculateThumbprint();
            const verifier = o.generateRandomCodeVerifier();
            const state = o.generateRandomState();
            sessionStorage.setItem('flow', JSON.stringify({{as, verifier, state, jkt}}));
            const u = new URL(as.authorization_endpoint);
            for (const [k, v] of Object.entries({{client_id: c.client_id,
                    redirect_uri: c.redirect_uri, response_type: 'code',
                    scope: 'openid email read', state, dpop_jkt: jkt,
                    code_challenge: await o.calculatePKCECodeChallenge(verifier),
                    code_challenge_method: 'S256'}}))
                u.searchParams.set(k, v);
            return JSON.stringify({{auth_url: u.href, jkt,
                algs: as.dpop_signing_alg_values_supported || null,
                extractable: pair.privateKey.extractable}});
            }} catch (e) {{ return JSON.stringify({{error: describe(e)}}); }} }})()""")
        s = json.loads(start)
        assert "error" not in s, s
        checks = []

        def check(name, ok, detail):
            checks.append(ok)
            print(f"{'ok  ' if ok else 'FAIL'} {name}: {detail}")

        check("metadata lists ES256 for DPoP", "ES256" in (s["algs"] or []),
              f"dpop_signing_alg_values_supported={s['algs']}")
        # The person signs in and allows, on Latch's pages.
        h.sign_in_and_allow(s["auth_url"])
        # Back on the app: everything with the DPoP handle, then the refusals.
        result = b.eval(f"""(async () => {{ {PRELUDE}
            const r = {{origin: location.origin}};
            try {{
            const c = {json.dumps(ctx)};
            const {{as, verifier, state, jkt}} = JSON.parse(sessionStorage.getItem('flow'));
            const client = {{client_id: c.client_id}};
            const pair = await keys('readonly');
            r.key_from_idb = pair && pair.privateKey instanceof CryptoKey;
            const DPoP = o.DPoP(client, pair);
            const params = o.validateAuthResponse(as, client, new URL(location.href), state);
            const tokens = await retry(async () => o.processAuthorizationCodeResponse(as, client,
                await o.authorizationCodeGrantRequest(as, client, o.None(), params,
                    c.redirect_uri, verifier, {{DPoP, ...{OPTS}}})));
            r.token_type = tokens.token_type;
            r.cnf = payload(tokens.access_token).cnf || null;
            r.jkt = jkt;
            const sub = o.getValidatedIdTokenClaims(tokens).sub;
            // userinfo: Authorization: DPoP <token> and a proof with ath.
            const info = await retry(async () => o.processUserInfoResponse(as, client, sub,
                await o.userInfoRequest(as, client, tokens.access_token, {{DPoP, ...{OPTS}}})));
            r.userinfo_email = info.email;
            // The same token as Bearer (no DPoP option: oauth4webapi then sends Bearer).
            const bearer = await o.userInfoRequest(as, client, tokens.access_token, {OPTS});
            r.bearer = {{status: bearer.status,
                         www_authenticate: bearer.headers.get('www-authenticate')}};
            // Refresh with the key.
            const refreshed = await retry(async () => o.processRefreshTokenResponse(as, client,
                await o.refreshTokenGrantRequest(as, client, o.None(), tokens.refresh_token,
                    {{DPoP, ...{OPTS}}})));
            r.refreshed = {{token_type: refreshed.token_type,
                           cnf: payload(refreshed.access_token).cnf || null,
                           new_refresh_token: typeof refreshed.refresh_token === 'string'}};
            // Refresh with another key pair: refused.
            const other = o.DPoP(client, await o.generateKeyPair('ES256'));
            r.other_jkt = await other.calculateThumbprint();
            try {{
                const t = await retry(async () => o.processRefreshTokenResponse(as, client,
                    await o.refreshTokenGrantRequest(as, client, o.None(),
                        refreshed.refresh_token, {{DPoP: other, ...{OPTS}}})));
                r.other_key = {{refused: false, token_type: t.token_type}};
            }} catch (e) {{ r.other_key = {{refused: true, ...describe(e)}}; }}
            }} catch (e) {{ r.error = describe(e); }}
            r.nonce_retries = retries;
            return JSON.stringify(r); }})()""")
        r = json.loads(result)
        if "error" in r:
            print("FAIL page:", json.dumps(r))
            return False
        check("key pair kept across the redirect", r["key_from_idb"] is True,
              f"non-extractable={s['extractable'] is False}")
        check("code + PKCE with DPoP: token_type", str(r["token_type"]).lower() == "dpop",
              f"token_type={r['token_type']}")
        check("access token bound to the key", (r["cnf"] or {}).get("jkt") == r["jkt"],
              f"cnf={json.dumps(r['cnf'])} jkt={r['jkt']}")
        check("userinfo with DPoP + ath", r["userinfo_email"] == EMAIL,
              f"email={r['userinfo_email']}")
        bearer = r["bearer"]
        check("same token as Bearer refused", bearer["status"] == 401 and
              (bearer["www_authenticate"] or "").startswith("DPoP ") and
              'error="invalid_token"' in bearer["www_authenticate"],
              f"{bearer['status']} WWW-Authenticate: {bearer['www_authenticate']}")
        rf = r["refreshed"]
        check("refresh with the key", str(rf["token_type"]).lower() == "dpop"
              and (rf["cnf"] or {}).get("jkt") == r["jkt"] and rf["new_refresh_token"],
              f"token_type={rf['token_type']} cnf={json.dumps(rf['cnf'])}")
        ok_ = r["other_key"]
        check("refresh with another key refused", ok_["refused"] is True
              and ok_.get("status") in (400, 401),
              f"{ok_.get('status')} {ok_.get('error')}: {ok_.get('error_description')}"
              if ok_["refused"] else f"accepted: {ok_}")
        if nonces:
            check("use_dpop_nonce answered by oauth4webapi", r["nonce_retries"] >= 1,
                  f"{r['nonce_retries']} retries with the server's DPoP-Nonce")
        return all(checks)
    finally:
        h.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--latch", default=os.environ.get("LATCH_BIN", "target/debug/latch"))
    a = ap.parse_args()
    results = []
    for nonces in (False, True):
        print(f"-- LATCH_DPOP_REQUIRE_NONCE={'true' if nonces else 'false'}")
        results.append(run(a.latch, nonces))
    if not all(results):
        raise SystemExit(1)
    print("ok")


if __name__ == "__main__":
    main()
