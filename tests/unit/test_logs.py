"""Log lines: logfmt and JSON shapes, and secrets masked whatever carries them."""

from __future__ import annotations

import json
import logging

from exporter.logs import JsonFormatter, LogfmtFormatter
from exporter.redaction import MASK, SECRETS


def record(msg: str, **extra: object) -> logging.LogRecord:
    rec = logging.makeLogRecord(
        {
            "name": "exporter.test",
            "levelname": "INFO",
            "levelno": logging.INFO,
            "msg": msg,
            "args": (),
        }
    )
    for key, value in extra.items():
        setattr(rec, key, value)
    return rec


def test_logfmt_quotes_values_with_spaces() -> None:
    line = LogfmtFormatter().format(record("credits refresh failed", team="prod", code="500"))
    assert 'level=info logger=exporter.test msg="credits refresh failed" team=prod code=500' in line


def test_json_is_one_object() -> None:
    line = JsonFormatter().format(record("hello", team="prod"))
    assert json.loads(line)["team"] == "prod"


def test_registered_secret_is_masked_in_message_fields_and_errors() -> None:
    secret = "sk-live-DO-NOT-LEAK-123456"
    SECRETS.add(secret)
    rec = record(f"header Bearer {secret}", error=f"bad key {secret}")
    for formatter in (LogfmtFormatter(), JsonFormatter()):
        line = formatter.format(rec)
        assert secret not in line and MASK in line
