"""``python -m minictr.oci``: the ``minictr-runtime`` command."""

from .cli import entry

entry()
