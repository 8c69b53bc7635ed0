"""Tests for tests/tools/kafka-mock-broker, TaskFlow's stand-in Kafka broker.

Builds nothing: the binary comes from $KAFKA_MOCK_BROKER (default
build-asan/kafka-mock-broker, relative to the current directory or to the
repository root). Needs kcat (scripts/install-deps.sh installs it).

Run from the repository root:
    python3 -m unittest tests/tools/test_kafka_mock_broker.py
"""

import json
import os
import queue
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import unittest
from collections import Counter, defaultdict

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

STARTUP_TIMEOUT = 15.0   # first stdout line (ASan builds start slower)
REPLY_TIMEOUT = 10.0     # one control-command reply
STOP_TIMEOUT = 10.0      # SIGTERM to exit
KCAT_TIMEOUT = 30.0

BOOTSTRAP_RE = re.compile(r"^127\.0\.0\.1:\d{1,5}(,127\.0\.0\.1:\d{1,5})*$")
SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                     "runtime error:", "SUMMARY: UndefinedBehaviorSanitizer")


def broker_binary():
    path = os.environ.get("KAFKA_MOCK_BROKER", "build-asan/kafka-mock-broker")
    if not os.path.isabs(path) and not os.path.exists(path):
        path = os.path.join(REPO_ROOT, path)
    return path


def setUpModule():
    path = broker_binary()
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        raise RuntimeError(
            f"kafka-mock-broker not found at {path!r}; build it with "
            "`ninja -C build-asan kafka-mock-broker` or set KAFKA_MOCK_BROKER")
    if shutil.which("kcat") is None:
        raise RuntimeError("kcat not found; run scripts/install-deps.sh "
                           "(or apt-get install -y kcat)")


class Broker:
    """One kafka-mock-broker process with its stdout read on a thread."""

    def __init__(self, *args, stdin=subprocess.PIPE):
        self._stderr = tempfile.TemporaryFile(mode="w+")
        self.proc = subprocess.Popen(
            [broker_binary(), *args], stdin=stdin, stdout=subprocess.PIPE,
            stderr=self._stderr, text=True, bufsize=1)
        self._lines = queue.Queue()
        self._reader = threading.Thread(target=self._read_stdout, daemon=True)
        self._reader.start()
        try:
            self.bootstrap = self.readline(STARTUP_TIMEOUT)
        except Exception:
            self.kill()
            raise

    def _read_stdout(self):
        for line in self.proc.stdout:
            self._lines.put(line.rstrip("\n"))
        self._lines.put(None)  # EOF

    def readline(self, timeout):
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no stdout line within {timeout}s; "
                                 f"stderr: {self.stderr()!r}") from None
        if line is None:
            raise AssertionError(f"broker stdout closed (exit {self.proc.poll()}); "
                                 f"stderr: {self.stderr()!r}")
        return line

    def command(self, line):
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        return self.readline(REPLY_TIMEOUT)

    def stderr(self):
        self._stderr.flush()
        self._stderr.seek(0)
        return self._stderr.read()

    def stop(self, sig=signal.SIGTERM):
        """Sends sig, waits; returns (exit code, seconds taken)."""
        start = time.monotonic()
        self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"broker did not exit within {STOP_TIMEOUT}s "
                                 f"of {sig.name}") from None
        finally:
            self._close_pipes()
        return rc, time.monotonic() - start

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._close_pipes()

    def _close_pipes(self):
        if self.proc.stdin and not self.proc.stdin.closed:
            try:
                self.proc.stdin.close()
            except BrokenPipeError:
                pass
        self._reader.join(5)
        if self.proc.stdout:
            self.proc.stdout.close()

    def assert_clean_stop(self, tc, sig=signal.SIGTERM, max_seconds=STOP_TIMEOUT):
        rc, took = self.stop(sig)
        err = self.stderr()
        self._stderr.close()
        tc.assertEqual(rc, 0, f"exit code after {sig.name}; stderr:\n{err}")
        tc.assertLess(took, max_seconds, f"{sig.name} took {took:.1f}s")
        for marker in SANITIZER_MARKERS:
            tc.assertNotIn(marker, err, f"sanitizer report on stderr:\n{err}")
        return took


