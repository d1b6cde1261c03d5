"""Shell completion (typer's), for bash: the installed ``autopack`` answers a Tab as bash asks
it to, the script it prints makes bash complete ``autopack``, ``--install-completion`` leaves a
``~/.bashrc`` that does the same, and a Tab loads none of the build machinery."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import AUTOPACK, autopack

pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="these tests drive a real bash")

BIN = str(AUTOPACK.parent)


def completions(line: str) -> list[str]:
    """What the installed autopack offers for the last word of ``line``, asked the way the
    bash script asks (``_AUTOPACK_COMPLETE=complete_bash``, ``COMP_WORDS``, ``COMP_CWORD``)."""
    words = line.split(" ")
    run = autopack(env={"_AUTOPACK_COMPLETE": "complete_bash", "COMP_WORDS": line, "COMP_CWORD": str(len(words) - 1)})
    assert run.returncode == 0, run.stderr
    return run.stdout.split()


def in_bash(script: str, home: Path) -> subprocess.CompletedProcess[str]:
    """``script`` in a real ``bash -c`` (not interactive), with autopack on PATH. The ``; true``
    keeps bash from exec'ing the last command, so that autopack's parent is bash."""
    env = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}", "HOME": str(home)}
    return subprocess.run(["bash", "-c", script + "\ntrue"], capture_output=True, text=True, env=env, timeout=60)


def test_a_command_name_completes() -> None:
    assert completions("autopack bu") == ["build"]
    offered = completions("autopack ")
    assert {"build", "plan", "checkout", "push", "login", "schema"} <= set(offered), offered


def test_an_option_completes() -> None:
    offered = completions("autopack build --pu")
    assert "--push" in offered and "--pull" in offered
    assert all(o.startswith("--pu") for o in offered), offered
    assert completions("autopack push --push-r") == ["--push-retries"]


def test_the_shown_script_makes_bash_complete_autopack(tmp_path: Path) -> None:
    done = in_bash(
        'source <(autopack --show-completion bash) || exit 9\ncomplete -p autopack || exit 8\nCOMP_WORDS=(autopack build --sk); COMP_CWORD=2\n_autopack_completion autopack; echo "offered: ${COMPREPLY[*]}"',
        tmp_path,
    )

    assert done.returncode == 0, done.stderr
    assert "complete -o default -F _autopack_completion autopack" in done.stdout
    assert "offered: --skip-tests" in done.stdout


def test_install_completion_leaves_a_bashrc_that_completes_autopack(tmp_path: Path) -> None:
    installed = in_bash("autopack --install-completion", tmp_path)
    assert installed.returncode == 0, installed.stderr
    assert "bash completion installed in" in installed.stdout
    assert (tmp_path / ".bash_completions" / "autopack.sh").is_file()

    done = in_bash(
        'source ~/.bashrc\ncomplete -p autopack || exit 8\nCOMP_WORDS=(autopack che); COMP_CWORD=1; _autopack_completion autopack; echo "offered: ${COMPREPLY[*]}"',
        tmp_path,
    )

    assert done.returncode == 0, done.stderr
    assert "offered: checkout" in done.stdout


PROBE = """
import json, sys
sys.argv = ["autopack"]
from autopack import launch
try:
    launch.main()
except SystemExit:
    pass
print("\\0" + json.dumps(sorted(sys.modules)))
"""


def test_a_tab_loads_no_build_machinery() -> None:
    """Each Tab starts autopack: it must stay as light as --help (tests/test_startup.py)."""
    from tests.test_startup import HEAVY_MODULES, HEAVY_PACKAGES

    env = {**os.environ, "_AUTOPACK_COMPLETE": "complete_bash", "COMP_WORDS": "autopack build --", "COMP_CWORD": "2"}
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, env=env, timeout=60, check=True)
    offered, _, modules = done.stdout.partition("\0")

    assert "--push" in offered.split()
    heavy = [m for m in json.loads(modules) if m.split(".")[0] in HEAVY_PACKAGES or m in HEAVY_MODULES]
    assert heavy == [], heavy
