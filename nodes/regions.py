"""The national region code list (GB/T 2260), shipped under ``config/``."""

from __future__ import annotations

import csv
from functools import cache
from pathlib import Path

import config
from nodes.labels import said
from sync.errors import ConfigError

__all__ = ["RegionList", "load_regions"]


class RegionList:
    """Region codes and their names, read from a two-column TSV (``code``, ``name``)."""

    def __init__(self, names: dict[str, str], source: Path) -> None:
        self._names = names
        self.source = source

    def __contains__(self, code: object) -> bool:
        return code in self._names

    def __len__(self) -> int:
        return len(self._names)

    def name(self, code: str) -> str:
        return self._names[code]

    def within(self, province: str) -> dict[str, str]:
        """Every code of one province (same first two digits), with its name."""
        prefix = province[:2]
        return {c: n for c, n in self._names.items() if c.startswith(prefix)}


@cache
def load_regions(path: Path = config.REGIONS) -> RegionList:
    """Load a region list; the shipped GB/T 2260 (2019-04) list by default."""
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            rows = list(csv.reader(handle, delimiter="\t"))
    except OSError as exc:
        raise ConfigError(said("regions_unreadable", path=path, error=exc.strerror)) from exc
    if not rows or rows[0][:2] != ["code", "name"]:
        raise ConfigError(said("regions_header", path=path))
    names: dict[str, str] = {}
    for number, row in enumerate(rows[1:], start=2):
        if len(row) < 2 or not row[0].isdigit():
            raise ConfigError(said("regions_row_bad", path=path, number=number, row=row))
        names[row[0]] = row[1]
    return RegionList(names, path)
