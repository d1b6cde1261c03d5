"""The options the Jenkins step and the GitLab template pass are options ``autopack build``
has: the integrations break silently when the command line moves under them."""

from __future__ import annotations

import re

import pytest

from tests.conftest import autopack

USED = {
    "jenkins": ["--push", "--tag", "--image", "--ref", "--revision", "--subdir", "--maven-arg", "--result-file"],
    "gitlab": ["--push", "--tag", "--image", "--result-file", "--dotenv"],
}


@pytest.mark.parametrize("integration", sorted(USED))
def test_the_options_an_integration_passes_exist(integration: str) -> None:
    run = autopack("build", "--help", env={"COLUMNS": "200", "NO_COLOR": "1", "TERM": "dumb"})
    assert run.returncode == 0, run.stderr
    offered = set(re.findall(r"--[a-z][a-z-]*", run.stdout))
    assert not set(USED[integration]) - offered
