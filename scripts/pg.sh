#!/usr/bin/env bash
# A private PostgreSQL cluster under a directory of ours, for run.sh and the tests.
#   scripts/pg.sh start DIR PORT   create (once) and start; prints the conninfo of database "taskflow"
#   scripts/pg.sh stop DIR         fast shutdown
#   scripts/pg.sh createdb DIR PORT NAME   (re)create database NAME, print its conninfo
# initdb refuses to run as root, so as root the cluster belongs to the "postgres" user.
# The scripts' ports (25432, 25460, 25480) lie below Linux's ephemeral range
# (32768-60999), where any outgoing connection could be holding them.
set -euo pipefail

cmd=${1:?usage: pg.sh start|stop|createdb DIR [PORT] [NAME]}
dir=$(mkdir -p "${2:?directory}" && cd "$2" && pwd)
port=${3:-25432}

bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[ -x "$bindir/initdb" ] || { echo "pg.sh: PostgreSQL server binaries not found; run scripts/install-deps.sh" >&2; exit 1; }

as_owner() {
  if [ "$(id -u)" -eq 0 ]; then
    su postgres -s /bin/sh -c "$*"
  else
    sh -c "$*"
  fi
}

# Clients are given the Unix socket under $dir/run: on loopback, TCP cost the API's lists of 50
# a tenth of their throughput (the kernel's TCP work on both sides of every result). A checkout
# whose socket path would pass the 107-byte limit or needs quoting (in a conninfo and in
# pg_ctl's shell), or a cluster started without the socket, gets TCP on 127.0.0.1, which the
# cluster always listens on as well.
sockdir="$dir/run"
if [ "$(printf %s "$sockdir" | LC_ALL=C wc -c)" -gt 80 ] || [[ ! "$sockdir" =~ ^[A-Za-z0-9/._-]+$ ]]; then
  sockdir=""
fi
conninfo() {
  if [ -n "$sockdir" ] && [ -S "$sockdir/.s.PGSQL.$port" ]; then
    echo "host=$sockdir port=$port user=taskflow dbname=$1"
  else
    echo "host=127.0.0.1 port=$port user=taskflow dbname=$1"
  fi
}

case "$cmd" in
start)
  [ -n "$sockdir" ] && mkdir -p "$sockdir"
  [ "$(id -u)" -eq 0 ] && chown -R postgres: "$dir"
  if [ ! -f "$dir/data/PG_VERSION" ]; then
    as_owner "'$bindir/initdb' -D '$dir/data' -A trust -U taskflow -E UTF8 --locale=C.UTF-8 --no-sync" >"$dir/initdb.log" 2>&1 ||
      { cat "$dir/initdb.log" >&2; exit 1; }
  fi
  if ! as_owner "'$bindir/pg_ctl' -D '$dir/data' status" >/dev/null 2>&1; then
    as_owner "'$bindir/pg_ctl' -D '$dir/data' -l '$dir/server.log' -w -t 60 -o \"-p $port -k '$sockdir' -c listen_addresses=127.0.0.1 -c max_connections=200\" start" >/dev/null ||
      { tail -n 20 "$dir/server.log" >&2; exit 1; }
  fi
  if ! "$bindir/psql" -Atqc "select 1 from pg_database where datname='taskflow'" "$(conninfo postgres)" | grep -q 1; then
    "$bindir/createdb" -h 127.0.0.1 -p "$port" -U taskflow taskflow
  fi
  conninfo taskflow
  ;;
createdb)
  name=${4:?database name}
  "$bindir/dropdb" --if-exists -h 127.0.0.1 -p "$port" -U taskflow "$name"
  "$bindir/createdb" -h 127.0.0.1 -p "$port" -U taskflow "$name"
  conninfo "$name"
  ;;
stop)
  [ -f "$dir/data/PG_VERSION" ] && as_owner "'$bindir/pg_ctl' -D '$dir/data' -m fast -w stop" >/dev/null 2>&1 || true
  ;;
*) echo "pg.sh: unknown command $cmd" >&2; exit 2 ;;
esac
