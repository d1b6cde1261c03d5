"""Staging a jar into the layer directories a layered Dockerfile COPYs: the real Spring Boot
jar of fixtures/spring-boot/layered-service and the real plain jar of fixtures/layered-jar with
its runtime classpath from copy-dependencies (each built once per module with real Maven, online
into the tests' repository), the exploded trees started the way the fixtures' ENTRYPOINTs start
them, and synthetic jars and classpaths for what one small service cannot show (reactor and
SNAPSHOT jars, layers.idx, malformed entries)."""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

import pytest

from autopack.errors import ImageError
from autopack.image.dockerfile import inspect_dockerfile
from autopack.maven.layers import LAYERS, STAGED_MTIME, classify, declares_layers, jar_layer, stage
from tests.conftest import FIXTURES, copy_fixture

FIXTURE = "spring-boot/layered-service"
JAR = "layered-service-1.0.0.jar"
APP_CLASS = "BOOT-INF/classes/com/example/boot/layered/LayeredServiceApplication.class"
LAUNCHER = "org/springframework/boot/loader/launch/JarLauncher.class"


def tree(root: Path) -> list[tuple[str, str, int, int, bytes]]:
    """Every path below root: (path, kind, mode, mtime, bytes)."""
    listing = []
    for path in sorted(root.rglob("*")):
        st = path.lstat()
        kind = "dir" if path.is_dir() else "link" if path.is_symlink() else "file"
        listing.append((path.relative_to(root).as_posix(), kind, st.st_mode & 0o7777, int(st.st_mtime), path.read_bytes() if kind == "file" else b""))
    return listing


def names(staged: Path, layer: str) -> set[str]:
    return {p.relative_to(staged / layer).as_posix() for p in (staged / layer).rglob("*") if p.is_file()}


# --- the real jar --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def jar(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("mvn") is None:
        pytest.skip("needs mvn on PATH")
    project = copy_fixture(FIXTURE, tmp_path_factory.mktemp("layered"))
    completed = subprocess.run(["mvn", "-B", "-q", "-Dstyle.color=never", "package", "-DskipTests"], cwd=project, capture_output=True, text=True, timeout=600)
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    return project / "target" / JAR


@pytest.fixture(scope="module")
def staged(jar: Path) -> Path:
    dest = jar.parent / "autopack-layers"
    result = stage(jar, dest, ["layered-service"])
    assert result.dest == dest
    return dest


def test_the_six_layers_and_what_is_in_them(jar: Path, staged: Path) -> None:
    assert sorted(p.name for p in staged.iterdir()) == sorted(LAYERS)
    dependencies = names(staged, "dependencies")
    assert any(n.startswith("BOOT-INF/lib/spring-core-") and n.endswith(".jar") for n in dependencies)
    assert all(n.startswith("BOOT-INF/lib/") and n.endswith(".jar") for n in dependencies)
    assert LAUNCHER in names(staged, "loader")
    assert all(n.startswith("org/springframework/boot/loader/") for n in names(staged, "loader"))
    assert names(staged, "snapshot-dependencies") == set() and names(staged, "project-dependencies") == set()
    assert {"META-INF/MANIFEST.MF", "BOOT-INF/classes/application.properties", "BOOT-INF/classpath.idx", "BOOT-INF/layers.idx"} <= names(staged, "resources")
    assert names(staged, "classes") == {APP_CLASS, "BOOT-INF/classes/com/example/boot/layered/RootController.class"}

    # Every file of the jar is in exactly one layer, byte for byte (the nested jars too).
    with zipfile.ZipFile(jar) as z:
        files = {i.filename: z.read(i) for i in z.infolist() if not i.is_dir()}
    staged_files = {n: (staged / layer / n).read_bytes() for layer in LAYERS for n in names(staged, layer)}
    assert staged_files.keys() == files.keys()
    assert staged_files == files


def test_the_counts_and_the_log_line(jar: Path, staged: Path) -> None:
    result = stage(jar, staged, ["layered-service"])
    assert [s.name for s in result.layers] == list(LAYERS)
    for size in result.layers:
        files = [p for p in (staged / size.name).rglob("*") if p.is_file()]
        assert (size.files, size.bytes) == (len(files), sum(p.stat().st_size for p in files))
    assert result.layer("classes").files == 2
    assert result.summary().startswith(f"layers: dependencies {result.layer('dependencies').files} files ")
    assert ", classes 2 files 0.0 MB" in result.summary()


