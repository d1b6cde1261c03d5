"""Which file goes into the image: Maven's own report of what it built, and the guess from
the pom when Maven reported nothing. The report lines are the ones Maven 3.8, the jar,
war and shade plugins and Spring Boot's repackage goal really print (see the real builds in
test_maven.py and tests/e2e/test_spring_boot.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from autopack.maven.artifact import Reported, find_artifact, reported
from autopack.maven.pom import Project, load_project
from autopack.errors import MavenError

# --- the guess from the pom, when Maven reported nothing ---------------------------------


def project_with(tmp_path: Path, packaging: str = "jar", build: str = "") -> Project:
    (tmp_path / "pom.xml").write_text(
        f"<project><groupId>g</groupId><artifactId>svc</artifactId><version>1.0</version>"
        f"<packaging>{packaging}</packaging><build>{build}</build></project>"
    )
    return load_project(tmp_path)


def touch(directory: Path, *names: str) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for name in names:
        (directory / name).write_bytes(b"PK")


def test_the_plain_jar_beats_original_and_sources(tmp_path: Path) -> None:
    project = project_with(tmp_path)
    touch(tmp_path / "target", "original-svc-1.0.jar", "svc-1.0-sources.jar", "svc-1.0-javadoc.jar", "svc-1.0.jar")

    assert find_artifact(project) == tmp_path / "target" / "svc-1.0.jar"


def test_a_classified_shaded_jar_when_the_plain_one_is_absent(tmp_path: Path) -> None:
    project = project_with(tmp_path)
    touch(tmp_path / "target", "original-svc-1.0.jar", "svc-1.0-sources.jar", "svc-1.0-tests.jar", "svc-1.0-all.jar")

    assert find_artifact(project) == tmp_path / "target" / "svc-1.0-all.jar"


def test_two_classified_jars_are_ambiguous(tmp_path: Path) -> None:
    project = project_with(tmp_path)
    touch(tmp_path / "target", "svc-1.0-all.jar", "svc-1.0-lite.jar")

    with pytest.raises(MavenError, match="found only svc-1.0-all.jar, svc-1.0-lite.jar"):
        find_artifact(project)


def test_war_packaging(tmp_path: Path) -> None:
    project = project_with(tmp_path, "war")
    touch(tmp_path / "target", "svc-1.0.war", "svc-1.0.jar")

    assert find_artifact(project) == tmp_path / "target" / "svc-1.0.war"


def test_custom_final_name_and_build_directory(tmp_path: Path) -> None:
    project = project_with(tmp_path, build="<directory>out</directory><finalName>app</finalName>")
    touch(tmp_path / "out", "app.jar")

    assert find_artifact(project) == tmp_path / "out" / "app.jar"


def test_pom_packaging_produces_nothing(tmp_path: Path) -> None:
    with pytest.raises(MavenError, match="packaging 'pom'"):
        find_artifact(project_with(tmp_path, "pom"))


@pytest.mark.parametrize("target_exists", [True, False], ids=["empty-target", "no-target"])
def test_nothing_there_lists_the_paths_looked_at(tmp_path: Path, target_exists: bool) -> None:
    project = project_with(tmp_path)
    if target_exists:
        touch(tmp_path / "target", "original-svc-1.0.jar")

    with pytest.raises(MavenError) as caught:
        find_artifact(project)

    assert str(tmp_path / "target" / "svc-1.0.jar") in caught.value.message
    assert str(tmp_path / "target" / "svc-1.0-*.jar") in caught.value.message


# --- Maven's report -------------------------------------------------------------------------


def test_the_report_lines_are_recognised(tmp_path: Path) -> None:
    jar = "/w/target/svc-1.0.jar"
    lines = {
        f"[INFO] Building jar: {jar}": Reported("svc", Path(jar), False),
        "[INFO] Building war: /w/target/svc-1.0.war": Reported("svc", Path("/w/target/svc-1.0.war"), False),
        f"[INFO] Replacing main artifact {jar} with repackaged archive, adding nested dependencies in BOOT-INF/.": Reported("svc", Path(jar), True),
        "[INFO] Attaching repackaged archive /w/target/svc-1.0-exec.jar with classifier exec": Reported("svc", Path("/w/target/svc-1.0-exec.jar"), True),
        f"[INFO] Replacing {jar} with /w/target/svc-1.0-shaded.jar": Reported("svc", Path(jar), True),
        "[INFO] Attaching shaded artifact.": Reported("svc", None, True),
    }
    for line, expected in lines.items():
        assert reported(line, "svc") == expected, line
    assembly = "[INFO] Building jar: /w/target/svc-1.0-jar-with-dependencies.jar"
    assert reported(assembly, "svc", "maven-assembly-plugin") == Reported("svc", Path("/w/target/svc-1.0-jar-with-dependencies.jar"), True)
    assert reported(assembly, "svc", "assembly") == reported(assembly, "svc", "maven-assembly-plugin")  # Maven 3.9's mojo line
    for other in ("[INFO] Building svc 1.0", "[INFO] Replacing original artifact with shaded artifact.", "[INFO] Building jar for nothing"):
        assert reported(other, "svc") is None


def report(project: Project, name: str, runnable: bool = False) -> Reported:
    return Reported(project.artifact_id, project.build_directory / name, runnable)


def test_a_spring_boot_exec_jar_beats_the_thin_main_jar(tmp_path: Path) -> None:
    project = project_with(tmp_path)
    touch(tmp_path / "target", "svc-1.0.jar", "svc-1.0-exec.jar")

    chosen = find_artifact(project, [report(project, "svc-1.0.jar"), report(project, "svc-1.0-exec.jar", runnable=True)])

    assert chosen == tmp_path / "target" / "svc-1.0-exec.jar"


def test_a_final_name_the_pom_does_not_say_is_taken_from_the_report(tmp_path: Path) -> None:
    project = project_with(tmp_path)  # finalName svc-1.0 by the pom; a profile made it app-container
    touch(tmp_path / "target", "app-container.jar")

    assert find_artifact(project, [report(project, "app-container.jar")]) == tmp_path / "target" / "app-container.jar"


def test_a_shaded_jar_attached_without_a_name_is_the_fresh_file(tmp_path: Path) -> None:
    project = project_with(tmp_path)
    touch(tmp_path / "target", "svc-1.0.jar", "svc-1.0-shaded.jar", "svc-1.0-sources.jar")

    chosen = find_artifact(project, [report(project, "svc-1.0.jar"), Reported("svc", None, True)], since=0.0)

    assert chosen == tmp_path / "target" / "svc-1.0-shaded.jar"


def test_two_packaged_files_stop_the_run_and_say_how_to_choose(tmp_path: Path) -> None:
    project = project_with(tmp_path)
    touch(tmp_path / "target", "svc-1.0.jar", "svc-1.0-jar-with-dependencies.jar")

    with pytest.raises(MavenError) as caught:
        find_artifact(project, [report(project, "svc-1.0.jar"), report(project, "svc-1.0-jar-with-dependencies.jar")])

    assert caught.value.message == "svc: Maven built 2 files that could go in the image: target/svc-1.0.jar, target/svc-1.0-jar-with-dependencies.jar"
    assert "--artifact 'target/svc-1.0-jar-with-dependencies.jar'" in caught.value.hint
    assert 'artifacts = { svc = "target/svc-1.0-jar-with-dependencies.jar" }' in caught.value.hint
    assert caught.value.exit_code == 4


def test_another_modules_files_are_not_this_ones(tmp_path: Path) -> None:
    (tmp_path / "svc").mkdir()
    project = project_with(tmp_path / "svc")
    touch(tmp_path / "svc" / "target", "svc-1.0.jar")
    other = Reported("lib", tmp_path / "lib" / "target" / "lib-1.0.jar", False)
    touch(tmp_path / "lib" / "target", "lib-1.0.jar")

    assert find_artifact(project, [other, report(project, "svc-1.0.jar")]) == tmp_path / "svc" / "target" / "svc-1.0.jar"


def test_an_artifact_pattern_overrides_the_report(tmp_path: Path) -> None:
    project = project_with(tmp_path)
    touch(tmp_path / "target", "svc-1.0.jar", "svc-1.0-jar-with-dependencies.jar")
    reports = [report(project, "svc-1.0.jar"), report(project, "svc-1.0-jar-with-dependencies.jar")]

    assert find_artifact(project, reports, choice="target/*-with-dependencies.jar") == tmp_path / "target" / "svc-1.0-jar-with-dependencies.jar"
    with pytest.raises(MavenError, match=r"the artifact pattern 'target/\*.jar' matches 2 files"):
        find_artifact(project, reports, choice="target/*.jar")
    with pytest.raises(MavenError, match=r"no file matches the artifact pattern 'build/\*.jar'.*target/svc-1.0.jar"):
        find_artifact(project, reports, choice="build/*.jar")
