"""Failures of the database: 503 when it cannot be reached, 500 (without internals) on a bug,
/ready with pending migrations."""

import os
import re
import socket
import time

import harness as H

SERVER = "none"   # this module starts its own servers

LEAK_WORDS = ["relation", "does not exist", "sqlstate", "syntax error", "postgres", "libpq", "pgres",
              "select ", "insert ", "update ", "_broken", "error:", "fatal", ".c:", "connection to server",
              "127.0.0.1", "segfault", "stack", "column"]


class FailureBase(H.ApiTestCase):
    def assertNoLeak(self, resp, extra=()):
        body = resp.raw.decode("utf-8", "replace").lower()
        for w in LEAK_WORDS + [e.lower() for e in extra]:
            self.assertNotIn(w, body, f"response leaks {w!r}: {resp.raw[:300]!r}")
        self.assertRegex(resp.headers.get("X-Request-Id", ""), r"^[A-Za-z0-9._:-]{1,128}$")


class InternalErrorTest(FailureBase):
    def test_500_never_leaks(self):
        name, db = H.create_db()
        s = H.start_server(db, name="test_failures:500")
        with H.serving(s):
            u = H.sign_up_full(server=s)
            task = H.create_task(u["id"], u["token"], server=s)
            tables = H.psql(name, "select tablename from pg_tables where schemaname = 'public'").split()
            self.assertTrue(tables)
            for t in tables:
                H.psql(name, f'alter table "{t}" rename to "{t}_broken"')
            cases = [("GET", H.tasks_path(u["id"]), None, u["token"]),
                     ("GET", H.tasks_path(u["id"], task["id"]), None, u["token"]),
                     ("POST", H.tasks_path(u["id"]), {"title": "boom"}, u["token"]),
                     ("PATCH", H.tasks_path(u["id"], task["id"]), {"title": "boom"}, u["token"]),
                     ("DELETE", H.tasks_path(u["id"], task["id"]), None, u["token"]),
                     ("POST", "/api/auth/sign-in", {"email": u["email"], "password": u["password"]}, None),
                     ("POST", "/api/auth/sign-up", {"email": H.random_email(), "password": "password1",
                                                    "name": "n"}, None),
                     ("GET", "/api/auth/me", None, u["token"])]
            for method, path, body, token in cases:
                with self.subTest(method=method, path=path):
                    r = H.api(method, path, body if body is not None else H._NO_BODY, token=token, server=s)
                    self.assertError(r, 500, "internal_error")
                    self.assertNoLeak(r, extra=[name] + tables)
            self.assertStatus(H.api("GET", "/health", server=s), 200)


