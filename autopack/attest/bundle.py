"""One image's supply chain, made once its digest is known: the SBOM and the provenance
statement written as files (beside the result file, else in the run's log directory), and
the artefacts every destination receives (``attest.cosign``): signed by digest when the run
has a signer, never by tag.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from autopack import __version__, ci, files, inputs
from autopack.attest import cosign, provenance, sbom, sign
from autopack.attest.cosign import Artefact

if TYPE_CHECKING:
    from autopack.attest.sign import Signer
    from autopack.plan import Plan, PlannedImage
    from autopack.result import BuiltImage
    from autopack.settings import Settings

SBOM_PREDICATE = "https://cyclonedx.org/bom"  # cosign attest --type cyclonedx


@dataclass(frozen=True)
class Bundle:
    """What one image carries: the artefacts to attach, and the files written."""

    artefacts: tuple[Artefact, ...] = ()
    files: Mapping[str, Path] = field(default_factory=dict)  # sbom / provenance → where it was written
    digests: Mapping[str, str] = field(default_factory=dict)  # sbom / provenance → sha256 of the file's bytes
    components: int | None = None  # the SBOM's component count
    graph: str | None = None  # what read the SBOM's graph: the CycloneDX plugin, or dependency:list


def make(plan: Plan, planned: PlannedImage, built: BuiltImage, settings: Settings, digest: str, image_name: str, base: tuple[str, str | None] | None, signer: Signer | None, environ: Mapping[str, str]) -> Bundle:
    """The bundle of ``built``, whose manifest is ``digest`` at ``image_name`` (its first
    destination: the name the signature and statement give it)."""
    supply, checkout, project = plan.supply, plan.checkout, planned.project
    written: dict[str, Path] = {}
    digests: dict[str, str] = {}
    artefacts: list[Artefact] = []
    envelopes: list[tuple[str, bytes]] = []
    components = None
    graph = None
    created = datetime.fromtimestamp(plan.epoch, timezone.utc) if plan.epoch is not None else plan.started_at
    document = None
    if supply.sbom and project is not None and built.artifact is not None:
        graph = sbom.read_graph(project.build_directory, since=plan.started_at.timestamp() - 1)  # started_at is in whole seconds
        document = sbom.document(
            graph,
            group_id=project.group_id,
            artifact_id=project.artifact_id,
            version=project.version,
            artifact=built.artifact,
            image_name=image_name,
            image_digest=digest,
            base=base,
            created=created,
            tool_version=__version__,
        )
        components = len(graph.components)
        written["sbom"] = _write(_place(settings, plan, planned.module, "cdx.json"), document)
        digests["sbom"] = _sha256(document)
        artefacts.append(cosign.sbom(document))
        if signer is not None:  # the SBOM signed too: cosign verify-attestation --type cyclonedx
            envelopes.append((SBOM_PREDICATE, sign.dsse_envelope(provenance.PAYLOAD_TYPE, provenance.wrap(image_name, digest, SBOM_PREDICATE, json.loads(document)), signer)))
    if supply.provenance:
        context = ci.detect(environ)
        statement = provenance.statement(
            provenance.Build(
                image=image_name,
                digest=digest,
                source_kind=checkout.kind if checkout else "local",
                source_url=checkout.url if checkout else "",
                revision=checkout.revision if checkout else None,
                ref=(checkout.ref or checkout.branch) if checkout else None,
                module=planned.module,
                engine=plan.engine,
                version=__version__,
                started=plan.started_at,
                finished=datetime.now(timezone.utc).replace(microsecond=0),
                parameters=_parameters(plan, planned, settings),
                inputs=planned.inputs,
                base=base,
                artifact=(built.artifact.name, inputs.file_digest(built.artifact).removeprefix("sha256:")) if built.artifact is not None and built.artifact.is_file() else None,
                job_url=context.job_url,
                builder_url=context.builder_url,
                byproducts=[("sbom", cosign.SBOM_LAYER, f"sha256:{digests['sbom']}")] if "sbom" in digests else [],
            )
        )
        written["provenance"] = _write(_place(settings, plan, planned.module, "provenance.json"), statement)
        digests["provenance"] = _sha256(statement)
        envelopes.insert(0, (provenance.PREDICATE_TYPE, sign.dsse_envelope(provenance.PAYLOAD_TYPE, statement, signer)))
    if envelopes:
        artefacts.append(cosign.attestations(envelopes, _verify(signer)))
    if signer is not None:
        artefacts.insert(0, signature(image_name, digest, signer))
    return Bundle(tuple(artefacts), written, digests, components, graph.tool if graph is not None else None)


def signature(image_name: str, digest: str, signer: Signer) -> Artefact:
    """cosign's signature of the image by digest (also of an image not built again: its SBOM
    and provenance are carried from where it was pushed with them)."""
    payload = sign.simple_signing_payload(image_name, digest)
    return cosign.signature(payload, base64.b64encode(signer.sign(payload)).decode(), _verify(signer))


def _verify(signer: Signer | None) -> Callable[[bytes, bytes], bool] | None:
    """The signer's own check, where it has one (a key file; an external signer's key is not known here)."""
    return getattr(signer, "verifies", None)


def _parameters(plan: Plan, planned: PlannedImage, settings: Settings) -> dict[str, Any]:
    """The parameters that changed what was built (the inputs digest covers the same)."""
    dockerfile = planned.dockerfile
    found: dict[str, Any] = {
        "dockerfile": dockerfile.path.name if dockerfile else None,
        "buildArgs": dict(planned.build_args),
        "target": settings.target,
        "platforms": list(plan.platforms),
        "maven": {"goals": list(settings.goals), "profiles": list(settings.profiles), "defines": dict(settings.defines), "skipTests": settings.skip_tests, "offline": settings.offline},
        "tags": list(planned.tags),
        "dirty": bool(plan.checkout and plan.checkout.dirty) or None,  # built from changes the revision does not have
    }
    return {k: v for k, v in found.items() if v not in (None, [], {})}


def _place(settings: Settings, plan: Plan, module: str, suffix: str) -> Path:
    """``<result file's stem>.<module>.<suffix>`` beside the result file; else in the log directory."""
    if settings.result_file is not None:
        result = Path(settings.result_file)
        return result.with_name(f"{result.name.removesuffix('.json')}.{module}.{suffix}")
    assert plan.log_dir is not None
    return plan.log_dir / f"{module}.{suffix}"


def _write(path: Path, body: bytes) -> Path:
    files.write_atomically(path, body.decode())
    return path


def _sha256(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()
