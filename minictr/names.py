"""Random docker-style names such as ``eager_tesla``, for containers started without --name.

An adjective and the surname of someone who shaped computing or physics.
The lists are our own.
"""

from __future__ import annotations

import os

ADJECTIVES = (
    "agile", "bold", "brave", "bright", "calm", "clever", "curious", "daring", "eager", "gentle",
    "happy", "humble", "jolly", "keen", "kind", "lucid", "merry", "modest", "nimble", "patient",
    "proud", "quiet", "quick", "serene", "sharp", "steady", "sunny", "swift", "tender", "tidy",
    "upbeat", "vivid", "warm", "wise", "witty", "zealous",
)

SURNAMES = (
    "babbage", "backus", "bell", "boole", "cerf", "curie", "dijkstra", "einstein", "engelbart",
    "faraday", "feynman", "hamilton", "hopper", "kahn", "knuth", "lamport", "liskov", "lovelace",
    "maxwell", "meitner", "noether", "pike", "ritchie", "shannon", "tesla", "thompson", "torvalds",
    "turing", "wirth", "wozniak",
)


def random_name(taken: set[str] = frozenset(), rng=None) -> str:
    """A name not in ``taken``; a number is appended after a few collisions.

    ``rng`` is anything with ``randrange`` (a seeded ``random.Random`` in
    tests); by default the bytes come from os.urandom, so that ``run`` does
    not import the random module (about 1 ms).
    """
    below = rng.randrange if rng is not None else _below
    for attempt in range(20):
        name = f"{ADJECTIVES[below(len(ADJECTIVES))]}_{SURNAMES[below(len(SURNAMES))]}"
        if attempt > 5:
            name += str(1 + below(99))
        if name not in taken:
            return name
    return f"{name}_{below(1 << 32):08x}"


def _below(n: int) -> int:
    """A random integer in [0, n), from the kernel's generator (bias below 1e-9 for small n)."""
    return int.from_bytes(os.urandom(8), "little") % n
