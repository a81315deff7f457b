"""A deterministic simulation of a whole province under faults (仿真).

One seed is one exact history: the real node code (change-sets, channels, appliers,
exchange rounds, receipts, relays, allocation, ledger and report operations, code-set
publication, certificate revocation, backups, restore and rejoin, reconciliation) runs on real node homes and databases,
single-threaded, on a simulated clock and a network the simulation controls, while
faults are injected through the seams the product has (its transports, its clock, the
files of its mailboxes and spools, its database driver, a node's process stopped and
started, its home lost and restored).
The invariants are checked after every step; a failing seed is printed with the command
that replays it, and shrunk to the fewest steps that still break the same invariant.

- :mod:`.world`: the province, its clock, network, crashes;
- :mod:`.history`: the steps a seed draws;
- :mod:`.invariants`: what must hold, read from the raw tables;
- :mod:`.simulation`: one seed's run;
- :mod:`.shrinking`: a failing history made short;
- ``python -m tests.sim``: many seeds, by hand (``make sim``).
"""

from .history import FAULTS, Step
from .simulation import Failure, Outcome, play, replay_command
from .world import Shape

__all__ = ["FAULTS", "Failure", "Outcome", "Shape", "Step", "play", "replay_command"]
