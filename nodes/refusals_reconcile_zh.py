"""Why a step of a reconciliation (对账) is refused, in Chinese: :data:`RECONCILE`, the keys
of :mod:`nodes.refusals_reconcile_en`. Taken in by :mod:`nodes.refusals_zh`."""

from __future__ import annotations

__all__ = ["RECONCILE"]

RECONCILE: dict[str, str] = {
    "m.rc_no_peer": "{me} 既未向 {peer} 下达指标，也不向其报送报表：{why}",
    "m.rc_no_peer_hint": "与本节点的下级、上级或数据中心对账",
    "m.rc_one_step": "对账变更集只含一个步骤",
    "m.rc_no_session": "对账步骤须写明其对账编号",
    "m.rc_step_unknown": "未知的对账步骤 {step!r}",
    "m.rc_dataset_unknown": "本节点不认识 {dataset!r} 的对账",
    "m.rc_request_bad": "对账请求 {session}：{error}",
    "m.rc_requested_already": "对账 {session} 已请求过",
    "m.rc_cut_ahead": "对账请求 {session}：其截止序号 {cut} 超过本节点的序号 {head}",
    "m.rc_leaves_not_object": "对账 {session} 的叶节点步骤：records 须为对象",
    "m.rc_leaf_bad": "对账 {session} 的叶节点步骤：{leaf!r} 不是叶节点",
    "m.rc_leaves_bad": "对账 {session} 的叶节点步骤：{error}",
    "m.rc_statement_no_findings": "对账 {session} 的结论没有列出核对结果",
    "m.rc_statement_bad": "对账 {session} 的结论：{error}",
    "m.rc_answer_no_reports": "对账 {session} 的应答没有列出报表",
    "m.rc_answer_bad": "对账 {session} 的应答：{error}",
    "m.rc_answer_no_buckets": "对账 {session} 的应答没有列出分组",
    "m.rc_answer_bucket_bad": "对账 {session} 的应答：{bucket} 不是第 1 层的分组（0…{last}）",
    "m.rc_answer_bucket_twice": "对账 {session} 的应答两次列出同一分组",
    "m.rc_answer_report_bad": "对账 {session} 的应答：期间 {period} 的内容为 {value}，"
    "不是 [版本, 报表行的哈希]",
    "m.rc_record_field_bad": "对账 {session} 的记录：记录 {ident} 的 {field} 为 {value}，"
    "不是记录在此处应有的内容",
    "m.rc_totals_bad": "对账 {session} 的步骤：其 {key} 须为功能分类（至多 3 位数字）到金额（分）"
    "的对应，而不是 {code}：{value}",
    "m.rc_summary_bad": "对账 {session} 的结论：其摘要中的 {key} 格式不符：{value}",
    "m.rc_records_not_lists": "对账 {session} 的记录不是列表",
    "m.rc_records_bad": "对账 {session} 的记录中有不是记录的内容",
    "m.rc_not_waiting": "本节点没有与 {peer} 的对账 {session} 在等待这一步骤"
    "（重放、步骤顺序错乱，或属于其他节点）",
    "m.rc_noticed_not_list": "对账 {session} 的应答：其发现事项不是列表",
    "m.rc_count_bad": "对账步骤的 {key} 须为序号，而不是 {value!r}",
    "m.rc_root_bad": "对账请求的根摘要须为 64 位十六进制数",
}
