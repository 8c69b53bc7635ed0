"""Shared machinery for the TaskFlow integration tests (Python 3.11 standard library only).

The runner (run.py) fills in CTX (binary, PostgreSQL admin conninfo, temp dir) and, for test
modules that use the shared per-module server, CTX.server. Tests talk to the server through
api(); they build tokens with make_token() and users with sign_up().
"""

import base64
import contextlib
import hashlib
import hmac
import http.client
import json
import os
import re
import secrets
import shlex
import signal
import socket
import string
import subprocess
import tempfile
import time
import unittest
import urllib.parse
import uuid

REQUEST_TIMEOUT = 10.0          # seconds per HTTP request (the server may run under ASan)
START_TIMEOUT = 30.0            # seconds for a server to answer GET /health
STOP_TIMEOUT = 15.0             # seconds for a server to exit after SIGTERM
CLI_TIMEOUT = 60.0              # seconds for a CLI command (migrate, --version, ...)

UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
TS_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
ALLOWED_ORIGIN = "http://allowed.example"


class Context:
    """What the runner knows: set up by run.py before any test runs."""

    def __init__(self):
        self.bin = None            # path of the taskflow binary
        self.pg_admin = {}         # parsed --pg-admin conninfo (host, port, user, dbname)
        self.pg_bindir = "/usr/lib/postgresql/15/bin"
        self.tmpdir = None         # a temp dir for logs, keys, ...
        self.server = None         # the Server of the current test module (or None)
        self.db_name = None        # the database of that server
        self.databases = []        # databases created (dropped at the end)
        self.servers = []          # every Server started (their logs are shown on failure)


CTX = Context()


# ---------------------------------------------------------------------------------------------
# PostgreSQL
# ---------------------------------------------------------------------------------------------

def parse_conninfo(s):
    out = {}
    for part in shlex.split(s):
        if "=" in part:
            k, v = part.split("=", 1)
            out[k.strip()] = v.strip()
    return out


def conninfo(dbname):
    p = dict(CTX.pg_admin)
    p["dbname"] = dbname
    return " ".join(f"{k}={v}" for k, v in p.items())


def _pg_args():
    a = CTX.pg_admin
    args = []
    if "host" in a:
        args += ["-h", a["host"]]
    if "port" in a:
        args += ["-p", a["port"]]
    if "user" in a:
        args += ["-U", a["user"]]
    return args


def _pg_tool(name):
    p = os.path.join(CTX.pg_bindir, name)
    return p if os.path.exists(p) else name


