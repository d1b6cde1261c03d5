"""Settings precedence: command line > AUTOPACK_* > CI > autopack.toml > defaults."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from autopack.errors import UsageError
from autopack.settings import Settings, env_name, parse_pairs, resolve, with_project_file


def resolve_in(project: Path, cli: dict[str, Any] | None = None, environ: dict[str, str] | None = None, toml: str | None = None) -> Settings:
    if toml is not None:
        (project / "autopack.toml").write_text(toml, encoding="utf-8")
    return resolve({"source": str(project), **(cli or {})}, environ=environ or {})


# One row per kind of field; every layer holds a different value.
LAYERS = {
    "image (str)": (
        "image",
        {"cli": "cli/app", "env": "env/app", "file": 'image = "file/app"'},
        {"cli": "cli/app", "env": "env/app", "file": "file/app", "default": None},
    ),
    "tags (tuple)": (
        "tags",
        {"cli": ("{version}-cli",), "env": "{version}-env latest", "file": 'tags = ["{version}-file"]'},
        {"cli": ("{version}-cli",), "env": ("{version}-env", "latest"), "file": ("{version}-file",), "default": ()},
    ),
    "defines (mapping)": (
        "defines",
        {"cli": {"revision": "cli"}, "env": "revision=env,extra=1", "file": '[defines]\nrevision = "file"'},
        {"cli": {"revision": "cli"}, "env": {"revision": "env", "extra": "1"}, "file": {"revision": "file"}, "default": {}},
    ),
}


@pytest.mark.parametrize("row", LAYERS.values(), ids=LAYERS.keys())
@pytest.mark.parametrize("top", ["cli", "env", "file", "default"])
def test_the_highest_layer_given_wins(tmp_path: Path, row: tuple, top: str) -> None:
    name, given, expected = row
    order = ["cli", "env", "file", "default"]
    present = order[order.index(top) :]
    cli = {name: given["cli"]} if "cli" in present else {}
    environ = {env_name(name): given["env"]} if "env" in present else {}
    toml = given["file"] if "file" in present else None

    settings = resolve_in(tmp_path, cli, environ, toml)

    assert getattr(settings, name) == expected[top]


def test_bool_cli_false_beats_env_true(tmp_path: Path) -> None:
    settings = resolve_in(tmp_path, {"skip_tests": False}, {"AUTOPACK_SKIP_TESTS": "1"}, "skip_tests = true")

    assert settings.skip_tests is False


def test_bool_cli_none_means_not_given(tmp_path: Path) -> None:
    assert resolve_in(tmp_path, {"skip_tests": None}, {"AUTOPACK_SKIP_TESTS": "yes"}).skip_tests is True


def test_bool_env_false_beats_file_true(tmp_path: Path) -> None:
    assert resolve_in(tmp_path, {}, {"AUTOPACK_SKIP_TESTS": "0"}, "skip_tests = true").skip_tests is False


def test_bool_file_beats_default(tmp_path: Path) -> None:
    assert resolve_in(tmp_path).skip_tests is False
    assert resolve_in(tmp_path, toml="skip_tests = true").skip_tests is True


def test_build_number_order_cli_env_ci_file(tmp_path: Path) -> None:
    environ = {"AUTOPACK_BUILD_NUMBER": "8", "CI_PIPELINE_IID": "9", "BUILD_NUMBER": "10"}
    (tmp_path / "autopack.toml").write_text("build_number = 11\n")

    def build_number(cli: dict[str, Any], env: dict[str, str]) -> str | None:
        return resolve({"source": str(tmp_path), **cli}, environ=env).build_number

    assert build_number({"build_number": "7"}, environ) == "7"
    assert build_number({}, environ) == "8"
    assert build_number({}, {"GITLAB_CI": "true", "CI_PIPELINE_IID": "9", "BUILD_NUMBER": "10"}) == "9"  # GitLab
    assert build_number({}, {"JENKINS_URL": "https://ci.example.com/", "BUILD_NUMBER": "10"}) == "10"  # Jenkins
    assert build_number({}, {"CI_PIPELINE_IID": "9", "BUILD_NUMBER": "10"}) == "11"  # no CI system detected
    assert build_number({}, {}) == "11"
    (tmp_path / "autopack.toml").unlink()
    assert build_number({}, {}) is None


def test_defaults(tmp_path: Path) -> None:
    settings = resolve_in(tmp_path)

    assert settings.goals == ("clean", "package")
    assert settings.tags == ()
    assert settings.offline is False
    assert settings.maven_settings is None
    assert settings.source == str(tmp_path)


def test_autopack_tags_split_on_spaces_and_commas(tmp_path: Path) -> None:
    settings = resolve_in(tmp_path, environ={"AUTOPACK_TAG_TEMPLATES": " {version}, latest  {version}-{revision},"})

    assert settings.tags == ("{version}", "latest", "{version}-{revision}")


def test_autopack_defines_pairs(tmp_path: Path) -> None:
    settings = resolve_in(tmp_path, environ={"AUTOPACK_DEFINES": "revision=1.2.3 , changelist=, opts=-Xmx1g=x"})

    assert settings.defines == {"revision": "1.2.3", "changelist": "", "opts": "-Xmx1g=x"}


def test_autopack_defines_without_equals_names_the_variable(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="AUTOPACK_DEFINES expects KEY=VALUE, got 'revision'"):
        resolve_in(tmp_path, environ={"AUTOPACK_DEFINES": "revision"})


def test_env_paths_become_paths(tmp_path: Path) -> None:
    settings = resolve_in(tmp_path, environ={"AUTOPACK_MAVEN_SETTINGS": "/ci/settings.xml"})

    assert settings.maven_settings == Path("/ci/settings.xml")


def test_file_keys_may_use_dashes(tmp_path: Path) -> None:
    settings = resolve_in(tmp_path, toml='skip-tests = true\nmaven-args = ["-U"]\n')

    assert settings.skip_tests is True
    assert settings.maven_args == ("-U",)


def test_an_unknown_file_key_lists_the_valid_ones(tmp_path: Path) -> None:
    with pytest.raises(UsageError) as caught:
        resolve_in(tmp_path, toml="colour = true\n")

    assert "unknown setting 'colour'" in caught.value.message
    assert str(tmp_path / "autopack.toml") in caught.value.message
    for key in ("skip_tests", "tags", "defines", "image"):
        assert key in caught.value.hint


@pytest.mark.parametrize("toml", ['skip_tests = "yes"\n', 'defines = "revision=1"\n'], ids=["bool", "mapping"])
def test_a_file_value_of_the_wrong_type_is_a_usage_error(tmp_path: Path, toml: str) -> None:
    with pytest.raises(UsageError):
        resolve_in(tmp_path, toml=toml)


def test_invalid_toml_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError) as caught:
        resolve_in(tmp_path, toml="tags = [\n")

    assert "is not valid TOML" in caught.value.message


def test_an_explicit_config_replaces_the_project_file(tmp_path: Path) -> None:
    (tmp_path / "autopack.toml").write_text('image = "project/app"\n')
    config = tmp_path / "ci.toml"
    config.write_text('image = "ci/app"\n')

    settings = resolve({"source": str(tmp_path)}, environ={}, config=config)

    assert settings.image == "ci/app"


def test_an_explicit_missing_config_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="does not exist"):
        resolve({"source": str(tmp_path)}, environ={}, config=tmp_path / "missing.toml")


def test_parse_pairs() -> None:
    assert parse_pairs(["A=1", "B=x=y", "C="], "--build-arg") == {"A": "1", "B": "x=y", "C": ""}


@pytest.mark.parametrize("item", ["NOVALUE", "=value"])
def test_parse_pairs_names_the_option(item: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse_pairs(["A=1", item], "--build-arg")

    assert caught.value.message == f"--build-arg expects KEY=VALUE, got '{item}'"


def test_report_variables_of_an_earlier_job_are_not_read_as_settings(tmp_path: Path) -> None:
    """A dotenv report hands AUTOPACK_IMAGE/_TAGS/_REVISION to later jobs: they are outputs."""
    report = {"AUTOPACK_IMAGE": "reg/x:1", "AUTOPACK_TAGS": "reg/x:1,reg/y:1", "AUTOPACK_REVISION": "0123abc"}
    settings = resolve_in(tmp_path, environ=report)
    assert (settings.image, settings.tags, settings.revision) == (None, (), None)
    named = resolve_in(tmp_path, environ={"AUTOPACK_IMAGE_NAME": "reg/team/app", "AUTOPACK_SVN_REVISION": "42"})
    assert (named.image, named.revision) == ("reg/team/app", "42")


def test_a_checked_out_project_file_fills_what_options_env_and_ci_left_open(tmp_path: Path) -> None:
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    (checkout / "autopack.toml").write_text(
        'image = "file/app"\ntags = ["{version}-file"]\nskip_tests = true\nmaven_settings = "ci/settings.xml"\n'
        'destinations = ["127.0.0.1:5000/team/app"]\ngitlab_url = "https://elsewhere.example"\nlog_dir = "logs"\n'
    )
    remote = resolve({"source": "https://git.example.com/team/app.git", "image": "cli/app"}, environ={"AUTOPACK_SKIP_TESTS": "false"})
    assert remote.config_file is None

    settings = with_project_file(remote, checkout)

    assert settings.config_file == checkout / "autopack.toml"
    assert (settings.image, settings.skip_tests) == ("cli/app", False)  # given above the file: kept
    assert settings.tags == ("{version}-file",) and settings.destinations == ("127.0.0.1:5000/team/app",)
    assert settings.maven_settings == checkout / "ci" / "settings.xml"  # relative to the file
    assert (settings.gitlab_url, settings.log_dir) == (None, None)  # too late, or would go with the checkout


def test_an_explicit_config_is_not_joined_by_the_checked_out_file(tmp_path: Path) -> None:
    (tmp_path / "autopack.toml").write_text('image = "checkout/app"\n')
    config = tmp_path / "ci.toml"
    config.write_text('tags = ["ci"]\n')
    remote = resolve({"source": "svn://svn.example.com/repo/trunk"}, environ={}, config=config)

    assert with_project_file(remote, tmp_path) == remote
    assert (remote.image, remote.tags) == (None, ("ci",))


def test_a_checked_out_project_file_with_an_unknown_key_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "autopack.toml").write_text('imgae = "typo/app"\n')
    remote = resolve({"source": "https://git.example.com/team/app.git"}, environ={})

    with pytest.raises(UsageError) as caught:
        with_project_file(remote, tmp_path)

    assert str(tmp_path / "autopack.toml") in caught.value.message and "imgae" in caught.value.message


def test_build_secret_files_in_a_settings_file_are_relative_to_it(tmp_path):
    (tmp_path / "ci").mkdir()
    (tmp_path / "autopack.toml").write_text('build_secrets = { maven = "ci/settings.xml" }\n')

    settings = resolve({"source": str(tmp_path)}, environ={})

    assert settings.build_secrets == {"maven": str(tmp_path / "ci" / "settings.xml")}


def test_maven_repo_from_the_environment_a_local_file_but_not_a_checkout(tmp_path: Path) -> None:
    """The shared repository is this machine's: relative to a local settings file, never set
    by a checked-out project's file (it would be removed with the checkout)."""
    assert resolve_in(tmp_path, environ={"AUTOPACK_MAVEN_REPO": "/cache/m2"}).maven_repo == Path("/cache/m2")
    assert resolve_in(tmp_path, toml='maven_repo = "cache/m2"\n').maven_repo == tmp_path / "cache" / "m2"
    remote = resolve({"source": "https://git.example.com/team/app.git"}, environ={})
    assert with_project_file(remote, tmp_path).maven_repo is None
