"""The network's shape changes at the province and flows down: a node joins, moves, retires.

The province holds the topology every node follows. Each change (a node added, a county
moved to provincial management 省直管, a node retired) gives it the next **version** and
goes to every node as a signed change-set of kind ``topology`` carrying the whole file
(:func:`publish`). A node takes a version only above the one its database holds
(:func:`adopt`): an older one, replayed or signed before a later one, is refused with a
negative receipt, and the same version again is taken only if it is the same file. The
file is replaced only by a later version than its own (a home made with the latest
file, or restored beside it, replays the versions before it into its database only).

A node that joins gets, as its first change-sets, everything it needs to work: the
topology itself, the province's code-set extensions (of every year the province holds)
and the current revocation list. A node that leaves the topology (retired) has its
channels closed at every node that still waited for its receipts, with a statement in
``HOME/statements/``. A moved node keeps its former parent in ``former_parents``: what
that parent issued to it is still adjusted and reconciled there.

Two operators changing the topology at once are serialized by the province home's
``topology.lock`` and the version counter's row lock: no two versions share a number.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from nodes import keys
from nodes.home import topology_rows
from nodes.labels import Said, joined, named, said
from nodes.locks import topology_lock
from nodes.node import Node
from nodes.topology import (
    VERSION_COUNTER,
    Endpoint,
    NodeSpec,
    Topology,
    load_topology,
    parse_topology,
)
from schema import tables
from schema.channels import changeset_log, channel_head, outbox
from schema.engine import reading
from schema.locks import lock_scope
from schema.said import kept
from schema.tables import code_change, code_item, counter
from sync import pki
from sync.changeset import Verified
from sync.channel import enqueue
from sync.clock import SYSTEM_CLOCK, Clock
from sync.errors import InputError, TopologyError
from sync.files import write_atomic
from sync.pki import load_signer

__all__ = [
    "KIND",
    "STATEMENTS",
    "Published",
    "Retirement",
    "adopt",
    "follow",
    "added",
    "held_version",
    "moved",
    "publish",
    "retire",
    "retired",
]

KIND = "topology"
COUNTER = VERSION_COUNTER
"""The counter (:func:`schema.locks.lock_scope`) holding the version this node holds."""
STATEMENTS = "statements"
"""Where a node writes what it closed when a peer left the topology."""


# --- the changes, on a topology ---------------------------------------------------------


def added(
    topology: Topology,
    code: str,
    parent: str,
    *,
    name: str | None = None,
    role: str | None = None,
    abbreviation: str | None = None,
    parent_endpoint: Endpoint | None = None,
) -> Topology:
    """``topology`` with node ``code`` added under ``parent`` (a county unless a city is
    asked for). A parent without an endpoint yet gets ``parent_endpoint``."""
    if code in topology:
        raise InputError(
            said("node_listed", code=code, name=topology.node(code).name, topology=topology.name),
            hint=said("node_listed_hint"),
        )
    over = _parent(topology, parent)
    role = role or "county"
    if role not in ("city", "county"):
        raise InputError(said("join_role_bad", role=role), hint="--role county")
    if role == "city" and over.role != "province":
        raise InputError(
            said("city_under_province", role=named("role", over.role), parent=parent),
            hint=f"--parent {topology.province.code}",
        )
    if name is None:
        from nodes.regions import load_regions

        regions = load_regions()
        if code not in regions:
            raise InputError(said("code_not_region", code=code), hint=said("code_not_region_hint"))
        name = regions.name(code)
    nodes = dict(topology.nodes)
    if over.endpoint is None:
        if parent_endpoint is None:
            raise InputError(
                said("parent_no_endpoint", parent=parent),
                hint=said("parent_no_endpoint_hint"),
            )
        nodes[parent] = dataclasses.replace(over, endpoint=parent_endpoint)
    nodes[code] = NodeSpec(code, name, role, parent, None, 0, abbreviation)
    return dataclasses.replace(topology, nodes=nodes)


def moved(topology: Topology, code: str, parent: str) -> Topology:
    """``topology`` with ``code`` moved under ``parent``; its old parent is kept among its
    ``former_parents``."""
    spec = _member(topology, code)
    if spec.role in ("province", "center"):
        raise InputError(
            said("cannot_move", role=named("role", spec.role), code=code),
            hint=said("cannot_move_hint"),
        )
    over = _parent(topology, parent)
    if parent == spec.parent:
        raise InputError(
            said("under_already", code=code, parent=parent), hint=said("under_already_hint")
        )
    if parent == code or topology.is_ancestor(code, parent):
        raise InputError(said("move_cycle", code=code, parent=parent), hint=said("move_cycle_hint"))
    if spec.role == "city" and over.role != "province":
        raise InputError(
            said("city_under_province", role=named("role", over.role), parent=parent),
            hint=f"--parent {topology.province.code}",
        )
    if over.endpoint is None:
        raise InputError(
            said("parent_no_endpoint", parent=parent),
            hint=said("parent_no_endpoint_hint"),
        )
    formers = spec.former_parents
    if spec.parent is not None and spec.parent not in formers:
        formers = (*formers, spec.parent)
    formers = tuple(f for f in formers if f != parent)
    nodes = dict(topology.nodes)
    nodes[code] = dataclasses.replace(spec, parent=parent, former_parents=formers)
    return dataclasses.replace(topology, nodes=nodes)


def retired(topology: Topology, code: str) -> Topology:
    """``topology`` without ``code`` (which must have no children left)."""
    spec = _member(topology, code)
    if spec.role in ("province", "center"):
        raise InputError(
            said("cannot_retire", role=named("role", spec.role), code=code),
            hint=said("cannot_retire_hint"),
        )
    below = [c.code for c in topology.children(code)]
    if below:
        raise InputError(
            said("still_children", code=code, children=", ".join(below)),
            hint=said("still_children_hint"),
        )
    nodes = {c: n for c, n in topology.nodes.items() if c != code}
    return dataclasses.replace(topology, nodes=nodes)


def _member(topology: Topology, code: str) -> NodeSpec:
    if code not in topology:
        raise InputError(
            said("not_a_member", code=code, topology=topology.name),
            hint=said("not_a_member_hint"),
        )
    return topology.node(code)


def _parent(topology: Topology, parent: str) -> NodeSpec:
    if parent not in topology:
        raise InputError(
            said("parent_unknown", parent=parent, topology=topology.name),
            hint=said("parent_unknown_hint"),
        )
    over = topology.node(parent)
    if over.role not in ("province", "city"):
        raise InputError(
            said("parent_role_bad", parent=parent, role=named("role", over.role)),
            hint=said("parent_role_bad_hint", province=topology.province.code),
        )
    return over


# --- at the province ----------------------------------------------------------------------


@dataclass(frozen=True)
class Published:
    """What :func:`publish` did: the new topology and how many change-sets it queued."""

    topology: Topology
    changesets: int
    note: Said | None = None
    """For the operator: the province's file could not be written after the commit."""


