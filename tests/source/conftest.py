"""The loopback git server and repository, shared with tests/e2e (see tests/servers/git_fixtures.py)."""

from tests.servers.git_fixtures import fresh_remote, git_remote, git_server  # noqa: F401  (fixtures)
