// Cost of one signature verification per DPoP proof algorithm in aws-lc, the library Latch
// links (through aws-lc-rs), measured on the library itself: no HTTP, no JSON, no Rust.
// Instructions (callgrind, repeatable on a busy machine) and CPU time per operation.
//
//   A=$(echo ~/.cargo/registry/src/*/aws-lc-sys-0.47.0)
//   LIB=$(ls $CARGO_TARGET_DIR/release/build/aws-lc-sys-*/out/libaws_lc_0_47_0_crypto.a)
//   gcc -O2 -DBORINGSSL_PREFIX=aws_lc_0_47_0 -I$A/generated-include -I$A/aws-lc/include \
//       scripts/aws_lc_verify_cost.c $LIB -lpthread -o /tmp/vc
//   /tmp/vc ES256 2000                 # verify 2000 times: CPU µs each
//   /tmp/vc RS256 2000 rebuilt         # the RSA key rebuilt from n, e per verification
//   /tmp/vc ES256 2000 sign            # sign (what every access token costs)
//   valgrind --tool=callgrind --toggle-collect=do_verify --callgrind-out-file=/tmp/cg.out \
//       /tmp/vc EdDSA 50               # then Ir of do_verify / 50 (the `totals:` line)
//
// The signed message is 300 bytes, about a proof's JWS signing input.
#include <openssl/evp.h>
#include <openssl/ec_key.h>
#include <openssl/ec.h>
#include <openssl/obj.h>
#include <openssl/nid.h>
#include <openssl/rsa.h>
#include <openssl/bn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
static double cpu(void){struct timespec t;clock_gettime(CLOCK_THREAD_CPUTIME_ID,&t);return t.tv_sec+t.tv_nsec/1e9;}

static unsigned char msg[300];
static unsigned char sig[1024];
static size_t siglen;

static EVP_PKEY *keygen(int type, int param) {
  EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_id(type, NULL);
  EVP_PKEY *k = NULL;
  EVP_PKEY_keygen_init(c);
  if (type == EVP_PKEY_EC) EVP_PKEY_CTX_set_ec_paramgen_curve_nid(c, param);
  if (type == EVP_PKEY_RSA) EVP_PKEY_CTX_set_rsa_keygen_bits(c, param);
  if (EVP_PKEY_keygen(c, &k) != 1) { fprintf(stderr, "keygen\n"); exit(1); }
  EVP_PKEY_CTX_free(c);
  return k;
}

static const EVP_MD *md_of(int type) { return type == EVP_PKEY_ED25519 ? NULL : EVP_sha256(); }

static void setup(EVP_MD_CTX *ctx, EVP_PKEY *k, int pss, int verify) {
  EVP_PKEY_CTX *pctx = NULL;
  int type = EVP_PKEY_id(k);
  const EVP_MD *md = type == EVP_PKEY_EC && EVP_PKEY_bits(k) == 384 ? EVP_sha384() : md_of(type);
  if (verify) EVP_DigestVerifyInit(ctx, &pctx, md, NULL, k);
  else EVP_DigestSignInit(ctx, &pctx, md, NULL, k);
  if (pss) { EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING); EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, -1); }
}

__attribute__((noinline)) int do_sign(EVP_PKEY *k, int pss, int n) {
  int ok = 0;
  for (int i = 0; i < n; i++) {
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    setup(ctx, k, pss, 0);
    siglen = sizeof sig;
    ok += EVP_DigestSign(ctx, sig, &siglen, msg, sizeof msg);
    EVP_MD_CTX_free(ctx);
  }
  return ok;
}

// What aws-lc-rs ParsedPublicKey::verify_sig does: a digest context on the parsed key.
__attribute__((noinline)) int do_verify(EVP_PKEY *k, int pss, int n) {
  int ok = 0;
  for (int i = 0; i < n; i++) {
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    setup(ctx, k, pss, 1);
    ok += EVP_DigestVerify(ctx, sig, siglen, msg, sizeof msg);
    EVP_MD_CTX_free(ctx);
  }
  return ok;
}

// RSA with the key rebuilt from n and e per verification (RsaPublicKeyComponents::verify,
// jsonwebtoken's path before this change).
__attribute__((noinline)) int do_verify_rebuilt(EVP_PKEY *k, int pss, int n) {
  const RSA *r = EVP_PKEY_get0_RSA(k);
  unsigned char nb[512], eb[8];
  size_t nl = BN_bn2bin(RSA_get0_n(r), nb), el = BN_bn2bin(RSA_get0_e(r), eb);
  int ok = 0;
  for (int i = 0; i < n; i++) {
    RSA *rsa = RSA_new();
    RSA_set0_key(rsa, BN_bin2bn(nb, nl, NULL), BN_bin2bn(eb, el, NULL), NULL);
    EVP_PKEY *p = EVP_PKEY_new();
    EVP_PKEY_assign_RSA(p, rsa);
    ok += do_verify(p, pss, 1);
    EVP_PKEY_free(p);
  }
  return ok;
}

int main(int argc, char **argv) {
  const char *alg = argv[1]; int n = atoi(argv[2]);
  memset(msg, 'a', sizeof msg);
  EVP_PKEY *k; int pss = 0;
  if (!strcmp(alg, "ES256")) k = keygen(EVP_PKEY_EC, NID_X9_62_prime256v1);
  else if (!strcmp(alg, "ES384")) k = keygen(EVP_PKEY_EC, NID_secp384r1);
  else if (!strcmp(alg, "EdDSA")) k = keygen(EVP_PKEY_ED25519, 0);
  else { k = keygen(EVP_PKEY_RSA, 2048); pss = !strcmp(alg, "PS256"); }
  double t0 = cpu();
  int s = do_sign(k, pss, argc > 3 && !strcmp(argv[3], "sign") ? n : 1);
  int v = argc > 3 && !strcmp(argv[3], "rebuilt") ? do_verify_rebuilt(k, pss, n)
        : argc > 3 && !strcmp(argv[3], "sign") ? 0 : do_verify(k, pss, n);
  double us = (cpu() - t0) * 1e6 / n;
  printf("%s %s: signed %d, verified %d of %d, %.1f us CPU each\n", alg, argc > 3 ? argv[3] : "verify", s, v, n, us);
  return 0;
}
