//! Access-token signing and verification per algorithm: the code paths behind the token
//! endpoint (sign) and introspection / `/v1` / userinfo (verify).
//!
//!   cargo bench -p latch --bench jwt

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use latch::config::SigningAlg;
use latch::signing::{AccessClaims, Audience, Signer};

fn claims() -> AccessClaims {
    let now = chrono::Utc::now().timestamp();
    AccessClaims {
        iss: "https://auth.example.com".into(),
        sub: "user_0193b2c4d5e6f708192a3b4c5d6e7f80".into(),
        aud: Audience::one("https://auth.example.com"),
        exp: now + 3600,
        iat: now,
        nbf: now,
        jti: "3fj29Dk20sLq0ZkQm1Xv7A".into(),
        client_id: "cl_q8Zt2LmX0a9WcYbV3nKp1RsT".into(),
        scope: "read write".into(),
        livemode: true,
        auth_time: Some(now),
        act: None,
        cnf: None,
    }
}

fn bench(c: &mut Criterion) {
    for alg in [
        SigningAlg::ES256,
        SigningAlg::EdDSA,
        SigningAlg::RS256,
        SigningAlg::HS256,
    ] {
        let signer = Signer::ephemeral(alg).expect("key");
        let key = signer.current().expect("current key");
        let claims = claims();
        let token = key.sign_access(&claims).expect("sign");
        let mut g = c.benchmark_group(alg.as_str());
        g.throughput(Throughput::Elements(1));
        g.bench_function("sign_access", |b| {
            b.iter(|| {
                key.sign_access(std::hint::black_box(&claims))
                    .expect("sign")
            })
        });
        g.bench_function("verify_access", |b| {
            b.iter(|| {
                signer
                    .verify_access(
                        std::hint::black_box(&token),
                        &claims.iss,
                        &claims.aud.values()[0],
                    )
                    .expect("verify")
            })
        });
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