def kcat(bootstrap, *args, input=None, check=True):
    r = subprocess.run(["kcat", "-b", bootstrap, *args], input=input,
                       capture_output=True, text=True, timeout=KCAT_TIMEOUT)
    if check and r.returncode != 0:
        raise AssertionError(f"kcat {' '.join(args)} exited {r.returncode}:\n"
                             f"{r.stderr}")
    return r


def metadata(bootstrap, topic=None):
    args = ["-L", "-J", "-m", "10"] + (["-t", topic] if topic else [])
    return json.loads(kcat(bootstrap, *args).stdout)


def partition_count(bootstrap, topic):
    md = metadata(bootstrap, topic)
    [t] = [t for t in md["topics"] if t["topic"] == topic]
    return len(t["partitions"])


def produce(bootstrap, topic, key, values, *extra, check=True):
    data = "".join(v + "\n" for v in values)
    return kcat(bootstrap, "-P", "-t", topic, "-k", key, *extra,
                input=data, check=check)


def consume(bootstrap, topic):
    """All messages as (key, partition, offset, value), read from the start."""
    out = kcat(bootstrap, "-C", "-t", topic, "-o", "beginning", "-e", "-q",
               "-f", "%k\t%p\t%o\t%s\n").stdout
    rows = []
    for line in out.splitlines():
        k, p, o, v = line.split("\t", 3)
        rows.append((k, int(p), int(o), v))
    return rows


class SharedBrokerTest(unittest.TestCase):
    """Tests that can share one 3-broker cluster (each uses its own topics)."""

    @classmethod
    def setUpClass(cls):
        cls.broker = Broker("--topic", "tasks:5", "--topic", "plain",
                            "--topic", "roundtrip", "--topic", "keyed")
        cls.bs = cls.broker.bootstrap

    @classmethod
    def tearDownClass(cls):
        cls.broker.assert_clean_stop(unittest.TestCase())

    def test_bootstrap_line_lists_three_loopback_brokers(self):
        self.assertRegex(self.bs, BOOTSTRAP_RE)
        self.assertEqual(len(self.bs.split(",")), 3)

    def test_metadata_lists_created_topics(self):
        md = metadata(self.bs)
        self.assertEqual(sorted(b["id"] for b in md["brokers"]), [1, 2, 3])
        topics = {t["topic"]: t["partitions"] for t in md["topics"]}
        self.assertEqual(len(topics["tasks"]), 5)
        self.assertEqual(len(topics["plain"]), 4)   # default partition count
        for p in topics["tasks"]:
            self.assertEqual(len(p["replicas"]), 3)  # min(3, brokers)
            self.assertIn(p["leader"], (1, 2, 3))

    def test_topic_command_creates_topic(self):
        self.assertEqual(self.broker.command("topic extra 7"), "ok")
        self.assertEqual(partition_count(self.bs, "extra"), 7)
        self.assertTrue(self.broker.command("topic extra 7").startswith(
            "error TOPIC_ALREADY_EXISTS"))

    def test_bad_commands_answer_error(self):
        for line in ("nope", "topic", "topic x 0", "topic bad:name 2",
                     "fail-produce 0 REQUEST_TIMED_OUT",
                     "fail-produce 1 NO_SUCH_ERROR",
                     "fail-produce 1 _TIMED_OUT",   # client-side code
                     "broker-down 4", "broker-down 0", "broker-up x",
                     "topic a b c d e f g h i"):
            with self.subTest(line=line):
                self.assertRegex(self.broker.command(line), r"^error \S")
        # Blank and comment lines get no reply: the next reply is for "topic".
        self.assertEqual(self.broker.command("\n  # a b c d e f g h i j\n\ntopic c1 1"), "ok")
        self.assertEqual(self.broker.command("clear-produce-errors"), "ok")

    def test_produce_consume_round_trip_with_keys(self):
        sent = {"alpha": [f"a{i}" for i in range(5)],
                "beta": [f"b{i} with spaces" for i in range(5)]}
        for key, values in sent.items():
            produce(self.bs, "roundtrip", key, values)
        rows = consume(self.bs, "roundtrip")
        got = defaultdict(list)
        for key, _p, _o, value in rows:
            got[key].append(value)
        self.assertEqual(dict(got), sent)  # per key, order is preserved too

    def test_same_key_always_same_partition(self):
        keys = [f"task-{i}" for i in range(8)]
        for round_ in range(2):  # separate producer instances each time
            for key in keys:
                produce(self.bs, "keyed", key, [f"{key}/{round_}/{j}" for j in range(3)])
        out = kcat(self.bs, "-C", "-t", "keyed", "-o", "beginning", "-e", "-q",
                   "-f", "%k %p\n").stdout
        parts = defaultdict(set)
        counts = Counter()
        for line in out.splitlines():
            k, p = line.split(" ")
            parts[k].add(int(p))
            counts[k] += 1
        self.assertEqual(set(parts), set(keys))
        for key in keys:
            self.assertEqual(len(parts[key]), 1, f"{key} spread over {parts[key]}")
            self.assertEqual(counts[key], 6)
        # 8 keys over 4 partitions: the hash really spreads them.
        self.assertGreater(len(set.union(*parts.values())), 1)


