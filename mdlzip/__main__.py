"""``python -m mdlzip``: the same as the ``mdlzip`` command."""

from .cli import main

main()
