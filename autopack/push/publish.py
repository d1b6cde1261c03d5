"""Publishing: every tag of the image to every destination, destinations in parallel.

Before the build (``preflight``): each destination's credential is resolved and the
registry is asked whether it grants push, so a refusal costs seconds, not a build. After
it (``publish``): the builder's store pushes to one destination (``Engine.push``: the
Docker engine with every line of its push stream checked and transient failures retried with
backoff, or buildah); the other destinations receive a copy
of those exact bytes in parallel; then every registry is asked for each tag's manifest
digest, which must be the one pushed.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import docker
import docker.errors
import requests
import urllib3.exceptions

from autopack import parallel, tags
from autopack.errors import PushError, UsageError
from autopack.events import Emit, LogLine, Progress
from autopack.push import credentials, replicate
from autopack.push.credentials import RegistryAuth
from autopack.push.registry import RegistryClient

if TYPE_CHECKING:
    from autopack.engine import Engine
    from autopack.engine.base import Image
    from autopack.push.referrers import Attached

STAGE = "push"
MAX_JOBS = 8
MODES = ("copy", "parallel")  # --push-mode


@dataclass(frozen=True)
class Destination:
    registry: str
    repository: str

    @property
    def name(self) -> str:
        return f"{self.registry}/{self.repository}"


@dataclass(frozen=True)
class Published:
    """What happened at one destination: the push stage's value for it."""

    destination: Destination
    credential: str | None = None  # where its credential came from, never the credential
    status: str = "pending"
    digest: str | None = None
    tags: tuple[str, ...] = ()
    skipped: tuple[str, ...] = ()  # immutable tags that already held this image
    attempts: int = 0  # tries of its most-tried push step: 1 means nothing had to be retried
    preflight_attempts: int = 0  # tries the pre-flight check took (0: none was made)
    error: str | None = None
    seconds: float = 0.0
    attached: tuple[Attached, ...] = ()  # the SBOM, attestations and signature attached there


def parse_destination(text: str) -> Destination:
    """``registry[:port]/repository`` — the registry part is required, never guessed."""
    name = text.strip().rstrip("/")
    registry, _, repository = name.partition("/")
    if not repository or tags.registry_of(name) is None:
        raise UsageError(f"push destination '{text}' names no registry", "write it as registry[:port]/repository, e.g. registry.example.com/team/app")
    tags.validate_reference(f"{name}:probe")
    return Destination(registry, repository)


def preflight(destinations: Sequence[Destination], auth_file: Path | None, retries: int, emit: Emit) -> tuple[dict[Destination, RegistryAuth | None], dict[Destination, int]]:
    """Resolve each destination's credential and check that the registry grants push;
    returns the credentials and how many tries each check took."""
    auths: dict[Destination, RegistryAuth | None] = {}
    for destination in destinations:
        auth = credentials.resolve(destination.registry, auth_file)
        auths[destination] = auth
        emit(LogLine("plan", f"{destination.name}: credential from {auth.origin if auth else 'nowhere (anonymous)'}", "info"))

    def check(destination: Destination) -> tuple[int, PushError | None]:
        client = RegistryClient(destination.registry, auths[destination], retries, on_retry=lambda text: emit(LogLine("plan", text, "warning")))
        try:
            client.check_push(destination.repository)
        except PushError as e:
            emit(LogLine("plan", f"{destination.name}: {e.message}", "error"))
            return 1 + client.retried, e
        emit(LogLine("plan", f"{destination.name}: push granted", "info"))
        return 1 + client.retried, None

    checked = parallel.run_all(check, destinations, MAX_JOBS)
    failures = [error for _, error in checked if error is not None]
    if failures:
        first = failures[0]
        more = f" (and {len(failures) - 1} more destination(s))" if len(failures) > 1 else ""
        raise PushError(f"pre-flight: {first.message}{more}", first.hint)
    return auths, {d: tries for d, (tries, _) in zip(destinations, checked, strict=True)}