def publish(
    node: Node,
    change: Callable[[Topology], Topology],
    *,
    joining: str | None = None,
    clock: Clock = SYSTEM_CLOCK,
) -> Published:
    """At the province: apply ``change`` to the topology it holds, number it the next
    version and send it to every node, all in one transaction; the province's own file
    follows once that transaction committed (a crash or a failed write in between leaves
    it behind its database, and :func:`follow` puts it right at the next round, or at
    the next publish, which starts from what the database holds).

    ``joining`` names a node that joins with this version: it also gets the province's
    code-set extensions and its current revocation list, right after the topology.
    A change that fails its checks raises, and nothing is written.
    """
    if node.spec.role != "province":
        raise InputError(
            said("topology_province_only", role=named("role", node.spec.role)),
            hint=said("topology_province_only_hint"),
        )
    file = node.settings.topology
    with topology_lock(node.home.path):
        _written, current = _follow(node, file)  # the version the database holds
        proposed = change(current)
        signer = load_signer(node.home.keys)
        spool = node.spool
        with node.engine.begin() as conn:
            if joining is not None:
                _check_new_channel(conn, node.spec.code, joining)
            held = lock_scope(conn, COUNTER, node.spec.code)
            version = max(held, current.version) + 1
            text = dataclasses.replace(proposed, version=version).to_toml()
            topology = _checked(text, file)
            _record(conn, topology, node.spec.code, version)
            _hold_file(conn, version, text)
            gone = sorted(n.code for n in current if n.code not in topology)
            if gone:
                _close_channels(node, conn, gone, version, clock.now())
            operations = [{"op": KIND, "version": version, "toml": text}]
            first = _first_changesets(conn, node) if joining is not None else []
            recipients = sorted(n.code for n in topology if n.code != node.spec.code)
            count = 0
            for code in recipients:
                enqueue(conn, spool, signer, code, KIND, operations, clock)
                count += 1
                if code == joining:
                    for kind, ops in first:
                        enqueue(conn, spool, signer, code, kind, ops, clock)
                        count += 1
        try:
            write_atomic(file, text.encode("utf-8"))
        except OSError as exc:
            note = said("topology_file_later", version=version, file=file, error=exc.strerror)
            node.adopt_topology(topology)
            return Published(topology, count, note)
    node.adopt_topology(topology)
    return Published(topology, count)


