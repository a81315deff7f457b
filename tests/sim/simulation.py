"""One seed's run: its history played on a province, the invariants checked after each step.

:func:`play` runs the steps one by one on a fresh :class:`~world.World`, reads the nodes a
step touched and checks the invariants of every step; then the faults stop (partitions
healed, held files put back, clocks true, every node up) and the province gets rounds
until it is quiet, bounded; then the final invariants. The first invariant broken ends
the run with a :class:`Failure` naming it, the step and the way to replay it.
"""

from __future__ import annotations

import os
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from nodes import alerts, rejoin
from nodes.fiscal.appropriations import Allocation, allocate, change, holdings
from nodes.fiscal.ledger import Entry, record
from nodes.fiscal.reconcile.rounds import start_everywhere
from nodes.fiscal.reconcile.statement import load
from nodes.fiscal.reports import generate as generate_report
from nodes.fiscal.reports import region_outdated, submit, submit_region
from nodes.node import Node
from nodes.summary import RoundSummary
from schema.engine import database_failure, reading
from schema.errors import DatabaseBusy, LocalFailure
from schema.tables import code_item, report
from sync.errors import CertificateRejected, HomeError, InputError, KeyMaterialError
from sync.revocation import CRL_FILE
from sync.transports.base import is_temporary
from sync.transports.faulty import Fault
from sync.trust import TrustStore

from .fingerprints import fingerprint
from .history import FAULTS, Step, Swarm, generate
from .invariants import (
    Snapshot,
    Violation,
    check_final,
    check_step,
    read,
    report_receivers,
    require,
    spooled_files,
)
from .world import (
    DEFAULT_SHAPE,
    Crash,
    Runaway,
    Shape,
    SimClock,
    World,
    clear,
    keys_drawn_from,
    make_world,
)

__all__ = ["Failure", "Outcome", "play", "replay_command"]

YEAR = 2026
FUNCS = ("2050201", "2050202", "2100408")
ECON = "50201"
FUND = "111"
SPENT_ON = date(YEAR, 1, 20)
PERIOD = "2026-01"  # over when the simulation starts: reported, and corrected
LATENESS = ("late_receipt", "late_breakdown")
"""Findings of reconciliation about time, which faults make true."""
ROUND_READINGS, READINGS_PER_FILE = 200, 30
ROUND_CALLS, CALLS_PER_FILE = 60, 12
"""A round's budget: clock readings and transport calls, a base and so many per file in
its reach (a round seen to spend about 5 readings and 2 calls a file, and some 25 calls
listing its links); past it, the round loops."""
SETTLE_ROUNDS = 40
"""Rounds the province gets to go quiet once the faults stop (it needs a handful)."""


@dataclass
class Failure:
    """An invariant broken at step ``index`` (``len(steps)`` when it broke after them)."""

    invariant: str
    detail: str
    index: int
    step: str


@dataclass
class Outcome:
    """What a run did."""

    seed: int
    swarm: Swarm
    steps: int
    failure: Failure | None = None
    counts: dict[str, int] = field(default_factory=dict)
    settle_rounds: int = 0
    fingerprint: str = ""  # of every change-set queued and taken, and their verdicts


def replay_command(
    seed: int,
    steps: int,
    shape: Shape,
    faults: tuple[str, ...],
    keep: list[int] | None = None,
    shortest: int | None = None,
) -> str:
    """The one command that plays ``seed`` again exactly (only the steps ``keep``, if given)."""
    parts = ["python -m tests.sim", f"--seed {seed}", f"--steps {steps}", f"--shape {shape}"]
    if shortest is not None:
        parts.append(f"--shortest {shortest}")
    if faults != FAULTS:
        parts.append(f"--faults {','.join(faults) or 'none'}")
    if keep is not None:
        parts.append(f"--keep {','.join(map(str, keep))}")
    return " ".join(parts)


