"""The ``fiscalsync`` command: parse, one Node call, render.

Every user-facing failure leaves through :func:`main`: ``Error: <what>`` and a hint on
standard error, with the exit status of its family (listed in ``fiscalsync --help``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import functools
import getpass
import inspect
import json
import os
import re
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, date, datetime, tzinfo
from pathlib import Path
from typing import Any

import click

from nodes import (
    Node,
    NodeHome,
    agent,
    help_zh,
    hosting,
    init_network,
    init_node,
    joining,
    keys,
    load_topology,
    membership,
    retention,
    service,
    sftp_accounts,
    web,
)
from nodes.check import check_home
from nodes.exchange import Exchange, RoundSummary
from nodes.fiscal import appropriations, ledger, reconcile, reports, tabular, yearend
from nodes.fiscal.budget import import_budget
from nodes.fiscal.budget import lines as budget_lines
from nodes.fiscal.code_changes import listed as changed_codes
from nodes.fiscal.codes import import_codes
from nodes.fiscal.codes import items as code_items
from nodes.fiscal.demo import DEMO_ALLOCATIONS, DEMO_TODAY, run_demo
from nodes.labels import LANGUAGES, Said, joined, labels, named, recalled, said, say, shown
from nodes.locks import home_lock
from nodes.logins import hash_password, load_logins
from nodes.network import add_node, move_node, retire_node, sync_network
from nodes.node import inspect_changeset
from nodes.settings import LOCAL_TIME, load_settings
from nodes.topology import NodeSpec
from schema.engine import database_failure
from schema.errors import FiscalsyncError
from schema.migrate import is_known_revision
from schema.said import Said as SaidBelow
from schema.types import FIRST_YEAR, LAST_YEAR, format_yuan, parse_yuan
from sync.errors import (
    Inconsistent,
    InputError,
    NotQuiet,
    RowsRefused,
    TopologyError,
    TransportError,
)
from sync.signing import DEFAULT_SUITE, registered_suites

EXIT_STATUS = """\b
Exit status:
  0   success
  1   unexpected failure (a bug: please report it with its traceback)
  2   wrong command-line usage
  3   bad input: malformed file, unknown node code, bad amount
  4   node home missing, not empty, or not this node's
  5   database unreachable or unusable
  6   topology fails its checks (every problem is listed)
  7   parent or mailbox unreachable (nothing lost; the next sync resumes)
  8   key, certificate or CA unusable
  9   database schema newer or older than this fiscalsync
  10-15  change-set refused: 10 malformed, 11 integrity, 12 signature,
         13 certificate, 14 wrong recipient, 15 not authorized
  16  network sync --until-quiet ended with something still in flight (named)
  17  check found problems in the node home (each named, with what to do)
  74  disk or file-system failure (e.g. disk full); nothing half-written
"""

YEAR = click.IntRange(FIRST_YEAR, LAST_YEAR)
"""A fiscal year given on the command line (``--year``, ``year close YEAR``)."""

LARGE_TRANSFER = 512 * 1024
"""Downloads at least this large show a progress bar."""

HOME_OPTION_HELP = "Node home folder (default: $FISCALSYNC_HOME)."

LANG_META = "fiscalsync.lang"
"""Where a command's ``--lang`` is kept (``ctx.meta``), for its error messages."""


class Failure(click.ClickException):
    """A fiscalsync error on its way out: ``Error: <what>`` and a hint, its own status.

    A message said by key (:class:`nodes.labels.Said`) is shown in ``lang`` with its
    hint, under the words of that language (错误：, 提示：); a message not (yet) said by
    key stays in English, hint and all, so that no line mixes the two."""

    def __init__(
        self,
        message: str,
        hint: str = "",
        details: Sequence[str] = (),
        code: int = 1,
        lang: str = "en",
    ):
        super().__init__(message)
        self.said, self.hint = message, hint
        self.details = list(details)
        self.exit_code = code
        self.lang = lang

    def show(self, file: Any = None) -> None:
        words = labels(self.lang if isinstance(self.said, SaidBelow) else "en")
        click.echo(words["m.error"].format(what=shown(self.said, words)), err=True)
        for line in self.details:
            click.echo(f"  {shown(line, words)}", err=True)
        if self.hint:
            click.echo(words["m.hint"].format(what=shown(self.hint, words)), err=True)


ARGS_META = "fiscalsync.args"
"""The command line as given (``ctx.meta``), to find its ``--lang`` when click refuses it
before the option is read."""


class _SaysMisuse:
    """A command whose misuse by click (a missing option, an unknown one, a bad value)
    is said by key in the operator's language, with a hint to its ``--help``: one path
    out, the exit status of click's usage errors (2)."""

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        given = list(args)
        try:
            ctx: click.Context = super().make_context(  # type: ignore[misc]
                info_name, args, parent, **extra
            )
        except click.exceptions.NoArgsIsHelpError:
            raise  # the help itself, as asked
        except click.UsageError as exc:
            path = " ".join(p for p in (parent.command_path if parent else "", info_name) if p)
            left = self._extra(info_name, given, parent) if type(exc) is click.UsageError else []
            raise _misuse(exc, path or "fiscalsync", given, left) from exc
        if parent is None:
            ctx.meta[ARGS_META] = given
        return ctx

    def _extra(
        self, info_name: str | None, args: list[str], parent: click.Context | None
    ) -> list[str]:
        """The arguments left over by the command line ``args``: read again, leniently."""
        try:
            ctx = super().make_context(  # type: ignore[misc]
                info_name, list(args), parent, resilient_parsing=True
            )
        except click.UsageError:
            return []
        return list(ctx.args)


class _SaysHelp:
    """A command whose ``--help`` is in the operator's language: Chinese by default, from
    the catalogue :mod:`nodes.help_zh` (its text, options, commands and click's own words),
    English as written here with ``--lang en`` or an English locale. ``--help`` is eager,
    read before ``--lang``: the language is the command line's as written, else the
    locale's (:func:`_help_language`). What the catalogue lacks stays English.

    ``--help --lang en`` shows the help in English even on a command that has no
    ``--lang`` of its own (its output then takes ``fiscalsync --lang en CMD``)."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        given = list(args)  # click's parser takes the words of args as it reads them
        if ctx.parent is None:  # the command line, for the help's language: before --help
            ctx.meta.setdefault(ARGS_META, given)
        try:
            return super().parse_args(ctx, args)  # type: ignore[misc, no-any-return]
        except click.NoSuchOption as exc:
            asked = set(given[: given.index("--")] if "--" in given else given)
            if exc.option_name != "--lang" or not asked & set(ctx.help_option_names):
                raise
            click.echo(ctx.get_help(), color=ctx.color)
            ctx.exit()

    def format_usage(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        if _help_language() != "zh":
            return super().format_usage(ctx, formatter)  # type: ignore[misc, no-any-return]
        pieces = self.collect_usage_pieces(ctx)  # type: ignore[attr-defined]
        formatter.write(help_zh.usage(ctx.command_path, " ".join(pieces), formatter.width))

    def format_help_text(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        found = help_zh.command_help(_help_path(ctx)) if _help_language() == "zh" else None
        if found is None:
            return super().format_help_text(ctx, formatter)  # type: ignore[misc, no-any-return]
        _write_help_text(formatter, found[1])

    def format_epilog(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        found = help_zh.EPILOGS.get(_help_path(ctx)) if _help_language() == "zh" else None
        if found is None:
            return super().format_epilog(ctx, formatter)  # type: ignore[misc, no-any-return]
        _write_help_text(formatter, found)

    def format_options(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        if _help_language() != "zh":
            return super().format_options(ctx, formatter)  # type: ignore[misc, no-any-return]
        path = _help_path(ctx)
        params = self.get_params(ctx)  # type: ignore[attr-defined]
        rows = [_option_row(ctx, path, p) for p in params if isinstance(p, click.Option)]
        if any(rows):
            _write_rows(formatter, help_zh.CLICK["options"], [r for r in rows if r is not None])
        if isinstance(self, click.Group):
            names = [n for n in self.list_commands(ctx) if not self.commands[n].hidden]
            shown = [(n, _short_help(path, n, self.commands[n])) for n in names]
            if shown:
                _write_rows(formatter, help_zh.CLICK["commands"], shown)


def _help_language() -> str:
    """The language of ``--help``: the command line's as written (``--lang`` of the
    command asked about, read before a group's default), else the locale's."""
    ctx = click.get_current_context(silent=True)
    written = _written_language(ctx.meta.get(ARGS_META, ())) if ctx is not None else None
    return written or _current_language()


def _help_path(ctx: click.Context) -> str:
    """The path of the command of ``ctx`` below ``fiscalsync`` (``"backup verify"``)."""
    names = []
    while ctx.parent is not None:
        names.append(ctx.info_name or "")
        ctx = ctx.parent
    return " ".join(reversed(names))


def _write_help_text(formatter: click.HelpFormatter, text: str) -> None:
    formatter.write_paragraph()
    with formatter.indentation():
        width = formatter.width - formatter.current_indent
        formatter.write_text(help_zh.wrapped(inspect.cleandoc(text), width))


def _write_rows(formatter: click.HelpFormatter, title: str, rows: list[tuple[str, str]]) -> None:
    """A section of help listing ``rows`` (options, commands), the text of each broken
    into lines by terminal cells, at the width click gives it."""
    first_column = min(max(len(first) for first, _ in rows), 30) + 2
    width = formatter.width - first_column - 2
    with formatter.section(title):
        formatter.write_dl([(first, help_zh.wrapped(text, width)) for first, text in rows])


def _short_help(path: str, name: str, command: click.Command) -> str:
    """The line of the command ``name`` in the list of its group at ``path``."""
    found = help_zh.command_help(f"{path} {name}".strip())
    return found[0] if found is not None else command.get_short_help_str()


def _option_row(ctx: click.Context, path: str, option: click.Option) -> tuple[str, str] | None:
    """The line of ``option`` in the help of the command at ``path``, in Chinese: its help
    from the catalogue, and what click adds to it (default, required) in Chinese words."""
    record = option.get_help_record(ctx)
    name = next((o for o in option.opts if o.startswith("--")), option.opts[0])
    chinese = help_zh.option_help(path, name, option.help) if option.help else ""
    if record is None or chinese is None:
        return record
    words, extra = help_zh.CLICK, option.get_help_extra(ctx)
    notes = [words["env var"].format(var=", ".join(extra["envvars"]))] if "envvars" in extra else []
    notes += [words["default"].format(default=extra["default"])] if "default" in extra else []
    notes += [extra["range"]] if "range" in extra else []
    notes += [words["required"]] if "required" in extra else []
    if notes:
        chinese = f"{chinese}  [{words['separator'].join(notes)}]".lstrip()
    return record[0], chinese


class _Command(_SaysHelp, _SaysMisuse, click.Command):
    """A command whose misuse is said in the operator's language (:class:`_SaysMisuse`),
    and its help (:class:`_SaysHelp`)."""


class _Group(_SaysHelp, _SaysMisuse, click.Group):
    """Lists commands in declared order and translates our errors into :class:`Failure`."""

    command_class = _Command

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(self.commands)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.exceptions.NoArgsIsHelpError:
            raise
        except click.UsageError as exc:  # an unknown command, none given, a misused value
            raise _misuse(exc, ctx.command_path, ctx.meta.get(ARGS_META, []), []) from exc
        except FiscalsyncError as exc:
            details = exc.problems if isinstance(exc, TopologyError | RowsRefused) else ()
            hint = _default_hint(exc)
            raise Failure(exc.message, hint, details, exc.exit_code, _current_language()) from exc
        except BrokenPipeError:
            sys.stderr.close()  # the reader went away (e.g. `| head`): stop quietly
            sys.exit(0)
        except OSError as exc:  # the operating system's words, as it gives them, inside ours
            error = exc.strerror or str(exc)
            path = f"{exc.filename} -> {exc.filename2}" if exc.filename2 else exc.filename
            failed = said("os_failed_at", error=error, path=path) if exc.filename else None
            hint = said("os_disk_full_hint") if exc.errno == errno.ENOSPC else ""
            lang = _current_language()
            raise Failure(
                failed or said("os_failed", error=error), hint, code=74, lang=lang
            ) from exc
        except Exception as exc:
            failure = database_failure(exc)
            if failure is None:
                raise
            hint = _default_hint(failure)
            raise Failure(
                failure.message, hint, code=failure.exit_code, lang=_current_language()
            ) from exc


def _misuse(exc: click.UsageError, command: str, args: Sequence[str], extra: list[str]) -> Failure:
    """Click's usage error ``exc`` of ``command`` (its command line ``args``, the arguments
    it did not take ``extra``), said by key from what it names, with a hint to its help."""
    lang = _current_language(args)
    hint = said("usage_hint", command=command)
    if isinstance(exc, click.NoSuchOption) and exc.option_name == "--lang":  # the root's
        below = command.removeprefix("fiscalsync").strip()
        hint = said("usage_lang_first_hint", lang=_written_language(args) or lang, command=below)
    return Failure(_misuse_said(exc, args, extra), hint, code=exc.exit_code, lang=lang)


def _misuse_said(exc: click.UsageError, args: Sequence[str], extra: list[str]) -> Said:
    """What ``exc`` says, by its kind and what it names (never by its English text)."""
    if isinstance(exc, click.MissingParameter):
        param = exc.param
        kind = exc.param_type or (param.param_type_name if param is not None else "parameter")
        if kind not in ("option", "argument"):
            kind = "parameter"
        missing = said(f"usage_missing_{kind}", name=_param_name(exc))
        if param is not None and isinstance(param.type, click.Choice):
            return said("usage_choose", what=missing, choices=_choices(param.type))
        return missing
    if isinstance(exc, click.BadParameter):
        problem = _value_problem(exc.param, exc.message, args)
        if exc.param is None and exc.param_hint is None:
            return said("usage_bad_value_bare", problem=problem)
        given = _given(exc.param, args)
        if given is not None:
            return said("usage_bad_given", value=given, name=_param_name(exc), problem=problem)
        return said("usage_bad_value", name=_param_name(exc), problem=problem)
    if isinstance(exc, click.NoSuchOption | click.NoSuchCommand):
        if isinstance(exc, click.NoSuchOption):
            unknown = said("usage_no_option", name=exc.option_name)
        else:
            unknown = said("usage_no_command", name=exc.command_name)
        if exc.possibilities:
            return said("usage_did_you_mean", what=unknown, names=", ".join(exc.possibilities))
        return unknown
    if isinstance(exc, click.BadOptionUsage):
        command = exc.ctx.command if exc.ctx is not None else None
        options = [p for p in command.params if exc.option_name in p.opts] if command else []
        flag = any(isinstance(p, click.Option) and p.is_flag for p in options)
        key = "usage_option_takes_no_value" if flag else "usage_option_needs_value"
        return said(key, name=exc.option_name)
    if type(exc) is click.UsageError and extra:
        return said("usage_extra_arguments", args=" ".join(extra))
    if type(exc) is click.UsageError and isinstance(exc.ctx and exc.ctx.command, click.Group):
        return said("usage_missing_command")
    return said("usage_misused", problem=exc.format_message())


def _param_name(exc: click.BadParameter) -> str:
    """How click names the parameter of ``exc`` (``'--year'``, ``'FILE'``)."""
    hint = exc.param_hint
    if hint is None and exc.param is not None:
        hint = exc.param.get_error_hint(exc.ctx)  # type: ignore[arg-type]
    if hint is None:
        return "-"
    return hint if isinstance(hint, str) else " / ".join(repr(h) for h in hint)


def _choices(kind: click.Choice) -> str:  # type: ignore[type-arg]
    return ", ".join(str(c) for c in kind.choices)


def _value_problem(param: click.Parameter | None, message: str, args: Sequence[str]) -> Said | str:
    """What a value of ``param`` must be, by its type; else ``message`` as it was given
    (said by our own code, or by a type this does not know, or a path refused for another
    reason than its kind: one that cannot be read)."""
    kind = param.type if param is not None else None
    if isinstance(kind, click.Choice):
        return said("usage_one_of", choices=_choices(kind))
    if isinstance(kind, click.IntRange):
        if kind.min is not None and kind.max is not None:
            return said("usage_whole_from_to", low=kind.min, high=kind.max)
        if kind.min is not None:
            return said("usage_whole_from", low=kind.min)
        return said("usage_whole_to", high=kind.max)
    if isinstance(kind, click.types.IntParamType):
        return said("usage_whole_number")
    if isinstance(kind, click.types.FloatParamType):
        return said("usage_number")
    if isinstance(kind, click.Path) and not (kind.file_okay and kind.dir_okay):
        if any(os.path.isdir(v) == kind.file_okay for v in _paths_given(param, args)):
            return said("usage_a_file" if kind.file_okay else "usage_a_folder")
    return message


def _paths_given(param: click.Parameter | None, args: Sequence[str]) -> list[str]:
    """The existing paths the command line ``args`` may have given ``param``: an option's
    value, or for an argument each word that is neither an option nor an option's value."""
    if isinstance(param, click.Option):
        values = [_given(param, args)]
    else:
        values = [
            arg
            for index, arg in enumerate(args)
            if not arg.startswith("-")
            and not (index and args[index - 1].startswith("-") and "=" not in args[index - 1])
        ]
    return [v for v in values if v is not None and os.path.exists(v)]


def _given(param: click.Parameter | None, args: Sequence[str]) -> str | None:
    """The value given to the option ``param`` on the command line ``args``, if found."""
    if not isinstance(param, click.Option):
        return None
    found = None  # the last one given, as click keeps
    for index, arg in enumerate(args):
        for name in param.opts:
            if arg == name and index + 1 < len(args):
                found = args[index + 1]
            elif arg.startswith(f"{name}="):
                found = arg.split("=", 1)[1]
    return found


def _default_hint(exc: FiscalsyncError) -> str:
    """The hint of ``exc``: the default of its family said by key (``m.<family>_hint``,
    ``topology_error_hint``), so that it reads in the operator's language."""
    family = next((c for c in type(exc).__mro__ if "default_hint" in c.__dict__), None)
    if family is None or not exc.hint or exc.hint != family.__dict__["default_hint"]:
        return exc.hint
    key = re.sub(r"(?<!^)(?=[A-Z])", "_", family.__name__).lower() + "_hint"
    return said(key) if f"m.{key}" in labels("en") else exc.hint


def _home(ctx: click.Context) -> Path:
    home = ctx.find_root().params.get("home")
    if home is None:
        raise _usage("no_home_given")
    return Path(home)


@contextlib.contextmanager
def _writing(
    ctx: click.Context, *, exclusive: bool = False, check_schema: bool = True
) -> Iterator[Node]:
    """The node, for a command that writes to it: under the home lock (shared, or
    ``exclusive`` for what must be alone with the home)."""
    home = _home(ctx)
    with Node.open(home, check_schema=check_schema) as node, home_lock(home, exclusive=exclusive):
        yield node


def _pad(text: str, width: int) -> str:
    """Left-align text in a terminal column; CJK characters take two cells."""
    return text + " " * max(width - tabular.display_width(text), 1)


def _describe(spec: NodeSpec | None, words: dict[str, str]) -> str:
    return f"{spec.code} {spec.name} ({say(words, 'role', spec.role)})" if spec else "-"


@click.group(
    cls=_Group, epilog=EXIT_STATUS, context_settings={"help_option_names": ["-h", "--help"]}
)
@click.option(
    "--home",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="FISCALSYNC_HOME",
    help=HOME_OPTION_HELP,
)
@click.option(
    "--lang",
    type=click.Choice(["zh", "en"]),
    is_eager=True,
    expose_value=False,
    callback=lambda ctx, _param, value: _every_command_language(ctx, value),
    help="Chinese (中文, the default) or English for every command: its help, output and "
    "messages; a command's own --lang, written after it, has the last word.",
)
@click.version_option(package_name="fiscalsync")
def cli(home: Path | None) -> None:
    """fiscalsync: province → city → county sync of budget appropriations (预算指标),
    receipts, reports and reconciliation, as signed change-sets.

    \b
    Example:
      fiscalsync demo
      fiscalsync --home /srv/fiscalsync/410102 status
    """


