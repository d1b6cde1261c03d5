"""Reading a RUN-less Dockerfile as ``docker build`` (BuildKit) reads it (autopack/image/steps.py)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pytest

from autopack.image.steps import DEFAULT_PATH, Copy, Invalid, Meta, Stage, Unsupported, Workdir, read

JRE = {"Env": ["PATH=/opt/java/bin:/usr/bin", "JAVA_HOME=/opt/java"], "Cmd": ["jshell"], "WorkingDir": "/", "Labels": {"vendor": "temurin"}}


class Bases:
    """A ``base_config`` that records what it was asked."""

    def __init__(self, configs: Mapping[str, Mapping[str, object]] | None = None) -> None:
        self.configs = configs or {}
        self.asked: list[tuple[str, str | None]] = []

    def __call__(self, name: str, platform: str | None) -> Mapping[str, object]:
        self.asked.append((name, platform))
        return self.configs.get(name, JRE)


def stages(tmp_path: Path, text: str, build_args: Mapping[str, str] | None = None, target: str | None = None, platform: str = "linux/amd64", bases: Bases | None = None) -> tuple[Stage, ...]:
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text(text)
    return read(dockerfile, build_args or {}, target, platform, bases or Bases())


def last(tmp_path: Path, text: str, **kwargs: object) -> Stage:
    return stages(tmp_path, text, **kwargs)[-1]  # type: ignore[arg-type]


def env(stage: Stage) -> dict[str, str]:
    return dict(str(e).partition("=")[::2] for e in stage.config["Env"])  # type: ignore[attr-defined]


# --- ARG scoping ------------------------------------------------------------------------


def test_a_stage_arg_is_visible_from_its_line_on_and_a_build_arg_overrides_its_default(tmp_path: Path) -> None:
    text = "FROM jre\nLABEL before=${V:-unset}\nARG V=default\nLABEL after=$V\n"
    assert last(tmp_path, text).config["Labels"] == {"after": "default", "before": "unset", "vendor": "temurin"}
    assert last(tmp_path, text, build_args={"V": "given"}).config["Labels"] == {"after": "given", "before": "unset", "vendor": "temurin"}


def test_a_build_arg_not_declared_is_not_visible(tmp_path: Path) -> None:
    assert last(tmp_path, "FROM jre\nUSER ${WHO:-nobody}\n", build_args={"WHO": "root"}).config["User"] == "nobody"


def test_an_arg_without_a_value_is_unset(tmp_path: Path) -> None:
    assert last(tmp_path, "FROM jre\nARG V\nLABEL a=${V-unset} b=${V:-empty}\n").config["Labels"] == {"a": "unset", "b": "empty", "vendor": "temurin"}


def test_a_global_arg_is_seen_by_from_only_unless_the_stage_declares_it_again(tmp_path: Path) -> None:
    bases = Bases()
    text = "ARG BASE=eclipse-temurin\nARG TAG=17\nFROM ${BASE}:${TAG}-jre AS run\nLABEL before=${TAG:-none}\nARG TAG\nLABEL after=$TAG\n"
    stage = last(tmp_path, text, bases=bases)
    assert stage.base == "eclipse-temurin:17-jre" and bases.asked == [("eclipse-temurin:17-jre", None)]
    assert stage.config["Labels"] == {"after": "17", "before": "none", "vendor": "temurin"}
    stage = last(tmp_path, text, build_args={"TAG": "21"})
    assert stage.base == "eclipse-temurin:21-jre" and stage.config["Labels"]["after"] == "21"  # type: ignore[index]


def test_a_global_arg_default_may_use_an_earlier_one_and_a_stage_default_wins_over_the_global(tmp_path: Path) -> None:
    text = "ARG V=17\nARG IMAGE=jre:$V\nFROM $IMAGE\nARG V=stage\nUSER $V\n"
    stage = last(tmp_path, text)
    assert stage.base == "jre:17" and stage.config["User"] == "stage"


def test_one_arg_line_may_declare_several_and_each_sees_the_ones_before(tmp_path: Path) -> None:
    assert last(tmp_path, "FROM jre\nARG A=1 B=$A\nUSER $A$B\n").config["User"] == "11"


def test_an_arg_is_not_in_the_image_env(tmp_path: Path) -> None:
    assert "V" not in env(last(tmp_path, "FROM jre\nARG V=1\n"))


def test_env_wins_over_an_earlier_arg_of_the_same_name(tmp_path: Path) -> None:
    stage = last(tmp_path, "FROM jre\nARG V=arg\nENV V=env\nUSER $V\n", build_args={"V": "given"})
    assert stage.config["User"] == "env" and env(stage)["V"] == "env"


def test_only_arg_may_come_before_the_first_from(tmp_path: Path) -> None:
    with pytest.raises(Invalid) as e:
        stages(tmp_path, "ARG A=1\nENV B=2\nFROM jre\n")
    assert e.value.line == 2


# --- ENV and substitution ---------------------------------------------------------------


def test_env_extends_the_base_images_env(tmp_path: Path) -> None:
    stage = last(tmp_path, "FROM jre\nENV PATH=$PATH:/app/bin APP_HOME=$JAVA_HOME/app\n")
    assert stage.config["Env"] == ["PATH=/opt/java/bin:/usr/bin:/app/bin", "JAVA_HOME=/opt/java", "APP_HOME=/opt/java/app"]


def test_one_env_line_substitutes_with_the_values_before_it(tmp_path: Path) -> None:
    assert env(last(tmp_path, "FROM jre\nENV A=old\nENV A=new B=$A\n"))["B"] == "old"


def test_the_old_env_form_takes_the_rest_of_the_line(tmp_path: Path) -> None:
    assert env(last(tmp_path, "FROM jre\nENV GREETING hello  big world\n"))["GREETING"] == "hello  big world"


def test_env_with_quotes_and_continuation_lines(tmp_path: Path) -> None:
    found = env(last(tmp_path, "FROM jre\nENV A=\"a b\" \\\n    B='$A' \\\n    # a comment inside\n\n    C=x\\ y\nUSER u\n"))
    assert (found["A"], found["B"], found["C"]) == ("a b", "$A", "x y")


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("${SET:-d}", "v"),
        ("${EMPTY:-d}", "d"),
        ("${UNSET:-d}", "d"),
        ("${EMPTY-d}", ""),
        ("${UNSET-d}", "d"),
        ("${SET:+w}", "w"),
        ("${EMPTY:+w}", ""),
        ("${EMPTY+w}", "w"),
        ("${UNSET+w}", ""),
        ("${SET:-$EMPTY}x", "vx"),
        ("${UNSET:-${SET}2}", "v2"),
        ("a$SET-b", "av-b"),
        ("$SETx", ""),
        ("${SET}x", "vx"),
        ("\\$SET", "$SET"),
        ("'$SET'", "$SET"),
        ('"$SET \\$SET"', "v $SET"),
        ("$", "$"),
        ("${FILE%.jar}", "app-1.0"),
        ("${FILE#*-}", "1.0.jar"),
        ("${DIR##*/}", "c"),
        ("${DIR%%/b*}", "/a"),
        ("${DIR//\\//:}", ":a:b:c"),
    ],
)
def test_substitution_is_dockers(tmp_path: Path, word: str, expected: str) -> None:
    text = f"FROM jre\nARG SET=v EMPTY= UNSET FILE=app-1.0.jar DIR=/a/b/c\nUSER {word}\n"
    assert last(tmp_path, text).config.get("User", "") == expected


def test_the_escape_directive_changes_the_escape_token(tmp_path: Path) -> None:
    stage = last(tmp_path, "# escape=`\nFROM jre\nARG V=v\nENV A=`$V B=$V C=C:\\dir `\n  D=d\n")
    found = env(stage)
    assert (found["A"], found["B"], found["C"], found["D"]) == ("$V", "v", "C:\\dir", "d")


def test_a_bad_substitution_is_invalid(tmp_path: Path) -> None:
    with pytest.raises(Invalid) as e:
        stages(tmp_path, "FROM jre\n\nUSER ${V\n")
    assert (e.value.instruction, e.value.line) == ("USER", 3)
    with pytest.raises(Invalid, match="is not allowed to be unset"):
        stages(tmp_path, "FROM jre\nUSER ${V?}\n")


def test_entrypoint_cmd_healthcheck_and_shell_are_not_substituted(tmp_path: Path) -> None:
    stage = last(tmp_path, 'FROM jre\nARG V=x\nENTRYPOINT ["run", "$V"]\nCMD echo $V\nHEALTHCHECK CMD test $V\nSHELL ["/bin/$V"]\n')
    assert stage.config["Entrypoint"] == ["run", "$V"] and stage.config["Cmd"] == ["/bin/sh", "-c", "echo $V"]
    assert stage.config["Healthcheck"] == {"Test": ["CMD-SHELL", "test $V"]} and stage.config["Shell"] == ["/bin/$V"]


# --- Unsupported --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "instruction", "why"),
    [
        ("RUN mvn package", "RUN", "needs a container to run in"),
        ("run echo hi", "RUN", "needs a container to run in"),
        ("ONBUILD COPY . /app", "ONBUILD", "ONBUILD"),
        ("FROBNICATE x", "FROBNICATE", "unknown instruction"),
        ("ADD https://example.com/a.tgz /a", "ADD", "a remote ADD"),
        ("ADD http://example.com/a.tgz /a", "ADD", "a remote ADD"),
        ("ADD git@github.com:o/r.git /r", "ADD", "a remote ADD"),
        ("ADD https://github.com/o/r.git#v1 /r", "ADD", "a remote ADD"),
        ("ADD ${U:-https://example.com/a} /a", "ADD", "a remote ADD"),
        ("ADD --checksum=sha256:00 a.tgz /a", "ADD", "--checksum"),
        ("ADD --keep-git-dir=true a /a", "ADD", "--keep-git-dir"),
        ("COPY --parents a/b /c/", "COPY", "--parents"),
        ("COPY --exclude=*.md . /c/", "COPY", "--exclude"),
        ("COPY --bogus a /c/", "COPY", "--bogus"),
        ("COPY <<EOF /c\nhello\nEOF", "COPY", "heredoc"),
    ],
)
def test_what_the_direct_builder_cannot_do_is_unsupported_with_its_line(tmp_path: Path, text: str, instruction: str, why: str) -> None:
    with pytest.raises(Unsupported) as e:
        stages(tmp_path, f"FROM jre\n# a comment\nCOPY a /a\n{text}\nCOPY b /b\n")
    assert e.value.instruction == instruction and why in e.value.why
    assert e.value.line == 4
    assert str(e.value).startswith(f"{instruction} (line {e.value.line}): ")


def test_a_base_image_with_onbuild_triggers_is_unsupported(tmp_path: Path) -> None:
    bases = Bases({"builder:1": {"Env": ["PATH=/bin"], "OnBuild": ["COPY . /src"]}})
    with pytest.raises(Unsupported) as e:
        stages(tmp_path, "FROM jre\n\nFROM builder:1 AS b\nCOPY a /a\n", bases=bases)
    assert (e.value.instruction, e.value.line, e.value.why) == ("FROM", 3, "the base image has ONBUILD triggers")
    assert last(tmp_path, "FROM builder:1\n", bases=Bases({"builder:1": {"OnBuild": []}})).base == "builder:1"


def test_an_unsupported_instruction_in_a_stage_not_needed_does_not_matter(tmp_path: Path) -> None:
    found = stages(tmp_path, "FROM maven AS build\nRUN mvn package\nFROM jre\nCOPY app.jar /app.jar\n")
    assert [s.base for s in found] == ["jre"]


def test_copy_link_is_accepted_and_chown_chmod_are_substituted(tmp_path: Path) -> None:
    step = last(tmp_path, "FROM jre\nARG UID=1000\nCOPY --link --chown=$UID:${GID:-0} --chmod=755 app.jar /app/\n").steps[-1]
    assert step == Copy(("app.jar",), "/app/", "/", None, "1000:0", "755", False, 3, "COPY --link --chown=$UID:${GID:-0} --chmod=755 app.jar /app/")


# --- stages -------------------------------------------------------------------------------


MULTI = """\
FROM maven:3 AS Build
WORKDIR /src
COPY pom.xml .
FROM build AS test
ENV TESTED=1
FROM busybox AS unused
FROM jre AS run
COPY --from=BUILD /src/target/app.jar /app/app.jar
COPY --from=0 /src/pom.xml /app/
COPY --from=some/image:tag /bin/tool /usr/bin/tool
COPY --from=some/image:tag /bin/other /usr/bin/other
"""


def test_copy_from_a_stage_its_index_or_an_image_which_becomes_a_stage_of_its_own(tmp_path: Path) -> None:
    bases = Bases()
    found = stages(tmp_path, MULTI, bases=bases)
    assert [(s.index, s.name, s.base, s.base_stage) for s in found] == [(0, "build", "maven:3", None), (1, None, "some/image:tag", None), (2, "run", "jre", None)]
    assert [s.from_stage for s in found[2].steps if isinstance(s, Copy)] == [0, 0, 1, 1]
    assert found[1].steps == () and found[1].config == {"Env": JRE["Env"], "Cmd": ["jshell"], "WorkingDir": "/", "Labels": {"vendor": "temurin"}}
    assert bases.asked == [("maven:3", None), ("some/image:tag", None), ("jre", None)]


def test_target_keeps_only_the_stages_it_needs_reindexed(tmp_path: Path) -> None:
    bases = Bases()
    found = stages(tmp_path, MULTI, target="TEST", bases=bases)
    assert [(s.index, s.name, s.base, s.base_stage) for s in found] == [(0, "build", "maven:3", None), (1, "test", "build", 0)]
    assert found[1].config["WorkingDir"] == "/src" and env(found[1])["TESTED"] == "1"
    assert bases.asked == [("maven:3", None)]
    assert [s.name for s in stages(tmp_path, MULTI, target="unused")] == ["unused"]


def test_an_unknown_target_is_a_value_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no stage named 'nope'"):
        stages(tmp_path, MULTI, target="nope")


def test_a_stage_starts_from_the_earlier_stages_config_and_variables(tmp_path: Path) -> None:
    text = 'FROM jre AS base\nARG V=1\nENV E=2\nLABEL l=base\nCMD ["run"]\nFROM base\nUSER $V$E\nENTRYPOINT ["x"]\n'
    stage = last(tmp_path, text)
    assert stage.base_stage == 0 and stage.config["User"] == "12" and stage.config["Labels"] == {"l": "base", "vendor": "temurin"}
    assert "Cmd" not in stage.config  # inherited from the earlier stage, so ENTRYPOINT clears it


def test_copy_from_a_variable_or_a_later_stage_is_invalid(tmp_path: Path) -> None:
    with pytest.raises(Invalid, match="variable expansion is not supported"):
        stages(tmp_path, "ARG S=build\nFROM jre AS build\nFROM jre\nCOPY --from=$S /a /a\n")
    with pytest.raises(Invalid, match="defined before"):
        stages(tmp_path, "FROM jre AS first\nCOPY --from=later /a /a\nFROM jre AS later\n", target="first")
    assert [s.name for s in stages(tmp_path, "FROM jre AS a\nCOPY --from=later /a /a\nFROM jre AS later\n")] == ["later"]
    with pytest.raises(Invalid, match="invalid stage index 5"):
        stages(tmp_path, "FROM jre\nFROM jre\nCOPY --from=5 /a /a\n")


def test_from_is_checked(tmp_path: Path) -> None:
    with pytest.raises(Invalid, match="one or three arguments"):
        stages(tmp_path, "FROM jre AS\n")
    with pytest.raises(Invalid, match="should not be blank"):
        stages(tmp_path, "ARG BASE\nFROM $BASE\n")
    with pytest.raises(Invalid, match="no FROM"):
        stages(tmp_path, "ARG A=1\n")


def test_scratch_is_not_asked_for_and_starts_with_the_default_path(tmp_path: Path) -> None:
    bases = Bases()
    stage = last(tmp_path, "FROM scratch\nCOPY app /app\n", bases=bases)
    assert bases.asked == [] and stage.config == {"Env": [f"PATH={DEFAULT_PATH}"], "WorkingDir": "/"}


def test_a_base_without_path_gets_the_default_and_unknown_keys_are_dropped(tmp_path: Path) -> None:
    bases = Bases({"odd": {"Hostname": "x", "Env": None, "Cmd": None, "User": ""}})
    assert last(tmp_path, "FROM odd\n", bases=bases).config == {"Env": [f"PATH={DEFAULT_PATH}"]}


def test_each_base_is_asked_for_once_with_the_from_platform(tmp_path: Path) -> None:
    bases = Bases()
    text = "ARG P=linux/arm64\nFROM --platform=$P jre AS a\nFROM --platform=$BUILDPLATFORM jre AS b\nFROM jre\nCOPY --from=a /a /a\nCOPY --from=b /b /b\nCOPY --from=jre /c /c\n"
    found = stages(tmp_path, text, bases=bases)
    assert [s.platform for s in found] == ["linux/arm64", "linux/amd64", None, None]
    assert bases.asked == [("jre", "linux/arm64"), ("jre", "linux/amd64"), ("jre", None)]


# --- config ---------------------------------------------------------------------------------


def test_entrypoint_clears_the_base_images_cmd_but_not_a_cmd_of_this_stage(tmp_path: Path) -> None:
    assert "Cmd" not in last(tmp_path, 'FROM jre\nENTRYPOINT ["java"]\n').config
    assert last(tmp_path, 'FROM jre\nCMD ["-version"]\nENTRYPOINT ["java"]\n').config["Cmd"] == ["-version"]
    assert last(tmp_path, 'FROM jre\nCMD ["-version"]\n').config["ArgsEscaped"] is True


def test_shell_form_uses_the_shell_in_force(tmp_path: Path) -> None:
    stage = last(tmp_path, 'FROM jre\nCMD java -jar  /app.jar\nSHELL ["/bin/bash", "-eo", "pipefail", "-c"]\nENTRYPOINT exec java\n')
    assert stage.config["Entrypoint"] == ["/bin/bash", "-eo", "pipefail", "-c", "exec java"]
    assert stage.config["Cmd"] == ["/bin/sh", "-c", "java -jar  /app.jar"]
    assert stage.config["Shell"] == ["/bin/bash", "-eo", "pipefail", "-c"]


def test_healthcheck_durations_are_nanoseconds_and_only_the_options_given(tmp_path: Path) -> None:
    stage = last(tmp_path, 'FROM jre\nHEALTHCHECK --interval=30s --timeout=1m30s --start-period=1.5s --start-interval=500ms --retries=3 CMD ["curl", "-f", "http://localhost/"]\n')
    assert stage.config["Healthcheck"] == {"Test": ["CMD", "curl", "-f", "http://localhost/"], "Interval": 30 * 10**9, "Timeout": 90 * 10**9, "StartPeriod": 1_500_000_000, "StartInterval": 500_000_000, "Retries": 3}
    assert last(tmp_path, "FROM jre\nHEALTHCHECK --timeout=1h CMD curl -f x || exit 1\n").config["Healthcheck"] == {"Test": ["CMD-SHELL", "curl -f x || exit 1"], "Timeout": 3600 * 10**9}
    assert last(tmp_path, "FROM jre\nHEALTHCHECK CMD true\nHEALTHCHECK NONE\n").config["Healthcheck"] == {"Test": ["NONE"]}


@pytest.mark.parametrize("flag", ["--interval=10", "--interval=1us", "--retries=-1", "--retries=x"])
def test_a_bad_healthcheck_option_is_invalid(tmp_path: Path, flag: str) -> None:
    with pytest.raises(Invalid):
        stages(tmp_path, f"FROM jre\nHEALTHCHECK {flag} CMD true\n")


def test_expose_and_volume(tmp_path: Path) -> None:
    stage = last(tmp_path, 'FROM jre\nARG PORTS="9000 9001/udp"\nEXPOSE 8080 53/udp\nEXPOSE $PORTS 7000-7001/TCP\nVOLUME /data ["/logs"]\nVOLUME ["/cache", "/tmp/x"]\n')
    assert list(stage.config["ExposedPorts"]) == ["53/udp", "7000/tcp", "7001/tcp", "8080/tcp", "9000/tcp", "9001/udp"]  # type: ignore[call-overload]
    assert stage.config["Volumes"] == {"/cache": {}, "/data": {}, "/tmp/x": {}, "[/logs]": {}}  # not JSON when mixed: the quotes are the lexer's
    with pytest.raises(Invalid):
        stages(tmp_path, "FROM jre\nEXPOSE 80/ftp\n")


def test_labels_merge_with_the_base_images(tmp_path: Path) -> None:
    stage = last(tmp_path, 'FROM jre\nARG V=1.0\nLABEL version=$V "a b"="c d"\nLABEL vendor=us\n')
    assert stage.config["Labels"] == {"a b": "c d", "vendor": "us", "version": "1.0"}


def test_workdir_resolves_against_the_one_before_and_copy_records_it(tmp_path: Path) -> None:
    stage = last(tmp_path, 'FROM jre\nWORKDIR app\nCOPY a.jar .\nWORKDIR ../srv/./x/\nARG D=deep\nWORKDIR $D\nWORKDIR "/my dir//y"\nCOPY ["a b", "/d/"]\n')
    assert [s.path for s in stage.steps if isinstance(s, Workdir)] == ["/app", "/srv/x", "/srv/x/deep", "/my dir/y"]
    copies = [s for s in stage.steps if isinstance(s, Copy)]
    assert [(c.sources, c.dest, c.workdir) for c in copies] == [(("a.jar",), ".", "/app"), (("a b",), "/d/", "/my dir/y")]
    assert stage.config["WorkingDir"] == "/my dir/y"
    assert last(tmp_path, "FROM scratch\nCOPY a b\n").steps[0].workdir == "/"  # type: ignore[union-attr]


def test_user_stopsignal_maintainer_and_the_config_key_order(tmp_path: Path) -> None:
    stage = last(tmp_path, 'FROM jre\nMAINTAINER Jo <jo@example.com>\nSTOPSIGNAL SIGINT\nUSER 1000:1000\nEXPOSE 8080\nENTRYPOINT ["java"]\n')
    assert list(stage.config) == ["User", "ExposedPorts", "Env", "Entrypoint", "WorkingDir", "Labels", "StopSignal"]
    assert stage.author == "Jo <jo@example.com>" and stage.config["StopSignal"] == "SIGINT"
    assert [type(s) for s in stage.steps] == [Meta] * 5 and stage.steps[0].line == 2


# --- platform ARGs ----------------------------------------------------------------------------


def test_platform_args_in_from_and_in_a_stage_once_declared(tmp_path: Path) -> None:
    text = "FROM jre:$TARGETARCH AS a\nLABEL before=${TARGETARCH:-none}\nARG TARGETARCH TARGETPLATFORM TARGETOS TARGETVARIANT BUILDARCH\nLABEL arch=$TARGETARCH platform=$TARGETPLATFORM os=$TARGETOS variant=$TARGETVARIANT build=$BUILDARCH\n"
    stage = last(tmp_path, text, platform="linux/arm/v7")
    assert stage.base == "jre:arm"
    assert stage.config["Labels"] == {"arch": "arm", "before": "none", "build": "arm", "os": "linux", "platform": "linux/arm/v7", "variant": "v7", "vendor": "temurin"}


def test_platforms_are_normalised_as_containerd_does(tmp_path: Path) -> None:
    text = "FROM jre\nARG TARGETPLATFORM TARGETVARIANT\nLABEL p=$TARGETPLATFORM v=${TARGETVARIANT:-none}\n"
    assert last(tmp_path, text, platform="linux/arm64/v8").config["Labels"]["p"] == "linux/arm64"  # type: ignore[index]
    assert last(tmp_path, text, platform="linux/aarch64").config["Labels"]["v"] == "none"  # type: ignore[index]


def test_a_build_arg_overrides_a_platform_arg(tmp_path: Path) -> None:
    assert last(tmp_path, "FROM jre:$TARGETOS\n", build_args={"TARGETOS": "windows"}).base == "jre:windows"


def test_a_dockerfile_of_any_name_is_read(tmp_path: Path) -> None:
    (tmp_path / "Containerfile").write_text("FROM scratch\nCOPY a /a\n")
    assert read(tmp_path / "Containerfile", {}, None, "linux/amd64", Bases())[0].steps[0].line == 2
