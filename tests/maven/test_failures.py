"""Maven's download failures in one line: real Maven 3.8 runs against a loopback mirror.

Each case runs ``mvn`` (through ``maven_command`` and ``autopack.process``, like a build) on a
tiny project generated in tmp_path, with a generated ``settings.xml`` whose only ``<mirror>``
(id ``test-mirror``, ``mirrorOf *``) is a ``tests.servers.maven_repo.MavenRepo`` on 127.0.0.1,
and a fresh, empty ``-Dmaven.repo.local`` in tmp_path, so that nothing is cached.

What needs no plugin runs ``validate``: a missing parent POM fails while the project is read, a
plugin bound to ``validate`` fails when the build plan is made, so the mirror can answer 404 to
everything (mode ``missing``). A missing or forbidden *dependency* is only resolved for a mojo,
so those cases run ``compile``: Maven first downloads the resources and compiler plugins, which
the mirror serves (mode ``serve``) from one already-filled local repository — the tests' own
(``-Dmaven.repo.local`` of ``$MAVEN_OPTS``, see tests/conftest.py) or else a temporary one,
filled once per module by an online ``mvn compile`` of a project pinning the same plugins.
The dependency itself is absent there (404), or under a ``forbidden`` prefix (403). The
unreachable case points the mirror at a port nobody listens on; the offline case adds
``--offline``. Every case checks the one-line message exactly, its hint, exit code 4, and that
``MavenWatcher.failure`` gives the same error. A compile error must give None.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
from pathlib import Path

import pytest

from autopack import process
from autopack.maven.runner import MavenWatcher, maven_command
from autopack.maven.failures import download_failure
from autopack.errors import MavenError
from autopack.settings import Settings
from tests.servers.maven_repo import MavenRepo, refused_port

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
MIRROR = "test-mirror"
RESOURCES_PLUGIN = "org.apache.maven.plugins:maven-resources-plugin:3.3.1"
RESOURCES_POM = "org.apache.maven.plugins:maven-resources-plugin:pom:3.3.1"
PLUGIN_MANAGEMENT = "".join(
    f"<plugin><groupId>org.apache.maven.plugins</groupId><artifactId>maven-{name}-plugin</artifactId><version>{version}</version></plugin>"
    for name, version in (("resources", "3.3.1"), ("compiler", "3.13.0"))
)
MISSING_DEPENDENCY = "<dependencies><dependency><groupId>com.example.missing</groupId><artifactId>lib</artifactId><version>1.0</version></dependency></dependencies>"
MISSING_PARENT = "<parent><groupId>com.example.missing</groupId><artifactId>parent</artifactId><version>1.0</version></parent>"
MISSING_PLUGIN = (
    "<plugins><plugin><groupId>com.example.missing</groupId><artifactId>nope-maven-plugin</artifactId><version>1.0</version>"
    "<executions><execution><phase>validate</phase><goals><goal>nope</goal></goals></execution></executions></plugin></plugins>"
)

pytestmark = pytest.mark.skipif(shutil.which("mvn") is None, reason="needs mvn on PATH")


def write_project(directory: Path, *, parent: str = "", dependencies: str = "", plugins: str = "") -> Path:
    directory.mkdir(parents=True)
    (directory / "pom.xml").write_text(
        f'<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion>{parent}'
        "<groupId>com.example</groupId><artifactId>probe</artifactId><version>1.0.0</version>"
        "<properties><maven.compiler.release>17</maven.compiler.release><project.build.sourceEncoding>UTF-8</project.build.sourceEncoding></properties>"
        f"{dependencies}<build><pluginManagement><plugins>{PLUGIN_MANAGEMENT}</plugins></pluginManagement>{plugins}</build></project>"
    )
    source = directory / "src/main/java/probe/App.java"
    source.parent.mkdir(parents=True)
    source.write_text("package probe; public class App {}\n")
    return directory


class Run:
    def __init__(self, directory: Path, mirror_url: str | None, goals: tuple[str, ...], offline: bool = False, repo: Path | None = None):
        self.repo = repo or directory.parent / "m2"
        self.repo.mkdir(parents=True, exist_ok=True)
        settings_file = None
        if mirror_url:
            settings_file = directory.parent / "settings.xml"
            settings_file.write_text(f"<settings><mirrors><mirror><id>{MIRROR}</id><mirrorOf>*</mirrorOf><url>{mirror_url}</url></mirror></mirrors></settings>")
        settings = Settings(goals=goals, offline=offline, maven_settings=settings_file, maven_args=(f"-Dmaven.repo.local={self.repo}",))
        self.watcher = MavenWatcher(lambda event: None)
        self.watcher.local_repository, self.watcher.mirror_ids = self.repo, (MIRROR,)
        self.log = directory.parent / "maven.log"
        self.completed = process.run(maven_command(settings, directory), cwd=directory, env=dict(os.environ), on_line=self.watcher, log_path=self.log, check=False)
        self.lines = [*self.watcher.errors, *self.completed.tail]

    def error(self, mirror_ids: tuple[str, ...] = (MIRROR,)) -> MavenError:
        assert self.completed.returncode == 1, self.completed.tail
        error = download_failure(self.lines, self.repo, mirror_ids)
        assert isinstance(error, MavenError), self.lines
        assert error.exit_code == 4
        assert len(error.message) <= 300 and "\n" not in error.one_line()
        if mirror_ids == self.watcher.mirror_ids:  # the hook in MavenWatcher.failure says the same
            watched = self.watcher.failure(self.log, self.completed)
            assert (watched.message, watched.hint) == (error.message, error.hint)
        return error


@pytest.fixture(scope="module")
def filled_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A local repository holding the pinned resources and compiler plugins, to serve."""
    opts = shlex.split(os.environ.get("MAVEN_OPTS", ""))
    named = [o.split("=", 1)[1] for o in opts if o.startswith("-Dmaven.repo.local=")]
    repo = Path(named[-1]) if named else tmp_path_factory.mktemp("filled-m2")
    directory = write_project(tmp_path_factory.mktemp("fill") / "probe")
    run = Run(directory, None, ("compile",), repo=repo)
    if run.completed.returncode != 0:
        pytest.fail(f"could not fill {repo} from Maven Central: {run.completed.tail[-5:]}", pytrace=False)
    return repo