def publish(
    engine: Engine,
    image: Image,
    image_tags: Sequence[str],
    destinations: Sequence[Destination],
    auths: Mapping[Destination, RegistryAuth | None],
    *,
    jobs: int,
    retries: int,
    immutable: re.Pattern[str] | None,
    emit: Emit,
    preflight_tries: Mapping[Destination, int] | None = None,
    held: Mapping[Destination, str] | None = None,
    mode: str = "copy",
) -> tuple[Published, ...]:
    """Push ``image_tags`` of ``image`` to every destination and verify them; returns every
    destination's ``Published`` — those that failed with their error, after all have been
    tried.

    The builder's store pushes to the first destination that takes it (the seed: the
    Docker engine through the run's one client, or buildah); the others get a copy of what
    the seed received, in parallel (``replicate``): one compression instead of one per
    destination, and the same manifest bytes everywhere.

    ``held`` (an image whose inputs were unchanged): the destinations that hold it already,
    with its manifest digest there. The first is the seed — nothing is pushed from the
    engine — and every destination gets from it only what it lacks: the blobs and manifest
    where the image (by that digest) is missing, just the tags elsewhere.

    An image the direct builder made (``image.assembled``) is in no store: every destination
    gets it from the blob store in parallel — the blobs it lacks (a base layer it can mount
    from the base's repository on the same registry is mounted), then its manifests.

    ``mode="parallel"``: the store pushes to every destination at once (one upload per
    destination's own link, instead of one upload and then a download and an upload per
    copy); the first destination's digest is everyone's, and one whose push gave another
    digest gets the copy from it.
    """
    results = [_Push(d, credential=(auth.origin if (auth := auths.get(d)) else None), preflight_attempts=(preflight_tries or {}).get(d, 0)) for d in destinations]

    def warn(text: str) -> None:
        emit(LogLine(STAGE, text, "warning"))

    clients = {r.destination: RegistryClient(r.destination.registry, auths.get(r.destination), retries, on_retry=warn) for r in results}
    wanted: dict[Destination, list[str]] = {}
    for r in results:
        _guard(r, lambda r=r: wanted.__setitem__(r.destination, _tags_to_push(clients[r.destination], r, image_tags, image.id, immutable, emit)), emit)  # type: ignore[misc]  # mypy cannot type a lambda's default

    seed: _Push | None
    if held:
        seed = _seed_held(results, held, clients, wanted, emit)
    elif image.assembled is not None:
        seed = None  # the direct builder's image: every destination gets it from the blob store
    elif mode == "parallel" and not image.pushed and sum(r.status == "pending" for r in results) > 1:
        results, seed = _push_everywhere(engine, image, results, wanted, auths, jobs, retries, emit)
    else:
        seed = _push_seed(engine, image, results, wanted, auths, retries, emit)
    assembled = image.assembled if not held else None
    seed_digest = assembled.digest if assembled is not None else seed.digest if seed and seed.digest else ""

    # Copied from the seed: with ``held``, every destination that lacks the image or a tag of it
    # (the seed too); else every other one whose wanted tags do not all hold the seed's digest yet.
    others = [r for r in results if r.status == "pending" and (wanted[r.destination] or held.get(r.destination) != seed_digest if held else r is not seed and not (r.digest == seed_digest and r.tags == wanted[r.destination]))]
    if (seed is not None or assembled is not None) and others:
        with replicate.scratch_dir() as scratch:
            sources: list[replicate.Source | replicate.Built] = []
            if assembled is not None:
                unreadable = error_of(lambda: sources.append(replicate.Built(assembled, engine.bases)), others[0].destination)
                origin = "the blob store"
            else:
                assert seed is not None
                unreadable = error_of(lambda: sources.append(replicate.Source(clients[seed.destination], seed.destination.repository, seed_digest, Path(scratch))), seed.destination)
                origin = seed.destination.name
            if unreadable is not None:  # the seed holds the image, but it cannot be read back to copy it
                for r in others:
                    _fail(r, f"copying from {origin}: {unreadable}", emit)
                    r.digest, r.tags = None, []
            else:
                source = sources[0]

                def copy_one(r: _Push) -> _Push:
                    started = time.monotonic()
                    client = clients[r.destination]
                    done = r.copy()  # each worker fills its own copy; the main thread keeps them
                    done.attempts = 0

                    def note(tries: int) -> None:
                        done.attempts = max(done.attempts, tries)

                    if held and held.get(r.destination) == seed_digest:  # the image is there: only its missing tags
                        _guard(done, lambda: [client.put_manifest(r.destination.repository, t, source.manifest, source.media_type) for t in wanted[r.destination]], emit)
                    else:
                        _guard(done, lambda: replicate.copy(source, client, r.destination.repository, wanted[r.destination], r.destination.name, emit, note), emit)
                    done.attempts = max(done.attempts, client.most_tries, 1)
                    if done.status == "pending":
                        done.digest, done.tags = seed_digest, list(wanted[r.destination])
                    else:  # nothing there is verified: no digest, no tags reported as pushed
                        done.digest, done.tags = None, []
                    done.seconds = time.monotonic() - started
                    return done

                copied = dict(zip(map(id, others), parallel.run_all(copy_one, others, min(jobs or len(others), MAX_JOBS)), strict=True))
                results = [copied.get(id(r), r) for r in results]

    for r in results:
        if r.status == "pending":
            _guard(r, lambda r=r: _verify(clients[r.destination], r, seed_digest), emit)  # type: ignore[misc]  # mypy cannot type a lambda's default
            if r.status == "pending":
                r.status, r.attempts = "ok", r.attempts or 1
                emit(Progress(STAGE, f"{r.destination.name}: {r.digest}", {"destination": r.destination.name, "key": r.destination.name, "state": "verified"}))
    return tuple(r.frozen() for r in results)


