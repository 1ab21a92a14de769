#!/usr/bin/env bash
# The test command from the README: the whole workspace, black-box tests included.
# SQLite by default; DATABASE_URL=postgres://… runs the same tests on PostgreSQL.
set -euo pipefail
cd "$(dirname "$0")/.."
exec cargo test --workspace "$@"
