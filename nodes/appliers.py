"""What a node does with each kind of change-set it takes (the channel's ``applier``),
and with each receipt that comes back (the channel's ``on_receipt``).

Each handler runs inside the channel's transaction, reads every operation, and raises
:class:`InputError` to refuse the content (the change-set is then logged as rejected,
nothing of it kept, and a negative receipt goes back). The runtime handles revocation
lists, topologies and backup manifests itself; every other kind is a capability's (:mod:`nodes.capabilities`).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Connection

from nodes import keeper, keys, membership
from nodes.capabilities import APPLIERS, RECEIPT_HOOKS, Context, Handler
from nodes.labels import named, said
from nodes.node import Node
from sync import revocation
from sync.changeset import Verified
from sync.channel import Acknowledged, Applier
from sync.clock import SYSTEM_CLOCK, Clock
from sync.errors import CertificateRejected, InputError
from sync.trust import TrustStore

__all__ = ["acknowledged_for", "for_node"]


def for_node(node: Node, trust: TrustStore, clock: Clock = SYSTEM_CLOCK) -> Applier:
    """The applier of ``node``: dispatches each change-set by its kind, to the runtime's
    own handler (revocation lists) or to the one a capability registered.

    ``clock`` is this node's: where a handler records when something was taken here
    (a report's receive time), it is this clock's time, never the sender's.
    """

    def apply_revocation(conn: Connection, verified: Verified) -> None:
        operations = list(verified.operations())
        if len(operations) != 1 or not isinstance(operations[0].get("pem"), str):
            raise InputError(said("revocation_one_pem"))
        try:
            crl = revocation.load_crl(operations[0]["pem"].encode("ascii"), trust.root)
            held = trust.crl
            if held is not None and crl.number < held.number:
                return  # superseded by a newer list that came another way (a rejoin answer)
            keys.adopt_crl(node.home, trust, crl)
        except CertificateRejected as exc:
            raise InputError(exc.message) from exc

    def apply_backup(conn: Connection, verified: Verified) -> None:
        keeper.apply_manifest(node, conn, verified, clock.now())

    def apply_topology(conn: Connection, verified: Verified) -> None:
        membership.adopt(node, conn, verified, clock.now())

    context = Context(node, trust, clock)
    handlers: dict[str, Handler] = {kind: make(context) for kind, make in APPLIERS.items()}
    handlers["revocation"] = apply_revocation
    handlers["backup"] = apply_backup
    handlers[membership.KIND] = apply_topology

    def apply(conn: Connection, verified: Verified) -> None:
        handler = handlers.get(verified.header.kind)
        if handler is None:
            raise InputError(
                said(
                    "kind_not_taken",
                    role=named("role", node.spec.role),
                    code=node.spec.code,
                    kind=named("kind", verified.header.kind),
                )
            )
        handler(conn, verified)

    return apply


def acknowledged_for(node: Node) -> Acknowledged:
    """What ``node`` does when a receipt comes back for one of its change-sets."""
    hooks = {kind: make(node) for kind, make in RECEIPT_HOOKS.items()}

    def acknowledged(conn: Connection, entry: Any, verdict: str) -> None:
        hook = hooks.get(entry.kind)
        if hook is not None:
            hook(conn, entry, verdict)

    return acknowledged