@dataclass(frozen=True)
class Retirement:
    """What :func:`retire` did."""

    published: Published
    crl_number: int | None
    """The revocation list sent down (None: the node never had a certificate)."""
    in_flight: int
    """The province's change-sets to it still without a receipt (closed, with a statement)."""


def retire(
    node: Node, code: str, ca_dir: Path, passphrase: bytes | None, clock: Clock = SYSTEM_CLOCK
) -> Retirement:
    """At the province (撤销 retire): revoke every certificate of ``code`` with the root CA
    in ``ca_dir`` and send the revocation list down, then the next topology version
    without it; each node closes what it still had in flight with it, with a statement.
    A node added that never joined (no certificate issued) has nothing to revoke: only
    the topology goes. Refused before anything is written when ``code`` cannot be
    retired."""
    retired(load_topology(node.settings.topology), code)
    with node.engine.connect() as conn:
        in_flight = conn.execute(
            sa.select(sa.func.count())
            .select_from(outbox)
            .where(outbox.c.recipient == code, outbox.c.acked_at.is_(None))
        ).scalar_one()
    number: int | None = None
    if pki.issued_in(ca_dir, code):
        keys.revoke_node(ca_dir, code, "cessation_of_operation", passphrase)
        number, _sent = keys.publish_revocation(node, ca_dir, passphrase, clock)
    published = publish(node, lambda current: retired(current, code), clock=clock)
    return Retirement(published, number, int(in_flight))


def _check_new_channel(conn: Connection, me: str, joining: str) -> None:
    """A joining node starts its channels from the first change-set: refused when this
    node already had a channel to that code (a node of it retired before)."""
    found = conn.execute(
        sa.select(channel_head.c.seq).where(
            channel_head.c.origin == me, channel_head.c.recipient == joining
        )
    ).first()
    if found is not None:
        raise InputError(
            said("channel_was_here", me=me, code=joining, count=found.seq),
            hint=said("channel_was_here_hint"),
        )


def _checked(text: str, file: Path) -> Topology:
    try:
        return parse_topology(text, file)
    except TopologyError as exc:
        raise InputError(
            said(
                "topology_change_fails",
                problems=joined(exc.problems) if exc.problems else exc.message,
            ),
            hint=said("topology_change_fails_hint"),
        ) from exc


def _first_changesets(conn: Connection, node: Node) -> list[tuple[str, list[dict[str, Any]]]]:
    """What a joining node needs beside the topology: the province's code-set extensions
    and changed codes, and its revocation list."""
    rows = conn.execute(
        sa.select(code_item)
        .where(code_item.c.is_extension.is_(True))
        .order_by(code_item.c.year, code_item.c.codeset, code_item.c.code)
    ).all()
    codes = [
        {
            "op": "code",
            "codeset": r.codeset,
            "year": r.year,
            "code": r.code,
            "name": r.name,
            "parent": r.parent_code,
            "level": r.level,
            "extension": True,
        }
        for r in rows
    ]
    # its changed codes (科目变动对照) too, after the codes they name
    mapped = [
        {"op": "change", "codeset": r.codeset, "year": r.year, "old": r.old_code,
         "new": r.new_code, "extension": True}
        for r in conn.execute(
            sa.select(code_change)
            .where(code_change.c.is_extension.is_(True))
            .order_by(code_change.c.year, code_change.c.codeset, code_change.c.old_code)
        )
    ]  # fmt: skip
    first: list[tuple[str, list[dict[str, Any]]]] = []
    if codes or mapped:
        first.append(("codeset", codes + mapped))
    crl = keys.trust_store(node.home).crl
    if crl is not None:
        first.append(("revocation", [{"op": "crl", "pem": crl.pem.decode("ascii")}]))
    return first


def _record(conn: Connection, topology: Topology, me: str, version: int) -> None:
    """Write what this node's database keeps of its topology: the version held, the
    digest and its parent (``node_identity``), and every node (``topology_node``)."""
    conn.execute(
        tables.counter.update()
        .where(tables.counter.c.name == COUNTER, tables.counter.c.scope == me)
        .values(last=version)
    )
    conn.execute(
        tables.node_identity.update().values(
            topology_sha256=topology.sha256(), parent_code=topology.node(me).parent
        )
    )
    conn.execute(tables.topology_node.delete())
    conn.execute(tables.topology_node.insert(), topology_rows(topology))


