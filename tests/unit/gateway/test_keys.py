"""Key files: re-read on change and on SIGHUP; content that is no key is refused with one
warning, and the last good key stays in use."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from exporter.config import ConfigError
from exporter.gateway.keys import EnvKey, FileKey, StaticKey


def write(path: Path, text: str, tick: int) -> None:
    path.write_text(text)
    os.utime(path, ns=(tick * 10**9, tick * 10**9))  # a distinct mtime for every version


def test_a_rotated_file_is_picked_up(tmp_path: Path) -> None:
    path = tmp_path / "key"
    write(path, "vck_first_key_0001\n", 1)
    key = FileKey(path)
    assert key.get() == "vck_first_key_0001"
    write(path, "vck_second_key_0002\n", 2)
    assert key.get() == "vck_second_key_0002"


def test_invalid_content_is_refused_once_and_the_last_key_kept(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "key"
    write(path, "vck_first_key_0001\n", 1)
    key = FileKey(path)
    write(path, "two words\n", 2)
    with caplog.at_level(logging.WARNING, logger="exporter.gateway.keys"):
        for _ in range(5):
            assert key.get() == "vck_first_key_0001"
    assert [r.getMessage() for r in caplog.records] == [
        f"api_key_file {path} contains whitespace; expected a single token; "
        "keeping the last good key"
    ]
    write(path, "vck_fixed_key_0003\n", 3)
    assert key.get() == "vck_fixed_key_0003"


def test_reload_reads_now_and_says_whether_the_key_changed(tmp_path: Path) -> None:
    path = tmp_path / "key"
    write(path, "vck_first_key_0001\n", 1)
    key = FileKey(path)
    assert key.reload() is False
    write(path, "vck_other_key_0002\n", 1)  # same size and mtime: only a reload sees it
    assert key.get() == "vck_first_key_0001"
    assert key.reload() is True and key.get() == "vck_other_key_0002"
    write(path, "", 4)
    with pytest.raises(ConfigError, match="is empty"):
        key.reload()
    assert key.get() == "vck_other_key_0002"
    path.unlink()
    with pytest.raises(ConfigError, match="cannot read"):
        key.reload()


def test_fixed_keys_never_change() -> None:
    assert StaticKey("vck_static_key_0001").reload() is False
    assert EnvKey("K", {"K": "vck_env_key_0001"}).reload() is False
