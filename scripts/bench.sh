#!/usr/bin/env bash
# Benchmarks the task API against PostgreSQL doing the same SQL, in one run.
#
#   scripts/bench.sh [--duration S] [--connections N] [--users N] [--scenarios "create list complete"]
#                    [--bus in-process|kafka] [--steady EVENTS_PER_S (1000; 0: skip)]
#                    [--drain EVENTS (50000; 0: skip)] [--ws "SOCKETS RATE" ("1000 200"; 0: skip)]
#                    [--ws-only]
#
# Builds a release binary, starts a private PostgreSQL (.local/pg-bench) and a
# server on 127.0.0.1:8100, seeds users (tokens minted with the server's
# secret) and their tasks, then for each scenario runs wrk against the API and
# pgbench -M prepared with the API's own SQL (scripts/bench/pg_*.sql) at the
# same concurrency. Prints req/s, p50, p99 for both and the API/pgbench ratio,
# the server's idle RSS, and for the writes the events that went through the
# bus: how many per second, and the time from the event's transaction to the
# work subscription's receipt (p50, p99). --bus kafka publishes to a local broker
# (tests/tools/kafka_mock_broker.c) instead of the in-process bus. Last, tasks
# are created at a steady --steady rate to measure that time at that rate,
# and --drain events are written to the outbox at once to measure how many
# events per second the relay moves through the bus. After them, --ws holds SOCKETS live-sync
# WebSockets spread over the read users (build/ws-load, tests/tools/ws_load.c), measures the
# server's RSS per idle socket, creates RATE tasks per second for --duration seconds through the
# API and reports the time from each 201 to the event's frame on every socket of its user (p50,
# p99, max) and the frames that never came. --ws-only (or --scenarios "" --steady 0 --drain 0)
# runs only that part. Absolute numbers on a shared machine drift: read the ratios.
set -euo pipefail
shopt -s inherit_errexit # a failure inside $(...) stops the run too
cd "$(dirname "$0")/.."

duration=10 conns=64 users=100 scenarios="create list complete" bus=in-process steady=1000 drain=50000
ws="1000 200"
while [ $# -gt 0 ]; do
  case "$1" in
    --duration) duration=$2; shift 2 ;;
    --connections) conns=$2; shift 2 ;;
    --users) users=$2; shift 2 ;;
    --scenarios) scenarios=$2; shift 2 ;;
    --bus) bus=$2; shift 2 ;;
    --steady) steady=$2; shift 2 ;;
    --drain) drain=$2; shift 2 ;;
    --ws) ws=$2; shift 2 ;;
    --ws-only) scenarios="" steady=0 drain=0; shift ;;
    *) echo "usage: $0 [--duration S] [--connections N] [--users N] [--scenarios 'create list complete']" \
         "[--bus in-process|kafka] [--steady N] [--drain N] [--ws 'SOCKETS RATE'] [--ws-only]" >&2; exit 2 ;;
  esac
done

read -r ws_sockets ws_rate <<<"$ws"
ws_sockets=${ws_sockets:-0} ws_rate=${ws_rate:-200}
# --ws holds thousands of sockets: the server (started below, inheriting this
# limit) and ws-load each need one descriptor per socket.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

scripts/install-deps.sh
command -v pgbench >/dev/null || export PATH="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1):$PATH"
[ -f build/build.ninja ] || meson setup build --buildtype=release >/dev/null
ninja -C build >/dev/null

port=8100 pgport=25480
out=$(mktemp -d)
pgdir=.local/pg-bench
server="" broker=""
# Whatever fails, everything started is stopped (set +e: one failing step
# must not skip the rest).
cleanup() {
  set +e
  if [ -n "$server" ] && ! kill -0 "$server" 2>/dev/null; then
    echo "the server died; its log:" >&2
    tail -n 40 "$out/server.log" >&2
    server=""
  fi
  [ -n "$server" ] && kill -TERM "$server" 2>/dev/null && wait "$server" 2>/dev/null
  [ -n "$broker" ] && kill -TERM "$broker" 2>/dev/null && wait "$broker" 2>/dev/null
  scripts/pg.sh stop $pgdir
  rm -rf "$out"
}
trap cleanup EXIT
scripts/pg.sh start $pgdir $pgport >/dev/null
db=$(scripts/pg.sh createdb $pgdir $pgport bench 2>/dev/null)
# settle() vacuums before every measured run: autovacuum off, so that none
# lands inside one (on either side; it made CPU per request vary by half).
psql -q "$db" -c "ALTER SYSTEM SET autovacuum = off" -c "SELECT pg_reload_conf()" >/dev/null
secret=$(head -c 48 /dev/urandom | base64 | tr -d '\n/+=')

