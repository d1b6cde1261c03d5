"""The console script's entry point. ``autopack --version`` answers before the command line
(typer, rich, the commands) is imported; everything else goes to ``autopack.cli``, whose
commands import the engine, Maven and registry machinery only once they run."""

from __future__ import annotations

import sys


def main() -> None:
    if sys.argv[1:] == ["--version"]:
        from autopack import __version__

        sys.stdout.write(f"autopack {__version__}\n")
        return
    from autopack import cli

    cli.main()
