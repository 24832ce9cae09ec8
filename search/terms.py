"""What a query means: its terms, and the case folding both backends compare with.

The contract: a message matches when every whitespace-separated term of the query occurs in its
body as a case-insensitive substring. "Case-insensitive" is defined here, once, as the simple
(one code point to one code point) Unicode lowercase mapping, with the Greek final sigma folded
to sigma. That is exactly what Lucene's ``lowercase`` filter and MariaDB's ``LOWER()`` do (plus
the sigma mapping each backend adds), so the backends agree. Nothing else is folded: accents,
emoji and every other character must match exactly.
"""

_CAPITAL_I_WITH_DOT = "\u0130"
_FINAL_SIGMA = "\u03c2"
_SIGMA = "\u03c3"


def text_fold(text: str) -> str:
    """The simple lowercase of ``text``, with ``ς`` as ``σ``.

    ``str.lower()`` applies the full mapping, which differs from the simple one in exactly two
    places: ``İ`` becomes two code points (``i`` and a combining dot), and a capital sigma at
    the end of a word becomes ``ς``. Both are undone here, in three passes that run in C.
    """
    if text.isascii():
        return text.lower()
    return text.replace(_CAPITAL_I_WITH_DOT, "i").lower().replace(_FINAL_SIGMA, _SIGMA)


def query_terms(query: str) -> list[str]:
    """The distinct terms of ``query``, in order; empty for a blank query.

    Splitting uses ``str.split()``, Unicode whitespace included, so a term never holds white
    space, which the Elasticsearch analyzer relies on (docs/search.md).
    """
    return list(dict.fromkeys(query.split()))
