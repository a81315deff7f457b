"""What a restored node and a backup keeper tell an operator is said in the operator's
language: the alert ``status`` shows while a restored node rejoins (its subject too),
the keeper's refusal of a node it does not keep, and the problems a peer's rejoin answer
names, which travel as English text and, beside it, by key. Through the real command
line on a ``network init`` province (SQLite and PostgreSQL)."""

from __future__ import annotations

from click.testing import CliRunner, Result
from test_backup import CENTER, backup, bring_back, issue, lose, settle

from cli import cli
from nodes.labels import joined, labels, said, shown
from nodes.network import Network
from nodes.rejoin import _notice_detail, _problems

CHINESE = {"LANG": "C.UTF-8", "LC_ALL": None, "LC_MESSAGES": None}
ENGLISH = {"LANG": "en_US.UTF-8", "LC_ALL": None, "LC_MESSAGES": None}


def _run(env: dict[str, str | None], network: Network, code: str, *args: str) -> Result:
    return CliRunner(env=env).invoke(cli, ["--home", str(network.path / code), *args])


def test_a_restored_node_and_its_keeper_speak_the_operators_language(province: Network) -> None:
    issue(province, "410000", "410100", 900_00, "豫财预〔2026〕1号")
    settle(province)
    assert backup(province, "410102").number == 1
    settle(province)
    bring_back(province, "410102", lose(province, "410102"))

    chinese = _run(CHINESE, province, "410102", "status")
    assert chinese.exit_code == 0, chinese.stderr
    (restored,) = [line for line in chinese.output.splitlines() if "备份 #1:" in line]
    assert "已从备份恢复" in restored or "已恢复" in restored, restored
    english = _run(ENGLISH, province, "410102", "status", "--lang", "en")
    (restored,) = [line for line in english.output.splitlines() if "backup #1:" in line]
    assert "restored" in restored, restored
    settle(province)  # rejoined: the alert is gone
    assert "备份 #1:" not in _run(CHINESE, province, "410102", "status").output

    refused = _run(CHINESE, province, CENTER, "backup", "verify", "--node", "410199")
    assert refused.exit_code == 3, refused.output
    assert refused.stderr.splitlines()[-1] == f"错误：{CENTER} 不保管 410199 的备份"
    refused = _run(ENGLISH, province, CENTER, "backup", "verify", "--node", "410199")
    assert refused.stderr.splitlines()[-1] == (
        f"Error: {CENTER} does not keep the backups of 410199"
    )


def test_the_problems_of_a_rejoin_answer_are_read_by_key_when_sent_so() -> None:
    problems = [
        said("rejoin_problem_purged_mine", seq=7, me="410100"),
        said("rejoin_problem_not_sent", seq=3, me="410100"),
    ]
    first = {
        "rejoin": "answer",
        "problems": [str(p) for p in problems],
        "problems_said": [p.as_json() for p in problems],
    }
    read = _problems(first)
    note = said("rejoin_answer_problems", origin="410100", problems=joined(read))
    assert [str(p) for p in read] == [
        "its seq 7 to 410100 was purged here (older than the retention)",
        "the seq 3 it took from 410100 is not the one 410100 sent",
    ]
    assert [shown(p, labels("zh")) for p in read] == [
        "其发给 410100 的序号 7 已在 410100 清理（超过保留期）",
        "其从 410100 收下的序号 3 不是 410100 发出的那个变更集",
    ]
    assert str(note).startswith("410100 answered, with problems: its seq 7 to 410100 was")
    assert shown(note, labels("zh")) == (
        "410100 已应答，但有问题：其发给 410100 的序号 7 已在 410100 清理（超过保留期）；"
        "其从 410100 收下的序号 3 不是 410100 发出的那个变更集"
    )
    # from an earlier fiscalsync (its English text only), or naming what this one does
    # not know: its English text, as sent
    assert _problems({"problems": first["problems"]}) == first["problems"]
    unknown = {**first, "problems_said": [{"m": "no_such_key", "v": {}}, {"m": "x", "v": {}}]}
    assert _problems(unknown) == first["problems"]


def test_a_notice_says_why_by_key_and_in_english_to_an_earlier_reader() -> None:
    why = said("forked_notice", me="410000-dc", name="410102_410000-dc_1_ab.fcs", reason="x")
    first = {"rejoin": "notice", "detail": str(why), "detail_said": why.as_json()}
    english = "410000-dc already took another change-set under the number of 410102_410000-dc"
    assert str(_notice_detail(first)).startswith(english)
    assert shown(_notice_detail(first), labels("zh")) == (
        "410000-dc 已在 410102_410000-dc_1_ab.fcs 的编号下收下了另一个变更集（x）"
    )
    # from an earlier fiscalsync (its English text only), naming a key this one does not
    # know, or longer than a notice is shown: its English text, cut short
    assert _notice_detail({"detail": str(why)}) == str(why)
    unknown = {**first, "detail_said": {"m": "no_such_key", "v": {}}}
    assert _notice_detail(unknown) == str(why)
    long = said("forked_notice", me="410000-dc", name="n.fcs", reason="y" * 600)
    assert _notice_detail({"detail": str(long), "detail_said": long.as_json()}) == str(long)[:500]


def test_a_peers_key_never_shows_another_message_than_its_english() -> None:
    why = said("forked_notice", me="410000-dc", name="410102_410000-dc_1_ab.fcs", reason="x")
    disk_full = said("db_disk_full", error="x").as_json()
    other_values = said("forked_notice", me="EVIL", name="n.fcs", reason="pay now").as_json()
    for by_key in (disk_full, other_values):
        assert _notice_detail({"detail": str(why), "detail_said": by_key}) == str(why)
    problem = said("rejoin_problem_purged_mine", seq=7, me="410100")
    told = {"problems": [str(problem)], "problems_said": [disk_full]}
    assert _problems(told) == [str(problem)]
    # a key far longer than the text it stands beside is not read at all
    bomb: object = {"m": "labelled", "v": {"label": "x" * 10_000, "what": "y"}}
    for _ in range(50):
        bomb = {"m": "labelled", "v": {"label": "x" * 10_000, "what": bomb}}
    assert _notice_detail({"detail": str(why), "detail_said": bomb}) == str(why)
