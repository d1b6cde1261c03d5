#!/usr/bin/env python3
"""bench/relay.py LISTEN_HOST LISTEN_PORT TARGET_HOST TARGET_PORT ONE_WAY_DELAY_MS
— a delaying TCP relay: the latency half of a simulated wide-area link (this kernel has no
netem; `tc` on the veth caps the bandwidth).

Every chunk read from one side is held for ONE_WAY_DELAY_MS before it is written to the
other, in each direction, so a request/answer pair costs one round trip of 2 × the delay on
top of what the link itself costs. Chunks wait in a bounded queue per direction (64 chunks
of at most 64 KiB): a side that cannot keep up stops the reading side (back-pressure), the
relay never buffers without bound. EOF is forwarded after the same delay (half-close), so
protocols that shut down their sending side (git http, svn) work.

LISTEN_PORT 0 takes a free port; the port bound is printed on stdout as ``PORT <n>`` once the
relay listens. It runs until SIGTERM/SIGINT (or stdin closes, when --stdin-guard is given:
the harness that started it died).
"""

from __future__ import annotations

import asyncio
import signal
import sys
import time

CHUNK = 64 * 1024
QUEUE = 64
CONNECT_TIMEOUT = 10.0


async def pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float) -> None:
    queue: asyncio.Queue[tuple[float, bytes | None]] = asyncio.Queue(maxsize=QUEUE)

    async def read_side() -> None:
        try:
            while True:
                data = await reader.read(CHUNK)
                await queue.put((time.monotonic() + delay, data or None))
                if not data:
                    return
        except (ConnectionError, OSError):
            await queue.put((time.monotonic() + delay, None))

    async def write_side() -> None:
        try:
            while True:
                due, data = await queue.get()
                wait = due - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                if data is None:
                    if writer.can_write_eof():
                        writer.write_eof()
                    return
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            return

    reading = asyncio.ensure_future(read_side())
    try:
        await write_side()
    finally:
        reading.cancel()


async def handle(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter, target: tuple[str, int], delay: float) -> None:
    try:
        server_r, server_w = await asyncio.wait_for(asyncio.open_connection(*target), CONNECT_TIMEOUT)
    except (OSError, asyncio.TimeoutError):
        client_w.close()
        return
    try:
        await asyncio.gather(pump(client_r, server_w, delay), pump(server_r, client_w, delay))
    finally:
        for w in (client_w, server_w):
            try:
                w.close()
            except OSError:
                pass


async def main(argv: list[str]) -> None:
    guard = "--stdin-guard" in argv
    args = [a for a in argv if a != "--stdin-guard"]
    if len(args) != 5:
        sys.exit(__doc__)
    listen_host, listen_port, target_host, target_port, delay_ms = args
    delay = float(delay_ms) / 1000.0
    target = (target_host, int(target_port))
    server = await asyncio.start_server(lambda r, w: handle(r, w, target, delay), listen_host, int(listen_port), reuse_address=True)
    port = server.sockets[0].getsockname()[1]
    print(f"PORT {port}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if guard:
        def on_stdin() -> None:
            if not sys.stdin.buffer.read1(1024):  # type: ignore[attr-defined]
                loop.remove_reader(sys.stdin.fileno())
                stop.set()
        loop.add_reader(sys.stdin.fileno(), on_stdin)
    async with server:
        await stop.wait()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
