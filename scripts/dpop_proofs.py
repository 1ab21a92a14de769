#!/usr/bin/env python3
"""Benchmark fixture: print N DPoP proofs (RFC 9449 §4.2) for <htu>, one per line.

One key signs them all (ES256 on P-256 unless ALG= says otherwise), each with its own `jti`
and `iat` = now, so each is accepted once within LATCH_DPOP_PROOF_MAX_AGE. Needs the
`cryptography` package.

    ALG=EdDSA dpop_proofs.py <htu> <n>     # ES256 (default), ES384, EdDSA, RS256, PS256:
                                           # a new key of that type (RSA: 2048 bits)

    dpop_proofs.py <htu> <n>                                  # POST, a new key each run
    dpop_proofs.py <htu> <n> <method> <key.pem> [access_token]  # that key; with `ath` (§4.2)
                                                                # when a token is given
                                                                # (ALG from the key's type; an
                                                                # RSA key signs RS256 or PS256)
"""
import base64, hashlib, json, os, sys, time, uuid

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def int_bytes(n):
    return n.to_bytes((n.bit_length() + 7) // 8, "big")


def new_key(alg):
    if alg in ("ES256", "ES384"):
        return ec.generate_private_key(ec.SECP256R1() if alg == "ES256" else ec.SECP384R1())
    if alg == "EdDSA":
        return ed25519.Ed25519PrivateKey.generate()
    if alg in ("RS256", "PS256"):
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    sys.exit(f"ALG must be one of ES256 ES384 EdDSA RS256 PS256, not {alg}")


def alg_of(key, wanted):
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return "ES384" if key.curve.name == "secp384r1" else "ES256"
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return "EdDSA"
    return wanted if wanted in ("RS256", "PS256") else "RS256"


def public_jwk(key):
    if isinstance(key, ec.EllipticCurvePrivateKey):
        pub, size = key.public_key().public_numbers(), (key.curve.key_size + 7) // 8
        crv = "P-384" if key.curve.name == "secp384r1" else "P-256"
        return {"kty": "EC", "crv": crv, "x": b64(pub.x.to_bytes(size, "big")), "y": b64(pub.y.to_bytes(size, "big"))}
    if isinstance(key, ed25519.Ed25519PrivateKey):
        raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return {"kty": "OKP", "crv": "Ed25519", "x": b64(raw)}
    pub = key.public_key().public_numbers()
    return {"kty": "RSA", "e": b64(int_bytes(pub.e)), "n": b64(int_bytes(pub.n))}


def signer(key, alg):
    if alg in ("ES256", "ES384"):
        h, size = (hashes.SHA256(), 32) if alg == "ES256" else (hashes.SHA384(), 48)

        def sign(msg):
            r, s = decode_dss_signature(key.sign(msg, ec.ECDSA(h)))
            return r.to_bytes(size, "big") + s.to_bytes(size, "big")
        return sign
    if alg == "EdDSA":
        return key.sign
    if alg == "PS256":
        pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
        return lambda msg: key.sign(msg, pss, hashes.SHA256())
    return lambda msg: key.sign(msg, padding.PKCS1v15(), hashes.SHA256())


def main():
    htu, n = sys.argv[1], int(sys.argv[2])
    method = sys.argv[3] if len(sys.argv) > 3 else "POST"
    wanted = os.environ.get("ALG", "ES256")
    if len(sys.argv) > 4:
        with open(sys.argv[4], "rb") as f:
            key = serialization.load_pem_private_key(f.read(), password=None)
    else:
        key = new_key(wanted)
    alg = alg_of(key, wanted)
    sign = signer(key, alg)
    token = sys.argv[5] if len(sys.argv) > 5 else None
    header = b64(json.dumps({"typ": "dpop+jwt", "alg": alg, "jwk": public_jwk(key)}, separators=(",", ":")).encode())
    now = int(time.time())
    out = []
    for _ in range(n):
        claims = {"jti": str(uuid.uuid4()), "htm": method, "htu": htu, "iat": now}
        if token:
            claims["ath"] = b64(hashlib.sha256(token.encode()).digest())
        msg = header + "." + b64(json.dumps(claims, separators=(",", ":")).encode())
        out.append(msg + "." + b64(sign(msg.encode())))
    sys.stdout.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
