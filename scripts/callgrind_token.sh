#!/usr/bin/env bash
# Instructions per request at the token endpoint, counted by callgrind: repeatable on a busy
# machine, unlike req/s. Bearer (`client_credentials`) and DPoP (the same with a fresh ES256
# proof per request), SQLite, one worker, 32 keep-alive connections.
#
#   BIN=target/release/latch bash scripts/callgrind_token.sh            # N=2000 requests each
#   N=1000 OUT=/tmp/cg BIN=… bash scripts/callgrind_token.sh
#   KINDS=dpop ALG=RS256 BIN=… bash scripts/callgrind_token.sh    # one kind; proofs by another
#                                                                 # algorithm (dpop_proofs.py)
#
# For each of bearer and dpop: start `latch serve` under callgrind, instrumentation off, warm
# up (200 requests), collect over N requests, print Ir/request; the profile stays in
# $OUT/<kind>.out for callgrind_annotate.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="${BIN:?BIN=path to a release build of latch}"; N="${N:-2000}"; C="${C:-32}"
PORT="${PORT:-3290}"; BASE="http://127.0.0.1:$PORT"; OUT="${OUT:-$(mktemp -d)}"
TMP="$(mktemp -d)"; PID=""
cleanup() { if [[ -n "$PID" ]]; then kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; fi; rm -rf "$TMP"; }
trap cleanup EXIT INT TERM
export LATCH_DATABASE_URL="sqlite://$TMP/latch.db?mode=rwc" LATCH_SECRET_KEY="$("$BIN" secret generate)"
export LATCH_BIND="127.0.0.1:$PORT" LATCH_RATE_LIMIT=off LATCH_WORKERS=1 LATCH_LOG=warn
export LATCH_MAX_CONNECTIONS_PER_IP=1000000 LATCH_DPOP_PROOF_MAX_AGE=300
"$BIN" migrate >/dev/null
CC="$("$BIN" client create --name prof --grant-type client_credentials --scope read --json)"
CID="$(sed -n 's/.*"client_id":"\([^"]*\)".*/\1/p' <<<"$CC")"; CSEC="$(sed -n 's/.*"client_secret":"\([^"]*\)".*/\1/p' <<<"$CC")"
BASIC="$(printf '%s:%s' "$CID" "$CSEC" | base64 -w0)"
for kind in ${KINDS:-bearer dpop}; do
  valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$OUT/$kind.out" \
    "$BIN" serve >"$TMP/serve-$kind.log" 2>&1 &
  PID=$!
  for _ in $(seq 600); do curl -sf -o /dev/null "$BASE/healthz" && break; sleep 0.2; done
  ISSUER="$(curl -sf "$BASE/.well-known/oauth-authorization-server" | sed -n 's/.*"issuer":"\([^"]*\)".*/\1/p')"
  if [[ $kind == dpop ]]; then
    python3 scripts/dpop_proofs.py "$ISSUER/oauth/token" $((N + 200)) >"$TMP/proofs.txt"
    head -200 "$TMP/proofs.txt" >"$TMP/warm.txt"; tail -n +201 "$TMP/proofs.txt" >"$TMP/run.txt"
  fi
  python3 scripts/drive_requests.py "$BASE/oauth/token" 200 "$C" "$BASIC" $([[ $kind == dpop ]] && echo "$TMP/warm.txt") >/dev/null
  callgrind_control -i on "$PID" >/dev/null
  res="$(python3 scripts/drive_requests.py "$BASE/oauth/token" "$N" "$C" "$BASIC" $([[ $kind == dpop ]] && echo "$TMP/run.txt"))"
  callgrind_control -i off "$PID" >/dev/null
  callgrind_control -d "$PID" >/dev/null
  kill "$PID"; wait "$PID" 2>/dev/null || true; PID=""
  # The dump made while running (…out.1 or the like) holds the collected part.
  f="$OUT/$kind.out.1"
  ir="$(sed -n 's/^totals: *\([0-9]*\).*/\1/p' "$f" | head -1)"
  echo "$kind: $res; Ir/request $((ir / N)) ($f)"
done
