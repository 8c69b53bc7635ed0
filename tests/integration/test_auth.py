"""Accounts: sign-up, sign-in (with the failure lock), /api/auth/me."""

import hashlib
import hmac
import time
import uuid

import harness as H


def user_keys_ok(tc, user, email, name):
    tc.assertEqual(set(user), {"id", "email", "name", "created_at"}, user)
    tc.assertIsInstance(user["id"], str)
    tc.assertTrue(user["id"])
    tc.assertEqual(user["email"].lower(), email.lower())
    tc.assertEqual(user["name"], name)
    tc.assertRegex(user["created_at"], H.TS_RE)


class SignUpTest(H.ApiTestCase):
    def sign_up(self, body):
        return H.api("POST", "/api/auth/sign-up", body)

    def test_sign_up_201_user_and_token(self):
        email = H.random_email()
        r = self.sign_up({"email": email, "password": "correct horse", "name": "Ada"})
        self.assertStatus(r, 201)
        self.assertJsonContentType(r)
        self.assertEqual(set(r.json), {"user", "token"})
        user_keys_ok(self, r.json["user"], email, "Ada")
        self.assertNotIn(b"correct horse", r.raw)
        self.assertNotIn(b"password", r.raw.lower())
        # the token: HS256 signed with JWT_SECRET, sub = user id, iat <= now < exp
        token = r.json["token"]
        header, claims = H.decode_jwt(token)
        self.assertEqual(header.get("alg"), "HS256")
        self.assertEqual(claims.get("sub"), r.json["user"]["id"])
        now = time.time()
        self.assertIsInstance(claims.get("iat"), int)
        self.assertIsInstance(claims.get("exp"), int)
        self.assertLessEqual(claims["iat"], now + 5)
        self.assertGreater(claims["exp"], now + 60)
        signing_input, sig = token.rsplit(".", 1)
        expected = hmac.new(H.CTX.server.secret.encode(), signing_input.encode(), hashlib.sha256).digest()
        self.assertEqual(H.b64url_decode(sig), expected, "token is not HMAC-SHA256 with JWT_SECRET")
        # and it works
        r2 = H.api("GET", "/api/auth/me", token=token)
        self.assertStatus(r2, 200)
        self.assertEqual(r2.json, {"user": r.json["user"]})

    def test_duplicate_email_other_case_is_409(self):
        email = H.random_email("dup")
        self.assertStatus(self.sign_up({"email": email, "password": "password1", "name": "A"}), 201)
        for other in (email, email.upper(), email[0].upper() + email[1:]):
            with self.subTest(email=other):
                r = self.sign_up({"email": other, "password": "password2", "name": "B"})
                self.assertError(r, 409, "email_taken")
        # the first account still signs in with its own password
        r = H.api("POST", "/api/auth/sign-in", {"email": email, "password": "password1"})
        self.assertStatus(r, 200)

    def test_password_length(self):
        for pw, ok in (("1234567", False), ("12345678", True), ("x" * 1024, True),
                       ("x" * 1025, False), ("", False)):
            with self.subTest(len=len(pw)):
                r = self.sign_up({"email": H.random_email(), "password": pw, "name": "P"})
                if ok:
                    self.assertStatus(r, 201)
                else:
                    self.assertError(r, 422, "validation_failed", field="password")

    def test_email_rules(self):
        local = uuid.uuid4().hex * 2                      # 64 characters, unique
        rest = 254 - len(local) - 1 - len(".example") - 2 * 61   # two labels of 60 plus dots
        good254 = local + "@" + "d" * 60 + "." + "e" * 60 + "." + "f" * rest + ".example"
        self.assertEqual(len(good254), 254)
        bad255 = "b" + good254
        cases = [("no-at-sign.example.com", False), ("two@@example.com", False),
                 ("a@b@example.com", False), ("", False), (bad255, False), (good254, True)]
        for email, ok in cases:
            with self.subTest(email=email[:40], len=len(email)):
                r = self.sign_up({"email": email, "password": "password1", "name": "E"})
                if ok:
                    self.assertStatus(r, 201)
                else:
                    self.assertError(r, 422, "validation_failed", field="email")

    def test_name_rules(self):
        for name, ok in (("   ", False), ("", False), ("n" * 100, True), ("n" * 101, False),
                         ("  " + "n" * 100 + "  ", True), ("é" * 100, True)):
            with self.subTest(name=name[:10], len=len(name)):
                r = self.sign_up({"email": H.random_email(), "password": "password1", "name": name})
                if ok:
                    self.assertStatus(r, 201)
                    self.assertEqual(r.json["user"]["name"].strip(), name.strip())
                else:
                    self.assertError(r, 422, "validation_failed", field="name")

    def test_missing_and_wrong_type_fields(self):
        base = {"email": H.random_email(), "password": "password1", "name": "M"}
        for f in ("email", "password", "name"):
            with self.subTest(missing=f):
                body = {k: v for k, v in base.items() if k != f}
                self.assertError(self.sign_up(body), 422, "validation_failed", field=f)
            with self.subTest(wrong_type=f):
                body = dict(base, **{f: 12345678})
                self.assertError(self.sign_up(body), 422, "validation_failed", field=f)

    def test_unknown_field_is_422(self):
        r = self.sign_up({"email": H.random_email(), "password": "password1", "name": "U", "role": "admin"})
        self.assertError(r, 422, "unknown_field", field="role")


