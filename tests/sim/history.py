"""A simulation's history: the steps one seed draws, each a plain value that can be replayed.

A step names what happens and where, never the state it meets: an operator's step says
*which of the appropriations held there* (an index, taken modulo how many there are) and
*how much of what is available* (a share, all of it, one fen more, or a number of fen).
So any sub-sequence of a history is a history too, which is what lets a failing one be
shrunk by dropping steps.

Each seed also draws which faults it uses and how often (swarm testing: a seed with no
crashes explores what crashes would hide), so one seed gives one exact history.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from sync.transports.faulty import Fault

__all__ = ["FAULTS", "Step", "Swarm", "generate"]

OPERATIONS = ("issue", "break_down", "adjust", "spend", "report")
FAULTS = (
    "transport",  # drop, truncate, flip a bit, duplicate, stall a transfer, reorder a listing
    "delay",  # a file in a mailbox held back, and later put back (delay, reorder, replay),
    # or put in another node's mailbox (misrouted)
    "damage",  # a file at rest in a mailbox or a spool truncated, flipped or lost
    "full",  # a node's disk full at its n-th write from now (whatever it is doing then)
    "crash",  # a node killed at its n-th clock reading from now, then started again
    "restart",  # a node closed and opened between steps
    "lost",  # backups taken; a node's disk lost, restored from a backup, rejoining
    "partition",  # a subtree cut off for a while, then healed
    "skew",  # a node's clock days off
)
AMOUNTS = ("part", "all", "over")
TRANSPORT_FAULTS = tuple(Fault)


@dataclass(frozen=True)
class Step:
    """One thing that happens: ``kind`` at node ``node``, with ``args``."""

    kind: str
    node: str
    args: tuple[int | str, ...] = ()

    def __str__(self) -> str:
        args = " ".join(str(a) for a in self.args)
        return f"{self.kind} {self.node} {args}".rstrip()


@dataclass(frozen=True)
class Swarm:
    """The faults one seed uses, each with its weight among the steps."""

    weights: dict[str, int]

    @classmethod
    def draw(cls, rng: random.Random, allowed: tuple[str, ...]) -> Swarm:
        return cls({f: rng.choice((0, 1, 2, 4)) for f in allowed})

    def __str__(self) -> str:
        on = [f"{f}={w}" for f, w in self.weights.items() if w]
        return ",".join(on) or "none"


def generate(
    seed: int,
    steps: int,
    codes: list[str],
    parents: dict[str, str | None],
    faults: tuple[str, ...],
    shortest: int | None = None,
) -> tuple[Swarm, list[Step]]:
    """The history of ``seed``: ``steps`` steps over the nodes ``codes`` (in topology order;
    ``parents`` gives each one's parent), with only the fault kinds ``faults``.

    With ``shortest``, the seed also draws how long its history is, from ``shortest`` to
    ``steps``: the first so many steps of its history of ``steps`` (a longer history of
    the same seed goes on from a shorter one)."""
    rng = random.Random(seed)
    swarm = Swarm.draw(rng, faults)
    center = next(c for c in codes if c.endswith("-dc"))
    fiscal = [c for c in codes if c != center]
    holders = [c for c in fiscal if parents[c] is not None]
    issuers = [c for c in fiscal if any(parents[o] == c for o in fiscal)]
    kinds = {
        "operation": 12,
        "together": 2,
        "round": 6,
        "province round": 2,
        "tick": 3,
        "codeset": 1,
        "revoke": 1,
        "renew": 1,
    }
    kinds.update(swarm.weights)
    names, weights = zip(*kinds.items(), strict=True)
    history: list[Step] = []
    backed_up: list[str] = []  # nodes with a backup step so far: those restored
    for _ in range(steps):
        kind = rng.choices(names, weights)[0]
        node = rng.choice(codes)
        if kind == "operation":
            op = rng.choices(OPERATIONS, (3, 4, 2, 4, 1))[0]
            if op == "report":
                history.append(Step(op, rng.choice(fiscal)))
                continue
            node = fiscal[0] if op == "issue" else rng.choice(issuers if op != "spend" else holders)
            amount: int | str = (
                rng.randrange(1, 10_000_000)
                if op == "issue"
                else rng.choice((*AMOUNTS, rng.randrange(1, 500_000)))
            )
            extra = rng.choice(("increase", "decrease", "recover")) if op == "adjust" else ""
            history.append(
                Step(op, node, (rng.randrange(1000), amount, *((extra,) if extra else ())))
            )
        elif kind == "together":
            node = rng.choice(holders)
            first, second = rng.choice(AMOUNTS), rng.choice(AMOUNTS[:2])
            args = (rng.choice((1, 1, 2, 3)), rng.randrange(1000), first, second)
            history.append(Step("together", node, args))
        elif kind == "codeset":  # the province publishes a code-set extension
            history.append(Step("codeset", fiscal[0], (rng.randrange(10),)))
        elif kind == "revoke":  # a key of a node lost: its certificate revoked, published
            history.append(Step("revoke", rng.choice(fiscal[1:])))
        elif kind == "renew":  # a node renews its certificate, whatever is in flight
            history.append(Step("renew", node))
        elif kind in ("round", "province round"):
            history.append(Step(kind, node if kind == "round" else "*"))
        elif kind == "tick":
            history.append(Step("tick", "*", (rng.choice((60, 600, 3600, 4 * 3600)),)))
        elif kind == "transport":
            fault = rng.choice(TRANSPORT_FAULTS)
            link = rng.choice(("parent", "center", "mailboxes"))
            history.append(Step("inject", node, (link, fault.value)))
        elif kind == "delay":
            kind = rng.choice(("hold", "hold", "release", "replay", "misroute"))
            history.append(Step(kind, "*", (rng.randrange(1000), rng.randrange(1000))))
        elif kind == "damage":
            where = rng.choice(("mailbox", "incoming", "relay"))
            history.append(
                Step(
                    "damage",
                    node,
                    (where, rng.choice(("truncate", "flip", "lose")), rng.randrange(1000)),
                )
            )
        elif kind == "crash":
            history.append(Step("crash", node, (rng.randrange(1, 30),)))
        elif kind == "full":
            history.append(Step("full", node, (rng.randrange(0, 12),)))
        elif kind == "lost":
            if rng.random() < 0.5 or not backed_up:
                backed_up.append(rng.choice(fiscal))
                history.append(Step("backup", backed_up[-1]))
            else:
                which = rng.choice(("latest", "latest", "oldest"))
                history.append(Step("restore", rng.choice(backed_up), (which,)))
        elif kind == "restart":
            history.append(Step("restart", node))
        elif kind == "partition":
            if rng.random() < 0.5:
                history.append(Step("partition", rng.choice(holders)))
            else:
                history.append(Step("heal", "*"))
        elif kind == "skew":
            history.append(Step("skew", node, (rng.choice((-3, -1, 0, 0, 1, 2)) * 24,)))
    if shortest is not None and shortest < steps:
        history = history[: random.Random(f"length of {seed}").randint(shortest, steps)]
    return swarm, history
