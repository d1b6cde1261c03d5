"""The pom model: real pom.xml files written into tmp_path and read with load_project."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from autopack.maven.pom import load_project
from autopack.errors import UsageError

NS = 'xmlns="http://maven.apache.org/POM/4.0.0" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"'


def write_pom(directory: Path, body: str, *, namespaced: bool = True) -> Path:
    """A pom.xml whose <project> element is on line 2 and holds ``body``."""
    directory.mkdir(parents=True, exist_ok=True)
    pom = directory / "pom.xml"
    attributes = f" {NS}" if namespaced else ""
    pom.write_text(
        f'<?xml version="1.0" encoding="UTF-8"?>\n<project{attributes}>\n  <modelVersion>4.0.0</modelVersion>\n{body}\n</project>\n',
        encoding="utf-8",
    )
    return pom


def parent_ref(artifact_id: str = "parent", group_id: str = "com.example", version: str = "2.0.0", relative_path: str | None = None) -> str:
    relative = "" if relative_path is None else f"<relativePath>{relative_path}</relativePath>"
    return f"<parent><groupId>{group_id}</groupId><artifactId>{artifact_id}</artifactId><version>{version}</version>{relative}</parent>"


PARENT_BODY = """
  <groupId>com.example</groupId>
  <artifactId>parent</artifactId>
  <version>2.0.0</version>
  <packaging>pom</packaging>
  <properties>
    <from.parent>yes</from.parent>
    <shared>parent-value</shared>
  </properties>
