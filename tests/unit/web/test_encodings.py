"""Compressed intake bodies: every encoding an OTLP sender uses, inflated whole or refused
clearly, and never inflated much past the limit, whatever the body claims."""

from __future__ import annotations

import gzip
import os
import tracemalloc
import zlib
from collections.abc import Callable

import pytest
import zstandard

from exporter.generations.intake import IntakeError
from exporter.web.encodings import inflate

LIMIT = 4 << 20
DATA = os.urandom(4096) * 64  # 256 KiB, little to gain but many blocks


def raw_deflate(data: bytes) -> bytes:
    compressor = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    return compressor.compress(data) + compressor.flush()


def zstd(data: bytes) -> bytes:
    return zstandard.ZstdCompressor().compress(data)


def zstd_streamed(data: bytes) -> bytes:
    """As a streaming encoder writes it: the frame does not declare its content size."""
    compressor = zstandard.ZstdCompressor().compressobj()
    return compressor.compress(data) + compressor.flush()


COMPRESSORS: dict[str, tuple[str, Callable[[bytes], bytes]]] = {
    "gzip": ("gzip", gzip.compress),
    "deflate (zlib, as RFC 9110 has it)": ("deflate", zlib.compress),
    "deflate (raw, as some clients send it)": ("deflate", raw_deflate),
    "zstd": ("zstd", zstd),
    "zstd, streamed": ("zstd", zstd_streamed),
}


@pytest.mark.parametrize("name", COMPRESSORS)
def test_each_encoding_round_trips(name: str) -> None:
    encoding, compress = COMPRESSORS[name]
    assert inflate(compress(DATA), encoding, LIMIT) == DATA
    assert inflate(compress(DATA), encoding.upper() + " ", LIMIT) == DATA, "as headers vary"


@pytest.mark.parametrize("encoding", ["gzip", "zstd"])
def test_every_member_or_frame_is_read(encoding: str) -> None:
    """A concatenation is one stream to every reader: what follows the first part counts."""
    compress = COMPRESSORS[encoding][1]
    assert inflate(compress(DATA) + compress(b"tail"), encoding, LIMIT) == DATA + b"tail"


@pytest.mark.parametrize("name", COMPRESSORS)
def test_a_cut_off_body_is_refused(name: str) -> None:
    encoding, compress = COMPRESSORS[name]
    with pytest.raises(IntakeError) as caught:
        inflate(compress(DATA)[:-7], encoding, LIMIT)
    assert caught.value.status == 400
    assert f"not valid {encoding}" in str(caught.value)


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "zstd"])
def test_garbage_is_refused(encoding: str) -> None:
    with pytest.raises(IntakeError) as caught:
        inflate(b"\x28\xb5\x2f\xfd garbage" * 10, encoding, LIMIT)
    assert caught.value.status == 400


def test_data_after_a_deflate_stream_is_refused() -> None:
    with pytest.raises(IntakeError, match="follows the end"):
        inflate(zlib.compress(DATA) + b"more", "deflate", LIMIT)


@pytest.mark.parametrize("name", COMPRESSORS)
def test_a_bomb_stops_at_the_limit_without_holding_what_it_would_inflate_to(name: str) -> None:
    """A megabyte of zeros per kilobyte sent (zstd: far more): the answer is 413, and no more
    than about the limit is ever held, not the 64 MiB the body would become."""
    encoding, compress = COMPRESSORS[name]
    bomb = compress(bytes(64 << 20))
    tracemalloc.start()
    try:
        with pytest.raises(IntakeError) as caught:
            inflate(bomb, encoding, LIMIT)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert caught.value.status == 413
    assert f"larger than {LIMIT} bytes once decompressed" in str(caught.value)
    assert peak < 3 * LIMIT, f"{peak} bytes held for a {LIMIT}-byte limit"


def test_a_zstd_frame_asking_for_a_huge_window_is_refused() -> None:
    """The frame header says how much memory its decoder needs: 128 MiB here."""
    params = zstandard.ZstdCompressionParameters(window_log=27, enable_ldm=True)
    compressor = zstandard.ZstdCompressor(compression_params=params).compressobj()
    body = compressor.compress(DATA) + compressor.flush()
    assert zstandard.get_frame_parameters(body).window_size == 1 << 27
    with pytest.raises(IntakeError) as caught:
        inflate(body, "zstd", LIMIT)
    assert caught.value.status == 400


@pytest.mark.parametrize("encoding", ["br", "compress", "gzip, gzip"])
def test_other_encodings_are_named_in_a_415(encoding: str) -> None:
    with pytest.raises(IntakeError) as caught:
        inflate(b"x", encoding, LIMIT)
    assert caught.value.status == 415
    assert "send gzip, deflate, zstd or none" in str(caught.value)


@pytest.mark.parametrize("encoding", ["", "identity"])
def test_no_encoding_is_the_body_itself(encoding: str) -> None:
    assert inflate(DATA, encoding, LIMIT) is DATA
