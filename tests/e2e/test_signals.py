"""SIGTERM (a CI cancel, ``timeout``, ``kill``) behaves like Ctrl-C; SIGKILL, which nothing can
catch, leaves nothing running and nothing a later run trusts; and runs that share one cache
and one engine do not disturb each other, even when one of them is killed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import jsonschema
import pytest

from tests.conftest import AUTOPACK, autopack, copy_fixture, result_schema
from tests.e2e.test_interrupt import Interruptible, processes_mentioning
from tests.servers.git_fixtures import GitRemote, git_remote, git_server  # noqa: F401  (fixtures)

pytestmark = pytest.mark.e2e


def gone_within(text: str, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while processes_mentioning(text):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_sigterm_during_maven_stops_its_tree_writes_the_result_and_exits_143(tmp_path: Path, engine, image_name) -> None:
    project = copy_fixture("hello-service", tmp_path)
    cache = tmp_path / "cache"
    result_file = tmp_path / "result.json"
    run = Interruptible(["build", str(project), "--image", image_name, "--result-file", str(result_file)], {"AUTOPACK_CACHE_DIR": str(cache)})
    run.wait_for(lambda: processes_mentioning(f"-Dmaven.multiModuleProjectDirectory={project}"))

    started = time.monotonic()
    run.proc.send_signal(signal.SIGTERM)
    assert gone_within(str(project), 5), f"Maven outlived SIGTERM by 5 s: {processes_mentioning(str(project))}"
    run.proc.wait(timeout=15)
    took = time.monotonic() - started

    assert run.proc.returncode == 143, "\n".join(run.lines)
    assert took < 10
    assert run.lines[-1] == "autopack: error: terminated (SIGTERM)"
    data = json.loads(result_file.read_text())
    jsonschema.validate(data, result_schema())
    assert (data["exitCode"], data["status"], data["error"]["stage"]) == (143, "failed", "terminated")
    assert [(s["name"], s["status"]) for s in data["stages"]][-1] == ("maven", "failed")
    assert list((cache / "work").iterdir()) == [], "the run's work directory (or its lock) stayed"
    assert engine.images.list(name=image_name) == []


def test_a_run_killed_with_sigkill_leaves_no_child_and_its_work_directory_is_swept_by_the_next(tmp_path: Path, image_name) -> None:
    project = copy_fixture("hello-service", tmp_path)
    cache = tmp_path / "cache"
    env = {"AUTOPACK_CACHE_DIR": str(cache)}
    run = Interruptible(["build", str(project), "--image", image_name, "--skip-tests"], env)
    run.wait_for(lambda: processes_mentioning(f"-Dmaven.multiModuleProjectDirectory={project}"))
    [left] = [p for p in (cache / "work").iterdir() if not p.name.endswith(".lock")]

    run.proc.kill()
    run.proc.wait(timeout=10)
    assert gone_within(str(project), 5), f"Maven outlived autopack's SIGKILL: {processes_mentioning(str(project))}"
    assert left.is_dir()  # nothing could remove it ...

    again = autopack("build", project, "--image", image_name, "--skip-tests", env=env)
    assert again.returncode == 0, again.stderr[-2000:]
    assert not left.exists() and not Path(f"{left}.lock").exists()  # ... until the next run
    assert list((cache / "work").iterdir()) == []


def test_four_runs_of_one_git_source_share_a_cache_and_one_killed_mid_checkout_disturbs_none(tmp_path: Path, engine, image_name, git_remote: GitRemote) -> None:  # noqa: F811
    env = {**os.environ, "AUTOPACK_CACHE_DIR": str(tmp_path / "cache"), "AUTOPACK_GIT_USER": git_remote.username, "AUTOPACK_GIT_PASSWORD": git_remote.password}
    refs = {"v1.0.0": "c1", "main": "c2", "feature/x": "c3", "refs/merge-requests/1/head": "c4"}

    def start(ref: str) -> subprocess.Popen:
        argv = [str(AUTOPACK), "build", git_remote.url, "--ref", ref, "--image", image_name, "-t", "{version}", "--skip-tests", "--json", "--plain"]
        return subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    runs = {ref: start(ref) for ref in refs}
    victim = runs["main"]
    time.sleep(0.3)  # the four are in their source stage: one clones the mirror, the others wait for its lock
    victim.kill()
    outputs = {ref: proc.communicate(timeout=600) for ref, proc in runs.items()}

    assert victim.returncode == -signal.SIGKILL
    for ref, (stdout, stderr) in outputs.items():
        if runs[ref] is victim:
            continue
        assert runs[ref].returncode == 0, stderr.decode()[-2000:]
        data = json.loads(stdout)
        commit = refs[ref]
        assert data["source"]["revision"] == git_remote.shas[commit], ref
        assert data["images"][0]["tags"] == [f"{image_name}:{git_remote.versions[commit]}"], ref
        assert engine.images.get(f"{image_name}:{git_remote.versions[commit]}").labels["org.opencontainers.image.revision"] == git_remote.shas[commit]

    again = autopack("build", git_remote.url, "--ref", "main", "--image", image_name, "-t", "{version}", "--skip-tests", "--json", env=env)
    assert again.returncode == 0, again.stderr[-2000:]
    assert json.loads(again.stdout)["source"]["revision"] == git_remote.shas["c2"]
