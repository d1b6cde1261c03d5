"""The reactor: every module of a multi-module Maven build, in the order Maven builds them,
and which of them are image targets (a Dockerfile beside a pom that packages a file).

The order is Maven 3's own (``ProjectSorter`` + ``TopologicalSorter``): the projects are
collected depth-first with each aggregator *after* its modules, then sorted depth-first so
that each comes after the reactor modules it depends on — its dependencies in declaration
order, then its ``<parent>``. Reproducing that exactly lets the live view list the modules
in the order Maven's log will reach them.
"""

from __future__ import annotations

import os
import posixpath
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from autopack.errors import UsageError
from autopack.maven.pom import Project, load_project


@dataclass(frozen=True)
class Module:
    project: Project  # the module's resolved model
    path: str  # posix path relative to the reactor root, "." for the root itself
    depends_on: tuple[str, ...]  # artifactIds (groupId:artifactId where two share one) of OTHER reactor modules it depends on (any scope) or has as <parent>
    has_dockerfile: bool  # a file named Dockerfile in the module directory

    @property
    def artifact_id(self) -> str:
        return self.project.artifact_id

    @property
    def directory(self) -> Path:
        return self.project.directory


@dataclass(frozen=True)
class Reactor:
    root: Module
    modules: tuple[Module, ...]  # every module incl. the root, in Maven's reactor build order

    def targets(self) -> list[Module]:
        """The modules with a Dockerfile whose packaging produces a file, in build order."""
        return [m for m in self.modules if m.has_dockerfile and m.project.packaging != "pom"]

    def select(self, names: Sequence[str]) -> list[Module]:
        """The image targets named by artifactId, ``groupId:artifactId`` or path (as ``-pl``
        takes them), in build order; no names select every target."""
        if not names:
            return self.targets()
        chosen = {self._select_one(name).path for name in names}
        return [m for m in self.modules if m.path in chosen]

    def upstream(self, modules: Sequence[Module]) -> list[Module]:
        """What ``-am`` adds to ``modules``: every module they need, transitively (dependencies
        and parents), in build order."""
        needed: set[str] = set()
        todo = [name for m in modules for name in m.depends_on]
        while todo:
            name = todo.pop()
            if name not in needed:
                needed.add(name)
                todo.extend(self._by_name[name].depends_on)
        given = {m.path for m in modules}
        return [m for m in self.modules if _name(m.project, self._ambiguous) in needed and m.path not in given]

    def name(self, module: Module) -> str:
        """The module's name in this reactor: its artifactId, or groupId:artifactId where two
        modules share one."""
        return _name(module.project, self._ambiguous)

    @cached_property
    def _ambiguous(self) -> frozenset[str]:
        return _shared_artifact_ids([m.project for m in self.modules])

    @cached_property
    def _by_name(self) -> dict[str, Module]:
        return {_name(m.project, self._ambiguous): m for m in self.modules}

    def _select_one(self, name: str) -> Module:
        if ":" in name:
            group, _, artifact = name.partition(":")
            found = [m for m in self.modules if m.artifact_id == artifact and group in ("", m.project.group_id)]
        else:
            found = [m for m in self.modules if m.artifact_id == name]
            path = posixpath.normpath(name.rstrip("/")) if name.strip("/") else "."
            found = found or [m for m in self.modules if m.path == path]
        if len(found) > 1:
            paths = ", ".join(m.path for m in found)
            raise UsageError(f"--module {name}: more than one module is called so ({paths})", "name it by its path or groupId:artifactId")
        targets = self.targets()
        listing = ", ".join(f"{m.artifact_id} ({m.path})" for m in targets) or "none: no module packaging a jar or war has a Dockerfile"
        if not found:
            raise UsageError(f"--module {name}: no module of {self.root.project.pom} is called so", f"image targets: {listing}")
        module = found[0]
        if module not in targets:
            if module.project.packaging == "pom":
                why = f"module {module.path} has packaging pom: it builds no artifact to put in an image"
            else:
                why = f"module {module.path} is a library: it has no Dockerfile"
            raise UsageError(f"--module {name}: {why}", f"image targets: {listing}")
        return module


