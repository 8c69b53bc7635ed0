"""The Kafka bus, against librdkafka's mock cluster (tests/tools/kafka_mock_broker.c): each change
reaches the topic once, keyed by its user, as the CloudEvent of its event_log row, in order, and is
handled once by the work and the broadcast consumer; through a broker outage, failing produce
requests and a message that is not a TaskFlow event. The broker binary: $KAFKA_MOCK_BROKER, else
build-asan/kafka-mock-broker; kcat reads and writes the topic."""

import json
import os
import queue
import subprocess
import threading
import time
import uuid

import harness as H

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BROKER_BIN = os.environ.get("KAFKA_MOCK_BROKER",
                            os.path.join(REPO, "build-asan", "kafka-mock-broker"))
TOPIC = "tasks.events"
INSTANCE = f"itest-kafka-{uuid.uuid4().hex[:8]}"
BROADCAST = f"broadcast:{INSTANCE}"
READY_WAIT = 40.0   # the mock's first JoinGroup alone takes 3 s; the server runs under ASan
WAIT = 40.0         # for events to go round the bus
OUTAGE = 13.0       # seconds the broker stays down in the outage test

BROKER = None


def log_mentions(text):
    """Whether the module's server has logged `text` so far."""
    with open(H.CTX.server.log_path, encoding="utf-8", errors="replace") as f:
        return text in f.read()