"""


# --- coordinates -------------------------------------------------------------------------


@pytest.mark.parametrize("namespaced", [True, False], ids=["namespaced", "no-namespace"])
def test_plain_coordinates(tmp_path: Path, namespaced: bool) -> None:
    pom = write_pom(
        tmp_path,
        "<groupId>com.example</groupId><artifactId>hello</artifactId><version>1.0.0</version>",
        namespaced=namespaced,
    )

    project = load_project(pom)

    assert (project.group_id, project.artifact_id, project.version) == ("com.example", "hello", "1.0.0")
    assert project.coordinates == "com.example:hello:1.0.0"
    assert project.pom == pom
    assert project.directory == tmp_path


def test_a_directory_is_read_through_its_pom(tmp_path: Path) -> None:
    write_pom(tmp_path, "<groupId>g</groupId><artifactId>a</artifactId><version>1</version>")

    assert load_project(tmp_path).pom == tmp_path / "pom.xml"


def test_packaging_defaults_to_jar_and_is_read_when_given(tmp_path: Path) -> None:
    default = load_project(write_pom(tmp_path / "a", "<groupId>g</groupId><artifactId>a</artifactId><version>1</version>"))
    war = load_project(write_pom(tmp_path / "w", "<groupId>g</groupId><artifactId>w</artifactId><version>1</version><packaging>war</packaging>"))

    assert default.packaging == "jar"
    assert war.packaging == "war"


def test_modules_are_listed_in_order(tmp_path: Path) -> None:
    pom = write_pom(
        tmp_path,
        "<groupId>g</groupId><artifactId>root</artifactId><version>1</version><packaging>pom</packaging>"
        "<modules><module>lib</module><module>service</module><module> web </module></modules>",
    )

    assert load_project(pom).modules == ("lib", "service", "web")


# --- parents -----------------------------------------------------------------------------


def test_group_and_version_come_from_a_parent_at_the_default_relative_path(tmp_path: Path) -> None:
    write_pom(tmp_path, PARENT_BODY)
    child = write_pom(tmp_path / "service", parent_ref() + "<artifactId>service</artifactId>")

    project = load_project(child)

    assert project.coordinates == "com.example:service:2.0.0"
    assert project.properties["from.parent"] == "yes"  # proves ../pom.xml was read


@pytest.mark.parametrize("relative_path", ["../build/parent/pom.xml", "../build/parent"], ids=["file", "directory"])
def test_a_parent_at_an_explicit_relative_path(tmp_path: Path, relative_path: str) -> None:
    write_pom(tmp_path / "build" / "parent", PARENT_BODY)
    write_pom(tmp_path, PARENT_BODY.replace("yes", "wrong-parent"))  # at ../pom.xml, must not be used
    child = write_pom(tmp_path / "service", parent_ref(relative_path=relative_path) + "<artifactId>service</artifactId>")

    project = load_project(child)

    assert project.coordinates == "com.example:service:2.0.0"
    assert project.properties["from.parent"] == "yes"


def test_a_parent_not_on_disk_gives_its_coordinates_only(tmp_path: Path) -> None:
    child = write_pom(
        tmp_path / "service",
        parent_ref("spring-boot-starter-parent", "org.springframework.boot", "3.2.5") + "<artifactId>service</artifactId>",
    )

    project = load_project(child)

    assert project.coordinates == "org.springframework.boot:service:3.2.5"
    assert project.properties == {}


def test_an_empty_relative_path_means_the_repository_not_the_parent_directory(tmp_path: Path) -> None:
    write_pom(tmp_path, PARENT_BODY)
    child = write_pom(tmp_path / "service", parent_ref(relative_path="") + "<artifactId>service</artifactId>")

    project = load_project(child)

    assert project.version == "2.0.0"
    assert "from.parent" not in project.properties


def test_a_file_at_relative_path_with_another_artifact_id_is_not_the_parent(tmp_path: Path) -> None:
    write_pom(tmp_path, PARENT_BODY.replace("<artifactId>parent</artifactId>", "<artifactId>aggregator</artifactId>"))
    child = write_pom(tmp_path / "service", parent_ref() + "<artifactId>service</artifactId>")

    project = load_project(child)

    assert project.coordinates == "com.example:service:2.0.0"
    assert "from.parent" not in project.properties
    assert "shared" not in project.properties


def test_properties_are_inherited_and_the_child_overrides_them(tmp_path: Path) -> None:
    write_pom(tmp_path, PARENT_BODY.replace("</properties>", "<greeting>hello-${shared}</greeting></properties>"))
    child = write_pom(
        tmp_path / "service",
        parent_ref() + "<artifactId>service</artifactId><properties><shared>child-value</shared></properties>",
    )

    project = load_project(child)

    assert project.properties["from.parent"] == "yes"
    assert project.properties["shared"] == "child-value"
    # Like Maven, a parent's property is interpolated in the child's scope.
    assert project.properties["greeting"] == "hello-child-value"


def test_properties_come_from_a_grandparent_too(tmp_path: Path) -> None:
    write_pom(tmp_path, PARENT_BODY.replace("<artifactId>parent</artifactId>", "<artifactId>root</artifactId>"))
    write_pom(tmp_path / "platform", parent_ref("root") + "<artifactId>parent</artifactId><properties><level>2</level></properties>")
    child = write_pom(tmp_path / "platform" / "service", parent_ref() + "<artifactId>service</artifactId>")

    project = load_project(child)

    assert project.properties["from.parent"] == "yes"
    assert project.properties["level"] == "2"


def test_a_parent_cycle_is_a_usage_error(tmp_path: Path) -> None:
    # Maven refuses this ("The parents form a cycle"); autopack must not recurse forever.
    write_pom(tmp_path / "a", parent_ref("b", relative_path="../b") + "<artifactId>a</artifactId>")
    write_pom(tmp_path / "b", parent_ref("a", relative_path="../a") + "<artifactId>b</artifactId>")
    child = write_pom(tmp_path / "service", parent_ref("a", relative_path="../a") + "<artifactId>service</artifactId>")

    with pytest.raises(UsageError):
        load_project(child)


# --- CI-friendly versions ----------------------------------------------------------------

CI_FRIENDLY = """
  <groupId>com.example</groupId>
  <artifactId>app</artifactId>
  <version>${revision}${changelist}</version>
  <properties>
    <revision>1.2.0</revision>
    <changelist>-SNAPSHOT</changelist>
    <banner>app ${revision}</banner>
  </properties>
