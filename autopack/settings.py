"""Settings: every knob of a run, resolved once, in this order (first wins):

1. command-line options;
2. ``AUTOPACK_<NAME>`` environment variables (``AUTOPACK_SKIP_TESTS=1``,
   ``AUTOPACK_DEFINES="a=1,b=2"``) — except ``AUTOPACK_IMAGE_NAME``,
   ``AUTOPACK_TAG_TEMPLATES="{version} latest"`` and ``AUTOPACK_SVN_REVISION``, whose plain
   names belong to the dotenv report (``ENV_NAMES``);
3. facts of the CI system the run is in (source, build number: ``ci.py``);
4. ``autopack.toml`` in the project (or ``--config FILE``), keys named like the options —
   for a git or svn source, the one in the checkout (``with_project_file``); relative paths
   in it are relative to the file;
5. the CI system's default tags (a project's own ``tags`` beat them);
6. defaults.
"""

from __future__ import annotations

import dataclasses
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from autopack import ci
from autopack.errors import UsageError

CONFIG_FILE = "autopack.toml"


@dataclass(frozen=True)
class Settings:
    """Field metadata, read by ``autopack/reference.py`` for the README's settings table:
    ``option`` names the command-line parameter that sets a field where it is not the
    field's own name (``-P/--profile`` → ``profiles``), ``argument`` a positional one, and
    ``help`` says what a field that no option sets means."""

    source: str = field(default=".", metadata={"argument": "source"})
    # source
    vcs: str | None = None
    ref: str | None = None
    revision: str | None = None
    branch: str | None = None
    svn_tag: str | None = None
    subdir: str | None = None
    shallow: bool = False
    gitlab_url: str | None = None
    svn_user: str | None = None
    svn_password_file: Path | None = None
    svn_externals: bool = False  # follow svn:externals (each held to the source rules); off: never
    # Maven
    goals: tuple[str, ...] = field(default=("clean", "package"), metadata={"option": "goal"})
    profiles: tuple[str, ...] = field(default=(), metadata={"option": "profile"})
    defines: Mapping[str, str] = field(default_factory=dict, metadata={"option": "define"})
    skip_tests: bool = False
    maven_settings: Path | None = None
    offline: bool = False
    maven_args: tuple[str, ...] = field(default=(), metadata={"option": "maven_arg"})
    modules: tuple[str, ...] = field(default=(), metadata={"option": "module"})
    maven_threads: str | None = None
    maven_env: tuple[str, ...] = ()  # variables handed to Maven even though autopack holds them as credentials
    maven_repo: Path | None = None  # the local repository (-Dmaven.repo.local), shared safely with concurrent runs
    artifact: str | None = None  # glob, relative to each image module, of the file to put in the image
    artifacts: Mapping[str, str] = field(
        default_factory=dict,
        metadata={"help": '--artifact for one image module: artifactId → glob of the file to put in its image, e.g. { orders = "target/*-exec.jar" }; beats --artifact for that module.'},
    )
    # image
    dockerfile: Path | None = field(default=None, metadata={"option": "file"})
    image: str | None = None
    tags: tuple[str, ...] = field(default=(), metadata={"option": "tag"})
    build_args: Mapping[str, str] = field(default_factory=dict, metadata={"option": "build_arg"})
    target: str | None = None
    no_cache: bool = False
    pull: bool = False
    network: str | None = None
    engine: str = "auto"  # the builder: auto, buildkit, docker-api, buildah, direct, buildkitd
    load: bool = False  # the direct builder: also into the local Docker engine (always without --push)
    platforms: tuple[str, ...] = field(default=(), metadata={"option": "platform"})  # os/arch[/variant]; () is this machine's
    image_format: str = "oci"  # the direct builder's manifests: oci, or docker (v2 schema 2)
    layers: str = "auto"  # auto: stage a Spring Boot jar's layers for a Dockerfile declaring ARG LAYERS; off
    builder: str | None = None  # a BuildKit daemon's address (--builder, AUTOPACK_BUILDER; else BUILDKIT_HOST)
    docker_host: str | None = None  # the engine to use, as DOCKER_HOST (tcp://, ssh://, unix://)
    build_secrets: Mapping[str, str] = field(default_factory=dict, metadata={"option": "secret"})  # BuildKit secret id → file
    force: bool = False  # build even when an image with the same inputs digest exists
    strict: bool = False  # refuse (exit 2) a build context or build arg that holds a credential, instead of warning
    jobs: int | None = None
    images: Mapping[str, str] = field(
        default_factory=dict,
        metadata={"help": 'A reactor module\'s image name instead of its artifactId: artifactId → name, e.g. { orders-api = "orders" }; with several images --image and --push are prefixes of these names.'},
    )
    build_number: str | None = None
    # push
    destinations: tuple[str, ...] = field(default=(), metadata={"option": "push"})
    preflight: bool = True
    push_jobs: int | None = None
    push_retries: int = 3
    push_mode: str = "parallel"  # parallel: the engine pushes to every destination at once (a failed one gets the copy); copy: one engine push, then registry-to-registry copies
    immutable_tags: str | None = None
    inputs_tag: bool = True  # also push the tag inputs-sha256-<inputs digest>
    registry_auth_file: Path | None = None
    # supply chain: made with --push (or when --sbom / --provenance is given), attached at every destination
    sbom: bool = True  # a CycloneDX SBOM from Maven's dependency graph
    sbom_tool: str = "auto"  # what reads the graph: auto, cyclonedx-maven-plugin, dependency-list
    provenance: bool = True  # an in-toto SLSA provenance v1 statement
    sign_key: Path | None = None  # a cosign key pair's private key: sign the image (and the attestations) by digest
    sign_command: str | None = None  # or an external signer (KMS): gets the bytes on stdin, prints the signature
    sign_password_stdin: bool = False  # the key's password from one line of stdin (else $COSIGN_PASSWORD)
    # output
    log_dir: Path | None = None
    result_file: Path | None = None
    # how these values came about: names set by layers 1–3, and the settings file read
    given: frozenset[str] = frozenset()
    config_file: Path | None = None


