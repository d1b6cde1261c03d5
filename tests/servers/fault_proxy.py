"""A reverse proxy on loopback in front of a ``Registry`` that fails some requests of one
kind, then forwards everything faithfully. For testing how a pusher copes with a flaky
registry.

What a fault is (``mode``):

* ``status`` (the default): the request is answered with ``status`` — 500, 503, or 429 — and
  never reaches the registry; 429 and 503 carry ``Retry-After: <retry_after>`` (delta
  seconds, or an HTTP-date that far ahead with ``retry_after_date=True``; none when
  ``retry_after`` is None).
* ``reset``, ``truncate``, ``stall``, ``slow``: the request goes to the registry, and its
  *body* is broken on the way — the response body of a GET (blob and manifest reads), the
  request body of a PUT/PATCH/POST that has one (uploads). After ``after`` bytes of it
  (default: half of it):

  - ``reset`` closes the client's connection with a TCP reset (a GET's client has had the
    headers and part of the body; an upload's registry has had part of the body);
  - ``truncate`` closes it cleanly: a GET's client gets fewer bytes than Content-Length; an
    upload's registry gets fewer bytes than Content-Length, and the client no answer;
  - ``stall`` stops sending (or reading) for ``stall`` seconds — longer than the client's
    read timeout — then closes the connection;
  - ``slow`` does not fail: it trickles the first ``pieces`` pieces of ``piece`` bytes with
    ``pause`` seconds between them, then passes the rest at full speed.

  Requests without a body to break (HEAD, a bodiless POST, a GET answered 401/404, …) are
  forwarded untouched and do not count against ``times``.

Which requests: those of ``kind`` (``classify``: ``any``; ``blob-upload`` — POST/PATCH/PUT
under ``/v2/<name>/blobs/uploads/``; ``blob-get``; ``manifest-get``; ``manifest-put``;
``manifest-head``; …), the first ``times`` of them (``times=None``: every one, a fault that
never stops) — or, with ``seconds``, every one until that many seconds after the first (a
registry busy for a while). ``requests`` counts every request under its kind (and ``any``),
``injected`` the faults made, ``faults`` holds ``(method, path, mode)`` of each, ``log``
``(method, path, status)`` in arrival order (status 0: no answer was sent).

Faithful means: bodies streamed both ways in 64 KiB pieces (blobs are tens of MB), a chunked
request body (the engine PATCHes blobs chunked) re-sent chunked, every end-to-end header
passed through, and the upload ``Location`` rewritten to point back at the proxy when the
registry made it absolute. Every response carries ``Connection: close``: the engine reuses
connections, and one request per connection keeps the proxy free of keep-alive framing.
"""

from __future__ import annotations

import email.utils
import http.client
import json
import re
import socket
import struct
import threading
import time
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Protocol
from urllib.parse import urlsplit, urlunsplit

from tests.servers import loopback

KINDS = ("any", "blob-upload", "blob-upload-status", "blob-get", "blob-head", "manifest-put", "manifest-get", "manifest-head", "ping", "other")
MODES = ("status", "reset", "truncate", "stall", "slow")
STATUSES = (500, 503, 429)
_CHUNK = 64 * 1024
# Hop-by-hop headers (RFC 9110 §7.6.1) belong to one connection and are never forwarded;
# Host is set to the upstream's, as a reverse proxy does.
_HOP = {"connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade",
        "proxy-authenticate", "proxy-authorization", "expect", "host"}
_BLOB_UPLOAD = re.compile(r"^/v2/.+/blobs/uploads/")
_MANIFEST = re.compile(r"^/v2/.+/manifests/[^/]+$")
_BLOB = re.compile(r"^/v2/.+/blobs/[^/]+$")


class Upstream(Protocol):
    host: str  # "127.0.0.1:PORT"


