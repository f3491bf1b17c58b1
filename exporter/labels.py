"""Label values from upstream strings, made safe before they are stored or published.

A model, provider, finish reason, report group or budget name is chosen upstream. One lone
UTF-16 surrogate (legal JSON: ``"\\ud800"``) in a stored label value would make every scrape
fail to encode, for good; control characters and newlines are unreadable on a dashboard, and
a megabyte-long value bloats every scrape. So every such string passes through here first.
"""

from __future__ import annotations

from exporter.redaction import SECRETS

MAX_LENGTH = 128
REPLACEMENT = "\ufffd"  # what Unicode itself puts where a character could not be read
ELLIPSIS = "\u2026"


def safe_label(value: str) -> str:
    """``value`` with secrets masked, every unprintable character (control characters, lone
    surrogates, line and paragraph separators) replaced, and at most ``MAX_LENGTH`` long."""
    value = SECRETS.mask(value)
    if not value.isprintable():
        value = "".join(c if c.isprintable() else REPLACEMENT for c in value)
    if len(value) > MAX_LENGTH:
        value = value[: MAX_LENGTH - 1] + ELLIPSIS
    return value