_FIELDS = {f.name: f for f in dataclasses.fields(Settings) if f.name not in ("given", "config_file")}
# Where to check out from is not a project's own setting: it is known before the checkout.
_SOURCE_ONLY = {"source", "result_file", "vcs", "ref", "revision", "branch", "svn_tag", "subdir", "shallow", "svn_externals"}
# Not taken from a checked-out file: read before the checkout exists, or (log_dir,
# maven_repo) a place on this machine that must outlive the checkout, which is removed when
# the run ends.
# The signing key and command are this machine's, never a checked-out project's: a project
# file must not pick the key that vouches for it, nor a command for autopack to run.
_BEFORE_CHECKOUT = {"gitlab_url", "svn_user", "svn_password_file", "log_dir", "maven_repo", "sign_key", "sign_command", "sign_password_stdin"}
# Paths in a settings file are relative to the file (``dockerfile`` to each module's directory).
_FILE_RELATIVE = {"maven_settings", "maven_repo", "registry_auth_file", "svn_password_file", "log_dir", "build_secrets", "sign_key"}


def resolve(
    cli: Mapping[str, Any],
    environ: Mapping[str, str] | None = None,
    config: Path | None = None,
) -> Settings:
    """Merge the layers named in the module docstring into one ``Settings``.

    ``cli`` holds the parsed options; None or an empty collection means "not given".
    ``config`` is an explicit --config file, else ``<source>/autopack.toml`` when present.
    """
    environ = os.environ if environ is None else environ
    ci_layer, ci_defaults = ci.settings_layers(ci.detect(environ))
    source = cli.get("source") or environ.get("AUTOPACK_SOURCE") or ci_layer["source"] or "."
    path = config if config else Path(str(source)) / CONFIG_FILE
    file_values = _load_file(path, required=bool(config))

    values: dict[str, Any] = {}
    given = set()
    for name in _FIELDS:
        layers = (cli.get(name), _from_env(name, environ), ci_layer.get(name), file_values.get(name), ci_defaults.get(name))
        for i, layer in enumerate(layers):
            if layer is not None and layer != () and layer != {}:
                values[name] = _coerce(name, layer)
                if i < 3:  # options, environment, CI facts: above any settings file
                    given.add(name)
                break
    values["source"] = source
    return Settings(**values, given=frozenset(given), config_file=path if file_values or config else None)


def with_project_file(settings: Settings, project_dir: Path) -> Settings:
    """Layer 4 for a source that was not on disk when ``resolve`` ran: ``autopack.toml`` in
    the checked-out project fills what options, environment and CI left open. An explicit
    ``--config`` stays the only file."""
    path = project_dir / CONFIG_FILE
    if settings.config_file is not None or not path.is_file():
        return settings
    file_values = _load_file(path, required=True)
    values = {k: _coerce(k, v) for k, v in file_values.items() if k not in settings.given and k not in _BEFORE_CHECKOUT}
    return dataclasses.replace(settings, **values, config_file=path)


