"""``--web.config.file``: TLS and basic auth in the Prometheus exporter-toolkit format.

The format is the one node_exporter and Prometheus itself read, so a platform team can hand
the same file (or Secret) to every exporter. This exporter supports the part of it that
matters for a scrape target: ``tls_server_config`` (``cert_file``, ``key_file``,
``client_ca_file``, ``client_auth_type``, ``min_version``, ``max_version``) and
``basic_auth_users`` (bcrypt hashes). Keys of the format it does not support are refused by
name rather than ignored, so nobody believes a setting is in force when it is not.

The toolkit re-reads the file on every request; this exporter reads it at start and on SIGHUP.
A bad edit then fails the next start loudly (exit 1, the key named), or is refused by the
reload with the old settings kept, instead of locking Prometheus out of a running exporter,
and no request pays for a file read. A reload takes new users and passwords and a renewed
certificate; turning TLS on or off, or changing the client authentication, needs a restart.

As in the toolkit, relative paths in the file are relative to the file's own directory.
"""

from __future__ import annotations

import logging
import re
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BeforeValidator,
    ValidationError,
    field_validator,
)

from exporter.config import ConfigError, StrictModel, describe_errors, read_yaml_mapping

log = logging.getLogger(__name__)

HASH_HINT = "generate one with: htpasswd -nBC 10 '' | tr -d ':\\n'"
_BCRYPT = re.compile(r"\$2[aby]\$(0[4-9]|[12][0-9]|3[01])\$[./A-Za-z0-9]{53}")

ClientAuthType = Literal[
    "NoClientCert", "RequestClientCert", "VerifyClientCertIfGiven", "RequireAndVerifyClientCert"
]
TLSVersionName = Literal["TLS10", "TLS11", "TLS12", "TLS13"]
TLS_VERSIONS = {
    "TLS10": ssl.TLSVersion.TLSv1,
    "TLS11": ssl.TLSVersion.TLSv1_1,
    "TLS12": ssl.TLSVersion.TLSv1_2,
    "TLS13": ssl.TLSVersion.TLSv1_3,
}
# RequestClientCert asks for a certificate and never checks it; Python's TLS cannot ask
# without checking, so it does not ask: either way any client gets in, with or without one.
VERIFY_MODES = {
    "NoClientCert": ssl.CERT_NONE,
    "RequestClientCert": ssl.CERT_NONE,
    "VerifyClientCertIfGiven": ssl.CERT_OPTIONAL,
    "RequireAndVerifyClientCert": ssl.CERT_REQUIRED,
}

# Keys of the toolkit's format this exporter does not implement, with what to use instead.
UNSUPPORTED: dict[tuple[str, ...], dict[str, str]] = {
    (): {"http_server_config": "", "rate_limit": ""},
    ("tls_server_config",): {
        "cert": "use cert_file",
        "key": "use key_file",
        "client_ca": "use client_ca_file",
        "client_allowed_sans": "",
        "cipher_suites": "",
        "prefer_server_cipher_suites": "",
        "curve_preferences": "",
    },
}


class WebConfigError(ConfigError):
    """A web configuration file the exporter refuses to start with."""


def _refuse_require_any(value: object) -> object:
    if value == "RequireAnyClientCert":
        raise ValueError(
            "RequireAnyClientCert is not supported (Python's TLS cannot demand a certificate "
            "without verifying it); use RequireAndVerifyClientCert with client_ca_file"
        )
    return value


def _check_hash(value: str) -> str:
    # The message never repeats the value: it may be a password pasted by mistake.
    if not _BCRYPT.fullmatch(value):
        raise ValueError(f"not a bcrypt hash ({HASH_HINT})")
    return value


class TLSServerConfig(StrictModel):
    cert_file: Path
    key_file: Path
    client_ca_file: Path | None = None
    client_auth_type: Annotated[ClientAuthType, BeforeValidator(_refuse_require_any)] = (
        "NoClientCert"
    )
    min_version: TLSVersionName = "TLS12"
    max_version: TLSVersionName = "TLS13"


BcryptHash = Annotated[str, AfterValidator(_check_hash)]


class WebFile(StrictModel):
    tls_server_config: TLSServerConfig | None = None
    basic_auth_users: dict[str, BcryptHash] | None = None

    @field_validator("basic_auth_users", mode="before")
    @classmethod
    def _user_names(cls, users: object) -> object:
        """Checked here, not per key: an error at a key would name it, and ``user:password``
        is what a name with ':' usually is."""
        for name in users if isinstance(users, dict) else ():
            if isinstance(name, str) and ":" in name:
                raise ValueError(
                    f"user {name.split(':', 1)[0]!r}: a user name cannot contain ':' (basic "
                    "auth could not carry it; what follows it is not shown, in case it is a "
                    "password)"
                )
        return users


