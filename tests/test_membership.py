"""The network's shape: a node joins, a county moves to provincial management (省直管),
a node retires; each a signed ``topology`` change-set from the province, versioned.

On a ``network init`` province, on SQLite and on PostgreSQL, with the real command line
and real sync rounds; money is checked to conserve every fen across each change.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner, Result
from test_allocate import LINE, listing, settle

from cli import cli
from nodes import Node, NodeHome, keys, membership
from nodes.exchange import Exchange
from nodes.network import Network, database_url_for, sync_network
from nodes.topology import load_topology
from schema.backups import backup_catalogue
from schema.channels import changeset_log, outbox
from sync import pki
from sync.channel import enqueue
from sync.clock import SYSTEM_CLOCK
from sync.pki import load_signer
from sync.trust import TrustStore

NEW = "410183"  # 新密市, joining under 郑州市
CODES = "codeset,year,code,name,parent,level\nfunc,2026,2059901,扩展项目,20599,3\n"


def run(network: Network, code: str, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--home", str(network.path / code), *args])


def net(*args: str) -> Result:
    return CliRunner().invoke(cli, ["network", *args])


def give(network: Network, code: str, to: str, amount: str, doc: str, *extra: str) -> str:
    """Allocate from ``code`` to ``to``; return the new appropriation's id."""
    result = run(
        network, code, "allocate", "--to", to, "--amount", amount, *LINE,
        "--doc", doc, "--year", "2026", *extra,
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    with Node.open(network.path / code) as node, node.engine.connect() as conn:
        return str(
            conn.execute(sa.text("SELECT id FROM appropriation ORDER BY id DESC")).scalars().first()
        )


def taken(network: Network, code: str) -> list[tuple[str, str, int, str]]:
    """What ``code`` took from the province: (kind, verdict, seq, reason), in order."""
    with Node.open(network.path / code) as node, node.engine.connect() as conn:
        rows = conn.execute(
            sa.select(
                changeset_log.c.kind,
                changeset_log.c.verdict,
                changeset_log.c.seq,
                changeset_log.c.reason,
            )
            .where(changeset_log.c.origin == "410000")
            .order_by(changeset_log.c.seq)
        ).all()
    return [(r.kind, r.verdict, r.seq, r.reason or "") for r in rows]


def versions(network: Network) -> dict[str, int]:
    found = {}
    for spec in load_topology(network.path / "topology.toml"):
        with Node.open(network.path / spec.code) as node:
            found[spec.code] = membership.held_version(node)
    return found


def received_total(network: Network, *codes: str) -> int:
    return sum(int(r["amount_fen"]) for c in codes for r in listing(network, c, "received"))


def issued_total(network: Network, code: str) -> int:
    return sum(int(r["amount_fen"]) for r in listing(network, code, "issued"))


def test_a_county_joins_mid_year_and_takes_its_first_appropriation(
    province: Network, db_url_template: str | None, tmp_path: Path
) -> None:
    codes = tmp_path / "ext.csv"
    codes.write_text(CODES, encoding="utf-8")
    assert run(province, "410000", "codes", "import", str(codes)).exit_code == 0
    give(province, "410000", "410100", "1000.00", "豫财预〔2026〕1号")
    settle(province)

    added = net(
        "add-node", str(province.path), "--code", NEW, "--parent", "410100", "--lang", "en",
        *(["--db-url", str(database_url_for(db_url_template, NEW))] if db_url_template else []),
    )  # fmt: skip
    assert added.exit_code == 0, added.stderr
    assert "410183 (新密市) joined under 410100: topology version 1" in added.output
    settle(province)

    # its first change-sets: the topology, the province's extensions, the revocation list
    assert [(k, v) for k, v, _s, _r in taken(province, NEW)] == [
        ("topology", "applied"),
        ("codeset", "applied"),
        ("revocation", "applied"),
    ]
    assert set(versions(province).values()) == {1}
    listed = run(
        province, NEW, "codes", "list", "--codeset", "func", "--year", "2026", "--lang", "en"
    )
    assert "2059901" in listed.output
    with Node.open(province.path / "410100") as city:
        assert NEW in [c.code for c in city.topology.children("410100")]

    received = listing(province, "410100", "received")[0]["id"]
    give(province, "410100", NEW, "400.00", "郑财预〔2026〕1号", "--from", str(received))
    settle(province)
    assert [r["amount_fen"] for r in listing(province, NEW, "received")] == [40_000]
    with Node.open(province.path / "410100") as city, city.engine.connect() as conn:
        waiting = conn.execute(
            sa.select(sa.func.count()).select_from(outbox).where(outbox.c.acked_at.is_(None))
        ).scalar_one()
    assert waiting == 0
    assert issued_total(province, "410000") == received_total(province, "410100") == 100_000
    assert issued_total(province, "410100") == received_total(province, NEW) == 40_000


def test_a_code_set_imported_while_a_county_joins_reaches_it(
    province: Network, db_url_template: str | None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A county that joins while the province imports a code set (the join committed
    after the import opened the province, before it sent anything) gets the code set:
    the import sends to every node of the topology the database holds by then, where it
    sent to those of the topology it was opened with, and the county never got it."""
    from nodes.fiscal import codes as code_sets

    file = tmp_path / "ext.csv"
    file.write_text(CODES, encoding="utf-8")
    read = code_sets.read_csv
    joined: list[Result] = []

    def read_while_joining(*args: Any, **kwargs: Any) -> Any:
        found = read(*args, **kwargs)
        joined.append(
            net(
                "add-node",
                str(province.path),
                "--code",
                NEW,
                "--parent",
                "410100",
                *(
                    ["--db-url", str(database_url_for(db_url_template, NEW))]
                    if db_url_template
                    else []
                ),
            )  # fmt: skip
        )
        return found

    monkeypatch.setattr(code_sets, "read_csv", read_while_joining)
    with Node.open(province.path / "410000") as node:
        assert NEW not in node.topology
        code_sets.import_codes(node, file)
    assert joined[0].exit_code == 0, joined[0].stderr
    settle(province)
    for code in ("410100", "410102", NEW):
        with Node.open(province.path / code) as node:
            assert [i.code for i in code_sets.items(node, "func", 2026) if i.extension] == [
                "2059901"
            ], code


def test_two_imports_of_one_code_set_at_once_both_land(
    province: Network, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two operators importing the same new code at once: the second waits for the
    first and finds its codes (on PostgreSQL it used to insert them too and fail with a
    raw unique-key error); every node holds the code once."""
    import threading
    import time

    from nodes.fiscal import codes as code_sets

    file = tmp_path / "ext.csv"
    file.write_text(CODES, encoding="utf-8")
    store = code_sets.store
    stored = threading.Event()

    def store_and_linger(conn: Any, items: Any) -> Any:
        found = store(conn, items)
        if not stored.is_set():
            stored.set()
            time.sleep(1.5)  # the first operator's transaction stays open meanwhile
        return found

    monkeypatch.setattr(code_sets, "store", store_and_linger)
    done: dict[str, Any] = {}

    def operator(name: str) -> None:
        try:
            with Node.open(province.path / "410000") as node:
                done[name] = code_sets.import_codes(node, file)
        except Exception as exc:  # noqa: BLE001  (what the operator would see)
            done[name] = exc

    first = threading.Thread(target=operator, args=("first",))
    first.start()
    assert stored.wait(10)
    second = threading.Thread(target=operator, args=("second",))
    second.start()
    first.join()
    second.join()
    assert done == {"first": (1, 7), "second": (1, 7)}, done
    settle(province)
    with Node.open(province.path / "410102") as node:
        assert [i.code for i in code_sets.items(node, "func", 2026) if i.extension] == ["2059901"]


def test_a_report_sent_before_its_county_moved_reaches_the_parent_it_was_sent_to(
    province: Network,
) -> None:
    """A county's report of a period it spent under its city, submitted just before the
    province moves it, is taken by that city after the move (it was refused as from a
    node that is not its child, and no one sent it again), and by the center."""
    from nodes.fiscal import reports
    from schema.tables import report

    county, city = "410122", "410100"
    with Node.open(province.path / county) as node:
        sent = reports.submit(node, "2026-10", actor="operator")
    assert sent.recipients == [city, "410000-dc"]
    with Node.open(province.path / "410000") as node:
        membership.publish(node, lambda t: membership.moved(t, county, "410000"))
    settle(province)
    for code in (city, "410000-dc"):
        with Node.open(province.path / code) as node, node.engine.connect() as conn:
            held = conn.execute(
                sa.select(report.c.period, report.c.state).where(report.c.node_code == county)
            ).all()
        assert held == [("2026-10", "received")], code
    with Node.open(province.path / county) as node, node.engine.connect() as conn:
        verdicts = conn.execute(sa.select(outbox.c.recipient, outbox.c.receipt_verdict)).all()
    assert sorted(verdicts) == [("410000-dc", "applied"), (city, "applied")]


def test_a_county_moved_to_provincial_management_still_reconciles_and_conserves(
    province: Network,
) -> None:
    top = give(province, "410000", "410100", "1000.00", "豫财预〔2026〕1号")
    settle(province)
    below = give(province, "410100", "410122", "600.00", "郑财预〔2026〕1号", "--from", top)
    settle(province)

    moved = run(province, "410000", "network", "move-node", "--code", "410122", "--parent",
                "410000", "--lang", "en")  # fmt: skip
    assert moved.exit_code == 0, moved.stderr
    assert "moved under 410000: topology version 1" in moved.output
    settle(province)
    assert set(versions(province).values()) == {1}
    with Node.open(province.path / "410122") as county:
        assert county.spec.parent == "410000"
        assert county.spec.former_parents == ("410100",)

    # the old parent still adjusts what it issued, and reconciles it
    cut = run(
        province, "410100", "adjust", below, "--delta", "-100.00", "--doc", "郑财预〔2026〕2号"
    )
    assert cut.exit_code == 0, cut.stderr
    settle(province)
    statement = run(province, "410100", "reconcile", "--with", "410122", "--wait", "--lang", "en")
    assert statement.exit_code == 0, statement.stderr
    assert "the two sides agree" in statement.output
    # but issues nothing new to it: its new parent does
    again = run(province, "410100", "allocate", "--to", "410122", "--amount", "1.00", *LINE,
                "--doc", "郑财预〔2026〕3号", "--year", "2026", "--from", top)  # fmt: skip
    assert again.exit_code == 3 and "已不在 410100 之下" in again.stderr
    give(province, "410000", "410122", "50.00", "豫财预〔2026〕2号")
    settle(province)

    by_issuer: dict[str, int] = {}
    for row in listing(province, "410122", "received"):
        by_issuer[str(row["issuer"])] = by_issuer.get(str(row["issuer"]), 0) + int(
            row["amount_fen"]
        )
    assert by_issuer == {"410100": 50_000, "410000": 5_000}
    assert issued_total(province, "410000") == received_total(province, "410100") + 5_000
    assert issued_total(province, "410100") == by_issuer["410100"]
    assert listing(province, "410100", "received")[0]["available_fen"] == 50_000


def test_an_older_topology_version_is_refused(province: Network) -> None:
    assert run(province, "410000", "network", "move-node", "--code", "410181",
               "--parent", "410100").exit_code == 0  # fmt: skip
    first = (province.path / "410000" / "topology.toml").read_text(encoding="utf-8")
    assert run(province, "410000", "network", "move-node", "--code", "410181",
               "--parent", "410000").exit_code == 0  # fmt: skip
    settle(province)
    assert set(versions(province).values()) == {2}
    # version 1 signed again by the province (a replay, or an operator's stale copy)
    with Node.open(province.path / "410000") as node, node.engine.begin() as conn:
        enqueue(
            conn, node.spool, load_signer(node.home.keys), "410300", "topology",
            [{"op": "topology", "version": 1, "toml": first}], SYSTEM_CLOCK,
        )  # fmt: skip
    settle(province)
    last = taken(province, "410300")[-1]
    assert last[:2] == ("topology", "rejected")
    assert "topology version 1 is older than version 2, held here" in last[3]
    with Node.open(province.path / "410300") as city:
        assert membership.held_version(city) == 2
        assert city.topology.node("410181").parent == "410000"


@pytest.mark.parametrize(
    ("args", "why"),
    [
        (["add-node", "--code", NEW, "--parent", "410999"], "unknown parent 410999"),
        (["add-node", "--code", "410102", "--parent", "410100"], "410102 (中原区) is already"),
        (["add-node", "--code", NEW, "--parent", "410102"], "410102 is a county"),
        (["move-node", "--code", "410181", "--parent", "410102"], "410102 is a county"),
        (["move-node", "--code", "410100", "--parent", "410102"], "410102 is a county"),
        (["move-node", "--code", "410102", "--parent", "410100"], "under 410100 already"),
        (["move-node", "--code", "410999", "--parent", "410100"], "410999 is not a node"),
        (["retire-node", "--code", "410100"], "410100 still has children"),
    ],
)
def test_bad_changes_are_refused_and_nothing_is_written(
    province: Network, args: list[str], why: str
) -> None:
    before = {p: p.read_bytes() for p in province.path.glob("**/topology.toml")}
    result = net(args[0], str(province.path), *args[1:], "--lang", "en")
    assert result.exit_code == 3, result.output + result.stderr
    lines = result.stderr.splitlines()
    assert lines[0].startswith("Error: ") and why in lines[0], result.stderr
    assert lines[1].startswith("Hint: ") and "Traceback" not in result.stderr
    assert {p: p.read_bytes() for p in province.path.glob("**/topology.toml")} == before
    assert not (province.path / NEW).exists()
    with Node.open(province.path / "410000") as node, node.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(outbox)).scalar_one() == 0


def test_two_operators_at_once_get_two_versions(
    province: Network, db_url_template: str | None
) -> None:
    """An add-node and a move-node started together: each gets its own version, and the
    last holds both changes."""
    command = [sys.executable, "-c", "import sys, cli; sys.exit(cli.main())"]
    extra = ["--db-url", str(database_url_for(db_url_template, NEW))] if db_url_template else []
    runs = [
        subprocess.Popen(
            [*command, "network", "add-node", str(province.path), "--code", NEW,
             "--parent", "410300", *extra],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        ),
        subprocess.Popen(
            [*command, "network", "move-node", str(province.path), "--code", "410122",
             "--parent", "410000"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        ),
    ]  # fmt: skip
    for process in runs:
        _out, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
    with Node.open(province.path / "410000") as node, node.engine.connect() as conn:
        sent = conn.execute(
            sa.select(outbox.c.recipient, outbox.c.kind, outbox.c.filename).where(
                outbox.c.kind == "topology"
            )
        ).all()
        held = node.topology
    numbers = sorted(
        json.loads(line)["version"]
        for line in _operations(node_spool(province), [r.filename for r in sent])
    )
    assert held.version == 2 and NEW in held and held.node("410122").parent == "410000"
    assert sorted(set(numbers)) == [1, 2]
    settle(province)
    assert set(versions(province).values()) == {2}


def node_spool(network: Network) -> Path:
    return network.path / "410000" / "spool" / "outbox"


def _operations(folder: Path, names: list[str]) -> list[str]:
    from sync import changeset

    found = []
    for name in names:
        for op in changeset.iter_operations(folder / name):
            found.append(json.dumps({"version": op["version"]}))
    return found


def test_a_retired_node_is_revoked_closed_and_kept_at_the_center(province: Network) -> None:
    top = give(province, "410000", "410100", "100.00", "豫财预〔2026〕1号")
    settle(province)
    give(province, "410100", "410122", "30.00", "郑财预〔2026〕1号", "--from", top)
    assert run(province, "410122", "backup").exit_code == 0
    settle(province)
    own = load_signer(province.homes["410122"].keys).certificate.serial_number
    config = run(province, "410100", "sftp-config")
    assert config.exit_code == 0, config.stderr
    assert "fs-410122" in config.output and "fs-410102" in config.output

    retired = net("retire-node", str(province.path), "--code", "410122", "--lang", "en")
    assert retired.exit_code == 0, retired.stderr
    assert "410122 retired: certificate revoked" in retired.output
    assert "in flight" not in retired.output  # drained first
    settle(province)
    for spec in load_topology(province.path / "topology.toml"):
        with Node.open(province.path / spec.code) as node:
            assert "410122" not in node.topology
            trust = TrustStore.load(node.home.keys)
            assert trust.crl is not None and own in trust.crl.serials, spec.code
    config = run(province, "410100", "sftp-config")
    assert config.exit_code == 0, config.stderr
    assert "fs-410122" not in config.output and "fs-410102" in config.output
    with Node.open(province.path / "410000-dc") as center, center.engine.connect() as conn:
        kept = conn.execute(
            sa.select(sa.func.count())
            .select_from(backup_catalogue)
            .where(backup_catalogue.c.node == "410122")
        ).scalar_one()
    assert kept >= 1
    assert (province.path / "410122" / "node.toml").is_file()  # its home stays too
    assert issued_total(province, "410100") == 3_000  # what it was given is still on record


def test_a_node_retired_with_change_sets_in_flight_gets_a_statement(province: Network) -> None:
    top = give(province, "410000", "410300", "100.00", "豫财预〔2026〕1号")
    settle(province)
    child = give(province, "410300", "410322", "30.00", "洛财预〔2026〕1号", "--from", top)
    retired = net("retire-node", str(province.path), "--code", "410322", "--no-drain")
    assert retired.exit_code == 0, retired.stderr
    settle(province)
    statements = list((province.path / "410300" / "statements").glob("retired-410322-*.json"))
    assert len(statements) == 1
    statement: dict[str, Any] = json.loads(statements[0].read_text(encoding="utf-8"))
    assert [w["kind"] for w in statement["unacknowledged"]] == ["appropriation"]
    with Node.open(province.path / "410300") as city, city.engine.connect() as conn:
        closed = conn.execute(
            sa.select(outbox.c.receipt_verdict).where(outbox.c.recipient == "410322")
        ).scalars()
        assert list(closed) == ["closed"]
        why = conn.execute(sa.select(outbox.c.receipt_reason).where(outbox.c.recipient == "410322"))
        assert why.scalar_one().startswith("410322 retired (topology version ")  # as ever
    # why it was closed, in the reader's language
    history = run(province, "410300", "appropriations", "show", child)
    assert "410322 已退出（拓扑第 " in history.output, history.output
    history = run(province, "410300", "appropriations", "show", child, "--lang", "en")
    assert "410322 retired (topology version " in history.output, history.output


def test_a_retired_code_does_not_join_again(province: Network) -> None:
    assert net("retire-node", str(province.path), "--code", "410122").exit_code == 0
    settle(province)
    shutil.rmtree(province.path / "410122")  # even with its home gone
    before = (province.path / "410000" / "topology.toml").read_bytes()
    again = net("add-node", str(province.path), "--code", "410122", "--parent", "410100")
    assert again.exit_code == 3
    assert "曾在本网络中并已退出" in again.stderr and "提示：" in again.stderr
    assert (province.path / "410000" / "topology.toml").read_bytes() == before
    assert not (province.path / "410122").exists()


def test_a_node_joining_on_its_own_machine_catches_up_when_it_comes(
    province: Network, db_url_template: str | None
) -> None:
    """``network add-node`` in the province's home: what the new node needs waits for it
    (relayed by its parent once the parent knows it); the node set up afterwards, as on
    its own machine (``init`` with the province's topology, its key and certificate),
    takes it at its first sync."""
    added = run(province, "410000", "network", "add-node", "--code", NEW, "--parent", "410100")
    assert added.exit_code == 0, added.stderr
    with Node.open(province.path / "410000") as node:
        published = node.settings.topology
        assert node.topology.version == 1 and NEW in node.topology
    assert not sync_network(province.path, until_quiet=True, max_rounds=12).quiet  # not yet
    # the parent holds what waits for its new child, in the child's mailbox
    assert list((province.path / "410100" / "mailboxes" / NEW / "down").iterdir())

    url = database_url_for(db_url_template, NEW)
    made = CliRunner().invoke(
        cli,
        ["init", str(province.path / NEW), "--node", NEW, "--topology", str(published),
         *(["--db", str(url)] if url else [])],
    )  # fmt: skip
    assert made.exit_code == 0, made.stderr
    ca = pki.load_root(province.path / "ca", None)
    home = NodeHome(province.path / NEW)
    keys.issue(ca, load_topology(published).node(NEW), home)
    topology_file = province.path / "topology.toml"
    topology_file.write_bytes(published.read_bytes())  # the folder's list of nodes
    settle(province)
    assert [k for k, _v, _s, _r in taken(province, NEW)] == ["topology", "revocation"]


def test_a_province_restored_from_before_a_move_holds_the_topology_it_published(
    province: Network,
) -> None:
    """The province is backed up, then moves 中牟县 under itself (topology version 1), and
    its disk dies. Restored from the backup, it takes its topology change-sets back from
    the nodes (as it takes back every change-set of its own): it holds version 1 again,
    file and database, and rejoins. (It could not take a topology change-set back: the
    restore never ended.)"""
    from test_backup import backup, lose

    from nodes.restore import restore

    assert backup(province, "410000").number == 1
    settle(province)
    moved = run(province, "410000", "network", "move-node", "--code", "410122", "--parent",
                "410000")  # fmt: skip
    assert moved.exit_code == 0, moved.stderr
    settle(province)
    # The operator restores with the topology the network holds now (version 1, as a
    # city's home keeps it): the province's backup has version 0.
    current = province.path.parent / "topology-now.toml"
    shutil.copy(province.path / "410100" / "topology.toml", current)
    url = lose(province, "410000")
    restore(
        "410000", current, province.path / "410000", province.ca_dir / "recovery-kit.pem",
        db_url=url,
    )  # fmt: skip
    settle(province)
    with Node.open(province.path / "410000") as node:
        alerts = node.status().as_dict()["alerts"]
        assert not any(a["kind"] == "restored" for a in alerts), alerts
        assert node.topology.node("410122").parent == "410000"
    assert set(versions(province).values()) == {1}
    assert load_topology(province.path / "410000" / "topology.toml").version == 1


def test_a_forged_change_set_for_an_unknown_node_is_quarantined_not_held(
    province: Network,
) -> None:
    """A file that names the province as its origin and a node 郑州市 does not know, but
    that the province did not sign as it is (a byte changed), arrives at 郑州市 as if
    from above. Only what the province signed
    waits at a relay for the topology that names its recipient: this one is quarantined
    at once, not kept in ``incoming/`` for ever, read again every round."""
    from sync import changeset

    with Node.open(province.path / "410000") as top:
        signer = load_signer(top.home.keys)
    incoming = province.path / "410100" / "spool" / "incoming"
    incoming.mkdir(parents=True, exist_ok=True)
    forged = changeset.write_changeset(
        incoming, signer, "410199", "codeset", 1, "", [{"op": "x"}], SYSTEM_CLOCK
    )
    data = bytearray(forged.path.read_bytes())
    data[-2] ^= 0x01  # what the province signed, changed on its way
    forged.path.write_bytes(bytes(data))
    with Node.open(province.path / "410100") as city:
        exchange = Exchange(city)
        try:
            exchange.run_round()
        finally:
            exchange.close()
        held = [p.name for p in incoming.iterdir()]
        parked = [row.filename for row in city.quarantined()]
    assert forged.path.name not in held
    assert any(name.endswith(forged.path.name) for name in parked), parked


def test_a_restore_refuses_a_later_topology_of_another_network(province: Network) -> None:
    """A later topology given to ``restore`` is taken only when it is this node's own
    network's: another network's, however late its version, is refused, and nothing is
    restored."""
    from test_backup import backup, lose

    from nodes.restore import restore
    from schema.errors import FiscalsyncError

    assert backup(province, "410100").number == 1
    settle(province)
    text = (province.path / "410100" / "topology.toml").read_text(encoding="utf-8")
    other = province.path.parent / "other.toml"
    name = load_topology(province.path / "410100" / "topology.toml").name
    other.write_text(
        text.replace(f'name = "{name}"', 'name = "another"', 1).replace(
            "[topology]\n", "[topology]\nversion = 7\n", 1
        ),
        encoding="utf-8",
    )
    assert load_topology(other).version == 7 and load_topology(other).name == "another"
    url = lose(province, "410100")
    with pytest.raises(FiscalsyncError, match="topology of another"):
        restore(
            "410100", other, province.path / "410100", province.ca_dir / "recovery-kit.pem",
            db_url=url,
        )  # fmt: skip
    assert not (province.path / "410100").exists()
