"""A RUN-less Dockerfile, read as the direct builder (``autopack/engine/direct.py``) executes
it: stages of typed steps, every word substituted as ``docker build`` substitutes it (ARG
scoping, ENV, the base image's ENV, BuildKit's automatic platform ARGs). An instruction the
direct builder cannot execute (RUN, a remote ADD, …) is ``Unsupported``, naming it and its
line: the builder then says so and an engine builds the image instead. A Dockerfile that
``docker build`` itself would refuse (a bad substitution, ``FROM`` with two names, a missing
``--target`` stage) is ``Invalid``, a ``ValueError``.

The rules are BuildKit's (dockerfile frontend 1.x, ``frontend/dockerfile`` in moby/buildkit):
the shell lexer, the flag and word splitting, and the image config each instruction leaves.
"""

from __future__ import annotations

import copy
import io
import json
import posixpath
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import TypeVar

from dockerfile_parse import DockerfileParser

from autopack.image.shell_lexer import BadSubstitution, Lexer


class Unsupported(Exception):
    """An instruction the direct builder cannot execute: ``RUN (line 7): needs a container``."""

    def __init__(self, instruction: str, line: int, why: str) -> None:
        super().__init__(f"{instruction} (line {line}): {why}")
        self.instruction, self.line, self.why = instruction, line, why


class Invalid(ValueError):
    """A Dockerfile ``docker build`` would refuse too: ``ENV (line 3): ENV must have two arguments``.
    Not a reason to try an engine instead, since it fails the same way there."""

    def __init__(self, instruction: str, line: int, why: str) -> None:
        super().__init__(f"{instruction} (line {line}): {why}")
        self.instruction, self.line, self.why = instruction, line, why


@dataclass(frozen=True)
class Copy:
    """COPY or ADD (``add``) of local files; every word substituted already."""

    sources: tuple[str, ...]  # relative to the context, or (with ``from_stage``) paths in that stage
    dest: str  # as written (absolute, or relative to ``workdir``); a trailing "/" kept
    workdir: str  # the WORKDIR in force ("/" when none)
    from_stage: int | None = None  # COPY --from: the index of the stage (in ``read``'s tuple) it reads
    chown: str | None = None  # "user[:group]", names or numbers
    chmod: str | None = None  # octal, e.g. "755"
    add: bool = False  # ADD: a local tar archive is unpacked
    line: int = 0
    text: str = ""  # the instruction as written, for the layer's history


@dataclass(frozen=True)
class Stage:
    """One FROM … up to the next FROM."""

    index: int
    name: str | None  # "AS name", lower-case
    base: str  # the FROM image, substituted; "scratch"; or an earlier stage's name
    base_stage: int | None  # the earlier stage it builds on, when ``base`` names one
    platform: str | None  # FROM --platform=…, substituted
    steps: tuple[Step, ...]  # every instruction after FROM, in order
    config: Mapping[str, object] = field(
        default_factory=dict
    )  # the image config's "config" part this stage ends with (Env, Entrypoint, Cmd, WorkingDir, User, ExposedPorts, Labels, Volumes, StopSignal, Healthcheck, Shell), the base's included
    author: str | None = None  # MAINTAINER, which docker keeps as the image's "author"


@dataclass(frozen=True)
class Workdir:
    path: str  # absolute
    line: int = 0
    text: str = ""


@dataclass(frozen=True)
class Meta:
    """An instruction that changes only the config (ENV, LABEL, USER, EXPOSE, ENTRYPOINT, CMD,
    VOLUME, STOPSIGNAL, HEALTHCHECK, SHELL, ARG, MAINTAINER): an empty layer in the history."""

    line: int = 0
    text: str = ""


Step = Copy | Workdir | Meta

