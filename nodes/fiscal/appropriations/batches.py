"""Batches of lines to issue, read from a spreadsheet (CSV or XLSX), every bad row named."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from nodes.fiscal.appropriations.issuing import Allocation
from nodes.fiscal.tabular import read_table, refuse
from schema.types import parse_yuan
from sync.errors import InputError

if TYPE_CHECKING:
    pass

__all__ = ["FILE_HEADER", "read_allocations"]

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
}
FILE_REQUIRED = ("recipient", "amount", "func", "econ", "fund", "doc")
FILE_HEADER = "recipient,amount,func,econ,fund,doc,title,year,type,project,from"
TYPE_WORDS = {"general": "general", "一般性": "general", "special": "special", "专项": "special"}


def read_allocations(path: Path, default_year: int) -> list[Allocation]:
    """Read a batch of lines from a CSV or XLSX file; every bad row and field at once.

    Amounts are in 元 (at most two decimals); ``from`` names a received appropriation to
    break down. What the file cannot know (codes, balances) :func:`allocate` checks.
    """
    sheet = read_table(path, FILE_COLUMNS, FILE_REQUIRED)
    if not sheet.rows:
        raise InputError(f"{path.name} has no lines", hint=f"the header line is: {FILE_HEADER}")
    lines, problems = [], []
    for row in sheet.rows:
        where = f"{path.name} row {row.number}"
        v = row.values
        found = [f"{key} is empty" for key in FILE_REQUIRED if not v.get(key)]
        amount = 0
        if v.get("amount"):
            try:
                amount = parse_yuan(v["amount"])
            except ValueError as exc:
                found.append(f"amount: {exc}")
        year = default_year
        if v.get("year"):
            if not v["year"].isdigit():
                found.append(f"year {v['year']!r} is not a year")
            else:
                year = int(v["year"])
        transfer = TYPE_WORDS.get((v.get("type") or "general").lower())
        if transfer is None:
            found.append(f"type {v['type']!r} is not general or special")
        if found:
            problems.extend(f"{where}: {p}" for p in found)
            continue
        lines.append(
            Allocation(
                recipient=v["recipient"],
                amount_fen=amount,
                func=v["func"],
                econ=v["econ"],
                fund=v["fund"],
                doc=v["doc"],
                year=year,
                title=v.get("title", ""),
                transfer_type=transfer or "general",
                project=v.get("project") or None,
                parent_id=v.get("from") or None,
                label=where,
            )
        )
    refuse(problems, "issued", f"the header line is: {FILE_HEADER}")
    return lines