def classify(method: str, path: str) -> str:
    """The kind of one registry request (``other`` when it is none of the named ones)."""
    path = urlsplit(path).path
    if _BLOB_UPLOAD.match(path):
        return "blob-upload" if method in ("POST", "PATCH", "PUT") else "blob-upload-status"
    if _MANIFEST.match(path):
        return {"PUT": "manifest-put", "HEAD": "manifest-head", "GET": "manifest-get"}.get(method, "manifest-other")
    if _BLOB.match(path):
        return {"HEAD": "blob-head", "GET": "blob-get"}.get(method, "blob-other")
    if path in ("/v2", "/v2/"):
        return "ping"
    return "other"


class FaultProxy:
    """``with FaultProxy(registry, kind="blob-upload", status=500, times=2) as p: p.host``;
    ``FaultProxy(registry, kind="blob-get", mode="reset", times=2)``;
    ``FaultProxy(registry, status=503, seconds=30)``.

    Exposes ``host``/``url`` like the registry, and its ``user``/``password``/``auth_config``
    so a test can use either interchangeably."""

    def __init__(self, upstream: Upstream, *, kind: str = "any", status: int = 500, times: int | None = 1,
                 retry_after: int | None = 1, retry_after_date: bool = False, mode: str = "status",
                 seconds: float | None = None, after: int | None = None, stall: float = 30.0,
                 piece: int = 256, pause: float = 0.5, pieces: int = 8) -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown kind {kind!r}; valid: {', '.join(KINDS)}")
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; valid: {', '.join(MODES)}")
        if status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}")
        self.upstream = upstream
        self.kind = kind
        self.status = status
        self.times = times
        self.retry_after = retry_after
        self.retry_after_date = retry_after_date
        self.mode = mode
        self.seconds = seconds
        self.after = after
        self.stall = stall
        self.piece, self.pause, self.pieces = piece, pause, pieces
        self.requests: Counter[str] = Counter()
        self.injected = 0
        self.faults: list[tuple[str, str, str]] = []
        self.log: list[tuple[str, str, int]] = []
        self._first: float | None = None
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd: ThreadingHTTPServer | None = None
        self._address: str | None = None

    # Credentials are the registry's: the proxy passes Authorization through.
    @property
    def user(self) -> str | None:
        return getattr(self.upstream, "user", None)

    @property
    def password(self) -> str | None:
        return getattr(self.upstream, "password", None)

    @property
    def auth_config(self) -> dict[str, str] | None:
        return getattr(self.upstream, "auth_config", None)

    @property
    def host(self) -> str:
        """``127.0.0.1:PORT``; still the address it had once it is stopped."""
        if self._address is None:
            raise RuntimeError("proxy not started")
        return self._address

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def ref(self, repository: str, tag: str) -> str:
        return f"{self.host}/{repository}:{tag}"

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> FaultProxy:
        proxy = self

        class Handler(_Handler):
            owner = proxy

        self._stopping.clear()
        self._httpd = loopback.start(Handler, "fault-proxy")
        host, port = self._httpd.server_address[:2]
        self._address = f"{host}:{port}"
        return self

    def stop(self) -> None:
        """Stop listening; a stalled connection ends now rather than when its stall does."""
        self._stopping.set()
        httpd, self._httpd = self._httpd, None
        loopback.stop(httpd)

    def _count(self, method: str, path: str) -> str:
        kind = classify(method, path)
        with self._lock:
            self.requests["any"] += 1
            self.requests[kind] += 1
        return kind

    def _take(self, method: str, path: str, kind: str) -> bool:
        """True if this request (of ``kind``, able to carry this proxy's fault) is to fail."""
        if self.kind not in ("any", kind):
            return False
        with self._lock:
            now = time.monotonic()
            if self._first is None:
                self._first = now
            if self.seconds is not None:
                chosen = now - self._first < self.seconds
            else:
                chosen = self.times is None or self.injected < self.times
            if chosen:
                self.injected += 1
                self.faults.append((method, path, self.mode))
            return chosen

    def _record(self, method: str, path: str, status: int) -> None:
        with self._lock:
            self.log.append((method, path, status))

    def __repr__(self) -> str:
        what = f"{self.status}" if self.mode == "status" else self.mode
        how_long = f"for {self.seconds}s" if self.seconds is not None else f"×{self.times if self.times is not None else '∞'}"
        return f"FaultProxy({self.kind} → {what} {how_long}, injected={self.injected})"


