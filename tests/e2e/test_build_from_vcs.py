"""`autopack build SOURCE` from git (smart HTTP with basic auth) and svn (svnserve with a
password): the same image as from a directory, revision facts in tags and labels, the
cached second run, and credentials that appear nowhere a user or another process could read."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import docker
import pytest

from tests.conftest import AUTOPACK, autopack, images_named
from tests.servers.fixtures import registries  # noqa: F401  (fixture)
from tests.servers.git_fixtures import GitRemote, fresh_remote, git_remote, git_server, run_git  # noqa: F401  (fixtures)
from tests.servers.git_http import GitHttpServer
from tests.source.svn_fixtures import SvnServer, svn_server  # noqa: F401  (fixture)

pytestmark = pytest.mark.e2e
HELLO_LINE = '{"service":"hello-service","message":"Hello from autopack"}'


def everything_visible(run, result_file: Path, engine: docker.DockerClient, image: str) -> str:
    """All a user or CI step can read after a run: output, result file, image metadata."""
    parts = [run.stdout, run.stderr, result_file.read_text() if result_file.exists() else ""]
    for reference in images_named(engine, image):
        parts.append(json.dumps(engine.api.inspect_image(reference)))
        parts.append(json.dumps(engine.api.history(reference)))
    return "\n".join(parts)


def test_git_tag_build_then_a_branch_build_fetches_into_the_mirror(tmp_path, engine, image_name, git_remote: GitRemote):  # noqa: F811
    env = {"AUTOPACK_CACHE_DIR": str(tmp_path / "cache"), "AUTOPACK_GIT_USER": git_remote.username, "AUTOPACK_GIT_PASSWORD": git_remote.password}
    result_file = tmp_path / "result.json"
    run = autopack("build", git_remote.url, "--ref", "v1.0.0", "--image", image_name, "-t", "{version}-{revision}", "-t", "{branch}", "--skip-tests", "--result-file", result_file, env=env)
    assert run.returncode == 0, run.stderr
    sha = git_remote.shas["c1"]
    assert images_named(engine, image_name) == sorted([f"{image_name}:1.0.0-{sha[:8]}", f"{image_name}:v1.0.0"])
    labels = engine.images.get(f"{image_name}:v1.0.0").labels
    assert labels["org.opencontainers.image.revision"] == sha
    assert labels["org.opencontainers.image.source"] == git_remote.url
    assert labels["org.opencontainers.image.version"] == "1.0.0"
    assert engine.containers.run(f"{image_name}:v1.0.0", remove=True).decode().strip() == HELLO_LINE
    assert "cloning mirror of" in run.stdout
    source = json.loads(result_file.read_text())["source"]
    assert (source["kind"], source["revision"], source["branch"], source["cache"]) == ("git", sha, "v1.0.0", "clone")
    assert git_remote.password not in everything_visible(run, result_file, engine, image_name)

    second = autopack("build", git_remote.url, "--ref", "feature/x", "--image", image_name, "-t", "{branch}", "--skip-tests", "--json", env=env)
    assert second.returncode == 0, second.stderr
    assert "fetching into cached mirror of" in second.stderr and "cloning mirror" not in second.stderr
    data = json.loads(second.stdout)
    assert data["source"]["cache"] == "fetch" and data["project"]["version"] == "1.2.0-SNAPSHOT"
    assert f"{image_name}:feature-x" in data["images"][0]["tags"]


def test_the_checked_out_autopack_toml_applies_and_options_still_win(tmp_path, engine, image_name, fresh_remote: GitRemote, registries):  # noqa: F811
    """A repository carries its own settings: the build from its URL reads them from the checkout."""
    registry = registries[0]
    work = tmp_path / "work"
    run_git(tmp_path, "clone", "-q", str(fresh_remote.bare), str(work))
    (work / "autopack.toml").write_text(f'tags = ["{{version}}-from-repo"]\ndestinations = ["{registry.host}/team/from-repo"]\nbuild_args = {{ GREETING = "unused" }}\n')
    run_git(work, "add", "autopack.toml")
    run_git(work, "commit", "-q", "-m", "autopack settings")
    run_git(work, "push", "-q", "origin", "main")
    env = {"AUTOPACK_CACHE_DIR": str(tmp_path / "cache"), "AUTOPACK_GIT_USER": fresh_remote.username, "AUTOPACK_GIT_PASSWORD": fresh_remote.password}

    run = autopack("build", fresh_remote.url, "--image", image_name, "--skip-tests", "--json", env=env)

    assert run.returncode == 0, run.stderr
    assert "settings from autopack.toml in the checkout" in run.stderr
    data = json.loads(run.stdout)
    assert data["images"][0]["tags"] == [f"{image_name}:1.1.0-from-repo"]
    assert [(d["registry"], d["repository"], d["status"]) for d in data["destinations"]] == [(registry.host, "team/from-repo", "ok")]
    assert registry.manifest_digest("team/from-repo", "1.1.0-from-repo") == data["destinations"][0]["digest"]

    explicit = autopack("build", fresh_remote.url, "--image", image_name, "-t", "cli", "--skip-tests", "--json", env={**env, "AUTOPACK_DESTINATIONS": f"{registry.host}/team/from-env"})
    assert explicit.returncode == 0, explicit.stderr
    data = json.loads(explicit.stdout)
    assert data["images"][0]["tags"] == [f"{image_name}:cli"]
    assert [d["repository"] for d in data["destinations"]] == ["team/from-env"]


def test_gitlab_shorthand_with_ci_job_token_and_merge_request_ref(tmp_path, engine, image_name, git_remote: GitRemote):  # noqa: F811
    token = "glcbt-64-Zq9xW2vT7rLmN3pK5sD8f"
    with GitHttpServer(git_remote.server.root, username="gitlab-ci-token", password=token) as gitlab:
        env = {"AUTOPACK_CACHE_DIR": str(tmp_path / "cache"), "CI_SERVER_URL": gitlab.url("").rstrip("/"), "CI_JOB_TOKEN": token}
        result_file = tmp_path / "result.json"
        run = autopack("build", "gitlab:group/subgroup/project@refs/merge-requests/1/head", "--image", image_name, "-t", "{branch}-{revision}", "--skip-tests", "--result-file", result_file, env=env)
        assert run.returncode == 0, run.stderr
        sha = git_remote.shas["c4"]
        assert images_named(engine, image_name) == [f"{image_name}:merge-requests-1-{sha[:8]}"]
        assert engine.images.get(images_named(engine, image_name)[0]).labels["org.opencontainers.image.version"] == "1.3.0-mr"
        assert token not in everything_visible(run, result_file, engine, image_name)
        assert any(r.auth == "ok" and r.user == "gitlab-ci-token" for r in gitlab.requests), "the job token was never sent"


def test_git_wrong_password_fails_in_the_source_stage_and_is_never_shown(tmp_path, engine, image_name, git_remote: GitRemote):  # noqa: F811
    planted = "Wr0ng-Planted-Secret-77"
    env = {"AUTOPACK_CACHE_DIR": str(tmp_path / "cache"), "AUTOPACK_GIT_USER": git_remote.username, "AUTOPACK_GIT_PASSWORD": planted}
    result_file = tmp_path / "result.json"
    run = autopack("build", git_remote.url, "--image", image_name, "--result-file", result_file, env=env)
    assert run.returncode == 3, run.stderr
    last = run.stderr.splitlines()[-1]
    assert last.startswith("autopack: error:") and git_remote.url in last and "AUTOPACK_GIT_USER/AUTOPACK_GIT_PASSWORD" in last
    assert planted not in everything_visible(run, result_file, engine, image_name)
    assert images_named(engine, image_name) == []
    cache_bytes = b"".join(p.read_bytes() for p in (tmp_path / "cache").rglob("*") if p.is_file())
    assert planted.encode() not in cache_bytes


def test_svn_revision_build_then_a_branch_build_switches_the_working_copy(tmp_path, engine, image_name, svn_server: SvnServer):  # noqa: F811
    env = {"AUTOPACK_CACHE_DIR": str(tmp_path / "cache"), "AUTOPACK_SVN_USER": svn_server.username, "AUTOPACK_SVN_PASSWORD": svn_server.password}
    result_file = tmp_path / "result.json"
    run = autopack("build", f"{svn_server.svn_url}/trunk", "--revision", "3", "--image", image_name, "-t", "{version}-{revision}", "--skip-tests", "--result-file", result_file, env=env)
    assert run.returncode == 0, run.stderr
    assert images_named(engine, image_name) == [f"{image_name}:1.1.0-r3"]
    labels = engine.images.get(f"{image_name}:1.1.0-r3").labels
    assert labels["org.opencontainers.image.revision"] == "3"
    assert labels["org.opencontainers.image.source"] == f"{svn_server.svn_url}/trunk"
    assert engine.containers.run(f"{image_name}:1.1.0-r3", remove=True).decode().strip() == HELLO_LINE
    assert svn_server.password not in everything_visible(run, result_file, engine, image_name)
    assert "into the cache" in run.stdout

    second = autopack("build", svn_server.svn_url, "--branch", "release-1", "--image", image_name, "-t", "{branch}-{revision}", "--skip-tests", "--json", env=env)
    assert second.returncode == 0, second.stderr
    assert "switching cached working copy to" in second.stderr
    data = json.loads(second.stdout)
    assert data["source"]["cache"] == "switch" and data["project"]["version"] == "1.2.0-SNAPSHOT"
    assert f"{image_name}:release-1-r{svn_server.head}" in data["images"][0]["tags"]


def test_svn_unknown_revision_names_it(tmp_path, svn_server: SvnServer):  # noqa: F811
    env = {"AUTOPACK_CACHE_DIR": str(tmp_path / "cache"), "AUTOPACK_SVN_USER": svn_server.username, "AUTOPACK_SVN_PASSWORD": svn_server.password}
    run = autopack("build", f"{svn_server.svn_url}/trunk@99", env=env)
    assert run.returncode == 3
    assert "99" in run.stderr.splitlines()[-1]


HOSTILE = [
    ("ext::sh -c touch% {marker}", []),
    ("{git}", ["--ref", "--upload-pack=touch {marker}"]),
    ("ssh://-oProxyCommand=touch%20{marker}/x/project.git", []),
    ("-oProxyCommand=touch {marker}:repo", []),
    ("{git}", ["--subdir", "../../.."]),
    ("{svn}/trunk", ["--branch", "-x"]),
]


@pytest.mark.parametrize(("source", "extra"), HOSTILE, ids=["ext-transport", "ref-option", "ssh-proxycommand-url", "scp-proxycommand", "subdir-escape", "svn-branch-option"])
def test_hostile_inputs_are_refused_before_anything_runs(source, extra, tmp_path, git_remote: GitRemote, svn_server: SvnServer):  # noqa: F811
    marker = tmp_path / "pwned"
    fill = {"marker": marker, "git": git_remote.url, "svn": svn_server.svn_url}
    before = len(git_remote.server.requests)
    run = autopack("build", "--", source.format(**fill), *[e.format(**fill) for e in extra], env={"AUTOPACK_CACHE_DIR": str(tmp_path / "cache")}) if source.startswith("-") else autopack(
        "build", source.format(**fill), *[e.format(**fill) for e in extra], env={"AUTOPACK_CACHE_DIR": str(tmp_path / "cache")}
    )
    assert run.returncode == 2, run.stdout + run.stderr
    assert run.stderr.splitlines()[-1].startswith("autopack: error:")
    assert not marker.exists()
    assert len(git_remote.server.requests) == before, "the server was contacted"
    assert not any(p.is_dir() and any(p.iterdir()) for p in (tmp_path / "cache").glob("git/*")) if (tmp_path / "cache").exists() else True


def test_credentials_never_reach_a_child_argv(tmp_path, git_remote: GitRemote):  # noqa: F811
    """Watch every process on the machine while a checkout runs against a slowed server."""
    planted = git_remote.password
    git_remote.server.delay = 0.3
    env = {**os.environ, "AUTOPACK_CACHE_DIR": str(tmp_path / "cache"), "AUTOPACK_GIT_USER": git_remote.username, "AUTOPACK_GIT_PASSWORD": planted}
    try:
        proc = subprocess.Popen([str(AUTOPACK), "checkout", git_remote.url, str(tmp_path / "wc")], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        seen_git, leaked = 0, []
        while proc.poll() is None:
            for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
                try:
                    argv = cmdline.read_bytes()
                except OSError:
                    continue
                if b"git" in argv.split(b"\0")[0]:
                    seen_git += 1
                if planted.encode() in argv:
                    leaked.append(argv)
        assert proc.returncode == 0, proc.stderr.read().decode()
    finally:
        git_remote.server.delay = 0.0
    assert seen_git > 0, "no git child was ever seen: the check proved nothing"
    assert leaked == []
