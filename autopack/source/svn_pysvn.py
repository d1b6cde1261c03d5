"""The svn backend on pysvn (Debian's python3-svn): one ``pysvn.Client`` per run, with its
own temporary config directory, no auth cache, no stored passwords and callbacks that
never prompt."""

from __future__ import annotations

import shutil
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import pysvn

from autopack.events import Emit
from autopack.source.base import Login
from autopack.source.svn_client import Facts, FileCounter, SvnFailure, normalize_fingerprint, trusted_fingerprint

_LOGIN_TRIES = 1  # offer the login once: a second request means the server refused it
_FILE_ACTIONS = {
    pysvn.wc_notify_action.update_add,
    pysvn.wc_notify_action.update_update,
}


class Client:
    def __init__(self, login: Login | None, emit: Emit) -> None:
        self.login = login
        self.emit = emit
        self.config_dir = tempfile.mkdtemp(prefix="autopack-svn-")
        self.login_requests = 0
        self.counter = FileCounter(emit)
        client = pysvn.Client(self.config_dir)
        client.exception_style = 1  # (message, [(message, code), …]): codes to classify by
        client.set_auth_cache(False)
        client.set_store_passwords(False)
        client.callback_get_login = self._get_login
        client.callback_ssl_server_trust_prompt = self._trust_server
        client.callback_get_log_message = lambda: (False, "")  # we never commit
        client.callback_notify = self._notify
        self.client = client

    def _get_login(self, realm: str, username: str, may_save: bool) -> tuple[bool, str, str, bool]:
        self.login_requests += 1
        if self.login is None or self.login_requests > _LOGIN_TRIES:
            return False, "", "", False  # refuse: svn gives up (cancelled), never prompts
        return True, self.login.username, self.login.password, False

    def _trust_server(self, trust: dict) -> tuple[bool, int, bool]:
        wanted = trusted_fingerprint()
        presented = normalize_fingerprint(str(trust.get("finger_print", "")))
        if wanted and presented == wanted:
            return True, trust["failures"], False  # accept this once, never permanently
        return False, 0, False

    def _notify(self, event: dict) -> None:
        if event.get("action") in _FILE_ACTIONS and event.get("kind") != pysvn.node_kind.dir:
            self.counter.add(str(event.get("path", "")))

    def _call(self, method, *args, **kwargs):
        try:
            return method(*args, **kwargs)
        except pysvn.ClientError as e:
            errors = [(int(code), str(message)) for message, code in e.args[1]] if len(e.args) > 1 else [(0, str(e))]
            refused = self.login_requests > (_LOGIN_TRIES if self.login else 0)
            raise SvnFailure(errors, login_refused=refused) from e

    def info(self, url: str, revision: str) -> Facts:
        rev = _revision(revision)
        entries = self._call(self.client.info2, url, revision=rev, peg_revision=rev, recurse=False)
        return _facts(entries[0][1])

    def checkout(self, url: str, revision: int, path: Path) -> None:
        rev = _revision(str(revision))
        self.counter.root = path
        self._call(self.client.checkout, url, str(path), recurse=True, revision=rev, peg_revision=rev, ignore_externals=True)
        self.counter.report()

    def switch(self, path: Path, url: str, revision: int) -> None:
        rev = _revision(str(revision))
        self.counter.root = path
        self._call(self.client.switch, str(path), url, recurse=True, revision=rev, peg_revision=rev, ignore_ancestry=True, ignore_externals=True)
        self.counter.report()

    def externals(self, target: str, revision: str | None = None, peg: str | None = None) -> dict[str, str]:
        if "://" in target:
            rev = _revision(revision or "HEAD")
            found = self._call(self.client.propget, "svn:externals", target, revision=rev, peg_revision=_revision(peg or revision or "HEAD"), recurse=True)
        else:
            found = self._call(self.client.propget, "svn:externals", target, revision=pysvn.Revision(pysvn.opt_revision_kind.working), recurse=True)
        return {str(k): str(v) for k, v in found.items()}

    def export(self, url: str, peg: str, revision: str, path: Path) -> None:
        self.counter = FileCounter(self.emit)
        self.counter.root = path
        self._call(self.client.export, url, str(path), force=False, revision=_revision(revision), peg_revision=_revision(peg), ignore_externals=True, recurse=True)
        self.counter.report()

    def is_clean(self, path: Path) -> bool:
        # get_all=False: only the items that are not pristine (externals not followed are not)
        return not self._call(self.client.status, str(path), recurse=True, get_all=False, ignore=False, ignore_externals=True)

    def clean(self, path: Path) -> None:
        self._call(self.client.revert, str(path), recurse=True)
        leftovers = (pysvn.wc_status_kind.unversioned, pysvn.wc_status_kind.ignored)
        for status in self._call(self.client.status, str(path), recurse=True, get_all=False, ignore=False, ignore_externals=True):
            if status.text_status in leftovers:
                _remove(Path(status.path))

    def wc_info(self, path: Path) -> Facts:
        return _facts(self._call(self.client.info2, str(path), recurse=False)[0][1])

    def close(self) -> None:
        shutil.rmtree(self.config_dir, ignore_errors=True)


def _revision(value: str) -> pysvn.Revision:
    if value.upper() == "HEAD":
        return pysvn.Revision(pysvn.opt_revision_kind.head)
    return pysvn.Revision(pysvn.opt_revision_kind.number, int(value))


def _facts(info) -> Facts:
    changed = info["last_changed_rev"]
    date = info["last_changed_date"]
    return Facts(
        url=info["URL"],
        repos_root=info["repos_root_URL"],
        revision=info["rev"].number,
        kind="dir" if info["kind"] == pysvn.node_kind.dir else "file",
        last_changed_revision=changed.number if changed is not None else None,
        author=info["last_changed_author"],
        committed_at=datetime.fromtimestamp(int(date), timezone.utc).isoformat() if date is not None else None,
    )


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)
