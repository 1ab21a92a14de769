#!/usr/bin/env bash
# Benchmark Latch's hot endpoints on loopback, the same way ../shared/peers/bench-peer.sh
# measures node-oidc-provider: server pinned to CPU 1, wrk pinned to CPU 0, c=32 and c=1.
#
#   bash scripts/bench.sh                       # SQLite, 10 s per run
#   DB=postgres bash scripts/bench.sh           # PostgreSQL (fresh database on 127.0.0.1:5432)
#   DURATION=5 CONCS="32" bash scripts/bench.sh
#   BIN=/tmp/latch-old ENDPOINTS="token apikey" bash scripts/bench.sh   # another build, some endpoints
#   SIGNINS=20 ENDPOINTS=token bash scripts/bench.sh   # 20 sign-ins per second beside each run
#
# Endpoints:
#   token      POST /oauth/token grant_type=client_credentials, Basic auth, ES256 JWT
#   code       POST /oauth/token grant_type=authorization_code (each code redeemed once;
#              codes pre-minted by scripts/mint_codes.py), issues AT + RT in one transaction
#   introspect POST /oauth/introspect token=<ES256 JWT access token>, Basic auth (its own client)
#   apikey     GET  /v1/users/me with Authorization: Bearer sk_test_… (API-key check + user read)
#   apikey_capped       the same with a key capped at 10^12 uses (leases blocks of 100 uses)
#   apikey_allowlisted  the same with a key allowed from 127.0.0.0/8 and ::1 only
#   discovery  GET  /.well-known/oauth-authorization-server
#   token_api  as token, for a client of a registered "Billing API" (aud = its identifier,
#              its own access_token_ttl): the catalog lookup on the hot path
#   apikey_capped / apikey_allowlisted   as apikey, with a usage cap / an IP allowlist
#   token_pkjwt as token, the client authenticated by private_key_jwt (RFC 7523): an ES256
#              assertion with a unique jti per request (pre-signed by scripts/client-assertion.py,
#              each used once), so each request verifies a signature and records a jti
#   token_dpop as token, with a fresh DPoP proof (RFC 9449) per request (ES256 proofs
#              pre-made by scripts/dpop_proofs.py, each used once): proof verification,
#              the jti replay record (database, or Redis with REDIS=) and a DPoP-bound token
#   v1_dpop    GET  /v1/users/me with Authorization: DPoP <access token> (a person's token,
#              bound to a key by redeeming a code with a proof) and a fresh proof with `ath`
#              per request (pre-made, each used once): the resource side of RFC 9449 §7
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION="${DURATION:-10}"; WARMUP="${WARMUP:-2}"; CONCS="${CONCS:-32 1}"; DB="${DB:-sqlite}"
PORT="${PORT:-3200}"; BASE="http://127.0.0.1:$PORT"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
# BIN=/path/to/latch measures that binary instead (e.g. the previous commit's, side by side).
if [[ -z "${BIN:-}" ]]; then
  cargo build --release --bin latch >/dev/null
  BIN="$CARGO_TARGET_DIR/release/latch"
fi
MINT=(python3 scripts/mint_codes.py)
TMP="$(mktemp -d)"; PID=""
cleanup() { if [[ -n "$PID" ]]; then kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; fi; rm -rf "$TMP"; }
trap cleanup EXIT INT TERM

if [[ "$DB" == postgres ]]; then
  name="latch_bench_$$"; psql -q postgres://postgres@127.0.0.1:5432/test -c "CREATE DATABASE $name" >/dev/null
  # PG_SSLMODE=disable: no TLS between Latch and PostgreSQL (sqlx's default, `prefer`, uses
  # TLS whenever the server offers it, as Debian's does: both ends then pay for encryption).
  export LATCH_DATABASE_URL="postgres://postgres@127.0.0.1:5432/$name${PG_SSLMODE:+?sslmode=$PG_SSLMODE}"
  trap 'cleanup; psql -q postgres://postgres@127.0.0.1:5432/test -c "DROP DATABASE IF EXISTS $name" >/dev/null 2>&1' EXIT
else
  export LATCH_DATABASE_URL="sqlite://$TMP/latch.db?mode=rwc"
