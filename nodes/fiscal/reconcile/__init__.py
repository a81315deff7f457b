"""Reconciliation between levels (上下级对账): both sides prove they hold the same records.

- :mod:`.records`: an appropriation as each side holds it, its digest, and the bucket
  digests kept in step with every change;
- :mod:`.cut`: one side at a cut (its digests and records as of a channel position);
- :mod:`.protocol`: the signed steps both sides exchange;
- :mod:`.findings`: what a reconciliation finds;
- :mod:`.statement`: the statement (对账单), listed or printed;
- :mod:`.rounds`: every edge of a node (the agent's job), or of a province.
"""

from nodes.fiscal.reconcile import protocol, records, rounds, statement

__all__ = ["protocol", "records", "rounds", "statement"]
