"""The commented ``autopack.toml`` ``autopack init`` writes at the project root: what it
detected (image names, tags, destinations), each key one that ``settings.py`` reads."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence

from autopack.scaffold.detect import Service


def render(services: Sequence[Service], *, reactor: bool, image: str | None, versioned: bool, environ: Mapping[str, str]) -> str:
    """``reactor``: the project has modules, so ``image`` is a prefix and each service is
    named in ``images``. ``versioned``: the project is in a git or svn working copy, so the
    revision is known and can be a tag."""
    lines = [
        "# autopack settings, written by `autopack init` from the pom; every key is an option of",
        "# `autopack build` (options and AUTOPACK_* variables win over this file); the README's",
        "# Configuration lists the rest.",
        "",
    ]
    lines += _names(services, reactor, image)
    lines += ["", *_tags(versioned), "", *_destinations(services, reactor, environ)]
    lines += [
        "",
        "# The base image of every Dockerfile here (each names its default in ARG BASE_IMAGE):",
        '# build_args = { BASE_IMAGE = "<image>" }',
    ]
    return "\n".join(lines) + "\n"


def _names(services: Sequence[Service], reactor: bool, image: str | None) -> list[str]:
    if not reactor:
        name = image or _repository(services[0].artifact_id)
        return ["# The image's name: a registry may come first (registry.example.com/team/app).", f"image = {_string(name)}"]
    lines = ["# The images, one per service module: image is a prefix (a registry and a path) for all of them,"]
    lines += ["# and each is named by its artifactId unless images.<artifactId> says otherwise."]
    lines.append(f"image = {_string(image)}" if image else '# image = "registry.example.com/team"')
    lines += [f"images.{_key(s.artifact_id)} = {_string(_repository(s.artifact_id))}" for s in services]
    return lines


def _tags(versioned: bool) -> list[str]:
    lines = ["# The tags: {version} {revision} {branch} {build} {timestamp} {artifactId} {groupId}."]
    lines += ["# In GitLab CI and Jenkins, leaving tags out gives the CI's own defaults (README: In CI)."]
    if versioned:
        return [*lines, 'tags = ["{version}", "{version}-{revision}"]']
    lines += ["# {revision} needs a git or svn working copy (this directory is none yet):"]
    return [*lines, 'tags = ["{version}"]', '# tags = ["{version}", "{version}-{revision}"]']


def _destinations(services: Sequence[Service], reactor: bool, environ: Mapping[str, str]) -> list[str]:
    """Commented out: with destinations every `autopack build` pushes, which a first run on a
    workstation should not. GitLab's own registry is filled in when init runs in its CI."""
    gitlab = environ.get("CI_REGISTRY_IMAGE", "").strip()
    lines = ["# Where `autopack build` pushes every tag (one entry per registry); uncomment to push on every build."]
    if reactor and len(services) > 1:
        lines.append("# Each is a prefix here: <destination>/<image name>.")
    if gitlab:
        lines.append("# $CI_REGISTRY_IMAGE of this GitLab project (in its CI, `autopack build --push` alone pushes there):")
        return [*lines, f"# destinations = [{_string(gitlab)}]"]
    lines.append("# (In GitLab CI, `autopack build --push` alone pushes to $CI_REGISTRY_IMAGE.)")
    return [*lines, '# destinations = ["registry.example.com/team/app", "registry.example.org/team/app"]']


def _repository(artifact_id: str) -> str:
    """An artifactId as plan.py makes it an image name."""
    return re.sub(r"[^a-z0-9._-]+", "-", artifact_id.lower()).strip("._-") or "app"


def _string(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)  # a JSON string is a TOML basic string


def _key(name: str) -> str:
    return name if re.fullmatch(r"[A-Za-z0-9_-]+", name) else _string(name)
