#!/usr/bin/env python3
"""bench/serve_git.py ROOT HOST PORT — git's smart HTTP (``git http-backend`` as a CGI) for
the repositories under ROOT, on HOST:PORT, without authentication.

The handler is the tests' own (tests/servers/git_http.py), bound to a namespace's address
instead of loopback: bench/run starts this inside a simulated remote site. Runs until killed.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.servers import git_http  # noqa: E402


def main() -> None:
    root, host, port = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    owner = git_http.GitHttpServer(root)

    class Handler(git_http._Handler):
        def _check_auth(self) -> tuple[str, str | None]:
            return "ok", None

    Handler.owner = owner
    httpd = git_http._Server((host, port), Handler)
    httpd.daemon_threads = True
    owner.requests = _Discard()  # a long benchmark must not keep every request
    print(f"serving {root} on {host}:{port}", flush=True)
    httpd.serve_forever()


class _Discard(list):
    def append(self, item: object) -> None:
        pass


if __name__ == "__main__":
    main()
