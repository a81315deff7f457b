"""Labels of reports for people, in English and Chinese (中文)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sync.errors import InputError

if TYPE_CHECKING:
    pass


_LABELS = {
    "en": {
        "revenue": "Revenue",
        "expenditure": "Expenditure",
        "section": "Section",
        "code": "Code",
        "name": "Name",
        "level": "Code tier",
        "budget": "Budget",
        "period": "Period",
        "ytd": "Year to date",
        "completion": "Of budget",
        "month": "Month to date",
        "last_year": "Same period last year",
        "change": "Change",
        "report_title": "Revenue and expenditure {kind}, {period}",
        "prepared_by": "Prepared by",
        "amount_unit": "Amounts in",
        "submitted_on": "Submitted",
        "not_submitted": "not submitted",
        "summed": "Reports summed",
        "not_held": "No report held from",
        "total": "Total",
        "class": "Class",
        "subclass": "Subclass",
        "item": "Item",
        "subitem": "Subitem",
        "monthly": "monthly report",
        "tenday": "ten-day report",
        "own": "Own",
        "all": "Consolidated",
        "region": "Region",
        "node": "Node",
        "version": "Version",
        "state": "State",
        "submitted_at": "Submitted",
        "deadline": "Deadline",
        "draft": "draft",
        "submitted": "submitted",
        "received": "received",
        "on time": "on time",
        "late": "late",
        "sent": "sent, no receipt yet",
        "missing": "missing",
        "not yet due": "not yet due",
        "unit": "yuan",
    },
    "zh": {
        "revenue": "收入",
        "expenditure": "支出",
        "section": "收支",
        "code": "科目编码",
        "name": "科目名称",
        "level": "科目层次",
        "budget": "预算数",
        "period": "本期数",
        "ytd": "累计数",
        "completion": "完成预算%",
        "month": "本月累计",
        "last_year": "上年同期",
        "change": "增减%",
        "report_title": "{period}财政收支{kind}",
        "prepared_by": "编制单位",
        "amount_unit": "金额单位",
        "submitted_on": "报送日期",
        "not_submitted": "未报送",
        "summed": "汇总报表",
        "not_held": "未收到报表",
        "total": "合计",
        "class": "类",
        "subclass": "款",
        "item": "项",
        "subitem": "目",
        "monthly": "月报",
        "tenday": "旬报",
        "own": "本级",
        "all": "全辖汇总",
        "region": "地区",
        "node": "单位",
        "version": "版本",
        "state": "状态",
        "submitted_at": "报送时间",
        "deadline": "截止时间",
        "draft": "草稿",
        "submitted": "已报送",
        "received": "已接收",
        "on time": "按时",
        "late": "逾期",
        "sent": "已发送待回执",
        "missing": "未报",
        "not yet due": "未到期",
        "unit": "元",
    },
}


def labels(lang: str = "en") -> dict[str, str]:
    """Labels of sections, columns, levels and states, in English (``en``) or Chinese (``zh``)."""
    try:
        return dict(_LABELS[lang])
    except KeyError:
        raise InputError(f"no labels in {lang!r}", hint="use --lang en or --lang zh") from None
