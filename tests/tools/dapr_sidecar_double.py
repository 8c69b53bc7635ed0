#!/usr/bin/env python3
"""Sidecar double: a stand-in for the Dapr sidecar's HTTP API, for TaskFlow's tests.

TEST TOOL ONLY. It is built for TaskFlow's test suite and is never shipped, installed or run in
production. It is not Dapr, contains no Dapr code and does not pretend to be Dapr: it implements,
from the contract in shared/docs/dapr-contract.md ("the contract", section numbers below), the
subset of the sidecar HTTP surface that TaskFlow talks to, and it is strict: what the real sidecar
rejects, it rejects, with the same status codes and error bodies (contract 0.1). Python 3.11,
standard library only.

Usage:
  python3 tests/tools/dapr_sidecar_double.py --dapr-http-port P --app-port A
      [--app-id taskflow] [--dapr-api-token T] [--app-api-token T2]
      [--pubsub NAME[:broadcast]]... [--state-store NAME]... [--cron NAME:SECONDS[:input]]...
      [--scoped-topic PUBSUB:TOPIC]... [--control-port C] [--retry-interval-ms 200]
      [--max-retries -1] [--job-retry-interval-ms 1000] [--job-max-retries 3]
      [--app-timeout-s 60] [--listen-address 127.0.0.1] [--app-channel-address 127.0.0.1]
      [--shared-broker]

  --dapr-http-port P     the sidecar API port (the app's DAPR_HTTP_PORT).
  --app-port A           the app's port. Optional: without it nothing is called on the app and
                         /v1.0/healthz is ready at once (contract 6).
  --app-id ID            app-id (default taskflow): envelope `source`, state key prefix `ID||`.
  --dapr-api-token T     require `dapr-api-token: T` on every route except GET /v1.0/healthz and
                         GET /v1.0/healthz/outbound (else 401 text/plain, contract 7). Falls back
                         to $DAPR_API_TOKEN, like the real sidecar.
  --app-api-token T2     send `dapr-api-token: T2` on every call to the app (config, subscribe,
                         OPTIONS probes, deliveries, bindings, jobs). Falls back to $APP_API_TOKEN.
  --pubsub NAME[:broadcast]  a pub/sub component (repeatable; replaces the defaults `pubsub` (work:
                         one delivery per event, one consumer group) and `pubsub-broadcast`).
                         With one app per sidecar both kinds deliver once per subscription.
  --state-store NAME     a state store (repeatable; replaces the default `statestore`). Redis
                         semantics: integer ETags, first-write/last-write, TTL, no rollback.
  --cron NAME:SECONDS[:input]  a cron input binding firing every SECONDS (fractions allowed, a
                         test convenience: real `@every` rounds to whole seconds) from binding
                         start. Unless `:input` (direction input) is given, it is started only if
                         the app answers the OPTIONS probe with 2xx or 405 (contract 4.1).
  --scoped-topic PUBSUB:TOPIC  publishing TOPIC on PUBSUB is not allowed for this app-id (as if it
                         were missing from publishingScopes): 403 ERR_PUBSUB_FORBIDDEN.
  --control-port C       serve the control API (below) on C. Default: none.
  --retry-interval-ms N  constant back-off between redeliveries (default 200; the Kafka component
                         default is 5 s, shortened for tests).
  --max-retries N        redeliveries before giving up (default -1: forever, like the Kafka
                         component's backOffMaxRetries -1, contract 2.3).
  --job-retry-interval-ms / --job-max-retries  default job failure policy (1000 ms x 3, contract 5).
  --peer CONTROL_URL     another replica's sidecar double (its control API), on the same
                         broker: what this one publishes reaches the peer's subscriptions of
                         per-replica (broadcast) components; the work component's group is
                         shared, so only the publishing side delivers it. Repeatable.
  --shared-broker        all pub/sub components read the same topics, as several pubsub.kafka
                         components on one cluster do (each with its own consumer group): a
                         message published on one is delivered to the subscriptions of every
                         component for that topic. Default: each component is its own broker.

It prints one line `READY` on stdout once its ports listen, and logs to stderr.

Behaviour (contract sections):
  0.1  errors are {"errorCode","message"[,"details":[ErrorInfo]]} application/json; success
       without body is 204; a bad token is 401 text/plain "invalid api token".
  0.2  only `metadata.*` query parameters are read (prefix stripped); others are ignored.
  1.1/1.2  POST|PUT /v1.0/publish/{pubsub}/{topic...}: 404 unknown pubsub or empty topic, 403
       scoped topic, 400 bad metadata.rawPayload, 500 bad cloudevents+json body, 204 otherwise.
       The body is wrapped in the CloudEvent envelope (unless rawPayload=true); cloudevents+json
       bodies are kept (topic/pubsubname overwritten, defaults filled). The envelope is serialised
       the way Go's encoding/json does (sorted keys, HTML escaping, numbers kept exactly).
  1.3  bulk publish (v1.0 and v1.0-alpha1).
  2.1  after the app port opens: GET /dapr/config, GET /dapr/subscribe (with dapr-app-id), then
       OPTIONS /<binding>. Subscriptions: `route` (v1) or `routes` {rules, default}; CEL rules
       support a subset (==, !=, <, <=, >, >=, &&, ||, !, has(), startsWith/endsWith/contains,
       string/number/bool literals). Field names decode case-insensitively, as in Go.
  2.3  deliveries: POST route, Content-Type application/cloudevents+json, the stored envelope as
       body, headers pubsubName, Kafka metadata (__key, __topic, __partition, __offset,
       __timestamp, one per publish metadata entry), traceparent/tracestate when set, the app
       token. The reply is read exactly per the 2.3 table. Retries: constant back-off, per
       partition key in order (a message for key K waits until the earlier ones for K are done);
       messages without a key or with different keys go in parallel. deadLetterTopic: one
       failure, a DROP or a 404 sends the message to the DLQ topic and acks it. Expired events
       (metadata.ttlInSeconds) are dropped before delivery. Messages published before the
       subscriptions are loaded are delivered once they are (a consumer group starting at the
       oldest offset). Bulk subscribe is not supported (such a subscription is refused loudly).
  3    state: save/get/bulk/delete/transaction with Redis semantics (values stored as Go's
       json.Marshal of a float64-decoded value, so integers above 2^53 lose precision); `||` in a
       key is 400; 409 on ETag mismatch for save/delete, 500 in a transaction (no rollback: the
       other operations stay applied, as with Redis); TTL via metadata.ttlInSeconds.
       The alpha query API answers 500 ERR_STATE_STORE_NOT_SUPPORTED.
  4.1  cron bindings: POST /<name>, Content-Type application/json, empty body, headers timeZone
       and readTimeUTC; 200 expected, errors are logged and not retried.
  4.2  output bindings: none are configured, so POST /v1.0/bindings/{name} is 500.
  5    jobs (v1.0 and v1.0-alpha1): schedule (6 fields or descriptor; 5 fields rejected), dueTime,
       repeats, ttl, data, overwrite (409 without it), failurePolicy; callback POST /job/<name>;
       2xx and 404 are done, anything else retries. Schedules are evaluated in UTC.
  6    GET /v1.0/healthz/outbound is 204 from the start; GET /v1.0/healthz is 500
       ERR_HEALTH_NOT_READY until the app port accepts TCP and the init calls are done.
       GET /v1.0/metadata, PUT /v1.0/metadata/{key}, POST /v1.0/shutdown.
  7    tokens, as above.
  Not covered: actors, service invocation, secrets, configuration, locks, workflows, app health
  checks, declarative subscriptions, outbox, bulk subscribe, gRPC.

Control API (JSON over HTTP on --control-port):
  GET  /published[?pubsub=&topic=]   every published message, in order: seq, pubsub, topic,
                                     metadata, contentType, rawPayload, envelope (or null), data
                                     (the bytes given to the broker, as text), key, deadLetterOf
  GET  /deliveries[?topic=&route=]   every delivery attempt: seq, messageSeq, pubsub, topic, route,
                                     eventId, attempt, status (app status or null), reply, outcome
                                     (success|retry|drop), reason, key, headers, time
  GET  /app-calls[?kind=]            every call made to the app (kind: config, subscribe, probe,
                                     delivery, binding, job)
  GET  /subscriptions                loaded subscriptions, refused ones and the load error
  GET  /state                        state store contents (stored keys, values, etags, ttl)
  GET  /jobs                         scheduled jobs
  GET  /status                       ready flags, in-flight deliveries, publish failure mode
  POST /fail {"publish": "500"|"down"|null}
                                     "500": publish answers 500 ERR_PUBSUB_PUBLISH_MESSAGE;
                                     "down": the sidecar port stops listening (connections are
                                     refused, open ones are closed); null: back to normal
  POST /cron/{name}                  fire a cron binding now; answers {"status": <app status>}
  POST /reset [{"state": true}]      forget published messages, deliveries and app calls (and the
                                     state stores with {"state": true})
"""

import argparse
import base64
import collections
import datetime
import decimal
import http.client
import json
import math
import os
import re
import socket
import sys
import threading
import time
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TOOL_NAME = "sidecar-double"

# ---------------------------------------------------------------------------------------------
# Logging
# ---------------------------------------------------------------------------------------------

_log_lock = threading.Lock()


def log(level, msg):
    ts = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    with _log_lock:
        sys.stderr.write(f"{ts} {TOOL_NAME} {level} {msg}\n")
        sys.stderr.flush()


# ---------------------------------------------------------------------------------------------
# JSON the way Go's encoding/json reads and writes it
# ---------------------------------------------------------------------------------------------


class GoJSONError(ValueError):
    pass


class RawNumber:
    """A JSON number kept as its text (Go's json.Number, i.e. Decoder.UseNumber)."""

    __slots__ = ("text",)

    def __init__(self, text):
        self.text = text

    def value(self):
        try:
            return int(self.text)
        except ValueError:
            return float(self.text)

    def __repr__(self):
        return f"RawNumber({self.text})"


class RawJSON:
    """Pre-serialised JSON spliced as is (Go's json.RawMessage)."""

    __slots__ = ("text",)

    def __init__(self, text):
        self.text = text


class GoObj(dict):
    """A decoded JSON object that also keeps its key/value pairs in order, because Go assigns struct
    fields pair by pair with case-insensitive names (the last matching pair wins)."""

    __slots__ = ("pairs",)

    def __init__(self, pairs=()):
        pairs = list(pairs)
        super().__init__(pairs)
        self.pairs = pairs


class Struct(dict):
    """A dict serialised in insertion order (a Go struct), not sorted (a Go map)."""


def _pairs_hook(pairs):
    return GoObj(pairs)


def _reject_constant(name):
    raise GoJSONError(f"invalid character '{name[0]}' looking for beginning of value")


def _float64(text):
    f = float(text)
    if math.isinf(f):
        raise GoJSONError(f"json: cannot unmarshal number {text} into Go value of type float64")
    return f


# Decoder.UseNumber(): numbers keep their text (the CloudEvent envelope, contract 1.2).
_DEC_PRECISE = json.JSONDecoder(object_pairs_hook=_pairs_hook, parse_float=RawNumber,
                                parse_int=RawNumber, parse_constant=_reject_constant)
# Plain decoding into `any`: every number is a float64 (state values, contract 3.2).
_DEC_FLOAT = json.JSONDecoder(object_pairs_hook=_pairs_hook, parse_float=_float64,
                              parse_int=_float64, parse_constant=_reject_constant)


def _text(data):
    if isinstance(data, (bytes, bytearray)):
        return bytes(data).decode("utf-8", errors="replace")
    return data


def go_decode(data, precise=False, whole=False):
    """json.NewDecoder(r).Decode(&v) (first value, the rest ignored) or, with whole=True,
    json.Unmarshal (the rest must be white space). Raises GoJSONError."""
    text = _text(data)
    dec = _DEC_PRECISE if precise else _DEC_FLOAT
    i = 0
    n = len(text)
    while i < n and text[i] in " \t\r\n":
        i += 1
    if i == n:
        raise GoJSONError("EOF" if not whole else "unexpected end of JSON input")
    try:
        value, end = dec.raw_decode(text, i)
    except json.JSONDecodeError as e:
        raise GoJSONError(f"invalid JSON: {e.msg} at offset {e.pos}") from None
    except (ValueError, RecursionError) as e:
        raise GoJSONError(str(e)) from None
    if whole and text[end:].strip(" \t\r\n"):
        raise GoJSONError("invalid character after top-level value")
    return value


_ESCAPE_RE = re.compile('[\\x00-\\x1f"\\\\<>&\u2028\u2029\ud800-\udfff]')
_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b", "\f": "\\f", '"': '\\"', "\\": "\\\\"}


def _escape_char(m):
    c = m.group(0)
    if c in _ESCAPES:
        return _ESCAPES[c]
    o = ord(c)
    if 0xD800 <= o <= 0xDFFF:
        return "\ufffd"
    return "\\u%04x" % o


def go_quote(s):
    return '"' + _ESCAPE_RE.sub(_escape_char, s) + '"'


