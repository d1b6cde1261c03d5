"""Network faults while the image is copied between registries: real registries on
loopback, each behind a fault proxy (tests/servers/fault_proxy.py) that resets, truncates,
stalls or trickles bodies — the seed's blob reads, the copy destinations' uploads — or
answers 503 for 30 s, or never stops failing.

These runs use ``--push-mode copy``: the seed is the first destination, the engine pushes
there (its traffic is not faulted here), and autopack's own registry client reads that image
back and copies it to the others. So the faults sit on the seed's blob GETs and on the
copies' blob and manifest PUTs. (The default ``parallel`` mode has the engine push to every
destination and falls back to this copy for a destination whose push failed: the last test.)

One real ``autopack build --engine buildkit --push`` (module fixture, under ``reset``) builds
the image; the other runs push it again with ``autopack push``, the same publish machinery.
The direct builder pushes from its blob store to every destination, so it meets the upload
faults only (``test_a_direct_build_survives_upload_faults``). Digests are
checked with a separate HTTP client, straight at each registry, never through autopack or
the proxies."""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import docker
import pytest

from tests.conftest import Run, autopack, copy_fixture, remove_images
from tests.servers.fault_proxy import FaultProxy
from tests.servers.fixtures import B_PASSWORD, B_USER, Registries, registries, start_registries  # noqa: F401  (fixtures)

pytestmark = pytest.mark.e2e
REPOSITORY = "team/hello"
TIMEOUT = 2  # AUTOPACK_PUSH_TIMEOUT for these runs: a stall is seen in 2 s (an upload's in 8 s)
# slow: 8 pieces of 256 bytes, 0.3 s apart — 2.4 s a body, longer than a read may stay silent
SLOW = {"piece": 256, "pause": 0.3, "pieces": 8}


@dataclass
class Pushed:
    run: Run
    result: dict
    seconds: float
    proxies: tuple[FaultProxy, FaultProxy, FaultProxy]
    registries: Registries

    @property
    def destinations(self) -> dict[str, dict]:
        """The result's destinations by registry (the proxies' addresses)."""
        return {d["registry"]: d for d in self.result.get("destinations", [])}

    def at(self, proxy: FaultProxy) -> dict:
        return self.destinations[proxy.host]


def env_for(b_proxy: FaultProxy) -> dict[str, str]:
    """Registry b's login, for the address autopack knows it by (its proxy's), and the read timeout."""
    key = re.sub(r"[^A-Z0-9]", "_", b_proxy.host.upper())
    return {f"AUTOPACK_REGISTRY_USER_{key}": B_USER, f"AUTOPACK_REGISTRY_PASSWORD_{key}": B_PASSWORD, "AUTOPACK_PUSH_TIMEOUT": str(TIMEOUT)}


def run_push(command: list[str | Path], proxies: tuple[FaultProxy, ...], trio: Registries, result_file: Path, mode: str = "copy") -> Pushed:
    pushes = ["--push-mode", mode, *(arg for proxy in proxies for arg in ("--push", f"{proxy.host}/{REPOSITORY}"))]
    started = time.monotonic()
    run = autopack(*command, *pushes, "--plain", "--result-file", result_file, env=env_for(proxies[1]), timeout=300)
    seconds = time.monotonic() - started
    result = json.loads(result_file.read_text()) if result_file.exists() else {}
    return Pushed(run, result, seconds, proxies, trio)


def stop(proxies: tuple[FaultProxy, ...]) -> None:
    """Stop them side by side: each takes up to half a second (its server's poll)."""
    threads = [threading.Thread(target=proxy.stop) for proxy in proxies]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)