class FaultInjectionTest(unittest.TestCase):

    def setUp(self):
        self.broker = Broker("--topic", "faults:4")
        self.bs = self.broker.bootstrap

    def tearDown(self):
        self.broker.assert_clean_stop(self)

    def test_fail_produce_fails_a_producer_without_retries(self):
        self.assertEqual(self.broker.command("fail-produce 1 NOT_ENOUGH_REPLICAS"), "ok")
        r = produce(self.bs, "faults", "k", ["lost"],
                    "-X", "message.send.max.retries=0", check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("Not enough in-sync replicas", r.stderr)
        self.assertEqual(consume(self.bs, "faults"), [])
        # The injected error was used up: the next request succeeds.
        produce(self.bs, "faults", "k", ["kept"], "-X", "message.send.max.retries=0")
        self.assertEqual([r[3] for r in consume(self.bs, "faults")], ["kept"])

    def test_idempotent_producer_retries_without_duplicates(self):
        # Note: an injected error rejects the whole request before anything is
        # appended, so this checks retries and exact delivery accounting; see
        # the mock-limitation test below for what it cannot show.
        for line in ("fail-produce 1 REQUEST_TIMED_OUT",
                     "fail-produce 1 NOT_LEADER_FOR_PARTITION",
                     "fail-produce 2 NOT_ENOUGH_REPLICAS"):
            self.assertEqual(self.broker.command(line), "ok")
        values = [f"m{i:03d}" for i in range(100)]
        produce(self.bs, "faults", "one-key", values,
                "-X", "enable.idempotence=true", "-X", "acks=all")
        rows = consume(self.bs, "faults")
        self.assertEqual(len(rows), 100, "duplicates or losses")
        self.assertEqual([r[3] for r in rows], values)   # one partition, in order
        self.assertEqual(len({r[1] for r in rows}), 1)
        self.assertEqual(sorted(r[2] for r in rows), list(range(100)))
        # All four injected errors were consumed by that producer's retries:
        # a producer that may not retry now succeeds first time.
        produce(self.bs, "faults", "other", ["after"],
                "-X", "message.send.max.retries=0")

    def _leader(self, topic, partition=0):
        [t] = metadata(self.bs, topic)["topics"]
        return t["partitions"][partition]["leader"]

    def test_delay_produce_holds_the_response(self):
        self.assertEqual(self.broker.command("topic slow 1"), "ok")
        leader = self._leader("slow")
        self.assertEqual(self.broker.command(f"delay-produce {leader} 1500"), "ok")
        start = time.monotonic()
        produce(self.bs, "slow", "k", ["late"])
        self.assertGreaterEqual(time.monotonic() - start, 1.4)
        self.assertEqual([r[3] for r in consume(self.bs, "slow")], ["late"])
        for line in ("delay-produce 0 10", "delay-produce 4 10",
                     "delay-produce 1 0", "delay-produce 1 10 0"):
            with self.subTest(line=line):
                self.assertRegex(self.broker.command(line), r"^error \S")

    def test_mock_limitation_idempotent_retry_after_timeout_duplicates(self):
        """Documents a librdkafka 2.0.2 mock limitation, not desired behaviour.

        The mock checks producer sequence numbers only for transactional
        producers. When a Produce was appended but its response timed out,
        the idempotent producer's retry is appended AGAIN. So the mock cannot
        prove deduplication; fail-produce cannot either, since an injected
        error rejects the request before anything is appended. If this test
        starts failing, the mock has learned idempotence: turn it around.
        """
        self.assertEqual(self.broker.command("topic dup 1"), "ok")
        leader = self._leader("dup")
        self.assertEqual(self.broker.command(f"delay-produce {leader} 1500"), "ok")
        produce(self.bs, "dup", "k", ["once"], "-X", "enable.idempotence=true",
                "-X", "socket.timeout.ms=500")
        values = [r[3] for r in consume(self.bs, "dup")]
        self.assertEqual(values, ["once", "once"],
                         "mock now deduplicates idempotent retries?")

    def test_broker_down_and_up(self):
        self.assertEqual(self.broker.command("broker-down -1"), "ok")
        r = kcat(self.bs, "-L", "-m", "1", check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertEqual(self.broker.command("broker-up -1"), "ok")
        self.assertEqual(partition_count(self.bs, "faults"), 4)
        self.assertEqual(self.broker.command("broker-down 2"), "ok")
        self.assertEqual(self.broker.command("broker-up 2"), "ok")


class LifecycleTest(unittest.TestCase):

    def test_sigterm_exits_zero_promptly(self):
        b = Broker()
        b.assert_clean_stop(self, signal.SIGTERM, max_seconds=5)

    def test_sigint_exits_zero(self):
        b = Broker()
        b.assert_clean_stop(self, signal.SIGINT, max_seconds=5)

    def test_closing_stdin_does_not_stop_it(self):
        b = Broker("--topic", "t:2")
        # A final unterminated line before EOF still counts as a command.
        b.proc.stdin.write("topic late 3")
        b.proc.stdin.close()
        self.assertEqual(b.readline(REPLY_TIMEOUT), "ok")
        time.sleep(1.0)
        self.assertIsNone(b.proc.poll(), "broker exited after stdin EOF")
        self.assertEqual(partition_count(b.bootstrap, "t"), 2)
        self.assertEqual(partition_count(b.bootstrap, "late"), 3)
        b.assert_clean_stop(self, max_seconds=5)

    def test_no_stdin_at_all(self):
        b = Broker("--topic", "t", stdin=subprocess.DEVNULL)
        time.sleep(1.0)
        self.assertIsNone(b.proc.poll(), "broker exited with stdin=/dev/null")
        self.assertEqual(partition_count(b.bootstrap, "t"), 4)
        b.assert_clean_stop(self, max_seconds=5)

    def test_brokers_option_and_bootstrap_file(self):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "bootstrap")
            b = Broker("--brokers", "2", "--topic", "two:3",
                       "--bootstrap-file", path)
            self.assertRegex(b.bootstrap, BOOTSTRAP_RE)
            self.assertEqual(len(b.bootstrap.split(",")), 2)
            with open(path) as f:
                self.assertEqual(f.read(), b.bootstrap + "\n")
            self.assertEqual(os.listdir(d), ["bootstrap"])  # no temp file left
            md = metadata(b.bootstrap, "two")
            self.assertEqual(len(md["brokers"]), 2)
            [t] = md["topics"]
            self.assertEqual(len(t["partitions"]), 3)
            self.assertEqual(len(t["partitions"][0]["replicas"]), 2)
            b.assert_clean_stop(self, max_seconds=5)
            self.assertFalse(os.path.exists(path), "bootstrap file not removed")

    def test_bad_arguments_exit_2(self):
        for args in (["--brokers", "0"], ["--topic", "x:0"], ["--topic", "a b"],
                     ["--bogus"], ["--brokers"]):
            with self.subTest(args=args):
                r = subprocess.run([broker_binary(), *args], capture_output=True,
                                   text=True, timeout=STOP_TIMEOUT,
                                   stdin=subprocess.DEVNULL)
                self.assertEqual(r.returncode, 2, r.stderr)
                self.assertEqual(r.stdout, "")


if __name__ == "__main__":
    unittest.main()