"""


def test_ci_friendly_version_from_properties(tmp_path: Path) -> None:
    project = load_project(write_pom(tmp_path, CI_FRIENDLY))

    assert project.version == "1.2.0-SNAPSHOT"
    assert project.final_name == "app-1.2.0-SNAPSHOT"


def test_defines_override_ci_friendly_properties(tmp_path: Path) -> None:
    project = load_project(write_pom(tmp_path, CI_FRIENDLY), {"revision": "2.0.0", "changelist": ""})

    assert project.version == "2.0.0"
    assert project.final_name == "app-2.0.0"
    # A define also wins inside other properties, as -D does in Maven's interpolation.
    assert project.properties["banner"] == "app 2.0.0"


def test_ci_friendly_version_in_a_multi_module_child(tmp_path: Path) -> None:
    write_pom(
        tmp_path,
        "<groupId>com.example</groupId><artifactId>parent</artifactId><version>${revision}</version>"
        "<packaging>pom</packaging><properties><revision>1.0.0-SNAPSHOT</revision></properties>",
    )
    child = write_pom(tmp_path / "service", parent_ref(version="${revision}") + "<artifactId>service</artifactId>")

    assert load_project(child).version == "1.0.0-SNAPSHOT"
    assert load_project(child, {"revision": "1.4.0"}).version == "1.4.0"


def test_an_undefined_revision_names_the_file_a_line_and_the_property(tmp_path: Path) -> None:
    pom = write_pom(tmp_path, "<groupId>g</groupId><artifactId>app</artifactId>\n<version>${revision}</version>")

    with pytest.raises(UsageError) as caught:
        load_project(pom)

    message = caught.value.message
    match = re.match(rf"^{re.escape(str(pom))}:(\d+): ", message)
    assert match, message
    assert 1 <= int(match[1]) <= len(pom.read_text().splitlines())
    assert "${revision}" in message
    assert "revision" in caught.value.hint


# --- finalName and build directory -------------------------------------------------------


def test_final_name_defaults_to_artifact_id_and_version(tmp_path: Path) -> None:
    project = load_project(write_pom(tmp_path, "<groupId>g</groupId><artifactId>hello</artifactId><version>1.0.0</version>"))

    assert project.final_name == "hello-1.0.0"
    assert project.build_directory == tmp_path / "target"


def test_a_custom_final_name_with_properties(tmp_path: Path) -> None:
    pom = write_pom(
        tmp_path,
        "<groupId>g</groupId><artifactId>hello</artifactId><version>1.0.0</version>"
        "<properties><flavour>slim</flavour></properties>"
        "<build><finalName>${project.artifactId}-${flavour}-${project.version}</finalName></build>",
    )

    assert load_project(pom).final_name == "hello-slim-1.0.0"


def test_final_name_is_inherited_and_resolved_for_the_child(tmp_path: Path) -> None:
    write_pom(tmp_path, PARENT_BODY + "<build><finalName>${project.artifactId}</finalName></build>")
    child = write_pom(tmp_path / "service", parent_ref() + "<artifactId>service</artifactId>")

    assert load_project(child).final_name == "service"


@pytest.mark.parametrize(
    ("directory", "expected"),
    [("${project.basedir}/out", "out"), ("build/classes-out", "build/classes-out")],
    ids=["basedir-property", "relative"],
)
def test_a_custom_build_directory(tmp_path: Path, directory: str, expected: str) -> None:
    pom = write_pom(tmp_path, f"<groupId>g</groupId><artifactId>a</artifactId><version>1</version><build><directory>{directory}</directory></build>")

    assert load_project(pom).build_directory == tmp_path / expected


# --- errors ------------------------------------------------------------------------------


def test_a_missing_pom_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no pom.xml at"):
        load_project(tmp_path)


def test_a_pom_that_is_not_well_formed_names_file_line_and_column(tmp_path: Path) -> None:
    pom = tmp_path / "pom.xml"
    pom.write_text('<?xml version="1.0"?>\n<project>\n  <artifactId>a</artifactId>\n  <name>x</nmae>\n</project>\n')

    with pytest.raises(UsageError) as caught:
        load_project(pom)

    assert re.match(rf"^{re.escape(str(pom))}:4:\d+: ", caught.value.message), caught.value.message
    assert "not well-formed" in caught.value.message


def test_a_missing_artifact_id_names_the_file(tmp_path: Path) -> None:
    pom = write_pom(tmp_path, "<groupId>g</groupId><version>1</version>")

    with pytest.raises(UsageError) as caught:
        load_project(pom)

    assert str(pom) in caught.value.message
    assert "<artifactId>" in caught.value.message


def test_the_root_element_must_be_project(tmp_path: Path) -> None:
    pom = tmp_path / "pom.xml"
    pom.write_text('<?xml version="1.0"?>\n<settings><artifactId>a</artifactId></settings>\n')

    with pytest.raises(UsageError, match=r"root element is <settings>, not <project>"):
        load_project(pom)


BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE project [
  <!ENTITY lol "lol">
  <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
  <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
  <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
  <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
  <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
  <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
  <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
  <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<project><groupId>g</groupId><artifactId>&lol9;</artifactId><version>1</version></project>
"""

