"""``python -m minictr``: the command line (see cli.py)."""

from .cli import entry

entry()
