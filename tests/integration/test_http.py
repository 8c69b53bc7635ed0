"""Cross-cutting HTTP behaviour: X-Request-Id, security headers, CORS, 405/Allow, 413, 415, 400."""

import harness as H

ORIGIN = H.ALLOWED_ORIGIN
CORS_HEADERS = ("Authorization", "Content-Type", "If-Match", "Idempotency-Key", "X-Request-Id")
MiB = 1024 * 1024


def allow_set(resp):
    return {m.strip().upper() for m in resp.headers.get("Allow", "").split(",") if m.strip()}


def cors_headers(resp):
    return {k.lower(): v for k, v in resp.headers.items() if k.lower().startswith("access-control-")}


class RequestIdTest(H.ApiTestCase):
    @classmethod
    def setUpClass(cls):
        cls.uid, cls.token = H.sign_up()

    def test_echoed_when_sent(self):
        rid = "req-123.ABC:xyz_9"
        r = H.api("GET", "/health", headers={"X-Request-Id": rid})
        self.assertStatus(r, 200)
        self.assertEqual(r.headers.get("X-Request-Id"), rid)

    def test_echoed_at_128_chars(self):
        rid = ("a1._:-" * 30)[:128]
        r = H.api("GET", "/health", headers={"X-Request-Id": rid})
        self.assertEqual(r.headers.get("X-Request-Id"), rid)

    def test_generated_uuid_when_absent(self):
        r1 = H.api("GET", "/health")
        r2 = H.api("GET", "/health")
        for r in (r1, r2):
            self.assertRegex(r.headers.get("X-Request-Id", ""), H.UUID_RE)
        self.assertNotEqual(r1.headers.get("X-Request-Id"), r2.headers.get("X-Request-Id"))

    def test_invalid_request_id_replaced_by_uuid(self):
        for rid in ("has space", "a" * 129, "semi;colon", "slash/x", "quote\"x"):
            with self.subTest(rid=rid):
                r = H.api("GET", "/health", headers={"X-Request-Id": rid})
                self.assertStatus(r, 200)
                self.assertRegex(r.headers.get("X-Request-Id", ""), H.UUID_RE)

    def test_present_on_errors(self):
        rid = "err-check-1"
        for method, path, kw in (("GET", "/nope", {}),
                                 ("GET", H.tasks_path(self.uid), {}),
                                 ("GET", H.tasks_path(self.uid, 999999999), {"token": self.token}),
                                 ("POST", H.tasks_path(self.uid), {"token": self.token, "body": "{bad"})):
            with self.subTest(path=path):
                r = H.api(method, path, headers={"X-Request-Id": rid}, **kw)
                self.assertGreaterEqual(r.status, 400)
                self.assertEqual(r.headers.get("X-Request-Id"), rid)
                r = H.api(method, path, **kw)
                self.assertRegex(r.headers.get("X-Request-Id", ""), H.UUID_RE)


class SecurityHeadersTest(H.ApiTestCase):
    def test_nosniff_on_success_and_error(self):
        uid, token = H.sign_up()
        for r in (H.api("GET", "/health"), H.api("GET", "/nope"),
                  H.api("GET", H.tasks_path(uid), token=token),
                  H.api("GET", H.tasks_path(uid))):
            with self.subTest(status=r.status):
                self.assertEqual(r.headers.get("X-Content-Type-Options", "").lower(), "nosniff")


