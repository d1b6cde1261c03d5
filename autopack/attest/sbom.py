"""The image's SBOM: a CycloneDX 1.6 JSON document built from Maven's own resolved dependency
graph, not from a guess at the pom or a scan of the image.

The graph comes from an extra goal in autopack's one Maven run (``maven_additions``), written
into each module's build directory, so every module of a reactor gets its own graph:

* ``cyclonedx-maven-plugin:makeBom`` (pinned): a real graph with edges, hashes and licenses,
  as ``<build directory>/autopack-bom.json`` — where the project names the plugin already, or
  ``--sbom-tool cyclonedx-maven-plugin`` asks for it, and Maven is online: makeBom declares
  ``requiresOnline`` in its plugin.xml, and Maven refuses it with --offline even when the
  plugin is in the local repository;
* ``maven-dependency-plugin:list`` otherwise: the flat resolved list with each jar's absolute
  path, as ``<build directory>/autopack-dependencies.txt``; autopack hashes the jars itself
  (0.1–0.5 s a build, against the plugin's 2.5–3 s on a Spring Boot service).

Both keep the runtime classpath only, compile and runtime scope: what a plain jar's layers
(copy-dependencies with ``includeScope=runtime``) and a shaded jar put into the image. Test
scope never ships; provided scope is the platform's to supply (a servlet container in the base
image, which its own SBOM describes) and system scope points at a file outside the repository
that autopack cannot vouch for. (A known gap: a Spring Boot jar does nest provided-scope jars,
which its SBOM then leaves out. A pom configuring cyclonedx-maven-plugin itself overrides
these defines, as a pom's configuration always wins over -D.)

``document`` then wraps the graph into the image's SBOM: the image as ``metadata.component``,
the application, the base image and every dependency as components. The bytes are a pure
function of the inputs (serial number from the image digest, the given timestamp, components
sorted), so the SBOM blob gets the same digest on every run of the same build.

Every cyclonedx import stays inside this module: only the push stage imports it, lazily.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from autopack.errors import ImageError

CYCLONEDX_PLUGIN = ("org.cyclonedx", "cyclonedx-maven-plugin", "2.9.1")
CYCLONEDX_GOAL = "org.cyclonedx:cyclonedx-maven-plugin:2.9.1:makeBom"
DEPENDENCY_PLUGIN = ("org.apache.maven.plugins", "maven-dependency-plugin", "3.8.1")
LIST_GOAL = "org.apache.maven.plugins:maven-dependency-plugin:3.8.1:list"
BOM_FILE = "autopack-bom.json"
LIST_FILE = "autopack-dependencies.txt"

# The -D defines apply to the whole run. Each name here was checked in the plugin's plugin.xml,
# and no other plugin in a Spring Boot, shade or plain build reads the unprefixed ones.
# outputDirectory is left at its default (${project.build.directory}): copy-dependencies reads
# the same name. cyclonedx.skipNotDeployed: a service module often skips deploy, and would get no SBOM.
_CYCLONEDX_DEFINES = {
    "outputName": BOM_FILE.removesuffix(".json"),
    "outputFormat": "json",
    "cyclonedx.skipAttach": "true",
    "cyclonedx.skipNotDeployed": "false",
    "includeProvidedScope": "false",
    "includeSystemScope": "false",
}
# includeScope=runtime is also what autopack passes for copy-dependencies: the same meaning.
# Maven interpolates ${project.build.directory} in a -D value per module.
_LIST_DEFINES = {
    "outputFile": f"${{project.build.directory}}/{LIST_FILE}",
    "outputAbsoluteArtifactFilename": "true",
    "includeScope": "runtime",
}
_SCOPES = ("compile", "runtime", "provided", "system", "test")
_SERIAL_NAMESPACE = uuid.UUID("6f1d0a52-2f55-4a8e-9a43-5b0c3f1e7a10")  # autopack's, for uuid5
_CHUNK = 1 << 20


class SbomError(ImageError):
    """No SBOM can be made for this image: neither plugin can run, or the run left no graph.
    The caller may report it as "no SBOM: …" and push the image without one."""


@dataclass(frozen=True)
class Dependency:
    """One resolved artifact. ``scope`` is Maven's (compile, runtime) when the tool says it;
    ``licenses`` are (``id`` | ``name`` | ``expression``, value) pairs as the POMs declare them."""

    purl: str
    group: str
    name: str
    version: str
    scope: str | None
    sha256: str
    sha1: str | None = None
    licenses: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Graph:
    """One module's runtime dependencies. ``root`` is the module's own purl as the tool wrote it;
    ``edges`` map a purl to the purls it depends on, or are None when the tool gave a flat list."""

    tool: str
    root: str | None
    components: tuple[Dependency, ...]
    edges: tuple[tuple[str, tuple[str, ...]], ...] | None

    def direct(self) -> tuple[str, ...]:
        """The module's direct dependencies; every one for a flat list."""
        if self.edges is None or self.root is None:
            return tuple(c.purl for c in self.components)
        return dict(self.edges).get(self.root, ())


