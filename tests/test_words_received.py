"""Why a node refused a change-set, as the operator of the node that sent it reads it from
the receipt, in Chinese by default and in English with ``--lang en``: an appropriation's
operation, a step of a reconciliation (对账), a report (报表), a year-end statement
(年终结转). The receipt's English text is what it was before these were said by key, byte
for byte (a receipt is signed, and :func:`nodes.labels.vouched` compares it); and no
module that makes a receipt's refusal raises English of its own again. The problems
``topology check`` lists are said by key too. On SQLite and on PostgreSQL.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from test_appropriations_apply import AT, COUNTY, ID, adjust, issue

from cli import cli
from nodes import Node
from nodes.fiscal.reports.lines import ReportLine
from nodes.labels import Said, labels, named, recalled, said, shown
from nodes.network import Network, sync_network
from schema.channels import outbox
from schema.types import MAX_AMOUNT_FEN, format_yuan
from sync.channel import enqueue
from sync.clock import SYSTEM_CLOCK
from sync.pki import load_signer

ROOT = Path(__file__).resolve().parent.parent


def run(network: Network, code: str, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--home", str(network.path / code), *args])


def send(
    network: Network, origin: str, recipient: str, kind: str, operations: list[dict[str, Any]]
) -> Any:
    """Sign and send one change-set, sync until quiet; its outbox row at the origin."""
    with Node.open(network.path / origin) as node, node.engine.begin() as conn:
        signer = load_signer(node.home.keys)
        written = enqueue(conn, node.spool, signer, recipient, kind, operations, SYSTEM_CLOCK)
    assert sync_network(network.path, until_quiet=True, max_rounds=20).quiet
    with Node.open(network.path / origin) as node, node.engine.connect() as conn:
        return conn.execute(outbox.select().where(outbox.c.id == written.id)).one()


def read_back(row: Any) -> tuple[str, str]:
    """The reason of a refused change-set as its origin reads it: (Chinese, English)."""
    assert row.receipt_verdict == "rejected"
    reason = recalled(row.receipt_reason, row.receipt_reason_said)
    assert isinstance(reason, Said), row.receipt_reason_said
    return reason.said_in(labels("zh")), reason.said_in(labels("en"))


def test_the_english_of_refusals_said_by_key_is_the_text_receipts_signed_before() -> None:
    """Each pair: the f-string the refusal was before, and the message said by key now."""
    ident, kind, amount, left = ID(201), "decrease", -101, 100
    where, number, session, peer = "operation 3", 3, "410000-R000007", "410000"
    me, sender, year, balance, stands = "410000", COUNTY, 2026, 500, 400
    line = ReportLine("expenditure", 2, "20502", 0, 0, 0)
    pairs = [
        (
            f"{kind} of {format_yuan(-amount)} 元 exceeds what is still available of "
            f"{ident} here: {format_yuan(left)} 元",
            said(
                "recv_exceeds_available",
                kind=named("event", kind),
                amount=format_yuan(-amount),
                ident=ident,
                left=format_yuan(left),
            ),
        ),
        (
            f"{kind} of {format_yuan(amount)} 元 takes {ident} past the largest amount "
            f"of one appropriation, {format_yuan(MAX_AMOUNT_FEN)} 元",
            said(
                "recv_over_largest",
                kind=named("event", kind),
                amount=format_yuan(amount),
                ident=ident,
                largest=format_yuan(MAX_AMOUNT_FEN),
            ),
        ),
        (
            f"{where}: {me} may issue only ids it numbers itself ({me}-2026-N), not {ident}",
            said(
                "op_not_own_number",
                where=said("rows_operation", number=number),
                issuer=me,
                prefix=f"{me}-2026-",
                ident=ident,
            ),
        ),
        (
            f"no reconciliation {session} with {peer} waits for this step here "
            f"(a replay, a step out of order, or another node's)",
            said("rc_not_waiting", session=session, peer=peer),
        ),
        (
            f"a reconcile step's cut must be a sequence number, not {-1!r}",
            said("rc_count_bad", key="cut", value=-1),
        ),
        (
            f"operation {number}: the balance of {ident}, {format_yuan(balance)} 元, is more "
            f"than what stands of it: {format_yuan(stands)} 元",
            said(
                "accept_over_standing",
                where=said("rows_operation", number=number),
                ident=ident,
                balance=format_yuan(balance),
                standing=format_yuan(stands),
            ),
        ),
        (
            f"operation {number}: {ident} is not an appropriation of {year} that "
            f"{me} issued to {sender}",
            said(
                "accept_not_issued",
                where=said("rows_operation", number=number),
                ident=ident,
                year=year,
                me=me,
                sender=sender,
            ),
        ),
        (
            f"the report of {COUNTY} came from {me}: a node sends only its own",
            said("rep_not_own", node=COUNTY, origin=me),
        ),
        (
            "expenditure 款 20502 (subtotal): the line appears twice",
            said("rep_line_twice", line=line.describe()),
        ),
        (
            "a revocation change-set carries exactly one {'pem': ...} operation",
            said("revocation_one_pem"),
        ),
        (
            f"report from {me} to {sender} refused: reports go to the parent or the center; "
            f"{sender} is neither for {me}",
            said(
                "policy_refused",
                kind=named("kind", "report"),
                origin=me,
                recipient=sender,
                why=said("policy_report", origin=me, recipient=sender),
            ),
        ),
        (
            '410100: {code} may stand once, in the user name only, e.g. "sftp://fs-{code}@10.41.0.10:22/"',
            said("topo_placeholder", code="410100", placeholder="{code}"),
        ),
    ]
    for before, now in pairs:
        assert str(now) == before
        assert now.said_in(labels("en")) == before  # what --lang en shows
        assert now.said_in(labels("zh")) != before  # and the Chinese is another text


def test_an_appropriation_refused_by_its_recipient_is_read_in_either_language(
    province: Network,
) -> None:
    row = send(province, "410000", COUNTY, "appropriation", [
        issue(ID(201), 100), adjust("decrease", ID(201), 101)])  # fmt: skip
    english = f"decrease of 1.01 元 exceeds what is still available of {ID(201)} here: 1.00 元"
    chinese = f"调减 1.01 元超过 {ID(201)} 在本节点的可用余额 1.00 元"
    assert row.receipt_reason == english
    assert read_back(row) == (chinese, english)
    refused = run(province, "410000", "appropriations", "--refused")
    assert refused.exit_code == 0, refused.output
    assert chinese in refused.output and english not in refused.output
    refused = run(province, "410000", "appropriations", "--refused", "--lang", "en")
    assert english in refused.output and chinese not in refused.output
    # an operation named by its number, nested in the message
    row = send(province, "410000", COUNTY, "appropriation", [
        issue(ID(202), 100), issue(ID(5, "410100"), 100)])  # fmt: skip
    english = f"operation 2: 410000 may issue only ids it numbers itself (410000-2026-N), not {ID(5, '410100')}"
    chinese = (
        f"第 2 项操作：410000 只能下达本级编号的指标（410000-2026-N），不能是 {ID(5, '410100')}"
    )
    assert row.receipt_reason == english
    assert read_back(row) == (chinese, english)


def test_a_reconcile_step_refused_by_its_peer_is_read_in_either_language(
    province: Network,
) -> None:
    session = "410000-R999999"
    row = send(province, "410000", COUNTY, "reconcile", [{"step": "statement", "session": session}])
    english = (
        f"no reconciliation {session} with 410000 waits for this step here "
        "(a replay, a step out of order, or another node's)"
    )
    assert row.receipt_reason == english
    chinese = (
        f"本节点没有与 410000 的对账 {session} 在等待这一步骤（重放、步骤顺序错乱，或属于其他节点）"
    )
    assert read_back(row) == (chinese, english)


def test_a_report_refused_by_its_recipient_is_read_in_either_language(province: Network) -> None:
    row = send(province, COUNTY, "410000", "report", [{"op": "report", "node": "410100"}])
    english = f"the report of 410100 came from {COUNTY}: a node sends only its own"
    chinese = f"410100 的报表来自 {COUNTY}：节点只报送本级报表"
    assert row.receipt_reason == english
    assert read_back(row) == (chinese, english)


def test_a_year_end_statement_refused_by_the_issuer_is_read_in_either_language(
    province: Network,
) -> None:
    unknown = ID(999999)
    statement = {"op": "yearclose", "year": 2026, "id": unknown, "balance": 0,
                 "actor": "operator", "at": AT}  # fmt: skip
    row = send(province, COUNTY, "410000", "yearclose", [statement])
    english = (
        f"operation 1: {unknown} is not an appropriation of 2026 that 410000 issued to {COUNTY}"
    )
    chinese = f"第 1 项操作：{unknown} 不是 410000 下达给 {COUNTY} 的 2026 年度指标"
    assert row.receipt_reason == english
    assert read_back(row) == (chinese, english)


def test_topology_check_lists_its_problems_in_either_language(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(
        '[topology]\nname = "bad"\n\n[[node]]\ncode = "410000"\nname = "河南省"\n'
        'role = "province"\n\n[[node]]\ncode = "410100"\nname = "郑州市"\nrole = "city"\n',
        encoding="utf-8",
    )
    checked = CliRunner().invoke(cli, ["topology", "check", str(bad)])
    assert checked.exit_code == 6, checked.output
    assert f"错误：{bad}：拓扑中有 1 个问题" in checked.stderr
    assert f"{bad}:9：市级节点 410100 没有上级" in checked.stderr
    checked = CliRunner().invoke(cli, ["topology", "check", str(bad), "--lang", "en"])
    assert checked.exit_code == 6, checked.output
    assert f"Error: {bad}: 1 problem in the topology" in checked.stderr
    assert f"{bad}:9: city 410100 has no parent" in checked.stderr


# The modules whose refusals a negative receipt carries to another node's operator, and
# the calls there that may hold English of their own: errors that never leave as they are
# (ValueError, TypeError, KeyError, AssertionError, RuntimeError: a bug, or caught and
# said inside a message by key as its {error}).
RECEIPT_REFUSALS = ("nodes/fiscal", "nodes/appliers.py", "nodes/journal.py", "nodes/policy.py")
INTERNAL = {"ValueError", "TypeError", "KeyError", "AssertionError", "RuntimeError"}


def english_of_its_own(path: Path) -> list[str]:
    """The calls in ``path`` that make an error of English text rather than by key."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", "")
        if not (name.endswith("Error") or name == "NotAuthorized") or name in INTERNAL:
            continue
        given = [*node.args[:1], *(k.value for k in node.keywords if k.arg == "hint")]
        for value in given:
            texts = [value.body, value.orelse] if isinstance(value, ast.IfExp) else [value]
            if any(
                isinstance(t, ast.JoinedStr | ast.BinOp)
                or (isinstance(t, ast.Constant) and isinstance(t.value, str))
                for t in texts
            ):
                named_as = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
                found.append(f"{named_as}:{node.lineno}: {ast.unparse(value)[:80]}")
    return found


