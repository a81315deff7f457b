"""The agent's log lines: plain text or JSON (one object a line), each naming the node.

:func:`configure` installs a handler on the root logger writing to standard error; a
filter puts the node's code on every record, whatever logger it comes from
(APScheduler's too), so that the lines of many nodes in one journal can be told apart.
A JSON line holds ``time`` (UTC, ISO 8601), ``level``, ``logger``, ``node`` and
``message``, and ``error`` with the traceback when there is one.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

__all__ = ["FORMATS", "THREAD_PREFIX", "configure"]

FORMATS = ("text", "json")


THREAD_PREFIX = "node-"
"""Threads named ``node-CODE…`` (an agent running many homes gives each home's jobs their
own: :mod:`nodes.hosting`) log lines naming ``CODE``."""


class _NodeFilter(logging.Filter):
    def __init__(self, code: str) -> None:
        super().__init__()
        self.code = code

    def filter(self, record: logging.LogRecord) -> bool:
        thread = record.threadName or ""
        if thread.startswith(THREAD_PREFIX):
            record.node = thread[len(THREAD_PREFIX) :].split("_", 1)[0]
        else:
            record.node = self.code
        return True


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "node": getattr(record, "node", None),
            "message": record.getMessage(),
        }
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


def configure(code: str, fmt: str = "text", level: int = logging.INFO) -> logging.Handler:
    """Log to standard error in ``fmt`` (``text`` or ``json``), every line naming ``code``
    (or the node whose thread wrote it, see :data:`THREAD_PREFIX`)."""
    if fmt not in FORMATS:
        raise ValueError(f"log format {fmt!r} is not one of {', '.join(FORMATS)}")
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(_NodeFilter(code))
    if fmt == "json":
        handler.setFormatter(_JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(node)s %(name)s %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(level)
    return handler