fi
# RATE_LIMIT=on measures the limiter's cost (limits raised so nothing is refused);
# REDIS=redis://127.0.0.1:6379 puts the buckets in Redis.
export LATCH_SECRET_KEY="$("$BIN" secret generate)" LATCH_BIND="127.0.0.1:$PORT" LATCH_RATE_LIMIT="${RATE_LIMIT:-off}"
export LATCH_LIMIT_API_KEY_TEST=10000000/s LATCH_LIMIT_TOKEN_IP=10000000/s LATCH_LIMIT_TOKEN_CLIENT=10000000/s
# wrk opens every connection from loopback: lift the per-address connection cap (default 256).
export LATCH_MAX_CONNECTIONS_PER_IP=1000000
if [[ -n "${REDIS:-}" ]]; then export LATCH_REDIS_URL="$REDIS"; fi
export LATCH_WORKERS=1 LATCH_LOG=warn LATCH_CODE_TTL=600
# Pre-made DPoP proofs stay acceptable for a whole run.
export LATCH_DPOP_PROOF_MAX_AGE=300
"$BIN" migrate >/dev/null
CC="$("$BIN" client create --name bench --grant-type client_credentials --scope read --scope write --json)"
CID="$(sed -n 's/.*"client_id":"\([^"]*\)".*/\1/p' <<<"$CC")"; CSEC="$(sed -n 's/.*"client_secret":"\([^"]*\)".*/\1/p' <<<"$CC")"
echo "bench-pass-1234567" | "$BIN" user create --email bench@example.com --password-stdin >/dev/null
AC="$("$BIN" client create --name bench-web --redirect-uri https://app.example.com/cb --scope read --scope write --json)"
ACID="$(sed -n 's/.*"client_id":"\([^"]*\)".*/\1/p' <<<"$AC")"; ACSEC="$(sed -n 's/.*"client_secret":"\([^"]*\)".*/\1/p' <<<"$AC")"
"$BIN" api create --identifier https://billing.bench.example --name "Billing API" \
  --scope "invoices:read=See your invoices" --token-ttl 600 --json >/dev/null
BC="$("$BIN" client create --name bench-billing --grant-type client_credentials --scope invoices:read --json)"
BCID="$(sed -n 's/.*"client_id":"\([^"]*\)".*/\1/p' <<<"$BC")"; BCSEC="$(sed -n 's/.*"client_secret":"\([^"]*\)".*/\1/p' <<<"$BC")"
BBASIC="$(printf '%s:%s' "$BCID" "$BCSEC" | base64 -w0)"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$TMP/client-key.pem" 2>/dev/null
python3 scripts/client-assertion.py jwks "$TMP/client-key.pem" bench-1 >"$TMP/client-jwks.json"
KC="$("$BIN" client create --name bench-keyed --grant-type client_credentials --scope read \
  --auth-method private_key_jwt --jwks "$TMP/client-jwks.json" --json)"