def load_reactor(root: Path, defines: Mapping[str, str] | None = None, profiles: Sequence[str] = (), external: Mapping[str, str] | None = None) -> Reactor:
    """Read the module tree of ``root`` (a directory or its pom.xml): nested ``<modules>``,
    those of active profiles too. A project without ``<modules>`` is a reactor of one.
    Raises ``UsageError`` for a missing or repeated module, two modules with the same
    coordinates, or a cycle."""
    root_pom = root / "pom.xml" if root.is_dir() else root
    base = root_pom.parent
    collected: list[Project] = []
    listed_by: dict[Path, Path] = {}

    def collect(pom: Path) -> None:
        project = load_project(pom, defines, profiles, external)
        if project.modules and project.packaging != "pom":
            raise UsageError(
                f"{pom}: a pom with <modules> must have packaging pom, not {project.packaging}",
                "set <packaging>pom</packaging> (as Maven requires of an aggregator)",
            )
        for entry in project.modules:
            module_pom = _module_pom(pom, entry)
            key = module_pom.resolve()
            if key in listed_by or key == root_pom.resolve():
                first = listed_by.get(key, root_pom)
                raise UsageError(f"{pom}: <module>{entry}</module> is already in the reactor (from {first})", "list each module once")
            listed_by[key] = pom
            collect(module_pom)
        collected.append(project)  # after its modules: the order Maven's project builder returns

    collect(root_pom)
    index: dict[tuple[str, str], Project] = {}
    for project in collected:
        key = (project.group_id, project.artifact_id)
        if key in index:
            raise UsageError(
                f"{project.pom}: {project.group_id}:{project.artifact_id} is also the module at {index[key].pom}",
                "give each module its own artifactId",
            )
        index[key] = project
    ambiguous = _shared_artifact_ids(collected)

    edges: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for project in collected:
        own = (project.group_id, project.artifact_id)
        wanted = [*project.dependencies, *([project.parent] if project.parent else [])]
        edges[own] = [k for k in dict.fromkeys(wanted) if k in index and k != own]

    modules = []
    for key in _sort(list(index), edges, index):
        project = index[key]
        path = Path(os.path.relpath(project.directory, base)).as_posix()
        depends_on = tuple(_name(index[k], ambiguous) for k in edges[key])
        modules.append(Module(project, path, depends_on, (project.directory / "Dockerfile").is_file()))
    root_module = next(m for m in modules if m.project.pom == root_pom)
    return Reactor(root=root_module, modules=tuple(modules))


def _module_pom(pom: Path, entry: str) -> Path:
    candidate = pom.parent / entry
    module_pom = candidate / "pom.xml" if candidate.is_dir() else candidate
    if not entry or not module_pom.is_file():
        raise UsageError(f"{pom}: <module>{entry}</module> has no pom.xml at {module_pom}", f"create the module or remove it from {pom.name}")
    return module_pom


def _sort(vertices: list[tuple[str, str]], edges: Mapping[tuple[str, str], list[tuple[str, str]]], index: Mapping[tuple[str, str], Project]) -> list[tuple[str, str]]:
    """Depth-first, post-order, vertices and edges in their given order: Maven's TopologicalSorter."""
    done: set[tuple[str, str]] = set()
    order: list[tuple[str, str]] = []

    def visit(key: tuple[str, str], trail: list[tuple[str, str]]) -> None:
        for dep in edges[key]:
            if dep in trail:
                cycle = " -> ".join(index[k].artifact_id for k in [*trail[trail.index(dep) :], dep])
                raise UsageError(f"the reactor's modules depend on each other in a cycle: {cycle}", "remove one of these dependencies")
            if dep not in done:
                visit(dep, [*trail, dep])
        done.add(key)
        order.append(key)

    for key in vertices:
        if key not in done:
            visit(key, [key])
    return order


def _shared_artifact_ids(projects: Sequence[Project]) -> frozenset[str]:
    counts = Counter(p.artifact_id for p in projects)
    return frozenset(a for a, n in counts.items() if n > 1)


def _name(project: Project, ambiguous: frozenset[str]) -> str:
    """A module's name: its artifactId, or groupId:artifactId where two modules share one."""
    return f"{project.group_id}:{project.artifact_id}" if project.artifact_id in ambiguous else project.artifact_id
