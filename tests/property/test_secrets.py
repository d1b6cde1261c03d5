"""Properties of redaction (autopack.secrets): every registered secret is removed from any
text, in every form it travels in — as given, URL-encoded (``quote``, ``quote_plus``, with
upper- or lowercase hex), base64 of ``user:secret`` (HTTP Basic, a Docker config's
``auth``) and of the secret alone, JSON-escaped (Python's and Go's escaping) — wherever it
sits in a longer text, and nothing of it is left behind (no partial)."""

from __future__ import annotations

import base64
import json
import re
from urllib.parse import quote, quote_plus

from hypothesis import assume, example, given
from hypothesis import strategies as st

from autopack import secrets
from tests.property.conftest import NO_MASK_CHARACTER, TEST_MASK, only_secrets

# Any text of four or more characters (shorter ones are deliberately not masked), unicode,
# spaces, '%', '+', '/', '=', quotes and control characters included; never the test mask.
CHARACTERS = st.characters(blacklist_characters=NO_MASK_CHARACTER, blacklist_categories=("Cs",))
SECRET = st.one_of(
    st.text(CHARACTERS, min_size=4, max_size=24),
    st.text('aA0 %+/=:@"\\&<>é€😀*', min_size=4, max_size=16),
    st.sampled_from(["hunter2-token", "p@ss w%rd+/=", "glpat-Xy9_ZZ", "größe€😀", 'a"b\\c\nd', "<&>\u2028x"]),
)
FILLER = st.text(CHARACTERS, max_size=30)
USER = st.text(st.characters(blacklist_characters=":" + NO_MASK_CHARACTER, blacklist_categories=("Cs",)), max_size=12)


def b64(data: bytes, urlsafe: bool) -> str:
    return (base64.urlsafe_b64encode if urlsafe else base64.b64encode)(data).decode()


