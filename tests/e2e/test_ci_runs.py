"""autopack as a CI job step: a GitLab-shaped and a Jenkins-shaped run of the installed
command with nothing but the CI system's own variables (plus the test image name)."""

from __future__ import annotations

import json
import re

import pytest
import requests

from tests.conftest import autopack, copy_fixture, git, images_named
from tests.servers.fixtures import B_PASSWORD, B_USER, registries  # noqa: F401  (fixture)
from tests.servers.registry import MANIFEST_TYPES
from tests.test_ci import GITLAB, JENKINS

pytestmark = pytest.mark.e2e
SGR = re.compile(r"\x1b\[[0-9;]*m")


def test_gitlab_job_pushes_to_ci_registry_with_pipeline_tags(tmp_path, engine, image_name, registries):  # noqa: F811
    a, b, c = registries
    project = copy_fixture("hello-service", tmp_path, as_git=True)
    sha = git(project, "rev-parse", "HEAD")
    git(project, "checkout", "-q", "--detach", sha)  # what a GitLab runner leaves
    env = {
        **GITLAB,
        "CI_PROJECT_DIR": str(project),
        "CI_COMMIT_SHA": sha,
        "CI_COMMIT_SHORT_SHA": sha[:8],
        "CI_REGISTRY": b.host,
        "CI_REGISTRY_IMAGE": f"{b.host}/group/sub/orders",
        "CI_REGISTRY_USER": B_USER,
        "CI_REGISTRY_PASSWORD": B_PASSWORD,
        "AUTOPACK_IMAGE_NAME": image_name,
    }
    run = autopack("build", "--push", "--dotenv", "autopack.env", "--result-file", "autopack-result.json", cwd=project, env=env)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr
    digest = b.manifest_digest("group/sub/orders", "1.0.0")
    assert digest and b.manifest_digest("group/sub/orders", sha) == digest == b.manifest_digest("group/sub/orders", "feature-login")
    report = dict(line.split("=", 1) for line in (project / "autopack.env").read_text().splitlines())
    assert report["AUTOPACK_DIGEST"] == digest and report["AUTOPACK_REVISION"] == sha and report["AUTOPACK_VERSION"] == "1.0.0"
    result = json.loads((project / "autopack-result.json").read_text())  # and valid against `autopack schema` (conftest)
    [destination] = result["destinations"]
    assert destination["credentialSource"] == "CI_REGISTRY_USER/CI_REGISTRY_PASSWORD"
    labels = pushed_labels(b, "group/sub/orders", "1.0.0")  # the job pushed it without an engine's copy (the direct builder)
    assert labels["org.opencontainers.image.revision"] == sha
    assert labels["org.opencontainers.image.source"] == GITLAB["CI_PROJECT_URL"]
    for stage in ("source", "plan", "maven", "image", "push"):
        assert re.search(rf"\x1b\[0Ksection_start:\d+:autopack_{stage}\r", run.stdout)
        assert re.search(rf"\x1b\[0Ksection_end:\d+:autopack_{stage}\r", run.stdout)
    assert SGR.search(run.stdout), "GitLab renders colour: plain output should use it"
    assert B_PASSWORD not in run.stdout + run.stderr and GITLAB["CI_JOB_TOKEN"] not in run.stdout + run.stderr


def test_jenkins_job_derives_tags_labels_and_properties(tmp_path, engine, image_name):
    project = copy_fixture("hello-service", tmp_path, as_git=True)
    sha = git(project, "rev-parse", "HEAD")
    env = {**JENKINS, "WORKSPACE": str(project), "GIT_COMMIT": sha, "AUTOPACK_IMAGE_NAME": image_name}
    run = autopack("build", "--skip-tests", "--properties", tmp_path / "autopack.properties", "--json", cwd=tmp_path, env=env)
    assert run.returncode == 0, run.stderr
    assert images_named(engine, image_name) == [f"{image_name}:1.0.0", f"{image_name}:1.0.0-117"]
    labels = engine.images.get(f"{image_name}:1.0.0").labels
    assert labels["org.opencontainers.image.source"] == "https://git.example.com/team/orders.git"
    assert labels["org.opencontainers.image.revision"] == sha
    properties = dict(line.split("=", 1) for line in (tmp_path / "autopack.properties").read_text().splitlines())
    assert properties["AUTOPACK_VERSION"] == "1.0.0" and properties["AUTOPACK_REVISION"] == sha
    assert json.loads(run.stdout)["source"]["branch"] == "main"
    assert "\x1b" not in run.stderr, "Jenkins' console gets no colour and no section markers"
    assert "hunter2-secret" not in run.stdout + run.stderr


def test_schema_command_prints_the_shipped_schema():
    run = autopack("schema")
    schema = json.loads(run.stdout)
    assert run.returncode == 0 and schema["properties"]["schemaVersion"] == {"const": 1}


def pushed_labels(registry, repository: str, tag: str) -> dict[str, str]:
    """The labels of the image config a tag holds, read from the registry itself."""
    auth = registry.auth
    manifest = requests.get(f"{registry.url}/v2/{repository}/manifests/{tag}", headers={"Accept": MANIFEST_TYPES}, auth=auth, timeout=10)
    manifest.raise_for_status()
    config = requests.get(f"{registry.url}/v2/{repository}/blobs/{manifest.json()['config']['digest']}", auth=auth, timeout=10)
    config.raise_for_status()
    return config.json()["config"]["Labels"]
