#!/usr/bin/env python3
"""Benchmark fixture: print N DPoP proofs (RFC 9449 §4.2) for <htu>, one per line.

One EC P-256 key signs them all (ES256), each with its own `jti` and `iat` = now, so each is
accepted once within LATCH_DPOP_PROOF_MAX_AGE. Needs the `cryptography` package.

    dpop_proofs.py <htu> <n>                                  # POST, a new key each run
    dpop_proofs.py <htu> <n> <method> <key.pem> [access_token]  # that key; with `ath` (§4.2)
                                                                # when a token is given
"""
import base64, hashlib, json, sys, time, uuid

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def main():
    htu, n = sys.argv[1], int(sys.argv[2])
    method = sys.argv[3] if len(sys.argv) > 3 else "POST"
    if len(sys.argv) > 4:
        with open(sys.argv[4], "rb") as f:
            key = serialization.load_pem_private_key(f.read(), password=None)
    else:
        key = ec.generate_private_key(ec.SECP256R1())
    token = sys.argv[5] if len(sys.argv) > 5 else None
    pub = key.public_key().public_numbers()
    jwk = {"kty": "EC", "crv": "P-256", "x": b64(pub.x.to_bytes(32, "big")), "y": b64(pub.y.to_bytes(32, "big"))}
    header = b64(json.dumps({"typ": "dpop+jwt", "alg": "ES256", "jwk": jwk}, separators=(",", ":")).encode())
    now = int(time.time())
    out = []
    for _ in range(n):
        claims = {"jti": str(uuid.uuid4()), "htm": method, "htu": htu, "iat": now}
        if token:
            claims["ath"] = b64(hashlib.sha256(token.encode()).digest())
        msg = header + "." + b64(json.dumps(claims, separators=(",", ":")).encode())
        r, s = decode_dss_signature(key.sign(msg.encode(), ec.ECDSA(hashes.SHA256())))
        out.append(msg + "." + b64(r.to_bytes(32, "big") + s.to_bytes(32, "big")))
    sys.stdout.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
