"""Optimistic concurrency under real parallelism, and idempotent creation."""

import threading
import uuid

import harness as H


def parallel(n, fn):
    """Run fn(i) in n threads released together; returns the results (exceptions re-raised)."""
    barrier = threading.Barrier(n)
    results = [None] * n
    errors = []

    def run(i):
        try:
            barrier.wait(timeout=30)
            results[i] = fn(i)
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    if errors:
        raise errors[0]
    return results


class ConcurrentUpdateTest(H.ApiTestCase):
    @classmethod
    def setUpClass(cls):
        cls.uid, cls.token = H.sign_up()

    def check_one_winner(self, results, task_id, field="title"):
        statuses = sorted(r.status for r in results)
        self.assertEqual(statuses, [200] + [409] * (len(results) - 1), statuses)
        winner = next(r for r in results if r.status == 200)
        self.assertEqual(winner.json["version"], 2)
        for r in results:
            if r.status == 409:
                self.assertError(r, 409, "version_conflict")
                self.assertEqual(r.json["current"]["version"], 2)
                self.assertEqual(r.json["current"][field], winner.json[field])
        final = H.api("GET", H.tasks_path(self.uid, task_id), token=self.token).json
        self.assertEqual(final["version"], 2)
        self.assertEqual(final[field], winner.json[field])

    def test_ten_if_match_updates_exactly_one_wins(self):
        t = H.create_task(self.uid, self.token, title="race")
        results = parallel(10, lambda i: H.api("PATCH", H.tasks_path(self.uid, t["id"]),
                                               {"title": f"writer {i}"}, token=self.token,
                                               headers={"If-Match": '"1"'}))
        self.check_one_winner(results, t["id"])

    def test_ten_version_field_updates_exactly_one_wins(self):
        t = H.create_task(self.uid, self.token, title="race2")
        results = parallel(10, lambda i: H.api("PUT", H.tasks_path(self.uid, t["id"]),
                                               {"description": f"writer {i}", "version": 1},
                                               token=self.token))
        self.check_one_winner(results, t["id"], field="description")

    def test_ten_conditional_completes_exactly_one_wins(self):
        t = H.create_task(self.uid, self.token, title="race3")
        results = parallel(10, lambda i: H.api("PATCH", H.tasks_path(self.uid, t["id"], "/complete"),
                                               token=self.token, headers={"If-Match": "1"}))
        self.check_one_winner(results, t["id"], field="completed")

    def test_ten_conditional_deletes_exactly_one_wins(self):
        t = H.create_task(self.uid, self.token, title="race4")
        results = parallel(10, lambda i: H.api("DELETE", H.tasks_path(self.uid, t["id"]),
                                               token=self.token, headers={"If-Match": '"1"'}))
        statuses = sorted(r.status for r in results)
        self.assertEqual(statuses.count(204), 1, statuses)
        # the others found it gone (404) or changed (409): never a second 204
        self.assertTrue(all(s in (204, 404, 409) for s in statuses), statuses)

    def test_unconditional_updates_lose_nothing(self):
        t = H.create_task(self.uid, self.token, title="counter")
        results = parallel(10, lambda i: H.api("PATCH", H.tasks_path(self.uid, t["id"]),
                                               {"description": f"d{i}"}, token=self.token))
        self.assertEqual([r.status for r in results], [200] * 10)
        self.assertEqual(sorted(r.json["version"] for r in results), list(range(2, 12)))
        final = H.api("GET", H.tasks_path(self.uid, t["id"]), token=self.token).json
        self.assertEqual(final["version"], 11)


class ConcurrentSignUpTest(H.ApiTestCase):
    def test_same_email_concurrently_one_account(self):
        email = H.random_email("race")
        variants = [email, email.upper()] * 4
        results = parallel(8, lambda i: H.api("POST", "/api/auth/sign-up",
                                              {"email": variants[i], "password": f"password{i}", "name": "R"}))
        statuses = sorted(r.status for r in results)
        self.assertEqual(statuses, [201] + [409] * 7, [(r.status, r.raw[:80]) for r in results])
        for r in results:
            if r.status == 409:
                self.assertError(r, 409, "email_taken")
        i = next(i for i, r in enumerate(results) if r.status == 201)
        r = H.api("POST", "/api/auth/sign-in", {"email": variants[i], "password": f"password{i}"})
        self.assertStatus(r, 200)


class ConcurrentSignInTest(H.ApiTestCase):
    def test_parallel_guesses_do_not_bypass_the_lock(self):
        """5 failures lock the email: 12 wrong passwords at once must not all be tried."""
        u = H.sign_up_full()
        results = parallel(12, lambda i: H.api("POST", "/api/auth/sign-in",
                                               {"email": u["email"], "password": f"guess-{i:04d}"}))
        statuses = sorted(r.status for r in results)
        self.assertTrue(set(statuses) <= {401, 429}, statuses)
        self.assertLessEqual(statuses.count(401), 5,
                             f"{statuses.count(401)} wrong passwords were checked (at most 5 may be): {statuses}")
        for r in results:
            if r.status == 429:
                self.assertError(r, 429, "too_many_requests")
                self.assertTrue(r.headers.get("Retry-After", "").isdigit())
        r = H.api("POST", "/api/auth/sign-in", {"email": u["email"], "password": u["password"]})
        self.assertError(r, 429, "too_many_requests")


