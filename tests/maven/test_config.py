"""Maven's own configuration as the pom model sees it: .mvn/maven.config, .mvn/jvm.config,
MAVEN_OPTS and settings.xml files written into tmp_path (real Maven reads the same files in
tests/e2e/test_maven_config.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from autopack.maven import config as maven_config
from autopack.maven.config import Mirror, parse_args
from autopack.maven.reactor import load_reactor
from autopack.errors import UsageError
from autopack.settings import Settings

CI_FRIENDLY = """<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>com.example</groupId><artifactId>svc</artifactId><version>${revision}</version>
  <build><finalName>${project.artifactId}-${flavour}</finalName></build>
</project>"""


def project(tmp_path: Path, maven_config_text: str | None = None, jvm_config: str | None = None) -> Path:
    (tmp_path / "pom.xml").write_text(CI_FRIENDLY)
    if maven_config_text is not None or jvm_config is not None:
        (tmp_path / ".mvn").mkdir()
    if maven_config_text is not None:
        (tmp_path / ".mvn" / "maven.config").write_text(maven_config_text)
    if jvm_config is not None:
        (tmp_path / ".mvn" / "jvm.config").write_text(jvm_config)
    return tmp_path


@pytest.fixture
def no_user_settings(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A HOME without ~/.m2/settings.xml, and no Maven on PATH whose conf/ would be read."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setattr(maven_config, "_maven_home_settings", lambda: None)
    return home


def test_every_form_of_the_options_maven_takes() -> None:
    args = parse_args(["-Drevision=1.2", "-D", "a=b", "--define=c=d", "-Dflag", "-Pone,two", "-P", "three", "--activate-profiles=!four",
                       "-T", "2", "-T4", "-s", "first.xml", "--settings=second.xml", "-gsglobal.xml", "-o", "-U", "clean"])

    assert args.defines == {"revision": "1.2", "a": "b", "c": "d", "flag": "true"}
    assert args.profiles == ("one", "two", "three", "!four")
    assert (args.threads, args.settings, args.global_settings, args.offline) == ("2", "first.xml", "global.xml", True)


def test_maven_config_gives_the_ci_friendly_version(tmp_path: Path, no_user_settings: Path) -> None:
    directory = project(tmp_path, "-Drevision=1.3.0\n-Dflavour=plain -Pprod\n-T 1C\n")

    config = maven_config.read(Settings(), directory, {})
    reactor = load_reactor(directory, config.defines, config.profiles, config.settings_properties)

    assert config.file_args == ("-Drevision=1.3.0", "-Dflavour=plain", "-Pprod", "-T", "1C")
    assert config.profiles == ("prod",)
    assert (reactor.root.project.version, reactor.root.project.final_name) == ("1.3.0", "svc-plain")


def test_autopacks_options_win_over_the_file_as_the_command_line_does(tmp_path: Path, no_user_settings: Path) -> None:
    directory = project(tmp_path, "-Drevision=1.3.0 -Dflavour=plain -Pprod")
    settings = Settings(defines={"revision": "2.0.0"}, profiles=("extra",), maven_args=("-Dflavour=arg",))

    config = maven_config.read(settings, directory, {})

    assert config.user_properties == {"revision": "2.0.0", "flavour": "arg"}
    assert config.profiles == ("prod", "extra")


def test_system_properties_from_jvm_config_and_maven_opts_rank_below_user_properties(tmp_path: Path, no_user_settings: Path) -> None:
    directory = project(tmp_path, "-Dflavour=user", "-Xmx256m -Drevision=0.1 -Dflavour=jvm")

    config = maven_config.read(Settings(), directory, {"MAVEN_OPTS": "-Drevision=0.2 -Dmaven.repo.local=/srv/m2"})

    assert config.defines == {"revision": "0.2", "flavour": "user", "maven.repo.local": "/srv/m2"}
    assert config.local_repository == Path("/srv/m2")


def test_the_mvn_directory_is_found_above_a_module_like_the_mvn_script_does(tmp_path: Path, no_user_settings: Path) -> None:
    project(tmp_path, "-Drevision=9")
    module = tmp_path / "services" / "svc"
    module.mkdir(parents=True)

    assert maven_config.find_base_dir(module) == tmp_path
    assert maven_config.read(Settings(), module, {}).user_properties == {"revision": "9"}


SETTINGS = """<settings>
  <localRepository>${user.home}/repo-from-settings</localRepository>
  <mirrors><mirror><id>corp</id><url>https://nexus.example.com/${env.NEXUS_PATH}</url><mirrorOf>*</mirrorOf></mirror></mirrors>
  <profiles>
    <profile><id>always</id><properties><flavour>from-settings</flavour></properties></profile>
    <profile><id>fallback</id><activation><activeByDefault>true</activeByDefault></activation><properties><revision>0.0.1</revision></properties></profile>
    <profile><id>named</id><properties><revision>5.0</revision></properties></profile>
  </profiles>
  <activeProfiles><activeProfile>always</activeProfile></activeProfiles>
