"""Tag templates in, validated image references out — before any work starts.

A template is either a tag (``{version}-{revision}``), applied to the image name, or a full
reference whose last path component holds a ``:`` (``registry:5000/team/app:{version}``).
Placeholders are filled from the project's facts; every value is made tag-safe first
(``feature/login`` → ``feature-login``) and every result is checked against the Docker
reference grammar (distribution/reference), so a bad tag fails with exit 2, not after Maven.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterable, Mapping

from autopack.errors import UsageError

PLACEHOLDERS = ("version", "revision", "branch", "build", "timestamp", "artifactId", "groupId")
DEFAULT_TAGS = ("{version}",)

# The grammar of github.com/distribution/reference, written out once.
_ALNUM = r"[a-z0-9]+"
_SEPARATOR = r"(?:[._]|__|[-]+)"
_PATH_COMPONENT = rf"{_ALNUM}(?:{_SEPARATOR}{_ALNUM})*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[0-9a-fA-F:]+\])(?::[0-9]+)?"
_TAG = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"  # ASCII only: \w would admit any letter
_REFERENCE = re.compile(rf"^(?:(?P<domain>{_DOMAIN})/)?(?P<path>{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*)(?::(?P<tag>{_TAG}))?$")
_TAG_ONLY = re.compile(rf"^{_TAG}$")
_NAME_MAX = 255


def tag_safe(value: str) -> str:
    """A fact made usable inside a tag: invalid characters become ``-``, no leading
    ``.``/``-``, at most 128 characters."""
    cleaned = re.sub(r"[^A-Za-z0-9_.-]+", "-", value).lstrip(".-")
    return cleaned[:128]


def split_reference(reference: str) -> tuple[str, str]:
    """``name[:tag]`` → (name, tag); a ``:`` inside the registry's host:port is not a tag."""
    last = reference.rpartition("/")[2]
    if ":" in last:
        tag = last.partition(":")[2]
        return reference[: len(reference) - len(tag) - 1], tag  # all before ":tag", a leading "/" too
    return reference, ""


def registry_of(name: str) -> str | None:
    """The registry a ``registry[:port]/path`` name starts with; None when its first part is
    no host (``team/app``, ``app``: Docker Hub, implied)."""
    first, slash, _ = name.partition("/")
    return first if slash and ("." in first or ":" in first or first == "localhost") else None


def validate_reference(reference: str) -> None:
    """Raise ``UsageError`` unless ``reference`` is a valid ``name:tag``."""
    match = _REFERENCE.fullmatch(reference)  # fullmatch: "$" would accept a trailing newline
    name, tag = split_reference(reference)
    if not match or not tag:
        problem = "has no tag" if match else _explain(reference)
        raise UsageError(
            f"image reference '{reference}' is not valid: {problem}",
            "names are lowercase [a-z0-9] parts joined by '.', '_', '-' or '/', tags are up to 128 of [A-Za-z0-9_.-] not starting with '.' or '-'",
        )
    if len(name) > _NAME_MAX:
        raise UsageError(f"image name '{name}' is longer than {_NAME_MAX} characters", "use a shorter --image")


def _explain(reference: str) -> str:
    name, tag = split_reference(reference)
    if tag and not _TAG_ONLY.fullmatch(tag):
        return f"tag '{tag}' has a character outside [A-Za-z0-9_.-] or starts with '.' or '-'"
    if name != name.lower() and "/" not in name:
        return f"name '{name}' has uppercase letters"
    return f"name '{name}' does not follow the reference grammar"


class _Facts(dict):
    def __missing__(self, key: str) -> str:
        raise KeyError(key)


def render(templates: Iterable[str], image: str, facts: Mapping[str, str | None]) -> list[str]:
    """Fill every template and the image name; return the distinct references in order."""
    values = {k: tag_safe(v) for k, v in facts.items() if v}
    name = _fill(image, values, facts)
    references: list[str] = []
    for template in templates or DEFAULT_TAGS:
        filled = _fill(template, values, facts)
        reference = filled if ":" in filled.rpartition("/")[2] else f"{name}:{filled}"
        validate_reference(reference)
        if reference not in references:
            references.append(reference)
    return references


def _fields(template: str) -> list[str]:
    """Every placeholder of ``template``, those nested in a format spec (``{a:{b}}``) too."""
    found = []
    for _, field, spec, _ in string.Formatter().parse(template):
        if field is not None:
            found.append(field)
        if spec:
            found += _fields(spec)
    return found


def _fill(template: str, values: Mapping[str, str], facts: Mapping[str, str | None]) -> str:
    try:
        fields = _fields(template)
    except ValueError as e:
        raise UsageError(f"tag template '{template}' is malformed: {e}", "balance the braces: '{version}'") from e
    for field in fields:
        if field not in PLACEHOLDERS:
            raise UsageError(
                f"tag template '{template}' uses unknown placeholder '{{{field}}}'",
                "known placeholders: " + " ".join("{" + p + "}" for p in PLACEHOLDERS),
            )
        if field not in values:
            raise UsageError(
                f"tag template '{template}' needs {{{field}}}, which this build does not know",
                _MISSING_HINTS.get(field, "drop that tag"),
            )
    try:
        return template.format_map(_Facts(values))
    except (ValueError, TypeError) as e:  # a conversion or format spec str.format refuses: {version!x}, {version:d}
        raise UsageError(f"tag template '{template}' is malformed: {e}", "write placeholders as '{version}', without '!' or ':'") from e


_MISSING_HINTS = {
    "revision": "build from a git or svn source (or a working copy), or drop that tag",
    "branch": "build from a branch of a git or svn source, or drop that tag",
    "build": "pass --build-number N (or set BUILD_NUMBER / CI_PIPELINE_IID), or drop that tag",
}
