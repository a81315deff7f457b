"""Spreadsheet files in and out (表格导入导出): batch rows read, listings and reports written.

Operators prepare allocation batches and ledgers in Excel or WPS and want reports back
in the same form. :func:`read_table` turns a ``.csv`` or ``.xlsx`` file into rows of
stripped text keyed by canonical column names, whatever header spelling the operator
used (``amount``, ``金额``, ``金额（元）``), each with the row number Excel shows.
:func:`write_table` writes csv, xlsx or json atomically; :func:`render_text` lays the
same table out for a terminal.

Money never passes through ``float``: a numeric XLSX cell is read as the shortest exact
decimal text, and amounts (integer fen) are written as yuan text, ``Decimal`` XLSX cells
or JSON strings. openpyxl is imported here and nowhere else.
"""

from __future__ import annotations

import codecs
import csv
import io
import itertools
import json
import re
import shutil
import sys
import tempfile
import unicodedata
import warnings
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import IO, Any, BinaryIO

from openpyxl import Workbook, load_workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

from nodes.labels import display_width, said
from schema.types import format_yuan
from sync.errors import InputError, RowsRefused, StorageError
from sync.files import atomic_file

__all__ = [
    "Column",
    "Row",
    "Sheet",
    "Table",
    "display_width",  # from nodes.labels: the terminal cells of a text, for columns
    "open_table",
    "read_table",
    "first_problems",
    "refuse",
    "render_text",
    "unwritable",
    "write_table",
    "write_text",
]

FORMATS = ("csv", "xlsx", "json")
KINDS = ("text", "money", "int")
MONEY_FORMAT = "#,##0.00"
_SHEET_TITLE_FORBIDDEN = re.compile(r"[\[\]:*?/\\]")

Rows = Iterable[Sequence[Any]]
"""Rows to write: each one value per column, in column order."""


@dataclass(frozen=True)
class Row:
    """One data row: ``number`` as Excel shows it, ``values`` the stripped cell text.

    ``values`` holds every key the caller asked for; a key whose cell is empty, or whose
    column is absent from the file (see :attr:`Sheet.columns`), maps to ``''``.
    """

    number: int
    values: dict[str, str]


@dataclass(frozen=True)
class Sheet:
    """The data rows of one file, fully empty rows skipped, and the canonical keys found."""

    path: Path
    columns: tuple[str, ...]
    rows: list[Row]


@dataclass(frozen=True)
class Column:
    """One output column; ``kind`` is ``text``, ``money`` (integer fen) or ``int``."""

    key: str
    label: str
    kind: str = "text"


# Reading


def read_table(
    path: Path, columns: Mapping[str, Sequence[str]], required: Collection[str]
) -> Sheet:
    """Read the rows of a ``.csv``/``.txt`` or ``.xlsx`` file, keyed by canonical column;
    every row in memory at once (:func:`open_table` reads them one at a time).

    ``columns`` maps each key to the header texts accepted for it; headers are compared
    casefolded, without whitespace, after NFKC (so ``金额（元）`` equals ``金额 (元)``).
    The header row is the first of the leading ten non-empty rows that names a known
    column (so a title line such as ``2024年第一批下达表`` above it is passed over), else
    the first non-empty row. Unknown columns are ignored; an empty file gives no rows.
    Raises :class:`InputError` for a missing, unreadable or damaged file, an unknown
    suffix, two columns giving the same key, or a header that lacks ``required`` keys
    (all of them named at once).
    """
    table = open_table(path, columns, required)
    return Sheet(path, table.columns, list(table))


class Table:
    """The data rows of a ``.csv``/``.txt`` or ``.xlsx`` file, read from the file again on
    each iteration, one row at a time (bounded memory whatever the file's size).

    The header is found and checked when the table is opened (:func:`open_table`); a file
    damaged further down raises :class:`InputError` while it is iterated.
    """

    def __init__(
        self,
        path: Path,
        keys: Sequence[str],
        found: dict[str, int],
        header_number: int,
        encoding: str | None,
    ) -> None:
        self.path = path
        self.columns = tuple(sorted(found, key=found.__getitem__))
        self._keys = tuple(keys)
        self._found = found
        self._header_number = header_number
        self._encoding = encoding

    def __iter__(self) -> Iterator[Row]:
        if self._header_number == 0:  # an empty file
            return
        at = [(key, self._found.get(key)) for key in self._keys]
        widest = max((index for _, index in at if index is not None), default=-1)
        for number, cells in _lines(self.path, self._encoding):
            if number > self._header_number and any(cells):
                if len(cells) > widest:  # every column found is there
                    values = {key: "" if index is None else cells[index] for key, index in at}
                else:
                    values = {key: _cell_at(cells, index) for key, index in at}
                yield Row(number, values)


