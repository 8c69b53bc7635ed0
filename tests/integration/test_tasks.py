"""Task CRUD, validation boundaries, conditional updates, completion, deletion."""

import harness as H

TASK_KEYS = {"id", "user_id", "title", "description", "completed", "completed_at", "priority",
             "tags", "due_date", "created_at", "updated_at", "version"}


class TaskBase(H.ApiTestCase):
    @classmethod
    def setUpClass(cls):
        cls.uid, cls.token = H.sign_up()

    def post(self, body, **kw):
        return H.api("POST", H.tasks_path(self.uid), body, token=self.token, **kw)

    def get(self, tid):
        return H.api("GET", H.tasks_path(self.uid, tid), token=self.token)

    def patch(self, tid, body, method="PATCH", **kw):
        return H.api(method, H.tasks_path(self.uid, tid), body, token=self.token, **kw)

    def count(self):
        return len(H.list_all(self.uid, self.token))

    def assertTaskShape(self, t):
        self.assertEqual(set(t), TASK_KEYS, t)
        self.assertIsInstance(t["id"], int)
        self.assertGreater(t["id"], 0)
        self.assertEqual(t["user_id"], self.uid)
        self.assertRegex(t["created_at"], H.TS_RE)
        self.assertRegex(t["updated_at"], H.TS_RE)
        self.assertIsInstance(t["version"], int)
        if t["completed_at"] is not None:
            self.assertRegex(t["completed_at"], H.TS_RE)
        if t["due_date"] is not None:
            self.assertRegex(t["due_date"], H.TS_RE)


class CreateTest(TaskBase):
    def test_create_minimal_defaults(self):
        r = self.post({"title": "Buy milk"})
        self.assertStatus(r, 201)
        self.assertJsonContentType(r)
        t = r.json
        self.assertTaskShape(t)
        self.assertEqual({k: t[k] for k in ("title", "description", "completed", "completed_at",
                                            "priority", "tags", "due_date", "version")},
                         {"title": "Buy milk", "description": "", "completed": False,
                          "completed_at": None, "priority": "medium", "tags": [],
                          "due_date": None, "version": 1})
        self.assertEqual(r.headers.get("Location"), f"/api/{self.uid}/tasks/{t['id']}")
        self.assertEqual(r.headers.get("ETag"), '"1"')
        self.assertEqual(t["created_at"], t["updated_at"])

    def test_get_returns_created(self):
        created = self.post({"title": "Get me", "description": "d", "priority": "low",
                             "tags": ["x", "y"]}).json
        r = self.get(created["id"])
        self.assertStatus(r, 200)
        self.assertEqual(r.json, created)
        self.assertEqual(r.headers.get("ETag"), '"1"')

    def test_create_all_fields_trimmed_and_normalized(self):
        r = self.post({"title": "  Pay rent \t", "description": "  keep spaces  ", "priority": "high",
                       "tags": [" home ", "bills"], "due_date": "2026-12-01T09:00:00+01:00"})
        self.assertStatus(r, 201)
        t = r.json
        self.assertTaskShape(t)
        self.assertEqual(t["title"], "Pay rent")
        self.assertEqual(t["description"], "  keep spaces  ")
        self.assertEqual(t["priority"], "high")
        self.assertEqual(sorted(t["tags"]), ["bills", "home"])
        self.assertEqual(t["due_date"], "2026-12-01T08:00:00.000Z")
        self.assertEqual(self.get(t["id"]).json, t)

    def test_create_completed(self):
        t = self.post({"title": "done already", "completed": True}).json
        self.assertIs(t["completed"], True)
        self.assertIsNotNone(t["completed_at"])
        self.assertRegex(t["completed_at"], H.TS_RE)

    def test_ids_are_distinct(self):
        a = self.post({"title": "a"}).json["id"]
        b = self.post({"title": "b"}).json["id"]
        self.assertNotEqual(a, b)