extra_env=()
if [ "$bus" = kafka ]; then
  ./build/kafka-mock-broker --topic tasks.events:4 --bootstrap-file "$out/bootstrap" >/dev/null 2>&1 </dev/null &
  broker=$!
  for _ in $(seq 100); do [ -s "$out/bootstrap" ] && break; sleep 0.1; done
  extra_env=(KAFKA_BROKERS="$(cat "$out/bootstrap")")
fi


env "${extra_env[@]}" DATABASE_URL="$db" JWT_SECRET="$secret" PORT=$port LOG_LEVEL=warn \
  ${TASKFLOW_BIN:-./build/taskflow} serve 2>"$out/server.log" &
server=$!
for _ in $(seq 200); do curl -sf "http://127.0.0.1:$port/ready" >/dev/null && break; sleep 0.1; done
curl -sf "http://127.0.0.1:$port/ready" >/dev/null || { echo "the server is not ready" >&2; exit 1; }
sleep 1
idle_rss_kb=$(awk '/VmRSS/ {print $2}' /proc/$server/status)

# Users: bench-w-N write (create), bench-r-N read (list, complete; 50 tasks each).
python3 - "$secret" "$users" "$out" <<'PY'
import base64, hashlib, hmac, json, sys, time
secret, users, out = sys.argv[1].encode(), int(sys.argv[2]), sys.argv[3]
b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
def token(sub):
    head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = b64(json.dumps({"sub": sub, "exp": int(time.time()) + 3600}).encode())
    sig = hmac.new(secret, f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64(sig)}"
for kind in "wr":
    with open(f"{out}/users_{kind}.txt", "w") as f:
        for i in range(1, users + 1):
            f.write(f"bench-{kind}-{i} {token(f'bench-{kind}-{i}')}\n")
PY
psql -q "$db" -c "INSERT INTO tasks (user_id, title, description)
  SELECT 'bench-r-' || u, 'seed task ' || n, 'seeded by scripts/bench.sh'
  FROM generate_series(1, $users) u, generate_series(1, 50) n ORDER BY u, n"
base=$(psql -Atq "$db" -c "SELECT min(id) FROM tasks")
tasks=$((users * 50))
psql -Atq "$db" -c "SELECT user_id, id FROM tasks ORDER BY id" |
  awk 'NR==FNR {tok[$1]=$2; next} {split($0, f, "|"); print f[1], tok[f[1]], f[2]}' "$out/users_r.txt" - >"$out/tasks_r.txt"

