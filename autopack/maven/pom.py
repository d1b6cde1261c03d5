"""The pom model autopack needs before Maven runs: coordinates (with ``<parent>``
inheritance, properties and CI-friendly versions), packaging, finalName, name, modules and
dependencies, with the pom's active profiles applied.

Reading the XML is ``pom_xml.py``'s; this module resolves what the poms say.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from autopack.errors import UsageError
from autopack.maven import pom_xml
from autopack.maven.pom_xml import Profile, RawPom

_PROPERTY = re.compile(r"\$\{([^}]+)\}")
_MAX_DEPTH = 10


@dataclass(frozen=True)
class Project:
    pom: Path
    group_id: str
    artifact_id: str
    version: str
    packaging: str
    final_name: str
    build_directory: Path
    properties: Mapping[str, str] = field(default_factory=dict)
    modules: tuple[str, ...] = ()  # as written, the active profiles' after the pom's own
    name: str = ""  # <name> (not inherited, as in Maven), else the artifactId
    dependencies: tuple[tuple[str, str], ...] = ()  # (groupId, artifactId), inherited ones included
    parent: tuple[str, str] | None = None  # (groupId, artifactId) of <parent>

    def __post_init__(self) -> None:
        if not self.name:
            object.__setattr__(self, "name", self.artifact_id)  # what Maven's reactor prints without <name>

    @property
    def directory(self) -> Path:
        return self.pom.parent

    @property
    def coordinates(self) -> str:
        return f"{self.group_id}:{self.artifact_id}:{self.version}"


def load_project(pom: Path, defines: Mapping[str, str] | None = None, profiles: Sequence[str] = (), external: Mapping[str, str] | None = None) -> Project:
    """Read ``pom`` (a pom.xml or a directory holding one) into a resolved ``Project``.

    ``defines`` are ``-D`` user properties; like Maven, they win over the pom's own
    ``<properties>`` (that is how ``-Drevision=1.2.3`` sets a CI-friendly version).
    ``profiles`` are ``-P`` ids (``!id`` or ``-id`` deactivates); the pom's and its parents'
    active profiles add their modules, properties and dependencies. ``external`` are the
    properties of the active settings.xml profiles, which Maven injects into every pom.
    Raises ``UsageError`` naming the file and line when the pom cannot describe a project.
    """
    pom = pom / "pom.xml" if pom.is_dir() else pom
    defines = dict(defines or {})
    raw = _activate(pom_xml.read(pom), profiles, defines)
    parent = _local_parent(raw, defines, frozenset({pom.resolve()}), profiles)

    properties: dict[str, str] = dict(parent.properties) if parent else {}
    properties.update(raw.properties)
    properties.update(external or {})
    parent_ref = raw.parent or {}
    group_id = raw.group_id or parent_ref.get("groupId") or (parent.group_id if parent else None)
    version = raw.version or parent_ref.get("version") or (parent.version if parent else None)
    for name, value in (("groupId", group_id), ("artifactId", raw.artifact_id), ("version", version)):
        if not value:
            raise UsageError(
                f"{pom}:{raw.line}: the pom has no <{name}> (and no <parent> to inherit it from)",
                f"add <{name}> to the <project> element",
            )
    assert group_id and raw.artifact_id and version

    scope = _Scope(properties, defines, pom.parent)
    scope.builtins.update(
        {
            "project.groupId": group_id,
            "project.artifactId": raw.artifact_id,
            "project.version": version,
            "project.packaging": raw.packaging or "jar",
            "project.parent.groupId": parent_ref.get("groupId", ""),
            "project.parent.artifactId": parent_ref.get("artifactId", ""),
            "project.parent.version": parent_ref.get("version", ""),
        }
    )
    scope.builtins["pom.version"] = scope.builtins["version"] = version
    resolved_version = scope.resolve(version)
    resolved_group = scope.resolve(group_id)
    artifact_id = scope.resolve(raw.artifact_id)
    for name, value in (("groupId", resolved_group), ("artifactId", artifact_id), ("version", resolved_version)):
        unresolved = _PROPERTY.findall(value)
        if unresolved:
            prop = unresolved[0]
            raise UsageError(
                f"{pom}:{raw.line}: <{name}> '{value}' uses ${{{prop}}}, which is not defined",
                f"define {prop} in <properties> or pass -D {prop}=VALUE",
            )
    scope.builtins.update({"project.version": resolved_version, "project.groupId": resolved_group})
    scope.builtins["pom.version"] = scope.builtins["version"] = resolved_version

    directory_raw = raw.build_directory or (parent.build_directory_raw if parent else None) or "${project.basedir}/target"
    build_directory = Path(scope.resolve(directory_raw))
    if not build_directory.is_absolute():
        build_directory = pom.parent / build_directory
    scope.builtins["project.build.directory"] = str(build_directory)
    final_raw = raw.final_name or (parent.final_name_raw if parent else None) or "${project.artifactId}-${project.version}"
    # Like Maven's inheritance merge: the child's own dependencies first, then the parents'.
    dependencies = dict.fromkeys(raw.dependencies)
    dependencies.update(dict.fromkeys(parent.dependencies if parent else ()))

    return Project(
        pom=pom,
        group_id=resolved_group,
        artifact_id=artifact_id,
        version=resolved_version,
        packaging=scope.resolve(raw.packaging or "jar"),
        final_name=scope.resolve(final_raw),
        build_directory=build_directory,
        properties={k: scope.resolve(v) for k, v in properties.items()},
        modules=raw.modules,
        name=scope.resolve(raw.name or ""),
        dependencies=tuple(dict.fromkeys((scope.resolve(g), scope.resolve(a)) for g, a in dependencies)),
        parent=(scope.resolve(parent_ref.get("groupId", "")), scope.resolve(parent_ref.get("artifactId", ""))) if raw.parent else None,
    )


@dataclass(frozen=True)
class _Parent:
    group_id: str
    version: str
    properties: dict[str, str]
    final_name_raw: str | None
    build_directory_raw: str | None
    dependencies: tuple[tuple[str, str], ...] = ()  # uninterpolated: resolved in the child's scope


def _local_parent(raw: RawPom, defines: Mapping[str, str], seen: frozenset[Path] = frozenset(), profiles: Sequence[str] = ()) -> _Parent | None:
    """The parent pom on disk (``<relativePath>``, default ``../pom.xml``) when it is the one
    ``<parent>`` names; a parent only in a repository contributes its coordinates alone."""
    if not raw.parent:
        return None
    relative = raw.parent.get("relativePath", "../pom.xml")
    if not relative:  # <relativePath/> means "look it up in the repository"
        return None
    candidate = (raw.path.parent / relative).resolve()
    if candidate.is_dir():
        candidate = candidate / "pom.xml"
    if not candidate.is_file():
        return None
    if candidate in seen:
        raise UsageError(f"{raw.path}: the <parent> chain loops back to {candidate}", "fix <parent><relativePath>")
    parent_raw = pom_xml.read(candidate)
    if parent_raw.artifact_id != raw.parent.get("artifactId"):
        return None
    parent_raw = _activate(parent_raw, profiles, defines)
    grand = _local_parent(parent_raw, defines, seen | {candidate}, profiles)
    properties = dict(grand.properties) if grand else {}
    properties.update(parent_raw.properties)
    parent_ref = parent_raw.parent or {}
    return _Parent(
        group_id=parent_raw.group_id or parent_ref.get("groupId") or (grand.group_id if grand else ""),
        version=parent_raw.version or parent_ref.get("version") or (grand.version if grand else ""),
        properties=properties,
        final_name_raw=parent_raw.final_name or (grand.final_name_raw if grand else None),
        build_directory_raw=parent_raw.build_directory or (grand.build_directory_raw if grand else None),
        dependencies=tuple(dict.fromkeys((*parent_raw.dependencies, *(grand.dependencies if grand else ())))),
    )


def _activate(raw: RawPom, profiles: Sequence[str], defines: Mapping[str, str]) -> RawPom:
    """``raw`` with its active profiles merged in, chosen as Maven 3 does: a profile named by
    ``-P`` or whose activation holds is active unless deactivated; the ``activeByDefault``
    ones only when no other profile of this pom is. jdk, os and file activation are not
    evaluated here: such a profile is active only when named."""
    wanted, unwanted = profile_ids(profiles)
    active, by_default = [], []
    for profile in raw.profiles:
        if profile.id in unwanted:
            continue
        if profile.id in wanted or _conditions_hold(profile, defines):
            active.append(profile)
        elif profile.active_by_default:
            by_default.append(profile)
    active = active or by_default
    if not active:
        return raw
    properties = dict(raw.properties)
    modules = list(raw.modules)
    dependencies = list(raw.dependencies)
    for profile in active:
        properties.update(profile.properties)  # a profile's properties win over the pom's
        # Like Maven's profile injection: a module or dependency already listed is not repeated.
        modules += [m for m in profile.modules if m not in modules]
        dependencies += [d for d in profile.dependencies if d not in dependencies]
    return replace(raw, properties=properties, modules=tuple(modules), dependencies=tuple(dependencies))


def _conditions_hold(profile: Profile, defines: Mapping[str, str]) -> bool:
    """All conditions must hold (Maven ≥ 3.2.2); property ones as Maven's PropertyProfileActivator."""
    if not profile.conditions:
        return False
    for condition in profile.conditions:
        if condition is None:
            return False
        if not property_holds(*condition, defines):
            return False
    return True


