"""The one gzip reader: request bodies (ingest) and archive parts (archive.jsonl) both inflate through it."""

import zlib
from collections.abc import Iterable, Iterator

PIECE_BYTES = 1 << 20


class TruncatedGzip(ValueError):
    """The compressed data ended inside a gzip member."""


class InflatedTooLarge(ValueError):
    """The data inflates to more than the limit the caller set."""


def gunzip(chunks: Iterable[bytes], limit: int | None = None, piece_bytes: int = PIECE_BYTES) -> Iterator[bytes]:
    """The decompressed bytes of gzip data, from its compressed `chunks`, in pieces of at most `piece_bytes`.

    The data may be several concatenated gzip members (as `cat a.gz b.gz` makes). No
    call inflates more than `piece_bytes`, so a small chunk that expands a thousandfold
    (a gzip bomb) costs one piece of memory at a time; past `limit` decompressed bytes
    it raises InflatedTooLarge before inflating further. Raises TruncatedGzip if the data
    ends inside a member, zlib.error if it is not gzip.
    """
    inflate = zlib.decompressobj(wbits=31)
    total = 0
    in_member = False
    for chunk in chunks:
        pending = chunk
        while pending:
            in_member = True
            piece = inflate.decompress(pending, piece_bytes)
            pending = inflate.unconsumed_tail
            if inflate.eof:  # the member ended: what follows starts the next one
                pending, inflate, in_member = inflate.unused_data, zlib.decompressobj(wbits=31), False
            total += len(piece)
            if limit is not None and total > limit:
                raise InflatedTooLarge(f"inflates to more than {limit:,} bytes")
            if piece:
                yield piece
    if in_member:
        raise TruncatedGzip("gzip data ends inside a member")
