#!/usr/bin/env python3
"""A browser app on another origin, in headless Chromium, against a real Latch (CORS).

    scripts/cors-browser.py [--latch PATH_TO_BINARY]

A single-page app served on http://127.0.0.1:<port> (a public client whose redirect URI is
there, so that origin is allowed by default) runs panva's `oauth4webapi` (fetched with `npm
pack`) through discovery, code + PKCE, userinfo and refresh, all cross-origin `fetch`es the
browser checks with CORS. The same page served as http://localhost:<port> (another origin, no
client allows it) is refused by the browser at the token endpoint. Exits 0 when both hold.
Needs Debian's `chromium`, `npm`, and `pip install websocket-client`.
"""

import argparse
import json
import os
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from spa_harness import EMAIL, LIB as lib, OPTS as opts, LatchSpa  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--latch", default=os.environ.get("LATCH_BIN", "target/debug/latch"))
    a = ap.parse_args()
    h = LatchSpa(a.latch, prefix="latch-cors-")
    b, iss, spa, client_id, spa_port = h.b, h.iss, h.spa, h.client_id, h.spa_port
    try:
        # Discovery and the authorization URL, from the app's origin.
        b.goto(f"{spa}/")
        auth_url = b.eval(f"""(async () => {{ {lib}
            const issuer = new URL({json.dumps(iss)});
            const as = await o.processDiscoveryResponse(issuer,
                await o.discoveryRequest(issuer, {{algorithm: 'oidc', ...{opts}}}));
            const verifier = o.generateRandomCodeVerifier();
            const state = o.generateRandomState();
            sessionStorage.setItem('flow', JSON.stringify({{as, verifier, state}}));
            const u = new URL(as.authorization_endpoint);
            u.searchParams.set('client_id', {json.dumps(client_id)});
            u.searchParams.set('redirect_uri', {json.dumps(spa + '/callback')});
            u.searchParams.set('response_type', 'code');
            u.searchParams.set('scope', 'openid email read');
            u.searchParams.set('state', state);
            u.searchParams.set('code_challenge', await o.calculatePKCECodeChallenge(verifier));
            u.searchParams.set('code_challenge_method', 'S256');
            return u.href; }})()""")
        assert auth_url and auth_url.startswith(iss), auth_url
        # The person signs in and allows, on Latch's pages.
        h.sign_in_and_allow(auth_url)
        # Back on the app: code exchange, userinfo and refresh, each a CORS request.
        result = b.eval(f"""(async () => {{ {lib}
            try {{
            const {{as, verifier, state}} = JSON.parse(sessionStorage.getItem('flow'));
            const client = {{client_id: {json.dumps(client_id)}}};
            const params = o.validateAuthResponse(as, client, new URL(location.href), state);
            const res = await o.authorizationCodeGrantRequest(as, client, o.None(), params,
                {json.dumps(spa + '/callback')}, verifier, {opts});
            const tokens = await o.processAuthorizationCodeResponse(as, client, res);
            const sub = o.getValidatedIdTokenClaims(tokens).sub;
            const info = await o.processUserInfoResponse(as, client, sub,
                await o.userInfoRequest(as, client, tokens.access_token, {opts}));
            const refreshed = await o.processRefreshTokenResponse(as, client,
                await o.refreshTokenGrantRequest(as, client, o.None(), tokens.refresh_token, {opts}));
            return JSON.stringify({{origin: location.origin, email: info.email,
                                    refreshed: typeof refreshed.access_token === 'string'}});
            }} catch (e) {{ return 'ERROR ' + e + ' ' + JSON.stringify(e.cause || null); }}
            }})()""")
        print("allowed origin:", result)
        assert result and not result.startswith("ERROR"), result
        r = json.loads(result)
        assert r["email"] == EMAIL and r["refreshed"] is True, r
        # Another origin (localhost is not 127.0.0.1): the browser refuses the token call.
        b.goto(f"http://localhost:{spa_port}/")
        refused = b.eval(f"""(async () => {{
            try {{
                await fetch({json.dumps(iss + '/oauth/token')}, {{method: 'POST',
                    headers: {{'content-type': 'application/x-www-form-urlencoded'}},
                    body: 'grant_type=refresh_token&refresh_token=rt_x&client_id={client_id}'}});
                return 'READ';
            }} catch (e) {{ return 'REFUSED ' + e.name; }} }})()""")
        print("other origin:", refused)
        assert refused.startswith("REFUSED"), refused
        # …while the public metadata stays readable from anywhere.
        meta = b.eval(f"""fetch({json.dumps(iss + '/.well-known/jwks.json')})
            .then(r => r.ok ? 'READ' : 'HTTP ' + r.status).catch(e => 'REFUSED ' + e.name)""")
        print("other origin, JWKS:", meta)
        assert meta == "READ", meta
        print("ok")
    finally:
        h.close()


if __name__ == "__main__":
    main()
