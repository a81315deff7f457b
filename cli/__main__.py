"""``python -m cli``: the ``fiscalsync`` command."""

from cli import main

main()
