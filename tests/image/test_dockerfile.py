"""Reading the Dockerfile before anything runs (autopack/image/dockerfile.py)."""

from __future__ import annotations

from pathlib import Path

from autopack.image.dockerfile import inspect_dockerfile


def test_from_flags_are_not_base_images(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text(
        "ARG BASE=autopack/jre:17\nFROM --platform=linux/amd64 maven:3 AS build\nFROM --platform=$TARGETPLATFORM ${BASE} AS run\nCOPY --from=build /x /x\n"
    )
    found = inspect_dockerfile(tmp_path, None)
    assert found.base_images == ("maven:3", "${BASE}")
    assert found.stage_names == ("build", "run") and found.last_stage == "run" and found.stages == 2


def test_a_dockerfile_of_any_name_is_read(tmp_path: Path) -> None:
    (tmp_path / "Containerfile").write_text("FROM autopack/jre:17 AS run\n")
    assert inspect_dockerfile(tmp_path, tmp_path / "Containerfile").base_images == ("autopack/jre:17",)
