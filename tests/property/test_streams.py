"""Properties of the output watchers and the renderers: any bytes a child prints (Maven, the
docker CLI's BuildKit progress) and any chunk the Engine API's build stream decodes to go
through the watcher and both renderers without an exception, and a registered secret put
anywhere in that input never reaches what is rendered.

Child output goes through ``process.run`` itself (a ``cat`` of the bytes, so its splitting,
decoding with ``errors="replace"``, neutralising and redaction are the real ones), into the
watcher as its ``on_line``; the Engine API's chunks reach ``_BuildWatcher`` as the SDK decodes
them, untouched, so there the renderers are the only redaction.

"Never reaches what is rendered" is checked against the renderers' own framing: a secret
that is part of what a renderer prints of itself (a stage name, a timestamp, a column's
padding) says nothing about a leak, so such secrets are skipped (``assume``).
"""

from __future__ import annotations

import functools
import io
import json
import re
import tempfile
import types
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from unittest import mock

from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from autopack import process
from autopack.engine import buildkit, docker_api
from autopack.errors import AutopackError
from autopack.events import Event, LogLine, Progress, StageFinished, StageStarted
from autopack.maven.runner import MavenWatcher
from autopack.ui import live, plain
from autopack.ui.live import LiveRenderer
from autopack.ui.plain import PlainRenderer
from tests.property.conftest import NO_MASK_CHARACTER, only_secrets

STAGES = {"source": "Source", "maven": "Maven", "image": "Image", "push": "Push"}
RENDERERS = st.sampled_from(["plain", "plain-colour", "plain-sections", "live"])
VERBOSITY = st.sampled_from(["quiet", "normal", "verbose"])

# A secret of a line-oriented stream: anything but a line break (a secret split across lines
# is outside what redaction promises) or an escape (the renderers' own colour codes are
# made of them), four characters or more, no padding around it.
SECRET = st.one_of(
    st.text(st.characters(blacklist_characters="\n\r\x1b" + NO_MASK_CHARACTER, blacklist_categories=("Cs",)), min_size=4, max_size=16),
    st.sampled_from(["hunter2-token", "p@ss w%rd", "[INFO]", "Step 1/2", "#1 DONE", "größe€😀", "tok\x07en", "sec\tret"]),
).filter(lambda s: s == s.strip())

# What children print: arbitrary bytes, and the lines the watchers look for (with holes).
MAVEN_LINES = [
    "[INFO] Building hello-service 1.0.0 [1/2]",
    "[INFO] Building jar: /x/target/app.jar",
    "[INFO] --- maven-compiler-plugin:3.11.0:compile (default-compile) @ hello ---",
    "Tests run: 3, Failures: 1, Errors: 0, Skipped: 0, Time elapsed: 0.1 s",
    "[ERROR] Failed to execute goal org.apache.maven.plugins:maven-compiler-plugin:3.11.0:compile (default-compile) on project hello: Compilation failure",
    "[ERROR] Could not transfer artifact a:b:jar:1 from/to central (https://u:p@repo/x): 401 Unauthorized",
    "[ERROR] Could not find artifact g:a:jar:1 in m (" + "h" * 300 + ")",
    "[ERROR] Failed to execute goal on project x: y -> [Help 1]",
    "[INFO] hello ........................................ SUCCESS [  1.2 s]",
    "[INFO] Replacing /x/target/app.jar with /x/target/app-shaded.jar",
    "[INFO] Attaching shaded artifact.",
    "[ERROR] /x/src/A.java:[3,1] error",
    "[INFO] Tests run: ٣, Failures: 0, Errors: 0, Skipped: 0, Time elapsed",
]
BUILDKIT_LINES = [
    "#1 [internal] load build definition from Dockerfile",
    "#5 [2/3] RUN echo hi",
    "#5 [stage-1 2/3] COPY app.jar /app.jar",
    "#5 0.215 hello",
    "#5 CACHED",
    "#5 DONE 0.1s",
    '#5 ERROR: process "/bin/sh -c false" did not complete successfully: exit code: 1',
    "#5 CANCELED",
    "ERROR: failed to solve: pull access denied",
    "#99999999999999999999 [1/1] X",
    "#٣ [١/٢] X",
]
ESCAPES = ["\x1b[0m", "\x1b[1;31m", "\x1b]0;title\x07", "\x1b[", "\x1b", "\x07", "\r", "\b", "\t", "\x00", "\ufffd"]


