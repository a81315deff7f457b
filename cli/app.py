"""The ``fiscalsync`` group itself: its options, the language of its words, and the one
path out of every failure.

Every user-facing failure leaves through :func:`main`: ``Error: <what>`` and a hint on
standard error, with the exit status of its family (listed in ``fiscalsync --help``).
A misuse of the command line is said by key in the operator's language, and so is
``--help`` (:class:`_SaysMisuse`, :class:`_SaysHelp`).
"""

from __future__ import annotations

import contextlib
import errno
import functools
import inspect
import os
import re
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import click

from nodes import Node, help_zh
from nodes.labels import LANGUAGES, Said, labels, said, shown
from nodes.locks import home_lock
from schema.engine import database_failure
from schema.errors import FiscalsyncError
from schema.said import Said as SaidBelow
from sync.errors import RowsRefused, TopologyError

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


def main(argv: Sequence[str] | None = None) -> Any:
    """Entry point of the ``fiscalsync`` console script."""
    return cli.main(args=list(argv) if argv is not None else None, prog_name="fiscalsync")