def faults(mode: str, trio: Registries, times: int = 1) -> tuple[FaultProxy, FaultProxy, FaultProxy]:
    """The seed's blob reads, b's blob uploads and c's manifest uploads broken ``times`` times each."""
    extra = {"stall": 30.0, **SLOW}
    return (
        FaultProxy(trio.a, kind="blob-get", mode=mode, times=times, **extra).start(),
        FaultProxy(trio.b, kind="blob-upload", mode=mode, times=times, **extra).start(),
        FaultProxy(trio.c, kind="manifest-put", mode=mode, times=times, **extra).start(),
    )


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, engine: docker.DockerClient) -> Iterator[tuple[str, Pushed]]:
    """One real ``autopack build --push A --push B --push C`` of hello-service, every copy
    under ``reset`` faults; yields the image it built (``repository:1.0.0``) and that run."""
    work = tmp_path_factory.mktemp("push-faults")
    repository = f"autopack-test/faults-{uuid.uuid4().hex[:8]}"
    project = copy_fixture("hello-service", work)
    trio = start_registries(work / "registries")
    proxies = faults("reset", trio)
    try:
        pushed = run_push(["build", project, "--engine", "buildkit", "--image", repository, "-t", "1.0.0", "--skip-tests"], proxies, trio, work / "result.json")
        yield f"{repository}:1.0.0", pushed
    finally:
        stop(proxies)
        for registry in trio:
            registry.stop()
        remove_images(engine, repository)


def assert_one_digest_everywhere(pushed: Pushed) -> str:
    run = pushed.run
    assert "internal error" not in run.stderr, run.stderr[-3000:]
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert set(pushed.destinations) == {p.host for p in pushed.proxies}
    assert all(d["status"] == "ok" and d["tags"] == ["1.0.0"] for d in pushed.destinations.values()), pushed.destinations
    [digest] = {d["digest"] for d in pushed.destinations.values()}
    for registry in pushed.registries:  # asked directly, not through autopack or a proxy
        assert registry.manifest_digest(REPOSITORY, "1.0.0") == digest
    return digest


def assert_retried(pushed: Pushed, mode: str) -> None:
    """Every proxy made its fault, and each was survived by another try of that step."""
    seed, b, c = pushed.proxies
    assert [p.injected for p in pushed.proxies] == [1, 1, 1], pushed.proxies
    assert pushed.at(seed)["attempts"] == 1, "the engine's push to the seed was not faulted"
    assert pushed.at(b)["attempts"] >= 2 and pushed.at(c)["attempts"] >= 2, pushed.destinations
    [(_, broken_upload, _)] = b.faults
    again = [path for method, path, status in b.log if method == "PUT" and status == 201 and _digest_of(path) == _digest_of(broken_upload)]
    assert again and all(_session(path) != _session(broken_upload) for path in again), "the upload was not started over in a new session"
    assert any(method == "PUT" and "/manifests/" in path and status == 201 for method, path, status in c.log), c.log
    [(_, broken, _)] = seed.faults
    reads = [status for method, path, status in seed.log if method == "GET" and path == broken]
    assert len(reads) >= 2, seed.log  # the broken blob read was read again
    if mode in ("truncate", "stall"):  # the client had the first half: it asked for the rest only
        assert 206 in reads, seed.log
    assert re.search(r" push +\S+: .+; try 2 of 4 in \d+\.\ds$", pushed.run.stdout, re.MULTILINE), f"no retry was announced:\n{pushed.run.stdout[-3000:]}"


def _digest_of(upload: str) -> str:
    return parse_qs(urlsplit(upload).query).get("digest", [""])[0]


def _session(upload: str) -> str:
    return urlsplit(upload).path


def test_build_push_to_three_registries_survives_resets(built):
    """Connections reset in the middle of a body: the seed's blob read, b's blob upload, c's
    manifest upload. Each is tried again (the read resumed or restarted, the upload started
    over with a new upload session) and one digest ends up everywhere."""
    _, pushed = built
    assert_one_digest_everywhere(pushed)
    assert_retried(pushed, "reset")


