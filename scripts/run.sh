#!/usr/bin/env bash
# Serves TaskFlow on http://127.0.0.1:8000 with the embedded defaults: builds
# it and the dashboard, starts a private PostgreSQL under .local/ when DATABASE_URL is not set,
# applies migrations and runs the server in the foreground. Ctrl-C stops all
# it started.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
[ -f build/build.ninja ] || meson setup build --buildtype=release >/dev/null
ninja -C build >/dev/null
[ -n "${FRONTEND_DIR:-}" ] || FRONTEND_DIR=$(scripts/build-frontend.sh)
export FRONTEND_DIR

started_pg=""
if [ -z "${DATABASE_URL:-}" ]; then
  DATABASE_URL=$(scripts/pg.sh start .local/pg "${PG_PORT:-25432}")
  started_pg=.local/pg
fi
export DATABASE_URL

if [ -z "${JWT_SECRET:-}${BETTER_AUTH_SECRET:-}" ]; then
  # A secret of our own, kept so tokens survive a restart.
  mkdir -p .local
  [ -s .local/jwt-secret ] || head -c 48 /dev/urandom | base64 | tr -d '\n/+=' >.local/jwt-secret
  JWT_SECRET=$(cat .local/jwt-secret)
  export JWT_SECRET
fi
export HOST="${HOST:-127.0.0.1}" PORT="${PORT:-8000}"
export CORS_ORIGINS="${CORS_ORIGINS:-http://127.0.0.1:$PORT,http://localhost:$PORT}"

server=""
status=0 # the server's own exit status when it stops by itself (2: a bad setting)
cleanup() {
  trap - INT TERM EXIT
  if [ -n "$server" ]; then
    kill -TERM "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
  fi
  [ -n "$started_pg" ] && scripts/pg.sh stop "$started_pg"
  exit "$status"
}
trap cleanup INT TERM EXIT

echo "TaskFlow on http://$HOST:$PORT (Ctrl-C stops it)" >&2
./build/taskflow serve &
server=$!
wait "$server" || status=$?
server=""