def create_db(prefix="tfit"):
    """Create a fresh, empty database; returns (name, conninfo)."""
    name = f"{prefix}_{os.getpid()}_{secrets.token_hex(4)}".lower()
    r = subprocess.run([_pg_tool("createdb")] + _pg_args() + [name],
                       capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        raise RuntimeError(f"createdb {name} failed: {r.stderr.strip()}")
    CTX.databases.append(name)
    return name, conninfo(name)


def drop_db(name, force=True):
    args = [_pg_tool("dropdb")] + _pg_args() + ["--if-exists"]
    if force:
        args.append("--force")
    r = subprocess.run(args + [name], capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        raise RuntimeError(f"dropdb {name} failed: {r.stderr.strip()}")
    if name in CTX.databases:
        CTX.databases.remove(name)


def psql(dbname, sql):
    """Run SQL in a database; returns stdout (tuples only, unaligned)."""
    r = subprocess.run([_pg_tool("psql"), "-X", "-v", "ON_ERROR_STOP=1", "-Atq", "-c", sql,
                        conninfo(dbname)], capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        raise RuntimeError(f"psql failed: {r.stderr.strip()}")
    return r.stdout


def psql_rows(dbname, sql):
    """Run a query; returns its rows as lists of text fields."""
    out = psql(dbname, sql).strip()
    return [line.split("|") for line in out.splitlines()] if out else []


def append_event(dbname, event_id, event_type, user_id, data):
    """An event written behind the server's back as the server writes one: in the log and the
    outbox, with no NOTIFY."""
    psql(dbname, "with e as (insert into event_log (event_id, event_type, user_id, aggregate_id, seq, data)"
                 f" values ('{event_id}', '{event_type}', '{user_id}', '1', 1, '{data}') returning id)"
                 " insert into event_outbox (id) select id from e")


def unpublished(dbname, event_ids=None, user_ids=None):
    """How many events wait in the outbox (of `event_ids`, or of `user_ids`, when given)."""
    where = ""
    if event_ids is not None:
        where = " where event_id in (" + ",".join(f"'{e}'" for e in event_ids) + ")"
    elif user_ids is not None:
        where = " where user_id in (" + ",".join(f"'{u}'" for u in user_ids) + ")"
    return int(psql(dbname, f"select count(*) from event_outbox join event_log using (id){where}"))


def is_published(dbname, event_id):
    """The relay has had the bus acknowledge the event (it left the outbox)."""
    return unpublished(dbname, [event_id]) == 0


def wait_until(predicate, timeout=20.0, what="condition", interval=0.05):
    """Poll until predicate() is true; fail the test after timeout seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


# ---------------------------------------------------------------------------------------------
# The server process
# ---------------------------------------------------------------------------------------------

def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def random_secret(n=48):
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(n))


def base_env(db_conninfo, port=None, secret=None, **extra):
    """The environment the runner starts a server with (plus ASAN_/UBSAN_/PATH from ours)."""
    env = {k: v for k, v in os.environ.items()
           if k in ("PATH", "HOME", "LANG", "LC_ALL", "TZ") or k.startswith(("ASAN_", "UBSAN_", "LSAN_"))}
    env.update({
        "HOST": "127.0.0.1",
        "PORT": str(port if port is not None else free_port()),
        "DATABASE_URL": db_conninfo,
        "JWT_SECRET": secret if secret is not None else random_secret(),
        "CORS_ORIGINS": ALLOWED_ORIGIN,
        "LOG_LEVEL": "warn",
        "THREADS": "2",
    })
    for k, v in extra.items():
        if v is None:
            env.pop(k, None)
        else:
            env[k] = v
    return env


def run_cli(args, env=None, timeout=CLI_TIMEOUT):
    """Run the taskflow binary with args; returns CompletedProcess (text)."""
    return subprocess.run([CTX.bin] + list(args), env=env, capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


def migrate(db_conninfo, env=None):
    e = env or base_env(db_conninfo)
    return run_cli(["migrate"], env=e)


class Server:
    """A `taskflow serve` process with its stdout/stderr in a log file."""

    def __init__(self, env, name="server"):
        self.env = dict(env)
        self.port = int(env["PORT"])
        self.secret = env.get("JWT_SECRET")
        self.name = name
        self.proc = None
        self.log_path = os.path.join(CTX.tmpdir or tempfile.gettempdir(),
                                     f"{name}-{self.port}-{secrets.token_hex(3)}.log")
        self.exit_code = None

    @property
    def host(self):
        return "127.0.0.1"

    def start(self):
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([CTX.bin, "serve"], env=self.env, stdout=self._log,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        CTX.servers.append(self)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self._log.close()
                raise RuntimeError(f"server {self.name} exited with {self.proc.returncode} "
                                   f"before answering /health:\n{self.log_tail()}")
            try:
                status, _, _ = api("GET", "/health", server=self, timeout=2)
                if status == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.1)
        self.kill()
        raise RuntimeError(f"server {self.name} did not answer GET /health within "
                           f"{START_TIMEOUT}s:\n{self.log_tail()}")

    def stop(self, timeout=STOP_TIMEOUT):
        """SIGTERM, wait; returns the exit status (None if it had to be killed)."""
        if self.proc is None:
            return None
        if self.exit_code is not None or getattr(self, "_killed", False):
            return self.exit_code
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                self._killed = True
                self.exit_code = None
                return None
        self.exit_code = self.proc.returncode
        self._log.close()
        return self.exit_code

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        try:
            self._log.close()
        except Exception:
            pass

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, n=40):
        try:
            with open(self.log_path, "rb") as f:
                lines = f.read().decode("utf-8", "replace").splitlines()
            return "\n".join(lines[-n:])
        except OSError:
            return "(no log)"


def stop_checked(server):
    """SIGTERM a server a test class started; raises unless it was still running and exited 0
    (a crash, or a leak report at exit, must fail the class)."""
    was_alive = server.alive()
    rc = server.stop()
    if not was_alive or rc != 0:
        raise AssertionError(f"{server.name}: " + (
            f"had exited (crash?) with status {server.proc.returncode}" if not was_alive
            else f"exit status after SIGTERM {rc!r} (None: still running after {STOP_TIMEOUT}s)")
            + f"; log tail:\n{server.log_tail(30)}")


@contextlib.contextmanager
def serving(server):
    """A started server for a with-block: at its end the server must still be running and exit 0
    on SIGTERM (stop_checked); on an error in the block it is stopped all the same."""
    try:
        yield server
    except BaseException:
        server.stop()
        raise
    stop_checked(server)


def start_server(db_conninfo=None, name="server", do_migrate=True, **env_extra):
    """Create a DB (unless given), migrate it, start a server on it; returns the Server."""
    if db_conninfo is None:
        _, db_conninfo = create_db()
    env = base_env(db_conninfo, **env_extra)
    if do_migrate:
        r = migrate(db_conninfo, env)
        if r.returncode != 0:
            raise RuntimeError(f"taskflow migrate failed ({r.returncode}): {r.stderr.strip()}")
    for attempt in range(3):
        server = Server(env, name=name)
        try:
            return server.start()
        except RuntimeError:
            # A free port can be taken by someone else before the server binds it.
            if "PORT" in env_extra or attempt == 2 or "cannot listen" not in server.log_tail():
                raise
            env["PORT"] = str(free_port())


# ---------------------------------------------------------------------------------------------
# HTTP
# ---------------------------------------------------------------------------------------------

class Resp(tuple):
    """(status, headers, json) with .raw (the body bytes) as an extra attribute."""

    def __new__(cls, status, headers, data, raw):
        r = super().__new__(cls, (status, headers, data))
        r.raw = raw
        return r

    @property
    def status(self):
        return self[0]

    @property
    def headers(self):
        return self[1]

    @property
    def json(self):
        return self[2]


_NO_BODY = object()


def _encode_body(body, headers):
    if body is _NO_BODY or body is None:
        return None
    if isinstance(body, (bytes, bytearray)):
        return bytes(body)
    if "content-type" not in {k.lower() for k in headers}:
        headers["Content-Type"] = "application/json"
    if isinstance(body, str):
        return body.encode("utf-8")  # a str is sent verbatim (for malformed JSON)
    return json.dumps(body).encode("utf-8")


def _parse(raw):
    if not raw:
        return None
    try:
        return json.loads(raw.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        return None


def api(method, path, body=_NO_BODY, headers=None, token=None, server=None, timeout=REQUEST_TIMEOUT):
    """One HTTP request on a new connection. body: dict/list (sent as JSON with
    Content-Type: application/json unless headers name one), str (sent verbatim, same default
    content type), bytes (sent verbatim, no default content type), None/absent (no body).
    headers: dict; a value of None drops that header. Returns Resp(status, headers, json)."""
    srv = server or CTX.server
    hdrs = {}
    for k, v in (headers or {}).items():
        hdrs[k] = v
    if token is not None:
        hdrs.setdefault("Authorization", f"Bearer {token}")
    data = _encode_body(body, hdrs)
    hdrs = {k: v for k, v in hdrs.items() if v is not None}
    conn = http.client.HTTPConnection(srv.host, srv.port, timeout=timeout)
    try:
        conn.putrequest(method, path, skip_accept_encoding=True)
        for k, v in hdrs.items():
            conn.putheader(k, v)
        if data is not None and "content-length" not in {k.lower() for k in hdrs}:
            conn.putheader("Content-Length", str(len(data)))
        conn.endheaders(data)
        r = conn.getresponse()
        raw = r.read()
        return Resp(r.status, r.headers, _parse(raw), raw)
    finally:
        conn.close()


def raw_request(request_bytes, server=None, chunks=None, timeout=REQUEST_TIMEOUT, method="POST"):
    """Send bytes on a socket, then read one response. chunks: further byte strings, sent from a
    thread while the response is read, so that a server answering early (as it may for a body
    that is too large) and closing is seen, not mistaken for a send error."""
    import threading
    srv = server or CTX.server
    sock = socket.create_connection((srv.host, srv.port), timeout=timeout)

    def send():
        try:
            sock.sendall(request_bytes)
            for c in chunks or ():
                sock.sendall(c)
        except OSError:
            pass

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    try:
        r = http.client.HTTPResponse(sock, method=method)
        r.begin()
        raw = r.read()
        return Resp(r.status, r.headers, _parse(raw), raw)
    finally:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        sock.close()
        sender.join(timeout=5)


def qs(params):
    """Build a query string from a dict or list of pairs (values URL-encoded)."""
    return "?" + urllib.parse.urlencode(params, doseq=True) if params else ""


# ---------------------------------------------------------------------------------------------
# Tokens
# ---------------------------------------------------------------------------------------------

def b64url(data):
    if isinstance(data, str):
        data = data.encode()
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(s):
    s += "=" * (-len(s) % 4)
    return base64.urlsafe_b64decode(s)


def decode_jwt(token):
    h, p, _ = token.split(".")
    return json.loads(b64url_decode(h)), json.loads(b64url_decode(p))


def rsa_sign(private_key_path, data):
    r = subprocess.run(["openssl", "dgst", "-sha256", "-sign", private_key_path], input=data,
                       capture_output=True, timeout=30)
    if r.returncode != 0:
        raise RuntimeError(f"openssl dgst -sign failed: {r.stderr.decode()}")
    return r.stdout


def gen_rsa_key(directory, name="rsa"):
    """Generate an RSA key pair with the openssl CLI; returns (private_path, public_pem_text)."""
    priv = os.path.join(directory, f"{name}-{secrets.token_hex(3)}.pem")
    pub = priv[:-4] + ".pub.pem"
    subprocess.run(["openssl", "genrsa", "-out", priv, "2048"], check=True, capture_output=True,
                   timeout=60)
    subprocess.run(["openssl", "rsa", "-in", priv, "-pubout", "-out", pub], check=True,
                   capture_output=True, timeout=60)
    with open(pub) as f:
        return priv, f.read()


_MISSING = object()


def make_token(sub=_MISSING, secret=None, exp=3600, alg="HS256", header=None, claims=None,
               iat=0, key_path=None, signature=None):
    """A JWT. sub: the subject (None leaves it out). secret: HMAC key (default: the current
    server's JWT_SECRET). exp/iat: offsets in seconds from now (None leaves the claim out).
    alg: HS256 (HMAC-SHA256 with secret), RS256 (openssl with key_path), anything else (e.g.
    "none") gets an empty signature unless signature is given. header/claims: extra or
    overriding entries (a value of None removes the entry)."""
    now = int(time.time())
    h = {"alg": alg, "typ": "JWT"}
    for k, v in (header or {}).items():
        if v is None:
            h.pop(k, None)
        else:
            h[k] = v
    c = {}
    if sub is _MISSING:
        raise ValueError("make_token needs sub (None to leave it out)")
    if sub is not None:
        c["sub"] = sub
    if iat is not None:
        c["iat"] = now + iat
    if exp is not None:
        c["exp"] = now + exp
    for k, v in (claims or {}).items():
        if v is None:
            c.pop(k, None)
        else:
            c[k] = v
    signing_input = (b64url(json.dumps(h, separators=(",", ":"))) + "." +
                     b64url(json.dumps(c, separators=(",", ":")))).encode()
    if signature is not None:
        sig = signature
    elif alg == "HS256":
        key = secret if secret is not None else CTX.server.secret
        if isinstance(key, str):
            key = key.encode()
        sig = hmac.new(key, signing_input, hashlib.sha256).digest()
    elif alg == "RS256":
        sig = rsa_sign(key_path, signing_input)
    else:
        sig = b""
    return signing_input.decode() + "." + b64url(sig)


# ---------------------------------------------------------------------------------------------
# Users and tasks
# ---------------------------------------------------------------------------------------------

def random_email(prefix="user"):
    return f"{prefix}-{uuid.uuid4().hex[:16]}@example.com"


def sign_up_full(server=None, email=None, password=None, name="Test User"):
    """Sign up a fresh user; returns a dict with email, password, user, token, id."""
    email = email or random_email()
    password = password or ("pw-" + secrets.token_hex(8))
    status, _, data = api("POST", "/api/auth/sign-up",
                          {"email": email, "password": password, "name": name}, server=server)
    if status != 201 or not isinstance(data, dict) or "token" not in data:
        raise AssertionError(f"sign-up of {email} failed: {status} {data}")
    return {"email": email, "password": password, "user": data["user"], "token": data["token"],
            "id": data["user"]["id"]}


def sign_up(server=None, **kw):
    """Sign up a fresh random user; returns (user_id, token)."""
    u = sign_up_full(server=server, **kw)
    return u["id"], u["token"]


def tasks_path(uid, task_id=None, suffix=""):
    p = f"/api/{uid}/tasks"
    if task_id is not None:
        p += f"/{task_id}"
    return p + suffix


def create_task(uid, token, server=None, **fields):
    body = {"title": "task " + secrets.token_hex(3)}
    body.update(fields)
    status, _, data = api("POST", tasks_path(uid), body, token=token, server=server)
    if status != 201:
        raise AssertionError(f"create task failed: {status} {data}")
    return data


def list_all(uid, token, params=None, limit=200, server=None, max_pages=200):
    """Follow next_cursor through every page; returns the concatenated items."""
    items = []
    cursor = None
    for _ in range(max_pages):
        p = list((params or {}).items()) if isinstance(params, dict) else list(params or [])
        p.append(("limit", str(limit)))
        if cursor:
            p.append(("cursor", cursor))
        status, _, data = api("GET", tasks_path(uid) + qs(p), token=token, server=server)
        if status != 200:
            raise AssertionError(f"list failed: {status} {data}")
        items.extend(data["items"])
        cursor = data["next_cursor"]
        if cursor is None:
            return items
    raise AssertionError("too many pages")


# ---------------------------------------------------------------------------------------------
# Assertions
# ---------------------------------------------------------------------------------------------

ANY = object()


class ApiTestCase(unittest.TestCase):
    """A TestCase with assertions on the API's error shape."""

    maxDiff = 4000

    def assertJsonContentType(self, resp):
        ct = resp.headers.get("Content-Type", "")
        self.assertTrue(ct.lower().startswith("application/json"),
                        f"Content-Type {ct!r} is not application/json (status {resp[0]}, body {resp.raw[:200]!r})")

    def assertError(self, resp, status, code, field=ANY, msg=None):
        """The response is `status` with {"error":{"code":code,"message":...,"field"?}}.
        field=ANY: not checked; None: must be absent; a string: must equal."""
        st, _, data = resp
        ctx = f"{msg + ': ' if msg else ''}got {st} {resp.raw[:300]!r}"
        self.assertEqual(st, status, ctx)
        self.assertIsInstance(data, dict, ctx)
        self.assertIn("error", data, ctx)
        err = data["error"]
        self.assertIsInstance(err, dict, ctx)
        self.assertEqual(err.get("code"), code, ctx)
        self.assertIsInstance(err.get("message"), str, ctx)
        self.assertTrue(err["message"], ctx)
        if field is None:
            self.assertNotIn("field", err, ctx)
        elif field is not ANY:
            self.assertEqual(err.get("field"), field, ctx)
        self.assertJsonContentType(resp)

    def assertStatus(self, resp, status, msg=None):
        self.assertEqual(resp[0], status, f"{msg + ': ' if msg else ''}got {resp[0]} {resp.raw[:300]!r}")
