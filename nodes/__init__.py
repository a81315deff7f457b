"""The node runtime: a node's home, keys, topology, database, sync rounds and agent.

It knows nothing of what the change-sets carry: the fiscal domain (:mod:`nodes.fiscal`:
appropriations, the ledger, reports, code sets, reconciliation) registers with it
through :mod:`nodes.capabilities`, and is imported here, last, so that any use of
``nodes`` finds it registered.
"""

from nodes import agent, keys
from nodes.home import NodeHome, create_home
from nodes.network import Network, init_network
from nodes.node import Node, NodeStatus, init_node
from nodes.regions import RegionList, load_regions
from nodes.settings import Settings, load_settings
from nodes.topology import Endpoint, NodeSpec, Topology, load_topology

__all__ = [
    "Endpoint",
    "Network",
    "Node",
    "NodeHome",
    "NodeSpec",
    "NodeStatus",
    "RegionList",
    "Settings",
    "Topology",
    "agent",
    "create_home",
    "init_network",
    "init_node",
    "keys",
    "load_regions",
    "load_settings",
    "load_topology",
]

# Last, once the runtime above is whole: the fiscal domain registers itself with it.
import nodes.fiscal  # noqa: E402, F401
