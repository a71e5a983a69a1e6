"""The archive's one gzip line reader: blocks of whole lines, concatenated members, truncation."""

import gzip
import zlib

import pytest

from archive.jsonl import TruncatedGzip, gzip_line_blocks

LINES = [f'{{"n": {n}, "message": "line {n}"}}\n'.encode() for n in range(2_000)]


def chunked(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


@pytest.mark.parametrize("chunk_size", [1, 7, 4096, 1 << 20])
def test_blocks_are_whole_lines_that_add_up_to_the_text_whatever_the_chunking(chunk_size):
    data = gzip.compress(b"".join(LINES))

    blocks = list(gzip_line_blocks(chunked(data, chunk_size), block_bytes=1000))

    assert b"".join(blocks) == b"".join(LINES)
    assert all(block.endswith(b"\n") for block in blocks)
    longest_line = max(map(len, LINES))
    assert all(len(block) > 1000 - longest_line for block in blocks[:-1])
    assert len(blocks) < len(LINES) // 10  # blocks, not lines


def test_concatenated_members_are_read_as_one_text():
    first, second = b"".join(LINES[:700]), b"".join(LINES[700:])
    data = gzip.compress(first) + gzip.compress(second)

    assert b"".join(gzip_line_blocks(chunked(data, 999))) == first + second


def test_data_cut_inside_a_member_is_truncated_not_short():
    data = gzip.compress(b"".join(LINES))

    with pytest.raises(TruncatedGzip):
        list(gzip_line_blocks([data[: len(data) // 2]]))
    with pytest.raises(TruncatedGzip):  # a whole member, then a cut one
        list(gzip_line_blocks([data + data[:20]]))


def test_corrupt_data_raises_zlib_error():
    with pytest.raises(zlib.error):
        list(gzip_line_blocks([b"not gzip at all"]))
