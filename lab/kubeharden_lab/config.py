"""What a lab is: its name, its private subnet and its hosts. Pure logic, no I/O.

Names and addresses are derived so two labs can run side by side: every kernel object a lab makes
(namespace, bridge, veth, cgroup) carries the lab's name, and each lab has its own /24.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import asdict, dataclass, field
from typing import Any

NAME_RE = re.compile(r"^[a-z][a-z0-9]{0,5}$")
MAX_CONTROL_PLANES = 9
MAX_WORKERS = 30
LAB_SUPERNET = ipaddress.ip_network("10.231.0.0/16")


class LabConfigError(ValueError):
    """The lab was asked for something it cannot be; the message names the setting."""


@dataclass(frozen=True)
class LabHost:
    """One lab host: inventory name, role and address; the kernel object names derive from them."""

    name: str
    role: str  # "control_plane" or "workers"
    address: str
    lab: str

    @property
    def netns(self) -> str:
        return f"{self.lab}-{self.name}"

    @property
    def veth(self) -> str:
        return f"v{self.lab}{self.name}"[:15]

    @property
    def machine(self) -> str:
        return f"{self.lab}-{self.name}"


@dataclass(frozen=True)
class LabSpec:
    """A whole lab: name, subnet, Kubernetes version, hosts, and whether it starts weakened."""

    name: str
    subnet: str
    k8s_version: str
    weak: bool
    hosts: tuple[LabHost, ...] = field(default_factory=tuple)
    kubelet: bool = False
    """A real kubelet and containerd on every host, the cluster made by plain kubeadm init/join (else the
    static-pod runner plays the kubelet's static-pod role)."""

    @property
    def bridge(self) -> str:
        return f"br-{self.name}"

    @property
    def gateway(self) -> str:
        """The bridge's own address: where the tool runs, the lab's admin address."""
        return str(ipaddress.ip_network(self.subnet)[1])

    @property
    def prefixlen(self) -> int:
        return ipaddress.ip_network(self.subnet).prefixlen

    @property
    def control_planes(self) -> tuple[LabHost, ...]:
        return tuple(h for h in self.hosts if h.role == "control_plane")

    @property
    def workers(self) -> tuple[LabHost, ...]:
        return tuple(h for h in self.hosts if h.role == "workers")

    def host(self, name: str) -> LabHost:
        for h in self.hosts:
            if h.name == name:
                return h
        raise LabConfigError(f"lab {self.name!r} has no host {name!r}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LabSpec:
        hosts = tuple(LabHost(**h) for h in data["hosts"])
        return cls(data["name"], data["subnet"], data["k8s_version"], data["weak"], hosts, data.get("kubelet", False))


def validate_name(name: str) -> str:
    if not NAME_RE.match(name):
        raise LabConfigError(
            f"lab name {name!r} is invalid: use 1-6 lower-case letters or digits, starting with a letter "
            "(it prefixes network namespaces and interface names, which are limited to 15 characters)"
        )
    return name


def subnet_for_index(index: int) -> str:
    if not 0 <= index <= 255:
        raise LabConfigError(f"lab subnet index {index} is out of range 0-255 (10.231.<index>.0/24)")
    return f"10.231.{index}.0/24"


def make_spec(
    name: str, subnet: str, k8s_version: str, control_planes: int, workers: int, weak: bool, kubelet: bool = False
) -> LabSpec:
    """Lay out the hosts: control planes cp1.. at .11.., workers w1.. at .31.."""
    validate_name(name)
    if not 1 <= control_planes <= MAX_CONTROL_PLANES:
        raise LabConfigError(f"--control-planes must be between 1 and {MAX_CONTROL_PLANES}, got {control_planes}")
    if not 0 <= workers <= MAX_WORKERS:
        raise LabConfigError(f"--workers must be between 0 and {MAX_WORKERS}, got {workers}")
    net = ipaddress.ip_network(subnet)
    if not net.subnet_of(LAB_SUPERNET) or net.prefixlen != 24:  # type: ignore[arg-type]
        raise LabConfigError(f"lab subnet {subnet} must be a /24 inside {LAB_SUPERNET}")
    hosts = [LabHost(f"cp{i}", "control_plane", str(net[10 + i]), name) for i in range(1, control_planes + 1)]
    hosts += [LabHost(f"w{i}", "workers", str(net[30 + i]), name) for i in range(1, workers + 1)]
    return LabSpec(name, str(net), k8s_version, weak, tuple(hosts), kubelet)
