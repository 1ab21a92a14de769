#!/usr/bin/env python3
"""Screenshot a Latch page in headless Chromium, optionally signed in.

    scripts/screenshot.py URL OUT.png [--email E --password P] [--width 1280 --height 900]

With --email/--password it signs in through the real /login form first (the session cookie
stays in the browser), so dashboard pages can be captured as a person sees them. Needs
Debian's `chromium` and `pip install websocket-client`. Targets loopback only.
"""

import argparse
import base64
import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request

import websocket  # websocket-client


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Browser:
    def __init__(self, width, height):
        self.port = free_port()
        self.profile = tempfile.mkdtemp(prefix="latch-shot-")
        exe = shutil.which("chromium") or shutil.which("chromium-browser")
        self.proc = subprocess.Popen(
            [exe, "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
             f"--remote-debugging-port={self.port}", f"--user-data-dir={self.profile}",
             f"--window-size={width},{height}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(100):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/json") as r:
                    pages = [p for p in json.load(r) if p["type"] == "page"]
                    if pages:
                        self.ws = websocket.create_connection(pages[0]["webSocketDebuggerUrl"])
                        break
            except OSError:
                pass
            time.sleep(0.1)
        else:
            raise SystemExit("chromium did not start")
        self.next_id = 0
        self.call("Page.enable")

    def call(self, method, **params):
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == self.next_id:
                if "error" in msg:
                    raise SystemExit(f"{method}: {msg['error']}")
                return msg.get("result", {})

    def goto(self, url):
        self.call("Page.navigate", url=url)
        self.wait_loaded()

    def wait_loaded(self):
        for _ in range(100):
            state = self.call("Runtime.evaluate", expression="document.readyState")
            if state["result"].get("value") == "complete":
                return
            time.sleep(0.05)

    def eval(self, js):
        return self.call("Runtime.evaluate", expression=js, awaitPromise=True)["result"].get("value")

    def close(self):
        self.proc.terminate()
        self.proc.wait()
        shutil.rmtree(self.profile, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("url")
    ap.add_argument("out")
    ap.add_argument("--email")
    ap.add_argument("--password")
    ap.add_argument("--width", type=int, default=1280)
    ap.add_argument("--height", type=int, default=900)
    a = ap.parse_args()
    host = urllib.parse.urlsplit(a.url).hostname
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise SystemExit("screenshots target loopback only")
    b = Browser(a.width, a.height)
    try:
        if a.email:
            origin = "{0.scheme}://{0.netloc}".format(urllib.parse.urlsplit(a.url))
            b.goto(f"{origin}/login?next={urllib.parse.quote(urllib.parse.urlsplit(a.url).path)}")
            b.eval(f"""document.querySelector('input[name=email]').value = {json.dumps(a.email)};
                       document.querySelector('input[name=password]').value = {json.dumps(a.password)};
                       document.querySelector('input[name=password]').form.submit();""")
            time.sleep(0.5)
            b.wait_loaded()
        b.goto(a.url)
        time.sleep(0.2)
        shot = b.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)
        with open(a.out, "wb") as f:
            f.write(base64.b64decode(shot["data"]))
        print(a.out)
    finally:
        b.close()


if __name__ == "__main__":
    main()
