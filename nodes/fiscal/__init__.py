"""The fiscal domain (财政业务): appropriations, the ledger, reports, code sets.

It uses the node runtime (:mod:`nodes`) and registers with it what the runtime needs to
know of it; the runtime never imports it.
"""
