#!/usr/bin/env python3
"""Benchmark companion: sign a person in at a steady rate for a while, beside a wrk run.

    signin_load.py BASE EMAIL PASSWORD PER_SECOND SECONDS

Each sign-in is what a browser does: GET /login (session cookie and CSRF token), then POST
/login with the password (argon2id on the server). Prints one line: how many were started,
how many answered 303 (signed in), and their p50/p99 latency in ms. Used by
`SIGNINS=20 scripts/bench.sh` (issue #12: argon2 must not slow the token endpoint).
"""
import http.cookiejar
import re
import sys
import threading
import time
import urllib.parse
import urllib.request


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def sign_in(base, email, password, results, lock):
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar), NoRedirect)
    started = time.monotonic()
    status = 0
    try:
        page = opener.open(base + "/login", timeout=30).read().decode()
        csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
        body = urllib.parse.urlencode(
            {"email": email, "password": password, "csrf": csrf, "next": "/"}
        ).encode()
        try:
            status = opener.open(base + "/login", data=body, timeout=30).status
        except urllib.error.HTTPError as e:
            status = e.code
    except Exception:
        status = -1
    with lock:
        results.append((status, (time.monotonic() - started) * 1000))


def main():
    base, email, password = sys.argv[1], sys.argv[2], sys.argv[3]
    rate, seconds = float(sys.argv[4]), float(sys.argv[5])
    results, lock, threads = [], threading.Lock(), []
    start = time.monotonic()
    n = 0
    while time.monotonic() - start < seconds:
        t = threading.Thread(target=sign_in, args=(base, email, password, results, lock))
        t.start()
        threads.append(t)
        n += 1
        # Keep the schedule, not the pace of the answers (an open-loop load).
        next_at = start + n / rate
        time.sleep(max(0.0, next_at - time.monotonic()))
    for t in threads:
        t.join()
    ok = sorted(ms for status, ms in results if status == 303)
    pct = lambda p: ok[min(len(ok) - 1, int(len(ok) * p))] if ok else float("nan")
    print(
        f"sign-ins: {n} started ({n / seconds:.1f}/s), {len(ok)} signed in, "
        f"p50 {pct(0.5):.0f} ms, p99 {pct(0.99):.0f} ms"
    )


if __name__ == "__main__":
    main()