def go_float(f):
    """strconv.AppendFloat(f, 'f' or 'e', -1, 64) the way encoding/json picks it."""
    if math.isnan(f) or math.isinf(f):
        raise GoJSONError(f"json: unsupported value: {f}")
    if f == 0:
        return "-0" if math.copysign(1.0, f) < 0 else "0"
    d = decimal.Decimal(repr(f))
    a = abs(f)
    if a < 1e-6 or a >= 1e21:
        sign, digits, exp = d.normalize().as_tuple()
        ds = "".join(map(str, digits))
        sci = exp + len(ds) - 1
        mant = ds[0] + ("." + ds[1:] if len(ds) > 1 else "")
        es = ("-" if sci < 0 else "+") + ("%02d" % abs(sci))
        if es.startswith("-0"):
            es = "-" + es[2:]
        return ("-" if sign else "") + mant + "e" + es
    s = format(d.normalize(), "f")
    return s


def go_marshal(v):
    out = []
    _marshal(v, out)
    return "".join(out)


def _marshal(v, out):
    if v is None:
        out.append("null")
    elif v is True:
        out.append("true")
    elif v is False:
        out.append("false")
    elif isinstance(v, RawNumber):
        out.append(v.text)
    elif isinstance(v, RawJSON):
        out.append(v.text)
    elif isinstance(v, float):
        out.append(go_float(v))
    elif isinstance(v, int):
        out.append(str(v))
    elif isinstance(v, str):
        out.append(go_quote(v))
    elif isinstance(v, dict):
        keys = list(v.keys()) if isinstance(v, Struct) else sorted(v.keys())
        out.append("{")
        for i, k in enumerate(keys):
            if i:
                out.append(",")
            out.append(go_quote(k))
            out.append(":")
            _marshal(v[k], out)
        out.append("}")
    elif isinstance(v, (list, tuple)):
        out.append("[")
        for i, x in enumerate(v):
            if i:
                out.append(",")
            _marshal(x, out)
        out.append("]")
    else:
        raise GoJSONError(f"json: unsupported type {type(v).__name__}")


def to_plain(v):
    """RawNumber/GoObj trees to plain JSON-able Python values (for the control API)."""
    if isinstance(v, RawNumber):
        return v.value()
    if isinstance(v, RawJSON):
        return json.loads(v.text)
    if isinstance(v, dict):
        return {k: to_plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [to_plain(x) for x in v]
    return v


def go_field(obj, name):
    """Go struct decoding: the value of the last pair whose key equals `name` case-insensitively,
    or (False, None) if there is none."""
    found = (False, None)
    pairs = obj.pairs if isinstance(obj, GoObj) else list(obj.items())
    lname = name.casefold()
    for k, v in pairs:
        if k == name or k.casefold() == lname:
            found = (True, v)
    return found


class DecodeError(Exception):
    pass


def _go_type(v):
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, (float, int, RawNumber)):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "array"
    return "object"


def want_str(v, where):
    """A Go `string` field: JSON null leaves it empty, anything but a string is an error."""
    if v is None:
        return ""
    if not isinstance(v, str):
        raise DecodeError(f"json: cannot unmarshal {_go_type(v)} into Go struct field {where} of type string")
    return v


def want_opt_str(v, where):
    """A Go `*string` field: null stays nil."""
    if v is None:
        return None
    return want_str(v, where)


def want_str_map(v, where):
    """A Go `map[string]string` field."""
    if v is None:
        return None
    if not isinstance(v, dict):
        raise DecodeError(f"json: cannot unmarshal {_go_type(v)} into Go struct field {where} of type map[string]string")
    out = {}
    for k, x in (v.pairs if isinstance(v, GoObj) else v.items()):
        if x is None:
            out[k] = ""
            continue
        if not isinstance(x, str):
            raise DecodeError(f"json: cannot unmarshal {_go_type(x)} into Go struct field {where} of type string")
        out[k] = x
    return out


def decode_body_object(body, go_type):
    """json.Unmarshal of a request body into a Go struct: null leaves it empty."""
    r = go_decode(body)
    if r is None:
        return GoObj()
    if not isinstance(r, dict):
        raise DecodeError(f"json: cannot unmarshal {_go_type(r)} into Go value of type {go_type}")
    return r


def want_obj(v, where):
    if v is None:
        return None
    if not isinstance(v, dict):
        raise DecodeError(f"json: cannot unmarshal {_go_type(v)} into Go struct field {where} of type object")
    return v


def go_parse_bool(s):
    """strconv.ParseBool."""
    if s in ("1", "t", "T", "TRUE", "true", "True"):
        return True
    if s in ("0", "f", "F", "FALSE", "false", "False"):
        return False
    raise ValueError(f'strconv.ParseBool: parsing "{s}": invalid syntax')


_ATOI_RE = re.compile(r"^[+-]?[0-9]+$")


def go_atoi(s):
    if not _ATOI_RE.match(s):
        raise ValueError(f'strconv.Atoi: parsing "{s}": invalid syntax')
    return int(s)


_DUR_RE = re.compile(r"([0-9]*\.?[0-9]+|[0-9]+\.)(ns|us|µs|μs|ms|s|m|h)")
_DUR_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def go_duration(s):
    """time.ParseDuration, in seconds."""
    orig = s
    sign = 1.0
    if s[:1] in "+-" and s:
        sign = -1.0 if s[0] == "-" else 1.0
        s = s[1:]
    if s == "0":
        return 0.0
    if not s:
        raise ValueError(f'time: invalid duration "{orig}"')
    total = 0.0
    pos = 0
    while pos < len(s):
        m = _DUR_RE.match(s, pos)
        if not m:
            raise ValueError(f'time: invalid duration "{orig}"')
        total += float(m.group(1)) * _DUR_UNITS[m.group(2)]
        pos = m.end()
    return sign * total


_ISO_DUR_RE = re.compile(r"^P(?:(\d+(?:\.\d+)?)Y)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)W)?(?:(\d+(?:\.\d+)?)D)?"
                         r"(?:T(?:(\d+(?:\.\d+)?)H)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)S)?)?$")


def iso8601_duration(s):
    m = _ISO_DUR_RE.match(s)
    if not m or s in ("P", "PT") or s.endswith("T"):
        raise ValueError(f"invalid ISO 8601 duration {s!r}")
    y, mo, w, d, h, mi, se = (float(x) if x else 0.0 for x in m.groups())
    return (((y * 365 + mo * 30 + w * 7 + d) * 24 + h) * 60 + mi) * 60 + se


def parse_rfc3339(s):
    """time.Parse(time.RFC3339, s) -> epoch seconds."""
    m = re.match(r"^(\d{4})-(\d\d)-(\d\d)[Tt](\d\d):(\d\d):(\d\d)(\.\d+)?([Zz]|[+-]\d\d:\d\d)$", s)
    if not m:
        raise ValueError(f"not RFC3339: {s!r}")
    y, mo, d, h, mi, se = (int(m.group(i)) for i in range(1, 7))
    frac = float(m.group(7)) if m.group(7) else 0.0
    tz = m.group(8)
    if tz in ("Z", "z"):
        off = datetime.timezone.utc
    else:
        sign = -1 if tz[0] == "-" else 1
        off = datetime.timezone(sign * datetime.timedelta(hours=int(tz[1:3]), minutes=int(tz[4:6])))
    dt = datetime.datetime(y, mo, d, h, mi, se, tzinfo=off)
    return dt.timestamp() + frac