@pytest.fixture
def serving(filled_repo: Path):
    with MavenRepo("serve", root=filled_repo) as repo:
        yield repo


def test_unreachable_mirror_with_credentials_in_its_url(tmp_path: Path) -> None:
    port = refused_port()
    run = Run(write_project(tmp_path / "p"), f"http://ada:s3cret-pw@127.0.0.1:{port}/", ("compile",))

    assert any("ada:******@127.0.0.1" in line for line in run.lines)  # what Maven says, redacted
    error = run.error()
    assert error.message == (
        f"Maven could not download {RESOURCES_POM} (for plugin {RESOURCES_PLUGIN}) from {MIRROR} (http://127.0.0.1:{port}/): connection refused"
    )
    assert error.hint == f"check the <mirror> {MIRROR} in settings.xml (its <url>), the network and the proxy"
    assert run.error(mirror_ids=()).hint == "check the network, the proxy (<proxies> in settings.xml) and the repository URL"
    assert "ada" not in error.one_line() and "s3cret" not in error.one_line()


def test_missing_dependency_then_the_cached_failure(tmp_path: Path, serving: MavenRepo) -> None:
    directory = write_project(tmp_path / "p", dependencies=MISSING_DEPENDENCY)
    first = Run(directory, serving.url, ("compile",)).error()

    expected = f"Maven could not download com.example.missing:lib:jar:1.0 (dependency of com.example:probe:jar:1.0.0) from {MIRROR} ({serving.url}): not found"
    assert first.message == expected
    assert first.hint == f"check the coordinates, and the <mirror> {MIRROR} in settings.xml (its <url>, <mirrorOf>)"
    assert ("GET", "/com/example/missing/lib/1.0/lib-1.0.jar", 404) in serving.log

    again = Run(directory, serving.url, ("compile",)).error(mirror_ids=())
    assert again.message == expected + " (cached)"
    assert again.hint == f"check the coordinates, and that repository {MIRROR} holds them; Maven cached this failure: once fixed, add --maven-arg=-U"


