"""The errors autopack reports: one class per stage, each with its exit code and a hint.

Library errors (docker, git, pysvn, XML parsers) are translated into these at the adapter
boundary with ``raise ... from e``, so that only this hierarchy reaches the CLI.
"""

from __future__ import annotations


class AutopackError(Exception):
    """Base class: a failure the user can act on, shown as one line plus a hint."""

    exit_code = 1
    stage = "internal"

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def one_line(self) -> str:
        return f"{self.message} — {self.hint}" if self.hint else self.message


class UsageError(AutopackError):
    """Bad options, configuration, pom or tag template: nothing has been built yet."""

    exit_code = 2
    stage = "config"


class SourceError(AutopackError):
    """The source could not be checked out or read."""

    exit_code = 3
    stage = "source"


class MavenError(AutopackError):
    """Maven failed, or produced no artifact autopack can package."""

    exit_code = 4
    stage = "maven"


class ImageError(AutopackError):
    """The Docker engine is unreachable or the image build failed."""

    exit_code = 5
    stage = "image"


class PushError(AutopackError):
    """A registry refused or failed the push."""

    exit_code = 6
    stage = "push"


EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143  # 128 + SIGTERM: a CI cancel, `timeout`, `kill`
