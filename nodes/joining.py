"""A node joining on its own machine (加入): what it sends, and what comes back.

Once the province has added the node to the topology (``network add-node --code CODE
--parent PARENT`` in its home), the exchange is two folders, carried by hand or by any
channel the operators trust (nothing in them is secret):

1. On the new machine, :func:`request` (``fiscalsync join HOME --node CODE --topology
   FILE -o REQUEST``) makes the home and its keys, and writes the **request**:
   ``CODE.csr`` (its signing request, for the province) and ``CODE.pub`` (its SSH key,
   for its parent's ``sftp-config --keys``). The private keys never leave the home.
2. At the province, :func:`answer` (``network answer-join REQUEST --ca CA -o ANSWER``)
   signs the request for the role the topology gives the node, and writes the
   **answer**: ``CODE.crt``, the root certificate ``ca.crt``, the current revocation
   list ``crl.pem``, the recovery certificate ``recovery.crt`` (when the province has
   one) and the province's ``topology.toml``.
3. On the new machine, :func:`install` (``keys install ANSWER``) installs the
   certificate with the root, and the revocation list and recovery certificate when the
   home has none yet (``revocation install ANSWER`` installs a later list).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from nodes import keys
from nodes.home import NodeHome, create_home
from nodes.labels import named, said
from nodes.locks import ca_lock
from nodes.node import Node
from nodes.topology import NodeSpec, load_topology
from sync import pki
from sync.backup.keys import RECOVERY_CERT
from sync.errors import InputError
from sync.files import write_atomic
from sync.revocation import CRL_FILE
from sync.signing import DEFAULT_SUITE

__all__ = ["Answer", "Installed", "Request", "answer", "install", "request"]

TOPOLOGY_FILE = "topology.toml"


@dataclass(frozen=True)
class Request:
    """What :func:`request` made: the home, and the files to send."""

    home: NodeHome
    spec: NodeSpec
    csr: Path
    """For the province (``network answer-join``)."""
    ssh_public: Path
    """For the parent (``sftp-config --keys``)."""


def request(
    home: Path,
    code: str,
    topology_file: Path,
    out: Path,
    *,
    database_url: str | None = None,
    suite: str = DEFAULT_SUITE,
) -> Request:
    """Make the node home of ``code`` (listed in ``topology_file``, the province's version
    that added it) with its keys, and write its request into ``out``."""
    topology = load_topology(topology_file)
    if code not in topology:
        raise InputError(
            said("join_not_listed", topology=topology_file, code=code),
            hint=said("join_not_listed_hint"),
        )
    _empty_folder(out)
    made = create_home(home, topology, code, database_url, suite)
    csr, ssh_public = keys.new_key(made, code, suite=suite)
    out.mkdir(parents=True, exist_ok=True)
    sent_csr = out / f"{code}.csr"
    shutil.copyfile(csr, sent_csr)
    public = out / f"{code}.pub"
    write_atomic(public, f"{ssh_public}\n".encode())
    return Request(made, topology.node(code), sent_csr, public)


@dataclass(frozen=True)
class Answer:
    """What :func:`answer` wrote for the joining node."""

    code: str
    role: str
    folder: Path
    files: list[str]


def answer(
    node: Node, request_folder: Path, ca_dir: Path, passphrase: bytes | None, out: Path
) -> Answer:
    """At the province: sign the request in ``request_folder`` for the role the topology
    gives its node, and write the answer into ``out`` (see the module)."""
    if node.spec.role != "province":
        raise InputError(
            said("answer_province_only", role=named("role", node.spec.role)),
            hint=said("topology_province_only_hint"),
        )
    requests = sorted(request_folder.glob("*.csr")) if request_folder.is_dir() else []
    if len(requests) != 1:
        raise InputError(
            said("join_requests_count", folder=request_folder, count=len(requests)),
            hint=said("join_requests_count_hint"),
        )
    code = requests[0].stem
    if code not in node.topology:
        raise InputError(
            said("answer_not_listed", code=code), hint=said("answer_not_listed_hint", code=code)
        )
    asked = keys.requested_code(requests[0])
    if asked != code:
        raise InputError(
            said("join_request_names_other", file=requests[0].name, asked=asked),
            hint=said("join_request_names_other_hint"),
        )
    role = node.topology.node(code).role
    with ca_lock(ca_dir):  # two answers for one code: the second sees the first's certificate
        if keys.live_certificates(ca_dir, code):
            raise InputError(
                said("join_already_certified", code=code),
                hint=said("join_already_certified_hint", code=code),
            )
        _empty_folder(out)
        out.mkdir(parents=True, exist_ok=True)
        keys.sign_request(
            requests[0],
            ca_dir,
            role,
            validity_days=825,
            passphrase=passphrase,
            out=out / f"{code}.crt",
            topology=node.topology,
        )
    files = [f"{code}.crt"]
    for source, name in (
        (ca_dir / pki.CA_CERT, pki.CA_CERT),
        (node.home.keys / CRL_FILE, CRL_FILE),
        (ca_dir / RECOVERY_CERT, RECOVERY_CERT),
        (node.settings.topology, TOPOLOGY_FILE),
    ):
        if source.is_file():
            write_atomic(out / name, source.read_bytes())
            files.append(name)
    return Answer(code, role, out, files)


@dataclass(frozen=True)
class Installed:
    """What :func:`install` installed."""

    identity: pki.NodeIdentity
    crl_number: int | None
    """The revocation list installed from the answer (None: the home had one)."""
    recovery: bool


def install(home: NodeHome, code: str, folder: Path) -> Installed:
    """Install the answer in ``folder`` on the home of ``code``: its certificate with the
    root certificate, then the revocation list and the recovery certificate when the
    home has none yet."""
    cert = folder / f"{code}.crt"
    if not cert.is_file():
        raise InputError(
            said("answer_no_certificate", folder=folder, code=code, file=cert.name),
            hint=said("answer_no_certificate_hint"),
        )
    identity, _superseded = keys.install_certificate(home, cert, folder / pki.CA_CERT)
    crl_number = None
    if not (home.keys / CRL_FILE).is_file() and (folder / CRL_FILE).is_file():
        crl_number = keys.install_crl(home, folder / CRL_FILE).number
    recovery = not (home.keys / RECOVERY_CERT).is_file() and (folder / RECOVERY_CERT).is_file()
    if recovery:
        keys.install_recovery(home, folder / RECOVERY_CERT)
    return Installed(identity, crl_number, recovery)


def _empty_folder(path: Path) -> None:
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise InputError(said("not_empty_folder", path=path), hint=said("not_empty_folder_hint"))