EXTERNAL_ENTITY = """<?xml version="1.0"?>
<!DOCTYPE project [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<project><groupId>g</groupId><artifactId>&secret;</artifactId><version>1</version></project>
"""


@pytest.mark.parametrize("text", [BILLION_LAUGHS, EXTERNAL_ENTITY], ids=["billion-laughs", "external-entity"])
def test_entity_declarations_are_refused(tmp_path: Path, text: str) -> None:
    pom = tmp_path / "pom.xml"
    pom.write_text(text)

    with pytest.raises(UsageError) as caught:
        load_project(pom)

    assert "unsafe XML" in caught.value.message
    assert str(pom) in caught.value.message


# --- name, dependencies, parent ----------------------------------------------------------


def test_name_is_read_resolved_and_defaults_to_the_artifact_id(tmp_path: Path) -> None:
    named = write_pom(tmp_path / "n", "<groupId>g</groupId><artifactId>svc</artifactId><version>1</version><name>The ${project.artifactId}</name>")
    plain = write_pom(tmp_path / "p", "<groupId>g</groupId><artifactId>svc</artifactId><version>1</version>")

    assert load_project(named).name == "The svc"
    assert load_project(plain).name == "svc"


def test_name_is_not_inherited(tmp_path: Path) -> None:
    # As Maven's reactor summary shows: a child without <name> is listed by its artifactId.
    write_pom(tmp_path, PARENT_BODY + "<name>Parent Name</name>")
    child = write_pom(tmp_path / "service", parent_ref() + "<artifactId>service</artifactId>")

    assert load_project(child).name == "service"