def _every_command_language(ctx: click.Context, value: str | None) -> None:
    """``fiscalsync --lang``: the language of the command below it and of its errors
    (``ctx.meta`` is shared by every context of a command line)."""
    if value is not None:
        ctx.meta[LANG_META] = value


def _chosen_language(ctx: click.Context, _param: Any, value: str | None) -> str:
    """The language of a command's output, kept for its error messages too: its own
    ``--lang``, else ``fiscalsync --lang``, else the one written on the command line (a
    group's ``--lang`` is read before its command's), else the locale's."""
    written = _written_language(ctx.meta.get(ARGS_META, ()))
    ctx.meta[LANG_META] = value or ctx.meta.get(LANG_META) or written or _locale_language()
    return str(ctx.meta[LANG_META])


_lang_option = click.option(
    "--lang",
    type=click.Choice(["zh", "en"]),
    default=None,
    callback=_chosen_language,
    help="Labels in Chinese (中文, the default) or English; without it, English only when "
    "the locale names another language (LANG=en_US.UTF-8).",
)


@cli.command()
@click.argument("home", type=click.Path(file_okay=False, path_type=Path))
@click.option("--node", "code", required=True, help="This node's code, e.g. 410102.")
@click.option(
    "--topology",
    "topology_file",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Topology file listing every node.",
)
@click.option("--db", "db_url", help="Database URL (default: SQLite node.db in HOME).")
@_lang_option
def init(home: Path, code: str, topology_file: Path, db_url: str | None, lang: str) -> None:
    """Create a node home: settings, migrated database, folders for keys and spool.

    \b
    Example:
      fiscalsync init /srv/fiscalsync/410102 --node 410102 \\
          --topology config/topologies/henan.toml
      fiscalsync init /srv/fiscalsync/410100 --node 410100 \\
          --topology henan.toml --db postgresql://fiscal@db.local/fs_410100
    """
    created = init_node(home, code, topology_file, db_url)
    words = labels(lang)
    click.echo(words["n.home_created"].format(home=created.path, code=code))
    role = load_topology(created.topology_file).node(code).role
    click.echo(_next_steps(created.path, code, role, words))


def _current_language(args: Sequence[str] = ()) -> str:
    """The language of the command running: its ``--lang`` (read, else as written on its
    command line, or in ``args``), else the locale."""
    ctx = click.get_current_context(silent=True)
    meta = ctx.meta if ctx is not None else {}
    return (
        meta.get(LANG_META)
        or _written_language(args or meta.get(ARGS_META, ()))
        or _locale_language()
    )


def _written_language(args: Sequence[str]) -> str | None:
    """The language a command line names (``--lang en``, ``--lang=zh``), if one: the last
    one written, as click keeps. A ``--lang`` right after an option that takes a value on
    some command (``--memo --lang``) is that option's value, and not read; nor is
    anything after ``--``."""
    found = None
    for index, arg in enumerate(args):
        if arg == "--":
            break
        if index and args[index - 1] in _options_with_values():
            continue
        value = args[index + 1] if arg == "--lang" and index + 1 < len(args) else None
        value = arg.split("=", 1)[1] if arg.startswith("--lang=") else value
        found = value if value in LANGUAGES else found
    return found


@functools.cache
def _options_with_values() -> frozenset[str]:
    """The names of the options that take a value, on any command of ``fiscalsync``."""
    commands: list[click.Command] = [cli]
    names: set[str] = set()
    for command in commands:
        if isinstance(command, click.Group):
            commands.extend(command.commands.values())
        for param in command.params:
            if isinstance(param, click.Option) and not param.is_flag and not param.count:
                names.update(param.opts)
    return frozenset(names)


def _in_language(text: Said) -> str:
    """``text`` in the language of the command running (its ``--lang``, else the locale)."""
    return str(shown(text, labels(_current_language())))


def _usage(key: str, **values: Any) -> Failure:
    """A misuse of the command line, said by key in the command's language, with a hint
    to the command's help (status 2, as click's own)."""
    ctx = click.get_current_context(silent=True)
    hint = said("usage_hint", command=ctx.command_path if ctx is not None else "fiscalsync")
    return Failure(said(key, **values), hint, code=2, lang=_current_language())


@cli.command()
@click.argument("home", type=click.Path(file_okay=False, path_type=Path))
@click.option("--node", "code", required=True, help="This node's code, e.g. 410183.")
@click.option(
    "--topology",
    "topology_file",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The province's topology that lists this node ('network add-node' made it).",
)
@click.option(
    "-o",
    "--out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="A new folder for the request to send (CODE.csr, CODE.pub).",
)
@click.option("--db", "db_url", help="Database URL (default: SQLite node.db in HOME).")
@click.option(
    "--suite",
    type=click.Choice(registered_suites()),
    default=DEFAULT_SUITE,
    show_default=True,
    help="Signature suite of the network.",
)
@_lang_option
def join(
    home: Path,
    code: str,
    topology_file: Path,
    out: Path,
    db_url: str | None,
    suite: str,
    lang: str,
) -> None:
    """Join the network on this machine (加入): make the node home and its keys, and
    write the request to send: CODE.csr to the province, CODE.pub to the parent.

    The province answers with 'network answer-join', and 'keys install ANSWER' here
    installs what comes back; then start the agent.

    \b
    Example:
      fiscalsync join /srv/fiscalsync/410183 --node 410183 --topology topology.toml \\
          -o /tmp/410183-request
    """
    made = joining.request(home, code, topology_file, out, database_url=db_url, suite=suite)
    parent = made.spec.parent
    words = labels(lang)
    role = say(words, "role", made.spec.role)
    click.echo(words["n.joined_home"].format(home=made.home.path, code=code, role=role))
    click.echo(words["n.joined_send_csr"].format(file=made.csr))
    click.echo(
        f"  fiscalsync --home PROVINCE_HOME network answer-join {out} --ca CA -o {code}-answer"
    )
    click.echo(words["n.joined_send_ssh"].format(file=made.ssh_public, parent=parent))
    click.echo(f"  fiscalsync --home PARENT_HOME sftp-config --keys FOLDER_OF_{code}.pub")
    click.echo(words["n.joined_then"].format(home=made.home.path))


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@_lang_option
@click.pass_context
def status(ctx: click.Context, as_json: bool, lang: str) -> None:
    """Show this node's identity, parent, children, database and schema version, its
    certificate and revocation list, and the alerts that need an operator: files parked
    after failing too many sync rounds, this node's own copies found damaged (never
    sent), files failing now, quarantine, a missing or stale revocation list, a
    certificate about to expire, and the problems the last 'fiscalsync check' found.
    Times are in the node's zone ([node] time_zone); --json keeps its English keys.

    \b
    Example:
      fiscalsync --home /srv/fiscalsync/410102 status
      fiscalsync --home /srv/fiscalsync/410102 status --lang en
      FISCALSYNC_HOME=/srv/fiscalsync/410102 fiscalsync status --json
    """
    with Node.open(_home(ctx), check_schema=False) as node:
        report = node.status()
        zone = node.settings.time_zone
    if as_json:
        click.echo(json.dumps(report.as_dict(), ensure_ascii=False, indent=2))
        return
    words = labels(lang)
    schema_state = "current" if report.schema_revision == report.schema_head else "outdated"
    if report.schema_revision is None:
        schema_state = "empty"
    elif not is_known_revision(report.schema_revision):
        schema_state = "newer"  # migrated by a newer fiscalsync: upgrade the code, not the db
    children = ", ".join(f"{c.code} {c.name}" for c in report.children) or "-"
    rows = [
        ("st.node", f"{report.code} {report.name} ({say(words, 'role', report.role)})"),
        ("st.parent", _describe(report.parent, words)),
        ("st.children", children),
        ("st.home", str(report.home)),
        (
            "st.topology",
            words["st.topology_value"].format(name=report.topology_name, size=report.topology_size),
        ),
        ("st.database", report.database_url),
        (
            "st.schema",
            words["st.schema_value"].format(
                revision=report.schema_revision or "-",
                state=words[f"schema.{schema_state}"],
                head=report.schema_head,
            ),
        ),
        *_trust_rows(report.trust, words, zone),
        (
            "st.spool",
            words["st.spool_value"].format(size=f"{report.spool_bytes / 1e6:.1f} MB"),
        ),
    ]
    width = max(tabular.display_width(words[key]) for key, _ in rows) + 1
    for key, value in rows:
        click.echo(f"{_pad(words[key], width)}{value}")
    if report.schema_revision == report.schema_head or report.alerts:
        click.echo(f"{_pad(words['st.alerts'], width)}{len(report.alerts) or words['st.none']}")
    for alert in report.alerts:
        kind = _pad(say(words, "alert", alert.kind), 12)
        click.echo(f"  {kind}{shown(alert.subject, words)}: {shown(alert.detail, words)}")


def _local(moment: datetime, zone: tzinfo) -> str:
    """A time for people: in ``zone`` (the node's [node] time_zone), to the minute."""
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M")


def _trust_rows(
    trust: keys.TrustStatus, words: dict[str, str], zone: tzinfo
) -> list[tuple[str, str]]:
    cert = trust.certificate
    certificate = "-"
    if cert is not None:
        certificate = words["st.certificate_value"].format(
            serial=f"{cert.serial:x}",
            start=_local(cert.not_valid_before, zone),
            end=_local(cert.not_valid_after, zone),
        )
        if trust.renewal_pending:
            certificate += words["st.renewal"]
    crl = trust.crl
    listing = words["st.missing"]
    if crl is not None:
        listing = words["st.revocation_value"].format(
            number=crl.number,
            revoked=len(crl.serials),
            issued=_local(crl.last_update, zone),
            due=_local(crl.next_update, zone) if crl.next_update else "-",
            freshness=say(words, "freshness", trust.freshness),
        )
    if trust.republished_by == "agent":
        listing += words["st.by_agent"]
    elif trust.republished_by == "hand":
        listing += words["st.by_hand"].format(command=keys.PUBLISH_BY_HAND)
    return [("st.certificate", certificate), ("st.revocation", listing)]


@cli.group(cls=_Group)
def db() -> None:
    """The node database.

    \b
    Example:
      fiscalsync --home /srv/fiscalsync/410102 db upgrade
    """


@db.command("upgrade")
@click.pass_context
def db_upgrade(ctx: click.Context) -> None:
    """Apply pending schema migrations (in one transaction).

    \b
    Example:
      fiscalsync --home /srv/fiscalsync/410102 db upgrade
    """
    with _writing(ctx, exclusive=True, check_schema=False) as node:
        before, after = node.upgrade_database()
    if before == after:
        click.echo(_in_language(said("db_current", schema=after)))
    else:
        if before:
            click.echo(_in_language(said("db_upgraded", before=before, after=after)))
        else:
            click.echo(_in_language(said("db_created", after=after)))


@cli.group(cls=_Group)
def topology() -> None:
    """Topology files: every node, its role, parent and endpoint.

    \b
    Example:
      fiscalsync topology check config/topologies/henan.toml
    """


@topology.command("check")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@_lang_option
def topology_check(file: Path, lang: str) -> None:
    """Check a topology file and report every problem at once, with its line.

    \b
    Example:
      fiscalsync topology check config/topologies/henan.toml
      fiscalsync topology check config/topologies/henan.toml --lang en
    """
    checked = load_topology(file)
    counts: dict[str, int] = {}
    for spec in checked:
        counts[spec.role] = counts.get(spec.role, 0) + 1
    direct = [n for n in checked if n.role == "county" and n.parent == checked.province.code]
    words = labels(lang)
    summary = words["m.list_sep"].join(
        words["m.topology_role_count"].format(count=counts[r], role=say(words, "role", r))
        for r in ("province", "city", "county", "center")
        if r in counts
    )
    click.echo(_in_language(said("topology_ok", file=file, count=len(checked), summary=summary)))
    if direct:
        click.echo(_in_language(said("topology_direct", count=len(direct))))


@cli.group(cls=_Group)
def network() -> None:
    """A whole province hosted on one machine (local folder transport).

    \b
    Example:
      fiscalsync network init /srv/province --topology config/topologies/henan.toml
    """


_suite_option = click.option(
    "--suite",
    type=click.Choice(registered_suites()),
    default=DEFAULT_SUITE,
    show_default=True,
    help="Signature suite of the network: ed25519, or sm2 (SM2/SM3/SM4, 国密).",
)


@network.command("init")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--topology",
    "topology_file",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Topology file listing every node.",
)
@click.option(
    "--db-url-template",
    help="Database URL per node, with {code}; default SQLite in each home.",
)
@_suite_option
def network_init(
    directory: Path, topology_file: Path, db_url_template: str | None, suite: str
) -> None:
    """Create one node home per topology node under DIRECTORY/<code>/.

    \b
    Example:
      fiscalsync network init /tmp/province --topology config/topologies/demo.toml
      fiscalsync network init /tmp/province-gm --topology config/topologies/demo.toml \\
          --suite sm2
      fiscalsync network init /tmp/henan --topology config/topologies/henan.toml \\
          --db-url-template 'postgresql://127.0.0.1/fs_{code}'
    """
    total = len(load_topology(topology_file))
    with click.progressbar(
        length=total, label=_in_language(said("creating_homes")), file=sys.stderr, show_pos=True
    ) as bar:
        created = init_network(
            directory, topology_file, db_url_template, lambda _: bar.update(1), suite=suite
        )
    click.echo(_in_language(said("homes_created", count=len(created.homes), path=created.path)))


def _passphrase(passphrase_file: Path | None) -> bytes | None:
    """The CA passphrase: from a file, else $FISCALSYNC_CA_PASSPHRASE, else none."""
    if passphrase_file is not None:
        try:
            return passphrase_file.read_bytes().rstrip(b"\r\n")
        except OSError as exc:
            raise click.BadParameter(
                _in_language(said("cannot_read", path=passphrase_file, error=exc.strerror))
            ) from exc
    value = os.environ.get("FISCALSYNC_CA_PASSPHRASE")
    return value.encode("utf-8") if value else None


_passphrase_option = click.option(
    "--passphrase-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="File holding the CA key's passphrase (default: $FISCALSYNC_CA_PASSPHRASE).",
)


@cli.group(cls=_Group)
def pki() -> None:
    """The province's root CA: certificates for nodes, and their revocation.

    \b
    Example:
      fiscalsync pki init-root /secure/ca --province 410000
    """


@pki.command("init-root")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--province", "province_code", required=True, help="The province's code, e.g. 410000."
)
@_passphrase_option
@_suite_option
@_lang_option
def pki_init_root(
    directory: Path, province_code: str, passphrase_file: Path | None, suite: str, lang: str
) -> None:
    """Create the province's root CA in DIRECTORY (key file mode 0600).

    With a passphrase (from --passphrase-file or $FISCALSYNC_CA_PASSPHRASE) the CA key
    is stored encrypted; keep the folder offline. The CA's suite is the network's:
    every node key, certificate and change-set of the province uses it (sm2: SM2/SM3
    national commercial cryptography, 国密).

    \b
    Example:
      FISCALSYNC_CA_PASSPHRASE=... fiscalsync pki init-root /secure/ca --province 410000
      fiscalsync pki init-root /secure/ca --province 410000 --suite sm2
    """
    passphrase = _passphrase(passphrase_file)
    ca = keys.create_root(directory, province_code, passphrase, suite)
    words = labels(lang)
    protected = words["n.key_encrypted" if passphrase else "n.key_plain"]
    click.echo(
        words["n.root_created"].format(
            province=province_code, folder=ca.ca_dir, suite=ca.suite.name, key=protected
        )
    )
    click.echo(words["n.root_distribute"].format(file=ca.ca_dir / "ca.crt"))


@pki.command("sign")
@click.argument("csr", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--ca",
    "ca_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Root CA folder.",
)
@click.option(
    "--role",
    required=True,
    type=click.Choice(["province", "city", "county", "center"]),
    help="The node's role.",
)
@click.option("--days", default=825, show_default=True, help="Validity in days.")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Certificate file (default: CODE.crt beside CSR).",
)
@click.option(
    "--topology",
    "topology_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The topology the role is checked against (default: that of --home).",
)
@_passphrase_option
@_lang_option
@click.pass_context
def pki_sign(
    ctx: click.Context,
    csr: Path,
    ca_dir: Path,
    role: str,
    days: int,
    out: Path | None,
    topology_file: Path | None,
    passphrase_file: Path | None,
    lang: str,
) -> None:
    """Issue a certificate binding a node's code and role to the key of its CSR.

    The node must have that role in the topology (--topology FILE, or the province's
    home given with --home): a county is never certified as a city.

    \b
    Example:
      fiscalsync --home /srv/fiscalsync/410000 pki sign 410102.csr --ca /secure/ca --role county
      fiscalsync pki sign 410102.csr --ca /secure/ca --role county --topology henan.toml
    """
    if topology_file is not None:
        topology = load_topology(topology_file)
    elif ctx.find_root().params.get("home") is not None:
        topology = load_topology(NodeHome(_home(ctx)).topology_file)
    else:
        raise _usage("sign_needs_topology")
    target, identity = keys.sign_request(
        csr,
        ca_dir,
        role,
        validity_days=days,
        passphrase=_passphrase(passphrase_file),
        out=out,
        topology=topology,
    )
    until = identity.not_valid_after.strftime("%Y-%m-%d")
    words = labels(lang)
    click.echo(
        words["n.cert_issued"].format(
            code=identity.code,
            role=say(words, "role", identity.role),
            serial=f"{identity.serial:x}",
            until=until,
            file=target,
        )
    )


@pki.command("revoke")
@click.option(
    "--ca",
    "ca_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Root CA folder.",
)
@click.option(
    "--node", "code", required=True, help="Code of the node whose certificates are revoked."
)
@click.option("--reason", help="RFC 5280 reason, e.g. key_compromise, superseded.")
@_passphrase_option
@_lang_option
def pki_revoke(
    ca_dir: Path, code: str, reason: str | None, passphrase_file: Path | None, lang: str
) -> None:
    """Revoke every certificate of a node; the revocation list's number goes up.

    \b
    Example:
      fiscalsync pki revoke --ca /secure/ca --node 410102 --reason key_compromise
    """
    crl = keys.revoke_node(ca_dir, code, reason, _passphrase(passphrase_file))
    click.echo(labels(lang)["n.crl_numbered"].format(number=crl.number, count=len(crl.serials)))


@cli.group(cls=_Group, name="keys")
def keys_group() -> None:
    """This node's key pair and certificate.

    \b
    Example:
      fiscalsync --home /srv/fiscalsync/410102 keys new
    """


@keys_group.command("new")
@click.option(
    "--renew",
    is_flag=True,
    help="Renew the certificate: a new key waits beside the current one, which goes on "
    "signing until the new certificate is installed.",
)
@click.option(
    "--suite",
    type=click.Choice(registered_suites()),
    default=None,
    help="Signature suite of the network (default: the installed root's, else ed25519).",
)
@_lang_option
@click.pass_context
def keys_new(ctx: click.Context, renew: bool, suite: str | None, lang: str) -> None:
    """Make this node's private key (it never leaves the node) and a signing request.

    With --renew (before the certificate expires, or to change keys) the new key waits
    in keys/node.key.new; `keys install` of its certificate makes it the node's key and
    keeps the old certificate in keys/superseded/. Change-sets the node signed before
    stay valid, even once the old certificate has expired.

    \b
    Example:
      fiscalsync --home /srv/fiscalsync/410102 keys new
      fiscalsync --home /srv/fiscalsync/410102 keys new --suite sm2
      fiscalsync --home /srv/fiscalsync/410102 keys new --renew
    """
    with _writing(ctx, check_schema=False) as node:
        csr, ssh_public = keys.new_key(node.home, node.spec.code, renew=renew, suite=suite)
    words = labels(lang)
    click.echo(words["n.key_renewing" if renew else "n.key_made"].format(csr=csr))
    click.echo(words["n.key_send_csr"])
    click.echo(words["n.key_ssh"])
    click.echo(f"  {ssh_public}")


