"""Batches of lines to issue, read from a spreadsheet (CSV or XLSX), every bad row named."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from nodes.fiscal.appropriations.issuing import Allocation
from nodes.fiscal.appropriations.operations import (
    BUDGET_LEVELS,
    INDICATOR_KINDS,
    TRANSFER_WORDS,
)
from nodes.fiscal.tabular import Row, Table, open_table
from nodes.labels import said
from schema.types import parse_yuan
from sync.errors import InputError

if TYPE_CHECKING:
    pass

__all__ = ["FILE_HEADER", "AllocationFile", "INDICATOR_WORDS", "LEVEL_WORDS", "read_allocations"]

FILE_COLUMNS = {
    "recipient": ("recipient", "to", "下达对象", "接收单位", "地区编码"),
    "amount": ("amount", "金额", "金额（元）", "金额(元)"),
    "func": ("func", "功能分类", "功能科目"),
    "econ": ("econ", "经济分类", "经济科目"),
    "fund": ("fund", "资金性质"),
    "doc": ("doc", "文号", "本级文号"),
    "title": ("title", "标题", "指标名称"),
    "year": ("year", "年度"),
    "type": ("type", "转移支付类型", "类型"),
    "project": ("project", "项目", "项目编码"),
    "from": ("from", "parent", "来源指标"),
    "direct": ("direct", "直达", "直达资金"),
    "indicator": ("indicator", "指标类型"),
    "level": ("level", "预算级次"),
    "upper_doc": ("upper_doc", "上级文号"),
}
FILE_REQUIRED = ("recipient", "amount", "func", "econ", "fund", "doc")
FILE_HEADER = (
    "recipient,amount,func,econ,fund,doc,title,year,type,project,from,direct,indicator,level,"
    "upper_doc"
)
INDICATOR_WORDS = {
    **{k: k for k in INDICATOR_KINDS},
    **{label: k for k, label in INDICATOR_KINDS.items()},
}
"""What an operator may write for a 指标类型: the code or its Chinese name."""
LEVEL_WORDS = {**{k: k for k in BUDGET_LEVELS}, **{label: k for k, label in BUDGET_LEVELS.items()}}
"""What an operator may write for a 预算级次: the code or its Chinese name."""
DIRECT_WORDS = {
    "yes": True,
    "true": True,
    "是": True,
    "直达": True,
    "no": False,
    "false": False,
    "否": False,
}


class AllocationFile:
    """The lines of a batch file (:func:`read_allocations`), read from the file again on
    each iteration, one at a time: bounded memory whatever the file's size."""

    def __init__(self, table: Table, default_year: int) -> None:
        self.path = table.path
        self._table = table
        self._default_year = default_year

    def __iter__(self) -> Iterator[Allocation]:
        for row in self._table:
            yield _allocation(self.path, row, self._default_year)


def read_allocations(path: Path, default_year: int) -> AllocationFile:
    """Open a batch of lines in a CSV or XLSX file (its header checked at once).

    Amounts are in 元 (at most two decimals); ``from`` names a received appropriation to
    break down. What is wrong with a row as written (an empty field, an amount that is
    not one) goes with its line (``Allocation.problems``), so that :func:`allocate`
    names it with everything it finds itself (codes, 文号, balances), in one pass.
    """
    table = open_table(path, FILE_COLUMNS, FILE_REQUIRED)
    if next(iter(table), None) is None:
        raise InputError(
            said("batch_no_lines", name=path.name),
            hint=said("budget_no_lines_hint", header=FILE_HEADER),
        )
    return AllocationFile(table, default_year)


def _allocation(path: Path, row: Row, default_year: int) -> Allocation:
    where = said("rows_file_row", name=path.name, number=row.number)
    v = row.values
    found = [said("rows_empty", key=key) for key in FILE_REQUIRED if not v.get(key)]
    amount = 0
    if v.get("amount"):
        try:
            amount = parse_yuan(v["amount"])
        except ValueError as exc:
            found.append(said("rows_amount", problem=exc.args[0]))
    year = default_year
    if v.get("year"):
        if not v["year"].isdigit():
            found.append(said("rows_year_bad", value=v["year"]))
        else:
            year = int(v["year"])
    transfer = TRANSFER_WORDS.get((v.get("type") or "general").lower())
    if transfer is None:
        found.append(said("rows_type_bad", value=v["type"], choices=", ".join(TRANSFER_WORDS)))
    indicator = INDICATOR_WORDS.get(v.get("indicator") or "annual")
    if indicator is None:
        choices = ", ".join(INDICATOR_WORDS)
        found.append(said("rows_indicator_bad", value=v["indicator"], choices=choices))
    level = LEVEL_WORDS.get(v["level"]) if v.get("level") else None
    if v.get("level") and level is None:
        found.append(said("rows_level_bad", value=v["level"], choices=", ".join(LEVEL_WORDS)))
    direct = None
    if v.get("direct"):
        direct = DIRECT_WORDS.get(v["direct"].lower())
        if direct is None:
            found.append(said("rows_direct_bad", value=v["direct"]))
    return Allocation(
        recipient=v.get("recipient") or "",
        amount_fen=amount,
        func=v.get("func") or "",
        econ=v.get("econ") or "",
        fund=v.get("fund") or "",
        doc=v.get("doc") or "",
        year=year,
        title=v.get("title", ""),
        transfer_type=transfer or "general",
        project=v.get("project") or None,
        parent_id=v.get("from") or None,
        label=where,
        direct=direct,
        indicator=indicator or "annual",
        level=level,
        upper_doc=v.get("upper_doc") or None,
        problems=tuple(found),
    )