def test_dependencies_are_resolved_and_include_the_parents(tmp_path: Path) -> None:
    write_pom(
        tmp_path,
        PARENT_BODY
        + "<dependencyManagement><dependencies><dependency><groupId>managed</groupId><artifactId>only</artifactId>"
        "<version>1</version></dependency></dependencies></dependencyManagement>"
        "<dependencies><dependency><groupId>${project.groupId}</groupId><artifactId>${project.artifactId}-logging</artifactId>"
        "</dependency></dependencies>",
    )
    child = write_pom(
        tmp_path / "service",
        parent_ref()
        + "<artifactId>service</artifactId><properties><json>jackson-databind</json></properties><dependencies>"
        "<dependency><groupId>${project.groupId}</groupId><artifactId>lib</artifactId><version>${project.version}</version></dependency>"
        "<dependency><groupId>com.fasterxml.jackson.core</groupId><artifactId>${json}</artifactId></dependency>"
        "<dependency><groupId>org.junit.jupiter</groupId><artifactId>junit-jupiter</artifactId><scope>test</scope></dependency>"
        "</dependencies>",
    )

    project = load_project(child)

    assert project.dependencies == (
        ("com.example", "lib"),
        ("com.fasterxml.jackson.core", "jackson-databind"),
        ("org.junit.jupiter", "junit-jupiter"),
        ("com.example", "service-logging"),  # inherited, interpolated in the child's scope as Maven does
    )
    assert project.parent == ("com.example", "parent")
    assert load_project(tmp_path).parent is None


# --- profiles ----------------------------------------------------------------------------

PROFILE_ROOT = """
  <groupId>g</groupId><artifactId>root</artifactId><version>1</version><packaging>pom</packaging>
  <modules><module>lib</module></modules>
  <properties><flavour>plain</flavour></properties>
  <profiles>
    <profile>
      <id>extras</id>
      <modules><module>extra</module><module>lib</module></modules>
      <properties><flavour>extra</flavour></properties>
      <dependencies><dependency><groupId>g</groupId><artifactId>from-profile</artifactId></dependency></dependencies>
    </profile>
    <profile>
      <id>defaults</id>
      <activation><activeByDefault>true</activeByDefault></activation>
      <modules><module>default-on</module></modules>
    </profile>
    <profile>
      <id>ci</id>
      <activation><property><name>env</name><value>ci</value></property></activation>
      <modules><module>ci-only</module></modules>
    </profile>
    <profile>
      <id>new-jdk</id>
      <activation><jdk>[17,)</jdk></activation>
      <modules><module>jdk-only</module></modules>
    </profile>
  </profiles>
"""


@pytest.mark.parametrize(
    ("profiles", "defines", "modules"),
    [
        ((), {}, ("lib", "default-on")),
        (("extras",), {}, ("lib", "extra")),
        (("extras", "defaults"), {}, ("lib", "extra", "default-on")),
        (("-defaults",), {}, ("lib",)),
        ((), {"env": "ci"}, ("lib", "ci-only")),
        ((), {"env": "dev"}, ("lib", "default-on")),
        (("new-jdk",), {}, ("lib", "jdk-only")),
    ],
    ids=["active-by-default", "by-P", "both", "deactivated", "by-property", "property-other-value", "jdk-only-when-named"],
)
def test_modules_of_active_profiles_follow_the_poms_own(
    tmp_path: Path, profiles: tuple[str, ...], defines: dict[str, str], modules: tuple[str, ...]
) -> None:
    assert load_project(write_pom(tmp_path, PROFILE_ROOT), defines, profiles).modules == modules


def test_the_default_behaviour_is_unchanged_without_profiles(tmp_path: Path) -> None:
    pom = write_pom(tmp_path, "<groupId>g</groupId><artifactId>a</artifactId><version>1</version><modules><module>m</module></modules>")

    assert load_project(pom).modules == load_project(pom, None, ()).modules == ("m",)


def test_an_active_profile_adds_properties_and_dependencies_also_to_children(tmp_path: Path) -> None:
    write_pom(tmp_path, PROFILE_ROOT)
    child = write_pom(tmp_path / "lib", parent_ref("root", "g", "1") + "<artifactId>lib</artifactId><name>lib-${flavour}</name>")

    plain = load_project(child)
    extra = load_project(child, profiles=["extras"])

    assert (plain.properties["flavour"], plain.name, plain.dependencies) == ("plain", "lib-plain", ())
    assert (extra.properties["flavour"], extra.name, extra.dependencies) == ("extra", "lib-extra", (("g", "from-profile"),))
