"""What each level of government does, on top of the sync machinery."""

from nodes import agent, keys
from nodes.fiscal import appropriations, ledger, reports, tabular
from nodes.fiscal.demo import DemoResult, run_demo
from nodes.home import NodeHome, create_home
from nodes.network import Network, init_network
from nodes.node import Node, NodeStatus, init_node
from nodes.regions import RegionList, load_regions
from nodes.settings import Settings, load_settings
from nodes.topology import Endpoint, NodeSpec, Topology, load_topology

__all__ = [
    "DemoResult",
    "agent",
    "appropriations",
    "keys",
    "ledger",
    "reports",
    "tabular",
    "Endpoint",
    "Network",
    "Node",
    "NodeHome",
    "NodeSpec",
    "NodeStatus",
    "RegionList",
    "Settings",
    "Topology",
    "create_home",
    "init_network",
    "init_node",
    "load_regions",
    "load_settings",
    "load_topology",
    "run_demo",
]
