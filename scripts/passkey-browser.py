#!/usr/bin/env python3
"""Passkeys (WebAuthn) in a real browser against a real Latch.

    scripts/passkey-browser.py [--latch PATH_TO_BINARY] [--screenshots DIR]

Starts `latch serve` with a fresh SQLite database and the issuer http://localhost:<port> (a
WebAuthn RP ID must be a domain name; Chromium treats localhost as a secure context), and
headless Chromium with a virtual authenticator from the Chrome DevTools Protocol
(`WebAuthn.enable`, `WebAuthn.addVirtualAuthenticator`: CTAP2, internal transport, resident
keys, user verification that succeeds). Through the real pages and `static/passkey.js`: sign
in with the password, register a passkey in Settings (listed by its name; the authenticator
holds one resident credential), sign out, then start an OAuth code flow (PKCE, a public
client) and on its sign-in page press "Sign in with a passkey" only — no email, no password
— allow on the consent page, redeem the code and check the ID token's `amr` (RFC 8176:
`hwk`/`swk`, `user`, `mfa`). Also: a passkey sign-in with the authenticator's user
verification failing is refused. Prints one line per check; exits 0 when all hold.
With --screenshots it saves the Settings page (a passkey listed) and the sign-in page.
Needs Debian's `chromium` and `pip install websocket-client`.
"""

import argparse
import base64
import hashlib
import http.server
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from screenshot import Browser, free_port  # noqa: E402  scripts/screenshot.py

EMAIL, PASSWORD = "passkey@example.com", "a long passphrase"
PASSKEY_NAME = "Chromium virtual key"


class Callback(http.server.BaseHTTPRequestHandler):
    """The app's redirect URI: remembers the query it was sent."""
    seen = []

    def do_GET(self):
        Callback.seen.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.end_headers()
        self.wfile.write(b"<!doctype html><title>App</title>callback")

    def log_message(self, *args):
        pass


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def claims(jwt):
    part = jwt.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def wait_for(b, js, timeout=10.0):
    """Poll a page expression until it is truthy (the page may navigate meanwhile)."""
    end = time.time() + timeout
    while time.time() < end:
        try:
            v = b.eval(js)
            if v:
                return v
        except SystemExit:
            pass
        time.sleep(0.2)
    return None


