#!/usr/bin/env python3
"""Profiling fixture: send a bounded number of requests over keep-alive connections and stop.

For instruction counts under callgrind (`valgrind --tool=callgrind`), where wrk's timing
loop means nothing: a fixed count of requests, spread over C connections (so that the
server sees concurrent requests, as under wrk), each DPoP proof used once.

    drive_requests.py <url> <n> <c> <basic-credentials> [proofs.txt]

POST grant_type=client_credentials to <url> with `Authorization: Basic …`, and with a
`DPoP` header from proofs.txt (one per line, each used once) when given. Prints how many
answers were 200.
"""
import http.client, sys, threading, urllib.parse


def main():
    url, n, c, basic = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    proofs = open(sys.argv[5]).read().split() if len(sys.argv) > 5 else None
    u = urllib.parse.urlsplit(url)
    lock = threading.Lock()
    state = {"next": 0, "ok": 0, "other": {}}

    def worker():
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=600)
        while True:
            with lock:
                i = state["next"]
                if i >= n:
                    break
                state["next"] = i + 1
            headers = {"Authorization": "Basic " + basic,
                       "Content-Type": "application/x-www-form-urlencoded"}
            if proofs is not None:
                headers["DPoP"] = proofs[i]
            conn.request("POST", u.path, body="grant_type=client_credentials", headers=headers)
            r = conn.getresponse()
            r.read()
            with lock:
                if r.status == 200:
                    state["ok"] += 1
                else:
                    state["other"][r.status] = state["other"].get(r.status, 0) + 1
        conn.close()

    threads = [threading.Thread(target=worker) for _ in range(c)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(f"{state['ok']} ok, others: {state['other']}")


if __name__ == "__main__":
    main()
