"""A cached bare mirror is autopack's own: what its files say is checked on every use, never
obeyed. Several jobs (and anyone who can write the cache) share it, and a git repository's
own files can run commands (hooks, ``core.fsmonitor``, ``core.sshCommand``,
``remote.*.uploadpack``, ``credential.helper``, ``core.alternateRefsCommand``, filter
drivers) or make it another repository (``remote.origin.url``, ``include.path``,
``objects/info/alternates``, ``commondir``).

``seal`` runs once a clone is complete: the config becomes exactly autopack's (the URL, the
mirror refspec, nothing else) and ``hooks/`` is emptied. ``changed`` compares a mirror with
what ``seal`` left: the config byte for byte, no hook, no alternates, no file at the top that
git does not make there, no symbolic link. Any difference means someone else wrote into the
entry, and the mirror is cloned again — it is never repaired in place, because what else
was changed cannot be known.

Every git command also runs with hooks and fsmonitor off and ``GIT_SSH_COMMAND`` and
``GIT_ALLOW_PROTOCOL`` set (``git_auth.environment``), and the fetch names the URL itself,
not ``origin``: even an unnoticed change could neither run a command nor pick the remote.
"""

from __future__ import annotations

import shutil
from pathlib import Path

# What git itself keeps at the top of a bare repository that it cloned and fetched into
# (gc's pid file while it runs); autopack's completion marker sits beside them.
_TOP_LEVEL = frozenset({"HEAD", "config", "description", "hooks", "info", "objects", "refs", "packed-refs", "FETCH_HEAD", "branches", "logs", "gc.pid", "gc.log", ".autopack-complete"})
_INFO = frozenset({"exclude", "refs"})
_ALTERNATES = ("objects/info/alternates", "objects/info/http-alternates")
REFSPEC = "+refs/*:refs/*"


def config_text(url: str, object_format: str = "sha1") -> str:
    """The whole config of a mirror of ``url`` (the URL quoted as git's config syntax wants)."""
    quoted = '"' + url.replace("\\", "\\\\").replace('"', '\\"') + '"'
    extensions = "" if object_format == "sha1" else f"[extensions]\n\tobjectformat = {object_format}\n"
    version = 0 if object_format == "sha1" else 1
    return f'[core]\n\trepositoryformatversion = {version}\n\tbare = true\n{extensions}[remote "origin"]\n\turl = {quoted}\n\tfetch = {REFSPEC}\n\tmirror = true\n'


def seal(mirror: Path, url: str, object_format: str) -> None:
    """Make a freshly cloned ``mirror`` the one ``changed`` expects."""
    (mirror / "config").write_text(config_text(url, object_format))
    hooks = mirror / "hooks"
    shutil.rmtree(hooks, ignore_errors=True)
    hooks.mkdir()


def changed(mirror: Path, url: str) -> str | None:
    """What differs from a sealed mirror of ``url`` (for the warning), or None."""
    for entry in mirror.iterdir():
        if entry.name not in _TOP_LEVEL:
            return f"an unexpected '{entry.name}'"
        if entry.is_symlink():
            return f"'{entry.name}' is a symbolic link"
    config = mirror / "config"
    try:
        text = config.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return "its config cannot be read"
    if text not in (config_text(url, "sha1"), config_text(url, "sha256")):
        return "its config is not autopack's"
    hooks = mirror / "hooks"
    if hooks.is_dir() and any(hooks.iterdir()):
        return "hooks/ is not empty"
    info = mirror / "info"
    if info.is_dir() and (extra := sorted(p.name for p in info.iterdir() if p.name not in _INFO or p.is_symlink())):
        return f"an unexpected 'info/{extra[0]}'"
    for name in _ALTERNATES:
        if (mirror / name).exists() or (mirror / name).is_symlink():
            return f"it has {name}"
    return None