def run(latch_bin, shots):
    work = tempfile.mkdtemp(prefix="latch-passkey-")
    port, app_port = free_port(), free_port()
    iss = f"http://localhost:{port}"
    redirect_uri = f"http://127.0.0.1:{app_port}/callback"
    env = {k: v for k, v in os.environ.items() if not k.startswith("LATCH_")}
    env.update(LATCH_DATABASE_URL=f"sqlite://{work}/latch.db?mode=rwc",
               LATCH_BIND=f"127.0.0.1:{port}", LATCH_ISSUER=iss)
    env["LATCH_SECRET_KEY"] = subprocess.check_output(
        [latch_bin, "secret", "generate"], env=env, text=True).strip()

    def latch(*args, stdin=None):
        return subprocess.run([latch_bin, *args], env=env, input=stdin, text=True,
                              capture_output=True, check=True).stdout

    server = httpd = b = None
    checks = []

    def check(name, ok, detail):
        checks.append(bool(ok))
        print(f"{'ok  ' if ok else 'FAIL'} {name}: {detail}")

    try:
        latch("user", "create", "--email", EMAIL, "--password-stdin", stdin=PASSWORD + "\n")
        client_id = json.loads(latch(
            "client", "create", "--name", "Passkey demo app", "--public",
            "--redirect-uri", redirect_uri, "--json"))["client_id"]
        httpd = http.server.ThreadingHTTPServer(("127.0.0.1", app_port), Callback)
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        server = subprocess.Popen([latch_bin, "serve"], env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(100):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz")
                break
            except OSError:
                time.sleep(0.1)
        b = Browser(1280, 900)
        b.call("WebAuthn.enable")
        auth_id = b.call("WebAuthn.addVirtualAuthenticator", options={
            "protocol": "ctap2", "transport": "internal", "hasResidentKey": True,
            "hasUserVerification": True, "isUserVerified": True,
            "automaticPresenceSimulation": True})["authenticatorId"]

        # 1. Sign in with the password, to Settings.
        b.goto(f"{iss}/login?next=/dashboard/settings/security")
        b.eval(f"""document.querySelector('input[name=email]').value = {json.dumps(EMAIL)};
                   document.querySelector('input[name=password]').value = {json.dumps(PASSWORD)};
                   document.querySelector('input[name=password]').form.submit();""")
        time.sleep(1.0)
        b.wait_loaded()
        here = b.eval("location.pathname")
        check("password sign-in to Settings", here == "/dashboard/settings/security", here)

        # 2. Register a passkey under a name, through static/passkey.js.
        shown = wait_for(b, "!document.getElementById('passkey-add').hidden")
        check("the add form is shown (WebAuthn available)", shown, f"visible={shown}")
        b.eval(f"""document.getElementById('passkey_name').value = {json.dumps(PASSKEY_NAME)};
                   document.getElementById('passkey-add').requestSubmit();""")
        listed = wait_for(b, f"""location.pathname === '/dashboard/settings/security' &&
            !!document.querySelector('tr[data-passkey]') &&
            document.querySelector('tr[data-passkey] th').textContent === {json.dumps(PASSKEY_NAME)}""")
        err = b.eval("(document.getElementById('passkey-add-status') || {}).textContent || ''")
        check("passkey registered and listed by name", listed, err or PASSKEY_NAME)
        creds = b.call("WebAuthn.getCredentials", authenticatorId=auth_id)["credentials"]
        check("the authenticator holds one resident credential",
              len(creds) == 1 and creds[0].get("isResidentCredential") is True,
              f"{len(creds)} credential(s), resident={[c.get('isResidentCredential') for c in creds]}")
        if shots:
            shot(b, os.path.join(shots, "passkeys-settings.png"))

        # 3. Sign out.
        b.eval("document.querySelector('form[action=\"/logout\"]').submit()")
        time.sleep(1.0)
        b.wait_loaded()
        check("signed out", b.eval("location.pathname") == "/login", b.eval("location.href"))

        # 4. An authorization request (code + PKCE); its sign-in page; the passkey only.
        verifier = b64url(secrets.token_bytes(32))
        challenge = b64url(hashlib.sha256(verifier.encode()).digest())
        auth_url = f"{iss}/oauth/authorize?" + urllib.parse.urlencode({
            "client_id": client_id, "response_type": "code", "redirect_uri": redirect_uri,
            "scope": "openid email", "state": "st", "nonce": "n0",
            "code_challenge": challenge, "code_challenge_method": "S256"})
        b.goto(auth_url)
        time.sleep(0.3)
        b.wait_loaded()
        button = wait_for(b, "!document.getElementById('passkey-signin-group').hidden")
        check("sign-in page offers a passkey", button and b.eval("location.pathname") == "/login",
              b.eval("location.pathname"))
        if shots:
            shot(b, os.path.join(shots, "passkey-signin.png"))
        b.eval("document.getElementById('passkey-signin').click()")
        consent = wait_for(b, "!!document.querySelector('button[value=allow]')")
        status = b.eval("(document.getElementById('passkey-status') || {}).textContent || ''")
        check("passkey sign-in continues to consent", consent, status or b.eval("location.pathname"))
        b.eval("document.querySelector('button[value=allow]').click()")
        got = wait_for(b, "location.pathname === '/callback'")
        query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(b.eval("location.href")).query))
        check("code delivered to the app", got and "code" in query and query.get("state") == "st",
              {k: (v if k != "code" else "…") for k, v in query.items()})

        # 5. Redeem the code; the ID token says how the person signed in.
        body = urllib.parse.urlencode({
            "grant_type": "authorization_code", "code": query.get("code", ""),
            "redirect_uri": redirect_uri, "client_id": client_id,
            "code_verifier": verifier}).encode()
        with urllib.request.urlopen(urllib.request.Request(
                f"http://127.0.0.1:{port}/oauth/token", data=body)) as r:
            tokens = json.load(r)
        c = claims(tokens["id_token"])
        amr = c.get("amr") or []
        check("ID token amr: a key, user presence, multi-factor (RFC 8176)",
              ("hwk" in amr or "swk" in amr) and "mfa" in amr and "user" in amr
              and "pwd" not in amr, f"amr={amr}")
        check("ID token for the person", c.get("email") in (EMAIL, None) and c.get("sub"),
              f"sub={c.get('sub')}")
        creds = b.call("WebAuthn.getCredentials", authenticatorId=auth_id)["credentials"]
        check("the signature counter went up", creds and creds[0].get("signCount", 0) >= 1,
              f"signCount={creds[0].get('signCount') if creds else None}")

        # 6. User verification failing: refused, not signed in.
        b.eval("document.querySelector('form[action=\"/logout\"]') && "
               "document.querySelector('form[action=\"/logout\"]').submit()")
        time.sleep(0.5)
        b.call("WebAuthn.setUserVerified", authenticatorId=auth_id, isUserVerified=False)
        b.goto(f"{iss}/login")
        wait_for(b, "!document.getElementById('passkey-signin-group').hidden")
        b.eval("document.getElementById('passkey-signin').click()")
        msg = wait_for(b, "document.getElementById('passkey-status').textContent")
        still = b.eval("location.pathname")
        check("no user verification: refused", still == "/login" and msg, f"{still}: {msg}")
    finally:
        if b:
            b.close()
        if server:
            server.terminate()
            server.wait()
        if httpd:
            httpd.shutdown()
        shutil.rmtree(work, ignore_errors=True)
    return all(checks)


def shot(b, path):
    time.sleep(0.2)
    data = b.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)["data"]
    with open(path, "wb") as f:
        f.write(base64.b64decode(data))
    print(f"     screenshot {path}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--latch", default=os.environ.get("LATCH_BIN", "target/debug/latch"))
    ap.add_argument("--screenshots", help="save the Settings and sign-in pages here")
    a = ap.parse_args()
    if not run(a.latch, a.screenshots):
        raise SystemExit(1)
    print("ok")


if __name__ == "__main__":
    main()