class UnavailableTest(FailureBase):
    def test_503_when_database_dropped_under_running_server(self):
        name, db = H.create_db()
        s = H.start_server(db, name="test_failures:503-dropped")
        with H.serving(s):
            u = H.sign_up_full(server=s)
            self.assertStatus(H.api("GET", H.tasks_path(u["id"]), token=u["token"], server=s), 200)
            H.drop_db(name, force=True)
            r = H.api("GET", "/ready", server=s)
            self.assertStatus(r, 503)
            self.assertEqual(r.json.get("status"), "unavailable", r.raw)
            self.assertEqual(r.json.get("checks", {}).get("database"), "unreachable", r.raw)
            self.assertStatus(H.api("GET", "/health", server=s), 200)
            for method, path, body, token in (
                    ("GET", H.tasks_path(u["id"]), None, u["token"]),
                    ("POST", H.tasks_path(u["id"]), {"title": "x"}, u["token"]),
                    ("POST", "/api/auth/sign-in", {"email": u["email"], "password": u["password"]}, None),
                    ("GET", "/api/auth/me", None, u["token"])):
                with self.subTest(method=method, path=path):
                    r = H.api(method, path, body if body is not None else H._NO_BODY, token=token, server=s)
                    self.assertError(r, 503, "unavailable")
                    self.assertNoLeak(r, extra=[name])

    def test_database_down_from_start_with_auto_migrate(self):
        """serve migrates first: without a database it stops at once, saying why."""
        port = H.free_port()
        db = f"host=127.0.0.1 port={port} user=taskflow dbname=nothing connect_timeout=3"
        r = H.run_cli(["serve"], env=H.base_env(db))
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("cannot connect to the database", r.stderr)

    def test_database_down_from_start_without_auto_migrate(self):
        """serve runs and reports the database as unreachable: /health 200, /ready 503, task
        routes 503."""
        port = H.free_port()
        db = f"host=127.0.0.1 port={port} user=taskflow dbname=nothing connect_timeout=3"
        s = H.Server(H.base_env(db, AUTO_MIGRATE="false"), name="test_failures:503-down").start()
        with H.serving(s):
            self.assertEqual(H.api("GET", "/health", server=s).json, {"status": "ok"})
            r = H.api("GET", "/ready", server=s)
            self.assertStatus(r, 503)
            self.assertEqual(r.json.get("status"), "unavailable", r.raw)
            self.assertEqual(r.json["checks"]["database"], "unreachable")
            uid = "ext-user-1"
            r = H.api("GET", H.tasks_path(uid), token=H.make_token(uid, secret=s.secret), server=s)
            self.assertError(r, 503, "unavailable")
            self.assertNoLeak(r, extra=[str(port)])


    def test_a_database_that_never_answers_gives_503_not_a_hang(self):
        """A server that accepts the connection and then says nothing: requests get 503 once
        the connect deadline (10 s) passes, not after TCP gives up (minutes; the request
        would time out first)."""
        silent = socket.socket()
        silent.bind(("127.0.0.1", 0))
        silent.listen(64)  # the kernel completes the handshakes; nobody ever reads
        port = silent.getsockname()[1]
        db = f"host=127.0.0.1 port={port} user=taskflow dbname=nothing"
        s = H.Server(H.base_env(db, AUTO_MIGRATE="false"), name="test_failures:silent").start()
        try:
            with H.serving(s):
                uid = "ext-user-2"
                r = H.api("GET", H.tasks_path(uid), token=H.make_token(uid, secret=s.secret), server=s,
                          timeout=40)
                self.assertError(r, 503, "unavailable")
        finally:
            silent.close()