def held_version(node: Node) -> int:
    """The topology version this node holds (0: never changed since it was made)."""
    with node.engine.connect() as conn:
        value = conn.execute(
            sa.select(tables.counter.c.last).where(
                tables.counter.c.name == COUNTER, tables.counter.c.scope == node.spec.code
            )
        ).scalar_one_or_none()
    return max(int(value or 0), node.topology.version)


# --- at every other node ------------------------------------------------------------------


def adopt(node: Node, conn: Connection, verified: Verified, now: Any) -> None:
    """Take a ``topology`` change-set, in the channel's transaction: a higher version
    replaces the topology (file and database), the same version is taken again only if
    it is the same file, an older one is refused (:class:`InputError`)."""
    me = node.spec.code
    topology, version, text = _carried(node, verified)
    held = lock_scope(conn, COUNTER, me)
    digest = conn.execute(sa.select(tables.node_identity.c.topology_sha256)).scalar_one()
    if version < held:
        raise InputError(
            said("topology_older", version=version, held=held),
            hint=said("topology_older_hint"),
        )
    if version == held:
        if digest == topology.sha256():
            return  # the same version again
        raise InputError(said("topology_other_same_version", version=version))
    if me not in topology or topology.node(me).role != node.spec.role:
        raise InputError(
            said("topology_drops_me", version=version, code=me, role=named("role", node.spec.role))
        )
    _hold(node, conn, topology, version, text, now)


def adopt_own(node: Node, conn: Connection, verified: Verified, now: Any) -> None:
    """At the province restored from a backup older than a topology it published, taking
    that change-set back (:mod:`nodes.journal`): the version it names is held again, as
    publishing it held it, unless this one holds that version or a later one already
    (the same version went to every node; each copy comes back)."""
    topology, version, text = _carried(node, verified)
    if version > lock_scope(conn, COUNTER, node.spec.code):
        _hold(node, conn, topology, version, text, now)


def _carried(node: Node, verified: Verified) -> tuple[Topology, int, str]:
    """The topology a ``topology`` change-set carries, its version and its text."""
    operations = list(verified.operations())
    op = operations[0] if len(operations) == 1 else None
    if not (
        isinstance(op, dict)
        and op.get("op") == KIND
        and type(op.get("version")) is int
        and isinstance(op.get("toml"), str)
    ):
        raise InputError(said("topology_one_op"))
    try:
        topology = parse_topology(op["toml"], node.settings.topology)
    except TopologyError as exc:
        raise InputError(
            said("topology_version_fails", version=op["version"], error=exc.message)
        ) from exc
    version = op["version"]
    if topology.version != version:
        raise InputError(said("topology_inside_version", inside=topology.version, version=version))
    return topology, version, op["toml"]


def _hold(
    node: Node, conn: Connection, topology: Topology, version: int, text: str, now: Any
) -> None:
    """Hold ``topology`` as version ``version``: the database, the channels of the nodes
    it no longer lists closed, and the file it follows when that is older (written
    after the commit, by :func:`follow`)."""
    me = node.spec.code
    # Gone since the version this database holds (its file may be later: a home made or
    # restored with a newer one), not since the file.
    held = conn.execute(sa.select(tables.topology_node.c.code)).scalars()
    gone = sorted(code for code in held if code not in topology)
    _record(conn, topology, me, version)
    if gone:
        _close_channels(node, conn, gone, version, now)
    _hold_file(conn, version, text)


def _hold_file(conn: Connection, version: int, text: str) -> None:
    """Keep ``text`` as the topology file this node follows, unless the one kept is of
    the same version or a later one (a home made with a later file, a restore replaying)."""
    row = conn.execute(
        sa.select(tables.topology_file.c.version).with_for_update()
    ).scalar_one_or_none()
    if row is None:
        conn.execute(tables.topology_file.insert().values(id=1, version=version, toml=text))
    elif row < version:
        conn.execute(tables.topology_file.update().values(version=version, toml=text))


def follow(node: Node) -> bool:
    """Make the home's topology file, and the topology ``node`` follows, the ones its
    database holds; True when the file was written.

    The file is written after the commit that changed what the database holds, so a
    crash in between leaves it behind, which this puts right. A file ahead of the
    database is never put back: at the province it is a version that committed (only
    :func:`publish` writes its file, after the commit) in a database since rolled back
    or restored, and the database takes it with its version counter raised to it, so
    that no version number is sent twice; at any other node a later file is the
    operator's (a home given the version that added it) and the database takes it, as
    it does a file it never held and one of the version it holds edited by hand (an
    endpoint, a host key)."""
    file = node.settings.topology
    text, topology = _read(file)
    if _in_step(node, text, topology):
        written = False  # nothing to write: the lock is not needed to see it
    else:
        with topology_lock(node.home.path):  # not while the province publishes
            written, topology = _follow(node, file)
    if topology.children(node.spec.code) and not node.home.mailboxes.exists():
        node.home.mailboxes.mkdir()
    if topology.sha256() != node.topology.sha256():
        node.adopt_topology(topology)
    return written


