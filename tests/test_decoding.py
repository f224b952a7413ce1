"""crawler/decoding.py and crawler/compression.py: every encoding and layered ones decode as
Scrapy's decoders do, stop at the cap with the prefix kept, and never hold more than the cap."""
from __future__ import annotations

import gzip
import time
import tracemalloc
import zlib

import brotli
import pytest
from scrapy import Request
from scrapy.http import HtmlResponse, Response
from scrapy.utils._compression import zstd
from scrapy.utils.test import get_crawler

from crawler.compression import CONTENT_ENCODINGS, DECODE_LAZILY, CappedHttpCompressionMiddleware
from crawler.decoding import DECODED_CUT_FLAG, DecodedReader, DecodeError, decode_capped, decoded_chunks

TEXT = b"<p>" + b"".join(b"line %d of a page that compresses well\n" % n for n in range(20_000)) + b"</p>"


def raw_deflate(data: bytes) -> bytes:
    compressor = zlib.compressobj(wbits=-15)
    return compressor.compress(data) + compressor.flush()


ENCODERS = {
    b"gzip": lambda data: gzip.compress(data, mtime=0),
    b"x-gzip": lambda data: gzip.compress(data, mtime=0),
    b"deflate": zlib.compress,
    b"br": brotli.compress,
    b"zstd": zstd.compress,
}


@pytest.mark.parametrize("encoding", list(ENCODERS))
def test_each_encoding_decodes_whole_under_the_cap_and_to_the_cap_over_it(encoding):
    body = ENCODERS[encoding](TEXT)
    assert decode_capped(body, [encoding], 0) == (TEXT, False)
    assert decode_capped(body, [encoding], len(TEXT)) == (TEXT, False)
    assert decode_capped(body, [encoding], 100_000) == (TEXT[:100_000], True)
    assert decode_capped(body, [encoding], 1) == (TEXT[:1], True)


def test_raw_deflate_without_a_zlib_header_is_read_too():
    """Some servers send raw deflate as `deflate`; Scrapy's _inflate falls back to it, so do we."""
    assert decode_capped(raw_deflate(TEXT), [b"deflate"], 0) == (TEXT, False)


def test_layers_are_undone_in_the_order_given_last_applied_first():
    body = brotli.compress(gzip.compress(zlib.compress(TEXT)))  # Content-Encoding: deflate, gzip, br
    assert decode_capped(body, [b"br", b"gzip", b"deflate"], 0) == (TEXT, False)
    assert decode_capped(body, [b"br", b"gzip", b"deflate"], 5000) == (TEXT[:5000], True)


def test_gzip_members_one_after_another_are_one_body():
    assert decode_capped(gzip.compress(b"first ") + gzip.compress(b"second"), [b"gzip"], 0) == (b"first second", False)


def test_a_gzip_member_that_ends_where_a_64_kib_step_ends_is_followed_by_the_next():
    first = next(member for size in range(65_000, 65_536)
                 if len(member := gzip.compress(b"a" * size, compresslevel=0, mtime=0)) == 65_536)  # fmt: skip
    decoded, cut = decode_capped(first + gzip.compress(b"second"), [b"gzip"], 0)
    assert decoded.endswith(b"asecond") and not cut


