"""The help of the ``fiscalsync`` command in Chinese (命令帮助, the default language).

The catalogue is data, kept by command group in :mod:`nodes.help_zh_nodes` (the node, its
keys and its sync), :mod:`nodes.help_zh_fiscal` (appropriations, ledger, reports, budget,
year-end) and :mod:`nodes.help_zh_service` (agent, backup, restore, the wall): each
command's help by its path (``"report generate"``; ``""`` is ``fiscalsync`` itself), each
option's by its path and its first long name (``("allocate", "--to")``). An option whose
English help is the same on many commands (``--lang``, ``--format``) is translated once,
by that English text, in :data:`SHARED`; click's own words in help are in :data:`CLICK`.

``cli.py`` shows it when the language of the command line is Chinese; what is not in the
catalogue stays English (a test checks that nothing is missing and nothing is left over).
Example command lines are kept verbatim, as are the ``\\b`` paragraphs click keeps."""

from __future__ import annotations

import re
import textwrap

from nodes.help_zh_fiscal import COMMANDS as FISCAL_COMMANDS
from nodes.help_zh_fiscal import OPTIONS as FISCAL_OPTIONS
from nodes.help_zh_nodes import COMMANDS as NODE_COMMANDS
from nodes.help_zh_nodes import EXIT_STATUS
from nodes.help_zh_nodes import OPTIONS as NODE_OPTIONS
from nodes.help_zh_service import COMMANDS as SERVICE_COMMANDS
from nodes.help_zh_service import OPTIONS as SERVICE_OPTIONS
from nodes.labels import display_width

__all__ = [
    "CLICK",
    "COMMANDS",
    "EPILOGS",
    "OPTIONS",
    "SHARED",
    "command_help",
    "option_help",
    "usage",
    "wrapped",
]

COMMANDS: dict[str, tuple[str, str]] = {**NODE_COMMANDS, **FISCAL_COMMANDS, **SERVICE_COMMANDS}
"""Each command's and group's help, by its path below ``fiscalsync``: its short line (in
its group's list of commands) and its whole text."""

EPILOGS: dict[str, str] = {"": EXIT_STATUS}
"""The text after a command's options, by its path: the exit statuses of ``fiscalsync``."""

OPTIONS: dict[tuple[str, str], str] = {**NODE_OPTIONS, **FISCAL_OPTIONS, **SERVICE_OPTIONS}
"""Each option's help, by its command's path and its first long name."""

SHARED: dict[str, str] = {
    "Labels in Chinese (中文, the default) or English; without it, English only when "
    "the locale names another language (LANG=en_US.UTF-8).": "以中文（默认）或英文显示；不给此选项时，"
    "只有区域设置指明其他语言（如 LANG=en_US.UTF-8）才显示英文。",
    "table for the terminal; csv, xlsx or json for other programs.": "table 在终端显示；"
    "csv、xlsx 或 json 供其他程序使用。",
    "Write to this file instead of the terminal (required for xlsx).": "写入此文件而不显示在终端"
    "（xlsx 必须给出）。",
    "File holding the CA key's passphrase (default: $FISCALSYNC_CA_PASSPHRASE).": "存放 CA 私钥"
    "口令的文件（默认：$FISCALSYNC_CA_PASSPHRASE）。",
    "Signature suite of the network: ed25519, or sm2 (SM2/SM3/SM4, 国密).": "全网的签名算法："
    "ed25519，或 sm2（SM2/SM3/SM4，国密）。",
    "Database URL (default: SQLite node.db in HOME).": "数据库 URL（默认：HOME 中的 SQLite "
    "node.db）。",
    "Topology file listing every node.": "列出每个节点的拓扑文件。",
    "Root CA folder.": "根 CA 目录。",
    "Print JSON.": "输出 JSON。",
    "Only this year.": "只列此年度。",
    "Only this fiscal year.": "只列此预算年度。",
    "Only this node's backups.": "只列此节点的备份。",
    "The budget year, e.g. 2026.": "预算年度，如 2026。",
    "Show this message and exit.": "显示此帮助并退出。",
    "Show the version and exit.": "显示版本并退出。",
}
"""Option help said the same on many commands, by its English text."""

