"""A re-export: notebook 04 does ``from minictr.reference import breakout``.

The reference answers now live with their lessons, in ``minictr/labs/lNN.py``
(``l00.ns_differences``, ``l02.member_filter``, ``l03.breakout``,
``l04.enter_root``, ``l06.tiny_init``). Notebooks are not edited by code
moves, so the names they import stay importable from here.
"""

from __future__ import annotations

from .labs.l00 import ns_differences  # noqa: F401
from .labs.l02 import member_filter  # noqa: F401
from .labs.l03 import breakout  # noqa: F401
from .labs.l04 import enter_root  # noqa: F401
from .labs.l06 import tiny_init  # noqa: F401

__all__ = ["ns_differences", "member_filter", "breakout", "enter_root", "tiny_init"]