@pytest.mark.parametrize("encoding", [b"gzip", b"deflate", b"zstd"])
def test_a_stream_cut_on_the_wire_yields_what_it_decoded(encoding):
    body = ENCODERS[encoding](TEXT)
    decoded, cut = decode_capped(body[: len(body) // 2], [encoding], 0)
    assert 0 < len(decoded) < len(TEXT) and TEXT.startswith(decoded) and not cut


@pytest.mark.parametrize("encoding", [b"gzip", b"deflate", b"br", b"zstd"])
def test_garbage_is_a_decode_error_naming_the_encoding(encoding):
    with pytest.raises(DecodeError, match=encoding.decode()):
        decode_capped(b"\x00\xffthis is not compressed at all" * 10, [encoding], 0)


def test_more_than_eight_layers_are_refused_before_any_decoding():
    body = TEXT
    for _ in range(9):
        body = gzip.compress(body)
    assert decode_capped(body, [b"gzip"] * 8, 0)[0].startswith(b"\x1f\x8b")  # eight undone, one left
    with pytest.raises(DecodeError, match="9 content codings, more than the 8 undone"):
        decode_capped(body, [b"gzip"] * 9, 0)


def test_an_empty_body_decodes_to_nothing():
    assert decode_capped(b"", [b"gzip", b"br"], 100) == (b"", False)


def gzip_bomb(size: int, layers: int) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = b"\0" * (1 << 20)
    body = b"".join(compressor.compress(block) for _ in range(size >> 20)) + compressor.flush()
    for _ in range(layers - 1):
        body = gzip.compress(body, 9)
    return body


def test_a_triple_gzip_bomb_is_decoded_only_up_to_the_cap_in_memory_and_time():
    """~250 bytes that decode to 256 MiB: at most the cap is ever held, and only the cap's worth
    of decoding is done (256 MiB would take seconds and 256 MiB of memory, three times over)."""
    bomb = gzip_bomb(256 << 20, layers=3)
    assert len(bomb) < 400
    cap = 2 * 1024 * 1024
    tracemalloc.start()
    started = time.process_time()
    decoded, cut = decode_capped(bomb, [b"gzip", b"gzip", b"gzip"], cap)
    seconds = time.process_time() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert (len(decoded), cut) == (cap, True)
    assert peak < 3 * cap, peak  # the result, its bytearray, a step per layer
    assert seconds < 1.0, seconds


def test_the_reader_stops_at_its_cap_and_says_it_was_cut():
    reader = DecodedReader(decoded_chunks(gzip.compress(TEXT), [b"gzip"]), 10_000)
    read = b"".join(iter(lambda: reader.read(4096), b""))
    assert read == TEXT[:10_000]
    assert (reader.decoded_bytes, reader.cut, reader.error) == (10_000, True, None)


def test_the_reader_is_not_cut_when_the_stream_ends_at_its_cap():
    reader = DecodedReader(decoded_chunks(gzip.compress(TEXT), [b"gzip"]), len(TEXT))
    assert reader.read() == TEXT and not reader.cut


def test_the_reader_never_raises_and_says_why_it_ended():
    reader = DecodedReader(decoded_chunks(b"not gzip" * 20, [b"gzip"]), 1000)
    assert reader.read() == b""
    assert reader.error.startswith("gzip: ")


# --- The middleware -------------------------------------------------------------------------


@pytest.fixture
def middleware():
    return CappedHttpCompressionMiddleware.from_crawler(get_crawler(settings_dict={"CRAWL_BODY_MAX_BYTES": 50_000}))


def encoded_response(body: bytes, encoding: bytes, meta: dict | None = None) -> tuple[Request, Response]:
    request = Request("http://site.test/page", meta=meta or {})
    response = Response("http://site.test/page", body=body, request=request,
                        headers={"Content-Type": "text/html", "Content-Encoding": encoding})  # fmt: skip
    return request, response


def test_the_middleware_cuts_a_layered_body_at_the_cap_and_flags_it(middleware):
    request, response = encoded_response(gzip.compress(gzip.compress(TEXT)), b"gzip, gzip")
    decoded = middleware.process_response(request, response)
    assert decoded.body == TEXT[:50_000]
    assert DECODED_CUT_FLAG in decoded.flags
    assert isinstance(decoded, HtmlResponse)  # the class is chosen again, as Scrapy does
    assert b"Content-Encoding" not in decoded.headers


def test_the_middleware_decodes_a_body_under_the_cap_as_scrapy_does(middleware):
    request, response = encoded_response(brotli.compress(TEXT[:40_000]), b"br")
    decoded = middleware.process_response(request, response)
    assert decoded.body == TEXT[:40_000] and DECODED_CUT_FLAG not in decoded.flags


def test_the_middleware_keeps_an_unknown_outer_encoding_and_decodes_nothing_under_it(middleware):
    request, response = encoded_response(gzip.compress(TEXT), b"gzip, compress")
    decoded = middleware.process_response(request, response)
    assert decoded.body == response.body
    assert decoded.headers.getlist("Content-Encoding") == [b"gzip", b"compress"]


def test_a_lazily_decoded_request_keeps_its_body_and_learns_what_to_undo(middleware):
    request, response = encoded_response(gzip.compress(TEXT), b"gzip", meta={DECODE_LAZILY: True})
    assert middleware.process_response(request, response) is response
    assert request.meta[CONTENT_ENCODINGS] == [b"gzip"]