class ValidationTest(TaskBase):
    def ok(self, body):
        r = self.post(body)
        self.assertStatus(r, 201, f"body {str(body)[:80]}")
        return r.json

    def bad(self, body, field, code="validation_failed"):
        before = self.count()
        r = self.post(body)
        self.assertError(r, 422, code, field=field, msg=f"body {str(body)[:80]}")
        self.assertEqual(self.count(), before, "a rejected create stored a task")

    def test_title_length(self):
        self.assertEqual(self.ok({"title": "t" * 500})["title"], "t" * 500)
        self.bad({"title": "t" * 501}, "title")
        # characters, not bytes
        self.assertEqual(self.ok({"title": "é" * 500})["title"], "é" * 500)
        self.assertEqual(self.ok({"title": "😀" * 500})["title"], "😀" * 500)
        self.bad({"title": "é" * 501}, "title")
        # trimmed before counting
        self.assertEqual(self.ok({"title": "  " + "t" * 500 + "  "})["title"], "t" * 500)
        self.assertEqual(self.ok({"title": "x"})["title"], "x")

    def test_title_blank_missing_wrong_type(self):
        for body in ({"title": ""}, {"title": "   "}, {"title": " \t\n "}, {}, {"description": "no title"},
                     {"title": None}, {"title": 42}, {"title": ["a"]}, {"title": True}):
            with self.subTest(body=body):
                self.bad(body, "title")

    def test_description_length(self):
        self.assertEqual(len(self.ok({"title": "d", "description": "d" * 10000})["description"]), 10000)
        self.bad({"title": "d", "description": "d" * 10001}, "description")
        self.assertEqual(len(self.ok({"title": "d", "description": "ü" * 10000})["description"]), 10000)
        self.bad({"title": "d", "description": "ü" * 10001}, "description")
        self.bad({"title": "d", "description": 5}, "description")

    def test_priority(self):
        for p in ("low", "medium", "high"):
            self.assertEqual(self.ok({"title": "p", "priority": p})["priority"], p)
        for p in ("urgent", "", "HIGHEST", 1, None):
            with self.subTest(priority=p):
                self.bad({"title": "p", "priority": p}, "priority")

    def test_tags_count(self):
        tags20 = [f"tag{i}" for i in range(20)]
        self.assertEqual(sorted(self.ok({"title": "t", "tags": tags20})["tags"]), sorted(tags20))
        self.bad({"title": "t", "tags": tags20 + ["tag20"]}, "tags")
        self.assertEqual(self.ok({"title": "t", "tags": []})["tags"], [])

    def test_tag_length_and_content(self):
        self.assertEqual(self.ok({"title": "t", "tags": ["x" * 50]})["tags"], ["x" * 50])
        self.assertEqual(self.ok({"title": "t", "tags": ["  " + "y" * 50 + " "]})["tags"], ["y" * 50])
        self.assertEqual(self.ok({"title": "t", "tags": ["ä" * 50]})["tags"], ["ä" * 50])
        for tags in (["x" * 51], ["ok", "z" * 51], [""], ["   "], ["a", "a"], [" a", "a "],
                     "home", [1], [None], [["nested"]], {"a": 1}):
            with self.subTest(tags=str(tags)[:30]):
                self.bad({"title": "t", "tags": tags}, "tags")

    def test_due_date(self):
        self.assertEqual(self.ok({"title": "d", "due_date": "2026-12-01T09:00:00Z"})["due_date"],
                         "2026-12-01T09:00:00.000Z")
        self.assertEqual(self.ok({"title": "d", "due_date": "2026-12-01T09:00:00+01:00"})["due_date"],
                         "2026-12-01T08:00:00.000Z")
        self.assertEqual(self.ok({"title": "d", "due_date": "2026-12-01T00:30:00.250-02:30"})["due_date"],
                         "2026-12-01T03:00:00.250Z")
        self.assertEqual(self.ok({"title": "d", "due_date": "2026-12-31T23:30:00-01:00"})["due_date"],
                         "2027-01-01T00:30:00.000Z")
        self.assertIsNone(self.ok({"title": "d", "due_date": None})["due_date"])
        for d in ("2026-12-01T09:00:00", "2026-12-01", "2026-12-01 09:00:00", "tomorrow", "",
                  "2026-13-01T09:00:00Z", "2026-02-30T09:00:00Z", "2026-12-01T25:00:00Z", 1764579600):
            with self.subTest(due_date=d):
                self.bad({"title": "d", "due_date": d}, "due_date")

    def test_due_date_answer_keeps_the_format(self):
        # whatever is accepted is answered as YYYY-MM-DDTHH:MM:SS.mmmZ; what cannot be is refused
        for d in ("9999-12-31T23:59:59-14:00", "0000-01-01T00:00:00+01:00"):
            with self.subTest(due_date=d):
                r = self.post({"title": "edge", "due_date": d})
                if r.status == 201:
                    self.assertRegex(r.json["due_date"], H.TS_RE)
                else:
                    self.assertError(r, 422, "validation_failed", field="due_date")

    def test_completed_type(self):
        for c in ("yes", 1, "true"):
            with self.subTest(completed=c):
                self.bad({"title": "c", "completed": c}, "completed")

    def test_unknown_field(self):
        self.bad({"title": "u", "colour": "red"}, "colour", code="unknown_field")
        self.bad({"title": "u", "user_id": "someone-else"}, "user_id", code="unknown_field")
        self.bad({"title": "u", "id": 7}, "id", code="unknown_field")
        self.bad({"title": "u", "created_at": "2026-01-01T00:00:00Z"}, "created_at", code="unknown_field")


