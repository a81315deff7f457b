"""Transports that move change-set files between nodes: one short contract, several backends.

``local`` (a folder), ``sftp`` (paramiko, pinned host keys), ``retry`` (bounded exponential
backoff around any transport) and ``faulty`` (fault injection for tests and simulations).
The sftp backend is imported on demand, so that paramiko loads only when it is used.
"""

from sync.transports.base import RemoteFile, Transport
from sync.transports.local import LocalTransport
from sync.transports.retry import RetryingTransport

__all__ = ["LocalTransport", "RemoteFile", "RetryingTransport", "Transport"]
