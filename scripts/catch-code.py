#!/usr/bin/env python3
"""Receive one OAuth authorization response on a loopback redirect URI and print the code.

    python3 scripts/catch-code.py PORT STATE [--timeout SECONDS]

Listens on http://127.0.0.1:PORT (a native app's loopback redirect, RFC 8252 §7.3: Latch
accepts any port for a registered `http://127.0.0.1/…` URI), waits for the browser to come
back with `?code=…&state=…`, answers it with a small "you can close this tab" page, checks
that `state` is the one we sent (RFC 6749 §10.12: a response we did not ask for is refused),
and prints the code on stdout, nothing else. An `error=…` response (the person clicked Deny)
is printed on stderr with exit code 1. Other requests (a favicon, a probe) get a 404 and we
keep waiting, up to --timeout seconds (default 300, or $CATCH_CODE_TIMEOUT), then exit 2.
Standard library only.
"""

import argparse
import html
import http.server
import os
import sys
import time
import urllib.parse

PAGE = """<!doctype html><meta charset="utf-8"><title>{title}</title>
<body style="font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto;line-height:1.5">
<h1 style="font-size:1.4rem">{title}</h1><p>{text}</p></body>"""


def main():
    ap = argparse.ArgumentParser(description="Print the code of one OAuth loopback redirect.")
    ap.add_argument("port", type=int)
    ap.add_argument("state", help="the state parameter sent in the authorization request")
    ap.add_argument("--timeout", type=float,
                    default=float(os.environ.get("CATCH_CODE_TIMEOUT", 300)))
    a = ap.parse_args()

    result = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        timeout = 10  # a connection that sends nothing does not hold the one listener up

        def do_GET(self):
            q = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
            one = {k: v[0] for k, v in q.items() if len(v) == 1}
            if "code" not in one and "error" not in one:
                self.reply(404, "Not found", "This address only receives sign-in responses.")
                return
            if one.get("state") != a.state:
                # Not the response to our request (RFC 6749 §10.12): never use its code.
                self.reply(400, "Something went wrong", "The response does not match the request "
                           "this terminal is waiting for. Start again from the terminal.")
                result["error"] = "state mismatch: this response is not for our request"
                return
            if "error" in one:
                text = one.get("error_description") or one["error"]
                self.reply(200, "Not signed in", f"{text}. You can close this tab.")
                result["error"] = text if text == one["error"] else f"{one['error']}: {text}"
                return
            self.reply(200, "Signed in", "You can close this tab and go back to the terminal.")
            result["code"] = one["code"]

        def reply(self, status, title, text):
            body = PAGE.format(title=html.escape(title), text=html.escape(text)).encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass  # stdout carries the code only; stderr stays quiet

    # Loopback only: the code must never be reachable from another machine (RFC 8252 §8.3).
    server = http.server.HTTPServer(("127.0.0.1", a.port), Handler)
    print(f"Waiting for the browser on http://127.0.0.1:{a.port}/ …", file=sys.stderr)
    deadline = time.monotonic() + a.timeout
    with server:
        while not result:
            left = deadline - time.monotonic()
            if left <= 0:
                print(f"catch-code: no response within {a.timeout:g} s", file=sys.stderr)
                sys.exit(2)
            server.timeout = left
            server.handle_request()
    if "error" in result:
        print(f"catch-code: {result['error']}", file=sys.stderr)
        sys.exit(1)
    print(result["code"])


if __name__ == "__main__":
    main()
