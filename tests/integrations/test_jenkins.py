"""The Jenkins shared library in integrations/jenkins: its Groovy compiles with Debian's
groovyc, and the ``autopack`` step — run under recording stand-ins for ``sh``,
``withCredentials``, ``readJSON``, ``archiveArtifacts``, ``fileExists`` and ``error``
(jenkins/StepHarness.groovy) — builds the exact command, keeps secrets in the environment,
archives and returns the result, and fails with autopack's own message.

These skip only where ``groovy`` is not installed; scripts/setup installs Debian's groovy, so
CI runs them. A JVM start costs seconds, so all scenarios run in one harness invocation."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from autopack.push.credentials import env_key

ROOT = Path(__file__).resolve().parents[2]
LIBRARY = ROOT / "integrations" / "jenkins"
STEP = LIBRARY / "vars" / "autopack.groovy"
HARNESS = Path(__file__).parent / "jenkins" / "StepHarness.groovy"

GROOVY, GROOVYC = shutil.which("groovy"), shutil.which("groovyc")
pytestmark = pytest.mark.skipif(GROOVY is None or GROOVYC is None, reason="groovy is not installed (scripts/setup installs Debian's groovy)")

RESULT_OK: dict[str, Any] = {
    "schemaVersion": 1,
    "status": "ok",
    "exitCode": 0,
    "error": None,
    "images": [{"id": "sha256:0123", "tags": ["orders:1.4.0"]}],
    "destinations": [{"destination": "registry-a.example.com/team/orders", "digest": "sha256:abcd", "status": "ok"}],
}
RESULT_PUSH_FAILED: dict[str, Any] = {
    "schemaVersion": 1,
    "status": "failed",
    "exitCode": 6,
    "error": {"stage": "push", "message": "registry-a.example.com refused the push (401)", "hint": "check the credential in AUTOPACK_REGISTRY_USER_REGISTRY_A_EXAMPLE_COM"},
    "images": [],
    "destinations": [],
}
HOSTILE = "x'; rm -rf / #"  # only ever checked as text, never run
BREAKOUT = "x'; touch pwned #"  # run in a shell: if quoting broke, "pwned" would appear

# name -> (step arguments, sh's exit status, what readJSON returns; None: no result file)
SCENARIOS: dict[str, tuple[dict[str, Any], int, dict[str, Any] | None]] = {
    "full": (
        {
            "source": "https://git.example.com/team/orders.git",
            "push": ["registry-a.example.com/team/orders", "registry-b.example.com:5000/team/orders"],
            "tags": ["{version}", "{version}-{revision}", "{branch}-b{build}"],
            "mavenArgs": ["-U", "-Dgreeting=hello world"],
            "image": "orders",
            "ref": "release/1.4",
            "subdir": "services/orders",
            "registryCredentialsId": "registry-push",
            "scmCredentialsId": "git-read",
            "signingKeyCredentialsId": "cosign-key",
            "signingPasswordCredentialsId": "cosign-password",
            "extraArgs": ["--skip-tests"],
        },
        0,
        RESULT_OK,
    ),
    "per-registry": (
        {
            "push": ["registry-a.example.com/team/orders", "127.0.0.1:5001/team/orders"],
            "registryCredentialsId": {"registry-a.example.com": "a-push", "127.0.0.1:5001": "local-push"},
        },
        0,
        RESULT_OK,
    ),
    "svn": (
        {"source": "svn://svn.example.com/repo/trunk", "revision": 1234, "resultFile": "out/autopack result.json", "scmCredentialsId": "svn-read"},
        0,
        RESULT_OK,
    ),
    "plain": ({}, 0, RESULT_OK),
    "push-failed": ({"push": ["registry-a.example.com/team/orders"], "registryCredentialsId": "registry-push"}, 6, RESULT_PUSH_FAILED),
    "no-result-file": ({"tags": ["{nope}"]}, 2, None),
    "hostile-text": ({"tags": [HOSTILE]}, 0, RESULT_OK),
    "hostile": (
        {
            "command": "./argv-stub",
            "source": "https://git.example.com/x.git; touch pwned",
            "tags": [BREAKOUT, "$(touch pwned)", "`touch pwned`"],
            "image": "a b\nc",
            "mavenArgs": ["-Dx=$HOME", '-Dy="q"'],
        },
        0,
        RESULT_OK,
    ),
    "unknown-key": ({"tag": ["{version}"]}, 0, RESULT_OK),
    "destination-without-registry": ({"push": ["team/orders"], "registryCredentialsId": "registry-push"}, 0, RESULT_OK),
    "destination-as-map-key": ({"push": ["registry-a.example.com/team/orders"], "registryCredentialsId": {"registry-a.example.com/team/orders": "a-push"}}, 0, RESULT_OK),
    "clashing-keys": ({"push": ["a-b.example.com/x", "a.b.example.com/x"], "registryCredentialsId": {"a-b.example.com": "one", "a.b.example.com": "two"}}, 0, RESULT_OK),
    "credentials-without-push": ({"registryCredentialsId": "registry-push"}, 0, RESULT_OK),
    "password-without-key": ({"push": ["registry-a.example.com/team/orders"], "signingPasswordCredentialsId": "cosign-password"}, 0, RESULT_OK),
}


def groovy_env() -> dict[str, str]:
    """Debian's groovy launcher wants /usr/lib/jvm/default-java unless JAVA_HOME is set, and
    that link comes with default-jre, which openjdk-17-jdk-headless does not pull in."""
    env = dict(os.environ)
    home = env.get("JAVA_HOME")
    java = shutil.which("java")
    if (not home or not Path(home, "bin", "java").exists()) and java:
        env["JAVA_HOME"] = str(Path(os.path.realpath(java)).parents[1])
    return env


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    scenarios = tmp_path_factory.mktemp("jenkins") / "scenarios.json"
    scenarios.write_text(json.dumps([{"name": n, "args": a, "status": s, "result": r} for n, (a, s, r) in SCENARIOS.items()]))
    started = time.monotonic()
    done = subprocess.run([str(GROOVY), str(HARNESS), str(STEP), str(scenarios)], capture_output=True, text=True, env=groovy_env(), timeout=180)
    assert done.returncode == 0, f"harness failed after {time.monotonic() - started:.1f} s:\n{done.stderr}"
    by_name = {o["name"]: o for o in json.loads(done.stdout)}
    for name, outcome in by_name.items():
        assert outcome["crash"] is None, f"{name}: the step crashed:\n{outcome['crash']}"
    return by_name


def calls(outcome: dict[str, Any], step: str) -> list[dict[str, Any]]:
    return [c for c in outcome["calls"] if c["step"] == step]


def the_sh(outcome: dict[str, Any]) -> dict[str, Any]:
    (sh,) = calls(outcome, "sh")
    assert sh["returnStatus"] is True
    return sh


def command_line(outcome: dict[str, Any]) -> str:
    """The autopack line of the sh script; the line before it removes a stale result file."""
    cleanup, line = the_sh(outcome)["script"].split("\n", 1)
    assert cleanup.startswith("rm -f -- ")
    return line


# --- compile -----------------------------------------------------------------------------


def test_the_library_and_the_example_jenkinsfile_compile(tmp_path: Path) -> None:
    # The example's @Library annotation needs Jenkins; the pipeline below it is plain Groovy.
    example = (LIBRARY / "Jenkinsfile.example").read_text()
    assert example.startswith("@Library('autopack') _\n")
    (tmp_path / "JenkinsfileExample.groovy").write_text(example.replace("@Library('autopack') _\n", "", 1))
    done = subprocess.run(
        [str(GROOVYC), "-d", str(tmp_path / "classes"), str(STEP), str(tmp_path / "JenkinsfileExample.groovy")],
        capture_output=True,
        text=True,
        env=groovy_env(),
        timeout=180,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert (tmp_path / "classes" / "autopack.class").exists()


# --- the command -------------------------------------------------------------------------


def test_the_command_is_every_argument_in_order_each_quoted(outcomes: dict[str, dict[str, Any]]) -> None:
    line = command_line(outcomes["full"])
    assert line == (
        "autopack build https://git.example.com/team/orders.git"
        " --push registry-a.example.com/team/orders --push registry-b.example.com:5000/team/orders"
        " --tag '{version}' --tag '{version}-{revision}' --tag '{branch}-b{build}'"
        " --image orders --ref release/1.4 --subdir services/orders"
        " --maven-arg=-U '--maven-arg=-Dgreeting=hello world'"
        " --result-file autopack-result.json --skip-tests"
    )
    assert shlex.split(line)[-3:] == ["--result-file", "autopack-result.json", "--skip-tests"]
    assert "'--maven-arg=-Dgreeting=hello world'" in line


def test_without_arguments_it_builds_the_workspace(outcomes: dict[str, dict[str, Any]]) -> None:
    outcome = outcomes["plain"]
    assert the_sh(outcome)["script"] == "rm -f -- autopack-result.json\nautopack build --result-file autopack-result.json"
    assert calls(outcome, "withCredentials") == []


def test_svn_revision_numbers_and_a_result_file_with_a_space(outcomes: dict[str, dict[str, Any]]) -> None:
    outcome = outcomes["svn"]
    script = the_sh(outcome)["script"]
    assert script == (
        "rm -f -- 'out/autopack result.json'\n"
        "autopack build svn://svn.example.com/repo/trunk --revision 1234 --result-file 'out/autopack result.json'"
    )
    assert calls(outcome, "fileExists") == [{"step": "fileExists", "file": "out/autopack result.json"}]
    assert calls(outcome, "readJSON") == [{"step": "readJSON", "file": "out/autopack result.json", "returnPojo": True}]
    assert calls(outcome, "archiveArtifacts") == [
        {"step": "archiveArtifacts", "artifacts": "out/autopack result.json", "allowEmptyArchive": True},
        {"step": "archiveArtifacts", "artifacts": "out/autopack result.*.json", "allowEmptyArchive": True},
    ]


def test_a_hostile_tag_is_one_quoted_argument(outcomes: dict[str, dict[str, Any]]) -> None:
    line = command_line(outcomes["hostile-text"])
    assert line == "autopack build --tag 'x'\"'\"'; rm -rf / #' --result-file autopack-result.json"
    assert shlex.split(line) == ["autopack", "build", "--tag", HOSTILE, "--result-file", "autopack-result.json"]


def test_hostile_values_stay_single_arguments_in_a_real_shell(outcomes: dict[str, dict[str, Any]], tmp_path: Path) -> None:
    """The script runs as Jenkins runs it (sh -xe), with autopack replaced by a stub that
    writes the arguments it received: every value arrives whole and nothing else runs."""
    outcome = outcomes["hostile"]
    stub = tmp_path / "argv-stub"
    stub.write_text("#!/bin/sh\nfor a in \"$@\"; do printf '%s\\0' \"$a\"; done > argv\n")
    stub.chmod(0o755)
    (tmp_path / "script.sh").write_text(the_sh(outcome)["script"])
    done = subprocess.run(["sh", "-xe", "script.sh"], cwd=tmp_path, capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    argv = (tmp_path / "argv").read_bytes().decode().split("\0")[:-1]
    assert argv == [
        "build",
        "https://git.example.com/x.git; touch pwned",
        "--tag", BREAKOUT,
        "--tag", "$(touch pwned)",
        "--tag", "`touch pwned`",
        "--image", "a b\nc",
        "--maven-arg=-Dx=$HOME",
        '--maven-arg=-Dy="q"',
        "--result-file", "autopack-result.json",
    ]  # fmt: skip
    assert not (tmp_path / "pwned").exists()


# --- credentials -------------------------------------------------------------------------


def test_one_registry_credential_is_bound_per_destination_registry_and_scm_to_git_and_svn(outcomes: dict[str, dict[str, Any]]) -> None:
    (bound,) = calls(outcomes["full"], "withCredentials")
    assert bound["bindings"] == [
        {"binding": "usernamePassword", "credentialsId": "registry-push", "usernameVariable": "AUTOPACK_REGISTRY_USER_REGISTRY_A_EXAMPLE_COM", "passwordVariable": "AUTOPACK_REGISTRY_PASSWORD_REGISTRY_A_EXAMPLE_COM"},
        {"binding": "usernamePassword", "credentialsId": "registry-push", "usernameVariable": "AUTOPACK_REGISTRY_USER_REGISTRY_B_EXAMPLE_COM_5000", "passwordVariable": "AUTOPACK_REGISTRY_PASSWORD_REGISTRY_B_EXAMPLE_COM_5000"},
        {"binding": "usernamePassword", "credentialsId": "git-read", "usernameVariable": "AUTOPACK_GIT_USER", "passwordVariable": "AUTOPACK_GIT_PASSWORD"},
        {"binding": "usernamePassword", "credentialsId": "git-read", "usernameVariable": "AUTOPACK_SVN_USER", "passwordVariable": "AUTOPACK_SVN_PASSWORD"},
        {"binding": "file", "credentialsId": "cosign-key", "variable": "AUTOPACK_SIGN_KEY"},
        {"binding": "string", "credentialsId": "cosign-password", "variable": "COSIGN_PASSWORD"},
    ]
    assert the_sh(outcomes["full"])["env"]["COSIGN_PASSWORD"] == "SECRET-text-of-cosign-password"


def test_a_map_names_a_credential_per_registry_with_autopacks_own_keys(outcomes: dict[str, dict[str, Any]]) -> None:
    (bound,) = calls(outcomes["per-registry"], "withCredentials")
    variables = {b["credentialsId"]: (b["usernameVariable"], b["passwordVariable"]) for b in bound["bindings"]}
    assert variables == {
        "a-push": ("AUTOPACK_REGISTRY_USER_REGISTRY_A_EXAMPLE_COM", "AUTOPACK_REGISTRY_PASSWORD_REGISTRY_A_EXAMPLE_COM"),
        "local-push": ("AUTOPACK_REGISTRY_USER_127_0_0_1_5001", "AUTOPACK_REGISTRY_PASSWORD_127_0_0_1_5001"),
    }
    # The same suffix autopack computes when it looks the login up.
    for registry, credential in (("registry-a.example.com", "a-push"), ("127.0.0.1:5001", "local-push")):
        assert variables[credential][0] == f"AUTOPACK_REGISTRY_USER_{env_key(registry)}"


@pytest.mark.parametrize("name", ["full", "per-registry", "svn", "push-failed"])
def test_secrets_travel_only_in_the_environment(outcomes: dict[str, dict[str, Any]], name: str) -> None:
    outcome = outcomes[name]
    sh = the_sh(outcome)
    secrets = {v for v in sh["env"].values() if v.startswith("SECRET-")}
    users = {v for v in sh["env"].values() if v.startswith("user-of-")}
    assert secrets and users, "withCredentials bound nothing around sh"
    for value in secrets | users:
        assert value not in sh["script"]
    assert "PASSWORD" not in sh["script"] and "$AUTOPACK" not in sh["script"]
    assert outcome["envAfter"] == {}, "the bindings outlived withCredentials"
    for call in outcome["calls"]:
        if call["step"] != "sh":
            assert not any(s in json.dumps(call) for s in secrets), call


# --- result and failure ------------------------------------------------------------------


def test_the_result_is_archived_and_returned(outcomes: dict[str, dict[str, Any]]) -> None:
    outcome = outcomes["full"]
    assert [c["step"] for c in outcome["calls"]] == ["withCredentials", "sh", "fileExists", "readJSON", "archiveArtifacts", "archiveArtifacts"]
    assert calls(outcome, "archiveArtifacts") == [
        {"step": "archiveArtifacts", "artifacts": "autopack-result.json", "allowEmptyArchive": True},
        {"step": "archiveArtifacts", "artifacts": "autopack-result.*.json", "allowEmptyArchive": True},  # the SBOM and provenance beside it
    ]
    assert outcome["returned"] == RESULT_OK
    assert outcome["failed"] is None


def test_a_failed_run_fails_the_step_with_autopacks_message_after_archiving(outcomes: dict[str, dict[str, Any]]) -> None:
    outcome = outcomes["push-failed"]
    error = RESULT_PUSH_FAILED["error"]
    assert outcome["failed"] == f"autopack failed (exit 6): {error['message']} \u2014 {error['hint']}"
    assert [c["step"] for c in outcome["calls"]] == ["withCredentials", "sh", "fileExists", "readJSON", "archiveArtifacts", "archiveArtifacts", "error"]


def test_a_failed_run_without_a_result_file_still_fails_with_its_exit_code(outcomes: dict[str, dict[str, Any]]) -> None:
    outcome = outcomes["no-result-file"]
    assert outcome["failed"].startswith("autopack failed (exit 2): ")
    assert "autopack-result.json" in outcome["failed"]
    assert calls(outcome, "readJSON") == []
    assert calls(outcome, "archiveArtifacts")[0] == {"step": "archiveArtifacts", "artifacts": "autopack-result.json", "allowEmptyArchive": True}


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("unknown-key", ["unknown argument", "tag", "tags"]),
        ("destination-without-registry", ["'team/orders'", "names no registry"]),
        ("destination-as-map-key", ["registry-a.example.com/team/orders", "host[:port]"]),
        ("clashing-keys", ["a-b.example.com", "a.b.example.com", "A_B_EXAMPLE_COM"]),
        ("credentials-without-push", ["registryCredentialsId", "push"]),
        ("password-without-key", ["signingPasswordCredentialsId", "signingKeyCredentialsId"]),
    ],
)
def test_mistakes_fail_before_anything_runs(outcomes: dict[str, dict[str, Any]], name: str, words: list[str]) -> None:
    outcome = outcomes[name]
    assert outcome["failed"] is not None
    for word in words:
        assert word in outcome["failed"]
    assert calls(outcome, "sh") == [] and calls(outcome, "withCredentials") == []


# --- documentation -----------------------------------------------------------------------


def test_every_argument_is_documented() -> None:
    source = STEP.read_text()
    known = source.split("List knownKeys() {", 1)[1].split("]", 1)[0]
    keys = [k.strip().strip("'") for k in known.split("[", 1)[1].replace("\n", " ").split(",")]
    assert "registryCredentialsId" in keys and len(keys) == 15
    help_text = (LIBRARY / "vars" / "autopack.txt").read_text()
    readme = (LIBRARY / "README.md").read_text()
    for key in keys:
        assert f"<code>{key}</code>" in help_text, key
        assert f"`{key}`" in readme, key
