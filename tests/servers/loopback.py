"""The one way the tests' HTTP servers (git, Maven repository, fault proxy) listen: on a free
loopback port, served from a daemon thread so a hung test never keeps pytest alive."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def start(handler: type[BaseHTTPRequestHandler], name: str, server: type[ThreadingHTTPServer] = ThreadingHTTPServer) -> ThreadingHTTPServer:
    httpd = server(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, name=name, daemon=True).start()
    return httpd


def stop(httpd: ThreadingHTTPServer | None) -> None:
    if httpd is not None:
        httpd.shutdown()
        httpd.server_close()
