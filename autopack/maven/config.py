"""Maven's own configuration, read the way Maven reads it, so that the pom model autopack
builds before Maven runs sees the same properties and profiles Maven will.

Sources, in Maven's order (a later one wins for a property):

- system properties: ``-D`` in ``.mvn/jvm.config``, then in ``$MAVEN_OPTS`` (the ``mvn``
  script puts jvm.config first);
- ``.mvn/maven.config`` (found like the ``mvn`` script finds it: the nearest ``.mvn``
  directory at or above the project), then autopack's own Maven options and ``--maven-arg``
  — the command line, which Maven lets win over the file (user properties last,
  single-valued options such as ``-s`` and ``-T`` first);
- the settings files (``-s``/``-gs``, else ``~/.m2/settings.xml`` and Maven's
  ``conf/settings.xml``): the local repository, offline mode, mirrors, and the properties
  of active settings profiles, which Maven injects into every pom.

Maven reads all of this itself; autopack never passes the file's arguments again.
"""

from __future__ import annotations

import os
import re
import shutil
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from defusedxml import ElementTree as SafeET
from defusedxml.common import DefusedXmlException

from autopack.errors import UsageError
from autopack.maven.pom import profile_ids, property_holds
from autopack.maven.pom_xml import child as _child
from autopack.maven.pom_xml import children as _children
from autopack.maven.pom_xml import local_name as _local
from autopack.maven.pom_xml import text as _text
from autopack.settings import Settings


@dataclass(frozen=True, slots=True)
class Mirror:
    id: str
    url: str
    mirror_of: str


@dataclass(frozen=True, slots=True)
class MavenConfig:
    """What Maven will see, besides the poms."""

    base_dir: Path  # Maven's multi-module project directory (where .mvn is, else the project)
    user_properties: Mapping[str, str] = field(default_factory=dict)  # -D: maven.config, then autopack's
    system_properties: Mapping[str, str] = field(default_factory=dict)  # jvm.config, MAVEN_OPTS
    profiles: tuple[str, ...] = ()  # -P, as written (``!id`` deactivates)
    settings_properties: Mapping[str, str] = field(default_factory=dict)  # of active settings profiles
    offline: bool = False
    local_repository: Path = Path.home() / ".m2" / "repository"
    mirrors: tuple[Mirror, ...] = ()
    settings_files: tuple[Path, ...] = ()  # the ones that exist and were read
    file_args: tuple[str, ...] = ()  # .mvn/maven.config, for the log

    @property
    def defines(self) -> dict[str, str]:
        """The properties a pom is interpolated with, below the model's own built-ins:
        system properties, then user properties (Maven's user properties win)."""
        return {**self.system_properties, **self.user_properties}


@dataclass(frozen=True, slots=True)
class MavenArgs:
    """The options of one Maven argument list that change what the poms mean."""

    defines: dict[str, str] = field(default_factory=dict)
    profiles: tuple[str, ...] = ()
    settings: str | None = None
    global_settings: str | None = None
    threads: str | None = None
    offline: bool = False


def parse_args(args: Sequence[str]) -> MavenArgs:
    """Maven's short and long options for properties, profiles, settings, threads and
    offline mode, in ``-Dk=v``, ``-D k=v``, ``--define=k=v`` and ``-Pa,b`` forms. The first
    ``-s``/``-gs``/``-T`` wins, as in Maven's command-line parser; later ``-D`` win."""
    defines: dict[str, str] = {}
    profiles: list[str] = []
    single: dict[str, str] = {}
    offline = False
    names = {"-D": "D", "--define": "D", "-P": "P", "--activate-profiles": "P", "-s": "s", "--settings": "s", "-gs": "gs", "--global-settings": "gs", "-T": "T", "--threads": "T"}
    i = 0
    while i < len(args):
        arg = args[i]
        i += 1
        if arg in ("-o", "--offline"):
            offline = True
            continue
        key, value = None, None
        if arg in names:
            key = names[arg]
            if i < len(args):
                value, i = args[i], i + 1
        elif "=" in arg and arg.split("=", 1)[0] in names and arg.startswith("--"):
            option, value = arg.split("=", 1)
            key = names[option]
        else:
            for short in ("-gs", "-D", "-P", "-T", "-s"):  # -gs before -s
                if arg.startswith(short) and len(arg) > len(short) and not arg.startswith("--"):
                    key, value = names[short], arg[len(short) :]
                    break
        if key is None or value is None:
            continue
        if key == "D":
            name, _, val = value.partition("=")
            defines[name] = val if _ else "true"  # Maven: -Dflag means flag=true
        elif key == "P":
            profiles += [p.strip() for p in value.split(",") if p.strip()]
        else:
            single.setdefault(key, value)
    return MavenArgs(defines, tuple(profiles), single.get("s"), single.get("gs"), single.get("T"), offline)


def find_base_dir(project_dir: Path) -> Path:
    """The directory the ``mvn`` script and ``mvnw`` take as the project base: the nearest
    one at or above ``project_dir`` that holds ``.mvn``, else ``project_dir`` itself."""
    for directory in (project_dir, *project_dir.parents):
        if (directory / ".mvn").is_dir():
            return directory
    return project_dir


