"""The reactor model: the fixtures and small pom trees in tmp_path, read with load_reactor;
the build order is checked against Maven's own."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from autopack.maven.reactor import Reactor, load_reactor
from autopack.errors import UsageError
from tests.maven.test_pom import parent_ref, write_pom
from tests.conftest import FIXTURES

MULTI = FIXTURES / "multi-module"
BROKEN = FIXTURES / "broken" / "multi-module-compile-error"


def paths(modules) -> list[str]:
    return [m.path for m in modules]


def pom_module(directory: Path, artifact_id: str, extra: str = "", parent: str | None = None, packaging: str = "jar") -> Path:
    """A pom at ``directory`` with groupId g, version 1; ``parent`` is a <parent> element."""
    coordinates = f"<groupId>g</groupId><artifactId>{artifact_id}</artifactId><version>1</version>"
    return write_pom(directory, (parent or "") + coordinates + f"<packaging>{packaging}</packaging>" + extra)


def modules(*names: str) -> str:
    return "<modules>" + "".join(f"<module>{n}</module>" for n in names) + "</modules>"


def depends(*artifact_ids: str, type_: str = "jar") -> str:
    deps = "".join(
        f"<dependency><groupId>g</groupId><artifactId>{a}</artifactId><version>1</version><type>{type_}</type></dependency>" for a in artifact_ids
    )
    return f"<dependencies>{deps}</dependencies>"


def g_parent(artifact_id: str = "root", relative_path: str | None = None) -> str:
    return parent_ref(artifact_id, "g", "1", relative_path)


# --- the multi-module fixture ------------------------------------------------------------


@pytest.fixture(scope="module")
def multi() -> Reactor:
    return load_reactor(MULTI)


def test_the_fixture_module_tree(multi: Reactor) -> None:
    assert [(m.path, m.artifact_id) for m in multi.modules] == [
        (".", "multi-parent"),
        ("lib", "lib"),
        ("greeter", "greeter"),
        ("echo", "echo"),
        ("services", "services"),
        ("services/clock", "clock"),
    ]
    assert multi.root is multi.modules[0]
    assert multi.root.directory == MULTI
    assert {m.project.version for m in multi.modules} == {"2.1.0"}  # ${revision}, two levels down too
    assert {m.project.group_id for m in multi.modules} == {"com.example.multi"}
    by_id = {m.artifact_id: m for m in multi.modules}
    assert by_id["greeter"].depends_on == ("lib", "multi-parent")
    assert by_id["clock"].depends_on == ("services",)
    assert by_id["lib"].depends_on == ("multi-parent",)
    assert by_id["echo"].depends_on == ("multi-parent",)
    assert [m.artifact_id for m in multi.modules if m.has_dockerfile] == ["greeter", "echo", "clock"]
    assert by_id["clock"].directory == MULTI / "services" / "clock"
    assert by_id["clock"].project.final_name == "clock-2.1.0"


def test_a_define_sets_the_version_of_every_module() -> None:
    reactor = load_reactor(MULTI, {"revision": "3.0.0-rc1"})

    assert {m.project.version for m in reactor.modules} == {"3.0.0-rc1"}


def test_targets_are_the_services_in_build_order(multi: Reactor) -> None:
    assert [m.artifact_id for m in multi.targets()] == ["greeter", "echo", "clock"]
    assert [m.artifact_id for m in load_reactor(BROKEN).targets()] == ["greeter", "clock"]


@pytest.mark.parametrize(
    "name", ["clock", "services/clock", "./services/clock/", "services/clock/", "com.example.multi:clock", ":clock"]
)
def test_select_by_artifact_id_path_or_coordinates(multi: Reactor, name: str) -> None:
    assert paths(multi.select([name])) == ["services/clock"]


def test_select_returns_build_order_once_each_and_everything_for_no_names(multi: Reactor) -> None:
    assert paths(multi.select(["clock", "greeter", "services/clock"])) == ["greeter", "services/clock"]
    assert multi.select([]) == multi.targets()


def test_upstream_is_what_also_make_adds(multi: Reactor) -> None:
    clock, greeter = multi.select(["clock"])[0], multi.select(["greeter"])[0]

    # Maven's `-pl services/clock -am` builds multi-parent, services, clock: parents count.
    assert paths(multi.upstream([clock])) == [".", "services"]
    assert paths(multi.upstream([greeter])) == [".", "lib"]
    assert paths(multi.upstream([clock, greeter])) == [".", "lib", "services"]


def test_an_unknown_module_is_named_and_the_targets_listed(multi: Reactor) -> None:
    with pytest.raises(UsageError) as caught:
        multi.select(["greeter", "billing"])

    assert "billing" in caught.value.message
    assert "greeter (greeter)" in caught.value.hint and "clock (services/clock)" in caught.value.hint


@pytest.mark.parametrize(("name", "says"), [("lib", "is a library"), ("services", "packaging pom"), (".", "packaging pom")])
def test_selecting_a_module_that_is_no_image_target(multi: Reactor, name: str, says: str) -> None:
    with pytest.raises(UsageError, match=re.escape(says)) as caught:
        multi.select([name])

    assert f"--module {name}" in caught.value.message
    assert "greeter" in caught.value.hint


# Trees whose build order surprises; test_build_order_is_mavens shows Maven agrees.
TRICKY_ORDERS = {
    "aggregator-not-parent": [".", "agg/b", "agg", "a"],
    "dependency-before-parent": ["z", ".", "y", "x"],
    "nested": [".", "platform", "platform/util", "platform/core", "apps", "apps/web"],
    "relative-path-parent": ["build/parent", "services/orders", "."],  # the root aggregates only: last
}


# Runs the real Maven (offline, `validate` needs no plugins): a few seconds per tree.
@pytest.mark.parametrize("tree", ["multi-module", "multi-module-compile-error", *TRICKY_ORDERS])
def test_build_order_is_mavens(tmp_path: Path, tree: str) -> None:
    root = _order_tree(tmp_path, tree)

    completed = subprocess.run(
        ["mvn", "-o", "-B", "-Dstyle.color=never", "validate"], cwd=root, capture_output=True, text=True, timeout=300
    )

    assert completed.returncode == 0, completed.stdout[-3000:]
    assert [m.project.name for m in load_reactor(root).modules] == _maven_build_order(completed.stdout)


def _order_tree(tmp_path: Path, tree: str) -> Path:
    if tree in ("multi-module", "multi-module-compile-error"):
        source = MULTI if tree == "multi-module" else BROKEN
        return Path(shutil.copytree(source, tmp_path / tree, ignore=shutil.ignore_patterns("target")))
    _write_order_tree(tmp_path, tree)
    return tmp_path


def _write_order_tree(root: Path, tree: str) -> None:
    if tree == "aggregator-not-parent":
        # agg only aggregates b (b's parent is root): Maven builds agg *after* b.
        pom_module(root, "root", modules("agg", "a"), packaging="pom")
        pom_module(root / "agg", "agg", modules("b"), g_parent(), packaging="pom")
        pom_module(root / "agg" / "b", "b", "", g_parent(relative_path="../.."), packaging="pom")
        pom_module(root / "a", "a", "", g_parent(), packaging="pom")
    elif tree == "dependency-before-parent":
        # x's dependencies are followed before its parent, in declaration order: z has no
        # parent, so it comes even before the root.
        pom_module(root, "root", modules("x", "y", "z"), packaging="pom")
        pom_module(root / "x", "x", depends("z", "y", type_="pom"), g_parent(), packaging="pom")
        pom_module(root / "y", "y", "", g_parent(), packaging="pom")
        pom_module(root / "z", "z", "", packaging="pom")
    elif tree == "nested":
        pom_module(root, "root", modules("apps", "platform"), packaging="pom")
        pom_module(root / "apps", "apps", modules("web"), g_parent(), packaging="pom")
        pom_module(root / "apps" / "web", "web", depends("core"), g_parent("apps"))
        (root / "apps" / "web" / "Dockerfile").write_text("FROM scratch\n")
        pom_module(root / "platform", "platform", modules("core", "util"), g_parent(), packaging="pom")
        pom_module(root / "platform" / "core", "core", depends("util"), g_parent("platform"))
        pom_module(root / "platform" / "util", "util", "", g_parent("platform"))
    else:
        # The root only aggregates; the services' parent is elsewhere (and holds ${revision}).
        write_pom(root, "<groupId>g</groupId><artifactId>root</artifactId><version>1</version><packaging>pom</packaging>" + modules("services/orders", "build/parent"))
        write_pom(
            root / "build" / "parent",
            "<groupId>g</groupId><artifactId>corp-parent</artifactId><version>${revision}</version><packaging>pom</packaging>"
            "<properties><revision>4.2.0</revision></properties>",
        )
        write_pom(
            root / "services" / "orders",
            parent_ref("corp-parent", "g", "${revision}", "../../build/parent") + "<artifactId>orders</artifactId><packaging>pom</packaging>",
        )
        (root / "services" / "orders" / "Dockerfile").write_text("FROM scratch\n")


def _maven_build_order(stdout: str) -> list[str]:
    """The names under "Reactor Build Order:", e.g. `[INFO] Greeter service      [jar]`."""
    section = stdout.split("Reactor Build Order:", 1)[1].split("\n[INFO] \n", 2)[1]
    return [re.sub(r"^\[INFO\] (.*?)\s+\[\w+\]$", r"\1", line) for line in section.splitlines()]


@pytest.mark.parametrize(("tree", "order"), TRICKY_ORDERS.items())
def test_build_order_of_tricky_trees(tmp_path: Path, tree: str, order: list[str]) -> None:
    _write_order_tree(tmp_path, tree)

    assert paths(load_reactor(tmp_path).modules) == order


# --- trees in tmp_path -------------------------------------------------------------------


def test_a_project_without_modules_is_a_reactor_of_one() -> None:
    reactor = load_reactor(FIXTURES / "hello-service")

    assert paths(reactor.modules) == ["."]
    assert reactor.root.depends_on == ()
    assert [m.artifact_id for m in reactor.targets()] == ["hello-service"]
    assert paths(reactor.select(["hello-service"])) == ["."]
    assert reactor.upstream(reactor.targets()) == []


def test_nested_modules_and_what_a_module_needs(tmp_path: Path) -> None:
    _write_order_tree(tmp_path, "nested")

    reactor = load_reactor(tmp_path / "pom.xml")
    web = reactor.select(["web"])

    assert paths(reactor.targets()) == paths(web) == ["apps/web"]
    assert web[0].depends_on == ("core", "apps")
    assert paths(reactor.upstream(web)) == [".", "platform", "platform/util", "platform/core", "apps"]


def test_a_parent_at_a_relative_path_outside_the_default_place(tmp_path: Path) -> None:
    _write_order_tree(tmp_path, "relative-path-parent")

    reactor = load_reactor(tmp_path)
    orders = next(m for m in reactor.modules if m.artifact_id == "orders")

    assert orders.project.version == "4.2.0"
    assert orders.project.properties["revision"] == "4.2.0"
    assert orders.depends_on == ("corp-parent",)
    assert paths(reactor.upstream([orders])) == ["build/parent"]


def test_a_module_may_name_its_pom_file(tmp_path: Path) -> None:
    pom_module(tmp_path, "root", modules("alt/pom-alt.xml"), packaging="pom")
    pom_module(tmp_path / "alt", "alt", "", g_parent(relative_path="..")).rename(tmp_path / "alt" / "pom-alt.xml")

    reactor = load_reactor(tmp_path)

    assert [(m.path, m.artifact_id) for m in reactor.modules] == [(".", "root"), ("alt", "alt")]


PROFILES = """
<profiles>
  <profile><id>extras</id><modules><module>extra</module></modules></profile>
  <profile><id>defaults</id><activation><activeByDefault>true</activeByDefault></activation>
    <modules><module>default-on</module></modules></profile>
  <profile><id>by-property</id><activation><property><name>with.tools</name></property></activation>
    <modules><module>tools</module></modules></profile>
