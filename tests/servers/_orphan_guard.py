"""Run a server as our child and stop it when our stdin reaches end-of-file.

``Registry`` starts ``python _orphan_guard.py docker-registry serve CONFIG`` with a pipe as
stdin and keeps the write end. The kernel closes that end however the test process ends —
a clean exit, an exception, even SIGKILL, where neither atexit nor a pytest finalizer runs —
so the server never outlives the tests, without Linux-only ``prctl(PR_SET_PDEATHSIG)``.
Exits with the server's own exit code, so a server that fails at start is seen at once.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading


def main(argv: list[str]) -> int:
    child = subprocess.Popen(argv, stdin=subprocess.DEVNULL)  # stdout/stderr: inherited (the log)

    def stop_child(*_: object) -> None:
        if child.poll() is None:
            child.terminate()

    def watch_stdin() -> None:
        sys.stdin.buffer.read()  # returns only at EOF: the parent closed the pipe or died
        stop_child()

    signal.signal(signal.SIGTERM, stop_child)
    signal.signal(signal.SIGINT, stop_child)
    threading.Thread(target=watch_stdin, daemon=True).start()
    return child.wait()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
