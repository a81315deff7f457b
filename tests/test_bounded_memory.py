"""Commands over any number of rows in bounded memory: a batch is read once, a line at a
time, and written in chunks in one transaction; listings stream their rows.

On a ``network init`` demo province, on SQLite and on PostgreSQL. Nothing here times
anything: what is checked is that the work is done from one pass over a generator, in
chunks and blocks smaller than the data, with the same result as before.
"""

from __future__ import annotations

import json
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from cli import cli
from nodes import Node
from nodes.fiscal import appropriations
from nodes.fiscal.appropriations import duplicates, issuing, listings
from nodes.fiscal.appropriations.issuing import Allocation
from nodes.network import Network, sync_network
from schema.channels import outbox
from schema.tables import appropriation, appropriation_event
from schema.types import format_yuan
from sync.errors import RowsRefused

FUNCS = ("2050201", "2050202", "2050203", "2080101", "2100101")
RECIPIENTS = ("410100", "410102", "410181")  # a city, a county below it, a managed county


def lines(count: int, first_doc: int = 1) -> Iterator[Allocation]:
    """``count`` distinct lines of varied codes, 文号 and amounts, made as they are read."""
    for number in range(count):
        yield Allocation(
            recipient=RECIPIENTS[number % len(RECIPIENTS)],
            amount_fen=100 + (number * 7919) % 9_999_901,
            func=FUNCS[number % len(FUNCS)],
            econ="50201" if number % 2 else "51301",
            fund="111",
            doc=f"豫财{'预教社'[number % 3]}〔2026〕{first_doc + number // 7}号",
            year=2026,
            title=f"第{number}行",
        )


class Once:
    """An iterable that can be iterated only once, as a generator or a pipe can."""

    def __init__(self, items: Iterator[Allocation]) -> None:
        self.items = items
        self.passes = 0

    def __iter__(self) -> Iterator[Allocation]:
        self.passes += 1
        assert self.passes == 1, "the lines were read twice"
        return self.items


