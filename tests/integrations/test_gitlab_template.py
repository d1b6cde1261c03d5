"""The includable GitLab CI template, integrations/gitlab/autopack.gitlab-ci.yml: its job
structure, and its script run in a real shell with a stub in place of autopack, under the
variables a pipeline would set.

Needs PyYAML (skipped without it)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

yaml = pytest.importorskip("yaml")

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "integrations" / "gitlab" / "autopack.gitlab-ci.yml"
COMMAND = "autopack build --push --result-file autopack-result.json --dotenv autopack.env"
SHELLS = [s for s in ("sh", "bash") if shutil.which(s)]


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return yaml.safe_load(TEMPLATE.read_text())


def test_the_hidden_job_builds_pushes_and_keeps_its_reports(template: dict[str, Any]) -> None:
    job = template[".autopack"]
    assert job["stage"] == "package"
    assert job["image"] == "$AUTOPACK_RUNNER_IMAGE"
    assert template["variables"]["AUTOPACK_RUNNER_IMAGE"] == "registry.example.com/tools/autopack:latest"
    assert set(job["variables"]) == {"AUTOPACK_IMAGE_NAME", "AUTOPACK_TAG_TEMPLATES", "AUTOPACK_EXTRA_ARGS"}
    assert all(v == "" for v in job["variables"].values())
    (script,) = job["script"]
    assert COMMAND in script
    assert job["artifacts"] == {"when": "always", "paths": ["autopack-result.json", "autopack-result.*.json"], "reports": {"dotenv": "autopack.env", "cyclonedx": "autopack-result.*.cdx.json"}}


def test_the_ready_job_extends_it_on_branches_and_tags(template: dict[str, Any]) -> None:
    job = template["autopack-build"]
    assert job["extends"] == ".autopack"
    assert job["rules"] == [
        {"if": '$AUTOPACK_BUILD_DISABLED == "true"', "when": "never"},
        {"if": "$CI_COMMIT_BRANCH || $CI_COMMIT_TAG"},
    ]
    assert set(template) == {"variables", ".autopack", ".autopack-dind", "autopack-build"}


def test_dind_is_an_option_with_a_tls_engine(template: dict[str, Any]) -> None:
    dind = template[".autopack-dind"]
    assert dind["services"] == [{"name": "docker:27-dind", "alias": "docker"}]
    assert dind["variables"]["DOCKER_HOST"] == "tcp://docker:2376"
    assert dind["variables"]["DOCKER_CERT_PATH"].startswith(dind["variables"]["DOCKER_TLS_CERTDIR"])


def test_every_template_variable_the_script_reads_is_declared(template: dict[str, Any]) -> None:
    (script,) = template[".autopack"]["script"]
    unset = set(re.search(r"^unset (.*)$", script, re.M).group(1).split())
    read = set(re.findall(r"\$\{?(AUTOPACK_[A-Z_]+)", script))
    assert read <= set(template[".autopack"]["variables"])
    assert not read & unset


# --- the script in a shell ---------------------------------------------------------------


def run_script(template: dict[str, Any], tmp_path: Path, shell: str, variables: dict[str, str]) -> dict[str, Any]:
    """The job's script as the runner runs it: in the project directory, the job's variables
    in the environment, and here an ``autopack`` on PATH that records its argv and
    environment instead of building."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    stub = bin_dir / "autopack"
    stub.write_text(
        f"#!{sys.executable}\n"
        "import json, os, sys\n"
        "json.dump({'argv': sys.argv[1:], 'env': {k: v for k, v in os.environ.items() if k.startswith('AUTOPACK_')}},"
        " open(os.environ['STUB_OUT'], 'w'))\n"
    )
    stub.chmod(0o755)
    project = tmp_path / "project"
    project.mkdir(exist_ok=True)
    (project / "pom.xml").write_text("<project/>")  # something for a stray glob to match
    job_variables = {**template["variables"], **template[".autopack"]["variables"], **variables}
    env = {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "STUB_OUT": str(tmp_path / "stub.json"), **job_variables}
    (script,) = template[".autopack"]["script"]
    done = subprocess.run([shell, "-e", "-c", script], cwd=project, env=env, capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    return json.loads((tmp_path / "stub.json").read_text())


@pytest.mark.parametrize("shell", SHELLS)
def test_with_defaults_it_is_the_bare_command(template: dict[str, Any], tmp_path: Path, shell: str) -> None:
    seen = run_script(template, tmp_path, shell, {})
    assert seen["argv"] == COMMAND.split()[1:]


@pytest.mark.parametrize("shell", SHELLS)
def test_variables_become_options_word_by_word_without_globbing(template: dict[str, Any], tmp_path: Path, shell: str) -> None:
    seen = run_script(
        template,
        tmp_path,
        shell,
        {
            "AUTOPACK_IMAGE_NAME": "team/orders",
            "AUTOPACK_TAG_TEMPLATES": "{version}  {version}-{revision} *",
            "AUTOPACK_EXTRA_ARGS": "--skip-tests --maven-arg=-U --push registry-b.example.com/team/orders",
        },
    )
    assert seen["argv"] == [
        *COMMAND.split()[1:],
        "--image", "team/orders",
        "--tag", "{version}", "--tag", "{version}-{revision}", "--tag", "*",
        "--skip-tests", "--maven-arg=-U", "--push", "registry-b.example.com/team/orders",
    ]  # fmt: skip


@pytest.mark.parametrize("shell", SHELLS)
def test_an_earlier_jobs_dotenv_report_does_not_become_settings(template: dict[str, Any], tmp_path: Path, shell: str) -> None:
    inherited = {
        "AUTOPACK_STATUS": "ok",
        "AUTOPACK_EXIT_CODE": "0",
        "AUTOPACK_IMAGE": "registry.example.com/team/other:1.0.0",
        "AUTOPACK_IMAGE_ID": "sha256:0123",
        "AUTOPACK_DIGEST": "sha256:abcd",
        "AUTOPACK_TAGS": "registry.example.com/team/other:1.0.0",
        "AUTOPACK_VERSION": "1.0.0",
        "AUTOPACK_REVISION": "0123456789abcdef0123456789abcdef01234567",
    }
    seen = run_script(template, tmp_path, shell, {**inherited, "AUTOPACK_PROFILES": "prod"})
    assert not set(inherited) & set(seen["env"])
    assert seen["env"]["AUTOPACK_PROFILES"] == "prod"  # a setting the user chose stays
