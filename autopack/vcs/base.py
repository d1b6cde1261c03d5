"""What every source backend takes and gives: a ``SourceSpec`` in, a ``Checkout`` out."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from autopack.events import Emit


@dataclass(frozen=True)
class SourceSpec:
    """Where the code is and which version: a URL or path, and an optional ref."""

    location: str
    ref: str | None = None
    subdir: str | None = None


@dataclass(frozen=True)
class Checkout:
    """The code on disk and the facts of the version it holds (all optional: a plain
    directory has none). ``url`` never carries credentials."""

    path: Path
    kind: str
    url: str
    ref: str | None = None
    revision: str | None = None
    short_revision: str | None = None
    branch: str | None = None
    author: str | None = None
    committed_at: str | None = None


class Source(Protocol):
    """A backend module (``vcs/local.py``, …) exposes this function."""

    def checkout(self, spec: SourceSpec, emit: Emit) -> Checkout: ...
