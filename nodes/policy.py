"""Who may send which kind of change-set to whom (handed to ``sync`` as ``authorize``).

The rules, checked against the topology and the signer's certified role:

- ``appropriation``: only an ancestor issues appropriations (下达) to a descendant, or
  adjusts them after the descendant was moved from under it (``former_parents``; what
  it issues anew is refused where it is allocated).
- ``copy`` (抄送): an information copy of an appropriation issued over a node's head; only
  an ancestor sends one to a descendant (that the copied recipient is below it is checked
  where it is applied).
- ``receipt``: any two nodes that exchange change-sets; that the receipt is signed by
  the recipient of the change-set it acknowledges is checked where it is matched.
- ``report``: from a node to its parent, or to the center; or to a former parent (one
  sent before the move reaches it after, for a period the node was under it).
- ``reconcile``: between a node and one above it (an issuer and its recipient, a former
  parent included), or a node and the center (its reports), either way.
- ``codeset``, ``revocation`` and ``topology``: only the province signs them, for any
  other node.
- ``backup``: only to the center, and the center's own to its parent (the province).
- ``rejoin``: between two nodes that share a channel (after one of them was restored).
- ``yearclose``: a year-end balance statement (结转), from a recipient to a node above it.

The certified role must also be the role the topology gives the origin.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from nodes.labels import Said, named, said
from nodes.topology import Topology
from sync.errors import NotAuthorized

__all__ = ["KINDS", "Authorizer", "authorizer", "check_send"]

KINDS = (
    "appropriation",
    "copy",
    "receipt",
    "report",
    "reconcile",
    "codeset",
    "revocation",
    "topology",
    "backup",
    "rejoin",
    "yearclose",
)


class _Header(Protocol):
    @property
    def origin(self) -> str: ...
    @property
    def recipient(self) -> str: ...
    @property
    def kind(self) -> str: ...


class _Signer(Protocol):
    @property
    def code(self) -> str: ...
    @property
    def role(self) -> str: ...


Authorizer = Callable[[_Header, _Signer], None]


def check_send(topology: Topology, origin: str, recipient: str, kind: str) -> None:
    """Raise :class:`NotAuthorized` unless ``origin`` may send ``kind`` to ``recipient``."""
    if origin not in topology or recipient not in topology:
        unknown = origin if origin not in topology else recipient
        raise NotAuthorized(said("not_a_member", code=unknown, topology=topology.name))
    if origin == recipient:
        raise NotAuthorized(said("policy_to_itself", origin=origin))
    if not _allowed(topology, origin, recipient, kind):
        raise NotAuthorized(
            said(
                "policy_refused",
                kind=named("kind", kind),
                origin=origin,
                recipient=recipient,
                why=_why(topology, origin, recipient, kind),
            )
        )


def _allowed(topology: Topology, origin: str, recipient: str, kind: str) -> bool:
    """Whether ``origin`` may send ``kind`` to ``recipient``, two distinct members: the
    rules of the module, with no message built (this runs for every line and change-set
    checked; :func:`_why` says the refusal)."""
    sender = topology.node(origin)
    receiver = topology.node(recipient)
    if kind == "appropriation":
        return origin in topology.issuers_above(recipient)
    if kind == "copy":
        return topology.is_ancestor(origin, recipient)
    if kind == "receipt":
        return True
    if kind == "report":
        return (
            receiver.role == "center"
            or sender.parent == recipient
            or recipient in sender.former_parents
        )
    if kind == "reconcile":
        return (
            origin in topology.issuers_above(recipient)
            or recipient in topology.issuers_above(origin)
            or "center" in (sender.role, receiver.role)
        )
    if kind in ("codeset", "revocation", "topology"):
        return sender.role == "province"
    if kind == "rejoin":
        return any(
            _allowed(topology, a, b, other)
            for other in KINDS
            if other not in ("receipt", "rejoin")
            for a, b in ((origin, recipient), (recipient, origin))
        )
    if kind == "yearclose":
        # A moved node states its balances to a former parent too: it issued to it.
        return recipient in topology.issuers_above(origin)
    if kind == "backup":
        return receiver.role == "center" or (sender.role == "center" and sender.parent == recipient)
    return False


def _why(topology: Topology, origin: str, recipient: str, kind: str) -> Said:
    """Why :func:`_allowed` refuses ``kind`` from ``origin`` to ``recipient``."""
    if kind in ("codeset", "revocation", "topology"):
        role = topology.node(origin).role
        return said(
            "policy_province_only",
            kind=named("kind", kind),
            role=named("role", role),
            origin=origin,
        )
    if kind == "backup":
        role = topology.node(recipient).role
        return said("policy_backup", role=named("role", role), recipient=recipient)
    if kind in _BETWEEN:
        return said(_BETWEEN[kind], origin=origin, recipient=recipient)
    return said("policy_kind_unknown", kind=kind)


# the refusal of each kind whose rule is between the two nodes, naming both
_BETWEEN = {
    "appropriation": "policy_appropriation",
    "copy": "policy_copy",
    "report": "policy_report",
    "reconcile": "policy_reconcile",
    "rejoin": "policy_rejoin",
    "yearclose": "policy_yearclose",
}


def authorizer(topology: Topology) -> Authorizer:
    """The ``authorize`` callback for :func:`sync.changeset.verify` on this topology."""

    def authorize(header: _Header, signer: _Signer) -> None:
        if header.origin in topology:
            expected = topology.node(header.origin).role
            if signer.role != expected:
                raise NotAuthorized(
                    said(
                        "policy_role_mismatch",
                        origin=header.origin,
                        certified=named("role", signer.role),
                        expected=named("role", expected),
                    )
                )
        check_send(topology, header.origin, header.recipient, header.kind)

    return authorize