def test_dependency_already_in_the_local_repository_from_another_repository(tmp_path: Path, serving: MavenRepo) -> None:
    lib = tmp_path / "m2/com/example/missing/lib/1.0"
    lib.mkdir(parents=True)
    (lib / "lib-1.0.jar").write_bytes(b"PK\x05\x06" + bytes(18))
    (lib / "lib-1.0.pom").write_text("<project><modelVersion>4.0.0</modelVersion><groupId>com.example.missing</groupId><artifactId>lib</artifactId><version>1.0</version></project>")
    (lib / "_remote.repositories").write_text("lib-1.0.jar>elsewhere=\nlib-1.0.pom>elsewhere=\n")

    error = Run(write_project(tmp_path / "p", dependencies=MISSING_DEPENDENCY), serving.url, ("compile",)).error()

    assert error.message.endswith(f"from {MIRROR} ({serving.url}): not found")
    assert error.hint == (
        f"{lib / 'lib-1.0.jar'} is already in the local repository, recorded as downloaded from another repository: "
        f"delete {lib / '_remote.repositories'} and Maven uses it (--offline alone does not help)"
    )


def test_mirror_refuses_the_dependency(tmp_path: Path, filled_repo: Path) -> None:
    with MavenRepo("serve", root=filled_repo, forbidden=("com/example/missing/",)) as mirror:
        url = mirror.url.replace("http://", "http://ada:s3cret-pw@")
        error = Run(write_project(tmp_path / "p", dependencies=MISSING_DEPENDENCY), url, ("compile",)).error()

    assert error.message == (
        f"Maven could not download com.example.missing:lib:pom:1.0 (dependency of com.example:probe:jar:1.0.0) from {MIRROR} ({mirror.url}): 403 Forbidden"
    )
    assert error.hint == f"check the <mirror> {MIRROR} in settings.xml and the credentials of <server> {MIRROR}"
    assert "s3cret" not in error.one_line() and "ada" not in error.one_line()
    assert mirror.paths(403) == ["/com/example/missing/lib/1.0/lib-1.0.pom"]


def test_offline_without_the_artifact(tmp_path: Path, serving: MavenRepo) -> None:
    run = Run(write_project(tmp_path / "p", dependencies=MISSING_DEPENDENCY), serving.url, ("compile",), offline=True)
    error = run.error()

    assert error.message == (
        f"Maven could not download org.apache.maven.plugins:maven-resources-plugin:jar:3.3.1 (for plugin {RESOURCES_PLUGIN}) from {MIRROR} ({serving.url}): offline"
    )
    assert error.hint == f"it was never downloaded into {run.repo}: run once online, or drop --offline"
    assert serving.log == []


def test_non_resolvable_parent_pom(tmp_path: Path) -> None:
    with MavenRepo("missing") as mirror:
        error = Run(write_project(tmp_path / "p", parent=MISSING_PARENT), mirror.url, ("validate",)).error()

    assert error.message == (
        f"Maven could not download com.example.missing:parent:pom:1.0 (parent POM of com.example:probe:1.0.0) from {MIRROR} ({mirror.url}): not found"
    )
    assert mirror.paths(404) == ["/com/example/missing/parent/1.0/parent-1.0.pom"]


def test_unresolvable_plugin(tmp_path: Path) -> None:
    with MavenRepo("missing") as mirror:
        error = Run(write_project(tmp_path / "p", plugins=MISSING_PLUGIN), mirror.url, ("validate",)).error()

    assert error.message == (
        f"Maven could not download com.example.missing:nope-maven-plugin:jar:1.0 (for plugin com.example.missing:nope-maven-plugin:1.0) "
        f"from {MIRROR} ({mirror.url}): not found"
    )


def test_a_compile_error_is_not_a_download_failure(tmp_path: Path, serving: MavenRepo) -> None:
    directory = tmp_path / "compile-error"
    shutil.copytree(FIXTURES / "broken/compile-error", directory)
    run = Run(directory, serving.url, ("compile",))

    assert run.completed.returncode == 1
    assert any("COMPILATION ERROR" in line for line in run.lines)
    assert download_failure(run.lines, run.repo, (MIRROR,)) is None
    assert "Maven could not download" not in run.watcher.failure(run.log, run.completed).message