@keys_group.command("install")
@click.argument("cert", type=click.Path(path_type=Path))
@click.option(
    "--ca-cert",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The province's ca.crt (with a certificate file).",
)
@_lang_option
@click.pass_context
def keys_install(ctx: click.Context, cert: Path, ca_cert: Path | None, lang: str) -> None:
    """Install this node's certificate and the root certificate, after checking them.

    Given the folder the province's 'network answer-join' wrote, it installs the
    certificate and root certificate in it, and its revocation list and recovery
    certificate when this home has none yet.

    \b
    Example:
      fiscalsync --home /srv/fiscalsync/410102 keys install 410102.crt --ca-cert ca.crt
      fiscalsync --home /srv/fiscalsync/410183 keys install /tmp/410183-answer
    """
    words = labels(lang)
    if cert.is_dir():
        with _writing(ctx, check_schema=False) as node:
            done = joining.install(node.home, node.spec.code, cert)
            node.settle_suite()
        click.echo(_installed(done.identity, words))
        if done.crl_number is not None:
            click.echo(words["n.crl_installed"].format(number=done.crl_number))
        if done.recovery:
            click.echo(words["n.recovery_installed"])
        return
    if ca_cert is None:
        raise _usage("install_needs_ca_cert")
    with _writing(ctx, check_schema=False) as node:
        identity, superseded = keys.install_certificate(node.home, cert, ca_cert)
        if identity.code != node.spec.code:
            raise _usage("certificate_not_ours", code=identity.code, me=node.spec.code)
        node.settle_suite()
    click.echo(_installed(identity, words))
    if superseded is not None:
        click.echo(words["n.cert_superseded"].format(serial=f"{superseded.serial:x}"))


def _installed(identity: Any, words: dict[str, str]) -> str:
    """The line that says which certificate ``keys install`` installed."""
    return words["n.cert_installed"].format(
        code=identity.code, role=say(words, "role", identity.role), serial=f"{identity.serial:x}"
    )


@cli.command("sftp-config")
@click.option(
    "-o",
    "--output",
    "output",
    type=click.Path(file_okay=False, path_type=Path),
    help="写入此目录 (sshd 片段、authorized_keys、setup.sh), 并以它为 AuthorizedKeysFile 所在目录 "
    f"(default: print, for {sftp_accounts.DEFAULT_CONFIG_DIR}).",
)
@click.option(
    "--chroots",
    type=click.Path(file_okay=False, path_type=Path),
    default=sftp_accounts.DEFAULT_CHROOTS,
    show_default=True,
    help="各下级 chroot 的上级目录: root 所有, 与节点目录同一文件系统.",
)
@click.option(
    "--keys",
    "keys_from",
    type=click.Path(file_okay=False, path_type=Path),
    help="下级 SSH 公钥所在目录: CODE.pub 或 CODE/keys/ssh_ed25519.pub (default: the folder "
    "holding the home).",
)
@click.option("--group", help="本节点 agent 的用户组 (default: the group owning the home).")
@click.pass_context
def sftp_config(
    ctx: click.Context,
    output: Path | None,
    chroots: Path,
    keys_from: Path | None,
    group: str | None,
) -> None:
    """为每个下级生成独立的 SFTP 账户 (one SFTP account per child).

    在上级节点的目录运行. 对每个连入本节点的下级, 给出系统账户 fs-CODE 及其创建命令
    (useradd --system --no-create-home --shell /usr/sbin/nologin), sshd_config 片段
    (每个下级一个 Match User 块: ChrootDirectory 只含它自己的邮箱, ForceCommand
    internal-sftp, 禁止转发和终端), 以及带 restrict 的 authorized_keys. 命令只打印,
    不执行: 由运维人员审阅后以 root 执行. 下级看到的邮箱仍是 /CODE, 其拓扑中本节点的
    endpoint 写作 sftp://fs-{code}@HOST:PORT/ .

    \b
    Example:
      fiscalsync --home /srv/fiscalsync/410100 sftp-config --keys /srv/keys
      fiscalsync --home /srv/fiscalsync/410100 sftp-config -o /etc/ssh/fiscalsync
    """
    with Node.open(_home(ctx), check_schema=False) as node:
        plan = sftp_accounts.plan_accounts(
            node.home,
            node.topology,
            node.spec.code,
            chroots=chroots,
            config_dir=output if output is not None else sftp_accounts.DEFAULT_CONFIG_DIR,
            keys_from=keys_from,
            group=group,
        )
    if output is None:
        click.echo(f"# ==== {sftp_accounts.SCRIPT_FILE}: 账户与目录 (accounts and folders) ====")
        click.echo(plan.commands())
        click.echo(f"# ==== {plan.config_file}: sshd_config ====")
        click.echo(plan.sshd_config())
        for account in plan.accounts:
            click.echo(f"# ==== {account.authorized_keys} ====")
            click.echo(account.authorized_keys_line)
        click.echo("")
        click.echo(
            "# 将以上各段存为所示文件, 或用 -o DIR 直接写入 (save each part as the file it names)."
        )
        for number, step in enumerate(plan.next_steps(), 1):
            click.echo(f"# {number}. {step}")
        return
    for path in plan.write(output):
        click.echo(f"已写入 (wrote) {path}")
    for number, step in enumerate(plan.next_steps(), 1):
        click.echo(f"{number}. {step}")


@cli.group(cls=_Group)
def changeset() -> None:
    """Change-set files: look inside one, or verify it against this node's trust.

    \b
    Example:
      fiscalsync changeset inspect 410000_410100_0000000001_ab12...fcs
    """


@changeset.command("inspect")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--ops", "limit", default=10, show_default=True, help="How many operations to show.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@_lang_option
def changeset_inspect(file: Path, limit: int, as_json: bool, lang: str) -> None:
    """Print a change-set's header and its first operations (nothing is verified).

    \b
    Example:
      fiscalsync changeset inspect 410000_410100_0000000001_ab12...fcs --ops 3
    """
    view = inspect_changeset(file, limit)
    if as_json:
        click.echo(json.dumps(view.as_dict(), ensure_ascii=False, indent=2))
        return
    words = labels(lang)
    for label, value in view.header_rows():
        click.echo(f"{_pad(words[f'cs.{label}'], 11)}{value}")
    click.echo(words["cs.operations"].format(shown=len(view.operations), count=view.header.count))
    for op in view.operations:
        click.echo("  " + json.dumps(op, ensure_ascii=False))


@changeset.command("verify")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@_lang_option
@click.pass_context
def changeset_verify(ctx: click.Context, file: Path, lang: str) -> None:
    """Verify a change-set for this node: framing, body, signature, certificate, rights.

    Prints OK (核验通过) and the change-set id, or the precise reason with its own exit status
    (10 malformed, 11 integrity, 12 signature, 13 certificate, 14 not for this node,
    15 not authorized).

    \b
    Example:
      fiscalsync --home /srv/fiscalsync/410100 changeset verify 410000_410100_...fcs --lang en
    """
    with Node.open(_home(ctx), check_schema=False) as node:
        verified = node.verify_changeset(file)
    header, words = verified.header, labels(lang)
    click.echo(words["cs.verified"].format(id=verified.id))
    click.echo(
        words["cs.verified_detail"].format(
            kind=say(words, "kind", header.kind),
            origin=header.origin,
            recipient=header.recipient,
            seq=header.seq,
            count=header.count,
            signer=verified.signer.code,
            role=say(words, "role", verified.signer.role),
        )
    )


def _summary_line(summary: RoundSummary, lang: str = "en") -> str:
    words = labels(lang)
    line = words["m.sync_summary"].format(
        sent=summary.sent,
        received=summary.received,
        applied=summary.applied,
        rejected=summary.rejected,
        duplicates=summary.duplicates,
        waiting=summary.waiting,
        quarantined=summary.quarantined,
        relayed=summary.relayed,
        receipts_in=summary.receipts_received,
        receipts_out=summary.receipts_sent,
    )
    trouble = [
        words[f"m.sync_{label}"].format(n=count)
        for label, count in (
            ("failed", summary.failed),
            ("parked", summary.parked),
            ("damaged", summary.damaged),
        )
        if count
    ]
    return line + (f"; {', '.join(trouble)}" if trouble else "")


@cli.command("sync")
@click.option("--retransmit-now", is_flag=True, help="Resend every unacknowledged change-set now.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@_lang_option
@click.pass_context
def sync_command(ctx: click.Context, retransmit_now: bool, as_json: bool, lang: str) -> None:
    """Run one sync round with the parent (and the center).

    Delivers the due outbox and the receipts, collects and applies what waits for this
    node, and relays what is for others. If the parent cannot be reached the rest of
    the round still runs, nothing is lost, and the command exits with status 7. A file
    that cannot be taken, relayed or sent is named under "could not take or send" and tried
    again next round; after 5 failed rounds it is parked in quarantine (see 'status').

    \b
    Example:
      fiscalsync --home /srv/fiscalsync/410102 sync
    """
    with Node.open(_home(ctx)) as node, contextlib.ExitStack() as bars:

        def progress_for(name: str, size: int) -> Callable[[int], None] | None:
            if size < LARGE_TRANSFER:
                return None
            label = f"fetching {name[:32]}… ({size / 1e6:.1f} MB)"
            bar = bars.enter_context(click.progressbar(length=size, label=label, file=sys.stderr))
            return bar.update

        exchange = Exchange(node, on_transfer=progress_for)
        try:
            summary = exchange.run_round(retransmit_now=retransmit_now)
        finally:
            exchange.close()
    if as_json:
        click.echo(json.dumps(summary.as_dict(), ensure_ascii=False, indent=2))
    else:
        words = labels(lang)
        click.echo(_summary_line(summary, lang))
        click.echo(words["m.sync_awaiting"].format(n=summary.pending_receipts))
        for note in summary.notes:
            click.echo(shown(note, words))
        if summary.problems:
            click.echo(words["m.sync_problems"].format(n=len(summary.problems)))
            for problem in summary.problems:
                click.echo(f"  {shown(problem, words)}")
    if summary.errors:
        raise TransportError(joined(summary.errors))


@network.command("add-node")
@click.argument("directory", required=False, type=click.Path(file_okay=False, path_type=Path))
@click.option("--code", required=True, help="Region code of the node that joins, e.g. 410183.")
@click.option("--parent", required=True, help="Code of its fiscal parent (province or city).")
@click.option("--name", help="Its name (default: the region list's).")
@click.option("--role", type=click.Choice(["county", "city"]), default="county", show_default=True)
@click.option("--abbreviation", help="What its document numbers start with, e.g. 新财.")
@click.option("--db-url", help="Its database URL (default: SQLite in its home).")
@_lang_option
@click.pass_context
def network_add_node(
    ctx: click.Context,
    directory: Path | None,
    code: str,
    parent: str,
    name: str | None,
    role: str,
    abbreviation: str | None,
    db_url: str | None,
    lang: str,
) -> None:
    """Add a node to the network (加入 join), at the province.

    The province sends the next topology version to every node, and the new node gets
    first the topology, the province's code-set extensions and the revocation list.
    On a province hosted under DIRECTORY, the new node's home is made too, with a key
    and certificate from DIRECTORY/ca as 'network init' gives them, and the next
    'network sync' delivers everything. Without DIRECTORY it runs in the province's
    home (--home); the new machine is set up as the README says.

    \b
    Example:
      fiscalsync network add-node /srv/province --code 410183 --parent 410100
      fiscalsync --home /srv/fiscalsync/410000 network add-node --code 410183 --parent 410100
    """
    if directory is not None:
        published = add_node(
            directory,
            code,
            parent,
            name=name,
            role=role,
            abbreviation=abbreviation,
            database_url=db_url,
        )
    else:
        if db_url is not None:
            raise _usage("db_url_makes_home")
        with Node.open(_home(ctx)) as node:
            published = membership.publish(
                node,
                lambda current: membership.added(
                    current, code, parent, name=name, role=role, abbreviation=abbreviation
                ),
                joining=code,
            )
    spec = published.topology.node(code)
    click.echo(
        labels(lang)["n.added"].format(
            code=code,
            name=spec.name,
            parent=parent,
            version=published.topology.version,
            count=published.changesets,
        )
    )
    _file_later(published, lang)


def _file_later(published: membership.Published, lang: str) -> None:
    """Say that the province's topology file waits for the next round, if it does."""
    if published.note is not None:
        click.echo(shown(published.note, labels(lang)), err=True)


@network.command("move-node")
@click.argument("directory", required=False, type=click.Path(file_okay=False, path_type=Path))
@click.option("--code", required=True, help="Code of the node to move, e.g. 410122.")
@click.option("--parent", required=True, help="Code of its new fiscal parent, e.g. 410000.")
@_lang_option
@click.pass_context
def network_move_node(
    ctx: click.Context, directory: Path | None, code: str, parent: str, lang: str
) -> None:
    """Move a node under another parent, e.g. a county to provincial management (省直管).

    Run at the province: in its home (--home), or on a province hosted under DIRECTORY.
    The next topology version goes to every node; what the old parent issued to the node
    is still adjusted and reconciled there.

    \b
    Example:
      fiscalsync --home /srv/fiscalsync/410000 network move-node --code 410122 --parent 410000
      fiscalsync network move-node /srv/province --code 410122 --parent 410000
    """
    if directory is not None:
        published = move_node(directory, code, parent)
    else:
        with Node.open(_home(ctx)) as node:
            published = membership.publish(
                node, lambda current: membership.moved(current, code, parent)
            )
    spec = published.topology.node(code)
    click.echo(
        labels(lang)["n.moved"].format(
            code=code,
            name=spec.name,
            parent=parent,
            version=published.topology.version,
            count=published.changesets,
        )
    )
    _file_later(published, lang)


@network.command("answer-join")
@click.argument("request", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--ca",
    "ca_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="The root CA folder (default: [revocation] ca of node.toml).",
)
@click.option(
    "-o",
    "--out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="A new folder for the answer to send back.",
)
@_passphrase_option
@_lang_option
@click.pass_context
def network_answer_join(
    ctx: click.Context,
    request: Path,
    ca_dir: Path | None,
    out: Path,
    passphrase_file: Path | None,
    lang: str,
) -> None:
    """Answer a node joining on its own machine, at the province: sign the request
    'fiscalsync join' wrote, for the role the topology gives it, and write what goes
    back: CODE.crt, ca.crt, crl.pem, recovery.crt and topology.toml.

    \b
    Example:
      fiscalsync --home /srv/fiscalsync/410000 network answer-join /tmp/410183-request \\
          --ca /secure/ca -o /tmp/410183-answer
    """
    with Node.open(_home(ctx)) as node:
        ca = ca_dir or node.settings.revocation_ca
        if ca is None:
            raise _usage("needs_ca_dir")
        secret = passphrase_file or node.settings.revocation_passphrase_file
        answered = joining.answer(node, request, ca, _passphrase(secret), out)
    words = labels(lang)
    click.echo(
        words["n.join_answered"].format(
            code=answered.code,
            role=say(words, "role", answered.role),
            folder=answered.folder,
            files=", ".join(answered.files),
        )
    )


@network.command("retire-node")
@click.argument("directory", required=False, type=click.Path(file_okay=False, path_type=Path))
@click.option("--code", required=True, help="Code of the node to retire, e.g. 410322.")
@click.option("--no-drain", is_flag=True, help="Do not sync until quiet first.")
@click.option(
    "--ca",
    "ca_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Without DIRECTORY: the root CA folder (default: [revocation] ca of node.toml).",
)
@_passphrase_option
@_lang_option
@click.pass_context
def network_retire_node(
    ctx: click.Context,
    directory: Path | None,
    code: str,
    no_drain: bool,
    ca_dir: Path | None,
    passphrase_file: Path | None,
    lang: str,
) -> None:
    """Retire a node (撤销 retire), at the province.

    Every certificate of it is revoked, the revocation list published, and the next
    topology version, without it, sent to every node. What was still in flight with it
    is closed at each node, with a statement in HOME/statements/. Its home stays, and its
    backups stay at the center. On a province hosted under DIRECTORY, sync rounds drain
    its channels first (unless --no-drain); without DIRECTORY it runs in the province's
    home (--home) with its root CA (--ca, or [revocation] ca of node.toml), and the
    province's change-sets to it still without a receipt are closed and counted.

    \b
    Example:
      fiscalsync network retire-node /srv/province --code 410322
      fiscalsync --home /srv/fiscalsync/410000 network retire-node --code 410322 --ca /secure/ca
    """
    words = labels(lang)
    if directory is not None:
        retired = retire_node(directory, code, drain=not no_drain)
        published, number, drained = retired.published, retired.crl_number, retired.drained
    else:
        with _writing(ctx) as node:
            ca = ca_dir or node.settings.revocation_ca
            if ca is None:
                raise _usage("needs_ca_dir")
            secret = passphrase_file or node.settings.revocation_passphrase_file
            done = membership.retire(node, code, ca, _passphrase(secret))
        published, number, drained = done.published, done.crl_number, not done.in_flight
    if number is None:
        shape = published.topology
        never = said(
            "retired_uncertified", code=code, version=shape.version, count=published.changesets
        )
        click.echo(shown(never, words))
    else:
        click.echo(
            words["n.retired"].format(
                code=code,
                crl=number,
                version=published.topology.version,
                count=published.changesets,
            )
        )
    if not drained:
        click.echo(words["n.not_drained"])
    _file_later(published, lang)


@network.command("reconcile")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--full", is_flag=True, help="Recompute every side's digests from its records.")
@_lang_option
def network_reconcile(directory: Path, full: bool, lang: str) -> None:
    """Reconcile every edge of a province hosted in one folder, and print its summary.

    \b
    Example:
      fiscalsync network reconcile /srv/province
    """
    statements, result = reconcile.rounds.reconcile_network(directory, full=full)
    words = labels(lang)
    rows = _session_rows((statement.session for statement in statements), words)
    click.echo(tabular.render_text(_session_columns(words), rows) if rows else words["r.nothing"])
    differ = sum(1 for st in statements if st.session.discrepancies)
    click.echo(
        words["r.network"].format(
            edges=len(statements),
            rounds=result.rounds,
            agree=len(statements) - differ,
            differ=differ,
        )
    )


@network.command("sync")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--until-quiet", is_flag=True, help="Repeat rounds until nothing is in flight.")
@click.option("--max-rounds", default=100, show_default=True, help="Stop after this many rounds.")
@_lang_option
def network_sync(directory: Path, until_quiet: bool, max_rounds: int, lang: str) -> None:
    """Run sync rounds over every node of a province hosted under DIRECTORY.

    With --until-quiet, rounds go on until nothing is in flight anywhere, or until they
    stop making progress. It then ends with everything that did not go quiet, node by
    node and channel by channel, with why: unacknowledged, damaged (the origin's copy;
    never sent), waiting (for a predecessor), relaying, retrying or parked (failed too
    many rounds). Exit status: 0 quiet, 16 not quiet, 7 a mailbox unreachable.

    \b
    Example:
      fiscalsync network sync /tmp/province --until-quiet
    """

    words = labels(lang)

    def show(number: int, summary: RoundSummary) -> None:
        line = _summary_line(summary, lang)
        click.echo(words["m.net_round"].format(number=number, summary=line), err=True)

    result = sync_network(directory, until_quiet=until_quiet, max_rounds=max_rounds, on_round=show)
    state = words["m.net_quiet" if result.quiet else "m.net_not_quiet"]
    if not until_quiet:
        state = words["m.net_unacknowledged"].format(n=result.unacknowledged)
    click.echo(words["m.net_rounds"].format(rounds=result.rounds, state=state))
    click.echo(_summary_line(result.totals, lang))
    if not until_quiet or result.quiet:
        return
    click.echo(words["m.net_in_flight"].format(n=len(result.unsettled)))
    for item in result.unsettled:
        flight = _pad(say(words, "flight", item.state), 15)
        detail = shown(item.detail, words)
        click.echo(f"  {item.node:<10} {item.channel:<22} {flight}{detail}")
    nodes = sorted({item.node for item in result.unsettled})
    raise NotQuiet(
        said(
            "not_quiet",
            rounds=result.rounds,
            count=len(result.unsettled),
            names=", ".join(nodes) or "no node",
        )
    )


@cli.command("outbox")
@click.option("--all", "include_all", is_flag=True, help="Include acknowledged change-sets.")
@_lang_option
@click.pass_context
def outbox_command(ctx: click.Context, include_all: bool, lang: str) -> None:
    """List change-sets this node sent that still wait for their receipt (发件箱).

    A change-set whose stored copy is damaged is marked DAMAGED (已损坏): it is not sent
    (a damaged copy would only be refused), and it is named in 'status' until repaired.
    Times are in the node's zone ([node] time_zone).

    \b
    Example:
      fiscalsync --home /srv/fiscalsync/410000 outbox
      fiscalsync --home /srv/fiscalsync/410000 outbox --all --lang en
    """
    words = labels(lang)
    with Node.open(_home(ctx)) as node:
        entries = node.outbox(include_acknowledged=include_all)
        damaged = node.damaged_copies()
        zone = node.settings.time_zone
    if not entries:
        click.echo(words["outbox.empty"])
        return
    columns = _columns(
        words,
        "c",
        [("recipient", "text"), ("kind", "text"), ("seq", "int"), ("tries", "int"),
         ("receipt", "text"), ("created", "text"), ("id", "text")],
    )  # fmt: skip
    rows = [
        [
            e.recipient,
            say(words, "kind", e.kind),
            e.seq,
            e.attempts,
            say(words, "verdict", e.receipt_verdict),
            _local(e.created_at, zone),
            e.id[:16],
        ]
        for e in entries
    ]
    lines = tabular.render_text(columns, rows).split("\n")
    click.echo("\n".join(lines[:2]))
    for e, line in zip(entries, lines[2:], strict=True):
        click.echo(line)
        if e.filename in damaged:
            error = shown(damaged[e.filename], words)
            message = words["outbox.damaged"].format(file=e.filename, error=error)
            click.echo(f"  {message}")


@cli.command("inbox")
@_lang_option
@click.pass_context
def inbox_command(ctx: click.Context, lang: str) -> None:
    """List change-sets that arrived early and wait for their predecessors (收件箱).

    \b
    Example:
      fiscalsync --home /srv/fiscalsync/410102 inbox
    """
    words = labels(lang)
    with Node.open(_home(ctx)) as node:
        items = node.waiting()
        zone = node.settings.time_zone
    if not items:
        click.echo(words["inbox.empty"])
        return
    columns = _columns(
        words,
        "c",
        [("origin", "text"), ("kind", "text"), ("seq", "int"), ("expects", "int"),
         ("created", "text"), ("file", "text")],
    )  # fmt: skip
    rows = [
        [
            item.origin,
            say(words, "kind", item.kind),
            item.seq,
            item.expected,
            _local(item.created, zone),
            item.filename,
        ]
        for item in items
    ]
    click.echo(tabular.render_text(columns, rows))


@cli.group("quarantine", cls=_Group, invoke_without_command=True)
@click.option("--all", "include_all", is_flag=True, help="Include released and dropped entries.")
@_lang_option
@click.pass_context
def quarantine_group(ctx: click.Context, include_all: bool, lang: str) -> None:
    """List refused and parked files and why (隔离区); show, release or drop one.

    One entry per file content: a copy that arrives again is counted, not added.
    Entries released or dropped longer ago than [quarantine] retention_days (node.toml,
    90 by default) are purged by the sync round. Times are in the node's zone.

    \b
    Example:
      fiscalsync --home /srv/fiscalsync/410102 quarantine
      fiscalsync --home /srv/fiscalsync/410102 quarantine show 3
    """
    if ctx.invoked_subcommand is not None:
        return
    words = labels(lang)
    with Node.open(_home(ctx)) as node:
        entries = node.quarantined(include_closed=include_all)
        zone = node.settings.time_zone
    if not entries:
        click.echo(words["quarantine.empty"])
        return
    columns = _columns(
        words,
        "c",
        [("id", "int"), ("received_at", "text"), ("reason", "text"), ("state", "text"),
         ("detail", "text")],
    )  # fmt: skip
    rows = [
        [
            e.id,
            _local(e.received_at, zone),
            say(words, "reason", e.reason),
            words[
                "quarantine.dropped"
                if e.dropped_at
                else "quarantine.released"
                if e.released_at
                else "quarantine.open"
            ],
            shown(recalled(e.detail, e.detail_said), words)
            + (
                words["quarantine.seen"].format(n=e.seen_count, last=_local(e.last_seen_at, zone))
                if e.seen_count > 1
                else ""
            ),
        ]
        for e in entries
    ]
    click.echo(tabular.render_text(columns, rows))


@quarantine_group.command("show")
@click.argument("entry_id", type=int)
@_lang_option
@click.pass_context
def quarantine_show(ctx: click.Context, entry_id: int, lang: str) -> None:
    """Show one quarantine entry in full.

    \b
    Example:
      fiscalsync --home /srv/fiscalsync/410102 quarantine show 3
    """
    words = labels(lang)
    with Node.open(_home(ctx)) as node:
        e = node.quarantine_entry(entry_id)
        zone = node.settings.time_zone
    keys_shown = (
        "id",
        "filename",
        "changeset_id",
        "origin",
        "recipient",
        "reason",
        "detail",
        "received_at",
        "last_seen_at",
        "seen_count",
        "sha256",
        "released_at",
        "dropped_at",
    )
    width = max(tabular.display_width(words[f"q.{key}"]) for key in keys_shown) + 2
    for key in keys_shown:
        value = e._mapping[key]
        if isinstance(value, datetime):
            value = _local(value, zone)
        elif key == "reason":
            value = say(words, "reason", value)
        elif key == "detail":
            value = shown(recalled(e.detail, e.detail_said), words)
        click.echo(f"{_pad(words[f'q.{key}'], width)}{value if value is not None else '-'}")


@quarantine_group.command("release")
@click.argument("entry_id", type=int)
@_lang_option
@click.pass_context
def quarantine_release(ctx: click.Context, entry_id: int, lang: str) -> None:
    """Put a quarantined file back to be verified and taken again at the next sync.

    \b
    Example:
      fiscalsync --home /srv/fiscalsync/410102 quarantine release 3
    """
    with _writing(ctx) as node:
        target = node.release(entry_id)
    words = labels(lang)
    click.echo(words["quarantine.released_msg"].format(id=entry_id, name=target.name))


@quarantine_group.command("drop")
@click.argument("entry_id", type=int)
@_lang_option
@click.pass_context
def quarantine_drop(ctx: click.Context, entry_id: int, lang: str) -> None:
    """Delete a quarantined file for good (its entry stays, marked dropped).

    \b
    Example:
      fiscalsync --home /srv/fiscalsync/410102 quarantine drop 3
    """
    with _writing(ctx) as node:
        node.drop(entry_id)
    click.echo(labels(lang)["quarantine.dropped_msg"].format(id=entry_id))


@cli.command("check")
@click.option(
    "--read-data", is_flag=True, help="Also read every stored change-set whole and verify it."
)
@click.option("--repair", is_flag=True, help="Delete what is safe to delete; say what it did.")
@click.option("--json", "as_json", is_flag=True, help="Print the findings as JSON.")
@_lang_option
@click.pass_context
def check_command(
    ctx: click.Context, read_data: bool, repair: bool, as_json: bool, lang: str
) -> None:
    """Check that this node's database and spool agree; name every problem, with what to do.

    Compares the outbox with its files and receipts, the change-sets taken with their
    signed receipts, the incoming files with the channel heads, each channel head with
    its history, and the quarantine with its files; finds temporary files left by a
    crash. --read-data also reads every stored change-set whole (signature, body hash).
    --repair deletes only what is safe: orphans left by a rolled-back transaction,
    stale temporary files, files already taken, files of dropped quarantine entries;
    never the only copy of anything unacknowledged or unapplied. Runs beside the agent
    and operators (it waits for a sync round to end); the agent runs it every day and
    'status' shows what the last check found. Exit status: 0 consistent, 17 problems.

    \b
    Example:
      fiscalsync --home /srv/fiscalsync/410100 check
      fiscalsync --home /srv/fiscalsync/410100 check --read-data --repair
    """
    with Node.open(_home(ctx)) as node, contextlib.ExitStack() as bars:

        def progress(total: int) -> Callable[[int], None]:
            bar = bars.enter_context(_bar(total, _in_language(said("reading_stored"))))
            return bar.update

        report = check_home(node, read_data=read_data, repair=repair, on_read=progress)
    if as_json:
        click.echo(json.dumps(report.as_dict(), ensure_ascii=False, indent=2))
    else:
        words = labels(lang)
        click.echo(
            words["m.check_done"].format(
                node=report.node,
                entries=report.entries,
                logged=report.logged,
                channels=report.channels,
                files=report.files_read,
            )
        )
        for finding in report.repaired:
            click.echo(
                words["m.check_repaired"].format(
                    kind=f"{finding.kind:<18}", subject=shown(finding.subject, words)
                )
            )
        problems = report.problems
        click.echo(
            words["m.check_problems"].format(n=len(problems))
            if problems
            else words["m.check_clean"]
        )
        for finding in problems:
            problem, action = shown(finding.problem, words), shown(finding.action, words)
            subject = shown(finding.subject, words)
            click.echo(f"  {finding.kind:<18} {subject}: {problem} → {action}")
    if report.problems:
        raise Inconsistent(said("home_problems", count=len(report.problems), node=report.node))


@cli.group(cls=_Group)
def codes() -> None:
    """Code sets (基础数据规范): classification codes, fund and transfer types.

    \b
    Example:
      fiscalsync --home /srv/fiscalsync/410000 codes import extensions.csv
    """


@codes.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--year",
    type=YEAR,
    help="Every row is of this fiscal year (the year column may then be left out): "
    "a new year's code set (新年度科目).",
)
@click.option(
    "--changes",
    "changes_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="With --year: the codes of the year before that change in it (科目变动对照), a CSV "
    "codeset,old,new; a carry-over (结转) into the year takes the new code.",
)
@_lang_option
@click.pass_context
def codes_import(
    ctx: click.Context, file: Path, year: int | None, changes_file: Path | None, lang: str
) -> None:
    """Import the province's code-set extensions and send them to every node.

    FILE is a CSV with the columns codeset,year,code,name,parent,level. Every bad row is
    reported and nothing is imported unless all are good.

    \b
    Example:
      fiscalsync --home /srv/fiscalsync/410000 codes import extensions.csv
      fiscalsync --home /srv/fiscalsync/410000 codes import codes-2027.csv --year 2027 \\
          --changes changes-2027.csv
    """
    with _writing(ctx) as node:
        items, sent = import_codes(node, file, year, changes=changes_file)
    click.echo(labels(lang)["m.codes_imported"].format(items=items, sent=sent))


