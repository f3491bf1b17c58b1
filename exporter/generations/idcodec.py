"""Generation IDs in the state file: the 26 Crockford base32 characters as a big-endian number.

A generation ID is ``gen_`` and a ULID, 128 bits written as 26 characters (130 bits, so the
first character of a ULID is 0-7). Stored as text it takes 30 bytes; as 16 bytes of number it
takes about half, which is most of the state file. Intake also accepts a first character of
8-Z (no gateway ID has one, but the pattern allows it): those take a 17th byte, so every ID
intake accepts round-trips and two IDs never share a key. The key keeps the ULID's order.
"""

from __future__ import annotations

from exporter.gateway.models import is_generation_id

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
PREFIX = "gen_"
_TO_DIGITS = str.maketrans(CROCKFORD, "0123456789ABCDEFGHIJKLMNOPQRSTUV")  # int(…, 32)'s
_ULID_BITS = 128
_CHARS = 26
_TIME_CHARS = 10  # a ULID's first 48 bits: its creation time in Unix milliseconds


def encode(gen_id: str) -> bytes:
    """The key of a canonical generation ID (upper case, as intake stores it)."""
    if not is_generation_id(gen_id):
        raise ValueError(f"not a canonical generation ID: {gen_id!r}")
    number = int(gen_id[len(PREFIX) :].translate(_TO_DIGITS), 32)
    return number.to_bytes(16 if number >> _ULID_BITS == 0 else 17, "big")


def decode(key: bytes) -> str:
    """The generation ID ``encode`` made ``key`` of."""
    number = int.from_bytes(key, "big")
    chars = []
    for _ in range(_CHARS):
        number, digit = divmod(number, 32)
        chars.append(CROCKFORD[digit])
    return PREFIX + "".join(reversed(chars))


def time_part(at: float) -> str:
    """The characters a ULID made at ``at`` (Unix seconds) starts with: intake takes an ID only
    when they are recent (exporter/generations/intake.py), so tools that make up IDs use this."""
    millis, chars = int(at * 1000), []
    for _ in range(_TIME_CHARS):
        millis, digit = divmod(millis, 32)
        chars.append(CROCKFORD[digit])
    return "".join(reversed(chars))


def created_at(gen_id: str) -> float:
    """The Unix time a canonical generation ID was made at, from its ULID's first 48 bits
    (beyond any real time for an ID above the ULID range)."""
    return int(gen_id[len(PREFIX) : len(PREFIX) + _TIME_CHARS].translate(_TO_DIGITS), 32) / 1000
