"""What a node does with each kind of change-set it takes (the channel's ``applier``).

Each handler runs inside the channel's transaction, reads every operation, and raises
:class:`InputError` to refuse the content (the change-set is then logged as rejected,
nothing of it kept, and a negative receipt goes back).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.engine import Connection

from nodes import keys
from nodes.fiscal import appropriations, codes, reports
from nodes.fiscal.reconcile import records
from nodes.node import Node
from sync import revocation
from sync.changeset import Verified
from sync.channel import Acknowledged, Applier
from sync.clock import SYSTEM_CLOCK, Clock
from sync.errors import CertificateRejected, InputError
from sync.trust import TrustStore

__all__ = ["acknowledged_for", "for_node"]

Handler = Callable[[Connection, Verified], None]


def for_node(node: Node, trust: TrustStore, clock: Clock = SYSTEM_CLOCK) -> Applier:
    """The applier of ``node``: dispatches each change-set by its kind.

    ``clock`` is this node's: where a handler records when something was taken here
    (a report's receive time), it is this clock's time, never the sender's.
    """

    def apply_codeset(conn: Connection, verified: Verified) -> None:
        codes.store(conn, codes.parse_operations(verified.operations()))

    def apply_revocation(conn: Connection, verified: Verified) -> None:
        operations = list(verified.operations())
        if len(operations) != 1 or not isinstance(operations[0].get("pem"), str):
            raise InputError("a revocation change-set carries exactly one {'pem': ...} operation")
        try:
            crl = revocation.load_crl(operations[0]["pem"].encode("ascii"), trust.root)
            keys.adopt_crl(node.home, trust, crl)
        except CertificateRejected as exc:
            raise InputError(exc.message) from exc

    def apply_appropriation(conn: Connection, verified: Verified) -> None:
        appropriations.apply_received(conn, verified)

    def apply_report(conn: Connection, verified: Verified) -> None:
        reports.apply_received(conn, verified, node.topology, taken_at=clock.now())

    handlers: dict[str, Handler] = {
        "appropriation": apply_appropriation,
        "report": apply_report,
        "codeset": apply_codeset,
        "revocation": apply_revocation,
    }

    def apply(conn: Connection, verified: Verified) -> None:
        handler = handlers.get(verified.header.kind)
        if handler is None:
            raise InputError(
                f"{node.spec.role} {node.spec.code} takes no {verified.header.kind} change-sets"
            )
        handler(conn, verified)

    return apply


def acknowledged_for(node: Node) -> Acknowledged:
    """What ``node`` does when a receipt comes back for one of its change-sets."""
    me = node.spec.code

    def acknowledged(conn: Connection, entry: Any, verdict: str) -> None:
        if entry.kind == "appropriation":
            records.receipt_taken(conn, me, entry, verdict)

    return acknowledged
