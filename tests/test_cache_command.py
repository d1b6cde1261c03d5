"""``autopack cache ls`` and ``autopack cache prune`` through the installed command, on real
cache contents: git mirrors made by ``autopack checkout`` from a git server on loopback, the
blobs of a real ``--engine direct`` build, run directories — and what a second, live
process holds (an entry's lock, a work directory, the blob store's shared lock) is skipped
and said so. The size warning after a run."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from autopack import cache
from tests.conftest import autopack, copy_fixture
from tests.servers.git_fixtures import GitRemote, git_remote, git_server  # noqa: F401  (fixtures)
from tests.test_startup import HEAVY_MODULES, HEAVY_PACKAGES, loaded

pytestmark = pytest.mark.e2e
DAY = 86400
HELLO_LINE = '{"service":"hello-service","message":"Hello from autopack"}'
IN_USE = "in use by a running autopack"


def cache_env(tmp_path: Path, remote: GitRemote | None = None) -> dict[str, str]:
    env = {"AUTOPACK_CACHE_DIR": str(tmp_path / "cache")}
    if remote is not None:
        env |= {"AUTOPACK_GIT_USER": remote.username, "AUTOPACK_GIT_PASSWORD": remote.password}
    return env


def listed(env: dict[str, str]) -> dict:
    run = autopack("cache", "ls", "--json", env=env)
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)


def entries(env: dict[str, str], kind: str) -> dict[str, dict]:
    return {e["name"]: e for e in listed(env)["entries"] if e["kind"] == kind}


def prune(env: dict[str, str], *args: str) -> dict:
    run = autopack("cache", "prune", "--json", *args, env=env)
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)


def another_remote(remote: GitRemote) -> GitRemote:
    """The same repository under another URL: another mirror in the cache."""
    name = f"group/subgroup/copy-{uuid.uuid4().hex[:8]}.git"
    shutil.copytree(remote.bare, remote.server.root / name)
    return GitRemote(remote.server, remote.server.root / name, remote.server.url(name), dict(remote.shas), dict(remote.versions))


def mirror_of(tmp_path: Path, remote: GitRemote, n: int) -> str:
    """A mirror made by ``autopack checkout``; its name in the cache."""
    run = autopack("checkout", remote.url, tmp_path / f"wc-{n}", env=cache_env(tmp_path, remote))
    assert run.returncode == 0, run.stderr
    return cache.key_for("git", remote.url)


def last_used(tmp_path: Path, name: str, days_ago: float) -> None:
    """An entry's last use is its lock file's time (set on every use)."""
    stamp = time.time() - days_ago * DAY
    os.utime(tmp_path / "cache" / f"{name}.lock", (stamp, stamp))


@contextlib.contextmanager
def holding(env: dict[str, str], take: str) -> Iterator[subprocess.Popen]:
    """A second, live process that takes something of the cache (``take``, a statement with
    ``stack``, ``cache`` and ``oci`` at hand), says "held", and keeps it until it is killed."""
    script = f"import contextlib, time\nfrom autopack import cache\nfrom autopack.image import oci\nwith contextlib.ExitStack() as stack:\n    {take}\n    print('held', flush=True)\n    time.sleep(300)\n"
    holder = subprocess.Popen([sys.executable, "-c", script], env={**os.environ, **env}, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        yield holder
    finally:
        holder.kill()
        holder.wait(timeout=30)


def test_git_mirrors_are_listed_then_pruned_by_last_use(tmp_path: Path, git_remote: GitRemote) -> None:  # noqa: F811
    env = cache_env(tmp_path)
    old, recent = mirror_of(tmp_path, git_remote, 1), mirror_of(tmp_path, another_remote(git_remote), 2)
    mirrors = entries(env, "git")
    assert sorted(mirrors) == sorted([old, recent])
    for name, entry in mirrors.items():
        on_disk = sum(p.stat().st_size for p in (tmp_path / "cache" / name).rglob("*") if p.is_file())
        assert entry["size"] == on_disk > 1000 and not entry["inUse"] and time.time() - entry["lastUse"] < 600
    assert listed(env)["total"] == sum(e["size"] for e in mirrors.values())

    table = autopack("cache", "ls", env=env)
    assert table.returncode == 0 and old in table.stdout and recent in table.stdout and "2 entries" in table.stdout
    assert git_remote.password not in table.stdout

    last_used(tmp_path, old, 40)
    dry = autopack("cache", "prune", "--older-than", "30", "--dry-run", env=env)
    assert dry.returncode == 0 and f"would remove {old}" in dry.stdout and recent not in dry.stdout
    assert sorted(entries(env, "git")) == sorted([old, recent]), "a dry run removes nothing"

    pruned = prune(env, "--older-than", "30")
    assert [e["name"] for e in pruned["removed"]] == [old] and pruned["freed"] == mirrors[old]["size"]
    assert sorted(entries(env, "git")) == [recent]
    again = autopack("checkout", git_remote.url, tmp_path / "wc-3", env=cache_env(tmp_path, git_remote))
    assert again.returncode == 0 and "cloning mirror of" in again.stdout + again.stderr, "a pruned mirror is cloned again"


def test_max_size_removes_the_least_recently_used_first(tmp_path: Path, git_remote: GitRemote) -> None:  # noqa: F811
    env = cache_env(tmp_path)
    names = [mirror_of(tmp_path, another_remote(git_remote), n) for n in range(3)]
    for name, days in zip(names, (2, 9, 5), strict=True):
        last_used(tmp_path, name, days)
    sizes = {n: e["size"] for n, e in entries(env, "git").items()}
    fits = sizes[names[0]] + sizes[names[2]]  # the two used last
    pruned = prune(env, "--max-size", str(fits))
    assert [e["name"] for e in pruned["removed"]] == [names[1]] and pruned["total"] == fits
    assert sorted(entries(env, "git")) == sorted([names[0], names[2]])
    both = prune(env, "--max-size", "1", "--older-than", "3")  # the old one by age, then by size the rest
    assert [e["name"] for e in both["removed"]] == [names[2], names[0]] and entries(env, "git") == {}


def test_what_a_live_run_holds_is_skipped_and_said_so(tmp_path: Path, git_remote: GitRemote) -> None:  # noqa: F811
    env = cache_env(tmp_path)
    held, free = mirror_of(tmp_path, git_remote, 1), mirror_of(tmp_path, another_remote(git_remote), 2)
    with holding(env, f"stack.enter_context(cache.entry({held!r}))"), holding(env, "stack.enter_context(cache.work_dir())") as run:
        dead = tmp_path / "cache" / "work" / "run-1-killed"  # a killed run's directory: its lock is free
        (dead / "src").mkdir(parents=True)
        (dead / "src" / "pom.xml").write_text("<project/>")
        (live,) = [n for n in entries(env, "work") if n != "work/run-1-killed"]
        assert entries(env, "git")[held]["inUse"] and not entries(env, "git")[free]["inUse"]
        assert entries(env, "work")[live]["inUse"] and not entries(env, "work")["work/run-1-killed"]["inUse"]
        table = autopack("cache", "ls", "--plain", env=env)
        assert any(held in line and line.rstrip().endswith("yes") for line in table.stdout.splitlines())

        shown = autopack("cache", "prune", env=env)
        assert shown.returncode == 0, shown.stderr
        assert f"skipped {held}: {IN_USE}" in shown.stdout and f"skipped {live}: {IN_USE}" in shown.stdout
        assert f"removed {free}" in shown.stdout and "removed work/run-1-killed" in shown.stdout and "freed" in shown.stdout
        assert sorted(entries(env, "git")) == [held] and sorted(entries(env, "work")) == [live]
        assert (tmp_path / "cache" / held / ".autopack-complete").is_file(), "the held entry is untouched"
        assert run.poll() is None
    pruned = prune(env)  # the holders were killed: the entry is free, the work directory a killed run's
    assert sorted(e["name"] for e in pruned["removed"]) == sorted([held, live]) and pruned["skipped"] == []
    assert entries(env, "git") == {} and entries(env, "work") == {}


def build(project: Path, image: str, env: dict[str, str], tmp_path: Path) -> tuple[dict, str]:
    result = tmp_path / f"result-{uuid.uuid4().hex[:6]}.json"
    run = autopack("build", project, "--engine", "direct", "--image", image, "-t", "latest", "--skip-tests", "--plain", "--result-file", result, env=env)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr
    return json.loads(result.read_text()), run.stdout + run.stderr


def test_blobs_of_a_direct_build_are_listed_kept_while_used_and_made_again(tmp_path: Path, engine: docker.DockerClient, image_name: str) -> None:
    env = cache_env(tmp_path)
    store = tmp_path / "cache" / "blobs" / "sha256"
    project = copy_fixture("hello-service", tmp_path)
    first, out = build(project, image_name, env, tmp_path)
    assert "autopack cache prune" not in out, "no warning below the default 10 GiB"
    blobs = entries(env, "blob")
    assert len(blobs) >= 4, blobs  # the config, the base's layers, WORKDIR's and COPY's
    assert {n: e["size"] for n, e in blobs.items()} == {f"sha256:{p.name}": p.stat().st_size for p in store.iterdir() if "." not in p.name}
    assert first["images"][0]["id"] in blobs, "the image's config"
    assert f"blobs/sha256 ({len(blobs)} blobs)" in autopack("cache", "ls", env=env).stdout

    long_ago = time.time() - 40 * DAY
    for path in store.iterdir():
        os.utime(path, (long_ago, long_ago))
    second, out = build(project, image_name, {**env, "AUTOPACK_CACHE_WARN_SIZE": "1"}, tmp_path)
    assert f"the cache in {tmp_path / 'cache'} holds more than 1 B" in out and "autopack cache prune --max-size 1" in out
    first_config, second_config = first["images"][0]["id"], second["images"][0]["id"]
    assert first_config != second_config, "another config: the build time differs"
    (record,) = (tmp_path / "cache" / "blobs" / "engine").glob("*.json")
    base = json.loads(record.read_text())
    base_blobs = {base["config"], *(d for d, _ in base["layers"])}
    aged = {e["name"] for e in prune(env, "--older-than", "30", "--dry-run")["removed"]}
    assert first_config in aged and aged <= set(blobs), "only what the first build alone used"
    assert second_config not in aged and not aged & base_blobs, "the base's blobs were used again by the second build"

    now = entries(env, "blob")
    with holding(env, "oci.blob_store()"):
        assert all(e["inUse"] for e in entries(env, "blob").values())
        shown = autopack("cache", "prune", env=env)
        assert shown.returncode == 0 and f"skipped {len(now)} blobs: the blob store is in use by a running autopack" in shown.stdout
        assert set(entries(env, "blob")) == set(now), "no blob goes while a run holds the store"
    emptied = prune(env, "--max-size", "0")
    assert {e["name"] for e in emptied["removed"] if e["kind"] == "blob"} == set(now) and emptied["total"] == 0
    assert entries(env, "blob") == {} and not list((tmp_path / "cache" / "blobs" / "diffid").iterdir())

    build(project, image_name, env, tmp_path)
    assert len(entries(env, "blob")) == len(blobs), "made again: the base saved again, the layers written again"
    assert engine.containers.run(f"{image_name}:latest", remove=True, network_mode="none").decode().strip() == HELLO_LINE


@pytest.mark.parametrize(
    ("args", "named"),
    [(("--max-size", "2x"), "--max-size '2x'"), (("--max-size", "-1G"), "--max-size '-1G'"), (("--older-than", "soon"), "--older-than 'soon'"), (("--older-than", "-3"), "--older-than '-3'")],
)
def test_a_bad_size_or_number_of_days_is_a_one_line_usage_error(tmp_path: Path, args: tuple[str, ...], named: str) -> None:
    run = autopack("cache", "prune", *args, env=cache_env(tmp_path))
    assert run.returncode == 2 and run.stdout == ""
    assert run.stderr.count("\n") == 1 and run.stderr.startswith(f"autopack: error: {named} is not") and " — e.g. " in run.stderr


@pytest.mark.parametrize("args", [("cache", "--help"), ("cache", "ls", "--help"), ("cache", "prune", "--help")])
def test_the_cache_commands_help_loads_no_run_machinery(args: tuple[str, ...]) -> None:
    modules = loaded(*args)
    heavy = [m for m in modules if m.split(".")[0] in HEAVY_PACKAGES or m in HEAVY_MODULES or m in ("autopack.cache", "autopack.cache_usage")]
    assert heavy == [], f"autopack {' '.join(args)} imported {heavy}"
