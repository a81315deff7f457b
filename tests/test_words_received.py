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
from types import SimpleNamespace
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
            "report line expenditure total",
            said("rep_line_named_total", section=named("direction", "expenditure")),
        ),
        (
            f"line operation {number}: 'budget' must be a int, not '5'",
            said(
                "rep_field_kind",
                where=said("rep_line_op", number=number),
                key="budget",
                kind=named("field_type", "int"),
                value="5",
            ),
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
        assert str(now) == before  # the English a receipt signs, byte for byte
        # --lang en shows the same words here: no value these name has an English label
        # other than the value itself (see the next test for one that has)
        assert now.said_in(labels("en")) == before
        assert now.said_in(labels("zh")) != before  # and the Chinese is another text


def test_english_shown_names_a_value_by_its_label_and_the_signed_text_by_the_value() -> None:
    """A value named in a message (:func:`nodes.labels.named`) is in the signed English
    text as the value itself (``yearclose``), and shown with ``--lang en`` by its English
    label (``year close``); the two differ where the label is not the value."""
    refused = said(
        "policy_refused",
        kind=named("kind", "yearclose"),
        origin="410000",
        recipient=COUNTY,
        why=said("policy_yearclose", origin="410000", recipient=COUNTY),
    )
    signed = (
        f"yearclose from 410000 to {COUNTY} refused: a year-end statement goes to a node "
        f"above; {COUNTY} is not above 410000"
    )
    assert str(refused) == signed
    assert refused.said_in(labels("en")) == signed.replace("yearclose", "year close", 1)
    assert refused.said_in(labels("zh")) == (
        f"拒收 410000 发往 {COUNTY} 的年终结转变更集：年终余额报告报送上级；"
        f"{COUNTY} 不是 410000 的上级"
    )
    # a statement's line of another kind, as the issuer refuses it
    line = said(
        "ye_statement_line",
        where=said("rows_operation", number=1),
        kind=named("kind", "yearclose"),
        year=2026,
    )
    assert str(line) == "operation 1: a year-end statement holds only yearclose lines of 2026"
    assert line.said_in(labels("en")) == (
        "operation 1: a year-end statement holds only year close lines of 2026"
    )
    assert line.said_in(labels("zh")) == "第 1 项操作：年终余额报告只含 2026 年度的年终结转行"


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


# The modules whose refusals a negative receipt carries to another node's operator (and
# the keeper's and the membership's, which say theirs to this node's), and the calls there
# that may hold English of their own: errors that never leave as they are (ValueError,
# TypeError, KeyError, AssertionError, RuntimeError: a bug, or caught and said inside a
# message by key as its {error}).
RECEIPT_REFUSALS = (
    "nodes/fiscal",
    "nodes/appliers.py",
    "nodes/journal.py",
    "nodes/policy.py",
    "nodes/keeper.py",
    "nodes/membership.py",
)
INTERNAL = {"ValueError", "TypeError", "KeyError", "AssertionError", "RuntimeError"}


def _our_errors() -> set[str]:
    """The names of every error of ours, named *Error or not (RowsRefused, NotAuthorized)."""
    from schema.errors import DatabaseError  # noqa: F401  (its subclasses are ours too)
    from sync.errors import FiscalsyncError

    found, waiting = set(), [FiscalsyncError]
    while waiting:
        error = waiting.pop()
        found.add(error.__name__)
        waiting.extend(error.__subclasses__())
    return found


ERRORS = _our_errors()


def _is_text(value: ast.expr) -> bool:
    """Whether ``value`` makes text of its own: a string, an f-string, text joined by +."""
    if isinstance(value, ast.IfExp):
        return _is_text(value.body) or _is_text(value.orelse)
    if isinstance(value, ast.BinOp):
        return _is_text(value.left) or _is_text(value.right)
    return isinstance(value, ast.JoinedStr) or (
        isinstance(value, ast.Constant) and isinstance(value.value, str)
    )


def _is_sentence(value: ast.expr) -> bool:
    """Whether ``value`` is text of its own that reads as English words: its literal parts
    hold a space and an ASCII letter. A short technical value is allowed as a message's
    value (a code, ``"-"``, ``"{code}"``, an id pattern ``"410000-2026-N"``, a key such as
    ``"total"``): it names, it does not say, and it reads the same in either language."""
    if isinstance(value, ast.IfExp):
        return _is_sentence(value.body) or _is_sentence(value.orelse)
    if not _is_text(value):
        return False
    literal = "".join(
        part.value
        for part in ast.walk(value)
        if isinstance(part, ast.Constant) and isinstance(part.value, str)
    )
    return " " in literal and any(c.isascii() and c.isalpha() for c in literal)


def _typed(value: ast.expr) -> bool:
    """Whether ``value`` is an option to type (a hint ``--parent 410000``), the same in
    either language."""
    first = value.values[0] if isinstance(value, ast.JoinedStr) and value.values else value
    return isinstance(first, ast.Constant) and str(first.value).startswith("--")


def _name(call: ast.Call) -> str:
    func = call.func
    return func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")


def english_of_its_own(path: Path) -> list[str]:
    """The calls in ``path`` that make an error, or a message said by key, of English text
    rather than by key: an error of ours (or anything raised) given text as its message,
    hint or ``message=``; a ``message=`` of any call given text; a value of :func:`said`
    given an English sentence (see :func:`_is_sentence`)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    raised = {
        id(node.exc)
        for node in ast.walk(tree)
        if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call)
    }
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = _name(node)
        message = [k.value for k in node.keywords if k.arg == "message"]
        if name == "said":
            given = [k.value for k in node.keywords if _is_sentence(k.value)]
        elif name in INTERNAL:
            given = []
        elif name.endswith("Error") or name in ERRORS or id(node) in raised:
            hint = [k.value for k in node.keywords if k.arg == "hint" and not _typed(k.value)]
            given = [v for v in (*node.args[:1], *hint, *message) if _is_text(v)]
        else:
            given = [v for v in message if _is_text(v)]
        named_as = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
        found += [f"{named_as}:{node.lineno}: {ast.unparse(v)[:80]}" for v in given]
    return found


def modules(root: Path) -> list[Path]:
    paths = [root / p for p in RECEIPT_REFUSALS]
    return sorted(q for p in paths for q in ([p] if p.is_file() else p.rglob("*.py")))


def test_no_refusal_a_receipt_carries_is_english_of_its_own() -> None:
    found = [f for path in modules(ROOT) for f in english_of_its_own(path)]
    assert found == [], "said by key (nodes.labels.said) instead:\n" + "\n".join(found)


ENGLISH_OF_ITS_OWN = [
    'raise InputError(f"{where}: a copy of {ident} is held already")',
    'raise InputError("a reconcile step names its session")',
    'refusal = InputError(said("x"), hint=f"e.g. --doc {doc}")',
    'raise NotAuthorized(f"{a} cannot send" if x else "y")',
    # a message said by key, handed an English sentence as a value
    'raise InputError(said("rows_at", where=f"line {number}", what=problem))',
    'raise InputError(said("x", why="not above " + parent))',
    'problem = said("x", what="the line appears twice" if twice else code)',
    # an error of ours not named *Error, raised or made
    'raise RowsRefused(f"{count} rows refused", problems)',
    'refused = NotAuthorized("only the province signs it")',
    'raise Refusal("the node is not a member")',
    # a message= keyword
    'raise InputError(said("x"), message=f"{code} is unknown")',
    'return Answer(message="the channel is quarantined")',
]
SAID_BY_KEY_OR_TECHNICAL = [
    'raise InputError(said("rep_line_named", section=section, code="total"))',
    'raise InputError(said("topo_placeholder", code=code, placeholder="{code}"))',
    'raise InputError(said("x", pattern=f"{me}-{year}-N", where=said("y", n=1)))',
    'raise ValueError(f"{value} is not a whole number")',
    'raise InputError(said("x", key=f"rows_refused_{what}"))',
    'raise InputError(said("city_under_province"), hint=f"--parent {code}")',
]


@pytest.mark.parametrize(
    ("source", "found"),
    [*((s, 1) for s in ENGLISH_OF_ITS_OWN), *((s, 0) for s in SAID_BY_KEY_OR_TECHNICAL)],
)
def test_the_scan_finds_english_of_its_own(tmp_path: Path, source: str, found: int) -> None:
    """Each sample of English of its own is found, once; what is said by key, or a short
    technical value, is let be."""
    module = tmp_path / "refusing.py"
    module.write_text(source + "\n", encoding="utf-8")
    assert len(english_of_its_own(module)) == found


def test_what_check_finds_wrong_with_a_channel_is_said_in_either_language() -> None:
    from nodes.check.inspection import _chain_problems, _Link

    history = [_Link(1, "a" * 64, "accepted", ""), _Link(3, "b" * 64, "accepted", "a" * 64)]
    [unheaded] = _chain_problems(None, history, None)
    assert unheaded == "2 change-set(s) but no channel head"
    assert shown(unheaded, labels("zh")) == "有 2 个变更集，但没有通道头"
    assert shown(unheaded, labels("en")) == "2 change-set(s) but no channel head"


def test_the_chain_of_a_channel_without_ids_says_none_in_either_language() -> None:
    from nodes.check.inspection import _chain_problems, _Link

    history = [_Link(1, "a" * 64, "accepted", ""), _Link(2, "b" * 64, "accepted", "")]
    head = SimpleNamespace(seq=2, last_id="", state=b"")
    prev, unmatched = _chain_problems(head, history, None)
    assert prev == f"seq 2 names predecessor (none) but seq 1 is {'a' * 16}"
    assert shown(prev, labels("zh")) == f"序号 2 所记的前序为 （无），但序号 1 是 {'a' * 16}"
    assert unmatched == f"the head is at seq 2 (none) but the last change-set is seq 2 ({'b' * 16})"
    assert shown(unmatched, labels("zh")) == (
        f"通道头在序号 2（无），但最后一个变更集是序号 2（{'b' * 16}）"
    )


def test_a_report_line_is_described_without_building_the_labels(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every line received is described (to name it if it does not fit): the rank of its
    code is looked up in a table made once, not in all the labels built anew."""
    import nodes.fiscal.reports.lines

    def rebuilt(lang: str = "zh") -> dict[str, str]:
        raise AssertionError("the labels built for a line described")

    monkeypatch.setattr(nodes.fiscal.reports.lines, "labels", rebuilt)
    described = ReportLine("expenditure", 2, "20502", 0, 0, 0).describe()
    assert described == "expenditure 款 20502 (subtotal)"
    assert shown(described, labels("zh")) == "支出款 20502（小计）"
