"""What the fiscal domain, or any capability after it, plugs into the node runtime.

The runtime (homes, keys, topology, sync rounds, the agent) never imports a capability;
a capability registers here, when it is imported, what the runtime must know of it:

- :data:`APPLIERS`: per change-set kind, what a node does with one it takes;
- :data:`RECEIPT_HOOKS`: per kind, what the origin does when a receipt comes back;
- :data:`ADOPTERS`: per kind, what the origin redoes when one of its own change-sets is
  returned to it after it was restored from a backup that predates it;
- :data:`REJOINED`: what a restored node sends again once it has rejoined, in the
  transaction that ends the rejoin (what it published that its peers may have missed);
- :data:`FORGOTTEN_ON_RESTORE`: kinds whose effect a restored node forgets instead of
  redoing (an exchange between two nodes that can be run again, like reconciliation);
- :data:`DRILL_CHECKS`: what a restored database must satisfy (``backup drill``);
- :data:`JOBS`: what the agent schedules, and when;
- :data:`HOME_LOADERS`: what a new node's database is filled with (national code sets);
- :data:`UPGRADE_STEPS`: data a migration cannot compute itself, run in the same
  transaction as the migrations that need it;
- :data:`SUITE_CHANGED`: what is recomputed when the node's recorded network suite
  changes (the digests kept under its hash);
- :data:`ALERTS`: what needs an operator, shown by ``status`` beside the runtime's own;
- :data:`WALL_FIGURES` and :data:`WALL_TOTALS`: what the data wall (``serve``) shows
  beside the runtime's own figures.

``nodes/__init__.py`` imports the capabilities the product ships, so that any use of
``nodes`` finds them registered.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import Connection

from sync.changeset import Verified
from sync.clock import Clock
from sync.trust import TrustStore

if TYPE_CHECKING:
    from nodes.alerts import Alert
    from nodes.node import Node

__all__ = [
    "ADOPTERS",
    "FORGOTTEN_ON_RESTORE",
    "ALERTS",
    "APPLIERS",
    "DRILL_CHECKS",
    "HOME_LOADERS",
    "JOBS",
    "RECEIPT_HOOKS",
    "REJOINED",
    "SUITE_CHANGED",
    "UPGRADE_STEPS",
    "WALL_FIGURES",
    "WALL_TOTALS",
    "Context",
    "Handler",
    "Job",
    "Schedule",
    "UpgradeStep",
]


@dataclass(frozen=True)
class Context:
    """What a handler may need of the node taking a change-set: the node, what it trusts,
    and its own clock (what is recorded as taken *here* is taken by this clock)."""

    node: Node
    trust: TrustStore
    clock: Clock


Handler = Callable[[Connection, Verified], None]
"""Applies one change-set in the channel's transaction; :class:`InputError` refuses it."""

APPLIERS: dict[str, Callable[[Context], Handler]] = {}
"""Change-set kind → the handler of a node for it."""

RECEIPT_HOOKS: dict[str, Callable[[Node], Callable[[Connection, Any, str], None]]] = {}
"""Change-set kind → what the origin does, in the receipt's transaction, with the outbox
entry of a change-set of that kind and the receipt's verdict."""


FORGOTTEN_ON_RESTORE: set[str] = set()
"""Kinds whose change-sets a restored node replays for their channels only: its own are
taken back without redoing anything, and those it had taken are taken again with the
verdict of the receipt it signed then, without applying them. For a dialogue whose steps
change no money and answer one another (a reconciliation): redoing a step would make the
node speak again, which a rejoining node may not; forgetting it leaves the session to be
run again, the peer's next step for it refused as belonging to no session here."""


ADOPTERS: dict[str, Callable[[Context], Handler]] = {}
"""Change-set kind → what the origin does with one of its own change-sets returned after a
restore, in the transaction that puts it back into the outbox: redo here what sending it
did then (the issuer's rows, counters and digests), from what the change-set says. No
check of balance or duplicates runs again: it happened, the recipient took it."""

DRILL_CHECKS: list[Callable[[Connection, str], list[str]]] = []
"""Checks of a restored database, given the node's code: each returns what it found wrong
(e.g. reconciliation digests that differ from a recomputation from their records)."""


@dataclass(frozen=True)
class Schedule:
    """When a job runs: on a cron pattern in Beijing time, or every so many seconds."""

    cron: dict[str, Any] = field(default_factory=dict)
    every_seconds: int | None = None
    at_start: bool = False


@dataclass(frozen=True)
class Job:
    """A job of the agent: ``run(home)`` is a module-level function (the job store keeps
    its name); ``schedule(node)`` says when, or None where the node has no such job."""

    id: str
    name: str
    run: Callable[[str], object]
    schedule: Callable[[Node], Schedule | None]
    describe: Callable[[Node], str]


JOBS: list[Job] = []

REJOINED: list[Callable[[Connection, Node, Clock, list[Verified]], int]] = []
"""What a restored node sends again once it has rejoined, in the transaction that ends the
rejoin, given the change-sets of its own it took back in this rejoin; each returns how
many change-sets it queued. For what a node publishes to every
node and a peer cannot give back whole: a copy still on its way when the node was lost
is gone with it (or void at its recipient), and the recipients that had not taken it
would never get it. Taking it again must change nothing where it was taken."""

HOME_LOADERS: list[Callable[[Connection], None]] = []
"""Run in the transaction that creates a node's database, after its identity is written."""


@dataclass(frozen=True)
class UpgradeStep:
    """Run by ``db upgrade`` when it migrates a database past ``revision``, with the
    node's code, in the migrations' transaction."""

    revision: str
    run: Callable[[Connection, str], None]


UPGRADE_STEPS: list[UpgradeStep] = []

SUITE_CHANGED: list[Callable[[Connection, str], None]] = []
"""Run with the node's code in the transaction that records another network suite for
it (:func:`nodes.identity.settle_suite`): recompute what is digested under the suite."""


ALERTS: list[Callable[[Node], list[Alert]]] = []
"""Each returns what needs an operator at a node whose schema is current."""

WALL_FIGURES: list[Callable[[Node, datetime], dict[str, dict[str, Any]]]] = []
"""Figures a capability adds to the data wall's rows (``fiscalsync serve``): each returns,
given the node serving and the time, node code → fields of that node's row (a dict
field is merged into the runtime's field of the same name)."""

WALL_TOTALS: list[Callable[[Node, datetime], dict[str, Any]]] = []
"""Totals a capability adds to the data wall, each under its own keys."""
