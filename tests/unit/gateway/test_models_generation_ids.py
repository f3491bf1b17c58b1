"""The generation ID pattern (property-based) and how intake bodies are read."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from exporter.gateway.models import canonical_generation_id, is_generation_id
from exporter.generations.follower import ids_in
from exporter.generations.intake import ID_HINT, IntakeError, split_ids
from exporter.simulator.world import CROCKFORD, new_ulid
from exporter.web.intake import parse_body

crockford = st.text(alphabet=CROCKFORD, min_size=26, max_size=26)


@given(crockford)
def test_every_crockford_body_is_an_id(body: str) -> None:
    assert is_generation_id("gen_" + body)


@given(st.text(max_size=40))
def test_arbitrary_text_is_an_id_only_if_it_has_the_exact_shape(text: str) -> None:
    expected = len(text) == 30 and text.startswith("gen_") and all(c in CROCKFORD for c in text[4:])
    assert is_generation_id(text) is expected


@given(crockford, st.sampled_from("ILOU" + "abcdefghjkmnpqrstvwxyz!-_ "), st.integers(0, 25))
def test_one_foreign_character_spoils_an_id(body: str, char: str, where: int) -> None:
    assert not is_generation_id("gen_" + body[:where] + char + body[where + 1 :])


@given(st.integers(0, 2**48 - 1), st.randoms(use_true_random=False))
def test_simulator_ulids_are_valid_ids(millis: int, rng: object) -> None:
    assert is_generation_id("gen_" + new_ulid(rng, millis))  # type: ignore[arg-type]


@given(st.lists(crockford, max_size=5), st.text(alphabet='ab _:"{},\n', max_size=30))
def test_ids_are_found_in_log_lines(bodies: list[str], noise: str) -> None:
    ids = ["gen_" + b for b in bodies]
    line = noise.join(f'{{"id":"{i}"}}' for i in ids) + "\n"
    assert ids_in(line.encode()) == ids


def test_ids_glued_to_other_text_are_not_picked() -> None:
    assert ids_in(b"xgen_01ARZ3NDEKTSV4RRFFQ69G5FAV gen_01ARZ3NDEKTSV4RRFFQ69G5FAVZ\n") == []


def test_json_forms() -> None:
    gen = "gen_01ARZ3NDEKTSV4RRFFQ69G5FAV"
    assert parse_body("application/json", json.dumps({"ids": [gen]}).encode(), None) == (
        None,
        [gen],
        {},
    )
    assert parse_body(
        "application/json; charset=utf-8", json.dumps({"id": gen, "team": "prod"}).encode(), None
    ) == ("prod", [gen], {})
    assert parse_body("text/plain", f"{gen}\n\n  {gen}  \n".encode(), "prod") == (
        "prod",
        [gen, gen],
        {},
    )
    with_attributes = {"id": gen, "attributes": {"feature": "chat"}}
    assert parse_body("application/json", json.dumps(with_attributes).encode(), None) == (
        None,
        [gen],
        {"feature": "chat"},
    )


@pytest.mark.parametrize(
    ("content_type", "body", "status", "message"),
    [
        ("application/json", b"{", 400, "body is not valid JSON"),
        ("application/json", b"[1]", 400, "expected a JSON object"),
        ("application/json", b'{"ids": "gen_x"}', 400, '"ids" must be a list of strings'),
        ("application/json", b'{"ids": ["gen_x", 7]}', 400, '"ids" must be a list of strings'),
        ("application/json", b'{"id": {}}', 400, '"id" must be a string'),
        ("application/json", b'{"ids": [], "id": "x"}', 400, 'give exactly one of "ids"'),
        ("application/json", b'{"idz": []}', 400, "unknown field 'idz'"),
        ("application/json", b'{"id": "x", "team": 5}', 400, '"team" must be a string'),
        ("application/json", b"\xff\xfe", 400, "body is not valid UTF-8"),
        ("application/xml", b"<ids/>", 415, "unsupported content type 'application/xml'"),
        ("", b"gen_", 415, "unsupported content type '(none)'"),
    ],
)
def test_bad_bodies(content_type: str, body: bytes, status: int, message: str) -> None:
    with pytest.raises(IntakeError) as caught:
        parse_body(content_type, body, None)
    assert caught.value.status == status
    assert str(caught.value).startswith(message)


def test_split_ids_explains_each_reject() -> None:
    valid, rejected = split_ids(["gen_01ARZ3NDEKTSV4RRFFQ69G5FAV", "gen_nope", " "])
    assert valid == ["gen_01ARZ3NDEKTSV4RRFFQ69G5FAV"]
    assert rejected == [{"id": "gen_nope", "reason": ID_HINT}, {"id": " ", "reason": ID_HINT}]


@given(crockford, st.lists(st.booleans(), min_size=26, max_size=26))
def test_a_ulid_in_any_case_is_taken_in_the_canonical_upper_case(
    body: str, lower: list[bool]
) -> None:
    """Never seen from the gateway, which issues upper case, but Crockford base32 ignores
    case: a log pipeline that folds case must not lose the generation."""
    mixed = "".join(c.lower() if low else c for c, low in zip(body, lower, strict=True))
    assert canonical_generation_id("gen_" + mixed) == "gen_" + body


def test_lower_case_ids_are_accepted_canonically_and_gen_is_not_folded() -> None:
    valid, rejected = split_ids(
        ["gen_01arz3ndektsv4rrffq69g5fav", "GEN_01ARZ3NDEKTSV4RRFFQ69G5FAV"]
    )
    assert valid == ["gen_01ARZ3NDEKTSV4RRFFQ69G5FAV"]
    assert rejected == [{"id": "GEN_01ARZ3NDEKTSV4RRFFQ69G5FAV", "reason": ID_HINT}]
    assert canonical_generation_id("gen_01arz3ndektsv4rrffq69g5fai") is None, "no I, L, O, U"
    line = b'{"id":"gen_01arz3ndektsv4rrffq69g5fav"} gen_01ARZ3NDEKTSV4RRFFQ69G5FAV\n'
    assert ids_in(line) == ["gen_01ARZ3NDEKTSV4RRFFQ69G5FAV"] * 2, "one ID, counted once"
