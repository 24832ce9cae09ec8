import sys

import pytest

from search.terms import query_terms, text_fold


@pytest.mark.parametrize(
    ("text", "folded"),
    [
        ("Hello, World!", "hello, world!"),
        ("CAFÉ Crème", "café crème"),
        ("İstanbul", "istanbul"),  # simple mapping: one code point, not i + combining dot
        ("ΟΔΟΣ ΟΔΟΣ", "οδοσ οδοσ"),  # no final-sigma context rule
        ("οδος", "οδοσ"),  # and a typed final sigma folds the same way
        ("ДОМ", "дом"),
        ("I ❤️ 😀", "i ❤️ 😀"),
        ("Straße", "straße"),  # lowercase only: ß is not expanded to ss
    ],
)
def test_text_fold(text: str, folded: str) -> None:
    assert text_fold(text) == folded


def test_text_fold_maps_every_code_point_to_exactly_one() -> None:
    """Folding never changes a string's length, so a folded substring stays a substring."""
    every = "".join(chr(cp) for cp in range(sys.maxunicode + 1) if not 0xD800 <= cp <= 0xDFFF)

    # Lowercasing never removes a code point, so equal lengths mean one for one.
    assert len(text_fold(every)) == len(every)


def test_query_terms_split_on_any_white_space_and_drop_repeats() -> None:
    assert query_terms("  ell\twor\u00a0ell\n wor  Ell ") == ["ell", "wor", "Ell"]
    assert query_terms(" \t\u3000 ") == []