class SignInTest(H.ApiTestCase):
    def sign_in(self, email, password):
        return H.api("POST", "/api/auth/sign-in", {"email": email, "password": password})

    def test_sign_in_200(self):
        u = H.sign_up_full(name="Sig")
        r = self.sign_in(u["email"], u["password"])
        self.assertStatus(r, 200)
        self.assertEqual(set(r.json), {"user", "token"})
        self.assertEqual(r.json["user"], u["user"])
        _, claims = H.decode_jwt(r.json["token"])
        self.assertEqual(claims["sub"], u["id"])
        me = H.api("GET", "/api/auth/me", token=r.json["token"])
        self.assertStatus(me, 200)
        self.assertEqual(me.json["user"]["id"], u["id"])

    def test_wrong_password_and_unknown_email_401(self):
        u = H.sign_up_full()
        r = self.sign_in(u["email"], u["password"] + "x")
        self.assertError(r, 401, "invalid_credentials")
        self.assertNotIn("token", r.json)
        r = self.sign_in(H.random_email("nobody"), "password1")
        self.assertError(r, 401, "invalid_credentials")

    def test_sign_in_unknown_field_422(self):
        u = H.sign_up_full()
        r = H.api("POST", "/api/auth/sign-in", {"email": u["email"], "password": u["password"], "remember": True})
        self.assertError(r, 422, "unknown_field", field="remember")

    def test_sixth_failure_is_429_with_retry_after(self):
        u = H.sign_up_full()
        for i in range(5):
            r = self.sign_in(u["email"], "wrong-password")
            self.assertError(r, 401, "invalid_credentials", msg=f"failure #{i + 1}")
        r = self.sign_in(u["email"], "wrong-password")
        self.assertError(r, 429, "too_many_requests", msg="6th attempt")
        ra = r.headers.get("Retry-After")
        self.assertIsNotNone(ra, "429 without Retry-After")
        self.assertTrue(ra.isdigit() and 1 <= int(ra) <= 900, f"Retry-After {ra!r}")
        # locked: even the right password is refused
        r = self.sign_in(u["email"], u["password"])
        self.assertError(r, 429, "too_many_requests", msg="right password while locked")
        self.assertTrue(r.headers.get("Retry-After", "").isdigit())
        # another account is not affected
        v = H.sign_up_full()
        self.assertStatus(self.sign_in(v["email"], v["password"]), 200)

    def test_unknown_email_is_locked_too(self):
        email = H.random_email("ghost")
        for i in range(5):
            self.assertError(self.sign_in(email, "whatever1"), 401, "invalid_credentials", msg=f"#{i + 1}")
        r = self.sign_in(email, "whatever1")
        self.assertError(r, 429, "too_many_requests")
        self.assertIn("Retry-After", r.headers)

    def test_success_clears_failure_count(self):
        u = H.sign_up_full()
        for i in range(4):
            self.assertError(self.sign_in(u["email"], "bad-password"), 401, "invalid_credentials")
        self.assertStatus(self.sign_in(u["email"], u["password"]), 200)
        for i in range(5):
            self.assertError(self.sign_in(u["email"], "bad-password"), 401, "invalid_credentials",
                             msg=f"failure #{i + 1} after a success")
        self.assertError(self.sign_in(u["email"], "bad-password"), 429, "too_many_requests")


class MeTest(H.ApiTestCase):
    def test_me_200(self):
        u = H.sign_up_full(name="Me Myself")
        r = H.api("GET", "/api/auth/me", token=u["token"])
        self.assertStatus(r, 200)
        self.assertEqual(r.json, {"user": u["user"]})
        user_keys_ok(self, r.json["user"], u["email"], "Me Myself")

    def test_me_without_token_401(self):
        r = H.api("GET", "/api/auth/me")
        self.assertError(r, 401, "unauthorized")
        self.assertTrue(r.headers.get("WWW-Authenticate", "").startswith("Bearer"))

    def test_me_valid_token_unknown_user_404(self):
        token = H.make_token(str(uuid.uuid4()))
        self.assertError(H.api("GET", "/api/auth/me", token=token), 404, "not_found")
