"""The ``fiscalsync`` command: parse, one Node call, render.

Every user-facing failure leaves through :func:`main`: ``Error: <what>`` and a hint on
standard error, with the exit status of its family (listed in ``fiscalsync --help``).
The root command and what the commands share are in :mod:`cli.base`; each other module
holds the commands of one concept and registers them when it is imported.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import Any

from cli.base import EXIT_STATUS, Failure, cli

__all__ = ["EXIT_STATUS", "Failure", "cli", "main"]

# The order of `fiscalsync --help`: a node's home first, the daily work, then the rest.
COMMAND_MODULES = (
    "node",
    "network",
    "pki",
    "exchange",
    "appropriations",
    "ledger",
    "reports",
    "reconcile",
    "backup",
    "service",
    "demo",
)
for _module in COMMAND_MODULES:
    importlib.import_module(f"cli.{_module}")


def main(argv: Sequence[str] | None = None) -> Any:
    """Entry point of the ``fiscalsync`` console script."""
    return cli.main(args=list(argv) if argv is not None else None, prog_name="fiscalsync")
