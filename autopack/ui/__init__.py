"""Renderers: the only code that writes what a person reads. Stages emit events; a renderer
turns them into a rich live view (a terminal), plain timestamped lines (CI, pipes,
``--plain``, ``NO_COLOR``), and a final summary. Every string is redacted on the way out and
printed literally, never read as rich markup, with its control sequences neutralised
(``autopack.printable``)."""

from __future__ import annotations

import os
from typing import IO, TYPE_CHECKING, Literal

from autopack.ui.plain import PlainRenderer

if TYPE_CHECKING:  # rich's live machinery is imported only for a live view (not in CI, not with --plain)
    from autopack.ui.live import LiveRenderer

Verbosity = Literal["quiet", "normal", "verbose"]


def make_renderer(stream: IO[str], stages: dict[str, str], verbosity: Verbosity, plain: bool) -> PlainRenderer | LiveRenderer:
    """A live view only on a terminal that has not asked for plain output."""
    env = os.environ
    wants_plain = plain or bool(env.get("NO_COLOR")) or env.get("TERM") == "dumb" or not stream.isatty()
    if wants_plain:
        return PlainRenderer(stream, verbosity, colour=wants_colour(env), sections=bool(env.get("GITLAB_CI")))
    from autopack.ui.live import LiveRenderer

    return LiveRenderer(stream, stages, verbosity)


def wants_colour(env: os._Environ[str] | dict[str, str]) -> bool:
    """Plain output gets colour where the console renders it: GitLab's job log does, a pipe
    or Jenkins' console (without the AnsiColor plugin) does not. NO_COLOR always wins, then
    FORCE_COLOR."""
    if env.get("NO_COLOR"):
        return False
    if env.get("FORCE_COLOR", "") not in ("", "0"):
        return True
    return bool(env.get("GITLAB_CI"))


__all__ = ["PlainRenderer", "Verbosity", "make_renderer"]
