"""A reverse proxy on loopback in front of a ``Registry`` that fails the first ``times``
requests of one kind with ``status`` (500, or 429 with ``Retry-After``), then forwards
everything faithfully. For testing how a pusher copes with a flaky registry.

Kinds (``classify``): ``any``; ``blob-upload`` (POST/PATCH/PUT under
``/v2/<name>/blobs/uploads/``); ``manifest-put``; ``manifest-head``. ``requests`` counts every
request under its kind (and ``any``), ``injected`` the faults sent, ``log`` holds
``(method, path, status)`` in arrival order.

Faithful means: bodies streamed both ways in 64 KiB pieces (blobs are tens of MB), a chunked
request body (the engine PATCHes blobs chunked) re-sent chunked, every end-to-end header
passed through, and the upload ``Location`` rewritten to point back at the proxy when the
registry made it absolute. Every response carries ``Connection: close``: the engine reuses
connections, and one request per connection keeps the proxy free of keep-alive framing.
"""

from __future__ import annotations

import http.client
import json
import re
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Protocol
from urllib.parse import urlsplit, urlunsplit

from tests.servers import loopback

KINDS = ("any", "blob-upload", "manifest-put", "manifest-head")
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
    """``with FaultProxy(registry, kind="blob-upload", status=500, times=2) as p: p.host``.

    Exposes ``host``/``url`` like the registry, and its ``user``/``password``/``auth_config``
    so a test can use either interchangeably."""

    def __init__(self, upstream: Upstream, *, kind: str = "any", status: int = 500, times: int = 1,
                 retry_after: int = 1) -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown kind {kind!r}; valid: {', '.join(KINDS)}")
        if status not in (500, 429):
            raise ValueError("status must be 500 or 429")
        self.upstream = upstream
        self.kind = kind
        self.status = status
        self.times = times
        self.retry_after = retry_after
        self.requests: Counter[str] = Counter()
        self.injected = 0
        self.log: list[tuple[str, str, int]] = []
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None

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
        if self._httpd is None:
            raise RuntimeError("proxy not started")
        host, port = self._httpd.server_address[:2]
        return f"{host}:{port}"

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

        self._httpd = loopback.start(Handler, "fault-proxy")
        return self

    def stop(self) -> None:
        httpd, self._httpd = self._httpd, None
        loopback.stop(httpd)

    def _admit(self, method: str, path: str) -> bool:
        """Count the request; True if it is to be failed."""
        kind = classify(method, path)
        with self._lock:
            self.requests["any"] += 1
            self.requests[kind] += 1
            if (self.kind == "any" or self.kind == kind) and self.injected < self.times:
                self.injected += 1
                return True
            return False

    def _record(self, method: str, path: str, status: int) -> None:
        with self._lock:
            self.log.append((method, path, status))

    def __repr__(self) -> str:
        return f"FaultProxy({self.kind} → {self.status} ×{self.times}, injected={self.injected})"


class _Handler(BaseHTTPRequestHandler):
    owner: FaultProxy
    _answered: bool
    protocol_version = "HTTP/1.1"  # answers 100-continue; we still close after each response

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        self._handle()

    do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    def _handle(self) -> None:
        self.close_connection = True
        proxy = self.owner
        if proxy._admit(self.command, self.path):
            self._drain_body()  # read it all, so the client sees our answer, not a reset
            self._fail(proxy.status)
            proxy._record(self.command, self.path, proxy.status)
            return
        self._answered = False
        try:
            status = self._forward()
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

    def _body_pieces(self):
        if self._chunked():
            while True:
                size_line = self.rfile.readline(1024)
                if not size_line:
                    raise ConnectionError("client closed inside a chunked body")
                size = int(size_line.split(b";", 1)[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass  # trailers: dropped
                    return
                left = size
                while left:
                    data = self.rfile.read(min(left, _CHUNK))
                    if not data:
                        raise ConnectionError("client closed inside a chunk")
                    left -= len(data)
                    yield data
                self.rfile.readline(8)  # the CRLF after the chunk
        else:
            left = int(self.headers.get("Content-Length") or 0)
            while left:
                data = self.rfile.read(min(left, _CHUNK))
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
        code = "TOOMANYREQUESTS" if status == 429 else "UNKNOWN"
        body = json.dumps({"errors": [{"code": code, "message": "injected by FaultProxy", "detail": None}]}).encode()
        self.send_response_only(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Docker-Distribution-Api-Version", "registry/2.0")
        self.send_header("Content-Length", str(len(body)))
        if status == 429:
            self.send_header("Retry-After", str(self.owner.retry_after))
        self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _forward(self) -> int:
        upstream = self.owner.upstream.host
        conn = http.client.HTTPConnection(upstream, timeout=300)
        try:
            conn.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
            conn.putheader("Host", upstream)
            for name, value in self.headers.items():
                if name.lower() not in _HOP:
                    conn.putheader(name, value)
            chunked = self._chunked()
            has_body = chunked or int(self.headers.get("Content-Length") or 0) > 0
            if chunked:
                conn.putheader("Transfer-Encoding", "chunked")
            conn.endheaders()
            if has_body:
                for piece in self._body_pieces():
                    conn.send(b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece)
                if chunked:
                    conn.send(b"0\r\n\r\n")
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
            while piece := response.read(_CHUNK):
                self.wfile.write(piece)
            return response.status
        finally:
            conn.close()

    def _rewrite_location(self, value: str) -> str:
        parts = urlsplit(value)
        if parts.netloc == self.owner.upstream.host:  # absolute, at the registry: back to us
            return urlunsplit(parts._replace(netloc=self.owner.host))
        return value  # relative: it already resolves against us