class IdempotencyTest(H.ApiTestCase):
    @classmethod
    def setUpClass(cls):
        cls.uid, cls.token = H.sign_up()

    def post(self, body, key, uid=None, token=None):
        return H.api("POST", H.tasks_path(uid or self.uid), body, token=token or self.token,
                     headers={"Idempotency-Key": key})

    def count(self, uid=None, token=None):
        return len(H.list_all(uid or self.uid, token or self.token))

    def test_replay_same_response_creates_nothing(self):
        key = "key-" + uuid.uuid4().hex
        body = {"title": "idem", "tags": ["a"], "priority": "high"}
        before = self.count()
        first = self.post(body, key)
        self.assertStatus(first, 201)
        self.assertNotEqual(first.headers.get("Idempotent-Replayed", "").lower(), "true")
        loc = first.headers.get("Location")
        self.assertEqual(loc, f"/api/{self.uid}/tasks/{first.json['id']}")
        for _ in range(2):
            again = self.post(body, key)
            self.assertStatus(again, 201)
            self.assertEqual(again.json, first.json)
            self.assertEqual(again.headers.get("Location"), loc)
            self.assertEqual(again.headers.get("Idempotent-Replayed"), "true")
        self.assertEqual(self.count(), before + 1)

    def test_replay_after_task_changed_still_answers_first_response(self):
        key = "key-" + uuid.uuid4().hex
        first = self.post({"title": "will change"}, key)
        self.assertStatus(first, 201)
        self.assertStatus(H.api("PATCH", H.tasks_path(self.uid, first.json["id"]), {"title": "changed"},
                                token=self.token), 200)
        again = self.post({"title": "will change"}, key)
        self.assertStatus(again, 201)
        self.assertEqual(again.json, first.json)

    def test_same_key_different_body_is_422(self):
        key = "key-" + uuid.uuid4().hex
        self.assertStatus(self.post({"title": "one"}, key), 201)
        before = self.count()
        for body in ({"title": "two"}, {"title": "one", "priority": "low"}):
            with self.subTest(body=body):
                r = self.post(body, key)
                self.assertError(r, 422, "idempotency_key_reused")
        self.assertEqual(self.count(), before)

    def test_different_keys_create_different_tasks(self):
        before = self.count()
        a = self.post({"title": "same body"}, "k-" + uuid.uuid4().hex)
        b = self.post({"title": "same body"}, "k-" + uuid.uuid4().hex)
        self.assertStatus(a, 201)
        self.assertStatus(b, 201)
        self.assertNotEqual(a.json["id"], b.json["id"])
        self.assertEqual(self.count(), before + 2)

    def test_key_is_per_user(self):
        key = "shared-" + uuid.uuid4().hex
        body = {"title": "private title"}
        mine = self.post(body, key)
        self.assertStatus(mine, 201)
        other_uid, other_token = H.sign_up()
        r = self.post(body, key, uid=other_uid, token=other_token)
        self.assertNotEqual(r.status, 200)
        if r.status == 201:
            self.assertEqual(r.json["user_id"], other_uid)
            self.assertNotEqual(r.json["id"], mine.json["id"])
            self.assertEqual(r.headers.get("Location"), f"/api/{other_uid}/tasks/{r.json['id']}")
        else:
            self.assertError(r, 422, "idempotency_key_reused")

    def test_concurrent_retries_create_exactly_one(self):
        key = "race-" + uuid.uuid4().hex
        body = {"title": "concurrent idem", "description": "x"}
        before = self.count()
        results = parallel(10, lambda i: self.post(body, key))
        self.assertEqual([r.status for r in results], [201] * 10,
                         [(r.status, r.raw[:100]) for r in results])
        ids = {r.json["id"] for r in results}
        self.assertEqual(len(ids), 1, ids)
        locs = {r.headers.get("Location") for r in results}
        self.assertEqual(len(locs), 1, locs)
        self.assertEqual(sum(1 for r in results if r.headers.get("Idempotent-Replayed") == "true"), 9)
        self.assertEqual(self.count(), before + 1)
        titles = [t["title"] for t in H.list_all(self.uid, self.token)]
        self.assertEqual(titles.count("concurrent idem"), 1)

    def test_concurrent_different_bodies_one_task(self):
        key = "race2-" + uuid.uuid4().hex
        before = self.count()
        results = parallel(6, lambda i: self.post({"title": f"body {i}"}, key))
        statuses = sorted(r.status for r in results)
        self.assertEqual(statuses.count(201), 1, statuses)
        self.assertEqual(statuses.count(422), 5, statuses)
        for r in results:
            if r.status == 422:
                self.assertError(r, 422, "idempotency_key_reused")
        self.assertEqual(self.count(), before + 1)
