"""A directory already on disk. When it lies inside a git working copy, the commit it is
at supplies the revision facts, as a build from the remote would (read with ``git`` through
``git_cli``, like every git child of autopack's: hooks and fsmonitor off)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from autopack import secrets
from autopack.errors import SourceError
from autopack.events import Emit, LogLine
from autopack.source import git_cli
from autopack.source.base import Checkout, SourceSpec, project_path

_COMMIT = git_cli.field_format(sha="%H", author="%an", committed_at="%cI", subject="%s")


def checkout(spec: SourceSpec, dest: Path, emit: Emit) -> Checkout:
    """Use the directory where it is; ``dest`` stays unused."""
    root = Path(spec.location.removeprefix("file://")).expanduser()
    path = project_path(root, spec.subdir) if root.is_dir() else root / (spec.subdir or "")
    if not path.is_dir():
        raise SourceError(f"no directory at {path}", "pass the path of a Maven project (a directory holding pom.xml)")
    path = path.resolve()
    facts = _git_facts(path)
    if facts:
        subject = facts.pop("subject")
        emit(LogLine("source", f"git working copy at {facts['short_revision']} ({facts.get('branch') or 'detached'}): {subject}", "info"))
    return Checkout(path=path, kind="local", url=facts.pop("url", None) or path.as_uri(), **facts)


def _git_facts(path: Path) -> dict[str, Any]:
    def git(*args: str) -> git_cli.Output:
        # discover: the project is often a folder of the repository, found upwards as git finds it
        return git_cli.run(*args, cwd=path, discover=True, check=False)

    head = git("log", "-1", "--no-show-signature", f"--format={_COMMIT}", "HEAD", "--")
    commit = git_cli.fields(head, ("sha", "author", "committed_at", "subject"))
    sha = commit.get("sha", "")
    if head.returncode != 0 or len(sha) not in (40, 64):
        return {}  # not a git working copy, one without commits, or no git at all
    facts: dict[str, Any] = {
        "revision": sha,
        "short_revision": sha[:8],
        "author": commit.get("author"),
        "committed_at": commit.get("committed_at"),
        "subject": commit.get("subject", ""),
    }
    branch = git("symbolic-ref", "--quiet", "--short", "HEAD")
    if branch.returncode == 0 and (name := git_cli.value(branch)):
        facts["branch"] = name
    else:
        tags = git("tag", "--points-at", "HEAD", "--sort=refname")
        if tags.returncode == 0 and tags.lines:
            facts["branch"] = tags.lines[0].strip()
    origin = git("config", "--get", "remote.origin.url")
    if origin.returncode == 0 and (url := git_cli.value(origin)):
        facts["url"] = secrets.strip_url_credentials(url)
    return facts
