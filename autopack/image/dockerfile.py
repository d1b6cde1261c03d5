"""The Dockerfile, read before anything runs (dockerfile-parse): a missing one, or one without
FROM, fails the run before the long Maven build. Building it is the engine's
(``autopack.engine``)."""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from dockerfile_parse import DockerfileParser

from autopack.errors import ImageError


@dataclass(frozen=True)
class Dockerfile:
    path: Path
    context: Path
    stages: int
    args: tuple[str, ...]
    base_images: tuple[str, ...]
    last_stage: str = ""  # the last FROM's "AS name", if any
    stage_names: tuple[str, ...] = ()  # every "AS name"
    arg_defaults: Mapping[str, str] = field(default_factory=dict)  # ARG NAME=default


def inspect_dockerfile(context: Path, dockerfile: Path | None) -> Dockerfile:
    """Find and parse the Dockerfile before anything runs: a missing one is an image-stage
    error now, not after a long Maven build."""
    path = dockerfile if dockerfile else context / "Dockerfile"
    if not path.is_file():
        raise ImageError(f"no Dockerfile at {path}", "add one to the project, or point -f/--file at it")
    try:
        # fileobj, not path: dockerfile-parse takes a path whose name does not end in
        # "Dockerfile" (-f Containerfile) for a directory, and reads <path>/Dockerfile.
        parser = DockerfileParser(fileobj=io.BytesIO(path.read_bytes()), cache_content=True)
        structure = parser.structure
    except (OSError, ValueError) as e:
        raise ImageError(f"cannot read {path}: {e}", "check the file") from e
    args = tuple(i["value"].split("=")[0].strip() for i in structure if i["instruction"] == "ARG")
    # FROM [--platform=…] image [AS name]: the flags are not the image
    from_words = [[w for w in i["value"].split() if not w.startswith("--")] for i in structure if i["instruction"] == "FROM"]
    froms = tuple(words[0] for words in from_words if words)
    if not froms:
        raise ImageError(f"{path} has no FROM instruction", "start the Dockerfile with FROM <base image>")
    names = tuple(words[-1] for words in from_words if len(words) >= 3 and words[-2].lower() == "as")
    last = from_words[-1]
    last_stage = last[-1] if len(last) >= 3 and last[-2].lower() == "as" else ""
    defaults = {k.strip(): v.strip().strip('"') for k, sep, v in (i["value"].partition("=") for i in structure if i["instruction"] == "ARG") if sep}
    return Dockerfile(path, context, len(froms), args, froms, last_stage, names, defaults)
