"""What the CI system a run is in already knows: GitLab CI (``GITLAB_CI``) and Jenkins
(``JENKINS_URL``). Explicit options and ``AUTOPACK_*`` variables always win; these facts fill
the gaps, so that ``autopack build --push`` needs nothing else in a pipeline.

| fact                | GitLab CI                                        | Jenkins                                   |
|---------------------|--------------------------------------------------|-------------------------------------------|
| source (default)    | CI_PROJECT_DIR                                   | WORKSPACE                                 |
| revision            | CI_COMMIT_SHA, CI_COMMIT_SHORT_SHA               | GIT_COMMIT, or SVN_REVISION               |
| branch / tag        | CI_COMMIT_TAG, else CI_COMMIT_REF_NAME           | TAG_NAME, BRANCH_NAME, GIT_BRANCH, PR-CHANGE_ID |
| source URL (labels) | CI_PROJECT_URL                                   | GIT_URL, or SVN_URL                       |
| build number        | CI_PIPELINE_IID                                  | BUILD_NUMBER                              |
| job, builder (provenance) | CI_JOB_URL; CI_SERVER_URL + CI_RUNNER_ID   | BUILD_URL; JENKINS_URL                    |
| default tags        | tag builds: CI_COMMIT_TAG + {version}; branches: CI_COMMIT_SHA, CI_COMMIT_REF_SLUG + {version} | {version}, {version}-{build} |

Destinations (``CI_REGISTRY_IMAGE`` for a bare ``--push``), registry logins
(``CI_REGISTRY_USER``/``CI_REGISTRY_PASSWORD``), ``CI_JOB_TOKEN`` and ``CI_SERVER_URL`` are
read where they are used (pipeline, credentials, source/gitlab).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from autopack import secrets, tags

if TYPE_CHECKING:  # the source package is imported by the commands that check out, not by --help
    from autopack.source.base import Checkout


@dataclass(frozen=True)
class CiContext:
    system: str | None = None  # "gitlab", "jenkins" or None
    workspace: str | None = None
    revision: str | None = None
    short_revision: str | None = None
    branch: str | None = None
    source_url: str | None = None
    build_number: str | None = None
    default_tags: tuple[str, ...] = ()
    job_url: str | None = None  # this job's page: CI_JOB_URL, BUILD_URL (provenance's invocation)
    builder_url: str | None = None  # what ran it: the GitLab runner's page, the Jenkins server (provenance's builder)


def detect(environ: Mapping[str, str]) -> CiContext:
    if environ.get("GITLAB_CI"):
        return _gitlab(environ)
    if environ.get("JENKINS_URL"):
        return _jenkins(environ)
    return CiContext()


def _gitlab(env: Mapping[str, str]) -> CiContext:
    tag = env.get("CI_COMMIT_TAG")
    defaults: tuple[str, ...]
    if tag:
        defaults = ("{version}", tags.tag_safe(tag))
    else:
        defaults = tuple(t for t in ("{version}", env.get("CI_COMMIT_SHA"), env.get("CI_COMMIT_REF_SLUG")) if t)
    sha = env.get("CI_COMMIT_SHA")
    return CiContext(
        system="gitlab",
        workspace=env.get("CI_PROJECT_DIR"),
        revision=sha,
        short_revision=env.get("CI_COMMIT_SHORT_SHA") or (sha[:8] if sha else None),
        branch=tag or env.get("CI_COMMIT_REF_NAME"),
        source_url=env.get("CI_PROJECT_URL"),
        build_number=env.get("CI_PIPELINE_IID"),
        default_tags=defaults,
        job_url=env.get("CI_JOB_URL"),
        builder_url=f"{server}/-/runners/{runner}" if (server := env.get("CI_SERVER_URL")) and (runner := env.get("CI_RUNNER_ID")) else server,
    )


def _jenkins(env: Mapping[str, str]) -> CiContext:
    git_commit, svn_revision = env.get("GIT_COMMIT"), env.get("SVN_REVISION")
    revision: str | None
    short: str | None
    if git_commit:
        revision, short = git_commit, git_commit[:8]
    elif svn_revision:
        revision, short = svn_revision, f"r{svn_revision}"
    else:
        revision = short = None
    change = env.get("CHANGE_ID")
    branch = env.get("TAG_NAME") or (f"PR-{change}" if change else None) or env.get("BRANCH_NAME") or _strip_remote(env.get("GIT_BRANCH"))
    build = env.get("BUILD_NUMBER")
    url = env.get("GIT_URL") or env.get("SVN_URL")
    return CiContext(
        system="jenkins",
        workspace=env.get("WORKSPACE"),
        revision=revision,
        short_revision=short,
        branch=branch,
        source_url=secrets.strip_url_credentials(url) if url else None,
        build_number=build,
        default_tags=("{version}", "{version}-{build}") if build else ("{version}",),
        job_url=secrets.strip_url_credentials(job) if (job := env.get("BUILD_URL")) else None,
        builder_url=secrets.strip_url_credentials(env["JENKINS_URL"]),
    )


def _strip_remote(branch: str | None) -> str | None:
    """Jenkins' GIT_BRANCH is ``origin/main``; the branch is ``main``."""
    if not branch:
        return None
    return branch.split("/", 1)[1] if branch.startswith(("origin/", "refs/remotes/origin/")) else branch.removeprefix("refs/heads/")


def settings_layers(ctx: CiContext) -> tuple[dict[str, object], dict[str, object]]:
    """The CI's facts (above a project's autopack.toml) and its defaults (below it) in the
    settings precedence (see settings.py)."""
    return {"build_number": ctx.build_number, "source": ctx.workspace}, {"tags": ctx.default_tags or None}


def enrich(checkout: Checkout, ctx: CiContext) -> Checkout:
    """Fill a local checkout's revision facts from the CI job, when it is the job's own
    workspace (a detached HEAD knows its commit but not its branch)."""
    if not ctx.system or checkout.kind != "local" or not ctx.workspace:
        return checkout
    workspace = Path(ctx.workspace).resolve()
    if checkout.path != workspace and workspace not in checkout.path.parents:
        return checkout
    return replace(
        checkout,
        revision=checkout.revision or ctx.revision,
        short_revision=checkout.short_revision or ctx.short_revision,
        branch=ctx.branch or checkout.branch,
        url=ctx.source_url or checkout.url,
    )


CI_REGISTRY_IMAGE = "$CI_REGISTRY_IMAGE"  # what a bare --push stands for