</profiles>
"""


@pytest.mark.parametrize(
    ("profiles", "defines", "expected"),
    [
        ((), {}, ["lib", "default-on"]),
        (("extras",), {}, ["lib", "extra"]),  # another active profile turns the default one off
        (("extras,defaults",), {}, ["lib", "extra", "default-on"]),
        (("!defaults",), {}, ["lib"]),
        ((), {"with.tools": "1"}, ["lib", "tools"]),
    ],
    ids=["active-by-default", "by-P", "comma-list", "deactivated", "by-property"],
)
def test_modules_of_active_profiles(tmp_path: Path, profiles: tuple[str, ...], defines: dict[str, str], expected: list[str]) -> None:
    pom_module(tmp_path, "root", modules("lib") + PROFILES, packaging="pom")
    for name in ("lib", "extra", "default-on", "tools"):
        pom_module(tmp_path / name, name, "", g_parent())

    reactor = load_reactor(tmp_path, defines, profiles)

    assert paths(reactor.modules) == [".", *expected]


# Runs the real Maven: its reactor with profiles chosen by -P and -D is ours.
def test_profile_modules_are_mavens(tmp_path: Path) -> None:
    pom_module(tmp_path, "root", modules("lib") + PROFILES, packaging="pom")
    for name in ("lib", "extra", "default-on", "tools"):
        pom_module(tmp_path / name, name, "", g_parent())

    completed = subprocess.run(
        ["mvn", "-o", "-B", "-Dstyle.color=never", "-Pextras,defaults", "-Dwith.tools=1", "validate"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )

    assert completed.returncode == 0, completed.stdout[-3000:]
    reactor = load_reactor(tmp_path, {"with.tools": "1"}, ["extras,defaults"])
    assert [m.project.name for m in reactor.modules] == _maven_build_order(completed.stdout) == ["root", "lib", "extra", "default-on", "tools"]


# --- errors ------------------------------------------------------------------------------


def test_a_missing_module_directory_names_the_pom_and_the_module(tmp_path: Path) -> None:
    pom = pom_module(tmp_path, "root", modules("lib", "gone"), packaging="pom")
    pom_module(tmp_path / "lib", "lib", "", g_parent())

    with pytest.raises(UsageError) as caught:
        load_reactor(tmp_path)

    assert str(pom) in caught.value.message
    assert "<module>gone</module>" in caught.value.message


@pytest.mark.parametrize("second", ["lib", "./lib/", "other/../lib"])
def test_a_module_listed_twice(tmp_path: Path, second: str) -> None:
    (tmp_path / "other").mkdir()
    pom = pom_module(tmp_path, "root", modules("lib", second), packaging="pom")
    pom_module(tmp_path / "lib", "lib", "", g_parent())

    with pytest.raises(UsageError, match="already in the reactor") as caught:
        load_reactor(tmp_path)

    assert str(pom) in caught.value.message
    assert f"<module>{second}</module>" in caught.value.message


def test_a_module_listing_its_aggregator_is_listed_twice(tmp_path: Path) -> None:
    pom_module(tmp_path, "root", modules("lib"), packaging="pom")
    pom_module(tmp_path / "lib", "lib", modules(".."), g_parent(), packaging="pom")

    with pytest.raises(UsageError, match="already in the reactor"):
        load_reactor(tmp_path)


def test_two_modules_with_the_same_coordinates(tmp_path: Path) -> None:
    pom_module(tmp_path, "root", modules("a", "b"), packaging="pom")
    pom_module(tmp_path / "a", "same", "", g_parent())
    pom_module(tmp_path / "b", "same", "", g_parent())

    with pytest.raises(UsageError, match="g:same"):
        load_reactor(tmp_path)


def test_a_dependency_cycle(tmp_path: Path) -> None:
    pom_module(tmp_path, "root", modules("a", "b"), packaging="pom")
    pom_module(tmp_path / "a", "a", depends("b"), g_parent())
    pom_module(tmp_path / "b", "b", depends("a"), g_parent())

    with pytest.raises(UsageError, match=r"cycle: (a -> b -> a|b -> a -> b)"):
        load_reactor(tmp_path)


def test_an_aggregator_must_have_packaging_pom(tmp_path: Path) -> None:
    pom_module(tmp_path, "root", modules("a"))
    pom_module(tmp_path / "a", "a", "", g_parent())

    with pytest.raises(UsageError, match="packaging pom"):
        load_reactor(tmp_path)


def test_modules_sharing_an_artifact_id_are_told_apart_by_group(tmp_path: Path) -> None:
    write_pom(tmp_path, "<groupId>g</groupId><artifactId>root</artifactId><version>1</version><packaging>pom</packaging>" + modules("one", "two"))
    for name in ("one", "two"):
        write_pom(
            tmp_path / name,
            g_parent() + f"<groupId>g.{name}</groupId><artifactId>api</artifactId>"
            f"<dependencies><dependency><groupId>g.one</groupId><artifactId>api</artifactId></dependency></dependencies>",
        )
        (tmp_path / name / "Dockerfile").write_text("FROM scratch\n")

    reactor = load_reactor(tmp_path)

    assert reactor.select(["two"])[0].depends_on == ("g.one:api", "root")
    assert paths(reactor.upstream(reactor.select(["g.two:api"]))) == [".", "one"]
    with pytest.raises(UsageError, match="more than one module"):
        reactor.select(["api"])
