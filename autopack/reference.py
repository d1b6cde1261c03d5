"""The README's settings reference, generated from the settings model and the commands'
options: one row per ``Settings`` field with its option(s), ``AUTOPACK_*`` variable,
``autopack.toml`` key, default and meaning.

``python -m autopack.reference README.md`` rewrites the table between the two marker
comments; ``--check`` only compares (exit 1 when they differ). Run by ``scripts/config-reference``
and ``tests/test_reference.py``, never at ``--help`` time.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from autopack import settings
from autopack.errors import UsageError

START = "<!-- settings-reference:start -->"
END = "<!-- settings-reference:end -->"
REGENERATE = "scripts/config-reference"

# Commands whose options are named like settings without being them; every other command's
# options that match a field are settings (tests/test_reference.py runs each such command and
# checks that they land in its settings).
NOT_SETTINGS = {"init": "its --image, --module and --force say what to write into the project's files"}

_ENV_KIND = {bool: "on/off", int: "number", tuple: "list", dict: "pairs", Path: "path", str: ""}
_FILE_KIND = {bool: "true/false", int: "integer", tuple: "array", dict: "table", Path: "path", str: "string"}

LEGEND = (
    'Formats. Environment: *list* — values separated by spaces or commas (`AUTOPACK_GOALS="clean verify"`);',
    '*pairs* — `KEY=VALUE` separated by commas (`AUTOPACK_DEFINES="a=1,b=2"`);',
    "*on/off* — `1`, `true`, `yes` or `on` is on, any other value off (`AUTOPACK_SKIP_TESTS=0`).",
    '`autopack.toml`: an *array* of strings (a single string is one item), a *table* of `KEY = "VALUE"`,',
    "*true/false*, an *integer*, a *string*, a *path*; *relative to the file*: a relative path is taken from the file's folder;",
    "*local project only*: read from the project's file when the project is on disk, never from a checked-out one;",
    "*not in a file*: options and environment only (where to check out from is known before the checkout).",
    "A default of — means none: the option's meaning says what happens then.",
)


@dataclass(frozen=True)
class Use:
    """One command-line parameter that sets a setting, in one command."""

    command: str
    names: tuple[str, ...]  # ("-t", "--tag"), ("--skip-tests", "--run-tests"), ("SOURCE",)
    flags: str  # as the help shows it: ``-t, --tag TEMPLATE``, ``--skip-tests / --run-tests``, ``SOURCE``
    help: str
    argument: bool


def parameter_names() -> tuple[dict[str, str], dict[str, str]]:
    """(option parameter → setting, argument parameter → setting), from the fields' metadata:
    an option named like its field needs none; a positional argument sets a field only
    where its metadata says so (``autopack push IMAGE`` is not the ``image`` setting)."""
    options: dict[str, str] = {}
    arguments: dict[str, str] = {}
    for f in settings_fields():
        if "argument" in f.metadata:
            arguments[f.metadata["argument"]] = f.name
        options[f.metadata.get("option", f.name)] = f.name
    return options, arguments


def settings_fields() -> list[dataclasses.Field[Any]]:
    return [f for f in dataclasses.fields(settings.Settings) if f.name in settings._FIELDS]


def commands(command: Any = None, path: str = "") -> Iterator[tuple[str, Any]]:
    """Every command of the app, nested groups included, as ("cache prune", click command)."""
    if command is None:
        import typer

        from autopack import cli

        command = typer.main.get_command(cli.app)
    for name, sub in getattr(command, "commands", {}).items():
        full = f"{path} {name}".strip()
        if getattr(sub, "commands", None):
            yield from commands(sub, full)
        else:
            yield full, sub


def uses(command: Any = None) -> dict[str, list[Use]]:
    """setting → the parameters that set it, in the app's command order."""
    options, arguments = parameter_names()
    found: dict[str, list[Use]] = {}
    for name, sub in commands(command):
        if name in NOT_SETTINGS:
            continue
        for param in sub.params:
            argument = param.param_type_name == "argument"
            setting = (arguments if argument else options).get(param.name)
            if setting:
                names = (param.human_readable_name,) if argument else (*param.opts, *param.secondary_opts)
                found.setdefault(setting, []).append(Use(name, names, _flags(param, argument), _plain(getattr(param, "help", None) or ""), argument))
    return found


def _flags(param: Any, argument: bool) -> str:
    if argument:
        return str(param.human_readable_name)
    text = ", ".join(param.opts)
    if param.secondary_opts:
        return f"{text} / {', '.join(param.secondary_opts)}"
    if not getattr(param, "is_flag", False):
        text += " " + (param.metavar or param.type.name.upper())
    return text


def _plain(help_text: str) -> str:
    from rich.text import Text  # the help is rich markup (\[ for a bracket)

    return " ".join(Text.from_markup(help_text).plain.split())