def chunks_of_bytes(lines: list[str]) -> st.SearchStrategy[list[bytes]]:
    piece = st.one_of(
        st.binary(max_size=40),
        st.text(max_size=30).map(str.encode),
        st.sampled_from(lines).map(str.encode),
        st.sampled_from(ESCAPES).map(str.encode),
        st.just(b"\n"),
        st.just(b"\r\n"),
        st.sampled_from([b"\xff", b"\xe2\x82", b"\xc3", b"\xed\xa0\x80"]),  # invalid or cut UTF-8
    )
    return st.lists(piece, max_size=25)


# A colour or erase code inside the secret: a terminal shows the secret whole, so the
# renderers must mask it whole (printable.clean: redact, neutralise, redact).
SPLIT = st.none() | st.tuples(st.integers(1, 100), st.sampled_from(["\x1b[0m", "\x1b[1;31m", "\x1b[K", "\x1b[2J"]))


def split(secret: str, how: tuple[int, str] | None) -> str:
    if how is None:
        return secret
    at = 1 + how[0] % (len(secret) - 1)
    return secret[:at] + how[1] + secret[at:]


def with_secret(pieces: list[bytes], secret: str, places: list[int]) -> bytes:
    """The pieces with the secret put at each of ``places``, between pieces."""
    out = list(pieces)
    for place in sorted(places, reverse=True):
        out.insert(place % (len(out) + 1), secret.encode())
    return b"".join(out)


def run_child(data: bytes, on_line: Callable[[str], None]) -> process.Completed:
    """``data`` printed by a child, read by ``process.run`` as autopack reads Maven or docker."""
    with tempfile.NamedTemporaryFile(prefix="autopack-property-") as f:
        f.write(data)
        f.flush()
        return process.run(["cat", f.name], on_line=on_line, check=False)


_FROZEN = types.SimpleNamespace(strftime=lambda *a: "12:00:00", time=lambda: 0.0, monotonic=lambda: 0.0)


@contextmanager
def frozen_clock() -> Iterator[None]:
    """The renderers' clocks stopped, so that their framing is the same on every render."""
    with mock.patch.object(plain, "time", _FROZEN), mock.patch.object(live, "time", _FROZEN):
        yield


def render(events: list[Event], renderer: str, verbosity: str) -> str:
    stream = io.StringIO()
    with frozen_clock():
        if renderer == "live":
            with LiveRenderer(stream, STAGES, verbosity) as view:
                for event in events:
                    view(event)
        else:
            with PlainRenderer(stream, verbosity, colour=renderer == "plain-colour", sections=renderer == "plain-sections") as lines:
                for event in events:
                    lines(event)
    return stream.getvalue()


@functools.cache
def framing() -> str:
    """Everything the renderers print of their own, for events that carry no text."""
    outputs = []
    for renderer in ("plain", "plain-colour", "plain-sections", "live"):
        for verbosity in ("quiet", "normal", "verbose"):
            for status in ("ok", "failed"):
                events: list[Event] = []
                for stage, title in STAGES.items():
                    events += [StageStarted(stage, title), Progress(stage, ""), Progress(stage, "", {"module": ""})]
                    events += [LogLine(stage, "", level) for level in ("debug", "info", "warning", "error")]
                    events.append(StageFinished(stage, status, 1.0))  # type: ignore[arg-type]
                outputs.append(render(events, renderer, verbosity))
    return "\n".join(outputs)


def framed(stage: str, body: Callable[[Callable[[Event], None]], None]) -> list[Event]:
    events: list[Event] = [StageStarted(stage, STAGES[stage])]
    body(events.append)
    events.append(StageFinished(stage, "failed", 1.0))
    return events


PLACES = st.lists(st.integers(0, 1000), min_size=1, max_size=3)


