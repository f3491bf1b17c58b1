"""The one place secrets are masked: every string that leaves the process goes through it.

Secrets are registered when they are read (API keys, tokens). The log formatter masks each
rendered line, the landing page and ``/readyz`` mask what they show, and label values are
masked before they are stored, so an upstream error or a record that quotes a key back
cannot carry it out.
"""

from __future__ import annotations

import threading

MASK = "[REDACTED]"


class SecretRegistry:
    """The set of strings that must never be written anywhere."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._secrets: frozenset[str] = frozenset()

    def add(self, secret: str) -> None:
        # Very short strings would mask innocent text and cannot be real keys.
        if len(secret) >= 8:
            with self._lock:
                self._secrets = self._secrets | {secret}

    def mask(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        return text


SECRETS = SecretRegistry()
