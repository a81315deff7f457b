"""Reconciliation between levels (上下级对账): both sides prove they hold the same records.

- :mod:`.records`: an appropriation as each side holds it, its digest, and the bucket
  digests kept in step with every change;
"""
