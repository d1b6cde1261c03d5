"""The README's settings reference (``scripts/config-reference``) says what the code does:
the table is the generated one, it has a row with a meaning for every setting, and each
option, ``AUTOPACK_*`` variable and ``autopack.toml`` key it names really sets that setting."""

from __future__ import annotations

import dataclasses
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from autopack import cli, reference
from autopack import settings as settings_module
from autopack.errors import UsageError
from autopack.settings import Settings, resolve, with_project_file

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
SCRIPT = ROOT / "scripts" / "config-reference"
FIELDS = [f.name for f in dataclasses.fields(Settings) if f.name not in ("given", "config_file")]
DEFAULTS = Settings()


def readme_block() -> str:
    text = README.read_text(encoding="utf-8")
    start, end = reference.current(text)
    return text[start:end]


def table() -> dict[str, dict[str, str]]:
    """The README's rows: setting → its cells by column."""
    names = ("setting", "option", "environment", "file", "default", "meaning")
    rows = {}
    for line in readme_block().splitlines():
        if line.startswith("| `"):
            cells = [c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]]
            assert len(cells) == len(names), f"a row with {len(cells)} cells: {line}"
            rows[cells[0].strip("`")] = dict(zip(names, cells, strict=True))
    return rows


def test_the_readme_holds_the_generated_table() -> None:
    assert readme_block() == reference.render(), "README.md's settings reference is out of date: run scripts/config-reference"


def test_every_setting_has_one_row_with_a_meaning() -> None:
    rows = table()
    assert list(rows) == FIELDS  # the model's order; a new field without a row fails
    for name, row in rows.items():
        assert len(row["meaning"]) > 20, f"{name}: meaning '{row['meaning']}'"
        assert row["environment"].startswith("`AUTOPACK_"), name


def test_a_setting_without_an_option_or_a_description_stops_the_generator() -> None:
    bare = typer.Typer()

    @bare.command()
    def nothing() -> None:
        """No options at all."""

    with pytest.raises(UsageError, match="setting 'source' has no description"):
        reference.render(typer.main.get_command(bare))


def test_the_script_checks_and_rewrites_the_readme(tmp_path: Path) -> None:
    assert subprocess.run([str(SCRIPT), "--check"], capture_output=True, text=True).returncode == 0

    copy = tmp_path / "README.md"
    drifted = README.read_text(encoding="utf-8").replace("| `skip_tests` |", "| `skip_tests` | `--skip` |", 1)
    copy.write_text(drifted, encoding="utf-8")
    python = ROOT / ".venv" / "bin" / "python"
    check = subprocess.run([str(python), "-m", "autopack.reference", str(copy), "--check"], capture_output=True, text=True)
    assert check.returncode == 1
    assert check.stderr.count("\n") == 1 and "run scripts/config-reference" in check.stderr
    assert copy.read_text(encoding="utf-8") == drifted  # --check writes nothing

    fixed = subprocess.run([str(python), "-m", "autopack.reference", str(copy)], capture_output=True, text=True)
    assert fixed.returncode == 0 and "updated" in fixed.stdout
    assert copy.read_text(encoding="utf-8") == README.read_text(encoding="utf-8")

    copy.write_text("# no markers\n", encoding="utf-8")
    missing = subprocess.run([str(python), "-m", "autopack.reference", str(copy), "--check"], capture_output=True, text=True)
    assert missing.returncode == 2
    assert "settings-reference:start" in missing.stderr and "## Configuration" in missing.stderr


# -- the environment column ---------------------------------------------------------------

ENV_CELL = re.compile(r"^`(AUTOPACK_[A-Z_]+)`(?: \(([\w/]+)\))?$")


def env_value(name: str, kind: str | None, tmp_path: Path) -> tuple[str, Any]:
    """A value in the format the table names, and what the setting should then hold."""
    if kind == "on/off":
        return ("0", False) if getattr(DEFAULTS, name) else ("yes", True)
    if kind == "number":
        return "5", 5
    if kind == "list":
        return "a1 a2,a3", ("a1", "a2", "a3")
    if kind == "pairs":
        return "k1=v1, k2=v2", {"k1": "v1", "k2": "v2"}
    if kind == "path":
        return str(tmp_path / "from-env"), tmp_path / "from-env"
    assert kind is None, f"{name}: no such format '{kind}'"
    return f"env-{name}", f"env-{name}"


