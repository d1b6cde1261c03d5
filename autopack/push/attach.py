"""The push stage's last step for one image: its SBOM, attestations and signature, made once
(``attest.bundle``) and attached at every destination that holds the image, in parallel
(``referrers``). An image that was not built again (its inputs were unchanged) has its
artefacts carried from a destination that holds them, and is signed anew where the run signs.

A destination where attaching fails is a failed destination: the image there lacks what the
run promised it (exit code 6, as for any push failure).
"""

from __future__ import annotations

import os
from dataclasses import replace

from autopack import parallel, tags
from autopack.attest import bundle as bundles
from autopack.attest.cosign import Artefact
from autopack.errors import ImageError, PushError
from autopack.events import Emit, LogLine, Progress
from autopack.plan import Keys, Plan, PlannedImage
from autopack.push import publish, referrers
from autopack.push.publish import Published
from autopack.push.registry import RegistryClient
from autopack.result import BuiltImage, PushedImage
from autopack.settings import Settings

STAGE = "push"


def attach_all(plan: Plan, planned: PlannedImage, built: BuiltImage, pushed: PushedImage, keys: Keys, settings: Settings, emit: Emit) -> PushedImage:
    """``pushed`` with each verified destination's artefacts attached (or its failure to)."""
    ok = [r for r in pushed.destinations if r.status == "ok" and r.digest]
    first = ok[0]
    assert first.digest is not None
    digest = first.digest

    def warn(text: str) -> None:
        emit(LogLine(STAGE, text, "warning"))

    clients = {r.destination: RegistryClient(r.destination.registry, keys.auths.get(r.destination.registry), settings.push_retries, on_retry=warn) for r in ok}
    try:
        subject = referrers.subject(clients[first.destination], first.destination.repository, digest)
        if built.reused:
            artefacts, made = _carried(ok, clients, digest, keys, emit), bundles.Bundle()
        else:
            made = bundles.make(plan, planned, built, settings, digest, first.destination.name, _base(planned), keys.signer, os.environ)
            artefacts = made.artefacts
    except (PushError, ImageError) as e:
        failed = tuple(replace(r, status="failed", error=f"attaching the supply chain: {e.message}") if r in ok else r for r in pushed.destinations)
        emit(LogLine(STAGE, f"attaching the supply chain: {e.message}", "error"))
        return replace(pushed, destinations=failed)
    for kind, path in made.files.items():
        emit(LogLine(STAGE, f"{planned.module}: {kind} written to {path}", "info"))

    def one(result: Published) -> Published:
        attached: list[referrers.Attached] = []
        error = publish.error_of(lambda: attached.extend(referrers.attach(clients[result.destination], result.destination.repository, subject, artefacts)), result.destination)
        if error is not None:
            emit(LogLine(STAGE, f"{result.destination.name}: attaching the supply chain: {error}", "error"))
            return replace(result, status="failed", error=f"attaching the supply chain: {error}")
        emit(Progress(STAGE, f"{result.destination.name}: attached {', '.join(a.kind for a in attached)}", {"destination": result.destination.name, "key": result.destination.name, "state": "attached"}))
        return replace(result, attached=tuple(attached))

    done = dict(zip(map(id, ok), parallel.run_all(one, ok, min(settings.push_jobs or len(ok), publish.MAX_JOBS)), strict=True))
    return replace(pushed, destinations=tuple(done.get(id(r), r) for r in pushed.destinations), attestations=made.files, digests=made.digests, components=made.components, graph=made.graph)


def _carried(ok: list[Published], clients: dict[publish.Destination, RegistryClient], digest: str, keys: Keys, emit: Emit) -> tuple[Artefact, ...]:
    """An unchanged image's artefacts, read from the first destination that holds any; a
    new signature of it where the run signs."""
    found: tuple[Artefact, ...] = ()
    for result in ok:
        found = referrers.read(clients[result.destination], result.destination.repository, digest, ("attestation", "sbom"))
        if found:
            emit(LogLine(STAGE, f"the image was not built again: its {' and '.join(a.kind for a in found)} come from {result.destination.name}", "info"))
            break
    else:
        emit(LogLine(STAGE, "the image was not built again, and no destination holds an SBOM or provenance for it (--force builds it, and makes them)", "warning"))
    if keys.signer is not None:
        found = (bundles.signature(ok[0].destination.name, digest, keys.signer), *found)
    return found


def _base(planned: PlannedImage) -> tuple[str, str | None] | None:
    """The image's base (the last FROM that names an image) and its manifest digest where known."""
    if not planned.bases:
        return None
    name, identity = list(planned.bases.items())[-1]
    return name, identity.removeprefix("digest:") if identity and identity.startswith("digest:") else None


def files_only(plan: Plan, images: tuple[BuiltImage, ...], settings: Settings, emit: Emit) -> tuple[PushedImage, ...]:
    """``--sbom`` / ``--provenance`` without ``--push``: the files alone, for the image's
    manifest digest where the builder knows it (the direct builder), else its id."""
    planned = {i.module: i for i in plan.images}
    made = []
    for built in images:
        if built.reused:
            continue
        image, target = built.image, planned[built.module]
        digest = image.assembled.digest if image.assembled else image.digest or image.id
        bundle = bundles.make(plan, target, built, settings, digest, tags.split_reference(target.references[0])[0], _base(target), None, os.environ)
        for kind, path in bundle.files.items():
            emit(LogLine(STAGE, f"{built.module}: {kind} written to {path}", "info"))
        made.append(PushedImage(built.module, (), bundle.files, bundle.digests, bundle.components, bundle.graph))
    return tuple(made)
