"""Tests that pin the sidecar double (tests/tools/dapr_sidecar_double.py) to the Dapr sidecar HTTP
contract (shared/docs/dapr-contract.md; section numbers in the test docstrings). The double is a
test tool for TaskFlow, never shipped.

Run from the repository root (Python 3.11, standard library only):

    python3 -m unittest tests/tools/test_dapr_sidecar_double.py

Each test class starts the double as a subprocess on free ports, against a stub app (a small
HTTP server in this process that records every request and answers from a script), and talks to
it over HTTP: the sidecar API for what the app would do, the control API to see what was published
and delivered.
"""

import base64
import datetime
import http.client
import json
import os
import re
import select
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.dont_write_bytecode = True

HERE = os.path.dirname(os.path.abspath(__file__))
DOUBLE = os.path.join(HERE, "dapr_sidecar_double.py")
UUID4_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
RFC3339_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
GO_UTC_RE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d{1,9})? \+0000 UTC$")
ERROR_INFO = "type.googleapis.com/google.rpc.ErrorInfo"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(fn, timeout=5.0, what="condition"):
    deadline = time.monotonic() + timeout
    while True:
        v = fn()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.02)


def parse_rfc3339(s):
    return datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc).timestamp()


# ---------------------------------------------------------------------------------------------
# The stub app
# ---------------------------------------------------------------------------------------------


