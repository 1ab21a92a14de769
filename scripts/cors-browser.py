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
import functools
import http.server
import json
import os
import shutil
import socket
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import urllib.request

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from screenshot import Browser  # noqa: E402  scripts/screenshot.py

O4W_VERSION = "3.8.8"
EMAIL, PASSWORD = "spa@example.com", "a long passphrase"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Spa(http.server.SimpleHTTPRequestHandler):
    """Every path but the library is the app's one page."""

    def translate_path(self, path):
        if path.startswith("/oauth4webapi.js"):
            return super().translate_path("/oauth4webapi.js")
        return super().translate_path("/index.html")

    def guess_type(self, path):
        return "text/javascript" if path.endswith(".js") else "text/html"

    def log_message(self, *args):
        pass


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--latch", default=os.environ.get("LATCH_BIN", "target/debug/latch"))
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="latch-cors-")
    latch_port, spa_port = free_port(), free_port()
    iss = f"http://127.0.0.1:{latch_port}"
    spa = f"http://127.0.0.1:{spa_port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("LATCH_")}
    env.update(LATCH_DATABASE_URL=f"sqlite://{work}/latch.db?mode=rwc",
               LATCH_BIND=f"127.0.0.1:{latch_port}", LATCH_ISSUER=iss)
    env["LATCH_SECRET_KEY"] = subprocess.check_output(
        [a.latch, "secret", "generate"], env=env, text=True).strip()

    def latch(*args, stdin=None):
        return subprocess.run([a.latch, *args], env=env, input=stdin, text=True,
                              capture_output=True, check=True).stdout

    # The app: its page and the library, from npm.
    site = os.path.join(work, "site")
    os.makedirs(site)
    subprocess.run(["npm", "pack", f"oauth4webapi@{O4W_VERSION}", "--pack-destination", work],
                   check=True, capture_output=True)
    with tarfile.open(os.path.join(work, f"oauth4webapi-{O4W_VERSION}.tgz")) as t:
        f = t.extractfile("package/build/index.js")
        open(os.path.join(site, "oauth4webapi.js"), "wb").write(f.read())
    open(os.path.join(site, "index.html"), "w").write("<!doctype html><title>SPA</title>")
    httpd = http.server.ThreadingHTTPServer(
        ("127.0.0.1", spa_port), functools.partial(Spa, directory=site))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()

    latch("user", "create", "--email", EMAIL, "--password-stdin", stdin=PASSWORD + "\n")
    client_id = json.loads(latch("client", "create", "--name", "Browser app", "--public",
                                 "--redirect-uri", f"{spa}/callback", "--json"))["client_id"]
    server = subprocess.Popen([a.latch, "serve"], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    b = None
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"{iss}/readyz")
                break
            except OSError:
                time.sleep(0.1)
        b = Browser(1280, 900)
        opts = "{[o.allowInsecureRequests]: true}"
        lib = "const o = await import('/oauth4webapi.js');"
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
        b.goto(auth_url)
        b.eval(f"""document.querySelector('input[name=email]').value = {json.dumps(EMAIL)};
                   document.querySelector('input[name=password]').value = {json.dumps(PASSWORD)};
                   document.querySelector('input[name=password]').form.submit();""")
        time.sleep(1.0)
        b.wait_loaded()
        b.eval("document.querySelector('button[value=allow]').click()")
        time.sleep(1.0)
        b.wait_loaded()
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
        if b:
            b.close()
        server.terminate()
        server.wait()
        httpd.shutdown()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