def _read(file: Path) -> tuple[str, Topology]:
    """The topology file's text and the topology it checks as (read once)."""
    text = file.read_text(encoding="utf-8")
    return text, parse_topology(text, file)


def _follow(node: Node, file: Path) -> tuple[bool, Topology]:
    text, on_disk = _read(file)
    if _in_step(node, text, on_disk):
        return False, on_disk  # read only: a node whose disk is full still starts its round
    with node.engine.begin() as conn:
        row = conn.execute(
            sa.select(tables.topology_file.c.version, tables.topology_file.c.toml).with_for_update()
        ).first()
        if row is not None and row.toml != text and on_disk.version < row.version:
            write_atomic(file, row.toml.encode("utf-8"))
            written = True
        else:
            written = False
            me = node.spec.code
            if node.spec.role == "province" and on_disk.version > lock_scope(conn, COUNTER, me):
                _record(conn, on_disk, me, on_disk.version)  # its database was rolled back
            if row is None:
                values = {"id": 1, "version": on_disk.version, "toml": text}
                conn.execute(tables.topology_file.insert().values(values))
            elif row.toml != text:
                values = {"version": on_disk.version, "toml": text}
                conn.execute(tables.topology_file.update().values(values))
    return written, load_topology(file) if written else on_disk


def _in_step(node: Node, text: str, on_disk: Topology) -> bool:
    """Whether the database already holds this very file, and (at the province) a
    version counter not behind it: nothing for :func:`_follow` to write."""
    with reading(node.engine) as conn:
        row = conn.execute(_HELD, {"me": node.spec.code}).one_or_none()
    if row is None or row.toml != text:
        return False
    return node.spec.role != "province" or on_disk.version <= (row.counted or 0)


# Asked at every exchange a node makes: built once (see nodes.exchange).
_HELD = sa.select(
    tables.topology_file.c.toml,
    sa.select(counter.c.last)
    .where(counter.c.name == COUNTER, counter.c.scope == sa.bindparam("me"))
    .scalar_subquery()
    .label("counted"),
)


def _close_channels(node: Node, conn: Connection, gone: list[str], version: int, now: Any) -> None:
    """Close this node's channels with nodes that left the topology (retired): what still
    waited for their receipt is marked closed, the receipts still owed to them are let
    go, and both are listed in a statement."""
    for code in gone:
        waiting = conn.execute(
            sa.select(outbox.c.id, outbox.c.kind, outbox.c.seq, outbox.c.created_at)
            .where(outbox.c.recipient == code, outbox.c.acked_at.is_(None))
            .order_by(outbox.c.seq)
        ).all()
        why = said("channel_retired", code=code, version=version)
        conn.execute(
            outbox.update()
            .where(outbox.c.recipient == code, outbox.c.acked_at.is_(None))
            .values(
                acked_at=now,
                receipt_verdict="closed",
                receipt_reason=str(why),
                receipt_reason_said=kept(why),
            )
        )
        owed = conn.execute(
            sa.select(changeset_log.c.id, changeset_log.c.kind, changeset_log.c.seq).where(
                changeset_log.c.origin == code, changeset_log.c.receipt_sent_at.is_(None)
            )
        ).all()
        conn.execute(  # receipts it can no longer be sent: closed with the channel
            changeset_log.update()
            .where(changeset_log.c.origin == code, changeset_log.c.receipt_sent_at.is_(None))
            .values(receipt_sent_at=now)
        )
        statement = {
            "node": node.spec.code,
            "retired": code,
            "topology_version": version,
            "closed_at": now.isoformat(),
            "unacknowledged": [
                {"id": w.id, "kind": w.kind, "seq": w.seq, "created": w.created_at.isoformat()}
                for w in waiting
            ],
            "receipts_not_sent": [{"id": o.id, "kind": o.kind, "seq": o.seq} for o in owed],
        }
        folder = node.home.path / STATEMENTS
        folder.mkdir(exist_ok=True)
        write_atomic(
            folder / f"retired-{code}-v{version}.json",
            json.dumps(statement, ensure_ascii=False, indent=2).encode("utf-8"),
        )