@pytest.mark.parametrize("mode", ["truncate", "stall"])
def test_push_survives_bodies_cut_short_and_stalls(mode, built, registries, tmp_path):  # noqa: F811
    """``truncate``: fewer bytes than Content-Length, then a clean close. ``stall``: half the
    body, then silence for 30 s — far longer than the read timeout, which must end the try
    (in 2 s for a read, 8 s for an upload), not the proxy closing after 30 s."""
    image, _ = built
    proxies = faults(mode, registries)
    try:
        pushed = run_push(["push", image], proxies, registries, tmp_path / "result.json")
    finally:
        stop(proxies)
    assert_one_digest_everywhere(pushed)
    assert_retried(pushed, mode)
    if mode == "stall":
        assert pushed.seconds < 28, f"a stall was waited out ({pushed.seconds:.0f} s), not cut by the read timeout"
        assert "no answer for 2 s (stalled)" in pushed.run.stdout and "no answer for 8 s (stalled)" in pushed.run.stdout, pushed.run.stdout[-3000:]


def test_push_lets_slow_bodies_finish(built, registries, tmp_path):  # noqa: F811
    """Bodies trickled (256 bytes every 0.3 s for 2.4 s — longer than the 2 s read timeout,
    but never silent that long) are slow, not stalled: nothing is retried."""
    image, _ = built
    proxies = faults("slow", registries)
    try:
        pushed = run_push(["push", image], proxies, registries, tmp_path / "result.json")
    finally:
        stop(proxies)
    assert_one_digest_everywhere(pushed)
    assert [p.injected for p in proxies] == [1, 1, 1]
    assert [pushed.at(p)["attempts"] for p in proxies] == [1, 1, 1], pushed.destinations
    assert "try 2" not in pushed.run.stdout, pushed.run.stdout[-3000:]


def test_busy_registry_is_outlasted_and_a_fault_that_never_stops_fails_only_its_destination(built, registries, tmp_path):  # noqa: F811
    """b answers 503 to everything for 30 s, then works: the default --push-retries (3)
    outlasts it — more than four tries, spread over more than 30 s. c resets every blob
    upload, forever: it fails alone (exit 6) once its budget is spent; the seed and b are
    reported ok with their digests, c with no digest and no tags."""
    image, _ = built
    a, b, c = registries
    seed, busy, broken = proxies = (
        FaultProxy(a, kind="blob-get", mode="reset", times=0).start(),  # a plain pass-through
        FaultProxy(b, status=503, retry_after=None, seconds=30).start(),
        FaultProxy(c, kind="blob-upload", mode="reset", times=None).start(),
    )
    try:
        pushed = run_push(["push", image, "--no-preflight"], proxies, registries, tmp_path / "result.json")
    finally:
        stop(proxies)
    run = pushed.run
    assert "internal error" not in run.stderr, run.stderr[-3000:]
    assert run.returncode == 6, run.stdout[-2000:] + run.stderr[-3000:]
    last = run.stderr.splitlines()[-1]
    assert last.startswith("autopack: error: push failed for ") and broken.host in last and busy.host not in last, last
    assert set(pushed.destinations) == {seed.host, busy.host, broken.host}, "a destination went missing from the result"

    ok, survived, failed = pushed.at(seed), pushed.at(busy), pushed.at(broken)
    assert ok["status"] == survived["status"] == "ok"
    assert ok["digest"] == survived["digest"] == a.manifest_digest(REPOSITORY, "1.0.0") == b.manifest_digest(REPOSITORY, "1.0.0") is not None
    assert ok["tags"] == survived["tags"] == ["1.0.0"]
    assert busy.injected > 4 and survived["attempts"] > 4, f"503 ×{busy.injected}, attempts {survived['attempts']}: more tries than a count of 3 retries allows"
    assert pushed.seconds > 30

    assert failed["status"] == "failed" and failed["digest"] is None and failed["tags"] == [], failed
    assert "connection reset" in failed["error"] and failed["attempts"] > 1, failed
    assert c.manifest_digest(REPOSITORY, "1.0.0") is None
    assert broken.injected == failed["attempts"]
    assert pushed.result["status"] == "failed" and pushed.result["error"]["stage"] == "push"


