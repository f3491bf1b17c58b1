"""Generation IDs as stored: 16 bytes for a ULID, 17 for the rest of what intake accepts."""

from __future__ import annotations

import random

import pytest

from exporter.generations import idcodec
from exporter.generations.idcodec import CROCKFORD
from exporter.generations.schema import OUTCOME_CODES
from exporter.generations.series import ABANDON_REASONS


def random_id(rng: random.Random, first: str = CROCKFORD) -> str:
    return "gen_" + rng.choice(first) + "".join(rng.choice(CROCKFORD) for _ in range(25))


@pytest.mark.parametrize(
    ("gen_id", "key"),
    [
        ("gen_" + "0" * 26, bytes(16)),
        ("gen_" + "0" * 25 + "1", bytes(15) + b"\x01"),
        ("gen_7" + "Z" * 25, b"\xff" * 16),  # the largest ULID
        ("gen_8" + "0" * 25, b"\x01" + bytes(16)),  # one past it: a 17th byte
        ("gen_" + "Z" * 26, b"\x03" + b"\xff" * 16),  # all 130 bits
    ],
)
def test_the_edges_of_the_range_round_trip(gen_id: str, key: bytes) -> None:
    assert idcodec.encode(gen_id) == key
    assert idcodec.decode(key) == gen_id


def test_every_accepted_id_round_trips_to_its_own_key() -> None:
    rng = random.Random(5)
    ids = {random_id(rng) for _ in range(5000)}
    keys = {idcodec.encode(gen_id): gen_id for gen_id in ids}
    assert len(keys) == len(ids), "two IDs never share a key"
    assert all(idcodec.decode(key) == gen_id for key, gen_id in keys.items())
    assert {len(key) for key in keys} == {16, 17}


def test_ulid_keys_keep_the_ulid_order() -> None:
    rng = random.Random(6)
    ulids = [random_id(rng, first="01234567") for _ in range(2000)]
    assert sorted(ulids, key=idcodec.encode) == sorted(ulids)


@pytest.mark.parametrize(
    "value",
    [
        "gen_01arz3ndektsv4rrffq69g5fav",
        "gen_01ARZ3NDEKTSV4RRFFQ69G5FA",
        "gen_01ARZ3NDEKTSV4RRFFQ69G5FAI",
    ],
)
def test_what_is_not_a_canonical_id_is_refused(value: str) -> None:
    with pytest.raises(ValueError, match="not a canonical generation ID"):
        idcodec.encode(value)


def test_every_outcome_has_its_own_stored_code() -> None:
    assert {"found", *ABANDON_REASONS} <= OUTCOME_CODES.keys()
    assert len(set(OUTCOME_CODES.values())) == len(OUTCOME_CODES)
