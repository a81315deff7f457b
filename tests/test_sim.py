"""The simulation of a whole province under faults (tests/sim), a short run of it per seed.

Each seed plays its own history of operators' work, sync rounds and every kind of fault
on the real node code, and checks the invariants after every step; the long runs are
made by hand (``make sim SEEDS=...``). A failing seed names its invariant and the command
that replays it. The simulation itself is held to its word: one seed replays exactly,
the shrinker keeps what still fails, and a defect put back into the product is caught.
"""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from sim import FAULTS, Shape, Step, play, replay_command
from sim.shrinking import shrink

import sync.channel
from nodes import rejoin, rejoin_answer, rejoin_request
from nodes.routes import Routes
from nodes.summary import RoundSummary
from sync import changeset
from sync.errors import InputError, NotAuthorized

SEEDS = range(1, 5)
STEPS = 60
"""A few short seeds: ``make sim-ci`` runs 500 longer ones after the suite, in CI."""
SMALL = Shape(cities=1, counties=1, direct=0)
"""The province, 郑州市, 中原区 and the center: enough for a history written by hand
that only those play in, at a quarter of the default province's cost."""


def explain(seed: int, steps: int, shape: Shape, outcome: object) -> str:
    return f"{outcome}\nreplay: {replay_command(seed, steps, shape, FAULTS)}"


@pytest.fixture(scope="module")
def sim_base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One folder per test module: its template province is made once, copied per seed;
    in memory (``/dev/shm``) where there is one, as ``make sim`` runs (see
    tests/bench/bench_sim.py), else on disk."""
    if not Path("/dev/shm").is_dir():
        yield tmp_path_factory.mktemp("sim")
        return
    base = Path(tempfile.mkdtemp(prefix="fiscalsync-test-sim-", dir="/dev/shm"))
    yield base
    shutil.rmtree(base, ignore_errors=True)


@pytest.mark.slow
@pytest.mark.parametrize("seed", SEEDS)
def test_a_seeded_history_under_every_fault_keeps_every_invariant(
    sim_base: Path, seed: int
) -> None:
    shape = Shape()
    outcome = play(sim_base, seed, STEPS, shape)
    assert outcome.failure is None, explain(seed, STEPS, shape, outcome)
    assert outcome.counts.get("round", 0) + outcome.counts.get("province round", 0) > 0


@pytest.mark.slow
def test_a_seeded_history_keeps_every_invariant_on_postgresql(
    tmp_path: Path, pg_url_template: str
) -> None:
    shape = Shape(cities=2, counties=2, direct=1)
    outcome = play(tmp_path, 3, 40, shape, database=pg_url_template)
    assert outcome.failure is None, explain(3, 40, shape, outcome)


def test_one_seed_is_one_history(sim_base: Path) -> None:
    first = play(sim_base, 11, 30)
    again = play(sim_base, 11, 30)
    assert first.failure is None and again.failure is None, first.failure or again.failure
    assert (again.swarm, again.counts, again.fingerprint) == (
        first.swarm,
        first.counts,
        first.fingerprint,
    )
    other = play(sim_base, 12, 30)
    assert other.fingerprint != first.fingerprint


def test_fingerprints_written_in_any_order_compare_equal(tmp_path: Path) -> None:
    """``--fingerprints`` writes one line per seed, whatever order the seeds ran in, and
    ``--compare`` tells the same runs from different ones (exit 1, the seed named)."""
    from sim.__main__ import main

    common = ["--seeds", "2", "--first", "7", "--steps", "12", "--shape", "1x1+0"]
    up, down = tmp_path / "up.txt", tmp_path / "down.txt"
    assert main([*common, "--jobs", "1", "--fingerprints", str(up)]) == 0
    assert main([*common, "--jobs", "1", "--order", "down", "--fingerprints", str(down)]) == 0
    lines = up.read_text(encoding="utf-8").splitlines()
    assert [line.split()[:2] for line in lines] == [["7", "ok"], ["8", "ok"]]
    assert main(["--compare", str(up), str(down)]) == 0
    down.write_text(lines[0] + "\n" + lines[1].replace(" ok ", " convergence ") + "\n")
    assert main(["--compare", str(up), str(down)]) == 1


def test_the_shrinker_keeps_the_fewest_steps_that_still_fail() -> None:
    def fails(steps: list[int]) -> bool:  # fails when steps 3 and 17 are both played
        return 3 in steps and 17 in steps

    assert shrink(list(range(40)), fails) == [3, 17]


def full_disk_histories() -> Iterator[list[Step]]:
    """The province issues to a city; the city's disk fills at its n-th write of the
    round that takes it, for every n up to past the end of that round."""
    for room in range(12):
        yield [
            Step("issue", "410000", (0, 500_000)),
            Step("round", "410000"),
            Step("full", "410100", (room,)),
            Step("round", "410100"),
        ]


def test_a_full_disk_while_a_change_set_is_taken_is_retried_not_refused(sim_base: Path) -> None:
    for history in full_disk_histories():
        outcome = play(sim_base, 1, 0, SMALL, written=history)
        assert outcome.failure is None, (history[2], outcome.failure)
        assert outcome.counts.get("refused", 0) == 0


@pytest.fixture
def refusing_local_failures(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The product with a defect put back: a change-set whose applier failed for a reason
    of the node's own (its disk full) is refused, with a negative receipt."""
    original = sync.channel._apply

    def refuse_anything(conn, verified, authorize, applier):  # type: ignore[no-untyped-def]
        savepoint = conn.begin_nested()
        try:
            authorize(verified.header, verified.signer)
            applier(conn, verified)
        except (NotAuthorized, InputError) as exc:
            savepoint.rollback()
            return "rejected", exc.message
        except Exception as exc:
            savepoint.rollback()
            return "rejected", str(exc)
        savepoint.commit()
        return "applied", None

    monkeypatch.setattr(sync.channel, "_apply", refuse_anything)
    yield
    monkeypatch.setattr(sync.channel, "_apply", original)