@cli.group(cls=_Group)
def revocation() -> None:
    """Certificate revocation lists, distributed down the tree.

    \b
    Example:
      fiscalsync --home /srv/fiscalsync/410000 revocation publish --ca /secure/ca
    """


@revocation.command("publish")
@click.option(
    "--ca",
    "ca_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Root CA folder.",
)
@_passphrase_option
@click.pass_context
def revocation_publish(ctx: click.Context, ca_dir: Path, passphrase_file: Path | None) -> None:
    """Issue the CA's revocation list afresh and send it to every node (at the province).

    The list is signed again with a new number and a new validity ([revocation]
    validity_days of node.toml, 7 days by default), and must be published again before
    it lapses: the province's agent does it when node.toml names the CA folder
    ([revocation] ca); `fiscalsync status` says when it is due.

    \b
    Example:
      fiscalsync --home /srv/fiscalsync/410000 revocation publish --ca /secure/ca
    """
    with _writing(ctx) as node:
        number, sent = keys.publish_revocation(node, ca_dir, _passphrase(passphrase_file))
    click.echo(_in_language(said("crl_queued", number=number, count=sent)))


@revocation.command("install")
@click.argument("file", type=click.Path(path_type=Path))
@_lang_option
@click.pass_context
def revocation_install(ctx: click.Context, file: Path, lang: str) -> None:
    """Install the province's revocation list (crl.pem) on this node, after checking it.

    A node takes nothing in without one. It must be signed by the installed root CA and
    be no older than the list the node holds; later lists arrive by sync.

    \b
    Example:
      fiscalsync --home /srv/fiscalsync/410102 revocation install crl.pem
      fiscalsync --home /srv/fiscalsync/410183 revocation install /tmp/410183-answer
    """
    if file.is_dir():  # the answer to a join
        file = file / "crl.pem"
    with _writing(ctx, exclusive=True, check_schema=False) as node:  # not during a round
        crl = keys.install_crl(node.home, file)
        zone = node.settings.time_zone
    due = _local(crl.next_update, zone) if crl.next_update else "-"
    click.echo(
        f"Installed revocation list {crl.number} ({len(crl.serials)} revoked, "
        f"next update by {due})."
    )


def _yuan(value: str, field: str) -> int:
    try:
        return parse_yuan(value)
    except ValueError as exc:
        raise InputError(
            said("amount_bad", field=field, error=exc.args[0]), hint=said("amount_bad_hint")
        ) from exc


def _output_option(func: Callable[..., Any]) -> Callable[..., Any]:
    """``--format`` and ``--output`` for a listing (xlsx needs a file)."""
    func = click.option(
        "--output",
        "-o",
        type=click.Path(dir_okay=False, path_type=Path),
        help="Write to this file instead of the terminal (required for xlsx).",
    )(func)
    return click.option(
        "--format",
        "fmt",
        type=click.Choice(["table", "csv", "xlsx", "json"]),
        default="table",
        show_default=True,
        help="table for the terminal; csv, xlsx or json for other programs.",
    )(func)


def _emit(
    columns: Sequence[tabular.Column],
    rows: Iterable[Sequence[Any]] | Callable[[], Iterable[Sequence[Any]]],
    fmt: str,
    output: Path | None,
    *,
    title: str,
    empty: str,
) -> None:
    """Render a listing: an aligned table, or a csv/xlsx/json file (or standard output).

    ``rows`` may be a function giving them afresh: then they stream in bounded memory,
    files in one pass, the table in two (the widths first)."""
    if fmt == "table":
        if callable(rows):
            if output is None:
                if not tabular.write_text(sys.stdout, columns, rows):
                    click.echo(empty)
                return
            with tabular.text_file(output) as stream:
                if not tabular.write_text(stream, columns, rows):
                    stream.write(empty + "\n")
            return
        rows = list(rows)
        text = tabular.render_text(columns, rows) if rows else empty
        if output is None:
            click.echo(text)
        else:
            with tabular.text_file(output) as stream:
                stream.write(text + "\n")
        return
    counted = _Counted(rows() if callable(rows) else rows)
    tabular.write_table(columns, counted, fmt, output, title=title)
    if output is not None:
        click.echo(_in_language(said("rows_written", count=counted.count, path=output)), err=True)


class _Counted:
    """Rows passed through as they come, counted."""

    def __init__(self, rows: Iterable[Sequence[Any]]) -> None:
        self._rows = rows
        self.count = 0

    def __iter__(self) -> Iterator[Sequence[Any]]:
        for row in self._rows:
            self.count += 1
            yield row


def _columns(
    words: dict[str, str], prefix: str, spec: Sequence[tuple[str, str]]
) -> list[tabular.Column]:
    """Columns ``(key, kind)`` labelled in the words of ``labels`` under ``prefix``."""
    return [tabular.Column(key, words[f"{prefix}.{key}"], kind) for key, kind in spec]


def _bar(total: int, label: str) -> Any:
    """A progress bar on standard error for long work (hidden when it is not a terminal)."""
    return click.progressbar(length=total, label=label, file=sys.stderr)


@cli.command("allocate")
@click.option("--to", "recipient", help="Recipient node code (a descendant).")
@click.option("--amount", help="Amount in 元, at most two decimals, e.g. 1234.56.")
@click.option("--func", "func", help="Functional classification, 7 digits (功能分类).")
@click.option("--econ", "econ", help="Economic classification, 5 digits (经济分类).")
@click.option("--fund", help="Fund type (资金性质), e.g. 111.")
@click.option("--doc", help="This level's document number (本级文号).")
@click.option("--title", default="", help="Title of the appropriation.")
@click.option("--year", type=YEAR, help="Fiscal year (default: this year).")
@click.option(
    "--type",
    "transfer_type",
    type=click.Choice(sorted(appropriations.TRANSFER_WORDS)),
    default="general",
    show_default=True,
    help="general 一般性, special 专项 or shared 共同财政事权 (转移支付类型).",
)
@click.option(
    "--direct/--not-direct",
    default=None,
    help="直达资金 or not (default: not; a breakdown keeps the flag of what it is taken from).",
)
@click.option(
    "--indicator",
    type=click.Choice(sorted(appropriations.INDICATOR_WORDS)),
    default="annual",
    show_default=True,
    help="指标类型: annual 年初预算, additional 追加 or advance 提前下达 (its 文号 may be of the "
    "year before).",
)
@click.option(
    "--level",
    type=click.Choice(sorted(appropriations.LEVEL_WORDS)),
    help="预算级次 (default: the recipient's level).",
)
@click.option(
    "--upper-doc",
    help="上级文号: the document received from above this issue is made under, e.g. the "
    "central 财预〔2026〕3号 (a breakdown takes its parent's 文号).",
)
@click.option("--project", help="Project code.")
@click.option("--from", "parent_id", help="Break down (分解) this received appropriation.")
@click.option(
    "--file",
    "batch",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Issue every line of a CSV or XLSX file instead (all or nothing).",
)
@click.option(
    "--allow-duplicate",
    is_flag=True,
    help="Issue a line even if the same 文号, recipient, function and amount was issued already.",
)
@_lang_option
@click.pass_context
def allocate_command(
    ctx: click.Context,
    recipient: str | None,
    amount: str | None,
    func: str | None,
    econ: str | None,
    fund: str | None,
    doc: str | None,
    title: str,
    year: int | None,
    transfer_type: str,
    project: str | None,
    parent_id: str | None,
    batch: Path | None,
    allow_duplicate: bool,
    direct: bool | None,
    indicator: str,
    level: str | None,
    upper_doc: str | None,
    lang: str,
) -> None:
    """Issue (下达) an appropriation to a descendant, or break one down (分解) with --from.

    It is recorded here and sent to the recipient as a signed change-set at the next
    sync. A breakdown may not exceed what is still available of the received
    appropriation (指标控制); the refusal names the balance. Codes must be valid for
    the fiscal year (national code sets plus the province's extensions).

    A breakdown keeps the fund type and transfer type of what it is taken from, and
    its functional classification is the same or one below it. A line whose 文号,
    recipient, function and amount were issued already this year is refused as a
    duplicate (naming the earlier id) unless --allow-duplicate is given, so importing
    the same spreadsheet twice issues nothing twice. One line is at most
    10,000,000,000,000.00 元.

    With --file, every line of a spreadsheet (CSV or XLSX) is checked first and every
    bad row is named; one bad row and nothing is issued. Columns (English or Chinese
    headers): recipient, amount, func, econ, fund, doc, and optionally title, year,
    type, project, from, direct (直达: yes/no, 是/否), indicator (指标类型), level
    (预算级次), upper_doc (上级文号).

    A 文号 is <简称><kind>〔YYYY〕N号 with this node's abbreviation in the topology and one
    of its document kinds (豫财教〔2026〕12号), of the fiscal year (or the year before for
    提前下达).

    \b
    Example:
      fiscalsync --home /srv/fiscalsync/410000 allocate --to 410100 --amount 1234.56 \\
          --func 2050201 --econ 50201 --fund 111 --doc "豫财教〔2026〕12号"
      fiscalsync --home /srv/fiscalsync/410000 allocate --file allocations-2026.xlsx
    """
    default_year = year or datetime.now(UTC).year
    if batch is not None:
        given = [
            n for n, v in (("--to", recipient), ("--amount", amount), ("--from", parent_id)) if v
        ]
        if given:
            raise _usage("file_replaces", options=", ".join(given))
        lines = appropriations.read_allocations(batch, default_year)
        with _writing(ctx) as node, contextlib.ExitStack() as stack:
            bars: list[Any] = []

            def advance(done: int, total: int) -> None:
                if not bars:  # the count is known once every line is checked
                    bars.append(
                        stack.enter_context(_bar(total, _in_language(said("rows_issuing"))))
                    )
                bars[0].update(done - bars[0].pos)

            ids = appropriations.allocate(
                node,
                lines,
                actor=getpass.getuser(),
                allow_duplicate=allow_duplicate,
                progress=advance,
            )
        total, recipients = ids.total_fen, len(ids.recipients)
        click.echo(
            labels(lang)["m.done_issued_many"].format(
                count=len(ids), amount=format_yuan(total), recipients=recipients,
                first=ids[0], last=ids[-1],
            )
        )  # fmt: skip
        return
    missing = [
        n
        for n, v in (
            ("--to", recipient),
            ("--amount", amount),
            ("--func", func),
            ("--econ", econ),
            ("--fund", fund),
            ("--doc", doc),
        )
        if not v
    ]
    if missing:
        raise _usage("allocate_missing", options=", ".join(missing))
    assert recipient and amount and func and econ and fund and doc
    line = appropriations.Allocation(
        recipient=recipient,
        amount_fen=_yuan(amount, "--amount"),
        func=func,
        econ=econ,
        fund=fund,
        doc=doc,
        year=default_year,
        title=title,
        transfer_type=appropriations.TRANSFER_WORDS[transfer_type],
        project=project,
        parent_id=parent_id,
        direct=direct,
        indicator=appropriations.INDICATOR_WORDS[indicator],
        level=appropriations.LEVEL_WORDS[level] if level else None,
        upper_doc=upper_doc,
    )
    with _writing(ctx) as node:
        (ident,) = appropriations.allocate(
            node, [line], actor=getpass.getuser(), allow_duplicate=allow_duplicate
        )
    click.echo(
        labels(lang)["m.done_issued"].format(
            ident=ident, amount=format_yuan(line.amount_fen), recipient=recipient
        )
    )


