"""A Maven repository (or mirror) on loopback, for the download-failure tests.

``with MavenRepo("serve", root=repo_dir, forbidden=("com/example/secret/",)) as r: r.url``
→ ``"http://127.0.0.1:PORT/"``; put it in a settings.xml ``<mirror>`` and Maven downloads
through it. Modes:

* ``serve`` — files under ``root`` (a real local repository works: it has the same layout),
  read-only; 404 for what is not there. ``forbidden``/``missing`` path prefixes (relative
  to the repository root) are answered 403/404 even when the file exists;
* ``forbidden`` — 403 Forbidden to everything (a proxy or mirror refusing the user);
* ``missing`` — 404 Not Found to everything.

``log`` holds ``(method, path, status)`` in arrival order. Only GET and HEAD are answered
(PUT, a deploy, gets 405). ``refused_port()`` is a port on 127.0.0.1 that nothing listens
on, for the "connection refused" case.
"""

from __future__ import annotations

import mimetypes
import socket
import threading
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

from tests.servers import loopback

MODES = ("serve", "forbidden", "missing")
_REASONS = {403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed"}


def refused_port() -> int:
    """A loopback port that refuses connections: bound, then closed, so nobody listens."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class MavenRepo:
    def __init__(self, mode: str = "serve", root: Path | None = None, *, forbidden: Sequence[str] = (),
                 missing: Sequence[str] = ()) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; valid: {', '.join(MODES)}")
        if mode == "serve" and root is None:
            raise ValueError("mode 'serve' needs a root directory")
        self.mode = mode
        self.root = root.resolve() if root else None
        self.forbidden = tuple(p.strip("/") for p in forbidden)
        self.missing = tuple(p.strip("/") for p in missing)
        self.log: list[tuple[str, str, int]] = []
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._port = 0

    @property
    def port(self) -> int:
        """The port it listens on (kept after ``stop``, for assertions on what was said)."""
        if not self._port:
            raise RuntimeError("repository server not started")
        return self._port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def __enter__(self) -> MavenRepo:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> MavenRepo:
        owner = self

        class Handler(_Handler):
            repo = owner

        self._httpd = loopback.start(Handler, "maven-repo")
        self._port = self._httpd.server_address[1]
        return self

    def stop(self) -> None:
        httpd, self._httpd = self._httpd, None
        loopback.stop(httpd)

    def paths(self, status: int | None = None) -> list[str]:
        """The paths requested (optionally only those answered ``status``)."""
        with self._lock:
            return [path for _, path, s in self.log if status is None or s == status]

    def answer(self, path: str) -> tuple[int, Path | None]:
        """The status for a GET of ``path`` (URL path), and the file to send with a 200."""
        relative = unquote(urlsplit(path).path).lstrip("/")
        if self.mode == "forbidden" or relative.startswith(self.forbidden):
            return 403, None
        if self.mode == "missing" or relative.startswith(self.missing):
            return 404, None
        assert self.root is not None
        file = (self.root / relative).resolve()
        if not file.is_relative_to(self.root) or not file.is_file():
            return 404, None
        return 200, file

    def _record(self, method: str, path: str, status: int) -> None:
        with self._lock:
            self.log.append((method, path, status))

    def __repr__(self) -> str:
        where = f" {self.url}" if self._httpd else ""
        return f"MavenRepo({self.mode}{where}, {len(self.log)} requests)"


class _Handler(BaseHTTPRequestHandler):
    repo: MavenRepo
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        status, file = self.repo.answer(self.path)
        body = file.read_bytes() if file else f"{status} {_REASONS[status]}\n".encode()
        self.send_response(status, _REASONS.get(status))
        kind = (mimetypes.guess_type(file.name)[0] if file else None) or ("application/octet-stream" if file else "text/plain")
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        self.repo._record(self.command, self.path, status)

    do_HEAD = do_GET

    def _not_allowed(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        self.send_response(405)
        self.send_header("Content-Length", "0")
        self.send_header("Allow", "GET, HEAD")
        self.end_headers()
        self.repo._record(self.command, self.path, 405)

    do_PUT = do_POST = do_DELETE = do_PATCH = _not_allowed
