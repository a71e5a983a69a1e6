"""The one gzip reader (retrieval.compression) and the archive's line blocks on top of it."""

import gzip
import zlib

import pytest

from archive.jsonl import gzip_line_blocks
from retrieval.compression import InflatedTooLarge, TruncatedGzip, gunzip

LINES = [f'{{"n": {n}, "message": "line {n}"}}\n'.encode() for n in range(2_000)]
TEXT = b"".join(LINES)


def chunked(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


@pytest.mark.parametrize("chunk_size", [1, 7, 4096, 1 << 20])
def test_pieces_add_up_to_the_text_whatever_the_chunking(chunk_size):
    pieces = list(gunzip(chunked(gzip.compress(TEXT), chunk_size), piece_bytes=1000))

    assert b"".join(pieces) == TEXT
    assert max(map(len, pieces)) <= 1000


def test_concatenated_members_are_read_as_one_text():
    data = gzip.compress(TEXT[:7000]) + gzip.compress(TEXT[7000:])

    assert b"".join(gunzip(chunked(data, 999))) == TEXT


def test_data_cut_inside_a_member_is_truncated_not_short():
    data = gzip.compress(TEXT)

    with pytest.raises(TruncatedGzip):
        list(gunzip([data[: len(data) // 2]]))
    with pytest.raises(TruncatedGzip):  # a whole member, then a cut one
        list(gunzip([data + data[:20]]))


def test_data_that_is_not_gzip_raises_zlib_error():
    with pytest.raises(zlib.error):
        list(gunzip([b"not gzip at all"]))


def test_a_gzip_bomb_stops_at_the_limit_having_inflated_at_most_one_piece_past_it():
    bomb = gzip.compress(b"\0" * (200 * 2**20))  # 200 MB of zeros in about 200 KB
    inflated = 0

    with pytest.raises(InflatedTooLarge):
        for piece in gunzip([bomb], limit=4 * 2**20, piece_bytes=2**20):
            inflated += len(piece)

    assert len(bomb) < 2**20
    assert inflated <= 4 * 2**20


@pytest.mark.parametrize("chunk_size", [1, 7, 4096, 1 << 20])
def test_line_blocks_are_whole_lines_of_about_the_block_size(chunk_size):
    blocks = list(gzip_line_blocks(chunked(gzip.compress(TEXT), chunk_size), block_bytes=1000))

    assert b"".join(blocks) == TEXT
    assert all(block.endswith(b"\n") for block in blocks)
    longest_line = max(map(len, LINES))
    assert all(len(block) > 1000 - longest_line for block in blocks[:-1])
    assert len(blocks) < len(LINES) // 10  # blocks, not lines
