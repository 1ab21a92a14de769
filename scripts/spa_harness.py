"""Shared by the browser-app scripts (cors-browser.py, dpop-browser.py): a real Latch and a
single-page app on another loopback origin, in headless Chromium.

`LatchSpa(latch_bin, prefix, env)` starts `latch serve` (plus `env`'s settings) on a free port
with a fresh SQLite database in a temp dir, creates a user and a public client whose redirect URI is the app's
`/callback`, serves the app's one page and panva's `oauth4webapi` (fetched with `npm pack`)
with python's http.server on another free port, and opens a `screenshot.Browser`.
`sign_in_and_allow(auth_url)` signs the person in and consents on Latch's pages.
Needs Debian's `chromium`, `npm`, and `pip install websocket-client`.
"""

import functools
import http.server
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import urllib.request

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from screenshot import Browser, free_port  # noqa: E402  scripts/screenshot.py

O4W_VERSION = "3.8.8"
EMAIL, PASSWORD = "spa@example.com", "a long passphrase"
# In page scripts: the library as `o`, and the option that lets it talk plain http (loopback).
LIB = "const o = await import('/oauth4webapi.js');"
OPTS = "{[o.allowInsecureRequests]: true}"


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


class LatchSpa:
    def __init__(self, latch_bin, prefix="latch-spa-", env=None):
        self.extra_env = env or {}
        self.work = tempfile.mkdtemp(prefix=prefix)
        self.server = self.httpd = self.b = None
        try:
            self._start(latch_bin)
        except BaseException:
            self.close()
            raise

    def _start(self, latch_bin):
        latch_port, spa_port = free_port(), free_port()
        self.spa_port = spa_port
        self.iss = f"http://127.0.0.1:{latch_port}"
        self.spa = f"http://127.0.0.1:{spa_port}"
        self.redirect_uri = f"{self.spa}/callback"
        env = {k: v for k, v in os.environ.items() if not k.startswith("LATCH_")}
        env.update(LATCH_DATABASE_URL=f"sqlite://{self.work}/latch.db?mode=rwc",
                   LATCH_BIND=f"127.0.0.1:{latch_port}", LATCH_ISSUER=self.iss)
        env.update(self.extra_env)
        env["LATCH_SECRET_KEY"] = subprocess.check_output(
            [latch_bin, "secret", "generate"], env=env, text=True).strip()

        def latch(*args, stdin=None):
            return subprocess.run([latch_bin, *args], env=env, input=stdin, text=True,
                                  capture_output=True, check=True).stdout

        # The app: its page and the library, from npm.
        site = os.path.join(self.work, "site")
        os.makedirs(site)
        subprocess.run(["npm", "pack", f"oauth4webapi@{O4W_VERSION}",
                        "--pack-destination", self.work], check=True, capture_output=True)
        with tarfile.open(os.path.join(self.work, f"oauth4webapi-{O4W_VERSION}.tgz")) as t:
            f = t.extractfile("package/build/index.js")
            open(os.path.join(site, "oauth4webapi.js"), "wb").write(f.read())
        open(os.path.join(site, "index.html"), "w").write("<!doctype html><title>SPA</title>")
        self.httpd = http.server.ThreadingHTTPServer(
            ("127.0.0.1", spa_port), functools.partial(Spa, directory=site))
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

        latch("user", "create", "--email", EMAIL, "--password-stdin", stdin=PASSWORD + "\n")
        self.client_id = json.loads(latch(
            "client", "create", "--name", "Browser app", "--public",
            "--redirect-uri", self.redirect_uri, "--json"))["client_id"]
        self.server = subprocess.Popen([latch_bin, "serve"], env=env,
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(100):
            try:
                urllib.request.urlopen(f"{self.iss}/readyz")
                break
            except OSError:
                time.sleep(0.1)
        self.b = Browser(1280, 900)

    def sign_in_and_allow(self, auth_url):
        """The person signs in and allows, on Latch's pages; the browser ends on the app."""
        b = self.b
        b.goto(auth_url)
        b.eval(f"""document.querySelector('input[name=email]').value = {json.dumps(EMAIL)};
                   document.querySelector('input[name=password]').value = {json.dumps(PASSWORD)};
                   document.querySelector('input[name=password]').form.submit();""")
        time.sleep(1.0)
        b.wait_loaded()
        b.eval("document.querySelector('button[value=allow]').click()")
        time.sleep(1.0)
        b.wait_loaded()

    def close(self):
        if self.b:
            self.b.close()
        if self.server:
            self.server.terminate()
            self.server.wait()
        if self.httpd:
            self.httpd.shutdown()
        shutil.rmtree(self.work, ignore_errors=True)