class UpdateTest(TaskBase):
    def new(self, **fields):
        return H.create_task(self.uid, self.token, **fields)

    def test_patch_partial(self):
        t = self.new(title="orig", description="desc", priority="low", tags=["a"])
        r = self.patch(t["id"], {"title": "  changed  "})
        self.assertStatus(r, 200)
        u = r.json
        self.assertTaskShape(u)
        self.assertEqual(u["title"], "changed")
        self.assertEqual(u["version"], 2)
        self.assertEqual(r.headers.get("ETag"), '"2"')
        for k in ("id", "description", "priority", "tags", "due_date", "completed", "created_at"):
            self.assertEqual(u[k], t[k], k)
        self.assertGreaterEqual(u["updated_at"], t["updated_at"])
        self.assertEqual(self.get(t["id"]).json, u)

    def test_put_is_partial_too(self):
        t = self.new(title="put me", description="keep", priority="high")
        r = self.patch(t["id"], {"priority": "low"}, method="PUT")
        self.assertStatus(r, 200)
        self.assertEqual((r.json["title"], r.json["description"], r.json["priority"], r.json["version"]),
                         ("put me", "keep", "low", 2))

    def test_every_field_and_version_increments(self):
        t = self.new()
        steps = [{"description": "new d"}, {"priority": "high"}, {"tags": ["q", "r"]},
                 {"due_date": "2027-01-02T03:04:05+00:00"}, {"due_date": None}, {"tags": []},
                 {"title": "x", "description": "", "priority": "medium"}]
        v = 1
        for body in steps:
            r = self.patch(t["id"], body)
            self.assertStatus(r, 200, str(body))
            v += 1
            self.assertEqual(r.json["version"], v)
            self.assertEqual(r.headers.get("ETag"), f'"{v}"')
            for k, val in body.items():
                want = val
                if k == "due_date" and val is not None:
                    want = "2027-01-02T03:04:05.000Z"
                if k == "tags":
                    self.assertEqual(sorted(r.json[k]), sorted(val))
                else:
                    self.assertEqual(r.json[k], want, k)

    def test_patch_validation_leaves_task_unchanged(self):
        t = self.new(title="stay")
        for body, field, code in (({"title": "   "}, "title", "validation_failed"),
                                  ({"title": "t" * 501}, "title", "validation_failed"),
                                  ({"title": None}, "title", "validation_failed"),
                                  ({"description": "d" * 10001}, "description", "validation_failed"),
                                  ({"priority": "urgent"}, "priority", "validation_failed"),
                                  ({"tags": ["x"] * 2}, "tags", "validation_failed"),
                                  ({"tags": [f"t{i}" for i in range(21)]}, "tags", "validation_failed"),
                                  ({"due_date": "2026-12-01T09:00:00"}, "due_date", "validation_failed"),
                                  ({"completed": "yes"}, "completed", "validation_failed"),
                                  ({"version": "one", "title": "v"}, "version", "validation_failed"),
                                  ({"title": "ok", "owner": "x"}, "owner", "unknown_field"),
                                  ({"id": 1}, "id", "unknown_field")):
            with self.subTest(body=str(body)[:40]):
                self.assertError(self.patch(t["id"], body), 422, code, field=field)
        self.assertEqual(self.get(t["id"]).json, t)

    def test_empty_update_is_422(self):
        t = self.new()
        self.assertError(self.patch(t["id"], {}), 422, "validation_failed")
        self.assertEqual(self.get(t["id"]).json["version"], 1)

    def test_if_match_forms(self):
        t = self.new()
        for v, header in ((1, "1"), (2, '"2"'), (3, 'W/"3"')):
            with self.subTest(if_match=header):
                r = self.patch(t["id"], {"title": f"v{v + 1}"}, headers={"If-Match": header})
                self.assertStatus(r, 200)
                self.assertEqual(r.json["version"], v + 1)

    def test_if_match_stale_is_409_with_current(self):
        t = self.new(title="current")
        self.assertStatus(self.patch(t["id"], {"description": "bump"}), 200)
        current = self.get(t["id"]).json
        for header in ("1", '"1"', 'W/"1"', "3"):
            with self.subTest(if_match=header):
                r = self.patch(t["id"], {"title": "stale write"}, headers={"If-Match": header})
                self.assertError(r, 409, "version_conflict")
                self.assertEqual(r.json.get("current"), current)
        self.assertEqual(self.get(t["id"]).json, current)

    def test_version_field(self):
        t = self.new()
        r = self.patch(t["id"], {"title": "with version", "version": 1})
        self.assertStatus(r, 200)
        self.assertEqual(r.json["version"], 2)
        r = self.patch(t["id"], {"title": "stale version", "version": 1})
        self.assertError(r, 409, "version_conflict")
        self.assertEqual(r.json["current"]["title"], "with version")
        self.assertEqual(r.json["current"]["version"], 2)

    def test_if_match_and_version_must_both_match(self):
        t = self.new(title="both")
        r = self.patch(t["id"], {"title": "body stale", "version": 7}, headers={"If-Match": '"1"'})
        self.assertError(r, 409, "version_conflict")
        r = self.patch(t["id"], {"title": "header stale", "version": 1}, headers={"If-Match": '"7"'})
        self.assertError(r, 409, "version_conflict")
        self.assertEqual(self.get(t["id"]).json, t)
        r = self.patch(t["id"], {"title": "both fresh", "version": 1}, headers={"If-Match": '"1"'})
        self.assertStatus(r, 200)

    def test_huge_version_is_a_conflict_or_invalid_not_bad_json(self):
        t = self.new(title="huge")
        r = self.patch(t["id"], '{"title":"z","version":99999999999999999999999}')
        self.assertIn(r.status, (409, 422), r.raw[:200])
        if r.status == 409:
            self.assertError(r, 409, "version_conflict")
        else:
            self.assertError(r, 422, "validation_failed", field="version")
        self.assertEqual(self.get(t["id"]).json, t)

    def test_update_missing_task_404(self):
        for tid in ("999999999", "0", "-1", "abc", "1.5", "99999999999999999999999"):
            with self.subTest(id=tid):
                self.assertError(self.patch(tid, {"title": "x"}), 404, "not_found")
                self.assertError(self.get(tid), 404, "not_found")
                self.assertError(H.api("DELETE", H.tasks_path(self.uid, tid), token=self.token),
                                 404, "not_found")
                self.assertError(H.api("PATCH", H.tasks_path(self.uid, tid, "/complete"), token=self.token),
                                 404, "not_found")