# Before every measured run: nothing left over from the previous one may run
# during it: the relay publishing what pgbench's creates put in the outbox
# (their cost belongs to the create run), autovacuum or a checkpoint (the
# create runs add 100k+ rows).
settle() {
  wait_for_outbox
  psql -q "$db" -c "VACUUM ANALYZE" -c "CHECKPOINT" >/dev/null
}
# wait_until TENTHS WHAT COMMAND...: polls COMMAND every 0.1 s; fails, saying WHAT did not
# happen, after TENTHS tries.
wait_until() {
  local tries=$1 what=$2
  shift 2
  for _ in $(seq "$tries"); do
    "$@" && return
    sleep 0.1
  done
  echo "$what did not happen within $((tries / 10)) s" >&2
  return 1
}
outbox_empty() { [ "$(psql -Atq "$db" -c "SELECT count(*) FROM event_outbox")" = 0 ]; }
wait_for_outbox() { wait_until 600 "the outbox relay catching up" outbox_empty; }
# CPU time in clock ticks, user and system: the server's (all its threads),
# and PostgreSQL's (the postmaster, its live children, and the children it
# has reaped: connections that closed).
server_ticks() { awk '{print $14 + $15}' /proc/$server/stat; }
pg_ticks() {
  local pm
  pm=$(head -n 1 $pgdir/data/postmaster.pid)
  { awk '{print $14 + $15 + $16 + $17}' /proc/$pm/stat
    for c in $(pgrep -P "$pm"); do awk '{print $14 + $15}' /proc/$c/stat 2>/dev/null || true; done
  } | awk '{t += $1} END {print t}'
}
# Microseconds of CPU per request between two tick readings.
per_request() { # ticks-before ticks-after requests
  awk -v a="$1" -v b="$2" -v n="$3" -v hz="$(getconf CLK_TCK)" 'BEGIN {printf "%.0f", (b - a) * 1e6 / hz / n}'
}
api() { # scenario datafile
  settle
  local s0 p0 result
  s0=$(server_ticks) p0=$(pg_ticks)
  result=$(SCENARIO=$1 wrk -t2 -c"$conns" -d"${duration}s" --latency -s scripts/bench/requests.lua \
    "http://127.0.0.1:$port" -- "$2" | awk '/^RESULT/ {print $2, $3, $4, $5}' |
    sed 's/[a-z0-9_]*=//g')
  local n
  n=$(awk -v r="${result%% *}" -v d="$duration" 'BEGIN {printf "%d", r * d}')
  echo "$result $(per_request "$s0" "$(server_ticks)" "$n") $(per_request "$p0" "$(pg_ticks)" "$n")"
}
pg() { # sqlfile
  settle
  local p0
  p0=$(pg_ticks)
  pgbench -n -M prepared -c "$conns" -j 2 -T "$duration" -r -D users="$users" -D tasks="$tasks" \
    -D base="$base" -f "$1" -l --log-prefix="$out/pglog" "$db" >"$out/pgbench.txt" 2>&1 ||
    { cat "$out/pgbench.txt" >&2; return 1; }
  tps=$(sed -n 's/^tps = \([0-9.]*\) (without initial connection time)/\1/p' "$out/pgbench.txt")
  local p1 n
  p1=$(pg_ticks)
  # Latency percentiles from the per-transaction log (microseconds in column 3).
  cat "$out"/pglog.* | awk '{print $3}' | sort -n >"$out/lat.txt"
  rm -f "$out"/pglog.*
  n=$(wc -l <"$out/lat.txt")
  p50=$(sed -n "$((n / 2 + 1))p" "$out/lat.txt")
  p99=$(sed -n "$((n * 99 / 100 + 1))p" "$out/lat.txt")
  awk -v t="$tps" -v a="$p50" -v b="$p99" 'BEGIN {printf "%s %.3f %.3f 0", t, a / 1000, b / 1000}'
  echo " $(per_request "$p0" "$p1" "$n")"
}