class _Handler(BaseHTTPRequestHandler):
    owner: FaultProxy
    _answered: bool
    _status_sent = 0
    _read_size = _CHUNK
    protocol_version = "HTTP/1.1"  # answers 100-continue; we still close after each response

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        self._handle()

    do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    def _handle(self) -> None:
        self.close_connection = True
        proxy = self.owner
        kind = proxy._count(self.command, self.path)
        upload_fault = False
        if proxy.mode == "status":
            if proxy._take(self.command, self.path, kind):
                self._drain_body()  # read it all, so the client sees our answer, not a reset
                self._fail(proxy.status)
                proxy._record(self.command, self.path, proxy.status)
                return
        elif self.command in ("PUT", "PATCH", "POST") and self._has_body():
            upload_fault = proxy._take(self.command, self.path, kind)
        self._answered = False
        try:
            status = self._forward(kind, upload_fault)
        except _Broken:
            status = self._status_sent
        except (OSError, http.client.HTTPException, ValueError):
            status = 502  # the registry (or the client) cut us off: say so if we still can
            if self._answered:
                return proxy._record(self.command, self.path, status)
            try:
                self.send_response_only(502)
                self.send_header("Content-Length", "0")
                self.send_header("Connection", "close")
                self.end_headers()
            except OSError:
                pass
        proxy._record(self.command, self.path, status)

    # --- request body -------------------------------------------------------------------

    def _chunked(self) -> bool:
        return "chunked" in self.headers.get("Transfer-Encoding", "").lower()

    def _has_body(self) -> bool:
        return self._chunked() or int(self.headers.get("Content-Length") or 0) > 0

    def _body_pieces(self) -> Iterator[bytes]:
        """The request body as it arrives, in reads of at most ``_read_size`` bytes."""
        if self._chunked():
            while True:
                size_line = self.rfile.readline(1024)
                if not size_line:
                    raise ConnectionError("client closed inside a chunked body")
                chunk = int(size_line.split(b";", 1)[0].strip(), 16)
                if chunk == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass  # trailers: dropped
                    return
                left = chunk
                while left:
                    data = self.rfile.read(min(left, self._read_size))
                    if not data:
                        raise ConnectionError("client closed inside a chunk")
                    left -= len(data)
                    yield data
                self.rfile.readline(8)  # the CRLF after the chunk
        else:
            left = int(self.headers.get("Content-Length") or 0)
            while left:
                data = self.rfile.read(min(left, self._read_size))
                if not data:
                    raise ConnectionError("client closed inside the body")
                left -= len(data)
                yield data

    def _drain_body(self) -> None:
        for _ in self._body_pieces():
            pass

    # --- answers --------------------------------------------------------------------------

    def _fail(self, status: int) -> None:
        # The body a registry sends (distribution's errcode JSON): the engine reads the code.
        code = {429: "TOOMANYREQUESTS", 503: "UNAVAILABLE"}.get(status, "UNKNOWN")
        body = json.dumps({"errors": [{"code": code, "message": "injected by FaultProxy", "detail": None}]}).encode()
        self.send_response_only(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Docker-Distribution-Api-Version", "registry/2.0")
        self.send_header("Content-Length", str(len(body)))
        if status in (429, 503) and self.owner.retry_after is not None:
            if self.owner.retry_after_date:
                self.send_header("Retry-After", email.utils.formatdate(time.time() + self.owner.retry_after, usegmt=True))
            else:
                self.send_header("Retry-After", str(self.owner.retry_after))
        self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _forward(self, kind: str, upload_fault: bool) -> int:
        proxy = self.owner
        upstream = proxy.upstream.host
        self._status_sent = 0
        conn = http.client.HTTPConnection(upstream, timeout=300)
        try:
            conn.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
            conn.putheader("Host", upstream)
            for name, value in self.headers.items():
                if name.lower() not in _HOP:
                    conn.putheader(name, value)
            chunked = self._chunked()
            if chunked:
                conn.putheader("Transfer-Encoding", "chunked")
            conn.endheaders()
            if self._has_body():
                self._send_body(conn, chunked, proxy.mode if upload_fault else None)
            response = conn.getresponse()
            self.send_response_only(response.status, response.reason)
            for name, value in response.getheaders():
                lower = name.lower()
                if lower in _HOP:
                    continue
                if lower == "location":
                    value = self._rewrite_location(value)
                self.send_header(name, value)
            # Content-Length, when the registry sent one, went through above; else the body
            # (it was chunked upstream) ends where we close the connection.
            self.send_header("Connection", "close")
            self.end_headers()
            self._answered = True
            self._status_sent = response.status
            length = response.getheader("Content-Length")
            fault = None
            if proxy.mode != "status" and self.command == "GET" and response.status in (200, 206) and (length is None or int(length) > 0):
                fault = proxy.mode if proxy._take(self.command, self.path, kind) else None
            self._send_response_body(response, int(length) if length else None, fault)
            return response.status
        finally:
            conn.close()

    # --- broken bodies ----------------------------------------------------------------------

    def _cut(self, length: int | None) -> int:
        if self.owner.after is not None:
            return self.owner.after
        return length // 2 if length else _CHUNK

    def _send_body(self, conn: http.client.HTTPConnection, chunked: bool, fault: str | None) -> None:
        """Pass the request body to the registry — or break it as ``fault`` says."""

        def send(piece: bytes) -> None:
            conn.send(b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece)

        proxy = self.owner
        if fault is None or fault == "slow":
            slow = proxy.pieces if fault == "slow" else 0
            self._read_size = proxy.piece if slow else _CHUNK
            for piece in self._body_pieces():
                send(piece)
                if slow:
                    self._wait(proxy.pause)
                    slow -= 1
                    if not slow:
                        self._read_size = _CHUNK  # the rest at full speed
            if chunked:
                conn.send(b"0\r\n\r\n")
            return
        length = None if chunked else int(self.headers.get("Content-Length") or 0)
        left = self._cut(length)
        pieces = self._body_pieces()
        for piece in pieces:
            if len(piece) >= left:
                if left:
                    send(piece[:left])
                break
            send(piece)
            left -= len(piece)
        conn.close()  # the registry has part of the body, and no more is coming
        if fault == "truncate":
            for _ in pieces:  # the client sends it all, and gets no answer
                pass
            raise _Broken()
        if fault == "stall":
            self._wait(proxy.stall)
        self._reset()

    def _send_response_body(self, response: http.client.HTTPResponse, length: int | None, fault: str | None) -> None:
        proxy = self.owner
        if fault == "slow":
            for _ in range(proxy.pieces):
                piece = response.read(proxy.piece)
                if not piece:
                    return
                self.wfile.write(piece)
                self._wait(proxy.pause)
            fault = None
        if fault is None:
            while piece := response.read(_CHUNK):
                self.wfile.write(piece)
            return
        left = self._cut(length)
        while left > 0 and (piece := response.read(min(left, _CHUNK))):
            self.wfile.write(piece)
            left -= len(piece)
        if fault == "stall":
            self._wait(proxy.stall)
        if fault in ("reset", "stall"):
            self._reset()
        raise _Broken()  # truncate: the connection closes cleanly, short of Content-Length

    def _wait(self, seconds: float) -> None:
        if self.owner._stopping.wait(seconds):
            raise _Broken()

    def _reset(self) -> None:
        """Close the client's connection with a TCP reset (RST), not a clean FIN."""
        try:  # the descriptor closes when the handler lets go of it, with linger 0: a RST
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
        except OSError:
            pass
        raise _Broken()

    def _rewrite_location(self, value: str) -> str:
        parts = urlsplit(value)
        if parts.netloc == self.owner.upstream.host:  # absolute, at the registry: back to us
            return urlunsplit(parts._replace(netloc=self.owner.host))
        return value  # relative: it already resolves against us


class _Broken(Exception):
    """The fault was made: nothing more is sent on this connection."""
