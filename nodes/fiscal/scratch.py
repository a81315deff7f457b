"""What a batch (批量导入) keeps while it is checked, before it is written: bounded memory.

A batch of any size (``allocate --file``, ``ledger import``) is read once, one line at a
time, before its write transaction begins (no write lock is held while a large file is
read): each line is checked as written and against the codes (:class:`CodesRead`) and kept
in a :class:`Spill` (scratch files of JSON lines in a private folder). The write
transaction then checks, in a second pass over the spill, what needs the locks, and what
may have changed since the first pass (:class:`Vanished` codes), and writes the rows
:func:`chunks` at a time.
:class:`Problems` keeps the first ``MAX_PROBLEMS`` problems of each kind and counts all of
them, so that a million bad lines take no memory.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

from sqlalchemy.engine import Connection, Engine

from nodes.fiscal.codes import Known
from nodes.fiscal.tabular import MAX_PROBLEMS, refuse
from nodes.labels import Said
from schema.engine import reading
from sync.changeset.codec import decode_value, encode_line

__all__ = ["CodesRead", "Problems", "Spill", "Vanished", "chunks", "spilled", "unspilled"]

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


class CodesRead(Known):
    """The codes valid here, as a first pass reads them before its write transaction:
    each code set and year in a short read of its own, so that no transaction stays open
    while the batch's file is read."""

    def __init__(self, engine: Engine) -> None:
        super().__init__(None)  # type: ignore[arg-type]
        self.engine = engine

    def codes(self, codeset: str, year: int) -> frozenset[str]:
        key = (codeset, year)
        if key not in self.sets:
            with reading(self.engine) as conn:
                self.sets[key] = Known(conn).codes(codeset, year)
        return self.sets[key]


class Vanished:
    """The codes a first pass found valid (``then``) that are no longer, read in the write
    transaction (``conn``): a line using one is refused as if it had been read now."""

    def __init__(self, then: Known, conn: Connection) -> None:
        self.now = Known(conn)
        gone = {key: codes - self.now.codes(*key) for key, codes in then.sets.items()}
        self.gone = {key: codes for key, codes in gone.items() if codes}

    def __bool__(self) -> bool:
        return bool(self.gone)

    def problems(self, year: int, codes: Iterable[tuple[str, str | None]]) -> list[str]:
        """Why each of ``codes`` (code set, code) of ``year`` is no longer valid."""
        return [
            self.now.problem(codeset, year, code)  # type: ignore[misc]
            for codeset, code in codes
            if code in self.gone.get((codeset, year), ())
        ]


class Spill:
    """Scratch files in a private ``folder``, one per name, one JSON line per value (read
    back in bounded memory). The caller removes the folder; :meth:`close` closes the files."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._files: dict[str, BinaryIO] = {}
        self._names: dict[str, Path] = {}

    def write(self, name: str, value: list[Any] | dict[str, Any]) -> None:
        self.write_line(name, encode_line(value))

    def write_line(self, name: str, line: bytes) -> None:
        """Keep a value already encoded as one JSON line (without its newline)."""
        out = self._files.get(name)
        if out is None:
            out = self._files[name] = (self.folder / f"{len(self._names)}.jsonl").open("wb")
            self._names[name] = self.folder / f"{len(self._names)}.jsonl"
        out.write(line + b"\n")

    def close(self) -> None:
        for out in self._files.values():
            out.close()
        self._files.clear()

    def read(self, name: str) -> Iterator[Any]:
        """The values written under ``name``, in order (none if nothing was)."""
        return map(decode_value, self._lines(name))

    def read_lines(self, name: str) -> Iterator[bytes]:
        """The values written under ``name`` as their JSON lines, in order, each without
        its newline (none if nothing was)."""
        return (line[:-1] for line in self._lines(name))

    def _lines(self, name: str) -> Iterator[bytes]:
        out = self._files.get(name)
        if out is not None:
            out.flush()
        path = self._names.get(name)
        if path is None:
            return
        with path.open("rb") as handle:
            yield from handle


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
