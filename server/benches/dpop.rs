//! DPoP proof verification (RFC 9449 §4.3) per proof algorithm Latch accepts: the work the
//! token endpoint and `/v1` do per proof besides the replay record.
//!
//!   cargo bench -p latch --bench dpop
//!
//! Per algorithm: `verify_cached` is what the server does (the header, its key and the
//! thumbprint from `HeaderCache`, then the signature and the claims), `verify_uncached` the
//! same with the header parsed and the key built for each proof (a client with a new key
//! per proof), and `signature_only` the bare aws-lc signature check over the same bytes,
//! the floor of the first.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self as sig, KeyPair};
use base64::Engine;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use latch_verify::dpop::{Expect, HeaderCache, verify};
use serde_json::{Value, json};

const URL: &str = "https://auth.example.com/oauth/token";

fn b64(data: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(data)
}

/// Signs a JWS signing input.
type SignFn = Box<dyn Fn(&[u8]) -> Vec<u8>>;

/// A signer for one algorithm: its public JWK, a signing function and a verifier of the
/// bare signature (for `signature_only`).
struct Alg {
    name: &'static str,
    jwk: Value,
    sign: SignFn,
    public: Vec<u8>,
    verify_alg: &'static dyn sig::VerificationAlgorithm,
}

fn ecdsa(
    name: &'static str,
    crv: &str,
    signing: &'static sig::EcdsaSigningAlgorithm,
    verify_alg: &'static dyn sig::VerificationAlgorithm,
    len: usize,
) -> Alg {
    let rng = SystemRandom::new();
    let pkcs8 = sig::EcdsaKeyPair::generate_pkcs8(signing, &rng).expect("key");
    let pair = sig::EcdsaKeyPair::from_pkcs8(signing, pkcs8.as_ref()).expect("key");
    let pk = pair.public_key().as_ref().to_vec();
    let jwk = json!({"kty": "EC", "crv": crv, "x": b64(&pk[1..1 + len]), "y": b64(&pk[1 + len..])});
    Alg {
        name,
        jwk,
        sign: Box::new(move |m| pair.sign(&rng, m).expect("sign").as_ref().to_vec()),
        public: pk,
        verify_alg,
    }
}

fn rsa(
    name: &'static str,
    padding: &'static dyn sig::RsaEncoding,
    verify_alg: &'static dyn sig::VerificationAlgorithm,
) -> Alg {
    let pair = sig::RsaKeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).expect("key");
    let pk = pair.public_key();
    let jwk = json!({"kty": "RSA",
        "n": b64(pk.modulus().big_endian_without_leading_zero()),
        "e": b64(pk.exponent().big_endian_without_leading_zero())});
    let public = pk.as_ref().to_vec();
    Alg {
        name,
        jwk,
        sign: Box::new(move |m| {
            let mut out = vec![0u8; pair.public_modulus_len()];
            pair.sign(padding, &SystemRandom::new(), m, &mut out)
                .expect("sign");
            out
        }),
        public,
        verify_alg,
    }
}

fn algs() -> Vec<Alg> {
    let ed = sig::Ed25519KeyPair::generate().expect("key");
    let ed_pk = ed.public_key().as_ref().to_vec();
    vec![
        ecdsa(
            "ES256",
            "P-256",
            &sig::ECDSA_P256_SHA256_FIXED_SIGNING,
            &sig::ECDSA_P256_SHA256_FIXED,
            32,
        ),
        ecdsa(
            "ES384",
            "P-384",
            &sig::ECDSA_P384_SHA384_FIXED_SIGNING,
            &sig::ECDSA_P384_SHA384_FIXED,
            48,
        ),
        Alg {
            name: "EdDSA",
            jwk: json!({"kty": "OKP", "crv": "Ed25519", "x": b64(&ed_pk)}),
            sign: Box::new(move |m| ed.sign(m).as_ref().to_vec()),
            public: ed_pk,
            verify_alg: &sig::ED25519,
        },
        rsa(
            "RS256",
            &sig::RSA_PKCS1_SHA256,
            &sig::RSA_PKCS1_2048_8192_SHA256,
        ),
        rsa(
            "PS256",
            &sig::RSA_PSS_SHA256,
            &sig::RSA_PSS_2048_8192_SHA256,
        ),
    ]
}

/// `n` proofs by `alg`'s key, each with its own `jti`, as a client makes them.
fn proofs(alg: &Alg, n: usize, now: i64) -> Vec<String> {
    let header = b64(json!({"typ": "dpop+jwt", "alg": alg.name, "jwk": alg.jwk})
        .to_string()
        .as_bytes());
    (0..n)
        .map(|i| {
            let claims = json!({"jti": format!("9f0c1d2e-3a4b-4c5d-8e6f-{i:012}"), "htm": "POST",
                "htu": URL, "iat": now});
            let msg = format!("{header}.{}", b64(claims.to_string().as_bytes()));
            let s = (alg.sign)(msg.as_bytes());
            format!("{msg}.{}", b64(&s))
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let now = chrono::Utc::now().timestamp();
    let expect = Expect {
        method: "POST",
        url: URL,
        access_token: None,
        now,
        max_age: 300,
        max_future: 5,
    };
    for alg in algs() {
        let proofs = proofs(&alg, 64, now);
        let cache = HeaderCache::new(16);
        let mut g = c.benchmark_group(format!("dpop_{}", alg.name));
        g.throughput(Throughput::Elements(1));
        let mut i = 0;
        g.bench_function("verify_cached", |b| {
            b.iter(|| {
                i = (i + 1) % proofs.len();
                cache
                    .verify(std::hint::black_box(&proofs[i]), &expect)
                    .expect("verify")
            })
        });
        g.bench_function("verify_uncached", |b| {
            b.iter(|| {
                i = (i + 1) % proofs.len();
                verify(std::hint::black_box(&proofs[i]), &expect).expect("verify")
            })
        });
        // The bare signature over the same signing input, the key parsed once.
        let key = sig::ParsedPublicKey::new(alg.verify_alg, alg.public.clone()).ok();
        let split: Vec<(Vec<u8>, Vec<u8>)> = proofs
            .iter()
            .map(|p| {
                let dot = p.rfind('.').expect("compact JWS");
                let s = base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(&p[dot + 1..])
                    .expect("b64");
                (p.as_bytes()[..dot].to_vec(), s)
            })
            .collect();
        g.bench_function("signature_only", |b| {
            b.iter(|| {
                i = (i + 1) % split.len();
                let (m, s) = &split[i];
                match &key {
                    Some(k) => k.verify_sig(m, s).expect("signature"),
                    None => sig::UnparsedPublicKey::new(alg.verify_alg, &alg.public)
                        .verify(m, s)
                        .expect("signature"),
                }
            })
        });
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
