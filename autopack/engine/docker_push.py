"""The engine's push of one tag (``docker push`` through the Engine API): every JSON line
of its stream checked — an ``error``/``errorDetail`` line fails it even though the call
returned —, transient failures (and a stream from the engine that breaks off) retried with
backoff and jitter under the same budget as every registry call (``registry.retrying``:
``--push-retries N`` = at least N retries, for up to N × 15 s), layer states reported as
progress (one event per state change, not per byte)."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator, Mapping

import docker
import requests
import urllib3.exceptions

from autopack.errors import PushError
from autopack.events import Emit, LogLine, Progress
from autopack.push.credentials import RegistryAuth
from autopack.push.registry import Transient, retrying

STAGE = "push"
_FATAL = re.compile(r"unauthorized|authentication required|denied|forbidden|\b40[13]\b|manifest invalid|name unknown", re.IGNORECASE)
_TRANSIENT = re.compile(r"\b5\d\d\b|\b429\b|too ?many ?requests|connection reset|broken pipe|timeout|timed out|\beof\b|connection refused|server misbehaving", re.IGNORECASE)
_LAYER_STATES = {"Preparing": "waiting", "Waiting": "waiting", "Pushing": "pushing", "Pushed": "done", "Layer already exists": "exists"}


def push_tag(engine: docker.APIClient, name: str, tag: str, auth: RegistryAuth | None, retries: int, emit: Emit, on_attempt: Callable[[int], None]) -> str:
    """Push ``name:tag`` (``registry/repository``) and return the digest the engine reports;
    ``on_attempt`` hears the number of each try. Raises ``PushError``."""
    auth_config = {"username": auth.username, "password": auth.password, "serveraddress": name.partition("/")[0]} if auth else None
    policy, budget = retrying(retries)
    tries = 0
    try:
        for attempt in policy:
            with attempt:
                tries += 1
                on_attempt(tries)
                if tries > 1:
                    emit(LogLine(STAGE, f"{name}:{tag}: attempt {budget.label(tries)}", "warning"))
                return _push_once(engine, name, tag, auth_config, emit)
    except Transient as e:
        raise PushError(f"{name}:{tag} failed after {tries} attempts in {budget.elapsed():.0f} s: {e}", "check the registry; --push-retries N retries for N × 15 s") from None
    raise AssertionError("unreachable")


def _push_once(engine: docker.APIClient, name: str, tag: str, auth_config: dict | None, emit: Emit) -> str:
    digest = ""
    watcher = _LayerWatcher(name, emit)
    for chunk in _stream(engine.push(name, tag, stream=True, decode=True, auth_config=auth_config), name, tag):
        if "error" in chunk or "errorDetail" in chunk:
            message = ((chunk.get("errorDetail") or {}).get("message") or chunk.get("error") or "unknown error").strip()
            if _TRANSIENT.search(message) and not _FATAL.search(message):
                raise Transient(message)
            origin_hint = "check the credential (see the pre-flight line above)" if _FATAL.search(message) else "see the registry's log"
            raise PushError(f"{name}:{tag}: {message}", origin_hint)
        if aux := chunk.get("aux"):
            digest = aux.get("Digest", digest)
        watcher(chunk)
    if not digest:
        raise Transient(f"the push of {name}:{tag} ended without a digest")
    return digest


def _stream(lines: Iterator[dict], name: str, tag: str) -> Iterator[dict]:
    """The push stream's lines; the engine's connection breaking off (reset, cut short) is
    transient — another push resumes what the registry already has."""
    while True:
        try:
            line = next(lines)
        except StopIteration:
            return
        except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError, urllib3.exceptions.ProtocolError) as e:
            raise Transient(f"the engine's push stream for {name}:{tag} broke off ({type(e).__name__})") from None
        yield line


class _LayerWatcher:
    """Per-layer state from the push stream, as Progress events: one per state change, and
    byte counts no more than a few times a second."""

    def __init__(self, destination: str, emit: Emit) -> None:
        self.destination = destination
        self.emit = emit
        self.last: dict[str, tuple[str, float]] = {}

    def __call__(self, chunk: Mapping) -> None:
        layer, status = chunk.get("id"), chunk.get("status") or ""
        if not layer or len(layer) < 8:
            return
        state = _LAYER_STATES.get(status) or ("mounted" if status.startswith("Mounted from") else "retrying" if status.startswith("Retrying") else None)
        if state is None:
            return
        detail = chunk.get("progressDetail") or {}
        now = time.monotonic()
        previous, when = self.last.get(layer, ("", 0.0))
        if state == previous and (state != "pushing" or now - when < 0.25):
            return
        self.last[layer] = (state, now)
        self.emit(
            Progress(
                STAGE,
                f"{self.destination} {layer}: {state}",
                {"destination": self.destination, "layer": layer, "state": state, "current": detail.get("current", 0), "total": detail.get("total", 0), "key": f"{self.destination} {layer}"},
            )
        )