@cli.command("adjust")
@click.argument("ident", metavar="ID")
@click.option(
    "--delta",
    required=True,
    help="Change in 元: positive increases (调增), negative decreases (调减).",
)
@click.option("--doc", required=True, help="The document number (文号) of the adjustment.")
@_lang_option
@click.pass_context
def adjust_command(ctx: click.Context, ident: str, delta: str, doc: str, lang: str) -> None:
    """Increase (调增) or decrease (调减) an appropriation issued here.

    The change is a new event (nothing is overwritten) and travels to the recipient as
    a signed change-set. An increase of a breakdown takes from the received
    appropriation's balance. A decrease counts once the recipient's receipt accepts it;
    the recipient refuses it when less than that is still available down there.

    \b
    Example:
      fiscalsync --home /srv/fiscalsync/410000 adjust 410000-2026-000012 \\
          --delta -100.00 --doc "豫财教〔2026〕31号"
    """
    text = delta.strip()
    negative = text.startswith("-")
    fen = _yuan(text.lstrip("+-"), "--delta")
    kind = "decrease" if negative else "increase"
    with _writing(ctx) as node:
        seq = appropriations.change(node, ident, kind, fen, doc, actor=getpass.getuser())
    words = labels(lang)
    click.echo(
        words["m.done_changed"].format(
            ident=ident, kind=say(words, "event", kind), amount=format_yuan(fen), seq=seq
        )
    )


@cli.command("recover")
@click.argument("ident", metavar="ID")
@click.option("--amount", required=True, help="Amount in 元 to bring back up (收回).")
@click.option("--doc", required=True, help="The document number (文号) of the recovery.")
@_lang_option
@click.pass_context
def recover_command(ctx: click.Context, ident: str, amount: str, doc: str, lang: str) -> None:
    """Recover (收回) the unspent part of an appropriation issued here.

    The recipient refuses the recovery (negative receipt) when less than the amount is
    still available there (not spent, not broken down further); it counts once accepted.

    \b
    Example:
      fiscalsync --home /srv/fiscalsync/410100 recover 410100-2026-000003 \\
          --amount 5000.00 --doc "郑财预〔2026〕40号"
    """
    fen = _yuan(amount, "--amount")
    with _writing(ctx) as node:
        seq = appropriations.change(node, ident, "recover", fen, doc, actor=getpass.getuser())
    click.echo(
        labels(lang)["m.done_changed"].format(
            ident=ident,
            kind=say(labels(lang), "event", "recover"),
            amount=format_yuan(fen),
            seq=seq,
        )
    )


HOLDING_COLUMNS = {
    "issued": [
        tabular.Column("id", "id"),
        tabular.Column("year", "year", "int"),
        tabular.Column("recipient", "recipient"),
        tabular.Column("func_code", "func"),
        tabular.Column("econ_code", "econ"),
        tabular.Column("fund_code", "fund"),
        tabular.Column("transfer_type", "type"),
        tabular.Column("direct_label", "直达"),
        tabular.Column("indicator_label", "指标类型"),
        tabular.Column("doc_no", "doc"),
        tabular.Column("upper_doc_no", "上级文号"),
        tabular.Column("parent_id", "from"),
        tabular.Column("amount", "issued (元)", "money"),
        tabular.Column("acknowledged", "acknowledged (元)", "money"),
    ],
    "received": [
        tabular.Column("id", "id"),
        tabular.Column("year", "year", "int"),
        tabular.Column("issuer", "issuer"),
        tabular.Column("func_code", "func"),
        tabular.Column("econ_code", "econ"),
        tabular.Column("fund_code", "fund"),
        tabular.Column("transfer_type", "type"),
        tabular.Column("direct_label", "直达"),
        tabular.Column("indicator_label", "指标类型"),
        tabular.Column("source_label", "指标来源"),
        tabular.Column("doc_no", "doc"),
        tabular.Column("upper_doc_no", "上级文号"),
        tabular.Column("amount", "received (元)", "money"),
        tabular.Column("available", "available (元)", "money"),
    ],
}


RECONCILE_COLUMNS = [
    tabular.Column("kind", "kind"),
    tabular.Column("label", "类型"),
    tabular.Column("subject", "subject"),
    tabular.Column("field", "field"),
    tabular.Column("issuer", "issuer (上级)"),
    tabular.Column("recipient", "recipient (下级)"),
    tabular.Column("detail", "detail"),
]
SESSION_COLUMNS = [
    tabular.Column("id", "id"),
    tabular.Column("issuer", "issuer"),
    tabular.Column("recipient", "recipient"),
    tabular.Column("role", "role"),
    tabular.Column("state", "state"),
    tabular.Column("cut", "cut", "int"),
    tabular.Column("agree", "agree"),
    tabular.Column("discrepancies", "discrepancies", "int"),
    tabular.Column("in_transit", "in transit", "int"),
]


@cli.group("reconcile", cls=_Group, invoke_without_command=True)
@click.option("--with", "peer", help="The node below this one to reconcile with.")
@click.option("--full", is_flag=True, help="Recompute both sides' digests from their records.")
@click.option("--wait", is_flag=True, help="Run the sync rounds of a local province until done.")
@_lang_option
@click.pass_context
def reconcile_group(
    ctx: click.Context, peer: str | None, full: bool, wait: bool, lang: str
) -> None:
    """Reconcile (上下级对账) the appropriations this node issued a node below it.

    Both sides compare what they hold at the same channel position (the cut); what is
    still in flight is listed as 在途 (in transit), never as a discrepancy. The request
    travels at the next sync and the rounds do the rest; both sides then hold the same
    statement, the issuer's conclusion signed by it after the recipient's signed answers.
    Nothing is corrected automatically: each finding says what would correct it.

    \b
    Example:
      fiscalsync --home /srv/fiscalsync/410000 reconcile --with 410100
      fiscalsync --home /srv/fiscalsync/410000 reconcile show --format html -o statement.html
    """
    if ctx.invoked_subcommand is not None:
        return
    if peer is None:
        raise _usage("reconcile_needs_peer")
    words = labels(lang)
    home = _home(ctx)
    with _writing(ctx) as node:
        session = reconcile.protocol.start(node, peer, full=full)
    click.echo(words["r.requested"].format(id=session, peer=peer))
    if not wait:
        return
    network = home.resolve().parent
    if not (network / "topology.toml").is_file() or not (network / peer).is_dir():
        raise InputError(
            said("wait_needs_province", home=home),
            hint=said("wait_needs_province_hint"),
        )
    sync_network(network, until_quiet=True)
    with Node.open(home) as node:
        _show_statement(reconcile.statement.load(node, session), lang)


def _show_statement(statement: Any, lang: str) -> None:
    """A statement for the terminal: its verdict, then its findings, in ``lang``."""
    words = labels(lang)
    s = statement.session
    verdict = (
        words["r.agree_text"]
        if s.agree
        else words["r.differ_text"].format(n=s.discrepancies)
        if s.state == "concluded"
        else words["r.pending_text"].format(state=say(words, "rstate", s.state))
    )
    click.echo(
        words["r.heading"].format(
            id=s.id,
            origin=s.origin,
            recipient=s.recipient,
            cut=s.cut,
            verdict=verdict,
            transit=s.in_transit,
        )
    )
    tabular.write_text(
        sys.stdout,
        _finding_columns(lang),
        lambda: _finding_words(statement.finding_rows(words), lang),
    )


def _finding_columns(lang: str) -> list[tabular.Column]:
    words = labels(lang)
    return [tabular.Column(c.key, words[f"r.{c.key}"], c.kind) for c in RECONCILE_COLUMNS]


def _finding_words(rows: Iterable[list[Any]], lang: str) -> Iterator[list[Any]]:
    """Findings for people: the label of each kind in ``lang`` alone (the statement's
    labels read "下级缺失 missing below"), as they come."""
    for kind, label, *rest in rows:
        chinese, _, english = str(label).partition(" ")
        yield [kind, english or chinese if lang == "en" else chinese, *rest]


def _echo_json(head: dict[str, Any], key: str, items: Iterable[Any]) -> None:
    """Print ``{**head, key: [*items]}`` as ``json.dumps(..., indent=2)`` would, the items
    written as they come (bounded memory) and printed once read whole
    (:func:`tabular.standard_output`); ``key`` comes last."""
    text = json.dumps({**head, key: []}, ensure_ascii=False, indent=2)
    opening, _, _closing = text.rpartition("[]")
    with tabular.standard_output() as out:
        out.write(opening + "[")
        first = True
        for item in items:
            dumped = json.dumps(item, ensure_ascii=False, indent=2).replace("\n", "\n    ")
            out.write(("\n    " if first else ",\n    ") + dumped)
            first = False
        out.write(("]" if first else "\n  ]") + "\n}\n")


def _session_rows(sessions: Iterable[Any], words: dict[str, str] | None) -> list[list[Any]]:
    """Reconciliations, one row each; in words when ``words`` is given (else as codes)."""
    rows = []
    for s in sessions:
        if words is None:
            rows.append([s.id, s.origin, s.recipient, s.role, s.state, s.cut, s.agree,
                         s.discrepancies, s.in_transit])  # fmt: skip
        else:
            rows.append([s.id, s.origin, s.recipient, say(words, "rrole", s.role),
                         say(words, "rstate", s.state), s.cut,
                         words["r.yes" if s.agree else "r.no"] if s.agree is not None else "-",
                         s.discrepancies, s.in_transit])  # fmt: skip
    return rows


def _session_columns(words: dict[str, str]) -> list[tabular.Column]:
    names = {"issuer": "r.issuer", "recipient": "r.recipient"}
    return [
        tabular.Column(c.key, words[names.get(c.key, f"r.{c.key}")], c.kind)
        for c in SESSION_COLUMNS
    ]


@reconcile_group.command("show")
@click.argument("ident", metavar="[ID]", required=False)
@click.option("--all", "list_all", is_flag=True, help="List every reconciliation instead.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "csv", "xlsx", "json", "html"]),
    default="table",
    show_default=True,
    help="table for the terminal; csv, xlsx, json or a printable html statement.",
)
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), help="File.")
@_lang_option
@click.pass_context
def reconcile_show(
    ctx: click.Context, ident: str | None, list_all: bool, fmt: str, output: Path | None, lang: str
) -> None:
    """Show a reconciliation's statement (对账单): the newest, or ID.

    \b
    Example:
      fiscalsync --home /srv/fiscalsync/410000 reconcile show
      fiscalsync --home /srv/fiscalsync/410000 reconcile show 410000-R000003 --format xlsx -o s.xlsx
    """
    words = labels(lang)
    with Node.open(_home(ctx)) as node:
        zone = node.settings.time_zone
        if list_all:
            fmt = "table" if fmt == "html" else fmt
            human = _for_people(fmt)
            _emit(
                _session_columns(words) if human else SESSION_COLUMNS,
                _session_rows(reconcile.statement.sessions(node), words if human else None),
                fmt,
                output,
                title="reconciliations",
                empty=words["r.empty"],
            )
            return
        statement = reconcile.statement.load(node, ident)  # its findings read as written
        if fmt == "table":
            _show_statement(statement, lang)
            return
        if fmt == "html":
            parts = reconcile.statement.html_parts(statement, zone)
            if output is None:
                with tabular.standard_output() as out:
                    out.writelines(parts)
                    out.write("\n")
            else:
                with tabular.text_file(output) as written:
                    written.writelines(parts)
                click.echo(_in_language(said("statement_written", path=output)), err=True)
            return
        if fmt == "json" and output is None:
            _echo_json(statement.head(), "findings", statement.finding_dicts())
            return
        if _for_people(fmt):
            columns = _finding_columns(lang)

            def rows() -> Iterator[list[Any]]:
                return _finding_words(statement.finding_rows(labels(lang)), lang)

        else:
            columns = RECONCILE_COLUMNS

            def rows() -> Iterator[list[Any]]:
                return statement.finding_rows()

        _emit(columns, rows, fmt, output, title=statement.session.id, empty="")


@cli.group("appropriations", cls=_Group, invoke_without_command=True)
@click.option("--issued", "which", flag_value="issued", help="Those this node issued.")
@click.option(
    "--received",
    "which",
    flag_value="received",
    default=True,
    help="Those this node received (default).",
)
@click.option(
    "--refused",
    "which",
    flag_value="refused",
    help="Change-sets of appropriations refused, by their recipient or here, and why.",
)
@click.option("--year", type=YEAR, help="Only this fiscal year.")
@_output_option
@_lang_option
@click.pass_context
def appropriations_command(
    ctx: click.Context, which: str, year: int | None, fmt: str, output: Path | None, lang: str
) -> None:
    """List appropriations received (with what is still available) or issued.

    Issued ones show what stands (change-sets the recipient refused left out) and what
    the recipients' signed receipts acknowledge. `appropriations show ID` gives one
    appropriation's whole history.

    \b
    Example:
      fiscalsync --home /srv/fiscalsync/410100 appropriations --received --year 2026
      fiscalsync --home /srv/fiscalsync/410000 appropriations --issued --format xlsx -o issued.xlsx
      fiscalsync --home /srv/fiscalsync/410000 appropriations --refused
    """
    if ctx.invoked_subcommand is not None:
        return
    if which == "refused":
        _refused(ctx, fmt, output, lang)
        return
    words = labels(lang)
    columns = HOLDING_COLUMNS[which]
    fen = {"amount": "amount_fen", "acknowledged": "acknowledged_fen", "available": "available_fen"}
    human = _for_people(fmt)
    if human:
        columns = [
            tabular.Column(
                c.key, words[f"a.{which}" if c.key == "amount" else f"a.{c.key}"], c.kind
            )
            for c in columns
        ]
    with Node.open(_home(ctx)) as node:

        def rows() -> Iterator[list[Any]]:
            for h in appropriations.iter_holdings(node, issued=which == "issued", year=year):
                row = [getattr(h, fen.get(c.key, c.key)) for c in columns]
                yield _holding_words(columns, row, words) if human else row

        _emit(
            columns,
            rows,
            fmt,
            output,
            title=f"appropriations {which}",
            empty=words[f"a.empty_{which}"],
        )


def _for_people(fmt: str) -> bool:
    """Whether a listing in ``fmt`` is read by people (the terminal table, an xlsx a
    finance office prints) and so shows labels and values in words; csv and json are
    for programs and keep their English keys and codes."""
    return fmt in ("table", "xlsx")


def _holding_words(
    columns: Sequence[tabular.Column], row: list[Any], words: dict[str, str]
) -> list[Any]:
    """A row of appropriations with its transfer type and 直达 flag in words."""
    shown = list(row)
    for i, column in enumerate(columns):
        if column.key == "transfer_type":
            shown[i] = say(words, "transfer", row[i])
        elif column.key == "direct_label":
            shown[i] = words["direct.yes"] if row[i] else ""
    return shown


@appropriations_command.command("show")
@click.argument("ident", metavar="ID")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@_lang_option
@click.pass_context
def appropriations_show(ctx: click.Context, ident: str, as_json: bool, lang: str) -> None:
    """The full history of one appropriation: every event with its change-set and receipt.

    \b
    Example:
      fiscalsync --home /srv/fiscalsync/410100 appropriations show 410000-2026-000012
    """
    with Node.open(_home(ctx)) as node:
        found = appropriations.history(node, ident)
        zone = node.settings.time_zone
    if as_json:
        click.echo(json.dumps(dataclasses.asdict(found), ensure_ascii=False, indent=2, default=str))
        return
    words = labels(lang)
    a = found.appropriation
    side = words["side.issued" if found.issued_here else "side.received"]
    classification = words["show.classification_value"].format(
        func=a.func_code, econ=a.econ_code, fund=a.fund_code
    )
    rows = [
        ("show.appropriation", f"{a.id} ({side})"),
        ("show.year", str(a.year)),
        ("show.route", f"{a.issuer} → {a.recipient}"),
        ("show.doc", a.doc_no),
        ("show.title", a.title or "-"),
        ("show.classification", classification),
        ("show.transfer", say(words, "transfer", a.transfer_type)),
        ("show.direct", words["show.yes" if a.direct else "show.no"]),
        ("show.indicator", a.indicator_label),
        ("show.source", a.source_label),
        ("show.level", a.level_label or "-"),
        ("show.upper", a.upper_doc_no or "-"),
        ("show.from", a.parent_id or "-"),
        ("show.amount", f"{format_yuan(a.amount_fen)} 元"),
    ]
    if found.issued_here:
        rows.append(("show.acknowledged", f"{format_yuan(a.acknowledged_fen)} 元"))
    else:
        rows.append(("show.available", f"{format_yuan(a.available_fen)} 元"))
    width = 20
    for key, value in rows:
        click.echo(f"{_pad(words[key], width)}{value}")
    click.echo("")
    columns = _columns(
        words,
        "e",
        [("seq", "int"), ("kind", "text"), ("amount", "money"), ("doc", "text"),
         ("actor", "text"), ("at", "text"), ("changeset", "text"), ("receipt", "text")],
    )  # fmt: skip
    events = [
        [
            e.seq,
            say(words, "event", e.kind),
            e.amount_fen,
            e.doc_no,
            e.actor,
            _local(e.at, zone),
            (e.changeset_id or "-")[:12],
            _receipt_text(e, found.issued_here, words),
        ]
        for e in found.events
    ]
    click.echo(tabular.render_text(columns, events))
    if found.breakdowns:
        click.echo("")
        click.echo(words["show.breakdowns"])
        for b in found.breakdowns:
            click.echo(
                f"  {b.id}  {b.recipient}  {format_yuan(b.amount_fen):>16} 元"
                f"  {words['show.breakdown_ack']} {format_yuan(b.acknowledged_fen)} 元"
            )


