"""The command line: --version, --help, serve's configuration errors, SIGTERM, migrate."""

import signal
import socket
import subprocess
import time

import harness as H

SERVER = "none"   # this module starts its own processes


class CliTest(H.ApiTestCase):
    def test_version(self):
        r = H.run_cli(["--version"], env=H.base_env("dbname=unused"))
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = r.stdout.strip().splitlines()
        self.assertEqual(len(lines), 1, r.stdout)
        self.assertRegex(lines[0], r"\d+\.\d+")

    def test_help(self):
        r = H.run_cli(["--help"], env=H.base_env("dbname=unused"))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("serve", r.stdout)
        self.assertIn("migrate", r.stdout)

    def assertConfigError(self, env):
        try:
            r = subprocess.run([H.CTX.bin, "serve"], env=env, capture_output=True, text=True,
                               timeout=20, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            self.fail("serve did not exit on a configuration error (still running after 20 s)")
        self.assertEqual(r.returncode, 2, f"stderr: {r.stderr!r}")
        lines = r.stderr.splitlines()
        self.assertEqual(len(lines), 1, f"stderr should be one line: {r.stderr!r}")
        self.assertTrue(lines[0].strip())
        return lines[0]

    def test_serve_without_jwt_secret_exits_2(self):
        _, db = H.create_db()
        self.assertConfigError(H.base_env(db, JWT_SECRET=None))

    def test_serve_with_bad_port_exits_2(self):
        _, db = H.create_db()
        self.assertConfigError(H.base_env(db, PORT="abc"))

    def test_serve_with_an_instance_id_that_cannot_name_a_consumer_exits_2(self):
        _, db = H.create_db()
        for bad in ('pod"1', "pod\\1", "pod 1", "p" * 128):
            with self.subTest(instance=bad):
                self.assertConfigError(H.base_env(db, INSTANCE_ID=bad))


class SignalTest(H.ApiTestCase):
    @classmethod
    def setUpClass(cls):
        _, cls.db = H.create_db()
        r = H.migrate(cls.db)
        assert r.returncode == 0, r.stderr

    def test_sigterm_exits_0(self):
        s = H.Server(H.base_env(self.db), name="test_cli:sigterm").start()
        with H.serving(s):
            uid, token = H.sign_up(server=s)
            self.assertStatus(H.api("GET", H.tasks_path(uid), token=token, server=s), 200)

    def test_sigterm_with_idle_keepalive_connection_exits_0(self):
        s = H.Server(H.base_env(self.db), name="test_cli:sigterm-keepalive").start()
        connections = []
        try:
            # The server is stopped (and must exit 0) with both connections still open.
            with H.serving(s):
                sock = socket.create_connection(("127.0.0.1", s.port), timeout=10)
                connections.append(sock)
                connections.append(socket.create_connection(("127.0.0.1", s.port), timeout=10))  # idle
                sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
                data = sock.recv(4096)
                self.assertTrue(data.startswith(b"HTTP/1.1 200"), data[:100])
        finally:
            for c in connections:
                c.close()


class MigrateTest(H.ApiTestCase):
    def assertUsable(self, db):
        s = H.Server(H.base_env(db), name="test_cli:migrated").start()
        with H.serving(s):
            r = H.api("GET", "/ready", server=s)
            self.assertStatus(r, 200)
            self.assertEqual(r.json["checks"], {"database": "ok", "migrations": "ok", "bus": "ok"})
            uid, token = H.sign_up(server=s)
            self.assertStatus(H.api("POST", H.tasks_path(uid), {"title": "m"}, token=token, server=s), 201)

    def test_migrate_twice_is_idempotent(self):
        _, db = H.create_db()
        env = H.base_env(db)
        r1 = H.migrate(db, env)
        self.assertEqual(r1.returncode, 0, r1.stderr)
        r2 = H.migrate(db, env)
        self.assertEqual(r2.returncode, 0, r2.stderr)
        self.assertUsable(db)
        r3 = H.migrate(db, env)
        self.assertEqual(r3.returncode, 0, r3.stderr)

    def test_concurrent_migrate_on_fresh_database(self):
        for attempt in range(2):
            _, db = H.create_db()
            env = H.base_env(db)
            procs = [subprocess.Popen([H.CTX.bin, "migrate"], env=env, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)
                     for _ in range(3)]
            outs = []
            for p in procs:
                try:
                    out, err = p.communicate(timeout=H.CLI_TIMEOUT)
                except subprocess.TimeoutExpired:
                    p.kill()
                    out, err = p.communicate()
                outs.append((p.returncode, err.strip()[-300:]))
            self.assertEqual([rc for rc, _ in outs], [0, 0, 0], outs)
            self.assertUsable(db)

    def test_migrate_without_database_fails(self):
        port = H.free_port()
        env = H.base_env(f"host=127.0.0.1 port={port} user=taskflow dbname=nothing connect_timeout=3")
        r = H.run_cli(["migrate"], env=env)
        self.assertNotEqual(r.returncode, 0, "migrate against no database must fail")
        self.assertTrue(r.stderr.strip())
