"""Where a team's API key comes from: an environment variable, a file, or a fixed value.

A key file is re-read whenever it changes on disk (and on SIGHUP), so Kubernetes secret
rotation and short-lived OIDC tokens keep working without a restart. Every key read is
registered with the redaction, so it can never be written out.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import Protocol

from exporter.config import ConfigError
from exporter.redaction import SECRETS

log = logging.getLogger(__name__)


class KeySource(Protocol):
    def get(self) -> str:
        """The current key."""
        ...

    def describe(self) -> str:
        """Where the key comes from, for messages (never the key itself)."""
        ...

    def reload(self) -> bool:
        """Read the key again now (SIGHUP); True when it changed. Raises ConfigError when the
        new content is not a key (the last good key stays in use)."""
        ...


# What an environment variable's name looks like by convention: a value that does not is more
# likely the key itself, given where its name belongs, and is never printed.
_VARIABLE_NAME = re.compile(r"[A-Z_][A-Z0-9_]{0,127}")


def _unreadable(what: str, path: Path, exc: OSError) -> ConfigError:
    """A key file that cannot be read at start. A path that names no file is not shown: it
    may be the key itself, written where its path belongs."""
    if isinstance(exc, FileNotFoundError):
        return ConfigError(
            f"{what}: no such file (the value is not shown in case it is the secret itself: "
            f"give the path of a file that holds it)"
        )
    return ConfigError(f"{what} {path}: cannot read: {exc.strerror}")


def _checked(key: str, where: str) -> str:
    key = key.strip()
    if not key:
        raise ConfigError(f"{where} is empty")
    if any(c.isspace() for c in key):
        raise ConfigError(f"{where} contains whitespace; expected a single token")
    SECRETS.add(key)
    return key


class StaticKey:
    """A key given directly (the demo's simulator key, or a test's)."""

    def __init__(self, key: str, where: str = "built-in key") -> None:
        self._where = where
        self._key = _checked(key, where)

    def get(self) -> str:
        return self._key

    def describe(self) -> str:
        return self._where

    def reload(self) -> bool:
        return False

    def __repr__(self) -> str:
        return f"StaticKey({self._where!r})"


class EnvKey:
    """A key read once from an environment variable (the environment cannot change later)."""

    def __init__(self, var: str, environ: dict[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        self._var = var
        if not _VARIABLE_NAME.fullmatch(var):
            raise ConfigError(
                "api_key_env is not an environment variable's name (upper case, digits and _; "
                "the value is not shown in case it is the key itself): name the variable that "
                "holds the key, or use api_key_file"
            )
        if var not in env:
            raise ConfigError(f"environment variable {var} is not set")
        self._key = _checked(env[var], f"environment variable {var}")

    def get(self) -> str:
        return self._key

    def describe(self) -> str:
        return f"${self._var}"

    def reload(self) -> bool:
        return False  # the environment of a running process cannot change

    def __repr__(self) -> str:
        return f"EnvKey({self._var!r})"


class FileKey:
    """A key in a file, re-read when the file's identity, size or mtime changes.

    A failed re-read keeps the last good key: a file briefly missing during a secret update
    silently, content that is not a key with one warning per version of the file.
    """

    def __init__(self, path: Path, what: str = "api_key_file") -> None:
        self._path = path
        self._what = what  # the config key, for messages
        self._stamp: tuple[int, int, int] | None = None
        self._refused: tuple[int, int, int] | None = None  # a version already warned about
        self._key = ""
        try:
            self._load()
        except OSError as exc:
            raise _unreadable(what, path, exc) from None

    def _load(self) -> bool:
        stat = self._path.stat()
        stamp = (stat.st_ino, stat.st_size, stat.st_mtime_ns)
        if stamp in (self._stamp, self._refused):
            return False
        try:
            key = self._parse(self._path.read_text())
        except ConfigError:
            self._refused = stamp
            raise
        changed, self._key, self._stamp = key != self._key, key, stamp
        return changed

    def _parse(self, text: str) -> str:
        return _checked(text, f"{self._what} {self._path}")

    def get(self) -> str:
        try:
            self._load()
        except OSError:
            pass  # mid-rotation; the next call tries again
        except ConfigError as exc:
            log.warning(f"{exc}; keeping the last good key", extra={"file": str(self._path)})
        return self._key

    def reload(self) -> bool:
        self._stamp = self._refused = None
        try:
            return self._load()
        except OSError as exc:  # a file read before: its path is a path
            raise ConfigError(f"{self._what} {self._path}: cannot read: {exc.strerror}") from None

    def describe(self) -> str:
        return str(self._path)

    def __repr__(self) -> str:
        return f"FileKey({str(self._path)!r})"


class FileSecrets(FileKey):
    """Up to ``MAX_SECRETS`` secrets in a file, one per line: while a secret is rotated, the
    old and the new one are both valid, so a sender that has not switched yet is not refused.
    Re-read like a key file."""

    MAX_SECRETS = 2

    def _parse(self, text: str) -> str:
        where = f"{self._what} {self._path}"
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        if not lines:
            raise ConfigError(f"{where} is empty")
        if len(lines) > self.MAX_SECRETS:
            raise ConfigError(
                f"{where} holds {len(lines)} lines; expected one secret, or two while rotating"
            )
        return "\n".join(_checked(line, where) for line in lines)

    def values(self) -> tuple[str, ...]:
        """The secrets now valid (the file is re-read when it changed)."""
        return tuple(self.get().split("\n"))

    def __repr__(self) -> str:
        return f"FileSecrets({str(self._path)!r})"