class CorsTest(H.ApiTestCase):
    @classmethod
    def setUpClass(cls):
        cls.uid, cls.token = H.sign_up()

    def preflight(self, origin, path=None, method="PATCH"):
        hdrs = {"Access-Control-Request-Method": method,
                "Access-Control-Request-Headers": "authorization, content-type, if-match"}
        if origin is not None:
            hdrs["Origin"] = origin
        return H.api("OPTIONS", path or H.tasks_path(self.uid, 1), headers=hdrs)

    def test_preflight_allowed_origin(self):
        r = self.preflight(ORIGIN)
        self.assertStatus(r, 204)
        self.assertEqual(r.headers.get("Access-Control-Allow-Origin"), ORIGIN)
        methods = {m.strip().upper() for m in r.headers.get("Access-Control-Allow-Methods", "").split(",")}
        self.assertIn("PATCH", methods, r.headers.get("Access-Control-Allow-Methods"))
        allowed = {h.strip().lower() for h in r.headers.get("Access-Control-Allow-Headers", "").split(",")}
        for h in CORS_HEADERS:
            self.assertIn(h.lower(), allowed, r.headers.get("Access-Control-Allow-Headers"))
        self.assertEqual(r.headers.get("Access-Control-Max-Age"), "600")
        self.assertEqual(r.raw, b"")

    def test_preflight_on_collection_and_auth_routes(self):
        for path, method in ((H.tasks_path(self.uid), "POST"), ("/api/auth/sign-in", "POST"),
                             ("/api/auth/me", "GET")):
            with self.subTest(path=path):
                r = self.preflight(ORIGIN, path, method)
                self.assertStatus(r, 204)
                self.assertEqual(r.headers.get("Access-Control-Allow-Origin"), ORIGIN)
                methods = {m.strip().upper() for m in r.headers.get("Access-Control-Allow-Methods", "").split(",")}
                self.assertIn(method, methods)

    def test_preflight_other_origin_gets_no_cors_headers(self):
        for origin in ("http://evil.example", "https://allowed.example", "http://allowed.example:8080",
                       "http://allowed.example.evil.com", "http://sub.allowed.example", "null"):
            with self.subTest(origin=origin):
                r = self.preflight(origin)
                self.assertEqual(cors_headers(r), {}, f"status {r.status}")
                self.assertLess(r.status, 500)

    def test_allowed_origin_on_every_response(self):
        h = {"Origin": ORIGIN}
        for r in (H.api("GET", "/health", headers=h),
                  H.api("GET", H.tasks_path(self.uid), headers=h, token=self.token),
                  H.api("GET", H.tasks_path(self.uid), headers=h),             # 401
                  H.api("GET", "/nope", headers=h),                              # 404
                  H.api("DELETE", "/api/auth/me", headers=h, token=self.token)):  # 405
            with self.subTest(status=r.status):
                self.assertEqual(r.headers.get("Access-Control-Allow-Origin"), ORIGIN)

    def test_other_origin_gets_no_cors_headers_on_requests(self):
        h = {"Origin": "http://evil.example"}
        for r in (H.api("GET", "/health", headers=h),
                  H.api("GET", H.tasks_path(self.uid), headers=h, token=self.token)):
            with self.subTest(status=r.status):
                self.assertStatus(r, 200)
                self.assertEqual(cors_headers(r), {})

    def test_no_origin_no_cors_headers(self):
        r = H.api("GET", "/health")
        self.assertNotIn("Access-Control-Allow-Origin", r.headers)


class MethodNotAllowedTest(H.ApiTestCase):
    @classmethod
    def setUpClass(cls):
        cls.uid, cls.token = H.sign_up()
        cls.task = H.create_task(cls.uid, cls.token)

    def check(self, method, path, must_allow, must_not_allow=(), token=None):
        r = H.api(method, path, token=token)
        self.assertError(r, 405, "method_not_allowed", msg=f"{method} {path}")
        allow = allow_set(r)
        for m in must_allow:
            self.assertIn(m, allow, f"{method} {path}: Allow {r.headers.get('Allow')!r}")
        for m in must_not_allow:
            self.assertNotIn(m, allow, f"{method} {path}: Allow {r.headers.get('Allow')!r}")

    def test_tasks_collection(self):
        self.check("DELETE", H.tasks_path(self.uid), {"GET", "POST"}, {"DELETE", "PATCH"}, self.token)
        self.check("PUT", H.tasks_path(self.uid), {"GET", "POST"}, {"DELETE", "PUT"}, self.token)

    def test_task_item(self):
        self.check("POST", H.tasks_path(self.uid, self.task["id"]),
                   {"GET", "PUT", "PATCH", "DELETE"}, {"POST"}, self.token)

    def test_complete(self):
        self.check("GET", H.tasks_path(self.uid, self.task["id"], "/complete"), {"PATCH"}, {"GET"},
                   self.token)

    def test_auth_routes(self):
        self.check("GET", "/api/auth/sign-up", {"POST"}, {"GET"})
        self.check("GET", "/api/auth/sign-in", {"POST"}, {"GET"})
        self.check("POST", "/api/auth/me", {"GET"}, {"POST"}, self.token)
        self.check("DELETE", "/ready", {"GET"}, {"DELETE"})


