"""Text from outside autopack made safe to print: the one rule for every string that a
commit, a branch, a pom, Maven, an engine or a registry put into what a person reads — the
live view, the plain CI lines, the summary, and the log files autopack writes.

``neutralise`` leaves no character that a terminal acts on:

* a CSI sequence (``ESC [`` … final byte: colour, cursor movement, erasing) is removed; it
  carries no text, and Maven, npm or BuildKit emit them even when not asked for colour;
* every other control character becomes visible: C0 and DEL in caret notation, as
  ``cat -v`` shows them (ESC → ``^[``, BEL → ``^G``, CR → ``^M``, LF → ``^J``, DEL → ``^?``),
  and C1 (U+0080–U+009F, the 8-bit CSI, OSC, DCS …) as U+FFFD. So an OSC 8 hyperlink, an
  OSC 52 clipboard write, a title change, a DCS or a bare ``ESC c`` arrives as inert text that
  shows what was attempted (``^[]52;c;…^G``). A tab stays a tab.

No ESC survives, so no sequence can be rebuilt from the pieces a removal leaves
(``ESC ESC[0m ]52;…`` comes out as ``^[]52;…``). Printable text, rich markup included, is not
touched: renderers print it literally (``rich.text.Text``, never markup).

``clean`` is what renderers and log writers call: redact, neutralise, redact again. A secret
that holds a control character itself is masked before neutralising changes it; one that a
child split with a colour code (``hunter\\x1b[0m2``) is whole again after the code is removed,
and masked then. ``uncoloured`` is the form for parsers, not for printing.

Autopack's own escape codes (its colours, GitLab's section markers) are added after this,
to text that has been cleaned.
"""

from __future__ import annotations

import re

from autopack import secrets

# ECMA-48 CSI: ESC [, parameter bytes 0x30-0x3F, intermediate bytes 0x20-0x2F, a final byte 0x40-0x7E.
_CSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]")
# Every C0 control but tab, DEL, and C1.
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f]")
_LINE_BREAK = re.compile(r"\r?\n")


def _visible(match: re.Match[str]) -> str:
    code = ord(match[0])
    if code < 0x20:
        return "^" + chr(code + 0x40)
    if code == 0x7F:
        return "^?"
    return "\ufffd"


def neutralise(text: str) -> str:
    """``text`` with CSI sequences removed and every other control character but tab made
    visible (see the module's docstring). Idempotent; printable text is unchanged."""
    return _CONTROL.sub(_visible, _CSI.sub("", text))


def clean(text: str) -> str:
    """One line of untrusted text as it may be printed or logged: secrets masked, control
    sequences neutralised (a line break shows as ``^J``)."""
    return secrets.redact(neutralise(secrets.redact(text)))


def uncoloured(text: str) -> str:
    """A child's line as data for the code that parses it (a ref name, an image id, Maven's
    reactor summary): redacted and without CSI codes (Maven prints ``ESC[0m`` even in batch
    mode), every other character as the child wrote it — a branch name may hold a C1
    character, and ``git rev-parse`` must get it back. Not for printing: whoever prints it
    (the renderers, a log writer) calls ``clean``."""
    return secrets.redact(_CSI.sub("", secrets.redact(text)))


def clean_lines(text: str) -> list[str]:
    """``clean`` for text that may span lines: each line of it (split at LF or CR LF, after
    redaction, so that a secret across a line break is still masked), to be printed as a
    line of its own with its own prefix — a line of a child's output cannot pass for one of
    autopack's."""
    return [clean(line) for line in _LINE_BREAK.split(secrets.redact(text).rstrip("\r\n"))]
