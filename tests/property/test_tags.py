"""Properties of image references and tag templates (autopack.tags).

The oracle is the reference grammar of the Docker distribution project, written out below
from its source rather than imported from autopack, so that the two are compared:

  https://github.com/distribution/reference/blob/main/regexp.go (the constants, verbatim)
  https://github.com/distribution/reference/blob/main/reference.go (the grammar, Parse)

Go's ``regexp`` has ASCII ``\\w`` and a ``$`` that matches only at the very end, hence
``re.ASCII`` and ``\\A…\\Z``. What autopack accepts is that grammar plus its own rules: a tag
is required, no ``@digest``, and the whole name at most 255 characters (docker/distribution
v2's ``len(matches[1]) > NameTotalLengthMax``, the rule of Debian 12's docker.io; the newer
module counts the path only, so autopack's rule is the stricter one of the two).
"""

from __future__ import annotations

import re

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from autopack.errors import UsageError
from autopack.tags import PLACEHOLDERS, render, split_reference, tag_safe, validate_reference


def _optional(*res: str) -> str:
    return "(?:" + "".join(res) + ")?"


def _any_times(*res: str) -> str:
    return "(?:" + "".join(res) + ")*"


def _capture(*res: str) -> str:
    return "(" + "".join(res) + ")"


def _anchored(*res: str) -> str:
    return r"\A" + "".join(res) + r"\Z"


# regexp.go, constant by constant.
alphanumeric = r"[a-z0-9]+"
separator = r"(?:[._]|__|[-]+)"
domainNameComponent = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
optionalPort = r"(?::[0-9]+)?"
tag = r"[\w][\w.-]{0,127}"
digestPat = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*[:][0-9A-Fa-f]{32,}"  # [[:xdigit:]]
ipv6address = r"\[(?:[a-fA-F0-9:]+)\]"
domainName = domainNameComponent + r"(?:\." + domainNameComponent + ")*"
host = "(?:" + domainName + "|" + ipv6address + ")"
domainAndPort = host + optionalPort
pathComponent = alphanumeric + _any_times(separator + alphanumeric)
remoteName = pathComponent + _any_times("/" + pathComponent)
namePat = _optional(domainAndPort + "/") + remoteName
referencePat = _anchored(_capture(namePat), _optional(":", _capture(tag)), _optional("@", _capture(digestPat)))
REFERENCE = re.compile(referencePat, re.ASCII)
NAME_TOTAL_LENGTH_MAX = 255


def docker_accepts(reference: str) -> bool:
    """The oracle: a distribution reference with a tag, no digest, a name of ≤ 255."""
    m = REFERENCE.match(reference)
    return bool(m and m[2] and not m[3] and len(m[1]) <= NAME_TOTAL_LENGTH_MAX)


def autopack_accepts(reference: str) -> bool:
    try:
        validate_reference(reference)
    except UsageError:
        return False
    return True


# --- strategies built from the grammar (valid by construction) ------------------------------