@settings(max_examples=150)
@given(chunks_of_bytes(MAVEN_LINES), SECRET, PLACES, SPLIT, RENDERERS, VERBOSITY)
@example([b"[INFO] Building ", b" 1.0\n"], "hunter2-token", [1], None, "live", "verbose")  # the module name is the secret
@example([b"[ERROR] Could not find artifact g:a:jar:1 in m (https://" + b"h" * 300 + b")\n"], "hunter2-token", [0], None, "plain", "normal")
@example([b"[ERROR] ", b"\n"], "hunter2-token", [1], (3, "\x1b[0m"), "plain", "normal")
def test_maven_output_renders_without_a_crash_or_a_secret(pieces: list[bytes], secret: str, places: list[int], how: tuple[int, str] | None, renderer: str, verbosity: str) -> None:
    assume(secret not in framing())
    with only_secrets(secret):

        def run(emit: Callable[[Event], None]) -> None:
            watcher = MavenWatcher(emit)
            watcher.local_repository = Path("/nonexistent/m2")
            completed = run_child(with_secret(pieces, split(secret, how), places), watcher)
            error = watcher.failure(Path("/logs/maven.log"), completed)
            emit(LogLine("maven", error.one_line(), "error"))

        out = render(framed("maven", run), renderer, verbosity)
    assert secret not in out


@settings(max_examples=20)
@given(st.integers(200, 600), st.sampled_from(["Could not find artifact tmp:{a}:jar:1 in central (https://repo/x)", "Could not transfer artifact tmp:{a}:jar:1 from/to central (https://repo/x): 401"]))
@example(256, "Could not find artifact tmp:{a}:jar:1 in central (https://repo/x)")
def test_maven_failure_report_survives_any_artifact_name(length: int, error: str) -> None:
    watcher = MavenWatcher(lambda event: None)
    watcher.local_repository = Path("/")  # /tmp exists: the lookup reaches the long name
    watcher("[ERROR] " + error.format(a="a" * length))
    assert isinstance(watcher.failure(Path("/logs/maven.log"), process.Completed(("mvn",), 1, ())), AutopackError)


@settings(max_examples=150)
@given(chunks_of_bytes(BUILDKIT_LINES), SECRET, PLACES, SPLIT, RENDERERS, VERBOSITY)
def test_buildkit_progress_renders_without_a_crash_or_a_secret(pieces: list[bytes], secret: str, places: list[int], how: tuple[int, str] | None, renderer: str, verbosity: str) -> None:
    assume(secret not in framing())
    with only_secrets(secret):

        def run(emit: Callable[[Event], None]) -> None:
            watcher = buildkit.ProgressWatcher(emit)
            completed = run_child(with_secret(pieces, split(secret, how), places), watcher)
            error = watcher.failure(completed)
            emit(LogLine("image", error.one_line(), "error"))

        out = render(framed("image", run), renderer, verbosity)
    assert secret not in out


# The Engine API's stream: dicts of any JSON value, and the shapes the engine really sends.
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
KEYS = st.sampled_from(["stream", "status", "id", "error", "errorDetail", "aux", "progress", "progressDetail", "message"])
STREAM_TEXT = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["Step 1/3 : FROM x\n", "Step x/y : RUN z\n", "Step 1/ : X\n", "Step ٣/٤ : X\n", "Step : \n", " ---> abc\n", "Successfully built 0123abcd\n", "Successfully built \n", "\n", "\r\n"]),
    st.sampled_from(ESCAPES),
)
ENGINE_CHUNK = st.one_of(
    st.dictionaries(KEYS | st.text(max_size=8), JSON, max_size=4),
    st.fixed_dictionaries({"stream": STREAM_TEXT}),
    st.fixed_dictionaries({"status": st.text(max_size=20)}, optional={"id": st.text(max_size=12), "progressDetail": JSON}),
    st.fixed_dictionaries({"aux": st.fixed_dictionaries({"ID": st.text(max_size=20)})}),
    st.fixed_dictionaries({"errorDetail": st.fixed_dictionaries({"message": st.text(max_size=30)}, optional={"code": st.integers()}), "error": st.text(max_size=30)}),
    st.fixed_dictionaries({"errorDetail": JSON}, optional={"error": JSON}),
    st.fixed_dictionaries({"aux": JSON}),
)