def test_staging_is_reproducible_and_replaces_the_old_tree(jar: Path, staged: Path, tmp_path: Path) -> None:
    first = tree(staged)
    elsewhere = tmp_path / "autopack-layers"
    stage(jar, elsewhere, ["layered-service"])
    assert tree(elsewhere) == first

    (elsewhere / "classes" / "stale.class").write_bytes(b"left from an older build")
    (elsewhere / "extra").mkdir()
    stage(jar, elsewhere, ["layered-service"])
    assert tree(elsewhere) == first
    assert sorted(p.name for p in tmp_path.iterdir()) == ["autopack-layers"]  # no staging or old tree left
    assert {mtime for _, _, _, mtime, _ in first} == {STAGED_MTIME}
    assert {(kind, mode) for _, kind, mode, _, _ in first} == {("dir", 0o755), ("file", 0o644)}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def entrypoint(fixture: str = FIXTURE) -> list[str]:
    line = next(line for line in (FIXTURES / fixture / "Dockerfile").read_text().splitlines() if line.startswith("ENTRYPOINT "))
    return json.loads(line.removeprefix("ENTRYPOINT "))


def merge(staged: Path, app: Path) -> Path:
    """What the Dockerfile's six COPYs into WORKDIR /app make of the staged tree."""
    app.mkdir()
    for layer in LAYERS:
        shutil.copytree(staged / layer, app, dirs_exist_ok=True)
    return app


def java_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in ("CLASSPATH", "JAVA_TOOL_OPTIONS", "JDK_JAVA_OPTIONS")}


def test_the_layers_merged_into_one_directory_run_with_the_dockerfiles_entrypoint(staged: Path, tmp_path: Path) -> None:
    """What the image's six COPYs into WORKDIR /app make, started as its ENTRYPOINT starts it."""
    assert entrypoint() == ["java", "org.springframework.boot.loader.launch.JarLauncher"]
    app = merge(staged, tmp_path / "app")
    port = free_port()
    env = java_env() | {"SERVER_PORT": str(port), "SERVER_ADDRESS": "127.0.0.1"}
    log = tmp_path / "app.log"
    with open(log, "wb") as out:
        java = subprocess.Popen(entrypoint(), cwd=app, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        body, deadline = None, time.monotonic() + 60
        while body is None and time.monotonic() < deadline and java.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/actuator/health", timeout=2) as response:
                    body = json.loads(response.read())
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.5)
        assert body == {"status": "UP"}, log.read_text()[-3000:]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as response:
            assert json.loads(response.read()) == {"service": "layered-service", "version": "1.0.0"}
    finally:
        if java.poll() is None:
            os.killpg(java.pid, signal.SIGTERM)
            try:
                java.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(java.pid, signal.SIGKILL)
                java.wait(timeout=15)


def test_the_fixture_dockerfile_declares_layers_and_web_service_does_not() -> None:
    assert declares_layers(inspect_dockerfile(FIXTURES / FIXTURE, None))
    assert not declares_layers(inspect_dockerfile(FIXTURES / "spring-boot/web-service", None))


# --- synthetic jars --------------------------------------------------------------------------


def make_jar(path: Path, entries: dict[str, bytes], *, stored: tuple[str, ...] = ()) -> Path:
    with zipfile.ZipFile(path, "w") as z:
        for name, data in entries.items():
            info = zipfile.ZipInfo(name, date_time=(2001, 2, 3, 4, 5, 6))
            info.compress_type = zipfile.ZIP_STORED if name in stored or name.endswith("/") else zipfile.ZIP_DEFLATED
            info.external_attr = (0o40755 if name.endswith("/") else 0o100755) << 16
            z.writestr(info, data)
    return path


