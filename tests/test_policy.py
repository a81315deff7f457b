"""Who may send which kind of change-set to whom, on the demo province."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

import config
from nodes.policy import authorizer, check_send
from nodes.topology import load_topology
from sync.errors import NotAuthorized

DEMO = load_topology(config.TOPOLOGIES / "demo.toml")


@dataclass(frozen=True)
class H:
    origin: str
    recipient: str
    kind: str


@dataclass(frozen=True)
class S:
    code: str
    role: str


ALLOWED = [
    ("410000", "410100", "appropriation"),
    ("410000", "410102", "appropriation"),  # relayed through the city
    ("410000", "410181", "appropriation"),  # province-managed county
    ("410100", "410122", "appropriation"),
    ("410102", "410100", "receipt"),
    ("410102", "410100", "report"),
    ("410102", "410000-dc", "report"),
    ("410100", "410000", "report"),
    ("410181", "410000", "report"),
    ("410100", "410102", "reconcile"),
    ("410102", "410100", "reconcile"),
    ("410000", "410322", "codeset"),
    ("410000", "410000-dc", "revocation"),
    ("410322", "410000-dc", "backup"),
]

REFUSED = [
    ("410102", "410100", "appropriation", "only an ancestor issues appropriations"),
    ("410100", "410322", "appropriation", "410100 is not above 410322"),
    ("410100", "410181", "appropriation", "410100 is not above 410181"),  # prefix is not parentage
    ("410102", "410000", "report", "reports go to the parent or the center"),
    ("410100", "410102", "codeset", "only the province signs codeset"),
    ("410100", "410102", "revocation", "only the province signs revocation"),
    ("410102", "410100", "backup", "backups go only to the center"),
    ("410102", "410322", "reconcile", "between a node and one above it, or the center"),
    ("410102", "410102", "report", "to itself"),
    ("410102", "419999", "report", "not a node"),
    ("410000", "410100", "gossip", "unknown change-set kind"),
]


@pytest.mark.parametrize(("origin", "recipient", "kind"), ALLOWED)
def test_allowed(origin: str, recipient: str, kind: str) -> None:
    check_send(DEMO, origin, recipient, kind)


@pytest.mark.parametrize(("origin", "recipient", "kind", "why"), REFUSED)
def test_refused(origin: str, recipient: str, kind: str, why: str) -> None:
    with pytest.raises(NotAuthorized, match=why):
        check_send(DEMO, origin, recipient, kind)


def test_certified_role_must_match_the_topology() -> None:
    authorize = authorizer(DEMO)
    authorize(H("410100", "410102", "appropriation"), S("410100", "city"))
    with pytest.raises(NotAuthorized, match="certified as province"):
        authorize(H("410100", "410102", "codeset"), S("410100", "province"))


def test_a_moved_county_states_its_year_to_its_former_parent_too(province: Any) -> None:
    """中牟县 moved under the province (省直管) still holds what 郑州市 issued it: its
    year-end statement goes to 郑州市 as well as to the province, never to a sibling."""
    from nodes.membership import moved

    after = moved(province.topology, "410122", "410000")
    check_send(after, "410122", "410100", "yearclose")
    check_send(after, "410122", "410000", "yearclose")
    with pytest.raises(NotAuthorized):
        check_send(after, "410122", "410102", "yearclose")


@pytest.mark.parametrize(("origin", "recipient", "kind"), ALLOWED)
def test_a_send_allowed_says_nothing(
    monkeypatch: pytest.MonkeyPatch, origin: str, recipient: str, kind: str
) -> None:
    """What is allowed builds no refusal: this runs for every line issued, every
    change-set checked (a refusal said for each cost several times the check)."""
    import nodes.policy

    def unsaid(*args: object, **values: object) -> None:
        raise AssertionError(f"a refusal said for an allowed {kind}: {args}")

    monkeypatch.setattr(nodes.policy, "said", unsaid)
    monkeypatch.setattr(nodes.policy, "named", unsaid)
    check_send(DEMO, origin, recipient, kind)
    check_send(DEMO, origin, recipient, "rejoin")
