#!/usr/bin/env bash
# CPU per request of each of Latch's threads, and syscalls per request, during one run of
# scripts/bench.sh: which thread pays for what (the actix worker for the request, the
# sqlx-sqlite workers for the statements, tokio's workers for Redis), stable enough to
# compare two builds on a machine whose req/s wanders. Needs perf (linux-perf).
#
#   BIN=/var/tmp/latch-a bash scripts/thread_cost.sh                  # token_dpop, RS256 proofs
#   BIN=… ALG=ES256 ENDPOINT=token bash scripts/thread_cost.sh
#   BIN=… REDIS=redis://127.0.0.1:6379 bash scripts/thread_cost.sh    # replay records in Redis
#
# Requests are counted as the worker's sendto calls (one response each, keep-alive).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="${BIN:?BIN=path to a release build of latch}"; ENDPOINT="${ENDPOINT:-token_dpop}"
LOG="$(mktemp)"; STAT="$(mktemp)"
trap 'rm -f "$LOG" "$STAT"' EXIT
ALG="${ALG:-RS256}" BIN="$BIN" PROOFS="${PROOFS:-80000}" DURATION=7 CONCS=32 ENDPOINTS="$ENDPOINT" \
  bash scripts/bench.sh >"$LOG" 2>&1 &
BENCH=$!
while ! pgrep -x wrk >/dev/null; do
  kill -0 "$BENCH" 2>/dev/null || { cat "$LOG"; exit 1; }
  sleep 0.3
done
sleep 1.5
PID="$(pgrep -f "^$BIN serve" | head -1)"
perf stat --per-thread -e task-clock,syscalls:sys_enter_sendto,syscalls:sys_enter_pwrite64,syscalls:sys_enter_pread64,syscalls:sys_enter_futex \
  -p "$PID" -- sleep 4 2>"$STAT"
wait "$BENCH" || true
python3 - "$STAT" <<'PY'
import collections, re, sys
per = collections.defaultdict(lambda: collections.defaultdict(float))
for line in open(sys.argv[1]):
    m = re.match(r'\s*(.+?)-(\d+)\s+([\d,.]+)\s+(?:msec\s+)?(\S+)', line)
    if m:
        name, _tid, value, event = m.groups()
        per[name][event] += float(value.replace(',', ''))
total = collections.defaultdict(float)
for name in per:
    for event, value in per[name].items():
        total[event] += value
reqs = total['syscalls:sys_enter_sendto'] or 1
print(f"requests counted: {reqs:.0f}")
for name in sorted(per, key=lambda n: -per[n].get('task-clock', 0)):
    ms = per[name].get('task-clock', 0)
    if ms > 20:
        print(f"  {name:<18} {ms * 1000 / reqs:7.1f} us CPU / request")
print(f"  {'all threads':<18} {total['task-clock'] * 1000 / reqs:7.1f} us CPU / request")
for event in ('pwrite64', 'pread64', 'futex'):
    print(f"  {event:<18} {total['syscalls:sys_enter_' + event] / reqs:7.2f} / request")
PY
grep -E "^$ENDPOINT " "$LOG"