TOOLS = ("auto", "cyclonedx-maven-plugin", "dependency-list")  # --sbom-tool


def maven_additions(local_repository: Path, offline: bool, tool: str = "auto", declared: bool = False) -> tuple[tuple[str, ...], dict[str, str]]:
    """The goals and -D defines to append to the Maven run. ``tool``: ``cyclonedx-maven-plugin``
    (online only: makeBom requires online mode, whatever the local repository holds),
    ``dependency-list`` (dependency:list; autopack hashes the jars), or ``auto``: the plugin
    where the project's poms name it already (``declared``: the team chose it and configures it)
    and Maven is online, else the list — the plugin hashes every jar with ten algorithms and
    validates its output, 2.5–3 s a build, which a service that did not ask for it should not
    pay. ``offline`` is whether Maven runs offline (``-o``, or settings.xml's ``<offline>``).
    Raises ``SbomError`` when the chosen way cannot run, rather than let Maven fail the build."""
    if tool == "cyclonedx-maven-plugin" or tool == "auto" and declared and not offline:
        if offline:
            raise SbomError(f"no SBOM: --sbom-tool cyclonedx-maven-plugin cannot run offline ({CYCLONEDX_GOAL} requires online mode)", "run online, or use --sbom-tool dependency-list")
        return (CYCLONEDX_GOAL, LIST_GOAL), {**_CYCLONEDX_DEFINES, **_LIST_DEFINES}  # the list too: the graph still, should the pom send the plugin's output elsewhere
    if not offline or _in_repository(local_repository, DEPENDENCY_PLUGIN):
        return (LIST_GOAL,), dict(_LIST_DEFINES)
    raise SbomError(
        f"no SBOM: Maven runs offline, and {LIST_GOAL.rsplit(':', 1)[0]} is not in {local_repository}",
        "run once online (or scripts/maven-repo for the tests' repository) so Maven fetches maven-dependency-plugin 3.8.1",
    )


def source_of(goals: tuple[str, ...]) -> str:
    """What reads the graph, as the result names it."""
    return "cyclonedx-maven-plugin 2.9.1" if CYCLONEDX_GOAL in goals else "maven-dependency-plugin 3.8.1 (list)"


def read_graph(build_directory: Path, since: float | None = None) -> Graph:
    """The graph this run left in ``build_directory`` (a module's target/): the CycloneDX
    plugin's, else dependency:list's (which runs beside the plugin: a pom that configures the
    plugin's output elsewhere, or as XML, still gets an SBOM). ``since``: the run's start (a
    ``time.time()``); a file older than it is an earlier build's, left by one without ``clean``."""
    found = [path for path in (build_directory / BOM_FILE, build_directory / LIST_FILE) if path.is_file() and (since is None or path.stat().st_mtime >= since)]
    if not found:
        raise SbomError(
            f"no SBOM: Maven left no dependency graph in {build_directory} (neither {BOM_FILE} nor {LIST_FILE}{' from this run' if since is not None else ''})",
            "the SBOM goal did not run for this module: a pom's own cyclonedx-maven-plugin configuration may send its output elsewhere; try --sbom-tool dependency-list",
        )
    return _read_bom(found[0]) if found[0].name == BOM_FILE else _read_list(found[0])


