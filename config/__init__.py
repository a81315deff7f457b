"""Data shipped with fiscalsync: topologies, region codes, code sets, templates."""

from pathlib import Path

__all__ = ["DIR", "REGIONS", "TOPOLOGIES"]

DIR = Path(__file__).resolve().parent
REGIONS = DIR / "regions-gb2260-201904.tsv"
TOPOLOGIES = DIR / "topologies"
