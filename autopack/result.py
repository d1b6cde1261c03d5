"""The machine-readable result of a run: what CI steps parse (``--json``,
``--result-file``). Filled as stages finish, so a failed run still reports how far it got."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from autopack import secrets
from autopack.engine import Image
from autopack.maven.pom import Project
from autopack.maven.runner import MavenBuild
from autopack.push.publish import Published
from autopack.source.base import Checkout

SCHEMA_VERSION = 1


@dataclass
class StageRecord:
    name: str
    status: str = "running"
    seconds: float = 0.0


@dataclass
class Target:
    """One image of the run: the module it packages, and what became of it."""

    module: str
    project: Project | None = None
    references: list[str] = field(default_factory=list)
    artifact: Path | None = None
    image: Image | None = None
    destinations: list[Published] = field(default_factory=list)


@dataclass
class Record:
    """Mutable on purpose: the pipeline adds to it stage by stage; ``to_dict`` freezes it."""

    checkout: Checkout | None = None
    project: Project | None = None
    maven: MavenBuild | None = None
    targets: list[Target] = field(default_factory=list)
    stages: list[StageRecord] = field(default_factory=list)
    logs: dict[str, str] = field(default_factory=dict)

    def target(self) -> Target:
        """The one target of a single-image run (``autopack push``, a one-module build)."""
        if not self.targets:
            self.targets.append(Target(module=self.project.artifact_id if self.project else ""))
        return self.targets[0]

    def to_dict(self, exit_code: int, error: dict[str, str] | None = None) -> dict[str, Any]:
        c, p = self.checkout, self.project
        data: dict[str, Any] = {
            "schemaVersion": SCHEMA_VERSION,
            "status": "ok" if exit_code == 0 else "failed",
            "exitCode": exit_code,
            "error": error,
            "source": None
            if c is None
            else {
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
            },
            "project": None if p is None else {"groupId": p.group_id, "artifactId": p.artifact_id, "version": p.version, "packaging": p.packaging},
            "artifacts": [{"module": t.module, "path": str(t.artifact), "size": _size(t.artifact)} for t in self.targets if t.artifact],
            "tests": dict(self.maven.tests) if self.maven else None,
            "images": [_image(t) for t in self.targets if t.image],
            "plannedReferences": [r for t in self.targets for r in t.references],
            "destinations": [_destination(d, t.module) for t in self.targets for d in t.destinations],
            "stages": [{"name": s.name, "status": s.status, "seconds": round(s.seconds, 3)} for s in self.stages],
            "logs": dict(self.logs),
        }
        return data


def _image(target: Target) -> dict[str, Any]:
    assert target.image is not None
    image = target.image
    return {
        "module": target.module,
        "id": image.id,
        "tags": list(image.references),
        "labels": dict(image.labels),
        "size": image.size,
        "artifact": str(target.artifact) if target.artifact else None,
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
        "tags": list(published.tags),
        "unchangedTags": list(published.skipped),
        "attempts": published.attempts,
        "preflightAttempts": published.preflight_attempts,
        "credentialSource": published.credential,
        "error": published.error,
        "seconds": round(published.seconds, 3),
    }


def _size(path: Path) -> int | None:
    try:
        return path.stat().st_size
    except OSError:
        return None


def dumps(data: dict[str, Any]) -> str:
    """JSON text with every known secret removed: the one way a result leaves the process."""
    return secrets.redact(json.dumps(data, indent=2, sort_keys=False)) + "\n"
