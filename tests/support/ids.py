"""Generation IDs for tests that intake will take: made within the dedup retention of the
clock that receives them (exporter/generations/intake.py refuses older and future IDs)."""

from __future__ import annotations

import time

from exporter.clock import FakeClock
from exporter.generations.idcodec import PREFIX, time_part

FAKE_NOW = FakeClock().time()  # where every FakeClock starts
_RANDOM_CHARS = 16


def gen_id(tail: str | int = 0, at: float = FAKE_NOW) -> str:
    """``gen_``, the ULID time of ``at`` (Unix seconds) and ``tail`` (Crockford characters,
    or a number written in decimal) right-aligned in the 16 random characters."""
    return PREFIX + time_part(at) + str(tail).rjust(_RANDOM_CHARS, "0")


def live_id(tail: str | int = 0) -> str:
    """An ID made now by the real clock: for a running exporter."""
    return gen_id(tail, time.time())
