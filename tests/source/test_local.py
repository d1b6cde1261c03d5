"""A local directory: inside a git working copy, its commit gives the facts (read with git
through autopack.process, never a library); outside one, none."""

from __future__ import annotations

import shutil
from datetime import datetime
from pathlib import Path

from autopack.source import local
from autopack.source.base import SourceSpec
from tests.servers.git_fixtures import HELLO, run_git


def _working_copy(tmp_path: Path) -> Path:
    work = tmp_path / "repo"
    shutil.copytree(HELLO, work / "services" / "hello", ignore=shutil.ignore_patterns("target"))
    run_git(work, "init", "-q", "-b", "feature/x")
    run_git(work, "add", "-A")
    run_git(work, "commit", "-q", "-m", "first\n\nbody")
    run_git(work, "remote", "add", "origin", "https://ada:s3cret-local@git.example.com/g/p.git")
    return work


def test_facts_of_the_commit_a_working_copy_is_at(tmp_path: Path) -> None:
    work = _working_copy(tmp_path)
    lines: list[object] = []
    checkout = local.checkout(SourceSpec(str(work), subdir="services/hello"), tmp_path / "unused", lines.append)
    sha = run_git(work, "rev-parse", "HEAD")
    assert checkout.path == (work / "services" / "hello").resolve()
    assert (checkout.revision, checkout.short_revision, checkout.branch, checkout.author) == (sha, sha[:8], "feature/x", "Ada Tester")
    assert datetime.fromisoformat(checkout.committed_at).tzinfo is not None
    assert checkout.url == "https://git.example.com/g/p.git"
    assert [e.text for e in lines] == [f"git working copy at {sha[:8]} (feature/x): first"]


def test_a_detached_head_takes_its_tag_and_a_plain_directory_has_no_facts(tmp_path: Path) -> None:
    work = _working_copy(tmp_path)
    run_git(work, "tag", "v2.0.0")
    run_git(work, "checkout", "-q", "--detach")
    assert local.checkout(SourceSpec(str(work)), tmp_path, lambda e: None).branch == "v2.0.0"
    plain = tmp_path / "plain"
    shutil.copytree(HELLO, plain, ignore=shutil.ignore_patterns("target"))
    checkout = local.checkout(SourceSpec(str(plain)), tmp_path, lambda e: None)
    assert (checkout.revision, checkout.branch, checkout.url) == (None, None, plain.resolve().as_uri())


def test_the_working_copys_fsmonitor_and_hooks_never_run(tmp_path: Path) -> None:
    work = _working_copy(tmp_path)
    marker = tmp_path / "ran"
    command = tmp_path / "command"
    command.write_text(f"#!/bin/sh\necho ran >> {marker}\n")
    command.chmod(0o755)
    run_git(work, "config", "core.fsmonitor", str(command))
    run_git(work, "config", "core.hooksPath", str(tmp_path))
    shutil.copy(command, tmp_path / "post-checkout")
    assert local.checkout(SourceSpec(str(work)), tmp_path, lambda e: None).branch == "feature/x"
    assert not marker.exists()
