"""BuildKit's shell lexer for Dockerfile words (``frontend/dockerfile/shell/lex.go`` in
moby/buildkit), as the direct builder's Dockerfile reader (``steps.py``) needs it: quotes
removed, escapes applied, variables substituted with all their modifiers."""

from __future__ import annotations

import re
from collections.abc import Mapping


class BadSubstitution(ValueError):
    """A substitution the shell lexer refuses; ``_expand`` gives it its instruction and line."""


class Lexer:
    """BuildKit's shell lexer (``frontend/dockerfile/shell/lex.go``): quotes removed, escapes
    applied, ``$NAME``/``${NAME}`` and their modifiers (``:-``, ``-``, ``:+``, ``+``, ``:?``,
    ``?``, ``#``, ``##``, ``%``, ``%%``, ``/``, ``//``) substituted. An unset variable is
    empty."""

    def __init__(self, escape: str) -> None:
        self.escape = escape

    def word(self, text: str, env: Mapping[str, str]) -> str:
        return _Scan(text, env, self.escape).until("")[0]

    def words(self, text: str, env: Mapping[str, str]) -> list[str]:
        """The text split into words where a substituted value or an unquoted space splits it."""
        return _Scan(text, env, self.escape).until("")[1]


class _Scan:
    def __init__(self, text: str, env: Mapping[str, str], escape: str) -> None:
        self.text, self.env, self.escape, self.pos, self.raw = text, env, escape, 0, False

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def next(self) -> str:
        ch = self.peek()
        self.pos += 1 if ch else 0
        return ch

    def until(self, stop: str, raw: bool = False) -> tuple[str, list[str]]:
        saved, self.raw = self.raw, raw
        try:
            return self._until(stop)
        finally:
            self.raw = saved

    def _until(self, stop: str) -> tuple[str, list[str]]:
        result: list[str] = []
        words = _Words()
        while ch := self.peek():
            if stop and ch == stop:
                self.next()
                return "".join(result), words.done()
            if ch in ("$", "'", '"', "<"):
                special = {"$": self.dollar, "'": self.single, '"': self.double, "<": self.heredoc}[ch]()
                result.append(special)
                if ch == "$":
                    words.add_string(special)
                else:
                    words.add_raw_string(special)
                continue
            ch = self.next()
            if ch == self.escape:
                if self.raw:
                    words.add_raw(ch)
                    result.append(ch)
                ch = self.next()
                if not ch:
                    break
                words.add_raw(ch)
            else:
                words.add_char(ch)
            result.append(ch)
        if stop:
            raise BadSubstitution(f"unexpected end of statement while looking for matching {stop}")
        return "".join(result), words.done()

    def single(self) -> str:
        self.next()
        out = []
        while (ch := self.next()) != "'":
            if not ch:
                raise BadSubstitution("unexpected end of statement while looking for matching single-quote")
            out.append(ch)
        return "".join(out)

    def double(self) -> str:
        self.next()
        out = []
        while (ch := self.peek()) != '"':
            if not ch:
                raise BadSubstitution("unexpected end of statement while looking for matching double-quote")
            if ch == "$":
                out.append(self.dollar())
                continue
            ch = self.next()
            if ch == self.escape:
                if self.raw:
                    out.append(ch)
                if not self.peek():
                    continue
                if self.peek() in ('"', "$", self.escape):
                    ch = self.next()
            out.append(ch)
        self.next()
        return "".join(out)

    def heredoc(self) -> str:
        self.next()
        if self.peek() != "<":
            return "<"
        self.next()
        spaces = ""
        while self.peek() in ("\t", "\r", " ") and self.peek():
            spaces += self.next()
        return "<<" + spaces

    def name(self) -> str:
        out: list[str] = []
        while ch := self.peek():
            if not out and ch.isdigit():
                while self.peek() and self.peek().isdigit():
                    out.append(self.next())
                break
            if not out and ch in "@*#?-$!":
                return self.next()
            if not (ch.isalpha() or ch.isdigit() or ch == "_"):
                break
            out.append(self.next())
        return "".join(out)

    def _word_to(self, stop: str, raw: bool) -> str:
        try:
            return self.until(stop, raw)[0]
        except BadSubstitution:
            if not self.peek():
                raise BadSubstitution("syntax error: missing '}'" if stop == "}" else "syntax error: missing '/' in ${}") from None
            raise

    def dollar(self) -> str:
        self.next()
        if self.peek() != "{":
            name = self.name()
            return self.env.get(name, "") if name else "$"
        self.next()
        if not self.peek():
            raise BadSubstitution("syntax error: missing '}'")
        if self.peek() in "{}:":
            raise BadSubstitution("syntax error: bad substitution")
        name = self.name()
        ch = self.next()
        value = self.env.get(name)
        if not ch:
            raise BadSubstitution("syntax error: missing '}'")
        if ch == "}":
            return value or ""
        if ch == "/":
            every = self.peek() == "/"
            if every:
                self.next()
            pattern = _pattern(self._word_to("/", True), greedy=True, anchored=False)
            replacement = self._word_to("}", True)
            return pattern.sub(lambda _: replacement, value or "", count=0 if every else 1)
        modifier, null_is_unset = ch, ch == ":"
        if null_is_unset:
            ch = self.next()
            modifier += ch
        if not null_is_unset and ch not in "+-?#%":
            raise BadSubstitution(f"unsupported modifier ({modifier}) in substitution")
        if ch in ("#", "%") and null_is_unset:
            raise BadSubstitution(f"unsupported modifier ({modifier}) in substitution")
        word = self._word_to("}", ch in ("#", "%"))
        unset = value is None or (null_is_unset and value == "")
        if ch == "-":
            return word if unset else value or ""
        if ch == "+":
            return "" if unset else word
        if ch == "?":
            if value is None:
                raise BadSubstitution(f"{name}: {word or 'is not allowed to be unset'}")
            if unset:
                raise BadSubstitution(f"{name}: {word or 'is not allowed to be empty'}")
            return value or ""
        if ch in ("#", "%"):
            greedy = word.startswith(ch)
            word = word[1:] if greedy else word
            if ch == "#":
                m = _pattern(word, greedy, anchored=True).match(value or "")
                return (value or "")[m.end() :] if m else value or ""
            m = _pattern(_reverse_pattern(word), greedy, anchored=True).match((value or "")[::-1])
            return (value or "")[::-1][m.end() :][::-1] if m else value or ""
        raise BadSubstitution(f"unsupported modifier ({modifier}) in substitution")