@pytest.mark.usefixtures("refusing_local_failures")
def test_a_refusal_for_a_full_disk_is_caught(sim_base: Path) -> None:
    """Some of those full disks strike inside the applier: the refusal is caught."""
    caught = []
    for history in full_disk_histories():
        outcome = play(sim_base, 1, 0, SMALL, written=history)
        if outcome.failure is not None:
            caught.append(outcome.failure)
    assert caught, "the defect went unnoticed"
    assert {f.invariant for f in caught} == {"refused for cause"}, caught
    assert all("410100: refused appropriation seq 1 from 410000" in f.detail for f in caught)


def misrouted_history() -> list[Step]:
    """The province's change-set for 郑州市, taken out of the way down and left in the
    down folder of 中原区 below it, which then runs its round (folder 36 of the list)."""
    return [
        Step("issue", "410000", (0, 500_000)),
        Step("round", "410000"),
        Step("hold", "*", (0, 0)),
        Step("misroute", "*", (0, 36)),
        Step("round", "410102"),
        Step("province round", "*"),
    ]


def test_a_misrouted_change_set_is_not_sent_back_and_still_arrives(sim_base: Path) -> None:
    outcome = play(sim_base, 1, 0, written=misrouted_history())
    assert outcome.failure is None, outcome.failure
    assert outcome.counts["misroute"] == 1


