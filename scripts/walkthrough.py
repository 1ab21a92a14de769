#!/usr/bin/env python3
"""Run the README's "A first OAuth flow" and "Worked example: a Billing API" against a fresh
Latch, as a person would paste them.

    python3 scripts/walkthrough.py

Takes the ```sh blocks of every section between `<!-- walkthrough:start -->` and
`<!-- walkthrough:end -->` in README.md, in document order, and runs them in one `bash` with
`set -euo pipefail` (so later sections reuse the variables of earlier ones), in a temporary
working directory (with `scripts/` linked in) against a Latch started here on a free port with
a temporary SQLite database. The only rewrites: the README's `127.0.0.1:8080` becomes that
port, its callback port 8765 and the resource server's port 8081 free ones, `latch()` calls
the built binary instead of `cargo run --release`, and the example resource server's
`cargo run … --example resource_server` is its built binary. The person's browser is headless
Chromium (scripts/screenshot.py's CDP `Browser`): it opens each authorization URL a block
prints, signs in (the first time) and clicks Allow, so `scripts/catch-code.py` receives the
code exactly as it would from a person.

Then it checks what the README promises: the token response, `/v1/users/me` as Ann, a refresh
that rotates both tokens, the client_credentials token refused with 403 `user_required` and
active at introspection, a second authorization that skips sign-in and consent, and
`prompt=consent` showing consent again; for the Billing API, the token's `aud` and `scope`, the
example resource server answering 200 to that token, 401 to the first flow's (another API's)
token, 200 to an `rk_test_` key with `invoices:read`, 403 `insufficient_scope` (body and
challenge) to one with only `invoices:write`, and its RFC 9728 metadata naming Latch. Any
failure exits 1 with the failing step, the transcript's tail and the server log's tail; every
wait is bounded.

Environment: LATCH_BIN (default: the newest of $CARGO_TARGET_DIR/{debug,release}/latch, with
CARGO_TARGET_DIR defaulting to ./target), RESOURCE_SERVER_BIN (default: the newest of
$CARGO_TARGET_DIR/{debug,release}/examples/resource_server; build it with `cargo build -p
latch-verify --features actix --example resource_server`), WALKTHROUGH_TIMEOUT (seconds for
the README's blocks, default 300), WALKTHROUGH_KEEP=1 keeps the temporary directory,
WALKTHROUGH_SCREENSHOTS=DIR saves the Billing API's consent page as DIR/consent-billing.png
(the README's screenshot: `WALKTHROUGH_SCREENSHOTS=docs/screenshots`). Needs bash, curl, jq,
openssl, Debian's `chromium` and `pip install websocket-client`.
"""

import base64
import json
import os
import queue
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
sys.dont_write_bytecode = True  # importing screenshot.py leaves no __pycache__ in the clone

EMAIL = "ann@example.com"
PASSWORD = "a long passphrase"
README_PORT = "8080"
README_CALLBACK_PORT = "8765"
README_LATCH_FN = 'latch() { cargo run -q --release -- "$@"; }'
README_RS_PORT = "8081"
README_RS_RUN = "cargo run -q -p latch-verify --features actix --example resource_server"
# Variables the README's blocks set, read back after each block for the checks.
VARIABLES = ["CLIENT_ID", "CLIENT_SECRET", "STATE", "REDIRECT_URI", "AUTHORIZE_URL", "CODE",
             "ACCESS_TOKEN", "REFRESH_TOKEN", "WORKER_ID", "WORKER_SECRET", "WORKER_TOKEN",
             "VIEWER_ID", "BILLING_TOKEN", "RS_ID", "RS_SECRET", "RS_PID", "READ_KEY",
             "WRITE_KEY"]


class Failure(Exception):
    pass