def modules(root: Path) -> list[Path]:
    paths = [root / p for p in RECEIPT_REFUSALS]
    return sorted(q for p in paths for q in ([p] if p.is_file() else p.rglob("*.py")))


def test_no_refusal_a_receipt_carries_is_english_of_its_own() -> None:
    found = [f for path in modules(ROOT) for f in english_of_its_own(path)]
    assert found == [], "said by key (nodes.labels.said) instead:\n" + "\n".join(found)


@pytest.mark.parametrize(
    "source",
    [
        'raise InputError(f"{where}: a copy of {ident} is held already")',
        'raise InputError("a reconcile step names its session")',
        'refusal = InputError(said("x"), hint=f"e.g. --doc {doc}")',
        'raise NotAuthorized(f"{a} cannot send" if x else "y")',
    ],
)
def test_the_scan_finds_english_of_its_own(tmp_path: Path, source: str) -> None:
    module = tmp_path / "refusing.py"
    module.write_text(source + "\n", encoding="utf-8")
    assert len(english_of_its_own(module)) == 1


def test_what_check_finds_wrong_with_a_channel_is_said_in_either_language() -> None:
    from nodes.check.inspection import _chain_problems, _Link

    history = [_Link(1, "a" * 64, "accepted", ""), _Link(3, "b" * 64, "accepted", "a" * 64)]
    [unheaded] = _chain_problems(None, history, None)
    assert unheaded == "2 change-set(s) but no channel head"
    assert shown(unheaded, labels("zh")) == "有 2 个变更集，但没有通道头"
    assert shown(unheaded, labels("en")) == "2 change-set(s) but no channel head"