def nested_jar(name: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        z.writestr("META-INF/MANIFEST.MF", f"Manifest-Version: 1.0\nName: {name}\n")
    return buffer.getvalue()


LIBS = {
    "orders-api-2.0.0.jar": "project-dependencies",
    "orders-api-2.1.0-SNAPSHOT.jar": "project-dependencies",  # a reactor module is the project's, SNAPSHOT or not
    "shared-lib-2.0.0-tests.jar": "project-dependencies",
    "commons-lang3-3.14.0.jar": "dependencies",  # "commons" is a reactor module, but this is not its jar
    "cache-client-1.4-SNAPSHOT.jar": "snapshot-dependencies",
    "cache-client-1.4-20240101.120000-3.jar": "snapshot-dependencies",
    "netty-native-5.0-SNAPSHOT-linux-x86_64.jar": "snapshot-dependencies",
    "spring-core-6.2.12.jar": "dependencies",
    "snapshot-tool-1.0.jar": "dependencies",
}
REACTOR = ("orders-api", "shared-lib", "commons", "orders-service")


def boot_jar(path: Path, extra: dict[str, bytes] | None = None) -> Path:
    entries = {
        "META-INF/": b"",
        "META-INF/MANIFEST.MF": b"Manifest-Version: 1.0\nMain-Class: org.springframework.boot.loader.launch.JarLauncher\n",
        "org/springframework/boot/loader/launch/JarLauncher.class": b"\xca\xfe\xba\xbe launcher",
        "BOOT-INF/classes/com/example/App.class": b"\xca\xfe\xba\xbe app",
        "BOOT-INF/classes/application.yml": b"server:\n  port: 8080\n",
        "BOOT-INF/classes/static/": b"",  # an empty directory is kept
        "BOOT-INF/classpath.idx": b'- "BOOT-INF/lib/spring-core-6.2.12.jar"\n',
        **{f"BOOT-INF/lib/{name}": nested_jar(name) for name in LIBS},
        **(extra or {}),
    }
    return make_jar(path, entries, stored=tuple(f"BOOT-INF/lib/{name}" for name in LIBS))


def test_nested_jars_by_reactor_module_snapshot_and_release(tmp_path: Path) -> None:
    jar = boot_jar(tmp_path / "orders-service-2.0.0.jar")
    result = stage(jar, tmp_path / "layers", REACTOR)
    for name, layer in LIBS.items():
        assert (tmp_path / "layers" / layer / "BOOT-INF/lib" / name).read_bytes() == nested_jar(name), name
    assert names(tmp_path / "layers", "loader") == {"org/springframework/boot/loader/launch/JarLauncher.class"}
    assert names(tmp_path / "layers", "classes") == {"BOOT-INF/classes/com/example/App.class"}
    assert names(tmp_path / "layers", "resources") == {"META-INF/MANIFEST.MF", "BOOT-INF/classes/application.yml", "BOOT-INF/classpath.idx"}
    assert (tmp_path / "layers/resources/BOOT-INF/classes/static").is_dir()
    assert [(s.name, s.files) for s in result.layers] == [
        ("dependencies", 3),
        ("loader", 1),
        ("snapshot-dependencies", 3),
        ("project-dependencies", 3),
        ("resources", 3),
        ("classes", 1),
    ]
    # The zip's times and modes (2001, 0755) are not the tree's.
    assert {(mode, mtime) for _, kind, mode, mtime, _ in tree(tmp_path / "layers") if kind == "file"} == {(0o644, STAGED_MTIME)}


def test_without_reactor_modules_a_reactor_jar_is_a_dependency(tmp_path: Path) -> None:
    stage(boot_jar(tmp_path / "app.jar"), tmp_path / "layers", ())
    assert names(tmp_path / "layers", "project-dependencies") == set()
    assert "BOOT-INF/lib/orders-api-2.0.0.jar" in names(tmp_path / "layers", "dependencies")
    assert "BOOT-INF/lib/orders-api-2.1.0-SNAPSHOT.jar" in names(tmp_path / "layers", "snapshot-dependencies")


def test_layers_idx_names_the_loader(tmp_path: Path) -> None:
    index = b'- "dependencies":\n  - "BOOT-INF/lib/"\n- "spring-boot-loader":\n  - "org/"\n  - "launcher.properties"\n- "application":\n  - "BOOT-INF/classes/"\n  - "META-INF/"\n'
    extra = {"BOOT-INF/layers.idx": index, "org/example/loader/Extra.class": b"x", "launcher.properties": b"a=b", "notes.txt": b"n"}
    stage(boot_jar(tmp_path / "app.jar", extra), tmp_path / "layers", ())
    assert names(tmp_path / "layers", "loader") == {"org/springframework/boot/loader/launch/JarLauncher.class", "org/example/loader/Extra.class", "launcher.properties"}
    assert {"BOOT-INF/layers.idx", "notes.txt"} <= names(tmp_path / "layers", "resources")


def test_classify_without_an_index() -> None:
    assert classify("org/springframework/boot/loader/JarLauncher.class", (), ()) == "loader"  # Boot 2.x
    assert classify("org/example/Thing.class", (), ()) == "resources"
    assert classify("BOOT-INF/lib/nested/inner.jar", (), ()) == "resources"  # only BOOT-INF/lib/*.jar are dependencies
    assert classify("BOOT-INF/lib/README", (), ()) == "resources"
    assert classify("BOOT-INF/classes/a/b/C$1.class", (), ()) == "classes"
    assert classify("BOOT-INF/classes/a/b/messages.properties", (), ()) == "resources"


@pytest.mark.parametrize("name", ["../evil.sh", "BOOT-INF/classes/../../../etc/cron.d/x", "/etc/passwd", "BOOT-INF\\..\\evil", "C:/evil", "./BOOT-INF/x", "BOOT-INF//x"])
def test_an_entry_leading_outside_the_tree_is_refused(tmp_path: Path, name: str) -> None:
    jar = boot_jar(tmp_path / "app.jar", {name: b"pwned"})
    (tmp_path / "layers").mkdir()
    (tmp_path / "layers" / "previous").write_text("kept")
    with pytest.raises(ImageError, match="would be written outside the staged layers") as caught:
        stage(jar, tmp_path / "layers", ())
    assert repr(name) in caught.value.message
    assert sorted(p.name for p in tmp_path.iterdir()) == ["app.jar", "layers"]
    assert [p.name for p in (tmp_path / "layers").iterdir()] == ["previous"]  # nothing written


def test_a_plain_jar_without_its_runtime_classpath_is_refused(tmp_path: Path) -> None:
    jar = make_jar(tmp_path / "plain-1.0.jar", {"META-INF/MANIFEST.MF": b"Manifest-Version: 1.0\n", "com/example/App.class": b"\xca\xfe"})
    with pytest.raises(ImageError) as caught:
        stage(jar, tmp_path / "layers", ())
    assert caught.value.message.startswith("the Dockerfile declares ARG LAYERS, but plain-1.0.jar is not a Spring Boot jar (it has no BOOT-INF/) and no runtime classpath was given")
    assert "autopack stages Maven's runtime classpath" in caught.value.hint and "ARG LAYERS" in caught.value.hint
    assert "spring-boot-maven-plugin" in caught.value.hint and "COPY ${ARTIFACT}" in caught.value.hint
    assert caught.value.exit_code == 5
    assert not (tmp_path / "layers").exists()


def test_a_file_that_is_no_jar_and_a_missing_jar(tmp_path: Path) -> None:
    (tmp_path / "app.jar").write_text("not a zip")
    with pytest.raises(ImageError, match="app.jar into layers: it is not a readable jar"):
        stage(tmp_path / "app.jar", tmp_path / "layers", ())
    with pytest.raises(ImageError, match="the file is missing"):
        stage(tmp_path / "gone.jar", tmp_path / "layers", ())


def test_a_duplicate_entry_is_refused(tmp_path: Path) -> None:
    jar = boot_jar(tmp_path / "app.jar")
    with pytest.warns(UserWarning, match="Duplicate name"), zipfile.ZipFile(jar, "a") as z:
        z.writestr("BOOT-INF/classes/application.yml", b"other")
    with pytest.raises(ImageError, match="holds the entry 'BOOT-INF/classes/application.yml' twice"):
        stage(jar, tmp_path / "layers", ())


def test_a_failed_staging_keeps_the_previous_tree_and_sweeps_what_a_killed_run_left(tmp_path: Path) -> None:
    dest = tmp_path / "autopack-layers"
    stage(boot_jar(tmp_path / "good.jar"), dest, ())
    before = tree(dest)
    (tmp_path / ".autopack-layers.staging-abc").mkdir()  # a killed run's half tree
    (tmp_path / ".autopack-layers.old-def").mkdir()
    # A file and a directory of the same name: writing fails half-way.
    bad = boot_jar(tmp_path / "bad.jar", {"BOOT-INF/classes/x": b"file", "BOOT-INF/classes/x/y.txt": b"below it"})
    with pytest.raises(ImageError, match="cannot stage bad.jar into"):
        stage(bad, dest, ())
    assert tree(dest) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["autopack-layers", "bad.jar", "good.jar"]


# --- a plain jar and its runtime classpath ----------------------------------------------------

PLAIN_FIXTURE = "layered-jar"
PLAIN_JAR = "layered-jar-1.0.0.jar"
PLAIN_CLASS = "classes/com/example/layered/App.class"
JACKSON = ("jackson-annotations-2.17.2.jar", "jackson-core-2.17.2.jar", "jackson-databind-2.17.2.jar")
COPY_DEPENDENCIES = ("org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies", "-DincludeScope=runtime")


@pytest.fixture(scope="module")
def plain_jar(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """fixtures/layered-jar built as autopack builds a layered plain jar: package, then
    copy-dependencies of the runtime classpath into target/dependency/, in one Maven run."""
    if shutil.which("mvn") is None:
        pytest.skip("needs mvn on PATH")
    project = copy_fixture(PLAIN_FIXTURE, tmp_path_factory.mktemp("plain"))
    completed = subprocess.run(["mvn", "-B", "-q", "-Dstyle.color=never", "package", "-DskipTests", *COPY_DEPENDENCIES], cwd=project, capture_output=True, text=True, timeout=600)
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    return project / "target" / PLAIN_JAR


@pytest.fixture(scope="module")
def plain_staged(plain_jar: Path) -> Path:
    dest = plain_jar.parent / "autopack-layers"
    result = stage(plain_jar, dest, ["layered-jar"], plain_jar.parent / "dependency")
    assert result.dest == dest
    return dest


def test_a_plain_jar_and_its_runtime_classpath_in_the_six_layers(plain_jar: Path, plain_staged: Path) -> None:
    dependency = plain_jar.parent / "dependency"
    assert sorted(p.name for p in dependency.iterdir()) == list(JACKSON)
    assert sorted(p.name for p in plain_staged.iterdir()) == sorted(LAYERS)
    assert names(plain_staged, "dependencies") == {f"libs/{jar}" for jar in JACKSON}
    for jar in JACKSON:
        assert (plain_staged / "dependencies/libs" / jar).read_bytes() == (dependency / jar).read_bytes()
    for layer in ("loader", "snapshot-dependencies", "project-dependencies"):
        assert (plain_staged / layer).is_dir() and not any((plain_staged / layer).iterdir()), layer
    assert names(plain_staged, "classes") == {PLAIN_CLASS}
    assert names(plain_staged, "resources") == {"resources/greeting.txt"}  # no MANIFEST.MF, no META-INF/maven/
    assert not (plain_staged / "resources/resources/META-INF").exists()
    with zipfile.ZipFile(plain_jar) as z:
        assert (plain_staged / "classes" / PLAIN_CLASS).read_bytes() == z.read("com/example/layered/App.class")
        assert (plain_staged / "resources/resources/greeting.txt").read_bytes() == z.read("greeting.txt") == b"Hello from a layered jar\n"


def test_a_plain_jar_restaged_is_byte_identical(plain_jar: Path, plain_staged: Path, tmp_path: Path) -> None:
    first = tree(plain_staged)
    elsewhere = tmp_path / "autopack-layers"
    result = stage(plain_jar, elsewhere, ["layered-jar"], plain_jar.parent / "dependency")
    assert tree(elsewhere) == first
    assert [(s.name, s.files) for s in result.layers] == [
        ("dependencies", 3),
        ("loader", 0),
        ("snapshot-dependencies", 0),
        ("project-dependencies", 0),
        ("resources", 1),
        ("classes", 1),
    ]
    assert result.layer("dependencies").bytes == sum((plain_jar.parent / "dependency" / jar).stat().st_size for jar in JACKSON)

    (elsewhere / "classes/classes/Stale.class").write_bytes(b"left from an older build")
    (elsewhere / "dependencies/libs/removed-1.0.jar").write_bytes(b"a dependency dropped since")
    stage(plain_jar, elsewhere, ["layered-jar"], plain_jar.parent / "dependency")
    assert tree(elsewhere) == first
    assert sorted(p.name for p in tmp_path.iterdir()) == ["autopack-layers"]
    assert {mtime for _, _, _, mtime, _ in first} == {STAGED_MTIME}
    assert {(kind, mode) for _, kind, mode, _, _ in first} == {("dir", 0o755), ("file", 0o644)}


def test_the_plain_layers_merged_run_with_the_dockerfiles_classpath(plain_staged: Path, tmp_path: Path) -> None:
    """The six COPYs into WORKDIR /app, started with the fixture's ENTRYPOINT (its /app made the
    merged directory): -cp <app>/resources:<app>/classes:<app>/libs/* com.example.layered.App."""
    command = entrypoint(PLAIN_FIXTURE)
    assert command == ["java", "-cp", "/app/resources:/app/classes:/app/libs/*", "com.example.layered.App"]
    app = merge(plain_staged, tmp_path / "app")
    assert sorted(p.name for p in app.iterdir()) == ["classes", "libs", "resources"]
    command[2] = command[2].replace("/app/", f"{app}/")
    completed = subprocess.run(command, cwd=app, env=java_env(), stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert completed.stdout == '{"service":"layered-jar","message":"Hello from a layered jar"}\n'


def test_the_plain_fixture_is_layered_and_admits_only_the_staged_layers() -> None:
    assert declares_layers(inspect_dockerfile(FIXTURES / PLAIN_FIXTURE, None))
    dockerfile = (FIXTURES / PLAIN_FIXTURE / "Dockerfile").read_text()
    assert dockerfile.startswith("ARG BASE_IMAGE=autopack/jre:17\nFROM ${BASE_IMAGE}\n")
    assert "RUN " not in dockerfile and "ARTIFACT" not in dockerfile
    assert [line for line in dockerfile.splitlines() if line.startswith("COPY ")] == [f"COPY ${{LAYERS}}/{layer}/ ./" for layer in LAYERS]
    rules = [line for line in (FIXTURES / PLAIN_FIXTURE / ".dockerignore").read_text().splitlines() if line and not line.startswith("#")]
    assert rules == ["*", "!Dockerfile", "!target/autopack-layers/"]
    assert "maven-shade-plugin" not in (FIXTURES / PLAIN_FIXTURE / "pom.xml").read_text()


def plain_classpath(directory: Path, extra: dict[str, bytes] | None = None) -> Path:
    """A synthetic target/dependency/: every LIBS jar, and what is not on a libs/* classpath."""
    directory.mkdir()
    for name in LIBS:
        (directory / name).write_bytes(nested_jar(name))
    for name, data in (extra or {}).items():
        (directory / name).write_bytes(data)
    (directory / "nested").mkdir()
    (directory / "nested" / "inner-1.0.jar").write_bytes(b"not at the top")
    return directory


def plain_app_jar(path: Path, extra: dict[str, bytes] | None = None) -> Path:
    return make_jar(
        path,
        {
            "META-INF/": b"",
            "META-INF/MANIFEST.MF": b"Manifest-Version: 1.0\n",
            "META-INF/maven/": b"",
            "META-INF/maven/com.example/orders-service/pom.xml": b"<project/>",
            "META-INF/maven/com.example/orders-service/pom.properties": b"version=2.0.0\n",
            "META-INF/services/java.sql.Driver": b"com.example.Driver\n",
            "com/": b"",
            "com/example/": b"",
            "com/example/App.class": b"\xca\xfe\xba\xbe app",
            "com/example/App$1.class": b"\xca\xfe\xba\xbe inner",
            "com/example/messages.properties": b"hello=Hello\n",
            "static/": b"",  # an empty directory is kept
            "application.yml": b"server:\n  port: 8080\n",
            **(extra or {}),
        },
    )


def test_a_plain_jars_classpath_by_reactor_module_snapshot_and_release(tmp_path: Path) -> None:
    dependencies = plain_classpath(tmp_path / "dependency", {"README.txt": b"not a jar", "native.so": b"\x7fELF"})
    dest = tmp_path / "layers"
    result = stage(plain_app_jar(tmp_path / "orders-service-2.0.0.jar"), dest, REACTOR, dependencies)
    for name, layer in LIBS.items():
        assert jar_layer(name, REACTOR) == layer == classify(f"BOOT-INF/lib/{name}", (), REACTOR), name
        assert (dest / layer / "libs" / name).read_bytes() == nested_jar(name), name
    assert names(dest, "loader") == set()
    assert names(dest, "classes") == {"classes/com/example/App.class", "classes/com/example/App$1.class"}
    assert names(dest, "resources") == {"resources/META-INF/services/java.sql.Driver", "resources/com/example/messages.properties", "resources/application.yml"}
    assert (dest / "resources/resources/static").is_dir()
    assert not (dest / "resources/resources/META-INF/maven").exists() and not (dest / "resources/resources/META-INF/MANIFEST.MF").exists()
    assert not (dest / "classes/classes/static").exists()
    assert [(s.name, s.files) for s in result.layers] == [
        ("dependencies", 3),
        ("loader", 0),
        ("snapshot-dependencies", 3),
        ("project-dependencies", 3),
        ("resources", 3),
        ("classes", 2),
    ]
    # Neither the files' times and modes on disk nor the zip's (2001, 0755) are the tree's.
    assert {(kind, mode, mtime) for _, kind, mode, mtime, _ in tree(dest)} == {("dir", 0o755, STAGED_MTIME), ("file", 0o644, STAGED_MTIME)}

    again = tmp_path / "again"
    stage(plain_app_jar(tmp_path / "orders-service-2.0.0.jar"), again, REACTOR, dependencies)
    assert tree(again) == tree(dest)


def test_a_plain_jar_with_only_the_manifest_and_maven_metadata_under_meta_inf(tmp_path: Path) -> None:
    jar = make_jar(tmp_path / "app.jar", {"META-INF/": b"", "META-INF/MANIFEST.MF": b"Manifest-Version: 1.0\n", "META-INF/maven/": b"", "META-INF/maven/x/": b"", "A.class": b"\xca\xfe"})
    stage(jar, tmp_path / "layers", (), tmp_path / "dependency")  # Maven makes no target/dependency/ without runtime dependencies
    assert [p.relative_to(tmp_path / "layers").as_posix() for p in sorted((tmp_path / "layers").rglob("*"))] == [
        "classes",
        "classes/classes",
        "classes/classes/A.class",
        "dependencies",
        "loader",
        "project-dependencies",
        "resources",
        "snapshot-dependencies",
    ]


def test_a_plain_jars_classpath_that_is_not_a_directory(tmp_path: Path) -> None:
    (tmp_path / "dependency").write_text("a file")
    (tmp_path / "layers").mkdir()
    with pytest.raises(ImageError, match="it is not a directory"):
        stage(plain_app_jar(tmp_path / "app.jar"), tmp_path / "layers", (), tmp_path / "dependency")
    assert list((tmp_path / "layers").iterdir()) == []


def test_a_spring_boot_jar_ignores_a_runtime_classpath(tmp_path: Path) -> None:
    jar = boot_jar(tmp_path / "app.jar")
    stage(jar, tmp_path / "without", REACTOR)
    stage(jar, tmp_path / "with", REACTOR, plain_classpath(tmp_path / "dependency"))
    assert tree(tmp_path / "with") == tree(tmp_path / "without")


@pytest.mark.parametrize("name", ["../evil.sh", "com/../../etc/cron.d/x", "/etc/passwd"])
def test_a_plain_jar_entry_leading_outside_the_tree_is_refused(tmp_path: Path, name: str) -> None:
    (tmp_path / "dependency").mkdir()
    with pytest.raises(ImageError, match="would be written outside the staged layers"):
        stage(plain_app_jar(tmp_path / "app.jar", {name: b"pwned"}), tmp_path / "layers", (), tmp_path / "dependency")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["app.jar", "dependency"]