def place_secret(chunk: dict, secret: str, where: int) -> dict:
    """The chunk with the secret put into one of its text values (or a new "stream")."""
    texts = [k for k, v in chunk.items() if isinstance(v, str)]
    if not texts:
        return {**chunk, "stream": secret}
    key = texts[where % len(texts)]
    value = chunk[key]
    at = where % (len(value) + 1)
    return {**chunk, key: value[:at] + secret + value[at:]}


def image_ids(chunks: list[dict]) -> set[str]:
    """What the stream names as the image: an ``aux.ID``, or the word after a whole line
    ``Successfully built``."""
    ids = {c["aux"]["ID"] for c in chunks if isinstance(c.get("aux"), dict) and isinstance(c["aux"].get("ID"), str)}
    text = "".join(c["stream"] for c in chunks if isinstance(c.get("stream"), str))
    return ids | set(re.findall(r"(?m)^Successfully built (\S+)\s*\r?$", text))


@settings(max_examples=200)
@given(st.lists(ENGINE_CHUNK, max_size=12), SECRET, st.lists(st.tuples(st.integers(0, 100), st.integers(0, 1000)), max_size=3), SPLIT, RENDERERS, VERBOSITY)
@example([{"stream": "Step x/y : RUN z\n"}], "hunter2-token", [], None, "plain", "verbose")  # int("x"): ValueError
@example([{"stream": "Step : : x\n"}], "hunter2-token", [], None, "plain", "verbose")  # int(": "): ValueError
@example([{"errorDetail": "boom"}], "hunter2-token", [], None, "plain", "verbose")  # "boom".get: AttributeError
@example([{"errorDetail": 0, "error": 0}], "hunter2-token", [], None, "plain", "verbose")  # (0).get: AttributeError
@example([{"error": 1}], "hunter2-token", [], None, "plain", "verbose")  # (1).strip: AttributeError
@example([{"error": " "}], "hunter2-token", [], None, "plain", "verbose")  # an error of blanks was no error
@example([{"aux": ["x"]}], "hunter2-token", [], None, "plain", "verbose")  # ["x"].get: AttributeError
@example([{"stream": 5}], "hunter2-token", [], None, "plain", "verbose")  # "" + 5: TypeError
@example([{"stream": "Successfully built \n"}], "hunter2-token", [], None, "plain", "verbose")  # the image id was "built"
@example([{"stream": "hunter2"}, {"stream": "-token\n"}], "hunter2-token", [], None, "live", "verbose")  # split across chunks
@example([{"stream": "x\n"}], "hunter2-token", [(0, 0)], (2, "\x1b[1;31m"), "live", "verbose")
def test_engine_build_stream_renders_without_a_crash_or_a_secret(chunks: list[dict], secret: str, places: list[tuple[int, int]], how: tuple[int, str] | None, renderer: str, verbosity: str) -> None:
    assume(secret not in framing())
    chunks = list(chunks)
    for index, where in places:
        if chunks:
            i = index % len(chunks)
            chunks[i] = place_secret(chunks[i], split(secret, how), where)
    json.dumps(chunks)  # JSON-like, as the SDK decodes them
    with only_secrets(secret):

        def run(emit: Callable[[Event], None]) -> None:
            watcher = docker_api._BuildWatcher(emit)
            for chunk in chunks:
                watcher(chunk)
            watcher.finish()
            assert watcher.image_id == "" or watcher.image_id in image_ids(chunks), watcher.image_id
            reported = any("error" in c or "errorDetail" in c for c in chunks)
            assert bool(watcher.error) == reported, watcher.error
            if watcher.error:
                error = watcher.failure()
                assert isinstance(error, AutopackError)
                emit(LogLine("image", error.one_line(), "error"))

        out = render(framed("image", run), renderer, verbosity)
    assert secret not in out
