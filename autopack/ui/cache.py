"""``autopack cache ls`` and ``prune`` as a person reads them: a table (rich on a terminal,
aligned plain text otherwise), or JSON. Blobs are one row unless asked for one by one:
a build makes dozens of them."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from typing import IO, TYPE_CHECKING

from autopack.cache import format_size
from autopack.printable import clean

if TYPE_CHECKING:
    from autopack.cache_usage import Item, Listing, Pruned

_COLUMNS = ("kind", "name", "size", "last use", "in use")


def listing_json(found: Listing) -> str:
    return json.dumps({"root": str(found.root), "total": found.total, "entries": [i.as_json() for i in found.items]}, indent=2) + "\n"


def pruned_json(pruned: Pruned) -> str:
    document = {
        "dryRun": pruned.dry_run,
        "removed": [i.as_json() for i in pruned.removed],
        "skipped": [{**i.as_json(), "reason": why} for i, why in pruned.skipped],
        "freed": pruned.freed,
        "total": pruned.total_after,
    }
    return json.dumps(document, indent=2) + "\n"


def show_listing(found: Listing, stream: IO[str], *, each_blob: bool, plain: bool) -> None:
    rows = [_row(i) for i in found.items if each_blob or i.kind != "blob"]
    blobs = [i for i in found.items if i.kind == "blob"]
    if blobs and not each_blob:
        rows.append(_blobs_row(blobs))
    held = len(found.items) - len(blobs)
    counted = ", ".join(part for part in (f"{held} entr{'y' if held == 1 else 'ies'}" if held else "", _count(blobs) if blobs else "") if part)
    footer = f"{counted}: {format_size(found.total)} in {found.root}" if found.items else f"the cache in {found.root} is empty"
    if not rows:
        stream.write(clean(footer) + "\n")
    elif _rich(stream, plain):
        from rich.console import Console
        from rich.table import Table

        table = Table(caption=clean(footer), caption_justify="left")
        for column in _COLUMNS:
            table.add_column(column, no_wrap=column != "name", overflow="fold")
        for row in rows:
            table.add_row(*(clean(cell) for cell in row))
        Console(file=stream, highlight=False).print(table)
    else:
        widths = [max(len(r[n]) for r in [_COLUMNS, *rows]) for n in range(len(_COLUMNS))]
        for row in [_COLUMNS, *rows]:
            stream.write(clean("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()) + "\n")
        stream.write(clean(footer) + "\n")


def show_pruned(pruned: Pruned, stream: IO[str]) -> None:
    verb = "would remove" if pruned.dry_run else "removed"
    for item in pruned.removed:
        if item.kind != "blob":
            stream.write(clean(f"{verb} {item.name} ({format_size(item.size)}, last used {_when(item.last_use)})") + "\n")
    blobs = [i for i in pruned.removed if i.kind == "blob"]
    if blobs:
        stream.write(f"{verb} {_count(blobs)} ({format_size(sum(i.size for i in blobs))})\n")
    for item, why in pruned.skipped:
        if item.kind != "blob":
            stream.write(clean(f"skipped {item.name}: {why}") + "\n")
    if skipped_blobs := [i for i, _ in pruned.skipped if i.kind == "blob"]:
        stream.write(f"skipped {_count(skipped_blobs)}: the blob store is in use by a running autopack (run prune again once it has finished)\n")
    if not pruned.removed:
        stream.write(f"nothing {'would be ' if pruned.dry_run else ''}removed; the cache holds {format_size(pruned.total_after)}\n")
    elif pruned.dry_run:
        stream.write(f"would free {format_size(pruned.freed)}; the cache would hold {format_size(pruned.total_after)}\n")
    else:
        stream.write(f"freed {format_size(pruned.freed)}; the cache holds {format_size(pruned.total_after)}\n")


def _row(item: Item) -> tuple[str, str, str, str, str]:
    name = item.name if item.kind != "blob" else item.name[: len("sha256:") + 16]
    return (item.kind, name, format_size(item.size), _when(item.last_use), "yes" if item.in_use else "")


def _blobs_row(blobs: Sequence[Item]) -> tuple[str, str, str, str, str]:
    newest = max(i.last_use for i in blobs)
    return ("blobs", f"blobs/sha256 ({_count(blobs)})", format_size(sum(i.size for i in blobs)), _when(newest), "yes" if any(i.in_use for i in blobs) else "")


def _count(blobs: Sequence[Item]) -> str:
    return f"{len(blobs)} blob{'s' if len(blobs) != 1 else ''}"


def _when(stamp: float) -> str:
    if stamp <= 0:
        return "unknown"
    age = max(0.0, time.time() - stamp)
    ago = f"{age / 86400:.0f}d" if age >= 86400 else f"{age / 3600:.0f}h" if age >= 3600 else f"{age / 60:.0f}m"
    return f"{time.strftime('%Y-%m-%d %H:%M', time.localtime(stamp))} ({ago} ago)"


def _rich(stream: IO[str], plain: bool) -> bool:
    env = os.environ
    return not (plain or env.get("NO_COLOR") or env.get("TERM") == "dumb") and stream.isatty()