class CompleteTest(TaskBase):
    def complete(self, tid, body=None, **kw):
        return H.api("PATCH", H.tasks_path(self.uid, tid, "/complete"),
                     body if body is not None else H._NO_BODY, token=self.token, **kw)

    def test_complete_without_body_and_back(self):
        t = H.create_task(self.uid, self.token)
        r = self.complete(t["id"])
        self.assertStatus(r, 200)
        self.assertIs(r.json["completed"], True)
        self.assertRegex(r.json["completed_at"] or "", H.TS_RE)
        self.assertEqual(r.json["version"], 2)
        self.assertEqual(r.headers.get("ETag"), '"2"')
        r = self.complete(t["id"], {"completed": False})
        self.assertStatus(r, 200)
        self.assertIs(r.json["completed"], False)
        self.assertIsNone(r.json["completed_at"])
        self.assertEqual(r.json["version"], 3)
        r = self.complete(t["id"], {"completed": True})
        self.assertStatus(r, 200)
        self.assertIs(r.json["completed"], True)
        self.assertIsNotNone(r.json["completed_at"])
        self.assertEqual(self.get(t["id"]).json, r.json)

    def test_complete_honours_if_match(self):
        t = H.create_task(self.uid, self.token)
        r = self.complete(t["id"], headers={"If-Match": '"5"'})
        self.assertError(r, 409, "version_conflict")
        self.assertEqual(r.json["current"], t)
        r = self.complete(t["id"], headers={"If-Match": '"1"'})
        self.assertStatus(r, 200)
        self.assertIs(r.json["completed"], True)

    def test_complete_validation(self):
        t = H.create_task(self.uid, self.token)
        self.assertError(self.complete(t["id"], {"completed": "yes"}), 422, "validation_failed",
                         field="completed")
        self.assertError(self.complete(t["id"], {"completed": True, "title": "x"}), 422, "unknown_field",
                         field="title")
        self.assertEqual(self.get(t["id"]).json, t)

    def test_completed_via_patch_sets_completed_at(self):
        t = H.create_task(self.uid, self.token)
        r = self.patch(t["id"], {"completed": True})
        self.assertStatus(r, 200)
        self.assertIsNotNone(r.json["completed_at"])
        r = self.patch(t["id"], {"completed": False})
        self.assertIsNone(r.json["completed_at"])


class DeleteTest(TaskBase):
    def delete(self, tid, **kw):
        return H.api("DELETE", H.tasks_path(self.uid, tid), token=self.token, **kw)

    def test_delete_204_then_404(self):
        t = H.create_task(self.uid, self.token)
        r = self.delete(t["id"])
        self.assertStatus(r, 204)
        self.assertEqual(r.raw, b"")
        self.assertError(self.get(t["id"]), 404, "not_found")
        self.assertError(self.delete(t["id"]), 404, "not_found")
        self.assertError(self.patch(t["id"], {"title": "ghost"}), 404, "not_found")
        self.assertNotIn(t["id"], [i["id"] for i in H.list_all(self.uid, self.token)])

    def test_delete_honours_if_match(self):
        t = H.create_task(self.uid, self.token)
        self.assertStatus(self.patch(t["id"], {"title": "v2"}), 200)
        r = self.delete(t["id"], headers={"If-Match": '"1"'})
        self.assertError(r, 409, "version_conflict")
        self.assertEqual(r.json["current"]["version"], 2)
        self.assertStatus(self.get(t["id"]), 200)
        self.assertStatus(self.delete(t["id"], headers={"If-Match": '"2"'}), 204)
        self.assertError(self.get(t["id"]), 404, "not_found")
