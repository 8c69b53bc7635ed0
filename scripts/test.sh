#!/usr/bin/env bash
# Runs every test suite under AddressSanitizer and UndefinedBehaviorSanitizer
# and ends with one line: "N passed, N failed" over all of them. Sets up
# everything it needs (packages, build, a private PostgreSQL under .local/).
set -uo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh || { echo "0 passed, 1 failed"; exit 1; }

export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:halt_on_error=1"
export LSAN_OPTIONS="suppressions=$(pwd)/tests/lsan.supp:print_suppressions=0"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
build=build-asan
if [ ! -f $build/build.ninja ]; then
  meson setup $build -Db_sanitize=address,undefined --buildtype=debug >/dev/null ||
    { echo "0 passed, 1 failed"; exit 1; }
fi
ninja -C $build >$build.log 2>&1 || { cat $build.log; echo "0 passed, 1 failed"; exit 1; }

passed=0
failed=0
suite() { # name passed failed
  echo "== $1: $2 passed, $3 failed"
  passed=$((passed + $2))
  failed=$((failed + $3))
}

# Unit tests (cmocka): one line per test case on stdout.
u_pass=0 u_fail=0 u_bins=0
for t in $build/test_*; do
  [ -f "$t" ] && [ -x "$t" ] || continue
  u_bins=$((u_bins + 1))
  out=$("$t" 2>&1)
  rc=$?
  # cmocka's own totals (each failure is named twice: as it happens and in the list).
  p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test(s)\.$/\1/p' <<<"$out" | awk '{n += $1} END {print n + 0}')
  f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test(s), listed below:$/\1/p' <<<"$out" | awk '{n += $1} END {print n + 0}')
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
  [ "$rc" -ne 0 ] && echo "$out"
  u_pass=$((u_pass + p))
  u_fail=$((u_fail + f))
done
[ "$u_bins" -eq 0 ] && { echo "no unit test binary in $build"; u_fail=1; }
suite unit "$u_pass" "$u_fail"

# The test tools' own tests (the Kafka broker and the Dapr sidecar double
# are pinned to what they stand in for).
t_pass=0 t_fail=0
for t in tests/tools/test_*.py; do
  out=$(KAFKA_MOCK_BROKER=$build/kafka-mock-broker python3 -m unittest "$t" 2>&1)
  rc=$?
  ran=$(sed -n 's/^Ran \([0-9]*\) tests\{0,1\}.*/\1/p' <<<"$out" | tail -n 1)
  bad=$(grep -E '^FAILED \(' <<<"$out" | grep -oE '(failures|errors)=[0-9]+' | cut -d= -f2 |
    awk '{n += $1} END {print n + 0}')
  skipped=$(sed -n 's/.*skipped=\([0-9]*\).*/\1/p' <<<"$out" | tail -n 1)
  ran=${ran:-0} bad=${bad:-0} skipped=${skipped:-0}
  if [ "$rc" -ne 0 ] || [ "$ran" -eq 0 ]; then
    echo "$out" | tail -n 40
    [ "$bad" -eq 0 ] && bad=1
  fi
  # A failing setUpModule or subtest counts in errors/failures but not in Ran.
  ok=$((ran - bad - skipped))
  [ "$ok" -lt 0 ] && ok=0
  t_pass=$((t_pass + ok))
  t_fail=$((t_fail + bad))
done
suite tools "$t_pass" "$t_fail"

# The dashboard: Vitest units, then Playwright in Debian's chromium against the
# real server (on its own database in the integration tests' cluster).
dashboard_suites() {
  local out_dir results=frontend/test-results
  mkdir -p .local
  if ! out_dir=$(scripts/build-frontend.sh 2>.local/frontend-build.log); then
    tail -n 40 .local/frontend-build.log
    suite dashboard-build 0 1
    return
  fi
  rm -rf $results && mkdir -p $results
  (cd frontend && node_modules/.bin/vitest run --reporter=default --reporter=json \
    --outputFile=test-results/vitest.json) >.local/vitest.log 2>&1 || tail -n 60 .local/vitest.log
  suite dashboard-unit $(json_counts $results/vitest.json \
    'r.numPassedTests' 'r.numFailedTests + (r.success && r.numTotalTests ? 0 : 1)')

  local admin="host=127.0.0.1 port=$pgport user=taskflow dbname=postgres"
  if ! psql "$admin" -qc 'DROP DATABASE IF EXISTS tf_e2e WITH (FORCE)' -c 'CREATE DATABASE tf_e2e' >/dev/null; then
    suite dashboard-e2e 0 1
    return
  fi
  (cd frontend && TASKFLOW_BIN=$(pwd)/../$build/taskflow FRONTEND_DIR=$out_dir \
    E2E_DATABASE_URL="host=127.0.0.1 port=$pgport user=taskflow dbname=tf_e2e" \
    node_modules/.bin/playwright test) >.local/e2e.log 2>&1
  grep -E '^E2E |^ +(✓|✘|-) |^ +[0-9]+\) ' .local/e2e.log | head -n 60
  grep -qE '^ +[0-9]+ failed' .local/e2e.log && tail -n 80 .local/e2e.log
  suite dashboard-e2e $(json_counts $results/e2e.json \
    'r.stats.expected' 'r.stats.unexpected + r.stats.flaky + (r.errors.length ? 1 : 0)')
}

# Prints "passed failed" from a JSON report (two expressions over r), or "0 1"
# when the runner wrote none.
json_counts() {
  node -e 'try { const r = require(process.argv[1]);
    console.log(`${eval(process.argv[2])} ${eval(process.argv[3])}`) } catch { console.log("0 1") }' \
    "$(pwd)/$1" "$2" "$3"
}

# Integration tests: the real server against its own PostgreSQL.
pgdir=.local/pg-test
pgport=${TEST_PG_PORT:-25460}
# Set first: pg.sh may have started the cluster and then failed.
trap 'scripts/pg.sh stop $pgdir >/dev/null 2>&1' EXIT # also when interrupted
if scripts/pg.sh start $pgdir $pgport >/dev/null; then
  out=$(python3 tests/integration/run.py --bin $build/taskflow \
    --pg-admin "host=127.0.0.1 port=$pgport user=taskflow dbname=postgres" 2>&1)
  echo "$out" | tail -n 60
  line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' <<<"$out" | tail -n 1)
  if [ -n "$line" ]; then
    suite integration "$(cut -d' ' -f1 <<<"$line")" "$(cut -d' ' -f3 <<<"$line")"
  else
    suite integration 0 1
  fi
  dashboard_suites
else
  echo "could not start PostgreSQL for the integration tests"
  suite integration 0 1
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