def open_table(
    path: Path, columns: Mapping[str, Sequence[str]], required: Collection[str]
) -> Table:
    """Find and check the header of a ``.csv``/``.txt`` or ``.xlsx`` file (as
    :func:`read_table` does) and return its rows as a :class:`Table` that streams them."""
    unknown = set(required) - set(columns)
    if unknown:
        raise ValueError(f"required keys without accepted headers: {sorted(unknown)}")
    suffix = path.suffix.lower()
    if suffix in (".csv", ".txt"):
        encoding: str | None = _csv_encoding(path)
    elif suffix == ".xlsx":
        encoding = None
    else:
        raise InputError(
            said("table_unreadable_kind", path=path, suffix=suffix or path.name),
            hint=said("table_unreadable_kind_hint"),
        )
    leading: list[tuple[int, list[str]]] = []
    for number, cells in _lines(path, encoding):
        if any(cells):
            leading.append((number, cells))
            if len(leading) == 10:
                break
    if not leading:
        return Table(path, tuple(columns), {}, 0, encoding)
    header_at = next(
        (i for i, (_, cells) in enumerate(leading) if _match_header(path, cells, columns)), 0
    )
    header_number, header = leading[header_at]
    found = _match_header(path, header, columns)
    missing = [key for key in columns if key in required and key not in found]
    if missing:
        names = ", ".join(f"{key} ({' / '.join(columns[key])})" for key in missing)
        expected = ",".join(aliases[0] if aliases else key for key, aliases in columns.items())
        raise InputError(
            said(
                "table_missing_columns",
                path=path,
                value="s" if len(missing) > 1 else "",
                names=names,
                header_number=header_number,
            ),
            hint=said("table_missing_columns_hint", expected=expected),
        )
    return Table(path, tuple(columns), found, header_number, encoding)


def _cell_at(cells: Sequence[str], index: int | None) -> str:
    return cells[index] if index is not None and index < len(cells) else ""


def _header_key(text: str) -> str:
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text)).casefold()


def _match_header(
    path: Path, header: Sequence[str], columns: Mapping[str, Sequence[str]]
) -> dict[str, int]:
    """Canonical key -> index of its column in ``header``."""
    accepted = {_header_key(name): key for key, names in columns.items() for name in names}
    found: dict[str, int] = {}
    for index, text in enumerate(header):
        key = accepted.get(_header_key(text))
        if key is None:
            continue
        if key in found:
            first, second = get_column_letter(found[key] + 1), get_column_letter(index + 1)
            raise InputError(
                said("table_two_columns", path=path, first=first, second=second, key=key),
                hint=said("table_two_columns_hint"),
            )
        found[key] = index
    return found


def _lines(path: Path, encoding: str | None) -> Iterator[tuple[int, list[str]]]:
    """Every row of the file with its number as Excel shows it, cells stripped."""
    return _xlsx_lines(path) if encoding is None else _csv_lines(path, encoding)


_CHUNK = 1 << 20


def _csv_encoding(path: Path) -> str:
    """UTF-8 with or without BOM, else GB18030 (what Excel on Chinese Windows saves): the
    first that decodes the whole file, read a chunk at a time."""
    for encoding in ("utf-8-sig", "gb18030"):
        decoder = codecs.getincrementaldecoder(encoding)()
        try:
            with path.open("rb") as handle:
                while chunk := handle.read(_CHUNK):
                    decoder.decode(chunk)
                decoder.decode(b"", final=True)
        except FileNotFoundError as exc:
            raise InputError(said("no_such_file", path=path)) from exc
        except OSError as exc:
            raise InputError(said("file_unreadable", path=path, error=exc.strerror or exc)) from exc
        except UnicodeDecodeError:
            continue
        return encoding
    raise InputError(
        said("text_not_utf8_gbk", path=path),
        hint=said("text_not_utf8_gbk_hint"),
    )