def go_json(secret: str) -> str:
    """The string as Go's encoding/json writes it (HTML-safe: <, >, & and U+2028/9 escaped)."""
    inner = json.dumps(secret, ensure_ascii=False)[1:-1]
    for char, escape in (("&", "\\u0026"), ("<", "\\u003c"), (">", "\\u003e"), ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        inner = inner.replace(char, escape)
    return inner


def lower_hex(encoded: str) -> str:
    return re.sub(r"%[0-9A-F]{2}", lambda m: m[0].lower(), encoded)


ENCODINGS = {
    "as given": lambda s, user: s,
    "quote": lambda s, user: quote(s, safe=""),
    "quote, '/' kept": lambda s, user: quote(s),
    "quote_plus": lambda s, user: quote_plus(s),
    "quote, lowercase hex": lambda s, user: lower_hex(quote(s, safe="")),
    "quote_plus, lowercase hex": lambda s, user: lower_hex(quote_plus(s)),
    "json": lambda s, user: json.dumps(s)[1:-1],
    "json, unicode kept": lambda s, user: json.dumps(s, ensure_ascii=False)[1:-1],
    "json, Go": lambda s, user: go_json(s),
    "base64 of user:secret": lambda s, user: b64(f"{user}:{s}".encode(), False),
    "base64 of the secret": lambda s, user: b64(s.encode(), False),
    "urlsafe base64 of user:secret": lambda s, user: b64(f"{user}:{s}".encode(), True),
}
B64_RUN = re.compile(r"[A-Za-z0-9+/_-]+=*")


def decodes_to_secret(text: str, secret: str) -> bool:
    """Whether any base64 run of ``text``, read from any of its first four characters and in
    either alphabet, decodes to bytes holding ``secret``."""
    wanted = secret.encode()
    for run in B64_RUN.findall(text):
        for start in range(4):
            body = run[start:].rstrip("=")
            body = body[: len(body) - len(body) % 4]
            for alphabet in (None, b"-_"):
                try:
                    if wanted in base64.b64decode(body, altchars=alphabet, validate=True):
                        return True
                except ValueError:
                    continue
    return False


@given(SECRET, USER, FILLER, FILLER, st.sampled_from(sorted(ENCODINGS)))
@example("p@ss w%rd+/=", "deploy", "Authorization: Basic ", "\r\n", "base64 of user:secret")
@example("hunter2-token", "", '{"auths":{"r":{"auth":"', '"}}}', "base64 of user:secret")
@example("größe€😀", "", "https://u:", "@host/x", "quote")
@example("p@ss w%rd+/=", "", "password=", "&x=1", "quote_plus")
@example('a"b\\c\nd', "", '{"password":"', '"}', "json")
@example("<&>\u2028x", "", '{"error":"', '"}', "json, Go")
def test_every_encoding_of_a_secret_is_removed(secret: str, user: str, before: str, after: str, encoding: str) -> None:
    encoded = ENCODINGS[encoding](secret, user)
    with only_secrets(secret):
        out = secrets.redact(before + encoded + after)
    assert encoded not in out
    assert secret not in out
    if encoding.startswith(("base64", "urlsafe")):
        assert not decodes_to_secret(out, secret), out


@given(SECRET, USER, st.sampled_from(sorted(ENCODINGS)))
def test_a_secret_between_separators_leaves_nothing_of_its_encoding(secret: str, user: str, encoding: str) -> None:
    # Bounded by characters no encoding uses, the encoded form goes as a whole: the mask
    # stands where it stood, and every character around is kept.
    assume(not {"\x00", "\x01"} & set(secret + user))
    encoded = ENCODINGS[encoding](secret, user)
    with only_secrets(secret):
        out = secrets.redact(f"\x00{encoded}\x01")
    assert out == f"\x00{TEST_MASK}\x01", (encoded, out)


@given(st.lists(SECRET, min_size=1, max_size=3), st.lists(st.one_of(FILLER, st.integers(0, 2)), max_size=8))
def test_redact_is_idempotent_and_leaves_no_registered_secret(registered: list[str], pieces: list[str | int]) -> None:
    text = "".join(p if isinstance(p, str) else registered[p % len(registered)] for p in pieces)
    with only_secrets(*registered):
        once = secrets.redact(text)
        assert secrets.redact(once) == once
    for secret in registered:
        assert secret not in once


# --- no partial: a model of "as given" redaction over a small alphabet -----------------------
# Over the letters a and b (with a separator), secrets overlap each other and themselves
# ("abab" in "ababab"); no other encoding of such a secret can occur in such a text. The
# model: every character inside any occurrence of any secret — overlapping ones included —
# is masked, each maximal run of overlapping occurrences by one mask, the rest kept as is.


def model(text: str, registered: list[str]) -> str:
    spans = sorted((i, i + len(s)) for s in set(registered) if len(s) >= 4 for i in range(len(text)) if text.startswith(s, i))
    merged: list[list[int]] = []
    for start, end in spans:
        if merged and start < merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    out, at = [], 0
    for start, end in merged:
        out += [text[at:start], TEST_MASK]
        at = end
    return "".join(out) + text[at:]


SMALL = st.text("ab", min_size=4, max_size=8)


@given(st.lists(SMALL, min_size=1, max_size=3), st.text("ab ", max_size=40))
@example(["aaaa"], "aaaaa")  # an overlapping second occurrence
@example(["abab"], "ababab")
@example(["abba", "baab"], "abbaab")  # two secrets that overlap
def test_redaction_leaves_no_part_of_any_occurrence(registered: list[str], text: str) -> None:
    with only_secrets(*registered):
        assert secrets.redact(text) == model(text, registered)


@given(st.text(CHARACTERS, max_size=3), FILLER)
def test_short_strings_are_never_masked(short: str, text: str) -> None:
    with only_secrets(short):
        assume("://" not in text)
        assert secrets.redact(text) == text


URL_WORD = re.compile(r"[^/@:\s]+")  # a user or password as the pattern reads a URL: no '/', '@' or whitespace


URL_PASSWORD = st.text(st.characters(blacklist_categories=("Cs", "Cc", "Zs", "Zl", "Zp"), blacklist_characters="/@" + NO_MASK_CHARACTER), min_size=1, max_size=16)


@given(FILLER, USER.filter(URL_WORD.fullmatch), URL_PASSWORD, FILLER)
def test_a_url_password_is_masked_unregistered(before: str, user: str, password: str, after: str) -> None:
    with only_secrets():
        out = secrets.redact(f"{before} https://{user}:{password}@host.example/x {after}")
    assert f"https://{user}:{TEST_MASK}@host.example/x" in out
