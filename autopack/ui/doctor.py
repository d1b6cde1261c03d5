"""``autopack doctor``'s output: a rich table with ✓/✗ on a terminal, plain lines where
the output is not one (a pipe, CI, ``--plain``, ``NO_COLOR``), or ``--json``: the checks
in the shape ``SCHEMA`` gives. Every text is redacted and made inert before it is printed
(``autopack.printable``)."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import IO, Any

from autopack.doctor import FAIL, OK, SKIP, WARN, Check, exit_code
from autopack.printable import clean

KIND = "autopack-doctor"
VERSION = 1
MARKS = {OK: "✓", WARN: "!", SKIP: "–", FAIL: "✗"}
_ASCII = {OK: "ok", WARN: "!!", SKIP: "--", FAIL: "XX"}  # a console that cannot show the marks
_STYLES = {OK: "green", WARN: "yellow", SKIP: "dim", FAIL: "bold red"}

SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "autopack doctor --json",
    "type": "object",
    "required": ["kind", "version", "ok", "exitCode", "checks"],
    "additionalProperties": False,
    "properties": {
        "kind": {"const": KIND},
        "version": {"const": VERSION},
        "ok": {"type": "boolean"},
        "exitCode": {"enum": [0, 2]},
        "checks": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["group", "name", "status", "detail", "fix"],
                "additionalProperties": False,
                "properties": {
                    "group": {"enum": ["settings", "engine", "maven", "source", "cache", "push"]},
                    "name": {"type": "string", "minLength": 1},
                    "status": {"enum": [OK, WARN, SKIP, FAIL]},
                    "detail": {"type": "string"},
                    "fix": {"type": "string"},
                },
            },
        },
    },
}


def to_dict(checks: Sequence[Check]) -> dict[str, Any]:
    code = exit_code(tuple(checks))
    rows = [{"group": c.group, "name": clean(c.name), "status": c.status, "detail": clean(c.detail), "fix": clean(c.fix)} for c in checks]
    return {"kind": KIND, "version": VERSION, "ok": code == 0, "exitCode": code, "checks": rows}


def write_json(checks: Sequence[Check], stream: IO[str]) -> None:
    stream.write(json.dumps(to_dict(checks), indent=2, ensure_ascii=False) + "\n")
    stream.flush()


def render(checks: Sequence[Check], stream: IO[str], plain: bool) -> None:
    """A table on a terminal that has not asked for plain output, else plain lines."""
    env = os.environ
    if plain or env.get("NO_COLOR") or env.get("TERM") == "dumb" or not stream.isatty():
        _plain(checks, stream)
    else:
        _table(checks, stream)
    stream.flush()


def _marks(stream: IO[str]) -> dict[str, str]:
    try:
        "".join(MARKS.values()).encode(getattr(stream, "encoding", None) or "utf-8")
    except (UnicodeEncodeError, LookupError):
        return _ASCII
    return MARKS


def _plain(checks: Sequence[Check], stream: IO[str]) -> None:
    marks = _marks(stream)
    width = max((len(c.name) for c in checks), default=0)
    for c in checks:
        stream.write(f"{marks[c.status]} {clean(c.name):<{width}}  {clean(c.detail)}\n")
        if c.fix and c.status in (WARN, FAIL):
            stream.write(f"  {'':<{width}}  fix: {clean(c.fix)}\n")
    stream.write(_verdict(checks) + "\n")


def _table(checks: Sequence[Check], stream: IO[str]) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    marks = _marks(stream)
    table = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
    table.add_column("")
    table.add_column("check", overflow="fold", no_wrap=True)
    table.add_column("result", overflow="fold", ratio=1)
    for c in checks:
        # Text, never markup: a registry's or a tool's words are printed as they are.
        result = Text(clean(c.detail))
        if c.fix and c.status in (WARN, FAIL):
            result.append("\nfix: " + clean(c.fix), style=_STYLES[c.status])
        table.add_row(Text(marks[c.status], style=_STYLES[c.status]), Text(clean(c.name)), result)
    console = Console(file=stream, highlight=False, soft_wrap=False)
    console.print(table)
    console.print(Text(_verdict(checks), style="bold red" if exit_code(tuple(checks)) else "bold green"))


def _verdict(checks: Sequence[Check]) -> str:
    failed = [c.name for c in checks if c.status == FAIL]
    if failed:
        return f"{len(failed)} check(s) failed: {', '.join(failed)} — a build would not work as configured (exit 2)"
    warned = sum(c.status == WARN for c in checks)
    return "every check passed" + (f" ({warned} warning(s))" if warned else "")