DEFAULT_SHELL = ("/bin/sh", "-c")
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# BuildKit's image config keeps only these (the OCI fields, then Docker's extension), in this order
CONFIG_KEYS = ("User", "ExposedPorts", "Env", "Entrypoint", "Cmd", "Volumes", "WorkingDir", "Labels", "StopSignal", "ArgsEscaped", "Healthcheck", "OnBuild", "Shell")
_KNOWN = {"ARG", "ENV", "LABEL", "USER", "EXPOSE", "ENTRYPOINT", "CMD", "VOLUME", "STOPSIGNAL", "HEALTHCHECK", "SHELL", "MAINTAINER", "WORKDIR", "COPY", "ADD"}
_UNSUPPORTED = {"RUN": "needs a container to run in", "ONBUILD": "ONBUILD triggers are not recorded by the direct builder"}
_STAGE_NAME = re.compile(r"^[a-z][a-z0-9-_.]*$")
_DIRECTIVE = re.compile(r"^\s*#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$")
_HEREDOC = re.compile(r"^\d*<<")
_REMOTE = re.compile(r"^(?:[a-zA-Z][a-zA-Z0-9+.-]*://|git@|[\w.-]+@[\w.-]+:)")
_DURATION = re.compile(r"(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
_NANOSECONDS = {"ns": 1, "us": 1000, "µs": 1000, "μs": 1000, "ms": 10**6, "s": 10**9, "m": 60 * 10**9, "h": 3600 * 10**9}
_T = TypeVar("_T")
_HEALTH_KEYS = {"interval": "Interval", "timeout": "Timeout", "start-period": "StartPeriod", "start-interval": "StartInterval"}
_FLAGS: dict[str, dict[str, str]] = {  # the flags each instruction takes: name → "string" | "bool" | "unsupported"
    "FROM": {"platform": "string"},
    "COPY": {"from": "string", "chown": "string", "chmod": "string", "link": "bool", "parents": "unsupported", "exclude": "unsupported"},
    "ADD": {"chown": "string", "chmod": "string", "link": "bool", "checksum": "unsupported", "keep-git-dir": "unsupported", "unpack": "unsupported", "exclude": "unsupported"},
    "HEALTHCHECK": {"interval": "string", "timeout": "string", "start-period": "string", "start-interval": "string", "retries": "string"},
}


def read(path: Path, build_args: Mapping[str, str], target: str | None, platform: str, base_config: Callable[[str, str | None], Mapping[str, object]]) -> tuple[Stage, ...]:
    """The stages of the Dockerfile at ``path`` the final stage (``target``, else the last)
    needs, in order. ``base_config(name, platform)`` gives an external base image's config
    part (for its Env and OnBuild); ``platform`` is the FROM's ``--platform``, None for the
    build's own. Raises ``Unsupported``, ``Invalid``, and ``ValueError`` for a ``target`` no
    stage is named."""
    escape, lines = _lines(path)
    lexer = Lexer(escape)
    raw = _stages(lines, lexer, build_args, target, platform)
    wanted = target.lower() if target else None
    last = next((i for i, s in enumerate(raw) if s.name == wanted), None) if wanted else len(raw) - 1
    if last is None:
        names = ", ".join(s.name for s in raw if s.name) or "none"
        raise ValueError(f"the Dockerfile has no stage named {target!r} (its stages: {names})")
    order = _needed(raw, last)
    return _Builder(raw, lexer, build_args, platform, base_config).build(order)


@dataclass
class _Line:
    instruction: str
    line: int
    value: str
    text: str


@dataclass
class _RawStage:
    index: int
    name: str | None
    base: str
    base_stage: int | None
    platform: str | None
    line: _Line
    body: list[_Line]
    globals: dict[str, str]
    sources: dict[int, str | int] = field(default_factory=dict)  # COPY --from, by line: a stage's index, or an image


def _lines(path: Path) -> tuple[str, list[_Line]]:
    """The instructions, continuation lines joined and comments dropped (dockerfile-parse), and
    the escape token. The text is handed over as bytes, since dockerfile-parse takes a ``path``
    not ending in "Dockerfile" for a directory, and with each empty line inside a continuation
    made a comment: docker skips such a line, dockerfile-parse would end the instruction there."""
    lines = path.read_bytes().decode("utf-8", "replace").splitlines(keepends=True)
    escape = "\\"
    for text in lines:
        m = _DIRECTIVE.match(text)
        if not m:
            break
        if m[1].lower() == "escape" and m[2] in ("\\", "`"):
            escape = m[2]
    continuing = False
    for i, text in enumerate(lines):
        if continuing and not text.strip():
            lines[i] = "#\n"
        elif not text.lstrip().startswith("#"):
            continuing = text.rstrip().endswith(escape)
    structure = DockerfileParser(fileobj=io.BytesIO("".join(lines).encode()), cache_content=True).structure
    found = []
    for item in structure:
        if item["instruction"] == "COMMENT":
            continue
        keyword = item["content"].split(None, 1)[0]
        value = item["value"].strip()
        found.append(_Line(item["instruction"], item["startline"] + 1, value, f"{keyword} {value}".strip()))
    return escape, found


def _stages(lines: list[_Line], lexer: Lexer, build_args: Mapping[str, str], target: str | None, platform: str) -> list[_RawStage]:
    """The stages as written, each FROM substituted with the global ARGs (those before the
    first FROM, and BuildKit's platform ARGs)."""
    names = [_from_words(line)[2] for line in lines if line.instruction == "FROM"]
    if not names:
        raise Invalid("FROM", 1, "the Dockerfile has no FROM instruction")
    globals_ = _platform_args(platform, build_args, target or names[-1] or "default")
    stages: list[_RawStage] = []
    for line in lines:
        if line.instruction == "FROM":
            stages.append(_from(line, len(stages), stages, lexer, globals_))
        elif stages:
            stages[-1].body.append(line)
        elif line.instruction == "ARG":
            for key, default in _arg_pairs(line, lexer.escape):
                if key in build_args:
                    globals_[key] = build_args[key]
                elif default is not None:
                    globals_[key] = _expand(lexer.word, default, globals_, line)
        else:
            raise Invalid(line.instruction, line.line, "only ARG may come before the first FROM")
    for stage in stages:
        _scan_sources(stage, stages)
    return stages


def _from_words(line: _Line) -> tuple[dict[str, str], str, str | None]:
    flags, rest = _split_flags(line.value, "\\")
    words = rest.split()
    if len(words) == 3 and words[1].lower() == "as":
        name = words[2].lower()
        if not _STAGE_NAME.match(name):
            raise Invalid("FROM", line.line, f"invalid name for build stage: {words[2]!r}, name can't start with a number or contain symbols")
        return _parse_flags(line, flags), words[0], name
    if len(words) != 1:
        raise Invalid("FROM", line.line, "FROM requires either one or three arguments")
    return _parse_flags(line, flags), words[0], None


def _from(line: _Line, index: int, earlier: list[_RawStage], lexer: Lexer, globals_: dict[str, str]) -> _RawStage:
    flags, image, name = _from_words(line)
    base = _expand(lexer.word, image, globals_, line)
    if not base:
        raise Invalid("FROM", line.line, f"base name ({image}) should not be blank")
    platform = None
    if "platform" in flags:
        platform = _expand(lexer.word, flags["platform"], globals_, line)
        if not platform:
            raise Invalid("FROM", line.line, f"empty platform value from expression {flags['platform']}")
    base_stage = next((s.index for s in reversed(earlier) if s.name == base.lower()), None)
    return _RawStage(index, name, base, base_stage, platform, line, [], dict(globals_))


def _scan_sources(stage: _RawStage, stages: list[_RawStage]) -> None:
    """COPY --from, resolved before any stage is built, as BuildKit does: it decides which
    stages the target needs. The value is not substituted (BuildKit refuses a variable)."""
    for line in stage.body:
        if line.instruction != "COPY":
            continue
        flags, _ = _split_flags(line.value, "\\")
        source = next((f.partition("=")[2] for f in flags if f.startswith("--from=")), None)
        if source is None:
            continue
        if Lexer("\\").word(source, {}) != source:
            raise Invalid("COPY", line.line, "variable expansion is not supported for --from, define a new stage with FROM using ARG from global scope as a workaround")
        if source.isdigit() or (source.startswith("-") and source[1:].isdigit()):
            index = int(source)
            if not 0 <= index < len(stages):
                raise Invalid("COPY", line.line, f"invalid stage index {index}")
            found: int | None = index
        else:
            found = next((s.index for s in stages if s.name == source.lower()), None)
        stage.sources[line.line] = source if found is None else found


def _needed(stages: list[_RawStage], last: int) -> list[_RawStage]:
    keep: set[int] = set()
    todo = [last]
    while todo:
        i = todo.pop()
        if i in keep:
            continue
        keep.add(i)
        stage = stages[i]
        todo.extend(s for s in [stage.base_stage, *stage.sources.values()] if isinstance(s, int))
    return [s for s in stages if s.index in keep]


def _platform_args(platform: str, build_args: Mapping[str, str], target: str) -> dict[str, str]:
    """BuildKit's automatic ARGs, from the platform normalised as containerd does
    ("linux/arm64/v8" is "linux/arm64"); the build platform is taken to be the target's."""
    os_, arch, variant = _normalise_platform(platform)
    formatted = "/".join(p for p in (os_, arch, variant) if p)
    values = {"BUILDPLATFORM": formatted, "BUILDOS": os_, "BUILDOSVERSION": "", "BUILDARCH": arch, "BUILDVARIANT": variant}
    values |= {"TARGETPLATFORM": formatted, "TARGETOS": os_, "TARGETOSVERSION": "", "TARGETARCH": arch, "TARGETVARIANT": variant, "TARGETSTAGE": target}
    return {k: build_args.get(k, v) for k, v in values.items()}


def _normalise_platform(platform: str) -> tuple[str, str, str]:
    parts = platform.lower().split("/") + ["", ""]
    os_, arch, variant = parts[0] or "linux", parts[1], parts[2]
    if arch == "i386":
        arch, variant = "386", ""
    elif arch in ("x86_64", "x86-64", "amd64"):
        arch, variant = "amd64", "" if variant == "v1" else variant
    elif arch in ("aarch64", "arm64"):
        arch = "arm64"
        variant = {"8": "", "v8": "", "v8.0": "", "9": "v9", "9.0": "v9", "v9.0": "v9"}.get(variant, variant)
    elif arch == "armhf":
        arch, variant = "arm", "v7"
    elif arch == "armel":
        arch, variant = "arm", "v6"
    elif arch == "arm":
        variant = {"": "v7", "7": "v7", "5": "v5", "6": "v6", "8": "v8"}.get(variant, variant)
    return os_, arch, variant


class _Builder:
    """Each needed stage's steps and config, in order; base images asked for once each."""

    def __init__(self, raw: list[_RawStage], lexer: Lexer, build_args: Mapping[str, str], platform: str, base_config: Callable[[str, str | None], Mapping[str, object]]) -> None:
        self.raw, self.lexer, self.build_args, self.base_config = raw, lexer, build_args, base_config
        self.os = _normalise_platform(platform)[0]
        self.stages: list[Stage] = []
        self.envs: list[dict[str, str]] = []  # each built stage's substitution env as it ended (its ARGs included)
        self.index: dict[int, int] = {}  # raw index → index in the result
        self.images: dict[str, int] = {}  # COPY --from=<image> → its implicit stage
        self.configs: dict[tuple[str, str | None], dict[str, object]] = {}

    def build(self, order: list[_RawStage]) -> tuple[Stage, ...]:
        for stage in order:
            for line_number, source in stage.sources.items():
                if isinstance(source, str) and source not in self.images:
                    line = next(line for line in stage.body if line.line == line_number)
                    config = self._external(source, None, line)
                    self.images[source] = len(self.stages)
                    self.stages.append(Stage(len(self.stages), None, source, None, None, (), _tidy(config)))
                    self.envs.append(_env_of(config))
            self.index[stage.index] = len(self.stages)
            self.stages.append(self._stage(stage))
        return tuple(self.stages)

    def _external(self, name: str, platform: str | None, line: _Line) -> dict[str, object]:
        if name == "scratch":
            return {"Env": [f"PATH={DEFAULT_PATH}"], "WorkingDir": "/"}
        key = (name, platform)
        if key not in self.configs:
            self.configs[key] = copy.deepcopy(dict(self.base_config(name, platform) or {}))
        config = copy.deepcopy(self.configs[key])
        if config.get("OnBuild"):
            raise Unsupported(line.instruction, line.line, "the base image has ONBUILD triggers")
        config.pop("OnBuild", None)
        if self.os != "windows" and not any(str(e).partition("=")[0] == "PATH" for e in _list(config.get("Env"))):
            config["Env"] = [*_list(config.get("Env")), f"PATH={DEFAULT_PATH}"]
        return config

    def _stage(self, raw: _RawStage) -> Stage:
        if raw.base_stage is not None:
            parent = self.index[raw.base_stage]
            config = copy.deepcopy(dict(self.stages[parent].config))
            config.pop("OnBuild", None)
            env = {**self.envs[parent], **_env_of(config)}
        else:
            config = self._external(raw.base, raw.platform, raw.line)
            env = _env_of(config)
        state = _State(self, raw, config, env)
        steps = tuple(state.step(line) for line in raw.body)
        self.envs.append(state.env)
        base_stage = None if raw.base_stage is None else self.index[raw.base_stage]
        return Stage(len(self.stages), raw.name, raw.base, base_stage, raw.platform, steps, _tidy(state.config), state.author)


class _State:
    """One stage being read: its config and the variables its words are substituted with."""

    def __init__(self, builder: _Builder, raw: _RawStage, config: dict[str, object], env: dict[str, str]) -> None:
        self.builder, self.raw, self.config, self.env = builder, raw, config, env
        self.word = builder.lexer.word
        self.escape = builder.lexer.escape
        self.cmd_set = False  # a CMD in this stage: ENTRYPOINT then keeps it (docker clears an inherited one)
        self.author: str | None = None

    def step(self, line: _Line) -> Step:
        name = line.instruction
        if name in _UNSUPPORTED:
            raise Unsupported(name, line.line, _UNSUPPORTED[name])
        if name not in _KNOWN:
            raise Unsupported(name, line.line, "an unknown instruction")
        raw_flags, rest = _split_flags(line.value, self.escape)
        flags = _parse_flags(line, raw_flags)
        if name in ("COPY", "ADD"):
            return self._copy(line, flags, rest)
        if name == "WORKDIR":
            path = self._one(line, rest)
            current = str(self.config.get("WorkingDir") or "/")
            self.config["WorkingDir"] = _clean(posixpath.join(current, path))
            return Workdir(str(self.config["WorkingDir"]), line.line, line.text)
        getattr(self, "_" + name.lower())(line, flags, rest)
        return Meta(line.line, line.text)

    def _one(self, line: _Line, rest: str) -> str:
        if not rest:
            raise Invalid(line.instruction, line.line, f"{line.instruction} requires exactly one argument")
        return _expand(self.word, rest, self.env, line)

    def _copy(self, line: _Line, flags: dict[str, str], rest: str) -> Copy:
        words, is_json = _maybe_json(line, rest)
        if not is_json and any(_HEREDOC.match(w) for w in words):
            raise Unsupported(line.instruction, line.line, "a heredoc")
        if len(words) < 2:
            raise Invalid(line.instruction, line.line, f"{line.instruction} requires at least two arguments, but only one was provided. Destination could not be determined")
        expanded = [_expand(self.word, w, self.env, line) for w in words]
        add = line.instruction == "ADD"
        if add and any(_REMOTE.match(s) for s in expanded[:-1]):
            raise Unsupported("ADD", line.line, "a remote ADD")
        source = self.raw.sources.get(line.line)
        if isinstance(source, int) and source >= self.raw.index:
            raise Invalid(line.instruction, line.line, "cannot copy from a stage not defined before the current one")
        from_stage = self.builder.images[source] if isinstance(source, str) else None if source is None else self.builder.index[source]
        chown = _expand(self.word, flags.get("chown", ""), self.env, line) or None
        chmod = _expand(self.word, flags.get("chmod", ""), self.env, line) or None
        workdir = str(self.config.get("WorkingDir") or "/")
        return Copy(tuple(expanded[:-1]), expanded[-1], workdir, from_stage, chown, chmod, add, line.line, line.text)

    def _arg(self, line: _Line, flags: dict[str, str], rest: str) -> None:
        for key, default in _arg_pairs(line, self.escape, rest):
            value = default
            if key in self.builder.build_args:
                value = self.builder.build_args[key]
            elif default is not None:
                value = _expand(self.word, default, self.env, line)
            elif key in self.raw.globals:
                value = self.raw.globals[key]
            if value is not None:
                self.env[key] = value

    def _env(self, line: _Line, flags: dict[str, str], rest: str) -> None:
        pairs = [(_expand(self.word, k, self.env, line), _expand(self.word, v, self.env, line)) for k, v in _name_values(line, rest, self.escape)]
        env = _list(self.config.get("Env"))
        for key, value in pairs:
            self.env[key] = value
            at = next((i for i, e in enumerate(env) if str(e).partition("=")[0] == key), None)
            if at is None:
                env.append(f"{key}={value}")
            else:
                env[at] = f"{key}={value}"
        self.config["Env"] = env

    def _label(self, line: _Line, flags: dict[str, str], rest: str) -> None:
        labels = dict(_dict(self.config.get("Labels")))
        labels.update((_expand(self.word, k, self.env, line), _expand(self.word, v, self.env, line)) for k, v in _name_values(line, rest, self.escape))
        self.config["Labels"] = labels

    def _user(self, line: _Line, flags: dict[str, str], rest: str) -> None:
        self.config["User"] = self._one(line, rest)

    def _stopsignal(self, line: _Line, flags: dict[str, str], rest: str) -> None:
        self.config["StopSignal"] = self._one(line, rest)

    def _maintainer(self, line: _Line, flags: dict[str, str], rest: str) -> None:
        self.author = rest

    def _expose(self, line: _Line, flags: dict[str, str], rest: str) -> None:
        if not rest:
            raise Invalid("EXPOSE", line.line, "EXPOSE requires at least one argument")
        ports = dict(_dict(self.config.get("ExposedPorts")))
        for word in sorted(rest.split()):
            for spec in _expand(self.builder.lexer.words, word, self.env, line):
                ports.update((p, {}) for p in _ports(line, spec))
        self.config["ExposedPorts"] = ports

    def _volume(self, line: _Line, flags: dict[str, str], rest: str) -> None:
        words, _ = _maybe_json(line, rest)
        if not words:
            raise Invalid("VOLUME", line.line, "VOLUME requires at least one argument")
        volumes = dict(_dict(self.config.get("Volumes")))
        for word in words:
            volume = _expand(self.word, word.strip(), self.env, line) if word.strip() else ""
            if not volume:
                raise Invalid("VOLUME", line.line, "VOLUME specified can not be an empty string")
            volumes[volume] = {}
        self.config["Volumes"] = volumes

    def _shell(self, line: _Line, flags: dict[str, str], rest: str) -> None:
        words, is_json = _maybe_json(line, rest, split=False)
        if not words:
            raise Invalid("SHELL", line.line, "SHELL requires at least one argument")
        if not is_json:
            raise Invalid("SHELL", line.line, "SHELL requires the arguments to be in JSON form")
        self.config["Shell"] = words

    def _command(self, line: _Line, rest: str) -> list[str]:
        words, is_json = _maybe_json(line, rest, split=False)
        if is_json:
            return words
        return [*(_list(self.config.get("Shell")) or DEFAULT_SHELL), " ".join(words)]

    def _cmd(self, line: _Line, flags: dict[str, str], rest: str) -> None:
        self.config["Cmd"] = self._command(line, rest)
        self.config["ArgsEscaped"] = True
        self.cmd_set = True

    def _entrypoint(self, line: _Line, flags: dict[str, str], rest: str) -> None:
        self.config["Entrypoint"] = self._command(line, rest)
        if not self.cmd_set:
            self.config.pop("Cmd", None)

    def _healthcheck(self, line: _Line, flags: dict[str, str], rest: str) -> None:
        kind, command = (re.split(r"\s+", rest, maxsplit=1) + [""])[:2] if rest else ("", "")
        if not kind:
            raise Invalid("HEALTHCHECK", line.line, "HEALTHCHECK requires at least one argument")
        words, is_json = _maybe_json(line, command.strip(), split=False)
        if kind.upper() == "NONE":
            if words:
                raise Invalid("HEALTHCHECK", line.line, "HEALTHCHECK NONE takes no arguments")
            self.config["Healthcheck"] = {"Test": ["NONE"]}
            return
        if kind.upper() != "CMD":
            raise Invalid("HEALTHCHECK", line.line, f"Unknown type {kind!r} in HEALTHCHECK (try CMD)")
        if not words or words == [""]:
            raise Invalid("HEALTHCHECK", line.line, "Missing command after HEALTHCHECK CMD")
        health: dict[str, object] = {"Test": ["CMD", *words] if is_json else ["CMD-SHELL", *words]}
        for flag, key in _HEALTH_KEYS.items():
            if nanoseconds := _duration(line, flag, flags.get(flag, "")):
                health[key] = nanoseconds
        if retries := flags.get("retries", ""):
            if not re.fullmatch(r"[+-]?\d+", retries) or int(retries) < 0:
                raise Invalid("HEALTHCHECK", line.line, f"--retries must be a number no less than 0, not {retries!r}")
            if int(retries):
                health["Retries"] = int(retries)
        self.config["Healthcheck"] = health


def _expand(lex: Callable[[str, Mapping[str, str]], _T], text: str, env: Mapping[str, str], line: _Line) -> _T:
    try:
        return lex(text, env)
    except BadSubstitution as e:
        raise Invalid(line.instruction, line.line, f"failed to process {text!r}: {e}") from None


def _split_flags(value: str, escape: str) -> tuple[list[str], str]:
    """BuildKit's ``extractBuilderFlags``: the leading ``--flag[=value]`` words (quotes and
    escapes removed; ``--`` ends them) and the rest of the line."""
    flags: list[str] = []
    pos, n = 0, len(value)
    while pos < n:
        while pos < n and value[pos].isspace():
            pos += 1
        if not value.startswith("--", pos):
            return flags, value[pos:].strip()
        word, quote, blank_ok = [], "", False
        while pos < n and (quote or not value[pos].isspace()):
            ch = value[pos]
            if quote and ch == quote:
                quote = ""
            elif not quote and ch in ("'", '"'):
                quote, blank_ok = ch, True
            else:
                if ch == escape:
                    if pos + 1 == n:
                        break
                    pos += 1
                    ch = value[pos]
                word.append(ch)
            pos += 1
        text = "".join(word)
        if text == "--":
            return flags, value[pos:].strip()
        if text or blank_ok:
            flags.append(text)
    return flags, ""


def _parse_flags(line: _Line, flags: list[str]) -> dict[str, str]:
    known = _FLAGS.get(line.instruction, {})
    found: dict[str, str] = {}
    for flag in flags:
        name, has_value, value = flag[2:].partition("=")
        kind = known.get(name)
        if kind is None or kind == "unsupported":
            raise Unsupported(line.instruction, line.line, f"the flag --{name}")
        if name in found:
            raise Invalid(line.instruction, line.line, f"duplicate flag specified: --{name}")
        if kind == "bool":
            if has_value and value.lower() not in ("true", "false"):
                raise Invalid(line.instruction, line.line, f"expecting boolean value for flag --{name}, not: {value}")
            value = value.lower() or "true"
        elif not has_value:
            raise Invalid(line.instruction, line.line, f"missing a value on flag: --{name}")
        found[name] = value
    return found


def _maybe_json(line: _Line, rest: str, split: bool = True) -> tuple[list[str], bool]:
    """``["a", "b"]`` as its strings; else the text split at spaces (``split``) or whole."""
    if rest.lstrip().startswith("["):
        try:
            words = json.loads(rest)
        except ValueError:
            words = None
        if isinstance(words, list):
            if not all(isinstance(w, str) for w in words):
                raise Invalid(line.instruction, line.line, "JSON arrays in a Dockerfile may hold only strings")
            return words, True
    if not rest:
        return [], False
    return (re.split(r"\s+", rest) if split else [rest]), False


def _parse_words(rest: str, escape: str) -> list[str]:
    """BuildKit's ``parseWords``: split at unquoted spaces, quotes and escapes kept for the
    lexer to remove."""
    words: list[str] = []
    word, quote, blank_ok, started = "", "", False, False
    i = 0
    while i < len(rest):
        ch = rest[i]
        if not started:
            if ch.isspace():
                i += 1
                continue
            started = True
        if not quote:
            if ch.isspace():
                if blank_ok or word:
                    words.append(word)
                word, blank_ok, started = "", False, False
                i += 1
                continue
            if ch in ("'", '"'):
                quote, blank_ok = ch, True
            elif ch == escape:
                if i + 1 == len(rest):
                    i += 1
                    continue
                word += ch
                i += 1
                ch = rest[i]
            word += ch
        else:
            if ch == quote:
                quote = ""
            elif ch == escape and quote != "'":
                if i + 1 == len(rest):
                    quote = ""
                    i += 1
                    continue
                word += ch
                i += 1
                ch = rest[i]
            word += ch
        i += 1
    if started and (blank_ok or word):
        words.append(word)
    return words


def _name_values(line: _Line, rest: str, escape: str) -> list[tuple[str, str]]:
    """ENV and LABEL: ``k=v …``, or the old ``k v`` (the rest of the line is the value)."""
    words = _parse_words(rest, escape)
    if not words:
        raise Invalid(line.instruction, line.line, f"{line.instruction} requires at least one argument")
    if "=" not in words[0]:
        parts = re.split(r"\s+", rest, maxsplit=1)
        if len(parts) < 2:
            raise Invalid(line.instruction, line.line, f"{line.instruction} must have two arguments")
        return [(parts[0], parts[1])]
    pairs = []
    for word in words:
        if "=" not in word:
            raise Invalid(line.instruction, line.line, f"Syntax error - can't find = in {word!r}. Must be of the form: name=value")
        key, _, value = word.partition("=")
        if not key:
            raise Invalid(line.instruction, line.line, f"{line.instruction} names can not be blank")
        pairs.append((key, value))
    return pairs


def _arg_pairs(line: _Line, escape: str, rest: str | None = None) -> list[tuple[str, str | None]]:
    words = _parse_words(line.value if rest is None else rest, escape)
    if not words:
        raise Invalid("ARG", line.line, "ARG requires at least one argument")
    pairs: list[tuple[str, str | None]] = []
    for word in words:
        key, has_value, value = word.partition("=")
        if not key:
            raise Invalid("ARG", line.line, "ARG names can not be blank")
        pairs.append((key, value if has_value else None))
    return pairs


def _ports(line: _Line, spec: str) -> list[str]:
    """``8080``, ``53/udp``, ``8000-8002/tcp`` (each port of a range) as ``"8080/tcp"`` keys; an
    ``ip:host:`` part, which EXPOSE ignores, dropped."""
    port, _, proto = spec.rpartition(":")[2].partition("/")
    proto = (proto or "tcp").lower()
    if proto not in ("tcp", "udp", "sctp"):
        raise Invalid("EXPOSE", line.line, f"invalid port: {spec!r}: invalid proto: {proto}")
    start, dash, end = port.partition("-")
    if not re.fullmatch(r"\d+", start) or (dash and not re.fullmatch(r"\d+", end)):
        raise Invalid("EXPOSE", line.line, f"invalid containerPort: {port}")
    first, last = int(start), int(end) if dash else int(start)
    if last > 65535 or last < first:
        raise Invalid("EXPOSE", line.line, f"invalid port range: {port}")
    return [f"{p}/{proto}" for p in range(first, last + 1)]


def _duration(line: _Line, flag: str, text: str) -> int:
    """A Go duration (``30s``, ``1m30s``, ``1.5h``, ``300ms``) in nanoseconds, as Docker stores
    it; 0 for none. Below a millisecond (other than 0) is refused, as Docker does."""
    if not text:
        return 0
    body = text.lstrip("+-")
    if body == "0":
        return 0
    if not body or _DURATION.sub("", body):
        raise Invalid("HEALTHCHECK", line.line, f"time: invalid duration {text!r}")
    total = sum((Fraction(n) * _NANOSECONDS[unit] for n, unit in _DURATION.findall(body)), Fraction(0))
    nanoseconds = int(total) * (-1 if text.startswith("-") else 1)
    if nanoseconds and nanoseconds < 10**6:
        raise Invalid("HEALTHCHECK", line.line, f"Interval {flag!r} cannot be less than 1ms")
    return nanoseconds


def _clean(path: str) -> str:
    cleaned = posixpath.normpath(path)
    return "/" + cleaned.lstrip("/") if cleaned.startswith("/") else cleaned


def _list(value: object) -> list[object]:
    return list(value) if isinstance(value, list | tuple) else []


def _dict(value: object) -> Mapping[str, object]:
    return value if isinstance(value, Mapping) else {}


def _env_of(config: Mapping[str, object]) -> dict[str, str]:
    env: dict[str, str] = {}
    for entry in _list(config.get("Env")):
        key, _, value = str(entry).partition("=")
        env[key] = value
    return env


def _tidy(config: Mapping[str, object]) -> dict[str, object]:
    """The config as BuildKit writes it: its known keys in its order, the empty ones left out,
    the maps' keys sorted (Go writes a map so)."""
    tidy: dict[str, object] = {}
    for key in CONFIG_KEYS:
        value = config.get(key)
        if value in (None, "", [], {}, False, ()):
            continue
        tidy[key] = dict(sorted(value.items())) if isinstance(value, Mapping) and key != "Healthcheck" else list(value) if isinstance(value, tuple) else value
    return tidy