def test_a_batch_is_issued_from_one_pass_over_a_generator(
    province: Network, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(issuing, "BATCH", 40)  # many chunks from a few lines
    count = 250
    expected = sum(line.amount_fen for line in lines(count))
    given = Once(lines(count))
    progress: list[tuple[int, int]] = []
    with Node.open(province.path / "410000") as node:
        ids = appropriations.allocate(
            node, given, actor="test", progress=lambda done, total: progress.append((done, total))
        )
        with node.engine.connect() as conn:
            rows = conn.execute(
                sa.select(
                    appropriation.c.id, appropriation.c.recipient, appropriation.c.title
                ).order_by(appropriation.c.id)
            ).all()
            events = conn.execute(
                sa.select(sa.func.count(), sa.func.sum(appropriation_event.c.amount_fen))
            ).one()
            sent = conn.execute(
                sa.select(outbox.c.recipient, outbox.c.kind).order_by(outbox.c.recipient)
            ).all()
    assert given.passes == 1
    assert len(ids) == count and ids.total_fen == expected
    assert ids.recipients == set(RECIPIENTS)
    assert list(ids) == [f"410000-2026-{n:06d}" for n in range(1, count + 1)]
    assert ids[0] == "410000-2026-000001" and ids[-1] == f"410000-2026-{count:06d}"
    assert ids[1:3] == ["410000-2026-000002", "410000-2026-000003"]
    # in the order of the lines: the line's title names its number
    assert [(r.recipient, r.title) for r in rows] == [
        (line.recipient, line.title) for line in lines(count)
    ]
    assert (events[0], int(events[1])) == (count, expected)
    # one change-set per recipient, and the copy (抄送) to the city of what its county got
    assert [tuple(s) for s in sent] == [
        ("410100", "appropriation"),
        ("410100", "copy"),
        ("410102", "appropriation"),
        ("410181", "appropriation"),
    ]
    assert progress[-1] == (count, count) and len(progress) == -(-count // 40)
    assert sync_network(province.path, until_quiet=True, max_rounds=20).quiet
    for code in RECIPIENTS:
        with Node.open(province.path / code) as node:
            held = appropriations.holdings(node, issued=False, year=2026)
        want = [line for line in lines(count) if line.recipient == code]
        assert [h.amount_fen for h in held] == [line.amount_fen for line in want]
        assert [h.available_fen for h in held] == [line.amount_fen for line in want]


def test_a_refused_batch_names_the_first_problems_counts_all_and_writes_nothing(
    province: Network, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(issuing, "BATCH", 40)

    def batch() -> Iterator[Allocation]:
        yield from lines(100)
        for number in range(120):  # each with an unknown functional code
            yield Allocation(
                "410100", 100 + number, "2059998", "50201", "111", "豫财预〔2026〕999号", 2026
            )
        yield next(lines(1))  # repeats line 1, two hundred lines and several chunks later

    with Node.open(province.path / "410000") as node:
        with pytest.raises(RowsRefused) as refused:
            appropriations.allocate(node, Once(batch()), actor="test")
        with node.engine.connect() as conn:
            assert conn.execute(sa.select(sa.func.count()).select_from(appropriation)).scalar() == 0
            assert conn.execute(sa.select(sa.func.count()).select_from(outbox)).scalar() == 0
    assert refused.value.message.startswith("121 problem(s), nothing issued")
    shown = refused.value.problems
    assert shown[0].startswith("line 101: functional classification")
    assert shown[-1] == "... and 71 more"
    spooled = province.path / "410000" / "spool" / "outbox"
    assert not spooled.exists() or not any(spooled.iterdir())  # no change-set file written
    # the repeat is named apart from the first 50 problems of the codes
    again = appropriations.allocate
    with Node.open(province.path / "410000") as node, pytest.raises(RowsRefused) as repeat:
        again(node, Once(batch_with_repeat()), actor="test")
    assert repeat.value.problems == [
        "line 101: repeats line 1 (the same 文号, recipient, function and amount)"
    ]
    assert "--allow-duplicate" in (repeat.value.hint or "")


def batch_with_repeat() -> Iterator[Allocation]:
    yield from lines(100)
    yield next(lines(1))


def test_listings_stream_in_blocks_with_the_balances_of_each_block(
    province: Network, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(listings, "STREAM_ROWS", 7)  # blocks much smaller than the listing
    count = 60
    with Node.open(province.path / "410000") as node:
        appropriations.allocate(node, lines(count), actor="test")
    assert sync_network(province.path, until_quiet=True, max_rounds=20).quiet
    city_lines = [line for line in lines(count) if line.recipient == "410100"]
    with Node.open(province.path / "410100") as node:
        received = listings.iter_holdings(node, issued=False, year=2026)
        assert isinstance(received, Iterator)  # a lazy iterator, not a list
        first = next(received)
        down = [
            Allocation("410102", first.amount_fen // 3, first.func_code, "50201", "111",
                       "郑财预〔2026〕5号", 2026, parent_id=first.id)
        ]  # fmt: skip
        received.close()
        appropriations.allocate(node, down, actor="test")
        held = list(listings.iter_holdings(node, issued=False, year=2026))
    assert [h.amount_fen for h in held] == [line.amount_fen for line in city_lines]
    assert held[0].available_fen == first.amount_fen - first.amount_fen // 3
    assert [h.available_fen for h in held[1:]] == [line.amount_fen for line in city_lines[1:]]

    runner = CliRunner()
    home = ["--home", str(province.path / "410000"), "appropriations", "--issued"]
    as_json = runner.invoke(cli, [*home, "--format", "json"])
    assert as_json.exit_code == 0, as_json.stderr
    records = json.loads(as_json.output)
    assert [r["id"] for r in records] == [f"410000-2026-{n:06d}" for n in range(1, count + 1)]
    target = tmp_path / "issued.json"
    to_file = runner.invoke(cli, [*home, "--format", "json", "-o", str(target)])
    assert to_file.exit_code == 0 and f"已将 {count} 行写入" in to_file.stderr
    assert json.loads(target.read_text(encoding="utf-8")) == records
    table = runner.invoke(cli, home)
    assert table.exit_code == 0
    shown = table.output.splitlines()
    assert len(shown) == count + 2 and set(shown[1]) == {"-", " "}
    assert [line.split()[0] for line in shown[2:]] == [r["id"] for r in records]
    empty = runner.invoke(cli, ["--home", str(province.path / "410181"), "appropriations",
                                "--issued", "--lang", "en"])  # fmt: skip
    assert empty.output == "No appropriations issued.\n"


# A command line run in a fresh interpreter that reports its own peak RSS (VmHWM) as it
# exits, with the blocks it works in made small (as the tests above do by monkeypatch), so
# that a few thousand rows are many blocks and holding every row would show.
PEAK_RUNNER = """
import atexit, sys
def peak():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            sys.stderr.write("VMHWM_KB " + line.split()[1] + "\\n")
atexit.register(peak)
from nodes.fiscal.appropriations import issuing, listings
issuing.BATCH = 500
listings.STREAM_ROWS = 500
from nodes.fiscal.appropriations import direct
direct.STREAM_ROWS = 500
from nodes.fiscal import ledger
ledger.CHUNK = 500
from cli import cli
cli(sys.argv[1:], prog_name="fiscalsync")
"""

BATCH_RECIPIENTS = ("410100", "410300", "410181", "410102", "410122", "410322")


def _write_batch(path: Path, count: int, first_doc: int) -> None:
    """A CSV batch of ``count`` varied lines, 文号 numbered from ``first_doc``."""
    head = "recipient,amount,func,econ,fund,doc,title,year,direct\n"
    with path.open("w", encoding="utf-8") as out:
        out.write(head)
        for n in range(count):
            out.write(
                f"{BATCH_RECIPIENTS[n % 6]},{1 + (n * 7919) % 999_999}.{n % 100:02d},"
                f"{FUNCS[n % len(FUNCS)]},{'50201' if n % 2 else '51301'},111,"
                f"豫财{'预教社'[n % 3]}〔2026〕{first_doc + n // 4}号,第{n}行 {'项' * (n % 40)},"
                f"2026,{'否' if n % 5 == 0 else '是'}\n"
            )


def _peak_mb(home: Path, *args: str) -> float:
    """The peak RSS of one command over ``home`` in a fresh interpreter, in MB."""
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-c", PEAK_RUNNER, "--home", str(home), *args],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    peak = [line for line in done.stderr.splitlines() if line.startswith("VMHWM_KB ")]
    return int(peak[-1].split()[1]) / 1024


@pytest.mark.slow
def test_the_peak_memory_of_allocate_file_and_the_listing_does_not_grow_with_the_rows(
    province: Network, tmp_path: Path
) -> None:
    """The same commands over 2,000 and then 20,000 more rows, blocks of 500: the child's
    own high-water mark may not grow by what holding the extra rows would take (about
    2 KB a line for allocate, 4 KB a row for the JSON listing, 1.3 KB a row for the
    直达资金 report, 20 MB and more here)."""
    home = province.path / "410000"
    small, large = tmp_path / "small.csv", tmp_path / "large.csv"
    _write_batch(small, 2_000, first_doc=1)
    _write_batch(large, 20_000, first_doc=10_000)
    listing = ["appropriations", "--issued", "--format", "json", "-o"]
    direct = ["report", "direct", "--format", "json", "-o"]
    allocate_small = _peak_mb(home, "allocate", "--file", str(small), "--year", "2026")
    list_small = _peak_mb(home, *listing, str(tmp_path / "small.json"))
    direct_small = _peak_mb(home, *direct, str(tmp_path / "direct-small.json"))
    allocate_large = _peak_mb(home, "allocate", "--file", str(large), "--year", "2026")
    list_large = _peak_mb(home, *listing, str(tmp_path / "large.json"))
    direct_large = _peak_mb(home, *direct, str(tmp_path / "direct-large.json"))
    with (tmp_path / "large.json").open(encoding="utf-8") as listed:
        records = json.load(listed)
    assert len(records) == 22_000 and len({r["id"] for r in records}) == 22_000
    with Node.open(home) as node, node.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(appropriation)).scalar() == (
            22_000
        )
    with (tmp_path / "direct-large.json").open(encoding="utf-8") as listed:
        assert len(json.load(listed)) == 22_000 * 4 // 5 + 1  # the 直达 lines, then the total
    grown = {
        "allocate": allocate_large - allocate_small,
        "listing": list_large - list_small,
        "direct": direct_large - direct_small,
    }
    assert max(grown.values()) < 12, (grown, allocate_small, list_small)


def test_the_ledger_listing_streams_its_entries_in_blocks(
    province: Network, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datetime import date

    from nodes.fiscal import ledger

    monkeypatch.setattr(ledger, "STREAM_ROWS", 7)  # blocks much smaller than the listing
    entries = [
        ledger.Entry(
            date(2026, 10, 1 + n % 28), "expenditure", "2050202", 100 + n, "50201", memo=f"第{n}笔"
        )
        for n in range(45)
    ]
    home = province.path / "410102"
    with Node.open(home) as node:
        assert ledger.record(node, entries, actor="test") == 45
        streamed = ledger.iter_entries(node)
        assert isinstance(streamed, Iterator)  # a lazy iterator, not a list
        first = next(streamed)
        streamed.close()
    ordered = sorted(entries, key=lambda e: e.entry_date)  # by date, then as recorded
    assert (first.entry_date, first.memo) == (ordered[0].entry_date, ordered[0].memo)
    listed = CliRunner().invoke(cli, ["--home", str(home), "ledger", "list", "--format", "json"])
    assert listed.exit_code == 0, listed.output
    rows = json.loads(listed.output)
    assert [(r["memo"], r["amount"]) for r in rows] == [
        (e.memo, f"{e.amount_fen // 100}.{e.amount_fen % 100:02d}") for e in ordered
    ]


def test_the_jurisdiction_listing_streams_what_was_received_and_the_copies(
    province: Network, monkeypatch: pytest.MonkeyPatch
) -> None:
    from nodes.fiscal.appropriations import copies

    monkeypatch.setattr(copies, "STREAM_ROWS", 7)  # blocks much smaller than the listing
    count = 60
    with Node.open(province.path / "410000") as node:
        appropriations.allocate(node, lines(count), actor="test")
    assert sync_network(province.path, until_quiet=True, max_rounds=20).quiet
    city = province.path / "410100"
    with Node.open(city) as node:
        shares = copies.iter_jurisdiction(node, 2026)
        assert isinstance(shares, Iterator)  # a lazy iterator, not a list
        shares.close()
        held = copies.jurisdiction(node, 2026)
    own = [line.amount_fen for line in lines(count) if line.recipient == "410100"]
    below = [line.amount_fen for line in lines(count) if line.recipient == "410102"]
    assert [s.amount_fen for s in held if not s.copy] == own
    assert [s.available_fen for s in held if not s.copy] == own
    assert [s.amount_fen for s in held if s.copy] == below  # 抄送 of what went over its head
    listed = CliRunner().invoke(
        cli, ["--home", str(city), "appropriations", "jurisdiction", "--lang", "en"]
    )
    assert listed.exit_code == 0, listed.output
    assert len(listed.output.splitlines()) == 2 + len(own) + len(below) + 1
    total = f"{sum(own) // 100:,}.{sum(own) % 100:02d}"
    assert total in listed.output.splitlines()[-1]


def test_repeats_are_named_exactly_when_the_fixed_size_filter_says_seen_to_every_line(
    province: Network, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The filter of keys seen is approximate: with 64 bits almost every line "may be seen";
    the lines themselves are compared, so only the true repeat is named."""
    monkeypatch.setattr(duplicates.Seen, "BITS", 64)
    monkeypatch.setattr(issuing, "BATCH", 40)
    with Node.open(province.path / "410000") as node:
        with pytest.raises(RowsRefused) as repeat:
            appropriations.allocate(node, Once(batch_with_repeat()), actor="test")
        assert repeat.value.problems == [
            "line 101: repeats line 1 (the same 文号, recipient, function and amount)"
        ]
        issued = appropriations.allocate(node, Once(lines(100)), actor="test")
    assert len(issued) == 100


def _write_ledger(path: Path, count: int) -> tuple[int, int]:
    """A CSV of ``count`` varied entries (expenditures and revenues); their totals in fen."""
    spent = received = 0
    with path.open("w", encoding="utf-8") as out:
        out.write("date,direction,code,econ,amount,memo\n")
        for n in range(count):
            fen = 100 + (n * 7919) % 9_999_901
            if n % 4:
                spent += fen
                line = f"expenditure,{FUNCS[n % len(FUNCS)]},{'50201' if n % 2 else '51301'}"
            else:
                received += fen
                line = "revenue,10199,"
            out.write(
                f"2026-{1 + n % 12:02d}-{1 + n % 28:02d},{line},{fen // 100}.{fen % 100:02d},"
                f"第{n}笔 {'款' * (n % 30)}\n"
            )
    return spent, received


def test_a_ledger_file_is_imported_from_one_pass_in_chunks(
    province: Network, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The file is read once (an iterable that refuses a second pass will do), written a
    chunk at a time, all or nothing; a bad row far down refuses the chunks before it."""
    from nodes.fiscal import ledger

    monkeypatch.setattr(ledger, "CHUNK", 40)
    book = tmp_path / "book.csv"
    spent, received = _write_ledger(book, 250)
    home = province.path / "410102"

    class OnceEntries:
        def __init__(self) -> None:
            self.file = ledger.read_entries(book)
            self.passes = 0

        def __iter__(self) -> Iterator[ledger.Entry]:
            self.passes += 1
            assert self.passes == 1, "the entries were read twice"
            return iter(self.file)

    given = OnceEntries()
    with Node.open(home) as node:
        assert ledger.record(node, given, actor="test") == 250
    assert (given.file.spent_fen, given.file.received_fen) == (spent, received)
    with Node.open(home) as node:
        recorded = ledger.entries(node)
    assert len(recorded) == 250
    assert sum(e.amount_fen for e in recorded if e.direction == "expenditure") == spent
    bad = tmp_path / "bad.csv"
    _write_ledger(bad, 200)
    with bad.open("a", encoding="utf-8") as out:
        out.write("2026-10-01,expenditure,2059998,,1.00,\n")  # row 202: an unknown code
    refused = CliRunner().invoke(
        cli, ["--home", str(home), "ledger", "import", str(bad), "--lang", "en"]
    )
    assert refused.exit_code == 3
    assert "bad.csv row 202: functional classification" in refused.stderr
    with Node.open(home) as node:
        assert len(ledger.entries(node)) == 250  # nothing of the refused file
    more = tmp_path / "more.csv"
    spent, received = _write_ledger(more, 90)
    done = CliRunner().invoke(
        cli, ["--home", str(home), "ledger", "import", str(more), "--lang", "en"]
    )
    assert done.exit_code == 0, done.stderr
    assert done.output == (
        f"Recorded 90 entries from more.csv: expenditure {format_yuan(spent)} 元, "
        f"revenue {format_yuan(received)} 元.\n"
    )


@pytest.mark.slow
def test_the_peak_memory_of_ledger_import_does_not_grow_with_the_rows(
    province: Network, tmp_path: Path
) -> None:
    """``ledger import`` of 2,000 and then 20,000 entries, chunks of 500: the child's own
    high-water mark may not grow by what holding the extra entries would take (about
    1.5 KB an entry, 30 MB here)."""
    home = province.path / "410102"
    small, large = tmp_path / "small.csv", tmp_path / "large.csv"
    _write_ledger(small, 2_000)
    spent, _received = _write_ledger(large, 20_000)
    import_small = _peak_mb(home, "ledger", "import", str(small))
    import_large = _peak_mb(home, "ledger", "import", str(large))
    from nodes.fiscal import ledger

    with Node.open(home) as node:
        assert len(ledger.entries(node)) == 22_000
    assert import_large - import_small < 8, (import_small, import_large)


def plain(fen: int) -> str:
    """An amount as csv and json give it: yuan, two decimals, no grouping."""
    return f"{fen // 100}.{fen % 100:02d}"


def test_the_direct_funds_report_streams_in_blocks_with_the_sums_of_each_block(
    province: Network, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dataclasses import replace

    from nodes.fiscal.appropriations import direct

    monkeypatch.setattr(direct, "STREAM_ROWS", 7)  # blocks much smaller than the report
    count = 40
    given = [replace(line, direct=bool(n % 2)) for n, line in enumerate(lines(count))]
    with Node.open(province.path / "410000") as node:
        appropriations.allocate(node, given, actor="test")
    assert sync_network(province.path, until_quiet=True, max_rounds=20).quiet
    city = [line for line in given if line.recipient == "410100" and line.direct]
    with Node.open(province.path / "410100") as node:
        funds = direct.iter_direct_funds(node, 2026)
        assert isinstance(funds, Iterator)  # a lazy iterator, not a list
        first = next(funds)
        funds.close()
        down = [Allocation("410102", first.received_fen // 4, first.func_code, "50201", "111",
                           "郑财预〔2026〕5号", 2026, parent_id=first.id)]  # fmt: skip
        appropriations.allocate(node, down, actor="test")
        held = list(direct.iter_direct_funds(node, 2026))
    assert [f.received_fen for f in held] == [line.amount_fen for line in city]
    assert held[0].allocated_fen == first.received_fen // 4  # the sums of its own block
    assert [f.balance_fen for f in held[1:]] == [line.amount_fen for line in city[1:]]
    home = ["--home", str(province.path / "410000"), "report", "direct", "--year", "2026"]
    listed = CliRunner().invoke(cli, [*home, "--format", "json"])
    assert listed.exit_code == 0, listed.stderr
    rows = json.loads(listed.output)
    issued = [line for line in given if line.direct]
    assert [r["issued"] for r in rows[:-1]] == [plain(line.amount_fen) for line in issued]
    assert rows[-1]["id"] == "Total"
    assert rows[-1]["issued"] == plain(sum(line.amount_fen for line in issued))
    table = CliRunner().invoke(cli, [*home, "--lang", "en"])
    assert table.exit_code == 0, table.stderr
    shown = table.output.splitlines()
    assert "410000" in shown[0] and len(shown) == 2 + 2 + len(issued) + 1


def test_a_statement_streams_its_findings(
    province: Network, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Every appropriation of a recipient differs: the statement's findings are read from
    the database in blocks as they are written, in every format, the same as before."""
    from nodes.fiscal.reconcile import statement
    from nodes.fiscal.reconcile.protocol import start

    monkeypatch.setattr(statement, "STREAM_ROWS", 3)
    count = 30
    with Node.open(province.path / "410000") as node:
        appropriations.allocate(node, lines(count), actor="test")
    assert sync_network(province.path, until_quiet=True, max_rounds=20).quiet
    with Node.open(province.path / "410100") as node, node.engine.begin() as conn:
        conn.execute(sa.update(appropriation).values(econ_code="50299"))
    with Node.open(province.path / "410000") as node:
        session = start(node, "410100", full=True)
    assert sync_network(province.path, until_quiet=True, max_rounds=20).quiet
    city = sum(1 for line in lines(count) if line.recipient == "410100")
    with Node.open(province.path / "410000") as node:
        found = statement.load(node, session)
        streamed = found.findings
        assert isinstance(streamed, Iterator)  # a lazy iterator, not a list
        next(streamed)
        streamed.close()
        whole = found.as_dict()
    assert len(whole["findings"]) == city
    assert {f["recipient"] for f in whole["findings"]} == {"50299"}
    runner = CliRunner()
    home = ["--home", str(province.path / "410000"), "reconcile", "show"]
    as_json = runner.invoke(cli, [*home, "--format", "json"])
    assert as_json.exit_code == 0, as_json.stderr
    assert json.loads(as_json.output) == whole
    assert as_json.output == json.dumps(whole, ensure_ascii=False, indent=2) + "\n"
    page = tmp_path / "statement.html"
    assert runner.invoke(cli, [*home, "--format", "html", "-o", str(page)]).exit_code == 0
    with Node.open(province.path / "410000") as node:
        assert page.read_text(encoding="utf-8") == statement.render_html(
            statement.load(node, session), node.settings.time_zone
        )
    assert page.read_text(encoding="utf-8").count("&#x27;50299&#x27; held below") == city
    table = runner.invoke(cli, [*home, "--lang", "en"])
    assert table.exit_code == 0, table.stderr
    assert sum("'50299' held below" in line for line in table.output.splitlines()) == city
    target = tmp_path / "findings.csv"
    assert runner.invoke(cli, [*home, "--format", "csv", "-o", str(target)]).exit_code == 0
    assert len(target.read_text(encoding="utf-8").splitlines()) == city + 1


def _distinct_refusals(kind: str, count: int) -> Iterator[Allocation]:
    """``count`` lines each refused for a recipient, or a 文号 too long, no other line has."""
    for number in range(count):
        recipient, doc = "410100", "豫财预〔2026〕1号"
        if kind == "recipient":
            recipient = f"R{number:063d}"  # in no topology
        else:
            doc = f"豫财预〔2026〕{number}号" + "长" * 1_000
        yield Allocation(recipient, 100 + number, "2050202", "50201", "111", doc, 2026)


def _peak_of_refused_allocate(node: Node, kind: str, count: int) -> int:
    tracemalloc.start()
    try:
        with pytest.raises(RowsRefused) as refused:
            appropriations.allocate(node, _distinct_refusals(kind, count), actor="test")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    problems = count * (1 if kind == "recipient" else 2)  # too long, and not a good 文号
    assert refused.value.message.startswith(f"{problems} problem(s), nothing issued")
    return peak


@pytest.mark.parametrize("kind", ["recipient", "doc"])
def test_the_memory_of_a_batch_of_distinct_refused_recipients_or_documents_is_bounded(
    province: Network, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    """A batch keeps what it found of each recipient and 文号 for the lines after, but
    only of the recipients in the topology and the 文号 short enough to be good: a batch
    naming a new unknown recipient, or a new overlong 文号, on every line keeps nothing
    of them, and its peak memory does not grow with its lines."""
    monkeypatch.setattr(issuing, "BATCH", 200)  # the 文号 of a chunk are looked up at once
    with Node.open(province.path / "410000") as node:
        small = _peak_of_refused_allocate(node, kind, 1_000)
        large = _peak_of_refused_allocate(node, kind, 15_000)
    if kind == "recipient":
        assert large - small < 4_000_000, (small, large)
    else:  # less than one overlong 文号 (2 KB) a line, where keeping them took 5 KB a line
        assert large - small < 2_000 * (15_000 - 1_000), (small, large)


def test_a_line_read_back_from_the_spill_is_the_line_spilled(tmp_path: Path) -> None:
    """Every field of a line comes back as written (its label as spilled), and none is
    missing: a field added to a line and not spilled fails here."""
    import dataclasses

    from nodes.fiscal.appropriations.issuing import _LINES, _fields, _Spill, spilled

    made = [
        appropriations.Allocation(
            "410181",
            5,
            "2050201",
            "50201",
            "111",
            "豫财教〔2026〕1号",
            2026,
            "题",
            "special",
            "P1",
            "410000-2026-000001",
            "row 7",
            True,
            "advance",
            "city",
            "财预〔2026〕3号",
        ),  # fmt: skip
        appropriations.Allocation(
            "410102", 7, "2050202", "50299", "111", "豫财教〔2026〕2号", 2027
        ),
    ]
    spill = _Spill(tmp_path)
    try:
        for line in made:
            spill.write(_LINES, _fields(line))
        back = list(spill.lines())
    finally:
        spill.close()
    expected = [dataclasses.replace(line, label=spilled(line.label)) for line in made]
    names = [f.name for f in dataclasses.fields(appropriations.Allocation)]
    assert [[getattr(line, name) for name in names] for line in back] == [
        [getattr(line, name) for name in names] for line in expected
    ]
