"""Reading one pom.xml into what it says, uninterpolated: the XML half of the pom model.

Poms come from repositories we do not control, so they are parsed with defusedxml; a pom
that is not XML, or not a Maven pom, is a usage error naming the file and line.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from defusedxml import ElementTree as SafeET
from defusedxml.common import DefusedXmlException

from autopack.errors import UsageError


@dataclass(frozen=True)
class Profile:
    """A ``<profile>``: how it is activated and what of it autopack uses."""

    id: str
    active_by_default: bool
    conditions: tuple[tuple[str, str | None] | None, ...]  # property (name, value); None: jdk/os/file
    properties: dict[str, str]
    modules: tuple[str, ...]
    dependencies: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class RawPom:
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
    name: str | None = None
    dependencies: tuple[tuple[str, str], ...] = ()
    profiles: tuple[Profile, ...] = ()


def read(path: Path) -> RawPom:
    try:
        source = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"no pom.xml at {path}", "run autopack in a Maven project or pass its directory") from None
    except (OSError, UnicodeDecodeError) as e:
        raise UsageError(f"cannot read {path}: {e}", "check the file's permissions and encoding") from e
    try:
        root = SafeET.fromstring(source)
    except ET.ParseError as e:
        line, column = e.position
        reason = str(e).split(":")[0]
        raise UsageError(
            f"{path}:{line}:{column}: pom.xml is not well-formed XML ({reason})",
            "fix the XML at that line; `xmllint --noout pom.xml` shows the same",
        ) from e
    except DefusedXmlException as e:
        raise UsageError(f"{path}: refused unsafe XML ({e})", "remove DTDs and entity declarations from the pom") from e
    if local_name(root.tag) != "project":
        raise UsageError(f"{path}:1: the root element is <{local_name(root.tag)}>, not <project>", "is this a Maven pom?")
    match = re.search(r"<(?:\w+:)?project\b", source)
    line = source.count("\n", 0, match.start()) + 1 if match else 1

    parent_el = child(root, "parent")
    parent = {local_name(c.tag): (c.text or "").strip() for c in parent_el} if parent_el is not None else None
    build = child(root, "build")
    profiles_el = child(root, "profiles")
    profiles = tuple(_read_profile(p) for p in profiles_el if local_name(p.tag) == "profile") if profiles_el is not None else ()
    return RawPom(
        path=path,
        line=line,
        group_id=text(root, "groupId"),
        artifact_id=text(root, "artifactId"),
        version=text(root, "version"),
        packaging=text(root, "packaging"),
        final_name=text(build, "finalName"),
        build_directory=text(build, "directory"),
        properties=_properties(root),
        modules=_modules(root),
        parent=parent,
        name=text(root, "name"),
        dependencies=_dependencies(root),
        profiles=profiles,
    )


def _read_profile(element: ET.Element) -> Profile:
    activation = child(element, "activation")
    conditions: list[tuple[str, str | None] | None] = []
    active_by_default = False
    for condition in activation if activation is not None else ():
        kind = local_name(condition.tag)
        if kind == "activeByDefault":
            active_by_default = (condition.text or "").strip() == "true"
        elif kind == "property":
            conditions.append((text(condition, "name") or "", text(condition, "value")))
        else:
            conditions.append(None)
    return Profile(
        id=text(element, "id") or "default",
        active_by_default=active_by_default,
        conditions=tuple(conditions),
        properties=_properties(element),
        modules=_modules(element),
        dependencies=_dependencies(element),
    )


def _properties(element: ET.Element) -> dict[str, str]:
    props_el = child(element, "properties")
    return {local_name(c.tag): (c.text or "").strip() for c in props_el} if props_el is not None else {}


def _modules(element: ET.Element) -> tuple[str, ...]:
    modules_el = child(element, "modules")
    return tuple((m.text or "").strip() for m in modules_el if local_name(m.tag) == "module") if modules_el is not None else ()


def _dependencies(element: ET.Element) -> tuple[tuple[str, str], ...]:
    """(groupId, artifactId) of ``<dependencies>``, uninterpolated; not dependencyManagement."""
    deps_el = child(element, "dependencies")
    if deps_el is None:
        return ()
    found = ((text(d, "groupId") or "", text(d, "artifactId")) for d in deps_el if local_name(d.tag) == "dependency")
    return tuple(dict.fromkeys((g, a) for g, a in found if a))


def local_name(tag: str) -> str:
    return tag.rpartition("}")[2]


def child(element: ET.Element | None, name: str) -> ET.Element | None:
    """The first child element called ``name`` (namespace ignored), or None."""
    if element is None:
        return None
    return next((c for c in element if local_name(c.tag) == name), None)


def children(element: ET.Element | None, name: str) -> list[ET.Element]:
    return [c for c in element if local_name(c.tag) == name] if element is not None else []


def text(element: ET.Element | None, name: str) -> str | None:
    """The stripped text of child ``name``; None when absent or empty."""
    found = child(element, name)
    return ((found.text or "").strip() or None) if found is not None else None
