#!/usr/bin/env python3
"""Benchmark fixture: insert N authorization codes for one client and user, print them.

Codes have Latch's format (ac_ + 32 base62 + 6-char base62 CRC32) and are stored as their
SHA-256 hex digest, exactly as the server stores them, so each can be redeemed once.

    mint_codes.py <database_url> <client_id> <user_email> <n>   (sqlite://… or postgres://…)
"""
import hashlib, secrets, subprocess, sys, zlib
from datetime import datetime, timedelta, timezone

B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

def mint():
    rnd = "".join(secrets.choice(B62) for _ in range(32))
    v, out = zlib.crc32(rnd.encode()), []
    for _ in range(6):
        out.append(B62[v % 62]); v //= 62
    return "ac_" + rnd + "".join(reversed(out))

def main():
    url, client_id, email, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    now = datetime.now(timezone.utc).replace(microsecond=0)
    exp = now + timedelta(hours=1)
    codes = [mint() for _ in range(n)]
    run = secrets.token_hex(6)
    if url.startswith("sqlite:"):
        import sqlite3
        path = url.split("://", 1)[-1].split("?", 1)[0]
        db = sqlite3.connect(path)
        (uid,) = db.execute("SELECT id FROM user WHERE email_normalized = ?", (email.lower(),)).fetchone()
        (redirect,) = db.execute("SELECT redirect_uris FROM client WHERE id = ?", (client_id,)).fetchone()
        ts, es = now.isoformat(), exp.isoformat()
        db.executemany(
            "INSERT INTO authorization_code (id, code_hash, client_id, user_id, redirect_uri, redirect_uri_sent, scope,"
            " auth_time, created_at, expires_at) VALUES (?, ?, ?, ?, ?, 0, 'read write', ?, ?, ?)",
            [(f"code_b{run}{i}", hashlib.sha256(c.encode()).hexdigest(), client_id, uid, redirect.split(" ")[0], ts, ts, es)
             for i, c in enumerate(codes)])
        db.commit()
    else:
        rows = "\n".join(
            f"code_b{run}{i}\t{hashlib.sha256(c.encode()).hexdigest()}\t{now.isoformat()}\t{exp.isoformat()}" for i, c in enumerate(codes))
        sql = f"""
CREATE TEMP TABLE bench_codes (id text, code_hash text, ts timestamptz, exp timestamptz);
COPY bench_codes FROM STDIN;
{rows}
\\.
INSERT INTO authorization_code (id, code_hash, client_id, user_id, redirect_uri, redirect_uri_sent, scope, auth_time, created_at, expires_at)
SELECT b.id, b.code_hash, c.id, u.id, split_part(c.redirect_uris, ' ', 1), false, 'read write', b.ts, b.ts, b.exp
FROM bench_codes b, client c, "user" u WHERE c.id = '{client_id}' AND u.email_normalized = '{email.lower()}';
"""
        subprocess.run(["psql", "-q", "-v", "ON_ERROR_STOP=1", url], input=sql, text=True, check=True, stdout=subprocess.DEVNULL)
    print("\n".join(codes))

if __name__ == "__main__":
    main()
