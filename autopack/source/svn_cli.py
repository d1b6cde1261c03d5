"""The svn backend on the ``svn`` command line, used when pysvn is not importable.

Every call runs through ``autopack.process`` as ``svn --non-interactive --no-auth-cache
--config-dir <per-run temp dir>``; the password goes to ``--password-from-stdin``, never
into argv or the environment.

HTTPS: svn verifies the server certificate itself and, being non-interactive, fails closed.
When ``AUTOPACK_SVN_TRUST_FINGERPRINT`` is set, autopack fetches the certificate, compares
its SHA-1 fingerprint and only on a match passes ``--trust-server-cert-failures`` (pysvn
compares inside svn's own callback instead; here the certificate is fetched a second time,
so a server that swaps certificates between the two connections could slip through — the
pysvn backend has no such window).
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlsplit

import defusedxml.ElementTree as ET

from autopack import process
from autopack.events import Emit, LogLine
from autopack.source.base import Login
from autopack.source.svn_client import Facts, FileCounter, SvnFailure, server_fingerprint, trusted_fingerprint

_ERROR = re.compile(r"^svn: (?:warning: )?[EW](\d{6}): (.*)$")
_ADDED_OR_UPDATED = re.compile(r"^[AUG][ U]?[ B]?[ C]?\s+(.+)$")
_TRUST_ALL_FAILURES = "unknown-ca,cn-mismatch,expired,not-yet-valid,other"


def command(config_dir: str, login: Login | None, *args: str, trust_failures: bool = False) -> list[str]:
    """The argv of one svn call (pure: tested on its exact output). No secret in it."""
    argv = ["svn", "--non-interactive", "--no-auth-cache", "--config-dir", config_dir]
    if login is not None:
        argv += ["--username", login.username, "--password-from-stdin"]
    if trust_failures:
        argv += [f"--trust-server-cert-failures={_TRUST_ALL_FAILURES}"]
    return [*argv, *args]


class Client:
    def __init__(self, login: Login | None, emit: Emit) -> None:
        self.login = login
        self.emit = emit
        self.config_dir = tempfile.mkdtemp(prefix="autopack-svn-")
        self._trusted: dict[str, bool] = {}

    def _run(self, *args: str, url: str | None = None, counter: FileCounter | None = None) -> str:
        lines: list[str] = []
        errors: list[tuple[int, str]] = []

        def on_line(line: str) -> None:
            lines.append(line)
            if m := _ERROR.match(line):
                errors.append((int(m[1]), m[2]))
            elif counter is not None:
                self.emit(LogLine("source", line, "debug"))
                if (m := _ADDED_OR_UPDATED.match(line)) and not Path(m[1]).is_dir():
                    counter.add(m[1])

        argv = command(self.config_dir, self.login, *args, trust_failures=bool(url and self._trust(url)))
        stdin = self.login.password + "\n" if self.login is not None else None
        env = {**os.environ, "LC_ALL": "C", "LANG": "C"}  # error texts and XML in one known form
        try:
            process.run(argv, env=env, on_line=on_line, stdin_text=stdin, tail_lines=200)
        except process.ProcessFailed as e:
            if not errors:
                errors = [(0, "\n".join(e.completed.tail[-3:]) or str(e))]
            raise SvnFailure(errors, login_refused=any(code == 170001 for code, _ in errors)) from e
        return "\n".join(lines)

    def _trust(self, url: str) -> bool:
        """Whether to accept certificate failures for ``url``: only an https server whose
        certificate has exactly the fingerprint the user configured."""
        wanted = trusted_fingerprint()
        parts = urlsplit(url)
        if not wanted or parts.scheme != "https":
            return False
        key = f"{parts.hostname}:{parts.port or 443}"
        if key not in self._trusted:
            self._trusted[key] = server_fingerprint(url) == wanted  # None: svn fails closed and says why
        return self._trusted[key]

    def info(self, url: str, revision: str) -> Facts:
        return _facts(self._run("info", "--xml", f"{url}@{revision.upper()}", url=url))

    def checkout(self, url: str, revision: int, path: Path) -> None:
        counter = FileCounter(self.emit)
        counter.root = path
        self._run("checkout", "--ignore-externals", f"{url}@{revision}", str(path), url=url, counter=counter)
        counter.report()

    def switch(self, path: Path, url: str, revision: int) -> None:
        counter = FileCounter(self.emit)
        counter.root = path
        self._run("switch", "--ignore-ancestry", "--ignore-externals", f"{url}@{revision}", str(path), url=url, counter=counter)
        counter.report()

    def externals(self, target: str, revision: str | None = None, peg: str | None = None) -> dict[str, str]:
        remote = "://" in target
        args = ["propget", "svn:externals", "--recursive", "--xml"]
        if remote:
            args += ["--revision", revision or "HEAD", f"{target}@{peg or revision or 'HEAD'}"]
        else:
            args += [target]
        xml = self._run(*args, url=target if remote else None)
        start = xml.find("<?xml")
        root = ET.fromstring(xml[start:] if start >= 0 else xml)
        found = {}
        for element in root.iter("target"):
            value = "".join(p.text or "" for p in element.iter("property") if p.get("name") == "svn:externals")
            found[element.get("path", "")] = value
        return found

    def export(self, url: str, peg: str, revision: str, path: Path) -> None:
        counter = FileCounter(self.emit)
        counter.root = path
        self._run("export", "--ignore-externals", "--revision", revision, f"{url}@{peg}", str(path), url=url, counter=counter)
        counter.report()

    def is_clean(self, path: Path) -> bool:
        # status prints one line per item that is not pristine (externals not followed are not)
        return not self._run("status", "--no-ignore", "--ignore-externals", str(path)).strip()

    def clean(self, path: Path) -> None:
        self._run("revert", "--recursive", str(path))
        self._run("cleanup", "--remove-unversioned", "--remove-ignored", str(path))

    def wc_info(self, path: Path) -> Facts:
        return _facts(self._run("info", "--xml", str(path)))

    def close(self) -> None:
        shutil.rmtree(self.config_dir, ignore_errors=True)


def _facts(xml: str) -> Facts:
    start = xml.find("<?xml")
    entry = ET.fromstring(xml[start:] if start >= 0 else xml).find("entry")
    if entry is None:
        raise SvnFailure([(0, "svn info printed no entry")])
    commit = entry.find("commit")
    date = commit.findtext("date") if commit is not None else None
    return Facts(
        url=entry.findtext("url", ""),
        repos_root=entry.findtext("repository/root", ""),
        revision=int(entry.get("revision", "0")),
        kind=entry.get("kind", "dir"),
        last_changed_revision=int(commit.get("revision")) if commit is not None and commit.get("revision") else None,
        author=commit.findtext("author") if commit is not None else None,
        committed_at=_iso(date) if date else None,
    )


def _iso(svn_date: str) -> str:
    moment = datetime.fromisoformat(svn_date.replace("Z", "+00:00"))
    return moment.astimezone(timezone.utc).replace(microsecond=0).isoformat()
