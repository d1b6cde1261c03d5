"""git's progress meter (``git clone|fetch --progress``, one line per redraw) as ``Progress`` events."""

from __future__ import annotations

import re

from autopack.events import Emit, Progress

# "Receiving objects:  45% (450/1000), 1.20 MiB | 1.00 MiB/s", "remote: Counting objects: 5, done."
_METER = re.compile(r"^(?:remote: )?(?P<op>[A-Z][A-Za-z ]*[a-z]): +(?:(?P<percent>\d+)% \((?P<current>\d+)/(?P<total>\d+)\)|(?P<count>\d+))(?P<rest>.*)$")
_PHASES = {
    "Counting objects": "counting objects",
    "Compressing objects": "compressing objects",
    "Receiving objects": "receiving objects",
    "Resolving deltas": "resolving deltas",
    "Writing objects": "writing objects",
    "Finding sources": "finding sources",
    "Checking out files": "checking out files",
    "Updating files": "checking out files",
}


class GitProgress:
    """Feed it git's lines; it emits at most one event per phase and percent (each phase's
    last one, ``, done.``, is marked ``plain``: the line a plain log keeps)."""

    def __init__(self, emit: Emit) -> None:
        self._emit = emit
        self._last: tuple[str, int] | None = None

    def feed(self, line: str) -> bool:
        """True when ``line`` is a line of the meter (reported here, or of a phase not shown)."""
        m = _METER.match(line)
        if m is None:
            return False
        phase = _PHASES.get(m["op"])
        if phase is None:
            return True  # "Enumerating objects", "Total": the meter, but no phase of ours
        current = int(m["current"] or m["count"])
        total = int(m["total"]) if m["total"] else None
        done = ", done" in m["rest"]
        step = (phase, current * 100 // total if total else current)
        if step == self._last and not done:
            return True
        self._last = step
        text = f"{phase} {current}/{total}" if total else f"{phase} {current}"
        self._emit(Progress("source", text, {"phase": phase, "current": current, "total": total, "plain": done}))
        return True