# --- recorded lines: other reasons, and Maven 3.9's wording ---------------------------------

RECORDED = [  # (line, expected message tail)
    (  # Maven 3.8.7, a mirror host that does not resolve
        "[ERROR] Plugin org.apache.maven.plugins:maven-resources-plugin:3.3.1 or one of its dependencies could not be resolved: Failed to read artifact descriptor for org.apache.maven.plugins:maven-resources-plugin:jar:3.3.1: Could not transfer artifact org.apache.maven.plugins:maven-resources-plugin:pom:3.3.1 from/to m (http://repo.nonexistent.invalid/maven2): transfer failed for http://repo.nonexistent.invalid/maven2/org/apache/maven/plugins/maven-resources-plugin/3.3.1/maven-resources-plugin-3.3.1.pom: Unknown host repo.nonexistent.invalid: Name or service not known -> [Help 1]",
        "from m (http://repo.nonexistent.invalid/maven2): unknown host",
    ),
    (  # Maven 3.8.7, -Dmaven.wagon.rto=1500 against a server that never answers
        "[ERROR] Plugin org.apache.maven.plugins:maven-resources-plugin:3.3.1 or one of its dependencies could not be resolved: Failed to read artifact descriptor for org.apache.maven.plugins:maven-resources-plugin:jar:3.3.1: Could not transfer artifact org.apache.maven.plugins:maven-resources-plugin:pom:3.3.1 from/to m (http://127.0.0.1:35563/): transfer failed for http://127.0.0.1:35563/org/apache/maven/plugins/maven-resources-plugin/3.3.1/maven-resources-plugin-3.3.1.pom: Read timed out -> [Help 1]",
        "from m (http://127.0.0.1:35563/): timed out",
    ),
    (  # Maven 3.9, a parent POM refused by Central
        "[ERROR] Non-resolvable parent POM for com.x:flows:1.0.0: The following artifacts could not be resolved: org.springframework.boot:spring-boot-starter-parent:pom:3.3.2 (absent): Could not transfer artifact org.springframework.boot:spring-boot-starter-parent:pom:3.3.2 from/to central (https://repo.maven.apache.org/maven2): status code: 403, reason phrase: Forbidden (403) @ line 5, column 11 -> [Help 2]",
        "(parent POM of com.x:flows:1.0.0) from central (https://repo.maven.apache.org/maven2): 403 Forbidden",
    ),
]


@pytest.mark.parametrize("line, tail", RECORDED)
def test_recorded_lines(line: str, tail: str, tmp_path: Path) -> None:
    error = download_failure([line, "[ERROR] ", "[ERROR] Re-run Maven using the -X switch to enable full debug logging."], tmp_path)
    assert error is not None and error.message.endswith(tail), error and error.message


def test_maven_39_multi_line_cached_failure(tmp_path: Path) -> None:
    lines = [
        "Failed to execute goal on project core: Could not resolve dependencies for project com.r:core:jar:1.0.0-SNAPSHOT",
        "dependency: com.r:apps:jar:1.0.0-SNAPSHOT (compile)",
        "com.r:apps:jar:1.0.0-SNAPSHOT failed to transfer from https://u:******@nexus.example/repo during a previous attempt. This failure was cached in the local repository and resolution is not reattempted until the update interval of nexus has elapsed or updates are forced. Original error: Could not transfer artifact com.r:apps:jar:1.0.0-SNAPSHOT from/to nexus (https://u:******@nexus.example/repo): Connection refused",
    ]
    error = download_failure(lines, tmp_path, ("nexus",))
    assert error is not None
    assert error.message == (
        "Maven could not download com.r:apps:jar:1.0.0-SNAPSHOT (dependency of com.r:core:jar:1.0.0-SNAPSHOT) from nexus (https://nexus.example/repo): connection refused (cached)"
    )
    assert not re.search(r"\bu:|\*\*\*", error.one_line())
