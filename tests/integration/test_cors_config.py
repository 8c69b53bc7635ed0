"""Configuration: CORS_ORIGINS as a list and as "*", and settings given in DATABASE_URL."""

import subprocess
import time
import harness as H

SERVER = "none"


def preflight(server, origin):
    return H.api("OPTIONS", "/api/someone/tasks", server=server,
                 headers={"Origin": origin, "Access-Control-Request-Method": "POST",
                          "Access-Control-Request-Headers": "content-type"})


class CorsConfigTest(H.ApiTestCase):
    @classmethod
    def setUpClass(cls):
        _, cls.db = H.create_db()
        r = H.migrate(cls.db)
        assert r.returncode == 0, r.stderr

    def test_list_of_origins(self):
        s = H.Server(H.base_env(self.db, CORS_ORIGINS="http://a.example,https://b.example:8443"),
                     name="test_cors_config:list").start()
        with H.serving(s):
            for origin in ("http://a.example", "https://b.example:8443"):
                with self.subTest(origin=origin):
                    r = preflight(s, origin)
                    self.assertStatus(r, 204)
                    self.assertEqual(r.headers.get("Access-Control-Allow-Origin"), origin)
                    r = H.api("GET", "/health", server=s, headers={"Origin": origin})
                    self.assertEqual(r.headers.get("Access-Control-Allow-Origin"), origin)
            for origin in ("http://c.example", "https://b.example", "http://a.example,https://b.example:8443",
                           "http://allowed.example"):
                with self.subTest(origin=origin):
                    r = preflight(s, origin)
                    self.assertNotIn("Access-Control-Allow-Origin", r.headers)
                    self.assertNotIn("Access-Control-Allow-Methods", r.headers)
                    r = H.api("GET", "/health", server=s, headers={"Origin": origin})
                    self.assertNotIn("Access-Control-Allow-Origin", r.headers)

    def test_star(self):
        s = H.Server(H.base_env(self.db, CORS_ORIGINS="*"), name="test_cors_config:star").start()
        with H.serving(s):
            for origin in ("http://anything.example", "https://x.test:3000"):
                with self.subTest(origin=origin):
                    r = preflight(s, origin)
                    self.assertStatus(r, 204)
                    self.assertIn(r.headers.get("Access-Control-Allow-Origin"), ("*", origin))
                    self.assertEqual(r.headers.get("Access-Control-Max-Age"), "600")
                    r = H.api("GET", "/health", server=s, headers={"Origin": origin})
                    self.assertIn(r.headers.get("Access-Control-Allow-Origin"), ("*", origin))


class DatabaseUrlTest(H.ApiTestCase):
    def test_settings_in_database_url_win_over_the_servers_own(self):
        name, db = H.create_db()
        s = H.start_server(db + " application_name=tf_from_url", name="test_cors_config:dburl")
        with H.serving(s):
            H.create_task(*H.sign_up(server=s), server=s)  # the loops' connections are in use
            rows = H.psql_rows(name, "select distinct application_name from pg_stat_activity"
                                     f" where datname = '{name}' and backend_type = 'client backend'"
                                     " and pid <> pg_backend_pid()")
            self.assertEqual(rows, [["tf_from_url"]])

    def test_options_in_database_url_keep_the_servers_statement_timeout(self):
        # libpq takes one options string: DATABASE_URL's (a search_path here) must not replace
        # the server's 15 s statement timeout, or a write stuck behind a lock waits for ever.
        name, db = H.create_db()
        with H.serving(H.start_server(db + " options='-c search_path=public'",
                                      name="test_cors_config:dburl-options")) as s:
            uid, token = H.sign_up(server=s)
            task = H.create_task(uid, token, server=s)
            locker = subprocess.Popen(
                [H._pg_tool("psql"), "-X", "-q", "-c", "begin",
                 "-c", f"select 1 from tasks where id = {task['id']} for update",
                 "-c", "select pg_sleep(60)", H.conninfo(name)],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                H.wait_until(lambda: H.psql_rows(name, "select count(*) from pg_stat_activity"
                                                       " where query = 'select pg_sleep(60)'") == [["1"]],
                             what="the row lock")
                began = time.monotonic()
                r = H.api("PATCH", H.tasks_path(uid, task["id"]), {"title": "behind a lock"},
                          token=token, server=s, timeout=40)
                self.assertError(r, 503, "unavailable")
                self.assertLess(time.monotonic() - began, 30)
            finally:
                locker.kill()
                locker.wait()
