"""What children delivered into this node's own mailboxes (``mailboxes/<child>/up``), as
a round collects it: regular files only.

A symbolic link there is removed, never followed nor taken: a child's SFTP account could
make one (``sftp-config`` now denies it), and its target, resolved here outside the
child's chroot, may be any file of this machine, or one the child rewrites later.
Anything else that is not a regular file (a folder, a pipe) stays where it is.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from nodes.labels import said
from nodes.summary import RoundSummary
from sync.transports.base import is_temporary

__all__ = ["delivered"]


def delivered(mailboxes: Path, summary: RoundSummary) -> Iterator[tuple[str, Path]]:
    """Each (child, file) waiting in a child's ``up/``, children and files in name order;
    a link met on the way is removed and named in ``summary``."""
    if not mailboxes.is_dir():
        return
    for child in sorted(mailboxes.iterdir()):
        up = child / "up"
        if not up.is_dir():
            continue
        for item in sorted(up.iterdir()):
            if is_temporary(item.name):
                continue
            if item.is_symlink():
                _drop_link(item, child.name, summary)
            elif item.is_file():
                yield child.name, item


def _drop_link(item: Path, child: str, summary: RoundSummary) -> None:
    """Remove the link ``item`` (the link alone: its target is not touched), and name it."""
    try:
        item.unlink()
    except FileNotFoundError:
        return
    except OSError as exc:  # named each round until it can be removed
        summary.problems.append(
            said("mailbox_link_stays", name=item.name, child=child, error=exc.strerror)
        )
        return
    summary.problems.append(said("mailbox_link_removed", name=item.name, child=child))
