"""Document numbers (文号): ``<简称><kind>〔YYYY〕N号``, e.g. 豫财教〔2026〕12号.

The 简称 is the issuing node's abbreviation in the topology (豫财, 郑财, 洛财 …), the
kind one of the topology's ``document_kinds`` (预, 教, 社 …), the year in 〔 〕 (U+3014,
U+3015) and the number without leading zeros. A node the topology gives no abbreviation
writes any Chinese abbreviation. The central document a province received (上级文号
of what it issues from it) starts with the Ministry of Finance's 财 (财预〔2026〕3号) or
with the abbreviation of a node above the issuer.

The same rules hold where an appropriation is made and where it arrives, so both ends
refuse the same documents.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from nodes.labels import said
from nodes.topology import Topology

__all__ = ["CENTRAL", "EXAMPLE", "Documents"]

CENTRAL = "财"
"""The Ministry of Finance's abbreviation (财政部): 财预〔2026〕3号."""
_SHAPE = re.compile(
    r"^(?P<head>[\u4e00-\u9fff]+)〔(?P<year>[0-9]{4})〕(?P<number>[1-9][0-9]{0,5})号\Z"
)
"""A 文号's form, to its very end (``$`` would let a newline after it by), its digits
ASCII (a class of every Unicode digit would let ２０２６ by: the same document under another
spelling, which the duplicate look-up would not find)."""
EXAMPLE = "豫财预〔2026〕12号"


@dataclass(frozen=True)
class Documents:
    """The 文号 rules of one topology."""

    topology: Topology

    def problem(
        self, doc: object, issuer: str, year: int | None = None, *, advance: bool = False
    ) -> str | None:
        """What is wrong with ``doc`` as a document of ``issuer``, or None.

        With ``year``, the document's year must be it, or the year before for an advance
        allocation (提前下达, ``advance``)."""
        if not isinstance(doc, str):
            return said("doc_missing")
        found = _SHAPE.match(doc)
        if found is None:
            return said("rows_doc_form", doc=doc, example=EXAMPLE)
        spec = self.topology.nodes.get(issuer)
        abbreviation = spec.abbreviation if spec is not None else None
        head = found["head"]
        if abbreviation is not None:
            if not head.startswith(abbreviation):
                return said("rows_doc_head", doc=doc, issuer=issuer, abbreviation=abbreviation)
            kind = head[len(abbreviation) :]
            if kind not in self.topology.document_kinds:
                kinds = "/".join(self.topology.document_kinds)
                if not kind:
                    return said("rows_doc_no_kind", doc=doc, kinds=kinds)
                return said(
                    "rows_doc_kind",
                    doc=doc,
                    kind=repr(kind),
                    abbreviation=abbreviation,
                    kinds=kinds,
                )
        elif not any(head.endswith(kind) for kind in self.topology.document_kinds):
            kinds = "/".join(self.topology.document_kinds)
            return said("rows_doc_no_kind", doc=doc, kinds=kinds)
        if year is not None:
            written = int(found["year"])
            allowed = (year - 1, year) if advance else (year,)
            if written not in allowed:
                key = "rows_doc_year_advance" if advance else "rows_doc_year"
                return said(key, doc=doc, written=written, year=year)
        return None

    def upper_problem(self, doc: object, issuer: str, *, carried: bool = False) -> str | None:
        """What is wrong with ``doc`` as the 上级文号 of what ``issuer`` issues, or None: a
        document of the Ministry of Finance (财) or of a node above the issuer; for a
        carry-over (结转, ``carried``) also one of the issuer's own, the one carried over."""
        if not isinstance(doc, str) or _SHAPE.match(doc) is None:
            return said("rows_upper_form", doc=doc)
        above = [CENTRAL]
        if carried and issuer in self.topology and self.topology.node(issuer).abbreviation:
            above.append(self.topology.node(issuer).abbreviation)  # type: ignore[arg-type]
        if issuer in self.topology:
            above += [
                a
                for code in self.topology.ancestors(issuer)
                if (a := self.topology.node(code).abbreviation) is not None
            ]
        heads = [a + k for a in above for k in self.topology.document_kinds]
        head = _SHAPE.match(doc)["head"]  # type: ignore[index]
        if any(head == h for h in heads) or any(
            self.topology.node(code).abbreviation is None
            for code in (self.topology.ancestors(issuer) if issuer in self.topology else [])
        ):
            return None
        return said("rows_upper_not_above", doc=doc, issuer=issuer)