class Broker:
    """kafka-mock-broker: its bootstrap line, then one reply line per stdin command."""

    def __init__(self):
        self.log_path = os.path.join(H.CTX.tmpdir, f"kafka-mock-broker-{uuid.uuid4().hex[:6]}.log")
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen([BROKER_BIN, "--topic", f"{TOPIC}:4"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=self._log, text=True, bufsize=1)
        self.lines = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self.bootstrap = self._line(15.0)
        if not self.bootstrap.startswith("127.0.0.1:"):
            raise RuntimeError(f"unexpected bootstrap line {self.bootstrap!r}")

    def _read(self):
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def _line(self, timeout):
        try:
            line = self.lines.get(timeout=timeout)
        except queue.Empty:
            raise RuntimeError(f"kafka-mock-broker said nothing within {timeout}s") from None
        if line is None:
            raise RuntimeError(f"kafka-mock-broker exited ({self.proc.poll()}); see {self.log_path}")
        return line

    def command(self, line):
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        reply = self._line(10.0)
        if reply != "ok":
            raise AssertionError(f"kafka-mock-broker: {line!r} answered {reply!r}")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdin.close()
        self.proc.stdout.close()
        self._log.close()


def module_setup():
    global BROKER
    BROKER = Broker()


def server_env():
    return {"KAFKA_BROKERS": BROKER.bootstrap, "INSTANCE_ID": INSTANCE, "RELAY_SWEEP_MS": "200"}


def module_teardown():
    if BROKER is not None:
        BROKER.stop()


def setUpModule():
    # The server is up (GET /health); the bus is ready once the producer has metadata and both
    # consumer groups have their first assignment.
    deadline = time.monotonic() + READY_WAIT
    last = None
    while time.monotonic() < deadline:
        last = H.api("GET", "/ready")
        if last.status == 200 and last.json["checks"]["bus"] == "ok":
            return
        time.sleep(0.2)
    raise AssertionError(f"/ready did not say the bus is ok within {READY_WAIT}s: {last.raw!r}")


# ---------------------------------------------------------------------------------------------

def rows(sql):
    return H.psql_rows(H.CTX.db_name, sql)


def in_list(ids):
    return ",".join(f"'{i}'" for i in ids)


def wait_until(predicate, timeout=WAIT, what="condition"):
    H.wait_until(predicate, timeout=timeout, what=what, interval=0.25)


FORGED_SOURCE = "/tests/forged"


def topic_messages():
    """Every message on the topic, in partition order: [(key, value, CloudEvent)], the CloudEvent
    None for a message that is not one of ours (the tests' forged events included)."""
    r = subprocess.run(["kcat", "-b", BROKER.bootstrap, "-C", "-t", TOPIC, "-o", "beginning", "-e",
                        "-q", "-f", "%k\t%s\n"], capture_output=True, text=True, timeout=30)
    if r.returncode != 0:
        raise AssertionError(f"kcat failed ({r.returncode}): {r.stderr.strip()}")
    out = []
    for line in r.stdout.splitlines():
        key, _, value = line.partition("\t")
        try:
            ce = json.loads(value)
        except ValueError:
            ce = None
        ours = (isinstance(ce, dict) and isinstance(ce.get("seq"), int) and "id" in ce and
                ce.get("source") != FORGED_SOURCE)
        out.append((key, value, ce if ours else None))
    return out


def user_events_on_topic(uid, messages=None):
    """The user's CloudEvents in topic order (one user: one partition)."""
    return [ce for key, _, ce in (messages or topic_messages()) if key == uid and ce is not None]


def log_of(uids):
    """{user: [(seq, event_id, type)] by seq} from event_log."""
    out = {u: [] for u in uids}
    for seq, eid, typ, uid in rows("select seq, event_id, event_type, user_id from event_log"
                                   f" where user_id in ({in_list(uids)}) order by user_id, seq"):
        out[uid].append((int(seq), eid, typ))
    return out


def receipts(consumer, uids):
    """{user: [(seq, event_id)] in the order they were handled}."""
    out = {u: [] for u in uids}
    for seq, eid, uid in rows("select seq, event_id, user_id from event_receipts"
                              f" where consumer = '{consumer}' and user_id in ({in_list(uids)})"
                              " order by received_at, seq"):
        out[uid].append((int(seq), eid))
    return out


def unpublished(uids):
    return H.unpublished(H.CTX.db_name, user_ids=uids)


def handled_everywhere(uids, total):
    def check():
        return (unpublished(uids) == 0 and
                sum(map(len, receipts("work", uids).values())) >= total and
                sum(map(len, receipts(BROADCAST, uids).values())) >= total)
    return check


def burst(users, per_user, title):
    """Creates per_user tasks for each (uid, token), the users in parallel; all must be 201."""
    failures = []

    def run(uid, token):
        for i in range(per_user):
            r = H.api("POST", H.tasks_path(uid), {"title": f"{title} {i}"}, token=token)
            if r.status != 201:
                failures.append((r.status, r.raw[:200]))

    threads = [threading.Thread(target=run, args=u) for u in users]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return failures


class KafkaBusTest(H.ApiTestCase):
    maxDiff = None

    def assertExactlyOnceInOrder(self, uids, per_user, strict_topic):
        """Every event of these users: published, on the topic in seq order (strict_topic: each
        once; else duplicates allowed, first copies in order), handled once by each consumer, in
        seq order."""
        log = log_of(uids)
        messages = topic_messages()
        for uid in uids:
            ids = [eid for _, eid, _ in log[uid]]
            self.assertEqual([s for s, _, _ in log[uid]], list(range(1, per_user + 1)), uid)
            on_topic = user_events_on_topic(uid, messages)
            seqs = [ce["seq"] for ce in on_topic]
            if strict_topic:
                self.assertEqual(seqs, list(range(1, per_user + 1)), f"topic order of {uid}")
            else:
                first = []
                for s in seqs:
                    if s not in first:
                        first.append(s)
                self.assertEqual(first, list(range(1, per_user + 1)), f"topic order of {uid}")
                self.assertEqual(seqs, sorted(seqs), f"a copy on the topic went backwards: {uid}")
            by_seq = {ce["seq"]: ce["id"] for ce in on_topic}
            self.assertEqual([by_seq.get(s) for s in range(1, per_user + 1)], ids,
                             f"topic event ids of {uid}")
            for consumer in ("work", BROADCAST):
                got = receipts(consumer, [uid])[uid]
                self.assertEqual([s for s, _ in got], list(range(1, per_user + 1)),
                                 f"{consumer} receipts of {uid}, in the order handled")
                self.assertEqual([e for _, e in got], ids, f"{consumer} receipts of {uid}")
        self.assertEqual(unpublished(uids), 0)

    def test_created_event_reaches_topic(self):
        uid, token = H.sign_up()
        task = H.create_task(uid, token, title="to the topic")
        found = rows("select event_id, seq from event_log where user_id = "
                     f"'{uid}' and aggregate_id = '{task['id']}' and event_type = 'task.created'")
        self.assertEqual(len(found), 1, found)
        event_id, seq = found[0][0], int(found[0][1])
        self.assertEqual(seq, 1)

        def on_topic():
            return [(k, ce) for k, _, ce in topic_messages() if ce and ce.get("id") == event_id]
        wait_until(lambda: on_topic(), what=f"event {event_id} on the topic")
        copies = on_topic()
        self.assertEqual(len(copies), 1, copies)
        key, ce = copies[0]
        self.assertEqual(key, uid)
        self.assertEqual(ce["specversion"], "1.0")
        self.assertEqual(ce["type"], "task.created")
        self.assertEqual(ce["userid"], uid)
        self.assertEqual(ce["seq"], 1)
        self.assertEqual(ce["subject"], str(task["id"]))
        self.assertEqual(ce["data"]["task"]["id"], task["id"])
        self.assertEqual(ce["data"]["task"]["title"], "to the topic")
        wait_until(lambda: unpublished([uid]) == 0, what="the event marked published")

    def test_each_change_is_one_event_in_order(self):
        uid, token = H.sign_up()
        task = H.create_task(uid, token)
        path = H.tasks_path(uid, task["id"])
        steps = [("PATCH", path, {"title": "renamed"}),
                 ("PATCH", path + "/complete", H._NO_BODY),
                 ("PATCH", path + "/complete", {"completed": False}),
                 ("DELETE", path, H._NO_BODY)]
        for method, p, body in steps:
            r = H.api(method, p, body, token=token)
            self.assertEqual(r.status, 204 if method == "DELETE" else 200, r.raw)
        wait_until(handled_everywhere([uid], 5), what="5 events published and handled")
        self.assertExactlyOnceInOrder([uid], 5, strict_topic=True)
        self.assertEqual([ce["type"] for ce in user_events_on_topic(uid)],
                         ["task.created", "task.updated", "task.completed", "task.uncompleted",
                          "task.deleted"])

    def test_broker_outage_is_absorbed_by_the_outbox(self):
        users = [H.sign_up() for _ in range(4)]
        uids = [u for u, _ in users]
        BROKER.command("broker-down -1")
        down_at = time.monotonic()
        try:
            failures = burst(users, 250, "during the outage")
            self.assertEqual(failures, [])
            # Nothing can have been acknowledged, and /ready says why.
            self.assertEqual(unpublished(uids), 1000)
            wait_until(lambda: H.api("GET", "/ready").json["checks"]["bus"] == "broker unreachable",
                       timeout=15, what="/ready to say the broker is unreachable")
            self.assertStatus(H.api("GET", "/ready"), 503)
            # Longer than publish() waits for acknowledgements (10 s): the relay gives up on
            # events librdkafka still holds and asks again, which must not put second copies
            # behind them.
            while time.monotonic() < down_at + OUTAGE:
                time.sleep(0.2)
        finally:
            BROKER.command("broker-up -1")
        wait_until(handled_everywhere(uids, 1000), timeout=90,
                   what="1,000 events published and handled after the outage")
        self.assertExactlyOnceInOrder(uids, 250, strict_topic=True)
        with open(H.CTX.server.log_path, encoding="utf-8", errors="replace") as f:
            self.assertIn("bus did not acknowledge an event; retrying", f.read(),
                          "the relay never retried: the outage was too short to test that")
        wait_until(lambda: H.api("GET", "/ready").status == 200, timeout=15, what="/ready again")

    def test_failed_produce_requests_still_once_at_the_handler(self):
        users = [H.sign_up() for _ in range(3)]
        uids = [u for u, _ in users]
        BROKER.command("fail-produce 5 REQUEST_TIMED_OUT")
        try:
            self.assertEqual(burst(users, 20, "burst"), [])
            wait_until(handled_everywhere(uids, 60), what="60 events published and handled")
        finally:
            BROKER.command("clear-produce-errors")
        # At least once on the topic (copies allowed, never out of order); once at the handler.
        self.assertExactlyOnceInOrder(uids, 20, strict_topic=False)

    def test_poison_message_does_not_block_the_events_behind_it(self):
        uid, token = H.sign_up()
        # Keyed by the user: the same partition as the user's events, right in front of them.
        # Last, a well-formed event the log does not have, claiming the seq the real one gets.
        forged_id = str(uuid.uuid4())
        forged = json.dumps({"specversion": "1.0", "id": forged_id, "type": "task.created",
                             "source": FORGED_SOURCE, "userid": uid, "seq": 1})
        poison = ["this is not a CloudEvent", json.dumps({"specversion": "1.0", "id": "x"}),
                  forged]
        r = subprocess.run(["kcat", "-b", BROKER.bootstrap, "-P", "-t", TOPIC, "-k", uid],
                           input="\n".join(poison) + "\n", capture_output=True, text=True,
                           timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        on_topic = [v for k, v, _ in topic_messages() if k == uid]
        self.assertEqual(on_topic, poison)
        task = H.create_task(uid, token)
        wait_until(handled_everywhere([uid], 1), what="the event behind the poison handled")
        self.assertExactlyOnceInOrder([uid], 1, strict_topic=True)
        self.assertEqual(user_events_on_topic(uid)[0]["subject"], str(task["id"]))
        for consumer in ("work", BROADCAST):
            self.assertTrue(log_mentions('"msg":"dropped a message that is not a TaskFlow event",'
                                         f'"consumer":"{consumer}"'))
            self.assertTrue(log_mentions('"msg":"dropped an event the event log does not have",'
                                         f'"consumer":"{consumer}","event_id":"{forged_id}"'))

    def test_event_the_database_refuses_is_redelivered_not_skipped(self):
        uid, token = H.sign_up()
        H.psql(H.CTX.db_name, "alter table event_receipts rename to event_receipts_away")
        try:
            for i in range(3):
                H.create_task(uid, token, title=f"while receipts are away {i}")
            wait_until(lambda: unpublished([uid]) == 0, what="3 events published")
            # The consumers got them and could not record them: they wait to be delivered again.
            wait_until(lambda: log_mentions("events not handled; will be redelivered"),
                       what="a refused receipt")
        finally:
            H.psql(H.CTX.db_name, "alter table event_receipts_away rename to event_receipts")
        wait_until(handled_everywhere([uid], 3), what="3 events handled once receipts are back")
        self.assertExactlyOnceInOrder([uid], 3, strict_topic=True)

    def test_ready_reports_the_bus(self):
        r = H.api("GET", "/ready")
        self.assertStatus(r, 200)
        self.assertEqual(r.json["checks"]["bus"], "ok", r.raw)
