"""Routes through the tree: where a change-set goes next, and which ways a relay refuses.

Children dial their parent and every node dials the data center (数据中心), but the
province, whose child the center is; a parent never dials a child. A change-set for
node R leaves node N by the first route that fits:

1. R is below N: into N's own ``mailboxes/<child on the way>/down/``;
2. N is the center: into its own ``mailboxes/R/down/``, or up to its parent;
3. R is the center: to the center's endpoint;
4. otherwise: up to N's parent, which relays it onward.

A node moved to another parent (``former_parents``) learns it from the topology change-set
that moved it, which must reach it whichever parent it still dials: while a sender waits
for its receipt of a topology change-set (``moving``), the topology change-sets it sends
that node also take a :meth:`Routes.detour` through the former parent, which hands what comes from above for
a former child down into that child's mailbox there. The copy that is not collected
stays in the mailbox nobody reads any more; the one collected is taken once.

A relay forwards only along these routes toward the recipient named in the signed
header, and never back the way a change-set came (:meth:`Routes.refusal`): one that
came from a child goes up or down to another child, one that came from above (the
parent, or the center) only goes down. So a change-set crosses each edge of the tree
at most once, and its hops are bounded by the tree's depth.
"""

from __future__ import annotations

from dataclasses import dataclass

from nodes.labels import said
from nodes.topology import Topology

__all__ = ["CENTER", "PARENT", "Hop", "Routes"]

PARENT = "parent"
CENTER = "center"


@dataclass(frozen=True)
class Hop:
    """The next step of a change-set: the neighbour it goes to, and through what."""

    neighbor: str
    link: str | None
    """The upstream link it is delivered through (``parent``, ``center``); None: down,
    into this node's own mailboxes, where ``neighbor`` collects it."""
    folder: str


class Routes:
    """The routes of one node, from its place in the topology and the links it dials."""

    def __init__(
        self,
        topology: Topology,
        me: str,
        *,
        hosts_mailboxes: bool,
        links: dict[str, str],
        moving: dict[str, str] | None = None,
    ) -> None:
        """``links`` maps each upstream link this node dials to the node it reaches;
        ``moving`` each moved node not known to follow its move yet to the former
        parent its change-sets go through."""
        self.topology = topology
        self.me = me
        self.hosts_mailboxes = hosts_mailboxes
        self.links = links
        self.moving = moving or {}
        center = topology.center
        self.center = center.code if center is not None else None
        self.parent = topology.node(me).parent

    def next_hop(self, recipient: str, *, relaying: bool = False) -> Hop | None:
        """Where a change-set for ``recipient`` goes next (``relaying``: one come from
        another node); None when it cannot go anywhere."""
        topology = self.topology
        if recipient not in topology or recipient == self.me:
            return None
        path = [recipient, *topology.ancestors(recipient)]
        if self.hosts_mailboxes and self.me in path[1:]:
            child = path[path.index(self.me) - 1]
            return Hop(child, None, f"{child}/down")
        if relaying and self.hosts_mailboxes and self.me in topology.node(recipient).former_parents:
            return Hop(recipient, None, f"{recipient}/down")  # a former child, from above
        if self.me == self.center:
            if recipient != self.parent and self.hosts_mailboxes:
                return Hop(recipient, None, f"{recipient}/down")
        elif recipient == self.center and CENTER in self.links:
            return Hop(self.links[CENTER], CENTER, f"{self.me}/up")
        if PARENT in self.links:
            return Hop(self.links[PARENT], PARENT, f"{self.me}/up")
        return None

    def detour(self, recipient: str) -> Hop | None:
        """The second way of a change-set for a moved node that may still dial its former
        parent (see ``moving``); None when there is none, or it is the first way."""
        through = self.moving.get(recipient)
        topology = self.topology
        if through is None or through not in topology or not self.hosts_mailboxes:
            return None
        path = [recipient, through, *topology.ancestors(through)]
        if self.me not in path[1:]:
            return None
        child = path[path.index(self.me) - 1]
        hop = Hop(child, None, f"{child}/down")
        return None if hop == self.next_hop(recipient) else hop

    def refusal(self, filename: str, recipient: str, source: str | None) -> str | None:
        """Why this node must not relay ``filename`` for ``recipient``, which came from the
        neighbour ``source`` (None: not known), or None when it may."""
        hop = self.next_hop(recipient, relaying=True)
        if hop is None:
            return said("route_none", file=filename, me=self.me, recipient=recipient)
        if source is None:
            return None
        if hop.neighbor == source:
            return said("route_back", file=filename, recipient=recipient, source=source)
        from_above = source in self.links.values()
        if from_above and hop.link is not None:
            return said(
                "route_not_below", file=filename, source=source, recipient=recipient, me=self.me
            )
        return None