def _receipt_text(event: appropriations.Event, issued_here: bool, words: dict[str, str]) -> str:
    if event.changeset_id is None:
        return "-"
    if event.verdict is None:
        return words["show.awaiting"] if issued_here else "-"
    receipt = (event.receipt_id or "")[:12]
    reason = f": {shown(event.reason, words)}" if event.reason else ""
    return f"{say(words, 'verdict', event.verdict)} {receipt}{reason}"


@cli.group("ledger", cls=_Group)
def ledger_group() -> None:
    """Expenditure payments and revenue receipts at this node (the source of reports).

    \b
    Example:
      fiscalsync --home /srv/fiscalsync/410102 ledger import payments-2026-10.xlsx
    """


@ledger_group.command("add")
@click.option("--date", "when", required=True, help="Date of the payment or receipt, 2026-10-15.")
@click.option(
    "--direction",
    type=click.Choice(["expenditure", "revenue"]),
    default="expenditure",
    show_default=True,
)
@click.option(
    "--code", required=True, help="功能分类 code (expenditure) or 收入分类 code (revenue)."
)
@click.option("--amount", required=True, help="Amount in 元, e.g. 1234.56.")
@click.option("--econ", help="Economic classification (经济分类), 5 digits.")
@click.option("--appropriation", "appropriation_id", help="The appropriation it is spent against.")
@click.option("--memo", default="", help="A note (摘要).")
@_lang_option
@click.pass_context
def ledger_add(
    ctx: click.Context,
    when: str,
    direction: str,
    code: str,
    amount: str,
    econ: str | None,
    appropriation_id: str | None,
    memo: str,
    lang: str,
) -> None:
    """Record one payment or receipt.

    Spending against an appropriation may not exceed what is still available of it.

    \b
    Example:
      fiscalsync --home /srv/fiscalsync/410102 ledger add --date 2026-10-15 \\
          --code 2050202 --econ 50201 --amount 3000.00 --appropriation 410100-2026-000004
    """
    try:
        day = date.fromisoformat(when)
    except ValueError as exc:
        raise InputError(said("date_bad", when=when), hint=said("date_bad_hint")) from exc
    entry = ledger.Entry(
        entry_date=day,
        direction=direction,
        code=code,
        amount_fen=_yuan(amount, "--amount"),
        econ=econ,
        appropriation_id=appropriation_id,
        memo=memo,
    )
    with _writing(ctx) as node:
        ledger.record(node, [entry], actor=getpass.getuser())
    words = labels(lang)
    click.echo(
        words["m.done_recorded"].format(
            direction=words.get(direction, direction),
            amount=format_yuan(entry.amount_fen),
            code=code,
            day=day,
        )
    )


@ledger_group.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@_lang_option
@click.pass_context
def ledger_import(ctx: click.Context, file: Path, lang: str) -> None:
    """Record every payment and receipt of a CSV or XLSX file, all or nothing.

    Columns (English or Chinese headers): date, direction (expenditure/revenue or
    支出/收入), code, amount, and optionally econ, appropriation, memo. Every bad row
    is named; one bad row and nothing is recorded.

    \b
    Example:
      fiscalsync --home /srv/fiscalsync/410102 ledger import payments-2026-10.csv
    """
    entries = ledger.read_entries(file)  # streamed: read once, a row at a time
    with _writing(ctx) as node:
        count = ledger.record(node, entries, actor=getpass.getuser())
    spent, received = entries.spent_fen, entries.received_fen
    click.echo(
        labels(lang)["m.done_recorded_file"].format(
            count=count, name=file.name, spent=format_yuan(spent), received=format_yuan(received)
        )
    )


@cli.command("agent")
@click.option("--once", is_flag=True, help="Run every job once now and exit (for cron and tests).")
@click.option(
    "--metrics-port",
    type=click.IntRange(1, 65535),
    help="Serve the node's metrics (Prometheus) on 127.0.0.1 at this port.",
)
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="Log lines as text or JSON, each naming the node.",
)
@click.option(
    "--homes",
    "homes_folders",
    multiple=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Run every node home under this folder (or this home) in one agent, instead of "
    "--home; may be given more than once (市级集中部署: a city's servers host its counties).",
)
@click.option(
    "--retry-seconds",
    type=click.IntRange(5, 86400),
    default=hosting.RETRY_SECONDS,
    show_default=True,
    help="With --homes: how often a home that could not be opened is tried again.",
)
@_lang_option
@click.pass_context
def agent_command(
    ctx: click.Context,
    once: bool,
    metrics_port: int | None,
    log_format: str,
    homes_folders: tuple[Path, ...],
    retry_seconds: int,
    lang: str,
) -> None:
    """Run this node's scheduled jobs until stopped: sync with the parent, reports on
    their period boundaries, and every day at 03:30 (Beijing time) 'fiscalsync check
    --read-data', whose problems 'status' shows.

    Jobs are kept in the node database; SIGTERM or Ctrl-C stops the agent after the
    running job. Only one agent may run on a home. At the province, when node.toml names
    the CA folder ([revocation] ca), the agent also re-publishes the revocation list once
    half its validity is over; --once does it too when it is due.

    \b
    Example:
      fiscalsync --home /srv/fiscalsync/410102 agent
      fiscalsync --home /srv/fiscalsync/410102 agent --once
      fiscalsync --home /srv/fiscalsync/410102 agent --metrics-port 9470 --log-format json
      fiscalsync agent --homes /srv/fiscalsync --log-format json

    With --homes, every node home under the folder runs in this one agent: each with
    its own database, keys, jobs, lock and worker thread, its log lines naming it; a home
    that cannot be opened is logged and tried again, and never stops the others.
    """
    if homes_folders:
        if once:
            raise _usage("once_one_home")
        hosting.run_homes(
            list(homes_folders),
            on_start=lambda jobs: click.echo(
                _in_language(said("agent_started", jobs=joined(jobs)))
            ),
            metrics_port=metrics_port,
            log_format=log_format,
            retry_seconds=retry_seconds,
        )
        click.echo(_in_language(said("agent_stopped")))
        return
    home = _home(ctx)
    if once:
        runs = agent.run_once(home)
        failed = []
        for run in runs:
            job = named("agent_job", run.job)
            if run.summary is None:
                click.echo(_in_language(said("agent_ran", job=job, note=run.note)))
                continue
            line = _summary_line(run.summary, _current_language())
            click.echo(_in_language(said("agent_ran", job=job, note=line)))
            failed.extend(run.summary.errors)
        if failed:
            raise TransportError(joined(failed))
        return
    agent.run_agent(
        home,
        on_start=lambda jobs: click.echo(
            _in_language(said("agent_started", jobs=joined(jobs, "listed")))
        ),
        metrics_port=metrics_port,
        log_format=log_format,
    )
    click.echo(_in_language(said("agent_stopped")))


# --- backups (备份) and restore (恢复) -------------------------------------------------------


def _mb(size: int) -> str:
    return f"{size / 1e6:.1f} MB"


@contextlib.contextmanager
def _bytes_bar(label: str, length: int | None) -> Iterator[Callable[[int], None]]:
    """A progress bar on standard error for long work (nothing when it is short)."""
    if length is not None and length < LARGE_TRANSFER:
        yield lambda _n: None
        return
    with click.progressbar(length=length or 0, label=label, file=sys.stderr) as bar:
        yield bar.update


@cli.group("backup", cls=_Group, invoke_without_command=True)
@click.option("--full", is_flag=True, help="Ship every chunk anew (no reuse of earlier backups).")
@_lang_option
@click.pass_context
def backup_group(ctx: click.Context, full: bool, lang: str) -> None:
    """Back this node up to the data center (备份): snapshot and journal, encrypted here.

    The database snapshot and the home's journal are cut into chunks; chunks not in the
    previous backup are encrypted (AES-256-GCM, a fresh data key wrapped for this node's
    backup key and the province's recovery key; SM4-GCM and SM2 key wrapping in an SM2
    network) and put into the data center's endpoint;
    the signed manifest follows with the next sync. If the center cannot be reached, the
    sync rounds finish the upload later; nothing half-written is ever listed as a backup.
    The center's own backups go to the province.

    \b
    Example:
      fiscalsync --home /srv/fiscalsync/410102 backup
      fiscalsync --home /srv/fiscalsync/410000-dc backup verify --read-data
    """
    if ctx.invoked_subcommand is not None:
        return
    from nodes import backups
    from nodes.exchange import Exchange

    with _writing(ctx) as node:
        size = _database_size(node)
        with _bytes_bar(_in_language(said("backing_up")), size) as step:
            taken = backups.take_backup(node, full=full, progress=step)
        exchange = Exchange(node)
        try:
            with _bytes_bar(_in_language(said("uploading")), taken.new_bytes) as step:
                left, why = backups.upload(node, exchange.backup_way(), step)
        finally:
            exchange.close()
    words = labels(lang)
    click.echo(
        words["n.backup_taken"].format(
            number=taken.number,
            code=node.spec.code,
            at=_local(taken.taken_at, node.settings.time_zone),
            objects=taken.objects,
            size=_mb(taken.bytes),
            new_objects=taken.new_objects,
            new_size=_mb(taken.new_bytes),
            seconds=f"{taken.seconds:.1f}",
        )
    )
    if left:
        click.echo(words["n.backup_left"].format(count=left, why=shown(why, words)))
    click.echo(words["n.backup_manifest"].format(keeper=taken.keeper))


def _database_size(node: Node) -> int | None:
    if node.engine.dialect.name != "sqlite" or not node.engine.url.database:
        return None
    with contextlib.suppress(OSError):
        return Path(node.engine.url.database).stat().st_size
    return None


@backup_group.command("list")
@click.option("--node", "code", help="Only this node's backups.")
@_lang_option
@click.pass_context
def backup_list(ctx: click.Context, code: str | None, lang: str) -> None:
    """List the backups this node keeps for others (at the data center, or the province).

    \b
    Example:
      fiscalsync --home /srv/fiscalsync/410000-dc backup list --node 410102
    """
    from nodes import keeper

    words = labels(lang)
    with Node.open(_home(ctx)) as node:
        kept = keeper.kept(node, code)
        zone = node.settings.time_zone
    if not kept:
        click.echo(words["b.empty"])
        return
    columns = _columns(
        words,
        "b",
        [("node", "text"), ("number", "int"), ("taken", "text"), ("objects", "int"),
         ("size", "text"), ("verified", "text"), ("problem", "text")],
    )  # fmt: skip
    rows = [
        [
            row.node,
            row.number,
            _local(row.taken_at, zone),
            row.objects,
            _mb(row.bytes),
            _local(row.verified_at, zone) if row.verified_at else "-",
            row.problem or "-",
        ]
        for row in kept
    ]
    click.echo(tabular.render_text(columns, rows))


@backup_group.command("verify")
@click.option("--node", "code", help="Only this node's backups.")
@click.option("--read-data", is_flag=True, help="Also read every object and check its hash.")
@_lang_option
@click.pass_context
def backup_verify(ctx: click.Context, code: str | None, read_data: bool, lang: str) -> None:
    """Check the backups kept here, without any key (like restic check).

    Signatures and chains of the manifests, every object present and of its size, and
    with --read-data each object's SHA-256; a node whose latest backup is missing or
    older than [backup] max_age_hours is named. Exit status 11 when anything is wrong.

    \b
    Example:
      fiscalsync --home /srv/fiscalsync/410000-dc backup verify --read-data
    """
    from datetime import timedelta

    from nodes import keeper

    with _writing(ctx) as node:
        trust = keys.trust_store(node.home)
        with click.progressbar(
            length=0, label=_in_language(said("verifying")), file=sys.stderr, show_pos=True
        ) as bar:
            results = keeper.verify(
                node,
                trust,
                owner=code,
                read_data=read_data,
                max_age=timedelta(hours=node.settings.backup_max_age_hours),
                progress=bar.update if read_data else None,
            )
    bad = 0
    words = labels(lang)
    for item in results:
        latest = _local(item.latest, node.settings.time_zone) if item.latest else "-"
        state = words["m.verify_ok" if not item.problems else "m.verify_problem"]
        line = words["m.verify_line"].format(
            node=f"{item.node:<10}",
            backups=item.backups,
            latest=latest,
            objects=item.objects,
            size=_mb(item.bytes),
        )
        click.echo(
            _pad(state, 9)
            + line
            + (words["m.verify_read"].format(read=item.read) if read_data else "")
        )
        for problem in item.problems:
            click.echo(f"  {shown(problem, words)}")
        bad += bool(item.problems)
    if bad:
        from sync.backup.envelope import BackupDamaged

        raise BackupDamaged(
            said("backups_bad", bad=bad),
            hint=said("backups_bad_hint"),
        )


@backup_group.command("prune")
@click.pass_context
def backup_prune(ctx: click.Context) -> None:
    """Apply the retention policy to the backups kept here ([backup] keep_daily,
    keep_monthly, and the last of every year), and delete objects no kept backup needs.

    \b
    Example:
      fiscalsync --home /srv/fiscalsync/410000-dc backup prune
    """
    from nodes import keeper

    with _writing(ctx) as node:
        manifests, objects = keeper.prune(
            node, daily=node.settings.backup_keep_daily, monthly=node.settings.backup_keep_monthly
        )
    click.echo(_in_language(said("backups_pruned", manifests=manifests, objects=objects)))


@backup_group.command("drill")
@_lang_option
@click.pass_context
def backup_drill(ctx: click.Context, lang: str) -> None:
    """Take a backup, restore it from the data center into a scratch database, and
    compare it with the live one, table by table and by its reconciliation digests;
    report the restore time (恢复演练). Exit status 11 when they differ.

    \b
    Example:
      fiscalsync --home /srv/fiscalsync/410102 backup drill
    """
    from nodes.drill import drill
    from sync.backup.envelope import BackupDamaged

    with _writing(ctx) as node:
        with _bytes_bar(_in_language(said("backing_up")), _database_size(node)) as step:
            result = drill(node, progress=step)
    drilled = said(
        "drill_done",
        number=result.number,
        backup=f"{result.backup_seconds:.1f}",
        restore=f"{result.restore_seconds:.1f}",
        size=_mb(result.bytes),
        tables=result.tables,
    )
    click.echo(_in_language(drilled))
    if result.passed:
        click.echo(_in_language(said("drill_passed")))
        return
    for difference in result.differences:
        click.echo(f"  {difference}")
    raise BackupDamaged(said("drill_failed", count=len(result.differences)))


@backup_group.group("recovery-key", cls=_Group)
def recovery_key() -> None:
    """The province's recovery key: every backup is also encrypted for it.

    \b
    Example:
      fiscalsync backup recovery-key new --ca /secure/ca --out /offline/recovery-kit.pem
      fiscalsync --home /srv/fiscalsync/410102 backup recovery-key install recovery.crt
    """


@recovery_key.command("new")
@click.option(
    "--ca",
    "ca_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="The province's root CA folder.",
)
@click.option(
    "--out",
    "kit",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where the recovery kit goes (keep it offline).",
)
@_passphrase_option
def recovery_key_new(ca_dir: Path, kit: Path, passphrase_file: Path | None) -> None:
    """(province) Make the recovery key: the kit (private key, its certificate, the root
    certificate) to keep offline, and CA/recovery.crt for every node to install.

    \b
    Example:
      fiscalsync backup recovery-key new --ca /secure/ca --out /offline/recovery-kit.pem
    """
    cert = keys.create_recovery(ca_dir, kit, _passphrase(passphrase_file))
    click.echo(_in_language(said("recovery_kit_written", kit=kit)))
    click.echo(_in_language(said("recovery_cert_install", cert=cert, name=cert.name)))


@recovery_key.command("install")
@click.argument("cert", type=click.Path(dir_okay=False, path_type=Path))
@click.pass_context
def recovery_key_install(ctx: click.Context, cert: Path) -> None:
    """Install the province's recovery certificate on this node, after checking it.

    \b
    Example:
      fiscalsync --home /srv/fiscalsync/410102 backup recovery-key install recovery.crt
    """
    with _writing(ctx) as node:
        target = keys.install_recovery(node.home, cert)
    click.echo(
        f"Installed {target}: backups are now encrypted for the province's recovery key too."
    )