KCID="$(sed -n 's/.*"client_id":"\([^"]*\)".*/\1/p' <<<"$KC")"
ISSUER="${LATCH_ISSUER:-http://127.0.0.1:$PORT}"
# Assertions live at most 5 minutes (Latch's bound): signed just before each run.
sign_assertions() { EXP_SECS=290 python3 scripts/client-assertion.py sign "$TMP/client-key.pem" bench-1 "$KCID" "$ISSUER" "$1"; }
BASIC="$(printf '%s:%s' "$CID" "$CSEC" | base64 -w0)"; ABASIC="$(printf '%s:%s' "$ACID" "$ACSEC" | base64 -w0)"

PIN_S=(); PIN_G=()
if command -v taskset >/dev/null && (( $(nproc) >= 2 )); then PIN_S=(taskset -c 1); PIN_G=(taskset -c 0); fi
"${PIN_S[@]}" "$BIN" serve >"$TMP/latch.log" 2>&1 &
PID=$!
for _ in $(seq 100); do curl -sf -o /dev/null "$BASE/healthz" && break; sleep 0.1; done
sleep 1; IDLE_RSS="$(awk '/VmRSS/{print $2, $3}' "/proc/$PID/status")"
curl -sf -u "$CID:$CSEC" -d grant_type=client_credentials "$BASE/oauth/token" | grep -q '"access_token":"eyJ' || { echo "sanity check failed" >&2; cat "$TMP/latch.log"; exit 1; }

curl -sf -d grant_type=client_credentials -d client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer \
  -d "client_assertion=$(sign_assertions 1)" "$BASE/oauth/token" | grep -q '"access_token":"eyJ' || { echo "private_key_jwt sanity check failed" >&2; exit 1; }
curl -sf -u "$BCID:$BCSEC" -d grant_type=client_credentials "$BASE/oauth/token" | grep -q '"expires_in":600' || { echo "custom-API token sanity check failed" >&2; exit 1; }
AT="$(curl -sf -u "$CID:$CSEC" -d grant_type=client_credentials "$BASE/oauth/token" | sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p')"
# DPoP proofs name the issuer's token endpoint (`htu`), whatever address wrk uses.
ISSUER="$(curl -sf "$BASE/.well-known/oauth-authorization-server" | sed -n 's/.*"issuer":"\([^"]*\)".*/\1/p')"
if [[ " ${ENDPOINTS:-} " == *" token_dpop "* ]]; then
  curl -sf -u "$CID:$CSEC" -H "DPoP: $(python3 scripts/dpop_proofs.py "$ISSUER/oauth/token" 1)" \
    -d grant_type=client_credentials "$BASE/oauth/token" | grep -q '"token_type":"DPoP"' || { echo "DPoP sanity check failed" >&2; exit 1; }
fi
if [[ " ${ENDPOINTS:-} " == *" v1_dpop "* ]]; then
  # A person's access token bound to a key: one code redeemed with a proof of that key.
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$TMP/dpop-key.pem" 2>/dev/null
  DCODE="$("${MINT[@]}" "$LATCH_DATABASE_URL" "$ACID" bench@example.com 1)"
  DAT="$(curl -sf -u "$ACID:$ACSEC" -H "DPoP: $(python3 scripts/dpop_proofs.py "$ISSUER/oauth/token" 1 POST "$TMP/dpop-key.pem")" \
    -d grant_type=authorization_code -d "code=$DCODE" "$BASE/oauth/token" | sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p')"
  curl -sf -H "Authorization: DPoP $DAT" -H "DPoP: $(python3 scripts/dpop_proofs.py "$ISSUER/v1/users/me" 1 GET "$TMP/dpop-key.pem" "$DAT")" \
    "$BASE/v1/users/me" | grep -q '"object":"user"' || { echo "DPoP /v1 sanity check failed" >&2; exit 1; }
fi
curl -sf -u "$CID:$CSEC" -d "token=$AT" "$BASE/oauth/introspect" | grep -q '"active":true' || { echo "introspection sanity check failed" >&2; exit 1; }
KEY="$("$BIN" key create --user bench@example.com --mode test --json | sed -n 's/.*"key":"\([^"]*\)".*/\1/p')"
curl -sf -H "Authorization: Bearer $KEY" "$BASE/v1/users/me" | grep -q '"object":"user"' || { echo "API key sanity check failed" >&2; exit 1; }
CKEY="$("$BIN" key create --user bench@example.com --mode test --remaining 1000000000000 --json | sed -n 's/.*"key":"\([^"]*\)".*/\1/p')"
AKEY="$("$BIN" key create --user bench@example.com --mode test --allowed-ip 127.0.0.0/8 --allowed-ip ::1 --json | sed -n 's/.*"key":"\([^"]*\)".*/\1/p')"
for k in "$CKEY" "$AKEY"; do
  curl -sf -H "Authorization: Bearer $k" "$BASE/v1/users/me" | grep -q '"object":"user"' || { echo "policy key sanity check failed" >&2; exit 1; }
done

result_lua='done = function(s, lat, req)
  io.write(string.format("RESULT %d %.1f %.3f %.3f %.3f %d %d\n", s.requests, s.requests / (s.duration / 1e6),
    lat:percentile(50) / 1000, lat:percentile(90) / 1000, lat:percentile(99) / 1000,
    s.errors.status, s.errors.connect + s.errors.read + s.errors.write + s.errors.timeout))
end'
cat >"$TMP/token.lua" <<LUA
wrk.method = "POST"; wrk.body = "grant_type=client_credentials"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"; wrk.headers["Authorization"] = "Basic $BASIC"
$result_lua
LUA
cat >"$TMP/token_api.lua" <<LUA
wrk.method = "POST"; wrk.body = "grant_type=client_credentials"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"; wrk.headers["Authorization"] = "Basic $BBASIC"
$result_lua
LUA
cat >"$TMP/get.lua" <<LUA
$result_lua
LUA
cat >"$TMP/introspect.lua" <<LUA
wrk.method = "POST"; wrk.body = "token=$AT"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"; wrk.headers["Authorization"] = "Basic $BASIC"
$result_lua
LUA
cat >"$TMP/apikey.lua" <<LUA
wrk.headers["Authorization"] = "Bearer $KEY"
$result_lua
LUA
cat >"$TMP/apikey_capped.lua" <<LUA
wrk.headers["Authorization"] = "Bearer $CKEY"
$result_lua
LUA
cat >"$TMP/apikey_allowlisted.lua" <<LUA
wrk.headers["Authorization"] = "Bearer $AKEY"
$result_lua
LUA
# Each DPoP proof is used once, like the codes below.
cat >"$TMP/token_dpop.lua" <<LUA
local proofs = {}; for l in io.lines("$TMP/proofs.txt") do proofs[#proofs + 1] = l end
local i = 0
request = function()
  i = i + 1
  return wrk.format("POST", nil, {["Content-Type"] = "application/x-www-form-urlencoded",
    ["Authorization"] = "Basic $BASIC", ["DPoP"] = proofs[i] or "exhausted"}, "grant_type=client_credentials")
end
$result_lua
LUA
cat >"$TMP/v1_dpop.lua" <<LUA
local proofs = {}; for l in io.lines("$TMP/v1proofs.txt") do proofs[#proofs + 1] = l end
local i = 0
request = function()
  i = i + 1
  return wrk.format("GET", nil, {["Authorization"] = "DPoP ${DAT:-}", ["DPoP"] = proofs[i] or "exhausted"})
end
$result_lua
LUA
# Each code is used once: thread-local cursor over a file of pre-minted codes.
cat >"$TMP/code.lua" <<LUA
local codes = {}; for l in io.lines("$TMP/codes.txt") do codes[#codes + 1] = l end
local i = 0
request = function()
  i = i + 1
  local body = "grant_type=authorization_code&code=" .. (codes[i] or "exhausted")
  return wrk.format("POST", nil, {["Content-Type"] = "application/x-www-form-urlencoded", ["Authorization"] = "Basic $ABASIC"}, body)
end
$result_lua
LUA
# Each assertion is used once (its jti is recorded): the same cursor over pre-signed ones.
cat >"$TMP/token_pkjwt.lua" <<LUA
local assertions = {}; for l in io.lines("$TMP/assertions.txt") do assertions[#assertions + 1] = l end
local i = 0
request = function()
  i = i + 1
  local body = "grant_type=client_credentials&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion=" .. (assertions[i] or "exhausted")
  return wrk.format("POST", nil, {["Content-Type"] = "application/x-www-form-urlencoded"}, body)
end
$result_lua
LUA

cpu_ticks() { awk '{print $14+$15}' "/proc/$PID/stat"; }
# DB=postgres: PostgreSQL's side of a run — transactions committed in the bench database
# (pg_stat_database) and the CPU of its backends (from /proc), per request.
pg_xacts() { psql -Atq postgres://postgres@127.0.0.1:5432/test -c "SELECT pg_stat_clear_snapshot(); SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = '$name'" | tail -1; }
pg_ticks() { # "pid ticks" per backend of the bench database
  for p in $(pgrep -f "^postgres: .* $name " || true); do
    awk -v p="$p" '{print p, $14+$15}' "/proc/$p/stat" 2>/dev/null || true
  done
}
run() { # path lua conc secs
  timeout $(($4 + 30)) "${PIN_G[@]}" wrk -t1 -c"$3" -d"$4s" --timeout 10s -s "$2" "$BASE$1" | sed -n 's/^RESULT //p'
}
echo "latch $("$BIN" --version | cut -d' ' -f2), db=$DB, rate limits=${RATE_LIMIT:-off}${REDIS:+ (redis)}, $(wrk -v 2>&1 | head -1 | cut -d' ' -f1-2), pinning: ${PIN_S[*]:-none} (server) / ${PIN_G[*]:-none} (wrk)"
echo "cpu: $(nproc) x $(lscpu | sed -n 's/^Model name: *//p'); ${DURATION}s per run"
printf '%-18s %4s %10s %9s %9s %9s %7s %9s %10s\n' endpoint conc req/s p50_ms p90_ms p99_ms errors requests req/cpu-s
for ep in ${ENDPOINTS:-token code introspect apikey discovery}; do
  case $ep in
    token) path=/oauth/token; lua="$TMP/token.lua" ;;
    token_api) path=/oauth/token; lua="$TMP/token_api.lua" ;;
    token_pkjwt) path=/oauth/token; lua="$TMP/token_pkjwt.lua" ;;
    token_dpop) path=/oauth/token; lua="$TMP/token_dpop.lua" ;;
    v1_dpop) path=/v1/users/me; lua="$TMP/v1_dpop.lua" ;;
    code) path=/oauth/token; lua="$TMP/code.lua" ;;
    introspect) path=/oauth/introspect; lua="$TMP/introspect.lua" ;;
    apikey) path=/v1/users/me; lua="$TMP/apikey.lua" ;;
    apikey_capped) path=/v1/users/me; lua="$TMP/apikey_capped.lua" ;;
    apikey_allowlisted) path=/v1/users/me; lua="$TMP/apikey_allowlisted.lua" ;;
    discovery) path=/.well-known/oauth-authorization-server; lua="$TMP/get.lua" ;;
  esac
  for c in $CONCS; do
    if [[ $ep == code ]]; then
      # Enough fresh codes for the run (measured rate is far below this).
      "${MINT[@]}" "$LATCH_DATABASE_URL" "$ACID" bench@example.com "${CODES:-40000}" >"$TMP/codes.txt"
    elif [[ $ep == token_pkjwt ]]; then
      # Enough fresh assertions for the run; one wrk thread, so one cursor.
      sign_assertions "${ASSERTIONS:-60000}" >"$TMP/assertions.txt"
    elif [[ $ep == token_dpop ]]; then
      python3 scripts/dpop_proofs.py "$ISSUER/oauth/token" "${PROOFS:-40000}" >"$TMP/proofs.txt"
    elif [[ $ep == v1_dpop ]]; then
      python3 scripts/dpop_proofs.py "$ISSUER/v1/users/me" "${PROOFS:-40000}" GET "$TMP/dpop-key.pem" "$DAT" >"$TMP/v1proofs.txt"
    else
      run "$path" "$lua" 32 "$WARMUP" >/dev/null
    fi
    # SIGNINS=20: people sign in (argon2id) at that rate beside the run (issue #12).
    SPID=""
    if [[ -n "${SIGNINS:-}" ]]; then
      "${PIN_G[@]}" python3 scripts/signin_load.py "$BASE" bench@example.com bench-pass-1234567 \
        "$SIGNINS" "$DURATION" >"$TMP/signins.txt" &
      SPID=$!
    fi
    if [[ "$DB" == postgres ]]; then x0=$(pg_xacts); pg_ticks >"$TMP/pg0"; fi
    t0=$(cpu_ticks)
    read -r reqs rps p50 p90 p99 non2xx sockerr <<<"$(run "$path" "$lua" "$c" "$DURATION")"
    t1=$(cpu_ticks)
    if [[ "$DB" == postgres ]]; then
      pg_ticks >"$TMP/pg1"; sleep 1.5; x1=$(pg_xacts)
      pgcpu=$(awk -v h="$(getconf CLK_TCK)" 'NR==FNR{a[$1]=$2; next} {d+=$2-a[$1]} END{printf "%.2f", d/h}' "$TMP/pg0" "$TMP/pg1")
      pg_line="  postgres: $(awk -v a="$x0" -v b="$x1" -v r="$reqs" 'BEGIN{printf "%.3f", (b-a)/r}') transactions/req, backend CPU ${pgcpu} s = $(awk -v c="$pgcpu" -v r="$reqs" 'BEGIN{printf "%.0f", c*1e6/r}') us/req"
    fi
    if [[ -n "$SPID" ]]; then wait "$SPID"; echo "  beside it, $(cat "$TMP/signins.txt")"; fi
    cpu=$(awk -v a="$t0" -v b="$t1" -v h="$(getconf CLK_TCK)" 'BEGIN{printf "%.2f", (b-a)/h}')
    printf '%-18s %4s %10s %9s %9s %9s %7s %9s %10s\n' "$ep" "$c" "$rps" "$p50" "$p90" "$p99" "$((non2xx + sockerr))" "$reqs" \
      "$(awk -v r="$reqs" -v c="$cpu" 'BEGIN{ if (c>0) printf "%.0f", r/c; else print "n/a"}')"
    if [[ -n "${pg_line:-}" ]]; then echo "$pg_line"; pg_line=""; fi
  done
done
echo "latch idle RSS (after start-up, before any request): $IDLE_RSS"
echo "latch RSS after load: $(awk '/VmRSS/{print $2, $3}' "/proc/$PID/status"), peak: $(awk '/VmHWM/{print $2, $3}' "/proc/$PID/status")"
