"""What a batch (批量导入) keeps while it is checked, before it is written: bounded memory.

A batch of any size (``allocate --file``, ``ledger import``) is read once, one line at a
time; each line is checked as written and kept in a :class:`Spill` (scratch files of JSON
lines in a private folder); what needs the locks is checked in a second pass over the
spill, which writes the rows :func:`chunks` at a time in the same transaction.
:class:`Problems` keeps the first ``MAX_PROBLEMS`` problems of each kind and counts all of
them, so that a million bad lines take no memory.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

from nodes.fiscal.tabular import MAX_PROBLEMS, refuse
from nodes.labels import Said
from sync.changeset.codec import decode_value, encode_line

__all__ = ["Problems", "Spill", "chunks", "spilled", "unspilled"]

T = TypeVar("T")


def chunks(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """``items`` in lists of ``size`` (the last one shorter)."""
    iterator = iter(items)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


def spilled(label: str | None) -> Any:
    """A line's label (``bad.csv row 3``) as it is spilled: said by key, it keeps its key
    and values (:func:`unspilled` takes it back), so that a refusal names it in the
    operator's language."""
    return label.as_json() if isinstance(label, Said) else label


def unspilled(value: Any) -> Any:
    """A label as :func:`spilled` kept it."""
    if isinstance(value, dict):
        found = Said.from_json(value)
        return found if found is not None else str(value)
    return value


class Spill:
    """Scratch files in a private ``folder``, one per name, one JSON line per value (read
    back in bounded memory). The caller removes the folder; :meth:`close` closes the files."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._files: dict[str, BinaryIO] = {}
        self._names: dict[str, Path] = {}

    def write(self, name: str, value: list[Any] | dict[str, Any]) -> None:
        out = self._files.get(name)
        if out is None:
            out = self._files[name] = (self.folder / f"{len(self._names)}.jsonl").open("wb")
            self._names[name] = self.folder / f"{len(self._names)}.jsonl"
        out.write(encode_line(value) + b"\n")

    def close(self) -> None:
        for out in self._files.values():
            out.close()
        self._files.clear()

    def read(self, name: str) -> Iterator[Any]:
        """The values written under ``name``, in order (none if nothing was)."""
        out = self._files.get(name)
        if out is not None:
            out.flush()
        path = self._names.get(name)
        if path is None:
            return
        with path.open("rb") as handle:
            for line in handle:
                yield decode_value(line)


class Problems:
    """The problems of a batch by kind (``kinds``, in the order they are listed), the first
    ``MAX_PROBLEMS`` of each kept, all counted."""

    def __init__(self, kinds: Sequence[str]) -> None:
        self.kinds = tuple(kinds)
        self.kept: dict[str, list[str]] = {kind: [] for kind in self.kinds}
        self.counts: dict[str, int] = dict.fromkeys(self.kinds, 0)

    def add(self, kind: str, problems: Iterable[str]) -> None:
        for problem in problems:
            self.counts[kind] += 1
            if len(self.kept[kind]) < MAX_PROBLEMS:
                self.kept[kind].append(problem)

    @property
    def count(self) -> int:
        return sum(self.counts.values())

    def listed(self) -> list[str]:
        return [problem for kind in self.kinds for problem in self.kept[kind]]

    def refuse(self, what: str, hint: str | None) -> None:
        """Refuse the batch (nothing ``what``), naming the problems kept and counting all."""
        refuse(self.listed(), what, hint, total=self.count)