ALNUM = st.text("abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=8)
SEPARATORS = st.sampled_from([".", "_", "__", "-", "--", "---"])
PATH_COMPONENT = st.builds(lambda first, rest: first + "".join(s + a for s, a in rest), ALNUM, st.lists(st.tuples(SEPARATORS, ALNUM), max_size=3))
DOMAIN_COMPONENT = st.from_regex(r"\A(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]{0,6}[a-zA-Z0-9])\Z")
DOMAIN = st.one_of(
    st.builds(".".join, st.lists(DOMAIN_COMPONENT, min_size=1, max_size=3)),
    st.from_regex(r"\A\[[0-9a-fA-F:]{1,12}\]\Z"),
).flatmap(lambda h: st.sampled_from([h, h + ":5000", h + ":0", h + ":65535443"]))
NAME = st.builds(
    lambda domain, path: f"{domain}/{path}" if domain else path,
    st.none() | DOMAIN,
    st.builds("/".join, st.lists(PATH_COMPONENT, min_size=1, max_size=3)),
)
TAG = st.from_regex(r"\A[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}\Z")

# Near misses: valid pieces with a character of the grammar's own alphabet (or just outside
# it) put in, dropped or repeated, so that the comparison runs where the two could differ.
REFERENCE_ALPHABET = "abcz09AZ_.-:/@[]" + "\n ö"
MUTATION = st.tuples(st.integers(0, 300), st.sampled_from(["insert", "delete", "duplicate"]), st.sampled_from(REFERENCE_ALPHABET))


def mutate(text: str, mutations: list[tuple[int, str, str]]) -> str:
    for position, how, char in mutations:
        i = position % (len(text) + 1)
        if how == "insert":
            text = text[:i] + char + text[i:]
        elif how == "delete":
            text = text[:i] + text[i + 1 :]
        else:
            text = text[:i] + text[i : i + 2] + text[i:]
    return text


REFERENCE_LIKE = st.one_of(
    st.builds(lambda n, t: f"{n}:{t}", NAME, TAG),
    st.builds(lambda n, t, m: mutate(f"{n}:{t}", m), NAME, TAG, st.lists(MUTATION, min_size=1, max_size=3)),
    NAME,
    st.text(REFERENCE_ALPHABET, max_size=40),
    st.text(max_size=40),
)


@given(REFERENCE_LIKE)
@example("a" * 256 + ":1")
@example("a" * 255 + ":1")
@example("localhost:5000/" + "a" * 240 + ":1")  # 255 with the domain: accepted
@example("localhost:5000/" + "a" * 241 + ":1")  # 256 with the domain: refused (v2's rule)
@example("app:1\n")
@example("[::1]:5000/x:y")
@example("a:" + "b" * 128)
@example("app@sha256:" + "a" * 64)
@example("app:1@sha256:" + "a" * 64)
def test_validate_reference_accepts_exactly_the_distribution_grammar(reference: str) -> None:
    assert autopack_accepts(reference) == docker_accepts(reference), reference


@given(NAME, TAG)
def test_split_reference_inverts_joining_a_name_and_a_tag(name: str, tag_: str) -> None:
    assert split_reference(f"{name}:{tag_}") == (name, tag_)
    assert split_reference(name) == (name, "")


@given(st.text(REFERENCE_ALPHABET) | st.text())
@example("/app:1")  # was ("app", "1"): the leading "/" was lost
def test_split_reference_rejoins_to_what_it_was_given(reference: str) -> None:
    name, tag_ = split_reference(reference)
    assert (f"{name}:{tag_}" if ":" in reference.rpartition("/")[2] else name) == reference


@given(st.text())
def test_tag_safe_gives_a_valid_tag_or_nothing(value: str) -> None:
    cleaned = tag_safe(value)
    assert cleaned == "" or re.fullmatch(tag, cleaned, re.ASCII), cleaned


# --- render -----------------------------------------------------------------------------------

FACT_VALUES = st.none() | st.text(max_size=20) | st.sampled_from(["1.0.0", "abc1234", "feature/login", "42", "..", "-x", "größe"])
FACTS = st.fixed_dictionaries({p: FACT_VALUES for p in PLACEHOLDERS})
TEMPLATE_PIECES = st.one_of(
    st.sampled_from([f"{{{p}}}" for p in PLACEHOLDERS]),
    st.sampled_from(["{", "}", "{{", "}}", "{}", "{0}", "{version!r}", "{version!x}", "{version:>10}", "{version:d}", "{version:{build}}", "{version:{nope}}", "{version[0]}", "{version.x}", ":", "/", "@", "."]),
    st.text("abc019-_.:/A ", min_size=1, max_size=6),
    st.text(max_size=4),
)
TEMPLATE = st.builds("".join, st.lists(TEMPLATE_PIECES, max_size=6))
IMAGE = st.one_of(NAME, TEMPLATE, st.sampled_from(["app", "localhost:5000/team/{artifactId}", "{groupId}/{artifactId}"]))


@given(st.lists(TEMPLATE, max_size=4), IMAGE, FACTS)
@example(["{version!x}"], "app", {"version": "1.0"})
@example(["{version:d}"], "app", {"version": "1.0"})
@example(["{version:{nope}}"], "app", {"version": "1.0"})
@example(["{version:{version:{version}}}"], "app", {"version": "1.0"})
@example(["{version:{build}}"], "app", {"version": "1.0", "build": None})
def test_render_gives_valid_references_or_a_usage_error(templates: list[str], image: str, facts: dict[str, str | None]) -> None:
    try:
        references = render(templates, image, facts)
    except UsageError:
        return
    assert references, "render gave no reference and no error"
    assert len(references) == len(set(references))
    for reference in references:
        assert docker_accepts(reference), reference
        validate_reference(reference)


@given(NAME, st.lists(TAG, min_size=1, max_size=4))
def test_literal_tags_render_to_themselves(image: str, tags: list[str]) -> None:
    # A template without braces or ':' is the tag itself, applied to the image name.
    if len(image) > NAME_TOTAL_LENGTH_MAX:
        with pytest.raises(UsageError):
            render(tags, image, {})
        return
    assert render(tags, image, {}) == list(dict.fromkeys(f"{image}:{t}" for t in tags))