class _Run:
    """A history being played on a world."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.states: dict[str, Snapshot] = {}
        self.read_at: dict[str, tuple[int, int]] = {}  # the database's version when read
        self.states = {c: self._read(c) for c in world.codes}
        self.spoilers = 0  # faults that could leave a file in quarantine
        self.held: list[tuple[Path, bytes]] = []  # files taken out of the mailboxes
        self.docs = 0
        self.counts: dict[str, int] = {}
        self.restored: set[str] = set()  # nodes restored since the last check
        self.ever_restored: set[str] = set()
        self.published: list[tuple[str, int, str]] = []  # codes the province sent down
        self.revoked_seen: dict[str, set[int]] = {}  # serials each node's list must hold
        self.owed: dict[str, set[int]] = {}  # held before a restore, not offered to it since
        self.offered: dict[str, frozenset[int]] = {}  # its keeper's list when restored
        self.trusts: dict[str, tuple[bytes, TrustStore]] = {}  # by the list it was loaded with
        self.passed: dict[str, tuple[Snapshot | None, ...]] = {}  # what each node passed on

    # --- steps ----------------------------------------------------------------------------

    def do(self, step: Step) -> set[str]:
        """Play ``step``; return the nodes it may have changed."""
        try:
            return self._do(step)
        finally:
            for host in self.world.hosts.values():
                host.disk_failed = False

    def _do(self, step: Step) -> set[str]:
        self.counts[step.kind] = self.counts.get(step.kind, 0) + 1
        world = self.world
        if step.kind in ("issue", "break_down", "adjust", "spend", "report"):
            self._operate(step)
            return {step.node}
        if step.kind == "codeset":
            number = int(step.args[0])
            self._work_at(step.node, lambda: self.published.extend(world.publish_codes(number)))
            return {step.node}
        if step.kind == "revoke":
            province = world.topology.province.code
            self._work_at(province, lambda: world.revoke_stolen(step.node))
            return {province}
        if step.kind == "renew":
            try:
                world.renew(step.node)
            except KeyMaterialError:  # its clock runs slow: it keeps its certificate
                self.counts["refused"] = self.counts.get("refused", 0) + 1
            return {step.node}
        if step.kind == "together":
            self._together(step)
            return {step.node}
        if step.kind == "round":
            self._round(step.node)
            return {step.node}
        if step.kind == "province round":
            for code in world.codes:
                self._round(code)
            return set(world.codes)
        if step.kind == "tick":
            world.time.advance(timedelta(seconds=int(step.args[0])))
            return set()
        if step.kind == "inject":
            link, fault = step.args
            if world.inject(step.node, str(link), Fault(fault)) and fault in (
                "truncate",
                "corrupt",
                "duplicate",
            ):
                self.spoilers += 1
            return set()
        if step.kind in ("hold", "release", "replay", "misroute"):
            self._delay(step.kind, int(step.args[0]), int(step.args[1]))
            return set()
        if step.kind == "damage":
            self._damage(step.node, str(step.args[0]), str(step.args[1]), int(step.args[2]))
            return set()
        if step.kind == "crash":  # at the n-th clock reading of whatever the node does next
            world.hosts[step.node].clock.arm(int(step.args[0]))
            return set()
        if step.kind == "full":  # at the (n+1)-th write of whatever the node does next
            world.hosts[step.node].room = int(step.args[0])
            return set()
        if step.kind == "backup":
            self._work_at(step.node, lambda: world.back_up(step.node))
            return {step.node}
        if step.kind == "restore":
            offered = world.keepers_crl(step.node)
            if world.lose_and_restore(step.node, step.args[0] == "oldest"):
                self.offered[step.node] = offered
                self.counts["restored"] = self.counts.get("restored", 0) + 1
                self.restored.add(step.node)
                self.ever_restored.add(step.node)
            return {step.node}
        if step.kind == "restart":
            world.restart(step.node)
            return {step.node}
        if step.kind == "partition":
            world.partition(step.node)
            return set()
        if step.kind == "heal":
            world.heal()
            return set()
        if step.kind == "skew":
            skew = timedelta(hours=int(step.args[0]))
            # Never behind the start of the certificate the node holds (one renewed hours
            # ago): it would sign nothing then, refused by its own writer, and park what it
            # cannot acknowledge; a clock that wrong is for its operator to set right.
            floor = world.certificate_begins(step.node) - world.time.now()
            if skew < floor:
                skew = floor
                self.counts["skew held"] = self.counts.get("skew held", 0) + 1
            world.hosts[step.node].clock.skew = skew
            return set()
        raise ValueError(f"unknown step {step}")

    def _work_at(self, code: str, work: Callable[[], object]) -> None:
        """Do ``work`` at node ``code``: refused while it rejoins (it does it once back
        where its peers are), cut short by a crash (restarted) or by its full disk."""
        try:
            work()
        except HomeError:
            self.counts["refused"] = self.counts.get("refused", 0) + 1
        except Crash:
            self.counts["crashed"] = self.counts.get("crashed", 0) + 1
            self.world.restart(code)
        except Exception as exc:
            if not (self.world.hosts[code].disk_failed and _local(exc)):
                raise

    def _doc(self) -> str:
        self.docs += 1
        return f"豫财预〔{YEAR}〕{self.docs}号"

    def _together(self, step: Step) -> None:
        """Two operators at one node: while the first is inside its transaction (at its
        n-th clock reading), a second process spends from the same appropriation."""
        world = self.world
        code = step.node
        after, which, first, second = step.args
        clock = world.hosts[code].clock
        other = world.second_operator(code)
        spending = Step("spend", code, (which, second))

        def meanwhile() -> None:
            self.counts["interleaved"] = self.counts.get("interleaved", 0) + 1
            self._operate(spending, other, clock.twin())

        clock.interrupt(int(after), meanwhile)
        try:
            kind = "break_down" if world.topology.children(code) else "spend"
            self._operate(Step(kind, code, (which, first)))
        finally:
            clock.meanwhile = None
            other.close()

    def _operate(self, step: Step, node: Node | None = None, clock: SimClock | None = None) -> None:
        """An operator's step at ``step.node`` (by default its process, with its clock);
        refused ones (InputError) are part of life, as is a busy or full database."""
        world = self.world
        code = step.node
        node = node or world.node(code)
        clock = clock or world.hosts[code].clock
        try:
            if step.kind == "report":
                self._report(node, clock)
                return
            which, amount = int(step.args[0]), step.args[1]
            if step.kind == "issue":
                children = [c.code for c in world.topology.children(code) if c.role != "center"]
                line = Allocation(
                    children[which % len(children)],
                    int(amount),
                    FUNCS[which % len(FUNCS)],
                    ECON,
                    FUND,
                    self._doc(),
                    YEAR,
                )
                allocate(node, [line], actor="sim", clock=clock)
                return
            if step.kind == "adjust":
                issued = sorted(holdings(node, issued=True), key=lambda h: h.id)
                if not issued:
                    return
                held = issued[which % len(issued)]
                wanted = _amount(amount, held.amount_fen)
                change(
                    node, held.id, str(step.args[2]), wanted, self._doc(), actor="sim", clock=clock
                )
                return
            mine = sorted(holdings(node, issued=False), key=lambda h: h.id)
            if not mine:
                return
            held = mine[which % len(mine)]
            wanted = _amount(amount, held.available_fen)
            if step.kind == "spend":
                entry = Entry(
                    SPENT_ON, "expenditure", held.func_code, wanted, appropriation_id=held.id
                )
                record(node, [entry], actor="sim", clock=clock)
                return
            children = world.topology.children(code)
            line = Allocation(
                children[which % len(children)].code,
                wanted,
                held.func_code,
                ECON,
                FUND,
                self._doc(),
                YEAR,
                parent_id=held.id,
            )
            allocate(node, [line], actor="sim", clock=clock)
        except (InputError, HomeError):  # told why: bad amount, or the node is rejoining
            self.counts["refused"] = self.counts.get("refused", 0) + 1
        except Exception as exc:  # the disk was full, or the database busy: nothing done
            busy = isinstance(exc, DatabaseBusy) or isinstance(database_failure(exc), DatabaseBusy)
            if not (busy or (world.hosts[code].disk_failed and _local(exc))):
                raise
            self.counts["busy" if busy else "failed"] = (
                self.counts.get("busy" if busy else "failed", 0) + 1
            )
        except Crash:
            self.counts["crashed"] = self.counts.get("crashed", 0) + 1
            world.restart(code)

    def _report(self, node: Node, clock: SimClock) -> None:
        """Submit this node's monthly report (月报); once submitted, a correction."""
        with reading(node.engine) as conn:
            submitted = conn.execute(
                sa.select(sa.func.count())
                .select_from(report)
                .where(
                    report.c.node_code == node.spec.code,
                    report.c.period == PERIOD,
                    report.c.state == "submitted",
                )
            ).scalar_one()
        if submitted:
            generate_report(node, PERIOD, actor="sim", clock=clock)
        submit(node, PERIOD, actor="sim", clock=clock)

    def _round(self, code: str, retransmit_now: bool = False) -> RoundSummary:
        """One sync round at ``code``; one that raises stops on a file: liveness is broken;
        one that spends more than its budget (a bound linear in the files it can meet)
        loops: the round watchdog."""
        budget = self.world.hosts[code].budget
        work = self._work(code)
        budget.start(ROUND_READINGS + READINGS_PER_FILE * work, ROUND_CALLS + CALLS_PER_FILE * work)
        try:
            return self.world.exchange(code).run_round(retransmit_now=retransmit_now)
        except Runaway as exc:
            raise Violation(
                "round watchdog", f"{code}: the round ran away ({exc}) with {work} file(s) in reach"
            ) from None
        except Crash:
            self.counts["crashed"] = self.counts.get("crashed", 0) + 1
            self.world.restart(code)
            return RoundSummary()
        except Exception as exc:
            if self.world.hosts[code].disk_failed and _local(exc):
                self.counts["failed"] = self.counts.get("failed", 0) + 1
                return RoundSummary()  # the round rolled back; the next one tries again
            raise Violation(
                "liveness",
                f"{code}: the round stopped: {type(exc).__name__}: {exc}\n{traceback.format_exc()}",
            ) from exc
        finally:
            budget.stop()

    def _work(self, code: str) -> int:
        """The files a round at ``code`` can meet: its spool and mailboxes, and its own
        folders in the mailboxes of the nodes it dials."""
        path = str(self.world.network.path)
        folders = [os.path.join(path, code, "spool"), os.path.join(path, code, "mailboxes")]
        folders += [os.path.join(path, other, "mailboxes", code) for other in self.world.codes]
        return sum(_files_under(folder) for folder in folders)

    def _mailbox_folders(self) -> list[Path]:
        """Every ``up`` and ``down`` folder of every node's mailboxes (there or not yet):
        one pair for each node that dials it, its children, and everyone at the center."""
        topology = self.world.topology
        folders = []
        for host in topology:
            if host.role == "center":
                dialers = [n.code for n in topology if n.code not in (host.code, host.parent)]
            else:
                dialers = [n.code for n in topology.children(host.code)]
            boxes = self.world.network.path / host.code / "mailboxes"
            folders += [boxes / code / way for code in dialers for way in ("up", "down")]
        return sorted(folders)

    def _mailbox_files(self) -> list[Path]:
        return sorted(
            p
            for folder in self._mailbox_folders()
            if folder.is_dir()
            for p in folder.iterdir()
            if p.is_file() and not is_temporary(p.name)
        )

    def _delay(self, kind: str, which: int, where: int) -> None:
        if kind == "misroute":
            folders = self._mailbox_folders()
            if self.held and folders:
                _path, data = self.held[which % len(self.held)]
                target = folders[where % len(folders)] / _path.name
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(data)
                self.spoilers += 1
            return
        if kind == "hold":
            files = self._mailbox_files()
            if files:
                path = files[which % len(files)]
                self.held.append((path, path.read_bytes()))
                path.unlink()
        elif self.held:
            path, data = self.held[which % len(self.held)]
            if kind == "release":
                self.held.remove((path, data))
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)

    def _damage(self, code: str, where: str, how: str, which: int) -> None:
        home = self.world.network.path / code
        if where == "mailbox":
            files = [p for p in self._mailbox_files() if p.is_relative_to(home)]
        else:
            folder = home / "spool" / where
            files = (
                sorted(p for p in folder.iterdir() if p.is_file() and not is_temporary(p.name))
                if folder.is_dir()
                else []
            )
        if not files:
            return
        path = files[which % len(files)]
        data = path.read_bytes()
        self.spoilers += 1
        if how == "lose":
            path.unlink()
        elif how == "truncate":
            path.write_bytes(data[: len(data) // 2])
        elif data:
            bit = which * 7919 % (len(data) * 8)
            spoiled = bytearray(data)
            spoiled[bit // 8] ^= 1 << (bit % 8)
            path.write_bytes(bytes(spoiled))

    # --- checks ---------------------------------------------------------------------------

    def check(self, changed: set[str]) -> None:
        before = {c: s for c, s in self.states.items() if c not in self.restored}
        restored = set(self.restored)
        self.restored.clear()  # a restored node lost its history since its backup
        fresh = {c: self._read(c) for c in sorted(changed)}
        self.states = {**self.states, **fresh}
        check_step(
            self.states,
            before,
            [c for c in self.world.codes if c in changed],
            self.spoilers,
            frozenset(self.ever_restored),
            self.passed,
        )
        self._trust(sorted(changed), restored)

    def _read(self, code: str) -> Snapshot:
        """Node ``code``'s tables: read again only when a transaction committed there
        since they were last read, or the files of its spool's outbox changed."""
        host = self.world.hosts[code]
        version = host.version()
        spooled = spooled_files(self.world.node(code))
        known = self.read_at.get(code)
        state = self.states.get(code)
        if version is not None and known == version and state and state.spooled == spooled:
            return state
        state = read(self.world.node(code), spooled)
        if version is not None:
            self.read_at[code] = version
        return state

    def _trust(self, codes: list[str], restored: set[str]) -> None:
        """Monotonic trust: once a node's revocation list named a certificate, that
        certificate never verifies there again, and the list it holds never goes back to
        one naming fewer; at every step, a node rejoining included.

        Except where no node could know better: a node restored from an older copy holds,
        from the first moment, at least the list its keeper held (and offered it); a
        revocation it knew and its keeper did not have yet is owed to it until the
        province (whose list names every revocation) has answered it, or it has rejoined;
        a revocation the province itself lost in a restore (the list it published gone
        with its outbox, before any peer took it) is owed to nobody until the province
        publishes from its CA folder again."""
        province = self.world.topology.province.code
        for code in codes:
            node = self.world.node(code)
            trust = self._trust_store(code)
            held = trust.crl.serials if trust.crl is not None else frozenset()
            seen = self.revoked_seen.setdefault(code, set())
            owed = self.owed.setdefault(code, set())
            if code in restored:
                lacking = self.offered.pop(code, frozenset()) - held
                require(
                    not lacking,
                    "monotonic trust",
                    f"{code}: restored, its list lacks {sorted(f'{s:x}' for s in lacking)} "
                    "its keeper held",
                )
                owed |= seen - held
                seen.clear()
            if owed and code != province:
                state = rejoin.rejoining(node)
                if state is None or not state.waiting or province not in state.waiting:
                    # the province answered (or it rejoined): what the province holds is due
                    due = owed & self._held(province)
                    seen |= due
                    owed -= due
                    if state is None or not state.waiting:
                        owed.clear()
            elif owed and not self.states[code].rejoining:
                owed.clear()
            dropped = seen - held
            require(
                not dropped,
                "monotonic trust",
                f"{code}: its revocation list no longer names {sorted(f'{s:x}' for s in dropped)}",
            )
            seen |= held
            for cert in self.world.stolen:
                if cert.serial_number not in seen:
                    continue
                try:
                    trust.check_signer(cert)
                except CertificateRejected:
                    continue
                raise Violation(
                    "monotonic trust",
                    f"{code}: the revoked certificate {cert.serial_number:x} verifies again",
                )

    def _held(self, code: str) -> frozenset[int]:
        crl = self._trust_store(code).crl
        return crl.serials if crl is not None else frozenset()

    def _trust_store(self, code: str) -> TrustStore:
        """What node ``code`` trusts as its keys stand (loaded again when its revocation
        list changed), on a clock that reads the node's time without counting."""
        keys = self.world.node(code).home.keys
        try:
            pem = (keys / CRL_FILE).read_bytes()
        except FileNotFoundError:
            pem = b""
        known = self.trusts.get(code)
        if known is None or known[0] != pem:
            known = pem, TrustStore.load(keys, clock=self.world.hosts[code].clock.glance())
            self.trusts[code] = known
        return known[1]

    def check_codes(self) -> None:
        """Code sets delivered: every code the province published is held by every node.

        But for a publication that went with the province's lost state: made after the
        copy it was restored from, and taken by no node before it was lost (nothing holds
        it anywhere, so nothing could bring it back). One that any node holds is owed to
        every node, the province included."""
        held: dict[str, set[tuple[str, int, str]]] = {}
        for code in self.world.codes:
            with reading(self.world.node(code).engine) as conn:
                held[code] = {
                    (row.codeset, row.year, row.code)
                    for row in conn.execute(
                        sa.select(code_item.c.codeset, code_item.c.year, code_item.c.code).where(
                            code_item.c.is_extension.is_(True)
                        )
                    )
                }
        wanted = set(self.published)
        if self.world.topology.province.code in self.ever_restored:
            wanted = {item for item in wanted if any(item in h for h in held.values())}
        for code in self.world.codes:
            require(
                wanted <= held[code],
                "code sets delivered",
                f"{code} lacks {sorted(wanted - held[code])[:4]} of the codes the province "
                "published",
            )

    def settle(self) -> int:
        """Stop the faults and give the province rounds until quiet; return how many."""
        world = self.world
        world.heal()
        for host in world.hosts.values():
            host.clock.skew, host.clock.crash_at, host.room = timedelta(0), None, None
            for faulty in host.faults.values():
                faulty.forget()
        for path, data in self.held:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        self.held.clear()
        return self._until_quiet()

    def reconcile(self) -> None:
        """Once quiet: every node reconciles every edge (上下级对账) and its reports; once
        quiet again, every statement is concluded and finds nothing but lateness (which
        partitions and skewed clocks make real)."""
        world = self.world
        self._send_regions_again()
        started = {}
        for code in world.codes:
            if world.topology.node(code).role != "center":
                node = world.node(code)
                started[code] = start_everywhere(node, clock=world.hosts[code].clock)
        self._until_quiet()
        for code, sessions in started.items():
            for session in sessions:
                statement = load(world.node(code), session)
                found = sorted(
                    {
                        (f.kind, f.subject)
                        for f in statement.findings
                        if f.kind not in LATENESS and not self._restored_behind(f)
                    }
                )
                require(
                    statement.session.state == "concluded" and not found,
                    "reconciled",
                    f"{code} with {statement.session.recipient} "
                    f"({statement.session.dataset}, {statement.session.state}): {found[:6]}",
                )

    def _send_regions_again(self) -> None:
        """Send every 全辖 (逐级) that reports from below outdated again, until none is, as
        the agent's report job does after each period: a 全辖 sent before a county
        reported is out of date, and reconciling it finds that, rightly."""
        world = self.world
        while outdated := [
            code for code in world.codes if region_outdated(world.node(code), PERIOD)
        ]:
            for code in outdated:
                submit_region(world.node(code), PERIOD, actor="sim", clock=world.hosts[code].clock)
            self._until_quiet()

    def _restored_behind(self, finding: Any) -> bool:
        """A recipient behind (下级落后), told as no discrepancy, that was restored here."""
        return (
            finding.kind == "behind"
            and not finding.discrepancy
            and finding.subject in self.ever_restored
        )

    def _until_quiet(self) -> int:
        world = self.world
        idle = 0
        for rounds in range(1, SETTLE_ROUNDS + 1):
            world.time.advance(timedelta(hours=1))
            summary = RoundSummary()
            for code in world.codes:
                summary.add(self._round(code, retransmit_now=idle > 0))
            self.check(set(world.codes))
            if summary.moved == 0:
                if not any(self._unsettled(code) for code in world.codes):
                    return rounds
                idle += 1
            else:
                idle = 0
        stuck = [str(u) for code in world.codes for u in self._unsettled(code)]
        raise Violation(
            "convergence",
            f"not quiet after {SETTLE_ROUNDS} rounds without faults: " + "; ".join(stuck[:8]),
        )

    def _unsettled(self, code: str) -> list[alerts.Unsettled]:
        node = self.world.node(code)
        return alerts.unsettled(node.engine, node.spool, code)


def _files_under(folder: str) -> int:
    """How many files (anything but a folder) are under ``folder``, 0 if it is not there."""
    try:
        entries = os.scandir(folder)
    except OSError:
        return 0
    count = 0
    with entries:
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                count += _files_under(entry.path)
            else:
                count += 1
    return count


def _local(exc: Exception) -> bool:
    """Whether ``exc`` is a failure of this node (as the command line reports it)."""
    return isinstance(exc, LocalFailure) or database_failure(exc) is not None


def _amount(amount: int | str, limit: int) -> int:
    if amount == "part":
        return max(limit // 3, 1)
    if amount == "all":
        return max(limit, 1)
    if amount == "over":
        return max(limit, 0) + 1
    return int(amount)


def play(
    base: Path,
    seed: int,
    steps: int,
    shape: Shape = DEFAULT_SHAPE,
    faults: tuple[str, ...] = FAULTS,
    keep: list[int] | None = None,
    database: str | None = None,
    log: bool = False,
    written: list[Step] | None = None,
    shortest: int | None = None,
) -> Outcome:
    """Play ``seed``'s history (only the steps ``keep``, if given) on a fresh province;
    or the history ``written`` by hand, when given. With ``shortest``, the seed draws
    how many steps its history has, from ``shortest`` to ``steps``."""
    with keys_drawn_from(f"the keys of {seed}"):
        return _play(base, seed, steps, shape, faults, keep, database, log, written, shortest)


def _play(
    base: Path,
    seed: int,
    steps: int,
    shape: Shape,
    faults: tuple[str, ...],
    keep: list[int] | None,
    database: str | None,
    log: bool,
    written: list[Step] | None,
    shortest: int | None,
) -> Outcome:
    world = make_world(base, shape, seed, database)
    try:
        parents = {s.code: s.parent for s in world.topology}
        swarm, history = generate(seed, steps, world.codes, parents, faults, shortest)
        if written is not None:
            swarm, history = Swarm({}), written
        chosen = range(len(history)) if keep is None else keep
        outcome = Outcome(seed, swarm, len(chosen))
        run = _Run(world)
        index = -1
        step = "settling"
        try:
            for index in chosen:
                step = str(history[index])
                if log:
                    print(f"{index:5d}  {step}")
                run.check(run.do(history[index]))
            index, step = len(history), "settling"
            outcome.settle_rounds = run.settle()
            step = "final"
            check_final(run.states, report_receivers(world))
            run.check_codes()
            step = "reconciling"
            run.reconcile()
        except Violation as exc:
            outcome.failure = Failure(exc.invariant, exc.detail, index, step)
        outcome.counts = run.counts
        outcome.fingerprint = fingerprint(run.states)
        return outcome
    finally:
        world.close()
        if not os.environ.get("FISCALSYNC_SIM_KEEP"):
            clear(base / "province", database)
