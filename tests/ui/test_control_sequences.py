"""Text from commits, branches, poms, Maven, the engine and registries cannot drive the
terminal: no control sequence of theirs reaches the live view, the plain output, the
summary or a log file autopack writes — not colour codes only, but cursor movement, OSC 8
hyperlinks, OSC 52 clipboard writes, title changes, DCS strings and the C1 controls — while
autopack's own colours and GitLab section markers still work, rich markup stays literal,
and a secret is masked however a child splits it."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from autopack import printable, process, secrets
from autopack.events import Event, LogLine, Progress, StageFinished, StageStarted
from autopack.printable import clean, clean_lines, neutralise
from autopack.ui.live import LiveRenderer
from autopack.ui.plain import PlainRenderer

OSC52 = "\x1b]52;c;cm0gLXJmIH4K\x07"  # puts "rm -rf ~" on the clipboard
OSC52_ST = "\x1b]52;c;cm0gLXJmIH4K\x1b\\"  # the same, ended by ST instead of BEL
OSC8 = "\x1b]8;;https://evil.example/\x1b\\click here\x1b]8;;\x1b\\"
TITLE = "\x1b]0;sudo password:\x07"
CLEAR = "\x1b[2J\x1b[H"  # erase the screen, cursor home
DSR = "\x1b[6n"  # the terminal answers on stdin
DCS = '\x1bP$q"p\x1b\\'
RIS = "\x1bc"  # full reset
C1_CSI = "\x9b2J"  # 8-bit CSI: erase the screen on a terminal that takes C1
C1_OSC = "\x9d52;c;eA==\x9c"
HOSTILE = f"a{OSC52}b{OSC52_ST}c{OSC8}d{TITLE}e{CLEAR}f{DSR}g{DCS}h{RIS}i{C1_CSI}j{C1_OSC}k\x08\x7f\x00l"

# What must never reach a terminal from untrusted text: the introducers of OSC, DCS, SOS, PM
# and APC strings, ESC c, the erase-screen and report CSIs, BEL, and every C1 control.
FORBIDDEN = re.compile(r"\x1b[\]PX^_c]|\x1b\[2J|\x1b\[6n|\x07|\x08|\x00|\x7f|[\x80-\x9f]")


@pytest.fixture(autouse=True)
def no_known_secrets(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(secrets, "_secrets", set())
    monkeypatch.setattr(secrets, "_held", set())
    yield


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


# --- the rule ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("\x1b[31mnpm ERR!\x1b[0m \x1b[1;4mbuild\x1b[m", "npm ERR! build"),  # colour: removed
        (f"a{CLEAR}b\x1b[1A\x1b[2Kc\x1b[?25l{DSR}d", "abcd"),  # cursor, erase, modes, reports: removed
        (OSC52, "^[]52;c;cm0gLXJmIH4K^G"),
        (OSC52_ST, "^[]52;c;cm0gLXJmIH4K^[\\"),
        (OSC8, "^[]8;;https://evil.example/^[\\click here^[]8;;^[\\"),  # the target shows
        (TITLE, "^[]0;sudo password:^G"),
        (DCS, '^[P$q"p^[\\'),
        (RIS, "^[c"),
        ("\x1b[31", "^[[31"),  # an unfinished CSI is not removed, it is shown
        (C1_CSI, "\ufffd2J"),
        (C1_OSC, "\ufffd52;c;eA==\ufffd"),
        ("bell\x07 back\x08 del\x7f nul\x00 cr\r lf\n vt\x0b", "bell^G back^H del^? nul^@ cr^M lf^J vt^K"),
        ("col1\tcol2", "col1\tcol2"),  # a tab stays
        # A removal cannot rebuild a sequence: no ESC is left after it.
        ("\x1b\x1b[0m]52;c;eA==\x07", "^[]52;c;eA==^G"),
        ("[bold red]ünïcödé → ✓[/] 🚀", "[bold red]ünïcödé → ✓[/] 🚀"),  # printable text untouched
    ],
)
def test_neutralise(text: str, shown: str) -> None:
    assert neutralise(text) == shown


@given(st.text(alphabet=st.characters(codec="utf-8")) | st.text(alphabet="\x1b[]\\;0123456789mPc\x07\x9b\x9c\x9d ab"))
def test_neutralised_text_has_no_control_character_but_tab_and_is_stable(text: str) -> None:
    shown = neutralise(text)
    assert not re.search(r"[\x00-\x08\x0a-\x1f\x7f-\x9f]", shown)
    assert neutralise(shown) == shown


def test_multi_line_text_becomes_lines_each_cleaned() -> None:
    assert clean_lines(f"first {OSC52}\r\nsecond\nthird\n") == ["first ^[]52;c;cm0gLXJmIH4K^G", "second", "third"]
    assert clean_lines("") == [""]
    assert clean("one\ntwo") == "one^Jtwo"


# --- secrets and control characters ------------------------------------------------------


def test_a_secret_split_by_a_colour_code_is_still_masked() -> None:
    # A terminal shows "hunter2-secret": removing the code joins it, and it is masked then.
    secrets.register("hunter2-secret")
    assert clean("password: hunter2\x1b[0m-secret\x1b[31m!") == "password: ******!"


def test_a_secret_holding_a_control_character_is_masked_before_it_is_rendered_visible() -> None:
    secrets.register("pa\x1bss-w0rd")
    shown = clean("login pa\x1bss-w0rd ok")
    assert shown == "login ****** ok"
    assert "ss-w0rd" not in shown


def test_a_secret_across_a_line_break_is_masked() -> None:
    secrets.register("two-line\nsecret")
    assert clean_lines("it is two-line\nsecret, really") == ["it is ******, really"]


@pytest.mark.parametrize("kind", ["plain", "live"])
def test_renderers_mask_a_secret_that_control_codes_split_or_hold(kind: str) -> None:
    secrets.register("hunter2-secret")
    secrets.register("pa\x1bss-w0rd")
    stream = io.StringIO()
    events: list[Event] = [
        StageStarted("maven", "Maven"),
        LogLine("maven", "echo hunter2\x1b[0m-secret", "warning"),
        LogLine("maven", "echo pa\x1bss-w0rd", "error"),
        StageFinished("maven", "failed", 1.0, "auth hunter2\x1b[1m-secret"),
    ]
    renderer = PlainRenderer(stream, "normal") if kind == "plain" else LiveRenderer(stream, {"maven": "Maven"})
    with renderer:
        for event in events:
            renderer(event)
    renderer.summary({"status": "failed", "exitCode": 4, "source": {"revision": "ab", "shortRevision": "ab", "branch": "hunter2\x1b[0m-secret"}})
    output = stream.getvalue()
    for leak in ("hunter2-secret", "ss-w0rd", "hunter2\x1b"):
        assert leak not in output
    assert output.count(secrets.MASK) >= 4


# --- every renderer ----------------------------------------------------------------------


def hostile_events() -> list[Event]:
    return [
        StageStarted("source", f"Source{OSC52}"),
        LogLine("source", f"checked out 1a2b3c4d (feature{C1_CSI}x): {HOSTILE}", "info"),
        Progress("source", f"receiving {TITLE}objects"),
        StageFinished("source", "ok", 0.5, f"at {OSC8}"),
        StageStarted("maven", "Maven"),
        Progress("maven", f"hello{CLEAR} · surefire:test", {"module": f"hello{OSC52_ST}", "key": "hello"}),
        Progress("maven", f"world{DCS} · compile", {"module": f"world{RIS}", "key": "world"}),
        LogLine("maven", f"[INFO] Tests run: 1 {OSC52}", "debug"),
        LogLine("maven", f"[WARNING] {OSC8}", "warning"),
        LogLine("maven", f"[ERROR] {C1_OSC}{DSR}", "error"),
        StageFinished("maven", "ok", 1.5, f"{TITLE}done"),
        StageStarted("push", "Push"),
        Progress("push", f"reg/app {OSC52}: pushing", {"destination": f"reg.example.com/app{OSC52_ST}", "layer": f"sha256:{CLEAR}abc", "state": f"pushing{TITLE}", "current": 1, "total": 2}),
        Progress("push", f"reg/app: {OSC8}", {"destination": f"reg.example.com/app{OSC52_ST}", "state": "verified", "key": "reg"}),
    ]


def hostile_summary() -> dict:
    return {
        "status": "failed",
        "exitCode": 5,
        "project": {"groupId": f"com.example{OSC52}", "artifactId": f"hello{CLEAR}", "version": f"1.0{TITLE}"},
        "source": {"revision": "1a2b", "shortRevision": "1a2b", "branch": f"feature{C1_CSI}/x{OSC8}"},
        "artifacts": [{"path": f"target/hello{DCS}.jar"}],
        "destinations": [{"destination": f"reg.example.com/app{OSC52_ST}", "status": "failed", "digest": None, "attempts": 1, "unchangedTags": [], "error": f"denied: {OSC52}{RIS}"}],
        "logs": {"maven": f"/logs/maven{C1_OSC}.log"},
    }


def render_plain(verbosity: str = "verbose", **options: bool) -> str:
    stream = io.StringIO()
    with PlainRenderer(stream, verbosity, **options) as renderer:
        for event in hostile_events():
            renderer(event)
    renderer.summary(hostile_summary())
    return stream.getvalue()


def render_live(stream: io.StringIO, verbosity: str = "verbose") -> str:
    renderer = LiveRenderer(stream, {"source": "Source", "maven": "Maven", "image": "Image", "push": "Push"}, verbosity, refresh_per_second=50)
    with renderer:
        for event in hostile_events()[:-1]:
            renderer(event)
        # the last frame is drawn while the push runs, so that its layers are in it
        renderer(hostile_events()[-1])
    renderer.summary(hostile_summary())
    return stream.getvalue()


def test_plain_output_holds_no_escape_at_all() -> None:
    output = render_plain()
    assert "\x1b" not in output
    assert not FORBIDDEN.search(output)
    # ... and shows what was attempted, on one line per event
    assert "^[]52;c;cm0gLXJmIH4K^G" in output and "https://evil.example/" in output and "feature\ufffd2Jx" in output
    assert all(re.match(r"^(\d{2}:\d{2}:\d{2} \S+ +|\S+: +)\S", line) for line in output.splitlines())


def test_plain_output_in_gitlab_keeps_its_own_colours_and_sections_only() -> None:
    output = render_plain(colour=True, sections=True)
    assert not FORBIDDEN.search(output)
    assert re.search(r"\x1b\[0Ksection_start:\d+:autopack_source\r\x1b\[0K\x1b\[1;36mSource\^\[\]52;c;cm0gLXJmIH4K\^G\x1b\[0m\n", output)
    assert re.search(r"\x1b\[0Ksection_end:\d+:autopack_maven\r\x1b\[0K\n", output)
    assert "\x1b[33m[WARNING] ^[]8;;https://evil.example/^[\\click here^[]8;;^[\\\x1b[0m" in output
    assert "\x1b[1;31mfailed (exit 5)\x1b[0m" in output
    # Take autopack's own codes away: no escape is left.
    own = re.sub(r"\x1b\[0Ksection_(start|end):\d+:autopack_\w+\r\x1b\[0K|\x1b\[(0|32|31|33|1;31|1;36)m", "", output)
    assert "\x1b" not in own


def test_live_view_to_a_file_holds_no_escape() -> None:
    output = render_live(io.StringIO())
    assert "\x1b" not in output
    assert "^[]52;c;cm0gLXJmIH4K^G" in output and "feature\ufffd2J/x" in output


def test_live_view_on_a_terminal_passes_none_of_the_texts_sequences(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TERM", "xterm-256color")
    monkeypatch.setenv("COLUMNS", "200")
    stream = Terminal()
    output = render_live(stream)
    assert "\x1b[" in output  # rich draws with its own CSI codes ...
    assert not FORBIDDEN.search(output), repr(FORBIDDEN.findall(output)[:5])  # ... and nothing else
    assert "^[]52;c;cm0gLXJmIH4K^G" in output


def test_live_view_prints_rich_markup_literally(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TERM", "xterm-256color")
    monkeypatch.setenv("COLUMNS", "200")
    stream = Terminal()
    renderer = LiveRenderer(stream, {"image": "Image", "odd": "[blink]Odd[/blink]"}, "normal", refresh_per_second=50)
    with renderer:
        renderer(StageStarted("image", "Image"))
        renderer(Progress("image", "[bold red]x[/]", {"module": "[reverse]one[/reverse]"}))
        renderer(Progress("image", "[link=https://evil.example/]two[/link]", {"module": "two"}))
        renderer(LogLine("image", "[link=https://evil.example/]click[/link] :rocket:", "warning"))
    renderer.summary({"status": "ok", "exitCode": 0, "artifacts": [{"path": "[link=https://evil.example/]a.jar[/link]"}]})
    output = stream.getvalue()
    for literal in ("[blink]Odd[/blink]", "[bold red]x[/]", "[link=https://evil.example/]two[/link]", "[reverse]one[/reverse]", "[link=https://evil.example/]click[/link] :rocket:", "[link=https://evil.example/]a.jar[/link]"):
        assert literal in output
    assert "\x1b]8" not in output and "🚀" not in output  # a link or an emoji would mean markup was read


def test_a_log_line_with_line_breaks_cannot_pass_for_autopacks_own() -> None:
    stream = io.StringIO()
    PlainRenderer(stream)(LogLine("maven", "[INFO] fine\n12:00:00 push   ok in 1.0s: pushed\rreg/app", "info"))
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2
    assert all(re.match(r"^\d{2}:\d{2}:\d{2} maven  ", line) for line in lines), lines
    assert lines[1].endswith(" maven  12:00:00 push   ok in 1.0s: pushed^Mreg/app")


# --- log files a child's output goes to --------------------------------------------------


def test_a_childs_log_file_and_tail_carry_no_escape_sequence(tmp_path: Path) -> None:
    secrets.register("hunter2-secret")
    log = tmp_path / "maven.log"
    seen: list[str] = []
    # printf itself turns the octal escapes into the bytes: no shell is involved.
    script = r"[INFO] \033]52;c;cm0gLXJmIH4K\033\\ \033]8;;https://evil.example/\007x\033]8;;\007 \033[2J\033[31mred\033[0m \302\233" + r"2J\n[INFO] pw hunter2\033[0m-secret\n"
    completed = process.run(["printf", script], on_line=seen.append, log_path=log)
    written = log.read_text(encoding="utf-8")
    raw = log.read_bytes()
    assert b"\x1b" not in raw and b"\x07" not in raw and b"\xc2\x9b" not in raw
    assert written == "[INFO] ^[]52;c;cm0gLXJmIH4K^[\\ ^[]8;;https://evil.example/^Gx^[]8;;^G red \ufffd2J\n[INFO] pw ******\n"
    assert list(completed.tail) == written.splitlines()  # error messages quote these
    # The callback gets data for its parser (a ref name may hold a C1 character): colour codes
    # removed and secrets masked, the rest as written; the renderers clean it when they print it.
    assert seen == ["[INFO] \x1b]52;c;cm0gLXJmIH4K\x1b\\ \x1b]8;;https://evil.example/\x07x\x1b]8;;\x07 red \x9b2J", "[INFO] pw ******"]
    stream = io.StringIO()
    with PlainRenderer(stream, "verbose") as renderer:
        for line in seen:
            renderer(LogLine("maven", line))
    assert [line.split(" ", 2)[2].lstrip() for line in stream.getvalue().splitlines()] == written.splitlines()


def test_the_engine_api_image_log_writer_neutralises_everything() -> None:
    # engine/docker_api.py writes image.log lines as printable.clean(line).
    secrets.register("pa\x1bss-w0rd")
    line = f"Step 2/5 : RUN echo {OSC52_ST} pa\x1bss-w0rd \x1b[32mok\x1b[0m"
    assert printable.clean(line) == "Step 2/5 : RUN echo ^[]52;c;cm0gLXJmIH4K^[\\ ****** ok"
