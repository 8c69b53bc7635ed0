"""User isolation: B can neither see nor change A's tasks, by id (404) or by list; a token
for B on A's path is 403."""

import uuid

import harness as H


class IsolationTest(H.ApiTestCase):
    @classmethod
    def setUpClass(cls):
        cls.a_uid, cls.a_token = H.sign_up()
        cls.b_uid, cls.b_token = H.sign_up()
        cls.a_task = H.create_task(cls.a_uid, cls.a_token, title="A secret plan",
                                   description="only for A", tags=["secret"])
        cls.b_task = H.create_task(cls.b_uid, cls.b_token, title="B own task")

    def a_unchanged(self):
        r = H.api("GET", H.tasks_path(self.a_uid, self.a_task["id"]), token=self.a_token)
        self.assertStatus(r, 200)
        self.assertEqual(r.json, self.a_task)

    def test_b_by_id_on_own_path_is_404(self):
        tid = self.a_task["id"]
        p = H.tasks_path(self.b_uid, tid)
        cases = [("GET", p, None, {}), ("PATCH", p, {"title": "pwned"}, {}),
                 ("PUT", p, {"title": "pwned"}, {}), ("DELETE", p, None, {}),
                 ("PATCH", p + "/complete", None, {}),
                 ("PATCH", p, {"title": "pwned"}, {"If-Match": '"1"'}),
                 ("PATCH", p, {"title": "pwned"}, {"If-Match": '"7"'}),   # no 409 leak of current
                 ("DELETE", p, None, {"If-Match": '"7"'})]
        for method, path, body, headers in cases:
            with self.subTest(method=method, path=path, headers=headers):
                r = H.api(method, path, body if body is not None else H._NO_BODY,
                          token=self.b_token, headers=headers)
                self.assertError(r, 404, "not_found")
                self.assertNotIn(b"secret", r.raw)
        self.a_unchanged()

    def test_b_on_a_path_is_403(self):
        tid = self.a_task["id"]
        cases = [("GET", H.tasks_path(self.a_uid), None), ("POST", H.tasks_path(self.a_uid), {"title": "x"}),
                 ("GET", H.tasks_path(self.a_uid, tid), None),
                 ("PATCH", H.tasks_path(self.a_uid, tid), {"title": "pwned"}),
                 ("PUT", H.tasks_path(self.a_uid, tid), {"title": "pwned"}),
                 ("DELETE", H.tasks_path(self.a_uid, tid), None),
                 ("PATCH", H.tasks_path(self.a_uid, tid, "/complete"), None),
                 ("GET", H.tasks_path(self.a_uid, 999999999), None)]
        for method, path, body in cases:
            with self.subTest(method=method, path=path):
                r = H.api(method, path, body if body is not None else H._NO_BODY, token=self.b_token)
                self.assertError(r, 403, "forbidden")
                self.assertNotIn(b"secret", r.raw)
        self.a_unchanged()
        self.assertEqual([t["id"] for t in H.list_all(self.a_uid, self.a_token)], [self.a_task["id"]])

    def test_403_for_path_of_unknown_user(self):
        r = H.api("GET", H.tasks_path(str(uuid.uuid4())), token=self.b_token)
        self.assertError(r, 403, "forbidden")

    def test_b_list_shows_only_b(self):
        for params in ([], [("q", "secret")], [("tag", "secret")], [("status", "all"), ("sort", "title")],
                       [("q", "plan")]):
            with self.subTest(params=params):
                r = H.api("GET", H.tasks_path(self.b_uid) + H.qs(params), token=self.b_token)
                self.assertStatus(r, 200)
                ids = [t["id"] for t in r.json["items"]]
                self.assertNotIn(self.a_task["id"], ids)
                for t in r.json["items"]:
                    self.assertEqual(t["user_id"], self.b_uid)
        items = H.list_all(self.b_uid, self.b_token)
        self.assertEqual([t["id"] for t in items], [self.b_task["id"]])

    def test_a_list_shows_only_a(self):
        items = H.list_all(self.a_uid, self.a_token)
        self.assertEqual([t["id"] for t in items], [self.a_task["id"]])

    def test_forged_user_id_in_body_is_rejected(self):
        r = H.api("POST", H.tasks_path(self.b_uid), {"title": "x", "user_id": self.a_uid}, token=self.b_token)
        self.assertError(r, 422, "unknown_field", field="user_id")
        self.assertEqual(len(H.list_all(self.a_uid, self.a_token)), 1)