def _point_in_time(text: str) -> datetime:
    """``--at``: in UTC when it names a zone; without one it is left naive, to be read
    in the restored node's own [node] time_zone."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise InputError(
            said("time_bad", text=text),
            hint=said("time_bad_hint"),
        ) from exc
    return moment if moment.tzinfo is None else moment.astimezone(UTC)


@cli.command("restore")
@click.argument("home", type=click.Path(file_okay=False, path_type=Path))
@click.option("--node", "code", required=True, help="The node to restore, e.g. 410102.")
@click.option("--from", "keeper", help="The node keeping its backups (default: the data center).")
@click.option(
    "--topology",
    "topology_file",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The province's topology (to reach the keeper).",
)
@click.option(
    "--at",
    "at_text",
    help="Restore to this time: the latest snapshot at or before it, then its journal up to it. "
    "A time without a zone is in the node's own [node] time_zone (from its backup).",
)
@click.option(
    "--recovery-key",
    "key_file",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The province's recovery kit, or this node's own keys/backup.key.",
)
@click.option(
    "--ca-cert",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The root certificate, if the key file holds none.",
)
@click.option("--db-url", help="A new, empty database to restore into (default: SQLite in HOME).")
@click.option(
    "--ssh-key", type=click.Path(dir_okay=False, path_type=Path), help="SSH key for an sftp keeper."
)
@_lang_option
def restore_command(
    home: Path,
    code: str,
    keeper: str | None,
    topology_file: Path,
    at_text: str | None,
    key_file: Path,
    ca_cert: Path | None,
    db_url: str | None,
    ssh_key: Path | None,
    lang: str,
) -> None:
    """Restore a node from its backups into HOME, on a fresh machine (恢复).

    Fetches the node's manifests from the data center, verifies every signature, chain
    link and object hash, decrypts with the recovery kit, and builds the home and its
    database; then the node rejoins: it asks its peers for what it lost and sends
    nothing new until each has answered (see 'status'). HOME must be new or empty.

    \b
    Example:
      fiscalsync restore /srv/fiscalsync/410102 --node 410102 --from 410000-dc \\
          --topology henan.toml --recovery-key /offline/recovery-kit.pem
      fiscalsync restore /srv/fiscalsync/410100 --node 410100 --topology henan.toml \\
          --recovery-key kit.pem --at '2026-11-20 18:00' \\
          --db-url postgresql://fiscal@db.local/fs_410100
    """
    from nodes.restore import restore

    at = _point_in_time(at_text) if at_text else None
    total: list[int] = []
    with contextlib.ExitStack() as stack:
        bar: list[Any] = []

        def on_total(size: int) -> None:
            total.append(size)
            if size >= LARGE_TRANSFER:
                bar.append(
                    stack.enter_context(
                        click.progressbar(
                            length=size, label=_in_language(said("restoring")), file=sys.stderr
                        )
                    )
                )

        def step(size: int) -> None:
            if bar:
                bar[0].update(size)

        done = restore(
            code,
            topology_file,
            home,
            key_file,
            keeper=keeper,
            at=at,
            db_url=db_url,
            ca_cert=ca_cert,
            ssh_key=ssh_key,
            progress=step,
            on_total=on_total,
        )
    zone = load_settings(done.home).time_zone
    at = done.at
    words = labels(lang)
    click.echo(
        words["n.restored"].format(
            code=done.node,
            number=done.number,
            at=_local(done.taken_at, zone),
            files=done.files,
            size=_mb(done.bytes),
            seconds=f"{done.seconds:.1f}",
            home=done.home,
        )
    )
    if done.replayed is not None and done.journal_from is not None and at is not None:
        replayed = words["n.replayed_last" if done.replayed.last else "n.replayed"]
        click.echo(
            replayed.format(
                number=done.journal_from,
                at=_local(at, zone),
                own=done.replayed.own,
                taken=done.replayed.taken,
                last=_local(done.replayed.last, zone) if done.replayed.last else "",
            )
        )
    elif at is not None:
        click.echo(words["n.no_journal"].format(number=done.number, at=_local(at, zone)))
    click.echo(words["n.rejoining"].format(count=len(done.peers), peers=", ".join(done.peers)))
    click.echo(words["n.restore_next"].format(home=done.home))


def _show_submitters(who: list[reports.Submitter], words: dict[str, str], zone: tzinfo) -> None:
    behind = [w for w in who if w.state != "on time"]
    on_time = len(who) - len(behind)
    click.echo(words["demo.on_time"].format(on_time=on_time, total=len(who)))
    if behind:
        columns = [
            tabular.Column("code", words["node"]),
            tabular.Column("name", words["region"]),
            tabular.Column("state", words["state"]),
            tabular.Column("deadline", words["deadline"]),
            tabular.Column("submitted", words["submitted_at"]),
        ]
        rows = [
            [
                w.code,
                w.name,
                words[w.state],
                w.due_date.isoformat(),
                _local(w.submitted_at, zone) if w.submitted_at else "-",
            ]
            for w in behind
        ]
        click.echo(tabular.render_text(columns, rows))


@cli.group("report", cls=_Group)
def report_group() -> None:
    """Revenue and expenditure reports: ten-day (旬报) and monthly (月报), and their
    consolidation (汇总) at the data center.

    Periods: 2026-10 (the month), 2026-10-D1 (days 1-10), 2026-10-D2 (days 11-20),
    2026-10-D3 (day 21 to the month's end).

    \b
    Example:
      fiscalsync --home /srv/fiscalsync/410102 report submit 2026-10
    """


@report_group.command("generate")
@click.argument("period", required=False)
@click.option("--period", "period_option", hidden=True, help="The same as PERIOD (older form).")
@_lang_option
@click.pass_context
def report_generate(
    ctx: click.Context, period: str | None, period_option: str | None, lang: str
) -> None:
    """Generate this node's report for a period from its ledger and appropriations.

    Lines by classification code for revenue and expenditure, with the budget
    (appropriations held for this level's own spending), the period and the year to
    date; subtotals at 类 and 款; every sum is checked. It stays a draft until
    `fiscalsync report submit`; generating again replaces the draft, or after a
    submission makes a correction (the next version).

    \b
    Example:
      fiscalsync --home /srv/fiscalsync/410102 report generate 2026-10
      fiscalsync --home /srv/fiscalsync/410102 report generate 2026-10-D2

    PERIOD is a month (2026-10) or one of its ten-day periods (2026-10-D1, D2, D3), as
    for `report submit` and `report show`.
    """
    if period and period_option and period != period_option:
        raise _usage("two_periods", period=period, option=period_option)
    period = period or period_option
    if not period:
        raise _usage("missing_period")
    words = reports.labels(lang)
    with _writing(ctx) as node:
        view = reports.generate(node, period, actor=getpass.getuser())
        (current, *_) = reversed(reports.versions(node, view.period))
        zone = node.settings.time_zone
    click.echo(reports.render_text(view, lang, zone))
    click.echo(f"{words['version']} {current.version}, {words[current.state]}.")


@report_group.command("submit")
@click.argument("period")
@click.option(
    "--scope",
    type=click.Choice(["own", "all"]),
    default="own",
    show_default=True,
    help="all: send the parent this node's consolidation (全辖) again, after a report "
    "below it changed.",
)
@_lang_option
@click.pass_context
def report_submit(ctx: click.Context, period: str, scope: str, lang: str) -> None:
    """Send this node's report to its parent and a copy to the data center.

    Two signed change-sets (the province sends to the center only). Generates the
    report first when there is none; to correct a submitted report, generate it again
    and submit: the new version supersedes the old, which stays in the history. A node
    with nodes below it also sends its parent its consolidation (全辖, 逐级): its own
    report with what its children sent.

    \b
    Example:
      fiscalsync --home /srv/fiscalsync/410102 report submit 2026-10
      fiscalsync --home /srv/fiscalsync/410100 report submit 2026-10 --scope all
    """
    with _writing(ctx) as node:
        if scope == "all":
            version = reports.submit_region(node, period, actor=getpass.getuser())
            click.echo(labels(lang)["m.done_submitted_all"].format(version=version, period=period))
            return
        sent = reports.submit(node, period, actor=getpass.getuser())
    words = labels(lang)
    click.echo(
        words["m.done_submitted"].format(
            version=sent.version,
            period=sent.period,
            recipients=words["m.and"].join(sent.recipients),
            count=len(sent.changesets),
        )
    )
    if sent.consolidated is not None:
        click.echo(words["m.done_submitted_with"].format(version=sent.consolidated))


@report_group.command("show")
@click.argument("period")
@click.option("--region", help="Whose report (default: this node; at the center, the province).")
@click.option(
    "--scope",
    type=click.Choice(["own", "all"]),
    default=None,
    help="own: the region's own report (本级); all: its consolidation (全辖汇总). "
    "Default: all at the center, own elsewhere.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "table", "csv", "xlsx", "html", "json"]),
    default="text",
    show_default=True,
    help="text for the terminal (table is the same); csv, xlsx, html or json for files.",
)
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write to this file instead of the terminal (required for xlsx).",
)
@_lang_option
@click.pass_context
def report_show(
    ctx: click.Context,
    period: str,
    region: str | None,
    scope: str | None,
    fmt: str,
    output: Path | None,
    lang: str,
) -> None:
    """Show a report, or consolidate a region's reports (市级汇总, 全省汇总).

    Every layout opens with the title block (title, 编制单位, 报送日期, 金额单位：元)
    and has the columns 预算数, 本期数, 本月累计 (ten-day reports), 累计数, 完成预算%,
    上年同期 and 增减%. At the data center, which holds every report, --scope all sums
    a city with its counties, or the whole province, and lists who has not reported by
    the deadline (set in node.toml, [reports]). A city holds its own and its counties'
    reports.

    \b
    Example:
      fiscalsync --home /srv/fiscalsync/410000-dc report show 2026-10 --lang zh
      fiscalsync --home /srv/fiscalsync/410000-dc report show 2026-10 --region 410100 \\
          --format xlsx -o zhengzhou-2026-10.xlsx
      fiscalsync --home /srv/fiscalsync/410102 report show 2026-10-D2 --format html -o d2.html
    """
    words = reports.labels(lang)
    with Node.open(_home(ctx)) as node:
        at_center = node.spec.role == "center"
        scope = scope or ("all" if at_center else "own")
        view = reports.view(node, period, region=region, scope=scope)
        who = reports.submitters(node, period, region=region) if at_center else []
        zone = node.settings.time_zone
    extra = {"submitters": [w.as_dict() for w in who]} if at_center else None
    fmt = "text" if fmt == "table" else fmt
    text = reports.write(view, fmt, output, lang, zone, extra=extra)
    if text is not None:
        click.echo(text, nl=False)
    if fmt == "text" and output is None and at_center:
        click.echo("")
        _show_submitters(who, words, zone)


@report_group.command("direct")
@click.option("--year", type=YEAR, help="Only appropriations of this year (default: every year).")
@_output_option
@_lang_option
@click.pass_context
def report_direct(
    ctx: click.Context, year: int | None, fmt: str, output: Path | None, lang: str
) -> None:
    """The 直达资金 report: direct funds issued, received, allocated below, spent, left.

    One row per direct-fund appropriation held at this level (received, or issued from
    its own budget), then the total; every level runs it on its own data.

    \b
    Example:
      fiscalsync --home /srv/fiscalsync/410100 report direct --year 2026
      fiscalsync --home /srv/fiscalsync/410100 report direct --format xlsx -o direct.xlsx
    """
    # csv and json are for programs: English keys and words, whatever the language.
    words = lang if _for_people(fmt) else "en"
    empty = "没有直达资金。" if lang == "zh" else "No direct funds."
    with Node.open(_home(ctx)) as node:
        shape = reports.direct_layout(f"{node.spec.code} {node.spec.name}", [], words)

        def rows() -> Iterator[list[Any]]:  # streamed: read again for each pass
            return reports.direct_rows(appropriations.iter_direct_funds(node, year), words)

        if fmt == "table" and output is None:
            probe = appropriations.iter_direct_funds(node, year)
            if next(probe, None) is not None:
                click.echo("\n".join(shape.heading))
            probe.close()
        _emit(shape.columns, rows, fmt, output, title="direct", empty=empty)


@cli.group("budget", cls=_Group)
def budget_group() -> None:
    """This node's own budget (本级预算): revenue and expenditure budget lines by code.

    They are the budget column (预算数) of its reports, revenue included, beside the
    appropriations it holds.

    \b
    Example:
      fiscalsync --home /srv/fiscalsync/410102 budget import budget-2026.xlsx --year 2026
    """


@budget_group.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--year", type=YEAR, required=True, help="The budget year, e.g. 2026.")
@_lang_option
@click.pass_context
def budget_import(ctx: click.Context, file: Path, year: int, lang: str) -> None:
    """Replace this node's budget lines of a year with those of FILE (.csv or .xlsx).

    Columns: section (收支: 收入/支出), code (科目编码), amount (金额, 元). Every bad line
    is named at once and nothing is written unless all are good; importing the same
    file again changes nothing.

    \b
    Example:
      fiscalsync --home /srv/fiscalsync/410102 budget import budget-2026.csv --year 2026
    """
    with _writing(ctx) as node:
        done = import_budget(node, file, year, actor=getpass.getuser())
    click.echo(
        labels(lang)["m.done_budget"].format(
            lines=done.lines,
            year=done.year,
            revenue=format_yuan(done.revenue_fen),
            expenditure=format_yuan(done.expenditure_fen),
            replaced=done.replaced,
        )
    )


@budget_group.command("list")
@click.option("--year", type=YEAR, required=True, help="The budget year, e.g. 2026.")
@_output_option
@_lang_option
@click.pass_context
def budget_list(ctx: click.Context, year: int, fmt: str, output: Path | None, lang: str) -> None:
    """This node's budget lines of a year, revenue first, by code.

    \b
    Example:
      fiscalsync --home /srv/fiscalsync/410102 budget list --year 2026
    """
    with Node.open(_home(ctx)) as node:
        found = budget_lines(node, year)
    if not _for_people(fmt):  # csv and json are for programs: English, whatever the language
        lang = "en"
    words = reports.labels(lang)
    columns = [
        tabular.Column("section", words["section"]),
        tabular.Column("code", words["code"]),
        tabular.Column("amount", words["budget"], "money"),
        tabular.Column("source", "来源文件" if lang == "zh" else "File"),
    ]
    rows = [[words[b.section], b.code, b.amount_fen, b.source] for b in found]
    empty = f"{year}年没有本级预算。" if lang == "zh" else f"No budget lines for {year}."
    _emit(columns, rows, fmt, output, title=f"budget {year}", empty=empty)


@cli.command()
@click.argument("directory", required=False, type=click.Path(file_okay=False, path_type=Path))
@_suite_option
@_lang_option
def demo(directory: Path | None, suite: str, lang: str) -> None:
    """Run the product's main job on the demo province, on SQLite.

    Creates the demo province (a province, two cities, four counties, one of them
    managed directly by the province, and the data center) under DIRECTORY, or a new
    temporary folder. The province allocates from a spreadsheet, the cities break down
    to their counties, counties and cities record spending, the nodes submit their
    monthly report, and the data center consolidates; every step travels as signed
    change-sets with signed receipts back. It runs on its own calendar (from
    2026-11-02), so that its submission table shows reports on time, one late (孟津县)
    and one missing (中牟县) every time.

    \b
    Example:
      fiscalsync demo
      fiscalsync demo /tmp/demo-province
      fiscalsync demo --suite sm2
      fiscalsync demo --lang en
    """
    result = run_demo(directory, suite=suite)
    net = result.network
    topology = net.topology
    words = labels(lang)
    click.echo(words["demo.calendar"].format(start=f"{DEMO_TODAY:%Y-%m-%d %H:%M}"))
    click.echo(
        words["demo.created"].format(name=topology.name, path=net.path, count=len(net.homes))
    )
    click.echo(words["demo.each"])
    click.echo("")
    click.echo(words["demo.codes"].format(codes=result.codes, changesets=result.changesets))
    click.echo(
        words["demo.allocation"].format(
            lines=result.allocated,
            amount=format_yuan(result.allocated_fen),
            file=DEMO_ALLOCATIONS.name,
        )
    )
    click.echo(words["demo.breakdown"].format(lines=result.breakdowns))
    click.echo(words["demo.ledger"].format(entries=result.entries))
    sent = sum(1 for w in result.submitters if w.state != "missing")
    click.echo(
        words["demo.reports"].format(
            sent=sent,
            total=len(result.submitters),
            period=result.period.label,
            rounds=result.rounds,
        )
    )
    click.echo("")
    click.echo(words["demo.issued_title"])
    columns = [
        tabular.Column("id", words["a.id"]),
        tabular.Column("recipient", words["a.recipient"]),
        tabular.Column("func", words["a.func_code"]),
        tabular.Column("doc", words["a.doc_no"]),
        tabular.Column("issued", words["a.issued"], "money"),
        tabular.Column("acknowledged", words["a.acknowledged"], "money"),
    ]
    click.echo(
        tabular.render_text(
            columns,
            [
                [h.id, h.recipient, h.func_code, h.doc_no, h.amount_fen, h.acknowledged_fen]
                for h in result.issued
            ],
        )
    )
    click.echo("")
    click.echo(words["demo.received_title"])
    columns = [
        tabular.Column("city", words["demo.city"]),
        tabular.Column("id", words["a.id"]),
        tabular.Column("func", words["a.func_code"]),
        tabular.Column("received", words["a.received"], "money"),
        tabular.Column("available", words["a.available"], "money"),
    ]
    rows = [
        [city, h.id, h.func_code, h.amount_fen, h.available_fen]
        for city, held in result.received.items()
        for h in held
    ]
    click.echo(tabular.render_text(columns, rows))
    click.echo("")
    click.echo(words["demo.consolidation_title"])
    click.echo(reports.render_text(result.consolidated, lang))
    click.echo("")
    _show_submitters(result.submitters, words, LOCAL_TIME)
    click.echo("")
    click.echo(words["demo.done"].format(seconds=result.seconds))
    center = net.homes[topology.center.code].path if topology.center else net.path
    command = f"fiscalsync --home {center} report show {result.period.label} --region 410100"
    click.echo(words["demo.try"].format(command=command))


# --- data wall (金财数据墙), metrics and retention commands ---


@cli.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind to.")
@click.option("--port", default=8470, show_default=True, type=click.IntRange(1, 65535))
@click.option(
    "--tls-cert", type=click.Path(dir_okay=False, path_type=Path), help="TLS certificate (PEM)."
)
@click.option("--tls-key", type=click.Path(dir_okay=False, path_type=Path), help="Its key (PEM).")
@click.option(
    "--logins",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Users and hashed passwords (fiscalsync serve-password) for HTTP basic login.",
)
@click.option(
    "--client-certs",
    is_flag=True,
    help="Log in by client certificate (with TLS): one the province's root CA issued and "
    "the revocation list (keys/crl.pem, read at start) does not name.",
)
@click.option(
    "--homes",
    "homes_from",
    multiple=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Serve every node home under this folder (repeatable), as 'agent --homes' runs "
    "them: each home's wall under /home/CODE/.",
)
@click.pass_context
def serve_command(
    ctx: click.Context,
    host: str,
    port: int,
    tls_cert: Path | None,
    tls_key: Path | None,
    logins: Path | None,
    client_certs: bool,
    homes_from: tuple[Path, ...],
) -> None:
    """Serve the data wall (金财数据墙) of this node, read-only, from its own database:
    every node of the province with its last contact, channel lag, quarantine, report
    submission, reconciliation, backup and the money totals, refreshed live; a node's
    detail on click; '?lang=en' for English. Also /api/wall, /api/nodes/CODE (JSON) and
    /metrics (Prometheus).

    With --homes (a city's data center hosting its counties, 市级集中部署), the page
    shows every hosted home as its own wall tells it, each home's wall under
    /home/CODE/, /api/homes as JSON and /metrics labelled by node; a home that cannot
    be opened is named and left out. The folders are scanned again before a request (at
    most every second): a home added there is served, one removed let go, without a
    restart.

    It binds to 127.0.0.1 unless told otherwise; another address needs both TLS
    (--tls-cert, --tls-key) and a login: --logins, or --client-certs (any certificate of
    the province's PKI not revoked, e.g. a node's; SM2 certificates are not offered by
    browsers' TLS).

    \b
    Example:
      fiscalsync --home /srv/fiscalsync/410000 serve --port 8470
      fiscalsync serve --homes /srv/fiscalsync --port 8471
      fiscalsync --home /srv/fiscalsync/410000 serve --host 0.0.0.0 \\
          --tls-cert wall.crt --tls-key wall.key --client-certs
      fiscalsync --home /srv/fiscalsync/410000-dc serve --host 0.0.0.0 \\
          --tls-cert wall.crt --tls-key wall.key --logins wall.logins
    """
    if (tls_cert is None) != (tls_key is None):
        raise _usage("tls_pair")
    tls = (tls_cert, tls_key) if tls_cert is not None and tls_key is not None else None
    users = load_logins(logins) if logins is not None else None
    clients = None
    if client_certs:
        found = hosting.find_homes(list(homes_from)) if homes_from else [_home(ctx)]
        keys_dir = NodeHome(found[0]).keys
        clients = web.ClientCertificates(keys_dir / "ca.crt", keys_dir / "crl.pem")
    web.check_binding(host, tls, users, clients)
    if homes_from:
        hosting.find_homes(list(homes_from))  # none there is refused at once
        hosted = web.Hosted(
            {},
            logins=users,
            scan=lambda: hosting.find_homes(list(homes_from), none_ok=True),
            on_problem=lambda path, why: click.echo(
                _in_language(said("wall_left_out", path=path, why=why)), err=True
            ),
        )
        hosted.refresh()
        try:
            web.serve_app(
                web.hosted_app(hosted),
                host,
                port,
                tls,
                on_start=lambda url: click.echo(
                    _in_language(said("wall_homes_on", count=len(hosted.servings), url=url))
                ),
                clients=clients,
            )
        finally:
            hosted.close()
        return
    with Node.open(_home(ctx)) as node:
        web.serve(
            web.Serving(node, logins=users),
            host,
            port,
            tls,
            on_start=lambda url: click.echo(
                _in_language(said("wall_on", code=node.spec.code, url=url))
            ),
            clients=clients,
        )


@cli.command("serve-password")
@click.argument("name")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
def serve_password(name: str, password_stdin: bool) -> None:
    """Print a line for the logins file of 'serve' (the password hashed with scrypt).

    \b
    Example:
      fiscalsync serve-password wang >> /srv/fiscalsync/wall.logins
    """
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True, err=True)
    click.echo(hash_password(name, password))


@cli.command("purge")
@click.option("--dry-run", is_flag=True, help="Say what would go, delete nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print it as JSON.")
@click.pass_context
def purge_command(ctx: click.Context, dry_run: bool, as_json: bool) -> None:
    """Purge the spool: the files of change-sets acknowledged (sent) or answered (taken)
    longer ago than [retention] days, never sooner than the backup retention, and
    closed quarantine entries. The rows stay, marked purged; the agent does it daily.

    \b
    Example:
      fiscalsync --home /srv/fiscalsync/410000 purge --dry-run
      fiscalsync --home /srv/fiscalsync/410000 purge
    """
    with _writing(ctx) as node:
        done = retention.purge(node, dry_run=dry_run)
    if as_json:
        click.echo(json.dumps(done.as_dict(), ensure_ascii=False, indent=2))
        return
    values = {
        "sent": done.sent,
        "taken": done.taken,
        "before": _local(done.cutoff, node.settings.time_zone),
        "files": done.files,
        "size": _mb(done.bytes),
        "quarantine": done.quarantine,
        "spool": _mb(done.spool_bytes),
    }
    for key in ("purge_would", "purge_spool") if dry_run else ("purged", "purged_spool"):
        click.echo(_in_language(said(key, **values)))


@cli.command("install-service")
@click.option(
    "--dir",
    "folder",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("/etc/systemd/system"),
    show_default=True,
    help="Where to write the unit files.",
)
@click.option("--user", default="fiscalsync", show_default=True, help="The user the units run as.")
@click.option("--port", default=8470, show_default=True, type=click.IntRange(1, 65535))
@click.option("--metrics-port", type=click.IntRange(1, 65535), help="The agent's metrics port.")
@click.pass_context
def install_service(
    ctx: click.Context, folder: Path, user: str, port: int, metrics_port: int | None
) -> None:
    """Write systemd units for this node's agent and data wall (serve): run as --user,
    restarted on failure, hardened (read-only system, only the home writable, no new
    privileges nor capabilities). Then: systemctl daemon-reload; systemctl enable --now
    the units.

    \b
    Example:
      sudo fiscalsync --home /srv/fiscalsync/410102 install-service --user fiscalsync
      sudo systemctl daemon-reload
      sudo systemctl enable --now fiscalsync-agent-410102 fiscalsync-serve-410102
    """
    home = _home(ctx).resolve()
    with Node.open(home, check_schema=False) as node:
        code, name = node.spec.code, node.spec.name
    executable = Path(sys.argv[0]).resolve()
    if executable.name != "fiscalsync":
        executable = Path(sys.executable).parent / "fiscalsync"
    made = service.units(
        code, name, home, executable, user=user, port=port, metrics_port=metrics_port
    )
    for path in service.write_units(folder, made):
        click.echo(_in_language(said("unit_written", path=path)))


# --- CLI consistency commands ---


def _locale_language() -> str:
    """``zh`` (Chinese, the default) unless the locale names another language (LC_ALL,
    LC_MESSAGES or LANG, as POSIX orders them: en_US.UTF-8 gives ``en``); the C and
    POSIX locales of servers and containers name none, and give ``zh``."""
    for name in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = os.environ.get(name)
        if value:
            language = value.split(".")[0].split("_")[0].lower()
            return "zh" if language in ("zh", "c", "posix") else "en"
    return "zh"


def _next_steps(home: Path, code: str, role: str, words: dict[str, str]) -> str:
    """What an operator does after ``init``: a key, the province's certificate, the
    revocation list, then status."""
    h = f"fiscalsync --home {home}"
    return "\n".join(
        [
            words["n.next_steps"],
            f"  1. {h} keys new                      # {words['n.step_key']}",
            f"  2. fiscalsync --home PROVINCE pki sign {home}/keys/node.csr --ca CA_DIR "
            f"--role {role}   # {words['n.step_sign']}",
            f"  3. {h} keys install {code}.crt --ca-cert ca.crt   # {words['n.step_install']}",
            f"  4. {h} revocation install crl.pem     # {words['n.step_crl']}",
            f"  5. {h} status",
        ]
    )


def _refused(ctx: click.Context, fmt: str, output: Path | None, lang: str) -> None:
    """``appropriations --refused``: refused change-sets of appropriations and why."""
    with Node.open(_home(ctx)) as node:
        found = appropriations.refused(node)
        zone = node.settings.time_zone
    columns = [
        tabular.Column("side", "refused"),
        tabular.Column("changeset", "change-set"),
        tabular.Column("kind", "kind"),
        tabular.Column("route", "origin → recipient"),
        tabular.Column("seq", "seq", "int"),
        tabular.Column("at", "at"),
        tabular.Column("reason", "reason"),
    ]
    sides = {"sent": "by recipient 对方拒收", "taken": "here 本级拒收"}
    words = labels(lang)
    human = _for_people(fmt)
    if human:
        names = {"side": "a.side", "changeset": "e.changeset", "kind": "c.kind",
                 "route": "a.route", "seq": "c.seq", "at": "a.at", "reason": "c.reason"}  # fmt: skip
        columns = [tabular.Column(c.key, words[names[c.key]], c.kind) for c in columns]
    rows = [
        [
            say(words, "refused", f.direction) if human else sides[f.direction],
            f.changeset_id[:12],
            say(words, "kind", f.kind) if human else f.kind,
            f"{f.origin} → {f.recipient}",
            f.seq,
            _local(f.at, zone),
            shown(f.reason, words) if human else str(f.reason),
        ]
        for f in found
    ]
    _emit(columns, rows, fmt, output, title="refused", empty=words["a.empty_refused"])


@codes.command("list")
@click.option(
    "--codeset",
    default="func",
    show_default=True,
    help="func, econ, fund, transfer, revenue or region.",
)
@click.option("--year", type=YEAR, help="Only this year.")
@click.option(
    "--changes",
    "show_changes",
    is_flag=True,
    help="The codes of the year before that changed in --year (科目变动对照), every code set.",
)
@_output_option
@_lang_option
@click.pass_context
def codes_list(
    ctx: click.Context,
    codeset: str,
    year: int | None,
    show_changes: bool,
    fmt: str,
    output: Path | None,
    lang: str,
) -> None:
    """List the codes known here (national code sets and the province's extensions).

    With --changes, the codes that changed from the year before into --year, each with
    its old and new name: what a carry-over (结转) into that year does to them.

    \b
    Example:
      fiscalsync --home /srv/fiscalsync/410102 codes list --codeset func --year 2026
      fiscalsync --home /srv/fiscalsync/410102 codes list --year 2027 --changes
    """
    if show_changes:
        _code_changes(ctx, year, fmt, output, lang)
        return
    with Node.open(_home(ctx)) as node:
        found = code_items(node, codeset, year)
    words = labels(lang)
    columns = [
        tabular.Column("year", "year", "int"),
        tabular.Column("code", "code (编码)"),
        tabular.Column("name", "name (名称)"),
        tabular.Column("parent", "parent"),
        tabular.Column("tier", "tier (层次)", "int"),
        tabular.Column("extension", "extension (扩展)"),
    ]
    if _for_people(fmt):
        columns = [tabular.Column(c.key, words[f"k.{c.key}"], c.kind) for c in columns]
    extension = words["k.is_extension"] if _for_people(fmt) else "扩展"
    rows = [
        [i.year, "  " * (i.level - 1) + i.code if fmt == "table" else i.code, i.name,
         i.parent or "", i.level, extension if i.extension else ""]
        for i in found
    ]  # fmt: skip
    _emit(columns, rows, fmt, output, title=f"codes {codeset}", empty=words["k.empty"])


def _code_changes(
    ctx: click.Context, year: int | None, fmt: str, output: Path | None, lang: str
) -> None:
    """``codes list --changes``: each changed code with its old and new name."""
    with Node.open(_home(ctx)) as node:
        found = changed_codes(node, year)
    words = labels(lang)
    keys = ("year", "codeset", "old", "old_name", "new", "new_name", "extension")
    columns = [tabular.Column(k, k, "int" if k == "year" else "text") for k in keys]
    if _for_people(fmt):
        columns = [
            tabular.Column(
                c.key,
                words[f"k.{c.key}" if c.key in ("year", "extension") else f"g.{c.key}"],
                c.kind,
            )
            for c in columns
        ]
    extension = words["k.is_extension"] if _for_people(fmt) else "扩展"
    rows = [
        [c.year, say(words, "codeset", c.codeset) if _for_people(fmt) else c.codeset, c.old,
         c.old_name, c.new, c.new_name, extension if c.extension else ""]
        for c in found
    ]  # fmt: skip
    _emit(columns, rows, fmt, output, title="code changes", empty=words["g.empty"])


@ledger_group.command("list")
@click.option("--from", "start", help="From this date, e.g. 2026-10-01.")
@click.option("--to", "end", help="Up to this date, included.")
@click.option("--appropriation", "appropriation_id", help="Only what was spent against it.")
@_output_option
@_lang_option
@click.pass_context
def ledger_list(
    ctx: click.Context,
    start: str | None,
    end: str | None,
    appropriation_id: str | None,
    fmt: str,
    output: Path | None,
    lang: str,
) -> None:
    """List the payments and receipts recorded here, by date.

    \b
    Example:
      fiscalsync --home /srv/fiscalsync/410102 ledger list --from 2026-10-01 --to 2026-10-31
    """
    days = []
    for option, text in (("--from", start), ("--to", end)):
        try:
            days.append(date.fromisoformat(text) if text else None)
        except ValueError as exc:
            raise InputError(
                said("option_date_bad", option=option, text=text), hint=said("date_bad_hint")
            ) from exc
    columns = [
        tabular.Column("date", "date (日期)"),
        tabular.Column("direction", "收支"),
        tabular.Column("code", "code (科目)"),
        tabular.Column("econ", "econ"),
        tabular.Column("amount", "amount (元)", "money"),
        tabular.Column("appropriation", "appropriation (指标)"),
        tabular.Column("memo", "memo (摘要)"),
        tabular.Column("by", "by"),
    ]
    words = labels(lang)
    if _for_people(fmt):
        columns = [tabular.Column(c.key, words[f"l.{c.key}"], c.kind) for c in columns]
        direction = {d: say(words, "direction", d) for d in ("expenditure", "revenue")}
    else:
        direction = {"expenditure": "支出", "revenue": "收入"}
    with Node.open(_home(ctx)) as node:

        def rows() -> Iterator[list[Any]]:
            found = ledger.iter_entries(
                node, start=days[0], end=days[1], appropriation_id=appropriation_id
            )
            for e in found:
                yield [e.entry_date.isoformat(), direction[e.direction], e.code, e.econ or "",
                       e.amount_fen, e.appropriation_id or "", e.memo, e.recorded_by]  # fmt: skip

        _emit(columns, rows, fmt, output, title="ledger", empty=words["l.empty"])


# --- transfer types and 直达资金 commands ---


@appropriations_command.command("trace")
@click.argument("ident", metavar="ID")
@_output_option
@_lang_option
@click.pass_context
def appropriations_trace(
    ctx: click.Context, ident: str, fmt: str, output: Path | None, lang: str
) -> None:
    """Follow an appropriation down the chain (资金追踪, for 直达资金), from what this node
    knows: what it received (and the 上级文号), what it broke down from it to the nodes
    below with what their receipts acknowledge, what it spent against it; or the
    information copy (抄送) of one issued over its head.

    \b
    Example:
      fiscalsync --home /srv/fiscalsync/410100 appropriations trace 410000-2026-000012
    """
    with Node.open(_home(ctx)) as node:
        steps = appropriations.trace(node, ident)
    columns = [
        tabular.Column("id", "id"),
        tabular.Column("role", "here"),
        tabular.Column("route", "issuer → recipient"),
        tabular.Column("type", "type"),
        tabular.Column("direct", "直达"),
        tabular.Column("doc", "doc (文号)"),
        tabular.Column("upper_doc", "上级文号"),
        tabular.Column("amount", "amount (元)", "money"),
        tabular.Column("acknowledged", "acknowledged (元)", "money"),
        tabular.Column("spent", "spent (元)", "money"),
        tabular.Column("available", "available (元)", "money"),
    ]
    words = labels(lang)
    roles = {"received": "received 收到", "issued": "issued 下达", "copy": "copy 抄送"}
    transfers = dict(appropriations.TRANSFER_LABELS)
    direct = "直达"
    if _for_people(fmt):
        names = {"id": "a.id", "role": "a.role", "route": "a.route", "type": "a.transfer_type",
                 "direct": "a.direct_label", "doc": "a.doc_no", "upper_doc": "a.upper_doc_no",
                 "amount": "e.amount", "acknowledged": "a.acknowledged", "spent": "a.spent",
                 "available": "a.available"}  # fmt: skip
        columns = [tabular.Column(c.key, words[names[c.key]], c.kind) for c in columns]
        roles = {role: say(words, "trace", role) for role in roles}
        transfers = {kind: say(words, "transfer", kind) for kind in transfers}
        direct = words["direct.yes"]
    rows = [
        [
            "  " * s.depth + s.id,
            roles[s.role],
            f"{s.issuer} → {s.recipient}",
            transfers[s.transfer_type],
            direct if s.direct else "",
            s.doc_no,
            s.upper_doc_no or "",
            s.amount_fen,
            s.acknowledged_fen,
            s.spent_fen,
            s.available_fen,
        ]
        for s in steps
    ]
    _emit(columns, rows, fmt, output, title=f"trace {ident}", empty="")


@appropriations_command.command("jurisdiction")
@click.option("--year", type=YEAR, help="Only this fiscal year.")
@_output_option
@_lang_option
@click.pass_context
def appropriations_jurisdiction(
    ctx: click.Context, year: int | None, fmt: str, output: Path | None, lang: str
) -> None:
    """What came into this node's jurisdiction (全辖) from above: what it received, and the
    information copies (抄送) of what was issued over its head to the nodes below it,
    which count in the 全辖 total but not in this node's own balance.

    \b
    Example:
      fiscalsync --home /srv/fiscalsync/410100 appropriations jurisdiction --year 2026
    """
    columns = [
        tabular.Column("id", "id"),
        tabular.Column("held", "here"),
        tabular.Column("issuer", "issuer"),
        tabular.Column("recipient", "recipient"),
        tabular.Column("func", "func"),
        tabular.Column("type", "type"),
        tabular.Column("direct", "直达"),
        tabular.Column("doc", "doc (文号)"),
        tabular.Column("amount", "amount (元)", "money"),
        tabular.Column("available", "available (元)", "money"),
    ]
    words = labels(lang)
    held = {True: "copy 抄送", False: "received 本级"}
    transfers = dict(appropriations.TRANSFER_LABELS)
    direct = "直达"
    if _for_people(fmt):
        names = {"id": "a.id", "held": "a.held", "issuer": "a.issuer", "recipient": "a.recipient",
                 "func": "a.func_code", "type": "a.transfer_type", "direct": "a.direct_label",
                 "doc": "a.doc_no", "amount": "a.received", "available": "a.available"}  # fmt: skip
        columns = [tabular.Column(c.key, words[names[c.key]], c.kind) for c in columns]
        held = {True: words["held.copy"], False: words["held.own"]}
        transfers = {kind: say(words, "transfer", kind) for kind in transfers}
        direct = words["direct.yes"]
    sums = {"own": 0, "all": 0, "shares": 0}  # as the rows stream by (the table's last pass)

    with Node.open(_home(ctx)) as node:

        def rows() -> Iterator[list[Any]]:
            sums.update(own=0, all=0, shares=0)
            for s in appropriations.iter_jurisdiction(node, year):
                sums["shares"] += 1
                sums["all"] += s.amount_fen
                sums["own"] += 0 if s.copy else s.amount_fen
                yield [s.id, held[s.copy], s.issuer, s.recipient, s.func_code,
                       transfers[s.transfer_type], direct if s.direct else "", s.doc_no,
                       s.amount_fen, s.available_fen]  # fmt: skip

        _emit(columns, rows, fmt, output, title="jurisdiction", empty=words["a.empty_jurisdiction"])
    if fmt == "table" and output is None and sums["shares"]:
        own, everything = format_yuan(sums["own"]), format_yuan(sums["all"])
        click.echo(words["a.totals"].format(own=own, all=everything))


def main(argv: Sequence[str] | None = None) -> Any:
    """Entry point of the ``fiscalsync`` console script."""
    return cli.main(args=list(argv) if argv is not None else None, prog_name="fiscalsync")


# --- year-end close (年终结转) ---


@cli.group("year", cls=_Group)
def year_group() -> None:
    """Year-end close (年终结转): unspent balances carried over or recovered.

    \b
    Example:
      fiscalsync --home /srv/fiscalsync/410102 year close 2026
      fiscalsync --home /srv/fiscalsync/410100 year close 2026 --accept 410102 \\
          --doc "郑财预〔2027〕5号"
    """


@year_group.command("close")
@click.argument("year", type=YEAR)
@click.option("--accept", "recipient", help="Accept this node's statement (at the issuer).")
@click.option("--doc", help="With --accept: the 文号 of the next year that carries it over.")
@_lang_option
@click.pass_context
def year_close(
    ctx: click.Context, year: int, recipient: str | None, doc: str | None, lang: str
) -> None:
    """Close YEAR here, or accept the close of a node below.

    Without --accept: send each issuer a signed statement of what is still available of
    every appropriation of YEAR received from it; nothing more of YEAR is spent or
    broken down here. A node closes after the nodes it issued YEAR's appropriations to
    (counties first, then their city), and not while what it issued is in flight.

    With --accept CODE --doc 文号: recover every balance CODE stated; when [year] close
    is "carry" (the default), issue each again, in the same transaction, as an
    appropriation of YEAR+1 of 指标类型 结转, linked to the old one; when "recover",
    only recover it.

    \b
    Example:
      fiscalsync --home /srv/fiscalsync/410102 year close 2026
      fiscalsync --home /srv/fiscalsync/410100 year close 2026 --accept 410102 \\
          --doc "郑财预〔2027〕5号"
    """
    words = labels(lang)
    if recipient is None:
        if doc is not None:
            raise _usage("doc_with_accept")
        with _writing(ctx) as node:
            sent = yearend.close(node, year, actor=getpass.getuser())
        for s in sent:
            click.echo(
                words["y.sent"].format(
                    year=year,
                    issuer=s.issuer,
                    amount=format_yuan(s.balance_fen),
                    count=s.appropriations,
                )
            )
        return
    if not doc:
        raise _usage("accept_needs_doc")
    with _writing(ctx) as node:
        done = yearend.accept(node, year, recipient, doc, actor=getpass.getuser())
    click.echo(
        words["y.accepted"].format(
            recipient=recipient,
            year=year,
            doc=doc,
            stated=format_yuan(done.stated_fen),
            carried=format_yuan(done.carried_fen),
            recovered=format_yuan(done.recovered_fen),
        )
    )
    for old, new in done.carried.items():
        click.echo(f"  {old} → {new}")
    for old, codeset, was, now in done.recoded:
        changed = dict(ident=old, codeset=say(words, "codeset", codeset), old=was, new=now)
        click.echo(words["m.carried_recoded"].format(**changed, year=year + 1))


_YEAR_KINDS = {"balance": "money", "lines": "int", "year": "int"}


@year_group.command("list")
@click.option("--year", type=YEAR, help="Only this year.")
@_output_option
@_lang_option
@click.pass_context
def year_list(
    ctx: click.Context, year: int | None, fmt: str, output: Path | None, lang: str
) -> None:
    """List the year-end statements here: sent up, and received from below.

    \b
    Example:
      fiscalsync --home /srv/fiscalsync/410100 year list --year 2026
    """
    with Node.open(_home(ctx)) as node:
        zone = node.settings.time_zone
        found = yearend.closes(node, year)
    keys = ["year", "issuer", "recipient", "state", "balance", "lines", "closed", "mode", "doc"]
    words = labels(lang)
    people = _for_people(fmt)
    columns = [
        tabular.Column(k, words[f"y.{k}"] if people else k, _YEAR_KINDS.get(k, "text"))
        for k in keys
    ]
    rows = [
        [
            c.year,
            c.issuer,
            c.recipient,
            say(words, "y.state", c.state) if people else c.state,
            c.balance_fen,
            c.appropriations,
            _local(c.closed_at, zone) if people else c.closed_at.isoformat(),
            (say(words, "y.mode", c.mode) if people else c.mode) if c.mode else "",
            c.doc or "",
        ]
        for c in found
    ]
    _emit(columns, rows, fmt, output, title="year closes", empty=words["y.empty"])


if __name__ == "__main__":
    main()
