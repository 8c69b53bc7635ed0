"""GET /health, GET /ready, unknown routes and 405 with Allow."""

import harness as H


class HealthTest(H.ApiTestCase):
    def test_health_ok(self):
        r = H.api("GET", "/health")
        self.assertStatus(r, 200)
        self.assertEqual(r.json, {"status": "ok"})
        self.assertJsonContentType(r)

    def test_ready_ok_with_checks(self):
        r = H.api("GET", "/ready")
        self.assertStatus(r, 200)
        self.assertEqual(r.json, {"status": "ready",
                                  "checks": {"database": "ok", "migrations": "ok", "bus": "ok"}})

    def test_health_wrong_method_is_405_with_allow(self):
        r = H.api("POST", "/health", {})
        self.assertError(r, 405, "method_not_allowed")
        allow = {m.strip().upper() for m in r.headers.get("Allow", "").split(",") if m.strip()}
        self.assertIn("GET", allow, f"Allow: {r.headers.get('Allow')!r}")
        self.assertNotIn("POST", allow)

    def test_unknown_route_is_404_json(self):
        for path in ("/nope", "/api", "/api/auth/nope", "/healthz"):
            with self.subTest(path=path):
                self.assertError(H.api("GET", path), 404, "not_found")

    def test_unknown_route_with_post_is_404(self):
        self.assertError(H.api("POST", "/no/such/route", {"a": 1}), 404, "not_found")