def test_a_seed_that_cannot_be_read_back_fails_the_copies_and_keeps_the_seed(built, registries, tmp_path):  # noqa: F811
    """The seed holds the image, but its manifest never arrives whole: every copy fails
    (exit 6, no retry with --push-retries 0), and the result still reports the seed, pushed
    and verified, next to the copies that failed — with no digest and no tags."""
    image, _ = built
    a, b, c = registries
    seed, *_ = proxies = (
        FaultProxy(a, kind="manifest-get", mode="truncate", times=None).start(),
        FaultProxy(b, times=0).start(),
        FaultProxy(c, times=0).start(),
    )
    try:
        pushed = run_push(["push", image, "--push-retries", "0"], proxies, registries, tmp_path / "result.json")
    finally:
        stop(proxies)
    run = pushed.run
    assert "internal error" not in run.stderr, run.stderr[-3000:]
    assert run.returncode == 6, run.stderr[-3000:]
    assert seed.injected == 1, "--push-retries 0 tried again"
    ok = pushed.at(seed)
    assert ok["status"] == "ok" and ok["digest"] == a.manifest_digest(REPOSITORY, "1.0.0") is not None and ok["tags"] == ["1.0.0"]
    for proxy in proxies[1:]:
        failed = pushed.at(proxy)
        assert failed["status"] == "failed" and failed["digest"] is None and failed["tags"] == [], failed
        assert failed["error"].startswith(f"copying from {seed.host}/{REPOSITORY}: ") and "cut short" in failed["error"], failed["error"]
    assert b.manifest_digest(REPOSITORY, "1.0.0") is None and c.manifest_digest(REPOSITORY, "1.0.0") is None


def test_parallel_mode_copies_to_a_destination_whose_engine_push_failed(built, registries, tmp_path):  # noqa: F811
    """--push-mode parallel (the default): the engine pushes to a and to b at once; b answers
    503 to everything for 30 s. The engine's push to b fails; b then gets the copy from a."""
    image, _ = built
    a, b, _ = registries
    plain, busy = proxies = (
        FaultProxy(a, kind="blob-get", mode="reset", times=0).start(),  # a plain pass-through
        FaultProxy(b, status=503, retry_after=None, seconds=30).start(),
    )
    try:
        pushed = run_push(["push", image, "--no-preflight"], proxies, registries, tmp_path / "result.json", mode="parallel")
    finally:
        stop(proxies)
    run = pushed.run
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    ok, survived = pushed.at(plain), pushed.at(busy)
    assert ok["status"] == survived["status"] == "ok" and ok["tags"] == survived["tags"] == ["1.0.0"]
    assert ok["digest"] == survived["digest"] == a.manifest_digest(REPOSITORY, "1.0.0") == b.manifest_digest(REPOSITORY, "1.0.0") is not None
    assert busy.injected > 0
    # The engine gives up on a busy registry that wants a login ("authentication required"):
    # the copy, with autopack's own retries, outlasts it.
    assert f"{busy.host}/{REPOSITORY}: the engine's push failed (" in run.stdout and f"copying from {plain.host}/{REPOSITORY} instead" in run.stdout
    assert pushed.seconds > 30


def test_a_direct_build_survives_upload_faults_and_gives_one_digest(tmp_path: Path, engine: docker.DockerClient) -> None:
    """The direct builder reads nothing back from a seed: every destination gets the blob
    store's image, so only b's upload reset and c's manifest reset happen, each survived."""
    project = copy_fixture("hello-service", tmp_path)
    trio = start_registries(tmp_path / "registries")
    proxies = faults("reset", trio)
    try:
        pushed = run_push(["build", project, "--engine", "direct", "-t", "1.0.0", "--skip-tests"], proxies, trio, tmp_path / "result.json", mode="parallel")
        digest = assert_one_digest_everywhere(pushed)
        assert pushed.result["images"][0]["digest"] == digest
        a, b, c = proxies
        assert [p.injected for p in proxies] == [0, 1, 1], proxies
        assert pushed.at(a)["attempts"] == 1 and pushed.at(b)["attempts"] >= 2 and pushed.at(c)["attempts"] >= 2, pushed.destinations
    finally:
        stop(proxies)
        for registry in trio:
            registry.stop()
