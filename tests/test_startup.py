"""Start-up stays light: ``--version``, ``--help`` and a command's ``--help`` load none of the
machinery a run needs (the docker SDK, requests, pysvn, the engine, Maven, the registry
client, rich's live view). Asserted on the import graph, not on a time."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY_PACKAGES = ("docker", "requests", "urllib3", "git", "pysvn", "paramiko", "tenacity", "defusedxml", "dockerfile_parse", "filelock", "platformdirs", "ssl", "http", "pydantic")
HEAVY_MODULES = ("rich.live", "autopack.source", "autopack.pipeline", "autopack.plan", "autopack.inputs", "autopack.unchanged", "autopack.engine", "autopack.maven.runner", "autopack.push.registry", "autopack.result")

PROBE = """
import json, sys
sys.argv = ["autopack", *json.loads(sys.argv[1])]
from autopack import launch
try:
    launch.main()
except SystemExit:
    pass
print("\\0" + json.dumps(sorted(sys.modules)))
"""


def loaded(*args: str) -> list[str]:
    done = subprocess.run([sys.executable, "-c", PROBE, json.dumps(args)], capture_output=True, text=True, timeout=60, check=True)
    return json.loads(done.stdout.rpartition("\0")[2])


@pytest.mark.parametrize("args", [("--version",), ("--help",), ("build", "--help"), ("push", "--help"), ("checkout", "--help"), ("login", "--help")])
def test_start_up_loads_no_run_machinery(args: tuple[str, ...]) -> None:
    modules = loaded(*args)
    heavy = [m for m in modules if m.split(".")[0] in HEAVY_PACKAGES or m in HEAVY_MODULES]
    assert heavy == [], f"autopack {' '.join(args)} imported {heavy}"
    assert "autopack.cli" in modules or args == ("--version",)


def test_version_loads_not_even_the_command_line() -> None:
    modules = loaded("--version")
    assert not any(m.split(".")[0] in ("typer", "click", "rich") for m in modules)


def test_a_checkout_loads_no_engine_or_registry_machinery() -> None:
    """``autopack checkout`` runs the pipeline's source stage only: the docker SDK, requests
    and the plan's machinery stay unloaded (they are imported when a build runs)."""
    probe = "import json, sys\nimport autopack.commands.checkout, autopack.pipeline, autopack.result\nprint(json.dumps(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True)
    modules = json.loads(done.stdout)
    assert "autopack.pipeline" in modules
    heavy = [m for m in modules if m.split(".")[0] in ("docker", "requests", "urllib3", "paramiko") or m in ("autopack.plan", "autopack.engine", "autopack.push.registry")]
    assert heavy == [], heavy
