"""What a moved node left behind at its former parent (省直管 and other moves).

Until a moved node knows it moved, the province's topology change-set for it also goes
the old way (:meth:`nodes.routes.Routes.detour`), into its mailbox at its former parent,
where the former parent's own change-sets for it may wait too. Once it follows the new
topology it dials its new parent, and nothing in the old mailbox is needed any more:
the topology copy is a duplicate of the one it took, and the former parent sends again,
by the new route, whatever it has no receipt for. So the moved node collects the old
mailbox as it would its parent's (a duplicate is taken once, anything else in its
channel's order), until it finds it empty: then that former parent is done with
(:data:`COUNTER` holds the topology version it was found empty at). A former parent
that cannot be reached (its account for this node removed) is given up after
:data:`TRIES` rounds; what stays there is only ever what this node has had another way.
"""

from __future__ import annotations

import sqlalchemy as sa

from nodes.node import Node
from nodes.topology import NodeSpec
from schema import tables
from schema.engine import reading
from schema.locks import lock_scope

__all__ = ["COUNTER", "TRIES", "done", "failed", "to_collect"]

COUNTER = "former-mailbox"
"""The counter, per former parent, of the topology version its mailbox was left at."""
FAILED = "former-mailbox-failed"
"""The counter, per former parent, of the rounds in a row that could not reach it."""
TRIES = 3


def to_collect(node: Node) -> list[NodeSpec]:
    """The former parents of ``node`` whose mailbox for it is still to be collected."""
    topology = node.topology
    formers = [
        topology.node(code)
        for code in node.spec.former_parents
        if code in topology and code != node.spec.parent
    ]
    formers = [f for f in formers if f.endpoint is not None]
    if not formers:
        return []
    counter = tables.counter
    with reading(node.engine) as conn:
        left = dict(
            conn.execute(
                sa.select(counter.c.scope, counter.c.last).where(counter.c.name == COUNTER)
            ).all()
        )
    return [f for f in formers if int(left.get(f.code, 0)) < max(topology.version, 1)]


def done(node: Node, former: str) -> None:
    """The mailbox at ``former`` was found empty (or given up): leave it at this version."""
    _set(node, COUNTER, former, max(node.topology.version, 1))
    _set(node, FAILED, former, 0)


def failed(node: Node, former: str) -> None:
    """``former`` could not be reached this round; given up after :data:`TRIES` rounds."""
    with node.engine.begin() as conn:
        tries = lock_scope(conn, FAILED, former) + 1
        _update(conn, FAILED, former, tries)
    if tries >= TRIES:
        done(node, former)


def _set(node: Node, name: str, scope: str, value: int) -> None:
    with node.engine.begin() as conn:
        lock_scope(conn, name, scope)
        _update(conn, name, scope, value)


def _update(conn: sa.Connection, name: str, scope: str, value: int) -> None:
    counter = tables.counter
    conn.execute(
        counter.update().where(counter.c.name == name, counter.c.scope == scope).values(last=value)
    )