def failure(results: Sequence[Published]) -> PushError | None:
    """The error a run ends with when any destination failed."""
    failed = [r for r in results if r.status != "ok"]
    if not failed:
        return None
    return PushError(f"push failed for {', '.join(r.destination.name for r in failed)}: {failed[0].error}", "the summary and result file give each destination's status")


@dataclass
class _Push:
    """One destination's push while it goes; ``frozen`` is what the stage returns."""

    destination: Destination
    credential: str | None = None
    status: str = "pending"
    digest: str | None = None
    tags: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)  # tags seen holding the digest by this stage
    attempts: int = 0
    preflight_attempts: int = 0
    error: str | None = None
    seconds: float = 0.0

    def copy(self) -> _Push:
        return replace(self, tags=list(self.tags), skipped=list(self.skipped), checked=list(self.checked))

    def frozen(self) -> Published:
        return Published(self.destination, self.credential, self.status, self.digest, tuple(self.tags), tuple(self.skipped), self.attempts, self.preflight_attempts, self.error, self.seconds)


def _guard(result: _Push, step: Callable[[], object], emit: Emit) -> None:
    """Run one destination's step; a failure marks that destination only. The registry
    client and the engine translate their libraries' errors into ``PushError``; a network
    error that still gets here (a library raising what it does not document) is this
    destination's failure too, not the run's crash."""
    if result.status != "pending":
        return
    error = error_of(step, result.destination)
    if error is not None:
        _fail(result, error, emit)


def error_of(step: Callable[[], object], destination: Destination) -> str | None:
    """Run ``step``; the message of the push failure it ended in, or None if it did not."""
    try:
        step()
    except PushError as e:
        return e.message
    except docker.errors.DockerException as e:
        return f"the engine failed: {str(e).splitlines()[0][:300] if str(e) else type(e).__name__}"
    except (requests.RequestException, urllib3.exceptions.HTTPError) as e:
        return f"the connection to {destination.registry} failed: {type(e).__name__}: {str(e)[:300]}"
    return None


def _fail(result: _Push, error: str, emit: Emit) -> None:
    result.status, result.error = "failed", error
    emit(LogLine(STAGE, f"{result.destination.name}: {error}", "error"))


def _tags_to_push(client: RegistryClient, result: _Push, image_tags: Sequence[str], image_id: str, immutable: re.Pattern[str] | None, emit: Emit) -> list[str]:
    return [t for t in image_tags if not (immutable and immutable.fullmatch(t) and _already_there(client, result.destination, t, image_id, result, emit))]


def _seed_held(results: list[_Push], held: Mapping[Destination, str], clients: Mapping[Destination, RegistryClient], wanted: dict[Destination, list[str]], emit: Emit) -> _Push | None:
    """The seed of an unchanged image: the first destination that holds it. Tags already on
    the image (at any destination) are taken out of ``wanted``."""
    seed = next((r for r in results if r.destination in held and r.status == "pending"), None)
    if seed is None:
        return None
    seed.digest = digest = held[seed.destination]
    pending = [r for r in results if r.status == "pending"]
    there = parallel.run_all(lambda r: _holding(clients[r.destination], r.destination, wanted[r.destination], digest), pending, MAX_JOBS)
    for r, found in zip(pending, there, strict=True):
        if isinstance(found, str):
            _fail(r, found, emit)
        elif found:
            r.skipped += found
            r.checked += found
            wanted[r.destination] = [t for t in wanted[r.destination] if t not in found]
            emit(LogLine(STAGE, f"{r.destination.name}: {', '.join(found)} already hold{'s' if len(found) == 1 else ''} this image", "info"))
    return seed