@pytest.mark.parametrize("name", FIELDS)
def test_each_variable_in_the_table_sets_its_setting(name: str, tmp_path: Path) -> None:
    match = ENV_CELL.match(table()[name]["environment"])
    assert match, table()[name]["environment"]
    variable, kind = match.groups()
    raw, expected = env_value(name, kind, tmp_path)
    cli = {} if name == "source" else {"source": str(tmp_path)}

    settings = resolve(cli, environ={variable: raw})

    assert getattr(settings, name) == expected
    assert name in settings.given


@pytest.mark.parametrize("name", sorted(settings_module.ENV_NAMES))
def test_a_renamed_setting_ignores_its_plain_name(name: str, tmp_path: Path) -> None:
    """AUTOPACK_IMAGE, _TAGS and _REVISION are the dotenv report's outputs, never read back."""
    plain = "AUTOPACK_" + name.upper()
    assert f"`{plain}`" != table()[name]["environment"].split(" ")[0]
    assert getattr(resolve({"source": str(tmp_path)}, environ={plain: "1.0"}), name) == getattr(DEFAULTS, name)


# -- the autopack.toml column -------------------------------------------------------------

FILE_CELL = re.compile(r"^`(\w+)` \(([\w/]+)((?:, [\w ]+)*)\)$")


def toml_value(name: str, kind: str) -> tuple[str, Any]:
    if kind == "true/false":
        return ("false", False) if getattr(DEFAULTS, name) else ("true", True)
    if kind == "integer":
        return "5", 5
    if kind == "array":
        return '["a1", "a2"]', ("a1", "a2")
    if kind == "table":
        return '{ k1 = "v1", k2 = "v2" }', {"k1": "v1", "k2": "v2"}
    if kind == "path":
        return '"sub/from-file"', Path("sub/from-file")
    assert kind == "string", f"{name}: no such kind '{kind}'"
    return f'"file-{name}"', f"file-{name}"


def file_rows() -> list[str]:
    return [name for name, row in table().items() if row["file"] != "not in a file"]


@pytest.mark.parametrize("name", file_rows())
def test_each_key_in_the_table_is_read_from_autopack_toml(name: str, tmp_path: Path) -> None:
    match = FILE_CELL.match(table()[name]["file"])
    assert match, table()[name]["file"]
    key, kind, notes = match.groups()
    text, expected = toml_value(name, kind)
    if "relative to the file" in notes:
        expected = {k: str(tmp_path / v) for k, v in expected.items()} if kind == "table" else tmp_path / expected
    (tmp_path / "autopack.toml").write_text(f"{key.replace('_', '-')} = {text}\n", encoding="utf-8")

    settings = resolve({"source": str(tmp_path)}, environ={})

    assert getattr(settings, name) == expected
    assert settings.config_file == tmp_path / "autopack.toml" and name not in settings.given


@pytest.mark.parametrize("name", file_rows())
def test_local_project_only_is_what_a_checked_out_file_may_not_set(name: str, tmp_path: Path) -> None:
    kind = FILE_CELL.match(table()[name]["file"]).group(2)  # type: ignore[union-attr]
    text, expected = toml_value(name, kind)
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    (checkout / "autopack.toml").write_text(f"{name} = {text}\n", encoding="utf-8")
    before = resolve({"source": "https://git.example.com/team/app.git"}, environ={})

    after = with_project_file(before, checkout)

    if "local project only" in table()[name]["file"]:
        assert getattr(after, name) == getattr(before, name)
    else:
        assert getattr(after, name) not in (getattr(before, name), None), f"{name} from a checked-out autopack.toml"