def document(
    graph: Graph,
    *,
    group_id: str,
    artifact_id: str,
    version: str,
    artifact: Path,
    image_name: str,
    image_digest: str,
    base: tuple[str, str | None] | None,
    created: datetime,
    tool_version: str,
) -> bytes:
    """The image's CycloneDX 1.6 JSON SBOM: the image (``metadata.component``), the application
    ``artifact``, the ``base`` image (reference, digest or None) and the graph's dependencies."""
    from cyclonedx.model import HashAlgorithm, HashType
    from cyclonedx.model.bom import Bom, BomMetaData
    from cyclonedx.model.component import Component, ComponentScope, ComponentType
    from cyclonedx.model.license import DisjunctiveLicense, LicenseExpression
    from cyclonedx.model.tool import ToolRepository
    from cyclonedx.output.json import JsonV1Dot6
    from packageurl import PackageURL

    image = Component(type=ComponentType.CONTAINER, name=image_name, version=image_digest, purl=_oci_purl(image_name, image_digest), bom_ref=f"image:{image_digest}")
    kind = artifact.suffix.lstrip(".") or "jar"
    app_purl = PackageURL(type="maven", namespace=group_id, name=artifact_id, version=version, qualifiers={"type": kind})
    application = Component(
        type=ComponentType.APPLICATION,
        group=group_id,
        name=artifact_id,
        version=version,
        purl=app_purl,
        bom_ref=app_purl.to_string(),
        hashes=[HashType(alg=HashAlgorithm.SHA_256, content=_hashes(artifact)[0])],
    )
    components = [application]
    image_parts = [application]
    if base is not None:
        reference, digest = base
        base_component = Component(
            type=ComponentType.CONTAINER,
            name=_repository(reference),
            version=digest or _tag(reference) or "latest",
            purl=_oci_purl(reference, digest),
            bom_ref=f"base:{digest or reference}",
        )
        components.append(base_component)
        image_parts.append(base_component)

    def licenses(dependency: Dependency) -> list[LicenseExpression | DisjunctiveLicense]:
        made: list[LicenseExpression | DisjunctiveLicense] = []
        for key, value in dependency.licenses:
            made.append(LicenseExpression(value) if key == "expression" else DisjunctiveLicense(id=value) if key == "id" else DisjunctiveLicense(name=value))
        return made

    by_purl: dict[str, Component] = {}
    for dependency in graph.components:
        if dependency.purl == app_purl.to_string() or dependency.purl in by_purl:
            continue
        hashes = [HashType(alg=HashAlgorithm.SHA_256, content=dependency.sha256)]
        if dependency.sha1:
            hashes.append(HashType(alg=HashAlgorithm.SHA_1, content=dependency.sha1))
        by_purl[dependency.purl] = Component(
            type=ComponentType.LIBRARY,
            group=dependency.group or None,
            name=dependency.name,
            version=dependency.version,
            scope=ComponentScope.REQUIRED,
            purl=PackageURL.from_string(dependency.purl),
            bom_ref=dependency.purl,
            hashes=hashes,
            licenses=licenses(dependency),
        )
    components.extend(by_purl.values())

    tools = [Component(type=ComponentType.APPLICATION, name="autopack", version=tool_version)]
    tool_name, _, tool_release = graph.tool.partition(" ")
    tool_group = CYCLONEDX_PLUGIN[0] if tool_name == CYCLONEDX_PLUGIN[1] else DEPENDENCY_PLUGIN[0]
    tools.append(Component(type=ComponentType.APPLICATION, group=tool_group, name=tool_name, version=tool_release or None))
    bom = Bom(
        serial_number=uuid.uuid5(_SERIAL_NAMESPACE, image_digest),
        metadata=BomMetaData(component=image, timestamp=created, tools=ToolRepository(components=tools)),
        components=components,
    )
    bom.register_dependency(image, image_parts)
    # The graph's own edges, its root being the application; a flat list hangs every jar on it.
    direct = [by_purl[ref] for ref in graph.direct() if ref in by_purl]
    bom.register_dependency(application, sorted(direct, key=lambda c: str(c.bom_ref)))
    for ref, depends_on in graph.edges or ():
        if ref in by_purl:
            bom.register_dependency(by_purl[ref], [by_purl[target] for target in depends_on if target in by_purl])
    # The library lists every component in the graph, those with no edge as having no
    # dependencies, which CycloneDX reads as "known to have none"; a jar from the flat list and
    # the base image have unknown ones, so they are left out of the graph (the spec's "unknown").
    known = {str(image.bom_ref), str(application.bom_ref), *(ref for ref, _ in graph.edges or ())}
    data = json.loads(JsonV1Dot6(bom).output_as_string())
    data["dependencies"] = [entry for entry in data.get("dependencies", []) if entry["ref"] in known]
    return json.dumps(data, indent=2, ensure_ascii=False).encode() + b"\n"


