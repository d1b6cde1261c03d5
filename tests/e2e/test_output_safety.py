"""A repository whose commit message and branch name carry terminal control sequences cannot
drive the console of whoever reads autopack's output: the installed command checks it out
and prints what it found, with every sequence inert and visible. Cheap: a local repository,
``autopack checkout`` of its file:// URL, no engine and no Maven."""

from __future__ import annotations

import re

import pytest

from tests.conftest import autopack, git

pytestmark = pytest.mark.e2e

# A clipboard write (OSC 52, ended by ST), a hyperlink (OSC 8), a title change, erase-screen
# and colour codes (CSI).
SUBJECT = "release \x1b]52;c;cm0gLXJmIH4K\x1b\\ notes \x1b]8;;https://evil.example/\x07click\x1b]8;;\x07 \x1b]0;pwned\x07\x1b[2J\x1b[31mred\x1b[0m"
# git refuses ESC in a ref name, but not the UTF-8 of a C1 control: U+009B is an 8-bit CSI.
BRANCH = "feature/\u009b2J-x"
FORBIDDEN = re.compile(r"\x1b[\]PX^_c]|\x1b\[2J|\x07|[\x80-\x9f]")
OWN_CODES = re.compile(r"\x1b\[0Ksection_(start|end):\d+:autopack_\w+\r\x1b\[0K|\x1b\[(0|32|31|33|1;31|1;36)m")


@pytest.mark.parametrize("ci", ["pipe", "gitlab"])
def test_a_commit_message_and_a_branch_name_reach_the_output_inert(tmp_path, ci):
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", BRANCH)
    git(repo, "commit", "-q", "--allow-empty", "-m", SUBJECT)
    env = {"GITLAB_CI": "true"} if ci == "gitlab" else {}

    run = autopack("checkout", f"file://{repo}/.git", tmp_path / "wc", "--result-file", tmp_path / "result.json", env=env, timeout=120)

    assert run.returncode == 0, run.stdout + run.stderr
    output = run.stdout + run.stderr
    assert not FORBIDDEN.search(output), FORBIDDEN.findall(output)
    # What was attempted shows, on the line of the checkout and in the summary.
    assert "release ^[]52;c;cm0gLXJmIH4K^[\\ notes ^[]8;;https://evil.example/^Gclick^[]8;;^G ^[]0;pwned^Gred" in run.stdout
    assert "(feature/\ufffd2J-x)" in run.stdout
    assert re.search(r"^revision: +[0-9a-f]{8} \(feature/\ufffd2J-x\)$", run.stdout, re.MULTILINE)
    if ci == "gitlab":  # autopack's own sections and colours are still there, and nothing else is
        assert re.search(r"\x1b\[0Ksection_start:\d+:autopack_source\r\x1b\[0K", run.stdout)
        assert "\x1b[32m" in run.stdout
    assert "\x1b" not in OWN_CODES.sub("", output)
