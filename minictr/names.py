"""Random docker-style names such as ``eager_tesla``, for containers started without --name.

An adjective and the surname of someone who shaped computing or physics.
The lists are our own.
"""

from __future__ import annotations

import random

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


def random_name(taken: set[str] = frozenset(), rng: random.Random | None = None) -> str:
    """A name not in ``taken``; a number is appended after a few collisions."""
    rng = rng or random.Random()
    for attempt in range(20):
        name = f"{rng.choice(ADJECTIVES)}_{rng.choice(SURNAMES)}"
        if attempt > 5:
            name += str(rng.randint(1, 99))
        if name not in taken:
            return name
    return f"{name}_{rng.getrandbits(32):08x}"
