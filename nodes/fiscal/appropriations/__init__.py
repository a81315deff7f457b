"""Budget appropriations (预算指标): what an upper level issues (下达) to a lower one.

An appropriation is never overwritten: its amount is the sum of its events (issue 下达,
increase 调增, decrease 调减, recover 收回), each with who, when and under which document
number. Every check of a balance locks the appropriation rows it reasons about first
(:func:`schema.locks.lock_rows`, in id order), so two operators, or an operator and the
agent, can never both spend the same available balance.

- :mod:`.operations`: the operations of a change-set and the checks they must pass;
- :mod:`.issuing`: issuing, breaking down and adjusting, at the issuer;
- :mod:`.batches`: lines to issue read from a spreadsheet;
- :mod:`.receiving`: what the recipient does with a change-set that arrives;
- :mod:`.balances`: what is available, and which events count;
- :mod:`.listings`: listings and one appropriation's history.
"""

from nodes.fiscal.appropriations.adopting import adopt_issued
from nodes.fiscal.appropriations.balances import available, balances, budget_by_func
from nodes.fiscal.appropriations.batches import read_allocations
from nodes.fiscal.appropriations.issuing import Allocation, allocate, change
from nodes.fiscal.appropriations.listings import Event, History, Holding, history, holdings
from nodes.fiscal.appropriations.operations import EVENT_SIGN
from nodes.fiscal.appropriations.receiving import apply_received

__all__ = [
    "EVENT_SIGN",
    "Event",
    "History",
    "Allocation",
    "Holding",
    "adopt_issued",
    "allocate",
    "apply_received",
    "available",
    "balances",
    "budget_by_func",
    "change",
    "history",
    "holdings",
    "read_allocations",
]
