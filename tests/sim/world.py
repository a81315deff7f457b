"""The simulated province: real node homes, a simulated clock and a network it controls.

Every node is a real home made by ``network init`` (its own database, key, certificate,
spool and mailboxes) and runs the real :class:`~nodes.exchange.Exchange`. What the
simulation owns are the seams the product already has:

- time: each node asks its own :class:`SimClock`, the province's simulated time plus
  that node's skew; nothing reads the machine's clock;
- the network: each transport an exchange uses is wrapped (``Exchange(wrap=...)``) in a
  :class:`~sync.transports.faulty.FaultyTransport`, told which fault to inflict next,
  inside a :class:`Cable` that a partition cuts;
- crashes: a node's clock can be armed to raise :class:`Crash` at its n-th reading, which
  is at any point where the product stamps time (inside a transaction, between a commit
  and a file, while storing a receipt); the node is then closed and opened again from its
  database and spool, as a restarted process would be; armed otherwise, it lets a second
  operator's process do its work while the first is inside its transaction (two
  operators at one node, interleaved as far as the database lets them);
- a lost disk: a node's home (and its PostgreSQL database) gone, restored from its
  backups at the keeper with the province's recovery kit, to rejoin its peers;
- chance: the keys and certificate serial numbers the province and its nodes make
  (:func:`keys_drawn_from`) and the epoch of every restore are drawn from the seed, so
  every change-set of one seed is the same file, named alike, in every process;
- waits: the simulation runs in one thread, so a lock another of its processes holds
  (the second operator's, the home locks) is never let go while one waits for it; a
  wait ends the same way however long it lasts, and how loaded the machine is decides
  nothing;
- a full disk: after n writes, the next write to a node's database fails in its driver
  (on SQLite the driver's authorizer refuses it, which reaches raw cursors too; on
  PostgreSQL the driver's error for a full disk); the database itself is real.

A province is made once per shape and process (``network init`` signs every key), kept
as a template, and copied back to the same path for each seed: node homes hold their
own path, so the copy must stand where the original stood.
"""

from __future__ import annotations

import builtins
import os
import random
import shutil
import sqlite3
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from nodes import keys
from nodes.backups import keeper_of, take_backup
from nodes.exchange import Exchange
from nodes.fiscal.codes import import_codes
from nodes.home import NodeHome
from nodes.network import Network, init_network
from nodes.node import Node
from nodes.regions import load_regions
from nodes.restore import restore
from nodes.routes import CENTER
from nodes.settings import SETTINGS_FILE, load_settings
from nodes.topology import Topology, load_topology
from schema.engine import drop_database
from schema.errors import FiscalsyncError
from sync import pki, revocation, signing
from sync.clock import FixedClock
from sync.errors import TransportUnreachable
from sync.transports.base import Progress, RemoteFile, Transport
from sync.transports.faulty import Fault, FaultyTransport
from sync.trust import TrustStore

__all__ = [
    "DEFAULT_SHAPE",
    "Budget",
    "Cable",
    "Crash",
    "Runaway",
    "Shape",
    "SimClock",
    "World",
    "clear",
    "keys_drawn_from",
    "make_world",
]

BORN = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
"""When the province's keys are made; the simulation starts some weeks later."""

START = BORN + timedelta(days=40)
WRITES = ("INSERT", "UPDATE", "DELETE")
SQLITE_WRITES = (sqlite3.SQLITE_INSERT, sqlite3.SQLITE_UPDATE, sqlite3.SQLITE_DELETE)


IMPATIENT_MS = 200
"""How long a second operator waits for a lock the first one holds. The first one is
inside its transaction in the same thread, so the lock is never let go in the meantime:
the second one is told the database is busy whatever the wait (the seed decides when)."""


