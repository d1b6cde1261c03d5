"""``autopack build``: source → plan → maven → image."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from autopack.commands import options as o
from autopack.errors import UsageError
from autopack.events import STAGES
from autopack.settings import parse_pairs, parse_secrets

MAVEN = "Maven"
IMAGE = "Image"
SUPPLY = "Supply chain"

EXAMPLES = """\
Examples:

  autopack build                                  # the project in this directory

  autopack build services/orders -t '{version}' -t '{version}-{revision}'

  Source: autopack build https://gitlab.example.com/team/sub/orders.git --ref v1.4.0   |   autopack build gitlab:team/orders@main --subdir service

  Source: autopack build svn://svn.example.com/repo/trunk --revision 1234   |   autopack build svn://svn.example.com/repo --branch release-1

  Modules: autopack build services --module billing --module api --maven-threads 2 --jobs 2

  Maven: autopack build -P prod -D revision=1.4.0 --skip-tests --offline -s ci-settings.xml --maven-arg=-U

  Image: autopack build -f docker/Dockerfile --image registry.example.com/team/orders --build-arg JAVA_OPTS=-Xmx256m --target runtime

  Push: autopack build --push registry-a.example.com/team/orders --push registry-b.example.com/team/orders --immutable-tags '\\d+\\.\\d+\\.\\d+'

  Supply chain: COSIGN_PASSWORD=… autopack build --push registry-a.example.com/team/orders --sign-key cosign.key   (an SBOM and provenance come with every --push)

  Output: autopack build --json > result.json   |   autopack build --plain --result-file out/result.json -v
