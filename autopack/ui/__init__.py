"""Renderers: the only code that writes what a person reads. Stages emit events; a renderer
turns them into a rich live view (a terminal), plain timestamped lines (CI, pipes,
``--plain``, ``NO_COLOR``), and a final summary. Every string is redacted on the way out and
printed literally, never read as rich markup."""

from __future__ import annotations

import os
from typing import IO, Literal

from autopack.ui.live import LiveRenderer
from autopack.ui.plain import PlainRenderer

Verbosity = Literal["quiet", "normal", "verbose"]


def make_renderer(stream: IO[str], stages: dict[str, str], verbosity: Verbosity, plain: bool) -> PlainRenderer | LiveRenderer:
    """A live view only on a terminal that has not asked for plain output."""
    wants_plain = plain or bool(os.environ.get("NO_COLOR")) or os.environ.get("TERM") == "dumb" or not stream.isatty()
    if wants_plain:
        return PlainRenderer(stream, verbosity)
    return LiveRenderer(stream, stages, verbosity)


__all__ = ["LiveRenderer", "PlainRenderer", "Verbosity", "make_renderer"]
