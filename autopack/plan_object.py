"""The plan as a document: what ``autopack plan`` (and ``build --dry-run``) prints, as JSON
(``--json``, ``--result-file``; its schema: ``autopack schema --plan``) and as the summary's
rows — drawn from the same frozen ``Plan`` that ``build`` then executes, so that the two
cannot disagree. Credentials appear only as their source, never as a value."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from autopack import inputs
from autopack import result as result_module

if TYPE_CHECKING:
    from autopack.plan import Plan, PlannedImage
    from autopack.result import Result

SCHEMA_VERSION = 1
KIND = "autopack-plan"


def to_dict(result: Result, exit_code: int, error: dict[str, str] | None = None) -> dict[str, Any]:
    """The plan object of a run that stopped after planning (or failed before the end of it)."""
    plan, checkout = result.plan, result.checkout
    project = result.project or (plan.project if plan else None)
    return {
        "schemaVersion": SCHEMA_VERSION,
        "kind": KIND,
        "status": "ok" if exit_code == 0 else "failed",
        "exitCode": exit_code,
        "error": error,
        "source": None if checkout is None else result_module.source_of(checkout),
        "project": None if project is None else {"groupId": project.group_id, "artifactId": project.artifact_id, "version": project.version, "packaging": project.packaging},
        "engine": plan.engine if plan else None,
        "platforms": list(plan.platforms) if plan else [],
        "maven": None if plan is None else {"command": list(plan.maven_command), "projects": list(plan.maven_projects), "runs": bool(plan.to_build)},
        "images": [_image(plan, i) for i in plan.images] if plan else [],
        "supplyChain": None if plan is None else {"sbom": plan.supply.sbom, "sbomSource": plan.supply.sbom_source, "provenance": plan.supply.provenance, "signer": plan.supply.signer},
        "stages": [{"name": s.name, "status": s.status, "seconds": round(s.seconds, 3)} for s in result.stages],
    }


def _image(plan: Plan, image: PlannedImage) -> dict[str, Any]:
    found = image.unchanged
    root = plan.project.directory if plan.project else None
    dockerfile = image.dockerfile
    return {
        "module": image.module,
        "references": list(image.references),
        "tags": list(image.tags),
        "dockerfile": _relative(dockerfile.path, root) if dockerfile else None,
        "context": _relative(dockerfile.context, root) if dockerfile else None,
        "labels": dict(image.labels),
        "buildArgs": dict(image.build_args),
        "inputs": image.inputs,
        "skip": None if found is None else {"since": found.revision, "imageId": found.image.id, "store": found.image.store, "heldBy": {d.name: digest for d, digest in found.held.items()}},
        "destinations": [
            {
                "destination": d.destination.name,
                "tags": list(image.destination_tags(bool(image.inputs))),
                "credentialSource": d.credential,
                "pushChecked": d.preflight_attempts > 0,
            }
            for d in image.destinations
        ],
    }


def _relative(path: Path, root: Path | None) -> str:
    """A path in the checkout as the project knows it (the checkout itself is gone by now)."""
    return path.relative_to(root).as_posix() if root is not None and path.is_relative_to(root) else str(path)


def rows(data: dict[str, Any]) -> list[tuple[str, str]]:
    """The plan, as the summary's key/value rows."""
    ok = data["status"] == "ok"
    out: list[tuple[str, str]] = [("result", "planned: nothing was built or pushed" if ok else f"failed (exit {data['exitCode']})")]
    if source := data.get("source"):
        revision = f" @ {source['shortRevision']}{'-dirty' if source['dirty'] else ''}" if source.get("shortRevision") else ""
        out.append(("source", f"{source['kind']} {source['url']}{revision}" + (f" ({source['branch']})" if source.get("branch") else "")))
    if project := data.get("project"):
        out.append(("project", f"{project['groupId']}:{project['artifactId']}:{project['version']}"))
    if data.get("engine"):
        out.append(("engine", f"{data['engine']} · {', '.join(data['platforms'])}"))
    for image in data.get("images", []):
        out.append(("image", f"{image['module']}: {', '.join(image['references'])}"))
        out.append(("inputs", f"{image['module']}: {image['inputs']}"))
        skip = image["skip"]
        out.append(("would", f"{image['module']}: skip — unchanged since {skip['since'] or 'an earlier build'}" if skip else f"{image['module']}: build"))
        for d in image["destinations"]:
            checked = "push granted" if d["pushChecked"] else "push not checked (--no-preflight)"
            out.append(("push", f"{d['destination']}: {', '.join(t for t in d['tags'] if not t.startswith(inputs.TAG_PREFIX))} (credential: {d['credentialSource'] or 'none, anonymous'}; {checked})"))
    if (maven := data.get("maven")) is not None:
        out.append(("maven", " ".join(maven["command"]) if maven["runs"] else "not run: every image is unchanged"))
    if supply := data.get("supplyChain"):
        kinds = [k for k in ("sbom", "provenance") if supply[k]] + ([f"signature ({supply['signer']})"] if supply.get("signer") else [])
        if kinds:
            out.append(("attach", ", ".join(kinds)))
    if ok:
        out.append(("next", "autopack build, with the same options, does this"))
    return out
