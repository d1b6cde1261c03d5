"""Build-context and build-arg hygiene (autopack/image/hygiene.py): the .dockerignore rules it
relies on, each kind of finding and of non-finding, the bounded walk, and the plan stage's
warnings and --strict refusal."""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from autopack import secrets
from autopack.errors import UsageError
from autopack.events import Event, LogLine
from autopack.image import hygiene
from autopack.image.dockerfile import inspect_dockerfile
from autopack.image.hygiene import Patterns, SdkPatterns, findings, read_ignore_lines, secret_name, secret_value
from autopack.plan import PlannedImage

PASSWORD = "hunter2-Zq8vK3pLw9"  # what no finding, message or error may ever hold


@pytest.fixture(autouse=True)
def no_known_secrets(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # The registry of secrets is process-wide; each test gets an empty one.
    monkeypatch.setattr(secrets, "_secrets", set())
    monkeypatch.setattr(secrets, "_held", set())
    yield


def context(tmp_path: Path, files: dict[str, str], dockerignore: str | None = None) -> Path:
    root = tmp_path / "ctx"
    root.mkdir(parents=True)
    (root / "Dockerfile").write_text("FROM scratch\nARG DB_PASSWORD\nCOPY . /\n")
    if dockerignore is not None:
        (root / ".dockerignore").write_text(dockerignore)
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def found(root: Path, build_args: dict[str, str] | None = None, engine: str = "buildkit") -> dict[str, str]:
    """{where: what} of every finding."""
    result = findings(inspect_dockerfile(root, None), build_args or {}, engine)
    for f in result:
        assert PASSWORD not in f.line()
    return {f.where: f.what for f in result}


def settings_xml(password: str) -> str:
    return f"""<?xml version="1.0"?>
<settings xmlns="http://maven.apache.org/SETTINGS/1.0.0">
  <servers><server><id>corp</id><username>ci</username><password>{password}</password></server></servers>
</settings>
"""


# --- .dockerignore, as moby's patternmatcher (and fsutil's walk) read it ----------------------------

# (ignore-file lines, path, excluded?) — from Docker's .dockerignore reference and moby's tests.
RULES = [
    (["*.md"], "README.md", True),
    (["*.md"], "docs/README.md", False),  # "*" never crosses a "/"
    (["**/*.md"], "docs/a/README.md", True),
    (["**/*.md"], "README.md", True),  # "**/" matches no directory too
    (["a/**/b"], "a/b", True),
    (["a/**/b"], "a/x/y/b", True),
    (["a/**"], "a/x/y", True),
    (["a/**"], "ab", False),
    (["*/temp*"], "somedir/temporary.txt", True),
    (["*/temp*"], "temp", False),
    (["*/*/temp*"], "somedir/subdir/temporary.txt", True),
    (["temp?"], "temp1", True),
    (["temp?"], "temp12", False),
    (["/secret.txt"], "secret.txt", True),  # a leading "/" is the context's root
    (["dir/"], "dir/file", True),  # a trailing "/" is dropped; a directory excludes what is below it
    (["dir"], "dir/sub/file", True),
    (["sub/dir"], "sub/dir/deep/file", True),
    (["dir"], "other/dir/file", False),  # anchored at the root
    (["**/.git"], "x/y/.git/config", True),
    (["a/../b"], "b", True),  # cleaned like filepath.Clean
    (["./c"], "c", True),
    (["# comment"], "# comment", False),
    ([" # not a comment"], "# not a comment", True),  # only a "#" in the first column starts a comment
    (["\ufeffbom"], "bom", True),  # a UTF-8 BOM is dropped
    (["\\*.txt"], "*.txt", True),  # "\" escapes
    (["\\*.txt"], "a.txt", False),
    (["file[0-9].txt"], "file7.txt", True),
    (["a.b"], "aXb", False),  # "." is literal
    (["*.md"], "READMExmd", False),  # in a wildcard pattern too
    (["{a,b}"], "a", False),  # no braces
    (["(a|b)"], "(a|b)", True),
    (["*.md", "!README.md"], "README.md", False),  # an exception lets it back in
    (["*.md", "!README.md"], "other.md", True),
    (["*.md", "!README*.md", "README-secret.md"], "README-secret.md", True),  # the last matching line wins
    (["*.md", "!README*.md", "README-secret.md"], "README.md", False),
    (["*", "!target/*.jar"], "target/app.jar", False),
    (["*", "!target/*.jar"], "target/classes/A.class", True),
    (["*", "!keep"], "keep/deep/file", False),  # an exception for a directory lets in what is below it
    (["!"], "x", False),  # a lone "!" is no pattern
    ([".ENV"], ".env", False),  # case counts
]


@pytest.mark.parametrize(("lines", "path", "excluded"), RULES, ids=[f"{'|'.join(r[0])}~{r[1]}" for r in RULES])
def test_dockerignore_rules(lines: list[str], path: str, excluded: bool) -> None:
    assert Patterns(read_ignore_lines(lines)).excluded(path) is excluded


def test_ignore_lines_are_read_as_moby_reads_them() -> None:
    lines = ["\ufeff/abs/path", "# comment", "", "   ", "  spaced  ", "! /negated/", "dir//sub/", "#still a comment"]
    assert read_ignore_lines(lines) == ["abs/path", "spaced", "!negated", "dir/sub"]


def test_the_docker_sdk_matches_differently_and_decides_for_the_classic_builder() -> None:
    """The docker SDK, which makes the classic builder's tarball, ignores case; BuildKit does not."""
    assert SdkPatterns([".ENV"]).excluded(".env") is True
    assert Patterns(read_ignore_lines([".ENV"])).excluded(".env") is False


def test_the_builder_decides_how_the_ignore_file_matches(tmp_path: Path) -> None:
    root = context(tmp_path, {".env": "A=1\n"}, dockerignore=".ENV\n")
    assert set(found(root, engine="buildkit")) == {".env"}  # BuildKit sends .env: the line names .ENV
    assert set(found(root, engine="buildah")) == {".env"}
    assert found(root, engine="docker-api") == {}  # the SDK leaves it out


def test_each_builder_reads_its_own_ignore_file(tmp_path: Path) -> None:
    root = context(tmp_path, {".env": "A=1\n", "settings.xml": settings_xml(PASSWORD)}, dockerignore=".env\n")
    (root / "Dockerfile.dockerignore").write_text("settings.xml\n")  # BuildKit's and buildah's first choice
    (root / ".containerignore").write_text("*\n")  # buildah's, after a Dockerfile's own

    assert set(found(root, engine="buildkit")) == {".env"}
    assert set(found(root, engine="buildah")) == {".env"}
    assert set(found(root, engine="docker-api")) == {"settings.xml"}  # the SDK reads .dockerignore alone
    (root / "Dockerfile.dockerignore").unlink()
    assert set(found(root, engine="buildah")) == set()
    assert set(found(root, engine="buildkit")) == {"settings.xml"}


@pytest.mark.e2e
def test_buildkit_sends_exactly_what_the_check_walks(tmp_path: Path, engine) -> None:
    """The engine's own BuildKit, asked to send the context to a local export, sends the files
    the check walks — for a .dockerignore that uses every rule above."""
    files = ["README.md", "docs/README.md", "docs/a/b.md", "README-secret.md", "keep/deep/file", "target/app.jar", "target/classes/A.class", "x/y/.git/config", "temp1", "temp12", "a.txt", "*.txt", ".env", ".ENV", "sub/dir/f"]
    root = context(tmp_path, {f: "x\n" for f in files}, dockerignore="# rules\n**/*.md\n!README*.md\nREADME-secret.md\n/temp?\n\\*.txt\n.ENV\n**/.git\nsub/dir/\ntarget\n!target/*.jar\n")
    walker = hygiene._Walker(root, Patterns(read_ignore_lines((root / ".dockerignore").read_text().splitlines())), 10_000, float("inf"))
    walked = {e.path for e in walker._files("", root, None, probe=True)}
    out = tmp_path / "out"
    docker = "/usr/bin/docker" if Path("/usr/bin/docker").exists() else "docker"
    run = subprocess.run([docker, "build", "-q", "-o", f"type=local,dest={out}", str(root)], env={**os.environ, "DOCKER_BUILDKIT": "1"}, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    sent = {str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()}
    assert sent - {"Dockerfile", ".dockerignore"} == walked - {"Dockerfile", ".dockerignore"}
    assert {"README.md", "keep/deep/file", "target/app.jar", ".env", "temp12"} <= walked
    assert not walked & {"docs/README.md", "README-secret.md", "temp1", "*.txt", ".ENV", "x/y/.git/config", "sub/dir/f", "target/classes/A.class"}


def test_an_excluded_directory_is_not_walked(tmp_path: Path) -> None:
    root = context(tmp_path, {f".git/objects/{i:02x}/obj": "x" for i in range(200)}, dockerignore=".git\n")
    report = hygiene.check(inspect_dockerfile(root, None), {})
    assert report.findings == () and report.entries < 10


# --- the context: findings and non-findings ------------------------------------------------------------


def test_maven_settings_with_a_password(tmp_path: Path) -> None:
    root = context(tmp_path, {"settings.xml": settings_xml(PASSWORD), "ci/settings.xml": settings_xml(PASSWORD)})
    result = found(root)
    assert set(result) == {"settings.xml", "ci/settings.xml"}
    assert "<password>" in result["settings.xml"]
    [finding] = [f for f in findings(inspect_dockerfile(root, None), {}) if f.where == "ci/settings.xml"]
    assert "`ci/settings.xml` to .dockerignore" in finding.fix and "--secret id=maven" in finding.fix


@pytest.mark.parametrize(
    "text",
    [
        settings_xml("${env.PASS}"),  # a placeholder Maven fills in from the environment
        settings_xml("${env.USER}${env.PASS}"),
        settings_xml(""),
        "<settings><servers><server><id>corp</id><username>ci</username></server></servers></settings>",  # no password
        "<settings><localRepository>/m2</localRepository></settings>",
    ],
    ids=["env-placeholder", "two-placeholders", "empty", "no-password", "no-servers"],
)
def test_maven_settings_without_a_secret(tmp_path: Path, text: str) -> None:
    assert found(context(tmp_path, {"settings.xml": text})) == {}


def test_maven_settings_defusedxml_refuses_are_searched_as_text(tmp_path: Path) -> None:
    doctype = '<?xml version="1.0"?>\n<!DOCTYPE settings [<!ENTITY e "x">]>\n'
    root = context(tmp_path, {"settings.xml": doctype + f"<settings><servers><server><password>{PASSWORD}</password></server></servers></settings>"})
    assert set(found(root)) == {"settings.xml"}
    (root / "settings.xml").write_text(doctype + "<settings><servers><server><password>${env.PASS}</password></server></servers></settings>")
    assert found(root) == {}


def test_maven_master_password_and_encrypted_passwords(tmp_path: Path) -> None:
    root = context(tmp_path, {".m2/settings-security.xml": "<settingsSecurity><master>{jSMOWnoPFgsHVpMvz5VrIt5kRbzGpI8u+9EF1iFQyJQ=}</master></settingsSecurity>", "settings.xml": settings_xml("{COQLCE6DU6GtcS5P=}")})
    result = found(root)
    assert "<master>" in result[".m2/settings-security.xml"] and "<password>" in result["settings.xml"]


def test_vcs_metadata(tmp_path: Path) -> None:
    root = context(tmp_path, {".git/config": "[core]\n", ".git/objects/ab/cd": "x", "lib/.svn/wc.db": "x"})
    result = found(root)
    assert set(result) == {".git/", "lib/.svn/"}
    assert result[".git/"].startswith("git metadata") and result["lib/.svn/"].startswith("Subversion metadata")


def test_dockerignored_vcs_metadata_is_no_finding(tmp_path: Path) -> None:
    assert found(context(tmp_path, {".git/config": "[core]\n", "lib/.svn/wc.db": "x"}, dockerignore=".git\n**/.svn\n")) == {}


def test_vcs_metadata_with_one_file_let_back_in(tmp_path: Path) -> None:
    root = context(tmp_path, {".git/config": "[core]\n", ".git/HEAD": "ref: refs/heads/main\n"}, dockerignore=".git\n!.git/HEAD\n")
    assert set(found(root)) == {".git/"}


def test_env_files(tmp_path: Path) -> None:
    root = context(tmp_path, {".env": f"DB_PASSWORD={PASSWORD}\n", "config/.env.production": "X=1\n", ".env.example": "DB_PASSWORD=\n", ".env.sample": "X=\n", "empty/.env": ""})
    assert set(found(root)) == {".env", "config/.env.production"}


PRIVATE = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n"


def test_private_keys(tmp_path: Path) -> None:
    root = context(
        tmp_path,
        {
            ".ssh/id_rsa": PRIVATE,
            "deploy/id_ed25519": PRIVATE,
            "tls/server.key": "-----BEGIN EC PRIVATE KEY-----\nMHc=\n-----END EC PRIVATE KEY-----\n",
            "tls/bundle.pem": "-----BEGIN CERTIFICATE-----\nMII=\n-----END CERTIFICATE-----\n-----BEGIN PRIVATE KEY-----\nMII=\n-----END PRIVATE KEY-----\n",
            "signing.asc": "-----BEGIN PGP PRIVATE KEY BLOCK-----\nlQ==\n-----END PGP PRIVATE KEY BLOCK-----\n",
            "putty.ppk": "PuTTY-User-Key-File-3: ssh-ed25519\n",
            # not private keys:
            ".ssh/id_rsa.pub": "ssh-rsa AAAA user@host\n",
            "tls/ca.pem": "-----BEGIN CERTIFICATE-----\nMII=\n-----END CERTIFICATE-----\n",
            "notes.key": "just a file called .key\n",
        },
    )
    assert set(found(root)) == {".ssh/id_rsa", "deploy/id_ed25519", "tls/server.key", "tls/bundle.pem", "signing.asc", "putty.ppk"}


def test_cloud_and_registry_credentials(tmp_path: Path) -> None:
    root = context(
        tmp_path,
        {
            ".aws/credentials": "[default]\naws_access_key_id = AKIAIOSFODNN7EXAMPLE\naws_secret_access_key = x\n",
            ".docker/config.json": json.dumps({"auths": {"registry.example.com": {"auth": "Y2k6c2VjcmV0"}}}),
            "gcloud/application_default_credentials.json": json.dumps({"type": "authorized_user", "refresh_token": "x"}),
            "keys/sa.json": json.dumps({"type": "service_account", "private_key": "-----BEGIN PRIVATE KEY-----\nMII=\n-----END PRIVATE KEY-----\n"}),
            ".npmrc": "//registry.npmjs.org/:_authToken=npm_abc\n",
            ".pypirc": "[pypi]\nusername = __token__\npassword = pypi-abc\n",
            ".netrc": "machine example.com login ci password s3cret\n",
            ".git-credentials": "https://ci:token@example.com\n",
            ".kube/config": "apiVersion: v1\nusers: []\n",
            ".vault-token": "hvs.x\n",
        },
    )
    assert set(found(root)) == {
        ".aws/credentials",
        ".docker/config.json",
        "gcloud/application_default_credentials.json",
        "keys/sa.json",
        ".npmrc",
        ".pypirc",
        ".netrc",
        ".git-credentials",
        ".kube/config",
        ".vault-token",
    }


def test_config_files_without_credentials(tmp_path: Path) -> None:
    root = context(
        tmp_path,
        {
            ".docker/config.json": json.dumps({"auths": {"registry.example.com": {}}, "credsStore": "pass"}),  # the login is in a helper
            ".npmrc": "registry=https://registry.npmjs.org/\n//registry.npmjs.org/:_authToken=${NPM_TOKEN}\n",
            ".pypirc": "[pypi]\nusername = __token__\n",
            ".netrc": "machine example.com login ci\n",
            "package.json": json.dumps({"name": "x", "private_key": "not a key"}),
            "src/main/resources/application.properties": "spring.datasource.password=${DB_PASSWORD}\n",
        },
    )
    assert found(root) == {}


def test_a_symlink_is_sent_as_a_link_and_not_followed(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / ".env").write_text(f"DB_PASSWORD={PASSWORD}\n")
    (outside / "settings.xml").write_text(settings_xml(PASSWORD))
    root = context(tmp_path, {})
    (root / ".env").symlink_to(outside / ".env")
    (root / "linked").symlink_to(outside, target_is_directory=True)
    assert found(root) == {}


def test_a_huge_context_is_checked_as_far_as_the_budget_goes_and_says_so(tmp_path: Path) -> None:
    root = context(tmp_path, {".env": "X=1\n", **{f"node_modules/p{i}/index.js": "x" for i in range(100)}})
    report = hygiene.check(inspect_dockerfile(root, None), {}, max_entries=20)
    assert report.stopped == "after 20 entries"
    assert [f.where for f in report.findings] == [".env"]  # found before the walk stopped
    assert hygiene.check(inspect_dockerfile(root, None), {}).stopped is None


def test_a_time_budget_stops_the_walk_too(tmp_path: Path) -> None:
    root = context(tmp_path, {f"d/{i}": "x" for i in range(600)})
    report = hygiene.check(inspect_dockerfile(root, None), {}, budget=-1)
    assert report.stopped is not None and "time budget" in report.stopped


# --- build arguments ------------------------------------------------------------------------------------------

SECRET_NAMES = ["DB_PASSWORD", "NPM_TOKEN", "apiKey", "APIKey", "AWS_SECRET_ACCESS_KEY", "SECRET_KEY_BASE", "GITLAB_PAT", "NPM_AUTH", "MAVEN_PASS", "dbPassword", "SIGNING_KEY", "GOOGLE_APPLICATION_CREDENTIALS", "passphrase"]
PLAIN_NAMES = ["ARTIFACT", "VERSION", "KEYCLOAK_VERSION", "BASE_IMAGE", "JAVA_OPTS", "BYPASS_PROXY", "SSH_PUBLIC_KEY", "TOKEN_URL", "PASSWORD_FILE", "AUTH_METHOD", "KEY_ALIAS", "AWS_ACCESS_KEY_ID", "AUTHOR", "MONKEY_PATCH"]


@pytest.mark.parametrize("name", SECRET_NAMES)
def test_a_secret_name(name: str) -> None:
    assert secret_name(name)


@pytest.mark.parametrize("name", PLAIN_NAMES)
def test_a_plain_name(name: str) -> None:
    assert not secret_name(name)


SECRET_VALUES = [
    ("ghp_" + "A1b2C3d4E5" * 4, "a GitHub token"),
    ("github_pat_11ABCDEFG0123456789_abcdefghij", "a GitHub token"),
    ("glpat-" + "xY9_zW8-vU7tS6rQ5pO4", "a GitLab token"),
    ("Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U", "a JSON web token"),
    ("AKIAIOSFODNN7EXAMPLE", "an AWS access key"),
    ("https://ci:pw@repo.example.com/maven2", "a URL with a password"),
    ("WXaSCrUZoL8g5ubbbPIa84yRnBUbHoWC", "a long random string"),
    ("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "a long random string"),
]
PLAIN_VALUES = [
    "1.0.0",
    "1.4.0-SNAPSHOT",
    "-Xmx256m -XX:+UseContainerSupport -Dspring.profiles.active=prod",
    "0123456789abcdef0123456789abcdef01234567",  # a commit
    "sha256:" + "ab12" * 16,  # a digest
    "3f2504e0-4f89-11d3-9a0c-0305e82c3301",  # a UUID
    "registry.example.com/team/base-image-Java17",
    "/opt/App2/LibFolder/someThing2Else",
    "src/main/resources/Config2/AppSettings",
    "SpringBootApplication2024Release",
    "MyServiceName-Release-2024-01-15",
    "eclipse-temurin:17-jre-jammy",
]


@pytest.mark.parametrize(("value", "kind"), SECRET_VALUES, ids=[k for _, k in SECRET_VALUES])
def test_a_secret_value(value: str, kind: str) -> None:
    reason = secret_value(value)
    assert reason is not None and kind in reason
    assert value not in reason


@pytest.mark.parametrize("value", PLAIN_VALUES)
def test_a_plain_value(value: str) -> None:
    assert secret_value(value) is None


def test_a_value_autopack_holds_or_masks() -> None:
    held = "svn-" + uuid.uuid4().hex[:6]
    secrets.register(held)
    assert secret_value(held) == "is a credential autopack holds"
    assert secret_value(f"--user=ci:{held}") == "is a credential autopack holds"
    secrets.register_environment({"CI_JOB_TOKEN": "job-" + uuid.uuid4().hex[:6]})
    (masked,) = secrets._secrets - {held}
    assert secret_value(masked) == "is a secret autopack masks in its output"


def test_build_arg_findings(tmp_path: Path) -> None:
    root = context(tmp_path, {})
    result = found(root, {"DB_PASSWORD": PASSWORD, "GH": "ghp_" + "A1b2C3d4E5" * 4, "VERSION": "1.0.0", "KEYCLOAK_VERSION": "24.0.1", "EMPTY_TOKEN": "", "GIT_COMMIT": "0123456789abcdef0123456789abcdef01234567"})
    assert set(result) == {"build arg DB_PASSWORD", "build arg GH"}
    assert result["build arg DB_PASSWORD"] == "its name says it holds a secret, and build args are kept in the image's history"  # the Dockerfile declares it
    assert result["build arg GH"].startswith("its value looks like a GitHub token") and "once a Dockerfile declares them" in result["build arg GH"]
    [finding] = [f for f in findings(inspect_dockerfile(root, None), {"DB_PASSWORD": PASSWORD}) if f.where == "build arg DB_PASSWORD"]
    assert finding.fix == "pass it with --secret id=DB_PASSWORD,src=FILE and read it in RUN --mount=type=secret,id=DB_PASSWORD instead"


# --- the plan stage's use ---------------------------------------------------------------------------------


def planned(root: Path, module: str = "hello", build_args: dict[str, str] | None = None) -> PlannedImage:
    return PlannedImage(module=module, references=(f"{module}:1",), dockerfile=inspect_dockerfile(root, None), build_args=build_args or {"VERSION": "1.0.0"})


def test_review_warns_once_per_finding(tmp_path: Path) -> None:
    root = context(tmp_path, {".env": "X=1\n", "settings.xml": settings_xml(PASSWORD)})
    events: list[Event] = []
    hygiene.review([planned(root, build_args={"VERSION": "1", "DB_PASSWORD": PASSWORD})], False, "buildkit", events.append)
    lines = [e for e in events if isinstance(e, LogLine)]
    assert all(e.stage == "plan" and e.level == "warning" for e in lines)
    assert [e.text.split(":")[0] for e in lines] == [".env", "settings.xml", "build arg DB_PASSWORD"]
    assert "add the line `.env` to .dockerignore" in lines[0].text
    assert "--secret id=DB_PASSWORD,src=FILE" in lines[2].text
    assert not any(PASSWORD in e.text for e in lines)


def test_review_with_strict_refuses_naming_the_first_and_counting_the_rest(tmp_path: Path) -> None:
    one, two = context(tmp_path / "a", {".env": "X=1\n"}), context(tmp_path / "b", {"settings.xml": settings_xml(PASSWORD)})
    events: list[Event] = []
    with pytest.raises(UsageError) as caught:
        hygiene.review([planned(one, "orders"), planned(two, "billing", {"DB_PASSWORD": PASSWORD})], True, "buildkit", events.append)
    assert caught.value.exit_code == 2
    assert caught.value.message == "--strict: orders: .env: an environment file (.env) would be sent with the build context (and 2 more)"
    assert caught.value.hint == "add the line `.env` to .dockerignore; or drop --strict"
    assert [e.text.split(":")[0] for e in events if isinstance(e, LogLine)] == ["orders", "billing", "billing"]  # every warning came first
    assert PASSWORD not in caught.value.one_line()


def test_review_with_strict_and_a_clean_context_passes(tmp_path: Path) -> None:
    root = context(tmp_path, {".env": "X=1\n", ".git/config": "x"}, dockerignore=".env\n.git\n")
    events: list[Event] = []
    hygiene.review([planned(root)], True, "buildkit", events.append)
    assert events == []


def test_review_says_when_the_walk_stopped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = context(tmp_path, {f"node_modules/{i}": "x" for i in range(30)})
    monkeypatch.setattr(hygiene, "MAX_ENTRIES", 10)
    monkeypatch.setattr(hygiene.check, "__kwdefaults__", {"max_entries": 10, "budget": hygiene.TIME_BUDGET})
    events: list[Event] = []
    hygiene.review([planned(root)], True, "buildkit", events.append)  # an unchecked rest is no refusal
    [line] = [e for e in events if isinstance(e, LogLine)]
    assert line.level == "warning" and line.text.startswith("build context check stopped after 10 entries: the rest of ")
