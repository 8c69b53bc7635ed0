"""A minimal RFC 6455 WebSocket client for the integration tests (Python 3.11 standard library).

    ws = wsclient.connect("127.0.0.1", port, "/ws/user/u1/tasks?token=...")
    if ws.status != 101: ...            # a Rejected: .status, .headers, .body, .json
    ws.recv_json()                       # {"type": "hello", "seq": 0}
    ws.send_text('{"type":"ping"}')
    ws.close(1000)

connect() performs the opening handshake and checks the server's answer (Sec-WebSocket-Accept,
Upgrade, Connection, the selected subprotocol). When the server does not answer 101 it returns a
Rejected carrying the HTTP answer instead, so tests can assert 400/401/403 JSON errors.

Frames the client sends are masked, as RFC 6455 requires of clients. recv() reassembles
fragmented messages and answers pings with pongs on its own (unless answer_pings is False); it
returns (opcode, payload) of the next data message, or (OP_CLOSE, payload) once when the server's
close frame arrives (close_code / close_reason are then set and the close is echoed). After that,
or when the TCP connection ends without a close frame (close_code stays None: "1006"), recv()
raises ConnectionClosed. A frame the server must not send (masked, reserved bits, bad
opcode, oversized or fragmented control frame, invalid UTF-8 text, a broken fragment sequence)
raises ProtocolError. A recv() that times out raises TimeoutError and loses nothing: partial
frames stay buffered.
"""

import base64
import hashlib
import json
import os
import socket
import struct
import threading
import time

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

OP_CONT = 0x0
OP_TEXT = 0x1
OP_BINARY = 0x2
OP_CLOSE = 0x8
OP_PING = 0x9
OP_PONG = 0xA
_DATA_OPS = (OP_TEXT, OP_BINARY)
_CONTROL_OPS = (OP_CLOSE, OP_PING, OP_PONG)

MAX_HEADER_BYTES = 64 * 1024
MAX_MESSAGE_BYTES = 64 * 1024 * 1024   # a sanity cap on what we buffer for one message


class ProtocolError(Exception):
    """The server broke RFC 6455 (handshake or framing)."""


class HandshakeError(ProtocolError):
    """The server answered 101 but the handshake is not valid."""


class ConnectionClosed(Exception):
    """The connection is closed: after the close handshake, or the TCP connection ended.
    .code is the close code received (None when no close frame came: abnormal closure)."""

    def __init__(self, msg, code=None, reason=""):
        super().__init__(msg)
        self.code = code
        self.reason = reason


class Headers:
    """Response headers: a list of (name, value) with case-insensitive look-up."""

    def __init__(self, items):
        self.items = list(items)

    def get(self, name, default=None):
        n = name.lower()
        for k, v in self.items:
            if k.lower() == n:
                return v
        return default

    def get_all(self, name):
        n = name.lower()
        return [v for k, v in self.items if k.lower() == n]

    def __contains__(self, name):
        return self.get(name) is not None

    def __getitem__(self, name):
        v = self.get(name)
        if v is None:
            raise KeyError(name)
        return v

    def __repr__(self):
        return f"Headers({self.items!r})"


class Rejected:
    """The server's answer when it did not switch protocols."""

    def __init__(self, status, reason, headers, body):
        self.status = status
        self.reason = reason
        self.headers = headers
        self.body = body

    @property
    def json(self):
        try:
            return json.loads(self.body.decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            return None

    @property
    def raw(self):   # the name harness.Resp uses
        return self.body

    def __repr__(self):
        return f"Rejected({self.status} {self.reason!r}, body={self.body[:300]!r})"


def accept_key(key):
    """Sec-WebSocket-Accept for a Sec-WebSocket-Key."""
    return base64.b64encode(hashlib.sha1((key + GUID).encode("ascii")).digest()).decode("ascii")


def mask_bytes(key, data):
    """XOR data with the 4-byte masking key (RFC 6455 section 5.3)."""
    n = len(data)
    if n == 0:
        return b""
    k = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "little") ^ int.from_bytes(k, "little")).to_bytes(n, "little")