def property_holds(name: str, value: str | None, properties: Mapping[str, str]) -> bool:
    """A ``<property>`` activation, as Maven's PropertyProfileActivator: ``name`` set (or,
    with ``!name``, unset); with a value, equal to it (``!value``: not equal)."""
    actual = properties.get(name.lstrip("!"))
    if value:
        return (actual == value.lstrip("!")) != value.startswith("!")
    return bool(actual) != name.startswith("!")


def profile_ids(profiles: Sequence[str]) -> tuple[set[str], set[str]]:
    """``-P`` items (repeatable, comma-separated) → (wanted, unwanted): ``!id`` or ``-id``
    deactivates, ``+id`` activates."""
    wanted: set[str] = set()
    unwanted: set[str] = set()
    for item in (p.strip() for entry in profiles for p in entry.split(",")):
        if item[:1] in ("!", "-"):
            unwanted.add(item[1:])
        elif item:
            wanted.add(item.removeprefix("+"))
    return wanted, unwanted


class _Scope:
    """Property lookup in Maven's order: -D defines, then built-ins, then <properties>."""

    def __init__(self, properties: Mapping[str, str], defines: Mapping[str, str], basedir: Path) -> None:
        self.properties = properties
        self.defines = defines
        self.builtins: dict[str, str] = {"project.basedir": str(basedir), "basedir": str(basedir)}

    def lookup(self, name: str) -> str | None:
        for source in (self.defines, self.builtins, self.properties):
            if name in source:
                return source[name]
        if name.startswith("env."):
            return os.environ.get(name[4:])
        return None

    def resolve(self, text: str) -> str:
        for _ in range(_MAX_DEPTH):
            changed = _PROPERTY.sub(lambda m: v if (v := self.lookup(m.group(1))) is not None else m.group(0), text)
            if changed == text:
                break
            text = changed
        return text