def _read_bom(path: Path) -> Graph:
    """The CycloneDX plugin's JSON: its components, their hashes and licenses, and its edges."""
    try:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        tools = data.get("metadata", {}).get("tools", {})
        tool: dict[str, Any] = next((t for t in (tools.get("components", []) if isinstance(tools, dict) else tools) if t.get("name") == CYCLONEDX_PLUGIN[1]), {})
        root = data.get("metadata", {}).get("component", {}).get("bom-ref")
        components = []
        for item in data.get("components", []):
            hashes = {h["alg"]: h["content"] for h in item.get("hashes", [])}
            if "SHA-256" not in hashes:
                raise SbomError(f"no SBOM: {path} gives no SHA-256 for {item.get('purl')}", "its jar was not resolved to a file; rebuild with Maven online")
            components.append(
                Dependency(
                    purl=item["purl"],
                    group=item.get("group", ""),
                    name=item["name"],
                    version=item.get("version", ""),
                    scope=None,
                    sha256=hashes["SHA-256"],
                    sha1=hashes.get("SHA-1"),
                    licenses=tuple(_license(entry) for entry in item.get("licenses", [])),
                )
            )
        edges = tuple((edge["ref"], tuple(edge.get("dependsOn", ()))) for edge in data.get("dependencies", []))
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
        raise SbomError(f"no SBOM: cannot read {path} ({e!r})", "the CycloneDX plugin wrote something autopack does not understand; report it") from e
    return Graph(f"{CYCLONEDX_PLUGIN[1]} {tool.get('version', CYCLONEDX_PLUGIN[2])}", root, tuple(sorted(components, key=lambda c: c.purl)), edges)


def _license(entry: dict[str, Any]) -> tuple[str, str]:
    if "expression" in entry:
        return "expression", entry["expression"]
    license_ = entry["license"]
    return ("id", license_["id"]) if "id" in license_ else ("name", license_["name"])


