"""Events: what stages report while they work. Nothing in a stage prints; renderers in
``autopack.ui`` turn these into a live view, plain CI lines or nothing at all."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal

Level = Literal["debug", "info", "warning", "error"]


@dataclass(frozen=True)
class StageStarted:
    stage: str
    title: str


@dataclass(frozen=True)
class StageFinished:
    stage: str
    status: Literal["ok", "failed", "skipped"]
    seconds: float
    summary: str = ""


@dataclass(frozen=True)
class Progress:
    """The stage's current state in one short line (``message``), plus structured facts
    (module, phase, step, tests …) that a renderer may show in columns. A fact
    ``"plain": False`` marks a passing count (a percentage, bytes) that the live view shows
    and plain output skips: CI logs get the milestones, not every tick."""

    stage: str
    message: str
    facts: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class LogLine:
    """A line of a child's output (Maven, the image build). ``debug`` lines are shown only
    with --verbose; every line is also in the stage's log file."""

    stage: str
    text: str
    level: Level = "debug"


@dataclass(frozen=True)
class RunFacts:
    """Facts of the whole run as they become known — the source and its revision after the
    checkout, the engine after the plan: the live view's header."""

    facts: Mapping[str, str]
    stage: str = ""


Event = StageStarted | StageFinished | Progress | LogLine | RunFacts
Emit = Callable[[Event], None]


def discard(event: Event) -> None:
    """An ``Emit`` that drops everything (for library callers that want no output)."""


# The stages of a run, in order, with their titles (the live view's rows).
STAGES = {"source": "Source", "plan": "Plan", "maven": "Maven", "image": "Image", "push": "Push"}
