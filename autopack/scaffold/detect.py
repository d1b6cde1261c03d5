"""Which modules of a reactor are services, and what kind: read from the pom model
(``maven/reactor.py``) plus the one thing it does not carry, the build plugins each module
declares or inherits from its parents in the reactor (their ``<configuration>`` may sit in a
parent's ``<pluginManagement>``, as Maven merges it).

A service is a module that packages a war; or a jar repackaged by spring-boot-maven-plugin;
or a jar whose manifest names a main class (maven-jar-plugin's, the shade plugin's
ManifestResourceTransformer, the assembly plugin's archive) — unless another reactor module
depends on it, which makes it a library. Aggregators (packaging pom) never are.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from defusedxml import ElementTree as SafeET

from autopack.maven.pom import Project
from autopack.maven.pom_xml import child, children, local_name, text
from autopack.maven.reactor import Module, Reactor

SPRING_BOOT = "spring-boot"  # a Boot jar: layered from its own layout, started by its launcher
THIN_JAR = "jar"  # a plain jar with a main class: layered from Maven's runtime classpath
FAT_JAR = "fat-jar"  # a shaded jar or an assembly with its dependencies inside: the one file
WAR = "war"  # a web archive: on a servlet container

_BOOT_PLUGIN = "spring-boot-maven-plugin"
_FAT_PLUGINS = ("maven-shade-plugin", "maven-assembly-plugin")
_JAVA_PROPERTIES = ("maven.compiler.release", "java.version", "maven.compiler.target", "maven.compiler.source")
_DEFAULT_JAVA = 17
BOOT_LAUNCHER = "org.springframework.boot.loader.launch.JarLauncher"  # Boot 3.2+
_OLD_BOOT_LAUNCHER = "org.springframework.boot.loader.JarLauncher"  # Boot 2.x to 3.1
_PROPERTY = re.compile(r"\$\{([^}]+)\}")
_PORT = re.compile(r"^\s*server\.port\s*[=:]\s*(?:\$\{[^:}]+:)?(\d+)", re.M)
_YAML_PORT = re.compile(r"^server:\s*\n(?:[ \t]+\S.*\n)*?[ \t]+port:\s*(?:\$\{[^:}]+:)?['\"]?(\d+)", re.M)


@dataclass(frozen=True, slots=True)
class Service:
    module: Module
    kind: str  # SPRING_BOOT, THIN_JAR, FAT_JAR or WAR
    java: int  # the release the pom compiles for (17 when it says nothing)
    main_class: str | None = None  # THIN_JAR and FAT_JAR
    port: int | None = None  # what it listens on, where known
    actuator: bool = False  # Spring Boot's /actuator/health is there
    boot_launcher: str = BOOT_LAUNCHER
    jakarta: bool = True  # a war for Jakarta Servlet (Tomcat 10+), else javax (Tomcat 9)

    @property
    def artifact_id(self) -> str:
        return self.module.artifact_id


@dataclass(frozen=True, slots=True)
class Skipped:
    module: Module
    why: str


def services(reactor: Reactor) -> tuple[list[Service], list[Skipped]]:
    """The reactor's services in build order, and every other module with the reason it is
    not one."""
    coordinates = {(m.project.group_id, m.artifact_id) for m in reactor.modules}
    needed = {dep for m in reactor.modules for dep in m.project.dependencies if dep in coordinates}
    found: list[Service] = []
    skipped: list[Skipped] = []
    for module in reactor.modules:
        project = module.project
        if project.packaging == "pom":
            skipped.append(Skipped(module, "packaging pom (an aggregator or parent)"))
            continue
        if (project.group_id, project.artifact_id) in needed:
            skipped.append(Skipped(module, "a library: other modules of the reactor depend on it"))
            continue
        service = _service(module, reactor)
        if isinstance(service, Service):
            found.append(service)
        else:
            skipped.append(Skipped(module, service))
    return found, skipped


def _service(module: Module, reactor: Reactor) -> Service | str:
    project = module.project
    plugins = _Plugins(_chain(module, reactor))
    java = _java_release(project, plugins)
    if project.packaging == "war":
        jakarta = not any(g == "javax.servlet" for g, _ in project.dependencies)
        return Service(module, WAR, java, port=8080, jakarta=jakarta)
    if project.packaging != "jar":
        return f"packaging {project.packaging}: init writes Dockerfiles for jar and war modules"
    if plugins.declared(_BOOT_PLUGIN):
        actuator = ("org.springframework.boot", "spring-boot-starter-actuator") in project.dependencies
        launcher = BOOT_LAUNCHER if _boot_version(module, plugins) >= (3, 2) else _OLD_BOOT_LAUNCHER
        return Service(module, SPRING_BOOT, java, port=_boot_port(project.directory), actuator=actuator, boot_launcher=launcher)
    fat = [p for p in _FAT_PLUGINS if plugins.declared(p)]
    main = next((c for name in (*fat, "maven-jar-plugin") for c in plugins.values(name, "mainClass")), None) or _manifest_entry(plugins)
    main = _resolve(main, project.properties) if main else None
    if not main or _PROPERTY.search(main):
        return "a jar without a main class (no spring-boot-maven-plugin, no mainClass in a jar, shade or assembly manifest)"
    return Service(module, FAT_JAR if fat else THIN_JAR, java, main_class=main)


def _chain(module: Module, reactor: Reactor) -> list[Path]:
    """The module's pom, then its parents' that are in the reactor, nearest first."""
    by_coordinates = {(m.project.group_id, m.artifact_id): m for m in reactor.modules}
    poms: list[Path] = []
    seen: set[Path] = set()
    current: Module | None = module
    while current is not None and current.project.pom not in seen:
        seen.add(current.project.pom)
        poms.append(current.project.pom)
        current = by_coordinates.get(current.project.parent) if current.project.parent else None
    return poms


class _Plugins:
    """``<build><plugins>`` and ``<pluginManagement>`` of a pom and its parents."""

    def __init__(self, poms: list[Path]) -> None:
        self.roots = [_xml(pom) for pom in poms]

    def declared(self, artifact_id: str) -> bool:
        return any(self._find(root, ("build", "plugins"), artifact_id) for root in self.roots)

    def values(self, artifact_id: str, name: str) -> Iterator[str]:
        """The texts of every ``<name>`` below the plugin's configurations (its executions'
        too), declared or managed, nearest pom first."""
        for root in self.roots:
            for path in (("build", "plugins"), ("build", "pluginManagement", "plugins")):
                for plugin in self._find(root, path, artifact_id):
                    for element in plugin.iter():
                        if local_name(element.tag) == name and (element.text or "").strip():
                            yield (element.text or "").strip()

    def version(self, artifact_id: str) -> str | None:
        for root in self.roots:
            for path in (("build", "plugins"), ("build", "pluginManagement", "plugins")):
                for plugin in self._find(root, path, artifact_id):
                    if found := text(plugin, "version"):
                        return found
        return None

    @staticmethod
    def _find(root: ET.Element, path: tuple[str, ...], artifact_id: str) -> list[ET.Element]:
        element: ET.Element | None = root
        for name in path:
            element = child(element, name)
        return [p for p in children(element, "plugin") if text(p, "artifactId") == artifact_id]


def _xml(pom: Path) -> ET.Element:
    # The reactor read (and checked) every pom already; this reads what its model leaves out.
    return SafeET.fromstring(pom.read_text(encoding="utf-8"))


def _manifest_entry(plugins: _Plugins) -> str | None:
    return next((v for name in ("maven-jar-plugin", *_FAT_PLUGINS) for v in plugins.values(name, "Main-Class")), None)


def _resolve(value: str, properties: Mapping[str, str]) -> str:
    for _ in range(5):
        value = _PROPERTY.sub(lambda m: properties.get(m.group(1), m.group(0)), value)
    return value


def _java_release(project: Project, plugins: _Plugins) -> int:
    candidates = [project.properties.get(name) for name in _JAVA_PROPERTIES]
    candidates += [_resolve(v, project.properties) for name in ("release", "target") for v in plugins.values("maven-compiler-plugin", name)]
    for value in candidates:
        match = re.fullmatch(r"(?:1\.)?(\d+)", (value or "").strip())
        if match:
            return int(match.group(1))
    return _DEFAULT_JAVA


def _boot_version(module: Module, plugins: _Plugins) -> tuple[int, int]:
    """Spring Boot's version: the starter parent's, else the plugin's; unknown is taken as new."""
    root = plugins.roots[-1]
    parent = child(root, "parent")
    version = text(parent, "version") if text(parent, "artifactId") == "spring-boot-starter-parent" else None
    version = _resolve(version or plugins.version(_BOOT_PLUGIN) or "", module.project.properties)
    match = re.match(r"(\d+)\.(\d+)", version)
    return (int(match.group(1)), int(match.group(2))) if match else (99, 0)


def _boot_port(directory: Path) -> int:
    """``server.port`` from application.properties or .yml (a ``${PORT:8081}`` default too), else 8080."""
    resources = directory / "src" / "main" / "resources"
    for name, pattern in (("application.properties", _PORT), ("application.yml", _YAML_PORT), ("application.yaml", _YAML_PORT)):
        path = resources / name
        if path.is_file():
            match = pattern.search(path.read_text(encoding="utf-8", errors="replace"))
            if match:
                return int(match.group(1))
    return 8080
