"""What a node does of backups in its sync round (:mod:`nodes.exchange`): at a keeper,
collect the backup objects the nodes it dials left for it and offer them its revocation
list and the marker that it checks BLAKE3 names; at every node, ship the objects of its
own backup to its keeper."""

from __future__ import annotations

from typing import TYPE_CHECKING

from nodes import backups, keeper
from nodes.backups import keeper_of
from nodes.labels import said
from nodes.summary import RoundSummary
from sync.errors import TransportError, failure_message
from sync.transports.base import Transport

if TYPE_CHECKING:
    from nodes.exchange import Exchange

__all__ = ["collect", "offer_crl", "ship", "way"]


def collect(exchange: Exchange, summary: RoundSummary) -> None:
    """At a keeper: collect the backup objects a node it dials left for it."""
    for link in exchange.links.values():
        if link.error is not None or keeper_of(exchange.node.topology, link.code) != exchange.me:
            continue
        try:
            keeper.collect(exchange.node, link.transport, link.code)
        except TransportError as exc:
            summary.problems.append(
                said("backup_objects_failed", code=link.code, error=exc.message)
            )


def offer_crl(exchange: Exchange, summary: RoundSummary) -> None:
    """At a keeper: offer its revocation list to the nodes it keeps backups of, for a
    restore to start from (one just taken this round included), and the marker that it
    checks BLAKE3 names (:func:`nodes.keeper.offer_hashes`)."""
    try:
        keeper.offer_crl(exchange.node, exchange.trust.crl)
        keeper.offer_hashes(exchange.node)
    except Exception as exc:  # a restore still gets the list from the rejoin answers
        summary.problems.append(said("crl_offer_failed", error=failure_message(exc)))


def way(exchange: Exchange) -> tuple[Transport, str] | None:
    """Where this node's backup objects go: straight into its keeper's store, or, when
    the keeper dials this node, into this node's mailboxes for it to collect."""
    me = exchange.me
    keeper_code = keeper_of(exchange.node.topology, me)
    hop = exchange.routes.next_hop(keeper_code)
    if hop is None or hop.neighbor != keeper_code:
        return None
    if hop.link is None:
        assert exchange.local is not None
        return exchange.local, f"{keeper_code}/{backups.PICKUP}"
    link = exchange.links[hop.link]
    return (link.transport, backups.store_folder(me)) if link.error is None else None


def ship(exchange: Exchange, summary: RoundSummary) -> bool:
    """Upload what is left of this node's latest backup; True while objects are left
    (its manifest then waits in the outbox: nothing half-written is listed)."""
    if not backups.to_upload(exchange.node):
        return False
    left, why = backups.upload(exchange.node, way(exchange), exchange.count_sent)
    if left:
        summary.problems.append(said("backup_upload_left", left=left, why=why))
        return True
    return False
