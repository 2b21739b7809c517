"""A re-export: notebook 04 does ``from minictr.reference import breakout``.

The reference answers now live with their lessons, in ``minictr/labs/lNN.py``
(``l00.ns_differences``, ``tarball.resolve.member_filter``, ``l03.breakout``,
``l04.enter_root``, ``l06.tiny_init``). Notebooks are not edited by code
moves, so the names they import stay importable from here.
"""

from __future__ import annotations

from .labs.l00 import ns_differences
from .tarball.resolve import member_filter
from .labs.l03 import breakout
from .labs.l04 import enter_root
from .labs.l06 import tiny_init

__all__ = ["ns_differences", "member_filter", "breakout", "enter_root", "tiny_init"]