def say(msg):
    print(f"walkthrough: {msg}", flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def find_binary(var, name, build):
    if os.environ.get(var):
        return os.path.abspath(os.environ[var])
    target = os.environ.get("CARGO_TARGET_DIR") or os.path.join(ROOT, "target")
    found = [p for p in (os.path.join(target, d, name) for d in ("debug", "release"))
             if os.path.isfile(p)]
    if not found:
        raise Failure(f"no {name} in {target}/{{debug,release}}: run `{build}` or set {var}")
    return max(found, key=os.path.getmtime)


def extract_sections():
    """The ```sh blocks of each marked section, sections in document order."""
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        text = f.read()
    sections = re.findall(r"<!-- walkthrough:start -->(.*?)<!-- walkthrough:end -->", text, re.S)
    if len(sections) != 2:
        raise Failure(f"README.md has {len(sections)} <!-- walkthrough:start --> … "
                      "<!-- walkthrough:end --> sections; the checks below expect two (the "
                      "first OAuth flow, the Billing API)")
    blocks = [re.findall(r"^```sh\n(.*?)^```$", s, re.S | re.M) for s in sections]
    if not all(blocks):
        raise Failure("a walkthrough section of the README has no ```sh blocks")
    return blocks


def rewrite(blocks, port, callback_port, rs_port):
    """The README's fixed ports and its `cargo run` become ours; each rewrite must apply,
    or the README changed and we would be testing something else."""
    text = "\n\x00\n".join(blocks)
    rules = [
        (f"127.0.0.1:{README_PORT}", f"127.0.0.1:{port}"),
        (f"127.0.0.1:{README_CALLBACK_PORT}", f"127.0.0.1:{callback_port}"),
        (f"catch-code.py {README_CALLBACK_PORT} ", f"catch-code.py {callback_port} "),
        (README_LATCH_FN, 'latch() { "$LATCH_BIN" "$@"; }'),
        (f"127.0.0.1:{README_RS_PORT}", f"127.0.0.1:{rs_port}"),
        (README_RS_RUN, '"$RESOURCE_SERVER_BIN"'),
    ]
    for old, new in rules:
        if old not in text:
            raise Failure(f"the README's walkthrough no longer contains {old!r}; update "
                          "scripts/walkthrough.py with it")
        text = text.replace(old, new)
    return text.split("\n\x00\n")


def http(method, url, headers=None, data=None, timeout=10):
    body = urllib.parse.urlencode(data).encode() if data is not None else None
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def wait_port(port, seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return True
        except OSError:
            time.sleep(0.1)
    return False


class Latch:
    def __init__(self, binary, workdir, env):
        self.log_path = os.path.join(workdir, "server.log")
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen([binary, "serve"], cwd=workdir, env=env, stdout=self.log,
                                     stderr=subprocess.STDOUT, start_new_session=True)

    def wait_ready(self, base, seconds=60):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise Failure(f"latch serve exited with {self.proc.returncode}")
            try:
                if http("GET", f"{base}/readyz", timeout=2)[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise Failure(f"latch serve was not ready within {seconds} s")

    def tail(self, lines=40):
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as f:
                text = "".join(f.readlines()[-lines:])
            return re.sub(r"\x1b\[[0-9;]*m", "", text)  # the pretty log's colours
        except OSError:
            return ""

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=25)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


class Person:
    """Headless Chromium standing in for the person at the browser."""

    def __init__(self):
        from screenshot import Browser  # scripts/screenshot.py; needs websocket-client

        self.browser = Browser(1280, 900)
        self.seen = []  # the kinds of page seen: "login", "consent", "callback"

    def page(self):
        js = """JSON.stringify({href: location.href,
                 login: !!document.querySelector('input[name=password]'),
                 allow: !!document.querySelector('button[name=decision][value=allow]'),
                 text: document.body ? document.body.innerText.slice(0, 400) : ''})"""
        try:
            return json.loads(self.browser.eval(js) or "null")
        except (SystemExit, ValueError, TypeError):
            return None  # mid-navigation: the page's context went away; ask again

    def authorize(self, url, callback_origin, seconds=60, sign_in=True, allow=True, shot=None):
        """Open `url` and act like the person until the browser reaches the callback.
        Returns the kinds of page seen on the way. `shot`: a PNG path for the consent page."""
        self.seen = []
        # The tab may still show the previous flow's callback page: until the navigation
        # below replaces it, that page is not this flow's callback.
        before = (self.page() or {}).get("href")
        self.browser.call("Page.navigate", url=url)
        signed_in = clicked = False
        signed_in_at = 0.0
        deadline = time.monotonic() + seconds
        last = None
        while time.monotonic() < deadline:
            p = self.page()
            if p:
                last = p
                if p["href"].startswith(callback_origin) and p["href"] != before:
                    self.seen.append("callback")
                    return self.seen
                if p["login"] and not signed_in:
                    if not sign_in:
                        raise Failure("the browser was sent to the sign-in page again")
                    self.seen.append("login")
                    self.browser.eval(f"""(() => {{
                        const f = document.querySelector('input[name=password]').form;
                        f.querySelector('input[name=email]').value = {json.dumps(EMAIL)};
                        f.querySelector('input[name=password]').value = {json.dumps(PASSWORD)};
                        f.submit(); }})()""")
                    signed_in, signed_in_at = True, time.monotonic()
                elif p["login"] and time.monotonic() - signed_in_at > 5:
                    raise Failure(f"signing in as {EMAIL} failed: {p['text']!r}")
                elif p["allow"] and not clicked:
                    self.seen.append("consent")
                    if shot:
                        self.screenshot(shot)
                    if not allow:
                        return self.seen
                    self.browser.eval(
                        "document.querySelector('button[name=decision][value=allow]').click()")
                    clicked = True
            time.sleep(0.2)
        where = f"; last page {last['href']}: {last['text']!r}" if last else ""
        raise Failure(f"the browser did not reach {callback_origin} within {seconds} s "
                      f"(pages seen: {self.seen}){where}")

    def screenshot(self, path):
        time.sleep(0.3)  # fonts and the logo
        png = self.browser.call("Page.captureScreenshot", format="png",
                                captureBeyondViewport=True)
        with open(path, "wb") as f:
            f.write(base64.b64decode(png["data"]))
        say(f"saved {path}")

    def close(self):
        self.browser.close()


def run_blocks(blocks, workdir, env, callback_origin, port, timeout):
    """Run the blocks in one bash; drive the browser when a block prints the authorization
    URL. Returns (transcript, variables after each block, the Person)."""
    state_dir = os.path.join(workdir, ".walkthrough")
    os.makedirs(state_dir)
    script = ["set -euo pipefail", "shopt -s inherit_errexit", f"cd {json.dumps(workdir)}"]
    for i, block in enumerate(blocks, 1):
        script.append(f"echo '@@ block {i} @@'")
        script.append(block)
        # After each block, what the README's variables hold (for the checks).
        dump = " ".join(f'"{v}=${{{v}-}}"' for v in VARIABLES)
        script.append(f"printf '%s\\n' {dump} > {state_dir}/after-{i}")
    script.append("echo '@@ done @@'")
    script_path = os.path.join(state_dir, "walkthrough.sh")
    with open(script_path, "w") as f:
        f.write("\n".join(script) + "\n")

    proc = subprocess.Popen(["bash", script_path], cwd=workdir, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            start_new_session=True, text=True, bufsize=1)
    lines = queue.Queue()

    def pump():
        for line in proc.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()

    transcript, block, done, eof = [], 0, False, False
    person, browser_threads, browser_error = None, [], []
    url_re = re.compile(rf"(http://127\.0\.0\.1:{port}/oauth/authorize\?\S+)")
    shots = os.environ.get("WALKTHROUGH_SCREENSHOTS")

    def drive(url, previous):
        """The first authorization signs in; later ones (the Billing API's app) find Ann
        signed in and show only the consent page."""
        nonlocal person
        try:
            if previous:
                previous.join(timeout=70)
            first = person is None
            if first:
                person = Person()
            cb_port = int(urllib.parse.urlsplit(callback_origin).port)
            if not wait_port(cb_port, 30):
                raise Failure("scripts/catch-code.py did not start listening within 30 s")
            shot = os.path.join(shots, "consent-billing.png") if shots and not first else None
            seen = person.authorize(url, callback_origin, shot=shot)
            say(f"browser: {' → '.join(seen)}")
            expected = ["login", "consent", "callback"] if first else ["consent", "callback"]
            if seen != expected:
                raise Failure(f"expected {' → '.join(expected)}; saw {seen}")
        except BaseException as e:  # noqa: BLE001 - reported by the main thread
            browser_error.append(e)

    def kill_group():
        # Also what the blocks left behind (the resource server they start with `&`), which
        # would otherwise hold the output pipe open after bash exits. Only while bash runs or
        # the pipe is held: then the group exists and its id cannot belong to anyone else.
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    deadline = time.monotonic() + timeout
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise Failure(f"the README's blocks did not finish within {timeout} s "
                              f"(in block {block})")
            try:
                line = lines.get(timeout=min(left, 1))
            except queue.Empty:
                if browser_error:
                    raise Failure(f"browser step: {browser_error[0]}")
                if proc.poll() is not None:
                    kill_group()
                continue
            if line is None:
                eof = True
                break
            line = line.rstrip("\n")
            m = re.match(r"@@ block (\d+) @@$", line)
            if m:
                block = int(m.group(1))
                say(f"--- block {block}")
                continue
            if line == "@@ done @@":
                done = True
                continue
            transcript.append((block, line))
            print(f"  | {line}", flush=True)
            u = url_re.search(line)
            if u:
                previous = browser_threads[-1] if browser_threads else None
                t = threading.Thread(target=drive, args=(u.group(1), previous), daemon=True)
                browser_threads.append(t)
                t.start()
        rc = proc.wait(timeout=10)
        for t in browser_threads:
            t.join(timeout=70)
        if browser_error:
            raise Failure(f"browser step: {browser_error[0]}")
        if rc != 0:
            where = f"block {block}:\n{blocks[block - 1]}" if block else "the set-up line"
            raise Failure(f"bash exited with {rc} in {where}")
        if not done:
            raise Failure(f"bash stopped after block {block} without finishing")
        if len(browser_threads) != 2:
            raise Failure(f"{len(browser_threads)} blocks printed an authorization URL, "
                          "expected two (the first flow's, the Billing API's)")
    except BaseException:
        for t in browser_threads:
            if t.is_alive():
                t.join(timeout=15)  # so the browser it may be starting gets closed
        if person:
            person.close()
        raise
    finally:
        if proc.poll() is None or not eof:
            kill_group()
        proc.wait()

    after = []
    for i in range(1, len(blocks) + 1):
        with open(os.path.join(state_dir, f"after-{i}")) as f:
            after.append(dict(l.rstrip("\n").split("=", 1) for l in f if "=" in l))
    return transcript, after, person


def check(cond, what):
    if not cond:
        raise Failure(what)
    say(f"ok: {what}")


def verify(base, transcript, after, person, workdir, env, callback_port):
    v = after[-1]
    out = "\n".join(line for _, line in transcript)
    check(v["CLIENT_ID"].startswith("cl_") and v["CLIENT_SECRET"].startswith("cs_"),
          "CLIENT_ID and CLIENT_SECRET come from `client create --json`")
    check(v["CODE"].startswith("ac_"), "catch-code.py handed the shell an authorization code")
    issued = [a for a in after if a.get("ACCESS_TOKEN")]
    first, last = issued[0], issued[-1]
    check(first["ACCESS_TOKEN"].startswith("eyJ") and first["REFRESH_TOKEN"].startswith("rt_"),
          "the code exchange gave an access token (JWT) and a refresh token")
    check('"access_token"' in out and '"refresh_token"' in out,
          "the README printed the token response")
    check(last["ACCESS_TOKEN"].startswith("eyJ") and last["ACCESS_TOKEN"] != first["ACCESS_TOKEN"]
          and last["REFRESH_TOKEN"].startswith("rt_")
          and last["REFRESH_TOKEN"] != first["REFRESH_TOKEN"],
          "the refresh gave a new access token and a new (rotated) refresh token")
    check(f'"email": "{EMAIL}"' in out, "the README's /v1/users/me call printed Ann's email")
    status, body = http("GET", f"{base}/v1/users/me",
                        headers={"Authorization": f"Bearer {last['ACCESS_TOKEN']}"})
    check(status == 200 and json.loads(body).get("email") == EMAIL,
          "the refreshed access token works on /v1/users/me")

    check(v["WORKER_ID"].startswith("cl_") and v["WORKER_ID"] != v["CLIENT_ID"]
          and v["WORKER_SECRET"].startswith("cs_"), "the worker has its own WORKER_ID/SECRET")
    check(v["WORKER_TOKEN"].startswith("eyJ"), "client_credentials gave the worker a token")
    status, body = http("GET", f"{base}/v1/users/me",
                        headers={"Authorization": f"Bearer {v['WORKER_TOKEN']}"})
    code = json.loads(body).get("error", {}).get("code") if body.startswith("{") else None
    check(status == 403 and code == "user_required" and '"user_required"' in out,
          "the worker's token gets 403 user_required on /v1/users/me, as the README says")
    check('"active": true' in out, "the README's introspection printed an active token")
    status, body = http("POST", f"{base}/oauth/introspect",
                        data={"token": v["WORKER_TOKEN"], "client_id": v["WORKER_ID"],
                              "client_secret": v["WORKER_SECRET"]})
    check(status == 200 and json.loads(body).get("active") is True,
          "the worker may introspect its own token")

    users = subprocess.run([env["LATCH_BIN"], "user", "list", "--json"], cwd=workdir, env=env,
                           capture_output=True, text=True, timeout=30)
    check(users.returncode == 0 and re.search(r'"admin"\s*:\s*true', users.stdout)
          and EMAIL in users.stdout, "the first user of the empty server is an admin")

    # "Run the last three blocks again": the browser comes straight back (remembered consent);
    # prompt=consent and prompt=login (OpenID Connect Core §3.1.2.1) bring the pages back.
    def again(extra):
        cb_port = free_port()
        state = "again" + str(cb_port)
        url = re.sub(r"state=[^&]*", f"state={state}", v["AUTHORIZE_URL"])
        url = url.replace(f"127.0.0.1:{callback_port}", f"127.0.0.1:{cb_port}") + extra
        catcher = subprocess.Popen([sys.executable, os.path.join(ROOT, "scripts/catch-code.py"),
                                    str(cb_port), state, "--timeout", "60"],
                                   stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        try:
            if not wait_port(cb_port, 30):
                raise Failure("catch-code.py did not start")
            seen = person.authorize(url, f"http://127.0.0.1:{cb_port}",
                                    sign_in="prompt=login" in extra)
            code = catcher.communicate(timeout=30)[0].strip()
            return seen, code
        finally:
            if catcher.poll() is None:
                catcher.kill()
                catcher.wait()

    seen, code = again("")
    check(seen == ["callback"] and code.startswith("ac_"),
          "a second authorization skips sign-in and consent (remembered consent)")
    seen, code = again("&prompt=consent")
    check(seen == ["consent", "callback"] and code.startswith("ac_"),
          "prompt=consent shows the consent page again")
    seen, code = again("&prompt=login")
    check(seen == ["login", "callback"] and code.startswith("ac_"),
          "prompt=login asks for the password again")


def jwt_payload(token):
    part = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def verify_billing(base, api, out, after):
    """The Billing API example: `out` is what its blocks printed, `api` the identifier (and
    address) of the example resource server they started."""
    v = after[-1]
    check(v["VIEWER_ID"].startswith("cl_") and v["RS_ID"].startswith("cl_")
          and v["RS_SECRET"].startswith("cs_"),
          "the Invoice Viewer app and the resource-server client were created")
    claims = jwt_payload(v["BILLING_TOKEN"])
    check(claims.get("aud") == api and claims.get("scope") == "openid invoices:read",
          f"the Invoice Viewer's token has aud {api} and scope `openid invoices:read`")
    text = "\n".join(out)
    check(f'"aud": "{api}"' in text and '"scope": "openid invoices:read"' in text,
          "the README's jq decoding of the token printed its aud and scope")

    # Lines `{json} status` from `curl -w ' %{http_code}\n'`, in order: the Billing token, the
    # first flow's token, the invoices:read key.
    answers = []
    for line in out:
        m = re.match(r"^(\{.*\}) (\d{3})$", line)
        if m:
            answers.append((int(m.group(2)), json.loads(m.group(1))))
    check([s for s, _ in answers] == [200, 401, 200],
          f"the resource server answered 200, 401, 200 to the token, the other API's token and "
          f"the read key (got {[s for s, _ in answers]})")
    (_, token_ok), (_, wrong_aud), (_, key_ok) = answers
    check(token_ok.get("object") == "list" and token_ok["data"][0]["id"] == "in_1"
          and "invoices:read" in token_ok["caller"]["scopes"]
          and token_ok["caller"]["sub"].startswith("user_"),
          "the Billing token gets Ann's invoices")
    check(wrong_aud.get("error") == "invalid_token" and "aud" in wrong_aud["error_description"],
          "the first flow's token (aud: the Latch API) is 401 invalid_token for its audience")
    check(v["READ_KEY"].startswith("rk_test_") and v["WRITE_KEY"].startswith("rk_test_"),
          "`key create --scope` made restricted test keys (rk_test_…)")
    check('{"type":"restricted","scopes":["invoices:read"]}' in out and "rk_test_…" in out,
          "the README printed the read key's type and scopes")
    check(key_ok.get("object") == "list" and key_ok["caller"]["scopes"] == ["invoices:read"]
          and key_ok["caller"]["sub"] == token_ok["caller"]["sub"],
          "the invoices:read key gets Ann's invoices")
    i = next((i for i, line in enumerate(out) if line.startswith('{"error":"insufficient_scope"')),
             None)
    challenge = out[i + 1] if i is not None and i + 1 < len(out) else ""
    check(challenge.startswith('403 Bearer error="insufficient_scope"')
          and 'scope="invoices:read"' in challenge
          and f'resource_metadata="{api}/.well-known/oauth-protected-resource"' in challenge,
          "the invoices:write key gets 403 insufficient_scope, naming invoices:read and the "
          "metadata")
    meta = [json.loads(line) for line in out if line.startswith('{"authorization_servers"')]
    check(len(meta) == 1 and meta[0]["authorization_servers"] == [base]
          and meta[0]["resource"] == api and meta[0].get("resource_name") == "Billing API",
          "the RFC 9728 metadata names Latch as the authorization server")
    def running(pid):
        """Alive and not a zombie (an exited child not yet reaped counts as stopped)."""
        try:
            with open(f"/proc/{int(pid)}/stat", encoding="ascii") as f:
                return f.read().rsplit(")", 1)[1].split()[0] != "Z"
        except (ValueError, OSError, IndexError):
            return False

    deadline = time.monotonic() + 10  # a graceful stop finishes in-flight requests first
    while running(v["RS_PID"]) and time.monotonic() < deadline:
        time.sleep(0.1)
    check(not running(v["RS_PID"]), "the README stopped the resource server")


def main():
    for tool in ("bash", "curl", "jq", "openssl"):
        if not shutil.which(tool):
            raise Failure(f"{tool} is not installed")
    if not (shutil.which("chromium") or shutil.which("chromium-browser")):
        raise Failure("chromium is not installed (Debian: apt-get install chromium)")
    try:
        import websocket  # noqa: F401
    except ImportError:
        raise Failure("python websocket-client is not installed (pip install websocket-client)")

    binary = find_binary("LATCH_BIN", "latch", "cargo build -p latch --bin latch")
    rs_binary = find_binary("RESOURCE_SERVER_BIN", os.path.join("examples", "resource_server"),
                            "cargo build -p latch-verify --features actix --example "
                            "resource_server")
    port, callback_port, rs_port = free_port(), free_port(), free_port()
    while len({port, callback_port, rs_port}) < 3:
        callback_port, rs_port = free_port(), free_port()
    sections = extract_sections()
    first_flow = len(sections[0])  # blocks of "A first OAuth flow"; the Billing API's follow
    blocks = rewrite([b for section in sections for b in section], port, callback_port, rs_port)
    base = f"http://127.0.0.1:{port}"
    say(f"{len(blocks)} blocks from README.md ({first_flow} + {len(blocks) - first_flow}); "
        f"latch {binary} on {base}")

    workdir = tempfile.mkdtemp(prefix="latch-walkthrough-")
    os.symlink(os.path.join(ROOT, "scripts"), os.path.join(workdir, "scripts"))
    # No stray operator configuration: only what a fresh machine has, plus our port and db.
    env = {k: val for k, val in os.environ.items() if not k.startswith("LATCH_")}
    env.update({
        "LATCH_BIN": binary,
        "RESOURCE_SERVER_BIN": rs_binary,
        "LATCH_BIND": f"127.0.0.1:{port}",
        "LATCH_DATABASE_URL": f"sqlite://{workdir}/latch.db?mode=rwc",
        "LATCH_LOG_FORMAT": "pretty",
        "CURL_HOME": workdir,  # every curl in the README gets the timeouts below
        "CATCH_CODE_TIMEOUT": "90",
    })
    with open(os.path.join(workdir, ".curlrc"), "w") as f:
        f.write("connect-timeout = 5\nmax-time = 30\n")

    server = Latch(binary, workdir, env)
    person = None
    ok = False
    try:
        server.wait_ready(base)
        timeout = int(os.environ.get("WALKTHROUGH_TIMEOUT", "300"))
        callback_origin = f"http://127.0.0.1:{callback_port}"
        transcript, after, person = run_blocks(blocks, workdir, env, callback_origin, port,
                                               timeout)
        verify(base, [t for t in transcript if t[0] <= first_flow], after[:first_flow], person,
               workdir, env, callback_port)
        verify_billing(base, f"http://127.0.0.1:{rs_port}",
                       [line for b, line in transcript if b > first_flow], after)
        ok = True
    except Failure:
        log = server.tail()
        if log:
            print("walkthrough: last lines of the server log:\n" + log, file=sys.stderr)
        raise
    finally:
        if person:
            person.close()
        server.stop()
        if os.environ.get("WALKTHROUGH_KEEP") == "1":
            say(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    if ok:
        say("the README's first OAuth flow and Billing API example work")


def on_sigterm(signum, frame):
    # `timeout` (CI) sends SIGTERM (to us, then again to our process group): fail once through
    # main's clean-up (server, browser, bash group), which the second one must not interrupt.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise Failure("stopped by SIGTERM (time limit?)")


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, on_sigterm)
    try:
        main()
    except Failure as e:
        print(f"walkthrough: FAILED: {e}", file=sys.stderr)
        sys.exit(1)
