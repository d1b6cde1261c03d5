"""A directory already on disk. When it lies inside a git working copy, the commit it is
at supplies the revision facts, as a build from the remote would."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import git

from autopack import secrets
from autopack.errors import SourceError
from autopack.events import Emit, LogLine
from autopack.source.base import Checkout, SourceSpec, project_path


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
    try:
        repo = git.Repo(path, search_parent_directories=True)
        commit = repo.head.commit
    except (git.InvalidGitRepositoryError, git.NoSuchPathError, ValueError, git.GitCommandError):
        return {}  # not a git working copy, or one without commits
    facts: dict[str, Any] = {
        "revision": commit.hexsha,
        "short_revision": commit.hexsha[:8],
        "author": commit.author.name,
        "committed_at": commit.committed_datetime.isoformat(),
        "subject": str(commit.summary),
    }
    if not repo.head.is_detached:
        facts["branch"] = repo.active_branch.name
    else:
        tag = next((t.name for t in repo.tags if t.commit == commit), None)
        if tag:
            facts["branch"] = tag
    try:
        origin = repo.remotes.origin.url if "origin" in repo.remotes else None
    except (ValueError, git.GitCommandError):
        origin = None
    if origin:
        facts["url"] = secrets.strip_url_credentials(origin)
    return facts
