"""Data shipped with fiscalsync: topologies, region codes, code sets, templates."""

from pathlib import Path

__all__ = ["CODESETS", "DEMO", "DIR", "REGIONS", "TOPOLOGIES"]

DIR = Path(__file__).resolve().parent
REGIONS = DIR / "regions-gb2260-201904.tsv"
TOPOLOGIES = DIR / "topologies"
CODESETS = DIR / "codesets"
"""National code sets, one folder per fiscal year (``2026/func.csv``, ...)."""
DEMO = DIR / "demo"
