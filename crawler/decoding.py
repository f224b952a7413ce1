"""Undo a body's Content-Encoding incrementally, never past a size cap.

Scrapy's decoders (`scrapy.utils.gz.gunzip`, `scrapy.utils._compression`) decode in 64 KiB steps
and check `DOWNLOAD_MAXSIZE` after each, but each layer is decoded whole before the next starts,
and going over the cap raises and keeps nothing. We cut instead of dropping (a cut page is still
recorded, a cut sitemap still read up to its cut: docs/crawler.md), so here the same
decompressors (zlib, brotli, zstd) are chained as generators of 64 KiB steps: `gzip, gzip, gzip`
decodes layer by layer only as far as the outermost reader asks, and a reader that stops at the
cap stops every layer. Memory is the cap plus one step per layer, whatever the ratio, and the CPU
spent is that of decoding the cap's worth of output.

Like Scrapy's gunzip, a damaged or truncated stream (a body cut on the wire, say) yields what it
decoded before the damage; one that yields nothing at all raises `DecodeError`.
"""
from __future__ import annotations

import io
import zlib
from typing import TYPE_CHECKING

from scrapy.utils._compression import _CHUNK_SIZE, brotli, zstd

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator

GZIP_MAGIC = b"\x1f\x8b"
# Layers undone at most. Each is a decompressor (zlib's keeps a 32 KiB window) and a generator
# that every step passes through: a header naming a thousand would cost memory and Python's
# recursion limit. Real servers send one, two at most.
MAX_LAYERS = 8
DECODED_CUT_FLAG = "decoded_cut"  # response.flags: the decoded body was cut at the cap


class DecodeError(ValueError):
    """A layer of the body could not be decoded at all."""


def _slices(body: bytes) -> Iterator[bytes]:
    view = memoryview(body)
    for start in range(0, len(body), _CHUNK_SIZE):
        yield bytes(view[start:start + _CHUNK_SIZE])


def _zlib_layer(chunks: Iterable[bytes], wbits: int, name: str, fallback_wbits: int | None = None) -> Iterator[bytes]:
    """zlib-family streams (gzip members one after another, zlib, or raw deflate as a fallback
    when the first bytes are not a zlib header, as Scrapy's `_inflate` does)."""
    decompressor = zlib.decompressobj(wbits=wbits)
    produced = False
    for data in chunks:
        while data:
            if decompressor.eof:  # a stream ended, in this chunk or the one before: another gzip member?
                if wbits != 31 or not data.startswith(GZIP_MAGIC):
                    return  # anything after the stream is not part of it
                decompressor = zlib.decompressobj(wbits=wbits)
            try:
                out = decompressor.decompress(data, _CHUNK_SIZE)
            except zlib.error as exc:
                if not produced and fallback_wbits is not None:
                    decompressor, fallback_wbits = zlib.decompressobj(wbits=fallback_wbits), None
                    continue
                if produced:
                    return  # damaged after some output: keep what was decoded (Scrapy's gunzip does)
                raise DecodeError(f"{name}: {exc}") from None
            fallback_wbits = None
            if out:
                produced = True
                yield out
            data = decompressor.unconsumed_tail
            if decompressor.eof:
                data = decompressor.unused_data + data
            elif not out and not data:
                break
        # Input used up: output that zlib still holds (a long match) comes out in steps too.
        while not decompressor.eof:
            out = decompressor.decompress(b"", _CHUNK_SIZE)
            if not out:
                break
            yield out


def _gunzip(chunks: Iterable[bytes]) -> Iterator[bytes]:
    return _zlib_layer(chunks, 31, "gzip")


def _inflate(chunks: Iterable[bytes]) -> Iterator[bytes]:
    return _zlib_layer(chunks, 15, "deflate", fallback_wbits=-15)


def _unbrotli(chunks: Iterable[bytes]) -> Iterator[bytes]:
    decompressor = brotli.Decompressor()
    produced = False
    try:
        for data in chunks:
            out = decompressor.process(data, output_buffer_limit=_CHUNK_SIZE)
            while out:
                produced = True
                yield out
                if decompressor.is_finished():
                    return
                out = decompressor.process(b"", output_buffer_limit=_CHUNK_SIZE)
    except brotli.error as exc:
        if not produced:
            raise DecodeError(f"br: {exc}") from None
        return