class HostNameTest(FailureBase):
    """A DATABASE_URL that names its host: libpq would look the name up on the event loop,
    blocking it. tests/tools/slow_dns.c (preloaded) makes *.slow.test take 2 s to resolve and
    *.fail.test unknown."""

    def start_with_host(self, host, name, in_pghost=False):
        """in_pghost: DATABASE_URL names no host, and PGHOST does."""
        _, db = H.create_db()
        self.assertEqual(H.migrate(db).returncode, 0)
        lib = os.path.join(os.path.dirname(os.path.abspath(H.CTX.bin)), "libslow-dns.so")
        self.assertTrue(os.path.exists(lib), lib)
        self.assertIn("host=127.0.0.1", db)
        url = db.replace("host=127.0.0.1", "" if in_pghost else f"host={host}")
        env = H.base_env(url, AUTO_MIGRATE="false", LD_PRELOAD=lib, SLOW_DNS_MS="2000")
        if in_pghost:
            env["PGHOST"] = host
        env["ASAN_OPTIONS"] = env.get("ASAN_OPTIONS", "") + ":verify_asan_link_order=0"
        began = time.monotonic()
        s = H.Server(env, name=f"test_failures:{name}").start()
        return s, time.monotonic() - began

    def assertServesPromptlyThrough(self, in_pghost):
        s, took = self.start_with_host("db.slow.test", "slow-dns", in_pghost=in_pghost)
        with H.serving(s):
            # Looked up on the loops, 16 connections at 2 s each would keep the server
            # from answering for half a minute.
            self.assertLess(took, 5.0)
            for _ in range(5):
                t = time.monotonic()
                self.assertStatus(H.api("GET", "/health", server=s), 200)
                self.assertLess(time.monotonic() - t, 1.0)
            uid, token = H.sign_up(server=s)
            r = H.api("POST", H.tasks_path(uid), {"title": "through a named host"}, token=token,
                      server=s)
            self.assertStatus(r, 201)

    def test_a_slow_name_server_does_not_stall_the_loops(self):
        self.assertServesPromptlyThrough(in_pghost=False)

    def test_a_host_from_PGHOST_is_looked_up_off_the_loops_too(self):
        self.assertServesPromptlyThrough(in_pghost=True)

    def test_every_address_of_a_name_is_tried_and_a_name_not_found_is_skipped(self):
        # db.two.test: 127.0.0.2 first, where nothing listens, then 127.0.0.1.
        port = int(H.parse_conninfo(H.conninfo("postgres"))["port"])
        with self.assertRaises(ConnectionRefusedError, msg="something listens on 127.0.0.2"):
            socket.create_connection(("127.0.0.2", port), timeout=5).close()
        for hosts in ("db.two.test", "db.fail.test,db.two.test"):
            with self.subTest(hosts=hosts):
                s, _ = self.start_with_host(hosts, "host-list")
                with H.serving(s):
                    uid, token = H.sign_up(server=s)
                    r = H.api("POST", H.tasks_path(uid), {"title": "a later address"}, token=token,
                              server=s)
                    self.assertStatus(r, 201)
                    self.assertStatus(H.api("GET", "/ready", server=s), 200)

    def test_a_host_that_accepts_and_stays_silent_does_not_hold_back_the_next(self):
        """libpq moves on from a host that refuses, not from one that accepts and never answers
        (or drops the packets): after the connect deadline (10 s) the next connect starts at the
        host after it."""
        silent = socket.socket()
        silent.bind(("127.0.0.1", 0))
        silent.listen(64)  # the kernel completes the handshakes; nobody ever reads
        try:
            _, db = H.create_db()
            self.assertEqual(H.migrate(db).returncode, 0)
            real = H.parse_conninfo(db)["port"]
            url = db.replace(f"port={real}", f"port={silent.getsockname()[1]},{real}")
            url = url.replace("host=127.0.0.1", "host=127.0.0.1,127.0.0.1")
            with H.serving(H.Server(H.base_env(url, AUTO_MIGRATE="false"),
                                    name="test_failures:silent-first").start()) as s:
                H.wait_until(lambda: H.api("GET", "/ready", server=s).status == 200, timeout=30,
                             what="/ready through the second host")
                uid, token = H.sign_up(server=s)
                r = H.api("POST", H.tasks_path(uid), {"title": "past a silent host"}, token=token,
                          server=s)
                self.assertStatus(r, 201)
        finally:
            silent.close()

    def test_an_unknown_host_name_gives_503_and_the_log_says_why(self):
        s, _ = self.start_with_host("db.fail.test", "unknown-host")
        with H.serving(s):
            uid = "ext-user-3"
            t = time.monotonic()
            r = H.api("GET", H.tasks_path(uid), token=H.make_token(uid, secret=s.secret), server=s,
                      timeout=20)
            self.assertError(r, 503, "unavailable")
            self.assertNoLeak(r, extra=["fail.test"])
            self.assertLess(time.monotonic() - t, 5.0)
            self.assertIn("cannot resolve the database host name", s.log_tail(200))


class ReadyTest(H.ApiTestCase):
    def test_serve_migrates_a_fresh_database_and_is_ready(self):
        _, db = H.create_db()
        s = H.Server(H.base_env(db), name="test_failures:unmigrated").start()
        with H.serving(s):
            # serve migrated on its own (AUTO_MIGRATE defaults to true): it is usable
            r = H.api("GET", "/ready", server=s)
            self.assertStatus(r, 200)
            self.assertEqual(r.json, {"status": "ready", "checks": {"database": "ok", "migrations": "ok", "bus": "ok"}})
            uid, token = H.sign_up(server=s)
            self.assertStatus(H.api("GET", H.tasks_path(uid), token=token, server=s), 200)

    def test_ready_reports_pending_migrations(self):
        # `taskflow --help`: serve applies pending migrations "unless AUTO_MIGRATE=false"
        _, db = H.create_db()
        s = H.Server(H.base_env(db, AUTO_MIGRATE="false"), name="test_failures:pending").start()
        with H.serving(s):
            r = H.api("GET", "/ready", server=s)
            self.assertStatus(r, 503)
            self.assertEqual(r.json, {"status": "unavailable",
                                      "checks": {"database": "ok", "migrations": "pending", "bus": "ok"}})
            self.assertStatus(H.api("GET", "/health", server=s), 200)
            r2 = H.migrate(db, s.env)
            self.assertEqual(r2.returncode, 0, r2.stderr)
            r = H.api("GET", "/ready", server=s)
            self.assertStatus(r, 200)
            self.assertEqual(r.json, {"status": "ready", "checks": {"database": "ok", "migrations": "ok", "bus": "ok"}})