def test_a_relay_back_the_way_it_came_is_caught(
    sim_base: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The product with a defect put back: a relay forgets where a file came from."""
    checked = Routes.refusal

    def forgetting(self: Routes, filename: str, recipient: str, source: str | None) -> str | None:
        return checked(self, filename, recipient, None)

    monkeypatch.setattr(Routes, "refusal", forgetting)
    outcome = play(sim_base, 1, 0, written=misrouted_history())
    assert outcome.failure is not None, "the defect went unnoticed"
    assert outcome.failure.invariant == "no way back", outcome.failure
    assert (
        "410102: relayed" in outcome.failure.detail and "back to 410100" in outcome.failure.detail
    )


def test_a_second_operator_inside_the_first_ones_transaction_cannot_overdraw(
    tmp_path: Path, db_url_template: str | None
) -> None:
    """郑州市 breaks down all it holds; inside that transaction a second process spends a
    third of it. The row lock makes the second wait (and be told the database is busy):
    without it both went through (caught as ``control``, an overdraft)."""
    history = [
        Step("issue", "410000", (0, 500_000)),
        Step("province round", "*"),
        Step("together", "410100", (2, 0, "all", "part")),
        Step("province round", "*"),
    ]
    outcome = play(tmp_path, 1, 0, Shape(2, 1, 0), database=db_url_template, written=history)
    assert outcome.failure is None, outcome.failure
    assert outcome.counts.get("interleaved") == outcome.counts.get("busy") == 1


def test_a_node_restored_with_its_clock_ahead_then_set_right_is_not_voided(sim_base: Path) -> None:
    """郑州市, its clock a day ahead, is restored from its oldest backup (its peers fence
    what it signed before its request, by its own clock); then the faults stop and its
    clock is set right; the receipt it signs for the province's next issue is taken, not
    voided (seed 10006, shrunk)."""
    history = [
        Step("backup", "410100"),
        Step("province round", "*"),
        Step("round", "410000-dc"),
        Step("skew", "410100", (24,)),
        Step("restore", "410100", ("oldest",)),
        Step("issue", "410000", (364, 3_738_844)),
    ]
    outcome = play(sim_base, 10006, 0, written=history)
    assert outcome.failure is None, outcome.failure
    assert outcome.counts["restored"] == 1


def test_a_node_restored_again_with_its_clock_behind_its_first_restore_rejoins(
    sim_base: Path,
) -> None:
    """郑州市, its clock a day ahead, is restored and rejoins: its peers fence what it
    signed before that request, dated by its clock. Its disk is lost again, and it is
    restored from the same backup on a machine whose clock is right, so its new request is
    dated before the fence its peers hold. They tell it so, and it asks again dated after
    the fence: what it signs from then on is taken, not void (seed 400 of the CI setting
    played this, two restores of 410181 at one moment, and never went quiet)."""
    history = [
        Step("backup", "410100"),
        Step("province round", "*"),
        Step("province round", "*"),
        Step("skew", "410100", (24,)),
        Step("restore", "410100", ("latest",)),
        Step("province round", "*"),
        Step("province round", "*"),
        Step("skew", "410100", (0,)),
        Step("restore", "410100", ("latest",)),
        Step("issue", "410000", (0, 500_000)),
        Step("province round", "*"),
    ]
    outcome = play(sim_base, 400, 0, SMALL, written=history)
    assert outcome.failure is None, outcome.failure
    assert outcome.counts["restored"] == 2


@pytest.mark.parametrize("seed", [2, 5])
def test_a_node_restored_twice_from_one_copy_at_one_moment_rejoins_whichever_request_comes_first(
    sim_base: Path, seed: int
) -> None:
    """郑州市 is restored, sends its rejoin request, and is restored again from the same
    backup at the same moment: both requests are dated just after the copy's last stamp,
    alike, with two epochs. Its peers take them in whatever order their names sort (the
    seed's keys and epochs decide it: seed 2 brings the province the second restore's
    request first, seed 5 the center). A peer that kept the first restore's fence would
    hold void all 郑州市 signs from then on; its answer names the fence it holds, and the
    node asks again naming it (seed 243 of the CI setting played this, the first
    restore's request taken last by the province, and never went quiet)."""
    history = [
        Step("backup", "410100"),
        Step("province round", "*"),
        Step("province round", "*"),
        Step("restore", "410100", ("latest",)),
        Step("round", "410100"),
        Step("restore", "410100", ("latest",)),
        Step("round", "410100"),
        Step("province round", "*"),
        Step("issue", "410000", (0, 500_000)),
        Step("province round", "*"),
    ]
    outcome = play(sim_base, seed, 0, SMALL, written=history)
    assert outcome.failure is None, outcome.failure
    assert outcome.counts["restored"] == 2


def test_a_delayed_request_of_a_first_restore_with_its_clock_ahead_never_voids_the_second(
    sim_base: Path,
) -> None:
    """郑州市, its clock a day ahead, is restored; its three rejoin requests are held in the
    network. Its disk is lost again and it is restored from the same backup with its clock
    right: its peers fence its new epoch and it rejoins. Then the first restore's requests
    arrive, dated a day later than the live ones. A fence is not replaced by a request of
    another epoch because it is dated later (that clock is not to be trusted for order):
    what 郑州市 signs from then on is taken, not void."""
    outcome = play(sim_base, 402, 0, SMALL, written=delayed_first_restore_history())
    assert outcome.failure is None, outcome.failure
    assert outcome.counts["restored"] == 2


def delayed_first_restore_history() -> list[Step]:
    return [
        Step("backup", "410100"),
        Step("province round", "*"),
        Step("province round", "*"),
        Step("skew", "410100", (24,)),
        Step("restore", "410100", ("latest",)),
        Step("round", "410100"),
        Step("hold", "*", (0, 0)),  # its requests to the province, the center, 中原区
        Step("hold", "*", (0, 0)),
        Step("hold", "*", (0, 0)),
        Step("skew", "410100", (0,)),
        Step("restore", "410100", ("latest",)),
        Step("province round", "*"),
        Step("province round", "*"),
        Step("release", "*", (0, 0)),
        Step("release", "*", (0, 0)),
        Step("release", "*", (0, 0)),
        Step("province round", "*"),
        Step("issue", "410000", (0, 500_000)),
        Step("province round", "*"),
        Step("break_down", "410100", (0, "part")),
        Step("province round", "*"),
    ]


def test_a_delayed_request_without_a_version_never_voids_a_restore_that_asked_with_one(
    sim_base: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As above, but the first restore was by an earlier fiscalsync: its three requests say
    no version (judged by their dates where the fence came from such a request). The
    peers hold the second restore's fence, from requests that said their version: a
    request of another epoch takes its place only by naming it, whatever its version."""
    first: list[str] = []
    start = rejoin_request.start

    def unversioned(
        conn: Any, me: str, signer: Any, folder: Path, peer: str, epoch: str, clock: Any,
        replaces: str | None = None,
    ) -> Any:  # fmt: skip
        body = {"rejoin": "request", **rejoin_request.heads(conn, me, peer), "epoch": epoch}
        return changeset.write_changeset(folder, signer, peer, "rejoin", 1, "", [body], clock)

    def start_earlier_first(node: Any, clock: Any, epoch: str | None = None) -> list[str]:
        with pytest.MonkeyPatch.context() as patch:
            if not first:
                patch.setattr(rejoin_request, "ask", unversioned)
            first.append(node.spec.code)
            return start(node, clock, epoch)

    monkeypatch.setattr(rejoin_request, "start", start_earlier_first)
    monkeypatch.setenv("FISCALSYNC_SIM_KEEP", "1")
    base = sim_base / "unversioned-first"
    outcome = play(base, 402, 0, SMALL, written=delayed_first_restore_history())
    assert first == ["410100", "410100"]
    assert outcome.failure is None, outcome.failure
    with closing(sqlite3.connect(base / "province" / "410100" / "node.db")) as conn:
        (epoch,) = conn.execute("SELECT epoch FROM restore_log ORDER BY id DESC LIMIT 1").fetchone()
    for peer in ("410000", "410102", "410000-dc"):
        with closing(sqlite3.connect(base / "province" / peer / "node.db")) as conn:
            fence = conn.execute(
                "SELECT epoch, versioned FROM rejoin_fence WHERE node = '410100'"
            ).fetchone()
        assert fence == (epoch, 1), peer


def far_ahead_history() -> list[Step]:
    """As above, but the first restore's clock ran 200 hours ahead."""
    return [
        Step("backup", "410100"),
        Step("province round", "*"),
        Step("province round", "*"),
        Step("skew", "410100", (200,)),
        Step("restore", "410100", ("latest",)),
        Step("province round", "*"),
        Step("province round", "*"),
        Step("skew", "410100", (0,)),
        Step("restore", "410100", ("latest",)),
        Step("province round", "*"),
    ]


def test_a_node_restored_again_after_a_restore_far_ahead_rejoins_dating_nothing_ahead(
    sim_base: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The peers keep the fence of the first restore's epoch and say which it is; 郑州市
    asks again naming it, not dated after it: it rejoins, and its peers hold its epoch
    with nothing it signed dated ahead."""
    monkeypatch.setenv("FISCALSYNC_SIM_KEEP", "1")
    base = sim_base / "fence-far-named"
    history = [
        *far_ahead_history(),
        Step("issue", "410000", (0, 500_000)),
        Step("province round", "*"),
        Step("break_down", "410100", (0, "part")),
        Step("province round", "*"),
    ]
    outcome = play(base, 401, 0, SMALL, written=history)
    assert outcome.failure is None, outcome.failure
    city = base / "province" / "410100" / "node.db"
    with closing(sqlite3.connect(city)) as conn:
        epoch, rejoined = conn.execute(
            "SELECT epoch, rejoined_at FROM restore_log ORDER BY id DESC LIMIT 1"
        ).fetchone()
        signed = conn.execute("SELECT max(created_at) FROM outbox").fetchone()[0]
    assert rejoined < "2026-02-15" and signed < "2026-02-15"  # not dated after the fence
    for peer in ("410000", "410102", "410000-dc"):
        with closing(sqlite3.connect(base / "province" / peer / "node.db")) as conn:
            fence = conn.execute("SELECT epoch FROM rejoin_fence WHERE node = '410100'").fetchone()
        assert fence == (epoch,), peer


def test_with_peers_judging_by_time_a_fence_more_than_a_week_ahead_is_quarantined(
    sim_base: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Peers of an earlier fiscalsync (their answers name no fence, and they judge every
    request by its date): asking again after the fence would date everything 郑州市 signs
    from then on as far ahead, so the answers go to quarantine for the operator (set the
    clock right) and nothing is dated ahead; the simulation rightly finds the quarantine
    not bounded by any fault."""
    monkeypatch.setattr(rejoin_answer, "_ordered", lambda request: False)
    monkeypatch.setattr(rejoin, "_fence", lambda first: None)
    monkeypatch.setenv("FISCALSYNC_SIM_KEEP", "1")
    base = sim_base / "fence-far"
    outcome = play(base, 401, 0, SMALL, written=far_ahead_history())
    assert outcome.failure is not None and outcome.failure.invariant == "quarantine bounded"
    with closing(sqlite3.connect(base / "province" / "410100" / "node.db")) as conn:
        held = conn.execute("SELECT reason, detail FROM quarantine").fetchall()
        asked = [row[0] for row in conn.execute("SELECT asked_at FROM rejoin_peer")]
    assert len(held) == 3 and all(r == "restore" and "more than 7 days" in d for r, d in held)
    assert asked and all(a < "2026-02-15" for a in asked)  # not dated after the fence


def test_a_round_that_loops_is_caught_by_the_watchdog(
    sim_base: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The product with a defect put back: a round that sends its outbox again and again
    until its parent is reachable. Cut off, 郑州市's round would never end."""
    from nodes.exchange import Exchange

    sending = Exchange._send_outbox

    def until_through(self: Exchange, summary: RoundSummary, retransmit_now: bool) -> None:
        while True:
            sending(self, summary, True)
            if not any(link.error for link in self.links.values()):
                return

    monkeypatch.setattr(Exchange, "_send_outbox", until_through)
    history = [
        Step("issue", "410000", (0, 500_000)),
        Step("province round", "*"),
        Step("partition", "410100"),
        Step("break_down", "410100", (0, "part")),
        Step("round", "410100"),
    ]
    outcome = play(sim_base, 1, 0, written=history)
    assert outcome.failure is not None, "the defect went unnoticed"
    assert outcome.failure.invariant == "round watchdog", outcome.failure
    assert outcome.failure.detail.startswith("410100: the round ran away"), outcome.failure


def test_a_node_restored_on_postgresql_rejoins_and_keeps_every_invariant(
    tmp_path: Path, pg_url_template: str
) -> None:
    """On PostgreSQL the lost disk takes the node's database with it: 郑州市 is restored
    from its backup at the center into a new database, rejoins, and the province goes on."""
    history = [
        Step("issue", "410000", (0, 500_000)),
        Step("province round", "*"),
        Step("backup", "410100"),
        Step("province round", "*"),
        Step("province round", "*"),
        Step("issue", "410000", (0, 300_000)),
        Step("province round", "*"),
        Step("break_down", "410100", (0, "part")),
        Step("restore", "410100", ("latest",)),
        Step("province round", "*"),
        Step("break_down", "410100", (1, "part")),
    ]
    outcome = play(tmp_path, 1, 0, Shape(2, 1, 0), database=pg_url_template, written=history)
    assert outcome.failure is None, outcome.failure
    assert outcome.counts.get("restored") == 1


def revocation_history() -> list[Step]:
    """A second key of 中原区 (410102) went astray: its certificate is revoked and the
    list published down the tree; the province publishes a code-set extension too."""
    return [
        Step("codeset", "410000", (3,)),
        Step("revoke", "410102"),
        Step("province round", "*"),
        Step("province round", "*"),
    ]


def test_a_revocation_and_a_code_set_reach_every_node(sim_base: Path) -> None:
    outcome = play(sim_base, 1, 0, SMALL, written=revocation_history())
    assert outcome.failure is None, outcome.failure
    assert (outcome.counts["codeset"], outcome.counts["revoke"]) == (1, 1)


def test_a_revoked_certificate_that_verifies_again_is_caught(
    sim_base: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The product with a defect put back: the revocation list is held, but not looked at."""
    from sync.revocation import RevocationList

    monkeypatch.setattr(RevocationList, "is_revoked", lambda self, serial: False)
    outcome = play(sim_base, 1, 0, SMALL, written=revocation_history())
    assert outcome.failure is not None, "the defect went unnoticed"
    assert outcome.failure.invariant == "monotonic trust", outcome.failure
    assert "verifies again" in outcome.failure.detail


def revoked_then_restored_history() -> list[Step]:
    """中原区 (410102) is backed up; then a key of 郑州市 goes astray, its certificate is
    revoked and the list reaches every node, the center included; then 中原区's disk dies
    and it is restored from the backup, which holds the list of its day."""
    return [
        Step("backup", "410102"),
        Step("province round", "*"),
        Step("province round", "*"),
        Step("revoke", "410100"),
        Step("province round", "*"),
        Step("province round", "*"),
        Step("restore", "410102", ("latest",)),
        Step("round", "410102"),
    ]


def test_a_node_restored_from_before_a_revocation_refuses_the_certificate_at_once(
    sim_base: Path,
) -> None:
    """Monotonic trust holds at every step, the restore's included: the restored node
    starts from its keeper's list, not its backup's."""
    outcome = play(sim_base, 1, 0, SMALL, written=revoked_then_restored_history())
    assert outcome.failure is None, outcome.failure
    assert (outcome.counts["revoke"], outcome.counts["restored"]) == (1, 1)


def renewal_history(skew: int = 0) -> list[Step]:
    """郑州市 renews its certificate while its breakdown to 中原区 and its receipt for the
    province's issue are on their way (the receipt held back in the network); then a
    second breakdown is signed with the new key, and the old change-sets arrive."""
    return [
        Step("skew", "410100", (skew,)),
        Step("issue", "410000", (0, 500_000)),
        Step("province round", "*"),
        Step("break_down", "410100", (0, "part")),
        Step("round", "410100"),
        Step("hold", "*", (0, 0)),
        Step("renew", "410100"),
        Step("tick", "*", (3600,)),
        Step("break_down", "410100", (0, "part")),
        Step("release", "*", (0, 0)),
        Step("province round", "*"),
        Step("province round", "*"),
    ]


def test_a_certificate_renewed_with_change_sets_in_flight_keeps_every_invariant(
    sim_base: Path,
) -> None:
    outcome = play(sim_base, 1, 0, SMALL, written=renewal_history())
    assert outcome.failure is None, outcome.failure
    assert outcome.counts["renew"] == 1 and outcome.counts.get("refused", 0) == 0


def test_a_node_whose_clock_runs_slow_keeps_its_certificate_when_renewing(
    sim_base: Path,
) -> None:
    """郑州市's clock runs a day slow: the certificate the province signs for it begins
    after its clock, and is not installed; it goes on with the one it holds."""
    outcome = play(sim_base, 1, 0, SMALL, written=renewal_history(skew=-24))
    assert outcome.failure is None, outcome.failure
    assert outcome.counts["renew"] == outcome.counts["refused"] == 1


def test_a_restored_node_crashed_after_its_last_answer_still_rejoins(sim_base: Path) -> None:
    """中原区 is restored and asks its peers; it crashes in the round that takes the last
    answer, after recording it and before redoing what the answers returned. No answer
    is left to come: the rejoin must still finish, at its next round, or it waits for
    good (seed 443, shrunk: caught as ``convergence``)."""
    keep = [18, 33, 40, 41, 42, 43, 44, 45, 76, 77, 78, 85, 86, 87, 94, 95, 96]
    outcome = play(sim_base, 443, 150, keep=keep, shortest=30)
    assert outcome.failure is None, outcome.failure
    assert outcome.counts["restored"] == 1 and outcome.counts["crashed"] >= 1


@pytest.mark.slow
def test_a_province_and_a_county_restored_days_apart_lose_nothing_between_them(
    sim_base: Path, db_url_template: str | None
) -> None:
    """Seed 110, whole: the province is restored; 410304 answers its rejoin request, and is
    then restored itself (from a backup older than a code set the province published to
    it). The restored county answers the province's request sent again (its fence there:
    nothing past the province's seq 2), and the province, still rejoining, answers the
    county's from its own restored state. The province then takes back its code set (seq
    3) from the county's first answer, with the receipt the county's lost state signed.

    That receipt is void (the county no longer holds the code set), so the code set stays
    unacknowledged and goes to the county again; and the province tells the county which
    of its lost state's change-sets it took back (a *kept* message), which the county's
    fence then lets through. Before, the province held the receipt while the county
    lacked the codes (``exactly-once``), or the county voided the code set every round
    (``convergence``)."""
    outcome = play(sim_base, 110, 142, database=db_url_template)
    assert outcome.failure is None, explain(110, 142, Shape(), outcome)
    assert outcome.counts.get("restored", 0) >= 2


def test_a_code_set_lost_by_the_province_and_a_county_at_once_reaches_the_county(
    sim_base: Path, db_url_template: str | None
) -> None:
    """The province and 中原区 are both restored from backups older than a code set the
    province published. 郑州市 and the center return the province's change-sets to them,
    so the province holds the codes again; the county's copy went with both lost states,
    and nobody holds a change-set to it that could come back. Once rejoined, the province
    sends the code sets it took back to every node again, and the county gets its codes."""
    history = [
        Step("backup", "410102"),
        Step("backup", "410000"),
        Step("province round", "*"),
        Step("province round", "*"),
        Step("codeset", "410000", (3,)),
        Step("province round", "*"),
        Step("province round", "*"),
        Step("province round", "*"),
        Step("restore", "410000", ("latest",)),
        Step("restore", "410102", ("latest",)),
        Step("province round", "*"),
        Step("province round", "*"),
    ]
    outcome = play(sim_base, 110, 0, SMALL, database=db_url_template, written=history)
    assert outcome.failure is None, outcome.failure
    assert outcome.counts.get("restored") == 2


@pytest.mark.parametrize(
    "reporting",
    [("410000", "410102"), ("410000", "410100", "410102")],
    ids=["city-not-reported", "county-after-city"],
)
def test_a_county_reporting_while_or_after_its_city_has_not_is_no_discrepancy(
    sim_base: Path, reporting: tuple[str, ...]
) -> None:
    """中原区 reports with money broken down to it, 郑州市 not (seed 131, shrunk): the
    province's 全辖 holds nothing of 郑州市, which sent no 全辖, and the center's 全省汇总
    it is reconciled with leaves 中原区 out, as that 全辖 would. Or 郑州市 reports before
    中原区: its 全辖 is out of date until it is sent again, as the agent's report job does
    and the simulation before it reconciles; then it matches the center's 市级汇总."""
    history = [
        Step("issue", "410000", (0, 500_000)),
        Step("province round", "*"),
        Step("break_down", "410100", (0, "part")),
        Step("province round", "*"),
    ]
    for code in reporting:
        history += [Step("report", code), Step("province round", "*")]
    outcome = play(sim_base, 131, 0, SMALL, written=history)
    assert outcome.failure is None, outcome.failure


def _snapshot(code: str, **tables: Any) -> Any:
    from sim.invariants import Snapshot

    empty: dict[str, Any] = {}
    fields = dict.fromkeys(
        ("appropriations", "events", "ledger", "outbox", "log", "heads", "relayed", "reports"),
        empty,
    )
    fields.update(tables)
    spooled = frozenset(r.filename for r in fields["outbox"].values() if r.acked_at is None)
    return Snapshot(
        code,
        **fields,
        quarantined=0,
        voided=frozenset(),
        rejoining=False,
        spooled=spooled,
        available={},
    )


def _took_from(sender: str, recipient: str, ident: str) -> tuple[Any, Any]:
    """The snapshots of ``sender``, which queued ``ident`` to ``recipient`` as its first
    code set, and of ``recipient``, which took the one named ``c1`` under that number."""
    from types import SimpleNamespace as Row

    queued = Row(
        id=ident,
        recipient=recipient,
        seq=1,
        kind="codeset",
        acked_at=None,
        filename=f"{ident}.fcs",
        receipt_verdict=None,
        receipt_id=None,
    )
    taken = Row(
        id="c1",
        origin=sender,
        seq=1,
        prev="",
        kind="codeset",
        verdict="applied",
        receipt_id="r1",
        op_count=1,
        reason=None,
    )
    head = Row(seq=1, last_id="c1")
    return (
        _snapshot(sender, outbox={ident: queued}),
        _snapshot(recipient, log={"c1": taken}, heads={sender: head}),
    )


def test_a_node_unchanged_is_checked_again_when_a_peer_it_names_changed() -> None:
    """A node's checks read its peers' snapshots: the node whose own snapshot is the same
    is checked again when the sender it took from changed (here: it now stands by
    another change-set under that number, a fork), and not when nothing it reads did."""
    from sim.invariants import Violation, check_step

    sender, recipient = _took_from("410000", "410100", "c1")
    states = {"410000": sender, "410100": recipient}
    passed: dict[str, Any] = {}
    check_step(states, {}, states, 0, passed=passed)
    check_step(states, dict(states), states, 0, passed=passed)  # nothing changed: passes

    forked, _unchanged = _took_from("410000", "410100", "c2")
    again = {"410000": forked, "410100": recipient}
    with pytest.raises(Violation, match="no fork"):
        check_step(again, {"410100": recipient}, ["410100"], 0, passed=passed)


def test_a_node_whose_snapshots_are_the_same_is_not_checked_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import sim.invariants

    sender, recipient = _took_from("410000", "410100", "c1")
    states = {"410000": sender, "410100": recipient}
    passed: dict[str, Any] = {}
    checked = []
    control = sim.invariants._control
    monkeypatch.setattr(
        sim.invariants, "_control", lambda state: checked.append(state.code) or control(state)
    )
    sim.invariants.check_step(states, {}, states, 0, passed=passed)
    sim.invariants.check_step(states, dict(states), states, 0, passed=passed)
    assert checked == ["410000", "410100"]