"""


def build(
    source: Annotated[Optional[str], typer.Argument(metavar="SOURCE", help="A directory holding pom.xml (default: .), a git or svn URL, or gitlab:group/project\\[@ref].", show_default=False)] = None,
    ref: o.Ref = None,
    revision: o.Revision = None,
    branch: o.Branch = None,
    svn_tag: o.SvnTag = None,
    vcs: o.Vcs = None,
    subdir: o.Subdir = None,
    shallow: o.Shallow = None,
    gitlab_url: o.GitlabUrl = None,
    svn_user: o.SvnUser = None,
    svn_password_file: o.SvnPasswordFile = None,
    svn_password_stdin: o.SvnPasswordStdin = False,
    svn_externals: o.SvnExternals = None,
    # Maven
    profile: Annotated[Optional[list[str]], typer.Option("-P", "--profile", metavar="NAME", help="Maven profile to activate (repeatable, or comma-separated).", rich_help_panel=MAVEN)] = None,
    define: Annotated[Optional[list[str]], typer.Option("-D", "--define", metavar="KEY=VALUE", help="Maven user property, also used to read the pom (${revision}).", rich_help_panel=MAVEN)] = None,
    skip_tests: Annotated[Optional[bool], typer.Option("--skip-tests/--run-tests", help="Pass -DskipTests to Maven.", rich_help_panel=MAVEN, show_default=False)] = None,
    maven_settings: Annotated[Optional[Path], typer.Option("-s", "--settings", metavar="FILE", help="Maven settings.xml to use.", rich_help_panel=MAVEN)] = None,
    offline: Annotated[Optional[bool], typer.Option("--offline/--online", help="Run Maven offline (-o).", rich_help_panel=MAVEN, show_default=False)] = None,
    maven_arg: Annotated[Optional[list[str]], typer.Option("--maven-arg", metavar="ARG", help="Extra Maven argument, passed as is (repeatable; write --maven-arg=-U).", rich_help_panel=MAVEN)] = None,
    module: Annotated[Optional[list[str]], typer.Option("-m", "--module", metavar="NAME", help="Build only this image module (artifactId or path; repeatable) and what it needs (-pl … -am).", rich_help_panel=MAVEN)] = None,
    maven_threads: Annotated[Optional[str], typer.Option("--maven-threads", metavar="N", help="Maven's -T: modules built in parallel (e.g. 2, 1C).", rich_help_panel=MAVEN)] = None,
    maven_env: Annotated[Optional[list[str]], typer.Option("--maven-env", metavar="NAME", help="Hand this environment variable to Maven even though autopack holds it as a credential (repeatable).", rich_help_panel=MAVEN)] = None,
    maven_repo: Annotated[
        Optional[Path],
        typer.Option("--maven-repo", metavar="DIR", help="Maven's local repository (-Dmaven.repo.local), safe to share with concurrent runs (default: the one Maven's settings name, else ~/.m2/repository).", rich_help_panel=MAVEN),
    ] = None,
    artifact: Annotated[Optional[str], typer.Option("--artifact", metavar="GLOB", help="The file to put in the image, relative to the module (e.g. 'target/*-exec.jar'), when Maven builds several.", rich_help_panel=MAVEN)] = None,
    goal: Annotated[Optional[list[str]], typer.Option("--goal", metavar="GOAL", help="Maven goal or phase (repeatable) (default: clean package).", rich_help_panel=MAVEN)] = None,
    # image
    file: Annotated[Optional[Path], typer.Option("-f", "--file", metavar="FILE", help="Dockerfile, relative to the project (default: Dockerfile).", rich_help_panel=IMAGE)] = None,
    image: Annotated[Optional[str], typer.Option("--image", metavar="NAME", help="Image name, e.g. registry:5000/team/app (default: the artifactId).", rich_help_panel=IMAGE)] = None,
    tag: Annotated[
        Optional[list[str]],
        typer.Option(
            "-t", "--tag", metavar="TEMPLATE", help="Tag template (repeatable): {version} {revision} {branch} {build} {timestamp} {artifactId} {groupId}; with a ':' it is a whole name:tag (default: {version}).", rich_help_panel=IMAGE
        ),
    ] = None,
    build_arg: Annotated[Optional[list[str]], typer.Option("--build-arg", metavar="KEY=VALUE", help="Docker build argument (repeatable); ARTIFACT and VERSION are set for you.", rich_help_panel=IMAGE)] = None,
    target: Annotated[Optional[str], typer.Option("--target", metavar="STAGE", help="Dockerfile stage to build.", rich_help_panel=IMAGE)] = None,
    no_cache: Annotated[Optional[bool], typer.Option("--no-cache/--cache", help="Build without the engine's layer cache.", rich_help_panel=IMAGE, show_default=False)] = None,
    pull: Annotated[Optional[bool], typer.Option("--pull/--no-pull", help="Always try to pull newer base images.", rich_help_panel=IMAGE, show_default=False)] = None,
    jobs: Annotated[Optional[int], typer.Option("-j", "--jobs", metavar="N", min=1, max=16, help="Images built at once in a multi-module project (default: 2).", rich_help_panel=IMAGE)] = None,
    engine: Annotated[
        Optional[str],
        typer.Option(
            "--engine",
            metavar="auto|buildkit|docker-api|buildah|direct|buildkitd",
            help="The builder: BuildKit through the docker CLI (the default where available), the Engine API's classic builder, buildah (daemonless; auto picks it where no Docker engine is set up), direct (no engine: RUN-less Dockerfiles, reproducible; auto picks it with --push and no --load, where no engine answers, and for several platforms), or a BuildKit daemon (--builder).",
            rich_help_panel=IMAGE,
        ),
    ] = None,
    builder: Annotated[
        Optional[str],
        typer.Option(
            "--builder",
            metavar="ADDR",
            help="A BuildKit daemon to build on: unix:///run/buildkit/buildkitd.sock, tcp://host:1234 (default: $BUILDKIT_HOST). The image is loaded into the Docker engine when one answers; the daemon pushes the first destination itself.",
            rich_help_panel=IMAGE,
        ),
    ] = None,
    load: Annotated[
        Optional[bool], typer.Option("--load/--no-load", help="Also put the image into the local Docker engine when the direct builder builds it (default: only without --push).", rich_help_panel=IMAGE, show_default=False)
    ] = None,
    platform: Annotated[
        Optional[list[str]],
        typer.Option("--platform", metavar="OS/ARCH", help="The platforms to build, e.g. linux/amd64,linux/arm64 (repeatable, or comma-separated; several need the direct builder) (default: this machine's).", rich_help_panel=IMAGE),
    ] = None,
    image_format: Annotated[
        Optional[str], typer.Option("--image-format", metavar="oci|docker", help="The direct builder's manifests: OCI (the default), or Docker's v2 schema 2 for a registry that takes no OCI.", rich_help_panel=IMAGE)
    ] = None,
    layers: Annotated[
        Optional[str],
        typer.Option(
            "--layers",
            metavar="auto|off",
            help="auto (the default): for a Dockerfile that declares ARG LAYERS, split a Spring Boot jar into target/autopack-layers/{dependencies,loader,snapshot-dependencies,project-dependencies,resources,classes}, one COPY each; off: never.",
            rich_help_panel=IMAGE,
        ),
    ] = None,
    secret: Annotated[Optional[list[str]], typer.Option("--secret", metavar="id=NAME,src=FILE", help="A file for RUN --mount=type=secret,id=NAME (BuildKit); never in a layer or the history (repeatable).", rich_help_panel=IMAGE)] = None,
    strict: Annotated[
        Optional[bool],
        typer.Option(
            "--strict/--no-strict",
            help="Refuse to build (exit 2) when the build context would send a credential (settings.xml with a <password>, .git, .env, a private key, cloud credentials) or a build arg looks like a secret; without it, a warning.",
            rich_help_panel=IMAGE,
            show_default=False,
        ),
    ] = None,
    network: Annotated[Optional[str], typer.Option("--network", metavar="MODE", help="Network mode for RUN steps (e.g. host, none).", rich_help_panel=IMAGE)] = None,
    force: Annotated[
        Optional[bool],
        typer.Option("--force/--no-force", help="Build even when an image with the same inputs digest exists (locally, or in the destinations with --push).", rich_help_panel=IMAGE, show_default=False),
    ] = None,
    inputs_tag: Annotated[
        Optional[bool],
        typer.Option(
            "--inputs-tag/--no-inputs-tag",
            help="Also tag each pushed image inputs-sha256-<inputs digest>, so that a later run with the same inputs finds it under any tag (default: on).",
            rich_help_panel=o.PUSH,
            show_default=False,
        ),
    ] = None,
    build_number: Annotated[Optional[str], typer.Option("--build-number", metavar="N", help="The CI build number for {build} (default: $CI_PIPELINE_IID or $BUILD_NUMBER).", rich_help_panel=IMAGE)] = None,
    # push
    push: o.Push = None,
    preflight: o.Preflight = None,
    push_jobs: o.PushJobs = None,
    push_retries: o.PushRetries = None,
    push_mode: o.PushMode = None,
    immutable_tags: o.ImmutableTags = None,
    registry_auth_file: o.RegistryAuthFile = None,
    docker_host: o.DockerHost = None,
    # supply chain
    sbom: Annotated[
        Optional[bool],
        typer.Option(
            "--sbom/--no-sbom", help="A CycloneDX SBOM of each image from Maven's dependency graph, written beside the result file and attached at every destination (default: on with --push).", rich_help_panel=SUPPLY, show_default=False
        ),
    ] = None,
    sbom_tool: Annotated[
        Optional[str],
        typer.Option(
            "--sbom-tool",
            metavar="TOOL",
            help="What reads Maven's graph for the SBOM: dependency-list (maven-dependency-plugin's list; autopack hashes the jars), cyclonedx-maven-plugin (a graph with edges and licenses; 2.5–3 s more a build, online only), or auto: the plugin where the project's pom names it, else the list.",
            rich_help_panel=SUPPLY,
        ),
    ] = None,
    provenance: Annotated[
        Optional[bool],
        typer.Option(
            "--provenance/--no-provenance",
            help="An in-toto SLSA provenance v1 statement of each image (source, revision, builder, parameters, CI job), attached like the SBOM (default: on with --push).",
            rich_help_panel=SUPPLY,
            show_default=False,
        ),
    ] = None,
    sign_key: Annotated[
        Optional[Path],
        typer.Option(
            "--sign-key",
            metavar="FILE",
            help="Sign each pushed image by digest, and its attestations, with this cosign key pair's private key (cosign.key); its password from $COSIGN_PASSWORD or --sign-password-stdin.",
            rich_help_panel=SUPPLY,
        ),
    ] = None,
    sign_command: Annotated[
        Optional[str],
        typer.Option(
            "--sign-command", metavar="CMD", help="Sign with an external signer or KMS instead: CMD (split like a shell, never run by one) gets the bytes to sign on stdin and prints the signature, base64 or DER.", rich_help_panel=SUPPLY
        ),
    ] = None,
    sign_password_stdin: Annotated[bool, typer.Option("--sign-password-stdin", help="Read the --sign-key password from one line of standard input.", rich_help_panel=SUPPLY)] = False,
    # output
    json_out: o.Json = False,
    result_file: o.ResultFile = None,
    dotenv: o.Dotenv = None,
    properties: o.Properties = None,
    plain: o.Plain = False,
    quiet: o.Quiet = False,
    verbose: o.Verbose = False,
    log_dir: o.LogDir = None,
    config: o.Config = None,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="Print the plan and stop (as autopack plan): the ref resolved, the poms read, tags, destinations, credential sources, engine, inputs digest and what would be skipped — no Maven, no build, no push.",
            rich_help_panel=o.OUTPUT,
        ),
    ] = False,
) -> None:
    """Build the Maven project at SOURCE and package it into a tagged image."""
    given = locals()
    o.run_command(
        stages=STAGES,
        cli=lambda: {
            "source": source,
            **o.source_values(given),
            "profiles": tuple(p for item in profile or () for p in item.split(",") if p),
            "defines": parse_pairs(define or (), "-D/--define"),
            "skip_tests": skip_tests,
            "maven_settings": maven_settings.resolve() if maven_settings else None,  # Maven runs in the project
            "offline": offline,
            "maven_args": tuple(maven_arg or ()),
            "goals": tuple(goal or ()),
            "modules": tuple(module or ()),
            "maven_threads": maven_threads,
            "maven_env": tuple(maven_env or ()),
            "maven_repo": maven_repo.expanduser().resolve() if maven_repo else None,  # Maven runs in the project
            "artifact": artifact,
            "jobs": jobs,
            "dockerfile": file,
            "image": image,
            "tags": tuple(tag or ()),
            "build_args": parse_pairs(build_arg or (), "--build-arg"),
            "target": target,
            "no_cache": no_cache,
            "pull": pull,
            "network": network,
            "force": force,
            "inputs_tag": inputs_tag,
            "engine": engine,
            "builder": builder,
            "load": load,
            "platforms": tuple(p for item in platform or () for p in item.split(",") if p.strip()),
            "image_format": image_format,
            "layers": layers,
            "build_secrets": parse_secrets(secret or ()),
            "strict": strict,
            "build_number": build_number,
            **o.push_values(given),
            "sbom": sbom,
            "sbom_tool": sbom_tool,
            "provenance": provenance,
            "sign_key": sign_key.expanduser().resolve() if sign_key else None,
            "sign_command": sign_command,
            "sign_password_stdin": _one_stdin(sign_password_stdin, svn_password_stdin),
            "log_dir": log_dir,
            "result_file": result_file,
            **_no_reports_of_a_plan(dry_run, dotenv, properties),
        },
        config=config,
        json_out=json_out,
        result_file=result_file,
        dotenv=None if dry_run else dotenv,
        properties=None if dry_run else properties,
        plain=plain,
        quiet=quiet,
        verbose=verbose,
        log_dir=log_dir,
        password_stdin=svn_password_stdin,
        body=_plan_only if dry_run else _run,
        document=_plan_document if dry_run else None,
    )


def plan(**options: Any) -> None:
    """Print what build would do — images, tags, destinations, credential sources, engine, inputs digest, what would be skipped — and change nothing (no Maven, no build, no push)."""
    build(**options, dry_run=True)


# ``autopack plan`` takes exactly build's options (but --dry-run, which it always is), so
# that a plan is made from the very settings a build would be. The annotations are read once,
# here, for both commands: typer would otherwise evaluate the same 70 of them twice a start.
_signature = inspect.signature(build, eval_str=True)
build.__annotations__ = {**{p.name: p.annotation for p in _signature.parameters.values()}, "return": None}
plan.__signature__ = _signature.replace(parameters=[p for p in _signature.parameters.values() if p.name != "dry_run"])  # type: ignore[attr-defined]
plan.__annotations__ = {name: hint for name, hint in build.__annotations__.items() if name != "dry_run"}

PLAN_EXAMPLES = """\
Examples:

  autopack plan                                   # what `autopack build` would do here, doing none of it

  autopack plan https://gitlab.example.com/team/orders.git --ref v1.4.0 --push registry-a.example.com/team/orders --json

  autopack build --dry-run --push registry-a.example.com/team/orders   # the same as plan
"""


def _no_reports_of_a_plan(dry_run: bool, dotenv: Path | None, properties: Path | None) -> dict[str, Any]:
    if dry_run and (dotenv or properties):
        raise UsageError("--dotenv and --properties describe a built image, and a plan builds none", "drop them, or run without --dry-run")
    return {}


def _one_stdin(sign_password_stdin: bool, svn_password_stdin: bool) -> bool | None:
    if sign_password_stdin and svn_password_stdin:
        raise UsageError("--sign-password-stdin and --svn-password-stdin both want standard input", "give one of the passwords another way: $COSIGN_PASSWORD, or --svn-password-file")
    return sign_password_stdin or None


def _run(*args: Any) -> None:
    from autopack import pipeline  # the engine, Maven and registry machinery: only once a build runs

    pipeline.run(*args)


def _plan_only(*args: Any) -> None:
    from autopack import pipeline

    pipeline.plan_only(*args)


def _plan_document(*args: Any) -> dict[str, Any]:
    from autopack import plan_object

    return plan_object.to_dict(*args)
