"""The machine-readable result of a run: what CI steps parse (``--json``,
``--result-file``), assembled from the stages' frozen values, so a failed run still reports
how far it got."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from autopack import inputs, secrets

if TYPE_CHECKING:  # annotations only: the result module stays light (imported before settings are read)
    from autopack.engine.base import Image
    from autopack.maven.pom import Project
    from autopack.maven.runner import MavenBuild
    from autopack.plan import Plan, PlannedImage
    from autopack.push.publish import Published
    from autopack.source.base import Checkout

SCHEMA_VERSION = 1


@dataclass(frozen=True)
class StageTime:
    name: str
    status: str = "running"
    seconds: float = 0.0


@dataclass(frozen=True)
class BuiltImage:
    """The image stage's value for one planned image."""

    module: str
    image: Image
    artifact: Path | None = None
    reused: bool = False  # its inputs were unchanged: the existing image, not built again


@dataclass(frozen=True)
class PushedImage:
    """The push stage's value for one image: what became of it at each destination."""

    module: str
    destinations: tuple[Published, ...] = ()
    attestations: Mapping[str, Path] = field(default_factory=dict)  # sbom / provenance → the file written
    digests: Mapping[str, str] = field(default_factory=dict)  # sbom / provenance → sha256 of that file
    components: int | None = None  # the SBOM's components
    graph: str | None = None  # what read the SBOM's graph


@dataclass(frozen=True)
class Result:
    """The run, assembled from the stages' own frozen values — as far as it got."""

    checkout: Checkout | None = None
    project: Project | None = None  # known as soon as the pom is read, before the plan is whole
    plan: Plan | None = None
    maven: MavenBuild | None = None
    images: tuple[BuiltImage, ...] = ()
    pushed: tuple[PushedImage, ...] = ()
    stages: tuple[StageTime, ...] = ()
    logs: Mapping[str, str] = field(default_factory=dict)

    def to_dict(self, exit_code: int, error: dict[str, str] | None = None) -> dict[str, Any]:
        c = self.checkout
        p = self.project or (self.plan.project if self.plan else None)
        artifacts = self.maven.artifacts if self.maven else {}
        data: dict[str, Any] = {
            "schemaVersion": SCHEMA_VERSION,
            "status": "ok" if exit_code == 0 else "failed",
            "exitCode": exit_code,
            "error": error,
            "source": None if c is None else source_of(c),
            "project": None if p is None else {"groupId": p.group_id, "artifactId": p.artifact_id, "version": p.version, "packaging": p.packaging},
            "artifacts": [{"module": module, "path": str(path), "size": _size(path)} for module, path in artifacts.items()],
            "tests": dict(self.maven.tests) if self.maven else None,
            "images": [_image(b) for b in self.images],
            "plannedReferences": [r for i in self.plan.images for r in i.references] if self.plan else [],
            "plannedImages": [{**_planned(i), "platforms": list(self.plan.platforms)} for i in self.plan.images] if self.plan else [],
            "engine": self.plan.engine if self.plan else None,
            "destinations": [_destination(d, pushed.module) for pushed in self.pushed for d in pushed.destinations],
            "supplyChain": _supply_chain(self.plan, self.pushed) if self.plan else None,
            "stages": [{"name": s.name, "status": s.status, "seconds": round(s.seconds, 3)} for s in self.stages],
            "logs": dict(self.logs),
        }
        return data


class Journal:
    """Where the pipeline, and only the pipeline, keeps the result so far: each stage's value
    is recorded as the stage returns, so that a failed or interrupted run still reports how
    far it got. The values are frozen; the journal only ever swaps in a new ``Result``."""

    def __init__(self) -> None:
        self.result = Result()

    def record(self, **values: Any) -> None:
        self.result = replace(self.result, **values)

    def stage(self, entry: StageTime) -> None:
        """A stage's entry, replacing its earlier one (running → ok/failed)."""
        kept = tuple(s for s in self.result.stages if s.name != entry.name)
        self.result = replace(self.result, stages=(*kept, entry))


def source_of(c: Checkout) -> dict[str, Any]:
    """The source as the result object (and the plan object) gives it: never a credential."""
    return {
        "kind": c.kind,
        "url": secrets.strip_url_credentials(c.url),
        "ref": c.ref,
        "revision": c.revision,
        "shortRevision": c.short_revision,
        "branch": c.branch,
        "author": c.author,
        "committedAt": c.committed_at,
        "repositoryPath": c.repository_path,
        "lastChangedRevision": c.last_changed_revision,
        "cache": c.cache,
        "dirty": c.dirty,
    }


def _image(built: BuiltImage) -> dict[str, Any]:
    image = built.image
    return {
        "module": built.module,
        "id": image.id,
        "tags": list(image.references),
        "labels": dict(image.labels),
        "size": image.size,
        "artifact": str(built.artifact) if built.artifact else None,
        "inputs": image.labels.get(inputs.LABEL),
        "reused": built.reused,
        "digest": image.assembled.digest if image.assembled else image.digest or None,
        "platforms": [{"platform": platform, "digest": digest} for platform, digest in image.assembled.platforms] if image.assembled else [],
    }


def _planned(planned: PlannedImage) -> dict[str, Any]:
    found = planned.unchanged
    return {
        "module": planned.module,
        "references": list(planned.references),
        "inputs": planned.inputs,
        "unchanged": None if found is None else {"since": found.revision, "imageId": found.image.id, "store": found.image.store, "heldBy": {d.name: digest for d, digest in found.held.items()}},
    }


def _destination(published: Published, module: str) -> dict[str, Any]:
    d = published.destination
    return {
        "module": module,
        "destination": d.name,
        "registry": d.registry,
        "repository": d.repository,
        "status": published.status,
        "digest": published.digest,
        "tags": [t for t in published.tags if not t.startswith(inputs.TAG_PREFIX)],
        "unchangedTags": [t for t in published.skipped if not t.startswith(inputs.TAG_PREFIX)],
        "inputsTag": next((t for t in (*published.tags, *published.skipped) if t.startswith(inputs.TAG_PREFIX)), None),
        "attempts": published.attempts,
        "preflightAttempts": published.preflight_attempts,
        "credentialSource": published.credential,
        "error": published.error,
        "seconds": round(published.seconds, 3),
        "attached": [{"kind": a.kind, "tag": a.tag, "digest": a.digest, "layers": a.layers, "referrer": a.referrer} for a in published.attached],
    }


def _supply_chain(plan: Plan, pushed: tuple[PushedImage, ...]) -> dict[str, Any]:
    supply = plan.supply
    return {
        "sbom": supply.sbom,
        "sbomSource": supply.sbom_source,
        "provenance": supply.provenance,
        "signer": supply.signer,
        "images": [
            {
                "module": p.module,
                "files": {kind: str(path) for kind, path in p.attestations.items()},
                "sha256": dict(p.digests),
                "components": p.components,
                "graph": p.graph,
            }
            for p in pushed
        ],
    }


def _size(path: Path) -> int | None:
    try:
        return path.stat().st_size
    except OSError:
        return None


def dumps(data: dict[str, Any]) -> str:
    """JSON text with every known secret removed: the one way a result leaves the process."""
    return secrets.redact(json.dumps(data, indent=2, sort_keys=False)) + "\n"