def build_frame(opcode, payload, fin=True, mask=True, rsv=0, mask_key=None, length=None):
    """The bytes of one frame. length overrides the length field (to send a lying header)."""
    payload = bytes(payload)
    b0 = (0x80 if fin else 0) | ((rsv & 0x7) << 4) | (opcode & 0xF)
    n = len(payload) if length is None else length
    mbit = 0x80 if mask else 0
    if n < 126:
        head = struct.pack("!BB", b0, mbit | n)
    elif n < 65536:
        head = struct.pack("!BBH", b0, mbit | 126, n)
    else:
        head = struct.pack("!BBQ", b0, mbit | 127, n)
    if mask:
        key = mask_key if mask_key is not None else os.urandom(4)
        return head + key + mask_bytes(key, payload)
    return head + payload


def _read_until(sock, buf, marker, limit, deadline):
    while marker not in buf:
        if len(buf) > limit:
            raise ProtocolError(f"no {marker!r} within {limit} bytes of the answer")
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("timed out reading the handshake answer")
        sock.settimeout(remaining)
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionClosed(f"the server closed the connection during the handshake "
                                   f"(got {bytes(buf[:300])!r})")
        buf += chunk
    return buf


def _read_body(sock, buf, headers, deadline):
    """The body of a non-101 answer: by Content-Length, chunked, or up to EOF."""
    te = (headers.get("Transfer-Encoding") or "").lower()
    cl = headers.get("Content-Length")

    def more():
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("timed out reading the answer's body")
        sock.settimeout(remaining)
        return sock.recv(65536)

    if "chunked" in te:
        out = bytearray()
        while True:
            buf = _read_until(sock, buf, b"\r\n", MAX_HEADER_BYTES, deadline)
            line, _, rest = bytes(buf).partition(b"\r\n")
            size = int(line.split(b";")[0].strip(), 16)
            buf = bytearray(rest)
            while len(buf) < size + 2:
                c = more()
                if not c:
                    raise ProtocolError("EOF inside a chunk")
                buf += c
            out += buf[:size]
            buf = buf[size + 2:]
            if size == 0:
                return bytes(out)
    if cl is not None:
        n = int(cl)
        while len(buf) < n:
            c = more()
            if not c:
                break
            buf += c
        return bytes(buf[:n])
    while True:
        try:
            c = more()
        except (TimeoutError, OSError):
            break
        if not c:
            break
        buf += c
    return bytes(buf)