def read(settings: Settings, project_dir: Path, environ: Mapping[str, str] | None = None) -> MavenConfig:
    """Everything besides the poms that decides what Maven will build for ``settings``."""
    environ = os.environ if environ is None else environ
    base = find_base_dir(project_dir.resolve())
    file_args = tuple(_words(base / ".mvn" / "maven.config"))
    from_file = parse_args(file_args)
    system = {**parse_args(_words(base / ".mvn" / "jvm.config")).defines, **parse_args(environ.get("MAVEN_OPTS", "").split()).defines}
    # autopack's options come after the file, as Maven merges its command line after maven.config.
    cli = parse_args(settings.maven_args)
    user = {**from_file.defines, **settings.defines, **cli.defines}
    profiles = (*from_file.profiles, *settings.profiles, *cli.profiles)

    user_settings = _path(str(settings.maven_settings) if settings.maven_settings else cli.settings or from_file.settings, base)
    global_settings = _path(cli.global_settings or from_file.global_settings, base)
    candidates = [global_settings or _maven_home_settings(), user_settings or Path.home() / ".m2" / "settings.xml"]
    read_files = [p for p in candidates if p is not None and p.is_file()]
    if user_settings is not None and not user_settings.is_file():
        raise UsageError(f"Maven settings file {user_settings} does not exist", "check -s/--settings (or -s in .mvn/maven.config)")

    local_repository: str | None = None
    offline = settings.offline or from_file.offline or cli.offline
    mirrors: list[Mirror] = []
    settings_properties: dict[str, str] = {}
    for path in read_files:  # global first: the user's file wins
        parsed = _read_settings(path, profiles, {**system, **user}, environ)
        local_repository = parsed.local_repository or local_repository
        offline = offline or parsed.offline
        mirrors = parsed.mirrors + [m for m in mirrors if m.id not in {n.id for n in parsed.mirrors}]
        settings_properties.update(parsed.properties)
    # --maven-repo is passed last as -Dmaven.repo.local, so it beats every other source.
    repo = str(settings.maven_repo.expanduser().absolute()) if settings.maven_repo else user.get("maven.repo.local") or system.get("maven.repo.local") or local_repository
    return MavenConfig(
        base_dir=base,
        user_properties=user,
        system_properties=system,
        profiles=profiles,
        settings_properties=settings_properties,
        offline=offline,
        local_repository=Path(repo).expanduser() if repo else Path.home() / ".m2" / "repository",
        mirrors=tuple(mirrors),
        settings_files=tuple(read_files),
        file_args=file_args,
    )


def _words(path: Path) -> list[str]:
    """A ``.mvn`` config file's arguments: Maven 3.8 splits the file on white space (3.9 takes
    a line each and allows ``#`` comments; both read a plain one-option-a-line file alike)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    except (OSError, UnicodeDecodeError) as e:
        raise UsageError(f"cannot read {path}: {e}", "fix the file's permissions or encoding") from e
    return [word for line in text.splitlines() if not line.lstrip().startswith("#") for word in line.split()]


def _path(value: str | None, base: Path) -> Path | None:
    if not value:
        return None
    path = Path(value).expanduser()
    return path if path.is_absolute() else base / path


def _maven_home_settings() -> Path | None:
    """``conf/settings.xml`` of the ``mvn`` on PATH (Debian links /usr/share/maven/conf to /etc/maven)."""
    mvn = shutil.which("mvn")
    if not mvn:
        return None
    return Path(mvn).resolve().parent.parent / "conf" / "settings.xml"


@dataclass(frozen=True, slots=True)
class _SettingsFile:
    local_repository: str | None
    offline: bool
    mirrors: list[Mirror]
    properties: dict[str, str]


_PROPERTY = re.compile(r"\$\{(env\.)?([^}]+)\}")


def _read_settings(path: Path, profiles: Sequence[str], properties: Mapping[str, str], environ: Mapping[str, str]) -> _SettingsFile:
    try:
        root = SafeET.fromstring(path.read_text(encoding="utf-8"))
    except (ET.ParseError, DefusedXmlException, OSError, UnicodeDecodeError) as e:
        raise UsageError(f"{path}: not a readable Maven settings file ({e})", "fix the XML, or point -s at another settings.xml") from e

    def interpolate(text: str) -> str:
        def value(m: re.Match[str]) -> str:
            name = m.group(2)
            if m.group(1):
                return environ.get(name, m.group(0))
            if name == "user.home":
                return str(Path.home())
            return properties.get(name, m.group(0))

        return _PROPERTY.sub(value, text)

    wanted, unwanted = profile_ids(profiles)
    active_ids = {(e.text or "").strip() for e in _children(_child(root, "activeProfiles"), "activeProfile")}
    chosen, by_default = [], []
    for profile in _children(_child(root, "profiles"), "profile"):
        pid = _text(profile, "id") or "default"
        if pid in unwanted:
            continue
        activation = _child(profile, "activation")
        prop = _child(activation, "property")
        if pid in wanted or pid in active_ids or (prop is not None and property_holds(_text(prop, "name") or "", _text(prop, "value"), properties)):
            chosen.append(profile)
        elif activation is not None and _text(activation, "activeByDefault") == "true":
            by_default.append(profile)
    props: dict[str, str] = {}
    for profile in chosen or by_default:
        props_el = _child(profile, "properties")
        for prop in list(props_el) if props_el is not None else []:
            props[_local(prop.tag)] = interpolate((prop.text or "").strip())
    mirrors = [Mirror(_text(m, "id") or "", interpolate(_text(m, "url") or ""), _text(m, "mirrorOf") or "") for m in _children(_child(root, "mirrors"), "mirror")]
    local = _text(root, "localRepository")
    return _SettingsFile(interpolate(local) if local else None, _text(root, "offline") == "true", mirrors, props)