@dataclass(frozen=True)
class WebAccess:
    """What the file asks for. Without a file: plain HTTP, open to everyone."""

    tls: ssl.SSLContext | None = None
    users: Mapping[str, bytes] = field(default_factory=dict)
    client_auth: str = "NoClientCert"
    cert_files: tuple[Path, Path] | None = None  # (cert_file, key_file), for a reload

    def reload_into(self, live: WebAccess) -> list[str]:
        """Move what can change without a restart into the ``live`` server's context: the
        certificate and key (loaded into the live TLS context, so new connections get them).
        Returns what needs a restart instead."""
        restart = []
        if (live.tls is None) != (self.tls is None):
            restart.append("turning TLS on or off")
        elif live.tls is not None and self.cert_files is not None:
            live.tls.load_cert_chain(*self.cert_files, password=_no_password)
        if live.client_auth != self.client_auth:
            restart.append("client_auth_type")
        return restart


def _readable(key: str, path: Path) -> None:
    try:
        path.read_bytes()
    except OSError as exc:
        raise WebConfigError(
            f"tls_server_config.{key}: cannot read {path}: {exc.strerror}"
        ) from None


def _holds_certificates(key: str, path: Path) -> None:
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_verify_locations(cafile=path)
    except ssl.SSLError:
        raise WebConfigError(f"tls_server_config.{key}: {path} holds no PEM certificate") from None


def _no_password() -> bytes:
    """An encrypted key fails to load instead of OpenSSL prompting on a terminal nobody sees."""
    return b""


def tls_context(tls: TLSServerConfig, base: Path) -> ssl.SSLContext:
    """The server's TLS context, every file loaded now so a bad one fails the start."""
    cert, key = base / tls.cert_file, base / tls.key_file
    client_ca = base / tls.client_ca_file if tls.client_ca_file else None
    verify = VERIFY_MODES[tls.client_auth_type]
    if verify != ssl.CERT_NONE and client_ca is None:
        raise WebConfigError(
            f"tls_server_config.client_ca_file: is required when client_auth_type is "
            f"{tls.client_auth_type}"
        )
    if verify == ssl.CERT_NONE and client_ca is not None:
        raise WebConfigError(
            f"tls_server_config.client_ca_file: set, but client_auth_type {tls.client_auth_type} "
            "does not verify client certificates (use RequireAndVerifyClientCert)"
        )
    if TLS_VERSIONS[tls.min_version] > TLS_VERSIONS[tls.max_version]:
        raise WebConfigError(
            f"tls_server_config.min_version: {tls.min_version} is above max_version "
            f"{tls.max_version}"
        )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = TLS_VERSIONS[tls.min_version]
    context.maximum_version = TLS_VERSIONS[tls.max_version]
    _readable("cert_file", cert)
    _readable("key_file", key)
    _holds_certificates("cert_file", cert)
    try:
        context.load_cert_chain(cert, key, password=_no_password)
    except ssl.SSLError:
        raise WebConfigError(
            f"tls_server_config.key_file: {key} is not the unencrypted PEM private key of cert_file"
        ) from None
    if client_ca is not None:
        _readable("client_ca_file", client_ca)
        _holds_certificates("client_ca_file", client_ca)
        context.load_verify_locations(cafile=client_ca)
    context.verify_mode = verify
    return context


def _parse(path: Path) -> WebFile:
    data = read_yaml_mapping(path)
    try:
        return WebFile.model_validate(data)
    except ValidationError as exc:
        raise WebConfigError(describe_errors(exc, WebFile, UNSUPPORTED)) from None


def load_web_config(path: Path | None) -> WebAccess:
    """Read and check the whole file once; any problem is a WebConfigError naming the key."""
    if path is None:
        return WebAccess()
    try:
        parsed = _parse(path)
        tls = parsed.tls_server_config
        access = WebAccess(
            tls=tls_context(tls, path.parent) if tls else None,
            users={
                user: hashed.encode() for user, hashed in (parsed.basic_auth_users or {}).items()
            },
            client_auth=tls.client_auth_type if tls else "NoClientCert",
            cert_files=(path.parent / tls.cert_file, path.parent / tls.key_file) if tls else None,
        )
    except ConfigError as exc:  # read_yaml_mapping's, and WebConfigError
        raise WebConfigError(f"web config file {path}: {exc}") from None
    log.info(
        "web config loaded",
        extra={
            "tls": access.tls is not None,
            "client_auth": access.client_auth,
            "basic_auth_users": len(access.users),
        },
    )
    if access.users and access.tls is None:
        log.warning("basic auth without TLS: passwords cross the network in clear text")
    return access
