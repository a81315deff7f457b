"""The fiscal domain (财政业务): appropriations, the ledger, reports, code sets,
reconciliation.

It uses the node runtime (:mod:`nodes`) and registers with it what the runtime needs to
know of it (:mod:`.capability`); the runtime never imports it.
"""

from nodes.fiscal import capability

__all__ = ["capability"]
