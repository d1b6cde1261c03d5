"""Maven's download failures, said in one line.

When Maven cannot download something it prints a chain of causes on one [ERROR] line of 300
to 1000 characters ("Plugin … could not be resolved: Failed to read artifact descriptor for …:
Could not transfer artifact … from/to mirror (…): transfer failed for …: Connect to … failed:
Connection refused -> [Help 1]"), or, for a parent POM, a [FATAL] line plus a project-building
report. A user needs four facts from it: which artifact, which repository, why, and what to do.
``download_failure`` finds the innermost cause and returns those as one ``MavenError`` (exit
4), or None when the failure is not a download (a compile error, a failing test).

The patterns are written against Maven 3.8.7's real output (resolver 1.6, wagon transport:
"status: 403 Forbidden", "Connect to h:p [/h] failed: Connection refused", "Read timed out",
"Unknown host h") and accept Maven 3.9's wording (resolver 1.9: "status code: 403, reason
phrase: Forbidden (403)", the cause on its own line after "The following artifacts could not
be resolved: … (absent):"). Lines may be bodies (as ``MavenWatcher.errors`` keeps them) or raw
``[ERROR]``/``[FATAL]`` lines; other levels are ignored. Repository URLs lose any user-info.

The hint depends on the local repository: a file that is already there but that Maven still
tried to download was recorded (``_remote.repositories``) as coming from another repository
id, and Maven 3.8 refuses it even with ``--offline``; deleting that record lets Maven use it.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from pathlib import Path

from autopack import secrets
from autopack.errors import MavenError

_GAV = r"[\w.-]+:[\w.-]+:[\w.-]+(?::[\w.-]+)?:[\w.${}-]+"  # group:artifact:ext[:classifier]:version
_CAUSES = (  # (pattern, reason when it has no <reason> group, cached?)
    (re.compile(rf"Cannot access (?P<id>\S+) \((?P<url>[^)\s]+)\) in offline mode and the artifact (?P<artifact>{_GAV}) has not been downloaded from it before"), "offline", False),
    (re.compile(rf"(?P<artifact>{_GAV}) (?P<how>was not found in|failed to transfer from) (?P<url>\S+) during a previous attempt.*?update interval of (?P<id>\S+) has elapsed"), "", True),
    (re.compile(rf"Failure to (?P<how>find|transfer) (?P<artifact>{_GAV}) (?:in|from) (?P<url>\S+) was cached in the local repository.*?update interval of (?P<id>\S+) has elapsed"), "", True),
    (re.compile(rf"Could not transfer artifact (?P<artifact>{_GAV}) from/to (?P<id>\S+) \((?P<url>[^)\s]+)\): (?P<reason>.+)"), "", False),
    (re.compile(rf"Could not find artifact (?P<artifact>{_GAV}) in (?P<id>\S+) \((?P<url>[^)\s]+)\)"), "not found", False),
)
_CONTEXTS = (
    (re.compile(r"Plugin (?P<what>\S+) or one of its dependencies could not be resolved"), "for plugin {}"),
    (re.compile(r"Non-resolvable parent POM for (?P<what>[\w.-]+:[\w.-]+:[\w.${}-]+)"), "parent POM of {}"),
    (re.compile(r"Non-resolvable import POM"), "import POM"),
    (re.compile(r"Unresolveable build extension"), "build extension"),
    (re.compile(r"Could not resolve dependencies for project (?P<what>[\w.-]+(?::[\w.${}-]+){2,4})"), "dependency of {}"),
)
_NETWORK = (
    (re.compile(r"Connection refused"), "connection refused"),
    (re.compile(r"Unknown host|Name or service not known|nodename nor servname|name resolution|No such host"), "unknown host"),
    (re.compile(r"timed out|Timeout", re.I), "timed out"),
    (re.compile(r"Connection reset"), "connection reset"),
    (re.compile(r"No route to host|Network is unreachable"), "network unreachable"),
    (re.compile(r"PKIX|certification path|SSLHandshake|certificate", re.I), "TLS certificate not trusted"),
)
_STATUS = re.compile(r"status(?: code)?: (?P<code>[1-5]\d\d)(?:, reason phrase:)? ?(?P<phrase>[A-Za-z][A-Za-z -]*[A-Za-z])?")
_LEVEL = re.compile(r"^\[(?P<level>[A-Z]+)\] ?")
_HELP = re.compile(r"\s*-> \[Help \d+\]\s*$")
_URL = re.compile(r"\b[a-z][a-z0-9+.-]*://[^\s)]+", re.I)


def _bodies(lines: Sequence[str]) -> list[str]:
    bodies = []
    for line in lines:
        while m := _LEVEL.match(line):  # "[ERROR] [ERROR] Some problems…" has two
            if m["level"] not in ("ERROR", "FATAL"):
                break
            line = line[m.end() :]
        else:
            bodies.append(_HELP.sub("", line.strip()))
    return bodies


def _reason(raw: str) -> str:
    if m := _STATUS.search(raw):
        return f"{m['code']} {m['phrase']}" if m["phrase"] else f"HTTP {m['code']}"
    for pattern, short in _NETWORK:
        if pattern.search(raw):
            return short
    said = re.sub(r"^transfer failed for \S+: ", "", raw).strip().rstrip(".")
    said = _URL.sub(lambda u: secrets.strip_url_credentials(u[0]), said)
    return said if len(said) <= 80 else said[:77] + "…"


def local_file(local_repository: Path, coordinates: str) -> Path:
    """Where ``group:artifact:ext[:classifier]:version`` lies in a local repository."""
    group, artifact, ext, *classifier, version = coordinates.split(":")
    name = f"{artifact}-{version}{''.join('-' + c for c in classifier)}.{ext}"
    return local_repository.joinpath(*group.split("."), artifact, version, name)


def download_failure(lines: Sequence[str], local_repository: Path, mirror_ids: Collection[str] = ()) -> MavenError | None:
    """The one-line error for Maven's ``[ERROR]``/``[FATAL]`` lines when Maven failed to
    download an artifact, else None."""
    bodies = _bodies(lines)
    found = next(((m, fixed, cached, body) for body in bodies for pattern, fixed, cached in _CAUSES if (m := pattern.search(body))), None)
    if found is None:
        return None
    m, fixed, cached, body = found
    groups = m.groupdict()
    reason = fixed or (_reason(groups["reason"]) if groups.get("reason") else "")
    if cached:
        original = _CAUSES[3][0].search(body[m.end() :])
        absent = groups["how"] in ("was not found in", "find")
        reason = "not found" if absent else _reason(original["reason"]) if original else "transfer failed"
    joined = "\n".join(bodies)
    context = next((text.format(*hit.groups()) for pattern, text in _CONTEXTS if (hit := pattern.search(joined))), "")
    artifact, repo, url = groups["artifact"], groups["id"], secrets.strip_url_credentials(secrets.redact(groups["url"]))
    message = f"Maven could not download {artifact}{f' ({context})' if context else ''} from {repo} ({url}): {reason}{' (cached)' if cached else ''}"

    file = local_file(local_repository, artifact)
    mirror = repo in mirror_ids
    if _is_file(file):
        hint = f"{file} is already in the local repository, recorded as downloaded from another repository: delete {file.parent / '_remote.repositories'} and Maven uses it (--offline alone does not help)"
    elif reason == "offline":
        hint = f"it was never downloaded into {local_repository}: run once online, or drop --offline"
    elif reason == "not found":
        hint = f"check the coordinates, and the <mirror> {repo} in settings.xml (its <url>, <mirrorOf>)" if mirror else f"check the coordinates, and that repository {repo} holds them"
    elif reason[:3] in ("401", "403", "407"):
        hint = f"check the <mirror> {repo} in settings.xml and the credentials of <server> {repo}" if mirror else f"check the credentials of <server> {repo} in settings.xml, or the proxy's access rules"
    else:
        hint = f"check the <mirror> {repo} in settings.xml (its <url>), the network and the proxy" if mirror else "check the network, the proxy (<proxies> in settings.xml) and the repository URL"
    if cached:
        hint += "; Maven cached this failure: once fixed, add --maven-arg=-U"
    return MavenError(message, hint)


def _is_file(path: Path) -> bool:
    """``Path.is_file``, but False for a path the system cannot even look up (a name over
    255 bytes from Maven's output raises ENAMETOOLONG)."""
    try:
        return path.is_file()
    except OSError:
        return False
