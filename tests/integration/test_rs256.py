"""A server with JWT_PUBLIC_KEY (an RS256 public key PEM) as well as JWT_SECRET: RS256 tokens
signed with the matching private key are accepted; algorithm confusion is refused."""

import uuid

import harness as H

KEYS = {}


def server_env():
    priv, pub = H.gen_rsa_key(H.CTX.tmpdir, "server")
    other_priv, _ = H.gen_rsa_key(H.CTX.tmpdir, "other")
    KEYS.update(priv=priv, pub=pub, other_priv=other_priv)
    return {"JWT_PUBLIC_KEY": pub}


class Rs256Test(H.ApiTestCase):
    @classmethod
    def setUpClass(cls):
        cls.u = H.sign_up_full()
        cls.uid = cls.u["id"]

    def rs(self, sub, key=None, **kw):
        return H.make_token(sub, alg="RS256", key_path=key or KEYS["priv"], **kw)

    def assertUnauthorized(self, token, path=None):
        r = H.api("GET", path or H.tasks_path(self.uid), token=token)
        self.assertError(r, 401, "unauthorized")
        self.assertTrue(r.headers.get("WWW-Authenticate", "").startswith("Bearer"))

    def test_rs256_signed_with_private_key_is_accepted(self):
        t = self.rs(self.uid)
        r = H.api("GET", "/api/auth/me", token=t)
        self.assertStatus(r, 200)
        self.assertEqual(r.json, {"user": self.u["user"]})
        r = H.api("POST", H.tasks_path(self.uid), {"title": "via rs256"}, token=t)
        self.assertStatus(r, 201)
        r = H.api("GET", H.tasks_path(self.uid), token=t)
        self.assertStatus(r, 200)
        self.assertEqual([i["title"] for i in r.json["items"]], ["via rs256"])

    def test_rs256_for_external_user(self):
        ext = "ext-" + uuid.uuid4().hex
        r = H.api("GET", H.tasks_path(ext), token=self.rs(ext))
        self.assertStatus(r, 200)
        self.assertEqual(r.json, {"items": [], "next_cursor": None})

    def test_rs256_other_sub_is_403(self):
        other_uid, _ = H.sign_up()
        r = H.api("GET", H.tasks_path(other_uid), token=self.rs(self.uid))
        self.assertError(r, 403, "forbidden")

    def test_rs256_signed_with_another_key_is_401(self):
        self.assertUnauthorized(self.rs(self.uid, key=KEYS["other_priv"]))

    def test_rs256_expired_or_not_yet_valid_is_401(self):
        import time
        self.assertUnauthorized(self.rs(self.uid, exp=-3600, iat=-7200))
        self.assertUnauthorized(self.rs(self.uid, claims={"nbf": int(time.time()) + 3600}))

    def test_rs256_tampered_is_401(self):
        t = self.rs(self.uid)
        h, p, s = t.split(".")
        other_uid, _ = H.sign_up()
        import json
        claims = json.loads(H.b64url_decode(p))
        claims["sub"] = other_uid
        forged = h + "." + H.b64url(json.dumps(claims)) + "." + s
        self.assertUnauthorized(forged, path=H.tasks_path(other_uid))

    def test_algorithm_confusion_hs256_with_public_key_is_401(self):
        pem = KEYS["pub"]
        for variant in (pem, pem.strip(), pem.rstrip("\n"), pem.encode()):
            with self.subTest(len=len(variant)):
                self.assertUnauthorized(H.make_token(self.uid, alg="HS256", secret=variant))
                self.assertUnauthorized(H.make_token(self.uid, alg="HS256", secret=variant),
                                        path="/api/auth/me")

    def test_alg_none_is_401(self):
        for alg in ("none", "None"):
            with self.subTest(alg=alg):
                self.assertUnauthorized(H.make_token(self.uid, alg=alg))

    def test_rs256_header_with_hmac_signature_is_401(self):
        # header says RS256, signature is HMAC-SHA256 with the real JWT_SECRET
        import hashlib
        import hmac
        t = H.make_token(self.uid, alg="RS256", signature=b"x")
        si = t.rsplit(".", 1)[0]
        sig = hmac.new(H.CTX.server.secret.encode(), si.encode(), hashlib.sha256).digest()
        self.assertUnauthorized(si + "." + H.b64url(sig))

    def test_hs256_tokens_of_this_server_still_work(self):
        # sign-up hands out HS256 tokens signed with JWT_SECRET: they must stay usable
        r = H.api("GET", "/api/auth/me", token=self.u["token"])
        self.assertStatus(r, 200)
        self.assertEqual(r.json["user"]["id"], self.uid)