def _push_seed(engine: Engine, image: Image, results: list[_Push], wanted: Mapping[Destination, list[str]], auths: Mapping[Destination, RegistryAuth | None], retries: int, emit: Emit) -> _Push | None:
    """The copy mode's seed: the store pushes to the first destination that takes it."""
    for r in (r for r in results if r.status == "pending"):
        started = time.monotonic()
        _guard(r, lambda r=r: _seed(engine, image, r, wanted[r.destination], auths.get(r.destination), retries, emit), emit)  # type: ignore[misc]  # mypy cannot type a lambda's default
        r.seconds = time.monotonic() - started
        if r.status == "pending" and r.digest:
            return r
    return None


def _push_everywhere(engine: Engine, image: Image, results: list[_Push], wanted: Mapping[Destination, list[str]], auths: Mapping[Destination, RegistryAuth | None], jobs: int, retries: int, emit: Emit) -> tuple[list[_Push], _Push | None]:
    """The parallel mode: the store pushes to every destination at once, each push over its
    own connection. The first that succeeded is the seed; one whose push failed, or gave
    another digest, is left pending without a digest, for the copy from the seed. Returns
    the results (new values for those pushed) and the seed."""
    pending = [r for r in results if r.status == "pending"]

    def push_one(r: _Push) -> tuple[_Push, str | None]:
        done = r.copy()  # each worker fills its own copy; the main thread keeps them
        started = time.monotonic()
        error = error_of(lambda: _seed(engine, image, done, wanted[r.destination], auths.get(r.destination), retries, emit, own_connection=True), r.destination)
        done.seconds = time.monotonic() - started
        return done, error

    outcomes = dict(zip(map(id, pending), parallel.run_all(push_one, pending, min(jobs or len(pending), MAX_JOBS)), strict=True))
    results = [outcomes[id(r)][0] if id(r) in outcomes else r for r in results]
    errors = {done.destination: error for done, error in outcomes.values() if error is not None}
    seed = next((r for r in results if r.status == "pending" and r.digest and r.destination not in errors), None)
    for r in results:
        if r.destination in errors:
            if seed is None:
                _fail(r, errors[r.destination], emit)
            else:  # tried once more as a copy from a destination that has it: registry to registry, resumable
                emit(LogLine(STAGE, f"{r.destination.name}: the engine's push failed ({errors[r.destination]}); copying from {seed.destination.name} instead", "warning"))
                r.digest, r.tags = None, []
        elif seed is not None and r is not seed and r.status == "pending" and r.digest != seed.digest:
            emit(LogLine(STAGE, f"{r.destination.name}: the engine's push gave {r.digest}, not {seed.digest}: copying from {seed.destination.name}", "warning"))
            r.digest, r.tags = None, []
    return results, seed


def _seed(engine: Engine, image: Image, result: _Push, tags_: Sequence[str], auth: RegistryAuth | None, retries: int, emit: Emit, own_connection: bool = False) -> None:
    """Push through the builder's store to this destination; its digest becomes everyone's."""
    for tag in tags_:
        result.digest = engine.push(image, result.destination.name, tag, auth, retries, emit, on_attempt=lambda n: setattr(result, "attempts", max(result.attempts, n)), own_connection=own_connection)
        result.tags.append(tag)
    result.attempts = result.attempts or 1


def _holding(client: RegistryClient, destination: Destination, tags_: Sequence[str], digest: str) -> list[str] | str:
    """The tags of ``tags_`` that hold ``digest`` at ``destination`` already, or why that cannot be told."""
    found: list[str] = []
    error = error_of(lambda: found.extend(t for t in tags_ if client.manifest_digest(destination.repository, t) == digest), destination)
    return error if error is not None else found


def _verify(client: RegistryClient, result: _Push, digest: str) -> None:
    """Ask the registry what each tag holds now: it must be the digest that was pushed (a tag
    found holding it a moment ago is not asked again)."""
    for tag in [t for t in result.tags + result.skipped if t not in result.checked]:
        held = client.manifest_digest(result.destination.repository, tag)
        if held != digest:
            raise PushError(f"{result.destination.name}:{tag} holds {held}, not the pushed {digest}", "another push may have raced this one")
    result.digest = digest


def _already_there(registry: RegistryClient, destination: Destination, tag: str, image_id: str, result: _Push, emit: Emit) -> bool:
    """An immutable tag may be pushed only where it is absent; holding this very image
    (same config digest = same image id) it is a no-op, holding another it is refused."""
    held = registry.manifest(destination.repository, tag)
    if held is None:
        return False
    if held.config_digest == image_id:
        result.skipped.append(tag)
        result.digest = held.digest
        emit(LogLine(STAGE, f"{destination.name}:{tag} already holds this image; not pushed again", "info"))
        return True
    raise PushError(f"{destination.name}:{tag} already exists with other content and matches --immutable-tags", "bump the version, or push under another tag")
