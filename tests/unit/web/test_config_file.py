"""The web config file: one test per invalid file, each with its exact message."""

from __future__ import annotations

import os
import ssl
from pathlib import Path
from typing import Any

import bcrypt
import pytest
import yaml

from exporter.config import ConfigError, load_config, options
from exporter.web.config_file import HASH_HINT, WebAccess, WebConfigError, load_web_config
from tests.support.certs import Authority

PASSWORD = "s3cret"
HASH = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CA, a server certificate and a second, unrelated key, written once for the module."""
    directory: Path = tmp_path_factory.mktemp("pki")
    ca = Authority(directory, "ca")
    ca.issue("server", server=True)
    ca.issue("other", server=True)
    (directory / "garbage.pem").write_text("not PEM at all\n")
    return directory


def load(pki: Path, data: Any) -> WebAccess:
    path = pki / "web.yml"
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data))
    return load_web_config(path)


def error_for(pki: Path, data: Any) -> str:
    with pytest.raises(WebConfigError) as caught:
        load(pki, data)
    prefix = f"web config file {pki / 'web.yml'}: "
    assert str(caught.value).startswith(prefix)
    return str(caught.value).removeprefix(prefix)


TLS = {"cert_file": "server.crt", "key_file": "server.key"}


def test_no_file_means_plain_http_open_to_all() -> None:
    assert load_web_config(None) == WebAccess()


def test_an_empty_file_changes_nothing(pki: Path) -> None:
    assert load(pki, "") == WebAccess()


def test_tls_with_client_certificates_and_users(pki: Path) -> None:
    loaded = load(
        pki,
        {
            "tls_server_config": {
                **TLS,
                "client_ca_file": "ca.crt",
                "client_auth_type": "RequireAndVerifyClientCert",
                "min_version": "TLS13",
            },
            "basic_auth_users": {"alice": HASH, "bob": HASH.replace("$2b$", "$2y$")},
        },
    )
    assert loaded.tls is not None
    assert loaded.tls.verify_mode == ssl.CERT_REQUIRED
    assert loaded.tls.minimum_version == ssl.TLSVersion.TLSv1_3
    assert loaded.tls.maximum_version == ssl.TLSVersion.TLSv1_3
    assert loaded.users == {"alice": HASH.encode(), "bob": HASH.replace("$2b$", "$2y$").encode()}
    assert loaded.client_auth == "RequireAndVerifyClientCert"


@pytest.mark.parametrize(
    ("client_auth_type", "verify_mode"),
    [
        ("NoClientCert", ssl.CERT_NONE),
        ("RequestClientCert", ssl.CERT_NONE),
        ("VerifyClientCertIfGiven", ssl.CERT_OPTIONAL),
    ],
)
def test_client_auth_types(pki: Path, client_auth_type: str, verify_mode: ssl.VerifyMode) -> None:
    extra = {"client_ca_file": "ca.crt"} if verify_mode != ssl.CERT_NONE else {}
    tls = {**TLS, "client_auth_type": client_auth_type, **extra}
    loaded = load(pki, {"tls_server_config": tls})
    assert loaded.tls is not None and loaded.tls.verify_mode == verify_mode


def test_absolute_paths_are_taken_as_they_are(pki: Path, tmp_path: Path) -> None:
    path = tmp_path / "web.yml"
    tls = {"cert_file": str(pki / "server.crt"), "key_file": str(pki / "server.key")}
    path.write_text(yaml.safe_dump({"tls_server_config": tls}))
    assert load_web_config(path).tls is not None


INVALID: dict[str, tuple[Any, str]] = {
    "unknown top-level key": (
        {"basic_auth_user": {}},
        "basic_auth_user: unknown key (did you mean 'basic_auth_users'?)",
    ),
    "unknown TLS key": (
        {"tls_server_config": {**TLS, "min_verison": "TLS12"}},
        "tls_server_config.min_verison: unknown key (did you mean 'min_version'?)",
    ),
    "rate limit": (
        {"rate_limit": {"interval": "1s", "burst": 20}},
        "rate_limit: not supported by this exporter",
    ),
    "inline certificate": (
        {"tls_server_config": {**TLS, "cert": "-----BEGIN CERTIFICATE-----"}},
        "tls_server_config.cert: not supported by this exporter (use cert_file)",
    ),
    "two problems at once": (
        {"http_server_config": {"http2": False}, "tls_server_config": {"key_file": "k"}},
        "tls_server_config.cert_file: is required; "
        "http_server_config: not supported by this exporter",
    ),
    "client auth type": (
        {"tls_server_config": {**TLS, "client_auth_type": "Always"}},
        "tls_server_config.client_auth_type: Input should be 'NoClientCert', "
        "'RequestClientCert', 'VerifyClientCertIfGiven' or 'RequireAndVerifyClientCert'",
    ),
    "require any client certificate": (
        {"tls_server_config": {**TLS, "client_auth_type": "RequireAnyClientCert"}},
        "tls_server_config.client_auth_type: RequireAnyClientCert is not supported (Python's "
        "TLS cannot demand a certificate without verifying it); use RequireAndVerifyClientCert "
        "with client_ca_file",
    ),
    "verification without a CA": (
        {"tls_server_config": {**TLS, "client_auth_type": "RequireAndVerifyClientCert"}},
        "tls_server_config.client_ca_file: is required when client_auth_type is "
        "RequireAndVerifyClientCert",
    ),
    "a CA nobody checks against": (
        {"tls_server_config": {**TLS, "client_ca_file": "ca.crt"}},
        "tls_server_config.client_ca_file: set, but client_auth_type NoClientCert does not "
        "verify client certificates (use RequireAndVerifyClientCert)",
    ),
    "TLS version": (
        {"tls_server_config": {**TLS, "min_version": "TLS1.2"}},
        "tls_server_config.min_version: Input should be 'TLS10', 'TLS11', 'TLS12' or 'TLS13'",
    ),
    "versions upside down": (
        {"tls_server_config": {**TLS, "min_version": "TLS13", "max_version": "TLS12"}},
        "tls_server_config.min_version: TLS13 is above max_version TLS12",
    ),
    "a password where the hash belongs": (
        {"basic_auth_users": {"alice": "hunter2"}},
        f"basic_auth_users.alice: not a bcrypt hash ({HASH_HINT})",
    ),
    "a hash with an impossible cost": (
        {"basic_auth_users": {"alice": HASH.replace("$04$", "$99$")}},
        f"basic_auth_users.alice: not a bcrypt hash ({HASH_HINT})",
    ),
    "a user name basic auth cannot carry, its password never shown": (
        {"basic_auth_users": {"alice:hunter2secret": HASH}},
        "basic_auth_users: user 'alice': a user name cannot contain ':' (basic auth could not "
        "carry it; what follows it is not shown, in case it is a password)",
    ),
    "users as a list": (
        {"basic_auth_users": ["alice"]},
        "basic_auth_users: Input should be a valid dictionary",
    ),
    "a key with a line break": (
        {"tls_server_config": {**TLS, "a\nb": 1}},
        "tls_server_config['a\\nb']: unknown key",
    ),
    "not a mapping": ("- tls_server_config\n", "the top level must be a mapping"),
    "not YAML": ("tls_server_config: [\n", "invalid YAML at line 2"),
}


@pytest.mark.parametrize("case", list(INVALID))
def test_invalid_file(pki: Path, case: str) -> None:
    data, message = INVALID[case]
    assert error_for(pki, data) == message
    assert "hunter2" not in message


def test_file_problems_name_the_key_and_the_file(pki: Path) -> None:
    def tls(**files: str) -> dict[str, Any]:
        return {"tls_server_config": {**TLS, **files}}

    assert error_for(pki, tls(cert_file="absent.crt")) == (
        f"tls_server_config.cert_file: cannot read {pki / 'absent.crt'}: No such file or directory"
    )
    assert error_for(pki, tls(key_file="absent.key")) == (
        f"tls_server_config.key_file: cannot read {pki / 'absent.key'}: No such file or directory"
    )
    assert error_for(pki, tls(cert_file="garbage.pem")) == (
        f"tls_server_config.cert_file: {pki / 'garbage.pem'} holds no PEM certificate"
    )
    assert error_for(pki, tls(key_file="other.key")) == (
        f"tls_server_config.key_file: {pki / 'other.key'} is not the unencrypted PEM private "
        "key of cert_file"
    )
    assert error_for(
        pki, tls(client_ca_file="garbage.pem", client_auth_type="VerifyClientCertIfGiven")
    ) == (f"tls_server_config.client_ca_file: {pki / 'garbage.pem'} holds no PEM certificate")


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_an_unreadable_key(pki: Path, tmp_path: Path) -> None:
    key = tmp_path / "locked.key"
    key.write_bytes((pki / "server.key").read_bytes())
    key.chmod(0)
    assert error_for(pki, {"tls_server_config": {**TLS, "key_file": str(key)}}) == (
        f"tls_server_config.key_file: cannot read {key}: Permission denied"
    )


def test_an_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(WebConfigError) as caught:
        load_web_config(tmp_path / "absent.yml")
    assert str(caught.value) == (
        f"web config file {tmp_path / 'absent.yml'}: cannot read: No such file or directory"
    )


def test_web_config_error_stops_the_start_like_any_config_error() -> None:
    assert issubclass(WebConfigError, ConfigError)


def test_the_options_and_their_spellings() -> None:
    spelled = {o.key: (o.flag, o.env) for o in options()}
    assert spelled["web.config_file"] == (
        "--web.config.file",
        "AI_GATEWAY_EXPORTER_WEB_CONFIG_FILE",
    )
    assert spelled["ingest.max_concurrent_requests"][0] == "--ingest.max-concurrent-requests"
    config = load_config(None, {"AI_GATEWAY_EXPORTER_WEB_CONFIG_FILE": "/etc/web.yml"}, {})
    assert config.web.config_file == Path("/etc/web.yml")
    assert (config.web.read_header_timeout, config.web.read_timeout) == (10.0, 60.0)
    with pytest.raises(ConfigError) as caught:
        load_config(None, {}, {"web.read_header_timeout": "2m"})
    assert str(caught.value) == (
        "invalid configuration: web: read_timeout must be at least read_header_timeout"
    )
