"""The topology: every node of a province, its role, its fiscal parent and its endpoint.

A topology is a TOML file::

    [topology]
    name = "demo"
    version = 3                          # optional: raised by every change the province sends
    document_kinds = ["预", "教", "社"]   # optional: the kinds of document (文号) in use

    [[node]]
    code = "410000"
    name = "河南省"
    role = "province"
    abbreviation = "豫财"      # what its document numbers start with: 豫财预〔2026〕12号
    endpoint = "sftp://fs-{code}@10.41.0.10:22/"   # one account per child (sftp-config)
    host_key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA..."

    [[node]]
    code = "410181"
    name = "巩义市"
    role = "county"
    parent = "410000"          # 省直管县: the province, although the code is Zhengzhou's
    former_parents = ["410100"]   # moved from under 郑州市: what it issued here still counts

The fiscal parent is always explicit, never derived from the code prefix. ``endpoint``
is where a node's children reach it: an ``sftp://`` URL (with its pinned ``host_key``)
or a local folder (relative paths are relative to the topology file). ``{code}`` in the
user name of an sftp endpoint stands for the code of the node that dials it: each child
logs in with its own account, confined to its own mailbox (``fiscalsync sftp-config``);
an endpoint without it is one account shared by every child. The central
node's code is its province's code with a suffix, such as ``410000-dc``.

:func:`load_topology` checks everything and reports every problem at once, each with
its line, in a :class:`~sync.errors.TopologyError`.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import re
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from nodes.labels import Said, named, said
from nodes.regions import RegionList, load_regions
from schema.types import is_node_code
from sync.errors import ConfigError, TopologyError

__all__ = [
    "CODE_PLACEHOLDER",
    "DOCUMENT_KINDS",
    "ROLES",
    "VERSION_COUNTER",
    "Endpoint",
    "NodeSpec",
    "Topology",
    "load_topology",
    "parse_topology",
]

ROLES = ("province", "city", "county", "center")
VERSION_COUNTER = "topology"
"""The counter (:func:`schema.locks.lock_scope`) of the topology version a node holds:
the province takes it to publish a version, and to send anything to every node."""
NODE_KEYS = {
    "code", "name", "role", "parent", "endpoint", "host_key", "abbreviation", "former_parents",
}  # fmt: skip
DOCUMENT_KINDS = (
    "预", "教", "社", "农", "建", "行", "企", "金", "债", "科", "文", "外", "采", "综", "绩",
    "监", "会", "库", "税", "资环",
)  # fmt: skip
"""The kinds of document (文号 after the issuer's abbreviation) when a topology names none:
预 budget, 教 education, 社 social security, 农 agriculture, 建 construction, ..."""
_ABBREVIATION = re.compile(r"[\u4e00-\u9fff]{1,8}\Z")
CODE_PLACEHOLDER = "{code}"
"""In an sftp endpoint's user name: the code of the node that dials it."""
_HOST_KEY = re.compile(r"^(ssh-ed25519|ecdsa-sha2-nistp\d+|ssh-rsa) [A-Za-z0-9+/=]+( .*)?$")


@dataclass(frozen=True)
class Endpoint:
    """Where a node's children deliver and collect change-sets."""

    kind: str  # "sftp" or "local"
    location: str  # the sftp URL, or an absolute folder path
    host_key: str | None = None

    @property
    def path(self) -> Path:
        """The folder of a local endpoint."""
        assert self.kind == "local"
        return Path(self.location)

    @property
    def per_child(self) -> bool:
        """Whether each node that dials it logs in with its own account."""
        return CODE_PLACEHOLDER in self.location

    def for_node(self, code: str) -> Endpoint:
        """The endpoint as node ``code`` dials it: its own account where there is one."""
        if not self.per_child:
            return self
        return dataclasses.replace(self, location=self.location.replace(CODE_PLACEHOLDER, code))


@dataclass(frozen=True)
class NodeSpec:
    """One node of the topology."""

    code: str
    name: str
    role: str
    parent: str | None
    endpoint: Endpoint | None
    line: int
    abbreviation: str | None = None  # 简称 its document numbers start with (豫财, 郑财)
    former_parents: tuple[str, ...] = ()
    """Parents it was moved away from (a county made 省直管): their appropriations to it
    are still adjusted and reconciled (:meth:`Topology.issuers_above`)."""


@dataclass(frozen=True)
class Topology:
    """A checked topology. Nodes keep the file's order."""

    name: str
    nodes: dict[str, NodeSpec]
    source: Path | None
    document_kinds: tuple[str, ...] = DOCUMENT_KINDS
    version: int = 0
    """Raised by one at every change the province sends down (a ``topology`` change-set);
    a node never takes a version lower than the one it holds."""

    def __contains__(self, code: object) -> bool:
        return code in self.nodes

    def __iter__(self) -> Iterator[NodeSpec]:
        return iter(self.nodes.values())

    def __len__(self) -> int:
        return len(self.nodes)

    def node(self, code: str) -> NodeSpec:
        try:
            return self.nodes[code]
        except KeyError:
            raise ConfigError(
                said("topo_no_node", code=code, name=self.name),
                hint=said("not_a_member_hint"),
            ) from None

    def children(self, code: str) -> list[NodeSpec]:
        return [n for n in self.nodes.values() if n.parent == code]

    def dialers(self, code: str) -> list[NodeSpec]:
        """The nodes that log in to ``code``'s endpoint: its children, and, at the
        center, every node but the center's parent (which the center dials instead)."""
        spec = self.node(code)
        if spec.role != "center":
            return self.children(code)
        return [n for n in self.nodes.values() if n.code not in (code, spec.parent)]

    def ancestors(self, code: str) -> list[str]:
        """Codes from the node's parent up to the root."""
        chain: list[str] = []
        parent = self.nodes[code].parent
        while parent is not None:
            chain.append(parent)
            parent = self.nodes[parent].parent
        return chain

    def is_ancestor(self, ancestor: str, code: str) -> bool:
        return ancestor in self.ancestors(code)

    def issuers_above(self, code: str) -> set[str]:
        """Who may adjust and reconcile appropriations to ``code``: its ancestors, and
        every node it, or one of its ancestors, was moved away from, with theirs."""
        found: set[str] = set()
        for member in [code, *self.ancestors(code)]:
            if member != code:
                found.add(member)
            for former in self.nodes[member].former_parents:
                if former in self.nodes:
                    found.update([former, *self.ancestors(former)])
        found.discard(code)
        return found

    @property
    def province(self) -> NodeSpec:
        return next(n for n in self.nodes.values() if n.role == "province")

    @functools.cached_property
    def center(self) -> NodeSpec | None:  # asked for every node by whoever keeps backups
        return next((n for n in self.nodes.values() if n.role == "center"), None)

    def with_endpoints(self, endpoints: dict[str, Endpoint]) -> Topology:
        """A copy with the given nodes' endpoints replaced."""
        nodes = {
            code: NodeSpec(
                n.code,
                n.name,
                n.role,
                n.parent,
                endpoints.get(code, n.endpoint),
                0,
                n.abbreviation,
                n.former_parents,
            )  # fmt: skip
            for code, n in self.nodes.items()
        }
        return Topology(self.name, nodes, None, self.document_kinds, self.version)

    def to_toml(self) -> str:
        """Render as TOML (endpoints absolute); :func:`parse_topology` reads it back."""
        return self._toml

    @functools.cached_property
    def _toml(self) -> str:  # rendered once: every new node home of a province writes it
        lines = ["[topology]", f"name = {_toml_string(self.name)}"]
        if self.version:
            lines.append(f"version = {self.version}")
        if self.document_kinds != DOCUMENT_KINDS:
            kinds = ", ".join(_toml_string(k) for k in self.document_kinds)
            lines.append(f"document_kinds = [{kinds}]")
        lines.append("")
        for n in self.nodes.values():
            lines.append("[[node]]")
            lines.append(f"code = {_toml_string(n.code)}")
            lines.append(f"name = {_toml_string(n.name)}")
            lines.append(f"role = {_toml_string(n.role)}")
            if n.abbreviation is not None:
                lines.append(f"abbreviation = {_toml_string(n.abbreviation)}")
            if n.parent is not None:
                lines.append(f"parent = {_toml_string(n.parent)}")
            if n.former_parents:
                formers = ", ".join(_toml_string(f) for f in n.former_parents)
                lines.append(f"former_parents = [{formers}]")
            if n.endpoint is not None:
                lines.append(f"endpoint = {_toml_string(n.endpoint.location)}")
                if n.endpoint.host_key:
                    lines.append(f"host_key = {_toml_string(n.endpoint.host_key)}")
            lines.append("")
        return "\n".join(lines)

    def sha256(self) -> str:
        return self._sha256

    @functools.cached_property
    def _sha256(self) -> str:  # compared at every node's every round (membership.follow)
        return hashlib.sha256(self.to_toml().encode("utf-8")).hexdigest()

    def read_from(self, source: Path) -> Topology:
        """The same topology read from ``source``, its rendering and digest kept (they
        do not name the file: relative endpoints are resolved already)."""
        copy = dataclasses.replace(self, source=source)
        copy.__dict__["_toml"] = self._toml
        copy.__dict__["_sha256"] = self._sha256
        return copy


def _toml_string(value: str) -> str:
    # A JSON string with non-ASCII kept is a valid TOML basic string.
    return json.dumps(value, ensure_ascii=False)


def load_topology(path: Path, regions: RegionList | None = None) -> Topology:
    """Read and check a topology file; every problem is reported at once."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(
            said("topo_unreadable", path=path, error=exc.strerror),
            hint=said("topo_unreadable_hint"),
        ) from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(
            said("topo_not_utf8", path=path), hint=said("topo_not_utf8_hint")
        ) from exc
    return parse_topology(text, path, regions)


_PARSED: dict[tuple[str, str, RegionList], tuple[Topology, bool]] = {}
_PARSED_KEPT = 8


def parse_topology(text: str, path: Path, regions: RegionList | None = None) -> Topology:
    """Check topology text read from ``path`` (used for messages and relative endpoints).

    A text checked once is not checked again in the same process: every node home of a
    province holds the same topology, and a command over the whole network opens them
    all. The checked topology is kept by the text's SHA-256 (and the file's name, which
    names a topology without a name); one with relative endpoints only for its folder.
    """
    regions = regions if regions is not None else load_regions()
    key = (hashlib.sha256(text.encode("utf-8")).hexdigest(), path.stem, regions)
    kept = _PARSED.get(key)
    if kept is not None:
        topology, relative = kept
        if not relative or (topology.source is not None and topology.source.parent == path.parent):
            return topology.read_from(path)
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise TopologyError(
            said("topo_not_toml", path=path),
            [said("topo_at_file", path=path, what=str(exc))],
            hint=said("topo_not_toml_hint"),
        ) from exc
    checker = _Checker(text, path, regions)
    topology = checker.check(document)
    if checker.problems:
        count = len(checker.problems)
        key = "topo_problems" if count > 1 else "topo_problem"
        raise TopologyError(said(key, path=path, count=count), checker.problems)
    assert topology is not None
    if len(_PARSED) >= _PARSED_KEPT:
        _PARSED.clear()
    _PARSED[key] = (topology, checker.relative)
    return topology


class _Lines:
    """Finds the line of each ``[[node]]`` table and of the keys inside it."""

    _HEADER = re.compile(r"^\s*\[\[\s*node\s*\]\]")
    _TABLE = re.compile(r"^\s*\[")

    def __init__(self, text: str) -> None:
        self._lines = text.splitlines()
        self.headers = [i + 1 for i, ln in enumerate(self._lines) if self._HEADER.match(ln)]

    def of_node(self, index: int) -> int:
        return self.headers[index] if index < len(self.headers) else 0

    def of_key(self, index: int, key: str) -> int:
        start = self.of_node(index)
        if not start:
            return 0
        pattern = re.compile(rf"^\s*{re.escape(key)}\s*=")
        for number in range(start, len(self._lines)):
            line = self._lines[number]
            if self._TABLE.match(line):
                break
            if pattern.match(line):
                return number + 1
        return start


class _Checker:
    def __init__(self, text: str, path: Path, regions: RegionList) -> None:
        self.path = path
        self.regions = regions
        self.lines = _Lines(text)
        self._found: list[tuple[int, Said]] = []
        self.relative = False  # an endpoint was a folder relative to the file's

    def problem(self, line: int, message: Said) -> None:
        self._found.append((line, message))

    @property
    def problems(self) -> list[str]:
        """Every problem, in line order, as ``FILE:LINE: message``."""
        ordered = sorted(self._found, key=lambda found: found[0])
        return [
            said("topo_at", path=self.path, line=ln, what=msg)
            if ln
            else said("topo_at_file", path=self.path, what=msg)
            for ln, msg in ordered
        ]

    def check(self, document: dict[str, Any]) -> Topology | None:
        header = document.get("topology", {})
        name = header.get("name") if isinstance(header, dict) else None
        if not isinstance(name, str) or not name:
            name = self.path.stem
        raw_nodes = document.get("node")
        if not isinstance(raw_nodes, list) or not raw_nodes:
            self.problem(0, said("topo_no_nodes"))
            return None
        nodes: dict[str, NodeSpec] = {}
        first_line: dict[str, int] = {}
        for index, raw in enumerate(raw_nodes):
            if not isinstance(raw, dict):
                self.problem(self.lines.of_node(index), said("topo_node_not_table"))
                continue
            code = raw.get("code")
            if isinstance(code, str) and code in first_line:
                first = first_line[code]
                self.problem(
                    self.lines.of_node(index), said("topo_duplicate", code=code, first=first)
                )
                continue
            if isinstance(code, str):
                first_line[code] = self.lines.of_node(index)
            spec = self._node(index, raw)
            if spec is not None:
                nodes[spec.code] = spec
        self._check_tree(nodes)
        kinds = (
            header.get("document_kinds", list(DOCUMENT_KINDS)) if isinstance(header, dict) else []
        )
        if not (
            isinstance(kinds, list)
            and kinds
            and all(isinstance(k, str) and _ABBREVIATION.match(k) for k in kinds)
        ):
            self.problem(0, said("topo_document_kinds"))
            kinds = list(DOCUMENT_KINDS)
        version = header.get("version", 0) if isinstance(header, dict) else 0
        if type(version) is not int or version < 0:
            self.problem(0, said("topo_version_bad", version=version))
            version = 0
        return Topology(name, nodes, self.path, tuple(kinds), version)

    def _node(self, index: int, raw: dict[str, Any]) -> NodeSpec | None:
        line = self.lines.of_node(index)
        for key in sorted(set(raw) - NODE_KEYS):
            self.problem(
                self.lines.of_key(index, key),
                said("topo_unknown_key", key=key, known=", ".join(sorted(NODE_KEYS))),
            )
        values: dict[str, str | None] = {}
        for key in ("code", "name", "role", "parent", "endpoint", "host_key", "abbreviation"):
            value = raw.get(key)
            if value is not None and not isinstance(value, str):
                self.problem(self.lines.of_key(index, key), said("topo_not_string", key=key))
                value = None
            values[key] = value
        code, name, role = values["code"], values["name"], values["role"]
        ok = True
        if not code:
            self.problem(line, said("topo_no_code"))
            return None
        if not is_node_code(code):
            self.problem(
                self.lines.of_key(index, "code"),
                said("topo_code_bad", code=code),
            )
            ok = False
        elif role == "center":
            if "-" not in code or code.split("-")[0] not in self.regions:
                self.problem(
                    self.lines.of_key(index, "code"),
                    said("topo_center_code", code=code),
                )
                ok = False
        elif code not in self.regions:
            self.problem(
                self.lines.of_key(index, "code"),
                said("topo_code_not_region", code=code, source=self.regions.source.name),
            )
            ok = False
        if not name:
            self.problem(line, said("topo_no_name", code=code))
            ok = False
        if role not in ROLES:
            self.problem(
                self.lines.of_key(index, "role"),
                said("topo_role_bad", code=code, role=role, roles=", ".join(ROLES)),
            )
            ok = False
        endpoint = self._endpoint(index, code, values["endpoint"], values["host_key"])
        abbreviation = values["abbreviation"]
        if abbreviation is not None and not _ABBREVIATION.match(abbreviation):
            self.problem(
                self.lines.of_key(index, "abbreviation"),
                said("topo_abbreviation_bad", code=code, abbreviation=abbreviation),
            )
            ok = False
        formers = raw.get("former_parents", [])
        if not (isinstance(formers, list) and all(isinstance(f, str) for f in formers)):
            self.problem(
                self.lines.of_key(index, "former_parents"),
                said("topo_former_parents", code=code),
            )
            ok = False
        if not ok:
            return None
        assert name is not None and role is not None
        return NodeSpec(
            code, name, role, values["parent"], endpoint, line, abbreviation, tuple(formers)
        )

    def _endpoint(
        self, index: int, code: str, location: str | None, host_key: str | None
    ) -> Endpoint | None:
        line = self.lines.of_key(index, "endpoint")
        if location is None:
            if host_key is not None:
                self.problem(
                    self.lines.of_key(index, "host_key"), said("topo_host_key_alone", code=code)
                )
            return None
        if location.startswith("sftp://"):
            parts = urlsplit(location)
            try:
                parts.port  # noqa: B018  (raises on a bad port)
            except ValueError:
                self.problem(line, said("topo_bad_port", code=code, location=location))
                return None
            if not parts.hostname or not parts.username or not parts.path:
                self.problem(line, said("topo_endpoint_form", code=code))
                return None
            if "{" in location.replace(CODE_PLACEHOLDER, "", 1) or (
                CODE_PLACEHOLDER in location and CODE_PLACEHOLDER not in parts.username
            ):
                self.problem(
                    line,
                    said("topo_placeholder", code=code, placeholder=CODE_PLACEHOLDER),
                )
                return None
            if host_key is None:
                self.problem(line, said("topo_needs_host_key", code=code))
                return None
            if not _HOST_KEY.match(host_key.strip()):
                self.problem(
                    self.lines.of_key(index, "host_key"),
                    said("topo_host_key_form", code=code),
                )
                return None
            key_type, key_data = host_key.split()[:2]  # a trailing comment is dropped
            return Endpoint("sftp", location, f"{key_type} {key_data}")
        if "://" in location:
            self.problem(line, said("topo_endpoint_kind", code=code, location=location))
            return None
        folder = Path(location)
        if not folder.is_absolute():
            self.relative = True
            folder = (self.path.parent / folder).resolve()
        return Endpoint("local", str(folder))

    def _check_tree(self, nodes: dict[str, NodeSpec]) -> None:
        provinces = [n for n in nodes.values() if n.role == "province"]
        centers = [n for n in nodes.values() if n.role == "center"]
        if not provinces:
            self.problem(0, said("topo_no_province"))
        for extra in provinces[1:]:
            self.problem(
                extra.line, said("topo_two_provinces", first=provinces[0].code, other=extra.code)
            )
        for extra in centers[1:]:
            self.problem(
                extra.line, said("topo_two_centers", first=centers[0].code, other=extra.code)
            )
        for n in nodes.values():
            if n.role == "province":
                if n.parent is not None:
                    self.problem(n.line, said("topo_province_parent", code=n.code))
                continue
            if n.parent is None:
                self.problem(
                    n.line, said("topo_no_parent", role=named("role", n.role), code=n.code)
                )
                continue
            parent = nodes.get(n.parent)
            if parent is None:
                self.problem(n.line, said("topo_parent_unknown", code=n.code, parent=n.parent))
            elif parent.role == "center":
                self.problem(n.line, said("topo_center_parent", code=n.code, parent=parent.code))
            elif n.role == "center" and parent.role != "province":
                self.problem(n.line, said("topo_center_under", code=n.code))
        self._check_cycles(nodes)

    def _check_cycles(self, nodes: dict[str, NodeSpec]) -> None:
        reported: set[str] = set()
        for start in nodes.values():
            seen: list[str] = []
            code: str | None = start.code
            while code is not None and code in nodes and code not in seen:
                seen.append(code)
                code = nodes[code].parent
            if code is not None and code in seen:
                cycle = seen[seen.index(code) :]
                if not reported.intersection(cycle):
                    reported.update(cycle)
                    path = " -> ".join([*cycle, code])
                    self.problem(nodes[code].line, said("topo_cycle", path=path))
