"""The contract's search semantics as data: one corpus, and what each query must find in it.

Shared by every backend (test_semantics.py): the SQL backend, and the Elasticsearch backend on
osmem-server (or the cluster ``--es-url`` / ``ES_URL`` names). Expected bodies are compared as a
multiset, because only SQL's order (newest first) is the same everywhere.
"""

CORPUS = [
    "Hello, World!",
    "hello",
    "HELLO there",
    "Well, the world is wide",
    "café crème",
    "CAFÉ",
    "cafe",
    "I ❤️ pizza 🍕",
    "I 😀 tacos",
    "100% sure",
    "1000 sure",
    "snake_case_name",
    "snakeXcaseXname",
    "Ωμέγα ΟΔΟΣ",
    "ДОМ и дом",
    "back\\slash",
    "a*b?c",
    "the quick brown fox jumps over the lazy dog",
    "internationalization matters",
    "Straße",
    "x",
]

CASES: list[tuple[str, list[str]]] = [
    # The contract's own examples.
    ("ell wor", ["Hello, World!", "Well, the world is wide"]),
    ("hel", ["Hello, World!", "hello", "HELLO there"]),
    # Case-insensitive both ways.
    ("HeLLo", ["Hello, World!", "hello", "HELLO there"]),
    ("WORLD", ["Hello, World!", "Well, the world is wide"]),
    # One- and two-character terms, shorter than any n-gram.
    ("x", ["snakeXcaseXname", "the quick brown fox jumps over the lazy dog", "x"]),
    ("zz", ["I ❤️ pizza 🍕"]),
    (
        "z",
        [
            "I ❤️ pizza 🍕",
            "the quick brown fox jumps over the lazy dog",
            "internationalization matters",
        ],
    ),
    # A term longer than the largest n-gram.
    ("NATIONALIZATION", ["internationalization matters"]),
    ("brownfox", []),
    # Every term must occur; order and repetition do not matter.
    ("fox quick THE the", ["the quick brown fox jumps over the lazy dog"]),
    ("hello zzz", []),
    ("hello", ["Hello, World!", "hello", "HELLO there"]),
    # Accents are letters of their own: only case is folded.
    ("café", ["café crème", "CAFÉ"]),
    ("CAFÉ", ["café crème", "CAFÉ"]),
    ("cafe", ["cafe"]),
    ("caf", ["café crème", "CAFÉ", "cafe"]),
    ("STRAßE", ["Straße"]),
    # Emoji match themselves and nothing else.
    ("😀", ["I 😀 tacos"]),
    ("🍕", ["I ❤️ pizza 🍕"]),
    ("❤️", ["I ❤️ pizza 🍕"]),
    ("I 🍕", ["I ❤️ pizza 🍕"]),
    # Other scripts, the Greek final sigma included.
    ("οδος", ["Ωμέγα ΟΔΟΣ"]),
    ("ΩΜΈΓΑ", ["Ωμέγα ΟΔΟΣ"]),
    ("дом", ["ДОМ и дом"]),
    # Characters that are wildcards or escapes somewhere are taken literally.
    ("%", ["100% sure"]),
    ("0%", ["100% sure"]),
    ("_", ["snake_case_name"]),
    ("e_c", ["snake_case_name"]),
    ("\\", ["back\\slash"]),
    ("k\\s", ["back\\slash"]),
    ("*", ["a*b?c"]),
    ("?", ["a*b?c"]),
    ("b?c", ["a*b?c"]),
    ("a*c", []),
]
