"""Provenance: an in-toto Statement whose predicate is SLSA provenance v1 — the image's
digest as the subject; the source (URL without credentials, revision), the base image and
the artifact as resolved dependencies; the parameters that changed the output; autopack and
the engine as the builder; the CI job as the invocation; start and end times.

The predicate follows https://slsa.dev/spec/v1.0/provenance: ``cosign verify-attestation
--type slsaprovenance1`` checks its required fields (``buildDefinition.buildType``,
``externalParameters``, ``runDetails.builder.id``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from autopack import secrets

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://slsa.dev/provenance/v1"
PAYLOAD_TYPE = "application/vnd.in-toto+json"
BUILD_TYPE = "https://autopack.dev/provenance/maven-image/v1"  # what externalParameters hold: the fields of ``Build``
LOCAL_BUILDER = "https://autopack.dev/builder/local"  # a run outside CI: a person's machine, not named


@dataclass(frozen=True)
class Build:
    """What the provenance says of one image's build."""

    image: str  # registry/repository the statement names as its subject
    digest: str  # sha256:… of the image's manifest (an index for several platforms)
    source_kind: str  # git, svn, local
    source_url: str
    revision: str | None
    ref: str | None
    module: str
    engine: str  # "direct (no Docker engine)", "buildkit (Docker engine 20.10.24)"
    version: str  # autopack's
    started: datetime
    finished: datetime
    parameters: Mapping[str, Any] = field(default_factory=dict)  # what changed the output: build args, target, platforms, Maven goals…
    inputs: str | None = None  # autopack's inputs digest of the image
    base: tuple[str, str | None] | None = None  # FROM reference, and its digest or id where known
    artifact: tuple[str, str] | None = None  # the jar's file name and sha256 hex
    job_url: str | None = None
    builder_url: str | None = None
    byproducts: Sequence[tuple[str, str, str]] = ()  # (name, media type, sha256:…) of what was made beside the image: the SBOM


def statement(build: Build) -> bytes:
    """The Statement's JSON bytes (sorted keys, compact): what a DSSE envelope carries."""
    resolved: list[dict[str, Any]] = []
    vcs = build.source_kind if build.source_kind in ("git", "svn") else "git" if build.revision else None  # a local directory's revision is its git working copy's
    if build.revision and vcs:
        url = secrets.strip_url_credentials(build.source_url)
        uri = url if url.startswith(f"{vcs}+") else f"{vcs}+{url}"
        if build.ref and vcs == "git":  # an svn URL's path is its branch already, and "@" is svn's peg revision
            uri += f"@{build.ref}"
        resolved.append({"uri": uri, "digest": {"gitCommit" if vcs == "git" else "svnRevision": build.revision}})
    if build.base is not None:
        name, identity = build.base
        entry: dict[str, Any] = {"uri": f"pkg:docker/{name}", "name": name}
        if identity and ":" in identity:
            entry["digest"] = {identity.partition(":")[0]: identity.partition(":")[2]}
        resolved.append(entry)
    if build.artifact is not None:
        resolved.append({"name": build.artifact[0], "digest": {"sha256": build.artifact[1]}})
    metadata: dict[str, Any] = {"startedOn": _time(build.started), "finishedOn": _time(build.finished)}
    if build.job_url:
        metadata["invocationId"] = build.job_url
    predicate = {
        "buildDefinition": {
            "buildType": BUILD_TYPE,
            "externalParameters": {
                "source": {"kind": build.source_kind, "url": secrets.strip_url_credentials(build.source_url), "revision": build.revision, "ref": build.ref},
                "module": build.module,
                **build.parameters,
            },
            "internalParameters": {"engine": build.engine, **({"inputsDigest": build.inputs} if build.inputs else {})},
            "resolvedDependencies": resolved,
        },
        "runDetails": {
            "builder": {"id": build.builder_url or LOCAL_BUILDER, "version": {"autopack": build.version}},
            "metadata": metadata,
            "byproducts": [{"name": name, "mediaType": media_type, "digest": {d.partition(":")[0]: d.partition(":")[2]}} for name, media_type, d in build.byproducts],
        },
    }
    # Whatever a parameter held of a known secret (a build arg's value, a URL's password) is
    # not written: the statement goes to every registry, readable by whoever may pull.
    return secrets.redact(wrap(build.image, build.digest, PREDICATE_TYPE, predicate).decode()).encode()


def wrap(image: str, digest: str, predicate_type: str, predicate: Any) -> bytes:
    """An in-toto Statement of ``predicate`` about the image ``digest`` (sorted keys, compact)."""
    algorithm, _, hex_digest = digest.partition(":")
    document = {"_type": STATEMENT_TYPE, "subject": [{"name": image, "digest": {algorithm: hex_digest}}], "predicateType": predicate_type, "predicate": predicate}
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


def _time(moment: datetime) -> str:
    aware = moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
    return aware.astimezone(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")
