#!/usr/bin/env bash
# Builds the dashboard (frontend/) into frontend/out when the output is missing
# or older than any source: npm ci when the lockfile changed, then next build.
# Prints the output directory.
set -euo pipefail
cd "$(dirname "$0")/../frontend"
export NEXT_TELEMETRY_DISABLED=1 PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1

if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "build-frontend: npm ci" >&2
  # Never --omit=optional: the SWC, lightningcss and Tailwind binaries are optional dependencies.
  npm ci --no-audit --no-fund --loglevel=error >&2
fi

newer_source() {
  find . \( -path ./node_modules -o -path ./.next -o -path ./out -o -path ./e2e \
    -o -path ./test-results -o -path ./playwright-report \) -prune \
    -o -type f -newer out/index.html -print | head -n 1
}
if [ ! -f out/index.html ] || [ -n "$(newer_source)" ]; then
  echo "build-frontend: next build" >&2
  node_modules/.bin/next build >&2
fi
echo "$(pwd)/out"
