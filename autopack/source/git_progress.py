"""git's progress lines (through GitPython's ``RemoteProgress``) as ``Progress`` events."""

from __future__ import annotations

import git

from autopack.events import Emit, Progress


class GitProgress(git.RemoteProgress):
    """git's progress lines as ``Progress`` events, at most one per percent."""

    _PHASES = {
        git.RemoteProgress.COUNTING: "counting objects",
        git.RemoteProgress.COMPRESSING: "compressing objects",
        git.RemoteProgress.RECEIVING: "receiving objects",
        git.RemoteProgress.RESOLVING: "resolving deltas",
        git.RemoteProgress.WRITING: "writing objects",
        git.RemoteProgress.FINDING_SOURCES: "finding sources",
        git.RemoteProgress.CHECKING_OUT: "checking out files",
    }

    def __init__(self, emit: Emit) -> None:
        super().__init__()
        self._emit = emit
        self._last: tuple[int, int] | None = None

    def update(self, op_code: int, cur_count, max_count=None, message: str = "") -> None:
        phase = self._PHASES.get(op_code & self.OP_MASK, "transferring")
        current, total = int(cur_count or 0), int(max_count or 0) or None
        step = (op_code & self.OP_MASK, current * 100 // total if total else current)
        if step == self._last and not op_code & self.END:
            return
        self._last = step
        text = f"{phase} {current}/{total}" if total else f"{phase} {current}"
        done = bool(op_code & self.END)
        self._emit(Progress("source", text, {"phase": phase, "current": current, "total": total, "plain": done}))
