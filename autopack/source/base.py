"""What every source backend takes and gives: a ``SourceSpec`` in, a ``Checkout`` out."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from autopack.events import Emit


@dataclass(frozen=True)
class Login:
    """A user name and password (or token) and where it came from, for error messages.
    The secret never appears in ``repr``; ``secrets.register`` it as soon as it is read."""

    username: str
    password: str = field(repr=False)
    origin: str = ""


@dataclass(frozen=True)
class SourceSpec:
    """Where the code is and which version.

    ``location`` is a path or URL (already resolved from shorthands such as ``gitlab:``);
    ``kind`` is the backend (``local``, ``git``, ``svn``); ``ref`` is a git branch, tag,
    commit or full ref; ``revision`` an svn revision (a number or ``HEAD``); ``branch`` and
    ``svn_tag`` pick a branch or tag of the standard trunk/branches/tags layout;
    ``svn_externals`` follows the ``svn:externals`` of an svn checkout (off: never).
    """

    location: str
    kind: str = "local"
    ref: str | None = None
    revision: str | None = None
    branch: str | None = None
    svn_tag: str | None = None
    subdir: str | None = None
    shallow: bool = False
    login: Login | None = field(default=None, repr=False)
    svn_externals: bool = False  # follow svn:externals (held to the source rules: svn_externals.py)
    working_copy: bool = True  # the tree must be a working copy (autopack checkout); a build needs only the files


@dataclass(frozen=True)
class Checkout:
    """The code on disk and the facts of the version it holds (all optional: a plain
    directory has none). ``url`` never carries credentials. ``path`` is the project
    directory (``--subdir`` applied); ``cache`` says how the source was obtained
    (``clone``, ``fetch``, ``shallow``, ``checkout``, ``switch``; None for a local path)."""

    path: Path
    kind: str
    url: str
    ref: str | None = None
    revision: str | None = None
    short_revision: str | None = None
    branch: str | None = None
    author: str | None = None
    committed_at: str | None = None
    repository_path: str | None = None
    last_changed_revision: str | None = None
    cache: str | None = None
    dirty: bool = False  # a working copy with changes its commit does not have (found by the plan)

    @property
    def shown_revision(self) -> str | None:
        """The revision as labels show it: a dirty working copy is never its clean commit."""
        return f"{self.revision}-dirty" if self.revision and self.dirty else self.revision

    @property
    def shown_short_revision(self) -> str | None:
        return f"{self.short_revision}-dirty" if self.short_revision and self.dirty else self.short_revision


class Source(Protocol):
    """A backend module (``source/local.py``, ``source/git.py``, ``source/svn.py``) exposes this
    function. ``dest`` is an empty directory the backend may fill (a local directory is
    used where it is instead); the backend raises ``SourceError`` for anything that the
    server or the repository refused."""

    def checkout(self, spec: SourceSpec, dest: Path, emit: Emit) -> Checkout: ...


def project_path(root: Path, subdir: str | None) -> Path:
    """``root/subdir``, refusing a subdir that leaves ``root`` (``..``, absolute, a link out)."""
    from autopack.errors import UsageError

    if not subdir:
        return root
    candidate = (root / subdir).resolve()
    if candidate != root.resolve() and root.resolve() not in candidate.parents:
        raise UsageError(f"--subdir '{subdir}' leads outside the checkout", "give a path inside the repository")
    return candidate
