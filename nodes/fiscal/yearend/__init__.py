"""Year-end close (年终结转): unspent balances carried over into the next year, or
recovered upward, edge by edge, bottom up.

1. A recipient closes a year (:func:`.closing.close`): it sends each issuer it received
   that year's appropriations from a signed balance statement (a ``yearclose``
   change-set: every appropriation with what is still available of it), and spends or
   breaks down nothing more of that year.
2. The issuer accepts the statement (:func:`.accepting.accept`): in one transaction it
   recovers (收回) each balance from the old appropriation and, when its settings say
   ``[year] close = "carry"``, issues the same amount as an appropriation of the next
   year of 指标类型 结转, linked to the old one (上级文号 its 文号, same classification
   and flags). Sum recovered = sum carried (or, under ``"recover"``, nothing carried),
   to the fen.

Refused by the recipient (negative receipt), an acceptance counts for nothing and its
statement is ``stated`` again and its copies (抄送) are taken back from the nodes in
between (:func:`.accepting.refused`); an issuer restored from a
backup older than its acceptance takes it back (:func:`.accepting.adopt_acceptance`).

A node closes after every node it issued that year's appropriations to has closed with
it and been accepted, so that nothing comes back to a year it has closed already.
"""

from nodes.fiscal.appropriations.closed import KIND, closed_ids
from nodes.fiscal.yearend.accepting import (
    Accepted,
    accept,
    adopt_acceptance,
    apply_statement,
    refused,
)
from nodes.fiscal.yearend.closing import Closed, adopt_statement, close, closes

__all__ = [
    "KIND",
    "Accepted",
    "Closed",
    "accept",
    "adopt_acceptance",
    "adopt_statement",
    "apply_statement",
    "close",
    "closed_ids",
    "closes",
    "refused",
]