class _Words:
    """Word splitting as the lexer does it: an unquoted space, or a space a substituted value
    brings, ends a word."""

    def __init__(self) -> None:
        self.buf: list[str] = []
        self.words: list[str] = []
        self.in_word = False

    def add_char(self, ch: str) -> None:
        if ch.isspace() and self.in_word:
            if "".join(self.buf):
                self.words.append("".join(self.buf))
                self.buf, self.in_word = [], False
        elif not ch.isspace():
            self.add_raw(ch)

    def add_raw(self, ch: str) -> None:
        self.buf.append(ch)
        self.in_word = True

    def add_string(self, text: str) -> None:
        for ch in text:
            self.add_char(ch)

    def add_raw_string(self, text: str) -> None:
        self.add_raw(text)

    def done(self) -> list[str]:
        if "".join(self.buf):
            self.words.append("".join(self.buf))
            self.buf, self.in_word = [], False
        return self.words


def _pattern(pattern: str, greedy: bool, anchored: bool) -> re.Pattern[str]:
    """A shell pattern (``*``, ``?``, ``\\`` escapes) as a regular expression, as BuildKit
    converts it."""
    out = ["^"] if anchored else []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        i += 1
        if ch == "*":
            out.append(".*" if greedy else ".*?")
        elif ch == "?":
            out.append(".")
        elif ch == "\\":
            if i < len(pattern) and pattern[i] in "}/":
                continue
            if i >= len(pattern) or pattern[i] not in "*?\\":
                raise BadSubstitution(f"invalid pattern ({pattern}) in substitution: invalid escape")
            out.append(re.escape(pattern[i]))
            i += 1
        else:
            out.append(re.escape(ch))
    return re.compile("".join(out), re.DOTALL)


def _reverse_pattern(pattern: str) -> str:
    """The pattern reversed with its escapes kept in front of what they escape (``a\\*c`` →
    ``c\\*a``), so that ``%`` can match from the right as ``#`` does from the left."""
    tokens = []
    i = 0
    while i < len(pattern):
        step = 2 if pattern[i] == "\\" and i + 1 < len(pattern) else 1
        tokens.append(pattern[i : i + step])
        i += step
    return "".join(reversed(tokens))