# The events a run's writes produced, once the work subscription has handled
# them all: its receipt's time (the transaction that recorded it) against the
# event's (the transaction that wrote it).
all_handled_after() { # log id
  [ "$(psql -Atq "$db" -c "SELECT count(*) FROM event_log e WHERE id > $1 AND NOT EXISTS
    (SELECT FROM event_receipts r WHERE r.consumer = 'work' AND r.event_id = e.event_id)")" = 0 ]
}
drain_handled() {
  [ "$(psql -Atq "$db" -c "SELECT count(*) FROM event_receipts
    WHERE consumer = 'work' AND user_id LIKE 'drain-%'")" -ge "$drain" ]
}
events_report() { # scenario first-log-id
  wait_for_outbox
  wait_until 600 "the work subscription handling the run's events" all_handled_after "$2"
  psql -Atq "$db" -F' ' -c "SELECT count(*),
      count(*) / greatest(extract(epoch FROM max(received_at) - min(\"timestamp\")), 0.001),
      1000 * extract(epoch FROM percentile_cont(0.5) WITHIN GROUP (ORDER BY received_at - \"timestamp\")),
      1000 * extract(epoch FROM percentile_cont(0.99) WITHIN GROUP (ORDER BY received_at - \"timestamp\"))
    FROM event_log e JOIN event_receipts r ON r.consumer = 'work' AND r.event_id = e.event_id
    WHERE e.id > $2" >"$out/events-$1.txt"
}

cpu=""
[ -z "${scenarios// /}" ] ||
  printf "%-9s %10s %9s %9s %6s | %10s %9s %9s | %6s\n" scenario api_rps p50_ms p99_ms non2xx pg_tps p50_ms p99_ms ratio
for scenario in $scenarios; do
  case $scenario in
    create) data=$out/users_w.txt sql=scripts/bench/pg_create.sql ;;
    list) data=$out/users_r.txt sql=scripts/bench/pg_list.sql ;;
    complete) data=$out/tasks_r.txt sql=scripts/bench/pg_complete.sql ;;
  esac
  since=$(psql -Atq "$db" -c "SELECT coalesce(max(id), 0) FROM event_log")
  line=$(api $scenario "$data")
  read -r a_rps a_p50 a_p99 a_bad a_srv a_pg <<<"$line"
  [ "$scenario" = list ] || events_report "$scenario" "$since"
  line=$(pg $sql)
  read -r p_rps p_p50 p_p99 _ p_pg <<<"$line"
  awk -v s=$scenario -v ar="$a_rps" -v a5="$a_p50" -v a9="$a_p99" -v ab="$a_bad" \
    -v pr="$p_rps" -v p5="$p_p50" -v p9="$p_p99" \
    'BEGIN {printf "%-9s %10.0f %9.2f %9.2f %6d | %10.0f %9.2f %9.2f | %5.0f%%\n", s, ar, a5, a9, ab, pr, p5, p9, 100 * ar / pr}'
  cpu="${cpu}$(printf "cpu (%s): server %s us/request, PostgreSQL %s us/request; pgbench's PostgreSQL %s us/transaction" \
    "$scenario" "$a_srv" "$a_pg" "$p_pg")"$'\n'
done
printf "%s" "${cpu:-}"
if [ "$steady" != 0 ]; then
  settle
  since=$(psql -Atq "$db" -c "SELECT coalesce(max(id), 0) FROM event_log")
  python3 scripts/bench/steady.py "http://127.0.0.1:$port" "$out/users_w.txt" "$steady" "$duration" \
    >"$out/steady.txt"
  echo "steady creates: $(cat "$out/steady.txt")"
  events_report "steady-$steady" "$since"
fi
if [ "$drain" != 0 ]; then
  settle
  psql -q "$db" -c "WITH e AS (INSERT INTO event_log (event_id, event_type, user_id, aggregate_id, seq, data)
    SELECT gen_random_uuid(), 'task.created', 'drain-' || (n % 1000), n::text, n / 1000 + 1,
           '{\"task\": {\"id\": 0, \"title\": \"drain\"}}'
    FROM generate_series(1, $drain) n ORDER BY n % 1000, n RETURNING id)
    INSERT INTO event_outbox (id) SELECT id FROM e"
  wait_for_outbox
  wait_until 1200 "the work subscription handling the drained events" drain_handled
  # From the first receipt to the last.
  psql -Atq "$db" -F' ' -c "SELECT count(*), count(*) / greatest(extract(epoch FROM
      max(received_at) - min(received_at)), 0.001) FROM event_receipts
      WHERE consumer = 'work' AND user_id LIKE 'drain-%'" >"$out/drain.txt"
  read -r n rate <"$out/drain.txt"
  printf "drain (%s bus): %d events through the bus to the work subscription at %.0f/s\n" "$bus" "$n" "$rate"
fi
if [ "$ws_sockets" != 0 ]; then
  settle
  since=$(psql -Atq "$db" -c "SELECT coalesce(max(id), 0) FROM event_log")
  # stderr (progress, server errors it saw) passes through; a dead server makes it exit 1.
  ws_result=$(./build/ws-load --host 127.0.0.1 --port $port --users-file "$out/users_r.txt" \
    --sockets "$ws_sockets" --rate "$ws_rate" --seconds "$duration" --server-pid "$server") ||
    { echo "ws-load exited with status $?" >&2; exit 1; }
  echo "$bus: $(grep '^RESULT' <<<"$ws_result" || echo "RESULT none")"
  events_report "ws-$ws_sockets" "$since"
fi
for f in "$out"/events-*.txt; do
  [ -f "$f" ] || continue
  read -r n rate p50 p99 <"$f"
  printf "events (%s bus, %s): %d handled, %.0f/s, commit to work subscription p50 %.1f ms, p99 %.1f ms\n" \
    "$bus" "$(basename "$f" .txt | sed 's/events-//')" "$n" "$rate" "$p50" "$p99"
done
if [ -n "${scenarios// /}" ]; then
  echo "idle RSS: $((idle_rss_kb / 1024)) MiB ($idle_rss_kb KiB); wrk -t2 -c$conns -d${duration}s, pgbench -c$conns -j2 -M prepared; $(nproc) cores"
else
  echo "idle RSS: $((idle_rss_kb / 1024)) MiB ($idle_rss_kb KiB); $(nproc) cores"
fi
