"""Configuration: CORS_ORIGINS as a list and as "*", and settings given in DATABASE_URL."""

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
        try:
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
        finally:
            s.stop()
        self.assertCleanStop(s)

    def test_star(self):
        s = H.Server(H.base_env(self.db, CORS_ORIGINS="*"), name="test_cors_config:star").start()
        try:
            for origin in ("http://anything.example", "https://x.test:3000"):
                with self.subTest(origin=origin):
                    r = preflight(s, origin)
                    self.assertStatus(r, 204)
                    self.assertIn(r.headers.get("Access-Control-Allow-Origin"), ("*", origin))
                    self.assertEqual(r.headers.get("Access-Control-Max-Age"), "600")
                    r = H.api("GET", "/health", server=s, headers={"Origin": origin})
                    self.assertIn(r.headers.get("Access-Control-Allow-Origin"), ("*", origin))
        finally:
            s.stop()
        self.assertCleanStop(s)


class DatabaseUrlTest(H.ApiTestCase):
    def test_settings_in_database_url_win_over_the_servers_own(self):
        name, db = H.create_db()
        s = H.start_server(db + " application_name=tf_from_url", name="test_cors_config:dburl")
        try:
            H.create_task(*H.sign_up(server=s), server=s)  # the loops' connections are in use
            rows = H.psql_rows(name, "select distinct application_name from pg_stat_activity"
                                     f" where datname = '{name}' and application_name like 'tf%'")
            self.assertEqual(rows, [["tf_from_url"]])
        finally:
            s.stop()
        self.assertCleanStop(s)