class StubApp:
    """Records every request; answers from per-path scripts. A response is (status, body),
    (status, body, headers), "close" (drop the connection without answering) or a callable
    taking the recorded request and returning one of those."""

    def __init__(self, subscriptions=None, subscribe=None):
        self.requests = []
        self.lock = threading.Lock()
        self.scripts = {}
        self.server = None
        self.opened_at = None
        if subscribe is None:
            subscribe = (200, json.dumps(subscriptions or []))
        self.script("GET", "/dapr/subscribe", subscribe)
        self.script("GET", "/dapr/config", (404, "not found"))

    def script(self, method, path, *responses):
        with self.lock:
            self.scripts[(method, path)] = list(responses)

    def _answer(self, req):
        with self.lock:
            seq = self.scripts.get((req["method"], req["path"]))
            if not seq:
                return (200, b"")
            r = seq[0] if len(seq) == 1 else seq.pop(0)
        return r(req) if callable(r) else r

    def start(self, port=None):
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def _any(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                req = {"method": self.command, "path": self.path, "body": body, "time": time.time(),
                       "headers": {k.lower(): v for k, v in self.headers.items()},
                       "raw_headers": list(self.headers.items())}
                with stub.lock:
                    stub.requests.append(req)
                r = stub._answer(req)
                if r == "close":
                    self.close_connection = True
                    return
                status, body = r[0], r[1]
                headers = r[2] if len(r) > 2 else {}
                body = body.encode() if isinstance(body, str) else body
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                if status not in (204, 304):
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if status not in (204, 304):
                    self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_DELETE = do_OPTIONS = _any

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            allow_reuse_address = True

        self.server = Server(("127.0.0.1", port or 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        self.opened_at = time.time()
        return self

    def stop(self):
        if self.server:
            self.server.shutdown()
            self.server.server_close()

    def got(self, method=None, path=None):
        with self.lock:
            return [r for r in self.requests
                    if (method is None or r["method"] == method) and (path is None or r["path"] == path)]

    def wait(self, method, path, count=1, timeout=5.0):
        return wait_until(lambda: (lambda rs: rs if len(rs) >= count else None)(self.got(method, path)),
                          timeout, f"{count} x {method} {path} on the stub app")


# ---------------------------------------------------------------------------------------------
# The double as a subprocess
# ---------------------------------------------------------------------------------------------


class Sidecar:
    def __init__(self, *args, app_port=None, wait_ready=True):
        # A free port can be taken by someone else before the double binds it: try again with
        # new ports, a few times.
        for attempt in range(3):
            self.port = free_port()
            self.control_port = free_port()
            cmd = [sys.executable, "-B", DOUBLE, "--dapr-http-port", str(self.port),
                   "--control-port", str(self.control_port)]
            if app_port is not None:
                cmd += ["--app-port", str(app_port)]
            cmd += list(args)
            env = {k: v for k, v in os.environ.items() if k not in ("DAPR_API_TOKEN", "APP_API_TOKEN", "TZ")}
            self.errf = tempfile.TemporaryFile()
            self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self.errf, env=env)
            r, _, _ = select.select([self.proc.stdout], [], [], 10)
            line = self.proc.stdout.readline().decode().strip() if r else ""
            if line == "READY":
                break
            log = self.log()
            self.stop()
            if attempt == 2 or "Address already in use" not in log:
                raise AssertionError(f"the double did not print READY (got {line!r}):\n{log}")
        if wait_ready:
            self.wait_ready()

    def wait_ready(self, timeout=10.0):
        wait_until(lambda: self.request("GET", "/v1.0/healthz")[0] == 204, timeout, "GET /v1.0/healthz = 204")

    def request(self, method, path, body=None, headers=None, timeout=5.0):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            if isinstance(body, (dict, list)):
                body = json.dumps(body)
            conn.request(method, path, body=body, headers=headers or {})
            r = conn.getresponse()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
        finally:
            conn.close()

    def publish(self, topic, body=b"", ctype=None, pubsub="pubsub", query="", headers=None):
        h = dict(headers or {})
        if ctype is not None:
            h["Content-Type"] = ctype
        q = ("?" + query) if query else ""
        return self.request("POST", f"/v1.0/publish/{pubsub}/{topic}{q}", body, h)

    def ctl(self, method, path, obj=None):
        conn = http.client.HTTPConnection("127.0.0.1", self.control_port, timeout=10)
        try:
            conn.request(method, path, body=json.dumps(obj) if obj is not None else None)
            r = conn.getresponse()
            return r.status, json.loads(r.read() or b"null")
        finally:
            conn.close()

    def published(self, **q):
        qs = "&".join(f"{k}={v}" for k, v in q.items())
        return self.ctl("GET", "/published" + ("?" + qs if qs else ""))[1]

    def deliveries(self, **q):
        qs = "&".join(f"{k}={v}" for k, v in q.items())
        return self.ctl("GET", "/deliveries" + ("?" + qs if qs else ""))[1]

    def last_published(self, topic):
        ms = self.published(topic=topic)
        assert ms, f"nothing published on {topic}"
        return ms[-1]

    def log(self):
        if self.errf.closed:
            return "(log closed)"
        self.errf.seek(0)
        return self.errf.read().decode(errors="replace")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()
        self.errf.close()


def error_body(test, status_headers_body, status, code, reason=None):
    """Contract 0.1: {"errorCode","message"[,"details":[ErrorInfo]]}, application/json."""
    st, hdrs, body = status_headers_body
    test.assertEqual(st, status, body)
    test.assertEqual(hdrs.get("content-type"), "application/json")
    e = json.loads(body)
    test.assertEqual(e["errorCode"], code)
    test.assertIsInstance(e["message"], str)
    test.assertTrue(e["message"])
    if reason:
        info = e["details"][0]
        test.assertEqual(info["@type"], ERROR_INFO)
        test.assertEqual(info["reason"], reason)
        test.assertEqual(info["domain"], "dapr.io")
    return e


class SidecarCase(unittest.TestCase):
    """One stub app and one double for the whole class."""

    SUBSCRIPTIONS = []
    ARGS = []

    @classmethod
    def setUpClass(cls):
        cls.app = StubApp(cls.SUBSCRIPTIONS)
        cls.configure_app(cls.app)
        cls.app.start()
        try:
            cls.sc = Sidecar(*cls.ARGS, app_port=cls.app.port)
        except BaseException:
            cls.app.stop()
            raise

    @classmethod
    def configure_app(cls, app):
        pass

    @classmethod
    def tearDownClass(cls):
        cls.sc.stop()
        cls.app.stop()

    def delivered(self, path, count=1, timeout=5.0):
        return self.app.wait("POST", path, count, timeout)

    def outcomes(self, topic):
        return [d["outcome"] for d in self.sc.deliveries(topic=topic)]

    def wait_outcomes(self, topic, final, timeout=5.0):
        return wait_until(lambda: (lambda o: o if o and o[-1] in final else None)(self.outcomes(topic)),
                          timeout, f"a final outcome {final} on {topic}")


# ---------------------------------------------------------------------------------------------
# 7 / 12.1: tokens
# ---------------------------------------------------------------------------------------------


class TokenTests(SidecarCase):
    SUBSCRIPTIONS = [{"pubsubname": "pubsub", "topic": "tok", "route": "/tok"}]
    ARGS = ["--dapr-api-token", "s3cret", "--app-api-token", "app-tok", "--cron", "tick:3600"]
    OK = {"dapr-api-token": "s3cret"}

    def assert_401(self, r):
        st, hdrs, body = r
        self.assertEqual(st, 401)
        self.assertTrue(hdrs.get("content-type", "").startswith("text/plain"), hdrs)
        self.assertEqual(body, b"invalid api token\n")

    def test_missing_token_is_401_text_plain_on_every_api_route(self):
        """7, 12.1: without the header every route (even an unknown one) is 401 text/plain."""
        n = len(self.sc.published())
        for method, path in [("POST", "/v1.0/publish/pubsub/tok"), ("GET", "/v1.0/state/statestore/k"),
                             ("POST", "/v1.0/state/statestore"), ("DELETE", "/v1.0/state/statestore/k"),
                             ("GET", "/v1.0/metadata"), ("POST", "/v1.0/jobs/j"), ("GET", "/v1.0/no-such-route")]:
            with self.subTest(method=method, path=path):
                self.assert_401(self.sc.request(method, path, b"[]" if method == "POST" else None))
        self.assertEqual(len(self.sc.published()), n)

    def test_wrong_token_is_401(self):
        """7: a token that differs (even by case) is rejected."""
        self.assert_401(self.sc.publish("tok", b"x", headers={"dapr-api-token": "S3CRET"}))
        self.assert_401(self.sc.request("GET", "/v1.0/state/statestore/k", headers={"dapr-api-token": ""}))

    def test_healthz_routes_are_exempt_for_get_only(self):
        """7, 12.1: GET /v1.0/healthz and /v1.0/healthz/outbound need no token; other methods do."""
        self.assertEqual(self.sc.request("GET", "/v1.0/healthz")[0], 204)
        self.assertEqual(self.sc.request("GET", "/v1.0/healthz/outbound")[0], 204)
        self.assertEqual(self.sc.request("GET", "/v1.0/healthz/")[0], 204)
        self.assert_401(self.sc.request("POST", "/v1.0/healthz", b""))

    def test_right_token_is_accepted(self):
        """7: with the token the API answers normally."""
        self.assertEqual(self.sc.publish("tok", b"hello", headers=self.OK)[0], 204)
        self.assertEqual(self.sc.request("GET", "/v1.0/state/statestore/none", headers=self.OK)[0], 204)

    def test_app_token_is_sent_on_every_call_to_the_app(self):
        """7, 2.3, 4.1: dapr-api-token=<app token> on config, subscribe, OPTIONS, deliveries and
        bindings; never the sidecar's own token."""
        self.assertEqual(self.sc.publish("tok", b"x", headers=self.OK)[0], 204)
        self.delivered("/tok")
        st, res = self.sc.ctl("POST", "/cron/tick")
        self.assertEqual(st, 200, res)
        self.app.wait("POST", "/tick")
        kinds = {(r["method"], r["path"]) for r in self.app.got()}
        for need in [("GET", "/dapr/config"), ("GET", "/dapr/subscribe"), ("OPTIONS", "/tick"),
                     ("POST", "/tok"), ("POST", "/tick")]:
            self.assertIn(need, kinds)
        for r in self.app.got():
            self.assertEqual(r["headers"].get("dapr-api-token"), "app-tok", (r["method"], r["path"]))


# ---------------------------------------------------------------------------------------------
# 6 / 2.1 / 12.5: startup order and subscriptions
# ---------------------------------------------------------------------------------------------


class StartupTests(unittest.TestCase):
    def start(self, app, *args, wait_ready=True):
        sc = Sidecar(*args, app_port=app.port if app.server else app.reserved, wait_ready=wait_ready)
        self.addCleanup(sc.stop)
        self.addCleanup(app.stop)
        return sc

    def test_outbound_ready_at_once_healthz_after_app_port_then_init_calls_in_order(self):
        """6, 12.5: /healthz/outbound is 204 before the app listens, /healthz is 500
        ERR_HEALTH_NOT_READY until the port opens; then GET /dapr/config, GET /dapr/subscribe
        (with dapr-app-id), OPTIONS /<binding>, in that order, and only then /healthz is 204.
        A message published before that is delivered once the subscriptions are loaded."""
        app = StubApp([{"pubsubname": "pubsub", "topic": "early", "route": "/early"}])
        app.reserved = free_port()
        sc = self.start(app, "--cron", "nightly:3600", wait_ready=False)
        self.assertEqual(sc.request("GET", "/v1.0/healthz/outbound")[0], 204)
        error_body(self, sc.request("GET", "/v1.0/healthz"), 500, "ERR_HEALTH_NOT_READY")
        self.assertEqual(sc.publish("early", b"before the app")[0], 204)
        time.sleep(0.4)
        error_body(self, sc.request("GET", "/v1.0/healthz"), 500, "ERR_HEALTH_NOT_READY")
        self.assertEqual(sc.ctl("GET", "/status")[1]["appPortOpen"], False)
        app.start(app.reserved)
        wait_until(lambda: sc.request("GET", "/v1.0/healthz")[0] == 204, 5, "healthz 204")
        init_calls = [(r["method"], r["path"]) for r in app.got() if r["method"] != "POST"]
        self.assertEqual(init_calls, [("GET", "/dapr/config"), ("GET", "/dapr/subscribe"), ("OPTIONS", "/nightly")])
        self.assertEqual(app.got()[0]["path"], "/dapr/config")
        self.assertTrue(all(r["time"] >= app.opened_at for r in app.got()))
        sub = app.got("GET", "/dapr/subscribe")[0]
        self.assertEqual(sub["headers"].get("dapr-app-id"), "taskflow")
        self.assertEqual(json.loads(app.wait("POST", "/early")[0]["body"])["data"], "before the app")

    def test_healthz_appid_query_must_match(self):
        """6: ?appid=<other> is 500, ?appid=<own id> is 204."""
        app = StubApp().start()
        sc = self.start(app, "--app-id", "taskflow")
        error_body(self, sc.request("GET", "/v1.0/healthz?appid=billing"), 500, "ERR_HEALTH_APPID_NOT_MATCH")
        self.assertEqual(sc.request("GET", "/v1.0/healthz?appid=taskflow")[0], 204)

    def test_programmatic_subscription_forms(self):
        """2.1: v1 `route`, `routes` with rules and `default` (default wins over route), field names
        in any case, a subscription without a route is dropped, an unknown pubsub is ignored."""
        subs = [
            {"pubsubname": "pubsub", "topic": "v1", "route": "/v1-route"},
            {"PubsubName": "pubsub", "TOPIC": "v2", "route": "/ignored",
             "routes": {"rules": [{"match": 'event.type == "special"', "path": "/v2-special"}],
                        "default": "/v2-default"}},
            {"pubsubname": "pubsub", "topic": "noroute"},
            {"pubsubname": "no-such-pubsub", "topic": "x", "route": "/x"},
            {"pubsubname": "pubsub-broadcast", "topic": "b", "route": "/b"},
        ]
        app = StubApp(subs).start()
        sc = self.start(app)
        st, s = sc.ctl("GET", "/subscriptions")
        got = {(x["pubsubname"], x["topic"]): [r["path"] for r in x["rules"]] for x in s["subscriptions"]}
        self.assertEqual(got, {("pubsub", "v1"): ["/v1-route"],
                               ("pubsub", "v2"): ["/v2-special", "/v2-default"],
                               ("pubsub-broadcast", "b"): ["/b"]})
        self.assertEqual(sorted(r["topic"] for r in s["refused"]), ["noroute", "x"])
        sc.publish("v2", b"a", query="metadata.cloudevent.type=special")
        sc.publish("v2", b"b")
        sc.publish("v1", b"c")
        self.assertEqual(json.loads(app.wait("POST", "/v2-special")[0]["body"])["data"], "a")
        self.assertEqual(json.loads(app.wait("POST", "/v2-default")[0]["body"])["data"], "b")
        self.assertEqual(json.loads(app.wait("POST", "/v1-route")[0]["body"])["data"], "c")

    def test_subscribe_404_means_no_subscriptions(self):
        """2.1: 404 from /dapr/subscribe is "no subscriptions", not an error."""
        app = StubApp(subscribe=(404, "")).start()
        sc = self.start(app)
        s = sc.ctl("GET", "/subscriptions")[1]
        self.assertEqual((s["loaded"], s["error"], s["subscriptions"]), (True, None, []))

    def test_subscribe_200_with_non_json_body_is_an_error(self):
        """2.1: 200 with a non-JSON body is an error (no subscriptions); 200 empty is accepted."""
        app = StubApp(subscribe=(200, "<html>subscriptions</html>")).start()
        sc = self.start(app)
        s = sc.ctl("GET", "/subscriptions")[1]
        self.assertTrue(s["error"])
        self.assertEqual(s["subscriptions"], [])
        app2 = StubApp(subscribe=(200, "")).start()
        sc2 = self.start(app2)
        s2 = sc2.ctl("GET", "/subscriptions")[1]
        self.assertEqual((s2["error"], s2["subscriptions"]), (None, []))

    def test_binding_not_started_when_options_probe_is_404(self):
        """4.1: OPTIONS /<binding> must answer 2xx or 405; a 404 means the binding never starts."""
        app = StubApp()
        app.script("OPTIONS", "/nightly", (404, ""))
        app.start()
        sc = self.start(app, "--cron", "nightly:0.1")
        time.sleep(0.5)
        self.assertEqual(app.got("POST", "/nightly"), [])
        self.assertEqual(sc.ctl("POST", "/cron/nightly")[0], 409)
        self.assertEqual(sc.ctl("GET", "/status")[1]["bindings"]["nightly"]["started"], False)


# ---------------------------------------------------------------------------------------------
# 1 / 0.2 / 12.2: publish
# ---------------------------------------------------------------------------------------------


class PublishTests(SidecarCase):
    SUBSCRIPTIONS = [{"pubsubname": "pubsub", "topic": "orders", "route": "/orders"}]
    ARGS = ["--scoped-topic", "pubsub:secret"]

    def test_publish_answers_204_and_keeps_messages_in_order(self):
        """1.1, 0.1: 204 with no body; every message is kept, in publish order."""
        for body in (b"one", b"two", b"three"):
            st, hdrs, resp = self.sc.publish("in-order", body)
            self.assertEqual((st, resp), (204, b""))
        datas = [m["envelope"]["data"] for m in self.sc.published(topic="in-order")]
        self.assertEqual(datas, ["one", "two", "three"])
        seqs = [m["seq"] for m in self.sc.published(topic="in-order")]
        self.assertEqual(seqs, sorted(seqs))

    def test_unknown_pubsub_is_404_with_dapr_error_body(self):
        """1.1, 0.1, 12.2: unknown pubsub -> 404 ERR_PUBSUB_NOT_FOUND with an ErrorInfo detail."""
        n = len(self.sc.published())
        error_body(self, self.sc.publish("orders", b"x", pubsub="kafka"), 404, "ERR_PUBSUB_NOT_FOUND",
                   "DAPR_PUBSUB_NOT_FOUND")
        self.assertEqual(len(self.sc.published()), n)

    def test_scoped_topic_is_403(self):
        """1.1, 12.2: a topic not allowed for the app-id -> 403 ERR_PUBSUB_FORBIDDEN."""
        error_body(self, self.sc.publish("secret", b"x"), 403, "ERR_PUBSUB_FORBIDDEN", "DAPR_PUBSUB_FORBIDDEN")
        self.assertEqual(self.sc.published(topic="secret"), [])

    def test_empty_topic_is_404(self):
        """1.1: an empty topic -> 404 ERR_TOPIC_NAME_EMPTY."""
        error_body(self, self.sc.request("POST", "/v1.0/publish/pubsub/", b"x"), 404, "ERR_TOPIC_NAME_EMPTY")

    def test_envelope_fields_and_text_plain_default(self):
        """1.2, 12.2: id (UUIDv4), specversion 1.0, source = app-id, type com.dapr.event.sent,
        datacontenttype text/plain when the header is absent, data as a string, topic,
        pubsubname, traceid = traceparent, tracestate, time (RFC3339); no subject/expiration."""
        before = time.time()
        self.assertEqual(self.sc.publish("orders", b"hello <world>")[0], 204)
        e = self.sc.last_published("orders")["envelope"]
        self.assertRegex(e["id"], UUID4_RE)
        self.assertEqual(e["specversion"], "1.0")
        self.assertEqual(e["source"], "taskflow")
        self.assertEqual(e["type"], "com.dapr.event.sent")
        self.assertEqual(e["datacontenttype"], "text/plain")
        self.assertEqual(e["data"], "hello <world>")
        self.assertEqual((e["topic"], e["pubsubname"]), ("orders", "pubsub"))
        self.assertIn("traceid", e)
        self.assertEqual(e["traceid"], e["traceparent"])
        self.assertIn("tracestate", e)
        self.assertRegex(e["time"], RFC3339_RE)
        self.assertLessEqual(abs(parse_rfc3339(e["time"]) - before), 2)
        self.assertNotIn("subject", e)
        self.assertNotIn("expiration", e)
        self.assertNotIn("data_base64", e)

    def test_json_body_is_parsed_with_exact_numbers(self):
        """1.2: a JSON content type gives parsed JSON in `data`, numbers kept exactly."""
        body = b'{"big": 12345678901234567890, "f": 1.10, "s": "x"}'
        self.sc.publish("orders", body, "application/json; charset=utf-8")
        m = self.sc.last_published("orders")
        self.assertEqual(m["envelope"]["datacontenttype"], "application/json; charset=utf-8")
        self.assertIn('"data":{"big":12345678901234567890,"f":1.10,"s":"x"}', m["data"])
        delivered = wait_until(lambda: [r for r in self.app.got("POST", "/orders") if r["body"] == m["data"].encode()],
                               5, "the delivery of the JSON message")
        self.assertIn(b'"big":12345678901234567890', delivered[0]["body"])

    def test_invalid_json_with_json_content_type_is_kept_as_string(self):
        """1.2: if the JSON parse fails, the text is kept as a string."""
        self.sc.publish("orders", b"{not json", "application/json")
        self.assertEqual(self.sc.last_published("orders")["envelope"]["data"], "{not json")

    def test_octet_stream_goes_to_data_base64(self):
        """1.2: application/octet-stream -> data_base64, no data."""
        raw = bytes(range(256))
        self.sc.publish("orders", raw, "application/octet-stream")
        e = self.sc.last_published("orders")["envelope"]
        self.assertEqual(base64.b64decode(e["data_base64"]), raw)
        self.assertNotIn("data", e)

    def test_only_metadata_query_params_are_read(self):
        """0.2: only `metadata.*` query params count (prefix stripped); a bare partitionKey is ignored."""
        self.sc.publish("orders", b"x", query="partitionKey=bare&foo=1&metadata.partitionKey=K2")
        m = self.sc.last_published("orders")
        self.assertEqual(m["metadata"], {"partitionKey": "K2"})
        self.assertEqual(m["key"], "K2")
        self.sc.publish("orders", b"y", query="partitionKey=bare")
        m = self.sc.last_published("orders")
        self.assertEqual((m["metadata"], m["key"]), ({}, None))

    def test_cloudevent_metadata_overrides(self):
        """1.1: metadata.cloudevent.{id,source,type,subject} override the envelope."""
        self.sc.publish("orders", b"x", query="metadata.cloudevent.id=task-42&metadata.cloudevent.type=task.created"
                                              "&metadata.cloudevent.source=tasks&metadata.cloudevent.subject=u1")
        e = self.sc.last_published("orders")["envelope"]
        self.assertEqual((e["id"], e["type"], e["source"], e["subject"]), ("task-42", "task.created", "tasks", "u1"))

    def test_cloudevents_json_body_is_kept(self):
        """1.2: application/cloudevents+json keeps the app's envelope; topic and pubsubname are
        overwritten, time and trace fields added, source/type/specversion defaulted."""
        ce = {"id": "ce-1", "source": "mine", "type": "t.x", "specversion": "1.0", "topic": "wrong",
              "pubsubname": "wrong", "custom": "yes", "data": {"a": 1}}
        self.assertEqual(self.sc.publish("orders", json.dumps(ce), "application/cloudevents+json")[0], 204)
        e = self.sc.last_published("orders")["envelope"]
        self.assertEqual((e["id"], e["source"], e["type"], e["custom"], e["data"]), ("ce-1", "mine", "t.x", "yes", {"a": 1}))
        self.assertEqual((e["topic"], e["pubsubname"]), ("orders", "pubsub"))
        self.assertRegex(e["time"], RFC3339_RE)
        self.assertIn("traceparent", e)
        self.sc.publish("orders", b'{"id": "ce-2", "data": 1}', "application/cloudevents+json")
        e = self.sc.last_published("orders")["envelope"]
        self.assertEqual((e["source"], e["type"], e["specversion"]), ("Dapr", "com.dapr.event.sent", "1.0"))

    def test_invalid_cloudevents_json_body_is_500(self):
        """1.1, 1.2: a cloudevents+json body that is not valid JSON -> 500 ERR_PUBSUB_CLOUD_EVENTS_SER."""
        n = len(self.sc.published())
        error_body(self, self.sc.publish("orders", b"{broken", "application/cloudevents+json"), 500,
                   "ERR_PUBSUB_CLOUD_EVENTS_SER")
        self.assertEqual(len(self.sc.published()), n)

    def test_raw_payload(self):
        """1.1: metadata.rawPayload=true sends the body as is (no envelope); a non-bool is 400."""
        self.assertEqual(self.sc.publish("orders", b'{"k":1}', "application/json", query="metadata.rawPayload=true")[0], 204)
        m = self.sc.last_published("orders")
        self.assertEqual((m["envelope"], m["data"], m["rawPayload"]), (None, '{"k":1}', True))
        error_body(self, self.sc.publish("orders", b"x", query="metadata.rawPayload=maybe"), 400,
                   "ERR_PUBSUB_REQUEST_METADATA")

    def test_ttl_adds_expiration(self):
        """1.1: metadata.ttlInSeconds adds `expiration` (RFC3339) to the envelope."""
        now = time.time()
        self.sc.publish("orders", b"x", query="metadata.ttlInSeconds=60")
        e = self.sc.last_published("orders")["envelope"]
        self.assertAlmostEqual(parse_rfc3339(e["expiration"]), now + 60, delta=2)

    def test_put_trailing_slash_and_topic_with_slash(self):
        """0: publish accepts PUT, strips a trailing slash; the topic may contain `/`."""
        self.assertEqual(self.sc.request("PUT", "/v1.0/publish/pubsub/orders/", b"put")[0], 204)
        self.assertEqual(self.sc.last_published("orders")["envelope"]["data"], "put")
        self.assertEqual(self.sc.request("POST", "/v1.0/publish/pubsub/tasks/v1/created", b"x")[0], 204)
        self.assertEqual(self.sc.published()[-1]["topic"], "tasks/v1/created")

    def test_bulk_publish(self):
        """1.3: entries get their own envelopes; duplicate entryId or a bad contentType is 400."""
        n = len(self.sc.published(topic="orders"))
        entries = [{"entryId": "1", "event": {"a": 1}, "contentType": "application/json"},
                   {"entryId": "2", "event": "hi", "contentType": "text/plain", "metadata": {"partitionKey": "p"}}]
        self.assertEqual(self.sc.request("POST", "/v1.0/publish/bulk/pubsub/orders", entries)[0], 204)
        ms = self.sc.published(topic="orders")[n:]
        self.assertEqual([m["envelope"]["data"] for m in ms], [{"a": 1}, "hi"])
        self.assertEqual(ms[1]["key"], "p")
        dup = [{"entryId": "1", "event": 1, "contentType": "application/json"}] * 2
        self.assertEqual(self.sc.request("POST", "/v1.0-alpha1/publish/bulk/pubsub/orders", dup)[0], 400)
        bad = [{"entryId": "1", "event": {"a": 1}}]
        self.assertEqual(self.sc.request("POST", "/v1.0/publish/bulk/pubsub/orders", bad)[0], 400)

    def test_fail_modes_500_and_down(self):
        """Control API: publish failure 500 (Dapr error body, nothing kept) and down (refused)."""
        try:
            self.sc.ctl("POST", "/fail", {"publish": "500"})
            n = len(self.sc.published())
            error_body(self, self.sc.publish("orders", b"x"), 500, "ERR_PUBSUB_PUBLISH_MESSAGE",
                       "DAPR_PUBSUB_PUBLISH_MESSAGE")
            self.assertEqual(len(self.sc.published()), n)
            self.sc.ctl("POST", "/fail", {"publish": "down"})
            with self.assertRaises(ConnectionRefusedError):
                self.sc.publish("orders", b"x")
        finally:
            self.sc.ctl("POST", "/fail", {"publish": None})
        self.assertEqual(self.sc.publish("orders", b"back")[0], 204)
        self.assertEqual(self.sc.request("GET", "/v1.0/healthz")[0], 204)


# ---------------------------------------------------------------------------------------------
# 2.3 / 11.3 / 12.3: delivery
# ---------------------------------------------------------------------------------------------

ROWS = {
    # topic: (scripted replies, expected outcomes)
    "r-200-empty": ([(200, "")], ["success"]),
    "r-200-text": ([(200, "thanks!")], ["success"]),
    "r-204": ([(204, "")], ["success"]),
    "r-success": ([(200, '{"status":"SUCCESS"}')], ["success"]),
    "r-empty-object": ([(200, "{}")], ["success"]),
    "r-no-status": ([(201, '{"other":"x"}')], ["success"]),
    "r-retry": ([(200, '{"status":"RETRY"}'), (200, "")], ["retry", "success"]),
    "r-drop": ([(200, '{"status":"DROP"}'), (200, "")], ["drop"]),
    "r-lower-success": ([(200, '{"status":"success"}'), (200, "")], ["retry", "success"]),
    "r-lower-drop": ([(200, '{"status":"Drop"}'), (200, "")], ["retry", "success"]),
    "r-unknown-status": ([(200, '{"status":"OK"}'), (200, "")], ["retry", "success"]),
    "r-404": ([(404, "no such route"), (200, "")], ["drop"]),
    "r-500": ([(500, "boom"), (200, "")], ["retry", "success"]),
    "r-503": ([(503, ""), (200, "")], ["retry", "success"]),
    "r-conn-error": (["close", (200, "")], ["retry", "success"]),
}


class DeliveryTests(SidecarCase):
    SUBSCRIPTIONS = (
        [{"pubsubname": "pubsub", "topic": t, "route": "/" + t} for t in ROWS]
        + [{"pubsubname": "pubsub", "topic": "plain", "route": "/plain"},
           {"pubsubname": "pubsub", "topic": "backoff", "route": "/backoff"},
           {"pubsubname": "pubsub", "topic": "ordered", "route": "/ordered"},
           {"pubsubname": "pubsub", "topic": "dlq-src", "route": "/dlq-src", "deadLetterTopic": "dlq-dst"},
           {"pubsubname": "pubsub", "topic": "dlq-dst", "route": "/dlq-dst"},
           {"pubsubname": "pubsub", "topic": "rules",
            "routes": {"rules": [{"match": 'event.type == "a"', "path": "/rule-a"}]}},
           {"pubsubname": "pubsub", "topic": "expiring", "route": "/expiring"},
           {"pubsubname": "pubsub", "topic": "raw-in", "route": "/raw-in"},
           {"pubsubname": "pubsub", "topic": "raw-sub", "route": "/raw-sub", "metadata": {"rawPayload": "true"}},
           {"pubsubname": "pubsub-broadcast", "topic": "fanout", "route": "/fanout"}])
    ARGS = ["--retry-interval-ms", "150"]

    @classmethod
    def configure_app(cls, app):
        for topic, (replies, _) in ROWS.items():
            app.script("POST", "/" + topic, *replies)
        app.script("POST", "/backoff", (500, ""), (500, ""), (200, ""))
        app.script("POST", "/dlq-src", (200, '{"status":"RETRY"}'))
        app.script("POST", "/expiring", (500, ""))
        fails = {"K1-1": 2}
        lock = threading.Lock()

        def ordered(req):
            data = json.loads(req["body"])["data"]
            with lock:
                if fails.get(data, 0) > 0:
                    fails[data] -= 1
                    return (500, "")
            return (200, "")

        app.script("POST", "/ordered", ordered)

    def test_delivery_request_shape(self):
        """2.3, 12.3: POST <route>, Content-Type application/cloudevents+json, the whole stored
        envelope as body, pubsubName header, Kafka metadata headers, the CloudEvent id."""
        self.sc.publish("plain", b'{"task":1}', "application/json", query="metadata.partitionKey=user-7")
        req = self.delivered("/plain")[0]
        m = self.sc.last_published("plain")
        self.assertEqual(req["headers"]["content-type"], "application/cloudevents+json")
        self.assertEqual(req["body"], m["data"].encode())
        self.assertEqual(json.loads(req["body"])["data"], {"task": 1})
        self.assertEqual(req["headers"]["pubsubname"], "pubsub")
        self.assertIn(("pubsubName", "pubsub"), req["raw_headers"])
        self.assertEqual(req["headers"]["__key"], "user-7")
        self.assertEqual(req["headers"]["__topic"], "plain")
        self.assertEqual(req["headers"]["partitionkey"], "user-7")
        self.assertNotIn("traceparent", req["headers"])
        d = self.wait_outcomes("plain", ["success"])
        self.assertEqual(self.sc.deliveries(topic="plain")[-1]["eventId"], m["envelope"]["id"])
        self.assertEqual(d, ["success"])

    def check_row(self, topic):
        replies, expected = ROWS[topic]
        self.assertEqual(self.sc.publish(topic, b"row")[0], 204)
        self.wait_outcomes(topic, ["success", "drop"])
        time.sleep(0.35)  # more than the retry interval: nothing else may happen
        got = self.sc.deliveries(topic=topic)
        self.assertEqual([d["outcome"] for d in got], expected)
        self.assertEqual(len(self.app.got("POST", "/" + topic)), len(expected))
        self.assertEqual(len({d["eventId"] for d in got}), 1)  # redeliveries carry the same id

    def test_reply_2xx_empty_body_is_success(self):
        """2.3 row 1: any 2xx with an empty body -> success."""
        self.check_row("r-200-empty")

    def test_reply_2xx_non_json_body_is_success(self):
        """2.3 row 1: 2xx with a non-JSON body -> success."""
        self.check_row("r-200-text")

    def test_reply_204_is_success(self):
        """2.3 row 1: 204 -> success."""
        self.check_row("r-204")

    def test_reply_status_success_is_success(self):
        """2.3 row 2: {"status":"SUCCESS"} -> success."""
        self.check_row("r-success")

    def test_reply_empty_object_or_missing_status_is_success(self):
        """2.3 row 2: {} or no status field -> success."""
        self.check_row("r-empty-object")
        self.check_row("r-no-status")

    def test_reply_status_retry_is_retried(self):
        """2.3 row 3: {"status":"RETRY"} -> retry."""
        self.check_row("r-retry")

    def test_reply_status_drop_is_dropped(self):
        """2.3 row 4: {"status":"DROP"} -> dropped, never redelivered."""
        self.check_row("r-drop")

    def test_reply_status_is_case_sensitive(self):
        """2.3 row 5, 12.3: "success", "Drop" (wrong case) and unknown strings -> retry."""
        self.check_row("r-lower-success")
        self.check_row("r-lower-drop")
        self.check_row("r-unknown-status")

    def test_reply_404_is_dropped(self):
        """2.3 row 6, 12.3: 404 -> drop (non-retriable)."""
        self.check_row("r-404")

    def test_reply_other_status_is_retried(self):
        """2.3 row 7, 12.3: 500/503 -> retry."""
        self.check_row("r-500")
        self.check_row("r-503")

    def test_connection_error_is_retried(self):
        """2.3 row 7: a connection closed without an answer -> retry."""
        self.check_row("r-conn-error")

    def test_retry_with_backoff_then_success(self):
        """2.3: redeliveries wait the back-off interval (150 ms here) and carry the same event id."""
        self.sc.publish("backoff", b"x")
        self.wait_outcomes("backoff", ["success"])
        d = self.sc.deliveries(topic="backoff")
        self.assertEqual([x["outcome"] for x in d], ["retry", "retry", "success"])
        self.assertEqual([x["attempt"] for x in d], [1, 2, 3])
        self.assertEqual([x["status"] for x in d], [500, 500, 200])
        times = [r["time"] for r in self.app.got("POST", "/backoff")]
        for a, b in zip(times, times[1:]):
            self.assertGreaterEqual(b - a, 0.14)
        self.assertEqual(len({x["eventId"] for x in d}), 1)

    def test_per_key_order_under_retries(self):
        """11.3, 2.3: K1-2 is not delivered before K1-1 is done (K1-1 fails twice); another key
        (K2) is not held up by K1's retries."""
        for data, key in [("K1-1", "K1"), ("K1-2", "K1"), ("K1-3", "K1"), ("K2-1", "K2")]:
            self.sc.publish("ordered", data.encode(), query="metadata.partitionKey=" + key)
        wait_until(lambda: len([d for d in self.sc.deliveries(topic="ordered") if d["outcome"] == "success"]) == 4,
                   5, "4 successful deliveries")
        seq = [json.loads(r["body"])["data"] for r in self.app.got("POST", "/ordered")]
        self.assertEqual([x for x in seq if x.startswith("K1")], ["K1-1", "K1-1", "K1-1", "K1-2", "K1-3"])
        last_k1_1 = max(i for i, x in enumerate(seq) if x == "K1-1")
        self.assertLess(seq.index("K2-1"), last_k1_1)

    def test_dead_letter_topic(self):
        """2.3: with deadLetterTopic, one failed attempt sends the message to the DLQ (acked)."""
        self.sc.publish("dlq-src", b"poison")
        req = self.delivered("/dlq-dst")[0]
        time.sleep(0.35)
        self.assertEqual(len(self.app.got("POST", "/dlq-src")), 1)
        src = self.sc.last_published("dlq-src")
        dst = self.sc.last_published("dlq-dst")
        self.assertEqual(dst["deadLetterOf"], src["seq"])
        self.assertEqual(json.loads(req["body"])["id"], src["envelope"]["id"])

    def test_routing_rules_and_no_match(self):
        """2.1: CEL rules pick the path; no matching rule and no default -> acked and skipped."""
        self.sc.publish("rules", b"x", query="metadata.cloudevent.type=a")
        self.sc.publish("rules", b"y", query="metadata.cloudevent.type=b")
        self.assertEqual(json.loads(self.delivered("/rule-a")[0]["body"])["data"], "x")
        d = wait_until(lambda: (lambda o: o if len(o) == 2 else None)(self.outcomes("rules")), 5, "two outcomes")
        self.assertEqual(sorted(d), ["drop", "success"])
        dropped = [x for x in self.sc.deliveries(topic="rules") if x["outcome"] == "drop"][0]
        self.assertEqual((dropped["route"], dropped["status"], dropped["reason"]), (None, None, "no matching route"))
        self.assertEqual(len(self.app.got("POST", "/rule-a")), 1)

    def test_expired_event_is_dropped_before_delivery(self):
        """2.3, 1.1: once `expiration` has passed the event is dropped without calling the app."""
        self.sc.publish("expiring", b"x", query="metadata.ttlInSeconds=1")
        d = self.wait_outcomes("expiring", ["drop"], timeout=4)
        self.assertEqual(d[-1], "drop")
        last = self.sc.deliveries(topic="expiring")[-1]
        self.assertEqual((last["reason"], last["status"]), ("expired", None))
        n = len(self.app.got("POST", "/expiring"))
        time.sleep(0.35)
        self.assertEqual(len(self.app.got("POST", "/expiring")), n)

    def test_raw_payload_delivery(self):
        """2.3: a raw JSON object goes through as is; raw non-JSON without a rawPayload
        subscription is retried; a rawPayload subscription gets a data_base64 wrapper."""
        self.sc.publish("raw-in", b'{"legacy": true}', query="metadata.rawPayload=true")
        self.assertEqual(self.delivered("/raw-in")[0]["body"], b'{"legacy": true}')
        self.sc.publish("raw-in", b"not json", query="metadata.rawPayload=true")
        wait_until(lambda: len([d for d in self.sc.deliveries(topic="raw-in") if d["outcome"] == "retry"]) >= 2,
                   3, "two retries of the raw non-JSON message")
        self.assertEqual(len(self.app.got("POST", "/raw-in")), 1)
        self.sc.publish("raw-sub", b"hello")
        w = json.loads(self.delivered("/raw-sub")[0]["body"])
        m = self.sc.last_published("raw-sub")
        self.assertEqual(base64.b64decode(w["data_base64"]), m["data"].encode())
        self.assertEqual((w["datacontenttype"], w["source"]), ("application/octet-stream", "Dapr"))

    def test_broadcast_component_delivers_once(self):
        """Brief: pubsub-broadcast is its own component and delivers once per subscription."""
        self.sc.publish("fanout", b"all", pubsub="pubsub-broadcast")
        req = self.delivered("/fanout")[0]
        self.assertEqual(req["headers"]["pubsubname"], "pubsub-broadcast")
        time.sleep(0.3)
        self.assertEqual(len(self.app.got("POST", "/fanout")), 1)
        self.assertEqual(self.sc.publish("fanout", b"x", pubsub="broadcast")[0], 404)


# ---------------------------------------------------------------------------------------------
# 3 / 12.4: state
# ---------------------------------------------------------------------------------------------


class StateTests(SidecarCase):
    S = "/v1.0/state/statestore"

    def save(self, items, query=""):
        return self.sc.request("POST", self.S + query, items)

    def get(self, key):
        return self.sc.request("GET", f"{self.S}/{key}")

    def test_save_204_get_200_with_raw_etag(self):
        """3.2, 3.3, 12.4: save is 204; GET is 200 with the stored JSON and an unquoted ETag."""
        st, _, body = self.save([{"key": "a", "value": {"x": 1}}])
        self.assertEqual((st, body), (204, b""))
        st, hdrs, body = self.get("a")
        self.assertEqual((st, body), (200, b'{"x":1}'))
        self.assertEqual(hdrs["content-type"], "application/json")
        self.assertRegex(hdrs["etag"], r"^\d+$")
        first = int(hdrs["etag"])
        self.save([{"key": "a", "value": {"x": 2}}])
        self.assertEqual(int(self.get("a")[1]["etag"]), first + 1)

    def test_get_missing_key_is_204(self):
        """3.3, 12.4: a missing key is 204 with an empty body."""
        st, hdrs, body = self.get("never-saved")
        self.assertEqual((st, body), (204, b""))
        self.assertNotIn("etag", hdrs)

    def test_values_are_stored_as_go_json(self):
        """3.2: a string comes back with its quotes; integers above 2^53 lose precision; objects
        come back with sorted keys and Go's HTML escaping."""
        self.save([{"key": "s", "value": "abc"}, {"key": "big", "value": 12345678901234567890},
                   {"key": "o", "value": {"b": 1.0, "a": "<&>"}}])
        self.assertEqual(self.get("s")[2], b'"abc"')
        self.assertEqual(self.get("big")[2], b"12345678901234567000")
        self.assertEqual(self.get("o")[2], b'{"a":"\\u003c\\u0026\\u003e","b":1}')

    def test_save_request_validation(self):
        """3.2: an empty array is 204; a missing key is 400; malformed JSON is 400; a non-string
        etag is 400 (ERR_MALFORMED_REQUEST)."""
        self.assertEqual(self.save([])[0], 204)
        e = error_body(self, self.save([{"value": 1}]), 400, "ERR_MALFORMED_REQUEST")
        self.assertEqual(e["message"], '"key" is a required field')
        error_body(self, self.sc.request("POST", self.S, b"[{"), 400, "ERR_MALFORMED_REQUEST")
        error_body(self, self.save([{"key": "k", "value": 1, "etag": 1}]), 400, "ERR_MALFORMED_REQUEST")

    def test_unknown_store_is_400(self):
        """3.2, 3.3: unknown store -> 400 ERR_STATE_STORE_NOT_FOUND."""
        error_body(self, self.sc.request("POST", "/v1.0/state/redis", [{"key": "k", "value": 1}]), 400,
                   "ERR_STATE_STORE_NOT_FOUND", "DAPR_STATE_NOT_FOUND")
        error_body(self, self.sc.request("GET", "/v1.0/state/redis/k"), 400, "ERR_STATE_STORE_NOT_FOUND")

    def test_etag_match_and_mismatch_on_save(self):
        """3.2, 3.8, 12.4: the right etag saves (204), a stale one is 409 ERR_STATE_SAVE and
        changes nothing, a non-integer one is 400."""
        self.save([{"key": "e", "value": 1}])
        etag = self.get("e")[1]["etag"]
        self.assertEqual(self.save([{"key": "e", "value": 2, "etag": etag}])[0], 204)
        error_body(self, self.save([{"key": "e", "value": 3, "etag": etag}]), 409, "ERR_STATE_SAVE")
        self.assertEqual(self.get("e")[2], b"2")
        error_body(self, self.save([{"key": "e", "value": 4, "etag": '"1"'}]), 400, "ERR_STATE_SAVE")

    def test_first_write_and_bad_options(self):
        """3.8: after a first-write save, writes without the etag fail; invalid options are 500."""
        self.save([{"key": "fw", "value": 1, "options": {"concurrency": "first-write"}}])
        error_body(self, self.save([{"key": "fw", "value": 2}]), 500, "ERR_STATE_SAVE")
        etag = self.get("fw")[1]["etag"]
        self.assertEqual(self.save([{"key": "fw", "value": 3, "etag": etag}])[0], 204)
        error_body(self, self.save([{"key": "o", "value": 1, "options": {"concurrency": "sometimes"}}]), 500,
                   "ERR_STATE_SAVE")

    def test_delete_with_if_match(self):
        """3.5, 12.4: DELETE with a stale If-Match is 409; the right one is 204; a missing key is
        204; a quoted etag is 400."""
        self.save([{"key": "d", "value": 1}])
        etag = self.get("d")[1]["etag"]
        error_body(self, self.sc.request("DELETE", f"{self.S}/d", headers={"If-Match": str(int(etag) + 5)}), 409,
                   "ERR_STATE_DELETE")
        error_body(self, self.sc.request("DELETE", f"{self.S}/d", headers={"If-Match": f'"{etag}"'}), 400,
                   "ERR_STATE_DELETE")
        self.assertEqual(self.sc.request("DELETE", f"{self.S}/d", headers={"If-Match": etag})[0], 204)
        self.assertEqual(self.get("d")[0], 204)
        self.assertEqual(self.sc.request("DELETE", f"{self.S}/d")[0], 204)

    def test_double_pipe_in_key_is_400(self):
        """3.1, 12.4: a key containing `||` is 400 ERR_MALFORMED_REQUEST everywhere."""
        error_body(self, self.save([{"key": "a||b", "value": 1}]), 400, "ERR_MALFORMED_REQUEST")
        error_body(self, self.get("a||b"), 400, "ERR_MALFORMED_REQUEST")
        error_body(self, self.sc.request("DELETE", f"{self.S}/a||b"), 400, "ERR_MALFORMED_REQUEST")
        error_body(self, self.sc.request("POST", f"{self.S}/bulk", {"keys": ["ok", "a||b"]}), 400,
                   "ERR_MALFORMED_REQUEST")
        error_body(self, self.sc.request("POST", f"{self.S}/transaction",
                                         {"operations": [{"operation": "upsert", "request": {"key": "a||b", "value": 1}}]}),
                   400, "ERR_MALFORMED_REQUEST")

    def test_bulk_and_transaction_bodies_must_be_objects(self):
        """12.4: a body that is not a JSON object is 400 ERR_MALFORMED_REQUEST; null is empty."""
        for path in ("bulk", "transaction"):
            st, hdrs, body = self.sc.request("POST", f"{self.S}/{path}", [1])
            error_body(self, (st, hdrs, body), 400, "ERR_MALFORMED_REQUEST")
            self.assertIn("cannot unmarshal array", json.loads(body)["message"])
        self.assertEqual(self.sc.request("POST", f"{self.S}/bulk", b"null")[0], 200)
        self.assertEqual(self.sc.request("POST", f"{self.S}/transaction", b"null")[0], 204)

    def test_keys_are_prefixed_with_the_app_id(self):
        """3.1: stored as <appId>||<key>."""
        self.save([{"key": "prefixed", "value": 1}])
        self.assertIn("taskflow||prefixed", self.sc.ctl("GET", "/state")[1]["statestore"])

    def test_ttl_expires_keys(self):
        """3.2: metadata.ttlInSeconds (item or query) makes the key read as missing once expired."""
        self.save([{"key": "t1", "value": 1, "metadata": {"ttlInSeconds": "1"}}])
        self.save([{"key": "t2", "value": 2}], query="?metadata.ttlInSeconds=1")
        self.save([{"key": "t3", "value": 3}])
        self.assertEqual((self.get("t1")[0], self.get("t2")[0]), (200, 200))
        time.sleep(1.2)
        self.assertEqual((self.get("t1")[0], self.get("t2")[0], self.get("t3")[0]), (204, 204, 200))

    def test_bulk_get_uses_data(self):
        """3.4, 12.4: 200 with [{key, data, etag}] in order; a missing key has only `key`."""
        self.save([{"key": "b1", "value": {"v": 1}}])
        st, hdrs, body = self.sc.request("POST", f"{self.S}/bulk", {"keys": ["b1", "b-missing"], "parallelism": 2})
        self.assertEqual(st, 200)
        got = json.loads(body)
        self.assertEqual(got[0]["key"], "b1")
        self.assertEqual(got[0]["data"], {"v": 1})
        self.assertRegex(got[0]["etag"], r"^\d+$")
        self.assertNotIn("value", got[0])
        self.assertEqual(got[1], {"key": "b-missing"})

    def test_transaction(self):
        """3.6, 12.4: upserts and deletes are 204; an empty operation list is 204; an unknown
        operation is 400."""
        self.save([{"key": "tx-del", "value": 1}])
        ops = {"operations": [{"operation": "upsert", "request": {"key": "tx-new", "value": {"n": 1}}},
                              {"operation": "delete", "request": {"key": "tx-del"}}]}
        self.assertEqual(self.sc.request("POST", f"{self.S}/transaction", ops)[0], 204)
        self.assertEqual(self.get("tx-new")[2], b'{"n":1}')
        self.assertEqual(self.get("tx-del")[0], 204)
        self.assertEqual(self.sc.request("POST", f"{self.S}/transaction", {"operations": []})[0], 204)
        error_body(self, self.sc.request("POST", f"{self.S}/transaction",
                                         {"operations": [{"operation": "merge", "request": {"key": "k"}}]}),
                   400, "ERR_NOT_SUPPORTED_STATE_OPERATION")

    def test_transaction_etag_mismatch_is_500_not_409(self):
        """3.6, 12.4: an etag mismatch inside a transaction is 500 ERR_STATE_TRANSACTION."""
        self.save([{"key": "tx-e", "value": 1}])
        etag = self.get("tx-e")[1]["etag"]
        ops = {"operations": [{"operation": "upsert",
                               "request": {"key": "tx-e", "value": 2, "etag": str(int(etag) + 7)}}]}
        error_body(self, self.sc.request("POST", f"{self.S}/transaction", ops), 500, "ERR_STATE_TRANSACTION")
        self.assertEqual(self.get("tx-e")[2], b"1")


# ---------------------------------------------------------------------------------------------
# 4.1 / 12.6: cron bindings
# ---------------------------------------------------------------------------------------------


class CronTests(SidecarCase):
    ARGS = ["--cron", "tick:0.3", "--cron", "nightly:3600", "--cron", "fails:3600"]

    @classmethod
    def configure_app(cls, app):
        app.script("OPTIONS", "/nightly", (405, ""))
        app.script("POST", "/fails", (500, "no"))

    def test_cron_posts_with_empty_body_and_time_headers(self):
        """4.1, 12.6: every interval, POST /<binding>, empty body, Content-Type application/json,
        timeZone (Go's name of the local zone) and readTimeUTC (Go's UTC time string)."""
        reqs = self.app.wait("POST", "/tick", 2, timeout=3)
        expected_tz = "Local" if os.path.exists("/etc/localtime") else "UTC"
        for r in reqs[:2]:
            self.assertEqual(r["body"], b"")
            self.assertEqual(r["headers"].get("content-length"), "0")
            self.assertEqual(r["headers"].get("content-type"), "application/json")
            self.assertEqual(r["headers"].get("timezone"), expected_tz)
            self.assertRegex(r["headers"].get("readtimeutc", ""), GO_UTC_RE)
            t = datetime.datetime.strptime(r["headers"]["readtimeutc"][:19], "%Y-%m-%d %H:%M:%S")
            self.assertLess(abs(t.replace(tzinfo=datetime.timezone.utc).timestamp() - r["time"]), 2)
        self.assertGreaterEqual(reqs[1]["time"] - reqs[0]["time"], 0.2)

    def test_probe_405_starts_the_binding_and_fire_now(self):
        """4.1: an OPTIONS answer of 405 counts as subscribed; the control API fires it now."""
        st, res = self.sc.ctl("POST", "/cron/nightly")
        self.assertEqual((st, res["status"]), (200, 200))
        self.app.wait("POST", "/nightly")

    def test_failed_trigger_is_not_retried(self):
        """4.1: a non-200 answer is logged, not redelivered."""
        self.assertEqual(self.sc.ctl("POST", "/cron/fails")[1]["status"], 500)
        time.sleep(0.4)
        self.assertEqual(len(self.app.got("POST", "/fails")), 1)


# ---------------------------------------------------------------------------------------------
# 5 / 12.7: jobs
# ---------------------------------------------------------------------------------------------


class JobTests(SidecarCase):
    ARGS = ["--job-retry-interval-ms", "100"]

    @classmethod
    def configure_app(cls, app):
        app.script("POST", "/job/flaky", (500, ""))
        app.script("POST", "/job/gone", (404, ""))

    def test_due_time_job_calls_the_app_with_its_data(self):
        """5, 12.7: POST /job/<name>, Content-Type application/json, body = data; one-shot jobs go away."""
        self.assertEqual(self.sc.request("POST", "/v1.0/jobs/remind-1", {"dueTime": "0s", "data": {"task": "t1"}})[0], 204)
        r = self.app.wait("POST", "/job/remind-1")[0]
        self.assertEqual(json.loads(r["body"]), {"task": "t1"})
        self.assertEqual(r["headers"]["content-type"], "application/json")
        wait_until(lambda: self.sc.request("GET", "/v1.0/jobs/remind-1")[0] == 500, 3, "the one-shot job to go")

    def test_existing_name_needs_overwrite(self):
        """5: re-scheduling an existing name without overwrite is 409; with overwrite 204."""
        body = {"schedule": "@every 1h", "data": 1}
        self.assertEqual(self.sc.request("POST", "/v1.0/jobs/dup", body)[0], 204)
        error_body(self, self.sc.request("POST", "/v1.0/jobs/dup", body), 409, "DAPR_SCHEDULER_SCHEDULE_JOB")
        self.assertEqual(self.sc.request("POST", "/v1.0/jobs/dup", dict(body, overwrite=True))[0], 204)

    def test_name_in_body_is_400(self):
        """5: the name belongs in the URL only."""
        error_body(self, self.sc.request("POST", "/v1.0/jobs/n", {"name": "n", "dueTime": "1h"}), 400,
                   "DAPR_SCHEDULER_JOB_NAME", "DAPR_SCHEDULER_JOB_NAME")

    def test_schedule_needs_six_fields(self):
        """5: 5-field cron is rejected, 6 fields (seconds first) and descriptors are accepted."""
        error_body(self, self.sc.request("POST", "/v1.0/jobs/five", {"schedule": "0 * * * *"}), 500,
                   "DAPR_SCHEDULER_SCHEDULE_JOB")
        self.assertEqual(self.sc.request("POST", "/v1.0/jobs/six", {"schedule": "0 0 * * * *"})[0], 204)
        self.assertEqual(self.sc.request("POST", "/v1.0-alpha1/jobs/desc", {"schedule": "@daily"})[0], 204)

    def test_get_and_delete(self):
        """5: GET gives the job with data in an Any wrapper; a missing job is 500; DELETE is 204."""
        self.sc.request("POST", "/v1.0/jobs/g", {"schedule": "@every 1h", "data": {"k": "v"}})
        st, _, body = self.sc.request("GET", "/v1.0/jobs/g")
        self.assertEqual(st, 200)
        job = json.loads(body)
        self.assertEqual(job["name"], "g")
        self.assertEqual(job["data"], {"@type": "type.googleapis.com/google.protobuf.Value", "value": {"k": "v"}})
        self.assertEqual(self.sc.request("DELETE", "/v1.0/jobs/g")[0], 204)
        error_body(self, self.sc.request("GET", "/v1.0/jobs/g"), 500, "DAPR_SCHEDULER_GET_JOB")

    def test_failed_callback_retries_then_gives_up_and_404_is_done(self):
        """5, 12.7: anything but 2xx/404 retries (default policy: 3 retries); 404 counts as done."""
        self.sc.request("POST", "/v1.0/jobs/flaky", {"dueTime": "0s"})
        self.sc.request("POST", "/v1.0/jobs/gone", {"dueTime": "0s"})
        reqs = self.app.wait("POST", "/job/flaky", 4, timeout=3)
        time.sleep(0.4)
        self.assertEqual(len(self.app.got("POST", "/job/flaky")), 4)
        self.assertGreaterEqual(reqs[1]["time"] - reqs[0]["time"], 0.09)
        self.assertEqual(len(self.app.got("POST", "/job/gone")), 1)


# ---------------------------------------------------------------------------------------------
# Other routes
# ---------------------------------------------------------------------------------------------


class RouteTests(SidecarCase):
    def test_unknown_route_404_and_wrong_method_405(self):
        """0: an unknown route is 404; a known route with another method is 405."""
        self.assertEqual(self.sc.request("GET", "/v1.0/nothing-here")[0], 404)
        self.assertEqual(self.sc.request("GET", "/v1.0/publish/pubsub/orders")[0], 405)

    def test_metadata(self):
        """6: GET /v1.0/metadata is 200 JSON with the app id and the components."""
        st, hdrs, body = self.sc.request("GET", "/v1.0/metadata")
        self.assertEqual(st, 200)
        md = json.loads(body)
        self.assertEqual(md["id"], "taskflow")
        self.assertEqual({c["name"] for c in md["components"]}, {"pubsub", "pubsub-broadcast", "statestore"})

    def test_output_binding_is_500(self):
        """4.2: no output binding is configured: 500 ERR_INVOKE_OUTPUT_BINDING; malformed JSON 400."""
        error_body(self, self.sc.request("POST", "/v1.0/bindings/mail", {"data": 1, "operation": "create"}), 500,
                   "ERR_INVOKE_OUTPUT_BINDING")
        error_body(self, self.sc.request("POST", "/v1.0/bindings/mail", b"{"), 400, "ERR_MALFORMED_REQUEST")


if __name__ == "__main__":
    unittest.main()