# The dotenv/properties reports hand AUTOPACK_IMAGE, AUTOPACK_TAGS, AUTOPACK_REVISION … to the
# next CI job; read back as settings they would turn one job's output into the next one's
# input. Those settings take names of their own.
ENV_NAMES = {"image": "AUTOPACK_IMAGE_NAME", "tags": "AUTOPACK_TAG_TEMPLATES", "revision": "AUTOPACK_SVN_REVISION"}


def env_name(name: str) -> str:
    return ENV_NAMES.get(name, "AUTOPACK_" + name.upper())


def _from_env(name: str, environ: Mapping[str, str]) -> Any:
    raw = environ.get(env_name(name))
    if raw is None or raw == "":
        return None
    kind = _kind(name)
    if kind is bool:
        return raw.strip().lower() in ("1", "true", "yes", "on")
    if kind is tuple:
        return tuple(v for v in re.split(r"[\s,]+", raw) if v)
    if kind is dict:
        return parse_pairs(re.split(r"\s*,\s*", raw.strip()), f"AUTOPACK_{name.upper()}")
    return raw


def _kind(name: str) -> type:
    annotation = str(_FIELDS[name].type)
    if annotation == "bool":
        return bool
    if annotation.startswith("int"):
        return int
    if annotation.startswith("tuple"):
        return tuple
    if annotation.startswith("Mapping"):
        return dict
    if annotation.startswith("Path"):
        return Path
    return str


def _coerce(name: str, value: Any) -> Any:
    kind = _kind(name)
    if kind is tuple:
        return tuple(str(v) for v in ([value] if isinstance(value, str) else value))
    if kind is dict:
        if not isinstance(value, Mapping):
            raise UsageError(f"setting '{name}' must be a table of KEY = \"VALUE\"", f"fix '{name}' in {CONFIG_FILE}")
        return {str(k): str(v) for k, v in value.items()}
    if kind is bool:
        if not isinstance(value, bool):
            raise UsageError(f"setting '{name}' must be true or false, not {value!r}", f"fix '{name}' in {CONFIG_FILE}")
        return value
    if kind is Path:
        return Path(value)
    if kind is int:
        try:
            return int(value)
        except (TypeError, ValueError):
            raise UsageError(f"setting '{name}' must be a whole number, not {value!r}", f"fix '{name}'") from None
    return str(value)


def _load_file(path: Path, required: bool) -> dict[str, Any]:
    if not path.is_file():
        if required:
            raise UsageError(f"config file {path} does not exist", "check the --config path")
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise UsageError(f"{path} is not valid TOML: {e}", "fix the file; see README 'Configuration'") from e
    settable = set(_FIELDS) - _SOURCE_ONLY
    values = {k.replace("-", "_"): v for k, v in data.items()}
    unknown = sorted(set(values) - settable)
    if unknown:
        raise UsageError(
            f"{path}: unknown setting '{unknown[0]}'",
            "known settings: " + ", ".join(sorted(settable)),
        )
    for name in _FILE_RELATIVE & set(values):
        if isinstance(values[name], str):
            values[name] = str(path.parent / Path(values[name]).expanduser())
        elif isinstance(values[name], Mapping):  # build_secrets: id → file
            values[name] = {k: str(path.parent / Path(str(v)).expanduser()) for k, v in values[name].items()}
    return values


def parse_pairs(items: list[str] | tuple[str, ...], option: str) -> dict[str, str]:
    """``["KEY=VALUE", …]`` → dict; an item without ``=`` is a usage error naming the option."""
    pairs: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"{option} expects KEY=VALUE, got '{item}'", f"write it as {option} NAME=value")
        pairs[key] = value
    return pairs


def parse_secrets(items: list[str] | tuple[str, ...]) -> dict[str, str]:
    """``--secret id=NAME,src=FILE`` (docker's own form; ``source=`` too) → {NAME: absolute FILE}."""
    found: dict[str, str] = {}
    for item in items:
        fields = dict(part.partition("=")[::2] for part in item.split(","))
        name, path = fields.get("id"), fields.get("src") or fields.get("source")
        if not name or not path or set(fields) - {"id", "src", "source"}:
            raise UsageError(f"--secret expects id=NAME,src=FILE, got '{item}'", "write it as --secret id=maven,src=ci/settings.xml")
        found[name] = str(Path(path).expanduser().resolve())
    return found
