"""The dashboard's static export served next to the API (FRONTEND_DIR)."""

import os
import tempfile

import harness as H

SERVER = "none"

FILES = {
    "index.html": b"<!doctype html><title>TaskFlow</title>home",
    "dashboard/index.html": b"<!doctype html><title>Dashboard</title>dashboard",
    "404.html": b"<!doctype html><title>Not found</title>custom 404",
    "_next/static/chunks/app-3f9a1c.js": b"console.log('chunk')",
    "_next/static/css/app-77aa.css": b"body{color:red}",
    "dashboard/__next._tree.txt": b"rsc payload",
    "favicon.svg": b"<svg xmlns='http://www.w3.org/2000/svg'/>",
}


class FrontendTest(H.ApiTestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="tf-out-", dir=H.CTX.tmpdir)
        for name, body in FILES.items():
            path = os.path.join(cls.dir, name)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as f:
                f.write(body)
        cls.server = H.start_server(name="test_frontend", FRONTEND_DIR=cls.dir)

    @classmethod
    def tearDownClass(cls):
        H.stop_checked(cls.server)

    def get(self, path, method="GET", headers=None):
        return H.api(method, path, server=self.server, headers=headers)

    def test_pages_are_html_and_never_cached(self):
        for path, marker in (("/", b"home"), ("/dashboard/", b"dashboard")):
            with self.subTest(path=path):
                r = self.get(path)
                self.assertStatus(r, 200)
                self.assertIn(marker, r.raw)
                self.assertTrue(r.headers["Content-Type"].startswith("text/html"))
                self.assertEqual(r.headers.get("Cache-Control"), "no-cache")
                self.assertEqual(r.headers.get("X-Content-Type-Options"), "nosniff")
                self.assertIn("X-Request-Id", r.headers)

    def test_directory_without_slash_redirects(self):
        r = self.get("/dashboard")
        self.assertStatus(r, 301)
        self.assertTrue(r.headers["Location"].endswith("/dashboard/"), r.headers["Location"])

    def test_hashed_assets_cached_for_a_year(self):
        r = self.get("/_next/static/chunks/app-3f9a1c.js")
        self.assertStatus(r, 200)
        self.assertEqual(r.raw, FILES["_next/static/chunks/app-3f9a1c.js"])
        self.assertIn("javascript", r.headers["Content-Type"])
        self.assertEqual(r.headers.get("Cache-Control"), "public, max-age=31536000, immutable")
        r = self.get("/_next/static/css/app-77aa.css")
        self.assertTrue(r.headers["Content-Type"].startswith("text/css"))

    def test_content_types(self):
        for path, ctype in (("/dashboard/__next._tree.txt?_rsc=abc", "text/plain"),
                            ("/favicon.svg", "image/svg+xml")):
            with self.subTest(path=path):
                r = self.get(path)
                self.assertStatus(r, 200)
                self.assertTrue(r.headers["Content-Type"].startswith(ctype), r.headers["Content-Type"])
                self.assertEqual(r.headers.get("Cache-Control"), "no-cache")

    def test_head_and_revalidation(self):
        r = self.get("/", method="HEAD")
        self.assertStatus(r, 200)
        self.assertEqual(r.raw, b"")
        etag = self.get("/").headers.get("ETag")
        self.assertTrue(etag)
        r = self.get("/", headers={"If-None-Match": etag})
        self.assertStatus(r, 304)

    def test_unknown_page_is_the_exports_404(self):
        for path in ("/no/such/page/", "/_next/static/chunks/gone.js"):
            with self.subTest(path=path):
                r = self.get(path)
                self.assertStatus(r, 404)
                self.assertIn(b"custom 404", r.raw)
                self.assertTrue(r.headers["Content-Type"].startswith("text/html"))
                self.assertEqual(r.headers.get("Cache-Control"), "no-cache")

    def test_api_paths_keep_json(self):
        for path in ("/api/nope", "/api", "/ws/nope", "/dapr/nope"):
            with self.subTest(path=path):
                self.assertError(self.get(path), 404, "not_found")
        self.assertStatus(self.get("/health"), 200)
        self.assertError(H.api("POST", "/dashboard/", body={}, server=self.server), 404, "not_found")

    def test_no_escape_from_the_directory(self):
        secret = os.path.join(os.path.dirname(self.dir), "outside.txt")
        with open(secret, "w") as f:
            f.write("outside")
        for path in ("/../outside.txt", "/%2e%2e/outside.txt", "/dashboard/..%2f..%2foutside.txt"):
            with self.subTest(path=path):
                r = self.get(path)
                self.assertStatus(r, 404)
                self.assertNotIn(b"outside", r.raw)

    def test_without_frontend_dir_unknown_paths_are_json(self):
        s = H.start_server(name="test_frontend:none")
        with H.serving(s):
            self.assertError(H.api("GET", "/", server=s), 404, "not_found")
            self.assertError(H.api("GET", "/dashboard/", server=s), 404, "not_found")

    def test_missing_index_stops_start_up(self):
        _, db = H.create_db()
        r = H.run_cli(["serve"], env=H.base_env(db, FRONTEND_DIR=os.path.join(self.dir, "nope")))
        self.assertEqual(r.returncode, 2)
        self.assertIn("FRONTEND_DIR", r.stderr)