def connect(host, port, path, headers=None, subprotocols=None, timeout=10, answer_pings=True,
            rcvbuf=None, origin=None):
    """Open a WebSocket; returns a WebSocket (status 101) or a Rejected (any other status).

    headers: extra request headers (dict); a value of None drops one of the defaults (Host,
    Upgrade, Connection, Sec-WebSocket-Key, Sec-WebSocket-Version). subprotocols: a list sent as
    Sec-WebSocket-Protocol. origin: sent as Origin. rcvbuf: SO_RCVBUF set before connecting (a
    small one makes a client that does not read fill up quickly)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        if rcvbuf is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.settimeout(timeout)
        sock.connect((host, port))
        key = base64.b64encode(os.urandom(16)).decode("ascii")
        hdrs = {"Host": f"{host}:{port}", "Upgrade": "websocket", "Connection": "Upgrade",
                "Sec-WebSocket-Key": key, "Sec-WebSocket-Version": "13"}
        if subprotocols:
            hdrs["Sec-WebSocket-Protocol"] = ", ".join(subprotocols)
        if origin is not None:
            hdrs["Origin"] = origin
        lower = {k.lower(): k for k in hdrs}
        for k, v in (headers or {}).items():
            if k.lower() in lower:
                del hdrs[lower[k.lower()]]
            if v is not None:
                hdrs[k] = v
        req = f"GET {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in hdrs.items()) + "\r\n"
        sock.sendall(req.encode("latin-1"))

        deadline = time.monotonic() + timeout
        buf = _read_until(sock, bytearray(), b"\r\n\r\n", MAX_HEADER_BYTES, deadline)
        head, _, rest = bytes(buf).partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1."):
            raise ProtocolError(f"bad status line {lines[0]!r}")
        status = int(parts[1])
        reason = parts[2] if len(parts) > 2 else ""
        items = []
        for line in lines[1:]:
            if ":" not in line:
                raise ProtocolError(f"bad header line {line!r}")
            k, v = line.split(":", 1)
            items.append((k.strip(), v.strip()))
        rh = Headers(items)

        if status != 101:
            body = _read_body(sock, bytearray(rest), rh, deadline)
            sock.close()
            return Rejected(status, reason, rh, body)

        if (rh.get("Upgrade") or "").lower() != "websocket":
            raise HandshakeError(f"101 with Upgrade {rh.get('Upgrade')!r}")
        conn_tokens = [t.strip().lower() for v in rh.get_all("Connection") for t in v.split(",")]
        if "upgrade" not in conn_tokens:
            raise HandshakeError(f"101 with Connection {rh.get_all('Connection')!r}")
        if rh.get("Sec-WebSocket-Accept") != accept_key(hdrs.get("Sec-WebSocket-Key", key)):
            raise HandshakeError(f"wrong Sec-WebSocket-Accept {rh.get('Sec-WebSocket-Accept')!r}")
        if rh.get("Sec-WebSocket-Extensions"):
            raise HandshakeError(f"an extension we did not offer: {rh.get('Sec-WebSocket-Extensions')!r}")
        proto = rh.get("Sec-WebSocket-Protocol")
        if proto is not None and proto not in (subprotocols or []):
            raise HandshakeError(f"the server selected subprotocol {proto!r}, not one offered "
                                 f"({subprotocols!r})")
        return WebSocket(sock, rh, proto, bytearray(rest), answer_pings=answer_pings)
    except BaseException:
        sock.close()
        raise


class WebSocket:
    status = 101

    def __init__(self, sock, headers, subprotocol, buffered=b"", answer_pings=True):
        self.sock = sock
        self.headers = headers
        self.subprotocol = subprotocol
        self.answer_pings = answer_pings
        self._buf = bytearray(buffered)
        self._frag_op = None            # opcode of the fragmented message being received
        self._frag = bytearray()
        self._send_lock = threading.Lock()
        self.close_sent = False
        self.close_received = False
        self.close_code = None          # what the server's close frame said (1005: no code)
        self.close_reason = ""
        self.eof = False                # the TCP connection ended
        self.pings_received = 0
        self.pongs_received = []        # payloads of pongs received

    # -- sending ----------------------------------------------------------------------------

    def send_raw(self, data):
        """Bytes as they are, straight onto the TCP connection."""
        with self._send_lock:
            self.sock.sendall(data)

    def send_frame(self, opcode, payload=b"", fin=True, mask=True, rsv=0):
        self.send_raw(build_frame(opcode, payload, fin=fin, mask=mask, rsv=rsv))

    def send_text(self, text):
        self.send_frame(OP_TEXT, text.encode("utf-8") if isinstance(text, str) else text)

    def send_json(self, obj):
        self.send_text(json.dumps(obj))

    def send_binary(self, data):
        self.send_frame(OP_BINARY, data)

    def send_ping(self, payload=b""):
        self.send_frame(OP_PING, payload)

    def send_close(self, code=1000, reason=""):
        payload = b"" if code is None else struct.pack("!H", code) + reason.encode("utf-8")
        self.send_frame(OP_CLOSE, payload)
        self.close_sent = True

    def close(self, code=1000, reason="", timeout=5):
        """The closing handshake: send close, wait for the server's close (or EOF), then close
        the socket. Returns the code the server answered (None if none came)."""
        try:
            if not self.close_sent and not self.eof:
                self.send_close(code, reason)
            deadline = time.monotonic() + timeout
            while not self.close_received and not self.eof:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                try:
                    self.recv(timeout=remaining)
                except (ConnectionClosed, TimeoutError, ProtocolError, OSError):
                    break
        except OSError:
            pass
        finally:
            self.abort()
        return self.close_code

    def abort(self):
        """Close the TCP connection without a closing handshake."""
        try:
            self.sock.close()
        except OSError:
            pass
        self.eof = True

    # -- receiving --------------------------------------------------------------------------

    def _fill(self, deadline):
        remaining = None if deadline is None else deadline - time.monotonic()
        if remaining is not None and remaining <= 0:
            raise TimeoutError("timed out waiting for a frame")
        self.sock.settimeout(remaining)
        try:
            chunk = self.sock.recv(262144)
        except socket.timeout:
            raise TimeoutError("timed out waiting for a frame") from None
        except (ConnectionResetError, BrokenPipeError):
            chunk = b""
        if not chunk:
            self.eof = True
            pending = f" ({len(self._buf)} bytes of an unfinished frame)" if self._buf else ""
            raise ConnectionClosed(f"the TCP connection ended{pending}"
                                   + ("" if self.close_received else " without a close frame"),
                                   self.close_code, self.close_reason)
        self._buf += chunk

    def _frame(self, deadline):
        """The next complete frame: (fin, opcode, payload)."""
        while True:
            b = self._buf
            if len(b) >= 2:
                b0, b1 = b[0], b[1]
                n = b1 & 0x7F
                pos = 2
                if n == 126:
                    pos = 4
                    if len(b) >= 4:
                        n = struct.unpack_from("!H", b, 2)[0]
                elif n == 127:
                    pos = 10
                    if len(b) >= 10:
                        n = struct.unpack_from("!Q", b, 2)[0]
                masked = bool(b1 & 0x80)
                if len(b) >= pos:
                    if masked:
                        raise ProtocolError("the server sent a masked frame")
                    if n > MAX_MESSAGE_BYTES:
                        raise ProtocolError(f"frame of {n} bytes")
                    if len(b) >= pos + n:
                        payload = bytes(b[pos:pos + n])
                        del b[:pos + n]
                        fin, rsv, op = bool(b0 & 0x80), (b0 >> 4) & 0x7, b0 & 0xF
                        if rsv:
                            raise ProtocolError(f"reserved bits {rsv:#x} set (no extension was agreed)")
                        if op not in _DATA_OPS + _CONTROL_OPS + (OP_CONT,):
                            raise ProtocolError(f"unknown opcode {op:#x}")
                        if op in _CONTROL_OPS and (not fin or n > 125):
                            raise ProtocolError(f"control frame {op:#x} fragmented or over 125 bytes")
                        return fin, op, payload
            self._fill(deadline)

    def recv(self, timeout=10, control=False):
        """The next message: (opcode, payload bytes). Pings are answered (answer_pings) and,
        like pongs, only returned with control=True. A close frame is returned once as
        (OP_CLOSE, payload); then ConnectionClosed. TimeoutError after timeout seconds
        (None: wait for ever)."""
        if self.close_received:
            raise ConnectionClosed(f"closed by the server with {self.close_code}",
                                   self.close_code, self.close_reason)
        if self.eof:
            raise ConnectionClosed("the connection is closed", self.close_code, self.close_reason)
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            fin, op, payload = self._frame(deadline)
            if op == OP_PING:
                self.pings_received += 1
                if self.answer_pings and not self.close_sent:
                    try:
                        self.send_frame(OP_PONG, payload)
                    except OSError:
                        pass
                if control:
                    return op, payload
                continue
            if op == OP_PONG:
                self.pongs_received.append(payload)
                if control:
                    return op, payload
                continue
            if op == OP_CLOSE:
                self._on_close(payload)
                return op, payload
            if op == OP_CONT:
                if self._frag_op is None:
                    raise ProtocolError("a continuation frame without a message to continue")
                self._frag += payload
                if len(self._frag) > MAX_MESSAGE_BYTES:
                    raise ProtocolError("message too large")
                if not fin:
                    continue
                op, payload = self._frag_op, bytes(self._frag)
                self._frag_op, self._frag = None, bytearray()
            else:   # text or binary
                if self._frag_op is not None:
                    raise ProtocolError("a new message began inside a fragmented one")
                if not fin:
                    self._frag_op, self._frag = op, bytearray(payload)
                    continue
            if op == OP_TEXT:
                try:
                    payload.decode("utf-8")
                except UnicodeDecodeError:
                    raise ProtocolError(f"a text message that is not UTF-8: {payload[:100]!r}") from None
            return op, payload

    def _on_close(self, payload):
        if len(payload) == 1:
            raise ProtocolError("a close frame with a 1-byte payload")
        if payload:
            code = struct.unpack("!H", payload[:2])[0]
            try:
                reason = payload[2:].decode("utf-8")
            except UnicodeDecodeError:
                raise ProtocolError(f"a close reason that is not UTF-8: {payload!r}") from None
            if code < 1000 or code in (1004, 1005, 1006, 1015) or 1016 <= code < 3000 or code > 4999:
                raise ProtocolError(f"a close frame with the invalid code {code}")
        else:
            code, reason = 1005, ""
        self.close_received = True
        self.close_code = code
        self.close_reason = reason
        if not self.close_sent:
            try:
                self.send_close(None if code == 1005 else code)
            except OSError:
                pass

    def recv_json(self, timeout=10):
        """The next message, which must be a JSON text frame; returns it parsed."""
        op, payload = self.recv(timeout=timeout)
        if op == OP_CLOSE:
            raise ConnectionClosed(f"closed by the server with {self.close_code} "
                                   f"{self.close_reason!r} while a message was awaited",
                                   self.close_code, self.close_reason)
        if op != OP_TEXT:
            raise ProtocolError(f"expected a text frame, got opcode {op:#x}: {payload[:100]!r}")
        try:
            return json.loads(payload.decode("utf-8"))
        except ValueError:
            raise ProtocolError(f"a text frame that is not JSON: {payload[:200]!r}") from None

    def collect(self, duration):
        """Every message that arrives within duration seconds (pings answered on the way):
        a list of parsed JSON (text frames), or (opcode, payload) for anything else. Stops early
        when the connection closes."""
        out = []
        deadline = time.monotonic() + duration
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return out
            try:
                op, payload = self.recv(timeout=remaining)
            except TimeoutError:
                return out
            except ConnectionClosed:
                return out
            if op == OP_TEXT:
                try:
                    out.append(json.loads(payload.decode("utf-8")))
                except ValueError:
                    out.append((op, payload))
            else:
                out.append((op, payload))
                if op == OP_CLOSE:
                    return out

    def wait_closed(self, timeout=10):
        """Read (and drop data messages) until the server closes: returns (close code or None
        for a TCP close without a close frame, number of data messages dropped). TimeoutError
        if the connection is still open after timeout."""
        deadline = time.monotonic() + timeout
        dropped = 0
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"still open after {timeout}s ({dropped} messages read)")
            try:
                op, _ = self.recv(timeout=remaining)
            except TimeoutError:
                raise TimeoutError(f"still open after {timeout}s ({dropped} messages read)") from None
            except ConnectionClosed as e:
                return e.code, dropped
            except OSError:   # reset
                self.eof = True
                return self.close_code, dropped
            if op == OP_CLOSE:
                return self.close_code, dropped
            dropped += 1
