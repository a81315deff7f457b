"""The problems of a batch or table file in Chinese (``allocate --file``, ``ledger
import``, ``budget import``, ``codes import``, and the same checks of one line given by
options): :data:`ROWS`, the keys of :mod:`nodes.refusals_rows_en`. Taken in by
:mod:`nodes.refusals_zh`."""

from __future__ import annotations

__all__ = ["ROWS"]

ROWS: dict[str, str] = {
    # a refused batch: its count, the lines it names, its hint (nodes/fiscal/tabular.py)
    "m.rows_refused_issued": "{count} 处问题，未下达任何指标",
    "m.rows_refused_recorded": "{count} 处问题，未记录任何一笔",
    "m.rows_refused_imported": "{count} 处问题，未导入任何内容",
    "m.rows_more": "……另有 {count} 处",
    "m.rows_at": "{where}：{what}",
    "m.rows_file_row": "{name} 第 {number} 行",
    "m.rows_line": "第 {number} 行",
    "m.rows_entry": "第 {number} 笔",
    "m.rows_issuing": "下达中",
    "m.rows_issue_hint": "改正所列各行；未下达任何指标（文号形如 {example}）",
    "m.rows_header_hint": "表头一行为：{header}",
    "m.rows_available_hint": "指标控制：用 'fiscalsync appropriations' 查看可用余额",
    "m.rows_codes_hint": "用 'fiscalsync codes list --codeset func' 查看本年度科目",
    "m.rows_recorded_hint": "改正所列各处；未记录任何一笔",
    # what a line holds as written (nodes/fiscal/appropriations/batches.py, ledger.py)
    "m.rows_empty": "{key} 为空",
    "m.rows_amount": "金额：{problem}",
    "m.rows_year_bad": "年度 {value!r} 不是年份",
    "m.rows_type_bad": "转移支付类型 {value!r} 不是 {choices} 之一",
    "m.rows_indicator_bad": "指标类型 {value!r} 不是 {choices} 之一",
    "m.rows_level_bad": "预算级次 {value!r} 不是 {choices} 之一",
    "m.rows_direct_bad": "直达 {value!r} 不是 是/否（yes/no）",
    "m.rows_date_bad": "日期 {value!r} 不是形如 2026-10-15 的日期",
    "m.rows_direction_bad": "方向 {value!r} 不是 expenditure（支出）或 revenue（收入）",
    # what a line is checked against (issuing.py, ledger.py, codes.py, documents.py)
    "m.rows_recipient": "接收方 {code}：{problem}",
    "m.rows_amount_not_positive": "金额必须大于零",
    "m.rows_amount_too_large_line": "金额 {amount} 元超过单行最大金额 {largest} 元",
    "m.rows_amount_too_large_entry": "金额 {amount} 元超过单笔最大金额 {largest} 元",
    "m.rows_func_not_7": "功能分类 {value!r} 不是 7 位数字",
    "m.rows_econ_not_5": "经济分类 {value!r} 不是 5 位数字",
    "m.rows_fund_missing": "缺少资金性质",
    "m.rows_doc_missing": "缺少文号",
    "m.rows_too_long": "{what} 超过 {limit} 个字符",
    "m.rows_type_must": "转移支付类型必须是 {choices} 之一",
    "m.rows_indicator_must": "指标类型必须是 {choices} 之一",
    "m.rows_level_must": "预算级次必须是 {choices} 之一",
    "m.rows_direction_must": "方向必须是 expenditure（支出）或 revenue（收入）",
    "m.rows_revenue_spent": "收入不对应指标支出",
    "m.rows_not_received": "{ident} 不是本节点收到的指标",
    "m.rows_other_code": "{ident} 的功能分类是 {code}，不是 {given}",
    "m.rows_other_year": "{ident} 属于 {year} 年度，不是 {given} 年度",
    "m.rows_closed": "{ident} 属于 {year} 年度，本节点已结转：不能再据以支出",
    "m.rows_exceeds": "支出 {amount} 元超过 {ident} 的可用余额 {left} 元",
    "m.rows_doc_form": "文号 {doc!r} 不符合 <简称><类别>〔YYYY〕N号 的格式"
    "（如 {example}，用 〔 〕 括号）",
    "m.rows_doc_head": "{issuer} 的文号 {doc!r} 应以 {abbreviation} 开头",
    "m.rows_doc_kind": "文号 {doc!r}：{abbreviation} 之后的 {kind} 不是文种（{kinds}）",
    "m.rows_doc_no_kind": "文号 {doc!r} 未写明文种（{kinds}）",
    "m.rows_doc_year": "文号 {doc!r} 属于 {written} 年，不是预算年度 {year} 年",
    "m.rows_doc_year_advance": "文号 {doc!r} 属于 {written} 年，不是预算年度 {year} 年或其上一年",
    "m.rows_closed_parent": "{ident} 属于 {year} 年度，本节点已结转：不能再从中分解",
    "m.rows_breakdown_exceeds": "从 {ident} 分解 {amount} 元，超过其可用余额 {left} 元",
    "m.rows_duplicate_hint": "确需再次下达相同的一行时，加 --allow-duplicate",
    "m.rows_breakdown_hint": "指标控制：分解不得超过可用余额，且沿用所分解指标的分类",
    # budget import (nodes/fiscal/budget.py)
    "m.rows_section_bad": "类别 {value!r} 不是 收入 或 支出",
    "m.rows_budget_code_bad": "科目编码 {code!r} 不是 3 至 9 位数字的分类编码",
    "m.rows_budget_negative": "预算数不能为负",
    "m.rows_budget_again": "{section} {code} 重复（首次在第 {first} 行）",
    "m.rows_no_codeset": "{year} 年度没有{what}科目",
    "m.rows_not_a_code": "{what} {code!r} 不是 {year} 年度的科目编码",
    "m.rows_codeset_func": "功能分类",
    "m.rows_codeset_econ": "经济分类",
    "m.rows_codeset_fund": "资金性质",
    "m.rows_codeset_transfer": "转移支付类型",
    "m.rows_codeset_revenue": "收入分类",
}