def _csv_lines(path: Path, encoding: str) -> Iterator[tuple[int, list[str]]]:
    # One record is one spreadsheet row (a blank line included), as Excel numbers them.
    try:
        with path.open(encoding=encoding, newline="") as handle:
            for number, cells in enumerate(csv.reader(handle), 1):
                yield number, [cell.strip() for cell in cells]
    except csv.Error as exc:
        raise InputError(said("csv_unreadable", path=path, error=exc)) from exc
    except OSError as exc:
        raise InputError(said("file_unreadable", path=path, error=exc.strerror or exc)) from exc
    except UnicodeDecodeError as exc:  # the file changed since its encoding was found
        raise InputError(
            said("text_encoding_changed", path=path, encoding=encoding, error=exc)
        ) from exc


def _xlsx_lines(path: Path) -> Iterator[tuple[int, list[str]]]:
    if not path.exists():
        raise InputError(said("no_such_file", path=path))
    damaged = InputError(said("xlsx_unreadable", path=path), hint=said("xlsx_unreadable_hint"))
    with warnings.catch_warnings():
        # openpyxl warns about styles and extensions it skips; the values are unaffected.
        warnings.simplefilter("ignore", UserWarning)
        try:
            book = load_workbook(path, read_only=True, data_only=True)
        except OSError as exc:
            raise InputError(said("file_unreadable", path=path, error=exc.strerror or exc)) from exc
        except Exception as exc:  # a damaged zip or XML surfaces as many exception types
            raise damaged from exc
    try:
        if not book.worksheets:
            return
        sheet = book.worksheets[0]
        sheet.reset_dimensions()  # the stored dimension may be wrong; read every row
        rows = enumerate(sheet.iter_rows(values_only=True), 1)
        while True:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                try:
                    number, values = next(rows)
                except StopIteration:
                    return
                except Exception as exc:
                    raise damaged from exc
            yield number, [_cell_text(value).strip() for value in values]
    finally:
        book.close()


