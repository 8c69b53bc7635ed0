"""GET /api/{user_id}/tasks: filters, sorting, keyset pagination, parameter validation."""

import base64

import harness as H

SORTS = ("created_at", "updated_at", "due_date", "priority", "title")
PRIO = {"low": 0, "medium": 1, "high": 2}


def get_list(uid, token, params):
    return H.api("GET", H.tasks_path(uid) + H.qs(params), token=token)


class FilterTest(H.ApiTestCase):
    @classmethod
    def setUpClass(cls):
        cls.uid, cls.token = H.sign_up()
        specs = [
            ("buy", dict(title="Buy milk", description="from the store", priority="high",
                         tags=["home", "shop"], due_date="2026-12-01T10:00:00Z")),
            ("report", dict(title="Write report", description="Quarterly MILK numbers",
                            tags=["work"], due_date="2026-12-05T10:00:00Z", completed=True)),
            ("pct", dict(title="100% done", priority="low", tags=["home"])),
            ("nopct", dict(title="100 done", priority="low", due_date="2026-12-10T00:00:00Z",
                           completed=True)),
            ("under", dict(title="a_b thing", tags=["home", "work"], due_date="2026-12-01T10:00:00Z")),
            ("nounder", dict(title="axb thing", description="contains 50% off", priority="high",
                             tags=["shop", "work", "home"])),
            ("backslash", dict(title="back\\slash", description="path C:\\tmp")),
            ("quote", dict(title="it's 'quoted'", description="O'Brien")),
        ]
        cls.ids = {}
        for name, fields in specs:
            cls.ids[name] = H.create_task(cls.uid, cls.token, **fields)["id"]
        cls.names = {v: k for k, v in cls.ids.items()}

    def names_for(self, params):
        r = get_list(self.uid, self.token, list(params) + [("limit", "200")])
        self.assertStatus(r, 200, str(params))
        self.assertIsNone(r.json["next_cursor"])
        return {self.names[i["id"]] for i in r.json["items"]}

    def check(self, params, expected):
        self.assertEqual(self.names_for(params), set(expected), str(params))

    def test_no_filter(self):
        self.check([], self.ids.keys())
        self.check([("status", "all")], self.ids.keys())

    def test_status(self):
        self.check([("status", "completed")], {"report", "nopct"})
        self.check([("status", "pending")], set(self.ids) - {"report", "nopct"})

    def test_priority(self):
        self.check([("priority", "high")], {"buy", "nounder"})
        self.check([("priority", "low")], {"pct", "nopct"})
        self.check([("priority", "medium")], {"report", "under", "backslash", "quote"})

    def test_tags_all_must_match(self):
        self.check([("tag", "home")], {"buy", "pct", "under", "nounder"})
        self.check([("tag", "home"), ("tag", "work")], {"under", "nounder"})
        self.check([("tag", "work"), ("tag", "home"), ("tag", "shop")], {"nounder"})
        self.check([("tag", "home"), ("tag", "nope")], set())
        self.check([("tag", "nope")], set())
        self.check([("tag", "hom")], set())

    def test_q_case_insensitive_title_or_description(self):
        self.check([("q", "milk")], {"buy", "report"})
        self.check([("q", "MILK")], {"buy", "report"})
        self.check([("q", "StOrE")], {"buy"})
        self.check([("q", "thing")], {"under", "nounder"})
        self.check([("q", "zzzz")], set())

    def test_q_wildcards_are_literal(self):
        self.check([("q", "%")], {"pct", "nounder"})
        self.check([("q", "100%")], {"pct"})
        self.check([("q", "_")], {"under"})
        self.check([("q", "a_b")], {"under"})
        self.check([("q", "a%b")], set())
        self.check([("q", "\\")], {"backslash"})
        self.check([("q", "'")], {"quote"})
        self.check([("q", "o'b")], {"quote"})

    def test_due_bounds_exclusive(self):
        self.check([("due_before", "2026-12-05T10:00:00Z")], {"buy", "under"})
        self.check([("due_before", "2026-12-05T10:00:00.001Z")], {"buy", "under", "report"})
        self.check([("due_after", "2026-12-01T10:00:00Z")], {"report", "nopct"})
        self.check([("due_after", "2026-12-01T09:59:59.999Z")], {"buy", "under", "report", "nopct"})
        self.check([("due_after", "2026-12-01T10:00:00Z"), ("due_before", "2026-12-10T00:00:00Z")],
                   {"report"})
        self.check([("due_after", "2000-01-01T00:00:00Z")], {"buy", "report", "nopct", "under"})
        self.check([("due_before", "2100-01-01T00:00:00Z")], {"buy", "report", "nopct", "under"})

    def test_due_bounds_with_offset(self):
        # 12:00+01:00 is 11:00Z: after the 10:00Z tasks
        self.check([("due_before", "2026-12-01T12:00:00+01:00")], {"buy", "under"})
        self.check([("due_before", "2026-12-01T11:00:00+01:00")], set())
        self.check([("due_after", "2026-12-01T05:00:00-05:00")], {"report", "nopct"})

    def test_combined(self):
        self.check([("status", "pending"), ("priority", "high"), ("tag", "shop")], {"buy", "nounder"})
        self.check([("q", "thing"), ("tag", "work"), ("priority", "medium")], {"under"})
        self.check([("status", "completed"), ("due_before", "2026-12-06T00:00:00Z")], {"report"})

    def test_invalid_parameters_400(self):
        cases = [("status", "done"), ("status", ""), ("priority", "urgent"), ("sort", "name"),
                 ("sort", "id"), ("order", "up"), ("order", "DESCENDING"), ("limit", "0"),
                 ("limit", "201"), ("limit", "-1"), ("limit", "abc"), ("limit", "1.5"), ("limit", ""),
                 ("due_before", "tomorrow"), ("due_before", "2026-12-01T10:00:00"),
                 ("due_after", "2026-12-01"), ("due_after", ""), ("cursor", "garbage")]
        for name, value in cases:
            with self.subTest(param=name, value=value):
                r = get_list(self.uid, self.token, [(name, value)])
                self.assertError(r, 400, "bad_request", field=name)

    def test_text_that_is_not_utf8_is_400(self):
        # %FF in the query: PostgreSQL would refuse it, so the server must first.
        for name in ("q", "tag"):
            with self.subTest(param=name):
                r = get_list(self.uid, self.token, [(name, b"\xff")])
                self.assertError(r, 400, "bad_request", field=name)
        # A title cursor whose key is not UTF-8 (cursors are readable, so they can be forged).
        r = get_list(self.uid, self.token, [("sort", "title"), ("order", "asc"), ("limit", "1")])
        cursor = r.json["next_cursor"]
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        forged = raw[:raw.rindex(b"|") + 1] + b"\xff"
        forged = base64.urlsafe_b64encode(forged).rstrip(b"=").decode()
        r = get_list(self.uid, self.token, [("sort", "title"), ("order", "asc"), ("cursor", forged)])
        self.assertError(r, 400, "bad_request", field="cursor")

    def test_empty_cursor_is_the_first_page(self):
        first = get_list(self.uid, self.token, [("limit", "2")])
        empty = get_list(self.uid, self.token, [("limit", "2"), ("cursor", "")])
        self.assertStatus(empty, 200)
        self.assertEqual(empty.json, first.json)

    def test_limit_bounds_ok(self):
        for lim in ("1", "200"):
            r = get_list(self.uid, self.token, [("limit", lim)])
            self.assertStatus(r, 200)
            self.assertEqual(len(r.json["items"]), min(int(lim), len(self.ids)))