def rfc3339(epoch):
    """time.Format(time.RFC3339) of a UTC time (whole seconds, `Z`)."""
    return datetime.datetime.fromtimestamp(int(math.floor(epoch)), datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def go_utc_string(epoch_ns):
    """time.Time.String() of a UTC time: 2006-01-02 15:04:05.999999999 +0000 UTC."""
    secs, ns = divmod(epoch_ns, 1_000_000_000)
    base = datetime.datetime.fromtimestamp(secs, datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
    frac = ("%09d" % ns).rstrip("0")
    return base + ("." + frac if frac else "") + " +0000 UTC"


def go_local_zone_name():
    """The name Go gives time.Local (what the cron binding reports as timeZone)."""
    tz = os.environ.get("TZ")
    if tz is None:
        return "Local" if os.path.exists("/etc/localtime") else "UTC"
    if tz.startswith(":"):
        tz = tz[1:]
    if tz == "" or tz == "UTC":
        return "UTC"
    if tz.startswith("/"):
        if os.path.exists(tz):
            return "Local" if tz == "/etc/localtime" else tz
        return "UTC"
    for base in ("/usr/share/zoneinfo", "/usr/share/lib/zoneinfo", "/usr/lib/locale/TZ"):
        if os.path.exists(os.path.join(base, tz)):
            return tz
    return "UTC"


# ---------------------------------------------------------------------------------------------
# Dapr error bodies (contract 0.1)
# ---------------------------------------------------------------------------------------------


class Resp:
    def __init__(self, status, body=b"", ctype=None, headers=None):
        self.status = status
        self.body = body if isinstance(body, bytes) else body.encode("utf-8")
        self.ctype = ctype
        self.headers = headers or []


def api_error(status, code, message, reason=None, meta=None):
    body = Struct(errorCode=code, message=message)
    if reason:
        info = Struct()
        info["@type"] = "type.googleapis.com/google.rpc.ErrorInfo"
        info["reason"] = reason
        info["domain"] = "dapr.io"
        if meta:
            info["metadata"] = dict(meta)
        body["details"] = [info]
    return Resp(status, go_marshal(body), "application/json")


def empty():
    return Resp(204)


def json_resp(status, obj, newline=True):
    return Resp(status, go_marshal(obj) + ("\n" if newline else ""), "application/json")


# ---------------------------------------------------------------------------------------------
# A small CEL subset for routing rules (contract 2.1)
# ---------------------------------------------------------------------------------------------


class CELError(Exception):
    pass


_CEL_TOKEN = re.compile(r"""\s*(?:(?P<num>\d+\.\d*(?:[eE][+-]?\d+)?|\d+(?:[eE][+-]?\d+)?|\.\d+)|(?P<str>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')|(?P<op>==|!=|<=|>=|&&|\|\||[<>!().\[\],])|(?P<id>[A-Za-z_][A-Za-z0-9_]*))""")


def _cel_tokens(src):
    pos = 0
    toks = []
    src = src.strip()
    while pos < len(src):
        m = _CEL_TOKEN.match(src, pos)
        if not m or m.end() == pos:
            raise CELError(f"unsupported CEL at {pos}: {src[pos:pos + 20]!r}")
        pos = m.end()
        if m.group("num") is not None:
            t = m.group("num")
            toks.append(("lit", float(t) if any(c in t for c in ".eE") else int(t)))
        elif m.group("str") is not None:
            toks.append(("lit", _cel_string(m.group("str"))))
        elif m.group("op") is not None:
            toks.append(("op", m.group("op")))
        else:
            ident = m.group("id")
            if ident in ("true", "false"):
                toks.append(("lit", ident == "true"))
            elif ident == "null":
                toks.append(("lit", None))
            else:
                toks.append(("id", ident))
    return toks


def _cel_string(tok):
    """A CEL string literal (double or single quotes, JSON-like escapes)."""
    inner = tok[1:-1]
    out = []
    i = 0
    while i < len(inner):
        c = inner[i]
        if c == "\\" and i + 1 < len(inner):
            nxt = inner[i + 1]
            if nxt in "'\"":
                out.append("\\" + nxt if nxt == '"' else "'")
            else:
                out.append(c + nxt)
            i += 2
            continue
        out.append('\\"' if c == '"' else c)
        i += 1
    try:
        return json.loads('"' + "".join(out) + '"')
    except ValueError:
        raise CELError(f"unsupported string literal {tok}") from None


class CELExpr:
    """Parses to nested tuples; evaluates against {"event": cloudEvent}."""

    def __init__(self, src):
        self.src = src
        self.toks = _cel_tokens(src)
        self.i = 0
        self.ast = self._or()
        if self.i != len(self.toks):
            raise CELError(f"unsupported CEL: trailing input in {src!r}")

    def _peek(self):
        return self.toks[self.i] if self.i < len(self.toks) else (None, None)

    def _eat(self, kind, val=None):
        t = self._peek()
        if t[0] == kind and (val is None or t[1] == val):
            self.i += 1
            return t
        return None

    def _need(self, kind, val=None):
        t = self._eat(kind, val)
        if t is None:
            raise CELError(f"unsupported CEL: expected {val or kind} in {self.src!r}")
        return t

    def _or(self):
        left = self._and()
        while self._eat("op", "||"):
            left = ("||", left, self._and())
        return left

    def _and(self):
        left = self._unary()
        while self._eat("op", "&&"):
            left = ("&&", left, self._unary())
        return left

    def _unary(self):
        if self._eat("op", "!"):
            return ("!", self._unary())
        return self._cmp()

    def _cmp(self):
        left = self._postfix()
        t = self._peek()
        if t[0] == "op" and t[1] in ("==", "!=", "<", "<=", ">", ">="):
            self.i += 1
            return (t[1], left, self._postfix())
        return left

    def _postfix(self):
        node = self._primary()
        while True:
            if self._eat("op", "."):
                name = self._need("id")[1]
                if self._eat("op", "("):
                    args = []
                    if not self._eat("op", ")"):
                        args.append(self._or())
                        while self._eat("op", ","):
                            args.append(self._or())
                        self._need("op", ")")
                    if name not in ("startsWith", "endsWith", "contains"):
                        raise CELError(f"unsupported CEL method {name}")
                    node = ("call", name, node, args)
                else:
                    node = ("sel", node, name)
            elif self._eat("op", "["):
                key = self._or()
                self._need("op", "]")
                node = ("idx", node, key)
            else:
                return node

    def _primary(self):
        t = self._peek()
        if t[0] == "lit":
            self.i += 1
            return ("lit", t[1])
        if t[0] == "op" and t[1] == "(":
            self.i += 1
            e = self._or()
            self._need("op", ")")
            return e
        if t[0] == "id":
            self.i += 1
            if t[1] == "has" and self._eat("op", "("):
                arg = self._postfix()
                self._need("op", ")")
                if arg[0] != "sel":
                    raise CELError("has() needs a field selection")
                return ("has", arg)
            if t[1] != "event":
                raise CELError(f"undeclared reference to '{t[1]}'")
            return ("var",)
        raise CELError(f"unsupported CEL: unexpected {t[1]!r} in {self.src!r}")

    def eval(self, event):
        return self._ev(self.ast, event)

    def _ev(self, n, event):
        op = n[0]
        if op == "lit":
            return n[1]
        if op == "var":
            return event
        if op == "sel":
            base = self._ev(n[1], event)
            if not isinstance(base, dict) or n[2] not in base:
                raise CELError(f"no such key: {n[2]}")
            return _cel_val(base[n[2]])
        if op == "idx":
            base = self._ev(n[1], event)
            key = self._ev(n[2], event)
            if isinstance(base, dict):
                if key not in base:
                    raise CELError(f"no such key: {key}")
                return _cel_val(base[key])
            if isinstance(base, list) and isinstance(key, int) and 0 <= key < len(base):
                return _cel_val(base[key])
            raise CELError("invalid index")
        if op == "has":
            base = self._ev(n[1][1], event)
            return isinstance(base, dict) and n[1][2] in base
        if op == "!":
            v = self._ev(n[1], event)
            if not isinstance(v, bool):
                raise CELError("no such overload: !")
            return not v
        if op in ("&&", "||"):
            results = []
            for side in (n[1], n[2]):
                try:
                    v = self._ev(side, event)
                    if not isinstance(v, bool):
                        raise CELError(f"no such overload: {op}")
                    results.append(v)
                except CELError as e:
                    results.append(e)
            short = False if op == "&&" else True
            if short in results:
                return short
            for r in results:
                if isinstance(r, CELError):
                    raise r
            return not short
        if op == "call":
            recv = self._ev(n[2], event)
            args = [self._ev(a, event) for a in n[3]]
            if not isinstance(recv, str) or len(args) != 1 or not isinstance(args[0], str):
                raise CELError(f"no such overload: {n[1]}")
            return {"startsWith": recv.startswith, "endsWith": recv.endswith,
                    "contains": lambda a: a in recv}[n[1]](args[0])
        a = self._ev(n[1], event)
        b = self._ev(n[2], event)
        num = (int, float)
        if isinstance(a, bool) or isinstance(b, bool):
            same = isinstance(a, bool) and isinstance(b, bool)
        else:
            same = (isinstance(a, num) and isinstance(b, num)) or type(a) is type(b)
        if not same:
            raise CELError(f"no such overload: {op}")
        if op == "==":
            return a == b
        if op == "!=":
            return a != b
        if a is None or isinstance(a, (dict, list, bool)):
            raise CELError(f"no such overload: {op}")
        return {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op]


def _cel_val(v):
    if isinstance(v, RawNumber):
        return v.value()
    return v


# ---------------------------------------------------------------------------------------------
# Model
# ---------------------------------------------------------------------------------------------


class Message:
    def __init__(self, seq, pubsub, topic, metadata, data, raw, envelope, content_type, key,
                 offset, dead_letter_of=None):
        self.seq = seq
        self.pubsub = pubsub
        self.topic = topic
        self.metadata = metadata
        self.data = data            # bytes given to the broker
        self.raw = raw
        self.envelope = envelope    # dict or None (rawPayload)
        self.content_type = content_type
        self.key = key
        self.offset = offset
        self.time = time.time()
        self.dead_letter_of = dead_letter_of
        self.from_peer = False      # --peer: published through another replica's sidecar

    def to_json(self):
        return {
            "seq": self.seq, "pubsub": self.pubsub, "topic": self.topic, "metadata": self.metadata,
            "contentType": self.content_type, "rawPayload": self.raw,
            "envelope": to_plain(self.envelope) if self.envelope is not None else None,
            "data": self.data.decode("utf-8", errors="replace"), "key": self.key,
            "offset": self.offset, "time": self.time, "deadLetterOf": self.dead_letter_of,
        }


class Rule:
    def __init__(self, match, path):
        self.match_src = match
        self.expr = CELExpr(match) if match else None
        self.path = path


class Subscription:
    def __init__(self, pubsub, topic, rules, metadata, dead_letter_topic):
        self.pubsub = pubsub
        self.topic = topic
        self.rules = rules
        self.metadata = metadata or {}
        self.dead_letter_topic = dead_letter_topic

    def to_json(self):
        return {"pubsubname": self.pubsub, "topic": self.topic, "metadata": self.metadata,
                "deadLetterTopic": self.dead_letter_topic,
                "rules": [{"match": r.match_src, "path": r.path} for r in self.rules]}


class Entry:
    __slots__ = ("data", "version", "first_write", "expires_at")

    def __init__(self):
        self.data = b""
        self.version = 0
        self.first_write = False
        self.expires_at = None


class StoreError(Exception):
    def __init__(self, kind, msg):
        super().__init__(msg)
        self.kind = kind  # "mismatch" (409), "invalid" (400), "other" (500)


_CONCURRENCY = ("", "first-write", "last-write")
_CONSISTENCY = ("", "strong", "eventual")


class StateStore:
    """In-memory store with the Redis state store's semantics (contract 3.2-3.8)."""

    def __init__(self, name):
        self.name = name
        self.items = {}
        self.lock = threading.Lock()

    def _live(self, key):
        e = self.items.get(key)
        if e is not None and e.expires_at is not None and e.expires_at <= time.time():
            del self.items[key]
            return None
        return e

    @staticmethod
    def check_options(options):
        c = options.get("concurrency", "")
        if c not in _CONCURRENCY:
            raise StoreError("other", f"invalid concurrency option {c!r}")
        s = options.get("consistency", "")
        if s not in _CONSISTENCY:
            raise StoreError("other", f"invalid consistency option {s!r}")

    @staticmethod
    def parse_etag(etag, options):
        if options.get("concurrency") == "last-write" or etag is None or etag == "":
            return 0
        try:
            return go_atoi(etag)
        except ValueError as e:
            raise StoreError("invalid", f"possible etag mismatch. error from state store: {e}") from None

    @staticmethod
    def parse_ttl(metadata):
        v = (metadata or {}).get("ttlInSeconds")
        if v is None:
            return None
        try:
            return go_atoi(v)
        except ValueError:
            raise StoreError("other", f"failed to parse ttl from metadata: incorrect value for metadata ttlInSeconds: {v}") from None

    def prepare_set(self, req, mark_first_write=True):
        self.check_options(req["options"])
        ver = self.parse_etag(req["etag"], req["options"])
        ttl = self.parse_ttl(req["metadata"])
        data = go_marshal(req["value"]).encode("utf-8")
        first = mark_first_write and req["options"].get("concurrency") == "first-write"
        return ver, ttl, data, first

    def apply_set(self, key, ver, ttl, data, first, has_etag):
        """The Lua script of the Redis store; caller holds the lock."""
        e = self._live(key)
        if e is None or e.version == ver or (not e.first_write and ver == 0):
            if e is None:
                e = self.items[key] = Entry()
            e.data = data
            if first:
                e.first_write = True
            e.version += 1
            if ttl is not None:
                e.expires_at = time.time() + ttl if ttl > 0 else None
            return
        if has_etag:
            raise StoreError("mismatch", f"possible etag mismatch. error from state store: failed to set key {key}")
        raise StoreError("other", f"failed to set key {key}")

    def apply_delete(self, key, etag):
        e = self._live(key)
        if e is None or etag is None or str(e.version) == etag or etag == "0":
            self.items.pop(key, None)
            return
        raise StoreError("mismatch", f"possible etag mismatch. error from state store: failed to delete {key}")

    def get(self, key):
        with self.lock:
            e = self._live(key)
            if e is None:
                return None
            return e.data, str(e.version)

    def dump(self):
        with self.lock:
            now = time.time()
            out = {}
            for k in list(self.items):
                e = self._live(k)
                if e is None:
                    continue
                out[k] = {"value": e.data.decode("utf-8", errors="replace"), "etag": str(e.version),
                          "firstWrite": e.first_write,
                          "ttlRemaining": (e.expires_at - now) if e.expires_at else None}
            return out


class Binding:
    def __init__(self, name, interval, direction_input):
        self.name = name
        self.interval = interval
        self.direction_input = direction_input
        self.started = False
        self.probe_status = None
        self.fires = 0


class Job:
    def __init__(self, name):
        self.name = name
        self.schedule = None
        self.spec = None          # ("every", seconds) or ("cron", CronSpec)
        self.due_time = None
        self.repeats = None
        self.ttl = None
        self.data = None          # decoded value or None
        self.data_given = False
        self.overwrite = False
        self.failure_policy = None
        self.next_fire = None
        self.expires_at = None
        self.count = 0
        self.running = False
        self.attempts = 0

    def to_proto_json(self):
        out = Struct(name=self.name)
        if self.schedule is not None:
            out["schedule"] = self.schedule
        if self.repeats is not None:
            out["repeats"] = self.repeats
        if self.due_time is not None:
            out["dueTime"] = self.due_time
        if self.ttl is not None:
            out["ttl"] = self.ttl
        if self.data_given:
            any_ = Struct()
            any_["@type"] = "type.googleapis.com/google.protobuf.Value"
            any_["value"] = self.data
            out["data"] = any_
        if self.overwrite:
            out["overwrite"] = True
        if self.failure_policy is not None:
            out["failurePolicy"] = self.failure_policy
        return out


# ---------------------------------------------------------------------------------------------
# Cron schedules for jobs (contract 5: 6 fields, seconds first, or a descriptor)
# ---------------------------------------------------------------------------------------------

_MONTHS = {m: i + 1 for i, m in enumerate("JAN FEB MAR APR MAY JUN JUL AUG SEP OCT NOV DEC".split())}
_DOWS = {d: i for i, d in enumerate("SUN MON TUE WED THU FRI SAT".split())}
_DESCRIPTORS = {"@yearly": "0 0 0 1 1 *", "@annually": "0 0 0 1 1 *", "@monthly": "0 0 0 1 * *",
                "@weekly": "0 0 0 * * 0", "@daily": "0 0 0 * * *", "@midnight": "0 0 0 * * *",
                "@hourly": "0 0 * * * *"}


class CronSpec:
    def __init__(self, text):
        fields = text.split()
        if len(fields) != 6:
            raise ValueError(f"expected exactly 6 fields, found {len(fields)}: [{text}]")
        self.sec = self._field(fields[0], 0, 59, None)
        self.min = self._field(fields[1], 0, 59, None)
        self.hour = self._field(fields[2], 0, 23, None)
        self.dom = self._field(fields[3], 1, 31, None)
        self.month = self._field(fields[4], 1, 12, _MONTHS)
        self.dow = self._field(fields[5], 0, 6, _DOWS)
        self.dom_star = fields[3] in ("*", "?")
        self.dow_star = fields[5] in ("*", "?")

    @staticmethod
    def _num(s, names):
        if names and s.upper() in names:
            return names[s.upper()]
        if not s.isdigit():
            raise ValueError(f"failed to parse int from {s}")
        return int(s)

    def _field(self, f, lo, hi, names):
        out = set()
        for part in f.split(","):
            step = 1
            if "/" in part:
                part, st = part.split("/", 1)
                if not st.isdigit() or int(st) == 0:
                    raise ValueError(f"invalid step {st!r}")
                step = int(st)
            if part in ("*", "?"):
                a, b = lo, hi
            elif "-" in part:
                x, y = part.split("-", 1)
                a, b = self._num(x, names), self._num(y, names)
            else:
                a = self._num(part, names)
                b = hi if step > 1 else a
            if a < lo or b > hi or a > b:
                raise ValueError(f"value out of range in {f!r}")
            out.update(range(a, b + 1, step))
        return out

    def _day_ok(self, dt):
        dom_ok = dt.day in self.dom
        dow_ok = ((dt.weekday() + 1) % 7) in self.dow
        if self.dom_star or self.dow_star:
            return dom_ok and dow_ok
        return dom_ok or dow_ok

    def next_after(self, epoch):
        t = datetime.datetime.fromtimestamp(math.floor(epoch), datetime.timezone.utc) + datetime.timedelta(seconds=1)
        limit = t.year + 5
        while t.year <= limit:
            if t.month not in self.month:
                t = (t.replace(day=1, hour=0, minute=0, second=0) + datetime.timedelta(days=32)).replace(day=1)
                continue
            if not self._day_ok(t):
                t = t.replace(hour=0, minute=0, second=0) + datetime.timedelta(days=1)
                continue
            if t.hour not in self.hour:
                t = t.replace(minute=0, second=0) + datetime.timedelta(hours=1)
                continue
            if t.minute not in self.min:
                t = t.replace(second=0) + datetime.timedelta(minutes=1)
                continue
            if t.second not in self.sec:
                t = t + datetime.timedelta(seconds=1)
                continue
            return t.timestamp()
        return None


def parse_job_schedule(s):
    s = s.strip()
    if s.startswith("@every "):
        d = go_duration(s[len("@every "):].strip())
        if d <= 0:
            raise ValueError(f"invalid @every duration {s!r}")
        return ("every", d)
    if s.startswith("@"):
        if s not in _DESCRIPTORS:
            raise ValueError(f"unrecognized descriptor: {s}")
        return ("cron", CronSpec(_DESCRIPTORS[s]))
    return ("cron", CronSpec(s))


def parse_time_or_duration(s, now):
    """dueTime/ttl: RFC3339, a Go duration from now, or an ISO 8601 duration from now."""
    try:
        return parse_rfc3339(s)
    except ValueError:
        pass
    try:
        return now + go_duration(s)
    except ValueError:
        pass
    return now + iso8601_duration(s)


# ---------------------------------------------------------------------------------------------
# HTTP servers
# ---------------------------------------------------------------------------------------------


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    block_on_close = False

    def __init__(self, addr, handler, sidecar):
        self.sidecar = sidecar
        self.conns = set()
        self.conns_lock = threading.Lock()
        super().__init__(addr, handler)

    def handle_error(self, request, client_address):
        e = sys.exc_info()[1]
        if isinstance(e, OSError):   # a peer that went away, or the port closed under it
            return
        log("ERROR", f"request from {client_address} failed: {e!r}")


class _BaseHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def version_string(self):
        return TOOL_NAME

    def setup(self):
        super().setup()
        with self.server.conns_lock:
            self.server.conns.add(self.connection)

    def finish(self):
        try:
            super().finish()
        finally:
            with self.server.conns_lock:
                self.server.conns.discard(self.connection)

    def log_message(self, fmt, *args):  # the sidecar logs its own lines
        pass

    def read_body(self):
        te = (self.headers.get("Transfer-Encoding") or "").lower()
        if "chunked" in te:
            chunks = []
            while True:
                line = self.rfile.readline(65537)
                size = int(line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline(65537)
            return b"".join(chunks)
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n > 0 else b""

    def send(self, resp):
        self.send_response(resp.status)
        if resp.ctype:
            self.send_header("Content-Type", resp.ctype)
        for k, v in resp.headers:
            self.send_header(k, v)
        if resp.status not in (204, 304) and not (100 <= resp.status < 200):
            self.send_header("Content-Length", str(len(resp.body)))
        self.end_headers()
        if resp.status not in (204, 304) and self.command != "HEAD":
            self.wfile.write(resp.body)

    def _handle(self):
        try:
            body = self.read_body()
        except (ValueError, OSError):
            self.close_connection = True
            self.send(Resp(400, "bad request body\n", "text/plain; charset=utf-8"))
            return
        try:
            resp = self.route(body)
        except Exception as e:  # a bug in the double: say so loudly
            log("ERROR", f"internal error on {self.command} {self.path}: {e!r}")
            import traceback
            traceback.print_exc()
            resp = Resp(500, f"sidecar double internal error: {e!r}\n", "text/plain; charset=utf-8")
        try:
            self.send(resp)
        except OSError:
            self.close_connection = True

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_HEAD = _handle


def _clean_path(raw):
    """chi's CleanPath + StripSlashes: collapse `//`, resolve dots, drop a trailing slash."""
    p = re.sub(r"/+", "/", raw) or "/"
    parts = []
    for seg in p.split("/")[1:]:
        if seg == "." or seg == "":
            continue
        if seg == "..":
            if parts:
                parts.pop()
            continue
        parts.append(seg)
    return "/" + "/".join(parts)


def _u(s):
    return urllib.parse.unquote(s) if s is not None else None


# Dapr API routes: (pattern, methods, handler name). The first pattern that matches with an
# allowed method wins; a path that only matches with other methods is 405 (chi).
_ROUTES = [
    (r"/v1\.0/healthz", ("GET",), "h_healthz"),
    (r"/v1\.0/healthz/outbound", ("GET",), "h_healthz_outbound"),
    (r"/v1\.0/metadata", ("GET",), "h_metadata"),
    (r"/v1\.0/metadata/([^/]+)", ("PUT",), "h_metadata_put"),
    (r"/v1\.0/shutdown", ("POST",), "h_shutdown"),
    (r"/v1\.0(?:-alpha1)?/publish/bulk/([^/]+)(?:/(.*))?", ("POST", "PUT"), "h_bulk_publish"),
    (r"/v1\.0/publish/([^/]+)(?:/(.*))?", ("POST", "PUT"), "h_publish"),
    (r"/v1\.0/state/([^/]+)/bulk", ("POST", "PUT"), "h_state_bulk"),
    (r"/v1\.0/state/([^/]+)/transaction", ("POST", "PUT"), "h_state_transaction"),
    (r"/v1\.0/state/([^/]+)/([^/]+)", ("GET",), "h_state_get"),
    (r"/v1\.0/state/([^/]+)/([^/]+)", ("DELETE",), "h_state_delete"),
    (r"/v1\.0/state/([^/]+)", ("POST", "PUT"), "h_state_save"),
    (r"/v1\.0-alpha1/state/([^/]+)/query", ("POST", "PUT"), "h_state_query"),
    (r"/v1\.0/bindings/([^/]+)", ("POST", "PUT"), "h_output_binding"),
    (r"/v1\.0(?:-alpha1)?/jobs/([^/]+)", ("POST",), "h_job_create"),
    (r"/v1\.0(?:-alpha1)?/jobs/([^/]+)", ("GET",), "h_job_get"),
    (r"/v1\.0(?:-alpha1)?/jobs/([^/]+)", ("DELETE",), "h_job_delete"),
]
_ROUTES = [(re.compile("^" + p + "$"), m, h) for p, m, h in _ROUTES]


class DaprHandler(_BaseHandler):
    """The sidecar API port."""

    def route(self, body):
        sc = self.server.sidecar
        url = urllib.parse.urlsplit(self.path)
        raw_path = url.path or "/"
        token = sc.cfg.dapr_api_token
        if token:
            trimmed = raw_path.strip("/")
            exempt = self.command == "GET" and trimmed in ("v1.0/healthz", "v1.0/healthz/outbound")
            if self.headers.get("dapr-api-token") != token and not exempt:
                log("INFO", f"{self.command} {raw_path}: 401 invalid api token")
                return Resp(401, "invalid api token\n", "text/plain; charset=utf-8",
                            [("X-Content-Type-Options", "nosniff")])
        path = _clean_path(raw_path)
        query = urllib.parse.parse_qs(url.query, keep_blank_values=True)
        path_matched = False
        for rx, methods, hname in _ROUTES:
            m = rx.match(path)
            if not m:
                continue
            path_matched = True
            if self.command not in methods:
                continue
            args = [_u(g) for g in m.groups()]
            return getattr(sc, hname)(self, args, query, body)
        if path_matched:
            return Resp(405)
        return Resp(404, "404 page not found\n", "text/plain; charset=utf-8",
                    [("X-Content-Type-Options", "nosniff")])


def metadata_from_query(query):
    """getMetadataFromRequest: only `metadata.` keys, prefix stripped, first value (contract 0.2)."""
    out = {}
    for k, vals in query.items():
        if k.startswith("metadata."):
            out[k[len("metadata."):]] = vals[0]
    return out


def _valid_header_name(k):
    return bool(re.match(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$", k))


# ---------------------------------------------------------------------------------------------
# The sidecar
# ---------------------------------------------------------------------------------------------


class Sidecar:
    def __init__(self, cfg):
        self.cfg = cfg
        self.lock = threading.RLock()
        self.stop_event = threading.Event()
        self.pubsubs = {}
        for spec in cfg.pubsub:
            name, _, kind = spec.partition(":")
            if kind not in ("", "broadcast", "work"):
                raise SystemExit(f"--pubsub {spec}: kind must be broadcast or empty")
            self.pubsubs[name] = "broadcast" if kind == "broadcast" else "work"
        self.stores = {name: StateStore(name) for name in cfg.state_store}
        self.scoped = set()
        for spec in cfg.scoped_topic:
            p, sep, t = spec.partition(":")
            if not sep or not p or not t:
                raise SystemExit(f"--scoped-topic {spec}: expected PUBSUB:TOPIC")
            self.scoped.add((p, t))
        self.bindings = {}
        for spec in cfg.cron:
            parts = spec.split(":")
            if len(parts) not in (2, 3) or (len(parts) == 3 and parts[2] != "input"):
                raise SystemExit(f"--cron {spec}: expected NAME:SECONDS[:input]")
            try:
                interval = float(parts[1])
            except ValueError:
                raise SystemExit(f"--cron {spec}: SECONDS must be a number") from None
            if interval <= 0:
                raise SystemExit(f"--cron {spec}: SECONDS must be positive")
            self.bindings[parts[0]] = Binding(parts[0], interval, len(parts) == 3)
        self.published = []
        self.deliveries = []
        self.app_calls = []
        self.seq = 0
        self.delivery_seq = 0
        self.call_seq = 0
        self.offsets = collections.defaultdict(int)
        self.pending = []
        self.subs_loaded = False
        self.sub_map = {}
        self.subs_refused = []
        self.subs_error = None
        self.app_port_open = cfg.app_port is None
        self.ready = cfg.app_port is None
        self.fail_publish = None
        self.extended = {}
        self.jobs = {}
        self.jobs_lock = threading.Lock()
        self.lanes = {}
        self.lanes_lock = threading.Lock()
        self.inflight = 0
        self.listener = None
        self.listener_lock = threading.Lock()

    # ---- listeners -------------------------------------------------------------------------

    def start_listener(self):
        with self.listener_lock:
            if self.listener is not None:
                return
            last = None
            for _ in range(50):
                try:
                    srv = _Server((self.cfg.listen_address, self.cfg.dapr_http_port), DaprHandler, self)
                    break
                except OSError as e:
                    last = e
                    time.sleep(0.05)
            else:
                raise last
            threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True).start()
            self.listener = srv
            log("INFO", f"sidecar API listening on {self.cfg.listen_address}:{self.cfg.dapr_http_port}")

    def stop_listener(self, why="publish failure mode: down"):
        with self.listener_lock:
            srv = self.listener
            self.listener = None
        if srv is None:
            return
        srv.shutdown()
        srv.server_close()
        with srv.conns_lock:
            conns = list(srv.conns)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        log("INFO", f"sidecar API port closed ({why})")

    # ---- calls to the app ------------------------------------------------------------------

    def app_request(self, kind, method, path, headers=None, body=None, timeout=None):
        """One HTTP call to the app. Returns (status or None, reply bytes, error or None)."""
        hdrs = dict(headers or {})
        if self.cfg.app_api_token:
            hdrs["dapr-api-token"] = self.cfg.app_api_token
        hdrs.setdefault("User-Agent", TOOL_NAME)
        status, reply, error = None, b"", None
        conn = http.client.HTTPConnection(self.cfg.app_channel_address, self.cfg.app_port,
                                          timeout=timeout or self.cfg.app_timeout_s)
        try:
            conn.request(method, path, body=body, headers={k: (v.encode("utf-8") if isinstance(v, str) else v)
                                                             for k, v in hdrs.items()})
            r = conn.getresponse()
            status = r.status
            reply = r.read()
        except (OSError, http.client.HTTPException) as e:
            error = f"{type(e).__name__}: {e}"
        finally:
            conn.close()
        with self.lock:
            self.call_seq += 1
            self.app_calls.append({
                "seq": self.call_seq, "kind": kind, "method": method, "path": path,
                "headers": {k: (v.decode("utf-8", "replace") if isinstance(v, bytes) else v) for k, v in hdrs.items()},
                "body": (body or b"").decode("utf-8", errors="replace") if isinstance(body, (bytes, type(None))) else body,
                "status": status, "reply": reply.decode("utf-8", errors="replace"), "error": error,
                "time": time.time(),
            })
        log("INFO", f"app {kind}: {method} {path} -> {status if error is None else error}")
        return status, reply, error

    # ---- startup (contract 6, 2.1, 4.1) ----------------------------------------------------

    def startup(self):
        if self.cfg.app_port is None:
            with self.lock:
                self.subs_loaded = True
                self.pending = []
            return
        log("INFO", f"waiting for the app on {self.cfg.app_channel_address}:{self.cfg.app_port}")
        while not self.stop_event.is_set():
            try:
                s = socket.create_connection((self.cfg.app_channel_address, self.cfg.app_port), timeout=0.5)
                s.close()
                break
            except OSError:
                self.stop_event.wait(0.05)
        if self.stop_event.is_set():
            return
        with self.lock:
            self.app_port_open = True
        log("INFO", "app port is open")
        self.app_request("config", "GET", "/dapr/config")
        self.load_subscriptions()
        for b in self.bindings.values():
            self.start_binding(b)
        with self.lock:
            self.ready = True
        log("INFO", "initialised: /v1.0/healthz is ready")

    def load_subscriptions(self):
        status, reply, error = None, b"", None
        for attempt in range(4):  # built-in init retries on connection errors
            status, reply, error = self.app_request("subscribe", "GET", "/dapr/subscribe",
                                                    {"dapr-app-id": self.cfg.app_id})
            if error is None or self.stop_event.is_set():
                break
            self.stop_event.wait(0.5)
        subs, refused, err = [], [], None
        if error is not None:
            err = f"error getting topic list from app: {error}"
        elif status == 200:
            try:
                subs, refused = self.parse_subscriptions(reply)
            except (GoJSONError, DecodeError, CELError) as e:
                err = f"error getting topics from app: {e}"
                subs, refused = [], []
        elif status == 404:
            log("INFO", "user app did not subscribe to any topic")
        else:
            err = f"app returned http status code {status} from subscription endpoint"
        if err:
            log("ERROR", err)
        with self.lock:
            self.subs_error = err
            self.subs_refused = refused
            for s in subs:
                self.sub_map[(s.pubsub, s.topic)] = s
            self.subs_loaded = True
            pending, self.pending = self.pending, []
            for m in pending:
                self._submit(m)

    def parse_subscriptions(self, reply):
        if not reply.strip():
            return [], []
        items = go_decode(reply)
        if items is None:
            return [], []
        if not isinstance(items, list):
            raise DecodeError(f"json: cannot unmarshal {_go_type(items)} into Go value of type []pubsub.SubscriptionJSON")
        subs, refused = [], []
        seen = set()
        parsed = []
        for i, it in enumerate(items):
            if it is None:
                it = GoObj()
            if not isinstance(it, dict):
                raise DecodeError(f"json: cannot unmarshal {_go_type(it)} into Go value of type pubsub.SubscriptionJSON")
            f = lambda n: go_field(it, n)[1]  # noqa: E731
            pubsub = want_str(f("pubsubname"), "SubscriptionJSON.pubsubname")
            topic = want_str(f("topic"), "SubscriptionJSON.topic")
            dlq = want_str(f("deadLetterTopic"), "SubscriptionJSON.deadLetterTopic")
            meta = want_str_map(f("metadata"), "SubscriptionJSON.metadata") or {}
            route = want_str(f("route"), "SubscriptionJSON.route")
            routes = want_obj(f("routes"), "SubscriptionJSON.routes")
            bulk = want_obj(f("bulkSubscribe"), "SubscriptionJSON.bulkSubscribe")
            rules = []
            default = ""
            if routes is not None:
                rr = go_field(routes, "rules")[1]
                if rr is not None and not isinstance(rr, list):
                    raise DecodeError("json: cannot unmarshal into Go struct field RoutesJSON.routes.rules")
                for r in rr or []:
                    r = want_obj(r, "RoutesJSON.routes.rules") or {}
                    match = want_str(go_field(r, "match")[1], "RuleJSON.match").strip()
                    path = want_str(go_field(r, "path")[1], "RuleJSON.path")
                    rules.append(Rule(match or None, path))
                default = want_str(go_field(routes, "default")[1], "RoutesJSON.routes.default")
            if default:
                rules.append(Rule(None, default))
            elif route:
                rules.append(Rule(None, route))
            bulk_enabled = False
            if bulk is not None:
                be = go_field(bulk, "enabled")[1]
                if be is not None and not isinstance(be, bool):
                    raise DecodeError("json: cannot unmarshal into Go struct field BulkSubscribeJSON.bulkSubscribe.enabled of type bool")
                bulk_enabled = bool(be)
            parsed.append((i, pubsub, topic, dlq, meta, rules, bulk_enabled))
        for i, pubsub, topic, dlq, meta, rules, bulk_enabled in parsed:
            desc = {"index": i, "pubsubname": pubsub, "topic": topic}
            if not rules:
                log("WARN", f"topic {topic} has an empty routes. removing from subscriptions list")
                refused.append(dict(desc, reason="no route"))
                continue
            if pubsub not in self.pubsubs:
                log("WARN", f"pubsub {pubsub} not found: subscription to {topic} ignored")
                refused.append(dict(desc, reason=f"pubsub {pubsub} not found"))
                continue
            if bulk_enabled:
                log("ERROR", f"subscription {pubsub}/{topic} asks for bulkSubscribe, which the sidecar double does not implement; refused")
                refused.append(dict(desc, reason="bulkSubscribe is not supported by the sidecar double"))
                continue
            if (pubsub, topic) in seen:
                log("WARN", f"duplicate subscription {pubsub}/{topic} ignored")
                refused.append(dict(desc, reason="duplicate subscription"))
                continue
            seen.add((pubsub, topic))
            subs.append(Subscription(pubsub, topic, rules, meta, dlq))
            log("INFO", f"subscribed {pubsub}/{topic} -> {[r.path for r in rules]}")
        return subs, refused

    # ---- bindings (contract 4.1) -----------------------------------------------------------

    def start_binding(self, b):
        if not b.direction_input:
            status, _, error = self.app_request("probe", "OPTIONS", "/" + urllib.parse.quote(b.name), timeout=3.0)
            b.probe_status = status
            if error is not None or status is None or not (200 <= status < 300 or status == 405):
                log("INFO", f"app not subscribed to input binding {b.name} (OPTIONS -> {status or error}); not started")
                return
        b.started = True
        threading.Thread(target=self._cron_loop, args=(b,), daemon=True).start()
        log("INFO", f"input binding {b.name} started (every {b.interval}s)")

    def _cron_loop(self, b):
        nxt = time.monotonic() + b.interval
        while not self.stop_event.is_set():
            delay = nxt - time.monotonic()
            if delay > 0 and self.stop_event.wait(delay):
                return
            threading.Thread(target=self.fire_binding, args=(b,), daemon=True).start()
            nxt += b.interval
            now = time.monotonic()
            while nxt <= now:
                nxt += b.interval

    def fire_binding(self, b):
        with self.lock:
            b.fires += 1
        headers = {"Content-Type": "application/json", "timeZone": go_local_zone_name(),
                   "readTimeUTC": go_utc_string(time.time_ns())}
        status, _, error = self.app_request("binding", "POST", "/" + urllib.parse.quote(b.name), headers, b"")
        if status != 200:
            log("WARN", f"input binding {b.name}: app answered {status or error} (expected 200); not retried")
        return status, error

    # ---- health and metadata (contract 6) --------------------------------------------------

    def h_healthz(self, req, args, query, body):
        with self.lock:
            ready = self.ready
        if not ready:
            return api_error(500, "ERR_HEALTH_NOT_READY", "dapr is not ready: [app]", "DAPR_HEALTH_NOT_READY")
        if "appid" in query and query["appid"][0] != self.cfg.app_id:
            return api_error(500, "ERR_HEALTH_APPID_NOT_MATCH", "dapr app-id does not match",
                             "DAPR_HEALTH_APPID_NOT_MATCH")
        return empty()

    def h_healthz_outbound(self, req, args, query, body):
        return empty()

    def h_metadata(self, req, args, query, body):
        with self.lock:
            comps = [Struct(name=n, type="pubsub.double", version="v1", capabilities=[], kind=k)
                     for n, k in sorted(self.pubsubs.items())]
            comps += [Struct(name=n, type="state.double", version="v1",
                             capabilities=["ETAG", "TRANSACTIONAL", "TTL"]) for n in sorted(self.stores)]
            comps += [Struct(name=n, type="bindings.cron", version="v1", capabilities=[]) for n in sorted(self.bindings)]
            subs = [Struct(pubsubname=s.pubsub, topic=s.topic, metadata=s.metadata,
                           rules=[Struct(match=r.match_src or "", path=r.path) for r in s.rules],
                           deadLetterTopic=s.dead_letter_topic, type="PROGRAMMATIC")
                    for s in self.sub_map.values()]
            out = Struct(id=self.cfg.app_id, runtimeVersion=TOOL_NAME, enabledFeatures=[],
                         components=comps, subscriptions=subs, extended=dict(self.extended),
                         appConnectionProperties=Struct(port=self.cfg.app_port or 0, protocol="http",
                                                        channelAddress=self.cfg.app_channel_address))
        return Resp(200, go_marshal(out), "application/json")

    def h_metadata_put(self, req, args, query, body):
        with self.lock:
            self.extended[args[0]] = body.decode("utf-8", errors="replace")
        return empty()

    def h_shutdown(self, req, args, query, body):
        def later():
            time.sleep(0.2)
            log("INFO", "shutdown requested through /v1.0/shutdown")
            self.stop_event.set()
        threading.Thread(target=later, daemon=True).start()
        return empty()

    # ---- publish (contract 1) --------------------------------------------------------------

    def _check_pubsub(self, pubsub, topic, meta):
        if pubsub not in self.pubsubs:
            return api_error(404, "ERR_PUBSUB_NOT_FOUND", f"pubsub {pubsub} is not found",
                             "DAPR_PUBSUB_NOT_FOUND", meta)
        if not topic:
            return api_error(404, "ERR_TOPIC_NAME_EMPTY", f"topic is empty in pubsub {pubsub}",
                             "DAPR_PUBSUB_TOPIC_NAME_EMPTY", meta)
        return None

    def _raw_payload(self, pubsub, meta):
        v = meta.get("rawPayload")
        if v is None:
            return False, None
        try:
            return go_parse_bool(v), None
        except ValueError as e:
            return None, api_error(400, "ERR_PUBSUB_REQUEST_METADATA",
                                   f"failed deserializing metadata. Error: {e}",
                                   "DAPR_PUBSUB_METADATA_DESERIALIZATION", meta)

    def build_envelope(self, pubsub, topic, content_type, data, meta, traceparent, tracestate):
        """NewCloudEvent + ApplyMetadata (contract 1.2). Raises GoJSONError for a bad
        cloudevents+json body."""
        now = time.time()
        if _is_content_type(content_type, "application/cloudevents+json"):
            ce = go_decode(data, precise=True)
            if not isinstance(ce, dict):
                raise GoJSONError("a CloudEvent must be a JSON object")
            ce = dict(ce)
            ce["topic"] = topic
            ce["pubsubname"] = pubsub
            if "time" not in ce:
                ce["time"] = rfc3339(now)
            if "traceid" not in ce:
                ce["traceid"] = traceparent
            if "traceparent" not in ce:
                ce["traceparent"] = traceparent
            if "tracestate" not in ce:
                ce["tracestate"] = tracestate
            if ce.get("source") is None:
                ce["source"] = "Dapr"
            if ce.get("type") is None:
                ce["type"] = "com.dapr.event.sent"
            if ce.get("specversion") is None:
                ce["specversion"] = "1.0"
        else:
            ov = {}
            for k, v in meta.items():
                lk = k.lower()
                if lk.startswith("cloudevent."):
                    ov[lk[len("cloudevent."):]] = v
            tp = ov.get("traceparent") or ov.get("traceid") or traceparent
            ts = ov.get("tracestate") or tracestate
            dct = content_type or "text/plain"
            ce = {
                "id": ov.get("id") or str(uuid.uuid4()),
                "specversion": "1.0",
                "datacontenttype": dct,
                "source": ov.get("source") or self.cfg.app_id,
                "type": ov.get("type") or "com.dapr.event.sent",
                "topic": topic,
                "pubsubname": pubsub,
                "traceid": tp,
                "traceparent": tp,
                "tracestate": ts,
                "time": rfc3339(now),
            }
            if _is_content_type(dct, "application/json"):
                try:
                    ce["data"] = go_decode(data, precise=True)
                except GoJSONError:
                    ce["data"] = _text(data)
            elif _is_content_type(dct, "application/octet-stream") or _is_content_type(dct, "application/x-protobuf"):
                ce["data_base64"] = base64.b64encode(data).decode("ascii")
            else:
                ce["data"] = _text(data)
            if ov.get("subject"):
                ce["subject"] = ov["subject"]
        ttl = _message_ttl(meta)
        if ttl is not None:
            ce["expiration"] = rfc3339(now + ttl)
        return ce

    def _publish_target(self, args, query):
        """What publish and bulk publish check first, in Dapr's order: the component and
        topic, then rawPayload. Returns (pubsub, topic, meta, raw, error response or None)."""
        pubsub, topic = args[0], args[1] or ""
        meta = metadata_from_query(query)
        bad = self._check_pubsub(pubsub, topic, meta)
        raw = False
        if not bad:
            raw, bad = self._raw_payload(pubsub, meta)
        return pubsub, topic, meta, raw, bad

    def h_publish(self, req, args, query, body):
        pubsub, topic, meta, raw, bad = self._publish_target(args, query)
        if bad:
            return bad
        content_type = req.headers.get("Content-Type") or ""
        if raw:
            envelope, data = None, body
        else:
            try:
                envelope = self.build_envelope(pubsub, topic, content_type, body, meta,
                                               req.headers.get("traceparent") or "",
                                               req.headers.get("tracestate") or "")
            except GoJSONError as e:
                log("INFO", f"publish {pubsub}/{topic}: cannot create cloudevent: {e}")
                return api_error(500, "ERR_PUBSUB_CLOUD_EVENTS_SER", "cannot create cloudevent",
                                 "DAPR_PUBSUB_CLOUD_EVENT_CREATION", meta)
            data = go_marshal(envelope).encode("utf-8")
        bad = self._broker_check(pubsub, topic)
        if bad:
            return bad
        m = self.publish_message(pubsub, topic, meta, data, raw, envelope, content_type)
        log("INFO", f"published #{m.seq} {pubsub}/{topic}" + (f" key={m.key}" if m.key is not None else ""))
        return empty()

    def _broker_check(self, pubsub, topic):
        if (pubsub, topic) in self.scoped:
            err = f"topic {topic} is not allowed for app id {self.cfg.app_id}"
            return api_error(403, "ERR_PUBSUB_FORBIDDEN", err, "DAPR_PUBSUB_FORBIDDEN",
                             {"topic": topic, "error": err})
        with self.lock:
            failing = self.fail_publish
        if failing:
            err = "the broker is not available (sidecar double failure mode)"
            return api_error(500, "ERR_PUBSUB_PUBLISH_MESSAGE",
                             f"error when publishing to topic {topic} in pubsub {pubsub}: {err}",
                             "DAPR_PUBSUB_PUBLISH_MESSAGE", {"topic": topic, "error": err})
        return None

    def h_bulk_publish(self, req, args, query, body):
        pubsub, topic, meta, raw, bad = self._publish_target(args, query)
        if bad:
            return bad
        try:
            entries = go_decode(body, precise=True)
            if entries is None:
                entries = []
            if not isinstance(entries, list):
                raise DecodeError(f"json: cannot unmarshal {_go_type(entries)} into Go value of type []http.bulkPublishMessageEntry")
            parsed = []
            for e in entries:
                e = want_obj(e, "bulkPublishMessageEntry") or GoObj()
                found, event = go_field(e, "event")
                parsed.append((want_str(go_field(e, "entryId")[1], "bulkPublishMessageEntry.entryId"), event,
                               want_str(go_field(e, "contentType")[1], "bulkPublishMessageEntry.contentType"),
                               want_str_map(go_field(e, "metadata")[1], "bulkPublishMessageEntry.metadata")))
        except (GoJSONError, DecodeError) as e:
            return api_error(400, "ERR_PUBSUB_EVENTS_SER",
                             f"error when unmarshaling the request for topic {topic} pubsub {pubsub}: {e}",
                             "DAPR_PUBSUB_UNMARSHAL_EVENTS", meta)
        items = []
        seen = set()
        for entry_id, event, ctype, emeta in parsed:
            try:
                data = _bulk_event_bytes(event, ctype)
            except ValueError as e:   # contract 1.3: an unusable or missing contentType is 400
                return api_error(400, "ERR_PUBSUB_EVENTS_SER",
                                 f"error when marshalling events for topic {topic} pubsub {pubsub}: {e}",
                                 "DAPR_PUBSUB_MARSHAL_EVENTS", meta)
            if entry_id in seen or entry_id == "":
                return api_error(400, "ERR_PUBSUB_EVENTS_SER",
                                 f"error marshaling events to bytes for topic {topic} pubsub {pubsub}. error: entryId is duplicated or not present for entry",
                                 "DAPR_PUBSUB_MARSHAL_EVENTS", meta)
            seen.add(entry_id)
            m = dict(meta)
            if emeta is not None:
                m.update(emeta)
            items.append((data, ctype, m))
        prepared = []
        for data, ctype, m in items:
            if raw:
                prepared.append((m, data, None, ctype))
                continue
            try:
                env = self.build_envelope(pubsub, topic, ctype, data, m, req.headers.get("traceparent") or "",
                                          req.headers.get("tracestate") or "")
            except GoJSONError:
                return api_error(500, "ERR_PUBSUB_CLOUD_EVENTS_SER", "cannot create cloudevent",
                                 "DAPR_PUBSUB_CLOUD_EVENT_CREATION", meta)
            prepared.append((m, go_marshal(env).encode("utf-8"), env, ctype))
        bad = self._broker_check(pubsub, topic)
        if bad:
            if bad.status == 500:
                failed = [Struct(entryId=eid, error="the broker is not available (sidecar double failure mode)")
                          for eid, _, _, _ in parsed]
                return Resp(500, go_marshal(Struct(failedEntries=failed, errorCode="ERR_PUBSUB_PUBLISH_MESSAGE")),
                            "application/json")
            return bad
        for m, data, env, ctype in prepared:
            self.publish_message(pubsub, topic, m, data, raw, env, ctype)
        return empty()

    def publish_message(self, pubsub, topic, meta, data, raw, envelope, content_type, dead_letter_of=None,
                        from_peer=False):
        key = meta.get("partitionKey")
        if key is None:
            key = meta.get("__key")
        with self.lock:
            self.seq += 1
            off = self.offsets[(pubsub, topic)]
            self.offsets[(pubsub, topic)] = off + 1
            m = Message(self.seq, pubsub, topic, dict(meta), data, raw, envelope, content_type, key, off,
                        dead_letter_of)
            m.from_peer = from_peer
            self.published.append(m)
            if self.subs_loaded:
                self._submit(m)
            else:
                self.pending.append(m)
        if not from_peer:
            self._tell_peers(m)
        return m

    def _tell_peers(self, m):
        """--peer: the other replicas' sidecars read the same topics (one Kafka cluster)."""
        for peer in self.cfg.peer or []:
            # The envelope as Go would store it (exact numbers): go_marshal, not json.
            body = json.dumps({"pubsub": m.pubsub, "topic": m.topic, "metadata": m.metadata,
                               "data": base64.b64encode(m.data).decode("ascii"), "raw": m.raw,
                               "envelope": go_marshal(m.envelope) if m.envelope is not None else None,
                               "contentType": m.content_type}).encode()
            u = urllib.parse.urlsplit(peer)
            try:
                conn = http.client.HTTPConnection(u.hostname, u.port, timeout=5)
                conn.request("POST", "/peer-publish", body, {"Content-Type": "application/json"})
                conn.getresponse().read()
                conn.close()
            except OSError as e:
                log("ERROR", f"peer {peer} unreachable: {e}")

    # ---- delivery (contract 2.3, 11.3) -----------------------------------------------------

    def _submit(self, m):
        """Queue a message on its lane: one lane per (pubsub, topic, key); no key: its own lane.
        Caller holds self.lock (so lanes receive messages in publish order)."""
        # --shared-broker: every component reads the same topics (several pubsub.kafka
        # components on one cluster, each with its own consumer group).
        subs = [sub for (p, t), sub in self.sub_map.items()
                if t == m.topic and (p == m.pubsub or self.cfg.shared_broker)
                # A peer's message reaches only per-replica consumer groups here: the work
                # group is shared by the replicas, so the publishing side delivered it.
                and (not m.from_peer or self.pubsubs.get(p) == "broadcast")]
        for sub in subs:
            lane_id = (sub.pubsub, m.topic, m.key) if m.key is not None else (sub.pubsub, "", f"#{m.seq}")
            with self.lanes_lock:
                lane = self.lanes.get(lane_id)
                start = lane is None
                if start:
                    lane = self.lanes[lane_id] = collections.deque()
                lane.append((m, sub))
                self.inflight += 1
            if start:
                threading.Thread(target=self._lane, args=(lane_id,), daemon=True).start()

    def _lane(self, lane_id):
        while not self.stop_event.is_set():
            with self.lanes_lock:
                lane = self.lanes[lane_id]
                if not lane:
                    del self.lanes[lane_id]
                    return
                m, sub = lane[0]
            try:
                self.process(m, sub)
            except Exception as e:
                log("ERROR", f"delivery of #{m.seq} crashed: {e!r}")
            with self.lanes_lock:
                lane.popleft()
                self.inflight -= 1

    def _record(self, m, sub, attempt, route, event_id, status, reply, outcome, reason, headers):
        with self.lock:
            self.delivery_seq += 1
            self.deliveries.append({
                "seq": self.delivery_seq, "messageSeq": m.seq, "pubsub": m.pubsub, "topic": m.topic,
                "route": route, "eventId": event_id, "attempt": attempt, "status": status,
                "reply": reply, "outcome": outcome, "reason": reason, "key": m.key,
                "headers": headers, "time": time.time(),
            })
        log("INFO", f"delivery #{m.seq} {m.pubsub}/{m.topic} attempt {attempt} -> {route}: "
                    f"{status} {outcome}{' (' + reason + ')' if reason else ''}")

    def process(self, m, sub):
        attempt = 0
        while not self.stop_event.is_set():
            attempt += 1
            outcome = self.deliver_once(m, sub, attempt)
            if outcome == "success":
                return
            if outcome == "drop":
                if sub.dead_letter_topic:
                    self.dead_letter(m, sub)
                return
            if sub.dead_letter_topic:
                self.dead_letter(m, sub)
                return
            if 0 <= self.cfg.max_retries < attempt:
                log("ERROR", f"too many failed attempts at processing #{m.seq} {m.pubsub}/{m.topic}; giving up")
                return
            if self.stop_event.wait(self.cfg.retry_interval_ms / 1000.0):
                return

    def dead_letter(self, m, sub):
        log("INFO", f"sending #{m.seq} to dead letter topic {sub.dead_letter_topic}")
        self.publish_message(m.pubsub, sub.dead_letter_topic, m.metadata, m.data, m.raw, m.envelope,
                             m.content_type, dead_letter_of=m.seq)

    def deliver_once(self, m, sub, attempt):
        """One delivery attempt; returns success, retry or drop."""
        meta_raw = sub.metadata.get("rawPayload")
        try:
            sub_raw = go_parse_bool(meta_raw) if meta_raw is not None else False
        except ValueError as e:
            self._record(m, sub, attempt, None, None, None, "", "retry", f"bad rawPayload metadata: {e}", {})
            return "retry"
        if sub_raw:
            ce = {"id": str(uuid.uuid4()), "specversion": "1.0", "datacontenttype": "application/octet-stream",
                  "source": "Dapr", "type": "com.dapr.event.sent", "topic": m.topic, "pubsubname": m.pubsub,
                  "data_base64": base64.b64encode(m.data).decode("ascii")}
            for f in ("traceid", "traceparent", "tracestate"):
                if f in m.metadata:
                    ce[f] = m.metadata[f]
            if "traceparent" in m.metadata:
                ce["traceid"] = m.metadata["traceparent"]
            data = go_marshal(ce).encode("utf-8")
        else:
            try:
                ce = go_decode(m.data, precise=True, whole=True)
                if not isinstance(ce, dict):
                    raise GoJSONError(f"json: cannot unmarshal {_go_type(ce)} into Go value of type map[string]interface {{}}")
            except GoJSONError as e:
                self._record(m, sub, attempt, None, None, None, "", "retry",
                             f"error deserializing cloud event: {e}", {})
                return "retry"
            data = m.data
        event_id = ce.get("id")
        event_id = to_plain(event_id) if not isinstance(event_id, (str, type(None))) else event_id
        exp = ce.get("expiration")
        if isinstance(exp, str) and exp:
            try:
                if parse_rfc3339(exp) < time.time():
                    self._record(m, sub, attempt, None, event_id, None, "", "drop", "expired", {})
                    return "drop"
            except ValueError:
                pass
        route = None
        try:
            for r in sub.rules:
                if r.expr is None:
                    route = r.path
                    break
                v = r.expr.eval(ce)
                if v is True:
                    route = r.path
                    break
                if not isinstance(v, bool):
                    raise CELError("the routing rule did not give a bool")
        except CELError as e:
            self._record(m, sub, attempt, None, event_id, None, "", "retry", f"error finding matching route: {e}", {})
            return "retry"
        if route is None:
            self._record(m, sub, attempt, None, event_id, None, "", "drop", "no matching route", {})
            return "drop"
        path = route if route.startswith("/") else "/" + route
        headers = {"Content-Type": "application/cloudevents+json"}
        kafka = {"__topic": m.topic, "__partition": "0", "__offset": str(m.offset),
                 "__timestamp": str(int(m.time * 1000))}
        if m.key is not None:
            kafka["__key"] = m.key
        for k, v in list(m.metadata.items()) + list(kafka.items()) + [("pubsubName", sub.pubsub)]:
            if _valid_header_name(k) and "\r" not in v and "\n" not in v:
                headers[k] = v
        tp = ce.get("traceparent")
        if not isinstance(tp, str) or tp == "":
            tp = ce.get("traceid") if isinstance(ce.get("traceid"), str) else ""
        if tp:
            headers["traceparent"] = tp
            ts = ce.get("tracestate")
            if isinstance(ts, str) and ts:
                headers["tracestate"] = ts
        status, reply, error = self.app_request("delivery", "POST", path, headers, data)
        reply_text = reply.decode("utf-8", errors="replace")
        sent = dict(headers)
        if self.cfg.app_api_token:
            sent["dapr-api-token"] = self.cfg.app_api_token
        if error is not None:
            self._record(m, sub, attempt, path, event_id, None, "", "retry", error, sent)
            return "retry"
        outcome, reason = interpret_app_reply(status, reply)
        self._record(m, sub, attempt, path, event_id, status, reply_text, outcome, reason, sent)
        return outcome

    # ---- state (contract 3) ----------------------------------------------------------------

    def _store(self, name):
        if not self.stores:
            return None, api_error(500, "ERR_STATE_STORE_NOT_CONFIGURED", f"state store {name} is not configured",
                                   "DAPR_STATE_NOT_CONFIGURED", {"appID": self.cfg.app_id})
        st = self.stores.get(name)
        if st is None:
            return None, api_error(400, "ERR_STATE_STORE_NOT_FOUND", f"state store {name} is not found",
                                   "DAPR_STATE_NOT_FOUND", {"appID": self.cfg.app_id})
        return st, None

    def _state_key(self, store, key):
        """GetModifiedStateKey: `<appId>||<key>`; a key with `||` is 400 (contract 3.1)."""
        if "||" in key:
            msg = f"input key/keyPrefix '{key}' can't contain '||'"
            return None, api_error(400, "ERR_MALFORMED_REQUEST", msg, "DAPR_STATE_ILLEGAL_KEY")
        return f"{self.cfg.app_id}||{key}", None

    @staticmethod
    def _decode_set_request(it, where):
        if it is None:
            it = GoObj()
        if not isinstance(it, dict):
            raise DecodeError(f"json: cannot unmarshal {_go_type(it)} into Go value of type state.SetRequest")
        opts = want_obj(go_field(it, "options")[1], f"{where}.options")
        options = {}
        if opts is not None:
            options["concurrency"] = want_str(go_field(opts, "concurrency")[1], f"{where}.options.concurrency")
            options["consistency"] = want_str(go_field(opts, "consistency")[1], f"{where}.options.consistency")
        return {
            "key": want_str(go_field(it, "key")[1], f"{where}.key"),
            "value": go_field(it, "value")[1],
            "etag": want_opt_str(go_field(it, "etag")[1], f"{where}.etag"),
            "metadata": want_str_map(go_field(it, "metadata")[1], f"{where}.metadata"),
            "options": options,
        }

    def _state_error(self, code, prefix, e):
        status = {"mismatch": 409, "invalid": 400}.get(e.kind, 500)
        return api_error(status, code, f"{prefix}: {e}")

    def h_state_save(self, req, args, query, body):
        st, bad = self._store(args[0])
        if bad:
            return bad
        try:
            items = go_decode(body)
            if items is None:
                items = []
            if not isinstance(items, list):
                raise DecodeError(f"json: cannot unmarshal {_go_type(items)} into Go value of type []state.SetRequest")
            reqs = [self._decode_set_request(it, "SetRequest") for it in items]
        except (GoJSONError, DecodeError) as e:
            return api_error(400, "ERR_MALFORMED_REQUEST", str(e))
        if not reqs:
            return empty()
        qmeta = metadata_from_query(query)
        keyed = []
        for r in reqs:
            if not r["key"]:
                return api_error(400, "ERR_MALFORMED_REQUEST", '"key" is a required field')
            md = dict(r["metadata"] or {})
            md.update(qmeta)
            r["metadata"] = md
            k, bad = self._state_key(args[0], r["key"])
            if bad:
                return bad
            keyed.append((k, r))
        errors = []
        for k, r in keyed:   # BulkSet: every item is tried, not atomic (contract 3.2)
            try:
                ver, ttl, data, first = st.prepare_set(r)
                with st.lock:
                    st.apply_set(k, ver, ttl, data, first, has_etag=r["etag"] is not None)
            except StoreError as e:
                errors.append(e)
        if errors:
            e = next((x for x in errors if x.kind == "mismatch"), None) or \
                next((x for x in errors if x.kind == "invalid"), None) or errors[0]
            return self._state_error("ERR_STATE_SAVE", f"failed saving state in state store {args[0]}", e)
        return empty()

    def h_state_get(self, req, args, query, body):
        st, bad = self._store(args[0])
        if bad:
            return bad
        k, bad = self._state_key(args[0], args[1])
        if bad:
            return bad
        got = st.get(k)
        if got is None:
            return empty()
        data, etag = got
        return Resp(200, data, "application/json", [("ETag", etag)])

    def h_state_bulk(self, req, args, query, body):
        st, bad = self._store(args[0])
        if bad:
            return bad
        try:
            r = decode_body_object(body, "http.BulkGetRequest")
            keys = go_field(r, "keys")[1]
            if keys is None:
                keys = []
            if not isinstance(keys, list):
                raise DecodeError("json: cannot unmarshal into Go struct field BulkGetRequest.keys of type []string")
            keys = [want_str(k, "BulkGetRequest.keys") for k in keys]
            p = go_field(r, "parallelism")[1]
            if p is not None and not (isinstance(p, float) and p == int(p)):
                raise DecodeError("json: cannot unmarshal into Go struct field BulkGetRequest.parallelism of type int")
            want_str_map(go_field(r, "metadata")[1], "BulkGetRequest.metadata")
        except (GoJSONError, DecodeError) as e:
            return api_error(400, "ERR_MALFORMED_REQUEST", f"failed deserializing HTTP body: {e}")
        out = []
        stored = []
        for key in keys:
            k, bad = self._state_key(args[0], key)
            if bad:
                return bad
            stored.append((key, k))
        for key, k in stored:
            item = Struct(key=key)
            got = st.get(k)
            if got is not None:
                item["data"] = RawJSON(got[0].decode("utf-8", errors="replace"))
                item["etag"] = got[1]
            out.append(item)
        return json_resp(200, out)

    def h_state_delete(self, req, args, query, body):
        st, bad = self._store(args[0])
        if bad:
            return bad
        k, bad = self._state_key(args[0], args[1])
        if bad:
            return bad
        options = {"concurrency": query.get("concurrency", [""])[0], "consistency": query.get("consistency", [""])[0]}
        etag = req.headers.get("If-Match")
        try:
            st.check_options(options)
            if etag is not None and etag != "":
                try:
                    go_atoi(etag)
                except ValueError as e:
                    raise StoreError("invalid", f"possible etag mismatch. error from state store: {e}") from None
            with st.lock:
                st.apply_delete(k, etag if etag else None)
        except StoreError as e:
            return self._state_error("ERR_STATE_DELETE", f"failed deleting state with key {args[1]}", e)
        return empty()

    def h_state_transaction(self, req, args, query, body):
        st, bad = self._store(args[0])
        if bad:
            return bad
        try:
            r = decode_body_object(body, "http.stateTransactionRequestBody")
            ops = go_field(r, "operations")[1]
            if ops is None:
                ops = []
            if not isinstance(ops, list):
                raise DecodeError("json: cannot unmarshal into Go struct field stateTransactionRequestBody.operations")
            want_str_map(go_field(r, "metadata")[1], "stateTransactionRequestBody.metadata")
            decoded = []
            for o in ops:
                o = want_obj(o, "stateTransactionRequestBodyOperation") or {}
                decoded.append((want_str(go_field(o, "operation")[1], "operation"), go_field(o, "request")[1]))
        except (GoJSONError, DecodeError) as e:
            return api_error(400, "ERR_MALFORMED_REQUEST", f"failed deserializing HTTP body: {e}")
        if not decoded:
            return empty()
        qmeta = metadata_from_query(query)
        prepared = []
        for op, request in decoded:
            if op not in ("upsert", "delete"):
                return api_error(400, "ERR_NOT_SUPPORTED_STATE_OPERATION", f"operation type {op} not supported")
            try:
                if request is not None and not isinstance(request, dict):
                    raise DecodeError(f"'' expected a map, got '{_go_type(request)}'")
                sr = self._decode_set_request(request, "request")
            except DecodeError as e:
                return api_error(400, "ERR_MALFORMED_REQUEST", f"failed deserializing HTTP body: {e}")
            k, bad = self._state_key(args[0], sr["key"])
            if bad:
                return bad
            md = dict(sr["metadata"] or {})
            md.update(qmeta)
            sr["metadata"] = md
            prepared.append((op, k, sr))
        # Multi: etag/ttl parse errors abort before anything runs; then each operation runs on its
        # own (Redis MULTI/EXEC: a failed script does not undo the others).
        plan = []
        try:
            for op, k, sr in prepared:
                if op == "upsert":
                    ver, ttl, data, _ = st.prepare_set(sr, mark_first_write=False)
                    plan.append(("upsert", k, (ver, ttl, data, sr["etag"] is not None)))
                else:
                    plan.append(("delete", k, sr["etag"] if sr["etag"] else None))
        except StoreError as e:
            return api_error(500, "ERR_STATE_TRANSACTION", f"error while executing state transaction: {e}")
        first_err = None
        with st.lock:
            for op, k, p in plan:
                try:
                    if op == "upsert":
                        ver, ttl, data, has_etag = p
                        st.apply_set(k, ver, ttl, data, False, has_etag)
                    else:
                        st.apply_delete(k, p)
                except StoreError as e:
                    first_err = first_err or e
        if first_err:
            return api_error(500, "ERR_STATE_TRANSACTION", f"error while executing state transaction: {first_err}")
        return empty()

    def h_state_query(self, req, args, query, body):
        st, bad = self._store(args[0])
        if bad:
            return bad
        return api_error(500, "ERR_STATE_STORE_NOT_SUPPORTED", "state store does not support querying",
                         "DAPR_STATE_QUERYING_NOT_SUPPORTED")

    # ---- output bindings (contract 4.2) ----------------------------------------------------

    def h_output_binding(self, req, args, query, body):
        try:
            r = go_decode(body)
            if r is not None and not isinstance(r, dict):
                raise DecodeError(f"json: cannot unmarshal {_go_type(r)} into Go value of type http.OutputBindingRequest")
        except (GoJSONError, DecodeError) as e:
            return api_error(400, "ERR_MALFORMED_REQUEST", f"failed deserializing HTTP body: {e}")
        return api_error(500, "ERR_INVOKE_OUTPUT_BINDING",
                         f"error invoking output binding {args[0]}: couldn't find output binding {args[0]}")

    # ---- jobs (contract 5) -----------------------------------------------------------------

    _JOB_FIELDS = {"name": "name", "schedule": "schedule", "repeats": "repeats", "dueTime": "dueTime",
                   "due_time": "dueTime", "ttl": "ttl", "data": "data", "overwrite": "overwrite",
                   "failurePolicy": "failurePolicy", "failure_policy": "failurePolicy"}

    def h_job_create(self, req, args, query, body):
        name = args[0].strip()
        if not name:
            return api_error(400, "DAPR_SCHEDULER_EMPTY", "Job name is empty", "DAPR_SCHEDULER_EMPTY")
        try:
            r = go_decode(body, whole=True) if body.strip() else GoObj()
            if not isinstance(r, dict):
                raise DecodeError("proto: syntax error: unexpected token, expected object")
            fields = {}
            for k, v in r.pairs:
                canon = self._JOB_FIELDS.get(k)   # protojson: the JSON name or the proto name, exact case
                if canon is None:
                    raise DecodeError(f'proto: unknown field "{k}"')
                fields[canon] = v
            for f in ("name", "schedule", "dueTime", "ttl"):
                if f in fields and fields[f] is not None and not isinstance(fields[f], str):
                    raise DecodeError(f"proto: invalid value for string field {f}")
            rep = fields.get("repeats")
            if isinstance(rep, str) and rep.isdigit():
                rep = float(rep)
            if rep is not None and not (isinstance(rep, float) and rep == int(rep) and 0 <= rep < 2 ** 32):
                raise DecodeError("proto: invalid value for uint32 field repeats")
            ow = fields.get("overwrite")
            if ow is not None and not isinstance(ow, bool):
                raise DecodeError("proto: invalid value for bool field overwrite")
            fp = fields.get("failurePolicy")
            if fp is not None and not isinstance(fp, dict):
                raise DecodeError("proto: invalid value for message field failurePolicy")
        except (GoJSONError, DecodeError) as e:
            return api_error(400, "ERR_MALFORMED_REQUEST", f"failed deserializing HTTP body: {e}")
        meta = {"appID": self.cfg.app_id}
        if fields.get("name"):
            return api_error(400, "DAPR_SCHEDULER_JOB_NAME", "Set the job name in the url only",
                             "DAPR_SCHEDULER_JOB_NAME", meta)
        job = Job(name)
        now = time.time()
        try:
            if not fields.get("schedule") and not fields.get("dueTime"):
                raise ValueError("at least one of schedule or dueTime must be provided")
            if fields.get("schedule"):
                job.schedule = fields["schedule"]
                job.spec = parse_job_schedule(job.schedule)
            if fields.get("dueTime"):
                job.due_time = fields["dueTime"]
                due = parse_time_or_duration(job.due_time, now)
            else:
                due = None
            if fields.get("ttl"):
                job.ttl = fields["ttl"]
                job.expires_at = parse_time_or_duration(job.ttl, now)
            if fields.get("repeats") is not None:
                job.repeats = int(fields["repeats"])
            job.failure_policy = fp
            if fp is not None:
                _job_policy(fp, self.cfg)  # validate
        except ValueError as e:
            return api_error(500, "DAPR_SCHEDULER_SCHEDULE_JOB", f"failed to schedule job due to: {e}",
                             "DAPR_SCHEDULER_SCHEDULE_JOB", meta)
        job.data_given = "data" in fields
        job.data = fields.get("data")
        job.overwrite = bool(ow)
        if due is not None:
            job.next_fire = due
        else:
            job.next_fire = self._job_next(job, now)
        with self.jobs_lock:
            if name in self.jobs and not job.overwrite:
                return api_error(409, "DAPR_SCHEDULER_SCHEDULE_JOB",
                                 f"failed to schedule job due to: rpc error: code = AlreadyExists desc = job already exists: {name}",
                                 "DAPR_SCHEDULER_SCHEDULE_JOB", meta)
            self.jobs[name] = job
        log("INFO", f"job {name} scheduled (schedule={job.schedule!r} dueTime={job.due_time!r} repeats={job.repeats})")
        return empty()

    def h_job_get(self, req, args, query, body):
        with self.jobs_lock:
            job = self.jobs.get(args[0])
        if job is None:
            return api_error(500, "DAPR_SCHEDULER_GET_JOB",
                             f"failed to get job due to: rpc error: code = NotFound desc = job not found: {args[0]}",
                             "DAPR_SCHEDULER_GET_JOB", {"appID": self.cfg.app_id})
        return Resp(200, go_marshal(job.to_proto_json()), "application/json")

    def h_job_delete(self, req, args, query, body):
        with self.jobs_lock:
            self.jobs.pop(args[0], None)
        return empty()

    @staticmethod
    def _job_next(job, after):
        if job.spec is None:
            return None
        kind, v = job.spec
        if kind == "every":
            return after + v
        return v.next_after(after)

    def jobs_loop(self):
        while not self.stop_event.wait(0.02):
            now = time.time()
            due = []
            with self.jobs_lock:
                for name, job in list(self.jobs.items()):
                    if job.expires_at is not None and job.expires_at <= now and not job.running:
                        del self.jobs[name]
                        log("INFO", f"job {name} expired (ttl)")
                        continue
                    if not job.running and job.next_fire is not None and job.next_fire <= now:
                        job.running = True
                        due.append(job)
            for job in due:
                threading.Thread(target=self._trigger_job, args=(job,), daemon=True).start()

    def _trigger_job(self, job):
        interval, max_retries = _job_policy(job.failure_policy, self.cfg)
        body = b"" if job.data is None else go_marshal(job.data).encode("utf-8")
        attempt = 0
        while not self.stop_event.is_set():
            attempt += 1
            status, _, error = self.app_request("job", "POST", "/job/" + urllib.parse.quote(job.name, safe=""),
                                                {"Content-Type": "application/json"}, body)
            if status is not None and (200 <= status < 300 or status == 404):
                break
            if max_retries is not None and attempt > max_retries:
                log("WARN", f"job {job.name}: trigger failed {attempt} times; given up")
                break
            if self.stop_event.wait(interval):
                return
        with self.jobs_lock:
            job.count += 1
            job.running = False
            if self.jobs.get(job.name) is not job:
                return
            if job.repeats and job.count >= job.repeats:
                del self.jobs[job.name]
                return
            nxt = self._job_next(job, max(time.time(), job.next_fire or 0))
            if nxt is None:
                del self.jobs[job.name]
            else:
                job.next_fire = nxt


def _job_policy(fp, cfg):
    """(retry interval seconds, max retries or None for unlimited) from a failurePolicy."""
    default = (cfg.job_retry_interval_ms / 1000.0, cfg.job_max_retries)
    if fp is None:
        return default
    found, drop = go_field(fp, "drop")
    if found and drop is not None:
        return (0.0, 0)
    found, const = go_field(fp, "constant")
    if found and const is not None:
        if not isinstance(const, dict):
            raise ValueError("failurePolicy.constant must be an object")
        iv = go_field(const, "interval")[1]
        mr = go_field(const, "maxRetries")[1]
        interval = go_duration(iv) if isinstance(iv, str) else 0.0
        if mr is None:
            return (interval, None)
        if isinstance(mr, str) and mr.isdigit():
            mr = float(mr)
        if not isinstance(mr, float) or mr != int(mr) or mr < 0:
            raise ValueError("failurePolicy.constant.maxRetries must be a non-negative integer")
        return (interval, int(mr))
    return default


def _is_content_type(ct, expected):
    """contenttype.isContentType: equal (case-insensitive) or equal up to the first `;`."""
    lct = (ct or "").lower()
    if lct == expected:
        return True
    if ";" in lct:
        return lct.split(";", 1)[0] == expected
    return False


def _message_ttl(meta):
    """contrib metadata.TryGetTTL: ttlInSeconds (integer seconds) or ttl (Go duration); invalid
    values are ignored (ApplyMetadata drops the error)."""
    for k, v in meta.items():
        if k.lower() == "ttlinseconds":
            try:
                n = go_atoi(v)
            except ValueError:
                return None
            return n if n >= 0 else None
    for k, v in meta.items():
        if k.lower() == "ttl":
            try:
                d = go_duration(v)
            except ValueError:
                return None
            return d if d >= 0 else None
    return None


def _bulk_event_bytes(event, ctype):
    """ConvertEventToBytes (contract 1.3)."""
    lct = (ctype or "").lower()
    if _is_content_type(ctype, "application/json") or _is_content_type(ctype, "application/cloudevents+json"):
        return go_marshal(event).encode("utf-8")
    if lct.startswith("text/") or _is_content_type(ctype, "application/xml"):
        if not isinstance(event, str):
            raise ValueError(f"error: mismatch between contentType and event: expected string for {ctype}")
        return event.encode("utf-8")
    if _is_content_type(ctype, "application/octet-stream"):
        if not isinstance(event, str):
            raise ValueError("error: mismatch between contentType and event: expected base64 string")
        try:
            return base64.b64decode(event, validate=True)
        except (ValueError, TypeError) as e:
            raise ValueError(f"error decoding base64 event: {e}") from None
    raise ValueError(f"error: content type {ctype!r} not supported")


def interpret_app_reply(status, reply):
    """The 2.3 table. Returns (outcome, reason)."""
    if 200 <= status <= 299:
        text = reply.decode("utf-8", errors="replace")
        try:
            v = go_decode(text)
        except GoJSONError as e:
            return "success", ("empty body" if str(e) == "EOF" else f"unparsable body: {e}")
        if not isinstance(v, dict):
            return "success", "body is not a JSON object"
        st = ""
        for k, x in v.pairs:
            if k == "status" or k.casefold() == "status":
                if x is None:
                    continue
                if not isinstance(x, str):
                    return "success", "status is not a string"
                st = x
        if st in ("", "SUCCESS"):
            return "success", None
        if st == "RETRY":
            return "retry", "RETRY status"
        if st == "DROP":
            return "drop", "DROP status"
        return "retry", f"unknown status {st!r}"
    if status == 404:
        return "drop", "404 from app (non-retriable)"
    return "retry", f"status {status} from app"


# ---------------------------------------------------------------------------------------------
# Control API
# ---------------------------------------------------------------------------------------------


class ControlHandler(_BaseHandler):
    def route(self, body):
        sc = self.server.sidecar
        url = urllib.parse.urlsplit(self.path)
        path = _clean_path(url.path)
        q = {k: v[0] for k, v in urllib.parse.parse_qs(url.query).items()}

        def ok(obj, status=200):
            return Resp(status, json.dumps(obj), "application/json")

        def flt(items):
            return [x for x in items if all(str(x.get(k)) == v for k, v in q.items())]

        if self.command == "GET":
            with sc.lock:
                if path == "/published":
                    return ok(flt([m.to_json() for m in sc.published]))
                if path == "/deliveries":
                    return ok(flt(list(sc.deliveries)))
                if path == "/app-calls":
                    return ok(flt(list(sc.app_calls)))
                if path == "/subscriptions":
                    return ok({"loaded": sc.subs_loaded, "error": sc.subs_error,
                               "subscriptions": [s.to_json() for s in sc.sub_map.values()],
                               "refused": sc.subs_refused})
                if path == "/state":
                    return ok({n: s.dump() for n, s in sc.stores.items()})
                if path == "/status":
                    with sc.lanes_lock:
                        inflight = sc.inflight
                    return ok({"appPortOpen": sc.app_port_open, "ready": sc.ready,
                               "subscriptionsLoaded": sc.subs_loaded, "inflight": inflight,
                               "publish": sc.fail_publish, "listening": sc.listener is not None,
                               "bindings": {b.name: {"started": b.started, "probeStatus": b.probe_status,
                                                     "fires": b.fires} for b in sc.bindings.values()}})
            if path == "/jobs":
                with sc.jobs_lock:
                    return ok({n: dict(to_plain(j.to_proto_json()), count=j.count, nextFire=j.next_fire)
                               for n, j in sc.jobs.items()})
        if self.command == "POST":
            if path == "/fail":
                try:
                    req = json.loads(body or b"{}")
                    mode = req.get("publish")
                    if mode not in (None, "500", "down"):
                        raise ValueError("publish must be \"500\", \"down\" or null")
                except (ValueError, AttributeError) as e:
                    return ok({"error": str(e)}, 400)
                with sc.lock:
                    previous, sc.fail_publish = sc.fail_publish, mode
                log("INFO", f"publish failure mode: {mode}")
                if mode == "down":
                    sc.stop_listener()
                elif previous == "down":
                    sc.start_listener()
                return ok({"publish": mode})
            if path == "/peer-publish":
                req = json.loads(body or b"{}")
                env = req["envelope"]
                env = go_decode(env.encode("utf-8"), precise=True, whole=True) if env is not None else None
                sc.publish_message(req["pubsub"], req["topic"], req["metadata"],
                                   base64.b64decode(req["data"]), req["raw"], env,
                                   req["contentType"], from_peer=True)
                return ok({})
            if path.startswith("/cron/"):
                name = urllib.parse.unquote(path[len("/cron/"):])
                b = sc.bindings.get(name)
                if b is None:
                    return ok({"error": f"no cron binding {name}"}, 404)
                if not b.started:
                    return ok({"error": f"binding {name} is not started (OPTIONS probe answered {b.probe_status})"}, 409)
                status, error = sc.fire_binding(b)
                return ok({"status": status, "error": error})
            if path == "/reset":
                try:
                    req = json.loads(body or b"{}")
                except ValueError:
                    req = {}
                with sc.lock:
                    sc.published.clear()
                    sc.deliveries.clear()
                    sc.app_calls.clear()
                    if isinstance(req, dict) and req.get("state"):
                        for st in sc.stores.values():
                            with st.lock:
                                st.items.clear()
                return ok({"reset": True})
        return ok({"error": f"no control route {self.command} {path}"}, 404)


# ---------------------------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------------------------


def parse_args(argv):
    p = argparse.ArgumentParser(
        prog="dapr_sidecar_double.py",
        description="Sidecar double for TaskFlow's tests (a stand-in for the Dapr sidecar HTTP API; "
                    "test tool only, never shipped). See the module docstring.")
    p.add_argument("--dapr-http-port", type=int, required=True)
    p.add_argument("--app-port", type=int, default=None)
    p.add_argument("--app-id", default="taskflow")
    p.add_argument("--dapr-api-token", default=os.environ.get("DAPR_API_TOKEN") or None)
    p.add_argument("--app-api-token", default=os.environ.get("APP_API_TOKEN") or None)
    p.add_argument("--pubsub", action="append", default=None, metavar="NAME[:broadcast]")
    p.add_argument("--state-store", action="append", default=None, metavar="NAME")
    p.add_argument("--cron", action="append", default=[], metavar="NAME:SECONDS[:input]")
    p.add_argument("--scoped-topic", action="append", default=[], metavar="PUBSUB:TOPIC")
    p.add_argument("--control-port", type=int, default=None)
    p.add_argument("--retry-interval-ms", type=int, default=200)
    p.add_argument("--max-retries", type=int, default=-1)
    p.add_argument("--peer", action="append", default=None, metavar="CONTROL_URL",
                   help="another replica's sidecar double (its control URL): both read the same topics")
    p.add_argument("--shared-broker", action="store_true",
                   help="all pub/sub components share one broker's topics (each its own consumer group)")
    p.add_argument("--job-retry-interval-ms", type=int, default=1000)
    p.add_argument("--job-max-retries", type=int, default=3)
    p.add_argument("--app-timeout-s", type=float, default=60.0)
    p.add_argument("--listen-address", default="127.0.0.1")
    p.add_argument("--app-channel-address", default="127.0.0.1")
    cfg = p.parse_args(argv)
    if cfg.pubsub is None:
        cfg.pubsub = ["pubsub", "pubsub-broadcast:broadcast"]
    if cfg.state_store is None:
        cfg.state_store = ["statestore"]
    if cfg.job_max_retries < 0:
        cfg.job_max_retries = None
    return cfg


def main(argv=None):
    cfg = parse_args(sys.argv[1:] if argv is None else argv)
    sc = Sidecar(cfg)
    import signal

    def on_signal(signum, frame):
        sc.stop_event.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    import faulthandler
    faulthandler.register(signal.SIGUSR1, all_threads=True)  # stacks to stderr, for a hang
    sc.start_listener()
    control = None
    if cfg.control_port is not None:
        control = _Server((cfg.listen_address, cfg.control_port), ControlHandler, sc)
        threading.Thread(target=control.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True).start()
        log("INFO", f"control API listening on {cfg.listen_address}:{cfg.control_port}")
    threading.Thread(target=sc.startup, daemon=True).start()
    threading.Thread(target=sc.jobs_loop, daemon=True).start()
    sys.stdout.write("READY\n")
    sys.stdout.flush()
    while not sc.stop_event.wait(0.2):
        pass
    log("INFO", "stopping")
    sc.stop_listener("shutting down")
    if control is not None:
        control.shutdown()
        control.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