def _cell_text(value: object) -> str:
    """A cell value as text; numbers in exact decimal form, never through float arithmetic."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        # repr is the shortest text that reads back as the same float: 1234.56, not ...5600003.
        text = format(Decimal(repr(value)), "f")
        text = text.rstrip("0").rstrip(".") if "." in text else text
        return "0" if text == "-0" else text
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == time() else value.isoformat()
    if isinstance(value, date | time):
        return value.isoformat()
    return str(value)


# Writing


def write_table(
    columns: Sequence[Column],
    rows: Rows,
    fmt: str,
    out: Path | None,
    *,
    title: str | None = None,
    heading: Sequence[str] = (),
) -> None:
    """Write ``rows`` (one value per column) as ``csv``, ``xlsx`` or ``json``.

    ``heading`` lines (a report's title block: its title, 编制单位, 金额单位) go above the
    column header in csv and xlsx, one cell each, the first one as the title; json,
    a list of records, has none. :func:`read_table` passes over them when reading back.

    ``out=None`` writes csv (without BOM) or json to standard output, once every row is
    read (they are kept in a scratch file meanwhile); a file appears
    complete or not at all (:func:`sync.files.atomic_file`); csv files carry a UTF-8 BOM
    for Excel. Money cells take integer fen, or None for an empty cell. Raises
    :class:`InputError` for an unknown format or xlsx without a file,
    :class:`StorageError` for a file that cannot be written (:func:`unwritable`);
    ``TypeError`` for a money or int value that is not an int.
    """
    for column in columns:
        if column.kind not in KINDS:
            raise ValueError(f"column {column.key}: kind {column.kind!r} is not one of {KINDS}")
    if fmt not in FORMATS:
        raise InputError(
            said("output_format_unknown", fmt=fmt), hint=said("output_format_unknown_hint")
        )
    if out is None:
        if fmt == "xlsx":
            raise InputError(said("xlsx_needs_file"), hint=said("xlsx_needs_file_hint"))
        with standard_output() as scratch:
            if fmt == "csv":
                _write_csv(scratch, columns, rows, lineterminator="\n", heading=heading)
            else:
                _write_json(scratch, columns, rows)
        return
    try:
        with atomic_file(out) as stream:
            if fmt == "xlsx":
                _write_xlsx(stream, columns, rows, title, heading)
            elif fmt == "csv":
                text = io.TextIOWrapper(stream, encoding="utf-8-sig", newline="")
                try:
                    _write_csv(text, columns, rows, lineterminator="\r\n", heading=heading)
                finally:
                    text.detach()  # flushes; atomic_file still owns and closes the stream
            else:
                text = io.TextIOWrapper(stream, encoding="utf-8", newline="")
                try:
                    _write_json(text, columns, rows)
                finally:
                    text.detach()
    except OSError as exc:
        raise unwritable(out, exc) from exc


def unwritable(out: Path, exc: OSError) -> StorageError:
    """The error for a file ``out`` this node cannot write (a missing folder, no right to
    write there, a full disk): a local failure, not a verdict on what was asked."""
    return StorageError(
        said("cannot_write", out=out, error=exc.strerror or exc), hint=said("cannot_write_hint")
    )


def render_text(columns: Sequence[Column], rows: Rows) -> str:
    """An aligned plain-text table: header, rule, rows; CJK characters count two columns.
    Amounts are grouped by thousands for the eye (1,234,567.89); files keep them plain."""
    table = [[column.label for column in columns]]
    table.extend(_shown(columns, row) for row in rows)
    widths = [max(display_width(line[i]) for line in table) for i in range(len(columns))]
    return "\n".join(_text_lines(columns, widths, table))


def write_text(stream: IO[str], columns: Sequence[Column], rows: Callable[[], Rows]) -> int:
    """Write the table :func:`render_text` gives, and a newline, to ``stream`` in bounded
    memory: ``rows()`` is read once (one snapshot, its total row with the rows it sums),
    its cells kept in a scratch file while the widths are measured, then laid out from
    there. Return how many rows were written; none writes nothing."""
    widths = [display_width(column.label) for column in columns]
    count = 0
    with tempfile.TemporaryFile("w+", encoding="utf-8") as scratch:
        read = iter(rows())
        try:
            for row in read:
                cells = _shown(columns, row)
                count += 1
                widths = [
                    max(width, display_width(cell))
                    for width, cell in zip(widths, cells, strict=True)
                ]
                scratch.write(json.dumps(cells, ensure_ascii=False) + "\n")
        finally:  # the rows may hold a database cursor: let it go now, not at collection
            close = getattr(read, "close", None)
            if close is not None:
                close()
        if count:
            scratch.seek(0)
            table = itertools.chain(
                [[column.label for column in columns]], (json.loads(line) for line in scratch)
            )
            for line in _text_lines(columns, widths, table):
                stream.write(line + "\n")
    return count


@contextmanager
def standard_output() -> Iterator[IO[str]]:
    """A scratch file whose text goes to standard output once the block is over: rows read
    from the database inside the block are read whole before a reader of standard output
    that pauses (``| less``) can hold them, so no transaction waits on that reader (SQLite's
    WAL stays free to checkpoint; PostgreSQL keeps no session idle in a transaction). The
    text waits on disk, in the system's temporary folder, not in memory."""
    with tempfile.TemporaryFile("w+", encoding="utf-8", newline="") as scratch:
        yield scratch
        scratch.seek(0)
        shutil.copyfileobj(scratch, sys.stdout)


@contextmanager
def text_file(out: Path) -> Iterator[IO[str]]:
    """A UTF-8 text file that appears at ``out`` complete, or not at all (a listing or a
    statement streamed from the database that fails half-way leaves the file before it);
    :class:`StorageError` if it cannot be written (:func:`unwritable`)."""
    try:
        with atomic_file(out) as stream:
            text = io.TextIOWrapper(stream, encoding="utf-8", newline="")
            try:
                yield text
            finally:
                text.detach()  # flushes; atomic_file still owns and closes the stream
    except OSError as exc:
        raise unwritable(out, exc) from exc


def _shown(columns: Sequence[Column], row: Sequence[Any]) -> list[str]:
    cells = (
        format_yuan(_integer(column, value))
        if column.kind == "money" and value is not None
        else _text(column, value)
        for column, value in zip(columns, row, strict=True)
    )
    return [" ".join(cell.splitlines()) for cell in cells]


def _text_lines(
    columns: Sequence[Column], widths: Sequence[int], table: Iterable[Sequence[str]]
) -> Iterator[str]:
    right = [column.kind != "text" for column in columns]

    def line(cells: Sequence[str]) -> str:
        padded = []
        for cell, width, flush_right in zip(cells, widths, right, strict=True):
            gap = " " * max(width - display_width(cell), 0)
            padded.append(gap + cell if flush_right else cell + gap)
        return "  ".join(padded).rstrip()

    rows = iter(table)
    yield line(next(rows))
    yield "  ".join("-" * width for width in widths)
    for cells in rows:
        yield line(cells)


def _integer(column: Column, value: object) -> int:
    """The value of a money (integer fen) or int cell; anything else is a programming error."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{column.kind} column {column.key} needs an int, not {value!r}")
    return value


def _text(column: Column, value: object) -> str:
    if value is None:
        return ""
    if column.kind == "money":  # plain 1234.56, which Excel and parse_yuan both read back
        return format_yuan(_integer(column, value)).replace(",", "")
    if column.kind == "int":
        return str(_integer(column, value))
    return _cell_text(value)


def _write_csv(
    stream: IO[str],
    columns: Sequence[Column],
    rows: Rows,
    lineterminator: str,
    heading: Sequence[str] = (),
) -> None:
    writer = csv.writer(stream, lineterminator=lineterminator)
    for line in heading:
        writer.writerow([line])
    writer.writerow([column.label for column in columns])
    for row in rows:
        writer.writerow([_text(column, value) for column, value in zip(columns, row, strict=True)])


def _write_json(stream: IO[str], columns: Sequence[Column], rows: Rows) -> None:
    """A JSON array of one object per row, written as the rows come (bounded memory);
    the same text as ``json.dumps(records, ensure_ascii=False, indent=2)``."""

    def cell(column: Column, value: object) -> str | int | None:
        if value is None:
            return None
        return _integer(column, value) if column.kind == "int" else _text(column, value)

    first = True
    for row in rows:
        record = {
            column.key: cell(column, value) for column, value in zip(columns, row, strict=True)
        }
        text = json.dumps(record, ensure_ascii=False, indent=2).replace("\n", "\n  ")
        stream.write(("[\n  " if first else ",\n  ") + text)
        first = False
    stream.write("[]\n" if first else "\n]\n")


def _sheet_title(title: str | None) -> str:
    cleaned = _SHEET_TITLE_FORBIDDEN.sub("_", title or "").strip().strip("'")[:31].strip()
    return cleaned or "Sheet1"


def _write_xlsx(
    stream: BinaryIO,
    columns: Sequence[Column],
    rows: Rows,
    title: str | None,
    heading: Sequence[str] = (),
) -> None:
    book = Workbook(write_only=True)  # rows stream through a temporary file: bounded memory
    sheet = book.create_sheet(_sheet_title(title))
    for number, column in enumerate(columns, 1):
        least = 14 if column.kind == "money" else 10
        width = min(max(display_width(column.label) + 2, least), 60)
        sheet.column_dimensions[get_column_letter(number)].width = width
    sheet.freeze_panes = f"A{len(heading) + 2}"
    bold = Font(bold=True)
    for number, line in enumerate(heading):
        written = WriteOnlyCell(sheet, value=line)
        written.data_type = "s"
        if number == 0:
            written.font = Font(bold=True, size=14)
        sheet.append([written])

    def cell(column: Column, value: object) -> WriteOnlyCell:
        if value is None:
            return WriteOnlyCell(sheet, value=None)
        if column.kind == "money":
            written = WriteOnlyCell(sheet, value=Decimal(_integer(column, value)).scaleb(-2))
            written.number_format = MONEY_FORMAT
            return written
        if column.kind == "int":
            return WriteOnlyCell(sheet, value=_integer(column, value))
        written = WriteOnlyCell(sheet, value=_cell_text(value))
        if written.data_type == "f":  # text such as "=SUM(...)" stays text, never a formula
            written.data_type = "s"
        return written

    header = [WriteOnlyCell(sheet, value=column.label) for column in columns]
    for label in header:
        label.font = bold
    sheet.append(header)
    try:
        for row in rows:
            sheet.append([cell(column, value) for column, value in zip(columns, row, strict=True)])
    except BaseException:
        sheet.close()  # end the row stream cleanly; openpyxl deletes its temporary file at exit
        raise
    book.save(stream)


MAX_PROBLEMS = 50  # a refusal lists this many problems, then counts the rest


def refuse(problems: list[str], what: str, hint: str | None = None, *, total: int = 0) -> None:
    """Refuse a whole batch for its ``problems`` (the first MAX_PROBLEMS are listed);
    ``total`` counts them when more were found than ``problems`` keeps."""
    count = max(total, len(problems))
    if count:
        shown = first_problems(problems, total)
        raise RowsRefused(said(f"rows_refused_{what}", count=count), shown, hint=hint)


def first_problems(problems: list[str], total: int = 0) -> list[str]:
    """The first :data:`MAX_PROBLEMS` of ``problems``, then how many more there are
    (``total`` counts them when more were found than ``problems`` keeps)."""
    shown = problems[:MAX_PROBLEMS]
    more = max(total, len(problems)) - len(shown)
    return [*shown, said("rows_more", count=more)] if more > 0 else shown
