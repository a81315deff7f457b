"""A misuse of the command line in Chinese: :data:`USAGE`, the keys of
:mod:`nodes.refusals_usage_en`. Taken in by :mod:`nodes.refusals_zh`."""

from __future__ import annotations

__all__ = ["USAGE"]

USAGE: dict[str, str] = {
    "m.usage_hint": "用 {command} --help 查看用法",
    "m.usage_lang_first_hint": "--lang 要写在命令之前：fiscalsync --lang {lang} {command}",
    "m.usage_missing_option": "缺少选项 {name}",
    "m.usage_missing_argument": "缺少参数 {name}",
    "m.usage_missing_parameter": "缺少参数 {name}",
    "m.usage_choose": "{what}（可选：{choices}）",
    "m.usage_no_option": "未知选项 {name!r}",
    "m.usage_no_command": "未知命令 {name!r}",
    "m.usage_did_you_mean": "{what}（是否指 {names}？）",
    "m.usage_missing_command": "缺少命令",
    "m.usage_extra_arguments": "多余的参数（{args}）",
    "m.usage_option_takes_no_value": "选项 {name!r} 不带值",
    "m.usage_option_needs_value": "选项 {name!r} 须带一个值",
    "m.usage_bad_value": "{name} 的值无效：{problem}",
    "m.usage_bad_given": "{name} 的值 {value!r} 无效：{problem}",
    "m.usage_bad_value_bare": "值无效：{problem}",
    "m.usage_misused": "命令行用法有误：{problem}",
    # what a value given to an option or argument must be
    "m.usage_whole_number": "须为整数",
    "m.usage_number": "须为数字",
    "m.usage_whole_from_to": "须为 {low} 至 {high} 之间的整数",
    "m.usage_whole_from": "须为不小于 {low} 的整数",
    "m.usage_whole_to": "须为不大于 {high} 的整数",
    "m.usage_one_of": "须为 {choices} 之一",
    "m.usage_a_file": "须为文件，不能是目录",
    "m.usage_a_folder": "须为目录，不能是文件",
}
