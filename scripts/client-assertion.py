#!/usr/bin/env python3
"""private_key_jwt helpers (RFC 7523 §2.2) with only python3 and openssl.

  client-assertion.py jwks KEY.pem KID        print the JWK Set of an EC P-256 key (public part)
  client-assertion.py sign KEY.pem KID CLIENT_ID AUD [N]
                                              print N (default 1) ES256 client assertions, one a
                                              line: iss = sub = CLIENT_ID, aud = AUD, exp in 60 s
                                              (EXP_SECS to change it; Latch takes at most 300),
                                              a fresh random jti each

Make a key with: openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out KEY.pem
"""
import base64
import json
import os
import secrets
import subprocess
import sys
import time


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def public_point(key: str) -> tuple[bytes, bytes]:
    der = subprocess.run(
        ["openssl", "ec", "-in", key, "-pubout", "-outform", "DER"],
        capture_output=True,
        check=True,
    ).stdout
    # SubjectPublicKeyInfo of P-256 ends with the uncompressed point 04 || x || y.
    return der[-64:-32], der[-32:]


def der_to_raw(sig: bytes) -> bytes:
    """An ECDSA DER signature (SEQUENCE of two INTEGERs) as JWS's r || s (RFC 7518 §3.4)."""
    assert sig[0] == 0x30
    i = 2 if sig[1] < 0x80 else 2 + (sig[1] & 0x7F)
    out = b""
    for _ in range(2):
        assert sig[i] == 0x02
        n = sig[i + 1]
        out += sig[i + 2 : i + 2 + n].lstrip(b"\0").rjust(32, b"\0")
        i += 2 + n
    return out


def openssl_signer(key: str):
    def sign_der(data: bytes) -> bytes:
        return subprocess.run(
            ["openssl", "dgst", "-sha256", "-sign", key],
            input=data, capture_output=True, check=True,
        ).stdout
    return sign_der


def signer(key: str):
    """DER ECDSA P-256/SHA-256 signatures: with the `cryptography` package when it is there
    (fast, for the thousands of assertions a benchmark needs), else one openssl run each."""
    try:
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
    except ImportError:
        return openssl_signer(key)
    with open(key, "rb") as f:
        private = serialization.load_pem_private_key(f.read(), password=None)
    return lambda data: private.sign(data, ec.ECDSA(hashes.SHA256()))


def sign(sign_der, kid: str, client_id: str, aud: str) -> str:
    now = int(time.time())
    header = {"alg": "ES256", "typ": "JWT", "kid": kid}
    claims = {"iss": client_id, "sub": client_id, "aud": aud, "iat": now,
              "exp": now + int(os.environ.get("EXP_SECS", "60")), "jti": secrets.token_urlsafe(24)}
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
    return f"{signing_input}.{b64(der_to_raw(sign_der(signing_input.encode())))}"


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "jwks":
        x, y = public_point(sys.argv[2])
        jwk = {"kty": "EC", "crv": "P-256", "x": b64(x), "y": b64(y),
               "kid": sys.argv[3], "alg": "ES256", "use": "sig"}
        print(json.dumps({"keys": [jwk]}))
    elif len(sys.argv) in (6, 7) and sys.argv[1] == "sign":
        count = int(sys.argv[6]) if len(sys.argv) == 7 else 1
        sign_der = signer(sys.argv[2])
        for _ in range(count):
            print(sign(sign_der, *sys.argv[3:6]))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
