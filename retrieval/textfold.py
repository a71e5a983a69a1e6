"""Case-insensitive text as MongoDB, FerretDB and the cold reader compare it: simple case folding.

A keyword matches a message when, character by character, each is in the same
simple case-folding class (Unicode CaseFolding.txt, statuses C and S): k, K and
the Kelvin sign K; σ, ς and Σ; ß and ẞ, but not "ss"; İ (U+0130) only itself. That
is what the hot side's escaped `$regex` with option `i` does (Go's regexp on
FerretDB, PCRE's caseless mode on MongoDB) and what the cold reader's RE2 `(?i)`
does in DuckDB; `str.casefold` would not agree (it folds ß to "ss" and İ to "i̇").
docs/ferretdb.md ("Keyword case") says more.
"""

from functools import cache

# Past the last script with case (Adlam, U+1E900-1E95F): nothing above folds.
LAST_CASED = 0x1E95F


@cache
def _table() -> dict[int, str]:
    table = {}
    for code in range(LAST_CASED + 1):
        char = chr(code)
        folded = char.casefold()
        if len(folded) != 1:
            # A full folding (ß -> "ss", ẞ -> "ss", İ -> "i̇"): its simple folding, where there is one,
            # is its one-character lower case (ẞ -> ß); İ and ß have none.
            lowered = char.lower()
            folded = lowered if len(lowered) == 1 else char
        if folded != char:
            table[code] = folded
    return table


def fold(text: str) -> str:
    """`text` with every character replaced by its simple case folding: same length, same positions."""
    return text.translate(_table())


def contains(text: str, keyword: str) -> bool:
    """Is `keyword` a literal substring of `text`, ignoring case as the search does?"""
    return fold(keyword) in fold(text)
