"""The Content-Encoding of an intake body: gzip, deflate and zstd, inflated under a cap.

OTLP exporters compress what they send: gzip (every SDK), deflate (offered by the Python
OTLP exporter) and zstd (the OpenTelemetry Collector's otlphttp exporter). Each decoder
writes into one buffer and stops as soon as the output passes the limit, so a small bomb
stays small and a body never exists twice in full beside its compressed form.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable

import zstandard

from exporter.generations.intake import IntakeError

ACCEPTED = ("gzip", "deflate", "zstd")
_STEP = 1 << 20  # inflate a megabyte at a time, checking the limit between steps
# zstd frames declare the window their decoder must allocate: refused above this, which no
# compression level short of --long needs.
_ZSTD_MAX_WINDOW = 1 << 25


def inflate(body: bytes | bytearray, encoding: str, limit: int) -> bytes | bytearray:
    """``body`` decoded as its Content-Encoding says; IntakeError (400, 413 or 415) else."""
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        return body
    decoder = _DECODERS.get(encoding)
    if decoder is None:
        raise IntakeError(
            415,
            f"unsupported Content-Encoding {encoding!r}: send {', '.join(ACCEPTED)} or none",
        )
    return decoder(body, limit)


def _gzip(body: bytes | bytearray, limit: int) -> bytearray:
    """Every gzip member: a concatenation is one gzip stream to every reader."""
    out = bytearray()
    rest = body
    while rest:
        rest = _zlib_stream(rest, 16 + zlib.MAX_WBITS, out, limit, "gzip")
    return out


def _deflate(body: bytes | bytearray, limit: int) -> bytearray:
    """HTTP's deflate is a zlib stream (RFC 9110), but some clients send raw deflate: the
    zlib header tells them apart."""
    wrapped = len(body) >= 2 and body[0] & 0x0F == 8 and (body[0] << 8 | body[1]) % 31 == 0
    out = bytearray()
    if _zlib_stream(body, zlib.MAX_WBITS if wrapped else -zlib.MAX_WBITS, out, limit, "deflate"):
        raise IntakeError(400, "body is not valid deflate: data follows the end of the stream")
    return out


def _zlib_stream(
    data: bytes | bytearray, wbits: int, out: bytearray, limit: int, name: str
) -> bytes:
    """Inflate one stream into ``out``; returns what follows it."""
    inflater = zlib.decompressobj(wbits)
    try:
        while not inflater.eof:
            part = inflater.decompress(data, _STEP)
            if not part and not inflater.unconsumed_tail:
                raise IntakeError(400, f"body is not valid {name}: it ends early")
            out += part
            _check(out, limit)
            data = inflater.unconsumed_tail
    except zlib.error:
        raise IntakeError(400, f"body is not valid {name}") from None
    return inflater.unused_data


def _zstd(body: bytes | bytearray, limit: int) -> bytearray:
    """Every zstd frame. The input goes in small enough pieces that no piece can inflate far
    past the room left (zstd reaches about 32,768:1 at most, in RLE blocks)."""
    out = bytearray()
    decompressor = zstandard.ZstdDecompressor(max_window_size=_ZSTD_MAX_WINDOW)
    frame, in_frame = decompressor.decompressobj(), False
    data = memoryview(body)
    try:
        while data:
            piece = data[: max(64, (limit - len(out)) >> 15)]
            out += frame.decompress(piece)
            _check(out, limit)
            in_frame = True
            data = data[len(piece) :]
            if frame.eof:  # what the frame left of the piece starts the next one
                data = memoryview(body)[len(body) - len(data) - len(frame.unused_data) :]
                frame, in_frame = decompressor.decompressobj(), False
    except zstandard.ZstdError as exc:
        raise IntakeError(400, f"body is not valid zstd: {exc}") from None
    if in_frame:
        raise IntakeError(400, "body is not valid zstd: it ends early")
    return out


def _check(out: bytearray, limit: int) -> None:
    if len(out) > limit:
        raise IntakeError(413, f"body larger than {limit} bytes once decompressed")


_DECODERS: dict[str, Callable[[bytes | bytearray, int], bytearray]] = {
    "gzip": _gzip,
    "deflate": _deflate,
    "zstd": _zstd,
}
