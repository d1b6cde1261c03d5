"""The direct builder: a RUN-less Dockerfile made into an OCI image with no engine at all.

Each ``COPY``/``ADD`` (and ``WORKDIR``) is a layer written by autopack itself
(``image/layers.py``: sorted entries, one fixed time on every file, fixed owners and modes,
gzip without a clock), every other instruction a change of the config
(``image/steps.py``), the base image's manifest and config are read from its registry — or
from the local Docker engine — and the config's ``created`` is the commit's time: the same
commit gives the same digest on any machine, at any time. Nothing is loaded anywhere: the
push stage sends each destination the blobs it lacks (a base layer it can mount is
mounted), or ``--load`` puts the image into the local Docker engine.

With several ``--platform`` values the same steps run on each platform's base image (from
the base's image index); the application layers come out identical, so the platforms'
manifests share them, under one image index.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from autopack.engine.base import STAGE, BuildRequest, Built
from autopack.errors import ImageError, UsageError
from autopack.events import Emit, LogLine, Progress
from autopack.image import hygiene, layers, oci, steps
from autopack.image.dockerfile import Dockerfile

if TYPE_CHECKING:
    from autopack.engine import Engine

NAME = "direct"
PUSHES = False
# Every file's time in a layer, as Jib has it: the commit's time would make every layer new
# with every commit — the dependencies pushed again for a one-line change — and 0 is
# "unknown" to Java's File.lastModified. The config's created is the commit's time.
FILE_TIME = 1


def unavailable(engine: Engine) -> str | None:
    return None


def why_not(dockerfile: Dockerfile, build_args: Mapping[str, str], target: str | None, platform: oci.Platform, bases: oci.Bases) -> str | None:
    """Why the direct builder cannot build this Dockerfile (the instruction and its line);
    None when it can. A base image it cannot read raises ``ImageError``."""
    try:
        steps.read(dockerfile.path, build_args, target, str(platform), lambda name, p: bases.get(name, _platform(p, platform)).settings)
    except steps.Unsupported as e:
        return str(e)
    except ValueError as e:  # steps.Invalid, or no such --target: an engine says it its own way
        return f"{e} (as the direct builder reads it)"
    return None


def build(engine: Engine, request: BuildRequest, emit: Emit) -> Built:
    bases = engine.bases
    platforms = request.platforms or (oci.host_platform(),)
    blobs = oci.blob_store()
    epoch = request.epoch if request.epoch is not None else int(time.time())
    ignore = _ignore(request.dockerfile)
    manifests = []
    for platform in platforms:
        try:
            stages = steps.read(request.dockerfile.path, request.build_args, request.target, str(platform), lambda name, p, platform=platform: bases.get(name, _platform(p, platform)).settings)  # type: ignore[misc]
        except steps.Unsupported as e:
            raise UsageError(f"the direct builder cannot build {request.dockerfile.path.name}: {e}", "use an engine (--engine auto or buildkit), or drop that instruction") from None
        except ValueError as e:  # steps.Invalid, or no such --target
            raise ImageError(f"{request.dockerfile.path.name}: {e}", "fix the Dockerfile (docker build refuses it too), or check --target") from None
        manifests.append(_assemble(stages, platform, request, bases, ignore, epoch, blobs, emit, len(platforms) > 1))
    image_format = request.image_format or "oci"
    assembled = oci.Assembled(tuple(manifests), oci.image_index(manifests, image_format) if len(manifests) > 1 else None)
    emit(LogLine(STAGE, f"assembled {assembled.digest} ({', '.join(f'{p} {d[:19]}' for p, d in assembled.platforms)})", "info"))
    return Built(assembled.image_id, assembled.digest, loaded=False, assembled=assembled)


class _Chain:
    """A stage as it is being built: its external base, its own layers and history."""

    def __init__(self, base: oci.Base | None, files: layers.Files, own: list[layers.Layer] | None = None, history: list[dict[str, Any]] | None = None) -> None:
        self.base, self.files = base, files
        self.own = own if own is not None else []
        self.history = history if history is not None else []


def _assemble(stages: Sequence[steps.Stage], platform: oci.Platform, request: BuildRequest, bases: oci.Bases, ignore: hygiene.Patterns | None, epoch: int, blobs: Path, emit: Emit, several: bool) -> oci.Manifest:
    created = datetime.fromtimestamp(epoch, timezone.utc).isoformat().replace("+00:00", "Z")
    chains: list[_Chain] = []
    total = sum(len(s.steps) for s in stages)
    done = 0
    for stage in stages:
        if stage.base_stage is not None:
            parent = chains[stage.base_stage]
            paths = [*_base_files(parent.base, bases, blobs), *(layer.path for layer in parent.own)]
            chain = _Chain(parent.base, layers.Files(lambda paths=paths: paths), list(parent.own), list(parent.history))  # type: ignore[misc]
        elif stage.base == "scratch":
            chain = _Chain(None, layers.Files())
        else:
            base = bases.get(stage.base, _platform(stage.platform, platform))
            chain = _Chain(base, layers.Files(lambda base=base: _base_files(base, bases, blobs)))  # type: ignore[misc]
        for step in stage.steps:
            done += 1
            where = f"{platform} " if several else ""
            emit(Progress(STAGE, f"Step {done}/{total} · {where}{step.text}", {"step": done, "steps": total, "instruction": step.text}))
            if isinstance(step, steps.Copy):
                source = chains[step.from_stage].files if step.from_stage is not None else None
                layer = layers.copy_layer(step, context=request.dockerfile.context, ignore=ignore, files=chain.files, source=source, epoch=FILE_TIME, blobs=blobs)
            elif isinstance(step, steps.Workdir):
                layer = layers.workdir_layer(step, files=chain.files, epoch=FILE_TIME, blobs=blobs)
            else:
                chain.history.append({"created": created, "created_by": step.text, "comment": "autopack", "empty_layer": True})
                continue
            oci.used(layer.path)  # an unchanged layer is the blob an earlier build wrote
            chain.files.add(layer)
            chain.own.append(layer)
            chain.history.append({"created": created, "created_by": step.text, "comment": "autopack"})
            emit(LogLine(STAGE, f"{step.text} → {layer.digest[:19]} ({layer.size} bytes)", "debug"))
        chains.append(chain)
    final, stage = chains[-1], stages[-1]
    base_config = final.base.config if final.base else {}
    if final.base is not None:  # the image is its base's platform, variant included (arm64 → v8)
        platform = oci.Platform(str(base_config.get("os") or platform.os), str(base_config.get("architecture") or platform.architecture), str(base_config.get("variant") or platform.variant))
    settings = dict(stage.config)
    settings["Labels"] = {**(settings.get("Labels") or {}), **request.labels}  # type: ignore[dict-item]
    config: dict[str, Any] = {"created": created, "architecture": platform.architecture, "os": platform.os}
    if platform.variant:
        config["variant"] = platform.variant
    config["config"] = settings
    config["rootfs"] = {"type": "layers", "diff_ids": [*((base_config.get("rootfs") or {}).get("diff_ids") or []), *(layer.diff_id for layer in final.own)]}
    config["history"] = [*(base_config.get("history") or []), *final.history]
    own = [oci.Blob(layer.digest, layer.size, oci.OCI_LAYER, layer.path) for layer in final.own]
    return oci.image_manifest(oci.canonical(config), [*(final.base.layers if final.base else ()), *own], request.image_format or "oci", platform, blobs)


def _base_files(base: oci.Base | None, bases: oci.Bases, blobs: Path) -> list[Path]:
    return bases.layer_files(base, blobs) if base is not None else []


def _platform(text: str | None, default: oci.Platform) -> oci.Platform:
    return oci.parse_platform(text) if text else default


def _ignore(dockerfile: Dockerfile) -> hygiene.Patterns | None:
    path = hygiene.ignore_file(dockerfile, "buildkit")
    if path is None:
        return None
    return hygiene.Patterns(hygiene.read_ignore_lines(path.read_text(encoding="utf-8", errors="replace").splitlines()))


def load(engine: Engine, assembled: oci.Assembled, references: Sequence[str], emit: Emit) -> None:
    """``--load``: the host platform's image into the local Docker engine (``docker load``),
    its base layers downloaded for it where the blob store lacks them."""
    if engine.client is None:
        raise UsageError("--load needs a Docker engine, and none answers", "start one, or drop --load")
    host = oci.host_platform()
    manifest = next((m for m in assembled.manifests if m.platform and m.platform.matches(host.as_json())), None)
    if manifest is None:
        raise UsageError(f"--load: none of the built platforms runs here ({host})", f"add {host} to --platform")
    blobs = oci.blob_store()
    files = [engine.bases.fetch(layer, blobs) for layer in manifest.layers]
    emit(LogLine(STAGE, f"loading {manifest.digest[:19]} ({manifest.platform}) into the Docker engine", "info"))
    from autopack.engine import engine_calls

    with engine_calls("loading the image"):
        for answer in engine.api.load_image(oci.docker_archive(manifest, references, files)):
            if isinstance(answer, dict) and answer.get("error"):
                raise ImageError(f"the engine refused the image: {answer['error']}", "look at the engine's log")


def platforms_of(text: Sequence[str]) -> tuple[oci.Platform, ...]:
    found = [oci.parse_platform(p) for item in text for p in item.split(",") if p.strip()]
    return tuple(dict.fromkeys(found))