def expected_order(tasks, sort, order):
    """The spec's order for the keys it fully determines (not timestamps: see below)."""
    def key(t):
        if sort == "title":
            return (t["title"].lower(), t["id"])
        if sort == "priority":
            return (PRIO[t["priority"]], t["id"])
        if sort == "due_date":
            # nulls after every date in ascending order
            return ((1, "") if t["due_date"] is None else (0, t["due_date"]), t["id"])
        return (t[sort], t["id"])
    out = sorted(tasks, key=key)
    return out[::-1] if order == "desc" else out


class PaginationTest(H.ApiTestCase):
    N = 26

    @classmethod
    def setUpClass(cls):
        cls.uid, cls.token = H.sign_up()
        titles = ["alpha", "Beta", "alpha", "beta", "Gamma", "ALPHA", "delta"]
        prios = ["low", "medium", "high", "medium", "medium", "low", "high", "high"]
        dues = [None, "2026-12-01T10:00:00Z", "2026-12-02T10:00:00Z", None,
                "2026-12-01T10:00:00Z", "2026-11-30T23:00:00-01:00"]
        ids = []
        for i in range(cls.N):
            t = H.create_task(cls.uid, cls.token, title=titles[i % len(titles)],
                              priority=prios[i % len(prios)], due_date=dues[i % len(dues)],
                              completed=(i % 4 == 0))
            ids.append(t["id"])
        # vary updated_at against creation order
        for tid in ids[::3][::-1]:
            r = H.api("PATCH", H.tasks_path(cls.uid, tid), {"description": "touched"}, token=cls.token)
            assert r.status == 200, r
        cls.tasks = H.list_all(cls.uid, cls.token)
        assert len(cls.tasks) == cls.N

    def pages(self, sort, order, limit, extra=(), uid=None, token=None):
        uid, token = uid or self.uid, token or self.token
        items, cursor, pages = [], None, 0
        while True:
            params = [("sort", sort), ("order", order), ("limit", str(limit))] + list(extra)
            if cursor is not None:
                params.append(("cursor", cursor))
            r = get_list(uid, token, params)
            self.assertStatus(r, 200, f"page {pages + 1} of {params}")
            self.assertEqual(set(r.json), {"items", "next_cursor"})
            page = r.json["items"]
            pages += 1
            self.assertLessEqual(len(page), limit)
            cursor = r.json["next_cursor"]
            items.extend(page)
            if cursor is None:
                break
            self.assertIsInstance(cursor, str)
            self.assertEqual(len(page), limit, f"a page before the last is short ({params})")
            self.assertLess(pages, 500, "pagination does not end")
        return items, pages

    def assertTimestampOrder(self, items, sort, order, strict_ties):
        for a, b in zip(items, items[1:]):
            ka, kb = a[sort], b[sort]
            if order == "asc":
                self.assertLessEqual(ka, kb, f"{sort} asc: {a['id']} before {b['id']}")
            else:
                self.assertGreaterEqual(ka, kb, f"{sort} desc: {a['id']} before {b['id']}")
            if strict_ties and ka == kb:
                if order == "asc":
                    self.assertLess(a["id"], b["id"], f"tie on {sort} not broken by id asc")
                else:
                    self.assertGreater(a["id"], b["id"], f"tie on {sort} not broken by id desc")

    def check_all(self, tasks, limit, strict_timestamp_ties, uid=None, token=None):
        for sort in SORTS:
            for order in ("asc", "desc"):
                with self.subTest(sort=sort, order=order, limit=limit):
                    items, _ = self.pages(sort, order, limit, uid=uid, token=token)
                    got = [t["id"] for t in items]
                    self.assertEqual(len(got), len(set(got)), f"repeats: {got}")
                    self.assertEqual(set(got), {t["id"] for t in tasks}, "gaps")
                    if sort in ("created_at", "updated_at"):
                        self.assertTimestampOrder(items, sort, order, strict_timestamp_ties)
                    else:
                        self.assertEqual(got, [t["id"] for t in expected_order(tasks, sort, order)])

    def test_every_sort_and_order_limit_4(self):
        self.check_all(self.tasks, 4, strict_timestamp_ties=False)

    def test_every_sort_and_order_limit_7(self):
        self.check_all(self.tasks, 7, strict_timestamp_ties=False)

    def test_limit_1(self):
        items, pages = self.pages("priority", "asc", 1)
        self.assertEqual(pages, self.N)
        self.assertEqual([t["id"] for t in items],
                         [t["id"] for t in expected_order(self.tasks, "priority", "asc")])

    def test_single_page_matches_pages(self):
        for sort in ("title", "due_date", "priority"):
            for order in ("asc", "desc"):
                r = get_list(self.uid, self.token, [("sort", sort), ("order", order), ("limit", "200")])
                self.assertStatus(r, 200)
                self.assertIsNone(r.json["next_cursor"])
                self.assertEqual([t["id"] for t in r.json["items"]],
                                 [t["id"] for t in expected_order(self.tasks, sort, order)], (sort, order))

    def test_defaults_created_at_desc(self):
        r = get_list(self.uid, self.token, [])
        self.assertStatus(r, 200)
        items = r.json["items"]
        self.assertEqual(len(items), self.N)
        self.assertTimestampOrder(items, "created_at", "desc", strict_ties=False)
        # creation order is id order here, so desc created_at is desc id
        self.assertEqual([t["id"] for t in items], sorted((t["id"] for t in items), reverse=True))
        r2 = get_list(self.uid, self.token, [("sort", "created_at"), ("order", "desc")])
        self.assertEqual(r2.json["items"], items)

    def test_last_page_exact_multiple_has_null_cursor(self):
        items, pages = self.pages("title", "asc", 13)
        self.assertEqual(pages, 2, "an exact multiple of limit ended with an empty page")
        self.assertEqual(len(items), self.N)

    def test_pagination_with_filter(self):
        pending = [t for t in self.tasks if not t["completed"]]
        for sort in ("title", "due_date", "priority"):
            for order in ("asc", "desc"):
                with self.subTest(sort=sort, order=order):
                    items, _ = self.pages(sort, order, 3, extra=[("status", "pending")])
                    self.assertEqual([t["id"] for t in items],
                                     [t["id"] for t in expected_order(pending, sort, order)])

    def test_cursor_bound_to_sort_and_order(self):
        r = get_list(self.uid, self.token, [("sort", "title"), ("order", "asc"), ("limit", "5")])
        cursor = r.json["next_cursor"]
        self.assertIsNotNone(cursor)
        for sort, order in (("created_at", "asc"), ("title", "desc"), ("priority", "asc")):
            with self.subTest(sort=sort, order=order):
                r = get_list(self.uid, self.token,
                             [("sort", sort), ("order", order), ("limit", "5"), ("cursor", cursor)])
                self.assertError(r, 400, "bad_request", field="cursor")
        # a tampered cursor
        bad = cursor[:-2] + ("AA" if cursor[-2:] != "AA" else "BB")
        r = get_list(self.uid, self.token, [("sort", "title"), ("order", "asc"), ("cursor", bad)])
        self.assertIn(r.status, (200, 400), "a tampered cursor must not break the server")
        if r.status == 400:
            self.assertError(r, 400, "bad_request", field="cursor")

    def test_cursor_of_another_user_shows_nothing_of_theirs(self):
        r = get_list(self.uid, self.token, [("sort", "title"), ("order", "asc"), ("limit", "5")])
        cursor = r.json["next_cursor"]
        other_uid, other_token = H.sign_up()
        mine = H.create_task(other_uid, other_token, title="zzz mine")
        r = get_list(other_uid, other_token, [("sort", "title"), ("order", "asc"), ("cursor", cursor)])
        if r.status == 200:
            self.assertEqual([t["id"] for t in r.json["items"]], [mine["id"]])
        else:
            self.assertError(r, 400, "bad_request", field="cursor")

    def test_insert_during_pagination_no_repeats(self):
        uid, token = H.sign_up()
        orig = [H.create_task(uid, token, title=f"o{i}")["id"] for i in range(10)]
        r = get_list(uid, token, [("limit", "4")])       # created_at desc
        seen = [t["id"] for t in r.json["items"]]
        cursor = r.json["next_cursor"]
        for i in range(3):
            H.create_task(uid, token, title=f"new{i}")
        while cursor:
            r = get_list(uid, token, [("limit", "4"), ("cursor", cursor)])
            self.assertStatus(r, 200)
            seen += [t["id"] for t in r.json["items"]]
            cursor = r.json["next_cursor"]
        self.assertEqual(len(seen), len(set(seen)), f"repeats: {seen}")
        self.assertEqual(seen, sorted(orig, reverse=True))

    def test_delete_during_pagination_no_gaps(self):
        uid, token = H.sign_up()
        orig = [H.create_task(uid, token, title=f"d{i:02d}")["id"] for i in range(10)]
        r = get_list(uid, token, [("sort", "title"), ("order", "asc"), ("limit", "4")])
        seen = [t["id"] for t in r.json["items"]]
        cursor = r.json["next_cursor"]
        for tid in seen[:2]:
            self.assertStatus(H.api("DELETE", H.tasks_path(uid, tid), token=token), 204)
        while cursor:
            r = get_list(uid, token, [("sort", "title"), ("order", "asc"), ("limit", "4"), ("cursor", cursor)])
            self.assertStatus(r, 200)
            seen += [t["id"] for t in r.json["items"]]
            cursor = r.json["next_cursor"]
        self.assertEqual(seen, orig)

    def test_default_limit_50(self):
        uid, token = H.sign_up()
        for i in range(52):
            H.create_task(uid, token, title=f"n{i}")
        r = get_list(uid, token, [])
        self.assertStatus(r, 200)
        self.assertEqual(len(r.json["items"]), 50)
        self.assertIsNotNone(r.json["next_cursor"])
        r2 = get_list(uid, token, [("cursor", r.json["next_cursor"])])
        self.assertEqual(len(r2.json["items"]), 2)
        self.assertIsNone(r2.json["next_cursor"])
        self.assertEqual(len(H.list_all(uid, token, limit=200)), 52)

    def test_forced_timestamp_ties(self):
        """Exact ties on created_at/updated_at (set through SQL) must be broken by id."""
        uid, token = H.sign_up()
        for i in range(15):
            H.create_task(uid, token, title=f"tie{i}")
        H.psql(H.CTX.db_name,
               "update tasks set created_at = timestamptz '2026-01-01T00:00:00Z' + (id % 3) * interval '1 ms', "
               "updated_at = timestamptz '2026-02-01T00:00:00Z' + (id % 2) * interval '1 s' "
               f"where user_id = '{uid}'")
        tasks = H.list_all(uid, token)
        self.assertEqual(len({t["created_at"] for t in tasks}), 3, [t["created_at"] for t in tasks])
        self.assertEqual(len({t["updated_at"] for t in tasks}), 2)
        for sort in ("created_at", "updated_at"):
            for order in ("asc", "desc"):
                for limit in (2, 4):
                    with self.subTest(sort=sort, order=order, limit=limit):
                        items, _ = self.pages(sort, order, limit, uid=uid, token=token)
                        got = [t["id"] for t in items]
                        want = sorted(tasks, key=lambda t: (t[sort], t["id"]))
                        if order == "desc":
                            want = want[::-1]
                        self.assertEqual(got, [t["id"] for t in want])
