"""buildah's command line (a pure function) and how it finds the base images it pulls: the
real builds are in tests/e2e/test_buildah.py."""

from __future__ import annotations

from pathlib import Path

from autopack.image.dockerfile import Dockerfile
from autopack.engine import buildah
from autopack.engine.base import BuildRequest
from tests.engine.test_buildkit import request


def test_buildahs_command_carries_no_build_arg_value_and_verifies_tls_unless_loopback(tmp_path: Path) -> None:
    argv = buildah.command(request(tmp_path, network="host"), Path("/tmp/iid"), insecure=False)

    assert argv[:7] == ["buildah", "build", "--iidfile", "/tmp/iid", "-f", str((tmp_path / "Dockerfile").resolve()), "--layers"]
    assert ["--build-arg", "ARTIFACT", "--build-arg", "TOKEN"] == [a for i, a in enumerate(argv) if a == "--build-arg" or (i and argv[i - 1] == "--build-arg")]
    assert not any("v3ry-s3cret" in a for a in argv)
    assert "--tls-verify=false" not in argv and argv[-3:] == ["--network", "host", str(tmp_path)]
    assert "--tls-verify=false" in buildah.command(request(tmp_path), Path("/tmp/iid"), insecure=True)


def test_buildah_resolves_base_images_through_build_args_and_arg_defaults(tmp_path: Path) -> None:
    dockerfile = Dockerfile(tmp_path / "Dockerfile", tmp_path, 3, ("BASE", "JDK"), ("${BASE}", "$JDK", "build"), "", ("build",), {"BASE": "127.0.0.1:5000/jre:17", "JDK": "jdk:17"})

    resolved = buildah.base_images(BuildRequest(dockerfile, ("x:1",), build_args={"JDK": "127.0.0.1:5000/jdk:21"}))

    assert resolved == ["127.0.0.1:5000/jre:17", "127.0.0.1:5000/jdk:21"]  # "build" is a stage, not an image