CLICK: dict[str, str] = {
    "usage": "用法：",
    "options": "选项",
    "commands": "命令",
    "default": "默认：{default}",
    "env var": "环境变量：{var}",
    "required": "必填",
    "separator": "；",
}
"""Click's own words in help: the usage line's prefix, section titles, option notes."""


def command_help(path: str) -> tuple[str, str] | None:
    """The Chinese help of the command at ``path`` (``""`` for ``fiscalsync``), its short
    line and its text, if any."""
    return COMMANDS.get(path)


def option_help(path: str, name: str, english: str) -> str | None:
    """The Chinese help of the option ``name`` of the command at ``path``, whose English
    help is ``english``, if any."""
    return OPTIONS.get((path, name)) or SHARED.get(english)


KEPT = "\b"
"""What starts a paragraph click shows as it is (not wrapped again)."""

NO_LINE_START = set("，。、；：！？）」』》〕”’,.;:!?)]")
"""Punctuation a line does not start with: the word before it goes to the next line too."""

NO_LINE_END = set("（「『《〔“‘([")
"""Punctuation a line does not end with: it goes to the start of the next line."""


def wrapped(text: str, width: int) -> str:
    """``text`` with each paragraph broken into lines of at most ``width`` terminal cells
    (a Chinese character takes two) and kept so by click (``\\b``); click itself counts
    characters, and would make Chinese lines twice too long. Paragraphs kept already,
    such as examples, are left as they are."""
    paragraphs = []
    for paragraph in text.split("\n\n"):
        if paragraph.startswith(KEPT) or not paragraph.strip():
            paragraphs.append(paragraph)
        else:
            paragraphs.append("\n".join([KEPT, *_lines(paragraph, max(width, 10))]))
    return "\n\n".join(paragraphs)


def usage(prog: str, args: str, width: int) -> str:
    """The usage line of the command ``prog`` (``用法：fiscalsync init [OPTIONS] HOME``)
    at most ``width`` cells wide, its ``args`` wrapped as click wraps them: under the
    first, or below it when the line has no room; click would count 用法： as three."""
    prefix = f"{CLICK['usage']}{prog} "
    room = width - display_width(prefix)
    if room >= 20:
        indent = " " * display_width(prefix)
        return prefix + f"\n{indent}".join(textwrap.wrap(args, room) or [""]) + "\n"
    indent = " " * (display_width(CLICK["usage"]) + 4)
    lines = textwrap.wrap(args, width, initial_indent=indent, subsequent_indent=indent)
    return "\n".join([prefix.rstrip(), *lines]) + "\n"


def _lines(paragraph: str, width: int) -> list[str]:
    """``paragraph`` filled greedily into lines of ``width`` cells; a line does not start
    with a closing mark nor end with an opening one: the word before it goes along. A word
    longer than a line is cut, as click cuts it."""
    lines: list[list[str]] = [[]]
    words = re.findall(r"[^\s\u2e80-\uffef]+|\s+|.", " ".join(paragraph.split()))
    cut = [w[i : i + width] for w in words for i in range(0, len(w), width)]
    for token in cut:
        line = lines[-1]
        if line and display_width("".join(line) + token) > width:
            carried: list[str] = []
            while token in NO_LINE_START and len(line) > 1:  # the word the mark closes
                carried.insert(0, line.pop())
                if carried[0] not in NO_LINE_START:
                    break
            if token in NO_LINE_START and not carried and len(line[-1]) > 1:  # a word alone
                carried, line[-1] = [line[-1][-1]], line[-1][:-1]  # its last letter goes along
            if len(line) > 1 and line[-1] in NO_LINE_END:
                carried.insert(0, line.pop())
            lines.append(carried)
            if token.isspace():
                continue
        lines[-1].append(token)
    return ["".join(line).strip() for line in lines if "".join(line).strip()]
