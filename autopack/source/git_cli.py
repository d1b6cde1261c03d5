"""Every git child autopack starts: ``git`` with an argv list, through ``autopack.process`` —
its own process group (its helpers, ``git-remote-http`` and ssh, are in that group too), in
process's running set so that Ctrl-C and ``process.stop_all()`` end the whole tree, its
lines redacted and, for clone and fetch, its progress meter parsed into ``Progress`` events.

The environment is ``git_auth.environment``'s (no prompt, plain transports, hooks and
fsmonitor off, the login as a header) over the user's, minus the variables that would point
git at another repository; git's messages are in English (``LC_ALL=C``), as
``git_auth.translate`` reads them. A command that names no repository (``clone``,
``ls-remote``, ``init``) runs in its target directory with ``GIT_CEILING_DIRECTORIES`` set
to that directory's parent, so that no repository around it — its config, its
``url.*.insteadOf`` — takes part.

No library runs git for autopack: facts (``rev-parse``, ``log``, ``for-each-ref``) are read
the same way, so nothing autopack starts escapes the interrupt.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from autopack import process
from autopack.events import Emit, LogLine
from autopack.source import git_auth
from autopack.source.base import Login
from autopack.source.git_progress import GitProgress


@dataclass(frozen=True)
class Output:
    returncode: int
    lines: tuple[str, ...]  # every line but the progress meter's, redacted


def run(
    *args: str,
    git_dir: Path | None = None,
    cwd: Path | None = None,
    login: Login | None = None,
    emit: Emit | None = None,
    progress: bool = False,
    discover: bool = False,
    check: bool = True,
) -> Output:
    """``git [--git-dir=GIT_DIR] ARGS``, in ``git_dir`` (a bare mirror) or ``cwd`` (a work
    tree, or the empty directory a repository is made in). ``login`` goes to the one command
    that talks to the server; ``emit`` receives every line as a debug ``LogLine`` (shown with
    ``-v``) and, with ``progress``, the meter as ``Progress``. ``discover``: look for the
    repository upwards from ``cwd``, as git does in a user's own directory (else no further
    than ``cwd``). Raises ``ProcessFailed`` on a non-zero exit when ``check``; a missing
    ``git`` is exit code 127."""
    where = git_dir if git_dir is not None else cwd
    assert where is not None, "a git command runs in a repository or a directory of ours"
    argv = ["git", *([f"--git-dir={git_dir}"] if git_dir is not None else []), *args]
    lines: list[str] = []
    meter = GitProgress(emit) if progress and emit is not None else None

    def on_line(line: str) -> None:
        if meter is not None and meter.feed(line):
            return
        lines.append(line)
        if emit is not None:
            emit(LogLine("source", line, "debug"))

    completed = process.run(argv, cwd=where, env=environment(login, None if discover else where), on_line=on_line, check=check, split_cr=progress)
    return Output(completed.returncode, tuple(lines))


def environment(login: Login | None, where: Path | None) -> dict[str, str]:
    """The environment of a git child working in ``where`` (None: one that may look upwards)."""
    env = {k: v for k, v in os.environ.items() if k not in git_auth.REPOSITORY_VARIABLES}
    env.update(git_auth.environment(login))
    env.update(LC_ALL="C", LANGUAGE="C")
    if where is not None:
        env["GIT_CEILING_DIRECTORIES"] = str(where.parent)
    return env


def value(output: Output, prefix: str = "") -> str | None:
    """The last line of ``output`` that starts with ``prefix`` (without it): git's answer,
    past any warning it printed first."""
    found = [line[len(prefix) :] for line in output.lines if line.startswith(prefix)]
    return found[-1].strip() if found else None


def fields(output: Output, names: Sequence[str]) -> dict[str, str]:
    """``--format`` output written as one ``@<name> <value>`` line per field (see ``field_format``)."""
    found: dict[str, str] = {}
    for line in output.lines:
        for name in names:
            if line.startswith(f"@{name} "):
                found[name] = line[len(name) + 2 :]
    return found


def field_format(**placeholders: str) -> str:
    """``--format`` text putting each placeholder on a line of its own, tagged with its name."""
    return "%n".join(f"@{name} {placeholder}" for name, placeholder in placeholders.items())
