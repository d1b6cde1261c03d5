"""A real git smart-HTTP server on loopback, for the git tests: ``git http-backend`` run as a
CGI behind a small threaded ``http.server``, with HTTP basic auth.

Every request is recorded (``GitHttpServer.requests``): method, path, auth outcome, and for
``git-upload-pack`` POSTs the protocol-v2 command and how many ``want``/``have`` lines it
carried, so a test can tell a full clone (``fetch`` with wants and no haves) from an
incremental fetch or a mere ref listing. ``delay`` slows every request down, to widen the
window in which a test samples the client's child processes. ``stall_fetches`` makes the
server hang in the middle of every pack it sends (the headers and the first bytes go out,
then nothing), as a wedged server or a dead network path does: ``stalled`` is set when a
fetch hangs, and ``release()`` (or leaving the ``with`` block) lets it finish. A stall is
bounded (``STALL_LIMIT`` seconds), so that no test can hang on it forever.
"""

from __future__ import annotations

import base64
import gzip
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

from tests.servers import loopback

STALL_LIMIT = 120.0  # seconds a stalled fetch waits for release() at most

@dataclass
class Request:
    method: str
    path: str
    auth: str  # "ok", "missing" or "wrong"
    user: str | None
    status: int = 0
    command: str | None = None  # protocol v2: "ls-refs", "fetch"
    wants: int = 0
    haves: int = 0


@dataclass
class GitHttpServer:
    """``with GitHttpServer(root) as server: server.url("group/project.git")``."""

    root: Path
    username: str = "ada"
    password: str = "s3cret-pa55word"
    delay: float = 0.0
    stall_fetches: bool = False
    requests: list[Request] = field(default_factory=list)
    stalled: threading.Event = field(default_factory=threading.Event)
    _released: threading.Event = field(default_factory=threading.Event)
    _httpd: ThreadingHTTPServer | None = None

    def url(self, path: str) -> str:
        assert self._httpd is not None, "server not started"
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/{path}"

    def fetches(self) -> list[Request]:
        return [r for r in self.requests if r.command == "fetch" and r.status == 200]

    def release(self) -> None:
        """End every stall, now and from now on (``stall_fetches`` is switched off)."""
        self.stall_fetches = False
        self._released.set()

    def __enter__(self) -> GitHttpServer:
        server = self

        class Handler(_Handler):
            owner = server

        self._httpd = loopback.start(Handler, "git-http", _Server)
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
        httpd, self._httpd = self._httpd, None
        loopback.stop(httpd)


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):  # a client killed on purpose
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    owner: GitHttpServer
    protocol_version = "HTTP/1.0"  # the response ends when the connection closes: no lengths to know

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def _serve(self) -> None:
        owner = self.owner
        if owner.delay:
            time.sleep(owner.delay)
        parts = urlsplit(self.path)
        record = Request(self.command, parts.path, *self._check_auth())
        owner.requests.append(record)
        if record.auth != "ok":
            record.status = 401
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="git"')
            self.send_header("Content-Type", "text/plain")
            self.end_headers()
            self.wfile.write(b"authentication required\n")
            return
        body = self._read_body()
        if parts.path.endswith("/git-upload-pack"):
            _inspect(record, body, self.headers.get("Content-Encoding", ""))
        env = {
            "PATH": "/usr/bin:/bin",
            "GIT_PROJECT_ROOT": str(owner.root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": "/dev/null",
            "GATEWAY_INTERFACE": "CGI/1.1",
            "REQUEST_METHOD": self.command,
            "PATH_INFO": parts.path,
            "QUERY_STRING": parts.query,
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)),
            "HTTP_CONTENT_ENCODING": self.headers.get("Content-Encoding", ""),
            "GIT_PROTOCOL": self.headers.get("Git-Protocol", ""),
            "REMOTE_USER": record.user or "",
            "REMOTE_ADDR": self.client_address[0],
        }
        backend = subprocess.Popen(
            ["git", "http-backend"], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
        )
        assert backend.stdin is not None and backend.stdout is not None

        def feed() -> None:  # in a thread: a large request and a large answer must not deadlock
            try:
                backend.stdin.write(body)
            finally:
                backend.stdin.close()

        threading.Thread(target=feed, daemon=True).start()
        status, headers = 200, []
        while (line := backend.stdout.readline().rstrip(b"\r\n")) != b"":
            name, _, value = line.decode("latin-1").partition(":")
            if name.lower() == "status":
                status = int(value.strip().split()[0])
            else:
                headers.append((name, value.strip()))
        record.status = status
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        if owner.stall_fetches and record.command == "fetch":
            self.wfile.write(backend.stdout.read(64))  # the first bytes of the answer, never all of it
            self.wfile.flush()
            owner.stalled.set()
            owner._released.wait(timeout=STALL_LIMIT)
        shutil.copyfileobj(backend.stdout, self.wfile)
        backend.wait()

    def _check_auth(self) -> tuple[str, str | None]:
        header = self.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return "missing", None
        try:
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        except ValueError:
            return "wrong", None
        if (user, password) == (self.owner.username, self.owner.password):
            return "ok", user
        return "wrong", user

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            while self.rfile.readline().strip():  # trailers
                pass
            return b"".join(chunks)
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))


def _inspect(record: Request, body: bytes, encoding: str) -> None:
    """The v2 command and the number of want/have lines of an upload-pack request."""
    data = gzip.decompress(body) if "gzip" in encoding else body
    pos = 0
    while pos + 4 <= len(data):
        try:
            length = int(data[pos : pos + 4], 16)
        except ValueError:
            return
        if length < 4:  # flush, delimiter or response-end packet
            pos += 4
            continue
        line = data[pos + 4 : pos + length].rstrip(b"\n")
        pos += length
        if line.startswith(b"command="):
            record.command = line[len(b"command=") :].decode()
        elif line.startswith(b"want "):
            record.wants += 1
        elif line.startswith(b"have "):
            record.haves += 1
