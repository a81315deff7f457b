"""Budget appropriations (预算指标): what an upper level issues (下达) to a lower one.

An appropriation is never overwritten: its amount is the sum of its events (issue 下达,
increase 调增, decrease 调减, recover 收回), each with who, when and under which document
number. Every check of a balance locks the appropriation rows it reasons about first
(:func:`schema.locks.lock_rows`, in id order), so two operators, or an operator and the
agent, can never both spend the same available balance.

- :mod:`.operations`: the operations of a change-set and the checks they must pass;
- :mod:`.issuing`: issuing and breaking down, at the issuer;
- :mod:`.changing`: adjusting (调增, 调减, 收回) what was issued, at the issuer;
- :mod:`.batches`: lines to issue read from a spreadsheet;
- :mod:`.receiving`: what the recipient does with a change-set that arrives;
- :mod:`.balances`: what is available, and which events count;
- :mod:`.listings`: listings and one appropriation's history;
- :mod:`.copies`: information copies (抄送) of what is issued over a node's head, 全辖;
- :mod:`.tracing`: one appropriation followed down the chain (直达资金);
- :mod:`.direct`: the 直达资金 report of what this level holds.
"""

from nodes.fiscal.appropriations.adopting import adopt_issued
from nodes.fiscal.appropriations.balances import available, balances, budget_by_func
from nodes.fiscal.appropriations.batches import INDICATOR_WORDS, LEVEL_WORDS, read_allocations
from nodes.fiscal.appropriations.changing import change
from nodes.fiscal.appropriations.copies import Share, apply_copy, iter_jurisdiction, jurisdiction
from nodes.fiscal.appropriations.direct import DirectFund, direct_funds, iter_direct_funds
from nodes.fiscal.appropriations.issuing import Allocation, allocate
from nodes.fiscal.appropriations.listings import (
    Event,
    History,
    Holding,
    Refusal,
    history,
    holdings,
    iter_holdings,
    refused,
)
from nodes.fiscal.appropriations.operations import EVENT_SIGN, TRANSFER_LABELS, TRANSFER_WORDS
from nodes.fiscal.appropriations.receiving import apply_received
from nodes.fiscal.appropriations.tracing import Step, trace

__all__ = [
    "DirectFund",
    "direct_funds",
    "iter_direct_funds",
    "EVENT_SIGN",
    "INDICATOR_WORDS",
    "LEVEL_WORDS",
    "Event",
    "History",
    "Allocation",
    "Holding",
    "Refusal",
    "Share",
    "Step",
    "TRANSFER_LABELS",
    "TRANSFER_WORDS",
    "adopt_issued",
    "apply_copy",
    "allocate",
    "apply_received",
    "available",
    "balances",
    "budget_by_func",
    "change",
    "history",
    "holdings",
    "iter_holdings",
    "iter_jurisdiction",
    "jurisdiction",
    "read_allocations",
    "refused",
    "trace",
]
