"""The pom model autopack needs before Maven runs: coordinates (with ``<parent>``
inheritance, properties and CI-friendly versions), packaging, finalName and modules.

Poms come from repositories we do not control, so they are parsed with defusedxml.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from defusedxml import ElementTree as SafeET
from defusedxml.common import DefusedXmlException

from autopack.errors import UsageError

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
    modules: tuple[str, ...] = ()

    @property
    def directory(self) -> Path:
        return self.pom.parent

    @property
    def coordinates(self) -> str:
        return f"{self.group_id}:{self.artifact_id}:{self.version}"


@dataclass(frozen=True)
class _RawPom:
    """What one pom.xml says, uninterpolated."""

    path: Path
    line: int  # of <project>, for errors about what it lacks
    group_id: str | None
    artifact_id: str | None
    version: str | None
    packaging: str | None
    final_name: str | None
    build_directory: str | None
    properties: dict[str, str]
    modules: tuple[str, ...]
    parent: dict[str, str] | None


def load_project(pom: Path, defines: Mapping[str, str] | None = None) -> Project:
    """Read ``pom`` (a pom.xml or a directory holding one) into a resolved ``Project``.

    ``defines`` are ``-D`` user properties; like Maven, they win over the pom's own
    ``<properties>`` (that is how ``-Drevision=1.2.3`` sets a CI-friendly version).
    Raises ``UsageError`` naming the file and line when the pom cannot describe a project.
    """
    pom = pom / "pom.xml" if pom.is_dir() else pom
    raw = _read(pom)
    defines = dict(defines or {})
    parent = _local_parent(raw, defines, frozenset({pom.resolve()}))

    properties: dict[str, str] = dict(parent.properties) if parent else {}
    properties.update(raw.properties)
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
    )


@dataclass(frozen=True)
class _Parent:
    group_id: str
    version: str
    properties: dict[str, str]
    final_name_raw: str | None
    build_directory_raw: str | None


def _local_parent(raw: _RawPom, defines: Mapping[str, str], seen: frozenset[Path] = frozenset()) -> _Parent | None:
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
    parent_raw = _read(candidate)
    if parent_raw.artifact_id != raw.parent.get("artifactId"):
        return None
    grand = _local_parent(parent_raw, defines, seen | {candidate})
    properties = dict(grand.properties) if grand else {}
    properties.update(parent_raw.properties)
    parent_ref = parent_raw.parent or {}
    return _Parent(
        group_id=parent_raw.group_id or parent_ref.get("groupId") or (grand.group_id if grand else ""),
        version=parent_raw.version or parent_ref.get("version") or (grand.version if grand else ""),
        properties=properties,
        final_name_raw=parent_raw.final_name or (grand.final_name_raw if grand else None),
        build_directory_raw=parent_raw.build_directory or (grand.build_directory_raw if grand else None),
    )


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
        return None

    def resolve(self, text: str) -> str:
        for _ in range(_MAX_DEPTH):
            changed = _PROPERTY.sub(lambda m: v if (v := self.lookup(m.group(1))) is not None else m.group(0), text)
            if changed == text:
                break
            text = changed
        return text


def _read(path: Path) -> _RawPom:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"no pom.xml at {path}", "run autopack in a Maven project or pass its directory") from None
    except (OSError, UnicodeDecodeError) as e:
        raise UsageError(f"cannot read {path}: {e}", "check the file's permissions and encoding") from e
    try:
        root = SafeET.fromstring(text)
    except ET.ParseError as e:
        line, column = e.position
        reason = str(e).split(":")[0]
        raise UsageError(
            f"{path}:{line}:{column}: pom.xml is not well-formed XML ({reason})",
            "fix the XML at that line; `xmllint --noout pom.xml` shows the same",
        ) from e
    except DefusedXmlException as e:
        raise UsageError(f"{path}: refused unsafe XML ({e})", "remove DTDs and entity declarations from the pom") from e
    if _local(root.tag) != "project":
        raise UsageError(f"{path}:1: the root element is <{_local(root.tag)}>, not <project>", "is this a Maven pom?")
    match = re.search(r"<(?:\w+:)?project\b", text)
    line = text.count("\n", 0, match.start()) + 1 if match else 1

    parent_el = _child(root, "parent")
    parent = {_local(c.tag): (c.text or "").strip() for c in parent_el} if parent_el is not None else None
    props_el = _child(root, "properties")
    properties = {_local(c.tag): (c.text or "").strip() for c in props_el} if props_el is not None else {}
    modules_el = _child(root, "modules")
    modules = tuple((m.text or "").strip() for m in modules_el if _local(m.tag) == "module") if modules_el is not None else ()
    build = _child(root, "build")
    return _RawPom(
        path=path,
        line=line,
        group_id=_text(root, "groupId"),
        artifact_id=_text(root, "artifactId"),
        version=_text(root, "version"),
        packaging=_text(root, "packaging"),
        final_name=_text(build, "finalName") if build is not None else None,
        build_directory=_text(build, "directory") if build is not None else None,
        properties=properties,
        modules=modules,
        parent=parent,
    )


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _child(element: ET.Element, name: str) -> ET.Element | None:
    for child in element:
        if _local(child.tag) == name:
            return child
    return None


def _text(element: ET.Element, name: str) -> str | None:
    child = _child(element, name)
    return (child.text or "").strip() or None if child is not None else None