class BodyTest(H.ApiTestCase):
    @classmethod
    def setUpClass(cls):
        cls.uid, cls.token = H.sign_up()

    def count(self):
        return len(H.list_all(self.uid, self.token))

    def post_raw(self, body_bytes, content_type="application/json", extra=b""):
        head = (f"POST {H.tasks_path(self.uid)} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                f"Authorization: Bearer {self.token}\r\nContent-Type: {content_type}\r\n"
                f"Content-Length: {len(body_bytes)}\r\nConnection: close\r\n\r\n").encode()
        return H.raw_request(head + extra, chunks=[body_bytes])

    def padded(self, size):
        """A valid JSON object {"title":"big body"} padded with spaces to exactly size bytes."""
        core_start, core_end = b'{"title":"big body"', b"}"
        return core_start + b" " * (size - len(core_start) - len(core_end)) + core_end

    def test_exactly_1_mib_is_accepted(self):
        body = self.padded(MiB)
        self.assertEqual(len(body), MiB)
        r = self.post_raw(body)
        self.assertStatus(r, 201)
        self.assertEqual(r.json["title"], "big body")

    def test_over_1_mib_is_413_json(self):
        before = self.count()
        body = self.padded(MiB + 1)
        r = self.post_raw(body)
        self.assertError(r, 413, "payload_too_large")
        r = self.post_raw(self.padded(3 * MiB))
        self.assertError(r, 413, "payload_too_large")
        self.assertEqual(self.count(), before)

    def test_over_1_mib_chunked_is_413_json(self):
        before = self.count()
        body = self.padded(MiB + 4096)
        head = (f"POST {H.tasks_path(self.uid)} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                f"Authorization: Bearer {self.token}\r\nContent-Type: application/json\r\n"
                f"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n").encode()
        chunks = []
        for i in range(0, len(body), 65536):
            part = body[i:i + 65536]
            chunks.append(f"{len(part):x}\r\n".encode() + part + b"\r\n")
        chunks.append(b"0\r\n\r\n")
        r = H.raw_request(head, chunks=chunks)
        self.assertError(r, 413, "payload_too_large")
        self.assertEqual(self.count(), before)

    def test_large_bodies_are_413_json(self):
        before = self.count()
        for size in (2 * MiB, 7 * MiB):
            with self.subTest(size=size):
                r = self.post_raw(self.padded(size))
                self.assertError(r, 413, "payload_too_large")
        self.assertEqual(self.count(), before)

    def test_bodies_over_the_transport_cap_are_413(self):
        # Past 8 MiB the HTTP layer refuses the body before reading it, with its own
        # plain-text 413 (docs/api.md); the server goes on serving.
        before = self.count()
        r = self.post_raw(self.padded(64 * MiB))
        self.assertStatus(r, 413)
        self.assertEqual(self.count(), before)

    def test_huge_declared_length_is_413_without_the_body(self):
        # a server must not read 10 GiB to refuse it: it answers on the Content-Length alone
        head = (f"POST {H.tasks_path(self.uid)} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                f"Authorization: Bearer {self.token}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {10 * 1024 * MiB}\r\n\r\n").encode()
        r = H.raw_request(head + b'{"title":"')
        self.assertStatus(r, 413)
        self.assertEqual(H.api("GET", "/health").status, 200)

    def test_wrong_content_type_is_415(self):
        before = self.count()
        body = b'{"title":"typed"}'
        for ct in ("text/plain", "application/x-www-form-urlencoded", "application/jsonx",
                   "text/json"):
            with self.subTest(ct=ct):
                r = H.api("POST", H.tasks_path(self.uid), body, token=self.token,
                          headers={"Content-Type": ct})
                self.assertError(r, 415, "unsupported_media_type")
        with self.subTest(ct=None):
            r = H.api("POST", H.tasks_path(self.uid), body, token=self.token)  # bytes: no Content-Type
            self.assertError(r, 415, "unsupported_media_type")
        task = H.create_task(self.uid, self.token)
        r = H.api("PATCH", H.tasks_path(self.uid, task["id"]), b'{"title":"x"}', token=self.token,
                  headers={"Content-Type": "text/plain"})
        self.assertError(r, 415, "unsupported_media_type")
        r = H.api("POST", "/api/auth/sign-in", b'{"email":"a@b.c","password":"12345678"}',
                  headers={"Content-Type": "text/plain"})
        self.assertError(r, 415, "unsupported_media_type")
        self.assertEqual(self.count(), before + 1)

    def test_json_content_type_with_charset_is_accepted(self):
        r = H.api("POST", H.tasks_path(self.uid), b'{"title":"charset"}', token=self.token,
                  headers={"Content-Type": "application/json; charset=utf-8"})
        self.assertStatus(r, 201)
        self.assertEqual(r.json["title"], "charset")

    def test_malformed_json_is_400(self):
        before = self.count()
        for body in ('{"title": ', "{title: 'x'}", '{"title":"x"}}', "", "nul", '{"title":"x",}',
                     "[1, 2]", '"a string"', "42", "null", "true"):
            with self.subTest(body=body):
                r = H.api("POST", H.tasks_path(self.uid), body, token=self.token)
                self.assertError(r, 400, "bad_json")
        with self.subTest(body="invalid utf-8"):
            r = H.api("POST", H.tasks_path(self.uid), b'{"title":"\xff\xfe"}', token=self.token,
                      headers={"Content-Type": "application/json"})
            self.assertError(r, 400, "bad_json")
        self.assertEqual(self.count(), before)

    def test_hostile_json_is_400_not_a_crash(self):
        before = self.count()
        deep = '{"title":' + "[" * 100000 + "]" * 100000 + "}"
        self.assertError(H.api("POST", H.tasks_path(self.uid), deep, token=self.token), 400, "bad_json")
        deep_obj = '{"title":"x","description":' + '{"a":' * 50000 + "1" + "}" * 50000 + "}"
        self.assertError(H.api("POST", H.tasks_path(self.uid), deep_obj, token=self.token), 400, "bad_json")
        # a NUL inside a string: valid JSON, but not storable as text: refused, never truncated
        for body in ('{"title":"a\\u0000b"}', '{"title":"ok","tags":["x\\u0000"]}'):
            with self.subTest(body=body):
                r = H.api("POST", H.tasks_path(self.uid), body, token=self.token)
                self.assertIn(r.status, (400, 422), r.raw[:200])
                self.assertEqual(r.json["error"]["code"], "bad_json" if r.status == 400 else "validation_failed")
        self.assertEqual(self.count(), before)
        self.assertStatus(H.api("GET", "/health"), 200)

    def test_keep_alive_connection_serves_several_requests(self):
        import http.client
        conn = http.client.HTTPConnection("127.0.0.1", H.CTX.server.port, timeout=H.REQUEST_TIMEOUT)
        try:
            auth = {"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"}
            conn.request("GET", "/health")
            r = conn.getresponse()
            self.assertEqual((r.status, r.read()), (200, b'{"status":"ok"}'))
            conn.request("POST", H.tasks_path(self.uid), body=b'{"title":"ka"}', headers=auth)
            r = conn.getresponse()
            created = __import__("json").loads(r.read())
            self.assertEqual(r.status, 201)
            conn.request("POST", H.tasks_path(self.uid), body=b'{"title":', headers=auth)
            r = conn.getresponse()
            self.assertEqual(r.status, 400)
            r.read()
            conn.request("GET", H.tasks_path(self.uid, created["id"]), headers=auth)
            r = conn.getresponse()
            self.assertEqual(r.status, 200)
            self.assertEqual(__import__("json").loads(r.read())["title"], "ka")
        finally:
            conn.close()

    def test_malformed_json_on_update_and_auth(self):
        task = H.create_task(self.uid, self.token)
        self.assertError(H.api("PATCH", H.tasks_path(self.uid, task["id"]), '{"title"', token=self.token),
                         400, "bad_json")
        self.assertError(H.api("PATCH", H.tasks_path(self.uid, task["id"], "/complete"), "[true]",
                               token=self.token), 400, "bad_json")
        self.assertError(H.api("POST", "/api/auth/sign-up", '{"email":'), 400, "bad_json")
        self.assertError(H.api("POST", "/api/auth/sign-in", "[]"), 400, "bad_json")
        r = H.api("GET", H.tasks_path(self.uid, task["id"]), token=self.token)
        self.assertEqual(r.json["version"], 1)
