"""``autopack cache ls`` and ``autopack cache prune``: what the cache holds (git mirrors, svn
working copies, work directories of runs, the direct builder's blobs), and freeing it while
other runs go on using it — what a live run uses is skipped, and said so."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Annotated, Optional

import typer

from autopack.error_handler import error_handler
from autopack.errors import UsageError

EXAMPLES = """\
Examples:

  autopack cache ls

  autopack cache prune --older-than 30 --dry-run

  autopack cache prune --max-size 20G
"""

app = typer.Typer(
    name="cache",
    help="Show and prune the cache (git mirrors, svn working copies, run directories, blobs).",
    epilog=EXAMPLES,
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
)


@app.command("ls", epilog="Example:\n\n  autopack cache ls --json")
def ls(
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON on standard output instead of a table: root, total, every entry.")] = False,
    blobs: Annotated[bool, typer.Option("--blobs", help="One row per blob, not one for all of them.")] = False,
    plain: Annotated[bool, typer.Option("--plain", help="Plain text even on a terminal.")] = False,
) -> None:
    """List the cache's entries: kind, name, size, last use, and whether a running autopack uses it."""

    def body() -> None:
        from autopack import cache_usage
        from autopack.ui import cache as shown

        found = cache_usage.listing()
        if json_out:
            sys.stdout.write(shown.listing_json(found))
        else:
            shown.show_listing(found, sys.stdout, each_blob=blobs, plain=plain)

    _run(body)


@app.command("prune", epilog="Examples:\n\n  autopack cache prune --older-than 30 --dry-run\n\n  autopack cache prune --older-than 14 --max-size 20G")
def prune(
    older_than: Annotated[Optional[str], typer.Option("--older-than", metavar="DAYS", help="Remove what was last used more than DAYS days ago.")] = None,
    max_size: Annotated[Optional[str], typer.Option("--max-size", metavar="SIZE", help="Then remove the least recently used until the cache fits SIZE (e.g. 500M, 2G).")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only say what would be removed.")] = False,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON on standard output: removed, skipped (with why), freed, total.")] = False,
) -> None:
    """Remove cache entries no running autopack uses: with neither --older-than nor --max-size, all of them."""

    def body() -> None:
        days = _days(older_than) if older_than is not None else None
        size = _size(max_size) if max_size is not None else None
        from autopack import cache_usage
        from autopack.ui import cache as shown

        pruned = cache_usage.prune(days, size, dry_run)
        if json_out:
            sys.stdout.write(shown.pruned_json(pruned))
        else:
            shown.show_pruned(pruned, sys.stdout)

    _run(body)


def _run(body: Callable[[], None]) -> None:
    with error_handler() as outcome:
        body()
    if outcome.exit_code:
        sys.stderr.write(outcome.line() + "\n")
    raise typer.Exit(outcome.exit_code)


def _days(text: str) -> float:
    try:
        days = float(text.strip().removesuffix("d"))
    except ValueError:
        days = -1.0
    if not days >= 0 or days == float("inf"):
        raise UsageError(f"--older-than '{text}' is not a number of days", "e.g. --older-than 30 (last used more than 30 days ago)")
    return days


def _size(text: str) -> int:
    from autopack.cache import parse_size

    try:
        return parse_size(text)
    except ValueError:
        raise UsageError(f"--max-size '{text}' is not a size", "e.g. --max-size 500M or --max-size 2G (K, M, G, T: powers of 1024)") from None