</settings>"""


def test_settings_profiles_feed_the_pom_and_give_the_local_repository_and_mirrors(tmp_path: Path, no_user_settings: Path) -> None:
    directory = project(tmp_path, "-Drevision=1.0")
    (tmp_path / "ci-settings.xml").write_text(SETTINGS)

    config = maven_config.read(Settings(maven_settings=tmp_path / "ci-settings.xml"), directory, {"NEXUS_PATH": "maven-public"})
    reactor = load_reactor(directory, config.defines, config.profiles, config.settings_properties)

    assert config.settings_properties == {"flavour": "from-settings"}  # activeByDefault yields to an active one
    assert config.local_repository == no_user_settings / "repo-from-settings"
    assert config.mirrors == (Mirror("corp", "https://nexus.example.com/maven-public", "*"),)
    assert reactor.root.project.final_name == "svc-from-settings"


def test_a_profile_named_with_p_activates_a_settings_profile_and_user_settings_are_the_default(tmp_path: Path, no_user_settings: Path) -> None:
    directory = project(tmp_path, "-Pnamed")
    (no_user_settings / ".m2").mkdir()
    (no_user_settings / ".m2" / "settings.xml").write_text(SETTINGS)

    config = maven_config.read(Settings(), directory, {})

    assert config.settings_properties == {"flavour": "from-settings", "revision": "5.0"}
    assert config.settings_files == (no_user_settings / ".m2" / "settings.xml",)


def test_settings_named_in_maven_config_are_relative_to_the_project(tmp_path: Path, no_user_settings: Path) -> None:
    directory = project(tmp_path, "-s .mvn/settings.xml")
    (tmp_path / ".mvn" / "settings.xml").write_text(SETTINGS)

    assert maven_config.read(Settings(), directory, {}).settings_files == (tmp_path / ".mvn" / "settings.xml",)


def test_a_missing_settings_file_is_a_usage_error(tmp_path: Path, no_user_settings: Path) -> None:
    directory = project(tmp_path, "-s nowhere.xml")

    with pytest.raises(UsageError, match=r"Maven settings file .*nowhere.xml does not exist"):
        maven_config.read(Settings(), directory, {})


def test_a_settings_file_that_is_not_xml_is_a_usage_error(tmp_path: Path, no_user_settings: Path) -> None:
    directory = project(tmp_path)
    (tmp_path / "bad.xml").write_text("<settings>")

    with pytest.raises(UsageError, match="not a readable Maven settings file"):
        maven_config.read(Settings(maven_settings=tmp_path / "bad.xml"), directory, {})


def test_offline_comes_from_the_option_the_file_or_the_settings(tmp_path: Path, no_user_settings: Path) -> None:
    directory = project(tmp_path)
    assert maven_config.read(Settings(), directory, {}).offline is False
    assert maven_config.read(Settings(offline=True), directory, {}).offline is True
    (tmp_path / "s.xml").write_text("<settings><offline>true</offline></settings>")
    assert maven_config.read(Settings(maven_settings=tmp_path / "s.xml"), directory, {}).offline is True