def rows(command: Any = None) -> list[list[str]]:
    """The table's rows; a field that no option sets and whose metadata has no ``help`` is
    an error, so that no setting goes undocumented."""
    found = uses(command)
    table = []
    for f in settings_fields():
        its = found.get(f.name, [])
        meaning = its[0].help if its else f.metadata.get("help", "")
        if not meaning:
            raise UsageError(f"setting '{f.name}' has no description: no option with a help text sets it, and its field has no metadata 'help'", f"add metadata={{'help': …}} to its field in autopack/settings.py, then run {REGENERATE}")
        table.append([_code(f.name), _option_cell(its), _env_cell(f.name), _file_cell(f.name), _default_cell(f), _md(meaning)])
    return table


def _option_cell(its: list[Use]) -> str:
    if not its:
        return "—"
    shown: dict[tuple[str, ...], list[str]] = {}  # the same flags in several commands: one entry, the first one's metavar
    for use in its:
        shown.setdefault(use.names, [_code(use.flags) + (" (argument)" if use.argument else "")]).append(use.command)
    return "<br>".join(f"{flags}: {', '.join(names)}" for flags, *names in shown.values())


def _env_cell(name: str) -> str:
    kind = _ENV_KIND[settings._kind(name)]
    return _code(settings.env_name(name)) + (f" ({kind})" if kind else "")


def _file_cell(name: str) -> str:
    if name in settings._SOURCE_ONLY:
        return "not in a file"
    notes = [_FILE_KIND[settings._kind(name)]]
    if name in settings._FILE_RELATIVE:
        notes.append("relative to the file")
    if name in settings._BEFORE_CHECKOUT:
        notes.append("local project only")
    return f"{_code(name)} ({', '.join(notes)})"


def _default_cell(f: dataclasses.Field[Any]) -> str:
    value = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
    return "—" if value is None or value == () or value == {} else _code(toml_value(value))


def toml_value(value: Any) -> str:
    """A default as a user writes it in autopack.toml."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, tuple):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + " }"
    return json.dumps(str(value))


def _code(text: str) -> str:
    return "`" + text.replace("|", "\\|") + "`"


# Names a reader looks for, set in code; the rest escaped so that Markdown shows it as written
# (a <password> would be an HTML tag, ~/ and * pairs strike and emphasise, | ends a cell).
_CODE_WORDS = re.compile(r"(?<![\w`-])(--[a-z][a-z0-9-]*(?:=[^\s;)]*[^\s;),.])?|\$[A-Z_][A-Z0-9_]*)")


def _md(text: str) -> str:
    for char in "\\|*<~`":
        text = text.replace(char, "\\" + char)
    return _CODE_WORDS.sub(lambda m: f"`{m.group(1)}`", text)


def render(command: Any = None) -> str:
    """The text between the markers, markers included."""
    header = ["setting", "option: commands", "environment", "`autopack.toml`", "default", "meaning"]
    lines = [
        START,
        f"<!-- Generated by {REGENERATE} from autopack/settings.py and the commands' options: change those, then run it. -->",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
        *("| " + " | ".join(row) + " |" for row in rows(command)),
        "",
        *LEGEND,
        END,
    ]
    return "\n".join(lines)


def current(readme: str) -> tuple[int, int]:
    """Where the generated block is: (start of START, end of END)."""
    start, end = readme.find(START), readme.find(END)
    if start < 0 or end < start:
        raise UsageError(f"the README has no '{START}' … '{END}' block", "put the two marker lines in its '## Configuration' section")
    return start, end + len(END)


def updated(readme: str, command: Any = None) -> str:
    start, end = current(readme)
    return readme[:start] + render(command) + readme[end:]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=REGENERATE, description="Write the settings reference into the README (between its marker comments).")
    parser.add_argument("readme", nargs="?", type=Path, default=Path("README.md"), help="the README (default: ./README.md)")
    parser.add_argument("--check", action="store_true", help="only compare: exit 1 when the README's table is out of date")
    args = parser.parse_args(argv)
    try:
        text = args.readme.read_text(encoding="utf-8")
        new = updated(text)
    except OSError as e:
        sys.stderr.write(f"config-reference: error: cannot read {args.readme}: {e.strerror} — give the README's path\n")
        return 2
    except UsageError as e:
        sys.stderr.write(f"config-reference: error: {e.one_line()}\n")
        return 2
    if args.check:
        if new != text:
            sys.stderr.write(f"config-reference: {args.readme}'s settings reference differs from the settings model and the options — run {REGENERATE}\n")
            return 1
        return 0
    if new != text:
        args.readme.write_text(new, encoding="utf-8")
        sys.stdout.write(f"{args.readme}: settings reference updated\n")
    else:
        sys.stdout.write(f"{args.readme}: settings reference up to date\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