def _unzstd(chunks: Iterable[bytes]) -> Iterator[bytes]:
    decompressor = zstd.ZstdDecompressor()
    produced = False
    try:
        for data in chunks:
            while True:
                out = decompressor.decompress(data, _CHUNK_SIZE)
                data = b""
                if out:
                    produced = True
                    yield out
                if decompressor.eof:
                    data = decompressor.unused_data
                    if not data:
                        break
                    decompressor = zstd.ZstdDecompressor()  # the next frame
                elif decompressor.needs_input:
                    break
    except zstd.ZstdError as exc:
        if not produced:
            raise DecodeError(f"zstd: {exc}") from None
        return


LAYERS: dict[bytes, Callable[[Iterable[bytes]], Iterator[bytes]]] = {
    b"gzip": _gunzip,
    b"x-gzip": _gunzip,
    b"deflate": _inflate,
    b"br": _unbrotli,
    b"zstd": _unzstd,
}


def decoded_chunks(body: bytes, encodings: list[bytes]) -> Iterator[bytes]:
    """The decoded body in steps; `encodings` in decoding order (the last one applied first), as
    HttpCompressionMiddleware._split_encodings gives them."""
    return decode_layers(_slices(body), encodings)


def decode_layers(chunks: Iterator[bytes], encodings: list[bytes]) -> Iterator[bytes]:
    if len(encodings) > MAX_LAYERS:
        raise DecodeError(f"{len(encodings)} content codings, more than the {MAX_LAYERS} undone")
    for encoding in encodings:
        chunks = LAYERS[encoding](chunks)
    return chunks


def decode_capped(body: bytes, encodings: list[bytes], max_bytes: int) -> tuple[bytes, bool]:
    """(the decoded body, at most `max_bytes` of it; True when there was more). 0: no cap.
    With nothing to decode the body is returned as it is (the wire cap is BodySizeCapMiddleware's)."""
    if not encodings:
        return body, False
    decoded = bytearray()
    for chunk in decoded_chunks(body, encodings):
        if max_bytes and len(decoded) + len(chunk) > max_bytes:
            decoded += chunk[:max_bytes - len(decoded)]
            return bytes(decoded), True
        decoded += chunk
    return bytes(decoded), False


class DecodedReader(io.RawIOBase):
    """A binary file over decoded chunks that ends at `max_bytes` (0: no cap), for a parser that
    reads as it goes (lxml's iterparse), so the decoded document is never whole in memory.
    `decoded_bytes` is what was read; `cut` says the stream went on past the cap. It never
    raises: a damaged stream ends where it was damaged (at once when nothing could be decoded),
    and `error` says why."""

    def __init__(self, chunks: Iterator[bytes], max_bytes: int = 0):
        self.chunks = chunks
        self.max_bytes = max_bytes
        self.pending = b""
        self.offset = 0  # of the next byte of `pending` to read
        self.decoded_bytes = 0
        self.cut = False
        self.error: str | None = None

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        room = len(buffer) if not self.max_bytes else min(len(buffer), self.max_bytes - self.decoded_bytes)
        if room <= 0:
            self.cut = self.cut or self._more()
            return 0
        if self.offset == len(self.pending) and not self._fill():
            return 0
        end = min(self.offset + room, len(self.pending))
        taken = end - self.offset
        buffer[:taken] = self.pending[self.offset:end]
        self.offset = end
        self.decoded_bytes += taken
        return taken

    def _fill(self) -> bool:
        """Load the next non-empty chunk into `pending`; False at the end of the stream."""
        try:
            for chunk in self.chunks:
                if chunk:
                    self.pending, self.offset = chunk, 0
                    return True
        except DecodeError as exc:
            self.error = str(exc)
        return False

    def _more(self) -> bool:
        """At the cap: is there anything past it? (decodes one more step at most)"""
        return self.offset < len(self.pending) or self._fill()
