"""A loopback HTTP server that records every request it gets (method, path, headers, body)
and answers as its ``respond`` function says: for tests of where credentials travel.

``with Recording(respond) as server: server.url`` → ``"http://127.0.0.1:PORT"``;
``server.seen`` is the list of ``Seen`` in arrival order. ``respond(seen)`` returns
``(status, headers, body)``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.servers import loopback


@dataclass(frozen=True)
class Seen:
    method: str
    path: str
    headers: dict[str, str]  # names lower-cased
    body: bytes

    @property
    def authorization(self) -> str | None:
        return self.headers.get("authorization")


Answer = tuple[int, dict[str, str], bytes]
Respond = Callable[[Seen], Answer]


class Recording:
    def __init__(self, respond: Respond, name: str = "recording") -> None:
        self.respond = respond
        self.name = name
        self.seen: list[Seen] = []
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None

    @property
    def port(self) -> int:
        assert self._httpd is not None, f"{self.name} is not started"
        return self._httpd.server_address[1]

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def authorizations(self) -> list[str]:
        with self._lock:
            return [s.authorization for s in self.seen if s.authorization]

    def __enter__(self) -> Recording:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> Recording:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:  # quiet
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                seen = Seen(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                with outer._lock:
                    outer.seen.append(seen)
                status, headers, answer = outer.respond(seen)
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer)))
                self.send_header("Connection", "close")
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(answer)
                self.close_connection = True

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _handle

        self._httpd = loopback.start(Handler, self.name)
        return self

    def stop(self) -> None:
        httpd, self._httpd = self._httpd, None
        loopback.stop(httpd)
