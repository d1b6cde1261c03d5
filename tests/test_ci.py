"""CI detection: GitLab CI and Jenkins variable sets (names and value shapes from their
documentation) turned into settings defaults and revision facts."""

from __future__ import annotations

from pathlib import Path

from autopack import ci
from autopack.settings import resolve
from autopack.source.base import Checkout

SHA = "1f0e3dad99908345f7439f8ffabdffc4c7a3b5e2"

GITLAB = {
    "CI": "true",
    "GITLAB_CI": "true",
    "CI_SERVER_URL": "https://gitlab.example.com",
    "CI_SERVER_HOST": "gitlab.example.com",
    "CI_PROJECT_DIR": "/builds/group/sub/orders",
    "CI_PROJECT_PATH": "group/sub/orders",
    "CI_PROJECT_URL": "https://gitlab.example.com/group/sub/orders",
    "CI_COMMIT_SHA": SHA,
    "CI_COMMIT_SHORT_SHA": SHA[:8],
    "CI_COMMIT_REF_NAME": "feature/login",
    "CI_COMMIT_REF_SLUG": "feature-login",
    "CI_COMMIT_BRANCH": "feature/login",
    "CI_DEFAULT_BRANCH": "main",
    "CI_PIPELINE_ID": "1234567",
    "CI_PIPELINE_IID": "42",
    "CI_JOB_ID": "7654321",
    "CI_JOB_TOKEN": "glcbt-64-abcdefghijklmnopqrst",
    "CI_REGISTRY": "registry.example.com",
    "CI_REGISTRY_IMAGE": "registry.example.com/group/sub/orders",
    "CI_REGISTRY_USER": "gitlab-ci-token",
    "CI_REGISTRY_PASSWORD": "glcbt-64-abcdefghijklmnopqrst",
}

JENKINS = {
    "JENKINS_URL": "https://jenkins.example.com/",
    "BUILD_NUMBER": "117",
    "BUILD_ID": "117",
    "BUILD_TAG": "jenkins-team-orders-main-117",
    "JOB_NAME": "team/orders/main",
    "WORKSPACE": "/var/jenkins_home/workspace/team_orders_main",
    "GIT_COMMIT": SHA,
    "GIT_BRANCH": "origin/main",
    "GIT_URL": "https://jenkins-bot:hunter2-secret@git.example.com/team/orders.git",
}


def test_gitlab_branch_pipeline():
    ctx = ci.detect(GITLAB)
    assert ctx.system == "gitlab"
    assert (ctx.workspace, ctx.revision, ctx.short_revision, ctx.branch) == ("/builds/group/sub/orders", SHA, SHA[:8], "feature/login")
    assert ctx.build_number == "42" and ctx.source_url == "https://gitlab.example.com/group/sub/orders"
    assert ctx.default_tags == ("{version}", SHA, "feature-login")  # GitLab's own convention


def test_gitlab_tag_pipeline():
    ctx = ci.detect({**GITLAB, "CI_COMMIT_TAG": "v1.4.0", "CI_COMMIT_REF_NAME": "v1.4.0", "CI_COMMIT_REF_SLUG": "v1-4-0"})
    assert ctx.branch == "v1.4.0"
    assert ctx.default_tags == ("{version}", "v1.4.0")


def test_jenkins_git_job():
    ctx = ci.detect(JENKINS)
    assert ctx.system == "jenkins"
    assert (ctx.revision, ctx.short_revision, ctx.branch, ctx.build_number) == (SHA, SHA[:8], "main", "117")
    assert ctx.source_url == "https://git.example.com/team/orders.git"  # the credential is gone
    assert ctx.default_tags == ("{version}", "{version}-{build}")


def test_jenkins_multibranch_tag_and_pull_request_and_svn():
    assert ci.detect({**JENKINS, "BRANCH_NAME": "release/2.x"}).branch == "release/2.x"
    assert ci.detect({**JENKINS, "BRANCH_NAME": "PR-7", "CHANGE_ID": "7"}).branch == "PR-7"
    assert ci.detect({**JENKINS, "TAG_NAME": "v2.0.0", "BRANCH_NAME": "v2.0.0"}).branch == "v2.0.0"
    svn = {k: v for k, v in JENKINS.items() if not k.startswith("GIT_")} | {"SVN_REVISION": "1234", "SVN_URL": "svn://svn.example.com/repo/trunk"}
    ctx = ci.detect(svn)
    assert (ctx.revision, ctx.short_revision, ctx.source_url) == ("1234", "r1234", "svn://svn.example.com/repo/trunk")


def test_no_ci_means_no_facts():
    assert ci.detect({"CI": "true", "BUILD_NUMBER": "3"}) == ci.CiContext()


def test_settings_take_ci_defaults_and_explicit_values_win(tmp_path: Path):
    env = {**GITLAB, "CI_PROJECT_DIR": str(tmp_path)}
    settings = resolve({}, environ=env)
    assert settings.source == str(tmp_path) and settings.build_number == "42"
    assert settings.tags == ("{version}", SHA, "feature-login")
    explicit = resolve({"source": "elsewhere", "tags": ("{version}-b{build}",), "build_number": "9"}, environ=env)
    assert (explicit.source, explicit.tags, explicit.build_number) == ("elsewhere", ("{version}-b{build}",), "9")
    assert resolve({}, environ={**env, "AUTOPACK_TAG_TEMPLATES": "nightly"}).tags == ("nightly",)
    # A project's own tags are a choice the team made; the CI's tags are only a default.
    (tmp_path / "autopack.toml").write_text('tags = ["{version}"]\nbuild_number = "1"\n')
    project = resolve({}, environ=env)
    assert (project.tags, project.build_number) == (("{version}",), "42")


def test_enrich_fills_a_detached_workspace_checkout_only(tmp_path: Path):
    workspace = tmp_path / "orders"
    (workspace / "service").mkdir(parents=True)
    ctx = ci.detect({**GITLAB, "CI_PROJECT_DIR": str(workspace)})
    detached = Checkout(path=workspace / "service", kind="local", url=workspace.as_uri(), revision=SHA, short_revision=SHA[:8])
    enriched = ci.enrich(detached, ctx)
    assert (enriched.branch, enriched.url, enriched.revision) == ("feature/login", "https://gitlab.example.com/group/sub/orders", SHA)
    elsewhere = Checkout(path=tmp_path / "other", kind="local", url="file:///other")
    assert ci.enrich(elsewhere, ctx) == elsewhere
    remote = Checkout(path=workspace, kind="git", url="https://gitlab.example.com/other/project.git", revision="abc")
    assert ci.enrich(remote, ctx) == remote
