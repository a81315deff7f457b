"""The problems of a batch or table file in English (``allocate --file``, ``ledger
import``, ``budget import``, ``codes import``, and the same checks of one line given by
options): :data:`ROWS`, keys ``m.rows_<key>``, said by :func:`nodes.labels.said`. Taken in
by :mod:`nodes.refusals_en`; :mod:`nodes.refusals_rows_zh` says each in Chinese."""

from __future__ import annotations

__all__ = ["ROWS"]

ROWS: dict[str, str] = {
    # a refused batch: its count, the lines it names, its hint (nodes/fiscal/tabular.py)
    "m.rows_refused_issued": "{count} problem(s), nothing issued",
    "m.rows_refused_recorded": "{count} problem(s), nothing recorded",
    "m.rows_refused_imported": "{count} problem(s), nothing imported",
    "m.rows_more": "... and {count} more",
    "m.rows_at": "{where}: {what}",
    "m.rows_file_row": "{name} row {number}",
    "m.rows_line": "line {number}",
    "m.rows_entry": "entry {number}",
    "m.rows_issuing": "Issuing",
    "m.rows_issue_hint": "fix the lines named; nothing was issued (文号 like {example})",
    "m.rows_header_hint": "the header line is: {header}",
    "m.rows_available_hint": "指标控制: see what is available with 'fiscalsync appropriations'",
    "m.rows_codes_hint": "see the codes of the year with 'fiscalsync codes list --codeset func'",
    "m.rows_recorded_hint": "fix what is named; nothing was recorded",
    # what a line holds as written (nodes/fiscal/appropriations/batches.py, ledger.py)
    "m.rows_empty": "{key} is empty",
    "m.rows_amount": "amount: {problem}",
    "m.rows_year_bad": "year {value!r} is not a year",
    "m.rows_type_bad": "type {value!r} is not one of {choices}",
    "m.rows_indicator_bad": "indicator (指标类型) {value!r} is not one of {choices}",
    "m.rows_level_bad": "level (预算级次) {value!r} is not one of {choices}",
    "m.rows_direct_bad": "direct {value!r} is not yes or no (是/否)",
    "m.rows_date_bad": "date {value!r} is not a date like 2026-10-15",
    "m.rows_direction_bad": "direction {value!r} is not expenditure or revenue",
    # what a line is checked against (issuing.py, ledger.py, codes.py, documents.py)
    "m.rows_recipient": "recipient {code}: {problem}",
    "m.rows_amount_not_positive": "amount must be more than zero",
    "m.rows_amount_not_fen": "amount {value!r} is not a whole number of fen",
    "m.rows_not_unicode": "a field is not valid Unicode (a lone surrogate)",
    "m.rows_not_text": "{what} is not text ({kind})",
    "m.rows_not_yes_no": "{what} is neither true nor false ({value!r})",
    "m.rows_not_storable": "a field holds a value no column can store ({error})",
    "m.rows_amount_too_large_line": "amount {amount} 元 is more than the largest amount of "
    "one line, {largest} 元",
    "m.rows_amount_too_large_entry": "amount {amount} 元 is more than the largest amount of "
    "one entry, {largest} 元",
    "m.rows_func_not_7": "functional classification {value!r} is not 7 digits",
    "m.rows_econ_not_5": "economic classification {value!r} is not 5 digits",
    "m.rows_fund_missing": "fund type is missing",
    "m.rows_doc_missing": "document number (文号) is missing",
    "m.rows_too_long": "{what} is longer than {limit} characters",
    "m.rows_type_must": "type must be one of {choices}",
    "m.rows_indicator_must": "指标类型 must be one of {choices}",
    "m.rows_level_must": "预算级次 must be one of {choices}",
    "m.rows_direction_must": "direction must be expenditure or revenue",
    "m.rows_revenue_spent": "a revenue is not spent against an appropriation",
    "m.rows_not_received": "{ident} is not an appropriation received here",
    "m.rows_other_code": "{ident} is for {code}, not for {given}",
    "m.rows_other_year": "{ident} belongs to {year}, not {given}",
    "m.rows_year_closed": "{year} is closed here (已结转): nothing more of it is spent",
    "m.rows_closed": "{ident} is of {year}, closed here (已结转): nothing more is spent against it",
    "m.rows_exceeds": "spending {amount} 元 exceeds what is still available of {ident}: {left} 元",
    "m.rows_doc_form": "document number (文号) {doc!r} is not of the form "
    "<简称><kind>〔YYYY〕N号 (e.g. {example}, with the brackets 〔 〕)",
    "m.rows_doc_head": "document number (文号) {doc!r} of {issuer} starts with {abbreviation}",
    "m.rows_doc_kind": "document number (文号) {doc!r}: {kind} after {abbreviation} "
    "is not a document kind ({kinds})",
    "m.rows_doc_no_kind": "document number (文号) {doc!r} names no document kind ({kinds})",
    "m.rows_doc_year": "document number (文号) {doc!r} is of {written}, not of the fiscal "
    "year {year}",
    "m.rows_doc_year_advance": "document number (文号) {doc!r} is of {written}, not of the "
    "fiscal year {year} or the year before",
    "m.rows_closed_parent": "{ident} is of {year}, closed here (已结转): nothing more is "
    "broken down from it",
    "m.rows_breakdown_exceeds": "breaking down {amount} 元 from {ident} exceeds its available "
    "balance of {left} 元",
    "m.rows_duplicate_hint": "add --allow-duplicate to issue the same line again on purpose",
    "m.rows_breakdown_hint": "指标控制: a breakdown may not exceed what is still available, "
    "and keeps the classification of what it is taken from",
    # budget import (nodes/fiscal/budget.py)
    "m.rows_section_bad": "section {value!r} is not 收入 or 支出",
    "m.rows_budget_code_bad": "code {code!r} is not a classification code of 3-9 digits",
    "m.rows_budget_negative": "a budget is not negative",
    "m.rows_budget_again": "{section} {code} is given again (first in row {first})",
    "m.rows_no_codeset": "no {what} code set is known for {year}",
    "m.rows_not_a_code": "{what} {code!r} is not a code of {year}",
    "m.rows_codeset_func": "functional classification (功能分类)",
    "m.rows_codeset_econ": "economic classification (经济分类)",
    "m.rows_codeset_fund": "fund type (资金性质)",
    "m.rows_codeset_transfer": "transfer type",
    "m.rows_codeset_revenue": "revenue classification (收入分类)",
    "m.rows_upper_form": "upper document number (上级文号) {doc!r} is not of the form "
    "<简称><kind>〔YYYY〕N号 (e.g. 财预〔2026〕3号)",
    "m.rows_upper_not_above": "upper document number (上级文号) {doc!r} is not a document of "
    "the Ministry of Finance (财) or of a node above {issuer}",
    "m.rows_moved_away": "{code} was moved from under {issuer}: its new parent issues to it now "
    "(what was issued before may still be adjusted)",
    "m.rows_carryover": "a carry-over (结转) is issued by accepting a year-end statement "
    "('fiscalsync year close {year} --accept CODE --doc 文号')",
    "m.rows_breakdown_upper": "a breakdown's upper document (上级文号) is the 文号 of {ident}: "
    "give no other",
    "m.rows_bd_year": "year {year} differs from {ident}'s year {parent_year}",
    "m.rows_bd_fund": "a breakdown keeps the fund type (资金性质) of {ident}, {fund}, not {given}",
    "m.rows_bd_type": "a breakdown keeps the transfer type of {ident}, {type} ({label}), "
    "not {given}",
    "m.rows_bd_direct": "a breakdown keeps the 直达资金 flag of {ident}: it is 直达, so must "
    "its breakdowns be",
    "m.rows_bd_not_direct": "a breakdown keeps the 直达资金 flag of {ident}: it is not 直达, so "
    "must its breakdowns be",
    "m.rows_bd_func": "a breakdown's functional classification is that of {ident} or one below "
    "it: {func} is not {parent_func} or under it",
    "m.rows_repeats": "repeats {first} (the same 文号, recipient, function and amount)",
    "m.rows_already_issued": "already issued as {ident} (the same 文号, recipient, function "
    "and amount)",
    # a code set and its changed codes (nodes/fiscal/codes.py, code_changes.py)
    "m.rows_operation": "operation {number}",
    "m.rows_codeset_bad": "codeset {value!r} is not one of {choices}",
    "m.rows_fiscal_year_bad": "year {value!r} is not a fiscal year",
    "m.rows_year_not_given": "year {given} is not {year}",
    "m.rows_code_not_digits": "code {value!r} is not a code of digits",
    "m.rows_old_not_digits": "old code {value!r} is not a code of digits",
    "m.rows_new_not_digits": "new code {value!r} is not a code of digits",
    "m.rows_name_empty": "name is empty",
    "m.rows_parent_not_prefix": "parent {parent} is not a prefix of {code}",
    "m.rows_level_not_1_5": "level {value!r} is not 1 to 5",
    "m.rows_mapped_to_itself": "{old} is mapped to itself",
    "m.rows_mapped_twice": "{codeset} {old} is mapped twice",
    "m.rows_extension_bad": "extension must be true or false",
    "m.rows_change_unknown": "{codeset} {code} is not a code of {year}",
}