def _read_list(path: Path) -> Graph:
    """dependency:list's file, one ``g:a:type[:classifier]:version:scope:/abs/file`` a line,
    maybe followed by `` (optional)`` and `` -- module name``; each file hashed here."""
    from packageurl import PackageURL

    components = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as e:
        raise SbomError(f"no SBOM: cannot read {path} ({e})", "check the build directory's permissions") from e
    for line in lines:
        entry = line.strip().split(" -- module ", 1)[0].removesuffix(" (optional)")
        parts = entry.split(":")
        if len(parts) < 5 or " " in parts[0]:
            continue  # the header, a blank line, "none"
        if parts[4] in _SCOPES:
            (group, name, kind, version, scope), classifier, rest = parts[:5], "", parts[5:]
        elif len(parts) > 5 and parts[5] in _SCOPES:
            (group, name, kind, classifier, version, scope), rest = parts[:6], parts[6:]
        else:
            continue
        if not rest:
            raise SbomError(f"no SBOM: {path} names no file for {entry}", "dependency:list must run with -DoutputAbsoluteArtifactFilename=true (maven_additions sets it)")
        jar = Path(":".join(rest))
        if not jar.is_file():
            raise SbomError(f"no SBOM: {group}:{name}:{version} resolves to {jar}, which is not a file", "a reactor module must be packaged in the same run (mvn package, not compile)")
        qualifiers = {"type": kind, **({"classifier": classifier} if classifier else {})}
        purl = PackageURL(type="maven", namespace=group, name=name, version=version, qualifiers=qualifiers).to_string()
        components.append(Dependency(purl, group, name, version, scope, *_hashes(jar)))
    return Graph(f"{DEPENDENCY_PLUGIN[1]} {DEPENDENCY_PLUGIN[2]}", None, tuple(sorted(components, key=lambda c: c.purl)), None)


def _in_repository(local_repository: Path, coordinates: tuple[str, str, str]) -> bool:
    """Whether Maven resolved the plugin into the repository: its jar and its pom (a jar alone
    is an interrupted download, or a copy Maven would not trust)."""
    group, name, version = coordinates
    directory = local_repository.joinpath(*group.split("."), name, version)
    return (directory / f"{name}-{version}.jar").is_file() and (directory / f"{name}-{version}.pom").is_file()


def _hashes(path: Path) -> tuple[str, str]:
    """The file's SHA-256 and SHA-1, in one read."""
    sha256, sha1 = hashlib.sha256(), hashlib.sha1(usedforsecurity=False)
    try:
        with open(path, "rb") as f:
            while chunk := f.read(_CHUNK):
                sha256.update(chunk)
                sha1.update(chunk)
    except OSError as e:
        raise SbomError(f"no SBOM: cannot hash {path} ({e})", "check what Maven built") from e
    return sha256.hexdigest(), sha1.hexdigest()


def _split(reference: str) -> tuple[str, str, str | None]:
    """``reference`` as (registry, path, tag); Docker Hub's implied registry and ``library/`` made
    explicit, as the oci purl's ``repository_url`` wants a full repository."""
    name = reference.split("@", 1)[0]
    tag = None
    if ":" in name.rsplit("/", 1)[-1]:
        name, tag = name.rsplit(":", 1)
    first, _, remainder = name.partition("/")
    if remainder and ("." in first or ":" in first or first == "localhost"):
        return first, remainder, tag
    return "docker.io", name if remainder else f"library/{name}", tag


def _repository(reference: str) -> str:
    """The reference without tag or digest, as written (``registry:5000/team/app``)."""
    name = reference.split("@", 1)[0]
    return name.rsplit(":", 1)[0] if ":" in name.rsplit("/", 1)[-1] else name


def _tag(reference: str) -> str | None:
    return _split(reference)[2]


def _oci_purl(reference: str, digest: str | None) -> Any:
    """``pkg:oci/<last path segment>@<digest>?repository_url=<registry>/<path>[&tag=…]`` (the
    purl spec's oci type: the name is lowercase, the version is the digest)."""
    from packageurl import PackageURL

    registry, path, tag = _split(reference)
    if digest is None and "@" in reference:
        digest = reference.split("@", 1)[1]
    qualifiers = {"repository_url": f"{registry}/{path}", **({"tag": tag} if tag else {})}
    return PackageURL(type="oci", name=path.rsplit("/", 1)[-1].lower(), version=digest, qualifiers=qualifiers)