@pytest.mark.parametrize("name", [name for name, row in table().items() if row["file"] == "not in a file"])
def test_not_in_a_file_is_refused_in_autopack_toml(name: str, tmp_path: Path) -> None:
    (tmp_path / "autopack.toml").write_text(f'{name} = "x"\n', encoding="utf-8")
    with pytest.raises(UsageError, match=f"unknown setting '{name}'"):
        resolve({"source": str(tmp_path)}, environ={})


# -- the option column --------------------------------------------------------------------

# Options of a command that writes the result itself: the same meaning, not read from settings.
NOT_A_SETTING_HERE = {("checkout", "result_file"), ("push", "result_file")}


def option_args(param: Any, name: str, tmp_path: Path) -> tuple[list[str], Any]:
    """Command-line words for one parameter, and the setting's value they should give."""
    kind = settings_module._kind(name)
    if param.param_type_name == "argument":
        return [str(tmp_path)], str(tmp_path)
    flag = param.opts[-1]
    if kind is bool:
        if getattr(DEFAULTS, name) and param.secondary_opts:
            return [param.secondary_opts[-1]], False
        return [flag], True
    if kind is tuple:
        return [flag, "x1", flag, "x2"], ("x1", "x2")
    if kind is dict and "src=" in (param.metavar or ""):
        (tmp_path / "s1").write_text("secret file\n")
        return [flag, f"id=s1,src={tmp_path / 's1'}"], {"s1": str(tmp_path / "s1")}
    if kind is dict:
        return [flag, "k1=v1", flag, "k2=v2"], {"k1": "v1", "k2": "v2"}
    if kind is Path:
        return [flag, str(tmp_path / f"opt-{name}")], tmp_path / f"opt-{name}"
    if kind is int:
        return [flag, "2"], 2
    return [flag, f"opt-{name}"], f"opt-{name}"


def settings_commands() -> list[str]:
    return sorted({use.command for its in reference.uses().values() for use in its})


@pytest.mark.parametrize("command", settings_commands())
def test_each_option_in_the_table_sets_its_setting(command: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The real command line, every option of the table given at once: the settings
    ``resolve`` makes from them are recorded, then the run is stopped there (nothing is
    checked out or built)."""
    for variable in [v for v in os.environ if v.startswith("AUTOPACK_")]:
        monkeypatch.delenv(variable)  # e.g. the session's AUTOPACK_FORCE=1 would hide --force
    tmp_path = tmp_path.resolve()
    options, arguments = reference.parameter_names()
    click_command = dict(reference.commands())[command]
    args: list[str] = []
    expected: dict[str, Any] = {}
    for param in click_command.params:
        name = (arguments if param.param_type_name == "argument" else options).get(param.name)
        if name:
            words, expected[name] = option_args(param, name, tmp_path)
            args += words
        elif param.param_type_name == "argument":
            args.append(str(tmp_path / f"arg-{param.name}"))
    seen: list[Settings] = []
    real = settings_module.resolve

    def recording(*a: Any, **k: Any) -> Settings:
        seen.append(real(*a, **k))
        raise UsageError("stopped after the settings were resolved")

    monkeypatch.setattr(settings_module, "resolve", recording)

    run = CliRunner().invoke(cli.app, [*command.split(), *args])

    assert seen, f"autopack {command} did not resolve settings: exit {run.exit_code}, {run.output}"
    assert run.exit_code == 2, run.output
    wrong = {name: (getattr(seen[0], name), value) for name, value in expected.items() if getattr(seen[0], name) != value and (command, name) not in NOT_A_SETTING_HERE}
    assert wrong == {}, f"autopack {command}: setting → (what the option gave, what the table says it sets)"
    assert {name for name, row in table().items() if command in commands_named(row["option"])} == set(expected)


def commands_named(cell: str) -> set[str]:
    """``-t, --tag TEMPLATE`: build, plan<br>…`` → {"build", "plan", …}"""
    return {name.strip() for part in cell.split("<br>") if ": " in part for name in part.rpartition(": ")[2].split(",")}


def test_the_option_cells_name_real_commands() -> None:
    known = {name for name, _ in reference.commands()}
    named = set().union(*(commands_named(row["option"]) for row in table().values()))
    assert named and named <= known, named - known