def _impatient(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        if "psycopg2" in type(dbapi_connection).__module__:
            cursor.execute(f"SET lock_timeout = {IMPATIENT_MS}")
            dbapi_connection.commit()  # the setting stays for the session
        else:
            cursor.execute(f"PRAGMA busy_timeout = {IMPATIENT_MS}")
    finally:
        cursor.close()


_dialects: dict[str, Any] = {}
_statements: Any = sa.util.LRUCache(20_000)


def share_statements(engine: sa.Engine) -> None:
    """Let ``engine`` use the statements every other engine of this process compiled.

    SQLAlchemy caches each statement compiled per engine, under its dialect: a province's
    nodes, opened afresh for every seed and at every restart, would otherwise compile the
    same few hundred statements again each time (a tenth of a seed's time). The engines
    of one backend are made alike (:func:`schema.engine.open_engine`), so they share one
    dialect and one cache; what runs on the connection is unchanged."""
    engine.dialect = _dialects.setdefault(engine.dialect.name, engine.dialect)
    engine._compiled_cache = _statements


@contextmanager
def keys_drawn_from(text: str) -> Iterator[None]:
    """While inside, every key pair a node or the CA makes (ed25519) and every
    certificate's serial number are drawn from ``text``, not from the operating system.

    A change-set is named by its content, which names its signer's certificate: keys drawn
    afresh by each process would name the files of one history differently in each, and
    files that share an origin, a recipient and a number (every rejoin message, a channel
    forked by a restore) would be taken in another order. The simulation's keys stay
    secret from nobody; the product's are drawn as before everywhere else."""
    rng = random.Random(text)
    suite = signing.get_suite("ed25519")
    outer = vars(suite).get("generate_private_key"), x509.random_serial_number

    def private_key() -> Ed25519PrivateKey:
        return Ed25519PrivateKey.from_private_bytes(rng.randbytes(32))

    def serial_number() -> int:
        return int.from_bytes(rng.randbytes(20), "big") >> 1

    suite.generate_private_key = private_key  # type: ignore[method-assign]
    x509.random_serial_number = serial_number
    try:
        yield
    finally:
        x509.random_serial_number = outer[1]
        if outer[0] is None:
            del suite.generate_private_key
        else:
            suite.generate_private_key = outer[0]  # type: ignore[method-assign]


class Crash(BaseException):  # noqa: N818  (a crash is not an error the product may catch)
    """The node's process died here. A BaseException, so no ``except Exception`` of the
    product (one file never stops a round) can swallow it: it unwinds like a kill would,
    and what was not committed is lost."""


class Runaway(BaseException):  # noqa: N818  (not an error the product may catch either)
    """A round went past its budget of clock readings or transport calls: it loops."""


class Budget:
    """What one round may spend (:mod:`.simulation` sets it per round): clock readings and
    transport calls, counted; past either bound, :class:`Runaway` unwinds the round."""

    def __init__(self) -> None:
        self.readings = self.calls = 0
        self.max_readings: int | None = None
        self.max_calls: int | None = None

    def start(self, readings: int, calls: int) -> None:
        self.readings = self.calls = 0
        self.max_readings, self.max_calls = readings, calls

    def stop(self) -> None:
        self.max_readings = self.max_calls = None

    def read(self) -> None:
        self.readings += 1
        if self.max_readings is not None and self.readings > self.max_readings:
            raise Runaway(f"{self.readings} clock readings, more than {self.max_readings}")

    def call(self) -> None:
        self.calls += 1
        if self.max_calls is not None and self.calls > self.max_calls:
            raise Runaway(f"{self.calls} transport calls, more than {self.max_calls}")


class SimClock:
    """One node's view of the simulated time: the province's time plus its skew.

    Armed, it raises :class:`Crash` at its ``crash_at``-th reading; given a ``meanwhile``,
    it runs it once at its ``meanwhile_at``-th reading (what another process does while
    this one is inside its transaction)."""

    def __init__(self, province: FixedClock, budget: Budget | None = None) -> None:
        self.province = province
        self.budget = budget or Budget()
        self.skew = timedelta(0)
        self.crash_at: int | None = None
        self.readings = 0
        self.meanwhile: Callable[[], None] | None = None
        self.meanwhile_at = 0

    def now(self) -> datetime:
        self.readings += 1
        self.budget.read()
        if self.crash_at is not None and self.readings >= self.crash_at:
            self.crash_at = None
            raise Crash(f"crashed at clock reading {self.readings}")
        if self.meanwhile is not None and self.readings >= self.meanwhile_at:
            action, self.meanwhile = self.meanwhile, None
            action()
        return self.province.now() + self.skew

    def arm(self, after: int) -> None:
        self.crash_at = self.readings + after

    def interrupt(self, after: int, action: Callable[[], None]) -> None:
        self.meanwhile, self.meanwhile_at = action, self.readings + after

    def glance(self) -> Glance:
        """This node's time as it goes on, read without counting or crashing."""
        return Glance(self)

    def twin(self) -> SimClock:
        """The same time, for another process of this node, with nothing armed."""
        other = SimClock(self.province)
        other.skew = self.skew
        return other


class Glance:
    """A node's time, read by the simulation itself: its skew as it is when read."""

    def __init__(self, clock: SimClock) -> None:
        self.clock = clock

    def now(self) -> datetime:
        return self.clock.province.now() + self.clock.skew


class Cable(Transport):
    """A transport that a partition cuts: while ``cut``, every call is unreachable. Every
    call is counted against the round's :class:`Budget`."""

    def __init__(self, inner: Transport, budget: Budget | None = None) -> None:
        self.inner = inner
        self.cut = False
        self.budget = budget or Budget()

    def _check(self) -> None:
        self.budget.call()
        if self.cut:
            raise TransportUnreachable("the network is partitioned (simulated)")

    def publish(self, folder: str, name: str, source: Path) -> None:
        self._check()
        self.inner.publish(folder, name, source)

    def list(self, folder: str) -> builtins.list[RemoteFile]:
        self._check()
        return self.inner.list(folder)

    def fetch(self, folder: str, name: str, dest: Path, progress: Progress | None = None) -> None:
        self._check()
        self.inner.fetch(folder, name, dest, progress)

    def remove(self, folder: str, name: str) -> None:
        self._check()
        self.inner.remove(folder, name)

    def close(self) -> None:
        self.inner.close()


@dataclass(frozen=True)
class Shape:
    """How big the province is: cities, counties under each, directly managed counties."""

    cities: int = 3
    counties: int = 3
    direct: int = 1

    def __str__(self) -> str:
        return f"{self.cities}x{self.counties}+{self.direct}"

    @classmethod
    def parse(cls, text: str) -> Shape:
        """``3x3+1``: 3 cities of 3 counties each, and 1 county under the province."""
        cities, _, rest = text.partition("x")
        counties, _, direct = rest.partition("+")
        return cls(int(cities), int(counties), int(direct or 0))

    def topology_toml(self) -> str:
        """The topology of this shape, with real Henan region codes and names."""
        regions = load_regions().within("410000")
        cities = sorted(c for c in regions if c.endswith("00") and c != "410000")
        lines = ['[topology]\nname = "sim"\n']

        def node(code: str, role: str, parent: str | None, name: str | None = None) -> None:
            lines.append(f'[[node]]\ncode = "{code}"\nname = "{name or regions[code]}"')
            lines.append(f'role = "{role}"' + (f'\nparent = "{parent}"' if parent else "") + "\n")

        node("410000", "province", None)
        node("410000-dc", "center", "410000", "河南省财政数据中心")
        direct: list[str] = []
        for city in cities[: self.cities]:
            node(city, "city", "410000")
            below = sorted(c for c in regions if c[:4] == city[:4] and c != city)
            for county in below[: self.counties]:
                node(county, "county", city)
            direct += below[self.counties :]
        for county in sorted(c for c in direct if c[4] == "8")[: self.direct]:
            node(county, "county", "410000")
        return "\n".join(lines)


DEFAULT_SHAPE = Shape()
"""1 province, 3 cities of 3 counties, 1 county under the province, and the center."""


@dataclass
class Host:
    """One node as the simulation runs it: open, or down after a crash."""

    code: str
    clock: SimClock
    budget: Budget
    node: Node | None = None
    exchange: Exchange | None = None
    cables: dict[str, Cable] = field(default_factory=dict)
    faults: dict[str, FaultyTransport] = field(default_factory=dict)
    backups: list[datetime] = field(default_factory=list)  # when each was taken, its time
    room: int | None = None  # writes before its disk fails one; None: it fails none
    disk_failed: bool = False  # a write failed since the disk was armed
    watch: sqlite3.Connection | None = None  # on SQLite: a connection that only looks
    started: int = 0  # how many times it was started (its watch with it)

    def version(self) -> tuple[int, int] | None:
        """Which state its database is in: the same pair again means no transaction
        committed in between (SQLite's ``data_version``, which changes with every commit
        of any other connection); None on PostgreSQL, where nothing tells."""
        if self.watch is None:
            return None
        return self.started, int(self.watch.execute("PRAGMA data_version").fetchone()[0])

    def _write_fits(self) -> bool:
        """Count one write; False for the one that finds the disk full (the disk, freed
        then, takes the writes after it)."""
        if self.room is None:
            return True
        if self.room <= 0:
            self.room, self.disk_failed = None, True
            return False
        self.room -= 1
        return True

    def fill_disk(self, conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        """PostgreSQL, before every statement: a write that does not fit fails as the
        driver fails it when the disk is full."""
        if statement.lstrip()[:6].upper() in WRITES and not self._write_fits():
            import psycopg2

            raise psycopg2.OperationalError("could not extend file: No space left on device")

    def watch_writes(self, dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        """SQLite, on every connection taken from the pool: while the disk is armed, the
        driver's authorizer sees every write as it is prepared (also those of a raw
        cursor, as bulk inserts use) and refuses the one that does not fit; setting it
        makes SQLite prepare every cached statement again."""
        dbapi_connection.set_authorizer(None if self.room is None else self._authorize)

    def _authorize(self, action: int, table: str | None, *_args: Any) -> int:
        if action in SQLITE_WRITES and not (table or "").startswith("sqlite_"):
            if not self._write_fits():
                return sqlite3.SQLITE_DENY
        return sqlite3.SQLITE_OK


class World:
    """A province in one folder, every node open, run by the simulation."""

    def __init__(self, network: Network, seed: int, database: str | None) -> None:
        self.network = network
        self.topology: Topology = network.topology
        self.seed = seed
        self.database = database
        self.time = FixedClock(START)
        self.hosts = {}
        for spec in self.topology:
            budget = Budget()
            self.hosts[spec.code] = Host(spec.code, SimClock(self.time, budget), budget)
        self.cut: set[str] = set()  # nodes whose way up is partitioned
        self.restores = 0  # on PostgreSQL: databases restored into, numbered
        self.epochs = random.Random(f"epochs of {seed}")  # each restore's, from the seed
        self.stolen: list[x509.Certificate] = []  # certificates revoked for a lost key
        self.keys_lost = 0  # keys gone astray, each in its own folder
        for code in self.hosts:
            self.start(code)

    @property
    def codes(self) -> list[str]:
        """Every node, in topology order (the order a round of the province runs them)."""
        return list(self.hosts)

    def start(self, code: str) -> None:
        """Open the node from its home, as a process starting would."""
        host = self.hosts[code]
        host.cables, host.faults = {}, {}
        salt = zlib.crc32(code.encode()) ^ self.seed

        def wrap(name: str, transport: Transport) -> Transport:
            faulty = FaultyTransport(transport, seed=salt ^ zlib.crc32(name.encode()))
            cable = Cable(faulty, host.budget)
            host.faults[name], host.cables[name] = faulty, cable
            return cable

        host.node = Node.open(self.network.path / code)
        share_statements(host.node.engine)
        host.started += 1
        if host.node.engine.dialect.name == "sqlite":
            database = Path(host.node.engine.url.database or "")
            host.watch = sqlite3.connect(f"{database.as_uri()}?mode=ro", uri=True)
            sa.event.listen(host.node.engine, "checkout", host.watch_writes)
        else:
            sa.event.listen(host.node.engine, "before_cursor_execute", host.fill_disk)
        host.exchange = Exchange(host.node, host.clock, wrap=wrap)
        self._wire(code)

    def second_operator(self, code: str) -> Node:
        """Another process at node ``code``, with its own connections, that waits for a
        lock held by this one a moment only (then it is told the database is busy)."""
        node = Node.open(self.network.path / code)
        sa.event.listen(node.engine, "checkout", _impatient)
        return node

    def back_up(self, code: str) -> None:
        """Take a backup of ``code``; its objects and manifest go to the keeper in rounds."""
        host = self.hosts[code]
        take_backup(self.node(code), clock=host.clock)
        host.backups.append(host.clock.now())

    def lose_and_restore(self, code: str, oldest: bool) -> bool:
        """The disk of ``code`` dies; it is restored from its keeper's backups (the latest,
        or the oldest it took when ``oldest``) with the province's recovery kit, and
        rejoins. False when the keeper holds none of those yet: the disk did not die.

        On PostgreSQL the node's database dies with it: it is restored into a new
        database (``<code>_r<n>``), and the old one dropped once the restore is done."""
        host = self.hosts[code]
        home = self.network.path / code
        lost = home.with_name(f"{code}.lost")
        before = self.node(code).settings.database_url
        url = None
        if self.database is not None:
            self.restores += 1
            url = self.database.replace("{code}", f"{code.replace('-', '_')}_r{self.restores}")
        self.stop(code)
        os.replace(home, lost)
        kit = self.network.ca_dir / keys.RECOVERY_KIT
        at = host.backups[0] if oldest and host.backups else None
        try:
            restore(
                code,
                self.network.path / "topology.toml",
                home,
                kit,
                at=at,
                db_url=url,
                clock=host.clock.twin(),
                epoch=self.epochs.randbytes(16).hex(),
            )
        except FiscalsyncError:
            shutil.rmtree(home, ignore_errors=True)
            os.replace(lost, home)
            self.start(code)
            return False
        shutil.rmtree(lost)
        if url is not None:
            drop_database(before)
        self.start(code)
        return True

    def keepers_crl(self, code: str) -> frozenset[int]:
        """What the revocation list held by the keeper of ``code`` names (the keeper
        offers it to ``code`` for a restore, :func:`nodes.keeper.offer_crl`)."""
        keeper = self.node(keeper_of(self.topology, code))
        crl = TrustStore.load(keeper.home.keys, clock=self.time).crl
        return frozenset() if crl is None else crl.serials

    def renew(self, code: str) -> None:
        """Node ``code`` renews its certificate (``keys new --renew``, ``pki sign`` by the
        province's clock, ``keys install``) with whatever it signed still in flight, and
        its process is started again on its new key. What it signed before keeps its
        signature, its id and its place in its channels (see :mod:`sync.trust`). A node
        whose clock reads before the new certificate begins is refused the install
        (:class:`KeyMaterialError`) and goes on with the certificate it holds."""
        home = NodeHome(self.network.path / code)
        (home.keys / pki.NODE_KEY_PENDING).unlink(missing_ok=True)  # one refused before
        request, _ssh = keys.new_key(home, code, renew=True)
        ca = pki.load_root(self.network.ca_dir)
        role = self.topology.node(code).role
        issued = self.network.path / f"renewed-{code}.crt"
        issued.write_bytes(pki.sign_csr(ca, request.read_bytes(), role, clock=self.time))
        try:
            clock = self.hosts[code].clock.glance()
            keys.install_certificate(home, issued, self.network.ca_dir / pki.CA_CERT, clock)
        finally:
            issued.unlink()
        self.restart(code)

    def certificate_begins(self, code: str) -> datetime:
        """When the certificate node ``code`` signs with begins."""
        node_cert = self.node(code).home.keys / pki.NODE_CERT
        return x509.load_pem_x509_certificate(node_cert.read_bytes()).not_valid_before_utc

    def publish_codes(self, number: int) -> list[tuple[str, int, str]]:
        """The province imports a code-set extension (its ``number``-th function code under
        20502) and sends it to every node; return the codes published."""
        code = f"20502{90 + number % 10:02d}"
        table = self.network.path / f"codes-{number}.csv"
        table.write_text(
            f"codeset,year,code,name,parent,level\nfunc,2026,{code},省扩展{number},20502,3\n",
            encoding="utf-8",
        )
        province = self.topology.province.code
        import_codes(self.node(province), table, clock=self.hosts[province].clock)
        return [("func", 2026, code)]

    def revoke_stolen(self, code: str) -> x509.Certificate:
        """A second key of node ``code`` went astray with a certificate the CA issued it
        (a key compromise): the CA revokes that certificate only, and the province
        publishes the list down the tree. Returns the certificate revoked."""
        ca_dir = self.network.ca_dir
        clock = self.hosts[self.topology.province.code].clock
        self.keys_lost += 1  # a revocation cut short by a crash left its folder behind
        stolen = self.network.path / "stolen" / f"{code}-{self.keys_lost}"
        stolen.mkdir(parents=True)
        request = pki.new_node_key(stolen, code)
        ca = pki.load_root(ca_dir)
        role = self.topology.node(code).role
        cert = x509.load_pem_x509_certificate(
            pki.sign_csr(ca, request.read_bytes(), role, clock=clock)
        )
        current = ca.crl()
        now = clock.now()
        entry = revocation.revocation_entry(
            cert.serial_number, now, revocation.reason_flag("key_compromise")
        )
        crl = revocation.issue_crl(
            ca.cert, ca.key, current.number + 1, [*current.entries, entry], now
        )
        ca.publish_crl(crl)
        keys.publish_revocation(self.node(self.topology.province.code), ca_dir, None, clock)
        self.stolen.append(cert)
        return cert

    def stop(self, code: str) -> None:
        """Close the node: its connections and transports; nothing is flushed on purpose."""
        host = self.hosts[code]
        if host.exchange is not None:
            host.exchange.close()
        if host.node is not None:
            host.node.close()
        if host.watch is not None:
            host.watch.close()
        host.node = host.exchange = host.watch = None
        host.clock.crash_at = None

    def restart(self, code: str) -> None:
        self.stop(code)
        self.start(code)

    def node(self, code: str) -> Node:
        node = self.hosts[code].node
        assert node is not None, f"{code} is down"
        return node

    def exchange(self, code: str) -> Exchange:
        exchange = self.hosts[code].exchange
        assert exchange is not None, f"{code} is down"
        return exchange

    # --- the network ------------------------------------------------------------------

    def partition(self, code: str) -> None:
        """Cut the subtree under ``code`` from the rest of the province (and the center)."""
        self.cut.add(code)
        self._wire_all()

    def heal(self) -> None:
        self.cut.clear()
        self._wire_all()

    def _wire_all(self) -> None:
        for code in self.hosts:
            self._wire(code)

    def _wire(self, code: str) -> None:
        """Set which of ``code``'s cables the partitions cut: its link to its parent when it
        heads a cut subtree, its link to the center when anything above it does."""
        behind = {code, *self.topology.ancestors(code)} & self.cut
        for name, cable in self.hosts[code].cables.items():
            if name == CENTER:
                cable.cut = bool(behind)
            elif name != "mailboxes":
                cable.cut = code in self.cut

    def inject(self, code: str, link: str, fault: Fault) -> bool:
        """Make the next call on ``code``'s transport ``link`` that ``fault`` fits suffer it."""
        faulty = self.hosts[code].faults.get(link)
        if faulty is None:
            return False
        faulty.inject(fault)
        return True

    def close(self) -> None:
        for code in self.hosts:
            self.stop(code)


# --- provinces, made once per shape and kept as templates ----------------------------------


_templates: dict[tuple[Path, str], Path] = {}


def make_world(base: Path, shape: Shape, seed: int, database: str | None = None) -> World:
    """A fresh province of ``shape`` at ``base/province`` for ``seed``.

    With SQLite (``database`` None) the province is copied from a template made once
    under ``base``; a PostgreSQL URL template (with ``{code}``) makes it anew.
    """
    path = base / "province"
    if database is not None:
        clear(path, database)
        network = _init(base, shape, database)
        return World(network, seed, database)
    key = (base, str(shape))
    template = _templates.get(key)
    if template is None:
        clear(path, None)
        _init(base, shape, None)
        template = base / f"template-{shape}"
        shutil.rmtree(template, ignore_errors=True)
        shutil.copytree(path, template)
        _templates[key] = template
    else:
        clear(path, None)
        shutil.copytree(template, path)
    return World(_load(path), seed, None)


def _init(base: Path, shape: Shape, database: str | None) -> Network:
    base.mkdir(parents=True, exist_ok=True)
    topology = base / f"topology-{shape}.toml"
    topology.write_text(shape.topology_toml(), encoding="utf-8")
    with keys_drawn_from(f"the province of {shape}"):
        return init_network(base / "province", topology, database, clock=FixedClock(BORN))


def _load(path: Path) -> Network:
    topology = load_topology(path / "topology.toml")
    return Network(path, topology, {n.code: NodeHome(path / n.code) for n in topology})


def clear(path: Path, database: str | None) -> None:
    """Remove the province at ``path``, and its databases when they are PostgreSQL ones
    (those it was made with, and those its nodes were restored into)."""
    if database is not None and path.is_dir():
        for code in _codes(path):
            drop_database(database.replace("{code}", code.replace("-", "_")))
            if (path / code / SETTINGS_FILE).is_file():
                drop_database(load_settings(path / code).database_url)
    shutil.rmtree(path, ignore_errors=True)


def _codes(path: Path) -> Iterator[str]:
    for spec in load_topology(path / "topology.toml"):
        yield spec.code
