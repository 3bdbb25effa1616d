"""An inventory host as kubeharden sees it: name, groups, merged data, and the role its groups give it. Pure."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

CONTROL_PLANE_GROUP = "control_plane"
WORKERS_GROUP = "workers"


@dataclass
class InventoryHost:
    """One host: its name, the groups it is in, and its merged data (all < group < host)."""

    name: str
    groups: list[str] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def role(self) -> str:
        return "control_plane" if CONTROL_PLANE_GROUP in self.groups else "workers"

    @property
    def address(self) -> str:
        """Where SSH connects (``ssh_hostname``, else the name)."""
        return str(self.data.get("ssh_hostname") or self.name)

    @property
    def node_address(self) -> str:
        """The node's cluster address (``node_ip``, else where SSH connects)."""
        return str(self.data.get("node_ip") or self.address)
